//! Party watches: an account names a person or an organisation, and hears of each new case
//! that names it (a case filed, or a party added to a case) without tracking the case first.
//! `names` compares names; the feed, the matching step and the notices build on it.

pub mod matching;
pub mod names;
pub mod nicknames;
pub mod step;
pub mod trial;

pub use names::{NameError, NamePattern, PartyKind};
