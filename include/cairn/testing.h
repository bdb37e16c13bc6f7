/*
 * cairn/testing.h -- given / when / then tests of commands.
 *
 * A command's behaviour is a function of the events already stored: given
 * these events, when this command runs, then it writes these events (or it
 * is rejected with this message).  cairn_test_given_when_then() runs that
 * scenario against a fresh in-memory store and tells you, in a report
 * meant for a test log, what differed:
 *
 *     static const cairn_given_event given[] = {
 *         {"account-1", {.type = "Opened", .data = "{}", .data_len = 2}},
 *         {"account-1", {.type = "Deposited",
 *                        .data = "{\"amount\":10}", .data_len = 13}},
 *     };
 *     static const cairn_expected_event then[] = {
 *         {.stream = "account-1", .type = "Withdrawn",
 *          .data = "{\"amount\":5}", .data_len = 12},
 *         {.stream = "account-2", .type = "Deposited",
 *          .data = "{\"amount\":5}", .data_len = 12},
 *     };
 *     char report[2048];
 *     struct transfer t = {"account-1", "account-2", 5};
 *     cairn_command cmd = transfer_command(&t);
 *
 *     // then: these two events
 *     if (cairn_test_given_when_then(given, 2, &cmd, then, 2, NULL,
 *                                    report, sizeof(report))
 *         != CAIRN_TEST_PASS)
 *         fail_msg("%s", report);
 *
 *     // then: rejected (nthen is 0 when a rejection is expected)
 *     t.amount = 500;
 *     if (cairn_test_given_when_then(given, 2, &cmd, NULL, 0,
 *                                    "insufficient funds", report,
 *                                    sizeof(report))
 *         != CAIRN_TEST_PASS)
 *         fail_msg("%s", report);
 *
 * A failing scenario's report reads:
 *
 *     expected 2 events, got 1
 *     (- expected, + actual)
 *       #1 account-1 Withdrawn {"amount":5}
 *     - #2 account-2 Deposited {"amount":5}
 *
 * Thread safety: the function uses nothing but its own store; any number
 * of scenarios may run at once in different threads (the command's
 * callbacks permitting).
 */
#ifndef CAIRN_TESTING_H
#define CAIRN_TESTING_H

#include "cairn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One event the store holds before the command runs, appended to stream
 * as event says (an id given there is kept, so a scenario can also check
 * what a command does with events it has seen before). */
typedef struct cairn_given_event {
	const char *stream;
	cairn_new_event event;
} cairn_given_event;

/* One event the command must write.  stream, type and data are always
 * compared (data byte for byte: data_len 0 means the event must have no
 * data).  metadata is compared only when it is not NULL (then byte for
 * byte, metadata_len bytes), tags only when tags is not NULL (then as a
 * set: the same ntags tags, in any order).  Ids, versions, positions and
 * times are the store's and never compared. */
typedef struct cairn_expected_event {
	const char *stream;
	const char *type;
	const void *data;
	size_t data_len;
	const void *metadata;
	size_t metadata_len;
	const char *const *tags;
	size_t ntags;
} cairn_expected_event;

/* What a scenario came to. */
typedef enum cairn_test_outcome {
	/* The command did what the scenario says. */
	CAIRN_TEST_PASS = 0,
	/* It did something else: written events that differ, a rejection
	 * not expected, one expected but not made, or an execution error
	 * (the report names it). */
	CAIRN_TEST_FAIL = 1,
	/* The scenario could not be run: bad arguments, a given event the
	 * store refused, out of memory.  The report (and
	 * cairn_last_error()) says why; the command was not judged. */
	CAIRN_TEST_ERROR = 2
} cairn_test_outcome;

/* Bytes of data or metadata a report shows of one event before it cuts
 * the rest short (saying how long it was). */
#define CAIRN_TEST_SHOW_MAX 200

/*
 * Run one scenario:
 *
 *  1. open a fresh "memory:" store and append the ngiven events of
 *     given, one append per event, in order (expected version ANY);
 *  2. wrap the store in a tracking store (cairn_tracking_open()) and run
 *     cairn_execute() of when on it once: a retry policy of 0 retries,
 *     so a conflict is reported, never hidden by a retry;
 *  3. compare what the tracking store recorded -- the events the command
 *     wrote, in order -- with the nthen events of then; or, when
 *     rejection is not NULL, check that the command was rejected with a
 *     message that contains rejection as a substring (pass the whole
 *     message for an exact check, "" to accept any rejection).
 *
 * given may be NULL when ngiven is 0, then NULL when nthen is 0.  nthen
 * must be 0 when a rejection is expected (a rejected command writes
 * nothing).
 *
 * report (report_size bytes, may be NULL when report_size is 0) receives
 * "" on a pass, and otherwise a NUL-terminated report, cut short to fit:
 * a first line saying what differed ("expected 2 events, got 1", "expected
 * a rejection containing \"x\", got 2 events", "expected 1 event, got the
 * rejection \"y\"", "execution failed: ..."), then one line per event,
 * "- " for an expected event the command did not write, "+ " for a
 * written event not expected and "  " for one both agree on, each as
 * "#N stream type data", data as text when it is printable UTF-8 (\n, \r,
 * \t and \\ escaped), else as hex.
 *
 * Returns CAIRN_TEST_PASS, CAIRN_TEST_FAIL or CAIRN_TEST_ERROR (above).
 * The store lives only during the call.  Thread-safe.
 */
CAIRN_API cairn_test_outcome cairn_test_given_when_then(
        const cairn_given_event *given, size_t ngiven,
        const cairn_command *when, const cairn_expected_event *then,
        size_t nthen, const char *rejection, char *report, size_t report_size);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_TESTING_H */
