/*
 * json_span.c -- the raw text of members and elements inside JSON text
 * that jansson has already accepted, and that text without whitespace
 * between tokens; see json_text.h.
 *
 * This is how a payload sent as JSON is stored byte for byte: import
 * takes the member's text from its NDJSON line, cairnd from the request
 * body (minified).  The scanners only find boundaries, they do not
 * validate: the text was checked by the parse that gave the tree.
 */
#include <string.h>

#include "json_text.h"

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t
skip_space(const char *s, size_t n, size_t i)
{
	while (i < n && is_space(s[i]))
		i++;
	return i;
}

/* i is at the opening quote; returns the index after the closing one. */
static size_t
skip_string(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return n;
}

/* i is at the first byte of a value; returns the index after it. */
static size_t
skip_value(const char *s, size_t n, size_t i)
{
	size_t depth = 0;

	if (i < n && s[i] != '{' && s[i] != '[') {
		if (s[i] == '"')
			return skip_string(s, n, i);
		while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
		       !is_space(s[i]))
			i++;
		return i;
	}
	while (i < n) {
		char c = s[i];

		if (c == '"') {
			i = skip_string(s, n, i);
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return n;
}

/* Does the raw key text (between its quotes) spell key?  Escaped keys
 * ("d\u0061ta") are rare but legal, so those are decoded by jansson; the
 * length check keeps "data\u0000x" from matching "data". */
static int
key_is(const char *raw, size_t rawlen, const char *key)
{
	json_error_t jerr;
	json_t *str;
	int same;

	if (memchr(raw, '\\', rawlen) == NULL)
		return rawlen == strlen(key) && memcmp(raw, key, rawlen) == 0;
	str = json_loadb(raw - 1, rawlen + 2, JSON_DECODE_ANY, &jerr);
	same = json_is_string(str) && json_string_length(str) == strlen(key) &&
	       strcmp(json_string_value(str), key) == 0;
	json_decref(str);
	return same;
}

int
ct_span_member(struct ct_span obj, const char *key, struct ct_span *out)
{
	const char *s = obj.p;
	size_t n = obj.n, i = skip_space(s, n, 0);

	if (i >= n || s[i] != '{')
		return -1;
	i++;
	for (;;) {
		size_t kstart, kend, vstart;

		i = skip_space(s, n, i);
		if (i >= n || s[i] != '"')
			return -1;
		kstart = i + 1;
		kend = skip_string(s, n, i);
		/* An unterminated key (only in text jansson did not check)
		 * would give a negative length below. */
		if (kend <= kstart)
			return -1;
		i = skip_space(s, n, kend);
		if (i >= n || s[i] != ':')
			return -1;
		vstart = skip_space(s, n, i + 1);
		i = skip_value(s, n, vstart);
		if (key_is(s + kstart, kend - kstart - 1, key)) {
			out->p = s + vstart;
			out->n = i - vstart;
			return 0;
		}
		i = skip_space(s, n, i);
		if (i >= n || s[i] != ',')
			return -1;
		i++;
	}
}

int
ct_span_iter_init(struct ct_span_iter *it, struct ct_span arr)
{
	size_t i = skip_space(arr.p, arr.n, 0);

	if (i >= arr.n || arr.p[i] != '[')
		return -1;
	it->arr = arr;
	it->i = i + 1;
	it->started = 0;
	return 0;
}

int
ct_span_iter_next(struct ct_span_iter *it, struct ct_span *out)
{
	const char *s = it->arr.p;
	size_t n = it->arr.n, i = skip_space(s, n, it->i), end;

	if (i >= n)
		return -1;
	if (s[i] == ']')
		return 0;
	if (it->started) {
		if (s[i] != ',')
			return -1;
		i = skip_space(s, n, i + 1);
	}
	end = skip_value(s, n, i);
	if (end <= i)
		return -1;
	out->p = s + i;
	out->n = end - i;
	it->i = end;
	it->started = 1;
	return 1;
}

size_t
ct_span_minify(struct ct_span v, char *out)
{
	size_t i, o = 0;
	int in_string = 0;

	for (i = 0; i < v.n; i++) {
		char c = v.p[i];

		if (in_string) {
			out[o++] = c;
			if (c == '\\' && i + 1 < v.n)
				out[o++] = v.p[++i];
			else if (c == '"')
				in_string = 0;
			continue;
		}
		if (is_space(c))
			continue;
		if (c == '"')
			in_string = 1;
		out[o++] = c;
	}
	return o;
}
