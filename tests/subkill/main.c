/*
 * main.c -- a durable consumer killed with SIGKILL, again and again.
 *
 *     subkill_test <base-dir> <backend>
 *
 * On a fresh store <backend>:<base-dir>/<backend>-<pid>/store a writer
 * process appends events the whole time (a backlog first, then a steady
 * trickle).  SUBKILL_ROUNDS consumer processes, one after the other, open
 * the durable subscription SUBKILL_NAME (filtered to two of the writer's
 * four event types), report every event they are handed and every
 * acknowledgment they make (child.c), and are killed with SIGKILL: after
 * a random time, or the moment the parent reads their next "about to
 * ack", "acked" or "delivered" line after a random time.  After each
 * kill the parent opens the store and reads the stored cursor C:
 *
 *   - C is never behind the last position the consumer reported as
 *     acknowledged ("A P"), nor the cursor the run started from;
 *   - C is never ahead of the highest position for which an ack was at
 *     least started ("B P");
 *   - so C is one of the two: the last acknowledged position, or the one
 *     whose ack was in flight when the kill came.
 *
 * Within each run, deliveries are strictly increasing, start strictly
 * after the cursor the run started from (which is the C read after the
 * previous kill), only carry the filtered types, and an ack names the
 * last event delivered.  At the end the writer stops, one last consumer
 * catches up without being killed, and the parent reads the whole store:
 * every matching event was delivered at least once, with its data; no
 * other event ever was; each run delivered every matching event between
 * its start and its last delivery (no gap within a run).
 *
 * Exit status: 0 pass, 1 a finding, 2 a harness problem, 77 skipped (the
 * backend is not registered, or keeps no durable subscriptions yet; set
 * CAIRN_SUBKILL_REQUIRE=1 to make that a failure).  CAIRN_SUBKILL_SEED=N
 * repeats a run's random choices (the kills themselves race with the
 * consumer, as they must); CAIRN_SUBKILL_KEEP=1 keeps the store.
 */
#define _GNU_SOURCE /* pipe2 */
#include "subkill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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

#define SUBKILL_ROUNDS 50
#define PREFILL_EVENTS 3000
/* A kill comes 0..KILL_MS_MAX ms after the consumer started
 * (EARLY_PERCENT of them within the first EARLY_US: while it starts,
 * opens the store and subscribes). */
#define KILL_MS_MAX 250
#define EARLY_US 4000
#define EARLY_PERCENT 16
/* Half the kills at an "about to ack" line come that long after it
 * (0.05-2 ms): during the ack, or just after it returned. */
#define ACK_DELAY_US_MIN 50
#define ACK_DELAY_US_MAX 2000
/* A kill waiting for a line falls back to a plain kill after this. */
#define TRIGGER_WAIT_MS 1000
/* How long a killed consumer's pipe may take to report EOF. */
#define DRAIN_MS 10000
/* How long the last, unkilled consumer may take to catch up. */
#define FINAL_MS 60000
/* The whole test gives up after this. */
#define TOTAL_LIMIT_S 240
#define POLL_SLICE_MS 1

enum kill_mode {
	KILL_AT_TIME,
	KILL_AT_BEGIN_ACK,
	KILL_AT_ACKED,
	KILL_AT_DELIVERY,
	KILL_MODES
};
static const char *const mode_names[KILL_MODES] = {"time", "about-to-ack",
                                                   "acked", "delivery"};

/* What was delivered at one position, over every run. */
struct slot {
	char token[SUBKILL_TOKEN_MAX];
	uint32_t count;
};

/* What the checks at the end need of each run. */
struct run_summary {
	bool started;
	uint64_t start;  /* the cursor it started after */
	uint64_t nd;     /* events delivered */
	uint64_t last_d; /* the last one */
};

/* One consumer process. */
struct run {
	unsigned index;
	bool final;
	pid_t pid;
	double t0;
	/* the kill */
	enum kill_mode mode;
	double kill_ms;        /* not before this */
	unsigned ack_delay_us; /* KILL_AT_BEGIN_ACK: after the line */
	double deadline;       /* a delayed kill is due then (s); 0: none */
	bool killed;
	double killed_ms; /* when it was */
	/* what it said */
	bool started;
	uint64_t start;
	uint64_t nd, last_d;
	bool pending; /* a B without its A */
	uint64_t pending_b;
	bool have_a;
	uint64_t last_a;
	bool finished;
	uint64_t final_pos;
	bool unsupported;
	bool child_error;
	/* the line reader */
	int fd;
	char buf[65536];
	size_t len;
};

struct test {
	char dir[PATH_MAX];
	char uri[PATH_MAX + 32];
	char exe[PATH_MAX];
	const char *backend;
	uint64_t seed, rng;
	double t0;
	/* deliveries, indexed by position */
	struct slot *slots;
	size_t nslots;
	struct run_summary runs[SUBKILL_ROUNDS + 1];
	unsigned nruns;
	/* the stored cursor as last read */
	uint64_t cursor;
	bool cursor_exists;
	bool ever_started;
	uint64_t max_begun; /* highest B ever */
	/* the writer */
	pid_t writer_pid;
	int writer_in, writer_out;
	uint64_t prefill_head;
	/* findings and figures */
	unsigned findings;
	uint64_t deliveries, acks;
	unsigned kills[KILL_MODES];
	unsigned killed_in_flight_landed, killed_in_flight_not;
	unsigned killed_before_subscribed;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 3, 4))) static void
finding(struct test *t, const struct run *r, const char *fmt, ...)
{
	va_list ap;

	t->findings++;
	if (r != NULL)
		fprintf(stderr, "subkill: FAIL round %u%s: ", r->index,
		        r->final ? " (final)" : "");
	else
		fprintf(stderr, "subkill: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- files ---- */

static void
remove_tree(const char *path)
{
	char child[PATH_MAX + 256];
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
	char buf[PATH_MAX];
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

/* ---- children ---- */

/* fork + exec of this binary with argv; its stdout is a pipe whose read
 * end (non-blocking) goes to *out_fd; with in_fd, its stdin is a pipe
 * whose write end goes to *in_fd.  Every end the parent keeps is
 * close-on-exec, so no child holds another's pipe. */
static pid_t
spawn(struct test *t, char *const argv[], int *in_fd, int *out_fd)
{
	int out[2], in[2] = {-1, -1};
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) != 0)
		return -1;
	if (in_fd != NULL && pipe2(in, O_CLOEXEC) != 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (in_fd != NULL && dup2(in[0], 0) < 0)
			_exit(126);
		if (dup2(out[1], 1) < 0)
			_exit(126);
		execv(t->exe, argv);
		_exit(127);
	}
	close(out[1]);
	if (in_fd != NULL)
		close(in[0]);
	if (pid < 0) {
		close(out[0]);
		if (in_fd != NULL)
			close(in[1]);
		return -1;
	}
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	*out_fd = out[0];
	if (in_fd != NULL)
		*in_fd = in[1];
	return pid;
}

/* Wait for pid; *status as waitpid gives it.  0 or -1. */
static int
reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* ---- the store, from the parent ---- */

/* Open the store, read the cursor, close it.  0, or -1 (printed). */
static int
read_cursor(struct test *t, const struct run *r, uint64_t *pos, bool *exists)
{
	cairn_sub_info info;
	cairn_store *st;
	cairn_status rc;

	rc = cairn_open(t->uri, NULL, &st);
	if (rc != CAIRN_OK) {
		finding(t, r, "reopening the store: %s: %s",
		        cairn_status_str(rc), cairn_last_error());
		return -1;
	}
	rc = cairn_subs_get(st, SUBKILL_NAME, &info);
	if (rc == CAIRN_OK) {
		*pos = info.position;
		*exists = true;
	} else if (rc == CAIRN_NOT_FOUND) {
		*pos = 0;
		*exists = false;
	} else {
		finding(t, r, "cairn_subs_get: %s: %s", cairn_status_str(rc),
		        cairn_last_error());
	}
	cairn_close(st);
	return rc == CAIRN_OK || rc == CAIRN_NOT_FOUND ? 0 : -1;
}

/* ---- one consumer's lines ---- */

static int
slot_grow(struct test *t, uint64_t pos)
{
	size_t cap;
	struct slot *s;

	if (pos < t->nslots)
		return 0;
	cap = t->nslots ? t->nslots : 4096;
	while (cap <= pos)
		cap *= 2;
	s = realloc(t->slots, cap * sizeof(*s));
	if (s == NULL)
		return -1;
	memset(s + t->nslots, 0, (cap - t->nslots) * sizeof(*s));
	t->slots = s;
	t->nslots = cap;
	return 0;
}

static void
kill_now(struct test *t, struct run *r)
{
	if (r->killed || r->final)
		return;
	kill(r->pid, SIGKILL);
	r->killed = true;
	r->killed_ms = (now_s() - r->t0) * 1000.0;
	t->kills[r->mode]++;
}

/* Whether a line of kind c kills the run now (its time has come). */
static bool
trigger(const struct run *r, char c)
{
	double ms = (now_s() - r->t0) * 1000.0;

	if (r->final || r->killed || r->deadline != 0 || ms < r->kill_ms)
		return false;
	return (r->mode == KILL_AT_BEGIN_ACK && c == 'B') ||
	       (r->mode == KILL_AT_ACKED && c == 'A') ||
	       (r->mode == KILL_AT_DELIVERY && c == 'D');
}

static void
on_delivery(struct test *t, struct run *r, const char *line)
{
	char type[80], token[SUBKILL_TOKEN_MAX + 8];
	uint64_t pos, after;

	if (sscanf(line, "D %" SCNu64 " %79s %39s", &pos, type, token) != 3) {
		finding(t, r, "a malformed line: %s", line);
		return;
	}
	if (!r->started) {
		finding(t, r, "a delivery before subscribing: %s", line);
		return;
	}
	after = r->nd ? r->last_d : r->start;
	if (pos <= after)
		finding(t, r,
		        "delivered %" PRIu64 " after %" PRIu64 " (%s): not "
		        "strictly increasing, or not after the cursor",
		        pos, after,
		        r->nd ? "its previous delivery" : "the start cursor");
	if (!subkill_type_matches(type))
		finding(t, r,
		        "delivered %" PRIu64 " of type %s: the filter "
		        "does not take it",
		        pos, type);
	if (strlen(token) >= SUBKILL_TOKEN_MAX || slot_grow(t, pos) != 0) {
		finding(t, r, "position %" PRIu64 " / token %s: too much", pos,
		        token);
		return;
	}
	if (t->slots[pos].count == 0)
		memcpy(t->slots[pos].token, token, strlen(token) + 1);
	else if (strcmp(t->slots[pos].token, token) != 0)
		finding(t, r,
		        "position %" PRIu64 " delivered as %s, earlier "
		        "as %s",
		        pos, token, t->slots[pos].token);
	t->slots[pos].count++;
	t->deliveries++;
	r->nd++;
	r->last_d = pos;
}

static void
on_line(struct test *t, struct run *r, const char *line)
{
	uint64_t p;

	if (trigger(r, line[0])) {
		if (r->ack_delay_us && r->deadline == 0)
			r->deadline = now_s() + r->ack_delay_us / 1e6;
		else if (!r->ack_delay_us)
			kill_now(t, r);
	}
	switch (line[0]) {
	case 'S':
		if (r->started || sscanf(line, "S %" SCNu64, &p) != 1) {
			finding(t, r, "unexpected: %s", line);
			return;
		}
		r->started = true;
		r->start = p;
		t->ever_started = true;
		if (p != t->cursor)
			finding(t, r,
			        "started after %" PRIu64 ", but the "
			        "stored cursor read after the last kill was "
			        "%" PRIu64,
			        p, t->cursor);
		return;
	case 'D':
		on_delivery(t, r, line);
		return;
	case 'B':
		if (sscanf(line, "B %" SCNu64, &p) != 1 || r->pending ||
		    r->nd == 0) {
			finding(t, r, "unexpected: %s", line);
			return;
		}
		if (p != r->last_d)
			finding(t, r,
			        "acks %" PRIu64 ", not its last delivery "
			        "%" PRIu64,
			        p, r->last_d);
		r->pending = true;
		r->pending_b = p;
		if (p > t->max_begun)
			t->max_begun = p;
		return;
	case 'A':
		if (sscanf(line, "A %" SCNu64, &p) != 1 || !r->pending ||
		    p != r->pending_b) {
			finding(t, r, "unexpected: %s", line);
			return;
		}
		r->pending = false;
		r->have_a = true;
		r->last_a = p;
		t->acks++;
		return;
	case 'F':
		if (!r->final || sscanf(line, "F %" SCNu64, &p) != 1) {
			finding(t, r, "unexpected: %s", line);
			return;
		}
		r->finished = true;
		r->final_pos = p;
		return;
	case 'U':
		r->unsupported = true;
		fprintf(stderr, "subkill: %s\n", line + 2);
		return;
	case 'E':
		r->child_error = true;
		finding(t, r, "the consumer failed: %s", line + 2);
		return;
	default:
		finding(t, r, "a malformed line: %s", line);
	}
}

/* Read what is there.  1 at EOF, 0, -1 on a read error. */
static int
feed(struct test *t, struct run *r)
{
	size_t used = 0;
	char *nl;
	ssize_t n;

	n = read(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return 1; /* a partial last line never got out whole */
	r->len += (size_t)n;
	r->buf[r->len] = 0;
	while ((nl = strchr(r->buf + used, '\n')) != NULL) {
		*nl = 0;
		on_line(t, r, r->buf + used);
		used = (size_t)(nl - r->buf) + 1;
	}
	memmove(r->buf, r->buf + used, r->len - used);
	r->len -= used;
	if (r->len == sizeof(r->buf) - 1) {
		finding(t, r, "an overlong line");
		return -1;
	}
	return 0;
}

/* ---- a round ---- */

/* After a killed run: the stored cursor against what the run said. */
static void
check_cursor(struct test *t, struct run *r)
{
	uint64_t c, base;
	bool exists;

	if (read_cursor(t, r, &c, &exists) != 0)
		return;
	/* the last position known acknowledged */
	base = r->have_a ? r->last_a : r->started ? r->start : t->cursor;
	if (!exists && (t->ever_started || base != 0))
		finding(t, r,
		        "the cursor is gone (the last ack was %" PRIu64 ")",
		        base);
	if (c < base)
		finding(t, r,
		        "the stored cursor %" PRIu64 " is behind the "
		        "last acknowledged position %" PRIu64,
		        c, base);
	if (c > t->max_begun && c > base)
		finding(t, r,
		        "the stored cursor %" PRIu64 " is ahead of every "
		        "ack ever begun (highest %" PRIu64 ")",
		        c, t->max_begun);
	if (c != base && !(r->pending && c == r->pending_b))
		finding(t, r,
		        "the stored cursor %" PRIu64 " is neither the "
		        "last acknowledged position %" PRIu64 " nor the one "
		        "being acknowledged (%s%" PRIu64 ")",
		        c, base, r->pending ? "" : "none; last delivered ",
		        r->pending ? r->pending_b : r->last_d);
	if (r->pending) {
		if (c == r->pending_b)
			t->killed_in_flight_landed++;
		else
			t->killed_in_flight_not++;
	}
	if (!r->started)
		t->killed_before_subscribed++;
	t->cursor = c;
	t->cursor_exists = exists;
}

/* Run one consumer: killed (final false) or to the end (final true).
 * Returns 0, 77 when the backend has no durable subscriptions, or -1
 * when the harness itself failed. */
static int
run_consumer(struct test *t, unsigned index, bool final)
{
	char a_seed[32], a_batch[32], a_delay[32], a_every[32], a_post[32];
	char a_timeout[32], *argv[12];
	struct run *r;
	struct pollfd pfd;
	int status, eof = 0, ret = 0;
	double ms, limit;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -1;
	r->index = index;
	r->final = final;
	r->mode = (enum kill_mode)subkill_rng_below(&t->rng, KILL_MODES);
	if (subkill_rng_below(&t->rng, 100) < EARLY_PERCENT)
		r->kill_ms = subkill_rng_below(&t->rng, EARLY_US + 1) / 1000.0;
	else
		r->kill_ms = subkill_rng_below(&t->rng, KILL_MS_MAX + 1);
	if (r->mode == KILL_AT_BEGIN_ACK && subkill_rng_below(&t->rng, 2))
		r->ack_delay_us = subkill_rng_range(&t->rng, ACK_DELAY_US_MIN,
		                                    ACK_DELAY_US_MAX);
	snprintf(a_seed, sizeof(a_seed), "%" PRIu64, subkill_rng_next(&t->rng));
	snprintf(a_batch, sizeof(a_batch), "%u",
	         subkill_rng_below(&t->rng, 2)
	                 ? 0
	                 : subkill_rng_range(&t->rng, 1, 4));
	snprintf(a_delay, sizeof(a_delay), "%u",
	         final || subkill_rng_below(&t->rng, 2)
	                 ? 0
	                 : subkill_rng_range(&t->rng, 100, 3000));
	snprintf(a_every, sizeof(a_every), "%u",
	         subkill_rng_below(&t->rng, 10) < 7
	                 ? 1
	                 : subkill_rng_range(&t->rng, 2, 4));
	snprintf(a_post, sizeof(a_post), "%u",
	         final || subkill_rng_below(&t->rng, 2)
	                 ? 0
	                 : subkill_rng_range(&t->rng, 200, 2000));
	snprintf(a_timeout, sizeof(a_timeout), "%u",
	         subkill_rng_range(&t->rng, 10, 200));
	argv[0] = t->exe;
	argv[1] = "--consumer";
	argv[2] = t->uri;
	argv[3] = a_seed;
	argv[4] = a_batch;
	argv[5] = a_delay;
	argv[6] = a_every;
	argv[7] = a_post;
	argv[8] = a_timeout;
	argv[9] = final ? "1" : "0";
	argv[10] = NULL;
	r->t0 = now_s();
	r->pid = spawn(t, argv, NULL, &r->fd);
	if (r->pid < 0) {
		perror("subkill: spawn");
		free(r);
		return -1;
	}
	limit = final ? FINAL_MS : KILL_MS_MAX + TRIGGER_WAIT_MS + DRAIN_MS;
	while (!eof) {
		ms = (now_s() - r->t0) * 1000.0;
		if (!r->killed && !final &&
		    ((r->deadline != 0 && now_s() >= r->deadline) ||
		     ms >= r->kill_ms + (r->mode == KILL_AT_TIME
		                                 ? 0
		                                 : TRIGGER_WAIT_MS)))
			kill_now(t, r);
		if (ms > limit) {
			finding(t, r, "the consumer did not %s within %.0f s",
			        final ? "catch up" : "go away", limit / 1000);
			kill(r->pid, SIGKILL);
			ret = -1;
			break;
		}
		pfd.fd = r->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1,
		         r->deadline != 0 && !r->killed ? 0 : POLL_SLICE_MS) <
		            0 &&
		    errno != EINTR) {
			ret = -1;
			break;
		}
		eof = feed(t, r);
		if (eof < 0) {
			ret = -1;
			kill(r->pid, SIGKILL);
			break;
		}
	}
	close(r->fd);
	if (reap(r->pid, &status) != 0) {
		ret = -1;
	} else if (r->unsupported && WIFEXITED(status) &&
	           WEXITSTATUS(status) == 77) {
		ret = 77;
	} else if (final) {
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		    !r->finished)
			finding(t, r,
			        "the last consumer ended with status "
			        "0x%x without catching up",
			        status);
	} else if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	             r->killed)) {
		finding(t, r, "the consumer ended by itself (status 0x%x)",
		        status);
	}
	if (ret == 0) {
		struct run_summary *s = &t->runs[t->nruns++];

		s->started = r->started;
		s->start = r->start;
		s->nd = r->nd;
		s->last_d = r->last_d;
		check_cursor(t, r);
		if (final && r->finished && t->cursor != r->last_a && r->nd > 0)
			finding(t, r,
			        "after the last consumer the cursor is "
			        "%" PRIu64 ", its last ack %" PRIu64,
			        t->cursor, r->last_a);
		if (getenv("CAIRN_SUBKILL_VERBOSE"))
			printf("subkill: round %u: %s kill after %.1f ms (+%u "
			       "us), at %.1f ms%s; %s %" PRIu64 ", %" PRIu64
			       " delivered up to %" PRIu64 ", %s; cursor now "
			       "%" PRIu64 "\n",
			       index, mode_names[r->mode], r->kill_ms,
			       r->ack_delay_us, r->killed_ms,
			       final ? " (final: none)" : "",
			       r->started ? "started after" : "not subscribed;",
			       r->start, r->nd, r->last_d,
			       r->pending ? "an ack in flight"
			                  : "no ack in flight",
			       t->cursor);
	}
	free(r);
	return ret;
}

/* ---- the writer ---- */

/* Read one line from fd (blocking up to ms) into buf.  0 or -1. */
static int
read_line(int fd, char *buf, size_t size, int ms)
{
	size_t len = 0;
	double t0 = now_s();
	struct pollfd pfd;
	ssize_t n;

	while (len + 1 < size) {
		if ((now_s() - t0) * 1000.0 > ms)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10) < 0 && errno != EINTR)
			return -1;
		n = read(fd, buf + len, 1);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = 0;
			return 0;
		}
		len++;
	}
	return -1;
}

static int
start_writer(struct test *t)
{
	char a_seed[32], a_prefill[32], line[SUBKILL_LINE_MAX];
	char *argv[6];

	snprintf(a_seed, sizeof(a_seed), "%" PRIu64, subkill_rng_next(&t->rng));
	snprintf(a_prefill, sizeof(a_prefill), "%d", PREFILL_EVENTS);
	argv[0] = t->exe;
	argv[1] = "--writer";
	argv[2] = t->uri;
	argv[3] = a_seed;
	argv[4] = a_prefill;
	argv[5] = NULL;
	t->writer_pid = spawn(t, argv, &t->writer_in, &t->writer_out);
	if (t->writer_pid < 0) {
		perror("subkill: spawn");
		return -1;
	}
	if (read_line(t->writer_out, line, sizeof(line), 60000) != 0 ||
	    sscanf(line, "P %" SCNu64, &t->prefill_head) != 1) {
		finding(t, NULL, "the writer did not prefill: %s", line);
		return -1;
	}
	return 0;
}

/* The writer must still be appending. */
static int
writer_alive(struct test *t)
{
	int status;

	if (waitpid(t->writer_pid, &status, WNOHANG) == 0)
		return 0;
	finding(t, NULL, "the writer stopped (status 0x%x)", status);
	t->writer_pid = -1;
	return -1;
}

/* Close its stdin, take its last line, reap it. */
static int
stop_writer(struct test *t, uint64_t *head)
{
	char line[SUBKILL_LINE_MAX] = "";
	unsigned appends = 0;
	uint64_t events = 0;
	int status, rc = 0;

	if (t->writer_pid <= 0)
		return -1;
	close(t->writer_in);
	if (read_line(t->writer_out, line, sizeof(line), 30000) != 0 ||
	    sscanf(line, "X %u %" SCNu64 " %" SCNu64, &appends, &events,
	           head) != 3) {
		finding(t, NULL, "the writer did not stop cleanly: %s", line);
		kill(t->writer_pid, SIGKILL);
		rc = -1;
	}
	close(t->writer_out);
	if (reap(t->writer_pid, &status) != 0 ||
	    (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))) {
		finding(t, NULL, "the writer exited with status 0x%x", status);
		rc = -1;
	}
	t->writer_pid = -1;
	if (rc == 0)
		printf("subkill: the writer made %u appends, %" PRIu64
		       " events (%" PRIu64 " before the first consumer)\n",
		       appends, events, t->prefill_head);
	return rc;
}

/* ---- the end ---- */

/* Read the whole store: every matching event delivered with its data,
 * nothing else delivered; each run without a gap. */
static void
check_all(struct test *t, uint64_t head)
{
	cairn_store *st;
	cairn_iter *it;
	const cairn_event *e;
	cairn_status rc;
	uint64_t *matching = NULL, expect = 1, nmatch = 0, last_match = 0;
	uint64_t redelivered = 0, p;
	unsigned i;

	if (slot_grow(t, head) != 0 ||
	    (matching = calloc(head + 1, sizeof(*matching))) == NULL) {
		finding(t, NULL, "out of memory");
		return;
	}
	rc = cairn_open(t->uri, NULL, &st);
	if (rc != CAIRN_OK) {
		finding(t, NULL, "open: %s: %s", cairn_status_str(rc),
		        cairn_last_error());
		free(matching);
		return;
	}
	rc = cairn_read_all(st, NULL, &it);
	if (rc != CAIRN_OK) {
		finding(t, NULL, "cairn_read_all: %s: %s", cairn_status_str(rc),
		        cairn_last_error());
		cairn_close(st);
		free(matching);
		return;
	}
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		bool m = subkill_type_matches(e->type);
		const struct slot *s = &t->slots[e->position];

		if (e->position != expect || e->position > head) {
			finding(t, NULL,
			        "the store holds position %" PRIu64
			        " where %" PRIu64 " was expected (head %" PRIu64
			        ")",
			        e->position, expect, head);
			break;
		}
		expect++;
		matching[e->position] = matching[e->position - 1] + m;
		if (m) {
			nmatch++;
			last_match = e->position;
		}
		if (m && s->count == 0)
			finding(t, NULL,
			        "event %" PRIu64 " (%s %.*s) was never "
			        "delivered",
			        e->position, e->type, (int)e->data_len,
			        (const char *)e->data);
		else if (!m && s->count != 0)
			finding(t, NULL,
			        "event %" PRIu64 " of type %s was "
			        "delivered: the filter does not take it",
			        e->position, e->type);
		else if (m && (e->data_len != strlen(s->token) ||
		               memcmp(e->data, s->token, e->data_len) != 0))
			finding(t, NULL,
			        "event %" PRIu64 " is %.*s, delivered "
			        "as %s",
			        e->position, (int)e->data_len,
			        (const char *)e->data, s->token);
		if (s->count > 1)
			redelivered += s->count - 1;
	}
	if (rc != CAIRN_DONE)
		finding(t, NULL, "reading the store: %s: %s",
		        cairn_status_str(rc), cairn_last_error());
	cairn_iter_free(it);
	cairn_close(st);
	if (rc == CAIRN_DONE && expect != head + 1)
		finding(t, NULL,
		        "the store ends at %" PRIu64 ", the writer "
		        "at %" PRIu64,
		        expect - 1, head);
	for (p = head + 1; p < t->nslots; p++)
		if (t->slots[p].count)
			finding(t, NULL,
			        "position %" PRIu64 " was delivered, "
			        "beyond the head %" PRIu64,
			        p, head);
	/* no gap within a run: it delivered every matching event between
	 * its start and its last delivery */
	for (i = 0; rc == CAIRN_DONE && i < t->nruns; i++) {
		const struct run_summary *s = &t->runs[i];

		if (s->nd == 0 || s->last_d > head || s->start > s->last_d)
			continue;
		if (s->nd != matching[s->last_d] - matching[s->start])
			finding(t, NULL,
			        "round %u delivered %" PRIu64 " events "
			        "in %" PRIu64 "..%" PRIu64 ", where %" PRIu64
			        " match",
			        i + 1, s->nd, s->start + 1, s->last_d,
			        matching[s->last_d] - matching[s->start]);
	}
	if (t->cursor != last_match)
		finding(t, NULL,
		        "the final cursor is %" PRIu64 ", the last "
		        "matching event %" PRIu64,
		        t->cursor, last_match);
	printf("subkill: %" PRIu64 " events, %" PRIu64 " matching the filter;"
	       " %" PRIu64 " deliveries (%" PRIu64 " repeated after a "
	       "kill), %" PRIu64 " acks\n",
	       head, nmatch, t->deliveries, redelivered, t->acks);
	free(matching);
}

/* ---- main ---- */

static uint64_t
pick_seed(void)
{
	const char *env = getenv("CAIRN_SUBKILL_SEED");
	struct timespec ts;

	if (env != NULL && env[0] != 0)
		return strtoull(env, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 40);
}

/* A fresh store, and whether it keeps durable subscriptions: 0, 77 to
 * skip, or -1. */
static int
setup(struct test *t)
{
	cairn_sub_info info;
	cairn_store *st;
	cairn_status rc;
	const char *req = getenv("CAIRN_SUBKILL_REQUIRE");
	bool require = req != NULL && strcmp(req, "1") == 0;

	remove_tree(t->dir);
	if (make_dirs(t->dir) != 0) {
		fprintf(stderr, "subkill: cannot create %s: %s\n", t->dir,
		        strerror(errno));
		return -1;
	}
	rc = cairn_open(t->uri, NULL, &st);
	if (rc == CAIRN_INVALID_URI) {
		fprintf(stderr, "subkill: %s: %s\n", t->uri,
		        cairn_last_error());
		return require ? -1 : 77;
	}
	if (rc != CAIRN_OK) {
		fprintf(stderr, "subkill: open %s: %s: %s\n", t->uri,
		        cairn_status_str(rc), cairn_last_error());
		return -1;
	}
	rc = cairn_subs_get(st, SUBKILL_NAME, &info);
	if (rc == CAIRN_UNSUPPORTED)
		fprintf(stderr, "subkill: %s\n", cairn_last_error());
	else if (rc != CAIRN_NOT_FOUND)
		fprintf(stderr,
		        "subkill: cairn_subs_get on a new store: %s: "
		        "%s\n",
		        cairn_status_str(rc), cairn_last_error());
	cairn_close(st);
	if (rc == CAIRN_UNSUPPORTED)
		return require ? -1 : 77;
	return rc == CAIRN_NOT_FOUND ? 0 : -1;
}

static int
run_test(struct test *t)
{
	uint64_t head = 0;
	unsigned i;
	int rc;

	rc = setup(t);
	if (rc != 0)
		return rc;
	if (start_writer(t) != 0)
		return -1;
	for (i = 1; i <= SUBKILL_ROUNDS && t->findings == 0; i++) {
		if (now_s() - t->t0 > TOTAL_LIMIT_S) {
			finding(t, NULL, "out of time after %u rounds", i - 1);
			break;
		}
		rc = run_consumer(t, i, false);
		if (rc == 77) {
			fprintf(stderr, "subkill: the consumer says durable "
			                "subscriptions are unsupported\n");
			kill(t->writer_pid, SIGKILL);
			reap(t->writer_pid, &rc);
			return 77;
		}
		if (rc != 0 || writer_alive(t) != 0)
			break;
	}
	if (t->writer_pid > 0 && stop_writer(t, &head) != 0)
		return -1;
	if (t->findings != 0)
		return 1;
	printf("subkill: %u rounds killed in %.1f s: %u at a random time, "
	       "%u at 'about to ack', %u at 'acked', %u at a delivery; %u "
	       "before subscribing; an ack in flight %u times (stored %u, "
	       "not stored %u)\n",
	       SUBKILL_ROUNDS, now_s() - t->t0, t->kills[KILL_AT_TIME],
	       t->kills[KILL_AT_BEGIN_ACK], t->kills[KILL_AT_ACKED],
	       t->kills[KILL_AT_DELIVERY], t->killed_before_subscribed,
	       t->killed_in_flight_landed + t->killed_in_flight_not,
	       t->killed_in_flight_landed, t->killed_in_flight_not);
	if (run_consumer(t, SUBKILL_ROUNDS + 1, true) != 0)
		return t->findings ? 1 : -1;
	check_all(t, head);
	return t->findings ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct test *t;
	const char *keep;
	ssize_t n;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "--writer") == 0)
		return subkill_writer_main(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "--consumer") == 0)
		return subkill_consumer_main(argc - 2, argv + 2);
	if (argc != 3 || argv[1][0] == 0 || argv[2][0] == 0) {
		fprintf(stderr, "usage: subkill_test <base-dir> <backend>\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return 2;
	t->t0 = now_s();
	t->backend = argv[2];
	n = readlink("/proc/self/exe", t->exe, sizeof(t->exe) - 1);
	if (n <= 0 || (size_t)n >= sizeof(t->exe) - 1)
		snprintf(t->exe, sizeof(t->exe), "%s", argv[0]);
	if ((size_t)snprintf(t->dir, sizeof(t->dir), "%s/%s-%ld", argv[1],
	                     argv[2], (long)getpid()) >= sizeof(t->dir) ||
	    (size_t)snprintf(t->uri, sizeof(t->uri), "%s:%s/store", argv[2],
	                     t->dir) >= sizeof(t->uri)) {
		fprintf(stderr, "subkill: the base directory is too long\n");
		return 2;
	}
	t->writer_pid = -1;
	t->seed = pick_seed();
	t->rng = t->seed;
	printf("subkill: %s, seed %" PRIu64 " (CAIRN_SUBKILL_SEED=%" PRIu64
	       " repeats it)\n",
	       t->uri, t->seed, t->seed);
	fflush(stdout);
	rc = run_test(t);
	if (rc == 77)
		printf("subkill: SKIPPED: %s keeps no durable subscriptions "
		       "(or is not registered)\n",
		       t->backend);
	else if (rc == 0)
		printf("subkill: PASS in %.1f s\n", now_s() - t->t0);
	else
		printf("subkill: FAILED (seed %" PRIu64 ")\n", t->seed);
	keep = getenv("CAIRN_SUBKILL_KEEP");
	if (keep != NULL && strcmp(keep, "1") == 0)
		printf("subkill: kept %s\n", t->dir);
	else
		remove_tree(t->dir);
	free(t->slots);
	free(t);
	return rc == 0 ? 0 : rc == 77 ? 77 : rc == 1 ? 1 : 2;
}
