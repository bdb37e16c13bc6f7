/*
 * execute.c -- cairn_execute(): the shell that runs the pipeline (a pure
 * state machine, pipeline.c) against a store, and the functions a
 * command calls from inside its callbacks.
 *
 * The shell does what the pipeline may not: it reads streams, feeding
 * their events one at a time as the iterator yields them (a stream is
 * never held in memory), appends, sleeps, and tells the engine about
 * retries.  Every decision -- what to read next, what to write, whether
 * and how long to wait -- is the pipeline's.
 */
#include "core/core.h"
#include "pipeline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* cairn_retry_policy_init()'s defaults, as documented in cairn.h. */
#define DEFAULT_MAX_RETRIES 5
#define DEFAULT_BASE_DELAY_US 1000
#define DEFAULT_MAX_DELAY_US 100000
#define DEFAULT_JITTER 0.5

#define US_PER_SEC 1000000u
#define NS_PER_US 1000u

void
cairn_retry_policy_init(cairn_retry_policy *policy)
{
	if (policy == NULL)
		return;
	memset(policy, 0, sizeof(*policy));
	policy->max_retries = DEFAULT_MAX_RETRIES;
	policy->backoff = CAIRN_BACKOFF_EXPONENTIAL;
	policy->base_delay_us = DEFAULT_BASE_DELAY_US;
	policy->max_delay_us = DEFAULT_MAX_DELAY_US;
	policy->jitter = DEFAULT_JITTER;
}

/* ---- inside the callbacks ---- */

/* Record a validation failure (already in cairn_last_error()) as the
 * pipeline's sticky failure, and return it. */
static cairn_status
refuse(cairn__pipeline *p, cairn_status status)
{
	char sentence[CAIRN__PIPELINE_MESSAGE_MAX];

	/* the sentence is copied first: it is the thread's error record */
	snprintf(sentence, sizeof(sentence), "%s", cairn_last_error());
	cairn__pipeline_fail(p, status, sentence);
	return status;
}

cairn_status
cairn_decision_append(cairn_decision *d, const char *stream,
                      const cairn_new_event *event)
{
	cairn_status rc;
	size_t len;

	if (d == NULL)
		return cairn__error(CAIRN_INVALID, 0, "decision is NULL");
	if (stream == NULL || event == NULL) {
		cairn__error(CAIRN_INVALID, 0,
		             "cairn_decision_append: %s is NULL",
		             stream == NULL ? "stream" : "event");
		return refuse(d->pipeline, CAIRN_INVALID);
	}
	rc = cairn__validate_name(stream, CAIRN_STREAM_ID_MAX,
	                          CAIRN_INVALID_STREAM, "stream id", &len);
	if (rc == CAIRN_OK)
		rc = cairn__validate_event(event, 0, d->max_event_size);
	if (rc != CAIRN_OK)
		return refuse(d->pipeline, rc);
	rc = cairn__decision_add(d, stream, len, event);
	if (rc != CAIRN_OK)
		return cairn__error(rc, 0, "%s",
		                    cairn__pipeline_error(d->pipeline));
	return CAIRN_OK;
}

cairn_status
cairn_decision_reject(cairn_decision *d, const char *fmt, ...)
{
	char sentence[CAIRN__PIPELINE_MESSAGE_MAX];
	va_list ap;

	if (d == NULL)
		return cairn__error(CAIRN_INVALID, 0, "decision is NULL");
	if (fmt == NULL)
		fmt = "the command was rejected";
	va_start(ap, fmt);
	vsnprintf(sentence, sizeof(sentence), fmt, ap);
	va_end(ap);
	cairn__decision_reject(d, sentence);
	return cairn__error(CAIRN_REJECTED, 0, "%s", sentence);
}

cairn_status
cairn_stream_set_add(cairn_stream_set *set, const char *stream)
{
	cairn_status rc;
	size_t len;

	if (set == NULL)
		return cairn__error(CAIRN_INVALID, 0, "stream set is NULL");
	if (stream == NULL) {
		cairn__error(CAIRN_INVALID, 0,
		             "cairn_stream_set_add: stream is NULL");
		return refuse(set->pipeline, CAIRN_INVALID);
	}
	rc = cairn__validate_name(stream, CAIRN_STREAM_ID_MAX,
	                          CAIRN_INVALID_STREAM, "stream id", &len);
	if (rc != CAIRN_OK)
		return refuse(set->pipeline, rc);
	rc = cairn__stream_set_add(set, stream, len);
	if (rc != CAIRN_OK)
		return cairn__error(rc, 0, "%s",
		                    cairn__pipeline_error(set->pipeline));
	return CAIRN_OK;
}

/* ---- validation at the edge ---- */

static cairn_status
check_command(const cairn_command *cmd)
{
	size_t i;
	char role[64];
	cairn_status rc;

	if (cmd->reset == NULL || cmd->apply == NULL || cmd->handle == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "a command needs reset(), apply() and "
		                    "handle(); %s() is NULL",
		                    cmd->reset == NULL   ? "reset"
		                    : cmd->apply == NULL ? "apply"
		                                         : "handle");
	if (cmd->nstreams > 0 && cmd->streams == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "the command names %zu streams but streams "
		                    "is NULL",
		                    cmd->nstreams);
	for (i = 0; i < cmd->nstreams; i++) {
		if (cmd->streams[i] == NULL)
			return cairn__error(CAIRN_INVALID, 0,
			                    "stream %zu of the command is NULL",
			                    i);
		snprintf(role, sizeof(role), "stream id %zu of the command", i);
		rc = cairn__validate_name(cmd->streams[i], CAIRN_STREAM_ID_MAX,
		                          CAIRN_INVALID_STREAM, role, NULL);
		if (rc != CAIRN_OK)
			return rc;
	}
	return CAIRN_OK;
}

static cairn_status
check_policy(const cairn_retry_policy *policy)
{
	if (policy->backoff != CAIRN_BACKOFF_FIXED &&
	    policy->backoff != CAIRN_BACKOFF_EXPONENTIAL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "retry policy: backoff %d is not known",
		                    (int)policy->backoff);
	/* written so that NaN fails too */
	if (!(policy->jitter >= 0.0 && policy->jitter <= 1.0))
		return cairn__error(CAIRN_INVALID, 0,
		                    "retry policy: jitter %g is not in 0..1",
		                    policy->jitter);
	return CAIRN_OK;
}

/* ---- the effects ---- */

/* Read stream to its end, feeding the pipeline one event at a time. */
static const cairn__step *
run_read(cairn_store *st, cairn__pipeline *p, const char *stream)
{
	const cairn_event *ev;
	uint64_t version = 0;
	cairn_iter *it;
	cairn_status rc;

	rc = cairn_read_stream(st, stream, NULL, &it);
	if (rc != CAIRN_OK)
		return cairn__pipeline_read_done(p, rc, 0);
	while ((rc = cairn_iter_next(it, &ev)) == CAIRN_ROW) {
		version = ev->version;
		if (cairn__pipeline_feed(p, ev) != CAIRN_OK)
			break;
	}
	cairn_iter_free(it);
	return cairn__pipeline_read_done(p, rc == CAIRN_DONE ? CAIRN_OK : rc,
	                                 version);
}

static void
sleep_us(uint32_t us)
{
	struct timespec ts, rem;

	ts.tv_sec = us / US_PER_SEC;
	ts.tv_nsec = (long)(us % US_PER_SEC) * NS_PER_US;
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
}

/* Jitter only has to spread concurrent retries apart: the clock and
 * this call's stack address differ between threads and calls. */
static uint64_t
jitter_seed(const void *here)
{
	return (uint64_t)cairn__now_ns() ^ ((uint64_t)(uintptr_t)here << 16);
}

cairn_status
cairn_execute(cairn_store *store, const cairn_command *cmd,
              const cairn_retry_policy *policy, cairn_exec_result *result)
{
	cairn_retry_policy defaults;
	cairn_exec_result local;
	cairn_append_result res;
	const cairn__step *step;
	cairn__pipeline *p;
	cairn_status rc;

	if (result == NULL)
		result = &local;
	memset(result, 0, sizeof(*result));
	if (store == NULL || cmd == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL %s",
		                    store == NULL ? "store" : "command");
	if (policy == NULL) {
		cairn_retry_policy_init(&defaults);
		policy = &defaults;
	}
	rc = check_command(cmd);
	if (rc == CAIRN_OK)
		rc = check_policy(policy);
	if (rc != CAIRN_OK)
		return rc;
	rc = cairn__pipeline_new(cmd, policy, jitter_seed(&local),
	                         store->opts.max_event_size, result, &p);
	if (rc != CAIRN_OK)
		return cairn__error(rc, 0, "out of memory");

	step = cairn__pipeline_start(p);
	while (step->effect != CAIRN__STEP_DONE) {
		switch (step->effect) {
		case CAIRN__STEP_READ:
			step = run_read(store, p, step->stream);
			break;
		case CAIRN__STEP_APPEND:
			rc = cairn__append_checked(store, step->writes,
			                           step->nwrites, step->checks,
			                           step->nchecks, &res);
			step = cairn__pipeline_appended(p, rc, &res);
			break;
		case CAIRN__STEP_SLEEP:
			cairn__note_retry(store);
			sleep_us(step->delay_us);
			step = cairn__pipeline_slept(p);
			break;
		case CAIRN__STEP_DONE:
			break;
		}
	}
	rc = step->status;
	if (step->message)
		cairn__error(rc, 0, "%s", step->message);
	else if (rc == CAIRN_OK)
		cairn__error_clear();
	cairn__pipeline_free(p);
	return rc;
}
