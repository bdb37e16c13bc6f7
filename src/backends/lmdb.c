/*
 * lmdb.c -- the embedded default engine, on LMDB.
 *
 * Layout: nine named databases in one environment.
 *
 *   events        position (u64, native, MDB_INTEGERKEY) -> record
 *   streams       stream id + NUL -> stream_meta
 *   stream_index  stream number (u64 BE) . version (u64 BE) -> position
 *   ids           event id (16 bytes) -> position
 *   types         event type -> positions (u64 BE), MDB_DUPSORT
 *   tags          tag -> positions (u64 BE), MDB_DUPSORT
 *   snapshots     stream id + NUL + schema -> version (u64) . blob
 *   cursors       subscription name -> cursor_value (from the first put)
 *   meta          "format" -> u32, "next_stream" -> u64, the log's state
 *
 * A record holds one event: a fixed header (with a CRC-32 of the rest,
 * and the event's commit_rest in its flags), then the stream id and type,
 * NUL-terminated, the data, the metadata and the tags, NUL-terminated one
 * after the other.  Readers hand out pointers into the memory map:
 * nothing is copied on the read path.
 *
 * Every commit that makes events visible bumps the commit notifier, a
 * counter in the file "notify" of the store that every process maps, so
 * that subscribers anywhere wake at once.  An idle iterator can be
 * parked: it lets go of its snapshot until its next step.
 *
 * Writers share transactions through the core's group commit: the leader
 * commits every queued request in one write transaction, checking each
 * request before it writes anything, so that one request's conflict
 * leaves no trace and fails no other request.  A request's DCB condition
 * is checked in that same transaction, through the type and tag indexes,
 * so that the events of the requests before it in the batch count.
 *
 * The map grows by itself.  Growing means unmapping, which no reader may
 * see: every live read transaction is counted through a gate, and a
 * resize waits (boundedly) for the count to reach zero.  Readers that see
 * a resize pending step aside at their next step.
 *
 * The same environment may be opened twice in one process (LMDB forbids
 * two MDB_envs on one file in a process), so open environments are kept
 * in a registry by device and inode and shared with a reference count.
 */
#include "backend.h"
#include "lmdb_record.h"
#include "lmdb_wal.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#define RECORD_FORMAT 1
/* Format 2 added the type, tag and snapshot databases.  A store of
 * format 1 is upgraded at its first writable open (upgrade_store). */
#define STORE_FORMAT 2
#define STORE_FORMAT_NO_INDEXES 1
#define RECORD_HEADER_SIZE 56
/* Reserved address space for the map at first; the file grows only as
 * pages are written, so a large reservation costs nothing on 64-bit. */
#define DEFAULT_MAP_SIZE ((size_t)64 << 30)
#define MIN_MAP_SIZE ((size_t)1 << 20)
#define MAX_READERS 1024
#define MAX_DBS 16
/* The largest event the record format (u32 lengths) and LMDB's value
 * size comfortably take. */
#define LMDB_MAX_EVENT_SIZE ((size_t)1 << 30)
/* How long a map resize waits for open reads to step aside. */
#define RESIZE_WAIT_SECONDS 10
/* The commit notifier's file in the store directory (notify_attach). */
#define NOTIFY_FILE "notify"

typedef struct stream_meta {
	uint64_t num;
	uint64_t version;
	uint64_t last_position;
	int64_t created_ns;
	int64_t updated_ns;
} stream_meta;

struct cairn__backend {
	MDB_env *env;
	MDB_dbi events, streams, stream_index, ids, meta;
	MDB_dbi types, tags, snapshots;
	/* Created by the first cursor put (see "durable cursors"); usable
	 * once has_cursors is set (atomic), never closed after. */
	MDB_dbi cursors;
	int has_cursors;
	cairn__group group;
	/* the commit notifier, on the file NOTIFY_FILE in the store */
	cairn__notify *notify;
	bool read_only;
	unsigned renew_every;
	size_t map_size;

	/* the gate between read transactions and map resizes */
	/* held by the writer around its transaction, and by a reader that
	 * adopts another process's map growth (no write transaction may be
	 * open in the process while the map changes) */
	pthread_mutex_t write_mutex;
	pthread_mutex_t gate_mutex;
	pthread_cond_t gate_cond;
	unsigned active_readers;
	int resizing; /* atomic: read without the mutex */

	/* the write-ahead log (lmdb_wal.h) and its protocol */
	bool wal_on;   /* a writable store logs every batch */
	bool wal_sync; /* durable: sync each record */
	wal_file wal;
	uint32_t psize;
	uint8_t token[16];        /* this instance, as the pin's owner */
	bool marked;              /* holds its wal_mark_alive() lock */
	MDB_txn *pin;             /* read txn on the latest checkpoint */
	bool checkpointed_in_txn; /* this transaction wrote a checkpoint */
	bool force_checkpoint;    /* a checkpointed transaction failed */
	/* An I/O failure that leaves the state unknown (a failed sync, a
	 * lost map): every later call fails until the store is reopened. */
	int failed; /* atomic */
	unsigned batches_since_checkpoint;
	uint8_t *ckpt_meta; /* 4 * psize: new and current meta copies */
	char boot_id[WAL_BOOT_ID_LEN + 1];
	uint8_t *wbuf; /* the batch's log record */
	size_t wbuf_len, wbuf_cap;

	/* the registry of shared environments */
	dev_t dev;
	ino_t ino;
	unsigned refs;
	struct cairn__backend *next;
	char path[];
};

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct cairn__backend *registry;

/* ---- errors ---- */

/* The one place LMDB's codes become cairn statuses. */
static cairn_status
map_error(int rc)
{
	switch (rc) {
	case ENOMEM:
		return CAIRN_NOMEM;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return CAIRN_CORRUPT;
	case MDB_NOTFOUND:
		return CAIRN_NOT_FOUND;
	case MDB_TXN_FULL:
		return CAIRN_TOO_LARGE;
	default:
		return CAIRN_IO;
	}
}

static cairn_status
lmdb_error(int rc, const char *what)
{
	return cairn__error(map_error(rc), rc, "lmdb: %s: %s", what,
	                    mdb_strerror(rc));
}

/* Stop the engine after an I/O failure that leaves its state unknown:
 * every later call fails with CAIRN_IO until the store is reopened (and
 * recovered). */
static void
engine_fail(struct cairn__backend *be)
{
	__atomic_store_n(&be->failed, 1, __ATOMIC_RELEASE);
}

static bool
engine_failed(struct cairn__backend *be)
{
	return __atomic_load_n(&be->failed, __ATOMIC_ACQUIRE) != 0;
}

static cairn_status
failed_error(const struct cairn__backend *be)
{
	return cairn__error(CAIRN_IO, EIO,
	                    "lmdb: '%s' hit an I/O failure that leaves its "
	                    "state unknown; close and reopen the store, which "
	                    "recovers it",
	                    be->path);
}

/* ---- keys and values ---- */

static void
put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
index_key(uint8_t key[16], uint64_t num, uint64_t version)
{
	put_be64(key, num);
	put_be64(key + 8, version);
}

/*
 * Record header, little-endian on disk as in memory on the machines LMDB
 * files are portable between (LMDB files are not portable across
 * endianness anyway).
 */
typedef struct record_header {
	uint32_t crc; /* CRC-32 of every byte after this field */
	uint16_t format;
	uint8_t stream_len;
	uint8_t type_len;
	uint64_t version;
	int64_t time_ns;
	uint8_t id[16];
	uint32_t data_len;
	uint32_t meta_len;
	uint16_t ntags;
	uint16_t tags_len;
	uint32_t flags; /* RECORD_ID_GIVEN */
} record_header;

/* The caller gave the event's id: it is in the id index.  Generated ids
 * (random, version 4) are not indexed: only a caller can repeat an id,
 * and indexing random keys would dirty a random page per event. */
#define RECORD_ID_GIVEN 1u
/* Bits 8..31 of flags hold the event's commit_rest: how many events its
 * append request wrote after it.  Programs of cairn 0.1 wrote only
 * RECORD_ID_GIVEN, so their records read as 0 (one append per event)
 * and no format change was needed; they ignore the bits in ours.  Bits
 * 1..7 are reserved and written as 0. */
#define RECORD_REST_SHIFT 8
#define RECORD_REST_MAX (UINT32_MAX >> RECORD_REST_SHIFT)

_Static_assert(CAIRN_BATCH_MAX - 1 <= RECORD_REST_MAX,
               "every append's commit_rest fits the record's flags");

_Static_assert(sizeof(record_header) == RECORD_HEADER_SIZE,
               "record header layout");

static size_t
record_size(const cairn__write *w, const cairn_new_event *ev)
{
	size_t n = RECORD_HEADER_SIZE + w->stream_len + 1 + strlen(ev->type) +
	           1 + ev->data_len + ev->metadata_len,
	       i;

	for (i = 0; i < ev->ntags; i++)
		n += strlen(ev->tags[i]) + 1;
	return n;
}

static void
record_encode(uint8_t *out, size_t size, const cairn__write *w,
              const cairn_new_event *ev, const cairn_uuid *id, uint64_t version,
              int64_t time_ns, uint32_t commit_rest)
{
	record_header h;
	uint8_t *p = out + RECORD_HEADER_SIZE;
	size_t type_len = strlen(ev->type), i, l;

	memset(&h, 0, sizeof(h));
	h.format = RECORD_FORMAT;
	h.stream_len = (uint8_t)w->stream_len;
	h.type_len = (uint8_t)type_len;
	h.version = version;
	h.time_ns = time_ns;
	memcpy(h.id, id->bytes, 16);
	h.data_len = (uint32_t)ev->data_len;
	h.meta_len = (uint32_t)ev->metadata_len;
	h.ntags = (uint16_t)ev->ntags;
	h.flags = commit_rest << RECORD_REST_SHIFT;
	if (ev->id)
		h.flags |= RECORD_ID_GIVEN;
	memcpy(p, w->stream, w->stream_len);
	p += w->stream_len;
	*p++ = 0;
	memcpy(p, ev->type, type_len + 1);
	p += type_len + 1;
	if (ev->data_len)
		memcpy(p, ev->data, ev->data_len);
	p += ev->data_len;
	if (ev->metadata_len)
		memcpy(p, ev->metadata, ev->metadata_len);
	p += ev->metadata_len;
	for (i = 0; i < ev->ntags; i++) {
		l = strlen(ev->tags[i]) + 1;
		memcpy(p, ev->tags[i], l);
		p += l;
		h.tags_len = (uint16_t)(h.tags_len + l);
	}
	memcpy(out, &h, sizeof(h));
	h.crc = (uint32_t)crc32(0L, out + 4, (uInt)(size - 4));
	memcpy(out, &h.crc, sizeof(h.crc));
}

/*
 * Decode the record of position pos into *ev, pointing into the map.
 * tags receives pointers to the tags (room for CAIRN_TAGS_MAX).  Checks
 * the structure (lengths, terminators, no NUL inside a name, tags that
 * fill exactly their bytes) but not the CRC, which verify does: a read
 * must stay as cheap as a pointer walk.
 */
static cairn_status
record_decode(const MDB_val *v, uint64_t pos, cairn_event *ev,
              const char **tags)
{
	const uint8_t *base = v->mv_data, *p, *end;
	record_header h;
	size_t i, l;

	if (v->mv_size < RECORD_HEADER_SIZE)
		goto corrupt;
	memcpy(&h, base, sizeof(h));
	if (h.format != RECORD_FORMAT || h.ntags > CAIRN_TAGS_MAX ||
	    v->mv_size != RECORD_HEADER_SIZE + (size_t)h.stream_len + 1 +
	                          h.type_len + 1 + h.data_len + h.meta_len +
	                          h.tags_len)
		goto corrupt;
	p = base + RECORD_HEADER_SIZE;
	end = base + v->mv_size;
	if (p[h.stream_len] != 0 || p[h.stream_len + 1 + h.type_len] != 0 ||
	    memchr(p, 0, h.stream_len) != NULL ||
	    memchr(p + h.stream_len + 1, 0, h.type_len) != NULL)
		goto corrupt;
	memcpy(ev->id.bytes, h.id, 16);
	ev->stream = (const char *)p;
	ev->stream_len = h.stream_len;
	p += h.stream_len + 1;
	ev->type = (const char *)p;
	ev->type_len = h.type_len;
	p += h.type_len + 1;
	ev->data = p;
	ev->data_len = h.data_len;
	p += h.data_len;
	ev->metadata = p;
	ev->metadata_len = h.meta_len;
	p += h.meta_len;
	for (i = 0; i < h.ntags; i++) {
		l = strnlen((const char *)p, (size_t)(end - p));
		if (p + l >= end)
			goto corrupt;
		tags[i] = (const char *)p;
		p += l + 1;
	}
	if (p != end) /* tags_len covers exactly the ntags tags */
		goto corrupt;
	ev->tags = tags;
	ev->ntags = h.ntags;
	ev->version = h.version;
	ev->position = pos;
	ev->time_ns = h.time_ns;
	ev->commit_rest = h.flags >> RECORD_REST_SHIFT;
	return CAIRN_OK;
corrupt:
	return cairn__error(CAIRN_CORRUPT, 0,
	                    "lmdb: the record at position %llu is malformed",
	                    (unsigned long long)pos);
}

static bool
record_id_given(const MDB_val *v)
{
	record_header h;

	memcpy(&h, v->mv_data, sizeof(h));
	return (h.flags & RECORD_ID_GIVEN) != 0;
}

static bool
record_crc_ok(const MDB_val *v)
{
	uint32_t stored;

	if (v->mv_size < RECORD_HEADER_SIZE)
		return false;
	memcpy(&stored, v->mv_data, 4);
	return stored == (uint32_t)crc32(0L, (const uint8_t *)v->mv_data + 4,
	                                 (uInt)(v->mv_size - 4));
}

/* The two above, for the decoder's fuzz target (lmdb_record.h). */
cairn_status
cairn__lmdb_record_decode(const void *rec, size_t len, uint64_t pos,
                          cairn_event *ev, const char **tags)
{
	MDB_val v;

	v.mv_size = len;
	v.mv_data = (void *)(uintptr_t)rec;
	return record_decode(&v, pos, ev, tags);
}

bool
cairn__lmdb_record_crc_ok(const void *rec, size_t len)
{
	MDB_val v;

	v.mv_size = len;
	v.mv_data = (void *)(uintptr_t)rec;
	return record_crc_ok(&v);
}

/* ---- the map gate ---- */

static void
gate_enter(cairn__backend *be)
{
	pthread_mutex_lock(&be->gate_mutex);
	while (be->resizing)
		pthread_cond_wait(&be->gate_cond, &be->gate_mutex);
	be->active_readers++;
	pthread_mutex_unlock(&be->gate_mutex);
}

static void
gate_leave(cairn__backend *be)
{
	pthread_mutex_lock(&be->gate_mutex);
	be->active_readers--;
	if (be->resizing && be->active_readers == 0)
		pthread_cond_broadcast(&be->gate_cond);
	pthread_mutex_unlock(&be->gate_mutex);
}

/*
 * Grow the map to at least min_size (0: adopt the size another process
 * set).  Called with no transaction of this thread open.  Waits for the
 * open reads of this process to step aside, at most RESIZE_WAIT_SECONDS:
 * a thread that holds an iterator and appends past the map's end would
 * otherwise wait for itself.
 */
static cairn_status
grow_map(cairn__backend *be, size_t min_size)
{
	struct timespec deadline;
	size_t size;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += RESIZE_WAIT_SECONDS;
	pthread_mutex_lock(&be->gate_mutex);
	__atomic_store_n(&be->resizing, 1, __ATOMIC_SEQ_CST);
	while (be->active_readers > 0 && rc == 0)
		rc = pthread_cond_timedwait(&be->gate_cond, &be->gate_mutex,
		                            &deadline);
	if (be->active_readers > 0) {
		__atomic_store_n(&be->resizing, 0, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&be->gate_cond);
		pthread_mutex_unlock(&be->gate_mutex);
		return cairn__error(CAIRN_IO, 0,
		                    "lmdb: the map must grow but %u reads stay "
		                    "open in this process; free idle iterators "
		                    "before appending from their thread",
		                    be->active_readers);
	}
	size = 0;
	if (min_size) {
		size = be->map_size;
		while (size < min_size)
			size *= 2;
	}
	rc = mdb_env_set_mapsize(be->env, size);
	if (rc == 0) {
		MDB_envinfo info;
		mdb_env_info(be->env, &info);
		be->map_size = info.me_mapsize;
	} else {
		/* LMDB unmapped the old map before it failed to map the
		 * new one: the environment is unusable. */
		engine_fail(be);
	}
	__atomic_store_n(&be->resizing, 0, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&be->gate_cond);
	pthread_mutex_unlock(&be->gate_mutex);
	return rc ? lmdb_error(rc, "growing the map") : CAIRN_OK;
}

/* Begin (txn NULL) or renew a read transaction, through the gate. */
static cairn_status
read_begin(cairn__backend *be, MDB_txn **txn)
{
	cairn_status st;
	int rc;

	if (engine_failed(be))
		return failed_error(be);
	for (;;) {
		gate_enter(be);
		if (*txn)
			rc = mdb_txn_renew(*txn);
		else
			rc = mdb_txn_begin(be->env, NULL, MDB_RDONLY, txn);
		if (rc == 0)
			return CAIRN_OK;
		gate_leave(be);
		if (rc != MDB_MAP_RESIZED)
			return lmdb_error(rc, "beginning a read");
		pthread_mutex_lock(&be->write_mutex);
		st = grow_map(be, 0);
		pthread_mutex_unlock(&be->write_mutex);
		if (st != CAIRN_OK)
			return st;
	}
}

/* Release a read transaction's snapshot, keeping the handle. */
static void
read_reset(cairn__backend *be, MDB_txn *txn)
{
	mdb_txn_reset(txn);
	gate_leave(be);
}

static void
read_end(cairn__backend *be, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	gate_leave(be);
}

/* ---- small reads ---- */

static int
get_stream(MDB_txn *txn, cairn__backend *be, const char *stream, size_t len,
           stream_meta *sm)
{
	char key[CAIRN_STREAM_ID_MAX + 1];
	MDB_val k, v;
	int rc;

	memcpy(key, stream, len);
	key[len] = 0;
	k.mv_data = key;
	k.mv_size = len + 1;
	rc = mdb_get(txn, be->streams, &k, &v);
	if (rc == 0) {
		if (v.mv_size != sizeof(*sm))
			return MDB_CORRUPTED;
		memcpy(sm, v.mv_data, sizeof(*sm));
	}
	return rc;
}

static int
get_head(MDB_txn *txn, cairn__backend *be, uint64_t *head)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, be->events, &cur);
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0)
		memcpy(head, k.mv_data, sizeof(*head));
	else if (rc == MDB_NOTFOUND) {
		*head = 0;
		rc = 0;
	}
	mdb_cursor_close(cur);
	return rc;
}

/* ---- appends ---- */

typedef struct lookup_ctx {
	MDB_txn *txn;
	cairn__backend *be;
} lookup_ctx;

static cairn_status
lookup_id(void *ctx, const cairn_uuid *id, cairn__id_location *loc)
{
	lookup_ctx *lc = ctx;
	const char *tags[CAIRN_TAGS_MAX];
	stream_meta sm;
	cairn_event ev;
	MDB_val k, v;
	uint64_t pos;
	cairn_status st;
	int rc;

	k.mv_data = (void *)id->bytes;
	k.mv_size = 16;
	rc = mdb_get(lc->txn, lc->be->ids, &k, &v);
	if (rc == MDB_NOTFOUND)
		return CAIRN_NOT_FOUND;
	if (rc)
		return lmdb_error(rc, "reading the id index");
	memcpy(&pos, v.mv_data, sizeof(pos));
	k.mv_data = &pos;
	k.mv_size = sizeof(pos);
	rc = mdb_get(lc->txn, lc->be->events, &k, &v);
	if (rc)
		return lmdb_error(rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc,
		                  "an indexed id has no event");
	st = record_decode(&v, pos, &ev, tags);
	if (st != CAIRN_OK)
		return st;
	rc = get_stream(lc->txn, lc->be, ev.stream, ev.stream_len, &sm);
	if (rc)
		return lmdb_error(rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc,
		                  "an event's stream has no metadata");
	loc->position = pos;
	loc->version = ev.version;
	loc->stream = ev.stream;
	loc->stream_len = ev.stream_len;
	loc->stream_version = sm.version;
	return CAIRN_OK;
}

/* Per-batch state of the writer: the next position and stream number,
 * and how many events the request being applied has still to write
 * (each event's commit_rest is the count after it). */
typedef struct batch_state {
	uint64_t next_position;
	uint64_t next_stream;
	int64_t now;
	size_t rest;
} batch_state;

static int
put_stream(MDB_txn *txn, cairn__backend *be, const char *stream, size_t len,
           const stream_meta *sm)
{
	char key[CAIRN_STREAM_ID_MAX + 1];
	MDB_val k, v;

	memcpy(key, stream, len);
	key[len] = 0;
	k.mv_data = key;
	k.mv_size = len + 1;
	v.mv_data = (void *)sm;
	v.mv_size = sizeof(*sm);
	return mdb_put(txn, be->streams, &k, &v, 0);
}

/* ---- the type and tag indexes ----
 *
 * Each is MDB_DUPSORT | MDB_DUPFIXED: the key is the name (a type or a
 * tag, without its NUL), the values are the positions of the events that
 * have it, u64 big-endian so that byte order is number order.  Against a
 * composite key (name . position) with empty values this stores each
 * name once instead of once per event (8 bytes per event in a fixed-size
 * page instead of the name, the position and an 8-byte node header), so
 * a popular type's index is several times smaller; a seek is
 * MDB_GET_BOTH_RANGE (name, first position wanted); and
 * mdb_cursor_count() tells how many events a name has in O(1), which
 * lets a query pick its cheapest index.
 *
 * Positions only grow, so every entry goes at the end of its name's
 * list: MDB_APPENDDUP says so, which splits full pages at their end
 * (pages stay full; with ordinary puts the index took half as much room
 * again and was slower to write) and refuses an entry that is not the
 * largest, which can only be corruption.
 */
#define NAME_INDEX_FLAGS (MDB_DUPSORT | MDB_DUPFIXED)

static int
name_index_put(MDB_txn *txn, MDB_dbi dbi, const char *name, size_t len,
               uint64_t pos)
{
	uint8_t p[8];
	MDB_val k = {len, (void *)name}, v = {sizeof(p), p};
	int rc;

	put_be64(p, pos);
	rc = mdb_put(txn, dbi, &k, &v, MDB_APPENDDUP);
	return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
}

/* True when tag i of ev repeats an earlier one: an event may carry a tag
 * twice, its index holds it once. */
static bool
tag_repeated(const cairn_event *ev, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (strcmp(ev->tags[j], ev->tags[i]) == 0)
			return true;
	return false;
}

/* Index ev (at ev->position) under its type and each distinct tag. */
static int
index_names(MDB_txn *txn, cairn__backend *be, const cairn_event *ev)
{
	size_t i;
	int rc;

	rc = name_index_put(txn, be->types, ev->type, ev->type_len,
	                    ev->position);
	for (i = 0; rc == 0 && i < ev->ntags; i++)
		if (!tag_repeated(ev, i))
			rc = name_index_put(txn, be->tags, ev->tags[i],
			                    strlen(ev->tags[i]), ev->position);
	return rc;
}

/*
 * Store one encoded event at pos and index it: by stream (number num), by
 * id when the record says the caller gave it, by type and by tag.  The
 * live path and the log replay both come through here, with the record's
 * bytes alone, so that a replay rebuilds every index exactly as the
 * original commit wrote it.
 */
static int
put_event(MDB_txn *txn, cairn__backend *be, uint64_t pos, const uint8_t *rec,
          size_t len, uint64_t num)
{
	const char *tags[CAIRN_TAGS_MAX];
	cairn_event ev;
	uint8_t ikey[16];
	MDB_val k, v;
	bool id_given;
	int rc;

	v.mv_data = (void *)rec;
	v.mv_size = len;
	if (record_decode(&v, pos, &ev, tags) != CAIRN_OK)
		return MDB_CORRUPTED;
	id_given = record_id_given(&v);
	k.mv_data = &pos;
	k.mv_size = sizeof(pos);
	rc = mdb_put(txn, be->events, &k, &v, MDB_APPEND);
	if (rc)
		return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
	index_key(ikey, num, ev.version);
	k.mv_data = ikey;
	k.mv_size = sizeof(ikey);
	v.mv_data = &pos;
	v.mv_size = sizeof(pos);
	rc = mdb_put(txn, be->stream_index, &k, &v, MDB_NOOVERWRITE);
	if (rc)
		return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
	if (id_given) {
		k.mv_data = ev.id.bytes;
		k.mv_size = 16;
		rc = mdb_put(txn, be->ids, &k, &v, MDB_NOOVERWRITE);
		if (rc)
			return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
	}
	return index_names(txn, be, &ev);
}

/*
 * The batch's log record is built as its events are encoded: after
 * WAL_RECORD_HEADER bytes of room, one entry per event, [position u64]
 * [length u32][record].  Returns room for a record of len bytes, or NULL.
 */
#define WBUF_ENTRY_HEADER 12
static uint8_t *
wbuf_entry(cairn__backend *be, uint64_t pos, size_t len)
{
	size_t need = be->wbuf_len + WBUF_ENTRY_HEADER + len;
	uint32_t len32 = (uint32_t)len;
	uint8_t *p;

	if (need > be->wbuf_cap) {
		size_t cap = be->wbuf_cap ? be->wbuf_cap : 65536;
		while (cap < need)
			cap *= 2;
		p = cairn__realloc(be->wbuf, cap);
		if (p == NULL)
			return NULL;
		be->wbuf = p;
		be->wbuf_cap = cap;
	}
	p = be->wbuf + be->wbuf_len;
	memcpy(p, &pos, 8);
	memcpy(p + 8, &len32, 4);
	be->wbuf_len = need;
	return p + WBUF_ENTRY_HEADER;
}

/* Write the events of one write at bs->next_position on. */
static int
write_events(MDB_txn *txn, cairn__backend *be, const cairn__write *w,
             stream_meta *sm, batch_state *bs)
{
	uint64_t pos = 0;
	uint8_t *rec;
	size_t i, size;
	int rc;

	for (i = 0; i < w->nevents; i++) {
		pos = bs->next_position++;
		sm->version++;
		assert(bs->rest > 0 && bs->rest - 1 <= RECORD_REST_MAX);
		bs->rest--;
		size = record_size(w, &w->events[i]);
		rec = wbuf_entry(be, pos, size);
		if (rec == NULL)
			return ENOMEM;
		record_encode(rec, size, w, &w->events[i], &w->ids[i],
		              sm->version, bs->now, (uint32_t)bs->rest);
		rc = put_event(txn, be, pos, rec, size, sm->num);
		if (rc)
			return rc;
	}
	sm->last_position = pos;
	sm->updated_ns = bs->now;
	return put_stream(txn, be, w->stream, w->stream_len, sm);
}

/* ---- DCB queries over the indexes ---- */

/* How the candidates of one query item are found. */
typedef struct item_plan {
	bool all;    /* no type and no tag: every event is a candidate */
	bool by_tag; /* the events of one tag (tag), not those of each type */
	size_t tag;
	bool exact; /* every candidate matches: no record need be read */
} item_plan;

/* How many events name has in the index cur walks (0: none). */
static int
name_count(MDB_cursor *cur, const char *name, size_t *count)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	int rc;

	*count = 0;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0)
		rc = mdb_cursor_count(cur, count);
	return rc;
}

/*
 * Choose where item's candidates come from: the events of each of its
 * types, or those of one of its tags (a match carries every tag, so any
 * one tag's events hold them all), whichever index holds fewer now.  The
 * counts only steer the choice, which finds every match either way: a
 * typical DCB item (StudentEnrolled with course:c1) then walks the few
 * events of its course rather than every enrollment of every course.
 */
static int
plan_item(MDB_cursor *types, MDB_cursor *tags, const cairn_query_item *item,
          item_plan *plan)
{
	size_t by_types = SIZE_MAX, by_tag = SIZE_MAX, n, i;
	int rc;

	memset(plan, 0, sizeof(*plan));
	if (item->ntypes == 0 && item->ntags == 0) {
		plan->all = plan->exact = true;
		return 0;
	}
	if (item->ntypes > 0)
		by_types = 0;
	for (i = 0; i < item->ntypes; i++) {
		rc = name_count(types, item->types[i], &n);
		if (rc)
			return rc;
		by_types = n > SIZE_MAX - by_types ? SIZE_MAX : by_types + n;
	}
	for (i = 0; i < item->ntags; i++) {
		rc = name_count(tags, item->tags[i], &n);
		if (rc)
			return rc;
		if (n < by_tag) {
			by_tag = n;
			plan->tag = i;
		}
	}
	plan->by_tag = item->ntags > 0 && by_tag < by_types;
	plan->exact = plan->by_tag ? item->ntypes == 0 && item->ntags == 1
	                           : item->ntags == 0;
	return 0;
}

/* Read and decode the event at pos through cur (over events); an index
 * entry without its event is corruption. */
static int
event_at(MDB_cursor *cur, uint64_t pos, cairn_event *ev, const char **tags)
{
	MDB_val k = {sizeof(pos), &pos}, v;
	int rc;

	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
	if (rc == MDB_NOTFOUND)
		return MDB_CORRUPTED;
	if (rc == 0 && record_decode(&v, pos, ev, tags) != CAIRN_OK)
		rc = MDB_CORRUPTED;
	return rc;
}

/* The search for a condition's first match after `after`. */
typedef struct condition_scan {
	MDB_cursor *types, *tags, *events;
	uint64_t after;
	uint64_t first; /* the lowest matching position so far; 0: none */
	const char *tag_ptrs[CAIRN_TAGS_MAX];
	cairn_event ev;
} condition_scan;

/*
 * Walk the positions under name (through cur) after cs->after, up to the
 * lowest match found so far, and lower cs->first to the first event
 * there that item matches.  The final word on a match is
 * cairn_query_match(), as for the filter of a read.
 */
static int
scan_name(condition_scan *cs, MDB_cursor *cur, const char *name,
          const cairn_query_item *item, bool exact)
{
	const cairn_query one = {item, 1};
	uint8_t from[8];
	MDB_val k = {strlen(name), (void *)name}, v = {sizeof(from), from};
	uint64_t pos;
	int rc;

	put_be64(from, cs->after + 1);
	rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
	while (rc == 0) {
		if (v.mv_size != 8)
			return MDB_CORRUPTED;
		pos = get_be64(v.mv_data);
		if (cs->first && pos >= cs->first)
			return 0;
		if (exact) {
			cs->first = pos;
			return 0;
		}
		rc = event_at(cs->events, pos, &cs->ev, cs->tag_ptrs);
		if (rc)
			return rc;
		if (cairn_query_match(&one, &cs->ev)) {
			cs->first = pos;
			return 0;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Lower cs->first to item's first match after cs->after. */
static int
scan_item(condition_scan *cs, const cairn_query_item *item)
{
	item_plan plan;
	size_t i;
	int rc;

	rc = plan_item(cs->types, cs->tags, item, &plan);
	if (rc)
		return rc;
	if (plan.all) {
		/* positions are gapless: the event after `after` exists */
		cs->first = cs->after + 1;
		return 0;
	}
	if (plan.by_tag)
		return scan_name(cs, cs->tags, item->tags[plan.tag], item,
		                 plan.exact);
	for (i = 0; i < item->ntypes; i++) {
		rc = scan_name(cs, cs->types, item->types[i], item, plan.exact);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * The DCB condition of req, in the batch's transaction (so that the
 * events of the requests before it in the batch count), with head the
 * newest position there.  When an event the query matches has a
 * position > condition_after, the first such fails req through
 * cairn__condition_failed().  Each item costs O(log n) per index it
 * walks, plus one step per candidate after condition_after (and one
 * record read per candidate when the index does not settle the match),
 * never more than the candidates below the lowest match already found.
 * Returns 0 (req->status tells the outcome) or an LMDB code that fails
 * the batch.
 */
static int
check_condition(MDB_txn *txn, cairn__backend *be, cairn__append_req *req,
                uint64_t head)
{
	const cairn_query *q = req->condition;
	condition_scan cs;
	size_t i;
	int rc;

	if (req->condition_after >= head || q->nitems == 0)
		return 0;
	memset(&cs, 0, sizeof(cs));
	cs.after = req->condition_after;
	rc = mdb_cursor_open(txn, be->types, &cs.types);
	if (rc == 0)
		rc = mdb_cursor_open(txn, be->tags, &cs.tags);
	if (rc == 0)
		rc = mdb_cursor_open(txn, be->events, &cs.events);
	for (i = 0; rc == 0 && i < q->nitems; i++) {
		rc = scan_item(&cs, &q->items[i]);
		if (cs.first == cs.after + 1)
			break; /* nothing can come first */
	}
	if (rc == 0 && cs.first) {
		rc = event_at(cs.events, cs.first, &cs.ev, cs.tag_ptrs);
		if (rc == 0)
			cairn__condition_failed(req, cs.first, cs.ev.stream,
			                        cs.ev.stream_len);
	}
	if (cs.events)
		mdb_cursor_close(cs.events);
	if (cs.tags)
		mdb_cursor_close(cs.tags);
	if (cs.types)
		mdb_cursor_close(cs.types);
	return rc;
}

/* The most writes one request may name before it needs the heap. */
#define STACK_METAS 16

/*
 * Apply one request inside the batch's transaction.  Every check that
 * can refuse a request (repeat, condition, conflict) comes before its
 * first write, so a refused request leaves nothing behind; a failure
 * after that (map full, I/O, memory) returns its code and must abort the
 * whole batch.
 * Request-level outcomes are left in req->status with 0 returned.
 */
static int
apply_request(MDB_txn *txn, cairn__backend *be, cairn__append_req *req,
              batch_state *bs)
{
	stream_meta metas_stack[STACK_METAS], *metas = metas_stack;
	cairn_append_result *res = req->result;
	lookup_ctx lc = {txn, be};
	cairn_status st;
	size_t wi;
	int rc = 0;

	st = cairn__idempotency_check(req, lookup_id, &lc);
	if (st != CAIRN_DONE) {
		req->status = st;
		return 0;
	}
	if (req->condition) {
		rc = check_condition(txn, be, req, bs->next_position - 1);
		if (rc || req->status != CAIRN_OK)
			return rc;
	}
	if (req->nwrites > STACK_METAS) {
		metas = cairn__malloc(req->nwrites * sizeof(*metas));
		if (metas == NULL) {
			cairn__req_error(req, CAIRN_NOMEM, ENOMEM,
			                 "out of memory");
			return 0;
		}
	}
	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];
		rc = get_stream(txn, be, w->stream, w->stream_len, &metas[wi]);
		if (rc == MDB_NOTFOUND) {
			memset(&metas[wi], 0, sizeof(metas[wi]));
			rc = 0;
		}
		if (rc)
			goto out;
		if (!cairn__expected_ok(w->expected, metas[wi].version)) {
			req->status =
			        cairn__conflict(res, wi, w, metas[wi].version);
			cairn__req_error(req, CAIRN_CONFLICT, 0, "%s",
			                 cairn_last_error());
			goto out;
		}
	}
	res->first_position = bs->next_position;
	bs->rest = 0;
	for (wi = 0; wi < req->nwrites; wi++)
		bs->rest += req->writes[wi].nevents;
	for (wi = 0; wi < req->nwrites; wi++) {
		/* a write without events only checks its version: it
		 * creates and changes nothing (src/backend.h) */
		if (req->writes[wi].nevents == 0)
			continue;
		if (metas[wi].version == 0 && metas[wi].num == 0) {
			metas[wi].num = bs->next_stream++;
			metas[wi].created_ns = bs->now;
		}
		rc = write_events(txn, be, &req->writes[wi], &metas[wi], bs);
		if (rc)
			goto out;
	}
	res->last_position = bs->next_position - 1;
	res->version = metas[0].version;
	req->status = CAIRN_OK;
out:
	if (metas != metas_stack)
		cairn__free(metas);
	return rc;
}

static int
read_meta(MDB_txn *txn, cairn__backend *be, const char *name, void *out,
          size_t size)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	int rc = mdb_get(txn, be->meta, &k, &v);

	if (rc == 0 && v.mv_size == size)
		memcpy(out, v.mv_data, size);
	else if (rc == 0)
		rc = MDB_CORRUPTED;
	return rc;
}

static int
write_meta(MDB_txn *txn, cairn__backend *be, const char *name,
           const void *value, size_t size)
{
	MDB_val k = {strlen(name), (void *)name}, v = {size, (void *)value};

	return mdb_put(txn, be->meta, &k, &v, 0);
}

static int
read_meta_u64(MDB_txn *txn, cairn__backend *be, const char *name, uint64_t *out)
{
	return read_meta(txn, be, name, out, sizeof(*out));
}

static int
write_meta_u64(MDB_txn *txn, cairn__backend *be, const char *name,
               uint64_t value)
{
	return write_meta(txn, be, name, &value, sizeof(value));
}

/* A missing counter reads as its initial value. */
static int
read_meta_u64_or(MDB_txn *txn, cairn__backend *be, const char *name,
                 uint64_t *out, uint64_t dflt)
{
	int rc = read_meta_u64(txn, be, name, out);

	if (rc == MDB_NOTFOUND) {
		*out = dflt;
		rc = 0;
	}
	return rc;
}

/* ---- the write-ahead log protocol ----
 *
 * An LMDB commit costs two syncs (pages, then the meta page).  With the
 * log, a batch costs one: its record is written to the preallocated log
 * and synced, and only then is the LMDB transaction committed, without a
 * sync (MDB_NOSYNC).  The LMDB file is synced at checkpoints.
 *
 * After a process crash the page cache still holds every LMDB write, so
 * the LMDB file is whole: at the next open, records past what it holds
 * (a crash between the log sync and the commit) are replayed.
 *
 * After a machine crash (the boot id differs), the LMDB file may hold a
 * meta page whose pages never reached the disk.  The last checkpoint
 * copied LMDB's two meta pages into the log header; they are written
 * back, which returns the file to the checkpoint's snapshot, and every
 * record since is replayed.  That snapshot is whole because its pages
 * were synced by the checkpoint and never reused since: the writer that
 * made the checkpoint holds a read transaction on it (the pin), and LMDB
 * reuses no page freed after the oldest reader's snapshot.  A writer
 * whose pin is not the latest checkpoint's (another process made it, or
 * none exists) makes a checkpoint of its own before it logs anything.
 */
#define WAL_INITIAL_SIZE ((uint64_t)4 << 20)
#define WAL_MAX_SIZE ((uint64_t)64 << 20)
/* Pages freed after the pinned checkpoint cannot be reused until the next
 * one, so the file grows by every page the batches in between copy: a
 * checkpoint every so many batches bounds that growth.  Its cost (one
 * sync of the LMDB file and one of the log header) is shared by all of
 * them.  A subscription cursor's write is a batch here too: it copies
 * fewer pages, but counting it as a fraction of one was measured to
 * grow the file as much more and to save no time, as the sync's cost
 * follows the pages written since the last checkpoint, not how often
 * it runs. */
#define WAL_CHECKPOINT_BATCHES 256

static cairn_status
wal_fail(int err, const char *what)
{
	return cairn__error(err == ENOMEM ? CAIRN_NOMEM : CAIRN_IO, err,
	                    "lmdb: write-ahead log: %s: %s", what,
	                    strerror(err));
}

/*
 * Checkpoint inside the write transaction txn (which keeps every other
 * writer out): sync the LMDB file, which then holds the last commit and
 * the log up to lsn, copy its meta pages into the log header with start
 * (where the next record goes), and move the pin to this snapshot.
 * Returns 0 or an LMDB/errno code.
 */
static int
checkpoint(cairn__backend *be, MDB_txn *txn, uint64_t lsn, uint64_t start)
{
	wal_checkpoint cur, c;
	MDB_txn *pin;
	int rc, fd;

	rc = mdb_env_sync(be->env, 1);
	if (rc) {
		/* After a failed sync the kernel may have dropped the pages:
		 * a retry that "succeeds" proves nothing (as PostgreSQL
		 * learnt).  Stop here. */
		engine_fail(be);
		return rc;
	}
	/* Slots of readers that died (a crashed process's pin) would stop
	 * page reuse for good. */
	mdb_reader_check(be->env, NULL);
	rc = mdb_env_get_fd(be->env, &fd);
	if (rc)
		return rc;
	c.meta = be->ckpt_meta;
	if (pread(fd, c.meta, 2 * (size_t)be->psize, 0) !=
	    (ssize_t)(2 * (size_t)be->psize))
		return EIO;
	cur.meta = be->ckpt_meta + 2 * (size_t)be->psize;
	rc = wal_read_checkpoint(&be->wal, &cur);
	if (rc == ENOENT)
		cur.seq = 0;
	else if (rc)
		return rc;
	/* The pin is taken before the header names its snapshot, so the
	 * snapshot is protected from the moment it can be restored. */
	rc = mdb_txn_begin(be->env, NULL, MDB_RDONLY, &pin);
	if (rc)
		return rc;
	c.seq = cur.seq + 1;
	c.lsn = lsn;
	c.start = start;
	c.psize = be->psize;
	memcpy(c.boot_id, be->boot_id, sizeof(c.boot_id));
	rc = wal_write_checkpoint(&be->wal, &c);
	if (rc && rc != ENOMEM)
		/* a failed write or sync of the log: as above (a failed
		 * allocation wrote nothing) */
		engine_fail(be);
	if (rc == 0)
		rc = write_meta(txn, be, "wal_owner", be->token,
		                sizeof(be->token));
	if (rc == 0)
		rc = write_meta_u64(txn, be, "wal_offset", start);
	if (rc) {
		mdb_txn_abort(pin);
		return rc;
	}
	if (be->pin)
		mdb_txn_abort(be->pin);
	be->pin = pin;
	be->batches_since_checkpoint = 0;
	be->checkpointed_in_txn = true;
	return 0;
}

/*
 * Where this batch's record goes, checkpointing first when this writer
 * does not hold the latest checkpoint's pin, or every
 * WAL_CHECKPOINT_BATCHES transactions.  Every write transaction of a
 * writable store (a batch, a cursor write) comes through here before it
 * writes anything.
 *
 * other not NULL: the caller may do without a pin of its own when the
 * latest checkpoint is another writer's, whose pin protects it as long
 * as that writer runs.  Then *relied is set, other receives that
 * writer's token, and the caller must see it alive (owner_alive())
 * after its last write and before its commit, or abort.
 */
static int
wal_position_for(cairn__backend *be, MDB_txn *txn, uint8_t *other, bool *relied,
                 uint64_t *lsn, uint64_t *offset)
{
	uint8_t owner[sizeof(be->token)];
	bool mine;
	int rc;

	if (relied)
		*relied = false;
	rc = read_meta_u64_or(txn, be, "wal_lsn", lsn, 0);
	if (rc == 0)
		rc = read_meta_u64_or(txn, be, "wal_offset", offset,
		                      be->wal.data_start);
	if (rc)
		return rc;
	/* A transaction that wrote a checkpoint and then failed left a
	 * header whose start may not be where the next record goes (after
	 * a log wrap): checkpoint again from what is committed. */
	rc = read_meta(txn, be, "wal_owner", owner, sizeof(owner));
	mine = rc == 0 && memcmp(owner, be->token, sizeof(owner)) == 0;
	if (rc == 0 && !mine && other && !be->force_checkpoint &&
	    be->batches_since_checkpoint < WAL_CHECKPOINT_BATCHES) {
		memcpy(other, owner, sizeof(owner));
		*relied = true;
	} else if (rc == MDB_NOTFOUND ||
	           (rc == 0 &&
	            (be->pin == NULL || be->force_checkpoint || !mine ||
	             be->batches_since_checkpoint >= WAL_CHECKPOINT_BATCHES)))
		rc = checkpoint(be, txn, *lsn, *offset);
	be->batches_since_checkpoint++;
	return rc;
}

static int
wal_position(cairn__backend *be, MDB_txn *txn, uint64_t *lsn, uint64_t *offset)
{
	return wal_position_for(be, txn, NULL, NULL, lsn, offset);
}

/*
 * Is the writer named by token (see wal_position_for) running, so that
 * its pin still protects the latest checkpoint?  Asked after a
 * transaction's last write, this covers every page the transaction
 * took: a writer gives up its liveness mark (at close, or by dying)
 * before its pin, and the reader slot of a pin is cleared only once its
 * process is gone.  Unknown (no mark: an older program, a file system
 * without record locks) reads as not running.
 */
static bool
owner_alive(cairn__backend *be, const uint8_t token[16])
{
	return wal_marked_alive(&be->wal, token);
}

/* Make room for a record of len bytes at *offset: grow the log while it
 * is small, else checkpoint and start again from the top. */
static int
wal_make_room(cairn__backend *be, MDB_txn *txn, uint64_t lsn, uint64_t *offset,
              size_t len)
{
	uint64_t want;
	int rc;

	if (*offset + len <= be->wal.size)
		return 0;
	if (be->wal.size < WAL_MAX_SIZE) {
		want = be->wal.size * 2;
		if (want < *offset + len)
			want = *offset + len;
		return wal_grow(&be->wal, want);
	}
	rc = checkpoint(be, txn, lsn, be->wal.data_start);
	if (rc)
		return rc;
	*offset = be->wal.data_start;
	if (*offset + len > be->wal.size)
		rc = wal_grow(&be->wal, *offset + len);
	return rc;
}

/* ---- snapshots ----
 *
 * Key: the stream id, NUL, the schema.  (A NUL after the schema as well
 * would make the longest key 512 bytes, one over LMDB's limit; stream ids
 * hold no NUL, so the key splits unambiguously without it.)  Value: the
 * version (u64, native) and the blob.
 *
 * A snapshot is written as an append is: in a write transaction of the
 * writer, logged in the write-ahead log and synced before the commit,
 * replayed at recovery.  A direct LMDB commit would not do: the LMDB
 * file is synced only at checkpoints, and after a machine crash recovery
 * returns it to the last checkpoint and replays the log, so a write the
 * log does not hold would be lost even after a sync of its own.  Its log
 * entry sits at position 0, which no event has: [key length u16][key]
 * [value], the value exactly as stored.
 */
#define SNAPSHOT_KEY_MAX (CAIRN_STREAM_ID_MAX + 1 + CAIRN_SNAPSHOT_SCHEMA_MAX)
#define LMDB_KEY_MAX 511 /* MDB_MAXKEYSIZE of a default LMDB build */
#define WBUF_SNAPSHOT 0
#define SNAPSHOT_ENTRY_FIXED 10 /* key length and version */

_Static_assert(SNAPSHOT_KEY_MAX <= LMDB_KEY_MAX,
               "every snapshot key fits LMDB's key size");

typedef struct snapshot_op {
	uint8_t key[SNAPSHOT_KEY_MAX];
	size_t key_len;
	uint64_t version;
	const void *blob;
	size_t len;
	bool stored; /* false when a newer snapshot was kept */
} snapshot_op;

/* Build the key of (stream, schema) into key; 0 when it does not fit. */
static size_t
snapshot_key(uint8_t key[SNAPSHOT_KEY_MAX], const char *stream,
             size_t stream_len, const char *schema)
{
	size_t schema_len = strlen(schema);

	if (stream_len == 0 || schema_len == 0 ||
	    stream_len + 1 + schema_len > SNAPSHOT_KEY_MAX)
		return 0;
	memcpy(key, stream, stream_len);
	key[stream_len] = 0;
	memcpy(key + stream_len + 1, schema, schema_len);
	return stream_len + 1 + schema_len;
}

/*
 * Apply one snapshot log entry (len bytes at p): store its value unless
 * the snapshot stored under its key has a higher version.  *stored says
 * whether it was.  The live path and the log replay both come through
 * here, so a replay decides as the original commit did.
 */
static int
snapshot_apply(MDB_txn *txn, cairn__backend *be, const uint8_t *p, size_t len,
               bool *stored)
{
	uint64_t version, kept;
	uint16_t klen;
	MDB_val k, v;
	int rc;

	*stored = false;
	if (len < SNAPSHOT_ENTRY_FIXED)
		return MDB_CORRUPTED;
	memcpy(&klen, p, sizeof(klen));
	if (klen == 0 || klen > SNAPSHOT_KEY_MAX ||
	    len < SNAPSHOT_ENTRY_FIXED + (size_t)klen)
		return MDB_CORRUPTED;
	k.mv_data = (void *)(p + 2);
	k.mv_size = klen;
	memcpy(&version, p + 2 + klen, sizeof(version));
	rc = mdb_get(txn, be->snapshots, &k, &v);
	if (rc == 0) {
		if (v.mv_size < sizeof(kept))
			return MDB_CORRUPTED;
		memcpy(&kept, v.mv_data, sizeof(kept));
		if (kept > version)
			return 0;
	} else if (rc != MDB_NOTFOUND)
		return rc;
	v.mv_data = (void *)(p + 2 + klen);
	v.mv_size = len - 2 - klen;
	rc = mdb_put(txn, be->snapshots, &k, &v, 0);
	*stored = rc == 0;
	return rc;
}

/* Add op's log entry to the batch's record and apply it; an entry that
 * changed nothing (a newer snapshot is kept) is taken out again. */
static int
put_snapshot(MDB_txn *txn, cairn__backend *be, snapshot_op *op)
{
	size_t mark = be->wbuf_len,
	       len = SNAPSHOT_ENTRY_FIXED + op->key_len + op->len;
	uint16_t klen = (uint16_t)op->key_len;
	uint8_t *p;
	int rc;

	p = wbuf_entry(be, WBUF_SNAPSHOT, len);
	if (p == NULL)
		return ENOMEM;
	memcpy(p, &klen, sizeof(klen));
	memcpy(p + 2, op->key, op->key_len);
	memcpy(p + 2 + op->key_len, &op->version, sizeof(op->version));
	if (op->len)
		memcpy(p + SNAPSHOT_ENTRY_FIXED + op->key_len, op->blob,
		       op->len);
	rc = snapshot_apply(txn, be, p, len, &op->stored);
	if (rc == 0 && !op->stored)
		be->wbuf_len = mark;
	return rc;
}

static void fail_batch(cairn__append_req **reqs, size_t n, int rc);
static int checkpoint_now(cairn__backend *be);

/*
 * Commit one batch: one write transaction for all its requests (see
 * apply_request for why a refused request leaves no trace) and the
 * snapshot snap (NULL: none); then the batch's log record, synced; then
 * the commit.  Returns 0, or the code that failed the whole transaction
 * (the requests are then still pending and the caller decides: grow the
 * map and retry, split, or fail them).
 */
static int
try_commit(cairn__backend *be, cairn__append_req **reqs, size_t n,
           snapshot_op *snap)
{
	uint64_t lsn = 0, offset = 0, first;
	bool logged = false, log_failed = false;
	batch_state bs;
	MDB_txn *txn;
	size_t i;
	int rc;

	if (engine_failed(be))
		return EIO;
	rc = mdb_txn_begin(be->env, NULL, 0, &txn);
	if (rc)
		return rc;
	be->checkpointed_in_txn = false;
	bs.now = cairn__now_ns();
	bs.rest = 0;
	rc = get_head(txn, be, &bs.next_position);
	if (rc == 0)
		rc = read_meta_u64(txn, be, "next_stream", &bs.next_stream);
	if (rc == 0 && be->wal_on)
		rc = wal_position(be, txn, &lsn, &offset);
	if (rc)
		goto fail;
	first = ++bs.next_position;
	be->wbuf_len = 0;
	if (wbuf_entry(be, 0, WAL_RECORD_HEADER - WBUF_ENTRY_HEADER) == NULL) {
		rc = ENOMEM;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		reqs[i]->status = CAIRN_OK;
		reqs[i]->message[0] = 0;
		memset(reqs[i]->result, 0, sizeof(*reqs[i]->result));
		rc = apply_request(txn, be, reqs[i], &bs);
		if (rc)
			goto fail;
	}
	if (snap) {
		rc = put_snapshot(txn, be, snap);
		if (rc)
			goto fail;
	}
	rc = write_meta_u64(txn, be, "next_stream", bs.next_stream);
	if (rc == 0 && be->wal_on && be->wbuf_len > WAL_RECORD_HEADER) {
		rc = wal_make_room(be, txn, lsn, &offset, be->wbuf_len);
		if (rc == 0)
			rc = write_meta_u64(txn, be, "wal_lsn", lsn + 1);
		if (rc == 0)
			rc = write_meta_u64(txn, be, "wal_offset",
			                    offset + be->wbuf_len);
		/* Set before the write: a write that fails half-way must be
		 * erased too. */
		logged = rc == 0;
		if (rc == 0) {
			rc = wal_write_record(&be->wal, offset, lsn + 1,
			                      be->wbuf, be->wbuf_len,
			                      be->wal_sync);
			log_failed = rc != 0;
		}
	}
	if (rc)
		goto fail;
	rc = mdb_txn_commit(txn);
	if (rc)
		goto failed_commit;
	be->force_checkpoint = false;
	/* Only now can a reader see the events: wake the subscribers of
	 * every process (a batch of snapshots alone wakes nobody). */
	if (bs.next_position != first)
		cairn__notify_bump(be->notify);
	return 0;
fail:
	mdb_txn_abort(txn);
failed_commit:
	if (be->checkpointed_in_txn)
		be->force_checkpoint = true;
	/* A record left in the log would be replayed at the next open: a
	 * failed append must not come back.  If it cannot be erased the
	 * outcome is unknown, and the engine stops. */
	if (logged && wal_erase_record(&be->wal, offset) != 0)
		engine_fail(be);
	/* A failed write or sync of the log, or a failed write of the data
	 * file (an errno, not an LMDB code), stops the engine even when the
	 * erase worked: after a failed sync the kernel may have dropped
	 * dirty pages of earlier writes too, and a retried sync can falsely
	 * succeed ("fsyncgate").  A reopen recovers from what the files
	 * hold. */
	if (log_failed || (rc > 0 && rc != ENOMEM))
		engine_fail(be);
	return rc;
}

static void
fail_batch(cairn__append_req **reqs, size_t n, int rc)
{
	size_t i;

	for (i = 0; i < n; i++)
		cairn__req_error(reqs[i], map_error(rc), rc,
		                 "lmdb: committing the append: %s",
		                 rc > 0 ? strerror(rc) : mdb_strerror(rc));
}

/*
 * The group-commit callback.  A full map grows and the batch is retried;
 * a transaction too large for LMDB's dirty-page limit is retried one
 * request at a time, so that only the request that is too large by
 * itself fails.
 */
static void
commit_batch_locked(cairn__backend *be, cairn__append_req **reqs, size_t n)
{
	bool failed_before = engine_failed(be);
	cairn_status st;
	size_t i;
	int rc;

	for (;;) {
		rc = try_commit(be, reqs, n, NULL);
		if (rc == MDB_MAP_FULL || rc == MDB_MAP_RESIZED) {
			st = grow_map(be, rc == MDB_MAP_FULL ? be->map_size * 2
			                                     : 0);
			if (st == CAIRN_OK)
				continue;
			for (i = 0; i < n; i++)
				cairn__req_error(reqs[i], st, 0, "%s",
				                 cairn_last_error());
			return;
		}
		break;
	}
	if (rc == MDB_TXN_FULL && n > 1) {
		for (i = 0; i < n; i++)
			commit_batch_locked(be, &reqs[i], 1);
		return;
	}
	if (rc == MDB_TXN_FULL) {
		cairn__req_error(reqs[0], CAIRN_TOO_LARGE, rc,
		                 "lmdb: the append of %zu events is too large "
		                 "for one transaction; split it",
		                 reqs[0]->nevents);
		return;
	}
	if (rc && engine_failed(be) && !failed_before) {
		/* this batch's failure stopped the engine: say both why
		 * (a full disk reads differently from a failed sync) and
		 * what to do */
		failed_error(be);
		for (i = 0; i < n; i++)
			cairn__req_error(reqs[i], CAIRN_IO, rc,
			                 "lmdb: committing the append: %s; %s",
			                 rc > 0 ? strerror(rc) : mdb_strerror(rc),
			                 cairn_last_error());
		return;
	}
	if (rc && engine_failed(be)) {
		failed_error(be);
		for (i = 0; i < n; i++)
			cairn__req_error(reqs[i], CAIRN_IO, EIO, "%s",
			                 cairn_last_error());
		return;
	}
	if (rc)
		fail_batch(reqs, n, rc);
}

static void
commit_batch(void *ctx, cairn__append_req **reqs, size_t n)
{
	cairn__backend *be = ctx;

	pthread_mutex_lock(&be->write_mutex);
	commit_batch_locked(be, reqs, n);
	pthread_mutex_unlock(&be->write_mutex);
}

static cairn_status
lmdb_append(cairn__backend *be, cairn__append_req *req)
{
	return cairn__group_submit(&be->group, req);
}

/*
 * Save a snapshot through the writer's commit path (see "snapshots"): it
 * takes the write lock for a transaction and a log record of its own,
 * durable as an append is.  A snapshot older than the one kept is
 * dropped without a word: the kept one is newer.
 */
static cairn_status
lmdb_snapshot_put(cairn__backend *be, const char *stream, size_t stream_len,
                  uint64_t version, const char *schema, const void *blob,
                  size_t len)
{
	snapshot_op op;
	cairn_status st = CAIRN_OK;
	int rc;

	if (be->read_only)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "lmdb: the store is open read-only");
	op.key_len = snapshot_key(op.key, stream, stream_len, schema);
	if (op.key_len == 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "lmdb: a snapshot needs a stream id and a "
		                    "schema of 1..255 bytes");
	if (len > LMDB_MAX_EVENT_SIZE)
		return cairn__error(CAIRN_TOO_LARGE, 0,
		                    "lmdb: a snapshot may hold at most %zu "
		                    "bytes",
		                    LMDB_MAX_EVENT_SIZE);
	op.version = version;
	op.blob = blob;
	op.len = len;
	op.stored = false;
	pthread_mutex_lock(&be->write_mutex);
	for (;;) {
		rc = try_commit(be, NULL, 0, &op);
		if (rc != MDB_MAP_FULL && rc != MDB_MAP_RESIZED)
			break;
		st = grow_map(be, rc == MDB_MAP_FULL ? be->map_size * 2 : 0);
		if (st != CAIRN_OK)
			break;
	}
	pthread_mutex_unlock(&be->write_mutex);
	if (st != CAIRN_OK)
		return st;
	if (rc == MDB_TXN_FULL)
		return cairn__error(
		        CAIRN_TOO_LARGE, rc,
		        "lmdb: the snapshot of stream '%.*s' is too "
		        "large for one transaction",
		        (int)stream_len, stream);
	if (rc)
		return lmdb_error(rc, "saving a snapshot");
	return CAIRN_OK;
}

/* Copy out the snapshot kept for (stream, schema). */
static cairn_status
lmdb_snapshot_get(cairn__backend *be, const char *stream, size_t stream_len,
                  const char *schema, uint64_t *version, void **blob,
                  size_t *len)
{
	uint8_t key[SNAPSHOT_KEY_MAX];
	MDB_txn *txn = NULL;
	MDB_val k, v;
	cairn_status st;
	size_t size;
	void *copy;
	int rc;

	k.mv_data = key;
	k.mv_size = snapshot_key(key, stream, stream_len, schema);
	if (k.mv_size == 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "lmdb: a snapshot needs a stream id and a "
		                    "schema of 1..255 bytes");
	st = read_begin(be, &txn);
	if (st != CAIRN_OK)
		return st;
	rc = mdb_get(txn, be->snapshots, &k, &v);
	if (rc == 0 && v.mv_size < sizeof(*version))
		rc = MDB_CORRUPTED;
	if (rc) {
		read_end(be, txn);
		if (rc == MDB_NOTFOUND)
			return cairn__error(
			        CAIRN_NOT_FOUND, 0,
			        "lmdb: no snapshot of stream '%.*s' "
			        "under schema '%s'",
			        (int)stream_len, stream, schema);
		return lmdb_error(rc, "reading a snapshot");
	}
	size = v.mv_size - sizeof(*version);
	copy = cairn__malloc(size ? size : 1);
	if (copy == NULL) {
		read_end(be, txn);
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	}
	memcpy(version, v.mv_data, sizeof(*version));
	memcpy(copy, (const uint8_t *)v.mv_data + sizeof(*version), size);
	read_end(be, txn);
	*blob = copy;
	*len = size;
	return CAIRN_OK;
}

/* ---- durable cursors ----
 *
 * The cursors database: the subscription's name (its bytes, no NUL) ->
 * cursor_value.  LMDB orders keys by their bytes, shorter first on a
 * common prefix: name order as backend.h asks.
 *
 * It is created by the first cursor put, inside that put's write
 * transaction, after wal_position() has made sure this writer holds the
 * pin of the latest checkpoint (see below for why); a store that never
 * had a durable subscription has no such database, and reads answer
 * CAIRN_NOT_FOUND or an empty list.  Old programs (format 2 without
 * cursors) ignore a database they do not open: no format change.
 *
 * Durability.  A put is its own write transaction, committed with
 * MDB_NOSYNC like every commit, and *not* logged: once committed it is in
 * the page cache, visible to every process and kept through a crash of
 * the process; the next checkpoint (which syncs the LMDB file) makes it
 * durable.  After a machine crash, recovery puts the LMDB file back to
 * the last checkpoint and replays the log, which holds no cursor writes:
 * every cursor is then as it was at that checkpoint, a value it really
 * had, committed after everything it points at, so never beyond the
 * events that survived.  That is behind, never ahead, for a cursor that
 * only moved forward since; a put that could be found *ahead* if lost --
 * one that creates a cursor or moves it back (a reset) -- and every
 * delete are followed by a checkpoint before they return, so that they
 * survive a machine crash too.  Acknowledgments move forward: they cost
 * one write transaction and no sync.
 *
 * A cursor transaction follows the writer's rules (write_mutex, then
 * wal_position(), which checkpoints first when this writer does not hold
 * the latest checkpoint's pin, and counts it towards the periodic
 * checkpoint): a transaction that could reuse pages of the snapshot a
 * machine crash would return to must never commit.  Logging cursor
 * writes would keep more acknowledgments through a machine crash, but it
 * would put entries in the log that programs of format 2 cannot replay,
 * and would still need the same checkpoints to bound the file's growth.
 */
#define CURSORS_DB "cursors"

typedef struct cursor_value {
	uint64_t position;
	int64_t updated_ns;
} cursor_value;

/* What one cursor write asks and what became of it. */
typedef struct cursor_op {
	const char *name;
	size_t len;
	bool del;        /* delete, else put */
	uint64_t expect; /* put: as backend.h's cursor_put */
	uint64_t position;
	cairn_status outcome; /* CAIRN_OK, CAIRN_CONFLICT, CAIRN_NOT_FOUND */
	bool sync;            /* must survive a machine crash: checkpoint */
} cursor_op;

/* Read name's cursor in dbi: 0, MDB_NOTFOUND, or an LMDB code. */
static int
cursor_read(MDB_txn *txn, MDB_dbi dbi, const char *name, size_t len,
            cursor_value *cv)
{
	MDB_val k = {len, (void *)name}, v;
	int rc;

	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0 && v.mv_size != sizeof(*cv))
		rc = MDB_CORRUPTED;
	if (rc == 0)
		memcpy(cv, v.mv_data, sizeof(*cv));
	return rc;
}

/*
 * Make the cursors database's handle usable in this process if the
 * database exists (another process, or this one, may have created it
 * since the store was opened); *exists says whether it does.  LMDB
 * allows one mdb_dbi_open at a time in a process: the write mutex
 * serialises this with the one of the first put.
 */
static cairn_status
cursors_find(cairn__backend *be, bool *exists)
{
	cairn_status st = CAIRN_OK;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc;

	*exists = __atomic_load_n(&be->has_cursors, __ATOMIC_ACQUIRE) != 0;
	if (*exists)
		return CAIRN_OK;
	if (engine_failed(be))
		return failed_error(be);
	pthread_mutex_lock(&be->write_mutex);
	while (!__atomic_load_n(&be->has_cursors, __ATOMIC_ACQUIRE)) {
		gate_enter(be);
		rc = mdb_txn_begin(be->env, NULL, MDB_RDONLY, &txn);
		if (rc == 0) {
			rc = mdb_dbi_open(txn, CURSORS_DB, 0, &dbi);
			/* a read transaction's commit keeps the handle */
			if (rc == 0)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
			if (rc == 0) {
				be->cursors = dbi;
				__atomic_store_n(&be->has_cursors, 1,
				                 __ATOMIC_RELEASE);
			}
		}
		gate_leave(be);
		if (rc == MDB_MAP_RESIZED) {
			/* another process grew the map: adopt it (the
			 * write mutex is held, as grow_map wants) */
			st = grow_map(be, 0);
			if (st == CAIRN_OK)
				continue;
		} else if (rc && rc != MDB_NOTFOUND)
			st = lmdb_error(rc, "opening the cursors");
		break;
	}
	*exists = __atomic_load_n(&be->has_cursors, __ATOMIC_ACQUIRE) != 0;
	pthread_mutex_unlock(&be->write_mutex);
	return st;
}

/* cursor_try's answer when the writer it relied on stopped meanwhile. */
#define CURSOR_NEEDS_PIN (-1)

/*
 * One cursor write in a write transaction of the writer (write_mutex
 * held).  The compare-and-set is decided first: a refused write leaves
 * no transaction behind, no checkpoint and no count.  A consumer that
 * acknowledges in its own process would otherwise checkpoint at every
 * acknowledgment that follows an append of another process (each would
 * take the latest checkpoint from the other): unless pin is set, the
 * write relies on the other writer's pin while that writer runs, and
 * returns CURSOR_NEEDS_PIN, committing nothing, when it stopped.
 * Returns 0 with op->outcome set, or an LMDB/errno code (nothing
 * committed).
 */
static int
cursor_try(cairn__backend *be, cursor_op *op, bool pin)
{
	bool have_db = __atomic_load_n(&be->has_cursors, __ATOMIC_ACQUIRE);
	MDB_val k = {op->len, (void *)op->name}, v;
	uint8_t other[sizeof(be->token)];
	uint64_t lsn, offset;
	cursor_value cv = {0, 0};
	bool found = false, relied = false;
	MDB_dbi dbi = be->cursors;
	MDB_txn *txn;
	int rc;

	if (engine_failed(be))
		return EIO;
	rc = mdb_txn_begin(be->env, NULL, 0, &txn);
	if (rc)
		return rc;
	be->checkpointed_in_txn = false;
	/* another process may have created the database since we looked */
	if (!have_db) {
		rc = mdb_dbi_open(txn, CURSORS_DB, 0, &dbi);
		have_db = rc == 0;
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc == 0 && have_db) {
		rc = cursor_read(txn, dbi, op->name, op->len, &cv);
		found = rc == 0;
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc)
		goto fail;
	if (op->del)
		op->outcome = found ? CAIRN_OK : CAIRN_NOT_FOUND;
	else if (op->expect == CAIRN__CURSOR_ABSENT)
		op->outcome = found ? CAIRN_CONFLICT : CAIRN_OK;
	else if (op->expect != CAIRN__CURSOR_ANY)
		op->outcome = found && cv.position == op->expect
		                      ? CAIRN_OK
		                      : CAIRN_CONFLICT;
	else
		op->outcome = CAIRN_OK;
	if (op->outcome != CAIRN_OK) {
		mdb_txn_abort(txn);
		return 0;
	}
	/* a lost write that would leave the cursor ahead must not be lost */
	op->sync = op->del || !found || op->position < cv.position;
	if (be->wal_on)
		rc = wal_position_for(be, txn, pin ? NULL : other, &relied,
		                      &lsn, &offset);
	if (rc == 0 && !have_db)
		rc = mdb_dbi_open(txn, CURSORS_DB, MDB_CREATE, &dbi);
	if (rc == 0 && op->del)
		rc = mdb_del(txn, dbi, &k, NULL);
	else if (rc == 0) {
		cv.position = op->position;
		cv.updated_ns = cairn__now_ns();
		v.mv_data = &cv;
		v.mv_size = sizeof(cv);
		rc = mdb_put(txn, dbi, &k, &v, 0);
	}
	if (rc == 0 && relied && !owner_alive(be, other))
		rc = CURSOR_NEEDS_PIN;
	if (rc)
		goto fail;
	rc = mdb_txn_commit(txn);
	if (rc)
		goto failed_commit;
	be->force_checkpoint = false;
	if (!__atomic_load_n(&be->has_cursors, __ATOMIC_ACQUIRE)) {
		be->cursors = dbi;
		__atomic_store_n(&be->has_cursors, 1, __ATOMIC_RELEASE);
	}
	return 0;
fail:
	mdb_txn_abort(txn);
failed_commit:
	if (be->checkpointed_in_txn)
		be->force_checkpoint = true;
	/* a failed write of the data file: see try_commit() */
	if (rc > 0 && rc != ENOMEM)
		engine_fail(be);
	return rc;
}

/* rc asks for a larger map (or another process grew it): grow, and say
 * whether to try again; *st receives a growth's failure. */
static bool
grow_for(cairn__backend *be, int rc, cairn_status *st)
{
	if (rc != MDB_MAP_FULL && rc != MDB_MAP_RESIZED)
		return false;
	*st = grow_map(be, rc == MDB_MAP_FULL ? be->map_size * 2 : 0);
	return *st == CAIRN_OK;
}

/* Run op through the writer: its transaction, then, when it must survive
 * a machine crash, a checkpoint. */
static cairn_status
cursor_write(cairn__backend *be, cursor_op *op)
{
	cairn_status st = CAIRN_OK;
	bool pin = false;
	int rc;

	if (be->read_only)
		return cairn__error(
		        CAIRN_INVALID, 0,
		        "lmdb: '%s' is open read-only: subscription "
		        "cursors cannot change",
		        be->path);
	pthread_mutex_lock(&be->write_mutex);
	do {
		rc = cursor_try(be, op, pin);
		if (rc == CURSOR_NEEDS_PIN)
			pin = true;
	} while (rc == CURSOR_NEEDS_PIN || grow_for(be, rc, &st));
	if (rc == 0 && op->outcome == CAIRN_OK && op->sync)
		do
			rc = checkpoint_now(be);
		while (grow_for(be, rc, &st));
	pthread_mutex_unlock(&be->write_mutex);
	if (st != CAIRN_OK)
		return st;
	if (rc && engine_failed(be))
		return failed_error(be);
	if (rc > 0)
		return wal_fail(rc, "writing a subscription cursor");
	if (rc)
		return lmdb_error(rc, "writing a subscription cursor");
	return op->outcome;
}

static cairn_status
lmdb_cursor_put(cairn__backend *be, const char *name, size_t len,
                uint64_t expect, uint64_t position)
{
	cursor_op op = {name, len, false, expect, position, CAIRN_OK, false};

	return cursor_write(be, &op);
}

static cairn_status
lmdb_cursor_delete(cairn__backend *be, const char *name, size_t len)
{
	cursor_op op = {name, len, true, 0, 0, CAIRN_OK, false};

	return cursor_write(be, &op);
}

static cairn_status
lmdb_cursor_get(cairn__backend *be, const char *name, size_t len,
                cairn_sub_info *info)
{
	MDB_txn *txn = NULL;
	cursor_value cv;
	cairn_status st;
	bool exists;
	int rc;

	st = cursors_find(be, &exists);
	if (st != CAIRN_OK)
		return st;
	if (!exists)
		return CAIRN_NOT_FOUND;
	st = read_begin(be, &txn);
	if (st != CAIRN_OK)
		return st;
	rc = cursor_read(txn, be->cursors, name, len, &cv);
	read_end(be, txn);
	if (rc == MDB_NOTFOUND)
		return CAIRN_NOT_FOUND;
	if (rc)
		return lmdb_error(rc, "reading a subscription cursor");
	info->position = cv.position;
	info->updated_ns = cv.updated_ns;
	return CAIRN_OK;
}

/*
 * fn is called with no transaction open (it may take its time, or change
 * cursors itself), on a copy of one cursor at a time; each step takes a
 * fresh snapshot and goes on strictly after the name it saw last, so a
 * cursor added or deleted meanwhile is seen or not, but none twice.
 */
static cairn_status
lmdb_cursor_list(cairn__backend *be, cairn_sub_list_fn fn, void *ctx)
{
	char name[CAIRN_SUB_NAME_MAX + 1];
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	cairn_sub_info info;
	cursor_value cv;
	cairn_status st;
	size_t len = 0;
	MDB_val k, v;
	bool exists;
	int rc = 0;

	st = cursors_find(be, &exists);
	if (st != CAIRN_OK || !exists)
		return st;
	for (;;) {
		st = read_begin(be, &txn);
		if (st != CAIRN_OK)
			break;
		rc = cur ? mdb_cursor_renew(txn, cur)
		         : mdb_cursor_open(txn, be->cursors, &cur);
		if (rc == 0 && len == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		else if (rc == 0) {
			k.mv_data = name;
			k.mv_size = len;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			if (rc == 0 && k.mv_size == len &&
			    memcmp(k.mv_data, name, len) == 0)
				rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		if (rc == 0 &&
		    (k.mv_size == 0 || k.mv_size > CAIRN_SUB_NAME_MAX ||
		     v.mv_size != sizeof(cv)))
			rc = MDB_CORRUPTED;
		if (rc == 0) {
			len = k.mv_size;
			memcpy(name, k.mv_data, len);
			name[len] = 0;
			memcpy(&cv, v.mv_data, sizeof(cv));
		}
		read_reset(be, txn);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc) {
			st = lmdb_error(rc, "listing subscription cursors");
			break;
		}
		info.name = name;
		info.position = cv.position;
		info.updated_ns = cv.updated_ns;
		if (fn(ctx, &info))
			break;
	}
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return st;
}

static cairn__notify *
lmdb_notifier(cairn__backend *be)
{
	return be->notify;
}

/* ---- iterators over events ---- */

/* The longest name in the type and tag indexes. */
#define INDEX_NAME_MAX                                                         \
	(CAIRN_TYPE_MAX > CAIRN_TAG_MAX ? CAIRN_TYPE_MAX : CAIRN_TAG_MAX)

/* One name of the type or tag index that a read walks (see query_step).
 * The name is copied: the read keeps no pointer of its caller. */
typedef struct index_source {
	MDB_dbi dbi;
	MDB_cursor *cur;
	uint64_t at; /* the position it sits on; 0: none left */
	size_t name_len;
	char name[INDEX_NAME_MAX];
} index_source;

typedef struct lmdb_iter {
	cairn__iter base;
	cairn__backend *be;
	MDB_txn *txn;
	MDB_cursor *events; /* over events */
	MDB_cursor *index;  /* over stream_index (stream reads) */
	index_source *srcs; /* $all through the indexes: nsrcs > 0 */
	size_t nsrcs;
	bool by_stream;
	bool backwards;
	bool positioned; /* the cursors sit on the last yielded */
	bool have_txn;
	bool done;           /* DONE was returned */
	uint64_t start_head; /* the head of the first snapshot */
	uint64_t done_head;  /* the head of the snapshot DONE was found in */
	uint64_t stream_num;
	size_t stream_len;
	char stream[CAIRN_STREAM_ID_MAX + 1];
	uint64_t next; /* next version or position to yield */
	unsigned since_renew;
	cairn_event ev;
	const char *tags[CAIRN_TAGS_MAX];
} lmdb_iter;

static void
iter_close_txn(lmdb_iter *it)
{
	size_t i;

	if (it->events)
		mdb_cursor_close(it->events);
	if (it->index)
		mdb_cursor_close(it->index);
	it->events = it->index = NULL;
	for (i = 0; i < it->nsrcs; i++) {
		if (it->srcs[i].cur)
			mdb_cursor_close(it->srcs[i].cur);
		it->srcs[i].cur = NULL;
	}
	if (it->txn) {
		if (it->have_txn)
			read_end(it->be, it->txn);
		else
			mdb_txn_abort(it->txn);
	}
	it->txn = NULL;
	it->have_txn = false;
}

static cairn_status
iter_open_txn(lmdb_iter *it)
{
	cairn_status st;
	size_t i;
	int rc;

	st = read_begin(it->be, &it->txn);
	if (st != CAIRN_OK)
		return st;
	it->have_txn = true;
	if (it->events == NULL) {
		rc = mdb_cursor_open(it->txn, it->be->events, &it->events);
		if (rc == 0 && it->by_stream)
			rc = mdb_cursor_open(it->txn, it->be->stream_index,
			                     &it->index);
	} else {
		rc = mdb_cursor_renew(it->txn, it->events);
		if (rc == 0 && it->index)
			rc = mdb_cursor_renew(it->txn, it->index);
	}
	for (i = 0; rc == 0 && i < it->nsrcs; i++)
		rc = mdb_cursor_renew(it->txn, it->srcs[i].cur);
	if (rc)
		return lmdb_error(rc, "opening a cursor");
	it->positioned = false;
	it->since_renew = 0;
	return CAIRN_OK;
}

/*
 * Let go of the snapshot and take a fresh one, so that a long or slow
 * read never pins old pages (nor blocks a map resize).  The cursors are
 * re-seeked by key at the next step.
 */
static cairn_status
iter_renew(lmdb_iter *it)
{
	read_reset(it->be, it->txn);
	it->have_txn = false;
	return iter_open_txn(it);
}

/* True when the record v is the stream's next event: a stream's events
 * usually sit at neighbouring positions, and then one cursor step finds
 * the next one without a search of the index. */
static bool
record_is_next(const lmdb_iter *it, const MDB_val *v)
{
	record_header h;

	if (v->mv_size < RECORD_HEADER_SIZE + it->stream_len + 1)
		return false;
	memcpy(&h, v->mv_data, sizeof(h));
	return h.version == it->next && h.stream_len == it->stream_len &&
	       memcmp((const uint8_t *)v->mv_data + RECORD_HEADER_SIZE,
	              it->stream, it->stream_len) == 0;
}

/* Seek the stream's next event through the index. */
static int
stream_seek(lmdb_iter *it, MDB_val *k, MDB_val *v, uint64_t *pos)
{
	uint8_t key[16];
	int rc;

	index_key(key, it->stream_num, it->next);
	k->mv_data = key;
	k->mv_size = sizeof(key);
	rc = mdb_cursor_get(it->index, k, v, MDB_SET_KEY);
	if (rc)
		return rc;
	if (v->mv_size != sizeof(*pos))
		return MDB_CORRUPTED;
	memcpy(pos, v->mv_data, sizeof(*pos));
	k->mv_data = pos;
	k->mv_size = sizeof(*pos);
	rc = mdb_cursor_get(it->events, k, v, MDB_SET_KEY);
	return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* One step of a stream read: the record of its next event into *v. */
static cairn_status
stream_step(lmdb_iter *it, MDB_val *v, uint64_t *pos)
{
	MDB_val k;
	int rc = MDB_NOTFOUND;

	if (it->positioned) {
		rc = mdb_cursor_get(it->events, &k, v,
		                    it->backwards ? MDB_PREV : MDB_NEXT);
		if (rc && rc != MDB_NOTFOUND)
			return lmdb_error(rc, "reading the log");
		if (rc == 0 && !record_is_next(it, v))
			rc = MDB_NOTFOUND;
	}
	if (rc == 0) {
		memcpy(pos, k.mv_data, sizeof(*pos));
		return CAIRN_OK;
	}
	rc = stream_seek(it, &k, v, pos);
	if (rc == MDB_NOTFOUND)
		return CAIRN_DONE;
	return rc ? lmdb_error(rc, "reading the stream index") : CAIRN_OK;
}

/* One step of a $all read over the log itself. */
static cairn_status
log_step(lmdb_iter *it, MDB_val *v, uint64_t *pos)
{
	uint64_t key = it->next;
	MDB_cursor_op op;
	MDB_val k;
	int rc;

	if (it->positioned)
		op = it->backwards ? MDB_PREV : MDB_NEXT;
	else
		op = it->backwards ? MDB_SET_KEY : MDB_SET_RANGE;
	k.mv_data = &key;
	k.mv_size = sizeof(key);
	rc = mdb_cursor_get(it->events, &k, v, op);
	if (rc == MDB_NOTFOUND)
		return CAIRN_DONE;
	if (rc)
		return lmdb_error(rc, "reading the log");
	memcpy(pos, k.mv_data, sizeof(*pos));
	return CAIRN_OK;
}

/* Put s on its first position >= from (backwards: its last <= from). */
static int
source_seek(index_source *s, uint64_t from, bool backwards)
{
	uint8_t p[8];
	MDB_val k = {s->name_len, s->name}, v = {sizeof(p), p};
	int rc;

	s->at = 0;
	put_be64(p, from);
	rc = mdb_cursor_get(s->cur, &k, &v, MDB_GET_BOTH_RANGE);
	if (backwards && rc == 0 && get_be64(v.mv_data) != from)
		rc = mdb_cursor_get(s->cur, &k, &v, MDB_PREV_DUP);
	else if (backwards && rc == MDB_NOTFOUND) {
		/* no position >= from (or no such name): the last one */
		k.mv_data = s->name;
		k.mv_size = s->name_len;
		rc = mdb_cursor_get(s->cur, &k, &v, MDB_SET_KEY);
		if (rc == 0)
			rc = mdb_cursor_get(s->cur, &k, &v, MDB_LAST_DUP);
	}
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != sizeof(p))
		rc = MDB_CORRUPTED;
	if (rc == 0)
		s->at = get_be64(v.mv_data);
	return rc;
}

/* Move s on to its next position in the read's direction. */
static int
source_step(index_source *s, bool backwards)
{
	MDB_val k, v;
	int rc;

	s->at = 0;
	rc = mdb_cursor_get(s->cur, &k, &v,
	                    backwards ? MDB_PREV_DUP : MDB_NEXT_DUP);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != sizeof(uint64_t))
		rc = MDB_CORRUPTED;
	if (rc == 0)
		s->at = get_be64(v.mv_data);
	return rc;
}

/*
 * One step of a $all read through the indexes: the nearest position any
 * source sits on, in the read's direction, and every source that sits
 * there steps on, so that an event found under several names comes
 * once.  At the start and after a renewal each source is sought again
 * from it->next.  A step costs O(sources) plus the cursor moves; a
 * renewal O(sources * log n).
 */
static cairn_status
query_step(lmdb_iter *it, MDB_val *v, uint64_t *pos)
{
	uint64_t best = 0, at;
	MDB_val k;
	size_t i;
	int rc = 0;

	if (!it->positioned)
		for (i = 0; rc == 0 && i < it->nsrcs; i++)
			rc = source_seek(&it->srcs[i], it->next, it->backwards);
	for (i = 0; rc == 0 && i < it->nsrcs; i++) {
		at = it->srcs[i].at;
		if (at &&
		    (best == 0 || (it->backwards ? at > best : at < best)))
			best = at;
	}
	if (rc == 0 && best == 0)
		return CAIRN_DONE;
	for (i = 0; rc == 0 && i < it->nsrcs; i++)
		if (it->srcs[i].at == best)
			rc = source_step(&it->srcs[i], it->backwards);
	if (rc == 0) {
		k.mv_data = &best;
		k.mv_size = sizeof(best);
		rc = mdb_cursor_get(it->events, &k, v, MDB_SET_KEY);
		if (rc == MDB_NOTFOUND)
			rc = MDB_CORRUPTED;
	}
	if (rc)
		return lmdb_error(rc, "reading the type and tag indexes");
	*pos = best;
	return CAIRN_OK;
}

/* The read is over: note the head of the snapshot that showed it. */
static cairn_status
iter_done(lmdb_iter *it)
{
	if (!it->done) {
		it->done = true;
		it->done_head = it->start_head;
		if (it->have_txn && get_head(it->txn, it->be, &it->done_head))
			it->done_head = it->start_head;
	}
	return CAIRN_DONE;
}

static cairn_status
lmdb_iter_next(cairn__iter *base, const cairn_event **out)
{
	lmdb_iter *it = (lmdb_iter *)base;
	cairn_status st;
	MDB_val v;
	uint64_t pos;

	if (it->next == 0)
		return iter_done(it);
	if (!it->have_txn) {
		/* parked (or a renewal failed): a fresh snapshot */
		st = iter_open_txn(it);
		if (st != CAIRN_OK)
			return st;
	} else if (it->since_renew >= it->be->renew_every ||
	           __atomic_load_n(&it->be->resizing, __ATOMIC_RELAXED)) {
		st = iter_renew(it);
		if (st != CAIRN_OK)
			return st;
	}
	if (it->by_stream)
		st = stream_step(it, &v, &pos);
	else if (it->nsrcs > 0)
		st = query_step(it, &v, &pos);
	else
		st = log_step(it, &v, &pos);
	if (st == CAIRN_DONE)
		return iter_done(it);
	if (st != CAIRN_OK)
		return st;
	/* LMDB lays appended values out downwards in a leaf page: fetch the
	 * records two steps ahead into the cache while this one is decoded.
	 * A wrong guess costs nothing. */
	__builtin_prefetch((const char *)v.mv_data - 2 * v.mv_size);
	__builtin_prefetch((const char *)v.mv_data - 2 * v.mv_size + 64);
	st = record_decode(&v, pos, &it->ev, it->tags);
	if (st != CAIRN_OK)
		return st;
	if (it->by_stream && it->ev.version != it->next)
		return cairn__error(CAIRN_CORRUPT, 0,
		                    "lmdb: stream index points version %llu at "
		                    "an event of version %llu",
		                    (unsigned long long)it->next,
		                    (unsigned long long)it->ev.version);
	it->positioned = true;
	it->since_renew++;
	if (it->by_stream)
		it->next = it->backwards ? it->next - 1 : it->next + 1;
	else
		it->next = it->backwards ? pos - 1 : pos + 1;
	*out = &it->ev;
	return CAIRN_ROW;
}

/*
 * The head of the view the read is on (cairn_iter_head()).  Once a
 * forward read is DONE, every event up to the head of the snapshot it
 * ended in was examined: a renewal seeks again from where the read
 * stood, and positions are given in commit order, so a newer snapshot
 * holds nothing new below that point.  Before DONE, and for a backward
 * read (which never looks above where it began), the head of the first
 * snapshot: too low only makes a conditional append stricter.
 */
static cairn_status
lmdb_iter_head(cairn__iter *base, uint64_t *position)
{
	lmdb_iter *it = (lmdb_iter *)base;

	*position = it->done && !it->backwards ? it->done_head : it->start_head;
	return CAIRN_OK;
}

/*
 * The reader goes idle (a subscription handed its batch out): let go of
 * the snapshot now, as a renewal does, and leave the gate, so that an
 * idle reader pins no pages and holds up no map growth.  The handle and
 * the cursors stay; the next step takes a fresh snapshot and seeks
 * again from it->next, strictly after the last event yielded.  The
 * event yielded last points into pages the writers may now reuse: the
 * core copied it before parking.
 */
static void
lmdb_iter_park(cairn__iter *base)
{
	lmdb_iter *it = (lmdb_iter *)base;

	if (!it->have_txn)
		return;
	read_reset(it->be, it->txn);
	it->have_txn = false;
	it->positioned = false;
}

static void
lmdb_iter_free(cairn__iter *base)
{
	lmdb_iter *it = (lmdb_iter *)base;

	iter_close_txn(it);
	cairn__free(it->srcs);
	cairn__free(it);
}

static const cairn__iter_ops lmdb_iter_ops = {lmdb_iter_next, lmdb_iter_free,
                                              lmdb_iter_head, lmdb_iter_park};

static cairn_status
iter_new(cairn__backend *be, bool by_stream, const cairn_read_opts *opts,
         lmdb_iter **out)
{
	lmdb_iter *it = cairn__calloc(1, sizeof(*it));
	cairn_status st;
	int rc;

	if (it == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	it->base.ops = &lmdb_iter_ops;
	it->be = be;
	it->by_stream = by_stream;
	it->backwards = opts->backwards != 0;
	st = iter_open_txn(it);
	if (st == CAIRN_OK) {
		rc = get_head(it->txn, be, &it->start_head);
		if (rc)
			st = lmdb_error(rc, "reading the head");
	}
	if (st != CAIRN_OK) {
		lmdb_iter_free(&it->base);
		return st;
	}
	*out = it;
	return CAIRN_OK;
}

/* Where a read starts: forward from max(from, 1); backward from
 * min(from, last) with 0 meaning last.  next = 0 means nothing to do. */
static uint64_t
start_key(const cairn_read_opts *opts, uint64_t last)
{
	if (!opts->backwards)
		return opts->from ? opts->from : 1;
	if (opts->from == 0 || opts->from > last)
		return last;
	return opts->from;
}

static cairn_status
lmdb_read_stream(cairn__backend *be, const char *stream, size_t len,
                 const cairn_read_opts *opts, cairn__iter **out)
{
	stream_meta sm;
	lmdb_iter *it = NULL;
	cairn_status st;
	int rc;

	st = iter_new(be, true, opts, &it);
	if (st != CAIRN_OK)
		return st;
	rc = get_stream(it->txn, be, stream, len, &sm);
	if (rc == 0) {
		it->stream_num = sm.num;
		it->stream_len = len;
		memcpy(it->stream, stream, len);
		it->next = start_key(opts, sm.version);
	} else if (rc == MDB_NOTFOUND)
		it->next = 0;
	else {
		lmdb_iter_free(&it->base);
		return lmdb_error(rc, "reading stream metadata");
	}
	*out = &it->base;
	return CAIRN_OK;
}

/* Add a source over name in dbi to the read, unless it has it already.
 * it->srcs has room. */
static cairn_status
add_source(lmdb_iter *it, MDB_dbi dbi, const char *name)
{
	size_t len = strlen(name), i;
	index_source *s;
	int rc;

	for (i = 0; i < it->nsrcs; i++) {
		s = &it->srcs[i];
		if (s->dbi == dbi && s->name_len == len &&
		    memcmp(s->name, name, len) == 0)
			return CAIRN_OK;
	}
	s = &it->srcs[it->nsrcs];
	s->dbi = dbi;
	s->name_len = len;
	memcpy(s->name, name, len);
	rc = mdb_cursor_open(it->txn, dbi, &s->cur);
	if (rc)
		return lmdb_error(rc, "opening a cursor");
	it->nsrcs++;
	return CAIRN_OK;
}

/* Does some item of q match every event? */
static bool
query_matches_all(const cairn_query *q)
{
	size_t i;

	for (i = 0; i < q->nitems; i++)
		if (q->items[i].ntypes == 0 && q->items[i].ntags == 0)
			return true;
	return false;
}

/*
 * The sources of a $all read with a query or a type filter.  A query's
 * items each bring the names of their cheapest index (plan_item); a
 * query with an item that matches everything cannot narrow the read, and
 * then the type filter's types are the sources if there are any, or
 * else the read walks the whole log (no source).  Either way the sources
 * hold a superset of what the read yields: the core applies the filters
 * themselves (cairn_query_match() for the query).
 */
static cairn_status
plan_sources(lmdb_iter *it, const cairn_read_opts *opts)
{
	const cairn_query *q = opts->query;
	MDB_cursor *types = NULL, *tags = NULL;
	item_plan *plans = NULL;
	bool by_query = q != NULL && !query_matches_all(q);
	cairn_status st = CAIRN_OK;
	size_t i, j, cap = 0;
	int rc = 0;

	if (!by_query && opts->ntypes == 0)
		return CAIRN_OK;
	if (!by_query)
		cap = opts->ntypes;
	else {
		plans = cairn__calloc(q->nitems, sizeof(*plans));
		if (plans == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
		rc = mdb_cursor_open(it->txn, it->be->types, &types);
		if (rc == 0)
			rc = mdb_cursor_open(it->txn, it->be->tags, &tags);
		for (i = 0; rc == 0 && i < q->nitems; i++) {
			rc = plan_item(types, tags, &q->items[i], &plans[i]);
			cap += plans[i].by_tag ? 1 : q->items[i].ntypes;
		}
		if (rc) {
			st = lmdb_error(rc, "planning a query read");
			goto out;
		}
	}
	it->srcs = cairn__calloc(cap, sizeof(*it->srcs));
	if (it->srcs == NULL) {
		st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; !by_query && st == CAIRN_OK && i < opts->ntypes; i++)
		st = add_source(it, it->be->types, opts->types[i]);
	for (i = 0; by_query && st == CAIRN_OK && i < q->nitems; i++) {
		const cairn_query_item *item = &q->items[i];
		if (plans[i].by_tag) {
			st = add_source(it, it->be->tags,
			                item->tags[plans[i].tag]);
			continue;
		}
		for (j = 0; st == CAIRN_OK && j < item->ntypes; j++)
			st = add_source(it, it->be->types, item->types[j]);
	}
out:
	if (tags)
		mdb_cursor_close(tags);
	if (types)
		mdb_cursor_close(types);
	cairn__free(plans);
	return st;
}

static cairn_status
lmdb_read_all(cairn__backend *be, const cairn_read_opts *opts,
              cairn__iter **out)
{
	lmdb_iter *it = NULL;
	cairn_status st;

	st = iter_new(be, false, opts, &it);
	if (st != CAIRN_OK)
		return st;
	it->next = start_key(opts, it->start_head);
	if (opts->query && opts->query->nitems == 0)
		it->next = 0; /* a query without items matches nothing */
	else
		st = plan_sources(it, opts);
	if (st != CAIRN_OK) {
		lmdb_iter_free(&it->base);
		return st;
	}
	*out = &it->base;
	return CAIRN_OK;
}

/* ---- metadata reads ---- */

static cairn_status
lmdb_stream_version(cairn__backend *be, const char *stream, size_t len,
                    uint64_t *version)
{
	MDB_txn *txn = NULL;
	stream_meta sm;
	cairn_status st;
	int rc;

	st = read_begin(be, &txn);
	if (st != CAIRN_OK)
		return st;
	rc = get_stream(txn, be, stream, len, &sm);
	read_end(be, txn);
	if (rc == MDB_NOTFOUND) {
		*version = 0;
		return CAIRN_OK;
	}
	if (rc)
		return lmdb_error(rc, "reading stream metadata");
	*version = sm.version;
	return CAIRN_OK;
}

static cairn_status
lmdb_head(cairn__backend *be, uint64_t *position)
{
	MDB_txn *txn = NULL;
	cairn_status st;
	int rc;

	st = read_begin(be, &txn);
	if (st != CAIRN_OK)
		return st;
	rc = get_head(txn, be, position);
	read_end(be, txn);
	return rc ? lmdb_error(rc, "reading the head") : CAIRN_OK;
}

typedef struct lmdb_stream_iter {
	cairn__stream_iter base;
	cairn__backend *be;
	MDB_txn *txn;
	MDB_cursor *cur;
	size_t left;
	bool started;
	size_t prefix_len;
	char prefix[CAIRN_STREAM_ID_MAX + 1];
	char after[CAIRN_STREAM_ID_MAX + 2];
	cairn_stream_info info;
} lmdb_stream_iter;

/* The listing is over: let go of its snapshot at once. */
static cairn_status
stream_iter_end(lmdb_stream_iter *it)
{
	if (it->cur)
		mdb_cursor_close(it->cur);
	if (it->txn)
		read_end(it->be, it->txn);
	it->cur = NULL;
	it->txn = NULL;
	it->left = 0;
	return CAIRN_DONE;
}

/* A map growth is waiting: step aside, then go on after the last entry
 * yielded, in a fresh snapshot. */
static cairn_status
stream_iter_step_aside(lmdb_stream_iter *it)
{
	cairn_status st;
	int rc;

	memcpy(it->after, it->info.stream, it->info.stream_len);
	it->after[it->info.stream_len] = 0;
	read_reset(it->be, it->txn);
	st = read_begin(it->be, &it->txn);
	if (st != CAIRN_OK) {
		mdb_txn_abort(it->txn);
		it->txn = NULL;
		return st;
	}
	rc = mdb_cursor_renew(it->txn, it->cur);
	if (rc)
		return lmdb_error(rc, "listing streams");
	it->started = false;
	return CAIRN_OK;
}

static cairn_status
lmdb_stream_iter_next(cairn__stream_iter *base, const cairn_stream_info **out)
{
	lmdb_stream_iter *it = (lmdb_stream_iter *)base;
	stream_meta sm;
	cairn_status st;
	MDB_val k, v;
	int rc;

	if (it->txn == NULL)
		return CAIRN_DONE;
	if (it->left == 0)
		return stream_iter_end(it);
	if (it->started && it->info.stream &&
	    __atomic_load_n(&it->be->resizing, __ATOMIC_RELAXED)) {
		st = stream_iter_step_aside(it);
		if (st != CAIRN_OK)
			return st;
	}
	if (!it->started) {
		/* Start at the later of the prefix and just past the cursor;
		 * keys carry their NUL, so after+NUL sorts right after it. */
		const char *from = it->prefix;
		size_t from_len = it->prefix_len;
		if (it->after[0] && strcmp(it->after, it->prefix) >= 0) {
			from = it->after;
			from_len = strlen(it->after) + 1;
		}
		k.mv_data = (void *)from;
		k.mv_size = from_len;
		rc = from_len ? mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE)
		              : mdb_cursor_get(it->cur, &k, &v, MDB_FIRST);
		it->started = true;
		if (rc == 0 && it->after[0] && k.mv_size == from_len &&
		    from == it->after && memcmp(k.mv_data, from, from_len) == 0)
			rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
	} else
		rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
	if (rc == MDB_NOTFOUND)
		return stream_iter_end(it);
	if (rc)
		return lmdb_error(rc, "listing streams");
	if (k.mv_size < 2 || v.mv_size != sizeof(sm))
		return cairn__error(CAIRN_CORRUPT, 0,
		                    "lmdb: a malformed stream entry");
	if (k.mv_size - 1 < it->prefix_len ||
	    memcmp(k.mv_data, it->prefix, it->prefix_len) != 0)
		return stream_iter_end(it);
	memcpy(&sm, v.mv_data, sizeof(sm));
	it->info.stream = k.mv_data;
	it->info.stream_len = k.mv_size - 1;
	it->info.version = sm.version;
	it->info.last_position = sm.last_position;
	it->info.created_ns = sm.created_ns;
	it->info.updated_ns = sm.updated_ns;
	it->left--;
	*out = &it->info;
	return CAIRN_ROW;
}

static void
lmdb_stream_iter_free(cairn__stream_iter *base)
{
	lmdb_stream_iter *it = (lmdb_stream_iter *)base;

	if (it->cur)
		mdb_cursor_close(it->cur);
	if (it->txn)
		read_end(it->be, it->txn);
	cairn__free(it);
}

static const cairn__stream_iter_ops lmdb_stream_iter_ops = {
        lmdb_stream_iter_next, lmdb_stream_iter_free};

static cairn_status
lmdb_list_streams(cairn__backend *be, const char *prefix, const char *after,
                  size_t limit, cairn__stream_iter **out)
{
	lmdb_stream_iter *it = cairn__calloc(1, sizeof(*it));
	cairn_status st;
	int rc;

	if (it == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	it->base.ops = &lmdb_stream_iter_ops;
	it->be = be;
	it->left = limit;
	it->prefix_len = strlen(prefix);
	memcpy(it->prefix, prefix, it->prefix_len + 1);
	memcpy(it->after, after, strlen(after) + 1);
	st = read_begin(be, &it->txn);
	if (st != CAIRN_OK) {
		cairn__free(it);
		return st;
	}
	rc = mdb_cursor_open(it->txn, be->streams, &it->cur);
	if (rc) {
		lmdb_stream_iter_free(&it->base);
		return lmdb_error(rc, "listing streams");
	}
	*out = &it->base;
	return CAIRN_OK;
}

static cairn_status
lmdb_stats(cairn__backend *be, cairn_stats *stats)
{
	MDB_txn *txn = NULL;
	MDB_stat ms;
	MDB_envinfo info;
	cairn_status st;
	int rc;

	st = read_begin(be, &txn);
	if (st != CAIRN_OK)
		return st;
	rc = mdb_stat(txn, be->events, &ms);
	if (rc == 0) {
		stats->events = ms.ms_entries;
		rc = mdb_stat(txn, be->streams, &ms);
	}
	if (rc == 0) {
		stats->streams = ms.ms_entries;
		rc = get_head(txn, be, &stats->head);
	}
	if (rc == 0) {
		mdb_env_info(be->env, &info);
		stats->bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	}
	read_end(be, txn);
	return rc ? lmdb_error(rc, "reading statistics") : CAIRN_OK;
}

/* ---- verify: what only the engine can see ---- */

typedef struct verify_state {
	cairn_verify_fn fn;
	void *ctx;
	uint64_t problems;
} verify_state;

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void
vproblem(verify_state *vs, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	vs->problems++;
	if (vs->fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vs->fn(vs->ctx, msg);
}

/* Is pos listed under name in the index cur walks? */
static bool
name_indexed(MDB_cursor *cur, const char *name, size_t len, uint64_t pos)
{
	uint8_t p[8];
	MDB_val k = {len, (void *)name}, v = {sizeof(p), p};

	put_be64(p, pos);
	return mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH) == 0;
}

/* The cursors and counts of verify's walk over the events. */
typedef struct verify_walk {
	MDB_cursor *types, *tags, *events;
	uint64_t given;     /* events with caller-given ids */
	uint64_t type_refs; /* entries the type index should hold */
	uint64_t tag_refs;  /* entries the tag index should hold */
	uint64_t bad;       /* records that failed their checks */
	/* the commit_rest of the event before (0: unknown, or the last of
	 * its append) */
	uint32_t rest;
	uint64_t rest_pos; /* its position */
} verify_walk;

/*
 * An append's events sit at consecutive positions with commit_rest
 * counting down to 0, and appends are visible whole: the event after one
 * with commit_rest r > 0 has r - 1.
 */
static void
verify_commit_rest(verify_state *vs, verify_walk *w, const cairn_event *ev)
{
	if (w->rest > 0 && ev->commit_rest != w->rest - 1)
		vproblem(vs,
		         "position %llu: it says %u events of its append "
		         "follow it, after position %llu said %u",
		         (unsigned long long)ev->position, ev->commit_rest,
		         (unsigned long long)w->rest_pos, w->rest);
	w->rest = ev->commit_rest;
	w->rest_pos = ev->position;
}

/* The event ev (at pos) is indexed under its type and each tag. */
static void
verify_event_names(verify_state *vs, verify_walk *w, const cairn_event *ev)
{
	unsigned long long pos = (unsigned long long)ev->position;
	size_t i;

	w->type_refs++;
	if (!name_indexed(w->types, ev->type, ev->type_len, ev->position))
		vproblem(vs,
		         "position %llu: its type '%s' is not indexed to it",
		         pos, ev->type);
	for (i = 0; i < ev->ntags; i++) {
		if (tag_repeated(ev, i))
			continue;
		w->tag_refs++;
		if (!name_indexed(w->tags, ev->tags[i], strlen(ev->tags[i]),
		                  ev->position))
			vproblem(vs,
			         "position %llu: its tag '%s' is not indexed "
			         "to it",
			         pos, ev->tags[i]);
	}
}

/* Does ev have the name (len bytes) as its type (is_tag false) or as one
 * of its tags? */
static bool
event_has_name(const cairn_event *ev, bool is_tag, const char *name, size_t len)
{
	size_t i;

	if (!is_tag)
		return ev->type_len == len && memcmp(ev->type, name, len) == 0;
	for (i = 0; i < ev->ntags; i++)
		if (strlen(ev->tags[i]) == len &&
		    memcmp(ev->tags[i], name, len) == 0)
			return true;
	return false;
}

/*
 * The other way: every entry of the type (or tag) index names an event
 * that has that type (tag), and the index holds as many entries as the
 * events call for.  Records that failed their own checks were reported
 * already, and make the count unknowable.
 */
static int
verify_name_index(verify_state *vs, verify_walk *w, bool is_tag)
{
	const char *what = is_tag ? "tag" : "type";
	const char *tags[CAIRN_TAGS_MAX];
	MDB_cursor *cur = is_tag ? w->tags : w->types;
	uint64_t entries = 0, expected = is_tag ? w->tag_refs : w->type_refs;
	MDB_cursor_op op = MDB_FIRST;
	cairn_event ev;
	MDB_val k, v;
	uint64_t pos;
	int rc;

	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		entries++;
		if (v.mv_size != 8 || k.mv_size == 0 ||
		    k.mv_size > INDEX_NAME_MAX) {
			vproblem(vs, "the %s index holds a malformed entry",
			         what);
			continue;
		}
		pos = get_be64(v.mv_data);
		rc = event_at(w->events, pos, &ev, tags);
		if (rc == MDB_CORRUPTED) {
			k.mv_data = &pos;
			k.mv_size = sizeof(pos);
			if (mdb_cursor_get(w->events, &k, &v, MDB_SET_KEY))
				vproblem(vs,
				         "the %s index lists position %llu, "
				         "which holds no event",
				         what, (unsigned long long)pos);
			continue;
		}
		if (rc)
			return rc;
		if (!event_has_name(&ev, is_tag, k.mv_data, k.mv_size))
			vproblem(vs,
			         "the %s index lists position %llu under "
			         "'%.*s', which the event does not have",
			         what, (unsigned long long)pos, (int)k.mv_size,
			         (const char *)k.mv_data);
	}
	if (rc != MDB_NOTFOUND)
		return rc;
	if (w->bad == 0 && entries != expected)
		vproblem(vs, "the %s index has %llu entries for %llu expected",
		         what, (unsigned long long)entries,
		         (unsigned long long)expected);
	return 0;
}

/* Every snapshot's key is a stream id, NUL and a schema, and its value
 * holds a version >= 1. */
static int
verify_snapshots(verify_state *vs, MDB_txn *txn, cairn__backend *be)
{
	const uint8_t *nul;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t version = 0;
	size_t stream_len;
	int rc;

	rc = mdb_cursor_open(txn, be->snapshots, &cur);
	if (rc)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		nul = memchr(k.mv_data, 0, k.mv_size);
		stream_len =
		        nul ? (size_t)(nul - (const uint8_t *)k.mv_data) : 0;
		if (v.mv_size >= sizeof(version))
			memcpy(&version, v.mv_data, sizeof(version));
		if (nul == NULL || stream_len == 0 ||
		    stream_len > CAIRN_STREAM_ID_MAX ||
		    k.mv_size - stream_len - 1 == 0 ||
		    k.mv_size - stream_len - 1 > CAIRN_SNAPSHOT_SCHEMA_MAX ||
		    memchr(nul + 1, 0, k.mv_size - stream_len - 1) ||
		    v.mv_size < sizeof(version) || version == 0)
			vproblem(vs, "a snapshot entry is malformed");
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Every subscription cursor has a name of 1..CAIRN_SUB_NAME_MAX bytes
 * and a value of the cursor's size. */
static int
verify_cursors(verify_state *vs, MDB_txn *txn, cairn__backend *be)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, be->cursors, &cur);
	if (rc)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
		if (k.mv_size == 0 || k.mv_size > CAIRN_SUB_NAME_MAX ||
		    v.mv_size != sizeof(cursor_value))
			vproblem(vs, "a malformed subscription cursor entry");
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * In one snapshot: every record passes its CRC and decodes; each
 * append's commit_rest counts down to 0 over consecutive positions; the
 * id index and the stream index each hold exactly one entry per event,
 * pointing back at it; the type and tag indexes list every event under
 * its type and each of its tags, and nothing else; the snapshots and the
 * subscription cursors are well formed.
 */
static cairn_status
lmdb_verify(cairn__backend *be, cairn_verify_fn fn, void *ctx,
            uint64_t *problems)
{
	const char *tags[CAIRN_TAGS_MAX];
	verify_state vs = {fn, ctx, 0};
	verify_walk w;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_stat ev_stat, id_stat, ix_stat;
	stream_meta sm;
	cairn_event ev;
	MDB_val k, v, k2, v2;
	uint8_t ikey[16];
	uint64_t pos, p2;
	cairn_status st;
	bool cursors;
	int rc;

	memset(&w, 0, sizeof(w));
	st = cursors_find(be, &cursors);
	if (st != CAIRN_OK)
		return st;
	st = read_begin(be, &txn);
	if (st != CAIRN_OK)
		return st;
	rc = mdb_cursor_open(txn, be->events, &cur);
	if (rc == 0)
		rc = mdb_cursor_open(txn, be->types, &w.types);
	if (rc == 0)
		rc = mdb_cursor_open(txn, be->tags, &w.tags);
	if (rc == 0)
		rc = mdb_cursor_open(txn, be->events, &w.events);
	while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		memcpy(&pos, k.mv_data, sizeof(pos));
		if (!record_crc_ok(&v)) {
			w.bad++;
			w.rest = 0;
			vproblem(&vs, "position %llu: record checksum mismatch",
			         (unsigned long long)pos);
			continue;
		}
		if (record_decode(&v, pos, &ev, tags) != CAIRN_OK) {
			w.bad++;
			w.rest = 0;
			vproblem(&vs, "position %llu: malformed record",
			         (unsigned long long)pos);
			continue;
		}
		verify_commit_rest(&vs, &w, &ev);
		verify_event_names(&vs, &w, &ev);
		k2.mv_data = ev.id.bytes;
		k2.mv_size = 16;
		if (record_id_given(&v)) {
			w.given++;
			if (mdb_get(txn, be->ids, &k2, &v2) != 0 ||
			    v2.mv_size != 8 ||
			    (memcpy(&p2, v2.mv_data, 8), p2 != pos))
				vproblem(&vs,
				         "position %llu: its id is not "
				         "indexed to it",
				         (unsigned long long)pos);
		}
		if (get_stream(txn, be, ev.stream, ev.stream_len, &sm) != 0) {
			vproblem(&vs,
			         "position %llu: stream '%s' has no "
			         "metadata",
			         (unsigned long long)pos, ev.stream);
			continue;
		}
		index_key(ikey, sm.num, ev.version);
		k2.mv_data = ikey;
		k2.mv_size = 16;
		if (mdb_get(txn, be->stream_index, &k2, &v2) != 0 ||
		    v2.mv_size != 8 || (memcpy(&p2, v2.mv_data, 8), p2 != pos))
			vproblem(&vs,
			         "position %llu: stream index does not "
			         "point at it",
			         (unsigned long long)pos);
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && w.rest > 0)
		vproblem(
		        &vs,
		        "position %llu: it says %u events of its append follow "
		        "it, but it is the last event",
		        (unsigned long long)w.rest_pos, w.rest);
	if (rc == 0)
		rc = verify_name_index(&vs, &w, false);
	if (rc == 0)
		rc = verify_name_index(&vs, &w, true);
	if (rc == 0)
		rc = verify_snapshots(&vs, txn, be);
	if (rc == 0 && cursors)
		rc = verify_cursors(&vs, txn, be);
	if (cur)
		mdb_cursor_close(cur);
	if (w.events)
		mdb_cursor_close(w.events);
	if (w.tags)
		mdb_cursor_close(w.tags);
	if (w.types)
		mdb_cursor_close(w.types);
	if (rc == 0)
		rc = mdb_stat(txn, be->events, &ev_stat);
	if (rc == 0)
		rc = mdb_stat(txn, be->ids, &id_stat);
	if (rc == 0)
		rc = mdb_stat(txn, be->stream_index, &ix_stat);
	if (rc == 0 && id_stat.ms_entries != w.given)
		vproblem(&vs,
		         "the id index has %zu entries for %llu events "
		         "with caller-given ids",
		         (size_t)id_stat.ms_entries,
		         (unsigned long long)w.given);
	if (rc == 0 && ix_stat.ms_entries != ev_stat.ms_entries)
		vproblem(&vs, "the stream index has %zu entries for %zu events",
		         (size_t)ix_stat.ms_entries,
		         (size_t)ev_stat.ms_entries);
	read_end(be, txn);
	if (rc)
		return lmdb_error(rc, "verifying");
	*problems = vs.problems;
	return CAIRN_OK;
}

/* ---- open, recovery and close ---- */

/*
 * Open every database in txn (creating them in a writable store) and
 * read the store's format into *format, setting it in a new store.  A
 * store of format 1 gets its new databases here and its indexes from
 * upgrade_store(), after recovery; only a process alone with it may do
 * that (anyone else might be a program of format 1, which would write
 * events without indexing them), so in any other it is refused with
 * STORE_FORMAT_REFUSED.
 */
#define STORE_FORMAT_REFUSED (-1)
static int
open_dbs_in(MDB_txn *txn, cairn__backend *be, bool alone, uint32_t *format)
{
	unsigned flags = be->read_only ? 0 : MDB_CREATE;
	uint64_t next_stream;
	int rc;

	rc = mdb_dbi_open(txn, "events", flags | MDB_INTEGERKEY, &be->events);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "streams", flags, &be->streams);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "stream_index", flags,
		                  &be->stream_index);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "ids", flags, &be->ids);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", flags, &be->meta);
	if (rc)
		return rc;
	rc = read_meta(txn, be, "format", format, sizeof(*format));
	if (rc == MDB_NOTFOUND && !be->read_only) {
		*format = STORE_FORMAT;
		rc = write_meta(txn, be, "format", format, sizeof(*format));
		if (rc == 0)
			rc = write_meta_u64(txn, be, "next_stream", 1);
	} else if (rc == 0) {
		if ((*format != STORE_FORMAT &&
		     *format != STORE_FORMAT_NO_INDEXES) ||
		    read_meta_u64(txn, be, "next_stream", &next_stream) != 0)
			rc = MDB_VERSION_MISMATCH;
	} else if (rc == MDB_CORRUPTED)
		rc = MDB_VERSION_MISMATCH;
	if (rc)
		return rc;
	if (*format == STORE_FORMAT_NO_INDEXES && (be->read_only || !alone))
		return STORE_FORMAT_REFUSED;
	rc = mdb_dbi_open(txn, "types", flags | NAME_INDEX_FLAGS, &be->types);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "tags", flags | NAME_INDEX_FLAGS,
		                  &be->tags);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "snapshots", flags, &be->snapshots);
	if (rc)
		return rc;
	/* Not created here, where this process may not yet hold a
	 * checkpoint's pin: the first cursor put creates it. */
	rc = mdb_dbi_open(txn, CURSORS_DB, 0, &be->cursors);
	be->has_cursors = rc == 0;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static cairn_status
open_dbs(cairn__backend *be, bool alone, uint32_t *format)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(be->env, NULL, be->read_only ? MDB_RDONLY : 0, &txn);
	if (rc)
		return lmdb_error(rc, "opening the databases");
	rc = open_dbs_in(txn, be, alone, format);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc == STORE_FORMAT_REFUSED && be->read_only)
		return cairn__error(
		        CAIRN_CORRUPT, 0,
		        "lmdb: '%s' is a store of format %d, without the "
		        "type and tag indexes; open it once for writing to "
		        "upgrade it to format %d",
		        be->path, STORE_FORMAT_NO_INDEXES, STORE_FORMAT);
	if (rc == STORE_FORMAT_REFUSED)
		return cairn__error(
		        CAIRN_CORRUPT, 0,
		        "lmdb: '%s' is a store of format %d, open in another "
		        "process; it is upgraded to format %d when a process "
		        "opens it alone",
		        be->path, STORE_FORMAT_NO_INDEXES, STORE_FORMAT);
	if (rc == MDB_VERSION_MISMATCH || rc == MDB_INCOMPATIBLE)
		return cairn__error(
		        CAIRN_CORRUPT, rc,
		        "lmdb: '%s' is not a cairn store of format %d",
		        be->path, STORE_FORMAT);
	if (rc == MDB_NOTFOUND)
		return cairn__error(
		        CAIRN_NOT_FOUND, rc,
		        "lmdb: '%s' holds no cairn store (and it was "
		        "opened read-only)",
		        be->path);
	return rc ? lmdb_error(rc, "opening the databases") : CAIRN_OK;
}

/*
 * Build the type and tag indexes of a store of format 1 from its events,
 * and set format 2, in one write transaction.  What a replay indexed
 * before (recovery comes first) is dropped and built again with the
 * rest.  *bad receives the position of a record that does not decode.
 */
static int
upgrade_once(cairn__backend *be, uint64_t *bad)
{
	const char *tags[CAIRN_TAGS_MAX];
	uint32_t format = STORE_FORMAT;
	MDB_cursor *cur = NULL;
	cairn_event ev;
	MDB_txn *txn;
	MDB_val k, v;
	uint64_t pos;
	int rc;

	rc = mdb_txn_begin(be->env, NULL, 0, &txn);
	if (rc)
		return rc;
	rc = mdb_drop(txn, be->types, 0);
	if (rc == 0)
		rc = mdb_drop(txn, be->tags, 0);
	if (rc == 0)
		rc = mdb_cursor_open(txn, be->events, &cur);
	while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		memcpy(&pos, k.mv_data, sizeof(pos));
		if (record_decode(&v, pos, &ev, tags) != CAIRN_OK) {
			*bad = pos;
			rc = MDB_CORRUPTED;
		} else
			rc = index_names(txn, be, &ev);
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (cur)
		mdb_cursor_close(cur);
	if (rc == 0)
		rc = write_meta(txn, be, "format", &format, sizeof(format));
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	/* Nothing new to read, but a subscriber that read before may look
	 * again: the indexes changed under it. */
	if (rc == 0)
		cairn__notify_bump(be->notify);
	return rc;
}

/*
 * Upgrade a store of format 1 (see upgrade_once), then checkpoint.  This
 * runs after recovery, alone with the store, while this process holds
 * the pin of the checkpoint recovery made: the transaction is not in the
 * log, and should the machine crash before the checkpoint after it,
 * recovery returns the store to that pinned snapshot, of format 1, and
 * the next open upgrades it again.
 */
static cairn_status
upgrade_store(cairn__backend *be)
{
	uint64_t bad = 0;
	cairn_status st;
	int rc;

	for (;;) {
		rc = upgrade_once(be, &bad);
		if (rc == 0)
			rc = checkpoint_now(be);
		if (rc != MDB_MAP_FULL)
			break;
		st = grow_map(be, be->map_size * 2);
		if (st != CAIRN_OK)
			return st;
	}
	if (rc == MDB_CORRUPTED && bad)
		return cairn__error(CAIRN_CORRUPT, rc,
		                    "lmdb: '%s': cannot upgrade it to format "
		                    "%d: the record at position %llu is "
		                    "malformed",
		                    be->path, STORE_FORMAT,
		                    (unsigned long long)bad);
	if (rc > 0)
		return wal_fail(rc, "checkpointing the upgrade");
	if (rc)
		return cairn__error(map_error(rc), rc,
		                    "lmdb: '%s': upgrading it to format %d: %s",
		                    be->path, STORE_FORMAT, mdb_strerror(rc));
	return CAIRN_OK;
}

/*
 * Re-apply one log record's events and snapshots (see wbuf_entry and
 * put_snapshot for the layout), as the original batch wrote them, through
 * the same put_event and snapshot_apply, which rebuild every index.
 * Stream numbers come out the same because the batch assigned them in
 * this same order.
 */
static int
replay_payload(MDB_txn *txn, cairn__backend *be, const uint8_t *p, size_t len,
               uint64_t *next_stream)
{
	const char *tags[CAIRN_TAGS_MAX];
	stream_meta sm;
	cairn_event ev;
	uint64_t pos;
	uint32_t rlen;
	bool stored;
	MDB_val v;
	int rc;

	while (len > 0) {
		if (len < WBUF_ENTRY_HEADER)
			return MDB_CORRUPTED;
		memcpy(&pos, p, 8);
		memcpy(&rlen, p + 8, 4);
		p += WBUF_ENTRY_HEADER;
		len -= WBUF_ENTRY_HEADER;
		if (rlen > len)
			return MDB_CORRUPTED;
		if (pos == WBUF_SNAPSHOT) {
			rc = snapshot_apply(txn, be, p, rlen, &stored);
			if (rc)
				return rc;
			p += rlen;
			len -= rlen;
			continue;
		}
		v.mv_data = (void *)p;
		v.mv_size = rlen;
		if (!record_crc_ok(&v) ||
		    record_decode(&v, pos, &ev, tags) != CAIRN_OK)
			return MDB_CORRUPTED;
		rc = get_stream(txn, be, ev.stream, ev.stream_len, &sm);
		if (rc == MDB_NOTFOUND) {
			memset(&sm, 0, sizeof(sm));
			sm.num = (*next_stream)++;
			sm.created_ns = ev.time_ns;
			rc = 0;
		}
		if (rc)
			return rc;
		if (ev.version != sm.version + 1)
			return MDB_CORRUPTED;
		rc = put_event(txn, be, pos, p, rlen, sm.num);
		if (rc)
			return rc;
		sm.version = ev.version;
		sm.last_position = pos;
		sm.updated_ns = ev.time_ns;
		rc = put_stream(txn, be, ev.stream, ev.stream_len, &sm);
		if (rc)
			return rc;
		p += rlen;
		len -= rlen;
	}
	return 0;
}

/*
 * Replay, in one transaction, the records after what the LMDB file holds,
 * following the chain from the checkpoint c.  *replayed counts the
 * records applied.  A crash after its commit and before the next
 * checkpoint is safe: the old checkpoint still describes a whole
 * snapshot (no transaction but this one ran since), and the records are
 * still in the log.
 */
static int
replay_once(cairn__backend *be, const wal_checkpoint *c, uint64_t *replayed)
{
	uint64_t applied, lsn, offset, next, next_stream;
	MDB_txn *txn;
	uint8_t *buf;
	size_t len;
	int rc;

	*replayed = 0;
	rc = mdb_txn_begin(be->env, NULL, 0, &txn);
	if (rc)
		return rc;
	rc = read_meta_u64_or(txn, be, "wal_lsn", &applied, 0);
	if (rc == 0)
		rc = read_meta_u64(txn, be, "next_stream", &next_stream);
	if (rc)
		goto fail;
	lsn = c ? c->lsn : applied;
	offset = c ? c->start : be->wal.data_start;
	for (;;) {
		rc = wal_read_record(&be->wal, offset, lsn + 1, &buf, &len,
		                     &next);
		if (rc == ENOENT) {
			rc = 0;
			break;
		}
		if (rc)
			goto fail;
		lsn++;
		offset = next;
		if (lsn > applied) {
			rc = replay_payload(txn, be, buf, len, &next_stream);
			(*replayed)++;
		}
		cairn__free(buf);
		if (rc)
			goto fail;
	}
	if (lsn < applied)
		lsn = applied;
	rc = write_meta_u64(txn, be, "next_stream", next_stream);
	if (rc == 0)
		rc = write_meta_u64(txn, be, "wal_lsn", lsn);
	if (rc == 0)
		rc = write_meta_u64(txn, be, "wal_offset", offset);
	if (rc)
		goto fail;
	/* The checkpoint comes after, in a transaction of its own: it must
	 * copy the meta pages of a snapshot that holds the replay. */
	rc = mdb_txn_commit(txn);
	if (rc == 0 && *replayed > 0)
		cairn__notify_bump(be->notify);
	return rc;
fail:
	mdb_txn_abort(txn);
	return rc;
}

/* Checkpoint in a write transaction of its own, naming lsn and start.
 * Returns 0 or an LMDB/errno code. */
static int
checkpoint_at(cairn__backend *be, uint64_t lsn, uint64_t start)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(be->env, NULL, 0, &txn);
	if (rc)
		return rc;
	rc = checkpoint(be, txn, lsn, start);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/*
 * Checkpoint the committed state in a write transaction of its own.  The
 * log position is read in that transaction, under LMDB's write lock, so
 * that it is the committed one even while other processes write (at
 * close, and after a cursor write that must be durable at once).
 * Returns 0 or an LMDB/errno code.
 */
static int
checkpoint_now(cairn__backend *be)
{
	uint64_t lsn, offset;
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(be->env, NULL, 0, &txn);
	if (rc)
		return rc;
	be->checkpointed_in_txn = false;
	rc = read_meta_u64_or(txn, be, "wal_lsn", &lsn, 0);
	if (rc == 0)
		rc = read_meta_u64_or(txn, be, "wal_offset", &offset,
		                      be->wal.data_start);
	if (rc == 0)
		rc = checkpoint(be, txn, lsn, offset);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	/* as after a failed batch (try_commit): the header may not name
	 * what the next writer finds committed */
	if (rc && be->checkpointed_in_txn)
		be->force_checkpoint = true;
	return rc;
}

/*
 * Follow the log's chain from the checkpoint c past the records the LMDB
 * file already holds: *applied is its log position, *start where the
 * first record it lacks begins (or where the next one will go).
 */
static int
chain_resume(cairn__backend *be, const wal_checkpoint *c, uint64_t *applied,
             uint64_t *start)
{
	uint64_t lsn, next;
	MDB_txn *txn;
	uint8_t *buf;
	size_t len;
	int rc;

	rc = mdb_txn_begin(be->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	rc = read_meta_u64_or(txn, be, "wal_lsn", applied, 0);
	mdb_txn_abort(txn);
	if (rc)
		return rc;
	lsn = c ? c->lsn : *applied;
	*start = c ? c->start : be->wal.data_start;
	while (lsn < *applied) {
		rc = wal_read_record(&be->wal, *start, lsn + 1, &buf, &len,
		                     &next);
		if (rc == ENOENT)
			break;
		if (rc)
			return rc;
		cairn__free(buf);
		lsn++;
		*start = next;
	}
	return 0;
}

/*
 * Recovery, alone with the store: first a checkpoint of the state as it
 * is (which syncs it and pins it) — nothing may commit while the
 * header's snapshot has no pin, or the commit could reuse its pages, and
 * a machine crash before the next checkpoint would restore a damaged
 * snapshot — then the replay, then a checkpoint of the result.
 */
static cairn_status
recover(cairn__backend *be, const wal_checkpoint *c)
{
	wal_checkpoint from;
	uint64_t replayed;
	cairn_status st;
	int rc;

	for (;;) {
		rc = chain_resume(be, c, &from.lsn, &from.start);
		if (rc == 0)
			rc = checkpoint_at(be, from.lsn, from.start);
		if (rc == 0)
			rc = replay_once(be, &from, &replayed);
		if (rc == 0 && replayed > 0)
			rc = checkpoint_now(be);
		if (rc != MDB_MAP_FULL)
			break;
		st = grow_map(be, be->map_size * 2);
		if (st != CAIRN_OK)
			return st;
	}
	if (rc == MDB_CORRUPTED)
		return cairn__error(CAIRN_CORRUPT, rc,
		                    "lmdb: '%s': a write-ahead log record does "
		                    "not apply to the store",
		                    be->path);
	if (rc > 0)
		return wal_fail(rc, "replaying");
	if (rc)
		return lmdb_error(rc, "replaying the write-ahead log");
	return CAIRN_OK;
}

/* Put LMDB's meta pages back to the checkpoint's copy (see the protocol
 * above); done alone, before LMDB opens the file. */
static int
restore_meta(const char *dir, const wal_checkpoint *c)
{
	char path[4096];
	size_t len = 2 * (size_t)c->psize;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	if (pwrite(fd, c->meta, len, 0) != (ssize_t)len || fdatasync(fd) != 0)
		rc = errno ? errno : EIO;
	close(fd);
	return rc;
}

/*
 * Open the log and decide, under flock, whether this process is alone
 * with the store.  Alone, it recovers; otherwise the others already did.
 * A machine crash with other processes present cannot be: the first
 * process after a boot is alone, and recovers before anyone else gets in.
 * On return *c is valid when *have_ckpt, and *restore says whether the
 * meta pages must be put back.
 */
static cairn_status
wal_attach(cairn__backend *be, bool *alone, wal_checkpoint *c, bool *have_ckpt,
           bool *restore)
{
	int rc;

	*alone = *have_ckpt = *restore = false;
	rc = wal_boot_id(be->boot_id);
	if (rc)
		return wal_fail(rc, "reading the boot id");
	rc = wal_open(&be->wal, be->path, be->psize, WAL_INITIAL_SIZE,
	              be->read_only);
	if (rc == ENOENT && be->read_only)
		return CAIRN_OK;
	if (rc)
		return wal_fail(rc, "opening");
	if (!be->read_only && flock(be->wal.fd, LOCK_EX | LOCK_NB) == 0)
		*alone = true;
	else if (flock(be->wal.fd, LOCK_SH) != 0)
		return wal_fail(errno, "locking");
	c->meta = be->ckpt_meta;
	rc = wal_read_checkpoint(&be->wal, c);
	if (rc && rc != ENOENT)
		return wal_fail(rc, "reading the checkpoint");
	*have_ckpt = rc == 0;
	if (!*have_ckpt || strcmp(c->boot_id, be->boot_id) == 0)
		return CAIRN_OK;
	if (be->read_only)
		return cairn__error(
		        CAIRN_IO, 0,
		        "lmdb: '%s' needs recovery after a restart; "
		        "open it once for writing",
		        be->path);
	if (!*alone) {
		/* Someone else is about to recover it (or a reader that will
		 * refuse, as above): wait for the store to ourselves. */
		flock(be->wal.fd, LOCK_UN);
		if (flock(be->wal.fd, LOCK_EX) != 0)
			return wal_fail(errno, "locking");
		*alone = true;
		rc = wal_read_checkpoint(&be->wal, c);
		if (rc)
			return wal_fail(rc, "reading the checkpoint");
		if (strcmp(c->boot_id, be->boot_id) == 0)
			return CAIRN_OK;
	}
	*restore = true;
	return CAIRN_OK;
}

/*
 * Open the commit notifier on NOTIFY_FILE in the store directory (see
 * src/core/notify.c): every commit of new events in any process bumps
 * the counter mapped from it, which wakes the subscribers of every
 * process at once.  A read-only open maps it read-only, or, when the
 * file is missing (no writer of this version has opened the store yet),
 * gets a notifier whose waiters poll.
 */
static cairn_status
notify_attach(cairn__backend *be)
{
	size_t size = strlen(be->path) + sizeof("/" NOTIFY_FILE);
	cairn_status st;
	char *path;

	path = cairn__malloc(size);
	if (path == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	snprintf(path, size, "%s/" NOTIFY_FILE, be->path);
	st = cairn__notify_open(path, be->read_only, &be->notify);
	cairn__free(path);
	return st;
}

/*
 * Create be->env and open it with a map of want bytes; *rc receives
 * mdb_env_open()'s result.  The default map (DEFAULT_MAP_SIZE) is only
 * address space, but a process may not have that much: under ulimit -v,
 * or under valgrind, whose address space is smaller, mmap() fails
 * (ENOMEM, or EINVAL from valgrind).  When the size is the default
 * (shrink), the open is tried again with a quarter of it, down to
 * MIN_FALLBACK_MAP_SIZE: the map grows later as the data does (grow_map),
 * so a smaller start costs nothing but remaps.  A size the caller chose
 * is kept as asked.
 */
#define MIN_FALLBACK_MAP_SIZE ((size_t)256 << 20)

static cairn_status
env_map(cairn__backend *be, unsigned flags, size_t want, bool shrink,
        int *rc)
{
	for (;;) {
		*rc = mdb_env_create(&be->env);
		if (*rc)
			return lmdb_error(*rc, "creating the environment");
		*rc = mdb_env_set_mapsize(be->env, want);
		if (*rc == 0)
			*rc = mdb_env_set_maxreaders(be->env, MAX_READERS);
		if (*rc == 0)
			*rc = mdb_env_set_maxdbs(be->env, MAX_DBS);
		if (*rc)
			return lmdb_error(*rc, "configuring the environment");
		*rc = mdb_env_open(be->env, be->path, flags, 0644);
		if (*rc == 0 || !shrink || want / 4 < MIN_FALLBACK_MAP_SIZE ||
		    (*rc != ENOMEM && *rc != EINVAL))
			return CAIRN_OK;
		/* A failed open leaves an environment only good to close. */
		mdb_env_close(be->env);
		be->env = NULL;
		want /= 4;
	}
}

/*
 * A data file shorter than its meta page says (a truncated copy, a disk
 * that lost writes that were never synced) would make LMDB read its
 * pages past the end of the mapped file: SIGBUS, not an error.  So the
 * size is checked against the last page the meta names before anything
 * is read.
 */
static cairn_status
check_file_size(cairn__backend *be, const MDB_envinfo *info, unsigned psize)
{
	char path[4096];
	struct stat sb;
	uint64_t need = ((uint64_t)info->me_last_pgno + 1) * psize;

	snprintf(path, sizeof(path), "%s/data.mdb", be->path);
	if (stat(path, &sb) != 0)
		return cairn__error(CAIRN_IO, errno, "lmdb: '%s': %s", path,
		                    strerror(errno));
	if ((uint64_t)sb.st_size >= need)
		return CAIRN_OK;
	return cairn__error(CAIRN_CORRUPT, 0,
	                    "lmdb: '%s' holds %" PRIu64 " bytes but its meta "
	                    "page names pages up to byte %" PRIu64
	                    ": the file is truncated",
	                    path, (uint64_t)sb.st_size, need);
}

/*
 * Give a new store its data file, whole, before anything relies on it.
 * LMDB writes a new file's meta pages and the first commits (the
 * databases, the format) with MDB_NOSYNC like every commit here, and the
 * first checkpoint syncs them; a power loss before that checkpoint left
 * a data.mdb with torn or missing pages and no checkpoint to restore
 * them from: a store that never opened again (CAIRN_CORRUPT, or SIGBUS
 * in LMDB; found by tests/powerloss).  So the file is built under
 * another name, with synchronous commits, then renamed into place and
 * the directory synced: data.mdb is either absent (the creation starts
 * over, its leftovers removed) or a complete empty store.  Only a
 * process alone with the store (it holds the log's lock) creates.
 */
#define DATA_FILE_NEW "data.mdb.new"

static cairn_status
create_data_file(cairn__backend *be)
{
	char path[4096], tmp[4096], lock[4096];
	MDB_env *env;
	uint32_t format;
	struct stat sb;
	cairn_status st;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", be->path) >=
	            sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/" DATA_FILE_NEW,
	                     be->path) >= sizeof(tmp) ||
	    (size_t)snprintf(lock, sizeof(lock), "%s/" DATA_FILE_NEW "-lock",
	                     be->path) >= sizeof(lock))
		return cairn__error(CAIRN_INVALID_URI, ENAMETOOLONG,
		                    "lmdb: the path '%s' is too long", be->path);
	if (stat(path, &sb) == 0)
		return CAIRN_OK;
	if (errno != ENOENT)
		return cairn__error(CAIRN_IO, errno, "lmdb: '%s': %s", path,
		                    strerror(errno));
	if ((unlink(tmp) != 0 && errno != ENOENT) ||
	    (unlink(lock) != 0 && errno != ENOENT))
		return cairn__error(CAIRN_IO, errno,
		                    "lmdb: cannot remove the unfinished '%s': %s",
		                    tmp, strerror(errno));
	rc = mdb_env_create(&env);
	if (rc)
		return lmdb_error(rc, "creating the environment");
	rc = mdb_env_set_mapsize(env, MIN_MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, MAX_DBS);
	if (rc == 0)
		rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOTLS, 0644);
	if (rc) {
		mdb_env_close(env);
		unlink(lock);
		return cairn__error(map_error(rc), rc,
		                    "lmdb: cannot create '%s': %s", tmp,
		                    mdb_strerror(rc));
	}
	/* open_dbs() works on be->env; its handles are made again on the
	 * real environment. */
	be->env = env;
	st = open_dbs(be, true, &format);
	be->env = NULL;
	mdb_env_close(env);
	unlink(lock);
	if (st != CAIRN_OK)
		return st;
	if (rename(tmp, path) != 0)
		return cairn__error(CAIRN_IO, errno,
		                    "lmdb: cannot rename '%s' to '%s': %s", tmp,
		                    path, strerror(errno));
	rc = wal_sync_dir(be->path);
	if (rc)
		return cairn__error(CAIRN_IO, rc, "lmdb: syncing '%s': %s",
		                    be->path, strerror(rc));
	return CAIRN_OK;
}

static cairn_status
env_open(cairn__backend *be, const cairn_options *opts)
{
	unsigned flags = MDB_NOTLS;
	bool alone = false, have_ckpt = false, restore = false;
	uint32_t format = 0;
	wal_checkpoint c;
	MDB_stat ms;
	size_t want;
	cairn_status st;
	int rc;

	be->psize = (uint32_t)sysconf(_SC_PAGESIZE);
	be->ckpt_meta = cairn__malloc(4 * (size_t)be->psize);
	if (be->ckpt_meta == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	be->wal.fd = -1;
	/* First: recovery's replay wakes subscribers too. */
	st = notify_attach(be);
	if (st != CAIRN_OK)
		return st;
	st = wal_attach(be, &alone, &c, &have_ckpt, &restore);
	if (st != CAIRN_OK)
		return st;
	be->wal_on = !be->read_only;
	be->wal_sync = opts->durability == CAIRN_DURABLE;
	/* Without its mark others take this writer for gone: they then
	 * checkpoint for themselves, which is always safe. */
	if (be->wal_on)
		be->marked = wal_mark_alive(&be->wal, be->token) == 0;
	if (restore && (rc = restore_meta(be->path, &c)) != 0)
		return wal_fail(rc, "restoring the checkpoint");
	if (alone && (st = create_data_file(be)) != CAIRN_OK)
		return st;

	if (opts->read_only)
		flags |= MDB_RDONLY;
	/* Durability comes from the log; LMDB syncs at checkpoints. */
	if (be->wal_on)
		flags |= MDB_NOSYNC;
	want = opts->initial_map_size ? opts->initial_map_size
	                              : DEFAULT_MAP_SIZE;
	if (want < MIN_MAP_SIZE)
		want = MIN_MAP_SIZE;
	st = env_map(be, flags, want, opts->initial_map_size == 0, &rc);
	if (st != CAIRN_OK)
		return st;
	if (rc) {
		cairn_status code = map_error(rc);
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
			code = CAIRN_CORRUPT;
		return cairn__error(code, rc, "lmdb: cannot open '%s': %s",
		                    be->path, mdb_strerror(rc));
	}
	mdb_env_stat(be->env, &ms);
	{
		/* An existing file larger than the wish sets the size. */
		MDB_envinfo info;
		mdb_env_info(be->env, &info);
		be->map_size = info.me_mapsize;
		st = check_file_size(be, &info, ms.ms_psize);
		if (st != CAIRN_OK)
			return st;
	}
	/* Reader slots of processes that died would stop page reuse. */
	mdb_reader_check(be->env, NULL);
	if (be->wal_on && ms.ms_psize != be->psize)
		return cairn__error(
		        CAIRN_UNSUPPORTED, 0,
		        "lmdb: '%s' has %u-byte pages, this machine "
		        "%u-byte ones",
		        be->path, ms.ms_psize, be->psize);
	st = open_dbs(be, alone, &format);
	if (st != CAIRN_OK)
		return st;
	if (alone) {
		st = recover(be, have_ckpt ? &c : NULL);
		if (st == CAIRN_OK && format == STORE_FORMAT_NO_INDEXES)
			st = upgrade_store(be);
		if (st != CAIRN_OK)
			return st;
		flock(be->wal.fd, LOCK_SH);
	}
	return CAIRN_OK;
}

static void
backend_free(cairn__backend *be)
{
	/* A last checkpoint, so that the next open finds nothing to
	 * replay; not after a failure that left the state unknown (the
	 * next open recovers from the log instead). */
	if (be->env) {
		if (be->wal_on && !engine_failed(be))
			checkpoint_now(be);
		/* The mark goes before the pin: whoever sees this writer
		 * alive may rely on its pin (owner_alive). */
		if (be->marked)
			wal_unmark_alive(&be->wal, be->token);
		if (be->pin)
			mdb_txn_abort(be->pin);
		mdb_env_close(be->env);
	}
	wal_close(&be->wal);
	cairn__notify_close(be->notify);
	cairn__free(be->ckpt_meta);
	cairn__free(be->wbuf);
	pthread_cond_destroy(&be->gate_cond);
	pthread_mutex_destroy(&be->gate_mutex);
	pthread_mutex_destroy(&be->write_mutex);
	cairn__free(be);
}

static cairn_status
lmdb_open(const char *path, const cairn_options *opts, cairn__backend **out)
{
	cairn__backend *be;
	struct stat sb;
	size_t len = strlen(path);
	cairn_status st;

	if (len == 0)
		return cairn__error(CAIRN_INVALID_URI, 0,
		                    "lmdb: the URI names no directory; write "
		                    "e.g. 'lmdb:./cairn-data'");
	if (opts->max_event_size > LMDB_MAX_EVENT_SIZE)
		return cairn__error(CAIRN_INVALID, 0,
		                    "lmdb: max_event_size may be at most %zu",
		                    LMDB_MAX_EVENT_SIZE);
	if (!opts->read_only && mkdir(path, 0755) != 0 && errno != EEXIST)
		return cairn__error(CAIRN_IO, errno,
		                    "lmdb: cannot create directory '%s': %s",
		                    path, strerror(errno));
	if (stat(path, &sb) != 0)
		return cairn__error(
		        errno == ENOENT ? CAIRN_NOT_FOUND : CAIRN_IO, errno,
		        "lmdb: cannot open '%s': %s", path, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return cairn__error(CAIRN_IO, ENOTDIR,
		                    "lmdb: '%s' is not a directory", path);

	pthread_mutex_lock(&registry_mutex);
	for (be = registry; be; be = be->next)
		if (be->dev == sb.st_dev && be->ino == sb.st_ino)
			break;
	if (be) {
		/* One engine serves both handles: the second must not ask
		 * for a durability or access the engine does not give. */
		if (be->read_only != (opts->read_only != 0) ||
		    be->wal_sync != (opts->durability == CAIRN_DURABLE)) {
			pthread_mutex_unlock(&registry_mutex);
			return cairn__error(
			        CAIRN_INVALID, 0,
			        "lmdb: '%s' is already open in this "
			        "process with other options "
			        "(durability or read-only)",
			        path);
		}
		be->refs++;
		pthread_mutex_unlock(&registry_mutex);
		*out = be;
		return CAIRN_OK;
	}
	be = cairn__calloc(1, sizeof(*be) + len + 1);
	if (be == NULL) {
		pthread_mutex_unlock(&registry_mutex);
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	}
	memcpy(be->path, path, len + 1);
	be->dev = sb.st_dev;
	be->ino = sb.st_ino;
	be->refs = 1;
	be->read_only = opts->read_only != 0;
	be->renew_every = opts->read_renew_every;
	pthread_mutex_init(&be->gate_mutex, NULL);
	pthread_mutex_init(&be->write_mutex, NULL);
	pthread_cond_init(&be->gate_cond, NULL);
	st = cairn_uuid_generate((cairn_uuid *)be->token) == CAIRN_OK
	             ? env_open(be, opts)
	             : CAIRN_IO;
	if (st == CAIRN_OK)
		st = cairn__group_init(&be->group, commit_batch, be);
	if (st != CAIRN_OK) {
		pthread_mutex_unlock(&registry_mutex);
		be->wal_on = false;
		backend_free(be);
		return st;
	}
	be->next = registry;
	registry = be;
	pthread_mutex_unlock(&registry_mutex);
	*out = be;
	return CAIRN_OK;
}

static void
lmdb_close(cairn__backend *be)
{
	cairn__backend **pp;

	pthread_mutex_lock(&registry_mutex);
	if (--be->refs > 0) {
		pthread_mutex_unlock(&registry_mutex);
		return;
	}
	for (pp = &registry; *pp; pp = &(*pp)->next)
		if (*pp == be) {
			*pp = be->next;
			break;
		}
	/* Freed under the registry lock: an open of the same store in the
	 * meantime would make a second environment on the same files,
	 * which LMDB forbids within a process. */
	cairn__group_destroy(&be->group);
	backend_free(be);
	pthread_mutex_unlock(&registry_mutex);
}

const cairn__backend_ops cairn__lmdb_backend = {
        CAIRN__BACKEND_OPS_VERSION,
        "lmdb",
        lmdb_open,
        lmdb_close,
        lmdb_append,
        lmdb_read_stream,
        lmdb_read_all,
        lmdb_stream_version,
        lmdb_head,
        lmdb_list_streams,
        lmdb_stats,
        lmdb_verify,
        lmdb_snapshot_put,
        lmdb_snapshot_get,
        NULL, /* note_retry */
        lmdb_notifier,
        lmdb_cursor_get,
        lmdb_cursor_put,
        lmdb_cursor_delete,
        lmdb_cursor_list,
};
