/*
 * routes_read.c -- GET /streams/{stream}, GET /all (streamed), GET
 * /streams/{stream}/info and GET /streams (paged listing).
 *
 * A read is answered with a chunked body produced by a callback that
 * pulls events from the iterator as libmicrohttpd has room to send them:
 * memory holds one event's JSON at a time, whatever the read's length.
 * The callback runs on the connection's own thread (thread per
 * connection), the thread that opened the iterator.  Once the 200 is out
 * a failure can no longer change the status: the response is then cut
 * short (the chunked encoding is not terminated), which every HTTP
 * client reports as an error rather than a complete answer.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "server.h"

#define TYPES_MAX 64 /* types= filter entries */

struct reader {
	struct cairnd *srv;
	cairn_iter *it;
	struct cairnd_buf out; /* text not yet handed over */
	size_t off;
	int ndjson;
	int started; /* the opening "[" was written */
	uint64_t n;  /* events written */
	int done;    /* the closing text is in out */
	int failed;
};

/* Put the next event (or the end) into r->out.  0, or -1 to cut. */
static int
fill(struct reader *r)
{
	const cairn_event *e;
	cairn_status rc;

	cairnd_buf_reset(&r->out);
	r->off = 0;
	if (!r->ndjson && !r->started) {
		r->started = 1;
		if (cairnd_buf_str(&r->out, "["))
			return -1;
	}
	rc = cairn_iter_next(r->it, &e);
	if (rc == CAIRN_DONE) {
		r->done = 1;
		if (r->ndjson)
			return 0;
		return cairnd_buf_str(&r->out, r->n ? "\n]\n" : "]\n");
	}
	if (rc != CAIRN_ROW)
		return -1;
	if (!r->ndjson && cairnd_buf_str(&r->out, r->n ? ",\n" : "\n"))
		return -1;
	if (cairnd_event_json(&r->out, e) ||
	    (r->ndjson && cairnd_buf_str(&r->out, "\n")))
		return -1;
	r->n++;
	return 0;
}

static ssize_t
reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct reader *r = cls;
	size_t put = 0;

	(void)pos;
	while (put < max) {
		if (r->off == r->out.len) {
			if (r->done || r->failed)
				break;
			if (__atomic_load_n(&r->srv->stopping,
			                    __ATOMIC_ACQUIRE) ||
			    fill(r) != 0) {
				r->failed = 1;
				break;
			}
			continue;
		}
		put += cairnd_buf_drain(&r->out, &r->off, buf + put, max - put);
	}
	if (put > 0)
		return (ssize_t)put;
	return r->failed ? MHD_CONTENT_READER_END_WITH_ERROR
	                 : MHD_CONTENT_READER_END_OF_STREAM;
}

static void
reader_free(void *cls)
{
	struct reader *r = cls;

	cairn_iter_free(r->it);
	cairnd_buf_free(&r->out);
	free(r);
}

/* Answer 200 with the events of it (taken over: freed in any case). */
static enum MHD_Result
stream_events(struct cairnd_req *req, cairn_iter *it)
{
	struct reader *r = calloc(1, sizeof(*r));
	struct MHD_Response *resp;

	if (r == NULL) {
		cairn_iter_free(it);
		return cairnd_reply_nomem(req);
	}
	r->srv = req->srv;
	r->it = it;
	r->ndjson = cairnd_wants_ndjson(req);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	                                         CAIRND_STREAM_BLOCK, reader_cb,
	                                         r, reader_free);
	if (resp == NULL) {
		reader_free(r);
		return cairnd_reply_nomem(req);
	}
	MHD_add_response_header(resp, "Content-Type",
	                        r->ndjson ? "application/x-ndjson"
	                                  : "application/json");
	return cairnd_queue(req, MHD_HTTP_OK, resp);
}

/* from, limit and direction into ro; -1 when an error was queued. */
static int
read_params(struct cairnd_req *req, cairn_read_opts *ro)
{
	const char *dir;
	int bad = 0;

	if (cairnd_query_u64(req, "from", &ro->from) < 0 ||
	    cairnd_query_u64(req, "limit", &ro->limit) < 0)
		return -1;
	dir = cairnd_query(req, "direction", &bad);
	if (bad || (dir && strcmp(dir, "forward") != 0 &&
	            strcmp(dir, "backward") != 0)) {
		cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
		                   "invalid_parameter",
		                   "direction is \"forward\" or \"backward\"");
		return -1;
	}
	ro->backwards = dir && strcmp(dir, "backward") == 0;
	return 0;
}

enum MHD_Result
cairnd_route_read_stream(struct cairnd_req *req)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it;
	cairn_status rc;
	uint64_t version;

	if (read_params(req, &ro) != 0)
		return MHD_YES;
	rc = cairn_stream_version(req->srv->store, req->arg, &version);
	if (rc != CAIRN_OK)
		return cairnd_reply_status(req, rc);
	if (version == 0)
		return cairnd_reply_error(
		        req, MHD_HTTP_NOT_FOUND, "stream_not_found",
		        "stream '%s' has no events", req->arg);
	rc = cairn_read_stream(req->srv->store, req->arg, &ro, &it);
	if (rc != CAIRN_OK)
		return cairnd_reply_status(req, rc);
	return stream_events(req, it);
}

enum MHD_Result
cairnd_route_read_all(struct cairnd_req *req)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const char *types[TYPES_MAX];
	char *list;
	long ntypes;
	int bad = 0;
	cairn_iter *it;
	cairn_status rc;

	if (read_params(req, &ro) != 0)
		return MHD_YES;
	list = (char *)cairnd_query(req, "types", &bad);
	ro.prefix = cairnd_query(req, "prefix", &bad);
	if (bad)
		return cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
		                          "invalid_parameter",
		                          "a badly percent-encoded parameter");
	ntypes = cairnd_split_list(list, types, TYPES_MAX);
	if (ntypes < 0)
		return cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
		                          "invalid_parameter",
		                          "more than %d types", TYPES_MAX);
	ro.types = types;
	ro.ntypes = (size_t)ntypes;
	rc = cairn_read_all(req->srv->store, &ro, &it);
	if (rc != CAIRN_OK)
		return cairnd_reply_status(req, rc);
	return stream_events(req, it);
}

/* One stream's entry: {"stream","version","last_position","created",
 * "updated"}. */
static int
put_info(struct cairnd_buf *b, const cairn_stream_info *s)
{
	return cairnd_buf_str(b, "{\"stream\":") ||
	       cairnd_buf_json_string(b, s->stream, s->stream_len) ||
	       cairnd_buf_str(b, ",\"version\":") ||
	       cairnd_buf_u64(b, s->version) ||
	       cairnd_buf_str(b, ",\"last_position\":") ||
	       cairnd_buf_u64(b, s->last_position) ||
	       cairnd_buf_str(b, ",\"created\":") ||
	       cairnd_buf_time(b, s->created_ns) ||
	       cairnd_buf_str(b, ",\"updated\":") ||
	       cairnd_buf_time(b, s->updated_ns) || cairnd_buf_str(b, "}");
}

enum MHD_Result
cairnd_route_stream_info(struct cairnd_req *req)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	const cairn_stream_info *s;
	cairn_stream_iter *si;
	enum MHD_Result ret;
	cairn_status rc;

	/* The stream itself sorts first among the ids it prefixes. */
	rc = cairn_list_streams(req->srv->store, req->arg, NULL, 1, &si);
	if (rc != CAIRN_OK)
		return cairnd_reply_status(req, rc);
	rc = cairn_stream_iter_next(si, &s);
	if (rc == CAIRN_ROW && strcmp(s->stream, req->arg) == 0) {
		if (put_info(&b, s) || cairnd_buf_str(&b, "\n"))
			ret = cairnd_reply_nomem(req);
		else
			ret = cairnd_reply_json(req, MHD_HTTP_OK, &b);
	} else if (rc == CAIRN_ROW || rc == CAIRN_DONE) {
		ret = cairnd_reply_error(req, MHD_HTTP_NOT_FOUND,
		                         "stream_not_found",
		                         "stream '%s' has no events", req->arg);
	} else {
		ret = cairnd_reply_status(req, rc);
	}
	cairn_stream_iter_free(si);
	cairnd_buf_free(&b);
	return ret;
}

enum MHD_Result
cairnd_route_list_streams(struct cairnd_req *req)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	const cairn_stream_info *s;
	cairn_stream_iter *si;
	const char *prefix, *after;
	char last[CAIRN_STREAM_ID_MAX + 1];
	size_t last_len = 0;
	uint64_t limit = CAIRND_LIST_DEFAULT, got = 0;
	enum MHD_Result ret;
	cairn_status rc;
	int bad = 0, more = 0;

	prefix = cairnd_query(req, "prefix", &bad);
	after = cairnd_query(req, "after", &bad);
	if (bad)
		return cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
		                          "invalid_parameter",
		                          "a badly percent-encoded parameter");
	if (cairnd_query_u64(req, "limit", &limit) < 0)
		return MHD_YES;
	if (limit == 0 || limit > CAIRND_LIST_MAX)
		return cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
		                          "invalid_parameter", "limit is 1..%u",
		                          CAIRND_LIST_MAX);
	/* One more than the page, to know whether there is a next one. */
	rc = cairn_list_streams(req->srv->store, prefix, after,
	                        (size_t)limit + 1, &si);
	if (rc != CAIRN_OK)
		return cairnd_reply_status(req, rc);
	if (cairnd_buf_str(&b, "{\"streams\":["))
		goto nomem;
	while ((rc = cairn_stream_iter_next(si, &s)) == CAIRN_ROW) {
		if (got == limit) {
			more = 1;
			break;
		}
		if ((got > 0 && cairnd_buf_str(&b, ",")) || put_info(&b, s))
			goto nomem;
		last_len = s->stream_len < sizeof(last) ? s->stream_len : 0;
		memcpy(last, s->stream, last_len);
		got++;
	}
	if (rc != CAIRN_ROW && rc != CAIRN_DONE) {
		ret = cairnd_reply_status(req, rc);
		goto out;
	}
	/* "next" is the last id of this page: the "after" of the next. */
	if (cairnd_buf_str(&b, "],\"next\":") ||
	    (more ? cairnd_buf_json_string(&b, last, last_len)
	          : cairnd_buf_str(&b, "null")) ||
	    cairnd_buf_str(&b, "}\n"))
		goto nomem;
	ret = cairnd_reply_json(req, MHD_HTTP_OK, &b);
	goto out;
nomem:
	ret = cairnd_reply_nomem(req);
out:
	cairn_stream_iter_free(si);
	cairnd_buf_free(&b);
	return ret;
}
