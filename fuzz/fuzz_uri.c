/*
 * fuzz_uri.c -- store URIs given to cairn_open().
 *
 * The input, as a C string, is opened with default and with explicit
 * options.  Only "memory:" names a store that opens (a memory store takes
 * no path, and every scheme but the engines' is unknown): that string
 * must open, and so may the same in another case (RFC 3986 lets schemes
 * ignore case).  Any other must fail with CAIRN_INVALID_URI, *out set to
 * NULL and a sentence in cairn_last_error().
 *
 * An lmdb or sqlite URI would create files wherever the fuzzer runs, and
 * a postgres one would connect to a server, so any input whose scheme
 * reads as one of those in any case is skipped; and a store that opens
 * must say it is a memory store.
 */
#include <string.h>
#include <strings.h>

#include "cairn.h"
#include "fuzz.h"

/* The schemes whose stores live in files or on a server. */
static const char *const skipped_schemes[] = {"lmdb", "sqlite", "postgres",
                                              "postgresql"};
static const char memory_uri[] = "memory:";

/* Nonzero when uri's scheme (what precedes the first ':', as cairn_open
 * reads it) is one of skipped_schemes, in any case. */
static int
is_skipped(const char *uri)
{
	size_t scheme = strcspn(uri, ":"), i;

	if (uri[scheme] != ':')
		return 0;
	for (i = 0; i < sizeof(skipped_schemes) / sizeof(skipped_schemes[0]);
	     i++)
		if (scheme == strlen(skipped_schemes[i]) &&
		    strncasecmp(uri, skipped_schemes[i], scheme) == 0)
			return 1;
	return 0;
}

static void
check_open(const char *uri, const cairn_options *opts)
{
	cairn_store *st = (cairn_store *)&st; /* not NULL: must be reset */
	cairn_status rc;
	int must_open = strcmp(uri, memory_uri) == 0;
	int may_open = strcasecmp(uri, memory_uri) == 0;

	rc = cairn_open(uri, opts, &st);
	if (rc == CAIRN_OK) {
		FUZZ_CHECK(may_open);
		FUZZ_CHECK(st != NULL);
		FUZZ_CHECK(strcmp(cairn_store_backend(st), "memory") == 0);
		FUZZ_CHECK(cairn_last_error()[0] == '\0');
		cairn_close(st);
		return;
	}
	FUZZ_CHECK(!must_open);
	FUZZ_CHECK(rc == CAIRN_INVALID_URI);
	FUZZ_CHECK(st == NULL);
	FUZZ_CHECK(cairn_last_error()[0] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = fuzz_cstring(data, size);
	cairn_options opts;

	if (!is_skipped(uri)) {
		check_open(uri, NULL);
		cairn_options_init(&opts);
		opts.durability = CAIRN_RELAXED;
		opts.read_only = 1;
		check_open(uri, &opts);
	}
	free(uri);
	return 0;
}
