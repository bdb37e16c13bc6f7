/*
 * conformance.h -- shared fixture and helpers of the conformance suite.
 *
 * The suite checks DESIGN.md §1 (the contract every backend promises)
 * through the public API only (include/cairn.h).  It is compiled once and
 * run once per backend: `conformance <backend> [<base-dir>]`.  Each test
 * gets a fresh store from conf_setup() and loses it in conf_teardown(),
 * so tests never see each other's events.
 *
 * cmocka's assertions use longjmp and must only be called from the thread
 * running the test: worker threads record what they saw and the test
 * thread asserts after joining them.
 */
#ifndef CAIRN_CONFORMANCE_H
#define CAIRN_CONFORMANCE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cairn.h"

/* A backend under test: the scheme, how to spell a fresh store's URI and
 * whether its data outlives cairn_close(). */
typedef struct conf_backend {
	const char *name;
	/* snprintf format of a fresh store's URI; a "%s" in it is replaced
	 * by a fresh, empty directory (created and removed by the suite).
	 * Without "%s" the backend needs no directory ("memory:"). */
	const char *uri_format;
	int persists;
} conf_backend;

extern const conf_backend *conf_be;
/* Where per-test directories go (argv[2]); NULL: under $TMPDIR. */
extern const char *conf_base_dir;

/* What every test gets in *state. */
typedef struct conf_fixture {
	cairn_store *st;
	const char *test_name;
	char dir[1024];            /* "" when the backend needs none */
	char scratch[1024];        /* conf_scratch_dir(), or "" */
	char uri[1200];
	double started;            /* seconds, monotonic */
} conf_fixture;

/* Per-test setup/teardown: a fresh store with default options. */
int conf_setup(void **state);
int conf_teardown(void **state);
/* Group setup/teardown: check that the backend opens at all. */
int conf_group_setup(void **state);
int conf_group_teardown(void **state);

/* A test with the suite's fixture.  The name rides in initial_state so
 * that setup can print timings and name the test's directory. */
#define CONF_TEST(f) {#f, f, conf_setup, conf_teardown, (void *)#f}

/* Close the fixture's store (if open), delete its data and open a fresh,
 * empty one with opts (NULL = defaults).  Fails the test on error. */
void open_fresh_store(conf_fixture *fx, const cairn_options *opts);
/* Close the store and open the same URI again with opts (NULL =
 * defaults).  Only meaningful when store_persists(). */
void reopen_store(conf_fixture *fx, const cairn_options *opts);
/* Nonzero when the backend keeps its data across close and reopen. */
int store_persists(void);
/* A fresh directory that conf_teardown() removes; "" for memory-like
 * backends.  For tests that need a path of their own. */
const char *conf_scratch_dir(conf_fixture *fx, char *buf, size_t len);

double conf_now(void);
/* Nonzero when the environment variable is set to "1". */
int conf_env_flag(const char *name);

/* Fail with both status names and the library's last error. */
#define assert_status(actual, expected)                                      \
	do {                                                                 \
		cairn_status a_ = (actual);                                  \
		cairn_status e_ = (expected);                                \
		if (a_ != e_) {                                              \
			print_error("status %s (%d), expected %s (%d); "     \
			            "last error: \"%s\"\n",                  \
			            cairn_status_str(a_), (int)a_,           \
			            cairn_status_str(e_), (int)e_,           \
			            cairn_last_error());                     \
			fail();                                              \
		}                                                            \
	} while (0)

/* An event whose data is the NUL-terminated string data (without the
 * NUL); no metadata, tags or id. */
cairn_new_event conf_ev(const char *type, const char *data);

/* Append one event with data text; returns the status. */
cairn_status conf_append_text(cairn_store *st, const char *stream,
                              int64_t expected, const char *type,
                              const char *data, cairn_append_result *res);
/* Append n events of type "T" with data "<stream>#<k>" (k = from..);
 * asserts success. */
void conf_fill(cairn_store *st, const char *stream, size_t n);

uint64_t conf_head(cairn_store *st);
uint64_t conf_version(cairn_store *st, const char *stream);
cairn_stats conf_stats(cairn_store *st);

/* The visible state of a store, to check that a failed call wrote
 * nothing. */
typedef struct conf_snap {
	uint64_t head;
	uint64_t events;
	uint64_t streams;
} conf_snap;
conf_snap conf_snapshot(cairn_store *st);
#define assert_unchanged(st, snap)                                           \
	do {                                                                 \
		conf_snap now_ = conf_snapshot(st);                          \
		assert_int_equal(now_.head, (snap).head);                    \
		assert_int_equal(now_.events, (snap).events);                \
		assert_int_equal(now_.streams, (snap).streams);              \
	} while (0)

/* An owned copy of a read event. */
typedef struct conf_rec {
	cairn_uuid id;
	char *stream;
	char *type;
	unsigned char *data;       /* data_len bytes + a NUL for convenience */
	size_t data_len;
	unsigned char *metadata;
	size_t metadata_len;
	char **tags;
	size_t ntags;
	uint64_t version;
	uint64_t position;
	int64_t time_ns;
} conf_rec;

/* Drain an iterator into *out (owned copies); asserts it ends in
 * CAIRN_DONE and stays DONE, and frees it.  Returns the count. */
size_t conf_drain(cairn_iter *it, conf_rec **out);
size_t conf_read_stream(cairn_store *st, const char *stream,
                        const cairn_read_opts *opts, conf_rec **out);
size_t conf_read_all(cairn_store *st, const cairn_read_opts *opts,
                     conf_rec **out);
void conf_recs_free(conf_rec *recs, size_t n);

/* A copy of a listed stream. */
typedef struct conf_stream {
	char *stream;
	size_t stream_len;
	uint64_t version;
	uint64_t last_position;
	int64_t created_ns;
	int64_t updated_ns;
} conf_stream;
size_t conf_list(cairn_store *st, const char *prefix, const char *after,
                 size_t limit, conf_stream **out);
void conf_streams_free(conf_stream *s, size_t n);

/* A caller-given id, unique within the process run. */
cairn_uuid conf_uuid(void);

/* Run the groups (one per source file).  Each returns its failures. */
int conf_group_open(void);
int conf_group_append(void);
int conf_group_read(void);
int conf_group_list(void);
int conf_group_invalid(void);
int conf_group_concurrency(void);
int conf_group_persist(void);
int conf_group_dcb(void);
int conf_group_snapshot(void);
int conf_group_subscriptions(void);
int conf_group_big(void);

#endif
