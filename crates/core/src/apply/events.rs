//! Events the executor emits while it works, and the reporter trait that shows them
//! (one line per event in CI; the CLI's reporter lives in `crate::render::progress`).

use super::{StepError, StepKind};
use crate::engine::Addr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started {
        addr: Addr,
        kind: StepKind,
    },
    /// A step says what it is waiting for ("waiting for the bucket to exist").
    Progress {
        addr: Addr,
        message: String,
    },
    Finished {
        addr: Addr,
        kind: StepKind,
        elapsed: Duration,
    },
    Failed {
        addr: Addr,
        kind: StepKind,
        error: StepError,
    },
    Skipped {
        addr: Addr,
        because: Addr,
    },
}

/// Receives events; must be cheap and must not block.
pub trait Reporter: Send + Sync {
    fn event(&self, event: Event);
}
