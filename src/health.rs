//! Whether the service is healthy right now, computed from the database with the `[alerts]`
//! thresholds: the same conditions the Prometheus rules page on, so that `status` (and any other
//! report) can say which hold without a Prometheus at hand. Each condition is a typed [`Alert`]
//! with a sentence for people.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::batch::render::central_time;
use crate::calendar::Calendar;
use crate::config::AlertSettings;
use crate::store::history::{HealthFacts, RunHistory};
use crate::store::StoreError;

/// How far back the event conditions (dead letters, bounces, policy blocks) look.
pub const LOOK_BACK: Duration = Duration::hours(1);

/// How far back failed batch attempts count (`McapNotifyBatchFailed` looks as far).
pub const FAILURE_LOOK_BACK: Duration = Duration::minutes(15);

/// How far back the start of the current open stretch is looked for.
const OPEN_SINCE_LOOK_BACK: Duration = Duration::days(14);

/// The service window now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    pub open: bool,
    /// Why it is closed: night, weekend, holiday, or `outage: REASON`.
    pub closed_reason: Option<String>,
    /// When it opens again; None while open (or when no opening is in sight).
    pub next_open_at: Option<DateTime<Utc>>,
    /// While open: when this open stretch began (None when it has been open for longer than
    /// anyone looks back).
    pub open_since: Option<DateTime<Utc>>,
}

impl Window {
    /// Open now and for at least the last `minutes`: a condition that a closure alone could
    /// cause (no runs, nothing sent, entries waiting) counts only then, as in the Prometheus
    /// rules, so the first minutes after a weekend or an outage are quiet.
    pub fn open_for(&self, minutes: u64, now: DateTime<Utc>) -> bool {
        self.open
            && self
                .open_since
                .is_none_or(|since| now - since >= Duration::minutes(minutes as i64))
    }
}

/// When each job last succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastSuccess {
    pub batch: Option<DateTime<Utc>>,
    pub deliver: Option<DateTime<Utc>>,
}

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum Alert {
    /// No successful batch run for longer than the threshold while the service is open.
    BatchStale {
        last_success: Option<DateTime<Utc>>,
        threshold_minutes: u64,
    },
    /// No finished delivery pass for longer than the threshold while the service is open.
    DeliveryStale {
        last_success: Option<DateTime<Utc>>,
        threshold_minutes: u64,
    },
    /// The oldest entry not yet in a finished run was posted too long ago (while open).
    WatermarkLag {
        lag_seconds: i64,
        threshold_minutes: u64,
    },
    /// A queued message has been due too long (while open).
    OldestDue {
        due_seconds: i64,
        threshold_minutes: u64,
    },
    /// Messages were dead-lettered in the last hour.
    DeadLetters { count: u64 },
    /// Hard and soft bounces per message sent in the last hour over the threshold.
    BounceRate {
        bounces: u64,
        sent: u64,
        threshold: f64,
    },
    /// A receiving server refused us on policy grounds (5.7.x) in the last hour.
    PolicyBlock { count: u64 },
    /// Batch attempts failed in the last 15 minutes (the next run retries them).
    BatchFailed {
        count: u64,
        last_at: DateTime<Utc>,
        error: String,
    },
}

impl Alert {
    /// The alert's name in `deploy/prometheus/alerts.yml`.
    pub fn name(&self) -> &'static str {
        match self {
            Alert::BatchStale { .. } => "McapNotifyBatchStale",
            Alert::DeliveryStale { .. } => "McapNotifyDeliveryStale",
            Alert::WatermarkLag { .. } => "McapNotifyWatermarkLag",
            Alert::OldestDue { .. } => "McapNotifyOldestDueMessage",
            Alert::DeadLetters { .. } => "McapNotifyDeadLetters",
            Alert::BounceRate { .. } => "McapNotifyBounceRate",
            Alert::PolicyBlock { .. } => "McapNotifyPolicyBlock",
            Alert::BatchFailed { .. } => "McapNotifyBatchFailed",
        }
    }

    /// What holds, for people.
    pub fn sentence(&self) -> String {
        let last = |at: &Option<DateTime<Utc>>| match at {
            Some(at) => format!("the last one {}", central_time(*at)),
            None => "none recorded yet".to_string(),
        };
        match self {
            Alert::BatchStale {
                last_success,
                threshold_minutes,
            } => format!(
                "batch stale: no successful batch run for over {threshold_minutes} minutes while \
                 the service is open ({})",
                last(last_success)
            ),
            Alert::DeliveryStale {
                last_success,
                threshold_minutes,
            } => format!(
                "delivery stale: no finished delivery pass for over {threshold_minutes} minutes \
                 while the service is open ({}); is the daemon or the deliver timer running?",
                last(last_success)
            ),
            Alert::WatermarkLag {
                lag_seconds,
                threshold_minutes,
            } => format!(
                "watermark lag: the oldest entry not yet in a finished run was posted {} ago \
                 (threshold {threshold_minutes} minutes)",
                span(*lag_seconds)
            ),
            Alert::OldestDue {
                due_seconds,
                threshold_minutes,
            } => format!(
                "oldest due message: a queued message has been due for {} (threshold \
                 {threshold_minutes} minutes)",
                span(*due_seconds)
            ),
            Alert::DeadLetters { count } => format!(
                "dead letters: {count} message(s) dead-lettered in the last hour (see `outbox \
                 --state dead`)"
            ),
            Alert::BounceRate {
                bounces,
                sent,
                threshold,
            } => format!(
                "bounce rate: {bounces} hard or soft bounces for {sent} messages sent in the last \
                 hour ({:.1}%, threshold {:.1}%)",
                100.0 * *bounces as f64 / (*sent).max(1) as f64,
                100.0 * threshold
            ),
            Alert::PolicyBlock { count } => format!(
                "policy block: {count} delivery attempt(s) refused on policy grounds (5.7.x) in \
                 the last hour: check the sending reputation"
            ),
            Alert::BatchFailed {
                count,
                last_at,
                error,
            } => format!(
                "batch failed: {count} batch attempt(s) failed in the last 15 minutes, the last \
                 {}: {} (see `runs`)",
                central_time(*last_at),
                one_line(error, 160)
            ),
        }
    }
}

/// The health of the service at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub at: DateTime<Utc>,
    pub window: Window,
    /// Now minus the posting time of the oldest entry not yet in a finished run.
    pub watermark_lag_seconds: Option<i64>,
    /// How long the longest-due queued message has been due.
    pub oldest_due_seconds: Option<i64>,
    pub last_success: LastSuccess,
    pub alerts: Vec<Alert>,
}

/// Reads the facts at `now` and judges them.
pub async fn check<S: RunHistory>(
    store: &S,
    calendar: &Calendar,
    thresholds: &AlertSettings,
    now: DateTime<Utc>,
) -> Result<Health, StoreError> {
    let facts = store
        .health_facts(now, now - LOOK_BACK, now - FAILURE_LOOK_BACK)
        .await?;
    let state = calendar.state_at(now);
    let open_since = if state.is_open() {
        calendar
            .closed_spans(now - OPEN_SINCE_LOOK_BACK, now)
            .last()
            .map(|span| span.to)
    } else {
        None
    };
    let window = Window {
        open: state.is_open(),
        closed_reason: state.closed.as_ref().map(|c| c.describe()),
        next_open_at: state.reopens_at,
        open_since,
    };
    Ok(judge(&facts, window, thresholds, now))
}

/// The conditions that hold for `facts` at `now`.
pub fn judge(
    facts: &HealthFacts,
    window: Window,
    thresholds: &AlertSettings,
    now: DateTime<Utc>,
) -> Health {
    let seconds_since = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_seconds().max(0));
    let lag = seconds_since(facts.oldest_unfinished_posted_at);
    let due = seconds_since(facts.oldest_due_at);
    let over = |seconds: Option<i64>, minutes: u64| {
        seconds.is_some_and(|s| s > (minutes as i64).saturating_mul(60))
    };
    let stale = |last: Option<DateTime<Utc>>, minutes: u64| {
        last.is_none() || over(seconds_since(last), minutes)
    };
    let open_for = |minutes: u64| window.open_for(minutes, now);
    let mut alerts = Vec::new();
    if open_for(thresholds.batch_stale_minutes)
        && stale(facts.last_batch_success, thresholds.batch_stale_minutes)
    {
        alerts.push(Alert::BatchStale {
            last_success: facts.last_batch_success,
            threshold_minutes: thresholds.batch_stale_minutes,
        });
    }
    if open_for(thresholds.deliver_stale_minutes)
        && stale(facts.last_deliver_success, thresholds.deliver_stale_minutes)
    {
        alerts.push(Alert::DeliveryStale {
            last_success: facts.last_deliver_success,
            threshold_minutes: thresholds.deliver_stale_minutes,
        });
    }
    if let Some(lag_seconds) = lag.filter(|_| {
        open_for(thresholds.watermark_lag_minutes) && over(lag, thresholds.watermark_lag_minutes)
    }) {
        alerts.push(Alert::WatermarkLag {
            lag_seconds,
            threshold_minutes: thresholds.watermark_lag_minutes,
        });
    }
    if let Some(due_seconds) = due.filter(|_| {
        open_for(thresholds.oldest_due_minutes) && over(due, thresholds.oldest_due_minutes)
    }) {
        alerts.push(Alert::OldestDue {
            due_seconds,
            threshold_minutes: thresholds.oldest_due_minutes,
        });
    }
    if facts.messages_dead > 0 {
        alerts.push(Alert::DeadLetters {
            count: facts.messages_dead,
        });
    }
    if facts.messages_sent >= thresholds.bounce_rate_min_sent.max(1)
        && facts.bounces as f64 > thresholds.bounce_rate * facts.messages_sent as f64
    {
        alerts.push(Alert::BounceRate {
            bounces: facts.bounces,
            sent: facts.messages_sent,
            threshold: thresholds.bounce_rate,
        });
    }
    if facts.policy_blocks > 0 && window.open {
        alerts.push(Alert::PolicyBlock {
            count: facts.policy_blocks,
        });
    }
    if let Some((last_at, error)) = &facts.last_batch_failure {
        alerts.push(Alert::BatchFailed {
            count: facts.batch_failures,
            last_at: *last_at,
            error: error.clone(),
        });
    }
    Health {
        at: now,
        window,
        watermark_lag_seconds: lag,
        oldest_due_seconds: due,
        last_success: LastSuccess {
            batch: facts.last_batch_success,
            deliver: facts.last_deliver_success,
        },
        alerts,
    }
}

/// An error on one line: its lines joined, runs of blanks as one space, cut to `max`
/// characters with an ellipsis.
pub fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A length of time for people: `45s`, `12m`, `3h 05m`, `2d 4h`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn open() -> Window {
        Window {
            open: true,
            closed_reason: None,
            next_open_at: None,
            open_since: None,
        }
    }

    fn healthy(now: DateTime<Utc>) -> HealthFacts {
        HealthFacts {
            last_batch_success: Some(now - Duration::minutes(5)),
            last_deliver_success: Some(now - Duration::minutes(1)),
            messages_sent: 100,
            bounces: 5,
            ..HealthFacts::default()
        }
    }

    #[test]
    fn a_healthy_service_has_no_alerts() {
        let now = at("2026-12-01T10:00:00-06:00");
        let health = judge(&healthy(now), open(), &AlertSettings::default(), now);
        assert_eq!(health.alerts, vec![]);
    }

    #[test]
    fn staleness_and_delays_only_count_while_open() {
        let now = at("2026-12-01T10:00:00-06:00");
        let facts = HealthFacts {
            last_batch_success: Some(now - Duration::minutes(31)),
            last_deliver_success: None,
            oldest_unfinished_posted_at: Some(now - Duration::minutes(61)),
            oldest_due_at: Some(now - Duration::minutes(31)),
            ..HealthFacts::default()
        };
        let thresholds = AlertSettings::default();
        let names: Vec<_> = judge(&facts, open(), &thresholds, now)
            .alerts
            .iter()
            .map(Alert::name)
            .collect();
        assert_eq!(
            names,
            [
                "McapNotifyBatchStale",
                "McapNotifyDeliveryStale",
                "McapNotifyWatermarkLag",
                "McapNotifyOldestDueMessage"
            ]
        );
        let closed = Window {
            open: false,
            closed_reason: Some("night".into()),
            next_open_at: Some(now + Duration::hours(3)),
            open_since: None,
        };
        assert_eq!(judge(&facts, closed, &thresholds, now).alerts, vec![]);
    }

    #[test]
    fn just_after_opening_only_conditions_a_closure_cannot_explain_hold() {
        let now = at("2026-12-07T06:20:00-06:00");
        let facts = HealthFacts {
            last_batch_success: Some(now - Duration::hours(60)),
            last_deliver_success: Some(now - Duration::hours(60)),
            oldest_unfinished_posted_at: Some(now - Duration::hours(50)),
            oldest_due_at: Some(now - Duration::hours(50)),
            messages_dead: 1,
            ..HealthFacts::default()
        };
        let thresholds = AlertSettings::default();
        let names = |window: Window| -> Vec<&'static str> {
            judge(&facts, window, &thresholds, now)
                .alerts
                .iter()
                .map(Alert::name)
                .collect()
        };
        // Open for 20 minutes after a weekend: only the delivery check (10 minutes) is due.
        let mut window = open();
        window.open_since = Some(now - Duration::minutes(20));
        assert_eq!(
            names(window.clone()),
            ["McapNotifyDeliveryStale", "McapNotifyDeadLetters"]
        );
        // Open for two hours: every condition counts.
        window.open_since = Some(now - Duration::hours(2));
        assert_eq!(names(window).len(), 5);
    }

    #[test]
    fn a_failed_batch_attempt_is_an_alert_with_its_error_on_one_line() {
        let now = at("2026-12-01T10:00:00-06:00");
        let mut facts = healthy(now);
        facts.batch_failures = 2;
        facts.last_batch_failure = Some((
            now - Duration::minutes(3),
            "rendering the digest:\n  template error\n  at line 3".into(),
        ));
        let alerts = judge(&facts, open(), &AlertSettings::default(), now).alerts;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].name(), "McapNotifyBatchFailed");
        let sentence = alerts[0].sentence();
        assert!(
            sentence.contains("2 batch attempt(s) failed")
                && sentence.contains("rendering the digest: template error at line 3"),
            "{sentence}"
        );
        assert!(!sentence.contains('\n'));
    }

    #[test]
    fn the_bounce_rate_needs_enough_messages_sent() {
        let now = at("2026-12-01T10:00:00-06:00");
        let thresholds = AlertSettings::default();
        let mut facts = healthy(now);
        facts.bounces = 6;
        let alerts = judge(&facts, open(), &thresholds, now).alerts;
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0]
            .sentence()
            .contains("6 hard or soft bounces for 100"));
        facts.messages_sent = 19;
        assert_eq!(judge(&facts, open(), &thresholds, now).alerts, vec![]);
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(42), "42s");
        assert_eq!(span(125), "2m");
        assert_eq!(span(3 * 3600 + 5 * 60), "3h 05m");
        assert_eq!(span(2 * 86_400 + 4 * 3600 + 7), "2d 4h");
    }
}
