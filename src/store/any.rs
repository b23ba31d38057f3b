//! The backend chosen at start by the database URL's scheme: `sqlite://` for one machine,
//! `postgres://` for several hosts. An enum rather than trait objects, so every future the
//! application spawns stays `Send` and every call is a plain match.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;

use super::history::{
    AttemptEnd, AttemptRun, HealthFacts, Job, RunDetail, RunFailure, RunHistory, RunSummary,
    StageTimings,
};
use super::postgres::{PgIngest, PgStore};
use super::sqlite::{SqliteIngest, SqliteStore};
use super::*;
use crate::model::{
    Account, Case, CaseTrackability, Court, DocketEntry, MatchRow, NewOutage, SuppressionReason,
};

/// One of the backends.
#[derive(Clone, Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// One feed file's session on whichever backend the store is.
pub enum AnyIngest {
    // Boxed: a session is made once a file, and the two differ much in size.
    Sqlite(Box<SqliteIngest>),
    Postgres(Box<PgIngest>),
}

/// Calls the same method on whichever backend `$self` holds.
macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Self::Sqlite($s) => $call,
            Self::Postgres($s) => $call,
        }
    };
}

/// How to reach the database: the settings [`AnyStore::connect`] needs.
#[derive(Debug, Clone)]
pub struct ConnectOptions<'a> {
    pub url: &'a str,
    pub max_connections: u32,
    /// How long SQLite waits for the write lock, and PostgreSQL for a free connection.
    pub wait: Duration,
}

impl AnyStore {
    /// Opens the database the URL names: `sqlite://PATH` (created if missing) or
    /// `postgres://USER@HOST:PORT/DATABASE` (which must exist).
    pub async fn connect(options: ConnectOptions<'_>) -> Result<AnyStore, StoreError> {
        if crate::config::is_postgres_url(options.url) {
            Ok(AnyStore::Postgres(
                PgStore::connect(options.url, options.max_connections, options.wait).await?,
            ))
        } else {
            Ok(AnyStore::Sqlite(
                SqliteStore::connect(options.url, options.max_connections, options.wait).await?,
            ))
        }
    }

    /// Why the database is no longer the one opened (SQLite's file removed or replaced).
    pub fn file_gone(&self) -> Option<String> {
        match self {
            AnyStore::Sqlite(s) => s.file_gone(),
            AnyStore::Postgres(_) => None,
        }
    }

    /// The SQLite store, for tests that read its tables directly.
    pub fn sqlite(&self) -> Option<&SqliteStore> {
        match self {
            AnyStore::Sqlite(s) => Some(s),
            AnyStore::Postgres(_) => None,
        }
    }

    /// The PostgreSQL store, for tests that read its tables directly.
    pub fn postgres(&self) -> Option<&PgStore> {
        match self {
            AnyStore::Postgres(s) => Some(s),
            AnyStore::Sqlite(_) => None,
        }
    }
}

impl IngestSession for AnyIngest {
    async fn stored_parties(
        &mut self,
        case_numbers: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        dispatch!(self, s => s.stored_parties(case_numbers).await)
    }

    async fn stored_watches(
        &mut self,
        watch_ids: &[&str],
    ) -> Result<HashMap<String, watches::StoredWatch>, StoreError> {
        dispatch!(self, s => s.stored_watches(watch_ids).await)
    }

    async fn watch_owners(
        &mut self,
        account_ids: &[&str],
    ) -> Result<HashMap<String, watches::WatchOwner>, StoreError> {
        dispatch!(self, s => s.watch_owners(account_ids).await)
    }

    async fn add_party_arrivals(
        &mut self,
        arrivals: &[watches::PartyArrival],
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.add_party_arrivals(arrivals).await)
    }

    async fn upsert_watches(&mut self, watches: &[crate::model::Watch]) -> Result<(), StoreError> {
        dispatch!(self, s => s.upsert_watches(watches).await)
    }

    async fn known_courts(&mut self, court_ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        dispatch!(self, s => s.known_courts(court_ids).await)
    }

    async fn case_trackability(
        &mut self,
        case_numbers: &[&str],
    ) -> Result<HashMap<String, CaseTrackability>, StoreError> {
        dispatch!(self, s => s.case_trackability(case_numbers).await)
    }

    async fn stored_entries(
        &mut self,
        entry_ids: &[&str],
    ) -> Result<HashMap<String, StoredEntry>, StoreError> {
        dispatch!(self, s => s.stored_entries(entry_ids).await)
    }

    async fn stored_events(
        &mut self,
        event_ids: &[&str],
    ) -> Result<HashMap<String, StoredEvent>, StoreError> {
        dispatch!(self, s => s.stored_events(event_ids).await)
    }

    async fn known_accounts(
        &mut self,
        account_ids: &[&str],
    ) -> Result<HashSet<String>, StoreError> {
        dispatch!(self, s => s.known_accounts(account_ids).await)
    }

    async fn subscriptions(
        &mut self,
        pairs: &[(&str, &str)],
    ) -> Result<HashMap<SubscriptionKey, Vec<SubscriptionRow>>, StoreError> {
        dispatch!(self, s => s.subscriptions(pairs).await)
    }

    async fn upsert_courts(&mut self, courts: &[Court]) -> Result<(), StoreError> {
        dispatch!(self, s => s.upsert_courts(courts).await)
    }

    async fn upsert_cases(&mut self, cases: &[Case]) -> Result<(), StoreError> {
        dispatch!(self, s => s.upsert_cases(cases).await)
    }

    async fn insert_entries(&mut self, entries: &[DocketEntry]) -> Result<(), StoreError> {
        dispatch!(self, s => s.insert_entries(entries).await)
    }

    async fn void_entries(&mut self, voids: &[EntryVoid]) -> Result<(), StoreError> {
        dispatch!(self, s => s.void_entries(voids).await)
    }

    async fn write_events(&mut self, events: &[EventWrite]) -> Result<(), StoreError> {
        dispatch!(self, s => s.write_events(events).await)
    }

    async fn upsert_accounts(&mut self, accounts: &[Account]) -> Result<(), StoreError> {
        dispatch!(self, s => s.upsert_accounts(accounts).await)
    }

    async fn start_subscriptions(&mut self, starts: &[NewSubscription]) -> Result<(), StoreError> {
        dispatch!(self, s => s.start_subscriptions(starts).await)
    }

    async fn stop_subscriptions(&mut self, stops: &[SubscriptionStop]) -> Result<(), StoreError> {
        dispatch!(self, s => s.stop_subscriptions(stops).await)
    }

    async fn commit(self) -> Result<(), StoreError> {
        dispatch!(self, s => s.commit().await)
    }
}

impl Schema for AnyStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.migrate().await)
    }
}

impl IngestStore for AnyStore {
    type Ingest<'a> = AnyIngest;

    async fn begin_ingest(&self) -> Result<AnyIngest, StoreError> {
        match self {
            AnyStore::Sqlite(s) => Ok(AnyIngest::Sqlite(Box::new(s.begin_ingest().await?))),
            AnyStore::Postgres(s) => Ok(AnyIngest::Postgres(Box::new(s.begin_ingest().await?))),
        }
    }
}

impl watches::WatchStore for AnyStore {
    async fn watch_input(&self, limit: u32) -> Result<watches::WatchInput, StoreError> {
        dispatch!(self, s => s.watch_input(limit).await)
    }

    async fn record_watch_decisions(
        &self,
        leader: Option<&str>,
        decisions: &watches::WatchDecisions,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_watch_decisions(leader, decisions, now).await)
    }

    async fn message_watch_scope(
        &self,
        scope_key: &str,
    ) -> Result<Vec<watches::WatchTarget>, StoreError> {
        dispatch!(self, s => s.message_watch_scope(scope_key).await)
    }

    async fn stop_watches(
        &self,
        watch_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<watches::WatchesStopped, StoreError> {
        dispatch!(self, s => s.stop_watches(watch_ids, now).await)
    }

    async fn pass_arrivals(
        &self,
        leader: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        dispatch!(self, s => s.pass_arrivals(leader, now).await)
    }

    async fn waiting_watch_notices(&self) -> Result<watches::WaitingWatchNotices, StoreError> {
        dispatch!(self, s => s.waiting_watch_notices().await)
    }

    async fn watch_summaries(&self) -> Result<Vec<watches::WatchSummary>, StoreError> {
        dispatch!(self, s => s.watch_summaries().await)
    }

    async fn watch_counts(&self) -> Result<watches::WatchCounts, StoreError> {
        dispatch!(self, s => s.watch_counts().await)
    }

    async fn auto_tracks_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<watches::AutoTrackRecord>, StoreError> {
        dispatch!(self, s => s.auto_tracks_since(since).await)
    }

    async fn parties_on_cases(&self) -> Result<Vec<watches::PartyOnCase>, StoreError> {
        dispatch!(self, s => s.parties_on_cases().await)
    }
}

impl DateStore for AnyStore {
    async fn date_candidates(
        &self,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Result<DateCandidates, StoreError> {
        dispatch!(self, s => s.date_candidates(now, horizon).await)
    }

    async fn date_counts(&self, now: DateTime<Utc>) -> Result<DateCounts, StoreError> {
        dispatch!(self, s => s.date_counts(now).await)
    }
}

impl BatchStore for AnyStore {
    async fn open_run(
        &self,
        leader: Option<&str>,
        max_entries: u32,
        now: DateTime<Utc>,
    ) -> Result<OpenedRun, StoreError> {
        dispatch!(self, s => s.open_run(leader, max_entries, now).await)
    }

    async fn preview_run(&self, max_entries: u32) -> Result<PreviewRange, StoreError> {
        dispatch!(self, s => s.preview_run(max_entries).await)
    }

    async fn drop_counts(&self, scope: RunScope) -> Result<DropCounts, StoreError> {
        dispatch!(self, s => s.drop_counts(scope).await)
    }

    async fn account_standing(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountStanding>, StoreError> {
        dispatch!(self, s => s.account_standing(account_id).await)
    }

    fn match_rows(&self, scope: RunScope) -> BoxStream<'_, Result<MatchRow, StoreError>> {
        dispatch!(self, s => s.match_rows(scope))
    }

    async fn queue_digests(
        &self,
        run_id: i64,
        leader: Option<&str>,
        messages: &[QueuedMessage],
        held: &[HeldDigest],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.queue_digests(run_id, leader, messages, held, now).await)
    }

    async fn finish_run(
        &self,
        run_id: i64,
        leader: Option<&str>,
        totals: &RunTotals,
        timings: &StageTimings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.finish_run(run_id, leader, totals, timings, now).await)
    }

    async fn cancel_suppressed(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        dispatch!(self, s => s.cancel_suppressed(now).await)
    }

    async fn withhold_unnotifiable(&self, now: DateTime<Utc>) -> Result<Withheld, StoreError> {
        dispatch!(self, s => s.withhold_unnotifiable(now).await)
    }

    async fn forgo_held_pairs(&self) -> Result<u64, StoreError> {
        dispatch!(self, s => s.forgo_held_pairs().await)
    }

    async fn record_skipped_run(&self, at: DateTime<Utc>, reason: &str) -> Result<i64, StoreError> {
        dispatch!(self, s => s.record_skipped_run(at, reason).await)
    }
}

impl DeliveryStore for AnyStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        dispatch!(self, s => s.claim_due(owner, now, lease_until, limit).await)
    }

    async fn renew_lease(
        &self,
        owner: &str,
        outbox_id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Renewal, StoreError> {
        dispatch!(self, s => s.renew_lease(owner, outbox_id, now, lease_until).await)
    }

    async fn record_attempts(
        &self,
        owner: &str,
        results: &[AttemptResult],
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_attempts(owner, results).await)
    }

    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        dispatch!(self, s => s.release_leases(owner).await)
    }
}

impl OutboxStore for AnyStore {
    async fn outbox_list(
        &self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        dispatch!(self, s => s.outbox_list(state, limit).await)
    }

    async fn outbox_raw(&self, outbox_id: i64) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        dispatch!(self, s => s.outbox_raw(outbox_id).await)
    }

    async fn outbox_entry(
        &self,
        outbox_id: i64,
    ) -> Result<Option<(OutboxEntry, Vec<AttemptRow>)>, StoreError> {
        dispatch!(self, s => s.outbox_entry(outbox_id).await)
    }

    async fn requeue_dead(
        &self,
        outbox_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        dispatch!(self, s => s.requeue_dead(outbox_id, now).await)
    }

    async fn outbox_by_id(&self, outbox_id: i64) -> Result<Option<OutboxRef>, StoreError> {
        dispatch!(self, s => s.outbox_by_id(outbox_id).await)
    }

    async fn outbox_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<OutboxRef>, StoreError> {
        dispatch!(self, s => s.outbox_by_message_id(message_id).await)
    }
}

impl BounceStore for AnyStore {
    async fn store_bounce_mail(
        &self,
        mail: &NewBounceMail<'_>,
        bounces: &[BounceRecord],
    ) -> Result<Option<Vec<i64>>, StoreError> {
        dispatch!(self, s => s.store_bounce_mail(mail, bounces).await)
    }

    async fn record_bounce(&self, bounce: &BounceRecord) -> Result<Option<i64>, StoreError> {
        dispatch!(self, s => s.record_bounce(bounce).await)
    }

    async fn soft_bounces_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        dispatch!(self, s => s.soft_bounces_since(email, since).await)
    }

    async fn unmatched_bounces(&self, limit: u32) -> Result<Vec<UnmatchedBounce>, StoreError> {
        dispatch!(self, s => s.unmatched_bounces(limit).await)
    }
}

impl SuppressionStore for AnyStore {
    async fn suppress(
        &self,
        email: &str,
        reason: SuppressionReason,
        evidence: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.suppress(email, reason, evidence, at).await)
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        dispatch!(self, s => s.suppressions().await)
    }

    async fn unsuppress(&self, email: &str) -> Result<bool, StoreError> {
        dispatch!(self, s => s.unsuppress(email).await)
    }
}

impl CalendarStore for AnyStore {
    async fn outages(&self) -> Result<Vec<crate::model::Outage>, StoreError> {
        dispatch!(self, s => s.outages().await)
    }

    async fn add_outages(
        &self,
        outages: &[NewOutage],
        now: DateTime<Utc>,
    ) -> Result<Result<Vec<i64>, crate::model::Outage>, StoreError> {
        dispatch!(self, s => s.add_outages(outages, now).await)
    }

    async fn remove_outage(&self, outage_id: i64) -> Result<bool, StoreError> {
        dispatch!(self, s => s.remove_outage(outage_id).await)
    }
}

impl LeaseStore for AnyStore {
    async fn acquire_batch_lease(
        &self,
        lease: &LeaseInfo,
        now: DateTime<Utc>,
    ) -> Result<Result<(), LeaseInfo>, StoreError> {
        dispatch!(self, s => s.acquire_batch_lease(lease, now).await)
    }

    async fn renew_batch_lease(
        &self,
        holder: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.renew_batch_lease(holder, expires_at).await)
    }

    async fn release_batch_lease(&self, holder: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.release_batch_lease(holder).await)
    }
}

impl UnsubscribeStore for AnyStore {
    async fn message_scope(&self, scope_key: &str) -> Result<Vec<i64>, StoreError> {
        dispatch!(self, s => s.message_scope(scope_key).await)
    }

    async fn unsubscribe_targets(
        &self,
        subscription_ids: &[i64],
    ) -> Result<Vec<UnsubscribeTarget>, StoreError> {
        dispatch!(self, s => s.unsubscribe_targets(subscription_ids).await)
    }

    async fn unsubscribe(
        &self,
        subscription_ids: &[i64],
        source: StopSource,
        evidence: &str,
        now: DateTime<Utc>,
    ) -> Result<Unsubscribed, StoreError> {
        dispatch!(self, s => s.unsubscribe(subscription_ids, source, evidence, now).await)
    }

    async fn unsubscribes_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<UnsubscribeRecord>, StoreError> {
        dispatch!(self, s => s.unsubscribes_since(since).await)
    }
}

impl StatusStore for AnyStore {
    async fn status(&self, recent_runs: u32) -> Result<StatusReport, StoreError> {
        dispatch!(self, s => s.status(recent_runs).await)
    }

    async fn metrics_snapshot(&self, now: DateTime<Utc>) -> Result<MetricsSnapshot, StoreError> {
        dispatch!(self, s => s.metrics_snapshot(now).await)
    }

    async fn report_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ReportRows, StoreError> {
        dispatch!(self, s => s.report_rows(from, to).await)
    }
}

impl RetentionStore for AnyStore {
    async fn prune(
        &self,
        cutoff: DateTime<Utc>,
        links_cutoff: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PruneCounts, StoreError> {
        dispatch!(self, s => s.prune(cutoff, links_cutoff, dry_run).await)
    }
}

impl RunHistory for AnyStore {
    async fn record_run_failure(
        &self,
        run: AttemptRun,
        outcome: AttemptEnd,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_run_failure(run, outcome, error, at).await)
    }

    async fn batch_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        dispatch!(self, s => s.batch_lease().await)
    }

    async fn record_dead_attempt(
        &self,
        dead: &LeaseInfo,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        dispatch!(self, s => s.record_dead_attempt(dead, at).await)
    }

    async fn record_job_success(
        &self,
        job: Job,
        at: DateTime<Utc>,
        changed: bool,
        min_interval: chrono::Duration,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_job_success(job, at, changed, min_interval).await)
    }

    async fn run_history(&self, limit: u32) -> Result<Vec<RunSummary>, StoreError> {
        dispatch!(self, s => s.run_history(limit).await)
    }

    async fn runless_failures(&self, limit: u32) -> Result<Vec<RunFailure>, StoreError> {
        dispatch!(self, s => s.runless_failures(limit).await)
    }

    async fn run_detail(&self, run_id: i64) -> Result<Option<RunDetail>, StoreError> {
        dispatch!(self, s => s.run_detail(run_id).await)
    }

    async fn health_facts(
        &self,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
        failures_since: DateTime<Utc>,
    ) -> Result<HealthFacts, StoreError> {
        dispatch!(self, s => s.health_facts(now, since, failures_since).await)
    }
}
