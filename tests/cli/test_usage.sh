# Bad command lines exit 2 with one line on stderr, print nothing on
# stdout, and never touch a store.
. "$(dirname "$0")/lib.sh" "$@"

# usage VERB DESCRIPTION CMD-ARGS...
usage() {
	local verb=$1 what=$2
	shift 2
	expect 2 "$what" "$CAIRN" "$@" && one_error_line "$verb" "$what"
	CHECKS=$((CHECKS + 1))
	[ -s "$T/out" ] && fail "$what: printed on stdout: $(head -c 200 "$T/out")"
}

usage "" "no verb"
usage "" "unknown verb" frobnicate
usage "" "unknown global option" --bogus stat
usage "" "--store without a value" --store
usage "help" "help for an unknown verb" help frobnicate

usage append "append without a stream" append
usage append "append without --type" append s '{}'
usage append "--type without a value" append s '{}' --type
usage append "unknown option" append s '{}' --type T --bogus
usage append "unknown short option" append s '{}' --type T -Z
usage append "too many arguments" append s '{}' extra --type T
usage append "a bad --expected" append s '{}' --type T --expected maybe
usage append "a negative --expected" append s '{}' --type T --expected -1
usage append "--expected over int64" append s '{}' --type T \
	--expected 9223372036854775808
usage append "--expected overflowing" append s '{}' --type T \
	--expected 99999999999999999999999
usage append "a bad --id" append s '{}' --type T --id not-a-uuid
usage append "a short --id" append s '{}' --type T \
	--id 0b6a3c1e-0000-4000-8000-00000000000
usage append "--meta not JSON" append s '{}' --type T --meta '{bad'
usage append "--meta empty" append s '{}' --type T --meta ''
usage append "an empty stream id" append '' '{}' --type T
usage append "a stream id with a control character" \
	append "$(printf 'a\tb')" '{}' --type T
usage append "an empty type" append s '{}' --type ''
TAGS=()
for i in $(seq 65); do TAGS+=(--tag "t$i"); done
usage append "too many tags" append s '{}' --type T "${TAGS[@]}"

usage read "read without a stream" read
usage read "read with two streams" read a b
usage read "--limit not a number" read s --limit abc
usage read "--limit negative" read s --limit -1
usage read "--limit zero" read s --limit 0
usage read "--limit with junk" read s --limit 1x
usage read "--limit with a blank" read s --limit ' 1'
usage read "--from not a number" read s --from x
usage read "--from overflowing" read s --from 184467440737095516160
usage read "--type on a stream" read s --type T
usage read "--prefix on a stream" read s --prefix p
usage read "an empty --type" read '$all' --type ''
usage read "--backwards with a value" read s --backwards=yes

usage streams "streams --limit 0" streams --limit 0
usage streams "streams with two prefixes" streams a b
usage stat "stat with an argument" stat x
usage verify "verify with an argument" verify x
usage export "export with two files" export a b
usage import "import with two files" import a b

CHECKS=$((CHECKS + 1))
[ -e cairn-data ] && fail "a usage error created the default store"

# A URI the library refuses is a usage error too; that one opens nothing.
usage stat "an unknown store scheme" --store 'bogus:x' stat
usage stat "a store URI without a scheme" --store 'just-a-path' stat

finish
