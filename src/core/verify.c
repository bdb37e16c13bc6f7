/*
 * verify.c -- check a store's invariants through its own interface.
 *
 * The walk sees the store as a reader does, so it checks what readers rely
 * on whatever the engine: $all positions gapless and increasing, versions
 * contiguous per stream, stream metadata agreeing with the events, and the
 * two orders (by stream, by position) holding the same events.  The
 * engine's own verify then checks what only it can see (checksums, its
 * private indexes).  Only events up to the head at the start are checked,
 * so that appends running meanwhile raise no false alarm.
 *
 * That the two orders hold the same events is checked with a digest, so
 * that the walk is two streaming reads whatever the engine: each walk
 * sums a 64-bit hash of every event's (stream, version, position, id),
 * and equal sums over equally many events with $all's positions each
 * once mean the same events (an accidental match has odds of 2^-64).
 * Only when the sums differ does a second walk of the streams look every
 * event up in $all by its position, to say which ones disagree: a point
 * read per event, which is a round trip on postgres.
 */
#include "core.h"

#include <stdarg.h>
#include <string.h>

/* Stop reporting after this many problems: a badly broken store would
 * otherwise print one line per event. */
#define VERIFY_MAX_REPORTS 1000

typedef struct verify_ctx {
	cairn_store *st;
	cairn_verify_fn fn;
	void *ctx;
	uint64_t problems;
	uint64_t head;
	/* CAIRN_NOMEM once a read ran out of memory: the walk stops and
	 * cairn_verify() returns it rather than report false problems. */
	cairn_status fatal;
	uint64_t log_digest;    /* of the events $all holds */
	uint64_t stream_digest; /* of the events the streams hold */
	/* the second walk of the streams: only the lookups in $all */
	int localize;
} verify_ctx;

/* The hash of what ties an event to both orders. */
static uint64_t
event_hash(const cairn_event *e)
{
	uint64_t h = 0xcbf29ce484222325u, w;
	size_t i;

	for (i = 0; i < e->stream_len; i++) { /* FNV-1a */
		h ^= (unsigned char)e->stream[i];
		h *= 0x100000001b3u;
	}
	h = cairn__mix64(h ^ cairn__mix64(e->version + 0x9e3779b97f4a7c15u));
	h = cairn__mix64(h ^ cairn__mix64(e->position));
	for (i = 0; i < sizeof(e->id.bytes); i += 8) {
		memcpy(&w, e->id.bytes + i, 8);
		h = cairn__mix64(h ^ w);
	}
	return h;
}

/* True (and the walk over) when a read failed for want of memory. */
static int
out_of_memory(verify_ctx *v, cairn_status rc)
{
	if (rc == CAIRN_NOMEM)
		v->fatal = CAIRN_NOMEM;
	return v->fatal != CAIRN_OK;
}

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void
problem(verify_ctx *v, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	v->problems++;
	if (v->fn == NULL || v->problems > VERIFY_MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->fn(v->ctx, msg);
}

/* Walk $all: positions 1..head, each once, in order. */
static cairn_status
verify_log(verify_ctx *v, uint64_t *events)
{
	const cairn_event *ev;
	uint64_t expect = 1;
	cairn_iter *it;
	cairn_status rc;

	*events = 0;
	rc = cairn_read_all(v->st, NULL, &it);
	if (rc != CAIRN_OK)
		return rc;
	while ((rc = cairn_iter_next(it, &ev)) == CAIRN_ROW) {
		if (ev->position > v->head)
			break;
		if (ev->position != expect)
			problem(v, "$all: expected position %llu, found %llu",
			        (unsigned long long)expect,
			        (unsigned long long)ev->position);
		if (ev->version == 0)
			problem(v, "position %llu: version 0 in stream '%s'",
			        (unsigned long long)ev->position, ev->stream);
		v->log_digest += event_hash(ev);
		expect = ev->position + 1;
		(*events)++;
	}
	cairn_iter_free(it);
	if (rc == CAIRN_ROW)
		rc = CAIRN_DONE;
	if (out_of_memory(v, rc))
		return CAIRN_NOMEM;
	if (rc != CAIRN_DONE)
		problem(v, "$all: read failed at position %llu: %s",
		        (unsigned long long)expect, cairn_last_error());
	if (expect != v->head + 1)
		problem(v, "$all ends at position %llu but the head is %llu",
		        (unsigned long long)(expect - 1),
		        (unsigned long long)v->head);
	return CAIRN_OK;
}

/* The event at position pos in $all must be the one the stream has. */
static void
verify_crosslink(verify_ctx *v, const cairn_event *sev)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	const cairn_event *aev;
	cairn_iter *it;
	cairn_status rc;

	ro.from = sev->position;
	ro.limit = 1;
	if ((rc = cairn_read_all(v->st, &ro, &it)) != CAIRN_OK) {
		if (!out_of_memory(v, rc))
			problem(v, "cannot read position %llu: %s",
			        (unsigned long long)sev->position,
			        cairn_last_error());
		return;
	}
	rc = cairn_iter_next(it, &aev);
	if (out_of_memory(v, rc))
		;
	else if (rc != CAIRN_ROW || aev->position != sev->position)
		problem(v,
		        "stream '%s' version %llu points at position %llu, "
		        "which $all does not have",
		        sev->stream, (unsigned long long)sev->version,
		        (unsigned long long)sev->position);
	else if (memcmp(&aev->id, &sev->id, sizeof(aev->id)) != 0 ||
	         aev->version != sev->version ||
	         strcmp(aev->stream, sev->stream) != 0)
		problem(v,
		        "stream '%s' version %llu and position %llu in $all "
		        "are different events",
		        sev->stream, (unsigned long long)sev->version,
		        (unsigned long long)sev->position);
	cairn_iter_free(it);
}

/* One stream: versions 1..N, positions increasing, metadata agreeing. */
static void
verify_stream(verify_ctx *v, const cairn_stream_info *si, uint64_t *events)
{
	const cairn_event *ev;
	uint64_t expect = 1, last_pos = 0;
	cairn_iter *it;
	cairn_status rc;

	if ((rc = cairn_read_stream(v->st, si->stream, NULL, &it)) !=
	    CAIRN_OK) {
		if (!out_of_memory(v, rc))
			problem(v, "stream '%s': cannot read: %s", si->stream,
			        cairn_last_error());
		return;
	}
	while ((rc = cairn_iter_next(it, &ev)) == CAIRN_ROW) {
		if (ev->position > v->head)
			break;
		if (v->localize) {
			/* the first walk reported the rest */
			verify_crosslink(v, ev);
			if (v->fatal != CAIRN_OK)
				break;
			continue;
		}
		if (ev->version != expect)
			problem(v,
			        "stream '%s': expected version %llu, found "
			        "%llu",
			        si->stream, (unsigned long long)expect,
			        (unsigned long long)ev->version);
		if (ev->position <= last_pos)
			problem(v,
			        "stream '%s': version %llu has position %llu, "
			        "not after %llu",
			        si->stream, (unsigned long long)ev->version,
			        (unsigned long long)ev->position,
			        (unsigned long long)last_pos);
		if (strcmp(ev->stream, si->stream) != 0)
			problem(v, "stream '%s': version %llu belongs to '%s'",
			        si->stream, (unsigned long long)ev->version,
			        ev->stream);
		v->stream_digest += event_hash(ev);
		expect = ev->version + 1;
		last_pos = ev->position;
		(*events)++;
	}
	if (rc == CAIRN_ROW)
		rc = CAIRN_DONE;
	if (out_of_memory(v, rc) || v->localize)
		;
	else if (rc != CAIRN_DONE)
		problem(v, "stream '%s': read failed after version %llu: %s",
		        si->stream, (unsigned long long)(expect - 1),
		        cairn_last_error());
	else if (si->last_position <= v->head &&
	         (si->version != expect - 1 || si->last_position != last_pos))
		problem(v,
		        "stream '%s': metadata says version %llu at position "
		        "%llu, the events end at version %llu, position %llu",
		        si->stream, (unsigned long long)si->version,
		        (unsigned long long)si->last_position,
		        (unsigned long long)(expect - 1),
		        (unsigned long long)last_pos);
	cairn_iter_free(it);
}

/* Every stream, a page at a time; the events they hold, counted. */
static cairn_status
verify_streams(verify_ctx *v, uint64_t *events)
{
	char after[CAIRN_STREAM_ID_MAX + 1] = "";
	const cairn_stream_info *si;
	cairn_stream_iter *page;
	cairn_status rc;
	size_t got;

	*events = 0;
	do {
		rc = cairn_list_streams(v->st, NULL, after,
		                        CAIRN_LIST_DEFAULT_LIMIT, &page);
		if (rc != CAIRN_OK)
			return rc;
		got = 0;
		while ((rc = cairn_stream_iter_next(page, &si)) == CAIRN_ROW) {
			if (strcmp(si->stream, after) <= 0 && after[0] &&
			    !v->localize)
				problem(v,
				        "stream listing is out of order at "
				        "'%s'",
				        si->stream);
			verify_stream(v, si, events);
			if (v->fatal != CAIRN_OK) {
				cairn_stream_iter_free(page);
				return v->fatal;
			}
			memcpy(after, si->stream, si->stream_len + 1);
			got++;
		}
		cairn_stream_iter_free(page);
		if (rc != CAIRN_DONE)
			return rc;
	} while (got == CAIRN_LIST_DEFAULT_LIMIT);
	return CAIRN_OK;
}

cairn_status
cairn_verify(cairn_store *st, cairn_verify_fn fn, void *ctx, uint64_t *problems)
{
	verify_ctx v;
	uint64_t in_log, in_streams, engine = 0;
	cairn_status rc;

	if (st == NULL || problems == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	memset(&v, 0, sizeof(v));
	v.st = st;
	v.fn = fn;
	v.ctx = ctx;
	rc = cairn_head(st, &v.head);
	if (rc == CAIRN_OK)
		rc = verify_log(&v, &in_log);
	if (rc == CAIRN_OK)
		rc = verify_streams(&v, &in_streams);
	if (rc == CAIRN_NOMEM)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "verify: out of memory (the walk stopped)");
	if (rc != CAIRN_OK)
		return rc;
	if (in_log != in_streams)
		problem(&v, "$all holds %llu events but the streams hold %llu",
		        (unsigned long long)in_log,
		        (unsigned long long)in_streams);
	if (v.log_digest != v.stream_digest) {
		uint64_t before = v.problems, unused;

		v.localize = 1;
		rc = verify_streams(&v, &unused);
		if (rc == CAIRN_NOMEM)
			return cairn__error(CAIRN_NOMEM, 0,
			                    "verify: out of memory (the walk "
			                    "stopped)");
		if (rc != CAIRN_OK)
			return rc;
		/* every stream event found where $all has it, and as many
		 * events on both sides, would have made the digests equal;
		 * said in case an engine answers two walks differently */
		if (v.problems == before && in_log == in_streams)
			problem(&v, "$all and the streams hold different "
			            "events (their digests differ)");
	}
	if (st->ops->verify) {
		rc = st->ops->verify(st->be, fn, ctx, &engine);
		if (rc != CAIRN_OK)
			return rc;
	}
	*problems = v.problems + engine;
	return CAIRN_OK;
}
