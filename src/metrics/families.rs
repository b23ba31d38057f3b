//! The metric families, with their help texts, set from one database snapshot through a
//! Prometheus recorder made for the occasion: nothing is kept between renders.

use chrono::{DateTime, Utc};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::store::MetricsSnapshot;

const STAGE_SECONDS: &str = "mcap_notify_run_stage_seconds";

/// Upper bounds of the stage-time buckets, in seconds: a stage of a small run takes
/// milliseconds, one of a large backlog minutes.
const STAGE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

const STAGES: [&str; 4] = ["snapshot", "filter", "match_render", "commit"];
const OUTBOX_STATES: [&str; 4] = ["queued", "sent", "dead", "cancelled"];
const JOBS: [&str; 2] = ["batch", "deliver"];

/// The event counters kept in the database: (its name there, the metric, the label's name,
/// the label values always shown, at 0 before the first event).
const EVENT_COUNTERS: [(&str, &str, &str, &[&str]); 7] = [
    (
        "messages_sent",
        "mcap_notify_messages_sent_total",
        "",
        &[""],
    ),
    (
        "delivery_failures",
        "mcap_notify_delivery_failures_total",
        "class",
        &["transient", "permanent", "policy"],
    ),
    (
        "messages_dead",
        "mcap_notify_messages_dead_total",
        "",
        &[""],
    ),
    (
        "bounces",
        "mcap_notify_bounces_total",
        "verdict",
        &[
            "hard",
            "soft",
            "policy",
            "too-large",
            "complaint",
            "auto-reply",
            "delivered",
        ],
    ),
    (
        "suppressions",
        "mcap_notify_suppressions_total",
        "reason",
        &["hard-bounce", "complaint", "soft-bounces"],
    ),
    (
        "unsubscribes",
        "mcap_notify_unsubscribes_total",
        "source",
        &["one-click", "web-page", "mail"],
    ),
    (
        "held_pairs_forgone",
        "mcap_notify_held_pairs_forgone_total",
        "",
        &[""],
    ),
];

/// The metrics of `snapshot` at `now` in the Prometheus text format (version 0.0.4).
pub fn render(snapshot: &MetricsSnapshot, service_open: bool, now: DateTime<Utc>) -> String {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(STAGE_SECONDS.into()), STAGE_BUCKETS)
        .expect("the stage buckets are not empty")
        .build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        describe();
        batch_counters(snapshot);
        event_counters(snapshot);
        stage_times(snapshot);
        gauges(snapshot, service_open, now);
    });
    handle.render()
}

fn describe() {
    describe_counter!(
        "mcap_notify_entries_claimed_total",
        Unit::Count,
        "Docket entries taken by batch runs."
    );
    describe_counter!(
        "mcap_notify_entries_dropped_total",
        Unit::Count,
        "Claimed entries not notifiable, by reason."
    );
    describe_counter!(
        "mcap_notify_pairs_matched_total",
        Unit::Count,
        "(account, entry) pairs matched by batch runs, those of accounts then skipped or held aside included."
    );
    describe_counter!(
        "mcap_notify_digests_queued_total",
        Unit::Count,
        "Digests queued for sending."
    );
    describe_counter!(
        "mcap_notify_accounts_skipped_total",
        Unit::Count,
        "Accounts with news that got no digest, by reason."
    );
    describe_counter!(
        "mcap_notify_runs_total",
        Unit::Count,
        "Batch runs by outcome; skipped ticks carry the kind of closure as reason."
    );
    describe_counter!(
        "mcap_notify_messages_sent_total",
        Unit::Count,
        "Messages accepted by the transport."
    );
    describe_counter!(
        "mcap_notify_delivery_failures_total",
        Unit::Count,
        "Failed delivery attempts by class."
    );
    describe_counter!(
        "mcap_notify_messages_dead_total",
        Unit::Count,
        "Messages given up on (permanent failure or retry lifetime over)."
    );
    describe_counter!(
        "mcap_notify_bounces_total",
        Unit::Count,
        "Bounces recorded, by verdict."
    );
    describe_counter!(
        "mcap_notify_suppressions_total",
        Unit::Count,
        "Addresses suppressed, by reason."
    );
    describe_counter!(
        "mcap_notify_unsubscribes_total",
        Unit::Count,
        "Subscriptions stopped by their recipients, by how they asked."
    );
    describe_counter!(
        "mcap_notify_held_pairs_forgone_total",
        Unit::Count,
        "Held (account, entry) pairs given up before a run: no run would queue them any more."
    );
    describe_histogram!(
        STAGE_SECONDS,
        Unit::Seconds,
        "Time each stage of a finished batch run took."
    );
    describe_gauge!(
        "mcap_notify_outbox_messages",
        Unit::Count,
        "Messages in the outbox by state."
    );
    describe_gauge!(
        "mcap_notify_oldest_due_message_age_seconds",
        Unit::Seconds,
        "How long the longest-due queued message has been due; 0 when none is."
    );
    describe_gauge!(
        "mcap_notify_watermark_lag_seconds",
        Unit::Seconds,
        "Age of the oldest posted entry no finished run has taken; 0 when none."
    );
    describe_gauge!(
        "mcap_notify_last_success_timestamp_seconds",
        Unit::Seconds,
        "When each job last succeeded, in Unix time; 0 when it never has."
    );
    describe_gauge!(
        "mcap_notify_court_dates_ahead",
        Unit::Count,
        "Scheduled court dates (hearings, payment deadlines) still ahead."
    );
    describe_gauge!(
        "mcap_notify_date_notices",
        Unit::Count,
        "Reminders and change notices of court dates, by kind and by the state of their message (withheld apart)."
    );
    describe_gauge!(
        "mcap_notify_watches",
        Unit::Count,
        "Party watches by state: running, paused (by the noise guard), stopped."
    );
    describe_gauge!(
        "mcap_notify_watch_matches",
        Unit::Count,
        "Cases party watches matched, by whether their notice is queued (or sent) or still waiting for a digest."
    );
    describe_gauge!(
        "mcap_notify_watch_auto_tracked",
        Unit::Count,
        "Cases tracked because a party watch with auto_track matched them."
    );
    describe_gauge!(
        "mcap_notify_service_open",
        Unit::Count,
        "1 while the service window is open, 0 while closed."
    );
}

fn batch_counters(s: &MetricsSnapshot) {
    let t = &s.run_totals;
    let d = &t.drops;
    counter!("mcap_notify_entries_claimed_total").absolute(s.entries_claimed);
    for (reason, n) in [
        ("voided", d.voided),
        ("confidential", d.confidential),
        ("excluded_court", d.excluded_court),
        ("excluded_type", d.excluded_case_type),
    ] {
        counter!("mcap_notify_entries_dropped_total", "reason" => reason).absolute(n);
    }
    counter!("mcap_notify_pairs_matched_total").absolute(t.pairs_matched);
    counter!("mcap_notify_digests_queued_total").absolute(t.digests_queued);
    for (reason, n) in [
        ("unverified", t.skipped_unverified),
        ("suppressed", t.skipped_suppressed),
        ("held", t.accounts_held),
    ] {
        counter!("mcap_notify_accounts_skipped_total", "reason" => reason).absolute(n);
    }
    let always = [
        ("done", ""),
        ("skipped", "night"),
        ("skipped", "weekend"),
        ("skipped", "holiday"),
        ("skipped", "outage"),
        ("failed", ""),
        ("interrupted", ""),
    ];
    for (outcome, reason) in always {
        counter!("mcap_notify_runs_total", "outcome" => outcome, "reason" => reason).absolute(0);
    }
    for (outcome, reason, n) in &s.runs {
        counter!("mcap_notify_runs_total", "outcome" => outcome.clone(), "reason" => reason.clone())
            .absolute(*n);
    }
}

fn event_counters(s: &MetricsSnapshot) {
    for (stored, metric, label, always) in EVENT_COUNTERS {
        let series = |value: &str| {
            if label.is_empty() {
                counter!(metric)
            } else {
                counter!(metric, label => value.to_string())
            }
        };
        for value in always {
            series(value).absolute(0);
        }
        for (_, value, n) in s.counters.iter().filter(|(name, _, _)| name == stored) {
            series(value).absolute(*n);
        }
    }
}

fn stage_times(s: &MetricsSnapshot) {
    for stage in STAGES {
        // Registered even before the first run, so the family is always there.
        let _ = histogram!(STAGE_SECONDS, "stage" => stage);
    }
    for (stage, ms, runs) in &s.stage_times {
        histogram!(STAGE_SECONDS, "stage" => stage.clone())
            .record_many(*ms as f64 / 1000.0, *runs as usize);
    }
}

fn gauges(s: &MetricsSnapshot, service_open: bool, now: DateTime<Utc>) {
    let age = |since: Option<DateTime<Utc>>| {
        since.map_or(0.0, |t| {
            ((now - t).num_milliseconds() as f64 / 1000.0).max(0.0)
        })
    };
    for state in OUTBOX_STATES {
        gauge!("mcap_notify_outbox_messages", "state" => state).set(0.0);
    }
    for (state, n) in &s.outbox {
        gauge!("mcap_notify_outbox_messages", "state" => state.clone()).set(*n as f64);
    }
    gauge!("mcap_notify_oldest_due_message_age_seconds").set(age(s.oldest_due_at));
    gauge!("mcap_notify_watermark_lag_seconds").set(age(s.oldest_unfinished_posted_at));
    for job in JOBS {
        gauge!("mcap_notify_last_success_timestamp_seconds", "job" => job).set(0.0);
    }
    for (job, at) in &s.last_success {
        gauge!("mcap_notify_last_success_timestamp_seconds", "job" => job.clone())
            .set(at.timestamp_millis() as f64 / 1000.0);
    }
    gauge!("mcap_notify_service_open").set(if service_open { 1.0 } else { 0.0 });
    gauge!("mcap_notify_court_dates_ahead").set(s.dates.ahead as f64);
    let w = &s.watches;
    for (state, n) in [
        ("running", w.active),
        ("paused", w.paused),
        ("stopped", w.stopped),
    ] {
        gauge!("mcap_notify_watches", "state" => state).set(n as f64);
    }
    for (state, n) in [("queued", w.notices_queued), ("waiting", w.notices_waiting)] {
        gauge!("mcap_notify_watch_matches", "state" => state).set(n as f64);
    }
    gauge!("mcap_notify_watch_auto_tracked").set(w.auto_tracked as f64);
    for notice in ["reminder", "change"] {
        for state in OUTBOX_STATES.iter().copied().chain(["withheld"]) {
            gauge!("mcap_notify_date_notices", "notice" => notice, "state" => state).set(0.0);
        }
    }
    for (notice, state, n) in &s.dates.notices {
        gauge!("mcap_notify_date_notices", "notice" => notice.clone(), "state" => state.clone())
            .set(*n as f64);
    }
}
