/*
 * cmd_append.c -- `cairn append STREAM [DATA]`: append one event.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

static const char append_help[] =
        "Usage: cairn append STREAM [DATA] --type TYPE [OPTIONS]\n"
        "\n"
        "Append one event to STREAM and print {\"stream\",\"version\","
        "\"position\"}\n"
        "as one JSON line (with \"idempotent\":true when the event, given by\n"
        "--id, was already there).  DATA is the payload; when it is absent or\n"
        "\"-\" the payload is read from standard input.  A payload that is\n"
        "JSON is stored without the whitespace around it; any other payload\n"
        "is stored byte for byte.\n"
        "\n"
        "Options:\n"
        "  -t, --type TYPE        the event type (required)\n"
        "  -e, --expected WHAT    ANY (default), NO_STREAM, EXISTS, or the\n"
        "                         exact current version N of the stream\n"
        "  -m, --meta JSON        metadata, must be valid JSON\n"
        "  -i, --id UUID          the event id (default: a fresh one); the\n"
        "                         same id again makes the append idempotent\n"
        "  -g, --tag TAG          a tag; repeat for more\n"
        "      --store URI        the store (see 'cairn --help')\n"
        "  -h, --help             this text\n"
        "\n"
        "Exit status: 0 ok, 1 error, 2 usage, 3 conflict (the stream is not\n"
        "at the expected version; nothing was written).\n";

struct append_args {
	const char *stream;
	const char *data_arg; /* NULL: read stdin */
	const char *type;
	int64_t expected;
	const char *meta;
	int have_id;
	cairn_uuid id;
	const char *tags[CAIRN_TAGS_MAX];
	size_t ntags;
};

static int
parse_expected(const char *s, int64_t *out)
{
	uint64_t n;

	if (strcasecmp(s, "ANY") == 0) {
		*out = CAIRN_ANY;
	} else if (strcasecmp(s, "NO_STREAM") == 0) {
		*out = CAIRN_NO_STREAM;
	} else if (strcasecmp(s, "EXISTS") == 0 ||
	           strcasecmp(s, "STREAM_EXISTS") == 0) {
		*out = CAIRN_STREAM_EXISTS;
	} else if (cli_parse_u64(s, &n) == 0 && n <= (uint64_t)INT64_MAX) {
		*out = (int64_t)n;
	} else {
		return -1;
	}
	return 0;
}

/* Nonzero when p is one JSON value; else jerr says why. */
static int
is_json(const char *p, size_t n, json_error_t *jerr)
{
	json_t *v =
	        json_loadb(p, n, JSON_DECODE_ANY | CLI_JSON_PARSE_FLAGS, jerr);

	json_decref(v);
	return v != NULL;
}

/* Returns -1 to go on, else the exit status. */
static int
parse_args(struct cli *cli, int argc, char **argv, struct append_args *a)
{
	static const struct option longopts[] = {
	        {"type", required_argument, NULL, 't'},
	        {"expected", required_argument, NULL, 'e'},
	        {"meta", required_argument, NULL, 'm'},
	        {"id", required_argument, NULL, 'i'},
	        {"tag", required_argument, NULL, 'g'},
	        CLI_COMMON_LONGOPTS,
	        {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, ":t:e:m:i:g:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 't':
			a->type = optarg;
			break;
		case 'e':
			if (parse_expected(optarg, &a->expected) != 0)
				return cli_usage(cli,
				                 "--expected must be ANY, "
				                 "NO_STREAM, EXISTS or a "
				                 "version, not '%s'",
				                 optarg);
			break;
		case 'm':
			a->meta = optarg;
			break;
		case 'i':
			if (cairn_uuid_parse(optarg, &a->id) != CAIRN_OK)
				return cli_usage(cli, "--id '%s' is not a UUID",
				                 optarg);
			a->have_id = 1;
			break;
		case 'g':
			if (a->ntags == CAIRN_TAGS_MAX)
				return cli_usage(cli, "more than %d tags",
				                 CAIRN_TAGS_MAX);
			a->tags[a->ntags++] = optarg;
			break;
		case 'S':
			cli->store_uri = optarg;
			cli->store_given = 1;
			break;
		case 'h':
			return cli_print(cli, append_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "no stream given");
	if (argc - optind > 2)
		return cli_usage(cli, "too many arguments: '%s'",
		                 argv[optind + 2]);
	a->stream = argv[optind];
	if (argc - optind == 2 && strcmp(argv[optind + 1], "-") != 0)
		a->data_arg = argv[optind + 1];
	if (a->type == NULL)
		return cli_usage(cli, "--type is required");
	if (cairn_validate_stream_id(a->stream) != CAIRN_OK)
		return cli_status(cli, CAIRN_INVALID_STREAM, NULL, 1);
	if (cairn_validate_type(a->type) != CAIRN_OK)
		return cli_status(cli, CAIRN_INVALID_TYPE, NULL, 1);
	return -1;
}

/* The payload, from the argument or stdin, into *buf (owned, may stay
 * NULL for an argument).  Returns -1 to go on, else the exit status. */
static int
get_data(struct cli *cli, const struct append_args *a, char **buf,
         const char **data, size_t *len)
{
	int rc;

	if (a->data_arg) {
		*data = a->data_arg;
		*len = strlen(a->data_arg);
	} else {
		if (isatty(STDIN_FILENO))
			fputs("cairn: append: reading the payload from "
			      "standard input; end it with Ctrl-D\n",
			      stderr);
		rc = cli_read_all(STDIN_FILENO, CAIRN_DEFAULT_MAX_EVENT_SIZE,
		                  buf, len);
		if (rc == -2)
			return cli_error(cli, "the payload is over %u bytes",
			                 CAIRN_DEFAULT_MAX_EVENT_SIZE);
		if (rc != 0)
			return cli_error(cli, "reading standard input: %s",
			                 strerror(errno));
		*data = *buf;
	}
	return -1;
}

static int
print_result(struct cli *cli, const char *stream,
             const cairn_append_result *res)
{
	struct cli_out out;

	cli_out_init(&out, STDOUT_FILENO);
	if (cli_out_str(&out, "{\"stream\":") ||
	    cli_json_string(&out, stream, strlen(stream)) ||
	    cli_out_str(&out, ",\"version\":") ||
	    cli_out_u64(&out, res->version) ||
	    cli_out_str(&out, ",\"position\":") ||
	    cli_out_u64(&out, res->last_position) ||
	    (res->idempotent && cli_out_str(&out, ",\"idempotent\":true")) ||
	    cli_out_str(&out, "}\n") || cli_out_flush(&out))
		return cli_out_fail(cli, &out);
	return CLI_EXIT_OK;
}

int
cli_cmd_append(struct cli *cli, int argc, char **argv)
{
	struct append_args a;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_append_result res;
	cairn_store *st = NULL;
	cairn_status rc;
	char *buf = NULL;
	const char *data = NULL, *meta = NULL;
	size_t data_len = 0, meta_len = 0, tlen;
	const char *t;
	json_error_t jerr;
	int status;

	memset(&a, 0, sizeof(a));
	a.expected = CAIRN_ANY;
	status = parse_args(cli, argc, argv, &a);
	if (status >= 0)
		return status;
	if (a.meta) {
		ct_json_trim(a.meta, strlen(a.meta), &meta, &meta_len);
		if (!is_json(meta, meta_len, &jerr))
			return cli_usage(cli, "--meta is not valid JSON: %s",
			                 jerr.text);
	}
	status = get_data(cli, &a, &buf, &data, &data_len);
	if (status >= 0)
		goto out;
	/* `echo '{"a":1}' | cairn append` means the JSON, not its newline. */
	ct_json_trim(data, data_len, &t, &tlen);
	if (tlen != data_len && tlen > 0 && is_json(t, tlen, &jerr)) {
		data = t;
		data_len = tlen;
	}

	status = cli_open(cli, 0, &st);
	if (status != 0)
		goto out;
	ev.type = a.type;
	ev.data = data;
	ev.data_len = data_len;
	ev.metadata = meta;
	ev.metadata_len = meta_len;
	ev.tags = a.tags;
	ev.ntags = a.ntags;
	ev.id = a.have_id ? &a.id : NULL;
	memset(&res, 0, sizeof(res));
	rc = cairn_append(st, a.stream, a.expected, &ev, 1, &res);
	if (rc != CAIRN_OK)
		status = cli_status(cli, rc, NULL, 1);
	else
		status = print_result(cli, a.stream, &res);
out:
	cairn_close(st);
	free(buf);
	return status;
}
