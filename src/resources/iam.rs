//! What roles and groups share: the IAM snapshot read in wave one, the permissions a
//! role or group is given (one inline policy named `bumarket-infra` plus attached
//! managed policies), and the calls that converge them, written once for both.
//!
//! IAM ownership is the path `/bumarket-infra/<stack>/`: IAM names are unique in an
//! account, so a role or group with a wanted name outside that path is not ours.

use super::{policy, Cx};
use crate::apply::StepError;
use crate::aws::{call_error, Aws};
use aws_sdk_iam::types::{EntityType, GroupDetail, InstanceProfile, RoleDetail};
use bumarket_stack::{BucketAccess, Permissions};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Name of the one inline policy the tool writes on each role and group.
pub const INLINE_POLICY: &str = "bumarket-infra";

/// Every role and group of the account (with policies and tags), and the stack's
/// instance profiles.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub roles: Vec<RoleDetail>,
    pub groups: Vec<GroupDetail>,
    pub profiles: Vec<InstanceProfile>,
}

impl Snapshot {
    /// Two calls in parallel: authorization details (roles, groups) and the instance
    /// profiles under the stack's path.
    pub async fn fetch(aws: &Aws, stack: &str) -> Result<Snapshot, StepError> {
        let path = super::iam_path(stack);
        let details = async {
            let mut snap = Snapshot::default();
            let mut marker = None;
            loop {
                let out = aws
                    .iam
                    .get_account_authorization_details()
                    .filter(EntityType::Role)
                    .filter(EntityType::Group)
                    // The most IAM allows: a page per 1000 roles and groups, not per 100.
                    .max_items(1000)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| call_error("iam:GetAccountAuthorizationDetails", e))?;
                snap.roles.extend(out.role_detail_list.unwrap_or_default());
                snap.groups.extend(out.group_detail_list.unwrap_or_default());
                marker = out.marker.filter(|_| out.is_truncated);
                if marker.is_none() {
                    return Ok::<_, StepError>(snap);
                }
            }
        };
        let profiles = async {
            let mut all = Vec::new();
            let mut pages = aws.iam.list_instance_profiles().path_prefix(&path).into_paginator().send();
            while let Some(page) = pages.next().await {
                all.extend(page.map_err(|e| call_error("iam:ListInstanceProfiles", e))?.instance_profiles);
            }
            Ok::<_, StepError>(all)
        };
        let (snap, profiles) = tokio::try_join!(details, profiles)?;
        Ok(Snapshot { profiles, ..snap })
    }
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
}
