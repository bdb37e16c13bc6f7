/*
 * auth.c -- the optional bearer token.
 *
 * The token comes from a file (--token-file), never from the command line
 * (which other users can read in /proc).  A request presents it as
 * "Authorization: Bearer <token>", or as ?access_token=<token> for
 * clients that cannot set headers (a browser's EventSource).  It is
 * compared in constant time and never written anywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"

#define TOKEN_MAX 4096

int
cairnd_auth_load(struct cairnd *srv, const char *path)
{
	char buf[TOKEN_MAX + 2];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "cairnd: --token-file %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	                 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (n == 0 || n > TOKEN_MAX || strlen(buf) != n ||
	    strpbrk(buf, " \t\r\n") != NULL) {
		fprintf(stderr,
		        "cairnd: --token-file %s: the token must be 1..%d "
		        "bytes on one line, without spaces\n",
		        path, TOKEN_MAX);
		return -1;
	}
	srv->token = strdup(buf);
	memset(buf, 0, sizeof(buf));
	if (srv->token == NULL)
		return -1;
	srv->token_len = n;
	return 0;
}

/* Compare in time that depends only on the configured token's length,
 * not on where the first difference is or on the presented length. */
static int
token_equal(const char *want, size_t wlen, const char *got)
{
	size_t glen = strlen(got), i;
	unsigned char diff = (unsigned char)(glen != wlen);

	for (i = 0; i < wlen; i++) {
		unsigned char g = glen ? (unsigned char)got[i % glen] : 0;

		diff |= (unsigned char)(g ^ (unsigned char)want[i]);
	}
	return diff == 0;
}

int
cairnd_auth_check(struct cairnd_req *req, enum MHD_Result *ret)
{
	struct cairnd *srv = req->srv;
	const char *h, *token = NULL;
	int bad = 0;

	if (srv->token == NULL)
		return 0;
	h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
	                                MHD_HTTP_HEADER_AUTHORIZATION);
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		token = h + 7;
		while (*token == ' ')
			token++;
	} else if (h == NULL) {
		token = cairnd_query(req, "access_token", &bad);
	}
	if (token == NULL) {
		struct MHD_Response *resp;
		struct cairnd_buf b = CAIRND_BUF_INIT;

		*ret = MHD_NO;
		if (cairnd_buf_str(&b, "{\"error\":\"unauthorized\","
		                       "\"message\":\"a bearer token is "
		                       "required\"}\n") == 0 &&
		    (resp = MHD_create_response_from_buffer(
		             b.len, b.p, MHD_RESPMEM_MUST_COPY)) != NULL) {
			MHD_add_response_header(resp, "Content-Type",
			                        "application/json");
			MHD_add_response_header(resp, "WWW-Authenticate",
			                        "Bearer realm=\"cairnd\"");
			*ret = cairnd_queue(req, MHD_HTTP_UNAUTHORIZED, resp);
		}
		cairnd_buf_free(&b);
		return -1;
	}
	if (!token_equal(srv->token, srv->token_len, token)) {
		*ret = cairnd_reply_error(req, MHD_HTTP_FORBIDDEN, "forbidden",
		                          "the token is not valid");
		return -1;
	}
	return 0;
}
