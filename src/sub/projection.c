/*
 * projection.c -- a runner that feeds a durable subscription to a
 * handler.
 *
 * The runner is a small loop over cairn_sub_next(): hand the batch to
 * the handler, and when it accepts, acknowledge the batch's last
 * position (or, with load_position, leave the position to the read
 * model, which saved it with its update).  A handler error returns at
 * once, so the stored cursor is the last batch that succeeded and a
 * restarted runner gets the failed batch again.
 */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

/* How long one wait of a running projection lasts before it looks at
 * its stop flag on its own (cairn_projection_stop() also wakes it). */
#define PROJECTION_WAIT_MS 500

struct cairn_projection {
	cairn_store *st;
	cairn_sub *sub;
	cairn_projection_fn handle;
	void *ctx;
	bool self_positioned; /* load_position given: no acks */
	uint64_t position;    /* last batch accepted */
	int stopped;          /* atomic */
	/* The batch the handler refused, still the subscription's (no
	 * cairn_sub_next() since): handed over again first when the runner
	 * is run again, so that no later ack covers it. */
	const cairn_event *failed;
	size_t nfailed;
};

void
cairn_projection_opts_init(cairn_projection_opts *opts)
{
	if (opts == NULL)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->version = CAIRN_PROJECTION_OPTS_VERSION;
	cairn_sub_opts_init(&opts->sub);
}

cairn_status
cairn_projection_open(cairn_store *st, const cairn_projection_opts *o,
                      cairn_projection **out)
{
	cairn_sub_opts so;
	cairn_projection *p;
	cairn_status rc;
	uint64_t pos;

	if (out)
		*out = NULL;
	if (st == NULL || o == NULL || out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	if (o->version == 0 || o->version > CAIRN_PROJECTION_OPTS_VERSION)
		return cairn__error(CAIRN_INVALID, 0,
		                    "projection options version %u is not "
		                    "known; use cairn_projection_opts_init()",
		                    o->version);
	if (o->handle == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "a projection needs a handler");
	if (o->sub.name == NULL && o->load_position == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "a projection needs a subscription name, "
		                    "or load_position to keep its own place");
	so = o->sub;
	if (o->load_position) {
		/* The read model's position rules; nothing is stored. */
		pos = 0;
		rc = o->load_position(o->ctx, &pos);
		if (rc != CAIRN_OK)
			return rc;
		so.name = NULL;
		so.start = CAIRN_SUB_AFTER;
		so.after = pos;
	}
	p = cairn__calloc(1, sizeof(*p));
	if (p == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	rc = cairn_subscribe(st, &so, &p->sub);
	if (rc != CAIRN_OK) {
		cairn__free(p);
		return rc;
	}
	p->st = st;
	p->handle = o->handle;
	p->ctx = o->ctx;
	p->self_positioned = o->load_position != NULL;
	p->position = cairn_sub_position(p->sub);
	*out = p;
	return CAIRN_OK;
}

static bool
stopped(const cairn_projection *p)
{
	return __atomic_load_n(&p->stopped, __ATOMIC_ACQUIRE) != 0;
}

/* Handle one batch and record the success. */
static cairn_status
handle_batch(cairn_projection *p, const cairn_event *batch, size_t n)
{
	uint64_t last = batch[n - 1].position;
	cairn_status rc;

	rc = p->handle(p->ctx, batch, n);
	if (rc != CAIRN_OK) {
		if (rc == CAIRN_ROW || rc == CAIRN_DONE)
			rc = CAIRN_INVALID; /* not an error code: make it one */
		cairn__error(rc, 0,
		             "the projection's handler failed on the batch "
		             "ending at position %llu",
		             (unsigned long long)last);
		p->failed = batch;
		p->nfailed = n;
		return rc;
	}
	p->failed = NULL;
	p->position = last;
	if (p->self_positioned)
		return CAIRN_OK;
	return cairn_sub_ack(p->sub, last);
}

/* Run until the head as of now (until != 0) or until stopped. */
static cairn_status
run(cairn_projection *p, bool to_head)
{
	const cairn_event *batch;
	uint64_t head = 0;
	cairn_status rc;
	size_t n;

	if (to_head && (rc = cairn_head(p->st, &head)) != CAIRN_OK)
		return rc;
	if (p->failed && !stopped(p) &&
	    (rc = handle_batch(p, p->failed, p->nfailed)) != CAIRN_OK)
		return rc;
	for (;;) {
		if (stopped(p))
			return CAIRN_CLOSED;
		/* Caught up: every batch up to the head was handled (the
		 * subscription examined at least that far). */
		if (to_head && cairn_sub_position(p->sub) >= head)
			return CAIRN_OK;
		rc = cairn_sub_next(p->sub, to_head ? 0 : PROJECTION_WAIT_MS,
		                    &batch, &n);
		if (rc == CAIRN_TIMEOUT) {
			if (to_head)
				return CAIRN_OK; /* nothing left that matches */
			continue;
		}
		if (rc == CAIRN_CLOSED && !to_head && stopped(p))
			return CAIRN_OK;
		if (rc != CAIRN_ROW)
			return rc;
		rc = handle_batch(p, batch, n);
		if (rc != CAIRN_OK)
			return rc;
	}
}

cairn_status
cairn_projection_catch_up(cairn_projection *p)
{
	if (p == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL projection");
	return run(p, true);
}

cairn_status
cairn_projection_run(cairn_projection *p)
{
	cairn_status rc;

	if (p == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL projection");
	rc = run(p, false);
	return rc == CAIRN_CLOSED && stopped(p) ? CAIRN_OK : rc;
}

void
cairn_projection_stop(cairn_projection *p)
{
	if (p == NULL)
		return;
	__atomic_store_n(&p->stopped, 1, __ATOMIC_RELEASE);
	cairn_sub_stop(p->sub);
}

uint64_t
cairn_projection_position(const cairn_projection *p)
{
	return p ? p->position : 0;
}

void
cairn_projection_close(cairn_projection *p)
{
	if (p == NULL)
		return;
	cairn_sub_close(p->sub);
	cairn__free(p);
}
