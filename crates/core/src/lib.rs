//! The core of bumarket-infra, which knows nothing of AWS: the engine's vocabulary
//! (kinds, addresses, schemas, the two views of a resource), the plan as data and the
//! one function that decides it, the executor that walks a plan as a dependency graph,
//! and the renderers of plans and progress. Providers (in the binary crate) fill these
//! types in; nothing here names an AWS service, so these tests build and run without
//! the AWS SDK.

pub mod apply;
pub mod engine;
pub mod plan;
pub mod render;

#[cfg(test)]
mod testing;
