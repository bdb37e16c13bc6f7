# Durable SSE and acknowledgments: what a resumed subscriber already has
# (its stored cursor, the events skipped by Last-Event-ID) may be
# acknowledged; a position at or below the cursor is never refused; a
# cursor deleted under a live subscriber is not brought back by an ack; a
# client that goes away stops being "active" without waiting for the
# next heartbeat.
. "$(dirname "$0")/lib.sh" "$@"

start --store "lmdb:$T/store" --heartbeat-ms 200 || finish

append() { # STREAM TYPE N
	post "/streams/$1" "{\"events\":[{\"type\":\"$2\",\"data\":{\"n\":$3}}]}"
	status 201 "append $1 $3"
}
sse() { # NAME QUERY [CURL ARGS...]
	local name=$1 query=$2
	shift 2
	curl -s -N --max-time 30 "$@" "$B/subscribe$query" >"$T/$name" &
	eval "SSE_$name=\$!"
	wait_for "$T/$name" ": subscribed" || fail "$name did not open"
}
ids() { sed -n 's/^id: //p' "$T/$1" | tr '\n' ' '; }
end_sse() { # NAME
	eval "kill \$SSE_$1 2>/dev/null; wait \$SSE_$1 2>/dev/null"
}
active() { # NAME: true/false as GET /subscriptions says
	req GET /subscriptions
	jq -c --arg n "$1" '.subscriptions[] | select(.name == $n) | .active' \
	    "$T/body"
}
# wait_inactive NAME TENTHS
wait_inactive() {
	local i
	for i in $(seq 1 "$2"); do
		[ "$(active "$1")" = false ] && return 0
		sleep 0.1
	done
	return 1
}

append acc-1 Opened 1
append acc-1 Deposited 2
append acc-1 Deposited 3
append acc-1 Deposited 4

sse d1 "?durable=billing&from=start"
wait_for "$T/d1" "id: 4" || fail "durable did not catch up"
post /subscriptions/billing/ack '{"position":2}'
status 200 "ack 2"
end_sse d1
wait_inactive billing 30 || fail "d1 still active"

# Resumed with Last-Event-ID 4: events 3 and 4 are skipped (the client has
# them); nothing is written out, yet the client may acknowledge them.
sse d2 "?durable=billing" -H 'Last-Event-ID: 4'
sleep 0.3
same "$(ids d2)" "" "nothing new to send after Last-Event-ID 4"
post /subscriptions/billing/ack '{"position":2}'
status 200 "an ack at the cursor, while live, is not refused" &&
    field .position 2 "the cursor stays"
post /subscriptions/billing/ack '{"position":1}'
status 200 "an ack below the cursor, while live, is not refused" &&
    field .position 2 "an older position does not move the cursor back"
post /subscriptions/billing/ack '{"position":3}'
status 200 "ack a position skipped by Last-Event-ID" &&
    field .position 3 "cursor moved to 3"
post /subscriptions/billing/ack '{"position":4}'
status 200 "ack the Last-Event-ID itself" && field .position 4 "cursor at 4"
append acc-1 Withdrawn 5
wait_for "$T/d2" "id: 5" || fail "d2 did not get 5"
post /subscriptions/billing/ack '{"position":5}'
status 200 "ack what was sent" && field .position 5 "cursor at 5"
end_sse d2
wait_inactive billing 30 || fail "d2 still active"

# Resumed without Last-Event-ID, nothing after the cursor: the stored
# cursor itself counts as had.
sse d3 "?durable=billing"
post /subscriptions/billing/ack '{"position":5}'
status 200 "ack at the stored cursor of a fresh subscriber" &&
    field .position 5 "cursor at 5"
post /subscriptions/billing/ack '{"position":6}'
status 400 "ack beyond the head still refused"

# The cursor deleted under the live subscriber: an ack does not bring it
# back.
if [ -n "$CAIRN" ]; then
	"$CAIRN" --store "lmdb:$T/store" subs delete billing >"$T/cli.out" 2>&1 ||
	    fail "cairn subs delete: $(cat "$T/cli.out")"
	post /subscriptions/billing/ack '{"position":5}'
	status 409 "ack of a cursor deleted under a live subscriber" &&
	    field .error '"conflict"' "its code"
	req GET /subscriptions
	field '[.subscriptions[].name]' '[]' "the deleted cursor stays deleted"
	post /subscriptions/nobody/ack '{"position":1}'
	status 404 "ack of an unknown name" &&
	    field .error '"subscription_not_found"' "its code"
fi
end_sse d3
stop TERM

# A client that goes away is noticed without waiting for a heartbeat
# (30 s here): the subscriber is no longer active within a few seconds.
start --store "lmdb:$T/store" --heartbeat-ms 30000 || finish
sse gone "?durable=gone&from=start"
same "$(active gone)" true "a connected subscriber is active"
end_sse gone
wait_inactive gone 50 || fail "a closed subscriber still active after 5 s"
req GET /metrics
grep -q '^cairnd_active_subscribers 0' "$T/body"
same $? 0 "no active subscriber in /metrics"
finish
