//! `load_balancer.main`: the internet-facing application load balancer `<stack>-lb` over
//! every public subnet, behind `security_group.lb`, with the file's attributes (deletion
//! protection, dropping invalid headers, idle timeout, access logs into a stack bucket).
//! Subnets, security groups, attributes and tags change in place; name and scheme force a
//! new one. Create waits until it is `active`; delete waits until it is gone, so the
//! network it sat in can go next. With deletion protection on, deleting it is refused
//! before anything runs.
//!
//! Reads: the shared ELB snapshot (`snapshot.rs`: by the file's name and the index's
//! ARNs, tags from `DescribeTags`), then `DescribeLoadBalancerAttributes` for each of
//! ours, in parallel.

use super::attributes::{self, NAMES};
use super::tags::{self, to_tags};
use super::wait::{self, Until};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{bucket, tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct LoadBalancers;

/// The load balancer's physical name (at most 27 characters: stack names have 24).
pub fn physical_name(cx: &Cx) -> String {
    name_in(&cx.stack)
}

/// The load balancer's name in a stack (what wave one describes before any context).
pub fn name_in(stack: &bumarket_stack::Stack) -> String {
    stack.name_of("load_balancer.main", || format!("{}-lb", stack.name))
}

/// The address clients use: HTTPS with a certificate, the port only when not the default.
pub fn url(cx: &Cx, dns: &str) -> String {
    if let Some(d) = &cx.stack.domain {
        return format!("https://{}/", d.name);
    }
    let lb = cx.stack.load_balancer.as_ref();
    let https = lb.is_some_and(|l| l.certificate_arn.is_some());
    let (scheme, default) = if https { ("https", 443) } else { ("http", 80) };
    match lb.map_or(default, |l| l.listen_port) {
        p if p == default => format!("{scheme}://{dns}/"),
        p => format!("{scheme}://{dns}:{p}/"),
    }
}

fn desired_attrs(cx: &Cx, addr: &Addr, name: &str, subnets: &[Addr]) -> Option<Attrs> {
    let lb = cx.stack.load_balancer.as_ref()?;
    let logs_bucket = lb.access_logs.as_ref().map(|l| bucket::physical_name(cx, &l.bucket));
    let mut a = attributes::desired(lb, logs_bucket.as_deref());
    a.insert("name".into(), json!(name));
    a.insert("scheme".into(), json!("internet-facing"));
    a.insert("subnets".into(), json!(subnets));
    a.insert("security_groups".into(), json!(["security_group.lb"]));
    a.insert("tags".into(), tags_value(&cx.tags(addr)));
    Some(a)
}

/// Live ids → addresses of the stack (an id of something else stays as it is), sorted.
fn addrs(ids: impl Iterator<Item = String>, known: &crate::resources::ec2::Snapshot) -> Vec<String> {
    let mut out: Vec<String> = ids.map(|id| known.addr_of(&id).map_or(id, |a| a.to_string())).collect();
    out.sort();
    out
}

async fn observed(
    cx: &Cx,
    live: &Live,
    lb: &LoadBalancer,
    mut attrs: Attrs,
    tags: BTreeMap<String, String>,
    wanted: &[&Desired],
    ownership: Ownership,
) -> Result<Observed, StepError> {
    let name = lb.load_balancer_name().unwrap_or_default();
    let ec2 = live.ec2().await?;
    let subnets = addrs(lb.availability_zones().iter().filter_map(|z| z.subnet_id().map(String::from)), ec2);
    let groups = addrs(lb.security_groups().iter().cloned(), ec2);
    let mut deps = crate::resources::addrs_in(subnets.iter().chain(&groups));
    if let Some(b) = attrs.get("access_logs").and_then(|l| l["bucket"].as_str()) {
        deps.extend(bucket::addr_of_name(cx, b));
    }
    attrs.insert("name".into(), json!(name));
    attrs.insert("scheme".into(), json!(lb.scheme().map(|s| s.as_str())));
    attrs.insert("subnets".into(), json!(subnets));
    attrs.insert("security_groups".into(), json!(groups));
    attrs.insert("tags".into(), tags_value(&tags));
    let dns = lb.dns_name().unwrap_or_default();
    let (addr, ownership) = cx.placed(Kind::LoadBalancer, name, &tags, wanted, ownership);
    Ok(Observed {
        addr,
        name: name.to_string(),
        id: lb.load_balancer_arn().unwrap_or_default().to_string(),
        attrs,
        ownership,
        outputs: BTreeMap::from([("dns_name".to_string(), dns.to_string()), ("url".to_string(), url(cx, dns))]),
        deps,
    })
}

/// Live ids of the addresses in a list attribute.
fn ids_of(cx: &Cx, v: Option<&Value>) -> Result<Vec<String>, StepError> {
    let list = v.and_then(Value::as_array).cloned().unwrap_or_default();
    list.iter().filter_map(Value::as_str).map(|a| cx.id_in(a)).collect()
}

fn protected(attrs: &Attrs) -> bool {
    attr(attrs, "deletion_protection") == Some(&json!(true))
}

/// A load balancer keeps its name and scheme; its subnets, groups, attributes (see
/// `attributes::NAMES`) and tags change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::LoadBalancer,
    layer: 3,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::replace("scheme"),
        AttrSpec::update("subnets").set(),
        AttrSpec::update("security_groups").set(),
        AttrSpec::update("deletion_protection"),
        AttrSpec::update("drop_invalid_header_fields"),
        AttrSpec::update("idle_timeout_seconds"),
        AttrSpec::update("access_logs"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for LoadBalancers {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &[
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeTags",
            ],
            writes: &[
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        let arn = |what: &str| {
            format!("arn:{}:elasticloadbalancing:{}:*:{what}/app/{}/*", cx.partition(), cx.region(), d.name)
        };
        // Its listeners and their rules carry its name in their ARNs.
        vec![arn("loadbalancer"), arn("listener"), arn("listener-rule")]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let addr = Addr::new(Kind::LoadBalancer, "main");
        let name = physical_name(cx);
        let count = cx.stack.subnet_counts().0;
        let mut subnets: Vec<Addr> = (0..count).map(|i| Addr::new(Kind::Subnet, format!("public-{i}"))).collect();
        subnets.sort();
        let Some(attrs) = desired_attrs(cx, &addr, &name, &subnets) else { return vec![] };
        let logs = cx.stack.load_balancer.as_ref().and_then(|l| l.access_logs.as_ref());
        let mut deps = subnets;
        deps.push(Addr::new(Kind::SecurityGroup, "lb"));
        deps.extend(logs.map(|l| Addr::new(Kind::Bucket, &l.bucket)));
        vec![Desired { addr, name, attrs, deps }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.elb().await?;
        let found = snap.load_balancers.iter().filter_map(|(lb, tags)| {
            let ownership = tags::ownership(cx, "load balancer", tags);
            let wanted_here = wanted.iter().any(|d| Some(d.name.as_str()) == lb.load_balancer_name());
            (ownership == Ownership::Ours || wanted_here).then_some((lb, tags, ownership))
        });
        let reads = found.map(|(lb, tags, ownership)| async move {
            let arn = lb.load_balancer_arn().unwrap_or_default();
            let attrs = match ownership {
                // Gone since it was described: nothing to plan for it. One made outside
                // bumarket-infra is read whole too: `adopt:` may take it over.
                Ownership::Ours | Ownership::Unowned(_) => match attributes::read(cx, arn).await? {
                    Some(a) => a,
                    None => return Ok(None),
                },
                _ => Attrs::new(),
            };
            Ok::<_, StepError>(Some(observed(cx, live, lb, attrs, tags.clone(), wanted, ownership).await?))
        });
        Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect())
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let a = &d.attrs;
        let out = cx
            .aws
            .elb
            .create_load_balancer()
            .name(&d.name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(
                attr(a, "scheme").and_then(Value::as_str).unwrap_or("internet-facing"),
            ))
            .ip_address_type(IpAddressType::Ipv4)
            .set_subnets(Some(ids_of(cx, attr(a, "subnets"))?))
            .set_security_groups(Some(ids_of(cx, attr(a, "security_groups"))?))
            .set_tags(Some(to_tags(&tags_from(attr(a, "tags")))))
            .send()
            .await
            .map_err(|e| call_error("elbv2:CreateLoadBalancer", e))?;
        let arn = out
            .load_balancers()
            .first()
            .and_then(|l| l.load_balancer_arn())
            .ok_or_else(|| StepError::missing("elbv2:CreateLoadBalancer", "the load balancer's ARN"))?
            .to_string();
        cx.set_id(&d.addr, &arn);
        attributes::modify(cx, &arn, NAMES.iter().filter_map(|k| a.get(*k).map(|v| (*k, v)))).await?;
        wait::until(&cx.aws.elb, &arn, Until::Active, wait::timeout(cx), wait::EVERY, &|m| p.say(m)).await
    }

    async fn update(
        &self,
        cx: &Cx,
        _d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let elb = &cx.aws.elb;
        let mut settings = Vec::new();
        for c in changes {
            match c.name.as_str() {
                "subnets" => {
                    let req =
                        elb.set_subnets().load_balancer_arn(&o.id).set_subnets(Some(ids_of(cx, c.after.as_ref())?));
                    req.send().await.map_err(|e| call_error("elbv2:SetSubnets", e))?;
                }
                "security_groups" => {
                    let ids = ids_of(cx, c.after.as_ref())?;
                    let req = elb.set_security_groups().load_balancer_arn(&o.id).set_security_groups(Some(ids));
                    req.send().await.map_err(|e| call_error("elbv2:SetSecurityGroups", e))?;
                }
                "tags" => {
                    tags::converge(cx, &o.id, &tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref())).await?
                }
                name if NAMES.contains(&name) => settings.push((name, c.after.clone().unwrap_or(Value::Null))),
                other => return Err(StepError::not_in_place(other, "a load balancer")),
            }
        }
        attributes::modify(cx, &o.id, settings.iter().map(|(k, v)| (*k, v))).await
    }

    async fn delete(&self, cx: &Cx, o: &Observed, d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        if protected(&o.attrs) && d.is_some_and(|d| !protected(&d.attrs)) {
            // A replacement the file allows: protection goes off first.
            attributes::modify(cx, &o.id, [("deletion_protection", &json!(false))]).await?;
        }
        match cx.aws.elb.delete_load_balancer().load_balancer_arn(&o.id).send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "LoadBalancerNotFound") => return Ok(()),
            Err(e) if is_code(&e, "OperationNotPermitted") => {
                return Err(call_error("elbv2:DeleteLoadBalancer", e).hint(turn_off_hint(cx)))
            }
            Err(e) => return Err(call_error("elbv2:DeleteLoadBalancer", e)),
        }
        wait::until(&cx.aws.elb, &o.id, Until::Gone, wait::timeout(cx), wait::EVERY, &|m| p.say(m)).await
    }

    async fn refuse_delete(&self, cx: &Cx, o: &Observed, d: Option<&Desired>) -> Result<Option<String>, StepError> {
        if !protected(&o.attrs) || d.is_some_and(|d| !protected(&d.attrs)) {
            return Ok(None);
        }
        Ok(Some(format!("load balancer `{}` has deletion protection on; {}", o.name, turn_off_hint(cx))))
    }
}

fn turn_off_hint(cx: &Cx) -> String {
    match &cx.stack.load_balancer {
        Some(_) => "set `deletion_protection: false` under `load_balancer:` in the stack file and run `bumarket-infra apply` first".into(),
        None => "put the `load_balancer:` section back with `deletion_protection: false` and run `bumarket-infra apply` first, then remove it".into(),
    }
}
