//! AWS on a bad day: the fault proxy (`scripts/fault_proxy.py`) between the binary and
//! the emulator throttles, fails, drops connections and loses answers, each in the
//! service's own wire format. The stack that comes out is compared with a clean run's
//! through the independent client (awscli), with the stack names taken out.

use crate::support::{stack_copy, Cli, Emulator, Proxy, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";

fn emu() -> &'static Emulator {
    Emulator::shared()
}

fn aws(args: &[&str]) -> Value {
    emu().aws(REGION, args)
}

fn cli(stack: &TempStack) -> Cli {
    Cli::new(emu()).args(["-f", stack.path.to_str().unwrap()])
}

/// Everything of the minimal stack as awscli sees it, with the stack's name replaced by
/// `STACK` and the applied-settings record's value (a hash of names) left out.
fn view(stack: &TempStack) -> Value {
    let mut buckets = serde_json::Map::new();
    let listed = aws(&["s3api", "list-buckets"]);
    for b in listed["Buckets"].as_array().unwrap() {
        let name = b["Name"].as_str().unwrap();
        if !name.starts_with(&format!("{}-", stack.name)) {
            continue;
        }
        let get = |what: &str| emu().try_aws(REGION, &["s3api", what, "--bucket", name]).unwrap_or(Value::Null);
        let mut tags: Vec<Value> = get("get-bucket-tagging")["TagSet"].as_array().cloned().unwrap_or_default();
        tags.sort_by_key(|t| t["Key"].as_str().unwrap_or_default().to_string());
        for t in &mut tags {
            if t["Key"] == "bumarket-infra:applied" {
                t["Value"] = Value::Null;
            }
        }
        let policy = get("get-bucket-policy")["Policy"].as_str().map(|p| serde_json::from_str::<Value>(p).unwrap());
        buckets.insert(
            name.to_string(),
            serde_json::json!({
                "tags": tags,
                "lifecycle": get("get-bucket-lifecycle-configuration"),
                "encryption": get("get-bucket-encryption"),
                "public_access": get("get-public-access-block"),
                "versioning": get("get-bucket-versioning"),
                "policy": policy,
            }),
        );
    }
    let path = format!("/bumarket-infra/{}/", stack.name);
    let details = aws(&["iam", "get-account-authorization-details", "--filter", "Role", "Group"]);
    let ours = |list: &str| -> Vec<Value> {
        let mut v: Vec<Value> = details[list]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["Path"] == path.as_str())
            .map(|e| {
                let mut tags: Vec<Value> = e["Tags"].as_array().cloned().unwrap_or_default();
                tags.retain(|t| t["Key"] != "bumarket-infra:applied");
                tags.sort_by_key(|t| t["Key"].as_str().unwrap_or_default().to_string());
                serde_json::json!({
                    "name": e["RoleName"].as_str().or(e["GroupName"].as_str()),
                    "trust": e["AssumeRolePolicyDocument"],
                    "inline": sorted(if e["RolePolicyList"].is_null() { &e["GroupPolicyList"] } else { &e["RolePolicyList"] }, "PolicyName"),
                    "managed": sorted(&e["AttachedManagedPolicies"], "PolicyArn"),
                    "profiles": e["InstanceProfileList"].as_array().map(|l| l.iter().map(|p| p["InstanceProfileName"].clone()).collect::<Vec<_>>()),
                    "tags": tags,
                })
            })
            .collect();
        v.sort_by_key(|e| e["name"].to_string());
        v
    };
    let all =
        serde_json::json!({"buckets": buckets, "roles": ours("RoleDetailList"), "groups": ours("GroupDetailList")});
    serde_json::from_str(&all.to_string().replace(&stack.name, "STACK")).unwrap()
}

/// A list in the order of its entries' `key`: the order AWS lists them in means nothing.
fn sorted(list: &Value, key: &str) -> Value {
    let mut v = list.as_array().cloned().unwrap_or_default();
    v.sort_by_key(|e| e[key].to_string());
    Value::Array(v)
}

/// Buckets and IAM entities left of a stack (after destroy: none).
fn left(stack: &TempStack) -> usize {
    let v = view(stack);
    v["buckets"].as_object().unwrap().len()
        + v["roles"].as_array().unwrap().len()
        + v["groups"].as_array().unwrap().len()
}

#[test]
fn throttling_to_a_few_calls_a_second_gives_the_same_stack_as_a_clean_run() {
    let clean = stack_copy("examples/minimal.yaml", "clean-twin");
    let throttled = stack_copy("examples/minimal.yaml", "throttled-twin");
    cli(&clean).args(["apply", "--auto-approve"]).run().success();

    // AWS's way: a bucket of 3 calls per service, 2 more a second. The tool's bursts of
    // parallel calls empty it; the SDK's adaptive retry slows down until they pass.
    let proxy = Proxy::start(emu(), &["--throttle-bucket", "3,2"]);
    proxy.cli(emu(), &throttled).args(["apply", "--auto-approve"]).run().success();
    let plan = proxy.cli(emu(), &throttled).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    // Which calls are throttled depends on timing (the test below throttles every call
    // of every protocol once).
    assert!(proxy.faults("throttle") >= 5, "the proxy throttled: {}", proxy.stats());
    assert_eq!(view(&throttled), view(&clean), "throttling changed what was built");

    proxy.cli(emu(), &throttled).args(["destroy", "--auto-approve"]).run().success();
    assert_eq!(left(&throttled), 0, "destroy through throttling left something: {}", view(&throttled));
    cli(&clean).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn a_plan_whose_every_call_is_throttled_once_matches_a_clean_plan() {
    // The seed's whole stack reaches every protocol: EC2's, the query services' (IAM,
    // ELB, Auto Scaling, RDS, SNS), JSON (tagging, logs, SSM, Secrets Manager), S3's
    // and CloudWatch's CBOR. Each call is throttled once in its own format, then passes.
    let stack = crate::stack_bumarket::seed_stack("throttled-plan");
    let clean = cli(&stack).args(["plan", "--json"]).run().success();
    let proxy = Proxy::start(emu(), &["--throttle", "1", "--max-in-a-row", "1"]);
    let throttled = proxy.cli(emu(), &stack).args(["plan", "--json"]).run().success();
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    assert_eq!(parse(&throttled.stdout), parse(&clean.stdout));
    let faulted = proxy.stats()["faulted"].to_string();
    for service in ["ec2:", "iam:", "tagging:", "ssm:", "sts:"] {
        assert!(faulted.contains(service), "{service} was throttled: {faulted}");
    }
}

#[test]
fn server_errors_and_dropped_connections_are_retried() {
    let stack = stack_copy("examples/minimal.yaml", "flaky");
    let proxy = Proxy::start(emu(), &["--server-error", "0.15", "--reset-before", "0.15", "--seed", "5"]);
    proxy.cli(emu(), &stack).args(["apply", "--auto-approve"]).run().success();
    assert!(proxy.faults("server-error") > 0 && proxy.faults("reset-before") > 0, "{}", proxy.stats());
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    assert_eq!(view(&stack)["buckets"].as_object().unwrap().len(), 2);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn lost_answers_to_creates_leave_no_duplicate_after_the_next_apply() {
    // Every create's first answer is lost: AWS did the work, the connection dropped,
    // the SDK sent the call again. IAM and S3 then say the thing exists (ours: fine),
    // EC2 refuses the second subnet with the same block (the tagged one is ours: fine),
    // and makes a second VPC, internet gateway and route table, which the next apply
    // deletes as duplicates.
    let minimal = stack_copy("examples/minimal.yaml", "lost-answers");
    let network = stack_copy("tests/stacks/network.yaml", "lost-answers");
    let proxy = Proxy::start(
        emu(),
        &["--ops", "^(Create|AddRoleToInstanceProfile)", "--reset-after", "1", "--max-in-a-row", "1"],
    );
    proxy.cli(emu(), &minimal).args(["apply", "--auto-approve"]).run().success();
    proxy.cli(emu(), &network).args(["apply", "--auto-approve"]).run().success();
    let faulted = proxy.stats()["faulted"].to_string();
    for call in [
        "s3:CreateBucket",
        "iam:CreateRole",
        "iam:CreateGroup",
        "iam:CreateInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "ec2:CreateVpc",
        "ec2:CreateSubnet",
    ] {
        assert!(faulted.contains(&format!("{call} reset-after")), "{call}'s answer was lost: {faulted}");
    }

    for stack in [&minimal, &network] {
        cli(stack).args(["apply", "--auto-approve"]).run().success();
        let plan = cli(stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
        assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    }
    let v = view(&minimal);
    assert_eq!(v["buckets"].as_object().unwrap().len(), 2, "{v}");
    assert_eq!(v["roles"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["roles"][0]["profiles"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["groups"].as_array().unwrap().len(), 2, "{v}");
    let filter = format!("Name=tag:bumarket-infra:stack,Values={}", network.name);
    let count = |what: &str, key: &str| aws(&["ec2", what, "--filters", &filter])[key].as_array().unwrap().len();
    assert_eq!(count("describe-vpcs", "Vpcs"), 1, "the duplicate VPC is gone");
    assert_eq!(count("describe-internet-gateways", "InternetGateways"), 1);
    assert_eq!(count("describe-subnets", "Subnets"), 4);
    assert_eq!(count("describe-route-tables", "RouteTables"), 2);
    for stack in [&minimal, &network] {
        cli(stack).args(["destroy", "--auto-approve"]).run().success();
    }
}

#[test]
fn an_error_no_retry_can_fix_names_the_resource_the_call_and_aws_words() {
    let stack = stack_copy("examples/minimal.yaml", "denied");
    let proxy = Proxy::start(emu(), &["--ops", "^CreateRole$", "--deny", "1", "--times", "1"]);
    let run = proxy.cli(emu(), &stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(
        run.stderr.contains(
            "`role.app`: iam:CreateRole: AccessDenied: User: arn:aws:iam::123456789012:user/ci is not authorized"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("skipped `instance_profile.app` (needs `role.app`)"), "{}", run.stderr);
    // Everything that did not need the role was built.
    let v = view(&stack);
    assert_eq!(v["buckets"].as_object().unwrap().len(), 2, "{v}");
    assert_eq!(v["groups"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["roles"].as_array().unwrap().len(), 0, "{v}");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(view(&stack)["roles"].as_array().unwrap().len(), 1);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}
