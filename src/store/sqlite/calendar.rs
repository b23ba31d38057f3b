//! Outages on SQLite: added all together or not at all, never overlapping.

use chrono::{DateTime, Utc};

use super::rows::{instant, micros};
use super::SqliteStore;
use crate::model::NewOutage;
use crate::store::{CalendarStore, StoreError};

impl CalendarStore for SqliteStore {
    async fn outages(&self) -> Result<Vec<crate::model::Outage>, StoreError> {
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT outage_id, starts_at, ends_at, reason FROM outages ORDER BY starts_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(outage_id, starts, ends, reason)| {
                Ok(crate::model::Outage {
                    outage_id,
                    starts_at: instant(starts)?,
                    ends_at: instant(ends)?,
                    reason,
                })
            })
            .collect()
    }

    async fn add_outages(
        &self,
        outages: &[NewOutage],
        now: DateTime<Utc>,
    ) -> Result<Result<Vec<i64>, crate::model::Outage>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::new();
        for o in outages {
            let clash: Option<(i64, i64, i64, String)> = sqlx::query_as(
                "SELECT outage_id, starts_at, ends_at, reason FROM outages
                 WHERE starts_at < ?2 AND ends_at > ?1 LIMIT 1",
            )
            .bind(micros(o.starts_at))
            .bind(micros(o.ends_at))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((outage_id, starts, ends, reason)) = clash {
                // Dropping the transaction undoes the outages already added.
                return Ok(Err(crate::model::Outage {
                    outage_id,
                    starts_at: instant(starts)?,
                    ends_at: instant(ends)?,
                    reason,
                }));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO outages (starts_at, ends_at, reason, created_at) VALUES (?, ?, ?, ?)
                 RETURNING outage_id",
            )
            .bind(micros(o.starts_at))
            .bind(micros(o.ends_at))
            .bind(&o.reason)
            .bind(micros(now))
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Ok(ids))
    }

    async fn remove_outage(&self, outage_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM outages WHERE outage_id = ?")
            .bind(outage_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
