/*
 * postgres_int.h -- what the files of the PostgreSQL engine share, and
 * its one test hook.  Not installed; tests that reach the hook link
 * cairn_internal.
 */
#ifndef CAIRN_POSTGRES_INT_H
#define CAIRN_POSTGRES_INT_H

#include "backend.h"

/* Connections a store opens at most (pool_size=; see
 * docs/schema-postgres.md), by default and at most. */
#define PG_POOL_DEFAULT 8
#define PG_POOL_MAX 256
/* The longest schema name: PostgreSQL's NAMEDATALEN - 1. */
#define PG_SCHEMA_MAX 63

/* A store URI's rest, split into libpq's part and cairn's. */
typedef struct pg_conninfo {
	char *conninfo; /* malloc'd, for PQconnectdb() */
	unsigned pool_size;
	char schema[PG_SCHEMA_MAX + 1]; /* "": the connection's default */
} pg_conninfo;

/* Parse what follows "postgres:" into *ci (free ci->conninfo after).
 * CAIRN_OK, CAIRN_INVALID_URI (with a sentence), CAIRN_NOMEM. */
cairn_status cairn__pg_conninfo_parse(const char *rest, pg_conninfo *ci);

/*
 * Test hook: when set, called by the thread that commits a batch of
 * appends right before it sends COMMIT, with the server process id of
 * the connection.  Tests use it to kill that connection during the
 * commit (tests/postgres/test_kill.c).  NULL in normal use.
 */
extern void (*cairn__pg_before_commit_hook)(void *ctx, int backend_pid);
extern void *cairn__pg_before_commit_ctx;
/*
 * Test hook: when set, the committing thread runs this statement on the
 * batch's connection (after the hook above, before COMMIT), ignoring its
 * result.  Tests make it fail, so that the transaction is aborted and
 * COMMIT answers "ROLLBACK" (tests/postgres/test_reconnect.c).  NULL in
 * normal use.
 */
extern const char *cairn__pg_before_commit_sql;
/* Test hook: when set, called after each read chunk is fetched with the
 * number of event rows it holds.  NULL in normal use. */
extern void (*cairn__pg_chunk_hook)(void *ctx, int rows);
extern void *cairn__pg_chunk_ctx;
/* Test hook: when nonzero, pool_get() skips its liveness check of idle
 * connections, so that a dead one reaches its first statement and the
 * retry on a new connection is what saves the call.  0 in normal use. */
extern int cairn__pg_skip_idle_check;

#endif /* CAIRN_POSTGRES_INT_H */
