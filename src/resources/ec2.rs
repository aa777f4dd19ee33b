//! What the EC2-based providers share: the stack's EC2 resources listed in wave one by
//! tag filter (one describe per kind, in parallel), tag helpers, resolving a live id to
//! the address that owns it, and waiting out AWS's `DependencyViolation` on deletes
//! while network interfaces and attachments drain.

use super::{Cx, TAG_RESOURCE, TAG_STACK};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, Aws};
use crate::engine::Addr;
use aws_sdk_ec2::types::{
    Filter, InternetGateway, LaunchTemplate, ResourceType, RouteTable, SecurityGroup, Subnet, Tag, TagSpecification,
    Vpc,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// Every EC2 resource tagged with the stack, by kind.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    pub internet_gateways: Vec<InternetGateway>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: Vec<SecurityGroup>,
    pub launch_templates: Vec<LaunchTemplate>,
    /// What each `existing:` network lookup found (never among the stack's own above).
    pub existing: super::existing::NetworkFound,
    /// Live id → the address its tag names.
    ids: BTreeMap<String, Addr>,
}

fn stack_filter(stack: &str) -> Filter {
    Filter::builder().name(format!("tag:{TAG_STACK}")).values(stack).build()
}

impl Snapshot {
    /// Six describes in parallel, each filtered to the stack's tag; beside each, when the
    /// file's `adopt:` lists resources of that kind, one more filtered to their ids (the
    /// same wave: adopting costs no round trip). `adopt` is the file's address → id map.
    pub async fn fetch(
        aws: &Aws,
        stack: &str,
        adopt: &BTreeMap<String, String>,
        lookups: &super::existing::NetworkLookups,
    ) -> Result<Snapshot, StepError> {
        let ec2 = &aws.ec2;
        let f = || stack_filter(stack);
        // The `adopt:` ids of a kind, as a filter (`None`: nothing of it to adopt). A
        // filter, not the ids parameter: an id that does not exist is no error then
        // (the plan says so at the entry).
        let adopted = |kind: &str, filter: &str| {
            let ids: Vec<String> = adopt
                .iter()
                .filter(|(a, _)| a.split_once('.').is_some_and(|(k, _)| k == kind))
                .map(|(_, id)| id.clone())
                .collect();
            (!ids.is_empty()).then(|| Filter::builder().name(filter).set_values(Some(ids)).build())
        };
        macro_rules! both {
            ($call:ident, $field:ident, $op:literal, $kind:literal, $filter:literal) => {{
                let one = |filter: Filter| async move {
                    let out = ec2.$call().filters(filter).send().await.map_err(|e| call_error($op, e))?;
                    Ok::<_, StepError>(out.$field.unwrap_or_default())
                };
                async move {
                    let extra = adopted($kind, $filter);
                    let (mut tagged, extra) = match extra {
                        Some(x) => tokio::try_join!(one(f()), async move { one(x).await.map(Some) })?,
                        None => (one(f()).await?, None),
                    };
                    tagged.extend(extra.unwrap_or_default());
                    Ok::<_, StepError>(tagged)
                }
            }};
        }
        let vpcs = both!(describe_vpcs, vpcs, "ec2:DescribeVpcs", "vpc", "vpc-id");
        let subnets = both!(describe_subnets, subnets, "ec2:DescribeSubnets", "subnet", "subnet-id");
        let igws = both!(
            describe_internet_gateways,
            internet_gateways,
            "ec2:DescribeInternetGateways",
            "internet_gateway",
            "internet-gateway-id"
        );
        let rts =
            both!(describe_route_tables, route_tables, "ec2:DescribeRouteTables", "route_table", "route-table-id");
        let sgs = both!(
            describe_security_groups,
            security_groups,
            "ec2:DescribeSecurityGroups",
            "security_group",
            "group-id"
        );
        let lts = both!(
            describe_launch_templates,
            launch_templates,
            "ec2:DescribeLaunchTemplates",
            "launch_template",
            "launch-template-name"
        );
        let existing = super::existing::fetch_network(ec2, lookups);
        let (
            (mut vpcs, mut subnets, mut internet_gateways, mut route_tables, mut security_groups, mut launch_templates),
            existing,
        ) = tokio::try_join!(async { tokio::try_join!(vpcs, subnets, igws, rts, sgs, lts) }, existing)?;
        // A resource both tagged and listed under `adopt:` (adopted by an earlier run) is
        // read twice: keep one.
        fn dedup<T>(v: &mut Vec<T>, id: impl Fn(&T) -> Option<&str>) {
            let mut seen = std::collections::BTreeSet::new();
            v.retain(|x| seen.insert(id(x).unwrap_or_default().to_string()));
        }
        dedup(&mut vpcs, |x| x.vpc_id());
        dedup(&mut subnets, |x| x.subnet_id());
        dedup(&mut internet_gateways, |x| x.internet_gateway_id());
        dedup(&mut route_tables, |x| x.route_table_id());
        dedup(&mut security_groups, |x| x.group_id());
        dedup(&mut launch_templates, |x| x.launch_template_id());
        let mut ids = BTreeMap::new();
        let mut note = |id: Option<&str>, tags: &[Tag], name: Option<&str>| {
            // A tag that is no address names nothing here; the provider that reads the
            // resource reports it. One without the stack's tags, listed under `adopt:`,
            // is at the address the entry gives (a launch template by its name).
            let Some(id) = id else { return };
            let tags = tags_of(tags);
            let addr = match tags.get(TAG_RESOURCE) {
                Some(a) => Addr::parse(a).ok(),
                None if !tags.contains_key(TAG_STACK) => {
                    let listed = |v: &String| v == id || Some(v.as_str()) == name;
                    adopt.iter().find(|(_, v)| listed(v)).and_then(|(a, _)| Addr::parse(a).ok())
                }
                None => None,
            };
            if let Some(addr) = addr {
                ids.insert(id.to_string(), addr);
            }
        };
        vpcs.iter().for_each(|x| note(x.vpc_id(), x.tags(), None));
        subnets.iter().for_each(|x| note(x.subnet_id(), x.tags(), None));
        internet_gateways.iter().for_each(|x| note(x.internet_gateway_id(), x.tags(), None));
        route_tables.iter().for_each(|x| note(x.route_table_id(), x.tags(), None));
        security_groups.iter().for_each(|x| note(x.group_id(), x.tags(), None));
        launch_templates.iter().for_each(|x| note(x.launch_template_id(), x.tags(), x.launch_template_name()));
        // What `existing:` found stands at the addresses the stack's own would have, so
        // what refers to it reads and diffs as it does with the stack's network.
        for (id, addr) in existing.addresses_of(lookups) {
            ids.insert(id, addr);
        }
        Ok(Snapshot {
            vpcs,
            subnets,
            internet_gateways,
            route_tables,
            security_groups,
            launch_templates,
            existing,
            ids,
        })
    }

    /// The address of the stack's resource with this live id.
    pub fn addr_of(&self, id: &str) -> Option<Addr> {
        self.ids.get(id).cloned()
    }
}

/// EC2 tags as a sorted map.
pub fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default()))).collect()
}

/// EC2 tags from a map.
pub fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Tags applied in the create call itself, so a created resource is always found again.
pub fn tag_spec(tags: &BTreeMap<String, String>, kind: ResourceType) -> TagSpecification {
    TagSpecification::builder().resource_type(kind).set_tags(Some(to_tags(tags))).build()
}

/// Make the tags of `id` go from `before` to `after`.
pub async fn converge_tags(
    cx: &Cx,
    id: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), StepError> {
    let (set, remove) = super::tag_delta(before, after);
    if !set.is_empty() {
        cx.aws
            .ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(to_tags(&set)))
            .send()
            .await
            .map_err(|e| call_error("ec2:CreateTags", e))?;
    }
    if !remove.is_empty() {
        let keys = remove.into_iter().map(|k| Tag::builder().key(k).build()).collect();
        cx.aws
            .ec2
            .delete_tags()
            .resources(id)
            .set_tags(Some(keys))
            .send()
            .await
            .map_err(|e| call_error("ec2:DeleteTags", e))?;
    }
    Ok(())
}

/// How long a delete keeps retrying while AWS still sees dependents (network interfaces
/// of a deleted load balancer take minutes to go).
pub const DEPENDENCY_WAIT: Duration = Duration::from_secs(15 * 60);

/// Run a delete, retrying `DependencyViolation` (and `ResourceInUse`) with backoff until
/// [`DEPENDENCY_WAIT`] has passed; the user sees why it waits.
pub async fn retry_while_in_use<F, Fut>(p: &Progress<'_>, mut attempt: F) -> Result<(), StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_secs(2);
    loop {
        match attempt().await {
            Err(e) if in_use(&e) && started.elapsed() < DEPENDENCY_WAIT => {
                p.say(format!("still in use, retrying in {} s ({})", delay.as_secs(), e.message));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            other => return other,
        }
    }
}

fn in_use(e: &StepError) -> bool {
    e.is_code("DependencyViolation") || e.is_code("ResourceInUse")
}

/// True when an EC2 error says the thing is already gone.
pub fn gone(e: &StepError) -> bool {
    e.code().is_some_and(|c| c == "NotFound" || c.ends_with(".NotFound"))
}

/// How often a fresh resource is looked at, and for how long at most.
const VISIBLE_EVERY: Duration = Duration::from_secs(2);
const VISIBLE_WITHIN: Duration = Duration::from_secs(300);

/// Wait until a resource this run just created shows in EC2's describes as ready:
/// `look` answers `None` when it is, or the state it is in. Right after a create a
/// describe may answer `*.NotFound` ("Eventual consistency in the Amazon EC2 API": its
/// ID "might not have propagated throughout the system"; retry with backoff), which is
/// waited out here too; the SDK's `*Available` waiters treat it as an error.
pub async fn until_visible<F, Fut>(p: &Progress<'_>, what: &str, mut look: F) -> Result<(), StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<String>, StepError>>,
{
    super::wait::until(&|m| p.say(m), what, VISIBLE_WITHIN, VISIBLE_EVERY, || {
        let seen = look();
        async move {
            match seen.await {
                Ok(None) => Ok(super::wait::Poll::Ready(())),
                Ok(Some(state)) => Ok(super::wait::Poll::Pending(state)),
                Err(e) if gone(&e) => Ok(super::wait::Poll::Pending("not visible yet".into())),
                Err(e) => Err(e),
            }
        }
    })
    .await
}

/// The stack's tags for an EC2 resource, plus the `Name` the console shows.
pub fn named_tags(cx: &Cx, addr: &Addr, name: &str) -> BTreeMap<String, String> {
    let mut t = cx.tags(addr);
    t.insert("Name".into(), name.to_string());
    t
}
