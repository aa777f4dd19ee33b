//! The fleet: the launch template, the Auto Scaling group over the public subnets, and
//! its target-tracking policy on average CPU.
//!
//! A changed template makes a new version; the group notices through a fingerprint of
//! the template's settings (kept as a tag on the group) and replaces its instances with
//! a rolling instance refresh that keeps a minimum share healthy. The group's desired
//! capacity is set at creation only and then left to the scaling policy.

pub mod autoscaling_group;
pub mod launch_template;
pub mod scaling_policy;

use super::Cx;
use crate::engine::Attrs;
use sha2::{Digest, Sha256};

/// Physical name of the launch template and the group.
/// The launch template's name: `<stack>-app`, or the one an adopted template keeps.
pub fn app_name(cx: &Cx) -> String {
    cx.stack.name_of("launch_template.app", || format!("{}-app", cx.stack.name))
}

/// The Auto Scaling group's name: `<stack>-app`, or the one an adopted group keeps.
pub fn group_name(cx: &Cx) -> String {
    cx.stack.name_of("autoscaling_group.app", || format!("{}-app", cx.stack.name))
}

/// Short hex SHA-256 of some bytes.
pub fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What instances are made of: every template setting except its name and own tags.
/// When it changes, running instances must be replaced.
pub fn fingerprint(template_attrs: &Attrs) -> String {
    let relevant: Attrs = template_attrs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "tags"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    short_hash(serde_json::to_string(&relevant).expect("attrs serialise").as_bytes())
}

#[cfg(test)]
mod tests;
