//! Prometheus metrics. Every figure is read from the database at the moment it is asked for,
//! so a one-shot command's textfile carries the same totals as the daemon's `/metrics`, and a
//! restart never resets a counter. One code path renders both: [`gather`].

mod families;
pub mod server;
pub mod textfile;

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::calendar::Calendar;
use crate::store::watches::WatchStore;
use crate::store::{CalendarStore, DateStore, StatusStore, StoreError};

pub use families::render;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("reading the metrics from the database: {0}")]
    Store(#[from] StoreError),
}

/// The metrics at `now`, in the Prometheus text format.
pub async fn gather(app: &App, now: DateTime<Utc>) -> Result<String, MetricsError> {
    let mut snapshot = app.store.metrics_snapshot(now).await?;
    snapshot.dates = app.store.date_counts(now).await?;
    snapshot.watches = app.store.watch_counts().await?;
    let calendar =
        Calendar::from_settings(&app.settings.calendar).with_outages(app.store.outages().await?);
    Ok(render(&snapshot, calendar.state_at(now).is_open(), now))
}
