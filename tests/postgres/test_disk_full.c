/*
 * test_disk_full.c -- I/O faults of the PostgreSQL server under a store:
 * a full disk, a server crash during COMMIT, a WAL that cannot grow.
 *
 * Runs against its own private cluster (the postgres_full fixture),
 * which scripts/pg-test-cluster.sh starts under a file-size limit
 * (RLIMIT_FSIZE) above the 16 MiB of a WAL segment and below what the
 * test writes: PostgreSQL ignores SIGXFSZ, so a table file that reaches
 * the limit fails to grow with EFBIG exactly as it would with ENOSPC on
 * a full disk ("could not extend file").  The test restarts and crashes
 * that cluster through the script (restart, crash), so it must not share
 * it with other tests.
 *
 *   A  disk full: appends of every kind (single stream, multi-stream,
 *      conditional, and conflicting ones that must write nothing), with
 *      payloads of 64..448 KiB of random bytes (TOAST cannot compress
 *      them), until one fails.  It must fail with CAIRN_IO and a message
 *      that carries the server's complaint; the same handle must still
 *      read, byte for byte, and the failed append must be absent.  Then
 *      the server is restarted without the limit, and the same handle
 *      must work at once (its pooled connections were to the old server).
 *   B  crash during COMMIT, after the commit record reached the WAL: the
 *      engine's before-COMMIT hook makes the server wait for a
 *      synchronous standby that does not exist (synchronous_standby_names),
 *      so the COMMIT is written and flushed locally and then hangs; a
 *      watcher sees the wait in pg_stat_activity and crashes the server
 *      (immediate shutdown).  The append must fail with CAIRN_IO saying
 *      the outcome is unknown; after the restart (crash recovery) the
 *      same handle must find the events committed, and the retry with
 *      the same ids must be recognised as a repeat (nothing written).
 *   C  the WAL cannot grow: the server is restarted with a limit of
 *      8 MiB, below a WAL segment, in a fresh WAL segment; appends go on
 *      until the server PANICs ("could not write to log file"; it cannot
 *      even finish crash recovery under the limit).  The append must fail
 *      with CAIRN_IO; after a restart without the limit the same handle
 *      retries it with the same ids: exactly one copy.
 *
 * Every acknowledged event (and every id that must be absent) goes to an
 * ack file.  At the end a fresh process (this program, --check) opens the
 * stores anew and checks them: cairn_verify() finds nothing, every
 * acknowledged event is there exactly once at its stream, version and
 * position with its bytes, nothing unacknowledged is there (an append of
 * unknown outcome must be whole or absent), and new appends work.
 *
 *   pg_disk_full_test SCRIPT DIR     (CAIRN_PG_URI set by "SCRIPT run DIR")
 *   pg_disk_full_test --check ACKS
 *
 * CAIRN_PG_FAULT_ROUNDS=N repeats the three phases N times (default 2,
 * about 4 s each).  CAIRN_PG_FAULT_ASYNC_COMMIT=1 shows that the check is
 * real: it turns synchronous_commit off, appends, crashes the server, and
 * the run must then fail with acknowledged events missing.
 *
 * Links cairn_internal for the test hook in src/backends/postgres_int.h.
 */
#include "cairn.h"
#include "backends/postgres_int.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The fixture's file-size limit (tests/postgres/CMakeLists.txt), set
 * again for phase A of every round after the first. */
#define FULL_LIMIT_BYTES (24u << 20)
/* Rounds of the three phases at most (CAIRN_PG_FAULT_ROUNDS). */
#define MAX_ROUNDS 100
/* Appends not acknowledged (rejected, failed), over every round. */
#define MAX_GROUPS (MAX_ROUNDS * 256)
/* The file-size limit of phase C: below a 16 MiB WAL segment, so that
 * WAL writes past it fail. */
#define WAL_LIMIT_BYTES (8u << 20)
/* What phase A and C may write before they give up on the limit: far
 * beyond the limits the fixture and phase C set. */
#define FILL_CAP_BYTES ((size_t)96 << 20)
/* Phase C leaves this much room in the WAL segment below the limit,
 * advancing in steps of WAL_STEP. */
#define WAL_HEADROOM (2u << 20)
#define WAL_STEP (256l << 10)
/* Payload sizes of the big events, in bytes. */
#define PAYLOAD_MIN (64u << 10)
#define PAYLOAD_MAX (448u << 10)
/* A conflicting append's payload (it writes nothing anyway). */
#define PAYLOAD_SMALL 1024u
#define META_LEN 32
#define MAX_EV 4
#define MAX_STREAMS 32
/* How long the watcher of phase B waits for the COMMIT to hang. */
#define SYNCREP_WAIT_MS 10000
/* The standby name nobody has: COMMITs wait for it forever. */
#define NO_STANDBY "cairn_no_standby"

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			exit(1);                                               \
		}                                                              \
	} while (0)

static const char *base;   /* CAIRN_PG_URI */
static const char *script; /* scripts/pg-test-cluster.sh */
static const char *cdir;   /* the cluster's directory */
static FILE *acks;
static uint64_t rng_state;
static unsigned faults, groups;
/* Figures: failures seen, by kind. */
static unsigned n_full, n_commit_crash, n_wal_panic, n_unknown,
        n_unknown_committed;

/* ---- small helpers ---- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* The bytes of an event are a function of its id (and salt: 0 data,
 * 1 metadata), so that the checking process can rebuild them. */
static void
fill(const cairn_uuid *id, unsigned salt, unsigned char *buf, size_t len)
{
	uint64_t x = 0xcbf29ce484222325ull + salt;
	size_t i;

	for (i = 0; i < sizeof(id->bytes); i++)
		x = (x ^ id->bytes[i]) * 0x100000001b3ull;
	x |= 1;
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 29);
	}
}

static void
hex_id(const cairn_uuid *id, char out[33])
{
	size_t i;

	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", id->bytes[i]);
}

static int
parse_hex_id(const char *s, cairn_uuid *id)
{
	unsigned v;
	size_t i;

	if (strlen(s) != 32)
		return -1;
	for (i = 0; i < 16; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		id->bytes[i] = (uint8_t)v;
	}
	return 0;
}

/* Run "sh SCRIPT verb DIR [--fsize-limit N]"; its exit status. */
static int
run_script(const char *verb, unsigned limit)
{
	char num[24];
	pid_t pid;
	int status;

	snprintf(num, sizeof(num), "%u", limit);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (limit)
			execlp("sh", "sh", script, verb, cdir, "--fsize-limit",
			       num, (char *)NULL);
		else
			execlp("sh", "sh", script, verb, cdir, (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* One statement on a new connection to the cluster (not the store's);
 * the first value of its result, or "" ("?" when it failed). */
static void
admin(const char *sql, char *out, size_t len)
{
	PGconn *db = PQconnectdb(base);
	PGresult *r;

	snprintf(out, len, "?");
	if (PQstatus(db) == CONNECTION_OK) {
		r = PQexec(db, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
			snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
		else if (PQresultStatus(r) == PGRES_COMMAND_OK)
			snprintf(out, len, "%s", "");
		else
			fprintf(stderr, "admin: %s: %s", sql,
			        PQerrorMessage(db));
		PQclear(r);
	}
	PQfinish(db);
}

static void
store_uri(const char *schema, char *out, size_t len)
{
	snprintf(out, len, "%s%cschema=%s", base, strchr(base, '?') ? '&' : '?',
	         schema);
}

/* ---- appends, as the writing process sees them ---- */

enum kind { K_SINGLE, K_MULTI, K_COND, K_SINGLE2, K_CONFLICT, K_KINDS };

/* A schema's store and what the test knows of it. */
typedef struct store {
	cairn_store *st;
	int idx; /* its number in the ack file */
	struct {
		char name[32];
		uint64_t version;
	} streams[MAX_STREAMS];
	size_t nstreams;
	uint64_t last_position; /* of the last acknowledged event */
	unsigned appends, events;
	uint64_t bytes;
	char uri[1024];
} store;

/* One append, kept whole so that it can be sent again as it was. */
typedef struct pending {
	enum kind kind;
	size_t nwrites, nev;
	cairn_write w[2];
	size_t wof[MAX_EV]; /* which write each event belongs to */
	cairn_new_event ev[MAX_EV];
	cairn_uuid ids[MAX_EV];
	unsigned char *data[MAX_EV];
	unsigned char meta[MAX_EV][META_LEN];
	char tag[16];
	const char *tags[1];
	const char *qtypes[1];
	cairn_query_item item;
	cairn_query q;
	uint64_t after;
} pending;

static uint64_t *
version_of(store *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nstreams; i++)
		if (strcmp(s->streams[i].name, name) == 0)
			return &s->streams[i].version;
	CHECK(s->nstreams < MAX_STREAMS, "too many streams");
	snprintf(s->streams[i].name, sizeof(s->streams[i].name), "%s", name);
	s->streams[i].version = 0;
	s->nstreams++;
	return &s->streams[i].version;
}

static void
pending_free(pending *p)
{
	size_t i;

	for (i = 0; i < p->nev; i++)
		free(p->data[i]);
	memset(p, 0, sizeof(*p));
}

/* Give the next event of p (type, size) to write wi. */
static void
add_event(pending *p, size_t wi, const char *type, size_t len)
{
	size_t k = p->nev++;
	cairn_new_event *e = &p->ev[k];

	CHECK(cairn_uuid_generate(&p->ids[k]) == CAIRN_OK, "uuid");
	p->data[k] = malloc(len ? len : 1);
	CHECK(p->data[k] != NULL, "out of memory");
	fill(&p->ids[k], 0, p->data[k], len);
	fill(&p->ids[k], 1, p->meta[k], META_LEN);
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->data = p->data[k];
	e->data_len = len;
	e->metadata = p->meta[k];
	e->metadata_len = META_LEN;
	e->id = &p->ids[k];
	if (p->kind == K_COND || p->kind == K_CONFLICT) {
		e->tags = p->tags;
		e->ntags = 1;
	}
	p->wof[k] = wi;
}

static size_t
big(void)
{
	return PAYLOAD_MIN + (size_t)(rnd() % (PAYLOAD_MAX - PAYLOAD_MIN + 1));
}

/*
 * Plan append number k of kind k % K_KINDS: single (1-2 events at the
 * stream's exact version), multi (two streams, exact versions),
 * conditional (no "Cond" event with its tag after the last position the
 * test saw: holds, since only the test writes), and a conflict, which
 * alternates between a wrong expected version and a failing condition.
 */
static void
plan(store *s, unsigned k, pending *p)
{
	char name[2][32];
	size_t i, n;

	memset(p, 0, sizeof(*p));
	p->kind = (enum kind)(k % K_KINDS);
	snprintf(p->tag, sizeof(p->tag), "c-%u", k % 4);
	p->tags[0] = p->tag;
	switch (p->kind) {
	case K_SINGLE:
	case K_SINGLE2:
		snprintf(name[0], sizeof(name[0]), "s-%u", k % 7);
		p->nwrites = 1;
		n = 1 + (size_t)(rnd() % 2);
		for (i = 0; i < n; i++)
			add_event(p, 0, "Single", big());
		break;
	case K_MULTI:
		snprintf(name[0], sizeof(name[0]), "m-a-%u", k % 3);
		snprintf(name[1], sizeof(name[1]), "m-b-%u", k % 3);
		p->nwrites = 2;
		add_event(p, 0, "Multi", big());
		add_event(p, 1, "Multi", big());
		break;
	case K_COND:
		snprintf(name[0], sizeof(name[0]), "%s", p->tag);
		p->nwrites = 1;
		add_event(p, 0, "Cond", big());
		p->after = s->last_position;
		break;
	default: /* K_CONFLICT */
		snprintf(name[0], sizeof(name[0]), "%s", p->tag);
		p->nwrites = 1;
		add_event(p, 0, "Cond", PAYLOAD_SMALL);
		/* a condition that fails when a Cond event with this tag
		 * exists; a wrong version otherwise */
		p->after = 0;
		break;
	}
	for (i = 0; i < p->nwrites; i++) {
		size_t j, first = p->nev, cnt = 0;

		for (j = 0; j < p->nev; j++)
			if (p->wof[j] == i) {
				first = j < first ? j : first;
				cnt++;
			}
		p->w[i].stream = strdup(name[i]);
		CHECK(p->w[i].stream != NULL, "out of memory");
		p->w[i].expected = (int64_t)*version_of(s, name[i]);
		p->w[i].events = &p->ev[first];
		p->w[i].nevents = cnt;
	}
	if (p->kind == K_CONFLICT && *version_of(s, name[0]) == 0)
		p->w[0].expected = 5; /* no such version: a conflict */
	p->qtypes[0] = "Cond";
	p->item.types = p->qtypes;
	p->item.ntypes = 1;
	p->item.tags = p->tags;
	p->item.ntags = 1;
	p->q.items = &p->item;
	p->q.nitems = 1;
}

static void
plan_free(pending *p)
{
	size_t i;

	for (i = 0; i < p->nwrites; i++)
		free((char *)p->w[i].stream);
	pending_free(p);
}

static cairn_status
submit(store *s, pending *p, cairn_append_result *res)
{
	memset(res, 0, sizeof(*res));
	if (p->kind == K_COND || p->kind == K_CONFLICT)
		return cairn_append_if(s->st, &p->q, p->after, p->w, p->nwrites,
		                       res);
	if (p->kind == K_MULTI)
		return cairn_append_multi(s->st, p->w, p->nwrites, res);
	return cairn_append(s->st, p->w[0].stream, p->w[0].expected,
	                    p->w[0].events, p->w[0].nevents, res);
}

/* Record p as acknowledged with res: one A line per event, and move the
 * test's idea of the streams' versions. */
static void
ack(store *s, pending *p, const cairn_append_result *res)
{
	char id[33];
	size_t wi, j, k = 0;

	CHECK(res->last_position - res->first_position + 1 == p->nev,
	      "acknowledged positions %" PRIu64 "..%" PRIu64 " for %zu "
	      "events",
	      res->first_position, res->last_position, p->nev);
	for (wi = 0; wi < p->nwrites; wi++) {
		uint64_t *v = version_of(s, p->w[wi].stream);

		for (j = 0; j < p->w[wi].nevents; j++, k++) {
			hex_id(&p->ids[k], id);
			fprintf(acks,
			        "A %d %s %" PRIu64 " %" PRIu64 " %s %s %zu\n",
			        s->idx, p->w[wi].stream, *v + j + 1,
			        res->first_position + k, p->ev[k].type, id,
			        p->ev[k].data_len);
			s->bytes += p->ev[k].data_len;
		}
		*v += p->w[wi].nevents;
	}
	s->last_position = res->last_position;
	s->appends++;
	s->events += (unsigned)p->nev;
	fflush(acks);
}

/* Record p's ids as ones that must not be in the store (X), or, for an
 * append of unknown outcome, as a group that must be whole or absent
 * (U) unless a later A line acknowledges them. */
static void
not_acked(store *s, pending *p, bool unknown)
{
	char id[33];
	size_t k;

	groups++;
	for (k = 0; k < p->nev; k++) {
		hex_id(&p->ids[k], id);
		if (unknown)
			fprintf(acks, "U %d %u %s\n", s->idx, groups, id);
		else
			fprintf(acks, "X %d %s\n", s->idx, id);
	}
	fflush(acks);
}

static void
open_store(store *s, int idx, const char *schema)
{
	char uri[1024];

	memset(s, 0, sizeof(*s));
	s->idx = idx;
	store_uri(schema, uri, sizeof(uri));
	snprintf(s->uri, sizeof(s->uri), "%s", uri);
	CHECK(cairn_open(uri, NULL, &s->st) == CAIRN_OK, "open %s: %s", uri,
	      cairn_last_error());
	fprintf(acks, "S %d %s\n", idx, uri);
	fflush(acks);
}

/*
 * Append plans k = *k, *k + 1, ... until one fails with something other
 * than the conflict a K_CONFLICT must get; acknowledge the rest.  The
 * failed append is left in *failed with its status, for the caller.
 */
static cairn_status
fill_until_failure(store *s, unsigned *k, pending *failed)
{
	cairn_append_result res;
	cairn_status rc;

	for (;; (*k)++) {
		plan(s, *k, failed);
		rc = submit(s, failed, &res);
		if (failed->kind == K_CONFLICT) {
			CHECK(rc == CAIRN_CONFLICT || rc == CAIRN_IO,
			      "conflicting append: %s: %s",
			      cairn_status_str(rc), cairn_last_error());
			if (rc == CAIRN_IO)
				return rc;
			not_acked(s, failed, false);
			plan_free(failed);
			continue;
		}
		if (rc != CAIRN_OK)
			return rc;
		ack(s, failed, &res);
		CHECK(s->bytes < FILL_CAP_BYTES,
		      "no failure after %" PRIu64 " bytes: is the server "
		      "under a file-size limit (--fsize-limit)?",
		      s->bytes);
		plan_free(failed);
	}
}

/* The number of events of stream, or UINT64_MAX when the read fails. */
static uint64_t
stream_count(store *s, const char *stream)
{
	cairn_iter *it;
	const cairn_event *e;
	cairn_status rc;
	uint64_t n = 0;

	rc = cairn_read_stream(s->st, stream, NULL, &it);
	if (rc == CAIRN_OK) {
		while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
			n++;
		cairn_iter_free(it);
	}
	return rc == CAIRN_DONE ? n : UINT64_MAX;
}

/* Read the whole store on s's handle: as many events as acknowledged,
 * each with the bytes its id stands for.  The number of bytes read. */
static uint64_t
read_back(store *s)
{
	unsigned char *buf = malloc(PAYLOAD_MAX);
	cairn_iter *it;
	const cairn_event *e;
	cairn_status rc;
	uint64_t n = 0, bytes = 0;

	CHECK(buf != NULL, "out of memory");
	CHECK(cairn_read_all(s->st, NULL, &it) == CAIRN_OK, "read_all: %s",
	      cairn_last_error());
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		CHECK(e->data_len <= PAYLOAD_MAX, "event of %zu bytes",
		      e->data_len);
		fill(&e->id, 0, buf, e->data_len);
		CHECK(memcmp(buf, e->data, e->data_len) == 0,
		      "event at %" PRIu64 " reads other bytes", e->position);
		bytes += e->data_len;
		n++;
	}
	cairn_iter_free(it);
	CHECK(rc == CAIRN_DONE, "read_all: %s: %s", cairn_status_str(rc),
	      cairn_last_error());
	CHECK(n == s->events, "%" PRIu64 " events read, %u acknowledged", n,
	      s->events);
	free(buf);
	return bytes;
}

/* Whether the ids of p are in the store, every one (1), none (0), or
 * some (-1); read through the stream of each write. */
static int
presence(store *s, pending *p)
{
	size_t wi, j, k = 0, found = 0;

	for (wi = 0; wi < p->nwrites; wi++) {
		cairn_iter *it;
		const cairn_event *e;

		CHECK(cairn_read_stream(s->st, p->w[wi].stream, NULL, &it) ==
		              CAIRN_OK,
		      "read %s: %s", p->w[wi].stream, cairn_last_error());
		while (cairn_iter_next(it, &e) == CAIRN_ROW)
			for (j = 0; j < p->nev; j++)
				found += memcmp(&e->id, &p->ids[j],
				                sizeof(e->id)) == 0;
		cairn_iter_free(it);
		k += p->w[wi].nevents;
	}
	return found == 0 ? 0 : found == k ? 1 : -1;
}

/* ---- phase B: a COMMIT that hangs after its WAL flush, then a crash ---- */

static struct {
	int pid;
	int saw_wait; /* the backend waited in SyncRep */
	int crashed;
	pthread_t thread;
} hang;

/* Watch the committing backend until it waits for the standby, then
 * take the standby setting back out of postgresql.auto.conf (so the
 * restarted server commits normally) and crash the server. */
static void *
watcher(void *arg)
{
	char num[16], sql[160], out[64];
	int waited;

	(void)arg;
	snprintf(num, sizeof(num), "%d", hang.pid);
	snprintf(sql, sizeof(sql),
	         "SELECT coalesce(wait_event, '') FROM pg_stat_activity "
	         "WHERE pid = %d",
	         hang.pid);
	for (waited = 0; waited < SYNCREP_WAIT_MS; waited += 20) {
		admin(sql, out, sizeof(out));
		if (strcmp(out, "SyncRep") == 0) {
			hang.saw_wait = 1;
			break;
		}
		usleep(20000);
	}
	admin("ALTER SYSTEM RESET synchronous_standby_names", out, sizeof(out));
	if (hang.saw_wait) {
		hang.crashed = run_script("crash", 0) == 0;
	} else {
		/* let the COMMIT finish rather than hang the test */
		admin("SELECT pg_reload_conf()", out, sizeof(out));
	}
	return NULL;
}

/* The before-COMMIT hook: make COMMITs wait for a standby nobody has,
 * wait until the server has taken the setting, start the watcher. */
static void
hang_commit(void *ctx, int pid)
{
	char out[64];
	int i;

	(void)ctx;
	cairn__pg_before_commit_hook = NULL;
	hang.pid = pid;
	admin("ALTER SYSTEM SET synchronous_standby_names = '" NO_STANDBY "'",
	      out, sizeof(out));
	admin("SELECT pg_reload_conf()", out, sizeof(out));
	/* a new session sees the setting once the postmaster has reloaded
	 * it and signalled every process; give the checkpointer (which
	 * publishes "standbys defined" to committing backends) a moment */
	for (i = 0; i < 250; i++) {
		admin("SHOW synchronous_standby_names", out, sizeof(out));
		if (strcmp(out, NO_STANDBY) == 0)
			break;
		usleep(20000);
	}
	usleep(300000);
	CHECK(pthread_create(&hang.thread, NULL, watcher, NULL) == 0,
	      "pthread_create");
}

/* ---- the writing process ---- */

static void
restart(unsigned limit)
{
	double t = now_s();

	CHECK(run_script("restart", limit) == 0, "restart of the cluster "
	                                         "failed");
	printf("  restarted (limit %u) in %.2f s\n", limit, now_s() - t);
}

/* Phase A: fill the tables until the file-size limit stops them. */
static void
phase_disk_full(store *s, unsigned *k)
{
	cairn_append_result res;
	pending failed;
	cairn_status rc;
	uint64_t head = 0, n;
	double t = now_s();
	const char *msg;

	rc = fill_until_failure(s, k, &failed);
	msg = cairn_last_error();
	faults++;
	n_full++;
	printf("A disk full: %u appends (%u events, %.1f MiB) acknowledged, "
	       "then %s: %s\n",
	       s->appends, s->events, (double)s->bytes / (1 << 20),
	       cairn_status_str(rc), msg);
	CHECK(rc == CAIRN_IO, "a full disk must fail with CAIRN_IO, not %s",
	      cairn_status_str(rc));
	CHECK(strstr(msg, "could not extend") != NULL ||
	              strstr(msg, "No space") != NULL ||
	              strstr(msg, "File too large") != NULL,
	      "the message does not carry the server's complaint: %s", msg);
	CHECK(strstr(msg, "unknown") == NULL,
	      "a statement's failure, not the commit's: %s", msg);
	not_acked(s, &failed, false);
	/* the same handle still reads, and the failed append is absent */
	CHECK(cairn_head(s->st, &head) == CAIRN_OK && head == s->last_position,
	      "head %" PRIu64 ", last acknowledged %" PRIu64 ": %s", head,
	      s->last_position, cairn_last_error());
	CHECK(presence(s, &failed) == 0, "the failed append is (partly) "
	                                 "there");
	printf("  the same handle reads back %.1f MiB, byte for byte\n",
	       (double)read_back(s) / (1 << 20));
	n = stream_count(s, failed.w[0].stream);
	CHECK(n == *version_of(s, failed.w[0].stream),
	      "stream %s holds %" PRIu64 " events", failed.w[0].stream, n);
	/* the same handle, the same kind of append, still full: it fails
	 * the same way (the big values no longer fit) */
	rc = submit(s, &failed, &res);
	faults++;
	n_full++;
	CHECK(rc == CAIRN_IO, "append to a full disk again: %s: %s",
	      cairn_status_str(rc), cairn_last_error());
	plan_free(&failed);
	(*k)++;
	/* the disk is freed (the limit goes) */
	restart(0);
	CHECK(cairn_head(s->st, &head) == CAIRN_OK && head == s->last_position,
	      "the same handle after the restart: %s", cairn_last_error());
	printf("  same handle after the restart: head %" PRIu64 " (%.1f s)\n",
	       head, now_s() - t);
}

/* Phase B: a crash while COMMIT waits after its flush. */
static void
phase_commit_crash(store *s, unsigned *k)
{
	cairn_append_result res;
	pending p;
	cairn_status rc;
	double t = now_s();
	int there;

	plan(s, *k, &p);
	while (p.kind == K_CONFLICT) {
		plan_free(&p);
		plan(s, ++*k, &p);
	}
	(*k)++;
	memset(&hang, 0, sizeof(hang));
	cairn__pg_before_commit_hook = hang_commit;
	rc = submit(s, &p, &res);
	cairn__pg_before_commit_hook = NULL;
	pthread_join(hang.thread, NULL);
	faults++;
	n_commit_crash++;
	printf("B crash during COMMIT: %s: %s\n", cairn_status_str(rc),
	       cairn_last_error());
	CHECK(hang.saw_wait && hang.crashed,
	      "setup: the COMMIT did not wait for the standby (%d) or the "
	      "crash failed (%d)",
	      hang.saw_wait, hang.crashed);
	CHECK(rc == CAIRN_IO && strstr(cairn_last_error(), "unknown"),
	      "a COMMIT that lost its server must report an unknown "
	      "outcome: %s: %s",
	      cairn_status_str(rc), cairn_last_error());
	not_acked(s, &p, true);
	restart(0);
	/* the same handle: the pool's connections died with the server */
	there = presence(s, &p);
	printf("  after crash recovery the append is %s\n",
	       there == 1   ? "committed"
	       : there == 0 ? "absent"
	                    : "PARTLY there");
	CHECK(there == 1, "the COMMIT was flushed before the crash, so "
	                  "recovery must keep it");
	n_unknown++;
	n_unknown_committed++;
	rc = submit(s, &p, &res);
	CHECK(rc == CAIRN_OK && res.idempotent == 1,
	      "the retry: %s idempotent %d: %s", cairn_status_str(rc),
	      res.idempotent, cairn_last_error());
	ack(s, &p, &res);
	CHECK(presence(s, &p) == 1, "duplicates after the retry");
	plan_free(&p);
	printf("  retry with the same ids: a repeat, nothing written (%.1f "
	       "s)\n",
	       now_s() - t);
}

/*
 * Bring the WAL of the current segment to WAL_HEADROOM below the limit
 * with records that write nothing else (logical decoding messages), so
 * that the appends of phase C make the WAL reach the limit well before
 * their own table files could (they start empty, and every byte they
 * get is also WAL-logged).
 */
static void
wal_advance(void)
{
	char out[64];
	long off = 0;
	int i;

	for (i = 0; i < 64; i++) {
		admin("SELECT (pg_walfile_name_offset(pg_current_wal_lsn()))"
		      ".file_offset",
		      out, sizeof(out));
		off = atol(out);
		if (off + WAL_STEP >= (long)(WAL_LIMIT_BYTES - WAL_HEADROOM))
			break;
		admin("SELECT pg_logical_emit_message(false, 'cairn-test', "
		      "repeat('x', 262144))",
		      out, sizeof(out));
	}
	printf("  WAL at offset %ld of its segment, limit %u\n", off,
	       WAL_LIMIT_BYTES);
}

/* Phase C: the WAL cannot grow. */
static void
phase_wal_full(store *s, store *full, unsigned *k)
{
	cairn_append_result res;
	pending failed;
	cairn_status rc;
	uint64_t head;
	double t = now_s();
	unsigned before = s->appends;
	bool unknown;
	int there;

	rc = fill_until_failure(s, k, &failed);
	faults++;
	unknown = strstr(cairn_last_error(), "unknown") != NULL;
	printf("C WAL full: %u appends acknowledged, then %s: %s\n",
	       s->appends - before, cairn_status_str(rc), cairn_last_error());
	CHECK(rc == CAIRN_IO,
	      "a WAL that cannot grow must fail with CAIRN_IO, "
	      "not %s",
	      cairn_status_str(rc));
	not_acked(s, &failed, unknown);
	rc = cairn_head(s->st, &head);
	printf("  the same handle meanwhile: head: %s%s%s\n",
	       cairn_status_str(rc), rc == CAIRN_OK ? "" : ": ",
	       rc == CAIRN_OK ? "" : cairn_last_error());
	CHECK(rc == CAIRN_IO,
	      "the server must be down after its WAL "
	      "write failed (a PANIC): head: %s",
	      cairn_status_str(rc));
	n_wal_panic++;
	restart(0);
	there = presence(s, &failed);
	printf("  after recovery the failed append is %s (outcome %s)\n",
	       there == 1   ? "committed"
	       : there == 0 ? "absent"
	                    : "PARTLY there",
	       unknown ? "unknown" : "known: not committed");
	CHECK(there != -1, "the failed append is partly there");
	CHECK(unknown || there == 0, "an append that failed before its COMMIT "
	                             "is there");
	n_unknown += unknown;
	n_unknown_committed += there == 1;
	rc = submit(s, &failed, &res);
	CHECK(rc == CAIRN_OK && res.idempotent == (there == 1),
	      "the retry: %s idempotent %d: %s", cairn_status_str(rc),
	      res.idempotent, cairn_last_error());
	ack(s, &failed, &res);
	CHECK(presence(s, &failed) == 1, "duplicates after the retry");
	plan_free(&failed);
	(*k)++;
	/* the other store's handle came through two restarts too */
	plan(full, (*k)++ / K_KINDS * K_KINDS, &failed);
	CHECK(submit(full, &failed, &res) == CAIRN_OK,
	      "append on the first "
	      "handle: %s",
	      cairn_last_error());
	ack(full, &failed, &res);
	plan_free(&failed);
	printf("  retry with the same ids: exactly once (%.1f s)\n",
	       now_s() - t);
}

/*
 * The harness's own test (CAIRN_PG_FAULT_ASYNC_COMMIT set: the run must
 * FAIL).  A relaxed handle runs with synchronous_commit=off: the server
 * acknowledges a COMMIT before its WAL is written; a crash right after a burst of appends
 * loses the last acknowledged ones, and the check must say so.
 */
static void
async_commit_crash(store *s, unsigned *k)
{
	cairn_append_result res;
	pending p;
	unsigned i, before = s->appends;
	cairn_options o;

	/* the server's default is already off (see writer()), but a durable
	 * handle raises its sessions to on: only a relaxed one loses */
	cairn_close(s->st);
	cairn_options_init(&o);
	o.durability = CAIRN_RELAXED;
	CHECK(cairn_open(s->uri, &o, &s->st) == CAIRN_OK, "open %s: %s",
	      s->uri, cairn_last_error());
	for (i = 0; i < 30; i++, (*k)++) {
		plan(s, *k, &p);
		if (p.kind != K_CONFLICT) {
			CHECK(submit(s, &p, &res) == CAIRN_OK, "append: %s",
			      cairn_last_error());
			ack(s, &p, &res);
		}
		plan_free(&p);
	}
	CHECK(run_script("crash", 0) == 0, "crash");
	restart(0);
	printf("SELF-TEST: %u appends acknowledged with synchronous_commit=off,"
	       " then a crash: the check must find some missing\n",
	       s->appends - before);
}

static int
writer(int argc, char **argv)
{
	char path[1024], schema[64], out[160], self[1024];
	store *full, *wal;
	const char *env = getenv("CAIRN_PG_FAULT_ROUNDS");
	unsigned k = 0, round, rounds = env ? (unsigned)atoi(env) : 2;
	unsigned acked = 0;
	double t0 = now_s();
	int status;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SCRIPT DIR | --check ACKS\n",
		        argv[0]);
		return 2;
	}
	script = argv[1];
	cdir = argv[2];
	base = getenv("CAIRN_PG_URI");
	if (base == NULL) {
		fprintf(stderr, "CAIRN_PG_URI is not set\n");
		return 77;
	}
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 1;
	rng_state = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	rng_state |= 1;
	printf("seed %" PRIu64 ", %u rounds (CAIRN_PG_FAULT_ROUNDS)\n",
	       rng_state, rounds);
	admin("SELECT 'data_sync_retry=' || current_setting('data_sync_retry')"
	      " || ' fsync=' || current_setting('fsync') || "
	      "' synchronous_commit=' || current_setting('synchronous_commit')"
	      " || ' full_page_writes=' || current_setting('full_page_writes')",
	      out, sizeof(out));
	printf("server: %s\n", out);
	/* Every durable append below runs against a server whose default
	 * is synchronous_commit=off: cairn must raise its own sessions to
	 * on (phase B also waits for a commit to reach its synchronous-
	 * replication wait, which 'off' skips). */
	admin("ALTER SYSTEM SET synchronous_commit = off", out, sizeof(out));
	admin("SELECT pg_reload_conf()", out, sizeof(out));
	snprintf(path, sizeof(path), "%s/acks", cdir);
	acks = fopen(path, "w");
	CHECK(acks != NULL, "%s: %s", path, strerror(errno));
	full = calloc(rounds, sizeof(*full));
	wal = calloc(rounds, sizeof(*wal));
	CHECK(full != NULL && wal != NULL, "out of memory");

	for (round = 0; round < rounds; round++) {
		printf("round %u\n", round + 1);
		/* A: a table of its own, empty, under the fixture's limit */
		if (round > 0)
			restart(FULL_LIMIT_BYTES);
		snprintf(schema, sizeof(schema), "full_%ld_%u", (long)getpid(),
		         round);
		open_store(&full[round], 2 * (int)round, schema);
		phase_disk_full(&full[round], &k);
		phase_commit_crash(&full[round], &k);
		/* C: start a new WAL segment (so that the limit is hit after
		 * a known amount of WAL, not at once) and restart below the
		 * size of a segment */
		admin("SELECT pg_switch_wal()", out, sizeof(out));
		restart(WAL_LIMIT_BYTES);
		snprintf(schema, sizeof(schema), "wal_%ld_%u", (long)getpid(),
		         round);
		open_store(&wal[round], 2 * (int)round + 1, schema);
		wal_advance();
		phase_wal_full(&wal[round], &full[round], &k);
	}
	if (getenv("CAIRN_PG_FAULT_ASYNC_COMMIT") != NULL)
		async_commit_crash(&wal[rounds - 1], &k);
	for (round = 0; round < rounds; round++) {
		acked += full[round].appends + wal[round].appends;
		cairn_close(wal[round].st);
		cairn_close(full[round].st);
	}
	free(full);
	free(wal);
	fclose(acks);
	printf("writer: %u rounds, %u appends acknowledged; %u faults: "
	       "%u disk full, %u crashes during COMMIT, %u WAL PANICs; %u "
	       "unknown outcomes (%u of them committed), %.1f s\n",
	       rounds, acked, faults, n_full, n_commit_crash, n_wal_panic,
	       n_unknown, n_unknown_committed, now_s() - t0);

	/* a fresh process checks what is stored */
	snprintf(self, sizeof(self), "%s", argv[0]);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		execl(self, self, "--check", path, (char *)NULL);
		perror(self);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the check failed (status %d)", status);
	printf("ok: %u rounds, %u faults, 0 violations, %.1f s\n", rounds,
	       faults, now_s() - t0);
	return 0;
}

/* ---- the checking process ---- */

typedef struct ackrec {
	char code; /* A, X or U */
	int idx;
	char stream[32];
	uint64_t version, position;
	char type[16];
	cairn_uuid id;
	size_t len;
	unsigned group;
	unsigned seen;
} ackrec;

static unsigned violations;
/* How many events of each unknown-outcome group (U lines) were found. */
static unsigned groups_seen[MAX_GROUPS];

static void
violation(const char *fmt, ...)
{
	va_list ap;

	violations++;
	fprintf(stderr, "VIOLATION: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void
count_problem(void *ctx, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "verify: %s\n", problem);
}

/* The A line of id, else an X or U line, else NULL. */
static ackrec *
find(ackrec *r, size_t n, int idx, const cairn_uuid *id)
{
	ackrec *other = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i].idx == idx && memcmp(&r[i].id, id, sizeof(*id)) == 0) {
			if (r[i].code == 'A')
				return &r[i];
			other = &r[i];
		}
	return other;
}

/* Check one store against the records, then append to it. */
static void
check_store(const char *uri, int idx, ackrec *r, size_t n, uint64_t *checked,
            uint64_t *compared)
{
	cairn_store *st;
	cairn_iter *it;
	const cairn_event *e;
	cairn_status rc;
	unsigned char *buf = malloc(PAYLOAD_MAX), meta[META_LEN];
	uint64_t problems = 0, count = 0;
	char id[33];
	size_t i;

	CHECK(buf != NULL, "out of memory");
	CHECK(cairn_open(uri, NULL, &st) == CAIRN_OK, "open %s: %s", uri,
	      cairn_last_error());
	CHECK(cairn_verify(st, count_problem, NULL, &problems) == CAIRN_OK,
	      "verify: %s", cairn_last_error());
	if (problems > 0)
		violation("cairn_verify found %" PRIu64 " problems in %s",
		          problems, uri);
	CHECK(cairn_read_all(st, NULL, &it) == CAIRN_OK, "read_all: %s",
	      cairn_last_error());
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		ackrec *a = find(r, n, idx, &e->id);

		count++;
		hex_id(&e->id, id);
		if (a == NULL) {
			violation("unacknowledged event %s in %s", id, uri);
			continue;
		}
		if (a->code == 'X') {
			violation("event %s of a failed or rejected append "
			          "is in %s",
			          id, uri);
			continue;
		}
		a->seen++;
		if (a->code == 'U') {
			CHECK(a->group < MAX_GROUPS, "too many groups");
			groups_seen[a->group]++;
			continue;
		}
		if (a->seen > 1)
			violation("event %s is in %s more than once", id, uri);
		if (strcmp(e->stream, a->stream) != 0 ||
		    e->version != a->version || e->position != a->position ||
		    strcmp(e->type, a->type) != 0)
			violation("event %s is not where it was acknowledged "
			          "(stream, version, position or type) in %s",
			          id, uri);
		fill(&e->id, 0, buf, a->len);
		fill(&e->id, 1, meta, META_LEN);
		if (e->data_len != a->len || memcmp(e->data, buf, a->len) ||
		    e->metadata_len != META_LEN ||
		    memcmp(e->metadata, meta, META_LEN))
			violation("event %s has other bytes than were "
			          "appended, in %s",
			          id, uri);
		*compared += a->len + META_LEN;
	}
	cairn_iter_free(it);
	CHECK(rc == CAIRN_DONE, "read_all: %s: %s", cairn_status_str(rc),
	      cairn_last_error());
	for (i = 0; i < n; i++) {
		if (r[i].idx != idx)
			continue;
		hex_id(&r[i].id, id);
		if (r[i].code == 'A' && r[i].seen == 0)
			violation("acknowledged event %s is missing from %s",
			          id, uri);
		if (r[i].code == 'U' && r[i].seen == 0 &&
		    groups_seen[r[i].group] > 0)
			violation("event %s is missing from its partly "
			          "stored append in %s",
			          id, uri);
	}
	*checked += count;
	/* the store takes new appends */
	{
		cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
		cairn_append_result res;

		ev.type = "After";
		ev.data = "{}";
		ev.data_len = 2;
		CHECK(cairn_append(st, "after", CAIRN_ANY, &ev, 1, &res) ==
		              CAIRN_OK,
		      "a new append: %s", cairn_last_error());
		CHECK(res.first_position == count + 1,
		      "the new append is at %" PRIu64 ", after %" PRIu64
		      " events",
		      res.first_position, count);
	}
	printf("check: %s: verify clean (%" PRIu64 " problems), %" PRIu64
	       " events\n",
	       uri, problems, count);
	cairn_close(st);
	free(buf);
}

static int
checker(const char *path)
{
	char line[2048], (*uris)[1024], uri[1024], idhex[64];
	ackrec *r = NULL;
	size_t n = 0, cap = 0, nacked = 0;
	uint64_t checked = 0, compared = 0;
	double t = now_s();
	FILE *f = fopen(path, "r");
	int idx, nstores = 0;

	CHECK(f != NULL, "%s: %s", path, strerror(errno));
	uris = calloc(2 * MAX_ROUNDS, sizeof(*uris));
	CHECK(uris != NULL, "out of memory");
	while (fgets(line, sizeof(line), f) != NULL) {
		ackrec a;

		memset(&a, 0, sizeof(a));
		a.code = line[0];
		if (a.code == 'S') {
			CHECK(sscanf(line, "S %d %1023s", &idx, uri) == 2 &&
			              idx == nstores && idx < 2 * MAX_ROUNDS,
			      "bad line %s", line);
			memcpy(uris[idx], uri, sizeof(uris[idx]));
			nstores++;
			continue;
		}
		if (a.code == 'A')
			CHECK(sscanf(line,
			             "A %d %31s %" SCNu64 " %" SCNu64
			             " %15s %63s %zu",
			             &a.idx, a.stream, &a.version, &a.position,
			             a.type, idhex, &a.len) == 7,
			      "bad line %s", line);
		else if (a.code == 'X')
			CHECK(sscanf(line, "X %d %63s", &a.idx, idhex) == 2,
			      "bad line %s", line);
		else if (a.code == 'U')
			CHECK(sscanf(line, "U %d %u %63s", &a.idx, &a.group,
			             idhex) == 3,
			      "bad line %s", line);
		else
			CHECK(0, "bad line %s", line);
		CHECK(parse_hex_id(idhex, &a.id) == 0, "bad id %s", idhex);
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			r = realloc(r, cap * sizeof(*r));
			CHECK(r != NULL, "out of memory");
		}
		nacked += a.code == 'A';
		r[n++] = a;
	}
	fclose(f);
	for (idx = 0; idx < nstores; idx++)
		check_store(uris[idx], idx, r, n, &checked, &compared);
	free(r);
	free(uris);
	printf("check: %d stores, %zu acknowledged events, %" PRIu64
	       " events read, %.1f MiB compared, %u violations, %.1f s\n",
	       nstores, nacked, checked, (double)compared / (1 << 20),
	       violations, now_s() - t);
	return violations == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return checker(argv[2]);
	return writer(argc, argv);
}
