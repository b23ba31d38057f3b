//! The storage interface: everything the pipeline asks of a database, in plain values, as
//! small traits by role (ingest, batch, delivery, outbox, bounces, suppressions, calendar,
//! leases, unsubscribes, status, retention, run history). Stages never see SQL and ask only for
//! the roles they use; each backend implements every role with its own migrations, and
//! [`Store`] names a backend that does.

pub mod any;
pub mod by_size;
pub mod copy;
pub mod history;
pub mod postgres;
pub mod rows;
pub mod sqlite;
mod values;
pub mod watches;

use std::collections::{HashMap, HashSet};

use std::future::Future;

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;

use crate::model::{
    Account, Case, CaseTrackability, Court, DocketEntry, MatchRow, NewOutage, SuppressionReason,
};

pub use any::{AnyIngest, AnyStore};
pub use history::{RunHistory, StageTimings};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use values::*;

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
    /// A leader's write found the batch lease naming another holder (or none): this process
    /// no longer leads the batch, and the write was not made.
    #[error("the batch lease is no longer ours: it names {0}")]
    Fenced(String),
}

/// A date notice withheld before is owed again once what withheld it no longer holds: queued
/// again, it takes the withheld record's place. One that went out is never queued again: the
/// row stays as it is, and the count of rows written says so.
pub(crate) const DATE_NOTICE_AGAIN: &str =
    " ON CONFLICT (account_id, event_id, version, notice, days)
    DO UPDATE SET outbox_id = excluded.outbox_id, late_at = excluded.late_at,
        withheld_reason = NULL
    WHERE date_notices.withheld_reason IS NOT NULL";

/// Fails the commit when a date notice was already given (the ledger's guarantee).
pub(crate) fn check_date_notices_written(written: u64, given: usize) -> Result<(), StoreError> {
    if written == given as u64 {
        return Ok(());
    }
    Err(StoreError::Changed(format!(
        "{} of {given} date notices were given already; nothing was queued",
        given as u64 - written.min(given as u64)
    )))
}

/// The answer of a fence: Ok when the lease's `holder` is `leader`.
pub(crate) fn fence(leader: &str, holder: Option<String>) -> Result<(), StoreError> {
    match holder {
        Some(holder) if holder == leader => Ok(()),
        Some(holder) => Err(StoreError::Fenced(holder)),
        None => Err(StoreError::Fenced("no holder".to_string())),
    }
}

/// A database error's own code, read as its backend writes it: SQLite's result code (the
/// primary code in the low byte), PostgreSQL's SQLSTATE.
enum Code<'a> {
    Sqlite(i64),
    Postgres(&'a str),
}

impl StoreError {
    fn code(&self) -> Option<Code<'_>> {
        let StoreError::Database(sqlx::Error::Database(e)) = self else {
            return None;
        };
        if let Some(pg) = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            return Some(Code::Postgres(pg.code()));
        }
        e.code()?.parse::<i64>().ok().map(Code::Sqlite)
    }

    /// Whether the database refused what was written (a constraint, a value it cannot hold)
    /// rather than failing to work (busy, unreachable, out of space): a write refused for its
    /// data fails again unchanged, so the caller sets that data aside instead of retrying.
    pub fn is_about_the_data(&self) -> bool {
        if let StoreError::Database(sqlx::Error::Database(e)) = self {
            if !matches!(e.kind(), sqlx::error::ErrorKind::Other) {
                return true;
            }
        }
        match self.code() {
            // TOOBIG, CONSTRAINT, MISMATCH, RANGE.
            Some(Code::Sqlite(code)) => matches!(code & 0xff, 18 | 19 | 20 | 25),
            // Class 22, data exception (a NUL byte, a value out of range, a string too
            // long); class 23, integrity constraint violation; 54000, a value too large to
            // index.
            Some(Code::Postgres(state)) => {
                state.starts_with("22") || state.starts_with("23") || state == "54000"
            }
            None => false,
        }
    }

    /// The same write may succeed if tried again: another connection held the lock past the
    /// busy timeout (SQLite), or the server gave up the transaction for a serialization
    /// failure, a deadlock or a lock it could not take in time (PostgreSQL).
    pub fn is_busy(&self) -> bool {
        const SQLITE_BUSY: i64 = 5;
        const SQLITE_LOCKED: i64 = 6;
        match self.code() {
            Some(Code::Sqlite(code)) => matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED),
            Some(Code::Postgres(state)) => matches!(state, "40001" | "40P01" | "55P03"),
            None => false,
        }
    }
}

/// One feed file against the store, in bulk: the ingest stage asks what it needs to check a
/// chunk of records (keys the store does not know are absent from the answers), decides
/// everything itself, and then hands the rows to write, a batch at a time. Every write is
/// part of one transaction: all of it commits together, or none does (drop without commit).
pub trait IngestSession {
    /// Which of these courts exist.
    fn known_courts(
        &mut self,
        court_ids: &[&str],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;
    /// What decides whether each of these cases (those that exist) can be tracked.
    fn case_trackability(
        &mut self,
        case_numbers: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, CaseTrackability>, StoreError>> + Send;
    /// The stored entries with these ids.
    fn stored_entries(
        &mut self,
        entry_ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, StoredEntry>, StoreError>> + Send;
    /// The stored court dates with these ids.
    fn stored_events(
        &mut self,
        event_ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, StoredEvent>, StoreError>> + Send;
    /// Which of these accounts exist.
    fn known_accounts(
        &mut self,
        account_ids: &[&str],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;
    /// Every tracking period of these (account, case) pairs, in order of start; pairs with
    /// none are absent.
    fn subscriptions(
        &mut self,
        pairs: &[(&str, &str)],
    ) -> impl Future<Output = Result<HashMap<SubscriptionKey, Vec<SubscriptionRow>>, StoreError>> + Send;

    /// The names of the parties on each of these cases that exists (absent: no such case).
    fn stored_parties(
        &mut self,
        case_numbers: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, Vec<String>>, StoreError>> + Send;
    /// The stored watches with these ids.
    fn stored_watches(
        &mut self,
        watch_ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, watches::StoredWatch>, StoreError>> + Send;
    /// What the watches feed checks of these accounts (those that exist).
    fn watch_owners(
        &mut self,
        account_ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, watches::WatchOwner>, StoreError>> + Send;
    /// Records parties that first appeared on a case, for the watches to be matched against.
    fn add_party_arrivals(
        &mut self,
        arrivals: &[watches::PartyArrival],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Adds or replaces watches; a watch given again is no longer paused.
    fn upsert_watches(
        &mut self,
        watches: &[crate::model::Watch],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn upsert_courts(
        &mut self,
        courts: &[Court],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn upsert_cases(
        &mut self,
        cases: &[Case],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn insert_entries(
        &mut self,
        entries: &[DocketEntry],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn void_entries(
        &mut self,
        voids: &[EntryVoid],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Adds or changes court dates; a new version is recorded in the event's history.
    fn write_events(
        &mut self,
        events: &[EventWrite],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn upsert_accounts(
        &mut self,
        accounts: &[Account],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn start_subscriptions(
        &mut self,
        starts: &[NewSubscription],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn stop_subscriptions(
        &mut self,
        stops: &[SubscriptionStop],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn commit(self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The schema: brought up to date by every command before it works.
pub trait Schema {
    /// Brings the schema up to date and installs the built-in courts.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Feeds: one file's writes in one session, all or nothing.
pub trait IngestStore {
    type Ingest<'a>: IngestSession
    where
        Self: 'a;

    fn begin_ingest(&self) -> impl Future<Output = Result<Self::Ingest<'_>, StoreError>> + Send;
}

/// What a run claims: every new entry, however large the backlog, so that each account gets
/// one digest for it. (The matched pairs stream in account order, so memory stays bounded.)
pub const EVERY_ENTRY: u32 = u32::MAX;

/// The batch: claiming entries, matching them to subscriptions, queuing digests and closing the run.
pub trait BatchStore {
    /// Resumes the interrupted run if there is one, else starts a run that claims up to
    /// `max_entries` unclaimed entries in arrival order; fenced by `leader` as
    /// [`BatchStore::queue_digests`] is.
    fn open_run(
        &self,
        leader: Option<&str>,
        max_entries: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<OpenedRun, StoreError>> + Send;

    /// What [`BatchStore::open_run`] would claim, without claiming it.
    fn preview_run(
        &self,
        max_entries: u32,
    ) -> impl Future<Output = Result<PreviewRange, StoreError>> + Send;

    fn drop_counts(
        &self,
        scope: RunScope,
    ) -> impl Future<Output = Result<DropCounts, StoreError>> + Send;

    /// The account's address and whether it is verified and not suppressed; None if unknown.
    fn account_standing(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<AccountStanding>, StoreError>> + Send;

    /// The (account, entry) pairs to notify in `scope`, and the pairs held aside by earlier
    /// runs, not yet in the ledger, ordered by account, case number, posted time and arrival.
    fn match_rows(&self, scope: RunScope) -> BoxStream<'_, Result<MatchRow, StoreError>>;

    /// Queues the messages and records their pairs in the ledger, and records the held
    /// digests' pairs with their reason, in one transaction. Pairs queued leave the held set.
    /// With a `leader`, the transaction is fenced: it writes nothing and fails with
    /// [`StoreError::Fenced`] unless the batch lease still names that holder.
    fn queue_digests(
        &self,
        run_id: i64,
        leader: Option<&str>,
        messages: &[QueuedMessage],
        held: &[HeldDigest],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Closes the run with its totals and stage times, moves the watermark and notes the
    /// batch's success; fenced by `leader` as [`BatchStore::queue_digests`] is.
    fn finish_run(
        &self,
        run_id: i64,
        leader: Option<&str>,
        totals: &RunTotals,
        timings: &StageTimings,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks queued messages to suppressed addresses cancelled; returns how many.
    fn cancel_suppressed(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Cancels queued messages that report something no longer notifiable (a sealed case, a
    /// court out of MCAP, a voided entry): those pairs are marked withheld in the ledger, and
    /// the message's other pairs are held aside for the next run to queue without them.
    fn withhold_unnotifiable(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Withheld, StoreError>> + Send;

    /// Deletes the held pairs no run would queue again: their entry may no longer be notified,
    /// no active subscription of the account covers it, or the account is unverified or
    /// suppressed (a run skips such pairs when they are new). Returns how many; each is counted
    /// in the metrics.
    fn forgo_held_pairs(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records a run that did not happen because the service was closed (a success of the
    /// batch). A skip right after a skip for the same reason extends that row (one more tick, a
    /// later last time) rather than adding one; returns the row's id.
    fn record_skipped_run(
        &self,
        at: DateTime<Utc>,
        reason: &str,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

/// Court dates: what a run reads to decide its reminders and change notices.
pub trait DateStore {
    /// The trackers of every court date still ahead of `now` that starts by `horizon` or has
    /// changed, on cases that may be notified, with the dates' versions and the notices
    /// already given for them.
    fn date_candidates(
        &self,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> impl Future<Output = Result<DateCandidates, StoreError>> + Send;

    /// How many scheduled dates are ahead of `now`, and the date notices by kind and state.
    fn date_counts(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<DateCounts, StoreError>> + Send;
}

/// Delivery workers: claims under leases, the fence before each send, and the attempts' outcomes.
pub trait DeliveryStore {
    /// Claims up to `limit` due messages for `owner` until `lease_until`: queued, due by `now`,
    /// and not under another worker's live lease.
    fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ClaimedMessage>, StoreError>> + Send;

    /// The fence before a send: extends `owner`'s lease on the message to `lease_until` if it
    /// is still queued and `owner` still holds a live lease on it at `now`; `Lost` if the claim
    /// has run out or another worker has taken the message over (it must not be sent);
    /// `Withheld` if something it reports may no longer be sent (a case sealed since it was
    /// queued, a reminder late): then the message is withheld there and then, as
    /// [`BatchStore::withhold_unnotifiable`] does.
    fn renew_lease(
        &self,
        owner: &str,
        outbox_id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Renewal, StoreError>> + Send;

    /// Records attempts and moves their messages on, releasing `owner`'s leases on them, in one
    /// transaction.
    fn record_attempts(
        &self,
        owner: &str,
        results: &[AttemptResult],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives up `owner`'s remaining leases (a clean stop).
    fn release_leases(&self, owner: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The outbox as operators and bounce matching see it: listing, one message, requeuing the dead.
pub trait OutboxStore {
    fn outbox_list(
        &self,
        state: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, StoreError>> + Send;

    /// The stored message of `outbox_id`: None when there is no such message, Some(None) when
    /// `prune` removed its body.
    fn outbox_raw(
        &self,
        outbox_id: i64,
    ) -> impl Future<Output = Result<Option<Option<Vec<u8>>>, StoreError>> + Send;

    fn outbox_entry(
        &self,
        outbox_id: i64,
    ) -> impl Future<Output = Result<Option<(OutboxEntry, Vec<AttemptRow>)>, StoreError>> + Send;

    /// Puts dead messages (one, or all with None) back in the queue with a fresh lifetime; a
    /// message whose body retention removed cannot be sent again and stays dead.
    fn requeue_dead(
        &self,
        outbox_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The message with this outbox id (a verified VERP return path names one).
    fn outbox_by_id(
        &self,
        outbox_id: i64,
    ) -> impl Future<Output = Result<Option<OutboxRef>, StoreError>> + Send;

    fn outbox_by_message_id(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<Option<OutboxRef>, StoreError>> + Send;
}

/// Bounces: the mails kept as evidence and the bounces read from them or met at send time.
pub trait BounceStore {
    /// Keeps a bounce mail and records the bounces read from it (their `bounce_mail_id` is set
    /// here), in one transaction; returns the bounce ids, or None, writing nothing, when a mail
    /// with the same key was kept before.
    fn store_bounce_mail(
        &self,
        mail: &NewBounceMail<'_>,
        bounces: &[BounceRecord],
    ) -> impl Future<Output = Result<Option<Vec<i64>>, StoreError>> + Send;

    /// Records a bounce; None when it is a send-time refusal already recorded for the same
    /// message and verdict.
    fn record_bounce(
        &self,
        bounce: &BounceRecord,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// How many of our messages to `email` soft-bounced (proven) since `since`: a message
    /// refused again and again, or reported by many bounce mails, counts once.
    fn soft_bounces_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn unmatched_bounces(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<UnmatchedBounce>, StoreError>> + Send;
}

/// The suppression list: addresses no digest may go to.
pub trait SuppressionStore {
    /// Suppresses `email` and cancels its queued messages; false if it was suppressed already.
    fn suppress(
        &self,
        email: &str,
        reason: SuppressionReason,
        evidence: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn suppressions(&self) -> impl Future<Output = Result<Vec<Suppression>, StoreError>> + Send;

    /// Lifts a suppression; false if there was none.
    fn unsuppress(&self, email: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Outages: the closed stretches operators declare.
pub trait CalendarStore {
    fn outages(&self)
        -> impl Future<Output = Result<Vec<crate::model::Outage>, StoreError>> + Send;

    /// Records all of `outages` or none: Err(existing) names a stored outage one overlaps.
    fn add_outages(
        &self,
        outages: &[NewOutage],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Vec<i64>, crate::model::Outage>, StoreError>> + Send;

    fn remove_outage(
        &self,
        outage_id: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The batch lease: at most one batch runs at a time.
pub trait LeaseStore {
    /// Takes the batch lease for `lease.holder` unless someone else holds a live one (returned).
    fn acquire_batch_lease(
        &self,
        lease: &LeaseInfo,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<(), LeaseInfo>, StoreError>> + Send;

    /// Extends our lease; false if it is no longer ours.
    fn renew_batch_lease(
        &self,
        holder: &str,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn release_batch_lease(
        &self,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Unsubscribes: what a link stops, and the stops recipients asked for.
pub trait UnsubscribeStore {
    /// The subscriptions the unsubscribe link of the message `scope_key` names (none when no
    /// such message was queued, or its record was pruned).
    fn message_scope(
        &self,
        scope_key: &str,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// The subscriptions `subscription_ids` names, each as its account's latest tracking period
    /// of that case (a link from an earlier period stops the current one), described for the
    /// page behind the link.
    fn unsubscribe_targets(
        &self,
        subscription_ids: &[i64],
    ) -> impl Future<Output = Result<Vec<UnsubscribeTarget>, StoreError>> + Send;

    /// Stops the subscriptions at their recipient's request, in one transaction: each is
    /// recorded with `source` and `evidence`, matches nothing more, and the queued messages
    /// that reported them are withheld (their other pairs wait for the next run).
    fn unsubscribe(
        &self,
        subscription_ids: &[i64],
        source: StopSource,
        evidence: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Unsubscribed, StoreError>> + Send;

    /// The stops recipients asked for at or after `since`, oldest first.
    fn unsubscribes_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Vec<UnsubscribeRecord>, StoreError>> + Send;
}

/// What operators read: status, metrics and the report, each in one snapshot.
pub trait StatusStore {
    fn status(
        &self,
        recent_runs: u32,
    ) -> impl Future<Output = Result<StatusReport, StoreError>> + Send;

    /// The figures the metrics report, all read in one transaction; `now` bounds what is due.
    fn metrics_snapshot(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<MetricsSnapshot, StoreError>> + Send;

    /// What the report shows for the period `[from, to)`.
    fn report_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<ReportRows, StoreError>> + Send;
}

/// Retention: what is kept, and for how long.
pub trait RetentionStore {
    /// Removes what retention no longer needs from before `cutoff`: the bodies and delivery
    /// attempts of messages finished (sent, dead, cancelled) before it, and the text of bounce
    /// mails received before it; and the records of what unsubscribe links stop from before
    /// `links_cutoff`. The ledger, the runs, the outbox rows (id, Message-ID, state, times) and
    /// the bounce records stay. With `dry_run` nothing changes; the counts say what would go.
    fn prune(
        &self,
        cutoff: DateTime<Utc>,
        links_cutoff: DateTime<Utc>,
        dry_run: bool,
    ) -> impl Future<Output = Result<PruneCounts, StoreError>> + Send;
}

/// A backend that plays every role: what the application is built on.
pub trait Store:
    Schema
    + IngestStore
    + BatchStore
    + DateStore
    + watches::WatchStore
    + DeliveryStore
    + OutboxStore
    + BounceStore
    + SuppressionStore
    + CalendarStore
    + LeaseStore
    + UnsubscribeStore
    + StatusStore
    + RetentionStore
    + RunHistory
{
}

impl<T> Store for T where
    T: Schema
        + IngestStore
        + BatchStore
        + DateStore
        + watches::WatchStore
        + DeliveryStore
        + OutboxStore
        + BounceStore
        + SuppressionStore
        + CalendarStore
        + LeaseStore
        + UnsubscribeStore
        + StatusStore
        + RetentionStore
        + RunHistory
{
}

/// Every role trait, for code that calls a whole backend's methods directly (the application's
/// wiring, tests): `use mcap_notify::store::prelude::*;`.
pub mod prelude {
    pub use super::history::RunHistory;
    pub use super::{
        watches::WatchStore, BatchStore, BounceStore, CalendarStore, DateStore, DeliveryStore,
        IngestStore, LeaseStore, OutboxStore, RetentionStore, Schema, StatusStore, Store,
        SuppressionStore, UnsubscribeStore,
    };
}
