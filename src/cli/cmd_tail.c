/*
 * cmd_tail.c -- `cairn tail [-f]`: the newest events of the store, then
 * (with -f) every event committed after, as NDJSON.
 *
 * A subscription does the work: catch-up from the start position, then
 * live.  Each batch (one append) is written and flushed as a whole, so a
 * reader of the pipe sees appends whole and at once.  With --name the
 * subscription is durable and each batch is acknowledged once it was
 * written out, so a restarted tail goes on where the last one stopped.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Without --from, how many of the newest matching events are shown. */
#define TAIL_DEFAULT_LINES 10
/* A following tail looks at its stop flag this often. */
#define TAIL_WAIT_MS 250

static const char tail_help[] =
        "Usage: cairn tail [OPTIONS]\n"
        "\n"
        "Print the newest events of the store (of every stream, in global\n"
        "order) as NDJSON, in the format of 'cairn read'.  With -f, keep\n"
        "going: print every event as soon as it is committed, one append\n"
        "at a time, until interrupted.\n"
        "\n"
        "Options:\n"
        "  -f, --follow        follow new commits until SIGINT or SIGTERM\n"
        "  -n, --lines N       start with the newest N matching events\n"
        "                      (default 10; 0 = only new ones)\n"
        "      --from N        start at position N instead (1 = the first\n"
        "                      event)\n"
        "  -t, --type TYPE     only events of this type; repeat for more\n"
        "      --types A,B     only events of these types\n"
        "  -p, --prefix P      only streams whose id starts with P\n"
        "      --name NAME     a durable subscription: start after its\n"
        "                      cursor (or at --from / -n when new) and move\n"
        "                      the cursor as events are printed\n"
        "      --store URI     the store (see 'cairn --help')\n"
        "  -h, --help          this text\n";

struct tail_args {
	int follow;
	uint64_t lines;
	uint64_t from;
	int from_given;
	const char *name;
	const char *prefix;
	const char **types;
	size_t ntypes;
	char *types_buf; /* --types, split in place */
};

enum { OPT_FROM = 1000, OPT_TYPES, OPT_NAME };

static volatile sig_atomic_t tail_stop;

static void
on_signal(int sig)
{
	(void)sig;
	tail_stop = 1;
}

/* Add the comma-separated types of list to a->types. */
static int
add_types(struct cli *cli, struct tail_args *a, const char *list, size_t max)
{
	char *p, *comma;

	free(a->types_buf);
	a->types_buf = strdup(list);
	if (a->types_buf == NULL)
		return cli_error(cli, "out of memory");
	for (p = a->types_buf;; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (cairn_validate_type(p) != CAIRN_OK)
			return cli_status(cli, CAIRN_INVALID_TYPE, "--types", 1);
		if (a->ntypes == max)
			return cli_usage(cli, "too many types");
		a->types[a->ntypes++] = p;
		if (comma == NULL)
			return -1;
	}
}

static int
parse_args(struct cli *cli, int argc, char **argv, struct tail_args *a,
           size_t max_types)
{
	static const struct option longopts[] = {
	        {"follow", no_argument, NULL, 'f'},
	        {"lines", required_argument, NULL, 'n'},
	        {"from", required_argument, NULL, OPT_FROM},
	        {"type", required_argument, NULL, 't'},
	        {"types", required_argument, NULL, OPT_TYPES},
	        {"prefix", required_argument, NULL, 'p'},
	        {"name", required_argument, NULL, OPT_NAME},
	        CLI_COMMON_LONGOPTS,
	        {NULL, 0, NULL, 0}};
	int c, status;

	while ((c = getopt_long(argc, argv, ":fn:t:p:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'f':
			a->follow = 1;
			break;
		case 'n':
			if (cli_parse_u64(optarg, &a->lines) != 0)
				return cli_usage(cli,
				                 "--lines needs a number, "
				                 "not '%s'",
				                 optarg);
			break;
		case OPT_FROM:
			if (cli_parse_u64(optarg, &a->from) != 0 ||
			    a->from == 0)
				return cli_usage(cli,
				                 "--from needs a position "
				                 ">= 1, not '%s'",
				                 optarg);
			a->from_given = 1;
			break;
		case 't':
			if (cairn_validate_type(optarg) != CAIRN_OK)
				return cli_status(cli, CAIRN_INVALID_TYPE,
				                  "--type", 1);
			if (a->ntypes == max_types)
				return cli_usage(cli, "too many types");
			a->types[a->ntypes++] = optarg;
			break;
		case OPT_TYPES:
			status = add_types(cli, a, optarg, max_types);
			if (status >= 0)
				return status;
			break;
		case 'p':
			a->prefix = optarg;
			break;
		case OPT_NAME:
			a->name = optarg;
			break;
		case 'S':
			cli->store_uri = optarg;
			cli->store_given = 1;
			break;
		case 'h':
			return cli_print(cli, tail_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	return -1;
}

/*
 * The position after which the newest `lines` matching events start:
 * read them backwards from the head with the filters.  Fewer than that
 * many in the store: 0, the beginning.
 */
static cairn_status
tail_start(cairn_store *st, const struct tail_args *a, uint64_t *after)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *e;
	cairn_iter *it;
	cairn_status rc;
	uint64_t seen = 0, oldest = 0;

	if (a->lines == 0)
		return cairn_head(st, after);
	ro.backwards = 1;
	ro.limit = a->lines;
	ro.types = a->types;
	ro.ntypes = a->ntypes;
	ro.prefix = a->prefix;
	rc = cairn_read_all(st, &ro, &it);
	if (rc != CAIRN_OK)
		return rc;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		oldest = e->position;
		seen++;
	}
	cairn_iter_free(it);
	if (rc != CAIRN_DONE)
		return rc;
	*after = seen == a->lines ? oldest - 1 : 0;
	return CAIRN_OK;
}

/* Write a batch as NDJSON lines and flush it whole. */
static int
write_batch(struct cli_out *out, const cairn_event *batch, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cli_event_write(out, &batch[i]) != 0)
			return -1;
	return cli_out_flush(out);
}

/* Print batches until the head (or, following, until a signal). */
static int
pump(struct cli *cli, cairn_store *st, cairn_sub *sub,
     const struct tail_args *a, struct cli_out *out)
{
	const cairn_event *batch;
	cairn_status rc;
	uint64_t head = 0;
	int follow = a->follow;
	size_t n;

	if (!follow && (rc = cairn_head(st, &head)) != CAIRN_OK)
		return cli_status(cli, rc, NULL, 0);
	while (!tail_stop) {
		if (!follow && cairn_sub_position(sub) >= head)
			break;
		rc = cairn_sub_next(sub, follow ? TAIL_WAIT_MS : 0, &batch, &n);
		if (rc == CAIRN_TIMEOUT) {
			if (!follow)
				break;
			continue;
		}
		if (rc != CAIRN_ROW)
			return cli_status(cli, rc, NULL, 0);
		if (write_batch(out, batch, n) != 0)
			return cli_out_fail(cli, out);
		/* Durable: the lines are out, so move the cursor. */
		if (a->name &&
		    (rc = cairn_sub_ack(sub, batch[n - 1].position)) != CAIRN_OK)
			return cli_status(cli, rc, "acknowledging", 0);
	}
	return CLI_EXIT_OK;
}

int
cli_cmd_tail(struct cli *cli, int argc, char **argv)
{
	struct tail_args a;
	struct cli_out *out = NULL;
	cairn_store *st = NULL;
	cairn_sub *sub = NULL;
	cairn_sub_opts so;
	cairn_status rc;
	struct sigaction sa;
	int status;

	memset(&a, 0, sizeof(a));
	a.lines = TAIL_DEFAULT_LINES;
	a.types = calloc((size_t)argc, sizeof(*a.types));
	out = malloc(sizeof(*out));
	if (a.types == NULL || out == NULL) {
		status = cli_error(cli, "out of memory");
		goto done;
	}
	status = parse_args(cli, argc, argv, &a, (size_t)argc);
	if (status >= 0)
		goto done;
	status = cli_open(cli, a.name == NULL, &st);
	if (status != 0)
		goto done;
	cairn_sub_opts_init(&so);
	so.types = a.types;
	so.ntypes = a.ntypes;
	so.prefix = a.prefix;
	so.name = a.name;
	so.start = CAIRN_SUB_AFTER;
	if (a.from_given)
		so.after = a.from - 1;
	else if ((rc = tail_start(st, &a, &so.after)) != CAIRN_OK) {
		status = cli_status(cli, rc, NULL, 1);
		goto done;
	}
	rc = cairn_subscribe(st, &so, &sub);
	if (rc != CAIRN_OK) {
		status = cli_status(cli, rc, NULL, 1);
		goto done;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	cli_out_init(out, STDOUT_FILENO);
	status = pump(cli, st, sub, &a, out);
done:
	cairn_sub_close(sub);
	cairn_close(st);
	free(out);
	free(a.types_buf);
	free((void *)a.types);
	return status;
}
