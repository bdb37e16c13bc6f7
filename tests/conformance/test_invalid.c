/*
 * test_invalid.c -- bad input gets its own status, a message, and leaves
 * the store exactly as it was (DESIGN §1: "bad input never corrupts the
 * store").
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append evs to stream and expect status want, a message, and no change
 * to the store. */
static void expect_append_fails(cairn_store *st, const char *stream,
                                int64_t expected, const cairn_new_event *evs,
                                size_t n, cairn_status want, const char *what)
{
	conf_snap snap = conf_snapshot(st);
	cairn_status rc = cairn_append(st, stream, expected, evs, n, NULL);
	if (rc != want)
		print_error("case: %s\n", what);
	assert_status(rc, want);
	if (strlen(cairn_last_error()) == 0)
		print_error("case: %s: empty cairn_last_error()\n", what);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_unchanged(st, snap);
}

/* Either of two statuses, where the header leaves the choice open. */
static void expect_append_fails2(cairn_store *st, const char *stream,
                                 const cairn_new_event *evs, size_t n,
                                 cairn_status want1, cairn_status want2,
                                 const char *what)
{
	conf_snap snap = conf_snapshot(st);
	cairn_status rc = cairn_append(st, stream, CAIRN_ANY, evs, n, NULL);
	if (rc != want1 && rc != want2) {
		print_error("case: %s: got %s, want %s or %s\n", what,
		            cairn_status_str(rc), cairn_status_str(want1),
		            cairn_status_str(want2));
		fail();
	}
	assert_true(strlen(cairn_last_error()) > 0);
	assert_unchanged(st, snap);
}

/* NULL pointers and out-of-range counts are CAIRN_INVALID. */
static void test_invalid_null_and_counts(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "s", 1);
	cairn_new_event e = conf_ev("T", "x");
	conf_snap snap = conf_snapshot(fx->st);
	assert_status(cairn_append(NULL, "s", CAIRN_ANY, &e, 1, NULL),
	              CAIRN_INVALID);
	assert_true(strlen(cairn_last_error()) > 0);
	expect_append_fails(fx->st, NULL, CAIRN_ANY, &e, 1, CAIRN_INVALID,
	                    "NULL stream");
	expect_append_fails(fx->st, "s", CAIRN_ANY, NULL, 1, CAIRN_INVALID,
	                    "NULL events");
	expect_append_fails(fx->st, "s", CAIRN_ANY, &e, 0, CAIRN_INVALID, "n=0");

	cairn_new_event nd = conf_ev("T", NULL);
	nd.data_len = 3;
	expect_append_fails(fx->st, "s", CAIRN_ANY, &nd, 1, CAIRN_INVALID,
	                    "NULL data with data_len 3");
	cairn_new_event nm = conf_ev("T", "x");
	nm.metadata_len = 3;
	expect_append_fails(fx->st, "s", CAIRN_ANY, &nm, 1, CAIRN_INVALID,
	                    "NULL metadata with metadata_len 3");
	assert_unchanged(fx->st, snap);
}

/* n = CAIRN_BATCH_MAX is accepted, one more is CAIRN_INVALID. */
static void test_batch_max(void **state)
{
	conf_fixture *fx = *state;
	cairn_options o;
	cairn_options_init(&o);
	o.durability = CAIRN_RELAXED;
	open_fresh_store(fx, &o);
	size_t n = CAIRN_BATCH_MAX + 1;
	cairn_new_event *evs = calloc(n, sizeof *evs);
	assert_non_null(evs);
	for (size_t i = 0; i < n; i++)
		evs[i] = conf_ev("T", "x");
	expect_append_fails(fx->st, "big", CAIRN_ANY, evs, n, CAIRN_INVALID,
	                    "n = CAIRN_BATCH_MAX + 1");
	cairn_new_event e = conf_ev("T", "x");
	cairn_write w[2] = {{"w1", CAIRN_ANY, evs, CAIRN_BATCH_MAX},
	                    {"w2", CAIRN_ANY, &e, 1}};
	conf_snap snap = conf_snapshot(fx->st);
	assert_status(cairn_append_multi(fx->st, w, 2, NULL), CAIRN_INVALID);
	assert_unchanged(fx->st, snap);

	cairn_append_result r;
	assert_status(cairn_append(fx->st, "big", CAIRN_NO_STREAM, evs,
	                           CAIRN_BATCH_MAX, &r),
	              CAIRN_OK);
	assert_int_equal(r.first_position, 1);
	assert_int_equal(r.last_position, CAIRN_BATCH_MAX);
	assert_int_equal(conf_version(fx->st, "big"), CAIRN_BATCH_MAX);
	free(evs);
}

static const char *bad_stream_ids[] = {
	"",
	"acc-\xc0\xaf",             /* overlong '/' */
	"acc-\xc1\xbf",             /* overlong */
	"acc-\xe0\x80\xaf",         /* overlong 3-byte */
	"acc-\xf0\x80\x80\xaf",     /* overlong 4-byte */
	"acc-\x80",                 /* lone continuation byte */
	"\xbf" "acc",               /* lone continuation first */
	"acc-\xe6\x97",             /* truncated at the end */
	"acc-\xe6\x97x",            /* truncated in the middle */
	"acc-\xf0\x9f\x99",         /* truncated 4-byte */
	"acc-\xed\xa0\x80",         /* surrogate U+D800 */
	"acc-\xed\xbf\xbf",         /* surrogate U+DFFF */
	"acc-\xf4\x90\x80\x80",     /* over U+10FFFF */
	"acc-\xf5\x80\x80\x80",
	"acc-\xf8\x88\x80\x80\x80", /* 5-byte form */
	"acc-\xff",
	"acc-\xfe",
	"acc-\n",                   /* control characters */
	"acc-\t1",
	"acc\r",
	"\x01",
	"acc-\x1f",
	"acc-\x7f",                 /* DEL */
	"acc-\x1b[0m",
	"acc-\xc2\x85",             /* U+0085 NEL, a C1 control */
	"acc-\xc2\x9f",             /* U+009F, a C1 control */
};

static const char *good_stream_ids[] = {
	"a",
	"acc-42",
	"a b",
	"acc-\xc2\xa0",             /* U+00A0 no-break space */
	"acc-\xed\x9f\xbf",         /* U+D7FF, just below the surrogates */
	"acc-\xee\x80\x80",         /* U+E000, just above them */
	"acc-\xf4\x8f\xbf\xbf",     /* U+10FFFF, the last code point */
	"$all-is-just-a-name?",
};

/* Malformed stream ids are CAIRN_INVALID_STREAM everywhere a stream id is
 * taken; well-formed edge cases are accepted. */
static void test_invalid_stream_ids(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "acc-", 1);
	cairn_new_event e = conf_ev("T", "x");
	for (size_t i = 0; i < sizeof bad_stream_ids / sizeof bad_stream_ids[0];
	     i++) {
		const char *id = bad_stream_ids[i];
		char what[64];
		snprintf(what, sizeof what, "bad stream id #%zu", i);
		assert_status(cairn_validate_stream_id(id), CAIRN_INVALID_STREAM);
		expect_append_fails(fx->st, id, CAIRN_ANY, &e, 1,
		                    CAIRN_INVALID_STREAM, what);
		cairn_write w[2] = {{"fine", CAIRN_ANY, &e, 1},
		                    {id, CAIRN_ANY, &e, 1}};
		conf_snap snap = conf_snapshot(fx->st);
		assert_status(cairn_append_multi(fx->st, w, 2, NULL),
		              CAIRN_INVALID_STREAM);
		assert_unchanged(fx->st, snap);
		cairn_iter *it = NULL;
		assert_status(cairn_read_stream(fx->st, id, NULL, &it),
		              CAIRN_INVALID_STREAM);
		uint64_t v;
		assert_status(cairn_stream_version(fx->st, id, &v),
		              CAIRN_INVALID_STREAM);
	}
	assert_int_equal(conf_version(fx->st, "fine"), 0);

	for (size_t i = 0;
	     i < sizeof good_stream_ids / sizeof good_stream_ids[0]; i++) {
		const char *id = good_stream_ids[i];
		assert_status(cairn_validate_stream_id(id), CAIRN_OK);
		cairn_append_result r;
		cairn_status rc = cairn_append(fx->st, id, CAIRN_NO_STREAM, &e, 1, &r);
		if (rc != CAIRN_OK)
			print_error("good stream id #%zu\n", i);
		assert_status(rc, CAIRN_OK);
		assert_int_equal(conf_version(fx->st, id), 1);
	}
}

/* 255 bytes is the longest stream id; 256 is too long, also when the
 * 256th byte ends a multi-byte character. */
static void test_stream_id_length(void **state)
{
	conf_fixture *fx = *state;
	char id[CAIRN_STREAM_ID_MAX + 2];
	memset(id, 'x', CAIRN_STREAM_ID_MAX);
	id[CAIRN_STREAM_ID_MAX] = '\0';
	cairn_new_event e = conf_ev("T", "x");
	cairn_append_result r;
	assert_status(cairn_append(fx->st, id, CAIRN_NO_STREAM, &e, 1, &r),
	              CAIRN_OK);
	assert_int_equal(conf_version(fx->st, id), 1);
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, id, NULL, &recs);
	assert_int_equal(n, 1);
	assert_string_equal(recs[0].stream, id);
	conf_recs_free(recs, n);

	id[CAIRN_STREAM_ID_MAX] = 'x';
	id[CAIRN_STREAM_ID_MAX + 1] = '\0';
	expect_append_fails(fx->st, id, CAIRN_ANY, &e, 1, CAIRN_INVALID_STREAM,
	                    "256-byte stream id");
	assert_status(cairn_validate_stream_id(id), CAIRN_INVALID_STREAM);
	memcpy(id + 254, "\xc3\xa9", 2); /* 254 + 2 = 256 bytes */
	expect_append_fails(fx->st, id, CAIRN_ANY, &e, 1, CAIRN_INVALID_STREAM,
	                    "256 bytes ending in a 2-byte character");
	uint64_t v;
	assert_status(cairn_stream_version(fx->st, id, &v), CAIRN_INVALID_STREAM);
	/* a long id whose first 255 bytes name an existing stream */
	id[254] = 'x';
	id[255] = 'y';
	assert_status(cairn_stream_version(fx->st, id, &v), CAIRN_INVALID_STREAM);
}

/* Malformed event types are CAIRN_INVALID_TYPE, also when only a later
 * event of the batch has one. */
static void test_invalid_types(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "s", 1);
	char longtype[CAIRN_TYPE_MAX + 2];
	memset(longtype, 't', CAIRN_TYPE_MAX + 1);
	longtype[CAIRN_TYPE_MAX + 1] = '\0';
	const char *bad[] = {NULL, "", longtype, "T\xff", "T\xed\xa0\x80",
	                     "T\xc0\xaf", "T\n", "T\x7f", "\x01", "T\xe6\x97"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "bad type #%zu", i);
		cairn_new_event evs[2] = {conf_ev("Good", "x"), conf_ev(bad[i], "y")};
		expect_append_fails(fx->st, "s", CAIRN_ANY, &evs[1], 1,
		                    CAIRN_INVALID_TYPE, what);
		expect_append_fails(fx->st, "s", CAIRN_ANY, evs, 2,
		                    CAIRN_INVALID_TYPE, what);
		if (bad[i] != NULL)
			assert_status(cairn_validate_type(bad[i]), CAIRN_INVALID_TYPE);
	}
	assert_int_equal(conf_version(fx->st, "s"), 1);
	longtype[CAIRN_TYPE_MAX] = '\0'; /* 255 bytes */
	assert_status(cairn_validate_type(longtype), CAIRN_OK);
	assert_status(conf_append_text(fx->st, "s", 1, longtype, "x", NULL),
	              CAIRN_OK);
	conf_rec *recs;
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	ro.from = 2;
	size_t n = conf_read_stream(fx->st, "s", &ro, &recs);
	assert_int_equal(n, 1);
	assert_string_equal(recs[0].type, longtype);
	conf_recs_free(recs, n);
}

/* Malformed tags are CAIRN_INVALID_TAG. */
static void test_invalid_tags(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "s", 1);
	char longtag[CAIRN_TAG_MAX + 2];
	memset(longtag, 'g', CAIRN_TAG_MAX + 1);
	longtag[CAIRN_TAG_MAX + 1] = '\0';
	const char *bad[] = {longtag, "tag\xff", "tag\xc0\xaf", "\xed\xa0\x80",
	                     "tag\xe6\x97"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "bad tag #%zu", i);
		const char *tags[3] = {"ok-1", bad[i], "ok-2"};
		cairn_new_event evs[2] = {conf_ev("T", "x"), conf_ev("T", "y")};
		evs[1].tags = tags;
		evs[1].ntags = 3;
		expect_append_fails(fx->st, "s", CAIRN_ANY, evs, 2,
		                    CAIRN_INVALID_TAG, what);
	}
	/* a NULL tag, NULL tags with ntags > 0, too many tags: the header
	 * allows CAIRN_INVALID or CAIRN_INVALID_TAG */
	const char *with_null[2] = {"ok", NULL};
	cairn_new_event e = conf_ev("T", "x");
	e.tags = with_null;
	e.ntags = 2;
	expect_append_fails2(fx->st, "s", &e, 1, CAIRN_INVALID_TAG, CAIRN_INVALID,
	                     "NULL tag");
	e.tags = NULL;
	e.ntags = 1;
	expect_append_fails2(fx->st, "s", &e, 1, CAIRN_INVALID_TAG, CAIRN_INVALID,
	                     "NULL tags, ntags 1");
	const char *many[CAIRN_TAGS_MAX + 1];
	for (int i = 0; i <= CAIRN_TAGS_MAX; i++)
		many[i] = "t";
	e.tags = many;
	e.ntags = CAIRN_TAGS_MAX + 1;
	expect_append_fails2(fx->st, "s", &e, 1, CAIRN_INVALID_TAG, CAIRN_INVALID,
	                     "CAIRN_TAGS_MAX + 1 tags");

	longtag[CAIRN_TAG_MAX] = '\0'; /* 255 bytes */
	const char *okt[1] = {longtag};
	e.tags = okt;
	e.ntags = 1;
	assert_status(cairn_append(fx->st, "s", 1, &e, 1, NULL), CAIRN_OK);
	assert_int_equal(conf_version(fx->st, "s"), 2);
}

/* data + metadata over max_event_size is CAIRN_TOO_LARGE; exactly at the
 * limit is fine. */
static void test_too_large(void **state)
{
	conf_fixture *fx = *state;
	cairn_options o;
	cairn_options_init(&o);
	o.max_event_size = 1024;
	open_fresh_store(fx, &o);
	static unsigned char buf[2048];
	memset(buf, 'b', sizeof buf);
	struct {
		size_t data, meta;
		int ok;
	} cases[] = {
		{1024, 0, 1}, {600, 424, 1}, {0, 1024, 1}, {1, 1023, 1},
		{1025, 0, 0}, {1000, 25, 0}, {0, 1025, 0}, {1024, 1, 0},
		{2048, 0, 0},
	};
	uint64_t version = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cairn_new_event e = conf_ev("T", NULL);
		e.data = buf;
		e.data_len = cases[i].data;
		e.metadata = buf;
		e.metadata_len = cases[i].meta;
		char what[64];
		snprintf(what, sizeof what, "data %zu + metadata %zu",
		         cases[i].data, cases[i].meta);
		if (cases[i].ok) {
			cairn_status rc = cairn_append(fx->st, "big", CAIRN_ANY, &e, 1,
			                               NULL);
			if (rc != CAIRN_OK)
				print_error("case: %s\n", what);
			assert_status(rc, CAIRN_OK);
			version++;
		} else {
			expect_append_fails(fx->st, "big", CAIRN_ANY, &e, 1,
			                    CAIRN_TOO_LARGE, what);
			/* as the last event of a batch */
			cairn_new_event evs[2] = {conf_ev("T", "small"), e};
			expect_append_fails(fx->st, "big", CAIRN_ANY, evs, 2,
			                    CAIRN_TOO_LARGE, what);
			cairn_write w[2] = {{"small", CAIRN_ANY, evs, 1},
			                    {"big", CAIRN_ANY, &e, 1}};
			conf_snap snap = conf_snapshot(fx->st);
			assert_status(cairn_append_multi(fx->st, w, 2, NULL),
			              CAIRN_TOO_LARGE);
			assert_unchanged(fx->st, snap);
		}
	}
	assert_int_equal(conf_version(fx->st, "big"), version);
	assert_int_equal(conf_version(fx->st, "small"), 0);
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "big", NULL, &recs);
	assert_int_equal(n, 4);
	assert_int_equal(recs[0].data_len, 1024);
	assert_memory_equal(recs[0].data, buf, 1024);
	assert_int_equal(recs[1].data_len + recs[1].metadata_len, 1024);
	conf_recs_free(recs, n);
}

/* The default limit is CAIRN_DEFAULT_MAX_EVENT_SIZE. */
static void test_too_large_default(void **state)
{
	conf_fixture *fx = *state;
	size_t max = CAIRN_DEFAULT_MAX_EVENT_SIZE;
	unsigned char *buf = malloc(max + 1);
	assert_non_null(buf);
	for (size_t i = 0; i <= max; i++)
		buf[i] = (unsigned char)(i * 7);
	cairn_new_event e = conf_ev("Huge", NULL);
	e.data = buf;
	e.data_len = max + 1;
	expect_append_fails(fx->st, "huge", CAIRN_ANY, &e, 1, CAIRN_TOO_LARGE,
	                    "default limit + 1");
	e.data_len = max;
	assert_status(cairn_append(fx->st, "huge", CAIRN_NO_STREAM, &e, 1, NULL),
	              CAIRN_OK);
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "huge", NULL, &recs);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].data_len, max);
	assert_memory_equal(recs[0].data, buf, max);
	conf_recs_free(recs, n);
	free(buf);
}

/* Expected versions below CAIRN_STREAM_EXISTS are CAIRN_INVALID. */
static void test_invalid_expected(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "s", 2);
	cairn_new_event e = conf_ev("T", "x");
	const int64_t bad[] = {-3, -4, -100, INT64_MIN};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "expected %lld", (long long)bad[i]);
		expect_append_fails(fx->st, "s", bad[i], &e, 1, CAIRN_INVALID, what);
		expect_append_fails(fx->st, "new", bad[i], &e, 1, CAIRN_INVALID,
		                    what);
	}
}

static const struct CMUnitTest invalid_tests[] = {
	CONF_TEST(test_invalid_null_and_counts),
	CONF_TEST(test_batch_max),
	CONF_TEST(test_invalid_stream_ids),
	CONF_TEST(test_stream_id_length),
	CONF_TEST(test_invalid_types),
	CONF_TEST(test_invalid_tags),
	CONF_TEST(test_too_large),
	CONF_TEST(test_too_large_default),
	CONF_TEST(test_invalid_expected),
};

int conf_group_invalid(void)
{
	return cmocka_run_group_tests_name("invalid", invalid_tests,
	                                   conf_group_setup, conf_group_teardown);
}
