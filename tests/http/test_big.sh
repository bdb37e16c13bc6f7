# Reading 1,000,000 events through GET /all streams them: the whole answer
# arrives (as NDJSON and as a JSON array), while the server's anonymous
# memory stays bounded (the store's pages are a file mapping, not
# counted: RssAnon is what buffering the answer would grow).  Skipped when
# CAIRN_SKIP_BIG is set (sanitizer builds).
. "$(dirname "$0")/lib.sh" "$@"

if [ -n "${CAIRN_SKIP_BIG:-}" ]; then
	echo "skipped: CAIRN_SKIP_BIG is set"
	finish
fi
N_REQ=100
PER_REQ=10000
TOTAL=$((N_REQ * PER_REQ))
RSS_LIMIT_KB=$((64 * 1024))

{
	printf '{"events":['
	seq 1 $PER_REQ | sed 's/.*/{"type":"Big","data":{"i":&,"pad":"abcdefghijklmnopqrstuvwxyz"}}/' |
	    paste -sd, -
	printf ']}'
} >"$T/batch.json"
start --store "lmdb:$T/store" --relaxed || finish
for i in $(seq 1 $N_REQ); do
	req POST "/streams/big-$i" -H 'Content-Type: application/json' \
	    --data-binary "@$T/batch.json"
	[ "$STATUS" = 201 ] || { status 201 "append batch $i"; break; }
done
req GET /health
field .head $TOTAL "the store holds $TOTAL events"

rss_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$PID/status"; }
# watch RssAnon while curl reads everything
watch_rss() {
	local max=0 r
	while kill -0 "$1" 2>/dev/null; do
		r=$(rss_anon)
		[ "${r:-0}" -gt "$max" ] && max=$r
		sleep 0.05
	done
	echo "$max"
}
BEFORE=$(rss_anon)
curl -s --max-time 100 -H 'Accept: application/x-ndjson' "$B/all" \
    -o "$T/all.ndjson" &
CURL=$!
MAX=$(watch_rss $CURL)
wait $CURL
same $? 0 "NDJSON read completed"
same "$(wc -l <"$T/all.ndjson" | tr -d ' ')" "$TOTAL" "NDJSON lines"
same "$(tail -1 "$T/all.ndjson" | jq -c '[.position,.stream,.data.i]')" \
    "[$TOTAL,\"big-$N_REQ\",$PER_REQ]" "last event"
BYTES=$(stat -c %s "$T/all.ndjson")
echo "read $BYTES bytes; server RssAnon ${BEFORE} kB before, ${MAX} kB at most"
[ "$MAX" -lt "$RSS_LIMIT_KB" ] ||
    fail "server RssAnon reached $MAX kB (limit $RSS_LIMIT_KB kB)"
rm -f "$T/all.ndjson"

# one event per line between "[" and "]" (jq would hold it all in memory)
curl -s --max-time 100 "$B/all" |
    awk 'NR == 1 { first = $0 } /^\{"id"/ { n++ } { last = $0 }
         END { print first, n, last }' >"$T/count" &
CURL=$!
MAX=$(watch_rss $CURL)
wait $CURL
same "$(cat "$T/count")" "[ $TOTAL ]" "the JSON array holds every event"
[ "$MAX" -lt "$RSS_LIMIT_KB" ] ||
    fail "server RssAnon reached $MAX kB reading the array"
echo "array read: server RssAnon at most ${MAX} kB"

stop TERM
same "$STOP_RC" 0 "exit status"
finish
