/*
 * cmd_subs.c -- `cairn subs list|reset|delete`: durable subscriptions.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char subs_help[] =
        "Usage: cairn subs list [--json]\n"
        "       cairn subs reset NAME POSITION\n"
        "       cairn subs delete NAME\n"
        "\n"
        "Durable subscriptions keep a cursor in the store: the position of\n"
        "the last event their consumer acknowledged.\n"
        "\n"
        "  list      one line per subscription, in name order: name,\n"
        "            cursor position and when it last moved, separated by\n"
        "            tabs (--json: NDJSON with name, position, updated)\n"
        "  reset     set NAME's cursor to POSITION (0 = before the first\n"
        "            event; 'end' = the head): its consumer goes on after\n"
        "            it; creates NAME when it does not exist\n"
        "  delete    forget NAME and its cursor\n"
        "\n"
        "Options:\n"
        "  -j, --json         list as NDJSON\n"
        "      --store URI    the store (see 'cairn --help')\n"
        "  -h, --help         this text\n";

struct list_ctx {
	struct cli_out *out;
	int json;
	int failed;
};

static int
list_one(void *ctx, const cairn_sub_info *info)
{
	struct list_ctx *l = ctx;
	struct cli_out *out = l->out;

	/* Names hold no control characters: no tab or newline can break
	 * the columns. */
	if (!l->json)
		l->failed = cli_out_str(out, info->name) ||
		            cli_out_write(out, "\t", 1) ||
		            cli_out_u64(out, info->position) ||
		            cli_out_write(out, "\t", 1) ||
		            cli_json_time(out, info->updated_ns) ||
		            cli_out_write(out, "\n", 1);
	else
		l->failed = cli_out_str(out, "{\"name\":") ||
		            cli_json_string(out, info->name,
		                            strlen(info->name)) ||
		            cli_out_str(out, ",\"position\":") ||
		            cli_out_u64(out, info->position) ||
		            cli_out_str(out, ",\"updated\":") ||
		            cli_json_time(out, info->updated_ns) ||
		            cli_out_str(out, "}\n");
	return l->failed;
}

static int
subs_list(struct cli *cli, cairn_store *st, int json)
{
	struct list_ctx l = {NULL, json, 0};
	cairn_status rc;
	int status;

	l.out = malloc(sizeof(*l.out));
	if (l.out == NULL)
		return cli_error(cli, "out of memory");
	cli_out_init(l.out, STDOUT_FILENO);
	rc = cairn_subs_list(st, list_one, &l);
	if (l.failed)
		status = cli_out_fail(cli, l.out);
	else if (rc != CAIRN_OK)
		status = cli_status(cli, rc, NULL, 0);
	else if (cli_out_flush(l.out) != 0)
		status = cli_out_fail(cli, l.out);
	else
		status = CLI_EXIT_OK;
	free(l.out);
	return status;
}

static int
subs_reset(struct cli *cli, cairn_store *st, const char *name,
           const char *where)
{
	uint64_t pos;
	cairn_status rc;

	if (strcmp(where, "end") == 0) {
		rc = cairn_head(st, &pos);
		if (rc != CAIRN_OK)
			return cli_status(cli, rc, NULL, 0);
	} else if (cli_parse_u64(where, &pos) != 0) {
		return cli_usage(cli,
		                 "POSITION is a number or 'end', not '%s'",
		                 where);
	}
	rc = cairn_subs_reset(st, name, pos);
	if (rc != CAIRN_OK)
		return cli_status(cli, rc, NULL, 1);
	return CLI_EXIT_OK;
}

int
cli_cmd_subs(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"json", no_argument, NULL, 'j'},
	        CLI_COMMON_LONGOPTS,
	        {NULL, 0, NULL, 0}};
	const char *action;
	cairn_store *st = NULL;
	cairn_status rc;
	int c, json = 0, status, nargs;

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
			return cli_print(cli, subs_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "no action given: list, reset or delete");
	action = argv[optind];
	nargs = argc - optind - 1;
	if (strcmp(action, "list") == 0) {
		if (nargs != 0)
			return cli_usage(cli, "list takes no argument");
	} else if (strcmp(action, "reset") == 0) {
		if (nargs != 2)
			return cli_usage(cli, "usage: cairn subs reset NAME "
			                      "POSITION");
	} else if (strcmp(action, "delete") == 0) {
		if (nargs != 1)
			return cli_usage(cli, "usage: cairn subs delete NAME");
	} else {
		return cli_usage(cli,
		                 "unknown action '%s': list, reset or delete",
		                 action);
	}
	status = cli_open(cli, strcmp(action, "list") == 0, &st);
	if (status != 0)
		return status;
	if (strcmp(action, "list") == 0) {
		status = subs_list(cli, st, json);
	} else if (strcmp(action, "reset") == 0) {
		status = subs_reset(cli, st, argv[optind + 1],
		                    argv[optind + 2]);
	} else {
		rc = cairn_subs_delete(st, argv[optind + 1]);
		status = rc == CAIRN_OK ? CLI_EXIT_OK
		                        : cli_status(cli, rc, NULL, 1);
	}
	cairn_close(st);
	return status;
}
