//! `plan --json`: one document on stdout, schema version [`crate::plan::FORMAT_VERSION`],
//! documented in docs/plan-json.md. Sensitive values are replaced by `"(sensitive)"`.

use crate::plan::{Plan, ResourceChange};
use serde_json::{json, Value};

pub fn plan(p: &Plan) -> Value {
    let s = p.summary();
    json!({
        "format_version": p.format_version,
        "tool_version": p.tool_version,
        "stack": p.stack,
        "region": p.region,
        "changes_present": p.has_changes(),
        "summary": {"add": s.add, "change": s.change, "destroy": s.destroy, "unchanged": s.unchanged},
        "resources": p.resources.iter().map(resource).collect::<Vec<_>>(),
        "not_managed": p.not_managed,
    })
}

fn resource(r: &ResourceChange) -> Value {
    let hide =
        |v: &Option<Value>, sensitive: bool| if sensitive && v.is_some() { json!("(sensitive)") } else { json!(v) };
    json!({
        "address": r.addr,
        "action": r.action,
        "reason": r.reason,
        "name": r.name,
        "replace_because": r.forced_by().collect::<Vec<_>>(),
        "changes": r.changes.iter().map(|c| json!({
            "attribute": c.name,
            "before": hide(&c.before, c.sensitive),
            "after": hide(&c.after, c.sensitive),
            "forces_replacement": c.forces_replacement,
        })).collect::<Vec<_>>(),
        "notes": r.notes,
    })
}
