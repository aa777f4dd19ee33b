//! Compose from hand-made findings: the file validates as written, keeps what is live
//! (loosened defaults with a reason placeholder), and says what it could not keep.

use super::{compose, major_version, trust, Composed, Options};
use crate::import::read::monitoring::{Alarm, LogGroup, Monitoring};
use crate::import::read::*;
use bumarket_stack::{write, Encryption, Stack, Trust};
use serde_json::json;
use std::path::Path;

fn options() -> Options {
    Options { stack: "shop".into(), prefix: Some("shop-".into()), ..Options::default() }
}

fn subnet(id: &str, cidr: &str, zone: &str, public: bool) -> Subnet {
    Subnet { id: id.into(), name: None, cidr: cidr.into(), zone: zone.into(), public }
}

/// A console-built shop: what a team that never heard of the defaults ends up with.
fn found() -> Found {
    let z = ["ap-northeast-2a", "ap-northeast-2c"];
    Found {
        account: "111122223333".into(),
        region: "ap-northeast-2".into(),
        vpc: Some(Named { id: "vpc-1".into(), name: Some("shop-vpc".into()) }),
        vpc_cidr: "10.1.0.0/16".into(),
        subnets: vec![
            subnet("subnet-a", "10.1.0.0/24", z[0], true),
            subnet("subnet-b", "10.1.10.0/24", z[0], false),
            subnet("subnet-c", "10.1.1.0/24", z[1], true),
            subnet("subnet-d", "10.1.11.0/24", z[1], false),
            subnet("subnet-e", "10.1.20.0/24", z[1], false),
        ],
        gateway: Some(Named { id: "igw-1".into(), name: None }),
        route_tables: vec![RouteTable {
            id: "rtb-1".into(),
            name: None,
            subnets: vec!["subnet-a".into(), "subnet-c".into()],
            to_gateway: true,
            main: false,
        }],
        security_groups: vec![
            SecurityGroup {
                id: "sg-app".into(),
                name: "shop-web".into(),
                description: "launch-wizard-1".into(),
                ingress: vec![Rule { protocol: "tcp".into(), from: 22, to: 22, cidrs: vec!["0.0.0.0/0".into()], groups: vec![] }],
                open_egress: true,
            },
            SecurityGroup { id: "sg-db".into(), name: "shop-db".into(), description: "db".into(), ingress: vec![], open_egress: true },
        ],
        template: Some(LaunchTemplate {
            id: "lt-1".into(),
            name: "shop-web".into(),
            instance_type: Some("t3.small".into()),
            image_id: Some("ami-0123456789abcdef0".into()),
            user_data: None,
            root_volume: Some(RootVolume { size_gb: Some(30), volume_type: Some("gp2".into()), encrypted: Some(false) }),
            instance_profile: Some("shop-web-role".into()),
            security_groups: vec!["sg-app".into()],
            tokens_required: true,
        }),
        group: Some(Group {
            name: "shop-asg".into(),
            min: 2,
            max: 6,
            desired: 2,
            grace: 300,
            subnets: vec!["subnet-a".into(), "subnet-c".into()],
            target_groups: vec![],
            template: Some(("lt-1".into(), "$Default".into())),
            cpu_policies: vec![],
            ..Group::default()
        }),
        database: Some(Database {
            identifier: "shop-db".into(),
            engine: "postgres".into(),
            engine_version: "16.4".into(),
            license_model: Some("postgresql-license".into()),
            class: "db.t4g.micro".into(),
            port: Some(5432),
            storage_gb: 20,
            storage_type: Some("gp2".into()),
            encrypted: true,
            master_user: "shop_owner".into(),
            managed_secret: None,
            backup_days: 1,
            backup_window: Some("17:00-17:30".into()),
            maintenance_window: Some("Sat:20:00-Sat:20:30".into()),
            log_exports: vec![],
            security_groups: vec!["sg-db".into()],
            subnet_group: Some("default-vpc-1".into()),
            ..Database::default()
        }),
        db_subnet_group: Some(Named { id: "default-vpc-1".into(), name: Some("default-vpc-1".into()) }),
        buckets: vec![Bucket {
            name: "shop-photos".into(),
            config: [
                ("encryption".to_string(), json!({"algorithm": "aws:kms", "kms_key_id": "arn:aws:kms:ap-northeast-2:111122223333:key/k-1"})),
                ("public_access_block".to_string(), json!({"block_public_acls": true, "ignore_public_acls": true, "block_public_policy": true, "restrict_public_buckets": true})),
                ("object_ownership".to_string(), json!("BucketOwnerEnforced")),
                ("policy".to_string(), json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::shop-photos", "arn:aws:s3:::shop-photos/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shop-photos/*"}]})),
                ("versioning".to_string(), json!(true)),
                ("lifecycle".to_string(), json!([{"id": "", "prefix": "tmp/", "expire_after_days": 3, "noncurrent_expire_after_days": null, "abort_incomplete_upload_days": 1}])),
            ]
            .into_iter()
            .collect(),
        }],
        roles: vec![
            Role {
                name: "shop-web-role".into(),
                path: "/".into(),
                trust: json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
                managed: vec!["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore".into()],
                inline: vec![("s3".into(), json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shop-photos/*"}]}))],
                profiles: vec!["shop-web-role".into()],
                ..Role::default()
            },
            Role {
                name: "shop-auditor".into(),
                path: "/".into(),
                trust: json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}),
                managed: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
                ..Role::default()
            },
            Role {
                name: "shop-partner".into(),
                path: "/".into(),
                trust: json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}]}),
                ..Role::default()
            },
        ],
        iam_groups: vec![IamGroup { name: "shop-devs".into(), managed: vec![], inline: vec![] }],
        left_out: vec!["SNS topic `shop-alerts`".into()],
        ..Found::default()
    }
}

fn written(found: &Found) -> (Composed, String, Stack) {
    let composed = compose(found, &options());
    let stack = composed.stack.clone().expect("a stack");
    let text = write::write(&stack, &composed.draft);
    let read = bumarket_stack::parse(Path::new("shop.yaml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (composed, text, read)
}

#[test]
fn a_console_built_shop_is_written_as_it_runs_and_validates() {
    let (composed, text, stack) = written(&found());
    // Kept as live, never made safer behind the user's back.
    let fleet = stack.fleet.as_ref().unwrap();
    assert_eq!((fleet.min_size, fleet.max_size, fleet.root_volume.size_gb), (2, 6, 30));
    assert!(!fleet.root_volume.encrypted, "{text}");
    assert!(text.contains("unencrypted_reason: \"TODO: say why"), "{text}");
    assert_eq!(fleet.instance_role.as_deref(), Some("app"));
    let db = stack.database.as_ref().unwrap();
    assert_eq!((db.engine_version.as_str(), db.backup_retention_days), ("16", 1));
    assert_eq!(db.maintenance_window, "sat:20:00-sat:20:30");
    assert!(text.contains("store it in a secret and write `password: {secret_arn: <its ARN>}`"), "{text}");
    let photos = &stack.buckets["photos"];
    assert_eq!(
        photos.encryption,
        Encryption::Kms { key_id: Some("arn:aws:kms:ap-northeast-2:111122223333:key/k-1".into()) }
    );
    assert!(photos.require_tls.is_on() && photos.public_access.is_on() && photos.versioning, "{text}");
    assert_eq!(photos.policy_statements.len(), 1, "the TLS statement is the file's own: {text}");
    assert_eq!(photos.lifecycle[0].id, "rule-1");
    let auditor = &stack.access.roles["auditor"];
    assert_eq!(auditor.assumed_by, Trust::Account { require_mfa: true });
    assert_eq!(stack.access.roles["app"].permissions.statements.len(), 1);
    assert!(stack.access.roles["app"].instance_profile);
    // Every live resource is adopted under its own name.
    assert_eq!(stack.adopt["security_group.app"].description.as_deref(), Some("launch-wizard-1"));
    assert_eq!(stack.adopt["database.main"].id, "shop-db");
    assert_eq!(stack.adopt["bucket.photos"].id, "shop-photos");
    assert_eq!(stack.adopt["role.auditor"].id, "shop-auditor");
    assert!(!stack.adopt.contains_key("role.partner"));
    // What it could not express is said, at the end.
    assert!(text.contains("- role `shop-partner`: its trust policy is not one the file can write"), "{text}");
    assert!(text.contains("- subnet `subnet-e` (10.1.20.0/24, ap-northeast-2c)"), "{text}");
    assert!(text.contains("- SNS topic `shop-alerts`"), "{text}");
    // Findings: the less safe live settings and what the first apply changes.
    let findings = composed.findings.join("\n");
    for expected in [
        "the root volume of template `shop-web` is not encrypted",
        "lets the internet in on port 22",
        "has no target tracking on CPU",
        "the master password of `shop-db` is not in Secrets Manager",
        "the private subnets use the VPC's main route table",
        "lets the db tier reach anywhere",
    ] {
        assert!(findings.contains(expected), "{expected}: {findings}");
    }
    assert!(!findings.contains("lets the app tier reach anywhere"), "{findings}");
}

#[test]
fn a_database_with_the_consoles_default_master_user_keeps_it() {
    // RDS cannot rename a master user; the file may keep `admin` because it adopts.
    let mut f = found();
    f.database.as_mut().unwrap().master_user = "admin".into();
    let (_, text, stack) = written(&f);
    assert_eq!(stack.database.unwrap().admin_user, "admin", "{text}");
    assert_eq!(stack.adopt["database.main"].id, "shop-db");
}

/// The console's monitoring of the shop: a topic mailing two addresses and an SMS
/// number, a CPU alarm on the group, a storage alarm on the database (in bytes, as
/// CloudWatch has it), one the file does not make, a second topic, the stack's own
/// dashboard name taken, and the database's log groups at 30 days and forever.
fn monitored() -> Found {
    let mut f = found();
    f.database.as_mut().unwrap().log_exports = vec!["postgresql".into(), "upgrade".into()];
    let topic = "arn:aws:sns:ap-northeast-2:111122223333:shop-ops";
    let alarm = |name: &str, ns: &str, metric: &str, dim: (&str, &str), threshold: f64| Alarm {
        name: name.into(),
        namespace: ns.into(),
        metric: metric.into(),
        dimensions: [(dim.0.to_string(), dim.1.to_string())].into_iter().collect(),
        threshold,
        actions: vec![topic.into()],
    };
    f.monitoring = Monitoring {
        topics: vec![
            Topic {
                name: "shop-billing".into(),
                arn: "arn:aws:sns:ap-northeast-2:111122223333:shop-billing".into(),
                emails: vec!["cfo@example.com".into()],
                others: vec![],
            },
            Topic {
                name: "shop-ops".into(),
                arn: topic.into(),
                emails: vec!["a@example.com".into(), "b@example.com".into()],
                others: vec!["sms +821000000000".into()],
            },
        ],
        alarms: vec![
            alarm("High CPU", "AWS/EC2", "CPUUtilization", ("AutoScalingGroupName", "shop-asg"), 85.0),
            alarm(
                "db disk",
                "AWS/RDS",
                "FreeStorageSpace",
                ("DBInstanceIdentifier", "shop-db"),
                1024.0 * 1024.0 * 1024.0,
            ),
            alarm("db conns", "AWS/RDS", "DatabaseConnections", ("DBInstanceIdentifier", "shop-db"), 90.0),
        ],
        dashboards: vec!["shop".into(), "shop-overview".into()],
        log_groups: vec![
            LogGroup { name: "/aws/rds/instance/shop-db/postgresql".into(), retention_days: Some(30) },
            LogGroup { name: "/aws/rds/instance/shop-db/upgrade".into(), retention_days: None },
        ],
        left_out: vec![],
    };
    f
}

#[test]
fn the_consoles_monitoring_is_adopted_where_the_file_makes_the_same() {
    let (composed, text, stack) = written(&monitored());
    let m = stack.monitoring.as_ref().expect("monitoring");
    // The topic the alarms mail, with its addresses; the SMS one stays as it is.
    assert_eq!(m.emails, ["a@example.com", "b@example.com"]);
    assert_eq!(stack.adopt["topic.alerts"].name.as_deref(), Some("shop-ops"));
    assert!(text.contains("- subscription `sms +821000000000` of `shop-ops`: kept as it is"), "{text}");
    assert!(text.contains("- SNS topic `shop-billing`: the file mails through one topic, `shop-ops`"), "{text}");
    // Alarms on what the file's alarms watch: adopted under their names, thresholds kept.
    assert_eq!(m.alarms.fleet_cpu_percent, 85.0);
    assert_eq!(m.alarms.database_free_storage_mb, 1024.0);
    assert_eq!(stack.adopt["alarm.fleet-cpu"].name.as_deref(), Some("High CPU"));
    assert_eq!(stack.adopt["alarm.database-free-storage"].id, "db disk");
    assert!(!stack.adopt.contains_key("alarm.database-cpu"));
    assert!(
        text.contains("- CloudWatch alarm `db conns` (AWS/RDS DatabaseConnections): not one the file makes"),
        "{text}"
    );
    assert!(text.contains("New with the first apply: `shop-database-cpu`"), "{text}");
    // The database's log groups: adopted; one keeps events forever, so the longest
    // retention the file can say, as a finding.
    assert_eq!(stack.adopt["log_group.database-upgrade"].id, "/aws/rds/instance/shop-db/upgrade");
    assert_eq!(m.log_retention_days, 3653);
    let findings = composed.findings.join("\n");
    assert!(findings.contains("keep events forever"), "{findings}");
    // The dashboard named as the stack's is the stack's (said); the other stays as it is.
    assert!(m.dashboard, "{text}");
    assert!(findings.contains("dashboard `shop` has the name of the stack's dashboard"), "{findings}");
    assert!(text.contains("- CloudWatch dashboard `shop-overview`: its graphs are not the file's to say"), "{text}");
}

#[test]
fn without_a_topic_that_mails_someone_monitoring_is_left_to_the_comments() {
    let mut f = monitored();
    f.monitoring.topics.iter_mut().for_each(|t| t.emails.clear());
    f.monitoring.log_groups[1].retention_days = Some(90);
    let (_, text, stack) = written(&f);
    assert!(stack.monitoring.is_none(), "{text}");
    assert!(!stack.adopt.keys().any(|a| a.starts_with("alarm.") || a.starts_with("log_group.")), "{text}");
    assert!(text.contains("- SNS topic `shop-ops`: mails no e-mail address"), "{text}");
    assert!(text.contains("- CloudWatch alarm `High CPU`"), "{text}");
}

#[test]
fn log_groups_keep_the_longest_retention_the_file_can_say() {
    let mut f = monitored();
    f.monitoring.log_groups[0].retention_days = Some(30);
    f.monitoring.log_groups[1].retention_days = Some(200);
    let (composed, _, stack) = written(&f);
    assert_eq!(stack.monitoring.unwrap().log_retention_days, 365, "200 days rounds up, never down");
    assert!(!composed.findings.join("\n").contains("forever"));
}

#[test]
fn trust_policies_the_file_can_say_and_those_it_cannot() {
    let service = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]});
    assert_eq!(trust(&service, "1"), Some(Trust::Service("ec2.amazonaws.com".into())));
    let account = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": "sts:AssumeRole"}]});
    assert_eq!(trust(&account, "1"), Some(Trust::Account { require_mfa: false }));
    let two = json!({"Statement": [service["Statement"][0].clone(), account["Statement"][0].clone()]});
    assert_eq!(trust(&two, "1"), None);
    let external = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "2"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}]});
    assert_eq!(trust(&external, "2"), None, "a condition the file cannot say");
    assert_eq!(major_version("oracle-ee", "19.0.0.0.ru-2024-01.rur-2024-01.r1"), "19");
    assert_eq!(major_version("mysql", "8.0.35"), "8.0");
}
