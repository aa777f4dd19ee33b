//! The one end-to-end test binary: the real `bumarket-infra` against the moto server,
//! results checked with an independent client (awscli). Tests share one emulator per
//! process and isolate themselves by unique stack names, so they run in parallel.
//!
//! Needs the test bed: `scripts/test` installs it (`scripts/testbed install`).

#[path = "../support/mod.rs"]
mod support;

mod adopt;
mod database;
mod domain;
mod drift;
mod edges;
mod environments;
mod existing;
mod faults;
mod graph;
mod harness;
mod iam;
mod killed;
mod load_balancer;
mod lock;
mod monitoring;
mod network;
mod permissions;
mod preflight;
mod progress;
mod review;
mod saved_plan;
mod shell;
mod slow;
mod stack_bumarket;
mod stack_minimal;
mod strict;
