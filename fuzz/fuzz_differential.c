/*
 * fuzz_differential.c -- the same operations on memory, lmdb and sqlite
 * stores must give the same results.
 *
 * Each input is decoded into at most OPS_MAX operations over a small
 * vocabulary (six streams, three types, three tags, eight caller ids),
 * so that versions match, ids repeat and queries hit: appends with every
 * kind of expected version, append_multi, append_if with a query,
 * repeats of the previous append (idempotent when it carried caller ids),
 * reads of a stream and of $all (from, limit, backwards, type, prefix and
 * query filters), stream_version, head, list_streams paged, and the
 * renaming of a stream to bytes of the input (valid ids with '%', '_',
 * '*', '[' and backslashes in them, or raw bytes: the engines must validate
 * alike and list and filter by prefix in the same byte order).  Each
 * operation runs on the three stores, fresh for each input in a
 * temporary directory, and its outcome is written as text: the status,
 * the append result (positions, version, idempotent, the conflict's
 * fields), every event read (position, version, stream, type, data,
 * metadata, tags, commit_rest, and the id when the caller gave it:
 * generated ids are random), the iterator's head, the streams listed
 * (version, last position).  Times are left out.  The three texts must
 * be equal; on a difference both are printed and the target aborts.
 * At the end the whole log is read from each and compared, and
 * cairn_verify() must find no problem in any.
 * CAIRN_FUZZ_VERBOSE=1 in the environment prints every outcome.
 */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "fuzz.h"

#define OPS_MAX 64
#define NSTORES 3

/* The stream ids of an input: these at first; an operation may replace
 * one with bytes of the input (valid or not). */
static const char *const default_streams[] = {"s0",  "s1",  "s2",
                                              "a/x", "a/y", "a_%"};
#define NSTREAMS 6
#define NAME_INPUT_MAX 12
static char stream_names[NSTREAMS][NAME_INPUT_MAX + 1];
static const char *streams[NSTREAMS];
static const char *const types[] = {"T0", "T1", "T2"};
#define NTYPES 3
static const char *const tagv[] = {"t0", "t1", "t2"};
#define NTAGV 3
static const char *const prefixes[] = {"", "s", "a/", "a/y", "zz", "a_", "a%"};
#define NPREFIXES 7
#define NIDS 8

/* ---- the input ---- */

typedef struct input {
	const uint8_t *p;
	size_t n;
} input;

static unsigned
take(input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/* ---- the transcript ---- */

typedef struct text {
	char *s;
	size_t len, cap;
} text;

__attribute__((format(printf, 2, 3))) static void
say(text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		FUZZ_CHECK(n >= 0);
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		FUZZ_CHECK(t->s != NULL);
	}
	t->len += (size_t)n;
}

static void
say_bytes(text *t, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		say(t, "%02x", b[i]);
}

/* ---- operations ---- */

/* An event as the input describes it; the pointers stay valid for the
 * whole input. */
typedef struct ev_spec {
	const char *tags[2];
	uint8_t data[4];
	cairn_uuid id;
} ev_spec;

#define WRITES_MAX 3
#define EVENTS_MAX 3

typedef struct append_op {
	int kind; /* 0 append, 1 multi, 2 append_if */
	size_t nwrites;
	const char *stream[WRITES_MAX];
	int64_t expected[WRITES_MAX];
	size_t nevents[WRITES_MAX];
	cairn_new_event ev[WRITES_MAX][EVENTS_MAX];
	ev_spec spec[WRITES_MAX][EVENTS_MAX];
	cairn_write w[WRITES_MAX];
	/* append_if */
	cairn_query_item items[2];
	cairn_query q;
	const char *qtypes[2][NTYPES], *qtags[2][NTAGV];
	uint64_t after;
} append_op;

static cairn_store *stores[NSTORES];
static const char *const store_names[NSTORES] = {"memory", "lmdb", "sqlite"};

/* The version of stream in the memory store (the others must agree,
 * which the reads check); 0 for an invalid id. */
static uint64_t
known_version(const char *stream)
{
	uint64_t v = 0;

	if (cairn_stream_version(stores[0], stream, &v) != CAIRN_OK)
		return 0;
	return v;
}

static uint64_t
known_head(void)
{
	uint64_t h = 0;

	FUZZ_CHECK(cairn_head(stores[0], &h) == CAIRN_OK);
	return h;
}

static int64_t
take_expected(input *in, const char *stream)
{
	unsigned b = take(in) % 8;
	uint64_t v;

	switch (b) {
	case 0:
		return CAIRN_ANY;
	case 1:
		return CAIRN_NO_STREAM;
	case 2:
		return CAIRN_STREAM_EXISTS;
	case 3:
		return (int64_t)take(in) % 6;
	case 4:
		v = known_version(stream);
		return v > 0 ? (int64_t)v - 1 : (int64_t)v + 1;
	case 5: /* now and then an invalid one */
		b = take(in);
		if (b % 4 == 0)
			return -3 - (int64_t)(b / 4 % 2);
		return (int64_t)known_version(stream);
	default:
		return (int64_t)known_version(stream);
	}
}

/* A prefix filter: a fixed one, or the first bytes of a stream id
 * (perhaps cut inside a UTF-8 sequence) into buf. */
static const char *
take_prefix(input *in, char buf[NAME_INPUT_MAX + 1])
{
	unsigned b = take(in);
	const char *from;
	size_t len;

	if (b < 160)
		return prefixes[b % NPREFIXES];
	from = streams[b % NSTREAMS];
	len = take(in) % (strlen(from) + 1);
	memcpy(buf, from, len);
	buf[len] = '\0';
	return buf;
}

static void
take_event(input *in, cairn_new_event *ev, ev_spec *sp)
{
	unsigned b = take(in), i, n;

	memset(ev, 0, sizeof(*ev));
	ev->type = types[b % NTYPES];
	n = (b / NTYPES) % 3;
	for (i = 0; i < n; i++)
		sp->tags[i] = tagv[take(in) % NTAGV];
	ev->tags = n ? sp->tags : NULL;
	ev->ntags = n;
	b = take(in);
	ev->data_len = b % 5;
	for (i = 0; i < ev->data_len; i++)
		sp->data[i] = (uint8_t)take(in);
	ev->data = ev->data_len ? sp->data : NULL;
	if (b & 8) {
		ev->metadata = sp->data;
		ev->metadata_len = ev->data_len / 2;
	}
	if (b & 0x30) {
		memset(&sp->id, 0, sizeof(sp->id));
		sp->id.bytes[0] = (uint8_t)(take(in) % NIDS);
		sp->id.bytes[6] = 0x40; /* version 4 */
		sp->id.bytes[8] = 0x80; /* variant */
		ev->id = &sp->id;
	}
}

static void
take_query(input *in, cairn_query *q, cairn_query_item *items,
           const char *qtypes[][NTYPES], const char *qtags[][NTAGV])
{
	size_t k, i;

	q->items = items;
	q->nitems = 1 + take(in) % 2;
	for (k = 0; k < q->nitems; k++) {
		unsigned tm = take(in), gm = take(in);

		items[k].types = qtypes[k];
		items[k].ntypes = 0;
		for (i = 0; i < NTYPES; i++)
			if (tm & (1u << i))
				qtypes[k][items[k].ntypes++] = types[i];
		items[k].tags = qtags[k];
		items[k].ntags = 0;
		for (i = 0; i < NTAGV; i++)
			if (gm & (1u << i))
				qtags[k][items[k].ntags++] = tagv[i];
	}
}

static void
take_append(input *in, append_op *op, int kind)
{
	size_t i, j;

	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->nwrites = kind == 0 ? 1 : 1 + take(in) % WRITES_MAX;
	for (i = 0; i < op->nwrites; i++) {
		op->stream[i] = streams[take(in) % NSTREAMS];
		op->expected[i] = take_expected(in, op->stream[i]);
		op->nevents[i] = 1 + take(in) % (kind == 0 ? EVENTS_MAX : 2);
		for (j = 0; j < op->nevents[i]; j++)
			take_event(in, &op->ev[i][j], &op->spec[i][j]);
		op->w[i].stream = op->stream[i];
		op->w[i].expected = op->expected[i];
		op->w[i].events = op->ev[i];
		op->w[i].nevents = op->nevents[i];
	}
	if (kind == 2) {
		uint64_t h = known_head(), back = take(in) % 4;

		take_query(in, &op->q, op->items, op->qtypes, op->qtags);
		op->after = back == 3 ? 0 : (h > back ? h - back : 0);
	}
}

static void
say_result(text *t, cairn_status rc, const cairn_append_result *r)
{
	say(t, "%s", cairn_status_str(rc));
	if (rc == CAIRN_OK)
		say(t, " first=%llu last=%llu version=%llu idem=%d",
		    (unsigned long long)r->first_position,
		    (unsigned long long)r->last_position,
		    (unsigned long long)r->version, r->idempotent);
	else if (rc == CAIRN_CONFLICT)
		say(t,
		    " index=%zu stream=%s expected=%lld actual=%llu "
		    "position=%llu",
		    r->conflict_index, r->conflict_stream,
		    (long long)r->conflict_expected,
		    (unsigned long long)r->conflict_actual,
		    (unsigned long long)r->conflict_position);
	say(t, "\n");
}

static void
run_append(text *t, cairn_store *st, const append_op *op)
{
	cairn_append_result r;
	cairn_status rc;

	memset(&r, 0, sizeof(r));
	switch (op->kind) {
	case 0:
		say(t, "append %s %lld n=%zu: ", op->stream[0],
		    (long long)op->expected[0], op->nevents[0]);
		rc = cairn_append(st, op->stream[0], op->expected[0], op->ev[0],
		                  op->nevents[0], &r);
		break;
	case 1:
		say(t, "multi n=%zu: ", op->nwrites);
		rc = cairn_append_multi(st, op->w, op->nwrites, &r);
		break;
	default:
		say(t, "append_if n=%zu after=%llu: ", op->nwrites,
		    (unsigned long long)op->after);
		rc = cairn_append_if(st, &op->q, op->after, op->w, op->nwrites,
		                     &r);
		break;
	}
	say_result(t, rc, &r);
}

static void
say_event(text *t, const cairn_event *e)
{
	size_t i;

	FUZZ_CHECK(e->stream[e->stream_len] == '\0');
	FUZZ_CHECK(e->type[e->type_len] == '\0');
	say(t, "  @%llu v%llu %s %s d=", (unsigned long long)e->position,
	    (unsigned long long)e->version, e->stream, e->type);
	say_bytes(t, e->data, e->data_len);
	say(t, " m=");
	say_bytes(t, e->metadata, e->metadata_len);
	say(t, " tags=");
	for (i = 0; i < e->ntags; i++)
		say(t, "%s%s", i ? "," : "", e->tags[i]);
	say(t, " rest=%u", (unsigned)e->commit_rest);
	/* the ids given here: first byte < NIDS, the rest as set */
	if (e->id.bytes[6] == 0x40 && e->id.bytes[8] == 0x80 &&
	    e->id.bytes[0] < NIDS && e->id.bytes[1] == 0 &&
	    e->id.bytes[15] == 0)
		say(t, " id=%u", e->id.bytes[0]);
	say(t, "\n");
}

static void
drain(text *t, cairn_status rc, cairn_iter *it, int want_head)
{
	const cairn_event *e;
	uint64_t h = 0;

	say(t, "%s\n", cairn_status_str(rc));
	if (rc != CAIRN_OK)
		return;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
		say_event(t, e);
	say(t, "  end %s", cairn_status_str(rc));
	if (want_head && rc == CAIRN_DONE) {
		rc = cairn_iter_head(it, &h);
		say(t, " head %s %llu", cairn_status_str(rc),
		    (unsigned long long)h);
	}
	say(t, "\n");
	cairn_iter_free(it);
}

typedef struct read_op {
	int all;
	const char *stream;
	cairn_read_opts ro;
	const char *rtypes[NTYPES];
	char prefix[NAME_INPUT_MAX + 1];
	cairn_query q;
	cairn_query_item items[2];
	const char *qtypes[2][NTYPES], *qtags[2][NTAGV];
} read_op;

static void
take_read(input *in, read_op *op, int all)
{
	unsigned b = take(in), i;

	memset(op, 0, sizeof(*op));
	op->all = all;
	op->ro.from = take(in) % 12;
	op->ro.limit = take(in) % 6;
	op->ro.backwards = b & 1;
	if (!all) {
		op->stream = streams[take(in) % NSTREAMS];
		return;
	}
	if (b & 2) {
		unsigned tm = take(in);

		for (i = 0; i < NTYPES; i++)
			if (tm & (1u << i))
				op->rtypes[op->ro.ntypes++] = types[i];
		op->ro.types = op->rtypes;
	}
	if (b & 4)
		op->ro.prefix = take_prefix(in, op->prefix);
	if (b & 8) {
		take_query(in, &op->q, op->items, op->qtypes, op->qtags);
		op->ro.query = &op->q;
	}
}

static void
run_read(text *t, cairn_store *st, const read_op *op)
{
	cairn_iter *it = NULL;
	cairn_status rc;

	if (!op->all) {
		say(t, "read %s from=%llu limit=%llu back=%d: ", op->stream,
		    (unsigned long long)op->ro.from,
		    (unsigned long long)op->ro.limit, op->ro.backwards);
		rc = cairn_read_stream(st, op->stream, &op->ro, &it);
		drain(t, rc, it, 0);
		return;
	}
	say(t,
	    "read_all from=%llu limit=%llu back=%d types=%zu prefix=%s "
	    "query=%zu: ",
	    (unsigned long long)op->ro.from, (unsigned long long)op->ro.limit,
	    op->ro.backwards, op->ro.ntypes,
	    op->ro.prefix ? op->ro.prefix : "-",
	    op->ro.query ? op->ro.query->nitems : 0);
	rc = cairn_read_all(st, &op->ro, &it);
	drain(t, rc, it, 1);
}

static void
run_list(text *t, cairn_store *st, const char *prefix, size_t limit)
{
	char after[CAIRN_STREAM_ID_MAX + 1] = "";
	int pages = 0;

	say(t, "list %s limit=%zu:", prefix, limit);
	for (;;) {
		cairn_stream_iter *si = NULL;
		const cairn_stream_info *s;
		cairn_status rc;
		size_t got = 0;

		rc = cairn_list_streams(st, prefix, after, limit, &si);
		if (rc != CAIRN_OK) {
			say(t, " %s", cairn_status_str(rc));
			break;
		}
		while ((rc = cairn_stream_iter_next(si, &s)) == CAIRN_ROW) {
			say(t, " %s:%llu@%llu", s->stream,
			    (unsigned long long)s->version,
			    (unsigned long long)s->last_position);
			FUZZ_CHECK(s->stream_len <= CAIRN_STREAM_ID_MAX);
			memcpy(after, s->stream, s->stream_len + 1);
			got++;
		}
		say(t, " |%s", cairn_status_str(rc));
		cairn_stream_iter_free(si);
		if (got < limit || ++pages > NSTREAMS + 1)
			break;
	}
	say(t, "\n");
}

/* ---- the stores ---- */

static char dir[512];
static int cleanup_registered;
static void dir_cleanup(void);

static int
remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
stores_open(void)
{
	char uri[sizeof(dir) + 32];
	cairn_options o;
	const char *tmp = getenv("TMPDIR");

	/* $TMPDIR, else /dev/shm (no disk I/O), else /tmp.  A crash leaves
	 * its directory behind, with the stores it failed on. */
	if (tmp == NULL || tmp[0] == '\0')
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	FUZZ_CHECK((size_t)snprintf(dir, sizeof(dir), "%s/cairn-fuzz-XXXXXX",
	                            tmp) < sizeof(dir));
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	if (!cleanup_registered) {
		atexit(dir_cleanup);
		cleanup_registered = 1;
	}
	cairn_options_init(&o);
	o.durability = CAIRN_RELAXED;
	o.initial_map_size = (size_t)4 << 20;
	FUZZ_CHECK(cairn_open("memory:", &o, &stores[0]) == CAIRN_OK);
	snprintf(uri, sizeof(uri), "lmdb:%s/lmdb", dir);
	if (cairn_open(uri, &o, &stores[1]) != CAIRN_OK) {
		fprintf(stderr, "%s: %s\n", uri, cairn_last_error());
		FUZZ_CHECK(0);
	}
	snprintf(uri, sizeof(uri), "sqlite:%s/sqlite.db", dir);
	if (cairn_open(uri, &o, &stores[2]) != CAIRN_OK) {
		fprintf(stderr, "%s: %s\n", uri, cairn_last_error());
		FUZZ_CHECK(0);
	}
}

static void
stores_close(void)
{
	int i;

	for (i = 0; i < NSTORES; i++) {
		cairn_close(stores[i]);
		stores[i] = NULL;
	}
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';
}

/* At exit (libFuzzer's time limit may end the process between
 * stores_open() and stores_close()): the directory of the input, if any.
 * Not after a failed check, which aborts and leaves it to look at. */
static void
dir_cleanup(void)
{
	if (dir[0] != '\0')
		nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void
verify_problem(void *ctx, const char *problem)
{
	fprintf(stderr, "verify %s: %s\n", (const char *)ctx, problem);
}

/* The outcomes of operation op on the stores must be the same text. */
static void
compare(const text *t, int op)
{
	int s;

	for (s = 1; s < NSTORES; s++) {
		if (t[s].len == t[0].len &&
		    memcmp(t[s].s, t[0].s, t[0].len) == 0)
			continue;
		fprintf(stderr,
		        "op %d: %s and %s differ\n--- %s\n%.*s--- %s\n%.*s", op,
		        store_names[0], store_names[s], store_names[0],
		        (int)t[0].len, t[0].s, store_names[s], (int)t[s].len,
		        t[s].s);
		FUZZ_CHECK(0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input in = {data, size};
	text t[NSTORES];
	append_op *last = NULL, *op;
	read_op rop;
	int nops, i, s, have_last = 0;
	/* CAIRN_FUZZ_VERBOSE=1: print what the memory store did. */
	int verbose = getenv("CAIRN_FUZZ_VERBOSE") != NULL;

	op = malloc(sizeof(*op));
	last = malloc(sizeof(*last));
	FUZZ_CHECK(op != NULL && last != NULL);
	for (s = 0; s < NSTORES; s++) {
		t[s].cap = 4096;
		t[s].len = 0;
		t[s].s = malloc(t[s].cap);
		FUZZ_CHECK(t[s].s != NULL);
	}
	stores_open();
	for (i = 0; i < NSTREAMS; i++) {
		snprintf(stream_names[i], sizeof(stream_names[i]), "%s",
		         default_streams[i]);
		streams[i] = stream_names[i];
	}
	for (nops = 0; nops < OPS_MAX && in.n > 0; nops++) {
		unsigned kind = take(&in) % 11;

		for (s = 0; s < NSTORES; s++)
			t[s].len = 0;
		switch (kind) {
		case 0:
		case 1:
		case 2:
			take_append(&in, op, (int)kind);
			for (s = 0; s < NSTORES; s++)
				run_append(&t[s], stores[s], op);
			memcpy(last, op, sizeof(*op));
			/* the copy's pointers into itself */
			for (i = 0; i < (int)last->nwrites; i++) {
				size_t j;

				for (j = 0; j < last->nevents[i]; j++) {
					cairn_new_event *e = &last->ev[i][j];
					ev_spec *sp = &last->spec[i][j];

					if (e->ntags)
						e->tags = sp->tags;
					if (e->data_len)
						e->data = sp->data;
					if (e->metadata)
						e->metadata = sp->data;
					if (e->id)
						e->id = &sp->id;
				}
				last->w[i].events = last->ev[i];
			}
			for (i = 0; i < 2; i++) {
				last->items[i].types = last->qtypes[i];
				last->items[i].tags = last->qtags[i];
			}
			last->q.items = last->items;
			have_last = 1;
			break;
		case 3:
			if (!have_last)
				continue;
			for (s = 0; s < NSTORES; s++) {
				say(&t[s], "repeat: ");
				run_append(&t[s], stores[s], last);
			}
			break;
		case 4:
		case 5:
			take_read(&in, &rop, kind == 5);
			for (s = 0; s < NSTORES; s++)
				run_read(&t[s], stores[s], &rop);
			break;
		case 6: {
			const char *stream = streams[take(&in) % NSTREAMS];

			for (s = 0; s < NSTORES; s++) {
				uint64_t v = 99;
				cairn_status rc = cairn_stream_version(
				        stores[s], stream, &v);

				say(&t[s], "version %s: %s %llu\n", stream,
				    cairn_status_str(rc),
				    (unsigned long long)v);
			}
			break;
		}
		case 7: {
			uint64_t h[NSTORES];

			for (s = 0; s < NSTORES; s++) {
				cairn_status rc = cairn_head(stores[s], &h[s]);

				say(&t[s], "head: %s %llu\n",
				    cairn_status_str(rc),
				    (unsigned long long)h[s]);
			}
			break;
		}
		case 8: {
			/* another id for a stream, from the input */
			char *name = stream_names[take(&in) % NSTREAMS];
			size_t len = take(&in) % (NAME_INPUT_MAX + 1);

			/* mostly ids that are valid, with bytes that LIKE
			 * or GLOB would treat specially; now and then raw */
			unsigned raw = take(&in) % 4 == 0;
			static const char chars[] = "ab/_%*[.-\\";

			for (i = 0; i < (int)len; i++) {
				unsigned c = take(&in);

				name[i] = raw ? (char)c
				              : chars[c % (sizeof(chars) - 1)];
			}
			if (len == 0 && !raw)
				name[len++] = 'e';
			name[len] = '\0';
			for (s = 0; s < NSTORES; s++)
				say(&t[s], "rename\n");
			break;
		}
		default: {
			char buf[NAME_INPUT_MAX + 1];
			const char *prefix = take_prefix(&in, buf);
			size_t limit = 1 + take(&in) % 4;

			for (s = 0; s < NSTORES; s++)
				run_list(&t[s], stores[s], prefix, limit);
			break;
		}
		}
		if (verbose)
			fprintf(stderr, "%.*s", (int)t[0].len, t[0].s);
		compare(t, nops);
	}
	/* At the end: the whole log, and every engine's own check. */
	{
		read_op all;

		memset(&all, 0, sizeof(all));
		all.all = 1;
		for (s = 0; s < NSTORES; s++) {
			uint64_t problems = 0;
			cairn_status rc;

			t[s].len = 0;
			run_read(&t[s], stores[s], &all);
			rc = cairn_verify(stores[s], verify_problem,
			                  (void *)store_names[s], &problems);
			FUZZ_CHECK(rc == CAIRN_OK && problems == 0);
		}
		compare(t, nops);
	}
	stores_close();
	for (s = 0; s < NSTORES; s++)
		free(t[s].s);
	free(op);
	free(last);
	return 0;
}
