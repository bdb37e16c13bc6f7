# --help on every verb, --version, `cairn help VERB`: exit 0, text on
# stdout, nothing on stderr, nothing opened.
. "$(dirname "$0")/lib.sh" "$@"

for verb in append read streams stat export import verify bench; do
	for opt in --help -h; do
		expect 0 "$verb $opt" "$CAIRN" "$verb" "$opt"
		has "$T/out" "Usage: cairn $verb" "$verb $opt text"
		same "$(cat "$T/err")" "" "$verb $opt stderr"
	done
done
expect 0 "cairn --help" "$CAIRN" --help
has "$T/out" "Usage: cairn [--store URI] VERB" "cairn --help text"
for verb in append read streams stat export import verify bench; do
	has "$T/out" "  $verb" "cairn --help lists $verb"
done
expect 0 "cairn -h" "$CAIRN" -h
expect 0 "cairn help" "$CAIRN" help
has "$T/out" "Usage: cairn [--store URI] VERB" "cairn help text"
expect 0 "cairn help read" "$CAIRN" help read
has "$T/out" "Usage: cairn read" "cairn help read text"
expect 0 "cairn --version" "$CAIRN" --version
CHECKS=$((CHECKS + 1))
grep -Eq '^cairn [0-9]+\.[0-9]+\.[0-9]+$' "$T/out" ||
	fail "version line: $(cat "$T/out")"
CHECKS=$((CHECKS + 1))
[ -e cairn-data ] && fail "help opened the default store"

finish
