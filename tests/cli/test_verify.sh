# verify: exit 0 and an "ok" summary on a good store, 1 when it cannot
# check.
. "$(dirname "$0")/lib.sh" "$@"

S="lmdb:$T/s"
for i in 1 2 3; do
	"$CAIRN" --store "$S" append "s-$i" '{"n":1}' --type T >/dev/null
	"$CAIRN" --store "$S" append "s-$i" '{"n":2}' --type T --tag x >/dev/null
done
expect 0 "verify a good store" "$CAIRN" --store "$S" verify
same "$(cat "$T/out")" "ok: 0 problems in 6 events, 3 streams" \
	"the summary of a good store"
same "$(cat "$T/err")" "" "nothing on stderr"

expect 0 "verify an empty memory: store" "$CAIRN" --store memory: verify
same "$(cat "$T/out")" "ok: 0 problems in 0 events, 0 streams" \
	"the summary of an empty store"

expect 1 "verify a store that is not there" \
	"$CAIRN" --store "lmdb:$T/missing" verify
one_error_line verify "the error"
CHECKS=$((CHECKS + 1))
[ -e "$T/missing" ] && fail "verify created the missing store"

finish
