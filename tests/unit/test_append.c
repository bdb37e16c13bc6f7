/*
 * test_append.c -- the rules of src/core/append.c every engine shares:
 * expected versions, conflict reports, and idempotency, the latter driven
 * by a scripted id lookup (the "store" is a table of where ids are).
 */
#include "unit.h"

/* ---- expected versions ---- */

struct expected_case {
	int64_t expected;
	uint64_t actual;
	bool ok;
};

static void
expected_truth_table(void **state)
{
	static const struct expected_case cases[] = {
		{CAIRN_ANY, 0, true},
		{CAIRN_ANY, 1, true},
		{CAIRN_ANY, 12345, true},
		{CAIRN_ANY, UINT64_MAX, true},
		{CAIRN_STREAM_EXISTS, 0, false},
		{CAIRN_STREAM_EXISTS, 1, true},
		{CAIRN_STREAM_EXISTS, 2, true},
		{CAIRN_STREAM_EXISTS, UINT64_MAX, true},
		{CAIRN_NO_STREAM, 0, true},
		{CAIRN_NO_STREAM, 1, false},
		{CAIRN_NO_STREAM, UINT64_MAX, false},
		{0, 0, true},
		{1, 0, false},
		{1, 1, true},
		{1, 2, false},
		{5, 4, false},
		{5, 5, true},
		{5, 6, false},
		{INT64_MAX, INT64_MAX, true},
		{INT64_MAX, (uint64_t)INT64_MAX + 1, false},
		{INT64_MAX, 0, false},
		/* -1 and -2 are the markers, never versions near UINT64_MAX */
		{CAIRN_ANY, UINT64_MAX - 1, true},
		{CAIRN_STREAM_EXISTS, UINT64_MAX - 1, true},
	};
	size_t i;

	(void)state;
	assert_int_equal(CAIRN_NO_STREAM, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cairn__expected_ok(cases[i].expected, cases[i].actual) !=
		    cases[i].ok)
			fail_msg("expected %lld, actual %llu: should be %s",
			         (long long)cases[i].expected,
			         (unsigned long long)cases[i].actual,
			         cases[i].ok ? "ok" : "a conflict");
}

/* ---- conflict reports ---- */

static void
conflict_fills_result_and_message(void **state)
{
	static const struct {
		int64_t expected;
		const char *says;
	} cases[] = {
		{CAIRN_ANY, "expected any,"},
		{CAIRN_STREAM_EXISTS, "expected an existing stream,"},
		{CAIRN_NO_STREAM, "expected no stream (version 0),"},
		{7, "expected version 7,"},
		{INT64_MAX, "expected version 9223372036854775807,"},
	};
	cairn_append_result r;
	cairn__write w;
	size_t i;

	(void)state;
	memset(&w, 0, sizeof(w));
	/* stream_len decides: the id need not be NUL-terminated there */
	w.stream = "account-42XXXX";
	w.stream_len = 10;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0xAB, sizeof(r));
		w.expected = cases[i].expected;
		assert_int_equal(cairn__conflict(&r, 3, &w, 9), CAIRN_CONFLICT);
		assert_int_equal(r.conflict_index, 3);
		assert_string_equal(r.conflict_stream, "account-42");
		assert_int_equal(r.conflict_expected, cases[i].expected);
		assert_int_equal(r.conflict_actual, 9);
		assert_error_has("stream 'account-42'");
		assert_error_has(cases[i].says);
		assert_error_has("at version 9");
	}
}

static void
req_error_records_in_request(void **state)
{
	cairn__append_req req;

	(void)state;
	memset(&req, 0, sizeof(req));
	cairn__error(CAIRN_OK, 0, "%s", "untouched");
	assert_int_equal(cairn__req_error(&req, CAIRN_IO, 28, "disk %s",
	                                  "full"),
	                 CAIRN_IO);
	assert_int_equal(req.status, CAIRN_IO);
	assert_int_equal(req.native, 28);
	assert_string_equal(req.message, "disk full");
	/* the thread's record is the caller's to set, not this helper's */
	assert_string_equal(cairn_last_error(), "untouched");
}

/* ---- idempotency ---- */

/* The scripted store: where each id is committed, if anywhere. */
struct placed {
	uint8_t key;               /* bytes[0] of the id */
	cairn_status rc;           /* CAIRN_OK, or an error to return */
	cairn__id_location loc;
};

struct script {
	const struct placed *ids;
	size_t n;
	unsigned calls;
	uint8_t asked[64];         /* keys in the order they were asked */
};

static cairn_status
scripted_lookup(void *ctx, const cairn_uuid *id, cairn__id_location *loc)
{
	struct script *s = ctx;
	size_t i;

	if (s->calls < sizeof(s->asked))
		s->asked[s->calls] = id->bytes[0];
	s->calls++;
	for (i = 0; i < s->n; i++) {
		if (s->ids[i].key != id->bytes[0])
			continue;
		if (s->ids[i].rc != CAIRN_OK)
			return cairn__error(s->ids[i].rc, 5,
			                    "scripted failure");
		*loc = s->ids[i].loc;
		return CAIRN_OK;
	}
	return CAIRN_NOT_FOUND;
}

#define MAX_EVENTS 8
#define MAX_WRITES 3

/* A request under construction: per write, a stream and event keys; a
 * key of 0 means the event carries no caller id. */
struct fixture {
	cairn__write w[MAX_WRITES];
	cairn_new_event ev[MAX_WRITES][MAX_EVENTS];
	cairn_uuid ids[MAX_WRITES][MAX_EVENTS];
	cairn_append_result result;
	cairn__append_req req;
};

static void
add_write(struct fixture *f, const char *stream, int64_t expected,
          const uint8_t *keys, size_t n)
{
	size_t wi = f->req.nwrites, i;
	cairn__write *w = &f->w[wi];

	assert_true(wi < MAX_WRITES && n <= MAX_EVENTS);
	w->stream = stream;
	w->stream_len = strlen(stream);
	w->expected = expected;
	w->events = f->ev[wi];
	w->nevents = n;
	w->ids = f->ids[wi];
	for (i = 0; i < n; i++) {
		cairn_new_event e = CAIRN_NEW_EVENT_INIT;
		e.type = "T";
		/* generated ids are never found by the lookup (key 0xEE) */
		memset(&f->ids[wi][i], 0, sizeof(cairn_uuid));
		f->ids[wi][i].bytes[0] = keys[i] ? keys[i] : 0xEE;
		if (keys[i]) {
			e.id = &f->ids[wi][i];
			f->req.ids_given++;
		}
		f->ev[wi][i] = e;
	}
	f->req.writes = f->w;
	f->req.nwrites++;
	f->req.nevents += n;
	f->req.result = &f->result;
}

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->req.status = CAIRN_OK;
}

static struct placed
at(uint8_t key, const char *stream, uint64_t position, uint64_t version,
   uint64_t stream_version)
{
	struct placed p;

	memset(&p, 0, sizeof(p));
	p.key = key;
	p.rc = CAIRN_OK;
	p.loc.position = position;
	p.loc.version = version;
	p.loc.stream = stream;
	p.loc.stream_len = strlen(stream);
	p.loc.stream_version = stream_version;
	return p;
}

static cairn_status
run(struct fixture *f, const struct placed *ids, size_t n, struct script *s)
{
	memset(s, 0, sizeof(*s));
	s->ids = ids;
	s->n = n;
	return cairn__idempotency_check(&f->req, scripted_lookup, s);
}

static void
idem_no_ids_given(void **state)
{
	static const uint8_t none[3] = {0, 0, 0};
	struct placed ids[1];
	struct fixture f;
	struct script s;

	(void)state;
	fixture_init(&f);
	add_write(&f, "s", CAIRN_ANY, none, 3);
	ids[0] = at(0xEE, "s", 1, 1, 3); /* would match a generated id */
	assert_int_equal(run(&f, ids, 1, &s), CAIRN_DONE);
	assert_int_equal(s.calls, 0);
	assert_int_equal(f.result.idempotent, 0);
}

static void
idem_none_found(void **state)
{
	static const uint8_t keys[3] = {1, 2, 3};
	static const uint8_t keys_b[2] = {4, 0};
	struct fixture f;
	struct script s;

	(void)state;
	fixture_init(&f);
	add_write(&f, "s", CAIRN_NO_STREAM, keys, 3);
	add_write(&f, "t", CAIRN_ANY, keys_b, 2);
	assert_int_equal(run(&f, NULL, 0, &s), CAIRN_DONE);
	/* every given id was asked for, in order, and no generated one */
	assert_int_equal(s.calls, 4);
	assert_memory_equal(s.asked, "\x01\x02\x03\x04", 4);
	assert_int_equal(f.result.idempotent, 0);
	assert_int_equal(f.result.first_position, 0);
	assert_int_equal(f.req.status, CAIRN_OK);
}

static void
idem_full_repeat_single_stream(void **state)
{
	static const uint8_t keys[3] = {1, 2, 3};
	struct placed ids[3];
	struct fixture f;
	struct script s;

	(void)state;
	fixture_init(&f);
	/* whatever the expected version: a repeat is a repeat */
	add_write(&f, "orders", 0, keys, 3);
	ids[0] = at(1, "orders", 40, 4, 9);
	ids[1] = at(2, "orders", 41, 5, 9);
	ids[2] = at(3, "orders", 42, 6, 9);
	assert_int_equal(run(&f, ids, 3, &s), CAIRN_OK);
	assert_int_equal(f.result.idempotent, 1);
	assert_int_equal(f.result.first_position, 40);
	assert_int_equal(f.result.last_position, 42);
	assert_int_equal(f.result.version, 6);
	assert_int_equal(s.calls, 3);
}

static void
idem_full_repeat_multi_stream(void **state)
{
	static const uint8_t ka[2] = {1, 2}, kb[1] = {3}, kc[2] = {4, 5};
	struct placed ids[5];
	struct fixture f;
	struct script s;

	(void)state;
	fixture_init(&f);
	add_write(&f, "a", 3, ka, 2);
	add_write(&f, "b", CAIRN_NO_STREAM, kb, 1);
	add_write(&f, "c", CAIRN_ANY, kc, 2);
	ids[0] = at(1, "a", 1, 4, 5);
	ids[1] = at(2, "a", 2, 5, 5);
	ids[2] = at(3, "b", 3, 1, 1);
	ids[3] = at(4, "c", 4, 10, 11);
	ids[4] = at(5, "c", 5, 11, 11);
	assert_int_equal(run(&f, ids, 5, &s), CAIRN_OK);
	assert_int_equal(f.result.idempotent, 1);
	assert_int_equal(f.result.first_position, 1);
	assert_int_equal(f.result.last_position, 5);
	/* version is the first write's stream version after the append */
	assert_int_equal(f.result.version, 5);
}

static void
expect_id_conflict(struct fixture *f, cairn_status rc, size_t windex,
                   const char *stream, int64_t expected, uint64_t actual,
                   const char *says)
{
	assert_int_equal(rc, CAIRN_CONFLICT);
	assert_int_equal(f->req.status, CAIRN_CONFLICT);
	assert_int_equal(f->result.idempotent, 0);
	assert_int_equal(f->result.conflict_index, windex);
	assert_string_equal(f->result.conflict_stream, stream);
	assert_int_equal(f->result.conflict_expected, expected);
	assert_int_equal(f->result.conflict_actual, actual);
	assert_contains(f->req.message, says);
}

static void
idem_wrong_position(void **state)
{
	static const uint8_t keys[3] = {1, 2, 3};
	char idtext[37];
	struct placed ids[3];
	struct fixture f;
	struct script s;

	(void)state;
	fixture_init(&f);
	add_write(&f, "s", 2, keys, 3);
	ids[0] = at(1, "s", 10, 3, 8);
	ids[1] = at(2, "s", 11, 4, 8);
	ids[2] = at(3, "s", 13, 6, 8); /* a gap: not this append's shape */
	expect_id_conflict(&f, run(&f, ids, 3, &s), 0, "s", 2, 8,
	                   "elsewhere than this append puts it");
	cairn_uuid_format(&f.ids[0][2], idtext);
	assert_contains(f.req.message, idtext);
	assert_contains(f.req.message, "at version 6");

	/* the same ids in another order */
	fixture_init(&f);
	add_write(&f, "s", CAIRN_ANY, keys, 3);
	ids[0] = at(1, "s", 11, 4, 8);
	ids[1] = at(2, "s", 10, 3, 8);
	ids[2] = at(3, "s", 12, 5, 8);
	expect_id_conflict(&f, run(&f, ids, 3, &s), 0, "s", CAIRN_ANY, 8,
	                   "elsewhere");
}

static void
idem_wrong_stream(void **state)
{
	static const uint8_t keys[2] = {1, 2};
	static const uint8_t ka[1] = {1}, kb[1] = {2};
	struct placed ids[2];
	struct fixture f;
	struct script s;

	(void)state;
	/* every id in another stream of the same length */
	fixture_init(&f);
	add_write(&f, "s", CAIRN_NO_STREAM, keys, 2);
	ids[0] = at(1, "t", 20, 1, 2);
	ids[1] = at(2, "t", 21, 2, 2);
	expect_id_conflict(&f, run(&f, ids, 2, &s), 0, "t", CAIRN_NO_STREAM,
	                   2, "in stream 't'");
	assert_int_equal(s.calls, 1);

	/* a stream whose id merely starts with this one */
	fixture_init(&f);
	add_write(&f, "s", CAIRN_ANY, keys, 2);
	ids[0] = at(1, "s2", 20, 1, 2);
	ids[1] = at(2, "s2", 21, 2, 2);
	expect_id_conflict(&f, run(&f, ids, 2, &s), 0, "s2", CAIRN_ANY, 2,
	                   "in stream 's2'");

	/* consecutive positions, but the second write's id sits in the
	 * first write's stream */
	fixture_init(&f);
	add_write(&f, "a", CAIRN_ANY, ka, 1);
	add_write(&f, "b", 4, kb, 1);
	ids[0] = at(1, "a", 30, 1, 2);
	ids[1] = at(2, "a", 31, 2, 2);
	expect_id_conflict(&f, run(&f, ids, 2, &s), 1, "a", 4, 2,
	                   "in stream 'a'");
}

static void
idem_partial_repeat(void **state)
{
	static const uint8_t keys[3] = {1, 2, 3};
	static const uint8_t some_generated[3] = {1, 2, 0};
	static const uint8_t ka[2] = {1, 2}, kb[2] = {3, 4};
	struct placed ids[3];
	struct fixture f;
	struct script s;

	(void)state;
	/* the first two committed, the last not */
	fixture_init(&f);
	add_write(&f, "import-7", 0, keys, 3);
	ids[0] = at(1, "import-7", 100, 1, 2);
	ids[1] = at(2, "import-7", 101, 2, 2);
	expect_id_conflict(&f, run(&f, ids, 2, &s), 0, "import-7", 0, 2,
	                   "2 of the 3 events");
	assert_contains(f.req.message, "stream 'import-7' is at version 2");

	/* the first not committed, the others are */
	fixture_init(&f);
	add_write(&f, "s", CAIRN_ANY, keys, 3);
	ids[0] = at(2, "s", 101, 2, 3);
	ids[1] = at(3, "s", 102, 3, 3);
	expect_id_conflict(&f, run(&f, ids, 2, &s), 0, "s", CAIRN_ANY, 3,
	                   "2 of the 3 events");
	assert_contains(f.req.message, "stream 's' is at version 3");

	/* every given id committed, but one event has no id */
	fixture_init(&f);
	add_write(&f, "s", CAIRN_ANY, some_generated, 3);
	ids[0] = at(1, "s", 7, 1, 2);
	ids[1] = at(2, "s", 8, 2, 2);
	expect_id_conflict(&f, run(&f, ids, 2, &s), 0, "s", CAIRN_ANY, 2,
	                   "partial repeat");

	/* a multi-stream append whose second write was never committed:
	 * the conflict names the stream of the first id found */
	fixture_init(&f);
	add_write(&f, "a", 5, ka, 2);
	add_write(&f, "b", 0, kb, 2);
	ids[0] = at(1, "a", 50, 6, 7);
	ids[1] = at(2, "a", 51, 7, 7);
	expect_id_conflict(&f, run(&f, ids, 2, &s), 0, "a", 5, 7,
	                   "stream 'a' is at version 7");

	/* ... and one whose first write was never committed */
	fixture_init(&f);
	add_write(&f, "a", 5, ka, 2);
	add_write(&f, "b", 0, kb, 2);
	ids[0] = at(3, "b", 52, 1, 2);
	ids[1] = at(4, "b", 53, 2, 2);
	expect_id_conflict(&f, run(&f, ids, 2, &s), 1, "b", 0, 2,
	                   "stream 'b' is at version 2");
}

static void
idem_lookup_error_propagates(void **state)
{
	static const uint8_t keys[3] = {1, 2, 3};
	struct placed ids[3];
	struct fixture f;
	struct script s;

	(void)state;
	fixture_init(&f);
	add_write(&f, "s", CAIRN_ANY, keys, 3);
	ids[0] = at(1, "s", 1, 1, 3);
	ids[1] = at(2, "s", 2, 2, 3);
	ids[1].rc = CAIRN_IO;
	ids[2] = at(3, "s", 3, 3, 3);
	assert_int_equal(run(&f, ids, 3, &s), CAIRN_IO);
	assert_int_equal(f.req.status, CAIRN_IO);
	assert_contains(f.req.message, "looking up an event id");
	assert_contains(f.req.message, "scripted failure");
	assert_int_equal(f.result.idempotent, 0);
	/* it stopped at the failing lookup */
	assert_int_equal(s.calls, 2);

	fixture_init(&f);
	add_write(&f, "s", CAIRN_ANY, keys, 3);
	ids[1].rc = CAIRN_CORRUPT;
	assert_int_equal(run(&f, ids, 3, &s), CAIRN_CORRUPT);
	assert_int_equal(f.req.status, CAIRN_CORRUPT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(expected_truth_table),
		cmocka_unit_test(conflict_fills_result_and_message),
		cmocka_unit_test(req_error_records_in_request),
		cmocka_unit_test(idem_no_ids_given),
		cmocka_unit_test(idem_none_found),
		cmocka_unit_test(idem_full_repeat_single_stream),
		cmocka_unit_test(idem_full_repeat_multi_stream),
		cmocka_unit_test(idem_wrong_position),
		cmocka_unit_test(idem_wrong_stream),
		cmocka_unit_test(idem_partial_repeat),
		cmocka_unit_test(idem_lookup_error_propagates),
	};

	return cmocka_run_group_tests_name("append", tests, NULL, NULL);
}
