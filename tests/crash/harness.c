/*
 * harness.c -- scratch stores, child processes, and the writers that are
 * killed while they append (see crash.h).
 *
 * A writer appends in a loop and, after each append that returned
 * CAIRN_OK (never before), writes one line per event to a pipe:
 *
 *   A <stream> <version> <position> <id> <token> <shape>
 *
 * (the shape: the event's type, metadata and tags, see crash_shape_of()),
 * and "O" once its cairn_open() returned (kill times may count from it).
 * Its appends: single-stream, to a new stream, multi-stream, to a stream
 * all writers share, idempotent repeats, appends that must conflict, and
 * conditional appends (cairn_append_if) that must succeed or must fail.
 * Stores live on lmdb, sqlite or postgres (crash_store_init_on()).
 *
 * The parent reads the pipe while the writer runs, kills it with SIGKILL
 * and keeps every complete line: those events were acknowledged.  A
 * writer that meets anything it did not expect writes "E <sentence>" and
 * exits, which fails the round.
 */
#include "crash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A child that outlives this by far was forgotten: it dies anyway. */
#define CHILD_ALARM_SECONDS 120
/* How long a round may wait for its min_appends. */
#define CRASH_MIN_ACKS_WAIT_MS 20000
/* How long the pipes of killed writers may take to report EOF. */
#define DRAIN_WAIT_MS 10000
#define POLL_SLICE_MS 2
#define WRITER_STREAMS 8 /* own streams per writer */
#define COND_TAG_MAX 40  /* bytes of a writer's condition tag */
/* How a postgres store's schema is named: crash_<name>_<pid>. */
#define PG_SCHEMA_PREFIX "crash_"
#define PLAN_MAX 6 /* events in one append, at most */
#define LINE_MAX_BYTES 512
#define PIPE_BUF_BYTES 16384

uint64_t crash_seed;
const char *crash_base_dir;

/* ---- small helpers ---- */

uint64_t
crash_rng_next(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15u;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1du;
}

unsigned
crash_rng_below(uint64_t *state, unsigned n)
{
	return n ? (unsigned)(crash_rng_next(state) % n) : 0;
}

unsigned
crash_rng_range(uint64_t *state, unsigned lo, unsigned hi)
{
	return lo + crash_rng_below(state, hi - lo + 1);
}

double
crash_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
crash_token_parse(const char *text, size_t len, crash_token *t)
{
	char buf[CRASH_TOKEN_MAX];
	const char *p = buf;
	int used = -1;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = 0;
	t->conflict = buf[0] == 'X';
	if (t->conflict)
		p++;
	if (sscanf(p, "r%u.c%u.a%u.e%u/%u%n", &t->round, &t->writer, &t->append,
	           &t->index, &t->count, &used) != 5 ||
	    used < 0 || p[used] != 0 || t->index >= t->count)
		return -1;
	return 0;
}

static void
remove_tree(const char *path)
{
	char child[2048];
	struct dirent *de;
	struct stat sb;
	DIR *d;

	if (lstat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if ((size_t)snprintf(child, sizeof(child), "%s/%s",
			                     path, de->d_name) < sizeof(child))
				remove_tree(child);
		}
		closedir(d);
	}
	rmdir(path);
}

static int
make_dirs(const char *path)
{
	char buf[1024];
	size_t len = strlen(path), i;
	char c;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		c = buf[i];
		buf[i] = 0;
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	return 0;
}

static const char *const backend_names[] = {"lmdb", "sqlite", "postgres"};

const char *
crash_backend_name(crash_backend be)
{
	return backend_names[be];
}

int
crash_backend_parse(const char *name, crash_backend *be)
{
	unsigned i;

	for (i = 0; i < sizeof(backend_names) / sizeof(*backend_names); i++)
		if (strcmp(name, backend_names[i]) == 0) {
			*be = (crash_backend)i;
			return 0;
		}
	return -1;
}

/* The postgres URI of cs: CAIRN_PG_URI (a postgres:// URL, as the test
 * cluster writes it, or postgres:key=value ...) with cs's schema and an
 * application_name that tells its connections from everyone else's. */
static int
pg_uri(crash_store *cs, const char *base)
{
	const char *sep = " ", *next = " ";
	int n;

	if (strncmp(base, "postgres://", 11) == 0 ||
	    strncmp(base, "postgresql://", 13) == 0) {
		sep = strchr(base, '?') ? "&" : "?";
		next = "&";
	}
	n = snprintf(cs->uri, sizeof(cs->uri),
	             "%s%sschema=%s%sapplication_name=" CRASH_PG_APP_PREFIX
	             "%s",
	             base, sep, cs->schema, next, cs->schema);
	if (n < 0 || (size_t)n >= sizeof(cs->uri)) {
		fprintf(stderr, "crash: CAIRN_PG_URI is too long\n");
		return -1;
	}
	return 0;
}

int
crash_store_init(crash_store *cs, const char *name)
{
	return crash_store_init_on(cs, name, CRASH_LMDB) == 0 ? 0 : -1;
}

int
crash_store_init_on(crash_store *cs, const char *name, crash_backend be)
{
	const char *base = getenv("CAIRN_PG_URI");
	size_t i;

	memset(cs, 0, sizeof(*cs));
	cs->backend = be;
	if ((size_t)snprintf(cs->dir, sizeof(cs->dir), "%s/%s-%ld",
	                     crash_base_dir, name,
	                     (long)getpid()) >= sizeof(cs->dir)) {
		fprintf(stderr, "crash: the base directory is too long\n");
		return -1;
	}
	switch (be) {
	case CRASH_LMDB:
		snprintf(cs->uri, sizeof(cs->uri), "lmdb:%s", cs->dir);
		break;
	case CRASH_SQLITE:
		snprintf(cs->uri, sizeof(cs->uri), "sqlite:%s/store.db",
		         cs->dir);
		break;
	case CRASH_POSTGRES:
		if (base == NULL || base[0] == 0) {
			fprintf(stderr,
			        "crash: CAIRN_PG_URI is not set (run "
			        "through scripts/pg-test-cluster.sh)\n");
			return 1;
		}
		/* A lower-case SQL name: what cairn accepts as a schema. */
		snprintf(cs->schema, sizeof(cs->schema),
		         PG_SCHEMA_PREFIX "%.32s_%ld", name, (long)getpid());
		for (i = 0; cs->schema[i]; i++)
			if (!((cs->schema[i] >= 'a' && cs->schema[i] <= 'z') ||
			      (cs->schema[i] >= '0' && cs->schema[i] <= '9')))
				cs->schema[i] = '_';
		if (pg_uri(cs, base) != 0 ||
		    crash_pg_drop_schema(cs->schema) != 0)
			return -1;
		break;
	}
	remove_tree(cs->dir);
	if (make_dirs(cs->dir) != 0) {
		fprintf(stderr, "crash: cannot create %s: %s\n", cs->dir,
		        strerror(errno));
		return -1;
	}
	cs->rng = crash_seed ^ (uint64_t)strlen(name) * 0x100000001b3u;
	for (; *name; name++)
		cs->rng = (cs->rng ^ (uint8_t)*name) * 0x100000001b3u;
	return 0;
}

void
crash_store_free(crash_store *cs)
{
	const char *keep = getenv("CAIRN_CRASH_KEEP");

	if (cs->dir[0] == 0) {
		/* never initialized: nothing to remove */
	} else if (keep != NULL && strcmp(keep, "1") == 0) {
		fprintf(stderr, "crash: kept %s%s%s\n", cs->dir,
		        cs->schema[0] ? " and the schema " : "", cs->schema);
	} else {
		remove_tree(cs->dir);
		if (cs->schema[0])
			crash_pg_drop_schema(cs->schema);
	}
	cs->dir[0] = 0;
	cs->schema[0] = 0;
	free(cs->acks);
	cs->acks = NULL;
	cs->nacks = cs->cap = 0;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- child processes ---- */

int
crash_spawn(crash_store *cs, const char *boot_id, crash_child_fn fn,
            const void *arg, char *out, size_t out_size)
{
	char sink[256];
	size_t used = 0;
	ssize_t n;
	pid_t pid;
	int p[2], status;

	if (pipe(p) != 0) {
		perror("crash: pipe");
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("crash: fork");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		alarm(CHILD_ALARM_SECONDS);
		if (boot_id != NULL &&
		    setenv("CAIRN_TEST_BOOT_ID", boot_id, 1) != 0)
			_exit(2);
		status = fn(cs, arg, p[1]);
		close(p[1]);
		fflush(NULL);
		/* exit(), not _exit(): LeakSanitizer checks the child too. */
		exit(status);
	}
	close(p[1]);
	for (;;) {
		if (out != NULL && used + 1 < out_size)
			n = read(p[0], out + used, out_size - 1 - used);
		else
			n = read(p[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && used + 1 < out_size)
			used += (size_t)n;
	}
	if (out != NULL && out_size > 0)
		out[used] = 0;
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("crash: waitpid");
			return -1;
		}
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "crash: a child process died of signal %d\n",
		        WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status);
}

/* ---- the writer ---- */

/* One append being prepared: everything the events point to lives here,
 * so that a plan may be copied and replayed (the idempotent retry). */
typedef struct plan {
	size_t n;
	char streams[PLAN_MAX][CRASH_STREAM_MAX]; /* stream of event i */
	uint64_t versions[PLAN_MAX]; /* its version; 0 until known */
	char tokens[PLAN_MAX][CRASH_TOKEN_MAX];
	cairn_uuid ids[PLAN_MAX];
	bool given_id[PLAN_MAX];
	unsigned type[PLAN_MAX];
	bool metadata[PLAN_MAX];
	bool tags[PLAN_MAX];
	/* the writer's condition tag on every event ("": none) */
	char cond_tag[COND_TAG_MAX];
	const char *tagv[PLAN_MAX][3]; /* built by plan_events() */
	cairn_new_event ev[PLAN_MAX];  /* built by plan_events() */
} plan;

typedef struct writer {
	cairn_store *st;
	int fd;
	unsigned round;
	unsigned slot;
	unsigned append; /* appends tried, for tokens */
	uint64_t rng;
	uint64_t version[WRITER_STREAMS];
	bool have_retry; /* retry holds an all-ids append */
	plan retry;
	int64_t retry_expected;
	uint64_t retry_first;
	/* Conditional appends: the tag only this writer of this round puts
	 * on events, the positions of its last append that carried it
	 * (0: none yet), the newest position the writer was acked. */
	char cond_tag[COND_TAG_MAX];
	uint64_t cond_first, cond_last;
	uint64_t seen_last;
} writer;

static const char *const event_types[] = {"Deposited", "Withdrawn", "Renamed",
                                          "Closed"};
#define NTYPES (sizeof(event_types) / sizeof(*event_types))
static const char *const event_tags[] = {"k:1", "region:eu"};
#define NTAGS (sizeof(event_tags) / sizeof(*event_tags))
static const char event_metadata[] = "{\"by\":\"crash\"}";

static void
cond_tag_of(unsigned round, unsigned slot, char out[COND_TAG_MAX])
{
	snprintf(out, COND_TAG_MAX, "cond:r%u.c%u", round, slot);
}

/*
 * t<type index>.m<metadata>.g<tags>: metadata m0 none, m1 the small JSON
 * text, p<N> N bytes of 'p' (a round's big metadata), m? anything else;
 * tags a mask, 1 the two fixed tags, 2 the condition tag of the writer
 * (round, slot), ? for anything else.  Tag order does not count.
 */
int
crash_shape_of(const cairn_event *e, unsigned round, unsigned slot,
               char out[CRASH_SHAPE_MAX])
{
	char type[4] = "?", meta[24] = "m?", cond[COND_TAG_MAX];
	const char *m = e->metadata;
	unsigned mask = 0, fixed = 0;
	size_t i, j;
	bool bad = false;

	for (i = 0; i < NTYPES; i++)
		if (strcmp(e->type, event_types[i]) == 0) {
			type[0] = (char)('0' + i); /* NTYPES < 10 */
			type[1] = 0;
		}
	if (e->metadata_len == 0)
		snprintf(meta, sizeof(meta), "m0");
	else if (e->metadata_len == sizeof(event_metadata) - 1 &&
	         memcmp(m, event_metadata, e->metadata_len) == 0)
		snprintf(meta, sizeof(meta), "m1");
	else {
		for (i = 0; i < e->metadata_len && m[i] == 'p'; i++)
			;
		if (i == e->metadata_len)
			snprintf(meta, sizeof(meta), "p%zu", i);
	}
	cond_tag_of(round, slot, cond);
	for (i = 0; i < e->ntags; i++) {
		for (j = 0; j < NTAGS; j++)
			if (strcmp(e->tags[i], event_tags[j]) == 0)
				break;
		if (j < NTAGS && !(fixed & 1u << j))
			fixed |= 1u << j;
		else if (strcmp(e->tags[i], cond) == 0 && !(mask & 2))
			mask |= 2;
		else
			bad = true;
	}
	if (fixed == (1u << NTAGS) - 1)
		mask |= 1;
	else if (fixed)
		bad = true;
	if (bad)
		snprintf(out, CRASH_SHAPE_MAX, "t%s.%s.g?", type, meta);
	else
		snprintf(out, CRASH_SHAPE_MAX, "t%s.%s.g%u", type, meta, mask);
	return 0;
}

/* the writer's big metadata, when its round asks for it */
static char *writer_pad;
static size_t writer_pad_len;

__attribute__((format(printf, 2, 3), noreturn)) static void
writer_fail(writer *w, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "E round %u writer %u: ", w->round,
	             w->slot);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	write_all(w->fd, line, (size_t)n);
	_exit(3);
}

static void
own_stream(const writer *w, unsigned j, char out[CRASH_STREAM_MAX])
{
	snprintf(out, CRASH_STREAM_MAX, "c%u-%u", w->slot, j);
}

static void
plan_init(plan *p)
{
	p->n = 0;
	p->cond_tag[0] = 0;
}

/* The shape event i of p must have (see crash_shape_of()). */
static void
plan_shape(const plan *p, size_t i, char out[CRASH_SHAPE_MAX])
{
	char meta[24];

	if (writer_pad_len)
		snprintf(meta, sizeof(meta), "p%zu", writer_pad_len);
	else
		snprintf(meta, sizeof(meta), "m%d", p->metadata[i] ? 1 : 0);
	snprintf(out, CRASH_SHAPE_MAX, "t%u.%s.g%u", p->type[i], meta,
	         (p->tags[i] ? 1u : 0u) | (p->cond_tag[0] ? 2u : 0u));
}

/* Add one event of stream (version when already known, else 0) to p; the
 * append it belongs to has count events. */
static void
plan_add(writer *w, plan *p, const char *stream, uint64_t version,
         unsigned count, bool conflict)
{
	size_t i = p->n++;

	snprintf(p->streams[i], CRASH_STREAM_MAX, "%s", stream);
	p->versions[i] = version;
	snprintf(p->tokens[i], CRASH_TOKEN_MAX, "%sr%u.c%u.a%u.e%zu/%u",
	         conflict ? "X" : "", w->round, w->slot, w->append, i, count);
	p->given_id[i] = crash_rng_below(&w->rng, 2) == 0;
	if (p->given_id[i] && cairn_uuid_generate(&p->ids[i]) != CAIRN_OK)
		writer_fail(w, "uuid: %s", cairn_last_error());
	p->type[i] = crash_rng_below(&w->rng, 4);
	p->metadata[i] = crash_rng_below(&w->rng, 3) == 0;
	p->tags[i] = crash_rng_below(&w->rng, 3) == 0;
}

/* Point p->ev at p's own storage. */
static void
plan_events(plan *p)
{
	cairn_new_event init = CAIRN_NEW_EVENT_INIT;
	size_t i, nt;

	for (i = 0; i < p->n; i++) {
		p->ev[i] = init;
		p->ev[i].type = event_types[p->type[i]];
		p->ev[i].data = p->tokens[i];
		p->ev[i].data_len = strlen(p->tokens[i]);
		if (writer_pad_len) {
			p->ev[i].metadata = writer_pad;
			p->ev[i].metadata_len = writer_pad_len;
		} else if (p->metadata[i]) {
			p->ev[i].metadata = event_metadata;
			p->ev[i].metadata_len = sizeof(event_metadata) - 1;
		}
		nt = 0;
		if (p->tags[i]) {
			p->tagv[i][nt++] = event_tags[0];
			p->tagv[i][nt++] = event_tags[1];
		}
		if (p->cond_tag[0])
			p->tagv[i][nt++] = p->cond_tag;
		if (nt) {
			p->ev[i].tags = p->tagv[i];
			p->ev[i].ntags = nt;
		}
		p->ev[i].id = p->given_id[i] ? &p->ids[i] : NULL;
	}
}

/* After CAIRN_OK: read the events back by position (learning the ids the
 * store made), check them, and only then tell the parent. */
static void
writer_ack(writer *w, plan *p, const cairn_append_result *res)
{
	char lines[PLAN_MAX * LINE_MAX_BYTES], idtext[CAIRN_UUID_STR_LEN + 1];
	char want[CRASH_SHAPE_MAX], got[CRASH_SHAPE_MAX];
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *e;
	cairn_iter *it;
	size_t i, len = 0;

	if (res->idempotent ||
	    res->last_position - res->first_position + 1 != p->n)
		writer_fail(w,
		            "append %u: positions %" PRIu64 "..%" PRIu64
		            " for %zu events (idempotent %d)",
		            w->append, res->first_position, res->last_position,
		            p->n, res->idempotent);
	ro.from = res->first_position;
	ro.limit = p->n;
	if (cairn_read_all(w->st, &ro, &it) != CAIRN_OK)
		writer_fail(w, "read back: %s", cairn_last_error());
	for (i = 0; i < p->n; i++) {
		if (cairn_iter_next(it, &e) != CAIRN_ROW)
			writer_fail(w, "read back event %zu: %s", i,
			            cairn_last_error());
		if (e->position != res->first_position + i ||
		    strcmp(e->stream, p->streams[i]) != 0 ||
		    e->version != p->versions[i] ||
		    e->data_len != strlen(p->tokens[i]) ||
		    memcmp(e->data, p->tokens[i], e->data_len) != 0 ||
		    (p->given_id[i] &&
		     memcmp(&e->id, &p->ids[i], sizeof(e->id)) != 0))
			writer_fail(w,
			            "read back: position %" PRIu64 " holds "
			            "%s v%" PRIu64 ", not %s v%" PRIu64 " %s",
			            e->position, e->stream, e->version,
			            p->streams[i], p->versions[i],
			            p->tokens[i]);
		plan_shape(p, i, want);
		crash_shape_of(e, w->round, w->slot, got);
		if (strcmp(want, got) != 0)
			writer_fail(w,
			            "read back: position %" PRIu64 " (%s) "
			            "has the shape %s, not %s",
			            e->position, p->tokens[i], got, want);
		p->ids[i] = e->id;
		cairn_uuid_format(&e->id, idtext);
		len += (size_t)snprintf(lines + len, sizeof(lines) - len,
		                        "A %s %" PRIu64 " %" PRIu64
		                        " %s %s %s\n",
		                        p->streams[i], p->versions[i],
		                        e->position, idtext, p->tokens[i], got);
	}
	cairn_iter_free(it);
	if (res->last_position > w->seen_last)
		w->seen_last = res->last_position;
	if (write_all(w->fd, lines, len) != 0)
		_exit(4);
}

static void
expect_ok(writer *w, cairn_status rc, const char *what)
{
	if (rc != CAIRN_OK)
		writer_fail(w, "%s (append %u): %s: %s", what, w->append,
		            cairn_status_str(rc), cairn_last_error());
}

/* 1-3 events to an own stream, at its exact version. */
static void
op_single(writer *w)
{
	char stream[CRASH_STREAM_MAX];
	unsigned j = crash_rng_below(&w->rng, WRITER_STREAMS);
	unsigned n = crash_rng_range(&w->rng, 1, 3), i;
	cairn_append_result res;
	plan p;
	bool all_ids = true;

	plan_init(&p);
	own_stream(w, j, stream);
	for (i = 0; i < n; i++) {
		plan_add(w, &p, stream, w->version[j] + 1 + i, n, false);
		all_ids = all_ids && p.given_id[i];
	}
	plan_events(&p);
	expect_ok(w,
	          cairn_append(w->st, stream, (int64_t)w->version[j], p.ev, n,
	                       &res),
	          "single append");
	if (res.version != w->version[j] + n)
		writer_fail(w,
		            "%s: version %" PRIu64 " after %u events on "
		            "%" PRIu64,
		            stream, res.version, n, w->version[j]);
	writer_ack(w, &p, &res);
	if (all_ids) {
		w->retry = p;
		w->retry_expected = (int64_t)w->version[j];
		w->retry_first = res.first_position;
		w->have_retry = true;
	}
	w->version[j] += n;
}

/* 1-2 events to a stream that does not exist yet. */
static void
op_new_stream(writer *w)
{
	char stream[CRASH_STREAM_MAX];
	unsigned n = crash_rng_range(&w->rng, 1, 2), i;
	cairn_append_result res;
	plan p;

	plan_init(&p);
	snprintf(stream, sizeof(stream), "c%u-r%u-n%u", w->slot, w->round,
	         w->append);
	for (i = 0; i < n; i++)
		plan_add(w, &p, stream, i + 1, n, false);
	plan_events(&p);
	expect_ok(w,
	          cairn_append(w->st, stream, CAIRN_NO_STREAM, p.ev, n, &res),
	          "new-stream append");
	writer_ack(w, &p, &res);
}

/* 2-3 own streams at their exact versions, 1-2 events each, at once. */
static void
op_multi(writer *w)
{
	unsigned k = crash_rng_range(&w->rng, 2, 3), pick[WRITER_STREAMS];
	unsigned count[3], i, e, t;
	cairn_write writes[3];
	cairn_append_result res;
	unsigned total = 0;
	size_t at = 0;
	plan p;

	for (i = 0; i < WRITER_STREAMS; i++)
		pick[i] = i;
	for (i = 0; i < k; i++) {
		e = i + crash_rng_below(&w->rng, WRITER_STREAMS - i);
		t = pick[i];
		pick[i] = pick[e];
		pick[e] = t;
		count[i] = crash_rng_range(&w->rng, 1, 2);
		total += count[i];
	}
	plan_init(&p);
	for (i = 0; i < k; i++) {
		char stream[CRASH_STREAM_MAX];
		own_stream(w, pick[i], stream);
		for (e = 0; e < count[i]; e++)
			plan_add(w, &p, stream, w->version[pick[i]] + 1 + e,
			         total, false);
	}
	plan_events(&p);
	for (i = 0; i < k; i++) {
		writes[i].stream = p.streams[at];
		writes[i].expected = (int64_t)w->version[pick[i]];
		writes[i].events = &p.ev[at];
		writes[i].nevents = count[i];
		at += count[i];
	}
	expect_ok(w, cairn_append_multi(w->st, writes, k, &res),
	          "multi-stream append");
	writer_ack(w, &p, &res);
	for (i = 0; i < k; i++)
		w->version[pick[i]] += count[i];
}

/* 1-2 events to the stream every writer shares, at any version: under
 * two writers these contend. */
static void
op_shared(writer *w)
{
	unsigned n = crash_rng_range(&w->rng, 1, 2), i;
	cairn_append_result res;
	plan p;

	plan_init(&p);
	for (i = 0; i < n; i++)
		plan_add(w, &p, "shared", 0, n, false);
	plan_events(&p);
	expect_ok(w, cairn_append(w->st, "shared", CAIRN_ANY, p.ev, n, &res),
	          "shared append");
	for (i = 0; i < n; i++)
		p.versions[i] = res.version - n + 1 + i;
	writer_ack(w, &p, &res);
}

/* The last all-ids append again: it must succeed without writing. */
static void
op_retry(writer *w)
{
	cairn_append_result res;
	cairn_status rc;

	if (!w->have_retry) {
		op_single(w);
		return;
	}
	plan_events(&w->retry);
	rc = cairn_append(w->st, w->retry.streams[0], w->retry_expected,
	                  w->retry.ev, w->retry.n, &res);
	expect_ok(w, rc, "idempotent retry");
	if (!res.idempotent || res.first_position != w->retry_first)
		writer_fail(w,
		            "retry of %s at %" PRIu64 ": idempotent %d, "
		            "first position %" PRIu64,
		            w->retry.tokens[0], w->retry_first, res.idempotent,
		            res.first_position);
}

/* An append at a wrong version: it must conflict and write nothing (its
 * token, X..., must never be found in the store). */
static void
op_conflict(writer *w)
{
	char stream[CRASH_STREAM_MAX];
	unsigned j = crash_rng_below(&w->rng, WRITER_STREAMS);
	cairn_append_result res;
	cairn_status rc;
	plan p;

	plan_init(&p);
	own_stream(w, j, stream);
	plan_add(w, &p, stream, 0, 1, true);
	plan_events(&p);
	rc = cairn_append(
	        w->st, stream,
	        (int64_t)(w->version[j] + 1 + crash_rng_below(&w->rng, 3)),
	        p.ev, 1, &res);
	if (rc != CAIRN_CONFLICT || res.conflict_actual != w->version[j])
		writer_fail(w,
		            "%s: a wrong expected version gave %s, actual "
		            "%" PRIu64 " (the writer has %" PRIu64 ")",
		            stream, cairn_status_str(rc), res.conflict_actual,
		            w->version[j]);
}

/*
 * A conditional append that must succeed: 1-2 own streams at their exact
 * versions, 1-2 events each, all carrying the writer's condition tag, on
 * condition that no event with that tag is newer than the last one the
 * writer wrote (or than a later position it was acked).  Only this
 * writer of this round writes the tag, so the condition holds.
 */
static void
op_cond_ok(writer *w)
{
	const char *tags[1] = {w->cond_tag};
	cairn_query_item item = {NULL, 0, tags, 1};
	cairn_query q = {&item, 1};
	unsigned k = crash_rng_range(&w->rng, 1, 2), j[2], count[2], i, e;
	unsigned total = 0;
	cairn_write writes[2];
	cairn_append_result res;
	uint64_t after;
	size_t at = 0;
	plan p;

	j[0] = crash_rng_below(&w->rng, WRITER_STREAMS);
	j[1] = (j[0] + 1 + crash_rng_below(&w->rng, WRITER_STREAMS - 1)) %
	       WRITER_STREAMS;
	for (i = 0; i < k; i++) {
		count[i] = crash_rng_range(&w->rng, 1, 2);
		total += count[i];
	}
	plan_init(&p);
	snprintf(p.cond_tag, sizeof(p.cond_tag), "%s", w->cond_tag);
	for (i = 0; i < k; i++) {
		char stream[CRASH_STREAM_MAX];
		own_stream(w, j[i], stream);
		for (e = 0; e < count[i]; e++)
			plan_add(w, &p, stream, w->version[j[i]] + 1 + e, total,
			         false);
	}
	plan_events(&p);
	for (i = 0; i < k; i++) {
		writes[i].stream = p.streams[at];
		writes[i].expected = (int64_t)w->version[j[i]];
		writes[i].events = &p.ev[at];
		writes[i].nevents = count[i];
		at += count[i];
	}
	after = crash_rng_below(&w->rng, 2) ? w->seen_last : w->cond_last;
	expect_ok(w, cairn_append_if(w->st, &q, after, writes, k, &res),
	          "conditional append (a condition that holds)");
	writer_ack(w, &p, &res);
	w->cond_first = res.first_position;
	w->cond_last = res.last_position;
	for (i = 0; i < k; i++)
		w->version[j[i]] += count[i];
}

/*
 * A conditional append that must fail: its condition is that nothing
 * carries the writer's tag after a position inside the writer's last
 * tagged append, whose events all carry it.  It must conflict naming the
 * next position, and write nothing (its token, X..., must never be found
 * in the store).  Before the writer's first tagged append: op_cond_ok().
 */
static void
op_cond_fail(writer *w)
{
	const char *tags[1] = {w->cond_tag};
	cairn_query_item item = {NULL, 0, tags, 1};
	cairn_query q = {&item, 1};
	char stream[CRASH_STREAM_MAX];
	unsigned j = crash_rng_below(&w->rng, WRITER_STREAMS);
	cairn_append_result res;
	cairn_write write;
	cairn_status rc;
	uint64_t after;
	plan p;

	if (w->cond_last == 0) {
		op_cond_ok(w);
		return;
	}
	after = w->cond_first - 1 +
	        crash_rng_below(&w->rng,
	                        (unsigned)(w->cond_last - w->cond_first + 1));
	plan_init(&p);
	snprintf(p.cond_tag, sizeof(p.cond_tag), "%s", w->cond_tag);
	own_stream(w, j, stream);
	plan_add(w, &p, stream, w->version[j] + 1, 1, true);
	plan_events(&p);
	write.stream = p.streams[0];
	write.expected = (int64_t)w->version[j];
	write.events = p.ev;
	write.nevents = 1;
	memset(&res, 0, sizeof(res));
	rc = cairn_append_if(w->st, &q, after, &write, 1, &res);
	if (rc != CAIRN_CONFLICT || res.conflict_position != after + 1)
		writer_fail(w,
		            "a condition that fails (%s after %" PRIu64
		            ") gave %s, conflict position %" PRIu64
		            " (want %" PRIu64 "): %s",
		            w->cond_tag, after, cairn_status_str(rc),
		            res.conflict_position, after + 1,
		            rc == CAIRN_OK ? "it wrote" : cairn_last_error());
}

__attribute__((noreturn)) static void
writer_main(crash_store *cs, unsigned slot, int fd, const crash_round *run)
{
	char stream[CRASH_STREAM_MAX];
	unsigned j, r;
	writer w;

	memset(&w, 0, sizeof(w));
	w.fd = fd;
	w.round = cs->rounds;
	w.slot = slot;
	w.rng = cs->rng ^
	        ((uint64_t)cs->rounds << 32 | slot) * 0x9e3779b97f4a7c15u;
	cond_tag_of(w.round, slot, w.cond_tag);
	alarm(CHILD_ALARM_SECONDS);
	if (run->boot_id != NULL &&
	    setenv("CAIRN_TEST_BOOT_ID", run->boot_id, 1) != 0)
		writer_fail(&w, "setenv failed");
	if (run->pad_bytes) {
		writer_pad = malloc(run->pad_bytes);
		if (writer_pad == NULL)
			writer_fail(&w, "out of memory");
		memset(writer_pad, 'p', run->pad_bytes);
		writer_pad_len = run->pad_bytes;
	}
	/* NULL options: the defaults, durable. */
	if (cairn_open(cs->uri, NULL, &w.st) != CAIRN_OK)
		writer_fail(&w, "open: %s", cairn_last_error());
	for (j = 0; j < WRITER_STREAMS; j++) {
		own_stream(&w, j, stream);
		if (cairn_stream_version(w.st, stream, &w.version[j]) !=
		    CAIRN_OK)
			writer_fail(&w, "version of %s: %s", stream,
			            cairn_last_error());
	}
	if (write_all(fd, "O\n", 2) != 0)
		_exit(4);
	for (;; w.append++) {
		r = crash_rng_below(&w.rng, 100);
		if (r < 30)
			op_single(&w);
		else if (r < 40)
			op_new_stream(&w);
		else if (r < 60)
			op_multi(&w);
		else if (r < 72)
			op_shared(&w);
		else if (r < 78)
			op_retry(&w);
		else if (r < 83)
			op_conflict(&w);
		else if (r < 94)
			op_cond_ok(&w);
		else
			op_cond_fail(&w);
	}
}

/* ---- the parent's side of a round ---- */

typedef struct feed {
	pid_t pid;
	int fd; /* read end; -1 at EOF */
	bool killed;
	double opened; /* crash_now() when the writer said "O"; 0: not yet */
	char buf[PIPE_BUF_BYTES];
	size_t len;
} feed;

static int
ack_push(crash_store *cs, const crash_ack *a)
{
	crash_ack *v;
	size_t cap;

	if (cs->nacks == cs->cap) {
		cap = cs->cap ? cs->cap * 2 : 1024;
		v = realloc(cs->acks, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		cs->acks = v;
		cs->cap = cap;
	}
	cs->acks[cs->nacks++] = *a;
	return 0;
}

/* Take one complete line; counts acked appends in *appends. */
static int
take_line(crash_store *cs, const char *line, long *appends)
{
	char idtext[64];
	crash_token t;
	crash_ack a;

	if (line[0] == 'E') {
		fprintf(stderr, "crash: writer error: %s\n", line + 2);
		return -1;
	}
	memset(&a, 0, sizeof(a));
	if (sscanf(line, "A %63s %" SCNu64 " %" SCNu64 " %63s %47s %47s",
	           a.stream, &a.version, &a.position, idtext, a.token,
	           a.shape) != 6 ||
	    cairn_uuid_parse(idtext, &a.id) != CAIRN_OK ||
	    crash_token_parse(a.token, strlen(a.token), &t) != 0) {
		fprintf(stderr, "crash: a malformed line from a writer: %s\n",
		        line);
		return -1;
	}
	if (t.index == 0)
		(*appends)++;
	if (ack_push(cs, &a) != 0) {
		fprintf(stderr, "crash: out of memory\n");
		return -1;
	}
	return 0;
}

/* Read what is there; 1 at EOF, 0, or -1 (printed). */
static int
feed_read(crash_store *cs, feed *f, long *appends)
{
	char *nl;
	size_t used;
	ssize_t n;

	n = read(f->fd, f->buf + f->len, sizeof(f->buf) - 1 - f->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		/* A partial last line is an ack that never got out. */
		close(f->fd);
		f->fd = -1;
		return 1;
	}
	f->len += (size_t)n;
	f->buf[f->len] = 0;
	used = 0;
	while ((nl = strchr(f->buf + used, '\n')) != NULL) {
		*nl = 0;
		if (strcmp(f->buf + used, "O") == 0)
			f->opened = crash_now();
		else if (take_line(cs, f->buf + used, appends) != 0)
			return -1;
		used = (size_t)(nl - f->buf) + 1;
	}
	memmove(f->buf, f->buf + used, f->len - used);
	f->len -= used;
	if (f->len == sizeof(f->buf) - 1) {
		fprintf(stderr, "crash: an overlong line from a writer\n");
		return -1;
	}
	return 0;
}

static int
start_writer(crash_store *cs, const crash_round *run, feed *feeds,
             unsigned slot)
{
	int p[2];
	unsigned i;

	if (pipe(p) != 0) {
		perror("crash: pipe");
		return -1;
	}
	fflush(NULL);
	feeds[slot].pid = fork();
	if (feeds[slot].pid < 0) {
		perror("crash: fork");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (feeds[slot].pid == 0) {
		close(p[0]);
		for (i = 0; i < slot; i++)
			close(feeds[i].fd);
		writer_main(cs, slot, p[1], run);
	}
	close(p[1]);
	feeds[slot].fd = p[0];
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	return 0;
}

/* Whether the log header holds a checkpoint newer than baseline. */
static bool
new_checkpoint(crash_store *cs, uint64_t baseline)
{
	uint64_t seq;

	return crash_wal_checkpoint_seq(cs, &seq) == 0 && seq > baseline;
}

/* Kill the writers whose time has come; all of them when now.  ms is
 * the time since the round started; with kill_from_open, a writer's own
 * time starts when it said its store is open. */
static void
kill_due(const crash_round *run, feed *feeds, double ms, long appends, bool now)
{
	unsigned i;
	double mine;

	for (i = 0; i < run->nwriters; i++) {
		if (feeds[i].killed || feeds[i].pid <= 0)
			continue;
		mine = ms;
		if (run->kill_from_open)
			mine = feeds[i].opened > 0
			               ? (crash_now() - feeds[i].opened) *
			                         1000.0
			               : -1.0;
		if (now ||
		    (!run->kill_at_checkpoint && mine >= run->kill_ms[i] &&
		     appends >= (long)run->min_appends)) {
			kill(feeds[i].pid, SIGKILL);
			feeds[i].killed = true;
		}
	}
}

static int
reap(feed *f, unsigned slot)
{
	int status;

	while (waitpid(f->pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "crash: writer %u died of signal %d\n", slot,
		        WTERMSIG(status));
	else
		fprintf(stderr, "crash: writer %u exited with %d\n", slot,
		        WEXITSTATUS(status));
	return -1;
}

long
crash_run_writers(crash_store *cs, const crash_round *run)
{
	struct pollfd pfd[CRASH_MAX_WRITERS];
	feed feeds[CRASH_MAX_WRITERS];
	double t0 = crash_now(), ms;
	bool fail = false, all_eof, watch = run->kill_at_checkpoint;
	uint64_t baseline = 0;
	unsigned i, np;
	long appends = 0;
	int rc;

	memset(feeds, 0, sizeof(feeds));
	for (i = 0; i < CRASH_MAX_WRITERS; i++)
		feeds[i].fd = -1;
	if (watch && crash_wal_checkpoint_seq(cs, &baseline) != 0)
		return -1;
	cs->rounds++;
	for (i = 0; i < run->nwriters && !fail; i++)
		fail = start_writer(cs, run, feeds, i) != 0;
	for (;;) {
		ms = (crash_now() - t0) * 1000.0;
		if (!fail && appends < (long)run->min_appends &&
		    ms > CRASH_MIN_ACKS_WAIT_MS) {
			fprintf(stderr,
			        "crash: round %u got %ld of %u appends "
			        "in %d ms\n",
			        cs->rounds, appends, run->min_appends,
			        CRASH_MIN_ACKS_WAIT_MS);
			fail = true;
		}
		if (ms > CRASH_MIN_ACKS_WAIT_MS + DRAIN_WAIT_MS) {
			fprintf(stderr, "crash: writer pipes stay open\n");
			fail = true;
			break;
		}
		if (watch && new_checkpoint(cs, baseline)) {
			/* at once: the writer is between that checkpoint
			 * and whatever it does next */
			kill_due(run, feeds, ms, appends, true);
			watch = false;
		}
		if (watch && ms > CRASH_MIN_ACKS_WAIT_MS) {
			fprintf(stderr, "crash: round %u: no checkpoint came\n",
			        cs->rounds);
			fail = true;
		}
		kill_due(run, feeds, ms, appends, fail);
		np = 0;
		all_eof = true;
		for (i = 0; i < run->nwriters; i++) {
			if (feeds[i].fd < 0)
				continue;
			all_eof = false;
			pfd[np].fd = feeds[i].fd;
			pfd[np].events = POLLIN;
			np++;
		}
		if (all_eof)
			break;
		if (poll(pfd, np, watch ? 0 : POLL_SLICE_MS) < 0 &&
		    errno != EINTR) {
			fail = true;
			break;
		}
		for (i = 0; i < run->nwriters; i++) {
			if (feeds[i].fd < 0)
				continue;
			rc = feed_read(cs, &feeds[i], &appends);
			if (rc < 0)
				fail = true;
			/* EOF before the kill: the writer gave up. */
			if (rc == 1 && !feeds[i].killed)
				fail = true;
		}
	}
	kill_due(run, feeds, 0, 0, true);
	for (i = 0; i < run->nwriters; i++) {
		if (feeds[i].fd >= 0)
			close(feeds[i].fd);
		if (feeds[i].pid > 0 && reap(&feeds[i], i) != 0)
			fail = true;
	}
	return fail ? -1 : appends;
}
