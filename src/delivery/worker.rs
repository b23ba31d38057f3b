//! The delivery pass: walks the queued messages oldest first, sends each, and marks it sent
//! after the transport accepted it. A failed message stays queued for the next pass.

use chrono::Utc;
use serde::Serialize;

use super::transport::Transport;
use crate::store::{Store, StoreError};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub sent: u64,
    pub failed: u64,
    /// (outbox id, recipient, error) for the failures, first ones only.
    pub failures: Vec<(i64, String, String)>,
}

const FAILURES_KEPT: usize = 20;

/// Sends every message queued when the pass starts.
pub async fn deliver_queued<S: Store>(
    store: &S,
    transport: &Transport,
    batch_size: u32,
) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    let mut after_id = 0;
    loop {
        let batch = store.queued_messages(after_id, batch_size).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after_id = last.outbox_id;
        for message in &batch {
            match transport.send(&message.mail).await {
                Ok(()) => {
                    store.mark_sent(message.outbox_id, Utc::now()).await?;
                    report.sent += 1;
                }
                Err(e) => {
                    tracing::warn!(outbox_id = message.outbox_id, error = %e, "delivery failed");
                    report.failed += 1;
                    if report.failures.len() < FAILURES_KEPT {
                        report.failures.push((
                            message.outbox_id,
                            message.mail.recipient.clone(),
                            e.to_string(),
                        ));
                    }
                }
            }
        }
    }
    Ok(report)
}
