#!/bin/sh
# A private, throw-away PostgreSQL cluster for cairn's tests and benchmarks.
#
#   pg-test-cluster.sh start DIR [--durable] [--fsize-limit BYTES]
#                                             initdb in DIR/data, start on
#                                             127.0.0.1 on a free port,
#                                             create database cairn_test,
#                                             write its URI to DIR/uri
#   pg-test-cluster.sh stop DIR               stop it and remove DIR
#   pg-test-cluster.sh run DIR CMD ARGS...    run CMD with CAIRN_PG_URI set
#                                             (exit 77, "skipped", when the
#                                             cluster is not there)
#   pg-test-cluster.sh restart DIR [--fsize-limit BYTES]
#                                             stop the server (if it still
#                                             runs) and start it again on
#                                             the same port and data, with
#                                             this file-size limit or none
#   pg-test-cluster.sh crash DIR              stop the server as a crash
#                                             would (immediate shutdown:
#                                             no checkpoint, recovery from
#                                             WAL at the next start); the
#                                             data stays, for restart
#
# The server listens on 127.0.0.1 only, its socket lives in DIR, and
# trust authentication is used: the cluster exists for the test run.
# Without --durable fsync is off (tests measure correctness, not disks);
# benchmarks pass --durable.  As root, initdb refuses to run: the cluster
# then belongs to the 'postgres' user (made by the Debian package) or,
# failing that, 'nobody'.
#
# --fsize-limit BYTES starts the server under RLIMIT_FSIZE (prlimit, from
# util-linux): PostgreSQL ignores SIGXFSZ, so a write past the limit fails
# with EFBIG as a write to a full disk fails with ENOSPC.  That is how the
# disk-full tests (tests/postgres/test_disk_full.c) fill a disk that is
# not full.  The limit applies to every file the server writes at an
# offset beyond it: WAL segments are 16 MiB, so a limit above that fills
# only the tables, one below it makes WAL writes fail (a PANIC).
#
# Exit status of start: 0 started; 77 PostgreSQL is not installed (the
# tests that need it are then reported as skipped, loudly); 1 it is
# installed but could not be started (a failure).
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
	echo "usage: $0 start|stop|run|restart|crash DIR [...]" >&2
	exit 2
}
SKIP=77

bindir() {
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
	return 1
}

# as_owner CMD...: run CMD as the cluster's owner.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$owner" -- "$@"
	else
		"$@"
	fi
}

# parse_opts ARGS...: --durable, --fsize-limit BYTES into durable, limit.
parse_opts() {
	durable=
	limit=
	while [ $# -gt 0 ]; do
		case "$1" in
		--durable) durable=--durable ;;
		--fsize-limit)
			limit=${2:-}
			case "$limit" in
			'' | *[!0-9]*)
				echo "pg-test-cluster: --fsize-limit needs a" \
					"number of bytes" >&2
				exit 2
				;;
			esac
			shift
			;;
		*)
			# ignored, as start always ignored what it did not know
			echo "pg-test-cluster: ignoring unknown option $1" >&2
			;;
		esac
		shift
	done
	if [ -n "$limit" ] && ! command -v prlimit >/dev/null 2>&1; then
		echo "pg-test-cluster: --fsize-limit needs prlimit" \
			"(util-linux); SKIPPED" >&2
		exit $SKIP
	fi
}

# ", file-size limit N bytes" when there is one.
limit_note() {
	[ -n "$limit" ] && echo ", file-size limit $limit bytes"
	return 0
}

# launch PORT: start the server of $data/db on PORT with fsync=$fsync,
# under a file-size limit of $limit bytes when it is set.  pg_ctl's status.
launch() {
	lport=$1
	set --
	[ -n "$limit" ] && set -- prlimit --fsize="$limit"
	as_owner "$@" "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" \
		-w -t 30 -o "-p $lport -k $data -c listen_addresses=127.0.0.1 \
-c fsync=$fsync -c max_connections=300 -c shared_buffers=128MB" \
		start >/dev/null 2>&1
}

start() {
	bin=$(bindir) || {
		echo "pg-test-cluster: PostgreSQL is not installed (no initdb);" \
			"the postgres tests are SKIPPED. Install the Debian" \
			"package 'postgresql' (scripts/install-deps.sh)." >&2
		exit $SKIP
	}
	owner=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		owner=nobody
		id postgres >/dev/null 2>&1 && owner=postgres
	fi
	stop
	mkdir -p "$dir" || exit 1
	# the cluster lives in a temporary directory its owner can reach
	# (DIR itself may sit below directories only root may enter)
	data=$(mktemp -d "${TMPDIR:-/tmp}/cairn-pg.XXXXXX") || exit 1
	echo "$data" >"$dir/data"
	[ "$(id -u)" -eq 0 ] && chown "$owner" "$data"
	chmod 700 "$data"
	if ! as_owner "$bin/initdb" -D "$data/db" -U cairn --auth=trust \
		-E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		echo "pg-test-cluster: initdb failed:" >&2
		cat "$dir/initdb.log" >&2
		exit 1
	fi
	fsync=off
	[ "$durable" = "--durable" ] && fsync=on
	tries=0
	while [ $tries -lt 20 ]; do
		tries=$((tries + 1))
		port=$(( ($$ * 7 + tries * 7919 + $(date +%N | sed 's/^0*//;s/^$/0/') % 10000) % 25000 + 30000 ))
		if launch "$port"; then
			echo "$bin" >"$dir/bindir"
			echo "$owner" >"$dir/owner"
			echo "$fsync" >"$dir/fsync"
			echo "$port" >"$dir/port"
			if ! "$bin/psql" -q -h 127.0.0.1 -p "$port" -U cairn \
				-d postgres -c "CREATE DATABASE cairn_test" \
				>/dev/null 2>"$dir/psql.err"; then
				cat "$dir/psql.err" >&2
				stop
				exit 1
			fi
			echo "postgres://cairn@127.0.0.1:$port/cairn_test" >"$dir/uri"
			echo "pg-test-cluster: started on 127.0.0.1:$port" \
				"($dir)$(limit_note)"
			return 0
		fi
		# a port taken by someone else: try another
		grep -q "could not bind\|Address already in use" \
			"$data/server.log" 2>/dev/null || break
		as_owner sh -c ": >'$data/server.log'"
	done
	echo "pg-test-cluster: the server did not start:" >&2
	cat "$data/server.log" >&2 2>/dev/null
	exit 1
}

stop() {
	if [ -f "$dir/data" ]; then
		data=$(cat "$dir/data")
		if [ -f "$dir/bindir" ] && [ -d "$data/db" ]; then
			owner=$(cat "$dir/owner")
			as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$data/db" \
				-m immediate -w stop >/dev/null 2>&1
		fi
		case "$data" in */cairn-pg.*) rm -rf "$data" ;; esac
	fi
	rm -rf "$dir"
	return 0
}

# Stop the server of an existing cluster and start it again on the same
# port, data and fsync setting, with the file-size limit of the options
# (none without).  The server may already be gone (a PANIC that it could
# not recover from under its limit): then it is only started.  A fast
# shutdown that hangs is made immediate (crash recovery on start).
restart() {
	if [ ! -f "$dir/uri" ] || [ ! -f "$dir/port" ]; then
		echo "pg-test-cluster: no cluster in $dir to restart" >&2
		exit 1
	fi
	data=$(cat "$dir/data")
	bin=$(cat "$dir/bindir")
	owner=$(cat "$dir/owner")
	fsync=$(cat "$dir/fsync")
	port=$(cat "$dir/port")
	if ! as_owner "$bin/pg_ctl" -D "$data/db" -m fast -w -t 20 stop \
		>/dev/null 2>&1; then
		as_owner "$bin/pg_ctl" -D "$data/db" -m immediate -w stop \
			>/dev/null 2>&1
	fi
	if ! launch "$port"; then
		echo "pg-test-cluster: the server did not restart:" >&2
		tail -n 30 "$data/server.log" >&2 2>/dev/null
		exit 1
	fi
	echo "pg-test-cluster: restarted on 127.0.0.1:$port ($dir)$(limit_note)"
}

# Stop the server the way a crash does: every server process quits at
# once, without a checkpoint.  Nothing is removed.
crash() {
	if [ ! -f "$dir/bindir" ] || [ ! -f "$dir/data" ]; then
		echo "pg-test-cluster: no cluster in $dir to crash" >&2
		exit 1
	fi
	data=$(cat "$dir/data")
	owner=$(cat "$dir/owner")
	as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$data/db" -m immediate \
		-w stop >/dev/null 2>&1
	echo "pg-test-cluster: crashed the server of $dir"
}

case "$cmd" in
start)
	shift 2
	parse_opts "$@"
	start
	;;
stop) stop ;;
crash) crash ;;
restart)
	shift 2
	parse_opts "$@"
	restart
	;;
run)
	shift 2
	if [ ! -f "$dir/uri" ]; then
		echo "SKIPPED: no PostgreSQL test cluster in $dir" \
			"(see the postgres.cluster.start test)" >&2
		exit $SKIP
	fi
	CAIRN_PG_URI=$(cat "$dir/uri")
	export CAIRN_PG_URI
	exec "$@"
	;;
*)
	echo "usage: $0 start|stop|run|restart|crash DIR [...]" >&2
	exit 2
	;;
esac
