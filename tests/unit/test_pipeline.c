/*
 * test_pipeline.c -- the rules of command execution (src/exec/pipeline.c)
 * with no store: a scripted driver plays the shell, answering READ from a
 * table of streams, APPEND from a list of scripted outcomes, and SLEEP by
 * writing the delay down.
 */
#include "unit.h"

#include "exec/pipeline.h"

#include <stdlib.h>

#define MAX_STREAMS 16
#define MAX_EVENTS 8
#define MAX_LOG 64
#define NAME_MAX_LEN 32

/* ---- the scripted world ---- */

/* A stream of the table: each event's type, and its data (a stream name
 * that the command's discover() follows when the type is "link"). */
struct stream {
	const char *name;
	const char *types[MAX_EVENTS];
	const char *data[MAX_EVENTS];
	size_t n;
};

struct world {
	struct stream streams[MAX_STREAMS];
	size_t nstreams;
	/* READ of fail_stream ends with fail_status after fail_after
	 * events (fail_status CAIRN_OK: no failure) */
	const char *fail_stream;
	size_t fail_after;
	cairn_status fail_status;
	/* APPEND outcomes in turn; past the end: CAIRN_OK */
	cairn_status outcomes[MAX_LOG];
	size_t noutcomes, next_outcome;
	/* a stream whose version grows by one on each conflict (so that a
	 * retry reads something new) */
	const char *grows;
	/* when set, conflicts name this stream instead of the first write's
	 * (an event id already committed elsewhere) */
	const char *conflict_elsewhere;
	/* what the driver saw */
	char reads[MAX_LOG][NAME_MAX_LEN];
	size_t nreads;
	size_t appends;
	uint32_t sleeps[MAX_LOG];
	size_t nsleeps;
	/* the last APPEND step, copied */
	char w_stream[MAX_STREAMS][NAME_MAX_LEN];
	int64_t w_expected[MAX_STREAMS];
	size_t w_nevents[MAX_STREAMS];
	char w_type0[MAX_STREAMS][NAME_MAX_LEN];
	size_t nwrites;
	char c_stream[MAX_STREAMS][NAME_MAX_LEN];
	int64_t c_expected[MAX_STREAMS];
	size_t nchecks;
};

static struct stream *
world_stream(struct world *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->nstreams; i++)
		if (strcmp(w->streams[i].name, name) == 0)
			return &w->streams[i];
	return NULL;
}

static void
world_add(struct world *w, const char *name, const char *type, const char *data)
{
	struct stream *s = world_stream(w, name);

	if (s == NULL) {
		s = &w->streams[w->nstreams++];
		s->name = name;
	}
	s->types[s->n] = type;
	s->data[s->n] = data;
	s->n++;
}

/* Play a READ: feed the stream's events one at a time. */
static const cairn__step *
play_read(struct world *w, cairn__pipeline *p, const char *name)
{
	struct stream *s = world_stream(w, name);
	cairn_event ev;
	size_t i, n = s ? s->n : 0;
	uint64_t version = 0;

	assert_true(w->nreads < MAX_LOG);
	snprintf(w->reads[w->nreads++], NAME_MAX_LEN, "%s", name);
	for (i = 0; i < n; i++) {
		if (w->fail_status != CAIRN_OK && w->fail_stream &&
		    strcmp(w->fail_stream, name) == 0 && i == w->fail_after)
			return cairn__pipeline_read_done(p, w->fail_status,
			                                 version);
		memset(&ev, 0, sizeof(ev));
		ev.stream = name;
		ev.stream_len = strlen(name);
		ev.type = s->types[i];
		ev.type_len = strlen(ev.type);
		ev.data = s->data[i];
		ev.data_len = s->data[i] ? strlen(s->data[i]) : 0;
		ev.version = i + 1;
		ev.position = i + 1;
		version = ev.version;
		if (cairn__pipeline_feed(p, &ev) != CAIRN_OK)
			break;
	}
	return cairn__pipeline_read_done(p, CAIRN_OK, version);
}

/* Play an APPEND: write the step down, answer the next outcome. */
static const cairn__step *
play_append(struct world *w, cairn__pipeline *p, const cairn__step *s)
{
	cairn_append_result res;
	cairn_status rc = CAIRN_OK;
	size_t i;

	w->appends++;
	assert_true(s->nwrites >= 1);
	assert_true(s->nwrites <= MAX_STREAMS && s->nchecks <= MAX_STREAMS);
	w->nwrites = s->nwrites;
	for (i = 0; i < s->nwrites; i++) {
		snprintf(w->w_stream[i], NAME_MAX_LEN, "%s",
		         s->writes[i].stream);
		w->w_expected[i] = s->writes[i].expected;
		w->w_nevents[i] = s->writes[i].nevents;
		snprintf(w->w_type0[i], NAME_MAX_LEN, "%s",
		         s->writes[i].events[0].type);
	}
	w->nchecks = s->nchecks;
	for (i = 0; i < s->nchecks; i++) {
		snprintf(w->c_stream[i], NAME_MAX_LEN, "%s",
		         s->checks[i].stream);
		w->c_expected[i] = s->checks[i].expected;
	}
	if (w->next_outcome < w->noutcomes)
		rc = w->outcomes[w->next_outcome++];
	memset(&res, 0, sizeof(res));
	if (rc == CAIRN_OK) {
		res.first_position = 100;
		res.last_position = 100 + s->writes[0].nevents - 1;
		res.version =
		        (uint64_t)s->writes[0].expected + s->writes[0].nevents;
	} else if (rc == CAIRN_CONFLICT) {
		snprintf(res.conflict_stream, sizeof(res.conflict_stream), "%s",
		         w->conflict_elsewhere ? w->conflict_elsewhere
		                               : s->writes[0].stream);
		res.conflict_expected = s->writes[0].expected;
		res.conflict_actual = (uint64_t)s->writes[0].expected + 1;
		if (w->grows)
			world_add(w, w->grows, "Grown", NULL);
	}
	return cairn__pipeline_appended(p, rc, &res);
}

/* Drive p to its end; returns the DONE step. */
static const cairn__step *
drive(struct world *w, cairn__pipeline *p)
{
	const cairn__step *s = cairn__pipeline_start(p);
	size_t guard = 0;

	while (s->effect != CAIRN__STEP_DONE) {
		assert_true(++guard < 1000);
		switch (s->effect) {
		case CAIRN__STEP_READ:
			s = play_read(w, p, s->stream);
			break;
		case CAIRN__STEP_APPEND:
			s = play_append(w, p, s);
			break;
		case CAIRN__STEP_SLEEP:
			assert_true(w->nsleeps < MAX_LOG);
			w->sleeps[w->nsleeps++] = s->delay_us;
			s = cairn__pipeline_slept(p);
			break;
		case CAIRN__STEP_DONE:
			break;
		}
	}
	return s;
}

/* ---- the command ---- */

enum mode {
	WRITE,          /* append 1 event ("Done") to each of writes[] */
	WRITE_NONE,     /* decide nothing */
	REJECT,         /* cairn_decision_reject() */
	REJECT_BARE,    /* return CAIRN_REJECTED without a message */
	REJECT_THEN_OK, /* reject but return CAIRN_OK */
	FAIL,           /* return fail_with */
	WRITE_BAD_TYPE, /* append an event with an empty type, return OK */
	WRITE_COPY      /* append two events from buffers it then spoils */
};

struct cmd {
	enum mode mode;
	const char *writes[MAX_STREAMS];
	size_t nwrites;
	cairn_status fail_with;
	/* which callback fails with fail_with: "reset", "apply" (at the
	 * event fail_at of any stream), "discover", "handle" */
	const char *failing;
	uint64_t fail_at;
	bool discovers;
	/* state, cleared by reset() */
	size_t applied;
	char links[MAX_LOG][NAME_MAX_LEN];
	size_t nlinks;
	/* counts over the whole run */
	size_t resets, applies, discovers_called, handles;
	cairn_status append_rc; /* what cairn_decision_append answered */
	/* on_retry's calls */
	char retry_stream[MAX_LOG][NAME_MAX_LEN];
	unsigned retry_attempt[MAX_LOG];
	uint32_t retry_delay[MAX_LOG];
	size_t nretries;
};

static bool
failing(const struct cmd *c, const char *what)
{
	return c->failing && strcmp(c->failing, what) == 0;
}

static cairn_status
cmd_reset(void *ctx)
{
	struct cmd *c = ctx;

	c->resets++;
	if (failing(c, "reset"))
		return c->fail_with;
	c->applied = 0;
	c->nlinks = 0;
	return CAIRN_OK;
}

static cairn_status
cmd_apply(void *ctx, const cairn_event *ev)
{
	struct cmd *c = ctx;

	c->applies++;
	if (failing(c, "apply") && ev->version == c->fail_at)
		return c->fail_with;
	c->applied++;
	if (strcmp(ev->type, "link") == 0) {
		assert_true(c->nlinks < MAX_LOG);
		snprintf(c->links[c->nlinks++], NAME_MAX_LEN, "%.*s",
		         (int)ev->data_len, (const char *)ev->data);
	}
	return CAIRN_OK;
}

/* Name every link folded so far: the pipeline must drop repeats. */
static cairn_status
cmd_discover(void *ctx, cairn_stream_set *more)
{
	struct cmd *c = ctx;
	size_t i;

	c->discovers_called++;
	if (failing(c, "discover"))
		return c->fail_with;
	for (i = 0; i < c->nlinks; i++)
		assert_int_equal(cairn_stream_set_add(more, c->links[i]),
		                 CAIRN_OK);
	return CAIRN_OK;
}

/* Append an event from local buffers, then spoil them all. */
static cairn_status
handle_copy(cairn_decision *d)
{
	char type[8] = "Typed", data[8] = "{\"x\":1}", meta[2] = "m";
	char tag0[4] = "t:1", tag1[4] = "t:2";
	const char *tags[2] = {tag0, tag1};
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_uuid id;
	cairn_status rc;

	memset(&id, 7, sizeof(id));
	ev.type = type;
	ev.data = data;
	ev.data_len = strlen(data);
	ev.metadata = meta;
	ev.metadata_len = 1;
	ev.tags = tags;
	ev.ntags = 2;
	ev.id = &id;
	rc = cairn_decision_append(d, "a", &ev);
	memset(type, 'z', sizeof(type) - 1);
	memset(data, 'z', sizeof(data) - 1);
	meta[0] = 'z';
	tag0[2] = tag1[2] = 'z';
	tags[1] = "other";
	memset(&id, 0, sizeof(id));
	if (rc != CAIRN_OK)
		return rc;
	ev = (cairn_new_event)CAIRN_NEW_EVENT_INIT;
	ev.type = "Bare";
	return cairn_decision_append(d, "a", &ev);
}

static cairn_status
cmd_handle(void *ctx, cairn_decision *d)
{
	struct cmd *c = ctx;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	size_t i;

	c->handles++;
	ev.type = "Done";
	switch (c->mode) {
	case WRITE:
		for (i = 0; i < c->nwrites; i++) {
			c->append_rc =
			        cairn_decision_append(d, c->writes[i], &ev);
			if (c->append_rc != CAIRN_OK)
				return CAIRN_OK; /* ignored on purpose */
		}
		return CAIRN_OK;
	case WRITE_NONE:
		return CAIRN_OK;
	case REJECT:
		return cairn_decision_reject(d, "insufficient funds in %s",
		                             "acct-1");
	case REJECT_BARE:
		return CAIRN_REJECTED;
	case REJECT_THEN_OK:
		cairn_decision_reject(d, "changed my mind");
		return CAIRN_OK;
	case FAIL:
		return c->fail_with;
	case WRITE_BAD_TYPE:
		ev.type = "";
		c->append_rc = cairn_decision_append(d, c->writes[0], &ev);
		return CAIRN_OK;
	case WRITE_COPY:
		return handle_copy(d);
	}
	return CAIRN_OK;
}

static void
on_retry(void *ctx, const char *stream, unsigned attempt, uint32_t delay_us)
{
	struct cmd *c = ctx;

	assert_true(c->nretries < MAX_LOG);
	snprintf(c->retry_stream[c->nretries], NAME_MAX_LEN, "%s", stream);
	c->retry_attempt[c->nretries] = attempt;
	c->retry_delay[c->nretries] = delay_us;
	c->nretries++;
}

/* A fixed policy with no jitter, reporting to c. */
static cairn_retry_policy
policy_for(struct cmd *c, unsigned max_retries)
{
	cairn_retry_policy pol;

	cairn_retry_policy_init(&pol);
	pol.max_retries = max_retries;
	pol.backoff = CAIRN_BACKOFF_FIXED;
	pol.base_delay_us = 250;
	pol.jitter = 0;
	pol.on_retry = on_retry;
	pol.on_retry_ctx = c;
	return pol;
}

/* Run the command on w: declared streams, policy; the DONE step. */
static const cairn__step *
run(struct world *w, struct cmd *c, const char *const *streams, size_t n,
    const cairn_retry_policy *pol, cairn_exec_result *res, cairn__pipeline **p)
{
	cairn_command cmd = {
	        .ctx = c,
	        .streams = streams,
	        .nstreams = n,
	        .reset = cmd_reset,
	        .apply = cmd_apply,
	        .discover = c->discovers ? cmd_discover : NULL,
	        .handle = cmd_handle,
	};

	assert_int_equal(cairn__pipeline_new(&cmd, pol, 42,
	                                     CAIRN_DEFAULT_MAX_EVENT_SIZE, res,
	                                     p),
	                 CAIRN_OK);
	return drive(w, *p);
}

/* ---- the tests ---- */

static void
success_first_time(void **state)
{
	static const char *const streams[] = {"acct-1", "acct-2"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 3);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	world_add(&w, "acct-1", "Opened", NULL);
	world_add(&w, "acct-1", "Deposited", NULL);
	c.mode = WRITE;
	c.writes[0] = "acct-1";
	c.nwrites = 1;
	s = run(&w, &c, streams, 2, &pol, &res, &p);

	assert_int_equal(s->status, CAIRN_OK);
	assert_null(s->message);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(res.nevents, 1);
	assert_int_equal(res.append.first_position, 100);
	assert_int_equal(res.append.version, 3);
	/* both read once, in order, folded one event at a time */
	assert_int_equal(w.nreads, 2);
	assert_string_equal(w.reads[0], "acct-1");
	assert_string_equal(w.reads[1], "acct-2");
	assert_int_equal(c.applies, 2);
	assert_int_equal(c.resets, 1);
	assert_int_equal(c.handles, 1);
	/* the write expects what was read; the unwritten stream is checked */
	assert_int_equal(w.appends, 1);
	assert_int_equal(w.nwrites, 1);
	assert_string_equal(w.w_stream[0], "acct-1");
	assert_int_equal(w.w_expected[0], 2);
	assert_int_equal(w.w_nevents[0], 1);
	assert_string_equal(w.w_type0[0], "Done");
	assert_int_equal(w.nchecks, 1);
	assert_string_equal(w.c_stream[0], "acct-2");
	assert_int_equal(w.c_expected[0], CAIRN_NO_STREAM);
	assert_int_equal(w.nsleeps, 0);
	assert_int_equal(c.nretries, 0);
	cairn__pipeline_free(p);
}

/* Writes come in the order of each stream's first event, several events
 * per stream in the order given, whatever the reading order. */
static void
writes_in_decision_order(void **state)
{
	static const char *const streams[] = {"a", "b", "c"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 0);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	world_add(&w, "b", "X", NULL);
	c.mode = WRITE;
	c.writes[0] = "c";
	c.writes[1] = "b";
	c.writes[2] = "c";
	c.nwrites = 3;
	s = run(&w, &c, streams, 3, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_OK);
	assert_int_equal(res.nevents, 3);
	assert_int_equal(w.nwrites, 2);
	assert_string_equal(w.w_stream[0], "c");
	assert_int_equal(w.w_nevents[0], 2);
	assert_int_equal(w.w_expected[0], 0);
	assert_string_equal(w.w_stream[1], "b");
	assert_int_equal(w.w_expected[1], 1);
	assert_int_equal(w.nchecks, 1);
	assert_string_equal(w.c_stream[0], "a");
	cairn__pipeline_free(p);
}

static void
conflict_then_success(void **state)
{
	static const char *const streams[] = {"acct-1"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 3);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	world_add(&w, "acct-1", "Opened", NULL);
	w.outcomes[0] = CAIRN_CONFLICT;
	w.noutcomes = 1;
	w.grows = "acct-1"; /* someone else wrote meanwhile */
	c.mode = WRITE;
	c.writes[0] = "acct-1";
	c.nwrites = 1;
	s = run(&w, &c, streams, 1, &pol, &res, &p);

	assert_int_equal(s->status, CAIRN_OK);
	assert_int_equal(res.attempts, 2);
	assert_int_equal(w.appends, 2);
	/* the hook saw the stream, the attempt about to start, the delay */
	assert_int_equal(c.nretries, 1);
	assert_string_equal(c.retry_stream[0], "acct-1");
	assert_int_equal(c.retry_attempt[0], 2);
	assert_int_equal(c.retry_delay[0], 250);
	assert_int_equal(w.nsleeps, 1);
	assert_int_equal(w.sleeps[0], 250);
	/* a fresh state: reset before each attempt, the stream read again
	 * with its new event, and only this attempt's events in the state */
	assert_int_equal(c.resets, 2);
	assert_int_equal(w.nreads, 2);
	assert_int_equal(c.applies, 1 + 2);
	assert_int_equal(c.applied, 2);
	assert_int_equal(w.w_expected[0], 2);
	cairn__pipeline_free(p);
}

static void
retries_exhausted(void **state)
{
	static const char *const streams[] = {"acct-1", "acct-2"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 2);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;
	size_t i;

	(void)state;
	for (i = 0; i < MAX_LOG; i++)
		w.outcomes[i] = CAIRN_CONFLICT;
	w.noutcomes = MAX_LOG;
	c.mode = WRITE;
	c.writes[0] = "acct-2";
	c.nwrites = 1;
	s = run(&w, &c, streams, 2, &pol, &res, &p);

	assert_int_equal(s->status, CAIRN_RETRIES_EXHAUSTED);
	assert_non_null(s->message);
	assert_contains(s->message, "3 attempts");
	assert_contains(s->message, "'acct-2'");
	assert_int_equal(res.attempts, 3);
	assert_int_equal(w.appends, 3);
	assert_int_equal(c.nretries, 2);
	assert_int_equal(c.retry_attempt[0], 2);
	assert_int_equal(c.retry_attempt[1], 3);
	assert_int_equal(w.nsleeps, 2);
	/* the last conflict is left in the result */
	assert_string_equal(res.append.conflict_stream, "acct-2");
	cairn__pipeline_free(p);
}

/* A conflict on a stream the command never read (an event id it reuses
 * from elsewhere) cannot go away by re-reading: no retry. */
static void
conflict_on_unread_stream_not_retried(void **state)
{
	static const char *const streams[] = {"acct-1", "acct-2"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 5);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;
	size_t i;

	(void)state;
	for (i = 0; i < MAX_LOG; i++)
		w.outcomes[i] = CAIRN_CONFLICT;
	w.noutcomes = MAX_LOG;
	w.conflict_elsewhere = "other-9";
	c.mode = WRITE;
	c.writes[0] = "acct-2";
	c.nwrites = 1;
	s = run(&w, &c, streams, 2, &pol, &res, &p);

	assert_int_equal(s->status, CAIRN_CONFLICT);
	assert_non_null(s->message);
	assert_contains(s->message, "'other-9'");
	assert_int_equal(res.attempts, 1);
	assert_int_equal(w.appends, 1);
	assert_int_equal(c.nretries, 0);
	assert_int_equal(w.nsleeps, 0);
	cairn__pipeline_free(p);
}

static void
no_retries_at_all(void **state)
{
	static const char *const streams[] = {"s"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 0);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	w.outcomes[0] = CAIRN_CONFLICT;
	w.noutcomes = 1;
	c.mode = WRITE;
	c.writes[0] = "s";
	c.nwrites = 1;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_RETRIES_EXHAUSTED);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(c.nretries, 0);
	assert_int_equal(w.nsleeps, 0);
	cairn__pipeline_free(p);
}

static void
rejection_never_retried(void **state)
{
	static const char *const streams[] = {"acct-1"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 5);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	c.mode = REJECT;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_REJECTED);
	assert_string_equal(res.message, "insufficient funds in acct-1");
	assert_string_equal(s->message, "insufficient funds in acct-1");
	assert_int_equal(res.attempts, 1);
	assert_int_equal(c.handles, 1);
	assert_int_equal(w.appends, 0);
	assert_int_equal(c.nretries, 0);
	cairn__pipeline_free(p);

	/* CAIRN_REJECTED without a message gets a plain one */
	memset(&c, 0, sizeof(c));
	memset(&w, 0, sizeof(w));
	c.mode = REJECT_BARE;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_REJECTED);
	assert_string_equal(res.message, "the command was rejected");
	cairn__pipeline_free(p);

	/* a rejection stands even when handle() then returns CAIRN_OK */
	memset(&c, 0, sizeof(c));
	memset(&w, 0, sizeof(w));
	c.mode = REJECT_THEN_OK;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_REJECTED);
	assert_string_equal(res.message, "changed my mind");
	assert_int_equal(w.appends, 0);
	cairn__pipeline_free(p);
}

static void
nothing_to_write(void **state)
{
	static const char *const streams[] = {"a", "b"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 5);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	world_add(&w, "a", "X", NULL);
	c.mode = WRITE_NONE;
	s = run(&w, &c, streams, 2, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_OK);
	assert_null(s->message);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(res.nevents, 0);
	assert_int_equal(res.append.first_position, 0);
	assert_int_equal(w.appends, 0);
	assert_int_equal(w.nreads, 2);
	cairn__pipeline_free(p);
}

/*
 * root links c1, c2, c1; c1 links g1 and back to root; c2 links g2 and
 * c1.  Breadth-first: root, c1, c2, g1, g2, each once, declared repeats
 * and discovered repeats alike ignored.
 */
static void
discovery_breadth_first(void **state)
{
	static const char *const streams[] = {"root", "root"};
	static const char *const order[] = {"root", "c1", "c2", "g1", "g2"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 0);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;
	size_t i;

	(void)state;
	world_add(&w, "root", "link", "c1");
	world_add(&w, "root", "link", "c2");
	world_add(&w, "root", "link", "c1");
	world_add(&w, "c1", "link", "g1");
	world_add(&w, "c1", "link", "root");
	world_add(&w, "c2", "link", "g2");
	world_add(&w, "c2", "link", "c1");
	world_add(&w, "g1", "Leaf", NULL);
	c.discovers = true;
	c.mode = WRITE;
	c.writes[0] = "g2"; /* a discovered stream may be written */
	c.nwrites = 1;
	s = run(&w, &c, streams, 2, &pol, &res, &p);

	assert_int_equal(s->status, CAIRN_OK);
	assert_int_equal(w.nreads, 5);
	for (i = 0; i < 5; i++)
		assert_string_equal(w.reads[i], order[i]);
	assert_int_equal(c.discovers_called, 5);
	assert_int_equal(c.applies, 8);
	/* every stream read and not written is checked, in reading order,
	 * at the version read */
	assert_string_equal(w.w_stream[0], "g2");
	assert_int_equal(w.w_expected[0], 0);
	assert_int_equal(w.nchecks, 4);
	for (i = 0; i < 4; i++)
		assert_string_equal(w.c_stream[i], order[i]);
	assert_int_equal(w.c_expected[0], 3);
	assert_int_equal(w.c_expected[1], 2);
	assert_int_equal(w.c_expected[2], 2);
	assert_int_equal(w.c_expected[3], 1);
	cairn__pipeline_free(p);
}

/* Discovery is redone from scratch on a retry. */
static void
discovery_again_after_retry(void **state)
{
	static const char *const streams[] = {"root"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 1);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	world_add(&w, "root", "link", "child");
	w.outcomes[0] = CAIRN_CONFLICT;
	w.noutcomes = 1;
	c.discovers = true;
	c.mode = WRITE;
	c.writes[0] = "child";
	c.nwrites = 1;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_OK);
	assert_int_equal(w.nreads, 4);
	assert_string_equal(w.reads[2], "root");
	assert_string_equal(w.reads[3], "child");
	cairn__pipeline_free(p);
}

static void
read_error_mid_stream(void **state)
{
	static const char *const streams[] = {"a", "b"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 5);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	world_add(&w, "a", "X", NULL);
	world_add(&w, "b", "X", NULL);
	world_add(&w, "b", "X", NULL);
	world_add(&w, "b", "X", NULL);
	w.fail_stream = "b";
	w.fail_after = 1;
	w.fail_status = CAIRN_CORRUPT;
	c.mode = WRITE;
	c.writes[0] = "a";
	c.nwrites = 1;
	s = run(&w, &c, streams, 2, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_CORRUPT);
	assert_null(s->message); /* the store's sentence stands */
	assert_int_equal(c.applies, 2);
	assert_int_equal(c.handles, 0);
	assert_int_equal(w.appends, 0);
	assert_int_equal(res.attempts, 1);
	cairn__pipeline_free(p);
}

static void
apply_error_stops_the_read(void **state)
{
	static const char *const streams[] = {"a"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 5);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	world_add(&w, "a", "X", NULL);
	world_add(&w, "a", "X", NULL);
	world_add(&w, "a", "X", NULL);
	c.failing = "apply";
	c.fail_at = 2;
	c.fail_with = CAIRN_NOMEM;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_NOMEM);
	assert_contains(s->message, "apply()");
	assert_contains(s->message, "version 2 of stream 'a'");
	assert_int_equal(c.applies, 2); /* the third is never fed */
	assert_int_equal(c.handles, 0);
	cairn__pipeline_free(p);
}

/* Any other status from a callback ends the run with that status. */
static void
callback_errors(void **state)
{
	static const char *const streams[] = {"a"};
	static const struct {
		const char *failing;
		const char *says;
	} cases[] = {
	        {"reset", "reset()"},
	        {"discover", "discover()"},
	        {"handle", "handle()"},
	};
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct world w = {0};
		struct cmd c = {0};
		cairn_retry_policy pol = policy_for(&c, 5);

		world_add(&w, "a", "X", NULL);
		c.failing = cases[i].failing;
		c.fail_with = CAIRN_TIMEOUT;
		c.discovers = true;
		c.mode = strcmp(cases[i].failing, "handle") == 0 ? FAIL : WRITE;
		c.writes[0] = "a";
		c.nwrites = 1;
		s = run(&w, &c, streams, 1, &pol, &res, &p);
		assert_int_equal(s->status, CAIRN_TIMEOUT);
		assert_contains(s->message, cases[i].says);
		assert_int_equal(w.appends, 0);
		assert_int_equal(c.nretries, 0);
		cairn__pipeline_free(p);
	}
}

/* An append error other than a conflict is final and keeps the store's
 * sentence. */
static void
append_error_not_retried(void **state)
{
	static const char *const streams[] = {"a"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 5);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	w.outcomes[0] = CAIRN_IO;
	w.noutcomes = 1;
	c.mode = WRITE;
	c.writes[0] = "a";
	c.nwrites = 1;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	assert_int_equal(s->status, CAIRN_IO);
	assert_null(s->message);
	assert_int_equal(w.appends, 1);
	assert_int_equal(c.nretries, 0);
	assert_int_equal(res.nevents, 0);
	cairn__pipeline_free(p);
}

static void
write_to_unread_stream_refused(void **state)
{
	static const char *const streams[] = {"a"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 5);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	c.mode = WRITE;
	c.writes[0] = "a";
	c.writes[1] = "elsewhere";
	c.nwrites = 2;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	/* refused at once, and again at the end though handle() went on */
	assert_int_equal(c.append_rc, CAIRN_INVALID);
	assert_int_equal(s->status, CAIRN_INVALID);
	assert_contains(s->message, "'elsewhere' was not read");
	assert_int_equal(w.appends, 0);
	assert_int_equal(c.nretries, 0);
	cairn__pipeline_free(p);
}

/* A failed cairn_decision_append() that handle() ignores still fails
 * the command: nothing half-decided is written. */
static void
ignored_decision_failure_is_sticky(void **state)
{
	static const char *const streams[] = {"a"};
	struct world w = {0};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 5);
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;

	(void)state;
	c.mode = WRITE_BAD_TYPE;
	c.writes[0] = "a";
	c.nwrites = 1;
	s = run(&w, &c, streams, 1, &pol, &res, &p);
	assert_int_equal(c.append_rc, CAIRN_INVALID_TYPE);
	assert_int_equal(s->status, CAIRN_INVALID_TYPE);
	assert_contains(s->message, "type");
	assert_int_equal(w.appends, 0);
	cairn__pipeline_free(p);
}

/* The decision keeps copies: the caller's event may die at once (the
 * WRITE_COPY handle() scribbles over its buffers after appending). */
static void
decision_copies_events(void **state)
{
	static const char *const streams[] = {"a"};
	struct cmd c = {0};
	cairn_retry_policy pol = policy_for(&c, 0);
	cairn_command cmd = {
	        .ctx = &c,
	        .streams = streams,
	        .nstreams = 1,
	        .reset = cmd_reset,
	        .apply = cmd_apply,
	        .discover = NULL,
	        .handle = cmd_handle,
	};
	cairn_exec_result res;
	const cairn__step *s;
	cairn__pipeline *p;
	const cairn_new_event *ev;

	(void)state;
	c.mode = WRITE_COPY;
	assert_int_equal(cairn__pipeline_new(&cmd, &pol, 1,
	                                     CAIRN_DEFAULT_MAX_EVENT_SIZE, &res,
	                                     &p),
	                 CAIRN_OK);
	s = cairn__pipeline_start(p);
	assert_int_equal(s->effect, CAIRN__STEP_READ);
	s = cairn__pipeline_read_done(p, CAIRN_OK, 0);
	assert_int_equal(s->effect, CAIRN__STEP_APPEND);
	assert_int_equal(s->nwrites, 1);
	assert_int_equal(s->writes[0].nevents, 2);
	ev = &s->writes[0].events[0];
	assert_string_equal(ev->type, "Typed");
	assert_int_equal(ev->data_len, 7);
	assert_memory_equal(ev->data, "{\"x\":1}", 7);
	assert_int_equal(ev->metadata_len, 1);
	assert_memory_equal(ev->metadata, "m", 1);
	assert_int_equal(ev->ntags, 2);
	assert_string_equal(ev->tags[0], "t:1");
	assert_string_equal(ev->tags[1], "t:2");
	assert_non_null(ev->id);
	assert_int_equal(ev->id->bytes[15], 7);
	/* an event without payload, tags or id stays without them */
	ev = &s->writes[0].events[1];
	assert_string_equal(ev->type, "Bare");
	assert_null(ev->data);
	assert_null(ev->metadata);
	assert_null(ev->tags);
	assert_null(ev->id);
	cairn__pipeline_free(p);
}

/* ---- backoff ---- */

static void
backoff_fixed_and_exponential(void **state)
{
	cairn_retry_policy pol;
	unsigned k;

	(void)state;
	cairn_retry_policy_init(&pol);
	pol.jitter = 0;
	pol.base_delay_us = 1000;
	pol.max_delay_us = 100000;

	pol.backoff = CAIRN_BACKOFF_FIXED;
	for (k = 1; k < 40; k++)
		assert_int_equal(cairn__backoff_delay(&pol, k, 0.0), 1000);

	pol.backoff = CAIRN_BACKOFF_EXPONENTIAL;
	assert_int_equal(cairn__backoff_delay(&pol, 1, 0.0), 1000);
	assert_int_equal(cairn__backoff_delay(&pol, 2, 0.0), 2000);
	assert_int_equal(cairn__backoff_delay(&pol, 3, 0.0), 4000);
	assert_int_equal(cairn__backoff_delay(&pol, 7, 0.0), 64000);
	/* capped, and no overflow however many attempts */
	assert_int_equal(cairn__backoff_delay(&pol, 8, 0.0), 100000);
	assert_int_equal(cairn__backoff_delay(&pol, 33, 0.0), 100000);
	assert_int_equal(cairn__backoff_delay(&pol, 64, 0.0), 100000);
	assert_int_equal(cairn__backoff_delay(&pol, 4000000000u, 0.0), 100000);
	pol.base_delay_us = UINT32_MAX;
	pol.max_delay_us = UINT32_MAX;
	assert_int_equal(cairn__backoff_delay(&pol, 31, 0.0), UINT32_MAX);

	/* the cap applies to a fixed delay too */
	pol.backoff = CAIRN_BACKOFF_FIXED;
	pol.base_delay_us = 5000;
	pol.max_delay_us = 300;
	assert_int_equal(cairn__backoff_delay(&pol, 1, 0.0), 300);
	pol.base_delay_us = 0;
	assert_int_equal(cairn__backoff_delay(&pol, 9, 0.0), 0);
}

static void
backoff_jitter_bounds(void **state)
{
	cairn_retry_policy pol;
	double u;

	(void)state;
	cairn_retry_policy_init(&pol);
	pol.backoff = CAIRN_BACKOFF_FIXED;
	pol.base_delay_us = 10000;
	pol.max_delay_us = 10000;
	pol.jitter = 0.5;
	/* factor 1 - jitter * u, u in [0, 1): (5000, 10000] */
	assert_int_equal(cairn__backoff_delay(&pol, 1, 0.0), 10000);
	assert_in_range(cairn__backoff_delay(&pol, 1, 0.999999), 5000, 5001);
	for (u = 0.0; u < 1.0; u += 0.01) {
		uint32_t d = cairn__backoff_delay(&pol, 1, u);
		assert_in_range(d, 5000, 10000);
	}
	pol.jitter = 1.0;
	assert_in_range(cairn__backoff_delay(&pol, 1, 0.999999), 0, 1);
	/* after the cap: jitter scales the capped delay */
	pol.backoff = CAIRN_BACKOFF_EXPONENTIAL;
	pol.base_delay_us = 1000;
	pol.max_delay_us = 3000;
	pol.jitter = 0.25;
	assert_int_equal(cairn__backoff_delay(&pol, 5, 0.0), 3000);
	assert_int_equal(cairn__backoff_delay(&pol, 5, 0.5), 2625);
}

/* The pipeline draws u from its seed: delays stay within the bounds, the
 * same seed gives the same delays, and the hook sees what is slept. */
static void
pipeline_jitter(void **state)
{
	static const char *const streams[] = {"s"};
	uint32_t first[MAX_LOG];
	size_t run_i, i, n = 0;

	(void)state;
	for (run_i = 0; run_i < 2; run_i++) {
		struct world w = {0};
		struct cmd c = {0};
		cairn_retry_policy pol = policy_for(&c, 20);
		cairn_command cmd = {
		        .ctx = &c,
		        .streams = streams,
		        .nstreams = 1,
		        .reset = cmd_reset,
		        .apply = cmd_apply,
		        .discover = NULL,
		        .handle = cmd_handle,
		};
		cairn_exec_result res;
		const cairn__step *s;
		cairn__pipeline *p;
		uint32_t lo_seen = UINT32_MAX, hi_seen = 0;

		for (i = 0; i < MAX_LOG; i++)
			w.outcomes[i] = CAIRN_CONFLICT;
		w.noutcomes = MAX_LOG;
		pol.backoff = CAIRN_BACKOFF_EXPONENTIAL;
		pol.base_delay_us = 100;
		pol.max_delay_us = 1600;
		pol.jitter = 0.5;
		c.mode = WRITE;
		c.writes[0] = "s";
		c.nwrites = 1;
		assert_int_equal(
		        cairn__pipeline_new(&cmd, &pol, 1234,
		                            CAIRN_DEFAULT_MAX_EVENT_SIZE, &res,
		                            &p),
		        CAIRN_OK);
		s = drive(&w, p);
		assert_int_equal(s->status, CAIRN_RETRIES_EXHAUSTED);
		assert_int_equal(w.nsleeps, 20);
		for (i = 0; i < w.nsleeps; i++) {
			uint32_t full = 100u << (i < 4 ? i : 4);

			assert_in_range(w.sleeps[i], full / 2, full);
			assert_int_equal(c.retry_delay[i], w.sleeps[i]);
			if (i >= 4) {
				lo_seen = w.sleeps[i] < lo_seen ? w.sleeps[i]
				                                : lo_seen;
				hi_seen = w.sleeps[i] > hi_seen ? w.sleeps[i]
				                                : hi_seen;
			}
			if (run_i == 0)
				first[n++] = w.sleeps[i];
			else
				assert_int_equal(w.sleeps[i], first[i]);
		}
		/* 16 draws at the cap are not all alike */
		assert_true(hi_seen > lo_seen);
		cairn__pipeline_free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(success_first_time),
	        cmocka_unit_test(writes_in_decision_order),
	        cmocka_unit_test(conflict_then_success),
	        cmocka_unit_test(retries_exhausted),
	        cmocka_unit_test(conflict_on_unread_stream_not_retried),
	        cmocka_unit_test(no_retries_at_all),
	        cmocka_unit_test(rejection_never_retried),
	        cmocka_unit_test(nothing_to_write),
	        cmocka_unit_test(discovery_breadth_first),
	        cmocka_unit_test(discovery_again_after_retry),
	        cmocka_unit_test(read_error_mid_stream),
	        cmocka_unit_test(apply_error_stops_the_read),
	        cmocka_unit_test(callback_errors),
	        cmocka_unit_test(append_error_not_retried),
	        cmocka_unit_test(write_to_unread_stream_refused),
	        cmocka_unit_test(ignored_decision_failure_is_sticky),
	        cmocka_unit_test(decision_copies_events),
	        cmocka_unit_test(backoff_fixed_and_exponential),
	        cmocka_unit_test(backoff_jitter_bounds),
	        cmocka_unit_test(pipeline_jitter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
