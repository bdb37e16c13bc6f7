/*
 * fuzz_json_text.c -- the JSON text code the CLI and cairnd share
 * (src/common/json_text.h), against jansson as the reference.
 *
 * For every input:
 *   - ct_json_embeddable() says exactly what its contract says: no
 *     whitespace around the value, no CR, LF or NUL, and jansson with
 *     CT_JSON_PARSE_FLAGS takes "[" input "]" as an array of one value.
 *     Its fast scanner must never disagree with that.
 *   - ct_base64() then ct_base64_decode() gives the input back; the input
 *     read as base64 text decodes only when it is the canonical encoding
 *     of what it decodes to.
 *   - ct_json_string() writes a JSON string jansson parses; for valid
 *     UTF-8 input, to the very input.
 *   - when jansson takes the input as an object (or array), every member
 *     (element) found by ct_span_member() (ct_span_iter_*) is a text that
 *     parses to the member (element) of jansson's tree, and minified it
 *     still does.
 */
#include <jansson.h>

#include "fuzz.h"
#include "json_text.h"

/* A growable byte buffer as the writers' sink. */
struct sink {
	char *p;
	size_t n, cap;
};

static int
sink_write(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;

	if (n > s->cap - s->n) {
		size_t cap = (s->n + n) * 2 + 16;

		s->p = realloc(s->p, cap);
		FUZZ_CHECK(s->p != NULL);
		s->cap = cap;
	}
	if (n > 0)
		memcpy(s->p + s->n, p, n);
	s->n += n;
	return 0;
}

static int
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The contract of ct_json_embeddable(), spelt out with jansson alone. */
static int
reference_embeddable(const uint8_t *data, size_t size)
{
	char *wrapped;
	json_error_t jerr;
	json_t *root;
	int ok;

	if (size == 0 || is_space(data[0]) || is_space(data[size - 1]) ||
	    memchr(data, '\n', size) || memchr(data, '\r', size) ||
	    memchr(data, '\0', size))
		return 0;
	wrapped = malloc(size + 2);
	FUZZ_CHECK(wrapped != NULL);
	wrapped[0] = '[';
	memcpy(wrapped + 1, data, size);
	wrapped[size + 1] = ']';
	root = json_loadb(wrapped, size + 2, CT_JSON_PARSE_FLAGS, &jerr);
	free(wrapped);
	ok = json_is_array(root) && json_array_size(root) == 1;
	json_decref(root);
	return ok;
}

static void
check_base64(const uint8_t *data, size_t size)
{
	struct sink enc = {NULL, 0, 0};
	unsigned char *dec;
	size_t declen;

	FUZZ_CHECK(ct_base64(sink_write, &enc, data, size) == 0);
	FUZZ_CHECK(enc.n == (size + 2) / 3 * 4);
	FUZZ_CHECK(ct_base64_decode(enc.p, enc.n, &dec, &declen) == 0);
	FUZZ_CHECK(declen == size &&
	           (size == 0 || memcmp(dec, data, size) == 0));
	free(dec);
	free(enc.p);

	/* The input as base64 text. */
	if (ct_base64_decode((const char *)data, size, &dec, &declen) == 0) {
		struct sink again = {NULL, 0, 0};

		FUZZ_CHECK(ct_base64(sink_write, &again, dec, declen) == 0);
		FUZZ_CHECK(again.n == size &&
		           (size == 0 || memcmp(again.p, data, size) == 0));
		free(again.p);
		free(dec);
	}
}

static int
valid_utf8(const uint8_t *data, size_t size)
{
	size_t i = 0, seq;

	while (i < size) {
		seq = ct_utf8_seq_len(data + i, size - i);
		if (seq == 0)
			return 0;
		i += seq;
	}
	return 1;
}

static void
check_string(const uint8_t *data, size_t size)
{
	struct sink out = {NULL, 0, 0};
	json_error_t jerr;
	json_t *str;

	FUZZ_CHECK(ct_json_string(sink_write, &out, (const char *)data, size) ==
	           0);
	FUZZ_CHECK(memchr(out.p, '\n', out.n) == NULL);
	str = json_loadb(out.p, out.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	FUZZ_CHECK(json_is_string(str));
	if (valid_utf8(data, size))
		FUZZ_CHECK(json_string_length(str) == size &&
		           memcmp(json_string_value(str), data, size) == 0);
	json_decref(str);
	free(out.p);
}

/* The span's text parses to want, as is and minified. */
static void
check_span(struct ct_span span, json_t *want)
{
	json_error_t jerr;
	json_t *got;
	char *min;
	size_t minlen;

	got = json_loadb(span.p, span.n, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	                 &jerr);
	FUZZ_CHECK(got != NULL && json_equal(got, want));
	json_decref(got);
	min = malloc(span.n + 1);
	FUZZ_CHECK(min != NULL);
	minlen = ct_span_minify(span, min);
	got = json_loadb(min, minlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	FUZZ_CHECK(got != NULL && json_equal(got, want));
	json_decref(got);
	free(min);
}

static void
check_spans(const uint8_t *data, size_t size)
{
	struct ct_span text = {(const char *)data, size}, span;
	json_error_t jerr;
	json_t *root, *val;
	const char *key;
	size_t i;

	/* A raw NUL ends jansson's text early; the spans never see one. */
	if (memchr(data, '\0', size))
		return;
	root = json_loadb(text.p, text.n, CT_JSON_PARSE_FLAGS, &jerr);
	if (json_is_object(root)) {
		json_object_foreach(root, key, val)
		{
			FUZZ_CHECK(ct_span_member(text, key, &span) == 0);
			check_span(span, val);
		}
		FUZZ_CHECK(ct_span_member(text, "no such key \x01", &span) ==
		                   -1 ||
		           json_object_get(root, "no such key \x01"));
	} else if (json_is_array(root)) {
		struct ct_span_iter it;

		FUZZ_CHECK(ct_span_iter_init(&it, text) == 0);
		for (i = 0; i < json_array_size(root); i++) {
			FUZZ_CHECK(ct_span_iter_next(&it, &span) == 1);
			check_span(span, json_array_get(root, i));
		}
		FUZZ_CHECK(ct_span_iter_next(&it, &span) == 0);
	}
	json_decref(root);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_CHECK(!ct_json_embeddable(data, size) ==
	           !reference_embeddable(data, size));
	check_base64(data, size);
	check_string(data, size);
	check_spans(data, size);
	return 0;
}
