//! Bounces: what failures tell us about addresses, and the suppressions that follow.
//! `parse` reads bounce mails, `classify` gives the verdict (for bounce mails and for the replies
//! to our own sends alike), `verp` makes and checks the return paths that tie a bounce to our
//! message, `maildir` reads a Maildir as mail readers do, `ingest` matches and records bounces,
//! and `suppression` decides what an address has earned.

pub mod classify;
pub mod ingest;
pub mod parse;
pub mod suppression;
pub mod verp;

pub use crate::mailbox::read_mails;
pub use ingest::{ingest_mails, BounceIngestReport};
pub use parse::{parse_bounce, ParsedBounce, RecipientReport};
pub use suppression::{act_on_bounce, apply_bounce, SuppressionPolicy};
pub use verp::ReturnPaths;
