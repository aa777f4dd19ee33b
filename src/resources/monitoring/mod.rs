//! Monitoring: the alerts topic and its e-mail subscriptions, CloudWatch alarms that
//! notify it, the stack's dashboard, and the log groups of the app and the database
//! (with the file's retention). Alarms and the dashboard name the load balancer and the
//! target group by address (`load_balancer.main`) in their attributes, so the plan is
//! stable; [`resolve`] swaps in the live ARN suffixes at apply time and [`unresolve`]
//! maps live values back. The database's and the app's logs also reach the logs bucket,
//! through a subscription filter on each group and a Firehose stream per source
//! (`delivery_stream`).

pub mod alarm;
pub mod dashboard;
pub mod delivery_stream;
pub mod log_group;
pub mod log_subscription;
pub mod subscription;
#[cfg(test)]
mod tests;
pub mod topic;

use super::live::Tagged;
use super::Cx;
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

/// The live values that stand for the stack's addresses in alarms and dashboards: the
/// load balancer's and target group's ARNs and ARN suffixes (as their own tags say, from
/// ELB), and the topic's ARN (its name is the file's).
pub async fn known(cx: &Cx, live: &super::Live) -> Result<BTreeMap<String, Addr>, StepError> {
    let mut known = BTreeMap::new();
    for (arn, addr) in live.elb().await?.addrs() {
        known.insert(arn_suffix(&arn).to_string(), addr.clone());
        known.insert(arn, addr);
    }
    if cx.stack.monitoring.is_some() {
        known.insert(topic::arn(cx), topic::addr());
    }
    Ok(known)
}

/// Map the live values in `v` back to the addresses they stand for (see [`known`]).
pub fn unresolve(known: &BTreeMap<String, Addr>, v: &Value) -> Value {
    match v {
        Value::String(s) => known.get(s).map_or_else(|| v.clone(), |a| Value::String(a.to_string())),
        Value::Array(a) => Value::Array(a.iter().map(|x| unresolve(known, x)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), unresolve(known, x))).collect()),
        _ => v.clone(),
    }
}

/// The stack's tagged resources of one service (`sns`, `logs`, `cloudwatch`).
pub fn tagged_of<'a>(tagged: &'a [Tagged], service: &str) -> impl Iterator<Item = &'a Tagged> {
    let needle = format!(":{service}:");
    tagged.iter().filter(move |t| t.arn.contains(&needle))
}
