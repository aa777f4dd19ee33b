//! `load_balancer:` – an application load balancer in front of the fleet.
//!
//! It listens on 80, or 443 when a certificate (an ACM ARN in the stack's region) is given,
//! and forwards to the fleet's app port. Health checks default to generous timings (the seed:
//! new instances take minutes to start). Access logs go to one of the stack's buckets, which
//! must use SSE-S3: ALB cannot deliver logs to an SSE-KMS bucket.

use super::{prefix, reference, requires, Known};
use crate::model::{AccessLogs, Encryption, HealthCheck, LoadBalancer};
use crate::names::acm_certificate_region;
use crate::reader::{Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};

pub(crate) static SHAPE: Shape = Shape::new(
    "load_balancer",
    "An application load balancer in front of the fleet.",
    &[
        key(
            "listen_port",
            Ty::Int(1, 65_535),
            "The listener's port: 80 by default, 443 with a certificate or a `domain`.",
        ),
        key(
            "certificate_arn",
            Ty::Str,
            "An ACM certificate ARN in the stack's region (the listener then speaks HTTPS), or `existing.certificate`.",
        ),
        key("health_check", Ty::Obj(&HEALTH), "The target group's health check."),
        key(
            "access_logs",
            Ty::Obj(&ACCESS_LOGS),
            "Access logs into one of the stack's buckets (SSE-S3: ALB cannot write to SSE-KMS).",
        ),
        key(
            "deletion_protection",
            Ty::Bool,
            "Refuse to delete the load balancer (FSBP ELB.6); `false` lets destroy delete it.",
        )
        .bool(true),
        key("drop_invalid_header_fields", Ty::Bool, "Drop HTTP headers with invalid names.").bool(true),
        key("idle_timeout_seconds", Ty::Int(1, 4000), "Connection idle timeout.").int(60),
        key("wait_timeout", Ty::Duration, "How long apply waits for the load balancer.").str("10m"),
    ],
);

static HEALTH: Shape = Shape::new(
    "health_check",
    "The target group's health check.",
    &[
        key("path", Ty::Str, "The path checked; starts with `/`.").str("/health/"),
        key("interval_seconds", Ty::Int(5, 300), "Seconds between checks.").int(30),
        key("timeout_seconds", Ty::Int(2, 120), "Seconds a check may take; less than the interval.").int(10),
        key("healthy_threshold", Ty::Int(2, 10), "Passed checks before an instance is healthy.").int(2),
        key("unhealthy_threshold", Ty::Int(2, 10), "Failed checks before an instance is unhealthy.").int(5),
        key("matcher", Ty::Text, "HTTP codes 200-499 counted healthy: `200`, `200,302`, `200-399`.").str("200-399"),
    ],
);

static ACCESS_LOGS: Shape = Shape::new(
    "access_logs",
    "Where the load balancer writes its access logs.",
    &[
        key("bucket", Ty::Str, "A `buckets` entry using SSE-S3.").req(),
        key("prefix", Ty::Text, "Key prefix: no leading or trailing `/`, no `AWSLogs`.").str("alb"),
    ],
);

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &Known) -> Option<LoadBalancer> {
    let entry = top.entry("load_balancer")?;
    if known.subnets.is_none() {
        requires(cx, top, "load_balancer", "network", "the load balancer sits in the network's public subnets");
    } else if !known.has_fleet {
        requires(cx, top, "load_balancer", "fleet", "the load balancer forwards to the fleet's instances");
    }
    let m = Map::shaped(cx, &entry.value, "load_balancer", entry.key.span, &SHAPE);
    let certificate = m.string(cx, "certificate_arn");
    if let Val::Got(arn, span) = certificate.clone() {
        if arn == "existing.certificate" && !known.existing_certificate {
            cx.error(span, "`existing.certificate` is not looked up", "add `certificate:` under `existing:`");
        }
        match acm_certificate_region(&arn).filter(|_| arn != "existing.certificate") {
            None if arn == "existing.certificate" => {}
            None => cx.error(
                span,
                format!("`{arn}` is not an ACM certificate ARN"),
                "expected `arn:aws:acm:<region>:<account>:certificate/<id>`",
            ),
            Some(region) if region != known.region && crate::names::is_region(&known.region) => {
                let message = format!("certificate is in `{region}` but the stack is in `{}`", known.region);
                cx.error(span, message, "a load balancer needs a certificate from its own region");
            }
            Some(_) => {}
        }
    }
    let default_port = if matches!(certificate, Val::Absent) && !known.has_domain { 80 } else { 443 };
    let health = m.sub(cx, "health_check", &HEALTH);
    Some(LoadBalancer {
        listen_port: m.uint(cx, "listen_port").or(default_port) as u16,
        certificate_arn: certificate.get(),
        health_check: health_check(cx, &health),
        access_logs: access_logs(cx, &m, known),
        deletion_protection: m.boolean_or(cx, "deletion_protection"),
        drop_invalid_header_fields: m.boolean_or(cx, "drop_invalid_header_fields"),
        idle_timeout_seconds: m.uint_or(cx, "idle_timeout_seconds") as u32,
        wait_timeout_seconds: m.duration_or(cx, "wait_timeout"),
    })
}

fn health_check(cx: &mut Ctx, h: &Map) -> HealthCheck {
    let path = h.string(cx, "path");
    if let Val::Got(p, span) = &path {
        if !p.starts_with('/') || p.len() > 1024 {
            cx.error(*span, format!("health check path `{p}` must start with `/`"), "expected a path like `/health/`");
        }
    }
    let interval = h.uint(cx, "interval_seconds");
    let timeout = h.uint(cx, "timeout_seconds");
    let (default_interval, default_timeout) =
        (crate::shape::default_int(&HEALTH, "interval_seconds"), crate::shape::default_int(&HEALTH, "timeout_seconds"));
    if let (Some(i), Some(t)) = (interval.clone().checked(default_interval), timeout.clone().checked(default_timeout)) {
        if t >= i {
            let span = timeout.span().or(interval.span()).unwrap_or(h.holder);
            let message = format!("health check timeout_seconds {t} is not less than interval_seconds {i}");
            cx.error(span, message, "the timeout must be shorter than the interval");
        }
    }
    let matcher = h.text(cx, "matcher");
    if let Val::Got(text, span) = &matcher {
        if !matcher_ok(text) {
            cx.error(
                *span,
                format!("invalid health check matcher `{text}`"),
                "expected HTTP codes 200-499 like `200`, `200,302` or `200-399`",
            );
        }
    }
    HealthCheck {
        path: path.or(crate::shape::default_str(&HEALTH, "path").into()),
        interval_seconds: interval.or(default_interval) as u32,
        timeout_seconds: timeout.or(default_timeout) as u32,
        healthy_threshold: h.uint_or(cx, "healthy_threshold") as u32,
        unhealthy_threshold: h.uint_or(cx, "unhealthy_threshold") as u32,
        matcher: matcher.or(crate::shape::default_str(&HEALTH, "matcher").into()),
    }
}

/// `200`, `200,302`, `200-399`: codes from 200 to 499.
fn matcher_ok(text: &str) -> bool {
    let code = |s: &str| s.len() == 3 && s.parse::<u16>().is_ok_and(|c| (200..=499).contains(&c));
    text.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => code(a) && code(b) && a <= b,
        None => code(part),
    })
}

fn access_logs(cx: &mut Ctx, m: &Map, known: &Known) -> Option<AccessLogs> {
    m.node("access_logs")?;
    let logs = m.sub(cx, "access_logs", &ACCESS_LOGS);
    logs.need_all(cx);
    let bucket = logs.string(cx, "bucket");
    if let Val::Got(b, span) = &bucket {
        let defined: Vec<&str> = known.buckets.keys().map(String::as_str).collect();
        if reference(cx, b, *span, "bucket", "buckets", &defined) {
            if let Some(Some(Encryption::Kms { .. })) = known.buckets.get(b) {
                cx.error_help(
                    *span,
                    format!("bucket `{b}` uses SSE-KMS, which load balancer access logs cannot be written to"),
                    "needs an SSE-S3 bucket",
                    format!("set `encryption: sse-s3` on `buckets.{b}` or use another bucket"),
                );
            }
        }
    }
    let prefix = prefix(cx, &logs, "prefix", false);
    if prefix.contains("AWSLogs") {
        cx.error(
            logs.key_span("prefix"),
            format!("prefix `{prefix}` must not contain `AWSLogs`"),
            "AWS adds `AWSLogs/` itself",
        );
    }
    Some(AccessLogs { bucket: bucket.or(String::new()), prefix })
}

#[cfg(test)]
mod tests {
    #[test]
    fn matchers() {
        for ok in ["200", "200,302", "200-399", "200-299,404"] {
            assert!(super::matcher_ok(ok), "{ok}");
        }
        for bad in ["", "20", "500", "300-200", "200-", "abc"] {
            assert!(!super::matcher_ok(bad), "{bad}");
        }
    }
}
