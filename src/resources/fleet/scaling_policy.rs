//! `scaling_policy.cpu`: target tracking on the group's average CPU (60 % in the seed):
//! AWS adds instances above the target, up to the group's maximum, and removes them
//! below it. Put is an upsert, so an update is the same call as a create.

use super::group_name;
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_autoscaling::types as ast;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Policies;

const METRIC: &str = "ASGAverageCPUUtilization";

/// `<stack>-cpu-target`, or the name an adopted policy keeps (it follows its group).
fn policy_name(cx: &Cx) -> String {
    cx.stack.name_of("scaling_policy.cpu", || format!("{}-cpu-target", cx.stack.name))
}

/// A policy keeps its name; PutScalingPolicy sets the rest again.
pub static SCHEMA: Schema = Schema {
    kind: Kind::ScalingPolicy,
    layer: 6,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::update("group"),
        AttrSpec::update("metric"),
        AttrSpec::update("target_value"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Policies {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["autoscaling:DescribePolicies"],
            writes: &["autoscaling:DeletePolicy", "autoscaling:PutScalingPolicy"],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let (Some(f), Some(_)) = (&cx.stack.fleet, &cx.stack.network) else { return vec![] };
        let mut attrs = Attrs::new();
        let name = policy_name(cx);
        attrs.insert("name".into(), json!(name));
        attrs.insert("group".into(), json!(group_name(cx)));
        attrs.insert("metric".into(), json!(METRIC));
        attrs.insert("target_value".into(), json!(f.cpu_target_percent));
        let deps = vec![Addr::new(Kind::AutoscalingGroup, "app")];
        vec![Desired { addr: Addr::new(Kind::ScalingPolicy, "cpu"), name, attrs, deps }]
    }

    async fn read(&self, cx: &Cx, _live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        // Policies live and die with their group: read them only when the file has one.
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        let out = match cx.aws.autoscaling.describe_policies().auto_scaling_group_name(group_name(cx)).send().await {
            Ok(out) => out,
            Err(e) if is_code(&e, "ValidationError") => return Ok(vec![]),
            Err(e) => return Err(call_error("autoscaling:DescribePolicies", e)),
        };
        Ok(out
            .scaling_policies
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.policy_name.as_deref() == Some(policy_name(cx).as_str()))
            .map(|p| {
                let t = p.target_tracking_configuration.as_ref();
                let metric = t
                    .and_then(|t| t.predefined_metric_specification.as_ref())
                    .and_then(|m| m.predefined_metric_type.as_ref())
                    .map(|m| m.as_str().to_string());
                let mut attrs = Attrs::new();
                let name = p.policy_name.clone().unwrap_or_default();
                attrs.insert("name".into(), json!(name));
                attrs.insert("group".into(), json!(p.auto_scaling_group_name));
                attrs.insert("metric".into(), json!(metric));
                attrs.insert("target_value".into(), json!(t.and_then(|t| t.target_value)));
                Observed {
                    addr: Addr::new(Kind::ScalingPolicy, "cpu"),
                    name,
                    id: p.policy_arn.clone().unwrap_or_default(),
                    attrs,
                    ownership: Ownership::Ours,
                    outputs: BTreeMap::new(),
                    deps: vec![Addr::new(Kind::AutoscalingGroup, "app")],
                }
            })
            .collect())
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        put(cx, d).await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        _o: &Observed,
        _c: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        put(cx, d).await
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        let group = attr(&o.attrs, "group").and_then(Value::as_str).unwrap_or_default();
        match cx.aws.autoscaling.delete_policy().auto_scaling_group_name(group).policy_name(&o.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ValidationError") => Ok(()),
            Err(e) => Err(call_error("autoscaling:DeletePolicy", e)),
        }
    }
}

async fn put(cx: &Cx, d: &Desired) -> Result<(), StepError> {
    let target = attr(&d.attrs, "target_value").and_then(Value::as_f64).unwrap_or(60.0);
    let config = ast::TargetTrackingConfiguration::builder()
        .predefined_metric_specification(
            ast::PredefinedMetricSpecification::builder().predefined_metric_type(ast::MetricType::from(METRIC)).build(),
        )
        .target_value(target)
        .build();
    cx.aws
        .autoscaling
        .put_scaling_policy()
        .auto_scaling_group_name(group_name(cx))
        .policy_name(&d.name)
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(config)
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("autoscaling:PutScalingPolicy", e))
}
