/*
 * buf.h -- a growable byte buffer and the JSON text writers cairnd builds
 * its answers with.
 *
 * Every writer appends to the buffer and returns 0, or -1 when memory ran
 * out (the buffer then keeps what it held before the call, possibly with
 * part of the failed write: reset it before reuse).  Nothing here knows
 * HTTP; the fuzz target links it without libmicrohttpd.
 */
#ifndef CAIRND_BUF_H
#define CAIRND_BUF_H

#include <stddef.h>
#include <stdint.h>

#include <cairn.h>

struct cairnd_buf {
	char *p;
	size_t len;
	size_t cap;
};

#define CAIRND_BUF_INIT                                                        \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

int cairnd_buf_put(struct cairnd_buf *b, const void *p, size_t n);
int cairnd_buf_str(struct cairnd_buf *b, const char *s);
int cairnd_buf_u64(struct cairnd_buf *b, uint64_t v);
int cairnd_buf_i64(struct cairnd_buf *b, int64_t v);
/* The writers of src/common/json_text.h into b: s (n bytes) as a JSON
 * string literal (ct_json_string), p in padded base64 without quotes
 * (ct_base64), ns since the epoch as a quoted RFC 3339 UTC time with
 * nanoseconds (ct_json_time). */
int cairnd_buf_json_string(struct cairnd_buf *b, const char *s, size_t n);
int cairnd_buf_base64(struct cairnd_buf *b, const void *p, size_t n);
int cairnd_buf_time(struct cairnd_buf *b, int64_t ns);
/* Copy what b holds from *off on into dst (at most max bytes), moving
 * *off past it; returns the bytes copied (0 when *off is at the end).
 * How a streamed response hands its buffer to libmicrohttpd. */
size_t cairnd_buf_drain(const struct cairnd_buf *b, size_t *off, char *dst,
                        size_t max);
/* Forget the contents, keep the memory. */
void cairnd_buf_reset(struct cairnd_buf *b);
/* Free the memory (the struct itself is the caller's). */
void cairnd_buf_free(struct cairnd_buf *b);

/* One event as one line of JSON (no newline), as documented in
 * docs/http-api.md (json_event.c).  A payload is shown inline when
 * ct_json_embeddable() says so, else as base64. */
int cairnd_event_json(struct cairnd_buf *b, const cairn_event *e);

#endif /* CAIRND_BUF_H */
