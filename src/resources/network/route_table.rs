//! `route_table.public` and `route_table.private`: the public table sends 0.0.0.0/0 to
//! the internet gateway and is associated with every public subnet; the private table
//! (only with private subnets) has no route out and is associated with the private ones.
//! Attributes `routes` (`{"destination": ..., "gateway": ...}`, besides the VPC's local
//! route) and `subnets` (addresses, sorted) are diffed one route and one association at
//! a time. Associations are looked up fresh when changed: the plan shows addresses, AWS
//! needs association ids.

use super::routes::{converge_routes, live_routes, parse_routes, routes_value, Routes};
use super::{deleted, observed, resolve, shown, stack_addrs, text, vpc_addr};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, strings, AttrChange};
use crate::resources::ec2::{converge_tags, gone, named_tags, retry_while_in_use, tag_spec};
use crate::resources::{tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, RouteTable};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct RouteTables;

/// Subnet associations of a live table: subnet id → association id.
fn associations(t: &RouteTable) -> BTreeMap<String, String> {
    t.associations()
        .iter()
        .filter(|a| a.main() != Some(true))
        .filter_map(|a| Some((a.subnet_id()?.to_string(), a.route_table_association_id()?.to_string())))
        .collect()
}

/// The table of one tier: its routes, its tier's subnets, and all it names as deps.
fn desired_table(cx: &Cx, tier: &str, subnets: usize, routes: Routes) -> Desired {
    let addr = Addr::new(Kind::RouteTable, tier);
    let name = format!("{}-{tier}", cx.stack.name);
    let subnets: Vec<Addr> = (0..subnets).map(|i| Addr::new(Kind::Subnet, format!("{tier}-{i}"))).collect();
    let mut deps = vec![vpc_addr()];
    deps.extend(routes.values().filter_map(|(_, target)| Addr::parse(target).ok()));
    deps.extend(subnets.iter().cloned());
    let mut names: Vec<&str> = subnets.iter().map(Addr::as_str).collect();
    names.sort_unstable();
    let mut attrs = Attrs::new();
    attrs.insert("vpc".into(), json!(vpc_addr().to_string()));
    attrs.insert("routes".into(), routes_value(&routes));
    attrs.insert("subnets".into(), json!(names));
    attrs.insert("tags".into(), tags_value(&named_tags(cx, &addr, &name)));
    Desired { addr, name, attrs, deps }
}

/// The table as AWS has it now (`None` when gone), retrying a while after a create until
/// AWS's eventually consistent reads know it.
async fn describe(cx: &Cx, id: &str, just_created: bool) -> Result<Option<RouteTable>, StepError> {
    let started = Instant::now();
    loop {
        let out = cx.aws.ec2.describe_route_tables().route_table_ids(id).send().await;
        let e = match out {
            Ok(out) => return Ok(out.route_tables.unwrap_or_default().into_iter().next()),
            Err(e) => call_error("ec2:DescribeRouteTables", e),
        };
        if !gone(&e) {
            return Err(e);
        }
        if !just_created || started.elapsed() > Duration::from_secs(60) {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The subnet associations of a table that must exist.
async fn associations_now(cx: &Cx, table: &str, just_created: bool) -> Result<BTreeMap<String, String>, StepError> {
    match describe(cx, table, just_created).await? {
        Some(t) => Ok(associations(&t)),
        None => Err(StepError::new("ec2:DescribeRouteTables", format!("route table {table} does not exist"))),
    }
}

/// Make the table's subnet associations go from `now` (subnet id → association id) to
/// `want` (subnet addresses or ids).
async fn converge_subnets(
    cx: &Cx,
    table: &str,
    now: &BTreeMap<String, String>,
    want: &[String],
) -> Result<(), StepError> {
    let ec2 = &cx.aws.ec2;
    let mut want_ids = Vec::new();
    for s in want {
        want_ids.push(resolve(cx, s).ok_or_else(|| StepError::new("plan", format!("`{s}` does not exist (yet)")))?);
    }
    for (subnet, association) in now.iter().filter(|(s, _)| !want_ids.contains(s)) {
        match ec2.disassociate_route_table().association_id(association).send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "InvalidAssociationID.NotFound") => {}
            Err(e) => return Err(call_error(&format!("ec2:DisassociateRouteTable ({subnet})"), e)),
        }
    }
    for subnet in want_ids.iter().filter(|s| !now.contains_key(*s)) {
        match ec2.associate_route_table().route_table_id(table).subnet_id(subnet).send().await {
            Ok(_) => {}
            // Associated with another table (made outside): move it here.
            Err(e) if is_code(&e, "Resource.AlreadyAssociated") => {
                let filter = Filter::builder().name("association.subnet-id").values(subnet).build();
                let out = ec2
                    .describe_route_tables()
                    .filters(filter)
                    .send()
                    .await
                    .map_err(|e| call_error("ec2:DescribeRouteTables", e))?;
                let old = out.route_tables().iter().find_map(|t| associations(t).remove(subnet));
                let old = old.ok_or_else(|| call_error("ec2:AssociateRouteTable", e))?;
                ec2.replace_route_table_association()
                    .association_id(old)
                    .route_table_id(table)
                    .send()
                    .await
                    .map_err(|e| call_error("ec2:ReplaceRouteTableAssociation", e))?;
            }
            Err(e) => return Err(call_error("ec2:AssociateRouteTable", e)),
        }
    }
    Ok(())
}

/// A table stays in its VPC; its routes, subnet associations and tags change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::RouteTable,
    layer: 2,
    attrs: &[
        AttrSpec::replace("vpc"),
        AttrSpec::update("routes"),
        AttrSpec::update("subnets").set(),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for RouteTables {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["ec2:DescribeRouteTables"],
            writes: &[
                "ec2:AssociateRouteTable",
                "ec2:CreateRouteTable",
                "ec2:DeleteRouteTable",
                "ec2:DisassociateRouteTable",
                "ec2:ReplaceRouteTableAssociation",
                "ec2:CreateRoute",
                "ec2:DeleteRoute",
                "ec2:ReplaceRoute",
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
        let internet = ("gateway".to_string(), "internet_gateway.main".to_string());
        let mut out =
            vec![desired_table(cx, "public", net.public_subnets.len(), Routes::from([("0.0.0.0/0".into(), internet)]))];
        if !net.private_subnets.is_empty() {
            out.push(desired_table(cx, "private", net.private_subnets.len(), Routes::new()));
        }
        out
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.ec2().await?;
        let mut out = Vec::new();
        for t in &snap.route_tables {
            let Some(id) = t.route_table_id() else { continue };
            let vpc = t.vpc_id().unwrap_or_default();
            let routes = live_routes(t, |id| shown(snap, id));
            let subnets = associations(t);
            let mut names: Vec<String> = subnets.keys().map(|s| shown(snap, s)).collect();
            names.sort_unstable();
            let mut attrs = Attrs::new();
            attrs.insert("vpc".into(), json!(shown(snap, vpc)));
            attrs.insert("routes".into(), routes_value(&routes));
            attrs.insert("subnets".into(), json!(names));
            let targets = t.routes().iter().filter_map(|r| r.gateway_id().or(r.nat_gateway_id()));
            let refs: Vec<&str> = [vpc].into_iter().chain(targets).chain(subnets.keys().map(String::as_str)).collect();
            cx.note_references(refs.iter().copied());
            // Each associated subnet uses this table: of two copies, keep the one in use.
            cx.note_references(std::iter::repeat_n(id, subnets.len()));
            let deps = stack_addrs(snap, refs);
            out.push(observed(cx, Kind::RouteTable, id, t.tags(), attrs, deps, wanted));
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let tags = tags_from(attr(&d.attrs, "tags"));
        let vpc = cx.id_in(text(&d.attrs, "vpc"))?;
        let out = cx
            .aws
            .ec2
            .create_route_table()
            .vpc_id(vpc)
            .tag_specifications(tag_spec(&tags, ResourceType::RouteTable))
            .send()
            .await
            .map_err(|e| call_error("ec2:CreateRouteTable", e))?;
        let id = out
            .route_table
            .and_then(|t| t.route_table_id)
            .ok_or_else(|| StepError::missing("ec2:CreateRouteTable", "the route table's id"))?;
        cx.set_id(&d.addr, &id);
        p.say(format!("waiting for {id} to be visible"));
        let now = associations_now(cx, &id, true).await?;
        converge_routes(cx, &id, &Routes::new(), &parse_routes(attr(&d.attrs, "routes"))).await?;
        converge_subnets(cx, &id, &now, &strings(attr(&d.attrs, "subnets"))).await
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
                "routes" => {
                    converge_routes(cx, &o.id, &parse_routes(c.before.as_ref()), &parse_routes(c.after.as_ref()))
                        .await?
                }
                "subnets" => {
                    let now = associations_now(cx, &o.id, false).await?;
                    converge_subnets(cx, &o.id, &now, &strings(c.after.as_ref())).await?
                }
                "tags" => converge_tags(cx, &o.id, &tags_from(c.before.as_ref()), &tags_from(c.after.as_ref())).await?,
                other => return Err(StepError::not_in_place(other, "a route table")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        if let Some(t) = describe(cx, &o.id, false).await? {
            converge_subnets(cx, &o.id, &associations(&t), &[]).await?;
        }
        let result = retry_while_in_use(p, || async {
            let req = cx.aws.ec2.delete_route_table().route_table_id(&o.id);
            req.send().await.map(drop).map_err(|e| call_error("ec2:DeleteRouteTable", e))
        })
        .await;
        deleted(cx, o, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::RouteTableAssociation;

    #[test]
    fn only_subnet_associations_count_not_the_main_one() {
        let t = RouteTable::builder()
            .associations(RouteTableAssociation::builder().main(true).route_table_association_id("a-main").build())
            .associations(
                RouteTableAssociation::builder()
                    .main(false)
                    .subnet_id("subnet-1")
                    .route_table_association_id("a-1")
                    .build(),
            )
            .build();
        assert_eq!(associations(&t), BTreeMap::from([("subnet-1".to_string(), "a-1".to_string())]));
    }
}
