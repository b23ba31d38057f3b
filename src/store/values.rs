//! The plain values the store's roles take and return: no SQL, no backend in them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{BounceVerdict, DocketEntry, SendOutcome};

/// The entries a run works on: either the entries a real run has claimed, or, for a dry run,
/// the unclaimed entries up to a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunScope {
    Claimed { run_id: i64 },
    Preview { up_to_seq: i64 },
}

/// A run opened by [`super::BatchStore::open_run`].
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
    /// The date notices it carries (the ledger of date notices' keys).
    pub date_notices: Vec<QueuedDateNotice>,
    /// The new-case notices of party watches it carries.
    pub watch_notices: Vec<super::watches::WatchNoticeKey>,
    /// The watches whose pause it tells their owner of.
    pub watch_pauses: Vec<String>,
}

/// An account's digest that could not be built or stored: its pairs wait, with the reason,
/// and every later run tries them again until one queues them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDigest {
    pub account_id: String,
    pub entry_seqs: Vec<i64>,
    pub reason: String,
}

/// What [`super::BatchStore::withhold_unnotifiable`] did.
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
    /// Parties that arrived on cases and were matched against the watches long ago.
    pub party_arrivals: u64,
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
    /// Court dates and their notices.
    pub dates: DateCounts,
    /// Party watches and their matches.
    pub watches: super::watches::WatchCounts,
}

/// Court dates for operators: how many are ahead, and the date notices by kind and state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DateCounts {
    /// Scheduled court dates still ahead.
    pub ahead: u64,
    /// (notice: `reminder` or `change`, state: the message's outbox state or `withheld`, count).
    pub notices: Vec<(String, String, u64)>,
}

impl DateCounts {
    /// From date_counts.sql's rows: `ahead` first, then (notice, state, count).
    pub fn from_rows(rows: Vec<(String, String, i64)>) -> DateCounts {
        let mut counts = DateCounts::default();
        for (notice, state, n) in rows {
            let n = n.max(0) as u64;
            if notice == "ahead" {
                counts.ahead = n;
            } else {
                counts.notices.push((notice, state, n));
            }
        }
        counts
    }
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
    /// Court dates and their notices.
    pub dates: DateCounts,
    /// Party watches and their matches.
    pub watches: super::watches::WatchCounts,
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

/// Why one feed record could not be applied.
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

/// A court date as stored: the event as it stands, its version and when that version came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub event: crate::model::CourtEvent,
    pub version: i64,
    pub changed_at: DateTime<Utc>,
}

/// A court date the events feed adds or changes. A new `version` (1 for a new event) records
/// a change of time, place or status; the same version updates the rest in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventWrite {
    pub event: crate::model::CourtEvent,
    pub version: i64,
    /// Whether `version` is new (its time, place and status are recorded in the history).
    pub new_version: bool,
    pub changed_at: DateTime<Utc>,
}

/// One account tracking the case of one court date a run may have something to say about,
/// with what a notice shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTracker {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub subscription_id: i64,
    pub tracked_at: DateTime<Utc>,
    pub case_number: String,
    pub caption: String,
    pub case_type: String,
    pub court_id: String,
    pub court_name: String,
    pub event: crate::model::CourtEvent,
    pub version: i64,
    pub changed_at: DateTime<Utc>,
}

/// One version of a court date: its time, place and status then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventVersion {
    pub event_id: String,
    pub version: i64,
    pub starts_at: DateTime<Utc>,
    pub location: String,
    pub status: crate::model::EventStatus,
}

/// A date notice given (or withheld) before: the ledger's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateNoticeKey {
    pub account_id: String,
    pub event_id: String,
    pub version: i64,
    pub notice: crate::model::Notice,
}

/// What the fence before a send found (see [`super::DeliveryStore::renew_lease`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The lease is extended: send.
    Renewed,
    /// The claim ran out or another worker took the message over: do not send.
    Lost,
    /// Something it reports may no longer be sent: it was withheld, do not send.
    Withheld,
}

/// A date notice as a message queues it: its key, and when it is late (a reminder still
/// queued then is withheld, never sent after its day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedDateNotice {
    pub key: DateNoticeKey,
    pub late_at: Option<DateTime<Utc>>,
}

/// What a run reads to decide its date notices (see [`super::DateStore::date_candidates`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DateCandidates {
    /// In account order.
    pub trackers: Vec<DateTracker>,
    pub versions: Vec<EventVersion>,
    /// Every notice given before, and whether it was withheld instead of sent.
    pub told: Vec<(DateNoticeKey, bool)>,
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
