# Output to a reader that goes away (| head) ends quietly; output to a
# full disk is an error.
. "$(dirname "$0")/lib.sh" "$@"

S="lmdb:$T/s"
# ~2 MB of NDJSON, far more than a pipe holds, so that the writer is
# still writing when head exits.
PAD=$(printf '%0300d' 0)
for i in $(seq 1 6000); do
	printf '{"stream":"s-%d","version":1,"type":"T","id":"00000000-0000-4000-8000-%012d","data":{"pad":"%s"}}\n' \
		"$i" "$i" "$PAD"
done >"$T/gen.ndjson"
expect 0 "import" "$CAIRN" --store "$S" import "$T/gen.ndjson"

for cmd in "read \$all" "export" "streams --json"; do
	# shellcheck disable=SC2086
	"$CAIRN" --store "$S" $cmd 2>"$T/err" | head -1 >"$T/first"
	st=${PIPESTATUS[0]}
	same "$st" 0 "$cmd | head -1: exit status"
	same "$(cat "$T/err")" "" "$cmd | head -1: nothing on stderr"
	same "$(lines "$T/first")" 1 "$cmd | head -1: one line"
done
"$CAIRN" --store "$S" read '$all' 2>/dev/null | head -1 >"$T/first"
has "$T/first" '{"position":1,"stream":"s-1",' "the first line is whole"

if [ -w /dev/full ]; then
	for cmd in "read \$all" "export" "stat" "verify" "--help"; do
		# shellcheck disable=SC2086
		"$CAIRN" --store "$S" $cmd >/dev/full 2>"$T/err"
		same "$?" 1 "$cmd > /dev/full: exit status"
		one_error_line "" "$cmd > /dev/full: one line"
		has "$T/err" "No space left on device" "$cmd > /dev/full: why"
	done
	expect 1 "export FILE to /dev/full" \
		"$CAIRN" --store "$S" export /dev/full
	has "$T/err" "No space left on device" "export /dev/full: why"
fi

finish
