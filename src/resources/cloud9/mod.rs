//! The optional Cloud9 environment shared with the developers.

pub mod environment;

#[cfg(test)]
mod tests;
