//! How results are shown: a readable summary or table on standard output by default, JSON with
//! `--json`, times in the service's zone. Everything here takes values the
//! [`handlers`](super::handlers) returned; nothing here changes the service. One module per
//! group of commands; the helpers they share and the one-line confirmations are here.

mod bounces;
mod calendar;
mod delivery;
mod runs;
mod unsubscribes;
mod watches;

pub use bounces::{ingested_bounces, parsed_bounces, suppressions, unmatched_bounces};
pub use calendar::{calendar, outage_time, outages};
pub use delivery::{delivered, outbox_entry, outbox_list, raw_message};
pub use runs::{describe_run, run_outcome};
pub use unsubscribes::{exported_stops, ingested_unsubscribes, unsubscribes};
pub use watches::{watch_trial, watches};

use std::future::Future;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::ingest::{FeedKind, IngestSummary};
use crate::prune::PruneReport;
use crate::report::ReportData;
use crate::status::Status;
use crate::{out, outln};

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

/// Prints `value` as pretty JSON.
fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn local_time(t: DateTime<Utc>) -> String {
    crate::batch::render::central_time(t)
}

/// Awaits `work` with a spinner and `message` on the terminal, cleared when it is done.
pub async fn with_spinner<T>(message: &'static str, work: impl Future<Output = T>) -> T {
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let result = work.await;
    spinner.finish_and_clear();
    result
}

pub fn migrated() -> anyhow::Result<()> {
    outln!("database is up to date");
    Ok(())
}

pub fn ingested(file: &Path, kind: FeedKind, summary: &IngestSummary) -> anyhow::Result<()> {
    outln!(
        "{}: {} {kind} records ({} applied, {} unchanged)",
        file.display(),
        summary.records,
        summary.applied,
        summary.unchanged
    );
    Ok(())
}

pub fn requeued(n: u64) -> anyhow::Result<()> {
    outln!("requeued {n} dead message(s)");
    Ok(())
}

pub fn unsuppressed(email: &str) -> anyhow::Result<()> {
    outln!("{email} is no longer suppressed");
    Ok(())
}

pub fn outage_recorded(id: i64) -> anyhow::Result<()> {
    outln!("recorded outage {id}");
    Ok(())
}

pub fn outage_removed(id: i64) -> anyhow::Result<()> {
    outln!("removed outage {id}");
    Ok(())
}

pub fn outages_imported(file: &Path, count: usize) -> anyhow::Result<()> {
    outln!("{}: recorded {count} outages", file.display());
    Ok(())
}

pub fn status(status: &Status, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", status.to_json());
    } else {
        out!("{status}");
    }
    Ok(())
}

pub fn pruned(report: &PruneReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    let c = &report.counts;
    outln!(
        "{} from before {}: {} message bodies, {} delivery attempts, {} bounce mail bodies, {} unsubscribe link records, {} matched party arrivals",
        if report.dry_run { "would prune" } else { "pruned" },
        local_time(report.cutoff),
        c.message_bodies,
        c.delivery_attempts,
        c.bounce_mail_bodies,
        c.unsubscribe_scopes,
        c.party_arrivals
    );
    Ok(())
}

/// The headline of a written report page.
pub fn reported(html: &Path, data: &ReportData) -> anyhow::Result<()> {
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
    Ok(())
}

/// What `migrate-data` copied, table by table.
pub fn data_migrated(copied: &[crate::store::copy::TableCopied], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(copied);
    }
    for table in copied {
        outln!("{:<28} {:>10} rows", table.table, table.rows);
    }
    let total: u64 = copied.iter().map(|t| t.rows).sum();
    outln!(
        "copied {total} rows in {} tables; every count checked",
        copied.len()
    );
    outln!(
        "next: set database.url to the PostgreSQL database on every host (and remove any \
         MCAP_NOTIFY__DATABASE__URL that still names the file), then start the timers or the \
         daemon, and serve, again. Keep the SQLite file only as a backup: a process still \
         using it would send its mail again."
    );
    Ok(())
}

/// `bench generate`: what was written, and the order to ingest it in.
pub fn generated(generated: &crate::bench::Generated, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(generated);
    }
    let g = generated;
    outln!(
        "{} courts, {} cases ({} parties), {} accounts, {} subscriptions, {} docket entries ({} voided)",
        g.courts, g.cases, g.parties, g.accounts, g.subscriptions, g.entries, g.voids
    );
    outln!("ingest them in this order:");
    for (kind, path) in &g.feeds {
        outln!("  mcap-notify ingest {kind} {}", path.display());
    }
    Ok(())
}
