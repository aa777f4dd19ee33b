//! Elastic Load Balancing tags and what they say about ownership: a load balancer's or
//! target group's own tags (read by `DescribeTags`, see `snapshot.rs`) decide whether it
//! is ours, another stack's, or nobody's (never touched).

use crate::apply::StepError;
use crate::aws::call_error;
use crate::engine::Ownership;
use crate::resources::{tag_delta, Cx};
use aws_sdk_elasticloadbalancingv2::types::Tag;
use std::collections::BTreeMap;

/// ELB tags from a map.
pub fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// ELB tags as a sorted map.
pub fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

/// Whose a resource with these tags is; `what` names it for the message.
pub fn ownership(cx: &Cx, what: &str, tags: &BTreeMap<String, String>) -> Ownership {
    cx.tag_ownership(&format!("the {what}"), tags)
}

/// Make the tags of `arn` go from `before` to `after`.
pub async fn converge(
    cx: &Cx,
    arn: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), StepError> {
    let (set, remove) = tag_delta(before, after);
    let elb = &cx.aws.elb;
    if !set.is_empty() {
        let req = elb.add_tags().resource_arns(arn).set_tags(Some(to_tags(&set)));
        req.send().await.map_err(|e| call_error("elbv2:AddTags", e))?;
    }
    if !remove.is_empty() {
        let req = elb.remove_tags().resource_arns(arn).set_tag_keys(Some(remove));
        req.send().await.map_err(|e| call_error("elbv2:RemoveTags", e))?;
    }
    Ok(())
}

/// The name inside an ELB ARN: `...:loadbalancer/app/<name>/<id>` or
/// `...:targetgroup/<name>/<id>`.
pub fn name_in_arn(arn: &str) -> Option<&str> {
    let resource = arn.split_once(":loadbalancer/app/").or_else(|| arn.split_once(":targetgroup/"))?.1;
    resource.split('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_out_of_arns() {
        let lb =
            "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:loadbalancer/app/bumarket-lb/03ebb57155330d12";
        let tg = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/bumarket-app/8b4e2033ae9c126c";
        assert_eq!(name_in_arn(lb), Some("bumarket-lb"));
        assert_eq!(name_in_arn(tg), Some("bumarket-app"));
        assert_eq!(name_in_arn("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn tags_round_trip() {
        let m = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), String::new())]);
        assert_eq!(tags_of(&to_tags(&m)), m);
    }
}
