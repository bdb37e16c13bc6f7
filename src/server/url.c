/*
 * url.c -- percent-decoding, query parameters, content negotiation.
 *
 * libmicrohttpd is told not to unescape anything (main.c installs an
 * identity unescaper), so that "/streams/a%2Fb" keeps its escaped slash
 * until the path is split; each piece is decoded here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
cairnd_pct_decode(const char *in, size_t n, char *out, int plus)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

/* Keep s until the request ends. */
static int
keep(struct cairnd_req *req, void *s)
{
	void **bigger =
	        realloc(req->allocs, (req->nallocs + 1) * sizeof(*req->allocs));

	if (bigger == NULL)
		return -1;
	req->allocs = bigger;
	req->allocs[req->nallocs++] = s;
	return 0;
}

const char *
cairnd_query(struct cairnd_req *req, const char *name, int *bad)
{
	const char *raw = MHD_lookup_connection_value(
	        req->conn, MHD_GET_ARGUMENT_KIND, name);
	size_t n;
	char *out;

	if (raw == NULL)
		return NULL;
	n = strlen(raw);
	out = malloc(n + 1);
	if (out == NULL || keep(req, out) != 0) {
		free(out);
		*bad = 1;
		return NULL;
	}
	if (cairnd_pct_decode(raw, n, out, 1) < 0) {
		*bad = 1;
		return NULL;
	}
	return out;
}

int
cairnd_query_u64(struct cairnd_req *req, const char *name, uint64_t *out)
{
	int bad = 0;
	const char *s = cairnd_query(req, name, &bad);
	unsigned long long v;
	char *end;

	if (s == NULL && !bad)
		return 0;
	if (s != NULL && s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0') {
			*out = (uint64_t)v;
			return 1;
		}
	}
	cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST, "invalid_parameter",
	                   "query parameter \"%s\" is not a number >= 0", name);
	return -1;
}

long
cairnd_split_list(char *s, const char **list, size_t max)
{
	size_t n = 0;
	char *p = s;

	if (s == NULL || *s == '\0')
		return 0;
	for (;;) {
		char *comma = strchr(p, ',');

		if (n == max)
			return -1;
		if (comma)
			*comma = '\0';
		if (*p != '\0')
			list[n++] = p;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return (long)n;
}

int
cairnd_wants_ndjson(struct cairnd_req *req)
{
	const char *accept = MHD_lookup_connection_value(
	        req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	const char *p;
	size_t len = strlen("application/x-ndjson");

	if (accept == NULL)
		return 0;
	for (p = accept; *p; p++)
		if (strncasecmp(p, "application/x-ndjson", len) == 0)
			return 1;
	return 0;
}
