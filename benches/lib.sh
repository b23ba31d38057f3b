# What the benchmark scripts share: their usage on a wrong command line, and checks of their
# arguments that name the one at fault. Sourced, with USAGE set to the script's usage line.

# Prints the usage and exits 2 unless at least $1 arguments follow.
need_arguments() {
    local least=$1
    shift
    if [ $# -lt "$least" ]; then
        echo "usage: $USAGE" >&2
        exit 2
    fi
}

# Exits 2 naming NAME unless VALUE is a whole number of at least 1.
count() {
    local name=$1 value=$2
    if ! [[ $value =~ ^[0-9]+$ ]] || [ "$value" -lt 1 ]; then
        echo "$name must be a whole number of at least 1, not '$value'" >&2
        echo "usage: $USAGE" >&2
        exit 2
    fi
}

# Exits 2 unless the program $1 exists and can run.
runnable() {
    if [ ! -x "$1" ] || [ -d "$1" ]; then
        echo "BINARY must be the mcap-notify program, not '$1'" >&2
        echo "usage: $USAGE" >&2
        exit 2
    fi
}

# For the scripts that time the program's stages: sets `work`, a directory of their own
# (BENCH_KEEP=DIR keeps it; otherwise removed at exit), and the settings every such run takes.
timed_work_dir() {
    if [ -n "${BENCH_KEEP:-}" ]; then
        work=$(realpath -m "$BENCH_KEEP")
        mkdir -p "$work"
    else
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
    fi
    export MCAP_NOTIFY__MAIL__TOKEN_SECRET=a-benchmark-secret-of-enough-length
    export MCAP_NOTIFY__DELIVERY__FILE_DIR="$work/outbox"
    export MCAP_NOTIFY__METRICS__LISTEN=""
}

# Seconds since the epoch; the median of numbers on standard input; seconds since $1.
now() { date +%s.%N; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
since() { echo "$(now) - $1" | bc; }
