//! `internet_gateway.main`: the gateway of the public subnets, named `<stack>` and
//! attached to the stack's VPC (attribute `vpc`). Attachment changes in place (detach,
//! attach); nothing forces a new gateway. Delete detaches it first, waiting while AWS
//! still maps public addresses (instances, a load balancer) through it.

use super::{deleted, observed, resolve, shown, stack_addrs, text, vpc_addr};
use crate::apply::{Progress, StepError};
use crate::aws::call_error;
use crate::engine::{AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::ec2::until_visible;
use crate::resources::ec2::{converge_tags, gone, named_tags, retry_while_in_use, tag_spec};
use crate::resources::{tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttachmentStatus, InternetGateway, ResourceType};
use serde_json::{json, Value};

pub struct InternetGateways;

/// VPC ids the gateway is attached to (or attaching to).
fn attached(g: &InternetGateway) -> Vec<&str> {
    g.attachments()
        .iter()
        .filter(|a| !matches!(a.state(), Some(AttachmentStatus::Detached | AttachmentStatus::Detaching)))
        .filter_map(|a| a.vpc_id())
        .collect()
}

/// The gateway's VPCs as AWS has them now; `None` when the gateway is gone.
async fn live_vpcs(cx: &Cx, id: &str) -> Result<Option<Vec<String>>, StepError> {
    match cx.aws.ec2.describe_internet_gateways().internet_gateway_ids(id).send().await {
        Ok(out) => Ok(out.internet_gateways().first().map(|g| attached(g).into_iter().map(String::from).collect())),
        Err(e) => {
            let e = call_error("ec2:DescribeInternetGateways", e);
            if gone(&e) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

async fn attach(cx: &Cx, id: &str, vpc: &str) -> Result<(), StepError> {
    cx.aws
        .ec2
        .attach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(vpc)
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("ec2:AttachInternetGateway", e))
}

/// Detach, waiting while public addresses in the VPC still use the gateway.
async fn detach(cx: &Cx, id: &str, vpc: &str, p: &Progress<'_>) -> Result<(), StepError> {
    let result = retry_while_in_use(p, || async {
        cx.aws
            .ec2
            .detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map(drop)
            .map_err(|e| call_error("ec2:DetachInternetGateway", e))
    })
    .await;
    match result {
        // Already detached, or the gateway or the VPC is gone.
        Err(e) if gone(&e) || e.is_code("Gateway.NotAttached") => Ok(()),
        other => other,
    }
}

/// A gateway is attached and detached in place. It is detached (and deleted) only once
/// what holds public addresses in its VPC is gone: "The VPC must not contain any
/// running instances with Elastic IP addresses or public IPv4 addresses" (EC2 API
/// reference, DetachInternetGateway), and the load balancer, the fleet and Cloud9 do.
pub static SCHEMA: Schema = Schema {
    kind: Kind::InternetGateway,
    layer: 1,
    attrs: &[AttrSpec::update("vpc"), AttrSpec::update("tags")],
    deleted_after: &[Kind::LoadBalancer, Kind::AutoscalingGroup, Kind::Cloud9],
};

#[async_trait]
impl Provider for InternetGateways {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["ec2:DescribeInternetGateways"],
            writes: &[
                "ec2:AttachInternetGateway",
                "ec2:CreateInternetGateway",
                "ec2:DeleteInternetGateway",
                "ec2:DetachInternetGateway",
                "ec2:CreateTags",
                "ec2:DeleteTags",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        // An existing VPC routes as its owner set it up: no gateway of the stack's.
        if cx.stack.network.as_ref().is_none_or(|n| n.existing) {
            return vec![];
        }
        let addr = crate::engine::Addr::new(Kind::InternetGateway, "main");
        let name = cx.stack.name.clone();
        let mut attrs = Attrs::new();
        attrs.insert("vpc".into(), json!(vpc_addr().to_string()));
        attrs.insert("tags".into(), tags_value(&named_tags(cx, &addr, &name)));
        vec![Desired { addr, name, attrs, deps: vec![vpc_addr()] }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.ec2().await?;
        let mut out = Vec::new();
        for g in &snap.internet_gateways {
            let Some(id) = g.internet_gateway_id() else { continue };
            let vpcs = attached(g);
            let mut attrs = Attrs::new();
            // Attached to one VPC at most (AWS allows no more).
            attrs.insert("vpc".into(), vpcs.first().map_or(Value::Null, |v| json!(shown(snap, v))));
            cx.note_references(vpcs.iter().copied());
            out.push(observed(cx, Kind::InternetGateway, id, g.tags(), attrs, stack_addrs(snap, vpcs), wanted));
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let ec2 = &cx.aws.ec2;
        let tags = tags_from(attr(&d.attrs, "tags"));
        let out = ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(&tags, ResourceType::InternetGateway))
            .send()
            .await
            .map_err(|e| call_error("ec2:CreateInternetGateway", e))?;
        let id = out
            .internet_gateway
            .and_then(|g| g.internet_gateway_id)
            .ok_or_else(|| StepError::missing("ec2:CreateInternetGateway", "the gateway's id"))?;
        cx.set_id(&d.addr, &id);
        until_visible(p, &format!("{id} to exist"), || async {
            let out = ec2
                .describe_internet_gateways()
                .internet_gateway_ids(&id)
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeInternetGateways", e))?;
            Ok(out.internet_gateways().is_empty().then(|| "not visible yet".into()))
        })
        .await?;
        if attr(&d.attrs, "vpc").is_some() {
            let vpc = cx.id_in(text(&d.attrs, "vpc"))?;
            attach(cx, &id, &vpc).await?;
        }
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        _d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        for c in changes {
            match c.name.as_str() {
                "vpc" => {
                    let want = c.after.as_ref().and_then(Value::as_str).map(|v| {
                        resolve(cx, v).ok_or_else(|| StepError::new("plan", format!("`{v}` does not exist (yet)")))
                    });
                    let want = want.transpose()?;
                    let now = live_vpcs(cx, &o.id).await?.unwrap_or_default();
                    for vpc in now.iter().filter(|v| Some(*v) != want.as_ref()) {
                        p.say(format!("detaching from {vpc}"));
                        detach(cx, &o.id, vpc, p).await?;
                    }
                    if let Some(vpc) = want.filter(|w| !now.contains(w)) {
                        attach(cx, &o.id, &vpc).await?;
                    }
                }
                "tags" => converge_tags(cx, &o.id, &tags_from(c.before.as_ref()), &tags_from(c.after.as_ref())).await?,
                other => return Err(StepError::not_in_place(other, "an internet gateway")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        let Some(vpcs) = live_vpcs(cx, &o.id).await? else {
            cx.forget_id(o);
            return Ok(());
        };
        for vpc in &vpcs {
            p.say(format!("detaching from {vpc}"));
            detach(cx, &o.id, vpc, p).await?;
        }
        let result = retry_while_in_use(p, || async {
            cx.aws
                .ec2
                .delete_internet_gateway()
                .internet_gateway_id(&o.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("ec2:DeleteInternetGateway", e))
        })
        .await;
        deleted(cx, o, result)
    }
}
