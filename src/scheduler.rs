//! The daemon: tokio-cron-scheduler drives the batch at a cadence read in UTC, and a loop
//! drives delivery. The cadence never encodes the service window: tokio-cron-scheduler fixes a
//! zone's UTC offset when a job is created, so a "06:00 Central" job would fire an hour off after
//! a DST change. Every tick asks the calendar instead, which knows the zone's rules on every day.
//! The batch and delivery are independent tasks: a failed or slow batch run never holds up
//! delivery, and a long delivery pass never swallows a batch tick. A run that queued digests
//! wakes delivery at once, so a digest does not wait out the delivery interval.
//! SIGTERM or SIGINT stops it cleanly: a run in progress stops between commits (the next run
//! resumes it), a delivery pass stops between messages, lets the sends in flight finish and
//! releases its unsent claims. Under systemd (`Type=notify`) it reports when it is ready and
//! when it is stopping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::app::{App, RunOutcome};
use crate::batch::RunOptions;
use crate::calendar::Calendar;

/// The next `count` ticks of `cadence` (`schedule.batch`, see `config::Cadence`) after `after` at which the calendar is open: the
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
    // Serves until this function returns.
    let _metrics = crate::metrics::server::start(app.clone()).await?;
    let mut scheduler = JobScheduler::new().await?;
    let batch_app = app.clone();
    let batch_stop = stop.clone();
    let busy = Arc::new(tokio::sync::Mutex::new(()));
    let job_busy = busy.clone();
    let queued = Arc::new(tokio::sync::Notify::new());
    let job_queued = queued.clone();
    let job = Job::new_async(app.settings.schedule.batch.as_str(), move |_id, _lock| {
        let app = batch_app.clone();
        let stop = batch_stop.clone();
        let busy = job_busy.clone();
        let queued = job_queued.clone();
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
                Ok(RunOutcome::Ran(report)) => {
                    tracing::info!(
                        run_id = report.run_id,
                        digests = report.totals.digests_queued,
                        "scheduled run done"
                    );
                    if report.totals.digests_queued > 0 {
                        queued.notify_one();
                    }
                }
                Ok(RunOutcome::Skipped { state, .. }) => tracing::debug!(
                    reason = state.closed.map(|c| c.describe()).unwrap_or_default(),
                    "scheduled run skipped: service closed"
                ),
                Err(e) => {
                    tracing::warn!(
                        error = %crate::mask::Text(&format!("{e:#}")),
                        "scheduled run failed"
                    );
                    // It may have committed some of its digests before it failed; a delivery
                    // pass that finds nothing due costs one query.
                    queued.notify_one();
                }
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    let delivery = tokio::spawn(deliver_continuously(app.clone(), stop.clone(), queued));
    tracing::info!(cadence = %app.settings.schedule.batch, "daemon started");
    let pruner = crate::prune::spawn_periodic(app.clone(), stop.clone());
    notify_systemd(sd_notify::NotifyState::Ready);

    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    notify_systemd(sd_notify::NotifyState::Stopping);
    if let Err(e) = delivery.await {
        tracing::warn!(error = %e, "the delivery task ended abnormally");
    }
    scheduler.shutdown().await?;
    // Wait for a run in progress to reach its next commit and stop there.
    let _ = busy.lock().await;
    let _ = pruner.await;
    tracing::info!("daemon stopped");
    Ok(())
}

/// A delivery pass every `schedule.delivery_every_secs`, and at once when `queued` is notified
/// (a run queued digests), until `stop` is set. Each pass is a task of its own, so one that
/// fails, even by panicking, is logged and the next one runs.
async fn deliver_continuously(
    app: Arc<App>,
    stop: Arc<AtomicBool>,
    queued: Arc<tokio::sync::Notify>,
) {
    let every = Duration::from_secs(app.settings.schedule.delivery_every_secs);
    while !stop.load(Ordering::SeqCst) {
        let pass = {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move { app.deliver_until(false, &stop).await })
        };
        match pass.await {
            Ok(Ok(report)) if report.sent + report.deferred + report.bounced > 0 => {
                tracing::info!(
                    sent = report.sent,
                    deferred = report.deferred,
                    bounced = report.bounced,
                    "delivery pass"
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(
                error = %crate::mask::Text(&format!("{e:#}")),
                "delivery pass failed"
            ),
            Err(e) => tracing::warn!(error = %e, "delivery pass ended abnormally"),
        }
        let deadline = tokio::time::Instant::now() + every;
        while !stop.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
            // A notice that came during the pass was kept: the next pass starts at once.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = queued.notified() => break,
            }
        }
    }
}

/// Tells systemd (when it started us with `NOTIFY_SOCKET`) how the service stands.
fn notify_systemd(state: sd_notify::NotifyState) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// Installs handlers for SIGTERM and SIGINT and returns what resolves when one arrives. The
/// handlers are in place when this returns, so a signal sent after it can never kill the
/// process half-way.
pub fn on_signals() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "no signal handlers: SIGTERM will not stop cleanly");
                std::future::pending::<()>().await
            }
        }
    }
}

/// Sets `stop` on SIGTERM or SIGINT (see [`on_signals`]).
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let signalled = on_signals();
    tokio::spawn(async move {
        signalled.await;
        flag.store(true, Ordering::SeqCst);
        tracing::info!("stop requested: finishing the work in hand, starting nothing new");
    });
    stop
}
