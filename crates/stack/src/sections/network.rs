//! `network:` – one VPC, public subnets for the load balancer and fleet, private ones for
//! the database.
//!
//! The VPC and every subnet are /16 to /28 with host bits zero; subnets lie inside the VPC
//! and never overlap. There are at least two distinct availability zones of the stack's
//! region, exactly one public subnet per zone and zero or one private subnet per zone.

use super::{plural, Known};
use crate::cidr::{parse, CidrError};
use crate::diagnostic::Span;
use crate::model::{Cidr, Existing, Network};
use crate::reader::{string, Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::yaml::{Kind, Node};

/// An IPv4 CIDR block as written (its size and host bits are the reader's to check).
pub(crate) const CIDR: &str = "^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$";

pub(crate) static SHAPE: Shape = Shape::new(
    "network",
    "One VPC, public subnets for the load balancer and fleet, private ones for the database.",
    &[
        key("cidr", Ty::Pattern(CIDR), "The VPC's IPv4 block, /16 to /28, host bits zero (`10.0.0.0/16`).").req(),
        key(
            "availability_zones",
            Ty::List(&Ty::Str),
            "At least 2 distinct availability zones of the stack's region (`ap-northeast-2a`).",
        )
        .req(),
        key(
            "public_subnets",
            Ty::List(&Ty::Pattern(CIDR)),
            "Exactly one subnet per availability zone, inside `cidr`, no overlaps.",
        )
        .req(),
        key(
            "private_subnets",
            Ty::List(&Ty::Pattern(CIDR)),
            "None or one subnet per availability zone, inside `cidr`, no overlaps; required with `database`.",
        ),
    ],
);

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &mut Known, existing: Option<&Existing>) -> Option<Network> {
    let entry = top.entry("network")?;
    if let Kind::Str(word) = &entry.value.kind {
        return in_existing(cx, word, entry.value.span, known, existing);
    }
    let m = Map::shaped(cx, &entry.value, "network", entry.key.span, &SHAPE);
    m.need_all(cx);
    let vpc = match m.string(cx, "cidr") {
        Val::Got(text, span) => block(cx, &text, span, &m.what("cidr"), "a VPC"),
        _ => None,
    };
    let zones = zones(cx, &m, &known.region);
    let mut seen: Vec<(Cidr, String)> = Vec::new();
    let public = subnets(cx, &m, "public_subnets", vpc, &mut seen);
    let private = subnets(cx, &m, "private_subnets", vpc, &mut seen);
    if let Some(zones) = zones.as_ref().filter(|z| z.len() >= 2) {
        let n = zones.len();
        for (key, optional) in [("public_subnets", false), ("private_subnets", true)] {
            let Some(node) = m.node(key) else { continue };
            let Kind::Seq(items) = &node.kind else { continue };
            let count = items.len();
            if count != n && !(optional && count == 0) {
                let message = format!("`network.{key}` has {count} subnet{} for {n} availability zones", plural(count));
                let label = if optional {
                    "expected none or one per availability zone"
                } else {
                    "expected one per availability zone"
                };
                cx.error(node.span, message, label);
            }
        }
    }
    known.subnets = Some((public.len(), private.len()));
    Some(Network {
        existing: false,
        cidr: vpc.unwrap_or(Cidr { addr: 0, prefix: 0 }),
        availability_zones: zones.unwrap_or_default(),
        public_subnets: public,
        private_subnets: private,
    })
}

/// `network: existing`: the VPC and subnets of `existing:`, at least two public ones (a
/// load balancer spans two zones) and none or at least two private ones (so does a
/// database subnet group).
fn in_existing(cx: &mut Ctx, word: &str, span: Span, known: &mut Known, e: Option<&Existing>) -> Option<Network> {
    if word != "existing" {
        let message = format!("invalid value `{word}` for `network`");
        cx.error(span, message, "expected a mapping or `existing` (the VPC and subnets of `existing:`)");
        return None;
    }
    let Some(e) = e.filter(|e| e.vpc.is_some()) else {
        cx.error_help(
            span,
            "`network: existing` needs `existing.vpc`",
            "no existing VPC",
            "look the VPC and its subnets up under `existing:` (`vpc`, `public_subnets`, `private_subnets`)",
        );
        return None;
    };
    for (key, n, optional) in
        [("public_subnets", e.public_subnets.len(), false), ("private_subnets", e.private_subnets.len(), true)]
    {
        if n < 2 && !(optional && n == 0) {
            let message = format!("`network: existing` needs at least 2 subnets in `existing.{key}`, found {n}");
            cx.error(span, message, "subnets in two availability zones are needed");
        }
    }
    known.subnets = Some((e.public_subnets.len(), e.private_subnets.len()));
    Some(Network {
        existing: true,
        cidr: Cidr { addr: 0, prefix: 0 },
        availability_zones: Vec::new(),
        public_subnets: Vec::new(),
        private_subnets: Vec::new(),
    })
}

/// Parses one block and checks its size; `kind` is "a VPC" or "a subnet".
fn block(cx: &mut Ctx, text: &str, span: Span, what: &str, kind: &str) -> Option<Cidr> {
    match parse(text) {
        Ok(c) if (16..=28).contains(&c.prefix) => Some(c),
        Ok(c) => {
            let message = format!("bad CIDR `{text}` for {what}: a /{} block is outside /16 to /28", c.prefix);
            cx.error(span, message, format!("AWS allows /16 to /28 for {kind}"));
            None
        }
        Err(CidrError::Syntax) => {
            cx.error(span, format!("bad CIDR `{text}` for {what}"), "expected an IPv4 block like `10.0.0.0/16`");
            None
        }
        Err(CidrError::HostBits(fixed)) => {
            cx.error(
                span,
                format!("bad CIDR `{text}` for {what}: host bits are set"),
                format!("did you mean `{fixed}`?"),
            );
            None
        }
    }
}

fn zones(cx: &mut Ctx, m: &Map, region: &str) -> Option<Vec<String>> {
    let node = m.node("availability_zones")?;
    let items = m.seq(cx, "availability_zones");
    let mut zones: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let Val::Got(zone, span) = string(cx, item, &format!("`availability_zones[{i}]` in `network`")) else {
            ok = false;
            continue;
        };
        let in_region = zone.len() > region.len() && zone.starts_with(region);
        if !in_region && crate::names::is_region(region) {
            cx.error(
                span,
                format!("availability zone `{zone}` is not in region `{region}`"),
                format!("expected a zone like `{region}a`"),
            );
        } else if zones.contains(&zone) {
            cx.error(span, format!("availability zone `{zone}` is listed twice"), "zones must be distinct");
        }
        zones.push(zone);
    }
    if items.len() < 2 && matches!(node.kind, Kind::Seq(_)) {
        let message = format!(
            "`network.availability_zones` lists {} zone{}; at least 2 are needed",
            items.len(),
            plural(items.len())
        );
        cx.error(node.span, message, "a load balancer and a database subnet group span two zones");
    }
    ok.then_some(zones)
}

/// Reads a subnet list; checks each against the VPC and the subnets `seen` so far.
fn subnets(cx: &mut Ctx, m: &Map, key: &str, vpc: Option<Cidr>, seen: &mut Vec<(Cidr, String)>) -> Vec<Cidr> {
    let items: &[Node] = m.seq(cx, key);
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = format!("{key}[{i}]");
        let Val::Got(text, span) = string(cx, item, &format!("`{name}` in `network`")) else { continue };
        let Some(subnet) = block(cx, &text, span, &format!("`{name}` in `network`"), "a subnet") else { continue };
        if let Some(vpc) = vpc.filter(|v| !v.contains(&subnet)) {
            cx.error(span, format!("subnet `{subnet}` is outside the network's `{vpc}`"), "not inside `network.cidr`");
        } else if let Some((other, other_name)) = seen.iter().find(|(c, _)| c.overlaps(&subnet)) {
            cx.error(span, format!("subnet `{subnet}` overlaps subnet `{other}`"), format!("overlaps `{other_name}`"));
        }
        seen.push((subnet, name));
        out.push(subnet);
    }
    out
}
