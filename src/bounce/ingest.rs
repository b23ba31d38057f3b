//! Taking in bounce mails after the fact: from one message, an mbox or a Maildir. Each mail is
//! matched to the message it reports on and acts, at most, on the one address we sent that
//! message to, never on another address the report names:
//!
//! - A VERP return path whose MAC checks out (the address the bounce was delivered to, or the
//!   return path quoted in the returned part) proves which message it is: its bounce is recorded
//!   against that message's recipient and the suppression policy applied.
//! - A Message-ID quoted in the returned part finds the message too, but proves nothing: anyone
//!   who received the mail has seen it. Such a bounce is recorded as unproven, shown, and never
//!   suppresses or counts.
//!
//! Mails that match none of our messages are kept and listed, never dropped. A mail is known by
//! its Message-ID, else a hash of its content, and counts once however often it is read; a
//! Maildir's mails move to `cur/` marked seen once handled (see [`crate::mailbox`]).

use chrono::{DateTime, Utc};
use mail_parser::MessageParser;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::parse::{parse_bounce, ParsedBounce, RecipientReport};
use super::suppression::{act_on_bounce, SuppressionPolicy};
use super::verp::ReturnPaths;
pub use crate::mailbox::SourceMail;
use crate::mailbox::{mark_seen, MailboxError};
use crate::store::{
    BounceRecord, BounceStore, NewBounceMail, OutboxRef, OutboxStore, StoreError, SuppressionStore,
};

#[derive(Debug, thiserror::Error)]
pub enum BounceIngestError {
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BounceIngestReport {
    pub mails: u64,
    /// Mails read before (the same Message-ID, or the same content): skipped.
    pub duplicates: u64,
    pub not_bounces: u64,
    pub matched: u64,
    /// Of the matched, those found only through a quoted Message-ID: recorded, never acted on.
    pub unproven: u64,
    pub unmatched: u64,
    pub bounces_recorded: u64,
    pub suppressed: u64,
}

/// The key a mail is known by: its Message-ID, else a hash of its content.
pub fn mail_key(raw: &[u8]) -> String {
    let message_id = MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_string))
        .filter(|id| !id.trim().is_empty());
    match message_id {
        Some(id) => format!("message-id:{}", id.trim().trim_matches(['<', '>'])),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

/// Our message a bounce reports on, and whether the bounce proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub message: OutboxRef,
    /// Found through a VERP return path whose MAC checked out; otherwise through a quoted
    /// Message-ID, which proves nothing.
    pub proven: bool,
}

/// The message a bounce reports on, if it is one of ours.
pub async fn match_message<S: BounceStore + OutboxStore + SuppressionStore>(
    store: &S,
    return_paths: &ReturnPaths,
    parsed: &ParsedBounce,
) -> Result<Option<Matched>, StoreError> {
    let tokens = parsed.delivered_to.iter().chain(&parsed.returned_senders);
    for outbox_id in tokens.filter_map(|a| return_paths.outbox_id(a)) {
        if let Some(message) = store.outbox_by_id(outbox_id).await? {
            return Ok(Some(Matched {
                message,
                proven: true,
            }));
        }
    }
    for id in &parsed.returned_message_ids {
        if let Some(message) = store.outbox_by_message_id(&format!("<{id}>")).await? {
            return Ok(Some(Matched {
                message,
                proven: false,
            }));
        }
    }
    Ok(None)
}

/// The report about the address we sent `message` to: the one naming it. A report naming any
/// other address (one a forwarder rewrote, or one scraped from the text of a reply) is not
/// ours to act on: a wrongly suppressed subscriber is a silent loss.
fn report_on<'a>(
    message: &OutboxRef,
    reports: &'a [RecipientReport],
) -> Option<&'a RecipientReport> {
    reports
        .iter()
        .find(|r| r.address.eq_ignore_ascii_case(&message.recipient))
}

/// Records every mail's bounces and applies the suppression policy.
pub async fn ingest_mails<S: BounceStore + OutboxStore + SuppressionStore>(
    store: &S,
    return_paths: &ReturnPaths,
    policy: &SuppressionPolicy,
    mails: Vec<SourceMail>,
    now: DateTime<Utc>,
) -> Result<BounceIngestReport, BounceIngestError> {
    let mut report = BounceIngestReport::default();
    for mail in mails {
        report.mails += 1;
        ingest_one(store, return_paths, policy, &mail, now, &mut report).await?;
        mark_seen(&mail)?;
    }
    Ok(report)
}

#[tracing::instrument(name = "bounce_mail", skip_all, fields(source = %mail.source))]
async fn ingest_one<S: BounceStore + OutboxStore + SuppressionStore>(
    store: &S,
    return_paths: &ReturnPaths,
    policy: &SuppressionPolicy,
    mail: &SourceMail,
    now: DateTime<Utc>,
    report: &mut BounceIngestReport,
) -> Result<(), BounceIngestError> {
    let parsed = parse_bounce(&mail.raw);
    if parsed.recipients.is_empty() {
        report.not_bounces += 1;
        return Ok(());
    }
    let matched = match_message(store, return_paths, &parsed).await?;
    let mut bounces = Vec::new();
    if let Some(Matched { message, proven }) = &matched {
        let ours = report_on(message, &parsed.recipients);
        for other in parsed
            .recipients
            .iter()
            .filter(|r| ours.is_none_or(|o| o.address != r.address))
        {
            tracing::warn!(
                source = %mail.source,
                outbox_id = message.outbox_id,
                address = %crate::mask::Address(&other.address),
                "bounce names an address its message was not sent to; ignored"
            );
        }
        bounces.extend(ours.map(|r| BounceRecord {
            at: now,
            email: message.recipient.clone(),
            verdict: r.verdict,
            status: r.status.clone(),
            detail: r.diagnostic.chars().take(500).collect(),
            outbox_id: Some(message.outbox_id),
            bounce_mail_id: None,
            proven: *proven,
        }));
    }
    let key = mail_key(&mail.raw);
    let stored = store
        .store_bounce_mail(
            &NewBounceMail {
                key: &key,
                source: &mail.source,
                raw: &mail.raw,
                matched: matched.is_some(),
                at: now,
            },
            &bounces,
        )
        .await?;
    let Some(bounce_ids) = stored else {
        report.duplicates += 1;
        return Ok(());
    };
    match &matched {
        None => {
            report.unmatched += 1;
            tracing::warn!(source = %mail.source, "bounce matches none of our messages; kept");
        }
        Some(m) => {
            report.matched += 1;
            if !m.proven {
                report.unproven += 1;
                tracing::warn!(
                    source = %mail.source,
                    outbox_id = m.message.outbox_id,
                    "bounce found its message by Message-ID only; recorded, not acted on"
                );
            }
        }
    }
    for (bounce, id) in bounces.iter().zip(bounce_ids) {
        report.bounces_recorded += 1;
        tracing::info!(
            bounce_id = id,
            outbox_id = bounce.outbox_id,
            verdict = bounce.verdict.as_str(),
            status = bounce.status.as_deref(),
            proven = bounce.proven,
            "bounce recorded"
        );
        if act_on_bounce(store, policy, bounce, id).await?.is_some() {
            report.suppressed += 1;
        }
    }
    Ok(())
}
