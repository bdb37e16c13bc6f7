/*
 * test_persist.c -- what survives cairn_close() and cairn_open() of the
 * same URI: everything, for persisting backends; nothing, for memory.
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void assert_same_events(const conf_rec *a, size_t na, const conf_rec *b,
                               size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_memory_equal(a[i].id.bytes, b[i].id.bytes, 16);
		assert_string_equal(a[i].stream, b[i].stream);
		assert_string_equal(a[i].type, b[i].type);
		assert_int_equal(a[i].data_len, b[i].data_len);
		assert_memory_equal(a[i].data, b[i].data, a[i].data_len + 1);
		assert_int_equal(a[i].metadata_len, b[i].metadata_len);
		assert_memory_equal(a[i].metadata, b[i].metadata,
		                    a[i].metadata_len + 1);
		assert_int_equal(a[i].ntags, b[i].ntags);
		for (size_t t = 0; t < a[i].ntags; t++)
			assert_string_equal(a[i].tags[t], b[i].tags[t]);
		assert_int_equal(a[i].version, b[i].version);
		assert_int_equal(a[i].position, b[i].position);
		assert_int_equal(a[i].time_ns, b[i].time_ns);
	}
}

static void assert_same_streams(const conf_stream *a, size_t na,
                                const conf_stream *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].stream, b[i].stream);
		assert_int_equal(a[i].version, b[i].version);
		assert_int_equal(a[i].last_position, b[i].last_position);
		assert_int_equal(a[i].created_ns, b[i].created_ns);
		assert_int_equal(a[i].updated_ns, b[i].updated_ns);
	}
}

/* Events, versions, head, stats, the listing and the id index survive a
 * close and reopen; appends continue where they stopped. */
static void test_persist_reopen(void **state)
{
	conf_fixture *fx = *state;
	if (!store_persists())
		skip();
	conf_fill(fx->st, "p-1", 25);
	const char *tags[] = {"k:1", "日本"};
	static const unsigned char bin[] = {0, 1, 2, 0, 255};
	cairn_uuid ids[3] = {conf_uuid(), conf_uuid(), conf_uuid()};
	cairn_new_event a[2] = {conf_ev("A", "{\"a\":1}"), conf_ev("A", NULL)};
	a[0].id = &ids[0];
	a[0].tags = tags;
	a[0].ntags = 2;
	a[1].id = &ids[1];
	a[1].data = bin;
	a[1].data_len = sizeof bin;
	a[1].metadata = bin;
	a[1].metadata_len = 3;
	cairn_new_event b[1] = {conf_ev("B", "")};
	b[0].id = &ids[2];
	cairn_write w[2] = {{"konto-Ärger-🙂", CAIRN_NO_STREAM, a, 2},
	                    {"p-1", 25, b, 1}};
	cairn_append_result first;
	assert_status(cairn_append_multi(fx->st, w, 2, &first), CAIRN_OK);
	conf_fill(fx->st, "p-2", 3);

	conf_rec *before;
	size_t nbefore = conf_read_all(fx->st, NULL, &before);
	conf_stream *lbefore;
	size_t nlbefore = conf_list(fx->st, NULL, NULL, 0, &lbefore);
	conf_snap snap = conf_snapshot(fx->st);
	assert_int_equal(snap.head, 31);

	for (int round = 0; round < 2; round++) {
		reopen_store(fx, NULL);
		assert_unchanged(fx->st, snap);
		conf_rec *after;
		size_t nafter = conf_read_all(fx->st, NULL, &after);
		assert_same_events(before, nbefore, after, nafter);
		conf_recs_free(after, nafter);
		conf_stream *lafter;
		size_t nlafter = conf_list(fx->st, NULL, NULL, 0, &lafter);
		assert_same_streams(lbefore, nlbefore, lafter, nlafter);
		conf_streams_free(lafter, nlafter);
		assert_int_equal(conf_version(fx->st, "p-1"), 26);
		assert_int_equal(conf_version(fx->st, "konto-Ärger-🙂"), 2);
		assert_int_equal(conf_version(fx->st, "p-2"), 3);
		/* backwards and filtered reads work on the reopened store */
		cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
		ro.backwards = 1;
		ro.prefix = "p-1";
		ro.limit = 2;
		conf_rec *r;
		size_t n = conf_read_all(fx->st, &ro, &r);
		assert_int_equal(n, 2);
		assert_int_equal(r[0].version, 26);
		assert_int_equal(r[0].position, 28);
		assert_int_equal(r[1].version, 25);
		conf_recs_free(r, n);
	}

	/* the id index survived: the repeat is idempotent, a misuse conflicts */
	cairn_append_result res;
	assert_status(cairn_append_multi(fx->st, w, 2, &res), CAIRN_OK);
	assert_int_equal(res.idempotent, 1);
	assert_int_equal(res.first_position, first.first_position);
	assert_int_equal(res.last_position, first.last_position);
	assert_status(cairn_append(fx->st, "p-3", CAIRN_ANY, b, 1, NULL),
	              CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);

	/* appends continue positions and versions */
	assert_status(conf_append_text(fx->st, "p-1", 25, "T", "x", &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_actual, 26);
	assert_status(conf_append_text(fx->st, "p-1", 26, "T", "x", &res),
	              CAIRN_OK);
	assert_int_equal(res.version, 27);
	assert_int_equal(res.first_position, 32);
	assert_status(conf_append_text(fx->st, "p-new", CAIRN_NO_STREAM, "T", "x",
	                               &res),
	              CAIRN_OK);
	assert_int_equal(res.first_position, 33);
	assert_int_equal(conf_head(fx->st), 33);
	cairn_stats s = conf_stats(fx->st);
	assert_int_equal(s.events, 33);
	assert_int_equal(s.streams, 4);

	uint64_t problems = 99;
	assert_status(cairn_verify(fx->st, NULL, NULL, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);

	reopen_store(fx, NULL);
	assert_int_equal(conf_head(fx->st), 33);
	conf_rec *all;
	size_t n = conf_read_all(fx->st, NULL, &all);
	assert_int_equal(n, 33);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(all[i].position, i + 1);
	assert_same_events(before, nbefore, all, nbefore);
	conf_recs_free(all, n);
	conf_recs_free(before, nbefore);
	conf_streams_free(lbefore, nlbefore);
}

/* A store that was opened and closed empty reopens empty and usable. */
static void test_persist_reopen_empty(void **state)
{
	conf_fixture *fx = *state;
	if (!store_persists())
		skip();
	reopen_store(fx, NULL);
	assert_int_equal(conf_head(fx->st), 0);
	assert_int_equal(conf_stats(fx->st).streams, 0);
	cairn_append_result r;
	assert_status(conf_append_text(fx->st, "e", CAIRN_NO_STREAM, "T", "x", &r),
	              CAIRN_OK);
	assert_int_equal(r.first_position, 1);
	reopen_store(fx, NULL);
	assert_int_equal(conf_head(fx->st), 1);
}

/* A store reopened read-only reads everything and refuses appends with
 * CAIRN_UNSUPPORTED, writing nothing. */
static void test_persist_read_only(void **state)
{
	conf_fixture *fx = *state;
	if (!store_persists())
		skip();
	conf_fill(fx->st, "ro", 4);
	cairn_options o;
	cairn_options_init(&o);
	o.read_only = 1;
	reopen_store(fx, &o);
	conf_snap snap = conf_snapshot(fx->st);
	assert_int_equal(snap.head, 4);
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "ro", NULL, &recs);
	assert_int_equal(n, 4);
	conf_recs_free(recs, n);
	assert_status(conf_append_text(fx->st, "ro", CAIRN_ANY, "T", "x", NULL),
	              CAIRN_UNSUPPORTED);
	assert_true(strlen(cairn_last_error()) > 0);
	cairn_new_event e = conf_ev("T", "x");
	cairn_write w[1] = {{"ro2", CAIRN_ANY, &e, 1}};
	assert_status(cairn_append_multi(fx->st, w, 1, NULL), CAIRN_UNSUPPORTED);
	assert_unchanged(fx->st, snap);
	uint64_t problems = 99;
	assert_status(cairn_verify(fx->st, NULL, NULL, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);

	reopen_store(fx, NULL);
	assert_status(conf_append_text(fx->st, "ro", 4, "T", "x", NULL),
	              CAIRN_OK);
	assert_int_equal(conf_head(fx->st), 5);
}

/* Opening a store that is already open in this process either is refused
 * with a message, or gives a second handle on the same store: writes
 * through one are seen, and conflict, through the other; closing one
 * leaves the other working. */
static void test_persist_open_twice(void **state)
{
	conf_fixture *fx = *state;
	if (!store_persists())
		skip();
	conf_fill(fx->st, "twice", 2);
	cairn_store *second = NULL;
	cairn_status rc = cairn_open(fx->uri, NULL, &second);
	if (rc != CAIRN_OK) {
		printf("[     INFO ] a second open is refused: %s: %s\n",
		       cairn_status_str(rc), cairn_last_error());
		assert_true(strlen(cairn_last_error()) > 0);
		conf_fill(fx->st, "twice", 1);
		assert_int_equal(conf_version(fx->st, "twice"), 3);
		return;
	}
	assert_int_equal(conf_version(second, "twice"), 2);
	cairn_append_result r;
	assert_status(conf_append_text(second, "twice", 2, "T", "via second", &r),
	              CAIRN_OK);
	assert_int_equal(r.first_position, 3);
	assert_int_equal(conf_version(fx->st, "twice"), 3);
	assert_int_equal(conf_head(fx->st), 3);
	assert_status(conf_append_text(fx->st, "twice", 2, "T", "stale", &r),
	              CAIRN_CONFLICT);
	assert_int_equal(r.conflict_actual, 3);
	cairn_close(second);
	assert_status(conf_append_text(fx->st, "twice", 3, "T", "after", &r),
	              CAIRN_OK);
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "twice", NULL, &recs);
	assert_int_equal(n, 4);
	assert_string_equal((char *)recs[2].data, "via second");
	assert_string_equal((char *)recs[3].data, "after");
	conf_recs_free(recs, n);
}

/* A backend that does not persist gives a fresh, empty store on every
 * open of the same URI. */
static void test_nonpersistent_is_fresh(void **state)
{
	conf_fixture *fx = *state;
	if (store_persists())
		skip();
	conf_fill(fx->st, "gone", 3);
	assert_int_equal(conf_head(fx->st), 3);
	reopen_store(fx, NULL);
	assert_int_equal(conf_head(fx->st), 0);
	assert_int_equal(conf_version(fx->st, "gone"), 0);
	/* two stores open at once are independent */
	cairn_store *other = NULL;
	assert_status(cairn_open(fx->uri, NULL, &other), CAIRN_OK);
	conf_fill(other, "only-there", 1);
	assert_int_equal(conf_head(fx->st), 0);
	assert_int_equal(conf_head(other), 1);
	cairn_close(other);
}

static const struct CMUnitTest persist_tests[] = {
	CONF_TEST(test_persist_reopen),
	CONF_TEST(test_persist_reopen_empty),
	CONF_TEST(test_persist_read_only),
	CONF_TEST(test_persist_open_twice),
	CONF_TEST(test_nonpersistent_is_fresh),
};

int conf_group_persist(void)
{
	return cmocka_run_group_tests_name("persist", persist_tests,
	                                   conf_group_setup, conf_group_teardown);
}
