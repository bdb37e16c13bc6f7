/*
 * snapshot.c -- saving and loading snapshots: the checks at the edge and
 * the one rule every engine shares, that a snapshot newer than its stream
 * is not to be trusted.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* The checks save and load share: the store, the stream id and the
 * schema (1..CAIRN_SNAPSHOT_SCHEMA_MAX bytes of UTF-8, no controls). */
static cairn_status
check_names(cairn_store *st, const char *stream, const char *schema,
            size_t *stream_len)
{
	cairn_status rc;

	if (st == NULL)
		return cairn__error(CAIRN_INVALID, 0, "store is NULL");
	if (stream == NULL)
		return cairn__error(CAIRN_INVALID, 0, "stream id is NULL");
	if (schema == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "snapshot schema is NULL");
	rc = cairn__validate_name(stream, CAIRN_STREAM_ID_MAX,
	                          CAIRN_INVALID_STREAM, "stream id",
	                          stream_len);
	if (rc != CAIRN_OK)
		return rc;
	return cairn__validate_name(schema, CAIRN_SNAPSHOT_SCHEMA_MAX,
	                            CAIRN_INVALID, "snapshot schema", NULL);
}

cairn_status
cairn_snapshot_save(cairn_store *st, const char *stream, uint64_t version,
                    const char *schema, const void *state, size_t len)
{
	uint64_t current;
	size_t stream_len;
	cairn_status rc;

	rc = check_names(st, stream, schema, &stream_len);
	if (rc != CAIRN_OK)
		return rc;
	if (version == 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "a snapshot of stream '%s' needs a version "
		                    ">= 1, not 0",
		                    stream);
	if (state == NULL && len > 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "snapshot state is NULL with a length of "
		                    "%zu",
		                    len);
	if (len > st->opts.max_event_size)
		return cairn__error(
		        CAIRN_TOO_LARGE, 0,
		        "snapshot of stream '%s' is %zu bytes, over "
		        "the limit of %zu",
		        stream, len, st->opts.max_event_size);
	if (st->opts.read_only)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "the store is open read-only");
	if (st->ops->snapshot_put == NULL)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "the %s backend keeps no snapshots",
		                    st->ops->scheme);
	/* A snapshot ahead of its stream describes events that do not
	 * exist; kept, it would also stop every correct snapshot saved
	 * after it (the newest version wins).  A stream only grows, so
	 * refusing what is ahead now is enough. */
	rc = st->ops->stream_version(st->be, stream, stream_len, &current);
	if (rc != CAIRN_OK)
		return rc;
	if (version > current)
		return cairn__error(CAIRN_INVALID, 0,
		                    "a snapshot of stream '%s' at version %llu "
		                    "is ahead of the stream (version %llu)",
		                    stream, (unsigned long long)version,
		                    (unsigned long long)current);
	rc = st->ops->snapshot_put(st->be, stream, stream_len, version, schema,
	                           state, len);
	if (rc == CAIRN_OK)
		cairn__error_clear();
	return rc;
}

/*
 * A stream never shrinks, so a snapshot past the stream's version was
 * saved by mistake and would fold state the events do not hold: it
 * reads as absent.  The version is
 * read after the snapshot, so a concurrent append can only make the check
 * more lenient, never reject a good snapshot.
 */
cairn_status
cairn_snapshot_load(cairn_store *st, const char *stream, const char *schema,
                    uint64_t *version, void **state, size_t *len)
{
	uint64_t snap_version = 0, current = 0;
	size_t stream_len, blob_len = 0;
	void *blob = NULL;
	cairn_status rc;

	if (version)
		*version = 0;
	if (state)
		*state = NULL;
	if (len)
		*len = 0;
	if (version == NULL || state == NULL || len == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL output argument");
	rc = check_names(st, stream, schema, &stream_len);
	if (rc != CAIRN_OK)
		return rc;
	if (st->ops->snapshot_get == NULL)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "the %s backend keeps no snapshots",
		                    st->ops->scheme);
	rc = st->ops->snapshot_get(st->be, stream, stream_len, schema,
	                           &snap_version, &blob, &blob_len);
	if (rc != CAIRN_OK)
		return rc;
	rc = st->ops->stream_version(st->be, stream, stream_len, &current);
	if (rc != CAIRN_OK) {
		cairn__free(blob);
		return rc;
	}
	if (snap_version > current) {
		cairn__free(blob);
		return cairn__error(
		        CAIRN_NOT_FOUND, 0,
		        "the snapshot of stream '%s' under schema "
		        "'%s' is at version %llu, past the stream's "
		        "%llu: ignored",
		        stream, schema, (unsigned long long)snap_version,
		        (unsigned long long)current);
	}
	*version = snap_version;
	*state = blob;
	*len = blob_len;
	cairn__error_clear();
	return CAIRN_OK;
}

void
cairn_free(void *p)
{
	cairn__free(p);
}
