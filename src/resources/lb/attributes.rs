//! The load balancer attributes the file sets, between ELB's string pairs
//! (`idle_timeout.timeout_seconds = "60"`) and typed attributes the plan compares
//! (`idle_timeout_seconds: 60`). Only these keys are read and written: AWS holds dozens,
//! moto only a handful, and neither should show as a change. A key AWS does not report
//! has AWS's default.

use crate::apply::StepError;
use crate::aws::{call_error, is_code};
use crate::engine::Attrs;
use crate::resources::Cx;
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
use bumarket_stack::LoadBalancer;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The typed attributes this file manages, in the order they are shown.
pub const NAMES: [&str; 4] =
    ["deletion_protection", "drop_invalid_header_fields", "idle_timeout_seconds", "access_logs"];

const PROTECTION: &str = "deletion_protection.enabled";
const DROP_INVALID: &str = "routing.http.drop_invalid_header_fields.enabled";
const IDLE_TIMEOUT: &str = "idle_timeout.timeout_seconds";
const LOGS_ENABLED: &str = "access_logs.s3.enabled";
const LOGS_BUCKET: &str = "access_logs.s3.bucket";
const LOGS_PREFIX: &str = "access_logs.s3.prefix";

fn logs_value(bucket: Option<(&str, &str)>) -> Value {
    match bucket {
        Some((bucket, prefix)) => json!({"enabled": true, "bucket": bucket, "prefix": prefix}),
        None => json!({"enabled": false}),
    }
}

/// The file's attributes; `logs_bucket` is the physical name of the access-log bucket.
pub fn desired(lb: &LoadBalancer, logs_bucket: Option<&str>) -> Attrs {
    let logs = lb.access_logs.as_ref().zip(logs_bucket).map(|(l, b)| (b, l.prefix.as_str()));
    Attrs::from([
        ("deletion_protection".to_string(), json!(lb.deletion_protection)),
        ("drop_invalid_header_fields".to_string(), json!(lb.drop_invalid_header_fields)),
        ("idle_timeout_seconds".to_string(), json!(lb.idle_timeout_seconds)),
        ("access_logs".to_string(), logs_value(logs)),
    ])
}

/// Typed attributes from ELB's pairs (absent keys take AWS's defaults).
pub fn from_elb(pairs: &[LoadBalancerAttribute]) -> Attrs {
    let kv: BTreeMap<&str, &str> =
        pairs.iter().filter_map(|a| Some((a.key()?, a.value().unwrap_or_default()))).collect();
    let flag = |k: &str| kv.get(k).is_some_and(|v| *v == "true");
    let idle = kv.get(IDLE_TIMEOUT).and_then(|v| v.parse::<u64>().ok()).unwrap_or(60);
    let logs = flag(LOGS_ENABLED)
        .then(|| (kv.get(LOGS_BUCKET).copied().unwrap_or_default(), kv.get(LOGS_PREFIX).copied().unwrap_or_default()));
    Attrs::from([
        ("deletion_protection".to_string(), json!(flag(PROTECTION))),
        ("drop_invalid_header_fields".to_string(), json!(flag(DROP_INVALID))),
        ("idle_timeout_seconds".to_string(), json!(idle)),
        ("access_logs".to_string(), logs_value(logs)),
    ])
}

/// ELB's pairs for one typed attribute.
pub fn to_elb(name: &str, v: &Value) -> Vec<LoadBalancerAttribute> {
    let pair = |k: &str, v: String| LoadBalancerAttribute::builder().key(k).value(v).build();
    let flag = |b: &Value| b.as_bool().unwrap_or(false).to_string();
    match name {
        "deletion_protection" => vec![pair(PROTECTION, flag(v))],
        "drop_invalid_header_fields" => vec![pair(DROP_INVALID, flag(v))],
        "idle_timeout_seconds" => vec![pair(IDLE_TIMEOUT, v.as_u64().unwrap_or(60).to_string())],
        "access_logs" if v["enabled"] == true => vec![
            pair(LOGS_ENABLED, "true".into()),
            pair(LOGS_BUCKET, v["bucket"].as_str().unwrap_or_default().into()),
            pair(LOGS_PREFIX, v["prefix"].as_str().unwrap_or_default().into()),
        ],
        // Turning logs off leaves bucket and prefix as they were (AWS ignores them then).
        "access_logs" => vec![pair(LOGS_ENABLED, "false".into())],
        _ => vec![],
    }
}

/// The attributes of a live load balancer; `None` when it is gone.
pub async fn read(cx: &Cx, arn: &str) -> Result<Option<Attrs>, StepError> {
    match cx.aws.elb.describe_load_balancer_attributes().load_balancer_arn(arn).send().await {
        Ok(out) => Ok(Some(from_elb(out.attributes()))),
        Err(e) if is_code(&e, "LoadBalancerNotFound") => Ok(None),
        Err(e) => Err(call_error("elbv2:DescribeLoadBalancerAttributes", e)),
    }
}

/// Set the given typed attributes, in one call.
pub async fn modify<'a>(
    cx: &Cx,
    arn: &str,
    attrs: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> Result<(), StepError> {
    let pairs: Vec<LoadBalancerAttribute> = attrs.into_iter().flat_map(|(k, v)| to_elb(k, v)).collect();
    if pairs.is_empty() {
        return Ok(());
    }
    cx.aws
        .elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .set_attributes(Some(pairs))
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            call_error("elbv2:ModifyLoadBalancerAttributes", e).hint(
                "access logs need the bucket's policy to let Elastic Load Balancing write (bumarket-infra sets it on the stack's bucket)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(kv: &[(&str, &str)]) -> Vec<LoadBalancerAttribute> {
        kv.iter().map(|(k, v)| LoadBalancerAttribute::builder().key(*k).value(*v).build()).collect()
    }

    #[test]
    fn keys_moto_does_not_report_take_aws_defaults() {
        // A new load balancer on moto: four keys, no idle timeout, no header setting.
        let a = from_elb(&pairs(&[
            ("access_logs.s3.bucket", ""),
            ("access_logs.s3.prefix", ""),
            ("deletion_protection.enabled", "false"),
            ("load_balancing.cross_zone.enabled", "false"),
        ]));
        assert_eq!(a["idle_timeout_seconds"], 60);
        assert_eq!(a["drop_invalid_header_fields"], false);
        assert_eq!(a["access_logs"], json!({"enabled": false}));
        assert_eq!(a.len(), NAMES.len());
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let want = Attrs::from([
            ("deletion_protection".to_string(), json!(true)),
            ("drop_invalid_header_fields".to_string(), json!(true)),
            ("idle_timeout_seconds".to_string(), json!(120)),
            ("access_logs".to_string(), json!({"enabled": true, "bucket": "b-logs", "prefix": "alb"})),
        ]);
        let written: Vec<LoadBalancerAttribute> = want.iter().flat_map(|(k, v)| to_elb(k, v)).collect();
        assert_eq!(written.len(), 6);
        assert_eq!(from_elb(&written), want);
        // Logs off: bucket and prefix are not compared.
        let off = to_elb("access_logs", &json!({"enabled": false}));
        let back = from_elb(&[off, pairs(&[("access_logs.s3.bucket", "old")])].concat());
        assert_eq!(back["access_logs"], json!({"enabled": false}));
    }
}
