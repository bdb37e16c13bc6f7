/*
 * forward.h -- the one mechanism behind every decorator: a backend whose
 * instance wraps an inner cairn_store and forwards each operation to it
 * through the public API.
 *
 * A decorator is a cairn__forward (its first member) plus what it keeps,
 * a set of hooks that observe the traffic, and an ops table built with
 * CAIRN__FORWARD_OPS().  The forwarding itself -- appends with their
 * caller-given ids and condition, reads with every option, listings,
 * metadata, snapshots, verification, retries -- lives in forward.c only,
 * so a decorator cannot forget an operation and two decorators cannot
 * forward one differently.
 *
 * What goes through the public API of the inner store is validated a
 * second time there; that costs little and keeps the inner store's
 * guarantees intact whatever it is (an engine or another decorator).
 * A few operations have no public entry point and go to the inner
 * store's ops or the core directly: verify (the core's generic walk of
 * the outer store already reads through the decorator; only the inner
 * engine's own checks are left to forward), note_retry, the notifier
 * (the inner store's, so that a subscription on the decorator wakes for
 * every commit to the inner store), a cursor's compare-and-set and an
 * iterator's park.
 *
 * Thread safety: the forwarding keeps no state of its own; hooks are
 * called from the thread of the operation and must lock what they share.
 */
#ifndef CAIRN_DECORATORS_FORWARD_H
#define CAIRN_DECORATORS_FORWARD_H

#include "core/core.h"

typedef struct cairn__forward cairn__forward;

/*
 * What a decorator observes.  Every hook is optional (NULL: not called).
 * None may call back into the decorated store's own append path.
 */
typedef struct cairn__forward_hooks {
	/* An append came back from the inner store with status rc (the
	 * request's result filled as the inner store left it) after
	 * elapsed_ns nanoseconds.  On a failure the thread's last error
	 * still holds the inner store's sentence. */
	void (*appended)(cairn__forward *fw, const cairn__append_req *req,
	                 cairn_status rc, uint64_t elapsed_ns);
	/* A read (of one stream or of $all) opened. */
	void (*read_opened)(cairn__forward *fw);
	/* Open reads yielded n more events (reported in batches of at most
	 * CAIRN__FORWARD_PROGRESS_EVERY, and when a read stops). */
	void (*read_progress)(cairn__forward *fw, uint64_t n);
	/* A read that opened was freed, elapsed_ns after it opened. */
	void (*read_closed)(cairn__forward *fw, uint64_t elapsed_ns);
	/* An operation other than an append failed with rc (a read that
	 * could not open, a read's next(), a listing, a metadata read...).
	 * CAIRN_NOT_FOUND from a snapshot load is an answer, not a
	 * failure, and is not reported. */
	void (*failed)(cairn__forward *fw, cairn_status rc);
	/* A command run through this store is about to be retried. */
	void (*retried)(cairn__forward *fw);
	/* The decorator is being closed: free what it holds besides the
	 * cairn__forward (and never the inner store). */
	void (*destroy)(cairn__forward *fw);
} cairn__forward_hooks;

/* The base every decorator instance starts with. */
struct cairn__forward {
	cairn_store *inner;
	const cairn__forward_hooks *hooks;
};

/* A read reports its progress after this many events, so that a long
 * read shows in the metrics while it runs without a lock per event. */
#define CAIRN__FORWARD_PROGRESS_EVERY 64

/*
 * Make the store handle of decorator fw (allocated by the caller, its
 * first member the cairn__forward), wrapping inner, with ops built by
 * CAIRN__FORWARD_OPS().  The handle takes the inner store's options, so
 * that limits and read-only mode are checked at the outer edge as they
 * would be at the inner one.  On success *out owns fw: cairn_close(*out)
 * calls hooks->destroy and frees fw with cairn__free().  On failure nothing is
 * taken.  Returns CAIRN_OK, CAIRN_INVALID (inner or out NULL),
 * CAIRN_NOMEM.
 */
cairn_status cairn__forward_open(const cairn__backend_ops *ops,
                                 cairn__forward *fw, cairn_store *inner,
                                 const cairn__forward_hooks *hooks,
                                 cairn_store **out);

/* The decorator behind store when store was made with ops, else NULL. */
cairn__forward *cairn__forward_of(cairn_store *store,
                                  const cairn__backend_ops *ops);

/*
 * Hand the engine-side iterator impl out as a public iterator of store
 * (a decorator made by cairn__forward_open()), through the core's own
 * iterator wrapper, so that cairn_iter_next()/cairn_iter_free() work on
 * it as on any read.  The iterator is not a read of the inner store: no
 * hook sees it.  On failure impl is freed.  Returns CAIRN_OK or the
 * errors of cairn_read_all() (CAIRN_NOMEM).
 */
cairn_status cairn__forward_serve_iter(cairn_store *store, cairn__iter *impl,
                                       cairn_iter **out);

/* ---- the forwarding operations, for CAIRN__FORWARD_OPS() only ---- */
cairn_status cairn__forward_open_uri(const char *path,
                                     const cairn_options *opts,
                                     cairn__backend **out);
void cairn__forward_close(cairn__backend *be);
cairn_status cairn__forward_append(cairn__backend *be, cairn__append_req *req);
cairn_status cairn__forward_read_stream(cairn__backend *be, const char *stream,
                                        size_t stream_len,
                                        const cairn_read_opts *opts,
                                        cairn__iter **out);
cairn_status cairn__forward_read_all(cairn__backend *be,
                                     const cairn_read_opts *opts,
                                     cairn__iter **out);
cairn_status cairn__forward_stream_version(cairn__backend *be,
                                           const char *stream,
                                           size_t stream_len,
                                           uint64_t *version);
cairn_status cairn__forward_head(cairn__backend *be, uint64_t *position);
cairn_status cairn__forward_list_streams(cairn__backend *be, const char *prefix,
                                         const char *after, size_t limit,
                                         cairn__stream_iter **out);
cairn_status cairn__forward_stats(cairn__backend *be, cairn_stats *stats);
cairn_status cairn__forward_verify(cairn__backend *be, cairn_verify_fn fn,
                                   void *ctx, uint64_t *problems);
cairn_status cairn__forward_snapshot_put(cairn__backend *be, const char *stream,
                                         size_t stream_len, uint64_t version,
                                         const char *schema, const void *blob,
                                         size_t len);
cairn_status cairn__forward_snapshot_get(cairn__backend *be, const char *stream,
                                         size_t stream_len, const char *schema,
                                         uint64_t *version, void **blob,
                                         size_t *len);
void cairn__forward_note_retry(cairn__backend *be);
cairn__notify *cairn__forward_notifier(cairn__backend *be);
cairn_status cairn__forward_cursor_get(cairn__backend *be, const char *name,
                                       size_t name_len, cairn_sub_info *info);
cairn_status cairn__forward_cursor_put(cairn__backend *be, const char *name,
                                       size_t name_len, uint64_t expect,
                                       uint64_t position);
cairn_status cairn__forward_cursor_delete(cairn__backend *be, const char *name,
                                          size_t name_len);
cairn_status cairn__forward_cursor_list(cairn__backend *be,
                                        cairn_sub_list_fn fn, void *ctx);

/* The ops table of a decorator named name: every operation forwarded.
 * Each decorator defines its own table, so that its handles are told
 * apart by their ops and cairn_store_backend() names the decorator. */
#define CAIRN__FORWARD_OPS(name)                                               \
	{                                                                      \
		.version = CAIRN__BACKEND_OPS_VERSION, .scheme = (name),       \
		.open = cairn__forward_open_uri,                               \
		.close = cairn__forward_close,                                 \
		.append = cairn__forward_append,                               \
		.read_stream = cairn__forward_read_stream,                     \
		.read_all = cairn__forward_read_all,                           \
		.stream_version = cairn__forward_stream_version,               \
		.head = cairn__forward_head,                                   \
		.list_streams = cairn__forward_list_streams,                   \
		.stats = cairn__forward_stats,                                 \
		.verify = cairn__forward_verify,                               \
		.snapshot_put = cairn__forward_snapshot_put,                   \
		.snapshot_get = cairn__forward_snapshot_get,                   \
		.note_retry = cairn__forward_note_retry,                       \
		.notifier = cairn__forward_notifier,                           \
		.cursor_get = cairn__forward_cursor_get,                       \
		.cursor_put = cairn__forward_cursor_put,                       \
		.cursor_delete = cairn__forward_cursor_delete,                 \
		.cursor_list = cairn__forward_cursor_list,                     \
	}


/* Monotonic time in ns, for latencies. */
uint64_t cairn__forward_clock_ns(void);

#endif /* CAIRN_DECORATORS_FORWARD_H */
