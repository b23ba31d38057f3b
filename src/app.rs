//! The application assembled from settings: an open, migrated store plus the pieces each
//! command needs. The CLI, the demo and the integration tests all go through it.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use crate::batch::{run_batch, MessageFactory, Renderer, RunOptions, RunReport};
use crate::config::Settings;
use crate::delivery::{deliver_due, Clock, DeliveryReport, SystemClock, Transport, WorkerConfig};
use crate::ingest::{ingest_path, FeedKind, IngestSummary};
use crate::status::Status;
use crate::store::{SqliteStore, Store};

pub struct App {
    pub settings: Settings,
    pub store: SqliteStore,
}

impl App {
    /// Opens the configured database, creating and migrating it as needed.
    pub async fn open(settings: Settings) -> anyhow::Result<App> {
        let store = SqliteStore::connect(
            &settings.database.url,
            settings.database.max_connections,
            Duration::from_millis(settings.database.busy_timeout_ms),
        )
        .await
        .with_context(|| format!("opening database {}", settings.database.url))?;
        store.migrate().await.context("migrating the database")?;
        Ok(App { settings, store })
    }

    pub fn message_factory(&self) -> anyhow::Result<MessageFactory> {
        let digest = &self.settings.digest;
        let renderer = Renderer::new(digest.style, digest.template_dir.as_deref())
            .context("loading the digest templates")?;
        Ok(MessageFactory::new(&self.settings.mail, renderer)?)
    }

    pub async fn ingest(&self, kind: FeedKind, path: &Path) -> anyhow::Result<IngestSummary> {
        Ok(ingest_path(&self.store, kind, path).await?)
    }

    pub async fn run_now(&self, options: &RunOptions) -> anyhow::Result<RunReport> {
        let factory = self.message_factory()?;
        Ok(run_batch(
            &self.store,
            &factory,
            &self.settings.batch,
            options,
            Utc::now(),
        )
        .await?)
    }

    pub fn transport(&self) -> anyhow::Result<Transport> {
        Ok(Transport::from_settings(&self.settings)?)
    }

    /// Delivers everything due now.
    pub async fn deliver(&self) -> anyhow::Result<DeliveryReport> {
        self.deliver_at(&SystemClock).await
    }

    /// Delivers everything due by `clock`'s time (tests move the clock instead of sleeping).
    pub async fn deliver_at(&self, clock: &dyn Clock) -> anyhow::Result<DeliveryReport> {
        let transport = self.transport()?;
        let config = WorkerConfig::from(&self.settings);
        Ok(deliver_due(&self.store, &transport, &config, clock).await?)
    }

    pub async fn status(&self) -> anyhow::Result<Status> {
        Ok(Status(self.store.status(5).await?))
    }
}
