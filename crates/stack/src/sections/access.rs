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
use crate::yaml::Kind;
use std::collections::BTreeMap;

const ROLE_KEYS: &[&str] =
    &["name", "description", "assumed_by", "instance_profile", "managed_policies", "grants", "statements"];
const GROUP_KEYS: &[&str] = &["name", "managed_policies", "grants", "statements"];
const GRANT_KEYS: &[&str] = &["bucket", "access", "prefix"];

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &mut Known) -> Access {
    let mut out = Access::default();
    let Some(entry) = top.entry("access") else { return out };
    let access = Map::open(cx, &entry.value, "access", entry.key.span, Some(&["roles", "groups"]));
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
        let r = Map::open(cx, &e.value, &all.child(logical), e.key.span, Some(ROLE_KEYS));
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
        r.need(cx, "assumed_by");
        let trust = trust(cx, &r);
        let instance_profile = r.boolean(cx, "instance_profile");
        if let (Val::Got(true, span), Some(t)) = (&instance_profile, &trust) {
            if *t != Trust::Service("ec2.amazonaws.com".into()) {
                let message = format!("role `{logical}` has an instance profile but EC2 cannot assume it");
                cx.error(*span, message, "set `assumed_by: ec2.amazonaws.com` for an instance profile");
            }
        }
        let instance_profile = instance_profile.or(false);
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
        let g = Map::open(cx, &e.value, &all.child(logical), e.key.span, Some(GROUP_KEYS));
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
            let m = Map::open(cx, node, &r.child("assumed_by"), r.key_span("assumed_by"), Some(&["account"]));
            if m.entry("account").is_none() {
                m.need(cx, "account");
                return None;
            }
            let account = m.sub(cx, "account", &["require_mfa"]);
            let mfa = account.boolean(cx, "require_mfa");
            (!matches!(mfa, Val::Bad)).then(|| Trust::Account { require_mfa: mfa.or(false) })
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
        let g = Map::open(cx, node, &format!("{}[{i}]", m.child("grants")), node.span, Some(GRANT_KEYS));
        if !matches!(node.kind, Kind::Map(_)) {
            continue;
        }
        g.need(cx, "bucket");
        g.need(cx, "access");
        let bucket = g.string(cx, "bucket");
        if let Val::Got(b, span) = &bucket {
            reference(cx, b, *span, "bucket", "buckets", &defined);
        }
        let access = match g.choice(cx, "access", &["read", "write", "read-write"]).get() {
            Some("write") => BucketAccess::Write,
            Some("read-write") => BucketAccess::ReadWrite,
            _ => BucketAccess::Read,
        };
        let prefix = prefix(cx, &g, "prefix", "", true);
        grants.push(Grant { bucket: bucket.or(String::new()), access, prefix });
    }
    Permissions { managed_policies: policies, grants, statements: statements::read(cx, m, "statements") }
}
