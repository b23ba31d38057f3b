//! What each command does: the calls into the application, its store and its stages, and the
//! value each command ends with for [`presenters`](super::presenters) to show. Nothing here
//! writes to standard output.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::args::{OutboxListArgs, RunNowArgs};
use super::presenters::outage_time;
use crate::app::{App, RunOutcome};
use crate::batch::RunOptions;
use crate::bounce::{BounceIngestReport, ParsedBounce};
use crate::calendar::{Calendar, WindowState};
use crate::delivery::DeliveryReport;
use crate::ingest::{FeedKind, IngestSummary};
use crate::model::{NewOutage, Outage};
use crate::prune::PruneReport;
use crate::report::ReportData;
use crate::status::Status;
use crate::store::{
    AttemptRow, BounceStore, CalendarStore, OutboxEntry, OutboxStore, Suppression,
    SuppressionStore, UnmatchedBounce, UnsubscribeRecord, UnsubscribeStore,
};
use crate::unsubscribe::export::Exported;
use crate::unsubscribe::mail::MailReport;

/// A command refused: what was asked for does not exist or cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// `migrate-data` was given a database it cannot copy from or to.
    #[error("{0}")]
    Refused(String),
    #[error("no message {0} in the outbox")]
    NoMessage(i64),
    #[error(
        "message {0} has no stored body: `prune` removed it after retention.days \
         (`outbox show {0}` still has its headers and attempts)"
    )]
    BodyPruned(i64),
    #[error(
        "message {0} cannot be requeued (only dead messages whose body has not been pruned can)"
    )]
    NotRequeued(i64),
    #[error("{0} is not suppressed")]
    NotSuppressed(String),
    #[error("`{0}` is neither RFC 3339 nor `YYYY-MM-DD HH:MM`")]
    NotAnInstant(String),
    #[error("overlaps outage {id} ({starts} to {ends}: {reason}); nothing was recorded")]
    OverlapsOutage {
        id: i64,
        starts: String,
        ends: String,
        reason: String,
    },
    #[error("no outage {0}")]
    NoOutage(i64),
}

/// `ingest`: one feed file applied.
pub async fn ingest(app: &App, kind: FeedKind, file: &Path) -> anyhow::Result<IngestSummary> {
    app.ingest(kind, file).await
}

/// `run-now`: one batch run, stopped cleanly by SIGTERM.
pub async fn run_now(app: &App, args: &RunNowArgs) -> anyhow::Result<RunOutcome> {
    let options = RunOptions {
        dry_run: args.dry_run,
        ignore_windows: args.ignore_windows,
        stop: Some(crate::scheduler::stop_on_signals()),
        ..RunOptions::default()
    };
    app.run_now(&options).await
}

/// `deliver`: one delivery pass over the queue, stopped between messages by SIGTERM.
pub async fn deliver(app: &App, ignore_windows: bool) -> anyhow::Result<DeliveryReport> {
    let stop = crate::scheduler::stop_on_signals();
    app.deliver_until(ignore_windows, &stop).await
}

/// The transport that delivery uses, as its summary names it.
pub fn transport_name(app: &App) -> anyhow::Result<String> {
    Ok(app.transport()?.describe())
}

/// `outbox`: the messages in a state, newest first.
pub async fn outbox_list(app: &App, args: &OutboxListArgs) -> anyhow::Result<Vec<OutboxEntry>> {
    Ok(app
        .store
        .outbox_list(args.state.as_deref(), args.limit)
        .await?)
}

/// `outbox show --raw`: the stored message exactly as it is sent.
pub async fn outbox_raw(app: &App, id: i64) -> anyhow::Result<Vec<u8>> {
    match app.store.outbox_raw(id).await? {
        None => Err(CommandError::NoMessage(id).into()),
        Some(None) => Err(CommandError::BodyPruned(id).into()),
        Some(Some(bytes)) => Ok(bytes),
    }
}

/// `outbox show`: one message with its attempts.
pub async fn outbox_entry(app: &App, id: i64) -> anyhow::Result<(OutboxEntry, Vec<AttemptRow>)> {
    app.store
        .outbox_entry(id)
        .await?
        .ok_or_else(|| CommandError::NoMessage(id).into())
}

/// `outbox retry`: requeues one dead message (`id`) or all of them; how many were requeued.
pub async fn requeue_dead(app: &App, id: Option<i64>, all_dead: bool) -> anyhow::Result<u64> {
    let target = if all_dead { None } else { id };
    let n = app.store.requeue_dead(target, Utc::now()).await?;
    match (target, n) {
        (Some(id), 0) => Err(CommandError::NotRequeued(id).into()),
        _ => Ok(n),
    }
}

/// `suppressions`: every suppressed address.
pub async fn suppressions(app: &App) -> anyhow::Result<Vec<Suppression>> {
    Ok(app.store.suppressions().await?)
}

/// `suppressions remove`: lifts the suppression of `email`, and logs that it did.
pub async fn unsuppress(app: &App, email: &str) -> anyhow::Result<()> {
    if !app.store.unsuppress(email).await? {
        return Err(CommandError::NotSuppressed(email.to_string()).into());
    }
    tracing::info!(
        address = %crate::mask::Address(email),
        reason = "operator request",
        "suppression lifted"
    );
    Ok(())
}

/// `bounces parse`: each file with what it says, read one at a time as the caller asks, so
/// that what earlier files said is out before a later file fails.
pub fn parse_bounce_files(
    files: &[PathBuf],
) -> impl Iterator<Item = anyhow::Result<(&Path, ParsedBounce)>> {
    files.iter().map(|file| {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        Ok((file.as_path(), crate::bounce::parse_bounce(&raw)))
    })
}

/// `bounces ingest`: the bounces in a message file, an mbox or a Maildir recorded, matched and
/// acted on.
pub async fn ingest_bounces(app: &App, path: &Path) -> anyhow::Result<BounceIngestReport> {
    let mails = crate::bounce::read_mails(path)?;
    let policy = crate::bounce::SuppressionPolicy::from(&app.settings.bounces);
    let return_paths = crate::bounce::ReturnPaths::new(&app.settings.mail);
    Ok(crate::bounce::ingest_mails(&app.store, &return_paths, &policy, mails, Utc::now()).await?)
}

/// `bounces unmatched`: stored bounce mails that matched none of our messages.
pub async fn unmatched_bounces(app: &App, limit: u32) -> anyhow::Result<Vec<UnmatchedBounce>> {
    Ok(app.store.unmatched_bounces(limit).await?)
}

/// An instant from an operator: RFC 3339, or a local `YYYY-MM-DD HH:MM` in the calendar's zone.
fn operator_instant(s: &str, calendar: &Calendar) -> anyhow::Result<DateTime<Utc>> {
    calendar
        .parse_instant(s)
        .ok_or_else(|| CommandError::NotAnInstant(s.to_string()).into())
}

/// An optional `--since` as operators write it (see [`operator_instant`]).
async fn since_instant(app: &App, since: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    match since {
        Some(s) => Ok(Some(operator_instant(s, &app.calendar().await?)?)),
        None => Ok(None),
    }
}

/// `subscriptions export`: the stops as a subscriptions feed, written to `output` if given.
pub async fn export_stops(
    app: &App,
    since: Option<&str>,
    output: Option<&Path>,
) -> anyhow::Result<Exported> {
    let since = since_instant(app, since).await?;
    let exported = crate::unsubscribe::export::stops_feed(&app.store, since).await?;
    if let Some(path) = output {
        crate::atomic_file::replace(path, &exported.feed)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(exported)
}

/// `unsubscribes ingest`: the unsubscribe mails honoured or refused.
pub async fn ingest_unsubscribes(app: &App, path: &Path) -> anyhow::Result<MailReport> {
    let mails = crate::mailbox::read_mails(path)?;
    let keys = crate::unsubscribe::token::TokenKeys::from_settings(&app.settings.mail);
    Ok(crate::unsubscribe::mail::ingest_mails(&app.store, &keys, mails, Utc::now()).await?)
}

/// `unsubscribes list`: the stops recipients asked for, oldest first.
pub async fn unsubscribes(
    app: &App,
    since: Option<&str>,
) -> anyhow::Result<Vec<UnsubscribeRecord>> {
    Ok(app
        .store
        .unsubscribes_since(since_instant(app, since).await?)
        .await?)
}

/// What `calendar` answers: the service's state at an instant, in the calendar's zone, and the
/// next instants at which scheduled runs will do work.
pub struct CalendarAnswer {
    pub at: DateTime<Utc>,
    pub zone: Tz,
    pub state: WindowState,
    pub next_runs: Vec<DateTime<Utc>>,
}

/// `calendar`: the state at `at` and the next `next_runs` working runs.
pub async fn calendar(
    app: &App,
    at: DateTime<Utc>,
    next_runs: usize,
) -> anyhow::Result<CalendarAnswer> {
    let calendar = app.calendar().await?;
    let state = calendar.state_at(at);
    let zone = calendar.zone();
    let next_runs = if next_runs > 0 {
        let cadence = app.settings.schedule.batch.cron();
        crate::scheduler::next_working_runs(cadence, &calendar, at, next_runs)
    } else {
        Vec::new()
    };
    Ok(CalendarAnswer {
        at,
        zone,
        state,
        next_runs,
    })
}

/// The `outages` commands, on the calendar they change (read before any of them runs).
pub struct Outages<'a> {
    app: &'a App,
    calendar: Calendar,
}

impl<'a> Outages<'a> {
    pub async fn open(app: &'a App) -> anyhow::Result<Self> {
        let calendar = app.calendar().await?;
        Ok(Self { app, calendar })
    }

    /// The zone outages are shown in.
    pub fn zone(&self) -> Tz {
        self.calendar.zone()
    }

    /// `outages add`: the id of the outage recorded.
    pub async fn add(&self, from: &str, to: &str, reason: String) -> anyhow::Result<i64> {
        let outage = NewOutage {
            starts_at: operator_instant(from, &self.calendar)?,
            ends_at: operator_instant(to, &self.calendar)?,
            reason,
        };
        Ok(self.record(vec![outage]).await?[0])
    }

    /// `outages list`: every recorded outage.
    pub async fn list(&self) -> anyhow::Result<Vec<Outage>> {
        Ok(self.app.store.outages().await?)
    }

    /// `outages remove`.
    pub async fn remove(&self, id: i64) -> anyhow::Result<()> {
        if !self.app.store.remove_outage(id).await? {
            return Err(CommandError::NoOutage(id).into());
        }
        Ok(())
    }

    /// `outages import`: how many outages of the CSV file were recorded (all or none).
    pub async fn import(&self, file: &Path) -> anyhow::Result<usize> {
        let outages = crate::calendar::read_outage_csv(file, &self.calendar)?;
        Ok(self.record(outages).await?.len())
    }

    /// Records all of `outages` or none, refusing any that overlap a recorded one.
    async fn record(&self, outages: Vec<NewOutage>) -> anyhow::Result<Vec<i64>> {
        let validated = crate::calendar::validate_outages(&outages)?;
        match self.app.store.add_outages(&validated, Utc::now()).await? {
            Ok(ids) => Ok(ids),
            Err(clash) => {
                let zone = self.zone();
                Err(CommandError::OverlapsOutage {
                    id: clash.outage_id,
                    starts: outage_time(clash.starts_at, zone),
                    ends: outage_time(clash.ends_at, zone),
                    reason: clash.reason,
                }
                .into())
            }
        }
    }
}

/// `watches`: every watch with its counts, and the totals.
pub async fn watches(app: &App) -> anyhow::Result<WatchList> {
    use crate::store::watches::WatchStore;
    Ok(WatchList {
        counts: app.store.watch_counts().await?,
        watches: app.store.watch_summaries().await?,
    })
}

/// What `watches` lists.
#[derive(Debug, serde::Serialize)]
pub struct WatchList {
    pub counts: crate::store::watches::WatchCounts,
    pub watches: Vec<crate::store::watches::WatchSummary>,
}

/// The watch `watches test` tries: as the feed would give it, running since ever.
pub fn trial_watch(
    name: String,
    kind: super::args::WatchKindArg,
    nicknames: bool,
    circuits: Vec<String>,
    case_types: Vec<String>,
    roles: Vec<String>,
) -> crate::model::Watch {
    crate::model::Watch {
        watch_id: String::new(),
        account_id: String::new(),
        name,
        kind: match kind {
            super::args::WatchKindArg::Person => crate::model::PartyKind::Person,
            super::args::WatchKindArg::Organisation => crate::model::PartyKind::Organisation,
        },
        circuits,
        case_types,
        roles,
        nicknames,
        auto_track: false,
        started_at: chrono::DateTime::<Utc>::MIN_UTC,
        stopped_at: None,
    }
}

/// `watches test NAME`: what the name would match among the stored cases; reads only.
pub async fn watch_trial(
    app: &App,
    watch: &crate::model::Watch,
    limit: usize,
) -> anyhow::Result<crate::watches::trial::Trial> {
    use crate::store::watches::WatchStore;
    // The name first: a name the rules cannot use is refused before the cases are read.
    crate::watches::NamePattern::new(watch.kind, &watch.name, watch.nicknames)
        .map_err(|e| CommandError::Refused(format!("`{}`: {e}", watch.name)))?;
    let parties = app.store.parties_on_cases().await?;
    Ok(crate::watches::trial::run_trial(watch, &parties, limit)?)
}

/// `status`: the watermark, the queue, the window, the lateness, the alerts and the last runs.
pub async fn status(app: &App) -> anyhow::Result<Status> {
    app.status().await
}

/// `prune`: what is older than `older_than` days (default `retention.days`) removed, or, dry,
/// counted.
pub async fn prune(
    app: &App,
    older_than: Option<u32>,
    dry_run: bool,
) -> anyhow::Result<PruneReport> {
    let days = older_than.unwrap_or(app.settings.retention.days);
    crate::prune::prune(app, days, Utc::now(), dry_run).await
}

/// `report`: the HTML page about a period written; what it shows.
pub async fn report(
    app: &App,
    from: Option<&str>,
    to: Option<&str>,
    html: &Path,
) -> anyhow::Result<ReportData> {
    crate::report::write_report(app, from, to, html, Utc::now()).await
}

/// `migrate-data`: copies the SQLite database `from` into the empty PostgreSQL database `to`,
/// with a progress bar per table on a terminal.
pub async fn migrate_data(
    from: &str,
    to: &str,
    settings: &crate::config::Settings,
) -> anyhow::Result<Vec<crate::store::copy::TableCopied>> {
    use crate::store::{sqlite::SchemaState, PgStore, Schema, SqliteStore};
    let Some(path) = from.strip_prefix("sqlite://") else {
        return Err(CommandError::Refused(format!(
            "--from `{from}` is not a SQLite database URL (sqlite://PATH)"
        ))
        .into());
    };
    if !crate::config::is_postgres_url(to) {
        return Err(CommandError::Refused(
            "--to is not a PostgreSQL database URL (postgres://USER@HOST:PORT/DATABASE)".into(),
        )
        .into());
    }
    // Opening a SQLite URL creates a missing file: a mistyped path would copy an empty one.
    if !Path::new(path.split('?').next().unwrap_or(path)).is_file() {
        return Err(CommandError::Refused(format!("--from: no SQLite database at {path}")).into());
    }
    let wait = std::time::Duration::from_millis(settings.database.busy_timeout_ms);
    // The source is only read: a file that is not this version's database is refused, never
    // upgraded or turned into one.
    let source = SqliteStore::connect_read_only(from, wait)
        .await
        .with_context(|| format!("opening {from}"))?;
    let refusal = match source
        .schema_state()
        .await
        .with_context(|| format!("reading {from}"))?
    {
        SchemaState::Current => None,
        SchemaState::Older => Some(format!(
            "--from: the schema of {path} is an older version's: run this version's \
             `mcap-notify status` on it once (which upgrades it), then copy"
        )),
        SchemaState::Newer => Some(format!(
            "--from: {path} was made by a newer mcap-notify than this one: copy it with \
             that version's `migrate-data`"
        )),
        SchemaState::Foreign => Some(format!("--from: {path} is not an mcap-notify database")),
    };
    if let Some(refusal) = refusal {
        return Err(CommandError::Refused(refusal).into());
    }
    let target =
        PgStore::connect(to, 2, wait)
            .await
            .map_err(|source| crate::app::DatabaseUnavailable {
                url: crate::config::DatabaseSettings {
                    url: to.to_string(),
                    ..settings.database.clone()
                }
                .shown_url(),
                source,
            })?;
    target
        .migrate()
        .await
        .context("migrating the PostgreSQL database")?;
    let bar = indicatif::ProgressBar::new_spinner();
    let copied = crate::store::copy::copy_sqlite_to_postgres(&source, &target, |table, rows| {
        bar.set_message(format!("copying {table}: {rows} rows"));
        bar.tick();
    })
    .await;
    bar.finish_and_clear();
    Ok(copied?)
}
