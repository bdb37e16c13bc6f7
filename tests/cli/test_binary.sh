# Payloads that are not one-line JSON travel as base64 and come back byte
# for byte, through read and through export/import.
. "$(dirname "$0")/lib.sh" "$@"

S="lmdb:$T/s"
printf '\000\001\002\377\376\n\r"\\x' >"$T/bin"
head -c 200000 /dev/urandom >"$T/big"      # bigger than the output buffer
printf '{\n  "pretty": true\n}' >"$T/pretty"  # JSON, but on three lines
printf '"\377"' >"$T/badutf8"              # a JSON string of invalid UTF-8
printf '1\000' >"$T/nulafter"               # JSON, then a raw NUL byte
printf '{"a":1,"a":2}' >"$T/dupkeys"         # an object with a key twice
printf '"a\\u0000b"' >"$T/nulescape"        # a string with an escaped NUL
: >"$T/empty"
ALL="bin big pretty badutf8 nulafter dupkeys nulescape empty"
for f in $ALL; do
	expect 0 "append $f" sh -c \
		"'$CAIRN' --store '$S' append $f --type Blob <'$T/$f'"
done

# payload STREAM FILE: the payload of the stream's only event, decoded.
payload() {
	"$CAIRN" --store "$1" read "$2" |
		sed -E 's/.*"data_base64":"([^"]*)".*/\1/' | base64 -d >"$T/got"
}
for f in $ALL; do
	expect 0 "read $f" "$CAIRN" --store "$S" read "$f"
	has "$T/out" '"data_base64":"' "$f is shown as base64"
	lacks "$T/out" '"data":' "$f is not shown as JSON"
	payload "$S" "$f"
	CHECKS=$((CHECKS + 1))
	cmp -s "$T/got" "$T/$f" || fail "$f does not come back byte for byte"
done
expect 0 "read bin" "$CAIRN" --store "$S" read bin
has "$T/out" "\"data_base64\":\"$(base64 -w0 "$T/bin")\"" "standard base64"

# through export and import
expect 0 "export" "$CAIRN" --store "$S" export "$T/x.ndjson"
expect 0 "import" "$CAIRN" --store "lmdb:$T/copy" import "$T/x.ndjson"
for f in $ALL; do
	payload "lmdb:$T/copy" "$f"
	CHECKS=$((CHECKS + 1))
	cmp -s "$T/got" "$T/$f" || fail "$f changed through export/import"
done

finish
