//! `security_group.lb`, `security_group.app`, `security_group.db`: one group per tier that
//! the file has (`load_balancer`, `fleet`, `database`), named `<stack>-lb` and so on, in
//! the stack's VPC. Their rules are exactly the request path and nothing else: the
//! internet reaches the load balancer, the load balancer the app port, the app the
//! database port. No SSH anywhere: instances are reached through Session Manager.
//!
//! Rules are attributes `ingress` and `egress` (see `rules`), authorized and revoked one
//! by one, so a rule change never rebuilds a group; name, description and VPC force a new
//! group. Groups name each other (lb egress → app, app ingress ← lb), so a group depends
//! only on the groups before it in the flow, never both ways: a group created first skips
//! the rules naming a group that does not exist yet, and that group's create adds them.
//! A delete revokes, in the stack's other groups, every rule naming the group, first.

use super::rules::{self, Peer, Rule};
use super::{deleted, observed, resolve, shown, text, vpc_addr};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::ec2::until_visible;
use crate::resources::ec2::{converge_tags, named_tags, retry_while_in_use, tag_spec};
use crate::resources::{tags_from, tags_value, Cx, Live, Provider, TAG_STACK};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, IpPermission, ResourceType};
use bumarket_stack::Stack;
use serde_json::json;

pub struct SecurityGroups;

/// The tiers in the order traffic flows through them.
const TIERS: [&str; 3] = ["lb", "app", "db"];

fn group_addr(tier: &str) -> Addr {
    Addr::new(Kind::SecurityGroup, tier)
}

/// A group's place in the flow; groups outside it come after, by address.
fn rank(addr: &Addr) -> (usize, &str) {
    let tier = addr.name();
    (TIERS.iter().position(|t| *t == tier).unwrap_or(TIERS.len()), addr.as_str())
}

/// The groups among `peers` that come before `me`: the ones `me` depends on.
fn before(me: &Addr, peers: impl IntoIterator<Item = Addr>) -> Vec<Addr> {
    let mut out: Vec<Addr> =
        peers.into_iter().filter(|p| p.kind() == Kind::SecurityGroup && rank(p) < rank(me)).collect();
    out.sort();
    out.dedup();
    out
}

/// One group the file asks for.
#[derive(Debug)]
struct Wanted {
    tier: &'static str,
    description: &'static str,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
}

impl Wanted {
    fn names(&self, group: &str) -> bool {
        self.ingress.iter().chain(&self.egress).any(|r| r.group() == Some(group))
    }
}

/// The stack's groups and their rules: the request path, nothing else.
fn wanted(stack: &Stack) -> Vec<Wanted> {
    if stack.network.is_none() {
        return vec![];
    }
    let group = |tier| Peer::Group(group_addr(tier).to_string());
    let internet = || Peer::Cidr("0.0.0.0/0".into());
    let mut out = Vec::new();
    if let Some(lb) = &stack.load_balancer {
        let mut ingress = vec![Rule::tcp(lb.listen_port, internet())];
        // With a certificate the listener speaks HTTPS and port 80 only redirects to it.
        if lb.certificate_arn.is_some() && lb.listen_port != 80 {
            ingress.push(Rule::tcp(80, internet()));
        }
        let egress = stack.fleet.iter().map(|f| Rule::tcp(f.app_port, group("app"))).collect();
        out.push(Wanted { tier: "lb", description: "Load balancer: HTTP(S) from the internet", ingress, egress });
    }
    if let Some(fleet) = &stack.fleet {
        let ingress = stack.load_balancer.iter().map(|_| Rule::tcp(fleet.app_port, group("lb"))).collect();
        // All traffic out: instances install packages at boot and reach SSM (Session
        // Manager, instead of SSH) and S3 through their public addresses.
        let egress = vec![Rule::all(internet())];
        out.push(Wanted {
            tier: "app",
            description: "App instances: app port from the load balancer",
            ingress,
            egress,
        });
    }
    if let Some(db) = &stack.database {
        let ingress = stack.fleet.iter().map(|_| Rule::tcp(db.port, group("app"))).collect();
        // No egress at all: AWS's default allow-all rule is revoked.
        out.push(Wanted { tier: "db", description: "Database: database port from the app", ingress, egress: vec![] });
    }
    out
}

/// The egress rule AWS gives every new group.
fn aws_default_egress() -> Vec<Rule> {
    vec![Rule::all(Peer::Cidr("0.0.0.0/0".into()))]
}

/// The permission for one rule, with a named group resolved to its live id; `None` when
/// that group does not exist (yet, or any more).
fn permission(cx: &Cx, rule: &Rule) -> Option<IpPermission> {
    match rule.group() {
        Some(g) => resolve(cx, g).map(|peer| rule.permission(Some(&peer))),
        None => Some(rule.permission(None)),
    }
}

/// Authorize one rule. A rule naming a group that does not exist yet is left to that
/// group's create; one that exists already is fine.
async fn authorize(cx: &Cx, id: &str, egress: bool, rule: &Rule) -> Result<(), StepError> {
    let Some(perm) = permission(cx, rule) else { return Ok(()) };
    let ec2 = &cx.aws.ec2;
    let dup = "InvalidPermission.Duplicate";
    let result = if egress {
        let r = ec2.authorize_security_group_egress().group_id(id).ip_permissions(perm).send().await;
        r.map(drop).map_err(|e| (is_code(&e, dup), call_error("ec2:AuthorizeSecurityGroupEgress", e)))
    } else {
        let r = ec2.authorize_security_group_ingress().group_id(id).ip_permissions(perm).send().await;
        r.map(drop).map_err(|e| (is_code(&e, dup), call_error("ec2:AuthorizeSecurityGroupIngress", e)))
    };
    match result {
        Err((false, e)) => Err(e),
        _ => Ok(()),
    }
}

/// Revoke one rule; one that is gone already (or names a group that is gone) is fine.
async fn revoke(cx: &Cx, id: &str, egress: bool, rule: &Rule) -> Result<(), StepError> {
    let Some(perm) = permission(cx, rule) else { return Ok(()) };
    let ec2 = &cx.aws.ec2;
    let missing = "InvalidPermission.NotFound";
    let result = if egress {
        let r = ec2.revoke_security_group_egress().group_id(id).ip_permissions(perm).send().await;
        r.map(drop).map_err(|e| (is_code(&e, missing), call_error("ec2:RevokeSecurityGroupEgress", e)))
    } else {
        let r = ec2.revoke_security_group_ingress().group_id(id).ip_permissions(perm).send().await;
        r.map(drop).map_err(|e| (is_code(&e, missing), call_error("ec2:RevokeSecurityGroupIngress", e)))
    };
    match result {
        Err((false, e)) => Err(e),
        _ => Ok(()),
    }
}

/// Make one direction of a group's rules go from `before` to `after`: new rules first,
/// so traffic that stays allowed is never cut.
async fn converge(cx: &Cx, id: &str, egress: bool, before: &[Rule], after: &[Rule]) -> Result<(), StepError> {
    let (add, remove) = rules::diff(before, after);
    for r in &add {
        authorize(cx, id, egress, r).await?;
    }
    for r in &remove {
        revoke(cx, id, egress, r).await?;
    }
    Ok(())
}

/// A group keeps its name, description and VPC; its rules and tags change in place,
/// rule by rule. AWS refuses to delete a group "associated with an instance or network
/// interface" (EC2 API reference, DeleteSecurityGroup): what uses it goes first, by its
/// references, and the fleet's instances with their group.
pub static SCHEMA: Schema = Schema {
    kind: Kind::SecurityGroup,
    layer: 1,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::replace("description"),
        AttrSpec::replace("vpc"),
        AttrSpec::update("ingress").set(),
        AttrSpec::update("egress").set(),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[Kind::AutoscalingGroup],
};

#[async_trait]
impl Provider for SecurityGroups {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["ec2:DescribeSecurityGroups"],
            writes: &[
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:CreateSecurityGroup",
                "ec2:DeleteSecurityGroup",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:CreateTags",
                "ec2:DeleteTags",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let all = wanted(&cx.stack);
        all.iter()
            .map(|w| {
                let addr = group_addr(w.tier);
                let name = format!("{}-{}", cx.stack.name, w.tier);
                let mut attrs = Attrs::new();
                attrs.insert("name".into(), json!(name));
                attrs.insert("description".into(), json!(w.description));
                attrs.insert("vpc".into(), json!(vpc_addr().to_string()));
                attrs.insert("ingress".into(), rules::to_value(&w.ingress));
                attrs.insert("egress".into(), rules::to_value(&w.egress));
                attrs.insert("tags".into(), tags_value(&named_tags(cx, &addr, &name)));
                let named =
                    w.ingress.iter().chain(&w.egress).filter_map(|r| r.group()).filter_map(|g| Addr::parse(g).ok());
                let naming = all.iter().filter(|o| o.names(addr.as_str())).map(|o| group_addr(o.tier));
                let mut deps = vec![vpc_addr()];
                deps.extend(before(&addr, named.chain(naming)));
                Desired { addr, name, attrs, deps }
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.ec2().await?;
        let shown = |id: &str| shown(snap, id);
        let mut out = Vec::new();
        for g in &snap.security_groups {
            let Some(id) = g.group_id() else { continue };
            let vpc = g.vpc_id().unwrap_or_default();
            let ingress = rules::from_permissions(g.ip_permissions(), shown);
            let egress = rules::from_permissions(g.ip_permissions_egress(), shown);
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), json!(g.group_name().unwrap_or_default()));
            attrs.insert("description".into(), json!(g.description().unwrap_or_default()));
            attrs.insert("vpc".into(), json!(shown(vpc)));
            attrs.insert("ingress".into(), rules::to_value(&ingress));
            attrs.insert("egress".into(), rules::to_value(&egress));
            let mut o = observed(cx, Kind::SecurityGroup, id, g.tags(), attrs, vec![], wanted);
            o.name = g.group_name().unwrap_or(id).to_string();
            // Live references, both ways, decide the delete order like the file's do.
            let named = ingress.iter().chain(&egress).filter_map(|r| r.group()).filter_map(|g| Addr::parse(g).ok());
            let naming = snap.security_groups.iter().filter(|h| {
                let perms = h.ip_permissions().iter().chain(h.ip_permissions_egress());
                perms.flat_map(|p| p.user_id_group_pairs()).any(|pair| pair.group_id() == Some(id))
            });
            let naming = naming.filter_map(|h| h.group_id().and_then(|h| snap.addr_of(h)));
            o.deps = snap.addr_of(vpc).into_iter().chain(before(&o.addr, named.chain(naming))).collect();
            out.push(o);
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let ec2 = &cx.aws.ec2;
        let tags = tags_from(attr(&d.attrs, "tags"));
        let vpc = cx.id_in(text(&d.attrs, "vpc"))?;
        let out = ec2
            .create_security_group()
            .group_name(&d.name)
            .description(text(&d.attrs, "description"))
            .vpc_id(vpc)
            .tag_specifications(tag_spec(&tags, ResourceType::SecurityGroup))
            .send()
            .await
            .map_err(|e| call_error("ec2:CreateSecurityGroup", e))?;
        let id = out.group_id.ok_or_else(|| StepError::missing("ec2:CreateSecurityGroup", "the group's id"))?;
        cx.set_id(&d.addr, &id);
        until_visible(p, &format!("{id} to exist"), || async {
            let out = ec2
                .describe_security_groups()
                .group_ids(&id)
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeSecurityGroups", e))?;
            Ok(out.security_groups().is_empty().then(|| "not visible yet".into()))
        })
        .await?;
        converge(cx, &id, false, &[], &rules::parse(attr(&d.attrs, "ingress"))).await?;
        converge(cx, &id, true, &aws_default_egress(), &rules::parse(attr(&d.attrs, "egress"))).await?;
        // The rules of existing groups that name this one (skipped when they were made,
        // or dropped when this group was replaced).
        for w in wanted(&cx.stack).iter().filter(|w| group_addr(w.tier) != d.addr) {
            let Some(peer) = cx.known_id(&group_addr(w.tier)) else { continue };
            for (egress, list) in [(false, &w.ingress), (true, &w.egress)] {
                for r in list.iter().filter(|r| r.group() == Some(d.addr.as_str())) {
                    p.say(format!("adding the rule of `{}` that names this group", group_addr(w.tier)));
                    authorize(cx, &peer, egress, r).await?;
                }
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
            let (before, after) = (rules::parse(c.before.as_ref()), rules::parse(c.after.as_ref()));
            match c.name.as_str() {
                "ingress" => converge(cx, &o.id, false, &before, &after).await?,
                "egress" => converge(cx, &o.id, true, &before, &after).await?,
                "tags" => converge_tags(cx, &o.id, &tags_from(c.before.as_ref()), &tags_from(c.after.as_ref())).await?,
                other => return Err(StepError::not_in_place(other, "a security group")),
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        // AWS refuses to delete a group that another group's rule names: revoke those
        // rules in the stack's groups (never in anyone else's), and this group's own
        // rules naming other groups, first.
        let filter = Filter::builder().name(format!("tag:{TAG_STACK}")).values(&cx.stack.name).build();
        let out = cx
            .aws
            .ec2
            .describe_security_groups()
            .filters(filter)
            .send()
            .await
            .map_err(|e| call_error("ec2:DescribeSecurityGroups", e))?;
        for g in out.security_groups() {
            let Some(gid) = g.group_id() else { continue };
            let raw = |id: &str| id.to_string();
            for (egress, perms) in [(false, g.ip_permissions()), (true, g.ip_permissions_egress())] {
                let list = rules::from_permissions(perms, raw);
                let naming = list.iter().filter(|r| match r.group() {
                    Some(peer) if gid == o.id => peer != o.id,
                    Some(peer) => peer == o.id,
                    None => false,
                });
                for r in naming {
                    revoke(cx, gid, egress, r).await?;
                }
            }
        }
        let result = retry_while_in_use(p, || async {
            let req = cx.aws.ec2.delete_security_group().group_id(&o.id);
            req.send().await.map(drop).map_err(|e| call_error("ec2:DeleteSecurityGroup", e))
        })
        .await;
        match result {
            Err(e) if e.is_code("DependencyViolation") => Err(e.hint(
                "something outside the stack (a network interface, another account's or stack's rule) still uses the group",
            )),
            other => deleted(cx, o, other),
        }
    }
}

#[cfg(test)]
mod tests;
