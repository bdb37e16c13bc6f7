# --token-file: 401 without a token, 403 with a wrong one, the token in
# the header or as ?access_token=, never in the logs; /health and the UI
# stay open.
. "$(dirname "$0")/lib.sh" "$@"

TOKEN=s3cr3t-$$-token
printf '%s\n' "$TOKEN" >"$T/token"
start --store memory: --token-file "$T/token" || finish

req GET /health
status 200 "health needs no token"
req GET /streams
status 401 "no token"
field .error '"unauthorized"' "401 code"
curl -s -D "$T/headers" -o /dev/null "$B/streams"
grep -qi '^WWW-Authenticate: Bearer' "$T/headers"
same $? 0 "401 names the Bearer scheme"
req GET /streams -H 'Authorization: Bearer wrong'
status 403 "wrong token"
field .error '"forbidden"' "403 code"
req GET /streams -H "Authorization: Bearer ${TOKEN}x"
status 403 "token with one more byte"
req GET /streams -H "Authorization: Bearer ${TOKEN%?}"
status 403 "token one byte short"
req GET /streams -H "Authorization: Basic $TOKEN"
status 401 "another scheme"
req GET /streams -H "Authorization: Bearer $TOKEN"
status 200 "right token"
req GET "/streams?access_token=$TOKEN"
status 200 "token as a query parameter"
post /streams/a-1 '{"events":[{"type":"T","data":1}]}'
status 401 "append without a token"
post /streams/a-1 '{"events":[{"type":"T","data":1}]}' \
    -H "Authorization: Bearer $TOKEN"
status 201 "append with the token"
req GET /metrics
status 401 "metrics need the token"
req GET /subscribe
status 401 "subscribe needs the token"
curl -s -N --max-time 1 "$B/subscribe?from=start&access_token=$TOKEN" \
    >"$T/sse"
grep -q '^id: 1' "$T/sse"
same $? 0 "EventSource-style token in the query"

stop TERM
same "$STOP_RC" 0 "exit status"
grep -qF "$TOKEN" "$T/server.out" "$T/server.err"
same $? 1 "the token is never logged"

# a missing or empty token file is a startup error
"$CAIRND" --store memory: --listen 127.0.0.1:0 --token-file "$T/none" \
    >/dev/null 2>"$T/err"
same $? 1 "missing token file: exit 1"
: >"$T/empty"
"$CAIRND" --store memory: --listen 127.0.0.1:0 --token-file "$T/empty" \
    >/dev/null 2>"$T/err"
same $? 1 "empty token file: exit 1"
finish
