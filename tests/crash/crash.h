/*
 * crash.h -- the crash suite's harness: stores in scratch directories,
 * writer processes killed with SIGKILL while they append, the record of
 * what they acknowledged, and checker processes that reopen a store (as a
 * fresh process, optionally after a simulated reboot) and check it.
 *
 * Stores live on lmdb, sqlite or postgres (a schema of the test cluster);
 * what simulates a machine crash (boot ids, LMDB meta pages, the log) is
 * lmdb's alone.
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
#define CRASH_SHAPE_MAX 48   /* bytes of an event's shape, ditto */
#define CRASH_SCHEMA_MAX 64  /* a postgres schema name, ditto */
/* A postgres store's connections carry the application_name this and
 * the schema's name (crash_pg_wait_idle() looks for them). */
#define CRASH_PG_APP_PREFIX "cairn_crash_"

/* The engines a store under test may live on.  The memory engine is not
 * among them: nothing of it outlives its process. */
typedef enum crash_backend {
	CRASH_LMDB,
	CRASH_SQLITE,
	CRASH_POSTGRES
} crash_backend;

/* One event a writer was told is committed (cairn_append() returned
 * CAIRN_OK), where it was told it lives. */
typedef struct crash_ack {
	char stream[CRASH_STREAM_MAX];
	uint64_t version;
	uint64_t position;
	cairn_uuid id;
	char token[CRASH_TOKEN_MAX]; /* the event's data */
	/* the rest of the event, in short (see crash_shape_of()) */
	char shape[CRASH_SHAPE_MAX];
} crash_ack;

/* A store under test and everything acknowledged into it so far.  An lmdb
 * store is the directory dir, a sqlite store the file dir/store.db, a
 * postgres store the schema `schema` of the database CAIRN_PG_URI names
 * (dir then only names it in messages). */
typedef struct crash_store {
	crash_backend backend;
	char dir[1024];
	char uri[1200];
	char schema[CRASH_SCHEMA_MAX]; /* postgres only */
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
	/* kill_ms counts from the moment each writer's cairn_open()
	 * returned, not from the start of the round (opening a postgres
	 * store takes longer than many appends) */
	bool kill_from_open;
} crash_round;

/* What a check found besides problems. */
typedef struct crash_findings {
	uint64_t head;         /* the store's head position */
	unsigned long appends; /* appends stored (whole or not) */
	/* appends stored that no writer acknowledged (each the last of its
	 * writer's round, whose ack the kill cut off) */
	unsigned long unacked;
	unsigned long problems; /* violations found (0 on success) */
} crash_findings;

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

/* The name of a backend ("lmdb", ...), and the backend of a name:
 * 0, or -1 when name is none. */
const char *crash_backend_name(crash_backend be);
int crash_backend_parse(const char *name, crash_backend *be);

/* Make a fresh empty directory for an lmdb store named name (removing
 * what a failed earlier run left).  Returns 0 or -1 with a message
 * printed. */
int crash_store_init(crash_store *cs, const char *name);
/* The same for a store on backend be.  A postgres store needs
 * CAIRN_PG_URI; its schema, crash_<name>_<pid>, is dropped first when a
 * failed earlier run left it.  Returns 0, 1 when CAIRN_PG_URI is not set
 * (printed), or -1 (printed). */
int crash_store_init_on(crash_store *cs, const char *name, crash_backend be);
/* Remove the store's directory (and drop a postgres store's schema) and
 * free the record of acks. */
void crash_store_free(crash_store *cs);

/* The shape of an event: its type, its metadata and its tags, in a short
 * text ("t2.m1.g3") that a writer sends with each ack and the checker
 * compares with what it reads.  round and slot name the writer (its
 * condition tag).  Returns 0. */
int crash_shape_of(const cairn_event *e, unsigned round, unsigned slot,
                   char out[CRASH_SHAPE_MAX]);

/* postgres stores (pg.c): drop schema from the database CAIRN_PG_URI
 * names; wait until no server process serves a client of the store
 * (a SIGKILLed client's transaction has then committed or rolled back,
 * as after a restart of the application).  Return 0 or -1 (printed). */
int crash_pg_drop_schema(const char *schema);
int crash_pg_wait_idle(const crash_store *cs, double max_seconds);

/* Fork the round's writers, collect their acks into cs->acks, kill them
 * as run says and reap them.  Returns the number of acked appends of the
 * round, or -1 (printed) when a writer reported an error, died of
 * anything but the SIGKILL, or min_appends could not be reached. */
long crash_run_writers(crash_store *cs, const crash_round *run);

/* In a fresh process, open the store as ex says (recovering when needed)
 * and check it against every ack: each acked event at its position, in
 * its stream at its version, with its id, data and shape (type, metadata,
 * tags); no event of an append that had to fail; the head at or past
 * the last acked position; every append whole or absent; no event the
 * writers did not append; at most one unacknowledged append per writer
 * per round, its last; the streams read back contiguously; and
 * cairn_verify() reporting no problem.  Returns 0, or -1 with every
 * finding printed. */
int crash_check(crash_store *cs, const crash_expect *ex);
/* The same, and *found (not NULL) receives what the check counted; its
 * problems are also counted when the check fails. */
int crash_check_counted(crash_store *cs, const crash_expect *ex,
                        crash_findings *found);

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
