/*
 * test_group_commit.c -- src/core/group_commit.c with a fake engine.
 *
 * The fake commit_batch records every batch (size, events, which thread
 * ran it, whether two ran at once), counts how often each request was
 * committed and sets each request's status from what the request itself
 * asks for, so that a status that reaches the wrong submitter shows.
 * Worker threads only record; the main thread asserts after joining.
 */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCHES 100000
#define HOLD_TIMEOUT_S 60
#define CHILD_TIMEOUT_S 120

/* A request and what the test knows about it; req comes first so that
 * the batch's pointers lead back here. */
struct tracked {
	cairn__append_req req;
	cairn_append_result result;
	unsigned thread, seq;
	cairn_status want;         /* the status the fake commit sets */
	unsigned commits;          /* how often it was committed */
};

struct fake {
	pthread_mutex_t lock;
	cairn__group *g;
	long sleep_ns;             /* per batch, to let a queue build up */
	size_t hold_for;           /* first batch waits for this many queued */
	int hold_reached;
	bool in_commit;
	unsigned overlaps;         /* batches that ran while another did */
	unsigned empty_batches;
	unsigned over_requests;    /* batches over max_batch_requests */
	unsigned over_events;      /* batches (n > 1) over max_batch_events */
	size_t nbatches;
	size_t sizes[MAX_BATCHES];
	size_t largest;
	pthread_t last_committer;
};

static void
sleep_ns(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static size_t
queued(cairn__group *g)
{
	cairn__append_req *r;
	size_t n = 0;

	pthread_mutex_lock(&g->mutex);
	for (r = g->head; r; r = r->next_in_queue)
		n++;
	pthread_mutex_unlock(&g->mutex);
	return n;
}

/* Wait (bounded) until the queue holds want requests. */
static int
wait_for_queue(cairn__group *g, size_t want)
{
	long waited_ms;

	for (waited_ms = 0; waited_ms < HOLD_TIMEOUT_S * 1000L; waited_ms++) {
		if (queued(g) >= want)
			return 1;
		sleep_ns(1000000L);
	}
	return 0;
}

static void
fake_commit(void *ctx, cairn__append_req **reqs, size_t n)
{
	struct fake *f = ctx;
	size_t i, events = 0, batch;

	pthread_mutex_lock(&f->lock);
	if (f->in_commit)
		f->overlaps++;
	f->in_commit = true;
	batch = f->nbatches++;
	if (batch < MAX_BATCHES)
		f->sizes[batch] = n;
	if (n > f->largest)
		f->largest = n;
	f->last_committer = pthread_self();
	pthread_mutex_unlock(&f->lock);

	if (n == 0)
		f->empty_batches++;
	if (n > f->g->max_batch_requests)
		f->over_requests++;
	for (i = 0; i < n; i++)
		events += reqs[i]->nevents;
	if (n > 1 && events > f->g->max_batch_events)
		f->over_events++;
	if (batch == 0 && f->hold_for > 0)
		f->hold_reached = wait_for_queue(f->g, f->hold_for);

	for (i = 0; i < n; i++) {
		struct tracked *t = (struct tracked *)reqs[i];
		t->commits++;
		t->result.first_position = (uint64_t)t->thread << 32 | t->seq;
		if (t->want == CAIRN_OK)
			t->req.status = CAIRN_OK;
		else
			cairn__req_error(&t->req, t->want, (int)t->seq,
			                 "request %u/%u failed on purpose",
			                 t->thread, t->seq);
	}
	if (f->sleep_ns > 0)
		sleep_ns(f->sleep_ns);

	pthread_mutex_lock(&f->lock);
	f->in_commit = false;
	pthread_mutex_unlock(&f->lock);
}

static struct fake *
fake_new(cairn__group *g)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(pthread_mutex_init(&f->lock, NULL), 0);
	f->g = g;
	assert_int_equal(cairn__group_init(g, fake_commit, f), CAIRN_OK);
	return f;
}

static void
fake_free(struct fake *f)
{
	cairn__group_destroy(f->g);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static void
tracked_init(struct tracked *t, unsigned thread, unsigned seq,
             size_t nevents, cairn_status want)
{
	memset(t, 0, sizeof(*t));
	t->thread = thread;
	t->seq = seq;
	t->want = want;
	t->req.nevents = nevents;
	t->req.nwrites = 1;
	t->req.result = &t->result;
	/* what an engine that forgot to set it would leave */
	t->req.status = CAIRN_CLOSED;
}

/* ---- one submitter ---- */

static void
single_submitter_commits_alone(void **state)
{
	cairn__group g;
	struct fake *f = fake_new(&g);
	struct tracked t;

	(void)state;
	tracked_init(&t, 0, 1, 3, CAIRN_OK);
	assert_int_equal(cairn__group_submit(&g, &t.req), CAIRN_OK);
	assert_int_equal(t.commits, 1);
	assert_true(t.req.done);
	assert_int_equal(f->nbatches, 1);
	assert_int_equal(f->sizes[0], 1);
	/* at once, in the caller's own thread */
	assert_true(pthread_equal(f->last_committer, pthread_self()));
	/* the queue is left empty and leaderless */
	assert_null(g.head);
	assert_null(g.tail);
	assert_false(g.leader_active);

	tracked_init(&t, 0, 2, 1, CAIRN_IO);
	assert_int_equal(cairn__group_submit(&g, &t.req), CAIRN_IO);
	assert_int_equal(t.commits, 1);
	assert_string_equal(t.req.message, "request 0/2 failed on purpose");
	assert_int_equal(t.req.native, 2);
	assert_int_equal(f->nbatches, 2);

	/* a request larger than max_batch_events still commits */
	tracked_init(&t, 0, 3, g.max_batch_events * 2, CAIRN_OK);
	assert_int_equal(cairn__group_submit(&g, &t.req), CAIRN_OK);
	assert_int_equal(t.commits, 1);
	assert_int_equal(f->sizes[2], 1);
	assert_int_equal(f->overlaps, 0);
	fake_free(f);
}

/* ---- many submitters ---- */

struct worker {
	pthread_t tid;
	cairn__group *g;
	struct tracked *reqs;
	unsigned thread, count;
	/* what the worker saw */
	unsigned wrong_status, wrong_result, wrong_message, not_done;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char expect[64];
	unsigned i;

	for (i = 0; i < w->count; i++) {
		struct tracked *t = &w->reqs[i];
		cairn_status rc = cairn__group_submit(w->g, &t->req);
		if (rc != t->want || t->req.status != t->want)
			w->wrong_status++;
		if (!t->req.done || t->commits != 1)
			w->not_done++;
		if (t->result.first_position !=
		    ((uint64_t)w->thread << 32 | i))
			w->wrong_result++;
		if (t->want != CAIRN_OK) {
			snprintf(expect, sizeof(expect),
			         "request %u/%u failed", w->thread, i);
			if (strstr(t->req.message, expect) == NULL)
				w->wrong_message++;
		}
	}
	return NULL;
}

/* Which requests fail on purpose, and how. */
static cairn_status
planned_status(unsigned thread, unsigned seq)
{
	unsigned k = thread * 7919u + seq;

	if (k % 7 == 3)
		return CAIRN_CONFLICT;
	if (k % 13 == 5)
		return CAIRN_IO;
	return CAIRN_OK;
}

struct run_spec {
	unsigned threads, per_thread;
	size_t max_requests, max_events;
	long sleep_ns;
	size_t (*nevents)(unsigned thread, unsigned seq);
	size_t hold_for;
	size_t stack_size;         /* 0: the default */
};

struct run_outcome {
	size_t batches, largest, total_in_batches;
	unsigned overlaps, empty, over_requests, over_events, hold_reached;
	unsigned wrong_status, wrong_result, wrong_message, not_done;
	unsigned lost_or_twice, failed_on_purpose;
	size_t sizes[16];          /* the first batches, for exact checks */
};

/* Run spec->threads submitters over one group; no cmocka assertion
 * inside, so that it can run in a child process as well. */
static int
run_group(const struct run_spec *spec, struct run_outcome *out)
{
	cairn__group g;
	struct fake *f;
	struct worker *ws;
	struct tracked *reqs;
	pthread_attr_t attr;
	unsigned t, i, total = spec->threads * spec->per_thread;
	size_t b;
	int ok = 1;

	memset(out, 0, sizeof(*out));
	f = calloc(1, sizeof(*f));
	ws = calloc(spec->threads, sizeof(*ws));
	reqs = calloc(total, sizeof(*reqs));
	if (f == NULL || ws == NULL || reqs == NULL)
		return 0;
	pthread_mutex_init(&f->lock, NULL);
	f->g = &g;
	f->sleep_ns = spec->sleep_ns;
	f->hold_for = spec->hold_for;
	if (cairn__group_init(&g, fake_commit, f) != CAIRN_OK)
		return 0;
	if (spec->max_requests)
		g.max_batch_requests = spec->max_requests;
	if (spec->max_events)
		g.max_batch_events = spec->max_events;
	for (t = 0; t < spec->threads; t++)
		for (i = 0; i < spec->per_thread; i++)
			tracked_init(&reqs[t * spec->per_thread + i], t, i,
			             spec->nevents ? spec->nevents(t, i) : 1,
			             planned_status(t, i));
	pthread_attr_init(&attr);
	if (spec->stack_size)
		pthread_attr_setstacksize(&attr, spec->stack_size);
	for (t = 0; t < spec->threads; t++) {
		ws[t].g = &g;
		ws[t].reqs = &reqs[t * spec->per_thread];
		ws[t].thread = t;
		ws[t].count = spec->per_thread;
		if (pthread_create(&ws[t].tid, &attr, worker_main, &ws[t]) !=
		    0) {
			fprintf(stderr, "cannot start thread %u\n", t);
			abort();
		}
	}
	pthread_attr_destroy(&attr);
	for (t = 0; t < spec->threads; t++) {
		pthread_join(ws[t].tid, NULL);
		out->wrong_status += ws[t].wrong_status;
		out->wrong_result += ws[t].wrong_result;
		out->wrong_message += ws[t].wrong_message;
		out->not_done += ws[t].not_done;
	}
	for (i = 0; i < total; i++) {
		if (reqs[i].commits != 1)
			out->lost_or_twice++;
		if (reqs[i].want != CAIRN_OK)
			out->failed_on_purpose++;
	}
	out->batches = f->nbatches;
	out->largest = f->largest;
	for (b = 0; b < f->nbatches && b < MAX_BATCHES; b++) {
		out->total_in_batches += f->sizes[b];
		if (b < sizeof(out->sizes) / sizeof(out->sizes[0]))
			out->sizes[b] = f->sizes[b];
	}
	out->overlaps = f->overlaps;
	out->empty = f->empty_batches;
	out->over_requests = f->over_requests;
	out->over_events = f->over_events;
	out->hold_reached = (unsigned)f->hold_reached;
	if (g.head != NULL || g.tail != NULL || g.leader_active)
		ok = 0;
	fake_free(f);
	free(ws);
	free(reqs);
	return ok;
}

/* What every run must show, whatever its shape. */
static void
assert_sound(const struct run_spec *spec, const struct run_outcome *o)
{
	size_t total = (size_t)spec->threads * spec->per_thread;

	assert_int_equal(o->lost_or_twice, 0);
	assert_int_equal(o->not_done, 0);
	assert_int_equal(o->total_in_batches, total);
	assert_int_equal(o->wrong_status, 0);
	assert_int_equal(o->wrong_result, 0);
	assert_int_equal(o->wrong_message, 0);
	assert_int_equal(o->overlaps, 0);
	assert_int_equal(o->empty, 0);
	assert_int_equal(o->over_requests, 0);
	assert_int_equal(o->over_events, 0);
	/* the plan does fail some, and not all */
	assert_true(o->failed_on_purpose > 0);
	assert_true(o->failed_on_purpose < total);
}

static void
many_submitters_own_status(void **state)
{
	struct run_spec spec;
	struct run_outcome o;

	(void)state;
	memset(&spec, 0, sizeof(spec));
	spec.threads = 8;
	spec.per_thread = 200;
	spec.sleep_ns = 100000L;   /* 0.1 ms: a queue builds up meanwhile */
	assert_true(run_group(&spec, &o));
	assert_sound(&spec, &o);
	/* commits were shared */
	assert_true(o.largest > 1);
	assert_true(o.batches < spec.threads * spec.per_thread);
	print_message("%zu batches for %u requests, largest %zu\n", o.batches,
	              spec.threads * spec.per_thread, o.largest);
}

static size_t
mixed_sizes(unsigned thread, unsigned seq)
{
	/* mostly small; now and then one over max_batch_events alone */
	if ((thread + seq) % 17 == 0)
		return 40;
	return 1 + (thread * 3 + seq) % 5;
}

static void
many_submitters_within_limits(void **state)
{
	struct run_spec spec;
	struct run_outcome o;

	(void)state;
	memset(&spec, 0, sizeof(spec));
	spec.threads = 8;
	spec.per_thread = 200;
	spec.sleep_ns = 50000L;
	spec.max_requests = 3;
	spec.max_events = 8;
	spec.nevents = mixed_sizes;
	assert_true(run_group(&spec, &o));
	assert_sound(&spec, &o);
	assert_true(o.largest > 1);
	assert_true(o.largest <= 3);
}

static size_t
four_events(unsigned thread, unsigned seq)
{
	(void)thread;
	(void)seq;
	return 4;
}

/*
 * With the first commit held until the seven other submitters are
 * queued, the batches that follow are fixed by the limits alone.
 */
static void
batches_cut_at_limits(void **state)
{
	static const struct {
		size_t max_requests, max_events;
		size_t sizes[9];
	} cases[] = {
		{0, 0, {1, 7}},            /* the defaults: all at once */
		{3, 0, {1, 3, 3, 1}},
		{0, 10, {1, 2, 2, 2, 1}},  /* 4 + 4 fit, 4 + 4 + 4 do not */
		{3, 12, {1, 3, 3, 1}},     /* exactly at the event limit */
		{3, 11, {1, 2, 2, 2, 1}},
		{1, 0, {1, 1, 1, 1, 1, 1, 1, 1}},
		{0, 3, {1, 1, 1, 1, 1, 1, 1, 1}}, /* each alone is over */
	};
	struct run_spec spec;
	struct run_outcome o;
	size_t c, b, nb;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memset(&spec, 0, sizeof(spec));
		spec.threads = 8;
		spec.per_thread = 1;
		spec.max_requests = cases[c].max_requests;
		spec.max_events = cases[c].max_events;
		spec.nevents = four_events;
		spec.hold_for = 7;
		assert_true(run_group(&spec, &o));
		assert_true(o.hold_reached);
		assert_int_equal(o.lost_or_twice, 0);
		assert_int_equal(o.wrong_status, 0);
		for (nb = 0; nb < 9 && cases[c].sizes[nb]; nb++)
			;
		if (o.batches != nb)
			fail_msg("case %zu: %zu batches, not %zu", c,
			         o.batches, nb);
		for (b = 0; b < nb; b++)
			if (o.sizes[b] != cases[c].sizes[b])
				fail_msg("case %zu: batch %zu has %zu "
				         "requests, not %zu", c, b, o.sizes[b],
				         cases[c].sizes[b]);
	}
}

/*
 * After a shared batch a new leader waits a moment for as many writers
 * as that batch had (gathering).  A lone writer that follows must still
 * commit at once: the wait is bounded by a fraction of a sync, far under
 * the bound here, and never a hang.
 */
static void
lone_writer_after_shared_batch(void **state)
{
	struct worker ws[8];
	struct tracked reqs[8], lone;
	struct timespec t0, t1;
	cairn__group g;
	struct fake *f = fake_new(&g);
	unsigned t;
	double elapsed;

	(void)state;
	f->hold_for = 7;
	memset(ws, 0, sizeof(ws));
	for (t = 0; t < 8; t++) {
		tracked_init(&reqs[t], t, 0, 1, CAIRN_OK);
		ws[t].g = &g;
		ws[t].reqs = &reqs[t];
		ws[t].thread = t;
		ws[t].count = 1;
		assert_int_equal(pthread_create(&ws[t].tid, NULL, worker_main,
		                                &ws[t]),
		                 0);
	}
	for (t = 0; t < 8; t++) {
		pthread_join(ws[t].tid, NULL);
		assert_int_equal(ws[t].wrong_status + ws[t].not_done, 0);
	}
	assert_true(f->hold_reached);
	assert_int_equal(f->nbatches, 2);
	assert_int_equal(f->sizes[1], 7);

	tracked_init(&lone, 9, 0, 1, CAIRN_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(cairn__group_submit(&g, &lone.req), CAIRN_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	elapsed = (double)(t1.tv_sec - t0.tv_sec) +
	          (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(lone.commits, 1);
	assert_int_equal(f->nbatches, 3);
	assert_int_equal(f->sizes[2], 1);
	if (elapsed > 0.5)
		fail_msg("a lone writer waited %.3f s after a shared batch",
		         elapsed);
	/* and the one after that does not gather at all */
	tracked_init(&lone, 9, 1, 1, CAIRN_IO);
	assert_int_equal(cairn__group_submit(&g, &lone.req), CAIRN_IO);
	assert_int_equal(f->nbatches, 4);
	assert_int_equal(f->overlaps, 0);
	fake_free(f);
}

/*
 * max_batch_requests is a field of the group that an engine may tune;
 * raised past the default of 1024, a batch must still be taken safely.
 * 1100 submitters queue behind a held first commit, so that the next
 * leader takes them all in one batch.  Run in a child process, since a
 * failure here is memory corruption in the leader's stack frame.
 */
#define WIDE_THREADS 1100

/* The child: cmocka's signal handlers would resume the suite here, so a
 * crash must be a crash. */
static void
wide_child(const struct run_spec *spec)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	struct run_outcome o;
	size_t i;
	int ok;

	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], SIG_DFL);
	ok = run_group(spec, &o);
	ok = ok && o.hold_reached && o.lost_or_twice == 0 &&
	     o.wrong_status == 0 && o.not_done == 0 &&
	     o.largest == WIDE_THREADS - 1;
	if (!ok)
		fprintf(stderr, "child: ok %d hold %u lost %u status %u "
		        "largest %zu\n", ok, o.hold_reached, o.lost_or_twice,
		        o.wrong_status, o.largest);
	_exit(ok ? 0 : 1);
}

static void
raised_request_limit_is_safe(void **state)
{
	struct run_spec spec;
	pid_t pid, got = 0;
	int status = 0;
	long waited;

	(void)state;
	memset(&spec, 0, sizeof(spec));
	spec.threads = WIDE_THREADS;
	spec.per_thread = 1;
	spec.max_requests = 4096;
	spec.hold_for = WIDE_THREADS - 1;
	spec.stack_size = 256 * 1024;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		wide_child(&spec);
	for (waited = 0; waited < CHILD_TIMEOUT_S * 100; waited++) {
		got = waitpid(pid, &status, WNOHANG);
		if (got != 0)
			break;
		sleep_ns(10000000L);
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("a batch of %d requests hung for %d s",
		         WIDE_THREADS - 1, CHILD_TIMEOUT_S);
	}
	assert_int_equal(got, pid);
	if (WIFSIGNALED(status))
		fail_msg("a batch of %d requests killed the process with "
		         "signal %d", WIDE_THREADS - 1, WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(single_submitter_commits_alone),
		cmocka_unit_test(many_submitters_own_status),
		cmocka_unit_test(many_submitters_within_limits),
		cmocka_unit_test(batches_cut_at_limits),
		cmocka_unit_test(lone_writer_after_shared_batch),
		cmocka_unit_test(raised_request_limit_is_safe),
	};

	return cmocka_run_group_tests_name("group_commit", tests, NULL,
	                                   NULL);
}
