//! `plan --json`: one document on stdout, schema version [`crate::plan::FORMAT_VERSION`],
//! documented in docs/plan-json.md. Sensitive values are replaced by `"(sensitive)"`.

use crate::plan::{drift, AttrChange, Plan, ResourceChange};
use serde_json::{json, Value};

pub fn plan(p: &Plan) -> Value {
    let s = p.summary();
    json!({
        "format_version": p.format_version,
        "tool_version": p.tool_version,
        "stack": p.stack,
        "region": p.region,
        "changes_present": p.has_changes(),
        "summary": {
            "adopt": s.adopt,
            "release": s.release,
            "add": s.add,
            "change": s.change,
            "destroy": s.destroy,
            "unchanged": s.unchanged
        },
        "resources": p.resources.iter().map(resource).collect::<Vec<_>>(),
        "not_managed": p.not_managed,
        "notices": p.notices,
        "uses": p.uses,
    })
}

/// `tags` as users know them: without the applied record, which is the tool's own.
fn unrecorded(c: &AttrChange, v: &Option<Value>) -> Option<Value> {
    if c.name == "tags" {
        v.as_ref().map(drift::without_applied)
    } else {
        v.clone()
    }
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
        "changes": r.shown_changes().map(|c| json!({
            "attribute": c.name,
            "before": hide(&unrecorded(c, &c.before), c.sensitive),
            "after": hide(&unrecorded(c, &c.after), c.sensitive),
            "forces_replacement": c.forces_replacement,
            "drift": c.drift,
        })).collect::<Vec<_>>(),
        "notes": r.notes,
    })
}
