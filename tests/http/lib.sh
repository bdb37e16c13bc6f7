# lib.sh -- helpers shared by the cairnd tests (sourced, not run).
#
# Usage, in a test:   . "$(dirname "$0")/lib.sh" "$@"
# $1 is the cairnd binary, $2 the cairn CLI.  Each test runs in a fresh
# temporary directory, starts servers with `start ARGS...` (which sets
# $B, the base URL, and $PID) and ends with `finish`, which stops what is
# left running and fails the test when any check failed.  Checks do not
# stop the script: one run reports every failure.

set -u
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 PATH-TO-CAIRND [PATH-TO-CAIRN]" >&2
	exit 2
fi
CAIRND=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
CAIRN=${2:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/cairnd-test.XXXXXX") || exit 1
cd "$T" || exit 1
unset CAIRN_STORE
FAILS=0
CHECKS=0
PIDS=""
B=""
PID=""

cleanup() {
	local p
	for p in $PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# start ARGS...: run cairnd on a free loopback port; sets B and PID.
start() {
	local i port
	"$CAIRND" --listen 127.0.0.1:0 "$@" >"$T/server.out" 2>"$T/server.err" &
	PID=$!
	PIDS="$PIDS $PID"
	for i in $(seq 1 100); do
		port=$(sed -n 's/^cairnd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' \
		    "$T/server.out" 2>/dev/null)
		[ -n "$port" ] && break
		if ! kill -0 "$PID" 2>/dev/null; then
			fail "cairnd did not start: $(cat "$T/server.err")"
			return 1
		fi
		sleep 0.05
	done
	if [ -z "$port" ]; then
		fail "cairnd did not announce its port"
		return 1
	fi
	B=http://127.0.0.1:$port
}

# stop [SIGNAL]: stop the last server and wait; sets STOP_RC.
stop() {
	kill -"${1:-TERM}" "$PID" 2>/dev/null
	wait "$PID"
	STOP_RC=$?
}

# req METHOD PATH [CURL ARGS...]: body in $T/body, status in $STATUS.
req() {
	local method=$1 path=$2
	shift 2
	STATUS=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 20 \
	    -X "$method" "$@" "$B$path")
}

# post PATH JSON [CURL ARGS...]
post() {
	local path=$1 json=$2
	shift 2
	req POST "$path" -H 'Content-Type: application/json' \
	    --data-binary "$json" "$@"
}

# status WANT DESCRIPTION: the last request's status.
status() {
	CHECKS=$((CHECKS + 1))
	if [ "$STATUS" != "$1" ]; then
		fail "$2: status $STATUS, wanted $1; body: $(head -c 300 "$T/body")"
		return 1
	fi
}

# field JQ-FILTER WANT DESCRIPTION: a value of the last body.
field() {
	local got
	CHECKS=$((CHECKS + 1))
	got=$(jq -c "$1" "$T/body" 2>&1)
	if [ "$got" != "$2" ]; then
		fail "$3: $1 is [$got], wanted [$2]; body: $(head -c 300 "$T/body")"
		return 1
	fi
}

# same ACTUAL EXPECTED DESCRIPTION
same() {
	CHECKS=$((CHECKS + 1))
	if [ "$1" != "$2" ]; then
		fail "$3: got [$1], wanted [$2]"
		return 1
	fi
}

# wait_for FILE FIXED-STRING [TENTHS]: until the file holds the string.
wait_for() {
	local i
	for i in $(seq 1 "${3:-50}"); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

finish() {
	local p
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	wait 2>/dev/null
	PIDS=""
	if [ "$FAILS" -gt 0 ]; then
		echo "$FAILS of $CHECKS checks failed" >&2
		exit 1
	fi
	echo "all $CHECKS checks passed"
	exit 0
}
