# cairn tail and cairn subs: the newest events, filters, --from, following
# another process's commits, durable --name resuming after its cursor,
# and the subs verbs.
. "$(dirname "$0")/lib.sh" "$@"

S="lmdb:$T/s"
export CAIRN_STORE="$S"
append() { # STREAM TYPE N
	echo "{\"n\":$3}" | "$CAIRN" append "$1" --type "$2" >/dev/null ||
		fail "append $1 $2 $3"
}
for i in $(seq 1 12); do
	append "acct-$((i % 3))" "$([ $((i % 2)) = 0 ] && echo Even || echo Odd)" "$i"
done
append "other-1" Odd 13

# The newest 10 by default, then -n, --from and the filters.
expect 0 "tail" "$CAIRN" tail
same "$(lines "$T/out")" 10 "tail: 10 lines"
same "$(head -1 "$T/out" | grep -o '"position":[0-9]*')" '"position":4' \
	"tail: starts at the 10th newest"
expect 0 "tail -n 2" "$CAIRN" tail -n 2
same "$(grep -o '"position":[0-9]*' "$T/out" | tr '\n' ' ')" \
	'"position":12 "position":13 ' "tail -n 2: the last two, in order"
expect 0 "tail --from 12" "$CAIRN" tail --from 12
same "$(lines "$T/out")" 2 "tail --from 12: two lines"
expect 0 "tail --types" "$CAIRN" tail -n 100 --types Even
same "$(lines "$T/out")" 6 "tail --types Even: the six even ones"
lacks "$T/out" '"type":"Odd"' "tail --types Even: no odd"
expect 0 "tail --prefix" "$CAIRN" tail -n 100 --prefix other-
same "$(lines "$T/out")" 1 "tail --prefix other-: one"
expect 0 "tail -n 0" "$CAIRN" tail -n 0
same "$(lines "$T/out")" 0 "tail -n 0: nothing old"

# Bad input: one error line, usage status.
expect 2 "tail --from 0" "$CAIRN" tail --from 0
one_error_line tail "tail --from 0"
expect 2 "tail --types with a bad type" "$CAIRN" tail --types 'A,'
one_error_line tail "tail --types 'A,'"
expect 2 "tail stray argument" "$CAIRN" tail foo
one_error_line tail "tail foo"

# -f follows commits made by another process, each as soon as it lands.
"$CAIRN" tail -f -n 0 --prefix acct- >"$T/follow" 2>"$T/follow.err" &
pid=$!
sleep 0.5
append acct-9 Odd 100
append other-2 Odd 101
append acct-9 Even 102
ok=0
for _ in $(seq 1 50); do
	[ "$(lines "$T/follow")" = 2 ] && { ok=1; break; }
	sleep 0.1
done
same "$ok" 1 "tail -f: both matching commits within 5 s"
kill -TERM "$pid"
wait "$pid"
same "$?" 0 "tail -f: SIGTERM ends it with status 0"
lacks "$T/follow" '"stream":"other-2"' "tail -f --prefix: filtered"
same "$(cat "$T/follow.err")" "" "tail -f: nothing on stderr"

# A durable tail resumes after its cursor.
expect 0 "tail --name first run" "$CAIRN" tail --name mirror --from 1
same "$(lines "$T/out")" 16 "tail --name: everything"
append acct-1 Odd 200
expect 0 "tail --name second run" "$CAIRN" tail --name mirror
same "$(lines "$T/out")" 1 "tail --name: only the new event"
has "$T/out" '"position":17' "tail --name: the new position"

expect 0 "subs list" "$CAIRN" subs list
same "$(cut -f1,2 "$T/out")" "$(printf 'mirror\t17')" "subs list: name, cursor"
expect 0 "subs list --json" "$CAIRN" subs list --json
has "$T/out" '{"name":"mirror","position":17,"updated":"' "subs list --json"

expect 0 "subs reset" "$CAIRN" subs reset mirror 15
expect 0 "tail --name after reset" "$CAIRN" tail --name mirror
same "$(lines "$T/out")" 2 "tail --name after reset 15: 16 and 17"
expect 2 "subs reset beyond the head" "$CAIRN" subs reset mirror 1000
one_error_line subs "subs reset beyond the head"
expect 2 "subs reset bad position" "$CAIRN" subs reset mirror x
one_error_line subs "subs reset x"
expect 0 "subs reset end" "$CAIRN" subs reset mirror end
expect 0 "tail --name after reset end" "$CAIRN" tail --name mirror
same "$(lines "$T/out")" 0 "tail --name after reset end: nothing"

expect 0 "subs delete" "$CAIRN" subs delete mirror
expect 0 "subs list after delete" "$CAIRN" subs list
same "$(lines "$T/out")" 0 "subs list: empty after delete"
expect 1 "subs delete again" "$CAIRN" subs delete mirror
one_error_line subs "subs delete of a missing name"
expect 2 "subs unknown action" "$CAIRN" subs frob
one_error_line subs "subs frob"
expect 2 "subs reset without position" "$CAIRN" subs reset mirror
expect 0 "subs --help" "$CAIRN" subs --help
has "$T/out" "Usage: cairn subs" "subs --help"
expect 0 "tail --help" "$CAIRN" tail --help
has "$T/out" "Usage: cairn tail" "tail --help"

# tail | head ends quietly.
"$CAIRN" tail -n 100 2>"$T/err" | head -1 >/dev/null
same "${PIPESTATUS[0]}" 0 "tail | head -1: status"

finish
