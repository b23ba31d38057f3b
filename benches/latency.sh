#!/usr/bin/env bash
# Posted-to-accepted latency under the daemon: `mcap-notify daemon` at its default cadence (a
# batch run at the start of every minute) delivers to Postfix's smtp-sink on 127.0.0.1, while a
# feeder posts docket entries at a steady rate for MINUTES, each entry stamped with the moment
# it was posted. Once the last digest is accepted, prints how long after its posting each
# (account, entry) pair was accepted by the SMTP server: the median, the 99th percentile and
# the worst. Usage:
#   benches/latency.sh BINARY [MINUTES] [ENTRIES_PER_MINUTE]
# Defaults: 10 minutes, 250 entries a minute (a busy statewide day's daytime rate). The
# accounts, cases and subscriptions are those of `bench generate --scale 0.1`. Needs smtp-sink
# (Debian package postfix), sqlite3 and jq. BENCH_KEEP=DIR keeps the files in DIR.
set -euo pipefail
USAGE="benches/latency.sh BINARY [MINUTES] [ENTRIES_PER_MINUTE]"
. "$(dirname "$0")/lib.sh"
need_arguments 1 "$@"
runnable "$1"
bin=$(realpath "$1") minutes=${2:-10} per_minute=${3:-250}
count MINUTES "$minutes"
count ENTRIES_PER_MINUTE "$per_minute"
# Only this script's configuration counts.
for variable in $(env | sed -n 's/^\(MCAP_NOTIFY[A-Z_]*\)=.*/\1/p'); do unset "$variable"; done
if [ -n "${BENCH_KEEP:-}" ]; then
    work=$(realpath -m "$BENCH_KEEP")
    mkdir -p "$work"
else
    work=$(mktemp -d)
fi
sink='' daemon=''
cleanup() {
    if [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null; then wait "$daemon" || true; fi
    if [ -n "$sink" ]; then kill "$sink" 2>/dev/null || true; fi
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
# Fails with the end of the daemon's log.
fail() {
    echo "$1" >&2
    tail -20 "$work/daemon.log" >&2 || true
    exit 1
}
query() { sqlite3 -cmd ".timeout 10000" "$work/latency.db" "$@"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_nobody=()
[ "$(id -u)" = 0 ] && as_nobody=(-u nobody)
smtp-sink "${as_nobody[@]}" "127.0.0.1:$port" 256 &
sink=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
kill -0 "$sink" 2>/dev/null || fail "smtp-sink did not start (Debian package postfix)"

cat >"$work/mcap-notify.toml" <<TOML
[database]
url = "sqlite://$work/latency.db"

[delivery]
transport = "smtp"

[smtp]
url = "smtp://127.0.0.1:$port"

[mail]
token_secret = "a-benchmark-secret-of-enough-length"

[calendar]
open_days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
opens = "00:00"
closes = "00:00"

[metrics]
listen = ""
TOML
cd "$work"

"$bin" bench generate --scale 0.1 --dir "$work/day" >/dev/null
for kind in courts cases accounts subscriptions; do
    "$bin" ingest "$kind" "$work/day/$kind.jsonl" >/dev/null
done
# Cases with at least one verified subscriber, where the feeder posts.
query "SELECT DISTINCT s.case_number FROM subscriptions s
    JOIN accounts a USING (account_id) JOIN cases c USING (case_number)
    JOIN courts ct USING (court_id)
    WHERE a.email_verified = 1 AND c.confidential = 0 AND ct.mcap = 1
      AND NOT EXISTS (SELECT 1 FROM court_excluded_case_types x
                      WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
    ORDER BY 1" >"$work/cases.txt"
case_count=$(wc -l <"$work/cases.txt")
echo "tracked cases: $case_count; posting $per_minute entries a minute for $minutes minutes"

"$bin" daemon 2>"$work/daemon.log" &
daemon=$!

# The feeder: every 5 seconds, the entries due by then (a running total, so the rate holds
# whatever it is), stamped with the time they are posted.
period=5
ticks=$((minutes * 60 / period))
posted=0
start=$(date +%s)
for tick in $(seq 1 "$ticks"); do
    # Wait for the tick's moment (a feeder, not a test: it paces itself by the clock).
    while [ "$(date +%s)" -lt $((start + tick * period)) ]; do sleep 0.2; done
    kill -0 "$daemon" 2>/dev/null || fail "the daemon stopped"
    due=$((per_minute * tick * period / 60))
    at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    : >"$work/tick.jsonl"
    for n in $(seq $((posted + 1)) "$due"); do
        case_number=$(sed -n "$(((n * 7919) % case_count + 1))p" "$work/cases.txt")
        printf '{"entry_id":"lat-%06d","case_number":"%s","code":"MOT","description":"Motion Filed","text":"Motion to continue.","filed_by":"Attorney for Defendant","posted_at":"%s"}\n' \
            "$n" "$case_number" "$at" >>"$work/tick.jsonl"
    done
    [ -s "$work/tick.jsonl" ] && "$bin" ingest entries "$work/tick.jsonl" >/dev/null
    posted=$due
done
echo "posted $posted entries; waiting for the last digests"

# Done once every posted entry is claimed by a finished run and nothing is left to send.
deadline=$(($(date +%s) + 600))
while :; do
    kill -0 "$daemon" 2>/dev/null || fail "the daemon stopped"
    left=$(query "SELECT
        (SELECT COUNT(*) FROM docket_entries d LEFT JOIN runs r USING (run_id)
         WHERE d.entry_id LIKE 'lat-%' AND (d.run_id IS NULL OR r.status <> 'done'))
      + (SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending'))")
    [ "$left" = 0 ] && break
    [ "$(date +%s)" -gt "$deadline" ] && fail "gave up: $left entries or messages still outstanding"
    sleep 1
done

result=$(query -separator ' ' "
WITH pairs AS (
    SELECT (o.finished_at - e.posted_at) / 1e6 AS seconds
    FROM notification_ledger l
    JOIN outbox o ON o.outbox_id = l.outbox_id
    JOIN docket_entries e ON e.seq = l.entry_seq
    WHERE e.entry_id LIKE 'lat-%' AND o.state = 'sent'
), ranked AS (
    SELECT seconds, ROW_NUMBER() OVER (ORDER BY seconds) AS n, COUNT(*) OVER () AS total
    FROM pairs
)
SELECT 'pairs', MAX(total),
       'p50', printf('%.1f s', (SELECT seconds FROM ranked WHERE n = (total + 1) / 2)),
       'p99', printf('%.1f s', (SELECT seconds FROM ranked WHERE n = (total * 99 + 99) / 100)),
       'max', printf('%.1f s', MAX(seconds))
FROM ranked HAVING COUNT(*) > 0")
[ -n "$result" ] || fail "no digest of the posted entries was sent"
echo "$result"
echo "messages not sent: $(query "SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")"
