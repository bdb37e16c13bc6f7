/*
 * deco.h -- what the decorator tests share: cmocka in the order it
 * needs, status assertions, scratch directories for lmdb stores, and a
 * read drained into comparable text.
 *
 * cmocka's assertions longjmp, so they are used in the main thread only:
 * worker threads record what they saw and the main thread checks it.
 */
#ifndef CAIRN_TESTS_DECO_H
#define CAIRN_TESTS_DECO_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cairn.h"

/* Fail with both status names and the library's last error. */
#define assert_status(actual, expected)                                        \
	do {                                                                   \
		cairn_status a_ = (actual);                                    \
		cairn_status e_ = (expected);                                  \
		if (a_ != e_)                                                  \
			fail_msg("status %s (%d), expected %s (%d); last "     \
			         "error: \"%s\"",                              \
			         cairn_status_str(a_), (int)a_,                \
			         cairn_status_str(e_), (int)e_,                \
			         cairn_last_error());                          \
	} while (0)

/* Fail unless the string hay contains needle, showing both. */
#define assert_contains(hay, needle)                                           \
	do {                                                                   \
		const char *hay_ = (hay);                                      \
		const char *needle_ = (needle);                                \
		if (hay_ == NULL || strstr(hay_, needle_) == NULL)             \
			fail_msg("\"%s\" does not contain \"%s\"",             \
			         hay_ ? hay_ : "(null)", needle_);             \
	} while (0)

/* A fresh directory under $TMPDIR (or /tmp) into buf; fails the test
 * when none can be made. */
void deco_tmpdir(char *buf, size_t size);
/* rm -rf path (no symlinks followed). */
void deco_rmtree(const char *path);

/* Open uri ("memory:", or "lmdb:" + a fresh directory when uri is
 * "lmdb"), failing the test on error; dir receives the directory ("" for
 * memory). */
cairn_store *deco_open(const char *uri, char *dir, size_t dir_size);

/* An event of type with the text data (no NUL), no metadata. */
cairn_new_event deco_ev(const char *type, const char *data);

/* Append one text event; returns the status. */
cairn_status deco_append(cairn_store *st, const char *stream, int64_t expected,
                         const char *type, const char *data,
                         cairn_append_result *res);

/* Every field of every event the iterator yields, one line per event,
 * as malloc'd text (free() it).  *final receives the status that ended
 * the read (CAIRN_DONE unless it failed).  The iterator stays the
 * caller's to free. */
char *deco_drain(cairn_iter *it, cairn_status *final);

/* The same for a listing of streams, which is freed. */
char *deco_drain_streams(cairn_stream_iter *it, cairn_status *final);

#endif /* CAIRN_TESTS_DECO_H */
