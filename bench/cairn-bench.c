/*
 * cairn-bench.c -- cairn's benchmark program.
 *
 *     cairn-bench [--store-dir DIR] [--backend lmdb|memory]
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

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

#define READ_PASSES 3              /* timed read passes; the median counts */
#define RSS_SAMPLE_EVERY 65536u    /* events between /proc samples */
#define LOAD_BATCH 10000u          /* events per untimed setup append */
#define LOAD_RUN 100u              /* events per stream per setup write */
#define LOAD_STREAMS_PER_CALL 100u /* writes per setup append_multi */

enum workload { WL_DISK, WL_W1, WL_W1C, WL_W2, WL_W3, WL_W4, WL_W5, WL_COUNT };
static const char *const workload_names[WL_COUNT] = {"DISK", "W1", "W1c", "W2",
                                                     "W3",   "W4", "W5"};

enum verdict { V_FAIL = 0, V_PASS = 1, V_NA = 2 };

struct bench {
	char dir[PATH_MAX];
	const char *backend; /* "lmdb" or "memory" */
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
	                     : "N/A");
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

/* Open the store of workload `name` with the default (durable) options:
 * for lmdb DIR/name, removed first when fresh; for memory a new empty
 * store.  uri receives what was opened. */
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
		snprintf(uri, urisize, "%s:%s", b->backend, path);
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
	if (keep || strcmp(b->backend, "memory") == 0)
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
 * would cost as much as the call); each group gives a mean per call. */
static int
w5_measure(struct bench *b, cairn_store *st, uint64_t expect,
           struct w5_point *pt)
{
	static double groups[W5_GROUPS];
	const char *stream = stream_names[NSTREAMS / 2];
	cairn_status rc;
	uint64_t v;
	int g, i, calls;

	for (g = -1; g < W5_GROUPS; g++) {
		double t0 = bench_now();

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
		if (g >= 0)
			groups[g] = (bench_now() - t0) * 1e9 / calls;
	}
	pt->median_ns = quantile(groups, W5_GROUPS, 0.50);
	pt->p99_ns = quantile(groups, W5_GROUPS, 0.99);
	printf("# W5: %llu events: stream_version median %.0f ns/call, "
	       "p99 of group means %.0f ns\n",
	       (unsigned long long)pt->events, pt->median_ns, pt->p99_ns);
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
 * Command line
 * ------------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: cairn-bench [--store-dir DIR] [--backend lmdb|memory]"
	        "\n                   [--only W1,W1c,W2,W3,W4,W5,DISK] [--big]"
	        " [--verify]\n"
	        "  --store-dir DIR  where stores and disk test files go "
	        "(default ./bench-data);\n"
	        "                   each workload uses DIR/wN, removed "
	        "first; DIR/w2 is kept\n"
	        "  --backend B      lmdb (default) or memory\n"
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
			if (strcmp(v, "lmdb") != 0 && strcmp(v, "memory") != 0)
				goto bad;
			b->backend = strcmp(v, "lmdb") == 0 ? "lmdb" : "memory";
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
	printf("# total wall time %.1f s\n", bench_now() - t0);
	return b.errors ? 2 : b.failed ? 1 : 0;
}
