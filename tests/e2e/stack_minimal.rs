//! End-to-end tests: the real binary against the moto server, every result checked with
//! an independent client (awscli). Each test uses its own stack name, so tests share one
//! emulator and run in parallel without resetting it.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";
const ACCOUNT: &str = "123456789012";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

fn bucket(stack: &TempStack, logical: &str) -> String {
    format!("{}-{logical}-{ACCOUNT}-{REGION}", stack.name)
}

/// ARNs of everything the tagging API lists for the stack.
fn tagged(stack: &TempStack) -> Vec<String> {
    let tag = format!("Key=bumarket-infra:stack,Values={}", stack.name);
    let out = aws(&["resourcegroupstaggingapi", "get-resources", "--tag-filters", &tag]);
    out["ResourceTagMappingList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ResourceARN"].as_str().unwrap().to_string())
        .collect()
}

fn iam_names(stack: &TempStack, what: &str) -> Vec<String> {
    let path = format!("/bumarket-infra/{}/", stack.name);
    let (cmd, list, key) = match what {
        "roles" => ("list-roles", "Roles", "RoleName"),
        "groups" => ("list-groups", "Groups", "GroupName"),
        _ => ("list-instance-profiles", "InstanceProfiles", "InstanceProfileName"),
    };
    let out = aws(&["iam", cmd, "--path-prefix", &path]);
    // moto gap: ListInstanceProfiles ignores --path-prefix, so the path is checked here.
    let mut names: Vec<String> = out[list]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Path"] == path.as_str())
        .map(|r| r[key].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn apply(stack: &TempStack) {
    cli(stack).args(["apply", "--auto-approve"]).run().success();
}

#[test]
fn apply_builds_the_minimal_stack_and_a_second_plan_shows_no_changes() {
    let stack = stack_copy("examples/minimal.yaml", "apply");
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert!(run.stderr.contains("Apply complete"), "{}", run.stderr);

    // Buckets, as another client sees them.
    let logs = bucket(&stack, "logs");
    let lc = aws(&["s3api", "get-bucket-lifecycle-configuration", "--bucket", &logs]);
    assert_eq!(lc["Rules"][0]["Expiration"]["Days"], 180, "{lc}");
    let enc = aws(&["s3api", "get-bucket-encryption", "--bucket", &logs]);
    assert_eq!(
        enc["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
    let pab = aws(&["s3api", "get-public-access-block", "--bucket", &logs]);
    for k in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"] {
        assert_eq!(pab["PublicAccessBlockConfiguration"][k], true, "{k}");
    }
    let own = aws(&["s3api", "get-bucket-ownership-controls", "--bucket", &logs]);
    assert_eq!(own["OwnershipControls"]["Rules"][0]["ObjectOwnership"], "BucketOwnerEnforced");
    let policy = aws(&["s3api", "get-bucket-policy", "--bucket", &logs]);
    let policy: Value = serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
    assert!(policy.to_string().contains("aws:SecureTransport"), "{policy}");
    let images = bucket(&stack, "images");
    let tags = aws(&["s3api", "get-bucket-tagging", "--bucket", &images]);
    assert!(tags["TagSet"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["Key"] == "bumarket-infra:resource" && t["Value"] == "bucket.images"));
    assert_eq!(tagged(&stack).len(), 2);

    // IAM, under the stack's path.
    let roles = iam_names(&stack, "roles");
    assert!(roles.contains(&format!("{}-app", stack.name)), "{roles:?}");
    assert_eq!(iam_names(&stack, "profiles"), vec![format!("{}-app", stack.name)]);
    let app = format!("{}-app", stack.name);
    let inline = aws(&["iam", "get-role-policy", "--role-name", &app, "--policy-name", "bumarket-infra"]);
    let doc = inline["PolicyDocument"].to_string();
    assert!(doc.contains(&format!("arn:aws:s3:::{logs}/")) && doc.contains("s3:PutObject"), "{doc}");
    assert!(!iam_names(&stack, "groups").is_empty());

    let again = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    // A second apply changes nothing and creates no duplicate.
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(tagged(&stack).len(), 2);

    let out = cli(&stack).args(["output", "--json"]).run().success();
    let out: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(out["bucket.logs"]["name"], logs.as_str());
    assert_eq!(out["role.app"]["arn"], format!("arn:aws:iam::{ACCOUNT}:role/bumarket-infra/{}/{app}", stack.name));
}

#[test]
fn drift_made_outside_shows_in_plan_and_apply_reverts_it() {
    let stack = stack_copy("examples/minimal.yaml", "drift");
    apply(&stack);
    let logs = bucket(&stack, "logs");
    let thirty = r#"{"Rules":[{"ID":"expire-logs","Status":"Enabled","Filter":{"Prefix":""},"Expiration":{"Days":30},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":7}}]}"#;
    aws(&["s3api", "put-bucket-lifecycle-configuration", "--bucket", &logs, "--lifecycle-configuration", thirty]);

    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2);
    assert!(plan.stdout.contains("~ bucket.logs"), "{}", plan.stdout);
    assert!(plan.stdout.contains("lifecycle[0].expire_after_days   30 -> 180"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."), "{}", plan.stdout);

    apply(&stack);
    let lc = aws(&["s3api", "get-bucket-lifecycle-configuration", "--bucket", &logs]);
    assert_eq!(lc["Rules"][0]["Expiration"]["Days"], 180);
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
}

#[test]
fn plan_json_is_one_document_on_stdout() {
    let stack = stack_copy("examples/minimal.yaml", "json");
    let run = cli(&stack).args(["plan", "--json", "--detailed-exitcode"]).run().code_is(2);
    let doc: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["changes_present"], true);
    let creates = doc["resources"].as_array().unwrap().iter().filter(|r| r["action"] == "create").count();
    assert_eq!(doc["summary"]["add"], creates);
    assert!(creates >= 4);
    assert!(tagged(&stack).is_empty(), "plan must not create anything");
}

#[test]
fn destroy_leaves_nothing_of_the_stack() {
    let stack = stack_copy("examples/minimal.yaml", "destroy");
    apply(&stack);
    let run = cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(run.stderr.contains("Destroy complete"), "{}", run.stderr);
    assert!(tagged(&stack).is_empty());
    assert!(iam_names(&stack, "roles").is_empty());
    assert!(iam_names(&stack, "groups").is_empty());
    assert!(iam_names(&stack, "profiles").is_empty());
    let again = cli(&stack).args(["plan", "--json"]).run().success();
    let doc: Value = serde_json::from_str(&again.stdout).unwrap();
    assert!(doc["resources"].as_array().unwrap().iter().all(|r| r["action"] == "create"));
}

#[test]
fn destroy_refuses_a_non_empty_bucket_and_deletes_nothing() {
    let stack = stack_copy("examples/minimal.yaml", "nonempty");
    apply(&stack);
    let images = bucket(&stack, "images");
    // moto gap (MOTO-NOTES): a Deny-with-Condition policy makes moto refuse every plain
    // http write, so the test lifts the TLS-only policy before writing an object.
    aws(&["s3api", "delete-bucket-policy", "--bucket", &images]);
    let body = stack.dir.path().join("photo.jpg");
    std::fs::write(&body, b"jpeg").unwrap();
    aws(&["s3api", "put-object", "--bucket", &images, "--key", "photo.jpg", "--body", body.to_str().unwrap()]);

    let run = cli(&stack).args(["destroy", "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains(&format!("bucket `{images}` is not empty: it holds 1 object")), "{}", run.stderr);
    assert!(run.stderr.contains("force_destroy: true"), "{}", run.stderr);
    assert_eq!(tagged(&stack).len(), 2, "nothing may be deleted");
    assert!(!iam_names(&stack, "roles").is_empty());

    // Saying so in the file lets destroy empty it.
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let forced = text.replacen("images: {}", "images: {force_destroy: true}", 1);
    assert_ne!(text, forced, "minimal.yaml's images bucket changed shape");
    std::fs::write(&stack.path, forced).unwrap();
    apply(&stack);
    // Same moto gap: apply put the TLS-only policy back, which moto applies to deletes too.
    aws(&["s3api", "delete-bucket-policy", "--bucket", &images]);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(tagged(&stack).is_empty());
}

#[test]
fn a_bad_file_is_reported_with_its_location_and_changes_nothing() {
    let stack = stack_copy("examples/minimal.yaml", "bad");
    let text = std::fs::read_to_string(&stack.path).unwrap();
    std::fs::write(&stack.path, text.replacen("expire_after_days: 180", "expire_after_dayz: 180", 1)).unwrap();
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    let file = stack.path.display().to_string();
    assert!(run.stderr.contains("unknown key `expire_after_dayz`"), "{}", run.stderr);
    assert!(run.stderr.contains("did you mean `expire_after_days`?"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("--> {file}:")), "{}", run.stderr);
    assert!(tagged(&stack).is_empty());
    assert!(iam_names(&stack, "roles").is_empty());
}

#[test]
fn apply_without_a_terminal_or_auto_approve_refuses() {
    let stack = stack_copy("examples/minimal.yaml", "noterm");
    let run = cli(&stack).args(["apply"]).stdin("yes\n").run().code_is(1);
    assert!(run.stderr.contains("--auto-approve"), "{}", run.stderr);
    assert!(tagged(&stack).is_empty());
}

#[test]
fn a_bucket_that_is_not_ours_is_never_touched() {
    let stack = stack_copy("examples/minimal.yaml", "foreign");
    let images = bucket(&stack, "images");
    let loc = format!("LocationConstraint={REGION}");
    aws(&["s3api", "create-bucket", "--bucket", &images, "--create-bucket-configuration", &loc]);

    let run = cli(&stack).args(["plan"]).run().code_is(1);
    assert!(run.stderr.contains(&format!("`bucket.images` wants the name `{images}`")), "{}", run.stderr);
    assert!(run.stderr.contains("without the tag"), "{}", run.stderr);
    cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(Emulator::shared().try_aws(REGION, &["s3api", "get-bucket-tagging", "--bucket", &images]).is_err());
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    aws(&["s3api", "head-bucket", "--bucket", &images]);
}

#[test]
fn what_leaves_the_file_is_deleted_and_a_partial_stack_converges() {
    let stack = stack_copy("examples/minimal.yaml", "converge");
    apply(&stack);
    // Something deleted outside (as after an interrupted run) is created again.
    let app = format!("{}-app", stack.name);
    aws(&["iam", "remove-role-from-instance-profile", "--instance-profile-name", &app, "--role-name", &app]);
    aws(&["iam", "delete-instance-profile", "--instance-profile-name", &app]);
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("+ instance_profile.app"), "{}", plan.stdout);
    apply(&stack);
    assert_eq!(iam_names(&stack, "profiles"), vec![app.clone()]);

    // A group removed from the file is deleted.
    let viewers = format!("{}-viewers", stack.name);
    assert!(iam_names(&stack, "groups").contains(&viewers));
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let without = text.replacen(
        "    viewers:\n      managed_policies: [AmazonS3ReadOnlyAccess, CloudWatchReadOnlyAccess]\n",
        "",
        1,
    );
    assert_ne!(text, without, "minimal.yaml's viewers group changed shape");
    std::fs::write(&stack.path, without).unwrap();
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("- group.viewers"), "{}", plan.stdout);
    assert!(plan.stdout.contains("(no longer in "), "{}", plan.stdout);
    apply(&stack);
    assert!(!iam_names(&stack, "groups").contains(&viewers));
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
}

#[test]
fn a_failed_call_is_reported_the_rest_finishes_and_a_rerun_converges() {
    let stack = stack_copy("examples/minimal.yaml", "partial");
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let broken = text.replacen(
        "      instance_profile: true\n",
        "      instance_profile: true\n      managed_policies: [NoSuchPolicyForTests]\n",
        1,
    );
    assert_ne!(text, broken, "minimal.yaml's app role changed shape");
    std::fs::write(&stack.path, &broken).unwrap();

    let run = cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    // The failure names the resource, the AWS call and AWS's message...
    assert!(run.stderr.contains("error: `role.app`: iam:AttachRolePolicy: NoSuchEntity"), "{}", run.stderr);
    // ...what depends on it is skipped, and everything else finished.
    assert!(run.stderr.contains("skipped `instance_profile.app` (needs `role.app`)"), "{}", run.stderr);
    assert_eq!(tagged(&stack).len(), 2, "both buckets are created");
    assert_eq!(iam_names(&stack, "groups").len(), 2);
    assert!(iam_names(&stack, "profiles").is_empty());

    // Fixing the file and running again converges: no duplicate, nothing left over.
    std::fs::write(&stack.path, &text).unwrap();
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(iam_names(&stack, "profiles").len(), 1);
    assert_eq!(tagged(&stack).len(), 2);
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
}

#[test]
fn on_a_terminal_apply_asks_and_only_yes_goes_ahead() {
    let stack = stack_copy("examples/minimal.yaml", "tty");
    let no = cli(&stack).args(["apply"]).stdin("no\n").on_terminal().run().code_is(1);
    assert!(no.stdout.contains("Apply these changes to stack"), "{}", no.stdout);
    assert!(no.stdout.contains("Only 'yes' will be accepted"), "{}", no.stdout);
    assert!(no.stdout.contains("apply cancelled; nothing was changed"), "{}", no.stdout);
    assert!(tagged(&stack).is_empty());

    let yes = cli(&stack).args(["apply"]).stdin("yes\n").on_terminal().run().success();
    assert!(yes.stdout.contains("Apply complete"), "{}", yes.stdout);
    assert_eq!(tagged(&stack).len(), 2);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn a_stack_without_network_or_database_reads_neither() {
    let stack = stack_copy("examples/minimal.yaml", "lean");
    apply(&stack);
    let plan = cli(&stack).args(["-v", "plan"]).run().success();
    let calls = plan.stderr.lines().find(|l| l.contains("AWS calls of the read")).expect("-v lists the read's calls");
    assert!(!calls.contains("EC2.") && !calls.contains("RDS."), "{calls}");
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
}

#[test]
fn every_bucket_aborts_failed_uploads_and_logs_its_requests_into_the_log_bucket() {
    // A policy value as one string, whether written as a string or a one-element list.
    let one = |v: &Value| v.as_str().or_else(|| v[0].as_str()).unwrap_or_default().to_string();
    // FSBP S3.13 and S3.9, as an independent client sees the applied buckets.
    let stack = stack_copy("examples/minimal.yaml", "fsbp-s3");
    apply(&stack);
    let (images, logs) = (bucket(&stack, "images"), bucket(&stack, "logs"));

    // images: no rule in the file, so the default rule of its own; logs: its rule aborts.
    let rules = |b: &str| aws(&["s3api", "get-bucket-lifecycle-configuration", "--bucket", b])["Rules"].clone();
    let images_rules = rules(&images);
    assert_eq!(images_rules[0]["ID"], "bumarket-infra-abort-incomplete-uploads", "{images_rules}");
    assert_eq!(images_rules[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"], 7, "{images_rules}");
    let logs_rules = rules(&logs);
    assert_eq!(logs_rules[0]["ID"], "expire-logs", "{logs_rules}");
    assert_eq!(logs_rules[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"], 7, "{logs_rules}");

    // images logs its requests into logs under its own prefix; logs does not log itself.
    let logging = aws(&["s3api", "get-bucket-logging", "--bucket", &images]);
    assert_eq!(logging["LoggingEnabled"]["TargetBucket"], logs.as_str(), "{logging}");
    assert_eq!(logging["LoggingEnabled"]["TargetPrefix"], "s3/images/", "{logging}");
    let own = aws(&["s3api", "get-bucket-logging", "--bucket", &logs]);
    assert!(own.get("LoggingEnabled").is_none(), "{own}");
    // The log bucket lets S3's logging service write there, for images of this account only.
    let policy = aws(&["s3api", "get-bucket-policy", "--bucket", &logs]);
    let policy: Value = serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
    let delivery = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| one(&s["Principal"]["Service"]) == "logging.s3.amazonaws.com")
        .unwrap_or_else(|| panic!("no log delivery statement in {policy}"))
        .clone();
    assert_eq!(one(&delivery["Resource"]), format!("arn:aws:s3:::{logs}/s3/images/*"), "{delivery}");
    assert_eq!(one(&delivery["Condition"]["ArnLike"]["aws:SourceArn"]), format!("arn:aws:s3:::{images}"), "{delivery}");
    assert_eq!(one(&delivery["Condition"]["StringEquals"]["aws:SourceAccount"]), ACCOUNT, "{delivery}");

    // Converged; and logging switched off outside the tool is drift the next apply reverts.
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    aws(&["s3api", "put-bucket-logging", "--bucket", &images, "--bucket-logging-status", "{}"]);
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2);
    assert!(plan.stdout.contains("~ bucket.images"), "{}", plan.stdout);
    apply(&stack);
    let logging = aws(&["s3api", "get-bucket-logging", "--bucket", &images]);
    assert_eq!(logging["LoggingEnabled"]["TargetPrefix"], "s3/images/", "{logging}");

    // S3 delivers the logs hours later (the test bed, when told): they land under the
    // prefix, and destroy then keeps the log bucket, as it keeps every log.
    let delivered = Emulator::shared().control("/__testbed/s3/deliver-logs", &serde_json::json!({"bucket": images}));
    assert!(delivered["delivered"].as_u64().is_some_and(|n| n > 0), "{delivered}");
    let listed = aws(&["s3api", "list-objects-v2", "--bucket", &logs, "--prefix", "s3/images/"]);
    assert!(listed["Contents"].as_array().is_some_and(|c| !c.is_empty()), "{listed}");
    let refused = cli(&stack).args(["destroy", "--auto-approve"]).run().code_is(1);
    assert!(refused.stderr.contains(&format!("bucket `{logs}` is not empty")), "{}", refused.stderr);
}
