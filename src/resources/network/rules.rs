//! Security group rules as the plan compares them: one rule per protocol, port range and
//! peer (AWS groups several peers into one `IpPermission`; here each is its own rule),
//! as sorted JSON objects such as `{"protocol": "tcp", "from_port": 80, "to_port": 80,
//! "cidr": "0.0.0.0/0"}` or with `"source_group": "security_group.lb"` instead of `cidr`.
//! A peer group is its address when the stack owns it, else its raw id.
//!
//! Rules are changed one by one, so the difference between two rule sets is all there is
//! to authorize and revoke.

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Who a rule lets in (ingress) or out to (egress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    Cidr(String),
    CidrV6(String),
    PrefixList(String),
    /// A security group: its address (`security_group.app`) or a raw `sg-` id.
    Group(String),
}

/// One rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// `tcp`, `udp`, `icmp`, or `-1` for all traffic.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: Peer,
}

impl Rule {
    /// TCP on one port.
    pub fn tcp(port: u16, peer: Peer) -> Rule {
        let port = Some(i32::from(port));
        Rule { protocol: "tcp".into(), from_port: port, to_port: port, peer }
    }

    /// All traffic, every protocol and port.
    pub fn all(peer: Peer) -> Rule {
        Rule { protocol: "-1".into(), from_port: None, to_port: None, peer }
    }

    /// The group this rule names, if any (address or raw id).
    pub fn group(&self) -> Option<&str> {
        match &self.peer {
            Peer::Group(g) => Some(g),
            _ => None,
        }
    }

    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("protocol".into(), json!(self.protocol));
        if let Some(p) = self.from_port {
            m.insert("from_port".into(), json!(p));
        }
        if let Some(p) = self.to_port {
            m.insert("to_port".into(), json!(p));
        }
        let (key, v) = match &self.peer {
            Peer::Cidr(c) => ("cidr", c),
            Peer::CidrV6(c) => ("cidr_ipv6", c),
            Peer::PrefixList(p) => ("prefix_list", p),
            Peer::Group(g) => ("source_group", g),
        };
        m.insert(key.into(), json!(v));
        Value::Object(m)
    }

    pub fn from_value(v: &Value) -> Option<Rule> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        let port = |k: &str| v.get(k).and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok());
        let peer = if let Some(c) = s("cidr") {
            Peer::Cidr(c)
        } else if let Some(c) = s("cidr_ipv6") {
            Peer::CidrV6(c)
        } else if let Some(p) = s("prefix_list") {
            Peer::PrefixList(p)
        } else {
            Peer::Group(s("source_group")?)
        };
        Some(Rule { protocol: s("protocol")?, from_port: port("from_port"), to_port: port("to_port"), peer })
    }

    /// The `IpPermission` that authorizes or revokes exactly this rule; `group_id` is the
    /// peer group's live id (required for a group peer).
    pub fn permission(&self, group_id: Option<&str>) -> IpPermission {
        let mut p =
            IpPermission::builder().ip_protocol(&self.protocol).set_from_port(self.from_port).set_to_port(self.to_port);
        p = match &self.peer {
            Peer::Cidr(c) => p.ip_ranges(IpRange::builder().cidr_ip(c).build()),
            Peer::CidrV6(c) => p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build()),
            Peer::PrefixList(l) => p.prefix_list_ids(PrefixListId::builder().prefix_list_id(l).build()),
            Peer::Group(g) => p.user_id_group_pairs(UserIdGroupPair::builder().group_id(group_id.unwrap_or(g)).build()),
        };
        p.build()
    }
}

/// A rule set as an attribute value: a sorted list.
pub fn to_value(rules: &[Rule]) -> Value {
    let sorted: BTreeSet<&Rule> = rules.iter().collect();
    Value::Array(sorted.into_iter().map(Rule::to_value).collect())
}

/// A rule set from an attribute value (absent or null: none).
pub fn parse(v: Option<&Value>) -> Vec<Rule> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Rule::from_value).collect()).unwrap_or_default()
}

/// AWS's permissions as single rules, sorted; `shown` turns a group id into what the plan
/// shows (its address, or the id itself).
pub fn from_permissions(perms: &[IpPermission], shown: impl Fn(&str) -> String) -> Vec<Rule> {
    let mut out = BTreeSet::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        // All traffic has no ports, whatever an API answer carries.
        let (from_port, to_port) = if protocol == "-1" { (None, None) } else { (p.from_port(), p.to_port()) };
        let rule = |peer| Rule { protocol: protocol.clone(), from_port, to_port, peer };
        out.extend(p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).map(|c| rule(Peer::Cidr(c.into()))));
        out.extend(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()).map(|c| rule(Peer::CidrV6(c.into()))));
        out.extend(
            p.prefix_list_ids().iter().filter_map(|r| r.prefix_list_id()).map(|l| rule(Peer::PrefixList(l.into()))),
        );
        out.extend(p.user_id_group_pairs().iter().filter_map(|g| g.group_id()).map(|g| rule(Peer::Group(shown(g)))));
    }
    out.into_iter().collect()
}

/// What to authorize and what to revoke to go from `before` to `after`.
pub fn diff(before: &[Rule], after: &[Rule]) -> (Vec<Rule>, Vec<Rule>) {
    let before: BTreeSet<&Rule> = before.iter().collect();
    let after: BTreeSet<&Rule> = after.iter().collect();
    let authorize = after.difference(&before).map(|r| (*r).clone()).collect();
    let revoke = before.difference(&after).map(|r| (*r).clone()).collect();
    (authorize, revoke)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(c: &str) -> Peer {
        Peer::Cidr(c.into())
    }
    fn group(g: &str) -> Peer {
        Peer::Group(g.into())
    }

    #[test]
    fn values_round_trip_and_are_sorted() {
        let rules = vec![
            Rule::tcp(8000, group("security_group.lb")),
            Rule::all(cidr("0.0.0.0/0")),
            Rule::tcp(80, cidr("0.0.0.0/0")),
        ];
        let v = to_value(&rules);
        assert_eq!(
            v,
            json!([
                {"protocol": "-1", "cidr": "0.0.0.0/0"},
                {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"},
                {"protocol": "tcp", "from_port": 8000, "to_port": 8000, "source_group": "security_group.lb"},
            ])
        );
        let mut back = parse(Some(&v));
        back.sort();
        let mut want = rules;
        want.sort();
        assert_eq!(back, want);
        assert!(parse(None).is_empty());
    }

    #[test]
    fn diff_authorizes_what_is_new_and_revokes_what_is_gone() {
        let keep = Rule::tcp(80, cidr("0.0.0.0/0"));
        let old = Rule::tcp(22, cidr("0.0.0.0/0"));
        let new = Rule::tcp(443, cidr("0.0.0.0/0"));
        let (authorize, revoke) = diff(&[keep.clone(), old.clone()], &[new.clone(), keep]);
        assert_eq!(authorize, vec![new]);
        assert_eq!(revoke, vec![old]);
        let (a, r) = diff(&[Rule::all(cidr("0.0.0.0/0"))], &[]);
        assert!(a.is_empty());
        assert_eq!(r, vec![Rule::all(cidr("0.0.0.0/0"))]);
    }

    #[test]
    fn permissions_split_into_rules_with_group_ids_shown_as_addresses() {
        let perm = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(8000)
            .to_port(8000)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/16").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-lb").user_id("123456789012").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-elsewhere").build())
            .build();
        // All traffic: ports dropped even when an answer has them.
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .from_port(-1)
            .to_port(-1)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let shown = |id: &str| if id == "sg-lb" { "security_group.lb".to_string() } else { id.to_string() };
        let rules = from_permissions(&[perm, all], shown);
        assert_eq!(
            to_value(&rules),
            json!([
                {"protocol": "-1", "cidr": "0.0.0.0/0"},
                {"protocol": "tcp", "from_port": 8000, "to_port": 8000, "cidr": "10.0.0.0/16"},
                {"protocol": "tcp", "from_port": 8000, "to_port": 8000, "source_group": "security_group.lb"},
                {"protocol": "tcp", "from_port": 8000, "to_port": 8000, "source_group": "sg-elsewhere"},
            ])
        );
    }

    #[test]
    fn a_permission_names_exactly_one_peer() {
        let p = Rule::tcp(8000, group("security_group.app")).permission(Some("sg-app"));
        assert_eq!(p.ip_protocol(), Some("tcp"));
        assert_eq!((p.from_port(), p.to_port()), (Some(8000), Some(8000)));
        assert_eq!(p.user_id_group_pairs()[0].group_id(), Some("sg-app"));
        assert!(p.ip_ranges().is_empty());
        let all = Rule::all(cidr("0.0.0.0/0")).permission(None);
        assert_eq!((all.ip_protocol(), all.from_port()), (Some("-1"), None));
        assert_eq!(all.ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));
    }
}
