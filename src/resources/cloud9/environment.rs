//! `cloud9.ide`: the team's Cloud9 EC2 environment in a public subnet of the stack,
//! reached through Session Manager (no inbound port), stopping itself after the file's
//! idle minutes, with every member of the file's developers group as a read-write member.
//!
//! Cloud9's API does not return an environment's instance type, image, subnet or stop
//! time: those are set at creation (as an IAM role's description is). What is compared:
//! the name, the connection type, the members and the tags. AWS stopped taking new
//! Cloud9 customers in July 2024: when it refuses, the error says so and what to do.

use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{tag_delta, tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_cloud9::types as c9;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

pub struct Environments;

/// What users see when AWS refuses to create an environment for a new account.
pub const NO_NEW_CUSTOMERS: &str =
    "AWS Cloud9 is no longer available to new customers (since July 2024; existing customers keep it): \
remove the `cloud9:` section from the stack file, and develop on the fleet's instances through Session Manager \
(`aws ssm start-session --target <instance-id>`, once their role has `AmazonSSMManagedInstanceCore`, as the seed's has) \
or with AWS CloudShell";

fn physical_name(cx: &Cx) -> String {
    cx.stack.cloud9.as_ref().and_then(|c| c.name.clone()).unwrap_or_else(|| format!("{}-ide", cx.stack.name))
}

/// The users of the members group, as ARNs (the group is read live: people join and leave).
async fn group_users(cx: &Cx) -> Result<BTreeSet<String>, StepError> {
    let Some(group) = cx.stack.cloud9.as_ref().and_then(|c| c.members_group.as_ref()) else {
        return Ok(BTreeSet::new());
    };
    let name = crate::resources::group::physical_name(cx, group);
    match cx.aws.iam.get_group().group_name(&name).send().await {
        Ok(out) => Ok(out.users.into_iter().map(|u| u.arn).collect()),
        Err(e) if is_code(&e, "NoSuchEntity") => Ok(BTreeSet::new()),
        Err(e) => Err(call_error("iam:GetGroup", e)),
    }
}

/// The `members` attribute: the group's address when the environment's read-write
/// members are exactly the group's users, else what is there (so the diff shows it).
pub(crate) fn members_value(group: Option<&str>, users: &BTreeSet<String>, members: &BTreeSet<String>) -> Value {
    match group {
        Some(g) if users == members => json!(format!("group.{g}")),
        _ => json!(members),
    }
}

/// An environment is renamed, given members and tagged in place; only another
/// connection type needs a new one.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Cloud9,
    layer: 4,
    attrs: &[
        AttrSpec::update("name"),
        AttrSpec::replace("connection_type"),
        AttrSpec::update("members"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Environments {
    fn place(&self, _cx: &Cx, _d: &Desired) -> Vec<String> {
        vec!["cloud9".into(), "name".into()]
    }
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &[
                "cloud9:DescribeEnvironmentMemberships",
                "cloud9:DescribeEnvironments",
                "cloud9:ListEnvironments",
                "cloud9:ListTagsForResource",
                "iam:GetGroup",
                "iam:GetInstanceProfile",
                "iam:GetRole",
            ],
            writes: &[
                "cloud9:CreateEnvironmentEC2",
                "cloud9:CreateEnvironmentMembership",
                "cloud9:DeleteEnvironment",
                "cloud9:DeleteEnvironmentMembership",
                "cloud9:TagResource",
                "cloud9:UntagResource",
                "cloud9:UpdateEnvironment",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let Some(c) = &cx.stack.cloud9 else { return vec![] };
        let addr = Addr::new(Kind::Cloud9, "ide");
        let name = physical_name(cx);
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("connection_type".into(), json!("CONNECT_SSM"));
        attrs.insert("members".into(), c.members_group.as_ref().map_or(json!([]), |g| json!(format!("group.{g}"))));
        attrs.insert("tags".into(), tags_value(&cx.tags(&addr)));
        let mut deps = vec![Addr::new(Kind::Subnet, format!("public-{}", c.subnet_index))];
        deps.extend(c.members_group.as_ref().map(|g| Addr::new(Kind::Group, g)));
        vec![Desired { addr, name, attrs, deps }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        // Without a `cloud9:` section, look only when the index says the stack has one.
        if wanted.is_empty() && !live.owns_any("cloud9").await? {
            return Ok(vec![]);
        }
        let c9 = &cx.aws.cloud9;
        let prerequisites = async {
            match wanted.is_empty() {
                true => Ok(()),
                false => ssm_prerequisites(cx).await,
            }
        };
        // Found through Cloud9 itself: the tagging API is an index that lags behind new
        // tags and keeps deleted environments a while, so it only says which to look at.
        let found = async {
            let mut ids = Vec::new();
            let mut pages = c9.list_environments().into_paginator().send();
            while let Some(page) = pages.next().await {
                ids.extend(
                    page.map_err(|e| call_error("cloud9:ListEnvironments", e))?.environment_ids.unwrap_or_default(),
                );
            }
            let batches = ids.chunks(25).map(|batch| async move {
                let out = c9
                    .describe_environments()
                    .set_environment_ids(Some(batch.to_vec()))
                    .send()
                    .await
                    .map_err(|e| call_error("cloud9:DescribeEnvironments", e))?;
                Ok::<_, StepError>(out.environments.unwrap_or_default())
            });
            Ok::<_, StepError>(futures::future::try_join_all(batches).await?.concat())
        };
        let ((), envs, tagged) = tokio::try_join!(prerequisites, found, live.tagged())?;
        let listed = |arn: &str| tagged.iter().any(|t| t.arn == arn);
        let names: Vec<&str> = wanted.iter().map(|d| d.name.as_str()).collect();
        let candidates: Vec<c9::Environment> = envs
            .into_iter()
            .filter(|e| listed(&e.arn) || e.name.as_deref().is_some_and(|n| names.contains(&n)))
            .collect();
        if candidates.is_empty() {
            return Ok(vec![]);
        }
        let (users, details) = tokio::try_join!(
            group_users(cx),
            futures::future::try_join_all(candidates.iter().map(|env| details(cx, env)))
        )?;
        let group = cx.stack.cloud9.as_ref().and_then(|c| c.members_group.as_deref());
        let mut out = Vec::new();
        for (env, (tags, members)) in candidates.into_iter().zip(details) {
            let id = env.id.clone().unwrap_or_default();
            let name = env.name.clone().unwrap_or_default();
            let ownership = cx.tag_ownership("the environment of that name", &tags);
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), json!(name));
            attrs.insert("connection_type".into(), json!(env.connection_type.as_ref().map(|c| c.as_str())));
            attrs.insert("members".into(), members_value(group, &users, &members));
            attrs.insert("tags".into(), tags_value(&tags));
            let (addr, ownership) = cx.placed(Kind::Cloud9, &name, &tags, wanted, ownership);
            out.push(Observed {
                addr,
                name,
                id: id.clone(),
                attrs,
                ownership,
                outputs: BTreeMap::from([("id".to_string(), id), ("arn".to_string(), env.arn.clone())]),
                deps: vec![],
            });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        let c = cx.stack.cloud9.as_ref().ok_or_else(|| StepError::new("plan", "the stack has no `cloud9`"))?;
        let subnet = cx.id_of(&Addr::new(Kind::Subnet, format!("public-{}", c.subnet_index)))?;
        let tags: Vec<c9::Tag> = tags_from(attr(&d.attrs, "tags"))
            .into_iter()
            .map(|(k, v)| c9::Tag::builder().key(k).value(v).build().expect("key and value"))
            .collect();
        let created = cx
            .aws
            .cloud9
            .create_environment_ec2()
            .name(&d.name)
            .description(format!("Cloud9 environment of stack {}", cx.stack.name))
            .instance_type(&c.instance_type)
            .image_id(&c.image_id)
            .subnet_id(subnet)
            .automatic_stop_time_minutes(i32::try_from(c.automatic_stop_minutes).unwrap_or(30))
            .connection_type(c9::ConnectionType::ConnectSsm)
            // Retrying a create whose answer was lost makes no second environment.
            .client_request_token(format!("{}-{}", cx.stack.name, d.name))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| refused(call_error("cloud9:CreateEnvironmentEC2", e)))?;
        let id = created
            .environment_id
            .ok_or_else(|| StepError::missing("cloud9:CreateEnvironmentEC2", "the environment's id"))?;
        cx.set_id(&d.addr, &id);
        converge_members(cx, &id, &BTreeSet::new(), &group_users(cx).await?).await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let c9 = &cx.aws.cloud9;
        for c in changes {
            match c.name.as_str() {
                "members" => {
                    let before: BTreeSet<String> = match &c.before {
                        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
                        _ => BTreeSet::new(),
                    };
                    converge_members(cx, &o.id, &before, &group_users(cx).await?).await?;
                }
                "tags" => {
                    let arn = o.outputs.get("arn").cloned().unwrap_or_default();
                    let (set, remove) = tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
                    if !set.is_empty() {
                        let tags = set
                            .into_iter()
                            .map(|(k, v)| c9::Tag::builder().key(k).value(v).build().expect("key and value"));
                        c9.tag_resource()
                            .resource_arn(&arn)
                            .set_tags(Some(tags.collect()))
                            .send()
                            .await
                            .map_err(|e| call_error("cloud9:TagResource", e))?;
                    }
                    if !remove.is_empty() {
                        c9.untag_resource()
                            .resource_arn(&arn)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(|e| call_error("cloud9:UntagResource", e))?;
                    }
                }
                "name" => {
                    c9.update_environment()
                        .environment_id(&o.id)
                        .name(&d.name)
                        .send()
                        .await
                        .map_err(|e| call_error("cloud9:UpdateEnvironment", e))?;
                }
                other => return Err(StepError::not_in_place(other, "a Cloud9 environment")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        match cx.aws.cloud9.delete_environment().environment_id(&o.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NotFoundException") => Ok(()),
            Err(e) => Err(call_error("cloud9:DeleteEnvironment", e)),
        }
    }
}

/// An environment's tags (from Cloud9) and its read-write members, read side by side.
async fn details(cx: &Cx, env: &c9::Environment) -> Result<(BTreeMap<String, String>, BTreeSet<String>), StepError> {
    let c9 = &cx.aws.cloud9;
    let id = env.id.as_deref().unwrap_or_default();
    let tags = async {
        let out = c9
            .list_tags_for_resource()
            .resource_arn(&env.arn)
            .send()
            .await
            .map_err(|e| call_error("cloud9:ListTagsForResource", e))?;
        Ok::<_, StepError>(out.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect())
    };
    let members = async {
        let out = c9
            .describe_environment_memberships()
            .environment_id(id)
            .send()
            .await
            .map_err(|e| call_error("cloud9:DescribeEnvironmentMemberships", e))?;
        Ok::<_, StepError>(
            out.memberships
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.permissions == c9::Permissions::ReadWrite)
                .map(|m| m.user_arn)
                .collect(),
        )
    };
    tokio::try_join!(tags, members)
}

/// The IAM service role and instance profile an environment reached through Session
/// Manager needs. "If you use this option [CONNECT_SSM], the AWSCloud9SSMAccessRole
/// service role and AWSCloud9SSMInstanceProfile aren't automatically created": only the
/// console makes them (Cloud9 user guide, "Accessing no-ingress EC2 instances with AWS
/// Systems Manager"). They belong to the account, not to a stack, so bumarket-infra does
/// not make them either: the plan stops and says how.
pub const SSM_ROLE: &str = "AWSCloud9SSMAccessRole";
pub const SSM_PROFILE: &str = "AWSCloud9SSMInstanceProfile";

async fn ssm_prerequisites(cx: &Cx) -> Result<(), StepError> {
    let iam = &cx.aws.iam;
    let role = async {
        match iam.get_role().role_name(SSM_ROLE).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "NoSuchEntity") => Ok(false),
            Err(e) => Err(call_error("iam:GetRole", e)),
        }
    };
    let profile = async {
        match iam.get_instance_profile().instance_profile_name(SSM_PROFILE).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "NoSuchEntity") => Ok(false),
            Err(e) => Err(call_error("iam:GetInstanceProfile", e)),
        }
    };
    let (role, profile) = tokio::try_join!(role, profile)?;
    let missing: Vec<String> =
        [(role, format!("the role `{SSM_ROLE}`")), (profile, format!("the instance profile `{SSM_PROFILE}`"))]
            .into_iter()
            .filter(|(there, _)| !there)
            .map(|(_, what)| what)
            .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StepError::new(
        "cloud9",
        format!(
            "Cloud9 reaches its instance through Session Manager, which needs {} in this account; only the Cloud9 console creates them",
            missing.join(" and ")
        ),
    )
    .hint(format!(
        "create them once for the account, as the Cloud9 user guide says (https://docs.aws.amazon.com/cloud9/latest/user-guide/ec2-ssm.html): \
`aws iam create-role --role-name {SSM_ROLE} --path /service-role/ --assume-role-policy-document \
'{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"Service\":[\"ec2.amazonaws.com\",\"cloud9.amazonaws.com\"]}},\"Action\":\"sts:AssumeRole\"}}]}}'`, \
`aws iam attach-role-policy --role-name {SSM_ROLE} --policy-arn arn:aws:iam::aws:policy/AWSCloud9SSMInstanceProfile`, \
`aws iam create-instance-profile --instance-profile-name {SSM_PROFILE} --path /cloud9/`, \
`aws iam add-role-to-instance-profile --instance-profile-name {SSM_PROFILE} --role-name {SSM_ROLE}`; \
or remove the `cloud9:` section"
    )))
}

/// Say plainly that AWS may no longer onboard this account to Cloud9 when it refuses.
/// AWS answers `ForbiddenException` both for an account Cloud9 takes no longer and for
/// credentials without the permission; its code cannot tell which, so the hint says both.
pub fn refused(e: StepError) -> StepError {
    if e.is_code("ForbiddenException") || e.is_code("AccessDeniedException") || e.is_code("AccessDenied") {
        e.hint(format!("if the credentials may use Cloud9, this account is a new customer: {NO_NEW_CUSTOMERS}"))
    } else {
        e
    }
}

/// Make the environment's read-write members the group's users (the owner stays).
pub(crate) async fn converge_members(
    cx: &Cx,
    id: &str,
    now: &BTreeSet<String>,
    want: &BTreeSet<String>,
) -> Result<(), StepError> {
    let c9 = &cx.aws.cloud9;
    for user in want.difference(now) {
        match c9
            .create_environment_membership()
            .environment_id(id)
            .user_arn(user)
            .permissions(c9::MemberPermissions::ReadWrite)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_code(&e, "ConflictException") => {}
            Err(e) => return Err(call_error("cloud9:CreateEnvironmentMembership", e)),
        }
    }
    for user in now.difference(want) {
        match c9.delete_environment_membership().environment_id(id).user_arn(user).send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "NotFoundException") => {}
            Err(e) => return Err(call_error("cloud9:DeleteEnvironmentMembership", e)),
        }
    }
    Ok(())
}
