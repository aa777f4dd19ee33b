//! The fleet's waits, with canned AWS answers. Emulator gaps these cover (MOTO-NOTES):
//! moto does not implement instance refresh at all (HTTP 500), and its instances are
//! `InService` and healthy on the first look, so neither the refresh nor a wait that
//! has to wait can be exercised against it.

use super::autoscaling_group::{refresh, wait_healthy};
use crate::apply::{Event, Progress, Reporter};
use crate::aws::{Aws, Options};
use crate::engine::{Addr, Kind};
use crate::resources::Cx;
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput;
use aws_sdk_autoscaling::operation::start_instance_refresh::{StartInstanceRefreshError, StartInstanceRefreshOutput};
use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance, InstanceRefresh, InstanceRefreshStatus, LifecycleState};
use aws_sdk_autoscaling::Client as Asg;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::types::{TargetHealth, TargetHealthDescription, TargetHealthStateEnum};
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use std::path::Path;
use std::sync::Mutex;

#[derive(Default)]
struct Said(Mutex<Vec<String>>);

impl Reporter for Said {
    fn event(&self, e: Event) {
        if let Event::Progress { message, .. } = e {
            self.0.lock().unwrap().push(message);
        }
    }
}

async fn cx(asg: &[&Rule], elb: &[&Rule]) -> Cx {
    let stack =
        bumarket_stack::load_env(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml")), Some("prod"))
            .unwrap();
    let mut aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    aws.autoscaling = mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, asg);
    aws.elb = mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::MatchAny, elb);
    let cx = Cx::new(aws, stack, "123456789012".into(), Some("ami-0123456789abcdef0".into()));
    cx.set_id(
        &Addr::new(Kind::TargetGroup, "app"),
        "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/bumarket-app/1",
    );
    cx
}

fn refresh_at(status: InstanceRefreshStatus, pct: i32) -> DescribeInstanceRefreshesOutput {
    let r = InstanceRefresh::builder()
        .instance_refresh_id("r-1")
        .status(status)
        .percentage_complete(pct)
        .status_reason("instances failed health checks")
        .build();
    DescribeInstanceRefreshesOutput::builder().instance_refreshes(r).build()
}

#[tokio::test(start_paused = true)]
async fn a_rolling_refresh_is_followed_to_its_end_with_progress() {
    let start = mock!(Asg::start_instance_refresh)
        .match_requests(|r| {
            let p = r.preferences();
            (p.and_then(|p| p.min_healthy_percentage), p.and_then(|p| p.max_healthy_percentage))
                == (Some(100), Some(200))
        })
        .then_output(|| StartInstanceRefreshOutput::builder().instance_refresh_id("r-1").build());
    let describe = mock!(Asg::describe_instance_refreshes)
        .sequence()
        .output(|| refresh_at(InstanceRefreshStatus::Pending, 0))
        .output(|| refresh_at(InstanceRefreshStatus::InProgress, 50))
        .output(|| refresh_at(InstanceRefreshStatus::Successful, 100))
        .build();
    let cx = cx(&[&start, &describe], &[]).await;
    let said = Said::default();
    let addr = Addr::new(Kind::AutoscalingGroup, "app");
    refresh(&cx, "bumarket-app", &Progress::new(&addr, &said)).await.unwrap();
    assert_eq!(start.num_calls(), 1, "launch before terminate: min 100 %, max 200 %, from the stack file");
    assert_eq!(describe.num_calls(), 3);
    let said = said.0.lock().unwrap().clone();
    assert!(said.iter().any(|m| m.starts_with("waiting for the rolling instance refresh: 50 % replaced")), "{said:?}");
}

#[test]
fn the_plan_says_whether_a_refresh_drops_capacity() {
    use super::autoscaling_group::refresh_note;
    assert!(refresh_note(1, 100, 200).ends_with("each new one healthy before an old one goes: capacity never drops"));
    assert_eq!(
        refresh_note(1, 90, 100),
        "1 instance replaced by rolling refresh in place: capacity drops to 0 of 1 (the app is down until a new instance is healthy)"
    );
    assert_eq!(refresh_note(4, 50, 100), "4 instances replaced by rolling refresh in place: capacity drops to 2 of 4");
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_is_an_error_with_aws_reason() {
    let start = mock!(Asg::start_instance_refresh)
        .then_output(|| StartInstanceRefreshOutput::builder().instance_refresh_id("r-1").build());
    let describe =
        mock!(Asg::describe_instance_refreshes).then_output(|| refresh_at(InstanceRefreshStatus::Failed, 40));
    let cx = cx(&[&start, &describe], &[]).await;
    let addr = Addr::new(Kind::AutoscalingGroup, "app");
    let err = refresh(&cx, "bumarket-app", &Progress::new(&addr, &Said::default())).await.unwrap_err();
    assert_eq!(err.call, "autoscaling:DescribeInstanceRefreshes");
    assert!(err.message.contains("ended `Failed`: instances failed health checks"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_refresh_already_running_is_followed_instead_of_failing() {
    let start = mock!(Asg::start_instance_refresh).then_error(|| {
        StartInstanceRefreshError::InstanceRefreshInProgressFault(
            aws_sdk_autoscaling::types::error::InstanceRefreshInProgressFault::builder()
                .message("in progress")
                .meta(aws_smithy_types::error::ErrorMetadata::builder().code("InstanceRefreshInProgress").build())
                .build(),
        )
    });
    let describe = mock!(Asg::describe_instance_refreshes)
        .match_requests(|r| r.instance_refresh_ids().is_empty())
        .then_output(|| refresh_at(InstanceRefreshStatus::Successful, 100));
    let cx = cx(&[&start, &describe], &[]).await;
    let addr = Addr::new(Kind::AutoscalingGroup, "app");
    refresh(&cx, "bumarket-app", &Progress::new(&addr, &Said::default())).await.unwrap();
    assert_eq!(describe.num_calls(), 1);
}

fn group(state: LifecycleState) -> DescribeAutoScalingGroupsOutput {
    let i = Instance::builder()
        .instance_id("i-1")
        .lifecycle_state(state)
        .health_status("Healthy")
        .availability_zone("ap-northeast-2a")
        .protected_from_scale_in(false)
        .build();
    let g =
        AutoScalingGroup::builder().auto_scaling_group_name("bumarket-app").desired_capacity(1).instances(i).build();
    DescribeAutoScalingGroupsOutput::builder().auto_scaling_groups(g).build()
}

fn health(state: TargetHealthStateEnum) -> DescribeTargetHealthOutput {
    let d = TargetHealthDescription::builder().target_health(TargetHealth::builder().state(state).build()).build();
    DescribeTargetHealthOutput::builder().target_health_descriptions(d).build()
}

#[tokio::test(start_paused = true)]
async fn apply_waits_for_instances_in_service_and_healthy_targets() {
    let groups = mock!(Asg::describe_auto_scaling_groups)
        .sequence()
        .output(|| group(LifecycleState::Pending))
        .output(|| group(LifecycleState::InService))
        .repeatedly()
        .build();
    let targets = mock!(Elb::describe_target_health)
        .sequence()
        .output(|| health(TargetHealthStateEnum::Initial))
        .times(2)
        .output(|| health(TargetHealthStateEnum::Healthy))
        .build();
    let cx = cx(&[&groups], &[&targets]).await;
    let said = Said::default();
    let addr = Addr::new(Kind::AutoscalingGroup, "app");
    wait_healthy(&cx, "bumarket-app", &Progress::new(&addr, &said)).await.unwrap();
    let said = said.0.lock().unwrap().clone();
    assert_eq!(said[0], "waiting for healthy instances: 0/1 in service, 0/1 healthy targets (0 s)");
    assert!(said[1].starts_with("waiting for healthy instances: 1/1 in service, 0/1 healthy targets"), "{said:?}");
    assert_eq!(targets.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_wait_gives_up_after_the_files_timeout_and_says_how_to_go_on() {
    let groups = mock!(Asg::describe_auto_scaling_groups).then_output(|| group(LifecycleState::Pending));
    let targets = mock!(Elb::describe_target_health).then_output(|| health(TargetHealthStateEnum::Initial));
    let cx = cx(&[&groups], &[&targets]).await;
    let addr = Addr::new(Kind::AutoscalingGroup, "app");
    let err = wait_healthy(&cx, "bumarket-app", &Progress::new(&addr, &Said::default())).await.unwrap_err();
    let timeout = cx.stack.fleet.as_ref().unwrap().wait_timeout_seconds;
    assert_eq!(err.call, "waiting for healthy instances");
    assert_eq!(err.message, format!("not done after {timeout} s: 0/1 in service, 0/1 healthy targets"));
    assert!(err.hint.unwrap().contains("running apply again continues"));
}
