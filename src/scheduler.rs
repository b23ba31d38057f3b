//! The daemon: tokio-cron-scheduler drives the batch at a cadence read in UTC, and a loop
//! drives delivery. The cadence never encodes the service window: tokio-cron-scheduler fixes a
//! zone's UTC offset when a job is created, so a "06:00 Central" job would fire an hour off after
//! a DST change. Every tick asks the calendar instead, which knows the zone's rules on every day.
//! SIGTERM or SIGINT stops it cleanly: a run in progress stops between commits (the next run
//! resumes it), a delivery pass finishes and releases its leases.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::app::{App, RunOutcome};
use crate::batch::RunOptions;
use crate::calendar::Calendar;

/// Parses a cadence the way the scheduler does (six fields, seconds first).
pub fn parse_cadence(expression: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
        .map_err(|e| format!("`{expression}` is not a cron expression with seconds: {e}"))
}

/// The next `count` ticks of `cadence` after `after` at which the calendar is open: the
/// instants at which the daemon's batch runs do work.
pub fn next_working_runs(
    cadence: &Cron,
    calendar: &Calendar,
    after: DateTime<Utc>,
    count: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(count);
    let mut from = after;
    // Skip closed stretches in one step rather than tick by tick.
    for _ in 0..(count * 1000) {
        if out.len() == count {
            break;
        }
        let Ok(tick) = cadence.find_next_occurrence(&from, false) else {
            break;
        };
        let state = calendar.state_at(tick);
        if state.is_open() {
            out.push(tick);
            from = tick;
        } else if let Some(reopens) = state.reopens_at {
            from = reopens - chrono::Duration::seconds(1);
        } else {
            break;
        }
    }
    out
}

/// Runs until `stop` is set: the batch on its cadence, delivery in a loop.
pub async fn run_daemon(app: Arc<App>, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let mut scheduler = JobScheduler::new().await?;
    let batch_app = app.clone();
    let batch_stop = stop.clone();
    let busy = Arc::new(tokio::sync::Mutex::new(()));
    let job_busy = busy.clone();
    let job = Job::new_async(app.settings.schedule.batch.as_str(), move |_id, _lock| {
        let app = batch_app.clone();
        let stop = batch_stop.clone();
        let busy = job_busy.clone();
        Box::pin(async move {
            // A tick that comes while the last run is still going is skipped.
            let Ok(_guard) = busy.try_lock() else { return };
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let options = RunOptions {
                stop: Some(stop.clone()),
                ..RunOptions::default()
            };
            match app.run_now(&options).await {
                Ok(RunOutcome::Ran(report)) => tracing::info!(
                    run_id = report.run_id,
                    digests = report.totals.digests_queued,
                    "scheduled run done"
                ),
                Ok(RunOutcome::Skipped { state, .. }) => tracing::debug!(
                    reason = state.closed.map(|c| c.describe()).unwrap_or_default(),
                    "scheduled run skipped: service closed"
                ),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "scheduled run failed"),
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    tracing::info!(cadence = %app.settings.schedule.batch, "daemon started");
    let pruner = crate::prune::spawn_periodic(app.clone(), stop.clone());

    let every = Duration::from_secs(app.settings.schedule.delivery_every_secs);
    while !stop.load(Ordering::SeqCst) {
        match app.deliver(false).await {
            Ok(report) if report.sent + report.deferred + report.bounced > 0 => {
                tracing::info!(
                    sent = report.sent,
                    deferred = report.deferred,
                    bounced = report.bounced,
                    "delivery pass"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "delivery pass failed"),
        }
        let deadline = tokio::time::Instant::now() + every;
        while !stop.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    scheduler.shutdown().await?;
    // Wait for a run in progress to reach its next commit and stop there.
    let _ = busy.lock().await;
    let _ = pruner.await;
    tracing::info!("daemon stopped");
    Ok(())
}

/// Sets `stop` on SIGTERM or SIGINT.
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        flag.store(true, Ordering::SeqCst);
    });
    stop
}
