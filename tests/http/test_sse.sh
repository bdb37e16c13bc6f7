# GET /subscribe: live delivery, Last-Event-ID resume, filters, heartbeats,
# durable subscriptions with ack, GET /subscriptions.
. "$(dirname "$0")/lib.sh" "$@"

start --store "lmdb:$T/store" --heartbeat-ms 200 || finish

append() { # STREAM TYPE N
	post "/streams/$1" "{\"events\":[{\"type\":\"$2\",\"data\":{\"n\":$3}}]}"
	status 201 "append $1 $3"
}
# sse NAME QUERY [CURL ARGS...]: a subscriber in the background, its
# stream in $T/NAME.
sse() {
	local name=$1 query=$2
	shift 2
	curl -s -N --max-time 30 "$@" "$B/subscribe$query" >"$T/$name" &
	eval "SSE_$name=\$!"
	wait_for "$T/$name" ": subscribed" || fail "$name did not open"
}
ids() { sed -n 's/^id: //p' "$T/$1" | tr '\n' ' '; }

append acc-1 Opened 1
append acc-1 Deposited 2

# live (default: from the end) sees only what comes next
sse live ""
sse all "?from=start"
sse deposits "?from=start&types=Deposited"
sse pfx "?from=3&prefix=other-"
append acc-1 Deposited 3
append other-1 Deposited 4
wait_for "$T/live" "id: 4" || fail "live did not get position 4"
wait_for "$T/all" "id: 4" || fail "all did not get position 4"
wait_for "$T/pfx" "id: 4" || fail "pfx did not get position 4"
same "$(ids live)" "3 4 " "live from the end"
same "$(ids all)" "1 2 3 4 " "from the start"
same "$(ids pfx)" "4 " "prefix filter from position 3"
wait_for "$T/deposits" "id: 4"
same "$(ids deposits)" "2 3 4 " "types filter"
# one data: line per event, the event JSON
same "$(sed -n 's/^data: //p' "$T/all" | head -1 | jq -c '[.stream,.type,.version,.position,.data.n]')" \
    '["acc-1","Opened",1,1,1]' "data line is the event"
wait_for "$T/live" ": ping" || fail "no heartbeat"

req GET /metrics
grep -q '^cairnd_active_subscribers 4' "$T/body"
same $? 0 "four active subscribers in /metrics"

# resume strictly after Last-Event-ID
curl -s -N --max-time 1 -H 'Last-Event-ID: 2' "$B/subscribe?from=start" \
    >"$T/resumed"
same "$(ids resumed)" "3 4 " "Last-Event-ID 2 resumes at 3"
req GET /subscribe -H 'Last-Event-ID: x'
status 400 "Last-Event-ID not a number"
req GET '/subscribe?from=99'
status 400 "from beyond the head"

# durable: starts at the beginning, keeps its cursor, moves it by ack
sse d1 "?durable=billing"
wait_for "$T/d1" "id: 4" || fail "durable did not catch up"
same "$(ids d1)" "1 2 3 4 " "durable from the beginning"
req GET /subscriptions
field '.subscriptions[0] | [.name,.position,.active]' '["billing",0,true]' \
    "listed, live, nothing acknowledged"
post /subscriptions/billing/ack '{"position":2}'
status 200 "ack 2"
field '[.name,.position]' '["billing",2]' "ack result"
post /subscriptions/billing/ack '{"position":1}'
field .position 2 "an older ack does not move the cursor back"
post /subscriptions/billing/ack '{"position":99}'
status 400 "ack beyond what was sent"
post /subscriptions/billing/ack '{"pos":3}'
status 400 "ack body without position"
kill "$SSE_d1" 2>/dev/null
wait "$SSE_d1" 2>/dev/null
append acc-1 Withdrawn 5
# the consumer comes back: everything after the cursor, again (at least
# once); with Last-Event-ID what it saw already is skipped
sse d2 "?durable=billing"
wait_for "$T/d2" "id: 5" || fail "durable did not resume"
same "$(ids d2)" "3 4 5 " "durable resumes after the acknowledged cursor"
kill "$SSE_d2" 2>/dev/null
wait "$SSE_d2" 2>/dev/null
sse d3 "?durable=billing" -H 'Last-Event-ID: 4'
wait_for "$T/d3" "id: 5" || fail "durable with Last-Event-ID"
same "$(ids d3)" "5 " "durable skips what Last-Event-ID says was seen"
kill "$SSE_d3" 2>/dev/null
wait "$SSE_d3" 2>/dev/null
sleep 0.5 # the server notices the gone client at its next ping
req GET /subscriptions
field '.subscriptions[0] | [.name,.position,.active]' '["billing",2,false]' \
    "cursor stays at the last ack, no live consumer"
post /subscriptions/billing/ack '{"position":5}'
field .position 5 "ack without a live consumer, up to the head"

stop TERM
same "$STOP_RC" 0 "exit status after SIGTERM with subscribers"
for s in live all deposits pfx; do
	eval "p=\$SSE_$s"
	wait "$p"
	same $? 0 "subscriber $s ended cleanly at shutdown"
done
finish
