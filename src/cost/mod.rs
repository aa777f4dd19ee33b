//! What a stack costs a month, and what a change of it costs: an estimate from the stack
//! file's model and a price table (see [`prices`]), never from AWS's bill.
//!
//! Three columns throughout: the fleet at `min_size`, at `desired_capacity` and at
//! `max_size` (the high column also lets the database's storage grow to `max_size_gb`, as
//! storage autoscaling may). What the file cannot know (bytes stored, requests, traffic,
//! hours an IDE runs) is listed as usage-driven and never guessed; what the table has no
//! price for is listed as not priced, and the total says it leaves those out.
//!
//! A change is priced by estimating the stack before and after ([`estimate`]'s `before`)
//! and taking the difference, line by line. The plan's resource changes are not used:
//! they are AWS-shaped attributes of the resources that differ (a no-op plan has none),
//! while the stack model says in one place what runs. The caller picks the "before": the
//! stack file at the base of a pull request, or the file last applied.

pub mod prices;
pub mod query;
mod render;
#[cfg(test)]
mod tests;

use bumarket_stack::{DomainZone, Encryption, Password, Stack};
pub use prices::{Prices, Table};

/// A quantity or an amount in the three columns: fleet at min, desired and max.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Range {
    pub min: f64,
    pub desired: f64,
    pub max: f64,
}

impl Range {
    pub fn one(v: f64) -> Range {
        Range { min: v, desired: v, max: v }
    }
    fn map(self, f: impl Fn(f64) -> f64) -> Range {
        Range { min: f(self.min), desired: f(self.desired), max: f(self.max) }
    }
    fn zip(self, o: Range, f: impl Fn(f64, f64) -> f64) -> Range {
        Range { min: f(self.min, o.min), desired: f(self.desired, o.desired), max: f(self.max, o.max) }
    }
    fn is_zero(self) -> bool {
        self.min.abs() < 0.005 && self.desired.abs() < 0.005 && self.max.abs() < 0.005
    }
}

/// One priced line: what, how many, at what unit price, and its monthly cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Stable id of the thing priced (`fleet.instances`), to match lines before and after.
    pub item: &'static str,
    pub what: String,
    pub quantity: Range,
    /// What the quantity counts (`instances`, `GB`, `alarms`).
    pub quantity_unit: &'static str,
    /// The table's key and price.
    pub key: String,
    pub unit_price: f64,
    /// What the unit price is per (`hour`, `GB-month`, `month`).
    pub price_unit: String,
    pub monthly: Range,
    /// False when the table's entry was not confirmed against AWS's published prices.
    pub confirmed: bool,
    pub note: Option<String>,
}

/// Something the stack runs that the table has no price for (left out of the total).
#[derive(Debug, Clone, PartialEq)]
pub struct Unpriced {
    pub item: &'static str,
    pub what: String,
    pub key: String,
}

/// A cost that depends on use, not on the file: listed, never estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDriven {
    pub what: String,
    /// Why the file cannot say, or what drives it.
    pub driver: String,
    /// The table's unit price, when it has one: `(price, unit, confirmed)`.
    pub unit_price: Option<(f64, String, bool)>,
}

/// One line that differs between before and after (absent on one side: zero there).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub item: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
    pub delta: Range,
}

/// The label every rendering carries: an estimate, from which table.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub region: String,
    pub location: String,
    pub currency: String,
    pub prices_of: String,
    pub source: String,
    pub refresh: String,
    pub hours_per_month: f64,
    pub unconfirmed_entries: usize,
    /// How the prices were got: asked of the Price List Query API now, or the shipped
    /// table (and why the API was not asked or did not answer).
    pub origin: String,
}

/// The monthly cost of a stack, and of a change when `before` was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub stack: String,
    pub region: String,
    /// `None` when there is no price table for the region (see `problem`).
    pub label: Option<Label>,
    pub lines: Vec<Line>,
    pub unpriced: Vec<Unpriced>,
    pub usage_driven: Vec<UsageDriven>,
    /// Sum of `lines` (not of `unpriced` nor `usage_driven`).
    pub total: Range,
    /// The before stack's total, when it was estimated.
    pub before_total: Option<Range>,
    /// `total - before_total`: what the change adds (negative: saves) a month.
    pub delta: Option<Range>,
    pub changes: Vec<Change>,
    /// Why there is no estimate (or no delta): no price table for a region.
    pub problem: Option<String>,
}

/// Estimate `stack` with `prices`; with `before` (the current stack), also the monthly
/// difference the change makes.
pub fn estimate(stack: &Stack, before: Option<&Stack>, prices: &Prices) -> Estimate {
    let mut out = one(stack, prices);
    let Some(before) = before else { return out };
    if out.problem.is_some() {
        return out;
    }
    let was = one(before, prices);
    if let Some(problem) = was.problem {
        out.problem = Some(format!("no delta: the current stack's {problem}"));
        return out;
    }
    out.before_total = Some(was.total);
    out.delta = Some(out.total.zip(was.total, |a, b| a - b));
    out.changes = changes(&was.lines, &out.lines);
    out
}

fn changes(before: &[Line], after: &[Line]) -> Vec<Change> {
    let mut items: Vec<&'static str> = after.iter().map(|l| l.item).collect();
    items.extend(before.iter().map(|l| l.item).filter(|i| !after.iter().any(|l| l.item == *i)));
    let describe = |l: &Line| format!("{} × {}", render::quantity(l), l.what);
    items
        .into_iter()
        .filter_map(|item| {
            let b = before.iter().find(|l| l.item == item);
            let a = after.iter().find(|l| l.item == item);
            let zero = Range::default();
            let delta = a.map_or(zero, |l| l.monthly).zip(b.map_or(zero, |l| l.monthly), |x, y| x - y);
            let same_text = b.map(describe) == a.map(describe);
            (!delta.is_zero() || !same_text).then(|| Change {
                item,
                before: b.map(describe),
                after: a.map(describe),
                delta,
            })
        })
        .collect()
}

/// The estimate of one stack, without a delta.
fn one(stack: &Stack, prices: &Prices) -> Estimate {
    let mut out = Estimate {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        label: None,
        lines: Vec::new(),
        unpriced: Vec::new(),
        usage_driven: Vec::new(),
        total: Range::default(),
        before_total: None,
        delta: None,
        changes: Vec::new(),
        problem: None,
    };
    let Some(table) = prices.table(&stack.region) else {
        out.problem = Some(format!(
            "no price table for {} (tables: {}); add src/cost/prices/{}.json with `scripts/refresh-prices {}`",
            stack.region,
            prices.regions().join(", "),
            stack.region,
            stack.region
        ));
        return out;
    };
    out.label = Some(Label {
        region: table.region.clone(),
        location: table.location.clone(),
        currency: table.currency.clone(),
        prices_of: table.prices_of.clone(),
        source: table.source.clone(),
        refresh: table.refresh.clone(),
        hours_per_month: table.hours_per_month,
        unconfirmed_entries: table.unconfirmed(),
        origin: "the table shipped with bumarket-infra".into(),
    });
    let mut b = Builder { table, out: &mut out };
    b.fleet(stack);
    b.load_balancer(stack);
    b.database(stack);
    b.monitoring(stack);
    b.domain(stack);
    b.cloud9(stack);
    b.buckets_and_traffic(stack);
    out.total = out.lines.iter().fold(Range::default(), |t, l| t.zip(l.monthly, |a, b| a + b));
    out
}

struct Builder<'a> {
    table: &'a Table,
    out: &'a mut Estimate,
}

/// How a line's quantity turns into a monthly cost.
#[derive(Clone, Copy)]
enum Per {
    /// An hourly price, running the whole month.
    Hour,
    /// A monthly price (GB-month, alarm-month, month).
    Month,
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        item: &'static str,
        what: String,
        key: String,
        quantity: Range,
        quantity_unit: &'static str,
        per: Per,
        factor: f64,
        note: Option<String>,
    ) {
        let Some(entry) = self.table.get(&key) else {
            self.out.unpriced.push(Unpriced { item, what, key });
            return;
        };
        let hours = match per {
            Per::Hour => self.table.hours_per_month,
            Per::Month => 1.0,
        };
        let monthly = quantity.map(|q| q * entry.usd * hours * factor);
        self.out.lines.push(Line {
            item,
            what,
            quantity,
            quantity_unit,
            key,
            unit_price: entry.usd,
            price_unit: entry.unit.clone(),
            monthly,
            confirmed: entry.confirmed,
            note,
        });
    }

    fn usage(&mut self, what: impl Into<String>, driver: impl Into<String>, key: Option<&str>) {
        let unit_price = key.and_then(|k| self.table.get(k)).map(|e| (e.usd, e.unit.clone(), e.confirmed));
        self.out.usage_driven.push(UsageDriven { what: what.into(), driver: driver.into(), unit_price });
    }

    fn fleet(&mut self, stack: &Stack) {
        let Some(f) = &stack.fleet else { return };
        let count = Range { min: f.min_size.into(), desired: f.desired_capacity.into(), max: f.max_size.into() };
        let it = &f.instance_type;
        self.line(
            "fleet.instances",
            format!("EC2 {it} (fleet)"),
            format!("ec2.instance.{it}"),
            count,
            "instances",
            Per::Hour,
            1.0,
            None,
        );
        let v = &f.root_volume;
        self.line(
            "fleet.volumes",
            format!("EBS {} root volume, {} GB (fleet)", v.volume_type, v.size_gb),
            format!("ebs.{}", v.volume_type),
            count.map(|c| c * f64::from(v.size_gb)),
            "GB",
            Per::Month,
            1.0,
            None,
        );
        let existing_network = stack.network.as_ref().is_some_and(|n| n.existing);
        if existing_network {
            self.usage(
                "public IPv4 addresses of the fleet's instances",
                "the existing subnets decide whether instances get one",
                Some("vpc.public_ipv4"),
            );
        } else {
            // The stack's public subnets assign a public IPv4 address at launch.
            self.line(
                "fleet.ipv4",
                "public IPv4 address (fleet instance)".into(),
                "vpc.public_ipv4".into(),
                count,
                "addresses",
                Per::Hour,
                1.0,
                None,
            );
        }
    }

    fn load_balancer(&mut self, stack: &Stack) {
        if stack.load_balancer.is_none() {
            return;
        }
        self.line(
            "lb.hours",
            "Application Load Balancer".into(),
            "elb.application.hour".into(),
            Range::one(1.0),
            "load balancer",
            Per::Hour,
            1.0,
            None,
        );
        let zones = stack.subnet_counts().0.max(2) as f64;
        self.line(
            "lb.ipv4",
            "public IPv4 address (load balancer node)".into(),
            "vpc.public_ipv4".into(),
            Range::one(zones),
            "addresses",
            Per::Hour,
            1.0,
            Some("at least one per availability zone; the load balancer adds nodes under load".into()),
        );
        self.usage(
            "Application Load Balancer capacity units (LCU)",
            "new and active connections, bytes processed and rule evaluations per hour",
            Some("elb.application.lcu"),
        );
    }

    fn database(&mut self, stack: &Stack) {
        let Some(db) = &stack.database else { return };
        let az = if db.multi_az { 2.0 } else { 1.0 };
        let license = db.license_model.as_deref().unwrap_or("license-included");
        let deployment = if db.multi_az { "Multi-AZ" } else { "Single-AZ" };
        self.line(
            "db.instance",
            format!("RDS {} {} {license}, {deployment}", db.engine, db.instance_class),
            format!("rds.instance.{}.{license}.{}", db.engine, db.instance_class),
            Range::one(az),
            "instances",
            Per::Hour,
            1.0,
            db.multi_az.then(|| "Multi-AZ: the primary and its standby are billed".to_string()),
        );
        let s = &db.storage;
        let grown = s.max_size_gb.unwrap_or(s.size_gb).max(s.size_gb);
        let gb = Range { min: s.size_gb.into(), desired: s.size_gb.into(), max: grown.into() };
        self.line(
            "db.storage",
            format!("RDS {} storage, {deployment}", s.storage_type),
            format!("rds.storage.{}", s.storage_type),
            gb,
            "GB",
            Per::Month,
            az,
            (grown > s.size_gb).then(|| format!("max column: storage autoscaled to max_size_gb ({grown} GB)")),
        );
        if let Password::Managed { .. } = db.password {
            self.line(
                "db.secret",
                "Secrets Manager secret (database password)".into(),
                "secretsmanager.secret".into(),
                Range::one(1.0),
                "secret",
                Per::Month,
                1.0,
                None,
            );
        }
        self.usage(
            "RDS backup storage beyond the free allocation",
            format!(
                "free up to the provisioned storage; beyond it, how much {} days of backups and snapshots hold",
                db.backup_retention_days
            ),
            Some("rds.backup"),
        );
    }

    fn monitoring(&mut self, stack: &Stack) {
        // Auto Scaling's target tracking makes two alarms of its own (scale out, scale in).
        let mut alarms = if stack.fleet.is_some() { 2.0 } else { 0.0 };
        let mut made_by = vec![];
        if let Some(m) = &stack.monitoring {
            let fleet = stack.fleet.is_some();
            let ours = f64::from(u8::from(fleet))
                + if fleet && stack.load_balancer.is_some() { 2.0 } else { 0.0 }
                + if stack.database.is_some() { 2.0 } else { 0.0 };
            alarms += ours;
            made_by.push(format!("{ours} of monitoring.alarms"));
            if m.dashboard {
                self.line(
                    "monitoring.dashboard",
                    "CloudWatch dashboard".into(),
                    "cloudwatch.dashboard".into(),
                    Range::one(1.0),
                    "dashboard",
                    Per::Month,
                    1.0,
                    Some("the account's first 3 dashboards are free".into()),
                );
            }
            self.usage(
                "CloudWatch Logs ingestion and storage",
                format!("how much the app and the database log; kept {} days", m.log_retention_days),
                Some("cloudwatch.logs.ingest"),
            );
            if m.database_logs_to_bucket.is_some() || m.app_logs_to_bucket.is_some() {
                self.usage(
                    "Data Firehose delivery of logs into the bucket",
                    "GB of log events delivered",
                    Some("firehose.ingest"),
                );
            }
            self.usage(
                "SNS e-mail notifications",
                "how often alarms fire (the first 1,000 e-mails a month are free)",
                None,
            );
        }
        if alarms > 0.0 {
            if stack.fleet.is_some() {
                made_by.push("2 of the fleet's target tracking".into());
            }
            self.line(
                "monitoring.alarms",
                "CloudWatch alarms, standard resolution".into(),
                "cloudwatch.alarm.standard".into(),
                Range::one(alarms),
                "alarms",
                Per::Month,
                1.0,
                Some(format!("{}; the account's first 10 alarms are free", made_by.join(", "))),
            );
        }
    }

    fn domain(&mut self, stack: &Stack) {
        let Some(d) = &stack.domain else { return };
        if let DomainZone::Owned { name, .. } = &d.zone {
            self.line(
                "domain.zone",
                format!("Route 53 hosted zone {name}"),
                "route53.hosted_zone".into(),
                Range::one(1.0),
                "zone",
                Per::Month,
                1.0,
                None,
            );
        }
        self.usage(
            "Route 53 DNS queries",
            "how often resolvers ask (alias queries to the load balancer are free)",
            None,
        );
    }

    fn cloud9(&mut self, stack: &Stack) {
        let Some(c) = &stack.cloud9 else { return };
        let it = &c.instance_type;
        if c.automatic_stop_minutes == 0 {
            self.line(
                "cloud9.instance",
                format!("EC2 {it} (Cloud9 IDE, never stopped)"),
                format!("ec2.instance.{it}"),
                Range::one(1.0),
                "instance",
                Per::Hour,
                1.0,
                None,
            );
        } else {
            let key = format!("ec2.instance.{it}");
            let ceiling = self.table.get(&key).map(|e| e.usd * self.table.hours_per_month);
            let minutes = c.automatic_stop_minutes;
            let driver = match ceiling {
                Some(c) => format!(
                    "hours the IDE is used (it stops after {minutes} idle minutes); at most {} a month if never stopped",
                    render::money(c)
                ),
                None => format!("hours the IDE is used (it stops after {minutes} idle minutes)"),
            };
            self.usage(format!("EC2 {it} running the Cloud9 IDE, and its public IPv4 address"), driver, Some(&key));
        }
        self.usage(
            "the Cloud9 instance's EBS volume",
            "its size and type are Cloud9's defaults, not the file's; billed while the environment exists",
            None,
        );
    }

    fn buckets_and_traffic(&mut self, stack: &Stack) {
        if !stack.buckets.is_empty() {
            let names: Vec<String> = stack
                .buckets
                .iter()
                .map(|(name, b)| {
                    let expiry = b.lifecycle.iter().filter_map(|r| r.expire_after_days).min();
                    match expiry {
                        Some(days) => format!("{name} (objects expire after {days} days)"),
                        None => name.clone(),
                    }
                })
                .collect();
            self.usage(
                format!("S3 storage and requests: {}", names.join(", ")),
                "the bytes stored and the requests made; the file cannot know them",
                Some("s3.standard.storage"),
            );
            if stack.buckets.values().any(|b| matches!(b.encryption, Encryption::Kms { .. })) {
                self.usage("KMS requests of SSE-KMS buckets", "requests to the buckets (bucket keys cut them)", None);
            }
        }
        self.usage(
            "data transfer out to the internet",
            "bytes the app sends to its users (the first 100 GB a month are free, account-wide)",
            Some("transfer.out.internet"),
        );
    }
}
