//! The batch on SQLite: runs claim entries under the write lock, stream their matches, and queue
//! digests with their ledger rows in one transaction.

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use futures_util::TryStreamExt;
use sqlx::{QueryBuilder, Sqlite};

use super::leases::check_leader;
use super::rows::{micros, MatchRecord};
use super::withhold::withhold_in;
use super::SqliteStore;
use crate::model::MatchRow;
use crate::store::history::Job;
use crate::store::{
    AccountStanding, BatchStore, DropCounts, HeldDigest, OpenedRun, PreviewRange, QueuedMessage,
    RunScope, RunTotals, StageTimings, StoreError, Withheld,
};

const MATCH_ROWS: &str = include_str!("../../../sql/sqlite/queries/match_rows.sql");
const DROP_COUNTS: &str = include_str!("../../../sql/sqlite/queries/drop_counts.sql");

/// The bounds of a scope as the two query parameters: the claiming run (NULL for the unclaimed
/// entries) and the highest seq.
fn scope_params(scope: RunScope) -> (Option<i64>, i64) {
    match scope {
        RunScope::Claimed { run_id } => (Some(run_id), i64::MAX),
        RunScope::Preview { up_to_seq } => (None, up_to_seq),
    }
}

impl BatchStore for SqliteStore {
    async fn open_run(
        &self,
        leader: Option<&str>,
        max_entries: u32,
        now: DateTime<Utc>,
    ) -> Result<OpenedRun, StoreError> {
        let mut tx = self.begin_write().await?;
        check_leader(&mut tx, leader).await?;
        let unfinished: Option<(i64, Option<i64>, Option<i64>, i64)> = sqlx::query_as(
            "SELECT run_id, first_seq, last_seq, entries_claimed FROM runs
             WHERE status = 'running' ORDER BY run_id LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((run_id, first_seq, last_seq, claimed)) = unfinished {
            let (digests, pairs): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(DISTINCT o.outbox_id), COUNT(l.outbox_id)
                 FROM outbox o LEFT JOIN notification_ledger l ON l.outbox_id = o.outbox_id
                 WHERE o.run_id = ?",
            )
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(OpenedRun {
                run_id,
                resumed: true,
                first_seq,
                last_seq,
                entries_claimed: claimed.max(0) as u64,
                queued_before: RunTotals {
                    digests_queued: digests.max(0) as u64,
                    pairs_matched: pairs.max(0) as u64,
                    ..RunTotals::default()
                },
            });
        }
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (status, started_at) VALUES ('running', ?) RETURNING run_id",
        )
        .bind(micros(now))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE docket_entries SET run_id = ?1 WHERE seq IN (
                SELECT seq FROM docket_entries WHERE run_id IS NULL ORDER BY seq LIMIT ?2)",
        )
        .bind(run_id)
        .bind(max_entries as i64)
        .execute(&mut *tx)
        .await?;
        let (first_seq, last_seq, claimed): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "SELECT MIN(seq), MAX(seq), COUNT(*) FROM docket_entries WHERE run_id = ?",
        )
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE runs SET first_seq = ?, last_seq = ?, entries_claimed = ? WHERE run_id = ?",
        )
        .bind(first_seq)
        .bind(last_seq)
        .bind(claimed)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(OpenedRun {
            run_id,
            resumed: false,
            first_seq,
            last_seq,
            entries_claimed: claimed.max(0) as u64,
            queued_before: RunTotals::default(),
        })
    }

    async fn preview_run(&self, max_entries: u32) -> Result<PreviewRange, StoreError> {
        let (first_seq, last_seq, entries): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "SELECT MIN(seq), MAX(seq), COUNT(*) FROM (
                SELECT seq FROM docket_entries WHERE run_id IS NULL ORDER BY seq LIMIT ?)",
        )
        .bind(max_entries as i64)
        .fetch_one(&self.pool)
        .await?;
        let unfinished_run: Option<i64> =
            sqlx::query_scalar("SELECT MIN(run_id) FROM runs WHERE status = 'running'")
                .fetch_one(&self.pool)
                .await?;
        Ok(PreviewRange {
            first_seq,
            last_seq,
            entries: entries.max(0) as u64,
            unfinished_run,
        })
    }

    async fn drop_counts(&self, scope: RunScope) -> Result<DropCounts, StoreError> {
        let (run_id, up_to) = scope_params(scope);
        let (total, voided, confidential, excluded_court, excluded_case_type): (
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(DROP_COUNTS)
            .bind(run_id)
            .bind(up_to)
            .fetch_one(&self.pool)
            .await?;
        let n = |v: i64| v.max(0) as u64;
        Ok(DropCounts {
            voided: n(voided),
            confidential: n(confidential),
            excluded_court: n(excluded_court),
            excluded_case_type: n(excluded_case_type),
            notifiable: n(total - voided - confidential - excluded_court - excluded_case_type),
        })
    }

    async fn account_standing(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountStanding>, StoreError> {
        let row: Option<(String, bool, bool)> = sqlx::query_as(
            "SELECT a.email, a.email_verified,
                    EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email = lower(a.email))
             FROM accounts a WHERE a.account_id = ?",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(email, email_verified, suppressed)| AccountStanding {
                email,
                email_verified,
                suppressed,
            }),
        )
    }

    fn match_rows(&self, scope: RunScope) -> BoxStream<'_, Result<MatchRow, StoreError>> {
        let (run_id, up_to) = scope_params(scope);
        sqlx::query_as::<_, MatchRecord>(MATCH_ROWS)
            .bind(run_id)
            .bind(up_to)
            .fetch(&self.pool)
            .map_err(StoreError::from)
            .and_then(|r| async move { MatchRow::try_from(r) })
            .boxed()
    }

    async fn queue_digests(
        &self,
        run_id: i64,
        leader: Option<&str>,
        messages: &[QueuedMessage],
        held: &[HeldDigest],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if messages.is_empty() && held.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        check_leader(&mut tx, leader).await?;
        let mut ledger: Vec<(&str, i64, i64)> = Vec::new();
        for QueuedMessage {
            mail,
            entry_seqs,
            scope_key,
            subscription_ids,
        } in messages
        {
            let outbox_id: i64 = sqlx::query_scalar(
                "INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id,
                                     subject, state, created_at, lifetime_from, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?7) RETURNING outbox_id",
            )
            .bind(run_id)
            .bind(&mail.account_id)
            .bind(&mail.recipient)
            .bind(&mail.envelope_from)
            .bind(&mail.message_id)
            .bind(&mail.subject)
            .bind(micros(now))
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO outbox_bodies (outbox_id, raw) VALUES (?, ?)")
                .bind(outbox_id)
                .bind(&mail.raw)
                .execute(&mut *tx)
                .await?;
            super::unsubscribe::record_scope(&mut tx, scope_key, subscription_ids, now).await?;
            ledger.extend(
                entry_seqs
                    .iter()
                    .map(|&seq| (mail.account_id.as_str(), seq, outbox_id)),
            );
        }
        // Three parameters a row; SQLite allows 32766 per statement.
        for chunk in ledger.chunks(5_000) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO notification_ledger (account_id, entry_seq, outbox_id) ",
            );
            insert.push_values(chunk, |mut row, (account_id, seq, outbox_id)| {
                row.push_bind(*account_id)
                    .push_bind(*seq)
                    .push_bind(*outbox_id);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for (account_id, seq, _) in &ledger {
            sqlx::query("DELETE FROM held_pairs WHERE account_id = ? AND entry_seq = ?")
                .bind(account_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        for digest in held {
            for seq in &digest.entry_seqs {
                sqlx::query(
                    "INSERT INTO held_pairs (account_id, entry_seq, run_id, reason, held_at)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (account_id, entry_seq) DO UPDATE SET run_id = excluded.run_id,
                        reason = excluded.reason, held_at = excluded.held_at",
                )
                .bind(&digest.account_id)
                .bind(seq)
                .bind(run_id)
                .bind(&digest.reason)
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish_run(
        &self,
        run_id: i64,
        leader: Option<&str>,
        totals: &RunTotals,
        timings: &StageTimings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        check_leader(&mut tx, leader).await?;
        let d = &totals.drops;
        sqlx::query(
            "UPDATE runs SET status = 'done', finished_at = ?, entries_notifiable = ?,
                pairs_matched = ?, digests_queued = ?, skipped_unverified = ?,
                skipped_suppressed = ?, accounts_held = ?, dropped_voided = ?,
                dropped_confidential = ?,
                dropped_excluded_court = ?, dropped_excluded_type = ?,
                snapshot_ms = ?, filter_ms = ?, match_render_ms = ?, commit_ms = ?
             WHERE run_id = ?",
        )
        .bind(micros(now))
        .bind(d.notifiable as i64)
        .bind(totals.pairs_matched as i64)
        .bind(totals.digests_queued as i64)
        .bind(totals.skipped_unverified as i64)
        .bind(totals.skipped_suppressed as i64)
        .bind(totals.accounts_held as i64)
        .bind(d.voided as i64)
        .bind(d.confidential as i64)
        .bind(d.excluded_court as i64)
        .bind(d.excluded_case_type as i64)
        .bind(timings.snapshot_ms as i64)
        .bind(timings.filter_ms as i64)
        .bind(timings.match_render_ms as i64)
        .bind(timings.commit_ms as i64)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        super::history::note_success(&mut tx, Job::Batch, now).await?;
        sqlx::query(
            "UPDATE watermark SET last_seq = MAX(last_seq,
                COALESCE((SELECT last_seq FROM runs WHERE run_id = ?), 0))
             WHERE id = 1",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn cancel_suppressed(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'cancelled', finished_at = ?, lease_owner = NULL,
                lease_until = NULL, last_error = 'address suppressed'
             WHERE state = 'queued' AND lower(recipient) IN (SELECT email FROM suppressions)",
        )
        .bind(micros(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn withhold_unnotifiable(&self, now: DateTime<Utc>) -> Result<Withheld, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = withhold_in(&mut tx, now, None).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn record_skipped_run(&self, at: DateTime<Utc>, reason: &str) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let extended: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET ticks = ticks + 1, finished_at = MAX(finished_at, ?1)
             WHERE run_id = (SELECT MAX(run_id) FROM runs)
               AND status = 'skipped' AND skip_reason = ?2
             RETURNING run_id",
        )
        .bind(micros(at))
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let run_id = match extended {
            Some(run_id) => run_id,
            None => {
                sqlx::query_scalar(
                    "INSERT INTO runs (status, started_at, finished_at, skip_reason)
                     VALUES ('skipped', ?1, ?1, ?2) RETURNING run_id",
                )
                .bind(micros(at))
                .bind(reason)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        super::history::note_success(&mut tx, Job::Batch, at).await?;
        tx.commit().await?;
        Ok(run_id)
    }
}
