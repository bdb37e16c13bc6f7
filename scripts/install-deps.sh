#!/bin/sh
# Install the Debian packages cairn builds and tests with, when missing.
# As root it runs apt-get; otherwise it prints the line to run and stops.
set -e
PKGS="build-essential cmake pkg-config liblmdb-dev lmdb-utils zlib1g-dev \
libjansson-dev libcmocka-dev clang libclang-rt-14-dev libsqlite3-dev sqlite3"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

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
