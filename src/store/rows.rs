//! Rows as the backends return them, and their conversion into the store's plain values, written
//! once for both: a row is generic in how its backend stores an instant ([`StoredInstant`]).

use chrono::{DateTime, Utc};

use crate::model::{CourtEvent, DocketEntry, EventKind, EventStatus, MatchRow, Notice};
use crate::store::history::{RunFailure, RunSummary, StageTimings};
use crate::store::{
    ClaimedMessage, DateNoticeKey, DateTracker, DropCounts, EventVersion, HeldAccount, Mail,
    MetricsSnapshot, OutboxEntry, OutboxRef, ReportDeadLetter, ReportFailure, ReportRows,
    RunRecord, RunTotals, StoreError, StoredEntry, StoredEvent, SubscriptionKey, SubscriptionRow,
    Suppression, UnsubscribeRecord, UnsubscribeTarget,
};

/// An instant as a backend stores it: SQLite as microseconds since the epoch, PostgreSQL as a
/// `timestamptz`.
pub trait StoredInstant {
    fn into_instant(self) -> Result<DateTime<Utc>, StoreError>;
}

impl StoredInstant for i64 {
    fn into_instant(self) -> Result<DateTime<Utc>, StoreError> {
        DateTime::from_timestamp_micros(self)
            .ok_or_else(|| StoreError::Corrupt(format!("timestamp {self} out of range")))
    }
}

impl StoredInstant for DateTime<Utc> {
    fn into_instant(self) -> Result<DateTime<Utc>, StoreError> {
        Ok(self)
    }
}

/// A suppression as read: (email, reason, evidence, created_at).
pub fn suppression_from_row<I: StoredInstant>(
    (email, reason, evidence, at): (String, String, String, I),
) -> Result<Suppression, StoreError> {
    Ok(Suppression {
        email,
        reason,
        evidence,
        created_at: at.into_instant()?,
    })
}

/// An optional stored instant, converted.
pub fn opt<I: StoredInstant>(stored: Option<I>) -> Result<Option<DateTime<Utc>>, StoreError> {
    stored.map(StoredInstant::into_instant).transpose()
}

#[derive(sqlx::FromRow)]
pub struct MatchRecord<I> {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub subscription_id: i64,
    pub case_number: String,
    pub caption: String,
    pub court_id: String,
    pub court_name: String,
    pub entry_seq: i64,
    pub entry_id: String,
    pub code: String,
    pub description: String,
    pub text: String,
    pub filed_by: String,
    pub posted_at: I,
}

impl<I: StoredInstant> TryFrom<MatchRecord<I>> for MatchRow {
    type Error = StoreError;
    fn try_from(r: MatchRecord<I>) -> Result<Self, StoreError> {
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
            posted_at: r.posted_at.into_instant()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct RunRow<I> {
    pub run_id: i64,
    pub status: String,
    pub skip_reason: Option<String>,
    pub started_at: I,
    pub finished_at: Option<I>,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub entries_claimed: i64,
    pub entries_notifiable: i64,
    pub pairs_matched: i64,
    pub digests_queued: i64,
    pub skipped_unverified: i64,
    pub skipped_suppressed: i64,
    pub accounts_held: i64,
    pub dropped_voided: i64,
    pub dropped_confidential: i64,
    pub dropped_excluded_court: i64,
    pub dropped_excluded_type: i64,
    pub ticks: i64,
}

impl<I: StoredInstant> TryFrom<RunRow<I>> for RunRecord {
    type Error = StoreError;
    fn try_from(r: RunRow<I>) -> Result<Self, StoreError> {
        let n = |v: i64| v.max(0) as u64;
        Ok(RunRecord {
            run_id: r.run_id,
            status: r.status,
            skip_reason: r.skip_reason,
            started_at: r.started_at.into_instant()?,
            finished_at: opt(r.finished_at)?,
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
pub struct RunSumsRow {
    pub entries_claimed: i64,
    pub entries_notifiable: i64,
    pub dropped_voided: i64,
    pub dropped_confidential: i64,
    pub dropped_excluded_court: i64,
    pub dropped_excluded_type: i64,
    pub pairs_matched: i64,
    pub digests_queued: i64,
    pub skipped_unverified: i64,
    pub skipped_suppressed: i64,
    pub accounts_held: i64,
}

#[derive(sqlx::FromRow)]
pub struct ClaimRow<I> {
    pub outbox_id: i64,
    pub attempts: i64,
    pub lifetime_from: I,
    pub account_id: String,
    pub recipient: String,
    pub envelope_from: String,
    pub message_id: String,
    pub subject: String,
    pub raw: Vec<u8>,
}

impl<I: StoredInstant> TryFrom<ClaimRow<I>> for ClaimedMessage {
    type Error = StoreError;
    fn try_from(r: ClaimRow<I>) -> Result<Self, StoreError> {
        Ok(ClaimedMessage {
            outbox_id: r.outbox_id,
            attempts: r.attempts.max(0) as u32,
            lifetime_from: r.lifetime_from.into_instant()?,
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
pub struct OutboxEntryRow<I> {
    pub outbox_id: i64,
    pub account_id: String,
    pub recipient: String,
    pub message_id: String,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub created_at: I,
    pub next_attempt_at: I,
    pub last_error: Option<String>,
    pub policy_flag: bool,
    pub finished_at: Option<I>,
}

pub const OUTBOX_ENTRY_COLUMNS: &str =
    "outbox_id, account_id, recipient, message_id, subject, state,
    attempts, created_at, next_attempt_at, last_error, policy_flag, finished_at";

impl<I: StoredInstant> TryFrom<OutboxEntryRow<I>> for OutboxEntry {
    type Error = StoreError;
    fn try_from(r: OutboxEntryRow<I>) -> Result<Self, StoreError> {
        Ok(OutboxEntry {
            outbox_id: r.outbox_id,
            account_id: r.account_id,
            recipient: r.recipient,
            message_id: r.message_id,
            subject: r.subject,
            state: r.state,
            attempts: r.attempts.max(0) as u32,
            created_at: r.created_at.into_instant()?,
            next_attempt_at: r.next_attempt_at.into_instant()?,
            last_error: r.last_error,
            policy_flag: r.policy_flag,
            finished_at: opt(r.finished_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct OutboxRefRow {
    pub outbox_id: i64,
    pub account_id: String,
    pub recipient: String,
    pub message_id: String,
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

/// A run row with its stage times and how many of its attempts did not finish (the run
/// history's listing), read with [`HISTORY_COLUMNS`] from `runs r`.
#[derive(sqlx::FromRow)]
pub struct HistoryRow<I> {
    #[sqlx(flatten)]
    pub run: RunRow<I>,
    pub snapshot_ms: Option<i64>,
    pub filter_ms: Option<i64>,
    pub match_render_ms: Option<i64>,
    pub commit_ms: Option<i64>,
    pub failed_attempts: i64,
    pub interrupted_attempts: i64,
}

pub const HISTORY_COLUMNS: &str = "r.*,
    (SELECT COUNT(*) FROM run_failures f WHERE f.run_id = r.run_id AND f.outcome = 'failed')
        AS failed_attempts,
    (SELECT COUNT(*) FROM run_failures f WHERE f.run_id = r.run_id AND f.outcome = 'interrupted')
        AS interrupted_attempts";

impl<I: StoredInstant> TryFrom<HistoryRow<I>> for RunSummary {
    type Error = StoreError;
    fn try_from(r: HistoryRow<I>) -> Result<Self, StoreError> {
        let ms = |v: Option<i64>| v.map(|v| v.max(0) as u64);
        let timings = match (
            ms(r.snapshot_ms),
            ms(r.filter_ms),
            ms(r.match_render_ms),
            ms(r.commit_ms),
        ) {
            (Some(snapshot_ms), Some(filter_ms), Some(match_render_ms), Some(commit_ms)) => {
                Some(StageTimings {
                    snapshot_ms,
                    filter_ms,
                    match_render_ms,
                    commit_ms,
                })
            }
            _ => None,
        };
        Ok(RunSummary {
            record: RunRecord::try_from(r.run)?,
            timings,
            failed_attempts: r.failed_attempts.max(0) as u64,
            interrupted_attempts: r.interrupted_attempts.max(0) as u64,
        })
    }
}

/// The columns a [`RunFailure`] is read from, in [`run_failure_from_row`]'s order.
pub const FAILURE_COLUMNS: &str = "failure_id, run_id, at, outcome, error";

/// A batch attempt that did not finish, as read with [`FAILURE_COLUMNS`].
pub fn run_failure_from_row<I: StoredInstant>(
    (failure_id, run_id, at, outcome, error): (i64, Option<i64>, I, String, String),
) -> Result<RunFailure, StoreError> {
    Ok(RunFailure {
        failure_id,
        run_id,
        at: at.into_instant()?,
        outcome,
        error,
    })
}

/// An account with held pairs, as status reads it: (account, pairs, reason, run, held at).
pub fn held_account_from_row<I: StoredInstant>(
    (account_id, pairs, reason, run_id, held_at): (String, i64, String, i64, I),
) -> Result<HeldAccount, StoreError> {
    Ok(HeldAccount {
        account_id,
        pairs: pairs.max(0) as u64,
        reason,
        run_id,
        held_at: held_at.into_instant()?,
    })
}

/// A failed or interrupted attempt as the report reads it: (run, at, outcome, error).
pub fn report_failure_from_row<I: StoredInstant>(
    (run_id, at, outcome, error): (Option<i64>, I, String, String),
) -> Result<ReportFailure, StoreError> {
    Ok(ReportFailure {
        run_id,
        at: at.into_instant()?,
        outcome,
        error,
    })
}

/// A dead letter as the report reads it: (outbox id, recipient, subject, last error, at).
pub fn dead_letter_from_row<I: StoredInstant>(
    (outbox_id, recipient, subject, last_error, at): (i64, String, String, Option<String>, I),
) -> Result<ReportDeadLetter, StoreError> {
    Ok(ReportDeadLetter {
        outbox_id,
        recipient,
        subject,
        last_error,
        at: at.into_instant()?,
    })
}

/// A stop a recipient asked for: (account, case, tracked at, stopped at, source, evidence).
pub type UnsubscribeRecordRow<I> = (String, String, I, I, String, String);

/// A stop a recipient asked for, converted.
pub fn unsubscribe_record_from_row<I: StoredInstant>(
    (account_id, case_number, tracked_at, stopped_at, source, evidence): UnsubscribeRecordRow<I>,
) -> Result<UnsubscribeRecord, StoreError> {
    Ok(UnsubscribeRecord {
        account_id,
        case_number,
        tracked_at: tracked_at.into_instant()?,
        stopped_at: stopped_at.into_instant()?,
        source,
        evidence,
    })
}

/// What an unsubscribe link stops, described for the page behind it.
#[derive(sqlx::FromRow)]
pub struct TargetRow<I> {
    pub subscription_id: i64,
    pub account_id: String,
    pub email: String,
    pub case_number: String,
    pub caption: String,
    pub court_name: String,
    pub unsubscribed_at: Option<I>,
}

impl<I: StoredInstant> TryFrom<TargetRow<I>> for UnsubscribeTarget {
    type Error = StoreError;
    fn try_from(r: TargetRow<I>) -> Result<Self, StoreError> {
        Ok(UnsubscribeTarget {
            subscription_id: r.subscription_id,
            account_id: r.account_id,
            email: r.email,
            case_number: r.case_number,
            caption: r.caption,
            court_name: r.court_name,
            unsubscribed_at: opt(r.unsubscribed_at)?,
        })
    }
}

/// Everything the report reads over one period, as its queries return it.
pub struct ReportRecords<I> {
    pub runs: Vec<RunRow<I>>,
    /// (run, at, outcome, error) of `report_run_failures.sql`.
    pub failures: Vec<(Option<i64>, I, String, String)>,
    /// (the hour's start, messages) of `report_sent_per_hour.sql`.
    pub sent_per_hour: Vec<(I, i64)>,
    /// (sent at, microseconds from posting) of `report_latencies.sql`.
    pub latencies: Vec<(I, i64)>,
    /// (verdict, count) of `report_bounces.sql`.
    pub bounces: Vec<(String, i64)>,
    /// (outbox id, recipient, subject, last error, at) of `report_dead_letters.sql`.
    pub dead_letters: Vec<(i64, String, String, Option<String>, I)>,
    /// (email, reason, detail, at) of `report_suppressions.sql`.
    pub suppressions: Vec<(String, String, String, I)>,
}

impl<I: StoredInstant> TryFrom<ReportRecords<I>> for ReportRows {
    type Error = StoreError;
    fn try_from(r: ReportRecords<I>) -> Result<Self, StoreError> {
        let count = |n: i64| n.max(0) as u64;
        Ok(ReportRows {
            runs: r
                .runs
                .into_iter()
                .map(RunRecord::try_from)
                .collect::<Result<_, _>>()?,
            failures: r
                .failures
                .into_iter()
                .map(report_failure_from_row)
                .collect::<Result<_, _>>()?,
            sent_per_hour: r
                .sent_per_hour
                .into_iter()
                .map(|(hour, n)| Ok((hour.into_instant()?, count(n))))
                .collect::<Result<_, StoreError>>()?,
            latencies: r
                .latencies
                .into_iter()
                .map(|(at, us)| {
                    Ok((
                        at.into_instant()?,
                        chrono::Duration::microseconds(us.max(0)),
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            bounces: r.bounces.into_iter().map(|(v, n)| (v, count(n))).collect(),
            dead_letters: r
                .dead_letters
                .into_iter()
                .map(dead_letter_from_row)
                .collect::<Result<_, _>>()?,
            suppressions: r
                .suppressions
                .into_iter()
                .map(suppression_from_row)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Everything `metrics_snapshot` reads, as its queries return it.
pub struct MetricsRows<I> {
    pub sums: RunSumsRow,
    /// (outcome, reason, count) of `metrics_runs_by_outcome.sql`.
    pub runs: Vec<(String, String, i64)>,
    /// (stage, milliseconds, runs) of `metrics_stage_times.sql`.
    pub stage_times: Vec<(String, i64, i64)>,
    /// (name, label, value) of `counter_totals`.
    pub counters: Vec<(String, String, i64)>,
    /// (state, count) of the outbox.
    pub outbox: Vec<(String, i64)>,
    /// The two instants of `metrics_lag.sql`.
    pub oldest_due_at: Option<I>,
    pub oldest_unfinished_posted_at: Option<I>,
    /// (job, last success) of `job_successes`.
    pub last_success: Vec<(String, I)>,
}

impl<I: StoredInstant> TryFrom<MetricsRows<I>> for MetricsSnapshot {
    type Error = StoreError;
    fn try_from(r: MetricsRows<I>) -> Result<Self, StoreError> {
        let n = |v: i64| v.max(0) as u64;
        let sums = r.sums;
        Ok(MetricsSnapshot {
            entries_claimed: n(sums.entries_claimed),
            run_totals: RunTotals {
                drops: DropCounts {
                    voided: n(sums.dropped_voided),
                    confidential: n(sums.dropped_confidential),
                    excluded_court: n(sums.dropped_excluded_court),
                    excluded_case_type: n(sums.dropped_excluded_type),
                    notifiable: n(sums.entries_notifiable),
                },
                pairs_matched: n(sums.pairs_matched),
                digests_queued: n(sums.digests_queued),
                skipped_unverified: n(sums.skipped_unverified),
                skipped_suppressed: n(sums.skipped_suppressed),
                accounts_held: n(sums.accounts_held),
            },
            runs: r
                .runs
                .into_iter()
                .map(|(outcome, reason, count)| (outcome, reason, n(count)))
                .collect(),
            stage_times: r
                .stage_times
                .into_iter()
                .map(|(stage, ms, runs)| (stage, n(ms), n(runs)))
                .collect(),
            counters: r
                .counters
                .into_iter()
                .map(|(name, label, value)| (name, label, n(value)))
                .collect(),
            outbox: r.outbox.into_iter().map(|(s, c)| (s, n(c))).collect(),
            oldest_due_at: opt(r.oldest_due_at)?,
            oldest_unfinished_posted_at: opt(r.oldest_unfinished_posted_at)?,
            last_success: r
                .last_success
                .into_iter()
                .map(|(job, at)| Ok((job, at.into_instant()?)))
                .collect::<Result<_, StoreError>>()?,
            dates: crate::store::DateCounts::default(),
            watches: crate::store::watches::WatchCounts::default(),
        })
    }
}

/// A stored docket entry with its void mark, as the ingest checks read it.
#[derive(sqlx::FromRow)]
pub struct StoredEntryRow<I> {
    pub entry_id: String,
    pub case_number: String,
    pub code: String,
    pub description: String,
    pub text: String,
    pub filed_by: String,
    pub posted_at: I,
    pub voided_at: Option<I>,
}

impl<I: StoredInstant> TryFrom<StoredEntryRow<I>> for StoredEntry {
    type Error = StoreError;
    fn try_from(r: StoredEntryRow<I>) -> Result<Self, StoreError> {
        Ok(StoredEntry {
            entry: DocketEntry {
                entry_id: r.entry_id,
                case_number: r.case_number,
                code: r.code,
                description: r.description,
                text: r.text,
                filed_by: r.filed_by,
                posted_at: r.posted_at.into_instant()?,
            },
            voided_at: opt(r.voided_at)?,
        })
    }
}

/// A stored court date, as the ingest checks read it.
#[derive(sqlx::FromRow)]
pub struct StoredEventRow<I> {
    pub event_id: String,
    pub case_number: String,
    pub kind: String,
    pub title: String,
    pub starts_at: I,
    pub location: String,
    pub judge: String,
    pub bring: String,
    pub status: String,
    pub version: i64,
    pub changed_at: I,
}

impl<I: StoredInstant> TryFrom<StoredEventRow<I>> for StoredEvent {
    type Error = StoreError;
    fn try_from(r: StoredEventRow<I>) -> Result<Self, StoreError> {
        let kind = EventKind::parse(&r.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("event kind `{}`", r.kind)))?;
        let status = EventStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Corrupt(format!("event status `{}`", r.status)))?;
        Ok(StoredEvent {
            event: CourtEvent {
                event_id: r.event_id,
                case_number: r.case_number,
                kind,
                title: r.title,
                starts_at: r.starts_at.into_instant()?,
                location: r.location,
                judge: r.judge,
                bring: r.bring,
                status,
            },
            version: r.version,
            changed_at: r.changed_at.into_instant()?,
        })
    }
}

/// A tracker of a court date, as date_trackers.sql reads it.
#[derive(sqlx::FromRow)]
pub struct DateTrackerRow<I> {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub subscription_id: i64,
    pub tracked_at: I,
    pub case_number: String,
    pub caption: String,
    pub case_type: String,
    pub court_id: String,
    pub court_name: String,
    #[sqlx(flatten)]
    pub event: StoredEventRow<I>,
}

impl<I: StoredInstant> TryFrom<DateTrackerRow<I>> for DateTracker {
    type Error = StoreError;
    fn try_from(r: DateTrackerRow<I>) -> Result<Self, StoreError> {
        let stored = StoredEvent::try_from(r.event)?;
        Ok(DateTracker {
            account_id: r.account_id,
            email: r.email,
            email_verified: r.email_verified,
            suppressed: r.suppressed,
            subscription_id: r.subscription_id,
            tracked_at: r.tracked_at.into_instant()?,
            case_number: r.case_number,
            caption: r.caption,
            case_type: r.case_type,
            court_id: r.court_id,
            court_name: r.court_name,
            event: stored.event,
            version: stored.version,
            changed_at: stored.changed_at,
        })
    }
}

/// One version of a court date, as date_versions.sql reads it.
#[derive(sqlx::FromRow)]
pub struct EventVersionRow<I> {
    pub event_id: String,
    pub version: i64,
    pub starts_at: I,
    pub location: String,
    pub status: String,
}

impl<I: StoredInstant> TryFrom<EventVersionRow<I>> for EventVersion {
    type Error = StoreError;
    fn try_from(r: EventVersionRow<I>) -> Result<Self, StoreError> {
        Ok(EventVersion {
            status: EventStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("event status `{}`", r.status)))?,
            event_id: r.event_id,
            version: r.version,
            starts_at: r.starts_at.into_instant()?,
            location: r.location,
        })
    }
}

/// A date notice given before, as date_told.sql reads it.
#[derive(sqlx::FromRow)]
pub struct DateToldRow {
    pub account_id: String,
    pub event_id: String,
    pub version: i64,
    pub notice: String,
    pub days: i64,
    pub withheld: bool,
}

impl TryFrom<DateToldRow> for (DateNoticeKey, bool) {
    type Error = StoreError;
    fn try_from(r: DateToldRow) -> Result<Self, StoreError> {
        let withheld = r.withheld;
        let key = DateNoticeKey {
            notice: Notice::from_columns(&r.notice, r.days).ok_or_else(|| {
                StoreError::Corrupt(format!("date notice `{}` of {} days", r.notice, r.days))
            })?,
            account_id: r.account_id,
            event_id: r.event_id,
            version: r.version,
        };
        Ok((key, withheld))
    }
}

/// A date notice of a queued message that may no longer be sent, with why, as
/// unnotifiable_dates.sql reads it.
#[derive(sqlx::FromRow)]
pub struct UnnotifiableDate {
    pub outbox_id: i64,
    pub reason: String,
    pub account_id: String,
    pub event_id: String,
    pub version: i64,
    pub notice: String,
    pub days: i64,
}

/// A tracking period with its pair, as the ingest checks read it.
#[derive(sqlx::FromRow)]
pub struct PeriodRow<I> {
    pub account_id: String,
    pub case_number: String,
    pub subscription_id: i64,
    pub tracked_at: I,
    pub stopped_at: Option<I>,
    pub unsubscribed: bool,
}

impl<I: StoredInstant> TryFrom<PeriodRow<I>> for (SubscriptionKey, SubscriptionRow) {
    type Error = StoreError;
    fn try_from(r: PeriodRow<I>) -> Result<Self, StoreError> {
        Ok((
            (r.account_id, r.case_number),
            SubscriptionRow {
                subscription_id: r.subscription_id,
                tracked_at: r.tracked_at.into_instant()?,
                stopped_at: opt(r.stopped_at)?,
                unsubscribed: r.unsubscribed,
            },
        ))
    }
}

/// A watch as stored: its lists as JSON arrays of text.
#[derive(sqlx::FromRow)]
pub struct WatchRecord<I> {
    pub watch_id: String,
    pub account_id: String,
    pub name: String,
    pub kind: String,
    pub circuits: String,
    pub case_types: String,
    pub roles: String,
    pub nicknames: bool,
    pub auto_track: bool,
    pub started_at: I,
    pub stopped_at: Option<I>,
    pub paused: bool,
}

/// The columns of a [`WatchRecord`], for a `SELECT ... FROM watches w`.
pub const WATCH_COLUMNS: &str = "w.watch_id, w.account_id, w.name, w.kind, w.circuits, \
     w.case_types, w.roles, w.nicknames, w.auto_track, w.started_at, w.stopped_at, \
     w.paused_at IS NOT NULL AS paused";

/// A watch's list as stored.
pub fn list_column(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of text serialises")
}

fn list_of(column: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!("watches.{column} `{text}` is not a JSON list: {e}"))
    })
}

impl<I: StoredInstant> TryFrom<WatchRecord<I>> for crate::store::watches::StoredWatch {
    type Error = StoreError;

    fn try_from(r: WatchRecord<I>) -> Result<Self, StoreError> {
        Ok(crate::store::watches::StoredWatch {
            watch: crate::model::Watch {
                kind: crate::model::PartyKind::parse(&r.kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("watch kind `{}`", r.kind)))?,
                circuits: list_of("circuits", &r.circuits)?,
                case_types: list_of("case_types", &r.case_types)?,
                roles: list_of("roles", &r.roles)?,
                watch_id: r.watch_id,
                account_id: r.account_id,
                name: r.name,
                nicknames: r.nicknames,
                auto_track: r.auto_track,
                started_at: r.started_at.into_instant()?,
                stopped_at: opt(r.stopped_at)?,
            },
            paused: r.paused,
        })
    }
}

/// A party arrival with its case, as the matching step reads it.
#[derive(sqlx::FromRow)]
pub struct ArrivalRecord<I> {
    pub seq: i64,
    pub case_number: String,
    pub name: String,
    pub role: String,
    pub arrived_at: I,
    pub court_id: String,
    pub case_type: String,
    pub filed_at: I,
    pub notifiable: bool,
}

impl<I: StoredInstant> TryFrom<ArrivalRecord<I>> for crate::store::watches::ArrivalRow {
    type Error = StoreError;

    fn try_from(r: ArrivalRecord<I>) -> Result<Self, StoreError> {
        Ok(crate::store::watches::ArrivalRow {
            seq: r.seq,
            case_number: r.case_number,
            name: r.name,
            role: r.role,
            arrived_at: r.arrived_at.into_instant()?,
            court_id: r.court_id,
            case_type: r.case_type,
            filed_at: r.filed_at.into_instant()?,
            notifiable: r.notifiable,
        })
    }
}

/// A waiting new-case notice as read.
#[derive(sqlx::FromRow)]
pub struct WatchNoticeRecord<I> {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub watch_id: String,
    pub watch_name: String,
    pub case_number: String,
    pub court_id: String,
    pub court_name: String,
    pub case_type: String,
    pub caption: String,
    pub filed_at: I,
    pub party_name: String,
    pub party_role: String,
    pub why: String,
    pub auto_tracked: bool,
    pub auto_subscription_id: Option<i64>,
}

impl<I: StoredInstant> TryFrom<WatchNoticeRecord<I>> for crate::store::watches::WatchNotice {
    type Error = StoreError;

    fn try_from(r: WatchNoticeRecord<I>) -> Result<Self, StoreError> {
        Ok(crate::store::watches::WatchNotice {
            account_id: r.account_id,
            email: r.email,
            email_verified: r.email_verified,
            suppressed: r.suppressed,
            watch_id: r.watch_id,
            watch_name: r.watch_name,
            case_number: r.case_number,
            court_id: r.court_id,
            court_name: r.court_name,
            case_type: r.case_type,
            caption: r.caption,
            filed_at: r.filed_at.into_instant()?,
            party_name: r.party_name,
            party_role: r.party_role,
            why: r.why,
            auto_tracked: r.auto_tracked,
            auto_subscription_id: r.auto_subscription_id,
        })
    }
}

/// A watch's summary as read.
#[derive(sqlx::FromRow)]
pub struct WatchSummaryRecord<I> {
    pub watch_id: String,
    pub account_id: String,
    pub name: String,
    pub kind: String,
    pub circuits: String,
    pub case_types: String,
    pub roles: String,
    pub nicknames: bool,
    pub auto_track: bool,
    pub started_at: I,
    pub stopped_at: Option<I>,
    pub paused_at: Option<I>,
    pub paused_reason: Option<String>,
    pub unsubscribed_at: Option<I>,
    pub matches: i64,
    pub waiting: i64,
    pub last_match_at: Option<I>,
}

impl<I: StoredInstant> TryFrom<WatchSummaryRecord<I>> for crate::store::watches::WatchSummary {
    type Error = StoreError;

    fn try_from(r: WatchSummaryRecord<I>) -> Result<Self, StoreError> {
        Ok(crate::store::watches::WatchSummary {
            watch_id: r.watch_id,
            account_id: r.account_id,
            name: r.name,
            kind: r.kind,
            circuits: list_of("circuits", &r.circuits)?,
            case_types: list_of("case_types", &r.case_types)?,
            roles: list_of("roles", &r.roles)?,
            nicknames: r.nicknames,
            auto_track: r.auto_track,
            started_at: r.started_at.into_instant()?,
            stopped_at: opt(r.stopped_at)?,
            paused_at: opt(r.paused_at)?,
            paused_reason: r.paused_reason,
            unsubscribed_at: opt(r.unsubscribed_at)?,
            matches: r.matches as u64,
            waiting: r.waiting as u64,
            last_match_at: opt(r.last_match_at)?,
        })
    }
}

/// A party on a case, for `watches test`.
#[derive(sqlx::FromRow)]
pub struct PartyOnCaseRecord<I> {
    pub case_number: String,
    pub court_id: String,
    pub case_type: String,
    pub caption: String,
    pub filed_at: I,
    pub notifiable: bool,
    pub name: String,
    pub role: String,
}

impl<I: StoredInstant> TryFrom<PartyOnCaseRecord<I>> for crate::store::watches::PartyOnCase {
    type Error = StoreError;

    fn try_from(r: PartyOnCaseRecord<I>) -> Result<Self, StoreError> {
        Ok(crate::store::watches::PartyOnCase {
            case_number: r.case_number,
            court_id: r.court_id,
            case_type: r.case_type,
            caption: r.caption,
            filed_at: r.filed_at.into_instant()?,
            notifiable: r.notifiable,
            name: r.name,
            role: r.role,
        })
    }
}
