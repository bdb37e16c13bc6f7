#!/bin/sh
# Run the fuzz targets of a CAIRN_FUZZ=ON build for a while each.
#
#   fuzz/run.sh BUILD_DIR [SECONDS [TARGET...]]
#
# BUILD_DIR was configured with -DCMAKE_C_COMPILER=clang -DCAIRN_FUZZ=ON.
# Each target (default: all) runs SECONDS (default 60) from its seed
# corpus, inside BUILD_DIR/fuzz-work/<target>/, which is also its working
# directory: new inputs go to new/, crashes to artifacts/, the log to log;
# the seed corpus in the source tree is only read.  A crash input that
# shows a real bug belongs in fuzz/corpus/<target>/ with its fix.
# FUZZ_SEED=N fixes libFuzzer's random seed (make fuzz-ci, so that a CI
# run explores the same inputs as a developer's run of the same commit);
# unset, every run explores anew.
# Exits 1 when any target failed.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [SECONDS [TARGET...]]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
seconds=${2:-60}
if ! grep -q '^CAIRN_FUZZ:BOOL=ON$' "$build/CMakeCache.txt" 2>/dev/null; then
	echo "$0: $build is not configured with -DCAIRN_FUZZ=ON" >&2
	exit 2
fi
if [ $# -ge 2 ]; then shift 2; else shift; fi
here=$(cd "$(dirname "$0")" && pwd)
targets=${*:-fuzz_names fuzz_uri fuzz_import_line fuzz_http_body \
    fuzz_lmdb_record fuzz_sqlite_tags fuzz_differential fuzz_json_text}

status=0
for t in $targets; do
	bin=$build/fuzz/$t
	work=$build/fuzz-work/$t
	if [ ! -x "$bin" ]; then
		echo "$t: $bin not built (cmake --build $build --target $t)" >&2
		status=1
		continue
	fi
	mkdir -p "$work/new" "$work/artifacts"
	dict=
	[ -f "$here/$t.dict" ] && dict=-dict=$here/$t.dict
	seed=
	[ -n "${FUZZ_SEED:-}" ] && seed=-seed=$FUZZ_SEED
	echo "$t: fuzzing for ${seconds}s in $work" >&2
	# -timeout: an input that runs a minute is a hang (a differential
	# input takes milliseconds), reported as a failure.
	if (cd "$work" && "$bin" -max_total_time="$seconds" -timeout=60 \
	    -print_final_stats=1 -artifact_prefix=artifacts/ ${dict:+"$dict"} \
	    ${seed:+"$seed"} \
	    new "$here/corpus/$t" >log 2>&1); then
		grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' \
		    "$work/log" | sed "s/^/$t: /" >&2
	else
		echo "$t: FAILED; see $work/log and $work/artifacts/" >&2
		status=1
	fi
done
exit $status
