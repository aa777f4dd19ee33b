//! Saved plans: `plan --out FILE`, then `apply FILE` applies exactly that plan and
//! nothing else, and refuses it, with "stale", when the stack file or a resource the plan
//! touches changed since.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

fn edit(stack: &TempStack, from: &str, to: &str) {
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(text, edited, "examples/minimal.yaml no longer has `{from}`");
    std::fs::write(&stack.path, edited).unwrap();
}

fn expiry_days(stack: &TempStack) -> Value {
    let logs = format!("{}-logs-123456789012-{REGION}", stack.name);
    aws(&["s3api", "get-bucket-lifecycle-configuration", "--bucket", &logs])["Rules"][0]["Expiration"]["Days"].clone()
}

fn set_expiry_outside(stack: &TempStack, days: u32) {
    let logs = format!("{}-logs-123456789012-{REGION}", stack.name);
    let rules = format!(
        r#"{{"Rules":[{{"ID":"expire-logs","Status":"Enabled","Filter":{{"Prefix":""}},"Expiration":{{"Days":{days}}},"AbortIncompleteMultipartUpload":{{"DaysAfterInitiation":7}}}}]}}"#
    );
    aws(&["s3api", "put-bucket-lifecycle-configuration", "--bucket", &logs, "--lifecycle-configuration", &rules]);
}

fn versioning(stack: &TempStack) -> Value {
    let images = format!("{}-images-123456789012-{REGION}", stack.name);
    aws(&["s3api", "get-bucket-versioning", "--bucket", &images]).get("Status").cloned().unwrap_or(Value::Null)
}

#[test]
fn a_saved_plan_is_applied_exactly_and_nothing_else() {
    let stack = stack_copy("examples/minimal.yaml", "saved");
    let file = stack.dir.path().join("pr.plan");
    let file = file.to_str().unwrap();
    let made = cli(&stack).args(["plan", "--out", file]).run().success();
    assert!(made.stderr.contains("Saved the plan to"), "{}", made.stderr);
    let saved = std::fs::read_to_string(file).unwrap();
    assert!(
        saved.contains(&format!("\"tool_version\": \"{}\"", env!("CARGO_PKG_VERSION"))),
        "says which version wrote it"
    );
    cli(&stack).args(["apply", file, "--auto-approve"]).run().success();
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);

    // A plan that turns versioning on; meanwhile the logs bucket drifts, untouched by it.
    edit(&stack, "images: {}", "images: {versioning: true}");
    cli(&stack).args(["plan", "--out", file]).run().success();
    set_expiry_outside(&stack, 30);
    cli(&stack).args(["apply", file, "--auto-approve"]).run().success();
    assert_eq!(versioning(&stack), "Enabled");
    assert_eq!(expiry_days(&stack), 30, "the saved plan did not touch the logs bucket");
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("lifecycle[0].expire_after_days   30 -> 180"), "{}", plan.stdout);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn a_stale_saved_plan_is_refused_and_changes_nothing() {
    let stack = stack_copy("examples/minimal.yaml", "stale");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let file = stack.dir.path().join("pr.plan");
    let file = file.to_str().unwrap();

    // The stack file changed after the plan was made.
    edit(&stack, "expire_after_days: 180", "expire_after_days: 90");
    cli(&stack).args(["plan", "--out", file]).run().success();
    edit(&stack, "images: {}", "images: {versioning: true}");
    let run = cli(&stack).args(["apply", file, "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains("stale") && run.stderr.contains("the stack file changed"), "{}", run.stderr);
    assert_eq!(expiry_days(&stack), 180, "nothing was changed");

    // A resource the plan touches changed in AWS after the plan was made.
    edit(&stack, "images: {versioning: true}", "images: {}");
    cli(&stack).args(["plan", "--out", file]).run().success();
    set_expiry_outside(&stack, 30);
    let run = cli(&stack).args(["apply", file, "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains("stale") && run.stderr.contains("`bucket.logs` changed in AWS"), "{}", run.stderr);
    assert_eq!(expiry_days(&stack), 30, "nothing was changed");
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}
