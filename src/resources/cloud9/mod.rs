//! The optional Cloud9 environment shared with the developers.

pub mod environment;

use super::Provider;

/// This family's providers.
pub fn providers() -> Vec<Box<dyn Provider>> {
    vec![Box::new(environment::Environments)]
}

#[cfg(test)]
mod tests;
