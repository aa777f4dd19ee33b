//! `buckets.<name>.lifecycle:` – expiry rules of one bucket.
//!
//! Each rule has a unique `id` (1-255 chars), a key `prefix` ("" for the whole bucket) and
//! at least one of `expire_after_days`, `noncurrent_expire_after_days`,
//! `abort_incomplete_upload_days`, each 1 to 36 500 days.

use super::prefix;
use crate::model::LifecycleRule;
use crate::reader::{Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::yaml::Kind;

const MAX_DAYS: u64 = 36_500;

pub(crate) static RULE: Shape = Shape::new(
    "lifecycle_rule",
    "An expiry rule: at least one of `expire_after_days`, `noncurrent_expire_after_days` and `abort_incomplete_upload_days`.",
    &[
        key("id", Ty::Text, "The rule's id: 1-255 characters, unique in the bucket.").req(),
        key("prefix", Ty::Text, "The keys it applies to (`\"\"`: the whole bucket); no leading `/`.").str(""),
        key("expire_after_days", Ty::Int(1, MAX_DAYS), "Delete objects this many days after they are written."),
        key("noncurrent_expire_after_days", Ty::Int(1, MAX_DAYS), "Delete old versions this many days after they are replaced."),
        key("abort_incomplete_upload_days", Ty::Int(1, MAX_DAYS), "Abort multipart uploads unfinished after this many days."),
    ],
);

pub(crate) fn read(cx: &mut Ctx, bucket: &Map) -> Vec<LifecycleRule> {
    let items = bucket.seq(cx, "lifecycle");
    let mut rules: Vec<LifecycleRule> = Vec::with_capacity(items.len());
    let mut ids: Vec<String> = Vec::new();
    for (i, node) in items.iter().enumerate() {
        let path = format!("{}[{i}]", bucket.child("lifecycle"));
        let rule = Map::shaped(cx, node, &path, node.span, &RULE);
        if !matches!(node.kind, Kind::Map(_)) {
            continue;
        }
        rule.need_all(cx);
        let id = rule.text(cx, "id");
        if let Val::Got(id, span) = &id {
            let n = id.chars().count();
            if !(1..=255).contains(&n) {
                cx.error(
                    *span,
                    format!("lifecycle rule id `{id}` is {n} characters long"),
                    "expected 1 to 255 characters",
                );
            } else if ids.contains(id) {
                cx.error(
                    *span,
                    format!("duplicate lifecycle rule id `{id}` in `{}`", bucket.path),
                    "ids must be unique within a bucket",
                );
            }
            ids.push(id.clone());
        }
        let prefix = prefix(cx, &rule, "prefix", true);
        let expire = rule.uint(cx, "expire_after_days");
        let noncurrent = rule.uint(cx, "noncurrent_expire_after_days");
        let abort = rule.uint(cx, "abort_incomplete_upload_days");
        if [&expire, &noncurrent, &abort].iter().all(|v| matches!(v, Val::Absent)) {
            cx.error_help(
                node.span,
                format!("lifecycle rule `{path}` does nothing"),
                "no day count set",
                "set `expire_after_days`, `noncurrent_expire_after_days` or `abort_incomplete_upload_days`",
            );
        }
        rules.push(LifecycleRule {
            id: id.or(String::new()),
            prefix,
            expire_after_days: expire.get().map(|d| d as u32),
            noncurrent_expire_after_days: noncurrent.get().map(|d| d as u32),
            abort_incomplete_upload_days: abort.get().map(|d| d as u32),
        });
    }
    rules
}
