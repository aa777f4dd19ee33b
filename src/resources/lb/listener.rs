//! `listener.http` and `listener.https`: what the load balancer does with a request.
//! Without a certificate, `listener.http` on `listen_port` forwards to `target_group.app`.
//! With one, `listener.https` on `listen_port` (443 by default) terminates TLS with it
//! (policy TLS 1.3/1.2) and forwards, and `listener.http` on 80 answers a permanent
//! redirect to HTTPS (unless `listen_port` is 80 itself). Everything but the load balancer
//! changes in place (`ModifyListener`).
//!
//! Reads: listeners are not in the tagging API. They are ours because their load balancer
//! is: one `DescribeListeners` per load balancer the tagging API listed, in wave two (the
//! ARN comes from wave one). The address follows from the protocol, so no tag is read;
//! listeners are still tagged when created.

use super::snapshot::Snapshot;
use super::{load_balancer, tags};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, Listener, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Listeners;

/// The TLS policy of the HTTPS listener: TLS 1.3 and 1.2 only, with post-quantum key
/// exchange. "AWS recommends implementing the new post-quantum TLS (PQ-TLS) based security
/// policy ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09" (Elastic Load Balancing user guide,
/// "Security policies"); it is the console's default, while the API's default without
/// `SslPolicy` is ELBSecurityPolicy-2016-08 (TLS 1.0), so it is always sent.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";

fn forward(target_group: &str) -> Value {
    json!({"type": "forward", "target_group": target_group})
}

fn redirect(port: u16) -> Value {
    json!({"type": "redirect", "protocol": "HTTPS", "port": port.to_string(), "status_code": "HTTP_301"})
}

fn listener(cx: &Cx, name: &str, port: u16, action: Value, certificate: Option<&str>) -> Desired {
    let addr = Addr::new(Kind::Listener, name);
    let target = action["target_group"].as_str().and_then(|t| Addr::parse(t).ok());
    let mut attrs = Attrs::new();
    attrs.insert("load_balancer".into(), json!("load_balancer.main"));
    attrs.insert("port".into(), json!(port));
    attrs.insert("protocol".into(), json!(name.to_uppercase()));
    // HTTPS only: plain HTTP has neither (null).
    attrs.insert("certificate".into(), json!(certificate));
    attrs.insert("ssl_policy".into(), json!(certificate.map(|_| SSL_POLICY)));
    attrs.insert("default_action".into(), action);
    let deps = std::iter::once(Addr::new(Kind::LoadBalancer, "main")).chain(target).collect();
    Desired { addr, name: format!("{}:{port}", load_balancer::physical_name(cx)), attrs, deps }
}

/// The HTTPS listener's certificate: the file's ARN, the one `existing.certificate`
/// found, or the address of the one `domain:` requests.
fn certificate(cx: &Cx) -> Option<String> {
    let lb = cx.stack.load_balancer.as_ref()?;
    match lb.certificate_arn.as_deref() {
        Some("existing.certificate") => cx.existing.get("certificate").map(|f| f.id.clone()),
        Some(arn) => Some(arn.to_string()),
        None => cx.stack.domain.as_ref().map(|_| crate::resources::domain::CERTIFICATE.to_string()),
    }
}

/// The file's listeners (pure).
pub fn desired(cx: &Cx) -> Vec<Desired> {
    let Some(lb) = &cx.stack.load_balancer else { return vec![] };
    let app = forward("target_group.app");
    match certificate(cx) {
        None => vec![listener(cx, "http", lb.listen_port, app, None)],
        Some(cert) => {
            let mut https = listener(cx, "https", lb.listen_port, app, Some(&cert));
            // The stack's own certificate is issued before the listener uses it.
            https.deps.extend(Addr::parse(&cert).ok());
            let mut out = vec![https];
            if lb.listen_port != 80 {
                // Redirect only once there is something to redirect to.
                let mut http = listener(cx, "http", 80, redirect(lb.listen_port), None);
                http.deps.push(Addr::new(Kind::Listener, "https"));
                out.push(http);
            }
            out
        }
    }
}

/// A listener's default action in the file's terms (addresses instead of ARNs).
fn action_value(snap: &Snapshot, a: &Action) -> Value {
    match a.r#type().cloned().unwrap_or(ActionTypeEnum::Forward) {
        ActionTypeEnum::Forward => {
            let arn = a.target_group_arn().map(String::from).or_else(|| {
                let groups = a.forward_config().map(|f| f.target_groups()).unwrap_or_default();
                groups.first().and_then(|t| t.target_group_arn()).map(String::from)
            });
            let arn = arn.unwrap_or_default();
            forward(&snap.addr_of(&arn).map_or(arn, |a| a.to_string()))
        }
        ActionTypeEnum::Redirect => {
            let r = a.redirect_config();
            json!({"type": "redirect", "protocol": r.and_then(|r| r.protocol()), "port": r.and_then(|r| r.port()),
                   "status_code": r.and_then(|r| r.status_code()).map(|c| c.as_str())})
        }
        ActionTypeEnum::FixedResponse => {
            json!({"type": "fixed-response", "status_code": a.fixed_response_config().map(|f| f.status_code())})
        }
        other => json!({"type": other.as_str()}),
    }
}

/// `stack_certificate`: the ARN of the certificate `domain:` requested, shown as its address.
fn observed(snap: &Snapshot, lb_arn: &str, l: &Listener, stack_certificate: Option<&str>) -> Observed {
    let protocol = l.protocol().map_or("", |p| p.as_str());
    let port = l.port().unwrap_or_default();
    let lb = snap.addr_of(lb_arn);
    let mut actions: Vec<&Action> = l.default_actions().iter().collect();
    actions.sort_by_key(|a| a.order());
    let action = actions.first().map_or(Value::Null, |a| action_value(snap, a));
    let mut attrs = Attrs::new();
    attrs.insert("load_balancer".into(), json!(lb.as_ref().map_or(lb_arn, Addr::as_str)));
    attrs.insert("port".into(), json!(port));
    attrs.insert("protocol".into(), json!(protocol));
    // moto reports an SSL policy on plain HTTP listeners too: only HTTPS has these.
    let https = protocol == "HTTPS";
    let certificate = l.certificates().first().and_then(|c| c.certificate_arn()).filter(|_| https);
    let certificate = match certificate {
        Some(arn) if Some(arn) == stack_certificate => Some(crate::resources::domain::CERTIFICATE),
        other => other,
    };
    attrs.insert("certificate".into(), json!(certificate));
    attrs.insert("ssl_policy".into(), json!(l.ssl_policy().filter(|_| https)));
    let target = action["target_group"].as_str().and_then(|t| Addr::parse(t).ok());
    attrs.insert("default_action".into(), action);
    let lb_name = super::tags::name_in_arn(lb_arn).unwrap_or_default();
    Observed {
        addr: Addr::new(Kind::Listener, if protocol == "HTTPS" { "https" } else { "http" }),
        name: format!("{lb_name}:{port}"),
        id: l.listener_arn().unwrap_or_default().to_string(),
        attrs,
        ownership: Ownership::Ours,
        outputs: BTreeMap::new(),
        deps: lb.into_iter().chain(target).collect(),
    }
}

/// The listeners of one load balancer (none when it is gone).
async fn of(cx: &Cx, lb_arn: &str) -> Result<Vec<Listener>, StepError> {
    let mut out = Vec::new();
    let mut pages = cx.aws.elb.describe_listeners().load_balancer_arn(lb_arn).into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => out.extend(page.listeners.unwrap_or_default()),
            Err(e) if is_code(&e, "LoadBalancerNotFound") => return Ok(vec![]),
            Err(e) => return Err(call_error("elbv2:DescribeListeners", e)),
        }
    }
    Ok(out)
}

/// The SDK action for a default action of the file.
fn sdk_action(cx: &Cx, v: &Value) -> Result<Action, StepError> {
    let s = |k: &str| v[k].as_str().map(String::from);
    match v["type"].as_str() {
        Some("forward") => {
            let arn = cx.id_in(&s("target_group").unwrap_or_default())?;
            Ok(Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(arn).build())
        }
        Some("redirect") => {
            let code = RedirectActionStatusCodeEnum::from(v["status_code"].as_str().unwrap_or("HTTP_301"));
            let config =
                RedirectActionConfig::builder().set_protocol(s("protocol")).set_port(s("port")).status_code(code);
            Ok(Action::builder().r#type(ActionTypeEnum::Redirect).redirect_config(config.build()).build())
        }
        other => Err(StepError::new("plan", format!("listener action `{}` is not supported", other.unwrap_or("none")))),
    }
}

/// The listener's certificate: an ARN, or the address of the stack's own.
fn certificates(cx: &Cx, d: &Desired) -> Result<Option<Vec<Certificate>>, StepError> {
    let Some(cert) = attr(&d.attrs, "certificate").and_then(Value::as_str) else { return Ok(None) };
    let arn = if cert.starts_with("arn:") { cert.to_string() } else { cx.id_in(cert)? };
    Ok(Some(vec![Certificate::builder().certificate_arn(arn).build()]))
}

/// A listener stays on its load balancer; one ModifyListener sets all the rest.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Listener,
    layer: 4,
    attrs: &[
        AttrSpec::replace("load_balancer"),
        AttrSpec::update("port"),
        AttrSpec::update("protocol"),
        AttrSpec::update("certificate"),
        AttrSpec::update("ssl_policy"),
        AttrSpec::update("default_action"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Listeners {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &[
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTags",
            ],
            writes: &[
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
                "autoscaling:AttachLoadBalancerTargetGroups",
                "autoscaling:DetachLoadBalancerTargetGroups",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        desired(cx)
    }

    async fn read(&self, cx: &Cx, live: &Live, _wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        // The listeners of the stack's load balancers, as ELB itself lists them.
        let snap = live.elb().await?;
        let lbs: Vec<String> = snap
            .load_balancers
            .iter()
            // Ours, or one `adopt:` takes over: its listeners go with it.
            .filter(|(lb, tags)| {
                tags::ownership(cx, "load balancer", tags) == Ownership::Ours
                    || lb.load_balancer_arn().is_some_and(|arn| snap.is_stacks(arn))
            })
            .filter_map(|(lb, _)| lb.load_balancer_arn().map(String::from))
            .collect();
        let listed = futures::future::try_join_all(lbs.iter().map(|arn| of(cx, arn)));
        // The certificate `domain:` requested, to show it by its address.
        let certificates = async {
            match cx.stack.domain {
                Some(_) => live.certificates(cx).await.map(Some),
                None => Ok(None),
            }
        };
        let (found, certificates) = tokio::try_join!(listed, certificates)?;
        let domain_cert = crate::resources::domain::certificate::addr();
        let stack_certificate = certificates.unwrap_or_default().iter().find(|c| {
            cx.tag_ownership("the certificate", &c.tags) == Ownership::Ours
                && c.tags.get(crate::resources::TAG_RESOURCE).map(String::as_str) == Some(domain_cert.as_str())
        });
        let stack_certificate = stack_certificate.map(|c| c.arn());
        let mut out = Vec::new();
        for (arn, listeners) in lbs.iter().zip(found) {
            for l in &listeners {
                out.push(observed(snap, arn, l, stack_certificate));
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        let a = &d.attrs;
        let lb = cx.id_in(attr(a, "load_balancer").and_then(Value::as_str).unwrap_or_default())?;
        let out = cx
            .aws
            .elb
            .create_listener()
            .load_balancer_arn(lb)
            .set_port(attr(a, "port").and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok()))
            .protocol(ProtocolEnum::from(attr(a, "protocol").and_then(Value::as_str).unwrap_or("HTTP")))
            .set_certificates(certificates(cx, d)?)
            .set_ssl_policy(attr(a, "ssl_policy").and_then(Value::as_str).map(String::from))
            .default_actions(sdk_action(cx, attr(a, "default_action").unwrap_or(&Value::Null))?)
            .set_tags(Some(super::tags::to_tags(&cx.tags(&d.addr))))
            .send()
            .await
            .map_err(|e| call_error("elbv2:CreateListener", e))?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| StepError::missing("elbv2:CreateListener", "the listener's ARN"))?;
        cx.set_id(&d.addr, arn);
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        _changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        // One call sets the whole listener as the file has it.
        let a = &d.attrs;
        cx.aws
            .elb
            .modify_listener()
            .listener_arn(&o.id)
            .set_port(attr(a, "port").and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok()))
            .protocol(ProtocolEnum::from(attr(a, "protocol").and_then(Value::as_str).unwrap_or("HTTP")))
            .set_certificates(certificates(cx, d)?)
            .set_ssl_policy(attr(a, "ssl_policy").and_then(Value::as_str).map(String::from))
            .default_actions(sdk_action(cx, attr(a, "default_action").unwrap_or(&Value::Null))?)
            .send()
            .await
            .map(drop)
            .map_err(|e| call_error("elbv2:ModifyListener", e))
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        match cx.aws.elb.delete_listener().listener_arn(&o.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ListenerNotFound") => Ok(()),
            Err(e) => Err(call_error("elbv2:DeleteListener", e)),
        }
    }
}
