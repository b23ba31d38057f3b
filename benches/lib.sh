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
