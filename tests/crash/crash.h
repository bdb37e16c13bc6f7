/*
 * crash.h -- the crash suite's harness: stores in scratch directories,
 * writer processes killed with SIGKILL while they append, the record of
 * what they acknowledged, and checker processes that reopen a store (as a
 * fresh process, optionally after a simulated reboot) and check it.
 *
 * Every store is opened only in child processes: the test process itself
 * never holds a store open, so it may fork at any time, and every reopen
 * is a first open by a new process, as after a real crash.
 */
#ifndef CAIRN_TESTS_CRASH_H
#define CAIRN_TESTS_CRASH_H

#include <cairn.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRASH_MAX_WRITERS 2
#define CRASH_STREAM_MAX 64  /* bytes of a stream id, NUL included */
#define CRASH_TOKEN_MAX 48   /* bytes of an event's token, ditto */
#define CRASH_BOOT_ID_MAX 37 /* CAIRN_TEST_BOOT_ID, NUL included */

/* One event a writer was told is committed (cairn_append() returned
 * CAIRN_OK), where it was told it lives. */
typedef struct crash_ack {
	char stream[CRASH_STREAM_MAX];
	uint64_t version;
	uint64_t position;
	cairn_uuid id;
	char token[CRASH_TOKEN_MAX]; /* the event's data */
} crash_ack;

/* A store under test and everything acknowledged into it so far. */
typedef struct crash_store {
	char dir[1024];
	char uri[1040];
	crash_ack *acks;
	size_t nacks;
	size_t cap;
	unsigned rounds; /* writer rounds run; tokens name them */
	uint64_t rng;    /* this store's share of the seed */
} crash_store;

/* How one round of writers runs and ends. */
typedef struct crash_round {
	unsigned nwriters; /* 1..CRASH_MAX_WRITERS */
	/* when each writer gets SIGKILL, in ms after the round starts */
	unsigned kill_ms[CRASH_MAX_WRITERS];
	/* do not kill before the round has this many acked appends (all
	 * writers together); a round that cannot get them within
	 * CRASH_MIN_ACKS_WAIT_MS fails */
	unsigned min_appends;
	const char *boot_id; /* the writers' boot id; NULL: the real */
	/* kill the writers the moment the log header holds a checkpoint
	 * newer than at the start (the parent watches DIR/wal), instead of
	 * at kill_ms */
	bool kill_at_checkpoint;
	/* every event carries metadata of this many bytes (0: a few) */
	size_t pad_bytes;
} crash_round;

/* What a check expects of the store. */
typedef struct crash_expect {
	const char *boot_id; /* the checker's boot id; NULL: the real */
	bool read_only;      /* open with read_only set */
} crash_expect;

/* The seed every random choice derives from (printed by main). */
extern uint64_t crash_seed;
/* The directory under which stores are made (argv[1]). */
extern const char *crash_base_dir;

uint64_t crash_rng_next(uint64_t *state);
unsigned crash_rng_below(uint64_t *state, unsigned n);
/* lo..hi, both included */
unsigned crash_rng_range(uint64_t *state, unsigned lo, unsigned hi);
/* seconds on the monotonic clock */
double crash_now(void);

/* An event's data names the append it came from:
 *   r<round>.c<writer>.a<append>.e<index>/<events in the append>
 * with an X in front for an append that had to conflict. */
typedef struct crash_token {
	unsigned round, writer, append, index, count;
	bool conflict;
} crash_token;

/* Parse text (len bytes, not necessarily NUL-terminated).  Returns 0 or
 * -1 when it is not a token. */
int crash_token_parse(const char *text, size_t len, crash_token *t);

/* Fork a child that sets CAIRN_TEST_BOOT_ID to boot_id (when not NULL),
 * runs fn(cs, arg, fd) and exits with what it returns; fd is the write
 * end of a pipe, whose read end the parent reads into out (at most
 * out_size - 1 bytes, NUL-terminated; out may be NULL).  The child is
 * bounded by an alarm.  Returns the child's exit status, or -1 when it
 * died of a signal (printed). */
typedef int (*crash_child_fn)(crash_store *cs, const void *arg, int fd);
int crash_spawn(crash_store *cs, const char *boot_id, crash_child_fn fn,
                const void *arg, char *out, size_t out_size);

/* Make a fresh empty directory for a store named name (removing what a
 * failed earlier run left).  Returns 0 or -1 with a message printed. */
int crash_store_init(crash_store *cs, const char *name);
/* Remove the store's directory and free the record of acks. */
void crash_store_free(crash_store *cs);

/* Fork the round's writers, collect their acks into cs->acks, kill them
 * as run says and reap them.  Returns the number of acked appends of the
 * round, or -1 (printed) when a writer reported an error, died of
 * anything but the SIGKILL, or min_appends could not be reached. */
long crash_run_writers(crash_store *cs, const crash_round *run);

/* In a fresh process, open the store as ex says (recovering when needed)
 * and check it against every ack: each acked event at its position, in
 * its stream at its version, with its id and data; the head at or past
 * the last acked position; every append whole or absent; no event the
 * writers did not append; at most one unacknowledged append per writer
 * per round, its last; the streams read back contiguously; and
 * cairn_verify() reporting no problem.  Returns 0, or -1 with every
 * finding printed. */
int crash_check(crash_store *cs, const crash_expect *ex);

/* In a fresh process with boot id boot_id (NULL: the real one), open the
 * store (read-only when read_only), and close it again.  *status receives
 * cairn_open()'s status and msg its cairn_last_error().  Returns 0, or -1
 * when the process itself failed. */
int crash_try_open(crash_store *cs, const char *boot_id, bool read_only,
                   cairn_status *status, char *msg, size_t msg_size);

/* Overwrite LMDB's two meta pages (the first 2 pages of DIR/data.mdb,
 * page size from sysconf) with garbage (zeros when zeros is set): the
 * stand-in for meta pages that reached the disk without the pages they
 * point to.  Returns 0 or -1 (printed). */
int crash_trash_meta(crash_store *cs, bool zeros);

/* Follow the checksummed chain of records of DIR/wal from the first slot
 * (see src/backends/lmdb_wal.h for the layout): *first_lsn and *last_lsn
 * receive the lsns of its first and last records (0 when none), *tail
 * the offset just past the last.  Returns 0 or -1 (printed). */
typedef struct crash_wal_chain {
	uint64_t first_lsn;
	uint64_t last_lsn;
	uint64_t tail;
	uint64_t file_size;
} crash_wal_chain;
int crash_wal_tail(crash_store *cs, crash_wal_chain *chain);

/* The highest checkpoint sequence number in the header slots of DIR/wal
 * (0 when there is none), checksums unchecked: a slot counts as soon as
 * its bytes are in the file.  Returns 0 or -1. */
int crash_wal_checkpoint_seq(crash_store *cs, uint64_t *seq);

/* Write len bytes of buf at offset off of DIR/name, without syncing.
 * Returns 0 or -1 (printed). */
int crash_write_at(crash_store *cs, const char *name, uint64_t off,
                   const void *buf, size_t len);

/* Read the whole of DIR/name into *buf (malloc'd; caller frees).
 * Returns 0, 1 when the file does not exist, or -1 (printed). */
int crash_read_file(crash_store *cs, const char *name, uint8_t **buf,
                    size_t *len);

#endif /* CAIRN_TESTS_CRASH_H */
