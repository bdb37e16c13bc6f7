/*
 * shim.h -- fault injection for the faults suite, by symbol interposition.
 *
 * shim.c defines fdatasync(), fsync(), pwrite(), pwrite64(), pwritev(),
 * writev() and write() in the test executable (linked with
 * ENABLE_EXPORTS), so that libcairn, liblmdb and libsqlite3 call them
 * instead of libc's.  Each forwards to the real function; only when a
 * test has armed a fault does it look at which file the call is for
 * (through /proc/self/fd) and fail it (EIO, or the errno a rule gives).
 *
 * An injected sync failure still syncs: the data does reach the disk, and
 * only the caller is told otherwise.  That is the hard case for the
 * engine, which must not count on the data being there, nor on it being
 * gone.
 *
 * The files told apart are the lmdb store's write-ahead log ("wal") and
 * its LMDB data file ("data.mdb"), and the sqlite store's database file
 * (SHIM_SQL_NAME) and its WAL.  fsync, pwrite64 and write are wrapped
 * too, for SQLite.  Thread-safe; every counter and fault is
 * process-wide (a forked child inherits the parent's settings).
 */
#ifndef CAIRN_TESTS_FAULTS_SHIM_H
#define CAIRN_TESTS_FAULTS_SHIM_H

#include <stdbool.h>

/* The name the tests give an sqlite store's file in its directory: the
 * shim tells it and its WAL (NAME-wal) apart from other files. */
#define SHIM_SQL_NAME "store.db"

/* What a call is for: the lmdb engine's log ("wal") and data file
 * ("data.mdb"), the sqlite engine's database file and its WAL. */
enum shim_file {
	SHIM_OTHER,
	SHIM_LOG,
	SHIM_DATA,
	SHIM_SQL_DB,
	SHIM_SQL_WAL,
	SHIM_FILES
};

/* A write (write, pwrite, pwrite64, writev, pwritev: not made when it
 * fails) or a sync (fsync, fdatasync: made, and then reported failed). */
enum shim_op { SHIM_WRITE, SHIM_SYNC, SHIM_OPS };

/* Whether the shim is in force: whether a global lookup of fdatasync,
 * as the libraries' own calls make, finds the shim's.  (Under
 * AddressSanitizer it does: the executable comes before the runtime's
 * interceptors, which RTLD_NEXT then reaches.) */
bool shim_usable(void);

/* Disarm every fault and stop counting. */
void shim_reset(void);

/* Fail the next n syncs of the log. */
void shim_fail_log_syncs(unsigned n);

/* Fail the next n syncs of the data file. */
void shim_fail_data_syncs(unsigned n);

/* After the next sync of the data file (a checkpoint), fail the next
 * write to the data file (the following LMDB commit). */
void shim_fail_data_write_after_data_sync(void);

/* After the next sync of the data file (a checkpoint), fail the k-th sync
 * of the log (k >= 1; the checkpoint's header write is the first). */
void shim_fail_log_sync_after_data_sync(unsigned k);

/* A rule: let the next skip calls op on file through, then fail the n
 * after them with err.  Up to four rules at once; shim_reset() drops
 * them. */
void shim_fail_calls(enum shim_file file, enum shim_op op, unsigned skip,
                     unsigned n, int err);

/* The failures the rules still have to inject. */
unsigned shim_rule_left(void);

/* The failures the rules injected in this process since it began (a
 * forked child starts from its parent's count). */
unsigned shim_injected(void);

/* Count every call per file and op from now on (from 0), and read a
 * count. */
void shim_count_calls(void);
unsigned shim_calls(enum shim_file file, enum shim_op op);

/* While counting: the first write or sync that really failed (or wrote
 * short) since shim_count_calls(), its file and errno (EFBIG for a short
 * write); false when none did. */
bool shim_first_failure(enum shim_file *file, int *err);

/* A file kind's name, for messages. */
const char *shim_file_name(enum shim_file file);

/* Count the syncs of the log and of the data file from now on (from 0). */
void shim_count_syncs(void);
unsigned shim_log_syncs(void);
unsigned shim_data_syncs(void);

#endif
