# Every endpoint of the API and every error status, on an lmdb store.
. "$(dirname "$0")/lib.sh" "$@"

start --store "lmdb:$T/store" --max-body 65536 || finish

req GET /health
status 200 "health"
field .status '"ok"' "health status"
field .backend '"lmdb"' "health backend"

# -- append to one stream
post /streams/acc-1 '{"expected_version":"no_stream","events":[
  {"type":"Opened","data":{"owner": "ada", "rate": 0.1},"metadata":{"by":"t"},
   "tags":["acc:1"]},
  {"type":"Deposited","data":{"amount":100}}]}'
status 201 "append"
field '[.first_version,.last_version,.first_position,.last_position]' \
    '[1,2,1,2]' "append result"

post /streams/acc-1 '{"expected_version":2,"events":[
  {"type":"Bin","data":"AAEC/w==","data_encoding":"base64",
   "id":"0d5b1e2c-2f5c-4c2a-9a0e-8e3b5b6f7a10"}]}'
status 201 "append at version 2, with id"
field .last_version 3 "version 3"

# idempotent repeat of the same id at the same place
post /streams/acc-1 '{"expected_version":2,"events":[
  {"type":"Bin","data":"AAEC/w==","data_encoding":"base64",
   "id":"0d5b1e2c-2f5c-4c2a-9a0e-8e3b5b6f7a10"}]}'
status 201 "idempotent repeat"
field '[.idempotent,.first_version,.first_position]' '[true,3,3]' \
    "idempotent result"

# -- 409 conflict with expected and actual
post /streams/acc-1 '{"expected_version":1,"events":[{"type":"X","data":1}]}'
status 409 "stale expected version"
field '[.error,.stream,.expected,.actual]' \
    '["wrong_expected_version","acc-1",1,3]' "conflict body"
post /streams/acc-9 '{"expected_version":"exists","events":[{"type":"X","data":1}]}'
status 409 "exists on a missing stream"
field .expected '"exists"' "expected exists"

# -- read a stream: JSON array, payloads inline or base64, exact numbers
req GET /streams/acc-1
status 200 "read stream"
field 'length' 3 "three events"
field '.[0] | [.stream,.type,.version,.position,.data.rate,.metadata.by,.tags]' \
    '["acc-1","Opened",1,1,0.1,"t",["acc:1"]]' "first event"
field '.[1].metadata' 'null' "no metadata is null"
field '.[2] | [.data,.data_encoding,.id]' \
    '["AAEC/w==","base64","0d5b1e2c-2f5c-4c2a-9a0e-8e3b5b6f7a10"]' "binary event"
grep -q '"rate":0.1}' "$T/body"
same $? 0 "0.1 is stored as sent, not re-printed"

req GET '/streams/acc-1?direction=backward&limit=1'
field '[length, .[0].version]' '[1,3]' "backward limit 1"
req GET '/streams/acc-1?from=2'
field '[.[].version]' '[2,3]' "from version 2"
req GET /streams/acc-1 -H 'Accept: application/x-ndjson'
status 200 "ndjson"
same "$(wc -l <"$T/body" | tr -d ' ')" 3 "three NDJSON lines"
same "$(jq -c .version "$T/body" | tr '\n' ' ')" "1 2 3 " "NDJSON versions"

# -- stream ids are percent-encoded in paths
post '/streams/tenant%2Fa%20b' '{"events":[{"type":"T","data":{}}]}'
status 201 "append to an id with a slash and a space"
req GET '/streams/tenant%2Fa%20b'
field '.[0].stream' '"tenant/a b"' "decoded stream id"
req GET '/streams/tenant%2Fa%20b/info'
field '[.stream,.version]' '["tenant/a b",1]' "info of the encoded id"

# -- multi-stream append
post /append '{"writes":[
  {"stream":"acc-1","expected_version":3,"events":[{"type":"Withdrawn","data":{"amount":5}}]},
  {"stream":"acc-2","expected_version":"no_stream","events":[{"type":"Deposited","data":{"amount":5}},{"type":"Noted","data":"x"}]}]}'
status 201 "multi append"
field '[.writes[0].stream,.writes[0].first_version,.writes[1].first_version,.writes[1].last_version,.writes[1].last_position - .writes[0].first_position]' \
    '["acc-1",4,1,2,2]' "multi result"
post /append '{"writes":[
  {"stream":"acc-1","expected_version":3,"events":[{"type":"W","data":1}]},
  {"stream":"acc-3","expected_version":"any","events":[{"type":"D","data":1}]}]}'
status 409 "multi conflict"
field '[.stream,.expected,.actual,.index]' '["acc-1",3,4,0]' "multi conflict body"
req GET /streams/acc-3
status 404 "nothing of the failed multi append was written"
field .error '"stream_not_found"' "404 code"

# -- append-if (DCB)
post /append-if '{"query":[{"types":["Enrolled"],"tags":["course:c1"]}],"after":0,
  "stream":"course-c1","expected_version":"any",
  "events":[{"type":"Enrolled","data":{"s":1},"tags":["course:c1"]}]}'
status 201 "append-if, nothing matched"
P=$(jq .last_position "$T/body")
post /append-if '{"query":[{"types":["Enrolled"],"tags":["course:c1"]}],"after":0,
  "stream":"course-c1","events":[{"type":"Enrolled","data":{"s":2},"tags":["course:c1"]}]}'
status 409 "append-if, condition failed"
field '[.error,.position]' "[\"condition_failed\",$P]" "condition body"
post /append-if "{\"query\":[{\"tags\":[\"course:c1\"]}],\"after\":$P,
  \"writes\":[{\"stream\":\"course-c1\",\"expected_version\":1,
  \"events\":[{\"type\":\"Enrolled\",\"data\":{\"s\":2},\"tags\":[\"course:c1\"]}]}]}"
status 201 "append-if after the seen position, writes form"
field '.writes[0].last_version' 2 "append-if writes result"

# -- $all with filters
req GET '/all?types=Deposited,Withdrawn'
field '[.[].type]' '["Deposited","Withdrawn","Deposited"]' "types filter"
req GET '/all?prefix=acc-2'
field '[.[].stream] | unique' '["acc-2"]' "prefix filter"
req GET '/all?from=3&limit=2'
field '[.[].position]' '[3,4]' "from and limit"
req GET '/all?direction=backward&limit=1'
field 'length' 1 "all backward"

# -- stream info and listing with a next cursor
req GET /streams/acc-1/info
status 200 "info"
field '[.stream,.version,(.created|test("Z$")),(.last_position > 0)]' \
    '["acc-1",4,true,true]' "info body"
req GET /streams/nope/info
status 404 "info of a missing stream"
req GET '/streams?prefix=acc-&limit=1'
status 200 "list page 1"
field '[[.streams[].stream],.next]' '[["acc-1"],"acc-1"]' "page 1"
req GET '/streams?prefix=acc-&limit=1&after=acc-1'
field '[[.streams[].stream],.next]' '[["acc-2"],null]' "page 2 is the last"
req GET '/streams'
field '[.streams[].stream]' '["acc-1","acc-2","course-c1","tenant/a b"]' \
    "all streams"
req GET '/streams?limit=0'
status 400 "limit 0"

# -- metrics
req GET /metrics
status 200 "metrics"
grep -q '^cairn_appends_total [1-9]' "$T/body"
same $? 0 "appends counted"
grep -q '^cairn_conflicts_total [1-9]' "$T/body"
same $? 0 "conflicts counted"
grep -q '^cairnd_active_subscribers 0' "$T/body"
same $? 0 "active subscribers"
grep -q '^cairn_append_duration_seconds_bucket' "$T/body"
same $? 0 "latency histogram"

# -- subscriptions list (empty) and ack of an unknown one
req GET /subscriptions
field '.subscriptions' '[]' "no durable subscriptions"
post /subscriptions/nobody/ack '{"position":1}'
status 404 "ack of an unknown subscription"
field .error '"subscription_not_found"' "404 ack code"

# -- 400s
post /streams/acc-1 '{"events":[{"type":"T","data":1}'
status 400 "truncated JSON"
field .error '"malformed_json"' "malformed code"
post /streams/acc-1 "$(printf '{"events":[{"type":"T","data":"\xff"}]}')"
status 400 "invalid UTF-8"
post /streams/acc-1 '{"events":[{"type":"T","data":1,"colour":2}]}'
status 400 "unknown field"
field .error '"invalid_request"' "invalid_request code"
post /streams/acc-1 '{"expected_version":"sometimes","events":[{"type":"T","data":1}]}'
status 400 "bad expected version"
post /streams/acc-1 '{"events":[]}'
status 400 "no events"
post /streams/acc-1 '{"events":[{"type":"","data":1}]}'
status 400 "empty type"
field .error '"invalid_type"' "invalid_type code"
post /streams/acc-1 '{"events":[{"type":"T","data":"x","data_encoding":"base64"}]}'
status 400 "bad base64"
post /streams/a%01b '{"events":[{"type":"T","data":1}]}'
status 400 "control character in a stream id"
field .error '"invalid_stream"' "invalid_stream code"
req GET /streams/a%zz
status 400 "broken percent escape"
req GET "/streams/$(head -c 300 /dev/zero | tr '\0' x)"
status 400 "stream id over 255 bytes"
req GET '/all?from=-1'
status 400 "negative from"
req GET '/streams/acc-1?direction=sideways'
status 400 "bad direction"

# -- 404, 405, 413, 415
req GET /streams/acc-1/nothing
status 404 "unknown endpoint under /streams"
field .error '"not_found"' "not_found code"
req DELETE /streams/acc-1
status 405 "DELETE a stream"
field .error '"method_not_allowed"' "405 code"
req POST /streams/acc-1 -d '{"events":[]}' -H 'Content-Type: text/plain'
status 415 "text/plain body"
field .error '"unsupported_media_type"' "415 code"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
req POST /streams/acc-1 -H 'Content-Type: application/json' \
    --data-binary "@$T/big.json"
status 413 "body over --max-body"
field .error '"too_large"' "413 code"
# chunked upload over the limit (no Content-Length to refuse early)
req POST /streams/acc-1 -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary "@$T/big.json"
status 413 "chunked body over --max-body"
# oversized headers are refused by libmicrohttpd itself
req GET /health -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)"
case "$STATUS" in 413 | 431) same ok ok "big header" ;;
*) fail "big header: status $STATUS" ;; esac

# the store was left as it was by every refused request
req GET /streams/acc-1/info
field .version 4 "acc-1 at version 4 after all the refusals"

stop TERM
same "$STOP_RC" 0 "exit status after SIGTERM"
finish
