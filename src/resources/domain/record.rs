//! `dns_record.app`: the alias A record of `domain.name` in the domain's zone, pointing
//! at the stack's load balancer. Route 53 records carry no tags: the record is the
//! stack's when it points at the stack's load balancer; a record of that name that
//! points elsewhere is someone else's, a conflict the plan names (`adopt:` takes it
//! over). Zone and name cannot change in place; the target changes in place (an UPSERT,
//! which Route 53 applies atomically: the name never stops resolving).
//!
//! Facts relied on (Route 53 API Reference): `ChangeResourceRecordSets` UPSERT "creates
//! a resource record set ... or updates it" if one exists; an alias to an Application
//! Load Balancer names the load balancer's `CanonicalHostedZoneId` and `DNSName`
//! (AliasTarget); a change is PENDING until `GetChange` says INSYNC ("changes have
//! propagated to all Route 53 DNS servers"); `ListResourceRecordSets` lists from
//! `StartRecordName`/`StartRecordType` on, and returns names lower case with the final
//! dot; a DELETE must give the record as it is, and one that is not there is refused
//! with `InvalidChangeBatch` ("not found").
//!
//! Read: one `ListResourceRecordSets` from the name, one item.

use super::{fqdn, zone_id};
use crate::apply::{Progress, StepError};
use crate::aws::call_error;
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::wait::{until, Poll};
use crate::resources::{Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub struct Records;

const LB: &str = "load_balancer.main";

pub fn addr() -> Addr {
    Addr::new(Kind::DnsRecord, "app")
}

/// An alias target's DNS name as compared: Route 53 shows ALB aliases with a
/// `dualstack.` prefix and a final dot.
fn target_name(dns: &str) -> String {
    let dns = dns.trim_end_matches('.').to_ascii_lowercase();
    dns.strip_prefix("dualstack.").map(String::from).unwrap_or(dns)
}

fn change(action: ChangeAction, set: ResourceRecordSet) -> Result<ChangeBatch, StepError> {
    let c = Change::builder().action(action).resource_record_set(set).build();
    let c = c.map_err(|e| StepError::new("route53:ChangeResourceRecordSets", e.to_string()))?;
    ChangeBatch::builder()
        .changes(c)
        .build()
        .map_err(|e| StepError::new("route53:ChangeResourceRecordSets", e.to_string()))
}

async fn send(cx: &Cx, zone: &str, batch: ChangeBatch) -> Result<String, StepError> {
    let out = cx
        .aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| call_error("route53:ChangeResourceRecordSets", e))?;
    Ok(out.change_info().map(|c| c.id().to_string()).unwrap_or_default())
}

/// Write (or rewrite) a CNAME: the certificate's validation record.
pub async fn upsert_cname(cx: &Cx, zone: &str, name: &str, value: &str) -> Result<(), StepError> {
    let set = ResourceRecordSet::builder()
        .name(fqdn(name))
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(value).build().expect("a value"))
        .build()
        .map_err(|e| StepError::new("route53:ChangeResourceRecordSets", e.to_string()))?;
    send(cx, zone, change(ChangeAction::Upsert, set)?).await.map(drop)
}

/// Wait until Route 53 has the change on all its servers.
async fn in_sync(cx: &Cx, change: &str, p: &Progress<'_>) -> Result<(), StepError> {
    if change.is_empty() {
        return Ok(());
    }
    let say = |m: String| p.say(m);
    until(&say, "Route 53 to answer with the record", Duration::from_secs(600), Duration::from_secs(5), || async {
        let out =
            cx.aws.route53.get_change().id(change).send().await.map_err(|e| call_error("route53:GetChange", e))?;
        Ok(match out.change_info().map(|c| c.status()) {
            Some(ChangeStatus::Insync) => Poll::Ready(()),
            other => Poll::Pending(other.map_or("PENDING", |s| s.as_str()).to_string()),
        })
    })
    .await
}

/// The record set an alias to the load balancer is: as the file wants it, or as
/// `o` shows it live (to delete it exactly).
fn alias_set(name: &str, zone: &str, dns: &str, evaluate: bool) -> Result<ResourceRecordSet, StepError> {
    let target = AliasTarget::builder()
        .hosted_zone_id(zone)
        .dns_name(dns)
        .evaluate_target_health(evaluate)
        .build()
        .map_err(|e| StepError::new("route53:ChangeResourceRecordSets", e.to_string()))?;
    ResourceRecordSet::builder()
        .name(fqdn(name))
        .r#type(RrType::A)
        .alias_target(target)
        .build()
        .map_err(|e| StepError::new("route53:ChangeResourceRecordSets", e.to_string()))
}

/// Point the name at the stack's load balancer and wait until Route 53 answers so.
async fn point(cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
    let arn = cx.id_in(LB)?;
    let out = cx
        .aws
        .elb
        .describe_load_balancers()
        .load_balancer_arns(&arn)
        .send()
        .await
        .map_err(|e| call_error("elbv2:DescribeLoadBalancers", e))?;
    let lb = out
        .load_balancers()
        .first()
        .ok_or_else(|| StepError::missing("elbv2:DescribeLoadBalancers", "the load balancer"))?;
    let (dns, lb_zone) = (lb.dns_name().unwrap_or_default(), lb.canonical_hosted_zone_id().unwrap_or_default());
    let evaluate = attr(&d.attrs, "evaluate_target_health").and_then(Value::as_bool).unwrap_or(true);
    let zone = zone_id(cx)?;
    let id = send(cx, &zone, change(ChangeAction::Upsert, alias_set(&d.name, lb_zone, dns, evaluate)?)?).await?;
    in_sync(cx, &id, p).await
}

pub static SCHEMA: Schema = Schema {
    kind: Kind::DnsRecord,
    layer: 4,
    attrs: &[
        AttrSpec::replace("zone"),
        AttrSpec::replace("type"),
        AttrSpec::update("target"),
        AttrSpec::update("evaluate_target_health"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Records {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["route53:ListResourceRecordSets"],
            writes: &["route53:ChangeResourceRecordSets", "route53:GetChange", "elbv2:DescribeLoadBalancers"],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let (Some(d), Some(_)) = (&cx.stack.domain, &cx.stack.load_balancer) else { return vec![] };
        let mut attrs = Attrs::new();
        // The stack's own zone by its address (its id is AWS's to pick), else the id found.
        let zone = match super::zone::owned(cx) {
            Some(_) => super::zone::ZONE.to_string(),
            None => super::zone_id(cx).unwrap_or_default(),
        };
        attrs.insert("zone".into(), json!(zone));
        attrs.insert("type".into(), json!("A"));
        attrs.insert("target".into(), json!(LB));
        // Route 53 answers only while the load balancer has healthy targets somewhere.
        attrs.insert("evaluate_target_health".into(), json!(true));
        let mut deps = vec![Addr::parse(LB).expect("an address")];
        deps.extend(super::zone_deps(cx));
        vec![Desired { addr: addr(), name: d.name.clone(), attrs, deps }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let Some(d) = &cx.stack.domain else { return Ok(vec![]) };
        let Some(zone) = super::read_zone_id(cx, live).await? else { return Ok(vec![]) };
        let name = fqdn(&d.name);
        let listed = cx
            .aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .start_record_name(&name)
            .start_record_type(RrType::A)
            .max_items(1)
            .send();
        let (listed, elb) = tokio::join!(listed, live.elb());
        let listed = listed.map_err(|e| call_error("route53:ListResourceRecordSets", e))?;
        let elb = elb?;
        let Some(set) =
            listed.resource_record_sets().iter().find(|s| fqdn(s.name()) == name && s.r#type() == &RrType::A)
        else {
            return Ok(vec![]);
        };
        // The stack's load balancer, by its tags.
        let ours = elb
            .load_balancers
            .iter()
            .find(|(_, tags)| crate::resources::lb::tags::ownership(cx, "load balancer", tags) == Ownership::Ours);
        let ours = ours.and_then(|(lb, _)| lb.dns_name()).map(target_name);
        let alias = set.alias_target();
        let live_target = alias.map(|a| target_name(a.dns_name()));
        let points_here = live_target.is_some() && live_target == ours;
        let mut attrs = Attrs::new();
        let zone_shown = if super::zone::owned(cx).is_some() { super::zone::ZONE.to_string() } else { zone.clone() };
        attrs.insert("zone".into(), json!(zone_shown));
        attrs.insert("type".into(), json!("A"));
        let shown = if points_here {
            LB.to_string()
        } else {
            let values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
            live_target.clone().unwrap_or_else(|| values.join(", "))
        };
        attrs.insert("target".into(), json!(shown));
        attrs.insert("evaluate_target_health".into(), json!(alias.map(|a| a.evaluate_target_health())));
        let ownership = if points_here || cx.adopted(Kind::DnsRecord, &[&d.name, &name]).is_some() {
            Ownership::Ours
        } else {
            Ownership::Unowned(format!("a record {} exists in zone {zone}, pointing at {shown}", d.name))
        };
        let mut outputs = BTreeMap::from([("name".to_string(), name.clone()), ("zone".to_string(), zone.clone())]);
        if let Some(a) = alias {
            outputs.insert("target_dns".into(), a.dns_name().to_string());
            outputs.insert("target_zone".into(), a.hosted_zone_id().to_string());
        }
        let _ = wanted;
        let mut deps = if points_here { vec![Addr::parse(LB).expect("an address")] } else { vec![] };
        deps.extend(super::zone_deps(cx));
        Ok(vec![Observed { addr: addr(), name: d.name.clone(), id: name, attrs, ownership, outputs, deps }])
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        point(cx, d, p).await?;
        cx.set_id(&d.addr, fqdn(&d.name));
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        _o: &Observed,
        _changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        point(cx, d, p).await
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        let (Some(dns), Some(zone)) = (o.outputs.get("target_dns"), o.outputs.get("target_zone")) else {
            return Ok(());
        };
        let evaluate = attr(&o.attrs, "evaluate_target_health").and_then(Value::as_bool).unwrap_or(false);
        let record_zone = o.outputs.get("zone").cloned().unwrap_or_default();
        let set = alias_set(&o.name, zone, dns, evaluate)?;
        match send(cx, &record_zone, change(ChangeAction::Delete, set)?).await {
            Ok(_) => Ok(()),
            // Already gone (AWS: InvalidChangeBatch "... but it was not found"; the
            // emulator: InvalidInput "... but found none").
            Err(e)
                if (e.is_code("InvalidChangeBatch") || e.is_code("InvalidInput"))
                    && (e.message.contains("not found") || e.message.contains("found none")) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_targets_compare_without_the_dualstack_prefix_case_or_final_dot() {
        assert_eq!(
            target_name("dualstack.Shop-LB-1.ap-northeast-2.elb.amazonaws.com."),
            "shop-lb-1.ap-northeast-2.elb.amazonaws.com"
        );
        assert_eq!(
            target_name("shop-lb-1.ap-northeast-2.elb.amazonaws.com"),
            "shop-lb-1.ap-northeast-2.elb.amazonaws.com"
        );
    }
}
