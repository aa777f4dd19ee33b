//! Slow AWS: the fault proxy makes fresh resources report in-progress states for a
//! while, as AWS does (moto makes everything ready at once): the database `creating`,
//! the load balancer `provisioning`, instances `pending`, targets `initial`. Apply must
//! show what it waits for, overlap independent waits, make nothing wait for what it does
//! not need, and give up after the file's timeout saying what it waited for.
//! The timings themselves are for `scripts/bench-apply`; these tests check order.

use crate::support::{stack_copy, Cli, Emulator, Proxy};

fn emu() -> &'static Emulator {
    Emulator::shared()
}

/// Position of the first progress line that contains every one of `words`.
fn line_of(out: &str, words: &[&str]) -> usize {
    out.lines()
        .position(|l| words.iter().all(|w| l.contains(w)))
        .unwrap_or_else(|| panic!("no line with {words:?} in:\n{out}"))
}

#[test]
fn independent_waits_overlap_and_only_what_needs_the_database_waits_for_it() {
    let stack = crate::stack_bumarket::seed_stack("slow");
    // The database stays `creating` well past the load balancer's waits (RDS polls every
    // 30 s), so the order below holds however slow the machine is.
    // And throttled as AWS meters calls (a small bucket per service), in each service's
    // own format (5 calls at once, 4 a second): the whole stack, every protocol, comes out
    // as the file says all the same.
    let slow = "db-create=75,lb=12,instances=15,targets=20";
    let proxy = Proxy::start(emu(), &["--slow", slow, "--throttle-bucket", "5,4"]);
    let run = proxy.cli(emu(), &stack).args(["apply", "--auto-approve"]).run().success();
    let out = format!("{}\n{}", run.stdout, run.stderr);
    assert!(proxy.stats()["rewrites"].as_u64().unwrap() > 0, "the proxy slowed something: {}", proxy.stats());
    assert!(proxy.faults("throttle") > 10, "{}", proxy.stats());

    // Each wait says what it waits for.
    line_of(&out, &["database.main", "creating"]);
    line_of(&out, &["load_balancer.main", "provisioning"]);
    line_of(&out, &["autoscaling_group.app", "0/1 healthy targets"]);

    // The load balancer and the alarms (even the database's: they name it, they need not
    // wait for it) are done while the database is still being created; the fleet's
    // instances learn the database's address and secret from their launch template, so
    // the template, and the group after it, come once the database is there.
    let database_done = line_of(&out, &["✓ database.main created"]);
    for done in [
        "✓ load_balancer.main created",
        "✓ target_group.app created",
        "✓ alarm.database-cpu created",
        "✓ alarm.fleet-cpu created",
        "✓ dashboard.main created",
    ] {
        assert!(line_of(&out, &[done]) < database_done, "`{done}` waited for the database:\n{out}");
    }
    for after in ["- launch_template.app creating", "✓ autoscaling_group.app created"] {
        assert!(line_of(&out, &[after]) > database_done, "`{after}` came before the database:\n{out}");
    }
    let plan = proxy.cli(emu(), &stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

#[test]
fn a_wait_that_runs_out_says_what_it_waited_for_and_the_next_apply_finishes() {
    let stack = stack_copy("tests/stacks/database.yaml", "slow-timeout");
    let text = std::fs::read_to_string(&stack.path).unwrap().replace("  wait_timeout: 40m", "  wait_timeout: 5s");
    std::fs::write(&stack.path, text).unwrap();
    let proxy = Proxy::start(emu(), &["--slow", "db-create=3600"]);
    let run = proxy.cli(emu(), &stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains("`database.main`"), "{}", run.stderr);
    assert!(run.stderr.contains("creating"), "the error says the state it waited out: {}", run.stderr);
    assert!(run.stderr.contains("wait_timeout"), "and how to wait longer: {}", run.stderr);
    // AWS finished in the end (no proxy now): the next apply has nothing left to create.
    let again = Cli::new(emu()).args(["-f", stack.path.to_str().unwrap(), "apply", "--auto-approve"]).run().success();
    assert!(!again.stdout.contains("created"), "{}", again.stdout);
    let plan = Cli::new(emu()).args(["-f", stack.path.to_str().unwrap(), "plan", "--detailed-exitcode"]).run();
    assert!(plan.code_is(0).stdout.contains("No changes."));

    // A change applied at once: the database is `modifying` for a while, and apply waits.
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let text = text
        .replace("    retention_days: 7\n", "    retention_days: 14\n")
        .replace("  wait_timeout: 5s", "  wait_timeout: 2m");
    std::fs::write(&stack.path, text.replace("apply_immediately: false", "apply_immediately: true")).unwrap();
    let proxy = Proxy::start(emu(), &["--slow", "db-modify=5"]);
    let run = proxy.cli(emu(), &stack).args(["apply", "--auto-approve"]).run().success();
    let out = format!("{}\n{}", run.stdout, run.stderr);
    line_of(&out, &["database.main", "waiting for the database to apply the change", "modifying"]);
    line_of(&out, &["✓ database.main updated"]);
    let db = emu().aws(
        "ap-northeast-2",
        &["rds", "describe-db-instances", "--db-instance-identifier", &format!("{}-db", stack.name)],
    );
    assert_eq!(db["DBInstances"][0]["BackupRetentionPeriod"], 14);
}

#[test]
fn a_template_change_replaces_running_instances_by_a_rolling_refresh_and_waits_for_it() {
    // moto cannot run an instance refresh (HTTP 500): the proxy answers for it,
    // `InProgress` for 12 s, then `Successful`, as AWS does over many minutes.
    let stack = crate::stack_bumarket::seed_stack("refresh");
    Cli::new(emu()).args(["-f", stack.path.to_str().unwrap(), "apply", "--auto-approve"]).run().success();
    let text =
        std::fs::read_to_string(&stack.path).unwrap().replace("instance_type: t2.micro", "instance_type: t3.small");
    std::fs::write(&stack.path, text).unwrap();

    let proxy = Proxy::start(emu(), &["--slow", "refresh=12"]);
    let plan = proxy.cli(emu(), &stack).args(["plan"]).run().success();
    assert!(
        plan.stdout.contains("1 instance replaced by rolling refresh, each new one healthy before an old one goes"),
        "the plan says instances are replaced: {}",
        plan.stdout
    );
    let run = proxy.cli(emu(), &stack).args(["apply", "--auto-approve"]).run().success();
    let out = format!("{}\n{}", run.stdout, run.stderr);
    let ops = proxy.stats()["operations"].to_string();
    assert!(ops.contains("autoscaling:StartInstanceRefresh"), "{ops}");
    assert!(ops.contains("autoscaling:DescribeInstanceRefreshes"), "{ops}");
    // Launch before terminate: the seed's one instance is never gone before its
    // replacement is healthy (AWS needs MaxHealthyPercentage for that).
    let prefs = &proxy.stats()["refresh_preferences"][0];
    assert_eq!(
        (&prefs["MinHealthyPercentage"], &prefs["MaxHealthyPercentage"]),
        (&"100".into(), &"200".into()),
        "{prefs}"
    );
    line_of(&out, &["autoscaling_group.app", "rolling instance refresh", "% replaced"]);
    let done = line_of(&out, &["✓ autoscaling_group.app updated"]);
    assert!(line_of(&out, &["✓ launch_template.app updated"]) < done, "the new version comes first:\n{out}");
    let plan = proxy.cli(emu(), &stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}
