//! How a batch attempt that did not finish is remembered, so that `runs` shows what failed:
//! an error is recorded as failed, a requested stop as interrupted, and a process that died
//! mid-run (it could record nothing) as interrupted when a later attempt resumes its run.
//! Recording is best effort: the database may be what failed, and a recording error is only
//! logged, never put in the place of the error being recorded.

use chrono::{DateTime, Utc};

use super::RunError;
use crate::store::history::{AttemptEnd, AttemptRun, RunHistory};
use crate::store::LeaseInfo;

/// Records that an attempt ended with `error`. `held_lease`: whether it got as far as holding
/// the batch lease; one that failed before that is tied to no run, since a run open then
/// belongs to another process.
pub async fn record_failure<S: RunHistory>(
    store: &S,
    error: &anyhow::Error,
    held_lease: bool,
    at: DateTime<Utc>,
) {
    let (run, outcome) = match error.downcast_ref::<RunError>() {
        Some(RunError::Interrupted(run_id) | RunError::LeaseLost(Some(run_id))) => {
            (AttemptRun::Known(*run_id), AttemptEnd::Interrupted)
        }
        Some(RunError::LeaseLost(None)) => (AttemptRun::Unopened, AttemptEnd::Interrupted),
        _ if held_lease => (AttemptRun::Open, AttemptEnd::Failed),
        _ => (AttemptRun::Unopened, AttemptEnd::Failed),
    };
    let text = format!("{error:#}");
    if let Err(e) = store.record_run_failure(run, outcome, &text, at).await {
        tracing::warn!(error = %e, attempt_error = %text, "the batch attempt's end could not be recorded");
    }
}

/// `left` is the lease a batch process never released (it died); this attempt holds the lease
/// now and will resume the run that process left open.
pub async fn record_dead_holder<S: RunHistory>(store: &S, left: &LeaseInfo, at: DateTime<Utc>) {
    match store.record_dead_attempt(left, at).await {
        Ok(Some(run_id)) => tracing::warn!(
            run_id,
            pid = left.pid,
            host = %left.host,
            "the process running this run died; resuming it"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "the interrupted attempt could not be recorded"),
    }
}
