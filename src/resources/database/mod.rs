//! The database: `db_subnet_group.main` over the private subnets and `database.main`, the
//! RDS instance inside it behind `security_group.db`. The master password is never in
//! the file, a plan or a log: RDS keeps it in Secrets Manager and `output` names only the
//! secret's ARN.
//!
//! Both carry the stack's tags, which say who owns them; a group or instance with our
//! name but without our tag is foreign and never touched. Deletion protection makes
//! `destroy` refuse before anything runs, and a delete keeps a final snapshot unless the
//! file says `final_snapshot: false`.

pub mod attrs;
pub mod instance;
pub mod modify;
pub mod secret;
pub mod subnet_group;

use super::Cx;
use crate::engine::Ownership;
use aws_sdk_rds::types::Tag;
use std::collections::BTreeMap;

/// Physical name of the DB subnet group: `<stack>-db`.
pub fn subnet_group_name(cx: &Cx) -> String {
    cx.stack.name_of("db_subnet_group.main", || format!("{}-db", cx.stack.name))
}

/// The instance identifier: the file's or `<stack>-db` (RDS keeps identifiers lower case).
pub fn identifier(cx: &Cx) -> String {
    cx.stack.database.as_ref().and_then(|d| d.identifier.clone()).unwrap_or_else(|| format!("{}-db", cx.stack.name))
}

/// RDS tags as a sorted map.
pub fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default()))).collect()
}

/// RDS tags from a map.
pub fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Ours when tagged with this stack; otherwise another stack's or no stack's, saying why.
pub fn ownership(cx: &Cx, what: &str, tags: &BTreeMap<String, String>) -> Ownership {
    cx.tag_ownership(&format!("{what} of that name"), tags)
}

/// Converge an RDS resource's tags (by ARN) from `before` to `after`.
pub async fn converge_tags(
    cx: &Cx,
    arn: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), crate::apply::StepError> {
    use crate::aws::call_error;
    let (set, remove) = super::tag_delta(before, after);
    if !set.is_empty() {
        cx.aws
            .rds
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(to_tags(&set)))
            .send()
            .await
            .map_err(|e| call_error("rds:AddTagsToResource", e))?;
    }
    if !remove.is_empty() {
        cx.aws
            .rds
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| call_error("rds:RemoveTagsFromResource", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
