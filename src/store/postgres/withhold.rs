//! Withholding on PostgreSQL: queued messages that report something no longer notifiable are
//! cancelled, their pairs marked in the ledger and their other pairs held for the next run.
//! Shared by the batch, the fence before a send and unsubscribes.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use crate::store::rows::UnnotifiableDate;
use crate::store::{StoreError, Withheld};

const UNNOTIFIABLE_PAIRS: &str =
    include_str!("../../../sql/postgres/queries/unnotifiable_pairs.sql");

const UNNOTIFIABLE_DATES: &str =
    include_str!("../../../sql/postgres/queries/unnotifiable_dates.sql");

const UNNOTIFIABLE_WATCH_NOTICES: &str =
    include_str!("../../../sql/postgres/queries/unnotifiable_watch_notices.sql");

const FORGO_HELD_PAIRS: &str = include_str!("../../../sql/postgres/queries/forgo_held_pairs.sql");

/// Deletes the held pairs no run would queue again (see `forgo_held_pairs.sql`), counted
/// among the metrics; returns how many.
pub(super) async fn forgo_held_pairs_in(
    tx: &mut Transaction<'static, Postgres>,
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
    tx: &mut Transaction<'static, Postgres>,
    now: DateTime<Utc>,
    outbox_id: i64,
) -> Result<bool, StoreError> {
    Ok(!unnotifiable_dates(tx, now, Some(&[outbox_id]))
        .await?
        .is_empty())
}

/// Withholds what may no longer be sent from queued messages not under a live lease at `now`,
/// or from the messages `only` (their worker's check before sending found them).
///
/// Another process may withhold, claim or finish the same messages at the same moment, so the
/// messages found are locked (in id order, so two withholders never deadlock) and read again
/// under the lock: a message cancelled, sent or claimed meanwhile is left alone, and each
/// message is withheld by exactly one transaction.
pub(super) async fn withhold_in(
    tx: &mut Transaction<'static, Postgres>,
    now: DateTime<Utc>,
    only: Option<&[i64]>,
) -> Result<Withheld, StoreError> {
    let found = unnotifiable_pairs(tx, now, only).await?;
    let mut candidates: Vec<i64> = found.iter().map(|(id, _, _)| *id).collect();
    candidates.extend(
        unnotifiable_dates(tx, now, only)
            .await?
            .iter()
            .map(|d| d.outbox_id),
    );
    candidates.extend(
        unnotifiable_watch_notices(tx, now, only)
            .await?
            .iter()
            .map(|(id, _)| *id),
    );
    candidates.sort_unstable();
    candidates.dedup();
    if candidates.is_empty() {
        return Ok(Withheld::default());
    }
    let outbox_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT outbox_id FROM outbox
         WHERE outbox_id = ANY($1::bigint[]) AND state = 'queued'
           AND ($3::bigint[] IS NULL AND (lease_until IS NULL OR lease_until <= $2)
                OR outbox_id = ANY($3))
         ORDER BY outbox_id
         FOR UPDATE",
    )
    .bind(&candidates)
    .bind(now)
    .bind(only)
    .fetch_all(&mut **tx)
    .await?;
    // Read again now that the messages are ours: this statement sees what committed while
    // we waited for the locks.
    let pairs: Vec<(i64, String, i64)> = unnotifiable_pairs(tx, now, only)
        .await?
        .into_iter()
        .filter(|(id, _, _)| outbox_ids.binary_search(id).is_ok())
        .collect();
    let dates: Vec<UnnotifiableDate> = unnotifiable_dates(tx, now, only)
        .await?
        .into_iter()
        .filter(|d| outbox_ids.binary_search(&d.outbox_id).is_ok())
        .collect();
    let watch_notices: Vec<(i64, String)> = unnotifiable_watch_notices(tx, now, only)
        .await?
        .into_iter()
        .filter(|(id, _)| outbox_ids.binary_search(id).is_ok())
        .collect();
    let mut done = Withheld::default();
    let mut withheld_ids: Vec<i64> = pairs.iter().map(|(id, _, _)| *id).collect();
    withheld_ids.extend(dates.iter().map(|d| d.outbox_id));
    withheld_ids.extend(watch_notices.iter().map(|(id, _)| *id));
    withheld_ids.sort_unstable();
    withheld_ids.dedup();
    for date in &dates {
        sqlx::query(
            "UPDATE date_notices SET withheld_reason = $1
             WHERE outbox_id = $2 AND account_id = $3 AND event_id = $4 AND version = $5
               AND notice = $6 AND days = $7",
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
            "UPDATE notification_ledger SET withheld_reason = $1, withheld_at = $2
             WHERE outbox_id = $3 AND entry_seq = $4",
        )
        .bind(reason)
        .bind(now)
        .bind(outbox_id)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        done.pairs += 1;
    }
    for outbox_id in withheld_ids {
        let mut reasons: Vec<String> = sqlx::query_scalar(
            "SELECT withheld_reason FROM notification_ledger
             WHERE outbox_id = $1 AND withheld_reason IS NOT NULL
             UNION
             SELECT withheld_reason FROM date_notices
             WHERE outbox_id = $1 AND withheld_reason IS NOT NULL
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
            "UPDATE outbox SET state = 'cancelled', finished_at = $1, lease_owner = NULL,
                lease_until = NULL, last_error = $2
             WHERE outbox_id = $3",
        )
        .bind(now)
        .bind(format!("withheld: {}", reasons.join(", ")))
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        let requeued = sqlx::query(
            "INSERT INTO held_pairs (account_id, entry_seq, run_id, reason, held_at)
             SELECT l.account_id, l.entry_seq, o.run_id,
                    'to be queued again: its digest was withheld', $1
             FROM notification_ledger l JOIN outbox o ON o.outbox_id = l.outbox_id
             WHERE l.outbox_id = $2 AND l.withheld_reason IS NULL
             ON CONFLICT (account_id, entry_seq) DO NOTHING",
        )
        .bind(now)
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "DELETE FROM notification_ledger WHERE outbox_id = $1 AND withheld_reason IS NULL",
        )
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        // Its new-case notices and pauses wait for a digest again (a sealed case's until it
        // is open again).
        sqlx::query("UPDATE watch_matches SET outbox_id = NULL WHERE outbox_id = $1")
            .bind(outbox_id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE watches SET pause_outbox_id = NULL WHERE pause_outbox_id = $1")
            .bind(outbox_id)
            .execute(&mut **tx)
            .await?;
        // The message's other date notices are decided again by the next run.
        sqlx::query("DELETE FROM date_notices WHERE outbox_id = $1 AND withheld_reason IS NULL")
            .bind(outbox_id)
            .execute(&mut **tx)
            .await?;
        done.messages += 1;
        done.requeued += requeued.rows_affected();
    }
    Ok(done)
}

async fn unnotifiable_dates(
    tx: &mut Transaction<'static, Postgres>,
    now: DateTime<Utc>,
    only: Option<&[i64]>,
) -> Result<Vec<UnnotifiableDate>, StoreError> {
    Ok(sqlx::query_as(UNNOTIFIABLE_DATES)
        .bind(now)
        .bind(only)
        .fetch_all(&mut **tx)
        .await?)
}

async fn unnotifiable_watch_notices(
    tx: &mut Transaction<'static, Postgres>,
    now: DateTime<Utc>,
    only: Option<&[i64]>,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(UNNOTIFIABLE_WATCH_NOTICES)
        .bind(now)
        .bind(only)
        .fetch_all(&mut **tx)
        .await?)
}

/// Whether a new-case notice of the queued message `outbox_id` may no longer be sent (its
/// case sealed or no longer tracked; see unnotifiable_watch_notices.sql).
pub(super) async fn has_unsendable_watch_notices(
    tx: &mut Transaction<'static, Postgres>,
    now: DateTime<Utc>,
    outbox_id: i64,
) -> Result<bool, StoreError> {
    Ok(!unnotifiable_watch_notices(tx, now, Some(&[outbox_id]))
        .await?
        .is_empty())
}

async fn unnotifiable_pairs(
    tx: &mut Transaction<'static, Postgres>,
    now: DateTime<Utc>,
    only: Option<&[i64]>,
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    Ok(sqlx::query_as(UNNOTIFIABLE_PAIRS)
        .bind(now)
        .bind(only)
        .fetch_all(&mut **tx)
        .await?)
}
