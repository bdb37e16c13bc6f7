/*
 * test_tracking.c -- a tracking store records exactly the appends that
 * committed through it, as the inner store holds them, in commit order.
 */
#include "deco.h"

#include <pthread.h>
#include <stdlib.h>

/* The inner store's event at position, drained to its text line. */
static char *
line_at(cairn_store *inner, uint64_t position)
{
	cairn_read_opts o = CAIRN_READ_OPTS_INIT;
	cairn_iter *it = NULL;
	cairn_status final;
	char *text;

	o.from = position;
	o.limit = 1;
	assert_status(cairn_read_all(inner, &o, &it), CAIRN_OK);
	text = deco_drain(it, &final);
	assert_status(final, CAIRN_DONE);
	cairn_iter_free(it);
	assert_true(text[0] != '\0');
	return text;
}

/* What the inner store holds at positions, as one text. */
static char *
lines_at(cairn_store *inner, const uint64_t *positions, size_t n)
{
	char *all = NULL, *line;
	size_t len = 0, i;
	FILE *f = open_memstream(&all, &len);

	assert_non_null(f);
	for (i = 0; i < n; i++) {
		line = line_at(inner, positions[i]);
		fputs(line, f);
		free(line);
	}
	fclose(f);
	return all;
}

/* The tracking store's record as text. */
static char *
tracked(cairn_store *tracking)
{
	cairn_iter *it = NULL;
	cairn_status final;
	char *text;

	assert_status(cairn_tracking_read(tracking, &it), CAIRN_OK);
	text = deco_drain(it, &final);
	assert_status(final, CAIRN_DONE);
	cairn_iter_free(it);
	return text;
}

static void
assert_tracked(cairn_store *tracking, cairn_store *inner,
               const uint64_t *positions, size_t n)
{
	char *want = lines_at(inner, positions, n);
	char *got = tracked(tracking);

	assert_string_equal(got, want);
	free(want);
	free(got);
}

static void
record_committed_only(const char *engine)
{
	static const char *const tag[] = {"k:1"};
	static const char *const flag_types[] = {"Flag"};
	cairn_query_item item = {flag_types, 1, tag, 1};
	cairn_query q = {&item, 1};
	static const uint64_t want[] = {1, 2, 4, 5, 6, 7};
	cairn_store *inner, *t = NULL;
	cairn_new_event evs[2], ev;
	cairn_append_result res;
	cairn_write ws[2];
	cairn_uuid id;
	char dir[1024];

	inner = deco_open(engine, dir, sizeof(dir));
	assert_status(cairn_tracking_open(inner, &t), CAIRN_OK);
	assert_status(cairn_uuid_generate(&id), CAIRN_OK);

	/* committed: positions 1, 2 */
	evs[0] = deco_ev("Opened", "{\"n\":1}");
	evs[0].id = &id;
	evs[0].tags = tag;
	evs[0].ntags = 1;
	evs[1] = deco_ev("Noted", "\x01\x02");
	evs[1].metadata = "{\"m\":true}";
	evs[1].metadata_len = strlen(evs[1].metadata);
	assert_status(cairn_append(t, "a-1", CAIRN_NO_STREAM, evs, 2, &res),
	              CAIRN_OK);
	/* a conflict, an idempotent repeat, bad input: nothing */
	assert_status(cairn_append(t, "a-1", CAIRN_NO_STREAM, evs + 1, 1, &res),
	              CAIRN_CONFLICT);
	assert_status(cairn_append(t, "a-1", CAIRN_NO_STREAM, evs, 1, &res),
	              CAIRN_OK); /* a repeat of the first event alone */
	assert_int_equal(res.idempotent, 1);
	assert_status(cairn_append(t, "z-1", CAIRN_ANY, evs, 1, &res),
	              CAIRN_CONFLICT); /* its id, elsewhere */
	ev = deco_ev("", "x");
	assert_status(cairn_append(t, "a-1", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_INVALID_TYPE);
	/* written to the inner store directly: position 3, not tracked */
	assert_status(deco_append(inner, "a-1", 2, "Direct", "d", NULL),
	              CAIRN_OK);
	/* a multi-stream append: positions 4, 5 */
	ev = deco_ev("Moved", "m");
	ws[0].stream = "b-1";
	ws[0].expected = CAIRN_NO_STREAM;
	ws[0].events = &ev;
	ws[0].nevents = 1;
	ws[1].stream = "a-1";
	ws[1].expected = 3;
	ws[1].events = &ev;
	ws[1].nevents = 1;
	assert_status(cairn_append_multi(t, ws, 2, &res), CAIRN_OK);
	/* a conditional append that holds (6), one that fails */
	ev = deco_ev("Flag", "f");
	ev.tags = tag;
	ev.ntags = 1;
	ws[0].stream = "c-1";
	ws[0].expected = CAIRN_ANY;
	assert_status(cairn_append_if(t, &q, 5, ws, 1, &res), CAIRN_OK);
	assert_status(cairn_append_if(t, &q, 5, ws, 1, &res), CAIRN_CONFLICT);
	/* an idempotent repeat of a whole append: nothing new */
	ev = deco_ev("Once", "o");
	ev.id = &id;
	assert_status(cairn_uuid_generate(&id), CAIRN_OK);
	assert_status(cairn_append(t, "d-1", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_OK);
	assert_int_equal(res.first_position, 7);
	assert_status(cairn_append(t, "d-1", CAIRN_ANY, &ev, 1, &res),
	              CAIRN_OK);
	assert_int_equal(res.idempotent, 1);

	assert_tracked(t, inner, want, sizeof(want) / sizeof(want[0]));
	cairn_close(t);
	cairn_close(inner);
	deco_rmtree(dir);
}

static void
test_committed_only_memory(void **state)
{
	(void)state;
	record_committed_only("memory:");
}

static void
test_committed_only_lmdb(void **state)
{
	(void)state;
	record_committed_only("lmdb");
}

/* Versions of the recorded events are the stored ones. */
static void
test_versions_and_positions(void **state)
{
	cairn_store *inner = NULL, *t = NULL;
	const cairn_event *e;
	cairn_iter *it = NULL;
	uint64_t head = 0;
	int64_t before;
	int i;

	(void)state;
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	assert_status(cairn_tracking_open(inner, &t), CAIRN_OK);
	before = 0;
	for (i = 0; i < 3; i++)
		assert_status(deco_append(t, "v-1", CAIRN_ANY, "E", "e", NULL),
		              CAIRN_OK);
	assert_status(cairn_tracking_read(t, &it), CAIRN_OK);
	for (i = 1; i <= 3; i++) {
		assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
		assert_int_equal(e->version, (uint64_t)i);
		assert_int_equal(e->position, (uint64_t)i);
		assert_string_equal(e->stream, "v-1");
		assert_int_equal(e->stream_len, 3);
		assert_true(e->time_ns >= before);
		before = e->time_ns;
	}
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	assert_status(cairn_iter_head(it, &head), CAIRN_OK);
	assert_true(head >= 3);
	cairn_iter_free(it);
	cairn_close(t);
	cairn_close(inner);
}

/* A read is a copy taken when it opens; clear forgets everything. */
static void
test_copy_and_clear(void **state)
{
	static const uint64_t first[] = {1, 2};
	static const uint64_t after_clear[] = {4};
	cairn_store *inner = NULL, *t = NULL;
	cairn_iter *before = NULL, *empty = NULL;
	const cairn_event *e;
	cairn_status final;
	char *text;

	(void)state;
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	assert_status(cairn_tracking_open(inner, &t), CAIRN_OK);
	assert_status(cairn_tracking_read(t, &empty), CAIRN_OK);
	assert_status(cairn_iter_next(empty, &e), CAIRN_DONE);
	cairn_iter_free(empty);

	assert_status(deco_append(t, "x", CAIRN_ANY, "A", "1", NULL), CAIRN_OK);
	assert_status(deco_append(t, "x", CAIRN_ANY, "B", "2", NULL), CAIRN_OK);
	assert_tracked(t, inner, first, 2);
	assert_status(cairn_tracking_read(t, &before), CAIRN_OK);
	assert_status(deco_append(t, "x", CAIRN_ANY, "C", "3", NULL), CAIRN_OK);
	cairn_tracking_clear(t);
	/* the read opened before still holds its copy */
	text = deco_drain(before, &final);
	assert_status(final, CAIRN_DONE);
	cairn_iter_free(before);
	assert_non_null(strstr(text, " A(1) "));
	assert_non_null(strstr(text, " B(1) "));
	assert_null(strstr(text, " C(1) "));
	free(text);

	text = tracked(t);
	assert_string_equal(text, "");
	free(text);
	assert_status(deco_append(t, "x", CAIRN_ANY, "D", "4", NULL), CAIRN_OK);
	assert_tracked(t, inner, after_clear, 1);
	cairn_close(t);
	cairn_close(inner);
}

static void
test_not_a_tracking_store(void **state)
{
	cairn_store *inner = NULL, *instr = NULL, *t = NULL;
	cairn_iter *it = (cairn_iter *)&it;

	(void)state;
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	assert_status(cairn_instrumented_open(inner, &instr), CAIRN_OK);
	assert_status(cairn_tracking_read(inner, &it), CAIRN_INVALID);
	assert_null(it);
	assert_status(cairn_tracking_read(instr, &it), CAIRN_INVALID);
	assert_status(cairn_tracking_read(NULL, &it), CAIRN_INVALID);
	assert_status(cairn_tracking_open(inner, &t), CAIRN_OK);
	assert_status(cairn_tracking_read(t, NULL), CAIRN_INVALID);
	/* clearing what is not a tracking store does nothing */
	cairn_tracking_clear(NULL);
	cairn_tracking_clear(inner);
	cairn_tracking_clear(instr);
	cairn_close(t);
	cairn_close(instr);
	cairn_close(inner);
}

/* ---- Concurrent appenders ---- */

#define WRITERS 4
#define APPENDS_PER_WRITER 150

typedef struct writer {
	cairn_store *t;
	char own[16];
	unsigned committed;
	unsigned conflicts;
	unsigned failures;
} writer;

/* Each writer appends to a stream of its own, and to a shared stream at
 * the version it just read, so that some of those appends conflict. */
static void *
write_some(void *arg)
{
	writer *w = arg;
	cairn_status rc;
	uint64_t v;
	int i;

	for (i = 0; i < APPENDS_PER_WRITER; i++) {
		if (i % 2 == 0) {
			rc = deco_append(w->t, w->own, CAIRN_ANY, "W", "w",
			                 NULL);
		} else {
			rc = cairn_stream_version(w->t, "shared", &v);
			if (rc == CAIRN_OK)
				rc = deco_append(w->t, "shared", (int64_t)v,
				                 "S", "s", NULL);
		}
		if (rc == CAIRN_OK)
			w->committed++;
		else if (rc == CAIRN_CONFLICT)
			w->conflicts++;
		else
			w->failures++;
	}
	return NULL;
}

static void
test_concurrent_appenders(void **state)
{
	cairn_store *inner = NULL, *t = NULL;
	pthread_t threads[WRITERS];
	writer ws[WRITERS];
	const cairn_event *e;
	cairn_iter *it = NULL;
	uint64_t head = 0, n = 0, last = 0, committed = 0, *positions;
	char *want, *got;
	cairn_status final;
	int i;

	(void)state;
	assert_status(cairn_open("memory:", NULL, &inner), CAIRN_OK);
	assert_status(cairn_tracking_open(inner, &t), CAIRN_OK);
	for (i = 0; i < WRITERS; i++) {
		memset(&ws[i], 0, sizeof(ws[i]));
		ws[i].t = t;
		snprintf(ws[i].own, sizeof(ws[i].own), "own-%d", i);
		assert_int_equal(
		        pthread_create(&threads[i], NULL, write_some, &ws[i]),
		        0);
	}
	for (i = 0; i < WRITERS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(ws[i].failures, 0);
		committed += ws[i].committed;
	}
	/* every appender committed through the tracker: all of the inner
	 * store, in position order */
	assert_status(cairn_head(inner, &head), CAIRN_OK);
	assert_int_equal(head, committed);
	assert_status(cairn_tracking_read(t, &it), CAIRN_OK);
	while (cairn_iter_next(it, &e) == CAIRN_ROW) {
		assert_true(e->position > last);
		last = e->position;
		n++;
	}
	cairn_iter_free(it);
	assert_int_equal(n, head);
	positions = malloc(head * sizeof(*positions));
	assert_non_null(positions);
	for (n = 0; n < head; n++)
		positions[n] = n + 1;
	want = lines_at(inner, positions, head);
	assert_status(cairn_tracking_read(t, &it), CAIRN_OK);
	got = deco_drain(it, &final);
	cairn_iter_free(it);
	assert_status(final, CAIRN_DONE);
	assert_string_equal(got, want);
	free(want);
	free(got);
	free(positions);
	cairn_close(t);
	cairn_close(inner);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_committed_only_memory),
	        cmocka_unit_test(test_committed_only_lmdb),
	        cmocka_unit_test(test_versions_and_positions),
	        cmocka_unit_test(test_copy_and_clear),
	        cmocka_unit_test(test_not_a_tracking_store),
	        cmocka_unit_test(test_concurrent_appenders),
	};

	return cmocka_run_group_tests_name("tracking", tests, NULL, NULL);
}
