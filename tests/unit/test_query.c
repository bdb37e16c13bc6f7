/*
 * test_query.c -- src/core/condition.c: what a DCB query matches
 * (cairn_query_match), how a query is checked at the edge
 * (cairn__validate_query), copied (cairn__query_copy), and how a failed
 * condition is reported (cairn__condition_failed).
 *
 * The truth table is checked twice: against hand-written expectations,
 * and exhaustively over every small query built from a fixed alphabet
 * against a reference written here from the definition.
 */
#include "unit.h"

#include <stdlib.h>

/* An event with a type and tags, as an iterator would hand it out. */
static cairn_event
event_of(const char *type, const char *const *tags, size_t ntags)
{
	cairn_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.type_len = strlen(type);
	ev.stream = "s-1";
	ev.stream_len = 3;
	ev.tags = tags;
	ev.ntags = ntags;
	ev.version = 1;
	ev.position = 1;
	return ev;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- cairn_query_match: hand-written cases ---- */

static const char *const t_enrolled[] = {"StudentEnrolled"};
static const char *const t_two[] = {"CourseCreated", "StudentEnrolled"};
static const char *const t_other[] = {"Other"};
static const char *const g_c1[] = {"course:c1"};
static const char *const g_c1_s1[] = {"course:c1", "student:s1"};
static const char *const g_s1_c1[] = {"student:s1", "course:c1"};
static const char *const g_c2[] = {"course:c2"};
static const char *const g_prefix[] = {"course:c"};

struct match_case {
	const char *what;
	cairn_query_item item;
	int want; /* against event e1 below */
};

/* e1: StudentEnrolled, tags course:c1 student:s1 */
static void
match_single_items(void **state)
{
	static const struct match_case cases[] = {
	        {"empty item matches all", {NULL, 0, NULL, 0}, 1},
	        {"its type", {t_enrolled, 1, NULL, 0}, 1},
	        {"one of two types", {t_two, 2, NULL, 0}, 1},
	        {"another type", {t_other, 1, NULL, 0}, 0},
	        {"one of its tags", {NULL, 0, g_c1, 1}, 1},
	        {"both its tags", {NULL, 0, g_c1_s1, 2}, 1},
	        {"both its tags, other order", {NULL, 0, g_s1_c1, 2}, 1},
	        {"a tag it lacks", {NULL, 0, g_c2, 1}, 0},
	        {"a prefix of its tag is not its tag",
	         {NULL, 0, g_prefix, 1},
	         0},
	        {"type and tag", {t_enrolled, 1, g_c1, 1}, 1},
	        {"type right, tag wrong", {t_enrolled, 1, g_c2, 1}, 0},
	        {"type wrong, tag right", {t_other, 1, g_c1, 1}, 0},
	        {"types and tags", {t_two, 2, g_c1_s1, 2}, 1},
	        {"NULL types with a count", {NULL, 1, NULL, 0}, 0},
	        {"NULL tags with a count", {NULL, 0, NULL, 1}, 0},
	};
	const char *tags[] = {"course:c1", "student:s1"};
	cairn_event e1 = event_of("StudentEnrolled", tags, 2);
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		cairn_query q = {&cases[i].item, 1};

		if (cairn_query_match(&q, &e1) != cases[i].want)
			fail_msg("%s: want %d", cases[i].what, cases[i].want);
	}
}

/* Items are OR-ed; an empty query matches nothing. */
static void
match_items_or(void **state)
{
	const char *tags[] = {"course:c1"};
	cairn_event ev = event_of("StudentEnrolled", tags, 1);
	cairn_query_item items[] = {
	        {t_other, 1, NULL, 0},
	        {NULL, 0, g_c2, 1},
	        {t_enrolled, 1, g_c1, 1},
	};
	cairn_query q = {items, 0};

	(void)state;
	assert_int_equal(cairn_query_match(&q, &ev), 0);
	q.nitems = 1;
	assert_int_equal(cairn_query_match(&q, &ev), 0);
	q.nitems = 2;
	assert_int_equal(cairn_query_match(&q, &ev), 0);
	q.nitems = 3;
	assert_int_equal(cairn_query_match(&q, &ev), 1);
	q.items = &items[2];
	q.nitems = 1;
	assert_int_equal(cairn_query_match(&q, &ev), 1);
}

/* An event without tags matches only items without tags; tags
 * repeated on the event or in the item change nothing. */
static void
match_tagless_and_repeats(void **state)
{
	const char *dup[] = {"course:c1", "course:c1"};
	cairn_event bare = event_of("StudentEnrolled", NULL, 0);
	cairn_event twice = event_of("StudentEnrolled", dup, 2);
	cairn_query_item by_type = {t_enrolled, 1, NULL, 0};
	cairn_query_item by_tag = {NULL, 0, g_c1, 1};
	cairn_query_item by_dup = {NULL, 0, dup, 2};
	cairn_query q = {&by_type, 1};

	(void)state;
	assert_int_equal(cairn_query_match(&q, &bare), 1);
	q.items = &by_tag;
	assert_int_equal(cairn_query_match(&q, &bare), 0);
	assert_int_equal(cairn_query_match(&q, &twice), 1);
	q.items = &by_dup;
	assert_int_equal(cairn_query_match(&q, &twice), 1);
	assert_int_equal(cairn_query_match(&q, &bare), 0);
}

static void
match_null_arguments(void **state)
{
	cairn_event ev = event_of("T", NULL, 0);
	cairn_query_item all = {NULL, 0, NULL, 0};
	cairn_query q = {&all, 1};
	cairn_query no_items = {NULL, 1};

	(void)state;
	assert_int_equal(cairn_query_match(NULL, &ev), 0);
	assert_int_equal(cairn_query_match(&q, NULL), 0);
	assert_int_equal(cairn_query_match(&no_items, &ev), 0);
	assert_int_equal(cairn_query_match(&q, &ev), 1);
}

/* Comparisons are exact byte strings: case, length and UTF-8 count. */
static void
match_exact_bytes(void **state)
{
	const char *tags[] = {"caf\xc3\xa9"};
	const char *upper[] = {"CAF\xc3\xa9"};
	const char *longer[] = {"caf\xc3\xa9!"};
	const char *types[] = {"studentenrolled"};
	cairn_event ev = event_of("StudentEnrolled", tags, 1);
	cairn_query_item item = {NULL, 0, tags, 1};
	cairn_query q = {&item, 1};

	(void)state;
	assert_int_equal(cairn_query_match(&q, &ev), 1);
	item.tags = upper;
	assert_int_equal(cairn_query_match(&q, &ev), 0);
	item.tags = longer;
	assert_int_equal(cairn_query_match(&q, &ev), 0);
	item.tags = NULL;
	item.ntags = 0;
	item.types = types;
	item.ntypes = 1;
	assert_int_equal(cairn_query_match(&q, &ev), 0);
}

/* ---- cairn_query_match: exhaustive over a small alphabet ---- */

static const char *const alpha_types[] = {"A", "B"};
static const char *const alpha_tags[] = {"x", "y", "z"};

/* The item of bit patterns: types from tmask (bit i: alpha_types[i]),
 * tags from gmask. */
struct small_item {
	const char *types[2];
	size_t ntypes;
	const char *tags[3];
	size_t ntags;
};

static void
small_item_fill(struct small_item *si, unsigned tmask, unsigned gmask)
{
	size_t i;

	si->ntypes = si->ntags = 0;
	for (i = 0; i < N(alpha_types); i++)
		if (tmask & (1u << i))
			si->types[si->ntypes++] = alpha_types[i];
	for (i = 0; i < N(alpha_tags); i++)
		if (gmask & (1u << i))
			si->tags[si->ntags++] = alpha_tags[i];
}

/* The definition, on bit sets: type in the item's types (or none
 * given), and the item's tags a subset of the event's. */
static int
reference_item(unsigned tmask, unsigned gmask, unsigned ev_type,
               unsigned ev_tags)
{
	int type_ok = tmask == 0 || (tmask & (1u << ev_type)) != 0;

	return type_ok && (gmask & ~ev_tags) == 0;
}

/* Check the query of items (ta, ga) and (tb, gb) against all 16 events
 * of the alphabet (2 types x 8 tag sets). */
static void
check_small_query(unsigned ta, unsigned ga, unsigned tb, unsigned gb)
{
	struct small_item a, b;
	cairn_query_item items[2];
	cairn_query q = {items, 2};
	const char *evtags[3];
	unsigned et, eg, i;

	small_item_fill(&a, ta, ga);
	small_item_fill(&b, tb, gb);
	items[0] = (cairn_query_item){a.types, a.ntypes, a.tags, a.ntags};
	items[1] = (cairn_query_item){b.types, b.ntypes, b.tags, b.ntags};
	for (et = 0; et < 2; et++) {
		for (eg = 0; eg < 8; eg++) {
			size_t n = 0;
			cairn_event ev;
			int want;

			for (i = 0; i < 3; i++)
				if (eg & (1u << i))
					evtags[n++] = alpha_tags[i];
			ev = event_of(alpha_types[et], evtags, n);
			want = reference_item(ta, ga, et, eg) ||
			       reference_item(tb, gb, et, eg);
			if (cairn_query_match(&q, &ev) != want)
				fail_msg("items (%u,%u) (%u,%u), event "
				         "(%u,%u): want %d",
				         ta, ga, tb, gb, et, eg, want);
		}
	}
}

/* Every pair of items (4 type sets x 8 tag sets each): 1024 queries,
 * each against every event of the alphabet. */
static void
match_exhaustive(void **state)
{
	unsigned k;

	(void)state;
	for (k = 0; k < 1024; k++)
		check_small_query(k & 3, (k >> 2) & 7, (k >> 5) & 3,
		                  (k >> 7) & 7);
}

/* ---- cairn__validate_query ---- */

struct validate_case {
	const char *what;
	cairn_query_item item;
	cairn_status want;
	const char *message;
};

static void
validate_items(void **state)
{
	static const char *const bad_utf8[] = {"caf\xc3"};
	static const char *const control[] = {"a\tb"};
	static const char *const empty[] = {""};
	static const char *const null_name[] = {NULL};
	static const char *const ok_then_bad[] = {"ok", "\x7f"};
	static const struct validate_case cases[] = {
	        {"empty item", {NULL, 0, NULL, 0}, CAIRN_OK, NULL},
	        {"types and tags", {t_two, 2, g_c1_s1, 2}, CAIRN_OK, NULL},
	        {"NULL types with a count",
	         {NULL, 1, NULL, 0},
	         CAIRN_INVALID,
	         "query item 0 has 1 types"},
	        {"NULL tags with a count",
	         {NULL, 0, NULL, 2},
	         CAIRN_INVALID,
	         "query item 0 has 2 tags"},
	        {"bad UTF-8 type",
	         {bad_utf8, 1, NULL, 0},
	         CAIRN_INVALID_TYPE,
	         "type 0 of query item 0 is not valid UTF-8"},
	        {"control in a type",
	         {control, 1, NULL, 0},
	         CAIRN_INVALID_TYPE,
	         "control character"},
	        {"empty type",
	         {empty, 1, NULL, 0},
	         CAIRN_INVALID_TYPE,
	         "type 0 of query item 0 is empty"},
	        {"NULL type",
	         {null_name, 1, NULL, 0},
	         CAIRN_INVALID_TYPE,
	         "is NULL"},
	        {"bad UTF-8 tag",
	         {NULL, 0, bad_utf8, 1},
	         CAIRN_INVALID_TAG,
	         "tag 0 of query item 0 is not valid UTF-8"},
	        {"second tag DEL",
	         {NULL, 0, ok_then_bad, 2},
	         CAIRN_INVALID_TAG,
	         "tag 1 of query item 0 has a control character"},
	        {"empty tag",
	         {t_enrolled, 1, empty, 1},
	         CAIRN_INVALID_TAG,
	         "is empty"},
	        {"NULL tag",
	         {NULL, 0, null_name, 1},
	         CAIRN_INVALID_TAG,
	         "NULL"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		cairn_query q = {&cases[i].item, 1};
		cairn_status rc = cairn__validate_query(&q);

		if (rc != cases[i].want)
			fail_msg("%s: got %s, want %s", cases[i].what,
			         cairn_status_str(rc),
			         cairn_status_str(cases[i].want));
		if (cases[i].message)
			assert_error_has(cases[i].message);
	}
}

/* Names over their limits, and the item that is wrong is named. */
static void
validate_limits_and_index(void **state)
{
	char long_type[CAIRN_TYPE_MAX + 2], long_tag[CAIRN_TAG_MAX + 2];
	const char *types[1], *tags[1];
	cairn_query_item items[3] = {
	        {t_enrolled, 1, NULL, 0},
	        {NULL, 0, g_c1, 1},
	        {types, 1, NULL, 0},
	};
	cairn_query q = {items, 3};

	(void)state;
	memset(long_type, 'T', sizeof(long_type) - 1);
	long_type[sizeof(long_type) - 1] = '\0';
	memset(long_tag, 'g', sizeof(long_tag) - 1);
	long_tag[sizeof(long_tag) - 1] = '\0';

	types[0] = long_type;
	assert_int_equal(cairn__validate_query(&q), CAIRN_INVALID_TYPE);
	assert_error_has("type 0 of query item 2 is longer than 255 bytes");
	long_type[CAIRN_TYPE_MAX] = '\0'; /* exactly the limit */
	assert_int_equal(cairn__validate_query(&q), CAIRN_OK);

	items[2] = (cairn_query_item){NULL, 0, tags, 1};
	tags[0] = long_tag;
	assert_int_equal(cairn__validate_query(&q), CAIRN_INVALID_TAG);
	assert_error_has("tag 0 of query item 2 is longer than 255 bytes");
	long_tag[CAIRN_TAG_MAX] = '\0';
	assert_int_equal(cairn__validate_query(&q), CAIRN_OK);
}

static void
validate_query_shape(void **state)
{
	cairn_query_item items[CAIRN_QUERY_ITEMS_MAX + 1];
	cairn_query q = {items, 0};

	(void)state;
	memset(items, 0, sizeof(items));
	assert_int_equal(cairn__validate_query(NULL), CAIRN_INVALID);
	assert_error_has("query is NULL");
	/* no items: valid, and it matches nothing */
	assert_int_equal(cairn__validate_query(&q), CAIRN_OK);
	q.items = NULL;
	assert_int_equal(cairn__validate_query(&q), CAIRN_OK);
	q.nitems = 1;
	assert_int_equal(cairn__validate_query(&q), CAIRN_INVALID);
	assert_error_has("NULL array");
	q.items = items;
	q.nitems = CAIRN_QUERY_ITEMS_MAX;
	assert_int_equal(cairn__validate_query(&q), CAIRN_OK);
	q.nitems = CAIRN_QUERY_ITEMS_MAX + 1;
	assert_int_equal(cairn__validate_query(&q), CAIRN_INVALID);
	assert_error_has("65 items, over the limit of 64");
}

/* ---- cairn__query_copy ---- */

/* The copy matches what the original matches and keeps none of the
 * caller's memory: scribbling over the original changes nothing. */
static void
copy_is_deep(void **state)
{
	char type_buf[] = "StudentEnrolled";
	char tag_buf[] = "course:c1";
	const char *types[] = {type_buf, "Other"};
	const char *tags[] = {tag_buf};
	cairn_query_item items[2] = {
	        {types, 2, tags, 1},
	        {NULL, 0, NULL, 0},
	};
	cairn_query q = {items, 1};
	const char *evtags[] = {"course:c1"};
	cairn_event ev = event_of("StudentEnrolled", evtags, 1);
	cairn_event other = event_of("Nope", evtags, 1);
	cairn_query *copy = NULL;
	size_t i;

	(void)state;
	assert_int_equal(cairn__query_copy(&q, &copy), CAIRN_OK);
	assert_non_null(copy);
	assert_int_equal(copy->nitems, 1);
	assert_ptr_not_equal(copy->items, items);
	assert_ptr_not_equal(copy->items[0].types, types);
	assert_ptr_not_equal(copy->items[0].tags, tags);
	for (i = 0; i < 2; i++)
		assert_ptr_not_equal(copy->items[0].types[i], types[i]);
	assert_string_equal(copy->items[0].types[1], "Other");
	memset(type_buf, 'X', sizeof(type_buf) - 1);
	memset(tag_buf, 'Y', sizeof(tag_buf) - 1);
	types[1] = "Changed";
	items[0].ntypes = 0;
	assert_int_equal(cairn_query_match(copy, &ev), 1);
	assert_int_equal(cairn_query_match(copy, &other), 0);
	assert_int_equal(copy->items[0].ntypes, 2);
	free(copy);

	/* an empty query and an item with empty lists copy too */
	q.nitems = 0;
	assert_int_equal(cairn__query_copy(&q, &copy), CAIRN_OK);
	assert_int_equal(copy->nitems, 0);
	assert_int_equal(cairn_query_match(copy, &ev), 0);
	free(copy);
	q.items = &items[1];
	q.nitems = 1;
	assert_int_equal(cairn__query_copy(&q, &copy), CAIRN_OK);
	assert_int_equal(cairn_query_match(copy, &other), 1);
	free(copy);
}

/* ---- cairn__condition_failed ---- */

static void
condition_failed_report(void **state)
{
	cairn_append_result res;
	cairn__append_req req;

	(void)state;
	memset(&req, 0, sizeof(req));
	memset(&res, 0xAB, sizeof(res));
	req.result = &res;
	req.condition_after = 3;
	/* the stream need not be NUL-terminated: only len bytes count */
	assert_int_equal(cairn__condition_failed(&req, 7, "course-c1XYZ", 9),
	                 CAIRN_CONFLICT);
	assert_int_equal(req.status, CAIRN_CONFLICT);
	assert_int_equal(res.conflict_position, 7);
	assert_string_equal(res.conflict_stream, "course-c1");
	assert_int_equal(res.conflict_index, 0);
	assert_int_equal(res.conflict_expected, CAIRN_ANY);
	assert_int_equal(res.conflict_actual, 0);
	assert_string_equal(req.message,
	                    "the condition failed: event at position 7 in "
	                    "stream 'course-c1' matches the query");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(match_single_items),
	        cmocka_unit_test(match_items_or),
	        cmocka_unit_test(match_tagless_and_repeats),
	        cmocka_unit_test(match_null_arguments),
	        cmocka_unit_test(match_exact_bytes),
	        cmocka_unit_test(match_exhaustive),
	        cmocka_unit_test(validate_items),
	        cmocka_unit_test(validate_limits_and_index),
	        cmocka_unit_test(validate_query_shape),
	        cmocka_unit_test(copy_is_deep),
	        cmocka_unit_test(condition_failed_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
