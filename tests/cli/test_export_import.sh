# export -> import into a fresh store -> export again gives the same file;
# importing again changes nothing; a store that diverges is a conflict;
# an import cut short resumes.
. "$(dirname "$0")/lib.sh" "$@"

A="lmdb:$T/a"
B="lmdb:$T/b"
# The export format carries the store's commit time, which an import
# cannot carry over (the store stamps its own): compare without it.
notime() {
	sed -E 's/,"time":"[^"]*"//' "$1"
}

# A long stream first (more than one import batch of 1000), written by
# import itself from a generated file.
for i in $(seq 1 2500); do
	printf '{"stream":"bulk","version":%d,"type":"Tick","id":"00000000-0000-4000-8000-%012d","data":{"i":%d}}\n' \
		"$i" "$i" "$i"
done >"$T/bulk.ndjson"
expect 0 "import a generated file" "$CAIRN" --store "$A" import "$T/bulk.ndjson"
same "$(cat "$T/out")" \
	'{"lines":2500,"events":2500,"written":2500,"skipped":0,"head":2500}' \
	"import summary"
same "$(cat "$T/err")" "" "no progress output when stderr is not a terminal"

# Then every kind of event, interleaved over streams.
ap() { "$CAIRN" --store "$A" append "$@" >/dev/null || fail "append $*"; }
ap s1 '{"a": 1, "b": [1, 2]}' --type Spaced --meta '{"m":1}' --tag x --tag y
ap s2 'plain text' --type Text
printf '\000\001\377\n\r"\\' | ap s1 --type Binary
printf '' | ap s2 --type Empty
printf '{\n  "pretty": true\n}\n' | ap s1 --type Pretty
ap 'ünï-1' '"ünïcödé"' --type 'Typ€' --tag 'tag ünï'
ap s2 '[]' --type List --meta '"just a string"'
ap s1 'null' --type Null

expect 0 "export to stdout" "$CAIRN" --store "$A" export
cp "$T/out" "$T/a.ndjson"
same "$(lines "$T/a.ndjson")" 2508 "one line per event"
expect 0 "export to a file" "$CAIRN" --store "$A" export "$T/a-file.ndjson"
CHECKS=$((CHECKS + 1))
cmp -s "$T/a.ndjson" "$T/a-file.ndjson" ||
	fail "export to a file differs from export to stdout"
same "$(ls "$T" | grep -c 'tmp-')" 0 "no temporary file left behind"
expect 0 "export to a file again" "$CAIRN" --store "$A" export "$T/a-file.ndjson"
CHECKS=$((CHECKS + 1))
cmp -s "$T/a.ndjson" "$T/a-file.ndjson" || fail "export over an existing file"

# -- into a fresh store, and out again
expect 0 "import into a fresh store" "$CAIRN" --store "$B" import "$T/a.ndjson"
same "$(cat "$T/out")" \
	'{"lines":2508,"events":2508,"written":2508,"skipped":0,"head":2508}' \
	"import summary"
expect 0 "export the copy" "$CAIRN" --store "$B" export
cp "$T/out" "$T/b.ndjson"
CHECKS=$((CHECKS + 1))
if ! cmp -s <(notime "$T/a.ndjson") <(notime "$T/b.ndjson"); then
	fail "export -> import -> export differs: $(diff <(notime "$T/a.ndjson") <(notime "$T/b.ndjson") | head -5)"
fi
expect 0 "verify the copy" "$CAIRN" --store "$B" verify

# -- import again: idempotent, nothing written, head unchanged
expect 0 "import again" "$CAIRN" --store "$B" import "$T/a.ndjson"
same "$(cat "$T/out")" \
	'{"lines":2508,"events":2508,"written":0,"skipped":2508,"head":2508}' \
	"re-import writes nothing"
expect 0 "export after re-import" "$CAIRN" --store "$B" export
CHECKS=$((CHECKS + 1))
cmp -s "$T/out" "$T/b.ndjson" || fail "re-import changed the store"

# -- from stdin
expect 0 "import from stdin" \
	sh -c "'$CAIRN' --store 'lmdb:$T/c' import <'$T/a.ndjson'"
has "$T/out" '"written":2508' "import from stdin"
expect 0 "import from -" \
	sh -c "'$CAIRN' --store 'lmdb:$T/c' import - <'$T/a.ndjson'"
has "$T/out" '"skipped":2508' "import from - is idempotent too"

# -- memory: import works within one run
expect 0 "import into memory:" "$CAIRN" --store memory: import "$T/a.ndjson"
has "$T/out" '"written":2508' "import into memory:"

# -- a store that diverges from the file: a conflict, exit 3
D="lmdb:$T/d"
"$CAIRN" --store "$D" append bulk '{"other":1}' --type Other >/dev/null
expect 3 "import into a diverging store" "$CAIRN" --store "$D" import \
	"$T/a.ndjson"
one_error_line import "the conflict message"
has "$T/err" "line 1" "the conflict names the line"
expect 0 "stat after the conflict" "$CAIRN" --store "$D" stat
has "$T/out" "events	1" "the conflict wrote nothing"

# Diverging later: the lines before the conflict are imported.
E="lmdb:$T/e"
"$CAIRN" --store "$E" append s2 '"mine"' --type Mine >/dev/null
expect 3 "import into a store diverging on s2" "$CAIRN" --store "$E" import \
	"$T/a.ndjson"
N=$(grep -n '"stream":"s2"' "$T/a.ndjson" | head -1 | cut -d: -f1)
has "$T/err" "line $N " "the conflict names the first line of s2"
expect 0 "read bulk after the conflict" "$CAIRN" --store "$E" read bulk
same "$(lines "$T/out")" 2500 "lines before the conflict are imported"

# -- an import cut short resumes where it stopped, even mid-batch
F="lmdb:$T/f"
head -n 1200 "$T/a.ndjson" >"$T/part.ndjson"
expect 0 "import a part" "$CAIRN" --store "$F" import "$T/part.ndjson"
expect 0 "import the whole" "$CAIRN" --store "$F" import "$T/a.ndjson"
same "$(cat "$T/out")" \
	'{"lines":2508,"events":2508,"written":1308,"skipped":1200,"head":2508}' \
	"resumed import"
expect 0 "export the resumed store" "$CAIRN" --store "$F" export
CHECKS=$((CHECKS + 1))
cmp -s <(notime "$T/a.ndjson") <(notime "$T/out") ||
	fail "a resumed import differs from the source"

finish
