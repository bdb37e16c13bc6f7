/*
 * test_error.c -- src/core/error.c: status names and the thread-local
 * last-error record.
 */
#include "unit.h"

#include <pthread.h>

#define FIRST_STATUS CAIRN_OK
#define LAST_STATUS CAIRN_INVALID_TAG

static void
every_status_has_its_own_name(void **state)
{
	const char *names[LAST_STATUS + 1];
	int s, t;

	(void)state;
	for (s = FIRST_STATUS; s <= LAST_STATUS; s++) {
		names[s] = cairn_status_str((cairn_status)s);
		assert_non_null(names[s]);
		assert_true(names[s][0] != '\0');
		if (strcmp(names[s], "unknown") == 0)
			fail_msg("status %d has no name", s);
		for (t = FIRST_STATUS; t < s; t++)
			if (strcmp(names[s], names[t]) == 0)
				fail_msg("statuses %d and %d are both \"%s\"",
				         t, s, names[s]);
	}
	/* the documented example, and a few a user reads most */
	assert_string_equal(cairn_status_str(CAIRN_OK), "ok");
	assert_string_equal(cairn_status_str(CAIRN_ROW), "row");
	assert_string_equal(cairn_status_str(CAIRN_DONE), "done");
	assert_string_equal(cairn_status_str(CAIRN_CONFLICT), "conflict");
	assert_string_equal(cairn_status_str(CAIRN_NOT_FOUND), "not found");
	/* the numbering is the API: appended only, never renumbered */
	assert_int_equal(CAIRN_OK, 0);
	assert_int_equal(CAIRN_CONFLICT, 3);
	assert_int_equal(CAIRN_INVALID_TAG, 18);
}

static void
unknown_status(void **state)
{
	static const int unknown[] = {LAST_STATUS + 1, LAST_STATUS + 2, 100,
	                              1000000, -1, -100};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_string_equal(cairn_status_str((cairn_status)unknown[i]),
		                    "unknown");
}

static void
error_record_and_clear(void **state)
{
	char big[2048];

	(void)state;
	assert_int_equal(cairn__error(CAIRN_IO, 28, "disk %s at %d", "full",
	                              3),
	                 CAIRN_IO);
	assert_string_equal(cairn_last_error(), "disk full at 3");
	assert_int_equal(cairn_last_error_native(), 28);
	cairn__error_clear();
	assert_string_equal(cairn_last_error(), "");
	assert_int_equal(cairn_last_error_native(), 0);
	/* a sentence longer than the record is cut, not overflowed */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cairn__error(CAIRN_INVALID, 0, "%s", big);
	assert_true(strlen(cairn_last_error()) > 0);
	assert_true(strlen(cairn_last_error()) < sizeof(big) - 1);
	assert_int_equal(cairn_last_error()[0], 'x');
}

/* Two threads set their records in turn; each must read back its own. */
struct errthread {
	pthread_barrier_t *barrier;
	const char *sentence;
	int native;
	char initial[64];
	int initial_native;
	char seen[64];
	int seen_native;
	char seen_public[128];
};

static void *
errthread_main(void *arg)
{
	struct errthread *e = arg;

	snprintf(e->initial, sizeof(e->initial), "%s", cairn_last_error());
	e->initial_native = cairn_last_error_native();
	pthread_barrier_wait(e->barrier);
	cairn__error(CAIRN_IO, e->native, "%s", e->sentence);
	/* both have written before either reads */
	pthread_barrier_wait(e->barrier);
	snprintf(e->seen, sizeof(e->seen), "%s", cairn_last_error());
	e->seen_native = cairn_last_error_native();
	pthread_barrier_wait(e->barrier);
	/* through the public API, one thread fails as the other succeeds */
	if (e->native == 1)
		cairn_validate_type("");
	else
		cairn_validate_type("Deposited");
	pthread_barrier_wait(e->barrier);
	snprintf(e->seen_public, sizeof(e->seen_public), "%s",
	         cairn_last_error());
	return NULL;
}

static void
last_error_is_thread_local(void **state)
{
	pthread_barrier_t barrier;
	struct errthread a, b;
	pthread_t ta, tb;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	cairn__error(CAIRN_CONFLICT, 99, "%s", "from main");
	assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
	a.barrier = b.barrier = &barrier;
	a.sentence = "from thread a";
	a.native = 1;
	b.sentence = "from thread b";
	b.native = 2;
	assert_int_equal(pthread_create(&ta, NULL, errthread_main, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, errthread_main, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&barrier);
	/* a new thread starts with an empty record */
	assert_string_equal(a.initial, "");
	assert_int_equal(a.initial_native, 0);
	assert_string_equal(b.initial, "");
	assert_int_equal(b.initial_native, 0);
	assert_string_equal(a.seen, "from thread a");
	assert_int_equal(a.seen_native, 1);
	assert_string_equal(b.seen, "from thread b");
	assert_int_equal(b.seen_native, 2);
	assert_string_equal(a.seen_public, "event type is empty");
	/* b's own earlier sentence, untouched by a's failure */
	assert_string_equal(b.seen_public, "from thread b");
	/* and main's record is main's */
	assert_string_equal(cairn_last_error(), "from main");
	assert_int_equal(cairn_last_error_native(), 99);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_status_has_its_own_name),
		cmocka_unit_test(unknown_status),
		cmocka_unit_test(error_record_and_clear),
		cmocka_unit_test(last_error_is_thread_local),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
