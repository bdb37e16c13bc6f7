/*
 * http.c -- the libmicrohttpd daemon: start and stop, the request
 * lifecycle (route, check, collect the body, dispatch), and completion.
 *
 * A request goes through the access handler several times: first with
 * its headers only (routed and checked here: method, authentication,
 * content type, declared length, so that a bad request is refused before
 * its body is read), then once per piece of body (collected up to
 * --max-body), then once more to be answered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

enum route {
	R_STATIC = 0,
	R_HEALTH,
	R_METRICS,
	R_STREAMS,
	R_STREAM,
	R_STREAM_INFO,
	R_ALL,
	R_APPEND,
	R_APPEND_IF,
	R_SUBSCRIBE,
	R_SUBS,
	R_ACK,
	R_API_UNKNOWN /* under an API path, but no such endpoint */
};

/* Methods a route answers, as an Allow header value. */
static const char *const route_allow[] = {
        [R_STATIC] = "GET, HEAD", [R_HEALTH] = "GET, HEAD",
        [R_METRICS] = "GET",      [R_STREAMS] = "GET",
        [R_STREAM] = "GET, POST", [R_STREAM_INFO] = "GET",
        [R_ALL] = "GET",          [R_APPEND] = "POST",
        [R_APPEND_IF] = "POST",   [R_SUBSCRIBE] = "GET",
        [R_SUBS] = "GET",         [R_ACK] = "POST",
        [R_API_UNKNOWN] = "",
};

#define NS_PER_MS 1000000L

/* ---- routing ------------------------------------------------------------ */

/* Does the raw segment [s, s+n) equal word? */
static int
seg_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Split path into at most 4 segments (after the leading slash); returns
 * their count, or 5 when there are more. */
static int
split_path(const char *path, const char *seg[4], size_t len[4])
{
	const char *p = path + 1;
	int n = 0;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 4)
			return 5;
		seg[n] = p;
		len[n] = l;
		n++;
		if (slash == NULL)
			return n;
		p = slash + 1;
	}
}

static enum route
route_of(const char *path, const char **arg, size_t *arglen)
{
	const char *seg[4];
	size_t len[4];
	int n;

	*arg = NULL;
	*arglen = 0;
	if (path[0] != '/')
		return R_API_UNKNOWN;
	n = split_path(path, seg, len);
	if (n == 1) {
		static const struct {
			const char *word;
			enum route r;
		} one[] = {
		        {"health", R_HEALTH},       {"metrics", R_METRICS},
		        {"streams", R_STREAMS},     {"all", R_ALL},
		        {"append", R_APPEND},       {"append-if", R_APPEND_IF},
		        {"subscribe", R_SUBSCRIBE}, {"subscriptions", R_SUBS}};
		size_t i;

		for (i = 0; i < sizeof(one) / sizeof(one[0]); i++)
			if (seg_is(seg[0], len[0], one[i].word))
				return one[i].r;
		return R_STATIC;
	}
	if (seg_is(seg[0], len[0], "streams")) {
		*arg = seg[1];
		*arglen = len[1];
		if (n == 2)
			return R_STREAM;
		if (n == 3 && seg_is(seg[2], len[2], "info"))
			return R_STREAM_INFO;
		return R_API_UNKNOWN;
	}
	if (seg_is(seg[0], len[0], "subscriptions")) {
		*arg = seg[1];
		*arglen = len[1];
		if (n == 3 && seg_is(seg[2], len[2], "ack"))
			return R_ACK;
		return R_API_UNKNOWN;
	}
	if (seg_is(seg[0], len[0], "health") ||
	    seg_is(seg[0], len[0], "metrics") ||
	    seg_is(seg[0], len[0], "all") || seg_is(seg[0], len[0], "append") ||
	    seg_is(seg[0], len[0], "append-if") ||
	    seg_is(seg[0], len[0], "subscribe"))
		return R_API_UNKNOWN;
	return R_STATIC;
}

static int
method_allowed(enum route r, const char *method)
{
	const char *allow = route_allow[r];
	size_t len = strlen(method);
	const char *p = allow;

	while ((p = strstr(p, method)) != NULL) {
		if ((p == allow || p[-1] == ' ') &&
		    (p[len] == '\0' || p[len] == ','))
			return 1;
		p += len;
	}
	return 0;
}

static enum MHD_Result
reply_405(struct cairnd_req *req)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret = MHD_NO;

	if (cairnd_buf_str(&b, "{\"error\":\"method_not_allowed\","
	                       "\"message\":\"this path answers ") ||
	    cairnd_buf_str(&b, route_allow[req->route]) ||
	    cairnd_buf_str(&b, "\"}\n"))
		goto out;
	resp = MHD_create_response_from_buffer(b.len, b.p,
	                                       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		goto out;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Allow", route_allow[req->route]);
	ret = cairnd_queue(req, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
out:
	cairnd_buf_free(&b);
	return ret;
}

/* ---- the first call: headers only ---------------------------------------- */

static int
is_json_type(const char *ct)
{
	size_t len = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", len) != 0)
		return 0;
	return ct[len] == '\0' || ct[len] == ';' || ct[len] == ' ';
}

/* Checks a POST's headers: JSON, and not declared larger than allowed. */
static int
check_post(struct cairnd_req *req, enum MHD_Result *ret)
{
	const char *ct = MHD_lookup_connection_value(
	        req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cl = MHD_lookup_connection_value(
	        req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (!is_json_type(ct)) {
		*ret = cairnd_reply_error(
		        req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		        "unsupported_media_type",
		        "the body must be sent as Content-Type: "
		        "application/json");
		return -1;
	}
	if (cl != NULL && strtoull(cl, NULL, 10) > req->srv->cfg.max_body) {
		*ret = cairnd_reply_error(
		        req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
		        "the body is over the limit of %zu bytes",
		        req->srv->cfg.max_body);
		return -1;
	}
	return 0;
}

/* Decode and check the path's {stream} or {name}. */
static int
take_arg(struct cairnd_req *req, const char *raw, size_t len,
         enum MHD_Result *ret)
{
	req->arg = malloc(len + 1);
	if (req->arg == NULL) {
		*ret = cairnd_reply_nomem(req);
		return -1;
	}
	if (len == 0 || cairnd_pct_decode(raw, len, req->arg, 0) < 0) {
		*ret = cairnd_reply_error(
		        req, MHD_HTTP_BAD_REQUEST,
		        req->route == R_ACK ? "invalid_request"
		                            : "invalid_stream",
		        "the path segment is empty or badly percent-encoded");
		return -1;
	}
	if (req->route != R_ACK &&
	    cairn_validate_stream_id(req->arg) != CAIRN_OK) {
		*ret = cairnd_reply_status(req, CAIRN_INVALID_STREAM);
		return -1;
	}
	return 0;
}

static enum MHD_Result
begin(struct cairnd_req *req)
{
	enum MHD_Result ret = MHD_YES;
	const char *arg;
	size_t arglen;

	req->route = route_of(req->url, &arg, &arglen);
	if (__atomic_load_n(&req->srv->stopping, __ATOMIC_ACQUIRE))
		return cairnd_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
		                          "unavailable",
		                          "the server is shutting down");
	if (req->route == R_API_UNKNOWN)
		return cairnd_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found",
		                          "no such endpoint");
	if (!method_allowed(req->route, req->method))
		return reply_405(req);
	if (req->route == R_STATIC || req->route == R_HEALTH)
		return MHD_YES;
	if (cairnd_auth_check(req, &ret) != 0)
		return ret;
	if (arg != NULL && take_arg(req, arg, arglen, &ret) != 0)
		return ret;
	if (strcmp(req->method, "POST") == 0 && check_post(req, &ret) != 0)
		return ret;
	return MHD_YES;
}

/* ---- the last call: answer ----------------------------------------------- */

static enum MHD_Result
dispatch(struct cairnd_req *req)
{
	int post = strcmp(req->method, "POST") == 0;

	if (req->too_large)
		return cairnd_reply_error(
		        req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
		        "the body is over the limit of %zu bytes",
		        req->srv->cfg.max_body);
	switch ((enum route)req->route) {
	case R_STATIC:
		return cairnd_route_static(req);
	case R_HEALTH:
		return cairnd_route_health(req);
	case R_METRICS:
		return cairnd_route_metrics(req);
	case R_STREAMS:
		return cairnd_route_list_streams(req);
	case R_STREAM:
		return post ? cairnd_route_append(req)
		            : cairnd_route_read_stream(req);
	case R_STREAM_INFO:
		return cairnd_route_stream_info(req);
	case R_ALL:
		return cairnd_route_read_all(req);
	case R_APPEND:
		return cairnd_route_append_multi(req);
	case R_APPEND_IF:
		return cairnd_route_append_if(req);
	case R_SUBSCRIBE:
		return cairnd_route_subscribe(req);
	case R_SUBS:
		return cairnd_route_list_subs(req);
	case R_ACK:
		return cairnd_route_ack(req);
	case R_API_UNKNOWN:
		break;
	}
	return cairnd_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found",
	                          "no such endpoint");
}

/* Dispatch, and make sure something was queued: a route that returned
 * MHD_YES without an answer would be called again and again by
 * libmicrohttpd (busy, and growing req->allocs) until the timeout.  Such
 * a route is a bug; the client gets one 500 instead. */
static enum MHD_Result
answer(struct cairnd_req *req)
{
	enum MHD_Result ret = dispatch(req);

	if (ret == MHD_NO || req->answered)
		return ret;
	fprintf(stderr, "cairnd: %s %s: the route queued no answer\n",
	        req->method, req->url);
	ret = cairnd_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
	                         "internal", "the server prepared no answer");
	return req->answered ? ret : MHD_NO;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
	struct cairnd *srv = cls;
	struct cairnd_req *req = *con_cls;

	(void)version;
	if (req == NULL) {
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			return MHD_NO;
		req->srv = srv;
		req->conn = conn;
		req->method = method;
		req->url = url;
		*con_cls = req;
		__atomic_add_fetch(&srv->inflight, 1, __ATOMIC_ACQ_REL);
		return begin(req);
	}
	if (req->answered) { /* refused early: drop what still comes */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!req->too_large &&
		    *upload_size > srv->cfg.max_body - req->body.len)
			req->too_large = 1;
		if (!req->too_large &&
		    cairnd_buf_put(&req->body, upload, *upload_size) != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	return answer(req);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct cairnd *srv = cls;
	struct cairnd_req *req = *con_cls;
	size_t i;

	(void)conn;
	(void)toe;
	if (req == NULL)
		return;
	for (i = 0; i < req->nallocs; i++)
		free(req->allocs[i]);
	free(req->allocs);
	free(req->arg);
	cairnd_buf_free(&req->body);
	free(req);
	*con_cls = NULL;
	__atomic_sub_fetch(&srv->inflight, 1, __ATOMIC_ACQ_REL);
}

/* libmicrohttpd would decode %2F in the path before we split it. */
static size_t
unescape_none(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return strlen(s);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("cairnd: http: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* ---- start and stop ------------------------------------------------------ */

/* "HOST:PORT" or "[V6]:PORT" into an address. */
static int
resolve(const char *listen, struct sockaddr_storage *ss, int *v6)
{
	char host[256];
	const char *colon = strrchr(listen, ':'), *h = listen;
	size_t hlen;
	struct addrinfo hints, *res = NULL;
	int rc;

	if (colon == NULL || colon[1] == '\0')
		goto bad;
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && colon[-1] == ']') {
		h = listen + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "cairnd: --listen %s: %s\n", listen,
		        gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
bad:
	fprintf(stderr, "cairnd: --listen %s: expected HOST:PORT\n", listen);
	return -1;
}

int
cairnd_http_start(struct cairnd *srv)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
	                 MHD_USE_ERROR_LOG;
	int v6 = 0;

	memset(&ss, 0, sizeof(ss));
	if (resolve(srv->cfg.listen, &ss, &v6) != 0)
		return -1;
	if (v6)
		flags |= MHD_USE_IPv6;
	srv->daemon = MHD_start_daemon(
	        flags, 0, NULL, NULL, on_request, srv,
	        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
	        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned)srv->cfg.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned)srv->cfg.max_connections,
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	        (size_t)CAIRND_CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
	        on_completed, srv, MHD_OPTION_UNESCAPE_CALLBACK, unescape_none,
	        NULL, MHD_OPTION_END);
	if (srv->daemon == NULL) {
		fprintf(stderr, "cairnd: cannot listen on %s: %s\n",
		        srv->cfg.listen,
		        errno ? strerror(errno) : "libmicrohttpd refused");
		return -1;
	}
	return 0;
}

unsigned
cairnd_http_port(struct cairnd *srv)
{
	const union MHD_DaemonInfo *info =
	        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);

	return info ? info->port : 0;
}

/* Stop taking connections, close the subscribers, let what is running
 * finish (appends are never cut: a read gives up at once, see
 * routes_read.c), then join every connection thread. */
void
cairnd_http_stop(struct cairnd *srv)
{
	struct timespec tick = {0, 10 * NS_PER_MS};
	unsigned waited = 0;
	MHD_socket fd;

	__atomic_store_n(&srv->stopping, 1, __ATOMIC_RELEASE);
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	cairnd_subs_stop_all(srv);
	while (__atomic_load_n(&srv->inflight, __ATOMIC_ACQUIRE) > 0 &&
	       waited < srv->cfg.shutdown_ms) {
		nanosleep(&tick, NULL);
		waited += 10;
	}
	if (waited >= srv->cfg.shutdown_ms)
		fprintf(stderr,
		        "cairnd: %ld requests still running after %u ms; "
		        "closing them\n",
		        __atomic_load_n(&srv->inflight, __ATOMIC_ACQUIRE),
		        srv->cfg.shutdown_ms);
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
}
