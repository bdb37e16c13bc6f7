/*
 * test_dcb.c -- conditional appends (Dynamic Consistency Boundaries) and
 * query reads: what a query item matches (types, tags, both, neither),
 * that a failed condition writes nothing and names the first matching
 * event, that idempotent repeats and expected versions keep their rules,
 * that a query read yields exactly the matching events and hands back a
 * head usable as the condition's `after`, and that racing writers on one
 * query get exactly one winner per decision.
 *
 * Worker threads never call cmocka assertions (they longjmp); they record
 * what they saw, and the test thread asserts after joining them.
 */
#include "conformance.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building events and queries from short strings ---- */

enum { SPLIT_MAX = 8, SPLIT_TEXT = 256, QB_ITEMS = CAIRN_QUERY_ITEMS_MAX + 1 };

/* A string cut at sep into at most SPLIT_MAX NUL-terminated parts ("" is
 * no part at all). */
struct split {
	char text[SPLIT_TEXT];
	const char *part[SPLIT_MAX];
	size_t n;
};

static void
split_init(struct split *s, const char *text, char sep)
{
	size_t len = text != NULL ? strlen(text) : 0;

	memset(s, 0, sizeof *s);
	assert_true(len < sizeof s->text);
	if (len == 0)
		return;
	memcpy(s->text, text, len + 1);
	s->part[s->n++] = s->text;
	for (size_t i = 0; i < len; i++) {
		if (s->text[i] != sep)
			continue;
		s->text[i] = '\0';
		assert_true(s->n < SPLIT_MAX);
		s->part[s->n++] = s->text + i + 1;
	}
}

/* A query of up to QB_ITEMS items, each written as types "A|B" (or "" for
 * any type) and tags "x y" (or "" for none). */
struct qbuf {
	cairn_query q;
	cairn_query_item items[QB_ITEMS];
	struct split types[QB_ITEMS];
	struct split tags[QB_ITEMS];
};

static void
qb_init(struct qbuf *b)
{
	memset(b, 0, sizeof *b);
	b->q.items = b->items;
	b->q.nitems = 0;
}

static void
qb_add(struct qbuf *b, const char *types, const char *tags)
{
	size_t i = b->q.nitems;

	assert_true(i < QB_ITEMS);
	split_init(&b->types[i], types, '|');
	split_init(&b->tags[i], tags, ' ');
	b->items[i].types = b->types[i].n > 0 ? b->types[i].part : NULL;
	b->items[i].ntypes = b->types[i].n;
	b->items[i].tags = b->tags[i].n > 0 ? b->tags[i].part : NULL;
	b->items[i].ntags = b->tags[i].n;
	b->q.nitems = i + 1;
}

/* A one-item query. */
static const cairn_query *
qb_one(struct qbuf *b, const char *types, const char *tags)
{
	qb_init(b);
	qb_add(b, types, tags);
	return &b->q;
}

/* Append one event of type with tags ("x y") to stream (any version);
 * returns its position. */
static uint64_t
put(cairn_store *st, const char *stream, const char *type, const char *tags)
{
	struct split t;
	cairn_new_event e = conf_ev(type, "{}");
	cairn_append_result r;

	split_init(&t, tags, ' ');
	e.tags = t.part;
	e.ntags = t.n;
	assert_status(cairn_append(st, stream, CAIRN_ANY, &e, 1, &r), CAIRN_OK);
	assert_int_equal(r.first_position, r.last_position);
	return r.first_position;
}

/* cairn_append_if() of one event of type with tags to stream. */
static cairn_status
put_if(cairn_store *st, const cairn_query *q, uint64_t after,
       const char *stream, int64_t expected, const char *type, const char *tags,
       cairn_append_result *res)
{
	struct split t;
	cairn_new_event e = conf_ev(type, "{\"if\":1}");
	cairn_write w = {stream, expected, &e, 1};

	split_init(&t, tags, ' ');
	e.tags = t.part;
	e.ntags = t.n;
	memset(res, 0xab, sizeof *res);
	return cairn_append_if(st, q, after, &w, 1, res);
}

/* The condition holds: the event is written right after the head. */
static void
expect_pass(cairn_store *st, const cairn_query *q, uint64_t after,
            const char *what)
{
	uint64_t head = conf_head(st);
	cairn_append_result res;
	cairn_status rc =
	        put_if(st, q, after, "dcb-out", CAIRN_ANY, "Decided", "", &res);

	if (rc != CAIRN_OK)
		print_error("case: %s (after %llu)\n", what,
		            (unsigned long long)after);
	assert_status(rc, CAIRN_OK);
	assert_int_equal(res.first_position, head + 1);
	assert_int_equal(res.last_position, head + 1);
	assert_int_equal(res.idempotent, 0);
	assert_int_equal(conf_head(st), head + 1);
}

/* The condition fails on the event at position `first` of stream: a
 * conflict that names it, and nothing written. */
static void
expect_conflict(cairn_store *st, const cairn_query *q, uint64_t after,
                uint64_t first, const char *stream, const char *what)
{
	conf_snap snap = conf_snapshot(st);
	uint64_t out_version = conf_version(st, "dcb-out");
	cairn_append_result res;
	cairn_status rc =
	        put_if(st, q, after, "dcb-out", CAIRN_ANY, "Decided", "", &res);

	if (rc != CAIRN_CONFLICT || res.conflict_position != first)
		print_error("case: %s (after %llu): conflict_position %llu, "
		            "expected %llu\n",
		            what, (unsigned long long)after,
		            (unsigned long long)res.conflict_position,
		            (unsigned long long)first);
	assert_status(rc, CAIRN_CONFLICT);
	assert_int_equal(res.conflict_position, first);
	assert_string_equal(res.conflict_stream, stream);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_unchanged(st, snap);
	assert_int_equal(conf_version(st, "dcb-out"), out_version);
}

/* ---- the condition ---- */

/* Nothing matching after `after`: the append goes through, on an empty
 * store too, and a matching event at or before `after` does not count. */
static void
test_dcb_passes_when_nothing_matches_after(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	const cairn_query *q = qb_one(&b, "Enrolled", "course:c1");

	/* an empty store, after 0 */
	cairn_append_result res;
	assert_status(put_if(fx->st, q, 0, "course-c1", CAIRN_NO_STREAM,
	                     "Enrolled", "course:c1", &res),
	              CAIRN_OK);
	assert_int_equal(res.first_position, 1);
	assert_int_equal(res.version, 1);
	assert_int_equal(res.idempotent, 0);

	/* the match is at position 1; after 1 it is old news */
	put(fx->st, "course-c2", "Enrolled", "course:c2");
	put(fx->st, "course-c1", "Left", "course:c1");
	expect_pass(fx->st, q, 1, "match at 1, after 1");
	expect_pass(fx->st, q, 3, "match at 1, after 3");
	/* an `after` past the head holds as well: nothing is after it */
	expect_pass(fx->st, q, 1000, "after past the head");

	/* the event written by the condition is readable as usual */
	conf_rec *recs;
	size_t n = conf_read_stream(fx->st, "course-c1", NULL, &recs);
	assert_int_equal(n, 2);
	assert_string_equal(recs[0].type, "Enrolled");
	assert_int_equal(recs[0].ntags, 1);
	assert_string_equal(recs[0].tags[0], "course:c1");
	assert_string_equal((char *)recs[0].data, "{\"if\":1}");
	conf_recs_free(recs, n);
}

/* A matching event after `after`: CAIRN_CONFLICT, the head, the stream
 * versions and the event count stay as they were; after 0 means any
 * matching event at all fails. */
static void
test_dcb_conflict_writes_nothing(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	const cairn_query *q = qb_one(&b, "Enrolled", "course:c1");

	put(fx->st, "course-c2", "Enrolled", "course:c2");
	uint64_t p = put(fx->st, "course-c1", "Enrolled", "course:c1");
	put(fx->st, "course-c3", "Enrolled", "course:c3");
	assert_int_equal(p, 2);

	expect_conflict(fx->st, q, 0, p, "course-c1", "after 0");
	expect_conflict(fx->st, q, 1, p, "course-c1", "after 1");
	expect_pass(fx->st, q, 2, "after 2");

	/* a multi-stream append_if writes none of its streams */
	conf_snap snap = conf_snapshot(fx->st);
	cairn_new_event e1 = conf_ev("Enrolled", "{}");
	cairn_new_event e2 = conf_ev("Counted", "{}");
	cairn_write w[2] = {{"course-c1", CAIRN_ANY, &e1, 1},
	                    {"stats", CAIRN_NO_STREAM, &e2, 1}};
	cairn_append_result res;
	assert_status(cairn_append_if(fx->st, q, 0, w, 2, &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_position, p);
	assert_unchanged(fx->st, snap);
	assert_int_equal(conf_version(fx->st, "stats"), 0);
	assert_int_equal(conf_version(fx->st, "course-c1"), 1);

	/* a failed condition and a NULL result: still a plain conflict */
	assert_status(cairn_append_if(fx->st, q, 0, w, 2, NULL),
	              CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);
}

/* An item with types and no tags matches by type alone. */
static void
test_dcb_match_type_only(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;

	put(fx->st, "s-1", "B", "x");
	uint64_t a = put(fx->st, "s-2", "A", "");
	put(fx->st, "s-3", "C", "x y");
	uint64_t a2 = put(fx->st, "s-1", "A", "x y z");

	expect_conflict(fx->st, qb_one(&b, "A", ""), 0, a, "s-2", "type A");
	expect_conflict(fx->st, qb_one(&b, "A", ""), a, a2, "s-1",
	                "type A after the first");
	expect_pass(fx->st, qb_one(&b, "A", ""), a2, "type A after both");
	expect_conflict(fx->st, qb_one(&b, "Z|C", ""), 0, 3, "s-3",
	                "types Z|C");
	expect_pass(fx->st, qb_one(&b, "Z", ""), 0, "type Z");
	/* type names are compared whole: no prefix or case folding */
	expect_pass(fx->st, qb_one(&b, "a|AA|B ", ""), 1, "near misses of A");
}

/* An item with tags and no types matches events carrying all of them,
 * in any order, among others. */
static void
test_dcb_match_tags_only(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;

	put(fx->st, "s-1", "A", "x");       /* 1: only x */
	put(fx->st, "s-2", "B", "y");       /* 2: only y */
	put(fx->st, "s-3", "C", "z y w x"); /* 3: both, among others */
	put(fx->st, "s-4", "D", "x:y");     /* 4: neither */
	put(fx->st, "s-5", "E", "x y");     /* 5: exactly both */
	put(fx->st, "s-6", "F", "");        /* 6: no tags */

	expect_conflict(fx->st, qb_one(&b, "", "x y"), 0, 3, "s-3", "x and y");
	expect_conflict(fx->st, qb_one(&b, "", "y x"), 3, 5, "s-5",
	                "y and x after 3");
	expect_conflict(fx->st, qb_one(&b, "", "x"), 1, 3, "s-3", "x after 1");
	expect_conflict(fx->st, qb_one(&b, "", "x:y"), 0, 4, "s-4", "x:y");
	expect_pass(fx->st, qb_one(&b, "", "x y q"), 0, "x, y and q");
	/* tags are compared whole */
	expect_pass(fx->st, qb_one(&b, "", "X"), 0, "X");
	expect_pass(fx->st, qb_one(&b, "", "x:"), 0, "x:");
	expect_pass(fx->st, qb_one(&b, "", "w x y z q"), 0, "five tags");
}

/* An item with types and tags needs both: an event with the tags but
 * another type does not match, nor one of the type without the tags. */
static void
test_dcb_match_type_and_tags(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	const cairn_query *q = qb_one(&b, "Enrolled|Left", "course:c1");

	put(fx->st, "c", "Defined", "course:c1");            /* 1: type no */
	put(fx->st, "c", "Enrolled", "");                    /* 2: tags no */
	put(fx->st, "c", "Enrolled", "course:c2 course:c3"); /* 3: tags no */
	uint64_t m = put(fx->st, "e", "Left", "student:s course:c1"); /* 4 */

	expect_conflict(fx->st, q, 0, m, "e", "type and tag");
	expect_pass(fx->st, q, m, "type and tag after the match");
	/* two tags required: one is not enough */
	expect_pass(fx->st, qb_one(&b, "Left", "course:c1 student:t"), 0,
	            "Left with course:c1 and student:t");
	expect_conflict(fx->st, qb_one(&b, "Left", "course:c1 student:s"), 0, m,
	                "e", "Left with course:c1 and student:s");
	/* the tags of event 1 under another type */
	expect_pass(fx->st, qb_one(&b, "Enrolled", "course:c1"), 0,
	            "Enrolled with course:c1");
}

/* Several items: any one matching is enough (OR), and the first event any
 * of them matches is named. */
static void
test_dcb_multi_item_or(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;

	put(fx->st, "s", "C", "z"); /* 1: nothing */
	put(fx->st, "s", "B", "y"); /* 2: item 2 */
	put(fx->st, "t", "A", "");  /* 3: item 1 */
	put(fx->st, "s", "C", "y"); /* 4: item 2 */
	put(fx->st, "s", "D", "q"); /* 5: nothing */

	qb_init(&b);
	qb_add(&b, "A", "");
	qb_add(&b, "", "y");
	expect_conflict(fx->st, &b.q, 0, 2, "s", "A or y, after 0");
	expect_conflict(fx->st, &b.q, 2, 3, "t", "A or y, after 2");
	expect_conflict(fx->st, &b.q, 3, 4, "s", "A or y, after 3");
	expect_pass(fx->st, &b.q, 4, "A or y, after 4");

	/* items that match nothing do not spoil the one that does */
	qb_init(&b);
	qb_add(&b, "Nope", "");
	qb_add(&b, "", "nope");
	qb_add(&b, "D", "q");
	qb_add(&b, "C", "y z");
	expect_conflict(fx->st, &b.q, 0, 5, "s", "four items");

	/* the same item twice is the item once */
	qb_init(&b);
	qb_add(&b, "A", "");
	qb_add(&b, "A", "");
	expect_conflict(fx->st, &b.q, 0, 3, "t", "A twice");
}

/* An item with neither types nor tags matches every event; a query
 * without items matches none. */
static void
test_dcb_match_everything_and_nothing(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;

	expect_pass(fx->st, qb_one(&b, "", ""), 0, "empty item, empty store");
	/* now position 1 is dcb-out's Decided */
	put(fx->st, "s", "A", "x");
	put(fx->st, "t", "B", "");
	expect_conflict(fx->st, qb_one(&b, "", ""), 0, 1, "dcb-out",
	                "empty item after 0");
	expect_conflict(fx->st, qb_one(&b, "", ""), 1, 2, "s",
	                "empty item after 1");
	expect_conflict(fx->st, qb_one(&b, "", ""), 2, 3, "t",
	                "empty item after 2");
	expect_pass(fx->st, qb_one(&b, "", ""), 3, "empty item after 3");

	/* an empty item among others still matches everything */
	qb_init(&b);
	qb_add(&b, "Nope", "");
	qb_add(&b, "", "");
	expect_conflict(fx->st, &b.q, 1, 2, "s", "Nope or everything");

	/* no items: nothing matches, after 0 included */
	cairn_query_item unused = {NULL, 0, NULL, 0};
	cairn_query none = {&unused, 0};
	expect_pass(fx->st, &none, 0, "no items");
}

/* Several matching events after `after`: the conflict names the one with
 * the lowest position, whichever stream it is in. */
static void
test_dcb_conflict_names_first_match(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	const cairn_query *q = qb_one(&b, "Booked", "room:7");

	put(fx->st, "room-7", "Booked", "room:7");          /* 1 */
	put(fx->st, "room-8", "Booked", "room:8");          /* 2 */
	put(fx->st, "guest-1", "Booked", "room:7 guest:1"); /* 3 */
	put(fx->st, "room-7", "Cancelled", "room:7");       /* 4 */
	put(fx->st, "guest-2", "Booked", "guest:2 room:7"); /* 5 */
	put(fx->st, "room-7", "Booked", "room:7");          /* 6 */

	expect_conflict(fx->st, q, 0, 1, "room-7", "after 0");
	expect_conflict(fx->st, q, 1, 3, "guest-1", "after 1");
	expect_conflict(fx->st, q, 2, 3, "guest-1", "after 2");
	expect_conflict(fx->st, q, 3, 5, "guest-2", "after 3");
	expect_conflict(fx->st, q, 4, 5, "guest-2", "after 4");
	expect_conflict(fx->st, q, 5, 6, "room-7", "after 5");
	expect_pass(fx->st, q, 6, "after 6");

	/* a conflict found within one multi-event append names its first
	 * matching event, not the append's first event */
	cairn_new_event evs[3] = {conf_ev("Other", "{}"),
	                          conf_ev("Booked", "{}"),
	                          conf_ev("Booked", "{}")};
	const char *tags[] = {"room:9"};
	evs[1].tags = tags;
	evs[1].ntags = 1;
	evs[2].tags = tags;
	evs[2].ntags = 1;
	cairn_append_result r;
	assert_status(cairn_append(fx->st, "room-9", CAIRN_ANY, evs, 3, &r),
	              CAIRN_OK);
	assert_int_equal(r.first_position, 8);
	expect_conflict(fx->st, qb_one(&b, "Booked", "room:9"), 0, 9, "room-9",
	                "inside a batch");
}

/* Repeating an append_if whose caller-given ids were committed succeeds
 * again with idempotent = 1 and writes nothing, although its own events
 * now match the query; new ids with the same condition conflict. */
static void
test_dcb_idempotent_repeat(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	const cairn_query *q = qb_one(&b, "Enrolled", "course:c1");
	const char *tags[] = {"course:c1", "student:s1"};

	put(fx->st, "other", "Enrolled", "course:c2");
	uint64_t seen = conf_head(fx->st);
	cairn_uuid ids[2] = {conf_uuid(), conf_uuid()};
	cairn_new_event e[2] = {conf_ev("Enrolled", "{\"s\":1}"),
	                        conf_ev("Enrolled", "{\"s\":2}")};
	for (int i = 0; i < 2; i++) {
		e[i].id = &ids[i];
		e[i].tags = tags;
		e[i].ntags = 2;
	}
	cairn_write w = {"student-s1", CAIRN_NO_STREAM, e, 2};
	cairn_append_result first, again;
	assert_status(cairn_append_if(fx->st, q, seen, &w, 1, &first),
	              CAIRN_OK);
	assert_int_equal(first.idempotent, 0);
	assert_int_equal(first.first_position, 2);
	assert_int_equal(first.last_position, 3);

	conf_snap snap = conf_snapshot(fx->st);
	memset(&again, 0xab, sizeof again);
	assert_status(cairn_append_if(fx->st, q, seen, &w, 1, &again),
	              CAIRN_OK);
	assert_int_equal(again.idempotent, 1);
	assert_int_equal(again.first_position, first.first_position);
	assert_int_equal(again.last_position, first.last_position);
	assert_int_equal(again.version, 2);
	assert_unchanged(fx->st, snap);

	/* the same ids in another stream are not a repeat: a conflict */
	cairn_write elsewhere = {"student-s2", CAIRN_ANY, e, 2};
	assert_status(cairn_append_if(fx->st, q, seen, &elsewhere, 1, &again),
	              CAIRN_CONFLICT);
	assert_unchanged(fx->st, snap);

	/* the same decision with fresh ids: the condition fails on the
	 * first of the committed events */
	cairn_uuid fresh = conf_uuid();
	cairn_new_event f = e[0];
	f.id = &fresh;
	cairn_write wf = {"student-s1", CAIRN_ANY, &f, 1};
	assert_status(cairn_append_if(fx->st, q, seen, &wf, 1, &again),
	              CAIRN_CONFLICT);
	assert_int_equal(again.conflict_position, first.first_position);
	assert_string_equal(again.conflict_stream, "student-s1");
	assert_unchanged(fx->st, snap);
}

/* The expected version of every write is checked as by
 * cairn_append_multi(), with the condition holding. */
static void
test_dcb_expected_versions_checked(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	const cairn_query *q = qb_one(&b, "Nope", "");
	cairn_append_result res;

	conf_fill(fx->st, "acc-1", 3);
	conf_snap snap = conf_snapshot(fx->st);
	assert_status(put_if(fx->st, q, 0, "acc-1", 2, "T", "", &res),
	              CAIRN_CONFLICT);
	assert_string_equal(res.conflict_stream, "acc-1");
	assert_int_equal(res.conflict_expected, 2);
	assert_int_equal(res.conflict_actual, 3);
	assert_int_equal(res.conflict_position, 0);
	assert_unchanged(fx->st, snap);
	assert_status(
	        put_if(fx->st, q, 0, "acc-1", CAIRN_NO_STREAM, "T", "", &res),
	        CAIRN_CONFLICT);
	assert_status(put_if(fx->st, q, 0, "acc-2", CAIRN_STREAM_EXISTS, "T",
	                     "", &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_actual, 0);
	assert_unchanged(fx->st, snap);

	/* the second of two writes is stale: nothing of either is written */
	cairn_new_event e1 = conf_ev("T", "1"), e2 = conf_ev("T", "2");
	cairn_write w[2] = {{"acc-2", CAIRN_NO_STREAM, &e1, 1},
	                    {"acc-1", 1, &e2, 1}};
	assert_status(cairn_append_if(fx->st, q, 0, w, 2, &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_index, 1);
	assert_string_equal(res.conflict_stream, "acc-1");
	assert_int_equal(res.conflict_actual, 3);
	assert_int_equal(res.conflict_position, 0);
	assert_unchanged(fx->st, snap);

	/* right versions: both written, consecutive positions, in order */
	w[1].expected = 3;
	assert_status(cairn_append_if(fx->st, q, 0, w, 2, &res), CAIRN_OK);
	assert_int_equal(res.first_position, snap.head + 1);
	assert_int_equal(res.last_position, snap.head + 2);
	assert_int_equal(conf_version(fx->st, "acc-2"), 1);
	assert_int_equal(conf_version(fx->st, "acc-1"), 4);
	assert_status(put_if(fx->st, q, 0, "acc-1", 4, "T", "", &res),
	              CAIRN_OK);
	assert_int_equal(res.version, 5);
	assert_status(put_if(fx->st, q, 0, "acc-1", CAIRN_STREAM_EXISTS, "T",
	                     "", &res),
	              CAIRN_OK);
	assert_int_equal(res.version, 6);
}

/* One call of append_if that must fail with want and leave the store and
 * a message. */
static void
expect_invalid(cairn_store *st, const cairn_query *q, const cairn_write *w,
               size_t nw, cairn_status want, const char *what)
{
	conf_snap snap = conf_snapshot(st);
	cairn_append_result res;
	cairn_status rc = cairn_append_if(st, q, 0, w, nw, &res);

	if (rc != want)
		print_error("case: %s\n", what);
	assert_status(rc, want);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_unchanged(st, snap);
}

/* A NULL where a type or tag should be: CAIRN_INVALID or the status of a
 * malformed name (the header leaves the choice open), nothing written. */
static void
expect_invalid2(cairn_store *st, const cairn_query *q, const cairn_write *w,
                cairn_status name_status, const char *what)
{
	conf_snap snap = conf_snapshot(st);
	cairn_status rc = cairn_append_if(st, q, 0, w, 1, NULL);

	if (rc != CAIRN_INVALID && rc != name_status) {
		print_error("case: %s: got %s, want %s or %s\n", what,
		            cairn_status_str(rc),
		            cairn_status_str(CAIRN_INVALID),
		            cairn_status_str(name_status));
		fail();
	}
	assert_true(strlen(cairn_last_error()) > 0);
	assert_unchanged(st, snap);
}

/* Malformed queries and writes get their statuses and write nothing; the
 * same query shapes in a read are refused the same way. */
static void
test_dcb_invalid(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	cairn_new_event e = conf_ev("T", "{}");
	cairn_write w = {"s", CAIRN_ANY, &e, 1};
	const cairn_query *ok = qb_one(&b, "T", "x");

	conf_fill(fx->st, "s", 2);
	assert_status(cairn_append_if(NULL, ok, 0, &w, 1, NULL), CAIRN_INVALID);
	expect_invalid(fx->st, NULL, &w, 1, CAIRN_INVALID, "NULL query");
	expect_invalid(fx->st, ok, NULL, 1, CAIRN_INVALID, "NULL writes");
	expect_invalid(fx->st, ok, &w, 0, CAIRN_INVALID, "no writes");

	/* CAIRN_QUERY_ITEMS_MAX items are fine, one more is not */
	struct qbuf *many = malloc(sizeof *many);
	assert_non_null(many);
	qb_init(many);
	for (int i = 0; i < CAIRN_QUERY_ITEMS_MAX; i++)
		qb_add(many, "Nope", "");
	assert_status(cairn_append_if(fx->st, &many->q, 0, &w, 1, NULL),
	              CAIRN_OK);
	qb_add(many, "Nope", "");
	expect_invalid(fx->st, &many->q, &w, 1, CAIRN_INVALID,
	               "too many items");
	free(many);

	cairn_query_item item = {NULL, 0, NULL, 0};
	cairn_query q = {&item, 1};
	cairn_query nullitems = {NULL, 1};
	expect_invalid(fx->st, &nullitems, &w, 1, CAIRN_INVALID,
	               "items NULL with nitems 1");

	static const char *bad_types[] = {"", "bad\xff", "ctl\x01",
	                                  "C1\xc2\x85"};
	char longname[CAIRN_TYPE_MAX + 2];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	const char *one[1];
	item.types = one;
	item.ntypes = 1;
	for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
		one[0] = bad_types[i];
		expect_invalid(fx->st, &q, &w, 1, CAIRN_INVALID_TYPE,
		               "bad type in query");
	}
	one[0] = longname;
	expect_invalid(fx->st, &q, &w, 1, CAIRN_INVALID_TYPE,
	               "overlong type in query");
	one[0] = NULL;
	expect_invalid2(fx->st, &q, &w, CAIRN_INVALID_TYPE, "NULL type");
	item.types = NULL;
	expect_invalid2(fx->st, &q, &w, CAIRN_INVALID_TYPE,
	                "ntypes 1 with types NULL");

	item.types = NULL;
	item.ntypes = 0;
	item.tags = one;
	item.ntags = 1;
	for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
		one[0] = bad_types[i];
		expect_invalid(fx->st, &q, &w, 1, CAIRN_INVALID_TAG,
		               "bad tag in query");
	}
	one[0] = longname;
	expect_invalid(fx->st, &q, &w, 1, CAIRN_INVALID_TAG,
	               "overlong tag in query");
	one[0] = NULL;
	expect_invalid2(fx->st, &q, &w, CAIRN_INVALID_TAG, "NULL tag");
	item.tags = NULL;
	expect_invalid2(fx->st, &q, &w, CAIRN_INVALID_TAG,
	                "ntags 1 with tags NULL");
	one[0] = "ok";
	item.ntags = 0;
	item.tags = NULL;

	/* the second item is the bad one */
	qb_init(&b);
	qb_add(&b, "T", "x");
	qb_add(&b, "T", "x");
	b.types[1].part[0] = "";
	expect_invalid(fx->st, &b.q, &w, 1, CAIRN_INVALID_TYPE,
	               "bad type in item 2");

	/* the writes are validated as by cairn_append_multi() */
	cairn_new_event bad = conf_ev("", "{}");
	cairn_write wb = {"s", CAIRN_ANY, &bad, 1};
	expect_invalid(fx->st, ok, &wb, 1, CAIRN_INVALID_TYPE,
	               "bad event type");
	cairn_write ws = {"", CAIRN_ANY, &e, 1};
	expect_invalid(fx->st, ok, &ws, 1, CAIRN_INVALID_STREAM,
	               "bad stream id");
	cairn_write twice[2] = {{"s", CAIRN_ANY, &e, 1},
	                        {"s", CAIRN_ANY, &e, 1}};
	expect_invalid(fx->st, ok, twice, 2, CAIRN_INVALID, "stream twice");

	/* reads refuse the same queries */
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it = NULL;
	one[0] = "";
	item.types = one;
	item.ntypes = 1;
	ro.query = &q;
	assert_status(cairn_read_all(fx->st, &ro, &it), CAIRN_INVALID_TYPE);
	item.types = NULL;
	item.ntypes = 0;
	item.tags = one;
	item.ntags = 1;
	assert_status(cairn_read_all(fx->st, &ro, &it), CAIRN_INVALID_TAG);
	ro.query = &nullitems;
	assert_status(cairn_read_all(fx->st, &ro, &it), CAIRN_INVALID);
}

/* ---- query reads ---- */

struct model_ev {
	const char *stream;
	const char *type;
	const char *tags; /* "x y" */
	uint64_t position;
};

/* The test's own matcher, so that reads are not checked against the
 * library's. */
static int
model_has_tag(const char *tags, const char *tag)
{
	struct split s;

	split_init(&s, tags, ' ');
	for (size_t i = 0; i < s.n; i++)
		if (strcmp(s.part[i], tag) == 0)
			return 1;
	return 0;
}

static int
model_match(const cairn_query *q, const struct model_ev *e)
{
	for (size_t i = 0; i < q->nitems; i++) {
		const cairn_query_item *it = &q->items[i];
		int ok = it->ntypes == 0;

		for (size_t t = 0; t < it->ntypes; t++)
			if (strcmp(it->types[t], e->type) == 0)
				ok = 1;
		for (size_t t = 0; ok && t < it->ntags; t++)
			if (!model_has_tag(e->tags, it->tags[t]))
				ok = 0;
		if (ok)
			return 1;
	}
	return 0;
}

static int
model_filters(const cairn_read_opts *o, const struct model_ev *e)
{
	if (o->prefix != NULL &&
	    strncmp(e->stream, o->prefix, strlen(o->prefix)) != 0)
		return 0;
	if (o->ntypes > 0) {
		int ok = 0;
		for (size_t t = 0; t < o->ntypes; t++)
			if (strcmp(o->types[t], e->type) == 0)
				ok = 1;
		if (!ok)
			return 0;
	}
	return o->query == NULL || model_match(o->query, e);
}

/* Read $all with o and compare with what the model says, in order; also
 * check cairn_query_match() on every event read. */
static void
check_query_read(cairn_store *st, const struct model_ev *m, size_t n,
                 const cairn_read_opts *o, const char *what)
{
	size_t *want = malloc((n + 1) * sizeof *want);
	size_t nwant = 0;

	assert_non_null(want);
	for (size_t k = 0; k < n; k++) {
		size_t i = o->backwards ? n - 1 - k : k;
		uint64_t p = m[i].position;

		if (o->from > 0 && (o->backwards ? p > o->from : p < o->from))
			continue;
		if (!model_filters(o, &m[i]))
			continue;
		if (o->limit > 0 && nwant == o->limit)
			break;
		want[nwant++] = i;
	}
	conf_rec *recs;
	size_t got = conf_read_all(st, o, &recs);
	if (got != nwant)
		print_error("case: %s: %zu events, expected %zu\n", what, got,
		            nwant);
	assert_int_equal(got, nwant);
	for (size_t k = 0; k < got; k++) {
		const struct model_ev *e = &m[want[k]];
		if (recs[k].position != e->position)
			print_error("case: %s: event %zu\n", what, k);
		assert_int_equal(recs[k].position, e->position);
		assert_string_equal(recs[k].stream, e->stream);
		assert_string_equal(recs[k].type, e->type);
		struct split s;
		split_init(&s, e->tags, ' ');
		assert_int_equal(recs[k].ntags, s.n);
		for (size_t t = 0; t < s.n; t++)
			assert_string_equal(recs[k].tags[t], s.part[t]);
		if (o->query != NULL) {
			cairn_event ev;
			memset(&ev, 0, sizeof ev);
			ev.stream = recs[k].stream;
			ev.stream_len = strlen(recs[k].stream);
			ev.type = recs[k].type;
			ev.type_len = strlen(recs[k].type);
			ev.tags = (const char *const *)recs[k].tags;
			ev.ntags = recs[k].ntags;
			ev.position = recs[k].position;
			assert_int_equal(cairn_query_match(o->query, &ev), 1);
		}
	}
	conf_recs_free(recs, got);
	free(want);
}

/* A query read yields exactly the matching events, in order, forward and
 * backwards, from a position, with a limit, and combined with the type
 * and prefix filters (all of which must hold). */
static void
test_dcb_query_reads(void **state)
{
	conf_fixture *fx = *state;
	static const char *streams[] = {"course-c1", "course-c2", "student-s1",
	                                "student-s2", "misc"};
	static const char *types[] = {"CourseDefined", "StudentEnrolled",
	                              "StudentLeft", "Noise"};
	static const char *tagsets[] = {"course:c1",
	                                "course:c1 student:s1",
	                                "student:s1 course:c2",
	                                "course:c2",
	                                "",
	                                "student:s2 course:c1 term:t1",
	                                "student:s2"};
	enum { N = 140 };
	struct model_ev m[N];
	for (size_t i = 0; i < N; i++) {
		m[i].stream = streams[(i * 3 + i / 7) % 5];
		m[i].type = types[(i * 5 + i / 3) % 4];
		m[i].tags = tagsets[(i * 2 + i / 5) % 7];
		m[i].position = put(fx->st, m[i].stream, m[i].type, m[i].tags);
		assert_int_equal(m[i].position, i + 1);
	}

	struct qbuf q1, q2, q3, q4, q5, q6;
	qb_one(&q1, "StudentEnrolled", "course:c1");
	qb_one(&q2, "", "student:s1");
	qb_init(&q3);
	qb_add(&q3, "CourseDefined", "course:c2");
	qb_add(&q3, "StudentEnrolled|StudentLeft", "student:s2 course:c1");
	qb_one(&q4, "", "");
	qb_one(&q5, "Absent", "");
	qb_one(&q6, "", "course:c1 course:c2");
	cairn_query_item unused = {NULL, 0, NULL, 0};
	cairn_query none = {&unused, 0};
	const char *enrolled[] = {"StudentEnrolled"};
	const char *noise_left[] = {"Noise", "StudentLeft"};

	struct {
		const char *what;
		cairn_read_opts o;
	} c[] = {
	        {"q1", {0, 0, 0, NULL, 0, NULL, &q1.q}},
	        {"q1 backwards", {0, 0, 1, NULL, 0, NULL, &q1.q}},
	        {"q1 limit 3", {0, 3, 0, NULL, 0, NULL, &q1.q}},
	        {"q1 backwards limit 3", {0, 3, 1, NULL, 0, NULL, &q1.q}},
	        {"q1 from 50", {50, 0, 0, NULL, 0, NULL, &q1.q}},
	        {"q1 backwards from 50", {50, 0, 1, NULL, 0, NULL, &q1.q}},
	        {"q1 from 50 limit 2", {50, 2, 0, NULL, 0, NULL, &q1.q}},
	        {"q2 tags only", {0, 0, 0, NULL, 0, NULL, &q2.q}},
	        {"q2 backwards limit 5", {0, 5, 1, NULL, 0, NULL, &q2.q}},
	        {"q3 two items", {0, 0, 0, NULL, 0, NULL, &q3.q}},
	        {"q3 backwards", {0, 0, 1, NULL, 0, NULL, &q3.q}},
	        {"q3 from 70 limit 4", {70, 4, 0, NULL, 0, NULL, &q3.q}},
	        {"q4 everything", {0, 0, 0, NULL, 0, NULL, &q4.q}},
	        {"q4 backwards limit 7", {0, 7, 1, NULL, 0, NULL, &q4.q}},
	        {"q5 nothing", {0, 0, 0, NULL, 0, NULL, &q5.q}},
	        {"q6 both courses", {0, 0, 0, NULL, 0, NULL, &q6.q}},
	        {"no items", {0, 0, 0, NULL, 0, NULL, &none}},
	        {"q2 + type", {0, 0, 0, enrolled, 1, NULL, &q2.q}},
	        {"q2 + types backwards", {0, 0, 1, noise_left, 2, NULL, &q2.q}},
	        {"q4 + type", {0, 0, 0, enrolled, 1, NULL, &q4.q}},
	        {"q1 + type elsewhere", {0, 0, 0, noise_left, 2, NULL, &q1.q}},
	        {"q2 + prefix", {0, 0, 0, NULL, 0, "course-", &q2.q}},
	        {"q3 + prefix backwards limit 3",
	         {0, 3, 1, NULL, 0, "student-", &q3.q}},
	        {"q2 + prefix + type",
	         {0, 0, 0, enrolled, 1, "student-", &q2.q}},
	        {"q4 + prefix + types from 20 limit 9",
	         {20, 9, 0, noise_left, 2, "course-c", &q4.q}},
	        {"q1 + prefix nothing", {0, 0, 0, NULL, 0, "zzz", &q1.q}},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		check_query_read(fx->st, m, N, &c[i].o, c[i].what);

	/* the read copies the query: changing it after the open does not
	 * change what the iterator yields */
	struct qbuf qc;
	qb_one(&qc, "StudentEnrolled", "course:c1");
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	ro.query = &qc.q;
	cairn_iter *it = NULL;
	assert_status(cairn_read_all(fx->st, &ro, &it), CAIRN_OK);
	memset(&qc, 0, sizeof qc);
	conf_rec *recs;
	size_t got = conf_drain(it, &recs);
	conf_recs_free(recs, got);
	size_t want = 0;
	for (size_t i = 0; i < N; i++)
		want += model_match(&q1.q, &m[i]);
	assert_int_equal(got, want);
	assert_true(want > 0);

	/* cairn_query_match() agrees with the model on every event */
	cairn_iter *all = NULL;
	const cairn_event *e;
	assert_status(cairn_read_all(fx->st, NULL, &all), CAIRN_OK);
	size_t k = 0;
	cairn_status rc;
	while ((rc = cairn_iter_next(all, &e)) == CAIRN_ROW) {
		const cairn_query *qs[] = {&q1.q, &q2.q, &q3.q, &q4.q,
		                           &q5.q, &q6.q, &none};
		assert_true(k < N);
		for (size_t j = 0; j < sizeof qs / sizeof qs[0]; j++)
			assert_int_equal(cairn_query_match(qs[j], e),
			                 model_match(qs[j], &m[k]));
		k++;
	}
	assert_status(rc, CAIRN_DONE);
	assert_int_equal(k, N);
	cairn_iter_free(all);
}

/* Read with a query to DONE and return the head the iterator reports;
 * *last receives the position of the last event yielded (0: none), *n
 * the count. */
static uint64_t
read_query_head(cairn_store *st, const cairn_query *q, uint64_t limit,
                uint64_t *last, size_t *n)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_status rc;
	uint64_t head = 0, before = 0;

	ro.query = q;
	ro.limit = limit;
	assert_status(cairn_read_all(st, &ro, &it), CAIRN_OK);
	assert_status(cairn_iter_head(it, &before), CAIRN_OK);
	/* before DONE: the head when the read began (no writer runs) */
	assert_int_equal(before, conf_head(st));
	*last = 0;
	*n = 0;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		assert_true(e->position > *last);
		*last = e->position;
		(*n)++;
	}
	assert_status(rc, CAIRN_DONE);
	assert_status(cairn_iter_head(it, &head), CAIRN_OK);
	assert_true(head >= *last);
	assert_true(head <= conf_head(st));
	assert_status(cairn_iter_head(NULL, &head), CAIRN_INVALID);
	assert_status(cairn_iter_head(it, NULL), CAIRN_INVALID);
	assert_status(cairn_iter_head(it, &head), CAIRN_OK);
	cairn_iter_free(it);
	return head;
}

/* The head after a query read's DONE covers everything the read examined:
 * used as `after` it lets the append through when nothing new matches,
 * and stops it when a matching event came in after the read. */
static void
test_dcb_iter_head_as_after(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	const cairn_query *q = qb_one(&b, "Enrolled", "course:c1");
	uint64_t last, head;
	size_t n;

	/* an empty store: head 0, and after 0 holds */
	head = read_query_head(fx->st, q, 0, &last, &n);
	assert_int_equal(head, 0);
	assert_int_equal(n, 0);

	put(fx->st, "c", "Enrolled", "course:c1"); /* 1 */
	put(fx->st, "c", "Enrolled", "course:c2"); /* 2 */
	put(fx->st, "c", "Defined", "course:c1");  /* 3 */
	put(fx->st, "d", "Enrolled", "course:c1"); /* 4 */
	put(fx->st, "d", "Noise", "");             /* 5 */

	head = read_query_head(fx->st, q, 0, &last, &n);
	assert_int_equal(n, 2);
	assert_int_equal(last, 4);
	/* the whole store was examined: nothing was committed meanwhile */
	assert_int_equal(head, 5);
	cairn_append_result res;
	assert_status(put_if(fx->st, q, head, "e", CAIRN_ANY, "Enrolled",
	                     "course:c1", &res),
	              CAIRN_OK);
	assert_int_equal(res.first_position, 6);

	/* read, then a concurrent writer commits a matching event: the
	 * decision taken on the read conflicts on that event */
	head = read_query_head(fx->st, q, 0, &last, &n);
	assert_int_equal(head, 6);
	assert_int_equal(n, 3);
	put(fx->st, "x", "Noise", "course:c1");    /* 7: no match */
	put(fx->st, "x", "Enrolled", "course:c2"); /* 8: no match */
	conf_snap snap = conf_snapshot(fx->st);
	assert_status(put_if(fx->st, q, head, "e", CAIRN_ANY, "Enrolled",
	                     "course:c1", &res),
	              CAIRN_OK);
	assert_int_equal(res.first_position, 9);
	head = read_query_head(fx->st, q, 0, &last, &n);
	assert_int_equal(head, 9);
	put(fx->st, "y", "Enrolled", "course:c1 student:z"); /* 10 */
	snap = conf_snapshot(fx->st);
	assert_status(put_if(fx->st, q, head, "e", CAIRN_ANY, "Enrolled",
	                     "course:c1", &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_position, 10);
	assert_string_equal(res.conflict_stream, "y");
	assert_unchanged(fx->st, snap);
	/* read again and decide again: it holds */
	head = read_query_head(fx->st, q, 0, &last, &n);
	assert_int_equal(head, 10);
	assert_int_equal(last, 10);
	assert_status(put_if(fx->st, q, head, "e", CAIRN_ANY, "Enrolled",
	                     "course:c1", &res),
	              CAIRN_OK);

	/* a read that matched nothing still covers the store */
	struct qbuf nb;
	head = read_query_head(fx->st, qb_one(&nb, "Absent", ""), 0, &last, &n);
	assert_int_equal(n, 0);
	assert_int_equal(head, conf_head(fx->st));

	/* a read cut short by its limit does not claim the events it did
	 * not look at: its head stays below the next match it skipped, so
	 * that deciding on it cannot miss that match */
	head = read_query_head(fx->st, q, 1, &last, &n);
	assert_int_equal(n, 1);
	assert_int_equal(last, 1);
	assert_true(head < 4);
	assert_status(put_if(fx->st, q, head, "e", CAIRN_ANY, "Enrolled",
	                     "course:c1", &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_position, 4);
}

/* ---- concurrency ---- */

enum { NTHREADS = 8, RACE_ROUNDS = 100, DISJOINT_APPENDS = 100 };

struct race_shared {
	cairn_store *st;
	pthread_barrier_t barrier;
	const cairn_query *q;
	cairn_status rc[RACE_ROUNDS][NTHREADS];
	uint64_t seen[RACE_ROUNDS][NTHREADS];    /* head after the read */
	uint64_t matched[RACE_ROUNDS][NTHREADS]; /* events the read saw */
	uint64_t position[RACE_ROUNDS][NTHREADS];
	uint64_t conflict[RACE_ROUNDS][NTHREADS];
	cairn_status read_error;
};

struct race_arg {
	struct race_shared *sh;
	int thread;
};

/* Read the query's events to DONE; the count into *n, the head into
 * *head.  Returns the first failure or CAIRN_OK. */
static cairn_status
race_read(cairn_store *st, const cairn_query *q, uint64_t *n, uint64_t *head)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_status rc;

	ro.query = q;
	*n = 0;
	rc = cairn_read_all(st, &ro, &it);
	if (rc != CAIRN_OK)
		return rc;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
		(*n)++;
	if (rc == CAIRN_DONE)
		rc = cairn_iter_head(it, head);
	cairn_iter_free(it);
	return rc;
}

static void *
race_main(void *p)
{
	struct race_arg *a = p;
	struct race_shared *sh = a->sh;
	const char *tags[] = {"seat:1", "hall:a"};

	for (int r = 0; r < RACE_ROUNDS; r++) {
		uint64_t head = 0, n = 0;
		cairn_status rc;

		pthread_barrier_wait(&sh->barrier);
		rc = race_read(sh->st, sh->q, &n, &head);
		if (rc != CAIRN_OK)
			sh->read_error = rc;
		sh->seen[r][a->thread] = head;
		sh->matched[r][a->thread] = n;
		/* everyone decides on the same state */
		pthread_barrier_wait(&sh->barrier);
		char stream[32], data[64];
		snprintf(stream, sizeof stream, "booker-%d", a->thread);
		snprintf(data, sizeof data, "round=%d thread=%d", r, a->thread);
		cairn_new_event e = conf_ev("SeatBooked", data);
		e.tags = tags;
		e.ntags = 2;
		cairn_write w = {stream, CAIRN_ANY, &e, 1};
		cairn_append_result res;
		memset(&res, 0, sizeof res);
		sh->rc[r][a->thread] =
		        cairn_append_if(sh->st, sh->q, head, &w, 1, &res);
		sh->position[r][a->thread] = res.first_position;
		sh->conflict[r][a->thread] = res.conflict_position;
	}
	return NULL;
}

/* Eight threads read the same query, then append a matching event on
 * condition that nothing new matches, round after round: exactly one
 * wins each round, the others conflict on the winner's event, and the
 * store holds one event per round. */
static void
test_dcb_concurrent_one_winner(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	struct race_shared *sh = calloc(1, sizeof *sh);
	struct race_arg args[NTHREADS];
	pthread_t th[NTHREADS];

	assert_non_null(sh);
	put(fx->st, "noise", "Noise", "seat:1"); /* not a SeatBooked */
	sh->st = fx->st;
	sh->q = qb_one(&b, "SeatBooked", "seat:1");
	assert_int_equal(pthread_barrier_init(&sh->barrier, NULL, NTHREADS), 0);
	for (int t = 0; t < NTHREADS; t++) {
		args[t].sh = sh;
		args[t].thread = t;
		assert_int_equal(
		        pthread_create(&th[t], NULL, race_main, &args[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	pthread_barrier_destroy(&sh->barrier);
	assert_status(sh->read_error, CAIRN_OK);

	uint64_t winners_pos[RACE_ROUNDS] = {0};
	for (int r = 0; r < RACE_ROUNDS; r++) {
		int wins = 0;
		for (int t = 0; t < NTHREADS; t++) {
			assert_int_equal(sh->seen[r][t], sh->seen[r][0]);
			assert_int_equal(sh->matched[r][t], (uint64_t)r);
			if (sh->rc[r][t] == CAIRN_OK) {
				wins++;
				winners_pos[r] = sh->position[r][t];
				assert_int_equal(sh->position[r][t],
				                 sh->seen[r][t] + 1);
			}
		}
		if (wins != 1)
			print_error("round %d: %d winners\n", r, wins);
		assert_int_equal(wins, 1);
		for (int t = 0; t < NTHREADS; t++) {
			if (sh->rc[r][t] == CAIRN_OK)
				continue;
			assert_status(sh->rc[r][t], CAIRN_CONFLICT);
			assert_int_equal(sh->conflict[r][t], winners_pos[r]);
		}
	}
	assert_int_equal(conf_head(fx->st), 1 + RACE_ROUNDS);
	assert_int_equal(conf_stats(fx->st).events, 1 + RACE_ROUNDS);
	uint64_t last = 0;
	size_t n = 0;
	read_query_head(fx->st, sh->q, 0, &last, &n);
	assert_int_equal(n, RACE_ROUNDS);
	free(sh);
}

struct disjoint_arg {
	cairn_store *st;
	int thread;
	int ok;
	cairn_status first_error;
	char message[256];
};

/* Each thread decides on its own tag: other threads' events never match
 * its query, so none of its conditions may fail. */
static void *
disjoint_main(void *p)
{
	struct disjoint_arg *a = p;
	char tag[32], stream[32];
	const char *tags[1] = {tag};
	const char *types[1] = {"Owned"};

	snprintf(tag, sizeof tag, "owner:%d", a->thread);
	snprintf(stream, sizeof stream, "owner-%d", a->thread);
	cairn_query_item item = {types, 1, tags, 1};
	cairn_query q = {&item, 1};
	for (int i = 0; i < DISJOINT_APPENDS; i++) {
		uint64_t n = 0, head = 0;
		cairn_status rc = race_read(a->st, &q, &n, &head);
		if (rc == CAIRN_OK && n != (uint64_t)i)
			rc = CAIRN_CORRUPT;
		cairn_new_event e = conf_ev("Owned", "{}");
		e.tags = tags;
		e.ntags = 1;
		cairn_write w = {stream, i, &e, 1};
		if (rc == CAIRN_OK)
			rc = cairn_append_if(a->st, &q, head, &w, 1, NULL);
		if (rc != CAIRN_OK) {
			a->first_error = rc;
			snprintf(a->message, sizeof a->message, "append %d: %s",
			         i, cairn_last_error());
			return NULL;
		}
		a->ok++;
	}
	return NULL;
}

/* Eight threads append on conditions that concern only themselves, at
 * the same time (on lmdb, in shared commits): no condition fails because
 * of another thread's events. */
static void
test_dcb_concurrent_disjoint(void **state)
{
	conf_fixture *fx = *state;
	struct disjoint_arg args[NTHREADS];
	pthread_t th[NTHREADS];

	memset(args, 0, sizeof args);
	for (int t = 0; t < NTHREADS; t++) {
		args[t].st = fx->st;
		args[t].thread = t;
		assert_int_equal(
		        pthread_create(&th[t], NULL, disjoint_main, &args[t]),
		        0);
	}
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < NTHREADS; t++) {
		if (args[t].ok != DISJOINT_APPENDS)
			print_error("thread %d: %s: %s\n", t,
			            cairn_status_str(args[t].first_error),
			            args[t].message);
		assert_int_equal(args[t].ok, DISJOINT_APPENDS);
	}
	assert_int_equal(conf_head(fx->st), NTHREADS * DISJOINT_APPENDS);
}

/* A read that did not examine everything up to the head — backward from
 * below the head, or stopped by its limit even on its last row — must
 * not report the head: used as `after`, it would let a condition pass
 * over a matching event the read never looked at. */
static void
test_dcb_iter_head_partial_reads(void **state)
{
	conf_fixture *fx = *state;
	struct qbuf b;
	const cairn_query *q = qb_one(&b, "Enrolled", "course:c1");
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *e;
	cairn_append_result res;
	cairn_iter *it;
	uint64_t head;

	put(fx->st, "c", "Enrolled", "course:c1"); /* 1: match */
	put(fx->st, "c", "Noise", "");             /* 2 */
	put(fx->st, "c", "Enrolled", "course:c1"); /* 3: match */
	put(fx->st, "c", "Noise", "");             /* 4 */

	/* backward from 2: sees only position 1 */
	ro.query = q;
	ro.backwards = 1;
	ro.from = 2;
	assert_status(cairn_read_all(fx->st, &ro, &it), CAIRN_OK);
	assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	assert_int_equal(e->position, 1);
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	assert_status(cairn_iter_head(it, &head), CAIRN_OK);
	cairn_iter_free(it);
	assert_true(head < 3);
	assert_status(put_if(fx->st, q, head, "e", CAIRN_ANY, "Enrolled",
	                     "course:c1", &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_position, 3);

	/* forward with limit 1: one row, then the head at once */
	ro.backwards = 0;
	ro.from = 0;
	ro.limit = 1;
	assert_status(cairn_read_all(fx->st, &ro, &it), CAIRN_OK);
	assert_status(cairn_iter_next(it, &e), CAIRN_ROW);
	assert_int_equal(e->position, 1);
	assert_status(cairn_iter_head(it, &head), CAIRN_OK);
	cairn_iter_free(it);
	assert_int_equal(head, 1);
	assert_status(put_if(fx->st, q, head, "e", CAIRN_ANY, "Enrolled",
	                     "course:c1", &res),
	              CAIRN_CONFLICT);
	assert_int_equal(res.conflict_position, 3);
}

static const struct CMUnitTest dcb_tests[] = {
        CONF_TEST(test_dcb_passes_when_nothing_matches_after),
        CONF_TEST(test_dcb_conflict_writes_nothing),
        CONF_TEST(test_dcb_match_type_only),
        CONF_TEST(test_dcb_match_tags_only),
        CONF_TEST(test_dcb_match_type_and_tags),
        CONF_TEST(test_dcb_multi_item_or),
        CONF_TEST(test_dcb_match_everything_and_nothing),
        CONF_TEST(test_dcb_conflict_names_first_match),
        CONF_TEST(test_dcb_idempotent_repeat),
        CONF_TEST(test_dcb_expected_versions_checked),
        CONF_TEST(test_dcb_invalid),
        CONF_TEST(test_dcb_query_reads),
        CONF_TEST(test_dcb_iter_head_as_after),
        CONF_TEST(test_dcb_iter_head_partial_reads),
        CONF_TEST(test_dcb_concurrent_one_winner),
        CONF_TEST(test_dcb_concurrent_disjoint),
};

int
conf_group_dcb(void)
{
	return cmocka_run_group_tests_name("dcb", dcb_tests, conf_group_setup,
	                                   conf_group_teardown);
}
