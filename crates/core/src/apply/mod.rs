//! Apply: walk a [`Plan`] as a dependency graph. A step starts as soon as everything it
//! needs has finished, so independent steps run side by side (how many AWS calls are in
//! flight at once is bounded where the calls are made, not here); a failure skips only
//! what depends on it, and the rest finishes.
//!
//! Edges: a replacement deletes before it creates; a create or update waits for the
//! creates, updates and replacements of the resources it depends on. A delete waits for
//! the deletes of what references it (in the file or in AWS), for the updates that stop
//! referencing it, and for the deletes of the kinds its schema says AWS needs gone
//! first ([`Schema::deleted_after`]); nothing else, so two independent deletes (an Auto
//! Scaling group and a database) run side by side.
//!
//! [`Schema::deleted_after`]: crate::engine::Schema::deleted_after

mod error;
pub mod events;

pub use error::{ErrorKind, StepError};

use crate::engine::{Addr, Desired, Observed};
use crate::plan::{Action, AttrChange, KindRules, Plan};
use async_trait::async_trait;
pub use events::{Event, Reporter};
use futures::stream::{FuturesUnordered, StreamExt};
use std::time::{Duration, Instant};

/// Lets a step say what it is waiting for.
pub struct Progress<'a> {
    addr: &'a Addr,
    reporter: &'a dyn Reporter,
}

impl<'a> Progress<'a> {
    pub fn new(addr: &'a Addr, reporter: &'a dyn Reporter) -> Progress<'a> {
        Progress { addr, reporter }
    }

    pub fn say(&self, message: impl Into<String>) {
        self.reporter.event(Event::Progress { addr: self.addr.clone(), message: message.into() });
    }
}

/// Carries out single steps; implemented by the AWS side, faked in tests.
#[async_trait]
pub trait Operator: KindRules + Send + Sync {
    async fn create(&self, d: &Desired, p: &Progress<'_>) -> Result<(), StepError>;
    async fn update(
        &self,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError>;
    /// `d` is the file's view when the resource is still in the file (a replacement).
    async fn delete(&self, o: &Observed, d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Create,
    Update,
    Delete,
    /// An update that also writes the ownership tags ([`Action::Adopt`]).
    Adopt,
    /// An update that removes them ([`Action::Release`]).
    Release,
}

impl StepKind {
    pub fn done_word(self) -> &'static str {
        match self {
            StepKind::Create => "created",
            StepKind::Update => "updated",
            StepKind::Adopt => "adopted",
            StepKind::Release => "released",
            StepKind::Delete => "deleted",
        }
    }
    pub fn doing_word(self) -> &'static str {
        match self {
            StepKind::Create => "creating",
            StepKind::Update => "updating",
            StepKind::Adopt => "adopting",
            StepKind::Release => "releasing",
            StepKind::Delete => "deleting",
        }
    }
}

struct Step<'p> {
    kind: StepKind,
    /// Part of a replacement (its delete half does not wait for updates of its dependents).
    replacing: bool,
    change: &'p crate::plan::ResourceChange,
    preds: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

/// What happened, for the summary and the exit code.
#[derive(Debug, Default)]
pub struct Outcome {
    pub done: Vec<(Addr, StepKind)>,
    pub failed: Vec<(Addr, StepError)>,
    /// (skipped, because this one failed or was skipped)
    pub skipped: Vec<(Addr, Addr)>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }
}

fn steps<'p>(plan: &'p Plan, rules: &dyn KindRules) -> Vec<Step<'p>> {
    let mut steps = Vec::new();
    for r in plan.actions() {
        match r.action {
            Action::Create => steps.push(Step { kind: StepKind::Create, replacing: false, change: r, preds: vec![] }),
            Action::Update => steps.push(Step { kind: StepKind::Update, replacing: false, change: r, preds: vec![] }),
            Action::Adopt => steps.push(Step { kind: StepKind::Adopt, replacing: false, change: r, preds: vec![] }),
            Action::Release => steps.push(Step { kind: StepKind::Release, replacing: false, change: r, preds: vec![] }),
            Action::Delete => steps.push(Step { kind: StepKind::Delete, replacing: false, change: r, preds: vec![] }),
            Action::Replace => {
                steps.push(Step { kind: StepKind::Delete, replacing: true, change: r, preds: vec![] });
                let del = steps.len() - 1;
                steps.push(Step { kind: StepKind::Create, replacing: true, change: r, preds: vec![del] });
            }
            Action::NoOp => {}
        }
    }
    let n = steps.len();
    for i in 0..n {
        let mut preds = std::mem::take(&mut steps[i].preds);
        let me = &steps[i];
        match me.kind {
            StepKind::Create | StepKind::Update | StepKind::Adopt | StepKind::Release => {
                let deps = me.change.desired.as_ref().map(|d| d.deps.as_slice()).unwrap_or(&[]);
                for (j, other) in steps.iter().enumerate() {
                    if other.kind != StepKind::Delete && deps.contains(&other.change.addr) {
                        preds.push(j);
                    }
                }
            }
            StepKind::Delete => {
                let me_addr = &me.change.addr;
                let after = rules.schema(me_addr.kind()).deleted_after;
                for (j, other) in steps.iter().enumerate().filter(|(j, _)| *j != i) {
                    let blocks = match other.kind {
                        // What references this resource goes first, and so does every
                        // resource of a kind AWS needs gone before this one.
                        StepKind::Delete => {
                            references(other.change, me_addr) || after.contains(&other.change.addr.kind())
                        }
                        // An update that stops referencing it, unless this delete is half
                        // of a replacement (the update then points at the new one).
                        StepKind::Update | StepKind::Adopt | StepKind::Release => {
                            !me.replacing && live_references(other.change, me_addr)
                        }
                        StepKind::Create => false,
                    };
                    if blocks {
                        preds.push(j);
                    }
                }
            }
        }
        preds.sort_unstable();
        preds.dedup();
        steps[i].preds = preds;
    }
    steps
}

/// True when `r` (as the file or AWS has it) references `addr`.
fn references(r: &crate::plan::ResourceChange, addr: &Addr) -> bool {
    live_references(r, addr) || r.desired.as_ref().is_some_and(|d| d.deps.contains(addr))
}

/// True when `r` as AWS has it references `addr`.
fn live_references(r: &crate::plan::ResourceChange, addr: &Addr) -> bool {
    r.observed.as_ref().is_some_and(|o| o.deps.contains(addr))
}

/// Run every step of the plan. Never returns early: each step ends done, failed or skipped.
pub async fn execute(plan: &Plan, op: &dyn Operator, reporter: &dyn Reporter) -> Outcome {
    let started = Instant::now();
    let steps = steps(plan, op);
    let mut state = vec![State::Pending; steps.len()];
    let mut outcome = Outcome::default();
    let mut running = FuturesUnordered::new();
    loop {
        // Skip what depends on a failure, transitively.
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..steps.len() {
                if state[i] != State::Pending {
                    continue;
                }
                if let Some(&j) = steps[i].preds.iter().find(|&&j| matches!(state[j], State::Failed | State::Skipped)) {
                    state[i] = State::Skipped;
                    changed = true;
                    let (addr, because) = (steps[i].change.addr.clone(), steps[j].change.addr.clone());
                    reporter.event(Event::Skipped { addr: addr.clone(), because: because.clone() });
                    outcome.skipped.push((addr, because));
                }
            }
        }
        for i in 0..steps.len() {
            if state[i] == State::Pending && steps[i].preds.iter().all(|&j| state[j] == State::Done) {
                state[i] = State::Running;
                running.push(run_step(i, &steps[i], op, reporter));
            }
        }
        let Some((i, result)) = running.next().await else { break };
        let step = &steps[i];
        match result {
            Ok(elapsed) => {
                state[i] = State::Done;
                reporter.event(Event::Finished { addr: step.change.addr.clone(), kind: step.kind, elapsed });
                outcome.done.push((step.change.addr.clone(), step.kind));
            }
            Err(e) => {
                state[i] = State::Failed;
                reporter.event(Event::Failed { addr: step.change.addr.clone(), kind: step.kind, error: e.clone() });
                outcome.failed.push((step.change.addr.clone(), e));
            }
        }
    }
    // Whatever never became ready waits on itself through a dependency cycle: a bug in
    // a provider's dependencies, reported rather than passed over as done.
    for step in steps.iter().enumerate().filter(|(i, _)| state[*i] == State::Pending).map(|(_, s)| s) {
        let waits_on: Vec<String> = step
            .preds
            .iter()
            .filter(|&&j| state[j] == State::Pending)
            .map(|&j| format!("`{}`", steps[j].change.addr))
            .collect();
        let error = StepError::new("plan", format!("dependency cycle: it waits on {}", waits_on.join(", ")));
        reporter.event(Event::Failed { addr: step.change.addr.clone(), kind: step.kind, error: error.clone() });
        outcome.failed.push((step.change.addr.clone(), error));
    }
    outcome.elapsed = started.elapsed();
    outcome
}

async fn run_step(
    i: usize,
    step: &Step<'_>,
    op: &dyn Operator,
    reporter: &dyn Reporter,
) -> (usize, Result<Duration, StepError>) {
    let t = Instant::now();
    let c = step.change;
    reporter.event(Event::Started { addr: c.addr.clone(), kind: step.kind });
    let p = Progress::new(&c.addr, reporter);
    let missing = || StepError::new("plan", "the plan lacks the resource's state");
    let result = match step.kind {
        StepKind::Create => match &c.desired {
            Some(d) => op.create(d, &p).await,
            None => Err(missing()),
        },
        StepKind::Update | StepKind::Adopt | StepKind::Release => match (&c.desired, &c.observed) {
            (Some(d), Some(o)) => op.update(d, o, &c.changes, &p).await,
            _ => Err(missing()),
        },
        StepKind::Delete => match &c.observed {
            Some(o) => op.delete(o, c.desired.as_ref(), &p).await,
            None => Err(missing()),
        },
    };
    (i, result.map(|()| t.elapsed()))
}

#[cfg(test)]
mod tests;
