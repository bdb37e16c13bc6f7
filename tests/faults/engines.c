/*
 * engines.c -- the faults suite's tests that run on every engine with
 * files (lmdb and sqlite; the memory engine has no files to fail, and
 * postgres's server does its own I/O): injected EIO on the writes and
 * syncs of the store's files, and a full disk (RLIMIT_FSIZE).
 *
 * Every test has the same shape, in fresh processes (forked while the
 * test runner has no store open):
 *
 *   1. a writer opens the store and does acknowledged work of every kind
 *      (single-stream, multi-stream, conflicting and conditional appends,
 *      a snapshot, a cursor reset), noting each acknowledgment in a
 *      ledger in shared memory;
 *   2. it arms the fault and appends (single- and multi-stream, in turn)
 *      until an append fails: that append must fail with CAIRN_IO and a
 *      message, and from then on every write call (append, append_multi,
 *      append_if, snapshot save, cursor reset, subscription ack) must be
 *      refused with CAIRN_IO and a sentence saying to reopen (the
 *      "fsyncgate" rule); reads are refused too on lmdb, allowed on
 *      sqlite (see sqlite.c);
 *   3. a checker, another process with no fault, opens the store:
 *      cairn_verify() finds nothing, every acknowledged event is there
 *      exactly once, byte for byte, the failed append is wholly there or
 *      wholly absent, nothing refused is there, the snapshot and the
 *      cursor are as acknowledged, and new writes work.
 *
 * Each event's data names the append it belongs to (k) and its index in
 * it, and the rest of its bytes follow from both, so the checker can
 * tell every event's origin and check it whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "faults.h"
#include "shim.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KIB ((size_t)1 << 10)

/* appends one ledger can follow */
#define LEDGER_MAX 4096
/* rounds of acknowledged work of every kind before the fault */
#define WARM_ROUNDS 5
/* the header of an event's data: "k=%08ld i=%d;" */
#define DATA_HEADER 16

enum backend_kind { ENGINE_LMDB, ENGINE_SQLITE };

static const char *const engine_names[] = {"lmdb", "sqlite"};

/* what the ledger knows of append k */
enum k_state {
	K_NONE = 0,    /* never tried */
	K_PENDING = 1, /* tried, failed: wholly there or wholly absent */
	K_ACKED = 2,   /* acknowledged: there exactly once */
	K_REFUSED = 3  /* refused in the failed state: absent */
};

/* what kind of append k was */
enum k_kind { KIND_SINGLE, KIND_MULTI, KIND_COND };

/* In memory shared by the runner and its children. */
typedef struct ledger {
	unsigned char state[LEDGER_MAX];
	unsigned char kind[LEDGER_MAX];
	unsigned len_of[LEDGER_MAX]; /* len_base when k was made */
	unsigned len_base;           /* the size of an event's data, roughly */
	long next;                   /* the next k */
	long failed_k; /* the append that failed under the fault; -1 */
	int failed_status;
	char failed_msg[512];
	uint64_t cond_seen; /* the position of the last "Cond" event */
	uint64_t snap_version;
	uint64_t cursor;        /* the cursor "reset-me" as acknowledged */
	uint64_t cursor_failed; /* the position of a failed reset; 0 */
	int failed;             /* the writer saw its call fail */
	unsigned injected;      /* faults the shim injected */
	long acked;             /* acknowledged appends */
	int failed_present;     /* the checker: 1 present, 0 absent */
} ledger;

static ledger *lg;
static enum backend_kind engine;
static faults_store fst;

/* ---- the store ---- */

static int
store_make(enum backend_kind kind, const char *name)
{
	char full[64];
	int n;

	snprintf(full, sizeof(full), "%s-%s", engine_names[kind], name);
	if (faults_store_make(&fst, full) != 0)
		return -1;
	if (kind == ENGINE_LMDB)
		return 0;
	if (mkdir(fst.dir, 0755) != 0)
		return -1;
	n = snprintf(fst.uri, sizeof(fst.uri), "sqlite:%s/" SHIM_SQL_NAME,
	             fst.dir);
	return n > 0 && (size_t)n < sizeof(fst.uri) ? 0 : -1;
}

/* The size of the store's largest file, and its name. */
static long
largest_file(const char **which)
{
	static const char *const lmdb_files[] = {"data.mdb", "wal"};
	static const char *const sqlite_files[] = {SHIM_SQL_NAME,
	                                           SHIM_SQL_NAME "-wal"};
	const char *const *files =
	        engine == ENGINE_LMDB ? lmdb_files : sqlite_files;
	char path[FAULTS_PATH_MAX + 32];
	struct stat sb;
	long best = 0;
	int i;

	*which = files[0];
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", fst.dir, files[i]);
		if (stat(path, &sb) == 0 && (long)sb.st_size > best) {
			best = (long)sb.st_size;
			*which = files[i];
		}
	}
	return best;
}

/* ---- events ---- */

static size_t
data_len(long k, int i)
{
	return lg->len_of[k] + (size_t)((k * 37 + i * 11) % 997) + DATA_HEADER;
}

static unsigned char
data_byte(long k, int i, size_t j)
{
	return (unsigned char)((unsigned long)k * 131u + j * 7u +
	                       (unsigned)i * 29u);
}

/* The first DATA_HEADER - 1 bytes of the data of event i of append k
 * (k < LEDGER_MAX: always that long). */
static void
header_of(long k, int i, char *out)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "k=%08ld i=%d;", k, i);
	memcpy(out, tmp, DATA_HEADER - 1);
}

/* The data of event i of append k, in a buffer from malloc. */
static unsigned char *
data_make(long k, int i, size_t *len)
{
	unsigned char *d;
	size_t j;

	*len = data_len(k, i);
	d = malloc(*len);
	if (d == NULL)
		return NULL;
	header_of(k, i, (char *)d);
	for (j = DATA_HEADER - 1; j < *len; j++)
		d[j] = data_byte(k, i, j);
	return d;
}

static void
stream_of(long k, int i, char *out, size_t len)
{
	switch (lg->kind[k]) {
	case KIND_MULTI:
		snprintf(out, len, "%s", i == 0 ? "multi-a" : "multi-b");
		break;
	case KIND_COND:
		snprintf(out, len, "cond-1");
		break;
	default:
		snprintf(out, len, "single-%ld", k % 4);
		break;
	}
}

static int
nevents_of(long k)
{
	return lg->kind[k] == KIND_MULTI ? 2 : 1;
}

/* Append k (a new one, of kind) as the API call that kind names; the
 * ledger notes it tried (and, on success, acknowledged). */
static cairn_status
append_k(cairn_store *st, enum k_kind kind, unsigned char as)
{
	static const char *const cond_types[] = {"Cond"};
	cairn_query_item qi = {cond_types, 1, NULL, 0};
	cairn_query q = {&qi, 1};
	cairn_new_event ev[2] = {CAIRN_NEW_EVENT_INIT, CAIRN_NEW_EVENT_INIT};
	unsigned char *data[2] = {NULL, NULL};
	char streams[2][32];
	cairn_write w[2];
	cairn_append_result res;
	cairn_status rc = CAIRN_NOMEM;
	long k = lg->next;
	int i, n;

	if (k >= LEDGER_MAX)
		return CAIRN_INVALID;
	lg->next++;
	lg->kind[k] = (unsigned char)kind;
	lg->len_of[k] = lg->len_base;
	n = nevents_of(k);
	for (i = 0; i < n; i++) {
		data[i] = data_make(k, i, &ev[i].data_len);
		if (data[i] == NULL)
			goto out;
		ev[i].data = data[i];
		ev[i].type = kind == KIND_COND ? "Cond" : "E";
		stream_of(k, i, streams[i], sizeof(streams[i]));
		w[i].stream = streams[i];
		w[i].expected = CAIRN_ANY;
		w[i].events = &ev[i];
		w[i].nevents = 1;
	}
	lg->state[k] = as == K_REFUSED ? K_REFUSED : K_PENDING;
	if (kind == KIND_SINGLE)
		rc = cairn_append(st, streams[0], CAIRN_ANY, ev, 1, &res);
	else if (kind == KIND_MULTI)
		rc = cairn_append_multi(st, w, 2, &res);
	else
		rc = cairn_append_if(st, &q, lg->cond_seen, w, 1, &res);
	if (rc == CAIRN_OK) {
		if (as == K_REFUSED)
			fprintf(stderr, "append %ld was refused and not\n", k);
		lg->state[k] = K_ACKED;
		lg->acked++;
		if (kind == KIND_COND)
			lg->cond_seen = res.last_position;
	}
out:
	free(data[0]);
	free(data[1]);
	return rc;
}

/* ---- the writer ---- */

/* Acknowledged work of every kind. */
static int
warm_up(cairn_store *st)
{
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_append_result res;
	uint64_t head;
	int r;

	for (r = 0; r < WARM_ROUNDS; r++) {
		FAULTS_CHECK(append_k(st, KIND_SINGLE, K_ACKED) == CAIRN_OK);
		FAULTS_CHECK(append_k(st, KIND_MULTI, K_ACKED) == CAIRN_OK);
		FAULTS_CHECK(append_k(st, KIND_COND, K_ACKED) == CAIRN_OK);
		/* a conflict writes nothing */
		ev.type = "Conflicting";
		FAULTS_CHECK(cairn_append(st, "multi-a", 999999, &ev, 1,
		                          &res) == CAIRN_CONFLICT);
		FAULTS_CHECK(cairn_stream_version(st, "single-0",
		                                  &lg->snap_version) ==
		             CAIRN_OK);
		FAULTS_CHECK(cairn_snapshot_save(st, "single-0",
		                                 lg->snap_version, "v1",
		                                 "state", 5) == CAIRN_OK);
		FAULTS_CHECK(cairn_head(st, &head) == CAIRN_OK);
		FAULTS_CHECK(cairn_subs_reset(st, "reset-me", head) ==
		             CAIRN_OK);
		lg->cursor = head;
	}
	return 0;
}

/* A failed call of the failed state: CAIRN_IO, and a sentence saying to
 * reopen. */
static int
refused(cairn_status rc, const char *what)
{
	const char *err = cairn_last_error();

	if (rc == CAIRN_IO && err != NULL && strstr(err, "reopen") != NULL)
		return 1;
	fprintf(stderr, "%s: not refused as it should be: %s (%s)\n", what,
	        cairn_status_str(rc), err ? err : "no message");
	return 0;
}

/* After the failure: every write refused, reads as the engine decides. */
static int
check_failed_state(cairn_store *st, cairn_sub *sub, uint64_t delivered)
{
	uint64_t v;
	cairn_status rc;

	FAULTS_CHECK(
	        refused(append_k(st, KIND_SINGLE, K_REFUSED), "cairn_append"));
	FAULTS_CHECK(refused(append_k(st, KIND_MULTI, K_REFUSED),
	                     "cairn_append_multi"));
	FAULTS_CHECK(
	        refused(append_k(st, KIND_COND, K_REFUSED), "cairn_append_if"));
	FAULTS_CHECK(refused(
	        cairn_snapshot_save(st, "single-0", 1, "v1", "later", 5),
	        "cairn_snapshot_save"));
	FAULTS_CHECK(refused(cairn_subs_reset(st, "reset-me", 1),
	                     "cairn_subs_reset"));
	FAULTS_CHECK(refused(cairn_sub_ack(sub, delivered), "cairn_sub_ack"));
	rc = cairn_stream_version(st, "single-0", &v);
	if (engine == ENGINE_LMDB)
		FAULTS_CHECK(refused(rc, "a read (lmdb)"));
	else
		FAULTS_CHECK(rc == CAIRN_OK);
	return 0;
}

/* A durable subscription with a delivered, unacknowledged batch. */
static int
subscribe(cairn_store *st, cairn_sub **sub, uint64_t *delivered)
{
	const cairn_event *batch;
	cairn_sub_opts so;
	size_t n;

	cairn_sub_opts_init(&so);
	so.name = "acker";
	FAULTS_CHECK(cairn_subscribe(st, &so, sub) == CAIRN_OK);
	FAULTS_CHECK(cairn_sub_next(*sub, 1000, &batch, &n) == CAIRN_ROW);
	*delivered = batch[n - 1].position;
	return 0;
}

/* How the writer gets its fault. */
typedef struct fault_plan {
	/* a shim rule ... */
	enum shim_file file;
	enum shim_op op;
	unsigned skip;
	int err;
	/* ... or a file size limit: this much above the largest file */
	long fsize_above;
	long appends_max;
	int cursors; /* the calls are cursor resets, not appends */
} fault_plan;

static fault_plan plan;

static int
writer(void *arg)
{
	cairn_sub *sub = NULL;
	uint64_t delivered = 0;
	unsigned injected0;
	cairn_store *st;
	cairn_status rc = CAIRN_OK;
	const char *big;
	struct rlimit rl;
	long i, size;

	(void)arg;
	FAULTS_CHECK(faults_open(fst.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	if (warm_up(st) != 0 || subscribe(st, &sub, &delivered) != 0)
		return 1;
	injected0 = shim_injected();
	if (plan.fsize_above > 0) {
		size = largest_file(&big);
		signal(SIGXFSZ, SIG_IGN);
		FAULTS_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
		rl.rlim_cur = (rlim_t)(size + plan.fsize_above);
		FAULTS_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		printf("  limit %ld KiB (%s is %ld KiB)\n",
		       (long)(rl.rlim_cur / KIB), big, size / (long)KIB);
		shim_count_calls(); /* and note the first failed write */
	} else {
		shim_fail_calls(plan.file, plan.op, plan.skip, 1, plan.err);
	}
	lg->failed_k = -1;
	for (i = 0; i < plan.appends_max; i++) {
		long k = lg->next;
		/* a cursor goes back and forth between 1 and 2 */
		uint64_t to = i % 2 ? 2 : 1;

		if (plan.cursors)
			rc = cairn_subs_reset(st, "reset-me", to);
		else
			rc = append_k(st, i % 2 ? KIND_MULTI : KIND_SINGLE,
			              K_ACKED);
		if (rc == CAIRN_OK && plan.cursors)
			lg->cursor = to;
		if (rc != CAIRN_OK) {
			if (plan.cursors)
				lg->cursor_failed = to;
			else
				lg->failed_k = k;
			lg->failed = 1;
			lg->failed_status = rc;
			snprintf(lg->failed_msg, sizeof(lg->failed_msg), "%s",
			         cairn_last_error());
			break;
		}
	}
	if (plan.fsize_above > 0) {
		enum shim_file f;
		int err;

		lg->injected = 1;
		if (shim_first_failure(&f, &err))
			printf("  the limit failed a write to %s: %s\n",
			       shim_file_name(f), strerror(err));
	} else
		lg->injected = shim_injected() - injected0;
	shim_reset();
	FAULTS_CHECK(lg->failed);
	FAULTS_CHECK(lg->injected == 1);
	FAULTS_CHECK(lg->failed_status == CAIRN_IO);
	FAULTS_CHECK(lg->failed_msg[0] != 0);
	if (check_failed_state(st, sub, delivered) != 0)
		return 1;
	cairn_sub_close(sub);
	cairn_close(st);
	return 0;
}

/* ---- the checker ---- */

static int
check_event(const cairn_event *e, long *counts)
{
	char stream[32], head[DATA_HEADER];
	const unsigned char *d = e->data;
	long k;
	int i;
	size_t j;

	FAULTS_CHECK(e->data_len >= DATA_HEADER);
	FAULTS_CHECK(sscanf((const char *)d, "k=%08ld i=%d;", &k, &i) == 2);
	FAULTS_CHECK(k >= 0 && k < lg->next && i >= 0 && i < nevents_of(k));
	header_of(k, i, head);
	FAULTS_CHECK(memcmp(d, head, DATA_HEADER - 1) == 0);
	FAULTS_CHECK(e->data_len == data_len(k, i));
	for (j = DATA_HEADER - 1; j < e->data_len; j++)
		FAULTS_CHECK(d[j] == data_byte(k, i, j));
	stream_of(k, i, stream, sizeof(stream));
	FAULTS_CHECK(strcmp(e->stream, stream) == 0);
	FAULTS_CHECK(strcmp(e->type, lg->kind[k] == KIND_COND ? "Cond" : "E") ==
	             0);
	counts[k]++;
	return 0;
}

static int
checker(void *arg)
{
	const cairn_event *e;
	cairn_sub_info info;
	cairn_status rc;
	cairn_store *st;
	cairn_iter *it;
	uint64_t v;
	void *snap;
	size_t len;
	long k, *counts;

	(void)arg;
	counts = calloc(LEDGER_MAX, sizeof(*counts));
	FAULTS_CHECK(counts != NULL);
	FAULTS_CHECK(faults_open(fst.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	FAULTS_CHECK(faults_problems(st) == 0);
	FAULTS_CHECK(cairn_read_all(st, NULL, &it) == CAIRN_OK);
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
		if (check_event(e, counts) != 0)
			return 1;
	cairn_iter_free(it);
	FAULTS_CHECK(rc == CAIRN_DONE);
	lg->failed_present = -1;
	for (k = 0; k < lg->next; k++) {
		switch (lg->state[k]) {
		case K_ACKED:
			if (counts[k] != nevents_of(k))
				fprintf(stderr,
				        "acked append %ld: %ld events\n", k,
				        counts[k]);
			FAULTS_CHECK(counts[k] == nevents_of(k));
			break;
		case K_PENDING:
			FAULTS_CHECK(counts[k] == 0 ||
			             counts[k] == nevents_of(k));
			lg->failed_present = counts[k] != 0;
			break;
		default:
			FAULTS_CHECK(counts[k] == 0);
			break;
		}
	}
	FAULTS_CHECK(cairn_snapshot_load(st, "single-0", "v1", &v, &snap,
	                                 &len) == CAIRN_OK);
	cairn_free(snap);
	FAULTS_CHECK(v == lg->snap_version);
	FAULTS_CHECK(cairn_subs_get(st, "reset-me", &info) == CAIRN_OK);
	/* a failed reset is there or not */
	FAULTS_CHECK(info.position == lg->cursor ||
	             (lg->cursor_failed && info.position == lg->cursor_failed));
	lg->failed_present = lg->cursor_failed
	                             ? info.position == lg->cursor_failed
	                             : lg->failed_present;
	/* and the store works */
	FAULTS_CHECK(append_k(st, KIND_SINGLE, K_ACKED) == CAIRN_OK);
	FAULTS_CHECK(append_k(st, KIND_MULTI, K_ACKED) == CAIRN_OK);
	FAULTS_CHECK(cairn_subs_reset(st, "reset-me", 1) == CAIRN_OK);
	FAULTS_CHECK(faults_problems(st) == 0);
	cairn_close(st);
	free(counts);
	return 0;
}

/* ---- the tests ---- */

static void
skip_without_shim(void)
{
	if (!shim_usable()) {
		print_message("skipped: the libraries' fdatasync is not the "
		              "fault-injection shim's\n");
		skip();
	}
}

/* Run one writer and its checker; the number of violations (0 or 1). */
static int
run_case(const char *label)
{
	int w, c;

	w = faults_run_child(writer, NULL, NULL);
	c = faults_run_child(checker, NULL, NULL);
	print_message("%s: %ld acked appends; the failing call (append %ld; "
	              "-1: a cursor reset) failed (%s): %s; "
	              "after reopen it is %s; %u fault(s) injected; "
	              "writer %s, checker %s\n",
	              label, lg->acked, lg->failed_k,
	              cairn_status_str((cairn_status)lg->failed_status),
	              lg->failed_msg,
	              lg->failed_present == 1   ? "wholly present"
	              : lg->failed_present == 0 ? "wholly absent"
	                                        : "unknown",
	              lg->injected, w == 0 ? "ok" : "FAILED",
	              c == 0 ? "ok" : "FAILED");
	return w != 0 || c != 0;
}

static void
fault_case(enum backend_kind kind, const char *name, enum shim_file file,
           enum shim_op op, int err, unsigned len_base, long appends_max)
{
	int violations;

	skip_without_shim();
	engine = kind;
	lg = faults_shared_alloc(sizeof(*lg));
	assert_non_null(lg);
	lg->len_base = len_base;
	assert_int_equal(store_make(kind, name), 0);
	memset(&plan, 0, sizeof(plan));
	plan.file = file;
	plan.op = op;
	plan.err = err;
	plan.appends_max = appends_max;
	violations = run_case(name);
	print_message("summary %s_%s: faults injected %u, violations %d\n",
	              engine_names[kind], name, lg->injected, violations);
	faults_store_remove(&fst);
	faults_shared_free(lg, sizeof(*lg));
	assert_int_equal(violations, 0);
}

/* lmdb: the log's sync of an append's record fails. */
static void
test_lmdb_log_sync_eio(void **state)
{
	(void)state;
	fault_case(ENGINE_LMDB, "log-sync", SHIM_LOG, SHIM_SYNC, EIO, 200, 10);
}

/* lmdb: the write of an append's record to the log fails. */
static void
test_lmdb_log_write_eio(void **state)
{
	(void)state;
	fault_case(ENGINE_LMDB, "log-write", SHIM_LOG, SHIM_WRITE, EIO, 200,
	           10);
}

/* lmdb: a checkpoint's sync of data.mdb fails (every 256 batches). */
static void
test_lmdb_checkpoint_sync_eio(void **state)
{
	(void)state;
	fault_case(ENGINE_LMDB, "ckpt-sync", SHIM_DATA, SHIM_SYNC, EIO, 200,
	           600);
}

/* lmdb: LMDB's write of a commit to data.mdb fails. */
static void
test_lmdb_data_write_eio(void **state)
{
	(void)state;
	fault_case(ENGINE_LMDB, "data-write", SHIM_DATA, SHIM_WRITE, EIO, 200,
	           10);
}

/* sqlite: a commit's write to the WAL fails. */
static void
test_sqlite_wal_write_eio(void **state)
{
	(void)state;
	fault_case(ENGINE_SQLITE, "wal-write", SHIM_SQL_WAL, SHIM_WRITE, EIO,
	           200, 10);
}

/* sqlite: a commit's sync of the WAL fails. */
static void
test_sqlite_wal_sync_eio(void **state)
{
	(void)state;
	fault_case(ENGINE_SQLITE, "wal-sync", SHIM_SQL_WAL, SHIM_SYNC, EIO, 200,
	           10);
}

/* sqlite: a checkpoint's write to the database file fails (the WAL
 * reaches 1000 pages after some 4 MiB of appends). */
static void
test_sqlite_checkpoint_write_eio(void **state)
{
	(void)state;
	fault_case(ENGINE_SQLITE, "ckpt-write", SHIM_SQL_DB, SHIM_WRITE, EIO,
	           64 * KIB, 400);
}

/* sqlite: a checkpoint's sync of the database file fails. */
static void
test_sqlite_checkpoint_sync_eio(void **state)
{
	(void)state;
	fault_case(ENGINE_SQLITE, "ckpt-sync", SHIM_SQL_DB, SHIM_SYNC, EIO,
	           64 * KIB, 400);
}

/* A cursor write fails: sqlite's cursor writer commits to the WAL
 * without a sync (synchronous=NORMAL); lmdb's commits to data.mdb. */
static void
cursor_case(enum backend_kind kind, const char *name, enum shim_file file)
{
	int violations;

	skip_without_shim();
	engine = kind;
	lg = faults_shared_alloc(sizeof(*lg));
	assert_non_null(lg);
	lg->len_base = 200;
	assert_int_equal(store_make(kind, name), 0);
	memset(&plan, 0, sizeof(plan));
	plan.file = file;
	plan.op = SHIM_WRITE;
	plan.err = EIO;
	plan.appends_max = 10;
	plan.cursors = 1;
	violations = run_case(name);
	print_message("summary %s_%s: faults injected %u, violations %d\n",
	              engine_names[kind], name, lg->injected, violations);
	faults_store_remove(&fst);
	faults_shared_free(lg, sizeof(*lg));
	assert_int_equal(violations, 0);
}

static void
test_lmdb_cursor_write_eio(void **state)
{
	(void)state;
	cursor_case(ENGINE_LMDB, "cursor-write", SHIM_DATA);
}

static void
test_sqlite_cursor_write_eio(void **state)
{
	(void)state;
	cursor_case(ENGINE_SQLITE, "cursor-write", SHIM_SQL_WAL);
}

/* A full disk as a failed write says it (ENOSPC) rather than as a file
 * size limit does (a short write, then EFBIG): lmdb's log, sqlite's WAL
 * (which SQLite reports as SQLITE_FULL). */
static void
test_lmdb_log_write_enospc(void **state)
{
	(void)state;
	fault_case(ENGINE_LMDB, "log-enospc", SHIM_LOG, SHIM_WRITE, ENOSPC, 200,
	           10);
}

static void
test_sqlite_wal_write_enospc(void **state)
{
	(void)state;
	fault_case(ENGINE_SQLITE, "wal-enospc", SHIM_SQL_WAL, SHIM_WRITE,
	           ENOSPC, 200, 10);
}

/* ---- a full disk ---- */

/* Fill a store with acknowledged appends of some MiB, closed cleanly
 * (for sqlite, checkpointed into the database file), so that the limit
 * can be put above the big file and hit by its growth. */
static int
prefill(void *arg)
{
	long mib = *(long *)arg, i;
	cairn_store *st;
	unsigned saved = lg->len_base;

	FAULTS_CHECK(faults_open(fst.uri, CAIRN_DURABLE, 0, 0, &st) ==
	             CAIRN_OK);
	lg->len_base = 64 * KIB;
	for (i = 0; i < mib * 16; i++)
		FAULTS_CHECK(append_k(st, KIND_SINGLE, K_ACKED) == CAIRN_OK);
	lg->len_base = saved;
	cairn_close(st);
	return 0;
}

/* The file size limits: above the largest file by these many KiB, over
 * a small store (the log or WAL grows into the limit) and over a
 * prefilled one (the data file's growth or a checkpoint does). */
static const long fsize_small_kib[] = {64, 256, 512, 1024, 2048};
static const long fsize_big_kib[] = {16, 64, 128, 256, 1024};
#define FSIZE_PREFILL_MIB 6

/* One limit: kib above the largest file of a small (big = 0) or a
 * prefilled store; the number of violations. */
static int
disk_full_case(enum backend_kind kind, int big, long kib)
{
	long prefill_mib = FSIZE_PREFILL_MIB;
	char name[64];
	int v;

	memset(lg, 0, sizeof(*lg));
	lg->len_base = 48 * KIB;
	snprintf(name, sizeof(name), "full-%s-%ld", big ? "big" : "small", kib);
	if (store_make(kind, name) != 0)
		return 1;
	if (big && faults_run_child(prefill, &prefill_mib, NULL) != 0)
		return 1;
	memset(&plan, 0, sizeof(plan));
	plan.fsize_above = kib * (long)KIB;
	plan.appends_max = 2000;
	v = run_case(name);
	faults_store_remove(&fst);
	return v;
}

/*
 * Ten fixed limits; CAIRN_FAULTS_LIMITS=n adds n random ones (1 KiB to
 * 4 MiB above a small or a prefilled store), from the seed
 * CAIRN_FAULTS_SEED (default: the time), printed for a rerun.
 */
static void
disk_full(enum backend_kind kind)
{
	const char *more = getenv("CAIRN_FAULTS_LIMITS");
	const char *seed_env = getenv("CAIRN_FAULTS_SEED");
	int violations = 0, cases = 0, faults = 0;
	unsigned seed;
	size_t i, j;
	long n;
	double t0 = faults_now();

	engine = kind;
	lg = faults_shared_alloc(sizeof(*lg));
	assert_non_null(lg);
	for (j = 0; j < 2; j++) {
		const long *set = j == 0 ? fsize_small_kib : fsize_big_kib;

		for (i = 0; i < 5; i++) {
			violations += disk_full_case(kind, (int)j, set[i]);
			faults += (int)lg->injected;
			cases++;
		}
	}
	n = more ? strtol(more, NULL, 10) : 0;
	seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10)
	                : (unsigned)time(NULL);
	if (n > 0)
		print_message("%ld random limits, CAIRN_FAULTS_SEED=%u\n", n,
		              seed);
	srand(seed);
	for (; n > 0; n--) {
		int big = rand() % 2;
		long kib = 1 + rand() % 4096;

		violations += disk_full_case(kind, big, kib);
		faults += (int)lg->injected;
		cases++;
	}
	faults_shared_free(lg, sizeof(*lg));
	print_message("summary %s_disk_full: %d limits, faults injected %d, "
	              "violations %d, %.1f s\n",
	              engine_names[kind], cases, faults, violations,
	              faults_now() - t0);
	assert_int_equal(violations, 0);
}

static void
test_lmdb_disk_full(void **state)
{
	(void)state;
	disk_full(ENGINE_LMDB);
}

static void
test_sqlite_disk_full(void **state)
{
	(void)state;
	disk_full(ENGINE_SQLITE);
}

int
faults_engine_tests(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lmdb_log_sync_eio),
	        cmocka_unit_test(test_lmdb_log_write_eio),
	        cmocka_unit_test(test_lmdb_checkpoint_sync_eio),
	        cmocka_unit_test(test_lmdb_data_write_eio),
	        cmocka_unit_test(test_sqlite_wal_write_eio),
	        cmocka_unit_test(test_sqlite_wal_sync_eio),
	        cmocka_unit_test(test_sqlite_checkpoint_write_eio),
	        cmocka_unit_test(test_sqlite_checkpoint_sync_eio),
	        cmocka_unit_test(test_lmdb_cursor_write_eio),
	        cmocka_unit_test(test_sqlite_cursor_write_eio),
	        cmocka_unit_test(test_lmdb_log_write_enospc),
	        cmocka_unit_test(test_sqlite_wal_write_enospc),
	        cmocka_unit_test(test_lmdb_disk_full),
	        cmocka_unit_test(test_sqlite_disk_full),
	};

	return cmocka_run_group_tests_name("faults-engines", tests, NULL, NULL);
}
