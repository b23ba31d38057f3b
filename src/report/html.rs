//! The report page: one HTML document with its styles inline and its charts as inline SVG, so
//! it opens anywhere, offline, and fetches nothing. Every text that came from the database is
//! escaped, and addresses are masked. The markup is also well-formed XML, so tools can read it.

use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};

use super::data::{Outcome, ReportData};
use super::svg::{self, Mark, Series, Shade, TimeAxis};
use crate::calendar::ClosedReason;
use crate::mask;

/// Text made safe to place in HTML or SVG, inside elements or quoted attributes.
pub fn escape(text: &str) -> String {
    handlebars::html_escape(text)
}

/// A duration as people read it: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`.
pub fn human_duration(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        3_600..=86_399 if s % 3_600 == 0 => format!("{} h", s / 3_600),
        3_600..=86_399 => format!("{} h {:02} min", s / 3_600, s % 3_600 / 60),
        _ if s % 86_400 == 0 => format!("{} d", s / 86_400),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

const OUTCOME_COLORS: [(Outcome, &str); 5] = [
    (Outcome::Done, "#2e7d32"),
    (Outcome::Skipped, "#8d8d8d"),
    (Outcome::Running, "#1565c0"),
    (Outcome::Interrupted, "#ef6c00"),
    (Outcome::Failed, "#c62828"),
];

fn outcome_color(o: Outcome) -> &'static str {
    OUTCOME_COLORS
        .iter()
        .find(|(k, _)| *k == o)
        .map(|(_, c)| *c)
        .unwrap_or("#000")
}

const CLOSED_COLORS: [(&str, &str); 4] = [
    ("night", "#dfe6f3"),
    ("weekend", "#eadff3"),
    ("holiday", "#fbeec9"),
    ("outage", "#f8d4d4"),
];

fn closed_color(reason: &ClosedReason) -> &'static str {
    CLOSED_COLORS
        .iter()
        .find(|(k, _)| *k == reason.kind())
        .map(|(_, c)| *c)
        .unwrap_or("#eee")
}

const DIGESTS_COLOR: &str = "#3f6fb5";
const SENT_COLOR: &str = "#2a9d8f";
const MEDIAN_COLOR: &str = "#3f6fb5";
const P99_COLOR: &str = "#e76f51";
const BOUNCE_COLOR: &str = "#b5563f";

const STYLE: &str = "
body { font-family: system-ui, 'DejaVu Sans', sans-serif; color: #222; margin: 24px auto;
       max-width: 1120px; padding: 0 16px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; margin: 0; line-height: 1.6; }
.meta code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0 0; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; background: #fafafa; }
.tile dt { font-size: 12px; color: #555; text-transform: uppercase; letter-spacing: .03em; }
.tile dd { margin: 4px 0 0; font-size: 22px; font-weight: 600; }
.tile dd small { font-size: 12px; font-weight: normal; color: #555; }
.legend { font-size: 13px; color: #333; margin: 4px 0 6px; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; vertical-align: -1px;
            margin-right: 4px; border-radius: 2px; border: 1px solid rgba(0,0,0,.15); }
.legend i.dot { border-radius: 50%; }
svg { max-width: 100%; height: auto; display: block; margin: 4px 0 10px; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f5f5f5; white-space: nowrap; }
td.when { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: #666; font-style: italic; }
.nothing { border: 1px dashed #bbb; border-radius: 6px; padding: 18px; color: #444;
           background: #fcfcfc; margin-top: 20px; }
footer { margin-top: 32px; color: #777; font-size: 12px; }
";

/// Dead letters and suppressions shown at most; the rest are counted.
const TABLE_ROWS: usize = 100;

/// An instant as the page writes it: `Fri Nov 27, 2026 15:54 CST`.
fn local_time(zone: chrono_tz::Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&zone)
        .format("%a %b %-d, %Y %H:%M %Z")
        .to_string()
}

/// The whole page.
pub fn page(data: &ReportData, database: &str, generated_at: DateTime<Utc>) -> String {
    let local = |t: DateTime<Utc>| local_time(data.zone, t);
    let period = format!("{} to {}", local(data.period.from), local(data.period.to));
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>mcap-notify report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&period)
    );
    let _ = write!(
        out,
        "<header>\n<h1>mcap-notify report</h1>\n<p class=\"meta\">Period <strong id=\"period\">{}</strong><br/>\
         Database <code id=\"database\">{}</code><br/>Generated {}</p>\n</header>\n",
        escape(&period),
        escape(database),
        escape(&local(generated_at))
    );
    headline(&mut out, data);
    if data.is_empty() {
        out.push_str(
            "<p class=\"nothing\" id=\"nothing\">Nothing to show for this period: no batch runs, \
             no messages sent, no bounces, dead letters or suppressions. Choose another period \
             with --from and --to.</p>\n",
        );
    } else {
        timeline(&mut out, data);
        throughput(&mut out, data);
        latency(&mut out, data);
        bounces(&mut out, data);
        dead_letters(&mut out, data, &local);
        suppressions(&mut out, data, &local);
    }
    let _ = write!(
        out,
        "<footer>Times are in {}. Latency runs from an entry's posting to the sending of the \
         message that reported it, one value per (account, entry) pair; percentiles are \
         nearest-rank.</footer>\n</body>\n</html>\n",
        escape(data.zone.name())
    );
    out
}

fn tile(out: &mut String, id: &str, title: &str, value: &str, note: &str) {
    let _ = writeln!(
        out,
        "<div class=\"tile\"><dt>{}</dt><dd><span id=\"{id}\">{}</span> <small>{}</small></dd></div>",
        escape(title),
        escape(value),
        escape(note)
    );
}

fn headline(out: &mut String, data: &ReportData) {
    let h = &data.headline;
    out.push_str("<dl class=\"tiles\" id=\"headline\">\n");
    tile(
        out,
        "runs-done",
        "Runs done",
        &h.runs_done.to_string(),
        &format!(
            "(+ {} with nothing new); {} skipped, {} failed, {} interrupted",
            h.runs_empty, h.runs_skipped, h.runs_failed, h.runs_interrupted
        ),
    );
    tile(
        out,
        "digests-queued",
        "Digests queued",
        &h.digests_queued.to_string(),
        "",
    );
    tile(
        out,
        "messages-sent",
        "Messages sent",
        &h.messages_sent.to_string(),
        "",
    );
    let (median, p99, pairs) = match h.latency {
        Some(l) => (
            human_duration(l.median),
            human_duration(l.p99),
            format!("over {} pairs", l.pairs),
        ),
        None => ("none".into(), "none".into(), "nothing sent".into()),
    };
    tile(out, "latency-median", "Latency, median", &median, &pairs);
    tile(out, "latency-p99", "Latency, p99", &p99, "");
    tile(out, "bounces", "Bounces", &h.bounces.to_string(), "");
    tile(
        out,
        "dead-letters",
        "Dead letters",
        &h.dead_letters.to_string(),
        "",
    );
    tile(
        out,
        "suppressions",
        "Suppressions",
        &h.suppressions.to_string(),
        "",
    );
    out.push_str("</dl>\n");
}

fn legend(out: &mut String, items: &[(&str, &str, bool)]) {
    out.push_str("<p class=\"legend\">");
    for (color, label, dot) in items {
        let _ = write!(
            out,
            "<span><i{} style=\"background:{color}\"></i>{}</span>",
            if *dot { " class=\"dot\"" } else { "" },
            escape(label)
        );
    }
    out.push_str("</p>\n");
}

fn axis(data: &ReportData) -> TimeAxis {
    TimeAxis {
        from: data.period.from,
        to: data.period.to,
        zone: data.zone,
    }
}

fn timeline(out: &mut String, data: &ReportData) {
    out.push_str("<section id=\"timeline\">\n<h2>Runs</h2>\n");
    let lanes: Vec<Outcome> = Outcome::ALL
        .into_iter()
        .filter(|o| data.marks.iter().any(|m| m.outcome == *o))
        .collect();
    let mut items: Vec<(&str, &str, bool)> = lanes
        .iter()
        .map(|o| (outcome_color(*o), o.name(), true))
        .collect();
    for (kind, color) in CLOSED_COLORS {
        if data.closed.iter().any(|c| c.reason.kind() == kind) {
            items.push((color, closed_label(kind), false));
        }
    }
    legend(out, &items);
    if lanes.is_empty() {
        out.push_str("<p class=\"empty\">No batch runs in this period.</p>\n");
    }
    let shades: Vec<Shade> = data
        .closed
        .iter()
        .map(|c| Shade {
            from: c.from,
            to: c.to,
            color: closed_color(&c.reason),
            label: format!("closed: {}", c.reason.describe()),
        })
        .collect();
    let marks: Vec<Mark> = data
        .marks
        .iter()
        .map(|m| Mark {
            at: m.at,
            until: m.until,
            color: outcome_color(m.outcome),
            label: mask::addresses_in(&m.label),
            lane: lanes.iter().position(|o| *o == m.outcome).unwrap_or(0),
            faint: m.faint,
        })
        .collect();
    let lane_names: Vec<&str> = if lanes.is_empty() {
        vec!["runs"]
    } else {
        lanes.iter().map(|o| o.name()).collect()
    };
    out.push_str(&svg::timeline(&axis(data), &shades, &marks, &lane_names));
    let outages = &data.outages;
    if !outages.is_empty() {
        out.push_str("<table id=\"outages\">\n<tr><th>Outage</th><th>From</th><th>To</th></tr>\n");
        for o in outages {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&o.reason),
                escape(&local_time(data.zone, o.starts_at)),
                escape(&local_time(data.zone, o.ends_at))
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

fn closed_label(kind: &str) -> &'static str {
    match kind {
        "night" => "closed: night",
        "weekend" => "closed: weekend",
        "holiday" => "closed: holiday",
        _ => "closed: outage",
    }
}

fn throughput(out: &mut String, data: &ReportData) {
    let per = if data.hourly { "hour" } else { "day" };
    let _ = writeln!(
        out,
        "<section id=\"throughput\">\n<h2>Digests queued and messages sent per {per}</h2>"
    );
    let axis = axis(data);
    let digests: Vec<_> = data
        .buckets
        .iter()
        .map(|b| (b.start, b.end, b.digests))
        .collect();
    let sent: Vec<_> = data
        .buckets
        .iter()
        .map(|b| (b.start, b.end, b.sent))
        .collect();
    legend(out, &[(DIGESTS_COLOR, "digests queued", false)]);
    out.push_str(&svg::bars_over_time(
        &axis,
        &digests,
        DIGESTS_COLOR,
        &format!("Digests queued per {per}"),
        "digests",
    ));
    legend(out, &[(SENT_COLOR, "messages sent", false)]);
    out.push_str(&svg::bars_over_time(
        &axis,
        &sent,
        SENT_COLOR,
        &format!("Messages sent per {per}"),
        "messages",
    ));
    out.push_str("</section>\n");
}

fn latency(out: &mut String, data: &ReportData) {
    out.push_str("<section id=\"latency\">\n<h2>Posting-to-sending latency</h2>\n");
    let Some(overall) = data.headline.latency else {
        out.push_str("<p class=\"empty\">No messages were sent in this period.</p>\n</section>\n");
        return;
    };
    let _ = writeln!(
        out,
        "<p>Overall: median <strong>{}</strong>, p99 <strong>{}</strong>, over {} (account, entry) pairs sent.</p>",
        human_duration(overall.median),
        human_duration(overall.p99),
        overall.pairs
    );
    legend(
        out,
        &[(MEDIAN_COLOR, "median", false), (P99_COLOR, "p99", false)],
    );
    let days: Vec<String> = data
        .latency_by_day
        .iter()
        .map(|(d, _)| d.format("%a %b %-d").to_string())
        .collect();
    let minutes = |f: fn(&super::data::LatencyStat) -> Duration| -> Vec<f64> {
        data.latency_by_day
            .iter()
            .map(|(_, s)| f(s).num_seconds() as f64)
            .collect()
    };
    out.push_str(&svg::grouped_bars(
        &days,
        &[
            Series {
                name: "median",
                color: MEDIAN_COLOR,
                values: minutes(|s| s.median),
            },
            Series {
                name: "p99",
                color: P99_COLOR,
                values: minutes(|s| s.p99),
            },
        ],
        "Latency per day: median and p99",
        |secs| human_duration(Duration::seconds(secs as i64)),
        svg::duration_step,
    ));
    out.push_str(
        "<table id=\"latency-days\">\n<tr><th>Day</th><th class=\"num\">Pairs sent</th>\
         <th class=\"num\">Median</th><th class=\"num\">p99</th></tr>\n",
    );
    for (day, s) in &data.latency_by_day {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            day.format("%a %b %-d, %Y"),
            s.pairs,
            human_duration(s.median),
            human_duration(s.p99)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn bounces(out: &mut String, data: &ReportData) {
    out.push_str("<section id=\"bounces-by-verdict\">\n<h2>Bounces by verdict</h2>\n");
    if data.bounces.is_empty() {
        out.push_str("<p class=\"empty\">No bounces in this period.</p>\n");
    } else {
        out.push_str(&svg::horizontal_bars(
            &data.bounces,
            BOUNCE_COLOR,
            "Bounces by verdict",
        ));
    }
    out.push_str("</section>\n");
}

fn more_rows(out: &mut String, total: usize) {
    if total > TABLE_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"empty\">and {} more not shown.</p>",
            total - TABLE_ROWS
        );
    }
}

fn dead_letters(out: &mut String, data: &ReportData, local: &dyn Fn(DateTime<Utc>) -> String) {
    out.push_str("<section id=\"dead-letters-list\">\n<h2>Dead letters</h2>\n");
    if data.dead_letters.is_empty() {
        out.push_str("<p class=\"empty\">No dead letters in this period.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table>\n<tr><th class=\"num\">Outbox id</th><th>Recipient</th><th>Subject</th>\
         <th>Last error</th><th>When</th></tr>\n",
    );
    for d in data.dead_letters.iter().take(TABLE_ROWS) {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"when\">{}</td></tr>",
            d.outbox_id,
            escape(&mask::address(&d.recipient)),
            escape(&mask::addresses_in(&d.subject)),
            escape(&mask::addresses_in(d.last_error.as_deref().unwrap_or(""))),
            escape(&local(d.at))
        );
    }
    out.push_str("</table>\n");
    more_rows(out, data.dead_letters.len());
    out.push_str("</section>\n");
}

fn suppressions(out: &mut String, data: &ReportData, local: &dyn Fn(DateTime<Utc>) -> String) {
    out.push_str("<section id=\"suppressions-list\">\n<h2>Suppressions</h2>\n");
    if data.suppressions.is_empty() {
        out.push_str(
            "<p class=\"empty\">No addresses were suppressed in this period.</p>\n</section>\n",
        );
        return;
    }
    out.push_str("<table>\n<tr><th>Address</th><th>Reason</th><th>When</th></tr>\n");
    for s in data.suppressions.iter().take(TABLE_ROWS) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"when\">{}</td></tr>",
            escape(&mask::address(&s.email)),
            escape(&s.reason),
            escape(&local(s.created_at))
        );
    }
    out.push_str("</table>\n");
    more_rows(out, data.suppressions.len());
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::seconds(42)), "42 s");
        assert_eq!(human_duration(Duration::minutes(12)), "12 min");
        assert_eq!(human_duration(Duration::minutes(185)), "3 h 05 min");
        assert_eq!(human_duration(Duration::hours(52)), "2 d 4 h");
        assert_eq!(human_duration(Duration::hours(12)), "12 h");
        assert_eq!(human_duration(Duration::hours(48)), "2 d");
    }
}
