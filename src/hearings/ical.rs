//! iCalendar (RFC 5545) attachments for hearing and payment-deadline notices.
//!
//! Why this module exists: a notice mail carries an `.ics` attachment so the
//! recipient can put the hearing into their calendar. When the hearing moves
//! or is cancelled, the next mail must *update or remove that same entry*
//! instead of adding a second one. Mail clients match entries by `UID` and
//! take the one with the highest `SEQUENCE`, so callers must keep the UID
//! stable per event and raise the sequence with every change.
//!
//! Times are written as local wall-clock time with `TZID=<IANA name>` plus a
//! matching `VTIMEZONE`, so the entry shows the court's local time even for
//! recipients in another zone. The `VTIMEZONE` is derived from `chrono-tz`
//! data (every UTC-offset change from the year before the event to the year
//! after), not hard-coded for one zone.
//!
//! The text is written by hand rather than with the `icalendar` crate:
//! that crate (0.17) has no public way to build a `VTIMEZONE`, and it adds a
//! random `UID` and a `DTSTAMP` of "now" to every sub-component (e.g. a
//! `VALARM`), which makes the output invalid and non-deterministic. Folding
//! (75 octets, never inside a UTF-8 character), `TEXT` escaping and CRLF line
//! ends are done here and covered by tests.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, SubsecRound,
    TimeZone, Utc,
};
use chrono_tz::{OffsetComponents, OffsetName, Tz};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// `PRODID` of every calendar object this module writes.
pub const PRODID: &str = "-//mcap-notify//hearings//EN";

/// Maximum length of one physical line in octets, without the CRLF (RFC 5545 §3.1).
const FOLD_LIMIT: usize = 75;

/// Format of a local ("floating" or `TZID`-qualified) DATE-TIME value.
const LOCAL_FORMAT: &str = "%Y%m%dT%H%M%S";

/// One hearing (or payment deadline) as a calendar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HearingEntry<'a> {
    /// Stable per event across all notices, e.g. `event-123@mcap-notify.example`.
    pub uid: &'a str,
    /// Grows with each change of the event (reschedule, cancellation).
    pub sequence: u32,
    /// One-line title, e.g. `Arraignment — 2507-CR01234`.
    pub summary: &'a str,
    /// Plain text; may span lines and contain any characters. Empty -> omitted.
    pub description: &'a str,
    /// Courtroom / address. Empty -> `LOCATION` omitted.
    pub location: &'a str,
    /// Bare e-mail address of the sender, written as `ORGANIZER:mailto:...`.
    /// RFC 5546 asks for an organizer with `PUBLISH` and `CANCEL`; `None` omits it.
    pub organizer: Option<&'a str>,
    /// Bare e-mail address of the recipient. RFC 5546 asks a `CANCEL` to name the attendees it
    /// removes the entry for, so a cancelled entry names them (`ATTENDEE:mailto:...`); a
    /// `PUBLISH` has none.
    pub attendee: Option<&'a str>,
    /// Start instant. Sub-second parts are dropped.
    pub starts_at: DateTime<Utc>,
    /// Length of the entry; zero or negative -> no `DTEND` (ends at its start).
    pub duration: Duration,
    /// Whether the hearing was cancelled (`METHOD:CANCEL`, `STATUS:CANCELLED`).
    pub cancelled: bool,
    /// `DTSTAMP`: when this version of the object was created.
    pub stamp: DateTime<Utc>,
}

/// The iTIP method of the object: `"PUBLISH"`, or `"CANCEL"` for a cancelled entry.
///
/// The same value belongs into the attachment's MIME type, see [`content_type`].
pub fn method(entry: &HearingEntry) -> &'static str {
    if entry.cancelled {
        "CANCEL"
    } else {
        "PUBLISH"
    }
}

/// MIME type for the attachment, e.g. `text/calendar; charset=UTF-8; method=PUBLISH`.
pub fn content_type(entry: &HearingEntry) -> String {
    format!("text/calendar; charset=UTF-8; method={}", method(entry))
}

/// Renders `entry` as a complete `VCALENDAR` with times shown in `zone`.
///
/// The output uses CRLF line ends, is folded at 75 octets and depends only
/// on the arguments (same input, same bytes).
pub fn render(entry: &HearingEntry, zone: Tz) -> String {
    let start = entry.starts_at.trunc_subsecs(0);
    let end =
        (entry.duration > Duration::zero()).then(|| (start + entry.duration).trunc_subsecs(0));

    let mut w = Writer::default();
    w.line("BEGIN:VCALENDAR");
    w.line("VERSION:2.0");
    w.text("PRODID", PRODID);
    w.line("CALSCALE:GREGORIAN");
    w.line(&format!("METHOD:{}", method(entry)));

    write_vtimezone(&mut w, zone, start);

    w.line("BEGIN:VEVENT");
    w.text("UID", entry.uid);
    w.line(&format!("SEQUENCE:{}", entry.sequence));
    w.line(&format!("DTSTAMP:{}", utc_value(entry.stamp)));
    w.line(&date_time_property("DTSTART", start, zone));
    if let Some(end) = end {
        w.line(&date_time_property("DTEND", end, zone));
    }
    w.text("SUMMARY", entry.summary);
    if !entry.description.is_empty() {
        w.text("DESCRIPTION", entry.description);
    }
    if !entry.location.is_empty() {
        w.text("LOCATION", entry.location);
    }
    if let Some(organizer) = entry.organizer {
        w.line(&format!("ORGANIZER:mailto:{}", strip_controls(organizer)));
    }
    if let Some(attendee) = entry.attendee.filter(|_| entry.cancelled) {
        w.line(&format!("ATTENDEE:mailto:{}", strip_controls(attendee)));
    }
    w.line(if entry.cancelled {
        "STATUS:CANCELLED"
    } else {
        "STATUS:CONFIRMED"
    });
    w.line("TRANSP:OPAQUE");
    if !entry.cancelled {
        w.line("BEGIN:VALARM");
        w.line("ACTION:DISPLAY");
        w.text("DESCRIPTION", &format!("Reminder: {}", entry.summary));
        w.line("TRIGGER:-P1D");
        w.line("END:VALARM");
    }
    w.line("END:VEVENT");
    w.line("END:VCALENDAR");
    w.out
}

/// Accumulates content lines, folding each one and ending it with CRLF.
#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    /// Appends one content line, folded so no physical line exceeds 75 octets.
    fn line(&mut self, content: &str) {
        let mut used = 0;
        for ch in content.chars() {
            let len = ch.len_utf8();
            if used + len > FOLD_LIMIT {
                self.out.push_str("\r\n ");
                used = 1;
            }
            self.out.push(ch);
            used += len;
        }
        self.out.push_str("\r\n");
    }

    /// Appends `NAME:value` with `value` escaped as RFC 5545 TEXT.
    fn text(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}:{}", escape_text(value)));
    }
}

/// Escapes a TEXT value (RFC 5545 §3.3.11): `\`, `;`, `,` and line breaks.
/// CRLF and lone CR count as one line break; other control characters
/// (not allowed in TEXT) except TAB are dropped.
fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let mut chars = value.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Removes control characters from a value that is not TEXT (e.g. a URI).
fn strip_controls(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// A DATE-TIME in UTC form, e.g. `20261217T193000Z`.
fn utc_value(at: DateTime<Utc>) -> String {
    format!("{}Z", at.naive_utc().format(LOCAL_FORMAT))
}

/// `NAME;TZID=<zone>:<local time>` for `at`.
///
/// A local time in the repeated hour after a fall-back change names two
/// instants and RFC 5545 reads it as the first; if `at` is the second one,
/// the property is written in UTC form instead so the instant stays exact.
fn date_time_property(name: &str, at: DateTime<Utc>, zone: Tz) -> String {
    let local = at.with_timezone(&zone).naive_local();
    let first = match zone.from_local_datetime(&local) {
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        _ => at,
    };
    if first == at {
        format!("{name};TZID={}:{}", zone.name(), local.format(LOCAL_FORMAT))
    } else {
        format!("{name}:{}", utc_value(at))
    }
}

/// The observable state of a zone at an instant: what a `STANDARD` or
/// `DAYLIGHT` sub-component describes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observance {
    /// Total offset from UTC in seconds.
    utc_offset: i32,
    /// Daylight-saving time in effect (offset above the zone's base offset).
    daylight: bool,
    /// Abbreviation such as `CST`, if the data has one.
    name: Option<String>,
}

fn observance_at(zone: Tz, utc: NaiveDateTime) -> Observance {
    let offset = zone.offset_from_utc_datetime(&utc);
    Observance {
        utc_offset: offset.fix().local_minus_utc(),
        daylight: offset.dst_offset() > Duration::zero(),
        name: offset.abbreviation().map(str::to_owned),
    }
}

/// A change of observance at `at` (UTC).
#[derive(Debug)]
struct Transition {
    at: NaiveDateTime,
    from: Observance,
    to: Observance,
}

/// All observance changes of `zone` in `[from, until)`, found by stepping
/// hourly and then bisecting to the second (tz data changes on whole seconds).
fn transitions(zone: Tz, from: NaiveDateTime, until: NaiveDateTime) -> Vec<Transition> {
    let step = Duration::hours(1);
    let mut found = Vec::new();
    let mut t = from;
    let mut before = observance_at(zone, t);
    while t < until {
        let next = (t + step).min(until);
        let after = observance_at(zone, next);
        if after != before {
            // `lo` still has the old observance, `hi` already the new one.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if observance_at(zone, mid) == before {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let to = observance_at(zone, hi);
            found.push(Transition {
                at: hi,
                from: before,
                to: to.clone(),
            });
            before = to;
        }
        t = next;
    }
    found
}

/// The observance changes of `zone` from January 1st of the year before `year` to the end of the
/// year after it. Finding them scans three years hour by hour, so each zone and year is scanned
/// once per process: a run writes many entries in the same few years.
fn transitions_around(zone: Tz, year: i32) -> Arc<Vec<Transition>> {
    type Scanned = HashMap<(Tz, i32), Arc<Vec<Transition>>>;
    static SCANNED: LazyLock<Mutex<Scanned>> = LazyLock::new(Mutex::default);
    let mut scanned = SCANNED.lock().unwrap_or_else(PoisonError::into_inner);
    scanned
        .entry((zone, year))
        .or_insert_with(|| Arc::new(transitions(zone, jan_first(year - 1), jan_first(year + 2))))
        .clone()
}

/// Writes the `VTIMEZONE` for `zone`, covering the year of `event` (local)
/// and the years before and after it.
fn write_vtimezone(w: &mut Writer, zone: Tz, event: DateTime<Utc>) {
    let year = event.with_timezone(&zone).year();
    let window_start = jan_first(year - 1);
    let changes = transitions_around(zone, year);

    w.line("BEGIN:VTIMEZONE");
    w.text("TZID", zone.name());
    // Without a change at or before the event, the observance in force at
    // the window start must be stated explicitly (also the case for zones
    // without any changes, such as UTC or America/Phoenix).
    if changes.first().is_none_or(|c| c.at > event.naive_utc()) {
        let initial = observance_at(zone, window_start);
        write_observance(w, window_start, &initial, &initial);
    }
    for change in changes.iter() {
        write_observance(w, change.at, &change.from, &change.to);
    }
    w.line("END:VTIMEZONE");
}

fn jan_first(year: i32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("January 1st exists in every year chrono supports")
}

/// One `STANDARD`/`DAYLIGHT` sub-component starting at `at` (UTC). Its
/// `DTSTART` is the local time of the observance in effect before it.
fn write_observance(w: &mut Writer, at: NaiveDateTime, from: &Observance, to: &Observance) {
    let kind = if to.daylight { "DAYLIGHT" } else { "STANDARD" };
    let onset = at + Duration::seconds(i64::from(from.utc_offset));
    w.line(&format!("BEGIN:{kind}"));
    w.line(&format!("DTSTART:{}", onset.format(LOCAL_FORMAT)));
    w.line(&format!(
        "TZOFFSETFROM:{}",
        utc_offset_value(from.utc_offset)
    ));
    w.line(&format!("TZOFFSETTO:{}", utc_offset_value(to.utc_offset)));
    if let Some(name) = &to.name {
        w.text("TZNAME", name);
    }
    w.line(&format!("END:{kind}"));
}

/// UTC-OFFSET value (RFC 5545 §3.3.14): `+HHMM`, or `+HHMMSS` when seconds
/// are non-zero; zero is `+0000`.
fn utc_offset_value(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::{Chicago, Phoenix};
    use chrono_tz::Australia::Sydney;
    use chrono_tz::UTC;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid RFC 3339 in test")
            .with_timezone(&Utc)
    }

    fn entry(starts_at: &str) -> HearingEntry<'static> {
        HearingEntry {
            uid: "event-123@mcap-notify.example",
            sequence: 2,
            summary: "Arraignment — 2507-CR01234",
            description: "Courtroom 4B.\nBring your ID, case number; and papers.",
            location: "Cook County Courthouse, 50 W Washington St",
            organizer: None,
            attendee: Some("ann@example.org"),
            starts_at: utc(starts_at),
            duration: Duration::hours(1),
            cancelled: false,
            stamp: utc("2026-11-20T08:15:00Z"),
        }
    }

    /// Undoes folding (RFC 5545 §3.1) and splits into content lines.
    fn unfolded(ics: &str) -> Vec<String> {
        ics.replace("\r\n ", "")
            .split("\r\n")
            .map(str::to_owned)
            .collect()
    }

    fn has_line(ics: &str, line: &str) -> bool {
        unfolded(ics).iter().any(|l| l == line)
    }

    /// Content lines of the VEVENT only.
    fn event_lines(ics: &str) -> Vec<String> {
        unfolded(ics)
            .into_iter()
            .skip_while(|l| l != "BEGIN:VEVENT")
            .take_while(|l| l != "END:VEVENT")
            .collect()
    }

    /// (kind, content lines) of each STANDARD/DAYLIGHT sub-component.
    fn observances(ics: &str) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        let mut current: Option<(String, Vec<String>)> = None;
        for l in unfolded(ics) {
            match l.as_str() {
                "BEGIN:STANDARD" | "BEGIN:DAYLIGHT" => {
                    current = Some((l["BEGIN:".len()..].to_owned(), Vec::new()))
                }
                "END:STANDARD" | "END:DAYLIGHT" => out.extend(current.take()),
                _ => {
                    if let Some((_, lines)) = current.as_mut() {
                        lines.push(l)
                    }
                }
            }
        }
        out
    }

    fn assert_well_formed(ics: &str) {
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        let body = ics.strip_suffix("\r\n").unwrap();
        for line in body.split("\r\n") {
            assert!(
                !line.contains('\r') && !line.contains('\n'),
                "bare CR/LF in {line:?}"
            );
            assert!(line.len() <= FOLD_LIMIT, "{} octets: {line:?}", line.len());
        }
    }

    #[test]
    fn long_non_ascii_text_is_folded_at_75_octets_on_char_boundaries() {
        let description =
            "Verhandlung über Räumungsklage — Zeugin: Łucja Żółćwska; Dolmetscher: 日本語・中文, \
                           Ort: Saal Ⅳ (Erdgeschoß). "
                .repeat(6);
        let e = HearingEntry {
            description: &description,
            ..entry("2026-12-17T19:30:00Z")
        };
        let ics = render(&e, Chicago);
        assert_well_formed(&ics);
        let raw_desc = ics
            .split("\r\nDESCRIPTION:")
            .nth(1)
            .unwrap()
            .split("\r\nLOCATION")
            .next()
            .unwrap();
        let physical: Vec<&str> = raw_desc.split("\r\n").collect();
        assert!(physical.len() > 5, "description should be folded");
        assert!(physical[1..].iter().all(|l| l.starts_with(' ')));
        // The first physical line carries "DESCRIPTION:" (12 octets) in front.
        assert!(physical[0].len() + 12 <= FOLD_LIMIT);
        // Full lines are used: a fold only happens when the next char does not fit.
        assert!(physical[0].len() + 12 > FOLD_LIMIT - 4);
        assert!(has_line(
            &ics,
            &format!("DESCRIPTION:{}", escape_text(&description))
        ));
    }

    #[test]
    fn folding_exact_boundary() {
        let mut w = Writer::default();
        w.line(&"a".repeat(75));
        w.line(&"b".repeat(76));
        w.line(&format!("{}é", "c".repeat(74)));
        assert_eq!(
            w.out,
            format!(
                "{}\r\n{}\r\n b\r\n{}\r\n é\r\n",
                "a".repeat(75),
                "b".repeat(75),
                "c".repeat(74)
            )
        );
    }

    #[test]
    fn text_escaping() {
        assert_eq!(
            escape_text("a,b;c\\d\r\ne\nf\rg\th\u{7}i:j"),
            "a\\,b\\;c\\\\d\\ne\\nf\\ng\th".to_owned() + "i:j"
        );
        let e = HearingEntry {
            summary: "Hearing; room 2, floor 3 \\ annex",
            ..entry("2026-12-17T19:30:00Z")
        };
        let ics = render(&e, Chicago);
        assert!(has_line(
            &ics,
            "SUMMARY:Hearing\\; room 2\\, floor 3 \\\\ annex"
        ));
        assert!(has_line(
            &ics,
            "DESCRIPTION:Courtroom 4B.\\nBring your ID\\, case number\\; and papers."
        ));
        assert!(has_line(
            &ics,
            "LOCATION:Cook County Courthouse\\, 50 W Washington St"
        ));
    }

    #[test]
    fn scheduled_entry_publishes_confirmed_with_alarm() {
        let e = entry("2026-12-17T19:30:00Z");
        assert_eq!(method(&e), "PUBLISH");
        assert_eq!(
            content_type(&e),
            "text/calendar; charset=UTF-8; method=PUBLISH"
        );
        let ics = render(&e, Chicago);
        assert_well_formed(&ics);
        assert!(ics.starts_with(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mcap-notify//hearings//EN\r\n\
             CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n"
        ));
        let ev = event_lines(&ics);
        for want in [
            "UID:event-123@mcap-notify.example",
            "SEQUENCE:2",
            "DTSTAMP:20261120T081500Z",
            "STATUS:CONFIRMED",
            "TRANSP:OPAQUE",
            "BEGIN:VALARM",
            "TRIGGER:-P1D",
        ] {
            assert!(ev.iter().any(|l| l == want), "missing {want}");
        }
        assert!(!ics.contains("ORGANIZER"));
        assert!(!ics.contains("ATTENDEE"), "a PUBLISH names no attendee");
    }

    #[test]
    fn cancelled_entry_uses_cancel_method_and_status_without_alarm() {
        let e = HearingEntry {
            cancelled: true,
            sequence: 3,
            organizer: Some("notices@mcap-notify.example"),
            ..entry("2026-12-17T19:30:00Z")
        };
        assert_eq!(method(&e), "CANCEL");
        assert_eq!(
            content_type(&e),
            "text/calendar; charset=UTF-8; method=CANCEL"
        );
        let ics = render(&e, Chicago);
        assert!(has_line(&ics, "METHOD:CANCEL"));
        assert!(!has_line(&ics, "METHOD:PUBLISH"));
        assert!(has_line(&ics, "STATUS:CANCELLED"));
        assert!(!has_line(&ics, "STATUS:CONFIRMED"));
        assert!(has_line(&ics, "SEQUENCE:3"));
        assert!(has_line(
            &ics,
            "ORGANIZER:mailto:notices@mcap-notify.example"
        ));
        assert!(has_line(&ics, "ATTENDEE:mailto:ann@example.org"));
        assert!(!ics.contains("VALARM"));
    }

    #[test]
    fn empty_location_and_description_are_omitted() {
        let e = HearingEntry {
            location: "",
            description: "",
            ..entry("2026-12-17T19:30:00Z")
        };
        let ics = render(&e, Chicago);
        assert!(!ics.contains("LOCATION"));
        assert!(!event_lines(&ics)
            .iter()
            .any(|l| l.starts_with("DESCRIPTION:Courtroom")));
    }

    #[test]
    fn winter_and_summer_local_times_in_chicago() {
        let winter = render(&entry("2026-12-17T19:30:00Z"), Chicago);
        assert!(has_line(
            &winter,
            "DTSTART;TZID=America/Chicago:20261217T133000"
        ));
        assert!(has_line(
            &winter,
            "DTEND;TZID=America/Chicago:20261217T143000"
        ));
        let summer = render(&entry("2026-07-01T14:00:00Z"), Chicago);
        assert!(has_line(
            &summer,
            "DTSTART;TZID=America/Chicago:20260701T090000"
        ));
        assert!(has_line(
            &summer,
            "DTEND;TZID=America/Chicago:20260701T100000"
        ));
    }

    #[test]
    fn local_times_on_dst_change_days() {
        let cases = [
            // Spring forward 2026-03-08 02:00 CST -> 03:00 CDT (08:00Z).
            (
                "2026-03-08T07:30:00Z",
                "DTSTART;TZID=America/Chicago:20260308T013000",
            ),
            (
                "2026-03-08T08:00:00Z",
                "DTSTART;TZID=America/Chicago:20260308T030000",
            ),
            (
                "2026-03-08T15:00:00Z",
                "DTSTART;TZID=America/Chicago:20260308T100000",
            ),
            // Fall back 2026-11-01 02:00 CDT -> 01:00 CST (07:00Z).
            (
                "2026-11-01T06:30:00Z",
                "DTSTART;TZID=America/Chicago:20261101T013000",
            ),
            ("2026-11-01T07:00:00Z", "DTSTART:20261101T070000Z"),
            ("2026-11-01T07:30:00Z", "DTSTART:20261101T073000Z"),
            (
                "2026-11-01T08:00:00Z",
                "DTSTART;TZID=America/Chicago:20261101T020000",
            ),
            (
                "2026-11-01T15:00:00Z",
                "DTSTART;TZID=America/Chicago:20261101T090000",
            ),
        ];
        for (at, want) in cases {
            let ics = render(&entry(at), Chicago);
            assert!(has_line(&ics, want), "{at}: want {want}\n{ics}");
        }
    }

    #[test]
    fn chicago_vtimezone_has_standard_and_daylight_for_three_years() {
        let ics = render(&entry("2026-12-17T19:30:00Z"), Chicago);
        assert!(has_line(&ics, "TZID:America/Chicago"));
        let obs = observances(&ics);
        let line = |kind: &str, start: &str, from: &str, to: &str, name: &str| {
            (
                kind.to_owned(),
                vec![
                    format!("DTSTART:{start}"),
                    format!("TZOFFSETFROM:{from}"),
                    format!("TZOFFSETTO:{to}"),
                    format!("TZNAME:{name}"),
                ],
            )
        };
        assert_eq!(
            obs,
            vec![
                line("DAYLIGHT", "20250309T020000", "-0600", "-0500", "CDT"),
                line("STANDARD", "20251102T020000", "-0500", "-0600", "CST"),
                line("DAYLIGHT", "20260308T020000", "-0600", "-0500", "CDT"),
                line("STANDARD", "20261101T020000", "-0500", "-0600", "CST"),
                line("DAYLIGHT", "20270314T020000", "-0600", "-0500", "CDT"),
                line("STANDARD", "20271107T020000", "-0500", "-0600", "CST"),
            ]
        );
    }

    #[test]
    fn zones_without_changes_get_one_standard() {
        let ics = render(&entry("2026-12-17T19:30:00Z"), UTC);
        assert!(has_line(&ics, "TZID:UTC"));
        assert!(has_line(&ics, "DTSTART;TZID=UTC:20261217T193000"));
        assert_eq!(
            observances(&ics),
            vec![(
                "STANDARD".to_owned(),
                vec![
                    "DTSTART:20250101T000000".to_owned(),
                    "TZOFFSETFROM:+0000".to_owned(),
                    "TZOFFSETTO:+0000".to_owned(),
                    "TZNAME:UTC".to_owned(),
                ]
            )]
        );
        let ics = render(&entry("2026-07-01T14:00:00Z"), Phoenix);
        let obs = observances(&ics);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].0, "STANDARD");
        assert!(obs[0].1.contains(&"TZOFFSETTO:-0700".to_owned()));
        assert!(obs[0].1.contains(&"TZNAME:MST".to_owned()));
        assert!(has_line(
            &ics,
            "DTSTART;TZID=America/Phoenix:20260701T070000"
        ));
    }

    #[test]
    fn southern_hemisphere_zone() {
        // Sydney: AEDT (+11) in January, AEST (+10) in July.
        let ics = render(&entry("2026-07-01T00:00:00Z"), Sydney);
        assert!(has_line(
            &ics,
            "DTSTART;TZID=Australia/Sydney:20260701T100000"
        ));
        let obs = observances(&ics);
        assert!(obs.iter().any(|(k, _)| k == "DAYLIGHT"));
        assert!(obs.iter().any(|(k, _)| k == "STANDARD"));
        // 2026-04-05 03:00 AEDT -> 02:00 AEST.
        assert!(obs.contains(&(
            "STANDARD".to_owned(),
            vec![
                "DTSTART:20260405T030000".to_owned(),
                "TZOFFSETFROM:+1100".to_owned(),
                "TZOFFSETTO:+1000".to_owned(),
                "TZNAME:AEST".to_owned(),
            ]
        )));
    }

    #[test]
    fn transitions_are_found_to_the_second() {
        let changes = transitions(Chicago, jan_first(2026), jan_first(2027));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].at.to_string(), "2026-03-08 08:00:00");
        assert_eq!(changes[1].at.to_string(), "2026-11-01 07:00:00");
        assert!(!changes[0].from.daylight && changes[0].to.daylight);
        // India: +05:30, no changes.
        assert!(transitions(chrono_tz::Asia::Kolkata, jan_first(2025), jan_first(2028)).is_empty());
    }

    #[test]
    fn utc_offset_formatting() {
        assert_eq!(utc_offset_value(0), "+0000");
        assert_eq!(utc_offset_value(-6 * 3600), "-0600");
        assert_eq!(utc_offset_value(5 * 3600 + 30 * 60), "+0530");
        assert_eq!(utc_offset_value(-(3 * 3600 + 52 * 60 + 58)), "-035258");
    }

    #[test]
    fn zero_duration_has_no_dtend_and_subseconds_are_dropped() {
        let e = HearingEntry {
            duration: Duration::zero(),
            starts_at: utc("2026-12-17T19:30:00.750Z"),
            stamp: utc("2026-11-20T08:15:00.999Z"),
            ..entry("2026-12-17T19:30:00Z")
        };
        let ics = render(&e, Chicago);
        assert!(!ics.contains("DTEND"));
        assert!(has_line(
            &ics,
            "DTSTART;TZID=America/Chicago:20261217T133000"
        ));
        assert!(has_line(&ics, "DTSTAMP:20261120T081500Z"));
    }

    #[test]
    fn output_is_deterministic_and_matches_golden() {
        let e = entry("2026-12-17T19:30:00Z");
        let a = render(&e, Chicago);
        assert_eq!(a, render(&e, Chicago));
        let vtimezone: String = [
            ("DAYLIGHT", "20250309T020000", "-0600", "-0500", "CDT"),
            ("STANDARD", "20251102T020000", "-0500", "-0600", "CST"),
            ("DAYLIGHT", "20260308T020000", "-0600", "-0500", "CDT"),
            ("STANDARD", "20261101T020000", "-0500", "-0600", "CST"),
            ("DAYLIGHT", "20270314T020000", "-0600", "-0500", "CDT"),
            ("STANDARD", "20271107T020000", "-0500", "-0600", "CST"),
        ]
        .iter()
        .map(|(k, s, f, t, n)| {
            format!(
                "BEGIN:{k}\r\nDTSTART:{s}\r\nTZOFFSETFROM:{f}\r\nTZOFFSETTO:{t}\r\n\
                 TZNAME:{n}\r\nEND:{k}\r\n"
            )
        })
        .collect();
        let expected = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mcap-notify//hearings//EN\r\n\
             CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nBEGIN:VTIMEZONE\r\n\
             TZID:America/Chicago\r\n{vtimezone}END:VTIMEZONE\r\nBEGIN:VEVENT\r\n\
             UID:event-123@mcap-notify.example\r\nSEQUENCE:2\r\n\
             DTSTAMP:20261120T081500Z\r\n\
             DTSTART;TZID=America/Chicago:20261217T133000\r\n\
             DTEND;TZID=America/Chicago:20261217T143000\r\n\
             SUMMARY:Arraignment — 2507-CR01234\r\n\
             DESCRIPTION:Courtroom 4B.\\nBring your ID\\, case number\\; and papers.\r\n\
             LOCATION:Cook County Courthouse\\, 50 W Washington St\r\n\
             STATUS:CONFIRMED\r\nTRANSP:OPAQUE\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n\
             DESCRIPTION:Reminder: Arraignment — 2507-CR01234\r\nTRIGGER:-P1D\r\n\
             END:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        assert_eq!(a, expected);
    }
}
