/*
 * readmodel.h -- todo lists on cairn: the read side.
 *
 * A projection folds the todo events into an SQLite database of its own
 * (lists, items, and the position of the last event folded) and the
 * queries read from there, never from the event store.  The position is
 * updated in the same SQLite transaction as the rows an event changes, so
 * every event is applied exactly once, whenever the program stops.
 */
#ifndef TODO_READMODEL_H
#define TODO_READMODEL_H

#include "cairn.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

struct todo_readmodel {
	sqlite3 *w; /* the projection's connection: writes */
	sqlite3 *r; /* the queries' connection, under rlock */
	pthread_mutex_t rlock;
	pthread_mutex_t lock; /* position */
	pthread_cond_t moved; /* position advanced */
	uint64_t position;    /* of the last committed batch */
	/* --rebuild: report progress to this stream (NULL: quiet) */
	FILE *progress;
	uint64_t target;
	int64_t last_report_ns;
};

/* Open (creating when missing) the read model in the SQLite file path.
 * Returns 0, or -1 after printing why. */
int readmodel_open(struct todo_readmodel *rm, const char *path);

void readmodel_close(struct todo_readmodel *rm);

/* Drop every list, item and the position: the next projection replays
 * the store from its first event.  Returns 0 or -1. */
int readmodel_drop(struct todo_readmodel *rm);

/* Open the projection runner that keeps rm up to date with st. */
cairn_status readmodel_projection(cairn_store *st, struct todo_readmodel *rm,
                                  cairn_projection **out);

/* Wait until the read model holds every event up to position min, at most
 * timeout_ms.  Returns 0 when it does, -1 when the time ran out. */
int readmodel_wait(struct todo_readmodel *rm, uint64_t min, int timeout_ms);

/* GET /lists: every list with its item counts, as JSON text (malloc'd;
 * free() it), or NULL on an error. */
char *readmodel_lists_json(struct todo_readmodel *rm);

/* GET /lists/{id}: one list with its items as JSON text (malloc'd), or
 * NULL: *found is 0 when there is no such list, else it was an error. */
char *readmodel_list_json(struct todo_readmodel *rm, const char *id,
                          int *found);

#endif /* TODO_READMODEL_H */
