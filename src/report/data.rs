//! What the report shows, worked out from the rows the store read: headline figures, run marks
//! for the timeline, counts per time bucket and latency percentiles. Plain values only, so the
//! arithmetic is tested without a page or a database.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::calendar::ClosedSpan;
use crate::model::Outage;
use crate::store::{ReportDeadLetter, ReportRows, Suppression};

/// The half-open stretch of time `[from, to)` a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// How a run (or a batch attempt) ended, as the timeline colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Done,
    Skipped,
    Running,
    Interrupted,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Done,
        Outcome::Skipped,
        Outcome::Running,
        Outcome::Interrupted,
        Outcome::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped => "skipped",
            Outcome::Running => "running",
            Outcome::Interrupted => "interrupted",
            Outcome::Failed => "failed",
        }
    }
}

/// One mark on the timeline: a run, a stretch of folded skips (`until` its last tick), or a
/// failed or interrupted attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMark {
    pub at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    /// What a pointer over the mark says.
    pub label: String,
    /// A run that found nothing new: drawn faintly so runs with work stand out.
    pub faint: bool,
}

/// The headline figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headline {
    /// Done runs that claimed entries, queued or held something.
    pub runs_done: u64,
    /// Done runs that found nothing new: counted apart so they do not swell `runs_done`.
    pub runs_empty: u64,
    /// Scheduler ticks skipped because the service was closed (folded rows count each tick).
    pub runs_skipped: u64,
    pub runs_failed: u64,
    pub runs_interrupted: u64,
    pub digests_queued: u64,
    pub messages_sent: u64,
    pub latency: Option<LatencyStat>,
    pub bounces: u64,
    pub dead_letters: u64,
    pub suppressions: u64,
}

/// Counts in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub digests: u64,
    pub sent: u64,
}

/// Posting-to-sending latency over a set of (account, entry) pairs, nearest-rank percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyStat {
    pub pairs: u64,
    pub median: Duration,
    pub p99: Duration,
}

impl LatencyStat {
    /// None for no values. Sorts `values`.
    pub fn of(values: &mut [Duration]) -> Option<LatencyStat> {
        if values.is_empty() {
            return None;
        }
        values.sort();
        Some(LatencyStat {
            pairs: values.len() as u64,
            median: nearest_rank(values, 50),
            p99: nearest_rank(values, 99),
        })
    }
}

/// The smallest value with at least `pct` percent of the values at or below it.
fn nearest_rank(sorted: &[Duration], pct: usize) -> Duration {
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Everything on the page, worked out.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub period: Period,
    pub zone: Tz,
    pub headline: Headline,
    pub marks: Vec<RunMark>,
    pub closed: Vec<ClosedSpan>,
    /// The outages over the period, whole: their real start and end, not cut to the period.
    pub outages: Vec<Outage>,
    /// Whether `buckets` are hours (else local days).
    pub hourly: bool,
    pub buckets: Vec<Bucket>,
    /// Per local day with any pair sent.
    pub latency_by_day: Vec<(NaiveDate, LatencyStat)>,
    pub bounces: Vec<(String, u64)>,
    pub dead_letters: Vec<ReportDeadLetter>,
    pub suppressions: Vec<Suppression>,
}

/// Periods up to this long are counted per hour; longer ones per day.
const HOURLY_UP_TO: i64 = 14;

impl ReportData {
    pub fn build(rows: ReportRows, closed: Vec<ClosedSpan>, period: Period, zone: Tz) -> Self {
        let mut headline = Headline::default();
        let mut marks = Vec::new();
        let mut digests_at = Vec::new();
        for run in &rows.runs {
            let outcome = match run.status.as_str() {
                "done" => Outcome::Done,
                "skipped" => Outcome::Skipped,
                _ => Outcome::Running,
            };
            let started_inside = period.contains(run.started_at);
            let faint = outcome == Outcome::Done
                && run.entries_claimed == 0
                && run.totals.digests_queued == 0
                && run.totals.accounts_held == 0;
            let label = match outcome {
                Outcome::Skipped => {
                    headline.runs_skipped += run.ticks;
                    format!(
                        "run {}: skipped {} time(s), service closed ({})",
                        run.run_id,
                        run.ticks,
                        run.skip_reason.as_deref().unwrap_or("closed")
                    )
                }
                Outcome::Done if started_inside && faint => {
                    headline.runs_empty += 1;
                    format!("run {}: nothing new", run.run_id)
                }
                Outcome::Done if started_inside => {
                    headline.runs_done += 1;
                    headline.digests_queued += run.totals.digests_queued;
                    digests_at.push((run.started_at, run.totals.digests_queued));
                    format!(
                        "run {}: {} entries, {} pairs, {} digests queued",
                        run.run_id,
                        run.entries_claimed,
                        run.totals.pairs_matched,
                        run.totals.digests_queued
                    )
                }
                // A run that started before the period belongs to the period before.
                Outcome::Done => continue,
                _ => format!("run {}: started, not finished", run.run_id),
            };
            let until = (outcome == Outcome::Skipped && run.ticks > 1)
                .then_some(run.finished_at)
                .flatten();
            marks.push(RunMark {
                at: run.started_at.max(period.from),
                until: until.map(|u| u.min(period.to)),
                outcome,
                label,
                faint,
            });
        }
        for failure in &rows.failures {
            let outcome = if failure.outcome == "interrupted" {
                headline.runs_interrupted += 1;
                Outcome::Interrupted
            } else {
                headline.runs_failed += 1;
                Outcome::Failed
            };
            let run = failure
                .run_id
                .map(|id| format!("run {id}"))
                .unwrap_or_else(|| "a batch attempt".into());
            marks.push(RunMark {
                at: failure.at,
                until: None,
                outcome,
                label: format!("{run} {}: {}", outcome.name(), failure.error),
                faint: false,
            });
        }
        marks.sort_by_key(|m| (m.at, m.outcome));

        let hourly = period.to - period.from <= Duration::days(HOURLY_UP_TO);
        let mut buckets = bucket_edges(period, zone, hourly);
        for (at, n) in digests_at {
            if let Some(b) = bucket_of(&mut buckets, at) {
                b.digests += n;
            }
        }
        for (hour, n) in &rows.sent_per_hour {
            headline.messages_sent += n;
            if let Some(b) = bucket_of(&mut buckets, (*hour).max(period.from)) {
                b.sent += n;
            }
        }

        let mut all: Vec<Duration> = rows.latencies.iter().map(|(_, d)| *d).collect();
        headline.latency = LatencyStat::of(&mut all);
        let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<Duration>> = Default::default();
        for (at, d) in &rows.latencies {
            by_day
                .entry(at.with_timezone(&zone).date_naive())
                .or_default()
                .push(*d);
        }
        let latency_by_day = by_day
            .into_iter()
            .filter_map(|(day, mut v)| LatencyStat::of(&mut v).map(|s| (day, s)))
            .collect();

        headline.bounces = rows.bounces.iter().map(|(_, n)| n).sum();
        headline.dead_letters = rows.dead_letters.len() as u64;
        headline.suppressions = rows.suppressions.len() as u64;
        ReportData {
            period,
            zone,
            headline,
            marks,
            closed,
            outages: Vec::new(),
            hourly,
            buckets,
            latency_by_day,
            bounces: rows.bounces,
            dead_letters: rows.dead_letters,
            suppressions: rows.suppressions,
        }
    }

    /// Nothing happened in the period: no run, no attempt, no message, no bounce.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
            && self.headline.messages_sent == 0
            && self.bounces.is_empty()
            && self.dead_letters.is_empty()
            && self.suppressions.is_empty()
    }
}

/// The buckets covering the period: whole UTC hours (a whole hour in any zone this service
/// knows), or local days.
fn bucket_edges(period: Period, zone: Tz, hourly: bool) -> Vec<Bucket> {
    let first = if hourly {
        let hour = 3_600;
        let s = period.from.timestamp().div_euclid(hour) * hour;
        DateTime::from_timestamp(s, 0).unwrap_or(period.from)
    } else {
        local_midnight(zone, period.from.with_timezone(&zone).date_naive())
    };
    let mut out = Vec::new();
    let mut start = first;
    while start < period.to {
        let end = if hourly {
            start + Duration::hours(1)
        } else {
            let day = start.with_timezone(&zone).date_naive();
            local_midnight(zone, day + Duration::days(1))
        };
        out.push(Bucket {
            start,
            end,
            digests: 0,
            sent: 0,
        });
        start = end;
    }
    out
}

/// The first instant of a local day (midnight, or the end of a DST gap at midnight).
pub fn local_midnight(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut t = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..=120 {
        if let Some(local) = zone.from_local_datetime(&t).earliest() {
            return local.with_timezone(&Utc);
        }
        t += Duration::minutes(1);
    }
    Utc.from_utc_datetime(&t)
}

fn bucket_of(buckets: &mut [Bucket], t: DateTime<Utc>) -> Option<&mut Bucket> {
    let i = buckets.partition_point(|b| b.end <= t);
    buckets.get_mut(i).filter(|b| b.start <= t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunRecord;

    fn mins(v: &[i64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::minutes(*m)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let stat = LatencyStat::of(&mut mins(&[5, 1, 4, 2, 3])).unwrap();
        assert_eq!(
            (stat.pairs, stat.median, stat.p99),
            (5, Duration::minutes(3), Duration::minutes(5))
        );
        let mut hundred: Vec<Duration> = (1..=100).map(Duration::minutes).collect();
        let stat = LatencyStat::of(&mut hundred).unwrap();
        assert_eq!(
            (stat.median, stat.p99),
            (Duration::minutes(50), Duration::minutes(99))
        );
        assert_eq!(LatencyStat::of(&mut []), None);
    }

    fn run(id: i64, status: &str, at: DateTime<Utc>, ticks: u64, digests: u64) -> RunRecord {
        RunRecord {
            run_id: id,
            status: status.into(),
            skip_reason: (status == "skipped").then(|| "night".into()),
            started_at: at,
            finished_at: Some(at + Duration::minutes(ticks as i64)),
            first_seq: None,
            last_seq: None,
            entries_claimed: 0,
            totals: crate::store::RunTotals {
                digests_queued: digests,
                ..Default::default()
            },
            ticks,
        }
    }

    #[test]
    fn figures_count_runs_in_the_period_and_put_digests_in_their_hour() {
        let zone: Tz = "America/Chicago".parse().unwrap();
        let from = DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
            .unwrap()
            .to_utc();
        let period = Period {
            from,
            to: from + Duration::days(2),
        };
        let h = |hours: i64| from + Duration::hours(hours);
        let rows = ReportRows {
            runs: vec![
                // Started before the period: it belongs to the period before.
                run(1, "done", from - Duration::hours(1), 1, 50),
                run(2, "skipped", h(2), 4, 0),
                run(3, "done", h(5) + Duration::minutes(10), 1, 7),
                run(4, "done", h(5) + Duration::minutes(40), 1, 3),
                run(5, "running", h(9), 1, 0),
            ],
            failures: vec![
                crate::store::ReportFailure {
                    run_id: Some(5),
                    at: h(9) + Duration::minutes(1),
                    outcome: "interrupted".into(),
                    error: "stopped".into(),
                },
                crate::store::ReportFailure {
                    run_id: None,
                    at: h(11),
                    outcome: "failed".into(),
                    error: "database is locked".into(),
                },
            ],
            sent_per_hour: vec![(h(6), 9)],
            ..Default::default()
        };
        let data = ReportData::build(rows, Vec::new(), period, zone);
        let hl = &data.headline;
        assert_eq!(
            (
                hl.runs_done,
                hl.runs_skipped,
                hl.runs_failed,
                hl.runs_interrupted
            ),
            (2, 4, 1, 1)
        );
        assert_eq!((hl.digests_queued, hl.messages_sent), (10, 9));
        assert_eq!(data.buckets.len(), 48);
        assert_eq!(data.buckets[5].digests, 10);
        assert_eq!(data.buckets[6].sent, 9);
        assert_eq!(
            data.buckets.iter().map(|b| b.digests).sum::<u64>(),
            hl.digests_queued
        );
        let outcomes: Vec<Outcome> = data.marks.iter().map(|m| m.outcome).collect();
        assert_eq!(
            outcomes,
            vec![
                Outcome::Skipped,
                Outcome::Done,
                Outcome::Done,
                Outcome::Running,
                Outcome::Interrupted,
                Outcome::Failed
            ]
        );
        assert_eq!(data.marks[0].until, Some(h(2) + Duration::minutes(4)));
        assert!(!data.is_empty());
    }

    #[test]
    fn long_periods_count_per_local_day_across_a_clock_change() {
        let zone: Tz = "America/Chicago".parse().unwrap();
        let from = local_midnight(zone, NaiveDate::from_ymd_opt(2026, 10, 20).unwrap());
        let to = local_midnight(zone, NaiveDate::from_ymd_opt(2026, 11, 10).unwrap());
        let buckets = bucket_edges(Period { from, to }, zone, false);
        assert_eq!(buckets.len(), 21);
        let fall_back = buckets
            .iter()
            .find(|b| {
                b.start.with_timezone(&zone).date_naive()
                    == NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
            })
            .unwrap();
        assert_eq!(fall_back.end - fall_back.start, Duration::hours(25));
    }
}
