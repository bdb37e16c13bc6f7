/*
 * routes_append.c -- POST /streams/{stream}, POST /append and
 * POST /append-if: parse the body (body.c), append through the public
 * API, answer 201 with where the events went, or 409 with why not.
 */
#include <stdio.h>
#include <string.h>

#include "body.h"
#include "server.h"

/* The version of the event at position (appends report positions; a
 * multi-stream append reports no per-stream versions). */
static cairn_status
version_at(cairn_store *st, uint64_t position, uint64_t *version)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *e;
	cairn_iter *it;
	cairn_status rc;

	ro.from = position;
	ro.limit = 1;
	rc = cairn_read_all(st, &ro, &it);
	if (rc != CAIRN_OK)
		return rc;
	rc = cairn_iter_next(it, &e);
	if (rc == CAIRN_ROW && e->position == position) {
		*version = e->version;
		rc = CAIRN_OK;
	} else if (rc == CAIRN_ROW || rc == CAIRN_DONE) {
		rc = CAIRN_NOT_FOUND;
	}
	cairn_iter_free(it);
	return rc;
}

static int
put_expected(struct cairnd_buf *b, int64_t expected)
{
	if (expected == CAIRN_ANY)
		return cairnd_buf_str(b, "\"any\"");
	if (expected == CAIRN_STREAM_EXISTS)
		return cairnd_buf_str(b, "\"exists\"");
	return cairnd_buf_i64(b, expected);
}

/* 409: a version conflict names the write, its stream, the expected and
 * the actual version; a failed DCB condition the first matching event. */
static enum MHD_Result
reply_conflict(struct cairnd_req *req, const struct cairnd_body *body,
               const cairn_append_result *res)
{
	struct cairnd_buf x = CAIRND_BUF_INIT;
	enum MHD_Result ret;
	const char *code = "wrong_expected_version";
	int64_t expected = res->conflict_expected;
	const char *msg = cairn_last_error();

	if (body->query.items != NULL && res->conflict_position != 0) {
		code = "condition_failed";
		if (cairnd_buf_str(&x, ",\"position\":") ||
		    cairnd_buf_u64(&x, res->conflict_position) ||
		    cairnd_buf_str(&x, ",\"stream\":") ||
		    cairnd_buf_json_string(&x, res->conflict_stream,
		                           strlen(res->conflict_stream)))
			goto out;
	} else {
		if (res->conflict_index < body->nwrites)
			expected = body->writes[res->conflict_index].expected;
		if (cairnd_buf_str(&x, ",\"stream\":") ||
		    cairnd_buf_json_string(&x, res->conflict_stream,
		                           strlen(res->conflict_stream)) ||
		    cairnd_buf_str(&x, ",\"expected\":") ||
		    put_expected(&x, expected) ||
		    cairnd_buf_str(&x, ",\"actual\":") ||
		    cairnd_buf_u64(&x, res->conflict_actual) ||
		    (body->nwrites > 1 &&
		     (cairnd_buf_str(&x, ",\"index\":") ||
		      cairnd_buf_u64(&x, res->conflict_index))))
			goto out;
	}
	ret = cairnd_reply_error_extra(req, MHD_HTTP_CONFLICT, code,
	                               msg[0] ? msg : "conflict", &x);
	cairnd_buf_free(&x);
	return ret;
out:
	cairnd_buf_free(&x);
	return cairnd_reply_nomem(req);
}

/* "first_version":..,"last_version":.. of one write whose events start
 * at position first; last is its last version when known, else 0 (then
 * the event at first is read). */
static int
put_versions(struct cairnd_req *req, struct cairnd_buf *b, const cairn_write *w,
             uint64_t first, uint64_t last, cairn_status *rc)
{
	uint64_t v = last + 1 - w->nevents;

	*rc = last ? CAIRN_OK : version_at(req->srv->store, first, &v);
	if (*rc != CAIRN_OK)
		return -1;
	return cairnd_buf_str(b, "\"first_version\":") ||
	       cairnd_buf_u64(b, v) ||
	       cairnd_buf_str(b, ",\"last_version\":") ||
	       cairnd_buf_u64(b, v + w->nevents - 1);
}

/* 201 for a single write: its versions and positions; for several: the
 * positions, and each write's. */
static enum MHD_Result
reply_created(struct cairnd_req *req, const struct cairnd_body *body,
              const cairn_append_result *res, int single)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	cairn_status rc = CAIRN_NOMEM;
	enum MHD_Result ret;
	uint64_t pos = res->first_position;
	size_t i;

	if (cairnd_buf_str(&b, "{"))
		goto fail;
	if (single && put_versions(req, &b, &body->writes[0], pos,
	                           res->idempotent ? 0 : res->version, &rc))
		goto fail;
	if (cairnd_buf_str(&b, single ? "," : "") ||
	    cairnd_buf_str(&b, "\"first_position\":") ||
	    cairnd_buf_u64(&b, res->first_position) ||
	    cairnd_buf_str(&b, ",\"last_position\":") ||
	    cairnd_buf_u64(&b, res->last_position) ||
	    cairnd_buf_str(&b, ",\"idempotent\":") ||
	    cairnd_buf_str(&b, res->idempotent ? "true" : "false"))
		goto fail;
	if (!single && cairnd_buf_str(&b, ",\"writes\":["))
		goto fail;
	for (i = 0; !single && i < body->nwrites; i++) {
		const cairn_write *w = &body->writes[i];

		if (cairnd_buf_str(&b, i ? ",{\"stream\":" : "{\"stream\":") ||
		    cairnd_buf_json_string(&b, w->stream, strlen(w->stream)) ||
		    cairnd_buf_str(&b, ",") ||
		    put_versions(req, &b, w, pos, 0, &rc) ||
		    cairnd_buf_str(&b, ",\"first_position\":") ||
		    cairnd_buf_u64(&b, pos) ||
		    cairnd_buf_str(&b, ",\"last_position\":") ||
		    cairnd_buf_u64(&b, pos + w->nevents - 1) ||
		    cairnd_buf_str(&b, "}"))
			goto fail;
		pos += w->nevents;
	}
	if (cairnd_buf_str(&b, single ? "}\n" : "]}\n"))
		goto fail;
	ret = cairnd_reply_json(req, MHD_HTTP_CREATED, &b);
	cairnd_buf_free(&b);
	return ret;
fail:
	cairnd_buf_free(&b);
	return rc == CAIRN_NOMEM ? cairnd_reply_nomem(req)
	                         : cairnd_reply_status(req, rc);
}

/* Parse, append with the kind's call, answer. */
static enum MHD_Result
append(struct cairnd_req *req, enum cairnd_body_kind kind)
{
	struct cairnd_body body;
	struct cairnd_body_error err;
	cairn_append_result res;
	cairn_store *st = req->srv->store;
	enum MHD_Result ret;
	cairn_status rc;
	int prc;

	prc = cairnd_body_parse(req->body.p ? req->body.p : "", req->body.len,
	                        kind, req->arg, &body, &err);
	if (prc == -2)
		return cairnd_reply_nomem(req);
	if (prc != 0)
		return cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST, err.code,
		                          "%s", err.message);
	memset(&res, 0, sizeof(res));
	switch (kind) {
	case CAIRND_BODY_APPEND:
		rc = cairn_append(
		        st, body.writes[0].stream, body.writes[0].expected,
		        body.writes[0].events, body.writes[0].nevents, &res);
		break;
	case CAIRND_BODY_MULTI:
		rc = cairn_append_multi(st, body.writes, body.nwrites, &res);
		break;
	default:
		rc = cairn_append_if(st, &body.query, body.after, body.writes,
		                     body.nwrites, &res);
		break;
	}
	if (kind != CAIRND_BODY_APPEND)
		res.version = 0; /* only cairn_append() reports it */
	if (rc == CAIRN_OK)
		ret = reply_created(req, &body, &res, !body.has_writes);
	else if (rc == CAIRN_CONFLICT)
		ret = reply_conflict(req, &body, &res);
	else
		ret = cairnd_reply_status(req, rc);
	cairnd_body_free(&body);
	return ret;
}

enum MHD_Result
cairnd_route_append(struct cairnd_req *req)
{
	return append(req, CAIRND_BODY_APPEND);
}

enum MHD_Result
cairnd_route_append_multi(struct cairnd_req *req)
{
	return append(req, CAIRND_BODY_MULTI);
}

enum MHD_Result
cairnd_route_append_if(struct cairnd_req *req)
{
	return append(req, CAIRND_BODY_APPEND_IF);
}
