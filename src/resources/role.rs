//! `role.<name>`: an IAM role under the stack's path, with its trust policy, one inline
//! policy (bucket grants and raw statements) and attached managed policies.
//!
//! Beside the file's roles, the stack makes the roles its services assume for it (log
//! delivery to S3, see `monitoring::delivery_stream`), and the fleet's instance role
//! also gets what the app needs of the rest of the stack (see `app_env`): reading the
//! database's secret, shipping logs into the app's log group.

use super::iam::{inline_from, managed_from, permission_attrs, Holder};
use super::{policy, tag_delta, tags_from, tags_value, Cx, Live, Provider};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use async_trait::async_trait;
use aws_sdk_iam::client::Waiters as _;
use aws_sdk_iam::types::Tag;
use bumarket_stack::Trust;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub struct Roles;

/// Physical name of a role of the stack.
pub fn physical_name(cx: &Cx, logical: &str) -> String {
    name_in(&cx.stack, logical)
}

/// Physical name of a role of `stack` (before there is a [`Cx`]: wave one reads it).
pub fn name_in(stack: &bumarket_stack::Stack, logical: &str) -> String {
    let given = stack.access.roles.get(logical).and_then(|r| r.name.as_ref());
    super::physical_name(stack, given, logical)
}

fn trust_policy(cx: &Cx, trust: &Trust) -> Value {
    let statement = match trust {
        Trust::Service(s) => json!({"Effect": "Allow", "Principal": {"Service": s}, "Action": "sts:AssumeRole"}),
        Trust::Account { require_mfa } => {
            let mut s = json!({"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"AWS": format!("arn:{}:iam::{}:root", cx.partition(), cx.account)}});
            if *require_mfa {
                s["Condition"] = json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}});
            }
            s
        }
    };
    policy::document(vec![statement])
}

pub(super) fn iam_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag has key and value")).collect()
}

fn role_desired(cx: &Cx, logical: &str, trust: Value, inline: Value, managed: Value, deps: Vec<Addr>) -> Desired {
    let addr = Addr::new(Kind::Role, logical);
    let name = physical_name(cx, logical);
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("trust_policy".into(), trust);
    attrs.insert("inline_policies".into(), inline);
    attrs.insert("managed_policies".into(), managed);
    attrs.insert("tags".into(), tags_value(&cx.tags(&addr)));
    Desired { addr, name, attrs, deps }
}

/// Add `statements` to the tool's own inline policy in `inline` (made when absent).
fn add_statements(inline: &mut Value, statements: Vec<Value>) {
    if statements.is_empty() {
        return;
    }
    let Some(map) = inline.as_object_mut() else { return };
    let doc = map.entry(super::iam::INLINE_POLICY).or_insert_with(|| policy::document(vec![]));
    if let Some(list) = doc.get_mut("Statement").and_then(Value::as_array_mut) {
        list.extend(statements);
    }
    *doc = policy::normalize(doc);
}

/// How long a new role may take to be usable by a service that assumes it, and how often
/// the call is tried again meanwhile (IAM user guide, "Changes that I make are not
/// always immediately visible"; terraform-provider-aws waits 2 minutes for the same).
const ROLE_PROPAGATION: Duration = Duration::from_secs(120);
const ROLE_RETRY: Duration = Duration::from_secs(5);

/// Run `call`, which hands the role `role` to `service`, and try again while it fails
/// with `code` and the role is younger than [`ROLE_PROPAGATION`]: services check at once
/// that they can assume a role, and answer in words only that they cannot yet, so the
/// words are not read, only the code and the role's age (by its CreateDate).
pub async fn while_new_role_propagates<F, Fut>(
    cx: &Cx,
    role: &str,
    code: &str,
    service: &str,
    p: &Progress<'_>,
    call: F,
) -> Result<(), StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StepError>>,
{
    let say = |age: Duration| {
        p.say(format!(
            "the role `{role}` is {} s old: waiting for IAM to make it usable by {service}, up to {} s",
            age.as_secs(),
            ROLE_PROPAGATION.as_secs()
        ))
    };
    let age = || async {
        let made = match cx.aws.iam.get_role().role_name(role).send().await {
            Ok(out) => out.role.map(|r| r.create_date),
            Err(_) => None,
        };
        Ok(made.map(|made| {
            let made = std::time::SystemTime::try_from(made).unwrap_or(std::time::UNIX_EPOCH);
            std::time::SystemTime::now().duration_since(made).unwrap_or_default()
        }))
    };
    super::wait::while_propagating(code, ROLE_PROPAGATION, ROLE_RETRY, &say, age, call).await
}

/// A role keeps its name; its trust, permissions and tags change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Role,
    layer: 1,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::update("trust_policy").normalized(policy::normalize),
        AttrSpec::update("inline_policies"),
        AttrSpec::update("managed_policies").set(),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Roles {
    fn place(&self, _cx: &Cx, d: &Desired) -> Vec<String> {
        vec!["access".into(), "roles".into(), d.addr.name().into(), "name".into()]
    }
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &[
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
            ],
            writes: &[
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        let mut arns = vec![format!("arn:{}:iam::*:role{}{}", cx.partition(), cx.iam_path(), d.name)];
        if cx.stack.adopt.contains_key(d.addr.as_str()) {
            // Adopted where it was made, at any path.
            arns.push(format!("arn:{}:iam::*:role*/{}", cx.partition(), d.name));
        }
        arns
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let instance_role = cx.stack.fleet.as_ref().and_then(|f| f.instance_role.as_deref());
        let file = cx.stack.access.roles.iter().map(|(logical, role)| {
            let (mut inline, managed) = permission_attrs(cx, &role.permissions);
            // Grants name buckets: their policies mean nothing before the bucket exists.
            let mut deps: Vec<Addr> =
                role.permissions.grants.iter().map(|g| Addr::new(Kind::Bucket, &g.bucket)).collect();
            if instance_role == Some(logical.as_str()) {
                add_statements(&mut inline, super::app_env::instance_role_statements(cx));
                if super::app_env::role_needs_database(cx) {
                    deps.push(super::app_env::database_addr());
                }
            }
            role_desired(cx, logical, trust_policy(cx, &role.assumed_by), inline, managed, deps)
        });
        let services = super::monitoring::delivery_stream::service_roles(cx).into_iter().map(|r| {
            let mut inline = json!({});
            add_statements(&mut inline, r.statements);
            role_desired(cx, r.logical, r.trust, inline, json!([]), r.deps)
        });
        file.chain(services).collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.iam().await?;
        let mut out = Vec::new();
        for r in &snap.roles {
            let wanted_here = wanted.iter().any(|d| d.name == r.name);
            let ownership = cx.iam_ownership("a role", &r.path, &r.tags);
            if ownership != Ownership::Ours && !wanted_here {
                continue;
            }
            let (addr, ownership) = cx.placed(Kind::Role, &r.name, &r.tags, wanted, ownership);
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), json!(r.name));
            attrs.insert("trust_policy".into(), super::iam::decode_document(&r.trust));
            attrs.insert(
                "inline_policies".into(),
                inline_from(r.policies.inline.iter().map(|(n, d)| (n.as_str(), d.as_str()))),
            );
            attrs.insert("managed_policies".into(), managed_from(r.policies.managed.iter().map(String::as_str)));
            attrs.insert("tags".into(), tags_value(&r.tags));
            out.push(Observed {
                addr,
                name: r.name.clone(),
                id: r.arn.clone(),
                attrs,
                ownership,
                outputs: BTreeMap::from([("arn".to_string(), r.arn.clone())]),
                deps: vec![],
            });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let aws = &cx.aws;
        let inline = attr(&d.attrs, "inline_policies").map(|v| super::app_env::resolve(cx, v)).transpose()?;
        let tags = tags_from(attr(&d.attrs, "tags"));
        let mut req = aws
            .iam
            .create_role()
            .role_name(&d.name)
            .path(cx.iam_path())
            .assume_role_policy_document(attr(&d.attrs, "trust_policy").map(Value::to_string).unwrap_or_default())
            .set_tags(Some(iam_tags(&tags)));
        // The description is set at creation only: it is none of the role's attributes
        // (the plan neither shows nor compares it).
        let logical = d.addr.as_str().trim_start_matches("role.");
        if let Some(desc) = cx.stack.access.roles.get(logical).and_then(|r| r.description.as_ref()) {
            req = req.description(desc);
        }
        let made = req.send().await.map(drop);
        super::iam::created_or_ours(aws, super::iam::Entity::Role(&d.name), &cx.iam_path(), "iam:CreateRole", made)
            .await?;
        let holder = Holder::Role(&d.name);
        holder.converge_inline(aws, None, inline.as_ref()).await?;
        holder.converge_managed(aws, None, attr(&d.attrs, "managed_policies")).await?;
        p.say("waiting for the role to be visible in IAM");
        aws.iam
            .wait_until_role_exists()
            .role_name(&d.name)
            .wait(Duration::from_secs(60))
            .await
            .map_err(|e| StepError::new("iam:GetRole (waiting for the role)", e.to_string()))?;
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let aws = &cx.aws;
        let holder = Holder::Role(&d.name);
        for c in changes {
            match c.name.as_str() {
                "trust_policy" => {
                    let doc = c.after.as_ref().map(Value::to_string).unwrap_or_default();
                    aws.iam
                        .update_assume_role_policy()
                        .role_name(&d.name)
                        .policy_document(doc)
                        .send()
                        .await
                        .map_err(|e| call_error("iam:UpdateAssumeRolePolicy", e))?;
                }
                "inline_policies" => {
                    let live = |v: Option<&Value>| v.map(|v| super::app_env::resolve(cx, v)).transpose();
                    holder
                        .converge_inline(aws, live(c.before.as_ref())?.as_ref(), live(c.after.as_ref())?.as_ref())
                        .await?
                }
                "managed_policies" => holder.converge_managed(aws, c.before.as_ref(), c.after.as_ref()).await?,
                "tags" => {
                    let (set, remove) = tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
                    if !set.is_empty() {
                        aws.iam
                            .tag_role()
                            .role_name(&d.name)
                            .set_tags(Some(iam_tags(&set)))
                            .send()
                            .await
                            .map_err(|e| call_error("iam:TagRole", e))?;
                    }
                    if !remove.is_empty() {
                        aws.iam
                            .untag_role()
                            .role_name(&d.name)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(|e| call_error("iam:UntagRole", e))?;
                    }
                }
                other => return Err(StepError::not_in_place(other, "a role")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        let aws = &cx.aws;
        let holder = Holder::Role(&o.name);
        holder.converge_managed(aws, attr(&o.attrs, "managed_policies"), None).await?;
        holder.converge_inline(aws, attr(&o.attrs, "inline_policies"), None).await?;
        let profiles = aws
            .iam
            .list_instance_profiles_for_role()
            .role_name(&o.name)
            .send()
            .await
            .map_err(|e| call_error("iam:ListInstanceProfilesForRole", e))?;
        for ip in profiles.instance_profiles {
            aws.iam
                .remove_role_from_instance_profile()
                .instance_profile_name(ip.instance_profile_name)
                .role_name(&o.name)
                .send()
                .await
                .map_err(|e| call_error("iam:RemoveRoleFromInstanceProfile", e))?;
        }
        match aws.iam.delete_role().role_name(&o.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NoSuchEntity") => Ok(()),
            Err(e) => Err(call_error("iam:DeleteRole", e)),
        }
    }
}
