/*
 * postgres.c -- the PostgreSQL engine ("postgres://...", "postgres:k=v").
 *
 * Many processes on many machines share one database (or one schema of
 * it): the schema (docs/schema-postgres.md) is applied on open as
 * numbered migrations recorded in schema_version.
 *
 *   events       one row per event: position (primary key), stream,
 *                version, id, type, data, metadata, tags (text[]),
 *                time_ns, commit_rest
 *   event_tags   (tag, position): the tag index of DCB queries
 *   streams      stream -> version, last_position, created_ns, updated_ns
 *   head         one row: the newest position, and the writers' lock
 *   snapshots    (stream, schema) -> version, state
 *   cursors      name -> position, updated_ns (durable subscriptions)
 *
 * The global order.  A write transaction first locks the one row of
 * head (SELECT ... FOR UPDATE) and only then reads anything; positions
 * are head + 1, ... and head moves in the same transaction.  So writers,
 * in every process, hold the lock one at a time, from before they read
 * until their COMMIT is visible (PostgreSQL releases row locks after a
 * commit is visible to new snapshots), and position order is commit
 * order: a snapshot that shows position P shows every position below
 * it.  Positions are gapless (a rolled-back transaction never moved
 * head).  The same lock makes the expected-version and DCB checks
 * race-free under READ COMMITTED: every statement after the lock sees
 * every earlier writer's commit.  Its cost is that commits are serial;
 * within a process the group commit (cairn__group) puts many appends in
 * one transaction.
 *
 * Connections.  A pool of at most pool_size connections (URI setting,
 * PG_POOL_DEFAULT); a call takes one for its statements and gives it
 * back.  Reads fetch in chunks (keyset pagination, each chunk one
 * statement bounded in rows and bytes), so an iterator holds no
 * connection and no transaction between chunks: a read of any length
 * uses memory of one chunk, and parking drops the chunk.
 *
 * Notifications.  A commit sends pg_notify('cairn_commit', schema) in its
 * transaction; a listener thread per store, on a connection of its own,
 * waits in poll() on that socket and bumps the store's notifier for
 * notifications of its schema, and once after every reconnect.
 *
 * Errors.  pg_map() is the one place SQLSTATEs become statuses; the
 * native code is the SQLSTATE packed as PostgreSQL's MAKE_SQLSTATE does
 * (six bits per character), and the message names the SQLSTATE.  A
 * COMMIT whose connection is lost has an unknown outcome: CAIRN_IO with
 * a message that says so; a retry with the same event ids is made
 * idempotent by cairn__idempotency_check().
 */
#include "postgres_int.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The schema this file writes: migrations 1..PG_SCHEMA_VERSION. */
#define PG_SCHEMA_VERSION 1
/* The advisory lock that serialises migrations across processes. */
#define PG_MIGRATE_LOCK 0x636169726e /* "cairn" */
/* The NOTIFY channel; the payload is the store's schema. */
#define PG_CHANNEL "cairn_commit"
/* A read chunk: at most this many rows and (after the first row) this
 * many bytes of data and metadata. */
#define PG_CHUNK_ROWS 1000
#define PG_CHUNK_BYTES (1 << 20)
/* The listener's reconnect delays, doubling. */
#define PG_RECONNECT_MIN_MS 50
#define PG_RECONNECT_MAX_MS 2000
/* The most parameters one statement binds: a $all read's key, rows and
 * bytes, types, prefix, and each query item's types and tags. */
#define PG_PARAMS_MAX (2 * CAIRN_QUERY_ITEMS_MAX + 8)
/* Room for one problem sentence of verify(). */
#define PG_PROBLEM_MAX 640
/* The text of a number. */
#define PG_NUM_LEN 24

void (*cairn__pg_before_commit_hook)(void *ctx, int backend_pid);
void *cairn__pg_before_commit_ctx;
const char *cairn__pg_before_commit_sql;
void (*cairn__pg_chunk_hook)(void *ctx, int rows);
void *cairn__pg_chunk_ctx;
int cairn__pg_skip_idle_check;

/* ---- SQL ---- */

/* Migration 1, in one transaction with its schema_version row. */
static const char migration_1[] =
        "CREATE TABLE events ("
        " position bigint PRIMARY KEY,"
        " stream text COLLATE \"C\" NOT NULL,"
        " version bigint NOT NULL,"
        " id uuid NOT NULL,"
        " id_given boolean NOT NULL,"
        " type text COLLATE \"C\" NOT NULL,"
        " data bytea NOT NULL,"
        " metadata bytea NOT NULL,"
        " tags text[] COLLATE \"C\","
        " time_ns bigint NOT NULL,"
        " commit_rest integer NOT NULL,"
        " UNIQUE (stream, version));"
        "CREATE INDEX events_type ON events (type, position);"
        "CREATE UNIQUE INDEX events_id ON events (id) WHERE id_given;"
        "CREATE TABLE event_tags ("
        " tag text COLLATE \"C\" NOT NULL,"
        " position bigint NOT NULL,"
        " PRIMARY KEY (tag, position));"
        "CREATE TABLE streams ("
        " stream text COLLATE \"C\" PRIMARY KEY,"
        " version bigint NOT NULL,"
        " last_position bigint NOT NULL,"
        " created_ns bigint NOT NULL,"
        " updated_ns bigint NOT NULL);"
        "CREATE TABLE head ("
        " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
        " position bigint NOT NULL);"
        "INSERT INTO head VALUES (true, 0);"
        "CREATE TABLE snapshots ("
        " stream text COLLATE \"C\" NOT NULL,"
        " schema text COLLATE \"C\" NOT NULL,"
        " version bigint NOT NULL,"
        " state bytea NOT NULL,"
        " saved_ns bigint NOT NULL,"
        " PRIMARY KEY (stream, schema));"
        "CREATE TABLE cursors ("
        " name text COLLATE \"C\" PRIMARY KEY,"
        " position bigint NOT NULL,"
        " updated_ns bigint NOT NULL);";

static const char *const migrations[PG_SCHEMA_VERSION] = {migration_1};

#define EVENT_COLS                                                             \
	"position, stream, version, id, type, data, metadata, tags, "          \
	"time_ns, commit_rest"

/* A chunk of a read: the head and up to $2 rows, $3 bytes, of events
 * matching WHERE (the caller's text, with $1 the key to start from),
 * in one statement, so one snapshot. */
#define CHUNK_HEAD                                                             \
	"SELECT h.head, e.position, e.stream, e.version, e.id, e.type, "       \
	"e.data, e.metadata, e.tags, e.time_ns, e.commit_rest "                \
	"FROM (SELECT coalesce(max(position), 0) AS head FROM events) h "      \
	"LEFT JOIN LATERAL (SELECT * FROM (SELECT " EVENT_COLS ", "            \
	"sum(octet_length(data) + octet_length(metadata)) OVER w AS run, "     \
	"octet_length(data) + octet_length(metadata) AS len FROM events "      \
	"WHERE "
#define CHUNK_TAIL(key, dir)                                                   \
	" WINDOW w AS (ORDER BY " key " " dir " ROWS BETWEEN UNBOUNDED "       \
	"PRECEDING AND CURRENT ROW) ORDER BY " key " " dir " LIMIT $2) c "     \
	"WHERE c.run - c.len < $3) e ON true ORDER BY e." key " " dir

static const char sql_begin_lock_head[] =
        "BEGIN; SELECT position, (extract(epoch FROM clock_timestamp()) * "
        "1000000)::bigint * 1000 FROM head FOR UPDATE";
static const char sql_head_move[] =
        "WITH u AS (UPDATE head SET position = $1) "
        "SELECT pg_notify('" PG_CHANNEL "', current_schema())";
static const char sql_stream_get[] =
        "SELECT version, created_ns FROM streams WHERE stream = $1";
static const char sql_stream_put[] =
        "INSERT INTO streams (stream, version, last_position, created_ns, "
        "updated_ns) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream) DO "
        "UPDATE SET version = excluded.version, "
        "last_position = excluded.last_position, "
        "updated_ns = excluded.updated_ns";
static const char sql_copy_events[] =
        "COPY events (position, stream, version, id, id_given, type, data, "
        "metadata, tags, time_ns, commit_rest) FROM STDIN (FORMAT binary)";
static const char sql_tags_index[] =
        "INSERT INTO event_tags (tag, position) SELECT DISTINCT t, position "
        "FROM events, unnest(tags) t WHERE position BETWEEN $1 AND $2 "
        "ON CONFLICT DO NOTHING";
static const char sql_id_lookup[] =
        "SELECT e.position, e.version, e.stream, s.version FROM events e "
        "JOIN streams s ON s.stream = e.stream WHERE e.id = $1 AND "
        "e.id_given";
static const char sql_event_stream[] =
        "SELECT stream FROM events WHERE position = $1";
/* The DCB condition, per query item: through the first tag's index
 * entries; through the type index; or any event. */
static const char sql_cond_tag[] =
        "SELECT t.position FROM event_tags t JOIN events e ON "
        "e.position = t.position WHERE t.tag = $1 AND t.position > $2 AND "
        "t.position < $3 AND e.tags @> $4::text[] AND "
        "($5::text[] IS NULL OR e.type = ANY ($5::text[])) "
        "ORDER BY t.position LIMIT 1";
static const char sql_cond_type[] =
        "SELECT min(position) FROM events WHERE type = ANY ($1::text[]) "
        "AND position > $2";
static const char sql_cond_any[] =
        "SELECT min(position) FROM events WHERE position > $1";
static const char sql_head[] = "SELECT coalesce(max(position), 0) FROM events";
static const char sql_stream_version[] =
        "SELECT version FROM streams WHERE stream = $1";
static const char sql_stats[] =
        "SELECT (SELECT coalesce(max(position), 0) FROM events), "
        "(SELECT count(*) FROM streams), "
        "(SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c "
        "WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind = 'r')";
/* A page of streams from a key on; the lister stops at the first one
 * without the prefix (ids sharing a prefix are contiguous in byte
 * order), so a page costs O(log n + limit) whatever the prefix. */
static const char sql_list[] =
        "SELECT stream, version, last_position, created_ns, updated_ns "
        "FROM streams WHERE stream > $1 ORDER BY stream LIMIT $2";
static const char sql_list_from[] =
        "SELECT stream, version, last_position, created_ns, updated_ns "
        "FROM streams WHERE stream >= $1 ORDER BY stream LIMIT $2";
static const char sql_snap_put[] =
        "INSERT INTO snapshots (stream, schema, version, state, saved_ns) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream, schema) DO UPDATE "
        "SET version = excluded.version, state = excluded.state, "
        "saved_ns = excluded.saved_ns "
        "WHERE excluded.version >= snapshots.version";
static const char sql_snap_get[] =
        "SELECT version, state FROM snapshots WHERE stream = $1 AND "
        "schema = $2";
static const char sql_cursor_get[] =
        "SELECT position, updated_ns FROM cursors WHERE name = $1";
static const char sql_cursor_set[] =
        "INSERT INTO cursors (name, position, updated_ns) VALUES ($1, $2, "
        "$3) ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
        "updated_ns = excluded.updated_ns";
static const char sql_cursor_create[] =
        "INSERT INTO cursors (name, position, updated_ns) VALUES ($1, $2, "
        "$3) ON CONFLICT (name) DO NOTHING";
static const char sql_cursor_cas[] =
        "UPDATE cursors SET position = $2, updated_ns = $3 WHERE name = $1 "
        "AND position = $4";
static const char sql_cursor_delete[] = "DELETE FROM cursors WHERE name = $1";
static const char sql_cursor_next[] =
        "SELECT name, position, updated_ns FROM cursors WHERE name > $1 "
        "ORDER BY name LIMIT 1";

/* ---- the engine ---- */

typedef struct pg_conn {
	PGconn *db;
	struct pg_conn *next; /* in the idle list */
	/* taken from the idle list by pool_get() and nothing run on it yet
	 * in this call: its first statement may be retried once on a new
	 * connection (pool_exec()) */
	bool reused;
} pg_conn;

struct cairn__backend {
	pg_conninfo ci;
	bool read_only;
	bool relaxed; /* CAIRN_RELAXED: synchronous_commit off */
	cairn__group group;
	bool group_ready;
	cairn__notify *notify;
	char schema[PG_SCHEMA_MAX + 1]; /* current_schema(): NOTIFY payload */

	pthread_mutex_t pool_mutex;
	pthread_cond_t pool_cond;
	pg_conn *idle;
	unsigned nopen; /* connections in use or idle */

	/* the listener */
	pthread_t listener;
	bool listening;
	int wake[2]; /* a pipe: written to stop the listener */
};

/* Text parameters of one statement (binary where fmt says so). */
typedef struct pg_params {
	const char *val[PG_PARAMS_MAX];
	int len[PG_PARAMS_MAX];
	int fmt[PG_PARAMS_MAX];
	char num[PG_PARAMS_MAX][PG_NUM_LEN];
	int n;
} pg_params;

/* An event decoded from a row of a binary result, tags into buf. */
typedef struct pg_decoder {
	cairn_event ev;
	const char *tags[CAIRN_TAGS_MAX];
	char *buf;
	size_t cap;
} pg_decoder;

/* ---- errors ---- */

/* The SQLSTATE as an int, as PostgreSQL's MAKE_SQLSTATE packs it. */
static int
sqlstate_code(const char *s)
{
	int code = 0, i;

	if (s == NULL || strlen(s) != 5)
		return 0;
	for (i = 0; i < 5; i++)
		code += ((s[i] - '0') & 0x3f) << (6 * i);
	return code;
}

/* The one place SQLSTATEs become cairn statuses (NULL: no SQLSTATE, a
 * connection that failed). */
static cairn_status
pg_map(const char *state)
{
	if (state == NULL)
		return CAIRN_IO;
	if (strcmp(state, "53200") == 0) /* out_of_memory */
		return CAIRN_NOMEM;
	if (strcmp(state, "54000") == 0 || /* program_limit_exceeded */
	    strcmp(state, "22001") == 0)   /* string_data_right_truncation */
		return CAIRN_TOO_LARGE;
	if (strcmp(state, "57014") == 0) /* query_canceled */
		return CAIRN_TIMEOUT;
	/* numeric_value_out_of_range: every number this engine binds is a
	 * caller's (a position, version or bound) and every column it reads
	 * is a bigint the engine wrote, so it is an argument beyond
	 * PostgreSQL's bigint (above 2^63 - 1), not damaged data */
	if (strcmp(state, "22003") == 0)
		return CAIRN_INVALID;
	if (strncmp(state, "23", 2) == 0 || /* integrity constraints */
	    strncmp(state, "42", 2) == 0 || /* the schema is not ours */
	    strncmp(state, "22", 2) == 0)   /* data exceptions */
		return CAIRN_CORRUPT;
	return CAIRN_IO; /* connections, resources, serialisation, ... */
}

/* The message of r (or of the connection), without its newline. */
static void
pg_text(PGconn *db, const PGresult *r, char *buf, size_t len)
{
	const char *m = r ? PQresultErrorMessage(r) : "";
	size_t n;

	if (m == NULL || m[0] == '\0')
		m = db ? PQerrorMessage(db) : "no connection";
	if (m == NULL || m[0] == '\0')
		m = "unknown error";
	snprintf(buf, len, "%s", m);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

/* Record the failure of a statement while doing what: status, native
 * code and sentence, for the calling thread (req NULL) or in req. */
static cairn_status
pg_fail(cairn__append_req *req, PGconn *db, const PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char msg[400];
	cairn_status st = pg_map(state);

	pg_text(db, r, msg, sizeof(msg));
	if (req != NULL)
		return cairn__req_error(req, st, sqlstate_code(state),
		                        "postgres: %s: %s%s%s%s", what, msg,
		                        state ? " (SQLSTATE " : "",
		                        state ? state : "", state ? ")" : "");
	return cairn__error(st, sqlstate_code(state), "postgres: %s: %s%s%s%s",
	                    what, msg, state ? " (SQLSTATE " : "",
	                    state ? state : "", state ? ")" : "");
}

/* ---- values ---- */

static void
par_text(pg_params *p, const char *s, size_t len)
{
	p->val[p->n] = s;
	p->len[p->n] = (int)len;
	p->fmt[p->n] = 0;
	p->n++;
}

/* A text value that must be NUL-terminated for libpq: copied when it
 * is not (stream ids arrive with a length). */
static void
par_str(pg_params *p, const char *s)
{
	par_text(p, s, strlen(s));
}

static void
par_bin(pg_params *p, const void *s, size_t len)
{
	static const char empty[1];

	p->val[p->n] = len ? s : empty;
	p->len[p->n] = (int)len;
	p->fmt[p->n] = 1;
	p->n++;
}

static void
par_u64(pg_params *p, uint64_t v)
{
	snprintf(p->num[p->n], PG_NUM_LEN, "%llu", (unsigned long long)v);
	par_text(p, p->num[p->n], strlen(p->num[p->n]));
}

static void
par_i64(pg_params *p, int64_t v)
{
	snprintf(p->num[p->n], PG_NUM_LEN, "%lld", (long long)v);
	par_text(p, p->num[p->n], strlen(p->num[p->n]));
}

static void
par_null(pg_params *p)
{
	p->val[p->n] = NULL;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

/* Run sql with p's parameters; rows in binary when binary. */
static PGresult *
pg_run(PGconn *db, const char *sql, const pg_params *p, bool binary)
{
	return PQexecParams(db, sql, p ? p->n : 0, NULL, p ? p->val : NULL,
	                    p ? p->len : NULL, p ? p->fmt : NULL, binary);
}

static bool
res_ok(const PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);

	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* A text-format column as a number. */
static uint64_t
col_u64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col)
	               ? 0
	               : strtoull(PQgetvalue(r, row, col), NULL, 10);
}

static int64_t
col_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col)
	               ? 0
	               : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static uint64_t
be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* A binary-format bigint column. */
static uint64_t
bin_u64(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
		return 0;
	return be64((const unsigned char *)PQgetvalue(r, row, col));
}

/*
 * Tags as a text[] array literal ({"a","b\"c"}) into *out (malloc'd;
 * NULL with no tags).  Returns false when out of memory.
 */
static bool
array_literal(const char *const *items, size_t n, char **out)
{
	size_t need = 3, i, o = 0;
	const char *t;
	char *s;

	*out = NULL;
	if (n == 0)
		return true;
	for (i = 0; i < n; i++)
		need += 2 * strlen(items[i]) + 3;
	s = cairn__malloc(need);
	if (s == NULL)
		return false;
	s[o++] = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			s[o++] = ',';
		s[o++] = '"';
		for (t = items[i]; *t; t++) {
			if (*t == '"' || *t == '\\')
				s[o++] = '\\';
			s[o++] = *t;
		}
		s[o++] = '"';
	}
	s[o++] = '}';
	s[o] = '\0';
	*out = s;
	return true;
}

static bool
decoder_reserve(pg_decoder *d, size_t len)
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

/* The binary text[] of the tags column (one dimension, no NULLs) into
 * d's buffer, NUL-terminated strings. */
static cairn_status
parse_tags(pg_decoder *d, const unsigned char *p, size_t len)
{
	size_t o = 0, n, i, el;

	if (!decoder_reserve(d, len + 1))
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	d->ev.ntags = 0;
	if (len >= 12 && be32(p) == 0)
		return CAIRN_OK; /* an empty array */
	if (len < 20 || be32(p) != 1 || be32(p + 4) != 0)
		goto bad;
	n = be32(p + 12);
	if (n > CAIRN_TAGS_MAX)
		goto bad;
	p += 20;
	len -= 20;
	for (i = 0; i < n; i++) {
		if (len < 4)
			goto bad;
		el = be32(p);
		if (el > len - 4)
			goto bad;
		memcpy(d->buf + o, p + 4, el);
		d->buf[o + el] = '\0';
		d->tags[i] = d->buf + o;
		o += el + 1;
		p += 4 + el;
		len -= 4 + el;
	}
	d->ev.ntags = n;
	return CAIRN_OK;
bad:
	return cairn__error(CAIRN_CORRUPT, 0,
	                    "postgres: the tags of the event at position %llu "
	                    "are not a one-dimensional array of text",
	                    (unsigned long long)d->ev.position);
}

/*
 * Decode row of a binary result whose columns from col on are
 * EVENT_COLS.  The event borrows r's memory (libpq ends every value
 * with a NUL byte, so the text columns are C strings).
 */
static cairn_status
decode_row(const PGresult *r, int row, int col, pg_decoder *d)
{
	cairn_event *ev = &d->ev;
	int i;

	for (i = 0; i < 10; i++)
		if (i != 7 && PQgetisnull(r, row, col + i))
			goto bad;
	ev->position = bin_u64(r, row, col);
	ev->stream = PQgetvalue(r, row, col + 1);
	ev->stream_len = (size_t)PQgetlength(r, row, col + 1);
	ev->version = bin_u64(r, row, col + 2);
	if (PQgetlength(r, row, col + 3) != 16 || ev->stream_len == 0)
		goto bad;
	memcpy(ev->id.bytes, PQgetvalue(r, row, col + 3), 16);
	ev->type = PQgetvalue(r, row, col + 4);
	ev->type_len = (size_t)PQgetlength(r, row, col + 4);
	ev->data = PQgetvalue(r, row, col + 5);
	ev->data_len = (size_t)PQgetlength(r, row, col + 5);
	ev->metadata = PQgetvalue(r, row, col + 6);
	ev->metadata_len = (size_t)PQgetlength(r, row, col + 6);
	ev->time_ns = (int64_t)bin_u64(r, row, col + 8);
	if (PQgetlength(r, row, col + 9) != 4 || ev->type_len == 0)
		goto bad;
	ev->commit_rest =
	        be32((const unsigned char *)PQgetvalue(r, row, col + 9));
	ev->tags = d->tags;
	ev->ntags = 0;
	if (!PQgetisnull(r, row, col + 7))
		return parse_tags(
		        d, (const unsigned char *)PQgetvalue(r, row, col + 7),
		        (size_t)PQgetlength(r, row, col + 7));
	return CAIRN_OK;
bad:
	return cairn__error(CAIRN_CORRUPT, 0,
	                    "postgres: the event at position %llu has a "
	                    "malformed column",
	                    (unsigned long long)ev->position);
}

/* ---- connections ---- */

/* Notices (CREATE ... IF NOT EXISTS) are not the caller's business. */
static void
quiet(void *arg, const PGresult *r)
{
	(void)arg;
	(void)r;
}

/*
 * TCP keepalives of the listener's connection.  The listener only waits
 * for the server to speak, so a network path that dies silently (a
 * crashed host, a dropped NAT or firewall entry: no FIN, no RST) would
 * go unnoticed for the kernel's default of 2 hours and more, and the
 * store would hear of no other process's commit meanwhile.  With these
 * the kernel probes after 30 s of silence, every 10 s, and gives up
 * after 3 unanswered probes: a dead path is noticed within about 60 s,
 * and the listener reconnects.  The connection string's own settings
 * come later and win (docs/schema-postgres.md).
 */
static const char *const listener_keys[] = {
        "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "dbname", NULL};
#define PG_LISTENER_KEEPALIVES "1", "30", "10", "3"

/* Run one setting statement on a new connection; on failure record the
 * error (doing what), close the connection and return false. */
static bool
conn_set(PGconn *db, const char *sql, pg_params *p, const char *what)
{
	PGresult *r = pg_run(db, sql, p, false);

	if (res_ok(r)) {
		PQclear(r);
		return true;
	}
	pg_fail(NULL, db, r, what);
	PQclear(r);
	PQfinish(db);
	return false;
}

/*
 * A new connection, its search_path set to the store's schema (a name
 * schema_ok() admitted, passed as a parameter); for the listener, with
 * TCP keepalives.  CAIRN_OK or CAIRN_IO with libpq's sentence.
 */
static cairn_status
conn_open(cairn__backend *be, bool listener, PGconn **out)
{
	const char *const listener_vals[] = {PG_LISTENER_KEEPALIVES,
	                                     be->ci.conninfo, NULL};
	pg_params p = {.n = 0};
	PGconn *db;
	char msg[400];

	*out = NULL;
	/* the connection string is expanded in dbname's place (a URI or
	 * key=value pairs), after the keepalives */
	db = listener ? PQconnectdbParams(listener_keys, listener_vals, 1)
	              : PQconnectdb(be->ci.conninfo);
	if (db == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (PQstatus(db) != CONNECTION_OK) {
		pg_text(db, NULL, msg, sizeof(msg));
		PQfinish(db);
		return cairn__error(CAIRN_IO, 0, "postgres: cannot connect: %s",
		                    msg);
	}
	PQsetNoticeReceiver(db, quiet, NULL);
	if (be->ci.schema[0] != '\0') {
		par_str(&p, be->ci.schema);
		if (!conn_set(db, "SELECT set_config('search_path', $1, false)",
		              &p, "setting the schema"))
			return CAIRN_IO;
	}
	/* An append is acknowledged when the server answers COMMIT, so its
	 * durability is the server's synchronous_commit: a role, database
	 * or server default of 'off' would silently make a durable store
	 * lose acknowledged appends in a server crash (tests/postgres/
	 * test_disk_full.c shows it).  Durable: 'off' is raised to 'on';
	 * any other value ('local', 'remote_write', 'on', 'remote_apply')
	 * already flushes the local WAL before COMMIT returns and is kept,
	 * so a stricter replication setting is not weakened.  Relaxed:
	 * 'off', which loses at most the last few hundred milliseconds of
	 * commits in a server crash and never breaks consistency. */
	if (!listener) {
		p.n = 0;
		par_str(&p, be->relaxed ? "t" : "f");
		if (!conn_set(db,
		              "SELECT set_config('synchronous_commit', CASE "
		              "WHEN $1::boolean THEN 'off' "
		              "WHEN current_setting('synchronous_commit') = "
		              "'off' THEN 'on' "
		              "ELSE current_setting('synchronous_commit') END, "
		              "false)",
		              &p, "setting synchronous_commit"))
			return CAIRN_IO;
	}
	*out = db;
	return CAIRN_OK;
}

/*
 * Whether an idle connection still looks alive, without a round trip.
 * PQstatus() says CONNECTION_OK for a connection the server has already
 * dropped (a restart, pg_terminate_backend(), a failover) until libpq
 * next reads from it.  An idle connection has nothing to read; when its
 * socket is readable the server sent something meanwhile: a notice, a
 * parameter change, or its last words (a FATAL error, which libpq hands
 * to the notice receiver, then the end of the stream, which makes the
 * connection CONNECTION_BAD).  So read what is there.  This catches the
 * common case before anything is sent; a connection that dies after
 * this check is left to pool_exec()'s retry.
 */
static bool
conn_alive(PGconn *db)
{
	struct pollfd pfd;
	int i;

	for (i = 0; i < 8; i++) {
		if (PQstatus(db) != CONNECTION_OK || PQsocket(db) < 0)
			return false;
		pfd.fd = PQsocket(db);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) <= 0)
			return true; /* nothing waiting (or poll failed: the
			              * statement will tell) */
		if (!PQconsumeInput(db))
			return false;
	}
	return PQstatus(db) == CONNECTION_OK;
}

/*
 * A connection of the pool: an idle one, a new one while fewer than
 * pool_size are open, or else the next one given back.  A connection
 * found broken (conn_alive()) is replaced.  One taken from the idle
 * list is marked reused, for pool_exec().
 */
static cairn_status
pool_get(cairn__backend *be, pg_conn **out)
{
	pg_conn *c = NULL;
	cairn_status st;

	pthread_mutex_lock(&be->pool_mutex);
	while (be->idle == NULL && be->nopen >= be->ci.pool_size)
		pthread_cond_wait(&be->pool_cond, &be->pool_mutex);
	if (be->idle != NULL) {
		c = be->idle;
		be->idle = c->next;
	} else {
		be->nopen++;
	}
	pthread_mutex_unlock(&be->pool_mutex);
	if (c != NULL && (cairn__pg_skip_idle_check
	                          ? PQstatus(c->db) == CONNECTION_OK
	                          : conn_alive(c->db))) {
		c->reused = true;
		*out = c;
		return CAIRN_OK;
	}
	if (c == NULL) {
		c = cairn__calloc(1, sizeof(*c));
		if (c == NULL) {
			st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
			goto fail;
		}
	} else {
		PQfinish(c->db);
		c->db = NULL;
	}
	st = conn_open(be, false, &c->db);
	if (st != CAIRN_OK)
		goto fail;
	c->reused = false;
	*out = c;
	return CAIRN_OK;
fail:
	cairn__free(c);
	pthread_mutex_lock(&be->pool_mutex);
	be->nopen--;
	pthread_cond_signal(&be->pool_cond);
	pthread_mutex_unlock(&be->pool_mutex);
	return st;
}

/* Give a connection back.  One left inside a transaction (an error
 * path) is rolled back; a broken one is closed. */
static void
pool_put(cairn__backend *be, pg_conn *c)
{
	if (c == NULL)
		return;
	if (PQstatus(c->db) == CONNECTION_OK &&
	    PQtransactionStatus(c->db) != PQTRANS_IDLE)
		PQclear(PQexec(c->db, "ROLLBACK"));
	pthread_mutex_lock(&be->pool_mutex);
	if (PQstatus(c->db) == CONNECTION_OK) {
		c->next = be->idle;
		be->idle = c;
		c = NULL;
	} else {
		be->nopen--;
	}
	pthread_cond_signal(&be->pool_cond);
	pthread_mutex_unlock(&be->pool_mutex);
	if (c != NULL) {
		PQfinish(c->db);
		cairn__free(c);
	}
}

/*
 * Run the FIRST statement of a call on c (PQexec() when it has neither
 * parameters nor binary rows, so it may be several statements, like
 * sql_begin_lock_head).  When it fails because the connection is gone
 * (CONNECTION_BAD afterwards) and c came from the idle list (a server
 * restart or failover since it was last used), connect anew and run it
 * once more: the call has done nothing yet, and the statement is never
 * a COMMIT, so the retry cannot repeat anything, even for an append
 * (its first statement only begins the transaction and takes the head
 * lock).  Only for statements that are safe to run twice: reads, BEGIN,
 * idempotent upserts; a lost COMMIT keeps its unknown outcome (commit()).
 * When the new connection cannot be made the first failure is returned,
 * c->db then NULL (pool_put() drops it).
 */
static PGresult *
pool_exec(cairn__backend *be, pg_conn *c, const char *sql, const pg_params *p,
          bool binary)
{
	bool reused = c->reused;
	PGresult *r;
	int tries;

	c->reused = false;
	for (tries = 0;; tries++) {
		r = p != NULL || binary ? pg_run(c->db, sql, p, binary)
		                        : PQexec(c->db, sql);
		if (tries > 0 || !reused || res_ok(r) ||
		    PQstatus(c->db) != CONNECTION_BAD)
			return r;
		PQfinish(c->db);
		c->db = NULL;
		if (conn_open(be, false, &c->db) != CAIRN_OK)
			return r;
		PQclear(r);
	}
}

/* Run a statement without parameters that returns no rows. */
static cairn_status
conn_exec(cairn__append_req *req, PGconn *db, const char *sql, const char *what)
{
	PGresult *r = PQexec(db, sql);
	cairn_status st = CAIRN_OK;

	if (!res_ok(r))
		st = pg_fail(req, db, r, what);
	PQclear(r);
	return st;
}

/* ---- appends ---- */

/* The state of one batch's transaction. */
typedef struct batch_state {
	PGconn *db;
	uint64_t next_position;
	int64_t now;
	unsigned char *buf; /* COPY scratch */
	size_t cap;
} batch_state;

typedef struct lookup_ctx {
	PGconn *db;
	PGresult *last; /* the row loc points into, kept until the next */
	PGresult *keep[2];
	unsigned nkeep;
} lookup_ctx;

/* The lookup of cairn__idempotency_check(): where id is committed.  The
 * stream name points into a result kept until the check is over. */
static cairn_status
lookup_id(void *ctx, const cairn_uuid *id, cairn__id_location *loc)
{
	lookup_ctx *lc = ctx;
	pg_params p = {.n = 0};
	PGresult *r;

	par_bin(&p, id->bytes, 16);
	r = pg_run(lc->db, sql_id_lookup, &p, false);
	if (!res_ok(r)) {
		cairn_status st =
		        pg_fail(NULL, lc->db, r, "looking up an event id");
		PQclear(r);
		return st;
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		return CAIRN_NOT_FOUND;
	}
	loc->position = col_u64(r, 0, 0);
	loc->version = col_u64(r, 0, 1);
	loc->stream = PQgetvalue(r, 0, 2);
	loc->stream_len = (size_t)PQgetlength(r, 0, 2);
	loc->stream_version = col_u64(r, 0, 3);
	/* the check compares each id's location with the first one's:
	 * keep the first result and the newest */
	if (lc->nkeep < 1) {
		lc->keep[lc->nkeep++] = r;
	} else {
		PQclear(lc->last);
		lc->last = r;
	}
	return CAIRN_OK;
}

/* The first position after `after` and below `below` that item matches
 * (0: none), lowering *first. */
static cairn_status
cond_item(PGconn *db, const cairn_query_item *item, uint64_t after,
          uint64_t *first)
{
	pg_params p = {.n = 0};
	char *tags = NULL, *types = NULL;
	cairn_status st = CAIRN_OK;
	PGresult *r = NULL;
	uint64_t pos;

	if (!array_literal(item->tags, item->ntags, &tags) ||
	    !array_literal(item->types, item->ntypes, &types)) {
		st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		goto out;
	}
	if (item->ntags > 0) {
		par_str(&p, item->tags[0]);
		par_u64(&p, after);
		par_u64(&p, *first ? *first : UINT64_MAX >> 1);
		par_str(&p, tags);
		if (types)
			par_str(&p, types);
		else
			par_null(&p);
		r = pg_run(db, sql_cond_tag, &p, false);
	} else if (item->ntypes > 0) {
		par_str(&p, types);
		par_u64(&p, after);
		r = pg_run(db, sql_cond_type, &p, false);
	} else {
		par_u64(&p, after);
		r = pg_run(db, sql_cond_any, &p, false);
	}
	if (!res_ok(r)) {
		st = pg_fail(NULL, db, r, "checking a condition");
		goto out;
	}
	pos = PQntuples(r) > 0 ? col_u64(r, 0, 0) : 0;
	if (pos != 0 && (*first == 0 || pos < *first))
		*first = pos;
out:
	PQclear(r);
	cairn__free(tags);
	cairn__free(types);
	return st;
}

/*
 * The DCB condition of req, in the batch's transaction (under the head
 * lock, so no other writer can add a match meanwhile; the requests
 * before it in the batch count).  Fails req through
 * cairn__condition_failed() at the first match after condition_after.
 */
static cairn_status
check_condition(batch_state *bs, cairn__append_req *req)
{
	const cairn_query *q = req->condition;
	uint64_t first = 0;
	cairn_status st = CAIRN_OK;
	pg_params p = {.n = 0};
	PGresult *r;
	size_t i;

	if (req->condition_after + 1 >= bs->next_position || q->nitems == 0)
		return CAIRN_OK;
	for (i = 0; st == CAIRN_OK && i < q->nitems; i++) {
		st = cond_item(bs->db, &q->items[i], req->condition_after,
		               &first);
		if (first == req->condition_after + 1)
			break; /* nothing can come first */
	}
	if (st != CAIRN_OK || first == 0)
		return st;
	par_u64(&p, first);
	r = pg_run(bs->db, sql_event_stream, &p, false);
	if (!res_ok(r) || PQntuples(r) != 1) {
		st = pg_fail(NULL, bs->db, r, "checking a condition");
	} else {
		cairn__condition_failed(req, first, PQgetvalue(r, 0, 0),
		                        (size_t)PQgetlength(r, 0, 0));
	}
	PQclear(r);
	return st;
}

/* A stream's version and creation time in the batch's transaction. */
static cairn_status
get_stream(batch_state *bs, const cairn__write *w, uint64_t *version,
           int64_t *created)
{
	pg_params p = {.n = 0};
	cairn_status st = CAIRN_OK;
	PGresult *r;

	par_text(&p, w->stream, w->stream_len);
	r = pg_run(bs->db, sql_stream_get, &p, false);
	if (!res_ok(r)) {
		st = pg_fail(NULL, bs->db, r, "reading a stream's version");
	} else if (PQntuples(r) == 1) {
		*version = col_u64(r, 0, 0);
		*created = col_i64(r, 0, 1);
	} else {
		*version = 0;
		*created = 0;
	}
	PQclear(r);
	return st;
}

/* Room for len more bytes in the COPY scratch at *o. */
static bool
buf_room(batch_state *bs, size_t o, size_t len)
{
	unsigned char *p;
	size_t cap = bs->cap ? bs->cap : 4096;

	if (o + len <= bs->cap)
		return true;
	while (cap < o + len)
		cap *= 2;
	p = cairn__realloc(bs->buf, cap);
	if (p == NULL)
		return false;
	bs->buf = p;
	bs->cap = cap;
	return true;
}

static size_t
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

static size_t
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
	return 8;
}

/* One field of a binary COPY tuple: its length, then its bytes. */
static size_t
put_field(unsigned char *p, const void *v, size_t len)
{
	put32(p, (uint32_t)len);
	if (len)
		memcpy(p + 4, v, len);
	return 4 + len;
}

/*
 * One event as a binary COPY tuple (PostgreSQL's send formats: bigint
 * and integer big-endian, uuid 16 bytes, text and bytea raw, text[] as
 * array_send writes it) into the scratch.  *len receives its size.
 */
static bool
copy_tuple(batch_state *bs, const cairn__write *w, size_t k, uint64_t version,
           uint64_t pos, uint32_t rest, size_t *len)
{
	const cairn_new_event *ne = &w->events[k];
	size_t need = 2 + 11 * 4 + 8 * 4 + 16 + 1 + 4 + w->stream_len +
	              strlen(ne->type) + ne->data_len + ne->metadata_len + 20;
	size_t o = 0, i, tl;
	unsigned char *p, one = ne->id != NULL;

	for (i = 0; i < ne->ntags; i++)
		need += 4 + strlen(ne->tags[i]);
	if (!buf_room(bs, 0, need))
		return false;
	p = bs->buf;
	p[o++] = 0;
	p[o++] = 11;
	o += put32(p + o, 8);
	o += put64(p + o, pos);
	o += put_field(p + o, w->stream, w->stream_len);
	o += put32(p + o, 8);
	o += put64(p + o, version);
	o += put_field(p + o, w->ids[k].bytes, 16);
	o += put_field(p + o, &one, 1);
	o += put_field(p + o, ne->type, strlen(ne->type));
	o += put_field(p + o, ne->data, ne->data_len);
	o += put_field(p + o, ne->metadata, ne->metadata_len);
	if (ne->ntags == 0) {
		o += put32(p + o, UINT32_MAX); /* NULL */
	} else {
		size_t at = o;

		o += 4;
		o += put32(p + o, 1);  /* dimensions */
		o += put32(p + o, 0);  /* no NULLs */
		o += put32(p + o, 25); /* text */
		o += put32(p + o, (uint32_t)ne->ntags);
		o += put32(p + o, 1); /* lower bound */
		for (i = 0; i < ne->ntags; i++) {
			tl = strlen(ne->tags[i]);
			o += put_field(p + o, ne->tags[i], tl);
		}
		put32(p + at, (uint32_t)(o - at - 4));
	}
	o += put32(p + o, 8);
	o += put64(p + o, (uint64_t)bs->now);
	o += put32(p + o, 4);
	o += put32(p + o, rest);
	*len = o;
	return true;
}

/* COPY header and trailer of the binary format. */
static const unsigned char copy_header[19] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                              '\n', 0xff, '\r', '\n', 0};
static const unsigned char copy_trailer[2] = {0xff, 0xff};

/*
 * Insert req's events at bs->next_position on with one binary COPY, then
 * their tag index entries with one statement.  The whole request's
 * events go in order of its writes; versions continue each stream's.
 */
static cairn_status
insert_events(batch_state *bs, cairn__append_req *req, const uint64_t *vers)
{
	uint64_t pos = bs->next_position, last = pos + req->nevents - 1;
	cairn_status st = CAIRN_OK;
	bool tagged = false;
	pg_params p = {.n = 0};
	PGresult *r;
	size_t wi, k, len;
	int ok = 1;

	r = PQexec(bs->db, sql_copy_events);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		st = pg_fail(NULL, bs->db, r, "inserting events");
		PQclear(r);
		return st;
	}
	PQclear(r);
	ok = PQputCopyData(bs->db, (const char *)copy_header,
	                   sizeof(copy_header));
	for (wi = 0; ok == 1 && wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];

		for (k = 0; ok == 1 && k < w->nevents; k++, pos++) {
			if (!copy_tuple(bs, w, k, vers[wi] + k + 1, pos,
			                (uint32_t)(last - pos), &len)) {
				PQputCopyEnd(bs->db, "out of memory");
				PQclear(PQgetResult(bs->db));
				return cairn__error(CAIRN_NOMEM, 0,
				                    "out of memory");
			}
			ok = PQputCopyData(bs->db, (const char *)bs->buf,
			                   (int)len);
			tagged = tagged || w->events[k].ntags > 0;
		}
	}
	if (ok == 1)
		ok = PQputCopyData(bs->db, (const char *)copy_trailer, 2);
	if (ok == 1)
		ok = PQputCopyEnd(bs->db, NULL);
	r = PQgetResult(bs->db);
	if (ok != 1 || !res_ok(r))
		st = pg_fail(NULL, bs->db, r, "inserting events");
	while (r != NULL) {
		PQclear(r);
		r = PQgetResult(bs->db);
	}
	if (st != CAIRN_OK || !tagged)
		return st;
	par_u64(&p, bs->next_position);
	par_u64(&p, last);
	r = pg_run(bs->db, sql_tags_index, &p, false);
	if (!res_ok(r))
		st = pg_fail(NULL, bs->db, r, "indexing tags");
	PQclear(r);
	return st;
}

/* Update the streams rows of req's writes (vers: versions before). */
static cairn_status
put_streams(batch_state *bs, cairn__append_req *req, const uint64_t *vers,
            const int64_t *created)
{
	uint64_t pos = bs->next_position;
	cairn_status st = CAIRN_OK;
	PGresult *r;
	size_t wi;

	for (wi = 0; st == CAIRN_OK && wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];
		pg_params p = {.n = 0};

		if (w->nevents == 0)
			continue;
		pos += w->nevents;
		par_text(&p, w->stream, w->stream_len);
		par_u64(&p, vers[wi] + w->nevents);
		par_u64(&p, pos - 1);
		/* an existing row keeps its created_ns */
		par_i64(&p, created[wi] ? created[wi] : bs->now);
		par_i64(&p, bs->now);
		r = pg_run(bs->db, sql_stream_put, &p, false);
		if (!res_ok(r))
			st = pg_fail(NULL, bs->db, r, "updating a stream");
		PQclear(r);
	}
	return st;
}

/* Per-write state of one request, on the stack when few. */
#define STACK_WRITES 16

/*
 * Apply one request inside the batch's transaction.  Every check that can
 * refuse it (repeat, condition, conflict) comes before its first write,
 * so a refused request writes nothing.  Returns CAIRN_OK with the outcome
 * in req->status, or the error of a failed statement (recorded for the
 * calling thread), after which the request must be rolled back.
 */
static cairn_status
apply_request(batch_state *bs, cairn__append_req *req)
{
	uint64_t vstack[STACK_WRITES], *vers = vstack;
	int64_t cstack[STACK_WRITES], *created = cstack;
	cairn_append_result *res = req->result;
	lookup_ctx lc = {bs->db, NULL, {NULL, NULL}, 0};
	cairn_status st;
	size_t wi;

	st = cairn__idempotency_check(req, lookup_id, &lc);
	PQclear(lc.last);
	if (lc.nkeep)
		PQclear(lc.keep[0]);
	if (st != CAIRN_DONE) {
		if (st != CAIRN_OK && st != CAIRN_CONFLICT)
			return st;
		req->status = st; /* the check wrote the message */
		return CAIRN_OK;
	}
	if (req->condition) {
		st = check_condition(bs, req);
		if (st != CAIRN_OK)
			return st;
		if (req->status != CAIRN_OK)
			return CAIRN_OK;
	}
	if (req->nwrites > STACK_WRITES) {
		vers = cairn__malloc(req->nwrites * sizeof(*vers));
		created = cairn__malloc(req->nwrites * sizeof(*created));
		if (vers == NULL || created == NULL) {
			st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
			goto out;
		}
	}
	for (wi = 0; wi < req->nwrites; wi++) {
		const cairn__write *w = &req->writes[wi];

		st = get_stream(bs, w, &vers[wi], &created[wi]);
		if (st != CAIRN_OK)
			goto out;
		if (!cairn__expected_ok(w->expected, vers[wi])) {
			req->status = cairn__conflict(res, wi, w, vers[wi]);
			cairn__req_error(req, CAIRN_CONFLICT, 0, "%s",
			                 cairn_last_error());
			goto out;
		}
	}
	if (req->nevents > 0) {
		st = insert_events(bs, req, vers);
		if (st == CAIRN_OK)
			st = put_streams(bs, req, vers, created);
		if (st != CAIRN_OK)
			goto out;
	}
	res->first_position = req->nevents ? bs->next_position : 0;
	res->last_position =
	        req->nevents ? bs->next_position + req->nevents - 1 : 0;
	res->version = vers[0] + req->writes[0].nevents;
	res->idempotent = 0;
	bs->next_position += req->nevents;
	req->status = CAIRN_OK;
out:
	if (vers != vstack)
		cairn__free(vers);
	if (created != cstack)
		cairn__free(created);
	return st;
}

/*
 * Apply reqs[i], under a savepoint of its own when the batch holds more
 * than one request, so that a request whose statement fails is undone
 * alone.  Returns CAIRN_OK, or the error of a failure that ended the
 * whole transaction (the connection is gone, say).
 */
static cairn_status
apply_one(batch_state *bs, cairn__append_req *req, bool savepoint)
{
	uint64_t next = bs->next_position;
	cairn_status st;

	req->status = CAIRN_OK;
	req->message[0] = '\0';
	memset(req->result, 0, sizeof(*req->result));
	if (savepoint && (st = conn_exec(req, bs->db, "SAVEPOINT request",
	                                 "appending")) != CAIRN_OK)
		return st;
	st = apply_request(bs, req);
	if (st == CAIRN_OK)
		return savepoint ? conn_exec(req, bs->db, "RELEASE request",
		                             "appending")
		                 : CAIRN_OK;
	cairn__req_error(req, st, cairn_last_error_native(), "%s",
	                 cairn_last_error());
	bs->next_position = next;
	if (!savepoint || PQstatus(bs->db) != CONNECTION_OK)
		return st;
	if (conn_exec(NULL, bs->db, "ROLLBACK TO request", "appending") !=
	            CAIRN_OK ||
	    conn_exec(NULL, bs->db, "RELEASE request", "appending") != CAIRN_OK)
		return st;
	return CAIRN_OK;
}

/* Fail every request of the batch that had not failed on its own. */
static void
fail_batch(cairn__append_req **reqs, size_t n, cairn_status st, const char *msg,
           int native)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (reqs[i]->status == CAIRN_OK)
			cairn__req_error(reqs[i], st, native, "%s", msg);
}

/*
 * COMMIT, and the one case whose outcome nobody knows: the connection
 * died after COMMIT was sent (or while sending it).  The server may have
 * committed or not; say so, so that the caller retries with the same
 * event ids (which cairn__idempotency_check() then recognises).
 */
static cairn_status
commit(PGconn *db, cairn__append_req **reqs, size_t n)
{
	const char *state;
	char msg[300];
	PGresult *r;

	if (cairn__pg_before_commit_hook)
		cairn__pg_before_commit_hook(cairn__pg_before_commit_ctx,
		                             PQbackendPID(db));
	if (cairn__pg_before_commit_sql != NULL)
		PQclear(PQexec(db, cairn__pg_before_commit_sql));
	r = PQexec(db, "COMMIT");
	if (PQresultStatus(r) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdStatus(r), "COMMIT") == 0) {
		PQclear(r);
		return CAIRN_OK;
	}
	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		/* COMMIT of a transaction that had failed: the server rolled
		 * it back ("ROLLBACK", no error); known not committed */
		fail_batch(reqs, n, CAIRN_IO,
		           "postgres: the transaction was rolled back at "
		           "COMMIT (a statement in it had failed): nothing "
		           "was appended",
		           0);
		PQclear(r);
		return CAIRN_IO;
	}
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	pg_text(db, r, msg, sizeof(msg));
	if (PQstatus(db) != CONNECTION_OK || state == NULL ||
	    strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) {
		fail_batch(reqs, n, CAIRN_IO,
		           "postgres: the connection was lost during COMMIT, "
		           "so the outcome of the append is unknown: it may or "
		           "may not have been committed; retry it with the "
		           "same event ids (a repeat of a committed append "
		           "writes nothing)",
		           sqlstate_code(state));
	} else {
		pg_fail(NULL, db, r, "committing");
		fail_batch(reqs, n, pg_map(state), cairn_last_error(),
		           sqlstate_code(state));
	}
	PQclear(r);
	return CAIRN_IO;
}

/*
 * The group-commit callback: one transaction for the whole batch.  It
 * takes the head lock first (see the top of this file), applies each
 * request on its own, moves head and queues the notification, and
 * commits once.  Waiters in this process are woken at once; others by
 * the notification.
 */
static void
commit_batch(void *ctx, cairn__append_req **reqs, size_t n)
{
	cairn__backend *be = ctx;
	batch_state bs = {0};
	pg_params p = {.n = 0};
	pg_conn *c = NULL;
	cairn_status st;
	PGresult *r = NULL;
	uint64_t head;
	bool wrote = false;
	size_t i;

	for (i = 0; i < n; i++)
		reqs[i]->status = CAIRN_OK;
	st = pool_get(be, &c);
	if (st != CAIRN_OK) {
		fail_batch(reqs, n, st, cairn_last_error(),
		           cairn_last_error_native());
		return;
	}
	/* BEGIN and the lock in one round trip (a simple query of two
	 * statements: PQexec() returns the last one's result); retried on
	 * a new connection when a pooled one turns out dead (pool_exec():
	 * nothing was done yet) */
	r = pool_exec(be, c, sql_begin_lock_head, NULL, false);
	bs.db = c->db;
	if (!res_ok(r))
		st = pg_fail(NULL, bs.db, r, "locking the head");
	else if (PQntuples(r) != 1)
		st = cairn__error(CAIRN_CORRUPT, 0,
		                  "postgres: the head table has no row");
	if (st != CAIRN_OK) {
		fail_batch(reqs, n, st, cairn_last_error(),
		           cairn_last_error_native());
		goto out;
	}
	head = col_u64(r, 0, 0);
	bs.now = col_i64(r, 0, 1);
	bs.next_position = head + 1;
	for (i = 0; i < n; i++) {
		st = apply_one(&bs, reqs[i], n > 1);
		if (st != CAIRN_OK) {
			fail_batch(reqs, n, st, reqs[i]->message,
			           reqs[i]->native);
			goto out;
		}
	}
	if (bs.next_position == head + 1)
		goto out; /* nothing to write: rolled back by pool_put() */
	par_u64(&p, bs.next_position - 1);
	PQclear(r);
	r = pg_run(bs.db, sql_head_move, &p, false);
	if (!res_ok(r)) {
		pg_fail(NULL, bs.db, r, "moving the head");
		fail_batch(reqs, n, CAIRN_IO, cairn_last_error(),
		           cairn_last_error_native());
		goto out;
	}
	wrote = commit(bs.db, reqs, n) == CAIRN_OK;
out:
	PQclear(r);
	cairn__free(bs.buf);
	pool_put(be, c);
	if (wrote)
		cairn__notify_bump(be->notify);
}

static cairn_status
pg_append(cairn__backend *be, cairn__append_req *req)
{
	if (be->read_only)
		return cairn__req_error(
		        req, CAIRN_UNSUPPORTED, 0,
		        "postgres: the store is open read-only");
	return cairn__group_submit(&be->group, req);
}

/* ---- reads ---- */

typedef struct pg_iter {
	cairn__iter base;
	cairn__backend *be;
	bool by_stream;
	bool backwards;
	bool done;
	uint64_t next; /* the next version or position; 0: none left */
	/* the most rows the caller can still take (its limit less the rows
	 * yielded), so no chunk fetches more; UINT64_MAX: no such bound
	 * (no limit, or a filtered read: see iter_new()) */
	uint64_t left;
	uint64_t start_head, done_head;
	PGresult *res; /* the current chunk */
	int row, nrows;
	char *sql; /* the chunk statement */
	/* parameters: $1 key, $2 rows, $3 bytes, $4.. the filter's */
	pg_params par;
	int npar;                   /* how many: 3 + the filter's */
	char *owned[PG_PARAMS_MAX]; /* filter values (malloc'd) */
	size_t nowned;
	pg_decoder dec;
	char stream[CAIRN_STREAM_ID_MAX + 1];
} pg_iter;

/*
 * Fetch the next chunk from it->next on (one statement, one snapshot):
 * the head and up to PG_CHUNK_ROWS events of at most PG_CHUNK_BYTES
 * (but at least one).  An empty chunk ends the read: its head is the
 * head of the snapshot that found nothing more.
 */
static cairn_status
fetch_chunk(pg_iter *it)
{
	cairn_status st;
	pg_conn *c;

	PQclear(it->res);
	it->res = NULL;
	it->par.n = 0;
	par_u64(&it->par, it->next);
	/* a limited read fetches no more rows than it may yield (at least
	 * one: the core stops calling at its limit anyway) */
	par_u64(&it->par, it->left < PG_CHUNK_ROWS
	                          ? (it->left ? it->left : 1)
	                          : PG_CHUNK_ROWS);
	par_u64(&it->par, PG_CHUNK_BYTES);
	it->par.n = it->npar;
	st = pool_get(it->be, &c);
	if (st != CAIRN_OK)
		return st;
	/* one statement, a read: retried on a new connection when a pooled
	 * one turns out dead */
	it->res = pool_exec(it->be, c, it->sql, &it->par, true);
	if (PQresultStatus(it->res) != PGRES_TUPLES_OK ||
	    PQntuples(it->res) < 1) {
		st = pg_fail(NULL, c->db, it->res, "reading events");
		PQclear(it->res);
		it->res = NULL;
	}
	pool_put(it->be, c);
	if (st != CAIRN_OK)
		return st;
	it->row = 0;
	it->nrows = PQntuples(it->res);
	if (it->nrows == 1 && PQgetisnull(it->res, 0, 1))
		it->nrows = 0;
	if (cairn__pg_chunk_hook)
		cairn__pg_chunk_hook(cairn__pg_chunk_ctx, it->nrows);
	return CAIRN_OK;
}

static cairn_status
pg_iter_next(cairn__iter *base, const cairn_event **out)
{
	pg_iter *it = (pg_iter *)base;
	cairn_status st;

	if (it->done || it->next == 0)
		goto done;
	if (it->res != NULL && it->nrows == 0) {
		/* the first chunk, fetched at the start, was empty */
		it->done_head = bin_u64(it->res, 0, 0);
		goto done;
	}
	if (it->res == NULL || it->row >= it->nrows) {
		st = fetch_chunk(it);
		if (st != CAIRN_OK)
			return st;
		if (it->nrows == 0) {
			it->done_head = bin_u64(it->res, 0, 0);
			goto done;
		}
	}
	st = decode_row(it->res, it->row, 1, &it->dec);
	if (st != CAIRN_OK)
		return st;
	it->row++;
	if (it->left != UINT64_MAX && it->left > 0)
		it->left--;
	if (it->by_stream)
		it->next = it->backwards ? it->dec.ev.version - 1
		                         : it->dec.ev.version + 1;
	else
		it->next = it->backwards ? it->dec.ev.position - 1
		                         : it->dec.ev.position + 1;
	*out = &it->dec.ev;
	return CAIRN_ROW;
done:
	if (!it->done) {
		it->done = true;
		if (it->done_head == 0)
			it->done_head = it->start_head;
	}
	PQclear(it->res);
	it->res = NULL;
	return CAIRN_DONE;
}

/*
 * The head of the read's view (cairn_iter_head()): once a forward read
 * is DONE, the head of the snapshot of its last, empty, chunk: every
 * event up to it was examined (earlier chunks covered the positions
 * below the key, and commits are in position order).  Before, or for a
 * backward read, the head of the first chunk.
 */
static cairn_status
pg_iter_head(cairn__iter *base, uint64_t *position)
{
	pg_iter *it = (pg_iter *)base;

	*position = it->done && !it->backwards ? it->done_head : it->start_head;
	return CAIRN_OK;
}

/*
 * Idle reader.  Nothing is held on the server between chunks, so rows
 * of the chunk not yet yielded are kept (committed events, in order: a
 * subscription that parks after every batch does not pay a query per
 * batch).  A chunk with nothing left is dropped, so that the next step
 * fetches afresh and sees the commits made meanwhile.
 */
static void
pg_iter_park(cairn__iter *base)
{
	pg_iter *it = (pg_iter *)base;

	if (it->res != NULL && it->row < it->nrows)
		return;
	PQclear(it->res);
	it->res = NULL;
}

static void
pg_iter_free(cairn__iter *base)
{
	pg_iter *it = (pg_iter *)base;
	size_t i;

	PQclear(it->res);
	for (i = 0; i < it->nowned; i++)
		cairn__free(it->owned[i]);
	cairn__free(it->sql);
	cairn__free(it->dec.buf);
	cairn__free(it);
}

static const cairn__iter_ops pg_iter_ops = {
        pg_iter_next,
        pg_iter_free,
        pg_iter_head,
        pg_iter_park,
};

/* Text builder for a read's statement. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
	bool failed;
} sbuf;

static void
sb_add(sbuf *b, const char *s)
{
	size_t n = strlen(s);
	char *p;

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = cairn__realloc(b->s, cap);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

/* " AND <col> <op> $k<cast>" with a new parameter holding val (kept). */
static bool
add_filter_param(pg_iter *it, sbuf *b, const char *pre, char *val,
                 const char *post)
{
	char ref[16];

	if (val == NULL || it->par.n >= PG_PARAMS_MAX ||
	    it->nowned >= PG_PARAMS_MAX) {
		cairn__free(val);
		return false;
	}
	it->owned[it->nowned++] = val;
	par_str(&it->par, val);
	snprintf(ref, sizeof(ref), "$%d", it->par.n);
	sb_add(b, pre);
	sb_add(b, ref);
	sb_add(b, post);
	return true;
}

static char *
dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = cairn__malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

static char *
literal_of(const char *const *items, size_t n)
{
	char *s;

	return array_literal(items, n, &s) ? s : NULL;
}

/*
 * The filters of a $all read pushed into its statement, so the server
 * skips what the core would drop: the types, the stream prefix, the
 * query (each item's types and tags).  The statement's shape depends on
 * how many items there are, never on their text: every value is a
 * parameter.  The core still applies the filters itself.
 */
static bool
add_filters(pg_iter *it, sbuf *b, const cairn_read_opts *opts)
{
	const cairn_query *q = opts->query;
	bool ok = true;
	size_t i;

	it->par.n = 3;
	if (opts->ntypes > 0)
		ok = add_filter_param(it, b, " AND type = ANY (",
		                      literal_of(opts->types, opts->ntypes),
		                      "::text[])");
	if (ok && opts->prefix != NULL && opts->prefix[0] != '\0')
		ok = add_filter_param(it, b, " AND starts_with(stream, ",
		                      dup_str(opts->prefix), ")");
	if (!ok || q == NULL)
		return ok;
	sb_add(b, " AND (false");
	for (i = 0; ok && i < q->nitems; i++) {
		const cairn_query_item *item = &q->items[i];

		sb_add(b, " OR (true");
		if (item->ntypes > 0)
			ok = add_filter_param(
			        it, b, " AND type = ANY (",
			        literal_of(item->types, item->ntypes),
			        "::text[])");
		if (ok && item->ntags > 0)
			ok = add_filter_param(
			        it, b, " AND tags @> ",
			        literal_of(item->tags, item->ntags),
			        "::text[]");
		sb_add(b, ")");
	}
	sb_add(b, ")");
	return ok;
}

/* A new iterator whose first chunk is fetched (its head is the read's
 * start head). */
static cairn_status
iter_start(pg_iter *it)
{
	cairn_status st;

	if (it->next == 0) {
		/* nothing to read; the head is still the store's */
		pg_conn *c;
		PGresult *r;

		st = pool_get(it->be, &c);
		if (st != CAIRN_OK)
			return st;
		r = pool_exec(it->be, c, sql_head, NULL, false);
		if (res_ok(r) && PQntuples(r) == 1)
			it->start_head = col_u64(r, 0, 0);
		else
			st = pg_fail(NULL, c->db, r, "reading the head");
		PQclear(r);
		pool_put(it->be, c);
		return st;
	}
	st = fetch_chunk(it);
	if (st != CAIRN_OK)
		return st;
	it->start_head = bin_u64(it->res, 0, 0);
	return CAIRN_OK;
}

static cairn_status
iter_new(cairn__backend *be, const cairn_read_opts *opts, pg_iter **out)
{
	pg_iter *it = cairn__calloc(1, sizeof(*it));

	if (it == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	it->base.ops = &pg_iter_ops;
	it->be = be;
	it->backwards = opts->backwards != 0;
	/*
	 * The limit bounds the chunks only when every row the engine
	 * returns is a row the caller gets.  The core applies the limit
	 * after its own filters (types, prefix, query); the statement
	 * pushes the same filters down, but only as an approximation the
	 * core re-checks (it must never drop what the core keeps, it may
	 * keep what the core drops), so for a filtered $all read the rows
	 * the engine returns can outnumber the rows the caller gets, and a
	 * chunk sized to the limit could need several round trips to yield
	 * it.  Such reads keep the full chunk; stream reads and unfiltered
	 * $all reads fetch min(what is left of the limit, PG_CHUNK_ROWS).
	 */
	if (opts->limit != 0 && opts->ntypes == 0 &&
	    (opts->prefix == NULL || opts->prefix[0] == '\0') &&
	    opts->query == NULL)
		it->left = opts->limit;
	else
		it->left = UINT64_MAX;
	*out = it;
	return CAIRN_OK;
}

/*
 * The key (version or position) a read starts from, within the bigint
 * columns: from is a caller's uint64_t and may exceed 2^63 - 1, which
 * no stored key reaches.  Forward from beyond there reads nothing (0:
 * none left); backward from beyond there (or from 0) reads from the end.
 */
static uint64_t
start_key(const cairn_read_opts *opts)
{
	if (opts->backwards)
		return opts->from == 0 || opts->from > (uint64_t)INT64_MAX
		               ? (uint64_t)INT64_MAX
		               : opts->from;
	if (opts->from > (uint64_t)INT64_MAX)
		return 0;
	return opts->from ? opts->from : 1;
}

static cairn_status
pg_read_stream(cairn__backend *be, const char *stream, size_t len,
               const cairn_read_opts *opts, cairn__iter **out)
{
	pg_iter *it = NULL;
	sbuf b = {0};
	cairn_status st;

	st = iter_new(be, opts, &it);
	if (st != CAIRN_OK)
		return st;
	it->by_stream = true;
	memcpy(it->stream, stream, len);
	it->stream[len] = '\0';
	sb_add(&b, CHUNK_HEAD);
	if (it->backwards) {
		sb_add(&b, "version <= $1 AND stream = $4" CHUNK_TAIL("version",
		                                                      "DESC"));
	} else {
		sb_add(&b, "version >= $1 AND stream = $4" CHUNK_TAIL("version",
		                                                      "ASC"));
	}
	it->next = start_key(opts);
	it->sql = b.s;
	it->par.n = 3;
	par_str(&it->par, it->stream);
	it->npar = it->par.n;
	if (b.failed)
		st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
	else
		st = iter_start(it);
	if (st != CAIRN_OK) {
		pg_iter_free(&it->base);
		return st;
	}
	*out = &it->base;
	return CAIRN_OK;
}

static cairn_status
pg_read_all(cairn__backend *be, const cairn_read_opts *opts, cairn__iter **out)
{
	pg_iter *it = NULL;
	sbuf b = {0};
	cairn_status st;

	st = iter_new(be, opts, &it);
	if (st != CAIRN_OK)
		return st;
	sb_add(&b, CHUNK_HEAD);
	sb_add(&b, it->backwards ? "position <= $1" : "position >= $1");
	if (!add_filters(it, &b, opts))
		b.failed = true;
	sb_add(&b, it->backwards ? CHUNK_TAIL("position", "DESC")
	                         : CHUNK_TAIL("position", "ASC"));
	it->sql = b.s;
	it->npar = it->par.n;
	it->next = start_key(opts);
	if (opts->query && opts->query->nitems == 0)
		it->next = 0; /* a query without items matches nothing */
	if (b.failed)
		st = cairn__error(CAIRN_NOMEM, 0, "out of memory");
	else
		st = iter_start(it);
	if (st != CAIRN_OK) {
		pg_iter_free(&it->base);
		return st;
	}
	*out = &it->base;
	return CAIRN_OK;
}

/* ---- metadata ---- */

/* Run one statement on a pooled connection and hand its result (text
 * format, status checked) to fn.  CAIRN_DONE when it has no row. */
typedef cairn_status (*result_fn)(const PGresult *r, void *ctx);

static cairn_status
query_one(cairn__backend *be, const char *sql, const pg_params *p, result_fn fn,
          void *ctx, const char *what)
{
	cairn_status st;
	pg_conn *c;
	PGresult *r;

	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	/* reads, and the snapshot upsert (which only ever replaces an
	 * older version): safe to run twice (pool_exec()) */
	r = pool_exec(be, c, sql, p, false);
	if (!res_ok(r))
		st = pg_fail(NULL, c->db, r, what);
	else if (PQntuples(r) == 0)
		st = CAIRN_DONE;
	else if (fn != NULL)
		st = fn(r, ctx);
	PQclear(r);
	pool_put(be, c);
	return st;
}

static cairn_status
row_u64(const PGresult *r, void *ctx)
{
	*(uint64_t *)ctx = col_u64(r, 0, 0);
	return CAIRN_OK;
}

/* O(log n) in the streams table's primary key: no event is read. */
static cairn_status
pg_stream_version(cairn__backend *be, const char *stream, size_t len,
                  uint64_t *version)
{
	pg_params p = {.n = 0};
	cairn_status st;

	*version = 0;
	par_text(&p, stream, len);
	st = query_one(be, sql_stream_version, &p, row_u64, version,
	               "reading a stream's version");
	return st == CAIRN_DONE ? CAIRN_OK : st;
}

static cairn_status
pg_head(cairn__backend *be, uint64_t *position)
{
	cairn_status st;

	*position = 0;
	st = query_one(be, sql_head, NULL, row_u64, position,
	               "reading the head");
	return st == CAIRN_DONE ? CAIRN_OK : st;
}

static cairn_status
row_stats(const PGresult *r, void *ctx)
{
	cairn_stats *s = ctx;

	s->head = col_u64(r, 0, 0);
	s->events = s->head; /* positions are gapless */
	s->streams = col_u64(r, 0, 1);
	s->bytes = col_u64(r, 0, 2);
	return CAIRN_OK;
}

/* Events are gapless, so their count is the head; streams are counted
 * (O(streams)); bytes are the schema's tables with their indexes. */
static cairn_status
pg_stats(cairn__backend *be, cairn_stats *stats)
{
	cairn_status st;

	st = query_one(be, sql_stats, NULL, row_stats, stats,
	               "reading statistics");
	return st == CAIRN_DONE ? CAIRN_OK : st;
}

/* ---- listing streams ---- */

typedef struct pg_lister {
	cairn__stream_iter base;
	PGresult *res; /* the whole page: at most limit rows */
	int row;
	cairn_stream_info info;
	size_t prefix_len;
	char prefix[CAIRN_STREAM_ID_MAX + 1];
} pg_lister;

static cairn_status
lister_next(cairn__stream_iter *base, const cairn_stream_info **info)
{
	pg_lister *l = (pg_lister *)base;

	if (l->res == NULL || l->row >= PQntuples(l->res))
		return CAIRN_DONE;
	l->info.stream = PQgetvalue(l->res, l->row, 0);
	l->info.stream_len = (size_t)PQgetlength(l->res, l->row, 0);
	if (l->info.stream_len < l->prefix_len ||
	    memcmp(l->info.stream, l->prefix, l->prefix_len) != 0) {
		l->row = PQntuples(l->res);
		return CAIRN_DONE;
	}
	l->info.version = col_u64(l->res, l->row, 1);
	l->info.last_position = col_u64(l->res, l->row, 2);
	l->info.created_ns = col_i64(l->res, l->row, 3);
	l->info.updated_ns = col_i64(l->res, l->row, 4);
	l->row++;
	*info = &l->info;
	return CAIRN_ROW;
}

static void
lister_free(cairn__stream_iter *base)
{
	pg_lister *l = (pg_lister *)base;

	PQclear(l->res);
	cairn__free(l);
}

static const cairn__stream_iter_ops lister_ops = {
        lister_next,
        lister_free,
};

/* One statement from max(prefix, after) on in byte order (COLLATE "C"),
 * LIMIT limit: O(log n + page).  The page is held, at most limit rows. */
static cairn_status
pg_list_streams(cairn__backend *be, const char *prefix, const char *after,
                size_t limit, cairn__stream_iter **out)
{
	pg_params p = {.n = 0};
	cairn_status st;
	pg_lister *l;
	pg_conn *c;
	PGresult *r;
	bool from = strcmp(after, prefix) < 0;

	l = cairn__calloc(1, sizeof(*l));
	if (l == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	l->base.ops = &lister_ops;
	par_str(&p, from ? prefix : after);
	par_u64(&p, limit > INT64_MAX ? INT64_MAX : limit);
	l->prefix_len = strlen(prefix);
	memcpy(l->prefix, prefix, l->prefix_len + 1);
	st = pool_get(be, &c);
	if (st != CAIRN_OK) {
		cairn__free(l);
		return st;
	}
	r = pool_exec(be, c, from ? sql_list_from : sql_list, &p, false);
	if (!res_ok(r)) {
		st = pg_fail(NULL, c->db, r, "listing streams");
		PQclear(r);
		pool_put(be, c);
		cairn__free(l);
		return st;
	}
	pool_put(be, c);
	l->res = r;
	*out = &l->base;
	return CAIRN_OK;
}

/* ---- snapshots ---- */

/* Keep the newest snapshot per (stream, schema): one upsert that only
 * replaces an older version. */
static cairn_status
pg_snapshot_put(cairn__backend *be, const char *stream, size_t stream_len,
                uint64_t version, const char *schema, const void *blob,
                size_t len)
{
	pg_params p = {.n = 0};
	cairn_status st;

	if (be->read_only)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "postgres: the store is open read-only");
	par_text(&p, stream, stream_len);
	par_str(&p, schema);
	par_u64(&p, version);
	par_bin(&p, blob, len);
	par_i64(&p, cairn__now_ns());
	st = query_one(be, sql_snap_put, &p, NULL, NULL, "saving a snapshot");
	return st == CAIRN_DONE ? CAIRN_OK : st;
}

typedef struct snap_out {
	uint64_t *version;
	void **blob;
	size_t *len;
} snap_out;

static cairn_status
row_snapshot(const PGresult *r, void *ctx)
{
	snap_out *so = ctx;
	size_t n;

	*so->version = be64((const unsigned char *)PQgetvalue(r, 0, 0));
	n = (size_t)PQgetlength(r, 0, 1);
	*so->blob = cairn__malloc(n ? n : 1);
	if (*so->blob == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (n)
		memcpy(*so->blob, PQgetvalue(r, 0, 1), n);
	*so->len = n;
	return CAIRN_OK;
}

static cairn_status
pg_snapshot_get(cairn__backend *be, const char *stream, size_t stream_len,
                const char *schema, uint64_t *version, void **blob, size_t *len)
{
	snap_out so = {version, blob, len};
	pg_params p = {.n = 0};
	cairn_status st;
	pg_conn *c;
	PGresult *r;

	par_text(&p, stream, stream_len);
	par_str(&p, schema);
	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	r = pool_exec(be, c, sql_snap_get, &p, true);
	if (!res_ok(r))
		st = pg_fail(NULL, c->db, r, "reading a snapshot");
	else if (PQntuples(r) == 0)
		st = cairn__error(
		        CAIRN_NOT_FOUND, 0,
		        "postgres: no snapshot of stream '%.*s' under "
		        "schema '%s'",
		        (int)stream_len, stream, schema);
	else
		st = row_snapshot(r, &so);
	PQclear(r);
	pool_put(be, c);
	return st;
}

/* ---- durable subscription cursors ---- */

static cairn_status
row_cursor(const PGresult *r, void *ctx)
{
	cairn_sub_info *info = ctx;

	info->position = col_u64(r, 0, 0);
	info->updated_ns = col_i64(r, 0, 1);
	return CAIRN_OK;
}

static cairn_status
pg_cursor_get(cairn__backend *be, const char *name, size_t len,
              cairn_sub_info *info)
{
	pg_params p = {.n = 0};
	cairn_status st;

	par_text(&p, name, len);
	st = query_one(be, sql_cursor_get, &p, row_cursor, info,
	               "reading a subscription cursor");
	return st == CAIRN_DONE ? CAIRN_NOT_FOUND : st;
}

/*
 * Run a statement that changes rows; *changed receives how many.  retry:
 * the statement is idempotent (an upsert of the same values), so it may
 * be run again on a new connection when a pooled one turns out dead
 * (pool_exec()).  The others (create if absent, compare-and-set,
 * delete) are not retried after they were sent: had the server run and
 * committed one before the connection died, the repeat would report a
 * false conflict or absence.  A connection found dead before sending
 * (conn_alive() in pool_get()) is replaced for them as well.
 */
static cairn_status
exec_count(cairn__backend *be, const char *sql, const pg_params *p,
           const char *what, bool retry, unsigned long *changed)
{
	cairn_status st;
	pg_conn *c;
	PGresult *r;

	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	if (!retry)
		c->reused = false;
	r = pool_exec(be, c, sql, p, false);
	if (!res_ok(r))
		st = pg_fail(NULL, c->db, r, what);
	else
		*changed = strtoul(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	pool_put(be, c);
	return st;
}

/*
 * Compare-and-set as one statement, atomic across connections and
 * processes: an upsert for CAIRN__CURSOR_ANY, an insert that does
 * nothing on an existing name for CAIRN__CURSOR_ABSENT, else an update
 * guarded by the expected position; no row changed is a conflict.
 * Committed (autocommit) before it returns.
 */
static cairn_status
pg_cursor_put(cairn__backend *be, const char *name, size_t len, uint64_t expect,
              uint64_t position)
{
	const char *sql = expect == CAIRN__CURSOR_ANY      ? sql_cursor_set
	                  : expect == CAIRN__CURSOR_ABSENT ? sql_cursor_create
	                                                   : sql_cursor_cas;
	pg_params p = {.n = 0};
	unsigned long changed = 0;
	cairn_status st;

	if (be->read_only)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "postgres: the store is open read-only");
	par_text(&p, name, len);
	par_u64(&p, position);
	par_i64(&p, cairn__now_ns());
	if (sql == sql_cursor_cas)
		par_u64(&p, expect);
	st = exec_count(be, sql, &p, "storing a subscription cursor",
	                sql == sql_cursor_set, &changed);
	if (st == CAIRN_OK && changed == 0)
		return cairn__error(CAIRN_CONFLICT, 0,
		                    "postgres: subscription cursor '%.*s' was "
		                    "changed by someone else",
		                    (int)len, name);
	return st;
}

static cairn_status
pg_cursor_delete(cairn__backend *be, const char *name, size_t len)
{
	pg_params p = {.n = 0};
	unsigned long changed = 0;
	cairn_status st;

	if (be->read_only)
		return cairn__error(CAIRN_UNSUPPORTED, 0,
		                    "postgres: the store is open read-only");
	par_text(&p, name, len);
	st = exec_count(be, sql_cursor_delete, &p,
	                "deleting a subscription cursor", false, &changed);
	if (st == CAIRN_OK && changed == 0)
		return cairn__error(CAIRN_NOT_FOUND, 0,
		                    "postgres: no subscription cursor '%.*s'",
		                    (int)len, name);
	return st;
}

typedef struct cursor_row {
	char name[CAIRN_SUB_NAME_MAX + 1];
	cairn_sub_info info;
} cursor_row;

static cairn_status
row_cursor_next(const PGresult *r, void *ctx)
{
	cursor_row *cr = ctx;
	size_t n = (size_t)PQgetlength(r, 0, 0);

	if (n > CAIRN_SUB_NAME_MAX)
		return cairn__error(CAIRN_CORRUPT, 0,
		                    "postgres: a subscription cursor has an "
		                    "overlong name");
	memcpy(cr->name, PQgetvalue(r, 0, 0), n + 1);
	cr->info.position = col_u64(r, 0, 1);
	cr->info.updated_ns = col_i64(r, 0, 2);
	return CAIRN_OK;
}

/* fn is called with no connection held: each step seeks after the name
 * it last saw, so fn may use this store's cursors. */
static cairn_status
pg_cursor_list(cairn__backend *be, cairn_sub_list_fn fn, void *ctx)
{
	cursor_row cr;
	cairn_status st;

	cr.name[0] = '\0';
	for (;;) {
		pg_params p = {.n = 0};

		par_str(&p, cr.name);
		st = query_one(be, sql_cursor_next, &p, row_cursor_next, &cr,
		               "listing subscription cursors");
		if (st != CAIRN_OK)
			break;
		cr.info.name = cr.name;
		if (fn(ctx, &cr.info))
			break;
	}
	return st == CAIRN_DONE ? CAIRN_OK : st;
}

static cairn__notify *
pg_notifier(cairn__backend *be)
{
	return be->notify;
}

/* ---- the listener ---- */

/* Connect and LISTEN; NULL when the server cannot be reached. */
static PGconn *
listen_connect(cairn__backend *be)
{
	PGconn *db;
	PGresult *r;

	if (conn_open(be, true, &db) != CAIRN_OK)
		return NULL;
	r = PQexec(db, "LISTEN " PG_CHANNEL);
	if (!res_ok(r)) {
		PQclear(r);
		PQfinish(db);
		return NULL;
	}
	PQclear(r);
	return db;
}

/*
 * The listener thread: waits in poll() on its connection's socket (and
 * the wake pipe, which close writes to), and bumps the notifier for each
 * notification of this store's schema.  A lost connection is made again
 * with growing delays; each new connection bumps once, since commits may
 * have passed unheard meanwhile.
 */
static void *
listener_main(void *arg)
{
	cairn__backend *be = arg;
	int delay = PG_RECONNECT_MIN_MS, rc;
	struct pollfd pfd[2];
	PGnotify *nt;
	PGconn *db = NULL;

	for (;;) {
		if (db == NULL) {
			db = listen_connect(be);
			if (db == NULL) {
				pfd[0].fd = be->wake[0];
				pfd[0].events = POLLIN;
				if (poll(pfd, 1, delay) > 0)
					break;
				delay = delay * 2 > PG_RECONNECT_MAX_MS
				                ? PG_RECONNECT_MAX_MS
				                : delay * 2;
				continue;
			}
			delay = PG_RECONNECT_MIN_MS;
			cairn__notify_bump(be->notify);
		}
		pfd[0].fd = be->wake[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = PQsocket(db);
		pfd[1].events = POLLIN;
		rc = poll(pfd, 2, -1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 || (pfd[0].revents & POLLIN))
			break;
		if (!PQconsumeInput(db) || PQstatus(db) != CONNECTION_OK) {
			PQfinish(db);
			db = NULL;
			continue;
		}
		while ((nt = PQnotifies(db)) != NULL) {
			if (nt->extra != NULL &&
			    strcmp(nt->extra, be->schema) == 0)
				cairn__notify_bump(be->notify);
			PQfreemem(nt);
		}
	}
	PQfinish(db);
	return NULL;
}

static cairn_status
listener_start(cairn__backend *be)
{
	if (pipe(be->wake) != 0)
		return cairn__error(CAIRN_IO, errno,
		                    "postgres: cannot make a pipe: %s",
		                    strerror(errno));
	if (pthread_create(&be->listener, NULL, listener_main, be) != 0) {
		close(be->wake[0]);
		close(be->wake[1]);
		return cairn__error(CAIRN_NOMEM, 0,
		                    "postgres: cannot start the listener");
	}
	be->listening = true;
	return CAIRN_OK;
}

static void
listener_stop(cairn__backend *be)
{
	ssize_t n;

	if (!be->listening)
		return;
	do
		n = write(be->wake[1], "x", 1);
	while (n < 0 && errno == EINTR);
	pthread_join(be->listener, NULL);
	close(be->wake[0]);
	close(be->wake[1]);
	be->listening = false;
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
	char buf[PG_PROBLEM_MAX];
	va_list ap;

	vs->problems++;
	if (vs->fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	vs->fn(vs->ctx, buf);
}

/* The checks of the engine's own structures, each a statement that
 * returns one row per problem (a sentence). */
static const char *const verify_sql[] = {
        "SELECT 'the head row says ' || h.position || ' but the newest "
        "event is at ' || coalesce(max(e.position), 0) FROM head h "
        "LEFT JOIN events e ON true GROUP BY h.position "
        "HAVING h.position <> coalesce(max(e.position), 0)",
        "SELECT 'the tag index lists position ' || t.position || ' under ''' "
        "|| t.tag || ''', which that event lacks' FROM event_tags t "
        "LEFT JOIN events e ON e.position = t.position "
        "WHERE e.position IS NULL OR NOT (e.tags @> ARRAY[t.tag])",
        "SELECT 'the event at position ' || e.position || ' carries tag ''' "
        "|| t || ''' but the tag index lacks it' FROM events e, unnest(e.tags) "
        "t WHERE NOT EXISTS (SELECT 1 FROM event_tags x WHERE x.tag = t AND "
        "x.position = e.position)",
        "SELECT 'stream ''' || s.stream || ''' has a row but no events' "
        "FROM streams s WHERE NOT EXISTS (SELECT 1 FROM events e WHERE "
        "e.stream = s.stream)",
        "SELECT 'position ' || position || ': commit_rest ' || commit_rest "
        "|| ' does not continue the append before it' FROM (SELECT "
        "position, commit_rest, time_ns, lag(commit_rest) OVER w AS pr, "
        "lag(position) OVER w AS pp, lag(time_ns) OVER w AS pt FROM events "
        "WINDOW w AS (ORDER BY position)) x WHERE pr > 0 AND (commit_rest "
        "<> pr - 1 OR position <> pp + 1 OR time_ns <> pt)",
};

/* The engine's own checks, in one REPEATABLE READ transaction (one
 * snapshot), so appends running meanwhile raise no false alarm. */
static cairn_status
pg_verify(cairn__backend *be, cairn_verify_fn fn, void *ctx, uint64_t *problems)
{
	verify_state vs = {fn, ctx, 0};
	cairn_status st;
	pg_conn *c;
	PGresult *r;
	size_t i;
	int row;

	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	r = pool_exec(be, c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	              NULL, false);
	if (!res_ok(r))
		st = pg_fail(NULL, c->db, r, "beginning a read");
	PQclear(r);
	for (i = 0;
	     st == CAIRN_OK && i < sizeof(verify_sql) / sizeof(verify_sql[0]);
	     i++) {
		r = PQexec(c->db, verify_sql[i]);
		if (!res_ok(r))
			st = pg_fail(NULL, c->db, r, "verifying");
		for (row = 0; st == CAIRN_OK && row < PQntuples(r); row++)
			vproblem(&vs, "%s", PQgetvalue(r, row, 0));
		PQclear(r);
	}
	pool_put(be, c);
	*problems = vs.problems;
	return st;
}

/* ---- open and close ---- */

/*
 * Bring the schema to PG_SCHEMA_VERSION: in one transaction under an
 * advisory lock (two processes opening a new database at once take
 * turns), create the schema when named and missing, read the versions
 * applied (none: no schema_version table) and apply the rest in order.
 * A newer version than this file knows is refused.
 */
static cairn_status
migrate(cairn__backend *be, PGconn *db)
{
	pg_params p = {.n = 0};
	cairn_status st;
	PGresult *r = NULL;
	uint64_t have = 0;
	char v[PG_NUM_LEN];
	int i;

	st = conn_exec(NULL, db, "BEGIN", "migrating the schema");
	if (st != CAIRN_OK)
		return st;
	par_i64(&p, PG_MIGRATE_LOCK);
	r = pg_run(db, "SELECT pg_advisory_xact_lock($1)", &p, false);
	if (!res_ok(r))
		goto fail;
	if (be->ci.schema[0] != '\0') {
		char *q = PQescapeIdentifier(db, be->ci.schema,
		                             strlen(be->ci.schema));
		char sql[PG_SCHEMA_MAX * 2 + 64];

		if (q == NULL)
			goto fail;
		/* the name passed schema_ok(), and is quoted besides */
		snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", q);
		PQfreemem(q);
		PQclear(r);
		r = PQexec(db, sql);
		if (!res_ok(r))
			goto fail;
	}
	PQclear(r);
	r = PQexec(db, "SELECT CASE WHEN to_regclass('schema_version') IS "
	               "NULL THEN 0 ELSE 1 END");
	if (!res_ok(r))
		goto fail;
	if (col_u64(r, 0, 0) == 1) {
		PQclear(r);
		r = PQexec(db, "SELECT coalesce(max(version), 0) FROM "
		               "schema_version");
		if (!res_ok(r))
			goto fail;
		have = col_u64(r, 0, 0);
	} else {
		PQclear(r);
		r = PQexec(db, "SELECT 1 FROM pg_class WHERE relnamespace = "
		               "current_schema()::regnamespace AND relname IN "
		               "('events', 'streams')");
		if (!res_ok(r))
			goto fail;
		if (PQntuples(r) > 0) {
			st = cairn__error(CAIRN_CORRUPT, 0,
			                  "postgres: schema '%s' holds tables "
			                  "named events or streams but no "
			                  "schema_version: not a cairn store",
			                  be->schema);
			goto out;
		}
		PQclear(r);
		r = PQexec(db, "CREATE TABLE schema_version (version integer "
		               "PRIMARY KEY, applied_at timestamptz NOT NULL "
		               "DEFAULT now())");
		if (!res_ok(r))
			goto fail;
	}
	if (have > PG_SCHEMA_VERSION) {
		st = cairn__error(CAIRN_CORRUPT, 0,
		                  "postgres: schema '%s' is at version %llu, "
		                  "made by a newer cairn; this one knows "
		                  "versions up to %d",
		                  be->schema, (unsigned long long)have,
		                  PG_SCHEMA_VERSION);
		goto out;
	}
	for (i = (int)have; i < PG_SCHEMA_VERSION; i++) {
		PQclear(r);
		r = PQexec(db, migrations[i]);
		if (!res_ok(r))
			goto fail;
		PQclear(r);
		p.n = 0;
		snprintf(v, sizeof(v), "%d", i + 1);
		par_str(&p, v);
		r = pg_run(db,
		           "INSERT INTO schema_version (version) VALUES ($1)",
		           &p, false);
		if (!res_ok(r))
			goto fail;
	}
	PQclear(r);
	r = NULL;
	st = conn_exec(NULL, db, "COMMIT", "migrating the schema");
	goto out;
fail:
	st = pg_fail(NULL, db, r, "migrating the schema");
out:
	PQclear(r);
	if (PQtransactionStatus(db) != PQTRANS_IDLE)
		PQclear(PQexec(db, "ROLLBACK"));
	return st;
}

/* A read-only open: the schema must be there, at a version we know. */
static cairn_status
check_read_only(cairn__backend *be, PGconn *db)
{
	cairn_status st = CAIRN_OK;
	PGresult *r;

	r = PQexec(db, "SELECT CASE WHEN to_regclass('schema_version') IS "
	               "NULL THEN -1 ELSE (SELECT coalesce(max(version), 0) "
	               "FROM schema_version) END");
	if (!res_ok(r))
		st = pg_fail(NULL, db, r, "opening the store");
	else if (col_i64(r, 0, 0) < 1)
		st = cairn__error(CAIRN_NOT_FOUND, 0,
		                  "postgres: schema '%s' holds no cairn store",
		                  be->schema);
	else if (col_i64(r, 0, 0) > PG_SCHEMA_VERSION)
		st = cairn__error(CAIRN_CORRUPT, 0,
		                  "postgres: the store's schema version %lld "
		                  "is newer than this cairn knows (%d)",
		                  (long long)col_i64(r, 0, 0),
		                  PG_SCHEMA_VERSION);
	PQclear(r);
	return st;
}

/* The first connection: migrate (or check), and learn current_schema(),
 * the payload of this store's notifications. */
static cairn_status
open_first(cairn__backend *be)
{
	cairn_status st;
	pg_conn *c;
	PGresult *r;

	st = pool_get(be, &c);
	if (st != CAIRN_OK)
		return st;
	st = be->read_only ? check_read_only(be, c->db) : migrate(be, c->db);
	if (st == CAIRN_OK) {
		r = PQexec(c->db, "SELECT current_schema()");
		if (!res_ok(r) || PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
		    (size_t)PQgetlength(r, 0, 0) > PG_SCHEMA_MAX)
			st = pg_fail(NULL, c->db, r, "reading the schema");
		else
			memcpy(be->schema, PQgetvalue(r, 0, 0),
			       (size_t)PQgetlength(r, 0, 0) + 1);
		PQclear(r);
	}
	pool_put(be, c);
	return st;
}

static void
backend_free(cairn__backend *be)
{
	pg_conn *c;

	listener_stop(be);
	if (be->group_ready)
		cairn__group_destroy(&be->group);
	while ((c = be->idle) != NULL) {
		be->idle = c->next;
		PQfinish(c->db);
		cairn__free(c);
	}
	cairn__notify_close(be->notify);
	cairn__free(be->ci.conninfo);
	pthread_cond_destroy(&be->pool_cond);
	pthread_mutex_destroy(&be->pool_mutex);
	cairn__free(be);
}

static cairn_status
pg_open(const char *path, const cairn_options *opts, cairn__backend **out)
{
	cairn__backend *be;
	cairn_status st;

	be = cairn__calloc(1, sizeof(*be));
	if (be == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	if (pthread_mutex_init(&be->pool_mutex, NULL) != 0) {
		cairn__free(be);
		return cairn__error(CAIRN_NOMEM, 0, "cannot create a mutex");
	}
	if (pthread_cond_init(&be->pool_cond, NULL) != 0) {
		pthread_mutex_destroy(&be->pool_mutex);
		cairn__free(be);
		return cairn__error(CAIRN_NOMEM, 0, "cannot create a mutex");
	}
	be->read_only = opts->read_only != 0;
	be->relaxed = opts->durability == CAIRN_RELAXED;
	st = cairn__pg_conninfo_parse(path, &be->ci);
	if (st == CAIRN_OK)
		st = cairn__notify_open(NULL, false, &be->notify);
	if (st == CAIRN_OK)
		st = open_first(be);
	if (st == CAIRN_OK) {
		st = cairn__group_init(&be->group, commit_batch, be);
		be->group_ready = st == CAIRN_OK;
	}
	if (st == CAIRN_OK)
		st = listener_start(be);
	if (st != CAIRN_OK) {
		backend_free(be);
		return st;
	}
	*out = be;
	return CAIRN_OK;
}

static void
pg_close(cairn__backend *be)
{
	if (be != NULL)
		backend_free(be);
}

#define PG_OPS(name)                                                           \
	{                                                                      \
		CAIRN__BACKEND_OPS_VERSION, name, pg_open, pg_close,           \
		        pg_append, pg_read_stream, pg_read_all,                \
		        pg_stream_version, pg_head, pg_list_streams, pg_stats, \
		        pg_verify, pg_snapshot_put, pg_snapshot_get, NULL,     \
		        pg_notifier, pg_cursor_get, pg_cursor_put,             \
		        pg_cursor_delete, pg_cursor_list,                      \
	}

const cairn__backend_ops cairn__postgres_backend = PG_OPS("postgres");
const cairn__backend_ops cairn__postgresql_backend = PG_OPS("postgresql");
