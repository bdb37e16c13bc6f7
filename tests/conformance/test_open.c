/*
 * test_open.c -- opening stores, bad URIs, status names, the thread-local
 * error record, and what an empty store looks like.
 */
#include "conformance.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every status has a distinct, non-empty name; unknown values give
 * "unknown"; the documented example holds. */
static void test_status_str_every_code(void **state)
{
	(void)state;
	const cairn_status last = CAIRN_INVALID_TAG;
	for (int a = CAIRN_OK; a <= (int)last; a++) {
		const char *s = cairn_status_str((cairn_status)a);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, "unknown");
		for (int b = CAIRN_OK; b < a; b++)
			assert_string_not_equal(s, cairn_status_str((cairn_status)b));
	}
	assert_string_equal(cairn_status_str(CAIRN_CONFLICT), "conflict");
	assert_string_equal(cairn_status_str((cairn_status)9999), "unknown");
	assert_string_equal(cairn_status_str((cairn_status)-1), "unknown");
}

static void expect_open_fails(const char *uri, const cairn_options *opts,
                              cairn_status want)
{
	cairn_store *st = NULL;
	cairn_status rc = cairn_open(uri, opts, &st);
	if (rc != want)
		print_error("cairn_open(\"%s\")\n", uri != NULL ? uri : "(null)");
	assert_status(rc, want);
	assert_true(strlen(cairn_last_error()) > 0);
	if (rc == CAIRN_OK) /* only reached if want was OK */
		cairn_close(st);
}

/* cairn_open refuses malformed URIs with the documented statuses. */
static void test_open_bad_uris(void **state)
{
	(void)state;
	assert_status(cairn_open("memory:", NULL, NULL), CAIRN_INVALID);
	assert_true(strlen(cairn_last_error()) > 0);
	expect_open_fails(NULL, NULL, CAIRN_INVALID);
	expect_open_fails("", NULL, CAIRN_INVALID_URI);
	expect_open_fails("nosuchscheme:x", NULL, CAIRN_INVALID_URI);
	expect_open_fails("lmdb", NULL, CAIRN_INVALID_URI);
	expect_open_fails("memory", NULL, CAIRN_INVALID_URI);
	expect_open_fails(":nothing", NULL, CAIRN_INVALID_URI);
	expect_open_fails("memory:junk", NULL, CAIRN_INVALID_URI);
	expect_open_fails("lmdb:", NULL, CAIRN_INVALID_URI);

	/* an overlong path */
	size_t n = 70000;
	char *uri = malloc(n + 1);
	assert_non_null(uri);
	memcpy(uri, "lmdb:/", 6);
	memset(uri + 6, 'a', n - 6);
	uri[n] = '\0';
	expect_open_fails(uri, NULL, CAIRN_INVALID_URI);
	free(uri);

	/* options of an unknown version */
	cairn_options o;
	cairn_options_init(&o);
	assert_int_equal(o.version, CAIRN_OPTIONS_VERSION);
	o.version = CAIRN_OPTIONS_VERSION + 1000;
	expect_open_fails("memory:", &o, CAIRN_INVALID);
	cairn_options_init(&o);
	o.durability = (cairn_durability)7;
	expect_open_fails("memory:", &o, CAIRN_INVALID);
}

/* A store directory that cannot be created is CAIRN_IO, not a crash. */
static void test_open_unusable_path(void **state)
{
	conf_fixture *fx = *state;
	/* no path: memory; a schema name (postgres), not a path */
	if (strstr(conf_be->uri_format, "%s") == NULL ||
	    strstr(conf_be->uri_format, "schema=%s") != NULL)
		skip();
	char dir[1100], file[1200], uri[1400];
	conf_scratch_dir(fx, dir, sizeof dir);
	snprintf(file, sizeof file, "%s/plain-file", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("not a directory\n", f);
	fclose(f);
	char path[1300];
	snprintf(path, sizeof path, "%s/sub", file);
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
	snprintf(uri, sizeof uri, conf_be->uri_format, path);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
	expect_open_fails(uri, NULL, CAIRN_IO);
}

/* The store names its backend. */
static void test_store_backend_name(void **state)
{
	conf_fixture *fx = *state;
	const char *name = cairn_store_backend(fx->st);
	assert_non_null(name);
	assert_string_equal(name, conf_be->name);
}

static void count_problem(void *ctx, const char *problem)
{
	(void)problem;
	(*(int *)ctx)++;
}

/* A fresh store is empty everywhere and verifies clean. */
static void test_empty_store(void **state)
{
	conf_fixture *fx = *state;
	assert_int_equal(conf_head(fx->st), 0);
	cairn_stats s = conf_stats(fx->st);
	assert_int_equal(s.events, 0);
	assert_int_equal(s.streams, 0);
	assert_int_equal(s.head, 0);
	assert_int_equal(conf_version(fx->st, "nothing-here"), 0);

	conf_rec *r;
	assert_int_equal(conf_read_all(fx->st, NULL, &r), 0);
	conf_recs_free(r, 0);
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	ro.backwards = 1;
	assert_int_equal(conf_read_all(fx->st, &ro, &r), 0);
	conf_recs_free(r, 0);
	conf_stream *ls;
	assert_int_equal(conf_list(fx->st, NULL, NULL, 0, &ls), 0);
	conf_streams_free(ls, 0);

	int calls = 0;
	uint64_t problems = 99;
	assert_status(cairn_verify(fx->st, count_problem, &calls, &problems),
	              CAIRN_OK);
	assert_int_equal(problems, 0);
	assert_int_equal(calls, 0);
}

/* Closing NULL handles is a no-op; freeing NULL iterators too. */
static void test_null_free_is_noop(void **state)
{
	(void)state;
	cairn_close(NULL);
	cairn_iter_free(NULL);
	cairn_stream_iter_free(NULL);
	assert_status(cairn_iter_next(NULL, NULL), CAIRN_INVALID);
	const cairn_stream_info *info;
	assert_status(cairn_stream_iter_next(NULL, &info), CAIRN_INVALID);
}

struct err_thread {
	cairn_store *st;
	cairn_status rc;
	char msg[512];
};

static void *err_thread_main(void *arg)
{
	struct err_thread *t = arg;
	t->rc = conf_append_text(t->st, "", CAIRN_ANY, "T", "x", NULL);
	snprintf(t->msg, sizeof t->msg, "%s", cairn_last_error());
	return NULL;
}

/* cairn_last_error() is per thread: another thread's failure does not
 * overwrite this thread's message. */
static void test_last_error_thread_local(void **state)
{
	conf_fixture *fx = *state;
	cairn_status rc = conf_append_text(fx->st, "acc-1", CAIRN_ANY, "", "x",
	                                   NULL);
	assert_status(rc, CAIRN_INVALID_TYPE);
	char mine[512];
	snprintf(mine, sizeof mine, "%s", cairn_last_error());
	assert_true(strlen(mine) > 0);

	struct err_thread t = {fx->st, CAIRN_OK, ""};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, err_thread_main, &t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_status(t.rc, CAIRN_INVALID_STREAM);
	assert_true(strlen(t.msg) > 0);
	assert_string_not_equal(t.msg, mine);
	assert_string_equal(cairn_last_error(), mine);
}

/* A conflict's message names the stream. */
static void test_conflict_message_names_stream(void **state)
{
	conf_fixture *fx = *state;
	assert_status(conf_append_text(fx->st, "order-77", CAIRN_NO_STREAM, "T",
	                               "a", NULL),
	              CAIRN_OK);
	assert_status(conf_append_text(fx->st, "order-77", CAIRN_NO_STREAM, "T",
	                               "b", NULL),
	              CAIRN_CONFLICT);
	const char *msg = cairn_last_error();
	assert_non_null(strstr(msg, "order-77"));
}

static const struct CMUnitTest open_tests[] = {
	CONF_TEST(test_status_str_every_code),
	CONF_TEST(test_open_bad_uris),
	CONF_TEST(test_open_unusable_path),
	CONF_TEST(test_store_backend_name),
	CONF_TEST(test_empty_store),
	CONF_TEST(test_null_free_is_noop),
	CONF_TEST(test_last_error_thread_local),
	CONF_TEST(test_conflict_message_names_stream),
};

int conf_group_open(void)
{
	return cmocka_run_group_tests_name("open", open_tests, conf_group_setup,
	                                   conf_group_teardown);
}
