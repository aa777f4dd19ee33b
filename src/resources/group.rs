//! `group.<name>`: an IAM group under the stack's path with one inline policy and attached
//! managed policies. Groups take no tags in IAM: the path alone marks them as ours.
//! One adopted (made outside bumarket-infra) is moved under the stack's path
//! (UpdateGroup takes a new path; members and policies stay), and back to `/` when
//! released.
//! Deleting a group removes its members from it (the users themselves are never touched).

use super::iam::{inline_from, managed_from, permission_attrs, Holder};
use super::{Cx, Live, Provider};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use async_trait::async_trait;
use serde_json::json;
use std::collections::BTreeMap;

pub struct Groups;

pub fn physical_name(cx: &Cx, logical: &str) -> String {
    name_in(&cx.stack, logical)
}

/// Physical name of a group of `stack` (before there is a [`Cx`]: wave one reads it).
pub fn name_in(stack: &bumarket_stack::Stack, logical: &str) -> String {
    let given = stack.access.groups.get(logical).and_then(|g| g.name.as_ref());
    super::physical_name(stack, given, logical)
}

/// A group keeps its name (groups take no tags); its permissions change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Group,
    layer: 1,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::update("path"),
        AttrSpec::update("inline_policies"),
        AttrSpec::update("managed_policies").set(),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Groups {
    fn place(&self, _cx: &Cx, d: &Desired) -> Vec<String> {
        vec!["access".into(), "groups".into(), d.addr.name().into(), "name".into()]
    }
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["iam:GetGroup", "iam:GetGroupPolicy", "iam:ListGroupPolicies", "iam:ListAttachedGroupPolicies"],
            writes: &[
                "iam:CreateGroup",
                "iam:UpdateGroup",
                "iam:DeleteGroup",
                "iam:RemoveUserFromGroup",
                "iam:AttachGroupPolicy",
                "iam:DetachGroupPolicy",
                "iam:PutGroupPolicy",
                "iam:DeleteGroupPolicy",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        let mut arns = vec![format!("arn:{}:iam::*:group{}{}", cx.partition(), cx.iam_path(), d.name)];
        if cx.stack.adopt.contains_key(d.addr.as_str()) {
            // Moved from where it was made (UpdateGroup needs both the old and new ARN).
            arns.push(format!("arn:{}:iam::*:group*/{}", cx.partition(), d.name));
        }
        arns
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        cx.stack
            .access
            .groups
            .iter()
            .map(|(logical, group)| {
                let addr = Addr::new(Kind::Group, logical);
                let name = physical_name(cx, logical);
                let (inline, managed) = permission_attrs(cx, &group.permissions);
                let mut attrs = Attrs::new();
                attrs.insert("name".into(), json!(name));
                attrs.insert("path".into(), json!(cx.iam_path()));
                attrs.insert("inline_policies".into(), inline);
                attrs.insert("managed_policies".into(), managed);
                let deps = group.permissions.grants.iter().map(|g| Addr::new(Kind::Bucket, &g.bucket)).collect();
                Desired { addr, name, attrs, deps }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.iam().await?;
        let mut out = Vec::new();
        for g in &snap.groups {
            let wanted_here = wanted.iter().any(|d| d.name == g.name);
            // Groups take no tags: the path alone says whose one is.
            let ownership = cx.iam_ownership("a group", &g.path, &BTreeMap::new());
            if ownership != Ownership::Ours && !wanted_here {
                continue;
            }
            let (addr, ownership) = cx.placed(Kind::Group, &g.name, &BTreeMap::new(), wanted, ownership);
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), json!(g.name));
            attrs.insert("path".into(), json!(g.path));
            attrs.insert(
                "inline_policies".into(),
                inline_from(g.policies.inline.iter().map(|(n, d)| (n.as_str(), d.as_str()))),
            );
            attrs.insert("managed_policies".into(), managed_from(g.policies.managed.iter().map(String::as_str)));
            out.push(Observed {
                addr,
                name: g.name.clone(),
                id: g.arn.clone(),
                attrs,
                ownership,
                outputs: BTreeMap::from([("arn".to_string(), g.arn.clone())]),
                deps: vec![],
            });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        let aws = &cx.aws;
        let made = aws.iam.create_group().group_name(&d.name).path(cx.iam_path()).send().await.map(drop);
        super::iam::created_or_ours(aws, super::iam::Entity::Group(&d.name), &cx.iam_path(), "iam:CreateGroup", made)
            .await?;
        let holder = Holder::Group(&d.name);
        holder.converge_inline(aws, None, attr(&d.attrs, "inline_policies")).await?;
        holder.converge_managed(aws, None, attr(&d.attrs, "managed_policies")).await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        _o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let holder = Holder::Group(&d.name);
        for c in changes {
            match c.name.as_str() {
                "path" => {
                    let to = c.after.as_ref().and_then(|v| v.as_str()).unwrap_or("/");
                    cx.aws
                        .iam
                        .update_group()
                        .group_name(&d.name)
                        .new_path(to)
                        .send()
                        .await
                        .map_err(|e| call_error("iam:UpdateGroup", e))?;
                }
                "inline_policies" => holder.converge_inline(&cx.aws, c.before.as_ref(), c.after.as_ref()).await?,
                "managed_policies" => holder.converge_managed(&cx.aws, c.before.as_ref(), c.after.as_ref()).await?,
                other => return Err(StepError::not_in_place(other, "a group")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        let aws = &cx.aws;
        let holder = Holder::Group(&o.name);
        holder.converge_managed(aws, attr(&o.attrs, "managed_policies"), None).await?;
        holder.converge_inline(aws, attr(&o.attrs, "inline_policies"), None).await?;
        let members = match aws.iam.get_group().group_name(&o.name).send().await {
            Ok(out) => out.users,
            Err(e) if is_code(&e, "NoSuchEntity") => return Ok(()),
            Err(e) => return Err(call_error("iam:GetGroup", e)),
        };
        for u in members {
            aws.iam
                .remove_user_from_group()
                .group_name(&o.name)
                .user_name(u.user_name)
                .send()
                .await
                .map_err(|e| call_error("iam:RemoveUserFromGroup", e))?;
        }
        match aws.iam.delete_group().group_name(&o.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NoSuchEntity") => Ok(()),
            Err(e) => Err(call_error("iam:DeleteGroup", e)),
        }
    }
}
