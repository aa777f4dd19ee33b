//! The database: the RDS subnet group and instance.

use super::Provider;

/// This family's providers.
pub fn providers() -> Vec<Box<dyn Provider>> {
    vec![]
}
