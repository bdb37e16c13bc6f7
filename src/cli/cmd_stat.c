/*
 * cmd_stat.c -- `cairn stat`: the size of the store in a few numbers.
 */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char stat_help[] =
        "Usage: cairn stat [OPTIONS]\n"
        "\n"
        "Print the store's numbers, one per line as NAME<tab>VALUE: events,\n"
        "streams, head (the newest position), bytes (storage used, 0 when the\n"
        "backend cannot tell) and backend.\n"
        "\n"
        "Options:\n"
        "  -j, --json         one JSON object instead\n"
        "      --store URI    the store (see 'cairn --help')\n"
        "  -h, --help         this text\n";

static int
write_stats(struct cli_out *out, const cairn_stats *s, const char *backend,
            int json)
{
	if (json)
		return cli_out_str(out, "{\"events\":") ||
		       cli_out_u64(out, s->events) ||
		       cli_out_str(out, ",\"streams\":") ||
		       cli_out_u64(out, s->streams) ||
		       cli_out_str(out, ",\"head\":") ||
		       cli_out_u64(out, s->head) ||
		       cli_out_str(out, ",\"bytes\":") ||
		       cli_out_u64(out, s->bytes) ||
		       cli_out_str(out, ",\"backend\":") ||
		       cli_json_string(out, backend, strlen(backend)) ||
		       cli_out_str(out, "}\n");
	return cli_out_str(out, "events\t") || cli_out_u64(out, s->events) ||
	       cli_out_str(out, "\nstreams\t") ||
	       cli_out_u64(out, s->streams) || cli_out_str(out, "\nhead\t") ||
	       cli_out_u64(out, s->head) || cli_out_str(out, "\nbytes\t") ||
	       cli_out_u64(out, s->bytes) || cli_out_str(out, "\nbackend\t") ||
	       cli_out_str(out, backend) || cli_out_str(out, "\n");
}

int
cli_cmd_stat(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"json", no_argument, NULL, 'j'},
	        CLI_COMMON_LONGOPTS,
	        {NULL, 0, NULL, 0}};
	struct cli_out out;
	cairn_store *st = NULL;
	cairn_stats stats;
	cairn_status rc;
	int c, json = 0, status;

	while ((c = getopt_long(argc, argv, ":jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'S':
			cli->store_uri = optarg;
			cli->store_given = 1;
			break;
		case 'h':
			return cli_print(cli, stat_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	status = cli_open(cli, 1, &st);
	if (status != 0)
		return status;
	rc = cairn_stats_get(st, &stats);
	if (rc != CAIRN_OK) {
		status = cli_status(cli, rc, NULL, 0);
	} else {
		cli_out_init(&out, STDOUT_FILENO);
		if (write_stats(&out, &stats, cairn_store_backend(st), json) ||
		    cli_out_flush(&out))
			status = cli_out_fail(cli, &out);
	}
	cairn_close(st);
	return status;
}
