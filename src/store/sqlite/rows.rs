//! Instants as SQLite stores them (microseconds since the epoch), and the shared rows with
//! SQLite's instants.

use chrono::{DateTime, Utc};

use crate::store::rows::{opt, StoredInstant};
use crate::store::StoreError;

pub(super) use crate::store::rows::{
    suppression_from_row, OutboxRefRow, RunSumsRow, OUTBOX_ENTRY_COLUMNS,
};
pub(super) type MatchRecord = crate::store::rows::MatchRecord<i64>;
pub(super) type RunRow = crate::store::rows::RunRow<i64>;
pub(super) type ClaimRow = crate::store::rows::ClaimRow<i64>;
pub(super) type OutboxEntryRow = crate::store::rows::OutboxEntryRow<i64>;
pub(super) type MetricsRows = crate::store::rows::MetricsRows<i64>;

/// Instants are stored as microseconds since the epoch.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn instant(us: i64) -> Result<DateTime<Utc>, StoreError> {
    us.into_instant()
}

pub(super) fn opt_instant(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    opt(us)
}
