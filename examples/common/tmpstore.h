/*
 * tmpstore.h -- what the example tests share: a store in a fresh
 * temporary directory, removed afterwards.
 */
#ifndef EXAMPLE_TMPSTORE_H
#define EXAMPLE_TMPSTORE_H

#include "cairn.h"

#include <stddef.h>

#define TMPSTORE_PATH_MAX 1024

struct tmpstore {
	char dir[TMPSTORE_PATH_MAX]; /* "" for memory: */
	char uri[TMPSTORE_PATH_MAX + 16];
	cairn_store *st;
};

/* Open a fresh store of backend ("lmdb" or "memory"), lmdb in a new
 * directory under $TMPDIR (or /tmp) named after label.  Returns 0, or -1
 * after printing why. */
int tmpstore_open(struct tmpstore *ts, const char *backend, const char *label);

/* Close the store and remove its directory. */
void tmpstore_close(struct tmpstore *ts);

#endif
