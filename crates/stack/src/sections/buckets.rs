//! `buckets:` – logical name → S3 bucket, secure by default.
//!
//! A bucket's physical name comes from a template (default
//! `{stack}-<logical>-{account_id}-{region}`), checked against S3's naming rules with a
//! 12-digit account id; two buckets may not resolve to the same name. Encryption defaults to
//! SSE-S3, public access is blocked and TLS required; loosening either needs a `reason`.

use super::{collisions, lifecycle, logical_key, statements, Known};
use crate::diagnostic::Span;
use crate::model::{AccessLogs, Bucket, BucketLogs, Encryption, Loosenable};
use crate::names::{bucket_name, s3_bucket_problems, template_problems, EXAMPLE_ACCOUNT};
use crate::reader::{describe, Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::yaml::Kind;
use std::collections::BTreeMap;

const ENCRYPTIONS: &[&str] = &["sse-s3", "sse-kms"];

pub(crate) static SHAPE: Shape = Shape::new(
    "bucket",
    "An S3 bucket, secure by default.",
    &[
        key("name", Ty::Str, "A name template with `{stack}`, `{account_id}` and `{region}`, resolving to a valid S3 bucket name unique in the stack; `{stack}-<logical>-{account_id}-{region}` by default."),
        key("encryption", Ty::AnyOf(&[Ty::Enum(ENCRYPTIONS), Ty::Obj(&ENCRYPTION)]), "`sse-s3`, `sse-kms` (the AWS-managed key) or `{sse-kms: {key_id: ...}}`.").str("sse-s3"),
        key("public_access", Ty::AnyOf(&[Ty::Word("blocked"), Ty::Obj(&super::BLOCKED)]), "`blocked`; loosened only as `{blocked: false, reason: \"...\"}`.").str("blocked"),
        key("require_tls", Ty::AnyOf(&[Ty::True, Ty::Obj(&super::ENABLED)]), "`true`; loosened only as `{enabled: false, reason: \"...\"}`.").bool(true),
        key("versioning", Ty::Bool, "Keep every version of every object.").bool(false),
        key("lifecycle", Ty::List(&Ty::Obj(&lifecycle::RULE)), "Expiry rules."),
        key("policy_statements", Ty::List(&Ty::Obj(&statements::STATEMENT)), "Raw IAM statements added to the bucket's policy."),
        key("force_destroy", Ty::Bool, "`true`: destroy empties the bucket first.").bool(false),
        key("access_logs", Ty::AnyOf(&[Ty::Obj(&ACCESS_LOGS), Ty::Obj(&super::ENABLED)]), "S3 server access logs: into the stack's log bucket under `s3/<logical>/` by default (a log bucket does not log into itself); `{bucket: ..., prefix: ...}` elsewhere; off only as `{enabled: false, reason: \"...\"}`."),
    ],
);

static ACCESS_LOGS: Shape = Shape::new(
    "bucket_access_logs",
    "Where a bucket's server access logs go.",
    &[
        key("bucket", Ty::Str, "Another `buckets` entry using SSE-S3.").req(),
        key("prefix", Ty::Text, "Key prefix of the log objects, ending in `/`; `s3/<logical>/` by default."),
    ],
);

static ENCRYPTION: Shape = Shape::new(
    "bucket_encryption",
    "SSE-KMS with a key of your own.",
    &[key("sse-kms", Ty::Obj(&KMS), "Encrypt with this KMS key.").req()],
);

static KMS: Shape = Shape::new(
    "bucket_kms_key",
    "The bucket's KMS key.",
    &[key("key_id", Ty::Str, "A KMS key id, ARN or alias, or `existing.kms_key`.")],
);

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &mut Known) -> BTreeMap<String, Bucket> {
    let mut buckets = BTreeMap::new();
    let Some(entry) = top.entry("buckets") else { return buckets };
    let all = Map::open(cx, &entry.value, "buckets", entry.key.span, None);
    let mut resolved = Vec::new();
    let mut targets = Vec::new();
    for e in all.entries {
        let logical = &e.key.name;
        if buckets.contains_key(logical) {
            continue;
        }
        logical_key(cx, logical, e.key.span, "bucket");
        let b = Map::shaped(cx, &e.value, &all.child(logical), e.key.span, &SHAPE);
        let template = b.string(cx, "name");
        let span = template.span().unwrap_or(e.key.span);
        let text = match &template {
            Val::Got(t, _) => t.clone(),
            _ => crate::default_bucket_template(logical),
        };
        if !matches!(template, Val::Bad) {
            if let Some(name) = check_name(cx, &text, span, logical, known) {
                resolved.push((logical.clone(), name, span));
            }
        }
        let encryption = encryption(cx, &b, known);
        known.buckets.insert(logical.clone(), encryption.clone());
        let bucket = Bucket {
            name: template.get(),
            encryption: encryption.unwrap_or(Encryption::S3Managed),
            public_access: super::loosenable(cx, &b, "public_access", &super::BLOCKED),
            require_tls: super::loosenable(cx, &b, "require_tls", &super::ENABLED),
            versioning: b.boolean_or(cx, "versioning"),
            lifecycle: lifecycle::read(cx, &b),
            policy_statements: statements::read(cx, &b, "policy_statements"),
            force_destroy: b.boolean_or(cx, "force_destroy"),
            access_logs: access_logs(cx, &b, logical),
        };
        if let BucketLogs::To(to) = &bucket.access_logs {
            targets.push((logical.clone(), to.bucket.clone(), b.node("access_logs").map_or(e.key.span, |n| n.span)));
        }
        buckets.insert(logical.clone(), bucket);
    }
    collisions(cx, "bucket", &resolved);
    // Where server access logs go must be another of the stack's buckets, with SSE-S3: S3
    // delivers server access logs only into a bucket whose default encryption is SSE-S3
    // (S3 User Guide, "Logging requests with server access logging": SSE-KMS is not
    // supported for the destination bucket).
    let names: Vec<&str> = buckets.keys().map(String::as_str).collect();
    for (logical, target, span) in targets {
        if target == logical {
            cx.error_help(
                span,
                format!("bucket `{logical}` cannot write its access logs into itself"),
                "logs of the logs would grow without end",
                "name another bucket, or turn them off with `{enabled: false, reason: \"...\"}`",
            );
        } else if super::reference(cx, &target, span, "bucket", "buckets", &names) {
            if let Some(Some(Encryption::Kms { .. })) = known.buckets.get(&target) {
                cx.error_help(
                    span,
                    format!("bucket `{target}` uses SSE-KMS, which S3 server access logs cannot be written to"),
                    "needs an SSE-S3 bucket",
                    format!("set `encryption: sse-s3` on `buckets.{target}` or use another bucket"),
                );
            }
        }
    }
    buckets
}

/// `access_logs:` of one bucket: absent is the default (see [`BucketLogs::Default`]).
fn access_logs(cx: &mut Ctx, b: &Map, logical: &str) -> BucketLogs {
    let Some(node) = b.node("access_logs") else { return BucketLogs::Default };
    let loosening = matches!(&node.kind, Kind::Map(m) if m.iter().any(|e| e.key.name == "enabled"))
        || matches!(node.kind, Kind::Bool(_));
    if loosening {
        return match super::loosenable(cx, b, "access_logs", &super::ENABLED) {
            Loosenable::On => BucketLogs::Default,
            Loosenable::Off { reason } => BucketLogs::Off { reason },
        };
    }
    let m = b.sub(cx, "access_logs", &ACCESS_LOGS);
    m.need_all(cx);
    // Without `bucket` (already reported) there is nothing more to check.
    let Some(bucket) = m.string(cx, "bucket").get() else { return BucketLogs::Default };
    let mut prefix = m.text(cx, "prefix").get().unwrap_or_else(|| format!("s3/{logical}/"));
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    BucketLogs::To(AccessLogs { bucket, prefix })
}

/// Checks a name template; returns the name it resolves to with the example account id.
fn check_name(cx: &mut Ctx, template: &str, span: Span, logical: &str, known: &Known) -> Option<String> {
    let problems = template_problems(template);
    for p in &problems {
        cx.error(span, format!("bucket name template `{template}` {p}"), "invalid template");
    }
    // A bad stack name or region is reported once, not again in every bucket name.
    let stack_ok = crate::names::stack_name(&known.stack).is_empty() || !template.contains("{stack}");
    let region_ok = crate::names::is_region(&known.region) || !template.contains("{region}");
    // A bad logical name is reported once too, not again inside the default bucket name.
    let logical_ok =
        crate::names::logical_name(logical).is_none() || template != crate::default_bucket_template(logical);
    if !problems.is_empty() || !stack_ok || !region_ok || !logical_ok {
        return None;
    }
    let name = bucket_name(template, &known.stack, EXAMPLE_ACCOUNT, &known.region);
    let help = if template.contains("{account_id}") {
        format!("checked with the account id {EXAMPLE_ACCOUNT} in place of `{{account_id}}`")
    } else {
        String::new()
    };
    for p in s3_bucket_problems(&name) {
        let message = format!("bucket name `{name}` {p}");
        match (help.is_empty(), template == crate::default_bucket_template(logical)) {
            (_, true) => cx.error_help(
                span,
                message,
                "the default name",
                "set `name:` to a shorter template, such as `{stack}-<short>-{account_id}`",
            ),
            (true, false) => cx.error(span, message, "invalid bucket name"),
            (false, false) => cx.error_help(span, message, "invalid bucket name", help.clone()),
        }
    }
    Some(name)
}

fn encryption(cx: &mut Ctx, b: &Map, known: &Known) -> Option<Encryption> {
    let Some(node) = b.node("encryption") else { return Some(Encryption::S3Managed) };
    let what = b.what("encryption");
    match &node.kind {
        Kind::Str(s) if s == "sse-s3" => Some(Encryption::S3Managed),
        Kind::Str(s) if s == "sse-kms" => Some(Encryption::Kms { key_id: None }),
        Kind::Str(s) => {
            cx.not_one_of(node.span, format!("invalid value `{s}` for {what}"), s, ENCRYPTIONS);
            None
        }
        Kind::Map(_) => {
            let m = Map::shaped(cx, node, &b.child("encryption"), b.key_span("encryption"), &ENCRYPTION);
            if m.entry("sse-kms").is_none() {
                m.need(cx, "sse-kms");
                return None;
            }
            let kms = m.sub(cx, "sse-kms", &KMS);
            let key_id = kms.string(cx, "key_id");
            super::existing_ref(cx, &key_id, "kms_key", known.existing_kms_key);
            (!matches!(key_id, Val::Bad)).then(|| Encryption::Kms { key_id: key_id.get() })
        }
        _ => {
            let message = format!(
                "wrong type for {what}: expected `sse-s3`, `sse-kms` or `{{sse-kms: {{key_id: ...}}}}`, found {}",
                describe(node)
            );
            cx.error(node.span, message, "expected `sse-s3` or `sse-kms`");
            None
        }
    }
}

#[cfg(test)]
mod access_log_tests {
    use crate::model::{AccessLogs, BucketLogs};
    use std::path::Path;

    const BASE: &str = "stack: s\nregion: ap-northeast-2\nnetwork: {cidr: 10.0.0.0/16, availability_zones: [ap-northeast-2a, ap-northeast-2c], public_subnets: [10.0.0.0/24, 10.0.1.0/24]}\nfleet: {instance_type: t3.micro}\nload_balancer: {access_logs: {bucket: logs}}\n";

    fn parse(buckets: &str) -> Result<crate::Stack, String> {
        crate::parse(Path::new("t.yaml"), &format!("{BASE}buckets:\n{buckets}")).map_err(|e| e.to_string())
    }

    #[test]
    fn buckets_log_into_the_stacks_log_bucket_by_default_and_it_not_into_itself() {
        let s = parse("  images: {}\n  logs: {}\n").unwrap();
        assert_eq!(s.log_bucket(), Some("logs"));
        let to = AccessLogs { bucket: "logs".into(), prefix: "s3/images/".into() };
        assert_eq!(s.server_access_logs("images"), Some(to));
        assert_eq!(s.server_access_logs("logs"), None);
        // Elsewhere, with a prefix made to end in `/`; or off, with the reason stated.
        let s = parse("  images: {access_logs: {bucket: audit, prefix: img}}\n  audit: {}\n  logs: {}\n").unwrap();
        assert_eq!(
            s.server_access_logs("images").unwrap(),
            AccessLogs { bucket: "audit".into(), prefix: "img/".into() }
        );
        let s = parse("  images: {access_logs: {enabled: false, reason: \"public data set\"}}\n  logs: {}\n").unwrap();
        assert_eq!(s.buckets["images"].access_logs, BucketLogs::Off { reason: "public data set".into() });
        assert_eq!(s.server_access_logs("images"), None);
    }

    #[test]
    fn a_bad_target_or_a_loosening_without_reason_is_refused_at_its_line() {
        let e = parse("  images: {access_logs: {enabled: false}}\n  logs: {}\n").unwrap_err();
        assert!(e.contains("needs a reason") && e.contains("t.yaml:7:"), "{e}");
        let e = parse("  images: {}\n  logs: {access_logs: {bucket: logs}}\n").unwrap_err();
        assert!(e.contains("bucket `logs` cannot write its access logs into itself") && e.contains("t.yaml:8:"), "{e}");
        let e = parse("  images: {access_logs: {bucket: lgos}}\n  logs: {}\n").unwrap_err();
        assert!(e.contains("lgos") && e.contains("t.yaml:7:"), "{e}");
        let e = parse("  images: {access_logs: {bucket: vault}}\n  vault: {encryption: sse-kms}\n  logs: {}\n")
            .unwrap_err();
        assert!(e.contains("bucket `vault` uses SSE-KMS, which S3 server access logs cannot be written to"), "{e}");
    }
}
