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
/* s (n bytes) as a JSON string literal, quotes included; bytes that are
 * not UTF-8 become U+FFFD, so the result is always valid JSON. */
int cairnd_buf_json_string(struct cairnd_buf *b, const char *s, size_t n);
/* p (n bytes) in standard base64 with padding, no quotes. */
int cairnd_buf_base64(struct cairnd_buf *b, const void *p, size_t n);
/* ns since the epoch as a quoted RFC 3339 UTC time with nanoseconds. */
int cairnd_buf_time(struct cairnd_buf *b, int64_t ns);
/* Forget the contents, keep the memory. */
void cairnd_buf_reset(struct cairnd_buf *b);
/* Free the memory (the struct itself is the caller's). */
void cairnd_buf_free(struct cairnd_buf *b);

/* Decode standard base64 (padding required, canonical only) into a fresh
 * buffer *out of *outlen bytes (NULL for empty input).  Returns 0, -1 for
 * text that is not base64, -2 when out of memory. */
int cairnd_base64_decode(const char *s, size_t n, unsigned char **out,
                         size_t *outlen);

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
size_t cairnd_utf8_seq_len(const unsigned char *p, size_t n);

/* 1 when p (n bytes) is one JSON value cairnd can show inline: valid
 * JSON (RFC 8259, UTF-8), no whitespace before or after it and no line
 * break anywhere (so it fits one NDJSON line and one SSE data: line).
 * Else 0. */
int cairnd_json_inline(const void *p, size_t n);

/* One event as one line of JSON (no newline), as documented in
 * docs/http-api.md. */
int cairnd_event_json(struct cairnd_buf *b, const cairn_event *e);

#endif /* CAIRND_BUF_H */
