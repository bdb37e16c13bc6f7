/*
 * test_exec.c -- cairn_execute() and aggregates against real stores:
 * "memory:", an lmdb store in a scratch directory, and a memory engine
 * behind a handle whose operations keep no snapshots and count retries.
 *
 * Worker threads never call cmocka's assertions (they longjmp): they
 * record what they saw and the main thread checks it.
 */
#include "unit.h"

#include "exec/pipeline.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREADS 8
#define INCREMENTS 25
#define FUNDS 40
#define WITHDRAWALS 10

/* ---- fixtures ---- */

enum kind { MEMORY, LMDB, PLAIN };

struct fixture {
	enum kind kind;
	char dir[256];
	cairn_store *st;
};

static struct fixture memory_fx = {MEMORY, "", NULL};
static struct fixture lmdb_fx = {LMDB, "", NULL};
static struct fixture plain_fx = {PLAIN, "", NULL};

/* The PLAIN engine: memory's operations without snapshots, counting
 * note_retry calls. */
static cairn__backend_ops plain_ops;
static unsigned plain_retries;

static void
count_retry(cairn__backend *be)
{
	(void)be;
	__atomic_add_fetch(&plain_retries, 1, __ATOMIC_RELAXED);
}

static void
remove_tree(const char *path)
{
	char child[1024];
	struct dirent *de;
	struct stat sb;
	DIR *d;

	if (lstat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if ((size_t)snprintf(child, sizeof(child), "%s/%s",
			                     path, de->d_name) < sizeof(child))
				remove_tree(child);
		}
		closedir(d);
	}
	rmdir(path);
}

static int
setup(void **state)
{
	struct fixture *fx = *state;
	cairn_options opts;
	cairn__backend *be;
	char uri[300];

	cairn_options_init(&opts);
	opts.durability = CAIRN_RELAXED;
	switch (fx->kind) {
	case MEMORY:
		assert_int_equal(cairn_open("memory:", &opts, &fx->st),
		                 CAIRN_OK);
		break;
	case LMDB:
		snprintf(fx->dir, sizeof(fx->dir), "/tmp/cairn-exec-XXXXXX");
		assert_non_null(mkdtemp(fx->dir));
		snprintf(uri, sizeof(uri), "lmdb:%s", fx->dir);
		assert_int_equal(cairn_open(uri, &opts, &fx->st), CAIRN_OK);
		break;
	case PLAIN:
		plain_ops = cairn__memory_backend;
		plain_ops.snapshot_put = NULL;
		plain_ops.snapshot_get = NULL;
		plain_ops.note_retry = count_retry;
		plain_retries = 0;
		assert_int_equal(plain_ops.open("", &opts, &be), CAIRN_OK);
		assert_int_equal(
		        cairn__store_new(&plain_ops, be, &opts, &fx->st),
		        CAIRN_OK);
		break;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	cairn_close(fx->st);
	fx->st = NULL;
	if (fx->dir[0])
		remove_tree(fx->dir);
	fx->dir[0] = '\0';
	return 0;
}

static uint64_t
version_of(cairn_store *st, const char *stream)
{
	uint64_t v = UINT64_MAX;

	assert_int_equal(cairn_stream_version(st, stream, &v), CAIRN_OK);
	return v;
}

static void
append_n(cairn_store *st, const char *stream, const char *type, size_t n)
{
	cairn_new_event evs[FUNDS];
	size_t i;

	assert_true(n <= FUNDS);
	for (i = 0; i < n; i++) {
		evs[i] = (cairn_new_event)CAIRN_NEW_EVENT_INIT;
		evs[i].type = type;
	}
	assert_int_equal(cairn_append(st, stream, CAIRN_ANY, evs, n, NULL),
	                 CAIRN_OK);
}

/* A quick policy: many retries, short exponential delays. */
static cairn_retry_policy
quick_policy(void)
{
	cairn_retry_policy pol;

	cairn_retry_policy_init(&pol);
	pol.max_retries = 1000;
	pol.base_delay_us = 20;
	pol.max_delay_us = 2000;
	return pol;
}

/* ---- a counter under threads ---- */

struct counter {
	cairn_store *st;
	pthread_barrier_t *barrier;
	bool wait_once; /* meet the others before the first decision */
	uint64_t seen;  /* state: events folded */
	unsigned retries;
	unsigned attempts;
	cairn_status failed;
	char error[256];
};

static cairn_status
counter_reset(void *ctx)
{
	((struct counter *)ctx)->seen = 0;
	return CAIRN_OK;
}

static cairn_status
counter_apply(void *ctx, const cairn_event *ev)
{
	struct counter *c = ctx;

	if (strcmp(ev->type, "Incremented") != 0 || ev->version != c->seen + 1)
		return CAIRN_CORRUPT;
	c->seen++;
	return CAIRN_OK;
}

static cairn_status
counter_handle(void *ctx, cairn_decision *d)
{
	struct counter *c = ctx;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;

	/* Every thread has read the same version before any appends: all
	 * but one must conflict. */
	if (c->wait_once) {
		c->wait_once = false;
		pthread_barrier_wait(c->barrier);
	}
	ev.type = "Incremented";
	return cairn_decision_append(d, "counter-1", &ev);
}

static void
counter_retried(void *ctx, const char *stream, unsigned attempt,
                uint32_t delay_us)
{
	struct counter *c = ctx;

	(void)attempt;
	(void)delay_us;
	if (strcmp(stream, "counter-1") == 0)
		c->retries++;
}

static void *
counter_thread(void *arg)
{
	static const char *const streams[] = {"counter-1"};
	struct counter *c = arg;
	cairn_command cmd = {
	        .ctx = c,
	        .streams = streams,
	        .nstreams = 1,
	        .reset = counter_reset,
	        .apply = counter_apply,
	        .discover = NULL,
	        .handle = counter_handle,
	};
	cairn_retry_policy pol = quick_policy();
	cairn_exec_result res;
	cairn_status rc;
	int i;

	pol.on_retry = counter_retried;
	pol.on_retry_ctx = c;
	for (i = 0; i < INCREMENTS; i++) {
		rc = cairn_execute(c->st, &cmd, &pol, &res);
		c->attempts += res.attempts;
		if (rc != CAIRN_OK && c->failed == CAIRN_OK) {
			c->failed = rc;
			snprintf(c->error, sizeof(c->error), "%s",
			         cairn_last_error());
		}
	}
	return NULL;
}

static void
counter_under_threads(void **state)
{
	struct fixture *fx = *state;
	struct counter cs[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t barrier;
	unsigned retries = 0, attempts = 0;
	int i;

	pthread_barrier_init(&barrier, NULL, THREADS);
	memset(cs, 0, sizeof(cs));
	for (i = 0; i < THREADS; i++) {
		cs[i].st = fx->st;
		cs[i].barrier = &barrier;
		cs[i].wait_once = true;
		assert_int_equal(
		        pthread_create(&th[i], NULL, counter_thread, &cs[i]),
		        0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	for (i = 0; i < THREADS; i++) {
		if (cs[i].failed != CAIRN_OK)
			fail_msg("thread %d: %s: %s", i,
			         cairn_status_str(cs[i].failed), cs[i].error);
		retries += cs[i].retries;
		attempts += cs[i].attempts;
	}
	assert_int_equal(version_of(fx->st, "counter-1"), THREADS * INCREMENTS);
	/* the barrier forces at least THREADS - 1 conflicts */
	assert_true(retries >= THREADS - 1);
	assert_int_equal(attempts, THREADS * INCREMENTS + retries);
	if (fx->kind == PLAIN)
		assert_int_equal(plain_retries, retries);
}

/* ---- a stream read but not written is checked ---- */

struct order {
	cairn_store *st;
	uint64_t limit_events; /* state */
	bool interfere;        /* write the limits once, from handle() */
	char retry_stream[64];
	unsigned retry_attempt;
	unsigned handles;
};

static cairn_status
order_reset(void *ctx)
{
	((struct order *)ctx)->limit_events = 0;
	return CAIRN_OK;
}

static cairn_status
order_apply(void *ctx, const cairn_event *ev)
{
	struct order *o = ctx;

	if (strcmp(ev->stream, "limits-1") == 0)
		o->limit_events++;
	return CAIRN_OK;
}

static cairn_status
order_handle(void *ctx, cairn_decision *d)
{
	struct order *o = ctx;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;

	o->handles++;
	if (o->interfere) {
		/* another writer changes the limits after they were read */
		o->interfere = false;
		ev.type = "LimitLowered";
		if (cairn_append(o->st, "limits-1", CAIRN_ANY, &ev, 1, NULL) !=
		    CAIRN_OK)
			return CAIRN_IO;
	}
	ev.type = "OrderPlaced";
	return cairn_decision_append(d, "orders-1", &ev);
}

static void
order_retried(void *ctx, const char *stream, unsigned attempt,
              uint32_t delay_us)
{
	struct order *o = ctx;

	(void)delay_us;
	snprintf(o->retry_stream, sizeof(o->retry_stream), "%s", stream);
	o->retry_attempt = attempt;
}

static void
unwritten_read_stream_is_checked(void **state)
{
	static const char *const streams[] = {"limits-1", "orders-1"};
	struct fixture *fx = *state;
	struct order o = {0};
	cairn_command cmd = {
	        .ctx = &o,
	        .streams = streams,
	        .nstreams = 2,
	        .reset = order_reset,
	        .apply = order_apply,
	        .discover = NULL,
	        .handle = order_handle,
	};
	cairn_retry_policy pol = quick_policy();
	cairn_exec_result res;

	o.st = fx->st;
	o.interfere = true;
	pol.on_retry = order_retried;
	pol.on_retry_ctx = &o;
	assert_int_equal(cairn_execute(fx->st, &cmd, &pol, &res), CAIRN_OK);
	assert_int_equal(res.attempts, 2);
	assert_string_equal(o.retry_stream, "limits-1");
	assert_int_equal(o.retry_attempt, 2);
	assert_int_equal(o.handles, 2);
	/* the second attempt decided on the new limits; the first wrote
	 * nothing */
	assert_int_equal(o.limit_events, 1);
	assert_int_equal(version_of(fx->st, "orders-1"), 1);
	assert_int_equal(version_of(fx->st, "limits-1"), 1);
	assert_int_equal(res.nevents, 1);
	assert_int_equal(res.append.version, 1);
	if (fx->kind == PLAIN)
		assert_int_equal(plain_retries, 1);
}

/*
 * Write skew: two accounts share one balance (a + b must stay >= 0);
 * each withdrawal reads both and writes one.  Without the check of the
 * account read but not written, two withdrawals from different accounts
 * could both spend the last unit.
 */
struct teller {
	cairn_store *st;
	int index;
	pthread_barrier_t *barrier;
	bool wait_once; /* meet the other before the first decision */
	int rounds;
	long balance; /* state */
	const char *account;
	unsigned ok, rejected;
	cairn_status failed;
	char error[256];
};

static cairn_status
teller_reset(void *ctx)
{
	((struct teller *)ctx)->balance = 0;
	return CAIRN_OK;
}

static cairn_status
teller_apply(void *ctx, const cairn_event *ev)
{
	struct teller *t = ctx;

	t->balance += strcmp(ev->type, "Deposited") == 0 ? 1 : -1;
	return CAIRN_OK;
}

static cairn_status
teller_handle(void *ctx, cairn_decision *d)
{
	struct teller *t = ctx;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;

	if (t->wait_once) {
		t->wait_once = false;
		pthread_barrier_wait(t->barrier);
	} else
		sched_yield(); /* let others read the same balance */
	if (t->balance < 1)
		return cairn_decision_reject(d, "no funds left");
	ev.type = "Withdrawn";
	return cairn_decision_append(d, t->account, &ev);
}

static void *
teller_thread(void *arg)
{
	static const char *const streams[] = {"acct-a", "acct-b"};
	struct teller *t = arg;
	cairn_command cmd = {
	        .ctx = t,
	        .streams = streams,
	        .nstreams = 2,
	        .reset = teller_reset,
	        .apply = teller_apply,
	        .discover = NULL,
	        .handle = teller_handle,
	};
	cairn_retry_policy pol = quick_policy();
	cairn_exec_result res;
	cairn_status rc;
	int i;

	for (i = 0; i < t->rounds; i++) {
		t->account = (t->index + i) % 2 ? "acct-b" : "acct-a";
		rc = cairn_execute(t->st, &cmd, &pol, &res);
		if (rc == CAIRN_OK)
			t->ok++;
		else if (rc == CAIRN_REJECTED)
			t->rejected++;
		else if (t->failed == CAIRN_OK) {
			t->failed = rc;
			snprintf(t->error, sizeof(t->error), "%s",
			         cairn_last_error());
		}
	}
	return NULL;
}

/* The shared balance: deposits less withdrawals over both accounts. */
static long
balance_of(cairn_store *st)
{
	struct teller t = {0};

	assert_int_equal(cairn_fold_stream(st, "acct-a", 0, teller_apply, &t),
	                 CAIRN_OK);
	assert_int_equal(cairn_fold_stream(st, "acct-b", 0, teller_apply, &t),
	                 CAIRN_OK);
	return t.balance;
}

/* No teller failed; ok and rejected add up as wanted. */
static void
tellers_check(const struct teller *ts, int n, unsigned want_ok,
              unsigned want_rejected)
{
	unsigned ok = 0, rejected = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (ts[i].failed != CAIRN_OK)
			fail_msg("thread %d: %s: %s", i,
			         cairn_status_str(ts[i].failed), ts[i].error);
		ok += ts[i].ok;
		rejected += ts[i].rejected;
	}
	assert_int_equal(ok, want_ok);
	assert_int_equal(rejected, want_rejected);
}

/*
 * Deterministic: with one unit left, two tellers read the balance (a
 * barrier makes sure both did) and withdraw from different accounts.
 * Their writes touch different streams, so only the check of the
 * account each read but did not write stops the second one.
 */
static void
write_skew_prevented(void **state)
{
	enum { ROUNDS = 10 };
	struct fixture *fx = *state;
	struct teller ts[2];
	pthread_t th[2];
	pthread_barrier_t barrier;
	int round, i;

	pthread_barrier_init(&barrier, NULL, 2);
	for (round = 0; round < ROUNDS; round++) {
		append_n(fx->st, round % 2 ? "acct-b" : "acct-a", "Deposited",
		         1);
		memset(ts, 0, sizeof(ts));
		for (i = 0; i < 2; i++) {
			ts[i].st = fx->st;
			ts[i].index = i;
			ts[i].barrier = &barrier;
			ts[i].wait_once = true;
			ts[i].rounds = 1;
			assert_int_equal(pthread_create(&th[i], NULL,
			                                teller_thread, &ts[i]),
			                 0);
		}
		for (i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		tellers_check(ts, 2, 1, 1);
		assert_int_equal(balance_of(fx->st), 0);
	}
	pthread_barrier_destroy(&barrier);
}

/* The same under load: THREADS tellers spend FUNDS units to the last,
 * each unit exactly once. */
static void
tellers_under_threads(void **state)
{
	struct fixture *fx = *state;
	struct teller ts[THREADS];
	pthread_t th[THREADS];
	int i;

	append_n(fx->st, "acct-a", "Deposited", FUNDS);
	memset(ts, 0, sizeof(ts));
	for (i = 0; i < THREADS; i++) {
		ts[i].st = fx->st;
		ts[i].index = i;
		ts[i].rounds = WITHDRAWALS;
		assert_int_equal(
		        pthread_create(&th[i], NULL, teller_thread, &ts[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	tellers_check(ts, THREADS, FUNDS, THREADS * WITHDRAWALS - FUNDS);
	assert_int_equal(balance_of(fx->st), 0);
}

/* ---- outcomes through cairn_execute() ---- */

struct simple {
	const char *write_to;
	bool reject;
	unsigned handles;
};

static cairn_status
simple_reset(void *ctx)
{
	(void)ctx;
	return CAIRN_OK;
}

static cairn_status
simple_apply(void *ctx, const cairn_event *ev)
{
	(void)ctx;
	(void)ev;
	return CAIRN_OK;
}

static cairn_status
simple_handle(void *ctx, cairn_decision *d)
{
	struct simple *s = ctx;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;

	s->handles++;
	if (s->reject)
		return cairn_decision_reject(d, "order %d is closed", 7);
	if (s->write_to == NULL)
		return CAIRN_OK;
	ev.type = "Touched";
	return cairn_decision_append(d, s->write_to, &ev);
}

static void
execute_outcomes(void **state)
{
	static const char *const streams[] = {"order-7"};
	struct fixture *fx = *state;
	struct simple s = {0};
	cairn_command cmd = {
	        .ctx = &s,
	        .streams = streams,
	        .nstreams = 1,
	        .reset = simple_reset,
	        .apply = simple_apply,
	        .discover = NULL,
	        .handle = simple_handle,
	};
	cairn_exec_result res;
	cairn_stats stats;

	/* a rejection: its message, never retried, nothing written */
	s.reject = true;
	assert_int_equal(cairn_execute(fx->st, &cmd, NULL, &res),
	                 CAIRN_REJECTED);
	assert_string_equal(res.message, "order 7 is closed");
	assert_string_equal(cairn_last_error(), "order 7 is closed");
	assert_int_equal(res.attempts, 1);
	assert_int_equal(s.handles, 1);

	/* a write to a stream not read */
	s.reject = false;
	s.write_to = "order-8";
	assert_int_equal(cairn_execute(fx->st, &cmd, NULL, &res),
	                 CAIRN_INVALID);
	assert_error_has("'order-8' was not read");

	/* nothing to write */
	s.write_to = NULL;
	assert_int_equal(cairn_execute(fx->st, &cmd, NULL, &res), CAIRN_OK);
	assert_int_equal(res.nevents, 0);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(cairn_stats_get(fx->st, &stats), CAIRN_OK);
	assert_int_equal(stats.events, 0);
	assert_int_equal(stats.streams, 0);

	/* a write; NULL result is allowed */
	s.write_to = "order-7";
	assert_int_equal(cairn_execute(fx->st, &cmd, NULL, &res), CAIRN_OK);
	assert_int_equal(res.nevents, 1);
	assert_int_equal(res.append.first_position, 1);
	assert_int_equal(res.append.version, 1);
	assert_string_equal(cairn_last_error(), "");
	assert_int_equal(cairn_execute(fx->st, &cmd, NULL, NULL), CAIRN_OK);
	assert_int_equal(version_of(fx->st, "order-7"), 2);
}

static void
execute_refuses_bad_arguments(void **state)
{
	static const char *const streams[] = {"order-7"};
	static const char *const bad[] = {"bad\nid"};
	static const char *const null_stream[] = {NULL};
	struct fixture *fx = *state;
	struct simple s = {0};
	cairn_command cmd = {
	        .ctx = &s,
	        .streams = streams,
	        .nstreams = 1,
	        .reset = simple_reset,
	        .apply = simple_apply,
	        .discover = NULL,
	        .handle = simple_handle,
	};
	cairn_command c2;
	cairn_retry_policy pol;
	cairn_exec_result res;

	assert_int_equal(cairn_execute(NULL, &cmd, NULL, &res), CAIRN_INVALID);
	assert_int_equal(cairn_execute(fx->st, NULL, NULL, &res),
	                 CAIRN_INVALID);
	c2 = cmd;
	c2.handle = NULL;
	assert_int_equal(cairn_execute(fx->st, &c2, NULL, &res), CAIRN_INVALID);
	assert_error_has("handle()");
	c2 = cmd;
	c2.reset = NULL;
	assert_int_equal(cairn_execute(fx->st, &c2, NULL, &res), CAIRN_INVALID);
	c2 = cmd;
	c2.streams = NULL;
	assert_int_equal(cairn_execute(fx->st, &c2, NULL, &res), CAIRN_INVALID);
	c2 = cmd;
	c2.streams = null_stream;
	assert_int_equal(cairn_execute(fx->st, &c2, NULL, &res), CAIRN_INVALID);
	c2 = cmd;
	c2.streams = bad;
	assert_int_equal(cairn_execute(fx->st, &c2, NULL, &res),
	                 CAIRN_INVALID_STREAM);
	cairn_retry_policy_init(&pol);
	pol.jitter = 1.5;
	assert_int_equal(cairn_execute(fx->st, &cmd, &pol, &res),
	                 CAIRN_INVALID);
	assert_error_has("jitter");
	pol.jitter = NAN;
	assert_int_equal(cairn_execute(fx->st, &cmd, &pol, &res),
	                 CAIRN_INVALID);
	cairn_retry_policy_init(&pol);
	pol.backoff = (cairn_backoff)7;
	assert_int_equal(cairn_execute(fx->st, &cmd, &pol, &res),
	                 CAIRN_INVALID);
	assert_int_equal(s.handles, 0);
	/* the documented defaults */
	cairn_retry_policy_init(&pol);
	assert_int_equal(pol.max_retries, 5);
	assert_int_equal(pol.backoff, CAIRN_BACKOFF_EXPONENTIAL);
	assert_int_equal(pol.base_delay_us, 1000);
	assert_int_equal(pol.max_delay_us, 100000);
	assert_true(pol.jitter == 0.5);
	assert_null(pol.on_retry);
}

/* ---- the checked append itself ---- */

static void
checked_append(void **state)
{
	struct fixture *fx = *state;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_write w = {"w-1", 0, &ev, 1};
	cairn__check ck[2] = {{"missing-1", 0}, {"old-1", 1}};
	cairn_append_result res;
	cairn_stream_iter *si;
	const cairn_stream_info *info;
	cairn_stats stats;

	ev.type = "E";
	append_n(fx->st, "old-1", "E", 1);

	/* checks that hold: the write commits, a checked missing stream is
	 * not created, a checked stream is left as it was */
	assert_int_equal(cairn__append_checked(fx->st, &w, 1, ck, 2, &res),
	                 CAIRN_OK);
	assert_int_equal(res.first_position, 2);
	assert_int_equal(cairn_stats_get(fx->st, &stats), CAIRN_OK);
	assert_int_equal(stats.streams, 2);
	assert_int_equal(stats.events, 2);
	assert_int_equal(version_of(fx->st, "missing-1"), 0);
	assert_int_equal(cairn_list_streams(fx->st, "old-1", NULL, 10, &si),
	                 CAIRN_OK);
	assert_int_equal(cairn_stream_iter_next(si, &info), CAIRN_ROW);
	assert_int_equal(info->last_position, 1);
	cairn_stream_iter_free(si);

	/* a check that fails: named, and nothing written */
	w.expected = 1;
	ck[1].expected = 0;
	assert_int_equal(cairn__append_checked(fx->st, &w, 1, ck, 2, &res),
	                 CAIRN_CONFLICT);
	assert_int_equal(res.conflict_index, 2);
	assert_string_equal(res.conflict_stream, "old-1");
	assert_int_equal(res.conflict_expected, 0);
	assert_int_equal(res.conflict_actual, 1);
	assert_error_has("'old-1'");
	assert_int_equal(version_of(fx->st, "w-1"), 1);

	/* a write's own conflict is still the engine's */
	w.expected = 0;
	ck[1].expected = 1;
	assert_int_equal(cairn__append_checked(fx->st, &w, 1, ck, 2, &res),
	                 CAIRN_CONFLICT);
	assert_int_equal(res.conflict_index, 0);
	assert_string_equal(res.conflict_stream, "w-1");

	/* malformed requests */
	ck[1].stream = "w-1";
	w.expected = 1;
	assert_int_equal(cairn__append_checked(fx->st, &w, 1, ck, 2, &res),
	                 CAIRN_INVALID);
	ck[1].stream = "missing-1";
	assert_int_equal(cairn__append_checked(fx->st, &w, 1, ck, 2, &res),
	                 CAIRN_INVALID);
	ck[1].stream = "bad\x01";
	assert_int_equal(cairn__append_checked(fx->st, &w, 1, ck, 2, &res),
	                 CAIRN_INVALID_STREAM);
	assert_int_equal(cairn__append_checked(fx->st, &w, 0, NULL, 0, &res),
	                 CAIRN_INVALID);
	assert_int_equal(version_of(fx->st, "w-1"), 1);
}

/* ---- aggregates ---- */

struct tally {
	long total;
};

static unsigned apply_calls;

static cairn_status
tally_apply(void *acc, const cairn_event *ev)
{
	struct tally *t = acc;

	apply_calls++;
	if (strcmp(ev->type, "Broken") == 0)
		return CAIRN_CORRUPT;
	t->total += strcmp(ev->type, "Added") == 0 ? 1 : 0;
	return CAIRN_OK;
}

static cairn_status
tally_restore(void *state, const void *blob, size_t len)
{
	if (len != sizeof(struct tally))
		return CAIRN_CORRUPT;
	memcpy(state, blob, len);
	return CAIRN_OK;
}

static cairn_status
tally_serialize(const void *state, void **blob, size_t *len)
{
	*blob = malloc(sizeof(struct tally));
	if (*blob == NULL)
		return CAIRN_NOMEM;
	memcpy(*blob, state, sizeof(struct tally));
	*len = sizeof(struct tally);
	return CAIRN_OK;
}

static const cairn_aggregate_type tally_v1 = {"tally/v1", sizeof(struct tally),
                                              tally_apply, tally_restore,
                                              tally_serialize};
static const cairn_aggregate_type tally_v2 = {"tally/v2", sizeof(struct tally),
                                              tally_apply, tally_restore,
                                              tally_serialize};
static const cairn_aggregate_type tally_nosnap = {NULL, sizeof(struct tally),
                                                  tally_apply, NULL, NULL};

/* Load stream with type: its total and version, counting applies. */
static unsigned
load(cairn_store *st, const cairn_aggregate_type *type, long *total,
     uint64_t *version)
{
	struct tally t;

	memset(&t, 0x55, sizeof(t)); /* load must zero it */
	apply_calls = 0;
	assert_int_equal(cairn_aggregate_load(st, "tally-1", type, &t, version),
	                 CAIRN_OK);
	*total = t.total;
	return apply_calls;
}

static void
add(cairn_store *st, uint64_t version, size_t n)
{
	cairn_new_event evs[16];
	cairn_append_result res;
	size_t i;

	for (i = 0; i < n; i++) {
		evs[i] = (cairn_new_event)CAIRN_NEW_EVENT_INIT;
		evs[i].type = "Added";
	}
	assert_int_equal(
	        cairn_aggregate_save(st, "tally-1", version, evs, n, &res),
	        CAIRN_OK);
	assert_int_equal(res.version, version + n);
}

static void
aggregates(void **state)
{
	struct fixture *fx = *state;
	bool snaps = fx->st->ops->snapshot_put != NULL;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	struct tally t = {0};
	uint64_t version;
	long total;
	cairn_status rc;

	/* memory is the reference engine; lmdb answers for itself */
	if (fx->kind != LMDB)
		assert_int_equal(snaps, fx->kind == MEMORY);

	/* an empty stream */
	assert_int_equal(load(fx->st, &tally_v1, &total, &version), 0);
	assert_int_equal(total, 0);
	assert_int_equal(version, 0);

	add(fx->st, 0, 10);
	assert_int_equal(load(fx->st, &tally_v1, &total, &version), 10);
	assert_int_equal(total, 10);
	assert_int_equal(version, 10);

	/* a stale version is a conflict */
	ev.type = "Added";
	assert_int_equal(
	        cairn_aggregate_save(fx->st, "tally-1", 3, &ev, 1, NULL),
	        CAIRN_CONFLICT);

	t.total = 10;
	rc = cairn_aggregate_snapshot(fx->st, "tally-1", &tally_v1, &t, 10);
	assert_int_equal(rc, snaps ? CAIRN_OK : CAIRN_UNSUPPORTED);
	add(fx->st, 10, 3);

	/* from the snapshot: only the 3 events after it are folded */
	assert_int_equal(load(fx->st, &tally_v1, &total, &version),
	                 snaps ? 3 : 13);
	assert_int_equal(total, 13);
	assert_int_equal(version, 13);

	/* another schema's snapshot is not used (nor is a bogus one of
	 * another schema mistaken for ours) */
	t.total = 999;
	rc = cairn_aggregate_snapshot(fx->st, "tally-1", &tally_v2, &t, 12);
	assert_int_equal(rc, snaps ? CAIRN_OK : CAIRN_UNSUPPORTED);
	assert_int_equal(load(fx->st, &tally_v1, &total, &version),
	                 snaps ? 3 : 13);
	assert_int_equal(total, 13);
	/* a type without a schema folds everything */
	assert_int_equal(load(fx->st, &tally_nosnap, &total, &version), 13);
	assert_int_equal(total, 13);

	/* a blob restore() refuses: folded from the start */
	rc = cairn_snapshot_save(fx->st, "tally-1", 11, "tally/v1", "x", 1);
	assert_int_equal(rc, snaps ? CAIRN_OK : CAIRN_UNSUPPORTED);
	assert_int_equal(load(fx->st, &tally_v1, &total, &version), 13);
	assert_int_equal(total, 13);

	/* the newest snapshot is used: one event left, then none */
	t.total = 12;
	rc = cairn_aggregate_snapshot(fx->st, "tally-1", &tally_v1, &t, 12);
	assert_int_equal(rc, snaps ? CAIRN_OK : CAIRN_UNSUPPORTED);
	assert_int_equal(load(fx->st, &tally_v1, &total, &version),
	                 snaps ? 1 : 13);
	assert_int_equal(total, 13);
	t.total = 13;
	rc = cairn_aggregate_snapshot(fx->st, "tally-1", &tally_v1, &t, 13);
	assert_int_equal(rc, snaps ? CAIRN_OK : CAIRN_UNSUPPORTED);
	assert_int_equal(load(fx->st, &tally_v1, &total, &version),
	                 snaps ? 0 : 13);
	assert_int_equal(total, 13);
	assert_int_equal(version, 13);

	/* a snapshot ahead of the stream is refused, and changes nothing */
	t.total = 777;
	rc = cairn_aggregate_snapshot(fx->st, "tally-1", &tally_v1, &t, 100);
	assert_int_equal(rc, snaps ? CAIRN_INVALID : CAIRN_UNSUPPORTED);
	assert_int_equal(load(fx->st, &tally_v1, &total, &version),
	                 snaps ? 0 : 13);
	assert_int_equal(total, 13);
	assert_int_equal(version, 13);

	/* a snapshot needs a schema and serialize() */
	assert_int_equal(cairn_aggregate_snapshot(fx->st, "tally-1",
	                                          &tally_nosnap, &t, 13),
	                 CAIRN_INVALID);

	/* apply()'s error stops the load */
	ev.type = "Broken";
	assert_int_equal(
	        cairn_aggregate_save(fx->st, "tally-1", 13, &ev, 1, NULL),
	        CAIRN_OK);
	assert_int_equal(cairn_aggregate_load(fx->st, "tally-1", &tally_v1, &t,
	                                      &version),
	                 CAIRN_CORRUPT);
	assert_int_equal(
	        cairn_aggregate_load(fx->st, "bad\n", &tally_v1, &t, &version),
	        CAIRN_INVALID_STREAM);
	assert_int_equal(
	        cairn_aggregate_load(fx->st, "tally-1", NULL, &t, &version),
	        CAIRN_INVALID);
}

#define ON(test, fx)                                                           \
	cmocka_unit_test_prestate_setup_teardown(test, setup, teardown, fx)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        ON(counter_under_threads, &memory_fx),
	        ON(counter_under_threads, &lmdb_fx),
	        ON(counter_under_threads, &plain_fx),
	        ON(unwritten_read_stream_is_checked, &memory_fx),
	        ON(unwritten_read_stream_is_checked, &lmdb_fx),
	        ON(unwritten_read_stream_is_checked, &plain_fx),
	        ON(write_skew_prevented, &memory_fx),
	        ON(write_skew_prevented, &lmdb_fx),
	        ON(tellers_under_threads, &memory_fx),
	        ON(tellers_under_threads, &lmdb_fx),
	        ON(execute_outcomes, &memory_fx),
	        ON(execute_outcomes, &lmdb_fx),
	        ON(execute_refuses_bad_arguments, &memory_fx),
	        ON(checked_append, &memory_fx),
	        ON(checked_append, &lmdb_fx),
	        ON(aggregates, &memory_fx),
	        ON(aggregates, &lmdb_fx),
	        ON(aggregates, &plain_fx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
