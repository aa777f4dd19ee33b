//! Counts AWS calls and measures their depth: the longest chain of calls in which each
//! started only after the previous one ended. A plan's reads run in parallel waves, so
//! the depth stays at 2-3 however many resources the stack has; the benchmark holds it.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One finished AWS operation (retries included in its span).
#[derive(Debug, Clone)]
pub struct Call {
    pub service: String,
    pub operation: String,
    pub start: Instant,
    pub end: Instant,
}

#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<Call>>,
    /// Every (service, operation) made by this process, never cleared: what
    /// `permissions` is checked against.
    made: Mutex<std::collections::BTreeSet<(String, String)>>,
}

impl CallLog {
    pub fn interceptor(self: &Arc<Self>) -> Recorder {
        Recorder { log: Arc::clone(self) }
    }

    pub fn snapshot(&self) -> Vec<Call> {
        self.calls.lock().expect("call log").clone()
    }

    /// Every (service, operation) made so far, [`CallLog::clear`] notwithstanding.
    pub fn made(&self) -> std::collections::BTreeSet<(String, String)> {
        self.made.lock().expect("call log").clone()
    }

    pub fn clear(&self) {
        self.calls.lock().expect("call log").clear();
    }

    /// Number of operations made.
    pub fn count(&self) -> usize {
        self.calls.lock().expect("call log").len()
    }

    /// How many calls of each `Service.Operation` were made.
    pub fn by_operation(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for c in self.calls.lock().expect("call log").iter() {
            *m.entry(format!("{}.{}", c.service, c.operation)).or_insert(0) += 1;
        }
        m
    }

    /// Longest chain of calls that ran one after another.
    pub fn depth(&self) -> usize {
        depth(&self.snapshot())
    }

    /// Each call with its start and end in ms since `since`, in order of start, for `-vv`.
    pub fn timeline(&self, since: Instant) -> Vec<String> {
        let mut calls = self.snapshot();
        calls.sort_by_key(|c| c.start);
        let ms = |t: Instant| t.saturating_duration_since(since).as_millis();
        calls.iter().map(|c| format!("{:>6} {:>6} ms  {}.{}", ms(c.start), ms(c.end), c.service, c.operation)).collect()
    }

    /// One longest chain of calls, for `-v`.
    pub fn chain(&self) -> Vec<String> {
        chain(&self.snapshot())
    }
}

/// Longest chain of non-overlapping calls (each starts at or after the previous ends).
pub fn depth(calls: &[Call]) -> usize {
    chain(calls).len()
}

/// The calls of one longest chain, first to last (`Service.Operation`).
pub fn chain(calls: &[Call]) -> Vec<String> {
    let mut by_end: Vec<&Call> = calls.iter().collect();
    by_end.sort_by_key(|c| c.end);
    let mut best: Vec<(usize, Option<usize>)> = Vec::with_capacity(by_end.len());
    for (i, c) in by_end.iter().enumerate() {
        let prev = (0..i).filter(|&j| by_end[j].end <= c.start).max_by_key(|&j| best[j].0);
        best.push((prev.map_or(0, |j| best[j].0) + 1, prev));
    }
    let mut at = (0..best.len()).max_by_key(|&i| best[i].0);
    let mut out = Vec::new();
    while let Some(i) = at {
        out.push(format!("{}.{}", by_end[i].service, by_end[i].operation));
        at = best[i].1;
    }
    out.reverse();
    out
}

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// The SDK interceptor that feeds a [`CallLog`].
#[derive(Debug, Clone)]
pub struct Recorder {
    log: Arc<CallLog>,
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "bumarket-infra call log"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let start = cfg.load::<Started>().map_or_else(Instant::now, |s| s.0);
        let (service, operation) =
            cfg.load::<Metadata>().map(|m| (m.service().to_string(), m.name().to_string())).unwrap_or_default();
        tracing::debug!(%service, %operation, ms = start.elapsed().as_millis() as u64, "aws call");
        self.log.made.lock().expect("call log").insert((service.clone(), operation.clone()));
        self.log.calls.lock().expect("call log").push(Call { service, operation, start, end: Instant::now() });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn depth_counts_sequential_waves_not_parallel_calls() {
        let t0 = Instant::now();
        let at = |a: u64, b: u64| Call {
            service: String::new(),
            operation: String::new(),
            start: t0 + Duration::from_millis(a),
            end: t0 + Duration::from_millis(b),
        };
        // wave 1: three parallel calls; wave 2: two parallel calls after them
        let calls = vec![at(0, 10), at(1, 9), at(2, 11), at(12, 20), at(12, 22)];
        assert_eq!(depth(&calls), 2);
        assert_eq!(depth(&[]), 0);
        assert_eq!(depth(&[at(0, 1), at(1, 2), at(2, 3)]), 3);
    }
}
