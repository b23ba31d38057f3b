//! The delivery worker: claims due messages with a lease, sends them concurrently (bounded by a
//! semaphore, optionally rate-limited, each send under a timeout), classifies every result, and
//! records a whole batch of attempts in one transaction. Each message leaves with its own VERP
//! return path, made from its outbox id. A permanent failure is dead-lettered, and bounces the
//! address when the reply blames it; transient ones and policy blocks retry with backoff (policy
//! blocks at a slower pace) until their lifetime ends, then are dead-lettered.
//! A worker that dies leaves leases that expire, so its messages are sent again (with the same
//! Message-ID): nothing is lost, and duplicates are bounded by what was in flight.
//!
//! Every claim is fenced: right before a send the worker renews its lease on that message and
//! checks it still holds it, so a message another worker has taken over is never sent by both.
//! A database too busy to take the results is waited for rather than given up on; whenever a
//! pass ends, cleanly, on request or on an error, the claims it still holds are released.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::classify::{Classified, SendOutcome};
use super::retry::{NextStep, RetryPolicy};
use super::transport::{Transport, TransportError};
use crate::bounce::{apply_bounce, ReturnPaths, SuppressionPolicy};
use crate::config::Settings;
use crate::store::{
    AttemptResult, BatchStore, BounceRecord, BounceStore, ClaimedMessage, DeliveryStore, Renewal,
    StoreError, SuppressionStore,
};

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
    /// Queued messages cancelled because something they report may no longer be sent (a
    /// sealed case, a voided entry); what else they held goes out in the next run's digest.
    pub withheld: u64,
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

/// A name for one delivery pass's leases: host, process and a random part, so that no two
/// passes share one, even in containers where every process may have the same PID.
pub fn worker_name() -> String {
    format!(
        "{}:{}:{:016x}",
        host_name(),
        std::process::id(),
        rand::thread_rng().gen::<u64>()
    )
}

/// How long the recorder keeps trying a database that stays busy: as long as a claim lasts.
fn busy_wait_limit(config: &WorkerConfig) -> Duration {
    config.lease
}

/// Runs `write` until it succeeds, waiting out a busy database (with growing pauses) for up to
/// `limit`; any other failure, or a database still busy after `limit`, is returned.
async fn patiently<T, F, Fut>(what: &str, limit: Duration, mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let give_up = tokio::time::Instant::now() + limit;
    let mut pause = Duration::from_millis(20);
    loop {
        match write().await {
            Err(e) if e.is_busy() && tokio::time::Instant::now() + pause < give_up => {
                tracing::warn!(
                    pause_ms = pause.as_millis() as u64,
                    "database busy: {what} again shortly"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
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

impl<S: BatchStore + DeliveryStore + BounceStore + SuppressionStore> Pass<'_, S> {
    /// Decides what each result means for its message, writes the attempts in one
    /// transaction, then applies any bounces.
    async fn record(&mut self, sent: Vec<Sent>) -> Result<(), DeliveryError> {
        if sent.is_empty() {
            return Ok(());
        }
        let at = self.clock.now();
        let mut results = Vec::with_capacity(sent.len());
        let mut recipients = Vec::with_capacity(sent.len());
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
            if c.outcome != SendOutcome::Sent && report.failures.len() < FAILURES_KEPT {
                report.failures.push((
                    message.outbox_id,
                    message.mail.recipient.clone(),
                    c.detail.clone(),
                ));
            }
            recipients.push(message.mail.recipient.clone());
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
        let (store, owner) = (self.store, &self.owner);
        patiently(
            "recording delivery results",
            busy_wait_limit(self.config),
            || store.record_attempts(owner, &results),
        )
        .await?;
        for (result, recipient) in results.iter().zip(&recipients) {
            log_result(result, recipient);
        }
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

/// Says what became of a message, once its attempt is recorded: one line per attempt, with the
/// message's outbox id; a dead letter says why.
fn log_result(result: &AttemptResult, recipient: &str) {
    let recipient = crate::mask::Address(recipient);
    let detail = crate::mask::Text(&result.detail);
    let (outbox_id, attempt, class) = (result.outbox_id, result.attempt, result.outcome.as_str());
    match (result.outcome, result.retry_at) {
        (SendOutcome::Sent, _) => {
            tracing::info!(outbox_id, attempt, %recipient, "message sent")
        }
        (_, Some(retry_at)) => tracing::warn!(
            outbox_id,
            attempt,
            %recipient,
            class,
            retry_at = %retry_at.to_rfc3339(),
            %detail,
            "delivery failed; will retry"
        ),
        (outcome, None) => tracing::warn!(
            outbox_id,
            attempt,
            %recipient,
            class,
            reason = if outcome == SendOutcome::Permanent {
                "permanent failure"
            } else {
                "retries exhausted"
            },
            %detail,
            "message dead-lettered"
        ),
    }
}

/// Delivers every message due now, batch after batch, until none is due or `stop` is set (then
/// the sends in flight finish and are recorded, and nothing new starts). Sending and
/// bookkeeping run side by side: sends never wait for the database, and the recorder writes
/// results in groups as large as have accumulated. The pass runs in a span carrying its id (the
/// name its claims hold).
#[tracing::instrument(name = "delivery_pass", skip_all, fields(pass_id = tracing::field::Empty))]
pub async fn deliver_due<S: BatchStore + DeliveryStore + BounceStore + SuppressionStore>(
    store: &S,
    transport: &Transport,
    config: &WorkerConfig,
    clock: &dyn Clock,
    stop: Option<&AtomicBool>,
) -> Result<DeliveryReport, DeliveryError> {
    let stopping = || stop.is_some_and(|s| s.load(Ordering::SeqCst));
    let mut pass = Pass {
        store,
        config,
        clock,
        owner: worker_name(),
        rng: rand::rngs::StdRng::from_entropy(),
        report: DeliveryReport::default(),
    };
    tracing::Span::current().record("pass_id", pass.owner.as_str());
    // Suppressing an address cancels its queue at once; this sweeps up any that raced it.
    // Claims skip suppressed addresses in any case.
    pass.report.cancelled += store.cancel_suppressed(clock.now()).await?;
    if pass.report.cancelled > 0 {
        tracing::info!(
            messages = pass.report.cancelled,
            reason = "suppressed",
            "queued messages cancelled"
        );
    }
    pass.report.withheld += crate::batch::withhold(store, clock.now()).await?.messages;
    let owner = pass.owner.clone();
    // Bounded, and a send keeps its permit until its result is handed over: when recording
    // falls behind, sending waits, so a crash leaves at most this many accepted messages
    // unrecorded (beside those in flight and the group being written), to go again.
    let (results_tx, mut results_rx) =
        tokio::sync::mpsc::channel::<Sent>(config.concurrency.max(1) * 2);

    // Messages the check before each send withheld, counted with the pass's others.
    let withheld_at_send = AtomicU64::new(0);
    let withheld_at_send = &withheld_at_send;
    let sender = async move {
        let mut pacer = config.rate_per_second.map(|rate| {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        let permits = Arc::new(Semaphore::new(config.concurrency));
        let mut tasks = JoinSet::new();
        let outcome: Result<(), DeliveryError> = async {
            let lease = chrono::Duration::from_std(config.lease).unwrap_or_default();
            // Stop when asked, or when the recorder has failed: what is sent must be recorded.
            let must_stop = || stopping() || results_tx.is_closed();
            'claiming: while !must_stop() {
                let now = clock.now();
                let batch = store
                    .claim_due(&owner, now, now + lease, config.batch_size)
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
                    if must_stop() {
                        break 'claiming;
                    }
                    // The point of no return: send only under a live claim of our own.
                    let now = clock.now();
                    match store
                        .renew_lease(&owner, message.outbox_id, now, now + lease)
                        .await?
                    {
                        Renewal::Renewed => {}
                        Renewal::Lost => {
                            tracing::info!(
                                outbox_id = message.outbox_id,
                                "not sent: the claim ran out or another worker took the message over"
                            );
                            continue;
                        }
                        Renewal::Withheld => {
                            withheld_at_send.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(
                                outbox_id = message.outbox_id,
                                "not sent: something it reports may no longer be sent; withheld"
                            );
                            continue;
                        }
                    }
                    let transport = transport.clone();
                    let results = results_tx.clone();
                    tasks.spawn(Instrument::in_current_span(async move {
                        let sent = send_one(transport, message).await;
                        #[cfg(feature = "test-hooks")]
                        if sent.1.outcome == SendOutcome::Sent {
                            static ACCEPTED: std::sync::atomic::AtomicUsize =
                                std::sync::atomic::AtomicUsize::new(0);
                            let n = ACCEPTED.fetch_add(1, Ordering::SeqCst) + 1;
                            crate::hooks::process_pause("deliver-sent", n).await;
                        }
                        // A closed channel means the recorder failed; the lease will expire.
                        let _ = results.send(sent).await;
                        drop(permit);
                    }));
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
    if stopping() {
        tracing::info!("delivery stopped on request; unsent claims released");
    }
    // Whatever ended the pass, give back the claims it still holds: on an error too, so that
    // another pass need not wait for them to expire.
    let released = patiently("releasing delivery claims", busy_wait_limit(config), || {
        store.release_leases(&pass.owner)
    })
    .await;
    if let Ok(n @ 1..) = released {
        tracing::info!(claims = n, "unsent claims released");
    }
    pass.report.withheld += withheld_at_send.load(Ordering::Relaxed);
    recorded?;
    sent?;
    released?;
    Ok(pass.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names_differ_between_passes_of_one_process() {
        let (first, second) = (worker_name(), worker_name());
        assert_ne!(first, second);
        let prefix = format!("{}:{}:", host_name(), std::process::id());
        assert!(first.starts_with(&prefix), "{first}");
    }
}
