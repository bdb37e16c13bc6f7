#!/bin/sh
# Two cairn processes on one postgres database: one appends, one follows
# with `cairn tail -f` (woken by LISTEN/NOTIFY); both must see the same
# history, the follower within seconds of each commit.
#   test_cli.sh CAIRN   (CAIRN_PG_URI set by scripts/pg-test-cluster.sh)
set -u
CAIRN=$1
[ -n "${CAIRN_PG_URI:-}" ] || { echo "CAIRN_PG_URI is not set" >&2; exit 77; }
T=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$T"' EXIT
case "$CAIRN_PG_URI" in *\?*) sep='&' ;; *) sep='?' ;; esac
CAIRN_STORE="$CAIRN_PG_URI${sep}schema=cli_$$"
export CAIRN_STORE
fail() { echo "FAILED: $*" >&2; exit 1; }

# the schema exists before the follower starts
echo '{"n":0}' | "$CAIRN" append acct-0 --type Opened >/dev/null ||
	fail "first append"
"$CAIRN" tail -f -n 0 >"$T/follow" 2>"$T/follow.err" &
pid=$!
sleep 0.5
N=20
i=1
while [ $i -le $N ]; do
	echo "{\"n\":$i}" | "$CAIRN" append "acct-$((i % 3))" --type Deposited \
		>/dev/null || fail "append $i"
	i=$((i + 1))
done
ok=0
for _ in $(seq 1 100); do
	[ "$(wc -l <"$T/follow")" -ge $N ] && { ok=1; break; }
	sleep 0.1
done
[ $ok = 1 ] || fail "tail -f saw $(wc -l <"$T/follow") of $N commits in 10 s"
kill -TERM $pid
wait $pid
[ $? = 0 ] || fail "tail -f did not end with status 0 on SIGTERM"
[ -s "$T/follow.err" ] && fail "tail -f wrote to stderr: $(cat "$T/follow.err")"

# the same history: what the follower printed is what a fresh read of
# the log prints after the first event
"$CAIRN" tail -n $N >"$T/all" || fail "tail -n $N"
cmp -s "$T/follow" "$T/all" || {
	diff "$T/follow" "$T/all" >&2
	fail "the follower's history differs from the store's"
}
grep -q '"position":21' "$T/follow" || fail "no position 21 in the history"
echo "ok: $N commits seen by tail -f, the same history as tail -n $N"
