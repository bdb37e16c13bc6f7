/*
 * cursors.c -- durable subscriptions' cursors: list, read, reset, delete.
 *
 * The engine stores them (cursor_* in backend.h); this file checks names
 * and read-only mode at the edge and says what went wrong.
 */
#include "core/core.h"

#include <string.h>

cairn_status
cairn__cursor_name(const char *name, size_t *len)
{
	return cairn__validate_name(name, CAIRN_SUB_NAME_MAX, CAIRN_INVALID,
	                            "subscription name", len);
}

/* The store has cursors: CAIRN_OK, else CAIRN_UNSUPPORTED with why. */
static cairn_status
cursors_supported(cairn_store *st)
{
	if (st->ops->cursor_get && st->ops->cursor_put &&
	    st->ops->cursor_delete && st->ops->cursor_list)
		return CAIRN_OK;
	return cairn__error(CAIRN_UNSUPPORTED, 0,
	                    "the %s backend keeps no durable subscriptions",
	                    st->ops->scheme);
}

static cairn_status
writable(cairn_store *st, const char *what)
{
	if (!st->opts.read_only)
		return CAIRN_OK;
	return cairn__error(CAIRN_INVALID, 0,
	                    "cannot %s: the store is open read-only", what);
}

cairn_status
cairn__cursor_put(cairn_store *st, const char *name, uint64_t expect,
                  uint64_t position)
{
	cairn_status rc;
	size_t len;

	rc = cairn__cursor_name(name, &len);
	if (rc == CAIRN_OK)
		rc = cursors_supported(st);
	if (rc == CAIRN_OK)
		rc = writable(st, "move a subscription's cursor");
	if (rc != CAIRN_OK)
		return rc;
	rc = st->ops->cursor_put(st->be, name, len, expect, position);
	if (rc == CAIRN_CONFLICT)
		cairn__error(CAIRN_CONFLICT, 0,
		             "subscription '%s': its cursor was moved, reset "
		             "or deleted by someone else",
		             name);
	return rc;
}

cairn_status
cairn_subs_get(cairn_store *st, const char *name, cairn_sub_info *info)
{
	cairn_status rc;
	size_t len;

	if (st == NULL || info == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	rc = cairn__cursor_name(name, &len);
	if (rc == CAIRN_OK)
		rc = cursors_supported(st);
	if (rc != CAIRN_OK)
		return rc;
	memset(info, 0, sizeof(*info));
	rc = st->ops->cursor_get(st->be, name, len, info);
	if (rc == CAIRN_OK) {
		info->name = name;
		cairn__error_clear();
	} else if (rc == CAIRN_NOT_FOUND) {
		cairn__error(rc, 0, "no subscription is named '%s'", name);
	}
	return rc;
}

cairn_status
cairn_subs_reset(cairn_store *st, const char *name, uint64_t position)
{
	uint64_t head;
	cairn_status rc;

	if (st == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL store");
	rc = st->ops->head(st->be, &head);
	if (rc != CAIRN_OK)
		return rc;
	if (position > head)
		return cairn__error(CAIRN_INVALID, 0,
		                    "cannot reset subscription '%.255s' to "
		                    "position %llu: the head is %llu",
		                    name ? name : "",
		                    (unsigned long long)position,
		                    (unsigned long long)head);
	rc = cairn__cursor_put(st, name, CAIRN__CURSOR_ANY, position);
	if (rc == CAIRN_OK)
		cairn__error_clear();
	return rc;
}

cairn_status
cairn_subs_delete(cairn_store *st, const char *name)
{
	cairn_status rc;
	size_t len;

	if (st == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL store");
	rc = cairn__cursor_name(name, &len);
	if (rc == CAIRN_OK)
		rc = cursors_supported(st);
	if (rc == CAIRN_OK)
		rc = writable(st, "delete a subscription");
	if (rc != CAIRN_OK)
		return rc;
	rc = st->ops->cursor_delete(st->be, name, len);
	if (rc == CAIRN_OK)
		cairn__error_clear();
	else if (rc == CAIRN_NOT_FOUND)
		cairn__error(rc, 0, "no subscription is named '%s'", name);
	return rc;
}

cairn_status
cairn_subs_list(cairn_store *st, cairn_sub_list_fn fn, void *ctx)
{
	cairn_status rc;

	if (st == NULL || fn == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	rc = cursors_supported(st);
	if (rc != CAIRN_OK)
		return rc;
	rc = st->ops->cursor_list(st->be, fn, ctx);
	if (rc == CAIRN_OK)
		cairn__error_clear();
	return rc;
}
