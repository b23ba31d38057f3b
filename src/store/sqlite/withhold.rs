//! Withholding on SQLite: queued messages that report something no longer notifiable are
//! cancelled, their pairs marked in the ledger and their other pairs held for the next run.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};

use super::rows::micros;
use crate::store::rows::UnnotifiableDate;
use crate::store::{StoreError, Withheld};

const UNNOTIFIABLE_PAIRS: &str = include_str!("../../../sql/sqlite/queries/unnotifiable_pairs.sql");

const UNNOTIFIABLE_DATES: &str = include_str!("../../../sql/sqlite/queries/unnotifiable_dates.sql");

const UNNOTIFIABLE_WATCH_NOTICES: &str =
    include_str!("../../../sql/sqlite/queries/unnotifiable_watch_notices.sql");

const FORGO_HELD_PAIRS: &str = include_str!("../../../sql/sqlite/queries/forgo_held_pairs.sql");

/// Deletes the held pairs no run would queue again (see `forgo_held_pairs.sql`), counted
/// among the metrics; returns how many.
pub(super) async fn forgo_held_pairs_in(
    tx: &mut Transaction<'static, Sqlite>,
) -> Result<u64, StoreError> {
    let forgone = sqlx::query(FORGO_HELD_PAIRS)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    super::bump_counter(tx, "held_pairs_forgone", "", forgone).await?;
    Ok(forgone)
}

/// Whether a date notice of the queued message `outbox_id` may no longer be sent (the check
/// before a send; see unnotifiable_dates.sql).
pub(super) async fn has_unsendable_dates(
    tx: &mut Transaction<'static, Sqlite>,
    now: DateTime<Utc>,
    outbox_id: i64,
) -> Result<bool, StoreError> {
    let dates: Vec<UnnotifiableDate> = sqlx::query_as(UNNOTIFIABLE_DATES)
        .bind(micros(now))
        .bind(format!("[{outbox_id}]"))
        .fetch_all(&mut **tx)
        .await?;
    Ok(!dates.is_empty())
}

/// Whether a new-case notice of the queued message `outbox_id` may no longer be sent (its
/// case sealed or no longer tracked; see unnotifiable_watch_notices.sql).
pub(super) async fn has_unsendable_watch_notices(
    tx: &mut Transaction<'static, Sqlite>,
    now: DateTime<Utc>,
    outbox_id: i64,
) -> Result<bool, StoreError> {
    let found: Vec<(i64, String)> = sqlx::query_as(UNNOTIFIABLE_WATCH_NOTICES)
        .bind(micros(now))
        .bind(format!("[{outbox_id}]"))
        .fetch_all(&mut **tx)
        .await?;
    Ok(!found.is_empty())
}

/// Withholds what may no longer be sent from queued messages not under a live lease, or from
/// the messages `only` (their worker's check before sending found them).
pub(super) async fn withhold_in(
    tx: &mut Transaction<'static, Sqlite>,
    now: DateTime<Utc>,
    only: Option<&[i64]>,
) -> Result<Withheld, StoreError> {
    let only = only.map(|ids| serde_json::to_string(ids).expect("ids serialise"));
    let pairs: Vec<(i64, String, i64)> = sqlx::query_as(UNNOTIFIABLE_PAIRS)
        .bind(micros(now))
        .bind(&only)
        .fetch_all(&mut **tx)
        .await?;
    let dates: Vec<UnnotifiableDate> = sqlx::query_as(UNNOTIFIABLE_DATES)
        .bind(micros(now))
        .bind(&only)
        .fetch_all(&mut **tx)
        .await?;
    let watch_notices: Vec<(i64, String)> = sqlx::query_as(UNNOTIFIABLE_WATCH_NOTICES)
        .bind(micros(now))
        .bind(&only)
        .fetch_all(&mut **tx)
        .await?;
    let mut done = Withheld::default();
    let mut outbox_ids: Vec<i64> = pairs.iter().map(|(id, _, _)| *id).collect();
    outbox_ids.extend(dates.iter().map(|d| d.outbox_id));
    outbox_ids.extend(watch_notices.iter().map(|(id, _)| *id));
    outbox_ids.sort_unstable();
    outbox_ids.dedup();
    for date in &dates {
        sqlx::query(
            "UPDATE date_notices SET withheld_reason = ?
             WHERE outbox_id = ? AND account_id = ? AND event_id = ? AND version = ?
               AND notice = ? AND days = ?",
        )
        .bind(&date.reason)
        .bind(date.outbox_id)
        .bind(&date.account_id)
        .bind(&date.event_id)
        .bind(date.version)
        .bind(&date.notice)
        .bind(date.days)
        .execute(&mut **tx)
        .await?;
    }
    for (outbox_id, reason, seq) in &pairs {
        sqlx::query(
            "UPDATE notification_ledger SET withheld_reason = ?, withheld_at = ?
                 WHERE outbox_id = ? AND entry_seq = ?",
        )
        .bind(reason)
        .bind(micros(now))
        .bind(outbox_id)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        done.pairs += 1;
    }
    for outbox_id in outbox_ids {
        let mut reasons: Vec<String> = sqlx::query_scalar(
            "SELECT withheld_reason FROM notification_ledger
                 WHERE outbox_id = ?1 AND withheld_reason IS NOT NULL
             UNION
             SELECT withheld_reason FROM date_notices
                 WHERE outbox_id = ?1 AND withheld_reason IS NOT NULL
             ORDER BY 1",
        )
        .bind(outbox_id)
        .fetch_all(&mut **tx)
        .await?;
        reasons.extend(crate::store::watches::withheld_reasons(
            &watch_notices,
            outbox_id,
        ));
        reasons.sort();
        reasons.dedup();
        sqlx::query(
            "UPDATE outbox SET state = 'cancelled', finished_at = ?, lease_owner = NULL,
                    lease_until = NULL, last_error = ?
                 WHERE outbox_id = ?",
        )
        .bind(micros(now))
        .bind(format!("withheld: {}", reasons.join(", ")))
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        let requeued = sqlx::query(
            "INSERT INTO held_pairs (account_id, entry_seq, run_id, reason, held_at)
                 SELECT l.account_id, l.entry_seq, o.run_id,
                        'to be queued again: its digest was withheld', ?
                 FROM notification_ledger l JOIN outbox o ON o.outbox_id = l.outbox_id
                 WHERE l.outbox_id = ? AND l.withheld_reason IS NULL
                 ON CONFLICT (account_id, entry_seq) DO NOTHING",
        )
        .bind(micros(now))
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "DELETE FROM notification_ledger WHERE outbox_id = ? AND withheld_reason IS NULL",
        )
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        // Its new-case notices and pauses wait for a digest again (a sealed case's until it
        // is open again).
        sqlx::query("UPDATE watch_matches SET outbox_id = NULL WHERE outbox_id = ?")
            .bind(outbox_id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE watches SET pause_outbox_id = NULL WHERE pause_outbox_id = ?")
            .bind(outbox_id)
            .execute(&mut **tx)
            .await?;
        // The message's other date notices are decided again by the next run.
        sqlx::query("DELETE FROM date_notices WHERE outbox_id = ? AND withheld_reason IS NULL")
            .bind(outbox_id)
            .execute(&mut **tx)
            .await?;
        done.messages += 1;
        done.requeued += requeued.rows_affected();
    }
    Ok(done)
}
