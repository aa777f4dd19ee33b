use super::*;
use crate::aws::{Aws, Options};
use std::path::Path;

async fn seed(phase: Phase) -> Value {
    let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml"));
    let stack = bumarket_stack::load_env(file, Some("prod")).unwrap();
    let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    policy(&Registry::new(Cx::new(aws, stack, "*".into(), None)), phase)
}

/// Whether `granted` (an action, or `service:Prefix*`) covers `action`.
fn covers(granted: &str, action: &str) -> bool {
    match granted.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => granted == action,
    }
}

fn actions(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .collect()
}

fn statement<'a>(policy: &'a Value, sid: &str) -> &'a Value {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no {sid} in {policy:#}"))
}

#[tokio::test]
async fn the_plan_policy_only_reads() {
    let plan = seed(Phase::Plan).await;
    let all = actions(&plan);
    assert!(
        all.contains("ec2:DescribeVpcs") && all.contains("s3:GetBucketTagging") && all.contains("tag:GetResources")
    );
    let writes: Vec<&String> = all
        .iter()
        .filter(|a| {
            let op = a.split(':').nth(1).unwrap();
            !["Describe", "Get", "List"].iter().any(|p| op.starts_with(p))
        })
        .collect();
    assert!(writes.is_empty(), "the plan policy writes: {writes:?}");
    assert!(!all.contains("sts:GetCallerIdentity"), "STS documents that it needs no permission");
}

#[tokio::test]
async fn the_apply_policy_scopes_writes_to_the_stacks_names() {
    let apply = seed(Phase::Apply).await;
    let all = actions(&apply);
    for a in
        ["ec2:CreateVpc", "rds:CreateDBInstance", "s3:PutLifecycleConfiguration", "iam:PassRole", "ec2:RunInstances"]
    {
        assert!(all.contains(a), "{a} missing");
    }
    // S3 names its actions otherwise than its operations.
    assert!(!all.contains("s3:PutBucketLifecycleConfiguration") && !all.contains("s3:HeadBucket"));
    let s3 = statement(&apply, "WriteS3");
    assert_eq!(
        s3["Resource"],
        json!([
            "arn:aws:s3:::bumarket-prod-images-*-ap-northeast-2",
            "arn:aws:s3:::bumarket-prod-logs-*-ap-northeast-2",
            "arn:aws:s3:::bumarket-prod-images-*-ap-northeast-2/*",
            "arn:aws:s3:::bumarket-prod-logs-*-ap-northeast-2/*"
        ])
    );
    let iam = statement(&apply, "WriteIAM");
    assert!(
        iam["Resource"].as_array().unwrap().iter().all(|r| r.as_str().unwrap().contains(":iam::*:")
            && r.as_str().unwrap().contains("/bumarket-infra/bumarket-prod/")),
        "{iam:#}"
    );
    assert_eq!(statement(&apply, "WriteEC2")["Resource"], "*");
    assert_eq!(
        statement(&apply, "TheStacksLock")["Resource"],
        json!([
            "arn:aws:s3:::bumarket-infra-locks-*-ap-northeast-2",
            "arn:aws:s3:::bumarket-infra-locks-*-ap-northeast-2/locks/bumarket-prod.json"
        ])
    );
    let linked = statement(&apply, "ServiceLinkedRoles");
    let services = linked["Condition"]["StringEquals"]["iam:AWSServiceName"].as_array().unwrap().len();
    assert_eq!(services, 4, "{linked:#}");
    assert!(size(&apply) < INLINE_POLICIES_LIMIT, "an inline role policy holds it: {} characters", size(&apply));
}

#[tokio::test]
async fn every_call_the_preflight_and_providers_declare_maps_to_an_action_of_the_policy() {
    let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml"));
    let stack = bumarket_stack::load_env(file, Some("prod")).unwrap();
    let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    let registry = Registry::new(Cx::new(aws, stack, "*".into(), None));
    let all = actions(&policy(&registry, Phase::Apply));
    for call in declared(&registry, Phase::Apply) {
        for action in actions_of(call) {
            assert!(all.iter().any(|a| covers(a, &action)), "{call} needs {action}");
        }
    }
    // The SDK's names of services, as the call log records them.
    let made: BTreeSet<(String, String)> = [
        ("Elastic Load Balancing v2", "CreateListener"),
        ("CloudWatch Logs", "PutSubscriptionFilter"),
        ("EC2", "DescribeImages"),
    ]
    .iter()
    .map(|(s, o)| (s.to_string(), o.to_string()))
    .collect();
    assert!(undeclared(&registry, Phase::Apply, &made).is_empty());
    assert_eq!(
        undeclared(&registry, Phase::Plan, &made),
        ["logs:PutSubscriptionFilter", "elasticloadbalancing:CreateListener"]
    );
}

/// The fleet's role found by `existing.role` is passed to Auto Scaling, by its name at
/// any IAM path, and nothing else about it is granted: the stack never changes it.
#[tokio::test]
async fn the_existing_role_of_the_fleet_is_passed_and_never_written() {
    let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stacks/existing.yaml"));
    let stack = bumarket_stack::load(file).unwrap();
    let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    let apply = policy(&Registry::new(Cx::new(aws, stack, "*".into(), None)), Phase::Apply);
    let pass = statement(&apply, "PassTheExistingRole");
    assert_eq!(pass["Action"], json!(["iam:PassRole"]));
    assert_eq!(pass["Resource"], json!(["arn:aws:iam::*:role/SHARED-ops", "arn:aws:iam::*:role/*/SHARED-ops"]));
    let names_it = |s: &&Value| s["Resource"].to_string().contains("SHARED-ops");
    let all = apply["Statement"].as_array().unwrap();
    let about: Vec<&Value> = all.iter().filter(names_it).collect();
    assert_eq!(about.len(), 1, "{about:#?}");
}
