//! The command line: what each command takes, and how its result is shown (a readable summary
//! by default, JSON with `--json`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::batch::{RunOptions, RunReport};
use crate::ingest::FeedKind;

/// Exit code for a configuration error (sysexits EX_CONFIG).
pub const EXIT_CONFIG: i32 = 78;

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
        Exit codes: 0 success, 1 failure, 2 bad command line, 78 bad configuration."
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
    /// Send every queued message through the configured transport.
    Deliver {
        /// Send even when the service window is closed.
        #[arg(long)]
        ignore_windows: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the watermark, the queue and the last runs.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
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

/// Runs one command against an opened application.
pub async fn execute(app: &App, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate => println!("database is up to date"),
        Command::Ingest { kind, file } => {
            let summary = app.ingest(kind, &file).await?;
            println!(
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
                crash_after_commits: None,
            };
            let report = app.run_now(&options).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", describe_run(&report));
            }
        }
        Command::Deliver { json, .. } => {
            let report = app.deliver().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "delivered {} messages via {}; {} failed (still queued)",
                    report.sent,
                    app.transport()?.describe(),
                    report.failed
                );
                for (id, to, error) in &report.failures {
                    println!("  message {id} to {to}: {error}");
                }
            }
            if report.failed > 0 {
                anyhow::bail!("{} messages could not be delivered", report.failed);
            }
        }
        Command::Status { json } => {
            let status = app.status().await?;
            if json {
                println!("{}", status.to_json());
            } else {
                print!("{status}");
            }
        }
        Command::Demo { .. } => unreachable!("the demo opens its own application"),
    }
    Ok(())
}
