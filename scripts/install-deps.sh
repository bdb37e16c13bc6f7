#!/bin/sh
# Install the Debian packages cairn builds and tests with, when missing.
# As root it runs apt-get; otherwise it prints the line to run and stops.
set -e
PKGS="build-essential cmake pkg-config liblmdb-dev lmdb-utils zlib1g-dev \
libjansson-dev libcmocka-dev clang libclang-rt-14-dev libsqlite3-dev sqlite3 \
libpq-dev postgresql \
libmicrohttpd-dev curl jq wrk valgrind util-linux"

# The browser test (tests/browser) drives Debian's chromium with node.  A node
# that brings its own npm (NodeSource) conflicts with Debian's npm package:
# ask for nodejs and npm only when the commands are missing.
PKGS="$PKGS chromium"
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

# playwright-core for the browser test, as pinned by its lockfile, from the
# npm registry (it downloads no browser); only when missing or stale.
browser_node_modules() {
	dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
	[ -f "$dir/package-lock.json" ] || return 0
	[ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] &&
		return 0
	echo "installing playwright-core (npm ci in tests/browser)" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	browser_node_modules
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "cairn needs these Debian packages:$missing" >&2
	echo "run: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $missing >/dev/null
browser_node_modules
