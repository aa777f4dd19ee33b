//! `log_group.app` (`/bumarket-infra/<stack>/app`) and one `log_group.database-<type>`
//! per database log export (`/aws/rds/instance/<identifier>/<type>`), each with the
//! file's retention and the stack's tags. The database's groups are made ahead of the
//! database so RDS writes into a group with our retention instead of making its own.
//!
//! Reads: one `DescribeLogGroups` per name family (`/bumarket-infra/<stack>/`,
//! `/aws/rds/instance/<identifier>/`) finds the groups and their retention, and
//! `ListTagsForResource` of each the file names (or the tagging index lists) says whose
//! it is: never the index's tags, which lag behind.

use super::{database_identifier, tagged_of};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{tag_delta, tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct LogGroups;

fn app_prefix(cx: &Cx) -> String {
    format!("/bumarket-infra/{}/", cx.stack.name)
}

fn database_prefix(identifier: &str) -> String {
    format!("/aws/rds/instance/{identifier}/")
}

/// The group's name from its ARN (`arn:aws:logs:<region>:<account>:log-group:<name>[:*]`).
fn name_of(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":log-group:")?;
    Some(rest.strip_suffix(":*").unwrap_or(rest))
}

fn arn_of(cx: &Cx, name: &str) -> String {
    format!("arn:{}:logs:{}:{}:log-group:{name}", cx.partition(), cx.region(), cx.account)
}

/// A group's tags, from CloudWatch Logs; `None` when it is gone.
pub(crate) async fn group_tags(cx: &Cx, name: &str) -> Result<Option<BTreeMap<String, String>>, StepError> {
    match cx.aws.logs.list_tags_for_resource().resource_arn(arn_of(cx, name)).send().await {
        Ok(out) => Ok(Some(out.tags.unwrap_or_default().into_iter().collect())),
        Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(None),
        Err(e) => Err(call_error("logs:ListTagsForResource", e)),
    }
}

fn group_attrs(name: &str, retention: Option<i32>, tags: &BTreeMap<String, String>) -> Attrs {
    let mut a = Attrs::new();
    a.insert("name".into(), json!(name));
    a.insert("retention_days".into(), json!(retention));
    a.insert("tags".into(), tags_value(tags));
    a
}

/// The file's log groups: (logical name, name, the source of their logs: `app` or
/// `database`).
pub fn groups(cx: &Cx) -> Vec<(String, String, &'static str)> {
    if cx.stack.monitoring.is_none() {
        return vec![];
    }
    let mut groups = vec![("app".to_string(), format!("{}app", app_prefix(cx)), "app")];
    if let (Some(db), Some(id)) = (&cx.stack.database, database_identifier(cx)) {
        for t in &db.log_exports {
            groups.push((format!("database-{t}"), format!("{}{t}", database_prefix(&id)), "database"));
        }
    }
    groups
}

/// A log group keeps its name; its retention and tags change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::LogGroup,
    layer: 0,
    attrs: &[AttrSpec::replace("name"), AttrSpec::update("retention_days"), AttrSpec::update("tags")],
    deleted_after: &[],
};

#[async_trait]
impl Provider for LogGroups {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["logs:DescribeLogGroups", "logs:ListTagsForResource"],
            writes: &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
                "logs:UntagResource",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        let group = format!("arn:{}:logs:{}:*:log-group:{}", cx.partition(), cx.region(), d.name);
        vec![format!("{group}:*"), group]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let Some(m) = &cx.stack.monitoring else { return vec![] };
        let retention = i32::try_from(m.log_retention_days).ok();
        groups(cx)
            .into_iter()
            .map(|(logical, name, _)| {
                let addr = Addr::new(Kind::LogGroup, &logical);
                let attrs = group_attrs(&name, retention, &cx.tags(&addr));
                Desired { addr, name, attrs, deps: vec![] }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        // Found by CloudWatch Logs itself, one describe per name family of the file, side by
        // side with the index; then a group of the stack elsewhere (a former database
        // identifier's), which only the index names, by its own name. The index lags behind
        // new tags and keeps deleted groups.
        let describe = |prefix: String| async move {
            let mut groups = Vec::new();
            let mut pages = cx.aws.logs.describe_log_groups().log_group_name_prefix(&prefix).into_paginator().send();
            while let Some(page) = pages.next().await {
                groups
                    .extend(page.map_err(|e| call_error("logs:DescribeLogGroups", e))?.log_groups.unwrap_or_default());
            }
            Ok::<_, StepError>(groups)
        };
        let mut prefixes = Vec::new();
        if !wanted.is_empty() {
            prefixes.push(app_prefix(cx));
            prefixes.extend(database_identifier(cx).map(|id| database_prefix(&id)));
        }
        let by_file = futures::future::try_join_all(prefixes.iter().cloned().map(describe));
        let (by_file, tagged) = tokio::try_join!(by_file, live.tagged())?;
        let indexed: Vec<&str> = tagged_of(tagged, "logs").filter_map(|t| name_of(&t.arn)).collect();
        let outside = indexed.iter().filter(|n| !prefixes.iter().any(|p| n.starts_with(p.as_str())));
        let by_index = futures::future::try_join_all(outside.map(|n| describe(n.to_string()))).await?;
        let mut retention: BTreeMap<String, Option<i32>> = BTreeMap::new();
        for groups in by_file.into_iter().chain(by_index) {
            for g in groups {
                retention.insert(g.log_group_name.unwrap_or_default(), g.retention_in_days);
            }
        }
        // The groups to place: the file's and the index's that exist; their tags from
        // CloudWatch Logs, side by side.
        let candidates: Vec<&String> = retention
            .keys()
            .filter(|n| wanted.iter().any(|d| d.name == **n) || indexed.contains(&n.as_str()))
            .collect();
        let tags = futures::future::try_join_all(candidates.iter().map(|n| group_tags(cx, n))).await?;
        let mut out = Vec::new();
        for (name, tags) in candidates.into_iter().zip(tags) {
            let Some(tags) = tags else { continue };
            let Some(ownership) = cx.ownership_by_tag("the log group", name, &tags, wanted) else { continue };
            let attrs = group_attrs(name, retention.get(name).copied().flatten(), &tags);
            let (addr, ownership) = cx.placed(Kind::LogGroup, name, &tags, wanted, ownership);
            out.push(Observed {
                addr,
                name: name.to_string(),
                id: arn_of(cx, name),
                attrs,
                ownership,
                outputs: BTreeMap::new(),
                deps: vec![],
            });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        let tags = tags_from(attr(&d.attrs, "tags"));
        let r =
            cx.aws.logs.create_log_group().log_group_name(&d.name).set_tags(Some(tags.into_iter().collect())).send();
        match r.await {
            Ok(_) => {}
            // A retry of a create whose answer was lost.
            Err(e) if is_code(&e, "ResourceAlreadyExistsException") => {}
            Err(e) => return Err(call_error("logs:CreateLogGroup", e)),
        }
        put_retention(cx, &d.name, attr(&d.attrs, "retention_days")).await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        if let Some(c) = changes.iter().find(|c| c.name == "retention_days") {
            put_retention(cx, &d.name, c.after.as_ref()).await?;
        }
        if let Some(c) = changes.iter().find(|c| c.name == "tags") {
            let (set, remove) = tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
            let logs = &cx.aws.logs;
            if !remove.is_empty() {
                let r = logs.untag_resource().resource_arn(&o.id).set_tag_keys(Some(remove)).send().await;
                r.map_err(|e| call_error("logs:UntagResource", e))?;
            }
            if !set.is_empty() {
                let r = logs.tag_resource().resource_arn(&o.id).set_tags(Some(set.into_iter().collect())).send().await;
                r.map_err(|e| call_error("logs:TagResource", e))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        match cx.aws.logs.delete_log_group().log_group_name(&o.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(()),
            Err(e) => Err(call_error("logs:DeleteLogGroup", e)),
        }
    }
}

/// Set the retention, or keep events forever when none is given.
async fn put_retention(cx: &Cx, name: &str, days: Option<&Value>) -> Result<(), StepError> {
    let logs = &cx.aws.logs;
    match days.and_then(Value::as_i64).and_then(|d| i32::try_from(d).ok()) {
        Some(d) => logs.put_retention_policy().log_group_name(name).retention_in_days(d).send().await.map(drop),
        None => return Ok(()),
    }
    .map_err(|e| call_error("logs:PutRetentionPolicy", e))
}
