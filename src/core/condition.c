/*
 * condition.c -- DCB queries: what a query matches, how one is checked and
 * copied, and conditional appends (cairn_append_if).
 *
 * The matching rule lives here once.  Engines use their own indexes to
 * find candidates quickly, but the final word on whether an event matches
 * is cairn_query_match(), so the condition of an append and the filter of
 * a read can never disagree.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* True when name is one of the n strings of set (NULL entries never
 * match; a NULL set with n > 0 holds nothing). */
static bool
in_set(const char *name, const char *const *set, size_t n)
{
	size_t i;

	if (set == NULL)
		return false;
	for (i = 0; i < n; i++)
		if (set[i] != NULL && strcmp(name, set[i]) == 0)
			return true;
	return false;
}

/*
 * One item: the event's type is among the item's types (when it names
 * any) and each of the item's tags is among the event's.  An item whose
 * arrays are NULL despite their counts matches nothing rather than
 * crashing: this function is public and takes unvalidated input.
 */
static bool
item_match(const cairn_query_item *item, const cairn_event *ev)
{
	size_t i;

	if (item->ntypes > 0 && !in_set(ev->type, item->types, item->ntypes))
		return false;
	if (item->ntags > 0 && item->tags == NULL)
		return false;
	for (i = 0; i < item->ntags; i++)
		if (item->tags[i] == NULL ||
		    !in_set(item->tags[i], ev->tags, ev->ntags))
			return false;
	return true;
}

int
cairn_query_match(const cairn_query *query, const cairn_event *event)
{
	size_t i;

	if (query == NULL || event == NULL || event->type == NULL ||
	    query->items == NULL)
		return 0;
	for (i = 0; i < query->nitems; i++)
		if (item_match(&query->items[i], event))
			return 1;
	return 0;
}

/* Check the n names of one list of a query item against the rules of
 * event types (status CAIRN_INVALID_TYPE) or tags (CAIRN_INVALID_TAG). */
static cairn_status
validate_names(const char *const *names, size_t n, size_t item, bool types)
{
	const char *what = types ? "type" : "tag";
	char role[64];
	cairn_status rc;
	size_t i;

	if (n > 0 && names == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "query item %zu has %zu %ss but a NULL "
		                    "array of them",
		                    item, n, what);
	for (i = 0; i < n; i++) {
		snprintf(role, sizeof(role), "%s %zu of query item %zu", what,
		         i, item);
		if (types)
			rc = cairn__validate_name(names[i], CAIRN_TYPE_MAX,
			                          CAIRN_INVALID_TYPE, role,
			                          NULL);
		else
			rc = cairn__validate_name(names[i], CAIRN_TAG_MAX,
			                          CAIRN_INVALID_TAG, role,
			                          NULL);
		if (rc != CAIRN_OK)
			return rc;
	}
	return CAIRN_OK;
}

/*
 * A query is checked once at the edge so that engines can trust it: a
 * bounded number of items, arrays present where counts say so, and every
 * type and tag held to the rules of the events it is compared with (a
 * malformed name could never match, and is more likely a caller's bug).
 */
cairn_status
cairn__validate_query(const cairn_query *query)
{
	cairn_status rc;
	size_t i;

	if (query == NULL)
		return cairn__error(CAIRN_INVALID, 0, "query is NULL");
	if (query->nitems > CAIRN_QUERY_ITEMS_MAX)
		return cairn__error(CAIRN_INVALID, 0,
		                    "query has %zu items, over the limit of %d",
		                    query->nitems, CAIRN_QUERY_ITEMS_MAX);
	if (query->nitems > 0 && query->items == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "query has %zu items but a NULL array of "
		                    "them",
		                    query->nitems);
	for (i = 0; i < query->nitems; i++) {
		const cairn_query_item *item = &query->items[i];

		rc = validate_names(item->types, item->ntypes, i, true);
		if (rc == CAIRN_OK)
			rc = validate_names(item->tags, item->ntags, i, false);
		if (rc != CAIRN_OK)
			return rc;
	}
	return CAIRN_OK;
}

/* Add n to *acc unless that overflows. */
static bool
size_add(size_t *acc, size_t n)
{
	if (n > SIZE_MAX - *acc)
		return false;
	*acc += n;
	return true;
}

/* Add the bytes of n names' strings, terminators included, to *size. */
static bool
names_size(const char *const *names, size_t n, size_t *size)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!size_add(size, strlen(names[i]) + 1))
			return false;
	return true;
}

/* Copy n names: pointers into *slots, strings into *text; both cursors
 * move past what was written. */
static const char *const *
copy_names(const char *const *names, size_t n, const char ***slots, char **text)
{
	const char **out = *slots;
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = strlen(names[i]) + 1;
		memcpy(*text, names[i], len);
		out[i] = *text;
		*text += len;
	}
	*slots += n;
	return n > 0 ? out : NULL;
}

/*
 * One heap block holds the whole copy: the query, its items, the name
 * pointer arrays and the strings, so that the copy is freed with one
 * cairn__free() and owes nothing to the caller's memory.  The query must have
 * passed cairn__validate_query(); the sizes are still summed with
 * overflow checks, as nothing bounds how many names an item holds.
 */
cairn_status
cairn__query_copy(const cairn_query *query, cairn_query **out)
{
	size_t i, nnames = 0, text = 0, size = sizeof(cairn_query);
	cairn_query_item *items;
	const char **slots;
	cairn_query *q;
	char *p;
	bool ok = true;

	for (i = 0; ok && i < query->nitems; i++) {
		const cairn_query_item *it = &query->items[i];

		ok = size_add(&nnames, it->ntypes) &&
		     size_add(&nnames, it->ntags) &&
		     names_size(it->types, it->ntypes, &text) &&
		     names_size(it->tags, it->ntags, &text);
	}
	ok = ok && nnames <= SIZE_MAX / sizeof(char *) &&
	     size_add(&size, query->nitems * sizeof(*items)) &&
	     size_add(&size, nnames * sizeof(char *)) && size_add(&size, text);
	if (!ok)
		return cairn__error(CAIRN_NOMEM, 0,
		                    "query is too large to copy");
	q = cairn__malloc(size);
	if (q == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	items = (cairn_query_item *)(q + 1);
	slots = (const char **)(items + query->nitems);
	p = (char *)(slots + nnames);
	for (i = 0; i < query->nitems; i++) {
		const cairn_query_item *it = &query->items[i];

		items[i].ntypes = it->ntypes;
		items[i].types = copy_names(it->types, it->ntypes, &slots, &p);
		items[i].ntags = it->ntags;
		items[i].tags = copy_names(it->tags, it->ntags, &slots, &p);
	}
	q->items = query->nitems > 0 ? items : NULL;
	q->nitems = query->nitems;
	*out = q;
	return CAIRN_OK;
}

/*
 * A failed condition is reported through the fields a version conflict
 * uses, so that code written for conflicts (retry, report the stream)
 * keeps working, and conflict_position tells the two apart:
 *   conflict_position  the first event after `after` that matched;
 *   conflict_stream    that event's stream (it may be none of the
 *                      append's writes);
 *   conflict_index     0: the condition covers the whole append;
 *   conflict_expected  CAIRN_ANY: no version expectation failed;
 *   conflict_actual    0: there is no stream version to report.
 */
cairn_status
cairn__condition_failed(cairn__append_req *req, uint64_t position,
                        const char *stream, size_t stream_len)
{
	cairn_append_result *r = req->result;

	if (stream_len > CAIRN_STREAM_ID_MAX)
		stream_len = CAIRN_STREAM_ID_MAX;
	r->conflict_position = position;
	r->conflict_index = 0;
	memcpy(r->conflict_stream, stream, stream_len);
	r->conflict_stream[stream_len] = '\0';
	r->conflict_expected = CAIRN_ANY;
	r->conflict_actual = 0;
	return cairn__req_error(req, CAIRN_CONFLICT, 0,
	                        "the condition failed: event at position %llu "
	                        "in stream '%s' matches the query",
	                        (unsigned long long)position,
	                        r->conflict_stream);
}

cairn_status
cairn_append_if(cairn_store *store, const cairn_query *query, uint64_t after,
                const cairn_write *writes, size_t nwrites,
                cairn_append_result *result)
{
	if (query == NULL) {
		if (result)
			memset(result, 0, sizeof(*result));
		return cairn__error(CAIRN_INVALID, 0, "query is NULL");
	}
	return cairn__append_request(store, writes, nwrites, false, query, after,
	                             result);
}
