//! Cloud9 with canned answers: the emulator has no Cloud9 at all (MOTO-NOTES: HTTP 500),
//! so every call of this provider is tested against `aws-smithy-mocks`.

use super::environment::{converge_members, members_value, Environments, NO_NEW_CUSTOMERS};
use crate::apply::{Event, Progress, Reporter};
use crate::aws::{Aws, Options};
use crate::engine::{Addr, Kind};
use crate::resources::{Cx, Provider};
use aws_sdk_cloud9::operation::create_environment_ec2::{CreateEnvironmentEC2Error, CreateEnvironmentEc2Output};
use aws_sdk_cloud9::operation::create_environment_membership::CreateEnvironmentMembershipOutput;
use aws_sdk_cloud9::operation::delete_environment_membership::DeleteEnvironmentMembershipOutput;
use aws_sdk_cloud9::types::error::ForbiddenException;
use aws_sdk_cloud9::types::ConnectionType;
use aws_sdk_cloud9::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use std::collections::BTreeSet;
use std::path::Path;

struct Quiet;
impl Reporter for Quiet {
    fn event(&self, _: Event) {}
}

async fn cx(rules: &[&Rule]) -> Cx {
    let mut stack =
        bumarket_stack::load_env(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml")), Some("prod"))
            .unwrap();
    // The members come from IAM; these tests are about Cloud9's own calls.
    stack.cloud9.as_mut().expect("bumarket.yaml has a cloud9 section").members_group = None;
    let mut aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    aws.cloud9 = mock_client!(aws_sdk_cloud9, RuleMode::MatchAny, rules);
    let cx = Cx::new(aws, stack, "123456789012".into(), None);
    cx.set_id(&Addr::new(Kind::Subnet, "public-0"), "subnet-0123");
    cx
}

/// Reads of Cloud9 with canned answers from Cloud9, IAM and the tagging index (empty:
/// it lags behind new tags, so nothing may be found only through it).
async fn read_with(c9: &[&Rule], iam: &[&Rule]) -> Result<Vec<crate::engine::Observed>, crate::apply::StepError> {
    use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
    let mut cx = cx(c9).await;
    cx.aws.iam = crate::resources::testing::mocked!(aws_sdk_iam, iam);
    let index = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .then_output(|| GetResourcesOutput::builder().build());
    cx.aws.tagging = crate::resources::testing::mocked!(aws_sdk_resourcegroupstagging, &[&index]);
    let live = crate::resources::Live::new(cx.aws.clone(), &cx.stack);
    let wanted = Environments.desired(&cx);
    Environments.read(&cx, &live, &wanted.iter().collect::<Vec<_>>()).await
}

fn iam_has_the_ssm_prerequisites() -> [Rule; 2] {
    use aws_sdk_iam::operation::{get_instance_profile::GetInstanceProfileOutput, get_role::GetRoleOutput};
    use aws_sdk_iam::types::{InstanceProfile, Role};
    let when = aws_smithy_types::DateTime::from_secs(0);
    let role = Role::builder()
        .role_name("AWSCloud9SSMAccessRole")
        .path("/service-role/")
        .role_id("AROA1")
        .arn("arn:aws:iam::123456789012:role/service-role/AWSCloud9SSMAccessRole")
        .create_date(when)
        .build()
        .unwrap();
    let profile = InstanceProfile::builder()
        .instance_profile_name("AWSCloud9SSMInstanceProfile")
        .path("/cloud9/")
        .instance_profile_id("AIPA1")
        .arn("arn:aws:iam::123456789012:instance-profile/cloud9/AWSCloud9SSMInstanceProfile")
        .create_date(when)
        .set_roles(Some(vec![role.clone()]))
        .build()
        .unwrap();
    [
        mock!(aws_sdk_iam::Client::get_role).then_output(move || GetRoleOutput::builder().role(role.clone()).build()),
        mock!(aws_sdk_iam::Client::get_instance_profile)
            .then_output(move || GetInstanceProfileOutput::builder().instance_profile(profile.clone()).build()),
    ]
}

#[tokio::test]
async fn the_environment_is_found_through_cloud9_itself_with_its_own_tags() {
    use aws_sdk_cloud9::operation::{
        describe_environment_memberships::DescribeEnvironmentMembershipsOutput,
        describe_environments::DescribeEnvironmentsOutput, list_environments::ListEnvironmentsOutput,
        list_tags_for_resource::ListTagsForResourceOutput,
    };
    use aws_sdk_cloud9::types::{Environment, EnvironmentLifecycle, EnvironmentType, Tag};
    let arn = "arn:aws:cloud9:ap-northeast-2:123456789012:environment:env-1";
    let list = mock!(Client::list_environments)
        .then_output(|| ListEnvironmentsOutput::builder().environment_ids("env-0").environment_ids("env-1").build());
    let env = |id: &str, name: &str| {
        Environment::builder()
            .id(id)
            .name(name)
            .r#type(EnvironmentType::Ec2)
            .arn(format!("arn:aws:cloud9:ap-northeast-2:123456789012:environment:{id}"))
            .owner_arn("arn:aws:iam::123456789012:user/ci")
            .connection_type(ConnectionType::ConnectSsm)
            .lifecycle(EnvironmentLifecycle::builder().build())
            .build()
            .unwrap()
    };
    let describe = mock!(Client::describe_environments).then_output(move || {
        DescribeEnvironmentsOutput::builder()
            .environments(env("env-0", "someone-else"))
            .environments(env("env-1", "bumarket-prod-ide"))
            .build()
    });
    let tags = mock!(Client::list_tags_for_resource)
        .match_requests(move |r| r.resource_arn() == Some(arn))
        .then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(Tag::builder().key("bumarket-infra:stack").value("bumarket-prod").build().unwrap())
                .tags(Tag::builder().key("bumarket-infra:resource").value("cloud9.ide").build().unwrap())
                .build()
        });
    let members = mock!(Client::describe_environment_memberships)
        .then_output(|| DescribeEnvironmentMembershipsOutput::builder().build());
    let [role, profile] = iam_has_the_ssm_prerequisites();
    let found = read_with(&[&list, &describe, &tags, &members], &[&role, &profile]).await.unwrap();
    assert_eq!(found.len(), 1, "only the environment of the file's name: {found:?}");
    let o = &found[0];
    assert_eq!((o.addr.as_str(), o.id.as_str()), ("cloud9.ide", "env-1"));
    assert!(o.is_ours(), "ours by the tags Cloud9 itself gives");
    assert_eq!(tags.num_calls(), 1, "no tags read for the other environment");
}

#[tokio::test]
async fn without_the_ssm_role_and_profile_the_plan_stops_and_says_how_to_make_them() {
    use aws_sdk_cloud9::operation::list_environments::ListEnvironmentsOutput;
    use aws_sdk_iam::operation::{get_instance_profile::GetInstanceProfileError, get_role::GetRoleError};
    use aws_sdk_iam::types::error::NoSuchEntityException;
    let none = || NoSuchEntityException::builder().meta(ErrorMetadata::builder().code("NoSuchEntity").build()).build();
    let role = mock!(aws_sdk_iam::Client::get_role).then_error(move || GetRoleError::NoSuchEntityException(none()));
    let profile = mock!(aws_sdk_iam::Client::get_instance_profile)
        .then_error(move || GetInstanceProfileError::NoSuchEntityException(none()));
    let list = mock!(Client::list_environments).then_output(|| ListEnvironmentsOutput::builder().build());
    let err = read_with(&[&list], &[&role, &profile]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cloud9: Cloud9 reaches its instance through Session Manager, which needs the role `AWSCloud9SSMAccessRole` and the instance profile `AWSCloud9SSMInstanceProfile` in this account; only the Cloud9 console creates them"
    );
    let hint = err.hint.unwrap();
    assert!(hint.contains("aws iam create-role --role-name AWSCloud9SSMAccessRole --path /service-role/"), "{hint}");
    assert!(
        hint.contains(
            "aws iam create-instance-profile --instance-profile-name AWSCloud9SSMInstanceProfile --path /cloud9/"
        ),
        "{hint}"
    );
}

#[tokio::test]
async fn create_sends_the_files_settings_reached_through_session_manager() {
    let create = mock!(Client::create_environment_ec2)
        .match_requests(|r| {
            r.instance_type() == Some("t3.small")
                && r.automatic_stop_time_minutes() == Some(30)
                && r.subnet_id() == Some("subnet-0123")
                && r.connection_type() == Some(&ConnectionType::ConnectSsm)
                && r.tags().iter().any(|t| t.key == "bumarket-infra:resource" && t.value == "cloud9.ide")
        })
        .then_output(|| CreateEnvironmentEc2Output::builder().environment_id("env-1").build());
    let cx = cx(&[&create]).await;
    let d = Environments.desired(&cx).remove(0);
    let addr = d.addr.clone();
    Environments.create(&cx, &d, &Progress::new(&addr, &Quiet)).await.unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(cx.known_id(&addr).as_deref(), Some("env-1"));
}

#[tokio::test]
async fn a_create_answered_without_an_id_fails_at_that_call_and_records_none() {
    let create = mock!(Client::create_environment_ec2).then_output(|| CreateEnvironmentEc2Output::builder().build());
    let cx = cx(&[&create]).await;
    let d = Environments.desired(&cx).remove(0);
    let err = Environments.create(&cx, &d, &Progress::new(&d.addr, &Quiet)).await.unwrap_err();
    assert_eq!(err.to_string(), "cloud9:CreateEnvironmentEC2: AWS answered without the environment's id");
    assert_eq!(cx.known_id(&d.addr), None, "no empty id is kept for later steps");
}

#[tokio::test]
async fn a_refused_create_says_cloud9_takes_no_new_customers_and_what_to_do() {
    let create = mock!(Client::create_environment_ec2).then_error(|| {
        CreateEnvironmentEC2Error::ForbiddenException(
            ForbiddenException::builder()
                .message("AWS Cloud9 is no longer available to new customers.")
                .meta(
                    ErrorMetadata::builder()
                        .code("ForbiddenException")
                        .message("AWS Cloud9 is no longer available to new customers.")
                        .build(),
                )
                .build(),
        )
    });
    let cx = cx(&[&create]).await;
    let d = Environments.desired(&cx).remove(0);
    let err = Environments.create(&cx, &d, &Progress::new(&d.addr, &Quiet)).await.unwrap_err();
    assert_eq!(err.call, "cloud9:CreateEnvironmentEC2");
    // ForbiddenException is also what missing permissions get: the hint names both.
    assert_eq!(err.code(), Some("ForbiddenException"));
    assert!(err.hint.as_deref().is_some_and(|h| h.ends_with(NO_NEW_CUSTOMERS)), "{:?}", err.hint);
    assert!(err.hint.unwrap().contains("remove the `cloud9:` section"));
}

#[tokio::test]
async fn members_converge_to_the_groups_users_one_by_one() {
    let add = mock!(Client::create_environment_membership)
        .match_requests(|r| r.user_arn() == Some("arn:aws:iam::123456789012:user/new"))
        .then_output(|| CreateEnvironmentMembershipOutput::builder().build());
    let remove = mock!(Client::delete_environment_membership)
        .match_requests(|r| r.user_arn() == Some("arn:aws:iam::123456789012:user/left"))
        .then_output(|| DeleteEnvironmentMembershipOutput::builder().build());
    let cx = cx(&[&add, &remove]).await;
    let user = |n: &str| format!("arn:aws:iam::123456789012:user/{n}");
    let now: BTreeSet<String> = [user("stays"), user("left")].into();
    let want: BTreeSet<String> = [user("stays"), user("new")].into();
    converge_members(&cx, "env-1", &now, &want).await.unwrap();
    assert_eq!((add.num_calls(), remove.num_calls()), (1, 1));
}

#[test]
fn members_match_the_file_only_when_they_are_exactly_the_groups_users() {
    let users: BTreeSet<String> = ["arn:u1".to_string()].into();
    assert_eq!(members_value(Some("developers"), &users, &users), serde_json::json!("group.developers"));
    let extra: BTreeSet<String> = ["arn:u1".to_string(), "arn:u2".to_string()].into();
    assert_eq!(members_value(Some("developers"), &users, &extra), serde_json::json!(["arn:u1", "arn:u2"]));
}
