/*
 * event_copy.c -- deep copies of events.
 *
 * An event an iterator hands out is borrowed until the iterator's next
 * step; whoever keeps one longer (the tracking store, the test helpers,
 * a subscription's batch) copies it here, so that the layout of a copy
 * is defined once.
 */
#include "core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t
align_up(size_t n)
{
	const size_t a = sizeof(void *);

	return (n + a - 1) / a * a;
}

/* Add n to *acc; false on overflow. */
static bool
size_add(size_t *acc, size_t n)
{
	if (n > SIZE_MAX - *acc)
		return false;
	*acc += n;
	return true;
}

size_t
cairn__event_copy_size(const cairn_event *e)
{
	size_t size = 0, i;
	bool ok;

	ok = size_add(&size, e->ntags * sizeof(char *)) &&
	     size_add(&size, e->stream_len + 1) &&
	     size_add(&size, e->type_len + 1) && size_add(&size, e->data_len) &&
	     size_add(&size, e->metadata_len);
	for (i = 0; ok && i < e->ntags; i++)
		ok = size_add(&size, strlen(e->tags[i]) + 1);
	return ok ? size : SIZE_MAX;
}

void
cairn__event_copy(cairn_event *dst, const cairn_event *src, void *buf)
{
	const char **tags = buf;
	char *p = (char *)(tags + src->ntags);
	size_t i, n;

	*dst = *src;
	memcpy(p, src->stream, src->stream_len);
	p[src->stream_len] = '\0';
	dst->stream = p;
	p += src->stream_len + 1;
	memcpy(p, src->type, src->type_len);
	p[src->type_len] = '\0';
	dst->type = p;
	p += src->type_len + 1;
	dst->data = src->data_len ? memcpy(p, src->data, src->data_len) : p;
	p += src->data_len;
	dst->metadata = src->metadata_len
	                        ? memcpy(p, src->metadata, src->metadata_len)
	                        : p;
	p += src->metadata_len;
	for (i = 0; i < src->ntags; i++) {
		n = strlen(src->tags[i]) + 1;
		tags[i] = memcpy(p, src->tags[i], n);
		p += n;
	}
	dst->tags = src->ntags ? tags : NULL;
}

cairn_event *
cairn__event_dup(const cairn_event *e)
{
	size_t head = align_up(sizeof(cairn_event)), size;
	cairn_event *c;

	size = cairn__event_copy_size(e);
	if (size == SIZE_MAX || size > SIZE_MAX - head ||
	    (c = cairn__malloc(head + size)) == NULL)
		return NULL;
	cairn__event_copy(c, e, (char *)c + head);
	return c;
}
