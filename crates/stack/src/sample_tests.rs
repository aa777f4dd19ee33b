//! Tests of whole small stack files: defaults, accepted forms, and single problems.
//!
//! Where the snapshot tests show how problems look, these pin down what the reader
//! decides: every default, every accepted spelling of a value, and which single problem a
//! small mistake produces.

use crate::*;
use std::path::Path;

const NET: &str = "network:
  cidr: 10.0.0.0/16
  availability_zones: [ap-northeast-2a, ap-northeast-2c]
  public_subnets: [10.0.0.0/24, 10.0.1.0/24]
  private_subnets: [10.0.10.0/24, 10.0.11.0/24]
";

fn ok(body: &str) -> Stack {
    let text = format!("stack: shop\nregion: ap-northeast-2\n{body}");
    parse(Path::new("stacks/t.yaml"), &text).unwrap_or_else(|e| panic!("rejected:\n{e}"))
}

fn problems(body: &str) -> Vec<String> {
    let text = format!("stack: shop\nregion: ap-northeast-2\n{body}");
    match parse(Path::new("stacks/t.yaml"), &text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.items.iter().map(|d| d.message.clone()).collect(),
    }
}

fn one_problem(body: &str) -> String {
    let p = problems(body);
    assert_eq!(p.len(), 1, "{p:#?}");
    p[0].clone()
}

#[test]
fn defaults_fill_in() {
    let s = ok(&format!(
        "{NET}fleet: {{instance_type: t3.micro}}\nload_balancer: {{}}\ndatabase: {{engine: oracle-ee, engine_version: '19', instance_class: db.t3.micro}}\nmonitoring: {{emails: [a@b.example]}}\ncloud9: {{}}\n"
    ));
    let f = s.fleet.unwrap();
    assert_eq!((f.app_port, f.min_size, f.desired_capacity, f.max_size), (8000, 1, 1, 4));
    assert_eq!(f.root_volume, RootVolume { size_gb: 8, volume_type: "gp3".into(), encrypted: true });
    assert_eq!(
        (f.cpu_target_percent, f.health_check_grace_seconds, f.min_healthy_percent, f.wait_timeout_seconds),
        (60.0, 300, 100, 900)
    );
    assert_eq!(f.max_healthy_percent, 200, "a refresh launches before it terminates by default");
    // AWS takes at most 100 between the two bounds; the default maximum keeps to it.
    let fleet = |b: &str| format!("{NET}fleet: {{instance_type: t3.micro, {b}}}\n");
    assert_eq!(
        one_problem(&fleet("min_healthy_percent: 50, max_healthy_percent: 200")),
        "max_healthy_percent 200 is more than 100 above min_healthy_percent 50 in `fleet`"
    );
    let f = ok(&fleet("min_healthy_percent: 50")).fleet.unwrap();
    assert_eq!((f.min_healthy_percent, f.max_healthy_percent), (50, 150));
    assert!(ok(&format!(
        "{NET}fleet: {{instance_type: t3.micro, min_healthy_percent: 90, max_healthy_percent: 100}}\n"
    ))
    .fleet
    .is_some());
    let lb = s.load_balancer.unwrap();
    assert_eq!((lb.listen_port, lb.idle_timeout_seconds, lb.wait_timeout_seconds), (80, 60, 600));
    // Deletion protection is on by default (FSBP ELB.6).
    assert!(lb.drop_invalid_header_fields && lb.deletion_protection && lb.access_logs.is_none());
    let hc = lb.health_check;
    assert_eq!((hc.path.as_str(), hc.interval_seconds, hc.timeout_seconds), ("/health/", 30, 10));
    assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold, hc.matcher.as_str()), (2, 5, "200-399"));
    let db = s.database.unwrap();
    assert_eq!((db.port, db.license_model.as_deref()), (1521, Some("bring-your-own-license")));
    assert_eq!(db.storage, Storage { size_gb: 20, max_size_gb: None, storage_type: "gp3".into(), encrypted: true });
    assert_eq!((db.admin_user.as_str(), db.backup_retention_days), ("bumarket_admin", 7));
    assert_eq!((db.backup_window.as_str(), db.maintenance_window.as_str()), ("00:00-00:30", "sun:18:00-sun:18:30"));
    assert_eq!(db.log_exports, ["alert", "audit", "listener", "trace"]);
    assert!(db.deletion_protection && db.final_snapshot && !db.apply_immediately && !db.multi_az);
    assert_eq!((db.wait_timeout_seconds, db.identifier), (2400, None));
    let m = s.monitoring.unwrap();
    assert_eq!(
        m.alarms,
        Alarms {
            fleet_cpu_percent: 60.0,
            unhealthy_hosts: 1.0,
            http_5xx_per_5_minutes: 10.0,
            database_cpu_percent: 80.0,
            database_free_storage_mb: 2048.0
        }
    );
    assert!(m.dashboard && m.log_retention_days == 180);
    let c = s.cloud9.unwrap();
    assert_eq!(
        (c.instance_type.as_str(), c.automatic_stop_minutes, c.image_id.as_str(), c.subnet_index),
        ("t3.small", 30, "amazonlinux-2023-x86_64", 0)
    );
}

#[test]
fn engine_defaults_and_bare_version_numbers() {
    let pg = ok(&format!("{NET}database: {{engine: postgres, engine_version: 16, instance_class: db.t4g.micro}}\n"))
        .database
        .unwrap();
    assert_eq!(
        (pg.port, pg.engine_version.as_str(), pg.license_model.as_deref()),
        (5432, "16", Some("postgresql-license"))
    );
    assert_eq!(pg.log_exports, ["postgresql", "upgrade"]);
    let my = ok(&format!("{NET}database: {{engine: mysql, engine_version: 8.0, instance_class: db.t3.micro}}\n"))
        .database
        .unwrap();
    assert_eq!((my.port, my.engine_version.as_str()), (3306, "8.0"));
    let se2 =
        ok(&format!("{NET}database: {{engine: oracle-se2, engine_version: '19', instance_class: db.t3.small}}\n"))
            .database
            .unwrap();
    assert_eq!(se2.license_model.as_deref(), Some("license-included"));
    assert!(one_problem(&format!(
        "{NET}database: {{engine: mysql, engine_version: 5.7, instance_class: db.t3.micro}}\n"
    ))
    .contains("MySQL 5.7 is retired"));
    assert!(one_problem(&format!(
        "{NET}database: {{engine: oracle-e, engine_version: '19', instance_class: db.t3.micro}}\n"
    ))
    .contains("`oracle-e`"));
}

#[test]
fn accepted_forms() {
    let s = ok(&format!(
        "{NET}fleet: {{instance_type: t3.micro, image: ami-0123456789abcdef0, wait_timeout: 1h30m}}
load_balancer:
  certificate_arn: arn:aws:acm:ap-northeast-2:123456789012:certificate/abc
  health_check: {{matcher: 200}}
  wait_timeout: 90
buckets:
  a: {{encryption: sse-kms, public_access: {{blocked: false, reason: a public website}}}}
  b: {{encryption: {{sse-kms: {{key_id: alias/x}}}}, require_tls: {{enabled: false, reason: legacy client}}}}
"
    ));
    let f = s.fleet.unwrap();
    assert_eq!((f.image, f.wait_timeout_seconds), (Image::Ami("ami-0123456789abcdef0".into()), 5400));
    let lb = s.load_balancer.unwrap();
    assert_eq!((lb.listen_port, lb.wait_timeout_seconds, lb.health_check.matcher.as_str()), (443, 90, "200"));
    assert_eq!(s.buckets["a"].encryption, Encryption::Kms { key_id: None });
    assert_eq!(s.buckets["a"].public_access, Loosenable::Off { reason: "a public website".into() });
    assert_eq!(s.buckets["b"].encryption, Encryption::Kms { key_id: Some("alias/x".into()) });
    assert_eq!(s.buckets["b"].require_tls, Loosenable::Off { reason: "legacy client".into() });
}

#[test]
fn password_forms() {
    let db = |p: &str| {
        format!(
            "{NET}database: {{engine: postgres, engine_version: '16', instance_class: db.t3.micro, password: {p}}}\n"
        )
    };
    let kms = ok(&db("{managed: {kms_key_id: alias/rds}}")).database.unwrap().password;
    assert_eq!(kms, Password::Managed { kms_key_id: Some("alias/rds".into()) });
    let arn = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db-AbCdEf";
    assert_eq!(
        ok(&db(&format!("{{secret_arn: '{arn}'}}"))).database.unwrap().password,
        Password::Secret { arn: arn.into() }
    );
    assert!(one_problem(&db("{value: s3cret}")).contains("never goes in the stack file"));
    assert!(one_problem(&db("12345")).contains("never goes in the stack file"));
    let text = format!("stack: shop\nregion: ap-northeast-2\n{}", db("{plaintext: s3cret}"));
    let shown = parse(Path::new("t.yaml"), &text).unwrap_err().to_string();
    assert!(!shown.contains("s3cret") && shown.contains("******"), "{shown}");
}

#[test]
fn access_forms() {
    let s = ok("buckets: {logs: {}}
access:
  roles:
    ci: {assumed_by: account, managed_policies: ['arn:aws:iam::123456789012:policy/deploy'], name: ci-deployer}
    ops: {assumed_by: {account: {require_mfa: true}}, managed_policies: [ReadOnlyAccess]}
  groups:
    devs: {grants: [{bucket: logs, access: read, prefix: app/}], statements: [{Effect: Deny, Action: 's3:DeleteObject', Resource: '*'}]}
");
    let ci = &s.access.roles["ci"];
    assert_eq!(
        (ci.assumed_by.clone(), ci.name.as_deref()),
        (Trust::Account { require_mfa: false }, Some("ci-deployer"))
    );
    assert_eq!(ci.permissions.managed_policies, ["arn:aws:iam::123456789012:policy/deploy"]);
    assert_eq!(s.access.roles["ops"].permissions.managed_policies, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
    let devs = &s.access.groups["devs"].permissions;
    assert_eq!(devs.grants, [Grant { bucket: "logs".into(), access: BucketAccess::Read, prefix: "app/".into() }]);
    assert_eq!(devs.statements[0], serde_json::json!({"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}));
}

#[test]
fn physical_name_collisions_and_rules() {
    let p = problems("buckets:\n  a: {name: '{stack}-x-{account_id}'}\n  b: {name: '{stack}-x-{account_id}'}\n");
    assert_eq!(p, ["bucket `b` has the same name as bucket `a`: `shop-x-123456789012`"]);
    let p = problems(
        "access:\n  roles:\n    a: {assumed_by: account, name: same}\n    b: {assumed_by: account, name: same}\n",
    );
    assert_eq!(p, ["role `b` has the same name as role `a`: `same`"]);
    let long = "stack: a-twenty-four-char-stack\nregion: ap-northeast-2\nbuckets:\n  a-long-logical-name1: {}\n";
    let e = parse(Path::new("t.yaml"), long).unwrap_err();
    assert_eq!(e.items.len(), 1, "{e}");
    assert!(e.items[0].message.ends_with("is 73 characters long; S3 allows 3 to 63"), "{e}");
    assert_eq!((e.items[0].line, e.items[0].column), (4, 3));
    let p = problems("buckets:\n  a: {name: '{stack}-{acount}'}\n");
    assert!(p[0].contains("unknown placeholder `{acount}`"), "{p:?}");
}

#[test]
fn references_point_at_the_referencing_value() {
    let text = format!("stack: shop\nregion: ap-northeast-2\n{NET}fleet: {{instance_type: t3.micro, instance_role: ci}}\naccess: {{roles: {{ci: {{assumed_by: account}}}}}}\n");
    let e = parse(Path::new("t.yaml"), &text).unwrap_err();
    assert_eq!(e.items.len(), 1, "{e}");
    let d = &e.items[0];
    assert_eq!((d.message.as_str(), d.line, d.column, d.len), ("role `ci` has no instance profile", 8, 49, 2));
    assert_eq!(d.help.as_deref(), Some("set `instance_profile: true` in `access.roles.ci`"));
    assert!(one_problem("fleet: {instance_type: t3.micro}\n").contains("`fleet` requires a `network` section"));
    let kms = one_problem(&format!("{NET}fleet: {{instance_type: t3.micro}}\nload_balancer: {{access_logs: {{bucket: l}}}}\nbuckets: {{l: {{encryption: sse-kms}}}}\n"));
    assert!(kms.contains("SSE-KMS"), "{kms}");
}

#[test]
fn types_and_values() {
    assert!(one_problem("buckets: {a: {versioning: yes}}\n").contains("expected true or false, found a string `yes`"));
    assert!(one_problem(&format!("{NET}fleet: {{instance_type: t3.micro, wait_timeout: soon}}\n"))
        .contains("invalid duration `soon`"));
    assert!(one_problem(&format!("{NET}fleet: {{instance_type: t3.micro, cpu_target_percent: 0.5}}\n"))
        .contains("out-of-range"));
    assert!(one_problem("region2: x\n").contains("unknown top-level key `region2`"));
    assert!(one_problem("tags: [a]\n").contains("expected a mapping, found a list"));
    let windows = one_problem(&format!("{NET}database: {{engine: postgres, engine_version: '16', instance_class: db.t3.micro, maintenance_window: 'mon:00:10-mon:00:40'}}\n"));
    assert!(windows.contains("overlaps the backup window"), "{windows}");
}

#[test]
fn empty_and_aliased_files() {
    let e = parse(Path::new("t.yaml"), "# nothing here\n").unwrap_err();
    let messages: Vec<&str> = e.items.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages, ["missing required key `stack`", "missing required key `region`"]);
    let s = ok("team: &team [a@b.example]\n".replace("team: ", "monitoring: {emails: ").replace(']', "]}").as_str());
    assert_eq!(s.monitoring.unwrap().emails, ["a@b.example"]);
    let s = ok("buckets:\n  a: &plain {versioning: true}\n  b: *plain\n");
    assert!(s.buckets["b"].versioning);
}

#[test]
fn user_data_is_read_relative_to_the_stack_file() {
    let dir = std::env::temp_dir().join(format!("bumarket-stack-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("boot.sh"), "#!/bin/sh\necho hi\n").unwrap();
    let text =
        format!("stack: shop\nregion: ap-northeast-2\n{NET}fleet: {{instance_type: t3.micro, user_data: boot.sh}}\n");
    let stack = parse(&dir.join("s.yaml"), &text).unwrap();
    let user_data = stack.fleet.unwrap().user_data.unwrap();
    assert_eq!((user_data.path.to_str(), user_data.content.as_str()), (Some("boot.sh"), "#!/bin/sh\necho hi\n"));
    let missing = parse(&dir.join("s.yaml"), &text.replace("boot.sh", "nope.sh")).unwrap_err();
    assert_eq!(missing.items[0].message, "user data file `nope.sh` does not exist");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn logs_go_to_a_bucket_of_the_stack_from_sections_that_exist() {
    let buckets = "buckets:\n  logs: {}\n";
    let m = |extra: &str| format!("{buckets}monitoring:\n  emails: [a@b.example]\n{extra}");
    let fleet = format!("{NET}fleet:\n  instance_type: t3.micro\n");
    let s = ok(&format!("{fleet}{}", m("  app_logs_to_bucket: {bucket: logs}\n")));
    let app = s.monitoring.unwrap().app_logs_to_bucket.unwrap();
    assert_eq!((app.bucket.as_str(), app.prefix.as_str()), ("logs", "app"));
    assert_eq!(
        one_problem(&m("  app_logs_to_bucket: {bucket: logs}\n")),
        "`monitoring.app_logs_to_bucket` needs a `fleet` section"
    );
    assert!(one_problem(&format!("{fleet}{}", m("  app_logs_to_bucket: {bucket: media}\n"))).contains("`media`"));
    // The roles of log delivery are the stack's own.
    let access = "access:\n  roles:\n    firehose-to-s3: {assumed_by: firehose.amazonaws.com}\n";
    assert_eq!(one_problem(access), "role name `firehose-to-s3` is the stack's own");
}

#[test]
fn imdsv2_is_required_unless_the_file_says_why_not() {
    assert!(ok(&format!("{NET}fleet: {{instance_type: t3.micro}}\n")).fleet.unwrap().require_imdsv2.is_on());
    let loosened = ok(&format!(
        "{NET}fleet: {{instance_type: t3.micro, require_imdsv2: {{enabled: false, reason: old SDK in the app}}}}\n"
    ));
    assert_eq!(loosened.fleet.unwrap().require_imdsv2, Loosenable::Off { reason: "old SDK in the app".into() });
    let p = one_problem(&format!("{NET}fleet: {{instance_type: t3.micro, require_imdsv2: false}}\n"));
    assert!(p.contains("needs a reason"), "{p}");
}
