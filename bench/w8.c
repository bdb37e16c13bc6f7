/*
 * w8.c -- W8: subscriptions (see bench/README.md, "W8").
 *
 *   W8-wake     the time from cairn_append()'s return to the return of a
 *               cairn_sub_next() that was asleep waiting for it, another
 *               thread of the same process, one append at a time;
 *   W8-xproc    the same with the writer in another process (lmdb,
 *               sqlite, postgres: engines several processes share);
 *   W8-catchup  a durable subscription reading 1,000,000 stored events
 *               from the beginning, acknowledging as it goes.
 *
 * Like the rest of cairn-bench it talks to the store through cairn.h only.
 */
#include "w8.h"

#include "bench.h"
#include "cairn.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define W8_PAYLOAD 256 /* bytes of JSON per event, as the other workloads */
#define W8_STREAMS 1000
#define W8_URI_MAX (PATH_MAX + 64)

#define W8_SAMPLES 2000      /* wake-ups timed, one append at a time */
#define W8_GAP_US 1000       /* before each append: the subscriber sleeps */
#define W8_WAIT_MS 5000      /* a wake-up later than this is an error (in */
                             /* process) or a late sample (across) */
#define W8X_MAX_SECONDS 20.0 /* W8-xproc stops sampling after this */
#define W8X_TARGET_MS 100.0  /* cairn.h: "noticed within 100 ms" */
#define W8C_EVENTS 1000000u
#define W8C_BIG 1000u             /* events per append of the main store */
#define W8C_SMALL 10u             /* ... of the second store */
#define W8C_ACK_EVERY 10000u      /* events between acks, second policy */
#define W8C_PASSES 3              /* of the headline figure; median */
#define W8C_TARGET 3000000.0      /* events/s */
#define W8C_PASS_MAX_SECONDS 60.0 /* a slower pass stops, its rate so far */

struct w8 {
	const char *dir;
	const char *backend;
	int memory;
	int postgres;
	int status; /* 0; 1 a target missed; 2 an error */
};

static char payload[W8_PAYLOAD];
static char stream_names[W8_STREAMS][32];

/* ---- output, in cairn-bench's format ---- */

static void w8_result(struct w8 *c, const char *w, const char *verdict,
                      const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
w8_result(struct w8 *c, const char *w, const char *verdict, const char *fmt,
          ...)
{
	char body[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (strcmp(verdict, "FAIL") == 0 && c->status < 1)
		c->status = 1;
	printf("%-6s %-7s %s  %s\n", w, c->backend, body, verdict);
	fflush(stdout);
}

static int w8_error(struct w8 *c, const char *w, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
w8_error(struct w8 *c, const char *w, const char *fmt, ...)
{
	char body[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	c->status = 2;
	printf("%-6s %-7s ERROR  %s\n", w, c->backend, body);
	fflush(stdout);
	return -1;
}

/* The cairn detail must be read before any other cairn call. */
static int
w8_cairn_error(struct w8 *c, const char *w, const char *what, cairn_status rc)
{
	return w8_error(c, w, "%s: %s: %s", what, cairn_status_str(rc),
	                cairn_last_error());
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-quantile of v[0..n), which must be sorted. */
static double
sorted_quantile(const double *v, size_t n, double p)
{
	return n ? v[(size_t)(p * (double)(n - 1) + 0.5)] : 0.0;
}

static void
sleep_us(unsigned us)
{
	struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- data and stores ---- */

static void
init_data(void)
{
	int n;
	unsigned i;

	n = snprintf(payload, sizeof(payload),
	             "{\"account\":\"account-0042\",\"amount\":1250,"
	             "\"currency\":\"EUR\",\"reference\":\"inv-2024-000042\","
	             "\"channel\":\"web\",\"memo\":\"");
	memset(payload + n, 'x', (size_t)(W8_PAYLOAD - 2 - n));
	payload[W8_PAYLOAD - 2] = '"';
	payload[W8_PAYLOAD - 1] = '}';
	for (i = 0; i < W8_STREAMS; i++)
		snprintf(stream_names[i], sizeof(stream_names[i]),
		         "account-%04u", i);
}

static void
fill_events(cairn_new_event *ev, size_t n, uint64_t seq)
{
	const cairn_new_event init = CAIRN_NEW_EVENT_INIT;
	size_t k;

	for (k = 0; k < n; k++, seq++) {
		ev[k] = init;
		ev[k].type = (seq & 1) ? "Withdrawn" : "Deposited";
		ev[k].data = payload;
		ev[k].data_len = W8_PAYLOAD;
	}
}

/* memory:, lmdb:DIR/name, or sqlite:DIR/name/events.db (DIR/name made
 * here), as cairn-bench's other stores: removing DIR/name removes the
 * store; for postgres a new schema on the server in $CAIRN_PG_URI
 * (bench_pg_store_uri(), shared with cairn-bench.c).  Every call is a
 * new, empty store.  Returns 0, or -1 when the directory cannot be made
 * or $CAIRN_PG_URI is unset. */
static int
store_uri(struct w8 *c, const char *name, char *uri, size_t size)
{
	char path[PATH_MAX + 16];

	if (c->memory) {
		snprintf(uri, size, "memory:");
		return 0;
	}
	if (c->postgres) {
		return bench_pg_store_uri(name, 1, uri, size);
	}
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	if (strcmp(c->backend, "sqlite") != 0) {
		snprintf(uri, size, "%s:%s", c->backend, path);
		return 0;
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	snprintf(uri, size, "sqlite:%s/events.db", path);
	return 0;
}

/* The ERROR line of a store_uri() that failed. */
static void
store_uri_error(struct w8 *c, const char *w, const char *name)
{
	if (c->postgres)
		w8_error(c, w, "postgres needs CAIRN_PG_URI (a postgres URI)");
	else
		w8_error(c, w, "cannot create %s/%s: %s", c->dir, name,
		         strerror(errno));
}

/* A postgres store (a schema) stays on the server: the next store_uri()
 * of that name is a new schema. */
static void
store_remove(struct w8 *c, const char *name)
{
	char path[PATH_MAX + 16];

	if (c->memory || c->postgres)
		return;
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	if (bench_rm_rf(path) != 0)
		fprintf(stderr, "cannot remove %s: %s\n", path,
		        strerror(errno));
}

static int
store_open(struct w8 *c, const char *w, const char *uri, cairn_durability d,
           cairn_store **st)
{
	cairn_options opts;
	cairn_status rc;

	cairn_options_init(&opts);
	opts.durability = d;
	rc = cairn_open(uri, &opts, st);
	if (rc != CAIRN_OK)
		return w8_cairn_error(c, w, "cairn_open", rc);
	return 0;
}

/* ---- W8-wake: a subscriber thread, a writer thread ---- */

struct wake {
	cairn_sub *sub;
	unsigned n;
	double *t_wake;
	uint64_t *pos;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned got;
	int failed;
	char err[512];
};

static void *
wake_main(void *arg)
{
	struct wake *w = arg;
	const cairn_event *batch;
	cairn_status rc;
	unsigned i;
	size_t n;
	double t;

	for (i = 0; i < w->n; i++) {
		rc = cairn_sub_next(w->sub, W8_WAIT_MS, &batch, &n);
		t = bench_now();
		pthread_mutex_lock(&w->mu);
		if (rc != CAIRN_ROW) {
			snprintf(w->err, sizeof(w->err),
			         "cairn_sub_next (sample %u): %s: %s", i,
			         cairn_status_str(rc), cairn_last_error());
			w->failed = 1;
		} else {
			w->t_wake[i] = t;
			w->pos[i] = batch[0].position;
			w->got = i + 1;
		}
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		if (rc != CAIRN_ROW)
			break;
	}
	return NULL;
}

/* Latency figures of one run, in microseconds. */
struct lat {
	unsigned n;
	double p50, p99, max; /* append return -> wake-up */
	double call_p50;      /* append call -> wake-up */
	unsigned before;      /* woke before the append returned */
};

/* CAIRN_BENCH_W8_DUMP=FILE: append every sample to FILE, one line each:
 * "<part> <i> <append call> <append return> <wake-up>" (seconds on
 * CLOCK_MONOTONIC), for a closer look at the tail. */
static void
lat_dump(const char *part, const double *t_call, const double *t_ret,
         const double *t_wake, unsigned n)
{
	const char *path = getenv("CAIRN_BENCH_W8_DUMP");
	FILE *f;
	unsigned i;

	if (path == NULL || path[0] == 0 || (f = fopen(path, "a")) == NULL)
		return;
	for (i = 0; i < n; i++)
		fprintf(f, "%s %u %.9f %.9f %.9f\n", part, i, t_call[i],
		        t_ret[i], t_wake[i]);
	fclose(f);
}

/* d[i] = wake[i] - ret[i]; fills *l (sorts a copy). */
static int
lat_figures(const double *t_call, const double *t_ret, const double *t_wake,
            unsigned n, struct lat *l)
{
	double *d = malloc((size_t)n * sizeof(*d));
	double *e = malloc((size_t)n * sizeof(*e));
	unsigned i;

	if (d == NULL || e == NULL) {
		free(d);
		free(e);
		return -1;
	}
	memset(l, 0, sizeof(*l));
	for (i = 0; i < n; i++) {
		d[i] = (t_wake[i] - t_ret[i]) * 1e6;
		e[i] = (t_wake[i] - t_call[i]) * 1e6;
		l->before += d[i] < 0;
	}
	qsort(d, n, sizeof(*d), cmp_double);
	qsort(e, n, sizeof(*e), cmp_double);
	l->n = n;
	l->p50 = sorted_quantile(d, n, 0.50);
	l->p99 = sorted_quantile(d, n, 0.99);
	l->max = n ? d[n - 1] : 0;
	l->call_p50 = sorted_quantile(e, n, 0.50);
	free(d);
	free(e);
	return 0;
}

static int
w8_wake(struct w8 *c)
{
	const char *W = "W8-wake";
	struct wake w;
	cairn_sub_opts so;
	cairn_store *st = NULL;
	cairn_append_result res;
	cairn_new_event ev;
	cairn_status rc;
	pthread_t tid;
	char uri[W8_URI_MAX];
	double *t_call, *t_ret;
	struct lat l;
	unsigned i;
	int err, ret = -1, started = 0;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.n = W8_SAMPLES;
	t_call = calloc(W8_SAMPLES, sizeof(double));
	t_ret = calloc(W8_SAMPLES, sizeof(double));
	w.t_wake = calloc(W8_SAMPLES, sizeof(double));
	w.pos = calloc(W8_SAMPLES, sizeof(uint64_t));
	if (!t_call || !t_ret || !w.t_wake || !w.pos) {
		w8_error(c, W, "out of memory");
		goto out;
	}
	store_remove(c, "w8w");
	if (store_uri(c, "w8w", uri, sizeof(uri)) != 0) {
		store_uri_error(c, W, "w8w");
		goto out;
	}
	if (store_open(c, W, uri, CAIRN_DURABLE, &st) != 0)
		goto out;
	cairn_sub_opts_init(&so);
	so.start = CAIRN_SUB_END;
	rc = cairn_subscribe(st, &so, &w.sub);
	if (rc != CAIRN_OK) {
		w8_cairn_error(c, W, "cairn_subscribe", rc);
		goto out;
	}
	err = pthread_create(&tid, NULL, wake_main, &w);
	if (err != 0) {
		w8_error(c, W, "pthread_create: %s", strerror(err));
		goto out;
	}
	started = 1;
	for (i = 0; i < W8_SAMPLES; i++) {
		sleep_us(W8_GAP_US);
		fill_events(&ev, 1, i);
		t_call[i] = bench_now();
		rc = cairn_append(st, stream_names[i % W8_STREAMS], CAIRN_ANY,
		                  &ev, 1, &res);
		t_ret[i] = bench_now();
		if (rc != CAIRN_OK) {
			w8_cairn_error(c, W, "cairn_append", rc);
			goto out;
		}
		pthread_mutex_lock(&w.mu);
		while (w.got <= i && !w.failed)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		if (w.failed) {
			w8_error(c, W, "%s", w.err);
			goto out;
		}
		if (w.pos[i] != res.first_position) {
			w8_error(c, W,
			         "sample %u: woke with position %llu, the "
			         "append wrote %llu",
			         i, (unsigned long long)w.pos[i],
			         (unsigned long long)res.first_position);
			goto out;
		}
	}
	lat_dump("wake", t_call, t_ret, w.t_wake, W8_SAMPLES);
	if (lat_figures(t_call, t_ret, w.t_wake, W8_SAMPLES, &l) != 0) {
		w8_error(c, W, "out of memory");
		goto out;
	}
	printf("# W8-wake: %u single-event durable appends, %u us apart, "
	       "subscriber thread asleep in cairn_sub_next; from append "
	       "return: p50 %.1f us, p99 %.1f us, max %.1f us; woke before "
	       "the append returned %u times; from append call: p50 %.1f "
	       "us\n",
	       l.n, W8_GAP_US, l.p50, l.p99, l.max, l.before, l.call_p50);
	w8_result(c, W, "INFO",
	          "p50_us=%.1f  p99_us=%.1f  (append return -> sub_next "
	          "return, same process, %u samples)  (no target)",
	          l.p50, l.p99, l.n);
	ret = 0;
out:
	if (started) {
		cairn_sub_stop(w.sub);
		pthread_join(tid, NULL);
	}
	cairn_sub_close(w.sub);
	cairn_close(st);
	store_remove(c, "w8w");
	free(t_call);
	free(t_ret);
	free(w.t_wake);
	free(w.pos);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return ret;
}

/* ---- W8-xproc: the writer in a child process ---- */

/* What the writer tells about one append (or, first, its open). */
struct xmsg {
	double t_call, t_ret;
	uint64_t pos;
	int rc;
	char err[200];
};

static int
read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	struct pollfd pfd;
	ssize_t n;
	int r;

	while (len > 0) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The child: open, say so, then one append per byte read from go. */
__attribute__((noreturn)) static void
xproc_writer(const char *uri, int go, int back)
{
	cairn_append_result res;
	cairn_new_event ev;
	cairn_store *st = NULL;
	struct xmsg m;
	unsigned i = 0;
	char b;

	memset(&m, 0, sizeof(m));
	m.rc = (int)cairn_open(uri, NULL, &st);
	if (m.rc != CAIRN_OK)
		snprintf(m.err, sizeof(m.err), "%s", cairn_last_error());
	if (write_full(back, &m, sizeof(m)) != 0 || m.rc != CAIRN_OK)
		_exit(1);
	while (read(go, &b, 1) == 1) {
		fill_events(&ev, 1, i);
		m.t_call = bench_now();
		m.rc = (int)cairn_append(st, stream_names[i % W8_STREAMS],
		                         CAIRN_ANY, &ev, 1, &res);
		m.t_ret = bench_now();
		m.pos = res.first_position;
		if (m.rc != CAIRN_OK)
			snprintf(m.err, sizeof(m.err), "%s",
			         cairn_last_error());
		if (write_full(back, &m, sizeof(m)) != 0 || m.rc != CAIRN_OK)
			break;
		i++;
	}
	cairn_close(st);
	_exit(0);
}

static int
w8_xproc(struct w8 *c)
{
	const char *W = "W8-xproc";
	double *t_call, *t_ret, *t_wake, t0, tw;
	int go[2] = {-1, -1}, back[2] = {-1, -1}, ret = -1, status;
	const cairn_event *batch;
	cairn_store *st = NULL;
	cairn_sub *sub = NULL;
	cairn_sub_opts so;
	cairn_status rc;
	char uri[W8_URI_MAX];
	unsigned i = 0, late = 0;
	struct xmsg m;
	struct lat l;
	pid_t pid = -1;
	size_t n;

	if (c->memory) {
		w8_result(c, W, "N/A",
		          "(a memory store lives in one process)  "
		          "target<=%.0fms",
		          W8X_TARGET_MS);
		return 0;
	}
	t_call = calloc(W8_SAMPLES, sizeof(double));
	t_ret = calloc(W8_SAMPLES, sizeof(double));
	t_wake = calloc(W8_SAMPLES, sizeof(double));
	if (!t_call || !t_ret || !t_wake) {
		w8_error(c, W, "out of memory");
		goto out;
	}
	store_remove(c, "w8x");
	if (store_uri(c, "w8x", uri, sizeof(uri)) != 0) {
		store_uri_error(c, W, "w8x");
		goto out;
	}
	if (pipe(go) != 0 || pipe(back) != 0) {
		w8_error(c, W, "pipe: %s", strerror(errno));
		goto out;
	}
	/* Before this process opens the store: the child makes it, with
	 * nothing of ours open (never fork with a store open). */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		w8_error(c, W, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(go[1]);
		close(back[0]);
		xproc_writer(uri, go[0], back[1]);
	}
	close(go[0]);
	close(back[1]);
	go[0] = back[1] = -1;
	if (read_full(back[0], &m, sizeof(m), 30000) != 0 || m.rc != CAIRN_OK) {
		w8_error(c, W, "the writer process could not open %s: %s", uri,
		         m.rc ? m.err : "no answer");
		goto out;
	}
	if (store_open(c, W, uri, CAIRN_DURABLE, &st) != 0)
		goto out;
	cairn_sub_opts_init(&so);
	so.start = CAIRN_SUB_END;
	rc = cairn_subscribe(st, &so, &sub);
	if (rc != CAIRN_OK) {
		w8_cairn_error(c, W, "cairn_subscribe", rc);
		goto out;
	}
	t0 = bench_now();
	for (i = 0; i < W8_SAMPLES && bench_now() - t0 < W8X_MAX_SECONDS; i++) {
		sleep_us(W8_GAP_US);
		if (write_full(go[1], "g", 1) != 0) {
			w8_error(c, W, "the writer process went away");
			goto out;
		}
		/* a wake-up after W8_WAIT_MS is late, not lost: wait on */
		for (;;) {
			rc = cairn_sub_next(sub, W8_WAIT_MS, &batch, &n);
			tw = bench_now();
			if (rc != CAIRN_TIMEOUT)
				break;
			late++;
			if (late > 5) {
				w8_error(c, W, "no wake-up in %d s",
				         6 * W8_WAIT_MS / 1000);
				goto out;
			}
		}
		if (rc != CAIRN_ROW) {
			w8_cairn_error(c, W, "cairn_sub_next", rc);
			goto out;
		}
		if (read_full(back[0], &m, sizeof(m), 30000) != 0) {
			w8_error(c, W, "no answer from the writer process");
			goto out;
		}
		if (m.rc != CAIRN_OK) {
			w8_error(c, W, "the writer's cairn_append: %s: %s",
			         cairn_status_str((cairn_status)m.rc), m.err);
			goto out;
		}
		if (batch[0].position != m.pos) {
			w8_error(c, W,
			         "sample %u: woke with position %llu, the "
			         "append wrote %llu",
			         i, (unsigned long long)batch[0].position,
			         (unsigned long long)m.pos);
			goto out;
		}
		t_call[i] = m.t_call;
		t_ret[i] = m.t_ret;
		t_wake[i] = tw;
	}
	lat_dump("xproc", t_call, t_ret, t_wake, i);
	if (lat_figures(t_call, t_ret, t_wake, i, &l) != 0) {
		w8_error(c, W, "out of memory");
		goto out;
	}
	printf("# W8-xproc: %u single-event durable appends by another "
	       "process, %u us apart (sampling stops after %.0f s); from "
	       "append return: p50 %.1f us, p99 %.1f us, max %.1f us; woke "
	       "before the append returned %u times; from append call: p50 "
	       "%.1f us\n",
	       l.n, W8_GAP_US, W8X_MAX_SECONDS, l.p50, l.p99, l.max, l.before,
	       l.call_p50);
	w8_result(c, W, l.max <= W8X_TARGET_MS * 1000.0 ? "PASS" : "FAIL",
	          "p50_us=%.1f  p99_us=%.1f  max_ms=%.1f  (writer in another "
	          "process, %u samples)  target: max<=%.0fms",
	          l.p50, l.p99, l.max / 1000.0, l.n, W8X_TARGET_MS);
	ret = 0;
out:
	cairn_sub_close(sub);
	cairn_close(st);
	if (go[1] >= 0)
		close(go[1]);
	if (back[0] >= 0)
		close(back[0]);
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	store_remove(c, "w8x");
	free(t_call);
	free(t_ret);
	free(t_wake);
	return ret;
}

/* ---- W8-catchup ---- */

/* Untimed: W8C_EVENTS events in appends of per events, round-robin over
 * the streams. */
static int
catchup_fill(struct w8 *c, cairn_store *st, unsigned per)
{
	static cairn_new_event ev[W8C_BIG];
	cairn_append_result res;
	cairn_status rc;
	uint64_t done;
	unsigned i = 0;
	uint64_t head = 0;

	fill_events(ev, per, 0);
	for (done = 0; done < W8C_EVENTS; done += per, i++) {
		rc = cairn_append(st, stream_names[i % W8_STREAMS], CAIRN_ANY,
		                  ev, per, &res);
		if (rc != CAIRN_OK)
			return w8_cairn_error(c, "W8-catchup",
			                      "setup cairn_append", rc);
	}
	rc = cairn_head(st, &head);
	if (rc != CAIRN_OK)
		return w8_cairn_error(c, "W8-catchup", "cairn_head", rc);
	if (head != W8C_EVENTS)
		return w8_error(c, "W8-catchup", "head %llu after %u events",
		                (unsigned long long)head, W8C_EVENTS);
	return 0;
}

/* One pass: how the time went. */
struct pass {
	double secs;      /* subscribe to the end (incl. the last ack) */
	double next_secs; /* inside cairn_sub_next */
	double ack_secs;  /* inside cairn_sub_ack */
	uint64_t batches, acks;
	uint64_t events; /* W8C_EVENTS, or fewer when the pass was cut */
	double rate;
};

/* Read the store from the beginning with a subscription named name
 * (NULL: not durable), acknowledging every batch (ack_every 0) or at
 * the end of the batch that brings the unacknowledged events to
 * ack_every, and once more at the end.  Every event is touched and its
 * position checked; the stored cursor must be the head after.  Returns
 * 0, 1 when durable subscriptions are unsupported, or -1. */
static int
catchup_pass(struct w8 *c, cairn_store *st, const char *name,
             unsigned ack_every, struct pass *p)
{
	const char *W = "W8-catchup";
	const cairn_event *batch;
	cairn_sub_opts so;
	cairn_sub_info info;
	cairn_sub *sub;
	cairn_status rc;
	uint64_t expect = 1, unacked = 0, sum = 0, last = 0;
	double t0, ta, tb;
	size_t n, k;
	int cut = 0;

	memset(p, 0, sizeof(*p));
	cairn_sub_opts_init(&so);
	so.name = name;
	so.start = CAIRN_SUB_BEGINNING;
	t0 = bench_now();
	rc = cairn_subscribe(st, &so, &sub);
	if (rc == CAIRN_UNSUPPORTED)
		return 1;
	if (rc != CAIRN_OK)
		return w8_cairn_error(c, W, "cairn_subscribe", rc);
	for (;;) {
		ta = bench_now();
		rc = cairn_sub_next(sub, 0, &batch, &n);
		tb = bench_now();
		p->next_secs += tb - ta;
		if (rc == CAIRN_TIMEOUT)
			break;
		if (rc != CAIRN_ROW) {
			w8_cairn_error(c, W, "cairn_sub_next", rc);
			cairn_sub_close(sub);
			return -1;
		}
		p->batches++;
		for (k = 0; k < n; k++, expect++) {
			if (batch[k].position != expect) {
				cairn_sub_close(sub);
				return w8_error(
				        c, W,
				        "position %llu where %llu was "
				        "expected",
				        (unsigned long long)batch[k].position,
				        (unsigned long long)expect);
			}
			sum += batch[k].data_len +
			       ((const unsigned char *)batch[k]
			                .data)[W8_PAYLOAD / 2];
		}
		last = batch[n - 1].position;
		unacked += n;
		if (tb - t0 > W8C_PASS_MAX_SECONDS) {
			cut = 1; /* the rate so far is the figure */
			break;
		}
		if (name == NULL || (ack_every && unacked < ack_every))
			continue;
		ta = bench_now();
		rc = cairn_sub_ack(sub, last);
		p->ack_secs += bench_now() - ta;
		if (rc != CAIRN_OK) {
			w8_cairn_error(c, W, "cairn_sub_ack", rc);
			cairn_sub_close(sub);
			return -1;
		}
		p->acks++;
		unacked = 0;
	}
	if (name != NULL && unacked) {
		ta = bench_now();
		rc = cairn_sub_ack(sub, last);
		p->ack_secs += bench_now() - ta;
		if (rc != CAIRN_OK) {
			w8_cairn_error(c, W, "cairn_sub_ack", rc);
			cairn_sub_close(sub);
			return -1;
		}
		p->acks++;
	}
	p->secs = bench_now() - t0;
	p->events = expect - 1;
	cairn_sub_close(sub);
	if (cut) {
		/* the cursor is at the last event read */
		p->rate = (double)p->events / p->secs;
		return 0;
	}
	if (expect - 1 != W8C_EVENTS)
		return w8_error(c, W,
		                "read %llu events, not %u (checksum %llu)",
		                (unsigned long long)(expect - 1), W8C_EVENTS,
		                (unsigned long long)sum);
	if (name != NULL) {
		rc = cairn_subs_get(st, name, &info);
		if (rc != CAIRN_OK)
			return w8_cairn_error(c, W, "cairn_subs_get", rc);
		if (info.position != W8C_EVENTS)
			return w8_error(c, W, "the cursor of %s is %llu", name,
			                (unsigned long long)info.position);
	}
	p->rate = W8C_EVENTS / p->secs;
	return 0;
}

static void
pass_line(const char *what, unsigned per, const struct pass *p)
{
	printf("# W8-catchup: %u-event appends, %s: %.0f events/s (%s%.3f s: "
	       "%llu batches, %.3f s in cairn_sub_next = %.2f us/batch; "
	       "%llu acks, %.3f s in cairn_sub_ack = %.1f us/ack; %.3f s "
	       "the rest)\n",
	       per, what, p->rate,
	       p->events < W8C_EVENTS ? "CUT SHORT after " : "", p->secs,
	       (unsigned long long)p->batches, p->next_secs,
	       p->batches ? p->next_secs * 1e6 / (double)p->batches : 0.0,
	       (unsigned long long)p->acks, p->ack_secs,
	       p->acks ? p->ack_secs * 1e6 / (double)p->acks : 0.0,
	       p->secs - p->next_secs - p->ack_secs);
	fflush(stdout);
}

/* The figures of one store. */
struct catchup {
	double every_batch; /* median when passes > 1; 0: not measured */
	double every_10k;
	double no_acks;
	int unsupported;
};

/* Fill a store with appends of per events, then time the passes:
 * ack every batch (passes times), ack every W8C_ACK_EVERY events, not
 * durable. */
static int
catchup_store(struct w8 *c, const char *store, unsigned per, int passes,
              struct catchup *out)
{
	const char *W = "W8-catchup";
	char uri[W8_URI_MAX], name[64];
	double rates[W8C_PASSES], t0;
	cairn_store *st = NULL;
	struct pass p;
	int i, r, ret = -1;

	memset(out, 0, sizeof(*out));
	store_remove(c, store);
	if (store_uri(c, store, uri, sizeof(uri)) != 0) {
		store_uri_error(c, W, store);
		goto out;
	}
	/* relaxed for the untimed fill; the passes reopen it durable */
	if (store_open(c, W, uri, CAIRN_RELAXED, &st) != 0)
		goto out;
	t0 = bench_now();
	if (catchup_fill(c, st, per) != 0)
		goto out;
	printf("# W8-catchup: wrote %u events in appends of %u in %.2f s "
	       "(untimed, relaxed)\n",
	       W8C_EVENTS, per, bench_now() - t0);
	if (!c->memory) {
		cairn_close(st);
		st = NULL;
		if (store_open(c, W, uri, CAIRN_DURABLE, &st) != 0)
			goto out;
	}
	for (i = 0; i < passes; i++) {
		snprintf(name, sizeof(name), "w8-every-batch-%d", i + 1);
		r = catchup_pass(c, st, name, 0, &p);
		if (r < 0)
			goto out;
		if (r > 0) {
			out->unsupported = 1;
			break;
		}
		rates[i] = p.rate;
		pass_line("durable, ack every batch", per, &p);
	}
	if (!out->unsupported) {
		qsort(rates, (size_t)passes, sizeof(rates[0]), cmp_double);
		out->every_batch = rates[passes / 2];
		r = catchup_pass(c, st, "w8-every-10k", W8C_ACK_EVERY, &p);
		if (r < 0)
			goto out;
		out->every_10k = p.rate;
		pass_line("durable, ack every 10,000 events", per, &p);
	} else {
		printf("# W8-catchup: durable subscriptions: %s\n",
		       cairn_last_error());
	}
	if (catchup_pass(c, st, NULL, 0, &p) != 0)
		goto out;
	out->no_acks = p.rate;
	pass_line("not durable (no acks)", per, &p);
	ret = 0;
out:
	cairn_close(st);
	store_remove(c, store);
	return ret;
}

static int
w8_catchup(struct w8 *c)
{
	struct catchup big, small;

	if (catchup_store(c, "w8c", W8C_BIG, W8C_PASSES, &big) != 0 ||
	    catchup_store(c, "w8c10", W8C_SMALL, 1, &small) != 0)
		return -1;
	if (big.unsupported) {
		w8_result(c, "W8-catchup", "N/A",
		          "(durable subscriptions unsupported)  not durable: "
		          "events/s=%.0f (%u-event appends), %.0f (%u-event "
		          "appends)  target>=%.0f (lmdb)",
		          big.no_acks, W8C_BIG, small.no_acks, W8C_SMALL,
		          W8C_TARGET);
		return 0;
	}
	/* the target is the lmdb engine's; elsewhere the figures inform */
	w8_result(c, "W8-catchup",
	          strcmp(c->backend, "lmdb") != 0 ? "INFO"
	          : big.every_batch >= W8C_TARGET ? "PASS"
	                                          : "FAIL",
	          "events/s=%.0f  (%u-event appends, ack every batch, median "
	          "of %d)  %u-event appends: %.0f; ack every %u events: %.0f "
	          "/ %.0f; not durable: %.0f / %.0f  target>=%.0f (lmdb)",
	          big.every_batch, W8C_BIG, W8C_PASSES, W8C_SMALL,
	          small.every_batch, W8C_ACK_EVERY, big.every_10k,
	          small.every_10k, big.no_acks, small.no_acks, W8C_TARGET);
	return 0;
}

int
bench_w8(const char *dir, const char *backend)
{
	struct w8 c;

	memset(&c, 0, sizeof(c));
	c.dir = dir;
	c.backend = backend;
	c.memory = strcmp(backend, "memory") == 0;
	c.postgres = strcmp(backend, "postgres") == 0;
	init_data();
	w8_wake(&c);
	w8_xproc(&c);
	w8_catchup(&c);
	return c.status;
}
