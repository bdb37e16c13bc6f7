/*
 * forward.c -- forward every backend operation of a decorator to the
 * store it wraps, through the public API, telling the decorator's hooks
 * what went by.  See forward.h.
 */
#include "decorators/forward.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Appends of at most this many writes need no heap for the copy handed
 * to the inner store. */
#define FWD_STACK_WRITES 8

static cairn__forward *
fwd(cairn__backend *be)
{
	return (cairn__forward *)(void *)be;
}

uint64_t
cairn__forward_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
report_failure(cairn__forward *fw, cairn_status rc)
{
	if (fw->hooks->failed)
		fw->hooks->failed(fw, rc);
}

cairn_status
cairn__forward_open(const cairn__backend_ops *ops, cairn__forward *fw,
                    cairn_store *inner, const cairn__forward_hooks *hooks,
                    cairn_store **out)
{
	cairn_status rc;

	if (out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "out is NULL");
	*out = NULL;
	if (inner == NULL)
		return cairn__error(CAIRN_INVALID, 0, "inner store is NULL");
	fw->inner = inner;
	fw->hooks = hooks;
	rc = cairn__store_new(ops, (cairn__backend *)(void *)fw, &inner->opts,
	                      out);
	if (rc == CAIRN_OK)
		cairn__error_clear();
	return rc;
}

cairn__forward *
cairn__forward_of(cairn_store *store, const cairn__backend_ops *ops)
{
	if (store == NULL || store->ops != ops)
		return NULL;
	return fwd(store->be);
}

/* Decorators are made by their own open functions, never from a URI. */
cairn_status
cairn__forward_open_uri(const char *path, const cairn_options *opts,
                        cairn__backend **out)
{
	(void)path;
	(void)opts;
	(void)out;
	return cairn__error(CAIRN_UNSUPPORTED, 0,
	                    "a decorator is opened around a store, not by "
	                    "URI");
}

void
cairn__forward_close(cairn__backend *be)
{
	cairn__forward *fw = fwd(be);

	if (fw->hooks->destroy)
		fw->hooks->destroy(fw);
	cairn__free(fw);
}

/* ---- Appends ---- */

/*
 * The inner store gets the caller's events as they came, so that it makes
 * of their ids what it makes of any append's: caller-given ids are
 * given, and the ids the outer core generated for the others are not
 * passed on -- the inner store generates its own, which no caller can
 * tell apart (a generated id is returned to no one).  Passing them as
 * given would make every id a caller's: lmdb then indexes each one for
 * idempotency, which measured 3x slower appends and a 3x larger store.
 */
static cairn_status
forward_writes(cairn__forward *fw, cairn__append_req *req, cairn_write *ws)
{
	size_t wi;

	for (wi = 0; wi < req->nwrites; wi++) {
		ws[wi].stream = req->writes[wi].stream;
		ws[wi].expected = req->writes[wi].expected;
		ws[wi].events = req->writes[wi].events;
		ws[wi].nevents = req->writes[wi].nevents;
	}
	if (req->condition)
		return cairn_append_if(fw->inner, req->condition,
		                       req->condition_after, ws, req->nwrites,
		                       req->result);
	return cairn_append_multi(fw->inner, ws, req->nwrites, req->result);
}

cairn_status
cairn__forward_append(cairn__backend *be, cairn__append_req *req)
{
	cairn__forward *fw = fwd(be);
	cairn_write ws_stack[FWD_STACK_WRITES], *ws = ws_stack;
	uint64_t started;
	cairn_status rc;

	if (req->nwrites > FWD_STACK_WRITES) {
		ws = cairn__malloc(req->nwrites * sizeof(*ws));
		if (ws == NULL) {
			rc = cairn__req_error(req, CAIRN_NOMEM, 0,
			                      "out of memory");
			report_failure(fw, rc);
			return rc;
		}
	}
	started = cairn__forward_clock_ns();
	rc = forward_writes(fw, req, ws);
	/* The core reports req->message as the caller's sentence: keep the
	 * inner store's own words (an id or condition conflict says more
	 * than the version conflict the core would write). */
	if (rc != CAIRN_OK)
		cairn__req_error(req, rc, cairn_last_error_native(), "%s",
		                 cairn_last_error());
	req->status = rc;
	if (fw->hooks->appended)
		fw->hooks->appended(fw, req, rc,
		                    cairn__forward_clock_ns() - started);
	if (ws != ws_stack)
		cairn__free(ws);
	return rc;
}

/* ---- Reads ---- */

typedef struct fwd_iter {
	cairn__iter base;
	cairn__forward *fw;
	cairn_iter *inner;
	uint64_t opened_ns;
	uint64_t unreported; /* events yielded, not yet told to the hooks */
} fwd_iter;

static void
iter_report_progress(fwd_iter *it)
{
	if (it->unreported && it->fw->hooks->read_progress)
		it->fw->hooks->read_progress(it->fw, it->unreported);
	it->unreported = 0;
}

static cairn_status
fwd_iter_next(cairn__iter *base, const cairn_event **ev)
{
	fwd_iter *it = (fwd_iter *)base;
	cairn_status rc;

	rc = cairn_iter_next(it->inner, ev);
	if (rc == CAIRN_ROW) {
		if (++it->unreported >= CAIRN__FORWARD_PROGRESS_EVERY)
			iter_report_progress(it);
		return rc;
	}
	iter_report_progress(it);
	if (rc != CAIRN_DONE)
		report_failure(it->fw, rc);
	return rc;
}

static void
fwd_iter_free(cairn__iter *base)
{
	fwd_iter *it = (fwd_iter *)base;

	cairn_iter_free(it->inner);
	iter_report_progress(it);
	if (it->fw->hooks->read_closed)
		it->fw->hooks->read_closed(it->fw, cairn__forward_clock_ns() -
		                                           it->opened_ns);
	cairn__free(it);
}

static cairn_status
fwd_iter_head(cairn__iter *base, uint64_t *position)
{
	return cairn_iter_head(((fwd_iter *)base)->inner, position);
}

static void
fwd_iter_park(cairn__iter *base)
{
	cairn__iter_park(((fwd_iter *)base)->inner);
}

static const cairn__iter_ops fwd_iter_ops = {
        fwd_iter_next,
        fwd_iter_free,
        fwd_iter_head,
        fwd_iter_park,
};

/* Wrap an inner read that opened (or report the one that did not). */
static cairn_status
iter_wrap(cairn__forward *fw, uint64_t opened_ns, cairn_status rc,
          cairn_iter *inner, cairn__iter **out)
{
	fwd_iter *it;

	if (rc != CAIRN_OK) {
		report_failure(fw, rc);
		return rc;
	}
	it = cairn__calloc(1, sizeof(*it));
	if (it == NULL) {
		cairn_iter_free(inner);
		rc = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		report_failure(fw, rc);
		return rc;
	}
	it->base.ops = &fwd_iter_ops;
	it->fw = fw;
	it->inner = inner;
	it->opened_ns = opened_ns;
	if (fw->hooks->read_opened)
		fw->hooks->read_opened(fw);
	*out = &it->base;
	return CAIRN_OK;
}

/*
 * The opts the core passes on are its own copy of the caller's, filters
 * included; the inner store applies them (and the limit) again, which
 * is harmless, and its iterator copies what it keeps.
 */
cairn_status
cairn__forward_read_stream(cairn__backend *be, const char *stream,
                           size_t stream_len, const cairn_read_opts *opts,
                           cairn__iter **out)
{
	cairn__forward *fw = fwd(be);
	uint64_t started = cairn__forward_clock_ns();
	cairn_iter *inner = NULL;
	cairn_status rc;

	(void)stream_len;
	rc = cairn_read_stream(fw->inner, stream, opts, &inner);
	return iter_wrap(fw, started, rc, inner, out);
}

/*
 * cairn__forward_serve_iter() hands its iterator to the read_all below
 * through this thread's slot: the core's iterator wrapper is private to
 * read.c, and a read of the decorator itself is the one way to get one
 * around an engine iterator.  The slot names the decorator it is meant
 * for, and is emptied before the read returns.
 */
static _Thread_local struct {
	cairn__forward *fw;
	cairn__iter *impl;
} serving;

cairn_status
cairn__forward_read_all(cairn__backend *be, const cairn_read_opts *opts,
                        cairn__iter **out)
{
	cairn__forward *fw = fwd(be);
	uint64_t started;
	cairn_iter *inner = NULL;
	cairn_status rc;

	if (serving.fw == fw && serving.impl) {
		*out = serving.impl;
		serving.impl = NULL;
		return CAIRN_OK;
	}
	started = cairn__forward_clock_ns();
	rc = cairn_read_all(fw->inner, opts, &inner);
	return iter_wrap(fw, started, rc, inner, out);
}

cairn_status
cairn__forward_serve_iter(cairn_store *store, cairn__iter *impl,
                          cairn_iter **out)
{
	cairn_status rc;

	serving.fw = fwd(store->be);
	serving.impl = impl;
	rc = cairn_read_all(store, NULL, out);
	/* Not taken: the core failed before it asked the engine. */
	if (serving.impl)
		impl->ops->free(impl);
	serving.fw = NULL;
	serving.impl = NULL;
	return rc;
}

/* ---- Listing ---- */

typedef struct fwd_stream_iter {
	cairn__stream_iter base;
	cairn__forward *fw;
	cairn_stream_iter *inner;
} fwd_stream_iter;

static cairn_status
fwd_stream_iter_next(cairn__stream_iter *base, const cairn_stream_info **info)
{
	fwd_stream_iter *it = (fwd_stream_iter *)base;
	cairn_status rc;

	rc = cairn_stream_iter_next(it->inner, info);
	if (rc != CAIRN_ROW && rc != CAIRN_DONE)
		report_failure(it->fw, rc);
	return rc;
}

static void
fwd_stream_iter_free(cairn__stream_iter *base)
{
	fwd_stream_iter *it = (fwd_stream_iter *)base;

	cairn_stream_iter_free(it->inner);
	cairn__free(it);
}

static const cairn__stream_iter_ops fwd_stream_iter_ops = {
        fwd_stream_iter_next,
        fwd_stream_iter_free,
};

cairn_status
cairn__forward_list_streams(cairn__backend *be, const char *prefix,
                            const char *after, size_t limit,
                            cairn__stream_iter **out)
{
	cairn__forward *fw = fwd(be);
	cairn_stream_iter *inner = NULL;
	fwd_stream_iter *it;
	cairn_status rc;

	rc = cairn_list_streams(fw->inner, prefix, after, limit, &inner);
	if (rc != CAIRN_OK) {
		report_failure(fw, rc);
		return rc;
	}
	it = cairn__calloc(1, sizeof(*it));
	if (it == NULL) {
		cairn_stream_iter_free(inner);
		rc = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		report_failure(fw, rc);
		return rc;
	}
	it->base.ops = &fwd_stream_iter_ops;
	it->fw = fw;
	it->inner = inner;
	*out = &it->base;
	return CAIRN_OK;
}

/* ---- Metadata, statistics, verification ---- */

/* Pass rc on, telling the hooks when it is a failure. */
static cairn_status
checked(cairn__forward *fw, cairn_status rc)
{
	if (rc != CAIRN_OK)
		report_failure(fw, rc);
	return rc;
}

cairn_status
cairn__forward_stream_version(cairn__backend *be, const char *stream,
                              size_t stream_len, uint64_t *version)
{
	cairn__forward *fw = fwd(be);

	(void)stream_len;
	return checked(fw, cairn_stream_version(fw->inner, stream, version));
}

cairn_status
cairn__forward_head(cairn__backend *be, uint64_t *position)
{
	cairn__forward *fw = fwd(be);

	return checked(fw, cairn_head(fw->inner, position));
}

cairn_status
cairn__forward_stats(cairn__backend *be, cairn_stats *stats)
{
	cairn__forward *fw = fwd(be);

	return checked(fw, cairn_stats_get(fw->inner, stats));
}

/*
 * cairn_verify() of the decorator already walked the inner store's
 * events through the forwarded reads; what is left is the engine's own
 * check, below however many decorators.
 */
cairn_status
cairn__forward_verify(cairn__backend *be, cairn_verify_fn fn, void *ctx,
                      uint64_t *problems)
{
	cairn__forward *fw = fwd(be);
	cairn_store *inner = fw->inner;

	*problems = 0;
	if (inner->ops->verify == NULL)
		return CAIRN_OK;
	return checked(fw, inner->ops->verify(inner->be, fn, ctx, problems));
}

/* ---- Snapshots ---- */

cairn_status
cairn__forward_snapshot_put(cairn__backend *be, const char *stream,
                            size_t stream_len, uint64_t version,
                            const char *schema, const void *blob, size_t len)
{
	cairn__forward *fw = fwd(be);

	(void)stream_len;
	return checked(fw, cairn_snapshot_save(fw->inner, stream, version,
	                                       schema, blob, len));
}

cairn_status
cairn__forward_snapshot_get(cairn__backend *be, const char *stream,
                            size_t stream_len, const char *schema,
                            uint64_t *version, void **blob, size_t *len)
{
	cairn__forward *fw = fwd(be);
	cairn_status rc;

	(void)stream_len;
	rc = cairn_snapshot_load(fw->inner, stream, schema, version, blob, len);
	if (rc != CAIRN_OK && rc != CAIRN_NOT_FOUND)
		report_failure(fw, rc);
	return rc;
}

/* ---- Retries ---- */

void
cairn__forward_note_retry(cairn__backend *be)
{
	cairn__forward *fw = fwd(be);
	cairn_store *inner = fw->inner;

	if (fw->hooks->retried)
		fw->hooks->retried(fw);
	if (inner->ops->note_retry)
		inner->ops->note_retry(inner->be);
}

/* ---- Subscriptions ---- */

cairn__notify *
cairn__forward_notifier(cairn__backend *be)
{
	return cairn__store_notifier(fwd(be)->inner);
}

cairn_status
cairn__forward_cursor_get(cairn__backend *be, const char *name,
                          size_t name_len, cairn_sub_info *info)
{
	(void)name_len;
	return cairn_subs_get(fwd(be)->inner, name, info);
}

cairn_status
cairn__forward_cursor_put(cairn__backend *be, const char *name,
                          size_t name_len, uint64_t expect, uint64_t position)
{
	(void)name_len;
	return cairn__cursor_put(fwd(be)->inner, name, expect, position);
}

cairn_status
cairn__forward_cursor_delete(cairn__backend *be, const char *name,
                             size_t name_len)
{
	(void)name_len;
	return cairn_subs_delete(fwd(be)->inner, name);
}

cairn_status
cairn__forward_cursor_list(cairn__backend *be, cairn_sub_list_fn fn, void *ctx)
{
	return cairn_subs_list(fwd(be)->inner, fn, ctx);
}
