/*
 * group_commit.c -- many appenders, one transaction, one sync.
 *
 * A durable commit costs a disk sync, which is the price of the whole
 * commit, not of each event.  Appenders therefore queue their requests;
 * the first to find no commit in progress becomes the leader, takes the
 * queue (up to the batch limits) and commits it with one engine
 * transaction.  Requests that arrive meanwhile wait for the next leader,
 * so the batch size adapts to the load by itself: a lone writer commits
 * alone and at once, eight writers share a sync.
 *
 * Left at that, batches alternate in size under a steady load: the
 * writers of one batch are still waking up when the next leader takes
 * the queue, so it commits alone and they all land in the batch after.
 * When the previous batch was shared, a new leader therefore waits a
 * moment (far less than a sync) for as many requests as that batch had.
 * A lone writer never waits.
 */
#include "core.h"

#include <stdlib.h>
#include <time.h>

/* Bounds on one shared transaction, so that a single commit's memory and
 * latency stay modest under heavy load. */
#define GROUP_MAX_REQUESTS 1024
#define GROUP_MAX_EVENTS 65536
#define GROUP_MAX_BYTES ((size_t)64 << 20)
/* How long a leader waits for the writers of the last batch to come back:
 * a fraction of one disk sync. */
#define GROUP_GATHER_NS 150000

cairn_status
cairn__group_init(cairn__group *g, cairn__batch_fn fn, void *ctx)
{
	if (pthread_mutex_init(&g->mutex, NULL) != 0)
		return cairn__error(CAIRN_NOMEM, 0, "cannot create a mutex");
	if (pthread_cond_init(&g->cond, NULL) != 0) {
		pthread_mutex_destroy(&g->mutex);
		return cairn__error(CAIRN_NOMEM, 0,
		                    "cannot create a condition");
	}
	if (pthread_cond_init(&g->arrived, NULL) != 0) {
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->mutex);
		return cairn__error(CAIRN_NOMEM, 0,
		                    "cannot create a condition");
	}
	g->head = g->tail = NULL;
	g->queued = g->last_batch = 0;
	g->leader_active = g->gathering = false;
	g->commit_batch = fn;
	g->ctx = ctx;
	g->max_batch_requests = GROUP_MAX_REQUESTS;
	g->max_batch_events = GROUP_MAX_EVENTS;
	g->max_batch_bytes = GROUP_MAX_BYTES;
	return CAIRN_OK;
}

void
cairn__group_destroy(cairn__group *g)
{
	pthread_cond_destroy(&g->arrived);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->mutex);
}

/* Detach the front of the queue within the batch limits (the first
 * request is always taken, whatever its size) into batch, which has room
 * for cap requests. */
static size_t
take_batch(cairn__group *g, cairn__append_req **batch, size_t cap)
{
	size_t n = 0, events = 0, bytes = 0;

	while (g->head && n < cap && n < g->max_batch_requests) {
		if (n > 0 && (events + g->head->nevents > g->max_batch_events ||
		              bytes + g->head->nbytes > g->max_batch_bytes))
			break;
		events += g->head->nevents;
		bytes += g->head->nbytes;
		batch[n++] = g->head;
		g->head = g->head->next_in_queue;
		g->queued--;
	}
	if (g->head == NULL)
		g->tail = NULL;
	return n;
}

/* With the mutex held: wait, briefly, for the queue to fill up to the
 * size of the last batch. */
static void
gather(cairn__group *g)
{
	struct timespec deadline;

	if (g->last_batch <= 1 || g->queued >= g->last_batch)
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += GROUP_GATHER_NS;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	g->gathering = true;
	while (g->queued < g->last_batch &&
	       pthread_cond_timedwait(&g->arrived, &g->mutex, &deadline) == 0)
		;
	g->gathering = false;
}

cairn_status
cairn__group_submit(cairn__group *g, cairn__append_req *req)
{
	cairn__append_req *stack[GROUP_MAX_REQUESTS], **batch;
	size_t n, i, cap;

	req->done = false;
	req->next_in_queue = NULL;
	pthread_mutex_lock(&g->mutex);
	if (g->tail)
		g->tail->next_in_queue = req;
	else
		g->head = req;
	g->tail = req;
	g->queued++;
	if (g->gathering)
		pthread_cond_signal(&g->arrived);

	while (!req->done) {
		if (g->leader_active) {
			pthread_cond_wait(&g->cond, &g->mutex);
			continue;
		}
		g->leader_active = true;
		gather(g);
		/* An engine may raise max_batch_requests past the stack
		 * array; without memory for a larger one, the stack's size
		 * is the batch's. */
		batch = stack;
		cap = GROUP_MAX_REQUESTS;
		if (g->max_batch_requests > cap && g->queued > cap) {
			cap = g->queued < g->max_batch_requests
			              ? g->queued
			              : g->max_batch_requests;
			batch = cairn__malloc(cap * sizeof(*batch));
			if (batch == NULL) {
				batch = stack;
				cap = GROUP_MAX_REQUESTS;
			}
		}
		n = take_batch(g, batch, cap);
		g->last_batch = n;
		pthread_mutex_unlock(&g->mutex);

		g->commit_batch(g->ctx, batch, n);

		pthread_mutex_lock(&g->mutex);
		for (i = 0; i < n; i++)
			batch[i]->done = true;
		if (batch != stack)
			cairn__free(batch);
		g->leader_active = false;
		pthread_cond_broadcast(&g->cond);
	}
	pthread_mutex_unlock(&g->mutex);
	return req->status;
}
