/*
 * cursor_reboot.c -- a durable subscription's cursor across crashes of
 * the machine, on lmdb.
 *
 *     crash_cursor DIR [ROUNDS]
 *
 * Each round runs a producer (appends of 1..4 events) and an acking
 * consumer (a durable subscription that acknowledges every batch) in two
 * processes, kills both with SIGKILL at a random moment, then opens the
 * store as a new process after a simulated reboot (CAIRN_TEST_BOOT_ID
 * changes, so recovery treats the page cache as lost).  Then:
 *   - the store verifies without a problem;
 *   - every append the producer was told is committed is there (head;
 *     durable rounds only);
 *   - the stored cursor is not ahead of the last position the consumer
 *     acknowledged, nor of the head.
 * Cursor writes are not synced on their own (docs/lmdb.md): after the
 * reboot the cursor may be behind, which only repeats deliveries; ahead
 * would lose events.  Rounds alternate the durable and relaxed modes.
 * Randomness comes from a printed seed (CAIRN_TEST_SEED to repeat).
 */
#include <cairn.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ROUNDS 20
#define CONSUMER "consumer"

/* What the two children tell the parent, in shared memory. */
typedef struct shared {
	volatile uint64_t appended; /* last position the producer was acked */
	volatile uint64_t acked;    /* last position the consumer acked */
	volatile int ready;         /* the consumer has subscribed */
} shared;

static char uri[1100];

static void
set_boot(unsigned n)
{
	char b[32];

	snprintf(b, sizeof(b), "cursor-boot-%u", n);
	setenv("CAIRN_TEST_BOOT_ID", b, 1);
}

static void
consume(shared *sh, const cairn_options *opts)
{
	const cairn_event *b;
	cairn_sub_opts so;
	cairn_store *st;
	cairn_sub *sub;
	size_t n;

	if (cairn_open(uri, opts, &st) != CAIRN_OK)
		_exit(2);
	cairn_sub_opts_init(&so);
	so.name = CONSUMER;
	if (cairn_subscribe(st, &so, &sub) != CAIRN_OK)
		_exit(3);
	sh->ready = 1;
	for (;;) {
		cairn_status rc = cairn_sub_next(sub, 100, &b, &n);

		if (rc == CAIRN_TIMEOUT)
			continue;
		if (rc != CAIRN_ROW || cairn_sub_ack(sub, b[n - 1].position))
			_exit(4);
		sh->acked = b[n - 1].position;
	}
}

static void
produce(shared *sh, const cairn_options *opts)
{
	cairn_new_event e[4];
	cairn_append_result res;
	cairn_store *st;
	unsigned i, j;

	if (cairn_open(uri, opts, &st) != CAIRN_OK)
		_exit(2);
	for (i = 0;; i++) {
		for (j = 0; j < 4; j++) {
			cairn_new_event x = CAIRN_NEW_EVENT_INIT;

			x.type = "A";
			x.data = "0123456789abcdef";
			x.data_len = 16;
			e[j] = x;
		}
		if (cairn_append(st, i % 2 ? "a" : "b", CAIRN_ANY, e,
		                 1 + (size_t)(i % 4), &res) != CAIRN_OK)
			_exit(3);
		sh->appended = res.last_position;
	}
}

/* The checks, in a new process after a simulated reboot: 0 or the number
 * of violations. */
static int
check(unsigned round, uint64_t appended, uint64_t acked,
      const cairn_options *opts)
{
	uint64_t head = 0, problems = 0;
	cairn_sub_info info;
	cairn_store *st;
	cairn_status rc;
	int bad = 0;

	if (cairn_open(uri, opts, &st) != CAIRN_OK) {
		printf("round %u: open: %s\n", round, cairn_last_error());
		return 1;
	}
	if (cairn_verify(st, NULL, NULL, &problems) != CAIRN_OK || problems) {
		printf("round %u: verify: %llu problems\n", round,
		       (unsigned long long)problems);
		bad++;
	}
	cairn_head(st, &head);
	/* Relaxed mode may lose the last commits to a machine crash. */
	if (opts->durability == CAIRN_DURABLE && head < appended) {
		printf("round %u: head %llu, but %llu was acknowledged\n",
		       round, (unsigned long long)head,
		       (unsigned long long)appended);
		bad++;
	}
	rc = cairn_subs_get(st, CONSUMER, &info);
	if (rc == CAIRN_OK && (info.position > acked || info.position > head)) {
		printf("round %u: cursor %llu ahead (acknowledged %llu, head "
		       "%llu)\n",
		       round, (unsigned long long)info.position,
		       (unsigned long long)acked, (unsigned long long)head);
		bad++;
	} else if (rc != CAIRN_OK && rc != CAIRN_NOT_FOUND) {
		printf("round %u: cursor: %s\n", round, cairn_last_error());
		bad++;
	}
	printf("round %u: head %llu (acknowledged %llu), cursor %llu "
	       "(acknowledged %llu)\n",
	       round, (unsigned long long)head, (unsigned long long)appended,
	       rc == CAIRN_OK ? (unsigned long long)info.position : 0ULL,
	       (unsigned long long)acked);
	cairn_close(st);
	return bad;
}

int
main(int argc, char **argv)
{
	unsigned rounds = DEFAULT_ROUNDS, r, seed;
	const char *env = getenv("CAIRN_TEST_SEED");
	char cmd[1200];
	shared *sh;
	int bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: crash_cursor DIR [ROUNDS]\n");
		return 2;
	}
	if (argc > 2)
		rounds = (unsigned)atoi(argv[2]);
	seed = env ? (unsigned)strtoul(env, NULL, 10)
	           : (unsigned)time(NULL) ^ (unsigned)getpid();
	printf("crash_cursor: seed %u (CAIRN_TEST_SEED), %u rounds\n", seed,
	       rounds);
	srand(seed);
	snprintf(uri, sizeof(uri), "lmdb:%s/cursor-store", argv[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/cursor-store'", argv[1]);
	if (system(cmd) != 0)
		return 2;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 2;
	for (r = 0; r < rounds; r++) {
		cairn_options opts;
		pid_t p, c, k;
		int status;

		cairn_options_init(&opts);
		opts.durability = r % 2 ? CAIRN_RELAXED : CAIRN_DURABLE;
		sh->ready = 0;
		set_boot(r);
		fflush(stdout);
		c = fork();
		if (c == 0)
			consume(sh, &opts);
		while (!sh->ready)
			usleep(1000);
		p = fork();
		if (p == 0)
			produce(sh, &opts);
		usleep(50000 + (useconds_t)(rand() % 250000));
		kill(p, SIGKILL);
		kill(c, SIGKILL);
		waitpid(p, &status, 0);
		if (!WIFSIGNALED(status)) {
			printf("round %u: the producer failed (%d)\n", r,
			       WEXITSTATUS(status));
			bad++;
		}
		waitpid(c, &status, 0);
		if (!WIFSIGNALED(status)) {
			printf("round %u: the consumer failed (%d)\n", r,
			       WEXITSTATUS(status));
			bad++;
		}
		fflush(stdout);
		k = fork();
		if (k == 0) {
			int f;

			set_boot(r + 1);
			f = check(r, sh->appended, sh->acked, &opts);
			fflush(stdout);
			_exit(f);
		}
		waitpid(k, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	}
	printf("crash_cursor: %u rounds, %d violations\n", rounds, bad);
	if (system(cmd) != 0)
		return 2;
	return bad != 0;
}
