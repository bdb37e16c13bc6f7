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
 */
#include "core.h"

/* Bounds on one shared transaction, so that a single commit's memory and
 * latency stay modest under heavy load. */
#define GROUP_MAX_REQUESTS 1024
#define GROUP_MAX_EVENTS 65536

cairn_status
cairn__group_init(cairn__group *g, cairn__batch_fn fn, void *ctx)
{
	if (pthread_mutex_init(&g->mutex, NULL) != 0)
		return cairn__error(CAIRN_NOMEM, 0, "cannot create a mutex");
	if (pthread_cond_init(&g->cond, NULL) != 0) {
		pthread_mutex_destroy(&g->mutex);
		return cairn__error(CAIRN_NOMEM, 0, "cannot create a condition");
	}
	g->head = g->tail = NULL;
	g->leader_active = false;
	g->commit_batch = fn;
	g->ctx = ctx;
	g->max_batch_requests = GROUP_MAX_REQUESTS;
	g->max_batch_events = GROUP_MAX_EVENTS;
	return CAIRN_OK;
}

void
cairn__group_destroy(cairn__group *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->mutex);
}

/* Detach the front of the queue within the batch limits; the first
 * request is always taken, whatever its size. */
static size_t
take_batch(cairn__group *g, cairn__append_req **batch)
{
	size_t n = 0, events = 0;

	while (g->head && n < g->max_batch_requests) {
		if (n > 0 && events + g->head->nevents > g->max_batch_events)
			break;
		events += g->head->nevents;
		batch[n++] = g->head;
		g->head = g->head->next_in_queue;
	}
	if (g->head == NULL)
		g->tail = NULL;
	return n;
}

cairn_status
cairn__group_submit(cairn__group *g, cairn__append_req *req)
{
	cairn__append_req *batch[GROUP_MAX_REQUESTS];
	size_t n, i;

	req->done = false;
	req->next_in_queue = NULL;
	pthread_mutex_lock(&g->mutex);
	if (g->tail)
		g->tail->next_in_queue = req;
	else
		g->head = req;
	g->tail = req;

	while (!req->done) {
		if (g->leader_active) {
			pthread_cond_wait(&g->cond, &g->mutex);
			continue;
		}
		g->leader_active = true;
		n = take_batch(g, batch);
		pthread_mutex_unlock(&g->mutex);

		g->commit_batch(g->ctx, batch, n);

		pthread_mutex_lock(&g->mutex);
		for (i = 0; i < n; i++)
			batch[i]->done = true;
		g->leader_active = false;
		pthread_cond_broadcast(&g->cond);
	}
	pthread_mutex_unlock(&g->mutex);
	return req->status;
}
