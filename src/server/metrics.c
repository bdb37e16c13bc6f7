/*
 * metrics.c -- GET /health and GET /metrics.
 *
 * /metrics is the instrumented decorator's Prometheus text (appends,
 * events, conflicts, reads, latency histograms; see cairn.h) followed by
 * what only the server knows: live subscribers and answers by class.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server.h"

enum MHD_Result
cairnd_route_health(struct cairnd_req *req)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	enum MHD_Result ret;
	uint64_t head;
	cairn_status rc = cairn_head(req->srv->store, &head);

	if (rc != CAIRN_OK)
		return cairnd_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
		                          "unavailable", "the store: %s",
		                          cairn_last_error());
	if (cairnd_buf_str(&b, "{\"status\":\"ok\",\"backend\":\"") ||
	    cairnd_buf_str(&b, cairn_store_backend(req->srv->inner)) ||
	    cairnd_buf_str(&b, "\",\"head\":") || cairnd_buf_u64(&b, head) ||
	    cairnd_buf_str(&b, ",\"version\":\"" CAIRN_VERSION_STRING "\"}\n"))
		ret = cairnd_reply_nomem(req);
	else
		ret = cairnd_reply_json(req, MHD_HTTP_OK, &b);
	cairnd_buf_free(&b);
	return ret;
}

/* The server's own metrics, after the store's. */
static int
put_server_metrics(struct cairnd *srv, struct cairnd_buf *b)
{
	static const char *const cls[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
	size_t i;

	if (cairnd_buf_str(b, "# HELP cairnd_active_subscribers SSE "
	                      "subscribers connected now.\n"
	                      "# TYPE cairnd_active_subscribers gauge\n"
	                      "cairnd_active_subscribers ") ||
	    cairnd_buf_u64(b, cairnd_subs_active(srv)) ||
	    cairnd_buf_str(b, "\n# HELP cairnd_requests_in_flight Requests "
	                      "begun and not completed (streams included).\n"
	                      "# TYPE cairnd_requests_in_flight gauge\n"
	                      "cairnd_requests_in_flight ") ||
	    cairnd_buf_i64(b,
	                   __atomic_load_n(&srv->inflight, __ATOMIC_RELAXED)) ||
	    cairnd_buf_str(b, "\n# HELP cairnd_http_responses_total HTTP "
	                      "answers by status class.\n"
	                      "# TYPE cairnd_http_responses_total counter\n"))
		return -1;
	for (i = 0; i < 5; i++)
		if (cairnd_buf_str(b, "cairnd_http_responses_total{code=\"") ||
		    cairnd_buf_str(b, cls[i]) || cairnd_buf_str(b, "\"} ") ||
		    cairnd_buf_u64(b, __atomic_load_n(&srv->responses[i + 1],
		                                      __ATOMIC_RELAXED)) ||
		    cairnd_buf_str(b, "\n"))
			return -1;
	return 0;
}

enum MHD_Result
cairnd_route_metrics(struct cairnd_req *req)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	struct MHD_Response *resp;
	size_t needed = 0;
	cairn_status rc;

	rc = cairn_metrics_prometheus(req->srv->store, NULL, 0, &needed);
	if (rc != CAIRN_OK)
		return cairnd_reply_status(req, rc);
	/* Room for the text and its NUL, plus a margin: it may have grown
	 * since it was measured (a longer number). */
	needed += 256;
	b.p = malloc(needed);
	if (b.p == NULL)
		return cairnd_reply_nomem(req);
	b.cap = needed;
	rc = cairn_metrics_prometheus(req->srv->store, b.p, b.cap, &b.len);
	if (rc != CAIRN_OK || b.len >= b.cap) {
		cairnd_buf_free(&b);
		return rc != CAIRN_OK ? cairnd_reply_status(req, rc)
		                      : cairnd_reply_nomem(req);
	}
	if (put_server_metrics(req->srv, &b) != 0) {
		cairnd_buf_free(&b);
		return cairnd_reply_nomem(req);
	}
	resp = MHD_create_response_from_buffer(b.len, b.p,
	                                       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		cairnd_buf_free(&b);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type",
	                        "text/plain; version=0.0.4; charset=utf-8");
	return cairnd_queue(req, MHD_HTTP_OK, resp);
}
