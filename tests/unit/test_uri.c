/*
 * test_uri.c -- the URI parsing of src/core/store.c, through cairn_open().
 * No test here creates a file: every lmdb URI is refused before the
 * engine touches the file system.
 */
#include "unit.h"

#include <limits.h>
#include <stdlib.h>

/* cairn_open(uri) must refuse with status, leave *out NULL and say
 * something that contains says. */
static void
expect_refused(const char *uri, cairn_status status, const char *says)
{
	cairn_store *st = (cairn_store *)&st; /* anything but NULL */
	cairn_status rc = cairn_open(uri, NULL, &st);

	if (rc != status)
		fail_msg("'%.60s': status %d (%s), not %d", uri ? uri : "NULL",
		         (int)rc, cairn_last_error(), (int)status);
	assert_null(st);
	assert_true(cairn_last_error()[0] != '\0');
	assert_error_has(says);
}

static void
malformed_uris(void **state)
{
	(void)state;
	expect_refused("", CAIRN_INVALID_URI, "empty");
	expect_refused("lmdb", CAIRN_INVALID_URI, "has no scheme");
	expect_refused("lmdb", CAIRN_INVALID_URI, "'lmdb'");
	expect_refused("./cairn-data", CAIRN_INVALID_URI, "scheme");
	expect_refused("1abc:x", CAIRN_INVALID_URI,
	               "does not start with a scheme");
	expect_refused("+lmdb:x", CAIRN_INVALID_URI,
	               "does not start with a scheme");
	expect_refused(":x", CAIRN_INVALID_URI, "scheme");
	expect_refused("no such:x", CAIRN_INVALID_URI,
	               "does not start with a scheme");
	expect_refused("lm_db:x", CAIRN_INVALID_URI,
	               "does not start with a scheme");
	expect_refused("nosuch:x", CAIRN_INVALID_URI,
	               "scheme 'nosuch' is not known");
	expect_refused("lmdb2:x", CAIRN_INVALID_URI,
	               "scheme 'lmdb2' is not known");
	expect_refused("mem:", CAIRN_INVALID_URI, "scheme 'mem' is not known");
	expect_refused("memoryx:", CAIRN_INVALID_URI, "is not known");
	/* scheme characters after the first letter are fine, if unknown */
	expect_refused("a1+b-c.d:x", CAIRN_INVALID_URI,
	               "scheme 'a1+b-c.d' is not known");
	/* the engines' own refusals of what follows the colon */
	expect_refused("lmdb:", CAIRN_INVALID_URI, "names no directory");
	expect_refused("memory:x", CAIRN_INVALID_URI, "takes no path");
}

static void
null_arguments(void **state)
{
	cairn_store *st = NULL;

	(void)state;
	expect_refused(NULL, CAIRN_INVALID, "NULL");
	assert_int_equal(cairn_open("memory:", NULL, NULL), CAIRN_INVALID);
	assert_null(st);
}

static void
memory_opens(void **state)
{
	cairn_options opts;
	cairn_store *st = NULL;
	uint64_t head = 1;

	(void)state;
	cairn__error(CAIRN_IO, 3, "%s", "stale");
	assert_int_equal(cairn_open("memory:", NULL, &st), CAIRN_OK);
	assert_non_null(st);
	assert_string_equal(cairn_store_backend(st), "memory");
	/* success leaves no stale sentence behind */
	assert_string_equal(cairn_last_error(), "");
	assert_int_equal(cairn_head(st, &head), CAIRN_OK);
	assert_int_equal(head, 0);
	cairn_close(st);
	/* with options, too; and bad options are refused */
	cairn_options_init(&opts);
	st = NULL;
	assert_int_equal(cairn_open("memory:", &opts, &st), CAIRN_OK);
	assert_non_null(st);
	cairn_close(st);
	opts.version = CAIRN_OPTIONS_VERSION + 1;
	st = (cairn_store *)&st;
	assert_int_equal(cairn_open("memory:", &opts, &st), CAIRN_INVALID);
	assert_null(st);
	assert_error_has("options version");
}

static char *
uri_with_path(const char *scheme, size_t path_len)
{
	size_t sl = strlen(scheme);
	char *uri = malloc(sl + path_len + 1);
	size_t i;

	assert_non_null(uri);
	memcpy(uri, scheme, sl);
	/* "a/aaaaaaa/aaa...": components short enough for any OS limit */
	for (i = 0; i < path_len; i++)
		uri[sl + i] = (i % 64 == 1) ? '/' : 'a';
	uri[sl + path_len] = '\0';
	return uri;
}

static void
overlong_paths(void **state)
{
	char *uri;

	(void)state;
	uri = uri_with_path("lmdb:", PATH_MAX);
	expect_refused(uri, CAIRN_INVALID_URI, "longer than");
	free(uri);
	uri = uri_with_path("lmdb:", 4 * PATH_MAX);
	expect_refused(uri, CAIRN_INVALID_URI, "longer than");
	free(uri);
	/* the message quotes a bounded part of the URI, never all of it */
	assert_true(strlen(cairn_last_error()) < 1024);
	uri = uri_with_path("memory:", PATH_MAX);
	expect_refused(uri, CAIRN_INVALID_URI, "");
	free(uri);
	/* an over-long URI with no scheme is reported, bounded */
	uri = uri_with_path("", 4 * PATH_MAX);
	memset(uri, 'a', 4 * PATH_MAX);
	expect_refused(uri, CAIRN_INVALID_URI, "no scheme");
	assert_true(strlen(cairn_last_error()) < 1024);
	free(uri);
	/* an over-long unknown scheme */
	uri = uri_with_path("", 1000);
	memset(uri, 'z', 999);
	uri[999] = ':';
	expect_refused(uri, CAIRN_INVALID_URI, "is not known");
	free(uri);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(malformed_uris),
		cmocka_unit_test(null_arguments),
		cmocka_unit_test(memory_opens),
		cmocka_unit_test(overlong_paths),
	};

	return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
