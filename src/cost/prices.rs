//! Price tables: one JSON file per region under `src/cost/prices/`, embedded in the
//! binary (`include_str!`), so an estimate needs no file and no network at run time.
//!
//! Each table names its date (`prices_of`), its currency, where its numbers come from and
//! the exact command that rewrites it (`scripts/refresh-prices <region>`, which asks the
//! Price List Query API with [`super::query`]'s questions and prints this same format).
//! At run time a plan asks the API for the entries its estimate uses and falls back to
//! these tables when it does not answer. Every entry carries its own
//! `source` and whether it was `confirmed` against AWS's published prices: a hand-compiled
//! table says so entry by entry instead of passing a remembered number off as AWS's.
//!
//! Keys (what `estimate` looks up):
//! - `ec2.instance.<type>`: Linux, shared tenancy, on-demand, per hour;
//! - `ebs.<volume type>`: per GB-month;
//! - `rds.instance.<engine>.<license model>.<class>`: Single-AZ, per hour;
//! - `rds.storage.<type>`: Single-AZ, per GB-month; `rds.backup`: per GB-month;
//! - `elb.application.hour`, `elb.application.lcu`; `vpc.public_ipv4` (per hour);
//! - `route53.hosted_zone`, `cloudwatch.alarm.standard`, `cloudwatch.dashboard`,
//!   `secretsmanager.secret` (per month);
//! - usage-driven unit prices shown beside what is not estimated: `cloudwatch.logs.ingest`,
//!   `s3.standard.storage`, `firehose.ingest`, `transfer.out.internet`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The tables shipped in the binary, by region.
const SHIPPED: &[(&str, &str)] = &[
    ("ap-northeast-2", include_str!("prices/ap-northeast-2.json")),
    ("us-east-1", include_str!("prices/us-east-1.json")),
];

/// The format version `scripts/refresh-prices` writes.
pub const FORMAT: u32 = 1;

/// One region's price table, as the JSON file holds it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Table {
    pub format: u32,
    pub region: String,
    /// The Price List's name of the region (`Asia Pacific (Seoul)`).
    pub location: String,
    pub currency: String,
    /// The date the prices are of (`2026-12-03`).
    pub prices_of: String,
    /// Where the numbers come from, for the whole table.
    pub source: String,
    /// The exact command that rewrites this table.
    pub refresh: String,
    /// Hours in a month, as AWS's pricing calculator counts them (730).
    pub hours_per_month: f64,
    pub entries: BTreeMap<String, Entry>,
}

/// One price.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Entry {
    /// Price per `unit`, in the table's currency.
    pub usd: f64,
    /// `hour`, `month`, `GB-month`, `GB`, `alarm-month`, `LCU-hour`.
    pub unit: String,
    pub what: String,
    /// False when the number was not confirmed against AWS's published prices.
    pub confirmed: bool,
    pub source: String,
}

impl Table {
    /// Read a table in the shipped format (what `scripts/refresh-prices` prints).
    pub fn parse(text: &str) -> Result<Table, String> {
        let table: Table = serde_json::from_str(text).map_err(|e| format!("not a price table: {e}"))?;
        if table.format != FORMAT {
            return Err(format!("price table format {} (this build reads {FORMAT})", table.format));
        }
        if table.hours_per_month <= 0.0 {
            return Err("hours_per_month must be positive".into());
        }
        Ok(table)
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// How many entries were not confirmed against AWS's published prices.
    pub fn unconfirmed(&self) -> usize {
        self.entries.values().filter(|e| !e.confirmed).count()
    }
}

/// The price tables an estimate may use, by region.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    tables: BTreeMap<String, Table>,
}

impl Prices {
    /// The tables shipped in the binary.
    pub fn shipped() -> Prices {
        // The shipped tables are the repository's own files; a test parses every one.
        let tables = SHIPPED
            .iter()
            .map(|(region, text)| {
                let table = Table::parse(text).unwrap_or_else(|e| panic!("shipped price table {region}: {e}"));
                (table.region.clone(), table)
            })
            .collect();
        Prices { tables }
    }

    /// These tables with `table` in place of its region's.
    pub fn with(mut self, table: Table) -> Prices {
        self.tables.insert(table.region.clone(), table);
        self
    }

    /// Tables from elsewhere (a test): a later table of a region replaces an earlier one.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn from_tables(tables: impl IntoIterator<Item = Table>) -> Prices {
        Prices { tables: tables.into_iter().map(|t| (t.region.clone(), t)).collect() }
    }

    pub fn table(&self, region: &str) -> Option<&Table> {
        self.tables.get(region)
    }

    /// The regions with a table, sorted.
    pub fn regions(&self) -> Vec<&str> {
        self.tables.keys().map(String::as_str).collect()
    }
}
