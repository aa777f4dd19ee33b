//! `log_subscription.<group>`: the stack's subscription filter on one of its log groups
//! (`bumarket-infra-to-s3`), which hands every event of the group to its source's
//! Firehose stream (`delivery_stream.database` or `.app`) as CloudWatch Logs receives it,
//! through `role.logs-to-firehose`. One per group whose logs go to a bucket
//! (`monitoring.database_logs_to_bucket`, `app_logs_to_bucket`).
//!
//! A filter takes no tags: it is the stack's by its name on one of the stack's groups.
//! A group may carry two filters (CloudWatch Logs user guide, "Real-time processing of
//! log data with subscriptions"); one of another name is someone else's and left alone.
//!
//! Reads: one `DescribeSubscriptionFilters` for each of the file's groups, whether or not
//! it should have the filter (so one the file no longer asks for is found and removed).

use super::delivery_stream::{self, LOGS_ROLE, SUBSCRIPTION_FILTER};
use super::log_group;
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{Cx, Live, Provider};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct LogSubscriptions;

/// A filter keeps its group and name; where it delivers, through which role and what
/// it matches change in place (PutSubscriptionFilter replaces a filter of that name).
pub static SCHEMA: Schema = Schema {
    kind: Kind::LogSubscription,
    layer: 3,
    attrs: &[
        AttrSpec::replace("log_group"),
        AttrSpec::replace("filter"),
        AttrSpec::update("pattern"),
        AttrSpec::update("destination_arn"),
        AttrSpec::update("role_arn"),
    ],
    deleted_after: &[],
};

fn attrs_of(group: &str, pattern: &str, destination: &str, role: &str) -> Attrs {
    let mut a = Attrs::new();
    a.insert("log_group".into(), json!(group));
    a.insert("filter".into(), json!(SUBSCRIPTION_FILTER));
    a.insert("pattern".into(), json!(pattern));
    a.insert("destination_arn".into(), json!(destination));
    a.insert("role_arn".into(), json!(role));
    a
}

#[async_trait]
impl Provider for LogSubscriptions {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["logs:DescribeSubscriptionFilters"],
            writes: &["logs:DeleteSubscriptionFilter", "logs:PutSubscriptionFilter"],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let to_bucket: Vec<&str> = delivery_stream::sources(&cx.stack).into_iter().map(|(s, _)| s).collect();
        log_group::groups(cx)
            .into_iter()
            .filter(|(_, _, source)| to_bucket.contains(source))
            .map(|(logical, group, source)| {
                let addr = Addr::new(Kind::LogSubscription, &logical);
                // An empty pattern matches every event.
                let attrs = attrs_of(
                    &group,
                    "",
                    &delivery_stream::stream_arn(cx, source),
                    &delivery_stream::role_arn(cx, LOGS_ROLE),
                );
                let deps = vec![
                    Addr::new(Kind::LogGroup, &logical),
                    Addr::new(Kind::DeliveryStream, source),
                    Addr::new(Kind::Role, LOGS_ROLE),
                ];
                Desired { addr, name: group, attrs, deps }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, _live: &Live, _wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let groups = log_group::groups(cx);
        let reads = groups.iter().map(|(logical, group, _)| async move {
            let r = cx
                .aws
                .logs
                .describe_subscription_filters()
                .log_group_name(group)
                .filter_name_prefix(SUBSCRIPTION_FILTER)
                .send()
                .await;
            let filters = match r {
                Ok(out) => out.subscription_filters.unwrap_or_default(),
                // The group is not there (yet): neither is its filter.
                Err(e) if is_code(&e, "ResourceNotFoundException") => vec![],
                Err(e) => return Err(call_error("logs:DescribeSubscriptionFilters", e)),
            };
            Ok(filters.into_iter().find(|f| f.filter_name.as_deref() == Some(SUBSCRIPTION_FILTER)).map(|f| {
                let attrs = attrs_of(
                    group,
                    f.filter_pattern.as_deref().unwrap_or_default(),
                    f.destination_arn.as_deref().unwrap_or_default(),
                    f.role_arn.as_deref().unwrap_or_default(),
                );
                Observed {
                    addr: Addr::new(Kind::LogSubscription, logical),
                    name: group.clone(),
                    id: group.clone(),
                    attrs,
                    ownership: Ownership::Ours,
                    outputs: BTreeMap::new(),
                    deps: vec![Addr::new(Kind::LogGroup, logical)],
                }
            }))
        });
        Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect())
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        put(cx, d, p).await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        _o: &Observed,
        _changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        put(cx, d, p).await
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        let r =
            cx.aws.logs.delete_subscription_filter().log_group_name(&o.name).filter_name(SUBSCRIPTION_FILTER).send();
        match r.await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(()),
            Err(e) => Err(call_error("logs:DeleteSubscriptionFilter", e)),
        }
    }
}

/// Put the filter as the file asks (a filter of the same name on the group is replaced).
async fn put(cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
    let s = |k: &str| attr(&d.attrs, k).and_then(Value::as_str).unwrap_or_default().to_string();
    // CloudWatch Logs sends a test record through the role when the filter is put; a role
    // made a moment ago may not be usable yet, and it answers InvalidParameterException
    // ("Could not deliver test message") until it is.
    let role = crate::resources::role::physical_name(cx, LOGS_ROLE);
    let put = || async {
        cx.aws
            .logs
            .put_subscription_filter()
            .log_group_name(&d.name)
            .filter_name(SUBSCRIPTION_FILTER)
            .filter_pattern(s("pattern"))
            .destination_arn(s("destination_arn"))
            .role_arn(s("role_arn"))
            .send()
            .await
            .map(drop)
            .map_err(|e| call_error("logs:PutSubscriptionFilter", e))
    };
    crate::resources::role::while_new_role_propagates(cx, &role, "InvalidParameterException", "CloudWatch Logs", p, put)
        .await
}
