/*
 * instrumented.c -- a store that counts and times what goes through it:
 * cairn_instrumented_open(), cairn_metrics_read(),
 * cairn_metrics_prometheus().
 *
 * Every operation is forwarded by forward.c; this file keeps the numbers
 * its hooks report, under one mutex, so that a reader always gets a
 * consistent set (the events of an append are never counted without the
 * append).  What is counted:
 *
 *   appends      append calls that succeeded (an idempotent repeat too:
 *                it succeeds, though it writes nothing)
 *   events       events those appends wrote (none for a repeat)
 *   conflicts    appends refused with CAIRN_CONFLICT (expected version,
 *                event id elsewhere, failed DCB condition)
 *   retries      command retries cairn_execute() reported on this store
 *   reads        reads (of a stream or of $all) that opened
 *   events_read  events those reads yielded (a running read reports every
 *                CAIRN__FORWARD_PROGRESS_EVERY events, and when it ends)
 *   errors       every other failure: appends, reads that did not open, a
 *                read's next(), listings, metadata, snapshots
 *
 * The append histogram times every append that reached the inner store,
 * whatever its outcome; the read histogram times each read that opened,
 * from its opening to its cairn_iter_free().  Validation failures are
 * answered by the core before the decorator sees them and count nowhere.
 */
#include "decorators/forward.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_US 1000u
#define NS_PER_S 1000000000u
#define US_PER_S 1000000u

/* The histogram's upper bounds in µs; the last one stands for +Inf. */
static const uint64_t bucket_bounds_us[CAIRN_METRICS_BUCKETS] = {
        50,   100,   250,   500,   1000,   2500,
        5000, 10000, 25000, 50000, 100000, UINT64_MAX,
};

typedef struct instrumented {
	cairn__forward fw; /* first: the forwarding base */
	pthread_mutex_t lock;
	cairn_metrics m;
	/* The latency sums in ns: exact, and printed without floating
	 * point (whose decimal point follows the process's locale). */
	uint64_t append_ns;
	uint64_t read_ns;
} instrumented;

static void instr_appended(cairn__forward *fw, const cairn__append_req *req,
                           cairn_status rc, uint64_t elapsed_ns);
static void instr_read_opened(cairn__forward *fw);
static void instr_read_progress(cairn__forward *fw, uint64_t n);
static void instr_read_closed(cairn__forward *fw, uint64_t elapsed_ns);
static void instr_failed(cairn__forward *fw, cairn_status rc);
static void instr_retried(cairn__forward *fw);
static void instr_destroy(cairn__forward *fw);

static const cairn__forward_hooks instr_hooks = {
        .appended = instr_appended,
        .read_opened = instr_read_opened,
        .read_progress = instr_read_progress,
        .read_closed = instr_read_closed,
        .failed = instr_failed,
        .retried = instr_retried,
        .destroy = instr_destroy,
};

static const cairn__backend_ops instr_ops = CAIRN__FORWARD_OPS("instrumented");

/* ---- Counting (the lock held) ---- */

/* Count one latency into a cumulative histogram. */
static void
observe(uint64_t counts[CAIRN_METRICS_BUCKETS], uint64_t *sum_ns,
        uint64_t elapsed_ns)
{
	size_t i;

	for (i = 0; i < CAIRN_METRICS_BUCKETS; i++)
		if (i == CAIRN_METRICS_BUCKETS - 1 ||
		    elapsed_ns <= bucket_bounds_us[i] * NS_PER_US)
			counts[i]++;
	*sum_ns += elapsed_ns;
}

static void
instr_appended(cairn__forward *fw, const cairn__append_req *req,
               cairn_status rc, uint64_t elapsed_ns)
{
	instrumented *in = (instrumented *)fw;

	pthread_mutex_lock(&in->lock);
	observe(in->m.append_latency, &in->append_ns, elapsed_ns);
	if (rc == CAIRN_OK) {
		in->m.appends++;
		if (!req->result->idempotent)
			in->m.events += req->nevents;
	} else if (rc == CAIRN_CONFLICT) {
		in->m.conflicts++;
	} else {
		in->m.errors++;
	}
	pthread_mutex_unlock(&in->lock);
}

static void
instr_read_opened(cairn__forward *fw)
{
	instrumented *in = (instrumented *)fw;

	pthread_mutex_lock(&in->lock);
	in->m.reads++;
	pthread_mutex_unlock(&in->lock);
}

static void
instr_read_progress(cairn__forward *fw, uint64_t n)
{
	instrumented *in = (instrumented *)fw;

	pthread_mutex_lock(&in->lock);
	in->m.events_read += n;
	pthread_mutex_unlock(&in->lock);
}

static void
instr_read_closed(cairn__forward *fw, uint64_t elapsed_ns)
{
	instrumented *in = (instrumented *)fw;

	pthread_mutex_lock(&in->lock);
	observe(in->m.read_latency, &in->read_ns, elapsed_ns);
	pthread_mutex_unlock(&in->lock);
}

static void
instr_failed(cairn__forward *fw, cairn_status rc)
{
	instrumented *in = (instrumented *)fw;

	(void)rc;
	pthread_mutex_lock(&in->lock);
	in->m.errors++;
	pthread_mutex_unlock(&in->lock);
}

static void
instr_retried(cairn__forward *fw)
{
	instrumented *in = (instrumented *)fw;

	pthread_mutex_lock(&in->lock);
	in->m.retries++;
	pthread_mutex_unlock(&in->lock);
}

static void
instr_destroy(cairn__forward *fw)
{
	pthread_mutex_destroy(&((instrumented *)fw)->lock);
}

/* ---- The public face ---- */

cairn_status
cairn_instrumented_open(cairn_store *inner, cairn_store **out)
{
	instrumented *in;
	cairn_status rc;

	if (out)
		*out = NULL;
	if (inner == NULL || out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	in = cairn__calloc(1, sizeof(*in));
	if (in == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (pthread_mutex_init(&in->lock, NULL) != 0) {
		cairn__free(in);
		return cairn__error(CAIRN_NOMEM, 0, "no mutex to be had");
	}
	memcpy(in->m.bucket_us, bucket_bounds_us, sizeof(bucket_bounds_us));
	rc = cairn__forward_open(&instr_ops, &in->fw, inner, &instr_hooks, out);
	if (rc != CAIRN_OK) {
		pthread_mutex_destroy(&in->lock);
		cairn__free(in);
	}
	return rc;
}

/* A consistent copy of the numbers, the sums in ns beside them. */
static void
snapshot(instrumented *in, cairn_metrics *m, uint64_t *append_ns,
         uint64_t *read_ns)
{
	pthread_mutex_lock(&in->lock);
	*m = in->m;
	*append_ns = in->append_ns;
	*read_ns = in->read_ns;
	pthread_mutex_unlock(&in->lock);
	m->append_seconds = (double)*append_ns / NS_PER_S;
	m->read_seconds = (double)*read_ns / NS_PER_S;
}

/* The callback runs outside the lock: it may use the store. */
cairn_status
cairn_metrics_read(cairn_store *store,
                   void (*fn)(void *ctx, const cairn_metrics *m), void *ctx)
{
	cairn__forward *fw = cairn__forward_of(store, &instr_ops);
	uint64_t append_ns, read_ns;
	cairn_metrics m;

	if (fw == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "the store is not an instrumented store");
	if (fn == NULL)
		return cairn__error(CAIRN_INVALID, 0, "fn is NULL");
	snapshot((instrumented *)fw, &m, &append_ns, &read_ns);
	fn(ctx, &m);
	return CAIRN_OK;
}

/* ---- The Prometheus text format ---- */

/* Text written so far into a caller's buffer, and the length it takes
 * in all (which goes on growing once the buffer is full). */
typedef struct text_out {
	char *buf;
	size_t size;
	size_t len;
} text_out;

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void
put(text_out *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (t->len < t->size)
		n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
}

/* Seconds as decimal text, from an integer count of units per second
 * (us_per_s or ns_per_s), without trailing zeros. */
static void
put_seconds(text_out *t, uint64_t value, uint64_t per_second, int digits)
{
	char frac[16];
	int end;

	snprintf(frac, sizeof(frac), "%0*llu", digits,
	         (unsigned long long)(value % per_second));
	for (end = digits; end > 1 && frac[end - 1] == '0'; end--)
		;
	put(t, "%llu.%.*s", (unsigned long long)(value / per_second), end,
	    frac);
}

static void
put_counter(text_out *t, const char *name, const char *help, uint64_t value)
{
	put(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name,
	    name, (unsigned long long)value);
}

static void
put_histogram(text_out *t, const char *name, const char *help,
              const uint64_t counts[CAIRN_METRICS_BUCKETS], uint64_t sum_ns)
{
	size_t i;

	put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < CAIRN_METRICS_BUCKETS; i++) {
		put(t, "%s_bucket{le=\"", name);
		if (i == CAIRN_METRICS_BUCKETS - 1)
			put(t, "+Inf");
		else
			put_seconds(t, bucket_bounds_us[i], US_PER_S, 6);
		put(t, "\"} %llu\n", (unsigned long long)counts[i]);
	}
	put(t, "%s_sum ", name);
	put_seconds(t, sum_ns, NS_PER_S, 9);
	put(t, "\n%s_count %llu\n", name,
	    (unsigned long long)counts[CAIRN_METRICS_BUCKETS - 1]);
}

cairn_status
cairn_metrics_prometheus(cairn_store *store, char *buf, size_t size,
                         size_t *needed)
{
	cairn__forward *fw = cairn__forward_of(store, &instr_ops);
	text_out t = {buf, size, 0};
	uint64_t append_ns, read_ns;
	cairn_metrics m;

	if (needed)
		*needed = 0;
	if (fw == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "the store is not an instrumented store");
	if (buf == NULL && size > 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "buf is NULL but size is %zu", size);
	snapshot((instrumented *)fw, &m, &append_ns, &read_ns);
	put_counter(&t, "cairn_appends_total", "Append calls that succeeded.",
	            m.appends);
	put_counter(&t, "cairn_events_appended_total",
	            "Events written by appends.", m.events);
	put_counter(&t, "cairn_conflicts_total",
	            "Appends refused by a version, id or query conflict.",
	            m.conflicts);
	put_counter(&t, "cairn_command_retries_total",
	            "Commands re-run after a conflict.", m.retries);
	put_counter(&t, "cairn_reads_total", "Reads opened.", m.reads);
	put_counter(&t, "cairn_events_read_total", "Events yielded by reads.",
	            m.events_read);
	put_counter(&t, "cairn_errors_total",
	            "Operations that failed otherwise.", m.errors);
	put_histogram(&t, "cairn_append_duration_seconds",
	              "Time appends took in the store, whatever their outcome.",
	              m.append_latency, append_ns);
	put_histogram(&t, "cairn_read_duration_seconds",
	              "Time reads were open, from opening to freeing.",
	              m.read_latency, read_ns);
	if (needed)
		*needed = t.len;
	return CAIRN_OK;
}
