/*
 * test_list.c -- cairn_list_streams: byte order, prefixes (with bytes that
 * are wildcards or escapes elsewhere), paging with the after cursor,
 * limits, and the per-stream information.
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *odd_names[] = {
	"a%b", "a_b", "a\\b", "a'b", "a\"b", "a b", "a*b", "a?b", "a[b]",
	"a%", "a_", "a\\", "aXb", "ab", "a", "A", "z", "~", "ä", "日本",
	"a.b", "a/b", "a-b", "a%%", "a\\%", "a^b", "a$b", "a|b", "a{1}",
	"a%c", "b%", "_", "%", "\\",
};
#define NODD (sizeof odd_names / sizeof odd_names[0])

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Create one event on each name, in one multi-stream append. */
static void create_streams(cairn_store *st, const char **names, size_t n)
{
	cairn_new_event e = conf_ev("T", "{}");
	cairn_write *w = calloc(n, sizeof *w);
	assert_non_null(w);
	for (size_t i = 0; i < n; i++) {
		w[i].stream = names[i];
		w[i].expected = CAIRN_NO_STREAM;
		w[i].events = &e;
		w[i].nevents = 1;
	}
	assert_status(cairn_append_multi(st, w, n, NULL), CAIRN_OK);
	free(w);
}

/* The names of the model that start with prefix and sort after after,
 * in byte order, at most limit (0 = all). */
static size_t model_list(const char **sorted, size_t n, const char *prefix,
                         const char *after, size_t limit, const char **out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (prefix != NULL &&
		    strncmp(sorted[i], prefix, strlen(prefix)) != 0)
			continue;
		if (after != NULL && strcmp(sorted[i], after) <= 0)
			continue;
		if (limit != 0 && k == limit)
			break;
		out[k++] = sorted[i];
	}
	return k;
}

static void check_list(cairn_store *st, const char **sorted, size_t n,
                       const char *prefix, const char *after, size_t limit)
{
	const char **want = calloc(n + 1, sizeof *want);
	assert_non_null(want);
	size_t nwant = model_list(sorted, n, prefix, after, limit, want);
	conf_stream *ls;
	size_t got = conf_list(st, prefix, after, limit, &ls);
	if (got != nwant)
		print_error("prefix \"%s\" after \"%s\" limit %zu: got %zu, "
		            "want %zu\n",
		            prefix ? prefix : "(null)", after ? after : "(null)",
		            limit, got, nwant);
	assert_int_equal(got, nwant);
	for (size_t i = 0; i < got; i++)
		assert_string_equal(ls[i].stream, want[i]);
	conf_streams_free(ls, got);
	free(want);
}

/* Streams come in byte order; prefixes match bytes literally ('%', '_',
 * '\\', '*', '[' are not wildcards); after is strictly after. */
static void test_list_prefix_literal_bytes(void **state)
{
	conf_fixture *fx = *state;
	create_streams(fx->st, odd_names, NODD);
	const char *sorted[NODD];
	memcpy(sorted, odd_names, sizeof sorted);
	qsort(sorted, NODD, sizeof sorted[0], cmp_str);

	check_list(fx->st, sorted, NODD, NULL, NULL, 0);
	check_list(fx->st, sorted, NODD, "", "", 0);
	const char *prefixes[] = {"a%", "a_", "a\\", "a[", "a*", "a", "a%%",
	                          "a\\%", "%", "_", "\\", "ä", "日", "日本",
	                          "a%b", "nothing", "a%bc", "A", "~"};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		check_list(fx->st, sorted, NODD, prefixes[i], NULL, 0);
		check_list(fx->st, sorted, NODD, prefixes[i], NULL, 1);
		check_list(fx->st, sorted, NODD, prefixes[i], prefixes[i], 0);
	}
	/* explicit expectations, independent of the model */
	conf_stream *ls;
	size_t n = conf_list(fx->st, "a_", NULL, 0, &ls);
	assert_int_equal(n, 2);
	assert_string_equal(ls[0].stream, "a_");
	assert_string_equal(ls[1].stream, "a_b");
	conf_streams_free(ls, n);
	n = conf_list(fx->st, "a%", NULL, 0, &ls);
	assert_int_equal(n, 4);
	conf_streams_free(ls, n);
	n = conf_list(fx->st, "nothing", NULL, 0, &ls);
	assert_int_equal(n, 0);
	conf_streams_free(ls, n);

	/* after names that are and are not streams */
	const char *afters[] = {"a", "a%", "a%a", "aa", "Z", "~", "~~", "!",
	                        "日本", "a\\"};
	for (size_t i = 0; i < sizeof afters / sizeof afters[0]; i++) {
		check_list(fx->st, sorted, NODD, NULL, afters[i], 0);
		check_list(fx->st, sorted, NODD, "a", afters[i], 3);
	}
}

/* Paging with the after cursor visits every stream once, in order. */
static void test_list_paging(void **state)
{
	conf_fixture *fx = *state;
	enum { N = 57 };
	char names[N][32];
	const char *ptrs[N + 4];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "page-%03d", (i * 37) % N);
		ptrs[i] = names[i];
	}
	/* neighbours outside the prefix, on both sides */
	ptrs[N] = "pagd";
	ptrs[N + 1] = "pagf";
	ptrs[N + 2] = "page"; /* shorter than the prefix */
	ptrs[N + 3] = "page-"; /* equal to the prefix: included */
	create_streams(fx->st, ptrs, N + 4);

	const size_t limits[] = {1, 7, 10, 58, 1000};
	for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
		size_t limit = limits[li];
		char after[CAIRN_STREAM_ID_MAX + 1] = "";
		size_t total = 0, pages = 0;
		char prev[CAIRN_STREAM_ID_MAX + 1] = "";
		for (;;) {
			conf_stream *ls;
			size_t got = conf_list(fx->st, "page-", after, limit, &ls);
			pages++;
			assert_true(got <= limit);
			for (size_t i = 0; i < got; i++) {
				assert_int_equal(strncmp(ls[i].stream, "page-", 5), 0);
				if (total + i > 0)
					assert_true(strcmp(ls[i].stream, prev) > 0);
				snprintf(prev, sizeof prev, "%s", ls[i].stream);
				assert_int_equal(ls[i].version, 1);
			}
			if (got > 0)
				snprintf(after, sizeof after, "%s", ls[got - 1].stream);
			total += got;
			conf_streams_free(ls, got);
			if (got < limit)
				break;
			assert_true(pages < 200);
		}
		assert_int_equal(total, N + 1);
		assert_int_equal(pages, (N + 1) / limit + 1);
	}

	/* the whole store, paged by 5 without prefix */
	char after[CAIRN_STREAM_ID_MAX + 1] = "";
	size_t total = 0;
	for (;;) {
		conf_stream *ls;
		size_t got = conf_list(fx->st, NULL, after, 5, &ls);
		if (got > 0)
			snprintf(after, sizeof after, "%s", ls[got - 1].stream);
		total += got;
		conf_streams_free(ls, got);
		if (got < 5)
			break;
	}
	assert_int_equal(total, N + 4);
}

/* limit 0 means CAIRN_LIST_DEFAULT_LIMIT. */
static void test_list_default_limit(void **state)
{
	conf_fixture *fx = *state;
	enum { N = CAIRN_LIST_DEFAULT_LIMIT + 5 };
	char (*names)[16] = calloc(N, sizeof *names);
	const char **ptrs = calloc(N, sizeof *ptrs);
	assert_non_null(names);
	assert_non_null(ptrs);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "d-%05d", i);
		ptrs[i] = names[i];
	}
	create_streams(fx->st, ptrs, N);
	conf_stream *ls;
	size_t n = conf_list(fx->st, NULL, NULL, 0, &ls);
	assert_int_equal(n, CAIRN_LIST_DEFAULT_LIMIT);
	assert_string_equal(ls[0].stream, "d-00000");
	assert_string_equal(ls[n - 1].stream, names[CAIRN_LIST_DEFAULT_LIMIT - 1]);
	conf_streams_free(ls, n);
	n = conf_list(fx->st, "d-", names[CAIRN_LIST_DEFAULT_LIMIT - 1], 0, &ls);
	assert_int_equal(n, 5);
	conf_streams_free(ls, n);
	assert_int_equal(conf_stats(fx->st).streams, N);
	free(names);
	free(ptrs);
}

/* Each listed stream carries its version, newest position and the times
 * of its first and newest events. */
static void test_list_stream_info(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "info-a", 3);
	conf_fill(fx->st, "info-b", 1);
	conf_fill(fx->st, "info-a", 2);
	conf_fill(fx->st, "zzz", 1);
	conf_stream *ls;
	size_t n = conf_list(fx->st, "info-", NULL, 0, &ls);
	assert_int_equal(n, 2);
	const char *names[2] = {"info-a", "info-b"};
	const uint64_t versions[2] = {5, 1};
	const uint64_t last_pos[2] = {6, 4};
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(ls[i].stream, names[i]);
		assert_int_equal(ls[i].stream_len, strlen(names[i]));
		assert_int_equal(ls[i].version, versions[i]);
		assert_int_equal(ls[i].last_position, last_pos[i]);
		assert_true(ls[i].created_ns > 0);
		assert_true(ls[i].created_ns <= ls[i].updated_ns);
		conf_rec *recs;
		size_t k = conf_read_stream(fx->st, names[i], NULL, &recs);
		assert_int_equal(k, versions[i]);
		assert_int_equal(ls[i].created_ns, recs[0].time_ns);
		assert_int_equal(ls[i].updated_ns, recs[k - 1].time_ns);
		conf_recs_free(recs, k);
	}
	conf_streams_free(ls, n);
}

/* Bad arguments to cairn_list_streams. */
static void test_list_invalid(void **state)
{
	conf_fixture *fx = *state;
	conf_fill(fx->st, "x", 1);
	char longer[CAIRN_STREAM_ID_MAX + 2];
	memset(longer, 'x', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	char max[CAIRN_STREAM_ID_MAX + 1];
	memset(max, 'x', sizeof max - 1);
	max[sizeof max - 1] = '\0';
	cairn_stream_iter *si = NULL;
	assert_status(cairn_list_streams(NULL, NULL, NULL, 0, &si),
	              CAIRN_INVALID);
	assert_status(cairn_list_streams(fx->st, NULL, NULL, 0, NULL),
	              CAIRN_INVALID);
	assert_status(cairn_list_streams(fx->st, longer, NULL, 0, &si),
	              CAIRN_INVALID);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_status(cairn_list_streams(fx->st, NULL, longer, 0, &si),
	              CAIRN_INVALID);
	/* 255 bytes are fine for both */
	conf_stream *ls;
	size_t n = conf_list(fx->st, max, NULL, 0, &ls);
	assert_int_equal(n, 0);
	conf_streams_free(ls, n);
	n = conf_list(fx->st, NULL, max, 0, &ls);
	assert_int_equal(n, 0);
	conf_streams_free(ls, n);
	n = conf_list(fx->st, "x", NULL, 0, &ls);
	assert_int_equal(n, 1);
	conf_streams_free(ls, n);
}

static const struct CMUnitTest list_tests[] = {
	CONF_TEST(test_list_prefix_literal_bytes),
	CONF_TEST(test_list_paging),
	CONF_TEST(test_list_default_limit),
	CONF_TEST(test_list_stream_info),
	CONF_TEST(test_list_invalid),
};

int conf_group_list(void)
{
	return cmocka_run_group_tests_name("list", list_tests, conf_group_setup,
	                                   conf_group_teardown);
}
