/*
 * bank.c -- the bank's decisions: opening an account, a transfer as a
 * cairn command, and loading an account as an aggregate with snapshots.
 * See README.md for a walk-through.
 */
#include "bank.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for one event's JSON: two escaped names, an id and an amount. */
#define BANK_JSON_MAX (4 * CAIRN_STREAM_ID_MAX + BANK_TRANSFER_ID_MAX + 64)

/* ------------------------------------------------------------------------
 * Event data: a few flat JSON fields, written and read by hand
 * ------------------------------------------------------------------------ */

/* Append s to buf at *at as a JSON string (quotes and backslashes
 * escaped; stream ids and our ids hold no control characters).  Returns
 * 0, or -1 when it does not fit. */
static int
json_put_string(char *buf, size_t size, size_t *at, const char *s)
{
	size_t i = *at;

	if (i + 1 >= size)
		return -1;
	buf[i++] = '"';
	for (; *s != '\0'; s++) {
		if (i + 3 >= size)
			return -1;
		if (*s == '"' || *s == '\\')
			buf[i++] = '\\';
		buf[i++] = *s;
	}
	buf[i++] = '"';
	buf[i] = '\0';
	*at = i;
	return 0;
}

/* Append formatted text to buf at *at.  Returns 0, or -1 when it does not
 * fit. */
static int
json_put_raw(char *buf, size_t size, size_t *at, const char *text)
{
	size_t len = strlen(text);

	if (*at + len >= size)
		return -1;
	memcpy(buf + *at, text, len + 1);
	*at += len;
	return 0;
}

/* {"amount":N,"transfer":"ID","<peer_key>":"PEER"} into buf. */
static int
transfer_json(char *buf, size_t size, long long amount, const char *id,
              const char *peer_key, const char *peer)
{
	char head[64];
	size_t at = 0;

	snprintf(head, sizeof head, "{\"amount\":%lld,\"transfer\":", amount);
	if (json_put_raw(buf, size, &at, head) != 0 ||
	    json_put_string(buf, size, &at, id) != 0 ||
	    json_put_raw(buf, size, &at, ",") != 0 ||
	    json_put_string(buf, size, &at, peer_key) != 0 ||
	    json_put_raw(buf, size, &at, ":") != 0 ||
	    json_put_string(buf, size, &at, peer) != 0 ||
	    json_put_raw(buf, size, &at, "}") != 0)
		return -1;
	return 0;
}

/* Where the value of "key": starts in data (len bytes), or NULL.  Our
 * events are flat objects that we wrote ourselves, so a textual search
 * for the quoted key followed by a colon is exact enough. */
static const char *
json_find(const void *data, size_t len, const char *key)
{
	const char *p = data;
	size_t klen = strlen(key);

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i + klen + 3 <= len; i++) {
		if (p[i] != '"' || memcmp(p + i + 1, key, klen) != 0 ||
		    p[i + 1 + klen] != '"' || p[i + 2 + klen] != ':')
			continue;
		return p + i + klen + 3;
	}
	return NULL;
}

static int
json_int(const void *data, size_t len, const char *key, long long *value)
{
	const char *v = json_find(data, len, key);
	const char *end = (const char *)data + len;
	long long x = 0;
	int neg = 0, digits = 0;

	if (v == NULL)
		return -1;
	if (v < end && *v == '-') {
		neg = 1;
		v++;
	}
	for (; v < end && *v >= '0' && *v <= '9'; v++, digits++) {
		if (x > (LLONG_MAX - (*v - '0')) / 10)
			return -1;
		x = x * 10 + (*v - '0');
	}
	if (digits == 0)
		return -1;
	*value = neg ? -x : x;
	return 0;
}

int
bank_event_int(const cairn_event *event, const char *key, long long *value)
{
	return json_int(event->data, event->data_len, key, value);
}

int
bank_event_string(const cairn_event *event, const char *key, char *buf,
                  size_t size)
{
	const char *v = json_find(event->data, event->data_len, key);
	const char *end = (const char *)event->data + event->data_len;
	size_t n = 0;

	if (v == NULL || v >= end || *v != '"')
		return -1;
	for (v++; v < end && *v != '"'; v++) {
		if (*v == '\\' || n + 1 >= size)
			return -1;
		buf[n++] = *v;
	}
	if (v >= end)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------------------
 * Accounts
 * ------------------------------------------------------------------------ */

cairn_status
bank_stream_name(const char *name, char *buf, size_t size)
{
	int n;

	if (name == NULL || name[0] == '\0' || strlen(name) > BANK_NAME_MAX)
		return CAIRN_INVALID_STREAM;
	n = snprintf(buf, size, "%s%s", BANK_ACCOUNT_PREFIX, name);
	if (n < 0 || (size_t)n >= size)
		return CAIRN_INVALID_STREAM;
	return cairn_validate_stream_id(buf);
}

cairn_status
bank_account_apply(void *state, const cairn_event *e)
{
	struct bank_account *acc = state;
	long long amount;

	acc->folded++;
	if (bank_event_int(e, "amount", &amount) != 0)
		return CAIRN_CORRUPT;
	if (strcmp(e->type, "AccountOpened") == 0) {
		acc->opened = 1;
		acc->balance += amount;
	} else if (strcmp(e->type, "MoneyDeposited") == 0) {
		acc->balance += amount;
	} else if (strcmp(e->type, "MoneyWithdrawn") == 0) {
		acc->balance -= amount;
	}
	/* other types are not ours to judge: an account may learn new
	 * events later, and old code must still load it */
	return CAIRN_OK;
}

cairn_status
bank_open(cairn_store *st, const char *name, long long amount)
{
	char stream[CAIRN_STREAM_ID_MAX + 1];
	char data[64];
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_status rc;

	if (amount < 0)
		return CAIRN_INVALID;
	rc = bank_stream_name(name, stream, sizeof stream);
	if (rc != CAIRN_OK)
		return rc;
	snprintf(data, sizeof data, "{\"amount\":%lld}", amount);
	ev.type = "AccountOpened";
	ev.data = data;
	ev.data_len = strlen(data);
	/* CAIRN_NO_STREAM: an account is opened once; a second opening is
	 * a conflict and writes nothing */
	return cairn_append(st, stream, CAIRN_NO_STREAM, &ev, 1, NULL);
}

/* A snapshot of an account: {"opened":0|1,"balance":N}. */
static cairn_status
account_serialize(const void *state, void **blob, size_t *len)
{
	const struct bank_account *acc = state;
	char *buf = malloc(64);
	int n;

	if (buf == NULL)
		return CAIRN_NOMEM;
	n = snprintf(buf, 64, "{\"opened\":%d,\"balance\":%lld}",
	             acc->opened ? 1 : 0, acc->balance);
	*blob = buf;
	*len = (size_t)n;
	return CAIRN_OK;
}

static cairn_status
account_restore(void *state, const void *blob, size_t len)
{
	struct bank_account *acc = state;
	long long opened, balance;

	if (json_int(blob, len, "opened", &opened) != 0 ||
	    json_int(blob, len, "balance", &balance) != 0)
		return CAIRN_CORRUPT; /* the load folds from the start */
	acc->opened = opened != 0;
	acc->balance = balance;
	return CAIRN_OK;
}

static const cairn_aggregate_type account_type = {
        BANK_SNAPSHOT_SCHEMA, sizeof(struct bank_account), bank_account_apply,
        account_restore, account_serialize};

cairn_status
bank_load(cairn_store *st, const char *name, struct bank_account *acc)
{
	char stream[CAIRN_STREAM_ID_MAX + 1];
	uint64_t version = 0;
	cairn_status rc;

	rc = bank_stream_name(name, stream, sizeof stream);
	if (rc != CAIRN_OK)
		return rc;
	rc = cairn_aggregate_load(st, stream, &account_type, acc, &version);
	if (rc != CAIRN_OK)
		return rc;
	/* A snapshot only saves work: failing to write one is not an error
	 * of the load, the next load simply folds a little more. */
	if (acc->folded >= BANK_SNAPSHOT_EVERY)
		(void)cairn_aggregate_snapshot(st, stream, &account_type, acc,
		                               version);
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------
 * The transfer command
 * ------------------------------------------------------------------------ */

struct transfer {
	const char *from, *to; /* account names */
	char from_stream[CAIRN_STREAM_ID_MAX + 1];
	char to_stream[CAIRN_STREAM_ID_MAX + 1];
	long long amount;
	const char *id; /* the transfer id */
	/* the events' data, built once: it does not depend on the state */
	char withdrawn[BANK_JSON_MAX];
	char deposited[BANK_JSON_MAX];
	/* the state, rebuilt from the events on every attempt */
	struct bank_account payer, payee;
	int booked; /* the payer's stream holds this transfer already */
};

static cairn_status
transfer_reset(void *ctx)
{
	struct transfer *t = ctx;

	memset(&t->payer, 0, sizeof t->payer);
	memset(&t->payee, 0, sizeof t->payee);
	t->booked = 0;
	return CAIRN_OK;
}

static cairn_status
transfer_apply(void *ctx, const cairn_event *e)
{
	struct transfer *t = ctx;

	char id[BANK_TRANSFER_ID_MAX + 1];

	if (strcmp(e->stream, t->from_stream) != 0)
		return bank_account_apply(&t->payee, e);
	if (strcmp(e->type, "MoneyWithdrawn") == 0 &&
	    bank_event_string(e, "transfer", id, sizeof id) == 0 &&
	    strcmp(id, t->id) == 0)
		t->booked = 1;
	return bank_account_apply(&t->payer, e);
}

static cairn_status
transfer_handle(void *ctx, cairn_decision *d)
{
	struct transfer *t = ctx;
	cairn_new_event out = CAIRN_NEW_EVENT_INIT, in = CAIRN_NEW_EVENT_INIT;
	cairn_status rc;

	/* A transfer sent twice (a client retrying after a timeout) is
	 * booked once: the second decides that there is nothing to do. */
	if (t->booked)
		return CAIRN_OK;
	if (!t->payer.opened)
		return cairn_decision_reject(d, "no account %s", t->from);
	if (!t->payee.opened)
		return cairn_decision_reject(d, "no account %s", t->to);
	if (t->payer.balance < t->amount)
		return cairn_decision_reject(
		        d,
		        "insufficient funds in %s: balance %lld, transfer %lld",
		        t->from, t->payer.balance, t->amount);
	out.type = "MoneyWithdrawn";
	out.data = t->withdrawn;
	out.data_len = strlen(t->withdrawn);
	in.type = "MoneyDeposited";
	in.data = t->deposited;
	in.data_len = strlen(t->deposited);
	rc = cairn_decision_append(d, t->from_stream, &out);
	if (rc == CAIRN_OK)
		rc = cairn_decision_append(d, t->to_stream, &in);
	return rc;
}

cairn_status
bank_transfer(cairn_store *st, const char *from, const char *to,
              long long amount, const char *transfer_id,
              const cairn_retry_policy *policy, cairn_exec_result *result)
{
	char made_id[CAIRN_UUID_STR_LEN + 1];
	cairn_exec_result local;
	struct transfer *t;
	cairn_status rc;

	if (result == NULL)
		result = &local;
	memset(result, 0, sizeof *result);
	if (amount <= 0 || from == NULL || to == NULL || strcmp(from, to) == 0)
		return CAIRN_INVALID;
	if (transfer_id == NULL) {
		cairn_uuid id;

		rc = cairn_uuid_generate(&id);
		if (rc != CAIRN_OK)
			return rc;
		cairn_uuid_format(&id, made_id);
		transfer_id = made_id;
	}
	if (strlen(transfer_id) > BANK_TRANSFER_ID_MAX)
		return CAIRN_INVALID;
	/* a few KiB: off the stack, threads may have small ones */
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return CAIRN_NOMEM;
	t->from = from;
	t->to = to;
	t->amount = amount;
	t->id = transfer_id;
	rc = bank_stream_name(from, t->from_stream, sizeof t->from_stream);
	if (rc == CAIRN_OK)
		rc = bank_stream_name(to, t->to_stream, sizeof t->to_stream);
	if (rc == CAIRN_OK &&
	    (transfer_json(t->withdrawn, sizeof t->withdrawn, amount,
	                   transfer_id, "to", to) != 0 ||
	     transfer_json(t->deposited, sizeof t->deposited, amount,
	                   transfer_id, "from", from) != 0))
		rc = CAIRN_INVALID;
	if (rc == CAIRN_OK) {
		const char *streams[2] = {t->from_stream, t->to_stream};
		cairn_command cmd = {
		        t,    streams,        2, transfer_reset, transfer_apply,
		        NULL, transfer_handle};

		rc = cairn_execute(st, &cmd, policy, result);
	}
	free(t);
	return rc;
}
