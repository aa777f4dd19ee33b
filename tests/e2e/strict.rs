//! The seed stack on AWS's terms: the strict test bed (`Emulator::strict()`,
//! scripts/moto_strict.py) answers as AWS documents where moto is kinder, so what would
//! fail or churn on a real account fails here. Each rule is named where a step meets it.

use crate::support::{Cli, Emulator, Proxy, TempStack};
use serde_json::Value;
use std::time::Duration;

const REGION: &str = "ap-northeast-2";

fn strict() -> &'static Emulator {
    Emulator::strict()
}

fn cli(stack: &TempStack) -> Cli {
    Cli::new(strict()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    strict().aws(REGION, args)
}

fn edit(stack: &TempStack, from: &str, to: &str) {
    let text = std::fs::read_to_string(&stack.path).unwrap();
    assert!(text.contains(from), "{from:?} in {}", stack.path.display());
    std::fs::write(&stack.path, text.replacen(from, to, 1)).unwrap();
}

/// POST a control endpoint of the strict test bed.
fn control(path: &str, body: &str) -> Value {
    let addr = strict().endpoint.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect to the strict emulator");
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    std::io::Write::write_all(&mut conn, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut conn, &mut answer).unwrap();
    let json = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{path}: {e}: {answer}"))
}

fn no_changes(stack: &TempStack) {
    let plan = cli(stack).args(["plan", "--detailed-exitcode"]).run();
    assert_eq!(plan.code, 0, "a converged plan on AWS's terms:\n{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

#[test]
fn the_seed_stack_applies_converges_refreshes_and_is_destroyed_on_aws_terms() {
    let stack = crate::stack_bumarket::seed_stack("strict");
    // Apply: only an orderable database class is accepted (rule 7), new VPCs and subnets
    // are not visible at once (rule 6), the new instance profile is not usable by Auto
    // Scaling for a while (rule 2), nor the new log delivery role by Firehose (rule 9;
    // CloudWatch Logs' role is as old by the time the stream is active, so its filters
    // need not wait).
    let run = cli(&stack).args(["apply", "--auto-approve"]).run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for waited in
        ["waiting for IAM to make it visible to Auto Scaling", "waiting for IAM to make it usable by Firehose"]
    {
        assert!(run.stderr.contains(waited), "no `{waited}`: {}", run.stderr);
    }
    let db = format!("{}-db", stack.name);
    let i = &aws(&["rds", "describe-db-instances", "--db-instance-identifier", &db])["DBInstances"][0];
    assert_eq!(i["DBInstanceClass"], "db.t3.small");

    // Converged at once, while the tagging index still lags behind (rule 3) and IAM's
    // lists carry no tags (rule 1); the e-mail subscription stays pending (rule 5).
    no_changes(&stack);
    std::thread::sleep(Duration::from_secs(7));
    no_changes(&stack);

    // Storage autoscaling grows the database past the file's 20 GiB (rule 4): no shrink.
    control("/__testbed/rds/grow-storage", &format!("{{\"id\": \"{db}\", \"gb\": 31}}"));
    no_changes(&stack);

    // A new instance type rolls the fleet, launching before terminating.
    edit(&stack, "instance_type: t2.micro", "instance_type: t3.small");
    let proxy = Proxy::start(strict(), &["--slow", "refresh=4"]);
    let run = proxy.cli(strict(), &stack).args(["apply", "--auto-approve"]).run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let prefs = &proxy.stats()["refresh_preferences"][0];
    assert_eq!(prefs["MaxHealthyPercentage"], "200", "{prefs}");
    no_changes(&stack);

    // Destroy, deletion protection off first.
    edit(
        &stack,
        "  deletion_protection: true    # default\n  apply_immediately",
        "  deletion_protection: false\n  apply_immediately",
    );
    edit(&stack, "deletion_protection: true    # default: protected load balancer", "deletion_protection: false");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let run = cli(&stack).args(["destroy", "--auto-approve"]).run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let f = format!("Name=tag:bumarket-infra:stack,Values={}", stack.name);
    assert!(aws(&["ec2", "describe-vpcs", "--filters", &f])["Vpcs"].as_array().unwrap().is_empty());
    // The index still lists what was just deleted (rule 3): a plan is not fooled.
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(!plan.stdout.contains("  - "), "nothing to delete after destroy:\n{}", plan.stdout);
}

#[test]
fn credentials_without_s3_tag_resource_still_get_their_buckets_tagged() {
    // AWS answers a CreateBucket that carries tags with AccessDenied when the identity
    // lacks s3:TagResource (S3 API reference, CreateBucketConfiguration.Tags).
    let stack = crate::support::stack_copy("examples/minimal.yaml", "no-tag-resource");
    let emu = Emulator::shared();
    let proxy = Proxy::start(emu, &["--deny-tagged-create-bucket"]);
    let run = proxy.cli(emu, &stack).args(["apply", "--auto-approve"]).run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("may not tag a bucket as they create it (s3:TagResource)"), "{}", run.stderr);
    assert!(proxy.faults("deny") >= 2, "{}", proxy.stats());
    for logical in ["images", "logs"] {
        let name = format!("{}-{logical}-123456789012-{REGION}", stack.name);
        let tags = emu.aws(REGION, &["s3api", "get-bucket-tagging", "--bucket", &name]);
        assert!(tags.to_string().contains(&stack.name), "{name}: {tags}");
    }
    let plan = Cli::new(emu).args(["-f", stack.path.to_str().unwrap(), "plan", "--detailed-exitcode"]).run();
    assert_eq!(plan.code, 0, "{}", plan.stdout);
    Cli::new(emu).args(["-f", stack.path.to_str().unwrap(), "destroy", "--auto-approve"]).run().success();
}

fn mails() -> Value {
    let addr = strict().endpoint.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    let request = format!("GET /__testbed/sns/mails HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    std::io::Write::write_all(&mut conn, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut conn, &mut answer).unwrap();
    serde_json::from_str(answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)).unwrap()
}

#[test]
fn an_unconfirmed_subscription_neither_churns_nor_mails_again_and_the_plan_says_why() {
    // SNS keeps an e-mail subscription pending until its link is clicked and deletes it
    // unconfirmed after 48 hours (SNS developer guide); strict mode does both.
    let stack = crate::support::stack_copy("tests/stacks/monitoring.yaml", "strict-mail");
    edit(&stack, "emails: [ops@shop.example]", "emails: [ops-strict@shop.example]");
    let email = "ops-strict@shop.example";
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(mails()[email], 1, "one confirmation mail");
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run();
    assert_eq!(plan.code, 0, "pending is no change:\n{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains(&format!("Note: `subscription.0` {email}: pending confirmation since ")),
        "{}",
        plan.stdout
    );

    // 48 hours later SNS has deleted it: still no change, and no second mail.
    control("/__testbed/sns/expire-pending", "{}");
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run();
    assert_eq!(plan.code, 0, "expired is no change:\n{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("AWS has no subscription for it although a link was mailed"), "{}", plan.stdout);
    assert!(plan.stdout.contains("`bumarket-infra apply --resubscribe` mails a new link"), "{}", plan.stdout);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(mails()[email], 1, "apply does not mail the team again");

    // Asked for, a new link goes out once.
    let plan = cli(&stack).args(["plan", "--resubscribe", "--detailed-exitcode"]).run().code_is(2);
    assert!(plan.stdout.contains("+ subscription.0"), "{}", plan.stdout);
    cli(&stack).args(["apply", "--auto-approve", "--resubscribe"]).run().success();
    assert_eq!(mails()[email], 2);
    control("/__testbed/sns/confirm", &format!("{{\"endpoint\": \"{email}\"}}"));
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(!plan.stdout.contains("Note:"), "confirmed: nothing to say:\n{}", plan.stdout);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}
