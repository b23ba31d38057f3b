//! Outages on PostgreSQL: added all together or not at all, never overlapping, even when two
//! processes add outages at the same moment.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::model::{NewOutage, Outage};
use crate::store::{CalendarStore, StoreError};

type OutageRow = (i64, DateTime<Utc>, DateTime<Utc>, String);

fn outage((outage_id, starts_at, ends_at, reason): OutageRow) -> Outage {
    Outage {
        outage_id,
        starts_at,
        ends_at,
        reason,
    }
}

impl CalendarStore for PgStore {
    async fn outages(&self) -> Result<Vec<Outage>, StoreError> {
        let rows: Vec<OutageRow> = sqlx::query_as(
            "SELECT outage_id, starts_at, ends_at, reason FROM outages ORDER BY starts_at",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(outage).collect())
    }

    async fn add_outages(
        &self,
        outages: &[NewOutage],
        now: DateTime<Utc>,
    ) -> Result<Result<Vec<i64>, Outage>, StoreError> {
        let mut tx = self.begin().await?;
        // Adders take turns (readers do not wait): the overlap check below sees every outage
        // an earlier adder committed. The table's exclusion constraint guarantees the same
        // to any other writer.
        sqlx::query("LOCK TABLE outages IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let mut ids = Vec::new();
        for o in outages {
            let clash: Option<OutageRow> = sqlx::query_as(
                "SELECT outage_id, starts_at, ends_at, reason FROM outages
                 WHERE starts_at < $2 AND ends_at > $1 ORDER BY starts_at LIMIT 1",
            )
            .bind(o.starts_at)
            .bind(o.ends_at)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(clash) = clash {
                // Dropping the transaction undoes the outages already added.
                return Ok(Err(outage(clash)));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO outages (starts_at, ends_at, reason, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING outage_id",
            )
            .bind(o.starts_at)
            .bind(o.ends_at)
            .bind(&o.reason)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Ok(ids))
    }

    async fn remove_outage(&self, outage_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM outages WHERE outage_id = $1")
            .bind(outage_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
