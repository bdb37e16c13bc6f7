/*
 * test_big.c -- a 1,000,000-event stream is read (and folded) in constant
 * memory, every version once and in order.
 *
 * Skipped when CAIRN_SKIP_BIG=1 (the sanitizer CI job may set it).
 *
 * What "constant memory" is measured as:
 *   - RssAnon from /proc/self/status: anonymous memory the process really
 *     holds.  File-backed pages are deliberately not counted: the lmdb
 *     backend hands out pointers into its memory map, and pages of that
 *     map that a read touches are the kernel's page cache (RssFile), which
 *     the kernel reclaims as needed, not memory the read allocated.
 *   - the live heap (glibc mallinfo2, or the sanitizer allocator's count
 *     under ASan, where RssAnon also holds shadow memory and the
 *     quarantine of freed blocks and says little about the library).
 * Both are sampled before the read and every 100,000 events; the growth
 * must stay under 64 MiB, a generous bound: a materialised million-event
 * stream costs several hundred MiB.
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define CONF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONF_ASAN 1
#endif
#endif

#if defined(CONF_ASAN)
/* from <sanitizer/allocator_interface.h>, which not every gcc ships */
size_t __sanitizer_get_current_allocated_bytes(void);
#elif defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 33)
#include <malloc.h>
#define CONF_MALLINFO2 1
#endif
#endif

enum {
	BIG_EVENTS = 1000000,
	BIG_BATCH = 1000,
	BIG_SAMPLE_EVERY = 100000,
};
#define BIG_MAX_GROWTH (64.0 * 1024 * 1024)

/* Anonymous resident memory in bytes, or -1 where /proc is missing. */
static double rss_anon_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	char line[256];
	double kib = -1;
	while (fgets(line, sizeof line, f) != NULL) {
		long v;
		if (sscanf(line, "RssAnon: %ld kB", &v) == 1) {
			kib = (double)v;
			break;
		}
	}
	fclose(f);
	return kib < 0 ? -1 : kib * 1024;
}

/* Live heap bytes, or -1 when unknown. */
static double heap_bytes(void)
{
#if defined(CONF_ASAN)
	return (double)__sanitizer_get_current_allocated_bytes();
#elif defined(CONF_MALLINFO2)
	struct mallinfo2 mi = mallinfo2();
	return (double)mi.uordblks + (double)mi.hblkhd;
#else
	return -1;
#endif
}

struct mem_watch {
	double rss0, heap0;
	double rss_peak, heap_peak;
};

static void watch_start(struct mem_watch *w)
{
	w->rss0 = w->rss_peak = rss_anon_bytes();
	w->heap0 = w->heap_peak = heap_bytes();
}

static void watch_sample(struct mem_watch *w)
{
	double r = rss_anon_bytes(), h = heap_bytes();
	if (r > w->rss_peak)
		w->rss_peak = r;
	if (h > w->heap_peak)
		w->heap_peak = h;
}

static void watch_check(const struct mem_watch *w, const char *what)
{
	double rss_growth = w->rss_peak - w->rss0;
	double heap_growth = w->heap_peak - w->heap0;
	printf("[     INFO ] %s: RssAnon %.1f -> peak %.1f MiB (+%.1f), "
	       "heap %.1f -> peak %.1f MiB (+%.1f)\n",
	       what, w->rss0 / 1048576, w->rss_peak / 1048576,
	       rss_growth / 1048576, w->heap0 / 1048576, w->heap_peak / 1048576,
	       heap_growth / 1048576);
#if !defined(CONF_ASAN)
	if (w->rss0 >= 0 && rss_growth >= BIG_MAX_GROWTH)
		print_error("%s: RssAnon grew by %.1f MiB\n", what,
		            rss_growth / 1048576);
	if (w->rss0 >= 0)
		assert_true(rss_growth < BIG_MAX_GROWTH);
#endif
	if (w->heap0 >= 0 && heap_growth >= BIG_MAX_GROWTH)
		print_error("%s: the heap grew by %.1f MiB\n", what,
		            heap_growth / 1048576);
	if (w->heap0 >= 0)
		assert_true(heap_growth < BIG_MAX_GROWTH);
}

struct big_fold {
	uint64_t next;
	struct mem_watch *watch;
	int bad;
};

static cairn_status big_fold_fn(void *p, const cairn_event *e)
{
	struct big_fold *f = p;
	if (e->version != f->next) {
		f->bad = 1;
		return CAIRN_CORRUPT;
	}
	if (f->next % BIG_SAMPLE_EVERY == 0)
		watch_sample(f->watch);
	f->next++;
	return CAIRN_OK;
}

static void test_million_event_stream_flat_memory(void **state)
{
	conf_fixture *fx = *state;
	if (conf_env_flag("CAIRN_SKIP_BIG"))
		skip();
	cairn_options o;
	cairn_options_init(&o);
	/* 1000 commits; durability is not what this test is about */
	o.durability = CAIRN_RELAXED;
	open_fresh_store(fx, &o);

	double t0 = conf_now();
	cairn_new_event *evs = calloc(BIG_BATCH, sizeof *evs);
	assert_non_null(evs);
	for (int i = 0; i < BIG_BATCH; i++)
		evs[i] = conf_ev("Tick", "{\"n\":1}");
	for (int b = 0; b < BIG_EVENTS / BIG_BATCH; b++) {
		cairn_status rc = cairn_append(fx->st, "big-1", (int64_t)b * BIG_BATCH,
		                               evs, BIG_BATCH, NULL);
		if (rc != CAIRN_OK)
			print_error("batch %d\n", b);
		assert_status(rc, CAIRN_OK);
	}
	free(evs);
	assert_int_equal(conf_version(fx->st, "big-1"), BIG_EVENTS);
	double t1 = conf_now();

	/* forward read */
	struct mem_watch w;
	watch_start(&w);
	cairn_iter *it = NULL;
	assert_status(cairn_read_stream(fx->st, "big-1", NULL, &it), CAIRN_OK);
	const cairn_event *e;
	cairn_status rc;
	uint64_t next = 1;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		if (e->version != next || e->position != next || e->data_len != 7) {
			print_error("event %llu: version %llu position %llu\n",
			            (unsigned long long)next,
			            (unsigned long long)e->version,
			            (unsigned long long)e->position);
			cairn_iter_free(it);
			fail();
		}
		if (next % BIG_SAMPLE_EVERY == 0)
			watch_sample(&w);
		next++;
	}
	watch_sample(&w);
	cairn_iter_free(it);
	assert_status(rc, CAIRN_DONE);
	assert_int_equal(next - 1, BIG_EVENTS);
	watch_check(&w, "forward read");
	double t2 = conf_now();

	/* a fold after half of it */
	struct mem_watch fw;
	watch_start(&fw);
	struct big_fold f = {BIG_EVENTS / 2 + 1, &fw, 0};
	assert_status(cairn_fold_stream(fx->st, "big-1", BIG_EVENTS / 2,
	                                big_fold_fn, &f),
	              CAIRN_OK);
	watch_sample(&fw);
	assert_false(f.bad);
	assert_int_equal(f.next - 1, BIG_EVENTS);
	watch_check(&fw, "fold");

	/* stream_version is O(1): as cheap on the million-event stream as on
	 * a one-event stream (generous factor: timing on shared hosts) */
	conf_fill(fx->st, "small-1", 1);
	enum { CALLS = 20000 };
	double ts0 = conf_now();
	for (int i = 0; i < CALLS; i++) {
		uint64_t v = 0;
		cairn_stream_version(fx->st, "small-1", &v);
		assert_int_equal(v, 1);
	}
	double ts1 = conf_now();
	for (int i = 0; i < CALLS; i++) {
		uint64_t v = 0;
		cairn_stream_version(fx->st, "big-1", &v);
		assert_int_equal(v, BIG_EVENTS);
	}
	double ts2 = conf_now();
	printf("[     INFO ] stream_version: %.2f us (1 event), %.2f us "
	       "(1,000,000 events)\n",
	       (ts1 - ts0) * 1e6 / CALLS, (ts2 - ts1) * 1e6 / CALLS);
	assert_true(ts2 - ts1 < 10 * (ts1 - ts0) + 0.1);

	/* the end of it backwards, through $all */
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	ro.backwards = 1;
	ro.limit = 3;
	conf_rec *recs;
	size_t n = conf_read_all(fx->st, &ro, &recs);
	assert_int_equal(n, 3);
	assert_int_equal(recs[0].position, BIG_EVENTS + 1); /* small-1 */
	assert_int_equal(recs[1].position, BIG_EVENTS);
	assert_int_equal(recs[2].version, BIG_EVENTS - 1);
	conf_recs_free(recs, n);
	printf("[     INFO ] append %.2f s, read %.2f s, fold %.2f s\n", t1 - t0,
	       t2 - t1, conf_now() - t2);
}

static const struct CMUnitTest big_tests[] = {
	CONF_TEST(test_million_event_stream_flat_memory),
};

int conf_group_big(void)
{
	return cmocka_run_group_tests_name("big", big_tests, conf_group_setup,
	                                   conf_group_teardown);
}
