/*
 * json_event.c -- one stored event as one line of JSON:
 *
 *   {"id":"<uuid>","stream":"account-42","type":"Deposited","version":3,
 *    "position":7,"time":"2026-11-23T11:38:28.123456789Z",
 *    "data":{"amount":10},"metadata":{"by":"ada"},"tags":["a"]}
 *
 * A payload (data, metadata) is written as itself when it is one JSON
 * value that fits on a line (cairnd_json_inline); otherwise as a base64
 * string with "data_encoding":"base64" (or "metadata_encoding") next to
 * it.  An empty payload (no metadata, typically) is null: the one case
 * not told apart from a payload that is the text null.
 *
 * The inline test is a small validating scanner rather than jansson: it
 * runs once per payload of every event read, and builds nothing.
 */
#include <string.h>

#include "buf.h"

/* Deeper payloads are shown as base64: nesting this deep is legal JSON
 * but many clients (and jansson, at 2048) refuse it, and the scanner
 * recurses. */
#define INLINE_DEPTH_MAX 512

struct scan {
	const unsigned char *p;
	size_t n;
	size_t i;
};

static int scan_value(struct scan *s, unsigned depth);

/* Spaces and tabs only: a line break would split the NDJSON line. */
static void
skip_ws(struct scan *s)
{
	while (s->i < s->n && (s->p[s->i] == ' ' || s->p[s->i] == '\t'))
		s->i++;
}

static int
hex4(struct scan *s, unsigned *out)
{
	unsigned v = 0, k;

	if (s->n - s->i < 4)
		return -1;
	for (k = 0; k < 4; k++) {
		unsigned char c = s->p[s->i + k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	s->i += 4;
	*out = v;
	return 0;
}

/* A \u escape (s->i after the 'u'): a lone surrogate is refused, as
 * jansson refuses it, so that what is shown inline can be sent back. */
static int
scan_unicode(struct scan *s)
{
	unsigned hi, lo;

	if (hex4(s, &hi) != 0)
		return -1;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return -1;
	if (hi < 0xd800 || hi > 0xdbff)
		return 0;
	if (s->n - s->i < 2 || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u')
		return -1;
	s->i += 2;
	if (hex4(s, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
		return -1;
	return 0;
}

static int
scan_string(struct scan *s)
{
	s->i++; /* the opening quote */
	while (s->i < s->n) {
		unsigned char c = s->p[s->i];
		size_t seq;

		if (c == '"') {
			s->i++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (++s->i >= s->n)
				return -1;
			c = s->p[s->i++];
			if (c == 'u') {
				if (scan_unicode(s) != 0)
					return -1;
			} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
				return -1;
			}
			continue;
		}
		seq = cairnd_utf8_seq_len(s->p + s->i, s->n - s->i);
		if (seq == 0)
			return -1;
		s->i += seq;
	}
	return -1;
}

static int
digits(struct scan *s)
{
	size_t start = s->i;

	while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9')
		s->i++;
	return s->i > start ? 0 : -1;
}

static int
scan_number(struct scan *s)
{
	if (s->p[s->i] == '-')
		s->i++;
	if (s->i < s->n && s->p[s->i] == '0')
		s->i++;
	else if (digits(s) != 0)
		return -1;
	if (s->i < s->n && s->p[s->i] == '.') {
		s->i++;
		if (digits(s) != 0)
			return -1;
	}
	if (s->i < s->n && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
		s->i++;
		if (s->i < s->n && (s->p[s->i] == '+' || s->p[s->i] == '-'))
			s->i++;
		if (digits(s) != 0)
			return -1;
	}
	return 0;
}

static int
scan_word(struct scan *s, const char *w)
{
	size_t len = strlen(w);

	if (s->n - s->i < len || memcmp(s->p + s->i, w, len) != 0)
		return -1;
	s->i += len;
	return 0;
}

/* Members or elements up to the closing bracket; s->i after the opening
 * one. */
static int
scan_container(struct scan *s, unsigned depth, int object)
{
	unsigned char close = object ? '}' : ']';

	skip_ws(s);
	if (s->i < s->n && s->p[s->i] == close) {
		s->i++;
		return 0;
	}
	for (;;) {
		skip_ws(s);
		if (object) {
			if (s->i >= s->n || s->p[s->i] != '"' ||
			    scan_string(s) != 0)
				return -1;
			skip_ws(s);
			if (s->i >= s->n || s->p[s->i] != ':')
				return -1;
			s->i++;
			skip_ws(s);
		}
		if (scan_value(s, depth + 1) != 0)
			return -1;
		skip_ws(s);
		if (s->i >= s->n)
			return -1;
		if (s->p[s->i] == close) {
			s->i++;
			return 0;
		}
		if (s->p[s->i] != ',')
			return -1;
		s->i++;
	}
}

static int
scan_value(struct scan *s, unsigned depth)
{
	unsigned char c;

	if (s->i >= s->n || depth > INLINE_DEPTH_MAX)
		return -1;
	c = s->p[s->i];
	if (c == '{' || c == '[') {
		s->i++;
		return scan_container(s, depth, c == '{');
	}
	if (c == '"')
		return scan_string(s);
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(s);
	if (c == 't')
		return scan_word(s, "true");
	if (c == 'f')
		return scan_word(s, "false");
	if (c == 'n')
		return scan_word(s, "null");
	return -1;
}

int
cairnd_json_inline(const void *p, size_t n)
{
	struct scan s = {p, n, 0};

	if (n == 0 || s.p[0] == ' ' || s.p[0] == '\t')
		return 0;
	if (scan_value(&s, 0) != 0)
		return 0;
	return s.i == n;
}

/* ,"name":<json> or ,"name":"<base64>","name_encoding":"base64" */
static int
write_payload(struct cairnd_buf *b, const char *name, const void *p, size_t n)
{
	if (cairnd_buf_str(b, ",\"") || cairnd_buf_str(b, name) ||
	    cairnd_buf_str(b, "\":"))
		return -1;
	if (n == 0)
		return cairnd_buf_str(b, "null");
	if (cairnd_json_inline(p, n))
		return cairnd_buf_put(b, p, n);
	return cairnd_buf_put(b, "\"", 1) || cairnd_buf_base64(b, p, n) ||
	       cairnd_buf_str(b, "\",\"") || cairnd_buf_str(b, name) ||
	       cairnd_buf_str(b, "_encoding\":\"base64\"");
}

int
cairnd_event_json(struct cairnd_buf *b, const cairn_event *e)
{
	char id[CAIRN_UUID_STR_LEN + 1];
	size_t i;

	cairn_uuid_format(&e->id, id);
	if (cairnd_buf_str(b, "{\"id\":\"") || cairnd_buf_str(b, id) ||
	    cairnd_buf_str(b, "\",\"stream\":") ||
	    cairnd_buf_json_string(b, e->stream, e->stream_len) ||
	    cairnd_buf_str(b, ",\"type\":") ||
	    cairnd_buf_json_string(b, e->type, e->type_len) ||
	    cairnd_buf_str(b, ",\"version\":") ||
	    cairnd_buf_u64(b, e->version) ||
	    cairnd_buf_str(b, ",\"position\":") ||
	    cairnd_buf_u64(b, e->position) || cairnd_buf_str(b, ",\"time\":") ||
	    cairnd_buf_time(b, e->time_ns) ||
	    write_payload(b, "data", e->data, e->data_len) ||
	    write_payload(b, "metadata", e->metadata, e->metadata_len) ||
	    cairnd_buf_str(b, ",\"tags\":["))
		return -1;
	for (i = 0; i < e->ntags; i++) {
		const char *t = e->tags[i];

		if ((i > 0 && cairnd_buf_put(b, ",", 1)) ||
		    cairnd_buf_json_string(b, t, strlen(t)))
			return -1;
	}
	return cairnd_buf_str(b, "]}");
}
