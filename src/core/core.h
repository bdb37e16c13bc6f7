/*
 * core.h -- internals shared by the files of src/core/ (not backends).
 */
#ifndef CAIRN_CORE_H
#define CAIRN_CORE_H

#include "backend.h"

#include <stdio.h>

/* An open store: the engine plus what the core keeps for it. */
struct cairn_store {
	const cairn__backend_ops *ops;
	cairn__backend *be;
	cairn_options opts;
	/* The core's commit notifier, bumped after each append through this
	 * handle, when the engine has none of its own (ops->notifier NULL). */
	cairn__notify *own_notify;
};

/* The notifier a subscription on st waits on: the engine's or the
 * core's. */
cairn__notify *cairn__store_notifier(cairn_store *st);

/* Set a durable cursor with compare-and-set (see cursor_put in
 * backend.h), name validated here.  For decorators and the
 * subscriptions. */
cairn_status cairn__cursor_put(cairn_store *st, const char *name,
                               uint64_t expect, uint64_t position);
cairn_status cairn__cursor_name(const char *name, size_t *len);

/* Release what an idle iterator holds in its engine (see park in
 * backend.h); the next cairn_iter_next() goes on where it was. */
void cairn__iter_park(cairn_iter *it);

void cairn__error_clear(void);

cairn_status cairn__validate_name(const char *name, size_t max,
                                  cairn_status status, const char *role,
                                  size_t *len_out);
cairn_status cairn__validate_event(const cairn_new_event *ev, size_t index,
                                   size_t max_event_size);

/* A store handle around an engine instance already open (decorators);
 * opts may be NULL for the defaults. */
cairn_status cairn__store_new(const cairn__backend_ops *ops, cairn__backend *be,
                              const cairn_options *opts, cairn_store **out);

/* The append path shared by cairn_append_multi() (condition NULL),
 * cairn_append_if() and the executor: validates everything, then calls
 * the engine.  checks_allowed admits writes without events, which only
 * check their stream's expected version. */
cairn_status cairn__append_request(cairn_store *st, const cairn_write *writes,
                                   size_t nwrites, bool checks_allowed,
                                   const cairn_query *condition,
                                   uint64_t condition_after,
                                   cairn_append_result *result);

/* Check a DCB query at the edge: CAIRN_OK; CAIRN_INVALID (NULL query,
 * over CAIRN_QUERY_ITEMS_MAX items, a NULL array with a count);
 * CAIRN_INVALID_TYPE; CAIRN_INVALID_TAG.  Records a message. */
cairn_status cairn__validate_query(const cairn_query *query);

/* A deep copy of a validated query in one heap block: free it with
 * cairn__free().  CAIRN_OK or CAIRN_NOMEM. */
cairn_status cairn__query_copy(const cairn_query *query, cairn_query **out);

/* n fresh version 4 UUIDs from one draw of system randomness. */
cairn_status cairn__uuid_generate_many(cairn_uuid *ids, size_t n);

/* Copies of events, to keep one past the iterator step that lent it
 * (src/core/event_copy.c).  cairn__event_copy_size: the bytes a copy
 * needs besides its cairn_event (tags array, then stream, type, data,
 * metadata and tag bytes), SIZE_MAX when that overflows.
 * cairn__event_copy: copy src into *dst, its bytes into buf (that many
 * bytes, aligned for a pointer).  cairn__event_dup: both in one heap
 * block, freed with cairn__free(); NULL when out of memory. */
size_t cairn__event_copy_size(const cairn_event *e);
void cairn__event_copy(cairn_event *dst, const cairn_event *src, void *buf);
cairn_event *cairn__event_dup(const cairn_event *e);

/* The engine registered for scheme (length len), or NULL. */
const cairn__backend_ops *cairn__backend_find(const char *scheme, size_t len);

#endif /* CAIRN_CORE_H */
