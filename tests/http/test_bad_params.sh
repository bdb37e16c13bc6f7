# Every route answers a badly percent-encoded query parameter with 400
# invalid_parameter, at once.  GET /subscribe?from=%zz used to queue no
# answer at all: libmicrohttpd called the handler again and again (a busy
# loop, its memory growing) until the connection timed out.
. "$(dirname "$0")/lib.sh" "$@"

start --store "lmdb:$T/store" --heartbeat-ms 200 || finish

post /streams/acc-1 '{"events":[{"type":"Opened","data":{}}]}'
status 201 "append"

for path in '/subscribe?from=%zz' '/subscribe?from=%2' \
    '/subscribe?durable=billing&from=%zz' '/subscribe?durable=%zz' \
    '/subscribe?types=%zz' '/all?prefix=%zz' '/all?from=%zz' \
    '/all?direction=%zz' '/streams?after=%zz' '/streams?limit=%zz' \
    '/streams/acc-1?from=%zz' '/streams/acc-1?direction=%zz'; do
	req GET "$path" --max-time 5
	status 400 "GET $path" &&
	    field .error '"invalid_parameter"' "GET $path: the code"
done
# a refused durable subscription created no cursor
req GET /subscriptions
field '.subscriptions | length' 0 "no cursor from a refused subscription"
# and the server is not spinning: it still answers at once
req GET /health --max-time 5
status 200 "health after the bad requests"
finish
