//! The batch on PostgreSQL: a run claims only entries no open transaction can still add to
//! before them (the xid rule of `sql/postgres/0001_core.sql`), streams their matches, and
//! queues digests with their ledger rows in one transaction.

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use futures_util::TryStreamExt;

use super::history::note_success;
use super::leases::check_leader;
use super::unsubscribe::record_scopes;
use super::withhold::{forgo_held_pairs_in, withhold_in};
use super::PgStore;
use crate::model::MatchRow;
use crate::store::by_size::by_size;
use crate::store::history::Job;
use crate::store::rows::MatchRecord;
use crate::store::{
    AccountStanding, BatchStore, DropCounts, HeldDigest, Mail, OpenedRun, PreviewRange,
    QueuedMessage, RunScope, RunTotals, StageTimings, StoreError, Withheld,
};

const MATCH_ROWS: &str = include_str!("../../../sql/postgres/queries/match_rows.sql");
const DROP_COUNTS: &str = include_str!("../../../sql/postgres/queries/drop_counts.sql");

/// The message bodies one statement carries at most, in bytes: an array of them is one value,
/// which PostgreSQL caps at 1 GB.
const BODY_BYTES_PER_STATEMENT: usize = 64 << 20;

/// The transaction-level advisory lock under which rows are added to `runs` (opening a run,
/// recording a skip): what SQLite's single writer gives, so two processes deciding at the same
/// moment whether to resume or extend the last run see each other's decision.
const RUNS_LOCK: i64 = 0x6d63_6170_7275_6e73; // "mcapruns"

/// How long a run waits, at most, for transactions older than the newest committed entry to
/// end (see [`PgStore::wait_for_older_writers`]).
const SETTLE_AT_MOST: std::time::Duration = std::time::Duration::from_secs(2);
const SETTLE_POLL: std::time::Duration = std::time::Duration::from_millis(10);

impl PgStore {
    /// Waits, for at most [`SETTLE_AT_MOST`], until every unclaimed entry already committed
    /// can be claimed: until no transaction older than its own is still open on the server.
    /// Without it, an entry ingested a moment before `run-now` would wait for the next run
    /// whenever any older transaction on the server (another ingest, a delivery pass, another
    /// database's work) happened to be open. A long transaction still open after the wait only
    /// delays those entries to the next run; they are never skipped.
    async fn wait_for_older_writers(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + SETTLE_AT_MOST;
        loop {
            let waiting: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM docket_entries
                    WHERE run_id IS NULL
                      AND inserted_xid >= pg_snapshot_xmin(pg_current_snapshot()))",
            )
            .fetch_one(&self.pool)
            .await?;
            if !waiting || tokio::time::Instant::now() + SETTLE_POLL > deadline {
                return Ok(());
            }
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }
}

/// The bounds of a scope as the two query parameters: the claiming run (NULL for the unclaimed
/// entries) and the highest seq.
fn scope_params(scope: RunScope) -> (Option<i64>, i64) {
    match scope {
        RunScope::Claimed { run_id } => (Some(run_id), i64::MAX),
        RunScope::Preview { up_to_seq } => (None, up_to_seq),
    }
}

async fn lock_runs(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(RUNS_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

impl BatchStore for PgStore {
    async fn open_run(
        &self,
        leader: Option<&str>,
        max_entries: u32,
        now: DateTime<Utc>,
    ) -> Result<OpenedRun, StoreError> {
        self.wait_for_older_writers().await?;
        let mut tx = self.begin().await?;
        // Read committed: each statement after the lock sees every run committed before it.
        lock_runs(&mut tx).await?;
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
                 WHERE o.run_id = $1",
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
        // The oldest transaction still open, taken before this one writes (and so has a
        // transaction id of its own): every entry from an older transaction is committed or
        // gone, and every entry still to come carries this id or a later one.
        let horizon: String =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                .fetch_one(&mut *tx)
                .await?;
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (status, started_at) VALUES ('running', $1) RETURNING run_id",
        )
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        // The row locks make the claim safe on its own: an entry another transaction is
        // claiming is waited for and, once claimed there, no longer matches `run_id IS NULL`.
        sqlx::query(
            "UPDATE docket_entries SET run_id = $1 WHERE seq IN (
                SELECT seq FROM docket_entries
                WHERE run_id IS NULL AND inserted_xid < $3::xid8
                ORDER BY inserted_xid, seq LIMIT $2
                FOR UPDATE)",
        )
        .bind(run_id)
        .bind(max_entries as i64)
        .bind(&horizon)
        .execute(&mut *tx)
        .await?;
        // first_seq and last_seq bound the range as status shows it; last_xid is the inserting
        // transaction of the last entry in claim order, the watermark's other half.
        let (first_seq, last_seq, claimed): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "UPDATE runs SET (first_seq, last_seq, entries_claimed, last_xid) = (
                SELECT MIN(seq), MAX(seq), COUNT(*), MAX(inserted_xid)
                FROM docket_entries WHERE run_id = $1)
             WHERE run_id = $1
             RETURNING first_seq, last_seq, entries_claimed",
        )
        .bind(run_id)
        .fetch_one(&mut *tx)
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
        self.wait_for_older_writers().await?;
        let mut tx = self.begin().await?;
        let (first_seq, last_seq, entries): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "SELECT MIN(seq), MAX(seq), COUNT(*) FROM (
                SELECT seq FROM docket_entries
                WHERE run_id IS NULL
                  AND inserted_xid < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY inserted_xid, seq LIMIT $1) AS next_claim",
        )
        .bind(max_entries as i64)
        .fetch_one(&mut *tx)
        .await?;
        let unfinished_run: Option<i64> =
            sqlx::query_scalar("SELECT MIN(run_id) FROM runs WHERE status = 'running'")
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
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
             FROM accounts a WHERE a.account_id = $1",
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
        sqlx::query_as::<_, MatchRecord<DateTime<Utc>>>(MATCH_ROWS)
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
        let mut tx = self.begin().await?;
        check_leader(&mut tx, leader).await?;
        // The messages go in by one statement per table, as arrays; the ids the outbox gives
        // them come back by message id (unique), whatever order RETURNING yields.
        let column = |f: fn(&Mail) -> &str| messages.iter().map(|m| f(&m.mail)).collect::<Vec<_>>();
        let given: Vec<(i64, String)> = sqlx::query_as(
            "INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id,
                                 subject, state, created_at, lifetime_from, next_attempt_at)
             SELECT $1, account_id, recipient, envelope_from, message_id, subject, 'queued',
                    $7, $7, $7
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                  AS m (account_id, recipient, envelope_from, message_id, subject)
             RETURNING outbox_id, message_id",
        )
        .bind(run_id)
        .bind(column(|m| &m.account_id))
        .bind(column(|m| &m.recipient))
        .bind(column(|m| &m.envelope_from))
        .bind(column(|m| &m.message_id))
        .bind(column(|m| &m.subject))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let id_of: std::collections::HashMap<String, i64> = given
            .into_iter()
            .map(|(id, message_id)| (message_id, id))
            .collect();
        let outbox_ids: Vec<i64> = messages
            .iter()
            .map(|m| {
                id_of.get(&m.mail.message_id).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!("message {} got no outbox id", m.mail.message_id))
                })
            })
            .collect::<Result<_, _>>()?;
        let numbered: Vec<(i64, &[u8])> = outbox_ids
            .iter()
            .zip(messages)
            .map(|(&id, m)| (id, m.mail.raw.as_slice()))
            .collect();
        for run in by_size(&numbered, BODY_BYTES_PER_STATEMENT, |(_, raw)| raw.len()) {
            let (ids, bodies): (Vec<i64>, Vec<&[u8]>) = run.iter().copied().unzip();
            sqlx::query(
                "INSERT INTO outbox_bodies (outbox_id, raw)
                 SELECT * FROM UNNEST($1::bigint[], $2::bytea[])",
            )
            .bind(&ids)
            .bind(&bodies)
            .execute(&mut *tx)
            .await?;
        }
        let (scope_keys, scope_ids): (Vec<&str>, Vec<i64>) = messages
            .iter()
            .flat_map(|m| (m.subscription_ids.iter()).map(|&id| (m.scope_key.as_str(), id)))
            .unzip();
        record_scopes(&mut tx, &scope_keys, &scope_ids, now).await?;
        let mut ledger_accounts: Vec<&str> = Vec::new();
        let mut ledger_seqs: Vec<i64> = Vec::new();
        let mut ledger_outbox_ids: Vec<i64> = Vec::new();
        for (message, &outbox_id) in messages.iter().zip(&outbox_ids) {
            for &seq in &message.entry_seqs {
                ledger_accounts.push(&message.mail.account_id);
                ledger_seqs.push(seq);
                ledger_outbox_ids.push(outbox_id);
            }
        }
        // The ledger's primary key is the exactly-once guarantee: were another process to
        // queue one of these pairs at the same moment, one of the two transactions fails whole.
        if !ledger_seqs.is_empty() {
            sqlx::query(
                "INSERT INTO notification_ledger (account_id, entry_seq, outbox_id)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])",
            )
            .bind(&ledger_accounts)
            .bind(&ledger_seqs)
            .bind(&ledger_outbox_ids)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM held_pairs h
                 USING UNNEST($1::text[], $2::bigint[]) AS q (account_id, entry_seq)
                 WHERE h.account_id = q.account_id AND h.entry_seq = q.entry_seq",
            )
            .bind(&ledger_accounts)
            .bind(&ledger_seqs)
            .execute(&mut *tx)
            .await?;
        }
        let dates: Vec<(&crate::store::DateNoticeKey, Option<DateTime<Utc>>, i64)> = messages
            .iter()
            .zip(&outbox_ids)
            .flat_map(|(m, &id)| (m.date_notices.iter()).map(move |n| (&n.key, n.late_at, id)))
            .collect();
        if !dates.is_empty() {
            let accounts: Vec<&str> = dates.iter().map(|(k, ..)| k.account_id.as_str()).collect();
            let events: Vec<&str> = dates.iter().map(|(k, ..)| k.event_id.as_str()).collect();
            let versions: Vec<i64> = dates.iter().map(|(k, ..)| k.version).collect();
            let notices: Vec<&str> = dates.iter().map(|(k, ..)| k.notice.columns().0).collect();
            let days: Vec<i64> = dates.iter().map(|(k, ..)| k.notice.columns().1).collect();
            let ids: Vec<i64> = dates.iter().map(|(.., id)| *id).collect();
            let late: Vec<Option<DateTime<Utc>>> = dates.iter().map(|(_, late, _)| *late).collect();
            // Its primary key makes each date notice once, as the ledger does for entries.
            let written = sqlx::query(&format!(
                "INSERT INTO date_notices
                     (account_id, event_id, version, notice, days, outbox_id, late_at)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[],
                                      $5::bigint[], $6::bigint[], $7::timestamptz[]){}",
                crate::store::DATE_NOTICE_AGAIN
            ))
            .bind(&accounts)
            .bind(&events)
            .bind(&versions)
            .bind(&notices)
            .bind(&days)
            .bind(&ids)
            .bind(&late)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            crate::store::check_date_notices_written(written, dates.len())?;
        }
        super::watches::mark_told(&mut tx, messages, &outbox_ids, now).await?;
        for digest in held {
            sqlx::query(
                "INSERT INTO held_pairs (account_id, entry_seq, run_id, reason, held_at)
                 SELECT $1, seq, $3, $4, $5 FROM UNNEST($2::bigint[]) AS seq
                 ON CONFLICT (account_id, entry_seq) DO UPDATE SET run_id = excluded.run_id,
                    reason = excluded.reason, held_at = excluded.held_at",
            )
            .bind(&digest.account_id)
            .bind(&digest.entry_seqs)
            .bind(run_id)
            .bind(&digest.reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
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
        let mut tx = self.begin().await?;
        check_leader(&mut tx, leader).await?;
        let d = &totals.drops;
        sqlx::query(
            "UPDATE runs SET status = 'done', finished_at = $1, entries_notifiable = $2,
                pairs_matched = $3, digests_queued = $4, skipped_unverified = $5,
                skipped_suppressed = $6, accounts_held = $7, dropped_voided = $8,
                dropped_confidential = $9,
                dropped_excluded_court = $10, dropped_excluded_type = $11,
                snapshot_ms = $12, filter_ms = $13, match_render_ms = $14, commit_ms = $15
             WHERE run_id = $16",
        )
        .bind(now)
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
        note_success(&mut tx, Job::Batch, now).await?;
        // The watermark only moves forward, whatever order runs finish in: the update locks
        // its row, and each transaction keeps the greater of what it finds and its run's.
        sqlx::query(
            "UPDATE watermark w SET
                last_seq = GREATEST(w.last_seq, COALESCE(r.last_seq, 0)),
                last_xid = GREATEST(w.last_xid, COALESCE(r.last_xid, '0'::xid8))
             FROM runs r
             WHERE w.id = 1 AND r.run_id = $1",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn cancel_suppressed(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // One statement: each message it cancels is locked and checked again as it is
        // updated, so one sent or cancelled meanwhile by another process is left alone.
        let done = sqlx::query(
            "UPDATE outbox SET state = 'cancelled', finished_at = $1, lease_owner = NULL,
                lease_until = NULL, last_error = 'address suppressed'
             WHERE state = 'queued' AND lower(recipient) IN (SELECT email FROM suppressions)",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn withhold_unnotifiable(&self, now: DateTime<Utc>) -> Result<Withheld, StoreError> {
        let mut tx = self.begin().await?;
        let done = withhold_in(&mut tx, now, None).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn forgo_held_pairs(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let forgone = forgo_held_pairs_in(&mut tx).await?;
        tx.commit().await?;
        Ok(forgone)
    }

    async fn record_skipped_run(&self, at: DateTime<Utc>, reason: &str) -> Result<i64, StoreError> {
        let mut tx = self.begin().await?;
        // Under the runs lock, "the last run" cannot change between reading and extending it.
        lock_runs(&mut tx).await?;
        let extended: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET ticks = ticks + 1, finished_at = GREATEST(finished_at, $1)
             WHERE run_id = (SELECT MAX(run_id) FROM runs)
               AND status = 'skipped' AND skip_reason = $2
             RETURNING run_id",
        )
        .bind(at)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let run_id = match extended {
            Some(run_id) => run_id,
            None => {
                sqlx::query_scalar(
                    "INSERT INTO runs (status, started_at, finished_at, skip_reason)
                     VALUES ('skipped', $1, $1, $2) RETURNING run_id",
                )
                .bind(at)
                .bind(reason)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        note_success(&mut tx, Job::Batch, at).await?;
        tx.commit().await?;
        Ok(run_id)
    }
}
