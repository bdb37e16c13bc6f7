/*
 * lmdb_wal.h -- the write-ahead log file of the lmdb engine.
 *
 * Only lmdb.c uses this.  The log is a preallocated file (its blocks
 * written once with zeros, so that a sync of a record never has to sync
 * file-system metadata too) holding:
 *
 *   two header slots   the last two checkpoints, each with a sequence
 *                      number and a CRC; the valid one with the higher
 *                      sequence is current
 *   records            [crc32 u32][len u32][lsn u64][payload], one per
 *                      committed batch, from data_start on, in lsn order
 *
 * A checkpoint records the log sequence number (lsn) that the LMDB file
 * holds durably, the boot it happened in, and a copy of LMDB's two meta
 * pages at that moment, so that after a power loss the LMDB file can be
 * put back to that consistent state and the records replayed on top.
 */
#ifndef CAIRN_LMDB_WAL_H
#define CAIRN_LMDB_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_RECORD_HEADER 16
#define WAL_BOOT_ID_LEN 36
#define WAL_MAX_PSIZE 65536

typedef struct wal_file {
	int fd;
	uint64_t size;       /* bytes preallocated */
	uint64_t data_start; /* offset of the first record */
	uint32_t psize;      /* LMDB page size the slots are laid for */
} wal_file;

typedef struct wal_checkpoint {
	uint64_t seq;   /* which checkpoint; higher is newer */
	uint64_t lsn;   /* records up to this one are in LMDB */
	uint64_t start; /* where the record lsn + 1 goes */
	char boot_id[WAL_BOOT_ID_LEN + 1];
	uint32_t psize;
	uint8_t *meta; /* 2 * psize bytes: LMDB pages 0 and 1 */
} wal_checkpoint;

/* Open or create dir/wal for pages of psize bytes, preallocating at least
 * min_size bytes.  read_only: open an existing log only (ENOENT if none),
 * never write.  Returns 0 or an errno value. */
int wal_open(wal_file *w, const char *dir, uint32_t psize, uint64_t min_size,
             bool read_only);
void wal_close(wal_file *w);

/* Grow the file to at least size bytes, writing the new blocks.  Returns
 * 0 or an errno value. */
int wal_grow(wal_file *w, uint64_t size);

/* Read the current checkpoint into *c (c->meta allocated by the caller,
 * 2 * psize bytes).  Returns 0, ENOENT when neither slot is valid (a new
 * log), or an errno value. */
int wal_read_checkpoint(wal_file *w, wal_checkpoint *c);

/* Write *c into the slot that is not current, and sync.  c->seq must be
 * one more than the current one.  Returns 0 or an errno value. */
int wal_write_checkpoint(wal_file *w, const wal_checkpoint *c);

/* Write a record at offset: rec holds WAL_RECORD_HEADER bytes of room and
 * then the payload (len bytes in all, header included); the header is
 * filled here.  Syncs when sync is true.  Returns 0 or an errno value. */
int wal_write_record(wal_file *w, uint64_t offset, uint64_t lsn, uint8_t *rec,
                     size_t len, bool sync);

/* Make the record at offset unreadable (its commit failed), and sync. */
int wal_erase_record(wal_file *w, uint64_t offset);

/* Read the record at offset if it is whole and has lsn: its payload is
 * returned in *buf (malloc'd, caller frees) and *len; *next is where the
 * next record starts.  Returns 0, ENOENT when there is no such record
 * (the end of the log), or an errno value. */
int wal_read_record(wal_file *w, uint64_t offset, uint64_t lsn, uint8_t **buf,
                    size_t *len, uint64_t *next);

/* This boot's id (from the kernel), for telling a process crash from a
 * machine crash.  Returns 0 or an errno value. */
/* fsync the directory dir (its entries: a new or renamed file). */
int wal_sync_dir(const char *dir);

int wal_boot_id(char out[WAL_BOOT_ID_LEN + 1]);

/* A writer's liveness mark: a POSIX record lock on one byte of the log
 * file, far past its end, at an offset derived from the writer's 16-byte
 * token.  The lock goes with the process (at its exit, or at
 * wal_unmark_alive()), so that another process can tell whether the
 * writer a token names is still running.  Returns 0 or an errno value. */
int wal_mark_alive(wal_file *w, const uint8_t token[16]);
void wal_unmark_alive(wal_file *w, const uint8_t token[16]);
/* True when another process holds the mark of token; false when nobody
 * does or when it cannot be told (so that a caller errs towards the safe
 * side).  A process's own marks are invisible to it (POSIX locks). */
bool wal_marked_alive(wal_file *w, const uint8_t token[16]);

#endif /* CAIRN_LMDB_WAL_H */
