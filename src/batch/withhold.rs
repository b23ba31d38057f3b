//! Withholding: a digest is queued with what was notifiable then; a case sealed, a court that
//! left MCAP or an entry voided before the digest leaves means it must not leave as it is. The
//! batch (before each run) and delivery (before each pass) cancel such digests, record the
//! withheld pairs in the ledger, and hand the digest's other pairs to the next run. Before each
//! run, held pairs that no run would queue any more (the account unverified, the case sealed
//! since) are forgone, as a run skips such pairs when they are new.

use chrono::{DateTime, Utc};

use crate::store::{BatchStore, StoreError, Withheld};

/// Cancels the queued messages that report what may no longer be sent, and says so.
pub async fn withhold<S: BatchStore>(
    store: &S,
    now: DateTime<Utc>,
) -> Result<Withheld, StoreError> {
    let withheld = store.withhold_unnotifiable(now).await?;
    if withheld.messages > 0 {
        tracing::warn!(
            messages = withheld.messages,
            pairs = withheld.pairs,
            requeued = withheld.requeued,
            "queued digests withheld: a case was sealed or left MCAP, an entry was voided, a \
             court date changed again, or its recipient stopped tracking"
        );
    }
    Ok(withheld)
}

/// Forgoes the held pairs no run would queue again, and says so.
pub async fn forgo_held<S: BatchStore>(store: &S) -> Result<u64, StoreError> {
    let forgone = store.forgo_held_pairs().await?;
    if forgone > 0 {
        tracing::warn!(
            pairs = forgone,
            "held pairs forgone: their entry may no longer be notified, no subscription covers \
             it, or the account is unverified or suppressed"
        );
    }
    Ok(forgone)
}
