//! Bounces and the suppressions they lead to: what bounce mails say, what ingesting them did,
//! the mails that matched nothing, the suppressed addresses.

use std::path::Path;

use super::{local_time, print_json, print_rows};
use crate::bounce::{BounceIngestReport, ParsedBounce};
use crate::outln;
use crate::store::{Suppression, UnmatchedBounce};

pub fn suppressions(rows: &[Suppression], json: bool) -> anyhow::Result<()> {
    print_rows(rows, json, "no suppressed addresses", |r| {
        format!(
            "{}  {:<12}  since {}  {}",
            r.email,
            r.reason,
            local_time(r.created_at),
            r.evidence
        )
    })
}

/// What each bounce file says, a line per recipient as each file is read, or one JSON array
/// once all are read.
pub fn parsed_bounces<'a>(
    parsed: impl Iterator<Item = anyhow::Result<(&'a Path, ParsedBounce)>>,
    json: bool,
) -> anyhow::Result<()> {
    let mut out = Vec::new();
    for item in parsed {
        let (file, parsed) = item?;
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
        out.push(serde_json::json!({
            "file": file.display().to_string(),
            "recipients": parsed.recipients,
        }));
    }
    if json {
        print_json(&out)?;
    }
    Ok(())
}

pub fn ingested_bounces(report: &BounceIngestReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    outln!(
        "{} mails: {} read before (skipped), {} matched to our messages ({} by Message-ID only: recorded, not acted on), {} unmatched (kept; see `bounces unmatched`), {} not bounces; {} bounces recorded, {} addresses suppressed",
        report.mails, report.duplicates, report.matched, report.unproven, report.unmatched, report.not_bounces, report.bounces_recorded, report.suppressed
    );
    Ok(())
}

pub fn unmatched_bounces(rows: &[UnmatchedBounce], json: bool) -> anyhow::Result<()> {
    print_rows(rows, json, "no unmatched bounce mails", |r| {
        format!(
            "{:>6}  {}  {:>7} bytes  {}",
            r.bounce_mail_id,
            local_time(r.received_at),
            r.size,
            r.source
        )
    })
}
