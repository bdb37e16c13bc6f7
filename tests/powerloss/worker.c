/*
 * worker.c -- the power-loss suite's worker: run under the recorder
 * (LD_PRELOAD), it opens a store and makes a seeded series of appends of
 * every kind -- single-stream, multi-stream, conditional (append_if),
 * with caller-given ids and their idempotent repeat, a version conflict
 * and a failed condition -- then closes the store and exits normally.
 *
 * Before each append it marks "begin A" in the recorder's log; after each
 * CAIRN_OK it reads the events back, checks them byte for byte and marks
 *   "ack A N <stream> <version> <position> <id>" (N times)
 * so the replayer knows, at every point of the log, which appends the
 * caller had been told were committed.  A conflict that did not happen,
 * or any other surprise, ends the worker with exit status 1.
 *
 * usage: powerloss_worker URI durable|relaxed APPENDS SEED
 */
#define _GNU_SOURCE
#include "powerloss.h"

#include <cairn.h>

#include <dlfcn.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSTREAMS 4
#define MARK_MAX 4096
#define EVENTS_MAX 4 /* per append */

static cairn_store *st;
static pl_mark_fn mark_fn;
static uint64_t versions[NSTREAMS]; /* of stream s-0 .. s-3 */
static uint64_t head;
static bool cond_done[PL_COND_KEYS];

__attribute__((noreturn, format(printf, 1, 2))) static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "powerloss_worker: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%s)\n", cairn_last_error());
	exit(1);
}

static void
mark(const char *text)
{
	mark_fn(text);
}

/* The events of one append, built from their tokens. */
typedef struct batch {
	pl_content c[EVENTS_MAX];
	const char *tagp[EVENTS_MAX][PL_TAGS_MAX];
	cairn_new_event ev[EVENTS_MAX];
	cairn_uuid ids[EVENTS_MAX];
	size_t n;
} batch;

static void
batch_make(batch *b, char kind, unsigned append, size_t n, uint64_t *rng)
{
	size_t i, t;

	b->n = n;
	for (i = 0; i < n; i++) {
		pl_content_make(kind, append, (unsigned)i, (unsigned)n,
		                &b->c[i]);
		b->ev[i] = (cairn_new_event)CAIRN_NEW_EVENT_INIT;
		b->ev[i].type = b->c[i].type;
		b->ev[i].data = b->c[i].data;
		b->ev[i].data_len = b->c[i].data_len;
		b->ev[i].metadata = b->c[i].meta;
		b->ev[i].metadata_len = b->c[i].meta_len;
		for (t = 0; t < b->c[i].ntags; t++)
			b->tagp[i][t] = b->c[i].tags[t];
		b->ev[i].tags = b->tagp[i];
		b->ev[i].ntags = b->c[i].ntags;
		if (kind == 'i') {
			uint64_t a = pl_rng_next(rng), z = pl_rng_next(rng);

			memcpy(b->ids[i].bytes, &a, 8);
			memcpy(b->ids[i].bytes + 8, &z, 8);
			b->ids[i].bytes[6] =
			        (uint8_t)(0x40 | (b->ids[i].bytes[6] & 0x0f));
			b->ids[i].bytes[8] =
			        (uint8_t)(0x80 | (b->ids[i].bytes[8] & 0x3f));
			b->ev[i].id = &b->ids[i];
		}
	}
}

/* Read the n events from position first back, check them against b, and
 * mark the ack. */
static void
ack(unsigned append, const batch *b, uint64_t first)
{
	char text[MARK_MAX], id[CAIRN_UUID_STR_LEN + 1];
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *e;
	cairn_iter *it;
	size_t i = 0, len;
	int w;

	len = (size_t)snprintf(text, sizeof(text), "ack %u %zu", append, b->n);
	ro.from = first;
	ro.limit = b->n;
	if (cairn_read_all(st, &ro, &it) != CAIRN_OK)
		die("read back of append %u", append);
	while (cairn_iter_next(it, &e) == CAIRN_ROW) {
		const pl_content *c = &b->c[i];

		if (i >= b->n || e->position != first + i ||
		    e->data_len != c->data_len ||
		    memcmp(e->data, c->data, c->data_len) != 0 ||
		    e->metadata_len != c->meta_len ||
		    memcmp(e->metadata, c->meta, c->meta_len) != 0 ||
		    strcmp(e->type, c->type) != 0 || e->ntags != c->ntags)
			die("append %u read back wrong at position %" PRIu64,
			    append, e->position);
		cairn_uuid_format(&e->id, id);
		w = snprintf(text + len, sizeof(text) - len,
		             " %s %" PRIu64 " %" PRIu64 " %s", e->stream,
		             e->version, e->position, id);
		if (w < 0 || (size_t)w >= sizeof(text) - len)
			die("ack text too long");
		len += (size_t)w;
		i++;
	}
	cairn_iter_free(it);
	if (i != b->n)
		die("append %u: %zu of %zu events read back", append, i, b->n);
	mark(text);
}

static void
begin(unsigned append)
{
	char text[32];

	snprintf(text, sizeof(text), "begin %u", append);
	mark(text);
}

static void
stream_name(char *out, size_t size, unsigned k)
{
	snprintf(out, size, "s-%u", k);
}

int
main(int argc, char **argv)
{
	cairn_options opts;
	cairn_append_result res;
	uint64_t rng, seed;
	unsigned n, a, k, k2;
	char s1[16], s2[16];
	cairn_status rc;
	batch b, b2;

	if (argc != 5) {
		fprintf(stderr, "usage: powerloss_worker URI durable|relaxed "
		                "APPENDS SEED\n");
		return 2;
	}
	n = (unsigned)strtoul(argv[3], NULL, 10);
	seed = strtoull(argv[4], NULL, 10);
	rng = seed;
	printf("powerloss_worker: %s seed %" PRIu64 "\n", argv[1], seed);
	mark_fn = (pl_mark_fn)(uintptr_t)dlsym(RTLD_DEFAULT, PL_MARK_SYMBOL);
	if (mark_fn == NULL) {
		fprintf(stderr, "powerloss_worker: the recorder is not "
		                "loaded (LD_PRELOAD)\n");
		return 2;
	}
	cairn_options_init(&opts);
	opts.durability =
	        strcmp(argv[2], "relaxed") == 0 ? CAIRN_RELAXED : CAIRN_DURABLE;
	if (cairn_open(argv[1], &opts, &st) != CAIRN_OK)
		die("open %s", argv[1]);
	mark("opened");
	for (a = 1; a <= n; a++) {
		unsigned r = pl_rng_below(&rng, 100);
		size_t ne = 1 + pl_rng_below(&rng, 3);

		k = pl_rng_below(&rng, NSTREAMS);
		stream_name(s1, sizeof(s1), k);
		if (r < 35) { /* single stream, exact version */
			batch_make(&b, 's', a, ne, &rng);
			begin(a);
			rc = cairn_append(st, s1, (int64_t)versions[k], b.ev,
			                  b.n, &res);
			if (rc != CAIRN_OK)
				die("append %u", a);
			versions[k] += b.n;
			head = res.last_position;
			ack(a, &b, res.first_position);
		} else if (r < 55) { /* multi-stream */
			cairn_write w[2];
			size_t n1 = 1 + pl_rng_below(&rng, 2);

			k2 = (k + 1 + pl_rng_below(&rng, NSTREAMS - 1)) %
			     NSTREAMS;
			stream_name(s2, sizeof(s2), k2);
			batch_make(&b, 'm', a, n1 + 1, &rng);
			w[0] = (cairn_write){s1, (int64_t)versions[k], b.ev,
			                     n1};
			w[1] = (cairn_write){s2, (int64_t)versions[k2],
			                     b.ev + n1, 1};
			begin(a);
			rc = cairn_append_multi(st, w, 2, &res);
			if (rc != CAIRN_OK)
				die("append_multi %u", a);
			versions[k] += n1;
			versions[k2] += 1;
			head = res.last_position;
			ack(a, &b, res.first_position);
		} else if (r < 70) { /* conditional */
			unsigned key = a % PL_COND_KEYS;
			const char *types[] = {"Evc"};
			char tag[PL_TAG_LEN];
			const char *tags[1] = {tag};
			cairn_query_item item = {types, 1, tags, 1};
			cairn_query q = {&item, 1};
			cairn_write w;
			char cs[16];

			snprintf(tag, sizeof(tag), "k:%u", key);
			snprintf(cs, sizeof(cs), "c-%u", key);
			batch_make(&b, 'c', a, ne, &rng);
			w = (cairn_write){cs, CAIRN_ANY, b.ev, b.n};
			begin(a);
			rc = cairn_append_if(st, &q, head, &w, 1, &res);
			if (rc != CAIRN_OK)
				die("append_if %u", a);
			cond_done[key] = true;
			head = res.last_position;
			ack(a, &b, res.first_position);
		} else if (r < 82) { /* caller ids, then the same again */
			uint64_t first;

			batch_make(&b, 'i', a, ne, &rng);
			begin(a);
			rc = cairn_append(st, s1, (int64_t)versions[k], b.ev,
			                  b.n, &res);
			if (rc != CAIRN_OK)
				die("append with ids %u", a);
			versions[k] += b.n;
			head = res.last_position;
			first = res.first_position;
			ack(a, &b, first);
			begin(a);
			rc = cairn_append(st, s1, CAIRN_ANY, b.ev, b.n, &res);
			if (rc != CAIRN_OK || !res.idempotent ||
			    res.first_position != first)
				die("idempotent repeat of %u", a);
			ack(a, &b, first);
		} else if (r < 92) { /* a version conflict */
			batch_make(&b2, 'x', a, ne, &rng);
			begin(a);
			rc = cairn_append(st, s1, (int64_t)versions[k] + 5,
			                  b2.ev, b2.n, &res);
			if (rc != CAIRN_CONFLICT)
				die("append %u should conflict", a);
			mark("failed");
		} else { /* a condition that fails, when one can */
			unsigned key = a % PL_COND_KEYS;
			const char *types[] = {"Evc"};
			char tag[PL_TAG_LEN];
			const char *tags[1] = {tag};
			cairn_query_item item = {types, 1, tags, 1};
			cairn_query q = {&item, 1};
			cairn_write w;

			if (!cond_done[key])
				continue;
			snprintf(tag, sizeof(tag), "k:%u", key);
			batch_make(&b2, 'y', a, ne, &rng);
			w = (cairn_write){"c-fail", CAIRN_ANY, b2.ev, b2.n};
			begin(a);
			rc = cairn_append_if(st, &q, 0, &w, 1, &res);
			if (rc != CAIRN_CONFLICT)
				die("append_if %u should fail its condition",
				    a);
			mark("failed");
		}
	}
	mark("closing");
	cairn_close(st);
	mark("closed");
	printf("powerloss_worker: %u appends done\n", n);
	return 0;
}
