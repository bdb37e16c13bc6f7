/*
 * cairn.h -- the public C API of libcairn, an embeddable event store.
 *
 * This is the one authoritative header: every function states what it does,
 * every status it returns, who owns what and for how long, and whether it
 * may be called from several threads.
 *
 * Restrictions and caveats (read these first)
 * -------------------------------------------
 * - A cairn_store handle is thread-safe: any number of threads may append
 *   and read through one handle at once.  Opening the same lmdb store
 *   twice in one process is allowed: both handles share one engine (LMDB
 *   forbids two environments on one file in a process), so the second
 *   open must ask for the same durability and read-only mode, or it fails
 *   with CAIRN_INVALID.  Several processes may open one lmdb store at
 *   once, and so may several processes one sqlite store (busy waits are
 *   handled inside; SQLITE_BUSY never reaches the caller).
 * - An append that returned no answer (the process died during it) may or
 *   may not be committed when the store is next opened; one that returned
 *   CAIRN_OK is there, and one that returned an error is not.
 * - A cairn_iter (and cairn_stream_iter) is used by one thread at a time.
 *   It may move between threads, but never be used by two at once.
 * - An event handed out by an iterator is *borrowed*: it is valid until the
 *   next call to cairn_iter_next() or cairn_iter_free() on that iterator,
 *   as with sqlite3_column_blob().  Copy what you need to keep.  On the
 *   lmdb backend its payload points straight into the memory map.
 * - An iterator holds no lock that blocks writers.  A long read may see
 *   events committed after it started (never part of one append); it never
 *   sees an event twice and never skips one.  One exception, lmdb only:
 *   when a store outgrows its map (64 GiB of address space by default) the
 *   map is remapped, which must wait until every iterator of the process
 *   has stepped past the event it handed out; an append waits for that up
 *   to 10 s, then fails with CAIRN_IO.  Iterators that keep reading, or
 *   are freed, never hold it up.
 * - Do not fork() while a store is open and use the handle in the child.
 * - Every function that takes pointers from the caller copies what it needs
 *   before it returns; no caller pointer is kept unless documented.
 *
 * Errors
 * ------
 * Every function returns a cairn_status.  On failure, cairn_last_error()
 * returns a sentence for the calling thread naming what was wrong (which
 * stream, which version was expected and found), and
 * cairn_last_error_native() the backend's own code (LMDB code, errno, ...).
 *
 * Module overview, with a complete example:
 *
 *     cairn_store *st;
 *     if (cairn_open("lmdb:./cairn-data", NULL, &st) != CAIRN_OK) {
 *         fprintf(stderr, "open: %s\n", cairn_last_error());
 *         return 1;
 *     }
 *     cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
 *     ev.type = "Deposited";
 *     ev.data = "{\"amount\":10}";
 *     ev.data_len = strlen(ev.data);
 *     cairn_append_result res;
 *     cairn_status rc = cairn_append(st, "account-42", CAIRN_NO_STREAM,
 *                                    &ev, 1, &res);
 *     if (rc == CAIRN_CONFLICT)
 *         printf("stream is at version %llu\n",
 *                (unsigned long long)res.conflict_actual);
 *
 *     cairn_iter *it;
 *     const cairn_event *e;
 *     cairn_read_stream(st, "account-42", NULL, &it);
 *     while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
 *         printf("%llu %s %.*s\n", (unsigned long long)e->version, e->type,
 *                (int)e->data_len, (const char *)e->data);
 *     if (rc != CAIRN_DONE)
 *         fprintf(stderr, "read: %s\n", cairn_last_error());
 *     cairn_iter_free(it);
 *     cairn_close(st);
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CAIRN_BUILDING) && defined(__GNUC__)
#define CAIRN_API __attribute__((visibility("default")))
#else
#define CAIRN_API
#endif

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0
#define CAIRN_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------
 * Status codes
 *
 * Status codes are the API.  CAIRN_OK is 0; CAIRN_ROW and CAIRN_DONE are
 * the two non-error results of iteration; every other value is an error.
 * New codes are only ever added last; no code is ever renumbered.
 * ------------------------------------------------------------------------ */
typedef enum cairn_status {
	CAIRN_OK = 0,   /* success */
	CAIRN_ROW = 1,  /* an iterator produced an item */
	CAIRN_DONE = 2, /* an iterator is exhausted */
	CAIRN_CONFLICT =
	        3, /* expected version did not match; nothing written */
	CAIRN_NOT_FOUND = 4, /* the named thing does not exist */
	CAIRN_INVALID = 5,   /* a NULL, out-of-range or inconsistent argument */
	CAIRN_TOO_LARGE = 6, /* an event or a batch is over the size limit */
	CAIRN_IO = 7,        /* the storage engine or the OS failed */
	CAIRN_CORRUPT = 8,   /* a stored record failed its checks */
	CAIRN_NOMEM = 9,     /* out of memory */
	CAIRN_TIMEOUT = 10,  /* a wait ran out */
	CAIRN_CLOSED = 11,   /* the object was closed */
	CAIRN_REJECTED = 12, /* a command's decision rejected it */
	CAIRN_RETRIES_EXHAUSTED =
	        13,             /* conflicts persisted past the retry policy */
	CAIRN_UNSUPPORTED = 14, /* the backend does not offer this operation */
	CAIRN_INVALID_STREAM = 15, /* a malformed stream id */
	CAIRN_INVALID_TYPE = 16,   /* a malformed event type */
	CAIRN_INVALID_URI = 17,    /* a malformed or unknown store URI */
	CAIRN_INVALID_TAG = 18     /* a malformed tag */
} cairn_status;

/* A short constant name for a status ("CAIRN_CONFLICT" -> "conflict").
 * Never NULL; unknown values give "unknown".  Thread-safe. */
CAIRN_API const char *cairn_status_str(cairn_status status);

/* The calling thread's last error sentence, or "" when the last call that
 * failed on this thread left none.  The string is owned by the library and
 * valid until the next cairn_* call on this thread.  Thread-safe (the
 * record is thread-local). */
CAIRN_API const char *cairn_last_error(void);

/* The backend's native code for the calling thread's last error: an LMDB
 * return code, an SQLite extended result code, or an errno value; 0 when
 * there is none. */
CAIRN_API int cairn_last_error_native(void);

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */
#define CAIRN_STREAM_ID_MAX 255 /* bytes of a stream id */
#define CAIRN_TYPE_MAX 255      /* bytes of an event type */
#define CAIRN_TAG_MAX 255       /* bytes of one tag */
#define CAIRN_TAGS_MAX 64       /* tags on one event */
#define CAIRN_DEFAULT_MAX_EVENT_SIZE (16u * 1024u * 1024u) /* data+metadata */
#define CAIRN_BATCH_MAX 100000 /* events in one append call */
/* data + metadata bytes of all events of one append call */
#define CAIRN_APPEND_BYTES_MAX ((size_t)1 << 30)

/* ------------------------------------------------------------------------
 * Memory
 *
 * Every allocation the library makes goes through one process-global
 * allocator, libc's by default.  A program may install its own (to count,
 * cap or fail allocations) with cairn_set_allocator(): install it before
 * any store is opened and keep it until every store is closed and every
 * blob the library handed over has been freed; the call is not
 * thread-safe against any concurrent use of the library.  When an
 * allocation fails the call returns CAIRN_NOMEM, frees what it had taken
 * and leaves the store usable (docs/reliability.md).
 *
 * The third-party engines under the backends (LMDB, SQLite, libpq) and
 * jansson (used by the CLI and server only) allocate on their own and are
 * outside the hook.
 * ------------------------------------------------------------------------ */

#define CAIRN_ALLOCATOR_VERSION 1

typedef struct cairn_allocator {
	int version; /* CAIRN_ALLOCATOR_VERSION */
	/* As malloc(), realloc() and free(), with ctx passed back.  malloc
	 * is never asked for 0 bytes; realloc is never given NULL or 0
	 * bytes; free is never given NULL.  All three are required. */
	void *(*malloc)(void *ctx, size_t size);
	void *(*realloc)(void *ctx, void *ptr, size_t size);
	void (*free)(void *ctx, void *ptr);
	void *ctx;
} cairn_allocator;

/* Install a (copied) allocator; NULL restores libc's.  Returns CAIRN_OK;
 * CAIRN_INVALID (an unknown version or a NULL function).  Process-global;
 * not thread-safe (see above). */
CAIRN_API cairn_status cairn_set_allocator(const cairn_allocator *a);

/* ------------------------------------------------------------------------
 * Stores
 * ------------------------------------------------------------------------ */

/* An open store.  Thread-safe: share one handle between threads. */
typedef struct cairn_store cairn_store;

typedef enum cairn_durability {
	/* Every acknowledged append is on stable storage (fdatasync) before
	 * cairn_append() returns.  The default. */
	CAIRN_DURABLE = 0,
	/* lmdb, sqlite: the last commits before a power loss or OS crash may
	 * be lost; the store is never corrupted and a process crash loses
	 * nothing (sqlite: synchronous=NORMAL instead of FULL). */
	CAIRN_RELAXED = 1
} cairn_durability;

#define CAIRN_OPTIONS_VERSION 1

/* Options for cairn_open().  Initialise with cairn_options_init() so that
 * fields added later get their defaults. */
typedef struct cairn_options {
	unsigned version;      /* CAIRN_OPTIONS_VERSION */
	size_t max_event_size; /* data + metadata bytes; 0 = default 16 MiB */
	cairn_durability durability;
	int read_only; /* nonzero: open for reading only */
	/* lmdb: the address space reserved for the memory map at first, in
	 * bytes (0 = 64 GiB; the file only takes what it holds).  The map
	 * grows by itself when the store outgrows it; see the caveats above
	 * for what a growth waits for. */
	size_t initial_map_size;
	/* lmdb, sqlite: renew a long read's snapshot every this many events
	 * (0 = default 4096), so a slow reader never pins old pages (lmdb)
	 * or holds back the write-ahead log's checkpoints (sqlite). */
	unsigned read_renew_every;
} cairn_options;

/* Fill *opts with the defaults.  Never fails.  Thread-safe. */
CAIRN_API void cairn_options_init(cairn_options *opts);

/* Open (creating when missing) the store named by uri:
 *   "memory:"        a fresh in-memory store, gone when closed
 *   "lmdb:PATH"      an LMDB environment in directory PATH (created)
 *   "sqlite:PATH"    an SQLite database file PATH (created), WAL mode;
 *                    its schema is docs/schema-sqlite.md
 * opts may be NULL for the defaults.  On success *out owns the store;
 * close it with cairn_close().
 *
 * Returns CAIRN_OK; CAIRN_INVALID (out or uri NULL, bad options);
 * CAIRN_INVALID_URI (no scheme, unknown scheme, empty or overlong path);
 * CAIRN_IO (the engine could not open the path: see cairn_last_error());
 * CAIRN_NOT_FOUND (read-only open of a store that does not exist);
 * CAIRN_CORRUPT (the files are not a cairn store of a known format);
 * CAIRN_UNSUPPORTED (an lmdb store made with another page size);
 * CAIRN_NOMEM.  lmdb caps max_event_size at 1 GiB.  Thread-safe. */
CAIRN_API cairn_status cairn_open(const char *uri, const cairn_options *opts,
                                  cairn_store **out);

/* Close the store and free it.  NULL is a no-op.  Every iterator of the
 * store must have been freed before; no other thread may be using it. */
CAIRN_API void cairn_close(cairn_store *store);

/* The scheme the store was opened with ("memory", "lmdb", "sqlite").
 * Borrowed,
 * valid until cairn_close(). */
CAIRN_API const char *cairn_store_backend(const cairn_store *store);

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

/* A 16-byte event id (an RFC 4122 UUID). */
typedef struct cairn_uuid {
	uint8_t bytes[16];
} cairn_uuid;

#define CAIRN_UUID_STR_LEN 36 /* without the terminating NUL */

/* Write the canonical lower-case text of id into buf (at least 37 bytes,
 * NUL-terminated).  Never fails.  Thread-safe. */
CAIRN_API void cairn_uuid_format(const cairn_uuid *id, char buf[37]);

/* Parse a canonical 36-character UUID (either case).  Returns CAIRN_OK or
 * CAIRN_INVALID.  Thread-safe. */
CAIRN_API cairn_status cairn_uuid_parse(const char *text, cairn_uuid *out);

/* Fill *out with a fresh random (version 4) UUID. Returns CAIRN_OK or
 * CAIRN_IO when the system's randomness is unavailable.  Thread-safe. */
CAIRN_API cairn_status cairn_uuid_generate(cairn_uuid *out);

/* An event to append.  The caller owns every pointer; cairn copies what it
 * needs before cairn_append() returns. */
typedef struct cairn_new_event {
	const char *type; /* 1..255 bytes of UTF-8, no control chars */
	const void *data; /* may be NULL when data_len is 0 */
	size_t data_len;
	const void *metadata; /* may be NULL when metadata_len is 0 */
	size_t metadata_len;
	const char *const *tags; /* ntags NUL-terminated UTF-8 strings */
	size_t ntags;            /* 0..CAIRN_TAGS_MAX */
	const cairn_uuid *id;    /* NULL: the store generates a v4 UUID */
} cairn_new_event;

#define CAIRN_NEW_EVENT_INIT                                                   \
	{                                                                      \
		NULL, NULL, 0, NULL, 0, NULL, 0, NULL                          \
	}

/* A stored event, as handed out by an iterator.  Borrowed: valid until the
 * next cairn_iter_next() or cairn_iter_free() on the iterator that gave
 * it. */
typedef struct cairn_event {
	cairn_uuid id;
	const char *stream; /* NUL-terminated */
	size_t stream_len;
	const char *type; /* NUL-terminated */
	size_t type_len;
	const void *data;
	size_t data_len;
	const void *metadata;
	size_t metadata_len;
	const char *const *tags; /* ntags NUL-terminated strings */
	size_t ntags;
	uint64_t version;  /* 1-based position within its stream */
	uint64_t position; /* 1-based global position */
	int64_t time_ns;   /* commit time, ns since the Unix epoch, UTC */
	/* How many events after this one the same append wrote (they are at
	 * the next positions); 0 for the last event of its append.  Events
	 * written before this field existed (lmdb stores of cairn 0.1) read
	 * as 0: one append per event. */
	uint32_t commit_rest;
} cairn_event;

/* ------------------------------------------------------------------------
 * Appends
 *
 * Expected versions: CAIRN_ANY (no check), CAIRN_NO_STREAM (the stream
 * must be empty; equal to exact version 0), CAIRN_STREAM_EXISTS (at least
 * one event), or an exact version N >= 0 (the stream must hold exactly N
 * events).  A mismatch is CAIRN_CONFLICT and writes nothing.
 *
 * Idempotency: when every event of an append carries a caller-given id and
 * those ids are already committed, in the same streams, in the same order,
 * at consecutive versions, the append succeeds again, writes nothing, and
 * reports the original positions with result.idempotent = 1 (whatever its
 * expected version).  Ids that are committed anywhere else are a
 * CAIRN_CONFLICT.
 * ------------------------------------------------------------------------ */
#define CAIRN_ANY (-1)
#define CAIRN_NO_STREAM 0
#define CAIRN_STREAM_EXISTS (-2)

/* What an append did, or why it conflicted.  Filled by every append
 * function when the pointer is not NULL, on success and on conflict. */
typedef struct cairn_append_result {
	uint64_t first_position; /* position of the first event written */
	uint64_t last_position;  /* position of the last event written */
	uint64_t version;        /* single-stream: the stream's new version */
	int idempotent;          /* 1: already committed, nothing written */
	/* On CAIRN_CONFLICT: */
	size_t conflict_index; /* which write of a multi-stream append */
	char conflict_stream[CAIRN_STREAM_ID_MAX + 1];
	int64_t conflict_expected; /* the expected version that was given */
	uint64_t conflict_actual;  /* the version the stream really has */
	/* On CAIRN_CONFLICT from cairn_append_if(): the position of the first
	 * event after after_position that matched the query (0 otherwise). */
	uint64_t conflict_position;
} cairn_append_result;

/* Append n (1..CAIRN_BATCH_MAX) events to one stream, atomically.
 *
 * Returns CAIRN_OK; CAIRN_CONFLICT (expected version mismatch or event id
 * committed elsewhere: result names stream, expected and actual);
 * CAIRN_INVALID (NULL store/events, n out of range, bad expected version,
 * duplicate ids in the call); CAIRN_INVALID_STREAM; CAIRN_INVALID_TYPE;
 * CAIRN_INVALID_TAG; CAIRN_TOO_LARGE (an event's data + metadata over the
 * store's max_event_size, or the whole append's over
 * CAIRN_APPEND_BYTES_MAX); CAIRN_IO; CAIRN_NOMEM; CAIRN_UNSUPPORTED
 * (read-only store).  On any failure nothing is written.  Thread-safe;
 * concurrent appends to the lmdb and sqlite backends share one commit and
 * one sync. */
CAIRN_API cairn_status cairn_append(cairn_store *store, const char *stream,
                                    int64_t expected,
                                    const cairn_new_event *events, size_t n,
                                    cairn_append_result *result);

/* One stream's part of a multi-stream append. */
typedef struct cairn_write {
	const char *stream;
	int64_t expected;
	const cairn_new_event *events;
	size_t nevents; /* >= 1 */
} cairn_write;

/* Append to several distinct streams atomically: every write commits, or
 * none.  A transfer between two accounts, each at the version it was read
 * at:
 *
 *     cairn_new_event out = CAIRN_NEW_EVENT_INIT, in = CAIRN_NEW_EVENT_INIT;
 *     out.type = "Withdrawn";  out.data = "{\"amount\":5}";  out.data_len = 12;
 *     in.type = "Deposited";   in.data = "{\"amount\":5}";   in.data_len = 12;
 *     cairn_write w[2] = {
 *         {"account-1", 7, &out, 1},
 *         {"account-2", 3, &in, 1},
 *     };
 *     cairn_append_result res;
 *     switch (cairn_append_multi(st, w, 2, &res)) {
 *     case CAIRN_OK:       break;
 *     case CAIRN_CONFLICT: reread(res.conflict_stream); break;  // and retry
 *     default:             fail(cairn_last_error());
 *     }
 *
 * In detail: every write commits, or
 * none.  Each write's expected version is checked on its own; on the first
 * mismatch result->conflict_* name the write, its stream, the expected and
 * the actual version, and nothing is written.  Events get consecutive
 * global positions in the order of the writes.
 *
 * Returns as cairn_append(); CAIRN_INVALID also when nwrites is 0, or a
 * stream appears twice. */
CAIRN_API cairn_status cairn_append_multi(cairn_store *store,
                                          const cairn_write *writes,
                                          size_t nwrites,
                                          cairn_append_result *result);

/* ------------------------------------------------------------------------
 * Reads
 *
 * Every read returns an iterator that yields events lazily, in constant
 * memory, however long the stream:
 *
 *     cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
 *     ro.from = 10;              // from version 10 on
 *     ro.limit = 100;
 *     cairn_iter *it;
 *     if (cairn_read_stream(st, "account-42", &ro, &it) != CAIRN_OK) ...
 *     const cairn_event *e;
 *     cairn_status rc;
 *     while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
 *         use(e);                // e dies at the next call
 *     cairn_iter_free(it);       // fine to call early: stops the read
 * ------------------------------------------------------------------------ */

/* An open read.  One thread at a time. */
typedef struct cairn_iter cairn_iter;

typedef struct cairn_read_opts {
	/* Stream reads: the first version to yield (forward: 0 or 1 = the
	 * start; backward: 0 = the end).  $all reads: the first position to
	 * yield, same rules. */
	uint64_t from;
	uint64_t limit; /* at most this many events; 0 = no limit */
	int backwards;  /* nonzero: newest first */
	/* $all only: yield only events whose type is one of these (when
	 * ntypes > 0) and whose stream starts with prefix (when not NULL). */
	const char *const *types;
	size_t ntypes;
	const char *prefix;
	/* $all only: yield only events the query matches (NULL = no query
	 * filter); see cairn_append_if().  Copied by the read. */
	const struct cairn_query *query;
} cairn_read_opts;

#define CAIRN_READ_OPTS_INIT                                                   \
	{                                                                      \
		0, 0, 0, NULL, 0, NULL, NULL                                   \
	}

/* Read one stream.  opts may be NULL (forward, whole stream).  A stream
 * that does not exist reads as empty (CAIRN_DONE at once).
 * On success *out owns the iterator; free it with cairn_iter_free().
 *
 * Returns CAIRN_OK; CAIRN_INVALID (NULL store/stream/out);
 * CAIRN_INVALID_STREAM; CAIRN_IO; CAIRN_NOMEM.  Thread-safe. */
CAIRN_API cairn_status cairn_read_stream(cairn_store *store, const char *stream,
                                         const cairn_read_opts *opts,
                                         cairn_iter **out);

/* Read the global log ("$all") in position order, with optional type and
 * stream-prefix filters.  As cairn_read_stream() otherwise; also
 * CAIRN_INVALID_TYPE for a malformed filter type. */
CAIRN_API cairn_status cairn_read_all(cairn_store *store,
                                      const cairn_read_opts *opts,
                                      cairn_iter **out);

/* Advance.  Returns CAIRN_ROW with *event set (borrowed until the next
 * call or cairn_iter_free()); CAIRN_DONE at the end (and on every later
 * call); CAIRN_INVALID (NULL argument); CAIRN_CORRUPT (a stored record
 * is malformed: the iterator stops there, nothing is skipped silently;
 * record checksums are checked by cairn_verify(), not on every read);
 * CAIRN_IO; CAIRN_NOMEM.  Once a read is over (DONE or an error) it holds
 * no snapshot of the store, even before cairn_iter_free().  After an error every later call
 * returns the same error. */
CAIRN_API cairn_status cairn_iter_next(cairn_iter *it,
                                       const cairn_event **event);

/* Free the iterator and everything it holds.  NULL is a no-op. */
CAIRN_API void cairn_iter_free(cairn_iter *it);

/* The store's head position as the read saw it, into *position.  Once
 * cairn_iter_next() returned CAIRN_DONE, every event up to this position
 * was examined: pass it as after_position to cairn_append_if() to append
 * only if nothing the query matches was committed since.  Before DONE it
 * is the head when the read began.  A read cut short by its limit answers
 * the newest position it yielded (the events after it were not examined).
 * Returns CAIRN_OK or CAIRN_INVALID. */
CAIRN_API cairn_status cairn_iter_head(const cairn_iter *it,
                                       uint64_t *position);

/* Called by cairn_fold_stream() once per event, in order.  Return CAIRN_OK
 * to go on; any other status stops the fold, which returns it.
 *
 *     static cairn_status
 *     add_amount(void *acc, const cairn_event *e)
 *     {
 *         long *balance = acc;
 *         if (strcmp(e->type, "Deposited") == 0)
 *             *balance += amount_of(e->data, e->data_len);
 *         return CAIRN_OK;
 *     }
 *
 *     long balance = 0;
 *     cairn_status rc = cairn_fold_stream(st, "account-42", 0, add_amount,
 *                                         &balance);
 */
typedef cairn_status (*cairn_fold_fn)(void *acc, const cairn_event *event);

/* Fold the events of stream with version > after into acc, one at a time,
 * in constant memory.  Returns CAIRN_OK when every event was folded, the
 * callback's status if it stopped the fold, or a read error as
 * cairn_read_stream()/cairn_iter_next(). */
CAIRN_API cairn_status cairn_fold_stream(cairn_store *store, const char *stream,
                                         uint64_t after, cairn_fold_fn fn,
                                         void *acc);

/* The current version (number of events) of stream into *version; 0 when
 * the stream does not exist.  O(1) in the store's size as far as the
 * engine allows: no event is read.  Returns CAIRN_OK; CAIRN_INVALID;
 * CAIRN_INVALID_STREAM; CAIRN_IO. */
CAIRN_API cairn_status cairn_stream_version(cairn_store *store,
                                            const char *stream,
                                            uint64_t *version);

/* The global position of the newest committed event into *position; 0 for
 * an empty store.  Returns CAIRN_OK; CAIRN_INVALID; CAIRN_IO. */
CAIRN_API cairn_status cairn_head(cairn_store *store, uint64_t *position);

/* ------------------------------------------------------------------------
 * Listing streams
 *
 *     cairn_stream_iter *si;
 *     const cairn_stream_info *s;
 *     char after[CAIRN_STREAM_ID_MAX + 1] = "";
 *     do {
 *         size_t got = 0;
 *         cairn_list_streams(st, "account-", after, 100, &si);
 *         while (cairn_stream_iter_next(si, &s) == CAIRN_ROW) {
 *             got++;
 *             memcpy(after, s->stream, s->stream_len + 1);
 *         }
 *         cairn_stream_iter_free(si);
 *         if (got < 100) break;      // last page
 *     } while (1);
 * ------------------------------------------------------------------------ */

typedef struct cairn_stream_iter cairn_stream_iter;

typedef struct cairn_stream_info {
	const char *stream; /* NUL-terminated */
	size_t stream_len;
	uint64_t version;       /* number of events */
	uint64_t last_position; /* position of its newest event */
	int64_t created_ns;     /* time of its first event */
	int64_t updated_ns;     /* time of its newest event */
} cairn_stream_info;

/* List streams whose id starts with prefix (NULL or "" = all), in byte
 * order, strictly after the id after (NULL or "" = from the first), at
 * most limit of them (0 = CAIRN_LIST_DEFAULT_LIMIT).  Each page costs
 * O(page), not O(store).  *out owns the iterator; free it with
 * cairn_stream_iter_free().
 *
 * Returns CAIRN_OK; CAIRN_INVALID (NULL store/out, prefix or after over
 * 255 bytes); CAIRN_IO; CAIRN_NOMEM.  Thread-safe. */
#define CAIRN_LIST_DEFAULT_LIMIT 1000
CAIRN_API cairn_status cairn_list_streams(cairn_store *store,
                                          const char *prefix, const char *after,
                                          size_t limit,
                                          cairn_stream_iter **out);

/* Advance: CAIRN_ROW with *info borrowed until the next call or free;
 * CAIRN_DONE; or an error as cairn_iter_next(). */
CAIRN_API cairn_status cairn_stream_iter_next(cairn_stream_iter *it,
                                              const cairn_stream_info **info);

/* Free the listing.  NULL is a no-op. */
CAIRN_API void cairn_stream_iter_free(cairn_stream_iter *it);

/* ------------------------------------------------------------------------
 * Conditional appends (Dynamic Consistency Boundaries)
 *
 * A decision that spans no fixed stream (a course may hold 10 students; a
 * user name is unique) reads the events a query matches, decides, and
 * appends on condition that the query matches nothing new:
 *
 *     const char *types[] = {"StudentEnrolled", "CourseCapacityChanged"};
 *     const char *tags[] = {"course:c1"};
 *     cairn_query_item item = {types, 2, tags, 1};
 *     cairn_query q = {&item, 1};
 *     cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
 *     ro.query = &q;
 *     cairn_read_all(st, &ro, &it);
 *     while (cairn_iter_next(it, &e) == CAIRN_ROW)
 *         fold(&course, e);
 *     uint64_t seen;
 *     cairn_iter_head(it, &seen);          // after DONE
 *     cairn_iter_free(it);
 *     if (course.enrolled < course.capacity)
 *         rc = cairn_append_if(st, &q, seen, &write, 1, &res);
 *     // CAIRN_CONFLICT: someone enrolled meanwhile; read again
 * ------------------------------------------------------------------------ */

/* One item of a query: it matches an event whose type is one of types
 * (any type when ntypes is 0) and that carries every one of tags (no
 * condition when ntags is 0).  An item with neither matches every event. */
typedef struct cairn_query_item {
	const char *const *types;
	size_t ntypes;
	const char *const *tags;
	size_t ntags;
} cairn_query_item;

/* A query matches an event when any of its items does.  A query with no
 * items matches nothing. */
typedef struct cairn_query {
	const cairn_query_item *items;
	size_t nitems;
} cairn_query;

#define CAIRN_QUERY_ITEMS_MAX 64 /* items in one query */

/* True (1) when query matches event, else 0.  Thread-safe. */
CAIRN_API int cairn_query_match(const cairn_query *query,
                                const cairn_event *event);

/* Append writes as cairn_append_multi() does (each write's expected
 * version is checked too), on condition that no event the query matches
 * has a position greater than after (0: that no matching event exists at
 * all).  The condition and the append are one atomic step.  On a failed
 * condition: CAIRN_CONFLICT, nothing written, result->conflict_position
 * and conflict_stream name the first matching event (conflict_index is 0,
 * conflict_expected CAIRN_ANY, conflict_actual 0: a nonzero
 * conflict_position tells a failed condition from a version conflict).  An idempotent
 * repeat (the same caller-given event ids, already committed at the same
 * place) succeeds with result->idempotent = 1 instead of failing the
 * condition.  The engines check the condition through indexes of types
 * and tags, at a cost proportional to the matching events after after.
 *
 * Returns as cairn_append_multi(); also CAIRN_INVALID for a NULL query,
 * more than CAIRN_QUERY_ITEMS_MAX items; CAIRN_INVALID_TYPE or
 * CAIRN_INVALID_TAG for a malformed type or tag in the query. */
CAIRN_API cairn_status cairn_append_if(cairn_store *store,
                                       const cairn_query *query,
                                       uint64_t after,
                                       const cairn_write *writes,
                                       size_t nwrites,
                                       cairn_append_result *result);

/* ------------------------------------------------------------------------
 * Subscriptions
 *
 * A subscription delivers committed events in global order, one committed
 * append per batch (filtered to the events that match; an append with no
 * match yields nothing).  It first catches up from storage, then follows
 * live commits, with no duplicate and no gap at the switch.  Only
 * committed appends are delivered: an append that failed (conflict,
 * error) never is.
 *
 * A subscription reads from storage, never from an in-memory queue: a
 * slow consumer holds no lock, delays no append and no other subscriber,
 * and uses memory bounded by one batch.  A commit in this process wakes
 * waiting subscribers at once.  A commit made by another process sharing
 * the store is noticed within 100 ms (lmdb: a counter in a shared memory
 * map, waited on with a futex; see docs/subscriptions.md).
 *
 * A *durable* subscription has a name: its cursor, the position of the
 * last event its consumer acknowledged, is kept in the store.  The cursor
 * moves only with cairn_sub_ack(); it is never ahead of what the consumer
 * acknowledged; a new subscription under the name resumes strictly after
 * it.  An acknowledgment survives a crash of the process at once; after
 * a crash of the machine the cursor may be found a little behind (never
 * ahead), so delivery is at least once.  Use one consumer per name at a
 * time.
 *
 *     cairn_sub_opts so;
 *     cairn_sub_opts_init(&so);
 *     so.name = "billing";               // durable; NULL: not stored
 *     const char *types[] = {"Invoiced", "Paid"};
 *     so.types = types;
 *     so.ntypes = 2;
 *     cairn_sub *sub;
 *     if (cairn_subscribe(st, &so, &sub) != CAIRN_OK)
 *         return 1;
 *     const cairn_event *batch;
 *     size_t n;
 *     for (;;) {
 *         rc = cairn_sub_next(sub, 1000, &batch, &n);
 *         if (rc == CAIRN_TIMEOUT)
 *             continue;                  // nothing new for a second
 *         if (rc != CAIRN_ROW)
 *             break;                     // CAIRN_CLOSED or an error
 *         for (size_t i = 0; i < n; i++)
 *             handle(&batch[i]);
 *         cairn_sub_ack(sub, batch[n - 1].position);
 *     }
 *     cairn_sub_close(sub);
 *
 * Threads: a cairn_sub is used by one thread at a time, except
 * cairn_sub_stop(), which any thread may call at any time.
 * ------------------------------------------------------------------------ */
typedef struct cairn_sub cairn_sub;

typedef enum cairn_sub_start {
	CAIRN_SUB_BEGINNING = 0, /* every event from position 1 */
	CAIRN_SUB_END = 1,       /* only events committed after subscribing */
	CAIRN_SUB_AFTER = 2      /* events after position `after` */
} cairn_sub_start;

#define CAIRN_SUB_NAME_MAX 255 /* bytes of a durable subscription's name */
#define CAIRN_SUB_OPTS_VERSION 1

typedef struct cairn_sub_opts {
	unsigned version; /* CAIRN_SUB_OPTS_VERSION (set by _init) */
	/* Where a subscription without a stored cursor starts.  A durable
	 * subscription whose cursor exists resumes after it and ignores
	 * this. */
	cairn_sub_start start;
	uint64_t after; /* CAIRN_SUB_AFTER: the last position not wanted */
	/* Durable name (valid UTF-8, 1..CAIRN_SUB_NAME_MAX bytes, no control
	 * characters), or NULL for a subscription that stores nothing.  A
	 * new durable subscription stores its cursor at its start. */
	const char *name;
	/* Filters, as in cairn_read_opts: types (any of), stream prefix,
	 * DCB query.  Copied. */
	const char *const *types;
	size_t ntypes;
	const char *prefix;
	const struct cairn_query *query;
	/* At most this many events per batch (0: no limit).  An append with
	 * more matching events is delivered in consecutive batches; see
	 * cairn_sub_batch_complete(). */
	size_t max_batch;
} cairn_sub_opts;

/* Fill opts with the defaults: from the beginning, not durable, no
 * filter, no batch limit. */
CAIRN_API void cairn_sub_opts_init(cairn_sub_opts *opts);

/* Open a subscription.  A durable one reads its cursor (or stores one at
 * its start).  On success *out owns the subscription; close it with
 * cairn_sub_close().
 *
 * Returns CAIRN_OK; CAIRN_INVALID (NULL argument, unknown opts version,
 * bad start, CAIRN_SUB_AFTER a position beyond the head, malformed name,
 * bad query); CAIRN_INVALID_STREAM (a prefix over CAIRN_STREAM_ID_MAX
 * bytes); CAIRN_INVALID_TYPE; CAIRN_INVALID_TAG; CAIRN_UNSUPPORTED
 * (durable, on an engine without cursors); CAIRN_IO; CAIRN_NOMEM.
 * Thread-safe. */
CAIRN_API cairn_status cairn_subscribe(cairn_store *store,
                                       const cairn_sub_opts *opts,
                                       cairn_sub **out);

/* The next batch: *batch points to *n (>= 1) events of one append, in
 * position order, borrowed until the next call on sub or its close.
 * timeout_ms: how long to wait for a batch when none is ready; 0 = do not
 * wait, negative = wait until one comes or cairn_sub_stop().
 *
 * Returns CAIRN_ROW (a batch); CAIRN_TIMEOUT (none within timeout_ms);
 * CAIRN_CLOSED (cairn_sub_stop() was called); CAIRN_INVALID; CAIRN_IO;
 * CAIRN_CORRUPT; CAIRN_NOMEM.  An error leaves the subscription where it
 * was: the next call tries again from the same place. */
CAIRN_API cairn_status cairn_sub_next(cairn_sub *sub, int timeout_ms,
                                      const cairn_event **batch, size_t *n);

/* 1 when the last batch ended its append, 0 when more events of the same
 * append follow in the next batch (max_batch split it). */
CAIRN_API int cairn_sub_batch_complete(const cairn_sub *sub);

/* Acknowledge every delivered event up to position: a durable
 * subscription stores it as its cursor.  A position at or below the
 * cursor changes nothing.
 *
 * Returns CAIRN_OK; CAIRN_INVALID (NULL sub, a position beyond the last
 * delivered event, a subscription that is not durable); CAIRN_CONFLICT
 * (the stored cursor was reset or deleted by someone else since this
 * subscription read it: nothing stored; the subscription goes on from the
 * new cursor, or CAIRN_NOT_FOUND from cairn_sub_next() when deleted);
 * CAIRN_IO. */
CAIRN_API cairn_status cairn_sub_ack(cairn_sub *sub, uint64_t position);

/* The position of the last event delivered (or the start when none was),
 * and of the stored cursor (0 when not durable). */
CAIRN_API uint64_t cairn_sub_position(const cairn_sub *sub);
CAIRN_API uint64_t cairn_sub_acked(const cairn_sub *sub);

/* Make every current and later cairn_sub_next() on sub return
 * CAIRN_CLOSED.  Safe from any thread, at any time, while sub is open. */
CAIRN_API void cairn_sub_stop(cairn_sub *sub);

/* Close sub (NULL: nothing).  The stored cursor stays.  Not while another
 * thread is inside cairn_sub_next() on it: stop it first. */
CAIRN_API void cairn_sub_close(cairn_sub *sub);

/* A stored durable subscription. */
typedef struct cairn_sub_info {
	const char *name; /* NUL-terminated */
	uint64_t position; /* the cursor: last acknowledged position */
	int64_t updated_ns; /* when it last moved, ns since the Unix epoch */
} cairn_sub_info;

/* Return nonzero to stop the listing. */
typedef int (*cairn_sub_list_fn)(void *ctx, const cairn_sub_info *info);

/* Call fn for every durable subscription, in name order (info is
 * borrowed for the call).  Returns CAIRN_OK; CAIRN_INVALID;
 * CAIRN_UNSUPPORTED; CAIRN_IO. */
CAIRN_API cairn_status cairn_subs_list(cairn_store *store,
                                       cairn_sub_list_fn fn, void *ctx);

/* Read one durable subscription's cursor.  CAIRN_OK, CAIRN_NOT_FOUND,
 * CAIRN_INVALID, CAIRN_UNSUPPORTED, CAIRN_IO. */
CAIRN_API cairn_status cairn_subs_get(cairn_store *store, const char *name,
                                      cairn_sub_info *info);

/* Set a durable subscription's cursor to position (creating it when
 * absent): its next consumer starts after position.  A consumer running
 * meanwhile gets CAIRN_CONFLICT from its next ack and goes on from the
 * new cursor (a reset to the very position that consumer last
 * acknowledged is not noticed: it goes on from where it is).  CAIRN_OK, CAIRN_INVALID (bad name; position beyond the
 * head), CAIRN_UNSUPPORTED, CAIRN_IO. */
CAIRN_API cairn_status cairn_subs_reset(cairn_store *store, const char *name,
                                        uint64_t position);

/* Delete a durable subscription.  CAIRN_OK, CAIRN_NOT_FOUND,
 * CAIRN_INVALID, CAIRN_UNSUPPORTED, CAIRN_IO. */
CAIRN_API cairn_status cairn_subs_delete(cairn_store *store, const char *name);

/* ------------------------------------------------------------------------
 * Projections
 *
 * A projection runner feeds a durable subscription's batches to a
 * handler and acknowledges each batch the handler accepted.  A handler
 * error stops the runner; the cursor stays at the last success, so a
 * restarted runner gets the failed batch again (at least once).
 *
 * Exactly once: a read model that keeps its own position in the same
 * transaction as its updates sets load_position.  The runner then starts
 * after the position load_position returns and never acknowledges in
 * the store; the handler saves batch[n-1].position with its update.  When
 * the read model lives in the store's own database (sqlite, postgres) it
 * may keep that position in the store's cursor table, so that `cairn subs
 * list` shows it; docs/subscriptions.md shows how.
 * ------------------------------------------------------------------------ */
typedef struct cairn_projection cairn_projection;

/* Handle one batch (borrowed for the call); CAIRN_OK to go on, anything
 * else stops the runner, which returns it. */
typedef cairn_status (*cairn_projection_fn)(void *ctx,
                                            const cairn_event *batch,
                                            size_t n);

#define CAIRN_PROJECTION_OPTS_VERSION 1

typedef struct cairn_projection_opts {
	unsigned version; /* CAIRN_PROJECTION_OPTS_VERSION */
	/* The subscription: sub.name is required unless load_position is
	 * set; filters and start as for cairn_subscribe(). */
	cairn_sub_opts sub;
	cairn_projection_fn handle;
	void *ctx;
	/* Optional exactly-once hook (see above): the read model's own last
	 * position (0 when it has none). */
	cairn_status (*load_position)(void *ctx, uint64_t *position);
} cairn_projection_opts;

CAIRN_API void cairn_projection_opts_init(cairn_projection_opts *opts);

/* Open a runner (subscribing at once).  CAIRN_OK or the statuses of
 * cairn_subscribe(); CAIRN_INVALID without a handler, or without a name
 * and without load_position. */
CAIRN_API cairn_status cairn_projection_open(cairn_store *store,
                                             const cairn_projection_opts *opts,
                                             cairn_projection **out);

/* Handle every batch up to the head as it was when the call began, then
 * return CAIRN_OK.  A handler's error status is returned as is; CAIRN_IO
 * etc. from the store; CAIRN_CLOSED when stopped. */
CAIRN_API cairn_status cairn_projection_catch_up(cairn_projection *p);

/* Catch up, then follow live commits until cairn_projection_stop()
 * (returns CAIRN_OK) or an error (returned). */
CAIRN_API cairn_status cairn_projection_run(cairn_projection *p);

/* Stop a running catch_up/run from any thread. */
CAIRN_API void cairn_projection_stop(cairn_projection *p);

/* The position of the last batch the handler accepted. */
CAIRN_API uint64_t cairn_projection_position(const cairn_projection *p);

/* Free the runner (NULL: nothing); not while it runs. */
CAIRN_API void cairn_projection_close(cairn_projection *p);

/* ------------------------------------------------------------------------
 * Snapshots and aggregates
 *
 * A snapshot is a state blob saved for (stream, version, schema).  Loading
 * an aggregate starts from the newest snapshot whose schema matches and
 * folds only the events after it; a snapshot of another schema, or newer
 * than the stream (a stream cannot shrink: such a snapshot is not to be
 * trusted), is ignored.
 *
 *     static const cairn_aggregate_type account_type = {
 *         "account/v1", sizeof(struct account), account_apply,
 *         account_restore, account_serialize};
 *     struct account acc;
 *     uint64_t version;
 *     cairn_aggregate_load(st, "account-42", &account_type, &acc, &version);
 *     ... decide ...
 *     cairn_aggregate_save(st, "account-42", version, events, n, &res);
 *     if (version % 1000 == 0)
 *         cairn_aggregate_snapshot(st, "account-42", &account_type, &acc,
 *                                  version);
 * ------------------------------------------------------------------------ */

#define CAIRN_SNAPSHOT_SCHEMA_MAX 255 /* bytes of a schema tag */

/* Save state (len bytes, copied) as the snapshot of stream at version
 * under schema, replacing an older one of that schema.  Returns CAIRN_OK;
 * CAIRN_INVALID (NULL arguments, version 0, a version ahead of the
 * stream's, schema not 1..255 bytes of UTF-8); CAIRN_INVALID_STREAM; CAIRN_TOO_LARGE (over max_event_size);
 * CAIRN_IO; CAIRN_NOMEM; CAIRN_UNSUPPORTED (the engine keeps none). */
CAIRN_API cairn_status cairn_snapshot_save(cairn_store *store,
                                           const char *stream,
                                           uint64_t version,
                                           const char *schema,
                                           const void *state, size_t len);

/* Load the newest snapshot of stream under schema: *version, and *state
 * (*len bytes, from the library's allocator; free it with cairn_free(),
 * not free()).  Returns CAIRN_OK;
 * CAIRN_NOT_FOUND (none, or one newer than the stream: ignored);
 * CAIRN_INVALID; CAIRN_INVALID_STREAM; CAIRN_IO; CAIRN_NOMEM. */
CAIRN_API cairn_status cairn_snapshot_load(cairn_store *store,
                                           const char *stream,
                                           const char *schema,
                                           uint64_t *version, void **state,
                                           size_t *len);

/* Free memory the library handed over (snapshot blobs). NULL is a no-op. */
CAIRN_API void cairn_free(void *p);

/* How one kind of aggregate folds, and (optionally) snapshots, its state.
 * The state is the caller's memory of state_size bytes. */
typedef struct cairn_aggregate_type {
	const char *schema;        /* snapshot schema; NULL: no snapshots */
	size_t state_size;         /* bytes of the state, zeroed to start */
	cairn_fold_fn apply;       /* fold one event into the state */
	/* Fill state from a snapshot blob; any status but CAIRN_OK makes the
	 * load ignore the snapshot and fold from the start. */
	cairn_status (*restore)(void *state, const void *blob, size_t len);
	/* Make a blob of state: allocate it with malloc(); the library
	 * frees it with free() (user memory, outside cairn_set_allocator). */
	cairn_status (*serialize)(const void *state, void **blob,
	                          size_t *len);
} cairn_aggregate_type;

/* Load stream's state into state (state_size bytes, zeroed first): from
 * the newest usable snapshot if the type has a schema, then the events
 * after it, one at a time.  *version receives the stream's version as
 * folded: pass it to cairn_aggregate_save().  Returns CAIRN_OK; the fold
 * callback's status when it stopped the fold; the errors of
 * cairn_read_stream() and cairn_iter_next(). */
CAIRN_API cairn_status cairn_aggregate_load(cairn_store *store,
                                            const char *stream,
                                            const cairn_aggregate_type *type,
                                            void *state, uint64_t *version);

/* Append events to stream expecting it to be at version (as loaded).
 * Returns as cairn_append(). */
CAIRN_API cairn_status cairn_aggregate_save(cairn_store *store,
                                            const char *stream,
                                            uint64_t version,
                                            const cairn_new_event *events,
                                            size_t n,
                                            cairn_append_result *result);

/* Serialize state and save it as stream's snapshot at version.  Returns
 * as cairn_snapshot_save(); CAIRN_INVALID when the type has no schema or
 * no serialize. */
CAIRN_API cairn_status cairn_aggregate_snapshot(
        cairn_store *store, const char *stream,
        const cairn_aggregate_type *type, const void *state,
        uint64_t version);

/* ------------------------------------------------------------------------
 * Command execution
 *
 * A command reads streams, folds their events into its state, decides,
 * and writes new events; cairn_execute() runs it against a store and
 * re-runs it from a fresh state when another writer got in between:
 *
 *     static cairn_status
 *     transfer_handle(void *ctx, cairn_decision *d)
 *     {
 *         struct transfer *t = ctx;
 *         if (t->from_balance < t->amount)
 *             return cairn_decision_reject(d, "insufficient funds in %s",
 *                                          t->from);
 *         cairn_decision_append(d, t->from, &withdrawn);
 *         cairn_decision_append(d, t->to, &deposited);
 *         return CAIRN_OK;
 *     }
 *
 *     const char *streams[] = {t.from, t.to};
 *     cairn_command cmd = {&t, streams, 2, transfer_reset, transfer_apply,
 *                          NULL, transfer_handle};
 *     cairn_exec_result res;
 *     switch (cairn_execute(st, &cmd, NULL, &res)) {
 *     case CAIRN_OK:       break;                      // res.attempts
 *     case CAIRN_REJECTED: puts(res.message); break;   // never retried
 *     default:             fail(cairn_last_error());   // incl. retries
 *     }                                                // exhausted
 *
 * The executor reads each stream once (declared streams first, then the
 * ones discover() names, breadth-first, duplicates ignored), folding the
 * events one at a time as the iterator yields them.  It appends every
 * write of the decision in one atomic multi-stream append, expecting each
 * stream it read at the version it read — a stream read but not written
 * is checked too, by appending nothing to it but its expected version (a
 * concurrent write to it is a conflict).  A write to a stream the command
 * did not read is refused with CAIRN_INVALID: declare or discover every
 * stream a command writes (an unread new stream reads as version 0).
 * ------------------------------------------------------------------------ */

typedef struct cairn_decision cairn_decision;
typedef struct cairn_stream_set cairn_stream_set;

/* Inside handle(): add one event to stream's writes (copied).  Returns
 * CAIRN_OK, CAIRN_NOMEM, or the validation statuses of cairn_append(). */
CAIRN_API cairn_status cairn_decision_append(cairn_decision *d,
                                             const char *stream,
                                             const cairn_new_event *event);

/* Inside handle(): reject the command with a message (printf format).
 * Returns CAIRN_REJECTED, for handle() to return. */
CAIRN_API cairn_status cairn_decision_reject(cairn_decision *d,
                                             const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 2, 3)))
#endif
        ;

/* Inside discover(): name one more stream to read (copied). */
CAIRN_API cairn_status cairn_stream_set_add(cairn_stream_set *set,
                                            const char *stream);

/* reset, apply and handle are required; discover is optional. */
typedef struct cairn_command {
	void *ctx;                 /* the command's data and state */
	const char *const *streams; /* the streams it reads */
	size_t nstreams;
	/* Start from a fresh state (before each attempt). */
	cairn_status (*reset)(void *ctx);
	/* Fold one event of a stream being read. */
	cairn_status (*apply)(void *ctx, const cairn_event *event);
	/* Optional: after each stream is read, name more streams to read. */
	cairn_status (*discover)(void *ctx, cairn_stream_set *more);
	/* Decide: cairn_decision_append() the events to write and return
	 * CAIRN_OK, or return cairn_decision_reject(). */
	cairn_status (*handle)(void *ctx, cairn_decision *decision);
} cairn_command;

typedef enum cairn_backoff {
	CAIRN_BACKOFF_FIXED = 0,
	CAIRN_BACKOFF_EXPONENTIAL = 1
} cairn_backoff;

/* Called before each retry with the stream that conflicted, the attempt
 * about to start (2 for the first retry) and the delay slept first. */
typedef void (*cairn_retry_fn)(void *ctx, const char *stream,
                               unsigned attempt, uint32_t delay_us);

typedef struct cairn_retry_policy {
	unsigned max_retries;      /* retries after the first attempt */
	cairn_backoff backoff;
	uint32_t base_delay_us;    /* fixed delay, or the first exponential */
	uint32_t max_delay_us;     /* cap on any delay */
	double jitter;             /* 0..1: each delay is scaled by a random
	                            * factor in [1 - jitter, 1] */
	cairn_retry_fn on_retry;   /* may be NULL */
	void *on_retry_ctx;
} cairn_retry_policy;

/* Defaults: 5 retries, exponential from 1 ms, at most 100 ms, jitter
 * 0.5, no hook. */
CAIRN_API void cairn_retry_policy_init(cairn_retry_policy *policy);

typedef struct cairn_exec_result {
	unsigned attempts;         /* 1 when no retry was needed */
	cairn_append_result append; /* of the successful append */
	size_t nevents;            /* events written (0: nothing to write) */
	char message[512];         /* the rejection's message */
} cairn_exec_result;

/* Run cmd against store under policy (NULL: the defaults); result may be
 * NULL.  A decision with no events succeeds without appending (the
 * streams read are then not checked).  A failure inside a callback
 * (cairn_decision_append() refused an event, say) fails the command even
 * if the callback ignores it: nothing half-decided is written.  Returns
 * CAIRN_OK (written, or nothing to write); CAIRN_REJECTED (handle()
 * rejected: result->message; never retried); CAIRN_RETRIES_EXHAUSTED
 * (conflicts outlasted the policy); CAIRN_INVALID (NULL arguments, a
 * write to a stream not read); a callback's own error status; or the
 * errors of reads and appends.  Thread-safe as the store is; the command
 * itself is used by this call only. */
CAIRN_API cairn_status cairn_execute(cairn_store *store,
                                     const cairn_command *cmd,
                                     const cairn_retry_policy *policy,
                                     cairn_exec_result *result);

/* ------------------------------------------------------------------------
 * Decorators: stores that wrap a store
 *
 * A tracking store records every append committed through it, for tests;
 * an instrumented store counts and times what goes through it.  Both are
 * cairn_store handles: use them wherever a store is expected, close them
 * with cairn_close() (which leaves the inner store open; close it after).
 * ------------------------------------------------------------------------ */

/* Wrap inner in a tracking store.  Returns CAIRN_OK, CAIRN_INVALID,
 * CAIRN_NOMEM. */
CAIRN_API cairn_status cairn_tracking_open(cairn_store *inner,
                                           cairn_store **out);

/* The events committed through a tracking store, in commit order, as an
 * iterator (a copy taken now).  CAIRN_INVALID when store is not a
 * tracking store. */
CAIRN_API cairn_status cairn_tracking_read(cairn_store *store,
                                           cairn_iter **out);

/* Forget what a tracking store recorded. */
CAIRN_API void cairn_tracking_clear(cairn_store *store);

/* Latency histogram buckets (upper bounds, µs) of cairn_metrics. */
#define CAIRN_METRICS_BUCKETS 12

typedef struct cairn_metrics {
	uint64_t appends;          /* append calls that committed */
	uint64_t events;           /* events they wrote */
	uint64_t conflicts;        /* appends that failed on a condition */
	uint64_t retries;          /* command retries (cairn_execute) */
	uint64_t reads;            /* reads opened */
	uint64_t events_read;      /* events yielded by reads */
	uint64_t errors;           /* other failures */
	/* cumulative counts of appends / reads (open to free) at most
	 * bucket_us[i] µs; the last bucket is +Inf */
	uint64_t bucket_us[CAIRN_METRICS_BUCKETS];
	uint64_t append_latency[CAIRN_METRICS_BUCKETS];
	uint64_t read_latency[CAIRN_METRICS_BUCKETS];
	double append_seconds;     /* sum of append latencies */
	double read_seconds;
} cairn_metrics;

/* Wrap inner in an instrumented store.  Returns CAIRN_OK, CAIRN_INVALID,
 * CAIRN_NOMEM. */
CAIRN_API cairn_status cairn_instrumented_open(cairn_store *inner,
                                               cairn_store **out);

/* Call fn with a consistent copy of the store's metrics.  CAIRN_INVALID
 * when store is not instrumented. */
CAIRN_API cairn_status cairn_metrics_read(cairn_store *store,
                                          void (*fn)(void *ctx,
                                                     const cairn_metrics *m),
                                          void *ctx);

/* Write the metrics in the Prometheus text format into buf (size bytes,
 * NUL-terminated); *needed receives the length the whole text takes (so
 * a buffer too small can be retried).  CAIRN_INVALID when store is not
 * instrumented or buf is NULL with size > 0. */
CAIRN_API cairn_status cairn_metrics_prometheus(cairn_store *store,
                                                char *buf, size_t size,
                                                size_t *needed);

/* ------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------ */
typedef struct cairn_stats {
	uint64_t events;  /* committed events */
	uint64_t streams; /* streams with at least one event */
	uint64_t head;    /* newest position */
	uint64_t bytes;   /* storage used by the engine (0 = unknown) */
} cairn_stats;

/* Fill *stats.  Returns CAIRN_OK; CAIRN_INVALID; CAIRN_IO. */
CAIRN_API cairn_status cairn_stats_get(cairn_store *store, cairn_stats *stats);

/* ------------------------------------------------------------------------
 * Verification
 * ------------------------------------------------------------------------ */

/* Called once per problem found by cairn_verify(), with a sentence. */
typedef void (*cairn_verify_fn)(void *ctx, const char *problem);

/* Check every invariant of the store: versions contiguous per stream,
 * positions strictly increasing and gapless, the stream index and the
 * event log consistent both ways, stream metadata matching the events,
 * event ids unique and indexed, record checksums.  Calls fn (may be NULL)
 * once per problem and stores their number in *problems.
 *
 * Returns CAIRN_OK when the check ran (problems may still be > 0);
 * CAIRN_INVALID; CAIRN_IO; CAIRN_NOMEM.  May run while others append:
 * only the events up to the head at its start are checked. */
CAIRN_API cairn_status cairn_verify(cairn_store *store, cairn_verify_fn fn,
                                    void *ctx, uint64_t *problems);

/* ------------------------------------------------------------------------
 * Validation helpers, exported so that tools validate exactly as the store
 * does.  Each returns CAIRN_OK or its distinct status, with a message.
 * ------------------------------------------------------------------------ */
CAIRN_API cairn_status cairn_validate_stream_id(const char *stream);
CAIRN_API cairn_status cairn_validate_type(const char *type);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
