//! `role.<name>`: an IAM role under the stack's path, with its trust policy, one inline
//! policy (bucket grants and raw statements) and attached managed policies.

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
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        cx.stack
            .access
            .roles
            .iter()
            .map(|(logical, role)| {
                let addr = Addr::new(Kind::Role, logical);
                let name = physical_name(cx, logical);
                let (inline, managed) = permission_attrs(cx, &role.permissions);
                let mut attrs = Attrs::new();
                attrs.insert("name".into(), json!(name));
                attrs.insert("trust_policy".into(), trust_policy(cx, &role.assumed_by));
                attrs.insert("inline_policies".into(), inline);
                attrs.insert("managed_policies".into(), managed);
                attrs.insert("tags".into(), tags_value(&cx.tags(&addr)));
                // Grants name buckets: their policies mean nothing before the bucket exists.
                let deps = role.permissions.grants.iter().map(|g| Addr::new(Kind::Bucket, &g.bucket)).collect();
                Desired { addr, name, attrs, deps }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.iam().await?;
        let path = cx.iam_path();
        let mut out = Vec::new();
        for r in &snap.roles {
            let wanted_here = wanted.iter().any(|d| d.name == r.name);
            let ours = r.path == path;
            if !ours && !wanted_here {
                continue;
            }
            let ownership = if ours {
                Ownership::Ours
            } else {
                Ownership::Foreign(format!("a role of that name exists outside the path `{path}`"))
            };
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
        holder.converge_inline(aws, None, attr(&d.attrs, "inline_policies")).await?;
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
                "inline_policies" => holder.converge_inline(aws, c.before.as_ref(), c.after.as_ref()).await?,
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
