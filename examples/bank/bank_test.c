/*
 * bank_test.c -- the bank under load: 8 threads make random transfers
 * among 10 accounts on one store, and afterwards the books must balance:
 *
 *   - the total of all balances is what was deposited at opening;
 *   - every transfer is in the store entirely (one withdrawal from the
 *     payer and one deposit to the payee, same amount, found by the
 *     transfer id in the event data) when it succeeded, and not at all
 *     when it was refused;
 *   - no account's balance is ever negative, after any of its events;
 *   - conflicts happened and cairn_execute() retried them (counted by the
 *     retry hook).
 *
 *     bank_test [lmdb|memory]      (default lmdb, in a temporary dir)
 *
 * Exit status 0 when every check held; 1 otherwise, naming each failure.
 */
#include "bank.h"
#include "tmpstore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NACCOUNTS 10
#define NTHREADS 8
#define TRANSFERS_PER_THREAD 300
#define OPENING_BALANCE 1000LL
#define MAX_AMOUNT 150 /* transfers move 1..MAX_AMOUNT */
#define NTRANSFERS (NTHREADS * TRANSFERS_PER_THREAD)

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

static const char *const names[NACCOUNTS] = {"alice", "bob",   "carol", "dave",
                                             "erin",  "frank", "gina",  "hugo",
                                             "irene", "jack"};

/* What one transfer was asked to do, what it returned, and (filled from
 * the store afterwards) what of it was found. */
struct transfer_rec {
	int from, to;
	long long amount;
	cairn_status rc;
	unsigned attempts;
	int withdrawn, deposited; /* events found with its id */
	long long withdrawn_amount, deposited_amount;
	int withdrawn_from, deposited_to; /* account index, -1: none */
};

static struct transfer_rec recs[NTRANSFERS];
static atomic_ulong retries;

static void
count_retry(void *ctx, const char *stream, unsigned attempt, uint32_t delay_us)
{
	(void)ctx;
	(void)stream;
	(void)attempt;
	(void)delay_us;
	atomic_fetch_add(&retries, 1);
}

/* xorshift64*: a small per-thread generator, reproducible by seed. */
static uint64_t
next_random(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

struct worker {
	cairn_store *st;
	int thread;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->thread + 1);
	cairn_retry_policy policy;

	cairn_retry_policy_init(&policy);
	policy.max_retries = 1000; /* contention is the point: never give up */
	policy.base_delay_us = 50;
	policy.max_delay_us = 2000;
	policy.on_retry = count_retry;
	for (int k = 0; k < TRANSFERS_PER_THREAD; k++) {
		struct transfer_rec *r =
		        &recs[w->thread * TRANSFERS_PER_THREAD + k];
		cairn_exec_result res;
		char id[BANK_TRANSFER_ID_MAX + 1];

		r->from = (int)(next_random(&seed) % NACCOUNTS);
		r->to = (r->from + 1 +
		         (int)(next_random(&seed) % (NACCOUNTS - 1))) %
		        NACCOUNTS;
		r->amount = 1 + (long long)(next_random(&seed) % MAX_AMOUNT);
		snprintf(id, sizeof id, "t%d-%d", w->thread, k);
		r->rc = bank_transfer(w->st, names[r->from], names[r->to],
		                      r->amount, id, &policy, &res);
		r->attempts = res.attempts;
	}
	return NULL;
}

/* The transfer record a "t<thread>-<k>" id names, or NULL. */
static struct transfer_rec *
rec_of(const char *id)
{
	int t, k, n = 0;

	if (sscanf(id, "t%d-%d%n", &t, &k, &n) != 2 || id[n] != '\0' || t < 0 ||
	    t >= NTHREADS || k < 0 || k >= TRANSFERS_PER_THREAD)
		return NULL;
	return &recs[t * TRANSFERS_PER_THREAD + k];
}

/* Walk one account's events: the balance after each must be >= 0; every
 * transfer event is booked to its record.  Returns the final balance. */
static long long
audit_account(cairn_store *st, int a)
{
	char stream[CAIRN_STREAM_ID_MAX + 1];
	struct bank_account acc;
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_status rc;
	uint64_t n = 0;

	memset(&acc, 0, sizeof acc);
	bank_stream_name(names[a], stream, sizeof stream);
	rc = cairn_read_stream(st, stream, NULL, &it);
	CHECK(rc == CAIRN_OK, "read %s: %s", stream, cairn_last_error());
	if (rc != CAIRN_OK)
		return 0;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		char id[BANK_TRANSFER_ID_MAX + 1];
		struct transfer_rec *r;
		long long amount = 0;

		n++;
		CHECK(bank_account_apply(&acc, e) == CAIRN_OK,
		      "%s v%llu: unreadable event", stream,
		      (unsigned long long)e->version);
		CHECK(acc.balance >= 0, "%s is at %lld after version %llu",
		      stream, acc.balance, (unsigned long long)e->version);
		if (strcmp(e->type, "AccountOpened") == 0) {
			CHECK(e->version == 1, "%s opened at version %llu",
			      stream, (unsigned long long)e->version);
			continue;
		}
		bank_event_int(e, "amount", &amount);
		if (bank_event_string(e, "transfer", id, sizeof id) == 0 &&
		    strncmp(id, "warmup-", 7) == 0)
			continue; /* check_refusals() made it */
		if (bank_event_string(e, "transfer", id, sizeof id) != 0 ||
		    (r = rec_of(id)) == NULL) {
			CHECK(0, "%s v%llu: no transfer id", stream,
			      (unsigned long long)e->version);
			continue;
		}
		if (strcmp(e->type, "MoneyWithdrawn") == 0) {
			r->withdrawn++;
			r->withdrawn_amount = amount;
			r->withdrawn_from = a;
		} else if (strcmp(e->type, "MoneyDeposited") == 0) {
			r->deposited++;
			r->deposited_amount = amount;
			r->deposited_to = a;
		} else {
			CHECK(0, "%s: unexpected type %s", stream, e->type);
		}
	}
	CHECK(rc == CAIRN_DONE, "reading %s: %s: %s", stream,
	      cairn_status_str(rc), cairn_last_error());
	cairn_iter_free(it);
	CHECK(n > 0 && acc.opened, "%s was never opened", stream);
	return acc.balance;
}

/* Single-threaded behaviour first: refusals write nothing. */
static void
check_refusals(cairn_store *st)
{
	cairn_exec_result res;
	cairn_stats before, after;
	cairn_status rc;

	cairn_stats_get(st, &before);
	rc = bank_transfer(st, "alice", "bob", OPENING_BALANCE + 1, "big", NULL,
	                   &res);
	CHECK(rc == CAIRN_REJECTED, "overdraft: %s", cairn_status_str(rc));
	CHECK(strstr(res.message, "insufficient funds in alice") != NULL,
	      "overdraft message: \"%s\"", res.message);
	rc = bank_transfer(st, "alice", "nobody", 1, "ghost", NULL, &res);
	CHECK(rc == CAIRN_REJECTED, "to nobody: %s", cairn_status_str(rc));
	CHECK(strstr(res.message, "no account nobody") != NULL,
	      "to nobody message: \"%s\"", res.message);
	rc = bank_transfer(st, "nobody", "alice", 1, "ghost", NULL, &res);
	CHECK(rc == CAIRN_REJECTED, "from nobody: %s", cairn_status_str(rc));
	CHECK(bank_transfer(st, "alice", "alice", 1, NULL, NULL, NULL) ==
	              CAIRN_INVALID,
	      "a transfer to oneself is refused");
	CHECK(bank_transfer(st, "alice", "bob", 0, NULL, NULL, NULL) ==
	              CAIRN_INVALID,
	      "a transfer of 0 is refused");
	CHECK(bank_open(st, "alice", 5) == CAIRN_CONFLICT,
	      "alice is opened once");
	cairn_stats_get(st, &after);
	CHECK(after.events == before.events && after.head == before.head,
	      "refusals wrote %llu events",
	      (unsigned long long)(after.events - before.events));

	/* an allowed transfer there and back: balances unchanged */
	CHECK(bank_transfer(st, "alice", "bob", OPENING_BALANCE, "warmup-1",
	                    NULL, &res) == CAIRN_OK,
	      "alice -> bob: %s", cairn_last_error());
	CHECK(res.attempts == 1 && res.nevents == 2,
	      "one attempt, two events (%u, %zu)", res.attempts, res.nevents);
	CHECK(bank_transfer(st, "bob", "alice", OPENING_BALANCE, "warmup-2",
	                    NULL, &res) == CAIRN_OK,
	      "bob -> alice: %s", cairn_last_error());

	/* a transfer sent again is booked once */
	cairn_stats_get(st, &before);
	CHECK(bank_transfer(st, "alice", "bob", OPENING_BALANCE, "warmup-1",
	                    NULL, &res) == CAIRN_OK &&
	              res.nevents == 0,
	      "warmup-1 again: %s, %zu events", cairn_last_error(),
	      res.nevents);
	cairn_stats_get(st, &after);
	CHECK(after.events == before.events, "a resent transfer wrote events");
}

int
main(int argc, char **argv)
{
	const char *backend = argc > 1 ? argv[1] : "lmdb";
	struct tmpstore ts;
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	long long total = 0;
	int ok = 0, rejected = 0, other = 0, a;

	if (tmpstore_open(&ts, backend, "cairn-bank") != 0)
		return 1;
	for (a = 0; a < NACCOUNTS; a++)
		CHECK(bank_open(ts.st, names[a], OPENING_BALANCE) == CAIRN_OK,
		      "open %s: %s", names[a], cairn_last_error());
	check_refusals(ts.st);

	for (int t = 0; t < NTHREADS; t++) {
		w[t].st = ts.st;
		w[t].thread = t;
		if (pthread_create(&th[t], NULL, worker_main, &w[t]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);

	for (int i = 0; i < NTRANSFERS; i++) {
		recs[i].withdrawn_from = recs[i].deposited_to = -1;
		if (recs[i].rc == CAIRN_OK)
			ok++;
		else if (recs[i].rc == CAIRN_REJECTED)
			rejected++;
		else
			other++;
	}
	CHECK(other == 0, "%d transfers failed otherwise than by refusal",
	      other);
	for (a = 0; a < NACCOUNTS; a++) {
		long long balance = audit_account(ts.st, a);
		struct bank_account acc, again;

		total += balance;
		/* the aggregate load (with its snapshot) agrees, the first
		 * time and the second, from the snapshot */
		CHECK(bank_load(ts.st, names[a], &acc) == CAIRN_OK,
		      "load %s: %s", names[a], cairn_last_error());
		CHECK(acc.balance == balance, "%s: load %lld, audit %lld",
		      names[a], acc.balance, balance);
		CHECK(bank_load(ts.st, names[a], &again) == CAIRN_OK,
		      "load %s again", names[a]);
		CHECK(again.balance == balance && again.opened,
		      "%s: second load %lld", names[a], again.balance);
		CHECK(again.folded < BANK_SNAPSHOT_EVERY,
		      "%s: second load folded %llu events: no snapshot?",
		      names[a], again.folded);
	}
	CHECK(total == NACCOUNTS * OPENING_BALANCE,
	      "money is not conserved: %lld, expected %lld", total,
	      NACCOUNTS * OPENING_BALANCE);

	for (int i = 0; i < NTRANSFERS; i++) {
		struct transfer_rec *r = &recs[i];
		int t = i / TRANSFERS_PER_THREAD, k = i % TRANSFERS_PER_THREAD;

		if (r->rc == CAIRN_OK) {
			CHECK(r->withdrawn == 1 && r->deposited == 1,
			      "t%d-%d: %d withdrawals, %d deposits", t, k,
			      r->withdrawn, r->deposited);
			CHECK(r->withdrawn_from == r->from &&
			              r->deposited_to == r->to,
			      "t%d-%d: booked %d -> %d, asked %d -> %d", t, k,
			      r->withdrawn_from, r->deposited_to, r->from,
			      r->to);
			CHECK(r->withdrawn_amount == r->amount &&
			              r->deposited_amount == r->amount,
			      "t%d-%d: amounts %lld/%lld, asked %lld", t, k,
			      r->withdrawn_amount, r->deposited_amount,
			      r->amount);
		} else {
			CHECK(r->withdrawn == 0 && r->deposited == 0,
			      "t%d-%d (%s): %d withdrawals, %d deposits", t, k,
			      cairn_status_str(r->rc), r->withdrawn,
			      r->deposited);
		}
	}

	unsigned long nretries = atomic_load(&retries);
	CHECK(nretries > 0, "no conflict was retried: the test did not race");
	uint64_t problems = 1;
	CHECK(cairn_verify(ts.st, NULL, NULL, &problems) == CAIRN_OK &&
	              problems == 0,
	      "cairn_verify: %llu problems", (unsigned long long)problems);
	printf("bank_test (%s): %d transfers: %d done, %d refused "
	       "(insufficient funds), %lu retries after conflicts; total "
	       "%lld\n",
	       backend, NTRANSFERS, ok, rejected, nretries, total);
	tmpstore_close(&ts);
	if (failures > 0) {
		printf("bank_test: %d check(s) failed\n", failures);
		return 1;
	}
	printf("bank_test: ok\n");
	return 0;
}
