# bench runs cairn-bench from next to the cairn binary, else from PATH,
# passing the arguments through.  A stand-in cairn-bench prints what it
# got, so the test does not depend on the real benchmark.
. "$(dirname "$0")/lib.sh" "$@"

mkdir -p "$T/next" "$T/alone" "$T/path"
cp "$CAIRN" "$T/next/cairn"
cp "$CAIRN" "$T/alone/cairn"
for d in next path; do
	printf '#!/bin/sh\necho "%s: $*"\nexit 7\n' "$d" >"$T/$d/cairn-bench"
	chmod +x "$T/$d/cairn-bench"
done

expect 7 "bench next to cairn" "$T/next/cairn" bench --one 'two words'
same "$(cat "$T/out")" "next: --one two words" "the sibling gets the arguments"
PATH="$T/path:$PATH" expect 7 "the sibling comes before PATH" \
	"$T/next/cairn" bench x
same "$(cat "$T/out")" "next: x" "the sibling comes before PATH"
PATH="$T/path:$PATH" expect 7 "bench from PATH" "$T/alone/cairn" bench -- --help
same "$(cat "$T/out")" "path: --help" "PATH is searched, -- is dropped"
PATH="$T/nowhere" expect 1 "no cairn-bench anywhere" "$T/alone/cairn" bench
one_error_line bench "no cairn-bench"
has "$T/err" "cairn-bench" "the message names the program"

finish
