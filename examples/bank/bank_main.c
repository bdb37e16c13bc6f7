/*
 * bank_main.c -- the bank from the shell:
 *
 *     bank-example --store URI open ACCOUNT AMOUNT
 *     bank-example --store URI transfer FROM TO AMOUNT
 *     bank-example --store URI balance ACCOUNT
 *
 * Amounts are whole numbers (cents).  The store defaults to
 * lmdb:./bank-data.  Exit status: 0 done; 1 refused by the bank
 * (insufficient funds, no such account, account exists); 2 usage or
 * store error.
 */
#include "bank.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BANK_DEFAULT_STORE "lmdb:./bank-data"

static void
usage(FILE *f)
{
	fprintf(f, "usage: bank-example [--store URI] open ACCOUNT AMOUNT\n"
	           "       bank-example [--store URI] transfer FROM TO "
	           "AMOUNT\n"
	           "       bank-example [--store URI] balance ACCOUNT\n"
	           "  URI defaults to " BANK_DEFAULT_STORE "; amounts are "
	           "whole cents\n");
}

/* A non-negative amount.  Returns 0, or -1 when text is not one. */
static int
parse_amount(const char *text, long long *out)
{
	char *end;
	long long v;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
store_error(const char *what, cairn_status rc)
{
	fprintf(stderr, "bank-example: %s: %s: %s\n", what,
	        cairn_status_str(rc), cairn_last_error());
	return 2;
}

static int
cmd_open(cairn_store *st, const char *name, const char *amount_text)
{
	long long amount;
	cairn_status rc;

	if (parse_amount(amount_text, &amount) != 0) {
		fprintf(stderr, "bank-example: bad amount \"%s\"\n",
		        amount_text);
		return 2;
	}
	rc = bank_open(st, name, amount);
	if (rc == CAIRN_CONFLICT) {
		fprintf(stderr, "bank-example: account %s exists already\n",
		        name);
		return 1;
	}
	if (rc != CAIRN_OK)
		return store_error("open", rc);
	printf("opened %s with %lld\n", name, amount);
	return 0;
}

static int
cmd_transfer(cairn_store *st, const char *from, const char *to,
             const char *amount_text)
{
	cairn_exec_result res;
	long long amount;
	cairn_status rc;

	if (parse_amount(amount_text, &amount) != 0 || amount == 0) {
		fprintf(stderr, "bank-example: bad amount \"%s\"\n",
		        amount_text);
		return 2;
	}
	if (strcmp(from, to) == 0) {
		fprintf(stderr, "bank-example: a transfer needs two "
		                "accounts\n");
		return 2;
	}
	rc = bank_transfer(st, from, to, amount, NULL, NULL, &res);
	if (rc == CAIRN_REJECTED) {
		fprintf(stderr, "bank-example: refused: %s\n", res.message);
		return 1;
	}
	if (rc != CAIRN_OK)
		return store_error("transfer", rc);
	printf("transferred %lld from %s to %s (positions %llu-%llu, %u "
	       "attempt%s)\n",
	       amount, from, to, (unsigned long long)res.append.first_position,
	       (unsigned long long)res.append.last_position, res.attempts,
	       res.attempts == 1 ? "" : "s");
	return 0;
}

static int
cmd_balance(cairn_store *st, const char *name)
{
	struct bank_account acc;
	cairn_status rc = bank_load(st, name, &acc);

	if (rc != CAIRN_OK)
		return store_error("balance", rc);
	if (!acc.opened) {
		fprintf(stderr, "bank-example: no account %s\n", name);
		return 1;
	}
	printf("%lld\n", acc.balance);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *uri = BANK_DEFAULT_STORE;
	cairn_store *st = NULL;
	cairn_status rc;
	int i = 1, code;

	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "--store") == 0) {
		uri = argv[2];
		i = 3;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i];
	int nargs = argc - i - 1;
	if (!((strcmp(cmd, "open") == 0 && nargs == 2) ||
	      (strcmp(cmd, "transfer") == 0 && nargs == 3) ||
	      (strcmp(cmd, "balance") == 0 && nargs == 1))) {
		usage(stderr);
		return 2;
	}
	rc = cairn_open(uri, NULL, &st);
	if (rc != CAIRN_OK)
		return store_error(uri, rc);
	if (strcmp(cmd, "open") == 0)
		code = cmd_open(st, argv[i + 1], argv[i + 2]);
	else if (strcmp(cmd, "transfer") == 0)
		code = cmd_transfer(st, argv[i + 1], argv[i + 2], argv[i + 3]);
	else
		code = cmd_balance(st, argv[i + 1]);
	cairn_close(st);
	return code;
}
