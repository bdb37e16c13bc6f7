# Expected versions: a mismatch exits 3, says why on one line, and writes
# nothing.
. "$(dirname "$0")/lib.sh" "$@"

expect 0 "NO_STREAM on a new stream" \
	"$CAIRN" append s1 '{"n":1}' --type T --expected NO_STREAM
expect 3 "NO_STREAM on an existing stream" \
	"$CAIRN" append s1 '{"n":2}' --type T --expected NO_STREAM
one_error_line append "conflict message"
has "$T/err" "s1" "the conflict names the stream"
same "$(cat "$T/out")" "" "nothing on stdout after a conflict"

expect 3 "a wrong exact version" \
	"$CAIRN" append s1 '{"n":2}' --type T --expected 5
one_error_line append "conflict message for an exact version"
expect 3 "an exact version too low" \
	"$CAIRN" append s1 '{"n":2}' --type T --expected 0
expect 0 "the right exact version" \
	"$CAIRN" append s1 '{"n":2}' --type T --expected 1
same "$(cat "$T/out")" '{"stream":"s1","version":2,"position":2}' \
	"append at the right version"
expect 3 "EXISTS on a new stream" \
	"$CAIRN" append s2 '{"n":1}' --type T --expected EXISTS
expect 0 "exists (any case) on an existing stream" \
	"$CAIRN" append s1 '{"n":3}' --type T --expected exists
expect 0 "any" "$CAIRN" append s1 '{"n":4}' --type T --expected any

expect 0 "read s1" "$CAIRN" read s1
same "$(lines "$T/out")" 4 "conflicting appends wrote nothing"
expect 0 "read s2" "$CAIRN" read s2
same "$(lines "$T/out")" 0 "no stream s2 after its conflict"

# the same on the memory backend
expect 3 "memory: EXISTS on a new stream" \
	"$CAIRN" --store memory: append m '1' --type T --expected EXISTS
one_error_line append "memory: conflict message"
expect 3 "memory: version 1 on a new stream" \
	"$CAIRN" --store memory: append m '1' --type T --expected 1
expect 0 "memory: NO_STREAM on a new stream" \
	"$CAIRN" --store memory: append m '1' --type T --expected NO_STREAM

finish
