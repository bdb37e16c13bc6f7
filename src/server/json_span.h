/*
 * json_span.h -- find the raw text of a value inside JSON text that
 * jansson has already accepted (so these only find boundaries and never
 * validate), and copy a value's text without the whitespace between its
 * tokens.  This is how a payload sent as JSON is stored byte for byte
 * (jansson would re-print numbers: 0.1 as 0.10000000000000001).
 */
#ifndef CAIRND_JSON_SPAN_H
#define CAIRND_JSON_SPAN_H

#include <stddef.h>

struct cairnd_span {
	const char *p;
	size_t n;
};

/* The value of member key of the object text obj.  Returns 0, or -1 when
 * obj is not an object or has no such member.  Keys written with escapes
 * ("d\u0061ta") are matched by what they spell. */
int cairnd_span_member(struct cairnd_span obj, const char *key,
                       struct cairnd_span *out);

/* Iteration over the elements of the array text arr. */
struct cairnd_span_iter {
	struct cairnd_span arr;
	size_t i;
	int started;
};

/* Start at arr; -1 when it is not an array. */
int cairnd_span_iter_init(struct cairnd_span_iter *it, struct cairnd_span arr);
/* The next element into *out: 1, or 0 at the end, -1 on broken text. */
int cairnd_span_iter_next(struct cairnd_span_iter *it, struct cairnd_span *out);

/* Copy v without whitespace outside strings into out (at least v.n
 * bytes); returns the length written. */
size_t cairnd_span_minify(struct cairnd_span v, char *out);

#endif /* CAIRND_JSON_SPAN_H */
