//! `instance_profile.<role>`: the EC2 instance profile of a role that asks for one, same
//! name and path as the role, holding exactly that role.

use super::role::iam_tags;
use super::{tag_delta, tags_from, tags_value, Cx, Live, Provider};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use async_trait::async_trait;
use aws_sdk_iam::client::Waiters as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub struct InstanceProfiles;

/// Physical name of the instance profile of a role (the role's name).
pub fn physical_name(cx: &Cx, role_logical: &str) -> String {
    super::role::physical_name(cx, role_logical)
}

/// The instance profile the fleet's instances carry: the stack's role's, or the one the
/// role `existing.role` found has (`None` without one: the plan refuses that, see
/// `existing::resolve`).
pub fn of_fleet(cx: &Cx) -> Option<String> {
    let role = cx.stack.fleet.as_ref()?.instance_role.as_ref()?;
    if role == bumarket_stack::EXISTING_ROLE {
        return cx.existing.get("role").and_then(|f| f.extra.clone());
    }
    Some(physical_name(cx, role))
}

/// A profile keeps its name; the role it holds and its tags change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::InstanceProfile,
    layer: 2,
    attrs: &[AttrSpec::replace("name"), AttrSpec::update("role"), AttrSpec::update("tags")],
    deleted_after: &[],
};

#[async_trait]
impl Provider for InstanceProfiles {
    fn place(&self, _cx: &Cx, d: &Desired) -> Vec<String> {
        vec!["access".into(), "roles".into(), d.addr.name().into(), "instance_profile".into()]
    }
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["iam:GetInstanceProfile"],
            writes: &[
                "iam:AddRoleToInstanceProfile",
                "iam:CreateInstanceProfile",
                "iam:DeleteInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:TagInstanceProfile",
                "iam:UntagInstanceProfile",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        let mut arns = vec![format!("arn:{}:iam::*:instance-profile{}{}", cx.partition(), cx.iam_path(), d.name)];
        if cx.stack.adopt.contains_key(d.addr.as_str()) {
            // Adopted where it was made, at any path.
            arns.push(format!("arn:{}:iam::*:instance-profile*/{}", cx.partition(), d.name));
        }
        arns
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        cx.stack
            .access
            .roles
            .iter()
            .filter(|(_, r)| r.instance_profile)
            .map(|(logical, _)| {
                let addr = Addr::new(Kind::InstanceProfile, logical);
                let name = physical_name(cx, logical);
                let mut attrs = Attrs::new();
                attrs.insert("name".into(), json!(name));
                attrs.insert("role".into(), json!(super::role::physical_name(cx, logical)));
                attrs.insert("tags".into(), tags_value(&cx.tags(&addr)));
                Desired { addr, name, attrs, deps: vec![Addr::new(Kind::Role, logical)] }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        // Each read by name (GetInstanceProfile): its tags are not in the listing.
        let snap = live.iam().await?;
        let mut out = Vec::new();
        for ip in &snap.profiles {
            let wanted_here = wanted.iter().any(|d| d.name == ip.name);
            let ownership = cx.iam_ownership("an instance profile", &ip.path, &ip.tags);
            if ownership != Ownership::Ours && !wanted_here {
                continue;
            }
            let (addr, ownership) = cx.placed(Kind::InstanceProfile, &ip.name, &ip.tags, wanted, ownership);
            let role_addr = Addr::new(Kind::Role, addr.name());
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), json!(ip.name));
            attrs.insert("role".into(), ip.role.as_ref().map_or(Value::Null, |r| json!(r)));
            attrs.insert("tags".into(), tags_value(&ip.tags));
            out.push(Observed {
                addr,
                name: ip.name.clone(),
                id: ip.arn.clone(),
                attrs,
                ownership,
                outputs: BTreeMap::from([("arn".to_string(), ip.arn.clone())]),
                deps: vec![role_addr],
            });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let aws = &cx.aws;
        let tags = tags_from(attr(&d.attrs, "tags"));
        let made = aws
            .iam
            .create_instance_profile()
            .instance_profile_name(&d.name)
            .path(cx.iam_path())
            .set_tags(Some(iam_tags(&tags)))
            .send()
            .await
            .map(drop);
        let entity = super::iam::Entity::InstanceProfile(&d.name);
        super::iam::created_or_ours(aws, entity, &cx.iam_path(), "iam:CreateInstanceProfile", made).await?;
        if let Some(role) = attr(&d.attrs, "role").and_then(Value::as_str) {
            add_role(cx, &d.name, role).await?;
        }
        p.say("waiting for the instance profile to be visible in IAM");
        aws.iam
            .wait_until_instance_profile_exists()
            .instance_profile_name(&d.name)
            .wait(Duration::from_secs(60))
            .await
            .map_err(|e| StepError::new("iam:GetInstanceProfile (waiting)", e.to_string()))?;
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
        for c in changes {
            match c.name.as_str() {
                "role" => {
                    if let Some(old) = c.before.as_ref().and_then(Value::as_str) {
                        remove_role(cx, &d.name, old).await?;
                    }
                    if let Some(new) = c.after.as_ref().and_then(Value::as_str) {
                        add_role(cx, &d.name, new).await?;
                    }
                }
                "tags" => {
                    let (set, remove) = tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
                    if !set.is_empty() {
                        aws.iam
                            .tag_instance_profile()
                            .instance_profile_name(&d.name)
                            .set_tags(Some(iam_tags(&set)))
                            .send()
                            .await
                            .map_err(|e| call_error("iam:TagInstanceProfile", e))?;
                    }
                    if !remove.is_empty() {
                        aws.iam
                            .untag_instance_profile()
                            .instance_profile_name(&d.name)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(|e| call_error("iam:UntagInstanceProfile", e))?;
                    }
                }
                other => return Err(StepError::not_in_place(other, "an instance profile")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        if let Some(role) = attr(&o.attrs, "role").and_then(Value::as_str) {
            remove_role(cx, &o.name, role).await?;
        }
        match cx.aws.iam.delete_instance_profile().instance_profile_name(&o.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NoSuchEntity") => Ok(()),
            Err(e) => Err(call_error("iam:DeleteInstanceProfile", e)),
        }
    }
}

async fn add_role(cx: &Cx, profile: &str, role: &str) -> Result<(), StepError> {
    match cx.aws.iam.add_role_to_instance_profile().instance_profile_name(profile).role_name(role).send().await {
        Ok(_) => Ok(()),
        // A profile holds one role: a retried call whose first answer was lost meets the
        // role it added. That is done, not an error.
        Err(e) if is_code(&e, "LimitExceeded") && has_role(cx, profile, role).await => Ok(()),
        Err(e) => Err(call_error("iam:AddRoleToInstanceProfile", e)),
    }
}

async fn has_role(cx: &Cx, profile: &str, role: &str) -> bool {
    let out = cx.aws.iam.get_instance_profile().instance_profile_name(profile).send().await;
    out.ok().and_then(|o| o.instance_profile).is_some_and(|p| p.roles.iter().any(|r| r.role_name == role))
}

async fn remove_role(cx: &Cx, profile: &str, role: &str) -> Result<(), StepError> {
    match cx.aws.iam.remove_role_from_instance_profile().instance_profile_name(profile).role_name(role).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_code(&e, "NoSuchEntity") => Ok(()),
        Err(e) => Err(call_error("iam:RemoveRoleFromInstanceProfile", e)),
    }
}
