//! Bounces: what failures tell us about addresses, and the suppressions that follow.
//! `parse` reads bounce mails, `classify` gives the verdict, `ingest` matches and records them,
//! `suppression` decides what an address has earned.

pub mod classify;
pub mod ingest;
pub mod parse;
pub mod suppression;

pub use ingest::{ingest_mails, read_mails, BounceIngestReport};
pub use parse::{parse_bounce, ParsedBounce, RecipientReport};
pub use suppression::{apply_bounce, SuppressionPolicy};
