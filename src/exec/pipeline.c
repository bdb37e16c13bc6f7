/*
 * pipeline.c -- the decisions of cairn_execute() as a state machine with
 * no I/O (see pipeline.h for its shape and its driver).
 *
 * The streams of an attempt live in one table, in the order they are to
 * be read: the declared ones, then each one discover() names, appended
 * when first named (which makes the reading order breadth-first and
 * every stream read once).  A hash set over the table finds a stream in
 * O(1), so that neither discovery nor the decision's writes cost
 * O(streams) per call.  The decision's events hang off the table entry of
 * their stream: every stream written must have been read, and its
 * expected version is right there.
 */
#include "pipeline.h"
#include "backend.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The hash set starts this large (a power of two) and stays at most half
 * full. */
#define SLOTS_MIN 16

typedef struct entry {
	char *stream; /* owned, NUL-terminated */
	size_t len;
	uint64_t version;        /* as read; valid once read */
	cairn_new_event *events; /* the decision's, owned copies */
	size_t nevents, cap;
} entry;

typedef enum phase {
	PHASE_NEW,
	PHASE_READING,
	PHASE_APPENDING,
	PHASE_SLEEPING,
	PHASE_DONE
} phase;

struct cairn__pipeline {
	cairn_command cmd;
	cairn_retry_policy policy;
	uint64_t rng;
	cairn_exec_result *result;
	phase phase;
	unsigned attempt;

	/* this attempt's streams, in reading order */
	entry *entries;
	size_t nentries, entries_cap;
	size_t *slots; /* entry index + 1; 0 = empty */
	size_t slots_cap;
	size_t reading; /* the entry being (or next to be) read */

	/* the decision: entries written, in the order of their first event,
	 * and the memory of the copied events */
	size_t *written;
	size_t nwritten, written_cap;
	void **blocks;
	size_t nblocks, blocks_cap;
	size_t nevents;

	/* the APPEND step's arrays */
	cairn_write *writes;
	cairn__check *checks;
	size_t append_cap;

	struct cairn_decision decision;
	struct cairn_stream_set set;

	/* a failure recorded inside a callback, sticky for the attempt */
	cairn_status failed;
	bool rejected;
	char message[CAIRN__PIPELINE_MESSAGE_MAX];    /* the sticky one's */
	char call_error[CAIRN__PIPELINE_MESSAGE_MAX]; /* the latest one's */
	char rejection[CAIRN__PIPELINE_MESSAGE_MAX];
	cairn__step step;
};

/* ---- small helpers ---- */

/* splitmix64 (Steele, Lea, Flood 2014): a fine stream of 64-bit values
 * from any seed, enough for spreading retries apart. */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15u);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	return z ^ (z >> 31);
}

/* A uniform double in [0, 1) from the top 53 bits. */
static double
next_unit(uint64_t *state)
{
	return (double)(next_random(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* FNV-1a, 64 bits. */
static uint64_t
hash_stream(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3u;
	}
	return h;
}

/* Make room for n more items of size bytes in *arr (holding used of cap). */
static bool
grow(void **arr, size_t *cap, size_t used, size_t n, size_t size)
{
	size_t want = *cap ? *cap : 8;
	void *p;

	if (used + n <= *cap)
		return true;
	while (want < used + n) {
		if (want > SIZE_MAX / 2 / size)
			return false;
		want *= 2;
	}
	p = cairn__realloc(*arr, want * size);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = want;
	return true;
}

/* Record a failure for the call that met it (call_error) and, when it is
 * the attempt's first, as the sticky one (later ones are consequences). */
static cairn_status fail(cairn__pipeline *p, cairn_status status,
                         const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 3, 4)))
#endif
        ;

static cairn_status
fail(cairn__pipeline *p, cairn_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->call_error, sizeof(p->call_error), fmt, ap);
	va_end(ap);
	if (p->failed == CAIRN_OK) {
		memcpy(p->message, p->call_error, sizeof(p->message));
		p->failed = status;
	}
	return status;
}

/* ---- finishing ---- */

/* Finish with status; message is p->message when own, else NULL (the
 * store's sentence stands). */
static const cairn__step *
finish(cairn__pipeline *p, cairn_status status, bool own)
{
	p->phase = PHASE_DONE;
	p->result->attempts = p->attempt;
	memset(&p->step, 0, sizeof(p->step));
	p->step.effect = CAIRN__STEP_DONE;
	p->step.status = status;
	p->step.message = own ? p->message : NULL;
	return &p->step;
}

/* Finish with a sentence of the pipeline's own. */
static const cairn__step *finish_with(cairn__pipeline *p, cairn_status status,
                                      const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 3, 4)))
#endif
        ;

static const cairn__step *
finish_with(cairn__pipeline *p, cairn_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->message, sizeof(p->message), fmt, ap);
	va_end(ap);
	return finish(p, status, true);
}

/* ---- the stream table ---- */

static size_t
find_entry(const cairn__pipeline *p, const char *stream, size_t len)
{
	size_t mask, i;

	if (p->slots_cap == 0)
		return SIZE_MAX;
	mask = p->slots_cap - 1;
	for (i = hash_stream(stream, len) & mask; p->slots[i];
	     i = (i + 1) & mask) {
		const entry *e = &p->entries[p->slots[i] - 1];
		if (e->len == len && memcmp(e->stream, stream, len) == 0)
			return p->slots[i] - 1;
	}
	return SIZE_MAX;
}

static void
slot_place(size_t *slots, size_t cap, uint64_t hash, size_t index)
{
	size_t mask = cap - 1, i;

	for (i = hash & mask; slots[i]; i = (i + 1) & mask)
		;
	slots[i] = index + 1;
}

/* Keep the hash set at most half full for one more entry. */
static bool
slots_reserve(cairn__pipeline *p)
{
	size_t cap = p->slots_cap ? p->slots_cap : SLOTS_MIN, i;
	size_t *slots;

	while ((p->nentries + 1) * 2 > cap) {
		if (cap > SIZE_MAX / 4 / sizeof(*slots))
			return false;
		cap *= 2;
	}
	if (cap == p->slots_cap)
		return true;
	slots = cairn__calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return false;
	for (i = 0; i < p->nentries; i++)
		slot_place(slots, cap,
		           hash_stream(p->entries[i].stream, p->entries[i].len),
		           i);
	cairn__free(p->slots);
	p->slots = slots;
	p->slots_cap = cap;
	return true;
}

/* Schedule stream for reading unless it already is (sticky NOMEM). */
static cairn_status
schedule(cairn__pipeline *p, const char *stream, size_t len)
{
	entry *e;

	if (find_entry(p, stream, len) != SIZE_MAX)
		return CAIRN_OK;
	if (!slots_reserve(p) || !grow((void **)&p->entries, &p->entries_cap,
	                               p->nentries, 1, sizeof(*p->entries)))
		return fail(p, CAIRN_NOMEM, "out of memory");
	e = &p->entries[p->nentries];
	memset(e, 0, sizeof(*e));
	e->stream = cairn__malloc(len + 1);
	if (e->stream == NULL)
		return fail(p, CAIRN_NOMEM, "out of memory");
	memcpy(e->stream, stream, len);
	e->stream[len] = '\0';
	e->len = len;
	slot_place(p->slots, p->slots_cap, hash_stream(stream, len),
	           p->nentries);
	p->nentries++;
	return CAIRN_OK;
}

/* Forget everything of the previous attempt, keeping the capacity. */
static void
clear_attempt(cairn__pipeline *p)
{
	size_t i;

	for (i = 0; i < p->nentries; i++) {
		cairn__free(p->entries[i].stream);
		cairn__free(p->entries[i].events);
	}
	p->nentries = 0;
	if (p->slots)
		memset(p->slots, 0, p->slots_cap * sizeof(*p->slots));
	for (i = 0; i < p->nblocks; i++)
		cairn__free(p->blocks[i]);
	p->nblocks = 0;
	p->nwritten = 0;
	p->nevents = 0;
	p->reading = 0;
	p->failed = CAIRN_OK;
	p->rejected = false;
	p->message[0] = '\0';
	p->call_error[0] = '\0';
	p->rejection[0] = '\0';
}

/* ---- the decision's events ---- */

static bool
size_add(size_t *acc, size_t n)
{
	if (n > SIZE_MAX - *acc)
		return false;
	*acc += n;
	return true;
}

/*
 * A copy of ev in one block: [tag pointers][id][type][tags][data]
 * [metadata], the pointer array first so that it is aligned.  The block
 * is kept in p->blocks.  Returns false when out of memory.
 */
static bool
copy_event(cairn__pipeline *p, const cairn_new_event *ev, cairn_new_event *out)
{
	size_t size = 0, type_len = strlen(ev->type) + 1, i, n;
	char **tags;
	char *at;

	if (!grow((void **)&p->blocks, &p->blocks_cap, p->nblocks, 1,
	          sizeof(*p->blocks)))
		return false;
	if (ev->ntags > SIZE_MAX / sizeof(char *))
		return false;
	size = ev->ntags * sizeof(char *);
	if (!size_add(&size, ev->id ? sizeof(cairn_uuid) : 0) ||
	    !size_add(&size, type_len) || !size_add(&size, ev->data_len) ||
	    !size_add(&size, ev->metadata_len))
		return false;
	for (i = 0; i < ev->ntags; i++)
		if (!size_add(&size, strlen(ev->tags[i]) + 1))
			return false;
	tags = cairn__malloc(size ? size : 1);
	if (tags == NULL)
		return false;
	p->blocks[p->nblocks++] = tags;

	*out = *ev;
	at = (char *)(tags + ev->ntags);
	if (ev->id) {
		memcpy(at, ev->id, sizeof(cairn_uuid));
		out->id = (const cairn_uuid *)(void *)at;
		at += sizeof(cairn_uuid);
	}
	memcpy(at, ev->type, type_len);
	out->type = at;
	at += type_len;
	for (i = 0; i < ev->ntags; i++) {
		n = strlen(ev->tags[i]) + 1;
		memcpy(at, ev->tags[i], n);
		tags[i] = at;
		at += n;
	}
	out->tags = ev->ntags ? (const char *const *)tags : NULL;
	out->data = ev->data_len ? memcpy(at, ev->data, ev->data_len) : NULL;
	at += ev->data_len;
	out->metadata = ev->metadata_len
	                        ? memcpy(at, ev->metadata, ev->metadata_len)
	                        : NULL;
	return true;
}

cairn_status
cairn__decision_add(cairn_decision *d, const char *stream, size_t stream_len,
                    const cairn_new_event *ev)
{
	cairn__pipeline *p = d->pipeline;
	size_t index = find_entry(p, stream, stream_len);
	entry *e;

	if (index == SIZE_MAX)
		return fail(p, CAIRN_INVALID,
		            "stream '%.*s' was not read by this command: "
		            "declare it in streams, or name it in discover(), "
		            "to write to it",
		            (int)stream_len, stream);
	e = &p->entries[index];
	if (e->nevents == 0 && !grow((void **)&p->written, &p->written_cap,
	                             p->nwritten, 1, sizeof(*p->written)))
		return fail(p, CAIRN_NOMEM, "out of memory");
	if (!grow((void **)&e->events, &e->cap, e->nevents, 1,
	          sizeof(*e->events)) ||
	    !copy_event(p, ev, &e->events[e->nevents]))
		return fail(p, CAIRN_NOMEM, "out of memory");
	if (e->nevents++ == 0)
		p->written[p->nwritten++] = index;
	p->nevents++;
	return CAIRN_OK;
}

void
cairn__decision_reject(cairn_decision *d, const char *message)
{
	cairn__pipeline *p = d->pipeline;

	if (p->rejected)
		return;
	p->rejected = true;
	snprintf(p->rejection, sizeof(p->rejection), "%s", message);
}

void
cairn__pipeline_fail(cairn__pipeline *p, cairn_status status,
                     const char *message)
{
	fail(p, status, "%s", message);
}

cairn_status
cairn__stream_set_add(cairn_stream_set *set, const char *stream,
                      size_t stream_len)
{
	return schedule(set->pipeline, stream, stream_len);
}

const char *
cairn__pipeline_error(const cairn__pipeline *p)
{
	return p->call_error;
}

/* ---- the steps ---- */

static const cairn__step *next_read(cairn__pipeline *p);

/* A fresh state, the declared streams scheduled, the first read. */
static const cairn__step *
begin_attempt(cairn__pipeline *p)
{
	cairn_status rc;
	size_t i;

	clear_attempt(p);
	p->result->attempts = p->attempt;
	rc = p->cmd.reset(p->cmd.ctx);
	if (rc != CAIRN_OK)
		return finish_with(p, rc, "the command's reset() returned '%s'",
		                   cairn_status_str(rc));
	for (i = 0; i < p->cmd.nstreams; i++)
		if (schedule(p, p->cmd.streams[i], strlen(p->cmd.streams[i])) !=
		    CAIRN_OK)
			return finish(p, p->failed, true);
	return next_read(p);
}

/* Build the APPEND step: the written streams in the order of their first
 * event, then a check of every stream read but not written. */
static const cairn__step *
build_append(cairn__pipeline *p)
{
	size_t i, k, nchecks = p->nentries - p->nwritten;

	if (p->append_cap < p->nentries) {
		cairn__free(p->writes);
		cairn__free(p->checks);
		p->writes = cairn__malloc(p->nentries * sizeof(*p->writes));
		p->checks = cairn__malloc(p->nentries * sizeof(*p->checks));
		p->append_cap = p->nentries;
		if (p->writes == NULL || p->checks == NULL) {
			p->append_cap = 0;
			return finish_with(p, CAIRN_NOMEM, "out of memory");
		}
	}
	for (i = 0; i < p->nwritten; i++) {
		const entry *e = &p->entries[p->written[i]];

		assert(e->version <= INT64_MAX);
		p->writes[i].stream = e->stream;
		p->writes[i].expected = (int64_t)e->version;
		p->writes[i].events = e->events;
		p->writes[i].nevents = e->nevents;
	}
	for (i = 0, k = 0; i < p->nentries; i++) {
		if (p->entries[i].nevents > 0)
			continue;
		assert(p->entries[i].version <= INT64_MAX);
		p->checks[k].stream = p->entries[i].stream;
		p->checks[k].expected = (int64_t)p->entries[i].version;
		k++;
	}
	assert(k == nchecks);
	memset(&p->step, 0, sizeof(p->step));
	p->step.effect = CAIRN__STEP_APPEND;
	p->step.writes = p->writes;
	p->step.nwrites = p->nwritten;
	p->step.checks = p->checks;
	p->step.nchecks = nchecks;
	p->phase = PHASE_APPENDING;
	return &p->step;
}

/* Every stream is read: let the command decide. */
static const cairn__step *
decide(cairn__pipeline *p)
{
	cairn_status rc = p->cmd.handle(p->cmd.ctx, &p->decision);

	if (p->rejected || rc == CAIRN_REJECTED) {
		snprintf(p->result->message, sizeof(p->result->message), "%s",
		         p->rejection[0] ? p->rejection
		                         : "the command was rejected");
		snprintf(p->message, sizeof(p->message), "%s",
		         p->result->message);
		return finish(p, CAIRN_REJECTED, true);
	}
	if (p->failed != CAIRN_OK)
		return finish(p, p->failed, true);
	if (rc != CAIRN_OK)
		return finish_with(p, rc,
		                   "the command's handle() returned '%s'",
		                   cairn_status_str(rc));
	if (p->nwritten == 0)
		return finish(p, CAIRN_OK, false);
	return build_append(p);
}

static const cairn__step *
next_read(cairn__pipeline *p)
{
	if (p->reading == p->nentries)
		return decide(p);
	memset(&p->step, 0, sizeof(p->step));
	p->step.effect = CAIRN__STEP_READ;
	p->step.stream = p->entries[p->reading].stream;
	p->phase = PHASE_READING;
	return &p->step;
}

const cairn__step *
cairn__pipeline_start(cairn__pipeline *p)
{
	assert(p->phase == PHASE_NEW);
	p->attempt = 1;
	return begin_attempt(p);
}

cairn_status
cairn__pipeline_feed(cairn__pipeline *p, const cairn_event *ev)
{
	cairn_status rc;

	assert(p->phase == PHASE_READING);
	if (p->failed != CAIRN_OK)
		return p->failed;
	rc = p->cmd.apply(p->cmd.ctx, ev);
	if (rc != CAIRN_OK)
		return fail(p, rc,
		            "the command's apply() returned '%s' at version "
		            "%llu of stream '%s'",
		            cairn_status_str(rc),
		            (unsigned long long)ev->version,
		            p->entries[p->reading].stream);
	return CAIRN_OK;
}

const cairn__step *
cairn__pipeline_read_done(cairn__pipeline *p, cairn_status status,
                          uint64_t version)
{
	cairn_status rc;

	assert(p->phase == PHASE_READING);
	if (p->failed != CAIRN_OK)
		return finish(p, p->failed, true);
	if (status != CAIRN_OK)
		return finish(p, status, false);
	p->entries[p->reading].version = version;
	p->reading++;
	if (p->cmd.discover) {
		rc = p->cmd.discover(p->cmd.ctx, &p->set);
		if (p->failed != CAIRN_OK)
			return finish(p, p->failed, true);
		if (rc != CAIRN_OK)
			return finish_with(p, rc,
			                   "the command's discover() returned "
			                   "'%s'",
			                   cairn_status_str(rc));
	}
	return next_read(p);
}

const cairn__step *
cairn__pipeline_appended(cairn__pipeline *p, cairn_status status,
                         const cairn_append_result *res)
{
	uint32_t delay;

	assert(p->phase == PHASE_APPENDING);
	if (res && (status == CAIRN_OK || status == CAIRN_CONFLICT))
		p->result->append = *res;
	if (status == CAIRN_OK) {
		p->result->nevents = p->nevents;
		return finish(p, CAIRN_OK, false);
	}
	if (status != CAIRN_CONFLICT)
		return finish(p, status, false);
	/* Only a stream the command read can have moved under it; a
	 * conflict elsewhere (an event id the decision reuses from another
	 * stream) would fail the same way on every attempt. */
	if (find_entry(p, p->result->append.conflict_stream,
	               strlen(p->result->append.conflict_stream)) == SIZE_MAX)
		return finish_with(p, CAIRN_CONFLICT,
		                   "the command's append conflicts with stream "
		                   "'%s', which it did not read (an event id "
		                   "already committed there?): not retried",
		                   p->result->append.conflict_stream);
	if (p->attempt > p->policy.max_retries)
		return finish_with(
		        p, CAIRN_RETRIES_EXHAUSTED,
		        "the command gave up after %u attempts: stream '%s' "
		        "changed under it every time (last: expected version "
		        "%lld, found %llu)",
		        p->attempt, p->result->append.conflict_stream,
		        (long long)p->result->append.conflict_expected,
		        (unsigned long long)p->result->append.conflict_actual);
	delay = cairn__backoff_delay(&p->policy, p->attempt,
	                             next_unit(&p->rng));
	if (p->policy.on_retry)
		p->policy.on_retry(p->policy.on_retry_ctx,
		                   p->result->append.conflict_stream,
		                   p->attempt + 1, delay);
	memset(&p->step, 0, sizeof(p->step));
	p->step.effect = CAIRN__STEP_SLEEP;
	p->step.delay_us = delay;
	p->phase = PHASE_SLEEPING;
	return &p->step;
}

const cairn__step *
cairn__pipeline_slept(cairn__pipeline *p)
{
	assert(p->phase == PHASE_SLEEPING);
	p->attempt++;
	return begin_attempt(p);
}

uint32_t
cairn__backoff_delay(const cairn_retry_policy *policy, unsigned attempt,
                     double u)
{
	uint64_t d = policy->base_delay_us;
	unsigned shift = attempt > 1 ? attempt - 1 : 0;
	double factor;

	if (policy->backoff == CAIRN_BACKOFF_EXPONENTIAL && d > 0) {
		/* base < 2^32, so a shift under 32 cannot overflow */
		d = shift >= 32 ? UINT64_MAX : d << shift;
	}
	if (d > policy->max_delay_us)
		d = policy->max_delay_us;
	factor = 1.0 - policy->jitter * u;
	if (!(factor >= 0.0))
		factor = 0.0;
	if (factor > 1.0)
		factor = 1.0;
	return (uint32_t)((double)d * factor);
}

/* ---- life ---- */

cairn_status
cairn__pipeline_new(const cairn_command *cmd, const cairn_retry_policy *policy,
                    uint64_t seed, size_t max_event_size,
                    cairn_exec_result *result, cairn__pipeline **out)
{
	cairn__pipeline *p;

	assert(cmd && cmd->reset && cmd->apply && cmd->handle && policy &&
	       result && out);
	*out = NULL;
	memset(result, 0, sizeof(*result));
	p = cairn__calloc(1, sizeof(*p));
	if (p == NULL)
		return CAIRN_NOMEM;
	p->cmd = *cmd;
	p->policy = *policy;
	p->rng = seed;
	p->result = result;
	p->phase = PHASE_NEW;
	p->decision.pipeline = p;
	p->decision.max_event_size = max_event_size;
	p->set.pipeline = p;
	*out = p;
	return CAIRN_OK;
}

void
cairn__pipeline_free(cairn__pipeline *p)
{
	if (p == NULL)
		return;
	clear_attempt(p);
	cairn__free(p->entries);
	cairn__free(p->slots);
	cairn__free(p->written);
	cairn__free(p->blocks);
	cairn__free(p->writes);
	cairn__free(p->checks);
	cairn__free(p);
}
