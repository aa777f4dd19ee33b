//! The database's attributes from stacks/bumarket.yaml, and its waits and modifications
//! with canned RDS answers. Emulator gaps these cover (MOTO-NOTES): moto's instances are
//! `available` at once (never `creating` or `backing-up`), so the create wait cannot wait
//! there; and moto applies `ApplyImmediately=false` at once, so only the request itself
//! can show that a change is left for the maintenance window.

use super::instance::Instances;
use super::modify::final_snapshot_name;
use crate::apply::{Event, Progress, Reporter};
use crate::aws::{Aws, Options};
use crate::engine::{Addr, Desired, Kind, Observed, Ownership};
use crate::plan::{Action, AttrChange, ResourceChange};
use crate::resources::{Cx, Provider};
use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
use aws_sdk_rds::types::DbInstance;
use aws_sdk_rds::Client as Rds;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

#[derive(Default)]
struct Said(Mutex<Vec<String>>);

impl Reporter for Said {
    fn event(&self, e: Event) {
        if let Event::Progress { message, .. } = e {
            self.0.lock().unwrap().push(message);
        }
    }
}

async fn cx(rds: &[&Rule]) -> Cx {
    let stack =
        bumarket_stack::load_env(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml")), Some("prod"))
            .unwrap();
    let mut aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    if !rds.is_empty() {
        aws.rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, rds);
    }
    let cx = Cx::new(aws, stack, "123456789012".into(), None);
    cx.set_id(&Addr::new(Kind::SecurityGroup, "db"), "sg-db");
    cx.set_id(&Addr::new(Kind::DbSubnetGroup, "main"), "bumarket-prod-db");
    cx
}

fn desired(cx: &Cx) -> Desired {
    Instances.desired(cx).into_iter().next().expect("the database is in the file")
}

fn observed(d: &Desired, deletion_protection: bool) -> Observed {
    let mut attrs = d.attrs.clone();
    attrs.insert("deletion_protection".into(), json!(deletion_protection));
    Observed {
        addr: d.addr.clone(),
        name: d.name.clone(),
        id: d.name.clone(),
        attrs,
        ownership: Ownership::Ours,
        outputs: BTreeMap::new(),
        deps: vec![],
    }
}

fn at(status: &str) -> DescribeDbInstancesOutput {
    let i = DbInstance::builder().db_instance_identifier("bumarket-prod-db").db_instance_status(status).build();
    DescribeDbInstancesOutput::builder().db_instances(i).build()
}

#[tokio::test]
async fn the_files_database_is_private_encrypted_protected_and_backed_up() {
    let cx = cx(&[]).await;
    let d = desired(&cx);
    let a = &d.attrs;
    assert_eq!(d.name, "bumarket-prod-db");
    assert_eq!(a["backup_retention_days"], json!(7));
    assert_eq!(a["backup_window"], json!("00:00-00:30"));
    assert_eq!(a["maintenance_window"], json!("sun:18:00-sun:18:30"));
    assert_eq!(a["storage_encrypted"], json!(true));
    assert_eq!(a["storage"], json!({"size_gb": 20, "max_size_gb": 100, "type": "gp3"}));
    assert_eq!(a["publicly_accessible"], json!(false));
    assert_eq!(a["deletion_protection"], json!(true));
    assert_eq!(a["log_exports"], json!(["alert", "audit", "listener", "trace"]));
    assert_eq!(a["password"], json!("managed in Secrets Manager"));
    assert_eq!(a["subnet_group"], json!("db_subnet_group.main"));
    assert_eq!(a["security_groups"], json!(["security_group.db"]));
    assert_eq!((a["engine"].clone(), a["port"].clone()), (json!("oracle-ee"), json!(1521)));
    let sg = super::subnet_group::SubnetGroups.desired(&cx);
    assert_eq!(sg[0].attrs["subnets"], json!(["subnet.private-0", "subnet.private-1"]));
}

#[tokio::test(start_paused = true)]
async fn create_waits_through_creating_and_backing_up_with_progress() {
    let create = mock!(Rds::create_db_instance)
        .match_requests(|r| {
            r.manage_master_user_password() == Some(true)
                && r.master_user_password().is_none()
                && r.storage_encrypted() == Some(true)
                && r.publicly_accessible() == Some(false)
                && r.db_subnet_group_name() == Some("bumarket-prod-db")
                && r.vpc_security_group_ids() == ["sg-db".to_string()]
        })
        .then_output(|| CreateDbInstanceOutput::builder().build());
    let describe = mock!(Rds::describe_db_instances)
        .sequence()
        .output(|| at("creating"))
        .times(3)
        .output(|| at("backing-up"))
        .output(|| at("available"))
        .build();
    let cx = cx(&[&create, &describe]).await;
    let said = Said::default();
    let d = desired(&cx);
    Instances.create(&cx, &d, &Progress::new(&d.addr, &said)).await.unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(describe.num_calls(), 5);
    let said = said.0.lock().unwrap().clone();
    assert_eq!(said[0], "creating the database; RDS usually takes 10-20 min");
    // Each new state at once; an unchanged one again after a minute, to show it is alive.
    assert_eq!(
        said[1..],
        [
            "waiting for the database to be available: creating (0 s)",
            "waiting for the database to be available: creating (60 s)",
            "waiting for the database to be available: backing-up (90 s)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_database_that_never_becomes_available_gives_up_after_the_files_timeout() {
    let create = mock!(Rds::create_db_instance).then_output(|| CreateDbInstanceOutput::builder().build());
    let describe = mock!(Rds::describe_db_instances).then_output(|| at("creating"));
    let cx = cx(&[&create, &describe]).await;
    let d = desired(&cx);
    let err = Instances.create(&cx, &d, &Progress::new(&d.addr, &Said::default())).await.unwrap_err();
    assert_eq!(err.message, "not done after 2400 s: creating");
}

#[tokio::test]
async fn a_change_for_the_maintenance_window_sends_apply_immediately_false_and_only_what_changed() {
    let modify = mock!(Rds::modify_db_instance)
        .match_requests(|r| {
            r.apply_immediately() == Some(false)
                && r.db_instance_class() == Some("db.t3.small")
                && r.db_port_number().is_none()
                && r.backup_retention_period().is_none()
                && r.deletion_protection().is_none()
        })
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let cx = cx(&[&modify]).await;
    let d = desired(&cx);
    let mut o = observed(&d, true);
    o.attrs.insert("instance_class".into(), json!("db.t3.medium"));
    let change = AttrChange {
        name: "instance_class".into(),
        before: Some(json!("db.t3.medium")),
        after: Some(json!("db.t3.small")),
        forces_replacement: false,
        sensitive: false,
        drift: false,
    };
    let said = Said::default();
    Instances.update(&cx, &d, &o, std::slice::from_ref(&change), &Progress::new(&d.addr, &said)).await.unwrap();
    assert_eq!(modify.num_calls(), 1, "the request matched: ApplyImmediately=false, only the class");

    let mut rc = ResourceChange {
        addr: d.addr.clone(),
        action: Action::Update,
        reason: None,
        name: d.name.clone(),
        changes: vec![change.clone()],
        desired: Some(d.clone()),
        observed: Some(o.clone()),
        notes: vec![],
    };
    Instances.annotate(&cx, &mut rc);
    assert_eq!(rc.notes, ["instance_class causes downtime in the maintenance window sun:18:00-sun:18:30"]);
    rc.changes.push(AttrChange { name: "port".into(), before: Some(json!(1522)), after: Some(json!(1521)), ..change });
    rc.notes.clear();
    Instances.annotate(&cx, &mut rc);
    assert_eq!(rc.notes[0], "port causes downtime now", "RDS ignores ApplyImmediately for the port");
    rc.action = Action::Replace;
    rc.notes.clear();
    Instances.annotate(&cx, &mut rc);
    assert!(rc.notes[0].starts_with("a new database is created and the old one deleted: its data is not copied"));
}

#[tokio::test]
async fn deletion_protection_refuses_a_delete_and_says_how_to_turn_it_off() {
    let cx = cx(&[]).await;
    let d = desired(&cx);
    let why = Instances.refuse_delete(&cx, &observed(&d, true), None).await.unwrap().unwrap();
    assert!(why.contains("set `deletion_protection: false`"), "{why}");
    assert_eq!(Instances.refuse_delete(&cx, &observed(&d, false), None).await.unwrap(), None);
}

#[test]
fn the_final_snapshot_is_named_by_the_utc_time() {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    assert_eq!(final_snapshot_name("bumarket", t), "bumarket-final-20231114221320");
}

#[tokio::test]
async fn a_password_in_an_existing_secret_shows_only_where_it_is() {
    let mut cx = cx(&[]).await;
    let arn = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db-abc".to_string();
    cx.stack.database.as_mut().unwrap().password = bumarket_stack::Password::Secret { arn: arn.clone() };
    let d = desired(&cx);
    assert_eq!(d.attrs["password"], json!(format!("secret {arn}")));
}

/// Storage that RDS's storage autoscaling grew past the file's size is no change: the
/// file's size is a floor, since RDS never shrinks storage. The strict test bed plays the
/// growth on the emulator (`tests/e2e/strict.rs`); this is the attribute itself.
#[tokio::test]
async fn storage_grown_by_autoscaling_is_what_the_file_asks_and_only_growth_is_sent() {
    let cx = cx(&[]).await;
    let d = desired(&cx);
    let grown = DbInstance::builder().allocated_storage(31).max_allocated_storage(100).storage_type("gp3").build();
    let snap = crate::resources::ec2::Snapshot::default();
    let live = super::attrs::observed(&cx, &snap, &grown, &BTreeMap::new());
    assert_eq!(live["storage"], d.attrs["storage"], "31 GiB live, 20 GiB in the file: no change");
    let smaller = DbInstance::builder().allocated_storage(10).max_allocated_storage(100).storage_type("gp3").build();
    assert_eq!(super::attrs::observed(&cx, &snap, &smaller, &BTreeMap::new())["storage"]["size_gb"], json!(10));

    // A new maximum alone sends no AllocatedStorage: the live 31 GiB stay as they are.
    let modify = mock!(Rds::modify_db_instance)
        .match_requests(|r| {
            r.allocated_storage().is_none() && r.max_allocated_storage() == Some(100) && r.iops().is_none()
        })
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let cx = self::cx(&[&modify]).await;
    let mut o = observed(&d, true);
    o.attrs.insert("storage".into(), json!({"size_gb": 20, "max_size_gb": 50, "type": "gp3"}));
    o.outputs.insert("allocated_storage_gb".into(), "31".into());
    let change = AttrChange {
        name: "storage".into(),
        before: Some(json!({"size_gb": 20, "max_size_gb": 50, "type": "gp3"})),
        after: d.attrs.get("storage").cloned(),
        forces_replacement: false,
        sensitive: false,
        drift: false,
    };
    Instances.update(&cx, &d, &o, &[change], &Progress::new(&d.addr, &Said::default())).await.unwrap();
    assert_eq!(modify.num_calls(), 1, "max only, no shrink to 20 GiB");
}

#[test]
fn gp3_sends_iops_only_from_the_engines_threshold_up() {
    use super::modify::gp3_iops;
    // Oracle below 200 GiB: a fixed baseline that may not be sent.
    assert_eq!(gp3_iops("oracle-ee", 20, Some(3000)), None);
    assert_eq!(gp3_iops("oracle-ee", 200, Some(3000)), Some(12_000));
    assert_eq!(gp3_iops("oracle-se2", 500, Some(16_000)), Some(16_000));
    assert_eq!(gp3_iops("postgres", 300, None), None);
    assert_eq!(gp3_iops("postgres", 400, None), Some(12_000));
    assert_eq!(gp3_iops("sqlserver-se", 1000, None), None);
}
