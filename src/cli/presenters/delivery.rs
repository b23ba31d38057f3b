//! Delivery and the outbox: a pass's summary as a timer's journal keeps it, the queue's
//! listing, one message with its attempts, or the message itself.

use super::{local_time, print_json, print_rows};
use crate::delivery::DeliveryReport;
use crate::outln;
use crate::store::{AttemptRow, OutboxEntry};

/// A delivery pass: held, or what became of the messages. `transport` names the transport;
/// it is asked only when the summary says it.
pub fn delivered(
    report: &DeliveryReport,
    json: bool,
    transport: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    if let Some(reason) = &report.held {
        outln!("delivery held: the service is closed ({reason}); --ignore-windows sends anyway");
        return Ok(());
    }
    outln!(
        "delivery via {}: {} sent, {} deferred, {} policy-blocked, {} bounced, {} dead (retries expired), {} cancelled, {} withheld; {} addresses suppressed",
        transport()?,
        report.sent,
        report.deferred,
        report.policy_blocked,
        report.bounced,
        report.expired,
        report.cancelled,
        report.withheld,
        report.suppressed
    );
    // This summary is what a timer's journal keeps: addresses masked as in the logs;
    // `outbox show ID` has them in full.
    for (id, to, error) in &report.failures {
        outln!(
            "  message {id} to {}: {}",
            crate::mask::address(to),
            crate::mask::text_about(error, to)
        );
    }
    Ok(())
}

pub fn outbox_list(rows: &[OutboxEntry], json: bool) -> anyhow::Result<()> {
    print_rows(rows, json, "no messages", |r| {
        let flag = if r.policy_flag { " [policy block]" } else { "" };
        format!(
            "{:>7}  {:<9}  {:>2} tries  {:<32}  {}{}",
            r.outbox_id,
            r.state,
            r.attempts,
            r.recipient,
            r.last_error.as_deref().unwrap_or(&r.subject),
            flag
        )
    })
}

/// One message with its attempt history.
pub fn outbox_entry(
    (entry, attempts): &(OutboxEntry, Vec<AttemptRow>),
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::json!({"message": entry, "attempts": attempts}));
    }
    outln!("message {}  {}", entry.outbox_id, entry.message_id);
    outln!(
        "  to         {} (account {})",
        entry.recipient,
        entry.account_id
    );
    outln!("  subject    {}", entry.subject);
    outln!(
        "  state      {}{}",
        entry.state,
        if entry.policy_flag {
            " (refused on policy grounds: check our sending reputation)"
        } else {
            ""
        }
    );
    outln!("  queued     {}", local_time(entry.created_at));
    if entry.state == "queued" {
        outln!("  next try   {}", local_time(entry.next_attempt_at));
    }
    if let Some(done) = entry.finished_at {
        outln!("  finished   {}", local_time(done));
    }
    if let Some(why) = &entry.last_error {
        outln!("  last error {why}");
    }
    outln!("  attempts   {}", attempts.len());
    for a in attempts {
        outln!(
            "    #{:<3} {}  {:<9}  {}",
            a.attempt,
            local_time(a.at),
            a.outcome,
            a.detail
        );
    }
    Ok(())
}

/// A stored message exactly as it is sent (not always UTF-8).
pub fn raw_message(bytes: &[u8]) -> anyhow::Result<()> {
    crate::exit::print_bytes(bytes)
}
