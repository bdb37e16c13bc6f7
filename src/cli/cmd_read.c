/*
 * cmd_read.c -- `cairn read STREAM|$all`: events as NDJSON on stdout.
 *
 * Events are written as the iterator yields them, through a fixed
 * buffer: a read of a million events uses the memory of one.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define ALL_STREAM "$all"

static const char read_help[] =
        "Usage: cairn read STREAM|'$all' [OPTIONS]\n"
        "\n"
        "Print the events of STREAM, or of the whole store with '$all' (in\n"
        "global order), as NDJSON: one JSON object per line with position,\n"
        "stream, version, type, id, time, data, metadata (when not empty) and\n"
        "tags (when any).  A payload that is one JSON value on one line is\n"
        "shown as JSON (\"data\"); any other payload as base64\n"
        "(\"data_base64\").  A stream that does not exist reads as empty.\n"
        "\n"
        "Options:\n"
        "  -f, --from N       start at version N (at position N for '$all');\n"
        "                     backwards, 0 means the end\n"
        "  -n, --limit N      at most N events\n"
        "  -b, --backwards    newest first\n"
        "  -t, --type TYPE    '$all' only: only events of this type; repeat\n"
        "                     for several types\n"
        "  -p, --prefix P     '$all' only: only streams whose id starts\n"
        "                     with P\n"
        "      --store URI    the store (see 'cairn --help')\n"
        "  -h, --help         this text\n";

struct read_args {
	const char *stream;
	cairn_read_opts ro;
	const char **types;
};

/* Returns -1 to go on, else the exit status. */
static int
parse_args(struct cli *cli, int argc, char **argv, struct read_args *a)
{
	static const struct option longopts[] = {
	        {"from", required_argument, NULL, 'f'},
	        {"limit", required_argument, NULL, 'n'},
	        {"backwards", no_argument, NULL, 'b'},
	        {"type", required_argument, NULL, 't'},
	        {"prefix", required_argument, NULL, 'p'},
	        CLI_COMMON_LONGOPTS,
	        {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, ":f:n:bt:p:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'f':
			if (cli_parse_u64(optarg, &a->ro.from) != 0)
				return cli_usage(cli,
				                 "--from needs a number, "
				                 "not '%s'",
				                 optarg);
			break;
		case 'n':
			if (cli_parse_u64(optarg, &a->ro.limit) != 0 ||
			    a->ro.limit == 0)
				return cli_usage(cli,
				                 "--limit needs a number "
				                 ">= 1, not '%s'",
				                 optarg);
			break;
		case 'b':
			a->ro.backwards = 1;
			break;
		case 't':
			if (cairn_validate_type(optarg) != CAIRN_OK)
				return cli_status(cli, CAIRN_INVALID_TYPE,
				                  "--type", 1);
			/* argc bounds the number of --type options. */
			a->types[a->ro.ntypes++] = optarg;
			break;
		case 'p':
			a->ro.prefix = optarg;
			break;
		case 'S':
			cli->store_uri = optarg;
			cli->store_given = 1;
			break;
		case 'h':
			return cli_print(cli, read_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "no stream given (a stream id or "
		                      "'$all')");
	if (argc - optind > 1)
		return cli_usage(cli, "too many arguments: '%s'",
		                 argv[optind + 1]);
	a->stream = argv[optind];
	if (strcmp(a->stream, ALL_STREAM) == 0)
		return -1;
	if (a->ro.ntypes > 0 || a->ro.prefix)
		return cli_usage(cli, "--type and --prefix are for '$all' "
		                      "only");
	if (cairn_validate_stream_id(a->stream) != CAIRN_OK)
		return cli_status(cli, CAIRN_INVALID_STREAM, NULL, 1);
	return -1;
}

/* Copy every event of it to out; returns the exit status. */
static int
pump(struct cli *cli, cairn_iter *it, struct cli_out *out)
{
	const cairn_event *e;
	cairn_status rc;

	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		if (cli_event_write(out, e) != 0)
			return cli_out_fail(cli, out);
	}
	if (rc != CAIRN_DONE) {
		/* Deliver what was read before the failure, then say why it
		 * stopped; the message is taken before any other call. */
		int status = cli_status(cli, rc, NULL, 0);

		if (cli_out_flush(out) != 0)
			return cli_out_fail(cli, out);
		return status;
	}
	if (cli_out_flush(out) != 0)
		return cli_out_fail(cli, out);
	return CLI_EXIT_OK;
}

int
cli_cmd_read(struct cli *cli, int argc, char **argv)
{
	struct read_args a;
	cairn_read_opts init = CAIRN_READ_OPTS_INIT;
	struct cli_out *out = NULL;
	cairn_store *st = NULL;
	cairn_iter *it = NULL;
	cairn_status rc;
	int status;

	memset(&a, 0, sizeof(a));
	a.ro = init;
	a.types = calloc((size_t)argc, sizeof(*a.types));
	out = malloc(sizeof(*out));
	if (a.types == NULL || out == NULL) {
		status = cli_error(cli, "out of memory");
		goto done;
	}
	a.ro.types = a.types;
	status = parse_args(cli, argc, argv, &a);
	if (status >= 0)
		goto done;
	status = cli_open(cli, 1, &st);
	if (status != 0)
		goto done;
	if (strcmp(a.stream, ALL_STREAM) == 0)
		rc = cairn_read_all(st, &a.ro, &it);
	else
		rc = cairn_read_stream(st, a.stream, &a.ro, &it);
	if (rc != CAIRN_OK) {
		status = cli_status(cli, rc, NULL, 1);
		goto done;
	}
	cli_out_init(out, STDOUT_FILENO);
	status = pump(cli, it, out);
done:
	cairn_iter_free(it);
	cairn_close(st);
	free(out);
	free((void *)a.types);
	return status;
}
