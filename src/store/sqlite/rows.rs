//! Rows as SQLite returns them, and their conversion into the store's plain values.

use chrono::{DateTime, Utc};

use crate::model::MatchRow;
use crate::store::{
    ClaimedMessage, DropCounts, Mail, OutboxEntry, OutboxRef, RunRecord, RunTotals, StoreError,
    Suppression,
};

/// Instants are stored as microseconds since the epoch.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn instant(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

/// A suppression as read: (email, reason, evidence, created_at).
pub(super) fn suppression_from_row(
    (email, reason, evidence, at): (String, String, String, i64),
) -> Result<Suppression, StoreError> {
    Ok(Suppression {
        email,
        reason,
        evidence,
        created_at: instant(at)?,
    })
}

pub(super) fn opt_instant(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(instant).transpose()
}

#[derive(sqlx::FromRow)]
pub(super) struct MatchRecord {
    pub(super) account_id: String,
    pub(super) email: String,
    pub(super) email_verified: bool,
    pub(super) suppressed: bool,
    pub(super) subscription_id: i64,
    pub(super) case_number: String,
    pub(super) caption: String,
    pub(super) court_id: String,
    pub(super) court_name: String,
    pub(super) entry_seq: i64,
    pub(super) entry_id: String,
    pub(super) code: String,
    pub(super) description: String,
    pub(super) text: String,
    pub(super) filed_by: String,
    pub(super) posted_at: i64,
}

impl TryFrom<MatchRecord> for MatchRow {
    type Error = StoreError;
    fn try_from(r: MatchRecord) -> Result<Self, StoreError> {
        Ok(MatchRow {
            account_id: r.account_id,
            email: r.email,
            email_verified: r.email_verified,
            suppressed: r.suppressed,
            subscription_id: r.subscription_id,
            case_number: r.case_number,
            caption: r.caption,
            court_id: r.court_id,
            court_name: r.court_name,
            entry_seq: r.entry_seq,
            entry_id: r.entry_id,
            code: r.code,
            description: r.description,
            text: r.text,
            filed_by: r.filed_by,
            posted_at: instant(r.posted_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RunRow {
    pub(super) run_id: i64,
    pub(super) status: String,
    pub(super) skip_reason: Option<String>,
    pub(super) started_at: i64,
    pub(super) finished_at: Option<i64>,
    pub(super) first_seq: Option<i64>,
    pub(super) last_seq: Option<i64>,
    pub(super) entries_claimed: i64,
    pub(super) entries_notifiable: i64,
    pub(super) pairs_matched: i64,
    pub(super) digests_queued: i64,
    pub(super) skipped_unverified: i64,
    pub(super) skipped_suppressed: i64,
    pub(super) accounts_held: i64,
    pub(super) dropped_voided: i64,
    pub(super) dropped_confidential: i64,
    pub(super) dropped_excluded_court: i64,
    pub(super) dropped_excluded_type: i64,
    pub(super) ticks: i64,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        let n = |v: i64| v.max(0) as u64;
        Ok(RunRecord {
            run_id: r.run_id,
            status: r.status,
            skip_reason: r.skip_reason,
            started_at: instant(r.started_at)?,
            finished_at: opt_instant(r.finished_at)?,
            first_seq: r.first_seq,
            last_seq: r.last_seq,
            entries_claimed: n(r.entries_claimed),
            totals: RunTotals {
                drops: DropCounts {
                    voided: n(r.dropped_voided),
                    confidential: n(r.dropped_confidential),
                    excluded_court: n(r.dropped_excluded_court),
                    excluded_case_type: n(r.dropped_excluded_type),
                    notifiable: n(r.entries_notifiable),
                },
                pairs_matched: n(r.pairs_matched),
                digests_queued: n(r.digests_queued),
                skipped_unverified: n(r.skipped_unverified),
                skipped_suppressed: n(r.skipped_suppressed),
                accounts_held: n(r.accounts_held),
            },
            ticks: n(r.ticks),
        })
    }
}

/// The row of `metrics_run_totals.sql`.
#[derive(sqlx::FromRow)]
pub(super) struct RunSumsRow {
    pub(super) entries_claimed: i64,
    pub(super) entries_notifiable: i64,
    pub(super) dropped_voided: i64,
    pub(super) dropped_confidential: i64,
    pub(super) dropped_excluded_court: i64,
    pub(super) dropped_excluded_type: i64,
    pub(super) pairs_matched: i64,
    pub(super) digests_queued: i64,
    pub(super) skipped_unverified: i64,
    pub(super) skipped_suppressed: i64,
    pub(super) accounts_held: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct ClaimRow {
    pub(super) outbox_id: i64,
    pub(super) attempts: i64,
    pub(super) lifetime_from: i64,
    pub(super) account_id: String,
    pub(super) recipient: String,
    pub(super) envelope_from: String,
    pub(super) message_id: String,
    pub(super) subject: String,
    pub(super) raw: Vec<u8>,
}

impl TryFrom<ClaimRow> for ClaimedMessage {
    type Error = StoreError;
    fn try_from(r: ClaimRow) -> Result<Self, StoreError> {
        Ok(ClaimedMessage {
            outbox_id: r.outbox_id,
            attempts: r.attempts.max(0) as u32,
            lifetime_from: instant(r.lifetime_from)?,
            mail: Mail {
                account_id: r.account_id,
                recipient: r.recipient,
                envelope_from: r.envelope_from,
                message_id: r.message_id,
                subject: r.subject,
                raw: r.raw,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OutboxEntryRow {
    pub(super) outbox_id: i64,
    pub(super) account_id: String,
    pub(super) recipient: String,
    pub(super) message_id: String,
    pub(super) subject: String,
    pub(super) state: String,
    pub(super) attempts: i64,
    pub(super) created_at: i64,
    pub(super) next_attempt_at: i64,
    pub(super) last_error: Option<String>,
    pub(super) policy_flag: bool,
    pub(super) finished_at: Option<i64>,
}

pub(super) const OUTBOX_ENTRY_COLUMNS: &str =
    "outbox_id, account_id, recipient, message_id, subject, state,
    attempts, created_at, next_attempt_at, last_error, policy_flag, finished_at";

impl TryFrom<OutboxEntryRow> for OutboxEntry {
    type Error = StoreError;
    fn try_from(r: OutboxEntryRow) -> Result<Self, StoreError> {
        Ok(OutboxEntry {
            outbox_id: r.outbox_id,
            account_id: r.account_id,
            recipient: r.recipient,
            message_id: r.message_id,
            subject: r.subject,
            state: r.state,
            attempts: r.attempts.max(0) as u32,
            created_at: instant(r.created_at)?,
            next_attempt_at: instant(r.next_attempt_at)?,
            last_error: r.last_error,
            policy_flag: r.policy_flag,
            finished_at: opt_instant(r.finished_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OutboxRefRow {
    pub(super) outbox_id: i64,
    pub(super) account_id: String,
    pub(super) recipient: String,
    pub(super) message_id: String,
}

impl From<OutboxRefRow> for OutboxRef {
    fn from(r: OutboxRefRow) -> Self {
        OutboxRef {
            outbox_id: r.outbox_id,
            account_id: r.account_id,
            recipient: r.recipient,
            message_id: r.message_id,
        }
    }
}
