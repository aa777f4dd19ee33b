//! `vpc.main`: the stack's one VPC, named `<stack>`, with the network's CIDR and DNS
//! support and DNS hostnames on (instances and the database need names that resolve).
//! The CIDR cannot change in place; a changed CIDR would replace the whole network, which
//! is refused before anything runs. The DNS settings and tags change in place.
//!
//! Read: the VPC comes from the wave-one snapshot; its two DNS attributes are not part of
//! `DescribeVpcs`, so each costs one `DescribeVpcAttribute` (both in parallel).

use super::{deleted, observed, text, vpc_addr};
use crate::apply::{Progress, StepError};
use crate::aws::call_error;
use crate::engine::{AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::ec2::until_visible;
use crate::resources::ec2::{converge_tags, named_tags, retry_while_in_use, tag_spec};
use crate::resources::{tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use serde_json::{json, Value};

pub struct Vpcs;

/// The two VPC attributes the stack sets.
const DNS_SUPPORT: &str = "enable_dns_support";
const DNS_HOSTNAMES: &str = "enable_dns_hostnames";

async fn read_flag(cx: &Cx, id: &str, which: VpcAttributeName) -> Result<bool, StepError> {
    let out = cx
        .aws
        .ec2
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(which.clone())
        .send()
        .await
        .map_err(|e| call_error("ec2:DescribeVpcAttribute", e))?;
    let flag = match which {
        VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames,
        _ => out.enable_dns_support,
    };
    Ok(flag.and_then(|v| v.value).unwrap_or(false))
}

async fn set_flag(cx: &Cx, id: &str, key: &str, on: bool) -> Result<(), StepError> {
    let v = AttributeBooleanValue::builder().value(on).build();
    let req = cx.aws.ec2.modify_vpc_attribute().vpc_id(id);
    // One attribute per call: AWS refuses both at once.
    let req = if key == DNS_HOSTNAMES { req.enable_dns_hostnames(v) } else { req.enable_dns_support(v) };
    req.send().await.map(drop).map_err(|e| call_error("ec2:ModifyVpcAttribute", e))
}

/// A VPC keeps its CIDR; its DNS settings and tags change in place. Everything in it
/// goes first: its subnets, gateway, route tables and groups reference it.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Vpc,
    layer: 0,
    attrs: &[
        AttrSpec::replace("cidr"),
        AttrSpec::update(DNS_SUPPORT),
        AttrSpec::update(DNS_HOSTNAMES),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Vpcs {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["ec2:DescribeVpcs", "ec2:DescribeVpcAttribute"],
            writes: &["ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute", "ec2:CreateTags", "ec2:DeleteTags"],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let Some(net) = cx.stack.network.as_ref().filter(|n| !n.existing) else { return vec![] };
        let addr = vpc_addr();
        let name = cx.stack.name.clone();
        let mut attrs = Attrs::new();
        attrs.insert("cidr".into(), json!(net.cidr.to_string()));
        attrs.insert(DNS_SUPPORT.into(), json!(true));
        attrs.insert(DNS_HOSTNAMES.into(), json!(true));
        attrs.insert("tags".into(), tags_value(&named_tags(cx, &addr, &name)));
        vec![Desired { addr, name, attrs, deps: vec![] }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.ec2().await?;
        let reads = snap.vpcs.iter().filter_map(|v| v.vpc_id().map(|id| (v, id))).map(|(v, id)| async move {
            let (support, hostnames) = tokio::try_join!(
                read_flag(cx, id, VpcAttributeName::EnableDnsSupport),
                read_flag(cx, id, VpcAttributeName::EnableDnsHostnames)
            )?;
            let mut attrs = Attrs::new();
            attrs.insert("cidr".into(), json!(v.cidr_block().unwrap_or_default()));
            attrs.insert(DNS_SUPPORT.into(), json!(support));
            attrs.insert(DNS_HOSTNAMES.into(), json!(hostnames));
            Ok::<_, StepError>(observed(cx, Kind::Vpc, id, v.tags(), attrs, vec![], wanted))
        });
        futures::future::try_join_all(reads).await
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let ec2 = &cx.aws.ec2;
        let tags = tags_from(attr(&d.attrs, "tags"));
        let out = ec2
            .create_vpc()
            .cidr_block(text(&d.attrs, "cidr"))
            .tag_specifications(tag_spec(&tags, ResourceType::Vpc))
            .send()
            .await
            .map_err(|e| call_error("ec2:CreateVpc", e))?;
        let id = out.vpc.and_then(|v| v.vpc_id).ok_or_else(|| StepError::missing("ec2:CreateVpc", "the VPC's id"))?;
        cx.set_id(&d.addr, &id);
        until_visible(p, &format!("{id} to be available"), || async {
            let out = ec2.describe_vpcs().vpc_ids(&id).send().await.map_err(|e| call_error("ec2:DescribeVpcs", e))?;
            let state = out.vpcs().first().and_then(|v| v.state()).map(|s| s.as_str().to_string());
            Ok(state.filter(|s| s != "available").or_else(|| out.vpcs().is_empty().then(|| "not visible yet".into())))
        })
        .await?;
        // Support first: AWS refuses DNS hostnames in a VPC without DNS support.
        for key in [DNS_SUPPORT, DNS_HOSTNAMES] {
            set_flag(cx, &id, key, attr(&d.attrs, key) == Some(&json!(true))).await?;
        }
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        _d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        // Support before hostnames when turning on, hostnames before support when off.
        let mut flags: Vec<&AttrChange> =
            changes.iter().filter(|c| c.name == DNS_SUPPORT || c.name == DNS_HOSTNAMES).collect();
        flags.sort_by_key(
            |c| if c.after == Some(json!(true)) { c.name == DNS_HOSTNAMES } else { c.name == DNS_SUPPORT },
        );
        for c in flags {
            set_flag(cx, &o.id, &c.name, c.after.as_ref().and_then(Value::as_bool).unwrap_or(false)).await?;
        }
        for c in changes {
            match c.name.as_str() {
                DNS_SUPPORT | DNS_HOSTNAMES => {}
                "tags" => converge_tags(cx, &o.id, &tags_from(c.before.as_ref()), &tags_from(c.after.as_ref())).await?,
                other => return Err(StepError::not_in_place(other, "a VPC")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        let result = retry_while_in_use(p, || async {
            cx.aws.ec2.delete_vpc().vpc_id(&o.id).send().await.map(drop).map_err(|e| call_error("ec2:DeleteVpc", e))
        })
        .await;
        deleted(cx, o, result)
    }

    async fn refuse_delete(&self, _cx: &Cx, o: &Observed, d: Option<&Desired>) -> Result<Option<String>, StepError> {
        // A replacement: subnets, gateway, route tables and groups stay in the old VPC, so
        // AWS would refuse the delete after everything else has changed.
        Ok(d.map(|d| {
            format!(
                "changing `network.cidr` ({} -> {}) needs a new VPC, and everything in VPC {} would have to go first: run `bumarket-infra destroy`, then apply, or keep the CIDR",
                text(&o.attrs, "cidr"),
                text(&d.attrs, "cidr"),
                o.id
            )
        }))
    }
}
