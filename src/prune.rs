//! Retention. Message bodies, delivery attempts and bounce mail text matter only while a
//! message may still be sent or questioned; the notification ledger, the runs and each message's
//! id, Message-ID, state and times answer "was this account told about this entry, and when"
//! for good. `prune` removes the former once they are older than the retention, on demand or on
//! the daemon's cadence.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::store::{PruneCounts, RetentionStore};

/// What one prune did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// Everything finished or received before this instant was pruned.
    pub cutoff: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: PruneCounts,
}

/// Prunes what is more than `older_than_days` days old at `now`.
pub async fn prune(
    app: &App,
    older_than_days: u32,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<PruneReport> {
    let cutoff = now - chrono::Duration::days(i64::from(older_than_days));
    // What an unsubscribe link stops is kept as long as the link works, whatever the cutoff.
    let link_lifetime = i64::from(app.settings.mail.unsubscribe_token_days) + 1;
    let links_cutoff = cutoff.min(now - chrono::Duration::days(link_lifetime));
    let counts = app.store.prune(cutoff, links_cutoff, dry_run).await?;
    Ok(PruneReport {
        dry_run,
        cutoff,
        counts,
    })
}

/// The daemon's job: a prune with `retention.days` at once and then every
/// `retention.prune_every_secs` until `stop` is set; returns at once when that is 0.
pub async fn run_periodic(app: &App, stop: &AtomicBool) {
    let every = app.settings.retention.prune_every_secs;
    if every == 0 {
        return;
    }
    loop {
        match prune(app, app.settings.retention.days, Utc::now(), false).await {
            Ok(report) => tracing::info!(
                message_bodies = report.counts.message_bodies,
                delivery_attempts = report.counts.delivery_attempts,
                bounce_mail_bodies = report.counts.bounce_mail_bodies,
                unsubscribe_scopes = report.counts.unsubscribe_scopes,
                "retention prune"
            ),
            Err(e) => tracing::warn!(error = %crate::exit::describe(&e), "retention prune failed"),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(every);
        while tokio::time::Instant::now() < deadline {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// [`run_periodic`] as a task of its own.
pub fn spawn_periodic(app: Arc<App>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { run_periodic(&app, &stop).await })
}
