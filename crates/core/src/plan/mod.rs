//! A plan is data: per resource an action, the attributes that differ (before and after),
//! and for a replacement the attributes that force it. `plan` and `apply` share
//! [`build::build`]; renderers and the executor only read a [`Plan`].

pub mod build;
pub mod decide;
pub mod drift;
pub mod saved;

use crate::engine::{Addr, Attrs, Desired, Kind, Observed, Schema};

pub use build::{Conflict, Mode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use build::build;
pub use decide::decide;

/// Version of the JSON plan schema (`plan --json`, saved plans).
pub const FORMAT_VERSION: u32 = 1;

/// What apply will do to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Delete the live resource, then create it anew.
    Replace,
    Delete,
    /// Take over a resource made outside bumarket-infra: write the ownership tags, then
    /// make the differences the file states (an update, never a replacement).
    Adopt,
    /// Give up ownership (`release`): remove the ownership tags and leave the resource
    /// running exactly as it is.
    Release,
}

impl Action {
    /// The sign users know from Terraform.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Adopt => "<=",
            Action::Release => "=>",
        }
    }
}

/// Why a resource is touched, in words shown at the end of its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not in AWS yet.
    New,
    /// The file differs from AWS.
    Changed,
    /// Tagged as this stack's but no longer in the stack file.
    RemovedFromFile,
    /// A second live copy tagged as the same logical resource.
    Duplicate,
    /// `destroy` removes everything the stack owns.
    Destroy,
    /// Listed under the file's `adopt:`, made outside bumarket-infra.
    Adopted,
    /// Named by `release` (or needed by a resource it names).
    Released,
}

/// One attribute that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Changing it cannot be done in place.
    pub forces_replacement: bool,
    /// Shown as `(sensitive)` and never written out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// AWS changed it outside bumarket-infra: the file still wants what was last applied
    /// (see [`drift`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
}

/// The planned change of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub addr: Addr,
    pub action: Action,
    pub reason: Option<Reason>,
    /// Physical name (after for creates, before for deletes).
    pub name: String,
    pub changes: Vec<AttrChange>,
    /// The file's view, when the resource is in the file.
    pub desired: Option<Desired>,
    /// AWS's view, when the resource exists.
    pub observed: Option<Observed>,
    /// Extra words for the user (e.g. "1 instance replaced by rolling refresh").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ResourceChange {
    pub fn forced_by(&self) -> impl Iterator<Item = &str> {
        self.changes.iter().filter(|c| c.forces_replacement).map(|c| c.name.as_str())
    }

    /// The changes users see: all but one that only rewrites the applied record.
    pub fn shown_changes(&self) -> impl Iterator<Item = &AttrChange> {
        self.changes.iter().filter(|c| !drift::only_applied(c))
    }

    /// Every change users see was made outside bumarket-infra (and there is one).
    pub fn all_drift(&self) -> bool {
        let mut shown = self.shown_changes().peekable();
        shown.peek().is_some() && shown.all(|c| c.drift)
    }
}

/// The whole plan of a stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub tool_version: String,
    pub stack: String,
    pub region: String,
    /// Every resource of the stack, no-ops included, in dependency order.
    pub resources: Vec<ResourceChange>,
    /// Sections of the file whose resources this version does not manage yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_managed: Vec<String>,
    /// What the user must know or do that is no change: a subscription waiting for its
    /// confirmation, say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// What the stack uses and never changes (the file's `existing:`), as looked up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<Used>,
}

/// One resource the stack uses but does not own, as a lookup resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Used {
    /// The file's key: `existing.vpc`, `existing.public_subnets[0]`.
    pub key: String,
    pub id: String,
    /// What it is, in a few words: `vpc-0abc (shared, 10.0.0.0/16)`.
    pub detail: String,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub adopt: usize,
    #[serde(default)]
    pub release: usize,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub unchanged: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.resources {
            match r.action {
                Action::NoOp => s.unchanged += 1,
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1
                }
                Action::Delete => s.destroy += 1,
                Action::Adopt => s.adopt += 1,
                Action::Release => s.release += 1,
            }
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        self.resources.iter().any(|r| r.action != Action::NoOp)
    }

    /// The changes that do something.
    pub fn actions(&self) -> impl Iterator<Item = &ResourceChange> {
        self.resources.iter().filter(|r| r.action != Action::NoOp)
    }
}

/// What the planner and the executor need to know of the kinds: each one's schema, and
/// which live resources the stack's others point at.
pub trait KindRules {
    /// The schema of a kind (every kind has one).
    fn schema(&self, kind: Kind) -> &Schema;
    /// How many live resources of the stack point at the live resource `id`.
    fn references(&self, _id: &str) -> usize {
        0
    }
    /// Whether the file's `adopt:` lists the address: an unowned live resource there is
    /// adopted, not a conflict.
    fn adopts(&self, _addr: &Addr) -> bool {
        false
    }
    /// Whether the file's `adopt:` entry for the address opts in to a replacement
    /// (`replace: true`): an adoption that would replace is then planned as one.
    fn adopt_replaces(&self, _addr: &Addr) -> bool {
        false
    }
}

/// Attrs helper: the value of `name`, or `None` when absent or null.
pub fn attr<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a Value> {
    attrs.get(name).filter(|v| !v.is_null())
}

/// Attrs helper: the strings of a list value (addresses, ids, names); empty otherwise.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
}
