//! `domain:` – the app's name in a Route 53 hosted zone, served over HTTPS.
//!
//! `name` is the host name users type (`shop.example.com`); `zone: existing` is the
//! public hosted zone `existing.hosted_zone` finds (the name must lie in it: checked at
//! plan time, when the zone's name is known); `zone: {name: example.com}` is a public
//! hosted zone the stack creates and owns (the name must be it or lie in it: checked
//! here), kept by destroy unless `deletion_protection: false` (a deleted zone's name
//! servers are gone for good: the registrar's delegation breaks). The stack requests an ACM certificate for
//! the name with DNS validation, writes its validation record into the zone and waits
//! (`wait_timeout`, default 30 minutes) until ACM issues it; the load balancer then
//! listens with HTTPS on 443 and redirects port 80 to it, and an alias record points the
//! name at the load balancer. With `load_balancer.certificate_arn` set the stack uses
//! that certificate instead of requesting one.

use super::{requires, Known};
use crate::model::{Domain, DomainZone};
use crate::reader::{Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::yaml::Kind;

pub(crate) static SHAPE: Shape = Shape::new(
    "domain",
    "The app's name in a Route 53 hosted zone, served over HTTPS with a certificate the stack requests.",
    &[
        key("name", Ty::Str, "The host name users type (`shop.example.com`).").req(),
        key("zone", Ty::AnyOf(&[Ty::Word("existing"), Ty::Obj(&ZONE)]), "`existing` (the zone `existing.hosted_zone` finds) or `{name: example.com}`, a public zone the stack creates and owns.").req(),
        key("wait_timeout", Ty::Duration, "How long apply waits for ACM to issue the certificate.").str("30m"),
    ],
);

static ZONE: Shape = Shape::new(
    "owned_zone",
    "A public hosted zone the stack creates and owns.",
    &[
        key("name", Ty::Str, "The zone's domain name: `domain.name` or a domain it ends with.").req(),
        key(
            "deletion_protection",
            Ty::Bool,
            "Destroy keeps the zone (its name servers are gone for good once deleted).",
        )
        .bool(true),
    ],
);

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &Known) -> Option<Domain> {
    let entry = top.entry("domain")?;
    if !top.has("load_balancer") {
        requires(cx, top, "domain", "load_balancer", "the domain's name points at the load balancer");
    }
    let m = Map::shaped(cx, &entry.value, "domain", entry.key.span, &SHAPE);
    m.need_all(cx);
    let name = m.string(cx, "name");
    if let Val::Got(n, span) = &name {
        if let Some(problem) = host_name(n) {
            cx.error(*span, format!("`{n}` is not a host name: {problem}"), "expected a name like `shop.example.com`");
        }
    }
    let zone = zone(cx, &m, known, name.clone().get().as_deref());
    Some(Domain {
        name: name.or(String::new()).trim_end_matches('.').to_ascii_lowercase(),
        zone,
        wait_timeout_seconds: m.duration_or(cx, "wait_timeout"),
    })
}

/// `zone: existing` or `zone: {name, deletion_protection}`.
fn zone(cx: &mut Ctx, m: &Map, known: &Known, host: Option<&str>) -> DomainZone {
    let Some(node) = m.node("zone") else { return DomainZone::Existing };
    if matches!(node.kind, Kind::Map(_)) {
        let z = m.sub(cx, "zone", &ZONE);
        z.need_all(cx);
        let name = z.string(cx, "name");
        let deletion_protection = z.boolean_or(cx, "deletion_protection");
        let Val::Got(zone, span) = name else { return DomainZone::Owned { name: String::new(), deletion_protection } };
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        if let Some(problem) = host_name(&zone) {
            cx.error(span, format!("`{zone}` is not a domain name: {problem}"), "expected a name like `example.com`");
        } else if let Some(host) = host.map(|h| h.trim_end_matches('.').to_ascii_lowercase()) {
            if host != zone && !host.ends_with(&format!(".{zone}")) {
                cx.error(
                    span,
                    format!("`{host}` is not in the zone `{zone}`"),
                    format!("expected `{host}` or a domain it ends with"),
                );
            }
        }
        return DomainZone::Owned { name: zone, deletion_protection };
    }
    match m.string(cx, "zone") {
        Val::Got(z, span) if z == "existing" => {
            if !known.existing_hosted_zone {
                cx.error_help(
                    span,
                    "`zone: existing` needs `existing.hosted_zone`",
                    "no hosted zone is looked up",
                    "look the zone up under `existing:`, such as `hosted_zone: {name: example.com}`",
                );
            }
            DomainZone::Existing
        }
        Val::Got(z, span) => {
            cx.error(
                span,
                format!("invalid value `{z}` for `zone` in `domain`"),
                "expected `existing` (`existing.hosted_zone`) or the stack's own zone, `{name: example.com}`",
            );
            DomainZone::Existing
        }
        _ => DomainZone::Existing,
    }
}

/// Why `name` is no DNS host name ACM can issue for (at least two labels of letters,
/// digits and inner hyphens, 1-63 characters each, 253 in all), if it is not one.
fn host_name(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.');
    if name.len() > 253 {
        return Some(format!("it has {} characters, at most 253 are allowed", name.len()));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Some("it needs a domain, such as `shop.example.com`".into());
    }
    for label in labels {
        let ok = (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Some(format!("label `{label}` must be 1 to 63 letters, digits or inner hyphens"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const BASE: &str = "stack: s\nregion: ap-northeast-2\nexisting:\n  hosted_zone: {name: example.com}\nnetwork: {cidr: 10.0.0.0/16, availability_zones: [ap-northeast-2a, ap-northeast-2c], public_subnets: [10.0.0.0/24, 10.0.1.0/24]}\nfleet: {instance_type: t3.micro}\nload_balancer: {}\n";

    #[test]
    fn a_domain_in_an_existing_zone_makes_the_listener_https_on_443() {
        let s =
            crate::parse(Path::new("t.yaml"), &format!("{BASE}domain: {{name: Shop.Example.com, zone: existing}}\n"))
                .unwrap();
        let d = s.domain.unwrap();
        assert_eq!((d.name.as_str(), d.wait_timeout_seconds), ("shop.example.com", 1800));
        assert_eq!(s.load_balancer.unwrap().listen_port, 443);
    }

    #[test]
    fn a_bad_name_or_a_zone_not_looked_up_is_refused_at_its_line() {
        let text = format!("{BASE}domain: {{name: shop_1.example.com, zone: existing}}\n");
        let e = crate::parse(Path::new("t.yaml"), &text).unwrap_err();
        assert!(e.to_string().contains("label `shop_1` must be 1 to 63"), "{e}");
        let text = format!(
            "{}domain: {{name: shop.example.com, zone: existing}}\n",
            BASE.replace("existing:\n  hosted_zone: {name: example.com}\n", "")
        );
        let e = crate::parse(Path::new("t.yaml"), &text).unwrap_err();
        assert!(e.to_string().contains("`zone: existing` needs `existing.hosted_zone`"), "{e}");
        assert!(e.to_string().contains("t.yaml:6:"), "{e}");
    }

    #[test]
    fn an_owned_zone_is_protected_by_default_and_must_hold_the_name() {
        let owned = |zone: &str| format!("{BASE}domain:\n  name: shop.example.com\n  zone: {zone}\n");
        let s = crate::parse(Path::new("t.yaml"), &owned("{name: Example.com.}")).unwrap();
        let zone = s.domain.unwrap().zone;
        assert_eq!(zone, crate::DomainZone::Owned { name: "example.com".into(), deletion_protection: true });
        let s = crate::parse(Path::new("t.yaml"), &owned("{name: shop.example.com, deletion_protection: false}"));
        let zone = s.unwrap().domain.unwrap().zone;
        assert_eq!(zone, crate::DomainZone::Owned { name: "shop.example.com".into(), deletion_protection: false });
        let e = crate::parse(Path::new("t.yaml"), &owned("{name: example.org}")).unwrap_err().to_string();
        assert!(e.contains("`shop.example.com` is not in the zone `example.org`"), "{e}");
        assert!(e.contains("t.yaml:10:"), "{e}");
        let e = crate::parse(Path::new("t.yaml"), &owned("{nmae: example.com}")).unwrap_err().to_string();
        assert!(e.contains("nmae"), "{e}");
    }
}
