//! Cross-checks the calendar attachment's writer with an independent parser: Debian's
//! python3-icalendar, driven by `tests/support/check_ics.py`. Skipped (with a message) when that
//! package is not installed, except under CI.

mod common;

use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use mcap_notify::hearings::ical::{method, render, HearingEntry};

const PYTHON: &str = "/usr/bin/python3";

fn python_icalendar_available() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import icalendar, pytz"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid RFC 3339 in test")
        .with_timezone(&Utc)
}

/// JSON string literal (enough for test data: escapes quotes, backslashes, controls).
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Case<'a> {
    name: &'a str,
    entry: HearingEntry<'a>,
    zone: Tz,
    local_start: &'a str,
    utc_start: &'a str,
}

impl Case<'_> {
    fn expected_json(&self) -> String {
        let e = &self.entry;
        let status = if e.cancelled {
            "CANCELLED"
        } else {
            "CONFIRMED"
        };
        let mut fields = vec![
            format!("\"uid\": {}", json_str(e.uid)),
            format!("\"sequence\": {}", e.sequence),
            format!("\"local_start\": {}", json_str(self.local_start)),
            format!("\"utc_start\": {}", json_str(self.utc_start)),
            format!("\"zone\": {}", json_str(self.zone.name())),
            format!("\"status\": {}", json_str(status)),
            format!("\"method\": {}", json_str(method(e))),
            format!("\"duration_minutes\": {}", e.duration.num_minutes()),
            format!("\"summary\": {}", json_str(e.summary)),
            // The parser returns text with plain LF line breaks.
            format!(
                "\"description\": {}",
                json_str(&e.description.replace("\r\n", "\n"))
            ),
        ];
        if !e.location.is_empty() {
            fields.push(format!("\"location\": {}", json_str(e.location)));
        }
        format!("{{{}}}", fields.join(", "))
    }
}

fn base(starts_at: &str) -> HearingEntry<'static> {
    HearingEntry {
        uid: "event-123@mcap-notify.example",
        sequence: 1,
        summary: "Arraignment — 2507-CR01234",
        description: "Courtroom 4B.\nPlease arrive 15 minutes early.",
        location: "Cook County Courthouse, 50 W Washington St",
        organizer: Some("notices@mcap-notify.example"),
        attendee: Some("ann@example.org"),
        starts_at: utc(starts_at),
        duration: Duration::hours(1),
        cancelled: false,
        stamp: utc("2026-11-20T08:15:00Z"),
    }
}

#[test]
fn python_icalendar_accepts_rendered_entries() {
    if !python_icalendar_available() {
        assert!(
            !common::under_ci(),
            "CI must install python3-icalendar (see .ci/run)"
        );
        eprintln!(
            "SKIP: `{PYTHON} -c 'import icalendar'` failed; install python3-icalendar \
             to run this cross-check"
        );
        return;
    }
    let long_description = "Räumungsklage gegen Müller, Jürgen; Zeugin: Łucja Żółćwska, \
                            Dolmetscher: 日本語・中文 — Saal Ⅳ (Erdgeschoß), bitte \\ Ausweis mitbringen.\r\n"
        .repeat(5);
    let cases = [
        Case {
            name: "winter",
            entry: base("2026-12-17T19:30:00Z"),
            zone: chrono_tz::America::Chicago,
            local_start: "2026-12-17 13:30",
            utc_start: "2026-12-17 19:30",
        },
        Case {
            name: "summer",
            entry: HearingEntry {
                sequence: 4,
                ..base("2026-07-01T14:00:00Z")
            },
            zone: chrono_tz::America::Chicago,
            local_start: "2026-07-01 09:00",
            utc_start: "2026-07-01 14:00",
        },
        Case {
            name: "cancelled",
            entry: HearingEntry {
                sequence: 5,
                cancelled: true,
                ..base("2026-12-17T19:30:00Z")
            },
            zone: chrono_tz::America::Chicago,
            local_start: "2026-12-17 13:30",
            utc_start: "2026-12-17 19:30",
        },
        Case {
            name: "long-non-ascii",
            entry: HearingEntry {
                summary: "Pretrial; hearing, room 2 — Müller",
                description: &long_description,
                ..base("2026-03-08T15:00:00Z")
            },
            zone: chrono_tz::America::Chicago,
            local_start: "2026-03-08 10:00",
            utc_start: "2026-03-08 15:00",
        },
        Case {
            name: "fall-back-day",
            entry: base("2026-11-01T15:00:00Z"),
            zone: chrono_tz::America::Chicago,
            local_start: "2026-11-01 09:00",
            utc_start: "2026-11-01 15:00",
        },
        Case {
            name: "phoenix-no-dst",
            entry: HearingEntry {
                location: "",
                ..base("2026-07-01T16:00:00Z")
            },
            zone: chrono_tz::America::Phoenix,
            local_start: "2026-07-01 09:00",
            utc_start: "2026-07-01 16:00",
        },
        Case {
            name: "utc",
            entry: base("2026-07-01T16:00:00Z"),
            zone: chrono_tz::UTC,
            local_start: "2026-07-01 16:00",
            utc_start: "2026-07-01 16:00",
        },
        Case {
            name: "sydney",
            entry: base("2026-07-01T00:00:00Z"),
            zone: chrono_tz::Australia::Sydney,
            local_start: "2026-07-01 10:00",
            utc_start: "2026-07-01 00:00",
        },
    ];

    let dir = std::env::temp_dir().join(format!("mcap-ics-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/check_ics.py");
    let mut failures = Vec::new();
    for case in &cases {
        let path = dir.join(format!("{}.ics", case.name));
        std::fs::write(&path, render(&case.entry, case.zone)).expect("write .ics");
        let out = Command::new(PYTHON)
            .arg(&script)
            .arg(&path)
            .arg(case.expected_json())
            .output()
            .expect("run check_ics.py");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprint!("{}: {text}", case.name);
        if !out.status.success() {
            failures.push(format!("{}: {text}", case.name));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "check_ics.py failed:\n{}",
        failures.join("\n")
    );
}
