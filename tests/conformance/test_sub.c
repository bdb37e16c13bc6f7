/*
 * test_sub.c -- subscriptions, durable cursors and projections
 * (DESIGN.md §1 "Subscriptions"; include/cairn.h "Subscriptions" and
 * "Projections").
 *
 * What the tests prove, through the public API only:
 *   - a subscription delivers exactly the committed events that match its
 *     filters, in global order, one batch per committed append (the batch
 *     being exactly that append's matching events), nothing of a failed
 *     append, no duplicate and no gap, through catch-up and then live,
 *     with writers and subscribers racing;
 *   - a waiting subscriber is woken by a commit at once, and by
 *     cairn_sub_stop() from another thread;
 *   - start END / AFTER, max_batch splitting, type / prefix / DCB query
 *     filters, bad arguments refused without creating a cursor;
 *   - durable cursors: created at the start, moved only by acks (compare
 *     and set), resumed strictly after, listed in name order, reset and
 *     deleted under a running consumer, kept across a reopen;
 *   - projections: catch-up, live run and stop, a handler error keeping
 *     the cursor at the last success, the exactly-once load_position mode;
 *   - a subscriber that does not read delays no append.
 *
 * Worker threads never call cmocka assertions (they longjmp); they record
 * what they saw, and the test thread asserts after joining them.
 */
#include "conformance.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long after a commit (or a stop) a waiting subscriber must be back:
 * a wake-up, not a poll (the library's safety-net recheck is 1 s). */
#define PROMPT_SECONDS 0.25

/* ---- problems seen by worker threads ---- */

struct problem_log {
	pthread_mutex_t mu;
	int count;
	char first[512];
};

static void problem(struct problem_log *log, const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 2, 3)))
#endif
        ;

static void
problem(struct problem_log *log, const char *fmt, ...)
{
	pthread_mutex_lock(&log->mu);
	if (log->count++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(log->first, sizeof log->first, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&log->mu);
}

static void
assert_no_problems(struct problem_log *log)
{
	if (log->count != 0)
		print_error("%d problem(s); the first: %s\n", log->count,
		            log->first);
	assert_int_equal(log->count, 0);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int
load_flag(const int *flag)
{
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

static void
set_flag(int *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

/* Wait (politely) until *flag is set or seconds pass; returns the flag. */
static int
wait_flag(const int *flag, double seconds)
{
	double until = conf_now() + seconds;
	while (!load_flag(flag) && conf_now() < until)
		sleep_ms(1);
	return load_flag(flag);
}

/* Wait (politely) until *count reaches want or seconds pass. */
static void
wait_count(const int *count, int want, double seconds)
{
	double until = conf_now() + seconds;
	while (__atomic_load_n(count, __ATOMIC_ACQUIRE) < want &&
	       conf_now() < until)
		sleep_ms(1);
}

/* ---- appending ---- */

/* Append n events of type type to stream; event k's data is
 * "<stream>#<k>".  Returns the status; *first gets the first position. */
static cairn_status
append_n(cairn_store *st, const char *stream, int64_t expected,
         const char *type, size_t n, uint64_t *first)
{
	char data[16][64];
	cairn_new_event evs[16];
	cairn_append_result res;

	assert_true(n >= 1 && n <= 16);
	for (size_t i = 0; i < n; i++) {
		snprintf(data[i], sizeof data[i], "%s#%zu", stream, i);
		evs[i] = conf_ev(type, data[i]);
	}
	memset(&res, 0, sizeof res);
	cairn_status rc = cairn_append(st, stream, expected, evs, n, &res);
	if (rc == CAIRN_OK) {
		assert_int_equal(res.last_position - res.first_position + 1, n);
		if (first != NULL)
			*first = res.first_position;
	}
	return rc;
}

/* Append to stream one event per type in types (a NULL-terminated list);
 * asserts success and returns the first position. */
static uint64_t
append_types(cairn_store *st, const char *stream, const char *const *types)
{
	cairn_new_event evs[16];
	cairn_append_result res;
	size_t n = 0;

	while (types[n] != NULL) {
		assert_true(n < 16);
		evs[n] = conf_ev(types[n], types[n]);
		n++;
	}
	assert_status(cairn_append(st, stream, CAIRN_ANY, evs, n, &res),
	              CAIRN_OK);
	assert_int_equal(res.last_position - res.first_position + 1, n);
	return res.first_position;
}

/* Append n events of type "T" to stream in one append; returns the first
 * position. */
static uint64_t
append_ok(cairn_store *st, const char *stream, size_t n)
{
	uint64_t first = 0;
	assert_status(append_n(st, stream, CAIRN_ANY, "T", n, &first),
	              CAIRN_OK);
	return first;
}

/* ---- subscribing and checking batches ---- */

static cairn_sub *
subscribe_ok(cairn_store *st, const cairn_sub_opts *so)
{
	cairn_sub *sub = NULL;
	assert_status(cairn_subscribe(st, so, &sub), CAIRN_OK);
	assert_non_null(sub);
	return sub;
}

static cairn_sub *
subscribe_from(cairn_store *st, cairn_sub_start start, uint64_t after)
{
	cairn_sub_opts so;
	cairn_sub_opts_init(&so);
	so.start = start;
	so.after = after;
	return subscribe_ok(st, &so);
}

/* The next batch must be exactly the events at positions pos[0..n-1],
 * with batch_complete() == complete. */
static void
expect_batch_at(cairn_sub *sub, int timeout_ms, const uint64_t *pos, size_t n,
                int complete)
{
	const cairn_event *b = NULL;
	size_t got = 0;

	assert_status(cairn_sub_next(sub, timeout_ms, &b, &got), CAIRN_ROW);
	assert_non_null(b);
	if (got != n)
		print_error("batch of %zu events from %llu, expected %zu from "
		            "%llu\n",
		            got, (unsigned long long)b[0].position, n,
		            (unsigned long long)pos[0]);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(b[i].position, pos[i]);
		assert_non_null(b[i].stream);
		assert_non_null(b[i].type);
		assert_int_equal(strlen(b[i].stream), b[i].stream_len);
	}
	assert_int_equal(cairn_sub_batch_complete(sub), complete);
	assert_int_equal(cairn_sub_position(sub), pos[n - 1]);
}

#define EXPECT_BATCH(sub, complete, ...)                                       \
	expect_batch_at((sub), 0, (const uint64_t[]){__VA_ARGS__},             \
	                sizeof((const uint64_t[]){__VA_ARGS__}) /              \
	                        sizeof(uint64_t),                              \
	                (complete))

/* The next batch must be the consecutive positions first..last, whole. */
static void
expect_range(cairn_sub *sub, uint64_t first, uint64_t last)
{
	uint64_t pos[64];
	assert_true(last >= first && last - first < 64);
	for (uint64_t p = first; p <= last; p++)
		pos[p - first] = p;
	expect_batch_at(sub, 0, pos, (size_t)(last - first + 1), 1);
}

/* Nothing (more) to deliver now. */
static void
expect_nothing(cairn_sub *sub)
{
	const cairn_event *b = (const cairn_event *)1;
	size_t n = 99;
	assert_status(cairn_sub_next(sub, 0, &b, &n), CAIRN_TIMEOUT);
	assert_null(b);
	assert_int_equal(n, 0);
}

static uint64_t
cursor_of(cairn_store *st, const char *name)
{
	cairn_sub_info info;
	memset(&info, 0, sizeof info);
	assert_status(cairn_subs_get(st, name, &info), CAIRN_OK);
	assert_non_null(info.name);
	assert_string_equal(info.name, name);
	return info.position;
}

static void
assert_no_cursor(cairn_store *st, const char *name)
{
	cairn_sub_info info;
	assert_status(cairn_subs_get(st, name, &info), CAIRN_NOT_FOUND);
}

/* ======================================================================
 * 1. Writers and subscribers racing
 * ====================================================================== */

enum {
	RACE_WRITERS = 4,
	RACE_APPENDS = 120,  /* attempts per writer; 2 in 6 fail on purpose */
	RACE_MAX_EVENTS = 6, /* events in one append */
	RACE_SUBS = 3,
	RACE_SECONDS = 20, /* the subscribers' deadline: never reached */
};

/* One event of a committed append, as its writer wrote it. */
struct race_ev {
	char stream[32];
	const char *type; /* a string literal */
	char data[48];
};

/* One committed append: positions first..last hold ev[0..n-1]. */
struct race_commit {
	uint64_t first, last;
	int n;
	struct race_ev ev[RACE_MAX_EVENTS];
};

/* One event as a subscriber received it. */
struct seen_ev {
	uint64_t position;
	uint32_t batch; /* index of its batch in this subscriber's run */
	char stream[32];
	char type[16];
	char data[48];
};

struct race_shared {
	cairn_store *st;
	struct problem_log log;
	int a_subscribed; /* flags (atomics) */
	int b_subscribed;
	int c_subscribed;
	int at_half;      /* writers at the mid-way gate (atomic) */
	int at_end;       /* writers at the near-end gate (atomic) */
	int writers_done; /* every append returned */
};

struct race_writer {
	struct race_shared *sh;
	int w;
	struct race_commit commits[RACE_APPENDS];
	int ncommits;
	int failed_as_planned;
};

struct race_sub {
	struct race_shared *sh;
	int which; /* 0: all, 1: types, 2: prefix */
	struct seen_ev *seen;
	size_t nseen, cap;
	uint32_t batches;
	uint64_t head_at_start; /* the head just after it subscribed */
};

static const char *const race_filter_types[] = {"Deposited", "Opened"};
static const char race_filter_prefix[] = "acct-";

static const char *const race_types[] = {"Opened", "Deposited", "Withdrawn",
                                         "Noted"};

static int
race_matches(int which, const char *stream, const char *type)
{
	switch (which) {
	case 1:
		return strcmp(type, race_filter_types[0]) == 0 ||
		       strcmp(type, race_filter_types[1]) == 0;
	case 2:
		return strncmp(stream, race_filter_prefix,
		               strlen(race_filter_prefix)) == 0;
	default:
		return 1;
	}
}

/* Writers wait at two gates for a subscriber to start there, so that
 * the late subscribers catch up on history while appends go on. */
static void
race_gate(struct race_shared *sh, int *count, const int *subscribed)
{
	__atomic_add_fetch(count, 1, __ATOMIC_ACQ_REL);
	if (!wait_flag(subscribed, 10))
		problem(&sh->log, "a subscriber did not start");
}

/*
 * Writer w does RACE_APPENDS attempts, by i % 6:
 *   0  one event to its own acct-w<w>-<i%3> at its exact version;
 *   1  2..4 events to its own misc-w<w> at its exact version;
 *   2  a multi-stream append: its acct stream (exact, 1..2 events),
 *      misc-shared and acct-shared (any version);
 *   3  one event to its acct stream at a wrong version: conflict;
 *   4  a multi-stream append whose second write expects misc-w<w> not to
 *      exist: conflict, nothing of it written;
 *   5  three events to acct-shared (Noted, Deposited, Noted).
 * Committed appends are recorded with their positions; failed ones must
 * fail, and their events carry "FAILED" in their data.
 */
static void *
race_writer_main(void *p)
{
	struct race_writer *wr = p;
	struct race_shared *sh = wr->sh;
	uint64_t acct_ver[3] = {0, 0, 0}, misc_ver = 0;
	char streams[4][32];

	if (!wait_flag(&sh->a_subscribed, 10)) {
		problem(&sh->log, "subscriber A did not start");
		return NULL;
	}
	for (int i = 0; i < RACE_APPENDS; i++) {
		if (i == RACE_APPENDS / 2)
			race_gate(sh, &sh->at_half, &sh->b_subscribed);
		if (i == RACE_APPENDS * 9 / 10)
			race_gate(sh, &sh->at_end, &sh->c_subscribed);

		struct race_commit *c = &wr->commits[wr->ncommits];
		cairn_new_event evs[RACE_MAX_EVENTS];
		cairn_write writes[3];
		size_t nwrites = 0;
		int kind = i % 6, fails = kind == 3 || kind == 4;
		int j = i % 3;
		int n = 0;

		memset(c, 0, sizeof *c);
		snprintf(streams[0], sizeof streams[0], "acct-w%d-%d", wr->w,
		         j);
		snprintf(streams[1], sizeof streams[1], "misc-w%d", wr->w);
		snprintf(streams[2], sizeof streams[2], "misc-shared");
		snprintf(streams[3], sizeof streams[3], "acct-shared");
		/* the events, in position order, and the writes over them */
#define RACE_EV(stream_idx, type_)                                             \
	do {                                                                   \
		struct race_ev *e_ = &c->ev[n];                                \
		snprintf(e_->stream, sizeof e_->stream, "%s",                  \
		         streams[stream_idx]);                                 \
		e_->type = (type_);                                            \
		snprintf(e_->data, sizeof e_->data, "%sw%d a%d e%d",           \
		         fails ? "FAILED " : "", wr->w, i, n);                 \
		evs[n] = conf_ev(e_->type, e_->data);                          \
		n++;                                                           \
	} while (0)
		switch (kind) {
		case 0:
		case 3:
			RACE_EV(0, race_types[(i / 6 + wr->w) % 4]);
			writes[nwrites++] = (cairn_write){
			        streams[0],
			        kind == 0 ? (int64_t)acct_ver[j]
			                  : (int64_t)acct_ver[j] + 1,
			        &evs[0], 1};
			break;
		case 1: {
			int k = 2 + (i / 6 + wr->w) % 3;
			for (int e = 0; e < k; e++)
				RACE_EV(1, race_types[(e + i) % 4]);
			writes[nwrites++] =
			        (cairn_write){streams[1], (int64_t)misc_ver,
			                      &evs[0], (size_t)k};
			break;
		}
		case 2: {
			int k = 1 + (i / 6) % 2;
			for (int e = 0; e < k; e++)
				RACE_EV(0, race_types[(e + wr->w) % 4]);
			RACE_EV(2, "Opened");
			RACE_EV(3, "Withdrawn");
			writes[nwrites++] =
			        (cairn_write){streams[0], (int64_t)acct_ver[j],
			                      &evs[0], (size_t)k};
			writes[nwrites++] = (cairn_write){streams[2], CAIRN_ANY,
			                                  &evs[k], 1};
			writes[nwrites++] = (cairn_write){streams[3], CAIRN_ANY,
			                                  &evs[k + 1], 1};
			break;
		}
		case 4:
			RACE_EV(0, "Deposited");
			RACE_EV(1, "Deposited");
			writes[nwrites++] = (cairn_write){
			        streams[0], (int64_t)acct_ver[j], &evs[0], 1};
			writes[nwrites++] = (cairn_write){
			        streams[1], CAIRN_NO_STREAM, &evs[1], 1};
			break;
		default:
			RACE_EV(3, "Noted");
			RACE_EV(3, "Deposited");
			RACE_EV(3, "Noted");
			writes[nwrites++] = (cairn_write){streams[3], CAIRN_ANY,
			                                  &evs[0], 3};
			break;
		}
#undef RACE_EV
		cairn_append_result res;
		memset(&res, 0, sizeof res);
		cairn_status rc =
		        cairn_append_multi(sh->st, writes, nwrites, &res);
		if (fails) {
			if (rc != CAIRN_CONFLICT)
				problem(&sh->log,
				        "writer %d append %d: %s, expected a "
				        "conflict",
				        wr->w, i, cairn_status_str(rc));
			else
				wr->failed_as_planned++;
		} else if (rc != CAIRN_OK) {
			problem(&sh->log, "writer %d append %d: %s: %s", wr->w,
			        i, cairn_status_str(rc), cairn_last_error());
		} else if (res.last_position - res.first_position + 1 !=
		           (uint64_t)n) {
			problem(&sh->log,
			        "writer %d append %d: positions %llu..%llu "
			        "for %d events",
			        wr->w, i,
			        (unsigned long long)res.first_position,
			        (unsigned long long)res.last_position, n);
		} else {
			c->first = res.first_position;
			c->last = res.last_position;
			c->n = n;
			wr->ncommits++;
			for (size_t k = 0; k < nwrites; k++) {
				if (writes[k].stream == streams[0])
					acct_ver[j] += writes[k].nevents;
				if (writes[k].stream == streams[1])
					misc_ver += writes[k].nevents;
			}
		}
		sched_yield(); /* let the subscribers in between appends */
	}
	return NULL;
}

static void
seen_push(struct race_sub *rs, const cairn_event *e)
{
	if (rs->nseen == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct seen_ev *g = realloc(rs->seen, cap * sizeof *g);
		if (g == NULL) {
			problem(&rs->sh->log, "out of memory");
			return;
		}
		rs->seen = g;
		rs->cap = cap;
	}
	struct seen_ev *s = &rs->seen[rs->nseen++];
	s->position = e->position;
	s->batch = rs->batches;
	snprintf(s->stream, sizeof s->stream, "%s", e->stream);
	snprintf(s->type, sizeof s->type, "%s", e->type);
	snprintf(s->data, sizeof s->data, "%.*s",
	         (int)(e->data_len < 47 ? e->data_len : 47),
	         (const char *)e->data);
}

/*
 * Subscriber A starts before any write, B when the writers are half way,
 * C near the end, each from the beginning: each catches up, then goes
 * live.  It reads until the writers are done and a read that does not
 * wait finds nothing more (every append had returned before that read
 * began, so nothing committed was left), or the deadline passes.
 */
static void *
race_sub_main(void *p)
{
	struct race_sub *rs = p;
	struct race_shared *sh = rs->sh;
	cairn_sub_opts so;
	cairn_sub *sub = NULL;
	double deadline;

	cairn_sub_opts_init(&so);
	if (rs->which == 1) {
		so.types = race_filter_types;
		so.ntypes = 2;
		wait_count(&sh->at_half, RACE_WRITERS, 10);
	} else if (rs->which == 2) {
		so.prefix = race_filter_prefix;
		wait_count(&sh->at_end, RACE_WRITERS, 10);
	}
	cairn_status rc = cairn_subscribe(sh->st, &so, &sub);
	if (cairn_head(sh->st, &rs->head_at_start) != CAIRN_OK)
		problem(&sh->log, "cairn_head failed");
	set_flag(rs->which == 0   ? &sh->a_subscribed
	         : rs->which == 1 ? &sh->b_subscribed
	                          : &sh->c_subscribed);
	if (rc != CAIRN_OK) {
		problem(&sh->log, "subscriber %d: cairn_subscribe: %s: %s",
		        rs->which, cairn_status_str(rc), cairn_last_error());
		return NULL;
	}
	deadline = conf_now() + RACE_SECONDS;
	for (;;) {
		const cairn_event *b;
		size_t n;
		int done = load_flag(&sh->writers_done);

		if (conf_now() > deadline) {
			problem(&sh->log, "subscriber %d: deadline passed",
			        rs->which);
			break;
		}
		rc = cairn_sub_next(sub, done ? 0 : 200, &b, &n);
		if (rc == CAIRN_TIMEOUT) {
			if (done)
				break;
			continue;
		}
		if (rc != CAIRN_ROW) {
			problem(&sh->log,
			        "subscriber %d: cairn_sub_next: %s: %s",
			        rs->which, cairn_status_str(rc),
			        cairn_last_error());
			break;
		}
		if (b == NULL || n == 0) {
			problem(&sh->log, "subscriber %d: empty batch",
			        rs->which);
			break;
		}
		if (!cairn_sub_batch_complete(sub))
			problem(&sh->log,
			        "subscriber %d: batch at %llu not complete "
			        "without max_batch",
			        rs->which, (unsigned long long)b[0].position);
		for (size_t i = 0; i < n; i++)
			seen_push(rs, &b[i]);
		rs->batches++;
	}
	cairn_sub_close(sub);
	return NULL;
}

static int
commit_cmp(const void *a, const void *b)
{
	const struct race_commit *x = *(const struct race_commit *const *)a;
	const struct race_commit *y = *(const struct race_commit *const *)b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Compare what subscriber rs saw with the batches the committed appends
 * make for its filter. */
static void
race_check_sub(const struct race_sub *rs, struct race_commit **commits,
               size_t ncommits)
{
	size_t k = 0; /* next seen event */
	uint32_t batch = 0;

	for (size_t c = 0; c < ncommits; c++) {
		const struct race_commit *cm = commits[c];
		size_t in_batch = 0;
		for (int e = 0; e < cm->n; e++) {
			const struct race_ev *ev = &cm->ev[e];
			uint64_t pos = cm->first + (uint64_t)e;
			if (!race_matches(rs->which, ev->stream, ev->type))
				continue;
			if (k >= rs->nseen) {
				print_error("subscriber %d: saw %zu events; "
				            "position %llu (%s %s) missing\n",
				            rs->which, rs->nseen,
				            (unsigned long long)pos, ev->stream,
				            ev->type);
				fail();
			}
			const struct seen_ev *s = &rs->seen[k++];
			if (s->position != pos || s->batch != batch ||
			    strcmp(s->stream, ev->stream) != 0 ||
			    strcmp(s->type, ev->type) != 0 ||
			    strcmp(s->data, ev->data) != 0) {
				print_error(
				        "subscriber %d: expected position "
				        "%llu (%s %s \"%s\") in batch %u, "
				        "saw %llu (%s %s \"%s\") in batch "
				        "%u\n",
				        rs->which, (unsigned long long)pos,
				        ev->stream, ev->type, ev->data, batch,
				        (unsigned long long)s->position,
				        s->stream, s->type, s->data, s->batch);
				fail();
			}
			in_batch++;
		}
		if (in_batch > 0)
			batch++;
	}
	if (k != rs->nseen) {
		print_error("subscriber %d: %zu events more than committed, "
		            "the first at %llu (\"%s\")\n",
		            rs->which, rs->nseen - k,
		            (unsigned long long)rs->seen[k].position,
		            rs->seen[k].data);
		fail();
	}
	assert_int_equal(rs->batches, batch);
}

/* Four writers (single- and multi-stream appends of one to four events,
 * a third of them failing on purpose with wrong expected versions) and
 * three subscribers (everything; two types; a stream prefix) starting
 * before the writes, half way and near the end, all from the beginning:
 * each sees exactly the committed matching events, in order, one batch
 * per committed append with a match and nothing of a failed append. */
static void
test_sub_concurrent_writers_and_subscribers(void **state)
{
	conf_fixture *fx = *state;
	struct race_shared sh;
	struct race_writer *wr = calloc(RACE_WRITERS, sizeof *wr);
	struct race_sub rs[RACE_SUBS];
	pthread_t wt[RACE_WRITERS], stt[RACE_SUBS];

	assert_non_null(wr);
	/* No sync per commit: more commits land while subscribers read. */
	cairn_options o;
	cairn_options_init(&o);
	o.durability = CAIRN_RELAXED;
	open_fresh_store(fx, &o);
	memset(&sh, 0, sizeof sh);
	memset(rs, 0, sizeof rs);
	pthread_mutex_init(&sh.log.mu, NULL);
	sh.st = fx->st;
	for (int s = 0; s < RACE_SUBS; s++) {
		rs[s].sh = &sh;
		rs[s].which = s;
		assert_int_equal(
		        pthread_create(&stt[s], NULL, race_sub_main, &rs[s]),
		        0);
	}
	for (int w = 0; w < RACE_WRITERS; w++) {
		wr[w].sh = &sh;
		wr[w].w = w;
		assert_int_equal(
		        pthread_create(&wt[w], NULL, race_writer_main, &wr[w]),
		        0);
	}
	for (int w = 0; w < RACE_WRITERS; w++)
		assert_int_equal(pthread_join(wt[w], NULL), 0);
	set_flag(&sh.writers_done);
	for (int s = 0; s < RACE_SUBS; s++)
		assert_int_equal(pthread_join(stt[s], NULL), 0);
	assert_no_problems(&sh.log);

	/* The committed appends tile 1..head: failed ones took nothing. */
	size_t ncommits = 0, failed = 0;
	for (int w = 0; w < RACE_WRITERS; w++) {
		ncommits += (size_t)wr[w].ncommits;
		failed += (size_t)wr[w].failed_as_planned;
	}
	assert_int_equal(ncommits, RACE_WRITERS * RACE_APPENDS * 4 / 6);
	assert_int_equal(failed, RACE_WRITERS * RACE_APPENDS * 2 / 6);
	struct race_commit **commits = calloc(ncommits, sizeof *commits);
	assert_non_null(commits);
	size_t k = 0;
	for (int w = 0; w < RACE_WRITERS; w++)
		for (int i = 0; i < wr[w].ncommits; i++)
			commits[k++] = &wr[w].commits[i];
	qsort(commits, ncommits, sizeof *commits, commit_cmp);
	uint64_t next = 1;
	for (k = 0; k < ncommits; k++) {
		assert_int_equal(commits[k]->first, next);
		next = commits[k]->last + 1;
	}
	assert_int_equal(conf_head(fx->st), next - 1);

	/* The first subscriber started before any write; the late ones
	 * really started late: history to catch up on, appends after. */
	assert_int_equal(rs[0].head_at_start, 0);
	for (int s = 1; s < RACE_SUBS; s++) {
		assert_true(rs[s].head_at_start > 0);
		assert_true(rs[s].head_at_start < next - 1);
	}
	assert_true(rs[1].head_at_start < rs[2].head_at_start);
	for (int s = 0; s < RACE_SUBS; s++) {
		race_check_sub(&rs[s], commits, ncommits);
		free(rs[s].seen);
	}
	free(commits);
	free(wr);
	pthread_mutex_destroy(&sh.log.mu);
}

/* ======================================================================
 * 2. Basic semantics
 * ====================================================================== */

/* A subscriber blocked in cairn_sub_next() in its own thread. */
struct waiter {
	cairn_sub *sub;
	int timeout_ms;
	int entered; /* atomic */
	cairn_status rc;
	size_t n;
	uint64_t first, last;
	int complete;
	double returned;
};

static void *
waiter_main(void *p)
{
	struct waiter *w = p;
	const cairn_event *b = NULL;
	set_flag(&w->entered);
	w->rc = cairn_sub_next(w->sub, w->timeout_ms, &b, &w->n);
	w->returned = conf_now();
	if (w->rc == CAIRN_ROW && b != NULL && w->n > 0) {
		w->first = b[0].position;
		w->last = b[w->n - 1].position;
		w->complete = cairn_sub_batch_complete(w->sub);
	}
	return NULL;
}

static void
waiter_start(struct waiter *w, pthread_t *th, cairn_sub *sub, int timeout_ms)
{
	memset(w, 0, sizeof *w);
	w->sub = sub;
	w->timeout_ms = timeout_ms;
	assert_int_equal(pthread_create(th, NULL, waiter_main, w), 0);
	assert_true(wait_flag(&w->entered, 5));
	sleep_ms(100); /* well inside cairn_sub_next() by now */
}

/* Catch-up from storage, with an append landing in the middle of it,
 * then live: every append comes as one batch, in order, without a gap
 * or a duplicate at the switch; a subscriber waiting with a long timeout
 * is woken by a commit at once (three times, so a poll cannot pass). */
static void
test_sub_catch_up_then_live(void **state)
{
	conf_fixture *fx = *state;

	assert_int_equal(append_ok(fx->st, "a-1", 1), 1);
	assert_int_equal(append_ok(fx->st, "a-2", 3), 2);
	cairn_new_event e1 = conf_ev("T", "x"), e2 = conf_ev("U", "y");
	cairn_write w[2] = {{"a-1", 1, &e1, 1},
	                    {"b-1", CAIRN_NO_STREAM, &e2, 1}};
	assert_status(cairn_append_multi(fx->st, w, 2, NULL), CAIRN_OK);

	cairn_sub *sub = subscribe_from(fx->st, CAIRN_SUB_BEGINNING, 0);
	assert_int_equal(cairn_sub_position(sub), 0);
	expect_range(sub, 1, 1);
	expect_range(sub, 2, 4);
	/* committed while the subscriber is catching up */
	assert_int_equal(append_ok(fx->st, "a-2", 2), 7);
	expect_range(sub, 5, 6);
	expect_range(sub, 7, 8);
	expect_nothing(sub);

	/* live */
	uint64_t next = 9;
	for (int round = 0; round < 3; round++) {
		struct waiter wt;
		pthread_t th;
		waiter_start(&wt, &th, sub, 5000);
		assert_int_equal(append_ok(fx->st, "live", 3), next);
		double appended = conf_now();
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_status(wt.rc, CAIRN_ROW);
		assert_int_equal(wt.n, 3);
		assert_int_equal(wt.first, next);
		assert_int_equal(wt.last, next + 2);
		assert_int_equal(wt.complete, 1);
		if (wt.returned - appended > PROMPT_SECONDS)
			fail_msg("round %d: the waiting subscriber came back "
			         "%.3f s after the commit",
			         round, wt.returned - appended);
		next += 3;
	}
	expect_nothing(sub);

	/* a wait with a timeout and nothing coming times out */
	double t0 = conf_now();
	const cairn_event *b;
	size_t n;
	assert_status(cairn_sub_next(sub, 100, &b, &n), CAIRN_TIMEOUT);
	assert_true(conf_now() - t0 >= 0.09);
	assert_true(conf_now() - t0 < 2);
	assert_int_equal(cairn_sub_position(sub), next - 1);
	cairn_sub_close(sub);
}

/* START_END delivers only what is committed after subscribing; AFTER p
 * delivers the events after p, even when p is inside an append (the
 * rest of it is the first batch); AFTER 0 is the beginning. */
static void
test_sub_start_end_and_after(void **state)
{
	conf_fixture *fx = *state;

	append_ok(fx->st, "s", 1); /* 1 */
	append_ok(fx->st, "s", 3); /* 2..4 */
	append_ok(fx->st, "t", 1); /* 5 */

	cairn_sub *end = subscribe_from(fx->st, CAIRN_SUB_END, 0);
	assert_int_equal(cairn_sub_position(end), 5);
	expect_nothing(end);
	cairn_sub *a1 = subscribe_from(fx->st, CAIRN_SUB_AFTER, 1);
	cairn_sub *a3 = subscribe_from(fx->st, CAIRN_SUB_AFTER, 3);
	cairn_sub *a0 = subscribe_from(fx->st, CAIRN_SUB_AFTER, 0);
	cairn_sub *ah = subscribe_from(fx->st, CAIRN_SUB_AFTER, 5);
	append_ok(fx->st, "s", 2); /* 6..7 */

	expect_range(end, 6, 7);
	expect_nothing(end);

	expect_range(a1, 2, 4);
	expect_range(a1, 5, 5);
	expect_range(a1, 6, 7);
	expect_nothing(a1);

	expect_range(a3, 4, 4);
	expect_range(a3, 5, 5);
	expect_range(a3, 6, 7);
	expect_nothing(a3);

	expect_range(a0, 1, 1);
	expect_range(a0, 2, 4);

	expect_range(ah, 6, 7);
	expect_nothing(ah);

	cairn_sub_close(end);
	cairn_sub_close(a1);
	cairn_sub_close(a3);
	cairn_sub_close(a0);
	cairn_sub_close(ah);
}

/* max_batch splits an append into consecutive batches, complete only
 * at the last; an append that fits is one batch.  With a filter, a
 * batch that holds the last matching event of its append is complete
 * even when unmatched events of the append follow it. */
static void
test_sub_max_batch(void **state)
{
	conf_fixture *fx = *state;
	cairn_sub_opts so;

	append_ok(fx->st, "big", 7); /* 1..7 */
	append_ok(fx->st, "big", 2); /* 8..9 */

	cairn_sub_opts_init(&so);
	so.max_batch = 3;
	cairn_sub *s3 = subscribe_ok(fx->st, &so);
	EXPECT_BATCH(s3, 0, 1, 2, 3);
	EXPECT_BATCH(s3, 0, 4, 5, 6);
	EXPECT_BATCH(s3, 1, 7);
	EXPECT_BATCH(s3, 1, 8, 9);
	expect_nothing(s3);

	so.max_batch = 1;
	so.start = CAIRN_SUB_AFTER;
	so.after = 7;
	cairn_sub *s1 = subscribe_ok(fx->st, &so);
	EXPECT_BATCH(s1, 0, 8);
	EXPECT_BATCH(s1, 1, 9);
	expect_nothing(s1);

	/* live, too: an append of 4 arriving while it waits */
	append_ok(fx->st, "big", 4); /* 10..13 */
	EXPECT_BATCH(s3, 0, 10, 11, 12);
	EXPECT_BATCH(s3, 1, 13);
	expect_nothing(s3);

	/* filtered */
	static const char *const abab[] = {"A", "A", "B", "A", "B", NULL};
	static const char *const aabb[] = {"A", "A", "B", "B", NULL};
	static const char *const a[] = {"A", NULL};
	static const char *const type_a[] = {"A"};
	assert_int_equal(append_types(fx->st, "f", abab), 14); /* 14..18 */
	assert_int_equal(append_types(fx->st, "f", aabb), 19); /* 19..22 */
	assert_int_equal(append_types(fx->st, "f", a), 23);
	cairn_sub_opts_init(&so);
	so.start = CAIRN_SUB_AFTER;
	so.after = 13;
	so.types = type_a;
	so.ntypes = 1;
	so.max_batch = 2;
	cairn_sub *f2 = subscribe_ok(fx->st, &so);
	EXPECT_BATCH(f2, 0, 14, 15);
	EXPECT_BATCH(f2, 1, 17);
	EXPECT_BATCH(f2, 1, 19, 20); /* 21, 22 are B: the append is done */
	EXPECT_BATCH(f2, 1, 23);
	expect_nothing(f2);
	so.max_batch = 3;
	cairn_sub *f3 = subscribe_ok(fx->st, &so);
	EXPECT_BATCH(f3, 1, 14, 15, 17);
	EXPECT_BATCH(f3, 1, 19, 20);
	EXPECT_BATCH(f3, 1, 23);
	expect_nothing(f3);

	cairn_sub_close(s3);
	cairn_sub_close(s1);
	cairn_sub_close(f2);
	cairn_sub_close(f3);
}

/* An append none of whose events match yields no batch (a wait for it
 * times out); one with some matching events yields exactly those, in a
 * single batch; filters by type and by stream prefix. */
static void
test_sub_unmatched_appends_yield_nothing(void **state)
{
	conf_fixture *fx = *state;
	static const char *const wanted[] = {"Wanted"};
	static const char *const mixed[] = {"Other", "Wanted", "Other",
	                                    "Wanted", NULL};
	static const char *const other[] = {"Other", "Other", NULL};
	cairn_sub_opts so;

	cairn_sub_opts_init(&so);
	so.types = wanted;
	so.ntypes = 1;
	cairn_sub *ts = subscribe_ok(fx->st, &so);
	cairn_sub_opts_init(&so);
	so.prefix = "y-";
	cairn_sub *ps = subscribe_ok(fx->st, &so);

	assert_int_equal(append_types(fx->st, "x-1", other), 1); /* 1..2 */
	expect_nothing(ts);
	expect_nothing(ps);
	/* woken by the commit, it finds nothing and waits on */
	const cairn_event *b;
	size_t n;
	assert_status(cairn_sub_next(ts, 150, &b, &n), CAIRN_TIMEOUT);

	assert_int_equal(append_types(fx->st, "x-1", mixed), 3); /* 3..6 */
	EXPECT_BATCH(ts, 1, 4, 6);
	expect_nothing(ts);
	expect_nothing(ps);

	cairn_new_event o = conf_ev("Other", "o"), wd = conf_ev("Wanted", "w");
	cairn_write w[3] = {{"x-2", CAIRN_ANY, &o, 1},
	                    {"y-1", CAIRN_ANY, &o, 1},
	                    {"y-2", CAIRN_ANY, &wd, 1}};
	assert_status(cairn_append_multi(fx->st, w, 3, NULL), CAIRN_OK);
	/* 7: x-2 Other, 8: y-1 Other, 9: y-2 Wanted */
	EXPECT_BATCH(ts, 1, 9);
	EXPECT_BATCH(ps, 1, 8, 9);
	expect_nothing(ts);
	expect_nothing(ps);
	assert_int_equal(append_types(fx->st, "y-10", other), 10);
	expect_nothing(ts);
	EXPECT_BATCH(ps, 1, 10, 11);
	/* the prefix is a prefix of bytes: "y-10" and "y-1" both match,
	 * "xy-" does not */
	append_ok(fx->st, "xy-1", 1);
	expect_nothing(ps);
	cairn_sub_close(ts);
	cairn_sub_close(ps);
}

/* A DCB query filter: an event is delivered when any item matches it
 * (types and tags), grouped by append like any other filter. */
static void
test_sub_query_filter(void **state)
{
	conf_fixture *fx = *state;
	static const char *const enrolled[] = {"Enrolled"};
	static const char *const c1[] = {"course:c1"};
	static const char *const s9[] = {"student:s9"};
	const cairn_query_item items[2] = {{enrolled, 1, c1, 1},
	                                   {NULL, 0, s9, 1}};
	const cairn_query q = {items, 2};
	static const char *const t1[] = {"course:c1", "student:s1"};
	static const char *const t2[] = {"course:c2", "student:s9"};
	static const char *const t3[] = {"course:c2"};

	cairn_sub_opts so;
	cairn_sub_opts_init(&so);
	so.query = &q;
	cairn_sub *sub = subscribe_ok(fx->st, &so);

	cairn_new_event e = conf_ev("Enrolled", "{}");
	e.tags = t1;
	e.ntags = 2;
	assert_status(cairn_append(fx->st, "c-1", CAIRN_ANY, &e, 1, NULL),
	              CAIRN_OK); /* 1: item 1 */
	e.tags = t2;
	assert_status(cairn_append(fx->st, "c-2", CAIRN_ANY, &e, 1, NULL),
	              CAIRN_OK); /* 2: item 2 */
	e.tags = t3;
	e.ntags = 1;
	assert_status(cairn_append(fx->st, "c-2", CAIRN_ANY, &e, 1, NULL),
	              CAIRN_OK); /* 3: neither */
	cairn_new_event three[3] = {conf_ev("Dropped", "{}"),
	                            conf_ev("Enrolled", "{}"),
	                            conf_ev("Noted", "{}")};
	three[0].tags = c1; /* wrong type for item 1 */
	three[0].ntags = 1;
	three[1].tags = c1;
	three[1].ntags = 1;
	three[2].tags = s9;
	three[2].ntags = 1;
	assert_status(cairn_append(fx->st, "c-1", CAIRN_ANY, three, 3, NULL),
	              CAIRN_OK); /* 4..6: 5 and 6 match */

	EXPECT_BATCH(sub, 1, 1);
	EXPECT_BATCH(sub, 1, 2);
	EXPECT_BATCH(sub, 1, 5, 6);
	expect_nothing(sub);
	cairn_sub_close(sub);
}

/* cairn_sub_stop() from another thread makes a cairn_sub_next() blocked
 * without a timeout return CAIRN_CLOSED at once, and every later call
 * too; a stop before the call is not lost. */
static void
test_sub_stop_wakes_next(void **state)
{
	conf_fixture *fx = *state;

	append_ok(fx->st, "s", 2);
	cairn_sub *sub = subscribe_from(fx->st, CAIRN_SUB_BEGINNING, 0);
	expect_range(sub, 1, 2);

	struct waiter wt;
	pthread_t th;
	waiter_start(&wt, &th, sub, -1);
	double stopped = conf_now();
	cairn_sub_stop(sub);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_status(wt.rc, CAIRN_CLOSED);
	assert_int_equal(wt.n, 0);
	if (wt.returned - stopped > PROMPT_SECONDS)
		fail_msg("the stopped subscriber came back after %.3f s",
		         wt.returned - stopped);
	const cairn_event *b;
	size_t n;
	assert_status(cairn_sub_next(sub, 0, &b, &n), CAIRN_CLOSED);
	append_ok(fx->st, "s", 1);
	assert_status(cairn_sub_next(sub, 1000, &b, &n), CAIRN_CLOSED);
	cairn_sub_close(sub);

	/* stopped before anything was asked, with events waiting */
	sub = subscribe_from(fx->st, CAIRN_SUB_BEGINNING, 0);
	cairn_sub_stop(sub);
	cairn_sub_stop(sub); /* twice is fine */
	assert_status(cairn_sub_next(sub, -1, &b, &n), CAIRN_CLOSED);
	cairn_sub_close(sub);
	cairn_sub_stop(NULL);
	cairn_sub_close(NULL);
}

/* On a store open read-only (where this process makes no commit and may
 * not be able to signal other processes), cairn_sub_stop() still wakes a
 * blocked cairn_sub_next() at once. */
static void
test_sub_stop_wakes_next_read_only(void **state)
{
	conf_fixture *fx = *state;
	cairn_options o;

	cairn_options_init(&o);
	o.read_only = 1;
	if (store_persists()) {
		append_ok(fx->st, "ro", 2);
		reopen_store(fx, &o);
	} else {
		open_fresh_store(fx, &o);
	}
	cairn_sub *sub = subscribe_from(fx->st, CAIRN_SUB_BEGINNING, 0);
	if (store_persists())
		expect_range(sub, 1, 2);
	expect_nothing(sub);

	struct waiter wt;
	pthread_t th;
	waiter_start(&wt, &th, sub, -1);
	double stopped = conf_now();
	cairn_sub_stop(sub);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_status(wt.rc, CAIRN_CLOSED);
	if (wt.returned - stopped > PROMPT_SECONDS)
		fail_msg("the stopped subscriber came back after %.3f s",
		         wt.returned - stopped);
	cairn_sub_close(sub);

	/* nothing can be stored here */
	cairn_sub_opts so;
	cairn_sub_opts_init(&so);
	so.name = "ro";
	sub = (cairn_sub *)&so;
	assert_true(cairn_subscribe(fx->st, &so, &sub) != CAIRN_OK);
	assert_null(sub);
}

/* A commit through a second handle on the same store (where the backend
 * allows one in a process) wakes a subscriber of the first at once. */
static void
test_sub_wakes_on_other_handle_commit(void **state)
{
	conf_fixture *fx = *state;
	cairn_store *second = NULL;

	if (!store_persists())
		skip(); /* every open is a store of its own */
	append_ok(fx->st, "h", 1);
	cairn_status rc = cairn_open(fx->uri, NULL, &second);
	if (rc != CAIRN_OK) {
		printf("[     INFO ] a second open is refused: %s\n",
		       cairn_status_str(rc));
		skip();
	}
	cairn_sub *sub = subscribe_from(fx->st, CAIRN_SUB_BEGINNING, 0);
	expect_range(sub, 1, 1);
	struct waiter wt;
	pthread_t th;
	waiter_start(&wt, &th, sub, 5000);
	uint64_t first = 0;
	rc = append_n(second, "h", 1, "T", 2, &first);
	double appended = conf_now();
	assert_int_equal(pthread_join(th, NULL), 0);
	cairn_close(second);
	assert_status(rc, CAIRN_OK);
	assert_status(wt.rc, CAIRN_ROW);
	assert_int_equal(wt.first, 2);
	assert_int_equal(wt.last, 3);
	if (wt.returned - appended > PROMPT_SECONDS)
		fail_msg("the subscriber came back %.3f s after the commit",
		         wt.returned - appended);
	cairn_sub_close(sub);
}

/* Count the stored cursors. */
static int
count_fn(void *ctx, const cairn_sub_info *info)
{
	(void)info;
	(*(int *)ctx)++;
	return 0;
}

static int
cursor_count(cairn_store *st)
{
	int n = 0;
	assert_status(cairn_subs_list(st, count_fn, &n), CAIRN_OK);
	return n;
}

/* Refused options: NULL arguments, an unknown options version, a bad
 * start, a malformed name, type filter, prefix or query.  Nothing is
 * opened and no cursor is stored (the name checked is valid, so a cursor
 * made before the check would show). */
static void
test_sub_invalid_arguments(void **state)
{
	conf_fixture *fx = *state;
	cairn_sub_opts so;
	cairn_sub *sub;
	char long_name[CAIRN_SUB_NAME_MAX + 2];
	char long_prefix[CAIRN_STREAM_ID_MAX + 2];
	static const char *const bad_types[] = {"ok", ""};
	static const char *const ctl_types[] = {"bad\ttype"};
	static const char *const bad_tag[] = {"bad\ntag"};
	const cairn_query_item bad_item = {NULL, 0, bad_tag, 1};
	const cairn_query bad_query = {&bad_item, 1};
	const cairn_query null_items = {NULL, 1};
	cairn_query_item many[CAIRN_QUERY_ITEMS_MAX + 1];
	const cairn_query too_many = {many, CAIRN_QUERY_ITEMS_MAX + 1};

	memset(many, 0, sizeof many);
	memset(long_name, 'n', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	memset(long_prefix, 'p', sizeof long_prefix - 1);
	long_prefix[sizeof long_prefix - 1] = '\0';
	append_ok(fx->st, "s", 1);

#define REFUSED(expected_rc)                                                   \
	do {                                                                   \
		sub = (cairn_sub *)&so;                                        \
		assert_status(cairn_subscribe(fx->st, &so, &sub),              \
		              (expected_rc));                                  \
		assert_null(sub);                                              \
	} while (0)

	cairn_sub_opts_init(&so);
	sub = (cairn_sub *)&so;
	assert_status(cairn_subscribe(NULL, &so, &sub), CAIRN_INVALID);
	assert_null(sub);
	sub = (cairn_sub *)&so;
	assert_status(cairn_subscribe(fx->st, NULL, &sub), CAIRN_INVALID);
	assert_null(sub);
	assert_status(cairn_subscribe(fx->st, &so, NULL), CAIRN_INVALID);

	/* every refusal below is with a valid durable name */
	cairn_sub_opts_init(&so);
	so.name = "valid";
	so.version = 0;
	REFUSED(CAIRN_INVALID);
	so.version = CAIRN_SUB_OPTS_VERSION + 1;
	REFUSED(CAIRN_INVALID);

	cairn_sub_opts_init(&so);
	so.name = "valid";
	so.start = (cairn_sub_start)7;
	REFUSED(CAIRN_INVALID);

	cairn_sub_opts_init(&so);
	so.name = "valid";
	so.types = bad_types;
	so.ntypes = 2;
	REFUSED(CAIRN_INVALID_TYPE);
	so.types = ctl_types;
	so.ntypes = 1;
	REFUSED(CAIRN_INVALID_TYPE);
	so.types = NULL;
	REFUSED(CAIRN_INVALID);

	cairn_sub_opts_init(&so);
	so.name = "valid";
	so.prefix = long_prefix;
	sub = (cairn_sub *)&so;
	assert_true(cairn_subscribe(fx->st, &so, &sub) != CAIRN_OK);
	assert_null(sub);

	cairn_sub_opts_init(&so);
	so.name = "valid";
	so.query = &bad_query;
	REFUSED(CAIRN_INVALID_TAG);
	so.query = &null_items;
	REFUSED(CAIRN_INVALID);
	so.query = &too_many;
	REFUSED(CAIRN_INVALID);

	/* malformed names */
	cairn_sub_opts_init(&so);
	so.name = "";
	REFUSED(CAIRN_INVALID);
	so.name = long_name;
	REFUSED(CAIRN_INVALID);
	so.name = "tab\there";
	REFUSED(CAIRN_INVALID);
	so.name = "\xff\xfe";
	REFUSED(CAIRN_INVALID);
#undef REFUSED

	assert_int_equal(cursor_count(fx->st), 0);
	assert_no_cursor(fx->st, "valid");

	/* and the same options with everything right do work */
	cairn_sub_opts_init(&so);
	so.name = "valid";
	so.types = bad_types; /* "ok" only */
	so.ntypes = 1;
	sub = subscribe_ok(fx->st, &so);
	assert_int_equal(cursor_of(fx->st, "valid"), 0);

	/* bad calls on a good subscription */
	const cairn_event *b;
	size_t n;
	assert_status(cairn_sub_next(NULL, 0, &b, &n), CAIRN_INVALID);
	assert_status(cairn_sub_next(sub, 0, NULL, &n), CAIRN_INVALID);
	assert_status(cairn_sub_next(sub, 0, &b, NULL), CAIRN_INVALID);
	assert_status(cairn_sub_ack(NULL, 1), CAIRN_INVALID);
	assert_int_equal(cairn_sub_batch_complete(NULL), 0);
	assert_int_equal(cairn_sub_position(NULL), 0);
	assert_int_equal(cairn_sub_acked(NULL), 0);
	cairn_sub_close(sub);

	/* the cursor functions check their arguments too */
	cairn_sub_info info;
	assert_status(cairn_subs_get(NULL, "valid", &info), CAIRN_INVALID);
	assert_status(cairn_subs_get(fx->st, NULL, &info), CAIRN_INVALID);
	assert_status(cairn_subs_get(fx->st, "valid", NULL), CAIRN_INVALID);
	assert_status(cairn_subs_get(fx->st, "", &info), CAIRN_INVALID);
	assert_status(cairn_subs_reset(fx->st, "", 0), CAIRN_INVALID);
	assert_status(cairn_subs_reset(fx->st, NULL, 0), CAIRN_INVALID);
	assert_status(cairn_subs_delete(fx->st, long_name), CAIRN_INVALID);
	assert_status(cairn_subs_delete(NULL, "valid"), CAIRN_INVALID);
	assert_status(cairn_subs_list(fx->st, NULL, NULL), CAIRN_INVALID);
	int count = 0;
	assert_status(cairn_subs_list(NULL, count_fn, &count), CAIRN_INVALID);
	assert_int_equal(count, 0);
	assert_int_equal(cursor_count(fx->st), 1);
}

/* ======================================================================
 * 3. Durable subscriptions
 * ====================================================================== */

/* A durable subscription stores its cursor at its start; an ack moves
 * it (beyond what was delivered is refused, at or below it changes
 * nothing); a new subscription under the name resumes strictly after
 * the ack whatever its start, also after the store is reopened; a
 * subscription without a name has nothing to ack. */
static void
test_sub_durable_ack_and_resume(void **state)
{
	conf_fixture *fx = *state;
	cairn_sub_opts so;

	append_ok(fx->st, "d", 2); /* 1..2 */
	append_ok(fx->st, "d", 1); /* 3 */
	append_ok(fx->st, "e", 3); /* 4..6 */

	cairn_sub_opts_init(&so);
	so.name = "billing";
	cairn_sub *sub = subscribe_ok(fx->st, &so);
	assert_int_equal(cursor_of(fx->st, "billing"), 0);
	assert_int_equal(cairn_sub_acked(sub), 0);

	/* other starts are stored as they are */
	cairn_sub_opts_init(&so);
	so.name = "from-end";
	so.start = CAIRN_SUB_END;
	cairn_sub *tmp = subscribe_ok(fx->st, &so);
	cairn_sub_close(tmp);
	assert_int_equal(cursor_of(fx->st, "from-end"), 6);
	so.name = "from-3";
	so.start = CAIRN_SUB_AFTER;
	so.after = 3;
	tmp = subscribe_ok(fx->st, &so);
	cairn_sub_close(tmp);
	assert_int_equal(cursor_of(fx->st, "from-3"), 3);

	/* nothing delivered: nothing to acknowledge */
	assert_status(cairn_sub_ack(sub, 1), CAIRN_INVALID);
	expect_range(sub, 1, 2);
	assert_status(cairn_sub_ack(sub, 3), CAIRN_INVALID);
	assert_int_equal(cursor_of(fx->st, "billing"), 0);
	assert_status(cairn_sub_ack(sub, 2), CAIRN_OK);
	assert_int_equal(cairn_sub_acked(sub), 2);
	cairn_sub_info info;
	assert_status(cairn_subs_get(fx->st, "billing", &info), CAIRN_OK);
	assert_int_equal(info.position, 2);
	assert_true(info.updated_ns > 0);
	int64_t updated = info.updated_ns;

	/* at or below the cursor: nothing changes, not even the time */
	sleep_ms(2);
	assert_status(cairn_sub_ack(sub, 2), CAIRN_OK);
	assert_status(cairn_sub_ack(sub, 1), CAIRN_OK);
	assert_status(cairn_sub_ack(sub, 0), CAIRN_OK);
	assert_status(cairn_subs_get(fx->st, "billing", &info), CAIRN_OK);
	assert_int_equal(info.position, 2);
	assert_int_equal(info.updated_ns, updated);
	assert_int_equal(cairn_sub_acked(sub), 2);

	/* delivered but not acknowledged: not stored */
	expect_range(sub, 3, 3);
	expect_range(sub, 4, 6);
	assert_status(cairn_sub_ack(sub, 7), CAIRN_INVALID);
	assert_int_equal(cursor_of(fx->st, "billing"), 2);
	/* part of a batch may be acknowledged */
	assert_status(cairn_sub_ack(sub, 4), CAIRN_OK);
	assert_int_equal(cursor_of(fx->st, "billing"), 4);
	cairn_sub_close(sub);

	/* the cursor rules, not the start: strictly after 4 */
	cairn_sub_opts_init(&so);
	so.name = "billing";
	so.start = CAIRN_SUB_END;
	sub = subscribe_ok(fx->st, &so);
	assert_int_equal(cairn_sub_acked(sub), 4);
	assert_int_equal(cairn_sub_position(sub), 4);
	expect_range(sub, 5, 6);
	assert_status(cairn_sub_ack(sub, 6), CAIRN_OK);
	expect_nothing(sub);
	cairn_sub_close(sub);

	/* a subscription without a name has no cursor to move */
	cairn_sub *anon = subscribe_from(fx->st, CAIRN_SUB_BEGINNING, 0);
	expect_range(anon, 1, 2);
	assert_status(cairn_sub_ack(anon, 2), CAIRN_INVALID);
	assert_int_equal(cairn_sub_acked(anon), 0);
	cairn_sub_close(anon);
	assert_int_equal(cursor_count(fx->st), 3);

	if (!store_persists())
		return;
	/* acknowledged, then the store closed: kept */
	append_ok(fx->st, "e", 2); /* 7..8 */
	so.start = CAIRN_SUB_BEGINNING;
	sub = subscribe_ok(fx->st, &so);
	expect_range(sub, 7, 8);
	assert_status(cairn_sub_ack(sub, 7), CAIRN_OK);
	cairn_sub_close(sub);
	reopen_store(fx, NULL);
	assert_int_equal(cursor_of(fx->st, "billing"), 7);
	assert_int_equal(cursor_of(fx->st, "from-end"), 6);
	sub = subscribe_ok(fx->st, &so);
	EXPECT_BATCH(sub, 1, 8);
	expect_nothing(sub);
	cairn_sub_close(sub);
}

struct list_rec {
	char names[8][32];
	uint64_t pos[8];
	int n;
	int stop_after; /* 0: never */
};

static int
list_fn(void *ctx, const cairn_sub_info *info)
{
	struct list_rec *l = ctx;
	if (l->n < 8) {
		snprintf(l->names[l->n], sizeof l->names[l->n], "%s",
		         info->name);
		l->pos[l->n] = info->position;
	}
	l->n++;
	return l->stop_after != 0 && l->n >= l->stop_after;
}

/* cairn_subs_list() gives every cursor in name (byte) order and stops
 * when asked; cairn_subs_delete() removes one (NOT_FOUND after, and for
 * a name never stored); a subscription running under a deleted name gets
 * CAIRN_CONFLICT from its next ack and CAIRN_NOT_FOUND from its next
 * read. */
static void
test_sub_durable_list_and_delete(void **state)
{
	conf_fixture *fx = *state;
	static const char *const names[] = {"b", "aa", "c/x", "a", "B"};
	cairn_sub_opts so;
	struct list_rec l;

	append_ok(fx->st, "s", 3);
	memset(&l, 0, sizeof l);
	assert_status(cairn_subs_list(fx->st, list_fn, &l), CAIRN_OK);
	assert_int_equal(l.n, 0);

	for (size_t i = 0; i < 5; i++) {
		cairn_sub_opts_init(&so);
		so.name = names[i];
		so.start = CAIRN_SUB_AFTER;
		so.after = i % 4;
		cairn_sub_close(subscribe_ok(fx->st, &so));
	}
	memset(&l, 0, sizeof l);
	assert_status(cairn_subs_list(fx->st, list_fn, &l), CAIRN_OK);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.names[0], "B");
	assert_string_equal(l.names[1], "a");
	assert_string_equal(l.names[2], "aa");
	assert_string_equal(l.names[3], "b");
	assert_string_equal(l.names[4], "c/x");
	assert_int_equal(l.pos[0], 0);
	assert_int_equal(l.pos[1], 3);
	assert_int_equal(l.pos[2], 1);
	assert_int_equal(l.pos[3], 0);
	assert_int_equal(l.pos[4], 2);

	memset(&l, 0, sizeof l);
	l.stop_after = 2;
	assert_status(cairn_subs_list(fx->st, list_fn, &l), CAIRN_OK);
	assert_int_equal(l.n, 2);

	assert_status(cairn_subs_delete(fx->st, "aa"), CAIRN_OK);
	assert_no_cursor(fx->st, "aa");
	assert_status(cairn_subs_delete(fx->st, "aa"), CAIRN_NOT_FOUND);
	assert_status(cairn_subs_delete(fx->st, "never"), CAIRN_NOT_FOUND);
	memset(&l, 0, sizeof l);
	assert_status(cairn_subs_list(fx->st, list_fn, &l), CAIRN_OK);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.names[1], "a");
	assert_string_equal(l.names[2], "b");

	/* deleted under a running consumer */
	cairn_sub_opts_init(&so);
	so.name = "b";
	cairn_sub *sub = subscribe_ok(fx->st, &so);
	expect_range(sub, 1, 3);
	assert_status(cairn_subs_delete(fx->st, "b"), CAIRN_OK);
	assert_status(cairn_sub_ack(sub, 3), CAIRN_CONFLICT);
	assert_no_cursor(fx->st, "b"); /* the ack did not bring it back */
	const cairn_event *b;
	size_t n;
	assert_status(cairn_sub_next(sub, 0, &b, &n), CAIRN_NOT_FOUND);
	cairn_sub_close(sub);

	/* the name is free again: a new subscription starts afresh */
	sub = subscribe_ok(fx->st, &so);
	assert_int_equal(cursor_of(fx->st, "b"), 0);
	expect_range(sub, 1, 3);
	cairn_sub_close(sub);
}

/* cairn_subs_reset() moves a cursor (back or forward, or creates one;
 * never beyond the head); a consumer running under the name gets
 * CAIRN_CONFLICT from its next ack, which stores nothing, and its next
 * batch comes from the reset position.  Two consumers under one name
 * cannot move the cursor back: the stale one's ack conflicts. */
static void
test_sub_durable_reset(void **state)
{
	conf_fixture *fx = *state;
	cairn_sub_opts so;

	append_ok(fx->st, "r", 1); /* 1 */
	append_ok(fx->st, "r", 2); /* 2..3 */
	append_ok(fx->st, "r", 1); /* 4 */
	append_ok(fx->st, "r", 3); /* 5..7 */

	cairn_sub_opts_init(&so);
	so.name = "proj";
	cairn_sub *sub = subscribe_ok(fx->st, &so);
	expect_range(sub, 1, 1);
	expect_range(sub, 2, 3);
	expect_range(sub, 4, 4);
	assert_status(cairn_sub_ack(sub, 4), CAIRN_OK);

	/* back to 1: replay 2..  */
	assert_status(cairn_subs_reset(fx->st, "proj", 1), CAIRN_OK);
	assert_int_equal(cursor_of(fx->st, "proj"), 1);
	expect_range(sub, 5, 7); /* read before anyone told it */
	assert_status(cairn_sub_ack(sub, 7), CAIRN_CONFLICT);
	assert_int_equal(cursor_of(fx->st, "proj"), 1);
	expect_range(sub, 2, 3);
	assert_status(cairn_sub_ack(sub, 3), CAIRN_OK);
	assert_int_equal(cursor_of(fx->st, "proj"), 3);
	assert_int_equal(cairn_sub_acked(sub), 3);
	expect_range(sub, 4, 4);

	/* beyond the head: refused, nothing changed */
	assert_status(cairn_subs_reset(fx->st, "proj", 8), CAIRN_INVALID);
	assert_int_equal(cursor_of(fx->st, "proj"), 3);
	assert_status(cairn_sub_ack(sub, 4), CAIRN_OK);

	/* forward to the head: nothing left */
	assert_status(cairn_subs_reset(fx->st, "proj", 7), CAIRN_OK);
	expect_range(sub, 5, 7);
	assert_status(cairn_sub_ack(sub, 5), CAIRN_CONFLICT);
	expect_nothing(sub);
	append_ok(fx->st, "r", 1); /* 8 */
	expect_range(sub, 8, 8);
	assert_status(cairn_sub_ack(sub, 8), CAIRN_OK);
	assert_int_equal(cursor_of(fx->st, "proj"), 8);
	cairn_sub_close(sub);

	/* a reset creates the cursor it names */
	assert_no_cursor(fx->st, "fresh");
	assert_status(cairn_subs_reset(fx->st, "fresh", 4), CAIRN_OK);
	assert_int_equal(cursor_of(fx->st, "fresh"), 4);
	so.name = "fresh";
	sub = subscribe_ok(fx->st, &so);
	expect_range(sub, 5, 7);
	cairn_sub_close(sub);
	assert_status(cairn_subs_reset(fx->st, "fresh", 9), CAIRN_INVALID);
	assert_int_equal(cursor_of(fx->st, "fresh"), 4);

	/* two consumers under one name: the stale one cannot move it */
	so.name = "twice";
	cairn_sub *x = subscribe_ok(fx->st, &so);
	cairn_sub *y = subscribe_ok(fx->st, &so);
	expect_range(x, 1, 1);
	expect_range(x, 2, 3);
	assert_status(cairn_sub_ack(x, 3), CAIRN_OK);
	expect_range(y, 1, 1);
	assert_status(cairn_sub_ack(y, 1), CAIRN_CONFLICT);
	assert_int_equal(cursor_of(fx->st, "twice"), 3);
	/* y goes on after the stored cursor */
	expect_range(y, 4, 4);
	assert_status(cairn_sub_ack(y, 4), CAIRN_OK);
	assert_int_equal(cursor_of(fx->st, "twice"), 4);
	cairn_sub_close(x);
	cairn_sub_close(y);
}

/* ======================================================================
 * 4. Projections
 * ====================================================================== */

enum { PROJ_MAX_BATCHES = 64 };

struct proj_rec {
	pthread_mutex_t mu;
	uint64_t first[PROJ_MAX_BATCHES];
	uint64_t last[PROJ_MAX_BATCHES];
	size_t n[PROJ_MAX_BATCHES];
	int batches;      /* under mu */
	uint64_t fail_at; /* fail the batch holding this position (0: none) */
	cairn_status fail_with;
	int failures;
	int order_broken;
	/* exactly-once mode: the read model's own position */
	uint64_t saved;
	int loads;
};

static void
proj_rec_init(struct proj_rec *r)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
}

static cairn_status
proj_handle(void *ctx, const cairn_event *batch, size_t n)
{
	struct proj_rec *r = ctx;
	cairn_status rc = CAIRN_OK;

	pthread_mutex_lock(&r->mu);
	if (r->fail_at != 0 && batch[0].position <= r->fail_at &&
	    batch[n - 1].position >= r->fail_at) {
		r->failures++;
		rc = r->fail_with;
	} else if (r->batches < PROJ_MAX_BATCHES) {
		if (batch[0].position <= r->saved)
			r->order_broken++;
		r->first[r->batches] = batch[0].position;
		r->last[r->batches] = batch[n - 1].position;
		r->n[r->batches] = n;
		r->batches++;
		r->saved = batch[n - 1].position; /* "with its update" */
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static int
proj_batches(struct proj_rec *r)
{
	pthread_mutex_lock(&r->mu);
	int n = r->batches;
	pthread_mutex_unlock(&r->mu);
	return n;
}

static cairn_status
proj_load(void *ctx, uint64_t *position)
{
	struct proj_rec *r = ctx;
	r->loads++;
	*position = r->saved;
	return CAIRN_OK;
}

static cairn_projection *
projection_ok(cairn_store *st, const char *name, struct proj_rec *r,
              int exactly_once)
{
	cairn_projection_opts po;
	cairn_projection *p = NULL;

	cairn_projection_opts_init(&po);
	po.sub.name = name;
	po.handle = proj_handle;
	po.ctx = r;
	if (exactly_once)
		po.load_position = proj_load;
	assert_status(cairn_projection_open(st, &po, &p), CAIRN_OK);
	assert_non_null(p);
	return p;
}

static void
expect_proj_batch(struct proj_rec *r, int i, uint64_t first, uint64_t last)
{
	assert_true(i < r->batches);
	assert_int_equal(r->first[i], first);
	assert_int_equal(r->last[i], last);
	assert_int_equal(r->n[i], last - first + 1);
}

/* catch_up hands every batch up to the head to the handler, acks each,
 * and returns; again later, only what came since; with a filter whose
 * last matches are behind the head it returns too.  Refused options. */
static void
test_sub_projection_catch_up(void **state)
{
	conf_fixture *fx = *state;
	struct proj_rec r;

	proj_rec_init(&r);
	append_ok(fx->st, "p", 2); /* 1..2 */
	append_ok(fx->st, "p", 1); /* 3 */
	append_ok(fx->st, "q", 3); /* 4..6 */
	cairn_projection *p = projection_ok(fx->st, "totals", &r, 0);
	assert_int_equal(cursor_of(fx->st, "totals"), 0);
	assert_int_equal(cairn_projection_position(p), 0);
	assert_status(cairn_projection_catch_up(p), CAIRN_OK);
	assert_int_equal(r.batches, 3);
	expect_proj_batch(&r, 0, 1, 2);
	expect_proj_batch(&r, 1, 3, 3);
	expect_proj_batch(&r, 2, 4, 6);
	assert_int_equal(cairn_projection_position(p), 6);
	assert_int_equal(cursor_of(fx->st, "totals"), 6);

	assert_status(cairn_projection_catch_up(p), CAIRN_OK); /* nothing */
	assert_int_equal(r.batches, 3);
	append_ok(fx->st, "p", 2); /* 7..8 */
	assert_status(cairn_projection_catch_up(p), CAIRN_OK);
	assert_int_equal(r.batches, 4);
	expect_proj_batch(&r, 3, 7, 8);
	assert_int_equal(cursor_of(fx->st, "totals"), 8);
	cairn_projection_close(p);

	/* a filter that matches nothing near the head */
	cairn_projection_opts po;
	cairn_projection_opts_init(&po);
	po.sub.name = "only-q";
	po.sub.prefix = "q";
	po.handle = proj_handle;
	po.ctx = &r;
	assert_status(cairn_projection_open(fx->st, &po, &p), CAIRN_OK);
	r.batches = 0;
	assert_status(cairn_projection_catch_up(p), CAIRN_OK);
	assert_int_equal(r.batches, 1);
	expect_proj_batch(&r, 0, 4, 6);
	assert_int_equal(cairn_projection_position(p), 6);
	cairn_projection_close(p);

	/* refused */
	cairn_projection *bad = (cairn_projection *)&po;
	cairn_projection_opts_init(&po);
	po.sub.name = "x";
	assert_status(cairn_projection_open(fx->st, &po, &bad),
	              CAIRN_INVALID); /* no handler */
	assert_null(bad);
	po.handle = proj_handle;
	po.sub.name = NULL;
	assert_status(cairn_projection_open(fx->st, &po, &bad),
	              CAIRN_INVALID); /* neither name nor load_position */
	po.sub.name = "x";
	po.version = 0;
	assert_status(cairn_projection_open(fx->st, &po, &bad), CAIRN_INVALID);
	po.version = CAIRN_PROJECTION_OPTS_VERSION;
	po.sub.version = 0;
	assert_status(cairn_projection_open(fx->st, &po, &bad), CAIRN_INVALID);
	assert_status(cairn_projection_open(NULL, &po, &bad), CAIRN_INVALID);
	assert_status(cairn_projection_catch_up(NULL), CAIRN_INVALID);
	assert_status(cairn_projection_run(NULL), CAIRN_INVALID);
	assert_no_cursor(fx->st, "x");
	cairn_projection_stop(NULL);
	cairn_projection_close(NULL);
	pthread_mutex_destroy(&r.mu);
}

struct proj_runner {
	cairn_projection *p;
	cairn_status rc;
	double returned;
};

static void *
proj_run_main(void *arg)
{
	struct proj_runner *pr = arg;
	pr->rc = cairn_projection_run(pr->p);
	pr->returned = conf_now();
	return NULL;
}

/* Wait until the handler took want batches (or 5 s pass). */
static int
wait_batches(struct proj_rec *r, int want)
{
	double until = conf_now() + 5;
	while (proj_batches(r) < want && conf_now() < until)
		sleep_ms(1);
	return proj_batches(r);
}

/* cairn_projection_run() in its own thread catches up, then follows
 * live appends, acknowledging each batch, until cairn_projection_stop()
 * from another thread, which makes it return CAIRN_OK at once. */
static void
test_sub_projection_run_and_stop(void **state)
{
	conf_fixture *fx = *state;
	struct proj_rec r;
	struct proj_runner pr;
	pthread_t th;

	proj_rec_init(&r);
	append_ok(fx->st, "p", 2); /* 1..2 */
	pr.p = projection_ok(fx->st, "live", &r, 0);
	pr.rc = CAIRN_IO;
	assert_int_equal(pthread_create(&th, NULL, proj_run_main, &pr), 0);
	assert_int_equal(wait_batches(&r, 1), 1);
	append_ok(fx->st, "p", 3); /* 3..5 */
	assert_int_equal(wait_batches(&r, 2), 2);
	append_ok(fx->st, "q", 1); /* 6 */
	append_ok(fx->st, "q", 2); /* 7..8 */
	assert_int_equal(wait_batches(&r, 4), 4);
	sleep_ms(50); /* let it wait again */
	double stopped = conf_now();
	cairn_projection_stop(pr.p);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_status(pr.rc, CAIRN_OK);
	if (pr.returned - stopped > PROMPT_SECONDS)
		fail_msg("the runner stopped %.3f s after it was told",
		         pr.returned - stopped);
	expect_proj_batch(&r, 0, 1, 2);
	expect_proj_batch(&r, 1, 3, 5);
	expect_proj_batch(&r, 2, 6, 6);
	expect_proj_batch(&r, 3, 7, 8);
	assert_int_equal(r.batches, 4);
	assert_int_equal(cairn_projection_position(pr.p), 8);
	assert_int_equal(cursor_of(fx->st, "live"), 8);
	cairn_projection_close(pr.p);
	pthread_mutex_destroy(&r.mu);
}

/* A handler error stops the runner, which returns the handler's status
 * and leaves the cursor at the last batch that succeeded; run again, or
 * opened again, the runner hands the failed batch over first. */
static void
test_sub_projection_handler_error(void **state)
{
	conf_fixture *fx = *state;
	struct proj_rec r;

	proj_rec_init(&r);
	append_ok(fx->st, "p", 2); /* 1..2 */
	append_ok(fx->st, "p", 3); /* 3..5 */
	append_ok(fx->st, "p", 1); /* 6 */
	r.fail_at = 4;
	r.fail_with = CAIRN_REJECTED;
	cairn_projection *p = projection_ok(fx->st, "fragile", &r, 0);
	assert_status(cairn_projection_catch_up(p), CAIRN_REJECTED);
	assert_int_equal(r.failures, 1);
	assert_int_equal(r.batches, 1);
	expect_proj_batch(&r, 0, 1, 2);
	assert_int_equal(cairn_projection_position(p), 2);
	assert_int_equal(cursor_of(fx->st, "fragile"), 2);

	/* the same runner, again: the failed batch first, still failing */
	assert_status(cairn_projection_catch_up(p), CAIRN_REJECTED);
	assert_int_equal(r.failures, 2);
	assert_int_equal(r.batches, 1);
	assert_int_equal(cursor_of(fx->st, "fragile"), 2);
	/* a live runner fails the same way, returning the status */
	r.fail_with = CAIRN_IO;
	assert_status(cairn_projection_run(p), CAIRN_IO);
	assert_int_equal(r.failures, 3);
	assert_int_equal(cursor_of(fx->st, "fragile"), 2);
	cairn_projection_close(p);

	/* opened again, once the handler is fixed: from the failed batch */
	r.fail_at = 0;
	p = projection_ok(fx->st, "fragile", &r, 0);
	assert_int_equal(cairn_projection_position(p), 2);
	assert_status(cairn_projection_catch_up(p), CAIRN_OK);
	assert_int_equal(r.batches, 3);
	expect_proj_batch(&r, 1, 3, 5);
	expect_proj_batch(&r, 2, 6, 6);
	assert_int_equal(cursor_of(fx->st, "fragile"), 6);
	cairn_projection_close(p);

	/* the same runner, the handler fixed in between: nothing lost */
	r.fail_at = 8;
	r.fail_with = CAIRN_REJECTED;
	append_ok(fx->st, "p", 2); /* 7..8 */
	append_ok(fx->st, "p", 1); /* 9 */
	p = projection_ok(fx->st, "fragile", &r, 0);
	assert_status(cairn_projection_catch_up(p), CAIRN_REJECTED);
	r.fail_at = 0;
	assert_status(cairn_projection_catch_up(p), CAIRN_OK);
	assert_int_equal(r.batches, 5);
	expect_proj_batch(&r, 3, 7, 8);
	expect_proj_batch(&r, 4, 9, 9);
	assert_int_equal(r.order_broken, 0);
	assert_int_equal(cursor_of(fx->st, "fragile"), 9);
	cairn_projection_close(p);
	pthread_mutex_destroy(&r.mu);
}

/* Exactly-once mode: the runner starts after the position load_position
 * returns, never stores a cursor (even with a name given), and a runner
 * opened again resumes after what the read model saved with its last
 * update, including after a handler error. */
static void
test_sub_projection_load_position(void **state)
{
	conf_fixture *fx = *state;
	struct proj_rec r;

	proj_rec_init(&r);
	append_ok(fx->st, "p", 2); /* 1..2 */
	append_ok(fx->st, "p", 1); /* 3 */
	append_ok(fx->st, "p", 2); /* 4..5 */
	r.saved = 2;               /* the read model holds 1..2 already */
	cairn_projection *p = projection_ok(fx->st, "model", &r, 1);
	assert_int_equal(r.loads, 1);
	assert_int_equal(cairn_projection_position(p), 2);
	assert_status(cairn_projection_catch_up(p), CAIRN_OK);
	assert_int_equal(r.batches, 2);
	expect_proj_batch(&r, 0, 3, 3);
	expect_proj_batch(&r, 1, 4, 5);
	assert_int_equal(cairn_projection_position(p), 5);
	assert_int_equal(r.saved, 5);
	assert_no_cursor(fx->st, "model");
	assert_int_equal(cursor_count(fx->st), 0);
	cairn_projection_close(p);

	/* a failure: the model kept 5, so the next runner starts after it */
	append_ok(fx->st, "p", 1); /* 6 */
	append_ok(fx->st, "p", 3); /* 7..9 */
	r.fail_at = 7;
	r.fail_with = CAIRN_REJECTED;
	p = projection_ok(fx->st, NULL, &r, 1);
	assert_status(cairn_projection_catch_up(p), CAIRN_REJECTED);
	assert_int_equal(r.saved, 6);
	cairn_projection_close(p);
	r.fail_at = 0;
	p = projection_ok(fx->st, NULL, &r, 1);
	assert_int_equal(r.loads, 3);
	assert_status(cairn_projection_catch_up(p), CAIRN_OK);
	assert_int_equal(r.batches, 4);
	expect_proj_batch(&r, 2, 6, 6);
	expect_proj_batch(&r, 3, 7, 9);
	assert_int_equal(r.order_broken, 0);
	assert_int_equal(cursor_count(fx->st), 0);
	cairn_projection_close(p);
	pthread_mutex_destroy(&r.mu);
}

/* ======================================================================
 * 5. Backpressure
 * ====================================================================== */

struct bp_writer {
	cairn_store *st;
	int appends;
	size_t size;
	int ok;
	cairn_status rc;
	char message[256];
	int done; /* atomic */
};

static void *
bp_writer_main(void *p)
{
	struct bp_writer *w = p;
	unsigned char *buf = malloc(w->size);
	w->rc = CAIRN_NOMEM;
	if (buf != NULL) {
		memset(buf, 'b', w->size);
		w->rc = CAIRN_OK;
		for (int i = 0; i < w->appends; i++) {
			cairn_new_event e = conf_ev("Big", NULL);
			e.data = buf;
			e.data_len = w->size;
			w->rc = cairn_append(w->st, "bp-late", CAIRN_ANY, &e, 1,
			                     NULL);
			if (w->rc != CAIRN_OK) {
				snprintf(w->message, sizeof w->message, "%s",
				         cairn_last_error());
				break;
			}
			w->ok++;
		}
		free(buf);
	}
	set_flag(&w->done);
	return NULL;
}

/* Subscriptions that stop reading mid catch-up (one whole batch, one cut
 * by max_batch, one with the next batch read ahead under a filter) hold
 * up no append: another thread appends 8 MiB into a store whose map
 * starts at 1 MiB (lmdb must grow it, which waits for open reads) and
 * finishes quickly; then the subscribers go on with no gap. */
static void
test_sub_idle_subscriber_does_not_block_appends(void **state)
{
	conf_fixture *fx = *state;
	cairn_options o;
	static const char *const types_a[] = {"A"};
	static const char *const mixed[] = {"A", "A", "B", NULL};

	cairn_options_init(&o);
	o.initial_map_size = 1u << 20;
	o.read_renew_every = 3; /* lmdb: renewals in the middle of batches */
	o.durability = CAIRN_RELAXED;
	open_fresh_store(fx, &o);
	for (int i = 0; i < 40; i++)
		append_ok(fx->st, "bp", 5); /* 1..200 */
	for (int i = 0; i < 10; i++)
		append_types(fx->st, "bp", mixed); /* 201..230 */

	cairn_sub *whole = subscribe_from(fx->st, CAIRN_SUB_BEGINNING, 0);
	expect_range(whole, 1, 5);
	cairn_sub_opts so;
	cairn_sub_opts_init(&so);
	so.max_batch = 2;
	cairn_sub *cut = subscribe_ok(fx->st, &so);
	EXPECT_BATCH(cut, 0, 1, 2);
	cairn_sub_opts_init(&so);
	so.types = types_a;
	so.ntypes = 1;
	so.start = CAIRN_SUB_AFTER;
	so.after = 200;
	cairn_sub *ahead = subscribe_ok(fx->st, &so);
	/* 203 is a B: 204 (the next append) is read ahead */
	EXPECT_BATCH(ahead, 1, 201, 202);

	struct bp_writer w;
	memset(&w, 0, sizeof w);
	w.st = fx->st;
	w.appends = 128;
	w.size = 64 * 1024;
	pthread_t th;
	double t0 = conf_now();
	assert_int_equal(pthread_create(&th, NULL, bp_writer_main, &w), 0);
	if (!wait_flag(&w.done, 8)) {
		/* blocked behind an idle subscriber: say so, then let it go */
		print_error("appends still blocked after 8 s (%d done)\n",
		            w.ok);
		cairn_sub_close(whole);
		cairn_sub_close(cut);
		cairn_sub_close(ahead);
		pthread_join(th, NULL);
		fail();
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	if (w.rc != CAIRN_OK)
		fail_msg("append %d while subscribers were idle: %s: %s",
		         w.ok + 1, cairn_status_str(w.rc), w.message);
	double took = conf_now() - t0;
	if (took > 5)
		fail_msg("appends took %.1f s beside idle subscribers", took);

	/* they go on from where they were, and see the new appends too */
	uint64_t next = 6;
	for (int i = 1; i < 40; i++, next += 5)
		expect_range(whole, next, next + 4);
	for (int i = 0; i < 10; i++, next += 3)
		expect_range(whole, next, next + 2);
	for (int i = 0; i < 128; i++, next++)
		expect_range(whole, next, next);
	expect_nothing(whole);

	EXPECT_BATCH(cut, 0, 3, 4);
	EXPECT_BATCH(cut, 1, 5);
	cairn_sub_close(cut);

	for (int i = 1; i < 10; i++)
		EXPECT_BATCH(ahead, 1, 201 + 3 * i, 202 + 3 * i);
	expect_nothing(ahead);
	cairn_sub_close(ahead);
	cairn_sub_close(whole);
}

static const struct CMUnitTest sub_tests[] = {
        CONF_TEST(test_sub_concurrent_writers_and_subscribers),
        CONF_TEST(test_sub_catch_up_then_live),
        CONF_TEST(test_sub_start_end_and_after),
        CONF_TEST(test_sub_max_batch),
        CONF_TEST(test_sub_unmatched_appends_yield_nothing),
        CONF_TEST(test_sub_query_filter),
        CONF_TEST(test_sub_stop_wakes_next),
        CONF_TEST(test_sub_stop_wakes_next_read_only),
        CONF_TEST(test_sub_wakes_on_other_handle_commit),
        CONF_TEST(test_sub_invalid_arguments),
        CONF_TEST(test_sub_durable_ack_and_resume),
        CONF_TEST(test_sub_durable_list_and_delete),
        CONF_TEST(test_sub_durable_reset),
        CONF_TEST(test_sub_projection_catch_up),
        CONF_TEST(test_sub_projection_run_and_stop),
        CONF_TEST(test_sub_projection_handler_error),
        CONF_TEST(test_sub_projection_load_position),
        CONF_TEST(test_sub_idle_subscriber_does_not_block_appends),
};

int
conf_group_subscriptions(void)
{
	return cmocka_run_group_tests_name("subscriptions", sub_tests,
	                                   conf_group_setup,
	                                   conf_group_teardown);
}
