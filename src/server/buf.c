/*
 * buf.c -- the growable buffer, numbers, and the JSON text writers of
 * src/common/json_text.h adapted to it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json_text.h"

#define BUF_MIN_CAP 256

/* Make room for n more bytes, doubling so that appends are amortised
 * O(1).  Returns 0 or -1 (out of memory, or a size that would wrap). */
static int
reserve(struct cairnd_buf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if (n > SIZE_MAX - b->len)
		return -1;
	want = b->len + n;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

int
cairnd_buf_put(struct cairnd_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (reserve(b, n) != 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
cairnd_buf_str(struct cairnd_buf *b, const char *s)
{
	return cairnd_buf_put(b, s, strlen(s));
}

int
cairnd_buf_u64(struct cairnd_buf *b, uint64_t v)
{
	char tmp[24];
	int len = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

	return cairnd_buf_put(b, tmp, (size_t)len);
}

int
cairnd_buf_i64(struct cairnd_buf *b, int64_t v)
{
	char tmp[24];
	int len = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	return cairnd_buf_put(b, tmp, (size_t)len);
}

size_t
cairnd_buf_drain(const struct cairnd_buf *b, size_t *off, char *dst,
                 size_t max)
{
	size_t take = b->len - *off;

	if (take > max)
		take = max;
	memcpy(dst, b->p + *off, take);
	*off += take;
	return take;
}

void
cairnd_buf_reset(struct cairnd_buf *b)
{
	b->len = 0;
}

void
cairnd_buf_free(struct cairnd_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

/* The common JSON text writers (src/common/json_text.c) write through
 * this. */
static int
buf_sink(void *sink, const void *p, size_t n)
{
	return cairnd_buf_put(sink, p, n);
}

int
cairnd_buf_json_string(struct cairnd_buf *b, const char *s, size_t n)
{
	return ct_json_string(buf_sink, b, s, n);
}

int
cairnd_buf_base64(struct cairnd_buf *b, const void *p, size_t n)
{
	return ct_base64(buf_sink, b, p, n);
}

int
cairnd_buf_time(struct cairnd_buf *b, int64_t ns)
{
	return ct_json_time(buf_sink, b, ns);
}
