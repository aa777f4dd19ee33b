//! `existing:` – what the stack uses but never owns: a VPC and its subnets, a Route 53
//! hosted zone, an ACM certificate, a KMS key, an IAM role. Each is a lookup resolved at
//! plan time (`id`, `name`, or for the VPC and subnets `tags`, which a `name` narrows);
//! a lookup must match exactly one live resource. Nothing looked up is ever created,
//! updated or deleted: the plan lists what each resolved to, apart from its changes.
//!
//! What refers to them: `network: existing` (the VPC and subnets instead of new ones),
//! `domain.zone: existing` (the hosted zone), the load balancer's listener (the
//! certificate, unless `domain` requests one), `key_id: existing.kms_key` (a bucket's
//! SSE-KMS key, the database password's key), `fleet.instance_role: existing.role` (the
//! role, with its one instance profile).
//!
//! Here only the shape is checked; whether each matches exactly one is for the plan.

use crate::model::{Existing, Lookup};
use crate::reader::{string, Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::yaml::{Kind, Node};
use std::collections::BTreeMap;

/// A lookup: an id, or a mapping of `id`, `name` and (VPC and subnets) `tags`.
const ONE: Ty = Ty::AnyOf(&[Ty::Pattern("\\S"), Ty::Obj(&LOOKUP)]);

pub(crate) static SHAPE: Shape = Shape::new(
    "existing",
    "What the stack uses but never owns, each looked up at plan time: it must match exactly one live resource.",
    &[
        key("vpc", ONE, "A VPC: its id (`vpc-0abc...`), or `{name, tags}` (`name`: its `Name` tag)."),
        key(
            "public_subnets",
            Ty::List(&ONE),
            "Subnets of the VPC for the load balancer and fleet (`network: existing` needs 2 or more).",
        ),
        key("private_subnets", Ty::List(&ONE), "Subnets of the VPC for the database (none, or 2 or more)."),
        key("hosted_zone", ONE, "A Route 53 hosted zone: its id, or `{name: example.com}`."),
        key("certificate", ONE, "An ACM certificate: its ARN, or `{name: shop.example.com}` (its domain name)."),
        key("kms_key", ONE, "A KMS key: its id or ARN, or `{name: alias/shop}`."),
        key("role", ONE, "An IAM role with one instance profile: its ARN, or `{name: ...}`."),
    ],
);

static LOOKUP: Shape = Shape::new(
    "lookup",
    "A lookup: `id` alone, or `name` and (VPC and subnets only) `tags`.",
    &[
        key("id", Ty::Str, "The resource's id (or ARN)."),
        key(
            "name",
            Ty::Str,
            "The resource's name: the `Name` tag, a zone's or certificate's domain name, a key's alias, a role's name.",
        ),
        key("tags", Ty::MapOf(None, &Ty::Text), "Tags the VPC or subnet carries (VPC and subnets only)."),
    ],
);

/// What `name` means for each kind, for messages.
fn named_by(key: &str) -> &'static str {
    match key {
        "hosted_zone" => "the zone's domain name (`example.com`)",
        "certificate" => "the certificate's domain name (`shop.example.com`)",
        "kms_key" => "an alias (`alias/shop`)",
        "role" => "the role's name",
        _ => "the `Name` tag",
    }
}

pub(crate) fn read(cx: &mut Ctx, top: &Map) -> Option<Existing> {
    let entry = top.entry("existing")?;
    let m = Map::shaped(cx, &entry.value, "existing", entry.key.span, &SHAPE);
    let one = |cx: &mut Ctx, key: &str| m.node(key).and_then(|n| lookup(cx, n, &m.child(key), key));
    let mut existing = Existing {
        vpc: one(cx, "vpc"),
        hosted_zone: one(cx, "hosted_zone"),
        certificate: one(cx, "certificate"),
        kms_key: one(cx, "kms_key"),
        role: one(cx, "role"),
        ..Existing::default()
    };
    for key in ["public_subnets", "private_subnets"] {
        let items = m.seq(cx, key);
        let found: Vec<Lookup> =
            items.iter().enumerate().filter_map(|(i, n)| lookup(cx, n, &format!("existing.{key}[{i}]"), key)).collect();
        if !items.is_empty() && !m.has("vpc") {
            let message = format!("`existing.{key}` needs `existing.vpc`");
            cx.error(m.key_span(key), message, "subnets are looked up in the existing VPC");
        }
        if key == "public_subnets" {
            existing.public_subnets = found;
        } else {
            existing.private_subnets = found;
        }
    }
    Some(existing)
}

/// One lookup: a scalar is an id (`vpc-0abc…`, `Z0123…`, an ARN); a mapping holds `id`,
/// `name` and (VPC and subnets) `tags`.
fn lookup(cx: &mut Ctx, node: &Node, path: &str, key: &str) -> Option<Lookup> {
    if !matches!(node.kind, Kind::Map(_)) {
        let Val::Got(id, span) = string(cx, node, &format!("`{path}`")) else { return None };
        if id.trim().is_empty() {
            cx.error(span, format!("`{path}` is empty"), "expected an id, or a mapping with `id`, `name` or `tags`");
            return None;
        }
        return Some(Lookup { id: Some(id), ..Lookup::default() });
    }
    let m = Map::shaped(cx, node, path, node.span, &LOOKUP);
    let id = m.string(cx, "id").get();
    let name = m.string(cx, "name").get();
    let mut tags = BTreeMap::new();
    if let Some(entry) = m.entry("tags") {
        let t = Map::open(cx, &entry.value, &m.child("tags"), entry.key.span, None);
        for e in t.entries {
            if let Val::Got(v, _) = crate::reader::text(cx, &e.value, &t.what(&e.key.name)) {
                tags.insert(e.key.name.clone(), v);
            }
        }
        let ec2 = matches!(key, "vpc" | "public_subnets" | "private_subnets");
        if !ec2 {
            let message = format!("`{path}` cannot be looked up by tags");
            let label = format!("expected `id` or `name` ({})", named_by(key));
            cx.error(entry.key.span, message, label);
            return None;
        }
    }
    let given = [id.is_some(), name.is_some(), !tags.is_empty()].iter().filter(|g| **g).count();
    if given == 0 {
        let label = format!("expected `id`, or `name` ({})", named_by(key));
        cx.error(node.span, format!("`{path}` says nothing to look up"), label);
        return None;
    }
    if id.is_some() && given > 1 {
        let message = format!("`{path}` has an `id` and more");
        cx.error(m.key_span("id"), message, "an id matches one resource by itself: give `id` alone");
        return None;
    }
    Some(Lookup { id, name, tags })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const NET: &str = "stack: s\nregion: ap-northeast-2\nexisting:\n  vpc: {tags: {team: web}, name: shared}\n  public_subnets: [subnet-0a, {name: shared-public-b}]\n  private_subnets: [subnet-0c, subnet-0d]\n  hosted_zone: {name: example.com}\n  certificate: arn:aws:acm:ap-northeast-2:123456789012:certificate/x\n  kms_key: {name: alias/shop}\n  role: {name: ops}\nnetwork: existing\n";

    #[test]
    fn lookups_are_ids_names_or_tags_and_the_network_can_be_the_existing_one() {
        let s = crate::parse(Path::new("t.yaml"), NET).unwrap();
        let e = s.existing.as_ref().unwrap();
        let vpc = e.vpc.as_ref().unwrap();
        assert_eq!((vpc.name.as_deref(), vpc.tags["team"].as_str()), (Some("shared"), "web"));
        assert_eq!(e.public_subnets[0].id.as_deref(), Some("subnet-0a"));
        assert_eq!(e.public_subnets[1].name.as_deref(), Some("shared-public-b"));
        assert_eq!(e.private_subnets.len(), 2);
        assert_eq!(e.hosted_zone.as_ref().unwrap().name.as_deref(), Some("example.com"));
        assert_eq!(e.kms_key.as_ref().unwrap().name.as_deref(), Some("alias/shop"));
        let net = s.network.as_ref().unwrap();
        assert!(net.existing);
        assert_eq!(s.subnet_counts(), (2, 2));
    }

    #[test]
    fn a_lookup_that_cannot_match_exactly_one_by_its_shape_is_refused_at_its_line() {
        let bad = "stack: s\nregion: ap-northeast-2\nexisting:\n  vpc: {id: vpc-1, name: x}\n  hosted_zone: {tags: {a: b}}\n  role: {}\n  kms_key: ''\n  public_subnets: [subnet-1, subnet-2]\n";
        let e = crate::parse(Path::new("t.yaml"), bad).unwrap_err();
        let got: Vec<String> = e.items.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.message)).collect();
        assert_eq!(
            got,
            [
                "4:9 `existing.vpc` has an `id` and more",
                "5:17 `existing.hosted_zone` cannot be looked up by tags",
                "6:9 `existing.role` says nothing to look up",
                "7:12 `existing.kms_key` is empty",
            ],
            "{e}"
        );
        let no_vpc = "stack: s\nregion: ap-northeast-2\nexisting:\n  public_subnets: [subnet-1, subnet-2]\n";
        let e = crate::parse(Path::new("t.yaml"), no_vpc).unwrap_err();
        assert!(e.to_string().contains("`existing.public_subnets` needs `existing.vpc`"), "{e}");
    }

    #[test]
    fn network_existing_needs_the_vpc_and_two_public_subnets() {
        let text = "stack: s\nregion: ap-northeast-2\nexisting:\n  vpc: vpc-1\n  public_subnets: [subnet-1]\nnetwork: existing\n";
        let e = crate::parse(Path::new("t.yaml"), text).unwrap_err();
        assert!(
            e.to_string().contains("`network: existing` needs at least 2 subnets in `existing.public_subnets`"),
            "{e}"
        );
        let e = crate::parse(Path::new("t.yaml"), "stack: s\nregion: ap-northeast-2\nnetwork: existing\n").unwrap_err();
        assert!(e.to_string().contains("`network: existing` needs `existing.vpc`"), "{e}");
        let e = crate::parse(Path::new("t.yaml"), "stack: s\nregion: ap-northeast-2\nnetwork: mine\n").unwrap_err();
        assert!(e.to_string().contains("expected a mapping or `existing`"), "{e}");
    }

    #[test]
    fn the_fleet_takes_the_existing_role_only_when_it_is_looked_up() {
        let base = "stack: s\nregion: ap-northeast-2\nnetwork: {cidr: 10.0.0.0/16, availability_zones: [ap-northeast-2a, ap-northeast-2c], public_subnets: [10.0.0.0/24, 10.0.1.0/24]}\nfleet: {instance_type: t3.micro, instance_role: existing.role}\n";
        let s = crate::parse(Path::new("t.yaml"), &format!("{base}existing:\n  role: {{name: ops}}\n")).unwrap();
        assert_eq!(s.fleet.unwrap().instance_role.as_deref(), Some(crate::EXISTING_ROLE));
        let e = crate::parse(Path::new("t.yaml"), base).unwrap_err().to_string();
        assert!(e.contains("`existing.role` is not looked up"), "{e}");
        assert!(e.contains("t.yaml:4:"), "{e}");
    }
}
