//! Tests that the stack files shipped with the project parse, and say what the seed says.
//!
//! `stacks/bumarket.yaml` is the design document's stack; its numbers are checked one by
//! one against the document (t2.micro, port 8000, CPU 60, at most 4 instances, backups kept
//! 7 days at 09:00 KST, logs kept 180 days). `examples/minimal.yaml` is what the
//! end-to-end tests apply.

use crate::*;
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn load_ok(path: &str) -> Stack {
    match load(&repo(path)) {
        Ok(stack) => stack,
        Err(e) => panic!("{path} does not load:\n{e}"),
    }
}

#[test]
fn bumarket_stack_matches_the_seed() {
    // Production runs the seed's values; staging the same with less.
    let s = crate::load_env(&repo("stacks/bumarket.yaml"), Some("prod")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.name.as_str(), s.region.as_str()), ("bumarket-prod", "ap-northeast-2"));
    assert_eq!(s.environment.as_ref().map(|e| e.name.as_str()), Some("prod"));
    let staging = crate::load_env(&repo("stacks/bumarket.yaml"), Some("staging")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(staging.name, "bumarket-staging");
    assert_eq!(staging.fleet.as_ref().map(|f| f.max_size), Some(2));
    assert!(!staging.database.as_ref().unwrap().deletion_protection);
    assert!(!staging.load_balancer.as_ref().unwrap().deletion_protection);
    assert!(s.load_balancer.as_ref().unwrap().deletion_protection);
    let without = |mut st: Stack| {
        if let Some(lb) = &mut st.load_balancer {
            lb.deletion_protection = true;
        }
        st.name = String::new();
        st.environment = None;
        st.fleet = None;
        st.database = None;
        st.monitoring = None;
        st
    };
    assert_eq!(without(staging), without(s.clone()), "staging differs from prod only where it says");
    let fleet = s.fleet.as_ref().unwrap();
    assert_eq!(fleet.instance_type, "t2.micro");
    assert_eq!(fleet.app_port, 8000);
    assert_eq!(fleet.cpu_target_percent, 60.0);
    assert_eq!((fleet.min_size, fleet.desired_capacity, fleet.max_size), (1, 1, 4));
    assert_eq!(fleet.instance_role.as_deref(), Some("app"));
    assert_eq!(
        fleet.image,
        Image::SsmParameter("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64".into())
    );
    let user_data = fleet.user_data.as_ref().unwrap();
    assert!(user_data.content.contains("0.0.0.0:8000") && user_data.content.contains("health/"));
    let db = s.database.as_ref().unwrap();
    assert_eq!((db.engine.as_str(), db.engine_version.as_str()), ("oracle-ee", "19"));
    assert_eq!(db.license_model.as_deref(), Some("bring-your-own-license"));
    assert_eq!((db.instance_class.as_str(), db.port), ("db.t3.small", 1521));
    assert_eq!(db.backup_retention_days, 7);
    assert_eq!(db.backup_window, "00:00-00:30");
    assert_eq!(db.password, Password::Managed { kms_key_id: None });
    let logs = &s.buckets["logs"];
    assert_eq!(logs.lifecycle[0].expire_after_days, Some(180));
    assert_eq!(logs.lifecycle[0].prefix, "");
    let monitoring = s.monitoring.as_ref().unwrap();
    assert_eq!(monitoring.log_retention_days, 180);
    // Every log lands in the log bucket (seed §5, §12 step 6), under a prefix per source.
    let to_bucket = |l: &Option<AccessLogs>| l.as_ref().map(|l| (l.bucket.clone(), l.prefix.clone()));
    assert_eq!(to_bucket(&monitoring.database_logs_to_bucket), Some(("logs".into(), "database".into())));
    assert_eq!(to_bucket(&monitoring.app_logs_to_bucket), Some(("logs".into(), "app".into())));
    assert!(s.database.as_ref().unwrap().log_exports.len() >= 4);
    let lb = s.load_balancer.as_ref().unwrap();
    assert_eq!(lb.access_logs.as_ref().unwrap().bucket, "logs");
    assert_eq!(lb.health_check.path, "/health/");
    let app = &s.access.roles["app"];
    assert!(app.instance_profile);
    // Session Manager's (the shell that replaces SSH); the agent's rights come scoped
    // from the stack.
    assert_eq!(app.permissions.managed_policies, ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]);
    assert_eq!(s.access.roles["reviewer"].assumed_by, Trust::Account { require_mfa: true });
    assert_eq!(s.access.groups.keys().collect::<Vec<_>>(), ["developers", "viewers"]);
    assert_eq!(s.cloud9.as_ref().unwrap().members_group.as_deref(), Some("developers"));
    assert_eq!(s.source.sha256.len(), 64);
}

#[test]
fn minimal_example_has_buckets_and_access_only() {
    let s = load_ok("examples/minimal.yaml");
    assert_eq!(s.name, "minimal");
    assert!(s.network.is_none() && s.fleet.is_none() && s.database.is_none() && s.cloud9.is_none());
    assert_eq!(s.buckets.keys().collect::<Vec<_>>(), ["images", "logs"]);
    let images = &s.buckets["images"];
    assert_eq!(images.name, None);
    assert_eq!(images.encryption, Encryption::S3Managed);
    assert!(images.public_access.is_on() && images.require_tls.is_on());
    assert_eq!(s.buckets["logs"].lifecycle[0].expire_after_days, Some(180));
    assert!(s.access.roles["app"].instance_profile);
    assert_eq!(s.access.groups.len(), 2);
}

#[test]
fn reading_is_fast() {
    let path = repo("stacks/bumarket.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..20 {
        crate::parse_env(&path, &text, Some("prod")).unwrap();
    }
    // Generous for unoptimised test builds; a release build takes well under 1 ms.
    assert!(start.elapsed().as_millis() < 400, "20 parses took {:?}", start.elapsed());
}
