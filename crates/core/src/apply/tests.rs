//! Executor tests with a fake operator: order, concurrency, and failure isolation.

use super::*;
use crate::engine::{Attrs, Kind, Ownership, Schema};
use crate::plan::{Reason, ResourceChange};
use crate::testing::{addr as a, Rules};
use std::sync::Mutex;

struct Fake {
    log: Mutex<Vec<String>>,
    in_flight: Mutex<(usize, usize)>,
    fail: Vec<&'static str>,
    rules: Rules,
}

impl Default for Fake {
    fn default() -> Fake {
        let layer = |k| match k {
            Kind::Bucket => 0,
            Kind::Role => 1,
            _ => 2,
        };
        // As AWS has it: a gateway is detached only once the load balancers are gone.
        let after: fn(Kind) -> &'static [Kind] =
            |k| if k == Kind::InternetGateway { &[Kind::LoadBalancer] } else { &[] };
        Fake { log: Mutex::default(), in_flight: Mutex::default(), fail: vec![], rules: Rules::with(layer, after) }
    }
}

impl KindRules for Fake {
    fn schema(&self, kind: Kind) -> &Schema {
        self.rules.schema(kind)
    }
}

impl Fake {
    async fn act(&self, what: String, addr: &Addr) -> Result<(), StepError> {
        {
            let mut f = self.in_flight.lock().unwrap();
            f.0 += 1;
            f.1 = f.1.max(f.0);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.in_flight.lock().unwrap().0 -= 1;
        self.log.lock().unwrap().push(what);
        if self.fail.contains(&addr.as_str()) {
            return Err(StepError::new("fake:Call", "boom"));
        }
        Ok(())
    }
}

#[async_trait]
impl Operator for Fake {
    async fn create(&self, d: &Desired, _: &Progress<'_>) -> Result<(), StepError> {
        self.act(format!("create {}", d.addr), &d.addr).await
    }
    async fn update(&self, d: &Desired, _: &Observed, _: &[AttrChange], _: &Progress<'_>) -> Result<(), StepError> {
        self.act(format!("update {}", d.addr), &d.addr).await
    }
    async fn delete(&self, o: &Observed, _: Option<&Desired>, _: &Progress<'_>) -> Result<(), StepError> {
        self.act(format!("delete {}", o.addr), &o.addr).await
    }
}

struct Quiet;
impl Reporter for Quiet {
    fn event(&self, _: Event) {}
}

fn change(addr: &str, action: Action, deps: &[&str]) -> ResourceChange {
    let addr = a(addr);
    let d = Desired {
        addr: addr.clone(),
        name: addr.to_string(),
        attrs: Attrs::new(),
        deps: deps.iter().map(|d| a(d)).collect(),
    };
    let o = Observed {
        addr: addr.clone(),
        name: addr.to_string(),
        id: addr.to_string(),
        attrs: Attrs::new(),
        ownership: Ownership::Ours,
        outputs: Default::default(),
        deps: deps.iter().map(|d| a(d)).collect(),
    };
    ResourceChange {
        addr,
        action,
        reason: Some(Reason::Changed),
        name: String::new(),
        changes: vec![],
        desired: (action != Action::Delete).then_some(d),
        observed: (action != Action::Create).then_some(o),
        notes: vec![],
    }
}

fn plan(resources: Vec<ResourceChange>) -> Plan {
    Plan {
        format_version: 1,
        tool_version: "test".into(),
        stack: "s".into(),
        region: "r".into(),
        resources,
        not_managed: vec![],
        notices: vec![],
        uses: vec![],
    }
}

fn pos(log: &[String], what: &str) -> usize {
    log.iter().position(|l| l == what).unwrap_or_else(|| panic!("{what} not in {log:?}"))
}

#[tokio::test]
async fn dependents_wait_and_deletes_run_in_reverse() {
    let p = plan(vec![
        change("bucket.a", Action::Create, &[]),
        change("role.r", Action::Create, &["bucket.a"]),
        change("instance_profile.p", Action::Create, &["role.r"]),
        change("bucket.old", Action::Delete, &[]),
        change("role.old", Action::Delete, &["bucket.old"]),
        change("bucket.x", Action::Replace, &[]),
    ]);
    let op = Fake::default();
    let out = execute(&p, &op, &Quiet).await;
    assert!(out.ok(), "{out:?}");
    let log = op.log.lock().unwrap().clone();
    assert!(pos(&log, "create bucket.a") < pos(&log, "create role.r"));
    assert!(pos(&log, "create role.r") < pos(&log, "create instance_profile.p"));
    assert!(pos(&log, "delete role.old") < pos(&log, "delete bucket.old"));
    assert!(pos(&log, "delete bucket.x") < pos(&log, "create bucket.x"));
    assert_eq!(out.done.len(), 7);
}

#[tokio::test]
async fn independent_deletes_run_side_by_side_whatever_their_layers() {
    // The group (layer 2 here) and the database used to wait on each other's layer;
    // neither references the other, so both are deleted at once.
    let p = plan(vec![
        change("autoscaling_group.app", Action::Delete, &["launch_template.app"]),
        change("launch_template.app", Action::Delete, &[]),
        change("database.main", Action::Delete, &[]),
    ]);
    let op = Fake::default();
    assert!(execute(&p, &op, &Quiet).await.ok());
    assert_eq!(op.in_flight.lock().unwrap().1, 2, "the group and the database in flight together");
    let log = op.log.lock().unwrap().clone();
    assert!(pos(&log, "delete autoscaling_group.app") < pos(&log, "delete launch_template.app"));
}

#[tokio::test]
async fn a_delete_waits_for_the_kinds_aws_needs_gone_first_and_for_updates_that_drop_it() {
    let mut updated = change("autoscaling_group.app", Action::Update, &["target_group.old"]);
    updated.desired.as_mut().unwrap().deps = vec![];
    let p = plan(vec![
        change("internet_gateway.main", Action::Delete, &[]),
        change("load_balancer.main", Action::Delete, &[]),
        change("target_group.old", Action::Delete, &[]),
        updated,
    ]);
    let op = Fake::default();
    assert!(execute(&p, &op, &Quiet).await.ok());
    let log = op.log.lock().unwrap().clone();
    assert!(pos(&log, "delete load_balancer.main") < pos(&log, "delete internet_gateway.main"), "{log:?}");
    assert!(pos(&log, "update autoscaling_group.app") < pos(&log, "delete target_group.old"), "{log:?}");
}

#[tokio::test]
async fn a_failure_skips_only_its_dependents() {
    let p = plan(vec![
        change("bucket.a", Action::Create, &[]),
        change("bucket.b", Action::Create, &[]),
        change("role.r", Action::Create, &["bucket.a"]),
        change("instance_profile.p", Action::Create, &["role.r"]),
        change("role.s", Action::Create, &["bucket.b"]),
    ]);
    let op = Fake { fail: vec!["bucket.a"], ..Fake::default() };
    let out = execute(&p, &op, &Quiet).await;
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].1.to_string(), "fake:Call: boom");
    let skipped: Vec<String> = out.skipped.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(skipped, vec!["role.r", "instance_profile.p"]);
    let log = op.log.lock().unwrap().clone();
    assert!(log.contains(&"create role.s".to_string()));
}

#[tokio::test]
async fn independent_steps_all_run_at_once() {
    let p = plan((0..10).map(|i| change(&format!("bucket.b{i}"), Action::Create, &[])).collect());
    let op = Fake::default();
    let out = execute(&p, &op, &Quiet).await;
    assert!(out.ok());
    assert_eq!(op.in_flight.lock().unwrap().1, 10);
}

#[tokio::test]
async fn deletes_follow_live_references() {
    // Three groups: the one whose rules reference another goes first.
    let p = plan(vec![
        change("security_group.lb", Action::Delete, &[]),
        change("security_group.app", Action::Delete, &["security_group.lb"]),
        change("security_group.db", Action::Delete, &["security_group.app"]),
    ]);
    let op = Fake::default();
    assert!(execute(&p, &op, &Quiet).await.ok());
    let log = op.log.lock().unwrap().clone();
    assert_eq!(log, vec!["delete security_group.db", "delete security_group.app", "delete security_group.lb"]);
}

#[tokio::test]
async fn a_dependency_cycle_fails_instead_of_passing_as_done() {
    let p = plan(vec![
        change("bucket.a", Action::Create, &["bucket.b"]),
        change("bucket.b", Action::Create, &["bucket.a"]),
        change("bucket.c", Action::Create, &[]),
    ]);
    let op = Fake::default();
    let out = execute(&p, &op, &Quiet).await;
    assert!(!out.ok());
    assert_eq!(out.done.len(), 1, "the rest still runs");
    let failed: Vec<String> = out.failed.iter().map(|(a, e)| format!("{a}: {e}")).collect();
    assert_eq!(
        failed,
        vec![
            "bucket.a: plan: dependency cycle: it waits on `bucket.b`",
            "bucket.b: plan: dependency cycle: it waits on `bucket.a`"
        ]
    );
}
