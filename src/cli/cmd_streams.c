/*
 * cmd_streams.c -- `cairn streams [PREFIX]`: one page of the stream list.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char streams_help[] =
        "Usage: cairn streams [PREFIX] [OPTIONS]\n"
        "\n"
        "List the streams whose id starts with PREFIX, in byte order, one per\n"
        "line: id, version and last position, separated by tabs.  One page at\n"
        "a time: when more streams follow, a terminal is told how to ask for\n"
        "the next page.\n"
        "\n"
        "Options:\n"
        "  -a, --after ID     start after the stream ID (the last one of the\n"
        "                     previous page)\n"
        "  -n, --limit N      at most N streams (default 1000)\n"
        "  -j, --json         NDJSON: stream, version, last_position,\n"
        "                     created, updated\n"
        "      --store URI    the store (see 'cairn --help')\n"
        "  -h, --help         this text\n";

struct streams_args {
	const char *prefix;
	const char *after;
	uint64_t limit;
	int json;
};

static int
parse_args(struct cli *cli, int argc, char **argv, struct streams_args *a)
{
	static const struct option longopts[] = {
	        {"after", required_argument, NULL, 'a'},
	        {"limit", required_argument, NULL, 'n'},
	        {"json", no_argument, NULL, 'j'},
	        CLI_COMMON_LONGOPTS,
	        {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, ":a:n:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			a->after = optarg;
			break;
		case 'n':
			/* One more is asked of the store to know whether a
			 * next page exists, hence the bound below SIZE_MAX. */
			if (cli_parse_u64(optarg, &a->limit) != 0 ||
			    a->limit == 0 || a->limit >= SIZE_MAX)
				return cli_usage(cli,
				                 "--limit needs a number "
				                 ">= 1, not '%s'",
				                 optarg);
			break;
		case 'j':
			a->json = 1;
			break;
		case 'S':
			cli->store_uri = optarg;
			cli->store_given = 1;
			break;
		case 'h':
			return cli_print(cli, streams_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (argc - optind > 1)
		return cli_usage(cli, "too many arguments: '%s'",
		                 argv[optind + 1]);
	if (argc - optind == 1)
		a->prefix = argv[optind];
	if ((a->prefix && strlen(a->prefix) > CAIRN_STREAM_ID_MAX) ||
	    (a->after && strlen(a->after) > CAIRN_STREAM_ID_MAX))
		return cli_usage(cli, "a prefix or --after is at most %d bytes",
		                 CAIRN_STREAM_ID_MAX);
	return -1;
}

static int
write_info(struct cli_out *out, const cairn_stream_info *s, int json)
{
	if (!json)
		/* Stream ids hold no control characters, so no tab or
		 * newline can break the columns. */
		return cli_out_write(out, s->stream, s->stream_len) ||
		       cli_out_write(out, "\t", 1) ||
		       cli_out_u64(out, s->version) ||
		       cli_out_write(out, "\t", 1) ||
		       cli_out_u64(out, s->last_position) ||
		       cli_out_write(out, "\n", 1);
	return cli_out_str(out, "{\"stream\":") ||
	       cli_json_string(out, s->stream, s->stream_len) ||
	       cli_out_str(out, ",\"version\":") ||
	       cli_out_u64(out, s->version) ||
	       cli_out_str(out, ",\"last_position\":") ||
	       cli_out_u64(out, s->last_position) ||
	       cli_out_str(out, ",\"created\":") ||
	       cli_json_time(out, s->created_ns) ||
	       cli_out_str(out, ",\"updated\":") ||
	       cli_json_time(out, s->updated_ns) || cli_out_str(out, "}\n");
}

/* Print text as one shell word. */
static void
put_quoted(const char *s)
{
	fputc('\'', stderr);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stderr);
		else
			fputc(*s, stderr);
	}
	fputc('\'', stderr);
}

/* The command line that shows the next page, for a person at a terminal;
 * a script pages with --after itself and needs no prose on stderr. */
static void
next_page_hint(const struct cli *cli, const struct streams_args *a,
               const char *last)
{
	if (!isatty(STDERR_FILENO))
		return;
	fputs("cairn: streams: more streams follow; next page: cairn ", stderr);
	if (cli->store_given) {
		fputs("--store ", stderr);
		put_quoted(cli->store_uri);
		fputc(' ', stderr);
	}
	fputs("streams", stderr);
	if (a->json)
		fputs(" --json", stderr);
	if (a->limit != CAIRN_LIST_DEFAULT_LIMIT)
		fprintf(stderr, " --limit %llu", (unsigned long long)a->limit);
	fputs(" --after ", stderr);
	put_quoted(last);
	if (a->prefix) {
		fputc(' ', stderr);
		put_quoted(a->prefix);
	}
	fputc('\n', stderr);
}

int
cli_cmd_streams(struct cli *cli, int argc, char **argv)
{
	struct streams_args a = {NULL, NULL, CAIRN_LIST_DEFAULT_LIMIT, 0};
	char last[CAIRN_STREAM_ID_MAX + 1] = "";
	struct cli_out *out = NULL;
	cairn_store *st = NULL;
	cairn_stream_iter *it = NULL;
	const cairn_stream_info *s;
	cairn_status rc;
	uint64_t got = 0;
	int status, more = 0;

	status = parse_args(cli, argc, argv, &a);
	if (status >= 0)
		return status;
	out = malloc(sizeof(*out));
	if (out == NULL)
		return cli_error(cli, "out of memory");
	cli_out_init(out, STDOUT_FILENO);
	status = cli_open(cli, 1, &st);
	if (status != 0)
		goto done;
	/* limit + 1: the extra stream, never printed, tells whether a next
	 * page exists, so the hint is never a false alarm. */
	rc = cairn_list_streams(st, a.prefix, a.after, (size_t)a.limit + 1,
	                        &it);
	if (rc != CAIRN_OK) {
		status = cli_status(cli, rc, NULL, 1);
		goto done;
	}
	while ((rc = cairn_stream_iter_next(it, &s)) == CAIRN_ROW) {
		if (got == a.limit) {
			more = 1;
			break;
		}
		if (write_info(out, s, a.json) != 0) {
			status = cli_out_fail(cli, out);
			goto done;
		}
		memcpy(last, s->stream, s->stream_len + 1);
		got++;
	}
	if (rc != CAIRN_ROW && rc != CAIRN_DONE) {
		status = cli_status(cli, rc, NULL, 0);
		cli_out_flush(out);
		goto done;
	}
	if (cli_out_flush(out) != 0) {
		status = cli_out_fail(cli, out);
		goto done;
	}
	if (more)
		next_page_hint(cli, &a, last);
done:
	cairn_stream_iter_free(it);
	cairn_close(st);
	free(out);
	return status;
}
