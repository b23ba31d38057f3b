//! The report's charts as inline SVG, written directly: a time axis in the service zone, a
//! timeline of runs over shaded closed periods, bars over time, grouped bars per category and
//! horizontal bars. Each function returns one `<svg>` element; every text in it is escaped.

use std::fmt::Write;

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;

use super::html::escape;

/// The width every chart is drawn at (the page scales it down on narrow screens).
pub const WIDTH: f64 = 1080.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;

/// Maps instants of `[from, to)` onto the horizontal plot area.
pub struct TimeAxis {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub zone: Tz,
}

impl TimeAxis {
    fn span_secs(&self) -> f64 {
        ((self.to - self.from).num_seconds().max(1)) as f64
    }

    /// The x coordinate of `t`, clamped to the plot area.
    pub fn x(&self, t: DateTime<Utc>) -> f64 {
        let s = ((t - self.from).num_seconds() as f64 / self.span_secs()).clamp(0.0, 1.0);
        LEFT + s * (WIDTH - LEFT - RIGHT)
    }

    /// Labelled ticks: local midnights for long periods (thinned to fit), every few hours for
    /// short ones.
    fn ticks(&self) -> Vec<(f64, String)> {
        let span = self.to - self.from;
        let step_hours = match span.num_hours() {
            0..=12 => 1,
            13..=36 => 3,
            37..=72 => 6,
            _ => 24,
        };
        let mut out = Vec::new();
        let local = self.from.with_timezone(&self.zone);
        let mut t = local
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(local)
            .with_timezone(&Utc);
        let days = span.num_days().max(1);
        let every_nth_day = (days / 14 + 1) as u64;
        let mut midnights: u64 = 0;
        while t <= self.to {
            let l = t.with_timezone(&self.zone);
            let wanted = if step_hours == 24 {
                let midnight = l.hour() == 0;
                if midnight && t >= self.from {
                    midnights += 1;
                }
                midnight && midnights.saturating_sub(1).is_multiple_of(every_nth_day)
            } else {
                l.hour().is_multiple_of(step_hours)
            };
            if t >= self.from && wanted {
                let label = if l.hour() == 0 {
                    l.format("%a %b %-d").to_string()
                } else {
                    l.format("%H:%M").to_string()
                };
                out.push((self.x(t), label));
            }
            t += Duration::hours(1);
        }
        out
    }

    /// Tick marks, light vertical grid lines and labels along the bottom at `y`.
    fn draw(&self, out: &mut String, top: f64, y: f64) {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#555"/>"##,
            WIDTH - RIGHT
        );
        for (x, label) in self.ticks() {
            let _ = writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{y}" stroke="#000" stroke-opacity="0.08"/><line x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}" stroke="#555"/><text x="{x:.1}" y="{}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
                y + 4.0,
                y + 16.0,
                escape(&label)
            );
        }
    }
}

fn open(out: &mut String, height: f64, title: &str) {
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{}" font-family="sans-serif">"#,
        escape(title)
    );
    let _ = writeln!(out, "<title>{}</title>", escape(title));
}

/// A round step for about four gridlines up to `max`: 1, 2 or 5 times a power of ten.
pub fn count_step(max: f64) -> f64 {
    let raw = (max / 4.0).max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw)
}

/// A round step in seconds for about four gridlines up to `max` seconds: whole minutes,
/// hours or days.
pub fn duration_step(max: f64) -> f64 {
    const STEPS: [f64; 16] = [
        60.0,
        120.0,
        300.0,
        600.0,
        900.0,
        1_800.0,
        3_600.0,
        7_200.0,
        10_800.0,
        21_600.0,
        43_200.0,
        86_400.0,
        172_800.0,
        432_000.0,
        864_000.0,
        2_592_000.0,
    ];
    let raw = max / 4.0;
    STEPS
        .into_iter()
        .find(|s| *s >= raw)
        .unwrap_or_else(|| (raw / 86_400.0).ceil() * 86_400.0)
}

/// A vertical value axis from 0 to the first multiple of `step` at or above `max`, with a
/// labelled gridline at each step; returns the top value.
fn value_axis(
    out: &mut String,
    max: f64,
    top: f64,
    bottom: f64,
    step: f64,
    label: impl Fn(f64) -> String,
) -> f64 {
    let top_value = (max / step).ceil().max(1.0) * step;
    let mut v = 0.0;
    while v <= top_value + step / 2.0 {
        let y = bottom - v / top_value * (bottom - top);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#000" stroke-opacity="0.1"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&label(v))
        );
        v += step;
    }
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#555"/>"##
    );
    top_value
}

/// A closed stretch to shade: from, to, colour and what a pointer over it says.
pub struct Shade<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub color: &'a str,
    pub label: String,
}

/// A run mark: at, optionally until, colour and its label.
pub struct Mark<'a> {
    pub at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub color: &'a str,
    pub label: String,
    /// Which of the timeline's lanes (0 at the top) it is drawn in.
    pub lane: usize,
    /// Drawn small and pale (a run that found nothing new).
    pub faint: bool,
}

/// Runs over time, one lane per outcome, over the shaded closed periods.
pub fn timeline(axis: &TimeAxis, shades: &[Shade], marks: &[Mark], lanes: &[&str]) -> String {
    let lane_h = 32.0;
    let top = 10.0;
    let bottom = top + lane_h * lanes.len() as f64;
    let mut out = String::new();
    open(&mut out, bottom + 26.0, "Runs over time");
    for s in shades {
        let (x0, x1) = (axis.x(s.from), axis.x(s.to));
        let _ = writeln!(
            out,
            r#"<rect x="{x0:.1}" y="{top}" width="{:.1}" height="{}" fill="{}"><title>{}</title></rect>"#,
            (x1 - x0).max(0.5),
            bottom - top,
            s.color,
            escape(&s.label)
        );
    }
    for (i, name) in lanes.iter().enumerate() {
        let y = top + lane_h * (i as f64 + 0.5);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#000" stroke-opacity="0.12"/><text x="{}" y="{}" font-size="11" text-anchor="end" fill="#333">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(name)
        );
    }
    axis.draw(&mut out, top, bottom);
    for m in marks {
        let y = top + lane_h * (m.lane as f64 + 0.5);
        let x = axis.x(m.at);
        if let Some(until) = m.until {
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="6" rx="3" fill="{}" fill-opacity="0.6"><title>{}</title></rect>"#,
                y - 3.0,
                (axis.x(until) - x).max(1.0),
                m.color,
                escape(&m.label)
            );
        }
        let (r, opacity, class) = if m.faint {
            (2.5, 0.3, "faint")
        } else {
            (6.0, 1.0, "mark")
        };
        let _ = writeln!(
            out,
            r##"<circle class="{class}" cx="{x:.1}" cy="{y}" r="{r}" fill="{}" fill-opacity="{opacity}" stroke="#fff" stroke-width="1"><title>{}</title></circle>"##,
            m.color,
            escape(&m.label)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// One bar per time bucket: (from, to, value).
pub fn bars_over_time(
    axis: &TimeAxis,
    bars: &[(DateTime<Utc>, DateTime<Utc>, u64)],
    color: &str,
    title: &str,
    unit: &str,
) -> String {
    let (top, bottom) = (12.0, 152.0);
    let mut out = String::new();
    open(&mut out, bottom + 26.0, title);
    let max = bars.iter().map(|b| b.2).max().unwrap_or(0) as f64;
    let top_value = value_axis(&mut out, max, top, bottom, count_step(max), |v| {
        format!("{v:.0}")
    });
    axis.draw(&mut out, top, bottom);
    for (from, to, v) in bars.iter().filter(|b| b.2 > 0) {
        let (x0, x1) = (axis.x(*from), axis.x(*to));
        let h = *v as f64 / top_value * (bottom - top);
        let w = (x1 - x0 - 1.0).max(1.0);
        let _ = writeln!(
            out,
            r#"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"><title>{} {}: {v} {}</title></rect>"#,
            bottom - h,
            escape(
                &from
                    .with_timezone(&axis.zone)
                    .format("%a %b %-d %H:%M")
                    .to_string()
            ),
            escape(
                &to.with_timezone(&axis.zone)
                    .format("to %H:%M %Z")
                    .to_string()
            ),
            escape(unit)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A series of a grouped bar chart: name, colour, one value per category.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub values: Vec<f64>,
}

/// Bars side by side per category, each labelled with its value; `fmt` writes a value.
pub fn grouped_bars(
    categories: &[String],
    series: &[Series],
    title: &str,
    fmt: impl Fn(f64) -> String,
    step: impl Fn(f64) -> f64,
) -> String {
    let (top, bottom) = (22.0, 182.0);
    let mut out = String::new();
    open(&mut out, bottom + 26.0, title);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let top_value = value_axis(&mut out, max, top, bottom, step(max), &fmt);
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#555"/>"##,
        WIDTH - RIGHT
    );
    let n = categories.len().max(1) as f64;
    let slot = (WIDTH - LEFT - RIGHT) / n;
    let bar = (slot * 0.8 / series.len().max(1) as f64).min(60.0);
    let label_values = bar >= 34.0;
    let label_every = ((70.0 / slot).ceil() as usize).max(1);
    for (i, category) in categories.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let group = bar * series.len() as f64;
        let start = x + (slot - group) / 2.0;
        for (j, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            let h = v / top_value * (bottom - top);
            let bx = start + bar * j as f64;
            let _ = writeln!(
                out,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                bottom - h,
                (bar - 2.0).max(1.0),
                s.color,
                escape(category),
                escape(s.name),
                escape(&fmt(v))
            );
            if label_values {
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#222">{}</text>"##,
                    bx + bar / 2.0 - 1.0,
                    bottom - h - 4.0,
                    escape(&fmt(v))
                );
            }
        }
        if i % label_every == 0 {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
                x + slot / 2.0,
                bottom + 16.0,
                escape(category)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// One horizontal bar per (label, count), longest first as given, each with its count.
pub fn horizontal_bars(items: &[(String, u64)], color: &str, title: &str) -> String {
    let row = 24.0;
    let label_w = 120.0;
    let height = row * items.len() as f64 + 12.0;
    let mut out = String::new();
    open(&mut out, height, title);
    let max = items.iter().map(|i| i.1).max().unwrap_or(1).max(1) as f64;
    let room = WIDTH - label_w - RIGHT - 60.0;
    for (i, (label, n)) in items.iter().enumerate() {
        let y = 6.0 + row * i as f64;
        let w = (*n as f64 / max * room).max(1.0);
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{:.1}" font-size="12" text-anchor="end" fill="#333">{}</text><rect x="{label_w}" y="{y:.1}" width="{w:.1}" height="{}" fill="{color}"><title>{}: {n}</title></rect><text x="{:.1}" y="{:.1}" font-size="12" fill="#222">{n}</text>"##,
            label_w - 8.0,
            y + row / 2.0 + 2.0,
            escape(label),
            row - 6.0,
            escape(label),
            label_w + w + 6.0,
            y + row / 2.0 + 2.0,
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_counts_and_round_durations() {
        assert_eq!(count_step(7.0), 2.0);
        assert_eq!(count_step(0.0), 1.0);
        assert_eq!(count_step(430.0), 200.0);
        assert_eq!(duration_step(0.0), 60.0);
        assert_eq!(duration_step(85_260.0), 21_600.0);
        assert_eq!(duration_step(3_000_000.0), 864_000.0);
    }

    #[test]
    fn hostile_labels_are_escaped_in_every_chart() {
        let nasty = "<script>alert(1)</script>".to_string();
        let svg = horizontal_bars(&[(nasty.clone(), 3)], "#000", &nasty);
        assert!(!svg.contains("<script>"), "{svg}");
        let svg = grouped_bars(
            std::slice::from_ref(&nasty),
            &[Series {
                name: &nasty,
                color: "#000",
                values: vec![1.0],
            }],
            "t",
            |v| format!("{v}"),
            count_step,
        );
        assert!(!svg.contains("<script>"), "{svg}");
    }
}
