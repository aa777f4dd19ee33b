//! `bumarket-infra permissions` tested for real: an emulator that enforces IAM
//! (scripts/iam_enforce.py) runs the tool with the key of a user holding exactly the
//! printed policy. Every other end-to-end run checks too that the calls it made are
//! granted by the policy `permissions` prints for it (`BUMARKET_INFRA_CHECK_CALLS`).

use crate::stack_bumarket::seed_stack;
use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";

fn emu() -> &'static Emulator {
    Emulator::enforcing()
}

fn admin(args: &[&str]) -> Value {
    emu().aws(REGION, args)
}

fn policy(stack: &TempStack, phase: &str) -> Value {
    let run = Cli::new(emu()).args(["-f", stack.path.to_str().unwrap(), "permissions", "--for", phase]).run().success();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// A user holding exactly `policy`, and a run of the tool with its key.
struct User {
    key: String,
    secret: String,
}

impl User {
    fn with(name: &str, policy: &Value) -> User {
        admin(&["iam", "create-user", "--user-name", name]);
        let doc = policy.to_string();
        admin(&[
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "bumarket-infra",
            "--policy-document",
            &doc,
        ]);
        let key = admin(&["iam", "create-access-key", "--user-name", name]);
        User {
            key: key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(),
            secret: key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string(),
        }
    }

    fn cli(&self, stack: &TempStack) -> Cli {
        Cli::new(emu())
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .args(["-f", stack.path.to_str().unwrap()])
    }
}

fn without(policy: &Value, action: &str) -> Value {
    let mut p = policy.clone();
    for s in p["Statement"].as_array_mut().unwrap() {
        s["Action"].as_array_mut().unwrap().retain(|a| a != action);
    }
    p
}

#[test]
fn the_apply_policy_is_enough_to_apply_plan_and_destroy_the_seed_stack() {
    let stack = seed_stack("perm-seed");
    // destroy must be able to take the database and the load balancer (the file's way to
    // allow it).
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let text = text.replacen("  deletion_protection: true    # default\n", "  deletion_protection: false\n", 1);
    let lb = "  deletion_protection: true    # default: protected load balancer\n";
    assert!(text.contains(lb), "stacks/bumarket.yaml no longer has `{lb}`");
    let text = text.replacen(lb, "  deletion_protection: false\n", 1);
    std::fs::write(&stack.path, text).unwrap();
    let deployer = User::with("perm-seed-deployer", &policy(&stack, "apply"));
    deployer.cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let plan = deployer.cli(&stack).args(["plan", "--detailed-exitcode"]).run();
    assert_eq!(plan.code, 0, "converged:\n{}\n{}", plan.stdout, plan.stderr);
    writes_reach_the_live_arns_and_no_other_stacks(&stack, "perm-seed-deployer");
    deployer.cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    let filter = format!("Name=tag:bumarket-infra:stack,Values={}", stack.name);
    let vpcs = admin(&["ec2", "describe-vpcs", "--filters", &filter]);
    assert_eq!(vpcs["Vpcs"].as_array().map(Vec::len), Some(0), "{vpcs}");
}

#[test]
fn the_plan_policy_plans_and_cannot_write() {
    let stack = stack_copy("examples/minimal.yaml", "perm-plan");
    let reader = User::with("perm-plan-reader", &policy(&stack, "plan"));
    let plan = reader.cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("to add"), "{}", plan.stdout);
    let apply = reader.cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    // The lock comes first: its bucket (made by the first writer of the account), or its
    // object. S3 answers a plain "Access Denied"; the tool names the call.
    let denied = [
        "error: s3:HeadBucket (the lock bucket): HTTP 403 Forbidden: access denied",
        "error: s3:PutObject (taking the lock): AccessDenied",
    ];
    assert!(denied.iter().any(|d| apply.stderr.contains(d)), "{}", apply.stderr);
    assert!(apply.stderr.contains("nothing was changed"), "{}", apply.stderr);
    let buckets = admin(&["s3api", "list-buckets"]).to_string();
    assert!(!buckets.contains(&format!("{}-", stack.name)), "nothing was written: {buckets}");
}

#[test]
fn a_policy_missing_one_action_fails_with_aws_words_naming_it() {
    let stack = stack_copy("examples/minimal.yaml", "perm-missing");
    let full = policy(&stack, "apply");
    let short = User::with("perm-missing-short", &without(&full, "iam:CreateRole"));
    let run = short.cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains("iam:CreateRole: AccessDenied"), "{}", run.stderr);
    assert!(run.stderr.contains("is not authorized to perform: iam:CreateRole"), "{}", run.stderr);
    // The rest converges with the whole policy, and goes.
    let whole = User::with("perm-missing-whole", &full);
    whole.cli(&stack).args(["apply", "--auto-approve"]).run().success();
    whole.cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

/// The enforcing emulator knows the ARN of what a call acts on only for S3 and IAM; IAM's
/// policy simulator (scripts/iam_simulate.py, without that relaxation) judges the
/// deployer's scoped writes against the ARNs the live resources really have, and against
/// the same ARNs of another stack.
fn writes_reach_the_live_arns_and_no_other_stacks(stack: &TempStack, user: &str) {
    let name = &stack.name;
    let user_arn = admin(&["iam", "get-user", "--user-name", user])["User"]["Arn"].as_str().unwrap().to_string();
    let first = |v: Value, pointer: &str| {
        v.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{pointer} in {v}")).to_string()
    };
    let lb = first(
        admin(&["elbv2", "describe-load-balancers", "--names", &format!("{name}-lb")]),
        "/LoadBalancers/0/LoadBalancerArn",
    );
    let tg = first(
        admin(&["elbv2", "describe-target-groups", "--names", &format!("{name}-app")]),
        "/TargetGroups/0/TargetGroupArn",
    );
    let asg = first(
        admin(&["autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", &format!("{name}-app")]),
        "/AutoScalingGroups/0/AutoScalingGroupARN",
    );
    let alarm = first(
        admin(&["cloudwatch", "describe-alarms", "--alarm-name-prefix", &format!("{name}-")]),
        "/MetricAlarms/0/AlarmArn",
    );
    let topic = admin(&["sns", "list-topics"])["Topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["TopicArn"].as_str())
        .find(|a| a.ends_with(&format!(":{name}-alerts")))
        .expect("the stack's topic")
        .to_string();
    let group = first(
        admin(&["logs", "describe-log-groups", "--log-group-name-prefix", &format!("/bumarket-infra/{name}/")]),
        "/logGroups/0/arn",
    );
    let bucket = format!("arn:aws:s3:::{name}-images-123456789012-{REGION}");
    let role = first(admin(&["iam", "get-role", "--role-name", &format!("{name}-app")]), "/Role/Arn");
    let checks = [
        ("elasticloadbalancing:DeleteLoadBalancer", lb),
        ("elasticloadbalancing:ModifyTargetGroup", tg),
        ("autoscaling:UpdateAutoScalingGroup", asg),
        ("cloudwatch:DeleteAlarms", alarm),
        ("sns:DeleteTopic", topic),
        ("logs:DeleteLogGroup", group),
        ("s3:DeleteBucket", bucket),
        ("iam:DeleteRole", role),
    ];
    let decide = |action: &str, arn: &str| {
        let out = admin(&[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            &user_arn,
            "--action-names",
            action,
            "--resource-arns",
            arn,
        ]);
        first(out, "/EvaluationResults/0/EvalDecision")
    };
    for (action, arn) in &checks {
        assert_eq!(decide(action, arn), "allowed", "{action} on the stack's own {arn}");
        let other = arn.replace(name.as_str(), "another-stack");
        assert_ne!(other, *arn);
        assert_eq!(decide(action, &other), "implicitDeny", "{action} on another stack's {other}");
    }
}
