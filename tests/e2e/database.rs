//! End-to-end test of the database: the DB subnet group and the RDS instance applied by
//! the real binary to the moto server (tests/stacks/database.yaml: the network and
//! stacks/bumarket.yaml's `database:` with deletion protection on), checked with awscli.
//! It converges, never shows the password, refuses to destroy while protected (deleting
//! nothing at all), and once protection is off leaves a final snapshot and nothing else.
//!
//! Emulator gaps (MOTO-NOTES): the instance is `available` at once and
//! `ApplyImmediately=false` applies at once, so the waits and the maintenance-window
//! request are covered by the unit tests with canned answers (src/resources/database).

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

/// The stack's instance as `rds describe-db-instances` shows it, if it exists.
fn instance(id: &str) -> Option<Value> {
    let out = Emulator::shared().try_aws(REGION, &["rds", "describe-db-instances", "--db-instance-identifier", id]);
    match out {
        Ok(v) => v["DBInstances"].as_array().and_then(|l| l.first().cloned()),
        Err(e) if e.contains("DBInstanceNotFound") => None,
        Err(e) => panic!("describe-db-instances: {e}"),
    }
}

/// Ids of the stack's resources of one EC2 kind (by the stack's tag).
fn tagged_ids(stack: &TempStack, what: &str, key: &str, id: &str) -> Vec<String> {
    let filter = format!("Name=tag:bumarket-infra:stack,Values={}", stack.name);
    let out = aws(&["ec2", &format!("describe-{what}"), "--filters", &filter]);
    let mut ids: Vec<String> =
        out[key].as_array().unwrap().iter().filter_map(|v| v[id].as_str()).map(String::from).collect();
    ids.sort();
    ids
}

fn private_subnets(stack: &TempStack) -> Vec<String> {
    let filter = format!("Name=tag:bumarket-infra:stack,Values={}", stack.name);
    let out = aws(&["ec2", "describe-subnets", "--filters", &filter]);
    let mut ids: Vec<String> = out["Subnets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["MapPublicIpOnLaunch"] == false)
        .filter_map(|s| s["SubnetId"].as_str())
        .map(String::from)
        .collect();
    ids.sort();
    ids
}

/// Every text the binary printed must be free of the secret's value.
fn assert_no_password(texts: &[&str], password: &str) {
    for t in texts {
        assert!(!t.contains(password), "the master password was printed:\n{t}");
        assert!(!t.contains("MasterUserPassword"), "{t}");
    }
}

#[test]
fn the_database_is_private_protected_never_shows_its_password_and_leaves_a_final_snapshot() {
    let stack = stack_copy("tests/stacks/database.yaml", "main");
    let id = format!("{}-db", stack.name);
    let apply = cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert!(apply.stderr.contains("Apply complete"), "{}", apply.stderr);

    let db = instance(&id).expect("the instance exists");
    assert_eq!(db["Engine"], "oracle-ee");
    assert_eq!(db["BackupRetentionPeriod"], 7, "{db}");
    assert_eq!(db["PreferredBackupWindow"], "00:00-00:30");
    assert_eq!(db["PreferredMaintenanceWindow"], "sun:18:00-sun:18:30");
    assert_eq!(db["StorageEncrypted"], true);
    assert_eq!(db["PubliclyAccessible"], false);
    assert_eq!(db["DeletionProtection"], true);
    assert_eq!(db["MasterUsername"], "bumarket_admin");
    let mut logs: Vec<&str> =
        db["EnabledCloudwatchLogsExports"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    logs.sort();
    assert_eq!(logs, ["alert", "audit", "listener", "trace"]);
    let group = &db["DBSubnetGroup"];
    assert_eq!(group["DBSubnetGroupName"], format!("{}-db", stack.name).as_str());
    let mut subnets: Vec<String> = group["Subnets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["SubnetIdentifier"].as_str())
        .map(String::from)
        .collect();
    subnets.sort();
    assert_eq!(subnets, private_subnets(&stack));
    assert_eq!(subnets.len(), 2);
    let by_stack = format!("Name=tag:bumarket-infra:stack,Values={}", stack.name);
    let by_addr = "Name=tag:bumarket-infra:resource,Values=security_group.db";
    let db_group = aws(&["ec2", "describe-security-groups", "--filters", &by_stack, by_addr]);
    let db_group = db_group["SecurityGroups"][0]["GroupId"].as_str().expect("the db group").to_string();
    let groups: Vec<&str> =
        db["VpcSecurityGroups"].as_array().unwrap().iter().filter_map(|g| g["VpcSecurityGroupId"].as_str()).collect();
    assert_eq!(groups, [db_group.as_str()]);
    let secret = db["MasterUserSecret"]["SecretArn"].as_str().expect("a managed master secret").to_string();

    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    let json = cli(&stack).args(["plan", "--json"]).run().success();
    let out = cli(&stack).args(["output", "--json"]).run().success();
    let values: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(values["database.main"]["secret"], secret.as_str(), "{values}");
    assert_eq!(values["database.main"]["endpoint"].as_str().map(|e| e.ends_with(":1521")), Some(true), "{values}");
    let printed = [&apply.stdout, &apply.stderr, &plan.stdout, &plan.stderr, &json.stdout, &json.stderr, &out.stdout];
    let printed: Vec<&str> = printed.iter().map(|s| s.as_str()).collect();
    // The emulator keeps the secret RDS manages: its value must appear nowhere.
    let value = aws(&["secretsmanager", "get-secret-value", "--secret-id", &secret]);
    let value: Value = serde_json::from_str(value["SecretString"].as_str().expect("a secret string")).unwrap();
    let password = value["password"].as_str().expect("a password in the secret");
    assert!(password.len() >= 8, "{value}");
    assert_no_password(&printed, password);

    // Protected: destroy refuses before anything runs and deletes nothing at all.
    let refused = cli(&stack).args(["destroy", "--auto-approve"]).run().code_is(1);
    assert!(refused.stderr.contains("deletion protection"), "{}", refused.stderr);
    assert!(refused.stderr.contains("deletion_protection: false"), "{}", refused.stderr);
    assert!(instance(&id).is_some(), "the instance is still there");
    assert_eq!(tagged_ids(&stack, "vpcs", "Vpcs", "VpcId").len(), 1, "the VPC is still there");

    let text = std::fs::read_to_string(&stack.path).unwrap();
    std::fs::write(&stack.path, text.replace("deletion_protection: true", "deletion_protection: false")).unwrap();
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2);
    assert!(plan.stdout.contains("~ database.main"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."), "{}", plan.stdout);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(instance(&id).unwrap()["DeletionProtection"], false);

    let destroy = cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(destroy.stderr.contains("Destroy complete"), "{}", destroy.stderr);
    assert!(instance(&id).is_none(), "the instance is gone");
    let snapshots =
        aws(&["rds", "describe-db-snapshots", "--db-instance-identifier", &id, "--snapshot-type", "manual"]);
    let names: Vec<&str> = snapshots["DBSnapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["DBSnapshotIdentifier"].as_str())
        .collect();
    assert_eq!(names.len(), 1, "{snapshots}");
    assert!(names[0].starts_with(&format!("{}-final-", stack.name)), "{names:?}");
    let gone = Emulator::shared().try_aws(REGION, &["rds", "describe-db-subnet-groups", "--db-subnet-group-name", &id]);
    assert!(gone.is_err_and(|e| e.contains("DBSubnetGroupNotFound")), "the subnet group is gone");
    assert_eq!(tagged_ids(&stack, "vpcs", "Vpcs", "VpcId"), Vec::<String>::new());
    assert_eq!(tagged_ids(&stack, "security-groups", "SecurityGroups", "GroupId"), Vec::<String>::new());
    // Snapshots carry the instance's tags (copied on purpose: the final one, and the
    // automated backups RDS retains with it); nothing else may.
    let filter = format!("Key=bumarket-infra:stack,Values={}", stack.name);
    let left = aws(&["resourcegroupstaggingapi", "get-resources", "--tag-filters", &filter]);
    let left: Vec<&str> = left["ResourceTagMappingList"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["ResourceARN"].as_str())
        .filter(|arn| !arn.contains(":snapshot:"))
        .collect();
    assert_eq!(left, Vec::<&str>::new());
}

#[test]
fn a_password_kept_in_a_named_secret_reaches_rds_and_nothing_else() {
    let stack = stack_copy("tests/stacks/database.yaml", "secret");
    let id = format!("{}-db", stack.name);
    let value = format!("Kept-In-Secret-{}", stack.name.len() * 7919);
    let secret = aws(&[
        "secretsmanager",
        "create-secret",
        "--name",
        &format!("{}-master", stack.name),
        "--secret-string",
        &format!(r#"{{"username": "bumarket_admin", "password": "{value}"}}"#),
    ]);
    let arn = secret["ARN"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let named = text
        .replacen("  password: managed", &format!("  password: {{secret_arn: \"{arn}\"}}"), 1)
        .replacen("deletion_protection: true", "deletion_protection: false", 1)
        .replacen("final_snapshot: true", "final_snapshot: false", 1);
    assert_ne!(text, named, "tests/stacks/database.yaml changed shape");
    std::fs::write(&stack.path, named).unwrap();

    let apply = cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let db = instance(&id).expect("the instance exists");
    assert!(db.get("MasterUserSecret").is_none_or(Value::is_null), "RDS does not manage this password: {db}");
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    let json = cli(&stack).args(["plan", "--json"]).run().success();
    let output = cli(&stack).args(["output", "--json"]).run().success();
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    assert_no_password(
        &[&apply.stdout, &apply.stderr, &plan.stdout, &plan.stderr, &json.stdout, &output.stdout, &output.stderr],
        &value,
    );
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(instance(&id).is_none());
}
