/*
 * pg.c -- what the crash harness does to a postgres store behind the
 * library's back, with libpq: dropping a store's schema, and waiting for
 * the server processes of SIGKILLed clients to go away.
 *
 * A client killed in the middle of an append leaves its server process
 * behind for a moment: it rolls the open transaction back when it sees
 * the connection closed, or finishes a COMMIT it had already received.
 * The check after a round must see the store as it is once that has
 * happened (as an application restarted after a crash would), not race
 * with it.  The harness tells its own connections apart by their
 * application_name (set in the store's URI by harness.c).
 */
#include "crash.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_POLL_NS 2000000L /* 2 ms */

/* A connection to the database CAIRN_PG_URI names, or NULL (printed). */
static PGconn *
connect_db(void)
{
	const char *uri = getenv("CAIRN_PG_URI");
	PGconn *conn;

	if (uri == NULL) {
		fprintf(stderr, "crash: CAIRN_PG_URI is not set\n");
		return NULL;
	}
	/* "postgres:host=... port=..." is cairn's spelling of a libpq
	 * key=value string; libpq takes postgres:// URLs as they are. */
	if (strncmp(uri, "postgres:", 9) == 0 &&
	    strncmp(uri, "postgres://", 11))
		uri += 9;
	conn = PQconnectdb(uri);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "crash: cannot connect to %s: %s",
		        getenv("CAIRN_PG_URI"), PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

int
crash_pg_drop_schema(const char *schema)
{
	char sql[256];
	PGresult *res;
	PGconn *conn;
	char *ident;
	int rc = -1;

	conn = connect_db();
	if (conn == NULL)
		return -1;
	/* the name made a quoted identifier by libpq, never pasted raw */
	ident = PQescapeIdentifier(conn, schema, strlen(schema));
	if (ident == NULL)
		goto done;
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", ident);
	PQfreemem(ident);
	/* quiet: "does not exist, skipping" is no news */
	res = PQexec(conn, "SET client_min_messages = warning");
	PQclear(res);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		rc = 0;
	else
		fprintf(stderr, "crash: dropping schema %s: %s", schema,
		        PQerrorMessage(conn));
	PQclear(res);
done:
	PQfinish(conn);
	return rc;
}

int
crash_pg_wait_idle(const crash_store *cs, double max_seconds)
{
	static const char sql[] = "SELECT count(*) FROM pg_stat_activity "
	                          "WHERE application_name = $1";
	struct timespec slice = {0, IDLE_POLL_NS};
	char app[CRASH_SCHEMA_MAX + 32];
	const char *params[1] = {app};
	double t0 = crash_now();
	PGresult *res;
	PGconn *conn;
	long left = -1;

	snprintf(app, sizeof(app), CRASH_PG_APP_PREFIX "%s", cs->schema);
	conn = connect_db();
	if (conn == NULL)
		return -1;
	for (;;) {
		res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "crash: pg_stat_activity: %s",
			        PQerrorMessage(conn));
			PQclear(res);
			break;
		}
		left = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (left == 0 || crash_now() - t0 > max_seconds)
			break;
		nanosleep(&slice, NULL);
	}
	PQfinish(conn);
	if (left != 0)
		fprintf(stderr,
		        "crash: %ld server processes of %s's killed clients "
		        "still there after %.0f s\n",
		        left, cs->schema, max_seconds);
	return left == 0 ? 0 : -1;
}
