/*
 * bank.h -- a small bank on cairn: accounts are streams, a transfer is a
 * command that reads both accounts and writes to both, atomically.
 *
 * Every account is the stream "account-<name>" holding three kinds of
 * events, each a JSON object with an integer "amount" (in the smallest
 * unit of the currency: cents):
 *
 *   AccountOpened   {"amount":N}                     the opening deposit
 *   MoneyWithdrawn  {"amount":N,"transfer":"ID","to":"NAME"}
 *   MoneyDeposited  {"amount":N,"transfer":"ID","from":"NAME"}
 *
 * A transfer writes one MoneyWithdrawn to the payer and one
 * MoneyDeposited to the payee in one atomic append, both carrying the
 * transfer's id, so that either both are in the store or neither is.
 */
#ifndef BANK_H
#define BANK_H

#include "cairn.h"

#include <stddef.h>

/* Bytes of an account name: the stream id is "account-" + name. */
#define BANK_ACCOUNT_PREFIX "account-"
#define BANK_NAME_MAX (CAIRN_STREAM_ID_MAX - (sizeof BANK_ACCOUNT_PREFIX - 1))
/* Bytes of a transfer id (a UUID's text when the bank makes one up). */
#define BANK_TRANSFER_ID_MAX 64
/* cairn_aggregate_load() snapshots an account after folding this many
 * events past its last snapshot. */
#define BANK_SNAPSHOT_EVERY 100
/* The schema of account snapshots. */
#define BANK_SNAPSHOT_SCHEMA "bank-account/v1"

/* An account's state as its events fold into it. */
struct bank_account {
	int opened;                /* an AccountOpened was seen */
	long long balance;         /* in cents */
	unsigned long long folded; /* events folded in this load */
};

/* The stream id of account name into buf (size bytes).  Returns CAIRN_OK
 * or CAIRN_INVALID_STREAM (too long, or not a valid stream id). */
cairn_status bank_stream_name(const char *name, char *buf, size_t size);

/* Open account name with an opening deposit of amount (>= 0).  Returns
 * CAIRN_OK; CAIRN_CONFLICT when the account exists already; CAIRN_INVALID
 * for a negative amount; the errors of cairn_append(). */
cairn_status bank_open(cairn_store *st, const char *name, long long amount);

/* Move amount (> 0) from account `from` to account `to` (distinct), as
 * the transfer transfer_id (NULL: a fresh UUID), re-running the command
 * on conflicts under policy (NULL: cairn's defaults).  A transfer id the
 * payer's account holds already is not booked again: CAIRN_OK with
 * result->nevents = 0 (so a client may safely resend).  Returns CAIRN_OK;
 * CAIRN_REJECTED with result->message (insufficient funds, an account
 * that does not exist); CAIRN_INVALID (bad amount, the same account
 * twice, an overlong transfer id); CAIRN_RETRIES_EXHAUSTED; the errors of
 * cairn_execute().  result may be NULL. */
cairn_status bank_transfer(cairn_store *st, const char *from, const char *to,
                           long long amount, const char *transfer_id,
                           const cairn_retry_policy *policy,
                           cairn_exec_result *result);

/* Load account name into *acc (from its snapshot, when there is one) and
 * snapshot it when BANK_SNAPSHOT_EVERY events were folded past the last
 * one.  Returns CAIRN_OK (acc->opened says whether it exists), or the
 * errors of cairn_aggregate_load(). */
cairn_status bank_load(cairn_store *st, const char *name,
                       struct bank_account *acc);

/* Fold one account event into state (a struct bank_account).  Returns
 * CAIRN_OK, or CAIRN_CORRUPT for an event without a readable amount. */
cairn_status bank_account_apply(void *state, const cairn_event *event);

/* The integer field key of an event's JSON data into *value.  Returns 0,
 * or -1 when the field is missing or not an integer. */
int bank_event_int(const cairn_event *event, const char *key, long long *value);

/* The string field key of an event's JSON data into buf (size bytes,
 * NUL-terminated).  Returns 0, or -1 when it is missing, escaped, or
 * does not fit. */
int bank_event_string(const cairn_event *event, const char *key, char *buf,
                      size_t size);

#endif /* BANK_H */
