#!/bin/sh
# Run the ctest tests of one label under valgrind's memcheck.
#
#   valgrind-tests.sh BUILD-DIR [LABEL]     (LABEL: unit, the default)
#
# Each test's command (as ctest knows it, with its working directory) runs
# under memcheck; any invalid read or write, use of uninitialised memory,
# bad free or definitely/indirectly lost block makes valgrind exit 99 and
# the test fail, and its report is printed.  Tests run one at a time (they
# are slow under valgrind, and some time themselves).  The build should be
# a normal one, not a sanitizer build: valgrind and ASan do not mix.
#
# Exit status: 0 every test passed clean; 1 at least one failed; 2 usage
# or setup problem.
set -u
build=${1:-}
label=${2:-unit}
[ -n "$build" ] && [ -d "$build" ] || {
	echo "usage: $0 BUILD-DIR [LABEL]" >&2
	exit 2
}
command -v valgrind >/dev/null 2>&1 || {
	echo "valgrind-tests: valgrind is not installed" \
		"(Debian package 'valgrind')" >&2
	exit 2
}
command -v jq >/dev/null 2>&1 || {
	echo "valgrind-tests: jq is not installed" >&2
	exit 2
}
build=$(cd "$build" && pwd)
logs="$build/valgrind"
rm -rf "$logs" && mkdir -p "$logs" || exit 2

# name<TAB>working directory<TAB>shell-quoted command, one test a line
list=$(cd "$build" && ctest --show-only=json-v1 -L "$label" | jq -r '
	.tests[] | [.name,
	            ((.properties // [])[] | select(.name == "WORKING_DIRECTORY")
	             | .value) // ".",
	            (.command | @sh)] | @tsv') || exit 2
[ -n "$list" ] || {
	echo "valgrind-tests: no test has the label '$label'" >&2
	exit 2
}

# --max-threads: unit.group_commit runs a batch of 1,100 threads.
# --fair-sched: valgrind runs one thread at a time; with its default lock
# a thread waiting for another (group commit, condition variables) can
# hold the CPU for long stretches: unit.exec took 107 s instead of 5.
# No --track-origins: it made unit.exec take 125 s instead of 3 (its
# threads wait on each other); rerun a failing test with it by hand to
# learn where an uninitialised value came from.
# Reachable blocks are not errors: libc and the engines keep some for the
# life of the process.
vg="valgrind --quiet --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
--max-threads=1500 --child-silent-after-fork=yes \
--fair-sched=yes"

pass=0
fail=0
failed=
t0=$(date +%s)
tab=$(printf '\t')
while IFS="$tab" read -r name dir cmd; do
	log="$logs/$name.log"
	start=$(date +%s)
	(cd "$dir" && eval "exec $vg --log-file=\"$log\" $cmd") \
		>"$logs/$name.out" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		printf 'valgrind: %-28s ok    %4d s\n' "$name" "$secs"
	else
		fail=$((fail + 1))
		failed="$failed $name"
		what="failed (exit $rc)"
		[ $rc -eq 99 ] && what="memory errors"
		printf 'valgrind: %-28s %s  %d s\n' "$name" "$what" "$secs"
		echo "---- $name: the test's output (last 40 lines)"
		tail -n 40 "$logs/$name.out"
		echo "---- $name: valgrind's report"
		cat "$log"
	fi
done <<EOF
$list
EOF
echo "valgrind: $pass passed, $fail failed, label '$label'," \
	"$(($(date +%s) - t0)) s"
[ $fail -eq 0 ] || {
	echo "valgrind: failed:$failed (reports in $logs)"
	exit 1
}
exit 0
