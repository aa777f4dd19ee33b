//! `log_group.app` (`/bumarket-infra/<stack>/app`) and one `log_group.database-<type>`
//! per database log export (`/aws/rds/instance/<identifier>/<type>`), each with the
//! file's retention and the stack's tags. The database's groups are made ahead of the
//! database so RDS writes into a group with our retention instead of making its own.
//!
//! Reads: the tagging API (wave one) says which groups are ours; one `DescribeLogGroups`
//! per name family (`/bumarket-infra/<stack>/`, `/aws/rds/instance/<identifier>/`) gives
//! retention, and finds wanted names that exist without our tag (someone else's).

use super::{database_identifier, tagged_of};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
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

fn group_attrs(name: &str, retention: Option<i32>, tags: &BTreeMap<String, String>) -> Attrs {
    let mut a = Attrs::new();
    a.insert("name".into(), json!(name));
    a.insert("retention_days".into(), json!(retention));
    a.insert("tags".into(), tags_value(tags));
    a
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
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let Some(m) = &cx.stack.monitoring else { return vec![] };
        let mut groups = vec![("app".to_string(), format!("{}app", app_prefix(cx)))];
        if let (Some(db), Some(id)) = (&cx.stack.database, database_identifier(cx)) {
            for t in &db.log_exports {
                groups.push((format!("database-{t}"), format!("{}{t}", database_prefix(&id))));
            }
        }
        let retention = i32::try_from(m.log_retention_days).ok();
        groups
            .into_iter()
            .map(|(logical, name)| {
                let addr = Addr::new(Kind::LogGroup, &logical);
                let attrs = group_attrs(&name, retention, &cx.tags(&addr));
                Desired { addr, name, attrs, deps: vec![] }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let tagged = live.tagged().await?;
        let ours: Vec<_> = tagged_of(tagged, "logs").filter_map(|t| Some((name_of(&t.arn)?, t))).collect();
        if ours.is_empty() && wanted.is_empty() {
            return Ok(vec![]);
        }
        let mut prefixes = vec![app_prefix(cx)];
        prefixes.extend(database_identifier(cx).map(|id| database_prefix(&id)));
        let reads = prefixes.iter().map(|prefix| async move {
            let mut groups = Vec::new();
            let mut pages = cx.aws.logs.describe_log_groups().log_group_name_prefix(prefix).into_paginator().send();
            while let Some(page) = pages.next().await {
                groups
                    .extend(page.map_err(|e| call_error("logs:DescribeLogGroups", e))?.log_groups.unwrap_or_default());
            }
            Ok::<_, StepError>(groups)
        });
        let mut retention: BTreeMap<String, Option<i32>> = BTreeMap::new();
        for groups in futures::future::try_join_all(reads).await? {
            for g in groups {
                retention.insert(g.log_group_name.unwrap_or_default(), g.retention_in_days);
            }
        }
        let mut out = Vec::new();
        // Ours by tag, wherever the name is (a group of a former database identifier too).
        for (name, t) in &ours {
            let attrs = group_attrs(name, retention.get(*name).copied().flatten(), &t.tags);
            let (addr, ownership) = cx.placed(Kind::LogGroup, name, &t.tags, wanted, Ownership::Ours);
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
        for d in wanted {
            if out.iter().any(|o| o.name == d.name) || !retention.contains_key(&d.name) {
                continue;
            }
            let attrs = group_attrs(&d.name, retention[&d.name], &BTreeMap::new());
            out.push(Observed {
                addr: d.addr.clone(),
                name: d.name.clone(),
                id: arn_of(cx, &d.name),
                attrs,
                ownership: Ownership::Foreign("the log group exists without the stack's tag".into()),
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
        r.await.map_err(|e| call_error("logs:CreateLogGroup", e))?;
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
