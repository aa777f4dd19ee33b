//! The `routes` attribute of a route table: every route but the VPC's local one, as
//! `{"destination": "0.0.0.0/0", "gateway": "internet_gateway.main"}` with the target
//! shown as the stack's address when it has one. Routes are changed one at a time:
//! created, replaced (same destination, new target) or deleted.

use super::resolve;
use crate::apply::StepError;
use crate::aws::{call_error, is_code};
use crate::resources::Cx;
use aws_sdk_ec2::types::{RouteOrigin, RouteTable};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Route targets as attribute keys, in the order AWS's fields are read.
const TARGETS: [&str; 10] = [
    "gateway",
    "nat_gateway",
    "transit_gateway",
    "vpc_peering_connection",
    "instance",
    "network_interface",
    "egress_only_gateway",
    "local_gateway",
    "carrier_gateway",
    "core_network",
];

/// Destination → (target key, target): the `routes` attribute as a map.
pub type Routes = BTreeMap<String, (String, String)>;

pub fn routes_value(routes: &Routes) -> Value {
    let list = routes.iter().map(|(dest, (key, target))| {
        let mut m = Map::new();
        m.insert("destination".into(), json!(dest));
        m.insert(key.clone(), json!(target));
        Value::Object(m)
    });
    Value::Array(list.collect())
}

pub fn parse_routes(v: Option<&Value>) -> Routes {
    let items = v.and_then(Value::as_array).cloned().unwrap_or_default();
    items
        .iter()
        .filter_map(|r| {
            let dest = r.get("destination")?.as_str()?.to_string();
            let key = TARGETS.iter().find(|k| r.get(**k).is_some())?;
            Some((dest, (key.to_string(), r[*key].as_str()?.to_string())))
        })
        .collect()
}

/// The routes of a live table that the stack manages (not the VPC's local route, not
/// routes propagated by a virtual private gateway).
pub fn live_routes(t: &RouteTable, shown: impl Fn(&str) -> String) -> Routes {
    let mut out = Routes::new();
    for r in t.routes() {
        if r.gateway_id() == Some("local")
            || matches!(r.origin(), Some(RouteOrigin::CreateRouteTable | RouteOrigin::EnableVgwRoutePropagation))
        {
            continue;
        }
        let Some(dest) =
            r.destination_cidr_block().or(r.destination_ipv6_cidr_block()).or(r.destination_prefix_list_id())
        else {
            continue;
        };
        let targets = [
            r.gateway_id(),
            r.nat_gateway_id(),
            r.transit_gateway_id(),
            r.vpc_peering_connection_id(),
            r.instance_id(),
            r.network_interface_id(),
            r.egress_only_internet_gateway_id(),
            r.local_gateway_id(),
            r.carrier_gateway_id(),
            r.core_network_arn(),
        ];
        let target = TARGETS.iter().zip(targets).find_map(|(k, v)| v.map(|v| (k.to_string(), shown(v))));
        out.insert(dest.to_string(), target.unwrap_or_else(|| ("gateway".into(), "(none)".into())));
    }
    out
}

/// Set a route's destination on a CreateRoute, ReplaceRoute or DeleteRoute request.
macro_rules! destination {
    ($req:expr, $dest:expr) => {{
        let dest: &str = $dest;
        if dest.contains(':') {
            $req.destination_ipv6_cidr_block(dest)
        } else if dest.starts_with("pl-") {
            $req.destination_prefix_list_id(dest)
        } else {
            $req.destination_cidr_block(dest)
        }
    }};
}

/// Set a route's target on a CreateRoute or ReplaceRoute request.
macro_rules! target {
    ($req:expr, $key:expr, $id:expr) => {{
        let (req, id) = ($req, $id);
        match $key {
            "nat_gateway" => req.nat_gateway_id(id),
            "transit_gateway" => req.transit_gateway_id(id),
            "vpc_peering_connection" => req.vpc_peering_connection_id(id),
            "instance" => req.instance_id(id),
            "network_interface" => req.network_interface_id(id),
            "egress_only_gateway" => req.egress_only_internet_gateway_id(id),
            "local_gateway" => req.local_gateway_id(id),
            "carrier_gateway" => req.carrier_gateway_id(id),
            "core_network" => req.core_network_arn(id),
            _ => req.gateway_id(id),
        }
    }};
}

/// Make the table's routes go from `before` to `after`, one route at a time.
pub async fn converge_routes(cx: &Cx, table: &str, before: &Routes, after: &Routes) -> Result<(), StepError> {
    let ec2 = &cx.aws.ec2;
    for dest in before.keys().filter(|d| !after.contains_key(*d)) {
        let req = destination!(ec2.delete_route().route_table_id(table), dest);
        match req.send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "InvalidRoute.NotFound") => {}
            Err(e) => return Err(call_error("ec2:DeleteRoute", e)),
        }
    }
    for (dest, (key, target)) in after.iter().filter(|(d, t)| before.get(*d) != Some(*t)) {
        let id =
            resolve(cx, target).ok_or_else(|| StepError::new("plan", format!("`{target}` does not exist (yet)")))?;
        let replace = || target!(destination!(ec2.replace_route().route_table_id(table), dest), key.as_str(), &id);
        if before.contains_key(dest) {
            replace().send().await.map_err(|e| call_error("ec2:ReplaceRoute", e))?;
            continue;
        }
        let create = target!(destination!(ec2.create_route().route_table_id(table), dest), key.as_str(), &id);
        match create.send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "RouteAlreadyExists") => {
                replace().send().await.map_err(|e| call_error("ec2:ReplaceRoute", e))?;
            }
            Err(e) => return Err(call_error("ec2:CreateRoute", e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::Route;

    #[test]
    fn live_routes_skip_the_local_route_and_show_targets_as_addresses() {
        let route = |dest: &str| Route::builder().destination_cidr_block(dest);
        let t = RouteTable::builder()
            .routes(route("10.0.0.0/16").gateway_id("local").origin(RouteOrigin::CreateRouteTable).build())
            .routes(route("0.0.0.0/0").gateway_id("igw-1").origin(RouteOrigin::CreateRoute).build())
            .routes(route("10.9.0.0/16").nat_gateway_id("nat-9").build())
            .routes(route("10.8.0.0/16").gateway_id("vgw-8").origin(RouteOrigin::EnableVgwRoutePropagation).build())
            .build();
        let shown = |id: &str| if id == "igw-1" { "internet_gateway.main".to_string() } else { id.to_string() };
        let routes = live_routes(&t, shown);
        assert_eq!(
            routes_value(&routes),
            json!([{"destination": "0.0.0.0/0", "gateway": "internet_gateway.main"},
                   {"destination": "10.9.0.0/16", "nat_gateway": "nat-9"}])
        );
        assert_eq!(parse_routes(Some(&routes_value(&routes))), routes);
        assert!(parse_routes(None).is_empty());
    }
}
