//! Stops recipients asked for: the exported feed, what ingesting unsubscribe mails did, the
//! list with source and evidence.

use super::{local_time, print_json, print_rows};
use crate::store::UnsubscribeRecord;
use crate::unsubscribe::export::Exported;
use crate::unsubscribe::mail::MailReport;
use crate::{out, outln};

/// The exported feed on standard output unless it went to a file; the summary on standard
/// error, naming the latest stop (the `--since` of the next export).
pub fn exported_stops(exported: &Exported, to_file: bool) -> anyhow::Result<()> {
    if !to_file {
        out!("{}", String::from_utf8_lossy(&exported.feed));
    }
    let latest = exported
        .latest
        .map(|t| format!("; the latest at {}", t.to_rfc3339()))
        .unwrap_or_default();
    eprintln!(
        "{} stops and {} starts by party watches exported{latest}",
        exported.stops, exported.starts
    );
    Ok(())
}

pub fn ingested_unsubscribes(report: &MailReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    outln!(
        "{} mails: {} honoured ({} subscriptions stopped, {} stopped before, {} queued messages withheld), {} refused",
        report.mails, report.honoured, report.stopped, report.already, report.messages_withheld, report.refused.len()
    );
    for refused in &report.refused {
        outln!("  refused {}: {}", refused.source, refused.reason);
    }
    Ok(())
}

pub fn unsubscribes(rows: &[UnsubscribeRecord], json: bool) -> anyhow::Result<()> {
    print_rows(rows, json, "no unsubscribes", |r| {
        format!(
            "{}  {}  {}  {:<9}  {}",
            local_time(r.stopped_at),
            r.account_id,
            r.case_number,
            r.source,
            r.evidence
        )
    })
}
