//! The delivery worker: claims due messages with a lease, sends them concurrently (bounded by a
//! semaphore, optionally rate-limited, each send under a timeout), classifies every result, and
//! records a whole batch of attempts in one transaction. Each message leaves with its own VERP
//! return path, made from its outbox id. A permanent failure is dead-lettered, and bounces the
//! address when the reply blames it; transient ones and policy blocks retry with backoff (policy
//! blocks at a slower pace) until their lifetime ends, then are dead-lettered.
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
use crate::bounce::{apply_bounce, ReturnPaths, SuppressionPolicy};
use crate::config::Settings;
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
    pub return_paths: ReturnPaths,
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
            return_paths: ReturnPaths::new(&s.mail),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Why nothing was sent: the service window is closed (and delivery respects it).
    pub held: Option<String>,
    pub sent: u64,
    /// Transient failures that will be retried.
    pub deferred: u64,
    /// Refusals aimed at us (5.7.x, our sender address or domain): retried at the slower
    /// policy pace, flagged for operators, never held against the recipient.
    pub policy_blocked: u64,
    /// Permanent failures: dead-lettered; the address bounced when the reply blames it.
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
            bounce: None,
            reply_code: None,
            status: None,
            detail: error.to_string(),
        },
        other => Classified {
            outcome: SendOutcome::Transient,
            bounce: None,
            reply_code: None,
            status: None,
            detail: other.to_string(),
        },
    }
}

/// This machine's host name, for lease records.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// A name for this worker's leases: host and process.
pub fn worker_name() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// The most results written in one transaction.
const RECORD_AT_MOST: usize = 256;
/// How long the recorder gathers results before writing them: long enough that a busy worker
/// writes in large groups, short enough that a crash re-sends little (what was in flight plus
/// at most this long's worth of sends).
const RECORD_GATHER: Duration = Duration::from_millis(20);

type Sent = (ClaimedMessage, Classified);

async fn send_one(transport: Transport, message: ClaimedMessage) -> Sent {
    let classified = match transport.send(&message.mail).await {
        Ok(()) => Classified {
            outcome: SendOutcome::Sent,
            bounce: None,
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
                    None
                }
                SendOutcome::Transient | SendOutcome::Policy => {
                    let pace = if c.outcome == SendOutcome::Policy {
                        self.config.retry.after_policy_block()
                    } else {
                        self.config.retry
                    };
                    let step = pace.next_step(message.lifetime_from, at, attempt, &mut self.rng);
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
            if let Some(verdict) = c.bounce {
                bounces.push(BounceRecord {
                    at,
                    email: message.mail.recipient.clone(),
                    verdict,
                    status: c.status.clone(),
                    detail: c.detail.clone(),
                    outbox_id: Some(message.outbox_id),
                    bounce_mail_id: None,
                    proven: true,
                });
            }
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

/// Delivers every message due now, batch after batch, until none is due. Sending and
/// bookkeeping run side by side: sends never wait for the database, and the recorder writes
/// results in groups as large as have accumulated.
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
    // Suppressing an address cancels its queue at once; this sweeps up any that raced it.
    // Claims skip suppressed addresses in any case.
    pass.report.cancelled += store.cancel_suppressed(clock.now()).await?;
    let owner = pass.owner.clone();
    let (results_tx, mut results_rx) = tokio::sync::mpsc::unbounded_channel::<Sent>();

    let sender = async move {
        let mut pacer = config.rate_per_second.map(|rate| {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        let permits = Arc::new(Semaphore::new(config.concurrency));
        let mut tasks = JoinSet::new();
        let outcome: Result<(), DeliveryError> = async {
            // Stop claiming if the recorder has failed: what is sent must be recorded.
            while !results_tx.is_closed() {
                let now = clock.now();
                let lease_until =
                    now + chrono::Duration::from_std(config.lease).unwrap_or_default();
                let batch = store
                    .claim_due(&owner, now, lease_until, config.batch_size)
                    .await?;
                if batch.is_empty() {
                    break;
                }
                for mut message in batch {
                    message.mail.envelope_from = config.return_paths.address(message.outbox_id);
                    if let Some(interval) = pacer.as_mut() {
                        interval.tick().await;
                    }
                    let permit = permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("semaphore never closed");
                    let transport = transport.clone();
                    let results = results_tx.clone();
                    tasks.spawn(async move {
                        let sent = send_one(transport, message).await;
                        drop(permit);
                        // A closed channel means the recorder failed; the lease will expire.
                        let _ = results.send(sent);
                    });
                    while let Some(finished) = tasks.try_join_next() {
                        finished?;
                    }
                }
            }
            Ok(())
        }
        .await;
        while let Some(finished) = tasks.join_next().await {
            finished?;
        }
        drop(results_tx);
        outcome
    };

    let recorder = async {
        while let Some(first) = results_rx.recv().await {
            let mut group = vec![first];
            let until = tokio::time::Instant::now() + RECORD_GATHER;
            while group.len() < RECORD_AT_MOST {
                match tokio::time::timeout_at(until, results_rx.recv()).await {
                    Ok(Some(sent)) => group.push(sent),
                    Ok(None) | Err(_) => break,
                }
            }
            if let Err(e) = pass.record(group).await {
                results_rx.close();
                return Err(e);
            }
        }
        Ok(())
    };

    let (sent, recorded) = tokio::join!(sender, recorder);
    recorded?;
    sent?;
    store.release_leases(&pass.owner).await?;
    Ok(pass.report)
}
