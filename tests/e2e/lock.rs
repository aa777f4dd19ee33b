//! One writer at a time: apply and destroy hold a lock per stack and region in the
//! account's lock bucket (a conditional put, `If-None-Match: *`, which moto answers 412
//! like S3, and strict mode 409 ConditionalRequestConflict when two race); plan takes
//! none; a run gives back only the lock object it wrote (a delete with `If-Match` its
//! ETag); force-unlock removes a lock after showing its holder, and only that lock; a
//! lock left by a dead process of this host is broken, saying so.

use crate::support::{stack_copy, Cli, Emulator, Proxy, TempStack};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::time::Duration;

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
    lock_etag(Emulator::shared(), stack).is_some()
}

/// The ETag of the stack's lock object, if there is one.
fn lock_etag(emu: &Emulator, stack: &TempStack) -> Option<String> {
    let head = emu.try_aws(REGION, &["s3api", "head-object", "--bucket", BUCKET, "--key", &key(stack)]).ok()?;
    Some(head["ETag"].as_str().expect("an ETag").to_string())
}

/// Who the stack's lock names, as the independent client reads it.
fn lock_holder(stack: &TempStack) -> Value {
    let file = stack.dir.path().join("lock-read.json");
    aws(&["s3api", "get-object", "--bucket", BUCKET, "--key", &key(stack), file.to_str().unwrap()]);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// Make sure the lock bucket exists (another test may not have made it yet).
pub(crate) fn lock_bucket() {
    let config = format!("LocationConstraint={REGION}");
    let _ = Emulator::shared()
        .try_aws(REGION, &["s3api", "create-bucket", "--bucket", BUCKET, "--create-bucket-configuration", &config]);
}

const PROMPT: &str = "Only 'yes' will be accepted";

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

#[test]
fn two_applies_started_at_the_same_instant_both_succeed_one_after_the_other() {
    // Strict mode holds each conditional write of a key for 300 ms and answers another
    // meanwhile 409 ConditionalRequestConflict, as S3 may (scripts/moto_strict.py rule 8):
    // "On a 409 failure you should retry". The two runs start together, so their puts of
    // the lock (and a release against the other's put) race; each round tries it again.
    // Every answer takes 400 ms (the proxy), as a far region's would: a run then holds the
    // lock for several round trips of reads, while the other's retry after its 409 comes
    // within one, so the second run finds the lock held however the two processes' starts
    // fall on a busy machine (without it, a converged run could be done before the other
    // looked again, and "one waited" hung on timing).
    let emu = Emulator::strict();
    let stack = stack_copy("examples/minimal.yaml", "race");
    let proxy = Proxy::start(emu, &["--latency", "400"]);
    let cli = || proxy.cli(emu, &stack);
    let mut waited = 0;
    for round in 0..3 {
        let start = Arc::new(Barrier::new(2));
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let run = cli().args(["apply", "--auto-approve", "--lock-timeout", "2m"]);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    run.run()
                })
            })
            .collect();
        for run in runs {
            let run = run.join().expect("the run's thread").success();
            assert!(!run.stderr.contains("ConditionalRequestConflict"), "round {round}: {}", run.stderr);
            waited += usize::from(run.stderr.contains("waiting for the lock held by `apply`"));
        }
        assert!(lock_etag(emu, &stack).is_none(), "round {round}: the lock is given back");
    }
    assert!(waited >= 1, "in some round one run waited for the other");
    cli().args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn a_run_never_gives_back_a_lock_another_run_took_after_a_force_unlock() {
    let stack = stack_copy("examples/minimal.yaml", "takeover");
    // Run A holds the lock at its confirmation prompt.
    let mut a = cli(&stack).args(["apply"]).start_on_terminal();
    a.wait_for(PROMPT, Duration::from_secs(60));
    assert!(locked(&stack), "A holds the lock");
    // Someone takes A for gone and removes its lock; run B then takes the lock.
    let unlock = cli(&stack).args(["force-unlock", "--auto-approve"]).run().success();
    assert!(unlock.stderr.contains("Lock removed."), "{}", unlock.stderr);
    let mut b = cli(&stack).args(["apply"]).start_on_terminal();
    b.wait_for(PROMPT, Duration::from_secs(60));
    let b_lock = lock_etag(Emulator::shared(), &stack).expect("B holds the lock");

    // A is answered no: giving its lock back, it finds B's and leaves it.
    a.type_keys("no\n");
    let a = a.finish(Duration::from_secs(20));
    assert_eq!(lock_etag(Emulator::shared(), &stack), Some(b_lock), "B's lock is still there: {}", a.stdout);
    assert_eq!(a.code, 1, "{}", a.stdout);
    assert!(a.stdout.contains("apply cancelled; nothing was changed."), "{}", a.stdout);
    let found = format!("found another run's lock on stack `{}` in {REGION}: `apply` by ", stack.name);
    assert!(a.stdout.contains(&found), "{}", a.stdout);
    assert!(a.stdout.contains("the other lock is left as it is"), "{}", a.stdout);

    // B gives back its own.
    b.type_keys("no\n");
    let b = b.finish(Duration::from_secs(20));
    assert_eq!(b.code, 1, "{}", b.stdout);
    assert!(!b.stdout.contains("another run's lock") && !b.stdout.contains("error:"), "{}", b.stdout);
    assert!(!locked(&stack), "B gave its lock back");
}

#[test]
fn a_run_whose_lock_was_force_unlocked_says_so_when_it_ends() {
    let stack = stack_copy("examples/minimal.yaml", "unlocked");
    let mut a = cli(&stack).args(["apply"]).start_on_terminal();
    a.wait_for(PROMPT, Duration::from_secs(60));
    cli(&stack).args(["force-unlock", "--auto-approve"]).run().success();
    a.type_keys("no\n");
    let a = a.finish(Duration::from_secs(20));
    assert_eq!(a.code, 1, "{}", a.stdout);
    let said = format!(
        "the lock of stack `{}` in {REGION} was removed while this run held it (by `bumarket-infra force-unlock`); there was nothing to give back",
        stack.name
    );
    assert!(a.stdout.contains(&said), "{}", a.stdout);
    assert!(!a.stdout.contains("error:"), "{}", a.stdout);
}

#[test]
fn force_unlock_refuses_a_lock_that_changed_hands_while_it_asked() {
    let stack = stack_copy("examples/minimal.yaml", "handover");
    lock_bucket();
    hold(&stack, "ci-runner-7", 4242);
    let mut unlock = cli(&stack).args(["force-unlock"]).start_on_terminal();
    unlock.wait_for(PROMPT, Duration::from_secs(60));
    // While it asks, that run ends and another takes the lock.
    hold(&stack, "ci-runner-8", 4343);
    unlock.type_keys("yes\n");
    let run = unlock.finish(Duration::from_secs(20));
    assert_eq!(lock_holder(&stack)["host"], "ci-runner-8", "the new lock stays: {}", run.stdout);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("is locked by `apply` by arn:aws:iam::123456789012:user/ci on ci-runner-7"),
        "{}",
        run.stdout
    );
    let error = format!(
        "error: removing the lock: the lock of stack `{}` in {REGION} changed hands since it was shown: it is now locked by `apply` by arn:aws:iam::123456789012:user/ci on ci-runner-8 (process 4343) since 2026-11-25T10:00:00Z; nothing was changed",
        stack.name
    );
    assert!(run.stdout.contains(&error), "{}", run.stdout);
    assert!(
        run.stdout.contains("  = help: run `bumarket-infra force-unlock` again to see who holds it now"),
        "{}",
        run.stdout
    );
    // Shown again, the new lock is removed.
    let again = cli(&stack).args(["force-unlock", "--auto-approve"]).run().success();
    assert!(again.stderr.contains("ci-runner-8"), "{}", again.stderr);
    assert!(!locked(&stack));
}
