//! The engine's vocabulary: logical addresses, attribute maps, and the two views of a
//! resource (what the file wants, what AWS has). Nothing here knows AWS; the providers
//! (in the binary crate's `resources`) fill these types in and the planner compares them.
//!
//! Invariant: `Desired::attrs` and `Observed::attrs` use exactly the keys of the kind's
//! [`Schema`], in the same shapes; two values are compared as the schema says (exactly,
//! as sets, or by meaning). Only keys present in the desired map are compared; what AWS
//! fills in by itself is never a diff.

mod kind;
pub mod schema;

pub use kind::{Addr, AddrError, Kind};
pub use schema::{AttrSpec, Compare, OnChange, Schema};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

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
    /// Made outside bumarket-infra and no stack's (no ownership tag, outside every
    /// stack's IAM path) at a name or id the file wants: a conflict like a foreign one,
    /// unless the file's `adopt:` lists its address, when the plan adopts it in place.
    Unowned(String),
    /// Carries the stack's tag, but its address tag names no resource of the kind that
    /// read it (an unknown kind, another kind, no address): the plan fails naming it,
    /// and nothing is ever sent to a provider for it.
    BadAddress(String),
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
