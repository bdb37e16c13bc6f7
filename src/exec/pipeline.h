/*
 * pipeline.h -- command execution as a pure state machine, and the shell's
 * internal helpers.
 *
 * The pipeline decides; the shell (execute.c) does.  The pipeline never
 * touches a store, a clock, a file or global randomness: it yields a step
 * ("read stream X", "append these writes", "sleep D µs", "done") and is
 * resumed with what the step produced.  That makes every rule of
 * cairn_execute() -- the order streams are read in, the expected
 * versions, retries and backoff, rejections -- testable with scripted
 * results and no store (tests/unit/test_pipeline.c).
 *
 * One attempt:
 *
 *     start / slept
 *       -> cmd->reset()
 *       -> READ s   for each stream to read: the declared ones, then the
 *                   ones discover() names, breadth-first, each once
 *            feed(event) ... feed(event)      one at a time, cmd->apply()
 *            read_done(status, version)       then cmd->discover()
 *       -> cmd->handle(decision)
 *       -> APPEND   one write per stream with events, expected at the
 *                   version read, plus a version check of every stream
 *                   read but not written
 *            appended(status, result)
 *       -> DONE, or on a conflict SLEEP (and then a new attempt), or DONE
 *          with CAIRN_RETRIES_EXHAUSTED.
 *
 * A driver, in full (what cairn_execute() does):
 *
 *     const cairn__step *s = cairn__pipeline_start(p);
 *     while (s->effect != CAIRN__STEP_DONE) {
 *         switch (s->effect) {
 *         case CAIRN__STEP_READ:   ... feed each event, then
 *                                  s = cairn__pipeline_read_done(...);
 *         case CAIRN__STEP_APPEND: s = cairn__pipeline_appended(...);
 *         case CAIRN__STEP_SLEEP:  sleep; s = cairn__pipeline_slept(p);
 *         }
 *     }
 *
 * Everything a step points to is owned by the pipeline and valid until
 * the next call on it.  A pipeline is used by one thread at a time.
 */
#ifndef CAIRN_EXEC_PIPELINE_H
#define CAIRN_EXEC_PIPELINE_H

#include "cairn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest sentence the pipeline keeps (a rejection, or why it
 * finished); the same size as cairn_exec_result.message. */
#define CAIRN__PIPELINE_MESSAGE_MAX 512

/* A stream read but not written: its version must still be `expected`
 * when the writes commit. */
typedef struct cairn__check {
	const char *stream;
	int64_t expected;
} cairn__check;

typedef enum cairn__effect {
	CAIRN__STEP_READ,   /* read `stream`: feed, then read_done */
	CAIRN__STEP_APPEND, /* append writes + checks: then appended */
	CAIRN__STEP_SLEEP,  /* sleep delay_us: then slept */
	CAIRN__STEP_DONE    /* finished with status */
} cairn__effect;

typedef struct cairn__step {
	cairn__effect effect;
	const char *stream;        /* READ */
	const cairn_write *writes; /* APPEND: nwrites >= 1 */
	size_t nwrites;
	const cairn__check *checks; /* APPEND: may be 0 */
	size_t nchecks;
	uint32_t delay_us;   /* SLEEP */
	cairn_status status; /* DONE */
	/* DONE: the sentence for cairn_last_error(), or NULL when the
	 * failure came from the store (a read or an append), whose own
	 * sentence is the one to keep. */
	const char *message;
} cairn__step;

typedef struct cairn__pipeline cairn__pipeline;

/* What handle() writes into: bound to one pipeline during handle(). */
struct cairn_decision {
	cairn__pipeline *pipeline;
	size_t max_event_size; /* the store's, for cairn_decision_append() */
};

/* What discover() names streams into: bound to one pipeline. */
struct cairn_stream_set {
	cairn__pipeline *pipeline;
};

/*
 * A pipeline for cmd under policy (both copied; cmd's streams and ctx are
 * borrowed until the pipeline is freed).  seed drives the backoff jitter
 * (the same seed gives the same delays).  result is filled as the
 * pipeline goes (zeroed now) and is complete once a step is DONE.  The
 * caller has validated cmd and policy (cairn_execute() does).
 * Returns CAIRN_OK or CAIRN_NOMEM.
 */
cairn_status cairn__pipeline_new(const cairn_command *cmd,
                                 const cairn_retry_policy *policy,
                                 uint64_t seed, size_t max_event_size,
                                 cairn_exec_result *result,
                                 cairn__pipeline **out);

/* Free p and everything it holds.  NULL is a no-op. */
void cairn__pipeline_free(cairn__pipeline *p);

/* Begin the first attempt; the first step. */
const cairn__step *cairn__pipeline_start(cairn__pipeline *p);

/* During a READ step: fold one event of the stream (cmd->apply()).
 * Returns CAIRN_OK to go on; any other status means stop feeding and call
 * read_done (the pipeline remembers why). */
cairn_status cairn__pipeline_feed(cairn__pipeline *p, const cairn_event *ev);

/* End of a READ step: status is CAIRN_OK when the stream was read to its
 * end, with version the last event's version (0: empty); or the read's
 * error.  After a refused feed, pass anything: the refusal wins. */
const cairn__step *cairn__pipeline_read_done(cairn__pipeline *p,
                                             cairn_status status,
                                             uint64_t version);

/* End of an APPEND step: the append's status and result (result is read
 * on CAIRN_OK and CAIRN_CONFLICT). */
const cairn__step *cairn__pipeline_appended(cairn__pipeline *p,
                                            cairn_status status,
                                            const cairn_append_result *res);

/* End of a SLEEP step: the next attempt begins. */
const cairn__step *cairn__pipeline_slept(cairn__pipeline *p);

/*
 * The delay before retrying after attempt `attempt` (1-based) failed:
 * base_delay_us (fixed) or base_delay_us * 2^(attempt - 1) (exponential),
 * capped at max_delay_us, then scaled by 1 - jitter * u for u in [0, 1)
 * (so by a factor in (1 - jitter, 1]), rounded down.  Pure.
 */
uint32_t cairn__backoff_delay(const cairn_retry_policy *policy,
                              unsigned attempt, double u);

/* ---- the pipeline side of the decision and stream-set functions ----
 *
 * cairn_decision_append() and friends (execute.c) validate their
 * arguments, then call these.  A failure is sticky: it fails the command
 * even when the callback ignores the status it got. */

/* Add a copy of ev to stream's writes.  Returns CAIRN_OK; CAIRN_INVALID
 * (the command did not read stream); CAIRN_NOMEM.  On failure the
 * sentence is cairn__pipeline_error(). */
cairn_status cairn__decision_add(cairn_decision *d, const char *stream,
                                 size_t stream_len, const cairn_new_event *ev);

/* Record the rejection's sentence (truncated to
 * CAIRN__PIPELINE_MESSAGE_MAX - 1 bytes). */
void cairn__decision_reject(cairn_decision *d, const char *message);

/* Record a failure found by the shell's validation (sticky). */
void cairn__pipeline_fail(cairn__pipeline *p, cairn_status status,
                          const char *message);

/* Schedule stream to be read (once).  Returns CAIRN_OK or CAIRN_NOMEM
 * (sentence: cairn__pipeline_error()). */
cairn_status cairn__stream_set_add(cairn_stream_set *set, const char *stream,
                                   size_t stream_len);

/* The sentence of the last failure the pipeline recorded. */
const char *cairn__pipeline_error(const cairn__pipeline *p);

/* ---- the engine side (src/core/append_checked.c) ---- */

/*
 * Append writes (as cairn_append_multi()) on condition that every check's
 * stream is still at its expected version: one engine request, so the
 * check and the append are one atomic step against every writer.  A
 * failed check is CAIRN_CONFLICT with result naming it (conflict_index =
 * nwrites + its index), and nothing is written.
 *
 * Returns as cairn_append_multi(); CAIRN_INVALID also for a malformed or
 * repeated check, or a stream both written and checked.
 */
cairn_status cairn__append_checked(cairn_store *store,
                                   const cairn_write *writes, size_t nwrites,
                                   const cairn__check *checks, size_t nchecks,
                                   cairn_append_result *result);

/* Tell the store's engine a command is being retried (its note_retry
 * operation, when it has one). */
void cairn__note_retry(cairn_store *store);

#endif /* CAIRN_EXEC_PIPELINE_H */
