#!/bin/sh
# enrollment_cli_test.sh -- the enrollment-example program from the
# shell, on an lmdb store in a temporary directory.
#
#     sh enrollment_cli_test.sh PATH-TO-ENROLLMENT-EXAMPLE
set -u
PROG=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-enroll-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
STORE="lmdb:$T/store"
FAILS=0

# expect STATUS ARGS...: run the program and check its exit status.
expect() {
	want=$1
	shift
	"$PROG" --store "$STORE" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: enrollment-example $*: exit $rc, wanted $want;" \
		     "stderr: $(cat "$T/err")" >&2
		FAILS=$((FAILS + 1))
	fi
}

# contains FILE TEXT: the last run's stdout or stderr holds TEXT.
contains() {
	if ! grep -q -- "$2" "$T/$1"; then
		echo "FAIL: no \"$2\" in $1: $(cat "$T/$1")" >&2
		FAILS=$((FAILS + 1))
	fi
}

expect 0 define math 2
expect 1 define math 5
contains err "defined already"
expect 0 define art
expect 0 define music
expect 0 define drama
expect 0 enroll math ann
expect 1 enroll math ann
contains err "already enrolled"
expect 0 enroll math bob
expect 1 enroll math cid
contains err "full"
expect 1 enroll chemistry ann
contains err "no such course"
expect 0 enroll art ann
expect 0 enroll music ann
expect 1 enroll drama ann
contains err "too many courses"
expect 0 show math
contains out "ann"
contains out "bob"
contains out "2 of 2 seats taken"
expect 0 show drama
contains out "0 of 10 seats taken"
expect 1 show chemistry
expect 2 define math 0
expect 2 enroll math
expect 2 frobnicate

if [ $FAILS -gt 0 ]; then
	echo "enrollment_cli_test: $FAILS check(s) failed" >&2
	exit 1
fi
echo "enrollment_cli_test: ok"
