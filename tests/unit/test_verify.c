/*
 * test_verify.c -- cairn_verify() finds a disagreement between the two
 * orders of a store, by stream and by position, and says which event.
 *
 * The store is the memory engine under a lying read_stream(): one event
 * of one stream comes back with another id, another position, or not at
 * all, while $all stays right.  The walk's digests then differ, and the
 * second walk (a lookup in $all per stream event) must name the event.
 * A store that does not lie must verify clean, with no second walk.
 */
#include "unit.h"

#include "backend.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

enum lie { TRUTH, OTHER_ID, OTHER_POSITION, SWAPPED, DROPPED };

static struct {
	enum lie lie;
	const char *stream; /* the stream whose reads lie */
	uint64_t version;   /* about this event of it */
	unsigned stream_reads;
	unsigned all_reads;
} liar;

static cairn__backend_ops liar_ops;

typedef struct liar_iter {
	cairn__iter base;
	cairn__iter *inner;
	cairn_event copy;
} liar_iter;

static cairn_status
liar_next(cairn__iter *base, const cairn_event **ev)
{
	liar_iter *it = (liar_iter *)base;
	cairn_status rc;

	for (;;) {
		rc = it->inner->ops->next(it->inner, ev);
		if (rc != CAIRN_ROW || strcmp((*ev)->stream, liar.stream) != 0)
			return rc;
		if (liar.lie == SWAPPED && (*ev)->version == liar.version + 1) {
			/* a's version 4 is at position 9: said to be at 6 */
			it->copy = **ev;
			it->copy.position = 6;
			*ev = &it->copy;
			return rc;
		}
		if ((*ev)->version != liar.version)
			return rc;
		it->copy = **ev;
		switch (liar.lie) {
		case OTHER_ID:
			it->copy.id.bytes[3] ^= 0x40;
			break;
		case OTHER_POSITION:
			/* 6 -> 5, still between versions 2 and 4: only the
			 * lookup in $all can tell (b's version 2 is there) */
			it->copy.position = 5;
			break;
		case SWAPPED:
			/* a's version 3 is at position 6: said to be at 9 */
			it->copy.position = 9;
			break;
		case DROPPED:
			continue;
		case TRUTH:
			break;
		}
		*ev = &it->copy;
		return rc;
	}
}

static void
liar_free(cairn__iter *base)
{
	liar_iter *it = (liar_iter *)base;

	it->inner->ops->free(it->inner);
	free(it);
}

static const cairn__iter_ops liar_iter_ops = {liar_next, liar_free, NULL,
                                               NULL};

static cairn_status
liar_read_stream(cairn__backend *be, const char *stream, size_t len,
                 const cairn_read_opts *opts, cairn__iter **out)
{
	cairn__iter *inner = NULL;
	liar_iter *it;
	cairn_status rc;

	liar.stream_reads++;
	rc = cairn__memory_backend.read_stream(be, stream, len, opts, &inner);
	if (rc != CAIRN_OK)
		return rc;
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		inner->ops->free(inner);
		return CAIRN_NOMEM;
	}
	it->base.ops = &liar_iter_ops;
	it->inner = inner;
	*out = &it->base;
	return CAIRN_OK;
}

static cairn_status
liar_read_all(cairn__backend *be, const cairn_read_opts *opts,
              cairn__iter **out)
{
	liar.all_reads++;
	return cairn__memory_backend.read_all(be, opts, out);
}

/* A memory store under the liar, holding 3 streams, one event per
 * append: positions 1-9 hold a b a c b a c b a, so a's versions 1-4 are
 * at positions 1, 3, 6 and 9. */
static cairn_store *
liar_open(enum lie lie)
{
	static const char *const order[] = {"a", "b", "a", "c", "b",
	                                    "a", "c", "b", "a"};
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_append_result res;
	cairn_options opts;
	cairn__backend *be = NULL;
	cairn_store *st = NULL;
	size_t i;

	memset(&liar, 0, sizeof(liar));
	liar.stream = "a";
	liar.version = 3;
	liar_ops = cairn__memory_backend;
	liar_ops.scheme = "liar";
	liar_ops.read_stream = liar_read_stream;
	liar_ops.read_all = liar_read_all;
	cairn_options_init(&opts);
	assert_int_equal(cairn__memory_backend.open("", &opts, &be), CAIRN_OK);
	assert_int_equal(cairn__store_new(&liar_ops, be, &opts, &st),
	                 CAIRN_OK);
	ev.type = "T";
	ev.data = "{}";
	ev.data_len = 2;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		assert_int_equal(cairn_append(st, order[i], CAIRN_ANY, &ev, 1,
		                              &res),
		                 CAIRN_OK);
	liar.lie = lie;
	liar.stream_reads = liar.all_reads = 0;
	return st;
}

typedef struct found {
	char text[4][400];
	unsigned n;
} found;

static void
collect(void *ctx, const char *problem)
{
	found *f = ctx;

	if (f->n < 4)
		snprintf(f->text[f->n], sizeof(f->text[0]), "%s", problem);
	f->n++;
}

static int
mentions(const found *f, const char *what)
{
	unsigned i;

	for (i = 0; i < f->n && i < 4; i++)
		if (strstr(f->text[i], what) != NULL)
			return 1;
	return 0;
}

static void
truth_verifies_clean_in_two_reads(void **state)
{
	cairn_store *st = liar_open(TRUTH);
	uint64_t problems = 99;
	found f = {.n = 0};

	(void)state;
	assert_int_equal(cairn_verify(st, collect, &f, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);
	/* one walk of $all, one read per stream: no lookup per event */
	assert_int_equal(liar.all_reads, 1);
	assert_int_equal(liar.stream_reads, 3);
	cairn_close(st);
}

static void
other_id_is_named(void **state)
{
	cairn_store *st = liar_open(OTHER_ID);
	uint64_t problems = 0;
	found f = {.n = 0};

	(void)state;
	assert_int_equal(cairn_verify(st, collect, &f, &problems), CAIRN_OK);
	assert_int_equal(problems, 1);
	assert_true(mentions(&f, "stream 'a' version 3 and position 6 in "
	                         "$all are different events"));
	cairn_close(st);
}

static void
other_position_is_named(void **state)
{
	cairn_store *st = liar_open(OTHER_POSITION);
	uint64_t problems = 0;
	found f = {.n = 0};

	(void)state;
	assert_int_equal(cairn_verify(st, collect, &f, &problems), CAIRN_OK);
	assert_int_equal(problems, 1);
	assert_true(mentions(&f, "stream 'a' version 3 and position 5 in "
	                         "$all are different events"));
	cairn_close(st);
}

/* Two events of one stream with their positions traded: the counts hold,
 * the digests differ, and the lookups name both events. */
static void
swapped_positions_are_named(void **state)
{
	cairn_store *st = liar_open(SWAPPED);
	uint64_t problems = 0;
	found f = {.n = 0};

	(void)state;
	assert_int_equal(cairn_verify(st, collect, &f, &problems), CAIRN_OK);
	assert_true(problems >= 1);
	assert_true(mentions(&f, "are different events"));
	cairn_close(st);
}

static void
dropped_event_is_found(void **state)
{
	cairn_store *st = liar_open(DROPPED);
	uint64_t problems = 0;
	found f = {.n = 0};

	(void)state;
	assert_int_equal(cairn_verify(st, collect, &f, &problems), CAIRN_OK);
	assert_true(problems >= 1);
	assert_true(mentions(&f, "$all holds 9 events but the streams hold 8"));
	cairn_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(truth_verifies_clean_in_two_reads),
	        cmocka_unit_test(other_id_is_named),
	        cmocka_unit_test(other_position_is_named),
	        cmocka_unit_test(swapped_positions_are_named),
	        cmocka_unit_test(dropped_event_is_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
