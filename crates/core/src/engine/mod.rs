//! The engine's vocabulary: logical addresses, attribute maps, and the two views of a
//! resource (what the file wants, what AWS has). Nothing here knows AWS; providers in
//! `crate::resources` fill these types in and the planner compares them.
//!
//! Invariant: `Desired::attrs` and `Observed::attrs` use the same keys and the same
//! normalised shapes, so equality of two values means "no change" (policies compared by
//! meaning, lists sorted where order carries no meaning). Only keys present in the desired
//! map are compared; what AWS fills in by itself is never a diff.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A resource's logical address: `<kind>.<logical name>`, e.g. `bucket.logs`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Addr(pub String);

impl Addr {
    pub fn new(kind: &str, name: &str) -> Addr {
        Addr(format!("{kind}.{name}"))
    }
    /// The kind part of the address (`bucket` for `bucket.logs`).
    pub fn kind(&self) -> &str {
        self.0.split_once('.').map_or(&self.0, |(k, _)| k)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Comparable attributes of one resource, by name.
pub type Attrs = BTreeMap<String, Value>;

/// What the stack file asks for, after expansion into resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    pub addr: Addr,
    /// Physical name in AWS (bucket name, role name, ...).
    pub name: String,
    pub attrs: Attrs,
    /// Addresses this resource needs to exist first.
    pub deps: Vec<Addr>,
}

/// Whether a live resource belongs to this stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "owner", content = "detail", rename_all = "snake_case")]
pub enum Ownership {
    /// Tagged (or pathed) as this stack's.
    Ours,
    /// Exists with the wanted name but is not ours: never touched.
    Foreign(String),
}

/// What AWS has for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub addr: Addr,
    pub name: String,
    /// ARN or id, as the provider needs it to act on the resource.
    pub id: String,
    pub attrs: Attrs,
    pub ownership: Ownership,
    /// Values users want to see (`arn`, `url`, ...), shown by `output`.
    pub outputs: BTreeMap<String, String>,
    /// Resources this one references in AWS (a subnet its VPC, a rule another group):
    /// they are deleted only after it, even when the file no longer names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<Addr>,
}

impl Observed {
    pub fn is_ours(&self) -> bool {
        self.ownership == Ownership::Ours
    }
}
