/*
 * test_reconnect.c -- what the engine must survive or refuse cleanly:
 *
 *   dead pooled connections  the store's server processes are
 *       terminated (pg_terminate_backend(), as a restart or failover
 *       does); every kind of call made afterwards must succeed on a new
 *       connection, appends included, once with the pool's liveness
 *       check of idle connections (pool_get()) and once without it, so
 *       that the retry of the first statement (pool_exec()) is what
 *       saves the call
 *   big positions  a read from 2^64 - 1 (or anything above 2^63 - 1,
 *       beyond PostgreSQL's bigint) reads normally: backward from the
 *       end, forward nothing; never CAIRN_CORRUPT
 *   limits  a limited read fetches no more rows than its limit (the
 *       chunk hook counts them); filtered $all reads still yield right
 *   COMMIT that rolls back  a COMMIT of an aborted transaction answers
 *       "ROLLBACK" without an error: the append must fail, not report
 *       success for events that were never written
 *
 * Links cairn_internal for the test hooks in src/backends/postgres_int.h.
 */
#include "cairn.h"
#include "backends/postgres_int.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *base;
static char app[64];

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* Terminate every server process of this test's store (they carry its
 * application_name) and wait until they are gone.  Returns how many. */
static int
kill_store_backends(void)
{
	const char *v[1] = {app};
	PGconn *db = PQconnectdb(base);
	PGresult *r, *w;
	int i, n;

	CHECK(PQstatus(db) == CONNECTION_OK, "connect: %s", PQerrorMessage(db));
	r = PQexecParams(db,
	                 "WITH t AS MATERIALIZED (SELECT pid FROM "
	                 "pg_stat_activity WHERE application_name = $1) "
	                 "SELECT array_agg(pid)::text FROM t WHERE "
	                 "pg_terminate_backend(pid)",
	                 1, NULL, v, NULL, NULL, 0);
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "terminate: %s",
	      PQerrorMessage(db));
	v[0] = PQgetisnull(r, 0, 0) ? "{}" : PQgetvalue(r, 0, 0);
	n = v[0][1] == '}' ? 0 : 1;
	for (i = 0; v[0][i]; i++)
		n += v[0][i] == ',';
	/* wait for those processes (the listener reconnects at once, with
	 * the same application_name) */
	for (i = 0; i < 500; i++) {
		int gone;

		w = PQexecParams(db,
		                 "SELECT 1 FROM pg_stat_activity WHERE "
		                 "pid = ANY ($1::int[])",
		                 1, NULL, v, NULL, NULL, 0);
		gone = PQntuples(w) == 0;
		PQclear(w);
		if (gone)
			break;
		usleep(5000);
	}
	PQclear(r);
	PQfinish(db);
	usleep(20000); /* let the FIN and the FATAL reach our sockets */
	return n;
}

static cairn_new_event
event(const char *type)
{
	cairn_new_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.data = "{}";
	e.data_len = 2;
	return e;
}

static uint64_t
count_read(cairn_store *st, const char *stream, const cairn_read_opts *o,
           cairn_status *rc, uint64_t *first)
{
	cairn_iter *it;
	const cairn_event *e;
	uint64_t n = 0;
	cairn_status s;

	*first = 0;
	*rc = stream ? cairn_read_stream(st, stream, o, &it)
	             : cairn_read_all(st, o, &it);
	if (*rc != CAIRN_OK)
		return 0;
	while ((s = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		if (n++ == 0)
			*first = stream ? e->version : e->position;
	}
	cairn_iter_free(it);
	*rc = s == CAIRN_DONE ? CAIRN_OK : s;
	return n;
}

static int
list_fn(void *ctx, const cairn_sub_info *info)
{
	(void)info;
	(*(int *)ctx)++;
	return 0;
}

/* One round: kill the store's connections before each kind of call. */
static void
dead_connections(cairn_store *st, const char *round)
{
	cairn_new_event e = event("Ticked");
	cairn_read_opts o = CAIRN_READ_OPTS_INIT;
	cairn_stream_iter *si;
	const cairn_stream_info *info;
	cairn_sub_info sub;
	cairn_status rc;
	uint64_t v, first, n;
	void *blob;
	size_t len;
	int i, subs = 0;

	printf("%s: killed %d server processes\n", round,
	       kill_store_backends());
	for (i = 0; i < 6; i++) {
		rc = cairn_append(st, "ticks", CAIRN_ANY, &e, 1, NULL);
		CHECK(rc == CAIRN_OK, "%s: append %d after the kill: %s: %s",
		      round, i, cairn_status_str(rc), cairn_last_error());
	}
	kill_store_backends();
	n = count_read(st, "ticks", &o, &rc, &first);
	CHECK(rc == CAIRN_OK && n > 0, "%s: read_stream: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	kill_store_backends();
	n = count_read(st, NULL, &o, &rc, &first);
	CHECK(rc == CAIRN_OK && n > 0, "%s: read_all: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	kill_store_backends();
	rc = cairn_head(st, &v);
	CHECK(rc == CAIRN_OK && v > 0, "%s: head: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	kill_store_backends();
	rc = cairn_stream_version(st, "ticks", &v);
	CHECK(rc == CAIRN_OK && v > 0, "%s: stream_version: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	kill_store_backends();
	rc = cairn_snapshot_save(st, "ticks", 1, "s1", "state", 5);
	CHECK(rc == CAIRN_OK, "%s: snapshot_save: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	kill_store_backends();
	rc = cairn_snapshot_load(st, "ticks", "s1", &v, &blob, &len);
	CHECK(rc == CAIRN_OK && len == 5, "%s: snapshot_load: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	cairn_free(blob);
	kill_store_backends();
	rc = cairn_subs_reset(st, "sub1", 1);
	CHECK(rc == CAIRN_OK, "%s: subs_reset: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	kill_store_backends();
	rc = cairn_subs_get(st, "sub1", &sub);
	CHECK(rc == CAIRN_OK && sub.position == 1, "%s: subs_get: %s: %s",
	      round, cairn_status_str(rc), cairn_last_error());
	kill_store_backends();
	rc = cairn_subs_list(st, list_fn, &subs);
	CHECK(rc == CAIRN_OK && subs == 1, "%s: subs_list: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	kill_store_backends();
	rc = cairn_list_streams(st, "", "", 0, &si);
	CHECK(rc == CAIRN_OK, "%s: list_streams: %s: %s", round,
	      cairn_status_str(rc), cairn_last_error());
	CHECK(cairn_stream_iter_next(si, &info) == CAIRN_ROW, "%s: no stream",
	      round);
	cairn_stream_iter_free(si);
	printf("%s: every call survived dead pooled connections\n", round);
}

static void
big_positions(cairn_store *st)
{
	static const uint64_t bigs[] = {UINT64_MAX, (uint64_t)INT64_MAX + 1};
	cairn_read_opts o = CAIRN_READ_OPTS_INIT;
	cairn_status rc;
	uint64_t n, first, head, ver;
	size_t i;

	CHECK(cairn_head(st, &head) == CAIRN_OK, "head");
	CHECK(cairn_stream_version(st, "ticks", &ver) == CAIRN_OK, "version");
	for (i = 0; i < 2; i++) {
		o.from = bigs[i];
		o.backwards = 1;
		n = count_read(st, "ticks", &o, &rc, &first);
		CHECK(rc == CAIRN_OK && n == ver && first == ver,
		      "backward stream read from %llu: %s (%llu events, "
		      "first %llu): %s",
		      (unsigned long long)o.from, cairn_status_str(rc),
		      (unsigned long long)n, (unsigned long long)first,
		      cairn_last_error());
		n = count_read(st, NULL, &o, &rc, &first);
		CHECK(rc == CAIRN_OK && n == head && first == head,
		      "backward $all read from %llu: %s (%llu events): %s",
		      (unsigned long long)o.from, cairn_status_str(rc),
		      (unsigned long long)n, cairn_last_error());
		o.backwards = 0;
		n = count_read(st, "ticks", &o, &rc, &first);
		CHECK(rc == CAIRN_OK && n == 0,
		      "forward stream read from %llu: %s (%llu events): %s",
		      (unsigned long long)o.from, cairn_status_str(rc),
		      (unsigned long long)n, cairn_last_error());
		n = count_read(st, NULL, &o, &rc, &first);
		CHECK(rc == CAIRN_OK && n == 0,
		      "forward $all read from %llu: %s (%llu events): %s",
		      (unsigned long long)o.from, cairn_status_str(rc),
		      (unsigned long long)n, cairn_last_error());
	}
	printf("reads from beyond 2^63 - 1 read normally\n");
}

static unsigned long long fetched;

static void
count_rows(void *ctx, int rows)
{
	(void)ctx;
	fetched += (unsigned long long)rows;
}

static void
limits(cairn_store *st)
{
	const char *types[1] = {"Tocked"};
	cairn_new_event e[40];
	cairn_read_opts o = CAIRN_READ_OPTS_INIT;
	cairn_status rc;
	uint64_t n, first, ver;
	int i;

	for (i = 0; i < 40; i++)
		e[i] = event(i % 2 ? "Tocked" : "Ticked");
	CHECK(cairn_append(st, "many", CAIRN_ANY, e, 40, NULL) == CAIRN_OK,
	      "append: %s", cairn_last_error());
	CHECK(cairn_stream_version(st, "many", &ver) == CAIRN_OK, "version");
	cairn__pg_chunk_hook = count_rows;

	fetched = 0;
	o.limit = 1;
	n = count_read(st, "many", &o, &rc, &first);
	CHECK(rc == CAIRN_OK && n == 1 && first == 1, "limit 1: %s %llu",
	      cairn_status_str(rc), (unsigned long long)n);
	CHECK(fetched == 1, "a stream read with limit 1 fetched %llu rows",
	      fetched);

	fetched = 0;
	o.limit = 3;
	o.backwards = 1;
	n = count_read(st, "many", &o, &rc, &first);
	CHECK(rc == CAIRN_OK && n == 3 && first == ver, "limit 3 back: %s",
	      cairn_status_str(rc));
	CHECK(fetched == 3, "a backward read with limit 3 fetched %llu rows",
	      fetched);

	fetched = 0;
	o.limit = 2;
	o.backwards = 0;
	n = count_read(st, NULL, &o, &rc, &first);
	CHECK(rc == CAIRN_OK && n == 2 && first == 1, "$all limit 2: %s",
	      cairn_status_str(rc));
	CHECK(fetched == 2, "a $all read with limit 2 fetched %llu rows",
	      fetched);

	/* filtered: the limit counts what the filter keeps */
	o.limit = 5;
	o.types = types;
	o.ntypes = 1;
	o.prefix = "many";
	n = count_read(st, NULL, &o, &rc, &first);
	CHECK(rc == CAIRN_OK && n == 5, "filtered $all limit 5: %s %llu",
	      cairn_status_str(rc), (unsigned long long)n);
	cairn__pg_chunk_hook = NULL;
	printf("limited reads fetch no more than their limit\n");
}

static void
commit_rolled_back(cairn_store *st)
{
	cairn_new_event e = event("Lost");
	cairn_status rc;
	uint64_t before, after;

	CHECK(cairn_head(st, &before) == CAIRN_OK, "head");
	/* fails, so the transaction is aborted and COMMIT rolls back */
	cairn__pg_before_commit_sql = "SELECT 1/0";
	rc = cairn_append(st, "lost", CAIRN_NO_STREAM, &e, 1, NULL);
	cairn__pg_before_commit_sql = NULL;
	CHECK(cairn_head(st, &after) == CAIRN_OK, "head");
	CHECK(after == before, "the head moved: %llu -> %llu",
	      (unsigned long long)before, (unsigned long long)after);
	CHECK(rc != CAIRN_OK,
	      "an append whose COMMIT rolled back reported success");
	printf("COMMIT that rolled back: %s: %s\n", cairn_status_str(rc),
	       cairn_last_error());
	rc = cairn_append(st, "lost", CAIRN_NO_STREAM, &e, 1, NULL);
	CHECK(rc == CAIRN_OK, "the next append: %s: %s", cairn_status_str(rc),
	      cairn_last_error());
}

int
main(void)
{
	char uri[1024];
	cairn_store *st;
	char sep;

	base = getenv("CAIRN_PG_URI");
	if (base == NULL) {
		fprintf(stderr, "CAIRN_PG_URI is not set\n");
		return 77;
	}
	snprintf(app, sizeof(app), "cairn_reconnect_%ld", (long)getpid());
	sep = strchr(base, '?') ? '&' : '?';
	snprintf(uri, sizeof(uri),
	         "%s%cschema=reconnect_%ld&pool_size=4&application_name=%s",
	         base, sep, (long)getpid(), app);
	CHECK(cairn_open(uri, NULL, &st) == CAIRN_OK, "open: %s",
	      cairn_last_error());

	dead_connections(st, "with the idle check");
	cairn__pg_skip_idle_check = 1;
	dead_connections(st, "retry of the first statement");
	cairn__pg_skip_idle_check = 0;
	big_positions(st);
	limits(st);
	commit_rolled_back(st);
	cairn_close(st);
	printf("ok\n");
	return 0;
}
