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
use crate::shape::{key, Shape, Ty};
use crate::suggest::list;

const RETENTION_DAYS: &[u64] = crate::model::LOG_RETENTION_DAYS;

pub(crate) static SHAPE: Shape = Shape::new(
    "monitoring",
    "CloudWatch alarms that mail the team, a dashboard, log retention.",
    &[
        key("emails", Ty::List(&Ty::Str), "At least one e-mail address that receives the alarms, no duplicates.").req(),
        key("alarms", Ty::Obj(&ALARMS), "Alarm thresholds."),
        key("dashboard", Ty::Bool, "A CloudWatch dashboard of the stack.").bool(true),
        key(
            "log_retention_days",
            Ty::IntOneOf(RETENTION_DAYS),
            "Days CloudWatch Logs keeps the stack's logs (a value it accepts).",
        )
        .int(180),
        key(
            "database_logs_to_bucket",
            Ty::Obj(&DATABASE_LOGS),
            "Deliver the database's logs into a bucket through Firehose (needs `database`).",
        ),
        key(
            "app_logs_to_bucket",
            Ty::Obj(&APP_LOGS),
            "Deliver the app's logs into a bucket through Firehose (needs `fleet`).",
        ),
    ],
);

static ALARMS: Shape = Shape::new(
    "alarms",
    "Alarm thresholds.",
    &[
        key("fleet_cpu_percent", Ty::Num(1.0, 100.0), "The fleet's average CPU.").num(60.0),
        key("unhealthy_hosts", Ty::Num(1.0, 100.0), "Unhealthy instances behind the load balancer.").num(1.0),
        key("http_5xx_per_5_minutes", Ty::Num(1.0, 1e6), "HTTP 5xx responses in 5 minutes.").num(10.0),
        key("database_cpu_percent", Ty::Num(1.0, 100.0), "The database's CPU.").num(80.0),
        key("database_free_storage_mb", Ty::Num(1.0, 65_536.0 * 1024.0), "The database's free storage, in MB.")
            .num(2048.0),
    ],
);

static DATABASE_LOGS: Shape = Shape::new(
    "database_logs_to_bucket",
    "Where the database's logs are delivered.",
    &[
        key("bucket", Ty::Str, "A `buckets` entry.").req(),
        key("prefix", Ty::Text, "Key prefix: no leading or trailing `/`.").str("database"),
    ],
);

static APP_LOGS: Shape = Shape::new(
    "app_logs_to_bucket",
    "Where the app's logs are delivered.",
    &[
        key("bucket", Ty::Str, "A `buckets` entry.").req(),
        key("prefix", Ty::Text, "Key prefix: no leading or trailing `/`.").str("app"),
    ],
);

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &Known) -> Option<Monitoring> {
    let entry = top.entry("monitoring")?;
    let m = Map::shaped(cx, &entry.value, "monitoring", entry.key.span, &SHAPE);
    m.need_all(cx);
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
    let a = m.sub(cx, "alarms", &ALARMS);
    let alarms = Alarms {
        fleet_cpu_percent: a.number_or(cx, "fleet_cpu_percent"),
        unhealthy_hosts: a.number_or(cx, "unhealthy_hosts"),
        http_5xx_per_5_minutes: a.number_or(cx, "http_5xx_per_5_minutes"),
        database_cpu_percent: a.number_or(cx, "database_cpu_percent"),
        database_free_storage_mb: a.number_or(cx, "database_free_storage_mb"),
    };
    let retention = m.uint(cx, "log_retention_days");
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
        dashboard: m.boolean_or(cx, "dashboard"),
        log_retention_days: retention.or(crate::shape::default_int(&SHAPE, "log_retention_days")) as u32,
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
    let (key, section, present, shape) = match source {
        Source::Database => ("database_logs_to_bucket", "database", known.has_database, &DATABASE_LOGS),
        Source::App => ("app_logs_to_bucket", "fleet", known.has_fleet, &APP_LOGS),
    };
    m.node(key)?;
    let d = m.sub(cx, key, shape);
    if !present {
        cx.error(
            m.key_span(key),
            format!("`monitoring.{key}` needs a `{section}` section"),
            format!("no {section} to deliver logs from"),
        );
    }
    d.need_all(cx);
    let bucket = d.string(cx, "bucket");
    if let Val::Got(b, span) = &bucket {
        let defined: Vec<&str> = known.buckets.keys().map(String::as_str).collect();
        reference(cx, b, *span, "bucket", "buckets", &defined);
    }
    let prefix = prefix(cx, &d, "prefix", false);
    Some(AccessLogs { bucket: bucket.or(String::new()), prefix })
}
