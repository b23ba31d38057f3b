//! The command line: what each command takes, and how its result is shown (a readable summary
//! by default, JSON with `--json`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::batch::{RunOptions, RunReport};
use crate::ingest::FeedKind;

pub use crate::exit::{EXIT_CONFIG, EXIT_LEASE_HELD};
use crate::{out, outln};

#[derive(Debug, Parser)]
#[command(
    name = "mcap-notify",
    version,
    about = "Turns court docket entries into one e-mail digest per tracking account",
    long_about = "Turns court docket entries into one e-mail digest per tracking account.\n\n\
        Feeds of courts, cases, docket entries, accounts and subscriptions are ingested from \
        JSON Lines files; `run-now` takes the entries that are new since the last run, groups \
        them into one digest per account and queues the messages; `deliver` sends the queue.\n\n\
        Configuration: built-in defaults, then the TOML file given by --config (or \
        ./mcap-notify.toml if present), then MCAP_NOTIFY__SECTION__KEY environment variables.\n\n\
        Exit codes: 0 success (a run skipped because the service is closed is a success), \
        1 failure, 2 bad command line, 75 another batch run holds the lease, 78 bad configuration \
        (or a database that cannot be opened)."
)]
pub struct Cli {
    /// A TOML configuration file (default: ./mcap-notify.toml if it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the database schema (every command does this itself too).
    Migrate,
    /// Load a JSON Lines feed; one bad line rejects the whole file and changes nothing.
    Ingest {
        /// What the file holds.
        kind: FeedKind,
        /// The file, or - for standard input.
        file: PathBuf,
    },
    /// Do one batch run now: new entries to queued digests.
    RunNow(RunNowArgs),
    /// Run continuously: the batch on its cadence, delivery in a loop; stops cleanly on SIGTERM.
    Daemon,
    /// Is the service open now (or at --at); if not, why and when does it reopen.
    Calendar {
        /// The instant to ask about (RFC 3339), default now.
        #[arg(long, value_parser = parse_instant)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// Also list the next N instants at which scheduled runs will do work.
        #[arg(long, default_value_t = 0)]
        next_runs: usize,
        /// Print as JSON: {"open", "reason", "reopens_at", ...}.
        #[arg(long)]
        json: bool,
    },
    /// Record, list, remove or import outages (closures beyond the weekly window).
    Outages {
        #[command(subcommand)]
        action: OutageAction,
    },
    /// Send every queued message through the configured transport.
    Deliver {
        /// Send even when the service window is closed.
        #[arg(long)]
        ignore_windows: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the outbox by state, show one message with its attempts, or requeue dead letters.
    #[command(args_conflicts_with_subcommands = true)]
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
        #[command(flatten)]
        list: OutboxListArgs,
    },
    /// Read bounce mails: parse them (no database), ingest them, list unmatched ones.
    Bounces {
        #[command(subcommand)]
        action: BounceAction,
    },
    /// List suppressed addresses with the reason and evidence, or lift one.
    #[command(args_conflicts_with_subcommands = true)]
    Suppressions {
        #[command(subcommand)]
        action: Option<SuppressionAction>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the batch runs, newest first, with how each ended; or show one run in full.
    #[command(args_conflicts_with_subcommands = true)]
    Runs {
        #[command(subcommand)]
        action: Option<RunsAction>,
        #[command(flatten)]
        list: RunsListArgs,
    },
    /// Show the watermark, the queue, the service window, how late the work is, the alert
    /// conditions that hold now, and the last runs.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a self-contained HTML page about a period: runs on a timeline over the closed
    /// periods, digests and messages per hour, latency, bounces, dead letters, suppressions.
    Report {
        /// Start: a date (YYYY-MM-DD, from its first instant in the calendar's zone) or an
        /// RFC 3339 instant [default: seven days before --to].
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// End: a date (the whole day is included) or an RFC 3339 instant [default: now].
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// The HTML file to write (replaced atomically).
        #[arg(long, value_name = "FILE")]
        html: PathBuf,
    },
    /// Remove message bodies, delivery attempts and bounce mail text past retention, keeping
    /// the ledger, the runs and each message's id, state and times.
    Prune {
        /// Remove what finished (or arrived) more than this many days ago [default:
        /// retention.days].
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        older_than: Option<u32>,
        /// Count what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the unsubscribe links of the digests on http.listen until SIGTERM: a GET shows
    /// what a link stops and changes nothing; a POST of List-Unsubscribe=One-Click stops it.
    Serve,
    /// Write the stops recipients asked for as a subscriptions feed for the system of record.
    Subscriptions {
        #[command(subcommand)]
        action: SubscriptionsAction,
    },
    /// Honour unsubscribe mails (the List-Unsubscribe mailto), or list the stops recipients
    /// asked for with how and on what evidence.
    Unsubscribes {
        #[command(subcommand)]
        action: UnsubscribesAction,
    },
    /// Print the DNS TXT record that publishes the DKIM key of `dkim.private_key_file`
    /// (receivers need it before signed mail goes out); exits 78 when DKIM is not configured.
    DkimRecord,
    // Its help is on `PreviewArgs`, beside the command.
    Preview(crate::preview::PreviewArgs),
    /// Build a realistic demo in its own directory, run the batch and deliver to files.
    Demo {
        /// Where the demo's database, feeds and messages go.
        #[arg(long, default_value = "mcap-demo")]
        dir: PathBuf,
        /// Seed for the generated data (the same seed gives the same data).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Multiply the number of cases and accounts (1 to 250), for a heavier run.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=250))]
        scale: u32,
    },
}

#[derive(Debug, Args)]
pub struct OutboxListArgs {
    /// Only messages in this state.
    #[arg(long, value_parser = ["queued", "sent", "dead", "cancelled"])]
    pub state: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// List messages (the default).
    List(OutboxListArgs),
    /// Show one message with its attempt history.
    Show {
        /// The message's outbox id, as `outbox` lists it.
        id: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
        /// Print the stored message itself (headers and body, exactly as it is sent).
        #[arg(long, conflicts_with = "json")]
        raw: bool,
    },
    /// Put dead messages back in the queue with a fresh retry lifetime.
    Retry {
        /// The message to requeue.
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        id: Option<i64>,
        /// Requeue every dead message.
        #[arg(long)]
        all_dead: bool,
    },
}

#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// At most this many rows, newest first (a stretch of runs that found nothing new is one
    /// row).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// List runs (the default).
    List(RunsListArgs),
    /// Show one run: its stage times, counts, range, unfinished attempts and messages.
    Show {
        /// The run's id, as `runs` lists it (a folded row names its first and last).
        id: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutageAction {
    /// Record an outage.
    Add {
        /// Start: RFC 3339, or `YYYY-MM-DD HH:MM` in the calendar's zone.
        #[arg(long)]
        from: String,
        /// End, as --from.
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
    },
    /// List recorded outages.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an outage.
    Remove { id: i64 },
    /// Import a CSV file with columns start, end, reason (a header row is skipped); all rows
    /// are recorded or none.
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum BounceAction {
    /// Print what each mail says (recipients, status, action, verdict); touches no database.
    Parse {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a JSON array, one object per file.
        #[arg(long)]
        json: bool,
    },
    /// Record the bounces in a message file, an mbox or a Maildir (- for standard input),
    /// match them to our messages and suppress addresses as the policy says.
    Ingest {
        path: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List stored bounce mails that matched none of our messages.
    Unmatched {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscriptionsAction {
    /// Print the stops recipients asked for (one-click, the link's page, or mail) as
    /// subscriptions feed lines {"account_id", "case_number", "stopped_at"}, oldest first; the
    /// lines are what `ingest subscriptions` takes, and taking them back changes nothing.
    Export {
        /// Only stops at or after this instant (RFC 3339, or `YYYY-MM-DD HH:MM` in the
        /// calendar's zone); the summary on standard error says the latest one written, the
        /// --since of the next export.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Write to this file (replaced atomically) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UnsubscribesAction {
    /// Honour the unsubscribe mails in a message file, an mbox or a Maildir (- for standard
    /// input): a subject `unsubscribe TOKEN` with a good token stops what it names; every
    /// other mail is refused with the reason and changes nothing.
    Ingest {
        /// A message file, an mbox, a Maildir (its unseen mails, marked seen once handled), a
        /// folder of message files, or - for standard input.
        path: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the stops recipients asked for, oldest first, with source and evidence.
    List {
        /// Only stops at or after this instant (RFC 3339, or `YYYY-MM-DD HH:MM` in the
        /// calendar's zone).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuppressionAction {
    /// Lift the suppression of an address (once it has been fixed).
    Remove { email: String },
}

#[derive(Debug, Args)]
pub struct RunNowArgs {
    /// Render and report what would be queued, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run even when the service window is closed.
    #[arg(long)]
    pub ignore_windows: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A human summary of a run.
pub fn describe_run(report: &RunReport) -> String {
    let t = &report.totals;
    let d = &t.drops;
    let mut out = String::new();
    let head = match (report.dry_run, report.run_id, report.resumed) {
        (true, _, _) => "dry run (nothing written)".to_string(),
        (false, Some(id), true) => format!("run {id} (resumed after an interruption)"),
        (false, Some(id), false) => format!("run {id}"),
        (false, None, _) => "run".to_string(),
    };
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!("entries #{a}..#{b}"),
        _ => "no new entries".to_string(),
    };
    out.push_str(&format!("{head}: {range}\n"));
    out.push_str(&format!(
        "  scanned   {:>8} entries ({} notifiable; dropped: {} voided, {} confidential, {} excluded court, {} excluded case type)\n",
        report.entries_scanned, d.notifiable, d.voided, d.confidential, d.excluded_court, d.excluded_case_type
    ));
    out.push_str(&format!(
        "  matched   {:>8} (account, entry) pairs\n",
        t.pairs_matched
    ));
    out.push_str(&format!(
        "  skipped   {:>8} accounts ({} unverified, {} suppressed)\n",
        t.skipped_unverified + t.skipped_suppressed,
        t.skipped_unverified,
        t.skipped_suppressed
    ));
    let verb = if report.dry_run {
        "would queue"
    } else {
        "queued"
    };
    out.push_str(&format!("  {verb} {:>6} digests\n", t.digests_queued));
    let tm = &report.timings;
    out.push_str(&format!(
        "  time      snapshot {} ms, filter {} ms, match+render {} ms, commit {} ms\n",
        tm.snapshot_ms, tm.filter_ms, tm.match_render_ms, tm.commit_ms
    ));
    for p in &report.previews {
        out.push_str(&format!(
            "  -> {} <{}>: {} ({} cases, {} entries)\n",
            p.account_id, p.recipient, p.subject, p.cases, p.entries
        ));
    }
    out
}

/// Runs one command against an opened application. The commands that timers run leave the
/// metrics in `metrics.textfile` afterwards, whether or not their work succeeded.
pub async fn execute(app: &App, command: Command) -> anyhow::Result<()> {
    let leaves_metrics = matches!(
        command,
        Command::RunNow(_)
            | Command::Deliver { .. }
            | Command::Bounces {
                action: BounceAction::Ingest { .. }
            }
    );
    let result = run_command(app, command).await;
    if leaves_metrics {
        crate::metrics::textfile::refresh(app).await;
    }
    result
}

async fn run_command(app: &App, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate => outln!("database is up to date"),
        Command::Ingest { kind, file } => {
            let summary = app.ingest(kind, &file).await?;
            outln!(
                "{}: {} {kind} records ({} applied, {} unchanged)",
                file.display(),
                summary.records,
                summary.applied,
                summary.unchanged
            );
        }
        Command::RunNow(args) => {
            let options = RunOptions {
                dry_run: args.dry_run,
                ignore_windows: args.ignore_windows,
                stop: Some(crate::scheduler::stop_on_signals()),
            };
            let spinner = indicatif::ProgressBar::new_spinner().with_message("batch run");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let outcome = app.run_now(&options).await;
            spinner.finish_and_clear();
            match outcome? {
                crate::app::RunOutcome::Ran(report) if args.json => {
                    outln!("{}", serde_json::to_string_pretty(&report)?)
                }
                crate::app::RunOutcome::Ran(report) => out!("{}", describe_run(&report)),
                crate::app::RunOutcome::Skipped { run_id, state } => {
                    let reason = state
                        .closed
                        .as_ref()
                        .map(|c| c.describe())
                        .unwrap_or_default();
                    let reopens = state.reopens_at.map(|t| t.to_rfc3339());
                    if args.json {
                        let value = serde_json::json!({
                            "skipped": true, "run_id": run_id, "reason": reason, "reopens_at": reopens,
                        });
                        outln!("{}", serde_json::to_string_pretty(&value)?);
                    } else {
                        outln!(
                            "run {run_id} skipped: the service is closed ({reason}); it reopens {}",
                            state
                                .reopens_at
                                .map(local_time)
                                .unwrap_or_else(|| "not within a year".into())
                        );
                    }
                }
            }
        }
        Command::Daemon | Command::Serve => unreachable!("long-running: started by main"),
        Command::Subscriptions {
            action: SubscriptionsAction::Export { since, output },
        } => export_stops(app, since, output).await?,
        Command::Unsubscribes { action } => unsubscribes(app, action).await?,
        Command::Calendar {
            at,
            next_runs,
            json,
        } => calendar(app, at.unwrap_or_else(chrono::Utc::now), next_runs, json).await?,
        Command::Outages { action } => outages(app, action).await?,
        Command::Deliver {
            json,
            ignore_windows,
        } => {
            let stop = crate::scheduler::stop_on_signals();
            let report = app.deliver_until(ignore_windows, &stop).await?;
            if let Some(reason) = &report.held {
                if json {
                    outln!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    outln!("delivery held: the service is closed ({reason}); --ignore-windows sends anyway");
                }
                return Ok(());
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                outln!(
                    "delivery via {}: {} sent, {} deferred, {} policy-blocked, {} bounced, {} dead (retries expired), {} cancelled, {} withheld; {} addresses suppressed",
                    app.transport()?.describe(),
                    report.sent,
                    report.deferred,
                    report.policy_blocked,
                    report.bounced,
                    report.expired,
                    report.cancelled,
                    report.withheld,
                    report.suppressed
                );
                // This summary is what a timer's journal keeps: addresses masked as in the
                // logs; `outbox show ID` has them in full.
                for (id, to, error) in &report.failures {
                    outln!(
                        "  message {id} to {}: {}",
                        crate::mask::address(to),
                        crate::mask::text_about(error, to)
                    );
                }
            }
        }
        Command::Outbox { action, list } => {
            outbox(app, action.unwrap_or(OutboxAction::List(list))).await?
        }
        Command::Suppressions { action, json } => suppressions(app, action, json).await?,
        Command::Bounces { action } => bounces(app, action).await?,
        Command::Runs { action, list } => match action.unwrap_or(RunsAction::List(list)) {
            RunsAction::List(args) => crate::runs::list(app, args.limit, args.json).await?,
            RunsAction::Show { id, json } => crate::runs::show(app, id, json).await?,
        },
        Command::Status { json } => {
            let status = app.status().await?;
            if json {
                outln!("{}", status.to_json());
            } else {
                out!("{status}");
            }
        }
        Command::Prune {
            older_than,
            dry_run,
            json,
        } => {
            let days = older_than.unwrap_or(app.settings.retention.days);
            let report = crate::prune::prune(app, days, chrono::Utc::now(), dry_run).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let c = &report.counts;
                outln!(
                    "{} from before {}: {} message bodies, {} delivery attempts, {} bounce mail bodies, {} unsubscribe link records",
                    if dry_run { "would prune" } else { "pruned" },
                    local_time(report.cutoff),
                    c.message_bodies,
                    c.delivery_attempts,
                    c.bounce_mail_bodies,
                    c.unsubscribe_scopes
                );
            }
        }
        Command::Report { from, to, html } => {
            let data = crate::report::write_report(
                app,
                from.as_deref(),
                to.as_deref(),
                &html,
                chrono::Utc::now(),
            )
            .await?;
            let h = &data.headline;
            outln!(
                "{}: {} to {}: {} runs done, {} skipped, {} failed; {} digests queued, {} messages sent",
                html.display(),
                local_time(data.period.from),
                local_time(data.period.to),
                h.runs_done,
                h.runs_skipped,
                h.runs_failed,
                h.digests_queued,
                h.messages_sent
            );
        }
        Command::Preview(args) => crate::preview::execute(app, &args).await?,
        Command::Demo { .. } => unreachable!("the demo opens its own application"),
        Command::DkimRecord => unreachable!("the DNS record needs no database"),
    }
    Ok(())
}

/// Prints a listing: a JSON array with `--json`, else one line per row, or `empty` if none.
fn print_rows<T: serde::Serialize>(
    rows: &[T],
    json: bool,
    empty: &str,
    line: impl Fn(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(rows)?);
    } else if rows.is_empty() {
        outln!("{empty}");
    } else {
        for row in rows {
            outln!("{}", line(row));
        }
    }
    Ok(())
}

fn local_time(t: chrono::DateTime<chrono::Utc>) -> String {
    crate::batch::render::central_time(t)
}

async fn outbox(app: &App, action: OutboxAction) -> anyhow::Result<()> {
    use crate::store::Store;
    match action {
        OutboxAction::List(args) => {
            let rows = app
                .store
                .outbox_list(args.state.as_deref(), args.limit)
                .await?;
            print_rows(&rows, args.json, "no messages", |r| {
                let flag = if r.policy_flag { " [policy block]" } else { "" };
                format!(
                    "{:>7}  {:<9}  {:>2} tries  {:<32}  {}{}",
                    r.outbox_id,
                    r.state,
                    r.attempts,
                    r.recipient,
                    r.last_error.as_deref().unwrap_or(&r.subject),
                    flag
                )
            })?;
        }
        OutboxAction::Show { id, json, raw } => {
            if raw {
                return match app.store.outbox_raw(id).await? {
                    None => anyhow::bail!("no message {id} in the outbox"),
                    Some(None) => anyhow::bail!(
                        "message {id} has no stored body: `prune` removed it after retention.days \
                         (`outbox show {id}` still has its headers and attempts)"
                    ),
                    Some(Some(bytes)) => crate::exit::print_bytes(&bytes),
                };
            }
            let Some((entry, attempts)) = app.store.outbox_entry(id).await? else {
                anyhow::bail!("no message {id} in the outbox");
            };
            if json {
                let value = serde_json::json!({"message": entry, "attempts": attempts});
                outln!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(());
            }
            outln!("message {}  {}", entry.outbox_id, entry.message_id);
            outln!(
                "  to         {} (account {})",
                entry.recipient,
                entry.account_id
            );
            outln!("  subject    {}", entry.subject);
            outln!(
                "  state      {}{}",
                entry.state,
                if entry.policy_flag {
                    " (refused on policy grounds: check our sending reputation)"
                } else {
                    ""
                }
            );
            outln!("  queued     {}", local_time(entry.created_at));
            if entry.state == "queued" {
                outln!("  next try   {}", local_time(entry.next_attempt_at));
            }
            if let Some(done) = entry.finished_at {
                outln!("  finished   {}", local_time(done));
            }
            if let Some(why) = &entry.last_error {
                outln!("  last error {why}");
            }
            outln!("  attempts   {}", attempts.len());
            for a in attempts {
                outln!(
                    "    #{:<3} {}  {:<9}  {}",
                    a.attempt,
                    local_time(a.at),
                    a.outcome,
                    a.detail
                );
            }
        }
        OutboxAction::Retry { id, all_dead } => {
            let target = if all_dead { None } else { id };
            let n = app.store.requeue_dead(target, chrono::Utc::now()).await?;
            match (target, n) {
                (Some(id), 0) => {
                    anyhow::bail!(
                        "message {id} cannot be requeued (only dead messages whose body has not \
                         been pruned can)"
                    )
                }
                _ => outln!("requeued {n} dead message(s)"),
            }
        }
    }
    Ok(())
}

async fn suppressions(
    app: &App,
    action: Option<SuppressionAction>,
    json: bool,
) -> anyhow::Result<()> {
    use crate::store::Store;
    match action {
        Some(SuppressionAction::Remove { email }) => {
            if app.store.unsuppress(&email).await? {
                tracing::info!(
                    address = %crate::mask::Address(&email),
                    reason = "operator request",
                    "suppression lifted"
                );
                outln!("{email} is no longer suppressed");
            } else {
                anyhow::bail!("{email} is not suppressed");
            }
        }
        None => {
            let rows = app.store.suppressions().await?;
            print_rows(&rows, json, "no suppressed addresses", |r| {
                format!(
                    "{}  {:<12}  since {}  {}",
                    r.email,
                    r.reason,
                    local_time(r.created_at),
                    r.evidence
                )
            })?;
        }
    }
    Ok(())
}

/// `bounces parse`: needs no database, so it runs before one is opened.
pub fn parse_bounce_files(files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut out = Vec::new();
    for file in files {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let parsed = crate::bounce::parse_bounce(&raw);
        out.push(serde_json::json!({
            "file": file.display().to_string(),
            "recipients": parsed.recipients,
        }));
        if !json {
            if parsed.recipients.is_empty() {
                outln!("{}: not a bounce", file.display());
            }
            for r in &parsed.recipients {
                outln!(
                    "{}: {} status {} action {} verdict {}",
                    file.display(),
                    r.address,
                    r.status.as_deref().unwrap_or("-"),
                    r.action.as_deref().unwrap_or("-"),
                    r.verdict.as_str()
                );
            }
        }
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

async fn bounces(app: &App, action: BounceAction) -> anyhow::Result<()> {
    use crate::store::Store;
    match action {
        BounceAction::Parse { files, json } => parse_bounce_files(&files, json)?,
        BounceAction::Ingest { path, json } => {
            let mails = crate::bounce::read_mails(&path)?;
            let policy = crate::bounce::SuppressionPolicy::from(&app.settings.bounces);
            let return_paths = crate::bounce::ReturnPaths::new(&app.settings.mail);
            let report = crate::bounce::ingest_mails(
                &app.store,
                &return_paths,
                &policy,
                mails,
                chrono::Utc::now(),
            )
            .await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                outln!(
                    "{} mails: {} read before (skipped), {} matched to our messages ({} by Message-ID only: recorded, not acted on), {} unmatched (kept; see `bounces unmatched`), {} not bounces; {} bounces recorded, {} addresses suppressed",
                    report.mails, report.duplicates, report.matched, report.unproven, report.unmatched, report.not_bounces, report.bounces_recorded, report.suppressed
                );
            }
        }
        BounceAction::Unmatched { limit, json } => {
            let rows = app.store.unmatched_bounces(limit).await?;
            print_rows(&rows, json, "no unmatched bounce mails", |r| {
                format!(
                    "{:>6}  {}  {:>7} bytes  {}",
                    r.bounce_mail_id,
                    local_time(r.received_at),
                    r.size,
                    r.source
                )
            })?;
        }
    }
    Ok(())
}

/// An optional `--since` as operators write it (see [`operator_instant`]).
async fn since_instant(
    app: &App,
    since: Option<String>,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    match since {
        Some(s) => Ok(Some(operator_instant(&s, &app.calendar().await?)?)),
        None => Ok(None),
    }
}

async fn export_stops(
    app: &App,
    since: Option<String>,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let since = since_instant(app, since).await?;
    let exported = crate::unsubscribe::export::stops_feed(&app.store, since).await?;
    match &output {
        Some(path) => crate::atomic_file::replace(path, &exported.feed)
            .with_context(|| format!("writing {}", path.display()))?,
        None => out!("{}", String::from_utf8_lossy(&exported.feed)),
    }
    let latest = exported
        .latest
        .map(|t| format!("; the latest at {}", t.to_rfc3339()))
        .unwrap_or_default();
    eprintln!("{} stops exported{latest}", exported.stops);
    Ok(())
}

async fn unsubscribes(app: &App, action: UnsubscribesAction) -> anyhow::Result<()> {
    use crate::store::Store;
    match action {
        UnsubscribesAction::Ingest { path, json } => {
            let mails = crate::mailbox::read_mails(&path)?;
            let keys = crate::unsubscribe::token::TokenKeys::from_settings(&app.settings.mail);
            let report = crate::unsubscribe::mail::ingest_mails(
                &app.store,
                &keys,
                mails,
                chrono::Utc::now(),
            )
            .await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                outln!(
                    "{} mails: {} honoured ({} subscriptions stopped, {} stopped before, {} queued messages withheld), {} refused",
                    report.mails, report.honoured, report.stopped, report.already, report.messages_withheld, report.refused.len()
                );
                for refused in &report.refused {
                    outln!("  refused {}: {}", refused.source, refused.reason);
                }
            }
        }
        UnsubscribesAction::List { since, json } => {
            let rows = app
                .store
                .unsubscribes_since(since_instant(app, since).await?)
                .await?;
            print_rows(&rows, json, "no unsubscribes", |r| {
                format!(
                    "{}  {}  {}  {:<9}  {}",
                    local_time(r.stopped_at),
                    r.account_id,
                    r.case_number,
                    r.source,
                    r.evidence
                )
            })?;
        }
    }
    Ok(())
}

fn parse_instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant with offset: {e}"))
}

/// An instant from an operator: RFC 3339, or a local `YYYY-MM-DD HH:MM` in the calendar's zone.
fn operator_instant(
    s: &str,
    calendar: &crate::calendar::Calendar,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    calendar
        .parse_instant(s)
        .ok_or_else(|| anyhow::anyhow!("`{s}` is neither RFC 3339 nor `YYYY-MM-DD HH:MM`"))
}

async fn calendar(
    app: &App,
    at: chrono::DateTime<chrono::Utc>,
    next_runs: usize,
    json: bool,
) -> anyhow::Result<()> {
    let calendar = app.calendar().await?;
    let state = calendar.state_at(at);
    let zone = calendar.zone();
    let runs = if next_runs > 0 {
        let cadence = app.settings.schedule.batch.cron();
        crate::scheduler::next_working_runs(cadence, &calendar, at, next_runs)
    } else {
        Vec::new()
    };
    if json {
        let value = serde_json::json!({
            "at": at.with_timezone(&zone).to_rfc3339(),
            "open": state.is_open(),
            "reason": state.closed.as_ref().map(|c| c.kind()),
            "detail": state.closed.as_ref().map(|c| c.describe()),
            "reopens_at": state.reopens_at.map(|t| t.with_timezone(&zone).to_rfc3339()),
            "next_runs": runs.iter().map(|t| t.with_timezone(&zone).to_rfc3339()).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let local = at.with_timezone(&zone).format("%a %Y-%m-%d %H:%M:%S %Z");
    match (&state.closed, state.reopens_at) {
        (None, _) => outln!("{local}: open"),
        (Some(reason), Some(reopens)) => outln!(
            "{local}: closed ({}); reopens {}",
            reason.describe(),
            reopens
                .with_timezone(&zone)
                .format("%a %Y-%m-%d %H:%M:%S %Z")
        ),
        (Some(reason), None) => outln!(
            "{local}: closed ({}); no opening within a year",
            reason.describe()
        ),
    }
    for t in runs {
        outln!(
            "  run at {}",
            t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M:%S %Z")
        );
    }
    Ok(())
}

async fn outages(app: &App, action: OutageAction) -> anyhow::Result<()> {
    use crate::model::NewOutage;
    use crate::store::Store;
    let calendar = app.calendar().await?;
    let zone = calendar.zone();
    let show = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let record = |outages: Vec<NewOutage>| async move {
        let validated = crate::calendar::validate_outages(&outages)?;
        match app
            .store
            .add_outages(&validated, chrono::Utc::now())
            .await?
        {
            Ok(ids) => Ok(ids),
            Err(clash) => Err(anyhow::anyhow!(
                "overlaps outage {} ({} to {}: {}); nothing was recorded",
                clash.outage_id,
                show(clash.starts_at),
                show(clash.ends_at),
                clash.reason
            )),
        }
    };
    match action {
        OutageAction::Add { from, to, reason } => {
            let outage = NewOutage {
                starts_at: operator_instant(&from, &calendar)?,
                ends_at: operator_instant(&to, &calendar)?,
                reason,
            };
            let ids = record(vec![outage]).await?;
            outln!("recorded outage {}", ids[0]);
        }
        OutageAction::List { json } => {
            let rows = app.store.outages().await?;
            print_rows(&rows, json, "no outages recorded", |o| {
                format!(
                    "{:>5}  {}  to  {}  {}",
                    o.outage_id,
                    show(o.starts_at),
                    show(o.ends_at),
                    o.reason
                )
            })?;
        }
        OutageAction::Remove { id } => {
            if !app.store.remove_outage(id).await? {
                anyhow::bail!("no outage {id}");
            }
            outln!("removed outage {id}");
        }
        OutageAction::Import { file } => {
            let outages = crate::calendar::read_outage_csv(&file, &calendar)?;
            let ids = record(outages).await?;
            outln!("{}: recorded {} outages", file.display(), ids.len());
        }
    }
    Ok(())
}
