/*
 * util.c -- messages, number parsing, opening the store, slurping input.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Long enough for any library sentence (they name at most a 255-byte
 * stream id and a few numbers); longer messages are cut, not split. */
#define CLI_MSG_MAX 2048

/* Print "cairn: <verb>: <msg>" as exactly one line: scripts and people
 * grep stderr, and a stray newline or escape sequence from data (a stream
 * id, a library message) must not break that or the terminal. */
static void
emit(const struct cli *cli, const char *msg)
{
	char line[CLI_MSG_MAX];
	size_t i;

	cli_progress_clear();
	snprintf(line, sizeof(line), "%s", msg);
	for (i = 0; line[i] != '\0'; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f)
			line[i] = ' ';
	}
	if (cli->verb)
		fprintf(stderr, "cairn: %s: %s\n", cli->verb, line);
	else
		fprintf(stderr, "cairn: %s\n", line);
}

static void
vemit(const struct cli *cli, const char *fmt, va_list ap)
{
	char msg[CLI_MSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(cli, msg);
}

int
cli_usage(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(cli, fmt, ap);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

int
cli_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(cli, fmt, ap);
	va_end(ap);
	return CLI_EXIT_ERROR;
}

int
cli_status(const struct cli *cli, cairn_status rc, const char *context,
           int usage_statuses)
{
	const char *why = cairn_last_error();
	char msg[CLI_MSG_MAX];

	if (why == NULL || why[0] == '\0')
		why = cairn_status_str(rc);
	/* A sentence too long for one line is cut, on purpose. */
	if (context && snprintf(msg, sizeof(msg), "%s: %s", context, why) >=
	                       (int)sizeof(msg))
		msg[sizeof(msg) - 1] = '\0';
	else if (!context)
		snprintf(msg, sizeof(msg), "%s", why);
	emit(cli, msg);

	if (rc == CAIRN_CONFLICT)
		return CLI_EXIT_CONFLICT;
	if (usage_statuses &&
	    (rc == CAIRN_INVALID || rc == CAIRN_INVALID_STREAM ||
	     rc == CAIRN_INVALID_TYPE || rc == CAIRN_INVALID_TAG ||
	     rc == CAIRN_INVALID_URI))
		return CLI_EXIT_USAGE;
	return CLI_EXIT_ERROR;
}

int
cli_bad_option(const struct cli *cli, int c, char *const argv[])
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	char shortopt[3] = {'-', (char)optopt, '\0'};

	/* getopt leaves optopt 0 for an unknown long option; for a short one
	 * argv[optind - 1] may be a whole cluster, so name the letter. */
	if (strncmp(arg, "--", 2) != 0 && optopt != 0)
		arg = shortopt;
	if (c == ':')
		return cli_usage(cli,
		                 "option '%s' needs a value (see "
		                 "'cairn %s --help')",
		                 arg, cli->verb);
	/* A known long option given "=value" it does not take: getopt
	 * names it in optopt, where an unknown one leaves 0. */
	if (optopt != 0 && strncmp(arg, "--", 2) == 0 &&
	    strchr(arg, '=') != NULL)
		return cli_usage(cli,
		                 "option '%.*s' takes no value (see "
		                 "'cairn %s --help')",
		                 (int)(strchr(arg, '=') - arg), arg, cli->verb);
	return cli_usage(cli, "unknown option '%s' (see 'cairn %s --help')",
	                 arg, cli->verb);
}

int
cli_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull accepts leading blanks and a minus sign (and negates);
	 * a count or a version has neither. */
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int
cli_open(const struct cli *cli, int read_only, cairn_store **out)
{
	cairn_options opts;
	cairn_status rc;
	char context[CLI_MSG_MAX];

	cairn_options_init(&opts);
	opts.read_only = read_only;
	rc = cairn_open(cli->store_uri, &opts, out);
	if (rc == CAIRN_OK)
		return 0;
	snprintf(context, sizeof(context), "cannot open store '%s'",
	         cli->store_uri);
	return cli_status(cli, rc, context, 1);
}

int
cli_read_all(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		return -1;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *bigger;

			if (cap > max) {
				free(buf);
				return -2;
			}
			cap *= 2;
			bigger = realloc(buf, cap + 1);
			if (bigger == NULL) {
				free(buf);
				errno = ENOMEM;
				return -1;
			}
			buf = bigger;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		return -2;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
