#!/bin/sh
# bank_cli_test.sh -- the bank-example program from the shell, on an lmdb
# store in a temporary directory: opening, transfers, balances, refusals
# and their exit statuses.
#
#     sh bank_cli_test.sh PATH-TO-BANK-EXAMPLE
set -u
BANK=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bank-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
STORE="lmdb:$T/store"
FAILS=0

# expect STATUS STDOUT-OR-- ARGS...: run the bank, check the exit status
# and, unless "-", that stdout is exactly the expected text.
expect() {
	want=$1
	out=$2
	shift 2
	got=$("$BANK" --store "$STORE" "$@" 2>"$T/err")
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: bank-example $*: exit $rc, wanted $want;" \
		     "stderr: $(cat "$T/err")" >&2
		FAILS=$((FAILS + 1))
	elif [ "$out" != "-" ] && [ "$got" != "$out" ]; then
		echo "FAIL: bank-example $*: printed \"$got\", wanted" \
		     "\"$out\"" >&2
		FAILS=$((FAILS + 1))
	fi
}

expect 0 "opened alice with 100" open alice 100
expect 0 "opened bob with 5" open bob 5
expect 1 - open alice 7
expect 0 - transfer alice bob 30
expect 0 "70" balance alice
expect 0 "35" balance bob
expect 1 - transfer bob alice 36
if ! grep -q "insufficient funds in bob" "$T/err"; then
	echo "FAIL: no insufficient-funds message" >&2
	FAILS=$((FAILS + 1))
fi
expect 0 "35" balance bob
expect 1 - transfer alice carol 1
expect 1 - balance carol
expect 2 - transfer alice alice 1
expect 2 - transfer alice bob -3
expect 2 - transfer alice bob 0
expect 2 - open dave lots
expect 2 - frobnicate
if ! "$BANK" --help >/dev/null; then
	echo "FAIL: --help" >&2
	FAILS=$((FAILS + 1))
fi
# enough events for an account snapshot (every 100 events folded): the
# balance must read the same from the snapshot as from the events
i=0
while [ $i -lt 55 ]; do
	expect 0 - transfer alice bob 2
	expect 0 - transfer bob alice 2
	i=$((i + 1))
done
expect 0 "70" balance alice
expect 0 "70" balance alice
expect 0 "35" balance bob
expect 0 "35" balance bob

if [ $FAILS -gt 0 ]; then
	echo "bank_cli_test: $FAILS check(s) failed" >&2
	exit 1
fi
echo "bank_cli_test: ok"
