//! Suppression: what a bounce does to an address. A hard bounce or a complaint suppresses it at
//! once; soft bounces count, and suppress once enough of them fall within the window (Mailman's
//! bounce score, by default 5 within 7 days). Policy blocks, messages refused as too large,
//! auto-replies and delivery notices are recorded but never suppress: they say nothing against
//! the address. Nor does a bounce that is not proven to be about the address (see
//! `BounceRecord::proven`).

use chrono::Duration;

use crate::config::BounceSettings;
use crate::model::{BounceVerdict, SuppressionReason};
use crate::store::{BounceRecord, BounceStore, StoreError, SuppressionStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuppressionPolicy {
    pub soft_threshold: u32,
    pub soft_window: Duration,
}

impl From<&BounceSettings> for SuppressionPolicy {
    fn from(s: &BounceSettings) -> Self {
        SuppressionPolicy {
            soft_threshold: s.soft_threshold,
            soft_window: Duration::days(s.soft_window_days as i64),
        }
    }
}

/// Records a bounce and suppresses its address if the policy says so; returns the reason when
/// this bounce newly suppressed the address.
pub async fn apply_bounce<S: BounceStore + SuppressionStore>(
    store: &S,
    policy: &SuppressionPolicy,
    bounce: &BounceRecord,
) -> Result<Option<SuppressionReason>, StoreError> {
    match store.record_bounce(bounce).await? {
        Some(bounce_id) => act_on_bounce(store, policy, bounce, bounce_id).await,
        // Counted before: it has had its effect.
        None => Ok(None),
    }
}

/// Applies the policy to a recorded bounce (`bounce_id`); returns the reason when it newly
/// suppressed the address.
pub async fn act_on_bounce<S: BounceStore + SuppressionStore>(
    store: &S,
    policy: &SuppressionPolicy,
    bounce: &BounceRecord,
    bounce_id: i64,
) -> Result<Option<SuppressionReason>, StoreError> {
    if !bounce.proven {
        return Ok(None);
    }
    let evidence = |what: &str| {
        format!(
            "{what} (bounce {bounce_id}{}{}): {}",
            bounce
                .status
                .as_deref()
                .map(|s| format!(", status {s}"))
                .unwrap_or_default(),
            bounce
                .outbox_id
                .map(|id| format!(", message {id}"))
                .unwrap_or_default(),
            bounce.detail
        )
    };
    let (reason, evidence) = match bounce.verdict {
        BounceVerdict::Hard => (SuppressionReason::HardBounce, evidence("hard bounce")),
        BounceVerdict::Complaint => (SuppressionReason::Complaint, evidence("complaint")),
        BounceVerdict::Soft => {
            let since = bounce.at - policy.soft_window;
            let count = store.soft_bounces_since(&bounce.email, since).await?;
            if count < policy.soft_threshold as u64 {
                return Ok(None);
            }
            (
                SuppressionReason::SoftBounces,
                evidence(&format!(
                    "{count} soft bounces within {} days, the last",
                    policy.soft_window.num_days()
                )),
            )
        }
        BounceVerdict::Policy
        | BounceVerdict::TooLarge
        | BounceVerdict::AutoReply
        | BounceVerdict::Delivered => return Ok(None),
    };
    let newly = store
        .suppress(&bounce.email, reason, &evidence, bounce.at)
        .await?;
    if newly {
        tracing::warn!(
            address = %crate::mask::Address(&bounce.email),
            reason = reason.as_str(),
            bounce_id,
            outbox_id = bounce.outbox_id,
            "address suppressed"
        );
    }
    Ok(newly.then_some(reason))
}
