/*
 * test_forward.c -- a decorator forwards every operation: whatever is
 * asked of it, the answer is the one the inner store gives.
 *
 * Each test runs over every combination of an inner engine (memory, a
 * fresh lmdb directory) and a decoration (tracking, instrumented, and a
 * tracking store over an instrumented one), comparing what the decorated
 * store answers with what the inner store answers directly, field by
 * field (reads are drained into text that holds every field).
 */
#include "deco.h"

#include <stdlib.h>

typedef enum decoration {
	DECO_TRACKING,
	DECO_INSTRUMENTED,
	DECO_STACKED /* tracking over instrumented */
} decoration;

static const char *const decoration_names[] = {"tracking", "instrumented",
                                               "tracking+instrumented"};

/* The combination the groups below run under. */
static const char *cur_engine;
static decoration cur_deco;

typedef struct fx {
	char dir[1024];
	cairn_store *inner;
	cairn_store *mid; /* the instrumented store of DECO_STACKED */
	cairn_store *outer;
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->inner = deco_open(cur_engine, f->dir, sizeof(f->dir));
	switch (cur_deco) {
	case DECO_TRACKING:
		assert_status(cairn_tracking_open(f->inner, &f->outer),
		              CAIRN_OK);
		break;
	case DECO_INSTRUMENTED:
		assert_status(cairn_instrumented_open(f->inner, &f->outer),
		              CAIRN_OK);
		break;
	case DECO_STACKED:
		assert_status(cairn_instrumented_open(f->inner, &f->mid),
		              CAIRN_OK);
		assert_status(cairn_tracking_open(f->mid, &f->outer), CAIRN_OK);
		break;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;

	cairn_close(f->outer);
	cairn_close(f->mid);
	cairn_close(f->inner);
	deco_rmtree(f->dir);
	free(f);
	return 0;
}

/* Three streams with types, tags and metadata, written to the inner
 * store directly. */
static void
populate(cairn_store *st)
{
	static const char *const t1[] = {"acct:1"};
	static const char *const t2[] = {"acct:2", "vip"};
	cairn_new_event ev;
	int i;

	ev = deco_ev("Opened", "{\"owner\":\"ann\"}");
	ev.tags = t1;
	ev.ntags = 1;
	assert_status(
	        cairn_append(st, "account-1", CAIRN_NO_STREAM, &ev, 1, NULL),
	        CAIRN_OK);
	ev = deco_ev("Opened", "{\"owner\":\"bob\"}");
	ev.tags = t2;
	ev.ntags = 2;
	assert_status(
	        cairn_append(st, "account-2", CAIRN_NO_STREAM, &ev, 1, NULL),
	        CAIRN_OK);
	for (i = 0; i < 3; i++) {
		ev = deco_ev("Deposited", "{\"amount\":10}");
		ev.tags = i == 1 ? t2 : t1;
		ev.ntags = i == 1 ? 2 : 1;
		assert_status(cairn_append(st,
		                           i == 1 ? "account-2" : "account-1",
		                           CAIRN_ANY, &ev, 1, NULL),
		              CAIRN_OK);
	}
	ev = deco_ev("Placed", "{\"sku\":\"x\"}");
	ev.metadata = "{\"by\":\"web\"}";
	ev.metadata_len = strlen(ev.metadata);
	assert_status(
	        cairn_append(st, "order-7", CAIRN_NO_STREAM, &ev, 1, NULL),
	        CAIRN_OK);
	ev = deco_ev("Withdrawn", "{\"amount\":5}");
	ev.tags = t1;
	ev.ntags = 1;
	assert_status(cairn_append(st, "account-1", 3, &ev, 1, NULL), CAIRN_OK);
}

/* Read stream (NULL: $all) with opts from both stores: same events, same
 * ending, same head. */
static void
assert_same_read(fx *f, const char *stream, const cairn_read_opts *opts)
{
	cairn_iter *a = NULL, *b = NULL;
	cairn_status ra, rb, fa, fb;
	uint64_t ha = 0, hb = 0;
	char *ta, *tb;

	if (stream) {
		ra = cairn_read_stream(f->outer, stream, opts, &a);
		rb = cairn_read_stream(f->inner, stream, opts, &b);
	} else {
		ra = cairn_read_all(f->outer, opts, &a);
		rb = cairn_read_all(f->inner, opts, &b);
	}
	assert_status(ra, rb);
	if (ra != CAIRN_OK)
		return;
	ta = deco_drain(a, &fa);
	tb = deco_drain(b, &fb);
	assert_status(fa, fb);
	assert_string_equal(ta, tb);
	assert_status(cairn_iter_head(a, &ha), CAIRN_OK);
	assert_status(cairn_iter_head(b, &hb), CAIRN_OK);
	assert_int_equal(ha, hb);
	cairn_iter_free(a);
	cairn_iter_free(b);
	free(ta);
	free(tb);
}

static void
test_reads(void **state)
{
	static const char *const deposited[] = {"Deposited"};
	static const char *const vip[] = {"vip"};
	cairn_query_item item = {deposited, 1, vip, 1};
	cairn_query q = {&item, 1};
	cairn_read_opts o = CAIRN_READ_OPTS_INIT;
	fx *f = *state;

	populate(f->inner);
	assert_same_read(f, "account-1", NULL);
	o.from = 2;
	assert_same_read(f, "account-1", &o);
	o.limit = 2;
	assert_same_read(f, "account-1", &o);
	o.backwards = 1;
	assert_same_read(f, "account-1", &o);
	o.from = 0;
	o.limit = 0;
	assert_same_read(f, "account-1", &o);
	assert_same_read(f, "no-such-stream", &o);
	assert_same_read(f, "bad\nstream", NULL);

	assert_same_read(f, NULL, NULL);
	memset(&o, 0, sizeof(o));
	o.from = 4;
	assert_same_read(f, NULL, &o);
	o.limit = 2;
	assert_same_read(f, NULL, &o);
	o.backwards = 1;
	assert_same_read(f, NULL, &o);
	memset(&o, 0, sizeof(o));
	o.types = deposited;
	o.ntypes = 1;
	assert_same_read(f, NULL, &o);
	o.prefix = "account-2";
	assert_same_read(f, NULL, &o);
	memset(&o, 0, sizeof(o));
	o.query = &q;
	assert_same_read(f, NULL, &o);
	o.prefix = "order-";
	o.backwards = 1;
	assert_same_read(f, NULL, &o);
}

/* Events with caller ids, generated ids, metadata and tags; conflicts;
 * idempotent repeats; multi-stream and conditional appends; batches
 * larger than the forwarding's stack buffers. */
static void
test_appends(void **state)
{
	static const char *const flag_types[] = {"Flag"};
	static const char *const flag_tags[] = {"t:1"};
	cairn_query_item item = {flag_types, 1, flag_tags, 1};
	cairn_query q = {&item, 1};
	cairn_new_event evs[100], ev;
	cairn_write ws[10];
	cairn_append_result res;
	cairn_uuid given, given2;
	const cairn_event *e;
	cairn_iter *it;
	char name[10][16];
	uint64_t head;
	size_t i;
	fx *f = *state;

	assert_status(cairn_uuid_generate(&given), CAIRN_OK);
	assert_status(cairn_uuid_generate(&given2), CAIRN_OK);
	evs[0] = deco_ev("Created", "{}");
	evs[0].id = &given;
	evs[1] = deco_ev("Renamed", "{\"name\":\"x\"}");
	evs[1].metadata = "m";
	evs[1].metadata_len = 1;
	assert_status(
	        cairn_append(f->outer, "s-1", CAIRN_NO_STREAM, evs, 2, &res),
	        CAIRN_OK);
	assert_int_equal(res.first_position, 1);
	assert_int_equal(res.last_position, 2);
	assert_int_equal(res.version, 2);
	assert_int_equal(res.idempotent, 0);
	assert_status(cairn_read_stream(f->inner, "s-1", NULL, &it), CAIRN_OK);
	assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	assert_memory_equal(&e->id, &given, sizeof(given));
	cairn_iter_free(it);

	/* a version conflict comes back with the inner store's report */
	assert_status(cairn_append(f->outer, "s-1", 1, evs + 1, 1, &res),
	              CAIRN_CONFLICT);
	assert_string_equal(res.conflict_stream, "s-1");
	assert_int_equal(res.conflict_expected, 1);
	assert_int_equal(res.conflict_actual, 2);
	assert_contains(cairn_last_error(), "s-1");

	/* an idempotent repeat, and an id reused elsewhere */
	ev = deco_ev("Noted", "n");
	ev.id = &given2;
	assert_status(cairn_append(f->outer, "s-2", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_OK);
	assert_int_equal(res.first_position, 3);
	assert_status(cairn_append(f->outer, "s-2", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_OK);
	assert_int_equal(res.idempotent, 1);
	assert_int_equal(res.first_position, 3);
	assert_status(cairn_append(f->outer, "s-3", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_CONFLICT);
	assert_status(cairn_head(f->inner, &head), CAIRN_OK);
	assert_int_equal(head, 3);

	/* a multi-stream append of 10 writes, 100 events */
	for (i = 0; i < 100; i++)
		evs[i] = deco_ev("Bulk", "b");
	for (i = 0; i < 10; i++) {
		snprintf(name[i], sizeof(name[i]), "bulk-%zu", i);
		ws[i].stream = name[i];
		ws[i].expected = CAIRN_NO_STREAM;
		ws[i].events = evs + 10 * i;
		ws[i].nevents = 10;
	}
	assert_status(cairn_append_multi(f->outer, ws, 10, &res), CAIRN_OK);
	assert_int_equal(res.first_position, 4);
	assert_int_equal(res.last_position, 103);
	for (i = 0; i < 10; i++)
		ws[i].expected = i == 3 ? 5 : 10;
	assert_status(cairn_append_multi(f->outer, ws, 10, &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_index, 3);
	assert_string_equal(res.conflict_stream, "bulk-3");
	assert_int_equal(res.conflict_actual, 10);

	/* a conditional append, then one whose condition fails */
	ev = deco_ev("Flag", "f");
	ev.tags = flag_tags;
	ev.ntags = 1;
	ws[0].stream = "flags";
	ws[0].expected = CAIRN_ANY;
	ws[0].events = &ev;
	ws[0].nevents = 1;
	assert_status(cairn_append_if(f->outer, &q, 103, ws, 1, &res),
	              CAIRN_OK);
	assert_int_equal(res.first_position, 104);
	assert_status(cairn_append_if(f->outer, &q, 103, ws, 1, &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_position, 104);
	assert_string_equal(res.conflict_stream, "flags");

	/* bad input is refused at the edge and never reaches the inner
	 * store */
	ev = deco_ev("bad\ttype", "x");
	assert_status(cairn_append(f->outer, "s-1", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_INVALID_TYPE);
	assert_status(cairn_head(f->inner, &head), CAIRN_OK);
	assert_int_equal(head, 104);

	/* what the decorated store reads is what the inner one holds */
	assert_same_read(f, NULL, NULL);
	assert_same_read(f, "bulk-9", NULL);
}

static void
assert_same_list(fx *f, const char *prefix, const char *after, size_t limit)
{
	cairn_stream_iter *a = NULL, *b = NULL;
	cairn_status fa, fb;
	char *ta, *tb;

	assert_status(cairn_list_streams(f->outer, prefix, after, limit, &a),
	              CAIRN_OK);
	assert_status(cairn_list_streams(f->inner, prefix, after, limit, &b),
	              CAIRN_OK);
	ta = deco_drain_streams(a, &fa);
	tb = deco_drain_streams(b, &fb);
	assert_status(fa, fb);
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);
}

static void
collect_problem(void *ctx, const char *problem)
{
	(void)problem;
	(*(int *)ctx)++;
}

static void
test_metadata(void **state)
{
	cairn_stats sa, sb;
	uint64_t va, vb, problems = 99;
	int reported = 0;
	fx *f = *state;

	populate(f->inner);
	assert_status(cairn_stream_version(f->outer, "account-1", &va),
	              CAIRN_OK);
	assert_status(cairn_stream_version(f->inner, "account-1", &vb),
	              CAIRN_OK);
	assert_int_equal(va, 4);
	assert_int_equal(va, vb);
	assert_status(cairn_stream_version(f->outer, "nothing", &va), CAIRN_OK);
	assert_int_equal(va, 0);
	assert_status(cairn_head(f->outer, &va), CAIRN_OK);
	assert_status(cairn_head(f->inner, &vb), CAIRN_OK);
	assert_int_equal(va, 7);
	assert_int_equal(va, vb);

	assert_same_list(f, NULL, NULL, 0);
	assert_same_list(f, "account-", NULL, 0);
	assert_same_list(f, "account-", "account-1", 0);
	assert_same_list(f, "", "", 2);

	assert_status(cairn_stats_get(f->outer, &sa), CAIRN_OK);
	assert_status(cairn_stats_get(f->inner, &sb), CAIRN_OK);
	assert_int_equal(sa.events, 7);
	assert_int_equal(sa.streams, 3);
	assert_int_equal(sa.events, sb.events);
	assert_int_equal(sa.streams, sb.streams);
	assert_int_equal(sa.head, sb.head);
	assert_int_equal(sa.bytes, sb.bytes);

	assert_status(
	        cairn_verify(f->outer, collect_problem, &reported, &problems),
	        CAIRN_OK);
	assert_int_equal(problems, 0);
	assert_int_equal(reported, 0);
}

/* Snapshots go to the inner store: what one saves the other loads, and
 * an engine without snapshots answers the same through the decorator. */
static void
test_snapshots(void **state)
{
	void *blob = NULL;
	uint64_t version = 0;
	size_t len = 0;
	cairn_status rc;
	fx *f = *state;

	populate(f->inner);
	rc = cairn_snapshot_save(f->outer, "account-1", 2, "acct/v1", "S2", 2);
	if (rc == CAIRN_UNSUPPORTED) {
		assert_status(cairn_snapshot_save(f->inner, "account-1", 2,
		                                  "acct/v1", "S2", 2),
		              CAIRN_UNSUPPORTED);
		assert_status(cairn_snapshot_load(f->outer, "account-1",
		                                  "acct/v1", &version, &blob,
		                                  &len),
		              CAIRN_UNSUPPORTED);
		return;
	}
	assert_status(rc, CAIRN_OK);
	assert_status(cairn_snapshot_load(f->inner, "account-1", "acct/v1",
	                                  &version, &blob, &len),
	              CAIRN_OK);
	assert_int_equal(version, 2);
	assert_int_equal(len, 2);
	assert_memory_equal(blob, "S2", 2);
	cairn_free(blob);
	assert_status(cairn_snapshot_save(f->inner, "account-1", 3, "acct/v1",
	                                  "S3!", 3),
	              CAIRN_OK);
	assert_status(cairn_snapshot_load(f->outer, "account-1", "acct/v1",
	                                  &version, &blob, &len),
	              CAIRN_OK);
	assert_int_equal(version, 3);
	assert_int_equal(len, 3);
	assert_memory_equal(blob, "S3!", 3);
	cairn_free(blob);
	assert_status(cairn_snapshot_load(f->outer, "account-1", "other/v1",
	                                  &version, &blob, &len),
	              CAIRN_NOT_FOUND);
	assert_null(blob);
}

/* Closing the decorator leaves the inner store open and whole. */
static void
test_close_keeps_inner(void **state)
{
	fx *f = *state;
	uint64_t head = 0;

	assert_string_equal(cairn_store_backend(f->outer),
	                    cur_deco == DECO_INSTRUMENTED ? "instrumented"
	                                                  : "tracking");
	assert_status(
	        deco_append(f->outer, "c-1", CAIRN_NO_STREAM, "A", "1", NULL),
	        CAIRN_OK);
	cairn_close(f->outer);
	f->outer = NULL;
	cairn_close(f->mid);
	f->mid = NULL;
	assert_status(deco_append(f->inner, "c-1", 1, "B", "2", NULL),
	              CAIRN_OK);
	assert_status(cairn_head(f->inner, &head), CAIRN_OK);
	assert_int_equal(head, 2);
}

/* The decorator takes the inner store's options: a read-only store
 * stays read-only when decorated. */
static void
test_read_only_inherited(void **state)
{
	cairn_store *inner = NULL, *outer = NULL;
	cairn_options opts;

	(void)state;
	cairn_options_init(&opts);
	opts.read_only = 1;
	assert_status(cairn_open("memory:", &opts, &inner), CAIRN_OK);
	assert_status(cairn_tracking_open(inner, &outer), CAIRN_OK);
	assert_status(deco_append(outer, "r-1", CAIRN_ANY, "A", "1", NULL),
	              CAIRN_UNSUPPORTED);
	cairn_close(outer);
	cairn_close(inner);
}

static void
test_open_arguments(void **state)
{
	cairn_store *st = NULL, *out = (cairn_store *)&out;

	(void)state;
	assert_status(cairn_tracking_open(NULL, &out), CAIRN_INVALID);
	assert_null(out);
	out = (cairn_store *)&out;
	assert_status(cairn_instrumented_open(NULL, &out), CAIRN_INVALID);
	assert_null(out);
	assert_status(cairn_open("memory:", NULL, &st), CAIRN_OK);
	assert_status(cairn_tracking_open(st, NULL), CAIRN_INVALID);
	assert_status(cairn_instrumented_open(st, NULL), CAIRN_INVALID);
	cairn_close(st);
}

#define FWD_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int
main(void)
{
	static const char *const engines[] = {"memory:", "lmdb"};
	const struct CMUnitTest tests[] = {
	        FWD_TEST(test_reads),
	        FWD_TEST(test_appends),
	        FWD_TEST(test_metadata),
	        FWD_TEST(test_snapshots),
	        FWD_TEST(test_close_keeps_inner),
	};
	const struct CMUnitTest plain[] = {
	        cmocka_unit_test(test_read_only_inherited),
	        cmocka_unit_test(test_open_arguments),
	};
	char name[64];
	int failed = 0;
	size_t e;
	int d;

	for (e = 0; e < 2; e++)
		for (d = DECO_TRACKING; d <= DECO_STACKED; d++) {
			cur_engine = engines[e];
			cur_deco = (decoration)d;
			snprintf(name, sizeof(name), "forward %s over %s",
			         decoration_names[d],
			         e == 0 ? "memory" : "lmdb");
			failed += _cmocka_run_group_tests(
			        name, tests, sizeof(tests) / sizeof(tests[0]),
			        NULL, NULL);
		}
	failed += cmocka_run_group_tests_name("forward", plain, NULL, NULL);
	return failed;
}
