/*
 * store.c -- opening and closing stores; options; statistics.
 */
#include "core.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Renew long reads' snapshots this often unless told otherwise. */
#define DEFAULT_READ_RENEW_EVERY 4096

void
cairn_options_init(cairn_options *opts)
{
	if (opts == NULL)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->version = CAIRN_OPTIONS_VERSION;
	opts->max_event_size = CAIRN_DEFAULT_MAX_EVENT_SIZE;
	opts->durability = CAIRN_DURABLE;
	opts->read_renew_every = DEFAULT_READ_RENEW_EVERY;
}

/* Copy the caller's options over the defaults and check them. */
static cairn_status
resolve_options(const cairn_options *given, cairn_options *out)
{
	cairn_options_init(out);
	if (given == NULL)
		return CAIRN_OK;
	if (given->version == 0 || given->version > CAIRN_OPTIONS_VERSION)
		return cairn__error(CAIRN_INVALID, 0,
		                    "options version %u is not known (this "
		                    "library has %d); use cairn_options_init()",
		                    given->version, CAIRN_OPTIONS_VERSION);
	if (given->durability != CAIRN_DURABLE &&
	    given->durability != CAIRN_RELAXED)
		return cairn__error(CAIRN_INVALID, 0,
		                    "durability %d is not known",
		                    (int)given->durability);
	if (given->max_event_size)
		out->max_event_size = given->max_event_size;
	out->durability = given->durability;
	out->read_only = given->read_only;
	out->initial_map_size = given->initial_map_size;
	if (given->read_renew_every)
		out->read_renew_every = given->read_renew_every;
	return CAIRN_OK;
}

/*
 * A URI is "scheme:rest", the scheme being letters, digits, '+', '-' and
 * '.' after a first letter (RFC 3986 §3.1).  What follows the colon is the
 * engine's to interpret.
 */
static cairn_status
parse_uri(const char *uri, const cairn__backend_ops **ops, const char **rest)
{
	size_t i;

	if (uri[0] == '\0')
		return cairn__error(CAIRN_INVALID_URI, 0, "store URI is empty");
	for (i = 0; uri[i] && uri[i] != ':'; i++) {
		char c = uri[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (i > 0 && ((c >= '0' && c <= '9') || c == '+' ||
		                    c == '-' || c == '.'));
		if (!ok)
			return cairn__error(CAIRN_INVALID_URI, 0,
			                    "store URI '%.300s' does not start "
			                    "with a scheme such as 'lmdb:'",
			                    uri);
	}
	if (uri[i] != ':')
		return cairn__error(CAIRN_INVALID_URI, 0,
		                    "store URI '%.300s' has no scheme; "
		                    "write e.g. 'lmdb:%.300s' or 'memory:'",
		                    uri, uri);
	*ops = cairn__backend_find(uri, i);
	if (*ops == NULL)
		return cairn__error(CAIRN_INVALID_URI, 0,
		                    "store URI scheme '%.*s' is not known "
		                    "(known: memory, lmdb, sqlite, postgres)",
		                    (int)(i > 64 ? 64 : i), uri);
	*rest = uri + i + 1;
	if (strlen(*rest) >= PATH_MAX)
		return cairn__error(CAIRN_INVALID_URI, 0,
		                    "store URI is longer than %d bytes",
		                    PATH_MAX);
	return CAIRN_OK;
}

/* Engines without a notifier of their own get the core's, private to
 * the process: every commit of such an engine goes through this handle
 * (memory), so nothing else could wake a subscriber anyway. */
static cairn_status
store_notifier_init(cairn_store *st)
{
	if (st->ops->notifier)
		return CAIRN_OK;
	return cairn__notify_open(NULL, false, &st->own_notify);
}

cairn__notify *
cairn__store_notifier(cairn_store *st)
{
	return st->own_notify ? st->own_notify : st->ops->notifier(st->be);
}

cairn_status
cairn_open(const char *uri, const cairn_options *opts, cairn_store **out)
{
	const cairn__backend_ops *ops = NULL;
	const char *rest = NULL;
	cairn_store *st;
	cairn_status rc;

	if (out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "out is NULL");
	*out = NULL;
	if (uri == NULL)
		return cairn__error(CAIRN_INVALID, 0, "store URI is NULL");
	rc = parse_uri(uri, &ops, &rest);
	if (rc != CAIRN_OK)
		return rc;
	st = cairn__calloc(1, sizeof(*st));
	if (st == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	rc = resolve_options(opts, &st->opts);
	if (rc == CAIRN_OK)
		rc = ops->open(rest, &st->opts, &st->be);
	if (rc != CAIRN_OK) {
		cairn__free(st);
		return rc;
	}
	st->ops = ops;
	rc = store_notifier_init(st);
	if (rc != CAIRN_OK) {
		ops->close(st->be);
		cairn__free(st);
		return rc;
	}
	*out = st;
	cairn__error_clear();
	return CAIRN_OK;
}

cairn_status
cairn__store_new(const cairn__backend_ops *ops, cairn__backend *be,
                 const cairn_options *opts, cairn_store **out)
{
	cairn_store *st;
	cairn_status rc;

	st = cairn__calloc(1, sizeof(*st));
	if (st == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	rc = resolve_options(opts, &st->opts);
	if (rc != CAIRN_OK) {
		cairn__free(st);
		return rc;
	}
	st->ops = ops;
	st->be = be;
	rc = store_notifier_init(st);
	if (rc != CAIRN_OK) {
		cairn__free(st);
		return rc;
	}
	*out = st;
	return CAIRN_OK;
}

void
cairn_close(cairn_store *store)
{
	if (store == NULL)
		return;
	store->ops->close(store->be);
	cairn__notify_close(store->own_notify);
	cairn__free(store);
}

const char *
cairn_store_backend(const cairn_store *store)
{
	return store ? store->ops->scheme : "";
}

cairn_status
cairn_stats_get(cairn_store *store, cairn_stats *stats)
{
	if (store == NULL || stats == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	memset(stats, 0, sizeof(*stats));
	return store->ops->stats(store->be, stats);
}

int64_t
cairn__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
