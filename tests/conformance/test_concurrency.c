/*
 * test_concurrency.c -- many threads on one store handle: one winner per
 * expected version, gapless global positions, atomic visibility of
 * multi-stream appends to concurrent readers, idempotent retries racing
 * each other, and optimistic read-decide-append loops without lost
 * updates.
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

enum { NTHREADS = 8 };

/* The first problem a worker saw, for the test thread to report. */
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

static void problem(struct problem_log *log, const char *fmt, ...)
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

static int has_problems(struct problem_log *log)
{
	pthread_mutex_lock(&log->mu);
	int n = log->count;
	pthread_mutex_unlock(&log->mu);
	return n;
}

static void assert_no_problems(struct problem_log *log)
{
	if (log->count != 0)
		print_error("%d problem(s); the first: %s\n", log->count,
		            log->first);
	assert_int_equal(log->count, 0);
}

static void start_threads(pthread_t *th, size_t n, void *(*fn)(void *),
                          void *args, size_t arg_size)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pthread_create(&th[i], NULL, fn,
		                                (char *)args + i * arg_size),
		                 0);
}

static void join_threads(pthread_t *th, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
}

/* ---- one stream, one expected version, eight writers ---- */

enum { RACE_ROUNDS = 200 };

struct race_shared {
	cairn_store *st;
	pthread_barrier_t barrier;
	cairn_status rc[RACE_ROUNDS][NTHREADS];
	uint64_t actual[RACE_ROUNDS][NTHREADS];
	uint64_t version[RACE_ROUNDS][NTHREADS];
};

struct race_arg {
	struct race_shared *sh;
	int thread;
};

static void *race_main(void *p)
{
	struct race_arg *a = p;
	struct race_shared *sh = a->sh;
	for (int r = 0; r < RACE_ROUNDS; r++) {
		pthread_barrier_wait(&sh->barrier);
		char data[64];
		snprintf(data, sizeof data, "round=%d thread=%d", r, a->thread);
		cairn_append_result res;
		memset(&res, 0, sizeof res);
		sh->rc[r][a->thread] = conf_append_text(sh->st, "race", r, "Raced",
		                                        data, &res);
		sh->actual[r][a->thread] = res.conflict_actual;
		sh->version[r][a->thread] = res.version;
	}
	return NULL;
}

/* Eight threads append to the same stream with the same expected version,
 * round after round: exactly one wins each version, the others conflict
 * and see the winner's version; the stream ends contiguous. */
static void test_concurrent_same_expected_version(void **state)
{
	conf_fixture *fx = *state;
	struct race_shared *sh = calloc(1, sizeof *sh);
	assert_non_null(sh);
	sh->st = fx->st;
	assert_int_equal(pthread_barrier_init(&sh->barrier, NULL, NTHREADS), 0);
	struct race_arg args[NTHREADS];
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		args[t].sh = sh;
		args[t].thread = t;
	}
	start_threads(th, NTHREADS, race_main, args, sizeof args[0]);
	join_threads(th, NTHREADS);
	pthread_barrier_destroy(&sh->barrier);

	int winner[RACE_ROUNDS];
	for (int r = 0; r < RACE_ROUNDS; r++) {
		int wins = 0;
		winner[r] = -1;
		for (int t = 0; t < NTHREADS; t++) {
			if (sh->rc[r][t] == CAIRN_OK) {
				wins++;
				winner[r] = t;
				assert_int_equal(sh->version[r][t], r + 1);
			} else {
				assert_status(sh->rc[r][t], CAIRN_CONFLICT);
				assert_int_equal(sh->actual[r][t], r + 1);
			}
		}
		if (wins != 1)
			print_error("round %d: %d winners\n", r, wins);
		assert_int_equal(wins, 1);
	}
	assert_int_equal(conf_version(fx->st, "race"), RACE_ROUNDS);
	assert_int_equal(conf_head(fx->st), RACE_ROUNDS);
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "race", NULL, &recs);
	assert_int_equal(n, RACE_ROUNDS);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(recs[i].version, i + 1);
		assert_int_equal(recs[i].position, i + 1);
		char want[64];
		snprintf(want, sizeof want, "round=%zu thread=%d", i, winner[i]);
		assert_string_equal((char *)recs[i].data, want);
	}
	conf_recs_free(recs, n);
	free(sh);
}

/* ---- distinct streams ---- */

enum { DISTINCT_APPENDS = 500 };

struct distinct_arg {
	cairn_store *st;
	int thread;
	int ok;
	cairn_status first_error;
	char message[256];
};

static void *distinct_main(void *p)
{
	struct distinct_arg *a = p;
	char stream[32];
	snprintf(stream, sizeof stream, "distinct-%d", a->thread);
	for (int i = 0; i < DISTINCT_APPENDS; i++) {
		char data[64];
		snprintf(data, sizeof data, "t=%d i=%d", a->thread, i);
		cairn_status rc = conf_append_text(a->st, stream, i, "D", data, NULL);
		if (rc != CAIRN_OK) {
			a->first_error = rc;
			snprintf(a->message, sizeof a->message, "%s",
			         cairn_last_error());
			return NULL;
		}
		a->ok++;
	}
	return NULL;
}

/* Eight threads append to their own streams: every append succeeds and
 * $all shows positions 1..head, strictly increasing and gapless, with
 * each stream's versions in order. */
static void test_concurrent_distinct_streams(void **state)
{
	conf_fixture *fx = *state;
	struct distinct_arg args[NTHREADS];
	pthread_t th[NTHREADS];
	memset(args, 0, sizeof args);
	for (int t = 0; t < NTHREADS; t++) {
		args[t].st = fx->st;
		args[t].thread = t;
	}
	start_threads(th, NTHREADS, distinct_main, args, sizeof args[0]);
	join_threads(th, NTHREADS);
	for (int t = 0; t < NTHREADS; t++) {
		if (args[t].ok != DISTINCT_APPENDS)
			print_error("thread %d: %s: %s\n", t,
			            cairn_status_str(args[t].first_error),
			            args[t].message);
		assert_int_equal(args[t].ok, DISTINCT_APPENDS);
	}
	const uint64_t total = (uint64_t)NTHREADS * DISTINCT_APPENDS;
	assert_int_equal(conf_head(fx->st), total);
	cairn_stats s = conf_stats(fx->st);
	assert_int_equal(s.events, total);
	assert_int_equal(s.streams, NTHREADS);

	cairn_iter *it = NULL;
	assert_status(cairn_read_all(fx->st, NULL, &it), CAIRN_OK);
	const cairn_event *e;
	cairn_status rc;
	uint64_t next_pos = 1;
	uint64_t seen[NTHREADS] = {0};
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		assert_int_equal(e->position, next_pos);
		next_pos++;
		int t = -1;
		assert_int_equal(sscanf(e->stream, "distinct-%d", &t), 1);
		assert_in_range(t, 0, NTHREADS - 1);
		assert_int_equal(e->version, seen[t] + 1);
		char want[64];
		snprintf(want, sizeof want, "t=%d i=%llu", t,
		         (unsigned long long)seen[t]);
		assert_int_equal(e->data_len, strlen(want));
		assert_memory_equal(e->data, want, e->data_len);
		seen[t]++;
	}
	assert_status(rc, CAIRN_DONE);
	cairn_iter_free(it);
	assert_int_equal(next_pos - 1, total);
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(seen[t], DISTINCT_APPENDS);
	uint64_t problems = 99;
	assert_status(cairn_verify(fx->st, NULL, NULL, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);
}

/* ---- readers never see part of an append ---- */

/* Each writer does at least ATOM_APPENDS appends, and goes on until the
 * readers have each done ATOM_MIN_READS reads (a fast backend would
 * otherwise finish before the readers start), for at most
 * ATOM_MAX_APPENDS appends or ATOM_MAX_SECONDS. */
enum {
	ATOM_WRITERS = 4,
	ATOM_APPENDS = 150,
	ATOM_MAX_APPENDS = 5000,
	ATOM_MAX_K = 5,
	ATOM_MIN_READS = 2000,
	ATOM_MAX_SECONDS = 5,
};

struct atom_shared {
	cairn_store *st;
	struct problem_log log;
	int writers_done;          /* under log.mu */
	unsigned long tail_reads;  /* atomics */
	unsigned long back_reads;
	unsigned long events_seen;
	double started;
};

struct atom_writer {
	struct atom_shared *sh;
	int writer;
	int appends;
	uint64_t events;
};

static int atom_keep_writing(struct atom_shared *sh, int done)
{
	if (done < ATOM_APPENDS)
		return 1;
	if (done >= ATOM_MAX_APPENDS ||
	    conf_now() - sh->started > ATOM_MAX_SECONDS)
		return 0;
	return __atomic_load_n(&sh->tail_reads, __ATOMIC_RELAXED) <
	               ATOM_MIN_READS ||
	       __atomic_load_n(&sh->back_reads, __ATOMIC_RELAXED) <
	               ATOM_MIN_READS;
}

static int writers_done(struct atom_shared *sh)
{
	pthread_mutex_lock(&sh->log.mu);
	int d = sh->writers_done;
	pthread_mutex_unlock(&sh->log.mu);
	return d;
}

/* Every event's data is "aid=A idx=I cnt=C": append A wrote C events and
 * this is its I-th. */
static void *atom_writer_main(void *p)
{
	struct atom_writer *w = p;
	struct atom_shared *sh = w->sh;
	char data[ATOM_MAX_K][64];
	char streams[ATOM_MAX_K][32];
	cairn_new_event evs[ATOM_MAX_K];
	cairn_write writes[ATOM_MAX_K];
	for (int i = 0; atom_keep_writing(sh, i) && !has_problems(&sh->log);
	     i++) {
		unsigned aid = (unsigned)(w->writer * 1000000 + i);
		int k = 1 + (i + w->writer) % ATOM_MAX_K;
		for (int j = 0; j < k; j++) {
			snprintf(data[j], sizeof data[j], "aid=%u idx=%d cnt=%d", aid, j,
			         k);
			evs[j] = conf_ev("Atom", data[j]);
		}
		cairn_status rc;
		if (i % 3 == 2) {
			/* K events to one stream */
			snprintf(streams[0], sizeof streams[0], "batch-%d", w->writer);
			rc = cairn_append(sh->st, streams[0], CAIRN_ANY, evs, (size_t)k,
			                  NULL);
		} else {
			/* K events to K streams shared with the other writers */
			for (int j = 0; j < k; j++) {
				snprintf(streams[j], sizeof streams[j], "atom-%d",
				         (j + i) % ATOM_MAX_K);
				writes[j].stream = streams[j];
				writes[j].expected = CAIRN_ANY;
				writes[j].events = &evs[j];
				writes[j].nevents = 1;
			}
			rc = cairn_append_multi(sh->st, writes, (size_t)k, NULL);
		}
		if (rc != CAIRN_OK)
			problem(&sh->log, "writer %d append %d: %s: %s", w->writer, i,
			        cairn_status_str(rc), cairn_last_error());
		else
			w->events += (uint64_t)k;
		w->appends++;
		sched_yield(); /* let the readers in between appends */
	}
	return NULL;
}

static int parse_atom(const cairn_event *e, unsigned *aid, int *idx,
                      int *cnt)
{
	char buf[64];
	if (e->data_len == 0 || e->data_len >= sizeof buf)
		return 0;
	memcpy(buf, e->data, e->data_len);
	buf[e->data_len] = '\0';
	return sscanf(buf, "aid=%u idx=%d cnt=%d", aid, idx, cnt) == 3 &&
	       *idx >= 0 && *idx < *cnt;
}

/* Follows $all from its last position to the end, again and again: every
 * read must end on an append boundary, with positions gapless. */
static void *atom_tail_main(void *p)
{
	struct atom_shared *sh = p;
	uint64_t next = 1;
	int last_round = 0;
	while (!last_round) {
		last_round = writers_done(sh); /* one more read after the end */
		cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
		ro.from = next;
		cairn_iter *it = NULL;
		cairn_status rc = cairn_read_all(sh->st, &ro, &it);
		if (rc != CAIRN_OK) {
			problem(&sh->log, "tail read_all: %s", cairn_status_str(rc));
			return NULL;
		}
		const cairn_event *e;
		unsigned cur_aid = 0;
		int cur_idx = -1, cur_cnt = 0;
		while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
			unsigned aid;
			int idx, cnt;
			if (e->position != next) {
				problem(&sh->log, "tail: position %llu, expected %llu",
				        (unsigned long long)e->position,
				        (unsigned long long)next);
				break;
			}
			next++;
			if (!parse_atom(e, &aid, &idx, &cnt)) {
				problem(&sh->log, "tail: bad data at %llu",
				        (unsigned long long)e->position);
				break;
			}
			if (cur_idx == -1 || cur_idx == cur_cnt - 1) {
				if (idx != 0)
					problem(&sh->log,
					        "tail: position %llu is event %d of append "
					        "%u, but its event 0 was not just before",
					        (unsigned long long)e->position, idx, aid);
			} else if (aid != cur_aid || idx != cur_idx + 1) {
				problem(&sh->log,
				        "tail: append %u interrupted at event %d of %d "
				        "by append %u event %d (position %llu)",
				        cur_aid, cur_idx, cur_cnt, aid, idx,
				        (unsigned long long)e->position);
			}
			cur_aid = aid;
			cur_idx = idx;
			cur_cnt = cnt;
			__atomic_fetch_add(&sh->events_seen, 1, __ATOMIC_RELAXED);
		}
		if (rc != CAIRN_ROW && rc != CAIRN_DONE)
			problem(&sh->log, "tail next: %s", cairn_status_str(rc));
		if (rc == CAIRN_DONE && cur_idx != -1 && cur_idx != cur_cnt - 1)
			problem(&sh->log,
			        "tail: the read ended after event %d of %d of append "
			        "%u: part of an append was visible",
			        cur_idx, cur_cnt, cur_aid);
		cairn_iter_free(it);
		if (has_problems(&sh->log))
			return NULL;
		__atomic_fetch_add(&sh->tail_reads, 1, __ATOMIC_RELAXED);
		sched_yield();
	}
	return NULL;
}

/* Reads the newest events backwards, and the event at cairn_head(): the
 * newest visible event always ends its append. */
static void *atom_back_main(void *p)
{
	struct atom_shared *sh = p;
	while (!writers_done(sh) && !has_problems(&sh->log)) {
		uint64_t head = 0;
		if (cairn_head(sh->st, &head) != CAIRN_OK) {
			problem(&sh->log, "head failed");
			return NULL;
		}
		cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
		ro.backwards = 1;
		ro.limit = 12;
		/* alternate: from the end, and from the head just read */
		ro.from = (sh->back_reads % 2) ? head : 0;
		cairn_iter *it = NULL;
		if (cairn_read_all(sh->st, &ro, &it) != CAIRN_OK) {
			problem(&sh->log, "backwards read_all failed");
			return NULL;
		}
		const cairn_event *e;
		cairn_status rc;
		uint64_t prev = 0;
		int expect_idx = -1; /* -1: the first event must end its append */
		unsigned cur_aid = 0;
		while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
			unsigned aid;
			int idx, cnt;
			if (!parse_atom(e, &aid, &idx, &cnt)) {
				problem(&sh->log, "back: bad data");
				break;
			}
			if (prev == 0) {
				if (ro.from != 0 && e->position != head)
					problem(&sh->log,
					        "back: from head %llu the first event is at "
					        "%llu",
					        (unsigned long long)head,
					        (unsigned long long)e->position);
				if (ro.from == 0 && e->position < head)
					problem(&sh->log,
					        "back: the newest event %llu is older than "
					        "the head %llu read before",
					        (unsigned long long)e->position,
					        (unsigned long long)head);
				if (idx != cnt - 1)
					problem(&sh->log,
					        "back: the newest visible event (position "
					        "%llu) is event %d of %d of append %u",
					        (unsigned long long)e->position, idx, cnt, aid);
			} else {
				if (e->position != prev - 1)
					problem(&sh->log, "back: gap below %llu",
					        (unsigned long long)prev);
				if (expect_idx >= 0 && (aid != cur_aid || idx != expect_idx))
					problem(&sh->log,
					        "back: append %u interrupted (position %llu)",
					        cur_aid, (unsigned long long)e->position);
				if (expect_idx < 0 && idx != cnt - 1)
					problem(&sh->log,
					        "back: append %u does not end at %llu", aid,
					        (unsigned long long)e->position);
			}
			prev = e->position;
			cur_aid = aid;
			expect_idx = idx - 1;
		}
		if (rc != CAIRN_ROW && rc != CAIRN_DONE)
			problem(&sh->log, "back next: %s", cairn_status_str(rc));
		cairn_iter_free(it);
		__atomic_fetch_add(&sh->back_reads, 1, __ATOMIC_RELAXED);
		sched_yield();
	}
	return NULL;
}

/* Writers do single- and multi-stream appends of K events; readers follow
 * $all forwards and read it backwards at the same time, and must never see
 * part of one append, a gap, or an event twice.  Snapshot renewal is
 * frequent (lmdb) so that reads cross many commits. */
static void test_concurrent_readers_see_whole_appends(void **state)
{
	conf_fixture *fx = *state;
	cairn_options o;
	cairn_options_init(&o);
	o.read_renew_every = 3;
	open_fresh_store(fx, &o);

	struct atom_shared *sh = calloc(1, sizeof *sh);
	assert_non_null(sh);
	sh->st = fx->st;
	sh->started = conf_now();
	pthread_mutex_init(&sh->log.mu, NULL);
	struct atom_writer wargs[ATOM_WRITERS];
	memset(wargs, 0, sizeof wargs);
	pthread_t wth[ATOM_WRITERS], tail_th, back_th;
	for (int w = 0; w < ATOM_WRITERS; w++) {
		wargs[w].sh = sh;
		wargs[w].writer = w;
	}
	assert_int_equal(pthread_create(&tail_th, NULL, atom_tail_main, sh), 0);
	assert_int_equal(pthread_create(&back_th, NULL, atom_back_main, sh), 0);
	start_threads(wth, ATOM_WRITERS, atom_writer_main, wargs,
	              sizeof wargs[0]);
	join_threads(wth, ATOM_WRITERS);
	pthread_mutex_lock(&sh->log.mu);
	sh->writers_done = 1;
	pthread_mutex_unlock(&sh->log.mu);
	assert_int_equal(pthread_join(tail_th, NULL), 0);
	assert_int_equal(pthread_join(back_th, NULL), 0);
	assert_no_problems(&sh->log);

	uint64_t total = 0;
	int appends = 0;
	for (int w = 0; w < ATOM_WRITERS; w++) {
		assert_true(wargs[w].appends >= ATOM_APPENDS);
		total += wargs[w].events;
		appends += wargs[w].appends;
	}
	assert_int_equal(conf_head(fx->st), total);
	assert_int_equal(sh->events_seen, total);
	assert_true(sh->tail_reads > 1);
	assert_true(sh->back_reads > 0);
	printf("[     INFO ] %lu tail reads, %lu backward reads during %d "
	       "appends of %llu events\n",
	       sh->tail_reads, sh->back_reads, appends,
	       (unsigned long long)total);
	pthread_mutex_destroy(&sh->log.mu);
	free(sh);
}

/* ---- idempotent retries racing each other ---- */

enum { IDEM_ROUNDS = 60, IDEM_EVENTS = 3 };

struct idem_shared {
	cairn_store *st;
	pthread_barrier_t barrier;
	cairn_uuid ids[IDEM_ROUNDS][IDEM_EVENTS];
	cairn_status rc[IDEM_ROUNDS][NTHREADS];
	int idempotent[IDEM_ROUNDS][NTHREADS];
	uint64_t first[IDEM_ROUNDS][NTHREADS];
	uint64_t last[IDEM_ROUNDS][NTHREADS];
};

struct idem_arg {
	struct idem_shared *sh;
	int thread;
};

static void *idem_main(void *p)
{
	struct idem_arg *a = p;
	struct idem_shared *sh = a->sh;
	for (int r = 0; r < IDEM_ROUNDS; r++) {
		cairn_new_event evs[IDEM_EVENTS];
		for (int k = 0; k < IDEM_EVENTS; k++) {
			evs[k] = conf_ev("Retried", "{}");
			evs[k].id = &sh->ids[r][k];
		}
		char other[32];
		snprintf(other, sizeof other, "idem-side-%d", r % 3);
		cairn_write w[2] = {{"idem-main", r * 2, evs, 2},
		                    {other, CAIRN_ANY, &evs[2], 1}};
		cairn_append_result res;
		memset(&res, 0, sizeof res);
		pthread_barrier_wait(&sh->barrier);
		sh->rc[r][a->thread] = cairn_append_multi(sh->st, w, 2, &res);
		sh->idempotent[r][a->thread] = res.idempotent;
		sh->first[r][a->thread] = res.first_position;
		sh->last[r][a->thread] = res.last_position;
	}
	return NULL;
}

/* Eight threads send the same multi-stream append (same ids) at once, as
 * clients retrying after a timeout do: all succeed, exactly one writes,
 * the others report idempotent with the same positions. */
static void test_concurrent_idempotent_retries(void **state)
{
	conf_fixture *fx = *state;
	struct idem_shared *sh = calloc(1, sizeof *sh);
	assert_non_null(sh);
	sh->st = fx->st;
	for (int r = 0; r < IDEM_ROUNDS; r++)
		for (int k = 0; k < IDEM_EVENTS; k++)
			sh->ids[r][k] = conf_uuid();
	assert_int_equal(pthread_barrier_init(&sh->barrier, NULL, NTHREADS), 0);
	struct idem_arg args[NTHREADS];
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		args[t].sh = sh;
		args[t].thread = t;
	}
	start_threads(th, NTHREADS, idem_main, args, sizeof args[0]);
	join_threads(th, NTHREADS);
	pthread_barrier_destroy(&sh->barrier);

	for (int r = 0; r < IDEM_ROUNDS; r++) {
		int writers = 0;
		uint64_t first = (uint64_t)r * IDEM_EVENTS + 1;
		for (int t = 0; t < NTHREADS; t++) {
			if (sh->rc[r][t] != CAIRN_OK)
				print_error("round %d thread %d\n", r, t);
			assert_status(sh->rc[r][t], CAIRN_OK);
			if (!sh->idempotent[r][t])
				writers++;
			assert_int_equal(sh->first[r][t], first);
			assert_int_equal(sh->last[r][t], first + IDEM_EVENTS - 1);
		}
		if (writers != 1)
			print_error("round %d: %d threads wrote\n", r, writers);
		assert_int_equal(writers, 1);
	}
	assert_int_equal(conf_head(fx->st), IDEM_ROUNDS * IDEM_EVENTS);
	assert_int_equal(conf_version(fx->st, "idem-main"), IDEM_ROUNDS * 2);
	uint64_t problems = 99;
	assert_status(cairn_verify(fx->st, NULL, NULL, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);
	free(sh);
}

/* ---- optimistic read-decide-append loops ---- */

enum { ACCOUNTS = 6, TRANSFERS = 40, MAX_RECORDS = TRANSFERS };

/* What a thread believed when its transfer committed: the versions of the
 * two accounts it checked against. */
struct transfer_rec {
	int from, to;
	uint64_t from_version, to_version;
};

struct transfer_arg {
	cairn_store *st;
	pthread_barrier_t *barrier;
	int thread;
	struct problem_log *log;
	struct transfer_rec done[MAX_RECORDS];
	int ndone;
	int conflicts;
};

static void *transfer_main(void *p)
{
	struct transfer_arg *a = p;
	unsigned seed = (unsigned)a->thread * 7919u + 17u;
	pthread_barrier_wait(a->barrier);
	while (a->ndone < TRANSFERS) {
		seed = seed * 1103515245u + 12345u;
		int from = (int)((seed >> 16) % ACCOUNTS);
		int to = (from + 1 + (int)((seed >> 8) % (ACCOUNTS - 1))) % ACCOUNTS;
		char sf[32], stt[32];
		snprintf(sf, sizeof sf, "account-%d", from);
		snprintf(stt, sizeof stt, "account-%d", to);
		uint64_t vf, vt;
		if (cairn_stream_version(a->st, sf, &vf) != CAIRN_OK ||
		    cairn_stream_version(a->st, stt, &vt) != CAIRN_OK) {
			problem(a->log, "stream_version failed");
			return NULL;
		}
		/* decide slowly, so that others get in between */
		sched_yield();
		char data[64];
		snprintf(data, sizeof data, "t=%d n=%d", a->thread, a->ndone);
		cairn_new_event out = conf_ev("Debited", data);
		cairn_new_event in = conf_ev("Credited", data);
		cairn_write w[2] = {{sf, (int64_t)vf, &out, 1},
		                    {stt, (int64_t)vt, &in, 1}};
		cairn_status rc = cairn_append_multi(a->st, w, 2, NULL);
		if (rc == CAIRN_CONFLICT) {
			a->conflicts++;
			continue;
		}
		if (rc != CAIRN_OK) {
			problem(a->log, "transfer: %s: %s", cairn_status_str(rc),
			        cairn_last_error());
			return NULL;
		}
		struct transfer_rec *t = &a->done[a->ndone++];
		t->from = from;
		t->to = to;
		t->from_version = vf;
		t->to_version = vt;
	}
	return NULL;
}

/* Threads transfer between six accounts with read-version-then-append
 * loops (the executor's model): every committed transfer sits exactly at
 * the versions its writer checked, in both streams: no lost update, no
 * half transfer. */
static void test_concurrent_optimistic_transfers(void **state)
{
	conf_fixture *fx = *state;
	struct problem_log log;
	memset(&log, 0, sizeof log);
	pthread_mutex_init(&log.mu, NULL);
	struct transfer_arg *args = calloc(NTHREADS, sizeof *args);
	assert_non_null(args);
	pthread_t th[NTHREADS];
	pthread_barrier_t barrier;
	assert_int_equal(pthread_barrier_init(&barrier, NULL, NTHREADS), 0);
	for (int t = 0; t < NTHREADS; t++) {
		args[t].st = fx->st;
		args[t].barrier = &barrier;
		args[t].thread = t;
		args[t].log = &log;
	}
	start_threads(th, NTHREADS, transfer_main, args, sizeof args[0]);
	join_threads(th, NTHREADS);
	pthread_barrier_destroy(&barrier);
	assert_no_problems(&log);

	/* read each account into a table: version -> "t=T n=N" */
	char *table[ACCOUNTS][NTHREADS * TRANSFERS + 1];
	uint64_t versions[ACCOUNTS];
	uint64_t events = 0;
	int conflicts = 0;
	for (int acc = 0; acc < ACCOUNTS; acc++) {
		char s[32];
		snprintf(s, sizeof s, "account-%d", acc);
		conf_rec *recs;
		size_t n = conf_read_stream(fx->st, s, NULL, &recs);
		assert_true(n <= NTHREADS * TRANSFERS);
		versions[acc] = n;
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(recs[i].version, i + 1);
			table[acc][i + 1] = strdup((char *)recs[i].data);
		}
		events += n;
		conf_recs_free(recs, n);
	}
	assert_int_equal(events, 2u * NTHREADS * TRANSFERS);
	for (int t = 0; t < NTHREADS; t++) {
		assert_int_equal(args[t].ndone, TRANSFERS);
		conflicts += args[t].conflicts;
		for (int k = 0; k < TRANSFERS; k++) {
			struct transfer_rec *r = &args[t].done[k];
			char want[64];
			snprintf(want, sizeof want, "t=%d n=%d", t, k);
			assert_true(r->from_version + 1 <= versions[r->from]);
			assert_true(r->to_version + 1 <= versions[r->to]);
			assert_string_equal(table[r->from][r->from_version + 1], want);
			assert_string_equal(table[r->to][r->to_version + 1], want);
		}
	}
	for (int acc = 0; acc < ACCOUNTS; acc++)
		for (uint64_t v = 1; v <= versions[acc]; v++)
			free(table[acc][v]);
	printf("[     INFO ] %d transfers, %d conflicts retried\n",
	       NTHREADS * TRANSFERS, conflicts);
	pthread_mutex_destroy(&log.mu);
	free(args);
}

static const struct CMUnitTest concurrency_tests[] = {
	CONF_TEST(test_concurrent_same_expected_version),
	CONF_TEST(test_concurrent_distinct_streams),
	CONF_TEST(test_concurrent_readers_see_whole_appends),
	CONF_TEST(test_concurrent_idempotent_retries),
	CONF_TEST(test_concurrent_optimistic_transfers),
};

int conf_group_concurrency(void)
{
	return cmocka_run_group_tests_name("concurrency", concurrency_tests,
	                                   conf_group_setup, conf_group_teardown);
}
