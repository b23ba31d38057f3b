//! The command line: [`args`] says what each command takes, [`handlers`] what it does,
//! [`presenters`] how its result is shown (a readable summary by default, JSON with `--json`).
//! Here each parsed command is sent to its handler and its handler's result to its presenter,
//! after `main` has prepared what the command [`Needs`].

pub mod args;
pub mod handlers;
pub mod presenters;

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::App;
use crate::config::Settings;

pub use args::{
    BenchAction, BounceAction, Cli, Command, OutageAction, OutboxAction, OutboxListArgs,
    RunNowArgs, RunsAction, RunsListArgs, SubscriptionsAction, SuppressionAction,
    UnsubscribesAction, WatchesAction,
};
pub use handlers::CommandError;
pub use presenters::describe_run;

pub use crate::exit::{EXIT_CONFIG, EXIT_LEASE_HELD};

/// What a command needs prepared before it runs; `main` prepares that much and no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: it reads no configuration and touches no database (`bounces parse`).
    Nothing,
    /// The settings and logging but no opened application, and the placeholder secrets will
    /// do: the demo opens its own application, the DNS record needs no database.
    Settings,
    /// The opened application, whose settings must carry secrets of their own.
    App,
}

impl Command {
    pub fn needs(&self) -> Needs {
        match self {
            Command::Bounces {
                action: BounceAction::Parse { .. },
            }
            | Command::Bench { .. } => Needs::Nothing,
            Command::Demo { .. } | Command::DkimRecord | Command::MigrateData { .. } => {
                Needs::Settings
            }
            _ => Needs::App,
        }
    }
}

/// Runs a command that [`Needs::Nothing`].
pub fn execute_offline(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Bounces {
            action: BounceAction::Parse { files, json },
        } => parse_bounce_files(&files, json),
        Command::Bench {
            action:
                BenchAction::Generate {
                    scale,
                    seed,
                    now,
                    dir,
                    csv,
                    json,
                },
        } => {
            let generated = crate::bench::generate(
                &dir,
                crate::bench::Workload { scale, seed, csv },
                now.unwrap_or_else(chrono::Utc::now),
            )?;
            presenters::generated(&generated, json)
        }
        command => unreachable!("{command:?} needs more than nothing"),
    }
}

/// Runs a command that [`Needs::Settings`].
pub async fn execute_with_settings(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Demo { dir, seed, scale } => {
            crate::demo::run(&dir, crate::demo::DemoSize { seed, scale }, settings).await
        }
        Command::DkimRecord => crate::dkim::print_record(&settings),
        Command::MigrateData { from, to, json } => {
            let copied = handlers::migrate_data(&from, &to, &settings).await?;
            presenters::data_migrated(&copied, json)
        }
        command => unreachable!("{command:?} needs an opened application"),
    }
}

/// Runs a command against an opened application: the long-running ones until a signal stops
/// them, the others once. The commands that timers run leave the metrics in
/// `metrics.textfile` afterwards, whether or not their work succeeded.
pub async fn execute(app: Arc<App>, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => crate::http::serve_until_signalled(app).await,
        // A DKIM key that cannot be used stops the daemon at start, not its first run.
        Command::Daemon => match app.dkim_signer() {
            Ok(_) => crate::scheduler::run_daemon(app, crate::scheduler::stop_on_signals()).await,
            Err(e) => Err(e.into()),
        },
        command => {
            let leaves_metrics = matches!(
                command,
                Command::RunNow(_)
                    | Command::Deliver { .. }
                    | Command::Bounces {
                        action: BounceAction::Ingest { .. }
                    }
            );
            let result = run_once(&app, command).await;
            if leaves_metrics {
                crate::metrics::textfile::refresh(&app).await;
            }
            result
        }
    }
}

/// `bounces parse`: what each mail says; needs no database, so it runs before one is opened.
pub fn parse_bounce_files(files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    presenters::parsed_bounces(handlers::parse_bounce_files(files), json)
}

async fn run_once(app: &App, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate => presenters::migrated(),
        Command::Ingest { kind, file } => {
            presenters::ingested(&file, kind, &handlers::ingest(app, kind, &file).await?)
        }
        Command::RunNow(args) => {
            let outcome = presenters::with_spinner("batch run", handlers::run_now(app, &args));
            presenters::run_outcome(&outcome.await?, args.json)
        }
        Command::Subscriptions {
            action: SubscriptionsAction::Export { since, output },
        } => {
            let exported = handlers::export_stops(app, since.as_deref(), output.as_deref()).await?;
            presenters::exported_stops(&exported, output.is_some())
        }
        Command::Unsubscribes { action } => match action {
            UnsubscribesAction::Ingest { path, json } => presenters::ingested_unsubscribes(
                &handlers::ingest_unsubscribes(app, &path).await?,
                json,
            ),
            UnsubscribesAction::List { since, json } => presenters::unsubscribes(
                &handlers::unsubscribes(app, since.as_deref()).await?,
                json,
            ),
        },
        Command::Calendar {
            at,
            next_runs,
            json,
        } => {
            let at = at.unwrap_or_else(chrono::Utc::now);
            presenters::calendar(&handlers::calendar(app, at, next_runs).await?, json)
        }
        Command::Outages { action } => {
            let outages = handlers::Outages::open(app).await?;
            match action {
                OutageAction::Add { from, to, reason } => {
                    presenters::outage_recorded(outages.add(&from, &to, reason).await?)
                }
                OutageAction::List { json } => {
                    presenters::outages(&outages.list().await?, outages.zone(), json)
                }
                OutageAction::Remove { id } => {
                    outages.remove(id).await?;
                    presenters::outage_removed(id)
                }
                OutageAction::Import { file } => {
                    presenters::outages_imported(&file, outages.import(&file).await?)
                }
            }
        }
        Command::Deliver {
            json,
            ignore_windows,
        } => {
            let report = handlers::deliver(app, ignore_windows).await?;
            presenters::delivered(&report, json, || handlers::transport_name(app))
        }
        Command::Outbox { action, list } => match action.unwrap_or(OutboxAction::List(list)) {
            OutboxAction::List(args) => {
                presenters::outbox_list(&handlers::outbox_list(app, &args).await?, args.json)
            }
            OutboxAction::Show { id, raw: true, .. } => {
                presenters::raw_message(&handlers::outbox_raw(app, id).await?)
            }
            OutboxAction::Show { id, json, .. } => {
                presenters::outbox_entry(&handlers::outbox_entry(app, id).await?, json)
            }
            OutboxAction::Retry { id, all_dead } => {
                presenters::requeued(handlers::requeue_dead(app, id, all_dead).await?)
            }
        },
        Command::Suppressions { action, json } => match action {
            Some(SuppressionAction::Remove { email }) => {
                handlers::unsuppress(app, &email).await?;
                presenters::unsuppressed(&email)
            }
            None => presenters::suppressions(&handlers::suppressions(app).await?, json),
        },
        Command::Bounces { action } => match action {
            BounceAction::Parse { files, json } => parse_bounce_files(&files, json),
            BounceAction::Ingest { path, json } => {
                presenters::ingested_bounces(&handlers::ingest_bounces(app, &path).await?, json)
            }
            BounceAction::Unmatched { limit, json } => {
                presenters::unmatched_bounces(&handlers::unmatched_bounces(app, limit).await?, json)
            }
        },
        Command::Runs { action, list } => match action.unwrap_or(RunsAction::List(list)) {
            RunsAction::List(args) => crate::runs::list(app, args.limit, args.json).await,
            RunsAction::Show { id, json } => crate::runs::show(app, id, json).await,
        },
        Command::Status { json } => presenters::status(&handlers::status(app).await?, json),
        Command::Watches { action, json } => match action {
            None => presenters::watches(&handlers::watches(app).await?, json),
            Some(WatchesAction::Test {
                name,
                kind,
                nicknames,
                circuits,
                case_types,
                roles,
                limit,
                json,
            }) => {
                let watch =
                    handlers::trial_watch(name, kind, nicknames, circuits, case_types, roles);
                let trial = handlers::watch_trial(app, &watch, limit as usize).await?;
                presenters::watch_trial(&trial, json)
            }
        },
        Command::Prune {
            older_than,
            dry_run,
            json,
        } => presenters::pruned(&handlers::prune(app, older_than, dry_run).await?, json),
        Command::Report { from, to, html } => {
            let data = handlers::report(app, from.as_deref(), to.as_deref(), &html).await?;
            presenters::reported(&html, &data)
        }
        Command::Preview(args) => crate::preview::execute(app, &args).await,
        Command::Daemon | Command::Serve => unreachable!("long-running: see `execute`"),
        Command::Demo { .. }
        | Command::DkimRecord
        | Command::MigrateData { .. }
        | Command::Bench { .. } => {
            unreachable!("needs no opened application: see `execute_with_settings`")
        }
    }
}
