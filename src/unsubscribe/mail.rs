//! Unsubscribe requests by mail: `List-Unsubscribe` offers a `mailto:` whose subject carries the
//! token (`unsubscribe TOKEN`), for mail clients that do not do one-click. Mails are read from a
//! message, an mbox or a Maildir; each is a request on its own: a good token stops what it names,
//! any other mail is refused with the reason and changes nothing. Reading the same mail again
//! changes nothing more.

use chrono::{DateTime, Utc};
use mail_parser::MessageParser;
use serde::Serialize;

use super::token::{find_in, TokenKeys};
use super::{resolve, stop, UnsubscribeError};
use crate::mailbox::{mark_seen, MailboxError, SourceMail};
use crate::mask;
use crate::store::{StopSource, StoreError, UnsubscribeStore};

#[derive(Debug, thiserror::Error)]
pub enum UnsubscribeMailError {
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A mail that stopped nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub source: String,
    pub reason: String,
}

/// What reading the mails did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MailReport {
    pub mails: u64,
    /// Mails whose token was good.
    pub honoured: u64,
    /// Subscriptions stopped by them.
    pub stopped: u64,
    /// Subscriptions they named that were stopped before.
    pub already: u64,
    pub messages_withheld: u64,
    pub refused: Vec<Refused>,
}

/// Honours the unsubscribe requests among `mails`.
pub async fn ingest_mails<S: UnsubscribeStore + crate::store::watches::WatchStore>(
    store: &S,
    keys: &TokenKeys,
    mails: Vec<SourceMail>,
    now: DateTime<Utc>,
) -> Result<MailReport, UnsubscribeMailError> {
    let mut report = MailReport::default();
    for mail in mails {
        report.mails += 1;
        match honour(store, keys, &mail, now).await {
            Ok(done) => {
                report.honoured += 1;
                report.stopped += done.stopped;
                report.already += done.already;
                report.messages_withheld += done.messages_withheld;
            }
            Err(Refusal::Store(e)) => return Err(e.into()),
            Err(Refusal::Reason(reason)) => {
                tracing::warn!(source = %mail.source, %reason, "unsubscribe mail refused");
                report.refused.push(Refused {
                    source: mail.source.clone(),
                    reason,
                });
            }
        }
        mark_seen(&mail)?;
    }
    Ok(report)
}

enum Refusal {
    Reason(String),
    Store(StoreError),
}

impl From<UnsubscribeError> for Refusal {
    fn from(e: UnsubscribeError) -> Self {
        match e {
            UnsubscribeError::Store(e) => Refusal::Store(e),
            other => Refusal::Reason(format!("its token {other}")),
        }
    }
}

async fn honour<S: UnsubscribeStore + crate::store::watches::WatchStore>(
    store: &S,
    keys: &TokenKeys,
    mail: &SourceMail,
    now: DateTime<Utc>,
) -> Result<crate::store::Unsubscribed, Refusal> {
    let parsed = MessageParser::default()
        .parse_headers(&mail.raw)
        .ok_or_else(|| Refusal::Reason("not a mail message".into()))?;
    let subject = parsed.subject().unwrap_or_default();
    let token = find_in(subject)
        .ok_or_else(|| Refusal::Reason("its subject carries no `unsubscribe TOKEN`".to_string()))?;
    let request = resolve(store, keys, token, now).await?;
    let sender = parsed
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(|a| mask::Address(a).to_string())
        .unwrap_or_else(|| "an unknown sender".into());
    let message_id = parsed.message_id().unwrap_or("no Message-ID");
    let evidence = format!("mail <{message_id}> from {sender} ({})", mail.source);
    Ok(stop(store, &request, StopSource::Mail, &evidence, now).await?)
}
