#!/usr/bin/env bash
# The demo's busy day on PostgreSQL beside SQLite (ingest of the five feeds, then `run-now`
# until the day is drained), each round on a fresh database; then delivery of the day's
# digests to Postfix's smtp-sink by 1, 2 and 4 `deliver` processes sharing the PostgreSQL
# queue. Prints one line per measurement and the medians. Usage:
#   benches/postgres_vs_sqlite.sh BINARY [SCALE] [ROUNDS]
# PostgreSQL: the server of MCAP_NOTIFY_BENCH_POSTGRES (default
# postgres://root@127.0.0.1:5432/postgres), where it creates and drops databases mcap_bench_*.
set -euo pipefail
USAGE="benches/postgres_vs_sqlite.sh BINARY [SCALE] [ROUNDS]"
. "$(dirname "$0")/lib.sh"
need_arguments 1 "$@"
runnable "$1"
bin=$(realpath "$1") scale=${2:-100} rounds=${3:-3}
count ROUNDS "$rounds"
admin=${MCAP_NOTIFY_BENCH_POSTGRES:-postgres://root@127.0.0.1:5432/postgres}
base=${admin%/*}
work=$(mktemp -d)
chmod 777 "$work"
sink_pid=""
cleanup() {
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
    for db in $(psql -At "$admin" -c "SELECT datname FROM pg_database WHERE datname LIKE 'mcap_bench_%'"); do
        psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

export MCAP_NOTIFY__MAIL__TOKEN_SECRET=a-benchmark-secret-of-enough-length
export MCAP_NOTIFY__DELIVERY__RESPECT_WINDOWS=false
export MCAP_NOTIFY__DELIVERY__FILE_DIR="$work/outbox"
export MCAP_NOTIFY__METRICS__LISTEN=""
now() { date +%s.%N; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

"$bin" demo --dir "$work/demo" --scale "$scale" >/dev/null
feeds="$work/demo/feeds"
echo "busy day: scale $scale, $(wc -l <"$feeds/entries.jsonl") entries, $(wc -l <"$feeds/subscriptions.jsonl") subscriptions"

# Ingest and drain the day on URL; prints "INGEST_SECONDS BATCH_SECONDS DIGESTS".
day() {
    local url=$1 start mid digests=0 run
    export MCAP_NOTIFY__DATABASE__URL=$url
    start=$(now)
    for kind in courts cases accounts subscriptions entries; do
        "$bin" ingest "$kind" "$feeds/$kind.jsonl" >/dev/null
    done
    mid=$(now)
    while :; do
        run=$("$bin" run-now --ignore-windows --json)
        [ "$(jq .entries_scanned <<<"$run")" = 0 ] && break
        digests=$((digests + $(jq .totals.digests_queued <<<"$run")))
    done
    echo "$(echo "$mid - $start" | bc) $(echo "$(now) - $mid" | bc) $digests"
}

for round in $(seq "$rounds"); do
    rm -f "$work"/day.db*
    read -r si sb sd < <(day "sqlite://$work/day.db")
    psql -q "$admin" -c "DROP DATABASE IF EXISTS mcap_bench_day WITH (FORCE)" -c "CREATE DATABASE mcap_bench_day"
    read -r pi pb pd < <(day "$base/mcap_bench_day")
    echo "round $round: sqlite ingest $si s, batch $sb s ($sd digests); postgres ingest $pi s, batch $pb s ($pd digests)"
    echo "$si $sb $pi $pb" >>"$work/day.tsv"
done
for col in 1 2 3 4; do cut -d' ' -f"$col" "$work/day.tsv" | median >"$work/m$col"; done
read -r msi <"$work/m1"; read -r msb <"$work/m2"; read -r mpi <"$work/m3"; read -r mpb <"$work/m4"
printf 'median: ingest sqlite %.2f s, postgres %.2f s (%.2fx); batch sqlite %.2f s, postgres %.2f s (%.2fx)\n' \
    "$msi" "$mpi" "$(echo "$mpi / $msi" | bc -l)" "$msb" "$mpb" "$(echo "$mpb / $msb" | bc -l)"

# Delivery: the drained day (its digests queued) is the template of every round's database.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
smtp-sink -u nobody "127.0.0.1:$port" 1000 &
sink_pid=$!
psql -q "$admin" -c "DROP DATABASE IF EXISTS mcap_bench_queue WITH (FORCE)" \
    -c "CREATE DATABASE mcap_bench_queue TEMPLATE mcap_bench_day"
queued=$(psql -At "$base/mcap_bench_queue" -c "SELECT COUNT(*) FROM outbox WHERE state = 'queued'")
echo "delivery: $queued messages to smtp-sink on 127.0.0.1:$port"
export MCAP_NOTIFY__DELIVERY__TRANSPORT=smtp MCAP_NOTIFY__SMTP__URL="smtp://127.0.0.1:$port"
for round in $(seq "$rounds"); do
    for workers in 1 2 4; do
        psql -q "$admin" -c "DROP DATABASE IF EXISTS mcap_bench_send WITH (FORCE)" \
            -c "CREATE DATABASE mcap_bench_send TEMPLATE mcap_bench_queue"
        export MCAP_NOTIFY__DATABASE__URL="$base/mcap_bench_send"
        start=$(now)
        pids=()
        for _ in $(seq "$workers"); do
            "$bin" deliver >/dev/null &
            pids+=($!)
        done
        for pid in "${pids[@]}"; do wait "$pid"; done
        secs=$(echo "$(now) - $start" | bc)
        sent=$(psql -At "$base/mcap_bench_send" -c "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
        rate=$(echo "$sent / $secs" | bc -l)
        printf 'round %s: %s worker(s) sent %s in %.2f s (%.0f messages/s)\n' "$round" "$workers" "$sent" "$secs" "$rate"
        echo "$rate" >>"$work/rate$workers"
    done
done
one=$(median <"$work/rate1")
for workers in 1 2 4; do
    m=$(median <"$work/rate$workers")
    printf 'median: %s worker(s) %.0f messages/s (%.2fx one worker)\n' "$workers" "$m" "$(echo "$m / $one" | bc -l)"
done
