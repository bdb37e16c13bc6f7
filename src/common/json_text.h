/*
 * json_text.h -- JSON at the level of bytes, shared by the `cairn` command
 * line tool (src/cli) and the cairnd server (src/server): string escaping,
 * base64, RFC 3339 times, the "one embeddable JSON value" test, and the
 * raw text spans of members and elements of JSON text.
 *
 * Both programs show an event's payload as JSON only when a client can
 * take that very text back byte for byte, and both take payloads sent as
 * JSON from the raw text rather than from jansson's tree (which re-prints
 * numbers: 0.1 as 0.10000000000000001).  Those rules must be the same in
 * both, so they live here once.
 *
 * This is an internal static library (cairn_common) linked into the two
 * programs and the fuzz targets.  It is not part of libcairn: nothing
 * here is in include/cairn.h or exported from the shared library.  Names
 * are ct_* ("cairn text").
 *
 * Threads: every function is reentrant; none keeps state.
 */
#ifndef CAIRN_COMMON_JSON_TEXT_H
#define CAIRN_COMMON_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The jansson flags of every parse of JSON text that may carry a payload
 * (an NDJSON line of import, a request body of cairnd), in one place:
 * ct_json_embeddable() accepts a payload only when a parse with these
 * very flags takes it back.  Duplicate keys are refused so that a
 * member's raw text is unambiguous. */
#define CT_JSON_PARSE_FLAGS JSON_REJECT_DUPLICATES

/* Where the writers below put their text: append n bytes from p to sink.
 * Returns 0, or nonzero to stop (the writer then returns -1).  The CLI
 * passes its checked stdout buffer, cairnd its growable buffer. */
typedef int ct_write_fn(void *sink, const void *p, size_t n);

/* ---- strings (json_text.c) --------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n > 0 bytes left; RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF), or 0 when the
 * bytes there are not one. */
size_t ct_utf8_seq_len(const unsigned char *p, size_t n);

/* Write s (n bytes) as a JSON string literal, quotes included.  Bytes that
 * are not valid UTF-8 become U+FFFD, so the result is always valid JSON;
 * U+2028 and U+2029 are escaped too, so that a line of it is also safe
 * as JavaScript.  Returns 0 or -1 (write failed). */
int ct_json_string(ct_write_fn *write, void *sink, const char *s, size_t n);

/* ---- base64 (json_text.c) ---------------------------------------------- */

/* Write p (n bytes) in standard base64 (RFC 4648, padded), without
 * quotes.  Returns 0 or -1 (write failed). */
int ct_base64(ct_write_fn *write, void *sink, const void *p, size_t n);

/* Decode strict base64: padding required, and only the canonical text
 * (padding bits zero), so that text and bytes map one to one.  *out is
 * malloc'd (caller frees; NULL when the result is empty).  Returns 0, -1
 * for text that is not such base64, -2 when out of memory. */
int ct_base64_decode(const char *s, size_t n, unsigned char **out,
                     size_t *outlen);

/* ---- times (json_text.c) ----------------------------------------------- */

/* Write ns since the epoch as a quoted RFC 3339 UTC time with nanoseconds,
 * "2026-11-23T11:38:28.123456789Z" (floored, so times before 1970 are
 * right), or null when the year cannot be shown.  Returns 0 or -1. */
int ct_json_time(ct_write_fn *write, void *sink, int64_t ns);

/* ---- embeddable payloads (json_embed.c) -------------------------------- */

/* Nonzero when p (n bytes) is exactly one JSON value that can stand as a
 * member's value in one line of JSON and be taken back byte for byte: no
 * JSON whitespace before or after it, no CR or LF anywhere (it fits one
 * NDJSON line and one SSE data: line), and accepted inside an array by
 * jansson with CT_JSON_PARSE_FLAGS (so: UTF-8, no duplicate keys, no
 * \u0000, integers that fit 64 bits, nesting jansson takes).  Else 0,
 * also when memory ran out.  Cheap for the common payload: jansson is
 * only asked about what a scanner of its own cannot settle. */
int ct_json_embeddable(const void *p, size_t n);

/* The span of p (n bytes) without JSON whitespace at either end
 * (json_text.c). */
void ct_json_trim(const char *p, size_t n, const char **start, size_t *len);

/* ---- raw spans (json_span.c) ------------------------------------------- */

/* These run over text jansson has already accepted: they only find
 * boundaries, they do not validate. */

struct ct_span {
	const char *p;
	size_t n;
};

/* The raw text of the value of top-level member key of the object text
 * obj.  Returns 0 and *out, or -1 when obj is not an object or has no such
 * member.  Keys written with escapes ("d\u0061ta") are matched by what
 * they spell. */
int ct_span_member(struct ct_span obj, const char *key, struct ct_span *out);

/* Iteration over the elements of the array text arr. */
struct ct_span_iter {
	struct ct_span arr;
	size_t i;
	int started;
};

/* Start at arr; -1 when it is not an array. */
int ct_span_iter_init(struct ct_span_iter *it, struct ct_span arr);
/* The next element into *out: 1, or 0 at the end, -1 on broken text. */
int ct_span_iter_next(struct ct_span_iter *it, struct ct_span *out);

/* Copy v without the whitespace outside strings into out (at least v.n
 * bytes); returns the length written. */
size_t ct_span_minify(struct ct_span v, char *out);

#endif /* CAIRN_COMMON_JSON_TEXT_H */
