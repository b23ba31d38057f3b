#!/usr/bin/env bash
# A busy statewide day (`mcap-notify bench generate`), stage by stage beside the bare
# database: ingest of the five feeds against the sqlite3 shell's import of the same rows
# (benches/statewide/floor_ingest.sql), and `run-now` until the day is drained against the
# same work in SQL alone (floor_batch.sql), each round on fresh databases; peak memory of the
# batch. Prints one line per round and the medians with their ratios. Usage:
#   benches/statewide.sh BINARY [SCALE] [ROUNDS]
# Needs sqlite3 and jq. MCAP_NOTIFY_BENCH_KEEP=DIR keeps the workload and databases in DIR.
set -euo pipefail
bin=$(realpath "$1") scale=${2:-1} rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${MCAP_NOTIFY_BENCH_KEEP:-}" ]; then
    work=$MCAP_NOTIFY_BENCH_KEEP
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
export MCAP_NOTIFY__MAIL__TOKEN_SECRET=a-benchmark-secret-of-enough-length
export MCAP_NOTIFY__DELIVERY__FILE_DIR="$work/outbox"
export MCAP_NOTIFY__METRICS__LISTEN=""
export MCAP_NOTIFY__METRICS__TEXTFILE="$work/metrics.prom"
now() { date +%s.%N; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
since() { echo "$(now) - $1" | bc; }

"$bin" bench generate --scale "$scale" --dir "$work/day" --csv --json >"$work/generated.json"
echo "busy day at scale $scale: $(jq -c 'del(.feeds)' "$work/generated.json")"

: >"$work/rounds.tsv"
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
    export MCAP_NOTIFY__DATABASE__URL="sqlite://$work/day.db"
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
    printf 'round %s: ingest %.2f s (floor %.2f s); batch %.2f s in %s runs, %s digests, peak %s MB (floor %.2f s, %s digests)\n' \
        "$round" "$ingest" "$floor_ingest" "$batch" "$runs" "$digests" "$((peak / 1024))" "$floor_batch" "$floor_digests"
    echo "$ingest $floor_ingest $batch $floor_batch $peak" >>"$work/rounds.tsv"
done
for col in 1 2 3 4 5; do cut -d' ' -f"$col" "$work/rounds.tsv" | median >"$work/m$col"; done
read -r mi <"$work/m1"; read -r mfi <"$work/m2"; read -r mb <"$work/m3"; read -r mfb <"$work/m4"; read -r mp <"$work/m5"
printf 'median: ingest %.2f s, floor %.2f s (%.2fx); batch %.2f s, floor %.2f s (%.2fx); batch peak RSS %.0f MB\n' \
    "$mi" "$mfi" "$(echo "$mi / $mfi" | bc -l)" "$mb" "$mfb" "$(echo "$mb / $mfb" | bc -l)" "$(echo "$mp / 1024" | bc -l)"
