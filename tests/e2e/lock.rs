//! One writer at a time: apply and destroy hold a lock per stack and region in the
//! account's lock bucket (a conditional put, `If-None-Match: *`, which moto answers 412
//! like S3); plan takes none; force-unlock removes a lock after showing its holder; a
//! lock left by a dead process of this host is broken, saying so.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::{json, Value};

const REGION: &str = "ap-northeast-2";
const BUCKET: &str = "bumarket-infra-locks-123456789012-ap-northeast-2";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

fn key(stack: &TempStack) -> String {
    format!("locks/{}.json", stack.name)
}

/// Write a lock as another run would have left it.
fn hold(stack: &TempStack, host: &str, pid: u32) {
    let body = stack.dir.path().join("lock.json");
    let holder = json!({"who": "arn:aws:iam::123456789012:user/ci", "host": host, "pid": pid,
                        "since": "2026-11-25T10:00:00Z", "command": "apply", "tool_version": "0.1.0"});
    std::fs::write(&body, holder.to_string()).unwrap();
    aws(&["s3api", "put-object", "--bucket", BUCKET, "--key", &key(stack), "--body", body.to_str().unwrap()]);
}

fn locked(stack: &TempStack) -> bool {
    Emulator::shared().try_aws(REGION, &["s3api", "head-object", "--bucket", BUCKET, "--key", &key(stack)]).is_ok()
}

fn tagged(stack: &TempStack) -> usize {
    let tag = format!("Key=bumarket-infra:stack,Values={}", stack.name);
    aws(&["resourcegroupstaggingapi", "get-resources", "--tag-filters", &tag])["ResourceTagMappingList"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_second_writer_fails_naming_the_holder_and_force_unlock_frees_the_stack() {
    let stack = stack_copy("examples/minimal.yaml", "lock");
    // The first apply makes the lock bucket, and gives its lock back at the end.
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert!(!locked(&stack), "the lock is released after apply");
    aws(&["s3api", "head-bucket", "--bucket", BUCKET]);

    hold(&stack, "ci-runner-7", 4242);
    let text = std::fs::read_to_string(&stack.path).unwrap();
    std::fs::write(&stack.path, text.replacen("images: {}", "images: {versioning: true}", 1)).unwrap();
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains(&format!("stack `{}` in {REGION} is locked by `apply`", stack.name)), "{}", run.stderr);
    assert!(run.stderr.contains("on ci-runner-7 (process 4242) since 2026-11-25T10:00:00Z"), "{}", run.stderr);
    assert!(run.stderr.contains("force-unlock"), "{}", run.stderr);
    let images = format!("{}-images-123456789012-{REGION}", stack.name);
    assert_eq!(aws(&["s3api", "get-bucket-versioning", "--bucket", &images]).get("Status"), None, "nothing changed");
    // plan takes no lock.
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2);

    let unlock = cli(&stack).args(["force-unlock", "--auto-approve"]).run().success();
    assert!(unlock.stderr.contains("ci-runner-7"), "{}", unlock.stderr);
    assert!(!locked(&stack));
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(aws(&["s3api", "get-bucket-versioning", "--bucket", &images])["Status"], "Enabled");

    // destroy leaves the lock bucket, which belongs to no stack.
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert_eq!(tagged(&stack), 0);
    aws(&["s3api", "head-bucket", "--bucket", BUCKET]);
}

#[test]
fn a_lock_left_by_a_dead_process_of_this_host_is_broken_saying_so() {
    let stack = stack_copy("examples/minimal.yaml", "stale");
    cli(&stack).args(["plan"]).run().success();
    // Make sure the lock bucket exists (another test may not have run yet).
    let _ = Emulator::shared().try_aws(
        REGION,
        &[
            "s3api",
            "create-bucket",
            "--bucket",
            BUCKET,
            "--create-bucket-configuration",
            &format!("LocationConstraint={REGION}"),
        ],
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    hold(&stack, &host, 4_000_000); // beyond Linux's pid range: no such process
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert!(run.stderr.contains("breaking the stale lock of `apply`"), "{}", run.stderr);
    assert!(run.stderr.contains("that process no longer exists on this host"), "{}", run.stderr);
    assert!(!locked(&stack));
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn lock_timeout_waits_for_the_holder_to_finish() {
    let stack = stack_copy("examples/minimal.yaml", "wait");
    let _ = Emulator::shared().try_aws(
        REGION,
        &[
            "s3api",
            "create-bucket",
            "--bucket",
            BUCKET,
            "--create-bucket-configuration",
            &format!("LocationConstraint={REGION}"),
        ],
    );
    hold(&stack, "ci-runner-7", 4242);
    let k = key(&stack);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        Emulator::shared().aws(REGION, &["s3api", "delete-object", "--bucket", BUCKET, "--key", &k]);
    });
    let run = cli(&stack).args(["apply", "--auto-approve", "--lock-timeout", "2m"]).run().success();
    releaser.join().unwrap();
    assert!(run.stderr.contains("waiting for the lock held by `apply`"), "{}", run.stderr);
    assert_eq!(tagged(&stack), 2);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}
