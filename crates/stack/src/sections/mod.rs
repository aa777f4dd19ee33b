//! The stack file's sections, read in dependency order into a [`Stack`].
//!
//! Top-level keys come first (`stack`, `region`, `tags`); then the sections other sections
//! refer to (`buckets`, `access`, `network`), then the ones that refer (`fleet`,
//! `load_balancer`, `database`, `monitoring`, `cloud9`). What a later section may refer to
//! is gathered in [`Known`]; every reference error points at the referencing value.

mod access;
mod adopt;
mod buckets;
mod cloud9;
mod database;
mod domain;
mod engines;
mod existing;
mod fleet;
mod lifecycle;
mod load_balancer;
mod monitoring;
mod network;
mod statements;
mod top;

use crate::diagnostic::Span;
use crate::model::{Encryption, Loosenable, Source, Stack};
use crate::reader::{Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::suggest::{closest, list};
use crate::values::describe;
use crate::yaml::{Kind, Node};
use std::collections::BTreeMap;

/// A stack name: 1-24 characters of a-z, 0-9 and `-`, a letter first, no trailing `-`.
pub(crate) const STACK_NAME: &str = "^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$";
/// A logical name (buckets, roles, groups, environments): 1-20 characters of a-z, 0-9 and `-`.
pub(crate) const LOGICAL_NAME: &str = "^[a-z0-9-]{1,20}$";

/// The whole file: its top-level keys.
pub(crate) static TOP: Shape = Shape::new(
    "stack_file",
    "A bumarket-infra stack file: one YAML file for a whole AWS stack. Every section is optional except `stack` and `region`; the reference is docs/stack-file.md.",
    &[
        key("stack", Ty::Pattern(STACK_NAME), "The stack's name, part of every physical name: 1-24 characters of a-z, 0-9 and `-`, a letter first, no trailing `-`.").req(),
        key("region", Ty::Pattern("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"), "The AWS region the whole stack lives in, like `ap-northeast-2`.").req(),
        key("tags", Ty::MapOf(Some("^.{1,128}$"), &Ty::Text), "Tags added to every taggable resource: keys 1-128 characters, values at most 256 (kept as written); keys starting with `aws:` or `bumarket-infra:` are reserved."),
        key("network", Ty::AnyOf(&[Ty::Obj(&network::SHAPE), Ty::Word("existing")]), "One VPC with public subnets (load balancer, fleet) and private ones (database); or `existing`: the VPC and subnets `existing:` looks up."),
        key("fleet", Ty::Obj(&fleet::SHAPE), "The launch template and Auto Scaling group that run the app (needs `network`)."),
        key("load_balancer", Ty::Obj(&load_balancer::SHAPE), "An application load balancer in front of the fleet (needs `network` and `fleet`)."),
        key("database", Ty::Obj(&database::SHAPE), "One RDS instance in the network's private subnets (needs `network.private_subnets`)."),
        key("buckets", Ty::MapOf(Some(LOGICAL_NAME), &Ty::Obj(&buckets::SHAPE)), "Logical name (1-20 characters of a-z, 0-9 and `-`) to S3 bucket, secure by default."),
        key("monitoring", Ty::Obj(&monitoring::SHAPE), "CloudWatch alarms that mail the team, a dashboard, log retention, logs delivered to a bucket."),
        key("access", Ty::Obj(&access::SHAPE), "IAM roles and groups, and what they may do."),
        key("cloud9", Ty::Obj(&cloud9::SHAPE), "An optional Cloud9 EC2 environment for the team, in a public subnet (needs `network`)."),
        key("adopt", Ty::MapOf(Some(adopt::ADDRESS), &Ty::AnyOf(&[Ty::Text, Ty::Obj(&adopt::ENTRY)])), "Resources made outside bumarket-infra that the stack takes over in place: address as `plan` writes it (`bucket.images`) to the live resource's id or name, or to `{id, name, description, replace}`."),
        key("existing", Ty::Obj(&existing::SHAPE), "What the stack uses but never owns, looked up at plan time: a VPC and subnets, a hosted zone, a certificate, a KMS key, an IAM role."),
        key("domain", Ty::Obj(&domain::SHAPE), "The app's name in a Route 53 hosted zone, served over HTTPS (needs `load_balancer`)."),
        key("environments", Ty::Environments(&crate::environments::OWN), "Copies of the stack (staging, production) from this one file: environment name (1-20 characters of a-z, 0-9 and `-`) to its account, its requirements and overrides of the top-level sections."),
    ],
);

/// `public_access: {blocked: false, reason: ...}`.
pub(crate) static BLOCKED: Shape = Shape::new(
    "public_access_loosened",
    "Public access, loosened only with a stated reason.",
    &[
        key("blocked", Ty::Bool, "`false` lets the bucket's policy or ACLs make objects public; needs `reason`.").req(),
        key("reason", Ty::Text, "Why the secure default is turned off."),
    ],
);

/// `require_tls` / `require_imdsv2: {enabled: false, reason: ...}`.
pub(crate) static ENABLED: Shape = Shape::new(
    "loosened",
    "A secure default, turned off only with a stated reason.",
    &[
        key("enabled", Ty::Bool, "`false` turns the secure default off; needs `reason`.").req(),
        key("reason", Ty::Text, "Why the secure default is turned off."),
    ],
);

/// What later sections may refer to, gathered from earlier ones.
#[derive(Default)]
pub(crate) struct Known {
    pub stack: String,
    pub region: String,
    /// Logical bucket name → its encryption (when it was read without error).
    pub buckets: BTreeMap<String, Option<Encryption>>,
    /// Logical role name → whether it has an instance profile.
    pub roles: BTreeMap<String, bool>,
    pub groups: Vec<String>,
    /// Counts of (public, private) subnets when `network:` is present.
    pub subnets: Option<(usize, usize)>,
    pub has_fleet: bool,
    /// `existing.certificate` is looked up.
    pub existing_certificate: bool,
    /// `existing.kms_key` is looked up.
    pub existing_kms_key: bool,
    /// `existing.hosted_zone` is looked up.
    pub existing_hosted_zone: bool,
    /// `existing.role` is looked up.
    pub existing_role: bool,
    /// The file has `domain:` (the listener then speaks HTTPS).
    pub has_domain: bool,
    pub has_database: bool,
}

/// Reads the whole file.
pub(crate) fn read_stack(cx: &mut Ctx, root: &Node, source: Source) -> Stack {
    let holder = Span::new(1, 1, 1);
    let top = Map::shaped(cx, root, "", holder, &TOP);
    let mut known = Known::default();
    if !matches!(root.kind, Kind::Map(_) | Kind::Null) {
        // Reported by `Map::open`; nothing else in the file can be read.
        return Stack {
            name: String::new(),
            region: String::new(),
            tags: BTreeMap::new(),
            network: None,
            fleet: None,
            load_balancer: None,
            database: None,
            buckets: BTreeMap::new(),
            monitoring: None,
            access: Default::default(),
            cloud9: None,
            existing: None,
            domain: None,
            adopt: BTreeMap::new(),
            source,
            environment: None,
        };
    }
    let (stack, region) = top::name_and_region(cx, &top);
    known.stack = stack;
    known.region = region;
    known.has_fleet = top.has("fleet");
    known.has_database = top.has("database");
    let tags = top::tags(cx, &top);
    let existing = existing::read(cx, &top);
    known.existing_certificate = existing.as_ref().is_some_and(|e| e.certificate.is_some());
    known.existing_kms_key = existing.as_ref().is_some_and(|e| e.kms_key.is_some());
    known.existing_hosted_zone = existing.as_ref().is_some_and(|e| e.hosted_zone.is_some());
    known.existing_role = existing.as_ref().is_some_and(|e| e.role.is_some());
    known.has_domain = top.has("domain");
    let buckets = buckets::read(cx, &top, &mut known);
    let access = access::read(cx, &top, &mut known);
    let network = network::read(cx, &top, &mut known, existing.as_ref());
    let fleet = fleet::read(cx, &top, &known);
    let load_balancer = load_balancer::read(cx, &top, &known);
    let database = database::read(cx, &top, &known);
    let monitoring = monitoring::read(cx, &top, &known);
    let cloud9 = cloud9::read(cx, &top, &known);
    let domain = domain::read(cx, &top, &known);
    let adopt = adopt::read(cx, &top);
    Stack {
        name: known.stack,
        region: known.region,
        tags,
        network,
        fleet,
        load_balancer,
        database,
        buckets,
        monitoring,
        access,
        cloud9,
        existing,
        domain,
        adopt,
        source,
        environment: None,
    }
}

/// Reports `existing.<key>` named where it is not looked up (`looked_up` false).
pub(crate) fn existing_ref(cx: &mut Ctx, value: &crate::reader::Val<String>, key: &str, looked_up: bool) {
    if let crate::reader::Val::Got(v, span) = value {
        if *v == format!("existing.{key}") && !looked_up {
            cx.error(*span, format!("`existing.{key}` is not looked up"), format!("add `{key}:` under `existing:`"));
        }
    }
}

/// Reports a section present without a section it builds on (pointing at its key).
pub(crate) fn requires(cx: &mut Ctx, top: &Map, section: &str, needed: &str, why: &str) {
    let span = top.key_span(section);
    cx.error_help(
        span,
        format!("`{section}` requires a `{needed}` section"),
        format!("`{needed}` is missing"),
        why.to_string(),
    );
}

/// "s" unless there is exactly one.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Checks that `value` names one of `defined` (a `kind` like "bucket"); true when it does.
pub(crate) fn reference(cx: &mut Ctx, value: &str, span: Span, kind: &str, section: &str, defined: &[&str]) -> bool {
    if defined.contains(&value) {
        return true;
    }
    let message = format!("unknown {kind} `{value}`");
    let defines = if defined.is_empty() {
        format!("the stack defines no {kind}s; add one under `{section}:`")
    } else {
        format!("the stack defines {}", list(defined.iter().copied()))
    };
    match closest(value, defined.iter().copied()) {
        Some(best) => cx.error_help(span, message, format!("did you mean `{best}`?"), defines),
        None => cx.error(span, message, defines),
    }
    false
}

/// Checks a logical name (bucket, role, group key) and reports physical-name collisions.
pub(crate) fn logical_key(cx: &mut Ctx, name: &str, span: Span, kind: &str) {
    if let Some(problem) = crate::names::logical_name(name) {
        cx.error(span, format!("logical {kind} name `{name}` {problem}"), "invalid logical name");
    }
}

/// Reports the second of two entries that resolve to the same physical name.
pub(crate) fn collisions(cx: &mut Ctx, kind: &str, resolved: &[(String, String, Span)]) {
    for (i, (logical, physical, span)) in resolved.iter().enumerate() {
        if let Some((first, ..)) = resolved[..i].iter().find(|(_, p, _)| p == physical) {
            cx.error(
                *span,
                format!("{kind} `{logical}` has the same name as {kind} `{first}`: `{physical}`"),
                "names must be unique",
            );
        }
    }
}

/// A key prefix as used in grants, log destinations and lifecycle rules: no leading `/`.
pub(crate) fn prefix(cx: &mut Ctx, map: &Map, key: &str, trailing_slash_ok: bool) -> String {
    let default = crate::shape::default_str(map.decl(), key);
    let value = map.text(cx, key);
    if let Val::Got(p, span) = &value {
        if p.starts_with('/') || (!trailing_slash_ok && p.ends_with('/')) {
            let rule = if trailing_slash_ok { "must not start with `/`" } else { "must not start or end with `/`" };
            cx.error(*span, format!("prefix `{p}` in `{}` {rule}", map.path), "S3 keys have no leading slash");
        }
    }
    value.or(default.to_string())
}

/// `encrypted:` (default true); `false` needs an `unencrypted_reason` in the same mapping.
pub(crate) fn encrypted(cx: &mut Ctx, m: &Map) -> bool {
    let flag = m.boolean(cx, "encrypted");
    let default = crate::shape::default_bool(m.decl(), "encrypted");
    let reason = m.text(cx, "unencrypted_reason").get().filter(|r| !r.trim().is_empty());
    if let (Val::Got(false, span), None) = (&flag, reason) {
        let message = format!("`encrypted: false` in `{}` needs a reason", m.path);
        let help = format!("add `unencrypted_reason: \"...\"` to `{}`", m.path);
        cx.error_help(*span, message, "a reason is required", help);
    }
    flag.or(default)
}

/// A secure default the file may turn off only with a reason: `public_access` (word
/// `blocked`, shape [`BLOCKED`]), `require_tls` or `require_imdsv2` (word `true`, shape [`ENABLED`]).
pub(crate) fn loosenable(cx: &mut Ctx, b: &Map, key: &str, shape: &'static Shape) -> Loosenable {
    let flag = shape.fields[0].name;
    let Some(node) = b.node(key) else { return Loosenable::On };
    let what = b.what(key);
    let loosen = format!("`{key}: {{{flag}: false, reason: \"...\"}}`");
    match (&node.kind, flag) {
        (Kind::Str(s), "blocked") if s == "blocked" => Loosenable::On,
        (Kind::Bool(true), "enabled") => Loosenable::On,
        (Kind::Bool(false), _) => {
            let message = format!("turning off {what} needs a reason");
            cx.error_help(node.span, message, "a reason is required", format!("write {loosen}"));
            Loosenable::On
        }
        (Kind::Map(_), _) => {
            let m = Map::shaped(cx, node, &b.child(key), b.key_span(key), shape);
            m.need(cx, flag);
            let on = m.boolean(cx, flag);
            let reason = m.text(cx, "reason").get().filter(|r| !r.trim().is_empty());
            match (on, reason) {
                (Val::Got(false, _), Some(reason)) => Loosenable::Off { reason },
                (Val::Got(false, span), None) => {
                    let message = format!("`{flag}: false` in `{}` needs a reason", m.path);
                    cx.error_help(
                        span,
                        message,
                        "a reason is required",
                        format!("add `reason: \"...\"` next to `{flag}: false`"),
                    );
                    Loosenable::On
                }
                _ => Loosenable::On,
            }
        }
        _ => {
            let secure = if flag == "blocked" { "`blocked`" } else { "`true`" };
            let message = format!("wrong type for {what}: expected {secure} or {loosen}, found {}", describe(node));
            cx.error(node.span, message, format!("expected {secure}"));
            Loosenable::On
        }
    }
}
