//! Providers: one per resource kind, each knowing how to express its part of the stack as
//! [`Desired`] resources, read it from AWS, and create, update and delete it. The engine
//! reaches them only through [`Provider`] and the [`Registry`], which also implements the
//! executor's [`Operator`].
//!
//! Reads run in two waves: wave one ([`Live::prefetch`]) lists what the stack owns in one
//! call per service (the tagging API, IAM's authorization details) while STS says which
//! account this is; wave two reads the attributes of each resource in parallel.

pub mod bucket;
pub mod cloud9;
pub mod database;
pub mod ec2;
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
use crate::engine::{Addr, Desired, Observed};
use crate::plan::{AttrChange, KindRules};
use async_trait::async_trait;
use bumarket_stack::Stack;
pub use live::Live;
use std::collections::BTreeMap;

/// Tag naming the stack that owns a resource.
pub const TAG_STACK: &str = "bumarket-infra:stack";
/// Tag holding the resource's logical address.
pub const TAG_RESOURCE: &str = "bumarket-infra:resource";
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
}

impl Cx {
    pub fn new(aws: Aws, stack: Stack, account: String, image_id: Option<String>) -> Cx {
        Cx { aws, stack, account, image_id, ids: Default::default(), referenced: Default::default() }
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
        t.insert(TAG_RESOURCE.into(), addr.0.clone());
        t
    }

    /// Physical name of a named resource: the file's name or `<stack>-<logical>`.
    pub fn physical_name(&self, given: Option<&String>, logical: &str) -> String {
        given.cloned().unwrap_or_else(|| format!("{}-{}", self.stack.name, logical))
    }

    /// Address of a live resource that carries no address tag: the file's resource of that
    /// name, else the name without the `<stack>-` prefix.
    pub fn addr_for(&self, kind: &str, name: &str, tags: &BTreeMap<String, String>, wanted: &[&Desired]) -> Addr {
        if let Some(a) = tags.get(TAG_RESOURCE) {
            return Addr(a.clone());
        }
        if let Some(d) = wanted.iter().find(|d| d.name == name) {
            return d.addr.clone();
        }
        let prefix = format!("{}-", self.stack.name);
        Addr::new(kind, name.strip_prefix(&prefix).unwrap_or(name))
    }

    pub fn partition(&self) -> &'static str {
        policy::partition(self.region())
    }
}

pub fn iam_path(stack: &str) -> String {
    format!("/bumarket-infra/{stack}/")
}

/// One resource kind.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The address prefix of this kind (`bucket`).
    fn kind(&self) -> &'static str;
    /// Lower layers are created first and deleted last.
    fn layer(&self) -> u8;
    /// Attributes whose change needs a new resource.
    fn force_new(&self) -> &'static [&'static str] {
        &["name"]
    }
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
    /// Say why a delete must not happen (checked for every delete before anything runs).
    async fn refuse_delete(&self, _cx: &Cx, _o: &Observed, _d: Option<&Desired>) -> Result<Option<String>, StepError> {
        Ok(None)
    }
}

/// All providers, in layer order.
pub struct Registry {
    pub cx: Cx,
    providers: Vec<Box<dyn Provider>>,
}

impl Registry {
    pub fn new(cx: Cx) -> Registry {
        let mut providers: Vec<Box<dyn Provider>> = vec![
            Box::new(bucket::Buckets),
            Box::new(role::Roles),
            Box::new(group::Groups),
            Box::new(instance_profile::InstanceProfiles),
        ];
        providers.extend(network::providers());
        providers.extend(lb::providers());
        providers.extend(fleet::providers());
        providers.extend(database::providers());
        providers.extend(monitoring::providers());
        providers.extend(cloud9::providers());
        Registry { cx, providers }
    }

    fn provider(&self, addr: &Addr) -> &dyn Provider {
        self.providers
            .iter()
            .find(|p| p.kind() == addr.kind())
            .map(|p| p.as_ref())
            .unwrap_or_else(|| panic!("no provider for `{addr}`"))
    }

    /// Every desired resource of the stack; those with tags also carry the record of
    /// what they ask for ([`TAG_APPLIED`]), so a later plan can tell drift.
    pub fn desired(&self) -> Vec<Desired> {
        let mut all: Vec<Desired> = self.providers.iter().flat_map(|p| p.desired(&self.cx)).collect();
        for d in &mut all {
            crate::plan::drift::stamp(&mut d.attrs);
        }
        all
    }

    /// Read every kind in parallel (wave two; wave one is shared through `live`).
    pub async fn read(&self, live: &Live, desired: &[Desired]) -> Result<Vec<Observed>, StepError> {
        let reads = self.providers.iter().map(|p| {
            let wanted: Vec<&Desired> = desired.iter().filter(|d| d.addr.kind() == p.kind()).collect();
            async move { p.read(&self.cx, live, &wanted).await }
        });
        let results = futures::future::join_all(reads).await;
        let mut all = Vec::new();
        for r in results {
            all.extend(r?);
        }
        Ok(all)
    }

    /// Let each provider add its notes to the plan.
    pub fn annotate(&self, plan: &mut crate::plan::Plan) {
        for r in plan.resources.iter_mut().filter(|r| r.action != crate::plan::Action::NoOp) {
            if let Some(p) = self.providers.iter().find(|p| p.kind() == r.addr.kind()) {
                p.annotate(&self.cx, r);
            }
        }
    }

    /// Reasons deletes in the plan would be refused, each with its address.
    pub async fn refusals(&self, plan: &crate::plan::Plan) -> Result<Vec<(Addr, String)>, StepError> {
        let checks = plan
            .actions()
            .filter(|r| matches!(r.action, crate::plan::Action::Delete | crate::plan::Action::Replace))
            .filter_map(|r| r.observed.as_ref().map(|o| (r, o)))
            .map(|(r, o)| async move {
                let why = self.provider(&r.addr).refuse_delete(&self.cx, o, r.desired.as_ref()).await?;
                Ok::<_, StepError>(why.map(|w| (r.addr.clone(), w)))
            });
        let results = futures::future::join_all(checks).await;
        let mut out = Vec::new();
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Sections of the file that no provider manages yet.
    pub fn not_managed(&self) -> Vec<String> {
        let s = &self.cx.stack;
        let managed = |kind: &str| self.providers.iter().any(|p| p.kind() == kind);
        [
            ("network", s.network.is_some(), "vpc"),
            ("fleet", s.fleet.is_some(), "launch_template"),
            ("load_balancer", s.load_balancer.is_some(), "load_balancer"),
            ("database", s.database.is_some(), "database"),
            ("monitoring", s.monitoring.is_some(), "alarm"),
            ("cloud9", s.cloud9.is_some(), "cloud9"),
        ]
        .into_iter()
        .filter(|(_, present, kind)| *present && !managed(kind))
        .map(|(name, _, _)| name.to_string())
        .chain(
            s.monitoring
                .as_ref()
                .filter(|m| m.database_logs_to_bucket.is_some())
                .map(|_| "monitoring.database_logs_to_bucket".to_string()),
        )
        .collect()
    }
}

impl KindRules for Registry {
    fn force_new(&self, addr: &Addr) -> &'static [&'static str] {
        self.provider(addr).force_new()
    }
    fn layer(&self, addr: &Addr) -> u8 {
        self.providers.iter().find(|p| p.kind() == addr.kind()).map_or(0, |p| p.layer())
    }
    fn references(&self, id: &str) -> usize {
        self.cx.referenced.lock().expect("references").get(id).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Operator for Registry {
    async fn create(&self, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        self.provider(&d.addr).create(&self.cx, d, p).await
    }
    async fn update(
        &self,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        // Tags last: they carry the applied record (`plan::drift`), which must not claim
        // what a failing step did not do (the next plan would call it drift). Providers
        // that work through the changes in order thus write tags after the rest.
        let mut ordered = changes.to_vec();
        ordered.sort_by_key(|c| c.name == "tags");
        self.provider(&d.addr).update(&self.cx, d, o, &ordered, p).await
    }
    async fn delete(&self, o: &Observed, d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        self.provider(&o.addr).delete(&self.cx, o, d, p).await
    }
}

/// `attrs` helper for providers: a JSON object's tags as a sorted string map value.
pub fn tags_value(tags: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::to_value(tags).expect("tags serialise")
}

/// Tags from a JSON attribute value.
pub fn tags_from(v: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
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
mod tests {
    use super::*;
    use crate::aws::Options;
    use crate::plan::drift;
    use std::path::Path;

    /// Records the order in which an update is given its changes.
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    #[async_trait]
    impl Provider for Recorder {
        fn kind(&self) -> &'static str {
            "bucket"
        }
        fn layer(&self) -> u8 {
            0
        }
        fn desired(&self, _: &Cx) -> Vec<Desired> {
            vec![]
        }
        async fn read(&self, _: &Cx, _: &Live, _: &[&Desired]) -> Result<Vec<Observed>, StepError> {
            Ok(vec![])
        }
        async fn create(&self, _: &Cx, _: &Desired, _: &Progress<'_>) -> Result<(), StepError> {
            Ok(())
        }
        async fn update(
            &self,
            _: &Cx,
            _: &Desired,
            _: &Observed,
            changes: &[AttrChange],
            _: &Progress<'_>,
        ) -> Result<(), StepError> {
            self.0.lock().unwrap().extend(changes.iter().map(|c| c.name.clone()));
            Ok(())
        }
        async fn delete(&self, _: &Cx, _: &Observed, _: Option<&Desired>, _: &Progress<'_>) -> Result<(), StepError> {
            Ok(())
        }
    }

    struct Quiet;
    impl crate::apply::Reporter for Quiet {
        fn event(&self, _: crate::apply::events::Event) {}
    }

    #[tokio::test]
    async fn updates_get_the_tags_change_last() {
        let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/minimal.yaml"));
        let stack = bumarket_stack::load(file).unwrap();
        let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut registry = Registry::new(Cx::new(aws, stack, "123456789012".into(), None));
        registry.providers = vec![Box::new(Recorder(seen.clone()))];
        let change = |name: &str| AttrChange {
            name: name.into(),
            before: None,
            after: None,
            forces_replacement: false,
            sensitive: false,
            drift: false,
        };
        let addr = Addr::new("bucket", "b");
        let d = Desired { addr: addr.clone(), name: "b".into(), attrs: Default::default(), deps: vec![] };
        let o = Observed {
            addr: addr.clone(),
            name: "b".into(),
            id: "b".into(),
            attrs: Default::default(),
            ownership: crate::engine::Ownership::Ours,
            outputs: Default::default(),
            deps: vec![],
        };
        let changes = [change("lifecycle"), change("tags"), change("versioning")];
        Operator::update(&registry, &d, &o, &changes, &Progress::new(&addr, &Quiet)).await.unwrap();
        assert_eq!(*seen.lock().unwrap(), ["lifecycle", "versioning", "tags"]);
    }

    /// Every resource of the seed stack that has tags carries the applied record, at full
    /// width and within AWS's tag value limit; the others have no tags to carry it.
    #[tokio::test]
    async fn every_tagged_resource_of_the_seed_stack_carries_a_record_that_fits() {
        let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml"));
        let stack = bumarket_stack::load(file).unwrap();
        let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
        let registry = Registry::new(Cx::new(aws, stack, "123456789012".into(), Some("ami-1".into())));
        let mut untagged = std::collections::BTreeSet::new();
        let mut widest = 0;
        for d in registry.desired() {
            let Some(tags) = d.attrs.get("tags") else {
                untagged.insert(d.addr.kind().to_string());
                continue;
            };
            let record = tags[TAG_APPLIED].as_str().unwrap_or_else(|| panic!("`{}` has no record", d.addr));
            assert!(record.len() <= drift::MAX_TAG_VALUE, "`{}`: {record}", d.addr);
            assert_eq!(drift::width(d.attrs.len()), 3, "`{}` has {} attributes", d.addr, d.attrs.len());
            widest = widest.max(record.len());
        }
        // The widest today: database.main, 22 attributes, 74 chars.
        assert!(widest > 0 && widest <= 120, "the widest record is {widest} chars");
        let untagged: Vec<&str> = untagged.iter().map(String::as_str).collect();
        assert_eq!(untagged, ["dashboard", "group", "listener", "scaling_policy", "subscription"]);
    }
}
