//! The network: one VPC, a public and (with a database) a private subnet per availability
//! zone, an internet gateway, a public and a private route table, and the security groups
//! of the load balancer, the app instances and the database. One provider per kind, each
//! in its own file; what they share lives here.
//!
//! Reads never call AWS per resource: everything comes from the EC2 snapshot listed in
//! wave one by the stack's tag (only the VPC's two DNS attributes cost a call each).
//! Live ids are shown as the addresses that own them, so a plan compares addresses.

pub(crate) mod internet_gateway;
pub(crate) mod route_table;
mod routes;
mod rules;
pub(crate) mod security_group;
pub(crate) mod subnet;
pub(crate) mod vpc;

use super::ec2::{gone, tags_of, Snapshot};
use super::{tags_value, Cx};
use crate::apply::StepError;
use crate::engine::{Addr, Attrs, Desired, Kind, Observed};
use aws_sdk_ec2::types::Tag;
use std::collections::BTreeMap;

/// The VPC's address: there is one per stack.
pub(crate) fn vpc_addr() -> Addr {
    Addr::new(Kind::Vpc, "main")
}

/// A live id as the plan shows it: the address of the stack's resource that has it, or
/// the raw id when the stack has no such resource (so the diff names it).
pub(crate) fn shown(snap: &Snapshot, id: &str) -> String {
    snap.addr_of(id).map_or_else(|| id.to_string(), |a| a.to_string())
}

/// An attribute value that may be an address (`security_group.lb`) or a raw live id:
/// the live id, or `None` when it names a resource that does not exist (yet).
pub(crate) fn resolve(cx: &Cx, value: &str) -> Option<String> {
    match Addr::parse(value) {
        Ok(addr) => cx.known_id(&addr),
        Err(_) => Some(value.to_string()),
    }
}

/// The end of a delete: already gone counts as deleted; a deleted resource's id is
/// forgotten, so nothing later in the run names it.
pub(crate) fn deleted(cx: &Cx, o: &Observed, result: Result<(), StepError>) -> Result<(), StepError> {
    match result {
        Err(e) if !gone(&e) => Err(e),
        _ => {
            cx.forget_id(o);
            Ok(())
        }
    }
}

/// Addresses of the stack among live ids, sorted and without repeats.
pub(crate) fn stack_addrs<'a>(snap: &Snapshot, ids: impl IntoIterator<Item = &'a str>) -> Vec<Addr> {
    let mut out: Vec<Addr> = ids.into_iter().filter_map(|id| snap.addr_of(id)).collect();
    out.sort();
    out.dedup();
    out
}

/// One live resource of the stack as the planner sees it: the address from its tag, the
/// `Name` tag as its name, its tags among the attributes and its id as output.
pub(crate) fn observed(
    cx: &Cx,
    kind: Kind,
    id: &str,
    tags: &[Tag],
    mut attrs: Attrs,
    deps: Vec<Addr>,
    wanted: &[&Desired],
) -> Observed {
    let tags = tags_of(tags);
    let name = tags.get("Name").cloned().unwrap_or_else(|| id.to_string());
    // The snapshot holds what carries the stack's tag, and what `adopt:` lists by id.
    let what = format!("the {}", kind.as_str().replace('_', " "));
    let (addr, ownership) = cx.placed_by_tag((kind, &what), (id, &name), &tags, wanted);
    attrs.insert("tags".into(), tags_value(&tags));
    let deps = deps.into_iter().filter(|d| *d != addr).collect();
    Observed {
        addr,
        name,
        id: id.to_string(),
        attrs,
        ownership,
        outputs: BTreeMap::from([("id".to_string(), id.to_string())]),
        deps,
    }
}

/// The string in an attribute (`vpc`, `cidr`, ...), empty when absent.
pub(crate) fn text<'a>(attrs: &'a Attrs, key: &str) -> &'a str {
    attrs.get(key).and_then(|v| v.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_id_stays_raw_and_addresses_resolve_only_when_known() {
        let snap = Snapshot::default();
        assert_eq!(shown(&snap, "sg-0abc"), "sg-0abc");
        assert!(stack_addrs(&snap, ["sg-0abc"]).is_empty());
    }
}
