//! Builds a [`Plan`] from the desired resources and what was read from AWS.
//!
//! Matching is by logical address (the ownership tag) first, then by physical name. A live
//! resource that has a wanted name but is not ours is a [`Conflict`]: the plan fails and
//! names it, and nothing is changed. Live resources of ours that the file no longer has
//! are deleted; extra live copies of one address are deleted as duplicates.

use super::{decide, drift, Action, KindRules, Plan, Reason, ResourceChange, FORMAT_VERSION};
use crate::engine::{Addr, Desired, Kind, Observed, Ownership};
use std::collections::BTreeMap;

/// A live resource that blocks the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The file wants a name that a resource of someone else's has.
    Foreign { addr: Addr, name: String, detail: String },
    /// A resource tagged as the stack's whose address tag does not fit it.
    BadAddress { name: String, detail: String },
    /// The file wants a name or id that a resource made outside bumarket-infra has, and
    /// `adopt:` does not list it.
    Unowned { addr: Addr, name: String, id: String, detail: String },
    /// Adopting the resource would replace it: the attributes that force it, each as
    /// (name, live value, the file's value).
    AdoptReplaces { addr: Addr, name: String, forced: Vec<(String, String, String)> },
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Foreign { addr, name, detail } => write!(
                f,
                "`{addr}` wants the name `{name}`, but {detail}; bumarket-infra never changes or deletes what it does not own: rename it in the stack file or remove the other resource",
            ),
            Conflict::BadAddress { name, detail } => write!(
                f,
                "`{name}` carries the stack's tag, but {detail}; bumarket-infra never changes or deletes a resource it cannot place: correct or remove that tag",
            ),
            Conflict::Unowned { addr, name, id, detail } => write!(
                f,
                "`{addr}` wants the name `{name}`, but {detail}; to take it over as it runs, list it under `adopt:` (`{addr}: {id}`), or rename it in the stack file",
            ),
            Conflict::AdoptReplaces { addr, name, forced } => {
                let what: Vec<String> =
                    forced.iter().map(|(a, live, file)| format!("`{a}` is {live} live and {file} in the file")).collect();
                write!(
                    f,
                    "adopting `{addr}` (`{name}`) would replace it: {}, and that cannot change in place; bumarket-infra never replaces what it adopts unless told: make the file say what runs, or write `replace: true` in its `adopt:` entry to have it replaced",
                    what.join(", "),
                )
            }
        }
    }
}

/// Why a resource whose only difference is the applied record (made by a version
/// without drift detection, or stale) is updated anyway.
pub const RECORD_ONLY: &str = "records what was applied, so later plans can tell drift; nothing else changes";

/// What the plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Make AWS match the file.
    Converge,
    /// Remove everything the stack owns.
    Destroy,
}

/// Plan the stack. `desired` is in any order; `observed` holds every live resource read.
pub fn build(
    stack: &str,
    region: &str,
    mode: Mode,
    desired: &[Desired],
    observed: Vec<Observed>,
    rules: &dyn KindRules,
) -> Result<Plan, Vec<Conflict>> {
    let mut conflicts = Vec::new();
    let mut by_addr: BTreeMap<Addr, Vec<Observed>> = BTreeMap::new();
    let mut foreign_by_name: BTreeMap<(Kind, String), Observed> = BTreeMap::new();
    let mut unowned_by_addr: BTreeMap<Addr, Observed> = BTreeMap::new();
    for o in observed {
        match &o.ownership {
            Ownership::Ours => by_addr.entry(o.addr.clone()).or_default().push(o),
            Ownership::Foreign(_) => {
                foreign_by_name.insert((o.addr.kind(), o.name.clone()), o);
            }
            Ownership::Unowned(_) => {
                unowned_by_addr.insert(o.addr.clone(), o);
            }
            Ownership::BadAddress(detail) => {
                conflicts.push(Conflict::BadAddress { name: o.name.clone(), detail: detail.clone() })
            }
        }
    }

    let mut resources = Vec::new();
    let wanted: &[Desired] = if mode == Mode::Destroy { &[] } else { desired };
    for d in wanted {
        if let Some(f) = foreign_by_name.get(&(d.addr.kind(), d.name.clone())) {
            if let Ownership::Foreign(detail) = &f.ownership {
                conflicts.push(Conflict::Foreign {
                    addr: d.addr.clone(),
                    name: d.name.clone(),
                    detail: detail.clone(),
                });
            }
            continue;
        }
        let unowned = unowned_by_addr.remove(&d.addr).or_else(|| {
            let key = unowned_by_addr.iter().find(|(_, o)| o.addr.kind() == d.addr.kind() && o.name == d.name);
            let key = key.map(|(a, _)| a.clone())?;
            unowned_by_addr.remove(&key)
        });
        if let Some(o) = unowned.filter(|_| !by_addr.contains_key(&d.addr)) {
            match adopt(d, o, rules) {
                Ok(r) => resources.push(r),
                Err(c) => conflicts.push(c),
            }
            continue;
        }
        let mut live = by_addr.remove(&d.addr).unwrap_or_default();
        // Prefer the copy with the wanted name, then the one the rest of the stack points
        // at (after a lost answer to a create, the retried copy got the subnets); the
        // rest are duplicates.
        live.sort_by_key(|o| (o.name != d.name, std::cmp::Reverse(rules.references(&o.id))));
        let mut live = live.into_iter();
        let current = live.next();
        let (action, mut changes) =
            decide(Some(&d.attrs), current.as_ref().map(|o| &o.attrs), rules.schema(d.addr.kind()));
        let mut notes = vec![];
        if let Some(o) = &current {
            drift::mark(&d.attrs, &o.attrs, &mut changes);
            if action == Action::Update && changes.iter().all(drift::only_applied) {
                notes.push(RECORD_ONLY.to_string());
            }
        }
        let reason = match action {
            Action::Create => Some(Reason::New),
            Action::NoOp => None,
            _ => Some(Reason::Changed),
        };
        resources.push(ResourceChange {
            addr: d.addr.clone(),
            action,
            reason,
            name: d.name.clone(),
            changes,
            desired: Some(d.clone()),
            observed: current,
            notes,
        });
        resources.extend(live.map(|o| delete(o, Reason::Duplicate)));
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let gone = if mode == Mode::Destroy { Reason::Destroy } else { Reason::RemovedFromFile };
    resources.extend(by_addr.into_values().flatten().map(|o| delete(o, gone.clone())));

    // Shown in layers, creates and updates first, then deletes in reverse (the executor
    // follows the dependency graph, whatever this order).
    resources.sort_by(|a, b| {
        let key = |r: &ResourceChange| {
            let layer = i32::from(rules.schema(r.addr.kind()).layer);
            if r.action == Action::Delete {
                (1, -layer)
            } else {
                (0, layer)
            }
        };
        key(a).cmp(&key(b)).then_with(|| a.addr.cmp(&b.addr)).then_with(|| a.name.cmp(&b.name))
    });
    Ok(Plan {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        stack: stack.to_string(),
        region: region.to_string(),
        resources,
        not_managed: vec![],
        notices: vec![],
        uses: vec![],
    })
}

/// Plan the adoption of a live resource made outside bumarket-infra, when the file lists
/// it under `adopt:`: an update that writes the ownership tags and the file's differences,
/// or a conflict when a difference would force a replacement.
fn adopt(d: &Desired, o: Observed, rules: &dyn KindRules) -> Result<ResourceChange, Conflict> {
    let Ownership::Unowned(detail) = &o.ownership else { unreachable!("only unowned resources are adopted") };
    if !rules.adopts(&d.addr) {
        return Err(Conflict::Unowned {
            addr: d.addr.clone(),
            name: d.name.clone(),
            id: o.id.clone(),
            detail: detail.clone(),
        });
    }
    let (_, changes) = decide(Some(&d.attrs), Some(&o.attrs), rules.schema(d.addr.kind()));
    let forced: Vec<(String, String, String)> = changes
        .iter()
        .filter(|c| c.forces_replacement)
        .map(|c| {
            let show = |v: &Option<serde_json::Value>| {
                if c.sensitive {
                    "(sensitive)".to_string()
                } else {
                    v.as_ref().map_or("unset".to_string(), |v| format!("`{v}`"))
                }
            };
            (c.name.clone(), show(&c.before), show(&c.after))
        })
        .collect();
    if !forced.is_empty() && !rules.adopt_replaces(&d.addr) {
        return Err(Conflict::AdoptReplaces { addr: d.addr.clone(), name: d.name.clone(), forced });
    }
    // Opted in (`replace: true`): the live resource is replaced, as the plan shows.
    let action = if forced.is_empty() { Action::Adopt } else { Action::Replace };
    Ok(ResourceChange {
        addr: d.addr.clone(),
        action,
        reason: Some(Reason::Adopted),
        name: d.name.clone(),
        changes,
        desired: Some(d.clone()),
        observed: Some(o),
        notes: vec![],
    })
}

fn delete(o: Observed, reason: Reason) -> ResourceChange {
    ResourceChange {
        addr: o.addr.clone(),
        action: Action::Delete,
        reason: Some(reason),
        name: o.name.clone(),
        changes: vec![],
        desired: None,
        observed: Some(o),
        notes: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Attrs;
    use crate::testing::{addr as at, Rules};
    use serde_json::json;

    fn rules() -> Rules {
        let mut rules = Rules::new(|k| u8::from(k == Kind::Role));
        // The subnets point at the copy with id `vpc-2`.
        rules.references.insert("vpc-2".into(), 4);
        rules
    }

    fn desired(addr: &str, name: &str, a: i64) -> Desired {
        let attrs: Attrs = serde_json::from_value(json!({"name": name, "a": a})).unwrap();
        Desired { addr: at(addr), name: name.into(), attrs, deps: vec![] }
    }

    fn observed(addr: &str, name: &str, a: i64, ownership: Ownership) -> Observed {
        let attrs: Attrs = serde_json::from_value(json!({"name": name, "a": a})).unwrap();
        Observed {
            addr: at(addr),
            name: name.into(),
            id: name.into(),
            attrs,
            ownership,
            outputs: Default::default(),
            deps: vec![],
        }
    }

    fn actions(p: &Plan) -> Vec<(String, Action)> {
        p.resources.iter().map(|r| (format!("{}:{}", r.addr, r.name), r.action)).collect()
    }

    #[test]
    fn creates_updates_deletes_and_duplicates_in_order() {
        let d = vec![desired("role.app", "r", 1), desired("bucket.a", "a", 1), desired("bucket.b", "b", 2)];
        let o = vec![
            observed("bucket.b", "b", 1, Ownership::Ours),
            observed("bucket.b", "b-copy", 2, Ownership::Ours),
            observed("bucket.old", "old", 1, Ownership::Ours),
            observed("role.old", "old-role", 1, Ownership::Ours),
        ];
        let p = build("s", "r", Mode::Converge, &d, o, &rules()).unwrap();
        assert_eq!(
            actions(&p),
            vec![
                ("bucket.a:a".into(), Action::Create),
                ("bucket.b:b".into(), Action::Update),
                ("role.app:r".into(), Action::Create),
                ("role.old:old-role".into(), Action::Delete),
                ("bucket.b:b-copy".into(), Action::Delete),
                ("bucket.old:old".into(), Action::Delete),
            ]
        );
        let reasons: Vec<_> = p.resources.iter().map(|r| r.reason.clone()).collect();
        assert_eq!(reasons[4], Some(Reason::Duplicate));
        assert_eq!(reasons[5], Some(Reason::RemovedFromFile));
    }

    #[test]
    fn a_foreign_resource_with_a_wanted_name_fails_the_plan() {
        let d = vec![desired("bucket.a", "a", 1), desired("bucket.b", "b", 1)];
        let o = vec![observed("bucket.a", "a", 1, Ownership::Foreign("it has no `bumarket-infra:stack` tag".into()))];
        let err = build("s", "r", Mode::Converge, &d, o, &rules()).unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].to_string().contains("`bucket.a` wants the name `a`, but it has no `bumarket-infra:stack` tag"));
    }

    #[test]
    fn a_resource_whose_address_tag_does_not_fit_fails_the_plan_and_is_never_deleted() {
        let d = vec![desired("bucket.a", "a", 1)];
        let bad = |name: &str| {
            let detail = format!("its address tag names `bukcet.{name}`, which is no kind bumarket-infra knows");
            observed("bucket.a", name, 1, Ownership::BadAddress(detail))
        };
        for mode in [Mode::Converge, Mode::Destroy] {
            let err = build("s", "r", mode, &d, vec![bad("x"), bad("y")], &rules()).unwrap_err();
            let text: Vec<String> = err.iter().map(ToString::to_string).collect();
            assert_eq!(text.len(), 2, "{text:?}");
            assert!(
                text[0].starts_with("`x` carries the stack's tag, but its address tag names `bukcet.x`"),
                "{}",
                text[0]
            );
            assert!(
                text[0].ends_with("never changes or deletes a resource it cannot place: correct or remove that tag")
            );
        }
    }

    #[test]
    fn an_unowned_resource_is_adopted_only_when_the_file_lists_it_and_never_replaced() {
        let outside = || Ownership::Unowned("the bucket exists without the tag".into());
        let d = vec![desired("bucket.a", "a", 2), desired("bucket.b", "b", 1)];
        let o = || vec![observed("bucket.a", "a", 1, outside()), observed("bucket.b", "b", 1, outside())];
        // Not listed: a conflict naming what to write, nothing planned.
        let err = build("s", "r", Mode::Converge, &d, o(), &rules()).unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err[0].to_string().contains("list it under `adopt:` (`bucket.a: a`)"), "{}", err[0]);
        // Listed: adopted in place, with the file's differences, counted as adoptions.
        let mut r = rules();
        r.adopt = vec![at("bucket.a"), at("bucket.b")];
        let p = build("s", "r", Mode::Converge, &d, o(), &r).unwrap();
        assert_eq!(actions(&p), vec![("bucket.a:a".into(), Action::Adopt), ("bucket.b:b".into(), Action::Adopt)]);
        assert_eq!(p.resources[0].changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a"]);
        assert!(p.resources[1].changes.is_empty());
        assert_eq!(p.summary().adopt, 2);
        // A difference that forces a replacement is refused, naming it and both values.
        let mut renamed = o();
        renamed[0].attrs.insert("name".into(), json!("old"));
        let err = build("s", "r", Mode::Converge, &d, renamed, &r).unwrap_err();
        assert_eq!(
            err[0].to_string(),
            "adopting `bucket.a` (`a`) would replace it: `name` is `\"old\"` live and `\"a\"` in the file, and that cannot change in place; bumarket-infra never replaces what it adopts unless told: make the file say what runs, or write `replace: true` in its `adopt:` entry to have it replaced"
        );
        // Unless its entry opts in (`replace: true`): then it is planned as a replacement.
        r.adopt_replacing = vec![at("bucket.a")];
        let mut renamed = o();
        renamed[0].attrs.insert("name".into(), json!("old"));
        let p = build("s", "r", Mode::Converge, &d, renamed, &r).unwrap();
        assert_eq!(actions(&p), vec![("bucket.a:a".into(), Action::Replace), ("bucket.b:b".into(), Action::Adopt)]);
        assert!(p.resources[0].changes.iter().any(|c| c.name == "name" && c.forces_replacement));
        // Destroy never sees what is not the stack's.
        assert!(build("s", "r", Mode::Destroy, &d, o(), &r).unwrap().resources.is_empty());
    }

    #[test]
    fn another_stacks_resource_is_never_adopted_even_when_listed() {
        let d = vec![desired("bucket.a", "a", 1)];
        let o = vec![observed("bucket.a", "a", 1, Ownership::Foreign("it belongs to the stack `other`".into()))];
        let mut r = rules();
        r.adopt = vec![at("bucket.a")];
        let err = build("s", "r", Mode::Converge, &d, o, &r).unwrap_err();
        assert!(err[0].to_string().contains("belongs to the stack `other`"), "{}", err[0]);
    }

    #[test]
    fn destroy_deletes_only_what_is_ours() {
        let d = vec![desired("bucket.a", "a", 1), desired("bucket.b", "b", 1)];
        let o = vec![
            observed("bucket.a", "a", 1, Ownership::Ours),
            observed("bucket.b", "b", 1, Ownership::Foreign("not ours".into())),
        ];
        let p = build("s", "r", Mode::Destroy, &d, o, &rules()).unwrap();
        assert_eq!(actions(&p), vec![("bucket.a:a".into(), Action::Delete)]);
        assert_eq!(p.resources[0].reason, Some(Reason::Destroy));
    }

    #[test]
    fn renamed_resource_is_replaced() {
        let d = vec![desired("bucket.a", "new", 1)];
        let o = vec![observed("bucket.a", "old", 1, Ownership::Ours)];
        let p = build("s", "r", Mode::Converge, &d, o, &rules()).unwrap();
        assert_eq!(p.resources[0].action, Action::Replace);
        assert_eq!(p.resources[0].forced_by().collect::<Vec<_>>(), vec!["name"]);
    }

    #[test]
    fn of_two_copies_the_one_the_stack_points_at_is_kept() {
        // A lost answer to CreateVpc: the SDK retried, AWS made two VPCs; the subnets went
        // into the second. Keeping the first would try to delete the VPC in use.
        let d = vec![desired("vpc.main", "v", 1)];
        let mut first = observed("vpc.main", "v", 1, Ownership::Ours);
        first.id = "vpc-1".into();
        let mut second = observed("vpc.main", "v", 1, Ownership::Ours);
        second.id = "vpc-2".into();
        for o in [vec![first.clone(), second.clone()], vec![second, first]] {
            let p = build("s", "r", Mode::Converge, &d, o, &rules()).unwrap();
            let kept: Vec<_> = p.resources.iter().filter(|r| r.action == Action::NoOp).collect();
            let gone: Vec<_> = p.resources.iter().filter(|r| r.action == Action::Delete).collect();
            assert_eq!(kept[0].observed.as_ref().unwrap().id, "vpc-2");
            assert_eq!(gone[0].observed.as_ref().unwrap().id, "vpc-1");
        }
    }
}
