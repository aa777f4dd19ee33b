//! `subnet.public-<i>` and `subnet.private-<i>`: one subnet of each tier per availability
//! zone, in the file's order, named `<stack>-public-0` and so on. Public subnets hold the
//! load balancer and the app instances and give them public addresses; private ones hold
//! the database and give none. CIDR, zone and VPC cannot change in place (a new subnet
//! replaces the old one); the public-address setting and tags change in place.

use super::{deleted, observed, shown, stack_addrs, text, vpc_addr};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::ec2::until_visible;
use crate::resources::ec2::{converge_tags, named_tags, retry_while_in_use, tag_spec};
use crate::resources::{tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use bumarket_stack::Cidr;
use serde_json::{json, Value};

pub struct Subnets;

fn desired_tier(cx: &Cx, tier: &str, zones: &[String], cidrs: &[Cidr]) -> Vec<Desired> {
    zones
        .iter()
        .zip(cidrs)
        .enumerate()
        .map(|(i, (zone, cidr))| {
            let logical = format!("{tier}-{i}");
            let addr = Addr::new(Kind::Subnet, &logical);
            let name = format!("{}-{logical}", cx.stack.name);
            let mut attrs = Attrs::new();
            attrs.insert("cidr".into(), json!(cidr.to_string()));
            attrs.insert("availability_zone".into(), json!(zone));
            attrs.insert("vpc".into(), json!(vpc_addr().as_str()));
            attrs.insert("map_public_ip_on_launch".into(), json!(tier == "public"));
            attrs.insert("tags".into(), tags_value(&named_tags(cx, &addr, &name)));
            Desired { addr, name, attrs, deps: vec![vpc_addr()] }
        })
        .collect()
}

/// The route table of a subnet's tier: `route_table.public` for `subnet.public-0`.
fn route_table_of(subnet: &Addr) -> Option<Addr> {
    let (tier, _) = subnet.as_str().strip_prefix("subnet.")?.rsplit_once('-')?;
    Some(Addr::new(Kind::RouteTable, tier))
}

async fn set_public_ip(cx: &Cx, id: &str, on: bool) -> Result<(), StepError> {
    cx.aws
        .ec2
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("ec2:ModifySubnetAttribute", e))
}

/// A subnet keeps its CIDR, zone and VPC; whether it maps public addresses and its
/// tags change in place. "You must terminate all running instances in the subnet
/// before you can delete the subnet" (EC2 API reference, DeleteSubnet): the fleet, the
/// load balancer, the database and Cloud9 go first.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Subnet,
    layer: 1,
    attrs: &[
        AttrSpec::replace("cidr"),
        AttrSpec::replace("availability_zone"),
        AttrSpec::replace("vpc"),
        AttrSpec::update("map_public_ip_on_launch"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[Kind::AutoscalingGroup, Kind::LoadBalancer, Kind::DbSubnetGroup, Kind::Database, Kind::Cloud9],
};

#[async_trait]
impl Provider for Subnets {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["ec2:DescribeSubnets"],
            writes: &[
                "ec2:AssociateRouteTable",
                "ec2:CreateSubnet",
                "ec2:DeleteSubnet",
                "ec2:ModifySubnetAttribute",
                "ec2:CreateTags",
                "ec2:DeleteTags",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let Some(net) = cx.stack.network.as_ref().filter(|n| !n.existing) else { return vec![] };
        let mut out = desired_tier(cx, "public", &net.availability_zones, &net.public_subnets);
        out.extend(desired_tier(cx, "private", &net.availability_zones, &net.private_subnets));
        out
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.ec2().await?;
        let mut out = Vec::new();
        for s in &snap.subnets {
            let Some(id) = s.subnet_id() else { continue };
            let vpc = s.vpc_id().unwrap_or_default();
            let mut attrs = Attrs::new();
            attrs.insert("cidr".into(), json!(s.cidr_block().unwrap_or_default()));
            attrs.insert("availability_zone".into(), json!(s.availability_zone().unwrap_or_default()));
            attrs.insert("vpc".into(), json!(shown(snap, vpc)));
            attrs.insert("map_public_ip_on_launch".into(), json!(s.map_public_ip_on_launch().unwrap_or(false)));
            cx.note_references([vpc]);
            out.push(observed(cx, Kind::Subnet, id, s.tags(), attrs, stack_addrs(snap, [vpc]), wanted));
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let ec2 = &cx.aws.ec2;
        let tags = tags_from(attr(&d.attrs, "tags"));
        let vpc = cx.id_in(text(&d.attrs, "vpc"))?;
        let cidr = text(&d.attrs, "cidr");
        let made = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(text(&d.attrs, "availability_zone"))
            .tag_specifications(tag_spec(&tags, ResourceType::Subnet))
            .send()
            .await;
        let id = match made {
            Ok(out) => out.subnet.and_then(|s| s.subnet_id),
            // The SDK sent the call again after losing the first answer, and AWS refuses
            // the block the first try took: that subnet, tagged as this address, is ours.
            Err(e) if is_code(&e, "InvalidSubnet.Conflict") => match own_subnet(cx, &vpc, cidr, &d.addr).await? {
                Some(id) => Some(id),
                None => return Err(call_error("ec2:CreateSubnet", e)),
            },
            Err(e) => return Err(call_error("ec2:CreateSubnet", e)),
        }
        .ok_or_else(|| StepError::missing("ec2:CreateSubnet", "the subnet's id"))?;
        cx.set_id(&d.addr, &id);
        until_visible(p, &format!("{id} to be available"), || async {
            let out = ec2
                .describe_subnets()
                .subnet_ids(&id)
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeSubnets", e))?;
            let state = out.subnets().first().and_then(|s| s.state()).map(|s| s.as_str().to_string());
            Ok(state
                .filter(|s| s != "available")
                .or_else(|| out.subnets().is_empty().then(|| "not visible yet".into())))
        })
        .await?;
        if attr(&d.attrs, "map_public_ip_on_launch") == Some(&json!(true)) {
            set_public_ip(cx, &id, true).await?;
        }
        // A subnet that replaces an old one joins its tier's route table, which the plan
        // leaves alone (its list of subnet addresses did not change). A route table made
        // in this run associates its subnets itself.
        if let Some(table) = route_table_of(&d.addr).and_then(|rt| cx.known_id(&rt)) {
            match ec2.associate_route_table().route_table_id(table).subnet_id(&id).send().await {
                Ok(_) => {}
                Err(e) if is_code(&e, "Resource.AlreadyAssociated") => {}
                Err(e) => return Err(call_error("ec2:AssociateRouteTable", e)),
            }
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
        for c in changes {
            match c.name.as_str() {
                "map_public_ip_on_launch" => {
                    set_public_ip(cx, &o.id, c.after.as_ref().and_then(Value::as_bool).unwrap_or(false)).await?
                }
                "tags" => converge_tags(cx, &o.id, &tags_from(c.before.as_ref()), &tags_from(c.after.as_ref())).await?,
                other => return Err(StepError::not_in_place(other, "a subnet")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        let result = retry_while_in_use(p, || async {
            cx.aws
                .ec2
                .delete_subnet()
                .subnet_id(&o.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| call_error("ec2:DeleteSubnet", e))
        })
        .await;
        deleted(cx, o, result)
    }
}

/// The subnet of `vpc` with block `cidr` that carries this stack's tag for `addr`.
async fn own_subnet(cx: &Cx, vpc: &str, cidr: &str, addr: &Addr) -> Result<Option<String>, StepError> {
    use aws_sdk_ec2::types::Filter;
    let filter = |k: &str, v: &str| Filter::builder().name(k).values(v).build();
    let out = cx
        .aws
        .ec2
        .describe_subnets()
        .filters(filter("vpc-id", vpc))
        .filters(filter("cidr-block", cidr))
        .filters(filter(&format!("tag:{}", crate::resources::TAG_STACK), &cx.stack.name))
        .filters(filter(&format!("tag:{}", crate::resources::TAG_RESOURCE), addr.as_str()))
        .send()
        .await
        .map_err(|e| call_error("ec2:DescribeSubnets", e))?;
    Ok(out.subnets.unwrap_or_default().into_iter().find_map(|s| s.subnet_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_belongs_to_its_tier_route_table() {
        assert_eq!(route_table_of(&Addr::new(Kind::Subnet, "public-1")), Some(Addr::new(Kind::RouteTable, "public")));
        assert_eq!(
            route_table_of(&Addr::new(Kind::Subnet, "private-10")),
            Some(Addr::new(Kind::RouteTable, "private"))
        );
        assert_eq!(route_table_of(&Addr::new(Kind::Vpc, "main")), None);
    }
}
