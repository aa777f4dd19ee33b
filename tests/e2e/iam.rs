//! IAM reads as AWS answers them (issue 9, points 2 and 13): the stack's roles, groups
//! and instance profiles are found by the stack's IAM path and the file's names, never by
//! listing the whole account, and their tags are read where AWS returns them.
//!
//! The strict emulator (`Emulator::strict()`, scripts/moto_strict.py rule 1) answers
//! ListRoles and ListInstanceProfiles without tags, as the IAM API Reference says AWS
//! does ("this operation does not return tags"); moto alone returns them.

use crate::support::{stack_copy, Cli, Emulator, Proxy, TempStack};
use serde_json::Value;
use std::collections::BTreeMap;

const REGION: &str = "ap-northeast-2";

fn cli(emu: &Emulator, stack: &TempStack) -> Cli {
    Cli::new(emu).args([std::path::Path::new("-f"), &stack.path])
}

fn tags_of(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| (t["Key"].as_str().unwrap().to_string(), t["Value"].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A second role without an instance profile, trusted by the account.
const REVIEWER: &str = "    reviewer:\n      assumed_by: {account: {require_mfa: true}}\n      managed_policies: [AmazonS3ReadOnlyAccess]\n";

fn with_reviewer(stack: &TempStack) -> (String, String) {
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let more = text.replacen("  roles:\n", &format!("  roles:\n{REVIEWER}"), 1);
    assert_ne!(text, more, "examples/minimal.yaml has no `roles:`");
    (text, more)
}

#[test]
fn where_lists_carry_no_tags_the_minimal_stack_converges_and_its_profile_keeps_its_tags() {
    let emu = Emulator::strict();
    let stack = stack_copy("examples/minimal.yaml", "iam-strict");
    let (without, with) = with_reviewer(&stack);
    std::fs::write(&stack.path, &with).unwrap();
    cli(emu, &stack).args(["apply", "--auto-approve"]).run().success();

    // The test bed hides the tags where AWS does, so this test means something.
    let path = format!("/bumarket-infra/{}/", stack.name);
    let app = format!("{}-app", stack.name);
    let listed = emu.aws(REGION, &["iam", "list-instance-profiles", "--path-prefix", &path]);
    let entry =
        listed["InstanceProfiles"].as_array().unwrap().iter().find(|p| p["InstanceProfileName"] == app.as_str());
    assert!(entry.is_some_and(|p| p["Tags"].is_null()), "{listed}");

    let plan = cli(emu, &stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // Another client sees the stack's tags on the profile (GetInstanceProfile returns them).
    let profile = emu.aws(REGION, &["iam", "get-instance-profile", "--instance-profile-name", &app]);
    let tags = tags_of(&profile["InstanceProfile"]["Tags"]);
    assert_eq!(tags.get("bumarket-infra:stack"), Some(&stack.name), "{profile}");
    assert_eq!(tags.get("bumarket-infra:resource").map(String::as_str), Some("instance_profile.app"), "{profile}");
    assert!(tags.contains_key("bumarket-infra:applied"), "{profile}");

    // A role that leaves the file is found under the path (its list entry has no tags)
    // and deleted; what stays converges.
    std::fs::write(&stack.path, &without).unwrap();
    let plan = cli(emu, &stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("- role.reviewer"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 0 to add, 0 to change, 1 to destroy."), "{}", plan.stdout);
    cli(emu, &stack).args(["apply", "--auto-approve"]).run().success();
    let reviewer = format!("{}-reviewer", stack.name);
    let gone = emu.try_aws(REGION, &["iam", "get-role", "--role-name", &reviewer]).unwrap_err();
    assert!(gone.contains("NoSuchEntity"), "{gone}");
    cli(emu, &stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    cli(emu, &stack).args(["destroy", "--auto-approve"]).run().success();
}

/// `service:Operation` of every call the proxy saw, counted.
fn operations(proxy: &Proxy) -> BTreeMap<String, usize> {
    let mut ops = BTreeMap::new();
    for op in proxy.stats()["operations"].as_array().unwrap() {
        *ops.entry(op.as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    ops
}

/// One converged plan through a fresh proxy: the calls it made, and its read summary.
fn converged_plan(emu: &Emulator, stack: &TempStack) -> (BTreeMap<String, usize>, String) {
    let proxy = Proxy::start(emu, &[]);
    let plan = proxy.cli(emu, stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    let summary = plan.stderr.lines().find(|l| l.contains("round trips")).expect("the read summary line");
    let calls = summary.split(';').nth(1).unwrap_or(summary).split(" in ").next().unwrap().trim().to_string();
    (operations(&proxy), calls)
}

#[test]
fn the_read_asks_iam_only_for_the_stack_and_costs_the_same_in_a_crowded_account() {
    let emu = Emulator::shared();
    let stack = stack_copy("examples/minimal.yaml", "iam-crowd");
    cli(emu, &stack).args(["apply", "--auto-approve"]).run().success();
    let (before, calls_before) = converged_plan(emu, &stack);

    // 30 roles and 10 groups of others: at the root, under another team's path and under
    // another stack's path (which shares the stack's name as a prefix).
    let neighbour = format!("/bumarket-infra/{}-next/", stack.name);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let paths = ["/", "/other-team/", neighbour.as_str()];
    std::thread::scope(|s| {
        for worker in 0..4 {
            let (stack, paths) = (&stack, &paths);
            s.spawn(move || {
                for i in (worker..40).step_by(4) {
                    let path = paths[i % 3];
                    let name = format!("{}-other-{i}", stack.name);
                    if i < 30 {
                        emu.aws(
                            REGION,
                            &[
                                "iam",
                                "create-role",
                                "--role-name",
                                &name,
                                "--path",
                                path,
                                "--assume-role-policy-document",
                                trust,
                            ],
                        );
                    } else {
                        emu.aws(REGION, &["iam", "create-group", "--group-name", &name, "--path", path]);
                    }
                }
            });
        }
    });

    let (after, calls_after) = converged_plan(emu, &stack);
    assert!(!after.contains_key("iam:GetAccountAuthorizationDetails"), "{after:?}");
    assert!(!before.contains_key("iam:GetAccountAuthorizationDetails"), "{before:?}");
    assert_eq!(after, before, "the plan's calls changed with the rest of the account");
    assert_eq!(calls_after, calls_before);
    // By name, only what the file names: one role, one profile, two groups.
    assert_eq!(after.get("iam:GetRole"), Some(&1), "{after:?}");
    assert_eq!(after.get("iam:GetInstanceProfile"), Some(&1), "{after:?}");
    assert_eq!(after.get("iam:GetGroup"), Some(&2), "{after:?}");
    cli(emu, &stack).args(["destroy", "--auto-approve"]).run().success();
    // The others' roles and groups are untouched.
    for i in 0..40 {
        let name = format!("{}-other-{i}", stack.name);
        if i < 30 {
            emu.aws(REGION, &["iam", "get-role", "--role-name", &name]);
        } else {
            emu.aws(REGION, &["iam", "get-group", "--group-name", &name]);
        }
    }
}

#[test]
fn a_profile_of_the_wanted_name_outside_the_path_stops_the_plan_naming_it() {
    let emu = Emulator::shared();
    let stack = stack_copy("examples/minimal.yaml", "iam-foreign");
    let app = format!("{}-app", stack.name);
    emu.aws(REGION, &["iam", "create-instance-profile", "--instance-profile-name", &app, "--path", "/"]);
    let run = cli(emu, &stack).args(["plan"]).run().code_is(1);
    assert!(
        run.stderr.contains(&format!(
            "`instance_profile.app` wants the name `{app}`, but an instance profile of that name exists outside the path `/bumarket-infra/{}/`",
            stack.name
        )),
        "{}",
        run.stderr
    );
    // A role of a wanted name outside the path, likewise.
    emu.aws(REGION, &["iam", "delete-instance-profile", "--instance-profile-name", &app]);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    emu.aws(REGION, &["iam", "create-role", "--role-name", &app, "--assume-role-policy-document", trust]);
    let run = cli(emu, &stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(
        run.stderr.contains(&format!(
            "`role.app` wants the name `{app}`, but a role of that name exists outside the path `/bumarket-infra/{}/`",
            stack.name
        )),
        "{}",
        run.stderr
    );
    let role = emu.aws(REGION, &["iam", "get-role", "--role-name", &app]);
    assert_eq!(role["Role"]["Path"], "/", "the other role is untouched: {role}");
    emu.aws(REGION, &["iam", "delete-role", "--role-name", &app]);
}
