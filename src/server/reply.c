/*
 * reply.c -- the answers: JSON bodies, errors with their stable codes, and
 * the mapping from library statuses to HTTP statuses (docs/http-api.md,
 * "Errors").
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

#define MESSAGE_MAX 1024

enum MHD_Result
cairnd_queue(struct cairnd_req *req, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;
	unsigned cls = status / 100;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (MHD_get_response_header(resp, "Cache-Control") == NULL)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES) {
		req->answered = 1;
		if (cls < 6)
			__atomic_add_fetch(&req->srv->responses[cls], 1,
			                   __ATOMIC_RELAXED);
	}
	return ret;
}

enum MHD_Result
cairnd_reply_json(struct cairnd_req *req, unsigned status,
                  const struct cairnd_buf *b)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	        b->len, b->p, MHD_RESPMEM_MUST_COPY);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	return cairnd_queue(req, status, resp);
}

enum MHD_Result
cairnd_reply_error_extra(struct cairnd_req *req, unsigned status,
                         const char *code, const char *message,
                         const struct cairnd_buf *extra)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	enum MHD_Result ret = MHD_NO;

	if (cairnd_buf_str(&b, "{\"error\":\"") || cairnd_buf_str(&b, code) ||
	    cairnd_buf_str(&b, "\",\"message\":") ||
	    cairnd_buf_json_string(&b, message, strlen(message)) ||
	    (extra && cairnd_buf_put(&b, extra->p, extra->len)) ||
	    cairnd_buf_str(&b, "}\n"))
		goto out;
	ret = cairnd_reply_json(req, status, &b);
out:
	cairnd_buf_free(&b);
	return ret;
}

enum MHD_Result
cairnd_reply_error(struct cairnd_req *req, unsigned status, const char *code,
                   const char *fmt, ...)
{
	char msg[MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cairnd_reply_error_extra(req, status, code, msg, NULL);
}

/* The HTTP status and stable code of a library failure. */
static unsigned
http_status(cairn_status rc, const char **code)
{
	switch (rc) {
	case CAIRN_CONFLICT:
		*code = "conflict";
		return MHD_HTTP_CONFLICT;
	case CAIRN_NOT_FOUND:
		*code = "not_found";
		return MHD_HTTP_NOT_FOUND;
	case CAIRN_INVALID:
	case CAIRN_INVALID_URI:
		*code = "invalid_request";
		return MHD_HTTP_BAD_REQUEST;
	case CAIRN_INVALID_STREAM:
		*code = "invalid_stream";
		return MHD_HTTP_BAD_REQUEST;
	case CAIRN_INVALID_TYPE:
		*code = "invalid_type";
		return MHD_HTTP_BAD_REQUEST;
	case CAIRN_INVALID_TAG:
		*code = "invalid_tag";
		return MHD_HTTP_BAD_REQUEST;
	case CAIRN_TOO_LARGE:
		*code = "too_large";
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case CAIRN_UNSUPPORTED:
		*code = "unsupported";
		return MHD_HTTP_NOT_IMPLEMENTED;
	case CAIRN_CLOSED:
	case CAIRN_TIMEOUT:
	case CAIRN_NOMEM:
		*code = "unavailable";
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case CAIRN_CORRUPT:
		*code = "corrupt";
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	case CAIRN_IO:
		*code = "io_error";
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	default:
		*code = "internal";
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

enum MHD_Result
cairnd_reply_status(struct cairnd_req *req, cairn_status rc)
{
	const char *code, *msg = cairn_last_error();
	unsigned status = http_status(rc, &code);

	if (msg[0] == '\0')
		msg = cairn_status_str(rc);
	if (status >= 500)
		fprintf(stderr, "cairnd: %s %s: %s: %s\n", req->method,
		        req->url, cairn_status_str(rc), msg);
	return cairnd_reply_error(req, status, code, "%s", msg);
}

enum MHD_Result
cairnd_reply_nomem(struct cairnd_req *req)
{
	return cairnd_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
	                          "unavailable", "out of memory");
}
