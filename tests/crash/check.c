/*
 * check.c -- reopening a store in a fresh process and checking it against
 * what the writers were told (see crash_check() in crash.h), on any of
 * the backends; the checker tells the parent what it counted through a
 * pipe, one line: "F <head> <appends> <unacked> <problems>".
 */
#include "crash.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Findings printed in full; the rest are only counted. */
#define PRINT_MAX 25

/* One stored event, by position. */
typedef struct seen {
	char stream[CRASH_STREAM_MAX];
	uint64_t version;
	cairn_uuid id;
	char token[CRASH_TOKEN_MAX];
	char shape[CRASH_SHAPE_MAX];
	bool present;
} seen;

/* One append, as its tokens name it. */
typedef struct group_key {
	unsigned round, writer, append;
} group_key;

typedef struct checker {
	crash_store *cs;
	const crash_expect *ex;
	cairn_store *st;
	seen *table; /* table[position - 1] */
	uint64_t head;
	crash_token *tokens; /* of every stored event */
	size_t ntokens;
	group_key *acked; /* appends with an ack, sorted */
	size_t nacked;
	unsigned long problems;
	unsigned long verify_calls; /* of verify_problem() */
	unsigned long appends;      /* appends stored */
	unsigned long unacked;      /* of them without an ack */
} checker;

__attribute__((format(printf, 2, 3))) static void
problem(checker *ck, const char *fmt, ...)
{
	va_list ap;

	if (++ck->problems > PRINT_MAX)
		return;
	fprintf(stderr, "check %s: ", ck->cs->dir);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
copy_text(char *dst, size_t size, const void *src, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = 0;
}

/* $all from the start: positions 1, 2, ... with no gap, into the table. */
static int
read_all_events(checker *ck)
{
	const cairn_event *e;
	cairn_iter *it;
	cairn_status rc;
	uint64_t want = 1;
	crash_token *t;
	seen *s;

	if (cairn_head(ck->st, &ck->head) != CAIRN_OK) {
		problem(ck, "head: %s", cairn_last_error());
		return -1;
	}
	ck->table = calloc(ck->head ? ck->head : 1, sizeof(*ck->table));
	ck->tokens = calloc(ck->head ? ck->head : 1, sizeof(*ck->tokens));
	if (ck->table == NULL || ck->tokens == NULL ||
	    cairn_read_all(ck->st, NULL, &it) != CAIRN_OK) {
		problem(ck, "reading $all: %s", cairn_last_error());
		return -1;
	}
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		if (e->position != want)
			problem(ck,
			        "$all yields position %" PRIu64 " where "
			        "%" PRIu64 " was due",
			        e->position, want);
		want = e->position + 1;
		if (e->position == 0 || e->position > ck->head) {
			problem(ck,
			        "position %" PRIu64 " is past the head "
			        "%" PRIu64,
			        e->position, ck->head);
			continue;
		}
		s = &ck->table[e->position - 1];
		s->present = true;
		copy_text(s->stream, sizeof(s->stream), e->stream,
		          e->stream_len);
		s->version = e->version;
		s->id = e->id;
		copy_text(s->token, sizeof(s->token), e->data, e->data_len);
		t = &ck->tokens[ck->ntokens];
		if (crash_token_parse(e->data, e->data_len, t) != 0)
			problem(ck,
			        "position %" PRIu64 " holds data no writer "
			        "wrote (%.*s)",
			        e->position,
			        (int)(e->data_len < 60 ? e->data_len : 60),
			        (const char *)e->data);
		else if (crash_shape_of(e, t->round, t->writer, s->shape) != 0)
			problem(ck, "position %" PRIu64 ": no shape",
			        e->position);
		else if (t->conflict)
			problem(ck,
			        "position %" PRIu64 " holds %s, from an "
			        "append that conflicted",
			        e->position, s->token);
		else
			ck->ntokens++;
	}
	cairn_iter_free(it);
	if (rc != CAIRN_DONE) {
		problem(ck, "reading $all: %s: %s", cairn_status_str(rc),
		        cairn_last_error());
		return -1;
	}
	if (want - 1 != ck->head)
		problem(ck, "$all ends at %" PRIu64 ", the head is %" PRIu64,
		        want - 1, ck->head);
	return 0;
}

/* Every ack: its event at its position, stream, version, id and data. */
static void
check_acks(checker *ck)
{
	char a_id[CAIRN_UUID_STR_LEN + 1], s_id[CAIRN_UUID_STR_LEN + 1];
	const crash_ack *a;
	uint64_t last = 0;
	const seen *s;
	size_t i;

	for (i = 0; i < ck->cs->nacks; i++) {
		a = &ck->cs->acks[i];
		if (a->position > last)
			last = a->position;
		if (a->position == 0 || a->position > ck->head ||
		    !ck->table[a->position - 1].present) {
			problem(ck,
			        "acked %s v%" PRIu64 " (%s) at position "
			        "%" PRIu64 " is missing (head %" PRIu64 ")",
			        a->stream, a->version, a->token, a->position,
			        ck->head);
			continue;
		}
		s = &ck->table[a->position - 1];
		if (strcmp(s->stream, a->stream) != 0 ||
		    s->version != a->version || strcmp(s->token, a->token) ||
		    strcmp(s->shape, a->shape) ||
		    memcmp(&s->id, &a->id, sizeof(s->id)) != 0) {
			cairn_uuid_format(&a->id, a_id);
			cairn_uuid_format(&s->id, s_id);
			problem(ck,
			        "position %" PRIu64 ": acked %s v%" PRIu64
			        " %s %s id %s, found %s v%" PRIu64 " %s %s "
			        "id %s",
			        a->position, a->stream, a->version, a->token,
			        a->shape, a_id, s->stream, s->version, s->token,
			        s->shape, s_id);
		}
	}
	if (ck->head < last)
		problem(ck,
		        "the head %" PRIu64 " is before the last acked "
		        "position %" PRIu64,
		        ck->head, last);
}

static int
cmp_token(const void *pa, const void *pb)
{
	const crash_token *a = pa, *b = pb;

	if (a->round != b->round)
		return a->round < b->round ? -1 : 1;
	if (a->writer != b->writer)
		return a->writer < b->writer ? -1 : 1;
	if (a->append != b->append)
		return a->append < b->append ? -1 : 1;
	if (a->index != b->index)
		return a->index < b->index ? -1 : 1;
	return 0;
}

static int
cmp_key(const void *pa, const void *pb)
{
	const group_key *a = pa, *b = pb;

	if (a->round != b->round)
		return a->round < b->round ? -1 : 1;
	if (a->writer != b->writer)
		return a->writer < b->writer ? -1 : 1;
	if (a->append != b->append)
		return a->append < b->append ? -1 : 1;
	return 0;
}

static int
index_acks(checker *ck)
{
	crash_token t;
	size_t i;

	ck->acked =
	        calloc(ck->cs->nacks ? ck->cs->nacks : 1, sizeof(*ck->acked));
	if (ck->acked == NULL)
		return -1;
	for (i = 0; i < ck->cs->nacks; i++) {
		if (crash_token_parse(ck->cs->acks[i].token,
		                      strlen(ck->cs->acks[i].token), &t) != 0 ||
		    t.index != 0)
			continue;
		ck->acked[ck->nacked].round = t.round;
		ck->acked[ck->nacked].writer = t.writer;
		ck->acked[ck->nacked].append = t.append;
		ck->nacked++;
	}
	qsort(ck->acked, ck->nacked, sizeof(*ck->acked), cmp_key);
	return 0;
}

/* The largest acked append of (round, writer); false when none. */
static bool
last_acked(const checker *ck, unsigned round, unsigned writer, unsigned *append)
{
	group_key key = {round, writer + 1, 0};
	size_t lo = 0, hi = ck->nacked, mid;

	/* the first key >= (round, writer + 1, 0), then step back */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (cmp_key(&ck->acked[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || ck->acked[lo - 1].round != round ||
	    ck->acked[lo - 1].writer != writer)
		return false;
	*append = ck->acked[lo - 1].append;
	return true;
}

/*
 * Every append whole or absent; and per writer and round, at most one
 * append without an ack, its last (the one in flight when it was killed,
 * or acknowledged just before the kill, before its line got out).
 */
static void
check_appends(checker *ck)
{
	unsigned extra_round = 0, extra_writer = 0, extra = 0, last;
	const crash_token *g, *t;
	group_key key;
	size_t i = 0, j;
	bool acked;

	qsort(ck->tokens, ck->ntokens, sizeof(*ck->tokens), cmp_token);
	while (i < ck->ntokens) {
		g = &ck->tokens[i];
		for (j = i;
		     j < ck->ntokens && ck->tokens[j].round == g->round &&
		     ck->tokens[j].writer == g->writer &&
		     ck->tokens[j].append == g->append;
		     j++) {
			t = &ck->tokens[j];
			if (t->index != j - i || t->count != g->count)
				problem(ck,
				        "append r%u.c%u.a%u: event %u/%u "
				        "where %zu/%u was due",
				        g->round, g->writer, g->append,
				        t->index, t->count, j - i, g->count);
		}
		if (j - i != g->count)
			problem(ck,
			        "append r%u.c%u.a%u is torn: %zu of its %u "
			        "events are stored",
			        g->round, g->writer, g->append, j - i,
			        g->count);
		key.round = g->round;
		key.writer = g->writer;
		key.append = g->append;
		acked = bsearch(&key, ck->acked, ck->nacked, sizeof(key),
		                cmp_key) != NULL;
		ck->appends++;
		if (!acked)
			ck->unacked++;
		if (!acked && extra && extra_round == g->round &&
		    extra_writer == g->writer)
			problem(ck,
			        "round %u writer %u has more than one "
			        "unacknowledged append stored (a%u)",
			        g->round, g->writer, g->append);
		if (!acked && last_acked(ck, g->round, g->writer, &last) &&
		    last > g->append)
			problem(ck,
			        "append r%u.c%u.a%u is stored without an "
			        "ack, but the later a%u was acked",
			        g->round, g->writer, g->append, last);
		if (!acked) {
			extra++;
			extra_round = g->round;
			extra_writer = g->writer;
		}
		i = j;
	}
}

/* Each stream reads back as versions 1..N, at the positions $all says. */
static void
check_one_stream(checker *ck, const char *stream, uint64_t version,
                 uint64_t *events)
{
	const cairn_event *e;
	cairn_iter *it;
	cairn_status rc;
	uint64_t want = 1;
	const seen *s;

	if (cairn_read_stream(ck->st, stream, NULL, &it) != CAIRN_OK) {
		problem(ck, "reading %s: %s", stream, cairn_last_error());
		return;
	}
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		(*events)++;
		if (e->version != want)
			problem(ck,
			        "%s yields v%" PRIu64 " where v%" PRIu64
			        " was due",
			        stream, e->version, want);
		want = e->version + 1;
		s = e->position >= 1 && e->position <= ck->head
		            ? &ck->table[e->position - 1]
		            : NULL;
		if (s == NULL || !s->present || strcmp(s->stream, stream) ||
		    s->version != e->version)
			problem(ck,
			        "%s v%" PRIu64 " names position %" PRIu64
			        ", which $all does not agree with",
			        stream, e->version, e->position);
	}
	cairn_iter_free(it);
	if (rc != CAIRN_DONE)
		problem(ck, "reading %s: %s", stream, cairn_last_error());
	if (want - 1 != version)
		problem(ck,
		        "%s lists version %" PRIu64 " but reads %" PRIu64
		        " events",
		        stream, version, want - 1);
}

static void
check_streams(checker *ck)
{
	char after[CAIRN_STREAM_ID_MAX + 1] = "";
	const cairn_stream_info *si;
	cairn_stream_iter *it;
	uint64_t events = 0;
	size_t got;

	do {
		got = 0;
		if (cairn_list_streams(ck->st, NULL, after, 0, &it) !=
		    CAIRN_OK) {
			problem(ck, "listing: %s", cairn_last_error());
			return;
		}
		while (cairn_stream_iter_next(it, &si) == CAIRN_ROW) {
			got++;
			check_one_stream(ck, si->stream, si->version, &events);
			memcpy(after, si->stream, si->stream_len + 1);
		}
		cairn_stream_iter_free(it);
	} while (got == CAIRN_LIST_DEFAULT_LIMIT);
	if (events != ck->head)
		problem(ck,
		        "the streams hold %" PRIu64 " events, $all %" PRIu64,
		        events, ck->head);
}

static void
verify_problem(void *ctx, const char *text)
{
	checker *ck = ctx;

	ck->verify_calls++;
	problem(ck, "verify: %s", text);
}

static int
check_main(crash_store *cs, const void *arg, int fd)
{
	cairn_options opts;
	uint64_t problems = 0;
	char line[128];
	checker ck;
	int n;

	memset(&ck, 0, sizeof(ck));
	ck.cs = cs;
	ck.ex = arg;
	cairn_options_init(&opts);
	opts.read_only = ck.ex->read_only;
	if (cairn_open(cs->uri, &opts, &ck.st) != CAIRN_OK) {
		problem(&ck, "open%s: %s", opts.read_only ? " (read-only)" : "",
		        cairn_last_error());
		return 1;
	}
	if (read_all_events(&ck) == 0 && index_acks(&ck) == 0) {
		check_acks(&ck);
		check_appends(&ck);
		check_streams(&ck);
	}
	if (cairn_verify(ck.st, verify_problem, &ck, &problems) != CAIRN_OK)
		problem(&ck, "verify: %s", cairn_last_error());
	else if (problems != ck.verify_calls)
		problem(&ck,
		        "verify counts %" PRIu64 " problems, but reported %lu",
		        problems, ck.verify_calls);
	cairn_close(ck.st);
	if (ck.problems > PRINT_MAX)
		fprintf(stderr, "check %s: %lu findings in all\n", cs->dir,
		        ck.problems);
	free(ck.table);
	free(ck.tokens);
	free(ck.acked);
	n = snprintf(line, sizeof(line), "F %" PRIu64 " %lu %lu %lu\n", ck.head,
	             ck.appends, ck.unacked, ck.problems);
	if (write(fd, line, (size_t)n) != n)
		return 2;
	return ck.problems ? 1 : 0;
}

int
crash_check(crash_store *cs, const crash_expect *ex)
{
	return crash_check_counted(cs, ex, NULL);
}

int
crash_check_counted(crash_store *cs, const crash_expect *ex,
                    crash_findings *found)
{
	char report[128] = "";
	crash_findings f;
	int rc = crash_spawn(cs, ex->boot_id, check_main, ex, report,
	                     sizeof(report));

	memset(&f, 0, sizeof(f));
	if (sscanf(report, "F %" SCNu64 " %lu %lu %lu", &f.head, &f.appends,
	           &f.unacked, &f.problems) != 4 &&
	    rc == 0) {
		fprintf(stderr, "crash: the check of %s did not report\n",
		        cs->dir);
		rc = -1;
	}
	/* a checker that could not report (it crashed, or could not open
	 * the store) is one violation at least */
	if (rc != 0 && f.problems == 0)
		f.problems = 1;
	if (found != NULL)
		*found = f;
	if (rc != 0)
		fprintf(stderr, "crash: the check of %s (boot %s%s) failed\n",
		        cs->dir, ex->boot_id ? ex->boot_id : "real",
		        ex->read_only ? ", read-only" : "");
	return rc == 0 ? 0 : -1;
}

typedef struct open_arg {
	bool read_only;
} open_arg;

/* Report "<status> <message>" through fd. */
static int
try_open_main(crash_store *cs, const void *arg, int fd)
{
	const open_arg *oa = arg;
	char report[1024];
	cairn_options opts;
	cairn_store *st = NULL;
	cairn_status rc;
	int n;

	cairn_options_init(&opts);
	opts.read_only = oa->read_only;
	rc = cairn_open(cs->uri, &opts, &st);
	n = snprintf(report, sizeof(report), "%d %s", (int)rc,
	             rc == CAIRN_OK ? "" : cairn_last_error());
	cairn_close(st);
	if (n < 0 || write(fd, report, strlen(report)) < 0)
		return 2;
	return 0;
}

int
crash_try_open(crash_store *cs, const char *boot_id, bool read_only,
               cairn_status *status, char *msg, size_t msg_size)
{
	open_arg oa = {read_only};
	char report[1024];
	int code = -1, used = 0;

	if (crash_spawn(cs, boot_id, try_open_main, &oa, report,
	                sizeof(report)) != 0 ||
	    sscanf(report, "%d %n", &code, &used) != 1) {
		fprintf(stderr, "crash: the open of %s failed to report\n",
		        cs->dir);
		return -1;
	}
	*status = (cairn_status)code;
	snprintf(msg, msg_size, "%s", report + used);
	return 0;
}
