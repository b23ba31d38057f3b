//! The shared rows with PostgreSQL's instants (`timestamptz`, read as `DateTime<Utc>`).

use chrono::{DateTime, Utc};

pub(super) type RunRow = crate::store::rows::RunRow<DateTime<Utc>>;
pub(super) type HistoryRow = crate::store::rows::HistoryRow<DateTime<Utc>>;
pub(super) type TargetRow = crate::store::rows::TargetRow<DateTime<Utc>>;
pub(super) type MetricsRows = crate::store::rows::MetricsRows<DateTime<Utc>>;
