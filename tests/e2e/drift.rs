//! Drift: a change made in AWS outside bumarket-infra shows in `plan` marked as drift
//! (told apart from an edit of the stack file by the `bumarket-infra:applied` tag), and
//! `apply` puts it back.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";
const ACCOUNT: &str = "123456789012";
const DRIFT: &str = "(drift: changed outside bumarket-infra)";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

/// The JSON plan's change of `attribute` on `address`.
fn change(doc: &Value, address: &str, attribute: &str) -> Value {
    let r = doc["resources"].as_array().unwrap().iter().find(|r| r["address"] == address).expect(address);
    r["changes"].as_array().unwrap().iter().find(|c| c["attribute"] == attribute).cloned().unwrap_or(Value::Null)
}

/// The line of the human plan that contains `needle`.
fn line<'a>(plan: &'a str, needle: &str) -> &'a str {
    plan.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with `{needle}` in:\n{plan}"))
}

#[test]
fn a_change_made_outside_is_drift_a_file_edit_is_not_and_apply_puts_both_right() {
    let stack = stack_copy("examples/minimal.yaml", "outside");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let logs = format!("{}-logs-{ACCOUNT}-{REGION}", stack.name);

    // The record is on the bucket, short enough for AWS.
    let tags = aws(&["s3api", "get-bucket-tagging", "--bucket", &logs]);
    let record = tags["TagSet"].as_array().unwrap().iter().find(|t| t["Key"] == "bumarket-infra:applied").cloned();
    let record = record.unwrap_or_else(|| panic!("no applied record: {tags}"));
    let record = record["Value"].as_str().unwrap();
    assert!(record.starts_with("v1.") && record.len() <= 256, "{record}");

    // Someone shortens the logs' expiry in the console.
    let thirty =
        r#"{"Rules":[{"ID":"expire-logs","Status":"Enabled","Filter":{"Prefix":""},"Expiration":{"Days":30}}]}"#;
    aws(&["s3api", "put-bucket-lifecycle-configuration", "--bucket", &logs, "--lifecycle-configuration", thirty]);

    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2).stdout;
    assert!(line(&plan, "~ bucket.logs").ends_with(DRIFT), "{plan}");
    let days = line(&plan, "lifecycle[0].expire_after_days");
    assert!(days.contains("30 -> 180") && days.ends_with(DRIFT), "{plan}");
    assert!(!plan.contains("bumarket-infra:applied"), "the record is never a change line:\n{plan}");
    assert!(plan.contains("Plan: 0 to add, 1 to change, 0 to destroy."), "{plan}");
    let doc: Value = serde_json::from_str(&cli(&stack).args(["plan", "--json"]).run().success().stdout).unwrap();
    assert_eq!(change(&doc, "bucket.logs", "lifecycle")["drift"], true, "{doc}");

    // The file now asks for versioning: that is an edit, not drift.
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let edited = text.replacen("  logs:\n", "  logs:\n    versioning: true\n", 1);
    assert_ne!(text, edited, "minimal.yaml's logs bucket changed shape");
    std::fs::write(&stack.path, edited).unwrap();
    let plan = cli(&stack).args(["plan"]).run().success().stdout;
    let versioning = line(&plan, "versioning");
    assert!(versioning.contains("false -> true") && !versioning.contains("drift"), "{plan}");
    assert!(line(&plan, "lifecycle[0].expire_after_days").ends_with(DRIFT), "{plan}");
    assert!(!line(&plan, "~ bucket.logs").contains("drift"), "not every change is drift:\n{plan}");
    let doc: Value = serde_json::from_str(&cli(&stack).args(["plan", "--json"]).run().success().stdout).unwrap();
    assert_eq!(change(&doc, "bucket.logs", "versioning")["drift"], false, "{doc}");
    assert_eq!(change(&doc, "bucket.logs", "lifecycle")["drift"], true, "{doc}");

    // Apply puts the expiry back and turns versioning on; then nothing is left to do.
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let lc = aws(&["s3api", "get-bucket-lifecycle-configuration", "--bucket", &logs]);
    assert_eq!(lc["Rules"][0]["Expiration"]["Days"], 180, "{lc}");
    let v = aws(&["s3api", "get-bucket-versioning", "--bucket", &logs]);
    assert_eq!(v["Status"], "Enabled", "{v}");
    let again = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0).stdout;
    assert!(again.contains("No changes."), "{again}");
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn a_stack_applied_without_the_record_converges_and_says_why() {
    let stack = stack_copy("examples/minimal.yaml", "norecord");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    // As if applied by a version without drift detection: no record on the images bucket.
    let images = format!("{}-images-{ACCOUNT}-{REGION}", stack.name);
    let tags = aws(&["s3api", "get-bucket-tagging", "--bucket", &images]);
    let kept: Vec<Value> =
        tags["TagSet"].as_array().unwrap().iter().filter(|t| t["Key"] != "bumarket-infra:applied").cloned().collect();
    assert!(kept.len() < tags["TagSet"].as_array().unwrap().len(), "{tags}");
    let tagging = serde_json::json!({ "TagSet": kept }).to_string();
    aws(&["s3api", "put-bucket-tagging", "--bucket", &images, "--tagging", &tagging]);

    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2).stdout;
    assert!(line(&plan, "~ bucket.images").contains("records what was applied"), "{plan}");
    assert!(!plan.contains("bumarket-infra:applied") && !plan.contains("tags"), "{plan}");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}
