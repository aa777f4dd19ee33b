//! `dashboard.main`: the CloudWatch dashboard `<stack>` with a graph per thing worth
//! watching, only for the sections the file has: the fleet's CPU and network in and out,
//! the load balancer's requests, response time and healthy hosts, the database's CPU,
//! connections and free storage. The body is JSON compared by meaning (parsed on both
//! sides); the load balancer is named by address in it and resolved at apply time.
//!
//! Dashboards take no tags: the one named `<stack>` is ours. Reads: one `GetDashboard`
//! (not found: absent), only when the file has a `monitoring` section.

use super::{database_identifier, resolve, unresolve};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{Cx, Live, Provider};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Dashboards;

fn addr() -> Addr {
    Addr::new(Kind::Dashboard, "main")
}

/// One graph: `metrics` are `[namespace, metric, dimension, value]` rows.
fn widget(cx: &Cx, title: &str, stat: &str, metrics: Vec<Value>) -> Value {
    json!({"type": "metric", "width": 12, "height": 6,
           "properties": {"title": title, "region": cx.region(), "stat": stat, "period": 300,
                          "view": "timeSeries", "metrics": metrics}})
}

/// The dashboard's body for the file's sections (the load balancer by address).
pub fn body(cx: &Cx) -> Value {
    let mut widgets = Vec::new();
    if cx.stack.fleet.is_some() {
        let by = |m: &str| json!(["AWS/EC2", m, "AutoScalingGroupName", crate::resources::fleet::group_name(cx)]);
        widgets.push(widget(cx, "Fleet CPU (%)", "Average", vec![by("CPUUtilization")]));
        widgets.push(widget(cx, "Fleet network (bytes)", "Sum", vec![by("NetworkIn"), by("NetworkOut")]));
    }
    if cx.stack.load_balancer.is_some() {
        let by =
            |m: &str| json!(["AWS/ApplicationELB", m, "LoadBalancer", Addr::new(Kind::LoadBalancer, "main").as_str()]);
        widgets.push(widget(cx, "Requests", "Sum", vec![by("RequestCount")]));
        widgets.push(widget(cx, "Target response time (s)", "Average", vec![by("TargetResponseTime")]));
        if cx.stack.fleet.is_some() {
            widgets.push(widget(cx, "Healthy hosts", "Minimum", vec![by("HealthyHostCount")]));
        }
    }
    if let Some(id) = database_identifier(cx) {
        let by = |m: &str| json!(["AWS/RDS", m, "DBInstanceIdentifier", id]);
        widgets.push(widget(cx, "Database CPU (%)", "Average", vec![by("CPUUtilization")]));
        widgets.push(widget(cx, "Database connections", "Maximum", vec![by("DatabaseConnections")]));
        widgets.push(widget(cx, "Database free storage (bytes)", "Minimum", vec![by("FreeStorageSpace")]));
    }
    // Two graphs a row, in file order.
    for (i, w) in widgets.iter_mut().enumerate() {
        w["x"] = json!((i % 2) * 12);
        w["y"] = json!((i / 2) * 6);
    }
    json!({"widgets": widgets})
}

fn observed(name: &str, body: Value) -> Observed {
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("body".into(), body);
    Observed {
        addr: addr(),
        name: name.into(),
        id: name.into(),
        attrs,
        ownership: Ownership::Ours,
        outputs: BTreeMap::new(),
        deps: vec![],
    }
}

/// A dashboard keeps its name; its body is put again when it changes.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Dashboard,
    layer: 6,
    attrs: &[AttrSpec::replace("name"), AttrSpec::update("body")],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Dashboards {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["cloudwatch:GetDashboard"],
            writes: &["cloudwatch:DeleteDashboards", "cloudwatch:PutDashboard"],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        vec![format!("arn:{}:cloudwatch::*:dashboard/{}", cx.partition(), d.name)]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        if !cx.stack.monitoring.as_ref().is_some_and(|m| m.dashboard) {
            return vec![];
        }
        let body = body(cx);
        let mut deps = Vec::new();
        if body.to_string().contains("\"load_balancer.main\"") {
            deps.push(Addr::new(Kind::LoadBalancer, "main"));
        }
        let name = cx.stack.name.clone();
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("body".into(), body);
        vec![Desired { addr: addr(), name, attrs, deps }]
    }

    async fn read(&self, cx: &Cx, live: &Live, _wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        if cx.stack.monitoring.is_none() {
            return Ok(vec![]);
        }
        let name = &cx.stack.name;
        let out = match cx.aws.cloudwatch.get_dashboard().dashboard_name(name).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_dashboard_not_found_error()) => return Ok(vec![]),
            Err(e) if is_code(&e, "ResourceNotFound") => return Ok(vec![]),
            Err(e) => return Err(call_error("cloudwatch:GetDashboard", e)),
        };
        let text = out.dashboard_body.unwrap_or_default();
        let known = super::known(cx, live).await?;
        let body = serde_json::from_str(&text).map_or(Value::String(text), |v| unresolve(&known, &v));
        Ok(vec![observed(name, body)])
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
        match cx.aws.cloudwatch.delete_dashboards().dashboard_names(&o.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceNotFound") => Ok(()),
            Err(e) => Err(call_error("cloudwatch:DeleteDashboards", e)),
        }
    }
}

async fn put(cx: &Cx, d: &Desired) -> Result<(), StepError> {
    let body = resolve(cx, attr(&d.attrs, "body").unwrap_or(&Value::Null))?;
    let r = cx.aws.cloudwatch.put_dashboard().dashboard_name(&d.name).dashboard_body(body.to_string()).send().await;
    r.map_err(|e| call_error("cloudwatch:PutDashboard", e))?;
    Ok(())
}
