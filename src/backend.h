/*
 * backend.h -- the interface every storage engine implements.
 *
 * This is the backend implementers' tier of the API (as libgit2's
 * include/git2/sys/).  A backend is one file under src/backends/ that
 * defines one `const cairn__backend_ops`, registered by URI scheme in
 * src/core/registry.c.  Adding an engine means implementing this struct
 * and passing tests/conformance; nothing else in the library changes.
 *
 * What the core guarantees before it calls a backend ("validate at the
 * edge, trust inside"):
 *   - every stream id, type and tag is valid UTF-8 within its limits;
 *   - every event is within max_event_size; n and nwrites are in range;
 *   - no stream appears twice in one append request; no event id appears
 *     twice in one request; every event has an id (generated when the
 *     caller gave none);
 *   - output pointers are non-NULL.
 * What a backend must guarantee is DESIGN.md §1, checked by the suite.
 *
 * Backends know nothing of the executor, subscriptions or the server.
 * The struct is versioned: fields are only ever added at the end, and a
 * NULL optional operation means CAIRN_UNSUPPORTED.  Version 2 added the
 * commit notifier and durable subscription cursors.
 *
 * Every event a backend hands out has commit_rest set: how many events
 * after it the same append request wrote (subscriptions deliver one
 * append per batch from it).
 */
#ifndef CAIRN_BACKEND_H
#define CAIRN_BACKEND_H

#include "cairn.h"

#include <pthread.h>
#include <stdbool.h>

#define CAIRN__BACKEND_OPS_VERSION 2

/* The library's allocator (src/core/alloc.c): every allocation of the
 * library, core and backends alike, goes through these, so that
 * cairn_set_allocator() sees them all.  Same contracts as libc's;
 * cairn__calloc checks n * size for overflow (NULL then);
 * cairn__malloc(0) and cairn__realloc(p, 0) return a live 1-byte block;
 * cairn__free(NULL) is a no-op.  Memory from one family is only ever
 * freed by cairn__free(), never by free(), and the other way round. */
void *cairn__malloc(size_t size);
void *cairn__calloc(size_t n, size_t size);
void *cairn__realloc(void *p, size_t size);
char *cairn__strdup(const char *s);
char *cairn__strndup(const char *s, size_t n);
void cairn__free(void *p);

/* MurmurHash3's 64-bit finaliser: every input bit affects every output
 * bit.  For in-process hash tables and digests, never for anything
 * stored. */
static inline uint64_t
cairn__mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* An engine's open instance; each backend defines the struct. */
typedef struct cairn__backend cairn__backend;

/* One stream's part of an append request, validated by the core.  A write
 * with nevents == 0 (made only by the executor) checks its stream's
 * expected version with the rest of the request and must create and
 * change nothing: not the stream record, not its metadata. */
typedef struct cairn__write {
	const char *stream;
	size_t stream_len;
	int64_t expected;
	const cairn_new_event *events;
	size_t nevents;
	const cairn_uuid *ids; /* nevents ids: given or generated */
} cairn__write;

/* One append call, single- or multi-stream.  The backend fills status
 * and result; it must write all events of the request or none. */
typedef struct cairn__append_req {
	const cairn__write *writes;
	size_t nwrites;
	size_t nevents;              /* total over the writes */
	size_t ids_given;
	size_t nbytes;             /* data + metadata over all events */            /* how many ids came from the caller */
	cairn_append_result *result; /* never NULL */
	/* cairn_append_if(): commit only if no event condition matches has
	 * a position > condition_after (validated by the core; NULL: no
	 * condition).  Checked after idempotency, before expected versions;
	 * on failure call cairn__condition_failed(). */
	const cairn_query *condition;
	uint64_t condition_after;
	cairn_status status;         /* set by the backend */
	/* A failure's sentence, for requests committed by another thread
	 * (group commit): set with cairn__req_error(); the core hands it to
	 * the caller's thread.  Conflicts need not set it. */
	char message[512];
	int native;
	/* group commit bookkeeping (src/core/group_commit.c) */
	struct cairn__append_req *next_in_queue;
	bool done;
} cairn__append_req;

/* The engine side of an iterator.  A backend's iterator struct starts
 * with this member; the core wraps it with filters and limits. */
typedef struct cairn__iter cairn__iter;
typedef struct cairn__iter_ops {
	/* CAIRN_ROW with *ev borrowed until the next call; CAIRN_DONE; or an
	 * error.  The core never calls next again after DONE or an error. */
	cairn_status (*next)(cairn__iter *it, const cairn_event **ev);
	void (*free)(cairn__iter *it);
	/* Optional: the head of the view the read is on (see
	 * cairn_iter_head()); NULL: the core answers with the head it read
	 * when the read began or the last position the read yielded. */
	cairn_status (*head)(cairn__iter *it, uint64_t *position);
	/* Optional: the reader will be idle for a while (a subscription
	 * handed a batch to its consumer): release whatever the iterator
	 * holds that could delay writers or pin old data (a read
	 * transaction); the next call to next goes on after the last event
	 * yielded, seeing newer commits.  The last event yielded stays
	 * valid until then only if the engine says so: the core copies it
	 * before parking. */
	void (*park)(cairn__iter *it);
} cairn__iter_ops;
struct cairn__iter {
	const cairn__iter_ops *ops;
};

typedef struct cairn__stream_iter cairn__stream_iter;
typedef struct cairn__stream_iter_ops {
	cairn_status (*next)(cairn__stream_iter *it,
	                     const cairn_stream_info **info);
	void (*free)(cairn__stream_iter *it);
} cairn__stream_iter_ops;
struct cairn__stream_iter {
	const cairn__stream_iter_ops *ops;
};

typedef struct cairn__backend_ops {
	unsigned version;   /* CAIRN__BACKEND_OPS_VERSION */
	const char *scheme; /* "memory", "lmdb", ... */

	/* path is what follows "scheme:" (may be ""), opts is complete. */
	cairn_status (*open)(const char *path, const cairn_options *opts,
	                     cairn__backend **out);
	void (*close)(cairn__backend *be);

	/* Commit req atomically: check every write's expected version and
	 * idempotency (cairn__idempotency_check), then write all or nothing.
	 * Returns req->status. */
	cairn_status (*append)(cairn__backend *be, cairn__append_req *req);

	/* from/backwards of opts; filters and limit are applied by the core
	 * (a backend may apply them too). */
	cairn_status (*read_stream)(cairn__backend *be, const char *stream,
	                            size_t stream_len,
	                            const cairn_read_opts *opts,
	                            cairn__iter **out);
	cairn_status (*read_all)(cairn__backend *be,
	                         const cairn_read_opts *opts,
	                         cairn__iter **out);
	cairn_status (*stream_version)(cairn__backend *be, const char *stream,
	                               size_t stream_len, uint64_t *version);
	cairn_status (*head)(cairn__backend *be, uint64_t *position);
	/* prefix and after are "" when absent; limit >= 1. */
	cairn_status (*list_streams)(cairn__backend *be, const char *prefix,
	                             const char *after, size_t limit,
	                             cairn__stream_iter **out);
	cairn_status (*stats)(cairn__backend *be, cairn_stats *stats);
	/* Optional: engine-specific checks (NULL = the core's generic walk
	 * is all there is).  Sets *problems to the number found. */
	cairn_status (*verify)(cairn__backend *be, cairn_verify_fn fn,
	                       void *ctx, uint64_t *problems);

	/* ---- version 1 continues: issue 3 ---- */

	/* Snapshots (optional: NULL = CAIRN_UNSUPPORTED).  put keeps the
	 * newest per (stream, schema), replacing older; get returns the kept
	 * one (blob from cairn__malloc(), freed by the caller with
	 * cairn__free()) or
	 * CAIRN_NOT_FOUND.  Arguments are validated by the core. */
	cairn_status (*snapshot_put)(cairn__backend *be, const char *stream,
	                             size_t stream_len, uint64_t version,
	                             const char *schema, const void *blob,
	                             size_t len);
	cairn_status (*snapshot_get)(cairn__backend *be, const char *stream,
	                             size_t stream_len, const char *schema,
	                             uint64_t *version, void **blob,
	                             size_t *len);
	/* Optional: a command was retried (decorators count it). */
	void (*note_retry)(cairn__backend *be);

	/* ---- version 2: issue 4 (subscriptions) ---- */

	/* Optional: the engine's commit notifier, bumped (after the data is
	 * visible to readers) by every commit the engine makes, including
	 * other processes' commits where the engine can see them.  NULL:
	 * the core keeps a notifier of its own and bumps it after each
	 * successful append through the store handle.  Owned by the
	 * engine. */
	struct cairn__notify *(*notifier)(cairn__backend *be);

	/* Durable subscription cursors, optional as a group (NULL =
	 * CAIRN_UNSUPPORTED).  name is validated by the core (1..
	 * CAIRN_SUB_NAME_MAX bytes of UTF-8, NUL-terminated).
	 *
	 * get: CAIRN_OK with info->position and info->updated_ns (info->name
	 * is set by the core), or CAIRN_NOT_FOUND.
	 * put: atomically, if the stored position equals expect (or expect
	 * is CAIRN__CURSOR_ANY, or expect is CAIRN__CURSOR_ABSENT and none
	 * is stored) store position with the current time and return
	 * CAIRN_OK; else CAIRN_CONFLICT, storing nothing.  A put is visible
	 * to every reader once it returns and survives a crash of the
	 * process; it need not be synced to disk on its own (a cursor found
	 * behind after a machine crash only repeats deliveries).
	 * delete: CAIRN_OK or CAIRN_NOT_FOUND.
	 * list: fn for every cursor in name (byte) order, info borrowed for
	 * the call, until fn returns nonzero. */
	cairn_status (*cursor_get)(cairn__backend *be, const char *name,
	                           size_t name_len, cairn_sub_info *info);
	cairn_status (*cursor_put)(cairn__backend *be, const char *name,
	                           size_t name_len, uint64_t expect,
	                           uint64_t position);
	cairn_status (*cursor_delete)(cairn__backend *be, const char *name,
	                              size_t name_len);
	cairn_status (*cursor_list)(cairn__backend *be, cairn_sub_list_fn fn,
	                            void *ctx);
} cairn__backend_ops;

/* cursor_put's expect values besides a position. */
#define CAIRN__CURSOR_ANY UINT64_MAX
#define CAIRN__CURSOR_ABSENT (UINT64_MAX - 1)

extern const cairn__backend_ops cairn__memory_backend;
extern const cairn__backend_ops cairn__lmdb_backend;
extern const cairn__backend_ops cairn__sqlite_backend;
/* postgres:// and postgresql:// (the same engine under both names) */
extern const cairn__backend_ops cairn__postgres_backend;
extern const cairn__backend_ops cairn__postgresql_backend;

/* ---- Shared helpers for backends (src/core/) ---- */

/* Record an error for the calling thread: status, native code, message.
 * Returns status, so `return cairn__error(...)` reads well. */
cairn_status cairn__error(cairn_status status, int native, const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 3, 4)))
#endif
        ;

/* Record a failure of req in req itself (see message above) and return
 * status. */
cairn_status cairn__req_error(cairn__append_req *req, cairn_status status,
                              int native, const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 4, 5)))
#endif
        ;

/* True when a stream at version actual satisfies expected. */
bool cairn__expected_ok(int64_t expected, uint64_t actual);

/* Fill result and the error record for a version conflict on write w. */
cairn_status cairn__conflict(cairn_append_result *result, size_t windex,
                             const cairn__write *w, uint64_t actual);

/* Where an event id is committed, as a backend's lookup reports it. */
typedef struct cairn__id_location {
	uint64_t position;
	uint64_t version;
	const char *stream; /* need not be NUL-terminated */
	size_t stream_len;
	uint64_t stream_version; /* that stream's current version */
} cairn__id_location;

/* Look id up: CAIRN_OK and *loc filled, CAIRN_NOT_FOUND, or an error. */
typedef cairn_status (*cairn__id_lookup_fn)(void *ctx, const cairn_uuid *id,
                                            cairn__id_location *loc);

/* The one idempotency rule, shared by every backend.  Returns:
 *   CAIRN_DONE     no given id is committed: go on with the append;
 *   CAIRN_OK       every id is committed at the same place: the append
 *                  is a repeat; req->result is filled (idempotent = 1)
 *                  and nothing must be written;
 *   CAIRN_CONFLICT some id is committed elsewhere (message set);
 *   or the lookup's error. */
cairn_status cairn__idempotency_check(cairn__append_req *req,
                                      cairn__id_lookup_fn lookup, void *ctx);

/* Fill req's result and message for a failed condition: the event at
 * position in stream (stream_len bytes) matched.  Returns CAIRN_CONFLICT
 * and sets req->status. */
cairn_status cairn__condition_failed(cairn__append_req *req,
                                     uint64_t position, const char *stream,
                                     size_t stream_len);

/* ---- Commit notifier (src/core/notify.c) ----
 *
 * A 32-bit counter that changes after every commit, which readers can
 * wait on without polling.  Opened on a path, the counter lives in a
 * small file mapped shared, and a bump in one process wakes waiters in
 * every process mapping the file (Linux: a futex on the shared page;
 * elsewhere the waiters poll).  With path NULL it is private to the
 * process. */
typedef struct cairn__notify cairn__notify;

/* Open the notifier at path (created when absent unless read_only; NULL:
 * private).  A read-only open of a missing file, or of one that cannot
 * be mapped, still succeeds with a notifier whose waiters poll every
 * CAIRN__NOTIFY_POLL_MS.  CAIRN_OK, CAIRN_IO, CAIRN_NOMEM. */
cairn_status cairn__notify_open(const char *path, bool read_only,
                                cairn__notify **out);
void cairn__notify_close(cairn__notify *n);
/* The counter now: take it before looking for new data, then wait on it. */
uint32_t cairn__notify_token(cairn__notify *n);
/* Change the counter and wake every waiter (call after the commit is
 * visible). */
void cairn__notify_bump(cairn__notify *n);
/* Wait until the counter differs from token or timeout_ms (>= 0) passes:
 * CAIRN_OK (changed, or woken spuriously: look again) or CAIRN_TIMEOUT. */
cairn_status cairn__notify_wait(cairn__notify *n, uint32_t token,
                                int timeout_ms);
/* 0 when a bump anywhere wakes the waiters; otherwise how often a waiter
 * must look for itself (ms). */
int cairn__notify_poll_ms(const cairn__notify *n);
#define CAIRN__NOTIFY_POLL_MS 50

/* Wall-clock time in ns since the Unix epoch (UTC). */
int64_t cairn__now_ns(void);

/* ---- Group commit (src/core/group_commit.c) ----
 *
 * Concurrent appenders queue their requests; one of them, the leader,
 * hands the whole queue to commit_batch, which commits them in one
 * engine transaction and one sync, checking each request on its own
 * (one request's conflict never fails another).  The others sleep until
 * their request is done. */
typedef void (*cairn__batch_fn)(void *ctx, cairn__append_req **reqs, size_t n);

typedef struct cairn__group {
	pthread_mutex_t mutex;
	pthread_cond_t cond;    /* a batch is done */
	pthread_cond_t arrived; /* a request was queued (for gathering) */
	cairn__append_req *head, *tail;
	size_t queued;
	size_t last_batch; /* requests in the previous batch */
	bool leader_active;
	bool gathering;
	cairn__batch_fn commit_batch;
	void *ctx;
	size_t max_batch_requests;
	size_t max_batch_events;
	size_t max_batch_bytes;
} cairn__group;

cairn_status cairn__group_init(cairn__group *g, cairn__batch_fn fn, void *ctx);
void cairn__group_destroy(cairn__group *g);
/* Queue req, wait until a leader (maybe this thread) committed it, and
 * return req->status. */
cairn_status cairn__group_submit(cairn__group *g, cairn__append_req *req);

#endif /* CAIRN_BACKEND_H */
