//! Court dates on SQLite: what a run reads to decide its date notices.

use chrono::{DateTime, Utc};

use super::rows::micros;
use super::SqliteStore;
use crate::store::rows::{DateToldRow, DateTrackerRow, EventVersionRow};
use crate::store::{DateCandidates, DateCounts, DateStore, StoreError};

const TRACKERS: &str = include_str!("../../../sql/sqlite/queries/date_trackers.sql");
const VERSIONS: &str = include_str!("../../../sql/sqlite/queries/date_versions.sql");
const COUNTS: &str = include_str!("../../../sql/sqlite/queries/date_counts.sql");
const TOLD: &str = include_str!("../../../sql/sqlite/queries/date_told.sql");

impl DateStore for SqliteStore {
    /// In one read transaction, so the three answers agree.
    async fn date_candidates(
        &self,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Result<DateCandidates, StoreError> {
        let (now, horizon) = (micros(now), micros(horizon));
        let mut tx = self.pool.begin().await?;
        let trackers: Vec<DateTrackerRow<i64>> = sqlx::query_as(TRACKERS)
            .bind(now)
            .bind(horizon)
            .fetch_all(&mut *tx)
            .await?;
        let versions: Vec<EventVersionRow<i64>> = sqlx::query_as(VERSIONS)
            .bind(now)
            .bind(horizon)
            .fetch_all(&mut *tx)
            .await?;
        let told: Vec<DateToldRow> = sqlx::query_as(TOLD)
            .bind(now)
            .bind(horizon)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DateCandidates {
            trackers: trackers
                .into_iter()
                .map(TryFrom::try_from)
                .collect::<Result<_, _>>()?,
            versions: versions
                .into_iter()
                .map(TryFrom::try_from)
                .collect::<Result<_, _>>()?,
            told: told
                .into_iter()
                .map(TryFrom::try_from)
                .collect::<Result<_, _>>()?,
        })
    }

    async fn date_counts(&self, now: DateTime<Utc>) -> Result<DateCounts, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(COUNTS)
            .bind(micros(now))
            .fetch_all(&self.pool)
            .await?;
        Ok(DateCounts::from_rows(rows))
    }
}
