//! `buckets:` – logical name → S3 bucket, secure by default.
//!
//! A bucket's physical name comes from a template (default
//! `{stack}-<logical>-{account_id}-{region}`), checked against S3's naming rules with a
//! 12-digit account id; two buckets may not resolve to the same name. Encryption defaults to
//! SSE-S3, public access is blocked and TLS required; loosening either needs a `reason`.

use super::{collisions, lifecycle, logical_key, statements, Known};
use crate::diagnostic::Span;
use crate::model::{Bucket, Encryption};
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
        };
        buckets.insert(logical.clone(), bucket);
    }
    collisions(cx, "bucket", &resolved);
    buckets
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
