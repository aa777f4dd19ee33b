//! The stack's load balancers and target groups as Elastic Load Balancing itself has
//! them, read once a run and shared: the load balancer, target group and listener
//! providers read from it, and the fleet's group, the alarms and the dashboard map live
//! ARNs back to addresses with it.
//!
//! What the file names is found by name (`DescribeLoadBalancers`, `DescribeTargetGroups`)
//! and what the stack owns besides (left the file) by the ARNs the tagging API lists;
//! tags always come from `DescribeTags`. The tagging API is only an index: it returns
//! "tagged or previously tagged" resources (GetResources API reference), lags behind new
//! tags and keeps deleted resources a while, so nothing is found only through it and no
//! tag is taken from it.

use super::{load_balancer, tags, target_group};
use crate::apply::StepError;
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, Kind};
use crate::resources::{address_tag, Live, TAG_RESOURCE, TAG_STACK};
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancer, TargetGroup};
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use bumarket_stack::Stack;
use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

/// The names the file gives its load balancer and target group (none without them).
#[derive(Debug, Clone, Default)]
pub struct Names {
    lbs: Vec<String>,
    tgs: Vec<String>,
    /// Names and ARNs the file's `adopt:` lists → their addresses: what was made outside
    /// bumarket-infra has no address tag to be placed by.
    adopted: BTreeMap<String, Addr>,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub load_balancers: Vec<(LoadBalancer, Tags)>,
    pub target_groups: Vec<(TargetGroup, Tags)>,
    adopted: BTreeMap<String, Addr>,
}

impl Snapshot {
    /// The names wave one describes: the file's load balancer and target group.
    pub fn names(stack: &Stack) -> Names {
        let lbs = stack.load_balancer.iter().map(|_| load_balancer::name_in(stack)).collect();
        let tgs = (stack.load_balancer.is_some() && stack.fleet.is_some())
            .then(|| target_group::name_in(stack))
            .into_iter()
            .collect();
        let mut adopted = BTreeMap::new();
        for (text, entry) in &stack.adopt {
            let Ok(addr) = Addr::parse(text) else { continue };
            let name = match addr.kind() {
                Kind::LoadBalancer => load_balancer::name_in(stack),
                Kind::TargetGroup => target_group::name_in(stack),
                _ => continue,
            };
            adopted.insert(entry.id.clone(), addr.clone());
            adopted.insert(name, addr);
        }
        Names { lbs, tgs, adopted }
    }

    /// Read the stack's load balancers and target groups. It needs no context (the names
    /// follow from the stack's name), so it starts in wave one: the describes by name, then
    /// the tags, leave the listeners and attributes a third round trip. With none in the
    /// file and none in the index, no call is made.
    pub async fn fetch(elb: &Elb, names: &Names, live: &Live) -> Result<Snapshot, StepError> {
        let named = async {
            let (lbs, tgs) = tokio::try_join!(lbs_by_name(elb, &names.lbs), tgs_by_name(elb, &names.tgs))?;
            Snapshot::with_tags(elb, lbs, tgs).await
        };
        let (mut snap, tagged) = tokio::try_join!(named, live.tagged())?;
        snap.adopted.clone_from(&names.adopted);
        // What the index lists that the names did not find: the stack's resources that
        // left the file (or ghosts of deleted ones, which the describes drop).
        let known = |arn: &str| snap.arns().any(|a| a == arn);
        let extra = |marker: &str| -> Vec<String> {
            tagged.iter().filter(|t| t.arn.contains(marker) && !known(&t.arn)).map(|t| t.arn.clone()).collect()
        };
        let (lb_arns, tg_arns) = (extra(":loadbalancer/app/"), extra(":targetgroup/"));
        if !lb_arns.is_empty() || !tg_arns.is_empty() {
            let (lbs, tgs) = tokio::try_join!(lbs_by_arn(elb, &lb_arns), tgs_by_arn(elb, tg_arns))?;
            let more = Snapshot::with_tags(elb, lbs, tgs).await?;
            snap.load_balancers.extend(more.load_balancers);
            snap.target_groups.extend(more.target_groups);
        }
        Ok(snap)
    }

    /// The found resources with their tags, read 20 ARNs a call (DescribeTags' limit).
    async fn with_tags(elb: &Elb, lbs: Vec<LoadBalancer>, tgs: Vec<TargetGroup>) -> Result<Snapshot, StepError> {
        let arns: Vec<String> = lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn())
            .chain(tgs.iter().filter_map(|t| t.target_group_arn()))
            .map(String::from)
            .collect();
        let reads = arns.chunks(20).map(|chunk| async move {
            let out = elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| call_error("elbv2:DescribeTags", e))?;
            Ok::<_, StepError>(
                out.tag_descriptions()
                    .iter()
                    .filter_map(|d| Some((d.resource_arn()?.to_string(), tags::tags_of(d.tags()))))
                    .collect::<Vec<_>>(),
            )
        });
        let tags: BTreeMap<String, Tags> = futures::future::try_join_all(reads).await?.into_iter().flatten().collect();
        let tags_of = |arn: Option<&str>| arn.and_then(|a| tags.get(a)).cloned().unwrap_or_default();
        let load_balancers = lbs
            .into_iter()
            .map(|l| {
                let t = tags_of(l.load_balancer_arn());
                (l, t)
            })
            .collect();
        let target_groups = tgs
            .into_iter()
            .map(|g| {
                let t = tags_of(g.target_group_arn());
                (g, t)
            })
            .collect();
        Ok(Snapshot { load_balancers, target_groups, adopted: BTreeMap::new() })
    }

    fn arns(&self) -> impl Iterator<Item = &str> {
        let lbs = self.load_balancers.iter().filter_map(|(l, _)| l.load_balancer_arn());
        lbs.chain(self.target_groups.iter().filter_map(|(g, _)| g.target_group_arn()))
    }

    /// The stack's address of the load balancer or target group with this ARN, as its own
    /// tags say (what the fleet's group and the listeners name in AWS).
    pub fn addr_of(&self, arn: &str) -> Option<Addr> {
        let tags = self
            .load_balancers
            .iter()
            .find(|(l, _)| l.load_balancer_arn() == Some(arn))
            .map(|(l, t)| (Kind::LoadBalancer, l.load_balancer_name(), t))
            .or_else(|| {
                self.target_groups
                    .iter()
                    .find(|(g, _)| g.target_group_arn() == Some(arn))
                    .map(|(g, t)| (Kind::TargetGroup, g.target_group_name(), t))
            });
        let (kind, name, tags) = tags?;
        match tags.get(TAG_RESOURCE) {
            Some(a) => address_tag(kind, a).ok(),
            // Made outside bumarket-infra and listed under `adopt:` (by name or ARN).
            None if !tags.contains_key(TAG_STACK) => {
                let by = |k: &str| self.adopted.get(k).filter(|a| a.kind() == kind).cloned();
                by(arn).or_else(|| name.and_then(by))
            }
            None => None,
        }
    }

    /// Whether the load balancer or target group with this ARN is one the stack owns or
    /// adopts (its listeners and targets are then the stack's to read).
    pub fn is_stacks(&self, arn: &str) -> bool {
        self.addr_of(arn).is_some()
    }

    /// ARN → address of every one of the stack's load balancers and target groups.
    pub fn addrs(&self) -> BTreeMap<String, Addr> {
        self.arns().filter_map(|arn| Some((arn.to_string(), self.addr_of(arn)?))).collect()
    }
}

async fn lbs_by_name(elb: &Elb, names: &[String]) -> Result<Vec<LoadBalancer>, StepError> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    match elb.describe_load_balancers().set_names(Some(names.to_vec())).send().await {
        Ok(out) => Ok(out.load_balancers.unwrap_or_default()),
        Err(e) if is_code(&e, "LoadBalancerNotFound") => Ok(vec![]),
        Err(e) => Err(call_error("elbv2:DescribeLoadBalancers", e)),
    }
}

async fn tgs_by_name(elb: &Elb, names: &[String]) -> Result<Vec<TargetGroup>, StepError> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    match elb.describe_target_groups().set_names(Some(names.to_vec())).send().await {
        Ok(out) => Ok(out.target_groups.unwrap_or_default()),
        Err(e) if is_code(&e, "TargetGroupNotFound") => Ok(vec![]),
        Err(e) => Err(call_error("elbv2:DescribeTargetGroups", e)),
    }
}

/// Load balancers by ARN (20 a call); ARNs the index still lists after a delete are
/// skipped (AWS then fails the whole call, so each is asked alone).
async fn lbs_by_arn(elb: &Elb, arns: &[String]) -> Result<Vec<LoadBalancer>, StepError> {
    let ask = |arns: Vec<String>| async move {
        match elb.describe_load_balancers().set_load_balancer_arns(Some(arns)).send().await {
            Ok(out) => Ok(Some(out.load_balancers.unwrap_or_default())),
            Err(e) if is_code(&e, "LoadBalancerNotFound") => Ok(None),
            Err(e) => Err(call_error("elbv2:DescribeLoadBalancers", e)),
        }
    };
    let mut out = Vec::new();
    for chunk in arns.chunks(20) {
        match ask(chunk.to_vec()).await? {
            Some(found) => out.extend(found),
            None if chunk.len() > 1 => {
                let each = futures::future::try_join_all(chunk.iter().map(|a| ask(vec![a.clone()]))).await?;
                out.extend(each.into_iter().flatten().flatten());
            }
            None => {}
        }
    }
    Ok(out)
}

/// Target groups by ARN, in one call; ghosts of deleted ones are skipped as above.
async fn tgs_by_arn(elb: &Elb, arns: Vec<String>) -> Result<Vec<TargetGroup>, StepError> {
    if arns.is_empty() {
        return Ok(vec![]);
    }
    match elb.describe_target_groups().set_target_group_arns(Some(arns.clone())).send().await {
        Ok(out) => Ok(out.target_groups.unwrap_or_default()),
        Err(e) if is_code(&e, "TargetGroupNotFound") && arns.len() > 1 => {
            let one = |arn: String| async move {
                match elb.describe_target_groups().target_group_arns(arn).send().await {
                    Ok(out) => Ok(out.target_groups.unwrap_or_default()),
                    Err(e) if is_code(&e, "TargetGroupNotFound") => Ok(vec![]),
                    Err(e) => Err(call_error("elbv2:DescribeTargetGroups", e)),
                }
            };
            Ok(futures::future::try_join_all(arns.into_iter().map(one)).await?.concat())
        }
        Err(e) if is_code(&e, "TargetGroupNotFound") => Ok(vec![]),
        Err(e) => Err(call_error("elbv2:DescribeTargetGroups", e)),
    }
}
