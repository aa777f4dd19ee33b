//! `alarm.<logical>`: CloudWatch metric alarms named `<stack>-<logical>` that notify the
//! alerts topic, each only when the file has what it watches: `fleet-cpu`,
//! `unhealthy-hosts`, `http-5xx`, `database-cpu`, `database-free-storage`. Thresholds come
//! from `monitoring.alarms`. Dimensions and actions name the load balancer, target group
//! and topic by address; live values are mapped back to those addresses when read.
//!
//! Reads: one `DescribeAlarms` with the prefix `<stack>-` (and, beside it, one by name for
//! alarms the file adopts under other names); an alarm is ours when the tagging API
//! (wave one) lists it. `PutMetricAlarm` is an upsert, so an update is the
//! same call as a create (tags are set at creation, and changed with `TagResource`).

use super::{database_identifier, resolve, topic, unresolve};
use crate::apply::{Progress, StepError};
use crate::aws::call_error;
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{tag_delta, tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub struct Alarms;

struct Spec {
    logical: &'static str,
    namespace: &'static str,
    metric: &'static str,
    statistic: &'static str,
    dimensions: Vec<(&'static str, String)>,
    comparison: &'static str,
    threshold: f64,
    missing: &'static str,
}

fn specs(cx: &Cx) -> Vec<Spec> {
    let Some(m) = &cx.stack.monitoring else { return vec![] };
    let a = &m.alarms;
    let (gt, lt) = ("GreaterThanThreshold", "LessThanThreshold");
    let mut out = Vec::new();
    if cx.stack.fleet.is_some() {
        let group = vec![("AutoScalingGroupName", crate::resources::fleet::group_name(cx))];
        out.push(Spec {
            logical: "fleet-cpu",
            namespace: "AWS/EC2",
            metric: "CPUUtilization",
            statistic: "Average",
            dimensions: group,
            comparison: gt,
            threshold: a.fleet_cpu_percent,
            missing: "missing",
        });
    }
    if cx.stack.load_balancer.is_some() && cx.stack.fleet.is_some() {
        let lb = || ("LoadBalancer", Addr::new(Kind::LoadBalancer, "main").to_string());
        let tg = ("TargetGroup", Addr::new(Kind::TargetGroup, "app").to_string());
        out.push(Spec {
            logical: "unhealthy-hosts",
            namespace: "AWS/ApplicationELB",
            metric: "UnHealthyHostCount",
            statistic: "Maximum",
            dimensions: vec![tg.clone(), lb()],
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.unhealthy_hosts,
            missing: "missing",
        });
        out.push(Spec {
            logical: "http-5xx",
            namespace: "AWS/ApplicationELB",
            metric: "HTTPCode_Target_5XX_Count",
            statistic: "Sum",
            dimensions: vec![tg, lb()],
            comparison: gt,
            threshold: a.http_5xx_per_5_minutes,
            missing: "notBreaching",
        });
    }
    if let Some(id) = database_identifier(cx) {
        let db = vec![("DBInstanceIdentifier", id)];
        out.push(Spec {
            logical: "database-cpu",
            namespace: "AWS/RDS",
            metric: "CPUUtilization",
            statistic: "Average",
            dimensions: db.clone(),
            comparison: gt,
            threshold: a.database_cpu_percent,
            missing: "missing",
        });
        out.push(Spec {
            logical: "database-free-storage",
            namespace: "AWS/RDS",
            metric: "FreeStorageSpace",
            statistic: "Minimum",
            dimensions: db,
            comparison: lt,
            threshold: a.database_free_storage_mb * 1024.0 * 1024.0,
            missing: "missing",
        });
    }
    out
}

/// The comparable shape of an alarm, shared by the file's side and the live side.
#[allow(clippy::too_many_arguments)]
fn alarm_attrs(
    name: &str,
    ns: &str,
    metric: &str,
    stat: &str,
    dims: Map<String, Value>,
    cmp: &str,
    threshold: f64,
    missing: &str,
    periods: (i64, i64, i64),
    actions: Vec<Value>,
) -> Attrs {
    let mut a = Attrs::new();
    a.insert("name".into(), json!(name));
    a.insert("namespace".into(), json!(ns));
    a.insert("metric".into(), json!(metric));
    a.insert("statistic".into(), json!(stat));
    a.insert("dimensions".into(), Value::Object(dims));
    a.insert("comparison".into(), json!(cmp));
    a.insert("threshold".into(), json!(threshold));
    a.insert("period_seconds".into(), json!(periods.0));
    a.insert("evaluation_periods".into(), json!(periods.1));
    a.insert("datapoints_to_alarm".into(), json!(periods.2));
    a.insert("treat_missing_data".into(), json!(missing));
    a.insert("alarm_actions".into(), Value::Array(actions));
    a
}

/// An alarm keeps its name; everything else is put again in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Alarm,
    layer: 6,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::update("namespace"),
        AttrSpec::update("metric"),
        AttrSpec::update("statistic"),
        AttrSpec::update("dimensions"),
        AttrSpec::update("comparison"),
        AttrSpec::update("threshold"),
        AttrSpec::update("period_seconds"),
        AttrSpec::update("evaluation_periods"),
        AttrSpec::update("datapoints_to_alarm"),
        AttrSpec::update("treat_missing_data"),
        AttrSpec::update("alarm_actions"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Alarms {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
            writes: &[
                "cloudwatch:DeleteAlarms",
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        vec![format!("arn:{}:cloudwatch:{}:*:alarm:{}", cx.partition(), cx.region(), d.name)]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        specs(cx)
            .into_iter()
            .map(|s| {
                let addr = Addr::new(Kind::Alarm, s.logical);
                // An adopted alarm keeps the name it was made with (its `adopt:` entry's).
                let name = cx.stack.name_of(addr.as_str(), || format!("{}-{}", cx.stack.name, s.logical));
                let dims: Map<String, Value> = s.dimensions.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
                let mut deps = vec![topic::addr()];
                deps.extend(dims.values().filter_map(Value::as_str).filter_map(|v| Addr::parse(v).ok()));
                let actions = vec![json!(topic::addr().as_str())];
                let (ns, m, st, cmp) = (s.namespace, s.metric, s.statistic, s.comparison);
                let mut attrs = alarm_attrs(&name, ns, m, st, dims, cmp, s.threshold, s.missing, (300, 2, 2), actions);
                attrs.insert("tags".into(), tags_value(&cx.tags(&addr)));
                Desired { addr, name, attrs, deps }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        // Without alarms in the file, the index says whether any are left to delete (with
        // them, the read does not wait for the index).
        if wanted.is_empty() && !super::tagged_of(live.tagged().await?, "cloudwatch").any(|t| t.arn.contains(":alarm:"))
        {
            return Ok(vec![]);
        }
        // Every alarm of the stack has its name prefix (as have a neighbour stack's whose
        // name starts with this one's); of those, the file's by name and the stack's others
        // by the index, which lags behind new tags (the file's are found without it).
        // Their tags come from CloudWatch, read side by side: what is read does not grow
        // with the rest of the account.
        let prefix = format!("{}-", cx.stack.name);
        let described = async {
            let mut alarms = Vec::new();
            let mut pages = cx.aws.cloudwatch.describe_alarms().alarm_name_prefix(&prefix).into_paginator().send();
            while let Some(page) = pages.next().await {
                alarms.extend(
                    page.map_err(|e| call_error("cloudwatch:DescribeAlarms", e))?.metric_alarms.unwrap_or_default(),
                );
            }
            Ok::<_, StepError>(alarms)
        };
        // Alarms the file adopts under names outside the prefix, by name (at most 100 a call).
        let adopted: Vec<&str> =
            wanted.iter().map(|d| d.name.as_str()).filter(|n| !n.starts_with(prefix.as_str())).collect();
        let by_name = futures::future::try_join_all(adopted.chunks(100).map(|names| async move {
            let out = cx
                .aws
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(names.iter().map(|n| n.to_string()).collect()))
                .send()
                .await
                .map_err(|e| call_error("cloudwatch:DescribeAlarms", e))?;
            Ok::<_, StepError>(out.metric_alarms.unwrap_or_default())
        }));
        let (mut alarms, tagged, by_name) = tokio::try_join!(described, live.tagged(), by_name)?;
        alarms.extend(by_name.into_iter().flatten());
        let indexed: Vec<&str> = super::tagged_of(tagged, "cloudwatch").map(|t| t.arn.as_str()).collect();
        let alarms: Vec<_> = alarms
            .into_iter()
            .filter(|m| {
                wanted.iter().any(|d| m.alarm_name() == Some(d.name.as_str()))
                    || m.alarm_arn().is_some_and(|a| indexed.contains(&a))
            })
            .collect();
        let tag_reads = alarms.iter().map(|m| alarm_tags(cx, m.alarm_arn().unwrap_or_default()));
        let (tags, known) = tokio::try_join!(futures::future::try_join_all(tag_reads), super::known(cx, live))?;
        let mut out = Vec::new();
        for (m, tags) in alarms.into_iter().zip(tags) {
            let name = m.alarm_name.clone().unwrap_or_default();
            let arn = m.alarm_arn.clone().unwrap_or_default();
            let want = wanted.iter().find(|d| d.name == name);
            let Some(ownership) = cx.ownership_by_tag("the alarm", &name, &tags, wanted) else { continue };
            let (addr, ownership) = cx.placed(Kind::Alarm, &name, &tags, wanted, ownership);
            let dims: Map<String, Value> = m
                .dimensions()
                .iter()
                .map(|d| (d.name().unwrap_or_default().to_string(), unresolve(&known, &json!(d.value()))))
                .collect();
            let actions: Vec<Value> = m.alarm_actions().iter().map(|a| unresolve(&known, &json!(a))).collect();
            let s = |v: Option<&str>| v.unwrap_or_default().to_string();
            let periods = (
                i64::from(m.period.unwrap_or_default()),
                i64::from(m.evaluation_periods.unwrap_or_default()),
                i64::from(m.datapoints_to_alarm.or(m.evaluation_periods).unwrap_or_default()),
            );
            let mut attrs = alarm_attrs(
                &name,
                &s(m.namespace()),
                &s(m.metric_name()),
                m.statistic().map_or("", |x| x.as_str()),
                dims,
                m.comparison_operator().map_or("", |x| x.as_str()),
                m.threshold.unwrap_or_default(),
                m.treat_missing_data().unwrap_or("missing"),
                periods,
                actions,
            );
            attrs.insert("tags".into(), tags_value(&tags));
            let outputs = BTreeMap::from([("arn".to_string(), arn.clone())]);
            let deps = want.map(|d| d.deps.clone()).unwrap_or_default();
            out.push(Observed { addr, name, id: arn, attrs, ownership, outputs, deps });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        put(cx, d, true).await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        if changes.iter().any(|c| c.name != "tags") {
            put(cx, d, false).await?;
        }
        let Some(c) = changes.iter().find(|c| c.name == "tags") else { return Ok(()) };
        let (set, remove) = tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
        let cw = &cx.aws.cloudwatch;
        if !remove.is_empty() {
            let r = cw.untag_resource().resource_arn(&o.id).set_tag_keys(Some(remove)).send().await;
            r.map_err(|e| call_error("cloudwatch:UntagResource", e))?;
        }
        if !set.is_empty() {
            let r = cw.tag_resource().resource_arn(&o.id).set_tags(Some(cw_tags(&set))).send().await;
            r.map_err(|e| call_error("cloudwatch:TagResource", e))?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        let r = cx.aws.cloudwatch.delete_alarms().alarm_names(&o.name).send().await;
        r.map(drop).map_err(|e| call_error("cloudwatch:DeleteAlarms", e))
    }
}

/// An alarm's tags, from CloudWatch.
pub(crate) async fn alarm_tags(cx: &Cx, arn: &str) -> Result<BTreeMap<String, String>, StepError> {
    let out = cx
        .aws
        .cloudwatch
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| call_error("cloudwatch:ListTagsForResource", e))?;
    Ok(out.tags.unwrap_or_default().into_iter().filter_map(|t| Some((t.key?, t.value?))).collect())
}

fn cw_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Create or update the alarm from its desired attributes, placeholders resolved.
async fn put(cx: &Cx, d: &Desired, with_tags: bool) -> Result<(), StepError> {
    let s = |k: &str| attr(&d.attrs, k).and_then(Value::as_str).unwrap_or_default().to_string();
    let n = |k: &str| attr(&d.attrs, k).and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok());
    let dims = resolve(cx, attr(&d.attrs, "dimensions").unwrap_or(&Value::Null))?;
    let dims: Vec<Dimension> = dims
        .as_object()
        .map(|o| o.iter().map(|(k, v)| Dimension::builder().name(k).value(v.as_str().unwrap_or_default()).build()))
        .into_iter()
        .flatten()
        .collect();
    let actions = resolve(cx, attr(&d.attrs, "alarm_actions").unwrap_or(&Value::Null))?;
    let actions: Vec<String> =
        actions.as_array().into_iter().flatten().filter_map(|a| a.as_str().map(String::from)).collect();
    let tags = if with_tags { Some(cw_tags(&tags_from(attr(&d.attrs, "tags")))) } else { None };
    cx.aws
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&d.name)
        .namespace(s("namespace"))
        .metric_name(s("metric"))
        .statistic(Statistic::from(s("statistic").as_str()))
        .set_dimensions(Some(dims))
        .comparison_operator(ComparisonOperator::from(s("comparison").as_str()))
        .threshold(attr(&d.attrs, "threshold").and_then(Value::as_f64).unwrap_or_default())
        .set_period(n("period_seconds"))
        .set_evaluation_periods(n("evaluation_periods"))
        .set_datapoints_to_alarm(n("datapoints_to_alarm"))
        .treat_missing_data(s("treat_missing_data"))
        .set_alarm_actions(Some(actions))
        .set_tags(tags)
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("cloudwatch:PutMetricAlarm", e))
}
