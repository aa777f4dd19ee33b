//! End-to-end tests of environments: tests/stacks/environments.yaml declares `staging`
//! and `prod` (both pinned to the emulator's account) and `elsewhere` (pinned to another).
//! Both are applied into one account as two stacks and checked with awscli: the
//! override lands only in prod, destroying staging leaves prod whole, and credentials of
//! the wrong account are refused before anything is written.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";
const ACCOUNT: &str = "123456789012";

fn cli(stack: &TempStack, env: &str) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap(), "--env", env])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

fn bucket(stack: &TempStack, env: &str, logical: &str) -> String {
    format!("{}-{env}-{logical}-{ACCOUNT}-{REGION}", stack.name)
}

fn buckets_of(prefix: &str) -> Vec<String> {
    let out = aws(&["s3api", "list-buckets"]);
    let mut names: Vec<String> = out["Buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["Name"].as_str())
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect();
    names.sort();
    names
}

#[test]
fn staging_and_prod_from_one_file_share_an_account_without_touching_each_other() {
    let stack = stack_copy("tests/stacks/environments.yaml", "env");
    let file = stack.path.to_str().unwrap();
    let emu = Emulator::shared();

    // `validate` without `--env` checks every environment; any other command needs one.
    let run = Cli::new(emu).args(["-f", file, "validate"]).run().success();
    for env in ["staging", "prod", "elsewhere"] {
        assert!(run.stdout.contains(&format!("stack `{}-{env}` (environment `{env}`", stack.name)), "{}", run.stdout);
    }
    let run = Cli::new(emu).args(["-f", file, "plan"]).run().code_is(1);
    assert!(
        run.stderr.contains("the file declares environments `staging`, `prod`, `elsewhere`: say which"),
        "{}",
        run.stderr
    );

    // Credentials of another account than the pinned one: refused, nothing written.
    let run = cli(&stack, "elsewhere").args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(
        run.stderr.contains(&format!(
            "credentials are for account {ACCOUNT}, environment `elsewhere` is pinned to 222222222222"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(buckets_of(&format!("{}-elsewhere-", stack.name)), Vec::<String>::new());

    // Both applied into the same account, each under its own name, each converged.
    for env in ["staging", "prod"] {
        cli(&stack, env).args(["apply", "--auto-approve"]).run().success();
    }
    for env in ["staging", "prod"] {
        let plan = cli(&stack, env).args(["plan", "--detailed-exitcode"]).run().success();
        assert!(plan.stdout.starts_with("No changes."), "{env}: {}", plan.stdout);
        assert_eq!(
            buckets_of(&format!("{}-{env}-", stack.name)),
            [bucket(&stack, env, "images"), bucket(&stack, env, "logs")]
        );
    }
    // The override is prod's alone.
    let versioning = |env: &str| {
        aws(&["s3api", "get-bucket-versioning", "--bucket", &bucket(&stack, env, "images")])["Status"].clone()
    };
    assert_eq!(versioning("prod"), "Enabled");
    assert_eq!(versioning("staging"), Value::Null);
    let days = |env: &str| {
        let rules = aws(&["s3api", "get-bucket-lifecycle-configuration", "--bucket", &bucket(&stack, env, "logs")]);
        rules["Rules"].as_array().unwrap().iter().find(|r| r["ID"] == "expire-logs").unwrap()["Expiration"]["Days"]
            .clone()
    };
    assert_eq!((days("staging"), days("prod")), (Value::from(30), Value::from(180)));

    // A change to prod's override is planned for prod only, side by side.
    let text = std::fs::read_to_string(&stack.path).unwrap();
    std::fs::write(&stack.path, text.replace("expire_after_days: 180", "expire_after_days: 365")).unwrap();
    let all = Cli::new(emu).args(["-f", file, "--env", "all", "plan"]).run().code_is(1);
    let section = |env: &str| {
        let start = all.stdout.find(&format!("== environment `{env}`")).unwrap_or_else(|| panic!("{}", all.stdout));
        let rest = &all.stdout[start + 4..];
        rest[..rest.find("== environment").unwrap_or(rest.len())].to_string()
    };
    assert!(section("staging").contains("No changes."), "{}", all.stdout);
    assert!(section("prod").contains("~ bucket.logs"), "{}", all.stdout);
    assert!(!section("staging").contains("bucket.logs"), "{}", all.stdout);
    assert!(all.stderr.contains("environment `elsewhere` is pinned to 222222222222"), "{}", all.stderr);

    // Destroying staging leaves prod whole.
    cli(&stack, "staging").args(["destroy", "--auto-approve"]).run().success();
    assert_eq!(buckets_of(&format!("{}-staging-", stack.name)), Vec::<String>::new());
    assert_eq!(buckets_of(&format!("{}-prod-", stack.name)).len(), 2);
    let group = aws(&["iam", "get-group", "--group-name", &format!("{}-prod-developers", stack.name)]);
    assert_eq!(group["Group"]["Path"], format!("/bumarket-infra/{}-prod/", stack.name));
    cli(&stack, "prod").args(["destroy", "--auto-approve"]).run().success();
    assert_eq!(buckets_of(&format!("{}-prod-", stack.name)), Vec::<String>::new());
}

#[test]
fn an_override_that_breaks_an_environments_requirement_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.yaml");
    let text = "\
stack: shop
region: ap-northeast-2
network:
  cidr: 10.0.0.0/16
  availability_zones: [ap-northeast-2a, ap-northeast-2c]
  public_subnets: [10.0.0.0/24, 10.0.1.0/24]
  private_subnets: [10.0.10.0/24, 10.0.11.0/24]
database:
  engine: postgres
  engine_version: \"16\"
  instance_class: db.t4g.micro
  multi_az: true
environments:
  staging:
    account: \"123456789012\"
    database: {multi_az: false}
  prod:
    account: \"123456789012\"
    database: {multi_az: false}
    require: {multi_az: true}
";
    std::fs::write(&path, text).unwrap();
    let file = path.to_str().unwrap();
    let run = Cli::new(Emulator::shared()).args(["-f", file, "validate"]).run().code_is(1);
    assert!(run.stderr.contains("environment `prod` requires `database.multi_az` true"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("{file}:19:26")), "{}", run.stderr);
    // Staging, which requires nothing, is valid as it is.
    let run = Cli::new(Emulator::shared()).args(["-f", file, "--env", "staging", "validate"]).run().success();
    assert!(run.stdout.contains("stack `shop-staging` (environment `staging`"), "{}", run.stdout);
}
