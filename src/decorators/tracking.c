/*
 * tracking.c -- a store that remembers every append committed through it,
 * for tests: cairn_tracking_open(), cairn_tracking_read(),
 * cairn_tracking_clear().
 *
 * Every operation is forwarded by forward.c; this file only watches the
 * appends.  After an append commits, the tracker reads the new events
 * back from the inner store by position, so that what it records is what
 * was stored -- ids, versions, positions and commit times included --
 * and not what the caller asked for.  An idempotent repeat committed
 * nothing and records nothing; a conflict or an error records nothing.
 *
 * The record is kept in position order (the commit order), whatever the
 * order in which concurrent appenders come back to record their events.
 * Each recorded event is one immutable heap block.  A tracker that could
 * not read an append back says so on the next cairn_tracking_read()
 * rather than hand out a record with a hole in it.
 */
#include "decorators/forward.h"

#include <stdlib.h>
#include <string.h>

/* Room for the sentence of a failed read-back. */
#define TRACKING_FAILURE_MAX 512

typedef struct tracker {
	cairn__forward fw; /* first: the forwarding base */
	pthread_mutex_t lock;
	cairn_event **events; /* recorded, in position order */
	size_t nevents;
	size_t cap;
	/* The first read-back that failed since the last clear. */
	cairn_status failure;
	char failure_msg[TRACKING_FAILURE_MAX];
} tracker;

static void tracking_appended(cairn__forward *fw, const cairn__append_req *req,
                              cairn_status rc, uint64_t elapsed_ns);
static void tracking_destroy(cairn__forward *fw);

static const cairn__forward_hooks tracking_hooks = {
        .appended = tracking_appended,
        .destroy = tracking_destroy,
};

static const cairn__backend_ops tracking_ops = CAIRN__FORWARD_OPS("tracking");

/* ---- Event copies ---- */

static void
events_free(cairn_event **events, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cairn__free(events[i]);
	cairn__free(events);
}

/* ---- Recording ---- */

/* Keep the first failure; later ones are consequences or repeats. */
static void
record_failure(tracker *t, cairn_status rc, const char *what)
{
	pthread_mutex_lock(&t->lock);
	if (t->failure == CAIRN_OK) {
		t->failure = rc;
		snprintf(t->failure_msg, sizeof(t->failure_msg),
		         "the tracking store lost an append it forwarded: "
		         "%s",
		         what);
	}
	pthread_mutex_unlock(&t->lock);
}

/*
 * Insert the n events of one append (consecutive positions) where their
 * first position belongs.  Appends come back nearly in order, so the
 * search runs from the end.
 */
static cairn_status
record_insert(tracker *t, cairn_event **batch, size_t n)
{
	size_t at, cap;
	cairn_event **grown;

	pthread_mutex_lock(&t->lock);
	if (n > t->cap - t->nevents) {
		cap = t->cap ? t->cap : 64;
		while (cap - t->nevents < n)
			cap *= 2;
		grown = cairn__realloc(t->events, cap * sizeof(*grown));
		if (grown == NULL) {
			pthread_mutex_unlock(&t->lock);
			return CAIRN_NOMEM;
		}
		t->events = grown;
		t->cap = cap;
	}
	at = t->nevents;
	while (at > 0 && t->events[at - 1]->position > batch[0]->position)
		at--;
	memmove(t->events + at + n, t->events + at,
	        (t->nevents - at) * sizeof(*t->events));
	memcpy(t->events + at, batch, n * sizeof(*batch));
	t->nevents += n;
	pthread_mutex_unlock(&t->lock);
	return CAIRN_OK;
}

/*
 * Read the events of a committed append back from the inner store: the
 * positions first..last, req->nevents of them.  Returns CAIRN_OK with
 * *out a malloc'd array of copies, or the failure (its sentence in the
 * thread's last error).
 */
static cairn_status
read_back(tracker *t, const cairn__append_req *req, cairn_event ***out)
{
	const cairn_append_result *r = req->result;
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *ev;
	cairn_event **batch;
	cairn_iter *it = NULL;
	size_t got = 0;
	cairn_status rc;

	batch = cairn__calloc(req->nevents, sizeof(*batch));
	if (batch == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	ro.from = r->first_position;
	rc = cairn_read_all(t->fw.inner, &ro, &it);
	while (rc == CAIRN_OK && got < req->nevents) {
		rc = cairn_iter_next(it, &ev);
		if (rc == CAIRN_ROW && ev->position > r->last_position)
			rc = CAIRN_DONE;
		if (rc != CAIRN_ROW)
			break;
		batch[got] = cairn__event_dup(ev);
		if (batch[got] == NULL)
			rc = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		else
			got++;
		if (rc == CAIRN_ROW)
			rc = CAIRN_OK;
	}
	cairn_iter_free(it);
	if (rc == CAIRN_OK || rc == CAIRN_DONE) {
		if (got == req->nevents) {
			*out = batch;
			return CAIRN_OK;
		}
		rc = cairn__error(CAIRN_CORRUPT, 0,
		                  "positions %llu..%llu hold %zu of the %zu "
		                  "events committed there",
		                  (unsigned long long)r->first_position,
		                  (unsigned long long)r->last_position, got,
		                  req->nevents);
	}
	events_free(batch, got);
	return rc;
}

static void
tracking_appended(cairn__forward *fw, const cairn__append_req *req,
                  cairn_status rc, uint64_t elapsed_ns)
{
	tracker *t = (tracker *)fw;
	cairn_event **batch = NULL;

	(void)elapsed_ns;
	if (rc != CAIRN_OK || req->result->idempotent || req->nevents == 0)
		return;
	rc = read_back(t, req, &batch);
	if (rc == CAIRN_OK)
		rc = record_insert(t, batch, req->nevents);
	if (rc == CAIRN_OK) {
		cairn__free(batch); /* the events now belong to the record */
		return;
	}
	if (batch)
		events_free(batch, req->nevents);
	record_failure(t, rc,
	               rc == CAIRN_NOMEM ? "out of memory"
	                                 : cairn_last_error());
}

static void
tracking_destroy(cairn__forward *fw)
{
	tracker *t = (tracker *)fw;

	events_free(t->events, t->nevents);
	pthread_mutex_destroy(&t->lock);
}

/* ---- The public face ---- */

cairn_status
cairn_tracking_open(cairn_store *inner, cairn_store **out)
{
	tracker *t;
	cairn_status rc;

	if (out)
		*out = NULL;
	if (inner == NULL || out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	t = cairn__calloc(1, sizeof(*t));
	if (t == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		cairn__free(t);
		return cairn__error(CAIRN_NOMEM, 0, "no mutex to be had");
	}
	rc = cairn__forward_open(&tracking_ops, &t->fw, inner, &tracking_hooks,
	                         out);
	if (rc != CAIRN_OK) {
		pthread_mutex_destroy(&t->lock);
		cairn__free(t);
	}
	return rc;
}

/* An iterator over a private copy of the record. */
typedef struct record_iter {
	cairn__iter base;
	cairn_event **events;
	size_t n;
	size_t next;
} record_iter;

static cairn_status
record_iter_next(cairn__iter *base, const cairn_event **ev)
{
	record_iter *it = (record_iter *)base;

	if (it->next >= it->n)
		return CAIRN_DONE;
	*ev = it->events[it->next++];
	return CAIRN_ROW;
}

static void
record_iter_free(cairn__iter *base)
{
	record_iter *it = (record_iter *)base;

	events_free(it->events, it->n);
	cairn__free(it);
}

static const cairn__iter_ops record_iter_ops = {
        record_iter_next,
        record_iter_free,
        NULL,
        NULL,
};

/* Copy the record under the lock into it (it->n events). */
static cairn_status
record_copy(tracker *t, record_iter *it)
{
	cairn_status rc = CAIRN_OK;
	size_t i;

	pthread_mutex_lock(&t->lock);
	if (t->failure != CAIRN_OK) {
		rc = cairn__error(t->failure, 0, "%s", t->failure_msg);
		goto out;
	}
	if (t->nevents == 0)
		goto out;
	it->events = cairn__calloc(t->nevents, sizeof(*it->events));
	if (it->events == NULL) {
		rc = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < t->nevents; i++) {
		it->events[i] = cairn__event_dup(t->events[i]);
		if (it->events[i] == NULL) {
			rc = cairn__error(CAIRN_NOMEM, 0, "out of memory");
			goto out;
		}
		it->n = i + 1;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

cairn_status
cairn_tracking_read(cairn_store *store, cairn_iter **out)
{
	cairn__forward *fw = cairn__forward_of(store, &tracking_ops);
	record_iter *it;
	cairn_status rc;

	if (out)
		*out = NULL;
	if (out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "out is NULL");
	if (fw == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "the store is not a tracking store");
	it = cairn__calloc(1, sizeof(*it));
	if (it == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	it->base.ops = &record_iter_ops;
	rc = record_copy((tracker *)fw, it);
	if (rc != CAIRN_OK) {
		record_iter_free(&it->base);
		return rc;
	}
	return cairn__forward_serve_iter(store, &it->base, out);
}

void
cairn_tracking_clear(cairn_store *store)
{
	cairn__forward *fw = cairn__forward_of(store, &tracking_ops);
	tracker *t = (tracker *)fw;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	events_free(t->events, t->nevents);
	t->events = NULL;
	t->nevents = 0;
	t->cap = 0;
	t->failure = CAIRN_OK;
	t->failure_msg[0] = '\0';
	pthread_mutex_unlock(&t->lock);
}
