//! The application load balancer in front of the fleet: `target_group.app` (layer 2),
//! `load_balancer.main` (layer 3) and its listeners (layer 4), each a provider in its own
//! file. They reference the network (`vpc.main`, `subnet.public-*`, `security_group.lb`)
//! and the access-log bucket by address. `log_delivery` holds the bucket-policy statement
//! that lets Elastic Load Balancing write access logs, which the bucket provider adds.

mod attributes;
mod handover;
pub mod listener;
pub mod load_balancer;
pub mod log_delivery;
pub mod snapshot;
pub mod tags;
pub mod target_group;
mod wait;

#[cfg(test)]
mod tests;
