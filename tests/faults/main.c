/*
 * main.c -- the faults suite: regression tests for the lmdb engine's
 * handling of failed writes and syncs, failed map growth, crashed
 * readers, slow readers and oversized appends.  Faults are injected by
 * shim.c (failed fdatasync/pwrite/writev on the log or the data file) and
 * by resource limits; crashes are simulated as in the crash suite.  The
 * tests of engines.c (EIO and a full disk on lmdb and sqlite) run after
 * these, as a group of their own.
 *
 *     faults_test <base-dir> [<test-name-glob>]
 *
 * Stores are made under <base-dir> and removed at the end (kept when
 * CAIRN_FAULTS_KEEP=1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "faults.h"
#include "shim.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FAULTS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAULTS_ASAN 1
#endif
#endif
#ifndef FAULTS_ASAN
#define FAULTS_ASAN 0
#endif

#define MIB ((size_t)1 << 20)

/* wrap_then_failed_batch: the log is at most 64 MiB, so it holds ten of
 * these events; the eleventh wraps it. */
#define WRAP_EVENT_BYTES (6 * MIB)
#define WRAP_APPENDS_MAX 30
#define WRAP_FIRST_WRAP 8 /* no wrap can come before this append */

/* crash_during_recovery_sync */
#define RECOVERY_BEFORE 20
#define RECOVERY_STREAMS 5
#define RECOVERY_EVENT_BYTES 50

/* second_open_options */
#define DURABLE_APPENDS 10

/* failed_map_growth: the map starts at GROW_MAP and the address space
 * leaves GROW_HEADROOM, less than the doubled map needs. */
#define GROW_MAP (64 * MIB)
#define GROW_HEADROOM (32 * MIB)
#define GROW_APPENDS_MAX 200

/* stale_reader_slots */
#define STALE_BEFORE 100
#define STALE_APPENDS 10000
#define STALE_EVENT_BYTES 100
#define STALE_RATIO_MAX 2.0

/* listing_and_finished_iterators_do_not_block_growth: a 4 MiB map, which
 * the big appends grow several times; a growth that waited for the
 * reader would take the full 10 s resize wait. */
#define SLOW_MAP (4 * MIB)
#define SLOW_STREAMS 3000
#define SLOW_BIG_APPENDS 8
#define SLOW_READER_PAUSE_US 10000
#define SLOW_SECONDS_MAX 5.0

/* oversized_append: 70 events of just under 16 MiB (the default event
 * limit), over CAIRN_APPEND_BYTES_MAX together. */
#define BIG_EVENTS 70
#define BIG_EVENT_BYTES (16 * MIB - 4096)

static faults_store store;

static int
setup(void **state)
{
	const char *name = *state ? (const char *)*state : "store";

	shim_reset();
	return faults_store_make(&store, name);
}

static int
teardown(void **state)
{
	(void)state;
	shim_reset();
	faults_store_remove(&store);
	return 0;
}

static void
skip_without_shim(void)
{
	if (!shim_usable()) {
		print_message("skipped: the libraries' fdatasync is not the "
		              "fault-injection shim's\n");
		skip();
	}
}

/* ---- wrap_then_failed_batch ---- */

enum wrap_fault { WRAP_DATA_WRITE, WRAP_LOG_SYNC };

struct wrap_shared {
	enum wrap_fault fault;
	long failed_at; /* the big append that failed, -1: none */
	long big_acked;
};

/* Boot one: append big events until the one that wraps the log fails
 * under the fault; the engine then refuses writes until it is reopened
 * (a failed write or sync stops it); reopen, append a small one, and
 * crash. */
static int
wrap_writer(void *arg)
{
	struct wrap_shared *sh = arg;
	cairn_status rc;
	cairn_store *st;
	long i;

	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	/* the first batch checkpoints: not the one under test */
	FAULTS_CHECK(faults_append(st, "warm-1", "Warm", 10) == CAIRN_OK);
	sh->failed_at = -1;
	for (i = 0; i < WRAP_APPENDS_MAX; i++) {
		if (sh->fault == WRAP_DATA_WRITE)
			shim_fail_data_write_after_data_sync();
		else
			/* the first log sync writes the checkpoint header,
			 * the second the batch's record */
			shim_fail_log_sync_after_data_sync(2);
		rc = faults_append(st, "big-1", "Big", WRAP_EVENT_BYTES);
		shim_reset();
		if (rc != CAIRN_OK) {
			sh->failed_at = i;
			break;
		}
		sh->big_acked++;
	}
	FAULTS_CHECK(sh->failed_at >= WRAP_FIRST_WRAP);
	FAULTS_CHECK(faults_append(st, "small-1", "Refused", 100) == CAIRN_IO);
	FAULTS_CHECK(strstr(cairn_last_error(), "reopen") != NULL);
	cairn_close(st);
	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	FAULTS_CHECK(faults_append(st, "small-1", "AckedSmall", 100) ==
	             CAIRN_OK);
	return 0; /* a crash: no close */
}

/* Boot two: everything acknowledged, nothing else. */
static int
wrap_checker(void *arg)
{
	struct wrap_shared *sh = arg;
	cairn_store *st;

	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	FAULTS_CHECK(faults_count_type(st, "Warm") == 1);
	FAULTS_CHECK(faults_count_type(st, "Big") == sh->big_acked);
	FAULTS_CHECK(faults_version(st, "big-1") == (uint64_t)sh->big_acked);
	FAULTS_CHECK(faults_count_type(st, "AckedSmall") == 1);
	FAULTS_CHECK(faults_count_type(st, "Refused") == 0);
	FAULTS_CHECK(faults_problems(st) == 0);
	cairn_close(st);
	return 0;
}

static void
wrap_then_failed_batch(enum wrap_fault fault)
{
	struct wrap_shared *sh;

	skip_without_shim();
	sh = faults_shared_alloc(sizeof(*sh));
	assert_non_null(sh);
	sh->fault = fault;
	assert_int_equal(faults_run_child(wrap_writer, sh, "wrap-boot-1"), 0);
	print_message("big append %ld (wrapping the log) failed\n",
	              sh->failed_at);
	assert_int_equal(faults_run_child(wrap_checker, sh, "wrap-boot-2"), 0);
	faults_shared_free(sh, sizeof(*sh));
}

static void
test_wrap_then_failed_batch_write(void **state)
{
	(void)state;
	wrap_then_failed_batch(WRAP_DATA_WRITE);
}

static void
test_wrap_then_failed_batch_sync(void **state)
{
	(void)state;
	wrap_then_failed_batch(WRAP_LOG_SYNC);
}

/* ---- failed_sync_not_replayed ---- */

static void
test_failed_sync_not_replayed(void **state)
{
	cairn_store *st;
	cairn_status rc;

	(void)state;
	skip_without_shim();
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st),
	                 CAIRN_OK);
	assert_int_equal(faults_append(st, "acct-1", "Ok", 10), CAIRN_OK);
	shim_fail_log_syncs(1);
	rc = faults_append(st, "acct-1", "Failed", 10);
	shim_reset();
	assert_int_not_equal(rc, CAIRN_OK);
	/* the failed sync stopped the engine ("fsyncgate") */
	assert_int_equal(faults_append(st, "acct-1", "Later", 10), CAIRN_IO);
	assert_non_null(strstr(cairn_last_error(), "reopen"));
	cairn_close(st);

	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st),
	                 CAIRN_OK);
	assert_int_equal(faults_count_type(st, "Failed"), 0);
	assert_int_equal(faults_count_type(st, "Later"), 0);
	assert_int_equal(faults_version(st, "acct-1"), 1);
	assert_int_equal(faults_problems(st), 0);
	cairn_close(st);
}

/* When the failed record cannot be erased either, the outcome is unknown
 * and the engine refuses everything until it is reopened. */
static void
test_failed_erase_stops_engine(void **state)
{
	cairn_store *st;
	cairn_status rc;
	uint64_t v;

	(void)state;
	skip_without_shim();
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st),
	                 CAIRN_OK);
	assert_int_equal(faults_append(st, "acct-1", "Ok", 10), CAIRN_OK);
	shim_fail_log_syncs(2); /* the record's sync, then the erase's */
	rc = faults_append(st, "acct-1", "Failed", 10);
	shim_reset();
	assert_int_not_equal(rc, CAIRN_OK);

	assert_int_equal(cairn_stream_version(st, "acct-1", &v), CAIRN_IO);
	assert_non_null(strstr(cairn_last_error(), "reopen"));
	assert_int_equal(faults_append(st, "acct-1", "Later", 10), CAIRN_IO);
	assert_non_null(strstr(cairn_last_error(), "reopen"));
	cairn_close(st);

	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st),
	                 CAIRN_OK);
	assert_int_equal(faults_append(st, "acct-1", "AfterReopen", 10),
	                 CAIRN_OK);
	assert_int_equal(faults_count_type(st, "Ok"), 1);
	assert_int_equal(faults_count_type(st, "Later"), 0);
	assert_int_equal(faults_count_type(st, "AfterReopen"), 1);
	assert_int_equal(faults_problems(st), 0);
	cairn_close(st);
}

/* ---- crash_during_recovery_sync ---- */

struct recovery_shared {
	long after; /* appends after the reopen */
	long acked[RECOVERY_STREAMS];
};

static void
recovery_stream(char *out, size_t len, long i)
{
	snprintf(out, len, "acct-%ld", i % RECOVERY_STREAMS);
}

/* Appends, a clean close, a reopen, more appends, a process crash. */
static int
recovery_writer(void *arg)
{
	struct recovery_shared *sh = arg;
	cairn_store *st;
	char stream[32];
	long i;

	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	for (i = 0; i < RECOVERY_BEFORE; i++) {
		recovery_stream(stream, sizeof(stream), i);
		FAULTS_CHECK(faults_append(st, stream, "Before",
		                           RECOVERY_EVENT_BYTES) == CAIRN_OK);
		sh->acked[i % RECOVERY_STREAMS]++;
	}
	cairn_close(st);
	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	for (i = 0; i < sh->after; i++) {
		recovery_stream(stream, sizeof(stream), i);
		FAULTS_CHECK(faults_append(st, stream, "After",
		                           RECOVERY_EVENT_BYTES) == CAIRN_OK);
		sh->acked[i % RECOVERY_STREAMS]++;
	}
	return 0;
}

/* The recovery's sync of the data file fails: the power went. */
static int
recovery_interrupted(void *arg)
{
	cairn_store *st;

	(void)arg;
	shim_fail_data_syncs(1);
	if (faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) == CAIRN_OK)
		print_message("recovery with a failed sync: open succeeded\n");
	return 0;
}

static int
recovery_checker(void *arg)
{
	struct recovery_shared *sh = arg;
	cairn_store *st;
	char stream[32];
	long i;

	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	for (i = 0; i < RECOVERY_STREAMS; i++) {
		recovery_stream(stream, sizeof(stream), i);
		FAULTS_CHECK(faults_version(st, stream) ==
		             (uint64_t)sh->acked[i]);
	}
	FAULTS_CHECK(faults_count_type(st, "Before") == RECOVERY_BEFORE);
	FAULTS_CHECK(faults_count_type(st, "After") == sh->after);
	FAULTS_CHECK(faults_problems(st) == 0);
	cairn_close(st);
	return 0;
}

static void
test_crash_during_recovery_sync(void **state)
{
	static const long afters[] = {50, 200};
	struct recovery_shared *sh;
	size_t i;

	(void)state;
	skip_without_shim();
	sh = faults_shared_alloc(sizeof(*sh));
	assert_non_null(sh);
	for (i = 0; i < sizeof(afters) / sizeof(afters[0]); i++) {
		memset(sh, 0, sizeof(*sh));
		sh->after = afters[i];
		assert_int_equal(faults_store_make(&store, "recovery"), 0);
		assert_int_equal(faults_run_child(recovery_writer, sh,
		                                  "recovery-boot-1"),
		                 0);
		assert_int_equal(faults_run_child(recovery_interrupted, sh,
		                                  "recovery-boot-1"),
		                 0);
		assert_int_equal(faults_run_child(recovery_checker, sh,
		                                  "recovery-boot-2"),
		                 0);
		faults_store_remove(&store);
	}
	faults_shared_free(sh, sizeof(*sh));
}

/* ---- second_open_options ---- */

static void
test_second_open_options(void **state)
{
	cairn_store *a, *b;
	unsigned syncs;
	int i;

	(void)state;
	assert_int_equal(faults_open(store.uri, CAIRN_RELAXED, 0, 0, &a),
	                 CAIRN_OK);
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &b),
	                 CAIRN_INVALID);
	assert_int_equal(faults_open(store.uri, CAIRN_RELAXED, 1, 0, &b),
	                 CAIRN_INVALID);
	assert_int_equal(faults_append(a, "a-1", "T", 10), CAIRN_OK);
	cairn_close(a);

	/* read-only first, writable second */
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 1, 0, &a),
	                 CAIRN_OK);
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &b),
	                 CAIRN_INVALID);
	cairn_close(a);

	/* the same options share one engine, and DURABLE syncs */
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &a),
	                 CAIRN_OK);
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &b),
	                 CAIRN_OK);
	assert_int_equal(faults_append(b, "a-1", "T", 10), CAIRN_OK);
	shim_count_syncs();
	for (i = 0; i < DURABLE_APPENDS; i++)
		assert_int_equal(faults_append(b, "a-1", "T", 10), CAIRN_OK);
	syncs = shim_log_syncs();
	shim_reset();
	assert_int_equal(faults_version(a, "a-1"), 2 + DURABLE_APPENDS);
	if (shim_usable())
		assert_true(syncs >= DURABLE_APPENDS);
	cairn_close(b);
	assert_int_equal(faults_append(a, "a-1", "T", 10), CAIRN_OK);
	assert_int_equal(faults_version(a, "a-1"), 3 + DURABLE_APPENDS);
	cairn_close(a);
}

/* ---- failed_map_growth ---- */

static long
vm_size_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f;

	f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

struct grow_shared {
	long acked;
};

static int
grow_writer(void *arg)
{
	struct grow_shared *sh = arg;
	cairn_status rc = CAIRN_OK;
	struct rlimit rl;
	cairn_store *st;
	long kib;
	uint64_t v;

	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, GROW_MAP, &st) ==
	             CAIRN_OK);
	kib = vm_size_kib();
	FAULTS_CHECK(kib > 0);
	rl.rlim_cur = rl.rlim_max = (rlim_t)kib * 1024 + GROW_HEADROOM;
	FAULTS_CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
	while (sh->acked < GROW_APPENDS_MAX) {
		rc = faults_append(st, "a-1", "T", MIB);
		if (rc != CAIRN_OK)
			break;
		sh->acked++;
	}
	FAULTS_CHECK(rc != CAIRN_OK);
	FAULTS_CHECK(cairn_stream_version(st, "a-1", &v) == CAIRN_IO);
	FAULTS_CHECK(faults_append(st, "a-1", "T", 10) == CAIRN_IO);
	cairn_close(st);
	return 0;
}

static int
grow_checker(void *arg)
{
	struct grow_shared *sh = arg;
	cairn_store *st;

	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	FAULTS_CHECK(faults_version(st, "a-1") == (uint64_t)sh->acked);
	FAULTS_CHECK(faults_append(st, "a-1", "T", 10) == CAIRN_OK);
	FAULTS_CHECK(faults_problems(st) == 0);
	cairn_close(st);
	return 0;
}

static void
test_failed_map_growth(void **state)
{
	struct grow_shared *sh;

	(void)state;
	if (FAULTS_ASAN) {
		print_message("skipped: AddressSanitizer needs more address "
		              "space than the test leaves\n");
		skip();
	}
	sh = faults_shared_alloc(sizeof(*sh));
	assert_non_null(sh);
	assert_int_equal(faults_run_child(grow_writer, sh, NULL), 0);
	print_message("%ld appends before the failed growth\n", sh->acked);
	assert_int_equal(faults_run_child(grow_checker, sh, NULL), 0);
	faults_shared_free(sh, sizeof(*sh));
}

/* ---- stale_reader_slots ---- */

struct stale_shared {
	int kill_one;   /* another writer process dies in the middle */
	uint64_t bytes; /* the store's size at the end */
};

/* The other writer: it checkpoints (taking the pin, a reader slot) and
 * dies with the slot still taken. */
static int
stale_victim(int go)
{
	cairn_store *st;
	char c;

	if (read(go, &c, 1) != 1)
		return 1;
	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	FAULTS_CHECK(faults_append(st, "y-1", "T", STALE_EVENT_BYTES) ==
	             CAIRN_OK);
	raise(SIGKILL);
	return 1;
}

static int
stale_writer(void *arg)
{
	struct stale_shared *sh = arg;
	pid_t victim = -1;
	cairn_store *st;
	cairn_stats stats;
	int go[2], status;
	long i;

	/* forked before this process opens the store */
	FAULTS_CHECK(pipe(go) == 0);
	if (sh->kill_one) {
		victim = fork();
		FAULTS_CHECK(victim >= 0);
		if (victim == 0) {
			close(go[1]);
			_exit(stale_victim(go[0]));
		}
	}
	close(go[0]);
	FAULTS_CHECK(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	for (i = 0; i < STALE_BEFORE; i++)
		FAULTS_CHECK(faults_append(st, "x-1", "T", STALE_EVENT_BYTES) ==
		             CAIRN_OK);
	if (sh->kill_one) {
		FAULTS_CHECK(write(go[1], "g", 1) == 1);
		FAULTS_CHECK(waitpid(victim, &status, 0) == victim);
		FAULTS_CHECK(WIFSIGNALED(status) &&
		             WTERMSIG(status) == SIGKILL);
	} else {
		FAULTS_CHECK(faults_append(st, "y-1", "T", STALE_EVENT_BYTES) ==
		             CAIRN_OK);
	}
	close(go[1]);
	for (i = 0; i < STALE_APPENDS; i++)
		FAULTS_CHECK(faults_append(st, "x-1", "T", STALE_EVENT_BYTES) ==
		             CAIRN_OK);
	FAULTS_CHECK(cairn_stats_get(st, &stats) == CAIRN_OK);
	sh->bytes = stats.bytes;
	FAULTS_CHECK(faults_problems(st) == 0);
	cairn_close(st);
	return 0;
}

static void
test_stale_reader_slots(void **state)
{
	struct stale_shared *sh;
	uint64_t stale, control;

	(void)state;
	sh = faults_shared_alloc(sizeof(*sh));
	assert_non_null(sh);
	sh->kill_one = 1;
	assert_int_equal(faults_run_child(stale_writer, sh, NULL), 0);
	stale = sh->bytes;
	faults_store_remove(&store);
	assert_int_equal(faults_store_make(&store, "stale-control"), 0);
	sh->kill_one = 0;
	assert_int_equal(faults_run_child(stale_writer, sh, NULL), 0);
	control = sh->bytes;
	faults_shared_free(sh, sizeof(*sh));
	print_message("%d appends: %llu bytes after a killed writer, %llu "
	              "without\n",
	              STALE_APPENDS, (unsigned long long)stale,
	              (unsigned long long)control);
	assert_true(control > 0);
	assert_true((double)stale < STALE_RATIO_MAX * (double)control);
}

/* ---- listing_and_finished_iterators_do_not_block_growth ---- */

struct slow_reader {
	cairn_store *st;
	int stop;
	int started;
};

static void *
slow_listing(void *arg)
{
	struct slow_reader *r = arg;
	const cairn_stream_info *s;
	cairn_stream_iter *si;

	if (cairn_list_streams(r->st, NULL, NULL, SLOW_STREAMS, &si) !=
	    CAIRN_OK)
		return NULL;
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) &&
	       cairn_stream_iter_next(si, &s) == CAIRN_ROW) {
		__atomic_store_n(&r->started, 1, __ATOMIC_RELEASE);
		usleep(SLOW_READER_PAUSE_US);
	}
	cairn_stream_iter_free(si);
	return NULL;
}

/* Seconds the big appends take; -1 when one fails. */
static double
grow_by_big_appends(cairn_store *st)
{
	double start = faults_now();
	int i;

	for (i = 0; i < SLOW_BIG_APPENDS; i++)
		if (faults_append(st, "big", "Big", MIB) != CAIRN_OK)
			return -1;
	return faults_now() - start;
}

static void
test_slow_listing_does_not_block_growth(void **state)
{
	struct slow_reader r = {0};
	pthread_t reader;
	char stream[32];
	double secs;
	int i;

	(void)state;
	assert_int_equal(
	        faults_open(store.uri, CAIRN_DURABLE, 0, SLOW_MAP, &r.st),
	        CAIRN_OK);
	for (i = 0; i < SLOW_STREAMS; i++) {
		snprintf(stream, sizeof(stream), "s-%05d", i);
		assert_int_equal(faults_append(r.st, stream, "T", 10),
		                 CAIRN_OK);
	}
	assert_int_equal(pthread_create(&reader, NULL, slow_listing, &r), 0);
	while (!__atomic_load_n(&r.started, __ATOMIC_ACQUIRE))
		usleep(1000);
	secs = grow_by_big_appends(r.st);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_join(reader, NULL);
	print_message("growing appends beside a slow listing: %.2f s\n", secs);
	assert_true(secs >= 0);
	assert_true(secs < SLOW_SECONDS_MAX);
	cairn_close(r.st);
}

static void
test_finished_iterator_does_not_block_growth(void **state)
{
	const cairn_event *e;
	cairn_store *st;
	cairn_status rc;
	cairn_iter *it;
	double secs;

	(void)state;
	assert_int_equal(
	        faults_open(store.uri, CAIRN_DURABLE, 0, SLOW_MAP, &st),
	        CAIRN_OK);
	assert_int_equal(faults_append(st, "a-1", "T", 10), CAIRN_OK);
	assert_int_equal(cairn_read_stream(st, "a-1", NULL, &it), CAIRN_OK);
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
		;
	assert_int_equal(rc, CAIRN_DONE);
	secs = grow_by_big_appends(st); /* it is not freed yet */
	print_message("growing appends beside a finished iterator: %.2f s\n",
	              secs);
	assert_true(secs >= 0);
	assert_true(secs < SLOW_SECONDS_MAX);
	cairn_iter_free(it);
	cairn_close(st);
}

/* ---- truncated_data_file ---- */

/* A data.mdb cut short (a partial copy, lost unsynced writes) gets a
 * clear CAIRN_CORRUPT at open, read-write or read-only, not SIGBUS when
 * LMDB reads a page past the end of the mapped file. */
static void
test_truncated_data_file(void **state)
{
	char path[FAULTS_PATH_MAX + 16];
	cairn_store *st;
	struct stat sb;
	int i;

	(void)state;
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st),
	                 CAIRN_OK);
	for (i = 0; i < 200; i++)
		assert_int_equal(faults_append(st, "t-1", "T", 300), CAIRN_OK);
	cairn_close(st);
	snprintf(path, sizeof(path), "%s/data.mdb", store.dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 4 * 4096);
	assert_int_equal(truncate(path, 4 * 4096), 0);
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st),
	                 CAIRN_CORRUPT);
	assert_non_null(strstr(cairn_last_error(), "truncated"));
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 1, 0, &st),
	                 CAIRN_CORRUPT);
	/* the refused opens changed nothing */
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 4 * 4096);
}

/* ---- oversized_append ---- */

static void
test_oversized_append(void **state)
{
	cairn_new_event *evs;
	cairn_append_result res;
	cairn_store *st;
	char *data;
	int i;

	(void)state;
	/* one buffer behind every event: 16 MiB of memory, not 1.1 GiB */
	data = malloc(BIG_EVENT_BYTES);
	evs = calloc(BIG_EVENTS, sizeof(*evs));
	assert_non_null(data);
	assert_non_null(evs);
	memset(data, 'y', BIG_EVENT_BYTES);
	for (i = 0; i < BIG_EVENTS; i++) {
		evs[i] = (cairn_new_event)CAIRN_NEW_EVENT_INIT;
		evs[i].type = "Big";
		evs[i].data = data;
		evs[i].data_len = BIG_EVENT_BYTES;
	}
	assert_true((size_t)BIG_EVENTS * BIG_EVENT_BYTES >
	            CAIRN_APPEND_BYTES_MAX);
	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st),
	                 CAIRN_OK);
	/* one such event alone is within the limits */
	assert_int_equal(
	        cairn_append(st, "one-1", CAIRN_NO_STREAM, evs, 1, &res),
	        CAIRN_OK);
	assert_int_equal(cairn_append(st, "huge-1", CAIRN_NO_STREAM, evs,
	                              BIG_EVENTS, &res),
	                 CAIRN_TOO_LARGE);
	assert_int_equal(faults_version(st, "huge-1"), 0);
	assert_int_equal(faults_count_type(st, "Big"), 1);
	assert_int_equal(faults_problems(st), 0);
	cairn_close(st);

	assert_int_equal(faults_open(store.uri, CAIRN_DURABLE, 0, 0, &st),
	                 CAIRN_OK);
	assert_int_equal(faults_version(st, "huge-1"), 0);
	assert_int_equal(faults_count_type(st, "Big"), 1);
	cairn_close(st);
	free(evs);
	free(data);
}

/* A test, and the name its setup gives its store. */
#define FAULTS_TEST(fn, name)                                                  \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, name)

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        FAULTS_TEST(test_wrap_then_failed_batch_write, "wrap-write"),
	        FAULTS_TEST(test_wrap_then_failed_batch_sync, "wrap-sync"),
	        FAULTS_TEST(test_failed_sync_not_replayed, "failed-sync"),
	        FAULTS_TEST(test_failed_erase_stops_engine, "failed-erase"),
	        FAULTS_TEST(test_crash_during_recovery_sync, "recovery"),
	        FAULTS_TEST(test_second_open_options, "second-open"),
	        FAULTS_TEST(test_failed_map_growth, "map-growth"),
	        FAULTS_TEST(test_stale_reader_slots, "stale"),
	        FAULTS_TEST(test_slow_listing_does_not_block_growth,
	                    "slow-listing"),
	        FAULTS_TEST(test_finished_iterator_does_not_block_growth,
	                    "finished-iter"),
	        FAULTS_TEST(test_oversized_append, "oversized"),
	        FAULTS_TEST(test_truncated_data_file, "truncated"),
	};
	int rc;

	if (argc < 2 || argv[1][0] == 0) {
		fprintf(stderr,
		        "usage: faults_test <base-dir> [<test-glob>]\n");
		return 2;
	}
	faults_base_dir = argv[1];
	if (argc >= 3 && argv[2][0] != 0)
		cmocka_set_test_filter(argv[2]);
	rc = cmocka_run_group_tests_name("faults", tests, NULL, NULL);
	return rc | faults_engine_tests();
}
