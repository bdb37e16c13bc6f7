/*
 * main.c -- the lmdb part of the crash suite: simulated machine crashes (a
 * new boot id, LMDB meta pages left pointing at nothing), also twice in a
 * row and in the middle of recovery, a torn or garbage write-ahead log
 * tail, a log that has wrapped, and read-only opens of a store that needs
 * recovery.  (Writers killed with SIGKILL on every backend, without a
 * machine crash: kill.c.)
 *
 *     crash_test <base-dir> [<test-name-glob>]
 *
 * Stores are made under <base-dir> and removed at the end (kept when
 * CAIRN_CRASH_KEEP=1).  CAIRN_CRASH_SEED=N repeats a run's random
 * choices (the kill times themselves race with the writers, as they
 * must).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "crash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KILL_MS_MIN 5
#define KILL_MS_MAX 80
#define REBOOT_ROUNDS 24
#define TWICE_ROUNDS 3
#define MID_RECOVERY_ROUNDS 4
#define TAIL_ROUNDS 16
#define WRAP_ROUNDS 2
#define WRAP_PAD ((size_t)1 << 20)
/* at 1-6 events of WRAP_PAD each, well past the 64 MiB log */
#define WRAP_APPENDS 48
/* Where "far beyond the records" starts, past the log's tail. */
#define FAR_BEYOND ((uint64_t)256 << 10)
#define FAR_FLIPS 200
#define TORN_MAX 2048
#define WAL_JUNK_MAX 4096

static void
boot_name(char out[CRASH_BOOT_ID_MAX], const char *test, unsigned n)
{
	snprintf(out, CRASH_BOOT_ID_MAX, "%s-boot-%u", test, n);
}

/* A round of one or two writers, killed at random times; two writers die
 * together or one after the other. */
static crash_round
random_round(crash_store *cs, const char *boot_id, unsigned min_appends)
{
	crash_round run;
	unsigned first;

	memset(&run, 0, sizeof(run));
	run.boot_id = boot_id;
	run.min_appends = min_appends;
	run.nwriters = crash_rng_below(&cs->rng, 4) == 0 ? 2 : 1;
	run.kill_ms[0] = crash_rng_range(&cs->rng, KILL_MS_MIN, KILL_MS_MAX);
	if (run.nwriters == 2) {
		first = crash_rng_below(&cs->rng, 2);
		run.kill_ms[first] = run.kill_ms[0];
		run.kill_ms[!first] = run.kill_ms[0];
		if (crash_rng_below(&cs->rng, 2))
			run.kill_ms[!first] += crash_rng_range(&cs->rng, 5, 40);
	}
	return run;
}

static void
report(const char *test, const crash_store *cs, long appends, double t0)
{
	printf("crash: %s: %u rounds, %ld acked appends, %zu acked events, "
	       "%.1f s\n",
	       test, cs->rounds, appends, cs->nacks, crash_now() - t0);
	fflush(stdout);
}

/*
 * 2. A machine crash, simulated: writers are killed, the next process
 * runs with a new CAIRN_TEST_BOOT_ID, and LMDB's meta pages are first
 * overwritten with garbage or zeros (a meta page that reached the disk
 * when the pages it names did not).  Recovery must put them back from
 * the log's checkpoint and replay the rest.  Every third round leaves
 * the store healthy: a new boot alone must not hurt.  Then the same on a
 * store closed cleanly.
 */
static void
test_machine_crash(void **state)
{
	crash_store *cs = *state;
	char boot[CRASH_BOOT_ID_MAX];
	crash_expect ex = {boot, false};
	double t0 = crash_now();
	unsigned r, b = 0, mode;
	crash_round run;
	long n, appends = 0;

	assert_int_equal(crash_store_init(cs, "reboot"), 0);
	boot_name(boot, "reboot", b);
	assert_int_equal(crash_check(cs, &ex), 0);
	for (r = 0; r < REBOOT_ROUNDS; r++) {
		char writer_boot[CRASH_BOOT_ID_MAX];
		memcpy(writer_boot, boot, sizeof(boot));
		run = random_round(cs, writer_boot, r % 2);
		n = crash_run_writers(cs, &run);
		if (n < 0)
			fail_msg("round %u: the writers failed", cs->rounds);
		appends += n;
		mode = r % 3;
		if (mode < 2)
			assert_int_equal(crash_trash_meta(cs, mode == 1), 0);
		boot_name(boot, "reboot", ++b);
		if (crash_check(cs, &ex) != 0)
			fail_msg("round %u: after a reboot (meta pages %s), "
			         "the store lost or broke acked events",
			         cs->rounds,
			         mode == 0   ? "garbage"
			         : mode == 1 ? "zeroed"
			                     : "intact");
	}
	/* A cleanly closed store, a new boot: nothing to repair. */
	boot_name(boot, "reboot", ++b);
	if (crash_check(cs, &ex) != 0)
		fail_msg("a new boot on a cleanly closed store broke it");
	/* ... and with its meta pages gone: the checkpoint has them. */
	assert_int_equal(crash_trash_meta(cs, false), 0);
	boot_name(boot, "reboot", ++b);
	if (crash_check(cs, &ex) != 0)
		fail_msg("a cleanly closed store whose meta pages were lost "
		         "in a reboot was not restored");
	report("reboot", cs, appends, t0);
}

/*
 * 2b. Two machine crashes in a row, with no clean open between: the first
 * process after a reboot recovers the store, appends, and the machine
 * crashes again before that process closes it.  (In the rounds above a
 * checker recovers and closes cleanly, which checkpoints again on the
 * way out; here the writer that recovered is killed.)
 */
static void
test_crash_after_recovery(void **state)
{
	crash_store *cs = *state;
	char boot[CRASH_BOOT_ID_MAX];
	crash_expect ex = {boot, false};
	double t0 = crash_now();
	crash_round run;
	long n, appends = 0;
	unsigned r, b = 0;

	assert_int_equal(crash_store_init(cs, "twice"), 0);
	boot_name(boot, "twice", b);
	assert_int_equal(crash_check(cs, &ex), 0);
	for (r = 0; r < TWICE_ROUNDS; r++) {
		char writer_boot[CRASH_BOOT_ID_MAX];
		memcpy(writer_boot, boot, sizeof(boot));
		memset(&run, 0, sizeof(run));
		run.nwriters = 1;
		run.boot_id = writer_boot;
		run.min_appends = 4;
		run.kill_ms[0] = crash_rng_range(&cs->rng, 10, 40);
		n = crash_run_writers(cs, &run);
		if (n < 0)
			fail_msg("round %u: the writer (boot %s) failed; %s",
			         cs->rounds, writer_boot,
			         r ? "it was the first process after the "
			             "previous round's machine crash"
			           : "first round");
		appends += n;
		assert_int_equal(crash_trash_meta(cs, false), 0);
		boot_name(boot, "twice", ++b);
	}
	if (crash_check(cs, &ex) != 0)
		fail_msg("after %u machine crashes, each hitting the process "
		         "that had recovered from the one before, acked "
		         "events are lost or broken",
		         TWICE_ROUNDS);
	report("twice", cs, appends, t0);
}

/*
 * 2c. A crash in the middle of recovery.  After a machine crash (new boot,
 * lost meta pages), the first process replays the log; it is killed the
 * moment its recovery checkpoint is in the log header (the parent
 * watches the file), before it can do anything else.  The next open,
 * same boot (only that process crashed) or a new one (the machine
 * again), must still find every acked event.
 */
static void
test_crash_during_recovery(void **state)
{
	crash_store *cs = *state;
	char boot[CRASH_BOOT_ID_MAX];
	crash_expect ex = {boot, false};
	double t0 = crash_now();
	crash_round run;
	long n, appends = 0;
	unsigned r, b = 0;
	bool again;

	assert_int_equal(crash_store_init(cs, "midrecovery"), 0);
	boot_name(boot, "midrecovery", b);
	assert_int_equal(crash_check(cs, &ex), 0);
	for (r = 0; r < MID_RECOVERY_ROUNDS; r++) {
		char writer_boot[CRASH_BOOT_ID_MAX];
		memcpy(writer_boot, boot, sizeof(boot));
		memset(&run, 0, sizeof(run));
		run.nwriters = 1;
		run.boot_id = writer_boot;
		run.min_appends = 20;
		run.kill_ms[0] = 10;
		n = crash_run_writers(cs, &run);
		if (n < 0)
			fail_msg("round %u: the writers failed", cs->rounds);
		appends += n;
		assert_int_equal(crash_trash_meta(cs, false), 0);
		boot_name(boot, "midrecovery", ++b);
		memcpy(writer_boot, boot, sizeof(boot));
		run.kill_at_checkpoint = true;
		run.min_appends = 0;
		if (crash_run_writers(cs, &run) < 0)
			fail_msg("round %u: the recovering writer failed",
			         cs->rounds);
		again = r % 2 == 1;
		if (again)
			boot_name(boot, "midrecovery", ++b);
		if (crash_check(cs, &ex) != 0)
			fail_msg("round %u: after a process killed just past "
			         "its recovery checkpoint, %s, acked events "
			         "are lost or broken",
			         cs->rounds,
			         again ? "then another reboot"
			               : "then a restart in the same boot");
	}
	report("midrecovery", cs, appends, t0);
}

/* Damage the log past its last valid record, one of three ways or all,
 * never past the end of the file (the log is preallocated: there is
 * always room, unless the last record just filled it). */
static void
damage_tail(crash_store *cs, unsigned how)
{
	uint8_t junk[WAL_JUNK_MAX];
	crash_wal_chain chain;
	uint64_t room, off, lsn;
	size_t len, i;
	uint32_t plen;

	assert_int_equal(crash_wal_tail(cs, &chain), 0);
	room = chain.file_size - chain.tail;
	if ((how == 2 || how == 3) && room > FAR_BEYOND) {
		/* bytes flipped far beyond the records, in the zero area */
		for (i = 0; i < FAR_FLIPS; i++) {
			off = chain.tail + FAR_BEYOND +
			      crash_rng_next(&cs->rng) % (room - FAR_BEYOND);
			junk[0] = (uint8_t)crash_rng_range(&cs->rng, 1, 255);
			assert_int_equal(
			        crash_write_at(cs, "wal", off, junk, 1), 0);
		}
	}
	if ((how == 1 || how == 3) && room >= sizeof(junk)) {
		/* garbage right where the next record would go */
		len = crash_rng_range(&cs->rng, 16, sizeof(junk));
		for (i = 0; i < len; i++)
			junk[i] = (uint8_t)crash_rng_next(&cs->rng);
		assert_int_equal(
		        crash_write_at(cs, "wal", chain.tail, junk, len), 0);
	}
	if ((how == 0 || how == 3) && room >= 16 + TORN_MAX) {
		/* a torn record: a whole header with the next lsn, half of
		 * its payload, so its checksum cannot match */
		plen = crash_rng_range(&cs->rng, 64, TORN_MAX);
		for (i = 0; i < 16 + plen / 2; i++)
			junk[i] = (uint8_t)crash_rng_next(&cs->rng);
		lsn = chain.last_lsn + 1;
		memcpy(junk + 4, &plen, 4);
		memcpy(junk + 8, &lsn, 8);
		assert_int_equal(crash_write_at(cs, "wal", chain.tail, junk,
		                                16 + plen / 2),
		                 0);
	}
}

/*
 * 3. A torn or garbage log tail after a kill: a half-written record with
 * the next lsn, random bytes where the next record goes, bytes flipped
 * far beyond the records.  Every other round adds a reboot with lost
 * meta pages, so the records must be replayed up to the damage.
 */
static void
test_torn_log_tail(void **state)
{
	static const char *const hows[] = {"torn record", "garbage",
	                                   "far flips", "all three"};
	crash_store *cs = *state;
	char boot[CRASH_BOOT_ID_MAX];
	crash_expect ex = {boot, false};
	double t0 = crash_now();
	bool reboot;
	crash_round run;
	long n, appends = 0;
	unsigned r, b = 0;

	assert_int_equal(crash_store_init(cs, "tail"), 0);
	boot_name(boot, "tail", b);
	assert_int_equal(crash_check(cs, &ex), 0);
	for (r = 0; r < TAIL_ROUNDS; r++) {
		char writer_boot[CRASH_BOOT_ID_MAX];
		memcpy(writer_boot, boot, sizeof(boot));
		run = random_round(cs, writer_boot, 2);
		n = crash_run_writers(cs, &run);
		if (n < 0)
			fail_msg("round %u: the writers failed", cs->rounds);
		appends += n;
		damage_tail(cs, r % 4);
		reboot = r % 2 == 1;
		if (reboot) {
			assert_int_equal(crash_trash_meta(cs, false), 0);
			boot_name(boot, "tail", ++b);
		}
		if (crash_check(cs, &ex) != 0)
			fail_msg("round %u: after a log tail with %s%s, the "
			         "store lost or broke acked events",
			         cs->rounds, hows[r % 4],
			         reboot ? " and a reboot" : "");
	}
	report("tail", cs, appends, t0);
}

/*
 * 3b. Crashes after the log wrapped: once the log is WAL_MAX_SIZE (64 MiB)
 * a batch that does not fit checkpoints and starts again at the top.
 * Writers append events with 1 MiB of metadata until the log has wrapped,
 * are killed, and the store goes through a reboot (meta pages lost every
 * other time): the replay must follow the records from the top.
 */
static void
test_log_wrap(void **state)
{
	crash_store *cs = *state;
	char boot[CRASH_BOOT_ID_MAX];
	crash_expect ex = {boot, false};
	double t0 = crash_now();
	crash_wal_chain chain;
	crash_round run;
	long n, appends = 0;
	unsigned r, b = 0;

	assert_int_equal(crash_store_init(cs, "wrap"), 0);
	boot_name(boot, "wrap", b);
	assert_int_equal(crash_check(cs, &ex), 0);
	for (r = 0; r < WRAP_ROUNDS; r++) {
		char writer_boot[CRASH_BOOT_ID_MAX];
		memcpy(writer_boot, boot, sizeof(boot));
		memset(&run, 0, sizeof(run));
		run.nwriters = 1;
		run.boot_id = writer_boot;
		run.pad_bytes = WRAP_PAD;
		run.min_appends = WRAP_APPENDS;
		n = crash_run_writers(cs, &run);
		if (n < 0)
			fail_msg("round %u: the writers failed", cs->rounds);
		appends += n;
		assert_int_equal(crash_wal_tail(cs, &chain), 0);
		printf("crash: wrap: round %u: log records %" PRIu64
		       "..%" PRIu64 " from the top, up to byte %" PRIu64
		       " of %" PRIu64 "\n",
		       cs->rounds, chain.first_lsn, chain.last_lsn, chain.tail,
		       chain.file_size);
		/* the test is void unless the log did wrap */
		assert_true(chain.first_lsn > 1);
		if (r % 2 == 0)
			assert_int_equal(crash_trash_meta(cs, false), 0);
		boot_name(boot, "wrap", ++b);
		if (crash_check(cs, &ex) != 0)
			fail_msg("round %u: after a wrapped log and a reboot, "
			         "acked events are lost or broken",
			         cs->rounds);
	}
	report("wrap", cs, appends, t0);
}

typedef struct snapshot {
	uint8_t *data[3];
	size_t len[3];
	int found[3];
	char listing[512];
} snapshot;

static const char *const store_files[3] = {"data.mdb", "wal", "lock.mdb"};

static void
take_snapshot(crash_store *cs, snapshot *s)
{
	char path[1100];
	struct stat sb;
	size_t used = 0;
	unsigned i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < 3; i++) {
		s->found[i] = crash_read_file(cs, store_files[i], &s->data[i],
		                              &s->len[i]);
		assert_true(s->found[i] >= 0);
		snprintf(path, sizeof(path), "%s/%s", cs->dir, store_files[i]);
		if (stat(path, &sb) == 0)
			used += (size_t)snprintf(
			        s->listing + used, sizeof(s->listing) - used,
			        "%s %o %lld.%09ld;", store_files[i],
			        (unsigned)sb.st_mode,
			        (long long)sb.st_mtim.tv_sec,
			        sb.st_mtim.tv_nsec);
	}
}

static void
free_snapshot(snapshot *s)
{
	unsigned i;

	for (i = 0; i < 3; i++)
		free(s->data[i]);
}

static void
assert_unchanged(crash_store *cs, snapshot *before, const char *when)
{
	snapshot after;
	unsigned i;

	take_snapshot(cs, &after);
	for (i = 0; i < 3; i++)
		if (after.found[i] != before->found[i] ||
		    after.len[i] != before->len[i] ||
		    memcmp(after.data[i], before->data[i], after.len[i]) != 0)
			fail_msg("%s: %s/%s was modified", when, cs->dir,
			         store_files[i]);
	if (strcmp(after.listing, before->listing) != 0)
		fail_msg("%s: the files changed: %s -> %s", when,
		         before->listing, after.listing);
	free_snapshot(&after);
}

static void
assert_refused(crash_store *cs, const char *boot, const char *when)
{
	cairn_status st;
	char msg[1024];
	snapshot before;

	take_snapshot(cs, &before);
	assert_int_equal(crash_try_open(cs, boot, true, &st, msg, sizeof(msg)),
	                 0);
	printf("crash: read-only open %s: %s: %s\n", when, cairn_status_str(st),
	       msg);
	if (st != CAIRN_IO)
		fail_msg("%s: a read-only open gave %s (%s), not CAIRN_IO",
		         when, cairn_status_str(st), msg);
	if (strstr(msg, "recovery") == NULL || strstr(msg, cs->dir) == NULL)
		fail_msg("%s: the error does not say the store needs recovery "
		         "and which: %s",
		         when, msg);
	assert_unchanged(cs, &before, when);
	free_snapshot(&before);
}

/*
 * 4. A read-only open of a store that needs recovery after a reboot fails
 * with a clear CAIRN_IO and touches no file (with healthy or with lost
 * meta pages); a read-write open then recovers it, and read-only opens
 * work again.  A read-only open after a mere process crash (same boot)
 * needs nothing and sees every acked event.
 */
static void
test_read_only_after_reboot(void **state)
{
	crash_store *cs = *state;
	crash_expect ex = {"ro-boot-2", false};
	crash_expect ro = {"ro-boot-2", true};
	double t0 = crash_now();
	crash_round run;
	long n, appends = 0;

	assert_int_equal(crash_store_init(cs, "readonly"), 0);
	ex.boot_id = "ro-boot-1";
	assert_int_equal(crash_check(cs, &ex), 0);
	memset(&run, 0, sizeof(run));
	run.nwriters = 1;
	run.boot_id = "ro-boot-1";
	run.min_appends = 5;
	run.kill_ms[0] = 30;
	n = crash_run_writers(cs, &run);
	assert_true(n >= 5);
	appends += n;

	assert_refused(cs, "ro-boot-2", "after a reboot");
	assert_refused(cs, "ro-boot-2", "after a reboot, again");
	assert_int_equal(crash_trash_meta(cs, false), 0);
	assert_refused(cs, "ro-boot-2", "after a reboot with lost meta pages");

	ex.boot_id = "ro-boot-2";
	if (crash_check(cs, &ex) != 0)
		fail_msg("the read-write open after the refused read-only "
		         "ones did not recover the store");
	if (crash_check(cs, &ro) != 0)
		fail_msg("a read-only open of the recovered store failed");

	/* a process crash only: the LMDB file is whole, nothing to do */
	run.boot_id = "ro-boot-2";
	n = crash_run_writers(cs, &run);
	assert_true(n >= 5);
	appends += n;
	if (crash_check(cs, &ro) != 0)
		fail_msg("a read-only open after a process crash (same boot) "
		         "missed acked events");
	if (crash_check(cs, &ex) != 0)
		fail_msg("the read-write open after that failed");
	report("readonly", cs, appends, t0);
}

static int
setup(void **state)
{
	crash_store *cs = calloc(1, sizeof(*cs));

	*state = cs;
	return cs == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	crash_store *cs = *state;

	crash_store_free(cs);
	free(cs);
	return 0;
}

static uint64_t
pick_seed(void)
{
	const char *env = getenv("CAIRN_CRASH_SEED");
	struct timespec ts;

	if (env != NULL && env[0] != 0)
		return strtoull(env, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 40);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_machine_crash, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_crash_after_recovery,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_crash_during_recovery,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_torn_log_tail, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_log_wrap, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_only_after_reboot,
	                                        setup, teardown),
	};

	if (argc < 2 || argv[1][0] == 0) {
		fprintf(stderr, "usage: crash_test <base-dir> [<test-glob>]\n");
		return 2;
	}
	crash_base_dir = argv[1];
	if (argc >= 3 && argv[2][0] != 0)
		cmocka_set_test_filter(argv[2]);
	crash_seed = pick_seed();
	printf("crash: seed %" PRIu64 " (CAIRN_CRASH_SEED=%" PRIu64
	       " repeats it)\n",
	       crash_seed, crash_seed);
	fflush(stdout);
	return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
