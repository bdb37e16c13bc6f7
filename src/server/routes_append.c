/*
 * routes_append.c -- POST /streams/{stream}, POST /append and
 * POST /append-if: parse the body (body.c), append through the public
 * API, answer 201 with where the events went, or 409 with why not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "server.h"

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

/* The first version of each write, found by one forward read over the
 * append's positions: a committed append's events are consecutive, the
 * writes in order, so write i starts at first_position plus the events
 * of the writes before it, and its last version is its first plus its
 * count less one.  The read stops at the first event of the last write.
 * versions[i] is 0 when it could not be learnt (the read failed, or the
 * event found there is not the write's): the append is committed
 * whatever happens here, so that only drops the versions from the
 * answer, never turns it into an error. */
static void
find_versions(cairn_store *st, const struct cairnd_body *body,
              const cairn_append_result *res, uint64_t *versions)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	uint64_t pos = res->first_position, last_start = res->first_position;
	const cairn_event *e;
	cairn_iter *it;
	cairn_status rc;
	size_t i;

	for (i = 0; i < body->nwrites; i++)
		versions[i] = 0;
	if (body->nwrites == 0 || res->first_position == 0)
		return;
	for (i = 0; i + 1 < body->nwrites; i++)
		last_start += body->writes[i].nevents;
	ro.from = res->first_position;
	ro.limit = last_start - res->first_position + 1;
	rc = cairn_read_all(st, &ro, &it);
	if (rc != CAIRN_OK)
		goto failed;
	i = 0;
	while (i < body->nwrites && (rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		while (i < body->nwrites && pos < e->position)
			pos += body->writes[i++].nevents; /* not there: none */
		if (i < body->nwrites && pos == e->position) {
			if (strcmp(e->stream, body->writes[i].stream) == 0)
				versions[i] = e->version;
			pos += body->writes[i++].nevents;
		}
	}
	cairn_iter_free(it);
	if (rc == CAIRN_ROW || rc == CAIRN_DONE)
		return;
failed:
	fprintf(stderr,
	        "cairnd: append committed at positions %llu..%llu, but its "
	        "versions could not be read: %s: %s\n",
	        (unsigned long long)res->first_position,
	        (unsigned long long)res->last_position, cairn_status_str(rc),
	        cairn_last_error());
}

/* "first_version":..,"last_version":.., (with the comma) of a write of n
 * events whose first version is v; nothing when v is 0 (not known). */
static int
put_versions(struct cairnd_buf *b, uint64_t v, size_t n)
{
	if (v == 0)
		return 0;
	return cairnd_buf_str(b, "\"first_version\":") ||
	       cairnd_buf_u64(b, v) ||
	       cairnd_buf_str(b, ",\"last_version\":") ||
	       cairnd_buf_u64(b, v + n - 1) || cairnd_buf_str(b, ",");
}

/* 201 for a single write: its versions and positions; for several: the
 * positions, and each write's.  The append is committed: nothing here
 * answers an error but a lack of memory (the versions are left out when
 * they cannot be read). */
static enum MHD_Result
reply_created(struct cairnd_req *req, const struct cairnd_body *body,
              const cairn_append_result *res, int single)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	enum MHD_Result ret;
	uint64_t pos = res->first_position, one, *versions = &one;
	size_t i;

	one = 0;
	if (body->nwrites > 1 &&
	    (versions = calloc(body->nwrites, sizeof(*versions))) == NULL)
		versions = NULL; /* answer without the versions */
	/* cairn_append() reports the last version of a fresh append. */
	if (single && res->version != 0 && !res->idempotent)
		one = res->version + 1 - body->writes[0].nevents;
	else if (versions != NULL)
		find_versions(req->srv->store, body, res, versions);
	if (cairnd_buf_str(&b, "{"))
		goto fail;
	if (single && put_versions(&b, one, body->writes[0].nevents))
		goto fail;
	if (cairnd_buf_str(&b, "\"first_position\":") ||
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
		    put_versions(&b, versions ? versions[i] : 0, w->nevents) ||
		    cairnd_buf_str(&b, "\"first_position\":") ||
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
	if (versions != &one)
		free(versions); /* free(NULL) is fine */
	return ret;
fail:
	cairnd_buf_free(&b);
	if (versions != &one)
		free(versions); /* free(NULL) is fine */
	return cairnd_reply_nomem(req);
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
