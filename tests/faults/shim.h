/*
 * shim.h -- fault injection for the faults suite, by symbol interposition.
 *
 * shim.c defines fdatasync(), pwrite(), pwritev() and writev() in the test
 * executable (linked with ENABLE_EXPORTS), so that libcairn and liblmdb
 * call them instead of libc's.  Each forwards to the real function; only
 * when a test has armed a fault does it look at which file the call is
 * for (through /proc/self/fd) and fail it with EIO.
 *
 * An injected sync failure still syncs: the data does reach the disk, and
 * only the caller is told otherwise.  That is the hard case for the
 * engine, which must not count on the data being there, nor on it being
 * gone.
 *
 * The files told apart are the store's write-ahead log ("wal") and its
 * LMDB data file ("data.mdb").  Thread-safe; every counter and fault is
 * process-wide (a forked child inherits the parent's settings).
 */
#ifndef CAIRN_TESTS_FAULTS_SHIM_H
#define CAIRN_TESTS_FAULTS_SHIM_H

#include <stdbool.h>

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

/* Count the syncs of the log and of the data file from now on (from 0). */
void shim_count_syncs(void);
unsigned shim_log_syncs(void);
unsigned shim_data_syncs(void);

#endif
