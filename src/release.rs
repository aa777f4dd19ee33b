//! `release [ADDRESS…]`: the way back from adoption. The stack gives up resources it
//! owns and leaves them running exactly as they are: their ownership tags are removed
//! (nothing else changes), so a later `destroy` or a file without them never deletes them.
//!
//! What a released resource needs in AWS goes with it (a database's subnet group, its
//! subnets and their VPC, its security group): otherwise the next `destroy` would try to
//! delete what the released one still uses. Such a resource is shown as released
//! "for" the one that needs it. Resources without tags of their own (a listener, a
//! scaling policy, a subscription) follow the resource they belong to; the IAM kinds,
//! which the stack's path marks, are moved off it (groups) or marked released (roles and
//! instance profiles, which IAM cannot move: see [`TAG_RELEASED`]).
//!
//! Built from the plan `destroy` would make (every resource the stack owns, read as
//! destroy reads them): the release plan is that plan with each chosen delete turned
//! into a release, and everything else left out.

use crate::engine::{Addr, Desired, Kind, Observed};
use crate::plan::drift::TAG_APPLIED;
use crate::plan::{Action, AttrChange, Plan, Reason, ResourceChange};
use crate::resources::fleet::autoscaling_group::TAG_TEMPLATE;
use crate::resources::{tags_from, Registry, TAG_RELEASED, TAG_RESOURCE, TAG_STACK};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// How one kind gives up a resource.
enum Giving {
    /// These changes (its tags, a group's path) make it no longer the stack's.
    Changes(Vec<AttrChange>),
    /// It has no tags of its own: it is the stack's because its parent (named) is.
    Follows(&'static str),
    /// It cannot stop being the stack's (the dashboard: the stack's by its name alone,
    /// and CloudWatch dashboards take no tags).
    Cannot(String),
}

/// The release plan of `named` (every resource the stack owns when empty), from the
/// plan `destroy` made. `Err` says why it cannot be, naming the addresses.
pub fn plan(registry: &Registry, destroy: Plan, named: &[String], desired: &[Desired]) -> Result<Plan, String> {
    let owned: BTreeMap<Addr, ResourceChange> =
        destroy.resources.iter().filter(|r| r.observed.is_some()).map(|r| (r.addr.clone(), r.clone())).collect();
    let mut chosen: Vec<Addr> = Vec::new();
    let mut unknown = Vec::new();
    for text in named {
        match Addr::parse(text) {
            Ok(a) if owned.contains_key(&a) => chosen.push(a),
            _ => unknown.push(format!("`{text}`")),
        }
    }
    if !unknown.is_empty() {
        let have: Vec<String> = owned.keys().map(|a| format!("`{a}`")).collect();
        return Err(format!(
            "the stack owns no {} in {} (it owns {})",
            unknown.join(", "),
            destroy.region,
            if have.is_empty() { "nothing".to_string() } else { have.join(", ") }
        ));
    }
    if named.is_empty() {
        chosen = owned.keys().cloned().collect();
    }
    // What the chosen need, in the file and in AWS, goes with them.
    let file: BTreeMap<&Addr, &Desired> = desired.iter().map(|d| (&d.addr, d)).collect();
    let mut needed_by: BTreeMap<Addr, Addr> = BTreeMap::new();
    let mut todo = chosen.clone();
    let mut seen: BTreeSet<Addr> = chosen.iter().cloned().collect();
    while let Some(a) = todo.pop() {
        let live = owned.get(&a).and_then(|r| r.observed.as_ref()).map(|o| o.deps.clone()).unwrap_or_default();
        let wanted = file.get(&a).map(|d| d.deps.clone()).unwrap_or_default();
        for dep in live.into_iter().chain(wanted) {
            if owned.contains_key(&dep) && seen.insert(dep.clone()) {
                needed_by.insert(dep.clone(), needed_by.get(&a).cloned().unwrap_or_else(|| a.clone()));
                todo.push(dep);
            }
        }
    }
    let mut resources = Vec::new();
    let mut followers = Vec::new();
    let mut refused = Vec::new();
    let mut stays = Vec::new();
    for a in &seen {
        let r = &owned[a];
        let o = &with_records(r.observed.as_ref().expect("owned resources were read"));
        match giving(registry, o) {
            Giving::Changes(changes) => {
                let mut notes = Vec::new();
                if let Some(by) = needed_by.get(a) {
                    notes.push(format!("`{by}` needs it"));
                }
                resources.push(ResourceChange {
                    addr: a.clone(),
                    action: Action::Release,
                    reason: Some(Reason::Released),
                    name: o.name.clone(),
                    changes,
                    desired: Some(Desired {
                        addr: a.clone(),
                        name: o.name.clone(),
                        attrs: o.attrs.clone(),
                        deps: vec![],
                    }),
                    observed: Some(o.clone()),
                    notes,
                });
            }
            Giving::Follows(parent) if named.iter().any(|n| n == a.as_str()) => refused
                .push(format!("`{a}` has no tags of its own: it is the stack's because its {parent} is; release that")),
            Giving::Follows(parent) => followers.push(format!("`{a}` (with its {parent})")),
            Giving::Cannot(why) if named.iter().any(|n| n == a.as_str()) => refused.push(format!("`{a}` {why}")),
            Giving::Cannot(why) => stays.push(format!("`{a}` {why}")),
        }
    }
    if !refused.is_empty() {
        return Err(refused.join("; "));
    }
    let mut notices = Vec::new();
    if !followers.is_empty() {
        notices.push(format!("released with what they belong to: {}", followers.join(", ")));
    }
    notices.extend(stays.into_iter().map(|s| format!("{s}; it stays the stack's")));
    let kept = owned.len() - seen.len();
    if kept > 0 {
        notices.push(format!("{kept} other resource(s) stay the stack's"));
    }
    Ok(Plan { resources, notices, not_managed: vec![], ..destroy })
}

/// `o` with the records its provider reads out of its tags put back among them, so that
/// releasing removes them too: an Auto Scaling group's record of the template its
/// instances run ([`TAG_TEMPLATE`], the `template` attribute).
fn with_records(o: &Observed) -> Observed {
    let mut o = o.clone();
    if o.addr.kind() == Kind::AutoscalingGroup {
        let print = o.attrs.get("template").and_then(Value::as_str).map(String::from);
        if let (Some(print), Some(Value::Object(tags))) = (print, o.attrs.get_mut("tags")) {
            tags.insert(TAG_TEMPLATE.into(), Value::String(print));
        }
    }
    o
}

/// What makes `o` no longer the stack's.
fn giving(registry: &Registry, o: &Observed) -> Giving {
    let cx = &registry.cx;
    match o.addr.kind() {
        Kind::Listener => return Giving::Follows("load balancer"),
        Kind::ScalingPolicy => return Giving::Follows("Auto Scaling group"),
        Kind::Subscription => return Giving::Follows("topic"),
        Kind::LogSubscription => return Giving::Follows("log group"),
        Kind::Group => {
            // Off the stack's path, to the root where IAM puts what has no path.
            return Giving::Changes(vec![change("path", o.attrs.get("path").cloned(), Some(Value::from("/")))]);
        }
        _ => {}
    }
    let Some(before) = o.attrs.get("tags").filter(|t| t.is_object()) else {
        return Giving::Cannot(format!(
            "takes no tags: it is the stack's by its name `{}` alone and cannot be released",
            o.name
        ));
    };
    let mut after = tags_from(Some(before));
    for t in [TAG_STACK, TAG_RESOURCE, TAG_APPLIED, TAG_TEMPLATE] {
        after.remove(t);
    }
    // A role or profile the stack made lies under its path, which IAM cannot change; a
    // hosted zone keeps the caller reference it was made with.
    let path_owned = matches!(o.addr.kind(), Kind::Role | Kind::InstanceProfile) && o.id.contains(&cx.iam_path());
    if path_owned || o.addr.kind() == Kind::HostedZone {
        after.insert(TAG_RELEASED.into(), cx.stack.name.clone());
    }
    Giving::Changes(vec![change("tags", Some(before.clone()), Some(crate::resources::tags_value(&after)))])
}

fn change(name: &str, before: Option<Value>, after: Option<Value>) -> AttrChange {
    AttrChange { name: name.into(), before, after, forces_replacement: false, sensitive: false, drift: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Ownership;
    use serde_json::json;

    #[test]
    fn a_groups_template_record_is_among_the_tags_a_release_removes() {
        let mut attrs = crate::engine::Attrs::new();
        attrs.insert("template".into(), json!("6bcfbb434382ccce"));
        attrs.insert("tags".into(), json!({"Name": "shop-asg", TAG_STACK: "shop"}));
        let o = Observed {
            addr: Addr::new(Kind::AutoscalingGroup, "app"),
            name: "shop-asg".into(),
            id: "shop-asg".into(),
            attrs,
            ownership: Ownership::Ours,
            outputs: BTreeMap::new(),
            deps: vec![],
        };
        let tags = tags_from(with_records(&o).attrs.get("tags"));
        assert_eq!(tags.get(TAG_TEMPLATE).map(String::as_str), Some("6bcfbb434382ccce"));
        // Other kinds are left as read.
        let mut bucket = o.clone();
        bucket.addr = Addr::new(Kind::Bucket, "images");
        assert_eq!(with_records(&bucket).attrs, bucket.attrs);
    }
}
