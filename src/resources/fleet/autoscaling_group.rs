//! `autoscaling_group.app`: the fleet over the public subnets, launched from the template's
//! default version, registered in the target group with ELB health checks and a grace
//! period, tags propagated at launch.
//!
//! The desired capacity is set at creation only: afterwards the scaling policy owns it,
//! so a fleet that scaled out never shows a diff. When the template's settings change
//! (its fingerprint, kept in a tag on the group) the running instances are replaced by a
//! rolling instance refresh between `min_healthy_percent` and `max_healthy_percent` (by
//! default a new instance is healthy before an old one is terminated).

use super::{app_name, fingerprint, group_name};
use crate::apply::{ErrorKind, Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, strings, Action, AttrChange, ResourceChange};
use crate::resources::ec2::named_tags;
use crate::resources::wait::{self, Poll};
use crate::resources::{tags_from, tags_value, Cx, Live, Provider, TAG_APPLIED, TAG_RESOURCE, TAG_STACK};
use async_trait::async_trait;
use aws_sdk_autoscaling::types as ast;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub struct Groups;

/// Whether a change of the template's record replaces the instances: only when there was
/// one. A group without it was made outside bumarket-infra (adopted): its instances keep
/// running as they were launched, and the record is written; the next change of the
/// template refreshes them.
fn refreshes(c: &AttrChange) -> bool {
    c.name == "template" && c.before.as_ref().is_some_and(|v| !v.is_null())
}

/// Tag holding the fingerprint of the template settings the instances were made from.
pub const TAG_TEMPLATE: &str = "bumarket-infra:template";

/// How often waits look again.
const POLL: Duration = Duration::from_secs(10);

/// A group keeps its name; sizes, subnets, target groups and health checks change in
/// place, and a new template fingerprint rolls the instances.
pub static SCHEMA: Schema = Schema {
    kind: Kind::AutoscalingGroup,
    layer: 5,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::update("launch_template"),
        AttrSpec::update("min_size"),
        AttrSpec::update("max_size"),
        AttrSpec::update("subnets").set(),
        AttrSpec::update("target_groups").set(),
        AttrSpec::update("health_check_type"),
        AttrSpec::update("health_check_grace_seconds"),
        AttrSpec::update("template"),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Groups {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeInstanceRefreshes",
                "elasticloadbalancing:DescribeTargetHealth",
                "iam:GetInstanceProfile",
            ],
            writes: &[
                "autoscaling:AttachLoadBalancerTargetGroups",
                "autoscaling:CreateAutoScalingGroup",
                "autoscaling:CreateOrUpdateTags",
                "autoscaling:DeleteAutoScalingGroup",
                "autoscaling:DeleteTags",
                "autoscaling:DetachLoadBalancerTargetGroups",
                "autoscaling:StartInstanceRefresh",
                "autoscaling:UpdateAutoScalingGroup",
            ],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        vec![format!(
            "arn:{}:autoscaling:{}:*:autoScalingGroup:*:autoScalingGroupName/{}",
            cx.partition(),
            cx.region(),
            d.name
        )]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let (Some(f), Some(_)) = (&cx.stack.fleet, &cx.stack.network) else { return vec![] };
        let addr = Addr::new(Kind::AutoscalingGroup, "app");
        let name = group_name(cx);
        let template = super::launch_template::LaunchTemplates.desired(cx);
        let print = template.first().map(|t| fingerprint(&t.attrs)).unwrap_or_default();
        let subnets: Vec<String> = (0..cx.stack.subnet_counts().0).map(|i| format!("subnet.public-{i}")).collect();
        let with_lb = cx.stack.load_balancer.is_some();
        let target_groups: Vec<&str> = if with_lb { vec!["target_group.app"] } else { vec![] };
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("launch_template".into(), json!("launch_template.app"));
        attrs.insert("min_size".into(), json!(f.min_size));
        attrs.insert("max_size".into(), json!(f.max_size));
        attrs.insert("subnets".into(), json!(subnets));
        attrs.insert("target_groups".into(), json!(target_groups));
        attrs.insert("health_check_type".into(), json!(if with_lb { "ELB" } else { "EC2" }));
        attrs.insert("health_check_grace_seconds".into(), json!(f.health_check_grace_seconds));
        attrs.insert("template".into(), json!(print));
        attrs.insert("tags".into(), tags_value(&named_tags(cx, &addr, &name)));
        let mut deps = crate::resources::addrs_in(&subnets);
        deps.push(Addr::new(Kind::LaunchTemplate, "app"));
        if with_lb {
            // Targets are only checked once a listener uses the group's target group.
            deps.extend([Addr::new(Kind::TargetGroup, "app"), Addr::new(Kind::Listener, "http")]);
        }
        vec![Desired { addr, name, attrs, deps }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        if cx.stack.fleet.is_none() && cx.stack.network.is_none() && wanted.is_empty() {
            return Ok(vec![]);
        }
        let filter = ast::Filter::builder().name(format!("tag:{TAG_STACK}")).values(&cx.stack.name).build();
        let asg = &cx.aws.autoscaling;
        let tagged = asg.describe_auto_scaling_groups().filters(filter).send();
        // The file's group by its name beside it, when `adopt:` lists it (made outside
        // bumarket-infra, it has no tag to be found by).
        let adopting: Vec<String> =
            wanted.iter().filter(|d| cx.stack.adopt.contains_key(d.addr.as_str())).map(|d| d.name.clone()).collect();
        let by_name = async {
            if adopting.is_empty() {
                return Ok(None);
            }
            asg.describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(adopting.clone()))
                .send()
                .await
                .map(Some)
        };
        let (tagged, by_name) = tokio::join!(tagged, by_name);
        let err = |e| call_error("autoscaling:DescribeAutoScalingGroups", e);
        let mut groups = tagged.map_err(err)?.auto_scaling_groups.unwrap_or_default();
        for g in by_name.map_err(err)?.and_then(|o| o.auto_scaling_groups).unwrap_or_default() {
            if !groups.iter().any(|h| h.auto_scaling_group_name == g.auto_scaling_group_name) {
                groups.push(g);
            }
        }
        let snap = live.ec2().await?;
        let mut observed = Vec::new();
        for g in groups {
            let name = g.auto_scaling_group_name.clone().unwrap_or_default();
            let mut tags: BTreeMap<String, String> =
                g.tags().iter().filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default()))).collect();
            let print = tags.remove(TAG_TEMPLATE);
            let what = (Kind::AutoscalingGroup, "the Auto Scaling group");
            let (addr, ownership) = cx.placed_by_tag(what, (&name, &name), &tags, wanted);
            let template = g.launch_template.as_ref().and_then(|t| {
                t.launch_template_id
                    .as_deref()
                    .and_then(|id| snap.addr_of(id))
                    .map(|a| a.to_string())
                    .or(t.launch_template_name.clone())
            });
            let mut subnets: Vec<String> = g
                .vpc_zone_identifier
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|id| snap.addr_of(id.trim()).map_or_else(|| id.trim().to_string(), |a| a.to_string()))
                .collect();
            subnets.sort();
            // By the target groups' own tags (ELB's, not the index's): a group the index
            // does not list yet is still `target_group.app`, never a stranger to detach.
            let elb = live.elb().await?;
            let mut target_groups: Vec<String> = g
                .target_group_arns()
                .iter()
                .map(|arn| elb.addr_of(arn).map_or_else(|| arn.clone(), |a| a.to_string()))
                .collect();
            target_groups.sort();
            let instances = g.instances().len();
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), json!(name));
            attrs.insert("launch_template".into(), json!(template));
            attrs.insert("min_size".into(), json!(g.min_size));
            attrs.insert("max_size".into(), json!(g.max_size));
            attrs.insert("subnets".into(), json!(subnets));
            attrs.insert("target_groups".into(), json!(target_groups));
            attrs.insert("health_check_type".into(), json!(g.health_check_type));
            attrs.insert("health_check_grace_seconds".into(), json!(g.health_check_grace_period));
            attrs.insert("template".into(), json!(print));
            attrs.insert("tags".into(), tags_value(&tags));
            let deps = crate::resources::addrs_in(subnets.iter().chain(&target_groups).chain(template.iter()));
            observed.push(Observed {
                addr,
                name: name.clone(),
                id: name,
                attrs,
                ownership,
                outputs: BTreeMap::from([("instances".to_string(), instances.to_string())]),
                deps,
            });
        }
        Ok(observed)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let f = fleet(cx)?;
        let a = &d.attrs;
        let subnets = ids(cx, attr(a, "subnets"))?;
        let target_groups = ids(cx, attr(a, "target_groups"))?;
        let mut tags = asg_tags(&d.name, &tags_from(attr(a, "tags")), true);
        tags.extend(asg_tags(&d.name, &BTreeMap::from([(TAG_TEMPLATE.to_string(), s(a, "template"))]), false));
        let create = || async {
            let created = cx
                .aws
                .autoscaling
                .create_auto_scaling_group()
                .auto_scaling_group_name(&d.name)
                .launch_template(template_spec(cx))
                .min_size(int(a, "min_size"))
                .max_size(int(a, "max_size"))
                .desired_capacity(i32::try_from(f.desired_capacity).unwrap_or(1))
                .vpc_zone_identifier(subnets.join(","))
                .set_target_group_arns(Some(target_groups.clone()))
                .health_check_type(s(a, "health_check_type"))
                .health_check_grace_period(int(a, "health_check_grace_seconds"))
                .set_tags(Some(tags.clone()))
                .send()
                .await;
            match created {
                Ok(_) => Ok(()),
                // A re-run after a lost answer: the group exists; converge the rest next plan.
                Err(e) if is_code(&e, "AlreadyExists") => Ok(()),
                Err(e) => Err(call_error("autoscaling:CreateAutoScalingGroup", e)),
            }
        };
        while_the_profile_propagates(cx, p, create).await?;
        wait_healthy(cx, &d.name, p).await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let a = &d.attrs;
        let changed = |k: &str| changes.iter().any(|c| c.name == k);
        let asg = &cx.aws.autoscaling;
        if ["launch_template", "min_size", "max_size", "subnets", "health_check_type", "health_check_grace_seconds"]
            .iter()
            .any(|k| changed(k))
        {
            let subnets = ids(cx, attr(a, "subnets"))?.join(",");
            let update = || async {
                asg.update_auto_scaling_group()
                    .auto_scaling_group_name(&d.name)
                    .launch_template(template_spec(cx))
                    .min_size(int(a, "min_size"))
                    .max_size(int(a, "max_size"))
                    .vpc_zone_identifier(subnets.clone())
                    .health_check_type(s(a, "health_check_type"))
                    .health_check_grace_period(int(a, "health_check_grace_seconds"))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| call_error("autoscaling:UpdateAutoScalingGroup", e))
            };
            while_the_profile_propagates(cx, p, update).await?;
        }
        if let Some(c) = changes.iter().find(|c| c.name == "target_groups") {
            converge_target_groups(cx, &d.name, c).await?;
        }
        if changed("template") {
            let instances = o.outputs.get("instances").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
            if instances > 0 && changes.iter().any(refreshes) {
                refresh(cx, &d.name, p).await?;
            }
            // Recorded only once the instances are made from the new settings.
            put_tags(cx, &d.name, &BTreeMap::from([(TAG_TEMPLATE.to_string(), s(a, "template"))]), false).await?;
        }
        // Tags last: they carry the applied record, true only once the rest is done.
        if let Some(c) = changes.iter().find(|c| c.name == "tags") {
            let (set, remove) =
                crate::resources::tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
            put_tags(cx, &d.name, &set, true).await?;
            remove_tags(cx, &d.name, &remove).await?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        let asg = &cx.aws.autoscaling;
        match asg.delete_auto_scaling_group().auto_scaling_group_name(&o.name).force_delete(true).send().await {
            Ok(_) => {}
            // Auto Scaling says a group is gone only in words (`ValidationError`, "not
            // found"): ask whether it still exists instead of reading them.
            Err(e) if is_code(&e, "ValidationError") => {
                if describe(cx, &o.name).await?.is_some() {
                    return Err(call_error("autoscaling:DeleteAutoScalingGroup", e));
                }
                return Ok(());
            }
            Err(e) => return Err(call_error("autoscaling:DeleteAutoScalingGroup", e)),
        }
        // Subnets and security groups can go only once the instances are terminated.
        let timeout = Duration::from_secs(cx.stack.fleet.as_ref().map_or(900, |f| f.wait_timeout_seconds));
        wait::until(&|m| p.say(m), "the group's instances to terminate", timeout, POLL, || async {
            match describe(cx, &o.name).await? {
                None => Ok(Poll::Ready(())),
                Some(g) => Ok(Poll::Pending(format!("{} instances left", g.instances().len()))),
            }
        })
        .await
    }

    fn annotate(&self, cx: &Cx, change: &mut ResourceChange) {
        if change.changes.iter().any(|c| c.name == "template" && !refreshes(c)) {
            change.notes.push("records the template its instances run; they keep running".into());
        }
        let refreshing =
            matches!(change.action, Action::Update | Action::Adopt) && change.changes.iter().any(refreshes);
        let instances = change
            .observed
            .as_ref()
            .and_then(|o| o.outputs.get("instances"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        if let (true, Some(f)) = (refreshing && instances > 0, &cx.stack.fleet) {
            change.notes.push(refresh_note(instances, f.min_healthy_percent, f.max_healthy_percent));
        }
    }
}

/// How long a new instance profile may take to be usable by Auto Scaling, and how often
/// it is tried again meanwhile (terraform-provider-aws waits 2 minutes for the same).
const PROFILE_PROPAGATION: Duration = Duration::from_secs(120);
const PROFILE_RETRY: Duration = Duration::from_secs(5);

/// Run `call`, a create or update of the group, and try again while AWS answers it
/// `ValidationError` and the fleet's instance profile is new. IAM is eventually
/// consistent ("Changes that I make are not always immediately visible", IAM user
/// guide): Auto Scaling refuses a launch template naming a profile it cannot see yet,
/// in words only ("Invalid IAM Instance Profile"), so the words are not read: a
/// ValidationError while the profile is younger than [`PROFILE_PROPAGATION`] is taken
/// for that, and retried until the profile is that old.
async fn while_the_profile_propagates<F, Fut>(cx: &Cx, p: &Progress<'_>, call: F) -> Result<(), StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StepError>>,
{
    let say = |age: Duration| {
        p.say(format!(
            "the instance profile is {} s old: waiting for IAM to make it visible to Auto Scaling, up to {} s",
            age.as_secs(),
            PROFILE_PROPAGATION.as_secs()
        ))
    };
    crate::resources::wait::while_propagating(
        "ValidationError",
        PROFILE_PROPAGATION,
        PROFILE_RETRY,
        &say,
        || profile_age(cx),
        call,
    )
    .await
}

/// How long ago the fleet's instance profile was made (`None` without one, or for the
/// existing role's, which is not new).
async fn profile_age(cx: &Cx) -> Result<Option<Duration>, StepError> {
    let Some(role) = cx.stack.fleet.as_ref().and_then(|f| f.instance_role.as_ref()) else { return Ok(None) };
    if role == bumarket_stack::EXISTING_ROLE {
        return Ok(None);
    }
    let name = crate::resources::instance_profile::physical_name(cx, role);
    let out = cx
        .aws
        .iam
        .get_instance_profile()
        .instance_profile_name(&name)
        .send()
        .await
        .map_err(|e| call_error("iam:GetInstanceProfile", e))?;
    let Some(made) = out.instance_profile.map(|p| p.create_date) else { return Ok(None) };
    let made = std::time::SystemTime::try_from(made).unwrap_or(std::time::UNIX_EPOCH);
    Ok(Some(std::time::SystemTime::now().duration_since(made).unwrap_or_default()))
}

/// What a rolling refresh of `instances` does to capacity, in words for the plan. With a
/// maximum above 100 % Auto Scaling launches a new instance before it terminates an old
/// one when the bounds cannot both hold, so capacity never drops; at 100 % it replaces
/// in place, keeping at least `min` % (rounded down: one instance at 90 % keeps none).
pub fn refresh_note(instances: usize, min: u32, max: u32) -> String {
    let what = if instances == 1 { "1 instance".to_string() } else { format!("{instances} instances") };
    if max > 100 {
        return format!(
            "{what} replaced by rolling refresh, each new one healthy before an old one goes: capacity never drops"
        );
    }
    let kept = instances * min as usize / 100;
    let down = if kept == 0 { " (the app is down until a new instance is healthy)" } else { "" };
    format!("{what} replaced by rolling refresh in place: capacity drops to {kept} of {instances}{down}")
}

fn fleet(cx: &Cx) -> Result<&bumarket_stack::Fleet, StepError> {
    cx.stack.fleet.as_ref().ok_or_else(|| StepError::new("plan", "the stack has no `fleet`"))
}

fn s(a: &Attrs, k: &str) -> String {
    attr(a, k).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn int(a: &Attrs, k: &str) -> i32 {
    attr(a, k).and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok()).unwrap_or(0)
}

/// Live ids of the addresses in a list attribute.
fn ids(cx: &Cx, v: Option<&Value>) -> Result<Vec<String>, StepError> {
    strings(v).iter().map(|a| cx.id_in(a)).collect()
}

fn template_spec(cx: &Cx) -> ast::LaunchTemplateSpecification {
    ast::LaunchTemplateSpecification::builder().launch_template_name(app_name(cx)).version("$Default").build()
}

fn asg_tags(group: &str, tags: &BTreeMap<String, String>, propagate: bool) -> Vec<ast::Tag> {
    tags.iter()
        .map(|(k, v)| {
            ast::Tag::builder()
                .resource_id(group)
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                .propagate_at_launch(propagate && k != TAG_RESOURCE && k != TAG_APPLIED)
                .build()
        })
        .collect()
}

async fn put_tags(cx: &Cx, group: &str, tags: &BTreeMap<String, String>, propagate: bool) -> Result<(), StepError> {
    if tags.is_empty() {
        return Ok(());
    }
    cx.aws
        .autoscaling
        .create_or_update_tags()
        .set_tags(Some(asg_tags(group, tags, propagate)))
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("autoscaling:CreateOrUpdateTags", e))
}

async fn remove_tags(cx: &Cx, group: &str, keys: &[String]) -> Result<(), StepError> {
    if keys.is_empty() {
        return Ok(());
    }
    let tags = keys
        .iter()
        .map(|k| ast::Tag::builder().resource_id(group).resource_type("auto-scaling-group").key(k).build())
        .collect();
    cx.aws
        .autoscaling
        .delete_tags()
        .set_tags(Some(tags))
        .send()
        .await
        .map(drop)
        .map_err(|e| call_error("autoscaling:DeleteTags", e))
}

async fn converge_target_groups(cx: &Cx, group: &str, c: &AttrChange) -> Result<(), StepError> {
    let before = strings(c.before.as_ref());
    let after = strings(c.after.as_ref());
    let add: Vec<String> =
        after.iter().filter(|a| !before.contains(a)).map(|a| cx.id_in(a)).collect::<Result<_, _>>()?;
    // Unknown (not ours) target groups stay as the ARN AWS gave; ours resolve to ids.
    let remove: Vec<String> = before
        .iter()
        .filter(|b| !after.contains(b))
        .map(|b| if b.starts_with("arn:") { b.clone() } else { cx.id_in(b).unwrap_or_default() })
        .collect();
    let asg = &cx.aws.autoscaling;
    if !add.is_empty() {
        asg.attach_load_balancer_target_groups()
            .auto_scaling_group_name(group)
            .set_target_group_arns(Some(add))
            .send()
            .await
            .map_err(|e| call_error("autoscaling:AttachLoadBalancerTargetGroups", e))?;
    }
    if !remove.is_empty() {
        asg.detach_load_balancer_target_groups()
            .auto_scaling_group_name(group)
            .set_target_group_arns(Some(remove))
            .send()
            .await
            .map_err(|e| call_error("autoscaling:DetachLoadBalancerTargetGroups", e))?;
    }
    Ok(())
}

async fn describe(cx: &Cx, group: &str) -> Result<Option<ast::AutoScalingGroup>, StepError> {
    let out = cx
        .aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .map_err(|e| call_error("autoscaling:DescribeAutoScalingGroups", e))?;
    Ok(out.auto_scaling_groups.unwrap_or_default().into_iter().next())
}

/// Wait until the group's desired number of instances are in service and, with a load
/// balancer, healthy in the target group.
pub async fn wait_healthy(cx: &Cx, group: &str, p: &Progress<'_>) -> Result<(), StepError> {
    let timeout = Duration::from_secs(fleet(cx)?.wait_timeout_seconds);
    let tg = cx.stack.load_balancer.as_ref().map(|_| cx.id_of(&Addr::new(Kind::TargetGroup, "app"))).transpose()?;
    wait::until(&|m| p.say(m), "healthy instances", timeout, POLL, || async {
        let Some(g) = describe(cx, group).await? else {
            return Err(StepError::of(
                ErrorKind::Failed,
                "autoscaling:DescribeAutoScalingGroups",
                format!("the group `{group}` is gone"),
            ));
        };
        let want = usize::try_from(g.desired_capacity.unwrap_or(0)).unwrap_or(0);
        let in_service =
            g.instances().iter().filter(|i| i.lifecycle_state == Some(ast::LifecycleState::InService)).count();
        let healthy = match &tg {
            None => in_service,
            Some(arn) => {
                let out = cx
                    .aws
                    .elb
                    .describe_target_health()
                    .target_group_arn(arn)
                    .send()
                    .await
                    .map_err(|e| call_error("elbv2:DescribeTargetHealth", e))?;
                out.target_health_descriptions()
                    .iter()
                    .filter(|t| {
                        t.target_health.as_ref().and_then(|h| h.state.as_ref()).map(|s| s.as_str()) == Some("healthy")
                    })
                    .count()
            }
        };
        if in_service >= want && healthy >= want {
            Ok(Poll::Ready(()))
        } else if tg.is_some() {
            Ok(Poll::Pending(format!("{in_service}/{want} in service, {healthy}/{want} healthy targets")))
        } else {
            Ok(Poll::Pending(format!("{in_service}/{want} in service")))
        }
    })
    .await
}

/// Replace the group's instances with a rolling instance refresh and wait for it.
pub async fn refresh(cx: &Cx, group: &str, p: &Progress<'_>) -> Result<(), StepError> {
    let f = fleet(cx)?;
    let asg = &cx.aws.autoscaling;
    // Both bounds, always: with MaxHealthyPercentage set, Auto Scaling launches before it
    // terminates when both cannot hold; without it, a fleet of one loses its instance
    // first (Auto Scaling API reference, RefreshPreferences).
    let prefs = ast::RefreshPreferences::builder()
        .min_healthy_percentage(i32::try_from(f.min_healthy_percent).unwrap_or(100))
        .max_healthy_percentage(i32::try_from(f.max_healthy_percent).unwrap_or(200))
        .instance_warmup(i32::try_from(f.health_check_grace_seconds).unwrap_or(300))
        .build();
    let id = match asg.start_instance_refresh().auto_scaling_group_name(group).preferences(prefs).send().await {
        Ok(out) => out.instance_refresh_id,
        // One already runs (an interrupted apply started it): follow that one.
        Err(e) if is_code(&e, "InstanceRefreshInProgress") => None,
        Err(e) => return Err(call_error("autoscaling:StartInstanceRefresh", e)),
    };
    let timeout = Duration::from_secs(f.wait_timeout_seconds.max(1800));
    wait::until(&|m| p.say(m), "the rolling instance refresh", timeout, POLL, || async {
        let out = asg
            .describe_instance_refreshes()
            .auto_scaling_group_name(group)
            .set_instance_refresh_ids(id.clone().map(|i| vec![i]))
            .send()
            .await
            .map_err(|e| call_error("autoscaling:DescribeInstanceRefreshes", e))?;
        let Some(r) = out.instance_refreshes.unwrap_or_default().into_iter().next() else {
            return Ok(Poll::Ready(()));
        };
        let pct = r.percentage_complete.unwrap_or(0);
        match r.status {
            Some(ast::InstanceRefreshStatus::Successful) => Ok(Poll::Ready(())),
            Some(
                ref s @ (ast::InstanceRefreshStatus::Failed
                | ast::InstanceRefreshStatus::Cancelled
                | ast::InstanceRefreshStatus::RollbackSuccessful
                | ast::InstanceRefreshStatus::RollbackFailed),
            ) => Err(StepError::of(
                ErrorKind::Failed,
                "autoscaling:DescribeInstanceRefreshes",
                format!("the instance refresh ended `{}`: {}", s.as_str(), r.status_reason.unwrap_or_default()),
            )),
            _ => Ok(Poll::Pending(format!("{pct} % replaced"))),
        }
    })
    .await
}
