//! The storage interface: everything the pipeline asks of a database, in plain values.
//! Stages never see SQL; each backend implements [`Store`] with its own migrations.

pub mod history;
pub mod sqlite;
mod sqlite_history;
mod sqlite_report;
mod sqlite_unsubscribe;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use serde::Serialize;

use crate::model::{
    Account, BounceVerdict, Case, CaseTrackability, Court, DocketEntry, MatchRow, SendOutcome,
    SuppressionReason,
};

pub use history::{RunHistory, StageTimings};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// What a write was checked against changed before it could be made; nothing was written.
    #[error("{0}")]
    Changed(String),
}

impl StoreError {
    /// Whether the database refused what was written (a constraint, a value it cannot hold)
    /// rather than failing to work (busy, unreachable, out of space): a write refused for its
    /// data fails again unchanged, so the caller sets that data aside instead of retrying.
    pub fn is_about_the_data(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(e)) = self else {
            return false;
        };
        if !matches!(e.kind(), sqlx::error::ErrorKind::Other) {
            return true;
        }
        // SQLite's primary result codes for data it refused: TOOBIG, CONSTRAINT, MISMATCH,
        // RANGE (extended codes carry the primary one in their low byte).
        e.code()
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|code| matches!(code & 0xff, 18 | 19 | 20 | 25))
    }
}

impl StoreError {
    /// Another connection held the lock past the busy timeout: the same write may succeed if
    /// tried again.
    pub fn is_busy(&self) -> bool {
        const SQLITE_BUSY: i64 = 5;
        const SQLITE_LOCKED: i64 = 6;
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED)),
            _ => false,
        }
    }
}

/// The entries a run works on: either the entries a real run has claimed, or, for a dry run,
/// the unclaimed entries up to a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunScope {
    Claimed { run_id: i64 },
    Preview { up_to_seq: i64 },
}

/// A run opened by [`Store::open_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRun {
    pub run_id: i64,
    /// True when an interrupted run was picked up again rather than a new one started.
    pub resumed: bool,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub entries_claimed: u64,
    /// What earlier attempts of a resumed run already queued (digests and their pairs), so its
    /// totals cover the whole run; zero for a new run.
    pub queued_before: RunTotals,
}

/// An account as a preview describes it: who it is and whether a digest would reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStanding {
    pub email: String,
    pub email_verified: bool,
    /// The address is on the suppression list.
    pub suppressed: bool,
}

/// The range a dry run would take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRange {
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub entries: u64,
    /// A run that was opened and not finished (interrupted, or going on now): the next run
    /// resumes it first, with the entries it claimed.
    pub unfinished_run: Option<i64>,
}

/// Why claimed entries were not notifiable, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DropCounts {
    pub voided: u64,
    pub confidential: u64,
    pub excluded_court: u64,
    pub excluded_case_type: u64,
    pub notifiable: u64,
}

impl DropCounts {
    /// Adds another run's counts to these.
    pub fn absorb(&mut self, other: &DropCounts) {
        self.voided += other.voided;
        self.confidential += other.confidential;
        self.excluded_court += other.excluded_court;
        self.excluded_case_type += other.excluded_case_type;
        self.notifiable += other.notifiable;
    }
}

/// A finished message and its envelope: what the outbox keeps and a transport sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub account_id: String,
    pub recipient: String,
    /// The envelope sender: the bounce mailbox as queued; a message being sent carries its own
    /// VERP return path, made from its outbox id.
    pub envelope_from: String,
    pub message_id: String,
    pub subject: String,
    /// The whole RFC 5322 message, so a re-send is byte for byte the same.
    pub raw: Vec<u8>,
}

/// A rendered digest ready to queue, with the entries it accounts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub mail: Mail,
    pub entry_seqs: Vec<i64>,
    /// What the message's unsubscribe token names (its message key), and the subscriptions
    /// that token stops.
    pub scope_key: String,
    pub subscription_ids: Vec<i64>,
}

/// An account's digest that could not be built or stored: its pairs wait, with the reason,
/// and every later run tries them again until one queues them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDigest {
    pub account_id: String,
    pub entry_seqs: Vec<i64>,
    pub reason: String,
}

/// What [`Store::withhold_unnotifiable`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Withheld {
    /// Queued messages cancelled.
    pub messages: u64,
    /// Pairs withheld (never to be sent).
    pub pairs: u64,
    /// Pairs of those messages still owed, held aside for the next run.
    pub requeued: u64,
}

/// An account held aside, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldAccount {
    pub account_id: String,
    pub pairs: u64,
    pub reason: String,
    /// The last run that tried and held it.
    pub run_id: i64,
    pub held_at: DateTime<Utc>,
}

/// The figures a finished run records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunTotals {
    pub drops: DropCounts,
    pub pairs_matched: u64,
    pub digests_queued: u64,
    pub skipped_unverified: u64,
    pub skipped_suppressed: u64,
    /// Accounts whose digest could not be built or stored (see [`HeldDigest`]).
    pub accounts_held: u64,
}

impl RunTotals {
    /// Adds another run's figures to these.
    pub fn absorb(&mut self, other: &RunTotals) {
        self.drops.absorb(&other.drops);
        self.pairs_matched += other.pairs_matched;
        self.digests_queued += other.digests_queued;
        self.skipped_unverified += other.skipped_unverified;
        self.skipped_suppressed += other.skipped_suppressed;
        self.accounts_held += other.accounts_held;
    }
}

/// A message a worker has claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub outbox_id: i64,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the retry lifetime started (queued, or requeued by an operator).
    pub lifetime_from: DateTime<Utc>,
    pub mail: Mail,
}

/// The result of one delivery attempt, and what happens to the message next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub outbox_id: i64,
    /// 1-based number of this attempt.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: SendOutcome,
    pub reply_code: Option<u16>,
    pub status: Option<String>,
    pub detail: String,
    /// For a failure that will be retried, when; None for a message that is done (sent) or
    /// dead (permanent failure, or a transient one past its lifetime).
    pub retry_at: Option<DateTime<Utc>>,
}

/// An outbox row as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub outbox_id: i64,
    pub account_id: String,
    pub recipient: String,
    pub message_id: String,
    pub subject: String,
    pub state: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub policy_flag: bool,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRow {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: String,
    pub reply_code: Option<u16>,
    pub status: Option<String>,
    pub detail: String,
}

/// What pruning removed, or would remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneCounts {
    pub message_bodies: u64,
    /// Records of what old messages' unsubscribe links stop (the links have expired).
    pub unsubscribe_scopes: u64,
    pub delivery_attempts: u64,
    pub bounce_mail_bodies: u64,
}

/// A bounce to record: at send time, or read from a bounce mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceRecord {
    pub at: DateTime<Utc>,
    pub email: String,
    pub verdict: BounceVerdict,
    pub status: Option<String>,
    pub detail: String,
    pub outbox_id: Option<i64>,
    pub bounce_mail_id: Option<i64>,
    /// Shown to be about the message's own recipient: the reply to our send, or a bounce mail
    /// carrying the message's VERP return path. Only proven bounces suppress or count.
    pub proven: bool,
}

/// A bounce mail to keep, known by `key` (its Message-ID, else a hash of its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBounceMail<'a> {
    pub key: &'a str,
    pub source: &'a str,
    pub raw: &'a [u8],
    pub matched: bool,
    pub at: DateTime<Utc>,
}

/// The message a bounce refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRef {
    pub outbox_id: i64,
    pub account_id: String,
    pub recipient: String,
    pub message_id: String,
}

/// A suppressed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppression {
    pub email: String,
    pub reason: String,
    pub evidence: String,
    pub created_at: DateTime<Utc>,
}

/// Who holds the batch lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseInfo {
    pub holder: String,
    pub host: String,
    pub pid: i64,
    pub since: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An outage to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutage {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

/// A stored bounce mail that matched none of our messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmatchedBounce {
    pub bounce_mail_id: i64,
    pub received_at: DateTime<Utc>,
    pub source: String,
    pub size: u64,
}

/// One row of the run history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    pub run_id: i64,
    pub status: String,
    pub skip_reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub entries_claimed: u64,
    pub totals: RunTotals,
    /// Scheduler ticks this row stands for: 1, or for a skipped row the consecutive skips with
    /// the same reason it folds together (`started_at` the first, `finished_at` the last).
    pub ticks: u64,
}

/// What `status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub watermark: i64,
    pub entries_total: u64,
    pub entries_pending: u64,
    pub outbox: Vec<(String, u64)>,
    pub recent_runs: Vec<RunRecord>,
    /// Accounts whose digests are held aside, waiting for a run that can queue them.
    pub held: Vec<HeldAccount>,
}

/// Everything the metrics report, read from one snapshot of the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Entries claimed by all runs so far.
    pub entries_claimed: u64,
    /// The figures of all finished runs, summed.
    pub run_totals: RunTotals,
    /// Batch attempts by (outcome, reason): done, skipped by the kind of closure, failed,
    /// interrupted.
    pub runs: Vec<(String, String, u64)>,
    /// Stage times of finished runs: (stage, milliseconds, how many runs took that long).
    pub stage_times: Vec<(String, u64, u64)>,
    /// Event counters: (name, label, value).
    pub counters: Vec<(String, String, u64)>,
    /// Messages by outbox state (states with none are absent).
    pub outbox: Vec<(String, u64)>,
    /// When the longest-due queued message became due (None when nothing is due).
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// The posting time of the oldest entry no finished run has taken.
    pub oldest_unfinished_posted_at: Option<DateTime<Utc>>,
    /// Each job's last success.
    pub last_success: Vec<(String, DateTime<Utc>)>,
}

/// A batch attempt that did not finish, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportFailure {
    pub run_id: Option<i64>,
    pub at: DateTime<Utc>,
    /// `failed` or `interrupted`.
    pub outcome: String,
    pub error: String,
}

/// A message that went dead, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportDeadLetter {
    pub outbox_id: i64,
    pub recipient: String,
    pub subject: String,
    pub last_error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Everything the report reads about one period, as plain rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportRows {
    /// Runs that touch the period, oldest first.
    pub runs: Vec<RunRecord>,
    pub failures: Vec<ReportFailure>,
    /// Messages sent, per hour (the hour's start), only hours with any.
    pub sent_per_hour: Vec<(DateTime<Utc>, u64)>,
    /// One per (account, entry) pair sent: when it was sent, and how long after posting.
    pub latencies: Vec<(DateTime<Utc>, chrono::Duration)>,
    /// Bounces per verdict, most frequent first.
    pub bounces: Vec<(String, u64)>,
    pub dead_letters: Vec<ReportDeadLetter>,
    /// Addresses suppressed in the period (and not lifted since).
    pub suppressions: Vec<Suppression>,
}

/// How a recipient asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopSource {
    /// A POST from the mail client (RFC 8058 one-click).
    OneClick,
    /// The button on the page the link shows.
    WebPage,
    /// A mail to the `List-Unsubscribe` mailto.
    Mail,
}

impl StopSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StopSource::OneClick => "one-click",
            StopSource::WebPage => "web-page",
            StopSource::Mail => "mail",
        }
    }
}

/// A subscription an unsubscribe link names, as the page behind the link describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsubscribeTarget {
    pub subscription_id: i64,
    pub account_id: String,
    pub email: String,
    pub case_number: String,
    pub caption: String,
    pub court_name: String,
    /// When its recipient stopped it, if they have.
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

/// What an unsubscribe did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unsubscribed {
    /// Subscriptions stopped now.
    pub stopped: u64,
    /// Subscriptions their recipient had stopped before.
    pub already: u64,
    /// Queued messages that reported them, cancelled (their other news goes out in the next run).
    pub messages_withheld: u64,
}

/// A stop its recipient asked for, as the subscriptions export writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsubscribeRecord {
    pub account_id: String,
    pub case_number: String,
    pub tracked_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub source: String,
    pub evidence: String,
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    pub subscription_id: i64,
    pub tracked_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// Stopped by its recipient (an unsubscribe link or mail).
    pub unsubscribed: bool,
}

/// A docket entry as stored, with its void mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub entry: DocketEntry,
    pub voided_at: Option<DateTime<Utc>>,
}

/// A tracking period's key: (account, case number).
pub type SubscriptionKey = (String, String);

/// A void the entries feed adds to a stored entry (or one the same file inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryVoid {
    pub entry_id: String,
    pub voided_at: DateTime<Utc>,
}

/// A tracking period the subscriptions feed starts, stopped too if the same file stops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub account_id: String,
    pub case_number: String,
    pub tracked_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
}

/// A stop the subscriptions feed brings for a stored tracking period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionStop {
    pub subscription_id: i64,
    pub stopped_at: DateTime<Utc>,
}

/// One feed file against the store, in bulk: the ingest stage asks what it needs to check a
/// chunk of records (keys the store does not know are absent from the answers), decides
/// everything itself, and then hands the rows to write, a batch at a time. Every write is
/// part of one transaction: all of it commits together, or none does (drop without commit).
#[allow(async_fn_in_trait)]
pub trait IngestSession {
    /// Which of these courts exist.
    async fn known_courts(&mut self, court_ids: &[&str]) -> Result<HashSet<String>, StoreError>;
    /// What decides whether each of these cases (those that exist) can be tracked.
    async fn case_trackability(
        &mut self,
        case_numbers: &[&str],
    ) -> Result<HashMap<String, CaseTrackability>, StoreError>;
    /// The stored entries with these ids.
    async fn stored_entries(
        &mut self,
        entry_ids: &[&str],
    ) -> Result<HashMap<String, StoredEntry>, StoreError>;
    /// Which of these accounts exist.
    async fn known_accounts(&mut self, account_ids: &[&str])
        -> Result<HashSet<String>, StoreError>;
    /// Every tracking period of these (account, case) pairs, in order of start; pairs with
    /// none are absent.
    async fn subscriptions(
        &mut self,
        pairs: &[(&str, &str)],
    ) -> Result<HashMap<SubscriptionKey, Vec<SubscriptionRow>>, StoreError>;

    async fn upsert_courts(&mut self, courts: &[Court]) -> Result<(), StoreError>;
    async fn upsert_cases(&mut self, cases: &[Case]) -> Result<(), StoreError>;
    async fn insert_entries(&mut self, entries: &[DocketEntry]) -> Result<(), StoreError>;
    async fn void_entries(&mut self, voids: &[EntryVoid]) -> Result<(), StoreError>;
    async fn upsert_accounts(&mut self, accounts: &[Account]) -> Result<(), StoreError>;
    async fn start_subscriptions(&mut self, starts: &[NewSubscription]) -> Result<(), StoreError>;
    async fn stop_subscriptions(&mut self, stops: &[SubscriptionStop]) -> Result<(), StoreError>;

    async fn commit(self) -> Result<(), StoreError>;
}

/// Everything the pipeline needs from a database.
#[allow(async_fn_in_trait)]
pub trait Store {
    type Ingest<'a>: IngestSession
    where
        Self: 'a;

    /// Brings the schema up to date and installs the built-in courts.
    async fn migrate(&self) -> Result<(), StoreError>;

    async fn begin_ingest(&self) -> Result<Self::Ingest<'_>, StoreError>;

    /// Resumes the interrupted run if there is one, else starts a run that claims up to
    /// `max_entries` unclaimed entries in arrival order.
    async fn open_run(&self, max_entries: u32, now: DateTime<Utc>)
        -> Result<OpenedRun, StoreError>;

    /// What [`Store::open_run`] would claim, without claiming it.
    async fn preview_run(&self, max_entries: u32) -> Result<PreviewRange, StoreError>;

    async fn drop_counts(&self, scope: RunScope) -> Result<DropCounts, StoreError>;

    /// The account's address and whether it is verified and not suppressed; None if unknown.
    async fn account_standing(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountStanding>, StoreError>;

    /// The (account, entry) pairs to notify in `scope`, and the pairs held aside by earlier
    /// runs, not yet in the ledger, ordered by account, case number, posted time and arrival.
    fn match_rows(&self, scope: RunScope) -> BoxStream<'_, Result<MatchRow, StoreError>>;

    /// Queues the messages and records their pairs in the ledger, and records the held
    /// digests' pairs with their reason, in one transaction. Pairs queued leave the held set.
    async fn queue_digests(
        &self,
        run_id: i64,
        messages: &[QueuedMessage],
        held: &[HeldDigest],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Closes the run with its totals and stage times, moves the watermark and notes the
    /// batch's success.
    async fn finish_run(
        &self,
        run_id: i64,
        totals: &RunTotals,
        timings: &StageTimings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Marks queued messages to suppressed addresses cancelled; returns how many.
    async fn cancel_suppressed(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Cancels queued messages that report something no longer notifiable (a sealed case, a
    /// court out of MCAP, a voided entry): those pairs are marked withheld in the ledger, and
    /// the message's other pairs are held aside for the next run to queue without them.
    async fn withhold_unnotifiable(&self, now: DateTime<Utc>) -> Result<Withheld, StoreError>;

    /// Claims up to `limit` due messages for `owner` until `lease_until`: queued, due by `now`,
    /// and not under another worker's live lease.
    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError>;

    /// The fence before a send: extends `owner`'s lease on the message to `lease_until` if it
    /// is still queued and `owner` still holds a live lease on it at `now`; false if the claim
    /// has run out or another worker has taken the message over (it must not be sent). False
    /// too if something it reports may no longer be sent (a case sealed since it was queued):
    /// then the message is withheld there and then, as [`Store::withhold_unnotifiable`] does.
    async fn renew_lease(
        &self,
        owner: &str,
        outbox_id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records attempts and moves their messages on, releasing `owner`'s leases on them, in one
    /// transaction.
    async fn record_attempts(
        &self,
        owner: &str,
        results: &[AttemptResult],
    ) -> Result<(), StoreError>;

    /// Gives up `owner`'s remaining leases (a clean stop).
    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError>;

    async fn outbox_list(
        &self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// The stored message of `outbox_id`: None when there is no such message, Some(None) when
    /// `prune` removed its body.
    async fn outbox_raw(&self, outbox_id: i64) -> Result<Option<Option<Vec<u8>>>, StoreError>;

    async fn outbox_entry(
        &self,
        outbox_id: i64,
    ) -> Result<Option<(OutboxEntry, Vec<AttemptRow>)>, StoreError>;

    /// Puts dead messages (one, or all with None) back in the queue with a fresh lifetime; a
    /// message whose body retention removed cannot be sent again and stays dead.
    async fn requeue_dead(
        &self,
        outbox_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Removes what retention no longer needs from before `cutoff`: the bodies and delivery
    /// attempts of messages finished (sent, dead, cancelled) before it, and the text of bounce
    /// mails received before it; and the records of what unsubscribe links stop from before
    /// `links_cutoff`. The ledger, the runs, the outbox rows (id, Message-ID, state, times) and
    /// the bounce records stay. With `dry_run` nothing changes; the counts say what would go.
    async fn prune(
        &self,
        cutoff: DateTime<Utc>,
        links_cutoff: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PruneCounts, StoreError>;

    /// Keeps a bounce mail and records the bounces read from it (their `bounce_mail_id` is set
    /// here), in one transaction; returns the bounce ids, or None, writing nothing, when a mail
    /// with the same key was kept before.
    async fn store_bounce_mail(
        &self,
        mail: &NewBounceMail<'_>,
        bounces: &[BounceRecord],
    ) -> Result<Option<Vec<i64>>, StoreError>;

    /// Records a bounce; None when it is a send-time refusal already recorded for the same
    /// message and verdict.
    async fn record_bounce(&self, bounce: &BounceRecord) -> Result<Option<i64>, StoreError>;

    /// How many of our messages to `email` soft-bounced (proven) since `since`: a message
    /// refused again and again, or reported by many bounce mails, counts once.
    async fn soft_bounces_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Suppresses `email` and cancels its queued messages; false if it was suppressed already.
    async fn suppress(
        &self,
        email: &str,
        reason: SuppressionReason,
        evidence: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError>;

    /// Lifts a suppression; false if there was none.
    async fn unsuppress(&self, email: &str) -> Result<bool, StoreError>;

    /// The message with this outbox id (a verified VERP return path names one).
    async fn outbox_by_id(&self, outbox_id: i64) -> Result<Option<OutboxRef>, StoreError>;

    async fn outbox_by_message_id(&self, message_id: &str)
        -> Result<Option<OutboxRef>, StoreError>;

    async fn unmatched_bounces(&self, limit: u32) -> Result<Vec<UnmatchedBounce>, StoreError>;

    /// Records a run that did not happen because the service was closed (a success of the
    /// batch). A skip right after a skip for the same reason extends that row (one more tick, a
    /// later last time) rather than adding one; returns the row's id.
    async fn record_skipped_run(&self, at: DateTime<Utc>, reason: &str) -> Result<i64, StoreError>;

    async fn outages(&self) -> Result<Vec<crate::calendar::Outage>, StoreError>;

    /// Records all of `outages` or none: Err(existing) names a stored outage one overlaps.
    async fn add_outages(
        &self,
        outages: &[NewOutage],
        now: DateTime<Utc>,
    ) -> Result<Result<Vec<i64>, crate::calendar::Outage>, StoreError>;

    async fn remove_outage(&self, outage_id: i64) -> Result<bool, StoreError>;

    /// Takes the batch lease for `lease.holder` unless someone else holds a live one (returned).
    async fn acquire_batch_lease(
        &self,
        lease: &LeaseInfo,
        now: DateTime<Utc>,
    ) -> Result<Result<(), LeaseInfo>, StoreError>;

    /// Extends our lease; false if it is no longer ours.
    async fn renew_batch_lease(
        &self,
        holder: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn release_batch_lease(&self, holder: &str) -> Result<(), StoreError>;

    /// The subscriptions the unsubscribe link of the message `scope_key` names (none when no
    /// such message was queued, or its record was pruned).
    async fn message_scope(&self, scope_key: &str) -> Result<Vec<i64>, StoreError>;

    /// The subscriptions `subscription_ids` names, each as its account's latest tracking period
    /// of that case (a link from an earlier period stops the current one), described for the
    /// page behind the link.
    async fn unsubscribe_targets(
        &self,
        subscription_ids: &[i64],
    ) -> Result<Vec<UnsubscribeTarget>, StoreError>;

    /// Stops the subscriptions at their recipient's request, in one transaction: each is
    /// recorded with `source` and `evidence`, matches nothing more, and the queued messages
    /// that reported them are withheld (their other pairs wait for the next run).
    async fn unsubscribe(
        &self,
        subscription_ids: &[i64],
        source: StopSource,
        evidence: &str,
        now: DateTime<Utc>,
    ) -> Result<Unsubscribed, StoreError>;

    /// The stops recipients asked for at or after `since`, oldest first.
    async fn unsubscribes_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<UnsubscribeRecord>, StoreError>;

    async fn status(&self, recent_runs: u32) -> Result<StatusReport, StoreError>;

    /// The figures the metrics report, all read in one transaction; `now` bounds what is due.
    async fn metrics_snapshot(&self, now: DateTime<Utc>) -> Result<MetricsSnapshot, StoreError>;
    /// What the report shows for the period `[from, to)`.
    async fn report_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ReportRows, StoreError>;
}
