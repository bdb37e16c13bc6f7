# A malformed line stops an import with its line number: the lines before
# it are imported (committed), nothing from it on; fixing the line and
# importing again resumes.
. "$(dirname "$0")/lib.sh" "$@"

ev() { # STREAM VERSION N
	printf '{"stream":"%s","version":%d,"type":"T","id":"00000000-0000-4000-8000-%012d","data":{"n":%d}}\n' \
		"$1" "$2" "$3" "$3"
}
{
	ev a 1 1
	ev a 2 2
	ev b 1 3
	echo '{"stream":"b","version":2,'
	ev c 1 5
} >"$T/bad.ndjson"

S="lmdb:$T/s"
expect 1 "a malformed line" "$CAIRN" --store "$S" import "$T/bad.ndjson"
one_error_line import "the error"
has "$T/err" "line 4:" "the error names line 4"
same "$(cat "$T/out")" "" "no summary after an error"
expect 0 "read \$all" "$CAIRN" --store "$S" read '$all'
same "$(lines "$T/out")" 3 "the three lines before it are imported"
lacks "$T/out" '"stream":"c"' "nothing after the bad line"

# fixed: the import resumes, the first three are recognised
sed -i 4d "$T/bad.ndjson"
expect 0 "the fixed file" "$CAIRN" --store "$S" import "$T/bad.ndjson"
same "$(cat "$T/out")" \
	'{"lines":4,"events":4,"written":1,"skipped":3,"head":4}' \
	"the fixed file resumes"

# Each kind of bad line, as line 3 after a good line and a blank one
# (blank lines are skipped but counted).  memory: gives a fresh store.
bad() { # DESCRIPTION EXPECTED-TEXT LINE
	{ ev a 1 1; echo; printf '%s\n' "$3"; ev a 2 2; } >"$T/one.ndjson"
	expect 1 "$1" "$CAIRN" --store memory: import "$T/one.ndjson" &&
		one_error_line import "$1" &&
		has "$T/err" "line 3: " "$1: the line number" &&
		has "$T/err" "$2" "$1: the reason"
}
ID='"id":"00000000-0000-4000-8000-000000000009"'
bad "not JSON" "not valid JSON" 'hello'
bad "truncated JSON" "not valid JSON" '{"stream":"a"'
bad "not an object" "not a JSON object" '[1,2]'
bad "no type" '"type"' '{"stream":"a","version":2,'"$ID"',"data":1}'
bad "no stream" '"stream"' '{"version":2,"type":"T",'"$ID"',"data":1}'
bad "version 0" '"version"' '{"stream":"a","version":0,"type":"T",'"$ID"',"data":1}'
bad "version a string" '"version"' '{"stream":"a","version":"2","type":"T",'"$ID"',"data":1}'
bad "no id" '"id"' '{"stream":"a","version":2,"type":"T","data":1}'
bad "a bad id" '"id"' '{"stream":"a","version":2,"type":"T","id":"xyz","data":1}'
bad "no data" '"data"' '{"stream":"a","version":2,"type":"T",'"$ID"'}'
bad "data twice" "both" '{"stream":"a","version":2,"type":"T",'"$ID"',"data":1,"data_base64":"AQ=="}'
bad "bad base64" "base64" '{"stream":"a","version":2,"type":"T",'"$ID"',"data_base64":"@@@@"}'
bad "base64 without padding" "base64" '{"stream":"a","version":2,"type":"T",'"$ID"',"data_base64":"AQ"}'
bad "tags not an array" '"tags"' '{"stream":"a","version":2,"type":"T",'"$ID"',"data":1,"tags":"x"}'
bad "a tag not a string" "tag 1" '{"stream":"a","version":2,"type":"T",'"$ID"',"data":1,"tags":[1]}'
bad "an unknown field" "unknown field" '{"stream":"a","version":2,"type":"T",'"$ID"',"data":1,"meta":{}}'
bad "a duplicate field" "not valid JSON" '{"stream":"a","version":2,"type":"T",'"$ID"',"data":1,"data":2}'
bad "an empty stream id" "line 3" '{"stream":"","version":2,"type":"T",'"$ID"',"data":1}'
bad "an empty type" "line 3" '{"stream":"a","version":2,"type":"","id":"00000000-0000-4000-8000-000000000009","data":1}'

# Good variations: CRLF line ends, no newline at the end, blank lines,
# escaped member names, base64 metadata.
{
	ev a 1 1 | sed 's/$/\r/'
	echo
	printf '{"stre\\u0061m":"a","version":2,"type":"T",%s,"d\\u0061ta":{"x":1},"metadata_base64":"AAE="}' "$ID"
} >"$T/odd.ndjson"
expect 0 "CRLF, escapes, no final newline" \
	"$CAIRN" --store "lmdb:$T/odd" import "$T/odd.ndjson"
has "$T/out" '"events":2' "both events imported"
expect 0 "read the odd import" "$CAIRN" --store "lmdb:$T/odd" read a
has "$T/out" '"data":{"x":1},"metadata_base64":"AAE="}' \
	"escaped member names and base64 metadata"

expect 0 "an empty file" "$CAIRN" --store memory: import /dev/null
same "$(cat "$T/out")" \
	'{"lines":0,"events":0,"written":0,"skipped":0,"head":0}' \
	"an empty import"
expect 1 "a missing file" "$CAIRN" --store memory: import "$T/nope.ndjson"
one_error_line import "a missing file"
has "$T/err" "nope.ndjson" "the missing file is named"

finish
