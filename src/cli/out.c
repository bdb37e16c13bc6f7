/*
 * out.c -- checked, buffered output.
 *
 * stdio would do the buffering, but its errors surface late (at fflush or
 * exit) and detached from the verb that caused them.  Here every write is
 * checked where it happens, the first failure sticks, and the verb turns
 * it into one message and an exit status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void
cli_out_init(struct cli_out *out, int fd)
{
	out->fd = fd;
	out->err = 0;
	out->len = 0;
}

/* Write all of p, retrying short writes and EINTR. */
static int
write_fully(struct cli_out *out, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(out->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			out->err = errno;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
cli_out_flush(struct cli_out *out)
{
	if (out->err)
		return -1;
	if (out->len == 0)
		return 0;
	if (write_fully(out, out->buf, out->len) != 0)
		return -1;
	out->len = 0;
	return 0;
}

int
cli_out_write(struct cli_out *out, const void *p, size_t n)
{
	if (out->err)
		return -1;
	if (n > sizeof(out->buf) - out->len) {
		if (cli_out_flush(out) != 0)
			return -1;
		/* A payload bigger than the buffer goes straight out rather
		 * than being copied through it piece by piece. */
		if (n >= sizeof(out->buf))
			return write_fully(out, p, n);
	}
	memcpy(out->buf + out->len, p, n);
	out->len += n;
	return 0;
}

int
cli_out_str(struct cli_out *out, const char *s)
{
	return cli_out_write(out, s, strlen(s));
}

int
cli_out_u64(struct cli_out *out, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

	return cli_out_write(out, tmp, (size_t)n);
}

int
cli_out_fail(const struct cli *cli, const struct cli_out *out)
{
	/* The reader went away: it has all it wanted, which is not our
	 * failure, and a message would only be noise after `| head`. */
	if (out->err == EPIPE)
		return CLI_EXIT_OK;
	return cli_error(cli, "write error: %s", strerror(out->err));
}

int
cli_print(const struct cli *cli, const char *text)
{
	struct cli_out out;

	cli_out_init(&out, STDOUT_FILENO);
	if (cli_out_str(&out, text) != 0 || cli_out_flush(&out) != 0)
		return cli_out_fail(cli, &out);
	return CLI_EXIT_OK;
}
