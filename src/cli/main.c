/*
 * main.c -- `cairn`, the command line face of libcairn.
 *
 *   cairn [--store URI] VERB [OPTIONS] [ARGS]
 *
 * Global options come before the verb; --store is also accepted after it.
 * Exit statuses: 0 ok, 1 error, 2 usage, 3 conflict.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct verb {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
};

static const struct verb verbs[] = {{"append", cli_cmd_append},
                                    {"read", cli_cmd_read},
                                    {"streams", cli_cmd_streams},
                                    {"stat", cli_cmd_stat},
                                    {"export", cli_cmd_export},
                                    {"import", cli_cmd_import},
                                    {"verify", cli_cmd_verify},
                                    {"tail", cli_cmd_tail},
                                    {"subs", cli_cmd_subs},
                                    {"bench", cli_cmd_bench},
                                    {NULL, NULL}};

static const char main_help[] =
        "Usage: cairn [--store URI] VERB [OPTIONS] [ARGS]\n"
        "\n"
        "The command line tool of the cairn event store.\n"
        "\n"
        "Verbs:\n"
        "  append STREAM [DATA]  append one event (DATA or stdin)\n"
        "  read STREAM|$all      print events as NDJSON\n"
        "  streams [PREFIX]      list streams: id, version, last position\n"
        "  stat                  events, streams, head, bytes, backend\n"
        "  export [FILE]         write every event as NDJSON\n"
        "  import [FILE]         append the events of an export\n"
        "  verify                check every invariant of the store\n"
        "  tail [-f]             the newest events; -f: follow commits\n"
        "  subs list|reset|delete  durable subscriptions and their cursors\n"
        "  bench [ARGS]          run the cairn-bench program\n"
        "\n"
        "Options:\n"
        "  -s, --store URI  the store: memory:, lmdb:DIR, sqlite:FILE or\n"
        "                   postgres://USER@HOST:PORT/DB\n"
        "                   (default from $" CLI_STORE_ENV ", else\n"
        "                   " CLI_DEFAULT_STORE ")\n"
        "  -h, --help       this text; 'cairn VERB --help' for a verb\n"
        "  -V, --version    print the version\n"
        "\n"
        "Exit status: 0 ok, 1 error, 2 usage, 3 conflict.\n";

static const struct verb *
find_verb(const char *name)
{
	const struct verb *v;

	for (v = verbs; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

/* Hand argv from the verb on to the verb, with getopt reset: glibc and
 * musl take optind 0 as "start over", which also forgets the state of a
 * half-scanned option cluster. */
static int
run_verb(struct cli *cli, const struct verb *v, int argc, char **argv)
{
	cli->verb = v->name;
	optind = 0;
	return v->run(cli, argc, argv);
}

/* `cairn help [VERB]`, for people who type it that way. */
static int
help_verb(struct cli *cli, int argc, char **argv)
{
	static char help_opt[] = "--help";
	const struct verb *v;
	char *args[3];

	if (argc < 2)
		return cli_print(cli, main_help);
	v = find_verb(argv[1]);
	if (v == NULL)
		return cli_usage(cli, "unknown verb '%s' (see 'cairn --help')",
		                 argv[1]);
	args[0] = argv[1];
	args[1] = help_opt;
	args[2] = NULL;
	return run_verb(cli, v, 2, args);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"store", required_argument, NULL, 's'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0}};
	struct cli cli = {NULL, CLI_DEFAULT_STORE, 0};
	const char *env = getenv(CLI_STORE_ENV);
	const struct verb *v;
	int c;

	/* A closed pipe must come back as EPIPE from write(), where it is
	 * handled, rather than kill the process mid-line. */
	signal(SIGPIPE, SIG_IGN);

	if (env != NULL && env[0] != '\0')
		cli.store_uri = env;
	opterr = 0;
	/* '+': stop at the verb, whose options are its own. */
	while ((c = getopt_long(argc, argv, "+:s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			cli.store_uri = optarg;
			cli.store_given = 1;
			break;
		case 'h':
			return cli_print(&cli, main_help);
		case 'V':
			return cli_print(&cli,
			                 "cairn " CAIRN_VERSION_STRING "\n");
		default:
			if (c == ':')
				return cli_usage(&cli,
				                 "option '%s' needs a "
				                 "value",
				                 argv[optind - 1]);
			return cli_usage(&cli,
			                 "unknown option '%s' (see "
			                 "'cairn --help')",
			                 argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(&cli, "no verb given (see 'cairn --help')");
	if (strcmp(argv[optind], "help") == 0) {
		cli.verb = "help";
		return help_verb(&cli, argc - optind, argv + optind);
	}
	v = find_verb(argv[optind]);
	if (v == NULL)
		return cli_usage(&cli, "unknown verb '%s' (see 'cairn --help')",
		                 argv[optind]);
	return run_verb(&cli, v, argc - optind, argv + optind);
}
