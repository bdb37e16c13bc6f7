/*
 * sqlite.c -- the SQLite engine ("sqlite:PATH").
 *
 * One database file in WAL mode, with a schema meant to be read by
 * people as much as by this file (docs/schema-sqlite.md):
 *
 *   events       one row per event, position INTEGER PRIMARY KEY (the
 *                rowid), plain columns: stream, version, id, type, data,
 *                metadata, tags (a JSON array), time_ns, commit_rest
 *   event_tags   (tag, position): the tag index of DCB queries
 *   streams      stream -> version, last_position, created_ns, updated_ns
 *   snapshots    (stream, schema) -> version, state
 *   cursors      name -> position, updated_ns (durable subscriptions)
 *
 * Indexes: events (stream, version) unique (stream reads), events (type)
 * (the type index: its entries are (type, rowid), so a type's events
 * come in position order), events (id) unique where the caller gave the
 * id (idempotency).  The schema's version is PRAGMA user_version; the
 * application_id marks the file as a cairn store.
 *
 * Connections.  Every connection is opened SQLITE_OPEN_NOMUTEX and is
 * used by one thread at a time, never shared:
 *   - the writer, used only under write_mutex, by the group-commit
 *     leader (one BEGIN IMMEDIATE ... COMMIT per batch of requests, each
 *     request checked before it writes, under a SAVEPOINT of its own),
 *     and by snapshot saves;
 *   - the cursor writer, also under write_mutex, with synchronous=NORMAL:
 *     a cursor must survive a crash of the process, not of the machine
 *     (backend.h), so it need not pay for a sync;
 *   - readers, opened read-only, kept in a pool.  A short call takes one
 *     for its statement; an iterator takes one for as long as it reads
 *     and gives it back when it parks, renews or ends.
 * Each connection caches its prepared statements (SQLITE_PREPARE_
 * PERSISTENT); all SQL is constant text with bound parameters.
 *
 * Long reads.  An iterator reads inside a read transaction of its own
 * (BEGIN ... COMMIT on its connection) so that its rows and the head it
 * reports come from one snapshot; after read_renew_every events it ends
 * that transaction and begins another, seeking again after the last key
 * it yielded, so no reader pins the WAL (which would starve the
 * checkpointer and let the WAL grow without bound).
 *
 * Several processes.  SQLite's own locks serialise writers across
 * processes: BEGIN IMMEDIATE waits (busy_wait()) for the write lock,
 * and positions are taken inside the write transaction, so they stay
 * gapless and in commit order whoever writes.  SQLITE_BUSY reaches the
 * caller only after SQL_BUSY_TIMEOUT_MS, as CAIRN_IO with a sentence
 * (map_code() is the one place SQLite's codes become statuses; the
 * extended code goes to the error's native field).  A commit bumps the
 * notifier file PATH-notify, which wakes subscribers in every process.
 */
#include "backend.h"
#include "sqlite_tags.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The schema this file writes and reads (PRAGMA user_version). */
#define SQL_SCHEMA_VERSION 1
/* PRAGMA application_id of a cairn store: "crn1". */
#define SQL_APPLICATION_ID 0x63726e31
/* How long a connection waits for a lock another connection (or
 * process) holds before the call fails with CAIRN_IO. */
#define SQL_BUSY_TIMEOUT_MS 10000
/* The busy handler's sleeps: from the first up to the longest, doubling.
 * Short sleeps hand the write lock between processes quickly (SQLite's
 * own busy_timeout sleeps up to 100 ms, and a waiter can starve while
 * another process commits again and again). */
#define SQL_BUSY_SLEEP_MIN_US 50
#define SQL_BUSY_SLEEP_MAX_US 2000
/* The WAL is checkpointed into the database file after a commit that
 * leaves it at least this many frames long (SQLite's default). */
#define SQL_CHECKPOINT_FRAMES 1000
/* Idle reader connections kept for reuse; more are closed. */
#define SQL_POOL_KEEP 8
/* Prepared statements of one kind cached per connection. */
#define SQL_STMT_CACHE 4
/* The writer's page cache, in KiB (negative: SQLite's unit for KiB):
 * the B-tree pages an append touches (the tails of the events table and
 * of the stream and type indexes, the streams rows) stay in memory. */
#define SQL_WRITER_CACHE "PRAGMA cache_size = -32768"
/* Counting an index's entries to plan a query stops here: the count
 * only steers the choice of index. */
#define SQL_PLAN_COUNT_CAP 1024
/* The notifier file beside the database. */
#define SQL_NOTIFY_SUFFIX "-notify"
/* Room for one problem sentence of verify(). */
#define SQL_PROBLEM_MAX 640
/* The longest name in the type and tag indexes. */
#define SQL_NAME_MAX                                                           \
	(CAIRN_TYPE_MAX > CAIRN_TAG_MAX ? CAIRN_TYPE_MAX : CAIRN_TAG_MAX)

/* ---- SQL ---- */

/* The schema of version 1, created in one transaction on a new file. */
static const char schema_v1[] =
        "CREATE TABLE events ("
        " position INTEGER PRIMARY KEY,"
        " stream TEXT NOT NULL,"
        " version INTEGER NOT NULL,"
        " id BLOB NOT NULL,"
        " id_given INTEGER NOT NULL,"
        " type TEXT NOT NULL,"
        " data BLOB NOT NULL,"
        " metadata BLOB NOT NULL,"
        " tags TEXT,"
        " time_ns INTEGER NOT NULL,"
        " commit_rest INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX events_stream_version ON events(stream, version);"
        "CREATE INDEX events_type ON events(type);"
        "CREATE UNIQUE INDEX events_id ON events(id) WHERE id_given = 1;"
        "CREATE TABLE event_tags ("
        " tag TEXT NOT NULL,"
        " position INTEGER NOT NULL REFERENCES events(position),"
        " PRIMARY KEY (tag, position)) WITHOUT ROWID;"
        "CREATE TABLE streams ("
        " stream TEXT PRIMARY KEY,"
        " version INTEGER NOT NULL,"
        " last_position INTEGER NOT NULL,"
        " created_ns INTEGER NOT NULL,"
        " updated_ns INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE snapshots ("
        " stream TEXT NOT NULL,"
        " schema TEXT NOT NULL,"
        " version INTEGER NOT NULL,"
        " state BLOB NOT NULL,"
        " saved_ns INTEGER NOT NULL,"
        " PRIMARY KEY (stream, schema)) WITHOUT ROWID;"
        "CREATE TABLE cursors ("
        " name TEXT PRIMARY KEY,"
        " position INTEGER NOT NULL,"
        " updated_ns INTEGER NOT NULL) WITHOUT ROWID;"
        "PRAGMA application_id = 1668443697;" /* SQL_APPLICATION_ID */
        "PRAGMA user_version = 1;";

#define EVENT_COLS                                                             \
	"position, stream, version, id, type, data, metadata, tags, "          \
	"time_ns, commit_rest"

/* Statement kinds; sql_text[] holds their text. */
enum {
	SQ_BEGIN,
	SQ_BEGIN_IMMEDIATE,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ROLLBACK_TO,
	SQ_HEAD,
	SQ_STREAM_GET,
	SQ_STREAM_PUT,
	SQ_EVENT_INSERT,
	SQ_TAG_INSERT,
	SQ_ID_LOOKUP,
	SQ_EVENT_AT,
	SQ_STREAM_FWD,
	SQ_STREAM_BACK,
	SQ_ALL_FWD,
	SQ_ALL_BACK,
	SQ_TYPE_FWD,
	SQ_TYPE_BACK,
	SQ_TAG_FWD,
	SQ_TAG_BACK,
	SQ_TYPE_COUNT,
	SQ_TAG_COUNT,
	SQ_LIST_FROM,
	SQ_LIST_AFTER,
	SQ_STREAM_VERSION,
	SQ_STREAM_COUNT,
	SQ_BYTES,
	SQ_SNAP_PUT,
	SQ_SNAP_GET,
	SQ_CURSOR_GET,
	SQ_CURSOR_SET,
	SQ_CURSOR_CREATE,
	SQ_CURSOR_CAS,
	SQ_CURSOR_DELETE,
	SQ_CURSOR_NEXT,
	SQ_VERIFY_EVENTS,
	SQ_VERIFY_TAGS,
	SQ_VERIFY_STREAMS,
	SQ_N
};

static const char *const sql_text[SQ_N] = {
        [SQ_BEGIN] = "BEGIN",
        [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
        [SQ_COMMIT] = "COMMIT",
        [SQ_ROLLBACK] = "ROLLBACK",
        [SQ_SAVEPOINT] = "SAVEPOINT request",
        [SQ_RELEASE] = "RELEASE request",
        [SQ_ROLLBACK_TO] = "ROLLBACK TO request",
        [SQ_HEAD] = "SELECT max(position) FROM events",
        [SQ_STREAM_GET] = "SELECT version, created_ns FROM streams "
                          "WHERE stream = ?1",
        [SQ_STREAM_PUT] = "INSERT INTO streams(stream, version, last_position, "
                          "created_ns, updated_ns) VALUES (?1, ?2, ?3, ?4, ?5) "
                          "ON CONFLICT(stream) DO UPDATE SET "
                          "version = excluded.version, "
                          "last_position = excluded.last_position, "
                          "updated_ns = excluded.updated_ns",
        [SQ_EVENT_INSERT] = "INSERT INTO events(position, stream, version, id, "
                            "id_given, type, data, metadata, tags, time_ns, "
                            "commit_rest) VALUES "
                            "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        [SQ_TAG_INSERT] = "INSERT OR IGNORE INTO event_tags(tag, position) "
                          "VALUES (?1, ?2)",
        [SQ_ID_LOOKUP] = "SELECT e.position, e.version, e.stream, s.version "
                         "FROM events e JOIN streams s "
                         "ON s.stream = e.stream "
                         "WHERE e.id = ?1 AND e.id_given = 1",
        [SQ_EVENT_AT] = "SELECT " EVENT_COLS " FROM events "
                        "WHERE position = ?1",
        [SQ_STREAM_FWD] = "SELECT " EVENT_COLS " FROM events "
                          "WHERE stream = ?1 AND version >= ?2 "
                          "ORDER BY version",
        [SQ_STREAM_BACK] = "SELECT " EVENT_COLS " FROM events "
                           "WHERE stream = ?1 AND version <= ?2 "
                           "ORDER BY version DESC",
        [SQ_ALL_FWD] = "SELECT " EVENT_COLS " FROM events "
                       "WHERE position >= ?1 ORDER BY position",
        [SQ_ALL_BACK] = "SELECT " EVENT_COLS " FROM events "
                        "WHERE position <= ?1 ORDER BY position DESC",
        [SQ_TYPE_FWD] = "SELECT position FROM events INDEXED BY events_type "
                        "WHERE type = ?1 AND position >= ?2 "
                        "ORDER BY position",
        [SQ_TYPE_BACK] = "SELECT position FROM events "
                         "INDEXED BY events_type "
                         "WHERE type = ?1 AND position <= ?2 "
                         "ORDER BY position DESC",
        [SQ_TAG_FWD] = "SELECT position FROM event_tags "
                       "WHERE tag = ?1 AND position >= ?2 "
                       "ORDER BY position",
        [SQ_TAG_BACK] = "SELECT position FROM event_tags "
                        "WHERE tag = ?1 AND position <= ?2 "
                        "ORDER BY position DESC",
        [SQ_TYPE_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM events "
                          "INDEXED BY events_type WHERE type = ?1 "
                          "AND position >= ?2 LIMIT ?3)",
        [SQ_TAG_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM event_tags "
                         "WHERE tag = ?1 AND position >= ?2 LIMIT ?3)",
        [SQ_LIST_FROM] = "SELECT stream, version, last_position, "
                         "created_ns, updated_ns FROM streams "
                         "WHERE stream >= ?1 ORDER BY stream LIMIT ?2",
        [SQ_LIST_AFTER] = "SELECT stream, version, last_position, "
                          "created_ns, updated_ns FROM streams "
                          "WHERE stream > ?1 ORDER BY stream LIMIT ?2",
        [SQ_STREAM_VERSION] = "SELECT version FROM streams "
                              "WHERE stream = ?1",
        [SQ_STREAM_COUNT] = "SELECT count(*) FROM streams",
        [SQ_BYTES] = "SELECT page_count * page_size "
                     "FROM pragma_page_count(), pragma_page_size()",
        [SQ_SNAP_PUT] = "INSERT INTO snapshots(stream, schema, version, state, "
                        "saved_ns) VALUES (?1, ?2, ?3, ?4, ?5) "
                        "ON CONFLICT(stream, schema) DO UPDATE SET "
                        "version = excluded.version, state = excluded.state, "
                        "saved_ns = excluded.saved_ns "
                        "WHERE excluded.version >= snapshots.version",
        [SQ_SNAP_GET] = "SELECT version, state FROM snapshots "
                        "WHERE stream = ?1 AND schema = ?2",
        [SQ_CURSOR_GET] = "SELECT position, updated_ns FROM cursors "
                          "WHERE name = ?1",
        [SQ_CURSOR_SET] = "INSERT INTO cursors(name, position, updated_ns) "
                          "VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET "
                          "position = excluded.position, "
                          "updated_ns = excluded.updated_ns",
        [SQ_CURSOR_CREATE] = "INSERT INTO cursors(name, position, "
                             "updated_ns) VALUES (?1, ?2, ?3) "
                             "ON CONFLICT(name) DO NOTHING",
        [SQ_CURSOR_CAS] = "UPDATE cursors SET position = ?2, "
                          "updated_ns = ?3 "
                          "WHERE name = ?1 AND position = ?4",
        [SQ_CURSOR_DELETE] = "DELETE FROM cursors WHERE name = ?1",
        [SQ_CURSOR_NEXT] = "SELECT name, position, updated_ns FROM cursors "
                           "WHERE name > ?1 ORDER BY name LIMIT 1",
        [SQ_VERIFY_EVENTS] = "SELECT " EVENT_COLS ", id_given FROM events "
                             "ORDER BY position",
        [SQ_VERIFY_TAGS] = "SELECT t.tag, t.position, e.tags "
                           "FROM event_tags t LEFT JOIN events e "
                           "ON e.position = t.position",
        [SQ_VERIFY_STREAMS] =
                "SELECT s.stream FROM streams s WHERE NOT EXISTS "
                "(SELECT 1 FROM events e WHERE e.stream = s.stream)",
};

/* ---- the engine ---- */

/* A connection and its statement cache. */
typedef struct sql_conn {
	sqlite3 *db;
	double busy_since;     /* when the current wait for a lock began */
	struct sql_conn *next; /* in the idle pool */
	sqlite3_stmt *cache[SQ_N][SQL_STMT_CACHE];
	bool used[SQ_N][SQL_STMT_CACHE];
} sql_conn;

struct cairn__backend {
	bool read_only;
	unsigned renew_every;
	cairn__group group;
	cairn__notify *notify;

	/* the writer and the cursor writer, used under write_mutex */
	pthread_mutex_t write_mutex;
	sql_conn *writer;
	sql_conn *cursor_writer;
	char *tagjson; /* the writer's scratch for an event's tags */
	size_t tagjson_cap;
	int failed; /* a write hit an I/O failure: see engine_fail() */
	char fail_cause[160]; /* what failed, set before failed */

	/* idle readers */
	pthread_mutex_t pool_mutex;
	sql_conn *idle;
	unsigned nidle;

	char path[];
};

/* An event decoded from a row, with its tags parsed into buf. */
typedef struct sql_decoder {
	cairn_event ev;
	const char *tags[CAIRN_TAGS_MAX];
	char *buf;
	size_t cap;
} sql_decoder;

/* ---- errors ---- */

/* The one place SQLite's codes become cairn statuses. */
static cairn_status
map_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return CAIRN_NOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_FORMAT:
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_SCHEMA:
		return CAIRN_CORRUPT;
	case SQLITE_TOOBIG:
		return CAIRN_TOO_LARGE;
	default:
		/* SQLITE_BUSY and SQLITE_LOCKED reach here only once the
		 * busy timeout ran out: the store stayed locked. */
		return CAIRN_IO;
	}
}

/* A sentence for rc: the connection's message when it has one for rc,
 * with a plain word on lock time-outs. */
static const char *
code_text(sqlite3 *db, int rc)
{
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return "the store stayed locked by another connection or "
		       "process past the busy timeout";
	if (db != NULL && sqlite3_extended_errcode(db) == rc)
		return sqlite3_errmsg(db);
	return sqlite3_errstr(rc);
}

/* The OS's word on an I/O error: SQLite says "disk I/O error" alike for
 * a failed sync and a file over its size limit (which it does not count
 * as SQLITE_FULL).  "" when there is none. */
static const char *
os_text(sqlite3 *db, int rc, char *buf, size_t len)
{
	int err;

	buf[0] = '\0';
	if (db == NULL ||
	    ((rc & 0xff) != SQLITE_IOERR && (rc & 0xff) != SQLITE_FULL))
		return buf;
	err = sqlite3_system_errno(db);
	if (err != 0)
		snprintf(buf, len, " (%s)", strerror(err));
	return buf;
}

/* Record an error of rc (an SQLite result code) while doing what. */
static cairn_status
sql_error(sqlite3 *db, int rc, const char *what)
{
	char os[96];

	return cairn__error(map_code(rc), rc, "sqlite: %s: %s%s", what,
	                    code_text(db, rc), os_text(db, rc, os, sizeof(os)));
}

/* The same, recorded in a request of a group commit. */
static cairn_status
req_sql_error(cairn__append_req *req, sqlite3 *db, int rc, const char *what)
{
	char os[96];

	return cairn__req_error(req, map_code(rc), rc, "sqlite: %s: %s%s", what,
	                        code_text(db, rc),
	                        os_text(db, rc, os, sizeof(os)));
}

/*
 * The failed state ("fsyncgate").  When a write transaction, a commit or
 * a checkpoint fails with an I/O error (SQLITE_IOERR_*: a failed write or
 * fsync of the database or its WAL), with SQLITE_FULL or with
 * SQLITE_CORRUPT, the engine refuses every later write until the store
 * is closed and reopened.  After a failed fsync the kernel may have
 * dropped the dirty pages and marked them clean, so that a retried fsync
 * "succeeds" over data that never reached the disk (as PostgreSQL
 * learnt); and SQLite itself resets its pager once the transaction is
 * rolled back and would carry on writing after WAL frames whose fate is
 * unknown.  A reopen starts again from what the files hold: SQLite's WAL
 * recovery keeps a transaction whose commit frame is intact, and drops
 * it otherwise, so a failed append is then wholly present or wholly
 * absent.  A disk that is full is treated alike: the one rule is simpler
 * to trust than a list of harmless cases.
 *
 * Reads stay allowed (unlike the lmdb engine, which refuses everything):
 * they go through their own connections and see only what SQLite made
 * visible, which is the last commit that succeeded, as the WAL index
 * moves only after a commit's sync (and a checkpoint's progress only
 * after its sync of the database file).  So a reader in a failed
 * process still sees exactly the acknowledged events.
 *
 * SQLITE_BUSY and SQLITE_LOCKED (a lock held past the busy timeout) and
 * SQLITE_IOERR_NOMEM (an allocation) are not I/O failures of the files
 * and leave the engine working.
 */
static bool
is_io_failure(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_IOERR:
		return rc != SQLITE_IOERR_NOMEM;
	case SQLITE_FULL:
	case SQLITE_CORRUPT:
		return true;
	default:
		return false;
	}
}

/* Enter the failed state, noting the first cause (rc, while doing
 * what) for the refusals' message.  Called under write_mutex. */
static void
engine_fail(cairn__backend *be, sqlite3 *db, int rc, const char *what)
{
	char os[96];

	if (__atomic_load_n(&be->failed, __ATOMIC_ACQUIRE))
		return;
	snprintf(be->fail_cause, sizeof(be->fail_cause), "%s: %s%s", what,
	         sqlite3_errstr(rc), os_text(db, rc, os, sizeof(os)));
	__atomic_store_n(&be->failed, 1, __ATOMIC_RELEASE);
}

static bool
engine_failed(cairn__backend *be)
{
	return __atomic_load_n(&be->failed, __ATOMIC_ACQUIRE) != 0;
}

/* After a write on connection c failed with rc: stop the engine when it
 * was an I/O failure.  SQLite reports a failed auto-checkpoint after a
 * successful commit as a plain SQLITE_ERROR from the COMMIT's step, with
 * the I/O code only in the connection's extended code: look at both. */
static void
note_write_failure(cairn__backend *be, sql_conn *c, int rc)
{
	if (is_io_failure(rc))
		engine_fail(be, c ? c->db : NULL, rc, "a write");
	else if (c != NULL && is_io_failure(sqlite3_extended_errcode(c->db)))
		engine_fail(be, c->db, sqlite3_extended_errcode(c->db),
		            "a write");
}

/*
 * The writers' WAL hook, run by SQLite after each commit (which is then
 * in the WAL, synced as the connection's synchronous setting asks): a
 * passive checkpoint once the WAL is SQL_CHECKPOINT_FRAMES long.  It
 * replaces SQLite's own automatic checkpoint, which ignores the
 * checkpoint's result: a failed write or sync of the database file went
 * unnoticed, and the next commit's checkpoint retried it, the retried
 * fsync that can falsely succeed, after which SQLite reuses the WAL from
 * its start.  Here a checkpoint's I/O failure stops the engine instead.
 * The commit itself stands (it is durable in the WAL): the hook returns
 * SQLITE_OK, and only later writes are refused.
 */
static int
wal_hook(void *ctx, sqlite3 *db, const char *schema, int frames)
{
	cairn__backend *be = ctx;
	int rc;

	if (frames < SQL_CHECKPOINT_FRAMES || engine_failed(be))
		return SQLITE_OK;
	rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE,
	                               NULL, NULL);
	if (is_io_failure(rc))
		engine_fail(be, db, rc, "a checkpoint");
	return SQLITE_OK;
}

/* The error of a write refused in the failed state. */
static cairn_status
failed_error(const cairn__backend *be)
{
	return cairn__error(CAIRN_IO, EIO,
	                    "sqlite: '%s' hit an I/O failure (%s) that leaves "
	                    "its state unknown; close and reopen the store, "
	                    "which recovers it",
	                    be->path, be->fail_cause);
}

/* Add to a request's error that the store now refuses writes. */
static void
append_reopen(cairn__append_req *req)
{
	char msg[sizeof(req->message)];

	memcpy(msg, req->message, sizeof(msg));
	cairn__req_error(req, CAIRN_IO, req->native,
	                 "%s; the store now refuses writes until it is "
	                 "closed and reopened",
	                 msg);
}

/* ---- connections and statements ---- */

/* Take a statement of kind from c's cache, preparing one when none is
 * free.  Returns an SQLite code. */
static int
stmt_take(sql_conn *c, int kind, sqlite3_stmt **out)
{
	int i, rc;

	for (i = 0; i < SQL_STMT_CACHE; i++)
		if (c->cache[kind][i] != NULL && !c->used[kind][i]) {
			c->used[kind][i] = true;
			*out = c->cache[kind][i];
			return SQLITE_OK;
		}
	rc = sqlite3_prepare_v3(c->db, sql_text[kind], -1,
	                        SQLITE_PREPARE_PERSISTENT, out, NULL);
	if (rc != SQLITE_OK)
		return rc;
	for (i = 0; i < SQL_STMT_CACHE; i++)
		if (c->cache[kind][i] == NULL) {
			c->cache[kind][i] = *out;
			c->used[kind][i] = true;
			break;
		}
	return SQLITE_OK;
}

/* Give a statement back: reset (ending its part of the read) and kept
 * for reuse, or finalized when it was not cached.  NULL is a no-op. */
static void
stmt_give(sql_conn *c, int kind, sqlite3_stmt *s)
{
	int i;

	if (s == NULL)
		return;
	sqlite3_reset(s);
	for (i = 0; i < SQL_STMT_CACHE; i++)
		if (c->cache[kind][i] == s) {
			c->used[kind][i] = false;
			return;
		}
	sqlite3_finalize(s);
}

/* Run a statement without parameters or rows (BEGIN, COMMIT, ...). */
static int
conn_exec(sql_conn *c, int kind)
{
	sqlite3_stmt *s;
	int rc;

	rc = stmt_take(c, kind, &s);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	stmt_give(c, kind, s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void
conn_close(sql_conn *c)
{
	int k, i;

	if (c == NULL)
		return;
	for (k = 0; k < SQ_N; k++)
		for (i = 0; i < SQL_STMT_CACHE; i++)
			sqlite3_finalize(c->cache[k][i]);
	sqlite3_close_v2(c->db);
	cairn__free(c);
}

static double
monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * SQLite calls this while a lock it needs is held by another connection
 * (another process's writer, mostly): sleep a little, doubling up to
 * SQL_BUSY_SLEEP_MAX_US, and give up (SQLITE_BUSY, which becomes
 * CAIRN_IO with a sentence) after SQL_BUSY_TIMEOUT_MS in all.
 */
static int
busy_wait(void *arg, int count)
{
	sql_conn *c = arg;
	long us = SQL_BUSY_SLEEP_MIN_US;
	struct timespec ts;

	if (count == 0)
		c->busy_since = monotonic_s();
	else if (monotonic_s() - c->busy_since > SQL_BUSY_TIMEOUT_MS / 1000.0)
		return 0;
	while (count-- > 0 && us < SQL_BUSY_SLEEP_MAX_US)
		us *= 2;
	if (us > SQL_BUSY_SLEEP_MAX_US)
		us = SQL_BUSY_SLEEP_MAX_US;
	ts.tv_sec = 0;
	ts.tv_nsec = us * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

/* Run one constant pragma; its result row, if any, is ignored. */
static int
conn_pragma(sql_conn *c, const char *sql)
{
	return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

/*
 * Open a connection on be's file: read-only for readers, read-write
 * (created when create) for the writers, with synchronous as given.
 * Every connection waits up to SQL_BUSY_TIMEOUT_MS for locks
 * (busy_wait()).
 */
static cairn_status
conn_open(cairn__backend *be, bool writer, bool create, const char *sync,
          sql_conn **out)
{
	int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
	sql_conn *c;
	int rc;

	*out = NULL;
	c = cairn__calloc(1, sizeof(*c));
	if (c == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (!writer)
		flags |= SQLITE_OPEN_READONLY;
	else
		flags |= SQLITE_OPEN_READWRITE |
		         (create ? SQLITE_OPEN_CREATE : 0);
	rc = sqlite3_open_v2(be->path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		cairn__error(map_code(rc), rc, "sqlite: cannot open '%s': %s",
		             be->path, code_text(c->db, rc));
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_handler(c->db, busy_wait, c);
	rc = SQLITE_OK;
	if (writer) {
		sqlite3_wal_hook(c->db, wal_hook, be);
		rc = conn_pragma(c, sync);
		if (rc == SQLITE_OK)
			rc = conn_pragma(c, "PRAGMA temp_store = MEMORY");
		if (rc == SQLITE_OK)
			rc = conn_pragma(c, SQL_WRITER_CACHE);
	}
	if (rc != SQLITE_OK) {
		cairn__error(map_code(rc), rc, "sqlite: cannot set up '%s': %s",
		             be->path, code_text(c->db, rc));
		goto fail;
	}
	*out = c;
	return CAIRN_OK;
fail:
	conn_close(c);
	return map_code(rc);
}

/* An idle reader, or a new one. */
static cairn_status
pool_get(cairn__backend *be, sql_conn **out)
{
	sql_conn *c;

	pthread_mutex_lock(&be->pool_mutex);
	c = be->idle;
	if (c != NULL) {
		be->idle = c->next;
		be->nidle--;
	}
	pthread_mutex_unlock(&be->pool_mutex);
	if (c != NULL) {
		*out = c;
		return CAIRN_OK;
	}
	return conn_open(be, false, false, NULL, out);
}

/* Return a reader to the pool (closing it when the pool is full).  A
 * transaction left open is rolled back first, so no pooled connection
 * holds a snapshot. */
static void
pool_put(cairn__backend *be, sql_conn *c)
{
	if (c == NULL)
		return;
	if (!sqlite3_get_autocommit(c->db))
		conn_exec(c, SQ_ROLLBACK);
	pthread_mutex_lock(&be->pool_mutex);
	if (be->nidle < SQL_POOL_KEEP) {
		c->next = be->idle;
		be->idle = c;
		be->nidle++;
		c = NULL;
	}
	pthread_mutex_unlock(&be->pool_mutex);
	conn_close(c);
}

/* ---- values ---- */

static const char empty_bytes[1];

static int
bind_text(sqlite3_stmt *s, int i, const char *p, size_t len)
{
	return sqlite3_bind_text64(s, i, p, len, SQLITE_STATIC, SQLITE_UTF8);
}

/* A blob, never NULL: an empty value binds as an empty blob. */
static int
bind_blob(sqlite3_stmt *s, int i, const void *p, size_t len)
{
	return sqlite3_bind_blob64(s, i, len ? p : empty_bytes, len,
	                           SQLITE_STATIC);
}

static int
bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
	return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

/* Room for len bytes in d's tag buffer. */
static bool
decoder_reserve(sql_decoder *d, size_t len)
{
	char *p;

	if (len <= d->cap)
		return true;
	p = cairn__realloc(d->buf, len);
	if (p == NULL)
		return false;
	d->buf = p;
	d->cap = len;
	return true;
}

/*
 * Parse the tags column: a JSON array of strings, as tags_json() writes
 * it (only '"' and '\' are escaped: tags hold no control characters).
 * The strings go into d->buf, NUL-terminated; d->ev.tags points at them.
 */
static cairn_status
parse_tags(sql_decoder *d, const char *s, size_t len)
{
	size_t i = 0, o = 0, n = 0;

	if (!decoder_reserve(d, len + 1))
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (len < 2 || s[0] != '[' || s[len - 1] != ']')
		goto bad;
	for (i = 1; i < len - 1;) {
		if (n > 0) {
			if (s[i] != ',')
				goto bad;
			i++;
		}
		if (i >= len - 1 || s[i] != '"' || n == CAIRN_TAGS_MAX)
			goto bad;
		d->tags[n++] = d->buf + o;
		for (i++; i < len - 1 && s[i] != '"'; i++) {
			if (s[i] == '\0') /* would cut the tag short */
				goto bad;
			if (s[i] == '\\') {
				if (++i >= len - 1 ||
				    (s[i] != '"' && s[i] != '\\' &&
				     s[i] != '/'))
					goto bad;
			}
			d->buf[o++] = s[i];
		}
		if (i >= len - 1)
			goto bad;
		d->buf[o++] = '\0';
		i++;
	}
	d->ev.tags = d->tags;
	d->ev.ntags = n;
	return CAIRN_OK;
bad:
	return cairn__error(CAIRN_CORRUPT, 0,
	                    "sqlite: the tags of the event at position %llu "
	                    "are not a JSON array of strings",
	                    (unsigned long long)d->ev.position);
}

/* parse_tags() for the decoder's fuzz target (sqlite_tags.h). */
cairn_status
cairn__sqlite_tags_decode(const char *s, size_t len, char *out,
                          const char **tags, size_t *ntags)
{
	sql_decoder d;
	cairn_status st;
	size_t i;

	memset(&d, 0, sizeof(d));
	st = parse_tags(&d, s, len);
	if (st == CAIRN_OK) {
		memcpy(out, d.buf, len + 1);
		for (i = 0; i < d.ev.ntags; i++)
			tags[i] = out + (d.tags[i] - d.buf);
		*ntags = d.ev.ntags;
	}
	cairn__free(d.buf);
	return st;
}

/*
 * Decode the current row of a statement selecting EVENT_COLS into d.
 * The event borrows the row's memory: it is valid until the statement
 * steps, is reset or finalized.
 */
static cairn_status
decode_row(sqlite3_stmt *s, sql_decoder *d)
{
	cairn_event *ev = &d->ev;
	const void *id, *p;
	const char *tags;

	ev->position = (uint64_t)sqlite3_column_int64(s, 0);
	ev->stream = (const char *)sqlite3_column_text(s, 1);
	ev->stream_len = (size_t)sqlite3_column_bytes(s, 1);
	ev->version = (uint64_t)sqlite3_column_int64(s, 2);
	id = sqlite3_column_blob(s, 3);
	if (id == NULL || sqlite3_column_bytes(s, 3) != 16 ||
	    ev->stream == NULL || ev->stream_len == 0)
		goto bad;
	memcpy(ev->id.bytes, id, 16);
	ev->type = (const char *)sqlite3_column_text(s, 4);
	ev->type_len = (size_t)sqlite3_column_bytes(s, 4);
	if (ev->type == NULL || ev->type_len == 0)
		goto bad;
	p = sqlite3_column_blob(s, 5);
	ev->data_len = (size_t)sqlite3_column_bytes(s, 5);
	ev->data = p ? p : empty_bytes;
	p = sqlite3_column_blob(s, 6);
	ev->metadata_len = (size_t)sqlite3_column_bytes(s, 6);
	ev->metadata = p ? p : empty_bytes;
	ev->time_ns = sqlite3_column_int64(s, 8);
	ev->commit_rest = (uint32_t)sqlite3_column_int64(s, 9);
	ev->tags = d->tags;
	ev->ntags = 0;
	tags = (const char *)sqlite3_column_text(s, 7);
	if (tags != NULL)
		return parse_tags(d, tags, (size_t)sqlite3_column_bytes(s, 7));
	return CAIRN_OK;
bad:
	return cairn__error(CAIRN_CORRUPT, 0,
	                    "sqlite: the event at position %llu has a "
	                    "malformed stream, type or id",
	                    (unsigned long long)ev->position);
}

/*
 * The tags of ne as the JSON array the tags column holds, in the
 * writer's scratch (NUL-terminated; *len without it).  NULL with no
 * tags, or when out of memory (*len is then SIZE_MAX).
 */
static const char *
tags_json(cairn__backend *be, const cairn_new_event *ne, size_t *len)
{
	size_t need = 3, i, o = 0;
	const char *t;

	*len = 0;
	if (ne->ntags == 0)
		return NULL;
	for (i = 0; i < ne->ntags; i++)
		need += 2 * strlen(ne->tags[i]) + 3;
	if (need > be->tagjson_cap) {
		char *p = cairn__realloc(be->tagjson, need);

		if (p == NULL) {
			*len = SIZE_MAX;
			return NULL;
		}
		be->tagjson = p;
		be->tagjson_cap = need;
	}
	be->tagjson[o++] = '[';
	for (i = 0; i < ne->ntags; i++) {
		if (i > 0)
			be->tagjson[o++] = ',';
		be->tagjson[o++] = '"';
		for (t = ne->tags[i]; *t; t++) {
			if (*t == '"' || *t == '\\')
				be->tagjson[o++] = '\\';
			be->tagjson[o++] = *t;
		}
		be->tagjson[o++] = '"';
	}
	be->tagjson[o++] = ']';
	be->tagjson[o] = '\0';
	*len = o;
	return be->tagjson;
}

/* The newest position on c (in its transaction, if any). */
static int
read_head(sql_conn *c, uint64_t *head)
{
	sqlite3_stmt *s;
	int rc;

	rc = stmt_take(c, SQ_HEAD, &s);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*head = (uint64_t)sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	stmt_give(c, SQ_HEAD, s);
	return rc;
}

/* Fetch the event at pos through s (SQ_EVENT_AT, kept by the caller),
 * decoded into d.  An index entry without its event is corruption. */
static cairn_status
event_at(sql_conn *c, sqlite3_stmt *s, uint64_t pos, sql_decoder *d)
{
	int rc;

	sqlite3_reset(s);
	bind_u64(s, 1, pos);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return decode_row(s, d);
	if (rc == SQLITE_DONE)
		return cairn__error(CAIRN_CORRUPT, 0,
		                    "sqlite: an index names position %llu, "
		                    "which holds no event",
		                    (unsigned long long)pos);
	return sql_error(c->db, rc, "reading an event");
}

/* ---- query plans ---- */

/* At most cap entries of the type (or tag) index under name at or after
 * position from, counted into *n. */
static int
count_name(sql_conn *c, bool is_tag, const char *name, uint64_t from,
           uint64_t *n)
{
	int kind = is_tag ? SQ_TAG_COUNT : SQ_TYPE_COUNT;
	sqlite3_stmt *s;
	int rc;

	rc = stmt_take(c, kind, &s);
	if (rc != SQLITE_OK)
		return rc;
	bind_text(s, 1, name, strlen(name));
	bind_u64(s, 2, from);
	sqlite3_bind_int64(s, 3, SQL_PLAN_COUNT_CAP);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*n = (uint64_t)sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	stmt_give(c, kind, s);
	return rc;
}

/* Where one query item's candidates come from. */
typedef struct item_plan {
	bool all;    /* no types, no tags: every event */
	bool by_tag; /* one tag's index, else each type's */
	size_t tag;  /* which tag */
	bool exact;  /* the index settles the match */
} item_plan;

/*
 * Choose the index an item walks: each of its types' entries, or one of
 * its tags' (a match carries every tag), whichever holds fewer entries
 * from `from` on, counted up to SQL_PLAN_COUNT_CAP each.  The choice
 * only affects the cost: either finds every match.
 */
static int
plan_item(sql_conn *c, const cairn_query_item *item, uint64_t from,
          item_plan *plan)
{
	uint64_t by_types = UINT64_MAX, by_tag = UINT64_MAX, n;
	size_t i;
	int rc;

	memset(plan, 0, sizeof(*plan));
	if (item->ntypes == 0 && item->ntags == 0) {
		plan->all = plan->exact = true;
		return SQLITE_OK;
	}
	if (item->ntypes > 0)
		by_types = 0;
	for (i = 0; i < item->ntypes; i++) {
		rc = count_name(c, false, item->types[i], from, &n);
		if (rc != SQLITE_OK)
			return rc;
		by_types += n;
	}
	for (i = 0; i < item->ntags; i++) {
		rc = count_name(c, true, item->tags[i], from, &n);
		if (rc != SQLITE_OK)
			return rc;
		if (n < by_tag) {
			by_tag = n;
			plan->tag = i;
		}
	}
	plan->by_tag = item->ntags > 0 && by_tag <= by_types;
	plan->exact = plan->by_tag ? item->ntypes == 0 && item->ntags == 1
	                           : item->ntags == 0;
	return SQLITE_OK;
}

/* ---- appends ---- */

/* A stream name the id lookup copied (the row dies at the next step),
 * kept until the idempotency check is over. */
typedef struct name_copy {
	struct name_copy *next;
	char name[];
} name_copy;

typedef struct lookup_ctx {
	sql_conn *c;
	name_copy *copies;
} lookup_ctx;

static cairn_status
lookup_id(void *ctx, const cairn_uuid *id, cairn__id_location *loc)
{
	lookup_ctx *lc = ctx;
	sqlite3_stmt *s;
	name_copy *copy;
	const char *stream;
	size_t len;
	cairn_status st = CAIRN_NOT_FOUND;
	int rc;

	rc = stmt_take(lc->c, SQ_ID_LOOKUP, &s);
	if (rc != SQLITE_OK)
		return sql_error(lc->c->db, rc, "looking up an event id");
	bind_blob(s, 1, id->bytes, 16);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		stream = (const char *)sqlite3_column_text(s, 2);
		len = (size_t)sqlite3_column_bytes(s, 2);
		copy = cairn__malloc(sizeof(*copy) + len + 1);
		if (stream == NULL || copy == NULL) {
			cairn__free(copy);
			st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
			goto out;
		}
		memcpy(copy->name, stream, len);
		copy->name[len] = '\0';
		copy->next = lc->copies;
		lc->copies = copy;
		loc->position = (uint64_t)sqlite3_column_int64(s, 0);
		loc->version = (uint64_t)sqlite3_column_int64(s, 1);
		loc->stream = copy->name;
		loc->stream_len = len;
		loc->stream_version = (uint64_t)sqlite3_column_int64(s, 3);
		st = CAIRN_OK;
	} else if (rc != SQLITE_DONE) {
		st = sql_error(lc->c->db, rc, "looking up an event id");
	}
out:
	stmt_give(lc->c, SQ_ID_LOOKUP, s);
	return st;
}

/* The search for a condition's first match after `after`. */
typedef struct condition_scan {
	sql_conn *c;
	sqlite3_stmt *event_at; /* SQ_EVENT_AT */
	uint64_t after;
	uint64_t first; /* the lowest matching position so far; 0: none */
	sql_decoder dec;
} condition_scan;

/*
 * Walk the positions under name after cs->after, up to the lowest match
 * found so far, and lower cs->first to the first one item matches.  The
 * final word on a match is cairn_query_match(), as for a read's filter.
 * Returns CAIRN_OK or an error (recorded).
 */
static cairn_status
scan_name(condition_scan *cs, bool is_tag, const char *name,
          const cairn_query_item *item, bool exact)
{
	const cairn_query one = {item, 1};
	int kind = is_tag ? SQ_TAG_FWD : SQ_TYPE_FWD;
	cairn_status st = CAIRN_OK;
	sqlite3_stmt *s;
	uint64_t pos;
	int rc;

	rc = stmt_take(cs->c, kind, &s);
	if (rc != SQLITE_OK)
		return sql_error(cs->c->db, rc, "checking a condition");
	bind_text(s, 1, name, strlen(name));
	bind_u64(s, 2, cs->after + 1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pos = (uint64_t)sqlite3_column_int64(s, 0);
		if (cs->first && pos >= cs->first)
			break;
		if (exact) {
			cs->first = pos;
			break;
		}
		st = event_at(cs->c, cs->event_at, pos, &cs->dec);
		if (st != CAIRN_OK)
			break;
		if (cairn_query_match(&one, &cs->dec.ev)) {
			cs->first = pos;
			break;
		}
	}
	if (st == CAIRN_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = sql_error(cs->c->db, rc, "checking a condition");
	stmt_give(cs->c, kind, s);
	return st;
}

/* Lower cs->first to item's first match after cs->after. */
static cairn_status
scan_item(condition_scan *cs, const cairn_query_item *item)
{
	cairn_status st = CAIRN_OK;
	item_plan plan;
	size_t i;
	int rc;

	rc = plan_item(cs->c, item, cs->after + 1, &plan);
	if (rc != SQLITE_OK)
		return sql_error(cs->c->db, rc, "planning a condition");
	if (plan.all) {
		/* positions are gapless: the event after `after` exists */
		cs->first = cs->after + 1;
		return CAIRN_OK;
	}
	if (plan.by_tag)
		return scan_name(cs, true, item->tags[plan.tag], item,
		                 plan.exact);
	for (i = 0; st == CAIRN_OK && i < item->ntypes; i++)
		st = scan_name(cs, false, item->types[i], item, plan.exact);
	return st;
}

/*
 * The DCB condition of req, in the batch's transaction (so the events of
 * the requests before it in the batch count), head being the newest
 * position there.  When an event the query matches has a position above
 * condition_after, the first one fails req (cairn__condition_failed()).
 * Each item costs O(log n) per index it walks plus one step per
 * candidate after condition_after, never past the lowest match found.
 * Returns CAIRN_OK (req->status tells the outcome) or an error that
 * fails req.
 */
static cairn_status
check_condition(sql_conn *c, cairn__append_req *req, uint64_t head)
{
	const cairn_query *q = req->condition;
	condition_scan cs;
	cairn_status st = CAIRN_OK;
	size_t i;
	int rc;

	if (req->condition_after >= head || q->nitems == 0)
		return CAIRN_OK;
	memset(&cs, 0, sizeof(cs));
	cs.c = c;
	cs.after = req->condition_after;
	rc = stmt_take(c, SQ_EVENT_AT, &cs.event_at);
	if (rc != SQLITE_OK)
		return sql_error(c->db, rc, "checking a condition");
	for (i = 0; st == CAIRN_OK && i < q->nitems; i++) {
		st = scan_item(&cs, &q->items[i]);
		if (cs.first == cs.after + 1)
			break; /* nothing can come first */
	}
	if (st == CAIRN_OK && cs.first) {
		st = event_at(c, cs.event_at, cs.first, &cs.dec);
		if (st == CAIRN_OK)
			cairn__condition_failed(req, cs.first, cs.dec.ev.stream,
			                        cs.dec.ev.stream_len);
	}
	stmt_give(c, SQ_EVENT_AT, cs.event_at);
	cairn__free(cs.dec.buf);
	return st;
}

/* A stream's state as the writer sees it in the batch's transaction. */
typedef struct stream_state {
	uint64_t version;
	int64_t created_ns;
} stream_state;

/* Per-batch state of the writer. */
typedef struct batch_state {
	uint64_t next_position;
	int64_t now;
} batch_state;

static int
get_stream(sql_conn *c, const cairn__write *w, stream_state *ss)
{
	sqlite3_stmt *s;
	int rc;

	rc = stmt_take(c, SQ_STREAM_GET, &s);
	if (rc != SQLITE_OK)
		return rc;
	bind_text(s, 1, w->stream, w->stream_len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		ss->version = (uint64_t)sqlite3_column_int64(s, 0);
		ss->created_ns = sqlite3_column_int64(s, 1);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		ss->version = 0;
		ss->created_ns = 0;
		rc = SQLITE_OK;
	}
	stmt_give(c, SQ_STREAM_GET, s);
	return rc;
}

/* Insert one event and its tag index entries. */
static int
insert_event(cairn__backend *be, sqlite3_stmt *ins, sqlite3_stmt *tag,
             const cairn__write *w, size_t k, uint64_t version, uint64_t pos,
             const batch_state *bs, uint64_t last)
{
	const cairn_new_event *ne = &w->events[k];
	const char *json;
	size_t json_len, i;
	int rc;

	json = tags_json(be, ne, &json_len);
	if (json_len == SIZE_MAX)
		return SQLITE_NOMEM;
	sqlite3_reset(ins);
	bind_u64(ins, 1, pos);
	bind_text(ins, 2, w->stream, w->stream_len);
	bind_u64(ins, 3, version);
	bind_blob(ins, 4, w->ids[k].bytes, 16);
	sqlite3_bind_int(ins, 5, ne->id != NULL);
	bind_text(ins, 6, ne->type, strlen(ne->type));
	rc = bind_blob(ins, 7, ne->data, ne->data_len);
	if (rc == SQLITE_OK)
		rc = bind_blob(ins, 8, ne->metadata, ne->metadata_len);
	if (rc != SQLITE_OK)
		return rc;
	if (json)
		bind_text(ins, 9, json, json_len);
	else
		sqlite3_bind_null(ins, 9);
	sqlite3_bind_int64(ins, 10, bs->now);
	bind_u64(ins, 11, last - pos);
	rc = sqlite3_step(ins);
	if (rc != SQLITE_DONE)
		return rc;
	for (i = 0; i < ne->ntags; i++) {
		sqlite3_reset(tag);
		bind_text(tag, 1, ne->tags[i], strlen(ne->tags[i]));
		bind_u64(tag, 2, pos);
		rc = sqlite3_step(tag);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_OK;
}

/* Write w's events after the stream's version ss->version and update its
 * row; ss->version becomes the new version. */
static int
write_events(cairn__backend *be, sqlite3_stmt *ins, sqlite3_stmt *tag,
             const cairn__write *w, stream_state *ss, batch_state *bs,
             uint64_t last)
{
	sql_conn *c = be->writer;
	sqlite3_stmt *s;
	size_t k;
	int rc = SQLITE_OK;

	for (k = 0; rc == SQLITE_OK && k < w->nevents; k++)
		rc = insert_event(be, ins, tag, w, k, ss->version + k + 1,
		                  bs->next_position + k, bs, last);
	if (rc != SQLITE_OK)
		return rc;
	bs->next_position += w->nevents;
	ss->version += w->nevents;
	if (ss->created_ns == 0)
		ss->created_ns = bs->now;
	rc = stmt_take(c, SQ_STREAM_PUT, &s);
	if (rc != SQLITE_OK)
		return rc;
	bind_text(s, 1, w->stream, w->stream_len);
	bind_u64(s, 2, ss->version);
	bind_u64(s, 3, bs->next_position - 1);
	sqlite3_bind_int64(s, 4, ss->created_ns);
	sqlite3_bind_int64(s, 5, bs->now);
	rc = sqlite3_step(s);
	stmt_give(c, SQ_STREAM_PUT, s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The most writes one request may name before it needs the heap. */
#define STACK_STATES 16

/*
 * Apply one request inside the batch's transaction.  Every check that can
 * refuse a request (repeat, condition, conflict) comes before its first
 * write, so a refused request writes nothing.  Returns SQLITE_OK with the
 * outcome in req->status, or the SQLite code of a failed write, after
 * which the caller must roll the request back.
 */
static int
apply_request(cairn__backend *be, cairn__append_req *req, batch_state *bs)
{
	stream_state states_stack[STACK_STATES], *states = states_stack;
	cairn_append_result *res = req->result;
	sql_conn *c = be->writer;
	lookup_ctx lc = {c, NULL};
	sqlite3_stmt *ins = NULL, *tag = NULL;
	uint64_t first = bs->next_position;
	cairn_status st;
	name_copy *nc;
	size_t wi;
	int rc = SQLITE_OK;

	st = cairn__idempotency_check(req, lookup_id, &lc);
	while ((nc = lc.copies) != NULL) {
		lc.copies = nc->next;
		cairn__free(nc);
	}
	if (st != CAIRN_DONE) {
		req->status = st;
		return SQLITE_OK;
	}
	if (req->condition) {
		st = check_condition(c, req, bs->next_position - 1);
		if (st != CAIRN_OK)
			cairn__req_error(req, st, cairn_last_error_native(),
			                 "%s", cairn_last_error());
		if (req->status != CAIRN_OK)
			return SQLITE_OK;
	}
	if (req->nwrites > STACK_STATES) {
		states = cairn__malloc(req->nwrites * sizeof(*states));
		if (states == NULL) {
			cairn__req_error(req, CAIRN_NOMEM, 0, "out of memory");
			return SQLITE_OK;
		}
	}
	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];

		rc = get_stream(c, w, &states[wi]);
		if (rc != SQLITE_OK)
			goto out;
		if (!cairn__expected_ok(w->expected, states[wi].version)) {
			req->status =
			        cairn__conflict(res, wi, w, states[wi].version);
			cairn__req_error(req, CAIRN_CONFLICT, 0, "%s",
			                 cairn_last_error());
			goto out;
		}
	}
	rc = stmt_take(c, SQ_EVENT_INSERT, &ins);
	if (rc == SQLITE_OK)
		rc = stmt_take(c, SQ_TAG_INSERT, &tag);
	for (wi = 0; rc == SQLITE_OK && wi < req->nwrites; wi++) {
		/* a write without events only checks its version: it
		 * creates and changes nothing (backend.h) */
		if (req->writes[wi].nevents == 0)
			continue;
		rc = write_events(be, ins, tag, &req->writes[wi], &states[wi],
		                  bs, first + req->nevents - 1);
	}
	if (rc != SQLITE_OK)
		goto out;
	res->first_position = req->nevents ? first : 0;
	res->last_position = req->nevents ? bs->next_position - 1 : 0;
	res->version = states[0].version;
	res->idempotent = 0;
	req->status = CAIRN_OK;
out:
	stmt_give(c, SQ_TAG_INSERT, tag);
	stmt_give(c, SQ_EVENT_INSERT, ins);
	if (states != states_stack)
		cairn__free(states);
	return rc;
}

/* Fail every request of a batch that had not failed on its own: the
 * transaction that held them is gone. */
static void
fail_batch(cairn__append_req **reqs, size_t n, sqlite3 *db, int rc,
           const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (reqs[i]->status == CAIRN_OK)
			req_sql_error(reqs[i], db, rc, what);
}

/*
 * Apply reqs[i] under a savepoint of its own when the batch holds more
 * than one request, so that a request whose write fails (a blob over
 * SQLite's length limit, say) is undone alone.  Returns SQLITE_OK, or the
 * code of a failure that ended the whole transaction.
 */
static int
apply_one(cairn__backend *be, cairn__append_req *req, batch_state *bs,
          bool savepoint)
{
	sql_conn *c = be->writer;
	uint64_t next = bs->next_position;
	int rc;

	req->status = CAIRN_OK;
	req->message[0] = '\0';
	memset(req->result, 0, sizeof(*req->result));
	if (savepoint && (rc = conn_exec(c, SQ_SAVEPOINT)) != SQLITE_OK)
		return rc;
	rc = apply_request(be, req, bs);
	if (rc == SQLITE_OK)
		return savepoint ? conn_exec(c, SQ_RELEASE) : SQLITE_OK;
	req_sql_error(req, c->db, rc, "appending");
	bs->next_position = next;
	if (!savepoint || sqlite3_get_autocommit(c->db))
		return rc;
	if (conn_exec(c, SQ_ROLLBACK_TO) != SQLITE_OK ||
	    conn_exec(c, SQ_RELEASE) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

/*
 * The group-commit callback: one write transaction (BEGIN IMMEDIATE,
 * which waits for other processes' writers up to the busy timeout) for
 * the whole batch, each request checked on its own, and one COMMIT, which
 * syncs the WAL once (synchronous=FULL).  Waiters are woken through the
 * notifier once the commit is visible.
 */
static void
commit_batch(void *ctx, cairn__append_req **reqs, size_t n)
{
	cairn__backend *be = ctx;
	sql_conn *c = be->writer;
	bool wrote = false, savepoints = n > 1;
	batch_state bs;
	uint64_t head = 0;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		reqs[i]->status = CAIRN_OK;
	pthread_mutex_lock(&be->write_mutex);
	if (engine_failed(be)) {
		failed_error(be);
		for (i = 0; i < n; i++)
			cairn__req_error(reqs[i], CAIRN_IO, EIO, "%s",
			                 cairn_last_error());
		goto out;
	}
	rc = conn_exec(c, SQ_BEGIN_IMMEDIATE);
	if (rc != SQLITE_OK) {
		fail_batch(reqs, n, c->db, rc, "beginning a write transaction");
		goto rollback;
	}
	rc = read_head(c, &head);
	if (rc != SQLITE_OK) {
		fail_batch(reqs, n, c->db, rc, "reading the head");
		goto rollback;
	}
	bs.next_position = head + 1;
	bs.now = cairn__now_ns();
	for (i = 0; i < n; i++) {
		rc = apply_one(be, reqs[i], &bs, savepoints);
		if (rc != SQLITE_OK) {
			fail_batch(reqs, n, c->db, rc, "appending");
			goto rollback;
		}
	}
	if (bs.next_position == head + 1) {
		/* nothing to write: no sync to pay */
		conn_exec(c, SQ_ROLLBACK);
		goto out;
	}
	rc = conn_exec(c, SQ_COMMIT);
	if (rc != SQLITE_OK) {
		fail_batch(reqs, n, c->db, rc, "committing");
		goto rollback;
	}
	wrote = true;
	goto out;
rollback:
	/* Any failure of the transaction (the begin, a write that spilled
	 * pages, the commit's WAL write or sync, the checkpoint after it)
	 * is looked at here, before the rollback replaces the codes. */
	note_write_failure(be, c, rc);
	if (engine_failed(be))
		/* this batch stopped the engine: its requests say so */
		for (i = 0; i < n; i++)
			if (reqs[i]->status == CAIRN_IO)
				append_reopen(reqs[i]);
	if (!sqlite3_get_autocommit(c->db))
		conn_exec(c, SQ_ROLLBACK);
out:
	pthread_mutex_unlock(&be->write_mutex);
	if (wrote)
		cairn__notify_bump(be->notify);
}

static cairn_status
sql_append(cairn__backend *be, cairn__append_req *req)
{
	if (be->writer == NULL)
		return cairn__req_error(req, CAIRN_UNSUPPORTED, 0,
		                        "sqlite: the store is open read-only");
	return cairn__group_submit(&be->group, req);
}

/* ---- iterators over events ---- */

/* One name of the type or tag index a query read walks (see
 * query_step()).  The name is copied: the read keeps no caller pointer. */
typedef struct sql_source {
	bool is_tag;
	sqlite3_stmt *stmt; /* positioned in the current transaction */
	uint64_t at;        /* the position it sits on; 0: none left */
	size_t name_len;
	char name[SQL_NAME_MAX + 1];
} sql_source;

typedef enum iter_mode { BY_STREAM, BY_LOG, BY_INDEX } iter_mode;

typedef struct sql_iter {
	cairn__iter base;
	cairn__backend *be;
	iter_mode mode;
	bool backwards;
	bool positioned; /* stmt (or the sources) sit after the last row */
	bool done;
	sql_conn *conn;       /* NULL while parked */
	sqlite3_stmt *stmt;   /* the rows, or SQ_EVENT_AT for BY_INDEX */
	int kind;             /* stmt's kind */
	uint64_t next;        /* next version or position; 0: none */
	uint64_t start_head;  /* the head of the first snapshot */
	uint64_t done_head;   /* the head of the snapshot DONE came in */
	unsigned since_renew; /* rows in this transaction */
	sql_source *srcs;
	size_t nsrcs;
	sql_decoder dec;
	size_t stream_len;
	char stream[CAIRN_STREAM_ID_MAX + 1];
} sql_iter;

/* Give back everything the iterator holds on its connection, end its
 * read transaction and return the connection to the pool. */
static void
iter_detach(sql_iter *it)
{
	size_t i;
	int kind;

	if (it->conn == NULL)
		return;
	for (i = 0; i < it->nsrcs; i++) {
		kind = it->srcs[i].is_tag
		               ? (it->backwards ? SQ_TAG_BACK : SQ_TAG_FWD)
		               : (it->backwards ? SQ_TYPE_BACK : SQ_TYPE_FWD);
		stmt_give(it->conn, kind, it->srcs[i].stmt);
		it->srcs[i].stmt = NULL;
	}
	stmt_give(it->conn, it->kind, it->stmt);
	it->stmt = NULL;
	if (!sqlite3_get_autocommit(it->conn->db) &&
	    conn_exec(it->conn, SQ_COMMIT) != SQLITE_OK)
		conn_exec(it->conn, SQ_ROLLBACK);
	pool_put(it->be, it->conn);
	it->conn = NULL;
	it->positioned = false;
}

/* Take a connection and begin a read transaction on it; the rows are
 * sought again from it->next at the next step. */
static cairn_status
iter_attach(sql_iter *it)
{
	cairn_status st;
	int rc;

	st = pool_get(it->be, &it->conn);
	if (st != CAIRN_OK)
		return st;
	rc = conn_exec(it->conn, SQ_BEGIN);
	if (rc == SQLITE_OK)
		rc = stmt_take(it->conn, it->kind, &it->stmt);
	if (rc != SQLITE_OK) {
		st = sql_error(it->conn->db, rc, "beginning a read");
		iter_detach(it);
		return st;
	}
	it->positioned = false;
	it->since_renew = 0;
	return CAIRN_OK;
}

/* Bind the row statement to start at it->next. */
static void
iter_seek(sql_iter *it)
{
	sqlite3_reset(it->stmt);
	if (it->mode == BY_STREAM) {
		bind_text(it->stmt, 1, it->stream, it->stream_len);
		bind_u64(it->stmt, 2, it->next);
	} else {
		bind_u64(it->stmt, 1, it->next);
	}
}

/* One step of a stream or $all read: the next row of the statement. */
static cairn_status
row_step(sql_iter *it)
{
	int rc;

	if (!it->positioned) {
		iter_seek(it);
		it->positioned = true;
	}
	rc = sqlite3_step(it->stmt);
	if (rc == SQLITE_ROW)
		return decode_row(it->stmt, &it->dec);
	if (rc == SQLITE_DONE)
		return CAIRN_DONE;
	return sql_error(it->conn->db, rc, "reading events");
}

/* Put s on its first position >= from (backwards: <= from). */
static cairn_status
source_seek(sql_iter *it, sql_source *s)
{
	int kind = s->is_tag ? (it->backwards ? SQ_TAG_BACK : SQ_TAG_FWD)
	                     : (it->backwards ? SQ_TYPE_BACK : SQ_TYPE_FWD);
	int rc;

	if (s->stmt == NULL) {
		rc = stmt_take(it->conn, kind, &s->stmt);
		if (rc != SQLITE_OK)
			return sql_error(it->conn->db, rc, "reading an index");
	}
	sqlite3_reset(s->stmt);
	bind_text(s->stmt, 1, s->name, s->name_len);
	bind_u64(s->stmt, 2, it->next);
	s->at = 0;
	return CAIRN_OK;
}

/* Move s to its next position in the read's direction (s->at 0: none). */
static cairn_status
source_step(sql_iter *it, sql_source *s)
{
	int rc = sqlite3_step(s->stmt);

	s->at = 0;
	if (rc == SQLITE_ROW) {
		s->at = (uint64_t)sqlite3_column_int64(s->stmt, 0);
		return CAIRN_OK;
	}
	if (rc == SQLITE_DONE)
		return CAIRN_OK;
	return sql_error(it->conn->db, rc, "reading an index");
}

/*
 * One step of a $all read through the indexes: the nearest position any
 * source sits on, in the read's direction; every source there steps on,
 * so an event found under several names comes once.  At the start of a
 * transaction each source is sought again from it->next.
 */
static cairn_status
index_step(sql_iter *it)
{
	cairn_status st = CAIRN_OK;
	uint64_t best = 0, at;
	size_t i;

	if (!it->positioned) {
		for (i = 0; st == CAIRN_OK && i < it->nsrcs; i++) {
			st = source_seek(it, &it->srcs[i]);
			if (st == CAIRN_OK)
				st = source_step(it, &it->srcs[i]);
		}
		if (st != CAIRN_OK)
			return st;
		it->positioned = true;
	}
	for (i = 0; i < it->nsrcs; i++) {
		at = it->srcs[i].at;
		if (at &&
		    (best == 0 || (it->backwards ? at > best : at < best)))
			best = at;
	}
	if (best == 0)
		return CAIRN_DONE;
	for (i = 0; st == CAIRN_OK && i < it->nsrcs; i++)
		if (it->srcs[i].at == best)
			st = source_step(it, &it->srcs[i]);
	if (st != CAIRN_OK)
		return st;
	return event_at(it->conn, it->stmt, best, &it->dec);
}

/* The read is over: note the head of the snapshot that showed it, and
 * let go of the snapshot. */
static cairn_status
iter_done(sql_iter *it)
{
	if (!it->done) {
		it->done = true;
		it->done_head = it->start_head;
		if (it->conn != NULL &&
		    read_head(it->conn, &it->done_head) != SQLITE_OK)
			it->done_head = it->start_head;
	}
	iter_detach(it);
	return CAIRN_DONE;
}

static cairn_status
sql_iter_next(cairn__iter *base, const cairn_event **out)
{
	sql_iter *it = (sql_iter *)base;
	cairn_status st;

	if (it->next == 0 || it->done)
		return iter_done(it);
	if (it->conn != NULL && it->since_renew >= it->be->renew_every)
		iter_detach(it);
	if (it->conn == NULL && (st = iter_attach(it)) != CAIRN_OK)
		return st;
	if (it->mode == BY_INDEX)
		st = index_step(it);
	else
		st = row_step(it);
	if (st == CAIRN_DONE)
		return iter_done(it);
	if (st != CAIRN_OK)
		return st;
	if (it->mode == BY_STREAM && it->dec.ev.version != it->next)
		return cairn__error(CAIRN_CORRUPT, 0,
		                    "sqlite: stream '%s' skips from version "
		                    "%llu to %llu",
		                    it->stream, (unsigned long long)it->next,
		                    (unsigned long long)it->dec.ev.version);
	it->since_renew++;
	if (it->mode == BY_STREAM)
		it->next = it->backwards ? it->next - 1 : it->next + 1;
	else
		it->next = it->backwards ? it->dec.ev.position - 1
		                         : it->dec.ev.position + 1;
	*out = &it->dec.ev;
	return CAIRN_ROW;
}

/*
 * The head of the view the read is on (cairn_iter_head()).  Once a
 * forward read is DONE, every event up to the head of the snapshot it
 * ended in was examined: each transaction seeks again from where the
 * read stood, and positions are given in commit order.  Before DONE, and
 * for a backward read, the head of the first snapshot.
 */
static cairn_status
sql_iter_head(cairn__iter *base, uint64_t *position)
{
	sql_iter *it = (sql_iter *)base;

	*position = it->done && !it->backwards ? it->done_head : it->start_head;
	return CAIRN_OK;
}

/* The consumer will be idle: end the read transaction and give the
 * connection back; the next step begins a new one after the last row. */
static void
sql_iter_park(cairn__iter *base)
{
	iter_detach((sql_iter *)base);
}

static void
sql_iter_free(cairn__iter *base)
{
	sql_iter *it = (sql_iter *)base;

	iter_detach(it);
	cairn__free(it->srcs);
	cairn__free(it->dec.buf);
	cairn__free(it);
}

static const cairn__iter_ops sql_iter_ops = {
        sql_iter_next,
        sql_iter_free,
        sql_iter_head,
        sql_iter_park,
};

/* A new iterator, attached, with the head of its first snapshot read. */
static cairn_status
iter_new(cairn__backend *be, iter_mode mode, const cairn_read_opts *opts,
         sql_iter **out)
{
	sql_iter *it = cairn__calloc(1, sizeof(*it));
	cairn_status st;
	int rc;

	if (it == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	it->base.ops = &sql_iter_ops;
	it->be = be;
	it->mode = mode;
	it->backwards = opts->backwards != 0;
	if (mode == BY_STREAM)
		it->kind = it->backwards ? SQ_STREAM_BACK : SQ_STREAM_FWD;
	else if (mode == BY_LOG)
		it->kind = it->backwards ? SQ_ALL_BACK : SQ_ALL_FWD;
	else
		it->kind = SQ_EVENT_AT;
	st = iter_attach(it);
	if (st == CAIRN_OK) {
		rc = read_head(it->conn, &it->start_head);
		if (rc != SQLITE_OK)
			st = sql_error(it->conn->db, rc, "reading the head");
	}
	if (st != CAIRN_OK) {
		sql_iter_free(&it->base);
		return st;
	}
	*out = it;
	return CAIRN_OK;
}

/* Where a read starts: forward from max(from, 1); backward from
 * min(from, last) with 0 meaning last.  0: nothing to read. */
static uint64_t
start_key(const cairn_read_opts *opts, uint64_t last)
{
	if (!opts->backwards)
		return opts->from ? opts->from : 1;
	if (opts->from == 0 || opts->from > last)
		return last;
	return opts->from;
}

static cairn_status
sql_read_stream(cairn__backend *be, const char *stream, size_t len,
                const cairn_read_opts *opts, cairn__iter **out)
{
	sql_iter *it = NULL;
	sqlite3_stmt *s;
	uint64_t version = 0;
	cairn_status st;
	int rc;

	st = iter_new(be, BY_STREAM, opts, &it);
	if (st != CAIRN_OK)
		return st;
	memcpy(it->stream, stream, len);
	it->stream[len] = '\0';
	it->stream_len = len;
	if (it->backwards) {
		rc = stmt_take(it->conn, SQ_STREAM_VERSION, &s);
		if (rc == SQLITE_OK) {
			bind_text(s, 1, stream, len);
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW)
				version = (uint64_t)sqlite3_column_int64(s, 0);
			stmt_give(it->conn, SQ_STREAM_VERSION, s);
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			st = sql_error(it->conn->db, rc,
			               "reading a stream's version");
			sql_iter_free(&it->base);
			return st;
		}
	}
	it->next = start_key(opts, version);
	*out = &it->base;
	return CAIRN_OK;
}

/* Add a source over name to the read, unless it has it already.
 * it->srcs has room. */
static void
add_source(sql_iter *it, bool is_tag, const char *name)
{
	size_t len = strlen(name), i;
	sql_source *s;

	for (i = 0; i < it->nsrcs; i++) {
		s = &it->srcs[i];
		if (s->is_tag == is_tag && s->name_len == len &&
		    memcmp(s->name, name, len) == 0)
			return;
	}
	s = &it->srcs[it->nsrcs++];
	s->is_tag = is_tag;
	s->name_len = len;
	memcpy(s->name, name, len);
	s->name[len] = '\0';
}

/* Does some item of q match every event? */
static bool
query_matches_all(const cairn_query *q)
{
	size_t i;

	for (i = 0; i < q->nitems; i++)
		if (q->items[i].ntypes == 0 && q->items[i].ntags == 0)
			return true;
	return false;
}

/*
 * The sources of a $all read with a query or a type filter: each query
 * item brings the names of its cheapest index (plan_item()); a query
 * with an item that matches everything cannot narrow the read, and then
 * the type filter's types are the sources if any, or else the read walks
 * the whole log.  The sources hold a superset of what the read yields:
 * the core applies the filters themselves.  Sets *by_index.
 */
static cairn_status
plan_sources(sql_iter *it, const cairn_read_opts *opts, bool *by_index)
{
	const cairn_query *q = opts->query;
	bool by_query = q != NULL && !query_matches_all(q);
	item_plan *plans = NULL;
	cairn_status st = CAIRN_OK;
	uint64_t from = it->backwards ? 0 : it->next;
	size_t i, j, cap = 0;
	int rc = SQLITE_OK;

	*by_index = false;
	if (!by_query && opts->ntypes == 0)
		return CAIRN_OK;
	if (!by_query) {
		cap = opts->ntypes;
	} else {
		plans = cairn__calloc(q->nitems, sizeof(*plans));
		if (plans == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
		for (i = 0; rc == SQLITE_OK && i < q->nitems; i++) {
			rc = plan_item(it->conn, &q->items[i], from, &plans[i]);
			cap += plans[i].by_tag ? 1 : q->items[i].ntypes;
		}
		if (rc != SQLITE_OK) {
			st = sql_error(it->conn->db, rc, "planning a read");
			goto out;
		}
	}
	it->srcs = cairn__calloc(cap ? cap : 1, sizeof(*it->srcs));
	if (it->srcs == NULL) {
		st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; !by_query && i < opts->ntypes; i++)
		add_source(it, false, opts->types[i]);
	for (i = 0; by_query && i < q->nitems; i++) {
		const cairn_query_item *item = &q->items[i];

		if (plans[i].by_tag) {
			add_source(it, true, item->tags[plans[i].tag]);
			continue;
		}
		for (j = 0; j < item->ntypes; j++)
			add_source(it, false, item->types[j]);
	}
	*by_index = true;
out:
	cairn__free(plans);
	return st;
}

static cairn_status
sql_read_all(cairn__backend *be, const cairn_read_opts *opts, cairn__iter **out)
{
	sql_iter *it = NULL;
	cairn_status st;
	bool by_index = false;

	st = iter_new(be, BY_LOG, opts, &it);
	if (st != CAIRN_OK)
		return st;
	it->next = start_key(opts, it->start_head);
	if (opts->query && opts->query->nitems == 0)
		it->next = 0; /* a query without items matches nothing */
	else if (it->next != 0)
		st = plan_sources(it, opts, &by_index);
	if (st == CAIRN_OK && by_index) {
		/* the rows come from SQ_EVENT_AT, not the log statement */
		stmt_give(it->conn, it->kind, it->stmt);
		it->mode = BY_INDEX;
		it->kind = SQ_EVENT_AT;
		if (stmt_take(it->conn, it->kind, &it->stmt) != SQLITE_OK) {
			it->stmt = NULL;
			st = sql_error(it->conn->db,
			               sqlite3_extended_errcode(it->conn->db),
			               "preparing a read");
		}
	}
	if (st != CAIRN_OK) {
		sql_iter_free(&it->base);
		return st;
	}
	*out = &it->base;
	return CAIRN_OK;
}

/* ---- metadata reads ---- */

/* Run a one-row statement of kind on a pooled reader: bind the text key
 * (when key is not NULL) and call fn with the row.  CAIRN_OK, CAIRN_DONE
 * when there is no row, or an error. */
typedef void (*row_fn)(sqlite3_stmt *s, void *ctx);

static cairn_status
query_one(cairn__backend *be, int kind, const char *key, size_t key_len,
          row_fn fn, void *ctx, const char *what)
{
	cairn_status st = CAIRN_OK;
	sql_conn *c;
	sqlite3_stmt *s;
	int rc;

	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	rc = stmt_take(c, kind, &s);
	if (rc != SQLITE_OK) {
		st = sql_error(c->db, rc, what);
		goto out;
	}
	if (key != NULL)
		bind_text(s, 1, key, key_len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		fn(s, ctx);
	else if (rc == SQLITE_DONE)
		st = CAIRN_DONE;
	else
		st = sql_error(c->db, rc, what);
	stmt_give(c, kind, s);
out:
	pool_put(be, c);
	return st;
}

static void
row_u64(sqlite3_stmt *s, void *ctx)
{
	*(uint64_t *)ctx = (uint64_t)sqlite3_column_int64(s, 0);
}

/* O(log n) in the streams table's primary key: no event is read. */
static cairn_status
sql_stream_version(cairn__backend *be, const char *stream, size_t len,
                   uint64_t *version)
{
	cairn_status st;

	*version = 0;
	st = query_one(be, SQ_STREAM_VERSION, stream, len, row_u64, version,
	               "reading a stream's version");
	return st == CAIRN_DONE ? CAIRN_OK : st;
}

static cairn_status
sql_head(cairn__backend *be, uint64_t *position)
{
	cairn_status st;

	*position = 0;
	st = query_one(be, SQ_HEAD, NULL, 0, row_u64, position,
	               "reading the head");
	return st == CAIRN_DONE ? CAIRN_OK : st;
}

/* Events are gapless, so their count is the head; streams are counted
 * (O(streams)); bytes are the database's pages (the WAL not counted). */
static cairn_status
sql_stats(cairn__backend *be, cairn_stats *stats)
{
	cairn_status st;

	st = sql_head(be, &stats->head);
	stats->events = stats->head;
	if (st == CAIRN_OK)
		st = query_one(be, SQ_STREAM_COUNT, NULL, 0, row_u64,
		               &stats->streams, "counting streams");
	if (st == CAIRN_OK)
		st = query_one(be, SQ_BYTES, NULL, 0, row_u64, &stats->bytes,
		               "measuring the database");
	return st == CAIRN_DONE ? CAIRN_OK : st;
}

/* ---- listing streams ---- */

typedef struct sql_lister {
	cairn__stream_iter base;
	cairn__backend *be;
	sql_conn *conn; /* NULL once over */
	sqlite3_stmt *stmt;
	int kind;
	cairn_stream_info info;
	size_t prefix_len;
	char prefix[CAIRN_STREAM_ID_MAX + 1];
	char after[CAIRN_STREAM_ID_MAX + 1];
} sql_lister;

static void
lister_end(sql_lister *l)
{
	if (l->conn == NULL)
		return;
	stmt_give(l->conn, l->kind, l->stmt);
	l->stmt = NULL;
	pool_put(l->be, l->conn);
	l->conn = NULL;
}

/*
 * Each row is the next stream in byte order (BINARY collation compares
 * with memcmp); ids sharing a prefix are contiguous, so the first id
 * without it ends the listing.  No LIKE: '%', '_' and '\' are plain
 * bytes here.
 */
static cairn_status
lister_next(cairn__stream_iter *base, const cairn_stream_info **info)
{
	sql_lister *l = (sql_lister *)base;
	cairn_status st;
	int rc;

	if (l->conn == NULL)
		return CAIRN_DONE;
	rc = sqlite3_step(l->stmt);
	if (rc == SQLITE_ROW) {
		l->info.stream = (const char *)sqlite3_column_text(l->stmt, 0);
		l->info.stream_len = (size_t)sqlite3_column_bytes(l->stmt, 0);
		if (l->info.stream != NULL &&
		    l->info.stream_len >= l->prefix_len &&
		    memcmp(l->info.stream, l->prefix, l->prefix_len) == 0) {
			l->info.version =
			        (uint64_t)sqlite3_column_int64(l->stmt, 1);
			l->info.last_position =
			        (uint64_t)sqlite3_column_int64(l->stmt, 2);
			l->info.created_ns = sqlite3_column_int64(l->stmt, 3);
			l->info.updated_ns = sqlite3_column_int64(l->stmt, 4);
			*info = &l->info;
			return CAIRN_ROW;
		}
		rc = SQLITE_DONE;
	}
	st = rc == SQLITE_DONE ? CAIRN_DONE
	                       : sql_error(l->conn->db, rc, "listing streams");
	lister_end(l);
	return st;
}

static void
lister_free(cairn__stream_iter *base)
{
	sql_lister *l = (sql_lister *)base;

	lister_end(l);
	cairn__free(l);
}

static const cairn__stream_iter_ops lister_ops = {
        lister_next,
        lister_free,
};

/* Byte order, a proper prefix before its extensions (memcmp order). */
static int
id_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* One statement from max(prefix, after) on, LIMIT limit: O(log n +
 * page). */
static cairn_status
sql_list_streams(cairn__backend *be, const char *prefix, const char *after,
                 size_t limit, cairn__stream_iter **out)
{
	size_t plen = strlen(prefix), alen = strlen(after);
	cairn_status st;
	sql_lister *l;
	int rc;

	l = cairn__calloc(1, sizeof(*l));
	if (l == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	l->base.ops = &lister_ops;
	l->be = be;
	l->prefix_len = plen;
	memcpy(l->prefix, prefix, plen + 1);
	memcpy(l->after, after, alen + 1);
	st = pool_get(be, &l->conn);
	if (st != CAIRN_OK) {
		cairn__free(l);
		return st;
	}
	l->kind = alen > 0 && id_cmp(after, alen, prefix, plen) >= 0
	                  ? SQ_LIST_AFTER
	                  : SQ_LIST_FROM;
	rc = stmt_take(l->conn, l->kind, &l->stmt);
	if (rc != SQLITE_OK) {
		st = sql_error(l->conn->db, rc, "listing streams");
		lister_free(&l->base);
		return st;
	}
	if (l->kind == SQ_LIST_AFTER)
		bind_text(l->stmt, 1, l->after, alen);
	else
		bind_text(l->stmt, 1, l->prefix, plen);
	sqlite3_bind_int64(l->stmt, 2,
	                   limit > INT64_MAX ? INT64_MAX
	                                     : (sqlite3_int64)limit);
	*out = &l->base;
	return CAIRN_OK;
}

/* ---- snapshots ---- */

/*
 * Keep the newest snapshot per (stream, schema): one upsert that only
 * replaces an older version, so a slower writer's older snapshot is
 * dropped without a word.  Through the writer, durable as an append.
 */
static cairn_status
sql_snapshot_put(cairn__backend *be, const char *stream, size_t stream_len,
                 uint64_t version, const char *schema, const void *blob,
                 size_t len)
{
	cairn_status st = CAIRN_OK;
	sql_conn *c = be->writer;
	sqlite3_stmt *s;
	int rc;

	if (c == NULL)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "sqlite: the store is open read-only");
	pthread_mutex_lock(&be->write_mutex);
	if (engine_failed(be)) {
		st = failed_error(be);
		goto out;
	}
	rc = stmt_take(c, SQ_SNAP_PUT, &s);
	if (rc == SQLITE_OK) {
		bind_text(s, 1, stream, stream_len);
		bind_text(s, 2, schema, strlen(schema));
		bind_u64(s, 3, version);
		rc = bind_blob(s, 4, blob, len);
		sqlite3_bind_int64(s, 5, cairn__now_ns());
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		stmt_give(c, SQ_SNAP_PUT, s);
	}
	if (rc != SQLITE_DONE) {
		note_write_failure(be, c, rc);
		st = sql_error(c->db, rc, "saving a snapshot");
	}
out:
	pthread_mutex_unlock(&be->write_mutex);
	return st;
}

static cairn_status
sql_snapshot_get(cairn__backend *be, const char *stream, size_t stream_len,
                 const char *schema, uint64_t *version, void **blob,
                 size_t *len)
{
	cairn_status st = CAIRN_OK;
	const void *p;
	sqlite3_stmt *s;
	sql_conn *c;
	size_t n;
	int rc;

	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	rc = stmt_take(c, SQ_SNAP_GET, &s);
	if (rc != SQLITE_OK) {
		st = sql_error(c->db, rc, "reading a snapshot");
		goto out;
	}
	bind_text(s, 1, stream, stream_len);
	bind_text(s, 2, schema, strlen(schema));
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*version = (uint64_t)sqlite3_column_int64(s, 0);
		p = sqlite3_column_blob(s, 1);
		n = (size_t)sqlite3_column_bytes(s, 1);
		*blob = cairn__malloc(n ? n : 1);
		if (*blob == NULL) {
			st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		} else {
			if (n)
				memcpy(*blob, p, n);
			*len = n;
		}
	} else if (rc == SQLITE_DONE) {
		st = cairn__error(CAIRN_NOT_FOUND, 0,
		                  "sqlite: no snapshot of stream '%.*s' under "
		                  "schema '%s'",
		                  (int)stream_len, stream, schema);
	} else {
		st = sql_error(c->db, rc, "reading a snapshot");
	}
	stmt_give(c, SQ_SNAP_GET, s);
out:
	pool_put(be, c);
	return st;
}

/* ---- durable subscription cursors ---- */

static void
row_cursor(sqlite3_stmt *s, void *ctx)
{
	cairn_sub_info *info = ctx;

	info->position = (uint64_t)sqlite3_column_int64(s, 0);
	info->updated_ns = sqlite3_column_int64(s, 1);
}

static cairn_status
sql_cursor_get(cairn__backend *be, const char *name, size_t len,
               cairn_sub_info *info)
{
	cairn_status st;

	st = query_one(be, SQ_CURSOR_GET, name, len, row_cursor, info,
	               "reading a subscription cursor");
	return st == CAIRN_DONE ? CAIRN_NOT_FOUND : st;
}

/*
 * Compare-and-set as one statement, atomic across connections and
 * processes: an upsert for CAIRN__CURSOR_ANY, an insert that does
 * nothing on an existing name for CAIRN__CURSOR_ABSENT, else an update
 * guarded by the expected position; no row changed is a conflict.  The
 * cursor writer commits with synchronous=NORMAL: in the WAL before the
 * call returns (a process crash keeps it), not synced on its own.
 */
static cairn_status
sql_cursor_put(cairn__backend *be, const char *name, size_t len,
               uint64_t expect, uint64_t position)
{
	int kind = expect == CAIRN__CURSOR_ANY      ? SQ_CURSOR_SET
	           : expect == CAIRN__CURSOR_ABSENT ? SQ_CURSOR_CREATE
	                                            : SQ_CURSOR_CAS;
	sql_conn *c = be->cursor_writer;
	cairn_status st = CAIRN_OK;
	sqlite3_stmt *s;
	int rc;

	if (c == NULL)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "sqlite: the store is open read-only");
	pthread_mutex_lock(&be->write_mutex);
	if (engine_failed(be)) {
		st = failed_error(be);
		goto out;
	}
	rc = stmt_take(c, kind, &s);
	if (rc == SQLITE_OK) {
		bind_text(s, 1, name, len);
		bind_u64(s, 2, position);
		sqlite3_bind_int64(s, 3, cairn__now_ns());
		if (kind == SQ_CURSOR_CAS)
			bind_u64(s, 4, expect);
		rc = sqlite3_step(s);
		stmt_give(c, kind, s);
	}
	if (rc != SQLITE_DONE) {
		note_write_failure(be, c, rc);
		st = sql_error(c->db, rc, "storing a subscription cursor");
	} else if (sqlite3_changes(c->db) == 0)
		st = CAIRN_CONFLICT;
out:
	pthread_mutex_unlock(&be->write_mutex);
	return st;
}

static cairn_status
sql_cursor_delete(cairn__backend *be, const char *name, size_t len)
{
	sql_conn *c = be->cursor_writer;
	cairn_status st = CAIRN_OK;
	sqlite3_stmt *s;
	int rc;

	if (c == NULL)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "sqlite: the store is open read-only");
	pthread_mutex_lock(&be->write_mutex);
	if (engine_failed(be)) {
		st = failed_error(be);
		goto out;
	}
	rc = stmt_take(c, SQ_CURSOR_DELETE, &s);
	if (rc == SQLITE_OK) {
		bind_text(s, 1, name, len);
		rc = sqlite3_step(s);
		stmt_give(c, SQ_CURSOR_DELETE, s);
	}
	if (rc != SQLITE_DONE) {
		note_write_failure(be, c, rc);
		st = sql_error(c->db, rc, "deleting a subscription cursor");
	} else if (sqlite3_changes(c->db) == 0)
		st = CAIRN_NOT_FOUND;
out:
	pthread_mutex_unlock(&be->write_mutex);
	return st;
}

/* One cursor after name (byte order) into info, name copied into buf:
 * CAIRN_ROW, CAIRN_DONE or an error.  No transaction stays open. */
static cairn_status
cursor_after(sql_conn *c, char *buf, size_t *len, cairn_sub_info *info)
{
	cairn_status st = CAIRN_DONE;
	const char *name;
	sqlite3_stmt *s;
	size_t n;
	int rc;

	rc = stmt_take(c, SQ_CURSOR_NEXT, &s);
	if (rc != SQLITE_OK)
		return sql_error(c->db, rc, "listing subscription cursors");
	bind_text(s, 1, buf, *len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(s, 0);
		n = (size_t)sqlite3_column_bytes(s, 0);
		if (name == NULL || n == 0 || n > CAIRN_SUB_NAME_MAX) {
			st = cairn__error(CAIRN_CORRUPT, 0,
			                  "sqlite: a subscription cursor has a "
			                  "malformed name");
		} else {
			memcpy(buf, name, n);
			buf[n] = '\0';
			*len = n;
			info->position = (uint64_t)sqlite3_column_int64(s, 1);
			info->updated_ns = sqlite3_column_int64(s, 2);
			st = CAIRN_ROW;
		}
	} else if (rc != SQLITE_DONE) {
		st = sql_error(c->db, rc, "listing subscription cursors");
	}
	stmt_give(c, SQ_CURSOR_NEXT, s);
	return st;
}

/* fn is called with no statement active: each step seeks after the name
 * it last saw, so cursors added or deleted meanwhile are seen or not, but
 * none twice, and fn may use this store's cursors. */
static cairn_status
sql_cursor_list(cairn__backend *be, cairn_sub_list_fn fn, void *ctx)
{
	char name[CAIRN_SUB_NAME_MAX + 1] = "";
	cairn_sub_info info;
	cairn_status st;
	size_t len = 0;
	sql_conn *c;

	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	while ((st = cursor_after(c, name, &len, &info)) == CAIRN_ROW) {
		info.name = name;
		if (fn(ctx, &info))
			break;
	}
	pool_put(be, c);
	return st == CAIRN_ROW || st == CAIRN_DONE ? CAIRN_OK : st;
}

static cairn__notify *
sql_notifier(cairn__backend *be)
{
	return be->notify;
}

/* ---- verification ---- */

typedef struct verify_state {
	cairn_verify_fn fn;
	void *ctx;
	uint64_t problems;
} verify_state;

static void vproblem(verify_state *vs, const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 2, 3)))
#endif
        ;

static void
vproblem(verify_state *vs, const char *fmt, ...)
{
	char buf[SQL_PROBLEM_MAX];
	va_list ap;

	vs->problems++;
	if (vs->fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	vs->fn(vs->ctx, buf);
}

/* SQLite's own check of every page, row and index entry. */
static cairn_status
verify_integrity(sql_conn *c, verify_state *vs)
{
	sqlite3_stmt *s;
	const char *msg;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "PRAGMA integrity_check", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sql_error(c->db, rc, "checking integrity");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		msg = (const char *)sqlite3_column_text(s, 0);
		if (msg != NULL && strcmp(msg, "ok") != 0)
			vproblem(vs, "sqlite integrity check: %s", msg);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sql_error(c->db, rc, "checking integrity");
	return CAIRN_OK;
}

/* The tags of ev, each counted once. */
static uint64_t
distinct_tags(const cairn_event *ev)
{
	uint64_t n = 0;
	size_t i, j;

	for (i = 0; i < ev->ntags; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(ev->tags[i], ev->tags[j]) == 0)
				break;
		n += j == i;
	}
	return n;
}

/*
 * Every event decodes; the events of one append (commit_rest counting
 * down to 0 at consecutive positions) share their commit time, and the
 * last append is whole; *tags counts the tag index entries the events
 * call for.
 */
static cairn_status
verify_events(sql_conn *c, verify_state *vs, uint64_t *tags)
{
	sql_decoder d = {0};
	uint64_t rest = 0, prev = 0;
	int64_t time = 0;
	sqlite3_stmt *s;
	cairn_status st = CAIRN_OK;
	int rc;

	rc = stmt_take(c, SQ_VERIFY_EVENTS, &s);
	if (rc != SQLITE_OK)
		return sql_error(c->db, rc, "reading events");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cairn_status drc = decode_row(s, &d);

		if (drc == CAIRN_NOMEM) {
			st = drc; /* not a problem of the store: stop */
			break;
		}
		if (drc != CAIRN_OK) {
			vproblem(vs, "%s", cairn_last_error());
			continue;
		}
		if (rest > 0 &&
		    (d.ev.commit_rest != rest - 1 ||
		     d.ev.position != prev + 1 || d.ev.time_ns != time))
			vproblem(vs,
			         "position %llu: commit_rest %u does not "
			         "continue the append before it (%llu events "
			         "to go)",
			         (unsigned long long)d.ev.position,
			         d.ev.commit_rest, (unsigned long long)rest);
		if (sqlite3_column_int(s, 10) != 0 &&
		    sqlite3_column_int(s, 10) != 1)
			vproblem(vs, "position %llu: id_given is not 0 or 1",
			         (unsigned long long)d.ev.position);
		rest = d.ev.commit_rest;
		prev = d.ev.position;
		time = d.ev.time_ns;
		*tags += distinct_tags(&d.ev);
	}
	if (st != CAIRN_OK)
		;
	else if (rc != SQLITE_DONE)
		st = sql_error(c->db, rc, "reading events");
	else if (rest > 0)
		vproblem(vs,
		         "the last append ends at position %llu with %llu "
		         "events missing",
		         (unsigned long long)prev, (unsigned long long)rest);
	stmt_give(c, SQ_VERIFY_EVENTS, s);
	cairn__free(d.buf);
	return st;
}

/* Every tag index entry names an event carrying that tag, and there are
 * as many as the events call for. */
static cairn_status
verify_tags(sql_conn *c, verify_state *vs, uint64_t want)
{
	sql_decoder d = {0};
	uint64_t count = 0, pos;
	const char *tag, *json;
	sqlite3_stmt *s;
	cairn_status st = CAIRN_OK;
	size_t i;
	int rc;

	rc = stmt_take(c, SQ_VERIFY_TAGS, &s);
	if (rc != SQLITE_OK)
		return sql_error(c->db, rc, "reading the tag index");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		count++;
		tag = (const char *)sqlite3_column_text(s, 0);
		pos = (uint64_t)sqlite3_column_int64(s, 1);
		json = (const char *)sqlite3_column_text(s, 2);
		d.ev.position = pos;
		d.ev.ntags = 0;
		if (json != NULL) {
			cairn_status prc = parse_tags(
			        &d, json, (size_t)sqlite3_column_bytes(s, 2));

			if (prc == CAIRN_NOMEM) {
				st = prc; /* not a problem of the store */
				break;
			}
			if (prc != CAIRN_OK)
				continue; /* reported by verify_events() */
		}
		for (i = 0; tag != NULL && i < d.ev.ntags; i++)
			if (strcmp(d.ev.tags[i], tag) == 0)
				break;
		if (tag == NULL || i == d.ev.ntags)
			vproblem(vs,
			         "the tag index lists position %llu under "
			         "'%s', which that event lacks",
			         (unsigned long long)pos, tag ? tag : "");
	}
	if (st != CAIRN_OK)
		;
	else if (rc != SQLITE_DONE)
		st = sql_error(c->db, rc, "reading the tag index");
	else if (count != want)
		vproblem(vs,
		         "the tag index holds %llu entries where the events "
		         "call for %llu",
		         (unsigned long long)count, (unsigned long long)want);
	stmt_give(c, SQ_VERIFY_TAGS, s);
	cairn__free(d.buf);
	return st;
}

/* No stream row without events (the core checks the rest of a stream's
 * row against its events). */
static cairn_status
verify_streams(sql_conn *c, verify_state *vs)
{
	sqlite3_stmt *s;
	int rc;

	rc = stmt_take(c, SQ_VERIFY_STREAMS, &s);
	if (rc != SQLITE_OK)
		return sql_error(c->db, rc, "reading streams");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		vproblem(vs, "stream '%s' has a row but no events",
		         (const char *)sqlite3_column_text(s, 0));
	stmt_give(c, SQ_VERIFY_STREAMS, s);
	if (rc != SQLITE_DONE)
		return sql_error(c->db, rc, "reading streams");
	return CAIRN_OK;
}

/* The engine's own checks, in one read transaction (one snapshot), so
 * appends running meanwhile raise no false alarm. */
static cairn_status
sql_verify(cairn__backend *be, cairn_verify_fn fn, void *ctx,
           uint64_t *problems)
{
	verify_state vs = {fn, ctx, 0};
	uint64_t tags = 0;
	cairn_status st;
	sql_conn *c;
	int rc;

	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	rc = conn_exec(c, SQ_BEGIN);
	if (rc != SQLITE_OK)
		st = sql_error(c->db, rc, "beginning a read");
	if (st == CAIRN_OK)
		st = verify_integrity(c, &vs);
	if (st == CAIRN_OK)
		st = verify_events(c, &vs, &tags);
	if (st == CAIRN_OK)
		st = verify_tags(c, &vs, tags);
	if (st == CAIRN_OK)
		st = verify_streams(c, &vs);
	pool_put(be, c);
	*problems = vs.problems;
	return st;
}

/* ---- open and close ---- */

/* The integer a constant pragma (or query) answers. */
static int
query_int(sql_conn *c, const char *sql, int64_t *v)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* WAL mode, which the file keeps once set. */
static int
set_wal(sql_conn *c)
{
	const unsigned char *mode;
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s,
	                        NULL);
	if (rc != SQLITE_OK)
		return rc;
	/* Switching a new file to WAL answers SQLITE_BUSY at once, without
	 * calling the busy handler, when another process is switching or
	 * creating it at the same moment (two processes creating one store:
	 * about one open in five failed, found by tests/crash): wait as the
	 * busy handler would, and try again. */
	for (int tries = 0;; tries++) {
		rc = sqlite3_step(s);
		if (rc != SQLITE_BUSY || !busy_wait(c, tries))
			break;
		sqlite3_reset(s);
	}
	if (rc == SQLITE_ROW) {
		mode = sqlite3_column_text(s, 0);
		rc = mode && strcmp((const char *)mode, "wal") == 0
		             ? SQLITE_OK
		             : SQLITE_CANTOPEN;
	}
	sqlite3_finalize(s);
	return rc;
}

/*
 * Check the file's schema version and identity (in a transaction the
 * caller began): CAIRN_OK when it is a cairn store this file can use;
 * CAIRN_DONE when it is an empty database (version 0, no tables);
 * CAIRN_CORRUPT when it is something else or a newer cairn's store.
 */
static cairn_status
check_schema(cairn__backend *be, sql_conn *c)
{
	int64_t app = 0, version = 0, tables = 0;
	int rc;

	rc = query_int(c, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = query_int(c, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK)
		rc = query_int(c, "SELECT count(*) FROM sqlite_master",
		               &tables);
	if (rc != SQLITE_OK)
		return cairn__error(map_code(rc), rc,
		                    "sqlite: cannot read '%s': %s", be->path,
		                    code_text(c->db, rc));
	if (app == 0 && version == 0 && tables == 0)
		return CAIRN_DONE;
	if (app != SQL_APPLICATION_ID)
		return cairn__error(
		        CAIRN_CORRUPT, 0,
		        "sqlite: '%s' is an SQLite database but not "
		        "a cairn store",
		        be->path);
	if (version > SQL_SCHEMA_VERSION)
		return cairn__error(
		        CAIRN_CORRUPT, 0,
		        "sqlite: '%s' has schema version %lld, made "
		        "by a newer cairn; this one knows versions "
		        "up to %d",
		        be->path, (long long)version, SQL_SCHEMA_VERSION);
	if (version < 1)
		return cairn__error(
		        CAIRN_CORRUPT, 0,
		        "sqlite: '%s' has schema version %lld, which "
		        "no cairn wrote",
		        be->path, (long long)version);
	return CAIRN_OK;
}

/*
 * Bring the file to SQL_SCHEMA_VERSION in one write transaction: an empty
 * database gets the schema (version 0 -> 1); later versions will add
 * their steps here, each from the one before.
 */
static cairn_status
migrate(cairn__backend *be)
{
	sql_conn *c = be->writer;
	cairn_status st;
	int rc;

	rc = set_wal(c);
	if (rc == SQLITE_OK)
		rc = conn_exec(c, SQ_BEGIN_IMMEDIATE);
	if (rc != SQLITE_OK)
		return cairn__error(map_code(rc), rc,
		                    "sqlite: cannot open '%s': %s", be->path,
		                    code_text(c->db, rc));
	st = check_schema(be, c);
	if (st == CAIRN_DONE) {
		rc = sqlite3_exec(c->db, schema_v1, NULL, NULL, NULL);
		st = rc == SQLITE_OK
		             ? CAIRN_OK
		             : sql_error(c->db, rc, "creating the schema");
	}
	if (st == CAIRN_OK) {
		rc = conn_exec(c, SQ_COMMIT);
		if (rc != SQLITE_OK)
			st = sql_error(c->db, rc, "creating the schema");
	}
	if (!sqlite3_get_autocommit(c->db))
		conn_exec(c, SQ_ROLLBACK);
	return st;
}

/* A read-only open: the file must exist and be a cairn store. */
static cairn_status
open_read_only(cairn__backend *be)
{
	struct stat sb;
	cairn_status st;
	sql_conn *c;
	int rc;

	if (stat(be->path, &sb) != 0)
		return cairn__error(errno == ENOENT ? CAIRN_NOT_FOUND
		                                    : CAIRN_IO,
		                    errno, "sqlite: cannot open '%s': %s",
		                    be->path, strerror(errno));
	st = conn_open(be, false, false, NULL, &c);
	if (st != CAIRN_OK)
		return st;
	rc = conn_exec(c, SQ_BEGIN);
	if (rc != SQLITE_OK) {
		st = sql_error(c->db, rc, "opening the store");
		conn_close(c);
		return st;
	}
	st = check_schema(be, c);
	if (st == CAIRN_DONE)
		st = cairn__error(CAIRN_NOT_FOUND, 0,
		                  "sqlite: '%s' holds no cairn store yet",
		                  be->path);
	if (st != CAIRN_OK) {
		conn_close(c);
		return st;
	}
	pool_put(be, c);
	return CAIRN_OK;
}

/* The writers: the writer creates the file and its schema. */
static cairn_status
open_writable(cairn__backend *be, const cairn_options *opts)
{
	const char *sync = opts->durability == CAIRN_RELAXED
	                           ? "PRAGMA synchronous = NORMAL"
	                           : "PRAGMA synchronous = FULL";
	cairn_status st;

	st = conn_open(be, true, true, sync, &be->writer);
	if (st == CAIRN_OK)
		st = migrate(be);
	if (st == CAIRN_OK)
		st = conn_open(be, true, false, "PRAGMA synchronous = NORMAL",
		               &be->cursor_writer);
	return st;
}

static void
backend_free(cairn__backend *be)
{
	sql_conn *c;

	while ((c = be->idle) != NULL) {
		be->idle = c->next;
		conn_close(c);
	}
	/* The last connection to close checkpoints the WAL into the file and
	 * deletes it.  In the failed state that checkpoint's sync is the
	 * retried fsync that may falsely succeed, after which the WAL, the
	 * only sure copy, would be gone: leave the WAL for the next open's
	 * recovery. */
	if (engine_failed(be)) {
		if (be->cursor_writer != NULL)
			sqlite3_db_config(be->cursor_writer->db,
			                  SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
			                  NULL);
		if (be->writer != NULL)
			sqlite3_db_config(be->writer->db,
			                  SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
			                  NULL);
	}
	conn_close(be->cursor_writer);
	conn_close(be->writer);
	cairn__notify_close(be->notify);
	cairn__free(be->tagjson);
	pthread_mutex_destroy(&be->pool_mutex);
	pthread_mutex_destroy(&be->write_mutex);
	cairn__free(be);
}

static cairn_status
sql_open(const char *path, const cairn_options *opts, cairn__backend **out)
{
	size_t len = strlen(path);
	char notify_path[PATH_MAX + sizeof(SQL_NOTIFY_SUFFIX)];
	cairn__backend *be;
	cairn_status st;

	if (len == 0)
		return cairn__error(CAIRN_INVALID_URI, 0,
		                    "an sqlite store needs a file: write "
		                    "\"sqlite:PATH\"");
	if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
		return cairn__error(CAIRN_INVALID_URI, 0,
		                    "sqlite: '%.200s' is not a plain file path "
		                    "(for a store in memory use \"memory:\")",
		                    path);
	if (len + sizeof(SQL_NOTIFY_SUFFIX) > sizeof(notify_path))
		return cairn__error(CAIRN_INVALID_URI, 0,
		                    "sqlite: the path is too long");
	be = cairn__calloc(1, sizeof(*be) + len + 1);
	if (be == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	memcpy(be->path, path, len + 1);
	be->read_only = opts->read_only != 0;
	be->renew_every = opts->read_renew_every ? opts->read_renew_every : 1;
	if (pthread_mutex_init(&be->write_mutex, NULL) != 0) {
		cairn__free(be);
		return cairn__error(CAIRN_NOMEM, 0, "cannot create a mutex");
	}
	if (pthread_mutex_init(&be->pool_mutex, NULL) != 0) {
		pthread_mutex_destroy(&be->write_mutex);
		cairn__free(be);
		return cairn__error(CAIRN_NOMEM, 0, "cannot create a mutex");
	}
	st = be->read_only ? open_read_only(be) : open_writable(be, opts);
	if (st == CAIRN_OK) {
		memcpy(notify_path, path, len);
		memcpy(notify_path + len, SQL_NOTIFY_SUFFIX,
		       sizeof(SQL_NOTIFY_SUFFIX));
		st = cairn__notify_open(notify_path, be->read_only,
		                        &be->notify);
	}
	if (st == CAIRN_OK)
		st = cairn__group_init(&be->group, commit_batch, be);
	if (st != CAIRN_OK) {
		backend_free(be);
		return st;
	}
	*out = be;
	return CAIRN_OK;
}

static void
sql_close(cairn__backend *be)
{
	if (be == NULL)
		return;
	cairn__group_destroy(&be->group);
	backend_free(be);
}

const cairn__backend_ops cairn__sqlite_backend = {
        CAIRN__BACKEND_OPS_VERSION,
        "sqlite",
        sql_open,
        sql_close,
        sql_append,
        sql_read_stream,
        sql_read_all,
        sql_stream_version,
        sql_head,
        sql_list_streams,
        sql_stats,
        sql_verify,
        sql_snapshot_put,
        sql_snapshot_get,
        NULL, /* note_retry */
        sql_notifier,
        sql_cursor_get,
        sql_cursor_put,
        sql_cursor_delete,
        sql_cursor_list,
};
