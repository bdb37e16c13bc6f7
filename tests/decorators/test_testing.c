/*
 * test_testing.c -- cairn/testing.h: given / when / then scenarios pass
 * when the command does what they say, and otherwise fail with a report
 * that shows the difference.
 *
 * The command under test moves an amount between two accounts; an
 * event's data is the amount as decimal text.
 */
#include "deco.h"

#include "cairn/testing.h"

#include <stdlib.h>

typedef struct transfer {
	const char *from, *to;
	long amount;
	long balance[2];     /* of from and to, as folded */
	int write_elsewhere; /* a broken command: writes an unread stream */
	int binary;          /* write binary data, metadata and tags */
	char text[32];
} transfer;

static cairn_status
transfer_reset(void *ctx)
{
	transfer *t = ctx;

	t->balance[0] = t->balance[1] = 0;
	return CAIRN_OK;
}

static cairn_status
transfer_apply(void *ctx, const cairn_event *e)
{
	transfer *t = ctx;
	char num[32];
	long amount;
	int who = strcmp(e->stream, t->from) == 0 ? 0 : 1;

	if (e->data_len >= sizeof(num))
		return CAIRN_CORRUPT;
	memcpy(num, e->data, e->data_len);
	num[e->data_len] = '\0';
	amount = strtol(num, NULL, 10);
	if (strcmp(e->type, "Deposited") == 0)
		t->balance[who] += amount;
	else if (strcmp(e->type, "Withdrawn") == 0)
		t->balance[who] -= amount;
	return CAIRN_OK;
}

static cairn_status
transfer_handle(void *ctx, cairn_decision *d)
{
	static const char *const tags[] = {"money", "audit"};
	static const unsigned char blob[] = {0x00, 0xff, 0x10};
	transfer *t = ctx;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_status rc;

	if (t->balance[0] < t->amount)
		return cairn_decision_reject(d, "insufficient funds in %s",
		                             t->from);
	snprintf(t->text, sizeof(t->text), "%ld", t->amount);
	ev.type = "Withdrawn";
	ev.data = t->text;
	ev.data_len = strlen(t->text);
	if (t->binary) {
		ev.data = blob;
		ev.data_len = sizeof(blob);
		ev.metadata = "{\"by\":\"test\"}";
		ev.metadata_len = strlen(ev.metadata);
		ev.tags = tags;
		ev.ntags = 2;
	}
	rc = cairn_decision_append(d, t->from, &ev);
	if (rc != CAIRN_OK)
		return rc;
	ev = deco_ev("Deposited", t->text);
	return cairn_decision_append(
	        d, t->write_elsewhere ? "elsewhere" : t->to, &ev);
}

typedef struct scenario {
	transfer t;
	const char *streams[2];
	cairn_command cmd;
	char report[4096];
} scenario;

static void
scenario_init(scenario *s, long amount)
{
	memset(s, 0, sizeof(*s));
	s->t.from = "account-1";
	s->t.to = "account-2";
	s->t.amount = amount;
	s->streams[0] = s->t.from;
	s->streams[1] = s->t.to;
	s->cmd.ctx = &s->t;
	s->cmd.streams = s->streams;
	s->cmd.nstreams = 2;
	s->cmd.reset = transfer_reset;
	s->cmd.apply = transfer_apply;
	s->cmd.handle = transfer_handle;
}

/* account-1 holds 10 (deposited 15, withdrew 5); account-2 is empty. */
static const cairn_given_event given[] = {
        {"account-1", {"Deposited", "15", 2, NULL, 0, NULL, 0, NULL}},
        {"account-1", {"Withdrawn", "5", 1, NULL, 0, NULL, 0, NULL}},
        {"account-3", {"Deposited", "99", 2, NULL, 0, NULL, 0, NULL}},
};
#define NGIVEN (sizeof(given) / sizeof(given[0]))

static const cairn_expected_event moved_5[] = {
        {"account-1", "Withdrawn", "5", 1, NULL, 0, NULL, 0},
        {"account-2", "Deposited", "5", 1, NULL, 0, NULL, 0},
};

static cairn_test_outcome
run(scenario *s, const cairn_expected_event *then, size_t nthen,
    const char *rejection)
{
	return cairn_test_given_when_then(given, NGIVEN, &s->cmd, then, nthen,
	                                  rejection, s->report,
	                                  sizeof(s->report));
}

static void
test_passing_scenario(void **state)
{
	scenario s;

	(void)state;
	scenario_init(&s, 5);
	assert_int_equal(run(&s, moved_5, 2, NULL), CAIRN_TEST_PASS);
	assert_string_equal(s.report, "");
	/* no history: nothing to withdraw; no report buffer */
	scenario_init(&s, 1);
	assert_int_equal(cairn_test_given_when_then(NULL, 0, &s.cmd, NULL, 0,
	                                            "insufficient", NULL, 0),
	                 CAIRN_TEST_PASS);
}

static void
test_failing_scenario_reports_diff(void **state)
{
	static const cairn_expected_event moved_6[] = {
	        {"account-1", "Withdrawn", "6", 1, NULL, 0, NULL, 0},
	        {"account-2", "Deposited", "5", 1, NULL, 0, NULL, 0},
	};
	scenario s;

	(void)state;
	scenario_init(&s, 5);
	assert_int_equal(run(&s, moved_6, 2, NULL), CAIRN_TEST_FAIL);
	assert_string_equal(s.report,
	                    "expected 2 events, got 2; event #1 differs\n"
	                    "(- expected, + actual)\n"
	                    "- #1 account-1 Withdrawn 6\n"
	                    "+ #1 account-1 Withdrawn 5\n"
	                    "  #2 account-2 Deposited 5\n");

	/* one event fewer expected than written */
	assert_int_equal(run(&s, moved_5, 1, NULL), CAIRN_TEST_FAIL);
	assert_string_equal(s.report, "expected 1 event, got 2\n"
	                              "(- expected, + actual)\n"
	                              "  #1 account-1 Withdrawn 5\n"
	                              "+ #2 account-2 Deposited 5\n");
}

static void
test_expected_rejection_happens(void **state)
{
	scenario s;

	(void)state;
	scenario_init(&s, 500);
	assert_int_equal(run(&s, NULL, 0, "insufficient funds"),
	                 CAIRN_TEST_PASS);
	assert_string_equal(s.report, "");
	assert_int_equal(run(&s, NULL, 0, "insufficient funds in account-1"),
	                 CAIRN_TEST_PASS);
	assert_int_equal(run(&s, NULL, 0, ""), CAIRN_TEST_PASS);
	/* rejected, but not for the reason expected */
	assert_int_equal(run(&s, NULL, 0, "account closed"), CAIRN_TEST_FAIL);
	assert_string_equal(s.report,
	                    "expected a rejection containing \"account "
	                    "closed\", got the rejection \"insufficient funds "
	                    "in account-1\"\n");
}

static void
test_expected_rejection_missing(void **state)
{
	scenario s;

	(void)state;
	scenario_init(&s, 5);
	assert_int_equal(run(&s, NULL, 0, "insufficient funds"),
	                 CAIRN_TEST_FAIL);
	assert_string_equal(s.report,
	                    "expected a rejection containing \"insufficient "
	                    "funds\", got 2 events\n"
	                    "(- expected, + actual)\n"
	                    "+ #1 account-1 Withdrawn 5\n"
	                    "+ #2 account-2 Deposited 5\n");
}

static void
test_unexpected_rejection(void **state)
{
	scenario s;

	(void)state;
	scenario_init(&s, 11);
	assert_int_equal(run(&s, moved_5, 2, NULL), CAIRN_TEST_FAIL);
	assert_string_equal(s.report, "expected 2 events, got the rejection "
	                              "\"insufficient funds in account-1\"\n"
	                              "(- expected, + actual)\n"
	                              "- #1 account-1 Withdrawn 5\n"
	                              "- #2 account-2 Deposited 5\n");
}

/* Binary data shows as hex; metadata and tags are compared (tags as a
 * set) only when the expected event names them. */
static void
test_metadata_tags_and_hex(void **state)
{
	static const char *const tags[] = {"audit", "money"};
	static const char *const other_tags[] = {"money"};
	cairn_expected_event then[2] = {
	        {"account-1", "Withdrawn", "\x00\xff\x10", 3,
	         "{\"by\":\"test\"}", 13, tags, 2},
	        {"account-2", "Deposited", "5", 1, NULL, 0, NULL, 0},
	};
	scenario s;

	(void)state;
	scenario_init(&s, 5);
	s.t.binary = 1;
	assert_int_equal(run(&s, then, 2, NULL), CAIRN_TEST_PASS);
	then[0].tags = other_tags;
	then[0].ntags = 1;
	assert_int_equal(run(&s, then, 2, NULL), CAIRN_TEST_FAIL);
	assert_contains(s.report, "- #1 account-1 Withdrawn hex:00ff10 "
	                          "metadata {\"by\":\"test\"} tags [money]\n");
	assert_contains(s.report,
	                "+ #1 account-1 Withdrawn hex:00ff10 metadata "
	                "{\"by\":\"test\"} tags [money, audit]\n");
	then[0].tags = NULL;
	then[0].ntags = 0;
	then[0].metadata = "{}";
	then[0].metadata_len = 2;
	assert_int_equal(run(&s, then, 2, NULL), CAIRN_TEST_FAIL);
	assert_contains(s.report, "+ #1 account-1 Withdrawn hex:00ff10 "
	                          "metadata {\"by\":\"test\"}\n");
	then[0].metadata = NULL;
	then[0].metadata_len = 0;
	assert_int_equal(run(&s, then, 2, NULL), CAIRN_TEST_PASS);
}

/* An execution error is the command's failure, with the reason. */
static void
test_execution_error(void **state)
{
	scenario s;

	(void)state;
	scenario_init(&s, 5);
	s.t.write_elsewhere = 1;
	assert_int_equal(run(&s, moved_5, 2, NULL), CAIRN_TEST_FAIL);
	assert_contains(s.report, "execution failed: ");
	assert_contains(s.report, "elsewhere");
}

static void
test_setup_errors(void **state)
{
	static const cairn_given_event bad[] = {
	        {"account-1", {"", "1", 1, NULL, 0, NULL, 0, NULL}},
	};
	scenario s;

	(void)state;
	scenario_init(&s, 5);
	assert_int_equal(cairn_test_given_when_then(bad, 1, &s.cmd, moved_5, 2,
	                                            NULL, s.report,
	                                            sizeof(s.report)),
	                 CAIRN_TEST_ERROR);
	assert_contains(s.report, "setup failed: appending given event #1: ");
	assert_int_equal(cairn_test_given_when_then(given, NGIVEN, NULL,
	                                            moved_5, 2, NULL, s.report,
	                                            sizeof(s.report)),
	                 CAIRN_TEST_ERROR);
	assert_contains(s.report, "the command is NULL");
	assert_int_equal(run(&s, moved_5, 2, "insufficient"), CAIRN_TEST_ERROR);
	assert_contains(s.report, "a rejection is expected and 2 events");
	assert_int_equal(run(&s, NULL, 2, NULL), CAIRN_TEST_ERROR);
	assert_int_equal(cairn_test_given_when_then(NULL, 1, &s.cmd, NULL, 0,
	                                            NULL, s.report,
	                                            sizeof(s.report)),
	                 CAIRN_TEST_ERROR);
}

/* A report cut short fits its buffer, NUL-terminated. */
static void
test_small_report(void **state)
{
	static const cairn_expected_event none[1] = {
	        {"account-9", "Nothing", "", 0, NULL, 0, NULL, 0},
	};
	char buf[24];
	scenario s;

	(void)state;
	scenario_init(&s, 5);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(cairn_test_given_when_then(given, NGIVEN, &s.cmd, none,
	                                            1, NULL, buf, 16),
	                 CAIRN_TEST_FAIL);
	assert_int_equal(strlen(buf), 15);
	assert_memory_equal(buf, "expected 1 even", 15);
	assert_int_equal(buf[16], 'x');
	/* a full report of the same shows the empty data */
	assert_int_equal(run(&s, none, 1, NULL), CAIRN_TEST_FAIL);
	assert_contains(s.report, "- #1 account-9 Nothing (empty)\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_passing_scenario),
	        cmocka_unit_test(test_failing_scenario_reports_diff),
	        cmocka_unit_test(test_expected_rejection_happens),
	        cmocka_unit_test(test_expected_rejection_missing),
	        cmocka_unit_test(test_unexpected_rejection),
	        cmocka_unit_test(test_metadata_tags_and_hex),
	        cmocka_unit_test(test_execution_error),
	        cmocka_unit_test(test_setup_errors),
	        cmocka_unit_test(test_small_report),
	};

	return cmocka_run_group_tests_name("testing", tests, NULL, NULL);
}
