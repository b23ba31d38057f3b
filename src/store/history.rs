//! What operators review after the fact, as a storage role of its own: the run history (stage
//! times, attempts that failed or were interrupted), when each job last succeeded, and the
//! facts the health conditions are computed from. Kept apart from [`super::Store`] so the
//! pipeline's interface stays about the pipeline.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{LeaseInfo, RunRecord, StoreError};

/// Milliseconds a run spent per stage. Commit counts the digest commits; the write that closes
/// the run stores these figures and is not among them. Matching and rendering go on while a
/// batch commits, so match+render counts only the time outside commits: the stages add up to
/// the run's time, not to the work each did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageTimings {
    pub snapshot_ms: u64,
    pub filter_ms: u64,
    pub match_render_ms: u64,
    pub commit_ms: u64,
}

/// How a batch attempt ended without finishing its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptEnd {
    /// An error.
    Failed,
    /// A stop was asked for, or the process died and a later attempt resumed the run.
    Interrupted,
}

impl AttemptEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptEnd::Failed => "failed",
            AttemptEnd::Interrupted => "interrupted",
        }
    }
}

/// The run an attempt that did not finish belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptRun {
    /// This run.
    Known(i64),
    /// The run left open, if any: the one the attempt opened or was resuming (the batch lease
    /// makes it the only one). Only for an attempt that held the lease.
    Open,
    /// None: the attempt failed before it held the lease, so any open run belongs to another
    /// process.
    Unopened,
}

/// A recorded batch attempt that did not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFailure {
    pub failure_id: i64,
    /// None when the attempt failed before it opened a run.
    pub run_id: Option<i64>,
    pub at: DateTime<Utc>,
    pub outcome: String,
    pub error: String,
}

/// A job whose last success is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    Batch,
    Deliver,
}

impl Job {
    pub const ALL: [Job; 2] = [Job::Batch, Job::Deliver];

    pub fn as_str(self) -> &'static str {
        match self {
            Job::Batch => "batch",
            Job::Deliver => "deliver",
        }
    }
}

/// One run of the history with what the listing shows beside its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub record: RunRecord,
    /// None for runs from before stage times were kept, skipped and unfinished runs.
    pub timings: Option<StageTimings>,
    /// Attempts of this run that failed.
    pub failed_attempts: u64,
    /// Attempts of this run that were interrupted.
    pub interrupted_attempts: u64,
}

/// Everything known about one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    /// Its attempts that did not finish, oldest first.
    pub attempts: Vec<RunFailure>,
    /// The messages it queued, counted by their state now.
    pub messages: Vec<(String, u64)>,
    /// The notices its messages carry besides filings, by kind (`change`, `new case`,
    /// `reminder`).
    pub notices: Vec<(String, u64)>,
}

/// The notices a run's messages carry besides filings, by kind; `{run}` is the backend's
/// placeholder for the run id.
pub(crate) fn run_notices_query(run: &str) -> String {
    format!(
        "SELECT kind, COUNT(*) FROM (
             SELECT d.notice AS kind FROM date_notices d
             JOIN outbox o ON o.outbox_id = d.outbox_id WHERE o.run_id = {run}
             UNION ALL
             SELECT 'new case' AS kind FROM watch_matches w
             JOIN outbox o ON o.outbox_id = w.outbox_id WHERE o.run_id = {run}
         ) n GROUP BY kind ORDER BY kind"
    )
}

/// What the health conditions are computed from, read at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthFacts {
    /// Posting time of the oldest entry not yet in a finished run.
    pub oldest_unfinished_posted_at: Option<DateTime<Utc>>,
    /// The earliest `next_attempt_at` among queued messages already due.
    pub oldest_due_at: Option<DateTime<Utc>>,
    pub last_batch_success: Option<DateTime<Utc>>,
    pub last_deliver_success: Option<DateTime<Utc>>,
    /// Since the start of the look-back window:
    pub messages_dead: u64,
    pub messages_sent: u64,
    /// Hard and soft bounces.
    pub bounces: u64,
    /// Delivery attempts refused on policy grounds (5.7.x).
    pub policy_blocks: u64,
    /// Batch attempts that failed since `failures_since`, and the latest one (when, error).
    pub batch_failures: u64,
    pub last_batch_failure: Option<(DateTime<Utc>, String)>,
}

/// The history and health role of a database.
pub trait RunHistory {
    /// Records a batch attempt that did not finish.
    fn record_run_failure(
        &self,
        run: AttemptRun,
        outcome: AttemptEnd,
        error: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The batch lease as its last holder left it, live or not.
    fn batch_lease(&self) -> impl Future<Output = Result<Option<LeaseInfo>, StoreError>> + Send;

    /// A batch process died holding `dead` (its lease was never released): the run it left
    /// open, if any, is about to be resumed. Records an interrupted attempt for that run unless
    /// the dead attempt recorded its own end; returns the run recorded.
    fn record_dead_attempt(
        &self,
        dead: &LeaseInfo,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// Notes that `job` succeeded at `at`. Unless `changed` (the job wrote anyway), a success
    /// less than `min_interval` after the one kept is not written, so an idle loop does not
    /// take the write lock on every pass.
    fn record_job_success(
        &self,
        job: Job,
        at: DateTime<Utc>,
        changed: bool,
        min_interval: chrono::Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest `limit` runs, newest first.
    fn run_history(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RunSummary>, StoreError>> + Send;

    /// The newest `limit` attempts that ended with no run open (failed before opening one, or
    /// after closing it), newest first.
    fn runless_failures(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RunFailure>, StoreError>> + Send;

    fn run_detail(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Option<RunDetail>, StoreError>> + Send;

    /// The health facts at `now`, counting delivery events since `since` and failed batch
    /// attempts since `failures_since`.
    fn health_facts(
        &self,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
        failures_since: DateTime<Utc>,
    ) -> impl Future<Output = Result<HealthFacts, StoreError>> + Send;
}
