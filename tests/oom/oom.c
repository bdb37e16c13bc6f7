/*
 * oom.c -- out-of-memory injection (issue 8; docs/reliability.md).
 *
 * A counting allocator installed with cairn_set_allocator() fails the Nth
 * allocation.  For each backend and each operation, N runs 1, 2, ... until
 * the operation completes without reaching its Nth allocation.  Each run:
 *   1. a fresh store is seeded (no faults),
 *   2. the operation runs with allocation N failing,
 *   3. it must return CAIRN_OK (the failure was absorbed) or CAIRN_NOMEM,
 *   4. with faults off the store must hold exactly the seeded events (plus
 *      the operation's own when it succeeded: no partial write), take one
 *      more append and read it back,
 *   5. after cairn_close() every block the library took through the hook
 *      must be free again (our own count; AddressSanitizer checks the
 *      whole process at exit in the sanitizer build).
 * A violation is printed and the program exits 1.
 *
 * Usage: oom_test DIR [backend ...]   (DIR holds the lmdb/sqlite stores)
 */
#include <cairn.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the counting allocator ------------------------------------------ */

static atomic_long calls;   /* allocations asked for (malloc + realloc) */
static atomic_long fail_at; /* fail the call with this number; 0: none */
static atomic_long failed;  /* injected failures, all runs */
static atomic_long live;    /* blocks handed out and not yet freed */

static int
should_fail(void)
{
	long n = atomic_fetch_add(&calls, 1) + 1;

	if (n == atomic_load(&fail_at)) {
		atomic_fetch_add(&failed, 1);
		return 1;
	}
	return 0;
}

static void *
t_malloc(void *ctx, size_t size)
{
	void *p;

	(void)ctx;
	if (should_fail())
		return NULL;
	p = malloc(size);
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

static void *
t_realloc(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	if (should_fail())
		return NULL;
	return realloc(ptr, size);
}

static void
t_free(void *ctx, void *ptr)
{
	(void)ctx;
	atomic_fetch_sub(&live, 1);
	free(ptr);
}

static const cairn_allocator counting = { CAIRN_ALLOCATOR_VERSION, t_malloc,
	                                  t_realloc, t_free, NULL };

static void
arm(long n)
{
	atomic_store(&calls, 0);
	atomic_store(&fail_at, n);
}

static void
disarm(void)
{
	atomic_store(&fail_at, 0);
}

/* ---- stores ----------------------------------------------------------- */

static const char *dir;
static const char *backend;
static char uri[4096];
static long violations;
static long absorbed; /* runs whose injected failure still gave CAIRN_OK */
static int cold;      /* reopen the seeded store before the operation */

#define SEED_EVENTS 6 /* acct-1: 3, acct-2: 2, other-1: 1 */

static void
violation(const char *op, long n, const char *fmt, const char *detail)
{
	fprintf(stderr, "VIOLATION %s/%s N=%ld: %s %s (last error: %s)\n",
	        backend, op, n, fmt, detail ? detail : "", cairn_last_error());
	violations++;
}

static void
wipe(void)
{
	char cmd[4200];

	if (strcmp(backend, "memory") == 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'*", dir, backend);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: %s failed\n", cmd);
}

static void
make_uri(void)
{
	if (strcmp(backend, "memory") == 0)
		snprintf(uri, sizeof(uri), "memory:");
	else if (strcmp(backend, "lmdb") == 0)
		snprintf(uri, sizeof(uri), "lmdb:%s/lmdb", dir);
	else
		snprintf(uri, sizeof(uri), "sqlite:%s/sqlite.db", dir);
}

static cairn_status
open_store(cairn_store **st)
{
	cairn_options o;

	cairn_options_init(&o);
	o.durability = CAIRN_RELAXED;
	o.initial_map_size = 16u << 20;
	return cairn_open(uri, &o, st);
}

static const char *const tags_a[] = { "course:c1", "student:s1" };

static cairn_status
append1(cairn_store *st, const char *stream, const char *type,
        cairn_append_result *res)
{
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;

	ev.type = type;
	ev.data = "{\"n\":1}";
	ev.data_len = 7;
	ev.metadata = "m";
	ev.metadata_len = 1;
	ev.tags = tags_a;
	ev.ntags = 2;
	return cairn_append(st, stream, CAIRN_ANY, &ev, 1, res);
}

static cairn_status
seed(cairn_store *st)
{
	static const char *const streams[SEED_EVENTS] = {
		"acct-1", "acct-1", "acct-2", "acct-1", "acct-2", "other-1"
	};
	size_t i;
	cairn_status rc;

	for (i = 0; i < SEED_EVENTS; i++)
		if ((rc = append1(st, streams[i], "Seeded", NULL)) != CAIRN_OK)
			return rc;
	return cairn_snapshot_save(st, "acct-1", 3, "acct-v1", "snap", 4);
}

/* Events in $all, or -1 on an error; checks positions are 1..n. */
static long
count_all(cairn_store *st)
{
	cairn_iter *it;
	const cairn_event *e;
	cairn_status rc;
	long n = 0;

	if (cairn_read_all(st, NULL, &it) != CAIRN_OK)
		return -1;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		n++;
		if (e->position != (uint64_t)n) {
			n = -1;
			break;
		}
	}
	cairn_iter_free(it);
	return rc == CAIRN_DONE ? n : -1;
}

/* ---- operations ------------------------------------------------------- */

/* Each runs with the fault armed; *added: events it wrote on success. */
typedef cairn_status (*op_fn)(cairn_store *st, long *added);

static cairn_status
op_append(cairn_store *st, long *added)
{
	cairn_new_event ev[3];
	size_t i;

	for (i = 0; i < 3; i++) {
		cairn_new_event e = CAIRN_NEW_EVENT_INIT;

		e.type = "Deposited";
		e.data = "0123456789";
		e.data_len = 10;
		e.tags = tags_a;
		e.ntags = 2;
		ev[i] = e;
	}
	*added = 3;
	return cairn_append(st, "acct-1", 3, ev, 3, NULL);
}

static cairn_status
op_append_multi(cairn_store *st, long *added)
{
	cairn_new_event e = CAIRN_NEW_EVENT_INIT;
	cairn_write w[2];

	e.type = "Transferred";
	e.data = "x";
	e.data_len = 1;
	w[0].stream = "acct-1";
	w[0].expected = 3;
	w[0].events = &e;
	w[0].nevents = 1;
	w[1].stream = "acct-new";
	w[1].expected = CAIRN_NO_STREAM;
	w[1].events = &e;
	w[1].nevents = 1;
	*added = 2;
	return cairn_append_multi(st, w, 2, NULL);
}

static cairn_status
op_append_if(cairn_store *st, long *added)
{
	static const char *const types[] = { "Enrolled" };
	static const char *const tags[] = { "course:c1" };
	cairn_query_item item = { types, 1, tags, 1 };
	cairn_query q = { &item, 1 };
	cairn_new_event e = CAIRN_NEW_EVENT_INIT;
	cairn_write w;

	e.type = "Enrolled";
	e.tags = tags_a;
	e.ntags = 2;
	w.stream = "course-c1";
	w.expected = CAIRN_ANY;
	w.events = &e;
	w.nevents = 1;
	*added = 1;
	return cairn_append_if(st, &q, SEED_EVENTS, &w, 1, NULL);
}

static cairn_status
drain(cairn_iter *it, long want)
{
	const cairn_event *e;
	cairn_status rc;
	long n = 0;

	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
		n++;
	cairn_iter_free(it);
	if (rc != CAIRN_DONE)
		return rc;
	return n == want ? CAIRN_OK : CAIRN_CORRUPT;
}

static cairn_status
op_read_stream(cairn_store *st, long *added)
{
	cairn_iter *it;
	cairn_status rc;

	*added = 0;
	if ((rc = cairn_read_stream(st, "acct-1", NULL, &it)) != CAIRN_OK)
		return rc;
	return drain(it, 3);
}

static cairn_status
op_read_all(cairn_store *st, long *added)
{
	static const char *const types[] = { "Seeded" };
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it;
	cairn_status rc;

	*added = 0;
	ro.types = types;
	ro.ntypes = 1;
	ro.prefix = "acct-";
	if ((rc = cairn_read_all(st, &ro, &it)) != CAIRN_OK)
		return rc;
	return drain(it, 5);
}

static cairn_status
op_read_all_query(cairn_store *st, long *added)
{
	static const char *const tags[] = { "student:s1" };
	cairn_query_item item = { NULL, 0, tags, 1 };
	cairn_query q = { &item, 1 };
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it;
	cairn_status rc;

	*added = 0;
	ro.query = &q;
	if ((rc = cairn_read_all(st, &ro, &it)) != CAIRN_OK)
		return rc;
	return drain(it, SEED_EVENTS);
}

static cairn_status
op_list_streams(cairn_store *st, long *added)
{
	cairn_stream_iter *it;
	const cairn_stream_info *info;
	cairn_status rc;
	long n = 0;

	*added = 0;
	if ((rc = cairn_list_streams(st, "acct-", NULL, 0, &it)) != CAIRN_OK)
		return rc;
	while ((rc = cairn_stream_iter_next(it, &info)) == CAIRN_ROW)
		n++;
	cairn_stream_iter_free(it);
	if (rc != CAIRN_DONE)
		return rc;
	return n == 2 ? CAIRN_OK : CAIRN_CORRUPT;
}

static cairn_status
op_snapshot_save(cairn_store *st, long *added)
{
	*added = 0;
	return cairn_snapshot_save(st, "acct-2", 2, "acct-v1", "state-of-2",
	                           10);
}

static cairn_status
op_snapshot_load(cairn_store *st, long *added)
{
	uint64_t version;
	void *blob = NULL;
	size_t len;
	cairn_status rc;

	*added = 0;
	rc = cairn_snapshot_load(st, "acct-1", "acct-v1", &version, &blob,
	                         &len);
	if (rc != CAIRN_OK)
		return rc;
	rc = (version == 3 && len == 4 && memcmp(blob, "snap", 4) == 0)
	             ? CAIRN_OK
	             : CAIRN_CORRUPT;
	cairn_free(blob);
	return rc;
}

/* A command: read acct-1 and acct-2 (discovering acct-2), append one
 * event to acct-1. */
typedef struct cmd_ctx {
	long seen;
} cmd_ctx;

static cairn_status
cmd_reset(void *ctx)
{
	((cmd_ctx *)ctx)->seen = 0;
	return CAIRN_OK;
}

static cairn_status
cmd_apply(void *ctx, const cairn_event *e)
{
	(void)e;
	((cmd_ctx *)ctx)->seen++;
	return CAIRN_OK;
}

static cairn_status
cmd_discover(void *ctx, cairn_stream_set *more)
{
	(void)ctx;
	return cairn_stream_set_add(more, "acct-2");
}

static cairn_status
cmd_handle(void *ctx, cairn_decision *d)
{
	cairn_new_event e = CAIRN_NEW_EVENT_INIT;

	e.type = "Withdrawn";
	e.data = "5";
	e.data_len = 1;
	e.tags = tags_a;
	e.ntags = 2;
	if (((cmd_ctx *)ctx)->seen != 5)
		return cairn_decision_reject(d, "saw %ld events",
		                             ((cmd_ctx *)ctx)->seen);
	return cairn_decision_append(d, "acct-1", &e);
}

static cairn_status
op_execute(cairn_store *st, long *added)
{
	static const char *const streams[] = { "acct-1" };
	cmd_ctx c = { 0 };
	cairn_command cmd = { &c,          streams,      1,         cmd_reset,
		              cmd_apply,   cmd_discover, cmd_handle };
	cairn_exec_result res;

	*added = 1;
	return cairn_execute(st, &cmd, NULL, &res);
}

/* Subscribe (durable where the engine keeps cursors), take the first
 * batch, acknowledge it, close. */
static int durable_subs = 1;

static cairn_status
op_subscribe(cairn_store *st, long *added)
{
	cairn_sub_opts so;
	cairn_sub *sub;
	const cairn_event *batch;
	size_t n;
	cairn_status rc;

	*added = 0;
	cairn_sub_opts_init(&so);
	so.name = durable_subs ? "oom-sub" : NULL;
	so.prefix = "acct-";
	if ((rc = cairn_subscribe(st, &so, &sub)) != CAIRN_OK)
		return rc;
	rc = cairn_sub_next(sub, 0, &batch, &n);
	if (rc == CAIRN_ROW) {
		rc = durable_subs ? cairn_sub_ack(sub, batch[n - 1].position)
		                  : CAIRN_OK;
		if (rc == CAIRN_OK && (n != 1 || batch[0].position != 1))
			rc = CAIRN_CORRUPT;
	}
	cairn_sub_close(sub);
	return rc;
}

typedef struct proj_ctx {
	long events;
} proj_ctx;

static cairn_status
proj_handle(void *ctx, const cairn_event *batch, size_t n)
{
	(void)batch;
	((proj_ctx *)ctx)->events += (long)n;
	return CAIRN_OK;
}

static cairn_status
op_projection(cairn_store *st, long *added)
{
	cairn_projection_opts po;
	cairn_projection *p;
	proj_ctx c = { 0 };
	cairn_status rc;

	*added = 0;
	cairn_projection_opts_init(&po);
	po.sub.name = "oom-proj";
	po.handle = proj_handle;
	po.ctx = &c;
	if ((rc = cairn_projection_open(st, &po, &p)) != CAIRN_OK)
		return rc;
	rc = cairn_projection_catch_up(p);
	cairn_projection_close(p);
	/* A failed run may have handled (and acknowledged) part; the run
	 * that succeeds from a fresh store handles all. */
	if (rc == CAIRN_OK && c.events != SEED_EVENTS)
		rc = CAIRN_CORRUPT;
	return rc;
}

/* A tracking store around the store: append through it, read back what
 * it recorded, close it. */
static cairn_status
op_tracking(cairn_store *st, long *added)
{
	cairn_store *tr;
	cairn_iter *it;
	cairn_status rc;

	*added = 0;
	if ((rc = cairn_tracking_open(st, &tr)) != CAIRN_OK)
		return rc;
	rc = append1(tr, "acct-9", "Tracked", NULL);
	*added = rc == CAIRN_OK; /* written, whatever comes after */
	if (rc == CAIRN_OK && (rc = cairn_tracking_read(tr, &it)) == CAIRN_OK)
		rc = drain(it, 1);
	cairn_close(tr);
	return rc;
}

/* An instrumented store: append and read through it. */
static cairn_status
op_instrumented(cairn_store *st, long *added)
{
	cairn_store *in;
	cairn_iter *it;
	cairn_status rc;

	*added = 0;
	if ((rc = cairn_instrumented_open(st, &in)) != CAIRN_OK)
		return rc;
	rc = append1(in, "acct-9", "Measured", NULL);
	*added = rc == CAIRN_OK; /* written, whatever comes after */
	if (rc == CAIRN_OK &&
	    (rc = cairn_read_stream(in, "acct-9", NULL, &it)) == CAIRN_OK)
		rc = drain(it, 1);
	cairn_close(in);
	return rc;
}

static void
verify_note(void *ctx, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "verify: %s\n", problem);
}

static cairn_status
op_verify(cairn_store *st, long *added)
{
	uint64_t problems = 0;
	cairn_status rc;

	*added = 0;
	rc = cairn_verify(st, verify_note, NULL, &problems);
	return rc == CAIRN_OK && problems != 0 ? CAIRN_CORRUPT : rc;
}

/* An aggregate with snapshots: load (snapshot, then the events after
 * it), snapshot again. */
typedef struct acct_state {
	long events;
} acct_state;

static cairn_status
acct_apply(void *state, const cairn_event *e)
{
	(void)e;
	((acct_state *)state)->events++;
	return CAIRN_OK;
}

static cairn_status
acct_restore(void *state, const void *blob, size_t len)
{
	((acct_state *)state)->events = len == 4 ? 3 : -100;
	(void)blob;
	return CAIRN_OK;
}

static cairn_status
acct_serialize(const void *state, void **blob, size_t *len)
{
	(void)state;
	if ((*blob = malloc(4)) == NULL)
		return CAIRN_NOMEM;
	memcpy(*blob, "snap", 4);
	*len = 4;
	return CAIRN_OK;
}

static cairn_status
op_aggregate(cairn_store *st, long *added)
{
	cairn_aggregate_type t = { "acct-v1", sizeof(acct_state), acct_apply,
		                   acct_restore, acct_serialize };
	acct_state a;
	uint64_t version;
	cairn_status rc;

	*added = 0;
	rc = cairn_aggregate_load(st, "acct-1", &t, &a, &version);
	if (rc == CAIRN_OK && (a.events != 3 || version != 3))
		rc = CAIRN_CORRUPT;
	if (rc == CAIRN_OK)
		rc = cairn_aggregate_snapshot(st, "acct-1", &t, &a, version);
	return rc;
}

/* ---- the loop --------------------------------------------------------- */

typedef struct op {
	const char *name;
	op_fn fn;
} op;

static const op ops[] = {
	{ "append", op_append },
	{ "append_multi", op_append_multi },
	{ "append_if", op_append_if },
	{ "read_stream", op_read_stream },
	{ "read_all", op_read_all },
	{ "read_all_query", op_read_all_query },
	{ "list_streams", op_list_streams },
	{ "snapshot_save", op_snapshot_save },
	{ "snapshot_load", op_snapshot_load },
	{ "execute", op_execute },
	{ "subscribe_next_ack", op_subscribe },
	{ "projection_catch_up", op_projection },
	{ "aggregate_load_snapshot", op_aggregate },
	{ "tracking_decorator", op_tracking },
	{ "instrumented_decorator", op_instrumented },
	{ "verify", op_verify },
};

#define MAX_N 100000

/* After a run with faults off: the store holds want events, takes one
 * more, reads it back. */
static void
check_usable(cairn_store *st, const char *opname, long n, long want)
{
	char buf[64];
	long have = count_all(st);

	if (have != want) {
		snprintf(buf, sizeof(buf), "want %ld have %ld", want, have);
		violation(opname, n, "store holds the wrong events:", buf);
		return;
	}
	if (append1(st, "after-oom", "Checked", NULL) != CAIRN_OK)
		violation(opname, n, "append after the failure failed", NULL);
	else if (count_all(st) != want + 1)
		violation(opname, n, "append after the failure not read", NULL);
}

static void
check_leaks(const char *opname, long n)
{
	long l = atomic_load(&live);

	if (l != 0) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%ld blocks", l);
		violation(opname, n, "leaked", buf);
		atomic_store(&live, 0);
	}
}

/* The operation of opening a store (the seeded one, reopened, for the
 * persistent engines; a fresh one for memory). */
static long
run_open(void)
{
	long n, runs = 0;

	wipe();
	for (n = 1; n < MAX_N; n++) {
		cairn_store *st = NULL;
		cairn_status rc;
		long want = 0, reached;

		if (strcmp(backend, "memory") != 0) {
			if (open_store(&st) != CAIRN_OK || (n == 1 && seed(st)))
				violation("open", n, "setup failed", NULL);
			cairn_close(st);
			st = NULL;
			want = SEED_EVENTS + (n - 1); /* one check per run */
		}
		arm(n);
		rc = open_store(&st);
		disarm();
		reached = atomic_load(&calls);
		runs++;
		if (rc != CAIRN_OK && rc != CAIRN_NOMEM)
			violation("open", n, "returned", cairn_status_str(rc));
		if (rc != CAIRN_OK) {
			if (st != NULL)
				violation("open", n, "failed but set *out", NULL);
			if (open_store(&st) != CAIRN_OK) {
				violation("open", n, "reopen failed", NULL);
				check_leaks("open", n);
				continue;
			}
		}
		check_usable(st, "open", n, want);
		cairn_close(st);
		check_leaks("open", n);
		if (rc == CAIRN_OK && reached < n)
			break;
	}
	printf("  %-8s %-23s %5ld runs\n", backend, "open", runs);
	return runs;
}

static long
run_op(const op *o)
{
	long n, runs = 0;

	for (n = 1; n < MAX_N; n++) {
		cairn_store *st = NULL;
		cairn_status rc;
		long added = 0, reached;

		wipe();
		if (open_store(&st) != CAIRN_OK || seed(st) != CAIRN_OK) {
			violation(o->name, n, "setup failed", NULL);
			cairn_close(st);
			return runs;
		}
		if (cold) {
			/* the operation meets a freshly opened handle: no
			 * caches, no lazily made structures yet */
			cairn_close(st);
			st = NULL;
			if (open_store(&st) != CAIRN_OK) {
				violation(o->name, n, "reopen failed", NULL);
				return runs;
			}
		}
		arm(n);
		rc = o->fn(st, &added);
		disarm();
		reached = atomic_load(&calls);
		runs++;
		if (rc == CAIRN_OK && reached >= n)
			absorbed++;
		if (rc != CAIRN_OK && rc != CAIRN_NOMEM)
			violation(o->name, n, "returned", cairn_status_str(rc));
		/* added: what the op's writing call acknowledged (ops
		 * that fail after it keep it; ops with one call only
		 * count it on CAIRN_OK) */
		if (rc != CAIRN_OK && o->fn != op_tracking &&
		    o->fn != op_instrumented)
			added = 0;
		check_usable(st, o->name, n, SEED_EVENTS + added);
		cairn_close(st);
		check_leaks(o->name, n);
		if (rc == CAIRN_OK && reached < n)
			break;
		if (n + 1 == MAX_N)
			violation(o->name, n, "never succeeded", NULL);
	}
	printf("  %-8s %-23s %5ld runs%s\n", backend, o->name, runs,
	       cold ? " (cold handle)" : "");
	return runs;
}

int
main(int argc, char **argv)
{
	static const char *const all[] = { "memory", "lmdb", "sqlite" };
	const char *const *backends = all;
	int nbackends = 3, b, nops = 0;
	size_t i;
	long runs = 0;
	struct timespec t0, t1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [backend ...]\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	if (argc > 2) {
		backends = (const char *const *)argv + 2;
		nbackends = argc - 2;
	}
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
		if (system(cmd) != 0)
			return 2;
	}
	if (cairn_set_allocator(&counting) != CAIRN_OK)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (b = 0; b < nbackends; b++) {
		cairn_store *st = NULL;

		backend = backends[b];
		make_uri();
		/* Durable subscriptions where the engine keeps cursors. */
		wipe();
		durable_subs = 1;
		if (open_store(&st) == CAIRN_OK) {
			cairn_sub_opts so;
			cairn_sub *sub = NULL;

			cairn_sub_opts_init(&so);
			so.name = "probe";
			if (cairn_subscribe(st, &so, &sub) == CAIRN_UNSUPPORTED)
				durable_subs = 0;
			cairn_sub_close(sub);
		}
		cairn_close(st);
		check_leaks("probe", 0);
		runs += run_open();
		nops++;
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			if (!durable_subs &&
			    strcmp(ops[i].name, "projection_catch_up") == 0)
				continue;
			cold = 0;
			runs += run_op(&ops[i]);
			nops++;
			if (strcmp(backend, "memory") != 0) {
				cold = 1;
				runs += run_op(&ops[i]);
				nops++;
			}
		}
		wipe();
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cairn_set_allocator(NULL);
	printf("oom: %d operation x backend cases, %ld runs, %ld allocations "
	       "failed (%ld absorbed: CAIRN_OK and correct), %ld violations, "
	       "%.1f s\n",
	       nops, runs, (long)atomic_load(&failed), absorbed, violations,
	       (double)(t1.tv_sec - t0.tv_sec) +
	               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return violations == 0 ? 0 : 1;
}
