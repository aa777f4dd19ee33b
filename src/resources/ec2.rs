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
    /// Live id → the address its tag names.
    ids: BTreeMap<String, Addr>,
}

fn stack_filter(stack: &str) -> Filter {
    Filter::builder().name(format!("tag:{TAG_STACK}")).values(stack).build()
}

impl Snapshot {
    /// Six describes in parallel, each filtered to the stack's tag.
    pub async fn fetch(aws: &Aws, stack: &str) -> Result<Snapshot, StepError> {
        let ec2 = &aws.ec2;
        let f = || stack_filter(stack);
        let vpcs = async {
            let out = ec2.describe_vpcs().filters(f()).send().await.map_err(|e| call_error("ec2:DescribeVpcs", e))?;
            Ok::<_, StepError>(out.vpcs.unwrap_or_default())
        };
        let subnets = async {
            let out =
                ec2.describe_subnets().filters(f()).send().await.map_err(|e| call_error("ec2:DescribeSubnets", e))?;
            Ok::<_, StepError>(out.subnets.unwrap_or_default())
        };
        let igws = async {
            let out = ec2
                .describe_internet_gateways()
                .filters(f())
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeInternetGateways", e))?;
            Ok::<_, StepError>(out.internet_gateways.unwrap_or_default())
        };
        let rts = async {
            let out = ec2
                .describe_route_tables()
                .filters(f())
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeRouteTables", e))?;
            Ok::<_, StepError>(out.route_tables.unwrap_or_default())
        };
        let sgs = async {
            let out = ec2
                .describe_security_groups()
                .filters(f())
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeSecurityGroups", e))?;
            Ok::<_, StepError>(out.security_groups.unwrap_or_default())
        };
        let lts = async {
            let out = ec2
                .describe_launch_templates()
                .filters(f())
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeLaunchTemplates", e))?;
            Ok::<_, StepError>(out.launch_templates.unwrap_or_default())
        };
        let (vpcs, subnets, internet_gateways, route_tables, security_groups, launch_templates) =
            tokio::try_join!(vpcs, subnets, igws, rts, sgs, lts)?;
        let mut ids = BTreeMap::new();
        let mut note = |id: Option<&str>, tags: &[Tag]| {
            // A tag that is no address names nothing here; the provider that reads the
            // resource reports it.
            if let (Some(id), Some(addr)) = (id, tags_of(tags).remove(TAG_RESOURCE).and_then(|a| Addr::parse(&a).ok()))
            {
                ids.insert(id.to_string(), addr);
            }
        };
        vpcs.iter().for_each(|x| note(x.vpc_id(), x.tags()));
        subnets.iter().for_each(|x| note(x.subnet_id(), x.tags()));
        internet_gateways.iter().for_each(|x| note(x.internet_gateway_id(), x.tags()));
        route_tables.iter().for_each(|x| note(x.route_table_id(), x.tags()));
        security_groups.iter().for_each(|x| note(x.group_id(), x.tags()));
        launch_templates.iter().for_each(|x| note(x.launch_template_id(), x.tags()));
        Ok(Snapshot { vpcs, subnets, internet_gateways, route_tables, security_groups, launch_templates, ids })
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
