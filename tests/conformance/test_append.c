/*
 * test_append.c -- appends: expected versions, conflicts that write
 * nothing, multi-stream atomicity, idempotent re-appends.
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cairn_append_result fresh_result(void)
{
	cairn_append_result r;
	memset(&r, 0xcd, sizeof r); /* so that unfilled fields show */
	return r;
}

static void assert_conflict(const cairn_append_result *r, size_t index,
                            const char *stream, int64_t expected,
                            uint64_t actual)
{
	assert_int_equal(r->conflict_index, index);
	assert_string_equal(r->conflict_stream, stream);
	assert_int_equal(r->conflict_expected, expected);
	assert_int_equal(r->conflict_actual, actual);
}

/* Appending 1, then N events gives versions and positions in order and a
 * filled result. */
static void test_append_one_then_batch(void **state)
{
	conf_fixture *fx = *state;
	cairn_append_result r = fresh_result();
	assert_status(conf_append_text(fx->st, "acc-1", CAIRN_NO_STREAM,
	                               "Opened", "{}", &r),
	              CAIRN_OK);
	assert_int_equal(r.first_position, 1);
	assert_int_equal(r.last_position, 1);
	assert_int_equal(r.version, 1);
	assert_int_equal(r.idempotent, 0);

	cairn_new_event evs[5];
	const char *data[5] = {"a", "b", "c", "d", "e"};
	for (int i = 0; i < 5; i++)
		evs[i] = conf_ev("Deposited", data[i]);
	r = fresh_result();
	assert_status(cairn_append(fx->st, "acc-1", 1, evs, 5, &r), CAIRN_OK);
	assert_int_equal(r.first_position, 2);
	assert_int_equal(r.last_position, 6);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.idempotent, 0);
	assert_int_equal(conf_version(fx->st, "acc-1"), 6);
	assert_int_equal(conf_head(fx->st), 6);

	/* a NULL result is allowed */
	assert_status(conf_append_text(fx->st, "acc-2", CAIRN_NO_STREAM, "T",
	                               "x", NULL),
	              CAIRN_OK);
	assert_int_equal(conf_head(fx->st), 7);

	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "acc-1", NULL, &recs);
	assert_int_equal(n, 6);
	assert_string_equal(recs[0].type, "Opened");
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(recs[i].version, i + 1);
		assert_int_equal(recs[i].position, i + 1);
		if (i > 0) {
			assert_string_equal(recs[i].type, "Deposited");
			assert_string_equal((char *)recs[i].data, data[i - 1]);
		}
	}
	conf_recs_free(recs, n);
}

/* ANY never conflicts, on a missing or an existing stream; events
 * without caller ids are never deduplicated. */
static void test_expected_any(void **state)
{
	conf_fixture *fx = *state;
	cairn_append_result r = fresh_result();
	assert_status(conf_append_text(fx->st, "s", CAIRN_ANY, "T", "1", &r),
	              CAIRN_OK);
	assert_int_equal(r.version, 1);
	r = fresh_result();
	assert_status(conf_append_text(fx->st, "s", CAIRN_ANY, "T", "1", &r),
	              CAIRN_OK);
	assert_int_equal(r.version, 2);
	assert_int_equal(r.idempotent, 0);
	assert_int_equal(conf_version(fx->st, "s"), 2);
	assert_int_equal(conf_head(fx->st), 2);
}

/* NO_STREAM on an existing stream conflicts, names it, writes nothing. */
static void test_expected_no_stream(void **state)
{
	conf_fixture *fx = *state;
	assert_status(conf_append_text(fx->st, "s-1", CAIRN_NO_STREAM, "T", "1",
	                               NULL),
	              CAIRN_OK);
	conf_fill(fx->st, "s-1", 2);
	assert_status(conf_append_text(fx->st, "other", CAIRN_NO_STREAM, "T",
	                               "1", NULL),
	              CAIRN_OK);
	conf_snap snap = conf_snapshot(fx->st);
	cairn_append_result r = fresh_result();
	assert_status(conf_append_text(fx->st, "s-1", CAIRN_NO_STREAM, "T", "2",
	                               &r),
	              CAIRN_CONFLICT);
	assert_conflict(&r, 0, "s-1", CAIRN_NO_STREAM, 3);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_unchanged(fx->st, snap);
	assert_int_equal(conf_version(fx->st, "s-1"), 3);
}

/* STREAM_EXISTS conflicts on a missing stream, passes on an existing. */
static void test_expected_stream_exists(void **state)
{
	conf_fixture *fx = *state;
	cairn_append_result r = fresh_result();
	assert_status(conf_append_text(fx->st, "s-1", CAIRN_STREAM_EXISTS, "T",
	                               "1", &r),
	              CAIRN_CONFLICT);
	assert_conflict(&r, 0, "s-1", CAIRN_STREAM_EXISTS, 0);
	assert_int_equal(conf_head(fx->st), 0);
	assert_int_equal(conf_version(fx->st, "s-1"), 0);
	conf_stream *ls;
	assert_int_equal(conf_list(fx->st, NULL, NULL, 0, &ls), 0);
	conf_streams_free(ls, 0);

	assert_status(conf_append_text(fx->st, "s-1", CAIRN_ANY, "T", "1", NULL),
	              CAIRN_OK);
	r = fresh_result();
	assert_status(conf_append_text(fx->st, "s-1", CAIRN_STREAM_EXISTS, "T",
	                               "2", &r),
	              CAIRN_OK);
	assert_int_equal(r.version, 2);
	assert_int_equal(r.first_position, 2);
}

/* An exact version must match; too low and too high both conflict and
 * write nothing; exact 0 is the same as NO_STREAM. */
static void test_expected_exact(void **state)
{
	conf_fixture *fx = *state;
	cairn_append_result r = fresh_result();
	assert_status(conf_append_text(fx->st, "s", 1, "T", "x", &r),
	              CAIRN_CONFLICT);
	assert_conflict(&r, 0, "s", 1, 0);
	assert_int_equal(conf_head(fx->st), 0);

	assert_status(conf_append_text(fx->st, "s", 0, "T", "x", NULL),
	              CAIRN_OK);
	conf_fill(fx->st, "s", 4); /* version 5 */
	conf_snap snap = conf_snapshot(fx->st);
	const int64_t wrong[] = {0, 1, 4, 6, 1000, INT64_MAX};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		r = fresh_result();
		cairn_new_event evs[3] = {conf_ev("T", "a"), conf_ev("T", "b"),
		                          conf_ev("T", "c")};
		assert_status(cairn_append(fx->st, "s", wrong[i], evs, 3, &r),
		              CAIRN_CONFLICT);
		assert_conflict(&r, 0, "s", wrong[i], 5);
		assert_unchanged(fx->st, snap);
		assert_int_equal(conf_version(fx->st, "s"), 5);
	}
	r = fresh_result();
	assert_status(conf_append_text(fx->st, "s", 5, "T", "y", &r), CAIRN_OK);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.first_position, 6);
}

/* cairn_append copies what it needs: changing the caller's buffers after
 * the call does not change the stored event. */
static void test_append_copies_caller_buffers(void **state)
{
	conf_fixture *fx = *state;
	char type[16], data[16], meta[16], tag[16], stream[16];
	snprintf(type, sizeof type, "Typ");
	snprintf(data, sizeof data, "payload");
	snprintf(meta, sizeof meta, "meta");
	snprintf(tag, sizeof tag, "tag-1");
	snprintf(stream, sizeof stream, "buf-1");
	const char *tags[1] = {tag};
	cairn_uuid id = conf_uuid();
	cairn_new_event e = conf_ev(type, data);
	e.metadata = meta;
	e.metadata_len = strlen(meta);
	e.tags = tags;
	e.ntags = 1;
	e.id = &id;
	assert_status(cairn_append(fx->st, stream, CAIRN_ANY, &e, 1, NULL),
	              CAIRN_OK);
	memset(type, 'X', sizeof type - 1);
	memset(data, 'X', sizeof data - 1);
	memset(meta, 'X', sizeof meta - 1);
	memset(tag, 'X', sizeof tag - 1);
	memset(stream, 'X', sizeof stream - 1);
	memset(&id, 0, sizeof id);

	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "buf-1", NULL, &recs);
	assert_int_equal(n, 1);
	assert_string_equal(recs[0].type, "Typ");
	assert_string_equal((char *)recs[0].data, "payload");
	assert_string_equal((char *)recs[0].metadata, "meta");
	assert_int_equal(recs[0].ntags, 1);
	assert_string_equal(recs[0].tags[0], "tag-1");
	assert_memory_not_equal(recs[0].id.bytes, id.bytes, 16);
	conf_recs_free(recs, n);
}

/* A multi-stream append gives consecutive positions in write order. */
static void test_multi_positions_in_write_order(void **state)
{
	conf_fixture *fx = *state;
	assert_status(conf_append_text(fx->st, "c", CAIRN_NO_STREAM, "T", "c0",
	                               NULL),
	              CAIRN_OK);
	cairn_new_event a[2] = {conf_ev("A", "a1"), conf_ev("A", "a2")};
	cairn_new_event b[1] = {conf_ev("B", "b1")};
	cairn_new_event c[3] = {conf_ev("C", "c2"), conf_ev("C", "c3"),
	                        conf_ev("C", "c4")};
	/* writes deliberately not in byte order of the stream ids */
	cairn_write w[3] = {
		{"zeta", CAIRN_NO_STREAM, a, 2},
		{"c", 1, c, 3},
		{"alpha", CAIRN_ANY, b, 1},
	};
	cairn_append_result r = fresh_result();
	assert_status(cairn_append_multi(fx->st, w, 3, &r), CAIRN_OK);
	assert_int_equal(r.first_position, 2);
	assert_int_equal(r.last_position, 7);
	assert_int_equal(r.idempotent, 0);

	conf_rec *recs;
	size_t n = conf_read_all(fx->st, NULL, &recs);
	assert_int_equal(n, 7);
	const char *want_stream[7] = {"c", "zeta", "zeta", "c", "c", "c", "alpha"};
	const char *want_data[7] = {"c0", "a1", "a2", "c2", "c3", "c4", "b1"};
	const uint64_t want_version[7] = {1, 1, 2, 2, 3, 4, 1};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(recs[i].position, i + 1);
		assert_string_equal(recs[i].stream, want_stream[i]);
		assert_string_equal((char *)recs[i].data, want_data[i]);
		assert_int_equal(recs[i].version, want_version[i]);
	}
	conf_recs_free(recs, n);
	assert_int_equal(conf_version(fx->st, "zeta"), 2);
	assert_int_equal(conf_version(fx->st, "c"), 4);
	assert_int_equal(conf_version(fx->st, "alpha"), 1);
}

/* A conflict on the second write writes nothing anywhere and names that
 * write. */
static void test_multi_conflict_writes_nothing(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "one", 2);
	conf_fill(fx->st, "two", 3);
	conf_snap snap = conf_snapshot(fx->st);
	cairn_new_event e1[2] = {conf_ev("T", "x"), conf_ev("T", "y")};
	cairn_new_event e2[1] = {conf_ev("T", "z")};
	cairn_new_event e3[1] = {conf_ev("T", "w")};
	cairn_write w[3] = {
		{"one", 2, e1, 2},
		{"two", 2, e2, 1}, /* really 3 */
		{"three", CAIRN_NO_STREAM, e3, 1},
	};
	cairn_append_result r = fresh_result();
	assert_status(cairn_append_multi(fx->st, w, 3, &r), CAIRN_CONFLICT);
	assert_conflict(&r, 1, "two", 2, 3);
	assert_unchanged(fx->st, snap);
	assert_int_equal(conf_version(fx->st, "one"), 2);
	assert_int_equal(conf_version(fx->st, "two"), 3);
	assert_int_equal(conf_version(fx->st, "three"), 0);

	/* STREAM_EXISTS on a missing third stream */
	w[1].expected = 3;
	w[2].expected = CAIRN_STREAM_EXISTS;
	r = fresh_result();
	assert_status(cairn_append_multi(fx->st, w, 3, &r), CAIRN_CONFLICT);
	assert_conflict(&r, 2, "three", CAIRN_STREAM_EXISTS, 0);
	assert_unchanged(fx->st, snap);

	/* and with everything right it commits */
	w[2].expected = CAIRN_NO_STREAM;
	r = fresh_result();
	assert_status(cairn_append_multi(fx->st, w, 3, &r), CAIRN_OK);
	assert_int_equal(r.first_position, snap.head + 1);
	assert_int_equal(r.last_position, snap.head + 4);
}

/* Malformed multi-stream appends are refused whole. */
static void test_multi_invalid_writes_nothing(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "one", 1);
	conf_snap snap = conf_snapshot(fx->st);
	cairn_new_event ok[1] = {conf_ev("T", "x")};
	cairn_new_event bad_type[2] = {conf_ev("T", "x"), conf_ev("", "y")};

	cairn_write same[2] = {{"one", CAIRN_ANY, ok, 1},
	                       {"one", CAIRN_ANY, ok, 1}};
	assert_status(cairn_append_multi(fx->st, same, 2, NULL), CAIRN_INVALID);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_status(cairn_append_multi(fx->st, same, 0, NULL), CAIRN_INVALID);
	assert_status(cairn_append_multi(fx->st, NULL, 1, NULL), CAIRN_INVALID);
	assert_status(cairn_append_multi(NULL, same, 1, NULL), CAIRN_INVALID);

	cairn_write empty[2] = {{"a", CAIRN_ANY, ok, 1}, {"b", CAIRN_ANY, ok, 0}};
	assert_status(cairn_append_multi(fx->st, empty, 2, NULL), CAIRN_INVALID);
	cairn_write nullev[2] = {{"a", CAIRN_ANY, ok, 1},
	                         {"b", CAIRN_ANY, NULL, 1}};
	assert_status(cairn_append_multi(fx->st, nullev, 2, NULL), CAIRN_INVALID);
	cairn_write badstream[2] = {{"a", CAIRN_ANY, ok, 1},
	                            {"b\n", CAIRN_ANY, ok, 1}};
	assert_status(cairn_append_multi(fx->st, badstream, 2, NULL),
	              CAIRN_INVALID_STREAM);
	cairn_write nullstream[2] = {{"a", CAIRN_ANY, ok, 1},
	                             {NULL, CAIRN_ANY, ok, 1}};
	assert_status(cairn_append_multi(fx->st, nullstream, 2, NULL),
	              CAIRN_INVALID);
	cairn_write late_type[3] = {{"a", CAIRN_ANY, ok, 1},
	                            {"b", CAIRN_ANY, ok, 1},
	                            {"c", CAIRN_ANY, bad_type, 2}};
	assert_status(cairn_append_multi(fx->st, late_type, 3, NULL),
	              CAIRN_INVALID_TYPE);
	cairn_write bad_expected[2] = {{"a", CAIRN_ANY, ok, 1},
	                               {"b", -3, ok, 1}};
	assert_status(cairn_append_multi(fx->st, bad_expected, 2, NULL),
	              CAIRN_INVALID);
	assert_unchanged(fx->st, snap);
	assert_int_equal(conf_version(fx->st, "a"), 0);
}

/* Re-sending an append with the same caller ids succeeds, reports the
 * original positions, writes nothing, even with a now-stale expected
 * version. */
static void test_idempotent_single(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "before", 2);
	cairn_uuid ids[3] = {conf_uuid(), conf_uuid(), conf_uuid()};
	cairn_new_event evs[3] = {conf_ev("T", "1"), conf_ev("T", "2"),
	                          conf_ev("T", "3")};
	for (int i = 0; i < 3; i++)
		evs[i].id = &ids[i];
	cairn_append_result first = fresh_result();
	assert_status(cairn_append(fx->st, "idem", CAIRN_NO_STREAM, evs, 3,
	                           &first),
	              CAIRN_OK);
	assert_int_equal(first.first_position, 3);
	assert_int_equal(first.last_position, 5);
	assert_int_equal(first.idempotent, 0);

	/* the very same call again */
	conf_snap snap = conf_snapshot(fx->st);
	cairn_append_result r = fresh_result();
	assert_status(cairn_append(fx->st, "idem", CAIRN_NO_STREAM, evs, 3, &r),
	              CAIRN_OK);
	assert_int_equal(r.idempotent, 1);
	assert_int_equal(r.first_position, 3);
	assert_int_equal(r.last_position, 5);
	assert_unchanged(fx->st, snap);
	assert_int_equal(conf_version(fx->st, "idem"), 3);

	/* after more events, with various stale expected versions */
	conf_fill(fx->st, "idem", 2);
	conf_fill(fx->st, "after", 1);
	snap = conf_snapshot(fx->st);
	const int64_t expected[] = {CAIRN_NO_STREAM, CAIRN_ANY,
	                            CAIRN_STREAM_EXISTS, 3, 1};
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		r = fresh_result();
		assert_status(cairn_append(fx->st, "idem", expected[i], evs, 3, &r),
		              CAIRN_OK);
		assert_int_equal(r.idempotent, 1);
		assert_int_equal(r.first_position, 3);
		assert_int_equal(r.last_position, 5);
		assert_unchanged(fx->st, snap);
	}
	assert_int_equal(conf_version(fx->st, "idem"), 5);

	/* the stored events carry the caller's ids */
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "idem", NULL, &recs);
	assert_int_equal(n, 5);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(recs[i].id.bytes, ids[i].bytes, 16);
	conf_recs_free(recs, n);

	/* a single-event idempotent repeat */
	cairn_uuid one = conf_uuid();
	cairn_new_event e = conf_ev("T", "single");
	e.id = &one;
	assert_status(cairn_append(fx->st, "solo", CAIRN_NO_STREAM, &e, 1, &r),
	              CAIRN_OK);
	uint64_t pos = r.first_position;
	snap = conf_snapshot(fx->st);
	r = fresh_result();
	assert_status(cairn_append(fx->st, "solo", CAIRN_NO_STREAM, &e, 1, &r),
	              CAIRN_OK);
	assert_int_equal(r.idempotent, 1);
	assert_int_equal(r.first_position, pos);
	assert_int_equal(r.last_position, pos);
	assert_unchanged(fx->st, snap);
}

/* Ids committed anywhere else, or only partly, are a conflict. */
static void test_idempotent_ids_elsewhere(void **state)
{
	conf_fixture *fx = *state;
	cairn_uuid ids[3] = {conf_uuid(), conf_uuid(), conf_uuid()};
	cairn_uuid fresh = conf_uuid();
	cairn_new_event evs[4];
	for (int i = 0; i < 3; i++) {
		evs[i] = conf_ev("T", "v");
		evs[i].id = &ids[i];
	}
	assert_status(cairn_append(fx->st, "home", CAIRN_NO_STREAM, evs, 3, NULL),
	              CAIRN_OK);
	conf_fill(fx->st, "elsewhere", 1);
	conf_snap snap = conf_snapshot(fx->st);

	/* the same ids on another stream */
	assert_status(cairn_append(fx->st, "elsewhere", CAIRN_ANY, evs, 3, NULL),
	              CAIRN_CONFLICT);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_unchanged(fx->st, snap);
	/* one of them on another stream */
	assert_status(cairn_append(fx->st, "new-stream", CAIRN_ANY, &evs[1], 1,
	                           NULL),
	              CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);

	/* partial overlap: a committed id and a new one */
	cairn_new_event part[2] = {evs[0], conf_ev("T", "new")};
	part[1].id = &fresh;
	assert_status(cairn_append(fx->st, "home", CAIRN_ANY, part, 2, NULL),
	              CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);
	/* a superset of the committed append */
	evs[3] = conf_ev("T", "new");
	evs[3].id = &fresh;
	assert_status(cairn_append(fx->st, "home", CAIRN_ANY, evs, 4, NULL),
	              CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);
	/* the right ids in the wrong order */
	cairn_new_event swapped[3] = {evs[1], evs[0], evs[2]};
	assert_status(cairn_append(fx->st, "home", CAIRN_ANY, swapped, 3, NULL),
	              CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);
	/* a committed id plus an event without id */
	cairn_new_event mixed[2] = {evs[0], conf_ev("T", "anon")};
	assert_status(cairn_append(fx->st, "home", CAIRN_ANY, mixed, 2, NULL),
	              CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);
	assert_int_equal(conf_version(fx->st, "home"), 3);
	assert_int_equal(conf_version(fx->st, "new-stream"), 0);

	/* the fresh id was never committed, so it is still usable */
	assert_status(cairn_append(fx->st, "home", 3, &evs[3], 1, NULL),
	              CAIRN_OK);
}

/* The same id twice in one call is invalid, within a write and across
 * the writes of a multi-stream append. */
static void test_duplicate_ids_in_call(void **state)
{
	conf_fixture *fx = *state;
	cairn_uuid id = conf_uuid();
	cairn_new_event evs[3] = {conf_ev("T", "a"), conf_ev("T", "b"),
	                          conf_ev("T", "c")};
	evs[0].id = &id;
	evs[2].id = &id;
	assert_status(cairn_append(fx->st, "dup", CAIRN_ANY, evs, 3, NULL),
	              CAIRN_INVALID);
	assert_true(strlen(cairn_last_error()) > 0);
	cairn_write w[2] = {{"dup-a", CAIRN_ANY, &evs[0], 1},
	                    {"dup-b", CAIRN_ANY, &evs[2], 1}};
	assert_status(cairn_append_multi(fx->st, w, 2, NULL), CAIRN_INVALID);
	assert_int_equal(conf_head(fx->st), 0);
	assert_int_equal(conf_stats(fx->st).streams, 0);
}

/* A multi-stream append repeated with the same ids is idempotent; one
 * that repeats only some of them conflicts. */
static void test_idempotent_multi(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "x", 1);
	cairn_uuid xi[2] = {conf_uuid(), conf_uuid()};
	cairn_uuid yi[1] = {conf_uuid()};
	cairn_new_event xe[2] = {conf_ev("T", "x1"), conf_ev("T", "x2")};
	cairn_new_event ye[1] = {conf_ev("T", "y1")};
	xe[0].id = &xi[0];
	xe[1].id = &xi[1];
	ye[0].id = &yi[0];
	cairn_write w[2] = {{"x", 1, xe, 2}, {"y", CAIRN_NO_STREAM, ye, 1}};
	cairn_append_result first = fresh_result();
	assert_status(cairn_append_multi(fx->st, w, 2, &first), CAIRN_OK);
	assert_int_equal(first.first_position, 2);
	assert_int_equal(first.last_position, 4);
	assert_int_equal(first.idempotent, 0);

	conf_fill(fx->st, "y", 2); /* the expected versions are now stale */
	conf_snap snap = conf_snapshot(fx->st);
	cairn_append_result r = fresh_result();
	assert_status(cairn_append_multi(fx->st, w, 2, &r), CAIRN_OK);
	assert_int_equal(r.idempotent, 1);
	assert_int_equal(r.first_position, 2);
	assert_int_equal(r.last_position, 4);
	assert_unchanged(fx->st, snap);

	/* the first write repeated, the second new */
	cairn_uuid zi = conf_uuid();
	cairn_new_event ze[1] = {conf_ev("T", "z1")};
	ze[0].id = &zi;
	cairn_write half[2] = {{"x", CAIRN_ANY, xe, 2},
	                       {"z", CAIRN_ANY, ze, 1}};
	assert_status(cairn_append_multi(fx->st, half, 2, NULL), CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);
	assert_int_equal(conf_version(fx->st, "z"), 0);
}

static const struct CMUnitTest append_tests[] = {
	CONF_TEST(test_append_one_then_batch),
	CONF_TEST(test_expected_any),
	CONF_TEST(test_expected_no_stream),
	CONF_TEST(test_expected_stream_exists),
	CONF_TEST(test_expected_exact),
	CONF_TEST(test_append_copies_caller_buffers),
	CONF_TEST(test_multi_positions_in_write_order),
	CONF_TEST(test_multi_conflict_writes_nothing),
	CONF_TEST(test_multi_invalid_writes_nothing),
	CONF_TEST(test_idempotent_single),
	CONF_TEST(test_idempotent_ids_elsewhere),
	CONF_TEST(test_duplicate_ids_in_call),
	CONF_TEST(test_idempotent_multi),
};

int conf_group_append(void)
{
	return cmocka_run_group_tests_name("append", append_tests,
	                                   conf_group_setup, conf_group_teardown);
}
