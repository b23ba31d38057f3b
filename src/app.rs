//! The application assembled from settings: an open, migrated store plus the pieces each
//! command needs. The CLI, the demo and the integration tests all go through it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use crate::batch::{run_batch, MessageFactory, Renderer, RunLease, RunOptions, RunReport};
use crate::calendar::{Calendar, WindowState};
use crate::config::Settings;
use crate::delivery::{deliver_due, Clock, DeliveryReport, SystemClock, Transport, WorkerConfig};
use crate::ingest::{ingest_path_with, FeedKind, IngestSummary};
use crate::status::Status;
use crate::store::any::ConnectOptions;
use crate::store::history::Job;
use crate::store::watches::WatchStore;
use crate::store::LeaseInfo;
use crate::store::{
    AnyStore, BatchStore, CalendarStore, DateStore, LeaseStore, RunHistory, Schema, StatusStore,
};

/// What `run-now` did.
#[derive(Debug)]
pub enum RunOutcome {
    Ran(RunReport),
    /// The service was closed; a skipped run was recorded.
    Skipped {
        run_id: i64,
        state: WindowState,
    },
}

/// Another process holds the batch lease.
#[derive(Debug, thiserror::Error)]
#[error(
    "another batch run holds the lease: {} (host {}, pid {}) since {}, until {}",
    .0.holder, .0.host, .0.pid, .0.since.to_rfc3339(), .0.expires_at.to_rfc3339()
)]
pub struct LeaseHeld(pub LeaseInfo);

/// This process's name in leases: host, pid and a start stamp.
fn holder_name() -> (String, String, i64) {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let host = crate::delivery::worker::host_name();
    let pid = std::process::id() as i64;
    let name = NAME
        .get_or_init(|| format!("{host}:{pid}:{}", Utc::now().timestamp_micros()))
        .clone();
    (name, host, pid)
}

/// The configured database could not be opened (a missing directory, no permission, not a
/// database); an operator's configuration problem, named with where it points.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the database {url}")]
pub struct DatabaseUnavailable {
    pub url: String,
    #[source]
    pub source: crate::store::StoreError,
}

pub struct App {
    pub settings: Settings,
    pub store: AnyStore,
    /// The DKIM signer, read once by the first command that signs (see [`App::dkim_signer`]).
    dkim: std::sync::OnceLock<Option<std::sync::Arc<crate::dkim::DkimSigner>>>,
}

impl App {
    /// Opens the configured database, creating and migrating it as needed.
    pub async fn open(settings: Settings) -> anyhow::Result<App> {
        let store = AnyStore::connect(ConnectOptions {
            url: &settings.database.url,
            max_connections: settings.database.max_connections,
            wait: Duration::from_millis(settings.database.busy_timeout_ms),
        })
        .await
        .map_err(|source| DatabaseUnavailable {
            url: settings.database.shown_url(),
            source,
        })?;
        store.migrate().await.context("migrating the database")?;
        Ok(App {
            settings,
            store,
            dkim: std::sync::OnceLock::new(),
        })
    }

    pub fn message_factory(&self) -> anyhow::Result<MessageFactory> {
        let digest = &self.settings.digest;
        let renderer = Renderer::new(digest.style, digest.template_dir.as_deref())
            .context("loading the digest templates")?;
        Ok(MessageFactory::new(&self.settings.mail, renderer)?
            .with_max_message_bytes(digest.max_message_bytes)
            .with_links(&self.settings.links)
            .with_dkim(self.dkim_signer()?))
    }

    /// The DKIM signer the settings ask for, its key read and checked the first time it is
    /// asked for and kept for the life of the process: a key file changed or removed later
    /// changes nothing until a restart. Only the commands that sign need the key.
    pub fn dkim_signer(
        &self,
    ) -> Result<Option<std::sync::Arc<crate::dkim::DkimSigner>>, crate::config::ConfigError> {
        if let Some(signer) = self.dkim.get() {
            return Ok(signer.clone());
        }
        let signer = crate::dkim::DkimSigner::configured(&self.settings)?.map(std::sync::Arc::new);
        Ok(self.dkim.get_or_init(|| signer).clone())
    }

    pub async fn ingest(&self, kind: FeedKind, path: &Path) -> anyhow::Result<IngestSummary> {
        let rules = crate::ingest::FeedRules {
            watches_per_account: self.settings.watches.per_account,
        };
        Ok(ingest_path_with(&self.store, kind, path, &rules).await?)
    }

    /// The calendar with the recorded outages.
    pub async fn calendar(&self) -> anyhow::Result<Calendar> {
        let outages = self.store.outages().await?;
        Ok(Calendar::from_settings(&self.settings.calendar).with_outages(outages))
    }

    /// What a run needs to decide its court-date notices.
    pub async fn date_rules(&self) -> anyhow::Result<crate::hearings::DateRules> {
        Ok(crate::hearings::DateRules {
            calendar: self.calendar().await?,
            reminders: self.settings.reminders.clone(),
        })
    }

    /// One batch run now: skipped (and recorded) when the service is closed unless
    /// `options.ignore_windows`; refused with [`LeaseHeld`] while another run holds the lease.
    ///
    /// The future is declared `Send` here, where the compiler can prove it, so that the
    /// scheduler's jobs may spawn it.
    pub fn run_now<'a>(
        &'a self,
        options: &'a RunOptions,
    ) -> impl std::future::Future<Output = anyhow::Result<RunOutcome>> + Send + 'a {
        self.run_at(options, Utc::now())
    }

    /// As [`App::run_now`] at instant `now`. An attempt that fails or is stopped is recorded
    /// (see [`crate::batch::attempt`]); one refused the lease is no attempt at all.
    pub async fn run_at(
        &self,
        options: &RunOptions,
        now: chrono::DateTime<Utc>,
    ) -> anyhow::Result<RunOutcome> {
        let mut held_lease = false;
        let outcome = self.attempt_run(options, now, &mut held_lease).await;
        if let Err(error) = &outcome {
            if !options.dry_run && error.downcast_ref::<LeaseHeld>().is_none() {
                crate::batch::attempt::record_failure(&self.store, error, held_lease, Utc::now())
                    .await;
            }
        }
        outcome
    }

    /// The attempt; sets `held_lease` once it holds the batch lease.
    async fn attempt_run(
        &self,
        options: &RunOptions,
        now: chrono::DateTime<Utc>,
        held_lease: &mut bool,
    ) -> anyhow::Result<RunOutcome> {
        if !options.ignore_windows && !options.dry_run {
            let state = self.calendar().await?.state_at(now);
            if let Some(reason) = &state.closed {
                let run_id = self
                    .store
                    .record_skipped_run(now, &reason.describe())
                    .await?;
                tracing::info!(run_id, reason = %reason.describe(), "run skipped: service closed");
                return Ok(RunOutcome::Skipped { run_id, state });
            }
        }
        let factory = std::sync::Arc::new(self.message_factory()?);
        let date_rules = self.date_rules().await?;
        if options.dry_run {
            let report = run_batch(
                &self.store,
                &factory,
                &self.settings.batch,
                Some(&date_rules),
                Some(&self.settings.watches),
                options,
                now,
            )
            .await?;
            return Ok(RunOutcome::Ran(report));
        }
        let (holder, host, pid) = holder_name();
        let lease_for = chrono::Duration::seconds(self.settings.schedule.lease_secs as i64);
        let lease = LeaseInfo {
            holder: holder.clone(),
            host,
            pid,
            since: Utc::now(),
            expires_at: Utc::now() + lease_for,
        };
        // A lease still there when we take it was never released: its process died.
        let left_behind = self
            .store
            .batch_lease()
            .await
            .ok()
            .flatten()
            .filter(|l| l.holder != holder);
        if let Err(held) = self.store.acquire_batch_lease(&lease, Utc::now()).await? {
            // A holder on this host whose process is gone (killed) cannot finish its run:
            // take its lease over now rather than wait for it to expire.
            let gone = held.host == lease.host
                && !std::path::Path::new(&format!("/proc/{}", held.pid)).exists();
            if !gone {
                return Err(LeaseHeld(held).into());
            }
            tracing::warn!(holder = %held.holder, "taking over the lease of a process that is gone");
            self.store.release_batch_lease(&held.holder).await?;
            if let Err(held) = self.store.acquire_batch_lease(&lease, Utc::now()).await? {
                return Err(LeaseHeld(held).into());
            }
        }
        *held_lease = true;
        if let Some(left) = &left_behind {
            crate::batch::attempt::record_dead_holder(&self.store, left, Utc::now()).await;
        }
        #[cfg(feature = "test-hooks")]
        crate::hooks::process_pause("batch-lease", 0).await;
        // Keep the lease alive while the run goes on. The run's writes are fenced by the
        // holder's name, and a renewal refused (another holder, a lost session) stops the run
        // at its next commit.
        let lease = RunLease {
            holder: holder.clone(),
            lost: Arc::new(AtomicBool::new(false)),
        };
        let renewer = {
            let store = self.store.clone();
            let lease = lease.clone();
            let every = (lease_for / 3)
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(60));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match store
                        .renew_batch_lease(&lease.holder, Utc::now() + lease_for)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!("the batch lease could not be renewed: it is lost");
                            lease.lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // The next renewal may succeed; a takeover meanwhile fails the fence.
                        Err(e) => tracing::warn!(error = %e, "the batch lease was not renewed"),
                    }
                }
            })
        };
        let options = RunOptions {
            lease: Some(lease),
            ..options.clone()
        };
        let result = run_batch(
            &self.store,
            &factory,
            &self.settings.batch,
            Some(&date_rules),
            Some(&self.settings.watches),
            &options,
            now,
        )
        .await;
        renewer.abort();
        self.store.release_batch_lease(&holder).await?;
        Ok(RunOutcome::Ran(result?))
    }

    pub fn transport(&self) -> anyhow::Result<Transport> {
        Ok(Transport::from_settings(&self.settings)?)
    }

    /// Delivers everything due now (held while the service is closed, unless
    /// `ignore_windows` or `delivery.respect_windows = false`).
    pub async fn deliver(&self, ignore_windows: bool) -> anyhow::Result<DeliveryReport> {
        self.deliver_at(&SystemClock, ignore_windows).await
    }

    /// As [`App::deliver`], stopping between messages once `stop` is set (SIGTERM): sends in
    /// flight finish and are recorded, unsent claims are released.
    pub async fn deliver_until(
        &self,
        ignore_windows: bool,
        stop: &AtomicBool,
    ) -> anyhow::Result<DeliveryReport> {
        self.deliver_with(&SystemClock, ignore_windows, Some(stop))
            .await
    }

    /// Delivers everything due by `clock`'s time (tests move the clock instead of sleeping).
    pub async fn deliver_at(
        &self,
        clock: &dyn Clock,
        ignore_windows: bool,
    ) -> anyhow::Result<DeliveryReport> {
        self.deliver_with(clock, ignore_windows, None).await
    }

    async fn deliver_with(
        &self,
        clock: &dyn Clock,
        ignore_windows: bool,
        stop: Option<&AtomicBool>,
    ) -> anyhow::Result<DeliveryReport> {
        let report = self.delivery_pass(clock, ignore_windows, stop).await?;
        // A pass held by a closed window did its job too. An idle pass writes its success at
        // most once a minute, so an idle loop rarely takes the write lock.
        let changed = report != DeliveryReport::default() && report.held.is_none();
        if let Err(e) = self
            .store
            .record_job_success(
                Job::Deliver,
                clock.now(),
                changed,
                chrono::Duration::minutes(1),
            )
            .await
        {
            tracing::warn!(error = %e, "the delivery pass's success could not be recorded");
        }
        Ok(report)
    }

    async fn delivery_pass(
        &self,
        clock: &dyn Clock,
        ignore_windows: bool,
        stop: Option<&AtomicBool>,
    ) -> anyhow::Result<DeliveryReport> {
        if self.settings.delivery.respect_windows && !ignore_windows {
            let state = self.calendar().await?.state_at(clock.now());
            if let Some(reason) = state.closed {
                tracing::info!(reason = %reason.describe(), "delivery held: service closed");
                return Ok(DeliveryReport {
                    held: Some(reason.describe()),
                    ..DeliveryReport::default()
                });
            }
        }
        let transport = self.transport()?;
        let config = WorkerConfig::from(&self.settings);
        Ok(deliver_due(&self.store, &transport, &config, clock, stop).await?)
    }

    pub async fn status(&self) -> anyhow::Result<Status> {
        let health = crate::health::check(
            &self.store,
            &self.calendar().await?,
            &self.settings.alerts,
            Utc::now(),
        )
        .await?;
        // Enough runs that an hour of quiet ticks, folded into one line, still leaves the last
        // runs with work in view.
        let mut report = self.store.status(crate::status::RUNS_READ).await?;
        report.dates = self.store.date_counts(Utc::now()).await?;
        report.watches = self.store.watch_counts().await?;
        Ok(Status(report, self.settings.database.shown_url(), health))
    }
}
