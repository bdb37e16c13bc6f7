/*
 * test_snapshot.c -- snapshots and aggregates: a saved state comes back
 * byte for byte, the newest per (stream, schema) is kept, other schemas
 * and streams are not confused with it, a snapshot newer than its stream
 * is not trusted, bad arguments get their statuses, blobs up to the
 * store's max_event_size are kept and larger ones refused, snapshots
 * survive a reopen on persisting backends, and aggregate loads start from
 * the snapshot and fold only the events after it.
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Load and compare with (version, text); fails the test otherwise. */
static void
expect_snapshot(cairn_store *st, const char *stream, const char *schema,
                uint64_t version, const char *text)
{
	uint64_t v = 12345;
	void *blob = NULL;
	size_t len = 12345;

	assert_status(cairn_snapshot_load(st, stream, schema, &v, &blob, &len),
	              CAIRN_OK);
	assert_int_equal(v, version);
	assert_int_equal(len, strlen(text));
	if (len > 0) {
		assert_non_null(blob);
		assert_memory_equal(blob, text, len);
	}
	cairn_free(blob);
}

static void
expect_no_snapshot(cairn_store *st, const char *stream, const char *schema)
{
	uint64_t v = 12345;
	void *blob = NULL;
	size_t len = 12345;

	assert_status(cairn_snapshot_load(st, stream, schema, &v, &blob, &len),
	              CAIRN_NOT_FOUND);
	cairn_free(blob);
}

static cairn_status
save_text(cairn_store *st, const char *stream, uint64_t version,
          const char *schema, const char *text)
{
	return cairn_snapshot_save(st, stream, version, schema, text,
	                           strlen(text));
}

/* Saved, loaded: the same version and the same bytes (binary, with NULs),
 * and snapshots are not events: head, counts and reads are untouched. */
static void
test_snapshot_round_trip(void **state)
{
	conf_fixture *fx = *state;
	static const unsigned char bin[] = {0, 1, 2, 0, 255, 0x80, '{', 0};
	uint64_t v = 0;
	void *blob = NULL;
	size_t len = 0;

	conf_fill(fx->st, "acc-1", 5);
	conf_fill(fx->st, "acc-2", 2);
	conf_snap snap = conf_snapshot(fx->st);
	assert_status(cairn_snapshot_save(fx->st, "acc-1", 3, "acct/v1", bin,
	                                  sizeof bin),
	              CAIRN_OK);
	assert_unchanged(fx->st, snap);
	assert_int_equal(conf_version(fx->st, "acc-1"), 5);
	conf_rec *recs;
	size_t n = conf_read_all(fx->st, NULL, &recs);
	assert_int_equal(n, 7);
	conf_recs_free(recs, n);

	assert_status(cairn_snapshot_load(fx->st, "acc-1", "acct/v1", &v, &blob,
	                                  &len),
	              CAIRN_OK);
	assert_int_equal(v, 3);
	assert_int_equal(len, sizeof bin);
	assert_non_null(blob);
	assert_memory_equal(blob, bin, sizeof bin);
	/* the blob is the caller's: writing to it changes nothing stored */
	memset(blob, 'z', len);
	cairn_free(blob);
	blob = NULL;
	assert_status(cairn_snapshot_load(fx->st, "acc-1", "acct/v1", &v, &blob,
	                                  &len),
	              CAIRN_OK);
	assert_memory_equal(blob, bin, sizeof bin);
	cairn_free(blob);

	/* at the stream's version exactly, and an empty state */
	assert_status(
	        cairn_snapshot_save(fx->st, "acc-1", 5, "empty/v1", "", 0),
	        CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", "empty/v1", 5, "");
	cairn_free(NULL);

	/* a stream without snapshots, an unknown stream */
	expect_no_snapshot(fx->st, "acc-2", "acct/v1");
	expect_no_snapshot(fx->st, "nobody", "acct/v1");
	assert_unchanged(fx->st, snap);
}

/* The newest snapshot per (stream, schema) is kept; saving an older one
 * does not replace it. */
static void
test_snapshot_newest_kept(void **state)
{
	conf_fixture *fx = *state;

	conf_fill(fx->st, "acc-1", 10);
	assert_status(save_text(fx->st, "acc-1", 2, "s/v1", "two"), CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", "s/v1", 2, "two");
	assert_status(save_text(fx->st, "acc-1", 6, "s/v1", "six"), CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", "s/v1", 6, "six");
	assert_status(save_text(fx->st, "acc-1", 4, "s/v1", "four"), CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", "s/v1", 6, "six");
	assert_status(save_text(fx->st, "acc-1", 10, "s/v1", "ten, longer"),
	              CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", "s/v1", 10, "ten, longer");
	assert_status(save_text(fx->st, "acc-1", 9, "s/v1", "x"), CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", "s/v1", 10, "ten, longer");
}

/* A snapshot of another schema, or of another stream, is not returned. */
static void
test_snapshot_schema_and_stream_separate(void **state)
{
	conf_fixture *fx = *state;

	conf_fill(fx->st, "acc-1", 8);
	conf_fill(fx->st, "acc-10", 8);
	assert_status(save_text(fx->st, "acc-1", 7, "acct/v2", "v2 at 7"),
	              CAIRN_OK);
	expect_no_snapshot(fx->st, "acc-1", "acct/v1");
	expect_no_snapshot(fx->st, "acc-1", "acct/v");
	expect_no_snapshot(fx->st, "acc-1", "acct/v2/");
	expect_no_snapshot(fx->st, "acc-1", "ACCT/V2");
	expect_no_snapshot(fx->st, "acc-10", "acct/v2");
	expect_no_snapshot(fx->st, "acc-", "acct/v2");
	expect_no_snapshot(fx->st, "acc-2", "acct/v2");

	/* an older snapshot under another schema stays its own */
	assert_status(save_text(fx->st, "acc-1", 3, "acct/v1", "v1 at 3"),
	              CAIRN_OK);
	assert_status(save_text(fx->st, "acc-10", 8, "acct/v1", "ten at 8"),
	              CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", "acct/v1", 3, "v1 at 3");
	expect_snapshot(fx->st, "acc-1", "acct/v2", 7, "v2 at 7");
	expect_snapshot(fx->st, "acc-10", "acct/v1", 8, "ten at 8");
	expect_no_snapshot(fx->st, "acc-10", "acct/v2");

	/* schemas and streams are any valid UTF-8 */
	conf_fill(fx->st, "konto-Ärger-🙂", 2);
	assert_status(save_text(fx->st, "konto-Ärger-🙂", 2, "зміна/v1",
	                        "unicode"),
	              CAIRN_OK);
	expect_snapshot(fx->st, "konto-Ärger-🙂", "зміна/v1", 2, "unicode");
	expect_no_snapshot(fx->st, "konto-Ärger-🙂", "acct/v1");
}

/* A snapshot ahead of its stream describes events that do not exist: it
 * is refused, stores nothing, and so cannot stand in the way of the
 * correct snapshots saved after it. */
static void
test_snapshot_newer_than_stream_ignored(void **state)
{
	conf_fixture *fx = *state;

	conf_fill(fx->st, "acc-1", 2);
	assert_status(save_text(fx->st, "acc-1", 5, "s/v1", "five"),
	              CAIRN_INVALID);
	expect_no_snapshot(fx->st, "acc-1", "s/v1");
	assert_status(save_text(fx->st, "ghost", 1, "s/v1", "one"),
	              CAIRN_INVALID);
	expect_no_snapshot(fx->st, "ghost", "s/v1");

	/* the correct snapshot is kept, and the stream reaching the
	 * refused version does not bring the refused one back */
	assert_status(save_text(fx->st, "acc-1", 2, "s/v1", "two"), CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", "s/v1", 2, "two");
	conf_fill(fx->st, "acc-1", 3); /* version 5 */
	expect_snapshot(fx->st, "acc-1", "s/v1", 2, "two");
	conf_fill(fx->st, "ghost", 1);
	expect_no_snapshot(fx->st, "ghost", "s/v1");
}

/* Bad arguments get their statuses and store nothing. */
static void
test_snapshot_invalid(void **state)
{
	conf_fixture *fx = *state;
	char schema[CAIRN_SNAPSHOT_SCHEMA_MAX + 2];
	uint64_t v;
	void *blob = NULL;
	size_t len;

	conf_fill(fx->st, "acc-1", 3);
	memset(schema, 's', sizeof schema - 1);
	schema[sizeof schema - 1] = '\0'; /* 256 bytes */
	assert_status(cairn_snapshot_save(fx->st, "acc-1", 1, schema, "x", 1),
	              CAIRN_INVALID);
	assert_true(strlen(cairn_last_error()) > 0);
	schema[CAIRN_SNAPSHOT_SCHEMA_MAX] = '\0'; /* 255 bytes: fine */
	assert_status(cairn_snapshot_save(fx->st, "acc-1", 1, schema, "x", 1),
	              CAIRN_OK);
	expect_snapshot(fx->st, "acc-1", schema, 1, "x");

	assert_status(save_text(fx->st, "acc-1", 0, "s/v1", "zero"),
	              CAIRN_INVALID);
	assert_true(strlen(cairn_last_error()) > 0);
	static const char *bad_schemas[] = {"", "bad\xff", "ctl\x01x",
	                                    "s/\xc0\xaf", "trunc\xe6\x97"};
	for (size_t i = 0; i < sizeof bad_schemas / sizeof bad_schemas[0];
	     i++) {
		assert_status(
		        save_text(fx->st, "acc-1", 1, bad_schemas[i], "x"),
		        CAIRN_INVALID);
		assert_status(cairn_snapshot_load(fx->st, "acc-1",
		                                  bad_schemas[i], &v, &blob,
		                                  &len),
		              CAIRN_INVALID);
	}
	assert_status(save_text(fx->st, "acc-1", 1, NULL, "x"), CAIRN_INVALID);
	assert_status(save_text(NULL, "acc-1", 1, "s/v1", "x"), CAIRN_INVALID);
	assert_status(save_text(fx->st, NULL, 1, "s/v1", "x"), CAIRN_INVALID);
	assert_status(cairn_snapshot_save(fx->st, "acc-1", 1, "s/v1", NULL, 3),
	              CAIRN_INVALID);
	assert_status(save_text(fx->st, "", 1, "s/v1", "x"),
	              CAIRN_INVALID_STREAM);
	assert_status(save_text(fx->st, "bad\xff", 1, "s/v1", "x"),
	              CAIRN_INVALID_STREAM);
	expect_no_snapshot(fx->st, "acc-1", "s/v1");

	assert_status(
	        cairn_snapshot_load(NULL, "acc-1", "s/v1", &v, &blob, &len),
	        CAIRN_INVALID);
	assert_status(
	        cairn_snapshot_load(fx->st, NULL, "s/v1", &v, &blob, &len),
	        CAIRN_INVALID);
	assert_status(
	        cairn_snapshot_load(fx->st, "acc-1", NULL, &v, &blob, &len),
	        CAIRN_INVALID);
	assert_status(
	        cairn_snapshot_load(fx->st, "acc-1", schema, NULL, &blob, &len),
	        CAIRN_INVALID);
	assert_status(
	        cairn_snapshot_load(fx->st, "acc-1", schema, &v, NULL, &len),
	        CAIRN_INVALID);
	assert_status(
	        cairn_snapshot_load(fx->st, "acc-1", schema, &v, &blob, NULL),
	        CAIRN_INVALID);
	assert_status(cairn_snapshot_load(fx->st, "", schema, &v, &blob, &len),
	              CAIRN_INVALID_STREAM);
	/* the good one is still there */
	expect_snapshot(fx->st, "acc-1", schema, 1, "x");
}

/* Blobs up to max_event_size are kept whole; one byte more is
 * CAIRN_TOO_LARGE and leaves the kept snapshot as it was.  With the
 * default limit (16 MiB) and with a small configured one. */
static void
test_snapshot_size_limit(void **state)
{
	conf_fixture *fx = *state;
	size_t max = CAIRN_DEFAULT_MAX_EVENT_SIZE;
	unsigned char *big = malloc(max + 1);
	uint64_t v = 0;
	void *blob = NULL;
	size_t len = 0;

	assert_non_null(big);
	for (size_t i = 0; i <= max; i++)
		big[i] = (unsigned char)(i * 131u + i / 4099u);
	conf_fill(fx->st, "big", 3);
	assert_status(cairn_snapshot_save(fx->st, "big", 2, "big/v1", big, max),
	              CAIRN_OK);
	assert_status(
	        cairn_snapshot_save(fx->st, "big", 3, "big/v1", big, max + 1),
	        CAIRN_TOO_LARGE);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_status(
	        cairn_snapshot_load(fx->st, "big", "big/v1", &v, &blob, &len),
	        CAIRN_OK);
	assert_int_equal(v, 2);
	assert_int_equal(len, max);
	assert_true(memcmp(blob, big, max) == 0);
	cairn_free(blob);
	blob = NULL;

	/* a store with a 4 KiB limit */
	enum { SMALL = 4096 };
	cairn_options o;
	cairn_options_init(&o);
	o.max_event_size = SMALL;
	open_fresh_store(fx, &o);
	conf_fill(fx->st, "small", 2);
	assert_status(
	        cairn_snapshot_save(fx->st, "small", 1, "s/v1", big, SMALL),
	        CAIRN_OK);
	assert_status(cairn_snapshot_save(fx->st, "small", 2, "s/v1", big + 1,
	                                  SMALL + 1),
	              CAIRN_TOO_LARGE);
	assert_status(
	        cairn_snapshot_load(fx->st, "small", "s/v1", &v, &blob, &len),
	        CAIRN_OK);
	assert_int_equal(v, 1);
	assert_int_equal(len, SMALL);
	assert_memory_equal(blob, big, SMALL);
	cairn_free(blob);
	free(big);
}

/* On a persisting backend, snapshots survive close and reopen, and the
 * newest-kept rule goes on after it. */
static void
test_snapshot_persists(void **state)
{
	conf_fixture *fx = *state;
	if (!store_persists())
		skip();
	conf_fill(fx->st, "acc-1", 20);
	conf_fill(fx->st, "acc-2", 5);
	assert_status(save_text(fx->st, "acc-1", 10, "a/v1", "a1@10"),
	              CAIRN_OK);
	assert_status(save_text(fx->st, "acc-1", 15, "a/v2", "a2@15"),
	              CAIRN_OK);
	assert_status(save_text(fx->st, "acc-2", 5, "a/v1", "b1@5"), CAIRN_OK);
	conf_snap snap = conf_snapshot(fx->st);

	reopen_store(fx, NULL);
	assert_unchanged(fx->st, snap);
	expect_snapshot(fx->st, "acc-1", "a/v1", 10, "a1@10");
	expect_snapshot(fx->st, "acc-1", "a/v2", 15, "a2@15");
	expect_snapshot(fx->st, "acc-2", "a/v1", 5, "b1@5");
	expect_no_snapshot(fx->st, "acc-2", "a/v2");

	assert_status(save_text(fx->st, "acc-1", 12, "a/v1", "a1@12"),
	              CAIRN_OK);
	assert_status(save_text(fx->st, "acc-1", 11, "a/v1", "a1@11"),
	              CAIRN_OK);
	reopen_store(fx, NULL);
	expect_snapshot(fx->st, "acc-1", "a/v1", 12, "a1@12");
	expect_snapshot(fx->st, "acc-1", "a/v2", 15, "a2@15");
	/* the verifier is not upset by them */
	uint64_t problems = 99;
	assert_status(cairn_verify(fx->st, NULL, NULL, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);
}

/* ---- aggregates ---- */

/* A counter aggregate: the count and sum of "Added" amounts.  `folded`
 * counts the events apply() saw in this load (not serialized), so the
 * test can tell a load from a snapshot from a full fold. */
struct counter {
	uint64_t count;
	uint64_t sum;
	uint64_t folded;
};

/* The serialized form: "count:sum". */
static int restore_fails;

static cairn_status
counter_apply(void *acc, const cairn_event *e)
{
	struct counter *c = acc;
	char buf[32];
	size_t n = e->data_len < sizeof buf - 1 ? e->data_len : sizeof buf - 1;

	memcpy(buf, e->data, n);
	buf[n] = '\0';
	c->folded++;
	if (strcmp(e->type, "Added") != 0)
		return CAIRN_OK;
	c->count++;
	c->sum += strtoull(buf, NULL, 10);
	return CAIRN_OK;
}

static cairn_status
counter_restore(void *state, const void *blob, size_t len)
{
	struct counter *c = state;
	char buf[64];
	unsigned long long count, sum;

	if (restore_fails || len >= sizeof buf)
		return CAIRN_CORRUPT;
	memcpy(buf, blob, len);
	buf[len] = '\0';
	if (sscanf(buf, "%llu:%llu", &count, &sum) != 2)
		return CAIRN_CORRUPT;
	c->count = count;
	c->sum = sum;
	return CAIRN_OK;
}

static cairn_status
counter_serialize(const void *state, void **blob, size_t *len)
{
	const struct counter *c = state;
	char *buf = malloc(64);

	if (buf == NULL)
		return CAIRN_NOMEM;
	int n = snprintf(buf, 64, "%llu:%llu", (unsigned long long)c->count,
	                 (unsigned long long)c->sum);
	*blob = buf;
	*len = (size_t)n;
	return CAIRN_OK;
}

static const cairn_aggregate_type counter_type = {
        "counter/v1", sizeof(struct counter), counter_apply, counter_restore,
        counter_serialize};

static const cairn_aggregate_type counter_no_snapshots = {
        NULL, sizeof(struct counter), counter_apply, NULL, NULL};

/* Append amounts from..to as "Added" events. */
static void
add_amounts(cairn_store *st, const char *stream, unsigned from, unsigned to)
{
	for (unsigned k = from; k <= to; k++) {
		char data[16];
		snprintf(data, sizeof data, "%u", k);
		assert_status(conf_append_text(st, stream, CAIRN_ANY, "Added",
		                               data, NULL),
		              CAIRN_OK);
	}
}

static void
load_counter(cairn_store *st, const char *stream,
             const cairn_aggregate_type *type, struct counter *c,
             uint64_t *version)
{
	memset(c, 0x5a, sizeof *c); /* load must zero it */
	*version = 12345;
	assert_status(cairn_aggregate_load(st, stream, type, c, version),
	              CAIRN_OK);
}

/* A load folds everything the first time; after a snapshot it restores
 * the state and folds only the events after it; save appends at the
 * loaded version and conflicts when the stream moved. */
static void
test_aggregate_snapshot_fold(void **state)
{
	conf_fixture *fx = *state;
	struct counter c;
	uint64_t version;

	restore_fails = 0;
	load_counter(fx->st, "ctr", &counter_type, &c, &version);
	assert_int_equal(version, 0);
	assert_int_equal(c.count, 0);
	assert_int_equal(c.folded, 0);

	add_amounts(fx->st, "ctr", 1, 10);
	load_counter(fx->st, "ctr", &counter_type, &c, &version);
	assert_int_equal(version, 10);
	assert_int_equal(c.count, 10);
	assert_int_equal(c.sum, 55);
	assert_int_equal(c.folded, 10);
	assert_status(cairn_aggregate_snapshot(fx->st, "ctr", &counter_type, &c,
	                                       version),
	              CAIRN_OK);
	expect_snapshot(fx->st, "ctr", "counter/v1", 10, "10:55");

	add_amounts(fx->st, "ctr", 11, 13);
	load_counter(fx->st, "ctr", &counter_type, &c, &version);
	assert_int_equal(version, 13);
	assert_int_equal(c.count, 13);
	assert_int_equal(c.sum, 91);
	assert_int_equal(c.folded, 3);

	/* save at the loaded version; a second save on the same version is
	 * a conflict that writes nothing */
	cairn_new_event e = conf_ev("Added", "100");
	cairn_append_result res;
	assert_status(cairn_aggregate_save(fx->st, "ctr", version, &e, 1, &res),
	              CAIRN_OK);
	assert_int_equal(res.version, 14);
	conf_snap snap = conf_snapshot(fx->st);
	assert_status(cairn_aggregate_save(fx->st, "ctr", version, &e, 1, &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_actual, 14);
	assert_unchanged(fx->st, snap);
	load_counter(fx->st, "ctr", &counter_type, &c, &version);
	assert_int_equal(version, 14);
	assert_int_equal(c.sum, 191);
	assert_int_equal(c.folded, 4);

	/* without a schema: always the full fold, and no snapshots */
	load_counter(fx->st, "ctr", &counter_no_snapshots, &c, &version);
	assert_int_equal(version, 14);
	assert_int_equal(c.sum, 191);
	assert_int_equal(c.folded, 14);
	assert_status(cairn_aggregate_snapshot(fx->st, "ctr",
	                                       &counter_no_snapshots, &c, 14),
	              CAIRN_INVALID);
}

/* A snapshot the type cannot restore, or one newer than the stream, is
 * ignored: the load folds from the start and gets the right state. */
static void
test_aggregate_unusable_snapshot(void **state)
{
	conf_fixture *fx = *state;
	struct counter c;
	uint64_t version;

	add_amounts(fx->st, "ctr", 1, 6);
	assert_status(save_text(fx->st, "ctr", 4, "counter/v1", "4:10"),
	              CAIRN_OK);
	restore_fails = 1;
	load_counter(fx->st, "ctr", &counter_type, &c, &version);
	restore_fails = 0;
	assert_int_equal(version, 6);
	assert_int_equal(c.sum, 21);
	assert_int_equal(c.folded, 6);

	/* garbage the restore refuses */
	add_amounts(fx->st, "bad", 1, 3);
	assert_status(save_text(fx->st, "bad", 2, "counter/v1", "garbage"),
	              CAIRN_OK);
	load_counter(fx->st, "bad", &counter_type, &c, &version);
	assert_int_equal(c.sum, 6);
	assert_int_equal(c.folded, 3);

	/* newer than the stream: refused, so never trusted */
	add_amounts(fx->st, "short", 1, 2);
	assert_status(save_text(fx->st, "short", 9, "counter/v1", "9:999"),
	              CAIRN_INVALID);
	load_counter(fx->st, "short", &counter_type, &c, &version);
	assert_int_equal(version, 2);
	assert_int_equal(c.sum, 3);
	assert_int_equal(c.folded, 2);

	/* a usable one under this schema is used */
	load_counter(fx->st, "ctr", &counter_type, &c, &version);
	assert_int_equal(c.sum, 21);
	assert_int_equal(c.folded, 2);
}

static const struct CMUnitTest snapshot_tests[] = {
        CONF_TEST(test_snapshot_round_trip),
        CONF_TEST(test_snapshot_newest_kept),
        CONF_TEST(test_snapshot_schema_and_stream_separate),
        CONF_TEST(test_snapshot_newer_than_stream_ignored),
        CONF_TEST(test_snapshot_invalid),
        CONF_TEST(test_snapshot_size_limit),
        CONF_TEST(test_snapshot_persists),
        CONF_TEST(test_aggregate_snapshot_fold),
        CONF_TEST(test_aggregate_unusable_snapshot),
};

int
conf_group_snapshot(void)
{
	return cmocka_run_group_tests_name("snapshot", snapshot_tests,
	                                   conf_group_setup,
	                                   conf_group_teardown);
}
