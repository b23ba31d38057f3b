//! The command line as clap parses it: every command, its arguments and their help text, and
//! the checks on values that clap makes before anything runs. What the commands do is in
//! [`handlers`](super::handlers); nothing here touches the service.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ingest::FeedKind;

#[derive(Debug, Parser)]
#[command(
    name = "mcap-notify",
    version,
    about = "Turns court docket entries into one e-mail digest per tracking account",
    long_about = "Turns court docket entries into one e-mail digest per tracking account.\n\n\
        Feeds of courts, cases, docket entries, court dates (events), accounts, subscriptions \
        and party watches are ingested from JSON Lines files; `run-now` takes the entries that \
        are new since the last run, the court-date reminders and change notices that are due \
        and the new cases naming a watched party, groups them into one digest per account and \
        queues the messages; `deliver` sends the queue.\n\n\
        Configuration: built-in defaults, then the TOML file given by --config (or \
        ./mcap-notify.toml if present), then MCAP_NOTIFY__SECTION__KEY environment variables.\n\n\
        Exit codes: 0 success (a run skipped because the service is closed is a success), \
        1 failure, 2 bad command line, 75 another batch run holds the lease or took it over \
        mid-run (try again later), 78 bad configuration (or a database that cannot be opened)."
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
    ///
    /// Each kind's fields are listed in the README, section "Feeds".
    Ingest {
        /// What the file holds.
        kind: FeedKind,
        /// The file, or - for standard input.
        file: PathBuf,
    },
    /// Do one batch run now: new entries and due court-date notices to queued digests.
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
    /// List the party watches (matches, those waiting for a digest, the last match, paused
    /// ones with why), or try a name against the stored cases with `watches test NAME`.
    #[command(args_conflicts_with_subcommands = true)]
    Watches {
        #[command(subcommand)]
        action: Option<WatchesAction>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
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
    /// Write the tracking changes made here (stops recipients asked for, cases party watches
    /// started tracking) as a subscriptions feed for the system of record.
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
    /// Copy a SQLite deployment into a new, empty PostgreSQL database: every table with its
    /// ids (watermark, runs, ledger, outbox with bodies, bounces, suppressions, outages...), in
    /// one transaction that checks each table's count. Stop the timers or daemon first, so
    /// nothing is written to the SQLite file during the copy.
    MigrateData {
        /// The SQLite database to copy, as `sqlite://PATH`; it must exist.
        #[arg(long, value_name = "sqlite://PATH")]
        from: String,
        /// The PostgreSQL database to fill, as `postgres://USER@HOST:PORT/DATABASE`; it must
        /// exist and hold no data (it is migrated first).
        #[arg(long, value_name = "postgres://...")]
        to: String,
        /// Print the tables copied as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark tools: `bench generate` writes the feeds of a busy statewide day.
    Bench {
        #[command(subcommand)]
        action: BenchAction,
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

#[derive(Debug, Subcommand)]
pub enum BenchAction {
    /// Write the five feeds of a busy statewide day (deterministic for a seed): at scale 1
    /// 330,000 cases, 150,000 new docket entries on 60,000 of them, 250,000 accounts and
    /// about 400,000 subscriptions. Touches no database.
    Generate {
        /// Multiply every count, more than 0 and at most 100 (0.1 is a tenth of a day; 10 is
        /// ten days on ten times the subscriptions).
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, value_parser = bench_scale)]
        scale: f64,
        /// Seed for the generated data (the same seed and --now give the same files).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// The day's end (RFC 3339): entries post in the hours before it. Default: the
        /// current time, so that a run right after ingest finds the entries new.
        #[arg(long, value_parser = parse_instant)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// Where the feeds go (created if missing; files of the same names are replaced).
        #[arg(long)]
        dir: PathBuf,
        /// Also write the rows as CSV files shaped like the database's tables, in DIR/csv,
        /// for the `sqlite3` shell's import the benchmarks compare against.
        #[arg(long)]
        csv: bool,
        /// Print what was written as JSON.
        #[arg(long)]
        json: bool,
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
pub enum WatchesAction {
    /// Print what a watch on NAME would match among the cases already stored, with why, under
    /// the matching rules in the README; changes nothing.
    Test {
        /// The name as a watch gives it: "Last, First Middle", "First Middle Last", or an
        /// organisation's name with --kind organisation.
        name: String,
        /// Whether the name is a person's or an organisation's.
        #[arg(long, value_enum, default_value_t = WatchKindArg::Person)]
        kind: WatchKindArg,
        /// Let common short forms of the first name match (William and Bill).
        #[arg(long)]
        nicknames: bool,
        /// Only cases in this court (CT01 to CT46); may be given more than once.
        #[arg(long = "circuit", value_parser = parse_circuit)]
        circuits: Vec<String>,
        /// Only cases of this type (CV, CR...); may be given more than once.
        #[arg(long = "case-type")]
        case_types: Vec<String>,
        /// Only parties in this role (Defendant...); may be given more than once.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Show at most this many matches, newest cases first (JSON too; its totals count all).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `watches test --kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchKindArg {
    Person,
    #[value(alias = "organization")]
    Organisation,
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
    /// subscriptions feed lines {"account_id", "case_number", "stopped_at"}, and the cases a
    /// party watch's auto_track started tracking as {"account_id", "case_number",
    /// "tracked_at", "source"}, oldest first; the lines are what `ingest subscriptions` takes,
    /// and taking them back changes nothing.
    Export {
        /// Only changes at or after this instant (RFC 3339, or `YYYY-MM-DD HH:MM` in the
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

/// `watches test --circuit`: a court id of the 46 circuits, `CT01` to `CT46`.
fn parse_circuit(text: &str) -> Result<String, String> {
    let id = text.trim().to_ascii_uppercase();
    if crate::circuits::CIRCUITS.iter().any(|c| c.court_id() == id) {
        Ok(id)
    } else {
        Err(format!("`{text}` is not a circuit court id (CT01 to CT46)"))
    }
}

/// `--at`: an RFC 3339 instant with its offset.
fn parse_instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant with offset: {e}"))
}

/// `bench generate --scale`: a number more than 0 and at most 100, refused on the command line
/// (exit 2) otherwise.
fn bench_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if scale > 0.0 && scale <= 100.0 {
        Ok(scale)
    } else {
        Err(format!("must be more than 0 and at most 100, not {text}"))
    }
}
