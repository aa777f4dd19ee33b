//! `monitoring:` – CloudWatch alarms that mail the team, a dashboard, log retention.
//!
//! At least one e-mail address receives the alarms. Thresholds default to the seed's CPU
//! target (60 %) and conservative values elsewhere. Log retention must be a value CloudWatch
//! Logs accepts. The database's and the app's logs may also be delivered into one of the
//! stack's buckets (through Firehose), each under its own prefix.

use super::{prefix, reference, Known};
use crate::model::{AccessLogs, Alarms, Monitoring};
use crate::names::is_email;
use crate::reader::{string, Ctx, Map, Val};
use crate::suggest::list;

const KEYS: &[&str] =
    &["emails", "alarms", "dashboard", "log_retention_days", "database_logs_to_bucket", "app_logs_to_bucket"];
const ALARM_KEYS: &[&str] = &[
    "fleet_cpu_percent",
    "unhealthy_hosts",
    "http_5xx_per_5_minutes",
    "database_cpu_percent",
    "database_free_storage_mb",
];
const RETENTION_DAYS: &[u64] = crate::model::LOG_RETENTION_DAYS;

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &Known) -> Option<Monitoring> {
    let entry = top.entry("monitoring")?;
    let m = Map::open(cx, &entry.value, "monitoring", entry.key.span, Some(KEYS));
    m.need(cx, "emails");
    let mut emails: Vec<String> = Vec::new();
    let items = m.seq(cx, "emails");
    if let (true, Some(node)) = (items.is_empty(), m.node("emails")) {
        cx.error(node.span, "`monitoring.emails` is empty", "at least one address must receive the alarms");
    }
    for (i, node) in items.iter().enumerate() {
        let Val::Got(email, span) = string(cx, node, &format!("`emails[{i}]` in `monitoring`")) else { continue };
        if !is_email(&email) {
            cx.error(
                span,
                format!("`{email}` is not an e-mail address"),
                "expected an address like `team@example.com`",
            );
        } else if emails.contains(&email) {
            cx.error(span, format!("e-mail address `{email}` is listed twice"), "duplicate");
        }
        emails.push(email);
    }
    let a = m.sub(cx, "alarms", ALARM_KEYS);
    let alarms = Alarms {
        fleet_cpu_percent: a.number(cx, "fleet_cpu_percent", 1.0, 100.0).or(60.0),
        unhealthy_hosts: a.number(cx, "unhealthy_hosts", 1.0, 100.0).or(1.0),
        http_5xx_per_5_minutes: a.number(cx, "http_5xx_per_5_minutes", 1.0, 1e6).or(10.0),
        database_cpu_percent: a.number(cx, "database_cpu_percent", 1.0, 100.0).or(80.0),
        database_free_storage_mb: a.number(cx, "database_free_storage_mb", 1.0, 65_536.0 * 1024.0).or(2048.0),
    };
    let retention = m.uint(cx, "log_retention_days", 1, 3653);
    if let Val::Got(days, span) = &retention {
        if !RETENTION_DAYS.contains(days) {
            let shown: Vec<String> = RETENTION_DAYS.iter().map(u64::to_string).collect();
            let nearest = RETENTION_DAYS.iter().min_by_key(|d| d.abs_diff(*days)).copied().unwrap_or(180);
            let message = format!("CloudWatch Logs cannot keep logs for {days} days");
            let help = format!("accepted values: {}", list(shown.iter().map(String::as_str)));
            cx.error_help(*span, message, format!("nearest accepted value: {nearest}"), help);
        }
    }
    let database_logs = logs_to_bucket(cx, &m, known, Source::Database);
    let app_logs = logs_to_bucket(cx, &m, known, Source::App);
    Some(Monitoring {
        emails,
        alarms,
        dashboard: m.boolean(cx, "dashboard").or(true),
        log_retention_days: retention.or(180) as u32,
        database_logs_to_bucket: database_logs,
        app_logs_to_bucket: app_logs,
    })
}

#[derive(Clone, Copy)]
enum Source {
    Database,
    App,
}

/// `database_logs_to_bucket:` / `app_logs_to_bucket:` – `{bucket, prefix}`.
fn logs_to_bucket(cx: &mut Ctx, m: &Map, known: &Known, source: Source) -> Option<AccessLogs> {
    let (key, section, present, default) = match source {
        Source::Database => ("database_logs_to_bucket", "database", known.has_database, "database"),
        Source::App => ("app_logs_to_bucket", "fleet", known.has_fleet, "app"),
    };
    m.node(key)?;
    let d = m.sub(cx, key, &["bucket", "prefix"]);
    if !present {
        cx.error(
            m.key_span(key),
            format!("`monitoring.{key}` needs a `{section}` section"),
            format!("no {section} to deliver logs from"),
        );
    }
    d.need(cx, "bucket");
    let bucket = d.string(cx, "bucket");
    if let Val::Got(b, span) = &bucket {
        let defined: Vec<&str> = known.buckets.keys().map(String::as_str).collect();
        reference(cx, b, *span, "bucket", "buckets", &defined);
    }
    let prefix = prefix(cx, &d, "prefix", default, false);
    Some(AccessLogs { bucket: bucket.or(String::new()), prefix })
}
