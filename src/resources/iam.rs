//! What roles and groups share: the IAM snapshot read in wave one, the permissions a
//! role or group is given (one inline policy named `bumarket-infra` plus attached
//! managed policies), and the calls that read and converge them, written once for both.
//!
//! IAM ownership is the path `/bumarket-infra/<stack>/`: IAM names are unique in an
//! account, so a role or group with a wanted name outside that path is not ours.
//!
//! The read asks IAM only about the stack: the listings under its path (what it owns,
//! including what left the file) and the file's names, each read by name (what it wants,
//! ours or not). Nothing is read of the rest of the account, so a plan costs the same in
//! an account of a thousand roles, and its deployer needs no account-wide read.

use super::{policy, Cx};
use crate::apply::StepError;
use crate::aws::{call_error, is_code, Aws};
use aws_smithy_runtime_api::client::result::SdkError;
use bumarket_stack::{BucketAccess, Permissions, Stack};
use futures::future::try_join_all;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Name of the one inline policy the tool writes on each role and group.
pub const INLINE_POLICY: &str = "bumarket-infra";

/// The most items IAM gives in one page of a listing (its `MaxItems` limit).
const PAGE: i32 = 1000;

/// The IAM names the stack file wants, read by name in wave one (the providers'
/// `desired` names: a unit test holds them to it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub roles: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub profiles: BTreeSet<String>,
}

impl Wanted {
    pub fn of(stack: &Stack) -> Wanted {
        let access = &stack.access;
        let role = |logical: &String| super::role::name_in(stack, logical);
        Wanted {
            roles: access
                .roles
                .keys()
                .map(role)
                .chain(
                    super::monitoring::delivery_stream::service_role_names(stack)
                        .into_iter()
                        .map(|l| super::role::name_in(stack, l)),
                )
                .collect(),
            groups: access.groups.keys().map(|l| super::group::name_in(stack, l)).collect(),
            profiles: access.roles.iter().filter(|(_, r)| r.instance_profile).map(|(l, _)| role(l)).collect(),
        }
    }
}

/// A role as GetRole returns it, with its inline and attached managed policies.
#[derive(Debug, Clone)]
pub struct RoleRead {
    pub name: String,
    pub path: String,
    pub arn: String,
    /// The trust policy as IAM returns it (URL-encoded).
    pub trust: String,
    pub tags: BTreeMap<String, String>,
    pub policies: Policies,
}

/// A group as GetGroup returns it (groups take no tags), with its policies.
#[derive(Debug, Clone)]
pub struct GroupRead {
    pub name: String,
    pub path: String,
    pub arn: String,
    pub policies: Policies,
}

/// An instance profile as GetInstanceProfile returns it.
#[derive(Debug, Clone)]
pub struct ProfileRead {
    pub name: String,
    pub path: String,
    pub arn: String,
    /// The role it holds (a profile holds at most one).
    pub role: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// The policies of a role or group: inline ones (name and document as IAM returns it,
/// URL-encoded) and the ARNs of attached managed ones.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub inline: Vec<(String, String)>,
    pub managed: Vec<String>,
}

/// The stack's roles, groups and instance profiles: those under its path, and those of
/// a wanted name wherever they live (the providers mark the latter foreign).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub roles: Vec<RoleRead>,
    pub groups: Vec<GroupRead>,
    pub profiles: Vec<ProfileRead>,
}

impl Snapshot {
    /// Wave one: the three listings under the stack's path and every wanted name, read
    /// by name, all at once, so a converged stack's IAM is one round trip deep. Wave two
    /// reads what the listings found that wave one did not (what left the file).
    ///
    /// Only names are taken from the listings, because they leave out the tags, and the
    /// tags carry the address: IAM API Reference, ListRoles ("This operation does not
    /// return the following attributes, even though they are an attribute of the
    /// returned object: PermissionsBoundary RoleLastUsed Tags. To view all of the
    /// information for a role, see GetRole") and ListInstanceProfiles ("this operation
    /// does not return tags ... see GetInstanceProfile"). So each is read by name:
    /// GetRole and GetInstanceProfile return the whole object, tags included (their
    /// `Role` and `InstanceProfile` carry `Tags`).
    pub async fn fetch(aws: &Aws, stack: &str, wanted: &Wanted) -> Result<Snapshot, StepError> {
        let path = super::iam_path(stack);
        let (listed_roles, listed_groups, listed_profiles, roles, groups, profiles) = tokio::try_join!(
            list_roles(aws, &path),
            list_groups(aws, &path),
            list_profiles(aws, &path),
            try_join_all(wanted.roles.iter().map(|n| read_role(aws, n))),
            try_join_all(wanted.groups.iter().map(|n| read_group(aws, n))),
            try_join_all(wanted.profiles.iter().map(|n| read_profile(aws, n))),
        )?;
        let mut snap = Snapshot {
            roles: roles.into_iter().flatten().collect(),
            groups: groups.into_iter().flatten().collect(),
            profiles: profiles.into_iter().flatten().collect(),
        };
        // Listed but not read yet: no longer in the file (or made since wave one asked).
        let unread = |listed: Vec<String>, read: BTreeSet<&str>| -> Vec<String> {
            listed.into_iter().filter(|n| !read.contains(n.as_str())).collect()
        };
        let more_roles = unread(listed_roles, snap.roles.iter().map(|r| r.name.as_str()).collect());
        let more_groups = unread(listed_groups, snap.groups.iter().map(|g| g.name.as_str()).collect());
        let more_profiles = unread(listed_profiles, snap.profiles.iter().map(|p| p.name.as_str()).collect());
        let (roles, groups, profiles) = tokio::try_join!(
            try_join_all(more_roles.iter().map(|n| read_role(aws, n))),
            try_join_all(more_groups.iter().map(|n| read_group(aws, n))),
            try_join_all(more_profiles.iter().map(|n| read_profile(aws, n))),
        )?;
        snap.roles.extend(roles.into_iter().flatten());
        snap.groups.extend(groups.into_iter().flatten());
        snap.profiles.extend(profiles.into_iter().flatten());
        Ok(snap)
    }
}

/// An answer of a call by name, with `NoSuchEntity` (nothing of that name) as `None`.
fn found<T, E, R>(call: &str, answer: Result<T, SdkError<E, R>>) -> Result<Option<T>, StepError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + crate::aws::error::HasStatus + 'static,
{
    match answer {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_code(&e, "NoSuchEntity") => Ok(None),
        Err(e) => Err(call_error(call, e)),
    }
}

fn tag_map(tags: &[aws_sdk_iam::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect()
}

/// Names of the roles exactly under `path` (PathPrefix also matches deeper paths).
async fn list_roles(aws: &Aws, path: &str) -> Result<Vec<String>, StepError> {
    let mut names = Vec::new();
    let mut pages = aws.iam.list_roles().path_prefix(path).max_items(PAGE).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("iam:ListRoles", e))?;
        names.extend(page.roles.into_iter().filter(|r| r.path == path).map(|r| r.role_name));
    }
    Ok(names)
}

/// Names of the groups exactly under `path` (checked here too: moto 5.2.5 ignores
/// `PathPrefix` on this call).
async fn list_groups(aws: &Aws, path: &str) -> Result<Vec<String>, StepError> {
    let mut names = Vec::new();
    let mut pages = aws.iam.list_groups().path_prefix(path).max_items(PAGE).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("iam:ListGroups", e))?;
        names.extend(page.groups.into_iter().filter(|g| g.path == path).map(|g| g.group_name));
    }
    Ok(names)
}

/// Names of the instance profiles exactly under `path` (checked here too: moto 5.2.5
/// ignores `PathPrefix` on this call).
async fn list_profiles(aws: &Aws, path: &str) -> Result<Vec<String>, StepError> {
    let mut names = Vec::new();
    let mut pages = aws.iam.list_instance_profiles().path_prefix(path).max_items(PAGE).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("iam:ListInstanceProfiles", e))?;
        names.extend(page.instance_profiles.into_iter().filter(|p| p.path == path).map(|p| p.instance_profile_name));
    }
    Ok(names)
}

/// A role by name, `None` when there is none. GetRole and the policy reads go out
/// together: a converged role costs one round trip.
pub async fn read_role(aws: &Aws, name: &str) -> Result<Option<RoleRead>, StepError> {
    let get = async { found("iam:GetRole", aws.iam.get_role().role_name(name).send().await) };
    let (role, policies) = tokio::join!(get, Holder::Role(name).read_policies(aws));
    let Some(role) = role?.and_then(|out| out.role) else { return Ok(None) };
    // Deleted between the calls: as absent as if GetRole had said so.
    let Some(policies) = policies? else { return Ok(None) };
    Ok(Some(RoleRead {
        tags: tag_map(role.tags()),
        trust: role.assume_role_policy_document.unwrap_or_else(|| "{}".into()),
        name: role.role_name,
        path: role.path,
        arn: role.arn,
        policies,
    }))
}

/// A group by name, `None` when there is none.
pub async fn read_group(aws: &Aws, name: &str) -> Result<Option<GroupRead>, StepError> {
    // GetGroup pages through the group's users; only the group is needed here.
    let get = async { found("iam:GetGroup", aws.iam.get_group().group_name(name).max_items(1).send().await) };
    let (group, policies) = tokio::join!(get, Holder::Group(name).read_policies(aws));
    let Some(group) = group?.and_then(|out| out.group) else { return Ok(None) };
    let Some(policies) = policies? else { return Ok(None) };
    Ok(Some(GroupRead { name: group.group_name, path: group.path, arn: group.arn, policies }))
}

/// An instance profile by name, `None` when there is none. Its tags come from here:
/// ListInstanceProfiles does not return them (IAM API Reference, ListInstanceProfiles:
/// "this operation does not return tags ... To view all of the information for an
/// instance profile, see GetInstanceProfile"), and GetInstanceProfile gives the role too.
async fn read_profile(aws: &Aws, name: &str) -> Result<Option<ProfileRead>, StepError> {
    let answer = aws.iam.get_instance_profile().instance_profile_name(name).send().await;
    let Some(ip) = found("iam:GetInstanceProfile", answer)?.and_then(|out| out.instance_profile) else {
        return Ok(None);
    };
    Ok(Some(ProfileRead {
        tags: tag_map(ip.tags()),
        role: ip.roles.into_iter().next().map(|r| r.role_name),
        name: ip.instance_profile_name,
        path: ip.path,
        arn: ip.arn,
    }))
}

/// A policy document as IAM returns it → canonical JSON. IAM URL-encodes documents;
/// some endpoints return plain JSON, recognisable by its leading `{`.
pub fn decode_document(raw: &str) -> Value {
    let text = if raw.trim_start().starts_with('{') {
        raw.to_string()
    } else {
        urlencoding::decode(raw).map_or_else(|_| raw.to_string(), |c| c.into_owned())
    };
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    policy::normalize(&v)
}

/// `inline_policies` attribute from a list of (name, raw document).
pub fn inline_from<'a>(list: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let m: Map<String, Value> = list.into_iter().map(|(n, d)| (n.to_string(), decode_document(d))).collect();
    sorted(m)
}

fn sorted(m: Map<String, Value>) -> Value {
    let b: BTreeMap<String, Value> = m.into_iter().collect();
    Value::Object(b.into_iter().collect())
}

/// `managed_policies` attribute: sorted ARNs.
pub fn managed_from<'a>(arns: impl IntoIterator<Item = &'a str>) -> Value {
    let set: BTreeSet<&str> = arns.into_iter().collect();
    json!(set)
}

/// The desired `inline_policies` and `managed_policies` of a role or group.
pub fn permission_attrs(cx: &Cx, perms: &Permissions) -> (Value, Value) {
    let mut statements: Vec<Value> = perms.grants.iter().flat_map(|g| grant_statements(cx, g)).collect();
    statements.extend(perms.statements.iter().cloned());
    let mut inline = Map::new();
    if !statements.is_empty() {
        inline.insert(INLINE_POLICY.into(), policy::document(statements));
    }
    (sorted(inline), managed_from(perms.managed_policies.iter().map(String::as_str)))
}

/// Least-privilege statements for a grant on one of the stack's buckets.
fn grant_statements(cx: &Cx, g: &bumarket_stack::Grant) -> Vec<Value> {
    let bucket = super::bucket::physical_name(cx, &g.bucket);
    let p = cx.partition();
    let bucket_arn = format!("arn:{p}:s3:::{bucket}");
    let objects = format!("{bucket_arn}/{}*", g.prefix);
    let list = if g.prefix.is_empty() {
        json!({"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]})
    } else {
        json!({"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn],
               "Condition": {"StringLike": {"s3:prefix": [format!("{}*", g.prefix)]}}})
    };
    let read = json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [objects]});
    let write =
        json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"], "Resource": [objects]});
    let delete = json!({"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": [objects]});
    match g.access {
        BucketAccess::Read => vec![list, read],
        BucketAccess::Write => vec![write],
        BucketAccess::ReadWrite => vec![list, read, write, delete],
    }
}

/// A role or a group: the holder of inline and managed policies.
#[derive(Debug, Clone, Copy)]
pub enum Holder<'a> {
    Role(&'a str),
    Group(&'a str),
}

impl Holder<'_> {
    /// Its inline and attached managed policies; `None` when it does not exist. The
    /// listings and the tool's own inline policy go out at once (one round trip for a
    /// role or group of the stack); other inline policies are read once listed.
    async fn read_policies(self, aws: &Aws) -> Result<Option<Policies>, StepError> {
        let (names, ours, managed) =
            tokio::join!(self.inline_names(aws), self.inline(aws, INLINE_POLICY), self.attached(aws));
        let (Some(names), Some(managed)) = (names?, managed?) else { return Ok(None) };
        let ours = ours?;
        let read = names.into_iter().map(|name| {
            let known = ours.clone().filter(|_| name == INLINE_POLICY);
            async move {
                let doc = match known {
                    Some(doc) => Some(doc),
                    None => self.inline(aws, &name).await?,
                };
                // Deleted since it was listed: not there.
                Ok::<_, StepError>(doc.map(|d| (name, d)))
            }
        });
        let inline = try_join_all(read).await?.into_iter().flatten().collect();
        Ok(Some(Policies { inline, managed }))
    }

    /// The names of its inline policies (ListRolePolicies, ListGroupPolicies).
    async fn inline_names(&self, aws: &Aws) -> Result<Option<Vec<String>>, StepError> {
        let mut names = Vec::new();
        match *self {
            Holder::Role(r) => {
                let mut pages = aws.iam.list_role_policies().role_name(r).max_items(PAGE).into_paginator().send();
                while let Some(page) = pages.next().await {
                    let Some(page) = found("iam:ListRolePolicies", page)? else { return Ok(None) };
                    names.extend(page.policy_names);
                }
            }
            Holder::Group(g) => {
                let mut pages = aws.iam.list_group_policies().group_name(g).max_items(PAGE).into_paginator().send();
                while let Some(page) = pages.next().await {
                    let Some(page) = found("iam:ListGroupPolicies", page)? else { return Ok(None) };
                    names.extend(page.policy_names);
                }
            }
        }
        Ok(Some(names))
    }

    /// One inline policy's document as IAM returns it (URL-encoded); `None` when it (or
    /// its holder) does not exist.
    async fn inline(&self, aws: &Aws, name: &str) -> Result<Option<String>, StepError> {
        Ok(match *self {
            Holder::Role(r) => {
                let answer = aws.iam.get_role_policy().role_name(r).policy_name(name).send().await;
                found("iam:GetRolePolicy", answer)?.map(|out| out.policy_document)
            }
            Holder::Group(g) => {
                let answer = aws.iam.get_group_policy().group_name(g).policy_name(name).send().await;
                found("iam:GetGroupPolicy", answer)?.map(|out| out.policy_document)
            }
        })
    }

    /// The ARNs of its attached managed policies.
    async fn attached(&self, aws: &Aws) -> Result<Option<Vec<String>>, StepError> {
        let mut arns = Vec::new();
        match *self {
            Holder::Role(r) => {
                let mut pages =
                    aws.iam.list_attached_role_policies().role_name(r).max_items(PAGE).into_paginator().send();
                while let Some(page) = pages.next().await {
                    let Some(page) = found("iam:ListAttachedRolePolicies", page)? else { return Ok(None) };
                    arns.extend(page.attached_policies.unwrap_or_default().into_iter().filter_map(|p| p.policy_arn));
                }
            }
            Holder::Group(g) => {
                let mut pages =
                    aws.iam.list_attached_group_policies().group_name(g).max_items(PAGE).into_paginator().send();
                while let Some(page) = pages.next().await {
                    let Some(page) = found("iam:ListAttachedGroupPolicies", page)? else { return Ok(None) };
                    arns.extend(page.attached_policies.unwrap_or_default().into_iter().filter_map(|p| p.policy_arn));
                }
            }
        }
        Ok(Some(arns))
    }

    async fn put_inline(&self, aws: &Aws, name: &str, doc: &Value) -> Result<(), StepError> {
        let doc = doc.to_string();
        match *self {
            Holder::Role(r) => aws
                .iam
                .put_role_policy()
                .role_name(r)
                .policy_name(name)
                .policy_document(doc)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("iam:PutRolePolicy", e)),
            Holder::Group(g) => aws
                .iam
                .put_group_policy()
                .group_name(g)
                .policy_name(name)
                .policy_document(doc)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("iam:PutGroupPolicy", e)),
        }
    }

    async fn delete_inline(&self, aws: &Aws, name: &str) -> Result<(), StepError> {
        match *self {
            Holder::Role(r) => aws
                .iam
                .delete_role_policy()
                .role_name(r)
                .policy_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("iam:DeleteRolePolicy", e)),
            Holder::Group(g) => aws
                .iam
                .delete_group_policy()
                .group_name(g)
                .policy_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("iam:DeleteGroupPolicy", e)),
        }
    }

    async fn attach(&self, aws: &Aws, arn: &str) -> Result<(), StepError> {
        let hint = |e: StepError| {
            e.hint(format!("check that `{arn}` exists; AWS-managed policies are named as in the IAM console"))
        };
        match *self {
            Holder::Role(r) => aws
                .iam
                .attach_role_policy()
                .role_name(r)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| hint(call_error("iam:AttachRolePolicy", e))),
            Holder::Group(g) => aws
                .iam
                .attach_group_policy()
                .group_name(g)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| hint(call_error("iam:AttachGroupPolicy", e))),
        }
    }

    async fn detach(&self, aws: &Aws, arn: &str) -> Result<(), StepError> {
        match *self {
            Holder::Role(r) => aws
                .iam
                .detach_role_policy()
                .role_name(r)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("iam:DetachRolePolicy", e)),
            Holder::Group(g) => aws
                .iam
                .detach_group_policy()
                .group_name(g)
                .policy_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("iam:DetachGroupPolicy", e)),
        }
    }

    /// Make the inline policies equal `after` (given what is there now: `before`).
    pub async fn converge_inline(
        &self,
        aws: &Aws,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<(), StepError> {
        let empty = Map::new();
        let before = before.and_then(Value::as_object).unwrap_or(&empty);
        let after = after.and_then(Value::as_object).unwrap_or(&empty);
        let puts = after.iter().filter(|(n, d)| before.get(*n) != Some(d)).map(|(n, d)| self.put_inline(aws, n, d));
        futures::future::try_join_all(puts).await?;
        let deletes = before.keys().filter(|n| !after.contains_key(*n)).map(|n| self.delete_inline(aws, n));
        futures::future::try_join_all(deletes).await?;
        Ok(())
    }

    /// Make the attached managed policies equal `after`.
    pub async fn converge_managed(
        &self,
        aws: &Aws,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<(), StepError> {
        let set = |v: Option<&Value>| -> BTreeSet<String> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default()
        };
        let (before, after) = (set(before), set(after));
        futures::future::try_join_all(after.difference(&before).map(|a| self.attach(aws, a))).await?;
        futures::future::try_join_all(before.difference(&after).map(|a| self.detach(aws, a))).await?;
        Ok(())
    }
}

/// An IAM entity a create may meet already there.
pub enum Entity<'a> {
    Role(&'a str),
    Group(&'a str),
    InstanceProfile(&'a str),
}

/// The answer to a create that says `EntityAlreadyExists`: fine when the entity lives
/// under the stack's path, because then it is ours, made by an earlier try of this very
/// call whose answer was lost (the SDK retries a dropped connection) or by a run killed
/// before it could read the answer. Anything else stays the error it was.
pub async fn created_or_ours<E, R>(
    aws: &Aws,
    entity: Entity<'_>,
    path: &str,
    call: &str,
    result: Result<(), aws_smithy_runtime_api::client::result::SdkError<E, R>>,
) -> Result<(), StepError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + crate::aws::error::HasStatus + 'static,
{
    let Err(err) = result else { return Ok(()) };
    if !crate::aws::is_code(&err, "EntityAlreadyExists") {
        return Err(call_error(call, err));
    }
    let found = match entity {
        Entity::Role(n) => aws.iam.get_role().role_name(n).send().await.ok().and_then(|o| o.role).map(|r| r.path),
        Entity::Group(n) => aws.iam.get_group().group_name(n).send().await.ok().and_then(|o| o.group).map(|g| g.path),
        Entity::InstanceProfile(n) => aws
            .iam
            .get_instance_profile()
            .instance_profile_name(n)
            .send()
            .await
            .ok()
            .and_then(|o| o.instance_profile)
            .map(|p| p.path),
    };
    if found.as_deref() == Some(path) {
        Ok(())
    } else {
        Err(call_error(call, err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_from_iam_are_url_decoded_and_normalized() {
        let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22%2A%22%7D%7D";
        let want = policy::document(vec![json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})]);
        assert_eq!(decode_document(raw), want);
        // Plain JSON (as some endpoints return) is read as well.
        assert_eq!(decode_document(&want.to_string()), want);
    }

    async fn seed_cx() -> Cx {
        let file = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml"));
        let stack = bumarket_stack::load_env(file, Some("prod")).unwrap();
        let aws = Aws::connect(&crate::aws::Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
        Cx::new(aws, stack, "123456789012".into(), None)
    }

    /// Wave one reads by name exactly what the providers will look for.
    #[tokio::test]
    async fn the_names_read_in_wave_one_are_the_files_iam_names() {
        use crate::engine::Kind;
        let cx = seed_cx().await;
        let names = |kind: Kind| -> BTreeSet<String> {
            super::super::provider(kind).desired(&cx).into_iter().map(|d| d.name).collect()
        };
        let wanted = Wanted::of(&cx.stack);
        assert_eq!(wanted.roles, names(Kind::Role));
        assert_eq!(wanted.groups, names(Kind::Group));
        assert_eq!(wanted.profiles, names(Kind::InstanceProfile));
        // The file's two roles and the two of log delivery (CloudWatch Logs → Firehose → S3).
        assert_eq!(wanted.roles.len(), 4, "{wanted:?}");
        assert!(
            wanted.roles.contains("bumarket-prod-logs-to-firehose")
                && wanted.roles.contains("bumarket-prod-firehose-to-s3")
        );
        assert_eq!(wanted.profiles.len(), 1, "{wanted:?}");
    }

    mod canned {
        use super::*;
        use aws_sdk_iam::operation::get_group::GetGroupError;
        use aws_sdk_iam::operation::get_instance_profile::{GetInstanceProfileError, GetInstanceProfileOutput};
        use aws_sdk_iam::operation::get_role::{GetRoleError, GetRoleOutput};
        use aws_sdk_iam::operation::get_role_policy::{GetRolePolicyError, GetRolePolicyOutput};
        use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
        use aws_sdk_iam::operation::list_groups::ListGroupsOutput;
        use aws_sdk_iam::operation::list_instance_profiles::ListInstanceProfilesOutput;
        use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
        use aws_sdk_iam::operation::list_roles::ListRolesOutput;
        use aws_sdk_iam::types::error::NoSuchEntityException;
        use aws_sdk_iam::types::{AttachedPolicy, InstanceProfile, Role, Tag};
        use aws_sdk_iam::Client;
        use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
        use aws_smithy_types::error::ErrorMetadata;

        const PATH: &str = "/bumarket-infra/shop/";

        fn no_such_entity() -> NoSuchEntityException {
            NoSuchEntityException::builder()
                .message("not found")
                .meta(ErrorMetadata::builder().code("NoSuchEntity").message("not found").build())
                .build()
        }

        fn role(name: &str, path: &str, tags: &[(&str, &str)]) -> Role {
            let tags = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap()).collect();
            Role::builder()
                .role_name(name)
                .path(path)
                .role_id(format!("AROA{name}"))
                .arn(format!("arn:aws:iam::123456789012:role{path}{name}"))
                .create_date(aws_smithy_types::DateTime::from_secs(0))
                .assume_role_policy_document("%7B%7D")
                .set_tags(Some(tags))
                .build()
                .unwrap()
        }

        fn listed_profile(name: &str, path: &str) -> aws_sdk_iam::types::builders::InstanceProfileBuilder {
            InstanceProfile::builder()
                .instance_profile_name(name)
                .path(path)
                .instance_profile_id(format!("AIPA{name}"))
                .arn(format!("arn:aws:iam::123456789012:instance-profile{path}{name}"))
                .create_date(aws_smithy_types::DateTime::from_secs(0))
                .roles(role(name, path, &[]))
        }

        async fn aws(rules: &[&Rule]) -> Aws {
            let mut aws =
                Aws::connect(&crate::aws::Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
            aws.iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules);
            aws
        }

        /// The listing is read page after page; what it finds that the file does not name
        /// is read by name (its tags place it); a wanted name IAM does not know is absent;
        /// a deeper path and other inline policies are handled; nothing else is asked.
        #[tokio::test]
        async fn roles_come_from_the_paths_pages_and_the_files_names() {
            let page1 = mock!(Client::list_roles)
                .match_requests(|r| r.path_prefix() == Some(PATH) && r.marker().is_none())
                .then_output(|| {
                    let deeper = role("shop-deeper", "/bumarket-infra/shop/x/", &[]);
                    let app = role("shop-app", PATH, &[]);
                    ListRolesOutput::builder().roles(app).roles(deeper).is_truncated(true).marker("m1").build().unwrap()
                });
            let page2 = mock!(Client::list_roles)
                .match_requests(|r| r.marker() == Some("m1"))
                .then_output(|| ListRolesOutput::builder().roles(role("shop-old", PATH, &[])).build().unwrap());
            let get_app =
                mock!(Client::get_role).match_requests(|r| r.role_name() == Some("shop-app")).then_output(|| {
                    let tags = [("bumarket-infra:stack", "shop"), ("bumarket-infra:resource", "role.app")];
                    GetRoleOutput::builder().role(role("shop-app", PATH, &tags)).build()
                });
            let get_old =
                mock!(Client::get_role).match_requests(|r| r.role_name() == Some("shop-old")).then_output(|| {
                    let tags = [("bumarket-infra:stack", "shop"), ("bumarket-infra:resource", "role.old")];
                    GetRoleOutput::builder().role(role("shop-old", PATH, &tags)).build()
                });
            let get_gone = mock!(Client::get_role)
                .match_requests(|r| r.role_name() == Some("shop-gone"))
                .then_error(|| GetRoleError::NoSuchEntityException(no_such_entity()));
            let names = mock!(Client::list_role_policies)
                .match_requests(|r| r.role_name() == Some("shop-app"))
                .then_output(|| {
                    ListRolePoliciesOutput::builder().policy_names(INLINE_POLICY).policy_names("extra").build().unwrap()
                });
            let no_names = mock!(Client::list_role_policies)
                .then_output(|| ListRolePoliciesOutput::builder().set_policy_names(Some(vec![])).build().unwrap());
            let doc = |role: &str, name: &str| {
                GetRolePolicyOutput::builder()
                    .role_name(role)
                    .policy_name(name)
                    .policy_document(format!("%7B%22Id%22%3A%22{name}%22%7D"))
                    .build()
                    .unwrap()
            };
            let ours = mock!(Client::get_role_policy)
                .match_requests(|r| r.role_name() == Some("shop-app") && r.policy_name() == Some(INLINE_POLICY))
                .then_output(move || doc("shop-app", INLINE_POLICY));
            let extra = mock!(Client::get_role_policy)
                .match_requests(|r| r.role_name() == Some("shop-app") && r.policy_name() == Some("extra"))
                .then_output(move || doc("shop-app", "extra"));
            let none = mock!(Client::get_role_policy)
                .then_error(|| GetRolePolicyError::NoSuchEntityException(no_such_entity()));
            let attached = mock!(Client::list_attached_role_policies).then_output(|| {
                let p = AttachedPolicy::builder().policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess").build();
                ListAttachedRolePoliciesOutput::builder().attached_policies(p).build()
            });
            let groups = mock!(Client::list_groups)
                .then_output(|| ListGroupsOutput::builder().set_groups(Some(vec![])).build().unwrap());
            let profiles = mock!(Client::list_instance_profiles).then_output(|| {
                ListInstanceProfilesOutput::builder().set_instance_profiles(Some(vec![])).build().unwrap()
            });
            let rules =
                [&page1, &page2, &get_app, &get_old, &get_gone, &names, &no_names, &ours, &extra, &none, &attached];
            let aws = aws(&[rules.as_slice(), &[&groups, &profiles]].concat()).await;
            let wanted = Wanted { roles: ["shop-app", "shop-gone"].map(String::from).into(), ..Default::default() };

            let snap = Snapshot::fetch(&aws, "shop", &wanted).await.unwrap();
            let mut roles: Vec<&RoleRead> = snap.roles.iter().collect();
            roles.sort_by_key(|r| r.name.clone());
            let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(names, ["shop-app", "shop-old"], "absent and deeper roles are not the stack's");
            assert_eq!(roles[1].tags["bumarket-infra:resource"], "role.old", "its tags come from GetRole");
            let inline: Vec<&str> = roles[0].policies.inline.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(inline, [INLINE_POLICY, "extra"]);
            assert_eq!(roles[0].policies.managed, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
            assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1), "both pages are read");
            assert_eq!((get_app.num_calls(), get_old.num_calls(), get_gone.num_calls()), (1, 1, 1));
            // The tool's own inline policy is asked once (in wave one), the other once listed.
            assert_eq!((ours.num_calls(), extra.num_calls()), (1, 1));
            assert!(snap.groups.is_empty() && snap.profiles.is_empty());
        }

        /// An instance profile's tags and role come from GetInstanceProfile; one of a
        /// wanted name outside the path is read (the provider calls it foreign); a group
        /// that GetGroup does not know is absent.
        #[tokio::test]
        async fn profiles_and_groups_are_read_by_name() {
            let profile = |name: &str, path: &str| {
                let tag = Tag::builder().key("bumarket-infra:resource").value("instance_profile.app").build().unwrap();
                listed_profile(name, path).tags(tag).build().unwrap()
            };
            let listed = mock!(Client::list_instance_profiles).then_output(|| {
                // Listed without tags, as AWS answers; and one outside the path (moto
                // ignores PathPrefix here).
                ListInstanceProfilesOutput::builder()
                    .instance_profiles(listed_profile("shop-app", PATH).build().unwrap())
                    .instance_profiles(listed_profile("other", "/").build().unwrap())
                    .build()
                    .unwrap()
            });
            let get_app = mock!(Client::get_instance_profile)
                .match_requests(|r| r.instance_profile_name() == Some("shop-app"))
                .then_output(move || {
                    GetInstanceProfileOutput::builder().instance_profile(profile("shop-app", PATH)).build()
                });
            let get_db = mock!(Client::get_instance_profile)
                .match_requests(|r| r.instance_profile_name() == Some("shop-db"))
                .then_output(move || {
                    GetInstanceProfileOutput::builder().instance_profile(profile("shop-db", "/")).build()
                });
            let get_other = mock!(Client::get_instance_profile)
                .match_requests(|r| r.instance_profile_name() == Some("other"))
                .then_error(|| GetInstanceProfileError::NoSuchEntityException(no_such_entity()));
            let roles = mock!(Client::list_roles)
                .then_output(|| ListRolesOutput::builder().set_roles(Some(vec![])).build().unwrap());
            let groups = mock!(Client::list_groups)
                .then_output(|| ListGroupsOutput::builder().set_groups(Some(vec![])).build().unwrap());
            let get_group =
                mock!(Client::get_group).then_error(|| GetGroupError::NoSuchEntityException(no_such_entity()));
            let group_names = mock!(Client::list_group_policies).then_error(|| {
                aws_sdk_iam::operation::list_group_policies::ListGroupPoliciesError::NoSuchEntityException(
                    no_such_entity(),
                )
            });
            let group_policy = mock!(Client::get_group_policy).then_error(|| {
                aws_sdk_iam::operation::get_group_policy::GetGroupPolicyError::NoSuchEntityException(no_such_entity())
            });
            let group_attached = mock!(Client::list_attached_group_policies).then_error(|| {
                aws_sdk_iam::operation::list_attached_group_policies::ListAttachedGroupPoliciesError::NoSuchEntityException(
                    no_such_entity(),
                )
            });
            let aws = aws(&[
                &listed,
                &get_app,
                &get_db,
                &get_other,
                &roles,
                &groups,
                &get_group,
                &group_names,
                &group_policy,
                &group_attached,
            ])
            .await;
            let wanted = Wanted {
                profiles: ["shop-app", "shop-db"].map(String::from).into(),
                groups: ["shop-devs".to_string()].into(),
                ..Default::default()
            };
            let snap = Snapshot::fetch(&aws, "shop", &wanted).await.unwrap();
            let mut profiles: Vec<&ProfileRead> = snap.profiles.iter().collect();
            profiles.sort_by_key(|p| p.name.clone());
            let found: Vec<(&str, &str)> = profiles.iter().map(|p| (p.name.as_str(), p.path.as_str())).collect();
            assert_eq!(found, [("shop-app", PATH), ("shop-db", "/")]);
            assert_eq!(profiles[0].tags["bumarket-infra:resource"], "instance_profile.app");
            assert_eq!(profiles[0].role.as_deref(), Some("shop-app"));
            assert_eq!(get_other.num_calls(), 0, "a profile outside the path is never read for the listing's sake");
            assert_eq!(get_app.num_calls(), 1, "a wanted profile under the path is read once");
            assert!(snap.groups.is_empty(), "{:?}", snap.groups);
        }
    }
}
