//! `target_group.app`: the fleet's instances behind the load balancer, HTTP on the fleet's
//! `app_port` in `vpc.main`, with the file's health check (generous by default: instances
//! take minutes to boot). Name, protocol, port, VPC and target type force a new target
//! group; the health check and tags change in place.
//!
//! Reads: the shared ELB snapshot (`snapshot.rs`), which has each group's health check
//! and tags: no call of its own.
//!
//! A replacement (a new `app_port`) hands the listeners and the fleet's group over from
//! the old group to the new one (`handover.rs`).

use super::handover;
use super::tags::{self, to_tags};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{ec2, tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Matcher, ProtocolEnum, TargetGroup, TargetTypeEnum};
use bumarket_stack::HealthCheck;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct TargetGroups;

/// The target group's physical name (at most 28 characters: stack names have 24).
pub fn physical_name(cx: &Cx) -> String {
    name_in(&cx.stack)
}

/// The target group's name in a stack (what wave one describes before any context).
pub fn name_in(stack: &bumarket_stack::Stack) -> String {
    stack.name_of("target_group.app", || format!("{}-app", stack.name))
}

fn health_value(path: &str, interval: i64, timeout: i64, healthy: i64, unhealthy: i64, matcher: &str) -> Value {
    json!({"path": path, "interval_seconds": interval, "timeout_seconds": timeout,
           "healthy_threshold": healthy, "unhealthy_threshold": unhealthy, "matcher": matcher})
}

fn desired_health(h: &HealthCheck) -> Value {
    let n = i64::from;
    let (i, t, ok, bad) =
        (n(h.interval_seconds), n(h.timeout_seconds), n(h.healthy_threshold), n(h.unhealthy_threshold));
    health_value(&h.path, i, t, ok, bad, &h.matcher)
}

fn observed_health(tg: &TargetGroup) -> Value {
    let n = |v: Option<i32>| i64::from(v.unwrap_or_default());
    health_value(
        tg.health_check_path().unwrap_or_default(),
        n(tg.health_check_interval_seconds()),
        n(tg.health_check_timeout_seconds()),
        n(tg.healthy_threshold_count()),
        n(tg.unhealthy_threshold_count()),
        tg.matcher().and_then(Matcher::http_code).unwrap_or_default(),
    )
}

async fn observed(
    cx: &Cx,
    live: &Live,
    tg: &TargetGroup,
    tags: BTreeMap<String, String>,
    wanted: &[&Desired],
    ownership: Ownership,
) -> Result<Observed, StepError> {
    let name = tg.target_group_name().unwrap_or_default();
    let vpc_id = tg.vpc_id().unwrap_or_default();
    let vpc = live.ec2().await?.addr_of(vpc_id);
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("protocol".into(), json!(tg.protocol().map(|p| p.as_str())));
    attrs.insert("port".into(), json!(tg.port()));
    attrs.insert("vpc".into(), json!(vpc.as_ref().map_or(vpc_id, Addr::as_str)));
    attrs.insert("target_type".into(), json!(tg.target_type().map(|t| t.as_str())));
    attrs.insert("health_check".into(), observed_health(tg));
    attrs.insert("tags".into(), tags_value(&tags));
    let arn = tg.target_group_arn().unwrap_or_default().to_string();
    let (addr, ownership) = cx.placed(Kind::TargetGroup, name, &tags, wanted, ownership);
    Ok(Observed {
        addr,
        name: name.to_string(),
        id: arn.clone(),
        attrs,
        ownership,
        outputs: BTreeMap::from([("arn".to_string(), arn)]),
        deps: vpc.into_iter().collect(),
    })
}

fn int(v: &Value, key: &str) -> Option<i32> {
    v.get(key).and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok())
}

async fn modify_health(cx: &Cx, arn: &str, h: &Value) -> Result<(), StepError> {
    cx.aws
        .elb
        .modify_target_group()
        .target_group_arn(arn)
        .health_check_protocol(ProtocolEnum::Http)
        .set_health_check_path(h["path"].as_str().map(String::from))
        .set_health_check_interval_seconds(int(h, "interval_seconds"))
        .set_health_check_timeout_seconds(int(h, "timeout_seconds"))
        .set_healthy_threshold_count(int(h, "healthy_threshold"))
        .set_unhealthy_threshold_count(int(h, "unhealthy_threshold"))
        .matcher(Matcher::builder().set_http_code(h["matcher"].as_str().map(String::from)).build())
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("elbv2:ModifyTargetGroup", e))
}

/// A target group keeps its name, protocol, port, VPC and target type; its health
/// check and tags change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::TargetGroup,
    layer: 2,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::replace("protocol"),
        AttrSpec::replace("port"),
        AttrSpec::replace("vpc"),
        AttrSpec::replace("target_type"),
        AttrSpec::update("health_check"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for TargetGroups {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags"],
            writes: &[
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        vec![format!("arn:{}:elasticloadbalancing:{}:*:targetgroup/{}/*", cx.partition(), cx.region(), d.name)]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let (Some(lb), Some(fleet)) = (&cx.stack.load_balancer, &cx.stack.fleet) else { return vec![] };
        let addr = Addr::new(Kind::TargetGroup, "app");
        let name = physical_name(cx);
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("protocol".into(), json!("HTTP"));
        attrs.insert("port".into(), json!(fleet.app_port));
        attrs.insert("vpc".into(), json!("vpc.main"));
        attrs.insert("target_type".into(), json!("instance"));
        attrs.insert("health_check".into(), desired_health(&lb.health_check));
        attrs.insert("tags".into(), tags_value(&cx.tags(&addr)));
        vec![Desired { addr, name, attrs, deps: vec![Addr::new(Kind::Vpc, "main")] }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.elb().await?;
        let mut out = Vec::new();
        for (tg, tags) in &snap.target_groups {
            let ownership = tags::ownership(cx, "target group", tags);
            let wanted_here = wanted.iter().any(|d| Some(d.name.as_str()) == tg.target_group_name());
            if ownership == Ownership::Ours || wanted_here {
                out.push(observed(cx, live, tg, tags.clone(), wanted, ownership).await?);
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        let a = &d.attrs;
        let vpc = cx.id_in(attr(a, "vpc").and_then(Value::as_str).unwrap_or("vpc.main"))?;
        let h = attr(a, "health_check").cloned().unwrap_or(Value::Null);
        let out = cx
            .aws
            .elb
            .create_target_group()
            .name(&d.name)
            .protocol(ProtocolEnum::from(attr(a, "protocol").and_then(Value::as_str).unwrap_or("HTTP")))
            .set_port(attr(a, "port").and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok()))
            .vpc_id(vpc)
            .target_type(TargetTypeEnum::Instance)
            .health_check_protocol(ProtocolEnum::Http)
            .set_health_check_path(h["path"].as_str().map(String::from))
            .set_health_check_interval_seconds(int(&h, "interval_seconds"))
            .set_health_check_timeout_seconds(int(&h, "timeout_seconds"))
            .set_healthy_threshold_count(int(&h, "healthy_threshold"))
            .set_unhealthy_threshold_count(int(&h, "unhealthy_threshold"))
            .matcher(Matcher::builder().set_http_code(h["matcher"].as_str().map(String::from)).build())
            .set_tags(Some(to_tags(&tags_from(attr(a, "tags")))))
            .send()
            .await
            .map_err(|e| call_error("elbv2:CreateTargetGroup", e))?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .ok_or_else(|| StepError::missing("elbv2:CreateTargetGroup", "the target group's ARN"))?
            .to_string();
        // The old group's id is still known when this create is the second half of a replacement.
        let replaced = cx.known_id(&d.addr).is_some();
        cx.set_id(&d.addr, &arn);
        handover::take(cx, &d.addr, &arn, replaced).await
    }

    async fn update(
        &self,
        cx: &Cx,
        _d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        for c in changes {
            match c.name.as_str() {
                "health_check" => modify_health(cx, &o.id, c.after.as_ref().unwrap_or(&Value::Null)).await?,
                "tags" => {
                    tags::converge(cx, &o.id, &tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref())).await?
                }
                other => return Err(StepError::not_in_place(other, "a target group")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        if d.is_some() {
            // A replacement: what stays lets go of the old group first.
            handover::release(cx, &o.addr, &o.id).await?;
        }
        ec2::retry_while_in_use(p, || async {
            match cx.aws.elb.delete_target_group().target_group_arn(&o.id).send().await {
                Ok(_) => Ok(()),
                Err(e) if is_code(&e, "TargetGroupNotFound") => Ok(()),
                Err(e) => Err(call_error("elbv2:DeleteTargetGroup", e)),
            }
        })
        .await
    }
}
