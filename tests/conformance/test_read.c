/*
 * test_read.c -- reads of one stream and of $all, filters, event fields,
 * folds, stream versions, head, stats, verify, and iterator behaviour
 * (early stop, stickiness of DONE, lifetime of a borrowed event).
 */
#include "conformance.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- stream reads ---- */

static void expect_versions(cairn_store *st, const char *stream,
                            uint64_t from, uint64_t limit, int backwards,
                            uint64_t first, size_t count)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	ro.from = from;
	ro.limit = limit;
	ro.backwards = backwards;
	conf_rec *recs;
	size_t n = conf_read_stream(st, stream, &ro, &recs);
	if (n != count)
		print_error("from %llu limit %llu backwards %d\n",
		            (unsigned long long)from, (unsigned long long)limit,
		            backwards);
	assert_int_equal(n, count);
	for (size_t i = 0; i < n; i++) {
		uint64_t want = backwards ? first - i : first + i;
		assert_int_equal(recs[i].version, want);
		assert_string_equal(recs[i].stream, stream);
		char data[300];
		snprintf(data, sizeof data, "%s#%llu", stream,
		         (unsigned long long)want);
		assert_string_equal((char *)recs[i].data, data);
	}
	conf_recs_free(recs, n);
}

/* Forward, backward, from a version, with a limit. */
static void test_read_stream_ranges(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "other", 3);
	conf_fill(fx->st, "r", 10);
	conf_fill(fx->st, "other", 3);
	expect_versions(fx->st, "r", 0, 0, 0, 1, 10);
	expect_versions(fx->st, "r", 1, 0, 0, 1, 10);
	expect_versions(fx->st, "r", 4, 0, 0, 4, 7);
	expect_versions(fx->st, "r", 4, 3, 0, 4, 3);
	expect_versions(fx->st, "r", 0, 1, 0, 1, 1);
	expect_versions(fx->st, "r", 10, 0, 0, 10, 1);
	expect_versions(fx->st, "r", 11, 0, 0, 0, 0);
	expect_versions(fx->st, "r", 1000, 5, 0, 0, 0);
	expect_versions(fx->st, "r", 0, 100, 0, 1, 10);
	expect_versions(fx->st, "r", 0, 0, 1, 10, 10);
	expect_versions(fx->st, "r", 7, 0, 1, 7, 7);
	expect_versions(fx->st, "r", 7, 2, 1, 7, 2);
	expect_versions(fx->st, "r", 1, 0, 1, 1, 1);
	expect_versions(fx->st, "r", 0, 3, 1, 10, 3);

	/* NULL options: forward, whole stream */
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "r", NULL, &recs);
	assert_int_equal(n, 10);
	assert_int_equal(recs[0].position, 4);
	assert_int_equal(recs[9].position, 13);
	conf_recs_free(recs, n);
}

/* A stream that does not exist reads as empty, also backwards. */
static void test_read_missing_stream(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "exists", 2);
	cairn_iter *it = NULL;
	assert_status(cairn_read_stream(fx->st, "missing", NULL, &it), CAIRN_OK);
	const cairn_event *e;
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	cairn_iter_free(it);
	expect_versions(fx->st, "missing", 0, 0, 1, 0, 0);
	expect_versions(fx->st, "exist", 0, 0, 0, 0, 0); /* a prefix */
	expect_versions(fx->st, "exists-", 0, 0, 0, 0, 0);
	assert_int_equal(conf_version(fx->st, "missing"), 0);
}

/* ---- $all reads against a model ---- */

struct model_ev {
	const char *stream;
	const char *type;
	uint64_t position;
};

static int model_matches(const struct model_ev *m, const cairn_read_opts *o)
{
	if (o->prefix != NULL &&
	    strncmp(m->stream, o->prefix, strlen(o->prefix)) != 0)
		return 0;
	if (o->ntypes == 0)
		return 1;
	for (size_t i = 0; i < o->ntypes; i++)
		if (strcmp(m->type, o->types[i]) == 0)
			return 1;
	return 0;
}

static void check_all_query(cairn_store *st, const struct model_ev *model,
                            size_t nmodel, const cairn_read_opts *o,
                            const char *what)
{
	/* the expected positions */
	uint64_t *want = calloc(nmodel + 1, sizeof *want);
	assert_non_null(want);
	size_t nwant = 0;
	for (size_t k = 0; k < nmodel; k++) {
		size_t i = o->backwards ? nmodel - 1 - k : k;
		const struct model_ev *m = &model[i];
		if (!o->backwards && m->position < o->from)
			continue;
		if (o->backwards && o->from != 0 && m->position > o->from)
			continue;
		if (!model_matches(m, o))
			continue;
		if (o->limit != 0 && nwant == o->limit)
			break;
		want[nwant++] = m->position;
	}
	conf_rec *recs;
	size_t n = conf_read_all(st, o, &recs);
	if (n != nwant)
		print_error("query \"%s\": got %zu events, want %zu\n", what, n,
		            nwant);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++) {
		if (recs[i].position != want[i])
			print_error("query \"%s\": event %zu\n", what, i);
		assert_int_equal(recs[i].position, want[i]);
		const struct model_ev *m = &model[want[i] - 1];
		assert_string_equal(recs[i].stream, m->stream);
		assert_string_equal(recs[i].type, m->type);
	}
	conf_recs_free(recs, n);
	free(want);
}

/* $all from a position, backwards, with type and prefix filters, limits
 * and combinations, checked against a model of the log. */
static void test_read_all_filters(void **state)
{
	conf_fixture *fx = *state;
	static const char *streams[] = {"order-1", "order-2", "user-1",
	                                "orders-x", "order-3", "order_1"};
	static const char *types[] = {"Created", "Paid", "Shipped", "Paid"};
	enum { N = 90 };
	struct model_ev model[N];
	for (size_t i = 0; i < N; i++) {
		const char *s = streams[(i * 7 + i / 5) % 6];
		const char *t = types[(i * 3 + i / 4) % 4];
		cairn_append_result r;
		assert_status(conf_append_text(fx->st, s, CAIRN_ANY, t, "{}", &r),
		              CAIRN_OK);
		model[i].stream = s;
		model[i].type = t;
		model[i].position = i + 1;
		assert_int_equal(r.first_position, i + 1);
	}
	const char *paid[] = {"Paid"};
	const char *paid_shipped[] = {"Shipped", "Paid"};
	const char *created[] = {"Created"};
	const char *nope[] = {"Nope"};
	struct {
		const char *what;
		cairn_read_opts o;
	} q[] = {
		{"everything", {0, 0, 0, NULL, 0, NULL, NULL}},
		{"from 1", {1, 0, 0, NULL, 0, NULL, NULL}},
		{"from 37", {37, 0, 0, NULL, 0, NULL, NULL}},
		{"from 37 limit 10", {37, 10, 0, NULL, 0, NULL, NULL}},
		{"from head", {N, 0, 0, NULL, 0, NULL, NULL}},
		{"from past head", {N + 1, 0, 0, NULL, 0, NULL, NULL}},
		{"limit 1", {0, 1, 0, NULL, 0, NULL, NULL}},
		{"backwards", {0, 0, 1, NULL, 0, NULL, NULL}},
		{"backwards from 37", {37, 0, 1, NULL, 0, NULL, NULL}},
		{"backwards from 37 limit 5", {37, 5, 1, NULL, 0, NULL, NULL}},
		{"backwards limit 4", {0, 4, 1, NULL, 0, NULL, NULL}},
		{"type Paid", {0, 0, 0, paid, 1, NULL, NULL}},
		{"types Shipped|Paid", {0, 0, 0, paid_shipped, 2, NULL, NULL}},
		{"type Nope", {0, 0, 0, nope, 1, NULL, NULL}},
		{"prefix order-", {0, 0, 0, NULL, 0, "order-", NULL}},
		{"prefix order_", {0, 0, 0, NULL, 0, "order_", NULL}},
		{"prefix empty", {0, 0, 0, NULL, 0, "", NULL}},
		{"prefix orders-x exact", {0, 0, 0, NULL, 0, "orders-x", NULL}},
		{"prefix nothing", {0, 0, 0, NULL, 0, "zzz", NULL}},
		{"prefix longer than streams", {0, 0, 0, NULL, 0, "order-1-", NULL}},
		{"prefix+type+limit", {0, 3, 0, created, 1, "order-", NULL}},
		{"prefix+type+limit backwards", {0, 3, 1, created, 1, "order-", NULL}},
		{"prefix+types from 30 limit 7",
		 {30, 7, 0, paid_shipped, 2, "order", NULL}},
		{"prefix+types backwards from 60 limit 6",
		 {60, 6, 1, paid_shipped, 2, "order-", NULL}},
		{"prefix+type no match", {0, 0, 0, nope, 1, "order-", NULL}},
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		check_all_query(fx->st, model, N, &q[i].o, q[i].what);

	/* NULL options are everything, forward */
	conf_rec *recs;
	size_t n = conf_read_all(fx->st, NULL, &recs);
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(recs[i].position, i + 1);
	conf_recs_free(recs, n);

	/* a malformed filter type */
	const char *bad[] = {"ok", "bad\xff"};
	cairn_read_opts bo = CAIRN_READ_OPTS_INIT;
	bo.types = bad;
	bo.ntypes = 2;
	cairn_iter *it = NULL;
	assert_status(cairn_read_all(fx->st, &bo, &it), CAIRN_INVALID_TYPE);
	const char *empty[] = {""};
	bo.types = empty;
	bo.ntypes = 1;
	assert_status(cairn_read_all(fx->st, &bo, &it), CAIRN_INVALID_TYPE);
	bo.types = NULL; /* ntypes without types */
	assert_status(cairn_read_all(fx->st, &bo, &it), CAIRN_INVALID);
}

/* ---- event fields ---- */

/* Every field of an event comes back as it went in: ids given and
 * generated, types, binary data and metadata with NUL bytes, empty data,
 * tags; store-assigned stream, version, position and time are right. */
static void test_event_roundtrip(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "pre", 1);
	unsigned char bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)(255 - i);
	static const char nul_data[] = {'a', '\0', 'b', '\0', '\0', 'c'};
	size_t big_len = 100 * 1024;
	unsigned char *big = malloc(big_len);
	assert_non_null(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (unsigned char)(i * 131 + (i >> 9));

	const char *tags1[] = {"customer:42", "tag-二", "x"};
	const char *tags_max[CAIRN_TAGS_MAX];
	char tagbuf[CAIRN_TAGS_MAX][16];
	for (int i = 0; i < CAIRN_TAGS_MAX; i++) {
		snprintf(tagbuf[i], sizeof tagbuf[i], "t%02d", i);
		tags_max[i] = tagbuf[i];
	}
	cairn_uuid given = conf_uuid();
	cairn_new_event evs[5];
	evs[0] = conf_ev("Created", NULL);
	evs[0].data = nul_data;
	evs[0].data_len = sizeof nul_data;
	evs[0].metadata = bin;
	evs[0].metadata_len = sizeof bin;
	evs[0].tags = tags1;
	evs[0].ntags = 3;
	evs[0].id = &given;
	evs[1] = conf_ev("E", NULL); /* NULL data, no metadata, no tags */
	evs[2] = conf_ev("Empty", ""); /* non-NULL empty data */
	evs[2].metadata = "{\"m\":1}";
	evs[2].metadata_len = 7;
	evs[2].tags = tags_max;
	evs[2].ntags = CAIRN_TAGS_MAX;
	evs[3] = conf_ev("Big", NULL);
	evs[3].data = big;
	evs[3].data_len = big_len;
	evs[4] = conf_ev("OnlyMeta", NULL);
	evs[4].metadata = bin;
	evs[4].metadata_len = 1;

	int64_t before = realtime_ns();
	assert_status(cairn_append(fx->st, "rt-1", CAIRN_NO_STREAM, evs, 5, NULL),
	              CAIRN_OK);
	assert_status(conf_append_text(fx->st, "rt-1", 5, "Later", "{\"k\":2}",
	                               NULL),
	              CAIRN_OK);
	int64_t after = realtime_ns();

	for (int pass = 0; pass < 2; pass++) {
		conf_rec *recs;
		size_t n;
		if (pass == 0) {
			n = conf_read_stream(fx->st, "rt-1", NULL, &recs);
		} else {
			cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
			ro.from = 2;
			n = conf_read_all(fx->st, &ro, &recs);
		}
		assert_int_equal(n, 6);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(recs[i].stream, "rt-1");
			assert_int_equal(recs[i].version, i + 1);
			assert_int_equal(recs[i].position, i + 2);
			/* generous slack: clocks are coarse on some hosts */
			assert_true(recs[i].time_ns >= before - 2000000000LL);
			assert_true(recs[i].time_ns <= after + 2000000000LL);
			if (i > 0)
				assert_true(recs[i].time_ns >= recs[i - 1].time_ns);
		}
		assert_memory_equal(recs[0].id.bytes, given.bytes, 16);
		assert_string_equal(recs[0].type, "Created");
		assert_int_equal(recs[0].data_len, sizeof nul_data);
		assert_memory_equal(recs[0].data, nul_data, sizeof nul_data);
		assert_int_equal(recs[0].metadata_len, 256);
		assert_memory_equal(recs[0].metadata, bin, 256);
		assert_int_equal(recs[0].ntags, 3);
		for (int t = 0; t < 3; t++)
			assert_string_equal(recs[0].tags[t], tags1[t]);

		assert_string_equal(recs[1].type, "E");
		assert_int_equal(recs[1].data_len, 0);
		assert_int_equal(recs[1].metadata_len, 0);
		assert_int_equal(recs[1].ntags, 0);

		assert_string_equal(recs[2].type, "Empty");
		assert_int_equal(recs[2].data_len, 0);
		assert_int_equal(recs[2].metadata_len, 7);
		assert_memory_equal(recs[2].metadata, "{\"m\":1}", 7);
		assert_int_equal(recs[2].ntags, CAIRN_TAGS_MAX);
		for (int t = 0; t < CAIRN_TAGS_MAX; t++)
			assert_string_equal(recs[2].tags[t], tags_max[t]);

		assert_int_equal(recs[3].data_len, big_len);
		assert_memory_equal(recs[3].data, big, big_len);
		assert_int_equal(recs[4].data_len, 0);
		assert_int_equal(recs[4].metadata_len, 1);
		assert_int_equal(recs[4].metadata[0], bin[0]);
		assert_string_equal((char *)recs[5].data, "{\"k\":2}");

		/* generated ids: RFC 4122 version 4, all distinct */
		for (size_t i = 1; i < n; i++) {
			assert_int_equal(recs[i].id.bytes[6] >> 4, 4);
			assert_int_equal(recs[i].id.bytes[8] & 0xc0, 0x80);
			for (size_t j = 0; j < i; j++)
				assert_memory_not_equal(recs[i].id.bytes,
				                        recs[j].id.bytes, 16);
		}
		conf_recs_free(recs, n);
	}
	free(big);
}

/* Time never goes backwards along the log. */
static void test_time_non_decreasing(void **state)
{
	conf_fixture *fx = *state;
	for (int i = 0; i < 200; i++) {
		char s[32];
		snprintf(s, sizeof s, "t-%d", i % 7);
		assert_status(conf_append_text(fx->st, s, CAIRN_ANY, "T", "{}", NULL),
		              CAIRN_OK);
	}
	conf_rec *recs;
	size_t n = conf_read_all(fx->st, NULL, &recs);
	assert_int_equal(n, 200);
	int64_t now = realtime_ns();
	for (size_t i = 0; i < n; i++) {
		assert_true(recs[i].time_ns > 1500000000LL * 1000000000LL);
		assert_true(recs[i].time_ns <= now + 2000000000LL);
		if (i > 0)
			assert_true(recs[i].time_ns >= recs[i - 1].time_ns);
	}
	conf_recs_free(recs, n);
}

/* Unicode stream ids, types and tags round-trip, list and filter. */
static void test_unicode_ids(void **state)
{
	conf_fixture *fx = *state;
	const char *id = "konto-Ärger-日本-🙂";
	char long_id[CAIRN_STREAM_ID_MAX + 1];
	for (int i = 0; i < 85; i++) /* 85 x 3 bytes = 255 */
		memcpy(long_id + 3 * i, "日", 3);
	long_id[255] = '\0';
	const char *tags[] = {"Straße", "🙂"};
	cairn_new_event e = conf_ev("Überweisung-🙂", "{\"€\":1}");
	e.tags = tags;
	e.ntags = 2;
	assert_status(cairn_append(fx->st, id, CAIRN_NO_STREAM, &e, 1, NULL),
	              CAIRN_OK);
	assert_status(cairn_append(fx->st, long_id, CAIRN_NO_STREAM, &e, 1, NULL),
	              CAIRN_OK);
	assert_status(cairn_append(fx->st, id, 1, &e, 1, NULL), CAIRN_OK);
	assert_int_equal(conf_version(fx->st, id), 2);
	assert_int_equal(conf_version(fx->st, long_id), 1);
	/* the NFD spelling of Ä is a different stream */
	assert_int_equal(conf_version(fx->st, "konto-A\xcc\x88rger-日本-🙂"), 0);

	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, id, NULL, &recs);
	assert_int_equal(n, 2);
	assert_string_equal(recs[0].stream, id);
	assert_string_equal(recs[0].type, "Überweisung-🙂");
	assert_string_equal((char *)recs[0].data, "{\"€\":1}");
	assert_int_equal(recs[0].ntags, 2);
	assert_string_equal(recs[0].tags[0], "Straße");
	assert_string_equal(recs[0].tags[1], "🙂");
	conf_recs_free(recs, n);
	n = conf_read_stream(fx->st, long_id, NULL, &recs);
	assert_int_equal(n, 1);
	assert_string_equal(recs[0].stream, long_id);
	conf_recs_free(recs, n);

	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	ro.prefix = "konto-Ä";
	const char *types[] = {"Überweisung-🙂"};
	ro.types = types;
	ro.ntypes = 1;
	n = conf_read_all(fx->st, &ro, &recs);
	assert_int_equal(n, 2);
	assert_int_equal(recs[0].position, 1);
	assert_int_equal(recs[1].position, 3);
	conf_recs_free(recs, n);

	conf_stream *ls;
	n = conf_list(fx->st, "konto-", NULL, 0, &ls);
	assert_int_equal(n, 1);
	assert_string_equal(ls[0].stream, id);
	assert_int_equal(ls[0].stream_len, strlen(id));
	assert_int_equal(ls[0].version, 2);
	conf_streams_free(ls, n);
	n = conf_list(fx->st, "日", NULL, 0, &ls);
	assert_int_equal(n, 1);
	assert_int_equal(ls[0].stream_len, 255);
	conf_streams_free(ls, n);
}

/* ---- fold ---- */

struct fold_acc {
	uint64_t calls;
	uint64_t first;
	uint64_t last;
	uint64_t stop_at;          /* 0: never stop */
	int out_of_order;
};

static cairn_status fold_fn(void *p, const cairn_event *e)
{
	struct fold_acc *a = p;
	if (a->calls == 0)
		a->first = e->version;
	else if (e->version != a->last + 1)
		a->out_of_order = 1;
	a->last = e->version;
	a->calls++;
	if (a->stop_at != 0 && e->version == a->stop_at)
		return CAIRN_REJECTED;
	return CAIRN_OK;
}

/* cairn_fold_stream folds versions > after in order; a callback that
 * stops returns its status; missing streams fold nothing. */
static void test_fold_stream(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "f", 10);
	conf_fill(fx->st, "g", 3);
	struct fold_acc a = {0};
	assert_status(cairn_fold_stream(fx->st, "f", 0, fold_fn, &a), CAIRN_OK);
	assert_int_equal(a.calls, 10);
	assert_int_equal(a.first, 1);
	assert_int_equal(a.last, 10);
	assert_false(a.out_of_order);

	memset(&a, 0, sizeof a);
	assert_status(cairn_fold_stream(fx->st, "f", 4, fold_fn, &a), CAIRN_OK);
	assert_int_equal(a.calls, 6);
	assert_int_equal(a.first, 5);
	assert_int_equal(a.last, 10);

	memset(&a, 0, sizeof a);
	assert_status(cairn_fold_stream(fx->st, "f", 10, fold_fn, &a), CAIRN_OK);
	assert_int_equal(a.calls, 0);
	assert_status(cairn_fold_stream(fx->st, "f", 99, fold_fn, &a), CAIRN_OK);
	assert_int_equal(a.calls, 0);
	assert_status(cairn_fold_stream(fx->st, "nope", 0, fold_fn, &a),
	              CAIRN_OK);
	assert_int_equal(a.calls, 0);

	memset(&a, 0, sizeof a);
	a.stop_at = 3;
	assert_status(cairn_fold_stream(fx->st, "f", 0, fold_fn, &a),
	              CAIRN_REJECTED);
	assert_int_equal(a.calls, 3);
	assert_int_equal(a.last, 3);

	assert_status(cairn_fold_stream(fx->st, "f", 0, NULL, &a), CAIRN_INVALID);
	assert_status(cairn_fold_stream(NULL, "f", 0, fold_fn, &a),
	              CAIRN_INVALID);
	assert_status(cairn_fold_stream(fx->st, NULL, 0, fold_fn, &a),
	              CAIRN_INVALID);
	assert_status(cairn_fold_stream(fx->st, "", 0, fold_fn, &a),
	              CAIRN_INVALID_STREAM);
}

/* ---- version, head, stats, verify ---- */

static void test_version_head_stats(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "a", 3);
	conf_fill(fx->st, "b", 1);
	conf_fill(fx->st, "a", 2);
	cairn_new_event e = conf_ev("T", "x");
	cairn_write w[2] = {{"c", CAIRN_ANY, &e, 1}, {"b", 1, &e, 1}};
	assert_status(cairn_append_multi(fx->st, w, 2, NULL), CAIRN_OK);
	/* a conflict and an invalid append change nothing */
	assert_status(conf_append_text(fx->st, "a", 1, "T", "x", NULL),
	              CAIRN_CONFLICT);
	assert_status(conf_append_text(fx->st, "a", CAIRN_ANY, "", "x", NULL),
	              CAIRN_INVALID_TYPE);

	assert_int_equal(conf_version(fx->st, "a"), 5);
	assert_int_equal(conf_version(fx->st, "b"), 2);
	assert_int_equal(conf_version(fx->st, "c"), 1);
	assert_int_equal(conf_version(fx->st, "d"), 0);
	assert_int_equal(conf_head(fx->st), 8);
	cairn_stats s = conf_stats(fx->st);
	assert_int_equal(s.events, 8);
	assert_int_equal(s.streams, 3);
	assert_int_equal(s.head, 8);

	uint64_t v;
	assert_status(cairn_stream_version(NULL, "a", &v), CAIRN_INVALID);
	assert_status(cairn_stream_version(fx->st, NULL, &v), CAIRN_INVALID);
	assert_status(cairn_stream_version(fx->st, "a", NULL), CAIRN_INVALID);
	assert_status(cairn_stream_version(fx->st, "", &v), CAIRN_INVALID_STREAM);
	assert_status(cairn_head(NULL, &v), CAIRN_INVALID);
	assert_status(cairn_head(fx->st, NULL), CAIRN_INVALID);
	assert_status(cairn_stats_get(NULL, &s), CAIRN_INVALID);
	assert_status(cairn_stats_get(fx->st, NULL), CAIRN_INVALID);
}

struct problems {
	int calls;
	char first[512];
};

static void on_problem(void *ctx, const char *problem)
{
	struct problems *p = ctx;
	if (p->calls++ == 0)
		snprintf(p->first, sizeof p->first, "%s", problem);
}

/* A store that went through every kind of append, conflict, rejection
 * and idempotent repeat verifies with no problems. */
static void test_verify_healthy(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "v-1", 50);
	conf_fill(fx->st, "v-2", 7);
	cairn_uuid ids[2] = {conf_uuid(), conf_uuid()};
	cairn_new_event e[2] = {conf_ev("T", "a"), conf_ev("U", "b")};
	e[0].id = &ids[0];
	e[1].id = &ids[1];
	const char *tags[] = {"k:1"};
	e[1].tags = tags;
	e[1].ntags = 1;
	cairn_write w[2] = {{"v-3", CAIRN_NO_STREAM, &e[0], 1},
	                    {"v-1", 50, &e[1], 1}};
	assert_status(cairn_append_multi(fx->st, w, 2, NULL), CAIRN_OK);
	cairn_append_result r;
	assert_status(cairn_append_multi(fx->st, w, 2, &r), CAIRN_OK);
	assert_int_equal(r.idempotent, 1);
	assert_status(conf_append_text(fx->st, "v-2", 1, "T", "x", NULL),
	              CAIRN_CONFLICT);
	assert_status(conf_append_text(fx->st, "v\x01", CAIRN_ANY, "T", "x",
	                               NULL),
	              CAIRN_INVALID_STREAM);

	struct problems p = {0, ""};
	uint64_t problems = 99;
	assert_status(cairn_verify(fx->st, on_problem, &p, &problems), CAIRN_OK);
	if (problems != 0)
		print_error("first problem: %s\n", p.first);
	assert_int_equal(problems, 0);
	assert_int_equal(p.calls, 0);
	problems = 99;
	assert_status(cairn_verify(fx->st, NULL, NULL, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);
	assert_status(cairn_verify(NULL, NULL, NULL, &problems), CAIRN_INVALID);
}

/* ---- iterators ---- */

/* After DONE every next is DONE; NULL arguments are refused. */
static void test_iter_done_is_sticky(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "s", 2);
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	ro.limit = 1;
	assert_status(cairn_read_stream(fx->st, "s", &ro, &it), CAIRN_OK);
	assert_status(cairn_iter_next(it, NULL), CAIRN_INVALID);
	assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	assert_int_equal(e->version, 1);
	for (int i = 0; i < 5; i++)
		assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	cairn_iter_free(it);

	/* stays DONE even when events arrive after the end was seen */
	assert_status(cairn_read_all(fx->st, NULL, &it), CAIRN_OK);
	assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	conf_fill(fx->st, "s", 3);
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	cairn_iter_free(it);

	cairn_stream_iter *si = NULL;
	const cairn_stream_info *info;
	assert_status(cairn_list_streams(fx->st, NULL, NULL, 0, &si), CAIRN_OK);
	assert_status(cairn_stream_iter_next(si, NULL), CAIRN_INVALID);
	assert_status(cairn_stream_iter_next(si, &info), CAIRN_ROW);
	for (int i = 0; i < 3; i++)
		assert_status(cairn_stream_iter_next(si, &info), CAIRN_DONE);
	cairn_stream_iter_free(si);

	assert_status(cairn_read_stream(fx->st, "s", NULL, NULL), CAIRN_INVALID);
	assert_status(cairn_read_stream(NULL, "s", NULL, &it), CAIRN_INVALID);
	assert_status(cairn_read_stream(fx->st, NULL, NULL, &it), CAIRN_INVALID);
	assert_status(cairn_read_stream(fx->st, "", NULL, &it),
	              CAIRN_INVALID_STREAM);
	assert_status(cairn_read_all(fx->st, NULL, NULL), CAIRN_INVALID);
	assert_status(cairn_read_all(NULL, NULL, &it), CAIRN_INVALID);
}

/* Freeing an iterator after one event of a long stream (or none) releases
 * everything (ASan's leak check sees the rest), and the store is usable
 * afterwards. */
static void test_iter_early_stop(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "long", 20000);
	const cairn_event *e;
	for (int round = 0; round < 50; round++) {
		cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
		ro.backwards = round % 2;
		cairn_iter *it = NULL;
		if (round % 3 == 0)
			assert_status(cairn_read_all(fx->st, &ro, &it), CAIRN_OK);
		else
			assert_status(cairn_read_stream(fx->st, "long", &ro, &it),
			              CAIRN_OK);
		if (round % 5 != 4) {
			assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
			assert_int_equal(e->version, ro.backwards ? 20000 : 1);
		}
		cairn_iter_free(it);
	}
	/* writers are not held back by the freed readers */
	cairn_append_result r;
	assert_status(conf_append_text(fx->st, "long", 20000, "T", "x", &r),
	              CAIRN_OK);
	assert_int_equal(r.version, 20001);
	struct fold_acc a = {0};
	a.stop_at = 1;
	assert_status(cairn_fold_stream(fx->st, "long", 0, fold_fn, &a),
	              CAIRN_REJECTED);
	assert_int_equal(a.calls, 1);
}

/* Several iterators open at once in one thread, advanced in turn, each
 * see their own read. */
static void test_iters_interleaved(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "ia", 300);
	conf_fill(fx->st, "ib", 300);
	cairn_read_opts back = CAIRN_READ_OPTS_INIT;
	back.backwards = 1;
	cairn_iter *its[4] = {NULL, NULL, NULL, NULL};
	assert_status(cairn_read_stream(fx->st, "ia", NULL, &its[0]), CAIRN_OK);
	assert_status(cairn_read_stream(fx->st, "ib", &back, &its[1]), CAIRN_OK);
	assert_status(cairn_read_all(fx->st, NULL, &its[2]), CAIRN_OK);
	assert_status(cairn_read_all(fx->st, &back, &its[3]), CAIRN_OK);
	uint64_t seen[4] = {0, 0, 0, 0};
	for (int step = 0; step < 600; step++) {
		for (int k = 0; k < 4; k++) {
			if (k < 2 && step >= 300)
				continue;
			const cairn_event *e;
			assert_status(cairn_iter_next(its[k], &e), CAIRN_ROW);
			uint64_t i = seen[k]++;
			switch (k) {
			case 0:
				assert_int_equal(e->version, i + 1);
				assert_string_equal(e->stream, "ia");
				break;
			case 1:
				assert_int_equal(e->version, 300 - i);
				assert_string_equal(e->stream, "ib");
				break;
			case 2:
				assert_int_equal(e->position, i + 1);
				break;
			default:
				assert_int_equal(e->position, 600 - i);
			}
		}
	}
	for (int k = 0; k < 4; k++) {
		const cairn_event *e;
		assert_status(cairn_iter_next(its[k], &e), CAIRN_DONE);
		cairn_iter_free(its[k]);
	}
}

/* Many iterators may be open at once (no documented limit); 150 is more
 * than LMDB's default reader table of 126 slots. */
static void test_many_open_iterators(void **state)
{
	conf_fixture *fx = *state;
	enum { NITERS = 150 };
	conf_fill(fx->st, "m", 3);
	cairn_iter *its[NITERS];
	const cairn_event *e;
	for (int i = 0; i < NITERS; i++) {
		its[i] = NULL;
		cairn_status rc = cairn_read_stream(fx->st, "m", NULL, &its[i]);
		if (rc != CAIRN_OK)
			print_error("opening iterator %d\n", i);
		assert_status(rc, CAIRN_OK);
		rc = cairn_iter_next(its[i], &e);
		if (rc != CAIRN_ROW)
			print_error("first next on iterator %d\n", i);
		assert_status(rc, CAIRN_ROW);
		assert_int_equal(e->version, 1);
	}
	for (int i = 0; i < NITERS; i++) {
		assert_status(cairn_iter_next(its[i], &e), CAIRN_ROW);
		assert_int_equal(e->version, 2);
		cairn_iter_free(its[i]);
	}
}

/* Runs fn(arg) on a thread and waits at most seconds for it. */
struct deadline_run {
	void (*fn)(void *);
	void *arg;
	int done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *deadline_main(void *p)
{
	struct deadline_run *d = p;
	d->fn(d->arg);
	pthread_mutex_lock(&d->mu);
	d->done = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* Returns 1 when fn finished in time.  Either way *th must be joined. */
static int run_with_deadline(struct deadline_run *d, pthread_t *th,
                             int seconds)
{
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	d->done = 0;
	assert_int_equal(pthread_create(th, NULL, deadline_main, d), 0);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&d->mu);
	while (!d->done)
		if (pthread_cond_timedwait(&d->cv, &d->mu, &until) != 0)
			break;
	int done = d->done;
	pthread_mutex_unlock(&d->mu);
	return done;
}

struct growth_writer {
	cairn_store *st;
	size_t appends;
	size_t event_size;
	cairn_status rc;
	size_t ok;
	char message[512];
};

static void growth_write(void *p)
{
	struct growth_writer *g = p;
	unsigned char *buf = malloc(g->event_size);
	if (buf == NULL) {
		g->rc = CAIRN_NOMEM;
		return;
	}
	memset(buf, 'g', g->event_size);
	g->rc = CAIRN_OK;
	for (size_t i = 0; i < g->appends; i++) {
		cairn_new_event e = conf_ev("Grow", NULL);
		e.data = buf;
		e.data_len = g->event_size;
		const char *stream = i % 2 ? "grow-a" : "held";
		g->rc = cairn_append(g->st, stream, CAIRN_ANY, &e, 1, NULL);
		if (g->rc != CAIRN_OK) {
			snprintf(g->message, sizeof g->message, "%s",
			         cairn_last_error());
			break;
		}
		g->ok++;
	}
	free(buf);
}

/* A borrowed event stays valid until the next call on its iterator, even
 * while other appends go on and the store grows well past its first size
 * (an lmdb map resize, a memory backend's array growth); an open iterator
 * never blocks an append; the read goes on without duplicates or gaps. */
/* A reader that keeps stepping (restarting at the end), as a live reader
 * does, while the map must grow under it. */
struct stepping_reader {
	cairn_store *st;
	volatile int stop;
	size_t steps;
	cairn_status rc;
};

static void *stepping_read(void *p)
{
	struct stepping_reader *r = p;
	cairn_iter *it = NULL;
	const cairn_event *e;
	uint64_t last = 0;

	r->rc = CAIRN_OK;
	while (!r->stop) {
		if (it == NULL) {
			r->rc = cairn_read_stream(r->st, "held", NULL, &it);
			if (r->rc != CAIRN_OK)
				break;
			last = 0;
		}
		cairn_status rc = cairn_iter_next(it, &e);
		if (rc == CAIRN_DONE) {
			cairn_iter_free(it);
			it = NULL;
			continue;
		}
		if (rc != CAIRN_ROW || e->version != last + 1) {
			r->rc = rc == CAIRN_ROW ? CAIRN_CORRUPT : rc;
			break;
		}
		last = e->version;
		r->steps++;
		usleep(1000);
	}
	cairn_iter_free(it);
	return NULL;
}

static void test_map_growth(void **state)
{
	conf_fixture *fx = *state;
	cairn_options o;
	cairn_options_init(&o);
	o.initial_map_size = 1u << 20; /* 1 MiB: the appends below outgrow it */
	o.durability = CAIRN_RELAXED;
	open_fresh_store(fx, &o);
	conf_fill(fx->st, "held", 40);

	struct stepping_reader r = {fx->st, 0, 0, CAIRN_OK};
	pthread_t rt;
	assert_int_equal(pthread_create(&rt, NULL, stepping_read, &r), 0);
	struct growth_writer g = {fx->st, 256, 64 * 1024, CAIRN_OK, 0, ""};
	growth_write(&g);
	r.stop = 1;
	pthread_join(rt, NULL);
	if (g.rc != CAIRN_OK)
		fail_msg("append %zu of %zu while a reader steps: %s: \"%s\"",
		         g.ok + 1, g.appends, cairn_status_str(g.rc), g.message);
	assert_status(r.rc, CAIRN_OK);
	assert_true(r.steps > 0);
	assert_int_equal(conf_version(fx->st, "held"), 40 + 128);
	assert_int_equal(conf_version(fx->st, "grow-a"), 128);
	uint64_t problems = 1;
	assert_status(cairn_verify(fx->st, NULL, NULL, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);
}

static void test_iter_event_lifetime(void **state)
{
	conf_fixture *fx = *state;
	cairn_options o;
	cairn_options_init(&o);
	/* default map: growth under a held event is test_map_growth's */
	o.read_renew_every = 2;
	o.durability = CAIRN_RELAXED;
	open_fresh_store(fx, &o);
	conf_fill(fx->st, "held", 40);

	cairn_iter *it = NULL;
	const cairn_event *e;
	assert_status(cairn_read_stream(fx->st, "held", NULL, &it), CAIRN_OK);
	assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	assert_int_equal(e->version, 1);
	/* copies to compare against, made while e is certainly valid */
	char stream[64], type[64], data[64];
	snprintf(stream, sizeof stream, "%s", e->stream);
	snprintf(type, sizeof type, "%s", e->type);
	assert_true(e->data_len < sizeof data);
	memcpy(data, e->data, e->data_len);
	size_t data_len = e->data_len;
	uint64_t position = e->position;
	cairn_uuid id = e->id;

	/* Another thread appends 8 MiB while this one holds an event: the
	 * event stays intact, and the appends are not held up by it. */
	struct growth_writer g = {fx->st, 128, 64 * 1024, CAIRN_OK, 0, ""};
	struct deadline_run d;
	memset(&d, 0, sizeof d);
	d.fn = growth_write;
	d.arg = &g;
	pthread_t th;
	(void)run_with_deadline(&d, &th, 2);

	/* e is still the same event, whatever the writer is doing */
	assert_string_equal(e->stream, stream);
	assert_string_equal(e->type, type);
	assert_int_equal(e->data_len, data_len);
	assert_memory_equal(e->data, data, data_len);
	assert_int_equal(e->version, 1);
	assert_int_equal(e->position, position);
	assert_memory_equal(e->id.bytes, id.bytes, 16);

	/* step on: a writer waiting for a map resize may now go ahead */
	cairn_status rc = cairn_iter_next(it, &e);
	assert_status(rc, CAIRN_ROW);
	assert_int_equal(e->version, 2);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&d.mu);
	while (!d.done)
		if (pthread_cond_timedwait(&d.cv, &d.mu, &until) != 0)
			break;
	int in_time = d.done;
	pthread_mutex_unlock(&d.mu);
	if (!in_time) {
		/* unblock the writer before failing, so teardown is safe */
		cairn_iter_free(it);
		pthread_join(th, NULL);
		fail_msg("appends blocked for 30 s after the iterator moved "
		         "on (%zu of %zu done)",
		         g.ok, g.appends);
	}
	pthread_join(th, NULL);
	if (g.rc != CAIRN_OK || g.ok != g.appends) {
		cairn_iter_free(it); /* teardown must not close over it */
		fail_msg("append %zu of %zu from another thread: %s: \"%s\"",
		         g.ok + 1, g.appends, cairn_status_str(g.rc), g.message);
	}

	/* the read goes on in order; it may or may not see the new events */
	uint64_t last = 2;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		assert_int_equal(e->version, last + 1);
		if (e->version <= 40) {
			char want[64];
			snprintf(want, sizeof want, "held#%llu",
			         (unsigned long long)e->version);
			assert_int_equal(e->data_len, strlen(want));
			assert_memory_equal(e->data, want, strlen(want));
		} else {
			assert_int_equal(e->data_len, 64 * 1024);
		}
		last = e->version;
	}
	assert_status(rc, CAIRN_DONE);
	assert_true(last >= 40);
	assert_true(last <= 40 + 64);
	cairn_iter_free(it);
	assert_int_equal(conf_version(fx->st, "held"), 40 + 64);
}

static const struct CMUnitTest read_tests[] = {
	CONF_TEST(test_read_stream_ranges),
	CONF_TEST(test_read_missing_stream),
	CONF_TEST(test_read_all_filters),
	CONF_TEST(test_event_roundtrip),
	CONF_TEST(test_time_non_decreasing),
	CONF_TEST(test_unicode_ids),
	CONF_TEST(test_fold_stream),
	CONF_TEST(test_version_head_stats),
	CONF_TEST(test_verify_healthy),
	CONF_TEST(test_iter_done_is_sticky),
	CONF_TEST(test_iter_early_stop),
	CONF_TEST(test_iters_interleaved),
	CONF_TEST(test_many_open_iterators),
	CONF_TEST(test_iter_event_lifetime),
	CONF_TEST(test_map_growth),
};

int conf_group_read(void)
{
	return cmocka_run_group_tests_name("read", read_tests, conf_group_setup,
	                                   conf_group_teardown);
}
