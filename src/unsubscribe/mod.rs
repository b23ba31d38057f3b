//! Unsubscribing: a recipient stops the subscriptions (and party watches) a signed link names,
//! with no login, from
//! the one-click POST of their mail client, the page behind the link, or a mail to the
//! `List-Unsubscribe` mailto. Every way in verifies the token here and stops through one store
//! call, so they honour the same tokens and record the same way.

pub mod export;
pub mod mail;
pub mod token;

use chrono::{DateTime, Utc};

use crate::store::watches::{WatchStore, WatchTarget};
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
    /// The party watches a message's link stops (those whose news it told).
    pub watches: Vec<WatchTarget>,
}

impl Request {
    fn subscription_ids(&self) -> Vec<i64> {
        self.targets.iter().map(|t| t.subscription_id).collect()
    }

    /// Every subscription and watch it names is stopped already.
    pub fn all_stopped(&self) -> bool {
        self.targets.iter().all(|t| t.unsubscribed_at.is_some())
            && self.watches.iter().all(|w| w.unsubscribed_at.is_some())
    }

    /// The address the link was sent to.
    pub fn email(&self) -> Option<&str> {
        (self.targets.first().map(|t| t.email.as_str()))
            .or(self.watches.first().map(|w| w.email.as_str()))
    }
}

/// Verifies `token` and reads what it names, changing nothing.
pub async fn resolve<S: UnsubscribeStore + WatchStore>(
    store: &S,
    keys: &TokenKeys,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Request, UnsubscribeError> {
    let verified = keys.verify(token, now)?;
    let (ids, watches) = match &verified.scope {
        Scope::Message(key) => (
            store.message_scope(key).await?,
            store.message_watch_scope(key).await?,
        ),
        Scope::Subscription(id) => (vec![*id], Vec::new()),
        Scope::Listed(ids) => (ids.clone(), Vec::new()),
    };
    let targets = store.unsubscribe_targets(&ids).await?;
    if targets.is_empty() && watches.is_empty() {
        return Err(UnsubscribeError::Unknown);
    }
    Ok(Request {
        verified,
        targets,
        watches,
    })
}

/// Stops what a resolved link names; `evidence` says what carried the request.
pub async fn stop<S: UnsubscribeStore + WatchStore>(
    store: &S,
    request: &Request,
    source: StopSource,
    evidence: &str,
    now: DateTime<Utc>,
) -> Result<Unsubscribed, UnsubscribeError> {
    let evidence = format!("key {}; {evidence}", request.verified.key_id);
    let mut done = if request.targets.is_empty() {
        Unsubscribed::default()
    } else {
        store
            .unsubscribe(&request.subscription_ids(), source, &evidence, now)
            .await?
    };
    if !request.watches.is_empty() {
        let ids: Vec<String> = request.watches.iter().map(|w| w.watch_id.clone()).collect();
        let watches = store.stop_watches(&ids, now).await?;
        done.stopped += watches.stopped;
        done.already += watches.already;
        done.messages_withheld += watches.messages_withheld;
    }
    tracing::info!(
        source = source.as_str(),
        stopped = done.stopped,
        already = done.already,
        messages_withheld = done.messages_withheld,
        "unsubscribed"
    );
    Ok(done)
}
