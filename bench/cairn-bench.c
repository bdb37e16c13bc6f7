/*
 * cairn-bench.c -- cairn's benchmark program.
 *
 *     cairn-bench [--store-dir DIR] [--backend lmdb|memory|sqlite|postgres]
 *                 [--only W1,W1c,...] [--big] [--verify]
 *
 * First measures what the disk under DIR allows (the baseline the durable
 * write figures are judged against), then runs each workload against the
 * store through the public API only (include/cairn.h) and prints one
 * result line per workload:
 *
 *     W1    lmdb    events/s=7423  (92.8% of fdatasync loop)  target>=90%  PASS
 *
 * Every other line starts with "# ".  bench/README.md defines each
 * workload exactly and says how memory is measured.  Exit status: 0 when
 * every target was met, 1 when one was missed, 2 on an error.
 */
#include "bench.h"
#include "cairn.h"
#include "w8.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAYLOAD_SIZE 256  /* bytes of JSON per event */
#define PAYLOAD_POOL 1024 /* distinct payloads, built before timing */
#define NAME_LEN 32
#define URI_MAX (PATH_MAX + 32) /* "lmdb:" DIR "/" name */
#define NSTREAMS 1000           /* streams of W1, W2, W4, W5 */

#define W1_APPENDS 20000
#define W1_TARGET_FRACTION 0.90 /* of the preallocated fdatasync loop */
#define W1C_THREADS 8
#define W1C_STREAMS_PER_THREAD (NSTREAMS / W1C_THREADS)
#define W1C_APPENDS_PER_THREAD (W1_APPENDS / W1C_THREADS)
#define W1C_TARGET_FACTOR 5.0 /* times W1 */
#define W2_BATCH 100
#define W2_EVENTS 1000000u
#define W2_TARGET 500000.0 /* events/s */
#define W3_EVENTS 1000000u
#define W3_BIG_EVENTS 10000000u
#define W3_TARGET 6000000.0 /* events/s */
#define W3_RSS_TARGET_KIB (16L * 1024L)
#define W4_EVENTS 1000000u
#define W4_TARGET 8000000.0 /* events/s */
#define W5_GROUPS 1000
#define W5_GROUP_CALLS 1000
#define W5_WARMUP_CALLS 10000
#define W5_TARGET_NS 1000.0
/* a size's timing stops after the group that passes this (a network
 * engine: 1,000,000 round trips per size); the figures are then over
 * the groups done, and the # line says how many */
#define W5_MAX_SECONDS 30.0
#define W67_THREADS 8 /* the concurrent runs of W6 and W7 */
#define W67_MAX_THREADS W67_THREADS
#define W6_COMMANDS 8000     /* per run, over all threads */
#define W6_OPENING_EVENTS 10 /* per account, written untimed */
#define W6_OVERDRAFT 10      /* units an account may go below zero */
#define W6_MAX_RETRIES 100   /* conflicts are measured, not fatal */
#define W7_APPENDS 8000      /* per throughput run, over all threads */
#define W7_PROBES 1000       /* timed calls of each kind per size */
#define W7_FLAT_FACTOR 2.0   /* 1M-event p50 / 10k-event p50, at most */

#define READ_PASSES 3              /* timed read passes; the median counts */
#define RSS_SAMPLE_EVERY 65536u    /* events between /proc samples */
#define LOAD_BATCH 10000u          /* events per untimed setup append */
#define LOAD_RUN 100u              /* events per stream per setup write */
#define LOAD_STREAMS_PER_CALL 100u /* writes per setup append_multi */

enum workload {
	WL_DISK,
	WL_W1,
	WL_W1C,
	WL_W2,
	WL_W3,
	WL_W4,
	WL_W5,
	WL_W6,
	WL_W7,
	WL_W8,
	WL_COUNT
};
static const char *const workload_names[WL_COUNT] = {
        "DISK", "W1", "W1c", "W2", "W3", "W4", "W5", "W6", "W7", "W8"};

/* V_INFO: a workload without a target, reported for its figures. */
enum verdict { V_FAIL = 0, V_PASS = 1, V_NA = 2, V_INFO = 3 };

struct bench {
	char dir[PATH_MAX];
	const char *backend; /* "lmdb", "sqlite" or "memory" */
	int big;
	int verify;
	unsigned only; /* bit (1 << workload) per selected one */
	struct bench_disk disk;
	int have_disk;
	double w1_rate; /* 0 when W1 did not run */
	int w2_kept;    /* DIR/w2 holds W2's complete store */
	int failed;     /* a target was missed */
	int errors;     /* a workload could not complete */
};

static unsigned char payloads[PAYLOAD_POOL][PAYLOAD_SIZE];
static char stream_names[NSTREAMS][NAME_LEN];

/* Events for untimed setup appends, and for W2's batches. */
static cairn_new_event load_events[LOAD_BATCH];

/* ------------------------------------------------------------------------
 * Payloads, names, events
 * ------------------------------------------------------------------------ */

/* A deposit/withdrawal record as an application would store it, padded
 * with a memo to exactly PAYLOAD_SIZE bytes of valid JSON. */
static void
make_payload(unsigned char *out, unsigned i)
{
	static const char *const currencies[] = {"EUR", "USD", "GBP"};
	static const char *const channels[] = {"web", "mobile", "branch",
	                                       "api"};
	char buf[PAYLOAD_SIZE + 1];
	int n;

	n = snprintf(buf, sizeof(buf),
	             "{\"account\":\"account-%04u\",\"amount\":%u,"
	             "\"currency\":\"%s\",\"reference\":\"inv-2024-%06u\","
	             "\"channel\":\"%s\",\"at\":\"2024-05-%02uT%02u:%02u:"
	             "%02uZ\",\"memo\":\"",
	             i % NSTREAMS, (i * 7919u) % 100000u, currencies[i % 3], i,
	             channels[i % 4], 1 + i % 28, i % 24, i % 60,
	             (i * 7u) % 60);
	if (n < 0 || n > PAYLOAD_SIZE - 2)
		abort(); /* the template above is fixed; cannot happen */
	memset(buf + n, 'x', (size_t)(PAYLOAD_SIZE - 2 - n));
	buf[PAYLOAD_SIZE - 2] = '"';
	buf[PAYLOAD_SIZE - 1] = '}';
	memcpy(out, buf, PAYLOAD_SIZE);
}

static void
init_data(void)
{
	unsigned i;

	for (i = 0; i < PAYLOAD_POOL; i++)
		make_payload(payloads[i], i);
	for (i = 0; i < NSTREAMS; i++)
		snprintf(stream_names[i], NAME_LEN, "account-%04u", i);
}

/* n events numbered from seq on: alternating types, pool payloads. */
static void
fill_events(cairn_new_event *ev, size_t n, uint64_t seq)
{
	static const cairn_new_event init = CAIRN_NEW_EVENT_INIT;
	size_t k;

	for (k = 0; k < n; k++, seq++) {
		ev[k] = init;
		ev[k].type = (seq & 1) ? "Withdrawn" : "Deposited";
		ev[k].data = payloads[seq % PAYLOAD_POOL];
		ev[k].data_len = PAYLOAD_SIZE;
	}
}

/* ------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------ */

static int
want(const struct bench *b, enum workload w)
{
	return (b->only >> w) & 1u;
}

/* One result line: workload, backend, the body, the verdict. */
static void result(struct bench *b, const char *w, enum verdict v,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
result(struct bench *b, const char *w, enum verdict v, const char *fmt, ...)
{
	char body[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (v == V_FAIL)
		b->failed = 1;
	printf("%-6s %-7s %s  %s\n", w, b->backend, body,
	       v == V_PASS   ? "PASS"
	       : v == V_FAIL ? "FAIL"
	       : v == V_NA   ? "N/A"
	                     : "INFO");
	fflush(stdout);
}

/* The result line of a workload that could not complete; the cairn
 * detail must be read before any other cairn call. */
static int error_line(struct bench *b, const char *w, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
error_line(struct bench *b, const char *w, const char *fmt, ...)
{
	char body[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	b->errors = 1;
	printf("%-6s %-7s ERROR  %s\n", w, b->backend, body);
	fflush(stdout);
	return -1;
}

static int
cairn_error(struct bench *b, const char *w, const char *what, cairn_status rc)
{
	return error_line(b, w, "%s: %s: %s", what, cairn_status_str(rc),
	                  cairn_last_error());
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-quantile (0..1) of v[0..n), sorting v. */
static double
quantile(double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0.0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static double
mib(long kib)
{
	return (double)kib / 1024.0;
}

/* "+12.3MiB", or "n/a" for a figure the kernel would not give. */
static const char *
mib_growth(long kib, char *buf, size_t size)
{
	if (kib < 0)
		snprintf(buf, size, "n/a");
	else
		snprintf(buf, size, "+%.1fMiB", mib(kib));
	return buf;
}

/* ------------------------------------------------------------------------
 * Stores
 * ------------------------------------------------------------------------ */

/*
 * The URI of a file-backed store at path (a directory of its own, so that
 * removing path removes the store): lmdb:path, or sqlite:path/events.db
 * with path created; for postgres a fresh schema named after path's last
 * component (bench_pg_store_uri(), bench.h).  Returns 0, or -1 when the
 * directory cannot be made or $CAIRN_PG_URI is unset.
 */
static int
store_uri(const struct bench *b, const char *path, char *uri, size_t urisize)
{
	if (strcmp(b->backend, "postgres") == 0)
		return bench_pg_store_uri(path, 1, uri, urisize);
	if (strcmp(b->backend, "sqlite") != 0) {
		snprintf(uri, urisize, "%s:%s", b->backend, path);
		return 0;
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	snprintf(uri, urisize, "sqlite:%s/events.db", path);
	return 0;
}

/* Open the store of workload `name` with the default (durable) options:
 * for lmdb and sqlite DIR/name, removed first when fresh; for postgres a
 * new schema when fresh, else the last one of that name; for memory a
 * new empty store.  uri receives what was opened. */
static int
store_open(struct bench *b, const char *w, const char *name, int fresh,
           cairn_store **st, char *uri, size_t urisize)
{
	cairn_options opts;
	cairn_status rc;
	char path[PATH_MAX + 16];

	*st = NULL;
	if (strcmp(b->backend, "memory") == 0) {
		snprintf(uri, urisize, "memory:");
	} else {
		snprintf(path, sizeof(path), "%s/%s", b->dir, name);
		if (fresh && bench_rm_rf(path) != 0)
			return error_line(b, w, "cannot remove %s: %s", path,
			                  strerror(errno));
		if (strcmp(b->backend, "postgres") == 0) {
			if (bench_pg_store_uri(name, fresh, uri, urisize) !=
			    0)
				return error_line(b, w, "postgres needs "
				                        "CAIRN_PG_URI");
		} else if (store_uri(b, path, uri, urisize) != 0)
			return error_line(b, w, "cannot create %s: %s", path,
			                  strerror(errno));
	}
	cairn_options_init(&opts);
	rc = cairn_open(uri, &opts, st);
	if (rc != CAIRN_OK)
		return cairn_error(b, w, "cairn_open", rc);
	return 0;
}

/* Close the store and, unless keep, remove its directory. */
static void
store_done(struct bench *b, const char *name, cairn_store *st, int keep)
{
	char path[PATH_MAX + 16];

	cairn_close(st);
	if (keep || strcmp(b->backend, "memory") == 0 ||
	    strcmp(b->backend, "postgres") == 0)
		return;
	snprintf(path, sizeof(path), "%s/%s", b->dir, name);
	if (bench_rm_rf(path) != 0)
		fprintf(stderr, "cannot remove %s: %s\n", path,
		        strerror(errno));
}

/* Untimed: append to one stream, LOAD_BATCH events per call, until it
 * holds `to` events (it holds *version now). */
static int
load_stream(struct bench *b, const char *w, cairn_store *st, const char *stream,
            uint64_t *version, uint64_t to)
{
	cairn_append_result res;
	cairn_status rc;

	while (*version < to) {
		size_t k = to - *version < LOAD_BATCH ? (size_t)(to - *version)
		                                      : LOAD_BATCH;

		fill_events(load_events, k, *version);
		rc = cairn_append(st, stream, (int64_t)*version, load_events, k,
		                  &res);
		if (rc != CAIRN_OK)
			return cairn_error(b, w, "setup cairn_append", rc);
		*version += k;
	}
	return 0;
}

/* Untimed: add per_stream events to each of the NSTREAMS streams, as runs
 * of LOAD_RUN events per stream, LOAD_STREAMS_PER_CALL streams per
 * atomic multi-stream append (the same interleaving as W2 writes). */
static int
load_streams(struct bench *b, const char *w, cairn_store *st,
             uint64_t *versions, uint64_t per_stream)
{
	cairn_write writes[LOAD_STREAMS_PER_CALL];
	cairn_append_result res;
	cairn_status rc;
	uint64_t done, seq = 0;
	size_t k, s0, i, nw;

	for (done = 0; done < per_stream; done += k) {
		k = per_stream - done < LOAD_RUN ? (size_t)(per_stream - done)
		                                 : LOAD_RUN;
		for (s0 = 0; s0 < NSTREAMS; s0 += nw) {
			nw = NSTREAMS - s0 < LOAD_STREAMS_PER_CALL
			             ? NSTREAMS - s0
			             : LOAD_STREAMS_PER_CALL;
			fill_events(load_events, nw * k, seq);
			seq += nw * k;
			for (i = 0; i < nw; i++) {
				writes[i].stream = stream_names[s0 + i];
				writes[i].expected = (int64_t)versions[s0 + i];
				writes[i].events = load_events + i * k;
				writes[i].nevents = k;
			}
			rc = cairn_append_multi(st, writes, nw, &res);
			if (rc != CAIRN_OK)
				return cairn_error(b, w, "setup append_multi",
				                   rc);
			for (i = 0; i < nw; i++)
				versions[s0 + i] += k;
		}
	}
	return 0;
}

/* The store's head must be `expect`: positions are gapless on every
 * backend cairn-bench runs, so anything else is a bug worth a stop. */
static int
check_head(struct bench *b, const char *w, cairn_store *st, uint64_t expect)
{
	uint64_t head = 0;
	cairn_status rc = cairn_head(st, &head);

	if (rc != CAIRN_OK)
		return cairn_error(b, w, "cairn_head", rc);
	if (head != expect)
		return error_line(b, w, "head is %llu after %llu events",
		                  (unsigned long long)head,
		                  (unsigned long long)expect);
	return 0;
}

/* ------------------------------------------------------------------------
 * Disk baseline
 * ------------------------------------------------------------------------ */

static void
run_disk(struct bench *b)
{
	struct bench_disk *d = &b->disk;

	printf("# DISK: 4 KiB pwrite+fdatasync loops and a 256 MiB "
	       "sequential write in %s\n",
	       b->dir);
	fflush(stdout);
	if (bench_disk_measure(b->dir, d) != 0) {
		b->errors = 1;
		printf("%-6s %-7s ERROR  disk baseline failed (see stderr)\n",
		       "DISK", "-");
		return;
	}
	b->have_disk = 1;
	printf("%-6s %-7s syncs/s=%.0f  (4 KiB pwrite+fdatasync over a "
	       "preallocated, written file; %u iterations)\n",
	       "DISK", "prealloc", d->prealloc_syncs_per_s, d->prealloc_n);
	printf("%-6s %-7s syncs/s=%.0f  (4 KiB append+fdatasync, growing "
	       "file; %u iterations)\n",
	       "DISK", "grow", d->grow_syncs_per_s, d->grow_n);
	printf("%-6s %-7s MiB/s=%.0f  (256 MiB in 1 MiB writes + one "
	       "fdatasync)\n",
	       "DISK", "seq", d->seq_mib_per_s);
	fflush(stdout);
}

/* ------------------------------------------------------------------------
 * W1: one writer, single-event appends, exact expected versions
 * ------------------------------------------------------------------------ */

static int
w1_appends(struct bench *b, cairn_store *st, double *lat, double *secs)
{
	uint64_t versions[NSTREAMS] = {0};
	cairn_append_result res;
	cairn_new_event ev;
	cairn_status rc;
	double t0, t;
	unsigned i;

	t0 = bench_now();
	for (i = 0; i < W1_APPENDS; i++) {
		unsigned s = i % NSTREAMS;
		double ts = bench_now();

		fill_events(&ev, 1, i);
		rc = cairn_append(st, stream_names[s], (int64_t)versions[s],
		                  &ev, 1, &res);
		t = bench_now();
		lat[i] = t - ts;
		if (rc != CAIRN_OK)
			return cairn_error(b, "W1", "cairn_append", rc);
		if (res.version != versions[s] + 1)
			return error_line(b, "W1",
			                  "%s: version %llu after "
			                  "append at %llu",
			                  stream_names[s],
			                  (unsigned long long)res.version,
			                  (unsigned long long)versions[s]);
		versions[s]++;
	}
	*secs = bench_now() - t0;
	return 0;
}

/* The sync loop once more, right after W1, only shown: a virtual disk's
 * rate drifts, and the reader should see how far.  W1 is judged against
 * the DISK line, measured before it. */
static void
w1_remeasure(struct bench *b, double rate)
{
	struct bench_disk again;

	if (strcmp(b->backend, "memory") == 0 ||
	    bench_disk_prealloc(b->dir, &again) != 0)
		return;
	printf("# W1: sync loop re-measured after W1: %.0f syncs/s "
	       "(W1 = %.1f%% of it)\n",
	       again.prealloc_syncs_per_s,
	       100.0 * rate / again.prealloc_syncs_per_s);
}

static void
run_w1(struct bench *b)
{
	cairn_store *st;
	char uri[URI_MAX];
	double *lat, secs = 0, cpu0, rate, p50, p99, pct;
	enum verdict v;

	lat = malloc(W1_APPENDS * sizeof(*lat));
	if (lat == NULL) {
		error_line(b, "W1", "out of memory");
		return;
	}
	if (store_open(b, "W1", "w1", 1, &st, uri, sizeof(uri)) != 0)
		goto out;
	cpu0 = bench_cpu_seconds();
	if (w1_appends(b, st, lat, &secs) != 0) {
		store_done(b, "w1", st, 0);
		goto out;
	}
	cpu0 = bench_cpu_seconds() - cpu0;
	store_done(b, "w1", st, 0);
	rate = W1_APPENDS / secs;
	b->w1_rate = rate;
	p50 = quantile(lat, W1_APPENDS, 0.50) * 1e6;
	p99 = quantile(lat, W1_APPENDS, 0.99) * 1e6;
	printf("# W1: %d appends of 1 event over %d streams in %.2f s; "
	       "latency p50=%.0f us p99=%.0f us; cpu %.2f s\n",
	       W1_APPENDS, NSTREAMS, secs, p50, p99, cpu0);
	if (!b->have_disk) {
		result(b, "W1", V_NA,
		       "events/s=%.0f  (no disk baseline)  "
		       "target>=%.0f%% of fdatasync loop",
		       rate, W1_TARGET_FRACTION * 100);
		goto out;
	}
	w1_remeasure(b, rate);
	pct = 100.0 * rate / b->disk.prealloc_syncs_per_s;
	v = rate >= W1_TARGET_FRACTION * b->disk.prealloc_syncs_per_s ? V_PASS
	                                                              : V_FAIL;
	result(b, "W1", v,
	       "events/s=%.0f  (%.1f%% of fdatasync loop)  "
	       "target>=%.0f%%",
	       rate, pct, W1_TARGET_FRACTION * 100);
out:
	free(lat);
}

/* ------------------------------------------------------------------------
 * W1c: W1's appends from 8 threads on disjoint streams
 * ------------------------------------------------------------------------ */

struct w1c_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open; /* 1: go; -1: give up */
};

struct w1c_thread {
	struct w1c_gate *gate;
	cairn_store *st;
	unsigned t;
	double *lat; /* W1C_APPENDS_PER_THREAD latencies */
	int ok;
	char err[768];
};

static void *
w1c_main(void *arg)
{
	struct w1c_thread *a = arg;
	uint64_t versions[W1C_STREAMS_PER_THREAD] = {0};
	cairn_append_result res;
	cairn_new_event ev;
	cairn_status rc;
	unsigned i, j, s;
	int go;

	pthread_mutex_lock(&a->gate->mu);
	while (a->gate->open == 0)
		pthread_cond_wait(&a->gate->cv, &a->gate->mu);
	go = a->gate->open;
	pthread_mutex_unlock(&a->gate->mu);
	if (go < 0)
		return NULL;
	for (i = 0; i < W1C_APPENDS_PER_THREAD; i++) {
		double ts = bench_now();

		j = i % W1C_STREAMS_PER_THREAD;
		s = a->t * W1C_STREAMS_PER_THREAD + j;
		fill_events(&ev, 1, i);
		rc = cairn_append(a->st, stream_names[s], (int64_t)versions[j],
		                  &ev, 1, &res);
		a->lat[i] = bench_now() - ts;
		if (rc != CAIRN_OK) {
			snprintf(a->err, sizeof(a->err),
			         "thread %u: cairn_append %s: %s: %s", a->t,
			         stream_names[s], cairn_status_str(rc),
			         cairn_last_error());
			return NULL;
		}
		versions[j]++;
	}
	a->ok = 1;
	return NULL;
}

/* Start the threads, open the gate, time until the last one is joined.
 * Returns 0 when every thread completed all of its appends. */
static int
w1c_run_threads(struct bench *b, cairn_store *st, double *lat, double *secs)
{
	struct w1c_gate gate = {PTHREAD_MUTEX_INITIALIZER,
	                        PTHREAD_COND_INITIALIZER, 0};
	struct w1c_thread th[W1C_THREADS];
	pthread_t tid[W1C_THREADS];
	unsigned i, started = 0;
	double t0;
	int err, rc = 0;

	memset(th, 0, sizeof(th));
	for (i = 0; i < W1C_THREADS; i++, started++) {
		th[i].gate = &gate;
		th[i].st = st;
		th[i].t = i;
		th[i].lat = lat + (size_t)i * W1C_APPENDS_PER_THREAD;
		err = pthread_create(&tid[i], NULL, w1c_main, &th[i]);
		if (err != 0) {
			rc = error_line(b, "W1c", "pthread_create: %s",
			                strerror(err));
			break;
		}
	}
	pthread_mutex_lock(&gate.mu);
	gate.open = rc == 0 ? 1 : -1;
	t0 = bench_now();
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	*secs = bench_now() - t0;
	for (i = 0; rc == 0 && i < W1C_THREADS; i++)
		if (!th[i].ok)
			rc = error_line(b, "W1c", "%s", th[i].err);
	return rc;
}

static void
run_w1c(struct bench *b)
{
	const size_t total = (size_t)W1C_THREADS * W1C_APPENDS_PER_THREAD;
	cairn_store *st;
	char uri[URI_MAX];
	double *lat, secs = 0, cpu0, rate;

	lat = malloc(total * sizeof(*lat));
	if (lat == NULL) {
		error_line(b, "W1c", "out of memory");
		return;
	}
	if (store_open(b, "W1c", "w1c", 1, &st, uri, sizeof(uri)) != 0)
		goto out;
	cpu0 = bench_cpu_seconds();
	if (w1c_run_threads(b, st, lat, &secs) != 0) {
		store_done(b, "w1c", st, 0);
		goto out;
	}
	cpu0 = bench_cpu_seconds() - cpu0;
	store_done(b, "w1c", st, 0);
	rate = (double)total / secs;
	printf("# W1c: %d threads x %d appends of 1 event, %d streams each, "
	       "in %.2f s; latency p50=%.0f us p99=%.0f us; cpu %.2f s\n",
	       W1C_THREADS, W1C_APPENDS_PER_THREAD, W1C_STREAMS_PER_THREAD,
	       secs, quantile(lat, total, 0.50) * 1e6,
	       quantile(lat, total, 0.99) * 1e6, cpu0);
	if (b->w1_rate <= 0) {
		result(b, "W1c", V_NA,
		       "events/s=%.0f  (W1 not run)  "
		       "target>=%.0fx W1",
		       rate, W1C_TARGET_FACTOR);
		goto out;
	}
	result(b, "W1c",
	       rate >= W1C_TARGET_FACTOR * b->w1_rate ? V_PASS : V_FAIL,
	       "events/s=%.0f  (%.1fx W1)  target>=%.0fx W1", rate,
	       rate / b->w1_rate, W1C_TARGET_FACTOR);
out:
	free(lat);
}

/* ------------------------------------------------------------------------
 * W2: one writer, appends of 100 events, 1,000,000 events
 * ------------------------------------------------------------------------ */

static int
w2_appends(struct bench *b, cairn_store *st, double *lat, double *secs)
{
	uint64_t versions[NSTREAMS] = {0};
	cairn_append_result res;
	cairn_status rc;
	double t0;
	unsigned j;

	t0 = bench_now();
	for (j = 0; j < W2_EVENTS / W2_BATCH; j++) {
		unsigned s = j % NSTREAMS;
		double ts = bench_now();

		fill_events(load_events, W2_BATCH, (uint64_t)j * W2_BATCH);
		rc = cairn_append(st, stream_names[s], (int64_t)versions[s],
		                  load_events, W2_BATCH, &res);
		lat[j] = bench_now() - ts;
		if (rc != CAIRN_OK)
			return cairn_error(b, "W2", "cairn_append", rc);
		if (res.version != versions[s] + W2_BATCH ||
		    res.last_position - res.first_position != W2_BATCH - 1)
			return error_line(
			        b, "W2",
			        "%s: append returned version %llu "
			        "positions %llu..%llu",
			        stream_names[s],
			        (unsigned long long)res.version,
			        (unsigned long long)res.first_position,
			        (unsigned long long)res.last_position);
		versions[s] += W2_BATCH;
	}
	*secs = bench_now() - t0;
	return check_head(b, "W2", st, W2_EVENTS);
}

static void
verify_problem(void *ctx, const char *problem)
{
	unsigned long *n = ctx;

	if (++*n <= 20)
		printf("# W2 verify: %s\n", problem);
}

/* --verify: reopen W2's store and run cairn_verify() on it (untimed). */
static void
w2_verify(struct bench *b)
{
	cairn_store *st;
	char uri[URI_MAX];
	uint64_t problems = 0;
	unsigned long shown = 0;
	cairn_status rc;
	double t0;

	if (store_open(b, "W2", "w2", 0, &st, uri, sizeof(uri)) != 0)
		return;
	t0 = bench_now();
	rc = cairn_verify(st, verify_problem, &shown, &problems);
	if (rc != CAIRN_OK)
		cairn_error(b, "W2", "cairn_verify", rc);
	else
		printf("# W2 verify: %llu problem(s) in %.2f s\n",
		       (unsigned long long)problems, bench_now() - t0);
	if (problems > 0)
		b->errors = 1;
	cairn_close(st);
}

static void
run_w2(struct bench *b)
{
	const size_t nappends = W2_EVENTS / W2_BATCH;
	cairn_store *st;
	char uri[URI_MAX];
	double *lat, secs = 0, cpu0, rate;
	int lmdb = strcmp(b->backend, "memory") != 0;

	lat = malloc(nappends * sizeof(*lat));
	if (lat == NULL) {
		error_line(b, "W2", "out of memory");
		return;
	}
	if (store_open(b, "W2", "w2", 1, &st, uri, sizeof(uri)) != 0)
		goto out;
	cpu0 = bench_cpu_seconds();
	if (w2_appends(b, st, lat, &secs) != 0) {
		store_done(b, "w2", st, 0);
		goto out;
	}
	cpu0 = bench_cpu_seconds() - cpu0;
	store_done(b, "w2", st, 1);
	b->w2_kept = lmdb;
	rate = W2_EVENTS / secs;
	printf("# W2: %zu appends of %d events over %d streams in %.2f s; "
	       "latency p50=%.0f us p99=%.0f us; cpu %.2f s\n",
	       nappends, W2_BATCH, NSTREAMS, secs,
	       quantile(lat, nappends, 0.50) * 1e6,
	       quantile(lat, nappends, 0.99) * 1e6, cpu0);
	if (lmdb)
		printf("# W2: store kept: %s  (check it: cairn --store %s "
		       "verify)\n",
		       uri, uri);
	result(b, "W2", rate >= W2_TARGET ? V_PASS : V_FAIL,
	       "events/s=%.0f  (%d-event appends)  target>=%.0f", rate,
	       W2_BATCH, W2_TARGET);
	if (b->verify && lmdb)
		w2_verify(b);
out:
	free(lat);
}

/* ------------------------------------------------------------------------
 * Reads (W3, W4)
 * ------------------------------------------------------------------------ */

struct read_pass {
	double secs;
	uint64_t sum;         /* over payload bytes: keeps the work real */
	long anon_growth_kib; /* peak RssAnon during the pass - before */
	long hwm_growth_kib;  /* VmHWM after - VmRSS before; -1: unknown */
	long rss_file_kib;    /* RssFile at the end (mapped store pages) */
};

/* A byte from the middle of the payload, so that reading it is real. */
static unsigned
touch(const void *data, size_t len)
{
	return len > 0 ? ((const unsigned char *)data)[len / 2] : 0;
}

/* Read a stream (or $all when stream is NULL) from the start to the end,
 * touching every event, checking the count and the order, sampling
 * RssAnon every RSS_SAMPLE_EVERY events and at the end (before the
 * iterator is freed). */
static int
read_pass(struct bench *b, const char *w, cairn_store *st, const char *stream,
          uint64_t expect, struct read_pass *p)
{
	struct bench_mem m0, m;
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_status rc;
	uint64_t n = 0, last = 0, order = 0, sum = 0;
	long peak;
	int hwm_reset;
	double t0;

	memset(p, 0, sizeof(*p));
	hwm_reset = bench_hwm_reset() == 0;
	bench_mem_read(&m0);
	peak = m0.rss_anon_kib;
	t0 = bench_now();
	rc = stream != NULL ? cairn_read_stream(st, stream, NULL, &it)
	                    : cairn_read_all(st, NULL, &it);
	if (rc != CAIRN_OK)
		return cairn_error(b, w,
		                   stream != NULL ? "cairn_read_stream"
		                                  : "cairn_read_all",
		                   rc);
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		order = stream != NULL ? e->version : e->position;
		n++;
		if (stream != NULL ? order != n : order <= last)
			break;
		last = order;
		sum += e->data_len + touch(e->data, e->data_len);
		if (n % RSS_SAMPLE_EVERY == 0 && bench_mem_read(&m) == 0 &&
		    m.rss_anon_kib > peak)
			peak = m.rss_anon_kib;
	}
	if (bench_mem_read(&m) == 0 && m.rss_anon_kib > peak)
		peak = m.rss_anon_kib;
	p->secs = bench_now() - t0;
	if (rc != CAIRN_DONE && rc != CAIRN_ROW)
		cairn_error(b, w, "cairn_iter_next", rc);
	cairn_iter_free(it);
	if (rc != CAIRN_DONE && rc != CAIRN_ROW)
		return -1;
	if (rc == CAIRN_ROW)
		return error_line(b, w,
		                  "event %llu out of order (%s %llu "
		                  "after %llu)",
		                  (unsigned long long)n,
		                  stream != NULL ? "version" : "position",
		                  (unsigned long long)order,
		                  (unsigned long long)last);
	if (n != expect)
		return error_line(b, w, "read %llu events, expected %llu",
		                  (unsigned long long)n,
		                  (unsigned long long)expect);
	p->sum = sum;
	p->anon_growth_kib = m0.rss_anon_kib >= 0 ? peak - m0.rss_anon_kib : -1;
	p->hwm_growth_kib = hwm_reset ? m.vm_hwm_kib - m0.vm_rss_kib : -1;
	p->rss_file_kib = m.rss_file_kib;
	return 0;
}

/* READ_PASSES passes; the median rate counts, the first is shown too
 * (it pays for mapping the pages), the worst RSS growth counts. */
struct read_summary {
	double median_rate, first_rate, best_rate;
	long anon_growth_kib; /* max over the passes */
	long hwm_growth_kib;  /* first pass */
	uint64_t sum;
};

static int
read_passes(struct bench *b, const char *w, cairn_store *st, const char *stream,
            uint64_t expect, struct read_summary *s)
{
	struct read_pass p;
	double rates[READ_PASSES];
	char hwm[32];
	int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < READ_PASSES; i++) {
		if (read_pass(b, w, st, stream, expect, &p) != 0)
			return -1;
		rates[i] = (double)expect / p.secs;
		if (i == 0) {
			s->first_rate = rates[0];
			s->hwm_growth_kib = p.hwm_growth_kib;
		}
		if (p.anon_growth_kib < 0 || s->anon_growth_kib < 0)
			s->anon_growth_kib = -1; /* unknown taints the max */
		else if (p.anon_growth_kib > s->anon_growth_kib)
			s->anon_growth_kib = p.anon_growth_kib;
		s->sum += p.sum;
		printf("# %s: pass %d: %llu events in %.3f s (%.0f/s), RssAnon "
		       "+%.1fMiB, VmHWM %s, RssFile %.0fMiB\n",
		       w, i + 1, (unsigned long long)expect, p.secs, rates[i],
		       mib(p.anon_growth_kib),
		       mib_growth(p.hwm_growth_kib, hwm, sizeof(hwm)),
		       mib(p.rss_file_kib));
	}
	s->median_rate = quantile(rates, READ_PASSES, 0.5);
	s->best_rate = rates[READ_PASSES - 1]; /* quantile() sorted them */
	return 0;
}

/* ------------------------------------------------------------------------
 * W3: read one long stream start to end
 * ------------------------------------------------------------------------ */

static int
w3_measure(struct bench *b, const char *w, cairn_store *st, uint64_t n)
{
	struct read_summary s;
	enum verdict v;
	char anon[32], hwm[32];

	if (read_passes(b, w, st, "ledger-1", n, &s) != 0)
		return -1;
	if (s.median_rate < W3_TARGET || s.anon_growth_kib > W3_RSS_TARGET_KIB)
		v = V_FAIL;
	else
		v = s.anon_growth_kib < 0 ? V_NA : V_PASS;
	printf("# %s: checksum %llu; best pass %.0f/s\n", w,
	       (unsigned long long)s.sum, s.best_rate);
	result(b, w, v,
	       "events/s=%.0f  (median of %d passes, first %.0f)  "
	       "rss_anon_growth=%s  vmhwm_growth=%s  "
	       "target>=%.0f,rss_anon<=%.0fMiB",
	       s.median_rate, READ_PASSES, s.first_rate,
	       mib_growth(s.anon_growth_kib, anon, sizeof(anon)),
	       mib_growth(s.hwm_growth_kib, hwm, sizeof(hwm)), W3_TARGET,
	       mib(W3_RSS_TARGET_KIB));
	return 0;
}

static void
run_w3(struct bench *b)
{
	cairn_store *st;
	char uri[URI_MAX];
	uint64_t version = 0;
	double t0;

	if (store_open(b, "W3", "w3", 1, &st, uri, sizeof(uri)) != 0)
		return;
	t0 = bench_now();
	if (load_stream(b, "W3", st, "ledger-1", &version, W3_EVENTS) != 0)
		goto out;
	printf("# W3: wrote %u events to one stream in %.2f s (untimed)\n",
	       W3_EVENTS, bench_now() - t0);
	if (w3_measure(b, "W3", st, W3_EVENTS) != 0 || !b->big)
		goto out;
	t0 = bench_now();
	if (load_stream(b, "W3-10M", st, "ledger-1", &version, W3_BIG_EVENTS) !=
	    0)
		goto out;
	printf("# W3-10M: grew the stream to %u events in %.2f s "
	       "(untimed)\n",
	       W3_BIG_EVENTS, bench_now() - t0);
	w3_measure(b, "W3-10M", st, W3_BIG_EVENTS);
out:
	store_done(b, "w3", st, 0);
}

/* ------------------------------------------------------------------------
 * W4: read $all over 1,000,000 events in 1,000 streams
 * ------------------------------------------------------------------------ */

static void
run_w4(struct bench *b)
{
	uint64_t versions[NSTREAMS] = {0};
	struct read_summary s;
	cairn_store *st;
	char uri[URI_MAX];
	const char *name = b->w2_kept ? "w2" : "w4";
	double t0;

	if (store_open(b, "W4", name, !b->w2_kept, &st, uri, sizeof(uri)) != 0)
		return;
	if (b->w2_kept) {
		printf("# W4: reading W2's store %s\n", uri);
	} else {
		t0 = bench_now();
		if (load_streams(b, "W4", st, versions, W4_EVENTS / NSTREAMS) !=
		    0)
			goto out;
		printf("# W4: wrote %u events in %d streams in %.2f s "
		       "(untimed)\n",
		       W4_EVENTS, NSTREAMS, bench_now() - t0);
	}
	if (check_head(b, "W4", st, W4_EVENTS) != 0 ||
	    read_passes(b, "W4", st, NULL, W4_EVENTS, &s) != 0)
		goto out;
	printf("# W4: checksum %llu; best pass %.0f/s\n",
	       (unsigned long long)s.sum, s.best_rate);
	result(b, "W4", s.median_rate >= W4_TARGET ? V_PASS : V_FAIL,
	       "events/s=%.0f  (median of %d passes, first %.0f)  "
	       "target>=%.0f",
	       s.median_rate, READ_PASSES, s.first_rate, W4_TARGET);
out:
	store_done(b, name, st, b->w2_kept);
}

/* ------------------------------------------------------------------------
 * W5: stream_version, at 10k, 100k and 1M events
 * ------------------------------------------------------------------------ */

struct w5_point {
	uint64_t events;
	double median_ns, p99_ns;
};

/* W5_GROUPS timed groups of W5_GROUP_CALLS calls (a clock read per call
 * would cost as much as the call); each group gives a mean per call.
 * Fewer groups when the timed groups pass W5_MAX_SECONDS. */
static int
w5_measure(struct bench *b, cairn_store *st, uint64_t expect,
           struct w5_point *pt)
{
	static double groups[W5_GROUPS];
	const char *stream = stream_names[NSTREAMS / 2];
	cairn_status rc;
	uint64_t v;
	int g, i, calls, ngroups = W5_GROUPS;
	double timed = 0;

	for (g = -1; g < W5_GROUPS; g++) {
		double t0 = bench_now();

		if (timed > W5_MAX_SECONDS) {
			ngroups = g;
			break;
		}
		calls = g < 0 ? W5_WARMUP_CALLS : W5_GROUP_CALLS;
		for (i = 0; i < calls; i++) {
			rc = cairn_stream_version(st, stream, &v);
			if (rc != CAIRN_OK)
				return cairn_error(b, "W5",
				                   "cairn_stream_version", rc);
			if (v != expect)
				return error_line(b, "W5",
				                  "%s: version %llu,"
				                  " expected %llu",
				                  stream, (unsigned long long)v,
				                  (unsigned long long)expect);
		}
		if (g >= 0) {
			groups[g] = (bench_now() - t0) * 1e9 / calls;
			timed += groups[g] * calls / 1e9;
		}
	}
	pt->median_ns = quantile(groups, (size_t)ngroups, 0.50);
	pt->p99_ns = quantile(groups, (size_t)ngroups, 0.99);
	printf("# W5: %llu events: stream_version median %.0f ns/call, "
	       "p99 of group means %.0f ns",
	       (unsigned long long)pt->events, pt->median_ns, pt->p99_ns);
	if (ngroups < W5_GROUPS)
		printf(" (CUT SHORT: %d groups of %d calls, %.1f s, not %d)",
		       ngroups, W5_GROUP_CALLS, timed, W5_GROUPS);
	printf("\n");
	return 0;
}

static void
run_w5(struct bench *b)
{
	static const uint64_t sizes[] = {10000, 100000, 1000000};
	enum { NSIZES = sizeof(sizes) / sizeof(sizes[0]) };
	uint64_t versions[NSTREAMS] = {0};
	struct w5_point pts[NSIZES];
	cairn_store *st;
	char uri[URI_MAX];
	uint64_t have = 0;
	int i, ok = 1;

	if (store_open(b, "W5", "w5", 1, &st, uri, sizeof(uri)) != 0)
		return;
	for (i = 0; i < NSIZES; i++) {
		if (load_streams(b, "W5", st, versions,
		                 (sizes[i] - have) / NSTREAMS) != 0 ||
		    check_head(b, "W5", st, sizes[i]) != 0)
			goto out;
		have = sizes[i];
		pts[i].events = have;
		if (w5_measure(b, st, have / NSTREAMS, &pts[i]) != 0)
			goto out;
		if (pts[i].median_ns > W5_TARGET_NS)
			ok = 0;
	}
	result(b, "W5", ok ? V_PASS : V_FAIL,
	       "ns/call=%.0f  (median, %llu events; p99 of group means %.0f)"
	       "  10k=%.0f  100k=%.0f  target<=%.0fns",
	       pts[2].median_ns, (unsigned long long)pts[2].events,
	       pts[2].p99_ns, pts[0].median_ns, pts[1].median_ns, W5_TARGET_NS);
out:
	store_done(b, "w5", st, 0);
}

/* ------------------------------------------------------------------------
 * Threads released together (W6, W7)
 * ------------------------------------------------------------------------ */

/* Start n threads on fn(args[i]), release them together once all are
 * up, and time from the release to the last join.  Returns 0, or -1
 * when a thread could not be started (those started are released with
 * `open = -1` and joined). */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open; /* 1: go; -1: give up */
};

static int
gate_wait(struct gate *g)
{
	int go;

	pthread_mutex_lock(&g->mu);
	while (g->open == 0)
		pthread_cond_wait(&g->cv, &g->mu);
	go = g->open;
	pthread_mutex_unlock(&g->mu);
	return go;
}

static int
gate_run(struct bench *b, const char *w, struct gate *g, unsigned n,
         void *(*fn)(void *), void *args, size_t arg_size, double *secs)
{
	pthread_t tid[W67_MAX_THREADS];
	unsigned i, started = 0;
	double t0;
	int err, rc = 0;

	for (i = 0; i < n && i < W67_MAX_THREADS; i++, started++) {
		err = pthread_create(&tid[i], NULL, fn,
		                     (char *)args + i * arg_size);
		if (err != 0) {
			rc = error_line(b, w, "pthread_create: %s",
			                strerror(err));
			break;
		}
	}
	pthread_mutex_lock(&g->mu);
	g->open = rc == 0 ? 1 : -1;
	t0 = bench_now();
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	*secs = bench_now() - t0;
	return rc;
}

/* xorshift64*: each thread's account choices, reproducible by seed. */
static uint64_t
bench_random(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* ------------------------------------------------------------------------
 * W6: command execution (read, fold, decide, append) over 1,000 accounts
 * ------------------------------------------------------------------------ */

/* One transfer of one unit between two accounts, as a cairn command: it
 * reads both streams, folds them into two balances (Deposited +1,
 * Withdrawn -1, from an overdraft limit of W6_OVERDRAFT units), and
 * writes a Withdrawn and a Deposited or rejects. */
struct w6_cmd {
	const char *from, *to;
	long from_balance, to_balance;
	uint64_t sum; /* a payload byte per folded event: keeps reads real */
	uint64_t folded;
	cairn_new_event out, in;
};

static cairn_status
w6_reset(void *ctx)
{
	struct w6_cmd *c = ctx;

	c->from_balance = 0;
	c->to_balance = 0;
	return CAIRN_OK;
}

static cairn_status
w6_apply(void *ctx, const cairn_event *e)
{
	struct w6_cmd *c = ctx;
	long delta = e->type[0] == 'D' ? 1 : -1; /* Deposited, Withdrawn */

	if (strcmp(e->stream, c->from) == 0)
		c->from_balance += delta;
	else
		c->to_balance += delta;
	c->sum += touch(e->data, e->data_len);
	c->folded++;
	return CAIRN_OK;
}

static cairn_status
w6_handle(void *ctx, cairn_decision *d)
{
	struct w6_cmd *c = ctx;
	cairn_status rc;

	if (c->from_balance - 1 < -W6_OVERDRAFT)
		return cairn_decision_reject(d, "%s: overdraft limit", c->from);
	rc = cairn_decision_append(d, c->from, &c->out);
	if (rc == CAIRN_OK)
		rc = cairn_decision_append(d, c->to, &c->in);
	return rc;
}

struct w6_thread {
	struct gate *gate;
	cairn_store *st;
	unsigned t, ncommands;
	double *lat;
	unsigned long ok, rejected, retries;
	uint64_t folded, sum;
	int done;
	char err[768];
};

static void *
w6_main(void *arg)
{
	struct w6_thread *a = arg;
	uint64_t seed = 0x9E3779B97F4A7C15ULL * (a->t + 1);
	cairn_retry_policy policy;
	cairn_exec_result res;
	struct w6_cmd c;
	cairn_status rc;
	const char *streams[2];
	cairn_command cmd;
	unsigned i, from, to;

	if (gate_wait(a->gate) < 0)
		return NULL;
	cairn_retry_policy_init(&policy);
	policy.max_retries = W6_MAX_RETRIES;
	memset(&c, 0, sizeof(c));
	fill_events(&c.out, 1, 1); /* Withdrawn */
	fill_events(&c.in, 1, 0);  /* Deposited */
	for (i = 0; i < a->ncommands; i++) {
		double ts = bench_now();

		from = (unsigned)(bench_random(&seed) % NSTREAMS);
		to = (from + 1 +
		      (unsigned)(bench_random(&seed) % (NSTREAMS - 1))) %
		     NSTREAMS;
		c.from = streams[0] = stream_names[from];
		c.to = streams[1] = stream_names[to];
		c.out.data = payloads[(2 * i) % PAYLOAD_POOL];
		c.in.data = payloads[(2 * i + 1) % PAYLOAD_POOL];
		memset(&cmd, 0, sizeof(cmd));
		cmd.ctx = &c;
		cmd.streams = streams;
		cmd.nstreams = 2;
		cmd.reset = w6_reset;
		cmd.apply = w6_apply;
		cmd.handle = w6_handle;
		rc = cairn_execute(a->st, &cmd, &policy, &res);
		a->lat[i] = bench_now() - ts;
		if (rc == CAIRN_REJECTED) {
			a->rejected++;
		} else if (rc == CAIRN_OK && res.nevents == 2) {
			a->ok++;
		} else {
			snprintf(a->err, sizeof(a->err),
			         "thread %u: cairn_execute %s -> %s: %s: %s",
			         a->t, c.from, c.to, cairn_status_str(rc),
			         rc == CAIRN_OK ? "wrote no events"
			                        : cairn_last_error());
			return NULL;
		}
		if (res.attempts > 1)
			a->retries += res.attempts - 1;
	}
	a->folded = c.folded;
	a->sum = c.sum;
	a->done = 1;
	return NULL;
}

struct w6_point {
	double rate, retries_per_cmd, p50_us, p99_us;
	unsigned long ok, rejected, retries;
};

/* nthreads threads, W6_COMMANDS commands in all, on st. */
static int
w6_measure(struct bench *b, cairn_store *st, unsigned nthreads,
           struct w6_point *pt)
{
	struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                    0};
	struct w6_thread th[W67_MAX_THREADS];
	unsigned per = W6_COMMANDS / nthreads, i;
	double *lat, secs = 0, cpu0;
	uint64_t folded = 0;
	int rc = 0;

	lat = malloc((size_t)W6_COMMANDS * sizeof(*lat));
	if (lat == NULL)
		return error_line(b, "W6", "out of memory");
	memset(th, 0, sizeof(th));
	for (i = 0; i < nthreads; i++) {
		th[i].gate = &gate;
		th[i].st = st;
		th[i].t = i;
		th[i].ncommands = per;
		th[i].lat = lat + (size_t)i * per;
	}
	cpu0 = bench_cpu_seconds();
	if (gate_run(b, "W6", &gate, nthreads, w6_main, th, sizeof(th[0]),
	             &secs) != 0) {
		free(lat);
		return -1;
	}
	cpu0 = bench_cpu_seconds() - cpu0;
	memset(pt, 0, sizeof(*pt));
	for (i = 0; rc == 0 && i < nthreads; i++) {
		if (!th[i].done)
			rc = error_line(b, "W6", "%s", th[i].err);
		pt->ok += th[i].ok;
		pt->rejected += th[i].rejected;
		pt->retries += th[i].retries;
		folded += th[i].folded;
	}
	if (rc == 0) {
		pt->rate = (double)(per * nthreads) / secs;
		pt->retries_per_cmd = (double)pt->retries / (per * nthreads);
		pt->p50_us = quantile(lat, (size_t)per * nthreads, 0.50) * 1e6;
		pt->p99_us = quantile(lat, (size_t)per * nthreads, 0.99) * 1e6;
		printf("# W6: %u thread%s x %u commands in %.2f s: %lu "
		       "written, %lu rejected, %lu retries (%.4f per "
		       "command); %.1f events folded per command; latency "
		       "p50=%.0f us p99=%.0f us; cpu %.2f s\n",
		       nthreads, nthreads == 1 ? "" : "s", per, secs, pt->ok,
		       pt->rejected, pt->retries, pt->retries_per_cmd,
		       (double)folded / (per * nthreads), pt->p50_us,
		       pt->p99_us, cpu0);
	}
	free(lat);
	return rc;
}

static void
run_w6(struct bench *b)
{
	uint64_t versions[NSTREAMS] = {0};
	struct w6_point one, many;
	cairn_store *st;
	char uri[URI_MAX];

	if (store_open(b, "W6", "w6", 1, &st, uri, sizeof(uri)) != 0)
		return;
	if (load_streams(b, "W6", st, versions, W6_OPENING_EVENTS) != 0 ||
	    w6_measure(b, st, 1, &one) != 0 ||
	    w6_measure(b, st, W67_THREADS, &many) != 0)
		goto out;
	result(b, "W6", V_INFO,
	       "commands/s=%.0f  (1 thread; retries/command=%.4f)  "
	       "%u threads: commands/s=%.0f  retries/command=%.4f  "
	       "(no target)",
	       one.rate, one.retries_per_cmd, W67_THREADS, many.rate,
	       many.retries_per_cmd);
out:
	store_done(b, "w6", st, 0);
}

/* ------------------------------------------------------------------------
 * W7: append_if conditioned on one tag
 * ------------------------------------------------------------------------ */

static char tag_names[NSTREAMS][NAME_LEN];
static const char *tag_ptrs[NSTREAMS];

/* One event of stream s tagged account:s, payload seq. */
static void
tagged_event(cairn_new_event *ev, unsigned s, uint64_t seq)
{
	fill_events(ev, 1, seq);
	ev->tags = &tag_ptrs[s];
	ev->ntags = 1;
}

/* append_if of one event to stream s, on condition that nothing tagged
 * account:s came after `after`. */
static cairn_status
w7_append_if(cairn_store *st, unsigned s, uint64_t after, uint64_t seq,
             cairn_append_result *res)
{
	cairn_query_item item = {NULL, 0, &tag_ptrs[s], 1};
	cairn_query q = {&item, 1};
	cairn_new_event ev;
	cairn_write w;

	tagged_event(&ev, s, seq);
	w.stream = stream_names[s];
	w.expected = CAIRN_ANY;
	w.events = &ev;
	w.nevents = 1;
	return cairn_append_if(st, &q, after, &w, 1, res);
}

struct w7_thread {
	struct gate *gate;
	cairn_store *st;
	unsigned t, nthreads, nappends;
	uint64_t last[NSTREAMS]; /* newest position of each owned tag */
	double *lat;
	int done;
	char err[768];
};

/* Thread t owns the tags of streams t, t + n, t + 2n, ...: nothing it
 * does not write matches its queries, so no condition may fail. */
static void *
w7_main(void *arg)
{
	struct w7_thread *a = arg;
	unsigned owned = NSTREAMS / a->nthreads, i, s;
	cairn_append_result res;
	cairn_status rc;

	if (gate_wait(a->gate) < 0)
		return NULL;
	for (i = 0; i < a->nappends; i++) {
		double ts = bench_now();

		s = a->t + (i % owned) * a->nthreads;
		rc = w7_append_if(a->st, s, a->last[s], i, &res);
		a->lat[i] = bench_now() - ts;
		if (rc != CAIRN_OK) {
			snprintf(a->err, sizeof(a->err),
			         "thread %u: cairn_append_if %s after %llu: "
			         "%s: %s (conflict_position %llu)",
			         a->t, tag_names[s],
			         (unsigned long long)a->last[s],
			         cairn_status_str(rc), cairn_last_error(),
			         (unsigned long long)res.conflict_position);
			return NULL;
		}
		a->last[s] = res.first_position;
	}
	a->done = 1;
	return NULL;
}

/* nthreads threads, W7_APPENDS appends in all, on a fresh store. */
static int
w7_throughput(struct bench *b, unsigned nthreads, double *rate)
{
	struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                    0};
	struct w7_thread *th;
	unsigned per = W7_APPENDS / nthreads, i;
	cairn_store *st;
	char uri[URI_MAX];
	double *lat, secs = 0, cpu0;
	int rc = -1;

	th = calloc(nthreads, sizeof(*th));
	lat = malloc((size_t)W7_APPENDS * sizeof(*lat));
	if (th == NULL || lat == NULL) {
		error_line(b, "W7", "out of memory");
		goto out;
	}
	if (store_open(b, "W7", "w7", 1, &st, uri, sizeof(uri)) != 0)
		goto out;
	for (i = 0; i < nthreads; i++) {
		th[i].gate = &gate;
		th[i].st = st;
		th[i].t = i;
		th[i].nthreads = nthreads;
		th[i].nappends = per;
		th[i].lat = lat + (size_t)i * per;
	}
	cpu0 = bench_cpu_seconds();
	rc = gate_run(b, "W7", &gate, nthreads, w7_main, th, sizeof(th[0]),
	              &secs);
	cpu0 = bench_cpu_seconds() - cpu0;
	for (i = 0; rc == 0 && i < nthreads; i++)
		if (!th[i].done)
			rc = error_line(b, "W7", "%s", th[i].err);
	if (rc == 0)
		rc = check_head(b, "W7", st, (uint64_t)per * nthreads);
	store_done(b, "w7", st, 0);
	if (rc != 0)
		goto out;
	*rate = (double)(per * nthreads) / secs;
	printf("# W7: %u thread%s x %u append_if of 1 event (one tag of "
	       "%u per thread) in %.2f s: %.0f/s; latency p50=%.0f us "
	       "p99=%.0f us; cpu %.2f s\n",
	       nthreads, nthreads == 1 ? "" : "s", per, NSTREAMS / nthreads,
	       secs, *rate, quantile(lat, (size_t)per * nthreads, 0.5) * 1e6,
	       quantile(lat, (size_t)per * nthreads, 0.99) * 1e6, cpu0);
out:
	free(lat);
	free(th);
	return rc;
}

/* Untimed: add per_stream events tagged account:<s> to each stream, in
 * multi-stream appends of LOAD_STREAMS_PER_CALL streams x LOAD_RUN. */
static int
w7_load(struct bench *b, cairn_store *st, uint64_t *versions,
        uint64_t per_stream, uint64_t *seq)
{
	cairn_write writes[LOAD_STREAMS_PER_CALL];
	cairn_append_result res;
	cairn_status rc;
	uint64_t done;
	size_t k, s0, i, j, nw;

	for (done = 0; done < per_stream; done += k) {
		k = per_stream - done < LOAD_RUN ? (size_t)(per_stream - done)
		                                 : LOAD_RUN;
		for (s0 = 0; s0 < NSTREAMS; s0 += nw) {
			nw = NSTREAMS - s0 < LOAD_STREAMS_PER_CALL
			             ? NSTREAMS - s0
			             : LOAD_STREAMS_PER_CALL;
			for (i = 0; i < nw; i++) {
				for (j = 0; j < k; j++)
					tagged_event(&load_events[i * k + j],
					             (unsigned)(s0 + i),
					             (*seq)++);
				writes[i].stream = stream_names[s0 + i];
				writes[i].expected = (int64_t)versions[s0 + i];
				writes[i].events = load_events + i * k;
				writes[i].nevents = k;
			}
			rc = cairn_append_multi(st, writes, nw, &res);
			if (rc != CAIRN_OK)
				return cairn_error(b, "W7",
				                   "setup append_multi", rc);
			for (i = 0; i < nw; i++)
				versions[s0 + i] += k;
		}
	}
	return 0;
}

/* The figures of one store size (see README.md, W7). */
struct w7_point {
	uint64_t events;
	double append_us; /* p50 of plain cairn_append */
	double rare_us;   /* p50 of append_if on a tag with few events */
	double busy_us;   /* p50 of append_if on a tag with many, old */
	double busy_p99_us;
	double conflict_us; /* p50 of a failing check (nothing written) */
};

enum w7_kind { W7_PLAIN, W7_RARE, W7_BUSY, W7_CONFLICT, W7_KINDS };

/* W7_PROBES calls of each kind, interleaved, each timed alone; *head is
 * the store's head, kept up to date. */
static int
w7_probe(struct bench *b, cairn_store *st, uint64_t *versions, uint64_t *head,
         uint64_t *seq, struct w7_point *pt)
{
	static double lat[W7_KINDS][W7_PROBES];
	static uint64_t rare_events; /* over the sizes: the store keeps them */
	const unsigned busy = NSTREAMS / 2;
	const char *rare_tag = "probe:rare";
	cairn_query_item rare_item = {NULL, 0, &rare_tag, 1};
	cairn_query rare_q = {&rare_item, 1};
	cairn_append_result res;
	cairn_new_event ev;
	cairn_write w;
	cairn_status rc;
	unsigned i, k;
	double ts;

	for (i = 0; i < W7_PROBES; i++) {
		for (k = 0; k < W7_KINDS; k++) {
			ts = bench_now();
			switch (k) {
			case W7_PLAIN:
				fill_events(&ev, 1, (*seq)++);
				rc = cairn_append(st, "probe-plain", CAIRN_ANY,
				                  &ev, 1, &res);
				break;
			case W7_RARE:
				fill_events(&ev, 1, (*seq)++);
				ev.tags = &rare_tag;
				ev.ntags = 1;
				w.stream = "probe-rare";
				w.expected = CAIRN_ANY;
				w.events = &ev;
				w.nevents = 1;
				rc = cairn_append_if(st, &rare_q, *head, &w, 1,
				                     &res);
				rare_events += rc == CAIRN_OK;
				break;
			case W7_BUSY:
				rc = w7_append_if(st, busy, *head, (*seq)++,
				                  &res);
				versions[busy] += rc == CAIRN_OK;
				break;
			default:
				/* the newest event is the busy tag's (just
				 * written): the check fails on it */
				rc = w7_append_if(st, busy, *head - 1, *seq,
				                  &res);
				if (rc == CAIRN_CONFLICT &&
				    res.conflict_position == *head)
					rc = CAIRN_OK;
				else if (rc == CAIRN_OK)
					return error_line(
					        b, "W7",
					        "append_if after %llu passed "
					        "over a matching event",
					        (unsigned long long)(*head -
					                             1));
				break;
			}
			lat[k][i] = bench_now() - ts;
			if (rc != CAIRN_OK)
				return cairn_error(b, "W7", "probe", rc);
			if (k != W7_CONFLICT)
				*head = res.last_position;
		}
	}
	pt->append_us = quantile(lat[W7_PLAIN], W7_PROBES, 0.5) * 1e6;
	pt->rare_us = quantile(lat[W7_RARE], W7_PROBES, 0.5) * 1e6;
	pt->busy_us = quantile(lat[W7_BUSY], W7_PROBES, 0.5) * 1e6;
	pt->busy_p99_us = quantile(lat[W7_BUSY], W7_PROBES, 0.99) * 1e6;
	pt->conflict_us = quantile(lat[W7_CONFLICT], W7_PROBES, 0.5) * 1e6;
	printf("# W7: %llu events: p50 append %.1f us, append_if rare tag "
	       "%.1f us, busy tag %.1f us (p99 %.1f), failing check %.1f "
	       "us; the busy tag is on %llu events, the rare one on %llu\n",
	       (unsigned long long)pt->events, pt->append_us, pt->rare_us,
	       pt->busy_us, pt->busy_p99_us, pt->conflict_us,
	       (unsigned long long)versions[busy],
	       (unsigned long long)rare_events);
	return 0;
}

/* The check's cost as the store grows: relaxed durability, so that the
 * figures are the check and the commit, not the disk's sync. */
static int
w7_scale(struct bench *b, struct w7_point *pts)
{
	static const uint64_t sizes[] = {10000, 100000, 1000000};
	uint64_t versions[NSTREAMS] = {0};
	uint64_t head = 0, seq = 0, loaded = 0;
	cairn_options opts;
	cairn_status rc;
	cairn_store *st;
	char path[PATH_MAX + 16], uri[URI_MAX];
	int i, ret = -1;
	double t0;

	cairn_options_init(&opts);
	opts.durability = CAIRN_RELAXED;
	if (strcmp(b->backend, "memory") == 0) {
		snprintf(uri, sizeof(uri), "memory:");
	} else {
		snprintf(path, sizeof(path), "%s/w7s", b->dir);
		if (bench_rm_rf(path) != 0)
			return error_line(b, "W7", "cannot remove %s: %s", path,
			                  strerror(errno));
		if (store_uri(b, path, uri, sizeof(uri)) != 0)
			return error_line(b, "W7", "cannot create %s: %s", path,
			                  strerror(errno));
	}
	rc = cairn_open(uri, &opts, &st);
	if (rc != CAIRN_OK)
		return cairn_error(b, "W7", "cairn_open", rc);
	for (i = 0; i < 3; i++) {
		/* the probes of the last size count towards this one */
		uint64_t want = (sizes[i] - head) / NSTREAMS;

		t0 = bench_now();
		if (w7_load(b, st, versions, want, &seq) != 0)
			goto out;
		loaded += want * NSTREAMS;
		if ((rc = cairn_head(st, &head)) != CAIRN_OK) {
			cairn_error(b, "W7", "cairn_head", rc);
			goto out;
		}
		printf("# W7: grew the store to %llu events (%llu tagged "
		       "events written) in %.2f s (untimed)\n",
		       (unsigned long long)head, (unsigned long long)loaded,
		       bench_now() - t0);
		pts[i].events = head;
		if (w7_probe(b, st, versions, &head, &seq, &pts[i]) != 0)
			goto out;
	}
	ret = 0;
out:
	cairn_close(st);
	if (strcmp(b->backend, "memory") != 0)
		bench_rm_rf(path);
	return ret;
}

static void
run_w7(struct bench *b)
{
	struct w7_point pts[3];
	double one = 0, many = 0, ratio;
	unsigned i;

	for (i = 0; i < NSTREAMS; i++) {
		snprintf(tag_names[i], NAME_LEN, "account:%04u", i);
		tag_ptrs[i] = tag_names[i];
	}
	if (w7_throughput(b, 1, &one) != 0 ||
	    w7_throughput(b, W67_THREADS, &many) != 0)
		return;
	result(b, "W7", V_INFO,
	       "appends/s=%.0f  (1 thread)  %u threads: appends/s=%.0f  "
	       "(no target)",
	       one, W67_THREADS, many);
	if (w7_scale(b, pts) != 0)
		return;
	ratio = pts[2].busy_us / pts[0].busy_us;
	if (pts[2].rare_us / pts[0].rare_us > ratio)
		ratio = pts[2].rare_us / pts[0].rare_us;
	result(b, "W7-scale", ratio <= W7_FLAT_FACTOR ? V_PASS : V_FAIL,
	       "append_if_us=%.1f/%.1f/%.1f  (p50 at 10k/100k/1M, busy "
	       "tag; rare tag %.1f/%.1f/%.1f; append %.1f/%.1f/%.1f; "
	       "failing check %.1f/%.1f/%.1f)  1M/10k=%.2fx  "
	       "target<=%.1fx",
	       pts[0].busy_us, pts[1].busy_us, pts[2].busy_us, pts[0].rare_us,
	       pts[1].rare_us, pts[2].rare_us, pts[0].append_us,
	       pts[1].append_us, pts[2].append_us, pts[0].conflict_us,
	       pts[1].conflict_us, pts[2].conflict_us, ratio, W7_FLAT_FACTOR);
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: cairn-bench [--store-dir DIR]"
	        " [--backend lmdb|memory|sqlite|postgres]"
	        "\n                   [--only W1,W1c,W2,W3,W4,W5,W6,W7,W8,DISK]"
	        " [--big]"
	        " [--verify]\n"
	        "  --store-dir DIR  where stores and disk test files go "
	        "(default ./bench-data);\n"
	        "                   each workload uses DIR/wN, removed "
	        "first; DIR/w2 is kept\n"
	        "  --backend B      lmdb (default), sqlite, memory or postgres\n"
	        "                   (postgres: the server in $CAIRN_PG_URI, "
	        "a schema per store)\n"
	        "  --only LIST      run only these (the disk baseline runs "
	        "with W1 or DISK)\n"
	        "  --big            also W3 at 10,000,000 events\n"
	        "  --verify         run cairn_verify() on W2's store "
	        "afterwards\n");
}

/* Parse "W1,w3,..." into a bit set.  Returns 0, or -1 on a bad name. */
static int
parse_only(const char *list, unsigned *out)
{
	const char *p = list;

	*out = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, ","), w;

		for (w = 0; w < WL_COUNT; w++)
			if (strlen(workload_names[w]) == len &&
			    strncasecmp(p, workload_names[w], len) == 0)
				break;
		if (w == WL_COUNT) {
			fprintf(stderr,
			        "cairn-bench: unknown workload "
			        "\"%.*s\"\n",
			        (int)len, p);
			return -1;
		}
		*out |= 1u << w;
		p += len;
		if (*p == ',')
			p++;
	}
	return *out != 0 ? 0 : -1;
}

/* The value of option `name` at argv[*i] ("--name V" or "--name=V"), or
 * NULL when argv[*i] is not that option. */
static const char *
option_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t len = strlen(name);

	if (strncmp(argv[*i], name, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

static int
parse_args(int argc, char **argv, struct bench *b, const char **dir)
{
	const char *v;
	int i, missing = 0;

	for (i = 1; i < argc; i++) {
		if ((v = option_value(argc, argv, &i, "--store-dir",
		                      &missing)) != NULL) {
			*dir = v;
		} else if ((v = option_value(argc, argv, &i, "--backend",
		                             &missing)) != NULL) {
			if (strcmp(v, "lmdb") == 0)
				b->backend = "lmdb";
			else if (strcmp(v, "memory") == 0)
				b->backend = "memory";
			else if (strcmp(v, "sqlite") == 0)
				b->backend = "sqlite";
			else if (strcmp(v, "postgres") == 0)
				b->backend = "postgres";
			else
				goto bad;
		} else if ((v = option_value(argc, argv, &i, "--only",
		                             &missing)) != NULL) {
			if (parse_only(v, &b->only) != 0)
				goto bad;
		} else if (!missing && strcmp(argv[i], "--big") == 0) {
			b->big = 1;
		} else if (!missing && strcmp(argv[i], "--verify") == 0) {
			b->verify = 1;
		} else if (!missing && (strcmp(argv[i], "--help") == 0 ||
		                        strcmp(argv[i], "-h") == 0)) {
			usage(stdout);
			exit(0);
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	fprintf(stderr, "cairn-bench: %s \"%s\"\n",
	        missing ? "no value for" : "bad argument", argv[i]);
	usage(stderr);
	return -1;
}

int
main(int argc, char **argv)
{
	struct bench b;
	const char *dir = "./bench-data";
	double t0 = bench_now();
	size_t len;

	memset(&b, 0, sizeof(b));
	b.backend = "lmdb";
	b.only = (1u << WL_COUNT) - 1;
	if (parse_args(argc, argv, &b, &dir) != 0)
		return 2;
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof(b.dir) - 16) {
		fprintf(stderr, "cairn-bench: bad --store-dir\n");
		return 2;
	}
	memcpy(b.dir, dir, len);
	b.dir[len] = '\0';
	if (bench_mkdir_p(b.dir) != 0) {
		fprintf(stderr, "cairn-bench: mkdir %s: %s\n", b.dir,
		        strerror(errno));
		return 2;
	}
	init_data();
	printf("# cairn-bench (libcairn %s) backend=%s store-dir=%s%s\n",
	       CAIRN_VERSION_STRING, b.backend, b.dir, b.big ? " --big" : "");
	bench_print_machine(b.dir);
	printf("# payload: %d-byte JSON objects; durability: cairn_options "
	       "defaults (durable)\n",
	       PAYLOAD_SIZE);
	fflush(stdout);

	if (want(&b, WL_DISK) || want(&b, WL_W1))
		run_disk(&b);
	if (want(&b, WL_W1))
		run_w1(&b);
	if (want(&b, WL_W1C))
		run_w1c(&b);
	if (want(&b, WL_W2))
		run_w2(&b);
	if (want(&b, WL_W3))
		run_w3(&b);
	if (want(&b, WL_W4))
		run_w4(&b);
	if (want(&b, WL_W5))
		run_w5(&b);
	if (want(&b, WL_W6))
		run_w6(&b);
	if (want(&b, WL_W7))
		run_w7(&b);
	if (want(&b, WL_W8)) {
		int w8 = bench_w8(b.dir, b.backend);

		if (w8 == 2)
			b.errors = 1;
		else if (w8 == 1)
			b.failed = 1;
	}
	printf("# total wall time %.1f s\n", bench_now() - t0);
	return b.errors ? 2 : b.failed ? 1 : 0;
}
