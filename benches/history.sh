#!/usr/bin/env bash
# Does a year of history slow a day? The same day (`mcap-notify bench generate`) is ingested and
# drained by `run-now` on two SQLite files side by side, each round on fresh copies: one that
# holds only the courts, cases, accounts and subscriptions, and one that holds as well DAYS
# finished days before it (every day's entries again under new ids, posted a day further
# back, claimed by a finished run, with one sent message per account and day, its ledger rows
# and its delivery attempt; bodies pruned, as retention leaves them). Prints each round and the
# medians with the ratio, history against none. Usage:
#   benches/history.sh BINARY [SCALE] [DAYS] [ROUNDS]
# Defaults: scale 0.1, 365 days, 3 rounds. Needs sqlite3, jq and bc. BENCH_NOW pins the day's end;
# BENCH_KEEP=DIR keeps the files in DIR.
set -euo pipefail
USAGE="benches/history.sh BINARY [SCALE] [DAYS] [ROUNDS]"
. "$(dirname "$0")/lib.sh"
need_arguments 1 "$@"
runnable "$1"
bin=$(realpath "$1") scale=${2:-0.1} days=${3:-365} rounds=${4:-3}
count DAYS "$days"
count ROUNDS "$rounds"
timed_work_dir
settle() { sqlite3 "$1" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; }

"$bin" bench generate --scale "$scale" ${BENCH_NOW:+--now "$BENCH_NOW"} --dir "$work/day" >/dev/null

# The base: the day's reference feeds, no entries.
rm -f "$work"/base.db* "$work"/year.db* "$work"/entries.db*
export MCAP_NOTIFY__DATABASE__URL="sqlite://$work/base.db"
for kind in courts cases accounts subscriptions; do
    "$bin" ingest "$kind" "$work/day/$kind.jsonl" >/dev/null
done
settle "$work/base.db"
# The day's entries as stored, to copy into the past.
cp "$work/base.db" "$work/entries.db"
MCAP_NOTIFY__DATABASE__URL="sqlite://$work/entries.db" "$bin" ingest entries "$work/day/entries.jsonl" >/dev/null
settle "$work/entries.db"

# The year: the base and DAYS finished days, made in SQL. Day n is n days before the day.
start=$(now)
cp "$work/base.db" "$work/year.db"
sqlite3 -bail "$work/year.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
ATTACH '$work/entries.db' AS day;
BEGIN;
CREATE TEMP TABLE past (n INTEGER PRIMARY KEY, run_id INTEGER, shift INTEGER);
WITH RECURSIVE d (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM d WHERE n < $days)
INSERT INTO past SELECT n, $days + 1 - n, n * 86400000000 FROM d;
INSERT INTO runs (run_id, status, started_at, finished_at, first_seq, last_seq, entries_claimed)
SELECT run_id, 'done', (SELECT MAX(posted_at) FROM day.docket_entries) - shift + 60000000,
       (SELECT MAX(posted_at) FROM day.docket_entries) - shift + 120000000, NULL, NULL,
       (SELECT COUNT(*) FROM day.docket_entries)
FROM past ORDER BY run_id;
INSERT INTO docket_entries (entry_id, case_number, code, description, text, filed_by,
                            posted_at, voided_at, run_id)
SELECT 'h' || p.n || '-' || e.entry_id, e.case_number, e.code, e.description, e.text,
       e.filed_by, e.posted_at - p.shift, e.voided_at - p.shift, p.run_id
FROM past p CROSS JOIN day.docket_entries e
ORDER BY p.run_id, e.seq;
UPDATE runs SET first_seq = (SELECT MIN(seq) FROM docket_entries d WHERE d.run_id = runs.run_id),
                last_seq = (SELECT MAX(seq) FROM docket_entries d WHERE d.run_id = runs.run_id);
UPDATE watermark SET last_seq = (SELECT MAX(seq) FROM docket_entries);
-- One sent message per account and day, over the pairs of its verified subscribers.
CREATE TEMP TABLE pairs AS
SELECT d.run_id, s.account_id, d.seq
FROM docket_entries d
JOIN subscriptions s ON s.case_number = d.case_number
JOIN accounts a ON a.account_id = s.account_id AND a.email_verified = 1
WHERE d.voided_at IS NULL;
INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id, subject, state,
                    created_at, lifetime_from, next_attempt_at, attempts, finished_at)
SELECT k.run_id, k.account_id, a.email, 'bounces@alerts.example.org',
       '<h' || k.run_id || '.' || k.account_id || '@alerts.example.org>', 'Case update', 'sent',
       r.finished_at, r.finished_at, r.finished_at, 1, r.finished_at + 30000000
FROM (SELECT DISTINCT run_id, account_id FROM pairs) k
JOIN accounts a ON a.account_id = k.account_id
JOIN runs r ON r.run_id = k.run_id
ORDER BY k.run_id, k.account_id;
CREATE INDEX history_outbox ON outbox (run_id, account_id);
INSERT INTO notification_ledger (account_id, entry_seq, outbox_id)
SELECT p.account_id, p.seq, o.outbox_id
FROM pairs p JOIN outbox o ON o.run_id = p.run_id AND o.account_id = p.account_id;
DROP INDEX history_outbox;
INSERT INTO delivery_attempts (outbox_id, attempt, at, outcome, reply_code, status, detail)
SELECT outbox_id, 1, finished_at, 'sent', 250, '2.0.0', '250 2.0.0 Ok: queued'
FROM outbox;
CREATE TEMP TABLE run_counts AS
SELECT run_id, COUNT(DISTINCT account_id) AS digests, COUNT(*) AS pairs FROM pairs GROUP BY run_id;
UPDATE runs SET digests_queued = (SELECT digests FROM run_counts c WHERE c.run_id = runs.run_id),
                pairs_matched = (SELECT pairs FROM run_counts c WHERE c.run_id = runs.run_id)
WHERE run_id IN (SELECT run_id FROM run_counts);
COMMIT;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
made=$(since "$start")
echo "a day at scale $scale: $(sqlite3 "$work/entries.db" "SELECT COUNT(*) FROM docket_entries") entries;" \
    "history: $days days, $(sqlite3 "$work/year.db" "SELECT COUNT(*) FROM docket_entries") entries," \
    "$(sqlite3 "$work/year.db" "SELECT COUNT(*) FROM outbox") messages," \
    "$(sqlite3 "$work/year.db" "SELECT COUNT(*) FROM notification_ledger") ledger rows," \
    "$(($(stat -c %s "$work/year.db") / 1048576)) MB, made in $(printf '%.0f' "$made") s"

# Ingests the day's entries into a copy of TEMPLATE, then runs the batch until a run finds
# nothing; sets ingest and batch (seconds) and digests.
day_on() {
    rm -f "$work"/run.db*
    cp "$1" "$work/run.db"
    export MCAP_NOTIFY__DATABASE__URL="sqlite://$work/run.db"
    local start
    start=$(now)
    "$bin" ingest entries "$work/day/entries.jsonl" >/dev/null
    ingest=$(since "$start")
    digests=0
    start=$(now)
    while :; do
        "$bin" run-now --ignore-windows --json >"$work/run.json"
        [ "$(jq .entries_scanned "$work/run.json")" = 0 ] && break
        digests=$((digests + $(jq .totals.digests_queued "$work/run.json")))
    done
    batch=$(since "$start")
}

: >"$work/rounds.tsv"
for round in $(seq "$rounds"); do
    day_on "$work/base.db"
    fresh_ingest=$ingest fresh_batch=$batch fresh_digests=$digests
    day_on "$work/year.db"
    printf 'round %s: without history ingest %.2f s, batch %.2f s (%s digests); with the history ingest %.2f s, batch %.2f s (%s digests)\n' \
        "$round" "$fresh_ingest" "$fresh_batch" "$fresh_digests" "$ingest" "$batch" "$digests"
    echo "$fresh_ingest $fresh_batch $ingest $batch" >>"$work/rounds.tsv"
done
for col in 1 2 3 4; do cut -d' ' -f"$col" "$work/rounds.tsv" | median >"$work/m$col"; done
read -r fi <"$work/m1"; read -r fb <"$work/m2"; read -r yi <"$work/m3"; read -r yb <"$work/m4"
printf 'median: ingest %.2f s without history, %.2f s with the history (%.2fx); batch %.2f s without, %.2f s with (%.2fx)\n' \
    "$fi" "$yi" "$(echo "$yi / $fi" | bc -l)" "$fb" "$yb" "$(echo "$yb / $fb" | bc -l)"
