//! The delivery worker: claims due messages with a lease, sends them concurrently (bounded by a
//! semaphore, optionally rate-limited, each send under a timeout), classifies every result, and
//! records a whole batch of attempts in one transaction. A permanent failure bounces the address;
//! transient ones retry with backoff until their lifetime ends, then are dead-lettered.
//! A worker that dies leaves leases that expire, so its messages are sent again (with the same
//! Message-ID): nothing is lost, and duplicates are bounded by what was in flight.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::classify::{Classified, SendOutcome};
use super::retry::{NextStep, RetryPolicy};
use super::transport::{Transport, TransportError};
use crate::bounce::{apply_bounce, SuppressionPolicy};
use crate::config::Settings;
use crate::model::BounceVerdict;
use crate::store::{AttemptResult, BounceRecord, ClaimedMessage, Store, StoreError};

/// Where the worker reads the time: the system clock, or a test's.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub batch_size: u32,
    pub concurrency: usize,
    pub rate_per_second: Option<f64>,
    pub lease: Duration,
    pub retry: RetryPolicy,
    pub suppression: SuppressionPolicy,
}

impl From<&Settings> for WorkerConfig {
    fn from(s: &Settings) -> Self {
        WorkerConfig {
            batch_size: s.delivery.batch_size,
            concurrency: s.delivery.concurrency.max(1) as usize,
            rate_per_second: s.delivery.rate_per_second,
            lease: Duration::from_secs(s.delivery.lease_secs),
            retry: RetryPolicy::from(&s.retry),
            suppression: SuppressionPolicy::from(&s.bounces),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub sent: u64,
    /// Transient failures that will be retried.
    pub deferred: u64,
    /// Refusals on policy grounds (5.7.x): retried, flagged for operators.
    pub policy_blocked: u64,
    /// Permanent failures: dead-lettered, the address bounced.
    pub bounced: u64,
    /// Transient failures past their lifetime: dead-lettered.
    pub expired: u64,
    /// Queued messages to suppressed addresses, cancelled.
    pub cancelled: u64,
    /// Addresses newly suppressed by this pass.
    pub suppressed: u64,
    /// (outbox id, recipient, error) for the first failures.
    pub failures: Vec<(i64, String, String)>,
}

const FAILURES_KEPT: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a send task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Turns a transport error into a classified result.
fn classify(error: &TransportError) -> Classified {
    match error {
        TransportError::Smtp(e) => super::classify::classify_smtp_error(e),
        TransportError::Address { .. } => Classified {
            outcome: SendOutcome::Permanent,
            reply_code: None,
            status: None,
            detail: error.to_string(),
        },
        other => Classified {
            outcome: SendOutcome::Transient,
            reply_code: None,
            status: None,
            detail: other.to_string(),
        },
    }
}

/// A name for this worker's leases: host and process.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Results are written to the store this many at a time (and at the end of each batch), so a
/// crash re-sends at most the messages in flight plus one unwritten group.
const RECORD_EVERY: usize = 32;

type Sent = (ClaimedMessage, Classified);

async fn send_one(transport: Transport, message: ClaimedMessage) -> Sent {
    let classified = match transport.send(&message.mail).await {
        Ok(()) => Classified {
            outcome: SendOutcome::Sent,
            reply_code: None,
            status: None,
            detail: "accepted".into(),
        },
        Err(e) => classify(&e),
    };
    (message, classified)
}

/// One pass's state: the store, the policies, the tally.
struct Pass<'a, S> {
    store: &'a S,
    config: &'a WorkerConfig,
    clock: &'a dyn Clock,
    owner: String,
    rng: rand::rngs::StdRng,
    report: DeliveryReport,
}

impl<S: Store> Pass<'_, S> {
    /// Decides what each result means for its message, writes the attempts in one
    /// transaction, then applies any bounces.
    async fn record(&mut self, sent: Vec<Sent>) -> Result<(), DeliveryError> {
        if sent.is_empty() {
            return Ok(());
        }
        let at = self.clock.now();
        let mut results = Vec::with_capacity(sent.len());
        let mut bounces = Vec::new();
        for (message, c) in sent {
            let attempt = message.attempts + 1;
            let report = &mut self.report;
            let retry_at = match c.outcome {
                SendOutcome::Sent => {
                    report.sent += 1;
                    None
                }
                SendOutcome::Permanent => {
                    report.bounced += 1;
                    if c.reply_code.is_some() {
                        bounces.push(BounceRecord {
                            at,
                            email: message.mail.recipient.clone(),
                            verdict: BounceVerdict::Hard,
                            status: c.status.clone(),
                            detail: c.detail.clone(),
                            outbox_id: Some(message.outbox_id),
                            bounce_mail_id: None,
                        });
                    }
                    None
                }
                SendOutcome::Transient | SendOutcome::Policy => {
                    let step = self.config.retry.next_step(
                        message.lifetime_from,
                        at,
                        attempt,
                        &mut self.rng,
                    );
                    match step {
                        NextStep::RetryAt(t) => {
                            if c.outcome == SendOutcome::Policy {
                                report.policy_blocked += 1;
                            } else {
                                report.deferred += 1;
                            }
                            Some(t)
                        }
                        NextStep::GiveUp => {
                            report.expired += 1;
                            None
                        }
                    }
                }
            };
            if c.outcome != SendOutcome::Sent {
                tracing::warn!(
                    outbox_id = message.outbox_id,
                    recipient = %message.mail.recipient,
                    outcome = c.outcome.as_str(),
                    detail = %c.detail,
                    "delivery attempt failed"
                );
                if report.failures.len() < FAILURES_KEPT {
                    report.failures.push((
                        message.outbox_id,
                        message.mail.recipient.clone(),
                        c.detail.clone(),
                    ));
                }
            }
            results.push(AttemptResult {
                outbox_id: message.outbox_id,
                attempt,
                at,
                outcome: c.outcome,
                reply_code: c.reply_code,
                status: c.status,
                detail: c.detail,
                retry_at,
            });
        }
        self.store.record_attempts(&self.owner, &results).await?;
        for bounce in &bounces {
            if apply_bounce(self.store, &self.config.suppression, bounce)
                .await?
                .is_some()
            {
                self.report.suppressed += 1;
            }
        }
        Ok(())
    }
}

/// Delivers every message due now, batch after batch, until none is due.
pub async fn deliver_due<S: Store>(
    store: &S,
    transport: &Transport,
    config: &WorkerConfig,
    clock: &dyn Clock,
) -> Result<DeliveryReport, DeliveryError> {
    let mut pass = Pass {
        store,
        config,
        clock,
        owner: worker_name(),
        rng: rand::rngs::StdRng::from_entropy(),
        report: DeliveryReport::default(),
    };
    let mut pacer = config.rate_per_second.map(|rate| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let permits = Arc::new(Semaphore::new(config.concurrency));
    loop {
        let now = clock.now();
        pass.report.cancelled += store.cancel_suppressed(now).await?;
        let lease_until = now + chrono::Duration::from_std(config.lease).unwrap_or_default();
        let batch = store
            .claim_due(&pass.owner, now, lease_until, config.batch_size)
            .await?;
        if batch.is_empty() {
            break;
        }
        let mut tasks = JoinSet::new();
        let mut done: Vec<Sent> = Vec::new();
        for message in batch {
            if let Some(interval) = pacer.as_mut() {
                interval.tick().await;
            }
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closed");
            let transport = transport.clone();
            tasks.spawn(async move {
                let sent = send_one(transport, message).await;
                drop(permit);
                sent
            });
            while let Some(finished) = tasks.try_join_next() {
                done.push(finished?);
            }
            if done.len() >= RECORD_EVERY {
                pass.record(std::mem::take(&mut done)).await?;
            }
        }
        while let Some(finished) = tasks.join_next().await {
            done.push(finished?);
            if done.len() >= RECORD_EVERY {
                pass.record(std::mem::take(&mut done)).await?;
            }
        }
        pass.record(done).await?;
    }
    Ok(pass.report)
}
