# lib.sh -- helpers shared by the cairn CLI tests (sourced, not run).
#
# Usage, in a test:   . "$(dirname "$0")/lib.sh" "$@"
# $1 is the cairn binary.  Each test runs in a fresh temporary directory
# (so the default store lmdb:./cairn-data lands there) and ends with
# `finish`, which fails the test when any check failed.  Checks do not
# stop the script: one run reports every failure.

set -u
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 PATH-TO-CAIRN" >&2
	exit 2
fi
CAIRN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
unset CAIRN_STORE
FAILS=0
CHECKS=0

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# run CMD...: stdout in $T/out, stderr in $T/err, status in $RC.
run() {
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
}

# expect STATUS DESCRIPTION CMD...
expect() {
	local want=$1 what=$2
	shift 2
	run "$@"
	CHECKS=$((CHECKS + 1))
	if [ "$RC" != "$want" ]; then
		fail "$what: exit $RC, wanted $want; stderr: $(head -c 300 "$T/err")"
		return 1
	fi
	return 0
}

# same ACTUAL EXPECTED DESCRIPTION
same() {
	CHECKS=$((CHECKS + 1))
	if [ "$1" != "$2" ]; then
		fail "$3: got [$1], wanted [$2]"
		return 1
	fi
	return 0
}

# has FILE FIXED-STRING DESCRIPTION: the file contains the string.
has() {
	CHECKS=$((CHECKS + 1))
	if ! grep -qF -- "$2" "$1"; then
		fail "$3: [$2] not in $(head -c 300 "$1")"
		return 1
	fi
	return 0
}

# lacks FILE FIXED-STRING DESCRIPTION
lacks() {
	CHECKS=$((CHECKS + 1))
	if grep -qF -- "$2" "$1"; then
		fail "$3: [$2] found in $(head -c 300 "$1")"
		return 1
	fi
	return 0
}

# one_error_line VERB DESCRIPTION: stderr is exactly one line that starts
# with "cairn: VERB: " (VERB empty for global errors).
one_error_line() {
	local prefix="cairn: "
	[ -n "$1" ] && prefix="cairn: $1: "
	CHECKS=$((CHECKS + 1))
	if [ "$(wc -l <"$T/err")" != 1 ] ||
	   [ "$(head -c ${#prefix} "$T/err")" != "$prefix" ]; then
		fail "$2: stderr is not one '$prefix' line: $(head -c 300 "$T/err")"
		return 1
	fi
	return 0
}

# lines FILE: the number of lines.
lines() {
	wc -l <"$1" | tr -d ' '
}

finish() {
	if [ "$FAILS" -gt 0 ]; then
		echo "$FAILS of $CHECKS checks failed" >&2
		exit 1
	fi
	echo "ok: $CHECKS checks"
	exit 0
}
