//! `access:` – IAM roles and groups, and what they may do.
//!
//! A role is assumed by a service (`ec2.amazonaws.com`) or by the account's own principals
//! (optionally only with MFA); with `instance_profile: true` EC2 instances can wear it.
//! Roles and groups get AWS-managed policies (bare names become AWS-managed ARNs), grants on
//! the stack's own buckets, and raw statements. Physical names default to
//! `<stack>-<logical>`, follow IAM's rules and may not collide.

use super::{collisions, logical_key, prefix, reference, statements, Known};
use crate::model::{Access, BucketAccess, Grant, Group, Permissions, Role, Trust};
use crate::names::{iam_name, is_policy_arn};
use crate::reader::{describe, string, Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::yaml::Kind;
use std::collections::BTreeMap;

pub(crate) static SHAPE: Shape = Shape::new(
    "access",
    "IAM roles and groups, and what they may do.",
    &[
        key("roles", Ty::MapOf(Some(super::LOGICAL_NAME), &Ty::Obj(&ROLE)), "Logical name to IAM role."),
        key("groups", Ty::MapOf(Some(super::LOGICAL_NAME), &Ty::Obj(&GROUP)), "Logical name to IAM group."),
    ],
);

const MANAGED_POLICIES: &str =
    "AWS-managed policies: bare names become `arn:aws:iam::aws:policy/<name>`; `arn:aws:iam::` ARNs are kept.";
const GRANTS: &str = "Access to the stack's own buckets.";
const STATEMENTS: &str = "Raw IAM statements.";

static ROLE: Shape = Shape::new(
    "role",
    "An IAM role.",
    &[
        key("name", Ty::Str, "The IAM name, `<stack>-<logical>` by default: up to 64 of `A-Za-z0-9+=,.@_-`, unique."),
        key("description", Ty::Text, "At most 1000 characters."),
        key(
            "assumed_by",
            Ty::AnyOf(&[Ty::Pattern("^[a-z0-9.-]+\\.amazonaws\\.com$"), Ty::Word("account"), Ty::Obj(&ASSUMED_BY)]),
            "A service principal (`ec2.amazonaws.com`), `account`, or `{account: {require_mfa: true}}`.",
        )
        .req(),
        key("instance_profile", Ty::Bool, "EC2 instances can wear the role; needs `assumed_by: ec2.amazonaws.com`.")
            .bool(false),
        key("managed_policies", Ty::List(&Ty::Str), MANAGED_POLICIES),
        key("grants", Ty::List(&Ty::Obj(&GRANT)), GRANTS),
        key("statements", Ty::List(&Ty::Obj(&super::statements::STATEMENT)), STATEMENTS),
    ],
);

static GROUP: Shape = Shape::new(
    "group",
    "An IAM group.",
    &[
        key("name", Ty::Str, "The IAM name, `<stack>-<logical>` by default: up to 128 of `A-Za-z0-9+=,.@_-`, unique."),
        key("managed_policies", Ty::List(&Ty::Str), MANAGED_POLICIES),
        key("grants", Ty::List(&Ty::Obj(&GRANT)), GRANTS),
        key("statements", Ty::List(&Ty::Obj(&super::statements::STATEMENT)), STATEMENTS),
    ],
);

static GRANT: Shape = Shape::new(
    "grant",
    "Access to one of the stack's buckets.",
    &[
        key("bucket", Ty::Str, "A `buckets` entry.").req(),
        key("access", Ty::Enum(&["read", "write", "read-write"]), "What the role or group may do with it.").req(),
        key("prefix", Ty::Text, "Only keys under this prefix; no leading `/`.").str(""),
    ],
);

static ASSUMED_BY: Shape = Shape::new(
    "assumed_by_account",
    "The account's own principals.",
    &[key("account", Ty::Obj(&ACCOUNT), "Principals of the stack's account.").req()],
);

static ACCOUNT: Shape = Shape::new(
    "assumed_by_account_options",
    "How the account's principals assume the role.",
    &[key("require_mfa", Ty::Bool, "Only with MFA.").bool(false)],
);

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &mut Known) -> Access {
    let mut out = Access::default();
    let Some(entry) = top.entry("access") else { return out };
    let access = Map::shaped(cx, &entry.value, "access", entry.key.span, &SHAPE);
    let all = access.sub_any(cx, "roles");
    let mut resolved = Vec::new();
    for e in all.entries {
        let logical = &e.key.name;
        if out.roles.contains_key(logical) {
            continue;
        }
        logical_key(cx, logical, e.key.span, "role");
        if crate::model::RESERVED_ROLES.contains(&logical.as_str()) {
            cx.error(
                e.key.span,
                format!("role name `{logical}` is the stack's own"),
                "bumarket-infra makes this role to deliver logs to S3; choose another name",
            );
        }
        let r = Map::shaped(cx, &e.value, &all.child(logical), e.key.span, &ROLE);
        let name = physical_name(cx, &r, logical, known, 64, &mut resolved);
        let description = r.text(cx, "description");
        if let Val::Got(d, span) = &description {
            if d.chars().count() > 1000 {
                cx.error(
                    *span,
                    format!("description of role `{logical}` is longer than 1000 characters"),
                    "too long for IAM",
                );
            }
        }
        r.need_all(cx);
        let trust = trust(cx, &r);
        let instance_profile = r.boolean(cx, "instance_profile");
        if let (Val::Got(true, span), Some(t)) = (&instance_profile, &trust) {
            if *t != Trust::Service("ec2.amazonaws.com".into()) {
                let message = format!("role `{logical}` has an instance profile but EC2 cannot assume it");
                cx.error(*span, message, "set `assumed_by: ec2.amazonaws.com` for an instance profile");
            }
        }
        let instance_profile = instance_profile.or(crate::shape::default_bool(&ROLE, "instance_profile"));
        known.roles.insert(logical.clone(), instance_profile);
        let role = Role {
            name,
            description: description.get(),
            assumed_by: trust.unwrap_or(Trust::Account { require_mfa: true }),
            instance_profile,
            permissions: permissions(cx, &r, known),
        };
        out.roles.insert(logical.clone(), role);
    }
    collisions(cx, "role", &resolved);
    let all = access.sub_any(cx, "groups");
    let mut resolved = Vec::new();
    let mut groups = BTreeMap::new();
    for e in all.entries {
        let logical = &e.key.name;
        if groups.contains_key(logical) {
            continue;
        }
        logical_key(cx, logical, e.key.span, "group");
        let g = Map::shaped(cx, &e.value, &all.child(logical), e.key.span, &GROUP);
        let name = physical_name(cx, &g, logical, known, 128, &mut resolved);
        known.groups.push(logical.clone());
        groups.insert(logical.clone(), Group { name, permissions: permissions(cx, &g, known) });
    }
    collisions(cx, "group", &resolved);
    out.groups = groups;
    out
}

/// `name:` or `<stack>-<logical>`, checked against IAM's rules; recorded for collisions.
fn physical_name(
    cx: &mut Ctx,
    m: &Map,
    logical: &str,
    known: &Known,
    max: usize,
    resolved: &mut Vec<(String, String, crate::diagnostic::Span)>,
) -> Option<String> {
    let name = m.string(cx, "name");
    let (physical, span) = match &name {
        Val::Got(n, span) => (n.clone(), *span),
        Val::Absent => (format!("{}-{logical}", known.stack), m.holder),
        Val::Bad => return None,
    };
    let defaulted = matches!(name, Val::Absent);
    if !defaulted || crate::names::stack_name(&known.stack).is_empty() {
        for p in iam_name(&physical, max) {
            let label =
                if defaulted { "the default name `<stack>-<logical>`; set `name:`" } else { "invalid IAM name" };
            cx.error(span, format!("IAM name `{physical}` {p}"), label);
        }
        resolved.push((logical.to_string(), physical, span));
    }
    name.get()
}

fn trust(cx: &mut Ctx, r: &Map) -> Option<Trust> {
    let node = r.node("assumed_by")?;
    let what = r.what("assumed_by");
    match &node.kind {
        Kind::Str(s) if s == "account" => Some(Trust::Account { require_mfa: false }),
        Kind::Str(s)
            if s.ends_with(".amazonaws.com")
                && s.len() > 14
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-') =>
        {
            Some(Trust::Service(s.clone()))
        }
        Kind::Str(s) => {
            cx.error(
                node.span,
                format!("invalid value `{s}` for {what}"),
                "expected a service principal like `ec2.amazonaws.com`, or `account`",
            );
            None
        }
        Kind::Map(_) => {
            let m = Map::shaped(cx, node, &r.child("assumed_by"), r.key_span("assumed_by"), &ASSUMED_BY);
            if m.entry("account").is_none() {
                m.need(cx, "account");
                return None;
            }
            let account = m.sub(cx, "account", &ACCOUNT);
            let mfa = account.boolean(cx, "require_mfa");
            let default = crate::shape::default_bool(&ACCOUNT, "require_mfa");
            (!matches!(mfa, Val::Bad)).then(|| Trust::Account { require_mfa: mfa.or(default) })
        }
        _ => {
            let message = format!("wrong type for {what}: expected a service principal, `account` or `{{account: {{require_mfa: true}}}}`, found {}", describe(node));
            cx.error(node.span, message, "expected a principal");
            None
        }
    }
}

fn permissions(cx: &mut Ctx, m: &Map, known: &Known) -> Permissions {
    let mut policies: Vec<String> = Vec::new();
    for (i, node) in m.seq(cx, "managed_policies").iter().enumerate() {
        let what = format!("`managed_policies[{i}]` in `{}`", m.path);
        let Val::Got(p, span) = string(cx, node, &what) else { continue };
        let arn = if p.starts_with("arn:") {
            if !is_policy_arn(&p) {
                cx.error(
                    span,
                    format!("`{p}` is not an IAM policy ARN"),
                    "expected `arn:aws:iam::aws:policy/<name>` or a bare AWS-managed policy name",
                );
            }
            p.clone()
        } else {
            let ok = !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
            if !ok {
                cx.error(
                    span,
                    format!("`{p}` is not a managed policy name"),
                    "expected a name like `ReadOnlyAccess` or a policy ARN",
                );
            }
            format!("arn:aws:iam::aws:policy/{p}")
        };
        if policies.contains(&arn) {
            cx.error(span, format!("policy `{p}` is listed twice in `{}`", m.path), "duplicate policy");
        }
        policies.push(arn);
    }
    let defined: Vec<&str> = known.buckets.keys().map(String::as_str).collect();
    let mut grants = Vec::new();
    for (i, node) in m.seq(cx, "grants").iter().enumerate() {
        let g = Map::shaped(cx, node, &format!("{}[{i}]", m.child("grants")), node.span, &GRANT);
        if !matches!(node.kind, Kind::Map(_)) {
            continue;
        }
        g.need_all(cx);
        let bucket = g.string(cx, "bucket");
        if let Val::Got(b, span) = &bucket {
            reference(cx, b, *span, "bucket", "buckets", &defined);
        }
        let access = match g.choice(cx, "access").get() {
            Some("write") => BucketAccess::Write,
            Some("read-write") => BucketAccess::ReadWrite,
            _ => BucketAccess::Read,
        };
        let prefix = prefix(cx, &g, "prefix", true);
        grants.push(Grant { bucket: bucket.or(String::new()), access, prefix });
    }
    Permissions { managed_policies: policies, grants, statements: statements::read(cx, m, "statements") }
}
