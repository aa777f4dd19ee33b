//! Saved plans: `plan --out FILE` writes the plan with what it was made from; `apply FILE`
//! applies exactly that plan and nothing else, and refuses a stale one: when the stack
//! file changed since (its SHA-256 differs), or when live AWS differs from what the plan
//! saw for any resource the plan touches. The file holds no secret (a plan never does:
//! passwords are only ever named by where they live) and says which tool version wrote it.

use super::{Action, Plan};
use serde::{Deserialize, Serialize};

/// Version of the saved-plan file format.
pub const SAVED_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    pub saved_format: u32,
    pub tool_version: String,
    /// The stack file as given to `plan`, and the SHA-256 of its bytes then.
    pub stack_file: String,
    pub stack_sha256: String,
    pub plan: Plan,
}

impl SavedPlan {
    pub fn new(plan: Plan, stack_file: &str, stack_sha256: &str) -> SavedPlan {
        SavedPlan {
            saved_format: SAVED_FORMAT,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            stack_file: stack_file.to_string(),
            stack_sha256: stack_sha256.to_string(),
            plan,
        }
    }

    /// Why this plan may no longer be applied, given the stack file's digest now and a
    /// plan made from live AWS now; empty when it may.
    pub fn staleness(&self, stack_sha256: &str, fresh: &Plan) -> Vec<String> {
        let mut why = Vec::new();
        if stack_sha256 != self.stack_sha256 {
            why.push(format!("the stack file changed since the plan was made (it was `{}`)", self.stack_file));
        }
        if fresh.stack != self.plan.stack || fresh.region != self.plan.region {
            why.push(format!(
                "the plan is for stack `{}` in {}, not `{}` in {}",
                self.plan.stack, self.plan.region, fresh.stack, fresh.region
            ));
        }
        for r in self.plan.resources.iter().filter(|r| r.action != Action::NoOp) {
            let then = r.observed.as_ref().map(|o| (&o.id, &o.attrs));
            let now =
                fresh.resources.iter().find(|f| f.addr == r.addr && f.name == r.name).and_then(|f| f.observed.as_ref());
            if then != now.map(|o| (&o.id, &o.attrs)) {
                why.push(format!("`{}` changed in AWS since the plan was made", r.addr));
            }
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Attrs, Desired, Observed, Ownership};
    use crate::plan::{build, Mode};
    use crate::testing::{addr, Rules};
    use serde_json::json;

    fn live(a: i64) -> Vec<Observed> {
        let attrs: Attrs = serde_json::from_value(json!({"a": a})).unwrap();
        vec![Observed {
            addr: addr("bucket.b"),
            name: "b".into(),
            id: "b".into(),
            attrs,
            ownership: Ownership::Ours,
            outputs: Default::default(),
            deps: vec![],
        }]
    }

    fn plan(live_a: i64) -> Plan {
        let attrs: Attrs = serde_json::from_value(json!({"a": 3})).unwrap();
        let d = vec![Desired { addr: addr("bucket.b"), name: "b".into(), attrs, deps: vec![] }];
        build("s", "r", Mode::Converge, &d, live(live_a), &Rules::new(|_| 0)).unwrap()
    }

    #[test]
    fn a_saved_plan_is_stale_when_the_file_or_a_touched_resource_changed() {
        let saved = SavedPlan::new(plan(1), "stacks/s.yaml", "abc");
        let round_trip: SavedPlan = serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        assert!(round_trip.staleness("abc", &plan(1)).is_empty());
        assert_eq!(
            round_trip.staleness("abd", &plan(1)),
            ["the stack file changed since the plan was made (it was `stacks/s.yaml`)"]
        );
        assert_eq!(round_trip.staleness("abc", &plan(2)), ["`bucket.b` changed in AWS since the plan was made"]);
    }
}
