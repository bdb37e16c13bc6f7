/*
 * subscription.c -- catch-up then live delivery of committed appends.
 *
 * A subscription never queues events in memory.  It reads the store
 * forward from the last position it has examined, with its filters,
 * and groups what it reads into batches by append: an event carries
 * commit_rest, the number of events its append wrote after it, so the
 * last position of its append is known from the event alone.  A batch
 * ends at that position, or when the next matching event belongs to a
 * later append (that event is kept, copied, for the next batch), or when
 * the read reaches the end of what is committed -- an append becomes
 * visible whole, so every matching event of it was read by then.
 *
 * Catch-up and live are the same loop.  When a read reaches the end, the
 * subscription remembers the head the read examined (cairn_iter_head()),
 * takes the store's notifier counter, and sleeps on it until a commit
 * bumps it; then it reads on from that head.  The counter is taken
 * before the read, so a commit between the read and the sleep is not
 * missed: the sleep returns at once.  Nothing is delivered twice, as
 * every read starts after the last position examined; nothing is
 * skipped, as that position only moves over events the subscription read
 * (delivered or not matching) or that a finished read examined.
 *
 * Failed appends write nothing, so they can never be read, and an
 * append is read only once its engine made it visible, after commit.
 *
 * Between calls the iterator is parked (its engine releases the read
 * transaction it holds), so a consumer that takes its time delays
 * neither writers nor anything else; the events handed out are copies
 * the subscription owns, in a batch arena bounded by the largest batch.
 */
#include "core/core.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A waiting subscription looks at the store on its own this often even
 * when no bump came: a safety net for a writer that died between its
 * commit and its bump, never the means of delivery. */
#define SUB_RECHECK_MS 1000

/* Arena blocks are at least this big; a block above SUB_KEEP_MAX is not
 * kept for the next batch, so one huge append does not pin its memory. */
#define SUB_BLOCK_MIN (64u * 1024u)
#define SUB_KEEP_MAX (4u * 1024u * 1024u)

typedef struct sub_block {
	struct sub_block *next;
	size_t cap;
	size_t used;
	max_align_t data[];
} sub_block;

struct cairn_sub {
	cairn_store *st;
	cairn__notify *notify;

	/* filters, owned copies */
	char **types;
	size_t ntypes;
	char *prefix;
	cairn_query *query;
	size_t max_batch; /* SIZE_MAX when unlimited */

	char *name; /* NULL: not durable */
	uint64_t acked; /* the stored cursor as this subscription last saw it */
	bool reload;    /* the cursor moved under us: read it again */
	bool gone;      /* ... and it was deleted */

	uint64_t delivered; /* last position handed out (or the start) */
	uint64_t scanned;   /* every event at or below was examined */
	cairn_iter *it;     /* reading from scanned + 1, or NULL */

	/* the batch handed out: copies in the arena */
	cairn_event *events;
	size_t n;
	size_t cap;
	sub_block *blocks;
	uint64_t batch_end; /* last position of the batch's append */
	bool complete;

	/* the first event of the next batch, read ahead */
	cairn_event pending;
	bool has_pending;
	void *pending_buf;
	size_t pending_cap;

	int stopped; /* atomic */
};

/* Empty the arena, keeping its newest block for the next batch unless
 * it is over SUB_KEEP_MAX. */
static void
arena_reset(cairn_sub *s)
{
	sub_block *b = s->blocks, *rest, *next;

	if (b == NULL)
		return;
	for (rest = b->next; rest; rest = next) {
		next = rest->next;
		cairn__free(rest);
	}
	b->next = NULL;
	b->used = 0;
	if (b->cap > SUB_KEEP_MAX) {
		cairn__free(b);
		s->blocks = NULL;
	}
}

static void *
arena_alloc(cairn_sub *s, size_t size)
{
	const size_t a = sizeof(max_align_t);
	sub_block *b = s->blocks;
	void *p;

	size = (size + a - 1) / a * a;
	if (b == NULL || b->cap - b->used < size) {
		size_t cap = size > SUB_BLOCK_MIN ? size : SUB_BLOCK_MIN;

		b = cairn__malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->cap = cap;
		b->used = 0;
		b->next = s->blocks;
		s->blocks = b;
	}
	p = (char *)b->data + b->used;
	b->used += size;
	return p;
}

/* Append a copy of ev to the batch. */
static cairn_status
batch_push(cairn_sub *s, const cairn_event *ev)
{
	size_t size = cairn__event_copy_size(ev);
	void *buf;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		cairn_event *grown = cairn__realloc(s->events, cap * sizeof(*grown));

		if (grown == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
		s->events = grown;
		s->cap = cap;
	}
	if (size == SIZE_MAX || (buf = arena_alloc(s, size)) == NULL)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "out of memory copying event %llu",
		                    (unsigned long long)ev->position);
	cairn__event_copy(&s->events[s->n++], ev, buf);
	s->batch_end = ev->position + ev->commit_rest;
	return CAIRN_OK;
}

/* Keep a copy of ev as the first event of the next batch. */
static cairn_status
pending_keep(cairn_sub *s, const cairn_event *ev)
{
	size_t size = cairn__event_copy_size(ev);

	if (size == SIZE_MAX)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (size > s->pending_cap || s->pending_buf == NULL) {
		void *buf = cairn__malloc(size ? size : 1);

		if (buf == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
		cairn__free(s->pending_buf);
		s->pending_buf = buf;
		s->pending_cap = size;
	}
	cairn__event_copy(&s->pending, ev, s->pending_buf);
	s->has_pending = true;
	return CAIRN_OK;
}

static cairn_status
open_read(cairn_sub *s)
{
	cairn_read_opts o = CAIRN_READ_OPTS_INIT;

	o.from = s->scanned + 1;
	o.types = (const char *const *)s->types;
	o.ntypes = s->ntypes;
	o.prefix = s->prefix;
	o.query = s->query;
	return cairn_read_all(s->st, &o, &s->it);
}

/* Forget the read in progress and what was read ahead: the next read
 * starts again after s->scanned. */
static void
drop_read(cairn_sub *s)
{
	cairn_iter_free(s->it);
	s->it = NULL;
	s->has_pending = false;
}

static bool
filtered(const cairn_sub *s)
{
	return s->ntypes > 0 || s->prefix != NULL || s->query != NULL;
}

static bool
batch_full(const cairn_sub *s)
{
	return s->n > 0 && (s->n >= s->max_batch ||
	                    s->events[s->n - 1].position >= s->batch_end);
}

/*
 * Gather the next batch: CAIRN_ROW (s->events, s->n), CAIRN_DONE when
 * nothing new matches, or an error, after which the subscription is
 * where it was before the call (what was gathered is dropped and read
 * again next time).
 */
static cairn_status
fill(cairn_sub *s)
{
	const cairn_event *ev;
	cairn_status rc = CAIRN_OK;
	uint64_t head;

	arena_reset(s);
	s->n = 0;
	if (s->has_pending) {
		rc = batch_push(s, &s->pending);
		s->has_pending = false;
		if (rc != CAIRN_OK)
			goto fail;
	}
	while (!batch_full(s)) {
		if (s->it == NULL && (rc = open_read(s)) != CAIRN_OK)
			goto fail;
		rc = cairn_iter_next(s->it, &ev);
		if (rc == CAIRN_ROW) {
			if (s->n > 0 && ev->position > s->batch_end) {
				rc = pending_keep(s, ev);
				if (rc != CAIRN_OK)
					goto fail;
				break;
			}
			rc = batch_push(s, ev);
			if (rc != CAIRN_OK)
				goto fail;
			continue;
		}
		if (rc != CAIRN_DONE)
			goto fail;
		/* Every event up to the head the read saw was examined. */
		rc = cairn_iter_head(s->it, &head);
		if (rc != CAIRN_OK)
			goto fail;
		cairn_iter_free(s->it);
		s->it = NULL;
		if (s->n == 0) {
			if (head > s->scanned)
				s->scanned = head;
			return CAIRN_DONE;
		}
		/* The append is visible whole: none of it is left unread. */
		s->complete = true;
		s->delivered = s->events[s->n - 1].position;
		s->scanned = head > s->delivered ? head : s->delivered;
		return CAIRN_ROW;
	}
	/* Cut by max_batch before the end of its append: with a filter,
	 * only the next matching event tells whether any more of the
	 * append is to come. */
	if (!s->has_pending && s->it != NULL && filtered(s) &&
	    s->events[s->n - 1].position < s->batch_end) {
		rc = cairn_iter_next(s->it, &ev);
		if (rc == CAIRN_ROW)
			rc = pending_keep(s, ev);
		else if (rc == CAIRN_DONE)
			rc = cairn_iter_head(s->it, &head);
		if (rc != CAIRN_OK)
			goto fail;
		if (!s->has_pending) {
			cairn_iter_free(s->it);
			s->it = NULL;
			s->complete = true;
			s->delivered = s->events[s->n - 1].position;
			s->scanned = head > s->delivered ? head : s->delivered;
			return CAIRN_ROW;
		}
	}
	s->delivered = s->events[s->n - 1].position;
	s->complete = s->has_pending ? s->pending.position > s->batch_end
	                             : s->delivered >= s->batch_end;
	s->scanned = s->has_pending ? s->pending.position - 1 : s->delivered;
	return CAIRN_ROW;
fail:
	s->n = 0;
	drop_read(s);
	return rc;
}

/* The stored cursor changed under this subscription (see cairn_sub_ack):
 * go on after its new value. */
static cairn_status
reload_cursor(cairn_sub *s)
{
	cairn_sub_info info;
	cairn_status rc;

	rc = cairn_subs_get(s->st, s->name, &info);
	if (rc == CAIRN_NOT_FOUND) {
		s->gone = true;
		return cairn__error(rc, 0,
		                    "subscription '%s' was deleted while it ran",
		                    s->name);
	}
	if (rc != CAIRN_OK)
		return rc;
	drop_read(s);
	s->acked = s->delivered = s->scanned = info.position;
	s->reload = false;
	return CAIRN_OK;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool
stopped(const cairn_sub *s)
{
	return __atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE) != 0;
}

cairn_status
cairn_sub_next(cairn_sub *s, int timeout_ms, const cairn_event **batch,
               size_t *n)
{
	uint64_t deadline = 0, now;
	cairn_status rc;
	int slice;

	if (batch)
		*batch = NULL;
	if (n)
		*n = 0;
	if (s == NULL || batch == NULL || n == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	if (s->gone)
		return cairn__error(CAIRN_NOT_FOUND, 0,
		                    "subscription '%s' was deleted", s->name);
	if (s->reload && (rc = reload_cursor(s)) != CAIRN_OK)
		return rc;
	if (timeout_ms > 0)
		deadline = now_ms() + (uint64_t)timeout_ms;
	slice = cairn__notify_poll_ms(s->notify);
	/* On a read-only store the notifier may be mapped read-only, so
	 * that cairn_sub_stop() cannot bump it: look at the stop flag as
	 * often as a polling waiter would. */
	if (slice == 0)
		slice = s->st->opts.read_only ? CAIRN__NOTIFY_POLL_MS
		                              : SUB_RECHECK_MS;
	for (;;) {
		uint32_t token = cairn__notify_token(s->notify);
		int wait = slice;

		if (stopped(s))
			return cairn__error(CAIRN_CLOSED, 0,
			                    "the subscription was stopped");
		rc = fill(s);
		if (rc == CAIRN_ROW) {
			if (s->it)
				cairn__iter_park(s->it);
			*batch = s->events;
			*n = s->n;
			cairn__error_clear();
			return CAIRN_ROW;
		}
		if (rc != CAIRN_DONE)
			return rc;
		if (timeout_ms == 0)
			return CAIRN_TIMEOUT;
		if (timeout_ms > 0) {
			now = now_ms();
			if (now >= deadline)
				return CAIRN_TIMEOUT;
			if (deadline - now < (uint64_t)wait)
				wait = (int)(deadline - now);
		}
		cairn__notify_wait(s->notify, token, wait);
	}
}

int
cairn_sub_batch_complete(const cairn_sub *s)
{
	return s ? s->complete : 0;
}

uint64_t
cairn_sub_position(const cairn_sub *s)
{
	return s ? s->delivered : 0;
}

uint64_t
cairn_sub_acked(const cairn_sub *s)
{
	return s && s->name ? s->acked : 0;
}

cairn_status
cairn_sub_ack(cairn_sub *s, uint64_t position)
{
	cairn_status rc;

	if (s == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL subscription");
	if (s->name == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "the subscription is not durable: it has "
		                    "no cursor to move");
	if (position > s->delivered)
		return cairn__error(CAIRN_INVALID, 0,
		                    "cannot acknowledge position %llu: the "
		                    "last event delivered is at %llu",
		                    (unsigned long long)position,
		                    (unsigned long long)s->delivered);
	if (s->reload)
		return cairn__error(CAIRN_CONFLICT, 0,
		                    "subscription '%s': its cursor was moved by "
		                    "someone else; the next batch comes from "
		                    "there",
		                    s->name);
	if (position <= s->acked)
		return CAIRN_OK;
	rc = cairn__cursor_put(s->st, s->name, s->acked, position);
	if (rc == CAIRN_OK) {
		s->acked = position;
		cairn__error_clear();
	} else if (rc == CAIRN_CONFLICT) {
		s->reload = true;
	}
	return rc;
}

void
cairn_sub_stop(cairn_sub *s)
{
	if (s == NULL)
		return;
	__atomic_store_n(&s->stopped, 1, __ATOMIC_RELEASE);
	/* Wake it if it sleeps (other sleepers wake too, look, and sleep
	 * again). */
	cairn__notify_bump(s->notify);
}

void
cairn_sub_close(cairn_sub *s)
{
	size_t i;

	if (s == NULL)
		return;
	cairn_iter_free(s->it);
	arena_reset(s);
	cairn__free(s->blocks);
	cairn__free(s->events);
	cairn__free(s->pending_buf);
	for (i = 0; i < s->ntypes; i++)
		cairn__free(s->types[i]);
	cairn__free(s->types);
	cairn__free(s->prefix);
	cairn__free(s->query);
	cairn__free(s->name);
	cairn__free(s);
}

void
cairn_sub_opts_init(cairn_sub_opts *opts)
{
	if (opts == NULL)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->version = CAIRN_SUB_OPTS_VERSION;
	opts->start = CAIRN_SUB_BEGINNING;
}

/* Check and copy the filters, before a durable subscription's cursor is
 * created. */
static cairn_status
copy_filters(cairn_sub *s, const cairn_sub_opts *o)
{
	size_t i;

	if (o->ntypes > 0 && o->types == NULL)
		return cairn__error(CAIRN_INVALID, 0, "ntypes without types");
	if (o->ntypes > 0) {
		s->types = cairn__calloc(o->ntypes, sizeof(*s->types));
		if (s->types == NULL)
			goto nomem;
	}
	for (i = 0; i < o->ntypes; i++) {
		cairn_status rc = cairn__validate_name(
		        o->types[i], CAIRN_TYPE_MAX, CAIRN_INVALID_TYPE,
		        "filter type", NULL);

		if (rc != CAIRN_OK)
			return rc;
		s->types[i] = cairn__strdup(o->types[i]);
		if (s->types[i] == NULL)
			goto nomem;
		s->ntypes = i + 1;
	}
	if (o->prefix && strnlen(o->prefix, CAIRN_STREAM_ID_MAX + 1) >
	                         CAIRN_STREAM_ID_MAX)
		return cairn__error(CAIRN_INVALID_STREAM, 0,
		                    "stream prefix is longer than %d bytes",
		                    CAIRN_STREAM_ID_MAX);
	if (o->prefix && o->prefix[0] &&
	    (s->prefix = cairn__strdup(o->prefix)) == NULL)
		goto nomem;
	if (o->query) {
		cairn_status rc = cairn__validate_query(o->query);

		if (rc == CAIRN_OK)
			rc = cairn__query_copy(o->query, &s->query);
		return rc;
	}
	return CAIRN_OK;
nomem:
	return cairn__error(CAIRN_NOMEM, 0, "out of memory");
}

/* Where the subscription starts when no cursor says otherwise. */
static cairn_status
start_position(cairn_store *st, const cairn_sub_opts *o, uint64_t *pos)
{
	switch (o->start) {
	case CAIRN_SUB_BEGINNING:
		*pos = 0;
		return CAIRN_OK;
	case CAIRN_SUB_END:
		return cairn_head(st, pos);
	case CAIRN_SUB_AFTER: {
		uint64_t head;
		cairn_status rc = cairn_head(st, &head);

		if (rc != CAIRN_OK)
			return rc;
		/* A position from another store, most likely: refuse it
		 * rather than skip every event up to it. */
		if (o->after > head)
			return cairn__error(CAIRN_INVALID, 0,
			                    "cannot start after position %llu: "
			                    "the head is %llu",
			                    (unsigned long long)o->after,
			                    (unsigned long long)head);
		*pos = o->after;
		return CAIRN_OK;
	}
	}
	return cairn__error(CAIRN_INVALID, 0, "unknown start %d",
	                    (int)o->start);
}

/* A durable subscription resumes after its stored cursor; a new one
 * stores its start (losing a race to create it means reading the
 * winner's). */
static cairn_status
durable_position(cairn_sub *s, uint64_t *pos)
{
	cairn_sub_info info;
	cairn_status rc;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		rc = cairn_subs_get(s->st, s->name, &info);
		if (rc == CAIRN_OK) {
			*pos = info.position;
			return CAIRN_OK;
		}
		if (rc != CAIRN_NOT_FOUND)
			return rc;
		rc = cairn__cursor_put(s->st, s->name, CAIRN__CURSOR_ABSENT,
		                       *pos);
		if (rc != CAIRN_CONFLICT)
			return rc;
	}
	return cairn__error(CAIRN_CONFLICT, 0,
	                    "subscription '%s' is being created and deleted "
	                    "by others",
	                    s->name);
}

cairn_status
cairn_subscribe(cairn_store *st, const cairn_sub_opts *o, cairn_sub **out)
{
	cairn_sub *s;
	cairn_status rc;
	uint64_t pos = 0;

	if (out)
		*out = NULL;
	if (st == NULL || o == NULL || out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	if (o->version == 0 || o->version > CAIRN_SUB_OPTS_VERSION)
		return cairn__error(CAIRN_INVALID, 0,
		                    "subscription options version %u is not "
		                    "known; use cairn_sub_opts_init()",
		                    o->version);
	if (o->name && (rc = cairn__cursor_name(o->name, NULL)) != CAIRN_OK)
		return rc;
	s = cairn__calloc(1, sizeof(*s));
	if (s == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	s->st = st;
	s->notify = cairn__store_notifier(st);
	s->max_batch = o->max_batch ? o->max_batch : SIZE_MAX;
	rc = copy_filters(s, o);
	if (rc == CAIRN_OK)
		rc = start_position(st, o, &pos);
	if (rc == CAIRN_OK && o->name) {
		s->name = cairn__strdup(o->name);
		rc = s->name ? durable_position(s, &pos)
		             : cairn__error(CAIRN_NOMEM, 0, "out of memory");
		s->acked = pos;
	}
	s->delivered = s->scanned = pos;
	/* The first read checks the filters now rather than at the first
	 * cairn_sub_next(). */
	if (rc == CAIRN_OK)
		rc = open_read(s);
	if (rc != CAIRN_OK) {
		cairn_sub_close(s);
		return rc;
	}
	cairn__iter_park(s->it);
	*out = s;
	cairn__error_clear();
	return CAIRN_OK;
}
