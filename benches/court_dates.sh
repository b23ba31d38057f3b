#!/usr/bin/env bash
# What do court dates cost a run? ACCOUNTS accounts each track one case; the run-now that tells
# each of them of one thing is timed two ways on fresh databases: a 2-day hearing reminder (a
# calendar entry per message) and, as the floor, one new docket entry. Each round times both
# workloads with BASE and with NEW side by side, so that two builds compare on the same machine
# at the same moment. Prints each round, the medians, and the ratios: reminders against
# filings, and NEW against BASE. Usage:
#   benches/court_dates.sh BASE NEW [ACCOUNTS] [ROUNDS]
# Defaults: 2000 accounts, 3 rounds. Needs python3 and bc. BENCH_KEEP=DIR keeps the files.
set -euo pipefail
USAGE="benches/court_dates.sh BASE NEW [ACCOUNTS] [ROUNDS]"
. "$(dirname "$0")/lib.sh"
need_arguments 2 "$@"
runnable "$1"
runnable "$2"
base=$(realpath "$1") new=$(realpath "$2") accounts=${3:-2000} rounds=${4:-3}
count ACCOUNTS "$accounts"
count ROUNDS "$rounds"
timed_work_dir

# The feeds: cases, accounts tracking them, a hearing two local days ahead for each case (its
# 2-day reminder is due today), and one docket entry for each case.
python3 - "$work" "$accounts" <<'PY'
import json, sys, datetime, zoneinfo
work, n = sys.argv[1], int(sys.argv[2])
chicago = zoneinfo.ZoneInfo("America/Chicago")
now = datetime.datetime.now(tz=chicago)
day = (now + datetime.timedelta(days=2)).date()
hearing = datetime.datetime.combine(day, datetime.time(13, 30), tzinfo=chicago)
posted = datetime.datetime.now(tz=datetime.timezone.utc) - datetime.timedelta(minutes=5)
def write(name, rows):
    with open(f"{work}/{name}.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
numbers = [f"2622-CR{i:05d}" for i in range(n)]
write("cases", ({"case_number": c, "court_id": "CT22", "case_type": "CR",
                 "caption": f"State of Missouri v. Person {i}",
                 "filed_at": "2026-01-05T15:00:00Z", "confidential": False,
                 "parties": [{"name": f"Person {i}", "role": "Defendant"}]}
                for i, c in enumerate(numbers)))
write("accounts", ({"account_id": f"a{i}", "email": f"a{i}@example.org", "email_verified": True}
                   for i in range(n)))
write("subscriptions", ({"account_id": f"a{i}", "case_number": c,
                         "tracked_at": "2026-01-06T00:00:00Z"} for i, c in enumerate(numbers)))
write("events", ({"event_id": f"h{i}", "case_number": c, "kind": "hearing",
                  "title": "Arraignment", "starts_at": hearing.isoformat(),
                  "location": "Division 7, Courtroom 7A, 10 N Tucker Blvd, St. Louis",
                  "judge": "Hon. R. Alvarez", "bring": "Photo ID", "status": "scheduled"}
                 for i, c in enumerate(numbers)))
write("entries", ({"entry_id": f"e{i}", "case_number": c, "code": "MOT",
                   "description": "Motion Filed", "text": "Motion to continue",
                   "filed_by": "Attorney", "posted_at": posted.isoformat()}
                  for i, c in enumerate(numbers)))
PY

# Seconds that BINARY's run-now takes on a fresh database holding the reference feeds and
# the feed WHAT (events or entries).
time_run() {
    local bin=$1 what=$2 db="$work/$2.db"
    rm -f "$db" "$db"-* && rm -rf "$work/outbox"
    export MCAP_NOTIFY__DATABASE__URL="sqlite://$db"
    for kind in cases accounts subscriptions "$what"; do
        "$bin" ingest "$kind" "$work/$kind.jsonl" >/dev/null
    done
    local start
    start=$(now)
    "$bin" run-now --ignore-windows >/dev/null
    since "$start"
}

: >"$work/rounds.tsv"
for round in $(seq "$rounds"); do
    row=""
    for bin in "$base" "$new"; do
        row="$row$(time_run "$bin" events)	$(time_run "$bin" entries)	"
    done
    echo "$row" >>"$work/rounds.tsv"
    echo "round $round: base reminders/filings, new reminders/filings (s): $row"
done
column_median() { cut -f"$1" "$work/rounds.tsv" | median; }
base_dates=$(column_median 1) base_entries=$(column_median 2)
new_dates=$(column_median 3) new_entries=$(column_median 4)
ratio() { echo "scale=2; $1 / $2" | bc; }
echo "medians over $rounds rounds, $accounts accounts:"
echo "  base  reminders ${base_dates}s  filings ${base_entries}s  reminders/filings $(ratio "$base_dates" "$base_entries")"
echo "  new   reminders ${new_dates}s  filings ${new_entries}s  reminders/filings $(ratio "$new_dates" "$new_entries")"
echo "  new/base  reminders $(ratio "$new_dates" "$base_dates")  filings $(ratio "$new_entries" "$base_entries")"
