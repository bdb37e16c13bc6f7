/*
 * aggregate.c -- aggregates: the one-stream case of command execution,
 * with snapshots so that a long stream's fold starts from a saved state.
 *
 * Clients of the public API only (snapshots, reads, appends): the rules
 * about which snapshot may be trusted live in cairn_snapshot_load().
 */
#include "cairn.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

/*
 * Start state from the newest usable snapshot of stream: *from receives
 * its version, or 0 (and state stays zeroed) when there is none to use:
 * no schema, no restore(), none saved, an engine that keeps none, or a
 * restore() that refused the blob.  Other failures of the load are
 * returned.
 */
static cairn_status
start_from_snapshot(cairn_store *st, const char *stream,
                    const cairn_aggregate_type *type, void *state,
                    uint64_t *from)
{
	uint64_t version = 0;
	void *blob = NULL;
	size_t len = 0;
	cairn_status rc;

	*from = 0;
	if (type->schema == NULL || type->restore == NULL)
		return CAIRN_OK;
	rc = cairn_snapshot_load(st, stream, type->schema, &version, &blob,
	                         &len);
	if (rc == CAIRN_NOT_FOUND || rc == CAIRN_UNSUPPORTED)
		return CAIRN_OK;
	if (rc != CAIRN_OK)
		return rc;
	if (type->restore(state, blob, len) == CAIRN_OK)
		*from = version;
	else
		memset(state, 0, type->state_size);
	cairn_free(blob);
	return CAIRN_OK;
}

cairn_status
cairn_aggregate_load(cairn_store *store, const char *stream,
                     const cairn_aggregate_type *type, void *state,
                     uint64_t *version)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *ev;
	uint64_t from, last;
	cairn_iter *it;
	cairn_status rc;

	if (version)
		*version = 0;
	if (store == NULL || stream == NULL || type == NULL ||
	    version == NULL || (state == NULL && type->state_size > 0))
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	if (type->apply == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "the aggregate type has no apply()");
	rc = cairn_validate_stream_id(stream);
	if (rc != CAIRN_OK)
		return rc;
	if (type->state_size > 0)
		memset(state, 0, type->state_size);
	rc = start_from_snapshot(store, stream, type, state, &from);
	if (rc != CAIRN_OK)
		return rc;

	ro.from = from + 1;
	rc = cairn_read_stream(store, stream, &ro, &it);
	if (rc != CAIRN_OK)
		return rc;
	last = from;
	while ((rc = cairn_iter_next(it, &ev)) == CAIRN_ROW) {
		rc = type->apply(state, ev);
		if (rc != CAIRN_OK)
			break;
		last = ev->version;
	}
	cairn_iter_free(it);
	if (rc != CAIRN_DONE)
		return rc;
	*version = last;
	cairn__error_clear();
	return CAIRN_OK;
}

cairn_status
cairn_aggregate_save(cairn_store *store, const char *stream, uint64_t version,
                     const cairn_new_event *events, size_t n,
                     cairn_append_result *result)
{
	if (version > INT64_MAX) {
		if (result)
			memset(result, 0, sizeof(*result));
		return cairn__error(CAIRN_INVALID, 0,
		                    "version %llu is not a stream version",
		                    (unsigned long long)version);
	}
	return cairn_append(store, stream, (int64_t)version, events, n, result);
}

cairn_status
cairn_aggregate_snapshot(cairn_store *store, const char *stream,
                         const cairn_aggregate_type *type, const void *state,
                         uint64_t version)
{
	void *blob = NULL;
	size_t len = 0;
	cairn_status rc;

	if (type == NULL)
		return cairn__error(CAIRN_INVALID, 0, "aggregate type is NULL");
	if (type->schema == NULL || type->serialize == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "the aggregate type has no %s: it takes no "
		                    "snapshots",
		                    type->schema == NULL ? "schema"
		                                         : "serialize()");
	if (store == NULL || stream == NULL ||
	    (state == NULL && type->state_size > 0))
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	rc = type->serialize(state, &blob, &len);
	if (rc != CAIRN_OK)
		return rc;
	rc = cairn_snapshot_save(store, stream, version, type->schema, blob,
	                         len);
	free(blob); /* the caller's malloc() (cairn.h): not the hook's */
	return rc;
}
