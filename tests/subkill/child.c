/*
 * child.c -- the writer and the durable consumer, each run as a process
 * of its own (see subkill.h).
 *
 * The writer appends 1-6 events at a time to 16 streams, each event of
 * one of four types, its data a token naming it ("a<append>.e<i>/<n>"),
 * and sleeps 0-2 ms between appends.  It first writes PREFILL events in
 * larger appends without pausing and says "P <head>", so that the first
 * consumer has a backlog to catch up on.  It stops when its stdin reaches
 * EOF and says "X <appends> <events> <last position>".
 *
 * The consumer subscribes under SUBKILL_NAME, filtered to two of the four
 * types, and says, on its stdout (a pipe to the parent):
 *
 *   S <cursor>             subscribed; the stored cursor it starts after
 *   D <pos> <type> <token> one per event of a batch, before anything else
 *                          is done with the batch
 *   B <pos>                about to call cairn_sub_ack(pos)
 *   A <pos>                cairn_sub_ack(pos) returned CAIRN_OK
 *   F <pos>                (final run only) caught up with the head:
 *                          cairn_sub_next(timeout 0) found nothing new
 *   U <sentence>           durable subscriptions are unsupported here
 *   E <sentence>           anything unexpected; the process exits 3
 *
 * Each line (a batch's D lines together) goes out in one write(), so the
 * parent sees whole lines: what it read was written before the kill.
 */
#include "subkill.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITER_ALARM_S 300  /* a writer the parent forgot dies anyway */
#define CONSUMER_ALARM_S 90 /* ditto for a consumer */
#define WRITER_STREAMS 16
#define WRITER_MAX_EVENTS 6
#define PREFILL_MAX_EVENTS 20
#define OUT_FD 1

const char *const subkill_filter_types[2] = {"Keep", "Also"};
const char *const subkill_writer_types[4] = {"Keep", "Skip", "Also", "Noise"};

bool
subkill_type_matches(const char *type)
{
	return strcmp(type, subkill_filter_types[0]) == 0 ||
	       strcmp(type, subkill_filter_types[1]) == 0;
}

uint64_t
subkill_rng_next(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15u;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1du;
}

unsigned
subkill_rng_below(uint64_t *state, unsigned n)
{
	return n ? (unsigned)(subkill_rng_next(state) % n) : 0;
}

unsigned
subkill_rng_range(uint64_t *state, unsigned lo, unsigned hi)
{
	return lo + subkill_rng_below(state, hi - lo + 1);
}

int
subkill_write_all(int fd, const char *buf, size_t len)
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

/* One line to the parent, in one write(). */
__attribute__((format(printf, 1, 2))) static void
say(const char *fmt, ...)
{
	char line[SUBKILL_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		_exit(4);
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (subkill_write_all(OUT_FD, line, (size_t)n) != 0)
		_exit(4);
}

/* "E <what>: <status>: <cairn_last_error()>" and exit 3. */
__attribute__((noreturn)) static void
fail(const char *what, cairn_status rc)
{
	say("E %s: %s: %s", what, cairn_status_str(rc), cairn_last_error());
	exit(3);
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno == 0 && end != s && *end == 0 ? 0 : -1;
}

/* ---- the writer ---- */

struct writer {
	cairn_store *st;
	uint64_t rng;
	unsigned appends;
	uint64_t events;
	uint64_t last;
};

static void
writer_append(struct writer *w, unsigned n)
{
	char tokens[PREFILL_MAX_EVENTS][SUBKILL_TOKEN_MAX];
	cairn_new_event ev[PREFILL_MAX_EVENTS];
	const cairn_new_event init = CAIRN_NEW_EVENT_INIT;
	char stream[32];
	cairn_append_result res;
	cairn_status rc;
	unsigned i;

	snprintf(stream, sizeof(stream), "s-%u",
	         subkill_rng_below(&w->rng, WRITER_STREAMS));
	for (i = 0; i < n; i++) {
		snprintf(tokens[i], sizeof(tokens[i]), "a%u.e%u/%u", w->appends,
		         i, n);
		ev[i] = init;
		ev[i].type =
		        subkill_writer_types[subkill_rng_below(&w->rng, 4)];
		ev[i].data = tokens[i];
		ev[i].data_len = strlen(tokens[i]);
	}
	rc = cairn_append(w->st, stream, CAIRN_ANY, ev, n, &res);
	if (rc != CAIRN_OK)
		fail("append", rc);
	if (res.last_position != res.first_position + n - 1 ||
	    res.first_position <= w->last) {
		say("E append %u of %u events: positions %" PRIu64 "..%" PRIu64
		    " after %" PRIu64,
		    w->appends, n, res.first_position, res.last_position,
		    w->last);
		exit(3);
	}
	w->last = res.last_position;
	w->appends++;
	w->events += n;
}

/* --writer URI SEED PREFILL */
int
subkill_writer_main(int argc, char **argv)
{
	struct writer w;
	uint64_t prefill;
	struct pollfd pfd;
	cairn_status rc;
	char buf[64];
	int r;

	memset(&w, 0, sizeof(w));
	alarm(WRITER_ALARM_S);
	if (argc != 3 || parse_u64(argv[1], &w.rng) != 0 ||
	    parse_u64(argv[2], &prefill) != 0) {
		say("E writer: bad arguments");
		return 3;
	}
	rc = cairn_open(argv[0], NULL, &w.st);
	if (rc != CAIRN_OK)
		fail("writer open", rc);
	rc = cairn_head(w.st, &w.last);
	if (rc != CAIRN_OK)
		fail("writer head", rc);
	while (w.events < prefill)
		writer_append(&w,
		              subkill_rng_range(&w.rng, 1, PREFILL_MAX_EVENTS));
	say("P %" PRIu64, w.last);
	for (;;) {
		pfd.fd = 0;
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)subkill_rng_below(&w.rng, 3));
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0) {
			ssize_t n = read(0, buf, sizeof(buf));

			if (n <= 0 && !(n < 0 && errno == EINTR))
				break; /* EOF: the parent says stop */
		}
		writer_append(&w,
		              subkill_rng_range(&w.rng, 1, WRITER_MAX_EVENTS));
	}
	cairn_close(w.st);
	say("X %u %" PRIu64 " %" PRIu64, w.appends, w.events, w.last);
	return 0;
}

/* ---- the consumer ---- */

static void
sleep_us(unsigned us)
{
	struct timespec ts = {0, (long)us * 1000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The D lines of a batch, in one write (they fit a pipe's atomic size
 * at the writer's batch sizes; a longer one is still whole lines). */
static void
report_batch(const cairn_event *batch, size_t n)
{
	char buf[8192];
	size_t len = 0, i;
	int w;

	for (i = 0; i < n; i++) {
		const cairn_event *e = &batch[i];
		int tlen = e->data_len < SUBKILL_TOKEN_MAX
		                   ? (int)e->data_len
		                   : SUBKILL_TOKEN_MAX - 1;

		if (len + SUBKILL_LINE_MAX > sizeof(buf)) {
			if (subkill_write_all(OUT_FD, buf, len) != 0)
				_exit(4);
			len = 0;
		}
		w = snprintf(buf + len, sizeof(buf) - len,
		             "D %" PRIu64 " %.64s %.*s\n", e->position, e->type,
		             tlen, (const char *)e->data);
		if (w < 0 || (size_t)w >= sizeof(buf) - len)
			_exit(4);
		len += (size_t)w;
	}
	if (len && subkill_write_all(OUT_FD, buf, len) != 0)
		_exit(4);
}

/* --consumer URI SEED MAX_BATCH DELAY_US ACK_EVERY POST_ACK_US TIMEOUT_MS
 *            FINAL
 *
 * MAX_BATCH: cairn_sub_opts.max_batch; DELAY_US: each batch is "handled"
 * for 0..DELAY_US us; ACK_EVERY: acknowledge every this many batches;
 * POST_ACK_US: wait 0..POST_ACK_US us after an ack returned before saying
 * so (a kill then often finds an ack stored but not reported);
 * TIMEOUT_MS: cairn_sub_next()'s wait; FINAL: 1 to stop once caught up
 * (timeout 0; the writer has stopped). */
int
subkill_consumer_main(int argc, char **argv)
{
	uint64_t rng, max_batch, delay_us, ack_every, post_ack_us, timeout_ms,
	        final;
	const cairn_event *batch;
	cairn_sub_opts so;
	cairn_store *st;
	cairn_sub *sub;
	cairn_status rc;
	unsigned since_ack = 0;
	size_t n;

	alarm(CONSUMER_ALARM_S);
	if (argc != 8 || parse_u64(argv[1], &rng) != 0 ||
	    parse_u64(argv[2], &max_batch) != 0 ||
	    parse_u64(argv[3], &delay_us) != 0 ||
	    parse_u64(argv[4], &ack_every) != 0 ||
	    parse_u64(argv[5], &post_ack_us) != 0 ||
	    parse_u64(argv[6], &timeout_ms) != 0 ||
	    parse_u64(argv[7], &final) != 0 || ack_every == 0) {
		say("E consumer: bad arguments");
		return 3;
	}
	if (final)
		ack_every = 1; /* the last batch must be acknowledged */
	rc = cairn_open(argv[0], NULL, &st);
	if (rc != CAIRN_OK)
		fail("consumer open", rc);
	cairn_sub_opts_init(&so);
	so.name = SUBKILL_NAME;
	so.types = subkill_filter_types;
	so.ntypes = 2;
	so.max_batch = (size_t)max_batch;
	rc = cairn_subscribe(st, &so, &sub);
	if (rc == CAIRN_UNSUPPORTED) {
		say("U %s", cairn_last_error());
		cairn_close(st);
		return 77;
	}
	if (rc != CAIRN_OK)
		fail("cairn_subscribe", rc);
	say("S %" PRIu64, cairn_sub_acked(sub));
	for (;;) {
		uint64_t p;

		rc = cairn_sub_next(sub, final ? 0 : (int)timeout_ms, &batch,
		                    &n);
		if (rc == CAIRN_TIMEOUT) {
			if (final)
				break;
			continue;
		}
		if (rc != CAIRN_ROW)
			fail("cairn_sub_next", rc);
		if (n == 0) {
			say("E cairn_sub_next: an empty batch");
			exit(3);
		}
		report_batch(batch, n);
		if (delay_us)
			sleep_us(subkill_rng_below(&rng,
			                           (unsigned)delay_us + 1));
		if (++since_ack < ack_every)
			continue;
		p = batch[n - 1].position;
		say("B %" PRIu64, p);
		rc = cairn_sub_ack(sub, p);
		if (rc != CAIRN_OK)
			fail("cairn_sub_ack", rc);
		if (post_ack_us)
			sleep_us(subkill_rng_below(&rng,
			                           (unsigned)post_ack_us + 1));
		say("A %" PRIu64, p);
		since_ack = 0;
	}
	say("F %" PRIu64, cairn_sub_position(sub));
	cairn_sub_close(sub);
	cairn_close(st);
	return 0;
}
