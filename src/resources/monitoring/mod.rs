//! Monitoring: the alerts topic and its e-mail subscriptions, CloudWatch alarms that
//! notify it, the stack's dashboard, and the log groups of the app and the database
//! (with the file's retention). Alarms and the dashboard name the load balancer and the
//! target group by address (`load_balancer.main`) in their attributes, so the plan is
//! stable; [`resolve`] swaps in the live ARN suffixes at apply time and [`unresolve`]
//! maps live values back. Database logs into the logs bucket (Firehose) are not managed
//! yet: `monitoring.database_logs_to_bucket` produces no resource.

pub mod alarm;
pub mod dashboard;
pub mod log_group;
pub mod subscription;
#[cfg(test)]
mod tests;
pub mod topic;

use super::live::Tagged;
use super::{Cx, TAG_RESOURCE};
use crate::apply::StepError;
use crate::engine::{Addr, Kind};
use serde_json::Value;
use std::collections::BTreeMap;

/// Addresses that stand for live values in alarms and dashboard bodies: the ARN suffix
/// of the load balancer and target group (CloudWatch dimensions), the topic's whole ARN.
const PLACEHOLDERS: [(Kind, &str); 3] =
    [(Kind::LoadBalancer, "main"), (Kind::TargetGroup, "app"), (Kind::Topic, "alerts")];

/// The database's identifier, when the file has a database.
pub fn database_identifier(cx: &Cx) -> Option<String> {
    let db = cx.stack.database.as_ref()?;
    Some(db.identifier.clone().unwrap_or_else(|| format!("{}-db", cx.stack.name)))
}

/// The part of an ELB ARN that CloudWatch dimensions use (`app/...`, `targetgroup/...`).
pub fn arn_suffix(arn: &str) -> &str {
    match arn.split_once(":loadbalancer/") {
        Some((_, rest)) => rest,
        None => arn.rsplit_once(':').map_or(arn, |(_, rest)| rest),
    }
}

/// Replace every placeholder string in `v` with the live ARN suffix of that address.
pub fn resolve(cx: &Cx, v: &Value) -> Result<Value, StepError> {
    Ok(match v {
        Value::String(s) => match PLACEHOLDERS.iter().find(|(k, n)| Addr::new(*k, n).as_str() == *s) {
            Some((k, n)) => {
                let arn = cx.id_of(&Addr::new(*k, n))?;
                Value::String(if *k == Kind::Topic { arn } else { arn_suffix(&arn).to_string() })
            }
            None => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(cx, x)).collect::<Result<_, _>>()?),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| Ok((k.clone(), resolve(cx, x)?))).collect::<Result<_, StepError>>()?)
        }
        _ => v.clone(),
    })
}

/// Map live ARN suffixes (and the topic's ARN) in `v` back to the addresses of the
/// stack's tagged resources that carry them.
pub fn unresolve(tagged: &[Tagged], v: &Value) -> Value {
    match v {
        Value::String(s) => tagged
            .iter()
            .find(|t| t.arn == *s || (t.arn.contains(":elasticloadbalancing:") && arn_suffix(&t.arn) == s))
            .and_then(|t| t.tags.get(TAG_RESOURCE))
            .map_or_else(|| v.clone(), |a| Value::String(a.clone())),
        Value::Array(a) => Value::Array(a.iter().map(|x| unresolve(tagged, x)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), unresolve(tagged, x))).collect()),
        _ => v.clone(),
    }
}

/// The stack's tagged resources of one service (`sns`, `logs`, `cloudwatch`).
pub fn tagged_of<'a>(tagged: &'a [Tagged], service: &str) -> impl Iterator<Item = &'a Tagged> {
    let needle = format!(":{service}:");
    tagged.iter().filter(move |t| t.arn.contains(&needle))
}

/// The tags the tagging API listed for an ARN (empty when not listed).
pub fn tags_of(tagged: &[Tagged], arn: &str) -> Option<BTreeMap<String, String>> {
    tagged.iter().find(|t| t.arn == arn).map(|t| t.tags.clone())
}
