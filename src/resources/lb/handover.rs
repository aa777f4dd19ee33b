//! Replacing `target_group.app` (a new `app_port`, protocol or VPC) while the rest stays.
//! Its listeners and the fleet's Auto Scaling group are no-ops in such a plan (they name
//! the group by address, and the address does not change), yet they hold the old group's
//! ARN: AWS refuses to delete a group a listener forwards to, and an Auto Scaling group
//! left attached to a deleted group can no longer be updated. So the target group hands
//! over itself:
//!
//! - before the old group is deleted, its listeners answer a fixed 503 and the fleet's
//!   group detaches from it;
//! - once the new group exists, the listeners forward to it and the fleet's group
//!   attaches to it (only when an old group was there: a first create needs neither).
//!
//! Only resources of the stack that exist (their ids are known) are touched.

use super::listener;
use crate::apply::StepError;
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, Kind};
use crate::resources::Cx;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, FixedResponseActionConfig};

/// The fleet's group, which registers its instances in the target group.
fn fleet_group(cx: &Cx) -> Option<String> {
    cx.stack.fleet.as_ref()?;
    cx.known_id(&Addr::new(Kind::AutoscalingGroup, "app"))
}

fn unavailable() -> Action {
    let answer = FixedResponseActionConfig::builder()
        .status_code("503")
        .content_type("text/plain")
        .message_body("The application is moving to a new target group; try again in a minute.")
        .build();
    Action::builder().r#type(ActionTypeEnum::FixedResponse).fixed_response_config(answer).build()
}

/// Give the existing listeners that the file has forward to `target_group` this action.
async fn point_listeners(cx: &Cx, target_group: &Addr, action: Action) -> Result<(), StepError> {
    let forwarders = listener::desired(cx)
        .into_iter()
        .filter(|d| d.attrs["default_action"]["target_group"] == target_group.as_str());
    for d in forwarders {
        let Some(id) = cx.known_id(&d.addr) else { continue };
        match cx.aws.elb.modify_listener().listener_arn(id).default_actions(action.clone()).send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "ListenerNotFound") => {}
            Err(e) => return Err(call_error("elbv2:ModifyListener", e)),
        }
    }
    Ok(())
}

/// Before the old group (`arn`) of `target_group` is deleted in a replacement.
pub async fn release(cx: &Cx, target_group: &Addr, arn: &str) -> Result<(), StepError> {
    point_listeners(cx, target_group, unavailable()).await?;
    let Some(group) = fleet_group(cx) else { return Ok(()) };
    let asg = &cx.aws.autoscaling;
    match asg.detach_load_balancer_target_groups().auto_scaling_group_name(group).target_group_arns(arn).send().await {
        Ok(_) => Ok(()),
        // Not attached, or the group is gone: nothing holds the old target group.
        Err(e) if is_code(&e, "ValidationError") || is_code(&e, "TargetGroupNotFound") => Ok(()),
        Err(e) => Err(call_error("autoscaling:DetachLoadBalancerTargetGroups", e)),
    }
}

/// After the new group (`arn`) of `target_group` was created; `replaced` says whether an
/// old one existed (on a first create the listeners and the fleet take it themselves).
pub async fn take(cx: &Cx, target_group: &Addr, arn: &str, replaced: bool) -> Result<(), StepError> {
    if !replaced {
        return Ok(());
    }
    let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(arn).build();
    point_listeners(cx, target_group, forward).await?;
    let Some(group) = fleet_group(cx) else { return Ok(()) };
    let asg = &cx.aws.autoscaling;
    let req = asg.attach_load_balancer_target_groups().auto_scaling_group_name(group).target_group_arns(arn);
    req.send().await.map(drop).map_err(|e| call_error("autoscaling:AttachLoadBalancerTargetGroups", e))
}
