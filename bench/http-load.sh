#!/bin/sh
# Load cairnd with wrk on loopback: appends, then reads, each with
# CONNECTIONS connections for SECONDS seconds (defaults 64 and 30), and
# report req/s, latency percentiles, failures and the server's memory.
#
#   bench/http-load.sh BUILD_DIR [SECONDS [CONNECTIONS]]
#
# The server runs on a fresh lmdb store in a temporary directory
# (durable: every append is synced, concurrent ones share a commit).
# Exits 1 when any request failed (socket error or unexpected status) or
# the server died.
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [SECONDS [CONNECTIONS]]}" && pwd)
seconds=${2:-30}
conns=${3:-64}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairnd-load.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$build/cairnd" --store "lmdb:$dir/store" --listen 127.0.0.1:0 \
	--max-connections 1024 >"$dir/out" 2>"$dir/err" &
pid=$!
i=0
while ! grep -q 'listening on' "$dir/out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 100 ] && { cat "$dir/err" >&2; exit 1; }
	sleep 0.05
done
url=$(sed -n 's/^cairnd: listening on \(http:[^ ]*\)\/ .*/\1/p' "$dir/out")
rss() { awk '/^(VmRSS|RssAnon):/ {printf "%s %s kB  ", $1, $2}' \
	"/proc/$pid/status"; echo; }

status=0
run() { # NAME WRK-ARGS...
	name=$1
	shift
	echo "== $name: $conns connections, ${seconds}s"
	wrk -t2 -c"$conns" -d"${seconds}s" --timeout 10s --latency "$@" \
		>"$dir/wrk" 2>&1 || status=1
	grep -E 'Requests/sec|Latency  |50%|90%|99%|requests in|Socket errors|Non-2xx' \
		"$dir/wrk" | sed 's/^ */  /'
	if grep -qE 'Socket errors|Non-2xx|unexpected' "$dir/wrk"; then
		echo "  FAILED requests (see above)"
		status=1
	fi
	printf '  server: '
	rss
}

printf 'server at start: '
rss
run "append (POST /streams/{s}, 1 event)" -s "$here/http-append.lua" "$url"
run "read a stream (GET /streams/load-7?limit=20)" "$url/streams/load-7?limit=20"
run "read \$all (GET /all?from=1000&limit=100)" "$url/all?from=1000&limit=100"
run "stream info (GET /streams/load-7/info)" "$url/streams/load-7/info"
kill -0 "$pid" 2>/dev/null || { echo "the server died" >&2; status=1; }
curl -s "$url/health"
exit $status
