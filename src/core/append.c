/*
 * append.c -- the append path: validation, event ids, the request handed
 * to the engine, and the rules every engine shares (expected versions,
 * idempotency, conflict reports).
 */
#include "core.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool
cairn__expected_ok(int64_t expected, uint64_t actual)
{
	switch (expected) {
	case CAIRN_ANY:
		return true;
	case CAIRN_STREAM_EXISTS:
		return actual > 0;
	default:
		return (uint64_t)expected == actual;
	}
}

static const char *
expected_str(int64_t expected, char *buf, size_t size)
{
	if (expected == CAIRN_ANY)
		return "any";
	if (expected == CAIRN_STREAM_EXISTS)
		return "an existing stream";
	if (expected == CAIRN_NO_STREAM)
		return "no stream (version 0)";
	snprintf(buf, size, "version %lld", (long long)expected);
	return buf;
}

/* The sentence of a version conflict, from the result alone, so that it
 * can be written in whichever thread reports it. */
static cairn_status
conflict_message(const cairn_append_result *r)
{
	char buf[32];

	return cairn__error(
	        CAIRN_CONFLICT, 0,
	        "stream '%s': expected %s, but it is at "
	        "version %llu",
	        r->conflict_stream,
	        expected_str(r->conflict_expected, buf, sizeof(buf)),
	        (unsigned long long)r->conflict_actual);
}

cairn_status
cairn__conflict(cairn_append_result *result, size_t windex,
                const cairn__write *w, uint64_t actual)
{
	result->conflict_index = windex;
	memcpy(result->conflict_stream, w->stream, w->stream_len);
	result->conflict_stream[w->stream_len] = '\0';
	result->conflict_expected = w->expected;
	result->conflict_actual = actual;
	return conflict_message(result);
}

cairn_status
cairn__req_error(cairn__append_req *req, cairn_status status, int native,
                 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req->message, sizeof(req->message), fmt, ap);
	va_end(ap);
	req->native = native;
	req->status = status;
	return status;
}

/*
 * An append is a repeat when every one of its events carries a caller id
 * and each id is committed in its write's stream, all at consecutive
 * positions in the order of the call.  Then the first event's position
 * fixes where every other must be.  A given id found anywhere else means
 * the caller reuses ids: a conflict, never a silent duplicate.
 */
/* Fill the conflict fields of req's result for an id found at loc,
 * met in write wi. */
static void
id_conflict(cairn__append_req *req, size_t wi, const cairn__id_location *loc)
{
	cairn_append_result *r = req->result;

	r->conflict_index = wi;
	memcpy(r->conflict_stream, loc->stream, loc->stream_len);
	r->conflict_stream[loc->stream_len] = 0;
	r->conflict_expected = req->writes[wi].expected;
	r->conflict_actual = loc->stream_version;
}

/*
 * An append is a repeat when every one of its events carries a caller id
 * and each id is committed in its write's stream, all at consecutive
 * positions in the order of the call.  Then the first event's position
 * fixes where every other must be.  A given id found anywhere else means
 * the caller reuses ids: a conflict, never a silent duplicate.  The
 * conflict names the stream that holds the first id found, with its
 * current version, so that a caller resuming a partly committed batch
 * (an import, say) knows where that stream stands.
 */
cairn_status
cairn__idempotency_check(cairn__append_req *req, cairn__id_lookup_fn lookup,
                         void *ctx)
{
	cairn__id_location loc, first_loc;
	uint64_t first = 0, k = 0;
	size_t wi, i, found = 0, first_wi = 0;
	bool same_place = true;
	cairn_status rc;
	char idbuf[37];

	if (req->ids_given == 0)
		return CAIRN_DONE;
	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];
		for (i = 0; i < w->nevents; i++, k++) {
			if (w->events[i].id == NULL) {
				same_place = false;
				continue;
			}
			rc = lookup(ctx, &w->ids[i], &loc);
			if (rc == CAIRN_NOT_FOUND) {
				same_place = false;
				continue;
			}
			if (rc != CAIRN_OK)
				return cairn__req_error(
				        req, rc, 0,
				        "looking up an event id: %s",
				        cairn_last_error());
			if (found == 0) {
				first = loc.position - k;
				first_loc = loc;
				first_wi = wi;
			}
			found++;
			if (loc.position != first + k ||
			    loc.stream_len != w->stream_len ||
			    memcmp(loc.stream, w->stream, w->stream_len) != 0) {
				cairn_uuid_format(&w->ids[i], idbuf);
				id_conflict(req, wi, &loc);
				return cairn__req_error(
				        req, CAIRN_CONFLICT, 0,
				        "event id %s is already committed in "
				        "stream '%.*s' at version %llu, "
				        "elsewhere than this append puts it",
				        idbuf, (int)loc.stream_len, loc.stream,
				        (unsigned long long)loc.version);
			}
			if (wi == 0)
				req->result->version = loc.version;
		}
	}
	if (found == 0)
		return CAIRN_DONE;
	if (!same_place || found != req->nevents) {
		id_conflict(req, first_wi, &first_loc);
		return cairn__req_error(
		        req, CAIRN_CONFLICT, 0,
		        "%zu of the %zu events of this append "
		        "are already committed (a partial "
		        "repeat); stream '%.*s' is at version "
		        "%llu",
		        found, req->nevents, (int)first_loc.stream_len,
		        first_loc.stream,
		        (unsigned long long)first_loc.stream_version);
	}
	req->result->first_position = first;
	req->result->last_position = first + req->nevents - 1;
	req->result->idempotent = 1;
	return CAIRN_OK;
}

/* The caller's expected version, checked for range. */
static cairn_status
check_expected(int64_t expected, size_t windex)
{
	if (expected < CAIRN_STREAM_EXISTS)
		return cairn__error(CAIRN_INVALID, 0,
		                    "expected version %lld of write %zu is not "
		                    "ANY (-1), STREAM_EXISTS (-2) or >= 0",
		                    (long long)expected, windex);
	return CAIRN_OK;
}

static int
uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(cairn_uuid));
}

/* Event ids must be unique within a call: a repeat inside one append
 * could never be stored at two places. */
static cairn_status
check_unique_ids(const cairn__write *ws, size_t nwrites, size_t nevents)
{
	cairn_uuid *all;
	size_t wi, k = 0, i;
	cairn_status rc = CAIRN_OK;
	char idbuf[37];

	if (nevents < 2)
		return CAIRN_OK;
	all = cairn__malloc(nevents * sizeof(*all));
	if (all == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	for (wi = 0; wi < nwrites; wi++)
		for (i = 0; i < ws[wi].nevents; i++)
			all[k++] = ws[wi].ids[i];
	qsort(all, nevents, sizeof(*all), uuid_cmp);
	for (i = 1; i < nevents; i++)
		if (memcmp(&all[i - 1], &all[i], sizeof(*all)) == 0) {
			cairn_uuid_format(&all[i], idbuf);
			rc = cairn__error(CAIRN_INVALID, 0,
			                  "event id %s appears twice in one "
			                  "append",
			                  idbuf);
			break;
		}
	cairn__free(all);
	return rc;
}

/* One append is one engine transaction and one log record: its payload
 * is bounded as a whole, not only event by event. */
static cairn_status
check_total_bytes(const cairn__write *ws, size_t nwrites, size_t *total)
{
	size_t wi, i, bytes = 0, one;

	for (wi = 0; wi < nwrites; wi++)
		for (i = 0; i < ws[wi].nevents; i++) {
			one = ws[wi].events[i].data_len +
			      ws[wi].events[i].metadata_len;
			if (one > CAIRN_APPEND_BYTES_MAX - bytes)
				return cairn__error(
				        CAIRN_TOO_LARGE, 0,
				        "an append may carry at most %zu bytes "
				        "of data and metadata in all",
				        (size_t)CAIRN_APPEND_BYTES_MAX);
			bytes += one;
		}
	*total = bytes;
	return CAIRN_OK;
}

/* Two writes to one stream in one call would need two expected versions
 * for one stream: refused. */
static cairn_status
check_distinct_streams(const cairn__write *ws, size_t nwrites)
{
	size_t a, b;

	/* Multi-stream appends name few streams; a quadratic check over
	 * them is cheaper than building a set. */
	for (a = 1; a < nwrites; a++)
		for (b = 0; b < a; b++)
			if (ws[a].stream_len == ws[b].stream_len &&
			    memcmp(ws[a].stream, ws[b].stream,
			           ws[a].stream_len) == 0)
				return cairn__error(
				        CAIRN_INVALID, 0,
				        "stream '%s' appears twice in "
				        "one multi-stream append",
				        ws[a].stream);
	return CAIRN_OK;
}

/*
 * Validate the caller's writes into ws (stream lengths, ids), generating
 * the ids the caller left out; ids must hold room for every event.
 */
static cairn_status
prepare_writes(cairn_store *st, const cairn_write *in, size_t nwrites,
               bool checks_allowed, cairn__write *ws, cairn_uuid *ids,
               size_t *nevents_out, size_t *given_out)
{
	size_t wi, i, k = 0, given = 0, nevents = 0;
	cairn_status rc;
	char role[48];

	for (wi = 0; wi < nwrites; wi++) {
		const cairn_write *w = &in[wi];
		if (w->stream == NULL)
			return cairn__error(CAIRN_INVALID, 0,
			                    "stream of write %zu is NULL", wi);
		if (nwrites > 1)
			snprintf(role, sizeof(role), "stream id of write %zu",
			         wi);
		else
			snprintf(role, sizeof(role), "stream id");
		rc = cairn__validate_name(w->stream, CAIRN_STREAM_ID_MAX,
		                          CAIRN_INVALID_STREAM, role,
		                          &ws[wi].stream_len);
		if (rc != CAIRN_OK)
			return rc;
		rc = check_expected(w->expected, wi);
		if (rc != CAIRN_OK)
			return rc;
		/* A write without events checks its stream's version and
		 * writes nothing: only the executor makes such writes. */
		if ((w->nevents == 0 && !checks_allowed) ||
		    (w->events == NULL && w->nevents > 0))
			return cairn__error(CAIRN_INVALID, 0,
			                    "write %zu to '%s' has no events",
			                    wi, w->stream);
		/* the total is bounded by cairn__append_request() */
		nevents += w->nevents;
		for (i = 0; i < w->nevents; i++) {
			rc = cairn__validate_event(&w->events[i], i,
			                           st->opts.max_event_size);
			if (rc != CAIRN_OK)
				return rc;
		}
		ws[wi].stream = w->stream;
		ws[wi].expected = w->expected;
		ws[wi].events = w->events;
		ws[wi].nevents = w->nevents;
	}
	for (wi = 0; wi < nwrites; wi++) {
		ws[wi].ids = ids + k;
		for (i = 0; i < ws[wi].nevents; i++, k++) {
			if (ws[wi].events[i].id == NULL)
				continue;
			ids[k] = *ws[wi].events[i].id;
			given++;
		}
	}
	/* Generate the missing ids in one draw, then place them. */
	if (given < nevents) {
		cairn_uuid *fresh = cairn__malloc((nevents - given) * sizeof(*fresh));
		size_t f = 0;
		if (fresh == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
		rc = cairn__uuid_generate_many(fresh, nevents - given);
		if (rc != CAIRN_OK) {
			cairn__free(fresh);
			return rc;
		}
		for (k = 0, wi = 0; wi < nwrites; wi++)
			for (i = 0; i < ws[wi].nevents; i++, k++)
				if (ws[wi].events[i].id == NULL)
					ids[k] = fresh[f++];
		cairn__free(fresh);
	}
	*nevents_out = nevents;
	*given_out = given;
	return CAIRN_OK;
}

/* Small appends, the common case, need no heap for ids and writes. */
#define STACK_IDS 64
#define STACK_WRITES 16

/*
 * The one append path behind cairn_append(), cairn_append_multi() and
 * cairn_append_if(): every check at the edge, ids, then the engine.  A
 * condition (NULL: none) is validated after the writes, so that a bad
 * write is reported alike with or without one, and handed to the engine,
 * which checks it inside its commit.
 */
cairn_status
cairn__append_request(cairn_store *st, const cairn_write *writes,
                      size_t nwrites, bool checks_allowed,
                      const cairn_query *condition, uint64_t condition_after,
                      cairn_append_result *result)
{
	cairn__write ws_stack[STACK_WRITES], *ws = ws_stack;
	cairn_uuid ids_stack[STACK_IDS], *ids = ids_stack;
	cairn_append_result local;
	cairn__append_req req;
	size_t total = 0, wi;
	cairn_status rc;

	if (result == NULL)
		result = &local;
	memset(result, 0, sizeof(*result));
	if (st == NULL || writes == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL %s",
		                    st == NULL ? "store" : "writes");
	if (nwrites == 0 || nwrites > CAIRN_BATCH_MAX)
		return cairn__error(CAIRN_INVALID, 0,
		                    "an append needs 1..%d writes, not %zu",
		                    CAIRN_BATCH_MAX, nwrites);
	if (st->opts.read_only)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "the store is open read-only");
	for (wi = 0; wi < nwrites; wi++) {
		if (writes[wi].nevents > CAIRN_BATCH_MAX - total)
			return cairn__error(
			        CAIRN_INVALID, 0,
			        "an append may carry at most %d events",
			        CAIRN_BATCH_MAX);
		total += writes[wi].nevents;
	}
	if (nwrites > STACK_WRITES &&
	    (ws = cairn__malloc(nwrites * sizeof(*ws))) == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (total > STACK_IDS && (ids = cairn__malloc(total * sizeof(*ids))) == NULL) {
		rc = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		goto done;
	}
	memset(&req, 0, sizeof(req));
	rc = prepare_writes(st, writes, nwrites, checks_allowed, ws, ids,
	                    &req.nevents, &req.ids_given);
	if (rc == CAIRN_OK)
		rc = check_total_bytes(ws, nwrites, &req.nbytes);
	if (rc == CAIRN_OK)
		rc = check_distinct_streams(ws, nwrites);
	if (rc == CAIRN_OK)
		rc = check_unique_ids(ws, nwrites, req.nevents);
	if (rc == CAIRN_OK && condition != NULL)
		rc = cairn__validate_query(condition);
	if (rc != CAIRN_OK)
		goto done;
	req.writes = ws;
	req.nwrites = nwrites;
	req.result = result;
	req.condition = condition;
	req.condition_after = condition_after;
	rc = st->ops->append(st->be, &req);
	/* Group commit may have run the request in another thread: bring
	 * its sentence to this one. */
	if (rc == CAIRN_OK) {
		cairn__error_clear();
		if (st->own_notify && result->last_position)
			cairn__notify_bump(st->own_notify);
	} else if (req.message[0])
		cairn__error(rc, req.native, "%s", req.message);
	else if (rc == CAIRN_CONFLICT)
		conflict_message(result);
done:
	if (ws != ws_stack)
		cairn__free(ws);
	if (ids != ids_stack)
		cairn__free(ids);
	return rc;
}

cairn_status
cairn_append_multi(cairn_store *st, const cairn_write *writes, size_t nwrites,
                   cairn_append_result *result)
{
	return cairn__append_request(st, writes, nwrites, false, NULL, 0,
	                             result);
}

cairn_status
cairn_append(cairn_store *st, const char *stream, int64_t expected,
             const cairn_new_event *events, size_t n,
             cairn_append_result *result)
{
	cairn_write w;

	if (n == 0 && result)
		memset(result, 0, sizeof(*result));
	if (n == 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "an append needs at least one event");
	w.stream = stream;
	w.expected = expected;
	w.events = events;
	w.nevents = n;
	return cairn_append_multi(st, &w, 1, result);
}
