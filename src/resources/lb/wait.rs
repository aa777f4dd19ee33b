//! Waiting for a load balancer: after `CreateLoadBalancer` until it is `active` (AWS takes
//! a few minutes to provision one), after `DeleteLoadBalancer` until it is gone (its
//! network interfaces hold the subnets and security groups until then). The same checks
//! as the SDK's `load_balancer_available` and `load_balancers_deleted` waiters, in a loop
//! of our own so every change of state is shown while the user waits and the pace can be
//! set in tests.

use crate::apply::{ErrorKind, StepError};
use crate::aws::{call_error, is_code};
use crate::resources::wait::Poll;
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerStateEnum;
use aws_sdk_elasticloadbalancingv2::Client;
use std::time::Duration;

/// How often AWS is asked (the SDK waiters ask every 15 s).
pub const EVERY: Duration = Duration::from_secs(10);

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// State `active`; `failed` is an error.
    Active,
    /// `LoadBalancerNotFound`.
    Gone,
}

/// One look: `Ok(None)` when done, `Ok(Some(state))` while not yet.
async fn look(elb: &Client, arn: &str, until: Until) -> Result<Option<String>, StepError> {
    let out = match elb.describe_load_balancers().load_balancer_arns(arn).send().await {
        Ok(out) => out,
        Err(e) if is_code(&e, "LoadBalancerNotFound") => {
            // Right after a create, AWS may not know it yet.
            return Ok((until == Until::Active).then(|| "not visible yet".to_string()));
        }
        Err(e) => return Err(call_error("elbv2:DescribeLoadBalancers", e)),
    };
    let Some(lb) = out.load_balancers().first() else {
        return Ok((until == Until::Active).then(|| "not visible yet".to_string()));
    };
    let state = lb.state();
    let code = state.and_then(|s| s.code()).cloned();
    match (until, code) {
        (Until::Active, Some(LoadBalancerStateEnum::Active)) => Ok(None),
        (Until::Active, Some(LoadBalancerStateEnum::Failed)) => Err(StepError::of(
            ErrorKind::Failed,
            "elbv2:DescribeLoadBalancers",
            format!("the load balancer failed: {}", state.and_then(|s| s.reason()).unwrap_or("no reason given")),
        )),
        (_, code) => Ok(Some(code.map_or_else(|| "state unknown".to_string(), |c| c.as_str().to_string()))),
    }
}

/// Ask every `every` until the load balancer `arn` is as wanted, telling `say` each new
/// state; give up after `timeout`.
pub async fn until(
    elb: &Client,
    arn: &str,
    until: Until,
    timeout: Duration,
    every: Duration,
    say: &(dyn Fn(String) + Send + Sync),
) -> Result<(), StepError> {
    let what = match until {
        Until::Active => "the load balancer to be active",
        Until::Gone => "the load balancer to be deleted",
    };
    crate::resources::wait::until(say, what, timeout, every, || async move {
        Ok(match look(elb, arn, until).await? {
            None => Poll::Ready(()),
            Some(state) => Poll::Pending(state),
        })
    })
    .await
}

/// The stack's wait timeout (the file's, or the default when the section is gone).
pub fn timeout(cx: &crate::resources::Cx) -> Duration {
    Duration::from_secs(cx.stack.load_balancer.as_ref().map_or(600, |l| l.wait_timeout_seconds))
}

/// The emulator gap these tests cover: moto reports every load balancer `active` on its
/// first describe and gone right after `DeleteLoadBalancer`, so the waiting itself never
/// runs against it. Canned answers (`aws-smithy-mocks`) play AWS's `provisioning` phase.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::{
        DescribeLoadBalancersError, DescribeLoadBalancersOutput,
    };
    use aws_sdk_elasticloadbalancingv2::types::{
        error::LoadBalancerNotFoundException, LoadBalancer, LoadBalancerState,
    };
    use aws_smithy_mocks::{mock, MockResponseInterceptor, Rule, RuleMode};
    use std::sync::Mutex;

    const ARN: &str = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:loadbalancer/app/s-lb/1";

    /// A client answering from `rules` in order, with dummy credentials.
    fn client(rules: &[&Rule]) -> Client {
        let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
        for r in rules {
            mocks = mocks.with_rule(r);
        }
        let conf = aws_sdk_elasticloadbalancingv2::Config::builder()
            .behavior_version(aws_sdk_elasticloadbalancingv2::config::BehaviorVersion::latest())
            .region(aws_sdk_elasticloadbalancingv2::config::Region::new("ap-northeast-2"))
            .credentials_provider(aws_sdk_elasticloadbalancingv2::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(mocks)
            .build();
        Client::from_conf(conf)
    }

    fn in_state(code: LoadBalancerStateEnum) -> DescribeLoadBalancersOutput {
        let state = LoadBalancerState::builder().code(code).reason("capacity").build();
        let lb = LoadBalancer::builder().load_balancer_arn(ARN).state(state).build();
        DescribeLoadBalancersOutput::builder().load_balancers(lb).build()
    }

    /// AWS's answer for an unknown ARN, with the code the tool matches on.
    fn not_found() -> DescribeLoadBalancersError {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code("LoadBalancerNotFound").build();
        DescribeLoadBalancersError::LoadBalancerNotFoundException(
            LoadBalancerNotFoundException::builder()
                .meta(meta)
                .message("The specified load balancer does not exist.")
                .build(),
        )
    }

    async fn run(rules: &[&Rule], until: Until, timeout: Duration) -> (Result<(), StepError>, Vec<String>) {
        let said = Mutex::new(Vec::new());
        let say = |m: String| said.lock().unwrap().push(m);
        let r = super::until(&client(rules), ARN, until, timeout, Duration::from_millis(1), &say).await;
        (r, said.into_inner().unwrap())
    }

    #[tokio::test]
    async fn create_waits_through_provisioning_until_active() {
        let describe = mock!(Client::describe_load_balancers)
            .sequence()
            .output(|| in_state(LoadBalancerStateEnum::Provisioning))
            .times(3)
            .output(|| in_state(LoadBalancerStateEnum::Active))
            .build();
        let (r, said) = run(&[&describe], Until::Active, Duration::from_secs(60)).await;
        assert_eq!(r, Ok(()));
        assert_eq!(describe.num_calls(), 4);
        // Each state is told once, not once per look.
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("waiting for the load balancer to be active: provisioning"), "{said:?}");
    }

    #[tokio::test]
    async fn a_load_balancer_not_visible_yet_is_waited_for() {
        let describe = mock!(Client::describe_load_balancers)
            .sequence()
            .error(not_found)
            .output(|| in_state(LoadBalancerStateEnum::Active))
            .build();
        let (r, said) = run(&[&describe], Until::Active, Duration::from_secs(60)).await;
        assert_eq!(r, Ok(()));
        assert!(said[0].contains("not visible yet"), "{said:?}");
    }

    #[tokio::test]
    async fn a_failed_load_balancer_stops_the_wait_with_aws_reason() {
        let describe = mock!(Client::describe_load_balancers)
            .sequence()
            .output(|| in_state(LoadBalancerStateEnum::Provisioning))
            .output(|| in_state(LoadBalancerStateEnum::Failed))
            .build();
        let (r, _) = run(&[&describe], Until::Active, Duration::from_secs(60)).await;
        let e = r.unwrap_err();
        assert!(e.message.contains("failed: capacity"), "{e}");
    }

    #[tokio::test]
    async fn the_wait_gives_up_after_the_timeout_and_says_how_to_go_on() {
        let describe =
            mock!(Client::describe_load_balancers).then_output(|| in_state(LoadBalancerStateEnum::Provisioning));
        let (r, _) = run(&[&describe], Until::Active, Duration::ZERO).await;
        let e = r.unwrap_err();
        assert!(e.message.contains("not done after 0 s: provisioning"), "{e}");
        assert!(e.hint.unwrap().contains("wait_timeout"));
    }

    #[tokio::test]
    async fn delete_waits_until_aws_no_longer_knows_it() {
        let describe = mock!(Client::describe_load_balancers)
            .sequence()
            .output(|| in_state(LoadBalancerStateEnum::Active))
            .times(2)
            .error(not_found)
            .build();
        let (r, said) = run(&[&describe], Until::Gone, Duration::from_secs(60)).await;
        assert_eq!(r, Ok(()));
        assert_eq!(describe.num_calls(), 3);
        assert!(said[0].starts_with("waiting for the load balancer to be deleted: active"), "{said:?}");
    }
}
