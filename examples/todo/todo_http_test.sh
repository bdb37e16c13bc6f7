#!/bin/sh
# todo_http_test.sh -- the todo program end to end, over HTTP with curl:
# start it on a free 127.0.0.1 port with an lmdb store in a temporary
# directory, drive every command and rule, read the read model, stop it
# with SIGTERM, start it again and find the same read model; then
# --rebuild it and find the same read model once more.
#
#     sh todo_http_test.sh PATH-TO-TODO
#
# Exit status 0 when every check held, 1 otherwise, 77 (skipped) without
# curl.  Every wait is bounded: curl --max-time, 10 s to start or stop.
set -u
TODO=$1
if ! command -v curl >/dev/null 2>&1; then
	echo "todo_http_test: curl not found: skipped"
	exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-todo-http.XXXXXX") || exit 1
PID=
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"' EXIT
STORE="lmdb:$T/store"
READ_DB="$T/read.db"
FAILS=0

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# start: run todo on port 0 (the kernel picks a free one) and read the
# address it prints.
start() {
	rm -f "$T/out" # not the last run's address
	"$TODO" --store "$STORE" --read-db "$READ_DB" --port 0 \
		>"$T/out" 2>"$T/err" &
	PID=$!
	i=0
	while ! grep -qs "listening on" "$T/out"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$PID" 2>/dev/null; then
			echo "FAIL: todo did not start: $(cat "$T/err")" >&2
			exit 1
		fi
		sleep 0.1
	done
	URL=$(sed -n 's/^todo: listening on //p' "$T/out")
}

# stop: SIGTERM, and the program must exit 0 within 10 s.
stop() {
	kill -TERM "$PID"
	i=0
	while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		fail "todo did not stop within 10 s of SIGTERM"
		kill -KILL "$PID"
	fi
	wait "$PID"
	rc=$?
	[ "$rc" = 0 ] || fail "todo exited $rc on SIGTERM: $(cat "$T/err")"
	PID=
}

# call STATUS METHOD PATH [BODY]: the reply's body goes to $T/body and
# the position it names (if any) to $POS.
call() {
	want=$1
	method=$2
	path=$3
	shift 3
	if [ $# -gt 0 ]; then
		got=$(curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' \
			-X "$method" -H 'Content-Type: application/json' \
			--data-binary "$1" "$URL$path")
	else
		got=$(curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' \
			-X "$method" "$URL$path")
	fi
	if [ "$got" != "$want" ]; then
		fail "$method $path ${1:-}: status $got, wanted $want:" \
		     "$(cat "$T/body")"
	fi
	POS=$(sed -n 's/.*"position":\([0-9]*\).*/\1/p' "$T/body")
}

# body_has TEXT: the last reply's body contains TEXT.
body_has() {
	grep -qF -- "$1" "$T/body" || fail "reply lacks $1: $(cat "$T/body")"
}

start

# commands and their rules
call 201 POST /lists '{"id":"groceries","name":"Groceries"}'
call 409 POST /lists '{"id":"groceries","name":"Again"}'
body_has '"message":"list groceries exists already"'
RID=0b7e4c6e-9a8f-4f3e-8d2a-6c1d2b3a4f5e
call 201 POST /lists/groceries/items \
	"{\"id\":\"milk\",\"name\":\"Milk\",\"request_id\":\"$RID\"}"
FIRST=$POS
# a retry of the same request: nothing new, the same position
call 201 POST /lists/groceries/items \
	"{\"id\":\"milk\",\"name\":\"Milk\",\"request_id\":\"$RID\"}"
body_has '"replayed":true'
[ "$POS" = "$FIRST" ] || fail "retry answered position $POS, not $FIRST"
call 201 POST /lists/groceries/items '{"id":"bread","name":"Pain frais é"}'
call 409 POST /lists/groceries/items '{"id":"milk","name":"Milk"}'
call 404 POST /lists/nope/items '{"id":"x","name":"X"}'
body_has '"message":"no list nope"'
call 400 POST /lists/groceries/items '{"id":"bad id","name":"X"}'
call 400 POST /lists/groceries/items '{"id":"x","name":'
call 400 POST /lists/groceries/items '{"id":"x"}'
call 400 POST /lists/groceries/items/milk/complete '{"request_id":"nope"}'
LONG=$(printf '%0201d' 0)
call 422 POST /lists/groceries/items "{\"id\":\"x\",\"name\":\"$LONG\"}"
body_has '"message":"name must be 1 to 200 characters, not 201"'
call 422 POST /lists/groceries/items '{"id":"x","name":""}'
call 200 POST /lists/groceries/items/milk/rename '{"name":"Oat milk"}'
call 404 POST /lists/groceries/items/eggs/rename '{"name":"Eggs"}'
call 200 POST /lists/groceries/items/milk/complete
call 409 POST /lists/groceries/items/milk/complete
body_has '"message":"item milk is completed already"'
call 404 POST /lists/groceries/items/eggs/complete
call 201 POST /lists '{"id":"chores","name":"Chores"}'
call 200 POST /lists/chores/archive
LAST=$POS
call 409 POST /lists/chores/items '{"id":"dishes","name":"Dishes"}'
body_has '"message":"list chores is archived"'
call 409 POST /lists/chores/archive
call 404 GET /lists/groceries/items
call 405 GET /lists/groceries/archive
call 405 DELETE /lists/groceries

# queries wait for the projection to reach the position of the command
call 200 GET "/lists/groceries?min_position=$LAST"
GROCERIES='{"position":'$LAST',"id":"groceries","name":"Groceries",'\
'"archived":false,"items":[{"id":"milk","name":"Oat milk","done":true},'\
'{"id":"bread","name":"Pain frais é","done":false}]}'
[ "$(cat "$T/body")" = "$GROCERIES" ] ||
	fail "GET /lists/groceries: $(cat "$T/body")"
call 200 GET "/lists?min_position=$LAST"
LISTS='{"position":'$LAST',"lists":[{"id":"groceries","name":"Groceries",'\
'"archived":false,"items":2,"done":1},{"id":"chores","name":"Chores",'\
'"archived":true,"items":0,"done":0}]}'
[ "$(cat "$T/body")" = "$LISTS" ] || fail "GET /lists: $(cat "$T/body")"
call 404 GET /lists/nope
call 400 GET "/lists?min_position=x"

# stopped and started again: the same read model, and it goes on
stop
start
call 200 GET /lists/groceries
[ "$(cat "$T/body")" = "$GROCERIES" ] ||
	fail "after a restart, GET /lists/groceries: $(cat "$T/body")"
call 200 GET /lists
[ "$(cat "$T/body")" = "$LISTS" ] ||
	fail "after a restart, GET /lists: $(cat "$T/body")"
call 201 POST /lists/groceries/items '{"id":"eggs","name":"Eggs"}'
call 200 GET "/lists/groceries?min_position=$POS"
body_has '{"id":"eggs","name":"Eggs","done":false}'
cp "$T/body" "$T/groceries"
call 200 GET /lists
cp "$T/body" "$T/lists"
stop

# rebuilt from the store: the same read model again
if ! "$TODO" --store "$STORE" --read-db "$READ_DB" --rebuild \
	2>"$T/rebuild"; then
	fail "--rebuild failed: $(cat "$T/rebuild")"
fi
grep -q "^rebuild: position [0-9]* of [0-9]*" "$T/rebuild" ||
	fail "--rebuild showed no progress: $(cat "$T/rebuild")"
grep -q "^rebuild: done" "$T/rebuild" ||
	fail "--rebuild did not finish: $(cat "$T/rebuild")"
start
call 200 GET /lists/groceries
cmp -s "$T/body" "$T/groceries" ||
	fail "after --rebuild, GET /lists/groceries: $(cat "$T/body")"
call 200 GET /lists
cmp -s "$T/body" "$T/lists" ||
	fail "after --rebuild, GET /lists: $(cat "$T/body")"
stop

if [ $FAILS -gt 0 ]; then
	echo "todo_http_test: $FAILS check(s) failed" >&2
	exit 1
fi
echo "todo_http_test: ok"
