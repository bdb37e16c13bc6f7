/*
 * memory.c -- the in-memory reference backend ("memory:").
 *
 * Every open is a fresh, empty store that lives until it is closed.  This
 * engine is the executable statement of the backend contract, so it favours
 * plain structures whose invariants verify() can check one by one:
 *
 *   - An event is one immutable heap block (the cairn_event followed by
 *     copies of its tags array, data, metadata, stream, type and tag
 *     strings).  Once committed it never moves, so the pointer an iterator
 *     hands out stays valid while the store is open, which is longer than
 *     the API promises.
 *   - The global log is a directory of fixed-size chunks of event pointers:
 *     growing it copies the directory, never an event pointer's slot.
 *   - An id table (open addressing, uuid -> event) serves idempotency.
 *   - A stream record holds its metadata and the positions of its events,
 *     indexed by version - 1.  Records are found by a hash table (O(1)
 *     stream_version) and kept in byte order by a skip list (paged
 *     listing).  Records are never freed before close, and a record is its
 *     own skip list node, so a listing can resume from the node it last
 *     yielded.
 *   - DCB indexes: per event type and per tag, a hash table maps the
 *     string to the positions of its events in commit order (a growable
 *     array, appended to at commit).  A condition or a query read finds
 *     its first candidate after a position by binary search and walks on
 *     from there, so it costs O(log n) plus the candidates it meets.
 *   - Snapshots: a hash table keyed by (stream, schema) keeps the newest.
 *
 * One rwlock guards it all.  Appends hold it exclusively for their whole
 * check-and-write, so they are atomic to readers.  Iterators take it
 * shared only inside next(), and remember where they are by number
 * (version, position), never by a pointer into an array that an append
 * may reallocate.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* glibc's writer-preferring rwlock: see lock_init() */
#endif

#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Event pointers per chunk of the global log (32 KiB on 64-bit). */
#define MEM_CHUNK_SHIFT 12
#define MEM_CHUNK_SIZE ((uint64_t)1 << MEM_CHUNK_SHIFT)
#define MEM_CHUNK_MASK (MEM_CHUNK_SIZE - 1)

/* Skip list height bound; a level is kept with probability 1/4, so 32
 * levels serve far more streams than memory can hold. */
#define MEM_SKIP_MAX 32

/* Hash tables start at this many slots and are kept at most half full,
 * which keeps linear probe runs short. */
#define MEM_TABLE_MIN 64

/* Appends naming at most this many streams, and giving their events at
 * most this many types and tags in all, need no scratch allocation. */
#define MEM_PREP_STACK 8
#define MEM_LISTS_STACK 64

/* Room for one problem sentence of verify(), stream ids included. */
#define MEM_PROBLEM_MAX 640

/* A query read that meets this many candidates in a row that do not
 * match lets writers in before it goes on (see plan_next()). */
#define MEM_SCAN_BATCH 1024

typedef struct mem_stream {
	const char *id; /* NUL-terminated, inside this block */
	size_t id_len;
	uint64_t hash;
	uint64_t version;
	uint64_t last_position;
	int64_t created_ns;
	int64_t updated_ns;
	uint64_t *positions; /* positions[v - 1] holds version v */
	uint64_t positions_cap;
	int level;
	struct mem_stream *next[]; /* skip list successors, level of them */
} mem_stream;

typedef struct mem_slot {
	uint64_t hash;
	void *obj; /* NULL: the slot is free */
} mem_slot;

typedef struct mem_table {
	mem_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t count;
} mem_table;

typedef struct mem_cursor {
	char *name; /* NUL-terminated */
	size_t name_len;
	uint64_t position;
	int64_t updated_ns;
} mem_cursor;

struct cairn__backend {
	pthread_rwlock_t lock;
	uint64_t head; /* newest position; 0 when empty */

	cairn_event ***chunks; /* the log: chunks[i] holds MEM_CHUNK_SIZE */
	size_t nchunks;
	size_t chunks_cap;

	mem_table ids;       /* uuid -> cairn_event */
	mem_table streams;   /* stream id -> mem_stream */
	mem_table types;     /* event type -> mem_postings */
	mem_table tags;      /* tag -> mem_postings */
	mem_table snapshots; /* (stream, schema) -> mem_snapshot */

	mem_stream *skip_head[MEM_SKIP_MAX];
	int skip_level;

	/* Durable subscription cursors, sorted by name: few, so a sorted
	 * array under their own lock (never held with the store's). */
	pthread_mutex_t cursors_lock;
	mem_cursor *cursors;
	size_t ncursors;
	size_t cursors_cap;

	uint64_t seed;  /* of both hashes, fixed at open */
	uint64_t rng;   /* skip list levels; under the write lock */
	uint64_t bytes; /* heap bytes held, for stats() */
};

/* The positions of the events of one type, or carrying one tag, in
 * commit order.  A tag listed twice on one event is indexed once. */
typedef struct mem_postings {
	uint64_t hash;
	uint64_t *pos;
	size_t count;
	size_t cap;
	size_t pending; /* room asked for by the append in progress */
	size_t key_len;
	char key[]; /* NUL-terminated */
} mem_postings;

/* The newest snapshot of one stream under one schema. */
typedef struct mem_snapshot {
	uint64_t hash;
	uint64_t version;
	void *blob;
	size_t len;
	size_t stream_len;
	size_t schema_len;
	char key[]; /* the stream id, NUL, the schema, NUL */
} mem_snapshot;

/* A type or tag of a query, hashed once. */
typedef struct mem_key {
	const char *s;
	size_t len;
	uint64_t hash;
} mem_key;

/* One query item as the indexes see it. */
typedef struct mem_plan_item {
	const mem_key *types;
	size_t ntypes;
	const mem_key *tags;
	size_t ntags;
} mem_plan_item;

/*
 * A query prepared for the indexes: its names hashed, and a copy of the
 * query itself (query.items[i] is items[i]) to check candidates with
 * cairn_query_match().  One heap block, owing nothing to the caller.
 */
typedef struct mem_plan {
	cairn_query query;
	const mem_plan_item *items;
	size_t nitems;
} mem_plan;

/* What an append learns about one write before it changes anything. */
typedef struct mem_prep {
	mem_stream *s;
	uint64_t hash;
	bool created;
} mem_prep;

/* ---- Hashing ---- */

static uint64_t
load64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Ids and stream names may come from the network, so both hashes are
 * keyed with a per-store random seed: a client cannot precompute keys
 * that pile up in one probe run.
 */
static uint64_t
hash_id(uint64_t seed, const cairn_uuid *id)
{
	return cairn__mix64(cairn__mix64(load64(id->bytes) ^ seed) ^ load64(id->bytes + 8));
}

static uint64_t
hash_stream(uint64_t seed, const char *s, size_t len)
{
	uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ULL);
	uint64_t tail = 0;

	for (; len >= 8; s += 8, len -= 8)
		h = cairn__mix64(h ^ load64(s));
	memcpy(&tail, s, len);
	return cairn__mix64(h ^ tail);
}

/* xorshift64*: cheap, and good enough to shape a skip list. */
static uint64_t
rng_next(cairn__backend *be)
{
	be->rng ^= be->rng >> 12;
	be->rng ^= be->rng << 25;
	be->rng ^= be->rng >> 27;
	return be->rng * 0x2545f4914f6cdd1dULL;
}

/* Byte order, a proper prefix before its extensions (memcmp order). */
static int
id_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* ---- The global log ---- */

static cairn_event **
log_slot(const cairn__backend *be, uint64_t pos)
{
	uint64_t i = pos - 1;

	return &be->chunks[i >> MEM_CHUNK_SHIFT][i & MEM_CHUNK_MASK];
}

/*
 * Make room for n events after the head.  Chunks once allocated stay
 * allocated, so a failed append merely leaves spare capacity behind.
 */
static bool
log_reserve(cairn__backend *be, size_t n)
{
	uint64_t need = (be->head + n + MEM_CHUNK_SIZE - 1) >> MEM_CHUNK_SHIFT;

	if (need > be->chunks_cap) {
		size_t cap = be->chunks_cap ? be->chunks_cap * 2 : 16;
		cairn_event ***dir;

		while (cap < need)
			cap *= 2;
		if (cap > SIZE_MAX / sizeof(*dir))
			return false;
		dir = cairn__realloc(be->chunks, cap * sizeof(*dir));
		if (dir == NULL)
			return false;
		be->bytes += (cap - be->chunks_cap) * sizeof(*dir);
		be->chunks = dir;
		be->chunks_cap = cap;
	}
	while (be->nchunks < need) {
		cairn_event **chunk = cairn__malloc(MEM_CHUNK_SIZE * sizeof(*chunk));

		if (chunk == NULL)
			return false;
		be->bytes += MEM_CHUNK_SIZE * sizeof(*chunk);
		be->chunks[be->nchunks++] = chunk;
	}
	return true;
}

/* ---- Hash tables ---- */

/*
 * Open addressing with linear probing.  A slot keeps the key's hash next
 * to the object so that a probe rejects a mismatch without touching the
 * object, which would be a cache miss; a lookup of an absent key (the
 * common case when checking new ids) then reads only the slot array.
 */
static void
table_place(mem_slot *slots, size_t cap, uint64_t hash, void *obj)
{
	size_t mask = cap - 1, i;

	for (i = hash & mask; slots[i].obj; i = (i + 1) & mask)
		;
	slots[i].hash = hash;
	slots[i].obj = obj;
}

/* Grow (rehash) so that n more entries fit within the load bound. */
static bool
table_reserve(cairn__backend *be, mem_table *t, size_t n)
{
	size_t need = t->count + n, cap, i;
	mem_slot *slots;

	if (need <= t->cap / 2)
		return true;
	if (need > SIZE_MAX / 4 / sizeof(*slots))
		return false;
	cap = t->cap ? t->cap : MEM_TABLE_MIN;
	while (cap / 2 < need)
		cap *= 2;
	slots = cairn__calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return false;
	for (i = 0; i < t->cap; i++)
		if (t->slots[i].obj)
			table_place(slots, cap, t->slots[i].hash,
			            t->slots[i].obj);
	cairn__free(t->slots);
	be->bytes += (cap - t->cap) * sizeof(*slots);
	t->slots = slots;
	t->cap = cap;
	return true;
}

static cairn_event *
ids_find(const cairn__backend *be, const cairn_uuid *id)
{
	const mem_table *t = &be->ids;
	uint64_t hash;
	size_t mask, i;

	if (t->cap == 0)
		return NULL;
	hash = hash_id(be->seed, id);
	mask = t->cap - 1;
	for (i = hash & mask; t->slots[i].obj; i = (i + 1) & mask) {
		cairn_event *ev = t->slots[i].obj;

		if (t->slots[i].hash == hash &&
		    memcmp(ev->id.bytes, id->bytes, sizeof(id->bytes)) == 0)
			return ev;
	}
	return NULL;
}

/* Index a committed event; the caller has reserved room. */
static void
ids_insert(cairn__backend *be, cairn_event *ev)
{
	table_place(be->ids.slots, be->ids.cap, hash_id(be->seed, &ev->id), ev);
	be->ids.count++;
}

static mem_stream *
streams_find(const cairn__backend *be, const char *id, size_t len,
             uint64_t hash)
{
	const mem_table *t = &be->streams;
	size_t mask, i;

	if (t->cap == 0)
		return NULL;
	mask = t->cap - 1;
	for (i = hash & mask; t->slots[i].obj; i = (i + 1) & mask) {
		mem_stream *s = t->slots[i].obj;

		if (t->slots[i].hash == hash && s->id_len == len &&
		    memcmp(s->id, id, len) == 0)
			return s;
	}
	return NULL;
}

/* ---- Streams: skip list in byte order ---- */

/*
 * For every level, the successor array whose entry at that level is the
 * last link before key (before or at key when strict).  Working on
 * successor arrays rather than nodes lets the head be treated like any
 * node.
 */
static void
skip_path(cairn__backend *be, const char *key, size_t len, bool strict,
          mem_stream **path[MEM_SKIP_MAX])
{
	mem_stream **succ = be->skip_head;
	int lv;

	for (lv = MEM_SKIP_MAX - 1; lv >= 0; lv--) {
		for (;;) {
			mem_stream *n = succ[lv];
			int c;

			if (n == NULL)
				break;
			c = id_cmp(n->id, n->id_len, key, len);
			if (c > 0 || (c == 0 && !strict))
				break;
			succ = n->next;
		}
		path[lv] = succ;
	}
}

/* The first stream whose id is >= key (> key when strict), or NULL. */
static mem_stream *
skip_seek(cairn__backend *be, const char *key, size_t len, bool strict)
{
	mem_stream **succ = be->skip_head;
	int lv;

	for (lv = be->skip_level - 1; lv >= 0; lv--) {
		for (;;) {
			mem_stream *n = succ[lv];
			int c;

			if (n == NULL)
				break;
			c = id_cmp(n->id, n->id_len, key, len);
			if (c > 0 || (c == 0 && !strict))
				break;
			succ = n->next;
		}
	}
	return succ[0];
}

/* Link s in; the caller has checked that its id is not in the list. */
static void
skip_insert(cairn__backend *be, mem_stream *s)
{
	mem_stream **path[MEM_SKIP_MAX];
	int lv;

	skip_path(be, s->id, s->id_len, false, path);
	for (lv = 0; lv < s->level; lv++) {
		s->next[lv] = path[lv][lv];
		path[lv][lv] = s;
	}
	if (s->level > be->skip_level)
		be->skip_level = s->level;
}

static int
skip_random_level(cairn__backend *be)
{
	uint64_t r = rng_next(be);
	int level = 1;

	while (level < MEM_SKIP_MAX && (r & 3) == 0) {
		level++;
		r >>= 2;
	}
	return level;
}

/* ---- Stream records ---- */

/* A new, unlinked record for id, with no events yet. */
static mem_stream *
stream_new(cairn__backend *be, const char *id, size_t len, uint64_t hash)
{
	int level = skip_random_level(be);
	size_t size = sizeof(mem_stream) +
	              (size_t)level * sizeof(mem_stream *) + len + 1;
	mem_stream *s = cairn__calloc(1, size);
	char *copy;

	if (s == NULL)
		return NULL;
	copy = (char *)(s->next + level);
	memcpy(copy, id, len);
	copy[len] = '\0';
	s->id = copy;
	s->id_len = len;
	s->hash = hash;
	s->level = level;
	return s;
}

/* Bytes of a record's own block, for the stats() estimate; its
 * positions array is counted as it grows. */
static uint64_t
stream_bytes(const mem_stream *s)
{
	return sizeof(*s) + (uint64_t)s->level * sizeof(mem_stream *) +
	       s->id_len + 1;
}

static void
stream_free(mem_stream *s)
{
	cairn__free(s->positions);
	cairn__free(s);
}

/*
 * Room for n more versions.  The array grows geometrically so appends
 * are amortised O(1), but starts exact: most streams are short.
 */
static bool
positions_reserve(cairn__backend *be, mem_stream *s, size_t n)
{
	uint64_t need = s->version + n, cap;
	uint64_t *p;

	if (need <= s->positions_cap)
		return true;
	cap = s->positions_cap * 2;
	if (cap < need)
		cap = need;
	if (cap > SIZE_MAX / sizeof(*p))
		return false;
	p = cairn__realloc(s->positions, (size_t)cap * sizeof(*p));
	if (p == NULL)
		return false;
	be->bytes += (cap - s->positions_cap) * sizeof(*p);
	s->positions = p;
	s->positions_cap = cap;
	return true;
}

/* ---- Events ---- */

static bool
size_add(size_t *acc, size_t n)
{
	if (n > SIZE_MAX - *acc)
		return false;
	*acc += n;
	return true;
}

/*
 * Copy one new event, with everything it points to, into a single block
 * whose final fields are set already: it is complete before it is linked.
 * Data follows the tags array directly so that it is pointer-aligned.
 */
static cairn_event *
event_new(const cairn__write *w, size_t k, uint64_t version, uint64_t position,
          int64_t now, size_t *bytes)
{
	const cairn_new_event *ne = &w->events[k];
	size_t type_len = strlen(ne->type), size = sizeof(cairn_event), i;
	const char **tagv;
	cairn_event *ev;
	char *p;

	if (!size_add(&size, ne->ntags * sizeof(char *)) ||
	    !size_add(&size, ne->data_len) ||
	    !size_add(&size, ne->metadata_len) ||
	    !size_add(&size, w->stream_len + 1) ||
	    !size_add(&size, type_len + 1))
		return NULL;
	for (i = 0; i < ne->ntags; i++)
		if (!size_add(&size, strlen(ne->tags[i]) + 1))
			return NULL;
	ev = cairn__malloc(size);
	if (ev == NULL)
		return NULL;
	*bytes += size;

	p = (char *)(ev + 1);
	tagv = (const char **)(void *)p;
	p += ne->ntags * sizeof(char *);
	ev->data = p;
	ev->data_len = ne->data_len;
	if (ne->data_len)
		memcpy(p, ne->data, ne->data_len);
	p += ne->data_len;
	ev->metadata = p;
	ev->metadata_len = ne->metadata_len;
	if (ne->metadata_len)
		memcpy(p, ne->metadata, ne->metadata_len);
	p += ne->metadata_len;
	memcpy(p, w->stream, w->stream_len);
	p[w->stream_len] = '\0';
	ev->stream = p;
	ev->stream_len = w->stream_len;
	p += w->stream_len + 1;
	memcpy(p, ne->type, type_len + 1);
	ev->type = p;
	ev->type_len = type_len;
	p += type_len + 1;
	for (i = 0; i < ne->ntags; i++) {
		size_t len = strlen(ne->tags[i]);

		memcpy(p, ne->tags[i], len + 1);
		tagv[i] = p;
		p += len + 1;
	}
	ev->tags = tagv;
	ev->ntags = ne->ntags;
	ev->id = w->ids[k];
	ev->version = version;
	ev->position = position;
	ev->time_ns = now;
	return ev;
}

/* ---- DCB indexes ---- */

static mem_postings *
postings_find(const mem_table *t, const char *key, size_t len, uint64_t hash)
{
	size_t mask, i;

	if (t->cap == 0)
		return NULL;
	mask = t->cap - 1;
	for (i = hash & mask; t->slots[i].obj; i = (i + 1) & mask) {
		mem_postings *p = t->slots[i].obj;

		if (t->slots[i].hash == hash && p->key_len == len &&
		    memcmp(p->key, key, len) == 0)
			return p;
	}
	return NULL;
}

/*
 * Make room in key's list for one more position of the append in
 * progress, creating the list when the key is new; NULL: out of memory.
 * A list created for an append that then fails stays, empty, which no
 * reader can tell from an absent one.
 */
static mem_postings *
postings_want(cairn__backend *be, mem_table *t, const char *key)
{
	size_t len = strlen(key), cap;
	uint64_t hash = hash_stream(be->seed, key, len), *pos;
	mem_postings *p = postings_find(t, key, len, hash);

	if (p == NULL) {
		if (!table_reserve(be, t, 1))
			return NULL;
		p = cairn__calloc(1, sizeof(*p) + len + 1);
		if (p == NULL)
			return NULL;
		p->hash = hash;
		p->key_len = len;
		memcpy(p->key, key, len + 1);
		table_place(t->slots, t->cap, hash, p);
		t->count++;
		be->bytes += sizeof(*p) + len + 1;
	}
	if (p->count + p->pending + 1 > p->cap) {
		cap = p->cap ? p->cap * 2 : 4;
		if (cap < p->count + p->pending + 1)
			cap = p->count + p->pending + 1;
		if (cap > SIZE_MAX / sizeof(*pos))
			return NULL;
		pos = cairn__realloc(p->pos, cap * sizeof(*pos));
		if (pos == NULL)
			return NULL;
		be->bytes += (cap - p->cap) * sizeof(*pos);
		p->pos = pos;
		p->cap = cap;
	}
	p->pending++;
	return p;
}

/* The number of list entries an append needs: one per event for its
 * type, one per tag. */
static size_t
index_keys(const cairn__append_req *req)
{
	size_t wi, k, n = 0;

	for (wi = 0; wi < req->nwrites; wi++)
		for (k = 0; k < req->writes[wi].nevents; k++)
			n += 1 + req->writes[wi].events[k].ntags;
	return n;
}

/*
 * Room in every list the request's events go to, the lists noted in
 * lists (index_keys() of them, in event order: type, then tags) so that
 * linking needs no second lookup.  *nlists counts the lists noted; on
 * false (out of memory) index_abort() must follow.
 */
static bool
index_reserve(cairn__backend *be, const cairn__append_req *req,
              mem_postings **lists, size_t *nlists)
{
	size_t wi, k, i;

	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];

		for (k = 0; k < w->nevents; k++) {
			const cairn_new_event *ne = &w->events[k];

			lists[*nlists] =
			        postings_want(be, &be->types, ne->type);
			if (lists[*nlists] == NULL)
				return false;
			++*nlists;
			for (i = 0; i < ne->ntags; i++) {
				lists[*nlists] = postings_want(be, &be->tags,
				                               ne->tags[i]);
				if (lists[*nlists] == NULL)
					return false;
				++*nlists;
			}
		}
	}
	return true;
}

/* Forget what a failed append asked index_reserve() for. */
static void
index_abort(mem_postings **lists, size_t nlists)
{
	size_t i;

	for (i = 0; i < nlists; i++)
		lists[i]->pending = 0;
}

/* Append a position; room was reserved.  Positions arrive in increasing
 * order, so a repeat (one tag twice on an event) is the last entry. */
static void
postings_push(mem_postings *p, uint64_t position)
{
	p->pending = 0;
	if (p->count > 0 && p->pos[p->count - 1] == position)
		return;
	p->pos[p->count++] = position;
}

/* Index a committed event under its type and tags: the next 1 + ntags
 * lists that index_reserve() noted, from *next on. */
static void
index_link(mem_postings **lists, size_t *next, const cairn_event *ev)
{
	size_t i;

	for (i = 0; i <= ev->ntags; i++)
		postings_push(lists[(*next)++], ev->position);
}

/* The index of the first entry of p at or after position from. */
static size_t
postings_lower(const mem_postings *p, uint64_t from)
{
	size_t lo = 0, hi = p->count, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (p->pos[mid] < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first position of p from `from` on (backwards: the last at or
 * before it), or 0 when there is none. */
static uint64_t
postings_seek(const mem_postings *p, uint64_t from, bool backwards)
{
	size_t i = postings_lower(p, from);

	if (!backwards)
		return i < p->count ? p->pos[i] : 0;
	if (i < p->count && p->pos[i] == from)
		return from;
	return i > 0 ? p->pos[i - 1] : 0;
}

/* The list of a tag-only item to walk: the shortest of its tags', since
 * every match is in each; NULL when a tag was never used (no match). */
static const mem_postings *
shortest_tag_list(const cairn__backend *be, const mem_plan_item *item)
{
	const mem_postings *best = NULL, *p;
	size_t i;

	for (i = 0; i < item->ntags; i++) {
		p = postings_find(&be->tags, item->tags[i].s, item->tags[i].len,
		                  item->tags[i].hash);
		if (p == NULL)
			return NULL;
		if (best == NULL || p->count < best->count)
			best = p;
	}
	return best;
}

/*
 * Where to look for an item's candidates.  Every match is in each of
 * its tags' lists and in the union of its types' lists, so either will
 * do; the smaller holds fewer non-matching candidates to skip.  Returns
 * false when the item can match nothing (one of its tags was never
 * used); else *tag_list is the tag list to walk, or NULL to walk the
 * types' lists.
 */
static bool
item_source(const cairn__backend *be, const mem_plan_item *item,
            const mem_postings **tag_list)
{
	const mem_postings *p;
	size_t i, total = 0;

	*tag_list = NULL;
	if (item->ntags > 0) {
		*tag_list = shortest_tag_list(be, item);
		if (*tag_list == NULL)
			return false;
	}
	if (item->ntypes == 0 || *tag_list == NULL)
		return true;
	for (i = 0; i < item->ntypes; i++) {
		p = postings_find(&be->types, item->types[i].s,
		                  item->types[i].len, item->types[i].hash);
		if (p != NULL)
			total += p->count;
	}
	if (total < (*tag_list)->count)
		*tag_list = NULL;
	return true;
}

/* ---- Query plans ---- */

static size_t
align_up(size_t n, size_t align)
{
	return (n + align - 1) / align * align;
}

/* Copy n names into the plan: hashed keys, the pointer array the copied
 * query uses, and the strings; the cursors move past what was used. */
static void
plan_names(const cairn__backend *be, const char *const *names, size_t n,
           mem_key **keys, const char ***ptrs, char **text)
{
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = strlen(names[i]);
		memcpy(*text, names[i], len + 1);
		(*keys)[i].s = *text;
		(*keys)[i].len = len;
		(*keys)[i].hash = hash_stream(be->seed, *text, len);
		(*ptrs)[i] = *text;
		*text += len + 1;
	}
	*keys += n;
	*ptrs += n;
}

/*
 * Prepare a query (validated by the core) for the indexes, in one block:
 * the plan, its keys, its items, the copied query's items, their name
 * pointers, and the strings.  Names are hashed here, outside the lock.
 */
static cairn_status
plan_new(const cairn__backend *be, const cairn_query *q, mem_plan **out)
{
	size_t i, nkeys = 0, text = 0, off_keys, off_items, off_qitems;
	size_t off_ptrs, off_text;
	mem_plan_item *items;
	cairn_query_item *qitems;
	const char **ptrs;
	mem_key *keys;
	mem_plan *plan;
	char *p;

	for (i = 0; i < q->nitems; i++) {
		const cairn_query_item *it = &q->items[i];
		size_t k;

		nkeys += it->ntypes + it->ntags;
		for (k = 0; k < it->ntypes; k++)
			text += strlen(it->types[k]) + 1;
		for (k = 0; k < it->ntags; k++)
			text += strlen(it->tags[k]) + 1;
	}
	/* The caller's arrays hold nkeys pointers and the text, so these
	 * sums are far from overflowing; the bound keeps it obvious. */
	if (nkeys > SIZE_MAX / 4 / sizeof(mem_key) || text > SIZE_MAX / 4)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "memory store: query too large");
	off_keys = align_up(sizeof(*plan), _Alignof(mem_key));
	off_items = align_up(off_keys + nkeys * sizeof(*keys),
	                     _Alignof(mem_plan_item));
	off_qitems = align_up(off_items + q->nitems * sizeof(*items),
	                      _Alignof(cairn_query_item));
	off_ptrs = align_up(off_qitems + q->nitems * sizeof(*qitems),
	                    _Alignof(const char *));
	off_text = off_ptrs + nkeys * sizeof(*ptrs);
	plan = cairn__malloc(off_text + text);
	if (plan == NULL)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "memory store: out of memory");
	keys = (mem_key *)(void *)((char *)plan + off_keys);
	items = (mem_plan_item *)(void *)((char *)plan + off_items);
	qitems = (cairn_query_item *)(void *)((char *)plan + off_qitems);
	ptrs = (const char **)(void *)((char *)plan + off_ptrs);
	p = (char *)plan + off_text;
	for (i = 0; i < q->nitems; i++) {
		const cairn_query_item *it = &q->items[i];

		items[i].types = keys;
		items[i].ntypes = it->ntypes;
		qitems[i].types = ptrs;
		qitems[i].ntypes = it->ntypes;
		plan_names(be, it->types, it->ntypes, &keys, &ptrs, &p);
		items[i].tags = keys;
		items[i].ntags = it->ntags;
		qitems[i].tags = ptrs;
		qitems[i].ntags = it->ntags;
		plan_names(be, it->tags, it->ntags, &keys, &ptrs, &p);
	}
	plan->items = items;
	plan->nitems = q->nitems;
	plan->query.items = qitems;
	plan->query.nitems = q->nitems;
	*out = plan;
	return CAIRN_OK;
}

/*
 * The first position from `from` on (backwards: the last at or before
 * it) that may match item, by its indexes: a candidate, not yet checked
 * against the item's other conditions; 0 when there is none.  The lists
 * are item_source()'s; an item with neither types nor tags matches every
 * event.
 */
static uint64_t
item_seek(const cairn__backend *be, const mem_plan_item *item, uint64_t from,
          bool backwards)
{
	const mem_postings *p;
	uint64_t best = 0, c;
	size_t i;

	if (item->ntypes == 0 && item->ntags == 0) {
		if (!backwards)
			return from <= be->head ? from : 0;
		return from <= be->head ? from : be->head;
	}
	if (!item_source(be, item, &p))
		return 0;
	if (p != NULL)
		return postings_seek(p, from, backwards);
	for (i = 0; i < item->ntypes; i++) {
		p = postings_find(&be->types, item->types[i].s,
		                  item->types[i].len, item->types[i].hash);
		if (p == NULL)
			continue;
		c = postings_seek(p, from, backwards);
		if (c != 0 && (best == 0 || (backwards ? c > best : c < best)))
			best = c;
	}
	return best;
}

/* The nearest candidate of any item of the plan (see item_seek()). */
static uint64_t
plan_seek(const cairn__backend *be, const mem_plan *plan, uint64_t from,
          bool backwards)
{
	uint64_t best = 0, c;
	size_t i;

	for (i = 0; i < plan->nitems; i++) {
		c = item_seek(be, &plan->items[i], from, backwards);
		if (c != 0 && (best == 0 || (backwards ? c > best : c < best)))
			best = c;
	}
	return best;
}

/* The lowest position in p above after and below limit whose event item
 * i of plan matches, or 0: one binary search, then a walk. */
static uint64_t
list_first_match(const cairn__backend *be, const mem_postings *p,
                 const mem_plan *plan, size_t i, uint64_t after, uint64_t limit)
{
	cairn_query one = {&plan->query.items[i], 1};
	size_t k;

	for (k = postings_lower(p, after + 1); k < p->count; k++) {
		if (p->pos[k] >= limit)
			break;
		if (cairn_query_match(&one, *log_slot(be, p->pos[k])))
			return p->pos[k];
	}
	return 0;
}

/*
 * The condition of an append: fail with the lowest position above
 * condition_after that the query matches.  Each item walks one tag
 * list or its types' lists (item_source()), each from a binary search,
 * and stops at the best match found so far, so the cost is
 * O(items * types * log n) plus the candidates after `after` in the
 * lists walked.
 */
static cairn_status
check_condition(cairn__backend *be, cairn__append_req *req,
                const mem_plan *plan)
{
	uint64_t after = req->condition_after, best = UINT64_MAX, c;
	const cairn_event *ev;
	const mem_postings *p;
	size_t i, t;

	if (plan == NULL || after >= be->head)
		return CAIRN_OK;
	for (i = 0; i < plan->nitems && best > after + 1; i++) {
		const mem_plan_item *item = &plan->items[i];

		if (item->ntypes == 0 && item->ntags == 0) {
			best = after + 1;
			break;
		}
		if (!item_source(be, item, &p))
			continue;
		if (p != NULL) {
			c = list_first_match(be, p, plan, i, after, best);
			if (c != 0)
				best = c;
			continue;
		}
		for (t = 0; t < item->ntypes; t++) {
			p = postings_find(&be->types, item->types[t].s,
			                  item->types[t].len,
			                  item->types[t].hash);
			c = p ? list_first_match(be, p, plan, i, after, best)
			      : 0;
			if (c != 0)
				best = c;
		}
	}
	if (best == UINT64_MAX)
		return CAIRN_OK;
	ev = *log_slot(be, best);
	return cairn__condition_failed(req, best, ev->stream, ev->stream_len);
}

/* ---- Appends ---- */

static cairn_status
id_lookup(void *ctx, const cairn_uuid *id, cairn__id_location *loc)
{
	const cairn_event *ev = ids_find(ctx, id);

	if (ev == NULL)
		return CAIRN_NOT_FOUND;
	loc->position = ev->position;
	loc->version = ev->version;
	loc->stream = ev->stream;
	loc->stream_len = ev->stream_len;
	loc->stream_version =
	        streams_find(ctx, ev->stream, ev->stream_len,
	                     hash_stream(((const cairn__backend *)ctx)->seed,
	                                 ev->stream, ev->stream_len))
	                ->version;
	return CAIRN_OK;
}

/*
 * A generated id that collides with a committed one (odds of 2^-122) or
 * a given id the idempotency rule let through would break the one id,
 * one event invariant; refuse rather than index an id twice.
 */
static cairn_status
check_ids_free(cairn__backend *be, cairn__append_req *req)
{
	size_t wi, k;
	char buf[CAIRN_UUID_STR_LEN + 1];

	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];

		for (k = 0; k < w->nevents; k++) {
			const cairn_event *ev = ids_find(be, &w->ids[k]);

			if (ev == NULL)
				continue;
			cairn_uuid_format(&w->ids[k], buf);
			req->result->conflict_index = wi;
			memcpy(req->result->conflict_stream, ev->stream,
			       ev->stream_len + 1);
			req->result->conflict_expected = w->expected;
			req->result->conflict_actual = ev->version;
			return cairn__req_error(
			        req, CAIRN_CONFLICT, 0,
			        "event id %s is already committed in stream "
			        "'%s' at version %llu",
			        buf, ev->stream,
			        (unsigned long long)ev->version);
		}
	}
	return CAIRN_OK;
}

/*
 * The body of an append, under the write lock, after the idempotency
 * check.  Three phases: check (no change), reserve and build (only spare
 * capacity changes; undone on failure), link (cannot fail).  Events are
 * built straight into the log slots past the head, where no reader
 * looks, so a failed build frees them and leaves nothing behind.
 */
static cairn_status
append_locked(cairn__backend *be, cairn__append_req *req, mem_prep *prep,
              mem_postings **lists)
{
	uint64_t pos = be->head, first = be->head + 1;
	size_t wi, k, nnew = 0, built = 0, nevents = 0, ev_bytes = 0;
	size_t nlists = 0, linked = 0;
	int64_t now;

	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];
		mem_stream *s = streams_find(be, w->stream, w->stream_len,
		                             prep[wi].hash);
		uint64_t actual = s ? s->version : 0;

		if (!cairn__expected_ok(w->expected, actual))
			return req->status = cairn__conflict(req->result, wi, w,
			                                     actual);
		prep[wi].s = s;
		prep[wi].created = false;
		nnew += s == NULL;
		nevents += w->nevents;
	}
	if (check_ids_free(be, req) != CAIRN_OK)
		return req->status;

	if (!log_reserve(be, nevents) ||
	    !table_reserve(be, &be->ids, nevents) ||
	    !table_reserve(be, &be->streams, nnew))
		goto nomem;
	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];

		/* A write without events only checks its expected version:
		 * it creates and changes nothing. */
		if (w->nevents == 0)
			continue;
		if (prep[wi].s == NULL) {
			prep[wi].s = stream_new(be, w->stream, w->stream_len,
			                        prep[wi].hash);
			if (prep[wi].s == NULL)
				goto nomem;
			prep[wi].created = true;
		}
		if (!positions_reserve(be, prep[wi].s, w->nevents))
			goto nomem;
	}
	if (!index_reserve(be, req, lists, &nlists))
		goto nomem;
	now = cairn__now_ns();
	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];
		uint64_t base;

		if (w->nevents == 0)
			continue;
		base = prep[wi].s->version;

		for (k = 0; k < w->nevents; k++) {
			cairn_event *ev = event_new(w, k, base + k + 1, ++pos,
			                            now, &ev_bytes);

			if (ev == NULL)
				goto nomem;
			ev->commit_rest = (uint32_t)(first + nevents - 1 - pos);
			*log_slot(be, pos) = ev;
			built++;
		}
	}

	pos = be->head;
	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];
		mem_stream *s = prep[wi].s;

		if (w->nevents == 0)
			continue;
		for (k = 0; k < w->nevents; k++) {
			cairn_event *ev = *log_slot(be, ++pos);

			s->positions[s->version++] = pos;
			ids_insert(be, ev);
			index_link(lists, &linked, ev);
		}
		s->last_position = pos;
		s->updated_ns = now;
		if (prep[wi].created) {
			s->created_ns = now;
			table_place(be->streams.slots, be->streams.cap, s->hash,
			            s);
			be->streams.count++;
			skip_insert(be, s);
			be->bytes += stream_bytes(s);
		}
	}
	be->head = pos;
	be->bytes += ev_bytes;

	req->result->first_position = nevents ? first : 0;
	req->result->last_position = nevents ? pos : 0;
	req->result->version = prep[0].s ? prep[0].s->version : 0;
	req->result->idempotent = 0;
	return req->status = CAIRN_OK;

nomem:
	index_abort(lists, nlists);
	for (k = 0; k < built; k++) {
		cairn_event **slot = log_slot(be, be->head + 1 + k);

		cairn__free(*slot);
		*slot = NULL;
	}
	for (wi = 0; wi < req->nwrites; wi++)
		if (prep[wi].created) {
			be->bytes -=
			        prep[wi].s->positions_cap * sizeof(uint64_t);
			stream_free(prep[wi].s);
			prep[wi].s = NULL;
			prep[wi].created = false;
		}
	return cairn__req_error(req, CAIRN_NOMEM, 0,
	                        "memory store: out of memory appending %zu "
	                        "events",
	                        nevents);
}

/*
 * Append a request atomically.  Stream hashes and the condition's plan
 * are made before the lock is taken, to keep the exclusive section to
 * the work that needs it.  Under the lock, the order is the contract's:
 * idempotency (a repeat succeeds whatever the condition), then the
 * condition, then expected versions.
 */
static cairn_status
mem_append(cairn__backend *be, cairn__append_req *req)
{
	mem_prep stack[MEM_PREP_STACK], *prep = stack;
	mem_postings *lists_stack[MEM_LISTS_STACK], **lists = lists_stack;
	size_t wi, nkeys = index_keys(req);
	mem_plan *plan = NULL;
	cairn_status rc;

	if (req->condition) {
		rc = plan_new(be, req->condition, &plan);
		if (rc != CAIRN_OK)
			return cairn__req_error(req, rc, 0, "%s",
			                        cairn_last_error());
	}
	if (req->nwrites > MEM_PREP_STACK)
		prep = cairn__calloc(req->nwrites, sizeof(*prep));
	if (nkeys > MEM_LISTS_STACK)
		lists = nkeys > SIZE_MAX / sizeof(*lists)
		                ? NULL
		                : cairn__malloc(nkeys * sizeof(*lists));
	if (prep == NULL || lists == NULL) {
		rc = cairn__req_error(req, CAIRN_NOMEM, 0,
		                      "memory store: out of memory");
		goto done;
	}
	for (wi = 0; wi < req->nwrites; wi++)
		prep[wi].hash = hash_stream(be->seed, req->writes[wi].stream,
		                            req->writes[wi].stream_len);

	pthread_rwlock_wrlock(&be->lock);
	rc = cairn__idempotency_check(req, id_lookup, be);
	if (rc == CAIRN_DONE) {
		rc = check_condition(be, req, plan);
		if (rc == CAIRN_OK)
			rc = append_locked(be, req, prep, lists);
	}
	pthread_rwlock_unlock(&be->lock);

done:
	cairn__free(plan);
	if (prep != stack)
		cairn__free(prep);
	if (lists != lists_stack)
		cairn__free(lists);
	return req->status = rc;
}

/* ---- Reading a stream ---- */

/*
 * Both readers answer cairn_iter_head() with seen_head: the head when
 * the read began, and for a forward read the head at the moment it
 * returned DONE, when (under the lock) every event up to that head had
 * been examined.  A backward read never looks past the head it started
 * at, so that one stays.
 */
typedef struct mem_stream_reader {
	cairn__iter base;
	cairn__backend *be;
	mem_stream *s; /* NULL until the stream exists */
	uint64_t hash;
	uint64_t next; /* version to yield next; 0 = none (back) */
	uint64_t seen_head;
	bool backwards;
	size_t id_len;
	char id[];
} mem_stream_reader;

/*
 * Forward reads follow the stream's current end, so a reader sees
 * events appended after it started; a record, once found, is kept, as
 * records never move or die while the store is open.
 */
static cairn_status
stream_reader_next(cairn__iter *base, const cairn_event **ev)
{
	mem_stream_reader *r = (mem_stream_reader *)base;
	cairn__backend *be = r->be;
	cairn_status rc = CAIRN_DONE;

	pthread_rwlock_rdlock(&be->lock);
	if (r->s == NULL)
		r->s = streams_find(be, r->id, r->id_len, r->hash);
	if (r->s && r->next >= 1 && r->next <= r->s->version) {
		*ev = *log_slot(be, r->s->positions[r->next - 1]);
		if (r->backwards)
			r->next--;
		else
			r->next++;
		rc = CAIRN_ROW;
	} else if (!r->backwards) {
		r->seen_head = be->head;
	}
	pthread_rwlock_unlock(&be->lock);
	return rc;
}

static cairn_status
stream_reader_head(cairn__iter *base, uint64_t *position)
{
	*position = ((const mem_stream_reader *)base)->seen_head;
	return CAIRN_OK;
}

static void
reader_free(cairn__iter *it)
{
	cairn__free(it);
}

static const cairn__iter_ops stream_reader_ops = {
        stream_reader_next,
        reader_free,
        stream_reader_head,
        NULL,
};

/* A backwards read starts from the end as it is when the read begins. */
static cairn_status
mem_read_stream(cairn__backend *be, const char *stream, size_t stream_len,
                const cairn_read_opts *opts, cairn__iter **out)
{
	mem_stream_reader *r = cairn__malloc(sizeof(*r) + stream_len + 1);
	uint64_t from = opts ? opts->from : 0;

	if (r == NULL)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "memory store: out of memory");
	r->base.ops = &stream_reader_ops;
	r->be = be;
	r->hash = hash_stream(be->seed, stream, stream_len);
	r->backwards = opts && opts->backwards;
	r->id_len = stream_len;
	memcpy(r->id, stream, stream_len);
	r->id[stream_len] = '\0';

	pthread_rwlock_rdlock(&be->lock);
	r->seen_head = be->head;
	r->s = streams_find(be, stream, stream_len, r->hash);
	if (!r->backwards)
		r->next = from ? from : 1;
	else if (r->s == NULL)
		r->next = 0;
	else
		r->next = from == 0 || from > r->s->version ? r->s->version
		                                            : from;
	pthread_rwlock_unlock(&be->lock);

	*out = &r->base;
	return CAIRN_OK;
}

/* ---- Reading $all ---- */

/* A read with a query, or a types filter, walks the indexes (plan);
 * the core still filters what it yields. */
typedef struct mem_log_reader {
	cairn__iter base;
	cairn__backend *be;
	uint64_t next; /* position to yield next; 0 = none (back) */
	uint64_t seen_head;
	bool backwards;
	mem_plan *plan; /* NULL: every position */
} mem_log_reader;

/*
 * The next event of a planned read, under the read lock: the nearest
 * candidate the indexes give, checked against the query.  Candidates
 * that fail the check (a tag-only item walks one tag's list) are
 * skipped here rather than handed to the core, but after a run of
 * MEM_SCAN_BATCH of them the lock is dropped for a moment so that a
 * long run cannot hold writers off.  Positions, not pointers, carry the
 * walk across that gap.
 */
static cairn_status
plan_next(mem_log_reader *r, const cairn_event **ev)
{
	cairn__backend *be = r->be;
	const cairn_event *cand;
	size_t skipped = 0;
	uint64_t c;

	for (;;) {
		if (r->next == 0 || (!r->backwards && r->next > be->head))
			return CAIRN_DONE;
		c = plan_seek(be, r->plan, r->next, r->backwards);
		if (c == 0)
			return CAIRN_DONE;
		cand = *log_slot(be, c);
		r->next = r->backwards ? c - 1 : c + 1;
		if (cairn_query_match(&r->plan->query, cand)) {
			*ev = cand;
			return CAIRN_ROW;
		}
		if (++skipped % MEM_SCAN_BATCH == 0) {
			pthread_rwlock_unlock(&be->lock);
			pthread_rwlock_rdlock(&be->lock);
		}
	}
}

static cairn_status
log_reader_next(cairn__iter *base, const cairn_event **ev)
{
	mem_log_reader *r = (mem_log_reader *)base;
	cairn__backend *be = r->be;
	cairn_status rc = CAIRN_DONE;

	pthread_rwlock_rdlock(&be->lock);
	if (r->plan) {
		rc = plan_next(r, ev);
	} else if (r->next >= 1 && r->next <= be->head) {
		*ev = *log_slot(be, r->next);
		if (r->backwards)
			r->next--;
		else
			r->next++;
		rc = CAIRN_ROW;
	}
	if (rc == CAIRN_DONE && !r->backwards)
		r->seen_head = be->head;
	pthread_rwlock_unlock(&be->lock);
	return rc;
}

static cairn_status
log_reader_head(cairn__iter *base, uint64_t *position)
{
	*position = ((const mem_log_reader *)base)->seen_head;
	return CAIRN_OK;
}

static void
log_reader_free(cairn__iter *base)
{
	mem_log_reader *r = (mem_log_reader *)base;

	cairn__free(r->plan);
	cairn__free(r);
}

static const cairn__iter_ops log_reader_ops = {
        log_reader_next,
        log_reader_free,
        log_reader_head,
        NULL,
};

/* The plan of a read: its query's, else one item of its types, else
 * none (every position is a candidate). */
static cairn_status
read_plan(const cairn__backend *be, const cairn_read_opts *opts, mem_plan **out)
{
	cairn_query_item item = {NULL, 0, NULL, 0};
	cairn_query q = {&item, 1};

	*out = NULL;
	if (opts == NULL)
		return CAIRN_OK;
	if (opts->query)
		return plan_new(be, opts->query, out);
	if (opts->ntypes == 0)
		return CAIRN_OK;
	item.types = opts->types;
	item.ntypes = opts->ntypes;
	return plan_new(be, &q, out);
}

static cairn_status
mem_read_all(cairn__backend *be, const cairn_read_opts *opts, cairn__iter **out)
{
	mem_log_reader *r = cairn__malloc(sizeof(*r));
	uint64_t from = opts ? opts->from : 0;
	cairn_status rc;

	if (r == NULL)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "memory store: out of memory");
	rc = read_plan(be, opts, &r->plan);
	if (rc != CAIRN_OK) {
		cairn__free(r);
		return rc;
	}
	r->base.ops = &log_reader_ops;
	r->be = be;
	r->backwards = opts && opts->backwards;
	pthread_rwlock_rdlock(&be->lock);
	r->seen_head = be->head;
	if (!r->backwards)
		r->next = from ? from : 1;
	else
		r->next = from == 0 || from > be->head ? be->head : from;
	pthread_rwlock_unlock(&be->lock);
	*out = &r->base;
	return CAIRN_OK;
}

/* ---- Metadata ---- */

static cairn_status
mem_stream_version(cairn__backend *be, const char *stream, size_t stream_len,
                   uint64_t *version)
{
	uint64_t hash = hash_stream(be->seed, stream, stream_len);
	const mem_stream *s;

	pthread_rwlock_rdlock(&be->lock);
	s = streams_find(be, stream, stream_len, hash);
	*version = s ? s->version : 0;
	pthread_rwlock_unlock(&be->lock);
	return CAIRN_OK;
}

static cairn_status
mem_head(cairn__backend *be, uint64_t *position)
{
	pthread_rwlock_rdlock(&be->lock);
	*position = be->head;
	pthread_rwlock_unlock(&be->lock);
	return CAIRN_OK;
}

static cairn_status
mem_stats(cairn__backend *be, cairn_stats *stats)
{
	pthread_rwlock_rdlock(&be->lock);
	stats->events = be->head;
	stats->streams = be->streams.count;
	stats->head = be->head;
	stats->bytes = be->bytes;
	pthread_rwlock_unlock(&be->lock);
	return CAIRN_OK;
}

/* ---- Snapshots ---- */

static uint64_t
snapshot_hash(const cairn__backend *be, const char *stream, size_t stream_len,
              const char *schema, size_t schema_len)
{
	return hash_stream(hash_stream(be->seed, stream, stream_len), schema,
	                   schema_len);
}

static mem_snapshot *
snapshots_find(const cairn__backend *be, const char *stream, size_t stream_len,
               const char *schema, size_t schema_len, uint64_t hash)
{
	const mem_table *t = &be->snapshots;
	size_t mask, i;

	if (t->cap == 0)
		return NULL;
	mask = t->cap - 1;
	for (i = hash & mask; t->slots[i].obj; i = (i + 1) & mask) {
		mem_snapshot *sn = t->slots[i].obj;

		if (t->slots[i].hash == hash && sn->stream_len == stream_len &&
		    sn->schema_len == schema_len &&
		    memcmp(sn->key, stream, stream_len) == 0 &&
		    memcmp(sn->key + stream_len + 1, schema, schema_len) == 0)
			return sn;
	}
	return NULL;
}

/* A blob of len bytes (at least one, so that an empty state is still a
 * non-NULL block the caller frees). */
static void *
blob_copy(const void *src, size_t len)
{
	void *b = cairn__malloc(len ? len : 1);

	if (b && len)
		memcpy(b, src, len);
	return b;
}

/*
 * Keep the newest snapshot per (stream, schema): one at a lower version
 * than the kept one is dropped (successfully: a slower writer's older
 * snapshot is no news), an equal or higher one replaces it.  Copies are
 * made outside the lock.
 */
static cairn_status
mem_snapshot_put(cairn__backend *be, const char *stream, size_t stream_len,
                 uint64_t version, const char *schema, const void *blob,
                 size_t len)
{
	size_t schema_len = strlen(schema);
	uint64_t hash =
	        snapshot_hash(be, stream, stream_len, schema, schema_len);
	mem_snapshot *sn, *fresh;
	void *copy = blob_copy(blob, len), *old = NULL;

	fresh = cairn__malloc(sizeof(*fresh) + stream_len + schema_len + 2);
	if (copy == NULL || fresh == NULL) {
		cairn__free(copy);
		cairn__free(fresh);
		return cairn__error(CAIRN_NOMEM, 0,
		                    "memory store: out of memory");
	}
	pthread_rwlock_wrlock(&be->lock);
	sn = snapshots_find(be, stream, stream_len, schema, schema_len, hash);
	if (sn != NULL) {
		if (version >= sn->version) {
			old = sn->blob;
			be->bytes += len;
			be->bytes -= sn->len;
			sn->blob = copy;
			sn->len = len;
			sn->version = version;
		} else {
			old = copy;
		}
		copy = NULL;
	} else if (table_reserve(be, &be->snapshots, 1)) {
		fresh->hash = hash;
		fresh->version = version;
		fresh->blob = copy;
		fresh->len = len;
		fresh->stream_len = stream_len;
		fresh->schema_len = schema_len;
		memcpy(fresh->key, stream, stream_len);
		fresh->key[stream_len] = '\0';
		memcpy(fresh->key + stream_len + 1, schema, schema_len + 1);
		table_place(be->snapshots.slots, be->snapshots.cap, hash,
		            fresh);
		be->snapshots.count++;
		be->bytes += sizeof(*fresh) + stream_len + schema_len + 2 + len;
		fresh = NULL;
		copy = NULL;
	}
	pthread_rwlock_unlock(&be->lock);
	cairn__free(old);
	if (copy != NULL) {
		cairn__free(copy);
		cairn__free(fresh);
		return cairn__error(CAIRN_NOMEM, 0,
		                    "memory store: out of memory");
	}
	cairn__free(fresh);
	return CAIRN_OK;
}

static cairn_status
mem_snapshot_get(cairn__backend *be, const char *stream, size_t stream_len,
                 const char *schema, uint64_t *version, void **blob,
                 size_t *len)
{
	size_t schema_len = strlen(schema);
	uint64_t hash =
	        snapshot_hash(be, stream, stream_len, schema, schema_len);
	const mem_snapshot *sn;
	cairn_status rc = CAIRN_OK;

	pthread_rwlock_rdlock(&be->lock);
	sn = snapshots_find(be, stream, stream_len, schema, schema_len, hash);
	if (sn == NULL) {
		rc = cairn__error(CAIRN_NOT_FOUND, 0,
		                  "stream '%.*s' has no snapshot under schema "
		                  "'%s'",
		                  (int)stream_len, stream, schema);
	} else if ((*blob = blob_copy(sn->blob, sn->len)) == NULL) {
		rc = cairn__error(CAIRN_NOMEM, 0,
		                  "memory store: out of memory");
	} else {
		*version = sn->version;
		*len = sn->len;
	}
	pthread_rwlock_unlock(&be->lock);
	return rc;
}

/* ---- Listing streams ---- */

typedef struct mem_lister {
	cairn__stream_iter base;
	cairn__backend *be;
	mem_stream *last; /* last yielded; NULL before the first */
	size_t remaining;
	cairn_stream_info info;
	size_t prefix_len;
	size_t after_len;
	char prefix[CAIRN_STREAM_ID_MAX + 1];
	char after[CAIRN_STREAM_ID_MAX + 1];
} mem_lister;

/*
 * The first page entry costs one O(log n) seek; each later one follows
 * the last yielded node's successor, which is current even if streams
 * were created in between, since nodes are never unlinked.  Ids sharing
 * a prefix are contiguous in byte order, so the first id without it ends
 * the listing.
 */
static cairn_status
lister_next(cairn__stream_iter *base, const cairn_stream_info **info)
{
	mem_lister *l = (mem_lister *)base;
	cairn__backend *be = l->be;
	cairn_status rc = CAIRN_DONE;
	mem_stream *s;

	if (l->remaining == 0)
		return CAIRN_DONE;
	pthread_rwlock_rdlock(&be->lock);
	if (l->last)
		s = l->last->next[0];
	else if (l->after_len > 0 &&
	         id_cmp(l->after, l->after_len, l->prefix, l->prefix_len) >= 0)
		s = skip_seek(be, l->after, l->after_len, true);
	else
		s = skip_seek(be, l->prefix, l->prefix_len, false);
	if (s && s->id_len >= l->prefix_len &&
	    memcmp(s->id, l->prefix, l->prefix_len) == 0) {
		l->info.stream = s->id;
		l->info.stream_len = s->id_len;
		l->info.version = s->version;
		l->info.last_position = s->last_position;
		l->info.created_ns = s->created_ns;
		l->info.updated_ns = s->updated_ns;
		l->last = s;
		l->remaining--;
		*info = &l->info;
		rc = CAIRN_ROW;
	} else {
		l->remaining = 0;
	}
	pthread_rwlock_unlock(&be->lock);
	return rc;
}

static void
lister_free(cairn__stream_iter *it)
{
	cairn__free(it);
}

static const cairn__stream_iter_ops lister_ops = {
        lister_next,
        lister_free,
};

static cairn_status
mem_list_streams(cairn__backend *be, const char *prefix, const char *after,
                 size_t limit, cairn__stream_iter **out)
{
	size_t plen = strlen(prefix), alen = strlen(after);
	mem_lister *l;

	if (plen > CAIRN_STREAM_ID_MAX || alen > CAIRN_STREAM_ID_MAX)
		return cairn__error(CAIRN_INVALID, 0,
		                    "prefix or cursor is longer than %d bytes",
		                    CAIRN_STREAM_ID_MAX);
	l = cairn__calloc(1, sizeof(*l));
	if (l == NULL)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "memory store: out of memory");
	l->base.ops = &lister_ops;
	l->be = be;
	l->remaining = limit;
	l->prefix_len = plen;
	l->after_len = alen;
	memcpy(l->prefix, prefix, plen + 1);
	memcpy(l->after, after, alen + 1);
	*out = &l->base;
	return CAIRN_OK;
}

/* ---- Verification ---- */

typedef struct mem_checks {
	cairn_verify_fn fn;
	void *ctx;
	uint64_t problems;
} mem_checks;

static void problem(mem_checks *v, const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 2, 3)))
#endif
        ;

static void
problem(mem_checks *v, const char *fmt, ...)
{
	char buf[MEM_PROBLEM_MAX];
	va_list ap;

	v->problems++;
	if (v->fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v->fn(v->ctx, buf);
}

/* Every log slot up to the head holds its event, indexed by id, and
 * found back through its stream's positions. */
static void
verify_log(cairn__backend *be, mem_checks *v)
{
	uint64_t p;

	for (p = 1; p <= be->head; p++) {
		const cairn_event *ev = *log_slot(be, p);
		const mem_stream *s;
		char buf[CAIRN_UUID_STR_LEN + 1];

		if (ev == NULL) {
			problem(v, "position %llu holds no event",
			        (unsigned long long)p);
			continue;
		}
		if (ev->position != p)
			problem(v,
			        "the event at position %llu says it is at "
			        "position %llu",
			        (unsigned long long)p,
			        (unsigned long long)ev->position);
		if (ids_find(be, &ev->id) != ev) {
			cairn_uuid_format(&ev->id, buf);
			problem(v,
			        "event id %s (position %llu) is not indexed "
			        "to its event",
			        buf, (unsigned long long)p);
		}
		s = streams_find(
		        be, ev->stream, ev->stream_len,
		        hash_stream(be->seed, ev->stream, ev->stream_len));
		if (s == NULL)
			problem(v,
			        "the event at position %llu is in stream "
			        "'%s', which has no record",
			        (unsigned long long)p, ev->stream);
		else if (ev->version < 1 || ev->version > s->version ||
		         s->positions[ev->version - 1] != p)
			problem(v,
			        "the event at position %llu (stream '%s' "
			        "version %llu) is not at that version in its "
			        "stream",
			        (unsigned long long)p, ev->stream,
			        (unsigned long long)ev->version);
	}
}

/* The id table holds exactly one entry per committed event. */
static void
verify_ids(cairn__backend *be, mem_checks *v)
{
	size_t i, count = 0;

	for (i = 0; i < be->ids.cap; i++) {
		const cairn_event *ev = be->ids.slots[i].obj;

		if (ev == NULL)
			continue;
		count++;
		if (ev->position < 1 || ev->position > be->head ||
		    *log_slot(be, ev->position) != ev)
			problem(v,
			        "the id table holds an event (position "
			        "%llu) that is not in the log",
			        (unsigned long long)ev->position);
		if (be->ids.slots[i].hash != hash_id(be->seed, &ev->id))
			problem(v,
			        "the id table holds a wrong hash for the "
			        "event at position %llu",
			        (unsigned long long)ev->position);
	}
	if (count != be->ids.count || count != be->head)
		problem(v,
		        "the id table holds %zu ids (counted %zu) for %llu "
		        "events",
		        count, be->ids.count, (unsigned long long)be->head);
}

/* One stream's positions name its events, version by version, and its
 * metadata matches them. */
static void
verify_stream(cairn__backend *be, mem_checks *v, const mem_stream *s)
{
	const cairn_event *ev = NULL;
	uint64_t ver;

	if (s->version == 0)
		problem(v, "stream '%s' has a record but no events", s->id);
	for (ver = 1; ver <= s->version; ver++) {
		uint64_t p = s->positions[ver - 1];

		if (p < 1 || p > be->head) {
			problem(v,
			        "stream '%s' version %llu points at "
			        "position %llu, past the head",
			        s->id, (unsigned long long)ver,
			        (unsigned long long)p);
			ev = NULL;
			continue;
		}
		ev = *log_slot(be, p);
		if (ev == NULL)
			continue;
		if (ev->version != ver || ev->stream_len != s->id_len ||
		    memcmp(ev->stream, s->id, s->id_len) != 0)
			problem(v,
			        "stream '%s' version %llu points at "
			        "position %llu, which is '%s' version %llu",
			        s->id, (unsigned long long)ver,
			        (unsigned long long)p, ev->stream,
			        (unsigned long long)ev->version);
		if (ver == 1 && ev->time_ns != s->created_ns)
			problem(v,
			        "stream '%s' creation time does not match "
			        "its first event",
			        s->id);
	}
	if (s->version > 0 && s->last_position != s->positions[s->version - 1])
		problem(v,
		        "stream '%s' says its newest event is at position "
		        "%llu, but version %llu is at %llu",
		        s->id, (unsigned long long)s->last_position,
		        (unsigned long long)s->version,
		        (unsigned long long)s->positions[s->version - 1]);
	if (ev && ev->time_ns != s->updated_ns)
		problem(v,
		        "stream '%s' update time does not match its newest "
		        "event",
		        s->id);
}

/* The skip list is ordered and holds the same records as the hash. */
static void
verify_streams(cairn__backend *be, mem_checks *v)
{
	const mem_stream *s, *prev = NULL;
	size_t listed = 0, hashed = 0, i;

	for (s = be->skip_head[0]; s; prev = s, s = s->next[0]) {
		listed++;
		if (prev &&
		    id_cmp(prev->id, prev->id_len, s->id, s->id_len) >= 0)
			problem(v,
			        "stream list is out of order at '%s' after "
			        "'%s'",
			        s->id, prev->id);
		if (streams_find(be, s->id, s->id_len,
		                 hash_stream(be->seed, s->id, s->id_len)) != s)
			problem(v, "stream '%s' is listed but not hashed",
			        s->id);
		verify_stream(be, v, s);
	}
	for (i = 0; i < be->streams.cap; i++) {
		s = be->streams.slots[i].obj;
		if (s == NULL)
			continue;
		hashed++;
		if (skip_seek(be, s->id, s->id_len, false) != s)
			problem(v, "stream '%s' is hashed but not listed",
			        s->id);
	}
	if (listed != be->streams.count || hashed != be->streams.count)
		problem(v,
		        "%zu streams are listed and %zu hashed, but the "
		        "store counts %zu",
		        listed, hashed, be->streams.count);
}

/* Whether ev carries tag. */
static bool
event_has_tag(const cairn_event *ev, const char *tag, size_t len)
{
	size_t i;

	for (i = 0; i < ev->ntags; i++)
		if (strlen(ev->tags[i]) == len &&
		    memcmp(ev->tags[i], tag, len) == 0)
			return true;
	return false;
}

/* The tags of ev, each counted once. */
static uint64_t
distinct_tags(const cairn_event *ev)
{
	uint64_t n = 0;
	size_t i, j;

	for (i = 0; i < ev->ntags; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(ev->tags[i], ev->tags[j]) == 0)
				break;
		n += j == i;
	}
	return n;
}

/*
 * One index (types when of_types, else tags): every list is strictly
 * increasing within the log, names only events with its key, and holds
 * no reservation; together they hold want entries, which with the first
 * check means that every event is in each list it belongs to.
 */
static void
verify_index(cairn__backend *be, mem_checks *v, const mem_table *t,
             bool of_types, uint64_t want)
{
	const char *what = of_types ? "type" : "tag";
	uint64_t total = 0;
	size_t i, k;

	for (i = 0; i < t->cap; i++) {
		const mem_postings *p = t->slots[i].obj;

		if (p == NULL)
			continue;
		if (t->slots[i].hash !=
		    hash_stream(be->seed, p->key, p->key_len))
			problem(v, "the %s index holds a wrong hash for '%s'",
			        what, p->key);
		if (p->pending != 0)
			problem(v,
			        "the %s index list of '%s' holds a reservation "
			        "outside an append",
			        what, p->key);
		total += p->count;
		for (k = 0; k < p->count; k++) {
			uint64_t pos = p->pos[k];
			const cairn_event *ev;

			if (pos < 1 || pos > be->head ||
			    (k > 0 && pos <= p->pos[k - 1])) {
				problem(v,
				        "the %s index list of '%s' is out of "
				        "order or past the head at position "
				        "%llu",
				        what, p->key, (unsigned long long)pos);
				continue;
			}
			ev = *log_slot(be, pos);
			if (ev == NULL)
				continue;
			if (of_types ? strcmp(ev->type, p->key) != 0
			             : !event_has_tag(ev, p->key, p->key_len))
				problem(v,
				        "the %s index lists position %llu "
				        "under "
				        "'%s', which that event lacks",
				        what, (unsigned long long)pos, p->key);
		}
	}
	if (total != want)
		problem(v,
		        "the %s index holds %llu entries where the events "
		        "call for %llu",
		        what, (unsigned long long)total,
		        (unsigned long long)want);
}

/* Both DCB indexes against the log. */
static void
verify_indexes(cairn__backend *be, mem_checks *v)
{
	uint64_t p, tags = 0;

	for (p = 1; p <= be->head; p++) {
		const cairn_event *ev = *log_slot(be, p);

		if (ev != NULL)
			tags += distinct_tags(ev);
	}
	verify_index(be, v, &be->types, true, be->head);
	verify_index(be, v, &be->tags, false, tags);
}

/* Checks the engine's own structures, under the read lock so that they
 * are seen as of one moment.  Sets *problems to the number found. */
static cairn_status
mem_verify(cairn__backend *be, cairn_verify_fn fn, void *ctx,
           uint64_t *problems)
{
	mem_checks v = {fn, ctx, 0};

	pthread_rwlock_rdlock(&be->lock);
	verify_log(be, &v);
	verify_ids(be, &v);
	verify_streams(be, &v);
	verify_indexes(be, &v);
	pthread_rwlock_unlock(&be->lock);
	*problems = v.problems;
	return CAIRN_OK;
}

/* ---- Open and close ---- */

/*
 * Readers take the lock once per event, so under many busy readers a
 * reader-preferring lock (glibc's default) could keep an append waiting
 * indefinitely.  Where glibc offers it, prefer writers.  No thread here
 * ever takes the read lock twice, which that mode forbids.
 */
static int
lock_init(pthread_rwlock_t *lock)
{
	pthread_rwlockattr_t attr;
	int err;

	err = pthread_rwlockattr_init(&attr);
	if (err != 0)
		return err;
#if defined(__GLIBC__)
	pthread_rwlockattr_setkind_np(
	        &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	err = pthread_rwlock_init(lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return err;
}

static cairn_status
mem_open(const char *path, const cairn_options *opts, cairn__backend **out)
{
	cairn__backend *be;
	cairn_uuid r;
	int err;

	(void)opts;
	if (path && path[0] != '\0')
		return cairn__error(CAIRN_INVALID_URI, 0,
		                    "a memory store takes no path: write "
		                    "\"memory:\", not \"memory:%.200s\"",
		                    path);
	be = cairn__calloc(1, sizeof(*be));
	if (be == NULL)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "memory store: out of memory");
	err = lock_init(&be->lock);
	if (err == 0) {
		err = pthread_mutex_init(&be->cursors_lock, NULL);
		if (err != 0)
			pthread_rwlock_destroy(&be->lock);
	}
	if (err != 0) {
		cairn__free(be);
		return cairn__error(CAIRN_NOMEM, err,
		                    "memory store: cannot create its lock");
	}
	/* Without system randomness the seed is merely less secret. */
	if (cairn_uuid_generate(&r) != CAIRN_OK)
		memset(&r, 0, sizeof(r));
	be->seed = cairn__mix64(load64(r.bytes) ^ (uint64_t)cairn__now_ns() ^
	                 (uint64_t)(uintptr_t)be);
	be->rng = cairn__mix64(load64(r.bytes + 8) ^ be->seed) | 1;
	be->skip_level = 1;
	be->bytes = sizeof(*be);
	*out = be;
	return CAIRN_OK;
}

/* ---- Durable subscription cursors ---- */

/* The index of name in the sorted array, or where it would go (*found
 * says which). */
static size_t
cursor_find(const cairn__backend *be, const char *name, size_t len,
            bool *found)
{
	size_t lo = 0, hi = be->ncursors;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const mem_cursor *c = &be->cursors[mid];
		int cmp = id_cmp(c->name, c->name_len, name, len);

		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static cairn_status
mem_cursor_get(cairn__backend *be, const char *name, size_t len,
               cairn_sub_info *info)
{
	cairn_status rc = CAIRN_NOT_FOUND;
	bool found;
	size_t i;

	pthread_mutex_lock(&be->cursors_lock);
	i = cursor_find(be, name, len, &found);
	if (found) {
		info->position = be->cursors[i].position;
		info->updated_ns = be->cursors[i].updated_ns;
		rc = CAIRN_OK;
	}
	pthread_mutex_unlock(&be->cursors_lock);
	return rc;
}

/* Insert a new cursor at index i (the lock held). */
static cairn_status
cursor_insert(cairn__backend *be, size_t i, const char *name, size_t len)
{
	mem_cursor *c;
	char *copy;

	if (be->ncursors == be->cursors_cap) {
		size_t cap = be->cursors_cap ? be->cursors_cap * 2 : 8;

		c = cairn__realloc(be->cursors, cap * sizeof(*c));
		if (c == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
		be->cursors = c;
		be->cursors_cap = cap;
	}
	copy = cairn__malloc(len + 1);
	if (copy == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	memcpy(copy, name, len);
	copy[len] = '\0';
	c = &be->cursors[i];
	memmove(c + 1, c, (be->ncursors - i) * sizeof(*c));
	c->name = copy;
	c->name_len = len;
	be->ncursors++;
	return CAIRN_OK;
}

static cairn_status
mem_cursor_put(cairn__backend *be, const char *name, size_t len,
               uint64_t expect, uint64_t position)
{
	cairn_status rc = CAIRN_OK;
	bool found;
	size_t i;

	pthread_mutex_lock(&be->cursors_lock);
	i = cursor_find(be, name, len, &found);
	if (expect == CAIRN__CURSOR_ABSENT ? found
	    : expect != CAIRN__CURSOR_ANY &&
	              (!found || be->cursors[i].position != expect))
		rc = CAIRN_CONFLICT;
	else if (!found)
		rc = cursor_insert(be, i, name, len);
	if (rc == CAIRN_OK) {
		be->cursors[i].position = position;
		be->cursors[i].updated_ns = cairn__now_ns();
	}
	pthread_mutex_unlock(&be->cursors_lock);
	return rc;
}

static cairn_status
mem_cursor_delete(cairn__backend *be, const char *name, size_t len)
{
	bool found;
	size_t i;

	pthread_mutex_lock(&be->cursors_lock);
	i = cursor_find(be, name, len, &found);
	if (found) {
		cairn__free(be->cursors[i].name);
		memmove(&be->cursors[i], &be->cursors[i + 1],
		        (be->ncursors - i - 1) * sizeof(*be->cursors));
		be->ncursors--;
	}
	pthread_mutex_unlock(&be->cursors_lock);
	return found ? CAIRN_OK : CAIRN_NOT_FOUND;
}

/* fn is called with the lock released (a callback may use this store's
 * cursors), on a copy of one cursor at a time; the walk goes on after
 * the name it last saw, so cursors added or deleted meanwhile are seen
 * or not, but none twice. */
static cairn_status
mem_cursor_list(cairn__backend *be, cairn_sub_list_fn fn, void *ctx)
{
	char name[CAIRN_SUB_NAME_MAX + 1];
	size_t len = 0;
	bool first = true, found;
	cairn_sub_info info;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&be->cursors_lock);
		i = first ? 0 : cursor_find(be, name, len, &found) + found;
		if (i >= be->ncursors) {
			pthread_mutex_unlock(&be->cursors_lock);
			return CAIRN_OK;
		}
		len = be->cursors[i].name_len;
		memcpy(name, be->cursors[i].name, len + 1);
		info.position = be->cursors[i].position;
		info.updated_ns = be->cursors[i].updated_ns;
		pthread_mutex_unlock(&be->cursors_lock);
		first = false;
		info.name = name;
		if (fn(ctx, &info))
			return CAIRN_OK;
	}
}

/* Free a table of heap objects, each freed by free_obj. */
static void
table_free_all(mem_table *t, void (*free_obj)(void *obj))
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slots[i].obj != NULL)
			free_obj(t->slots[i].obj);
	cairn__free(t->slots);
}

static void
postings_free(void *obj)
{
	mem_postings *p = obj;

	cairn__free(p->pos);
	cairn__free(p);
}

static void
snapshot_free(void *obj)
{
	mem_snapshot *sn = obj;

	cairn__free(sn->blob);
	cairn__free(sn);
}

static void
mem_close(cairn__backend *be)
{
	mem_stream *s, *next;
	uint64_t p;
	size_t i;

	if (be == NULL)
		return;
	for (p = 1; p <= be->head; p++)
		cairn__free(*log_slot(be, p));
	for (i = 0; i < be->nchunks; i++)
		cairn__free(be->chunks[i]);
	cairn__free(be->chunks);
	cairn__free(be->ids.slots);
	for (s = be->skip_head[0]; s; s = next) {
		next = s->next[0];
		stream_free(s);
	}
	cairn__free(be->streams.slots);
	table_free_all(&be->types, postings_free);
	table_free_all(&be->tags, postings_free);
	table_free_all(&be->snapshots, snapshot_free);
	for (i = 0; i < be->ncursors; i++)
		cairn__free(be->cursors[i].name);
	cairn__free(be->cursors);
	pthread_mutex_destroy(&be->cursors_lock);
	pthread_rwlock_destroy(&be->lock);
	cairn__free(be);
}

const cairn__backend_ops cairn__memory_backend = {
        CAIRN__BACKEND_OPS_VERSION,
        "memory",
        mem_open,
        mem_close,
        mem_append,
        mem_read_stream,
        mem_read_all,
        mem_stream_version,
        mem_head,
        mem_list_streams,
        mem_stats,
        mem_verify,
        mem_snapshot_put,
        mem_snapshot_get,
        NULL,
        NULL, /* notifier: the core's, as every commit goes through it */
        mem_cursor_get,
        mem_cursor_put,
        mem_cursor_delete,
        mem_cursor_list,
};
