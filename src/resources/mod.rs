//! Providers: one per resource kind, each knowing how to express its part of the stack as
//! [`Desired`] resources, read it from AWS, and create, update and delete it. The engine
//! reaches them only through [`Provider`] and the [`Registry`], which also implements the
//! executor's [`Operator`].
//!
//! Reads run in two waves: wave one ([`Live::prefetch`]) lists what the stack owns in one
//! call per service (the tagging API; IAM's listings under the stack's path, with the
//! file's IAM names read by name beside them) while STS says which account this is; wave
//! two reads the attributes of each resource in parallel.

pub mod app_env;
pub mod bucket;
pub mod cloud9;
pub mod database;
pub mod domain;
pub mod ec2;
pub mod existing;
pub mod fleet;
pub mod group;
pub mod iam;
pub mod instance_profile;
pub mod lb;
pub mod live;
pub mod monitoring;
pub mod network;
pub mod policy;
pub mod role;
pub mod wait;

use crate::apply::{Operator, Progress, StepError};
use crate::aws::Aws;
use crate::engine::{Addr, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{AttrChange, KindRules};
use async_trait::async_trait;
use bumarket_stack::Stack;
pub use live::Live;
use std::collections::BTreeMap;

/// Tag naming the stack that owns a resource.
pub const TAG_STACK: &str = "bumarket-infra:stack";
/// Tag holding the resource's logical address.
pub const TAG_RESOURCE: &str = "bumarket-infra:resource";
/// Tag marking an IAM role or instance profile under the stack's path as released: IAM
/// cannot move either to another path (UpdateRole changes only the description and the
/// session length), so the path alone cannot say it is no longer ours.
pub const TAG_RELEASED: &str = "bumarket-infra:released";
/// Tag recording what was last applied, attribute by attribute (see `plan::drift`).
pub use crate::plan::drift::TAG_APPLIED;

/// Everything a provider needs to act: clients, the checked stack, the account, values
/// resolved at plan time, and the live ids of the stack's resources.
#[derive(Debug)]
pub struct Cx {
    pub aws: Aws,
    pub stack: Stack,
    pub account: String,
    /// The fleet's image id, when it comes from an SSM parameter (resolved in wave one).
    pub image_id: Option<String>,
    /// Address → live id (VPC id, subnet id, ARN, ...): filled from the read, then by
    /// each create, so a resource can name what it references.
    pub ids: std::sync::Mutex<BTreeMap<Addr, String>>,
    /// Live id → how many live resources of the stack point at it (a subnet at its VPC):
    /// of two copies of one resource, the plan keeps the one the rest of the stack uses.
    pub referenced: std::sync::Mutex<BTreeMap<String, usize>>,
    /// `--resubscribe`: mail a new confirmation link to addresses whose subscription AWS
    /// deleted unconfirmed (see `monitoring::subscription`).
    pub resubscribe: bool,
    /// Placeholder → live value, for values that exist only once a resource does (the
    /// database's address and secret, see `app_env`): filled by the read and by creates.
    pub live_values: std::sync::Mutex<BTreeMap<String, String>>,
    /// What the file's `existing:` lookups resolved to (wave one).
    pub existing: existing::Resolved,
}

impl Cx {
    pub fn new(aws: Aws, stack: Stack, account: String, image_id: Option<String>) -> Cx {
        Cx {
            aws,
            stack,
            account,
            image_id,
            ids: Default::default(),
            referenced: Default::default(),
            resubscribe: false,
            live_values: Default::default(),
            existing: Default::default(),
        }
    }

    /// Take what the `existing:` lookups found: the network's ids stand at the addresses
    /// the stack's own network would have, so references to it resolve.
    pub fn use_existing(&mut self, resolved: existing::Resolved) {
        for f in &resolved.found {
            let addr = match f.key.as_str() {
                "vpc" => Some(Addr::new(Kind::Vpc, "main")),
                k => k
                    .strip_suffix(']')
                    .and_then(|k| k.split_once("_subnets["))
                    .map(|(tier, i)| Addr::new(Kind::Subnet, format!("{tier}-{i}"))),
            };
            if let Some(addr) = addr {
                self.set_id(&addr, &f.id);
            }
        }
        self.existing = resolved;
    }

    /// A KMS key the file names: `existing.kms_key` is the key that lookup found.
    pub fn kms_key(&self, key: &str) -> String {
        match key {
            "existing.kms_key" => self.existing.get("kms_key").map_or_else(|| key.to_string(), |f| f.id.clone()),
            other => other.to_string(),
        }
    }

    /// Count that a live resource points at each of `ids` (see [`Cx::referenced`]).
    pub fn note_references<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut seen = self.referenced.lock().expect("references");
        for id in ids {
            *seen.entry(id.to_string()).or_insert(0) += 1;
        }
    }

    /// The live id of a resource this one references.
    pub fn id_of(&self, addr: &Addr) -> Result<String, StepError> {
        self.ids
            .lock()
            .expect("ids")
            .get(addr)
            .cloned()
            .ok_or_else(|| StepError::new("plan", format!("`{addr}` does not exist (yet); it is needed here")))
    }

    /// The live id of the resource an attribute value names by its address.
    pub fn id_in(&self, value: &str) -> Result<String, StepError> {
        let addr = Addr::parse(value)
            .map_err(|e| StepError::new("plan", format!("{e}; a reference to a resource of the stack was expected")))?;
        self.id_of(&addr)
    }

    /// The live id of a resource, when it exists (read or created this run).
    pub fn known_id(&self, addr: &Addr) -> Option<String> {
        self.ids.lock().expect("ids").get(addr).cloned()
    }

    /// Forget the id of a deleted resource, unless the address already names another copy.
    pub fn forget_id(&self, o: &Observed) {
        let mut ids = self.ids.lock().expect("ids");
        if ids.get(&o.addr) == Some(&o.id) {
            ids.remove(&o.addr);
        }
    }

    /// Record the live id of a resource (after reading or creating it).
    pub fn set_id(&self, addr: &Addr, id: impl Into<String>) {
        self.ids.lock().expect("ids").insert(addr.clone(), id.into());
    }

    pub fn region(&self) -> &str {
        &self.aws.region
    }

    /// The IAM path every IAM resource of the stack lives under.
    pub fn iam_path(&self) -> String {
        iam_path(&self.stack.name)
    }

    /// Tags for a resource: the stack's tags plus the ownership tags.
    pub fn tags(&self, addr: &Addr) -> BTreeMap<String, String> {
        let mut t = self.stack.tags.clone();
        t.insert(TAG_STACK.into(), self.stack.name.clone());
        t.insert(TAG_RESOURCE.into(), addr.to_string());
        t
    }

    /// Where a live resource of `kind` belongs: the address its tag names; for one
    /// without that tag (IAM groups take no tags), the file's resource of that name, else
    /// its name without the `<stack>-` prefix. `Err` says why the tag cannot be the
    /// address of a resource of `kind`.
    pub fn addr_for(
        &self,
        kind: Kind,
        name: &str,
        tags: &BTreeMap<String, String>,
        wanted: &[&Desired],
    ) -> Result<Addr, String> {
        if let Some(a) = tags.get(TAG_RESOURCE) {
            return address_tag(kind, a);
        }
        if let Some(d) = wanted.iter().find(|d| d.name == name) {
            return Ok(d.addr.clone());
        }
        let prefix = format!("{}-", self.stack.name);
        Ok(Addr::new(kind, name.strip_prefix(&prefix).unwrap_or(name)))
    }

    /// Whose a live resource is by its stack tag (`what` names it: "the bucket"): ours,
    /// another stack's (foreign, never adopted), or no stack's: made outside
    /// bumarket-infra, which the file's `adopt:` may take over.
    pub fn tag_ownership(&self, what: &str, tags: &BTreeMap<String, String>) -> Ownership {
        match tags.get(TAG_STACK) {
            Some(s) if *s == self.stack.name => Ownership::Ours,
            Some(s) => Ownership::Foreign(format!("{what} belongs to the stack `{s}`")),
            None => Ownership::Unowned(format!("{what} exists without the tag `{TAG_STACK}={}`", self.stack.name)),
        }
    }

    /// Whose an IAM role or instance profile is (`what` names it, `path` is its IAM path):
    /// one the stack made lives under the stack's path (unless released, see
    /// [`TAG_RELEASED`]); one it adopted lives elsewhere and carries the stack's tag;
    /// anything under another stack's path is that stack's.
    pub fn iam_ownership(&self, what: &str, path: &str, tags: &BTreeMap<String, String>) -> Ownership {
        let ours = self.iam_path();
        let released = tags.get(TAG_RELEASED) == Some(&self.stack.name);
        if path == ours {
            return if released {
                Ownership::Unowned(format!("{what} of that name was released from the stack"))
            } else {
                Ownership::Ours
            };
        }
        if path.starts_with("/bumarket-infra/") {
            return Ownership::Foreign(format!("{what} of that name lies under another stack's path `{path}`"));
        }
        match self.tag_ownership(what, tags) {
            Ownership::Unowned(_) => {
                Ownership::Unowned(format!("{what} of that name exists outside the path `{ours}`"))
            }
            other => other,
        }
    }

    /// Whether a live resource a listing found is the stack's (by its stack tag), or
    /// someone else's holding a name the file wants (a conflict the plan shows, `what`
    /// naming it: "the log group"); `None` for the rest of the account, never shown.
    pub fn ownership_by_tag(
        &self,
        what: &str,
        name: &str,
        tags: &BTreeMap<String, String>,
        wanted: &[&Desired],
    ) -> Option<Ownership> {
        let ownership = self.tag_ownership(what, tags);
        (ownership == Ownership::Ours || wanted.iter().any(|d| d.name == name)).then_some(ownership)
    }

    /// The address and ownership of a live resource, as [`Cx::addr_for`] places it: one
    /// whose address tag does not fit is [`Ownership::BadAddress`], whatever `ownership`
    /// its other tags gave it, so the plan fails naming it and nothing acts on it.
    pub fn placed(
        &self,
        kind: Kind,
        name: &str,
        tags: &BTreeMap<String, String>,
        wanted: &[&Desired],
        ownership: Ownership,
    ) -> (Addr, Ownership) {
        match self.addr_for(kind, name, tags, wanted) {
            Ok(addr) => (addr, ownership),
            Err(why) => (Addr::new(kind, name), Ownership::BadAddress(why)),
        }
    }

    /// The address and ownership of a live resource whose stack tag says whose it is
    /// ([`Cx::tag_ownership`]): placed by its tags when it is a stack's; otherwise at the
    /// `adopt:` entry that lists its id or name, if one does, else as [`Cx::placed`] puts it.
    pub fn placed_by_tag(
        &self,
        (kind, what): (Kind, &str),
        (id, name): (&str, &str),
        tags: &BTreeMap<String, String>,
        wanted: &[&Desired],
    ) -> (Addr, Ownership) {
        let ownership = self.tag_ownership(what, tags);
        if let Ownership::Unowned(_) = ownership {
            if let Some(addr) = self.adopted(kind, &[id, name]) {
                return (addr, ownership);
            }
        }
        self.placed(kind, name, tags, wanted, ownership)
    }

    /// The address of the file's `adopt:` entry of `kind` that lists one of `keys` (a
    /// live id or name).
    pub fn adopted(&self, kind: Kind, keys: &[&str]) -> Option<Addr> {
        self.stack
            .adopt
            .iter()
            .filter(|(_, v)| keys.contains(&v.id.as_str()))
            .filter_map(|(a, _)| Addr::parse(a).ok())
            .find(|a| a.kind() == kind)
    }

    pub fn partition(&self) -> &'static str {
        policy::partition(self.region())
    }
}

/// Physical name of a named resource of `stack`: the file's name or `<stack>-<logical>`.
pub fn physical_name(stack: &Stack, given: Option<&String>, logical: &str) -> String {
    given.cloned().unwrap_or_else(|| format!("{}-{}", stack.name, logical))
}

pub fn iam_path(stack: &str) -> String {
    format!("/bumarket-infra/{stack}/")
}

/// The address an ownership tag's value names, for a resource of `kind`; `Err` says in
/// words why it cannot be (an unknown kind, another kind, no name).
pub fn address_tag(kind: Kind, value: &str) -> Result<Addr, String> {
    let tag = format!("its tag `{TAG_RESOURCE}={value}`");
    match Addr::parse(value) {
        Ok(a) if a.kind() == kind => Ok(a),
        Ok(a) => Err(format!("{tag} names a `{}`, and it is a `{kind}`", a.kind())),
        Err(e) => Err(format!("{tag} is no address: {e}")),
    }
}

/// The AWS calls a kind's provider makes, each `service:Operation` with the service's
/// IAM prefix and the operation as AWS names it (`ec2:DescribeVpcs`): reads (plan, and
/// the waits of apply) and writes (apply and destroy). `permissions` builds the
/// deployer's policy from them, and the tests check every call made against them (see
/// `crate::permissions`).
#[derive(Debug, Clone, Copy)]
pub struct Calls {
    pub reads: &'static [&'static str],
    pub writes: &'static [&'static str],
}

/// One resource kind.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The AWS calls this provider makes (see [`Calls`]).
    fn calls(&self) -> Calls;
    /// ARNs (patterns) of what a resource's writes act on, where names known before it
    /// exists fix them; `permissions` limits the service's writes to them. None: ids
    /// AWS picks name it (EC2), and its writes are granted on `*`.
    fn arns(&self, _cx: &Cx, _d: &Desired) -> Vec<String> {
        Vec::new()
    }
    /// Where the file sets a resource's name (mapping keys, sequence indexes as numbers),
    /// so a problem with it is shown there; where the name is a default, at the deepest
    /// key written. None: the file names it nowhere in particular.
    fn place(&self, _cx: &Cx, _d: &Desired) -> Vec<String> {
        Vec::new()
    }
    /// The kind's attributes (what forces a replacement, what is secret, how values
    /// compare), its plan layer and the kinds AWS needs deleted before it.
    fn schema(&self) -> &'static Schema;
    /// The file's resources of this kind.
    fn desired(&self, cx: &Cx) -> Vec<Desired>;
    /// Every live resource of this kind that the stack owns, plus any live resource that
    /// has the name of one of `wanted` (marked foreign when it is not ours). Absent is not
    /// an error.
    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError>;
    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError>;
    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError>;
    async fn delete(&self, cx: &Cx, o: &Observed, d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError>;
    /// Add words to a planned change that the user must know (instances replaced, ...).
    fn annotate(&self, _cx: &Cx, _change: &mut crate::plan::ResourceChange) {}
    /// What the user must know or do about a resource, changed or not (a subscription
    /// waiting for its confirmation).
    fn notice(&self, _cx: &Cx, _r: &crate::plan::ResourceChange) -> Option<String> {
        None
    }
    /// Say why a delete must not happen (checked for every delete before anything runs).
    async fn refuse_delete(&self, _cx: &Cx, _o: &Observed, _d: Option<&Desired>) -> Result<Option<String>, StepError> {
        Ok(None)
    }
}

/// The provider of every kind: the one place a kind meets the code that manages it.
pub fn provider(kind: Kind) -> &'static dyn Provider {
    match kind {
        Kind::Bucket => &bucket::Buckets,
        Kind::Role => &role::Roles,
        Kind::Group => &group::Groups,
        Kind::InstanceProfile => &instance_profile::InstanceProfiles,
        Kind::Vpc => &network::vpc::Vpcs,
        Kind::Subnet => &network::subnet::Subnets,
        Kind::InternetGateway => &network::internet_gateway::InternetGateways,
        Kind::RouteTable => &network::route_table::RouteTables,
        Kind::SecurityGroup => &network::security_group::SecurityGroups,
        Kind::TargetGroup => &lb::target_group::TargetGroups,
        Kind::LoadBalancer => &lb::load_balancer::LoadBalancers,
        Kind::HostedZone => &domain::zone::Zones,
        Kind::Certificate => &domain::certificate::Certificates,
        Kind::Listener => &lb::listener::Listeners,
        Kind::LaunchTemplate => &fleet::launch_template::LaunchTemplates,
        Kind::AutoscalingGroup => &fleet::autoscaling_group::Groups,
        Kind::ScalingPolicy => &fleet::scaling_policy::Policies,
        Kind::DbSubnetGroup => &database::subnet_group::SubnetGroups,
        Kind::Database => &database::instance::Instances,
        Kind::Topic => &monitoring::topic::Topics,
        Kind::Subscription => &monitoring::subscription::Subscriptions,
        Kind::LogGroup => &monitoring::log_group::LogGroups,
        Kind::DeliveryStream => &monitoring::delivery_stream::DeliveryStreams,
        Kind::LogSubscription => &monitoring::log_subscription::LogSubscriptions,
        Kind::Alarm => &monitoring::alarm::Alarms,
        Kind::Dashboard => &monitoring::dashboard::Dashboards,
        Kind::Cloud9 => &cloud9::environment::Environments,
        Kind::DnsRecord => &domain::record::Records,
    }
}

/// Every desired resource of the stack, each tagged one with its applied record. An
/// adopted resource keeps the name and description its `adopt:` entry gives (what AWS
/// cannot change and the file's sections cannot say), wherever the kind has them.
pub fn desired(cx: &Cx) -> Vec<Desired> {
    let mut all: Vec<Desired> = Kind::ALL.iter().flat_map(|k| provider(*k).desired(cx)).collect();
    for d in &mut all {
        if let Some(a) = cx.stack.adopt.get(d.addr.as_str()) {
            keep(d, "name", a.name.as_deref());
            keep(d, "description", a.description.as_deref());
            if let Some(name) = &a.name {
                d.name.clone_from(name);
                // Kinds named by their `Name` tag (a VPC, a subnet) keep it too.
                if let Some(tag) = d.attrs.get_mut("tags").and_then(|t| t.get_mut("Name")) {
                    *tag = serde_json::Value::String(name.clone());
                }
            }
        }
        crate::plan::drift::stamp(&mut d.attrs);
    }
    all
}

/// Set a desired attribute the kind has (never add one it lacks).
fn keep(d: &mut Desired, key: &str, value: Option<&str>) {
    if let (Some(v), Some(slot)) = (value, d.attrs.get_mut(key)) {
        *slot = serde_json::Value::String(v.to_string());
    }
}

/// Every provider, with what they need to act.
pub struct Registry {
    pub cx: Cx,
}

impl Registry {
    pub fn new(cx: Cx) -> Registry {
        Registry { cx }
    }

    fn providers(&self) -> impl Iterator<Item = &'static dyn Provider> {
        Kind::ALL.iter().map(|k| provider(*k))
    }

    /// Every desired resource of the stack; those with tags also carry the record of
    /// what they ask for ([`TAG_APPLIED`]), so a later plan can tell drift.
    pub fn desired(&self) -> Vec<Desired> {
        desired(&self.cx)
    }

    /// Read every kind in parallel (wave two; wave one is shared through `live`). A live
    /// resource that a provider placed at an address of another kind is marked
    /// [`Ownership::BadAddress`]: nothing is ever sent to the wrong provider.
    pub async fn read(&self, live: &Live, desired: &[Desired]) -> Result<Vec<Observed>, StepError> {
        let reads = self.providers().map(|p| {
            let kind = p.schema().kind;
            let wanted: Vec<&Desired> = desired.iter().filter(|d| d.addr.kind() == kind).collect();
            async move { Ok::<_, StepError>((kind, p.read(&self.cx, live, &wanted).await?)) }
        });
        let results = futures::future::join_all(reads).await;
        let mut all = Vec::new();
        for r in results {
            let (kind, observed) = r?;
            all.extend(observed.into_iter().map(|mut o| {
                if o.addr.kind() != kind {
                    let why = format!("it was placed at `{}`, and it is a `{kind}`", o.addr);
                    o.ownership = Ownership::BadAddress(why);
                    o.addr = Addr::new(kind, &o.name);
                }
                o
            }));
        }
        // Values that exist only once the database does stand as placeholders in what the
        // rest of the stack asks for; map the live ones back, so a converged plan is quiet.
        app_env::note_read(&self.cx, &all);
        app_env::unresolve_all(&self.cx, &mut all);
        Ok(all)
    }

    /// Let each provider add its notes to the plan's changes, and its notices.
    pub fn annotate(&self, plan: &mut crate::plan::Plan) {
        for r in plan.resources.iter_mut().filter(|r| r.action != crate::plan::Action::NoOp) {
            provider(r.addr.kind()).annotate(&self.cx, r);
        }
        plan.notices = plan.resources.iter().filter_map(|r| provider(r.addr.kind()).notice(&self.cx, r)).collect();
    }

    /// Reasons deletes in the plan would be refused, each with its address.
    pub async fn refusals(&self, plan: &crate::plan::Plan) -> Result<Vec<(Addr, String)>, StepError> {
        let checks = plan
            .actions()
            .filter(|r| matches!(r.action, crate::plan::Action::Delete | crate::plan::Action::Replace))
            .filter_map(|r| r.observed.as_ref().map(|o| (r, o)))
            .map(|(r, o)| async move {
                let why = provider(r.addr.kind()).refuse_delete(&self.cx, o, r.desired.as_ref()).await?;
                Ok::<_, StepError>(why.map(|w| (r.addr.clone(), w)))
            });
        let results = futures::future::join_all(checks).await;
        let mut out = Vec::new();
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Sections of the file that no provider manages yet (none today: the plan still
    /// asks, so a section added before its provider is said, never silently ignored).
    pub fn not_managed(&self) -> Vec<String> {
        Vec::new()
    }
}

impl KindRules for Registry {
    fn schema(&self, kind: Kind) -> &Schema {
        provider(kind).schema()
    }
    fn references(&self, id: &str) -> usize {
        self.cx.referenced.lock().expect("references").get(id).copied().unwrap_or(0)
    }
    fn adopts(&self, addr: &Addr) -> bool {
        self.cx.stack.adopt.contains_key(addr.as_str())
    }
    fn adopt_replaces(&self, addr: &Addr) -> bool {
        self.cx.stack.adopt.get(addr.as_str()).is_some_and(|a| a.replace)
    }
}

#[async_trait]
impl Operator for Registry {
    async fn create(&self, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        provider(d.addr.kind()).create(&self.cx, d, p).await
    }
    async fn update(
        &self,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        provider(d.addr.kind()).update(&self.cx, d, o, &tags_last(changes), p).await
    }
    async fn delete(&self, o: &Observed, d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        provider(o.addr.kind()).delete(&self.cx, o, d, p).await
    }
}

/// The stack's addresses among attribute values that name resources either by address
/// (`subnet.public-0`) or, for what the stack does not own, by raw id or ARN.
pub fn addrs_in<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Vec<Addr> {
    values.into_iter().filter_map(|v| Addr::parse(v.as_ref()).ok()).collect()
}

/// `attrs` helper for providers: a JSON object's tags as a sorted string map value.
pub fn tags_value(tags: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::to_value(tags).expect("tags serialise")
}

/// Tags from a JSON attribute value.
pub fn tags_from(v: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

/// The changes of an update with the tags last: they carry the applied record
/// (`plan::drift`), which must not claim what a failing step did not do (the next plan
/// would call it drift). Providers that work through the changes in order thus write
/// tags after the rest.
fn tags_last(changes: &[AttrChange]) -> Vec<AttrChange> {
    let mut ordered = changes.to_vec();
    ordered.sort_by_key(|c| c.name == "tags");
    ordered
}

/// What to set and what to remove to go from `before` to `after` tags.
pub fn tag_delta(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove = before.keys().filter(|k| !after.contains_key(*k)).cloned().collect();
    (set, remove)
}

#[cfg(test)]
mod schema_tests;
#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Options;
    use crate::plan::drift;
    use std::path::Path;

    #[test]
    fn updates_get_the_tags_change_last() {
        let change = |name: &str| AttrChange {
            name: name.into(),
            before: None,
            after: None,
            forces_replacement: false,
            sensitive: false,
            drift: false,
        };
        let changes = [change("lifecycle"), change("tags"), change("versioning")];
        let names: Vec<String> = tags_last(&changes).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["lifecycle", "versioning", "tags"]);
    }

    /// Every resource of the seed stack that has tags carries the applied record, at full
    /// width and within AWS's tag value limit; the others have no tags to carry it.
    #[tokio::test]
    async fn every_tagged_resource_of_the_seed_stack_carries_a_record_that_fits() {
        let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml"));
        let stack = bumarket_stack::load_env(file, Some("prod")).unwrap();
        let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
        let registry = Registry::new(Cx::new(aws, stack, "123456789012".into(), Some("ami-1".into())));
        let mut untagged = std::collections::BTreeSet::new();
        let mut widest = 0;
        for d in registry.desired() {
            let Some(tags) = d.attrs.get("tags") else {
                untagged.insert(d.addr.kind().as_str());
                continue;
            };
            let record = tags[TAG_APPLIED].as_str().unwrap_or_else(|| panic!("`{}` has no record", d.addr));
            assert!(record.len() <= drift::MAX_TAG_VALUE, "`{}`: {record}", d.addr);
            assert_eq!(drift::width(d.attrs.len()), 3, "`{}` has {} attributes", d.addr, d.attrs.len());
            widest = widest.max(record.len());
        }
        // The widest today: database.main, 22 attributes, 74 chars.
        assert!(widest > 0 && widest <= 120, "the widest record is {widest} chars");
        let untagged: Vec<&str> = untagged.into_iter().collect();
        assert_eq!(untagged, ["dashboard", "group", "listener", "log_subscription", "scaling_policy", "subscription"]);
    }
}
