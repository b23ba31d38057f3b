#!/usr/bin/env bash
# A big entries feed ingested by two builds side by side: wall time, peak memory and how long
# the write lock was held (the `feed written` log line). Usage:
#   benches/feed_ingest.sh BASELINE_BINARY CANDIDATE_BINARY [LINES] [ROUNDS]
# Build the baseline from another checkout (`git worktree add ../base REV`, then
# `cargo build --release` there) and the candidate here.
set -euo pipefail
base=$1 candidate=$2 lines=${3:-300000} rounds=${4:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$lines" <<'PY'
import json, sys
work, lines = sys.argv[1], int(sys.argv[2])
with open(f"{work}/cases.jsonl", "w") as f:
    for i in range(2000):
        f.write(json.dumps({"case_number": "2616-CV%05d" % (i + 1), "court_id": "CT16",
            "case_type": "CV", "caption": "Case %d" % i, "filed_at": "2026-01-05T09:00:00-06:00",
            "confidential": False, "closed_at": None,
            "parties": [{"name": "Pat Doe", "role": "Defendant"}]}) + "\n")
with open(f"{work}/entries.jsonl", "w") as f:
    for i in range(lines):
        f.write(json.dumps({"entry_id": "E%07d" % i, "case_number": "2616-CV%05d" % (i % 2000 + 1),
            "code": "MOT", "description": "Motion Filed", "text": "", "filed_by": "Clerk",
            "posted_at": "2026-02-02T10:00:00Z"}) + "\n")
PY
export MCAP_NOTIFY__MAIL__TOKEN_SECRET=a-benchmark-secret-of-enough-length MCAP_NOTIFY__LOG__LEVEL=info MCAP_NOTIFY__LOG__FORMAT=json
export MCAP_NOTIFY__DATABASE__URL="sqlite://$work/bench.db"
for round in $(seq "$rounds"); do
    for which in baseline candidate; do
        bin=$base; [ "$which" = candidate ] && bin=$candidate
        rm -f "$work"/bench.db*
        "$bin" ingest cases "$work/cases.jsonl" >/dev/null 2>&1
        /usr/bin/time -f "%e %M" -o "$work/time" "$bin" ingest entries "$work/entries.jsonl" \
            >/dev/null 2>"$work/log"
        read -r secs kb <"$work/time"
        lock=$(grep -o '"write_lock_ms":[0-9]*' "$work/log" | cut -d: -f2 || true)
        echo "$which round $round: ${secs} s, peak ${kb} KB, write lock ${lock:-whole run} ms"
    done
done
