/*
 * test_sqlite.c -- what only the sqlite engine promises, beyond the
 * conformance suite: several processes appending to one file, or
 * creating it at the same moment, a commit
 * in one process waking a subscriber in another, a read model's own
 * transaction moving a cursor, and the schema version check at open.
 *
 *     sqlite_test <base-dir>
 *
 * Each test works in a fresh directory under <base-dir>.  Child
 * processes are forked before any store is open in the parent (the
 * header forbids using a handle across fork()) and report through a
 * pipe; the parent makes every assertion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cairn.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Writer processes, and appends each makes per stream kind. */
#define NCHILDREN 2
#define NROUNDS 300

static const char *base_dir = "/tmp/cairn-sqlite-test";
static unsigned dir_counter;

/* A fresh directory for one test and the store URI in it. */
static void
fresh_store(char *dir, size_t dlen, char *uri, size_t ulen)
{
	char cmd[1200];

	snprintf(dir, dlen, "%s/%ld-%u", base_dir, (long)getpid(),
	         ++dir_counter);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(uri, ulen, "sqlite:%s/events.db", dir);
}

static void
remove_dir(const char *dir)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What one writer process saw. */
typedef struct child_report {
	uint64_t ok;        /* appends that returned CAIRN_OK */
	uint64_t events;    /* events they wrote */
	uint64_t conflicts; /* appends that returned CAIRN_CONFLICT */
	uint64_t other;     /* any other status: a failure */
	int other_status;
	char other_error[200];
} child_report;

static void
note(child_report *r, cairn_status rc, uint64_t nevents)
{
	if (rc == CAIRN_OK) {
		r->ok++;
		r->events += nevents;
	} else if (rc == CAIRN_CONFLICT) {
		r->conflicts++;
	} else if (r->other++ == 0) {
		r->other_status = (int)rc;
		snprintf(r->other_error, sizeof(r->other_error), "%s",
		         cairn_last_error());
	}
}

/*
 * One writer: per round, an append to its own stream at the exact
 * version it tracks (never contended), an append of two events to the
 * shared stream at the version it last saw (contended: OK or
 * CONFLICT), and one with CAIRN_ANY (always OK).
 */
static void
child_run(const char *uri, int id, int start_fd, int report_fd)
{
	child_report r;
	char own[32], data[64];
	cairn_store *st = NULL;
	cairn_new_event ev[2] = {CAIRN_NEW_EVENT_INIT, CAIRN_NEW_EVENT_INIT};
	cairn_append_result res;
	uint64_t mine = 0, shared = 0;
	cairn_status rc;
	char go;
	int i;

	memset(&r, 0, sizeof(r));
	snprintf(own, sizeof(own), "own-%d", id);
	if (read(start_fd, &go, 1) != 1)
		_exit(3);
	rc = cairn_open(uri, NULL, &st);
	if (rc != CAIRN_OK) {
		note(&r, rc, 0);
		goto out;
	}
	for (i = 0; i < NROUNDS; i++) {
		snprintf(data, sizeof(data), "{\"child\":%d,\"round\":%d}", id,
		         i);
		ev[0].type = ev[1].type = "Tick";
		ev[0].data = ev[1].data = data;
		ev[0].data_len = ev[1].data_len = strlen(data);

		rc = cairn_append(st, own, (int64_t)mine, ev, 1, &res);
		note(&r, rc, 1);
		if (rc == CAIRN_OK)
			mine = res.version;

		rc = cairn_append(st, "shared", (int64_t)shared, ev, 2, &res);
		note(&r, rc, 2);
		if (rc == CAIRN_OK)
			shared = res.version;
		else if (rc == CAIRN_CONFLICT)
			shared = res.conflict_actual;

		rc = cairn_append(st, "shared", CAIRN_ANY, ev, 1, &res);
		note(&r, rc, 1);
		if (rc == CAIRN_OK)
			shared = res.version;
	}
out:
	cairn_close(st);
	if (write(report_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(4);
	_exit(0);
}

/* Read $all and check positions 1..head, gapless, with every stream's
 * versions contiguous; returns the number of events. */
static uint64_t
check_log(cairn_store *st)
{
	cairn_iter *it;
	const cairn_event *e;
	uint64_t expect = 1, own[NCHILDREN] = {0}, shared = 0;
	cairn_status rc;
	int k;

	assert_int_equal(cairn_read_all(st, NULL, &it), CAIRN_OK);
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		assert_int_equal(e->position, expect);
		expect++;
		if (strcmp(e->stream, "shared") == 0) {
			assert_int_equal(e->version, ++shared);
			continue;
		}
		assert_int_equal(sscanf(e->stream, "own-%d", &k), 1);
		assert_true(k >= 0 && k < NCHILDREN);
		assert_int_equal(e->version, ++own[k]);
	}
	assert_int_equal(rc, CAIRN_DONE);
	cairn_iter_free(it);
	return expect - 1;
}

/* Two processes append to one file at once: every append succeeds or
 * conflicts cleanly (never CAIRN_IO, never a raw lock error), and the
 * log is gapless and holds exactly what succeeded. */
static void
test_two_processes_append(void **state)
{
	char dir[1024], uri[1100];
	int start[2], report[2];
	child_report r[NCHILDREN];
	pid_t pids[NCHILDREN];
	uint64_t events = 0, conflicts = 0, problems = 99;
	cairn_store *st;
	int i, status;

	(void)state;
	fresh_store(dir, sizeof(dir), uri, sizeof(uri));
	/* create the store first, so the children race on appends only */
	assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_OK);
	cairn_close(st);
	assert_int_equal(pipe(start), 0);
	assert_int_equal(pipe(report), 0);
	for (i = 0; i < NCHILDREN; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			child_run(uri, i, start[0], report[1]);
	}
	/* release them together */
	for (i = 0; i < NCHILDREN; i++)
		assert_int_equal(write(start[1], "g", 1), 1);
	for (i = 0; i < NCHILDREN; i++)
		assert_int_equal(read(report[0], &r[i], sizeof(r[i])),
		                 (ssize_t)sizeof(r[i]));
	for (i = 0; i < NCHILDREN; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(start[0]);
	close(start[1]);
	close(report[0]);
	close(report[1]);
	for (i = 0; i < NCHILDREN; i++) {
		if (r[i].other)
			print_error("child: %llu failures, first %s: %s\n",
			            (unsigned long long)r[i].other,
			            cairn_status_str(
			                    (cairn_status)r[i].other_status),
			            r[i].other_error);
		assert_int_equal(r[i].other, 0);
		assert_int_equal(r[i].ok + r[i].conflicts, 3 * NROUNDS);
		events += r[i].events;
		conflicts += r[i].conflicts;
	}
	printf("[     INFO ] %d processes: %llu events, %llu conflicts\n",
	       NCHILDREN, (unsigned long long)events,
	       (unsigned long long)conflicts);

	assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_OK);
	assert_int_equal(check_log(st), events);
	uint64_t head = 0;
	assert_int_equal(cairn_head(st, &head), CAIRN_OK);
	assert_int_equal(head, events);
	for (i = 0; i < NCHILDREN; i++) {
		char own[32];
		uint64_t v = 0;

		snprintf(own, sizeof(own), "own-%d", i);
		assert_int_equal(cairn_stream_version(st, own, &v), CAIRN_OK);
		assert_int_equal(v, NROUNDS);
	}
	assert_int_equal(cairn_verify(st, NULL, NULL, &problems), CAIRN_OK);
	assert_int_equal(problems, 0);
	cairn_close(st);
	remove_dir(dir);
}

/* Processes that create the same new store at the same moment all open
 * it: switching a new file to WAL answered SQLITE_BUSY at once, without
 * the busy handler, and about one open in ten failed (found by
 * tests/crash).  CREATE_ROUNDS fresh stores, two processes each,
 * released together. */
#define CREATE_ROUNDS 100

static void
test_processes_create_together(void **state)
{
	char dir[1024], uri[1100], msg[256];
	int start[2], report[2], i, k, status, failures = 0;
	pid_t pids[NCHILDREN];
	cairn_store *st;
	uint64_t head;

	(void)state;
	for (i = 0; i < CREATE_ROUNDS; i++) {
		fresh_store(dir, sizeof(dir), uri, sizeof(uri));
		assert_int_equal(pipe(start), 0);
		assert_int_equal(pipe(report), 0);
		for (k = 0; k < NCHILDREN; k++) {
			pids[k] = fork();
			assert_true(pids[k] >= 0);
			if (pids[k] == 0) {
				char go;
				cairn_status rc;

				memset(msg, 0, sizeof(msg));
				if (read(start[0], &go, 1) != 1)
					_exit(2);
				rc = cairn_open(uri, NULL, &st);
				if (rc == CAIRN_OK)
					cairn_close(st);
				else
					snprintf(msg, sizeof(msg), "%s: %s",
					         cairn_status_str(rc),
					         cairn_last_error());
				if (write(report[1], msg, sizeof(msg)) !=
				    (ssize_t)sizeof(msg))
					_exit(2);
				_exit(0);
			}
		}
		for (k = 0; k < NCHILDREN; k++)
			assert_int_equal(write(start[1], "g", 1), 1);
		for (k = 0; k < NCHILDREN; k++) {
			assert_int_equal(read(report[0], msg, sizeof(msg)),
			                 (ssize_t)sizeof(msg));
			if (msg[0] != 0 && failures++ == 0)
				print_error("round %d: %s\n", i, msg);
		}
		for (k = 0; k < NCHILDREN; k++) {
			assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
			assert_true(WIFEXITED(status) &&
			            WEXITSTATUS(status) == 0);
		}
		close(start[0]);
		close(start[1]);
		close(report[0]);
		close(report[1]);
		/* the store they made is a store */
		assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_OK);
		assert_int_equal(cairn_head(st, &head), CAIRN_OK);
		assert_int_equal(head, 0);
		cairn_close(st);
		remove_dir(dir);
	}
	printf("[     INFO ] %d stores created by %d processes at once, %d "
	       "failed opens\n",
	       CREATE_ROUNDS, NCHILDREN, failures);
	assert_int_equal(failures, 0);
}

/* A commit in another process wakes a waiting subscriber at once
 * through the notifier file, not at its one-second safety poll. */
static void
test_commit_in_other_process_wakes_subscriber(void **state)
{
	char dir[1024], uri[1100];
	int go[2], done[2];
	cairn_store *st;
	cairn_sub *sub;
	cairn_sub_opts so;
	const cairn_event *batch;
	size_t n;
	double committed = 0, woke;
	pid_t pid;
	int status;

	(void)state;
	fresh_store(dir, sizeof(dir), uri, sizeof(uri));
	assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_OK);
	cairn_close(st);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cairn_store *cst;
		cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
		char c;
		double t;

		if (read(go[0], &c, 1) != 1)
			_exit(3);
		if (cairn_open(uri, NULL, &cst) != CAIRN_OK)
			_exit(4);
		usleep(200000); /* the parent is asleep in cairn_sub_next */
		ev.type = "Woke";
		if (cairn_append(cst, "wake", CAIRN_ANY, &ev, 1, NULL) !=
		    CAIRN_OK)
			_exit(5);
		t = now_s();
		if (write(done[1], &t, sizeof(t)) != (ssize_t)sizeof(t))
			_exit(6);
		cairn_close(cst);
		_exit(0);
	}
	assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_OK);
	cairn_sub_opts_init(&so);
	so.start = CAIRN_SUB_END;
	assert_int_equal(cairn_subscribe(st, &so, &sub), CAIRN_OK);
	assert_int_equal(cairn_sub_next(sub, 0, &batch, &n), CAIRN_TIMEOUT);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(cairn_sub_next(sub, 5000, &batch, &n), CAIRN_ROW);
	woke = now_s();
	assert_int_equal(n, 1);
	assert_string_equal(batch[0].type, "Woke");
	assert_int_equal(read(done[0], &committed, sizeof(committed)),
	                 (ssize_t)sizeof(committed));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("[     INFO ] woken %.1f ms after the other process's "
	       "commit returned\n",
	       (woke - committed) * 1e3);
	/* the safety poll is 1 s: well under it means the bump woke us */
	assert_true(woke - committed < 0.3);
	cairn_sub_close(sub);
	cairn_close(st);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	remove_dir(dir);
}

/* Exactly-once projections (docs/schema-sqlite.md): a read model in the
 * same database moves its cursor row in its own transaction, and the
 * store sees the move; a stale compare-and-set changes nothing. */
static void
test_read_model_transaction_moves_cursor(void **state)
{
	char dir[1024], uri[1100], path[1100];
	cairn_store *st;
	cairn_sub_info info;
	sqlite3 *db;
	sqlite3_stmt *s;

	(void)state;
	fresh_store(dir, sizeof(dir), uri, sizeof(uri));
	snprintf(path, sizeof(path), "%s/events.db", dir);
	assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_OK);
	for (int i = 0; i < 5; i++) {
		cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
		ev.type = "Deposited";
		assert_int_equal(
		        cairn_append(st, "acct", CAIRN_ANY, &ev, 1, NULL),
		        CAIRN_OK);
	}
	assert_int_equal(cairn_subs_reset(st, "balances", 0), CAIRN_OK);

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db,
	                              "CREATE TABLE balances (account TEXT "
	                              "PRIMARY KEY, amount INTEGER)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "INSERT INTO balances VALUES "
	                              "('acct', 5)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "UPDATE cursors SET position = ?1, "
	                                    "updated_ns = ?2 WHERE name = ?3 "
	                                    "AND position = ?4",
	                                    -1, &s, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(s, 1, 5);
	sqlite3_bind_int64(s, 2, 1);
	sqlite3_bind_text(s, 3, "balances", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, 0);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(cairn_subs_get(st, "balances", &info), CAIRN_OK);
	assert_int_equal(info.position, 5);

	/* a second delivery of the same batch: the guard refuses it */
	sqlite3_reset(s);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 0);
	sqlite3_finalize(s);
	sqlite3_close(db);

	/* and a subscription under the name resumes after it */
	cairn_sub_opts so;
	cairn_sub *sub;
	const cairn_event *batch;
	size_t n;
	cairn_sub_opts_init(&so);
	so.name = "balances";
	assert_int_equal(cairn_subscribe(st, &so, &sub), CAIRN_OK);
	assert_int_equal(cairn_sub_next(sub, 0, &batch, &n), CAIRN_TIMEOUT);
	cairn_sub_close(sub);
	cairn_close(st);
	remove_dir(dir);
}

/* Run one constant SQL text on the file at path. */
static void
exec_on(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* The schema version is checked at open: a newer one, another
 * application's database and a file that is not SQLite are refused with
 * CAIRN_CORRUPT and a sentence; the store's tables are plain SQL. */
static void
test_schema_checked_at_open(void **state)
{
	char dir[1024], uri[1100], path[1100], other[1100];
	cairn_store *st = NULL;
	FILE *f;

	(void)state;
	fresh_store(dir, sizeof(dir), uri, sizeof(uri));
	snprintf(path, sizeof(path), "%s/events.db", dir);
	assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_OK);
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	const char *tags[] = {"q\"uote", "back\\slash"};
	ev.type = "T";
	ev.data = "{}";
	ev.data_len = 2;
	ev.tags = tags;
	ev.ntags = 2;
	assert_int_equal(cairn_append(st, "s-1", CAIRN_NO_STREAM, &ev, 1, NULL),
	                 CAIRN_OK);
	cairn_close(st);

	/* the tags column is JSON the sqlite3 shell's functions read */
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	        sqlite3_prepare_v2(db,
	                           "SELECT group_concat(j.value, '|') "
	                           "FROM events, json_each(events.tags) "
	                           "j WHERE stream = 's-1'",
	                           -1, &s, NULL),
	        SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0),
	                    "q\"uote|back\\slash");
	sqlite3_finalize(s);
	sqlite3_close(db);

	exec_on(path, "PRAGMA user_version = 99");
	assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_CORRUPT);
	assert_non_null(strstr(cairn_last_error(), "newer"));
	exec_on(path, "PRAGMA user_version = 1");
	assert_int_equal(cairn_open(uri, NULL, &st), CAIRN_OK);
	cairn_close(st);

	snprintf(other, sizeof(other), "sqlite:%s/other.db", dir);
	snprintf(path, sizeof(path), "%s/other.db", dir);
	exec_on(path, "CREATE TABLE t (x)");
	assert_int_equal(cairn_open(other, NULL, &st), CAIRN_CORRUPT);
	assert_non_null(strstr(cairn_last_error(), "not a cairn store"));

	snprintf(other, sizeof(other), "sqlite:%s/garbage.db", dir);
	snprintf(path, sizeof(path), "%s/garbage.db", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 512; i++)
		fputs("not a database at all ", f);
	fclose(f);
	assert_int_equal(cairn_open(other, NULL, &st), CAIRN_CORRUPT);
	assert_true(strlen(cairn_last_error()) > 0);

	cairn_options o;
	cairn_options_init(&o);
	o.read_only = 1;
	snprintf(other, sizeof(other), "sqlite:%s/missing.db", dir);
	assert_int_equal(cairn_open(other, &o, &st), CAIRN_NOT_FOUND);
	remove_dir(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_two_processes_append),
	        cmocka_unit_test(test_processes_create_together),
	        cmocka_unit_test(test_commit_in_other_process_wakes_subscriber),
	        cmocka_unit_test(test_read_model_transaction_moves_cursor),
	        cmocka_unit_test(test_schema_checked_at_open),
	};
	char cmd[1200];
	int failed;

	if (argc >= 2 && argv[1][0] != '\0')
		base_dir = argv[1];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", base_dir);
	if (system(cmd) != 0)
		return 2;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed == 0 ? 0 : 1;
}
