/*
 * cmd_verify.c -- `cairn verify`: check every invariant of the store.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char verify_help[] =
        "Usage: cairn verify [OPTIONS]\n"
        "\n"
        "Check every invariant of the store (contiguous versions, gapless\n"
        "positions, indexes consistent both ways, unique ids, checksums).\n"
        "Prints each problem found on its own line, then one summary line.\n"
        "\n"
        "Options:\n"
        "      --store URI    the store (see 'cairn --help')\n"
        "  -h, --help         this text\n"
        "\n"
        "Exit status: 0 no problem, 1 problems found or the check failed.\n";

/* A problem sentence on one line, whatever it contains. */
static void
on_problem(void *ctx, const char *problem)
{
	struct cli_out *out = ctx;
	const char *p = problem, *run = problem;

	cli_out_str(out, "problem: ");
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f) {
			cli_out_write(out, run, (size_t)(p - run));
			cli_out_write(out, " ", 1);
			run = p + 1;
		}
	}
	cli_out_write(out, run, (size_t)(p - run));
	/* A failed write sticks in out and is reported once verify ends. */
	cli_out_write(out, "\n", 1);
}

static int
summary(struct cli_out *out, uint64_t problems, const cairn_stats *s)
{
	return cli_out_str(out, problems == 0 ? "ok: " : "FAILED: ") ||
	       cli_out_u64(out, problems) ||
	       cli_out_str(out,
	                   problems == 1 ? " problem in " : " problems in ") ||
	       cli_out_u64(out, s->events) || cli_out_str(out, " events, ") ||
	       cli_out_u64(out, s->streams) || cli_out_str(out, " streams\n") ||
	       cli_out_flush(out);
}

int
cli_cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
	                                         {NULL, 0, NULL, 0}};
	struct cli_out *out;
	cairn_store *st = NULL;
	cairn_stats stats;
	cairn_status rc;
	uint64_t problems = 0;
	int c, status;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			cli->store_uri = optarg;
			cli->store_given = 1;
			break;
		case 'h':
			return cli_print(cli, verify_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	out = malloc(sizeof(*out));
	if (out == NULL)
		return cli_error(cli, "out of memory");
	cli_out_init(out, STDOUT_FILENO);
	status = cli_open(cli, 1, &st);
	if (status != 0)
		goto done;
	rc = cairn_verify(st, on_problem, out, &problems);
	if (rc == CAIRN_OK)
		rc = cairn_stats_get(st, &stats);
	if (rc != CAIRN_OK) {
		status = cli_status(cli, rc, NULL, 0);
		cli_out_flush(out);
		goto done;
	}
	if (summary(out, problems, &stats) != 0)
		status = cli_out_fail(cli, out);
	else
		status = problems == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
done:
	cairn_close(st);
	free(out);
	return status;
}
