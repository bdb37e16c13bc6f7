/*
 * testing.c -- cairn_test_given_when_then(): run a command against a
 * fresh store holding the given events, and compare what it wrote (as a
 * tracking store recorded it) with what the scenario expects.
 *
 * The report is written as the comparison goes, into the caller's buffer,
 * cut short (never overrun) when it does not fit.
 */
#include "cairn/testing.h"
#include "decorators/forward.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The executor runs the command once: a conflict in a scenario is a
 * finding, not something to retry away. */
#define SCENARIO_RETRIES 0

/* ---- The report ---- */

typedef struct report {
	char *buf;
	size_t size;
	size_t len; /* what the whole report would take */
} report;

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void
say(report *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (r->len < r->size)
		n = vsnprintf(r->buf + r->len, r->size - r->len, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len += (size_t)n;
}

/* The length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF */
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

/* Text a report can show as is: UTF-8 without control characters but
 * the three it escapes. */
static int
printable(const unsigned char *p, size_t n)
{
	size_t i = 0, len;

	while (i < n) {
		if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
			return 0;
		if (p[i] == 0x7f)
			return 0;
		len = utf8_len(p + i, n - i);
		if (len == 0)
			return 0;
		i += len;
	}
	return 1;
}

/* Bytes as text (escaped) or hex, at most CAIRN_TEST_SHOW_MAX of them;
 * a cut never splits a UTF-8 sequence. */
static void
say_bytes(report *r, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t shown = n < CAIRN_TEST_SHOW_MAX ? n : CAIRN_TEST_SHOW_MAX, i;

	if (n == 0) {
		say(r, "(empty)");
		return;
	}
	if (printable(p, n)) {
		while (shown < n && (p[shown] & 0xc0) == 0x80)
			shown--;
		for (i = 0; i < shown; i++) {
			if (p[i] == '\n')
				say(r, "\\n");
			else if (p[i] == '\r')
				say(r, "\\r");
			else if (p[i] == '\t')
				say(r, "\\t");
			else if (p[i] == '\\')
				say(r, "\\\\");
			else
				say(r, "%c", p[i]);
		}
	} else {
		say(r, "hex:");
		for (i = 0; i < shown; i++)
			say(r, "%02x", p[i]);
	}
	if (shown < n)
		say(r, "... (%zu bytes)", n);
}

static void
say_tags(report *r, const char *const *tags, size_t ntags)
{
	size_t i;

	say(r, " tags [");
	for (i = 0; i < ntags; i++)
		say(r, "%s%s", i ? ", " : "", tags[i]);
	say(r, "]");
}

/* An event line, showing metadata and tags when the expected event
 * (which may be NULL) asks for them to be compared. */
static void
say_expected(report *r, char mark, size_t index, const cairn_expected_event *x)
{
	say(r, "%c #%zu %s %s ", mark, index + 1, x->stream, x->type);
	say_bytes(r, x->data, x->data_len);
	if (x->metadata) {
		say(r, " metadata ");
		say_bytes(r, x->metadata, x->metadata_len);
	}
	if (x->tags)
		say_tags(r, x->tags, x->ntags);
	say(r, "\n");
}

static void
say_actual(report *r, char mark, size_t index, const cairn_event *e,
           const cairn_expected_event *x)
{
	say(r, "%c #%zu %s %s ", mark, index + 1, e->stream, e->type);
	say_bytes(r, e->data, e->data_len);
	if (x && x->metadata) {
		say(r, " metadata ");
		say_bytes(r, e->metadata, e->metadata_len);
	}
	if (x && x->tags)
		say_tags(r, e->tags, e->ntags);
	say(r, "\n");
}

/* ---- Comparing ---- */

static int
bytes_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The same tags, in any order (tags of one event are distinct). */
static int
tags_equal(const char *const *want, size_t nwant, const cairn_event *e)
{
	size_t i, j;

	if (nwant != e->ntags)
		return 0;
	for (i = 0; i < nwant; i++) {
		for (j = 0; j < e->ntags; j++)
			if (strcmp(want[i], e->tags[j]) == 0)
				break;
		if (j == e->ntags)
			return 0;
	}
	return 1;
}

static int
event_matches(const cairn_expected_event *x, const cairn_event *e)
{
	return strcmp(x->stream, e->stream) == 0 &&
	       strcmp(x->type, e->type) == 0 &&
	       bytes_equal(x->data, x->data_len, e->data, e->data_len) &&
	       (x->metadata == NULL ||
	        bytes_equal(x->metadata, x->metadata_len, e->metadata,
	                    e->metadata_len)) &&
	       (x->tags == NULL || tags_equal(x->tags, x->ntags, e));
}

/* What the command wrote: copies of the events a tracking read yields
 * (borrowed events die at the next step, and the diff needs them all). */
typedef struct written {
	cairn_event **events;
	size_t n;
} written;

static void
written_free(written *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		cairn__free(w->events[i]);
	cairn__free(w->events);
}

static cairn_status
read_written(cairn_store *tracking, written *w)
{
	const cairn_event *e;
	cairn_event **grown;
	cairn_iter *it = NULL;
	size_t cap = 0;
	cairn_status rc;

	memset(w, 0, sizeof(*w));
	rc = cairn_tracking_read(tracking, &it);
	while (rc == CAIRN_OK && (rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		rc = CAIRN_OK;
		if (w->n == cap) {
			cap = cap ? 2 * cap : 16;
			grown = cairn__realloc(w->events, cap * sizeof(*grown));
			if (grown == NULL) {
				rc = cairn__error(CAIRN_NOMEM, 0,
				                  "out of memory");
				break;
			}
			w->events = grown;
		}
		w->events[w->n] = cairn__event_dup(e);
		if (w->events[w->n] == NULL)
			rc = cairn__error(CAIRN_NOMEM, 0, "out of memory");
		else
			w->n++;
	}
	cairn_iter_free(it);
	return rc == CAIRN_DONE ? CAIRN_OK : rc;
}

static const char *
plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/* The expected events against the written ones, line by line. */
static void
say_diff(report *r, const cairn_expected_event *then, size_t nthen,
         const written *w)
{
	size_t i, n = nthen > w->n ? nthen : w->n;

	say(r, "(- expected, + actual)\n");
	for (i = 0; i < n; i++) {
		const cairn_expected_event *x = i < nthen ? &then[i] : NULL;
		const cairn_event *e = i < w->n ? w->events[i] : NULL;

		if (x && e && event_matches(x, e)) {
			say_actual(r, ' ', i, e, x);
			continue;
		}
		if (x)
			say_expected(r, '-', i, x);
		if (e)
			say_actual(r, '+', i, e, x);
	}
}

/* The first event that differs (0-based), or n when all agree. */
static size_t
first_difference(const cairn_expected_event *then, size_t nthen,
                 const written *w)
{
	size_t i;

	for (i = 0; i < nthen && i < w->n; i++)
		if (!event_matches(&then[i], w->events[i]))
			return i;
	return i;
}

/* Judge the outcome of a command that was expected to write then. */
static cairn_test_outcome
judge_events(report *r, const cairn_expected_event *then, size_t nthen,
             const written *w, cairn_status rc, const cairn_exec_result *res)
{
	size_t at;

	if (rc == CAIRN_REJECTED) {
		say(r, "expected %zu event%s, got the rejection \"%s\"\n",
		    nthen, plural(nthen), res->message);
		say_diff(r, then, nthen, w);
		return CAIRN_TEST_FAIL;
	}
	if (nthen != w->n) {
		say(r, "expected %zu event%s, got %zu\n", nthen, plural(nthen),
		    w->n);
		say_diff(r, then, nthen, w);
		return CAIRN_TEST_FAIL;
	}
	at = first_difference(then, nthen, w);
	if (at == nthen)
		return CAIRN_TEST_PASS;
	say(r, "expected %zu event%s, got %zu; event #%zu differs\n", nthen,
	    plural(nthen), w->n, at + 1);
	say_diff(r, then, nthen, w);
	return CAIRN_TEST_FAIL;
}

static cairn_test_outcome
judge_rejection(report *r, const char *rejection, const written *w,
                cairn_status rc, const cairn_exec_result *res)
{
	if (rc == CAIRN_REJECTED && strstr(res->message, rejection) != NULL)
		return CAIRN_TEST_PASS;
	if (rc == CAIRN_REJECTED) {
		say(r,
		    "expected a rejection containing \"%s\", got the "
		    "rejection \"%s\"\n",
		    rejection, res->message);
		return CAIRN_TEST_FAIL;
	}
	say(r, "expected a rejection containing \"%s\", got %zu event%s\n",
	    rejection, w->n, plural(w->n));
	if (w->n)
		say_diff(r, NULL, 0, w);
	return CAIRN_TEST_FAIL;
}

/* ---- The scenario ---- */

static cairn_test_outcome
setup_error(report *r, const char *what)
{
	say(r, "setup failed: %s: %s\n", what, cairn_last_error());
	return CAIRN_TEST_ERROR;
}

/* The scenario's own arguments; a message on failure. */
static cairn_status
check_arguments(const cairn_given_event *given, size_t ngiven,
                const cairn_command *when, const cairn_expected_event *then,
                size_t nthen, const char *rejection)
{
	size_t i;

	if (when == NULL)
		return cairn__error(CAIRN_INVALID, 0, "the command is NULL");
	if (given == NULL && ngiven > 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "given is NULL with %zu events", ngiven);
	if (then == NULL && nthen > 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "then is NULL with %zu events", nthen);
	if (rejection != NULL && nthen > 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "a rejection is expected and %zu events "
		                    "too; a rejected command writes nothing",
		                    nthen);
	for (i = 0; i < nthen; i++)
		if (then[i].stream == NULL || then[i].type == NULL ||
		    (then[i].data == NULL && then[i].data_len > 0) ||
		    (then[i].metadata == NULL && then[i].metadata_len > 0) ||
		    (then[i].tags == NULL && then[i].ntags > 0))
			return cairn__error(CAIRN_INVALID, 0,
			                    "expected event #%zu lacks its "
			                    "stream, type, data, metadata or "
			                    "tags",
			                    i + 1);
	return CAIRN_OK;
}

static cairn_status
append_given(cairn_store *st, const cairn_given_event *given, size_t ngiven,
             size_t *failed)
{
	cairn_status rc;
	size_t i;

	for (i = 0; i < ngiven; i++) {
		rc = cairn_append(st, given[i].stream, CAIRN_ANY,
		                  &given[i].event, 1, NULL);
		if (rc != CAIRN_OK) {
			*failed = i;
			return rc;
		}
	}
	return CAIRN_OK;
}

cairn_test_outcome
cairn_test_given_when_then(const cairn_given_event *given, size_t ngiven,
                           const cairn_command *when,
                           const cairn_expected_event *then, size_t nthen,
                           const char *rejection, char *report_buf,
                           size_t report_size)
{
	report r = {report_buf, report_buf ? report_size : 0, 0};
	cairn_store *inner = NULL, *tracking = NULL;
	cairn_test_outcome outcome;
	cairn_retry_policy policy;
	cairn_exec_result res;
	written w = {NULL, 0};
	char what[64];
	size_t failed = 0;
	cairn_status rc;

	if (r.size)
		r.buf[0] = '\0';
	if (check_arguments(given, ngiven, when, then, nthen, rejection) !=
	    CAIRN_OK)
		return setup_error(&r, "bad arguments");
	if (cairn_open("memory:", NULL, &inner) != CAIRN_OK)
		return setup_error(&r, "opening a memory store");
	rc = append_given(inner, given, ngiven, &failed);
	if (rc != CAIRN_OK) {
		snprintf(what, sizeof(what), "appending given event #%zu",
		         failed + 1);
		outcome = setup_error(&r, what);
		goto done;
	}
	if (cairn_tracking_open(inner, &tracking) != CAIRN_OK) {
		outcome = setup_error(&r, "opening the tracking store");
		goto done;
	}
	cairn_retry_policy_init(&policy);
	policy.max_retries = SCENARIO_RETRIES;
	rc = cairn_execute(tracking, when, &policy, &res);
	if (rc != CAIRN_OK && rc != CAIRN_REJECTED) {
		say(&r, "execution failed: %s: %s\n", cairn_status_str(rc),
		    cairn_last_error());
		outcome = CAIRN_TEST_FAIL;
		goto done;
	}
	if (read_written(tracking, &w) != CAIRN_OK) {
		outcome = setup_error(&r, "reading what the command wrote");
		goto done;
	}
	if (rejection)
		outcome = judge_rejection(&r, rejection, &w, rc, &res);
	else
		outcome = judge_events(&r, then, nthen, &w, rc, &res);
done:
	written_free(&w);
	cairn_close(tracking);
	cairn_close(inner);
	if (outcome == CAIRN_TEST_PASS && r.size)
		r.buf[0] = '\0';
	return outcome;
}
