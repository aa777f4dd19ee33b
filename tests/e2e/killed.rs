//! A CI job killed halfway: the fault proxy SIGKILLs `apply` right after its k-th AWS
//! call reached the emulator (the call took effect, its answer never arrived). The next
//! `apply` (which breaks the dead run's lock, on this same host) converges to exactly the
//! stack: no duplicate, no orphan, no lock left, as the independent client sees it.

use crate::support::{stack_copy, Cli, Emulator, Proxy, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";
const LOCKS: &str = "bumarket-infra-locks-123456789012-ap-northeast-2";

fn emu() -> &'static Emulator {
    Emulator::shared()
}

fn aws(args: &[&str]) -> Value {
    emu().aws(REGION, args)
}

fn cli(stack: &TempStack) -> Cli {
    Cli::new(emu()).args(["-f", stack.path.to_str().unwrap()])
}

/// Apply killed after call `k`; whether the kill happened (k may be past the last call).
fn apply_killed_at(stack: &TempStack, k: usize) -> bool {
    let proxy = Proxy::start(emu(), &["--kill-after", &k.to_string()]);
    let run = proxy.cli(emu(), stack).args(["apply", "--auto-approve"]).run_or_killed();
    let killed = !proxy.stats()["killed"].is_null();
    assert_eq!(killed, run.code == -1, "killed by the proxy, or ran to its end: {}", run.stderr);
    if !killed {
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    killed
}

fn converges(stack: &TempStack) {
    cli(stack).args(["apply", "--auto-approve"]).run().success();
    let plan = cli(stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

#[test]
fn apply_killed_after_any_call_then_applied_again_converges() {
    // How many calls a whole apply of the small stack makes, once the account's lock
    // bucket exists (the first apply in an account creates it).
    let first = stack_copy("examples/minimal.yaml", "kill-first");
    cli(&first).args(["apply", "--auto-approve"]).run().success();
    let probe = stack_copy("examples/minimal.yaml", "kill-count");
    let counter = Proxy::start(emu(), &[]);
    counter.cli(emu(), &probe).args(["apply", "--auto-approve"]).run().success();
    let calls = counter.stats()["forwarded"].as_u64().unwrap() as usize;
    assert!(calls > 20, "{}", counter.stats());

    let mut stacks = Vec::new();
    let mut ran_to_the_end = Vec::new();
    for k in 1..=calls {
        let stack = stack_copy("examples/minimal.yaml", &format!("kill-{k}"));
        if !apply_killed_at(&stack, k) {
            ran_to_the_end.push(k);
        }
        converges(&stack);
        stacks.push(stack);
    }
    // A run makes a call or two fewer than the probe when IAM's existence waiters see
    // the entity at their first look: only the last few k may outlast the run.
    assert!(ran_to_the_end.iter().all(|&k| k + 3 > calls), "runs not killed: {ran_to_the_end:?} of {calls}");

    // The independent client: each stack has exactly its two buckets, one role with one
    // instance profile and two groups; nothing else carries a kill stack's name.
    let buckets = aws(&["s3api", "list-buckets"]);
    let details = aws(&["iam", "get-account-authorization-details", "--filter", "Role", "Group"]);
    let profiles = aws(&["iam", "list-instance-profiles"]);
    let locks = aws(&["s3api", "list-objects-v2", "--bucket", LOCKS, "--prefix", "locks/"]);
    for stack in &stacks {
        let mine = |v: &Value, key: &str| -> usize {
            v.as_array()
                .unwrap()
                .iter()
                .filter(|e| e[key].as_str().unwrap().starts_with(&format!("{}-", stack.name)))
                .count()
        };
        assert_eq!(mine(&buckets["Buckets"], "Name"), 2, "{}", stack.name);
        assert_eq!(mine(&details["RoleDetailList"], "RoleName"), 1, "{}", stack.name);
        assert_eq!(mine(&details["GroupDetailList"], "GroupName"), 2, "{}", stack.name);
        assert_eq!(mine(&profiles["InstanceProfiles"], "InstanceProfileName"), 1, "{}", stack.name);
        let role = details["RoleDetailList"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["RoleName"] == format!("{}-app", stack.name).as_str())
            .unwrap();
        assert_eq!(role["InstanceProfileList"].as_array().unwrap().len(), 1, "the profile holds the role");
        let lock = format!("locks/{}.json", stack.name);
        let held = locks["Contents"].as_array().into_iter().flatten().any(|o| o["Key"] == lock.as_str());
        assert!(!held, "no lock is left for {}", stack.name);
    }
}

#[test]
fn the_seed_stack_killed_again_and_again_then_applied_converges() {
    let stack = crate::stack_bumarket::seed_stack("killed");
    // Every run is killed after its 110th call, until one gets through: of some 200 calls
    // in a whole apply, each run spends some 75 (nothing made yet) to 100 (everything
    // made) on the lock and the read, so each kill lands some 10 to 35 calls further into
    // the creates and waits than the one before, a spread over the whole apply. (The read
    // asks IAM for each of the file's roles, groups and profiles by name, made or not,
    // and reads every configuration of each bucket, there or not.)
    let mut kills = 0;
    while apply_killed_at(&stack, 110) {
        kills += 1;
        assert!(kills < 15, "an apply killed 15 times made no progress");
    }
    eprintln!("the seed apply was killed {kills} times");
    assert!(kills >= 3, "killed {kills} times");
    converges(&stack);
    let f = format!("Name=tag:bumarket-infra:stack,Values={}", stack.name);
    let count = |what: &str, key: &str| aws(&["ec2", what, "--filters", &f])[key].as_array().unwrap().len();
    assert_eq!(count("describe-vpcs", "Vpcs"), 1);
    assert_eq!(count("describe-subnets", "Subnets"), 4);
    assert_eq!(count("describe-security-groups", "SecurityGroups"), 3);
    assert_eq!(count("describe-launch-templates", "LaunchTemplates"), 1);
    let name = format!("{}-app", stack.name);
    let groups = aws(&["autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", &name]);
    assert_eq!(groups["AutoScalingGroups"].as_array().unwrap().len(), 1);
    let lbs = aws(&["elbv2", "describe-load-balancers"]);
    let mine = |v: &Value, key: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|e| e[key].as_str().unwrap().starts_with(&format!("{}-", stack.name)))
            .count()
    };
    assert_eq!(mine(&lbs["LoadBalancers"], "LoadBalancerName"), 1);
    let dbs = aws(&["rds", "describe-db-instances"]);
    assert_eq!(mine(&dbs["DBInstances"], "DBInstanceIdentifier"), 1);
    let alarms = aws(&["cloudwatch", "describe-alarms", "--alarm-name-prefix", &format!("{}-", stack.name)]);
    assert_eq!(alarms["MetricAlarms"].as_array().unwrap().len(), 5);
}
