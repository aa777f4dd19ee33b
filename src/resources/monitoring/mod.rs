//! Monitoring: the alerts topic and its e-mail subscriptions, CloudWatch alarms, the dashboard, log groups, and database logs delivered to the logs bucket.

use super::Provider;

/// This family's providers.
pub fn providers() -> Vec<Box<dyn Provider>> {
    vec![]
}
