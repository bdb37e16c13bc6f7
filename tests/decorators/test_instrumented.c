/*
 * test_instrumented.c -- an instrumented store counts exactly what went
 * through it, keeps its numbers consistent under concurrent use, and
 * prints them in a valid Prometheus text format.
 *
 * Failures of the inner store come from a fault-injecting engine: the
 * memory engine with switches that make its appends, reads or an
 * iterator's next() fail.  That needs the internals (cairn_internal).
 */
#include "deco.h"

#include "backend.h"
#include "core/core.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* ---- A fault-injecting engine ---- */

static struct {
	int appends;    /* fail every append with CAIRN_IO */
	int reads;      /* fail every read with CAIRN_IO when it opens */
	int next_after; /* > 0: a read's next() fails after this many */
} faults;

static cairn__backend_ops faulty_ops;

static cairn_status
faulty_append(cairn__backend *be, cairn__append_req *req)
{
	if (faults.appends)
		return cairn__req_error(req, CAIRN_IO, 5, "injected failure");
	return cairn__memory_backend.append(be, req);
}

typedef struct faulty_iter {
	cairn__iter base;
	cairn__iter *inner;
	int left;
} faulty_iter;

static cairn_status
faulty_next(cairn__iter *base, const cairn_event **ev)
{
	faulty_iter *it = (faulty_iter *)base;

	if (it->left == 0)
		return cairn__error(CAIRN_CORRUPT, 0, "injected corruption");
	if (it->left > 0)
		it->left--;
	return it->inner->ops->next(it->inner, ev);
}

static void
faulty_free(cairn__iter *base)
{
	faulty_iter *it = (faulty_iter *)base;

	it->inner->ops->free(it->inner);
	free(it);
}

static const cairn__iter_ops faulty_iter_ops = {faulty_next, faulty_free, NULL,
                                                 NULL};

static cairn_status
faulty_wrap(cairn_status rc, cairn__iter *inner, cairn__iter **out)
{
	faulty_iter *it;

	if (rc != CAIRN_OK)
		return rc;
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		inner->ops->free(inner);
		return CAIRN_NOMEM;
	}
	it->base.ops = &faulty_iter_ops;
	it->inner = inner;
	it->left = faults.next_after > 0 ? faults.next_after : -1;
	*out = &it->base;
	return CAIRN_OK;
}

static cairn_status
faulty_read_stream(cairn__backend *be, const char *stream, size_t len,
                   const cairn_read_opts *opts, cairn__iter **out)
{
	cairn__iter *inner = NULL;
	cairn_status rc;

	if (faults.reads)
		return cairn__error(CAIRN_IO, 5, "injected failure");
	rc = cairn__memory_backend.read_stream(be, stream, len, opts, &inner);
	return faulty_wrap(rc, inner, out);
}

static cairn_status
faulty_read_all(cairn__backend *be, const cairn_read_opts *opts,
                cairn__iter **out)
{
	cairn__iter *inner = NULL;
	cairn_status rc;

	if (faults.reads)
		return cairn__error(CAIRN_IO, 5, "injected failure");
	rc = cairn__memory_backend.read_all(be, opts, &inner);
	return faulty_wrap(rc, inner, out);
}

/* A memory store behind the fault switches. */
static cairn_store *
faulty_open(void)
{
	cairn_options opts;
	cairn__backend *be = NULL;
	cairn_store *st = NULL;

	memset(&faults, 0, sizeof(faults));
	faulty_ops = cairn__memory_backend;
	faulty_ops.scheme = "faulty";
	faulty_ops.append = faulty_append;
	faulty_ops.read_stream = faulty_read_stream;
	faulty_ops.read_all = faulty_read_all;
	cairn_options_init(&opts);
	assert_status(cairn__memory_backend.open("", &opts, &be), CAIRN_OK);
	assert_status(cairn__store_new(&faulty_ops, be, &opts, &st), CAIRN_OK);
	return st;
}

/* ---- Reading the metrics ---- */

static void
copy_metrics(void *ctx, const cairn_metrics *m)
{
	*(cairn_metrics *)ctx = *m;
}

static cairn_metrics
metrics(cairn_store *st)
{
	cairn_metrics m;

	memset(&m, 0xff, sizeof(m));
	assert_status(cairn_metrics_read(st, copy_metrics, &m), CAIRN_OK);
	return m;
}

#define LAST (CAIRN_METRICS_BUCKETS - 1)

/* The counters of m are the given ones. */
static void
assert_counts(const cairn_metrics *m, uint64_t appends, uint64_t events,
              uint64_t conflicts, uint64_t retries, uint64_t reads,
              uint64_t events_read, uint64_t errors)
{
	assert_int_equal(m->appends, appends);
	assert_int_equal(m->events, events);
	assert_int_equal(m->conflicts, conflicts);
	assert_int_equal(m->retries, retries);
	assert_int_equal(m->reads, reads);
	assert_int_equal(m->events_read, events_read);
	assert_int_equal(m->errors, errors);
}

/* Drain a read of st, returning how many events it yielded and the
 * status it ended on. */
static uint64_t
drain_count(cairn_iter *it, cairn_status *final)
{
	const cairn_event *e;
	uint64_t n = 0;

	while ((* final = cairn_iter_next(it, &e)) == CAIRN_ROW)
		n++;
	cairn_iter_free(it);
	return n;
}

/*
 * A scripted workload with every kind of outcome, and the exact numbers
 * it must leave.  The comments keep the running totals:
 * appends/events/conflicts/retries/reads/events_read/errors.
 */
static void
test_exact_counts(void **state)
{
	static const char *const flag_types[] = {"Flag"};
	cairn_query_item item = {flag_types, 1, NULL, 0};
	cairn_query q = {&item, 1};
	cairn_read_opts o = CAIRN_READ_OPTS_INIT;
	cairn_store *inner, *st = NULL;
	cairn_new_event evs[3], ev;
	cairn_append_result res;
	cairn_stream_iter *si = NULL;
	const cairn_event *e;
	cairn_iter *it = NULL;
	cairn_status final;
	cairn_write w;
	cairn_uuid id;
	cairn_metrics m;
	uint64_t v;
	int i;

	(void)state;
	inner = faulty_open();
	assert_status(cairn_instrumented_open(inner, &st), CAIRN_OK);
	m = metrics(st);
	assert_counts(&m, 0, 0, 0, 0, 0, 0, 0);
	for (i = 0; i < CAIRN_METRICS_BUCKETS; i++) {
		assert_int_equal(m.append_latency[i], 0);
		assert_int_equal(m.read_latency[i], 0);
	}
	assert_int_equal(m.bucket_us[0], 50);
	assert_int_equal(m.bucket_us[4], 1000);
	assert_int_equal(m.bucket_us[LAST - 1], 100000);
	assert_int_equal(m.bucket_us[LAST], UINT64_MAX);

	for (i = 0; i < 3; i++)
		evs[i] = deco_ev(i == 2 ? "Flag" : "E", "e");
	assert_status(cairn_append(st, "a-1", CAIRN_NO_STREAM, evs, 2, &res),
	              CAIRN_OK); /* 1/2/0/0/0/0/0 */
	assert_status(cairn_append(st, "a-1", CAIRN_ANY, evs, 3, &res),
	              CAIRN_OK); /* 2/5 */
	assert_status(cairn_append(st, "a-1", CAIRN_NO_STREAM, evs, 1, &res),
	              CAIRN_CONFLICT); /* conflicts 1 */
	w.stream = "b-1";
	w.expected = CAIRN_ANY;
	w.events = evs;
	w.nevents = 1;
	assert_status(cairn_append_if(st, &q, 0, &w, 1, &res),
	              CAIRN_CONFLICT); /* conflicts 2 */
	assert_status(cairn_uuid_generate(&id), CAIRN_OK);
	ev = deco_ev("Once", "o");
	ev.id = &id;
	assert_status(cairn_append(st, "b-1", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_OK); /* 3/6 */
	assert_status(cairn_append(st, "b-1", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_OK); /* 4/6: a repeat writes nothing */
	assert_int_equal(res.idempotent, 1);
	faults.appends = 1;
	assert_status(cairn_append(st, "c-1", CAIRN_ANY, evs, 1, &res),
	              CAIRN_IO); /* errors 1 */
	assert_contains(cairn_last_error(), "injected failure");
	assert_int_equal(cairn_last_error_native(), 5);
	faults.appends = 0;
	ev = deco_ev("bad\x01", "x");
	assert_status(cairn_append(st, "c-1", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_INVALID_TYPE); /* refused at the edge: nothing */
	m = metrics(st);
	assert_counts(&m, 4, 6, 2, 0, 0, 0, 1);
	assert_int_equal(m.append_latency[LAST], 7);

	/* reads: whole, limited, filtered, stopped early */
	assert_status(cairn_read_stream(st, "a-1", NULL, &it), CAIRN_OK);
	assert_int_equal(drain_count(it, &final), 5); /* reads 1, read 5 */
	assert_status(final, CAIRN_DONE);
	o.limit = 3;
	assert_status(cairn_read_all(st, &o, &it), CAIRN_OK);
	assert_int_equal(drain_count(it, &final), 3); /* 2, 8 */
	o.limit = 0;
	o.types = flag_types;
	o.ntypes = 1;
	assert_status(cairn_read_all(st, &o, &it), CAIRN_OK);
	assert_int_equal(drain_count(it, &final), 1); /* 3, 9 */
	assert_status(cairn_read_all(st, NULL, &it), CAIRN_OK);
	assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	cairn_iter_free(it); /* 4, 10 */
	faults.reads = 1;
	assert_status(cairn_read_all(st, NULL, &it), CAIRN_IO); /* errors 2 */
	assert_status(cairn_read_stream(st, "a-1", NULL, &it),
	              CAIRN_IO); /* errors 3 */
	faults.reads = 0;
	faults.next_after = 2;
	assert_status(cairn_read_all(st, NULL, &it), CAIRN_OK);
	assert_int_equal(drain_count(it, &final), 2); /* 5, 12, errors 4 */
	assert_status(final, CAIRN_CORRUPT);
	faults.next_after = 0;
	/* metadata and listings count nowhere when they succeed */
	assert_status(cairn_stream_version(st, "a-1", &v), CAIRN_OK);
	assert_status(cairn_head(st, &v), CAIRN_OK);
	assert_status(cairn_list_streams(st, NULL, NULL, 0, &si), CAIRN_OK);
	cairn_stream_iter_free(si);
	/* a retry reported by the executor */
	st->ops->note_retry(st->be);
	st->ops->note_retry(st->be);

	m = metrics(st);
	assert_counts(&m, 4, 6, 2, 2, 5, 12, 4);
	assert_int_equal(m.append_latency[LAST], 7);
	assert_int_equal(m.read_latency[LAST], 5);
	for (i = 1; i < CAIRN_METRICS_BUCKETS; i++) {
		assert_true(m.append_latency[i - 1] <= m.append_latency[i]);
		assert_true(m.read_latency[i - 1] <= m.read_latency[i]);
	}
	assert_true(m.append_seconds > 0);
	assert_true(m.read_seconds > 0);
	cairn_close(st);
	cairn_close(inner);
}

/* A read's latency runs from its opening to its free. */
static void
test_read_latency_buckets(void **state)
{
	struct timespec pause = {0, 3 * 1000 * 1000};
	cairn_store *inner = NULL, *st = NULL;
	cairn_iter *it = NULL;
	cairn_metrics m;

	(void)state;
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	assert_status(cairn_instrumented_open(inner, &st), CAIRN_OK);
	assert_status(cairn_read_all(st, NULL, &it), CAIRN_OK);
	nanosleep(&pause, NULL);
	m = metrics(st);
	assert_int_equal(m.reads, 1);
	assert_int_equal(m.read_latency[LAST], 0); /* not freed yet */
	cairn_iter_free(it);
	m = metrics(st);
	assert_int_equal(m.read_latency[LAST], 1);
	assert_int_equal(m.read_latency[5], 0); /* over 2.5 ms */
	assert_true(m.read_seconds >= 0.003);
	cairn_close(st);
	cairn_close(inner);
}

/* A long read shows in events_read while it runs. */
static void
test_progress_while_reading(void **state)
{
	cairn_store *inner = NULL, *st = NULL;
	cairn_new_event evs[200];
	const cairn_event *e;
	cairn_iter *it = NULL;
	cairn_metrics m;
	int i;

	(void)state;
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	for (i = 0; i < 200; i++)
		evs[i] = deco_ev("E", "e");
	assert_status(cairn_append(inner, "p-1", CAIRN_ANY, evs, 200, NULL),
	              CAIRN_OK);
	assert_status(cairn_instrumented_open(inner, &st), CAIRN_OK);
	assert_status(cairn_read_stream(st, "p-1", NULL, &it), CAIRN_OK);
	for (i = 0; i < 150; i++)
		assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	m = metrics(st);
	assert_int_equal(m.events_read, 128); /* two batches of 64 */
	cairn_iter_free(it);
	m = metrics(st);
	assert_int_equal(m.events_read, 150);
	cairn_close(st);
	cairn_close(inner);
}

/* ---- Retries, through the executor ---- */

/* A command that reads "r-1" and appends to it; on its first attempt it
 * writes to "r-1" behind the executor's back (through the store below
 * the instrumented one), so that its own append conflicts once. */
typedef struct racer {
	cairn_store *behind;
	unsigned attempts;
} racer;

static cairn_status
racer_reset(void *ctx)
{
	(void)ctx;
	return CAIRN_OK;
}

static cairn_status
racer_apply(void *ctx, const cairn_event *e)
{
	(void)ctx;
	(void)e;
	return CAIRN_OK;
}

static cairn_status
racer_handle(void *ctx, cairn_decision *d)
{
	racer *r = ctx;
	cairn_new_event ev = deco_ev("Done", "d");

	if (r->attempts++ == 0 && deco_append(r->behind, "r-1", CAIRN_ANY,
	                                      "Sneaked", "s", NULL) != CAIRN_OK)
		return CAIRN_IO;
	return cairn_decision_append(d, "r-1", &ev);
}

/* The executor's whole run, counted: two attempts, each reading r-1 (0
 * events, then 1), a conflicted append, a retry, a committed append. */
static void
test_retries_through_execute(void **state)
{
	static const char *const streams[] = {"r-1"};
	cairn_store *inner = NULL, *st = NULL;
	cairn_retry_policy policy;
	cairn_exec_result res;
	cairn_command cmd;
	racer r = {NULL, 0};
	cairn_metrics m;

	(void)state;
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	assert_status(cairn_instrumented_open(inner, &st), CAIRN_OK);
	r.behind = inner;
	memset(&cmd, 0, sizeof(cmd));
	cmd.ctx = &r;
	cmd.streams = streams;
	cmd.nstreams = 1;
	cmd.reset = racer_reset;
	cmd.apply = racer_apply;
	cmd.handle = racer_handle;
	cairn_retry_policy_init(&policy);
	policy.max_retries = 3;
	policy.backoff = CAIRN_BACKOFF_FIXED;
	policy.base_delay_us = 1;
	assert_status(cairn_execute(st, &cmd, &policy, &res), CAIRN_OK);
	assert_int_equal(res.attempts, 2);
	m = metrics(st);
	assert_counts(&m, 1, 1, 1, 1, 2, 1, 0);
	assert_int_equal(m.append_latency[LAST], 2);
	assert_int_equal(m.read_latency[LAST], 2);
	cairn_close(st);
	cairn_close(inner);
}

/* ---- The Prometheus text format ---- */

static int
is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == ':';
}

static int
is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* A metric name at *p: its length, 0 when there is none. */
static size_t
name_len(const char *p)
{
	size_t n = 0;

	if (!is_name_start(p[0]))
		return 0;
	while (is_name_char(p[n]))
		n++;
	return n;
}

/* A sample value: a Go float or +Inf/-Inf/NaN, the whole of text. */
static int
valid_value(const char *text, double *out)
{
	char *end;

	if (strcmp(text, "+Inf") == 0) {
		*out = INFINITY;
		return 1;
	}
	if (strcmp(text, "-Inf") == 0 || strcmp(text, "NaN") == 0) {
		*out = 0;
		return 1;
	}
	if (text[0] == '\0')
		return 0;
	*out = strtod(text, &end);
	return *end == '\0';
}

/* What the validator keeps of one metric family. */
typedef struct family {
	char name[128];
	char type[16];
	int help;
	int samples;
	double last_le;
	double last_bucket;
	double inf_bucket;
	int has_inf;
	double count;
	int has_sum;
	int has_count;
} family;

typedef struct exposition {
	family fams[32];
	size_t nfams;
	char problem[256];
} exposition;

static family *
family_of(exposition *x, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < x->nfams; i++)
		if (strlen(x->fams[i].name) == len &&
		    strncmp(x->fams[i].name, name, len) == 0)
			return &x->fams[i];
	return NULL;
}

/* The family a sample name belongs to: itself, or a histogram's name
 * before _bucket/_sum/_count. */
static family *
sample_family(exposition *x, const char *name, size_t len, const char **suffix)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	size_t i, sl;
	family *f;

	*suffix = "";
	for (i = 0; i < 3; i++) {
		sl = strlen(suffixes[i]);
		if (len > sl &&
		    strncmp(name + len - sl, suffixes[i], sl) == 0 &&
		    (f = family_of(x, name, len - sl)) != NULL &&
		    strcmp(f->type, "histogram") == 0) {
			*suffix = suffixes[i];
			return f;
		}
	}
	return family_of(x, name, len);
}

#define PROBLEM(...)                                                           \
	do {                                                                   \
		/* a long line is cut, on purpose */                   \
		if (snprintf(x->problem, sizeof(x->problem), __VA_ARGS__) <   \
		    0)                                                         \
			x->problem[0] = 0;                                     \
		return 0;                                                      \
	} while (0)

/* "# HELP name text" or "# TYPE name type". */
static int
check_comment(exposition *x, const char *line)
{
	const char *p;
	size_t n;
	family *f;

	if (strncmp(line, "# HELP ", 7) != 0 &&
	    strncmp(line, "# TYPE ", 7) != 0)
		PROBLEM("unknown comment: %s", line);
	p = line + 7;
	n = name_len(p);
	if (n == 0 || p[n] != ' ' || n >= sizeof(f->name))
		PROBLEM("bad metric name in: %s", line);
	f = family_of(x, p, n);
	if (f == NULL) {
		if (x->nfams == sizeof(x->fams) / sizeof(x->fams[0]))
			PROBLEM("too many families");
		f = &x->fams[x->nfams++];
		memset(f, 0, sizeof(*f));
		memcpy(f->name, p, n);
		f->last_le = -INFINITY;
	}
	if (f->samples)
		PROBLEM("comment after the samples of %s", f->name);
	if (line[2] == 'H') {
		if (f->help++)
			PROBLEM("two HELP lines for %s", f->name);
		if (p[n + 1] == '\0')
			PROBLEM("empty HELP for %s", f->name);
		return 1;
	}
	if (f->type[0])
		PROBLEM("two TYPE lines for %s", f->name);
	p += n + 1;
	if (strcmp(p, "counter") && strcmp(p, "gauge") &&
	    strcmp(p, "histogram") && strcmp(p, "summary") &&
	    strcmp(p, "untyped"))
		PROBLEM("unknown type %s", p);
	snprintf(f->type, sizeof(f->type), "%s", p);
	return 1;
}

/* {name="value",...}: the value of le into le (or "" without one). */
static int
check_labels(exposition *x, const char **pp, char *le, size_t le_size)
{
	const char *p = *pp + 1;
	char label[64], value[64];
	size_t n, v;

	le[0] = '\0';
	for (;;) {
		n = name_len(p);
		if (n == 0 || n >= sizeof(label) || p[n] != '=' ||
		    p[n + 1] != '"')
			PROBLEM("bad label at: %s", p);
		memcpy(label, p, n);
		label[n] = '\0';
		p += n + 2;
		for (v = 0; *p && *p != '"'; p++) {
			if (*p == '\\' &&
			    (p[1] == '\\' || p[1] == '"' || p[1] == 'n'))
				p++;
			else if (*p == '\\' || *p == '\n')
				PROBLEM("bad escape in label %s", label);
			if (v + 1 < sizeof(value))
				value[v++] = *p;
		}
		value[v] = '\0';
		if (*p++ != '"')
			PROBLEM("unterminated label %s", label);
		if (strcmp(label, "le") == 0)
			snprintf(le, le_size, "%s", value);
		if (*p == ',')
			p++;
		if (*p == '}')
			break;
	}
	*pp = p + 1;
	return 1;
}

/* The rules a histogram's samples follow: buckets by increasing le with
 * non-decreasing counts, +Inf last, equal to _count. */
static int
check_histogram(exposition *x, family *f, const char *suffix, const char *le,
                double value)
{
	double bound;

	if (strcmp(suffix, "_bucket") == 0) {
		if (!valid_value(le, &bound) || f->has_inf)
			PROBLEM("bad or late bucket le=\"%s\" in %s", le,
			        f->name);
		if (bound <= f->last_le || value < f->last_bucket)
			PROBLEM("bucket le=\"%s\" of %s out of order", le,
			        f->name);
		f->last_le = bound;
		f->last_bucket = value;
		if (isinf(bound)) {
			f->has_inf = 1;
			f->inf_bucket = value;
		}
	} else if (strcmp(suffix, "_count") == 0) {
		f->has_count = 1;
		f->count = value;
	} else if (strcmp(suffix, "_sum") == 0) {
		f->has_sum = 1;
	} else {
		PROBLEM("plain sample in histogram %s", f->name);
	}
	return 1;
}

static int
check_sample(exposition *x, const char *line)
{
	const char *p = line, *suffix;
	char le[64];
	double value;
	size_t n;
	family *f;

	n = name_len(p);
	if (n == 0)
		PROBLEM("bad sample line: %s", line);
	f = sample_family(x, p, n, &suffix);
	if (f == NULL || f->type[0] == '\0')
		PROBLEM("sample before its TYPE: %s", line);
	p += n;
	le[0] = '\0';
	if (*p == '{' && !check_labels(x, &p, le, sizeof(le)))
		return 0;
	if (*p++ != ' ')
		PROBLEM("no space before the value: %s", line);
	if (!valid_value(p, &value))
		PROBLEM("bad value in: %s", line);
	f->samples++;
	if (strcmp(f->type, "counter") == 0 && value < 0)
		PROBLEM("negative counter: %s", line);
	if (strcmp(f->type, "histogram") == 0)
		return check_histogram(x, f, suffix, le, value);
	return 1;
}

/* Check text line by line; 1 when valid, else 0 with x->problem. */
static int
validate_exposition(exposition *x, const char *text)
{
	char line[512];
	const char *p = text, *nl;
	size_t i, len;

	memset(x, 0, sizeof(*x));
	if (text[0] == '\0' || text[strlen(text) - 1] != '\n')
		PROBLEM("the text does not end with a newline");
	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		len = (size_t)(nl - p);
		if (len == 0 || len >= sizeof(line))
			PROBLEM("empty or overlong line");
		memcpy(line, p, len);
		line[len] = '\0';
		if (!(line[0] == '#' ? check_comment(x, line)
		                     : check_sample(x, line)))
			return 0;
	}
	for (i = 0; i < x->nfams; i++) {
		family *f = &x->fams[i];
		if (!f->help || !f->type[0] || !f->samples)
			PROBLEM("%s lacks HELP, TYPE or samples", f->name);
		if (strcmp(f->type, "histogram") == 0 &&
		    (!f->has_inf || !f->has_sum || !f->has_count ||
		     f->count != f->inf_bucket))
			PROBLEM("histogram %s is incomplete", f->name);
	}
	return 1;
}

/* The value of the sample line that starts with prefix (name and
 * labels), or -1. */
static double
sample_value(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* The validator itself refuses broken texts. */
static void
test_validator_refuses(void **state)
{
	static const char *const bad[] = {
	        "cairn_x 1\n",
	        "# TYPE cairn_x counter\ncairn_x 1",
	        "# HELP cairn_x h\n# TYPE cairn_x counter\ncairn_x one\n",
	        "# HELP cairn_x h\n# TYPE cairn_x counter\ncairn_x{a=1} 1\n",
	        "# HELP 9x h\n",
	        "# HELP h_s h\n# TYPE h_s histogram\n"
	        "h_s_bucket{le=\"1\"} 2\nh_s_bucket{le=\"+Inf\"} 1\n"
	        "h_s_sum 1\nh_s_count 1\n",
	        "# HELP h_s h\n# TYPE h_s histogram\n"
	        "h_s_bucket{le=\"+Inf\"} 3\nh_s_sum 1\nh_s_count 2\n",
	};
	exposition x;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (validate_exposition(&x, bad[i]))
			fail_msg("accepted: %s", bad[i]);
	assert_true(validate_exposition(
	        &x, "# HELP h_s h\n# TYPE h_s histogram\n"
	            "h_s_bucket{le=\"0.5\"} 1\nh_s_bucket{le=\"+Inf\"} 2\n"
	            "h_s_sum 0.75\nh_s_count 2\n"));
}

static void
test_prometheus_text(void **state)
{
	static const char *const counters[] = {
	        "cairn_appends_total",   "cairn_events_appended_total",
	        "cairn_conflicts_total", "cairn_command_retries_total",
	        "cairn_reads_total",     "cairn_events_read_total",
	        "cairn_errors_total",
	};
	cairn_store *inner, *st = NULL;
	cairn_new_event evs[2];
	cairn_iter *it = NULL;
	cairn_status final;
	exposition x;
	size_t needed = 0, i;
	char *text;

	(void)state;
	inner = faulty_open();
	assert_status(cairn_instrumented_open(inner, &st), CAIRN_OK);
	evs[0] = deco_ev("E", "1");
	evs[1] = deco_ev("E", "2");
	assert_status(cairn_append(st, "a-1", CAIRN_NO_STREAM, evs, 2, NULL),
	              CAIRN_OK);
	assert_status(cairn_append(st, "a-1", CAIRN_NO_STREAM, evs, 2, NULL),
	              CAIRN_CONFLICT);
	faults.appends = 1;
	assert_status(cairn_append(st, "a-1", CAIRN_ANY, evs, 2, NULL),
	              CAIRN_IO);
	faults.appends = 0;
	assert_status(cairn_read_stream(st, "a-1", NULL, &it), CAIRN_OK);
	assert_int_equal(drain_count(it, &final), 2);
	st->ops->note_retry(st->be);

	assert_status(cairn_metrics_prometheus(st, NULL, 0, &needed), CAIRN_OK);
	assert_true(needed > 0);
	text = malloc(needed + 1);
	assert_non_null(text);
	assert_status(cairn_metrics_prometheus(st, text, needed + 1, &needed),
	              CAIRN_OK);
	assert_int_equal(strlen(text), needed);
	if (!validate_exposition(&x, text))
		fail_msg("%s\n--- in ---\n%s", x.problem, text);
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		assert_non_null(
		        family_of(&x, counters[i], strlen(counters[i])));
	assert_non_null(family_of(&x, "cairn_append_duration_seconds", 29));
	assert_non_null(family_of(&x, "cairn_read_duration_seconds", 27));
	assert_true(sample_value(text, "cairn_appends_total") == 1);
	assert_true(sample_value(text, "cairn_events_appended_total") == 2);
	assert_true(sample_value(text, "cairn_conflicts_total") == 1);
	assert_true(sample_value(text, "cairn_command_retries_total") == 1);
	assert_true(sample_value(text, "cairn_reads_total") == 1);
	assert_true(sample_value(text, "cairn_events_read_total") == 2);
	assert_true(sample_value(text, "cairn_errors_total") == 1);
	assert_true(sample_value(text, "cairn_append_duration_seconds_count") ==
	            3);
	assert_true(sample_value(text, "cairn_read_duration_seconds_count") ==
	            1);
	assert_true(sample_value(text, "cairn_append_duration_seconds_bucket"
	                               "{le=\"+Inf\"}") == 3);
	assert_non_null(strstr(text, "_bucket{le=\"0.00005\"} "));
	assert_non_null(strstr(text, "_bucket{le=\"0.0025\"} "));
	assert_non_null(strstr(text, "_bucket{le=\"0.1\"} "));
	assert_non_null(strstr(text, "# TYPE cairn_appends_total counter\n"));
	assert_non_null(
	        strstr(text, "# TYPE cairn_read_duration_seconds histogram\n"));
	free(text);
	cairn_close(st);
	cairn_close(inner);
}

/* A buffer too small gets what fits, NUL-terminated, and the length the
 * whole text needs. */
static void
test_prometheus_small_buffer(void **state)
{
	cairn_store *inner = NULL, *plain = NULL, *st = NULL;
	size_t needed = 0, full = 0;
	char *whole, small[10];

	(void)state;
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	assert_status(cairn_instrumented_open(inner, &st), CAIRN_OK);
	assert_status(deco_append(st, "a-1", CAIRN_ANY, "E", "e", NULL),
	              CAIRN_OK);
	assert_status(cairn_metrics_prometheus(st, NULL, 0, &full), CAIRN_OK);
	whole = malloc(full + 1);
	assert_non_null(whole);
	assert_status(cairn_metrics_prometheus(st, whole, full + 1, &needed),
	              CAIRN_OK);
	assert_int_equal(needed, full);

	memset(small, 'x', sizeof(small));
	assert_status(
	        cairn_metrics_prometheus(st, small, sizeof(small), &needed),
	        CAIRN_OK);
	assert_int_equal(needed, full);
	assert_int_equal(small[sizeof(small) - 1], '\0');
	assert_memory_equal(small, whole, sizeof(small) - 1);
	/* one byte short: all but the last character */
	assert_status(cairn_metrics_prometheus(st, whole, full, &needed),
	              CAIRN_OK);
	assert_int_equal(needed, full);
	assert_int_equal(strlen(whole), full - 1);
	/* needed may be NULL; buf may not be NULL with a size */
	assert_status(cairn_metrics_prometheus(st, small, sizeof(small), NULL),
	              CAIRN_OK);
	assert_status(cairn_metrics_prometheus(st, NULL, 5, &needed),
	              CAIRN_INVALID);
	/* only instrumented stores have metrics */
	assert_status(
	        cairn_metrics_prometheus(inner, small, sizeof(small), &needed),
	        CAIRN_INVALID);
	assert_status(cairn_metrics_read(inner, copy_metrics, small),
	              CAIRN_INVALID);
	assert_status(cairn_tracking_open(inner, &plain), CAIRN_OK);
	assert_status(cairn_metrics_read(plain, copy_metrics, small),
	              CAIRN_INVALID);
	assert_status(cairn_metrics_read(st, NULL, NULL), CAIRN_INVALID);
	free(whole);
	cairn_close(plain);
	cairn_close(st);
	cairn_close(inner);
}

/* ---- Concurrency ---- */

#define APPENDERS 4
#define APPENDS_EACH 300

typedef struct shared {
	cairn_store *st;
	int stop;
	pthread_mutex_t lock;
	unsigned inconsistent;
	unsigned looks;
} shared;

static void *
appender(void *arg)
{
	shared *s = arg;
	int i;

	for (i = 0; i < APPENDS_EACH; i++)
		deco_append(s->st, "hot", i % 3 ? CAIRN_ANY : 0, "E", "e",
		            NULL);
	return NULL;
}

/* Every copy is consistent: each append of this workload writes one
 * event, and the histogram counts every append that ran. */
static void
look(void *ctx, const cairn_metrics *m)
{
	shared *s = ctx;

	s->looks++;
	if (m->events != m->appends ||
	    m->append_latency[LAST] != m->appends + m->conflicts + m->errors)
		s->inconsistent++;
}

static void *
watcher(void *arg)
{
	shared *s = arg;
	int stop;

	do {
		pthread_mutex_lock(&s->lock);
		stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		cairn_metrics_read(s->st, look, s);
	} while (!stop);
	return NULL;
}

static void
test_concurrent_counts(void **state)
{
	pthread_t threads[APPENDERS], watch;
	cairn_store *inner = NULL;
	cairn_metrics m;
	uint64_t head = 0;
	shared s;
	int i;

	(void)state;
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	assert_status(cairn_instrumented_open(inner, &s.st), CAIRN_OK);
	assert_int_equal(pthread_create(&watch, NULL, watcher, &s), 0);
	for (i = 0; i < APPENDERS; i++)
		assert_int_equal(
		        pthread_create(&threads[i], NULL, appender, &s), 0);
	for (i = 0; i < APPENDERS; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_lock(&s.lock);
	s.stop = 1;
	pthread_mutex_unlock(&s.lock);
	pthread_join(watch, NULL);

	m = metrics(s.st);
	assert_status(cairn_head(inner, &head), CAIRN_OK);
	assert_int_equal(m.appends, head);
	assert_int_equal(m.events, head);
	assert_int_equal(m.appends + m.conflicts, APPENDERS * APPENDS_EACH);
	assert_int_equal(m.errors, 0);
	assert_true(s.looks > 0);
	assert_int_equal(s.inconsistent, 0);
	cairn_close(s.st);
	cairn_close(inner);
	pthread_mutex_destroy(&s.lock);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exact_counts),
	        cmocka_unit_test(test_read_latency_buckets),
	        cmocka_unit_test(test_progress_while_reading),
	        cmocka_unit_test(test_retries_through_execute),
	        cmocka_unit_test(test_validator_refuses),
	        cmocka_unit_test(test_prometheus_text),
	        cmocka_unit_test(test_prometheus_small_buffer),
	        cmocka_unit_test(test_concurrent_counts),
	};

	return cmocka_run_group_tests_name("instrumented", tests, NULL, NULL);
}
