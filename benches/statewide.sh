#!/usr/bin/env bash
# A busy statewide day (`mcap-notify bench generate`), stage by stage beside the bare
# database: ingest of the five feeds against the sqlite3 shell's import of the same rows
# (benches/statewide/floor_ingest.sql), and `run-now` until the day is drained against the
# same work in SQL alone (floor_batch.sql), each round on fresh databases; peak memory of the
# batch. Prints one line per round and the medians with their ratios. Usage:
#   benches/statewide.sh BINARY [SCALE] [ROUNDS]
# Needs sqlite3, jq, bc and GNU time. BENCH_KEEP=DIR keeps the workload and databases in DIR;
# BENCH_NOW=RFC3339 pins the day's end (default: now), so that two runs use the same files;
# BENCH_POSTGRES=postgres://USER@HOST:PORT also loads and drains the day on PostgreSQL (in a
# database mcap_bench_statewide, dropped and made again each round; needs psql).
set -euo pipefail
USAGE="benches/statewide.sh BINARY [SCALE] [ROUNDS]"
. "$(dirname "$0")/lib.sh"
need_arguments 1 "$@"
runnable "$1"
bin=$(realpath "$1") scale=${2:-1} rounds=${3:-3}
count ROUNDS "$rounds"
here=$(cd "$(dirname "$0")" && pwd)
timed_work_dir
export MCAP_NOTIFY__METRICS__TEXTFILE="$work/metrics.prom"

"$bin" bench generate --scale "$scale" ${BENCH_NOW:+--now "$BENCH_NOW"} --dir "$work/day" --csv --json \
    >"$work/generated.json"
echo "busy day at scale $scale: $(jq -c 'del(.feeds)' "$work/generated.json")"

: >"$work/rounds.tsv" >"$work/rounds-postgres.tsv"
pg_database=mcap_bench_statewide
# Ingests the day's five feeds into the database at URL, then runs the batch until a run finds
# nothing; sets ingest and batch (seconds), runs, digests and peak (the largest RSS of a run, kB).
load_and_drain() {
    export MCAP_NOTIFY__DATABASE__URL=$1
    local start
    start=$(now)
    for kind in courts cases accounts subscriptions entries; do
        "$bin" ingest "$kind" "$work/day/$kind.jsonl" >/dev/null
    done
    ingest=$(since "$start")
    digests=0 runs=0 peak=0
    start=$(now)
    while :; do
        /usr/bin/time -f '%M' -o "$work/rss" "$bin" run-now --ignore-windows --json >"$work/run.json"
        rss=$(tail -1 "$work/rss")
        [ "$rss" -gt "$peak" ] && peak=$rss
        [ "$(jq .entries_scanned "$work/run.json")" = 0 ] && break
        digests=$((digests + $(jq .totals.digests_queued "$work/run.json")))
        runs=$((runs + 1))
    done
    batch=$(since "$start")
}

for round in $(seq "$rounds"); do
    # The floor: the sqlite3 shell.
    rm -f "$work"/floor.db*
    start=$(now)
    (cd "$work/day" && sqlite3 "$work/floor.db" <"$here/statewide/floor_ingest.sql" >/dev/null)
    floor_ingest=$(since "$start")
    start=$(now)
    floor_digests=$(sqlite3 "$work/floor.db" <"$here/statewide/floor_batch.sql" | tail -1)
    floor_batch=$(since "$start")

    # mcap-notify, on a fresh SQLite file.
    rm -f "$work"/day.db*
    load_and_drain "sqlite://$work/day.db"
    printf 'round %s: ingest %.2f s (floor %.2f s); batch %.2f s in %s runs, %s digests, peak %s MB (floor %.2f s, %s digests)\n' \
        "$round" "$ingest" "$floor_ingest" "$batch" "$runs" "$digests" "$((peak / 1024))" "$floor_batch" "$floor_digests"
    echo "$ingest $floor_ingest $batch $floor_batch $peak" >>"$work/rounds.tsv"

    # The same on a fresh PostgreSQL database, when asked for.
    if [ -n "${BENCH_POSTGRES:-}" ]; then
        PGOPTIONS="-c client_min_messages=warning" psql -q "$BENCH_POSTGRES/postgres" \
            -c "DROP DATABASE IF EXISTS $pg_database" \
            -c "CREATE DATABASE $pg_database"
        load_and_drain "$BENCH_POSTGRES/$pg_database"
        printf 'round %s on PostgreSQL: ingest %.2f s; batch %.2f s in %s runs, %s digests, peak %s MB\n' \
            "$round" "$ingest" "$batch" "$runs" "$digests" "$((peak / 1024))"
        echo "$ingest $batch" >>"$work/rounds-postgres.tsv"
    fi
done
for col in 1 2 3 4 5; do cut -d' ' -f"$col" "$work/rounds.tsv" | median >"$work/m$col"; done
read -r mi <"$work/m1"; read -r mfi <"$work/m2"; read -r mb <"$work/m3"; read -r mfb <"$work/m4"; read -r mp <"$work/m5"
printf 'median: ingest %.2f s, floor %.2f s (%.2fx); batch %.2f s, floor %.2f s (%.2fx); batch peak RSS %.0f MB\n' \
    "$mi" "$mfi" "$(echo "$mi / $mfi" | bc -l)" "$mb" "$mfb" "$(echo "$mb / $mfb" | bc -l)" "$(echo "$mp / 1024" | bc -l)"
if [ -s "$work/rounds-postgres.tsv" ]; then
    for col in 1 2; do cut -d' ' -f"$col" "$work/rounds-postgres.tsv" | median >"$work/p$col"; done
    read -r pi <"$work/p1"; read -r pb <"$work/p2"
    printf 'median on PostgreSQL: ingest %.2f s (%.2fx SQLite); batch %.2f s (%.2fx SQLite)\n' \
        "$pi" "$(echo "$pi / $mi" | bc -l)" "$pb" "$(echo "$pb / $mb" | bc -l)"
fi
