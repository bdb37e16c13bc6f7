# SIGTERM and SIGINT: an append in flight finishes and is kept, live
# subscribers are closed, new requests are refused, exit status 0; the
# store opens again.  Slow clients time out.  Usage errors exit 2.
. "$(dirname "$0")/lib.sh" "$@"

# a big append (50,000 events) still running when SIGTERM arrives
{
	printf '{"expected_version":"no_stream","events":['
	seq 1 50000 | sed 's/.*/{"type":"T","data":{"i":&}}/' | paste -sd, -
	printf ']}'
} >"$T/bulk.json"
start --store "lmdb:$T/store" --heartbeat-ms 5000 || finish
curl -s -N --max-time 30 "$B/subscribe" >"$T/sse" &
SSE=$!
wait_for "$T/sse" ": subscribed" || fail "subscriber did not open"
curl -s --max-time 30 -o "$T/append" -w '%{http_code}' \
    -H 'Content-Type: application/json' --data-binary "@$T/bulk.json" \
    "$B/streams/bulk-1" >"$T/append.status" &
APP=$!
sleep 0.05
stop TERM
same "$STOP_RC" 0 "exit status after SIGTERM"
wait "$APP"
wait "$SSE"
same $? 0 "the subscriber's stream was ended, not cut"
grep -q 'shutting down' "$T/server.err"
same $? 0 "says it is shutting down"
# the append either finished (201) or never began (connection refused);
# never half-written
start --store "lmdb:$T/store" || finish
req GET /streams/bulk-1/info
if [ "$(cat "$T/append.status")" = 201 ]; then
	field .version 50000 "the in-flight append finished whole"
else
	case "$STATUS" in
	404) same ok ok "append refused before it began" ;;
	*) field .version 50000 "all or nothing" ;;
	esac
fi
stop INT
same "$STOP_RC" 0 "exit status after SIGINT"

# a client that sends half a request and stalls is cut by --timeout
start --store memory: --timeout 1 --heartbeat-ms 500 || finish
PORT=${B##*:}
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /streams/a-1 HTTP/1.1\r\nHost: x\r\n' >&3
START=$(date +%s)
cat <&3 >/dev/null
ELAPSED=$(($(date +%s) - START))
exec 3<&-
[ "$ELAPSED" -le 5 ] || fail "slow client held for ${ELAPSED}s"
same ok ok "slow client timed out"
stop TERM

# usage errors and an unusable store or address
"$CAIRND" --bogus >/dev/null 2>&1
same $? 2 "unknown option: exit 2"
"$CAIRND" --listen nowhere >/dev/null 2>&1
same $? 1 "bad --listen: exit 1"
"$CAIRND" --help >"$T/help"
same $? 0 "--help: exit 0"
grep -q -- '--token-file' "$T/help"
same $? 0 "--help lists the options"
"$CAIRND" --store bogus:x --listen 127.0.0.1:0 >/dev/null 2>"$T/err"
same $? 1 "unknown store scheme: exit 1"
grep -q 'cannot open' "$T/err"
same $? 0 "says why"
finish
