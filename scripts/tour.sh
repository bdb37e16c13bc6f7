#!/bin/sh
# A short guided tour of cairn on the default LMDB store (./cairn-data),
# then, when the path of cairnd is given, the server on the same store in
# the foreground, with the URL of its web UI (Ctrl-C stops it).
#
#   scripts/tour.sh [CAIRN [CAIRND]]
set -e
CAIRN=${1:-build/cairn}
CAIRND=${2:-}
export CAIRN_STORE=${CAIRN_STORE:-lmdb:./cairn-data}
if [ -t 1 ]; then
	step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
else
	step() { printf '\n$ %s\n' "$*"; }
fi
run() { step "$*"; "$@"; }

echo "cairn tour -- store: $CAIRN_STORE"
id=$(date +%s)
run "$CAIRN" append "account-$id" --type Opened --expected NO_STREAM '{"owner":"ada"}'
run "$CAIRN" append "account-$id" --type Deposited --expected 1 '{"amount":100}'
run "$CAIRN" append "account-$id" --type Withdrawn --expected 2 '{"amount":30}'
step "$CAIRN append account-$id --type Withdrawn --expected 2 '{\"amount\":5}'   # stale version"
"$CAIRN" append "account-$id" --type Withdrawn --expected 2 '{"amount":5}' ||
	echo "(exit $? = conflict: someone else wrote version 3 first)"
run "$CAIRN" read "account-$id"
run "$CAIRN" read "account-$id" --backwards --limit 1
run "$CAIRN" streams account-
run "$CAIRN" read '$all' --type Deposited --limit 5
run "$CAIRN" stat
run "$CAIRN" verify
echo
echo "Try: $CAIRN --help"
[ -n "$CAIRND" ] || exit 0

listen=${CAIRND_LISTEN:-127.0.0.1:2113}
echo
echo "Starting cairnd on $CAIRN_STORE -- the web UI: http://$listen/"
echo "Try:  curl -s http://$listen/streams/account-$id"
echo "      curl -N 'http://$listen/subscribe?from=start'   (docs/http-api.md)"
echo "Ctrl-C stops it."
exec "$CAIRND" --store "$CAIRN_STORE" --listen "$listen"
