/*
 * faults.h -- the faults suite's harness: scratch stores, child processes
 * (a crash is a child's _exit() without cairn_close(); a machine crash is
 * a reopen under another CAIRN_TEST_BOOT_ID), and small helpers over the
 * public API.
 *
 * Code that runs in a child must not use cmocka's assertions (a failed
 * one would unwind into the child's copy of the test runner): it checks
 * with FAULTS_CHECK, which prints what failed and returns 1 from the
 * child's function, and the parent asserts the child's exit status.
 */
#ifndef CAIRN_TESTS_FAULTS_H
#define CAIRN_TESTS_FAULTS_H

#include <cairn.h>

#include <stddef.h>
#include <stdint.h>

#define FAULTS_PATH_MAX 1024

/* In a child: when cond is false, say so (with cairn_last_error()) and
 * return 1 from the enclosing function. */
#define FAULTS_CHECK(cond)                                                     \
	do {                                                                   \
		if (!(cond)) {                                                 \
			faults_report(__FILE__, __LINE__, #cond);              \
			return 1;                                              \
		}                                                              \
	} while (0)

/* A scratch store: dir under the suite's base directory, and its uri. */
typedef struct faults_store {
	char dir[FAULTS_PATH_MAX];
	char uri[FAULTS_PATH_MAX + 8];
} faults_store;

/* The directory under which stores are made (argv[1]). */
extern const char *faults_base_dir;

void faults_report(const char *file, int line, const char *what);

/* Make a fresh, empty store named after name (and the process id); 0 or
 * -1.  faults_store_remove() deletes it. */
int faults_store_make(faults_store *fs, const char *name);
void faults_store_remove(const faults_store *fs);

/* Run fn(arg) in a child process, which then ends with _exit(): for a
 * store it holds open, that is a process crash.  When boot_id is not
 * NULL the child runs with CAIRN_TEST_BOOT_ID set to it.  Returns the
 * child's exit status, or -1 when it did not exit (a signal). */
int faults_run_child(int (*fn)(void *), void *arg, const char *boot_id);

/* Memory shared with the children forked after this call (zeroed);
 * NULL when out of memory.  faults_shared_free() unmaps it. */
void *faults_shared_alloc(size_t len);
void faults_shared_free(void *p, size_t len);

/* cairn_open() with these options (map_size 0: the default). */
cairn_status faults_open(const char *uri, cairn_durability durability,
                         int read_only, size_t map_size, cairn_store **out);

/* Append one event of type type with len bytes of data to stream, at any
 * version. */
cairn_status faults_append(cairn_store *st, const char *stream,
                           const char *type, size_t len);

/* The number of events of type type in the whole store; -1 when the read
 * fails. */
long faults_count_type(cairn_store *st, const char *type);

/* The version of stream; UINT64_MAX when the call fails. */
uint64_t faults_version(cairn_store *st, const char *stream);

/* The number of problems cairn_verify() finds (printed to stderr);
 * UINT64_MAX when it fails. */
uint64_t faults_problems(cairn_store *st);

/* Seconds on the monotonic clock. */
double faults_now(void);

/* Run the tests of engines.c (under the test filter); cmocka's result. */
int faults_engine_tests(void);

#endif
