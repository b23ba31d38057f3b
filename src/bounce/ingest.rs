//! Taking in bounce mails after the fact: from one message, an mbox or a Maildir. Each mail is
//! matched to the message it reports on (the VERP return path it was sent to names our
//! message; failing that, the Message-ID or return path quoted in the returned part), its
//! bounces are recorded and the suppression policy applied. Mails that match none of our
//! messages are kept and listed, never dropped.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::parse::{parse_bounce, ParsedBounce};
use super::suppression::{apply_bounce, SuppressionPolicy};
use crate::store::{BounceRecord, OutboxRef, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BounceIngestError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BounceIngestReport {
    pub mails: u64,
    pub not_bounces: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub bounces_recorded: u64,
    pub suppressed: u64,
}

/// One mail and where it came from.
pub struct SourceMail {
    pub source: String,
    pub raw: Vec<u8>,
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> BounceIngestError + '_ {
    move |source| BounceIngestError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Splits an mbox (mboxrd: `>From ` lines are unescaped) into its messages.
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut started = false;
    let mut previous_blank = true;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") && previous_blank {
            if started && !current.is_empty() {
                messages.push(std::mem::take(&mut current));
            }
            started = true;
            previous_blank = false;
            continue;
        }
        previous_blank = line == b"\n" || line == b"\r\n";
        let unescaped = match line.iter().position(|&b| b != b'>') {
            Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
            _ => line,
        };
        current.extend_from_slice(unescaped);
    }
    if !current.is_empty() {
        messages.push(current);
    }
    messages
}

/// Reads the mails at `path`: `-` (standard input), a Maildir (its `new` and `cur`), a
/// directory of message files, an mbox, or a single message.
pub fn read_mails(path: &Path) -> Result<Vec<SourceMail>, BounceIngestError> {
    if path == Path::new("-") {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(read_error(path))?;
        return Ok(split_file("<stdin>", data));
    }
    if path.is_dir() {
        let mut dirs = vec![path.join("new"), path.join("cur")];
        dirs.retain(|d| d.is_dir());
        if dirs.is_empty() {
            dirs.push(path.to_path_buf());
        }
        let mut files = Vec::new();
        for dir in dirs {
            for entry in std::fs::read_dir(&dir).map_err(read_error(&dir))? {
                let entry = entry.map_err(read_error(&dir))?;
                if entry.file_type().map_err(read_error(&dir))?.is_file() {
                    files.push(entry.path());
                }
            }
        }
        files.sort();
        let mut mails = Vec::new();
        for file in files {
            let raw = std::fs::read(&file).map_err(read_error(&file))?;
            mails.push(SourceMail {
                source: file.display().to_string(),
                raw,
            });
        }
        return Ok(mails);
    }
    let data = std::fs::read(path).map_err(read_error(path))?;
    Ok(split_file(&path.display().to_string(), data))
}

fn split_file(name: &str, data: Vec<u8>) -> Vec<SourceMail> {
    if data.starts_with(b"From ") {
        split_mbox(&data)
            .into_iter()
            .enumerate()
            .map(|(i, raw)| SourceMail {
                source: format!("{name}#{}", i + 1),
                raw,
            })
            .collect()
    } else {
        vec![SourceMail {
            source: name.to_string(),
            raw: data,
        }]
    }
}

/// The message a bounce reports on, if it is one of ours.
pub async fn match_message<S: Store>(
    store: &S,
    parsed: &ParsedBounce,
) -> Result<Option<OutboxRef>, StoreError> {
    for address in &parsed.delivered_to {
        if address.contains('+') {
            if let Some(found) = store.outbox_by_envelope(address).await? {
                return Ok(Some(found));
            }
        }
    }
    for id in &parsed.returned_message_ids {
        if let Some(found) = store.outbox_by_message_id(&format!("<{id}>")).await? {
            return Ok(Some(found));
        }
    }
    for sender in &parsed.returned_senders {
        if sender.contains('+') {
            if let Some(found) = store.outbox_by_envelope(sender).await? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// Records every mail's bounces and applies the suppression policy.
pub async fn ingest_mails<S: Store>(
    store: &S,
    policy: &SuppressionPolicy,
    mails: Vec<SourceMail>,
    now: DateTime<Utc>,
) -> Result<BounceIngestReport, BounceIngestError> {
    let mut report = BounceIngestReport::default();
    for mail in mails {
        report.mails += 1;
        let parsed = parse_bounce(&mail.raw);
        if parsed.recipients.is_empty() {
            report.not_bounces += 1;
            continue;
        }
        let message = match_message(store, &parsed).await?;
        let mail_id = store
            .store_bounce_mail(&mail.source, &mail.raw, message.is_some(), now)
            .await?;
        let Some(message) = message else {
            report.unmatched += 1;
            tracing::warn!(source = %mail.source, "bounce matches none of our messages; kept");
            continue;
        };
        report.matched += 1;
        let single = parsed.recipients.len() == 1;
        for r in &parsed.recipients {
            // With one recipient reported, it is the address we sent to, whatever forwarding
            // rewrote it to.
            let email = if single {
                message.recipient.clone()
            } else {
                r.address.clone()
            };
            let bounce = BounceRecord {
                at: now,
                email,
                verdict: r.verdict,
                status: r.status.clone(),
                detail: r.diagnostic.chars().take(500).collect(),
                outbox_id: Some(message.outbox_id),
                bounce_mail_id: Some(mail_id),
            };
            report.bounces_recorded += 1;
            if apply_bounce(store, policy, &bounce).await?.is_some() {
                report.suppressed += 1;
            }
        }
    }
    Ok(report)
}
