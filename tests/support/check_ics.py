#!/usr/bin/python3
"""Independent check of an .ics file written by the `ical` module.

Usage: check_ics.py FILE.ics '{"uid": ..., "sequence": 2,
                               "local_start": "2026-12-17 13:30",
                               "zone": "America/Chicago",
                               "status": "CONFIRMED", "method": "PUBLISH",
                               "utc_start": "2026-12-17 19:30",       (optional)
                               "duration_minutes": 60,                (optional)
                               "summary": ..., "description": ...,    (optional)
                               "location": ...}'                      (optional)

Parses with python3-icalendar (Debian) and checks the values. DTSTART is
converted to UTC twice: with the zone of the same name from the Olson data
(pytz) and with a tz built from the file's own VTIMEZONE, so a wrong
VTIMEZONE is caught too; each STANDARD/DAYLIGHT onset is also compared with
the Olson data. Prints what failed and exits 1 on any mismatch.
"""

import json
import sys
from datetime import datetime, timedelta

import icalendar
import pytz

FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)


def check_raw_lines(raw):
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        FAILURES.append(f"not valid UTF-8 (a fold split a character?): {e}")
    check(raw.endswith(b"\r\n"), "file does not end with CRLF")
    body = raw[:-2] if raw.endswith(b"\r\n") else raw
    for n, line in enumerate(body.split(b"\r\n"), 1):
        check(b"\r" not in line and b"\n" not in line, f"line {n}: bare CR or LF")
        check(len(line) <= 75, f"line {n}: {len(line)} octets > 75")


TEXT_PROPS = ("SUMMARY", "DESCRIPTION", "LOCATION", "UID", "TZNAME", "PRODID")


def check_text_escaping(raw):
    """RFC 5545 3.3.11: in TEXT values `,` and `;` must be escaped and a
    backslash may only start one of the escapes. The parser is lenient
    about this, so check the unfolded raw lines directly."""
    text = raw.decode("utf-8", "replace").replace("\r\n ", "").replace("\r\n\t", "")
    for line in text.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep or name.split(";")[0] not in TEXT_PROPS:
            continue
        i = 0
        while i < len(value):
            c = value[i]
            if c == "\\":
                nxt = value[i + 1:i + 2]
                check(nxt in ("\\", ";", ",", "n", "N"), f"{name}: bad escape \\{nxt!r}")
                i += 2
                continue
            check(c not in ",;", f"{name}: unescaped {c!r} in {value!r}")
            i += 1


def parse_minute(s):
    return datetime.strptime(s, "%Y-%m-%d %H:%M")


def check_vtimezone(vtz, zone):
    """Every observance onset of the VTIMEZONE must agree with the Olson data."""
    olson = pytz.timezone(zone)
    subs = [c for c in vtz.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]
    check(subs, "VTIMEZONE has no STANDARD/DAYLIGHT")
    for c in subs:
        onset_local = c["DTSTART"].dt
        off_from = c["TZOFFSETFROM"].td
        off_to = c["TZOFFSETTO"].td
        at_utc = pytz.utc.localize(onset_local - off_from)
        label = f"{c.name} {onset_local:%Y-%m-%d %H:%M:%S}"
        after = at_utc.astimezone(olson)
        check(after.utcoffset() == off_to,
              f"{label}: TZOFFSETTO {off_to} but Olson says {after.utcoffset()}")
        if off_from != off_to:
            before = (at_utc - timedelta(seconds=1)).astimezone(olson)
            check(before.utcoffset() == off_from,
                  f"{label}: TZOFFSETFROM {off_from} but Olson says {before.utcoffset()}")
        is_dst = after.dst() > timedelta(0)
        check((c.name == "DAYLIGHT") == is_dst,
              f"{label}: kind {c.name} but Olson dst()={after.dst()}")
        if "TZNAME" in c:
            check(str(c["TZNAME"]) == after.tzname(),
                  f"{label}: TZNAME {c['TZNAME']} but Olson says {after.tzname()}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, expected = sys.argv[1], json.loads(sys.argv[2])
    with open(path, "rb") as f:
        raw = f.read()
    check_raw_lines(raw)
    check_text_escaping(raw)

    cal = icalendar.Calendar.from_ical(raw)
    check(str(cal.get("VERSION")) == "2.0", f"VERSION {cal.get('VERSION')}")
    check(str(cal.get("METHOD")) == expected["method"],
          f"METHOD {cal.get('METHOD')!s} != {expected['method']}")

    events = cal.walk("VEVENT")
    check(len(events) == 1, f"{len(events)} VEVENTs, want exactly 1")
    if len(events) != 1:
        return report(path)
    ev = events[0]
    zone = expected["zone"]

    check(str(ev.get("UID")) == expected["uid"], f"UID {ev.get('UID')!s} != {expected['uid']}")
    check(int(ev.get("SEQUENCE", -1)) == expected["sequence"],
          f"SEQUENCE {ev.get('SEQUENCE')} != {expected['sequence']}")
    check(str(ev.get("STATUS")) == expected["status"],
          f"STATUS {ev.get('STATUS')!s} != {expected['status']}")
    for key in ("summary", "description", "location"):
        if key in expected:
            got = ev.get(key.upper())
            got = None if got is None else str(got)
            check(got == expected[key], f"{key.upper()} {got!r} != {expected[key]!r}")
    stamp = ev["DTSTAMP"].dt
    check(stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0), "DTSTAMP not UTC")

    prop = ev["DTSTART"]
    start = prop.dt
    check(prop.params.get("TZID") == zone, f"DTSTART TZID {prop.params.get('TZID')} != {zone}")
    check(getattr(start.tzinfo, "zone", None) == zone,
          f"DTSTART tzinfo {start.tzinfo!r} is not {zone}")
    wall = parse_minute(expected["local_start"])
    check(start.replace(tzinfo=None) == wall,
          f"DTSTART local {start.replace(tzinfo=None)} != {wall}")

    vtzs = [c for c in cal.walk("VTIMEZONE") if str(c.get("TZID")) == zone]
    check(len(vtzs) == 1, f"{len(vtzs)} VTIMEZONE with TZID {zone}, want 1")
    if vtzs:
        check_vtimezone(vtzs[0], zone)
        own_tz = vtzs[0].to_tz()  # tz built only from the file's VTIMEZONE
        try:
            via_vtz = own_tz.localize(start.replace(tzinfo=None), is_dst=None)
        except Exception as e:  # ambiguous/non-existent per the VTIMEZONE
            FAILURES.append(f"DTSTART wall time {wall} not resolvable via VTIMEZONE: {e!r}")
            via_vtz = None
        if via_vtz is not None and "utc_start" in expected:
            want = pytz.utc.localize(parse_minute(expected["utc_start"]))
            check(start.astimezone(pytz.utc) == want,
                  f"DTSTART via Olson {start.astimezone(pytz.utc)} != {want}")
            check(via_vtz.astimezone(pytz.utc) == want,
                  f"DTSTART via VTIMEZONE {via_vtz.astimezone(pytz.utc)} != {want}")

    if "duration_minutes" in expected:
        end = ev["DTEND"].dt
        check(end.astimezone(pytz.utc) - start.astimezone(pytz.utc)
              == timedelta(minutes=expected["duration_minutes"]),
              f"DTEND {end} - DTSTART {start} != {expected['duration_minutes']} min")

    alarms = ev.walk("VALARM")
    if expected["status"] == "CANCELLED":
        check(not alarms, "cancelled entry still has a VALARM")
        # RFC 5546 3.2.5: a CANCEL names the attendees it removes the entry for.
        check("ATTENDEE" in ev, "cancelled entry names no ATTENDEE")
    else:
        check("ATTENDEE" not in ev, "a PUBLISH entry names an ATTENDEE")
    for a in alarms:
        check("UID" not in a and "DTSTAMP" not in a, "VALARM carries UID/DTSTAMP")
    return report(path)


def report(path):
    if FAILURES:
        print(f"FAIL {path}:")
        for f in FAILURES:
            print(f"  - {f}")
        return 1
    print(f"OK {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
