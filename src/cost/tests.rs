//! The seed stack's estimate, computed here from the shipped table's entries (never from
//! hard-coded totals), the delta of a change, and what is left usage-driven.

use super::*;
use std::path::Path;

fn seed() -> Stack {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/bumarket.yaml");
    bumarket_stack::load_env(&path, Some("prod")).unwrap_or_else(|e| panic!("{e}"))
}

fn price(key: &str) -> f64 {
    Prices::shipped().table("ap-northeast-2").unwrap().get(key).unwrap_or_else(|| panic!("no {key}")).usd
}

fn line<'a>(e: &'a Estimate, item: &str) -> &'a Line {
    e.lines.iter().find(|l| l.item == item).unwrap_or_else(|| panic!("no line {item}: {:#?}", e.lines))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn assert_range(r: Range, min: f64, desired: f64, max: f64) {
    assert!(close(r.min, min) && close(r.desired, desired) && close(r.max, max), "{r:?} != {min}/{desired}/{max}");
}

const H: f64 = 730.0;

#[test]
fn shipped_tables_parse_with_date_currency_refresh_and_a_source_per_entry() {
    let prices = Prices::shipped();
    assert_eq!(prices.regions(), ["ap-northeast-2", "us-east-1"]);
    for region in prices.regions() {
        let t = prices.table(region).unwrap();
        assert_eq!(t.region, region);
        assert_eq!(t.currency, "USD");
        assert_eq!(t.hours_per_month, H);
        assert!(t.prices_of.len() == 10 && t.prices_of.starts_with("20"), "{}", t.prices_of);
        assert_eq!(t.refresh, format!("scripts/refresh-prices {region} > src/cost/prices/{region}.json"));
        for (key, e) in &t.entries {
            assert!(e.usd > 0.0 && !e.unit.is_empty() && !e.what.is_empty(), "{region} {key}");
            // An unconfirmed price says so in its own source, never silently.
            assert!(e.confirmed || e.source.contains("not confirmed"), "{region} {key}: {}", e.source);
        }
    }
    assert!(Table::parse("{}").is_err());
}

#[test]
fn seed_stack_lines_and_totals_come_from_the_table() {
    let e = estimate(&seed(), None, &Prices::shipped());
    assert_eq!(e.problem, None);
    assert_eq!(e.stack, "bumarket-prod");
    let ec2 = price("ec2.instance.t2.micro");
    let gp3 = price("ebs.gp3");
    let ipv4 = price("vpc.public_ipv4");

    // Fleet: 1 (min, desired) .. 4 (max) t2.micro, each with an 8 GB gp3 root volume and
    // a public IPv4 address.
    let fleet = line(&e, "fleet.instances");
    assert_eq!(fleet.what, "EC2 t2.micro (fleet)");
    assert_range(fleet.quantity, 1.0, 1.0, 4.0);
    assert_range(fleet.monthly, ec2 * H, ec2 * H, 4.0 * ec2 * H);
    assert_range(line(&e, "fleet.volumes").monthly, 8.0 * gp3, 8.0 * gp3, 32.0 * gp3);
    assert_range(line(&e, "fleet.ipv4").monthly, ipv4 * H, ipv4 * H, 4.0 * ipv4 * H);

    // Load balancer: its hours and one address per availability zone (two).
    let alb = price("elb.application.hour") * H;
    assert_range(line(&e, "lb.hours").monthly, alb, alb, alb);
    assert_range(line(&e, "lb.ipv4").monthly, 2.0 * ipv4 * H, 2.0 * ipv4 * H, 2.0 * ipv4 * H);

    // Database: db.t3.small Oracle EE BYOL, Single-AZ; 20 GB gp3 growing to 100 GB.
    let db = price("rds.instance.oracle-ee.bring-your-own-license.db.t3.small") * H;
    let db_line = line(&e, "db.instance");
    assert_eq!(db_line.what, "RDS oracle-ee db.t3.small bring-your-own-license, Single-AZ");
    assert_range(db_line.monthly, db, db, db);
    let st = price("rds.storage.gp3");
    assert_range(line(&e, "db.storage").monthly, 20.0 * st, 20.0 * st, 100.0 * st);
    // `password: managed`: RDS keeps it in a Secrets Manager secret.
    let secret = price("secretsmanager.secret");
    assert_range(line(&e, "db.secret").monthly, secret, secret, secret);

    // Alarms: fleet CPU, unhealthy hosts, 5xx, database CPU and free storage (5), and the
    // two of target tracking; the dashboard.
    let alarms = line(&e, "monitoring.alarms");
    assert_range(alarms.quantity, 7.0, 7.0, 7.0);
    let alarm = price("cloudwatch.alarm.standard");
    assert_range(alarms.monthly, 7.0 * alarm, 7.0 * alarm, 7.0 * alarm);
    let dash = price("cloudwatch.dashboard");
    assert_range(line(&e, "monitoring.dashboard").monthly, dash, dash, dash);

    // No domain in the seed, and Cloud9 stops when idle: neither is a priced line.
    assert!(e.lines.iter().all(|l| l.item != "domain.zone" && l.item != "cloud9.instance"));
    assert!(e.unpriced.is_empty(), "{:?}", e.unpriced);

    let fixed = alb + 2.0 * ipv4 * H + db + secret + 7.0 * alarm + dash;
    let per_instance = ec2 * H + 8.0 * gp3 + ipv4 * H;
    assert_range(
        e.total,
        fixed + per_instance + 20.0 * st,
        fixed + per_instance + 20.0 * st,
        fixed + 4.0 * per_instance + 100.0 * st,
    );
    let sum: f64 = e.lines.iter().map(|l| l.monthly.desired).sum();
    assert!(close(sum, e.total.desired));
}

#[test]
fn usage_driven_costs_are_listed_and_not_priced() {
    let e = estimate(&seed(), None, &Prices::shipped());
    let listed = |what: &str| e.usage_driven.iter().any(|u| u.what.contains(what));
    for what in [
        "S3 storage and requests",
        "capacity units (LCU)",
        "CloudWatch Logs ingestion",
        "data transfer out",
        "RDS backup storage",
        "Data Firehose",
        "Cloud9 IDE",
    ] {
        assert!(listed(what), "{what} not listed: {:#?}", e.usage_driven);
    }
    // Listed, with the unit price where the table has one, but never a priced line.
    for key in ["elb.application.lcu", "s3.standard.storage", "cloudwatch.logs.ingest", "transfer.out.internet"] {
        assert!(e.lines.iter().all(|l| l.key != key), "{key} was priced");
    }
    let s3 = e.usage_driven.iter().find(|u| u.what.contains("S3")).unwrap();
    assert_eq!(s3.what, "S3 storage and requests: images, logs (objects expire after 180 days)");
    let text = e.human();
    assert!(
        text.contains("Usage-driven, not estimated:\n") && text.contains("\n  - S3 storage and requests: images, logs"),
        "{text}"
    );
}

#[test]
fn an_instance_type_change_shows_the_delta() {
    let before = seed();
    let mut after = before.clone();
    after.fleet.as_mut().unwrap().instance_type = "t3.small".into();
    let e = estimate(&after, Some(&before), &Prices::shipped());
    let step = (price("ec2.instance.t3.small") - price("ec2.instance.t2.micro")) * H;
    assert_range(e.delta.unwrap(), step, step, 4.0 * step);
    assert_eq!(e.changes.len(), 1, "{:#?}", e.changes);
    let c = &e.changes[0];
    assert_eq!(c.item, "fleet.instances");
    assert_eq!(c.before.as_deref(), Some("1..4 instances (desired 1) × EC2 t2.micro (fleet)"));
    assert_eq!(c.after.as_deref(), Some("1..4 instances (desired 1) × EC2 t3.small (fleet)"));
    let text = e.human();
    assert!(text.contains("  change: +$"), "{text}");
    assert!(text.contains("EC2 t2.micro (fleet) → 1..4 instances (desired 1) × EC2 t3.small (fleet)"), "{text}");
    assert!(e.markdown().contains("**Change: +$"));
    assert!(close(e.json()["delta"]["desired"].as_f64().unwrap(), step));
}

#[test]
fn a_larger_max_size_changes_only_the_max_column() {
    let before = seed();
    let mut after = before.clone();
    after.fleet.as_mut().unwrap().max_size = 6;
    let e = estimate(&after, Some(&before), &Prices::shipped());
    let per_instance = price("ec2.instance.t2.micro") * H + 8.0 * price("ebs.gp3") + price("vpc.public_ipv4") * H;
    assert_range(e.delta.unwrap(), 0.0, 0.0, 2.0 * per_instance);
    let items: Vec<_> = e.changes.iter().map(|c| c.item).collect();
    assert_eq!(items, ["fleet.instances", "fleet.volumes", "fleet.ipv4"]);
    // Unchanged: no delta.
    let same = estimate(&before, Some(&before), &Prices::shipped());
    assert_range(same.delta.unwrap(), 0.0, 0.0, 0.0);
    assert!(same.changes.is_empty());
    assert!(same.human().contains("  change: $0.00 a month\n"), "{}", same.human());
}

#[test]
fn an_unknown_region_says_there_is_no_price_table() {
    let mut stack = seed();
    stack.region = "eu-west-3".into();
    let e = estimate(&stack, None, &Prices::shipped());
    let problem = e.problem.clone().unwrap();
    assert!(problem.starts_with("no price table for eu-west-3 (tables: ap-northeast-2, us-east-1)"), "{problem}");
    assert!(e.lines.is_empty() && e.label.is_none());
    assert!(e.human().contains("No estimate: no price table for eu-west-3"));
    assert!(e.markdown().contains("no price table for eu-west-3"));
    assert_eq!(e.json()["problem"], serde_json::json!(problem));
    // A current stack in such a region: the estimate stands, without a delta.
    let e = estimate(&seed(), Some(&stack), &Prices::shipped());
    assert!(e.delta.is_none() && !e.lines.is_empty());
    assert!(e.problem.unwrap().contains("no price table for eu-west-3"));
}

#[test]
fn a_type_missing_from_the_table_is_not_priced_and_said() {
    let mut stack = seed();
    stack.fleet.as_mut().unwrap().instance_type = "m5d.24xlarge".into();
    let e = estimate(&stack, None, &Prices::shipped());
    assert_eq!(e.unpriced.len(), 1);
    assert_eq!(e.unpriced[0].key, "ec2.instance.m5d.24xlarge");
    assert!(e.human().contains("Not priced (no entry in the price table):\n  - EC2 m5d.24xlarge (fleet)"));
    assert!(e.human().contains("(without the items not priced below)"));
}

#[test]
fn multi_az_doubles_the_database_and_an_owned_zone_is_priced() {
    let mut stack = seed();
    stack.database.as_mut().unwrap().multi_az = true;
    stack.domain = Some(bumarket_stack::Domain {
        name: "shop.example.com".into(),
        zone: DomainZone::Owned { name: "shop.example.com".into(), deletion_protection: true },
        wait_timeout_seconds: 600,
    });
    let e = estimate(&stack, None, &Prices::shipped());
    let db = 2.0 * price("rds.instance.oracle-ee.bring-your-own-license.db.t3.small") * H;
    assert_range(line(&e, "db.instance").monthly, db, db, db);
    let st = 2.0 * price("rds.storage.gp3");
    assert_range(line(&e, "db.storage").monthly, 20.0 * st, 20.0 * st, 100.0 * st);
    let zone = price("route53.hosted_zone");
    assert_range(line(&e, "domain.zone").monthly, zone, zone, zone);
}

#[test]
fn renderings_carry_the_label_with_the_price_date() {
    let e = estimate(&seed(), None, &Prices::shipped());
    let date = &Prices::shipped().table("ap-northeast-2").unwrap().prices_of.clone();
    let label = format!("Estimate, not a bill: AWS Price List, ap-northeast-2, prices of {date}");
    let human = e.human();
    assert!(human.starts_with("Monthly cost of bumarket-prod\n  EC2 t2.micro (fleet)"), "{human}");
    assert!(human.contains(&label) && human.contains("  total: $"), "{human}");
    assert!(human.contains("* price not confirmed"), "{human}");
    let md = e.markdown();
    assert!(md.contains("| Item | Quantity | Unit price | Monthly |") && md.contains(&label), "{md}");
    let j = e.json();
    assert_eq!(j["estimate"]["prices_of"], serde_json::json!(date));
    assert_eq!(j["estimate"]["source"], "AWS Price List");
    assert_eq!(j["lines"].as_array().unwrap().len(), e.lines.len());
    assert!(close(j["total"]["max"].as_f64().unwrap(), e.total.max));
}

#[test]
fn a_table_as_refresh_prices_prints_it_replaces_the_shipped_one() {
    let text = r#"{
  "format": 1,
  "region": "ap-northeast-2",
  "location": "Asia Pacific (Seoul)",
  "currency": "USD",
  "prices_of": "2027-01-02",
  "source": "AWS Price List Query API (GetProducts, on-demand terms), endpoint us-east-1",
  "refresh": "scripts/refresh-prices ap-northeast-2 > src/cost/prices/ap-northeast-2.json",
  "hours_per_month": 730,
  "entries": {
    "ec2.instance.t2.micro": {"usd": 0.02, "unit": "hour", "what": "EC2 t2.micro", "confirmed": true,
                              "source": "AWS Price List Query API, AmazonEC2 SKU X: $0.02 per hour"}
  }
}"#;
    let prices = Prices::from_tables([Table::parse(text).unwrap()]);
    let e = estimate(&seed(), None, &prices);
    assert_range(line(&e, "fleet.instances").monthly, 0.02 * H, 0.02 * H, 0.08 * H);
    // The rest of the seed has no entry in this table: not priced, and said.
    assert!(e.unpriced.iter().any(|u| u.key == "elb.application.hour"));
    assert!(e.human().contains("prices of 2027-01-02"));
    assert!(Table::parse(&text.replace("\"format\": 1", "\"format\": 2")).unwrap_err().contains("format 2"));
}

#[test]
fn each_key_of_the_shipped_tables_has_a_price_list_question() {
    // The run-time refresh and scripts/refresh-prices ask these; a key without one would
    // silently stay the shipped price.
    for region in Prices::shipped().regions() {
        let table = Prices::shipped().table(region).unwrap().clone();
        for key in table.entries.keys() {
            let q = query::question(key, &table.location).unwrap_or_else(|| panic!("no question for {key}"));
            let global = key == "route53.hosted_zone" || key == "transfer.out.internet";
            assert!(global || q.filters.contains(&("location", table.location.clone())), "{key}: {q:?}");
        }
    }
    let q = query::question("ec2.instance.t2.micro", "Asia Pacific (Seoul)").unwrap();
    assert_eq!(q.service, "AmazonEC2");
    assert!(
        q.filters.contains(&("instanceType", "t2.micro".into()))
            && q.filters.contains(&("operatingSystem", "Linux".into()))
    );
    assert_eq!(
        query::question("rds.instance.oracle-ee.bring-your-own-license.db.t3.small", "x").unwrap().service,
        "AmazonRDS"
    );
    assert_eq!(query::question("sqs.requests", "x"), None);
}

#[test]
fn the_unit_price_is_the_first_paid_tier_of_the_on_demand_terms() {
    // The shape GetProducts answers (Price List Query API Reference, PriceList): a free
    // first tier (the first 10 alarms) is not the unit price.
    let product = serde_json::json!({
        "product": {"sku": "ABC", "productFamily": "Alarm", "attributes": {}},
        "terms": {"OnDemand": {"ABC.T": {"priceDimensions": {
            "ABC.T.1": {"pricePerUnit": {"USD": "0.0000000000"}, "beginRange": "0", "endRange": "10", "description": "free"},
            "ABC.T.3": {"pricePerUnit": {"USD": "0.0500000000"}, "beginRange": "1000", "endRange": "Inf", "description": "bulk"},
            "ABC.T.2": {"pricePerUnit": {"USD": "0.1000000000"}, "beginRange": "10", "endRange": "1000", "description": "paid"}
        }}}}
    });
    assert_eq!(query::first_paid_tier(&product), Some((0.1, "paid".to_string())));
    assert_eq!(query::first_paid_tier(&serde_json::json!({"terms": {"OnDemand": {}}})), None);
}

#[tokio::test]
async fn without_an_answer_the_estimate_is_the_shipped_tables_and_says_why() {
    // Nothing listens on port 9 here: the API does not answer, as without network.
    let opts = crate::aws::Options {
        region: "ap-northeast-2".into(),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    };
    let aws = crate::aws::Aws::connect(&opts).await;
    let stack = seed();
    let asked = query::estimate_asking(&aws.pricing, &stack, None).await;
    let label = asked.label.as_ref().unwrap();
    assert!(
        label.origin.starts_with(
            "the table shipped with bumarket-infra: the Price List Query API did not answer (pricing:GetProducts: "
        ),
        "{}",
        label.origin
    );
    assert!(close(line(&asked, "fleet.instances").unit_price, price("ec2.instance.t2.micro")));
    assert_eq!(label.prices_of, Prices::shipped().table("ap-northeast-2").unwrap().prices_of);
    assert!(
        asked
            .markdown()
            .contains("from the table shipped with bumarket-infra: the Price List Query API did not answer"),
        "{}",
        asked.markdown()
    );
}
