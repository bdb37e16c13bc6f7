/*
 * main.c -- the conformance suite's entry point.
 *
 *     conformance <backend> [<base-dir>] [<uri-format> <persists>]
 *
 * <backend> names an entry of the table below; <base-dir> is where
 * backends that live in files get one fresh directory per test (default:
 * a directory under $TMPDIR).  A backend not in the table can be run by
 * giving its URI format and persistence flag on the command line, so a new
 * engine is one more add_test() line in CMakeLists.txt.
 *
 * Server backends need a fresh schema per test rather than a directory:
 * a uri_format with "schema=%s" gets a fresh schema name (common.c).
 * "postgres" takes its server from $CAIRN_PG_URI (a postgres:// URI, as
 * scripts/pg-test-cluster.sh writes it); each test gets a schema of its
 * own in that database.
 *
 * Environment:
 *   CAIRN_PG_URI=URI        the database the postgres backend uses
 *   CAIRN_SKIP_BIG=1        skip the 1,000,000-event test
 *   CAIRN_TEST_FILTER=GLOB  run only the tests whose name matches
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const conf_backend conf_backends[] = {
	{"memory", "memory:", 0},
	{"lmdb", "lmdb:%s", 1},
	{"sqlite", "sqlite:%s/events.db", 1},
};

static conf_backend conf_custom;
static char conf_pg_format[1200];

/* The postgres entry: $CAIRN_PG_URI plus a fresh schema per test ('%'
 * doubled, the text being a format). */
static int pg_backend(void)
{
	const char *uri = getenv("CAIRN_PG_URI");
	size_t o = 0;

	if (uri == NULL || uri[0] == '\0') {
		fprintf(stderr, "conformance: postgres needs CAIRN_PG_URI "
		                "(scripts/pg-test-cluster.sh)\n");
		return -1;
	}
	for (; *uri && o + 24 < sizeof conf_pg_format; uri++) {
		if (*uri == '%')
			conf_pg_format[o++] = '%';
		conf_pg_format[o++] = *uri;
	}
	snprintf(conf_pg_format + o, sizeof conf_pg_format - o, "%cschema=%%s",
	         strchr(conf_pg_format, '?') ? '&' : '?');
	conf_custom.name = "postgres";
	conf_custom.uri_format = conf_pg_format;
	conf_custom.persists = 1;
	conf_be = &conf_custom;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: conformance <backend> [<base-dir>] "
	        "[<uri-format> <persists>]\n  known backends:");
	for (size_t i = 0; i < sizeof conf_backends / sizeof conf_backends[0];
	     i++)
		fprintf(stderr, " %s", conf_backends[i].name);
	fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	for (size_t i = 0; i < sizeof conf_backends / sizeof conf_backends[0];
	     i++)
		if (strcmp(argv[1], conf_backends[i].name) == 0)
			conf_be = &conf_backends[i];
	if (strcmp(argv[1], "postgres") == 0 && argc < 5 && pg_backend() != 0)
		return 2;
	if (argc >= 5) {
		conf_custom.name = argv[1];
		conf_custom.uri_format = argv[3];
		conf_custom.persists = atoi(argv[4]);
		conf_be = &conf_custom;
	}
	if (conf_be == NULL) {
		usage();
		return 2;
	}
	if (argc >= 3 && argv[2][0] != '\0')
		conf_base_dir = argv[2];

	const char *filter = getenv("CAIRN_TEST_FILTER");
	if (filter != NULL && filter[0] != '\0')
		cmocka_set_test_filter(filter);

	printf("conformance: backend %s (%s), persists: %s\n", conf_be->name,
	       conf_be->uri_format, conf_be->persists ? "yes" : "no");
	fflush(stdout);

	int failed = 0;
	failed += conf_group_open();
	failed += conf_group_append();
	failed += conf_group_read();
	failed += conf_group_list();
	failed += conf_group_invalid();
	failed += conf_group_persist();
	failed += conf_group_concurrency();
	failed += conf_group_dcb();
	failed += conf_group_snapshot();
	failed += conf_group_subscriptions();
	failed += conf_group_big();
	printf("conformance: backend %s: %d failed\n", conf_be->name, failed);
	return failed == 0 ? 0 : 1;
}
