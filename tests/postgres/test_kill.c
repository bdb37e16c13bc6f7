/*
 * test_kill.c -- an append whose connection is killed during COMMIT.
 *
 * The engine's test hook (src/backends/postgres_int.h) runs right before
 * the committing thread sends COMMIT; here it kills that connection's
 * server process with pg_terminate_backend() from another session and
 * waits until it is gone.  The append must fail with CAIRN_IO and a
 * message saying the outcome is unknown; retried with the same event
 * ids it must succeed and leave exactly one copy of each event, and a
 * third try must be recognised as a repeat (idempotent).
 */
#include "cairn.h"
#include "backends/postgres_int.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *base;
static int killed;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* Terminate the server process pid and wait until it is gone. */
static void
kill_backend(void *ctx, int pid)
{
	char num[16];
	const char *v[1] = {num};
	PGconn *db = PQconnectdb(base);
	PGresult *r;
	int i;

	(void)ctx;
	CHECK(PQstatus(db) == CONNECTION_OK, "connect: %s", PQerrorMessage(db));
	snprintf(num, sizeof(num), "%d", pid);
	r = PQexecParams(db, "SELECT pg_terminate_backend($1)", 1, NULL, v,
	                 NULL, NULL, 0);
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK &&
	              strcmp(PQgetvalue(r, 0, 0), "t") == 0,
	      "pg_terminate_backend(%d): %s", pid, PQerrorMessage(db));
	PQclear(r);
	for (i = 0; i < 500; i++) {
		r = PQexecParams(db,
		                 "SELECT 1 FROM pg_stat_activity WHERE "
		                 "pid = $1",
		                 1, NULL, v, NULL, NULL, 0);
		int gone = PQntuples(r) == 0;
		PQclear(r);
		if (gone)
			break;
		usleep(10000);
	}
	PQfinish(db);
	killed++;
}

static uint64_t
count_stream(cairn_store *st, const char *stream)
{
	cairn_iter *it;
	const cairn_event *e;
	uint64_t n = 0;

	CHECK(cairn_read_stream(st, stream, NULL, &it) == CAIRN_OK, "read");
	while (cairn_iter_next(it, &e) == CAIRN_ROW)
		n++;
	cairn_iter_free(it);
	return n;
}

int
main(void)
{
	char uri[1024];
	cairn_uuid ids[3];
	cairn_new_event evs[3];
	cairn_append_result res;
	cairn_store *st;
	cairn_status rc;
	uint64_t head = 0;
	int i;

	base = getenv("CAIRN_PG_URI");
	if (base == NULL) {
		fprintf(stderr, "CAIRN_PG_URI is not set\n");
		return 77;
	}
	snprintf(uri, sizeof(uri), "%s%cschema=kill_%ld", base,
	         strchr(base, '?') ? '&' : '?', (long)getpid());
	CHECK(cairn_open(uri, NULL, &st) == CAIRN_OK, "open: %s",
	      cairn_last_error());
	for (i = 0; i < 3; i++) {
		CHECK(cairn_uuid_generate(&ids[i]) == CAIRN_OK, "uuid");
		memset(&evs[i], 0, sizeof(evs[i]));
		evs[i].type = "Paid";
		evs[i].data = "{\"amount\":5}";
		evs[i].data_len = strlen(evs[i].data);
		evs[i].id = &ids[i];
	}
	/* something before, so the positions are not trivially 1.. */
	{
		cairn_new_event pre = evs[0];

		pre.id = NULL;
		CHECK(cairn_append(st, "other", CAIRN_ANY, &pre, 1, NULL) ==
		              CAIRN_OK,
		      "append: %s", cairn_last_error());
	}
	/* 1: killed during COMMIT: unknown outcome */
	cairn__pg_before_commit_hook = kill_backend;
	rc = cairn_append(st, "order-1", CAIRN_NO_STREAM, evs, 3, &res);
	cairn__pg_before_commit_hook = NULL;
	CHECK(killed == 1, "the hook ran %d times", killed);
	CHECK(rc == CAIRN_IO, "status %s, expected io: %s",
	      cairn_status_str(rc), cairn_last_error());
	CHECK(strstr(cairn_last_error(), "unknown") != NULL,
	      "the message does not say the outcome is unknown: %s",
	      cairn_last_error());
	printf("killed during COMMIT: %s: %s\n", cairn_status_str(rc),
	       cairn_last_error());

	/* 2: the retry with the same ids writes them once */
	rc = cairn_append(st, "order-1", CAIRN_NO_STREAM, evs, 3, &res);
	CHECK(rc == CAIRN_OK, "retry: %s: %s", cairn_status_str(rc),
	      cairn_last_error());
	printf("retry: positions %llu..%llu, idempotent %d\n",
	       (unsigned long long)res.first_position,
	       (unsigned long long)res.last_position, res.idempotent);
	CHECK(count_stream(st, "order-1") == 3, "the stream holds %llu events",
	      (unsigned long long)count_stream(st, "order-1"));

	/* 3: once more: a repeat, nothing written */
	rc = cairn_append(st, "order-1", CAIRN_NO_STREAM, evs, 3, &res);
	CHECK(rc == CAIRN_OK && res.idempotent == 1,
	      "second retry: %s idempotent %d", cairn_status_str(rc),
	      res.idempotent);
	CHECK(count_stream(st, "order-1") == 3, "duplicates after the repeat");
	CHECK(cairn_head(st, &head) == CAIRN_OK && head == 4,
	      "head %llu, expected 4", (unsigned long long)head);

	/* the pool replaced the killed connection: the store still works */
	evs[0].id = NULL;
	CHECK(cairn_append(st, "order-2", CAIRN_ANY, evs, 1, NULL) == CAIRN_OK,
	      "append after the kill: %s", cairn_last_error());
	cairn_close(st);
	printf("ok\n");
	return 0;
}
