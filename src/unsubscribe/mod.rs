//! Unsubscribing: a recipient stops the subscriptions a signed link names, with no login, from
//! the one-click POST of their mail client, the page behind the link, or a mail to the
//! `List-Unsubscribe` mailto. Every way in verifies the token here and stops through one store
//! call, so they honour the same tokens and record the same way.

pub mod export;
pub mod mail;
pub mod token;

use chrono::{DateTime, Utc};

use crate::store::{StopSource, StoreError, UnsubscribeStore, UnsubscribeTarget, Unsubscribed};
use token::{Scope, TokenError, TokenKeys, Verified};

#[derive(Debug, thiserror::Error)]
pub enum UnsubscribeError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A good token whose message is no longer on record (its record was pruned).
    #[error("names a message that is no longer on record")]
    Unknown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a verified link names.
#[derive(Debug, Clone)]
pub struct Request {
    pub verified: Verified,
    pub targets: Vec<UnsubscribeTarget>,
}

impl Request {
    fn subscription_ids(&self) -> Vec<i64> {
        self.targets.iter().map(|t| t.subscription_id).collect()
    }

    /// Every subscription it names is stopped already.
    pub fn all_stopped(&self) -> bool {
        self.targets.iter().all(|t| t.unsubscribed_at.is_some())
    }
}

/// Verifies `token` and reads what it names, changing nothing.
pub async fn resolve<S: UnsubscribeStore>(
    store: &S,
    keys: &TokenKeys,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Request, UnsubscribeError> {
    let verified = keys.verify(token, now)?;
    let ids = match &verified.scope {
        Scope::Message(key) => store.message_scope(key).await?,
        Scope::Subscription(id) => vec![*id],
        Scope::Listed(ids) => ids.clone(),
    };
    let targets = store.unsubscribe_targets(&ids).await?;
    if targets.is_empty() {
        return Err(UnsubscribeError::Unknown);
    }
    Ok(Request { verified, targets })
}

/// Stops what a resolved link names; `evidence` says what carried the request.
pub async fn stop<S: UnsubscribeStore>(
    store: &S,
    request: &Request,
    source: StopSource,
    evidence: &str,
    now: DateTime<Utc>,
) -> Result<Unsubscribed, UnsubscribeError> {
    let evidence = format!("key {}; {evidence}", request.verified.key_id);
    let done = store
        .unsubscribe(&request.subscription_ids(), source, &evidence, now)
        .await?;
    tracing::info!(
        source = source.as_str(),
        stopped = done.stopped,
        already = done.already,
        messages_withheld = done.messages_withheld,
        "unsubscribed"
    );
    Ok(done)
}
