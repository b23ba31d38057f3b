//! Bounces: what failures tell us about addresses, and the suppressions that follow.

pub mod suppression;

pub use suppression::{apply_bounce, SuppressionPolicy};
