//! The application load balancer, its target group and listeners.

use super::Provider;

/// This family's providers.
pub fn providers() -> Vec<Box<dyn Provider>> {
    vec![]
}
