/*
 * read.c -- iterators over events and streams, folds, and the cheap
 * metadata reads.
 *
 * The engine yields events in order; the core wraps its iterator with
 * what every engine shares: the $all filters (types, prefix, DCB query),
 * the limit, a terminal status that sticks, so that after DONE or an
 * error every later call answers the same and the engine is never asked
 * again, and the head the read saw (cairn_iter_head()).
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

struct cairn_iter {
	cairn__iter *impl;
	uint64_t remaining;    /* UINT64_MAX when unlimited */
	cairn_status terminal; /* CAIRN_ROW while the read goes on */
	char last_error[256];  /* the sentence of a terminal error */
	bool filtered;
	/* copies of the caller's filters, owned */
	char **types;
	size_t ntypes;
	char *prefix;
	size_t prefix_len;
	cairn_query *query;   /* one block: cairn__query_copy() */
	cairn_read_opts opts; /* with types/prefix/query pointing at copies */
	/* cairn_iter_head()'s answer once the read ended (the engine's
	 * iterator is released then) */
	uint64_t end_head;
	uint64_t last_position;
	bool limited; /* DONE came from the limit, not from the engine */
};

struct cairn_stream_iter {
	cairn__stream_iter *impl;
	cairn_status terminal;
};

/* True when ev passes the iterator's $all filters: prefix, query, types.
 * Runs once per event examined, so the prefix length is kept, not
 * measured again. */
static bool
filter_match(const cairn_iter *it, const cairn_event *ev)
{
	const cairn_read_opts *opts = &it->opts;
	size_t i;

	if (it->prefix_len &&
	    (ev->stream_len < it->prefix_len ||
	     memcmp(ev->stream, it->prefix, it->prefix_len) != 0))
		return false;
	if (opts->query && !cairn_query_match(opts->query, ev))
		return false;
	if (opts->ntypes == 0)
		return true;
	for (i = 0; i < opts->ntypes; i++)
		if (strcmp(ev->type, opts->types[i]) == 0)
			return true;
	return false;
}

static void
iter_destroy(cairn_iter *it)
{
	size_t i;

	if (it->impl)
		it->impl->ops->free(it->impl);
	for (i = 0; i < it->ntypes; i++)
		cairn__free(it->types[i]);
	cairn__free(it->types);
	cairn__free(it->prefix);
	cairn__free(it->query);
	cairn__free(it);
}

/* Take copies of the caller's filters: the iterator outlives the call
 * and must not keep the caller's pointers. */
static cairn_status
copy_filters(cairn_iter *it, const cairn_read_opts *opts)
{
	size_t i;
	cairn_status rc;

	if (opts->ntypes > 0 && opts->types == NULL)
		return cairn__error(CAIRN_INVALID, 0, "ntypes without types");
	if (opts->ntypes > 0) {
		it->types = cairn__calloc(opts->ntypes, sizeof(*it->types));
		if (it->types == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	}
	for (i = 0; i < opts->ntypes; i++) {
		rc = cairn__validate_name(opts->types[i], CAIRN_TYPE_MAX,
		                          CAIRN_INVALID_TYPE, "filter type",
		                          NULL);
		if (rc != CAIRN_OK)
			return rc;
		it->types[i] = cairn__strdup(opts->types[i]);
		if (it->types[i] == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
		it->ntypes = i + 1;
	}
	if (opts->prefix && opts->prefix[0]) {
		it->prefix_len = strnlen(opts->prefix, CAIRN_STREAM_ID_MAX + 1);
		if (it->prefix_len > CAIRN_STREAM_ID_MAX)
			return cairn__error(CAIRN_INVALID_STREAM, 0,
			                    "stream prefix is longer than %d "
			                    "bytes",
			                    CAIRN_STREAM_ID_MAX);
		it->prefix = cairn__strdup(opts->prefix);
		if (it->prefix == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	}
	if (opts->query) {
		rc = cairn__validate_query(opts->query);
		if (rc == CAIRN_OK)
			rc = cairn__query_copy(opts->query, &it->query);
		if (rc != CAIRN_OK)
			return rc;
	}
	it->opts.types = (const char *const *)it->types;
	it->opts.ntypes = it->ntypes;
	it->opts.prefix = it->prefix;
	it->opts.query = it->query;
	it->filtered = it->ntypes > 0 || it->prefix != NULL || it->query;
	return CAIRN_OK;
}

static cairn_status
iter_new(const cairn_read_opts *opts, bool with_filters, cairn_iter **out)
{
	static const cairn_read_opts defaults = CAIRN_READ_OPTS_INIT;
	cairn_iter *it;
	cairn_status rc;

	it = cairn__calloc(1, sizeof(*it));
	if (it == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (opts == NULL)
		opts = &defaults;
	it->opts = *opts;
	it->opts.types = NULL;
	it->opts.ntypes = 0;
	it->opts.prefix = NULL;
	it->opts.query = NULL;
	it->remaining = opts->limit ? opts->limit : UINT64_MAX;
	it->terminal = CAIRN_ROW;
	if (with_filters) {
		rc = copy_filters(it, opts);
		if (rc != CAIRN_OK) {
			iter_destroy(it);
			return rc;
		}
	}
	*out = it;
	return CAIRN_OK;
}

cairn_status
cairn_read_stream(cairn_store *st, const char *stream,
                  const cairn_read_opts *opts, cairn_iter **out)
{
	cairn_iter *it;
	cairn_status rc;
	size_t len;

	if (out)
		*out = NULL;
	if (st == NULL || stream == NULL || out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	rc = cairn__validate_name(stream, CAIRN_STREAM_ID_MAX,
	                          CAIRN_INVALID_STREAM, "stream id", &len);
	if (rc != CAIRN_OK)
		return rc;
	rc = iter_new(opts, false, &it);
	if (rc != CAIRN_OK)
		return rc;
	rc = st->ops->read_stream(st->be, stream, len, &it->opts, &it->impl);
	if (rc != CAIRN_OK) {
		iter_destroy(it);
		return rc;
	}
	*out = it;
	cairn__error_clear();
	return CAIRN_OK;
}

cairn_status
cairn_read_all(cairn_store *st, const cairn_read_opts *opts, cairn_iter **out)
{
	cairn_iter *it;
	cairn_status rc;

	if (out)
		*out = NULL;
	if (st == NULL || out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	rc = iter_new(opts, true, &it);
	if (rc != CAIRN_OK)
		return rc;
	rc = st->ops->read_all(st->be, &it->opts, &it->impl);
	if (rc != CAIRN_OK) {
		iter_destroy(it);
		return rc;
	}
	*out = it;
	cairn__error_clear();
	return CAIRN_OK;
}

void
cairn__iter_park(cairn_iter *it)
{
	if (it->impl && it->impl->ops->park)
		it->impl->ops->park(it->impl);
}

static cairn_status iter_head_now(const cairn_iter *it, uint64_t *position);

/*
 * The read is over (DONE, its limit, or an error): note the head it saw
 * and let go of the engine's iterator at once, so that an iterator the
 * caller has not freed yet pins no snapshot and holds up no map growth.
 */
static cairn_status
iter_end(cairn_iter *it, cairn_status terminal)
{
	/* After an error the read did not examine what it was to: only
	 * what it yielded counts. */
	if (terminal != CAIRN_DONE ||
	    iter_head_now(it, &it->end_head) != CAIRN_OK)
		it->end_head = it->last_position;
	it->impl->ops->free(it->impl);
	it->impl = NULL;
	return it->terminal = terminal;
}

cairn_status
cairn_iter_next(cairn_iter *it, const cairn_event **event)
{
	const cairn_event *ev;
	cairn_status rc;

	if (it == NULL || event == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	*event = NULL;
	if (it->terminal != CAIRN_ROW) {
		if (it->terminal != CAIRN_DONE)
			cairn__error(it->terminal, 0, "%s", it->last_error);
		return it->terminal;
	}
	if (it->remaining == 0) {
		it->limited = true;
		return iter_end(it, CAIRN_DONE);
	}
	for (;;) {
		rc = it->impl->ops->next(it->impl, &ev);
		if (rc != CAIRN_ROW) {
			if (rc != CAIRN_DONE)
				snprintf(it->last_error, sizeof(it->last_error),
				         "%s", cairn_last_error());
			return iter_end(it, rc);
		}
		if (!it->filtered || filter_match(it, ev))
			break;
	}
	it->remaining--;
	if (ev->position > it->last_position)
		it->last_position = ev->position;
	*event = ev;
	return CAIRN_ROW;
}

/*
 * An answer too low only makes a conditional append stricter; one too
 * high would let it miss an event.  So:
 *   - a read cut short by its limit (or a backward read that began below
 *     the head) answers the newest position it yielded: events after it
 *     were not all examined, so it is the highest position that is
 *     safe;
 *   - an engine that knows the view its read is on answers itself;
 *   - otherwise the newest position yielded: by DONE every matching event
 *     of the view was yielded, so a matching event after it is one the
 *     read did not see, which is what a condition must catch.
 */
static cairn_status
iter_head_now(const cairn_iter *it, uint64_t *position)
{
	/* The engine's head stands for "every event up to it was
	 * examined" only for a read that ran, or is running, from where
	 * it would end: not one stopped by its limit (also once it yielded
	 * its last row), nor a backward read that began below the head. */
	if (it->limited || it->remaining == 0 ||
	    (it->opts.backwards && it->opts.from != 0) || it->impl == NULL ||
	    it->impl->ops->head == NULL) {
		*position = it->last_position;
		return CAIRN_OK;
	}
	return it->impl->ops->head(it->impl, position);
}

cairn_status
cairn_iter_head(const cairn_iter *it, uint64_t *position)
{
	if (it == NULL || position == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	if (it->impl == NULL) {
		*position = it->end_head;
		return CAIRN_OK;
	}
	return iter_head_now(it, position);
}

void
cairn_iter_free(cairn_iter *it)
{
	if (it)
		iter_destroy(it);
}

cairn_status
cairn_fold_stream(cairn_store *st, const char *stream, uint64_t after,
                  cairn_fold_fn fn, void *acc)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *ev;
	cairn_iter *it;
	cairn_status rc;

	if (fn == NULL)
		return cairn__error(CAIRN_INVALID, 0, "fold function is NULL");
	if (after == UINT64_MAX)
		return CAIRN_OK;
	ro.from = after + 1;
	rc = cairn_read_stream(st, stream, &ro, &it);
	if (rc != CAIRN_OK)
		return rc;
	while ((rc = cairn_iter_next(it, &ev)) == CAIRN_ROW) {
		rc = fn(acc, ev);
		if (rc != CAIRN_OK)
			break;
	}
	cairn_iter_free(it);
	return rc == CAIRN_DONE ? CAIRN_OK : rc;
}

cairn_status
cairn_stream_version(cairn_store *st, const char *stream, uint64_t *version)
{
	cairn_status rc;
	size_t len;

	if (st == NULL || stream == NULL || version == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	rc = cairn__validate_name(stream, CAIRN_STREAM_ID_MAX,
	                          CAIRN_INVALID_STREAM, "stream id", &len);
	if (rc != CAIRN_OK)
		return rc;
	return st->ops->stream_version(st->be, stream, len, version);
}

cairn_status
cairn_head(cairn_store *st, uint64_t *position)
{
	if (st == NULL || position == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	return st->ops->head(st->be, position);
}

cairn_status
cairn_list_streams(cairn_store *st, const char *prefix, const char *after,
                   size_t limit, cairn_stream_iter **out)
{
	cairn_stream_iter *it;
	cairn_status rc;

	if (out)
		*out = NULL;
	if (st == NULL || out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	if (prefix == NULL)
		prefix = "";
	if (after == NULL)
		after = "";
	if (strnlen(prefix, CAIRN_STREAM_ID_MAX + 1) > CAIRN_STREAM_ID_MAX ||
	    strnlen(after, CAIRN_STREAM_ID_MAX + 1) > CAIRN_STREAM_ID_MAX)
		return cairn__error(CAIRN_INVALID, 0,
		                    "prefix or cursor is longer than %d bytes",
		                    CAIRN_STREAM_ID_MAX);
	if (limit == 0)
		limit = CAIRN_LIST_DEFAULT_LIMIT;
	it = cairn__calloc(1, sizeof(*it));
	if (it == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	rc = st->ops->list_streams(st->be, prefix, after, limit, &it->impl);
	if (rc != CAIRN_OK) {
		cairn__free(it);
		return rc;
	}
	it->terminal = CAIRN_ROW;
	*out = it;
	return CAIRN_OK;
}

cairn_status
cairn_stream_iter_next(cairn_stream_iter *it, const cairn_stream_info **info)
{
	cairn_status rc;

	if (it == NULL || info == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	*info = NULL;
	if (it->terminal != CAIRN_ROW)
		return it->terminal;
	rc = it->impl->ops->next(it->impl, info);
	if (rc != CAIRN_ROW)
		it->terminal = rc;
	return rc;
}

void
cairn_stream_iter_free(cairn_stream_iter *it)
{
	if (it == NULL)
		return;
	it->impl->ops->free(it->impl);
	cairn__free(it);
}
