//! Prices asked of AWS's Price List Query API at run time (`pricing:GetProducts`), for the
//! entries an estimate uses; `scripts/refresh-prices` writes the shipped tables with the
//! same questions (`bumarket-infra refresh-prices`).
//!
//! AWS's facts relied on (AWS Price List Query API, "Using the AWS Price List Query API",
//! and the API Reference's GetProducts): the Query API answers at two endpoints only,
//! `us-east-1` and `ap-south-1`, whatever region the priced resources are in; GetProducts
//! takes a `ServiceCode` and `TERM_MATCH` filters on product attributes (`location` is
//! the region's Price List name, `Asia Pacific (Seoul)`), pages with `NextToken`, and
//! answers `PriceList`, each item one product as a JSON document: `product.sku`,
//! `product.attributes`, and `terms.OnDemand.<offer>.priceDimensions.<dim>` with
//! `pricePerUnit.USD`, `beginRange` and `description`. Calling it needs
//! `pricing:GetProducts` (Service Authorization Reference, AWS Price List: no resource
//! types, `*` only); without it AWS answers `AccessDeniedException`.

use super::prices::{Entry, Prices, Table};
use super::{estimate, Estimate};
use aws_sdk_pricing::types::{Filter, FilterType};
use bumarket_stack::Stack;
use serde_json::Value;

/// The endpoint region asked: one of the two the Query API answers at.
pub const ENDPOINT_REGION: &str = "us-east-1";

/// One question to the Price List: which service's products, matching what.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub service: &'static str,
    pub filters: Vec<(&'static str, String)>,
    pub unit: &'static str,
    pub what: String,
}

fn q(
    service: &'static str,
    filters: Vec<(&'static str, String)>,
    unit: &'static str,
    what: String,
) -> Option<Question> {
    Some(Question { service, filters, unit, what })
}

/// RDS's Price List names of an engine the stack file writes: (engine, edition).
fn rds_engine(engine: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match engine {
        "oracle-ee" => ("Oracle", Some("Enterprise")),
        "oracle-se2" => ("Oracle", Some("Standard Two")),
        "postgres" => ("PostgreSQL", None),
        "mysql" => ("MySQL", None),
        "mariadb" => ("MariaDB", None),
        _ => return None,
    })
}

fn rds_license(model: &str) -> Option<&'static str> {
    Some(match model {
        "bring-your-own-license" => "Bring your own license",
        "license-included" => "License included",
        "general-public-license" | "postgresql-license" => "No license required",
        _ => return None,
    })
}

/// The question for one key of the tables (see [`super::prices`] for the keys), in the
/// region whose Price List name is `location`; `None` for a key it cannot ask about.
pub fn question(key: &str, location: &str) -> Option<Question> {
    let loc = ("location", location.to_string());
    let s = |v: &str| v.to_string();
    if let Some(it) = key.strip_prefix("ec2.instance.") {
        let filters = vec![
            loc,
            ("instanceType", s(it)),
            ("operatingSystem", s("Linux")),
            ("tenancy", s("Shared")),
            ("preInstalledSw", s("NA")),
            ("capacitystatus", s("Used")),
            ("licenseModel", s("No License required")),
        ];
        return q("AmazonEC2", filters, "hour", format!("EC2 {it}, Linux, shared tenancy, on-demand"));
    }
    if let Some(volume) = key.strip_prefix("ebs.").filter(|v| ["gp3", "gp2", "io1", "io2"].contains(v)) {
        let filters = vec![loc, ("productFamily", s("Storage")), ("volumeApiName", s(volume))];
        return q("AmazonEC2", filters, "GB-month", format!("EBS {volume} volume storage"));
    }
    if let Some(rest) = key.strip_prefix("rds.instance.") {
        let mut parts = rest.splitn(3, '.');
        let (engine, license, class) = (parts.next()?, parts.next()?, parts.next()?);
        let (name, edition) = rds_engine(engine)?;
        let mut filters = vec![
            loc,
            ("instanceType", s(class)),
            ("databaseEngine", s(name)),
            ("licenseModel", s(rds_license(license)?)),
            ("deploymentOption", s("Single-AZ")),
        ];
        filters.extend(edition.map(|e| ("databaseEdition", s(e))));
        return q("AmazonRDS", filters, "hour", format!("RDS {engine} {license} {class}, Single-AZ"));
    }
    let storage = |t: &str| match t {
        "gp3" => Some("General Purpose-GP3"),
        "gp2" => Some("General Purpose"),
        _ => None,
    };
    if let Some(t) = key.strip_prefix("rds.storage.") {
        let filters = vec![
            loc,
            ("productFamily", s("Database Storage")),
            ("volumeType", s(storage(t)?)),
            ("deploymentOption", s("Single-AZ")),
            ("databaseEngine", s("Any")),
        ];
        return q("AmazonRDS", filters, "GB-month", format!("RDS {t} storage, Single-AZ"));
    }
    let family = |f: &str| ("productFamily", s(f));
    let (service, mut filters, unit, what): (&'static str, Vec<(&'static str, String)>, &'static str, &str) = match key
    {
        "rds.backup" => (
            "AmazonRDS",
            vec![family("Storage Snapshot"), ("databaseEngine", s("Any"))],
            "GB-month",
            "RDS backup storage beyond the free allocation",
        ),
        "elb.application.hour" => (
            "AWSELB",
            vec![
                family("Load Balancer-Application"),
                ("groupDescription", s("LoadBalancer hourly usage by Application Load Balancer")),
            ],
            "hour",
            "Application Load Balancer hour",
        ),
        "elb.application.lcu" => (
            "AWSELB",
            vec![
                family("Load Balancer-Application"),
                ("groupDescription", s("Used Application load balancer capacity units-hr")),
            ],
            "LCU-hour",
            "Application Load Balancer capacity unit (usage-driven)",
        ),
        "vpc.public_ipv4" => (
            "AmazonVPC",
            vec![
                ("group", s("VPCPublicIPv4Address")),
                ("groupDescription", s("Hourly charge for In-use Public IPv4 Addresses")),
            ],
            "hour",
            "public IPv4 address (instance, load balancer node)",
        ),
        "cloudwatch.alarm.standard" => (
            "AmazonCloudWatch",
            vec![family("Alarm"), ("alarmType", s("Standard"))],
            "alarm-month",
            "CloudWatch standard-resolution metric alarm",
        ),
        "cloudwatch.dashboard" => ("AmazonCloudWatch", vec![family("Dashboard")], "month", "CloudWatch dashboard"),
        "cloudwatch.logs.ingest" => (
            "AmazonCloudWatch",
            vec![family("Data Payload"), ("group", s("Ingested Logs"))],
            "GB",
            "CloudWatch Logs ingestion (usage-driven)",
        ),
        "secretsmanager.secret" => ("AWSSecretsManager", vec![family("Secret")], "month", "Secrets Manager secret"),
        "s3.standard.storage" => (
            "AmazonS3",
            vec![family("Storage"), ("volumeType", s("Standard"))],
            "GB-month",
            "S3 Standard storage, first 50 TB (usage-driven)",
        ),
        "firehose.ingest" => (
            "AmazonKinesisFirehose",
            vec![("group", s("Event-by-Event Processing"))],
            "GB",
            "Data Firehose Direct PUT ingestion (usage-driven)",
        ),
        "transfer.out.internet" => {
            let filters = vec![
                ("fromLocation", location.to_string()),
                ("toLocation", s("External")),
                ("transferType", s("AWS Outbound")),
            ];
            return q("AWSDataTransfer", filters, "GB", "data transfer out to the internet (usage-driven)".into());
        }
        // Route 53 is global: its products carry no region.
        "route53.hosted_zone" => {
            return q("AmazonRoute53", vec![family("DNS Zone")], "month", "Route 53 hosted zone (first 25)".into())
        }
        _ => return None,
    };
    filters.insert(0, loc);
    q(service, filters, unit, what.to_string())
}

/// The on-demand price of a product's first paid tier (the lowest `beginRange` with a
/// price above zero: free tiers such as the first 10 alarms are not the unit price), with
/// the dimension's description.
pub fn first_paid_tier(product: &Value) -> Option<(f64, String)> {
    let mut best: Option<(f64, f64, String)> = None;
    for offer in product.pointer("/terms/OnDemand")?.as_object()?.values() {
        for dim in offer.get("priceDimensions").and_then(Value::as_object).into_iter().flat_map(|d| d.values()) {
            let usd: f64 = dim.pointer("/pricePerUnit/USD").and_then(Value::as_str)?.parse().ok()?;
            let begin: f64 = dim.get("beginRange").and_then(Value::as_str).and_then(|b| b.parse().ok()).unwrap_or(0.0);
            if usd <= 0.0 {
                continue;
            }
            if best.as_ref().is_none_or(|b| begin < b.1) {
                let description = dim.get("description").and_then(Value::as_str).unwrap_or_default().to_string();
                best = Some((usd, begin, description));
            }
        }
    }
    best.map(|(usd, _, d)| (usd, d))
}

/// Why a price could not be asked: the API's refusal (no permission, no network), or a
/// key it has no product for.
#[derive(Debug, Clone, PartialEq)]
pub enum Unanswered {
    Refused(String),
    NoProduct(String),
}

/// Ask the Price List for one key's entry.
pub async fn ask(client: &aws_sdk_pricing::Client, key: &str, location: &str) -> Result<Entry, Unanswered> {
    let Some(question) = question(key, location) else {
        return Err(Unanswered::NoProduct(format!("{key}: no question known for this key")));
    };
    let mut filters = Vec::new();
    for (field, value) in &question.filters {
        let filter = Filter::builder().r#type(FilterType::TermMatch).field(*field).value(value).build();
        filters.push(filter.map_err(|e| Unanswered::NoProduct(format!("{key}: {e}")))?);
    }
    let mut pages = client
        .get_products()
        .service_code(question.service)
        .set_filters(Some(filters))
        .format_version("aws_v1")
        .into_paginator()
        .send();
    // Several products can match (other usage types of the same thing): the dearest
    // first paid tier, never an underestimate.
    let mut found: Option<(f64, String, String)> = None;
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| Unanswered::Refused(crate::aws::call_error("pricing:GetProducts", e).to_string()))?;
        for item in page.price_list() {
            let Ok(product) = serde_json::from_str::<Value>(item) else { continue };
            let Some((usd, description)) = first_paid_tier(&product) else { continue };
            let sku = product.pointer("/product/sku").and_then(Value::as_str).unwrap_or("?").to_string();
            if found.as_ref().is_none_or(|f| usd > f.0) {
                found = Some((usd, sku, description));
            }
        }
    }
    let Some((usd, sku, description)) = found else {
        return Err(Unanswered::NoProduct(format!(
            "{key}: the Price List has no on-demand product for {} {:?}",
            question.service, question.filters
        )));
    };
    Ok(Entry {
        usd,
        unit: question.unit.to_string(),
        what: question.what,
        confirmed: true,
        source: format!("AWS Price List Query API, {} SKU {sku}: {description}", question.service),
    })
}

/// Every key's entry, asked all at once.
async fn ask_all<'k>(
    client: &aws_sdk_pricing::Client,
    keys: &'k [String],
    location: &str,
) -> Vec<(&'k String, Result<Entry, Unanswered>)> {
    futures::future::join_all(keys.iter().map(|k| async move { (k, ask(client, k, location).await) })).await
}

/// Today's date (UTC), as a table's `prices_of` writes it.
fn today() -> String {
    crate::render::progress::utc_now().chars().take(10).collect()
}

/// `base` with the entries of `keys` asked of the Price List now, all at once. Returns
/// the table and what could not be asked; when the API refuses (no permission, no
/// network), `base` comes back unchanged with the refusal.
pub async fn refreshed(client: &aws_sdk_pricing::Client, base: &Table, keys: &[String]) -> (Table, Vec<Unanswered>) {
    let answers = ask_all(client, keys, &base.location).await;
    let mut table = base.clone();
    let mut problems = Vec::new();
    let mut asked = 0;
    for (key, answer) in answers {
        match answer {
            Ok(entry) => {
                table.entries.insert(key.clone(), entry);
                asked += 1;
            }
            Err(problem) => problems.push(problem),
        }
    }
    if asked > 0 {
        table.prices_of = today();
        table.source = format!(
            "AWS Price List Query API (GetProducts, on-demand terms, endpoint {ENDPOINT_REGION}) for {asked} of the prices used; any other from the table shipped with bumarket-infra ({})",
            base.prices_of
        );
    }
    (table, problems)
}

/// The estimate of `stack` (and of the change from `before`) with the prices it uses
/// asked of the Price List now; where the API does not answer, the shipped table's, the
/// label saying which and why.
pub async fn estimate_asking(client: &aws_sdk_pricing::Client, stack: &Stack, before: Option<&Stack>) -> Estimate {
    let shipped = Prices::shipped();
    let first = estimate(stack, before, &shipped);
    let Some(base) = shipped.table(&stack.region).cloned() else { return first };
    // Every key either side prices (or would, with a price).
    let mut keys: Vec<String> = Vec::new();
    for e in std::iter::once(&first).chain(before.map(|b| estimate(b, None, &shipped)).as_ref()) {
        keys.extend(e.lines.iter().map(|l| l.key.clone()));
        keys.extend(e.unpriced.iter().map(|u| u.key.clone()));
    }
    keys.sort();
    keys.dedup();
    let (table, problems) = refreshed(client, &base, &keys).await;
    let answered = keys.len() - problems.len();
    let mut out = estimate(stack, before, &shipped.with(table));
    if let Some(label) = &mut out.label {
        let refused = problems.iter().find_map(|p| match p {
            Unanswered::Refused(why) => Some(why.as_str()),
            Unanswered::NoProduct(_) => None,
        });
        label.origin = match (answered, refused) {
            (0, Some(why)) => {
                format!("the table shipped with bumarket-infra: the Price List Query API did not answer ({why})")
            }
            (0, None) => {
                "the table shipped with bumarket-infra: the Price List Query API has none of these products".into()
            }
            (n, _) if n == keys.len() => format!("the Price List Query API, asked now ({n} prices)"),
            (n, _) => format!(
                "the Price List Query API, asked now ({n} of {} prices; the others from the shipped table)",
                keys.len()
            ),
        };
    }
    out
}

/// The Price List's name of a region (its `location` attribute), for the regions a table
/// may be written for.
pub fn location_of(region: &str) -> Option<&'static str> {
    Some(match region {
        "ap-northeast-2" => "Asia Pacific (Seoul)",
        "ap-northeast-1" => "Asia Pacific (Tokyo)",
        "ap-south-1" => "Asia Pacific (Mumbai)",
        "ap-southeast-1" => "Asia Pacific (Singapore)",
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-2" => "US West (Oregon)",
        "eu-west-1" => "EU (Ireland)",
        "eu-central-1" => "EU (Frankfurt)",
        _ => return None,
    })
}

/// `bumarket-infra refresh-prices REGION` (what `scripts/refresh-prices` runs): the whole
/// table of `region` asked of the Price List, for the keys of its shipped table (else
/// us-east-1's) and `add`, in the shipped format; what could not be asked, on stderr.
pub async fn table_of(
    client: &aws_sdk_pricing::Client,
    region: &str,
    add: &[String],
) -> Result<(Table, Vec<String>), String> {
    let location = location_of(region).ok_or_else(|| format!("no Price List location known for {region}"))?;
    let shipped = Prices::shipped();
    let base = shipped.table(region).or_else(|| shipped.table("us-east-1")).expect("us-east-1 is shipped");
    let mut keys: Vec<String> = base.entries.keys().cloned().chain(add.iter().cloned()).collect();
    keys.sort();
    keys.dedup();
    let answers = ask_all(client, &keys, location).await;
    let mut table = Table {
        format: super::prices::FORMAT,
        region: region.to_string(),
        location: location.to_string(),
        currency: "USD".into(),
        prices_of: today(),
        source: format!("AWS Price List Query API (GetProducts, on-demand terms), endpoint {ENDPOINT_REGION}"),
        refresh: format!("scripts/refresh-prices {region} > src/cost/prices/{region}.json"),
        hours_per_month: base.hours_per_month,
        entries: Default::default(),
    };
    let mut problems = Vec::new();
    for (key, answer) in answers {
        match answer {
            Ok(entry) => {
                table.entries.insert(key.clone(), entry);
            }
            Err(Unanswered::NoProduct(p)) => problems.push(p),
            Err(Unanswered::Refused(why)) => return Err(format!("the Price List Query API did not answer: {why}")),
        }
    }
    Ok((table, problems))
}
