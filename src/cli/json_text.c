/*
 * json_text.c -- JSON at the level of bytes: escaping, base64, and the
 * "is this payload one embeddable JSON value" test.
 *
 * Payloads are opaque bytes.  The NDJSON format shows a payload as JSON
 * when that can be undone exactly: import takes the raw text of the value
 * from the line, byte for byte, so export -> import -> export keeps every
 * payload identical.  Anything else (binary, JSON spread over several
 * lines, whitespace around the value) is shown as base64.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- strings ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t
utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned long cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0u) != 0x80u)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

int
cli_json_string(struct cli_out *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	if (cli_out_write(out, "\"", 1) != 0)
		return -1;
	while (i < n) {
		unsigned char c = p[i];
		char esc[7];
		const char *rep = NULL;
		size_t replen = 0, seq;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		seq = c >= 0x80 ? utf8_seq_len(p + i, n - i) : 0;
		if (seq > 0) {
			i += seq;
			continue;
		}
		if (c == '"') {
			rep = "\\\"";
		} else if (c == '\\') {
			rep = "\\\\";
		} else if (c == '\n') {
			rep = "\\n";
		} else if (c == '\t') {
			rep = "\\t";
		} else if (c == '\r') {
			rep = "\\r";
		} else if (c < 0x20) {
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			esc[6] = '\0';
			rep = esc;
		} else {
			rep = "\\ufffd"; /* a byte that is not UTF-8 */
		}
		replen = strlen(rep);
		if (cli_out_write(out, p + run, i - run) != 0 ||
		    cli_out_write(out, rep, replen) != 0)
			return -1;
		i++;
		run = i;
	}
	if (cli_out_write(out, p + run, n - run) != 0)
		return -1;
	return cli_out_write(out, "\"", 1);
}

/* ---- base64 ------------------------------------------------------------- */

static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Input bytes encoded per chunk: a multiple of 3, so only the last chunk
 * carries padding. */
#define B64_CHUNK_IN (3u * 1024u)

int
cli_base64(struct cli_out *out, const void *p, size_t n)
{
	const unsigned char *s = p;
	char chunk[B64_CHUNK_IN / 3 * 4];

	while (n > 0) {
		size_t take = n < B64_CHUNK_IN ? n : B64_CHUNK_IN;
		size_t i, o = 0;

		for (i = 0; i + 3 <= take; i += 3) {
			unsigned long v = ((unsigned long)s[i] << 16) |
			                  ((unsigned long)s[i + 1] << 8) |
			                  s[i + 2];

			chunk[o++] = b64[(v >> 18) & 63];
			chunk[o++] = b64[(v >> 12) & 63];
			chunk[o++] = b64[(v >> 6) & 63];
			chunk[o++] = b64[v & 63];
		}
		if (i < take) {
			unsigned long v = (unsigned long)s[i] << 16;

			if (i + 1 < take)
				v |= (unsigned long)s[i + 1] << 8;
			chunk[o++] = b64[(v >> 18) & 63];
			chunk[o++] = b64[(v >> 12) & 63];
			chunk[o++] = i + 1 < take ? b64[(v >> 6) & 63] : '=';
			chunk[o++] = '=';
		}
		if (cli_out_write(out, chunk, o) != 0)
			return -1;
		s += take;
		n -= take;
	}
	return 0;
}

static int
b64_value(char c)
{
	const char *hit;

	if (c == '\0')
		return -1;
	hit = strchr(b64, c);
	return hit ? (int)(hit - b64) : -1;
}

int
cli_base64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	size_t i, o = 0;

	*out = NULL;
	*outlen = 0;
	if (n % 4 != 0)
		return -1;
	if (n == 0)
		return 0;
	buf = malloc(n / 4 * 3);
	if (buf == NULL)
		return -2;
	for (i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int a = b64_value(s[i]), b = b64_value(s[i + 1]);
		int c = b64_value(s[i + 2]), d = b64_value(s[i + 3]);
		unsigned long v;

		if (a < 0 || b < 0)
			goto bad;
		v = ((unsigned long)a << 18) | ((unsigned long)b << 12);
		if (last && s[i + 2] == '=' && s[i + 3] == '=') {
			/* Only the canonical encoding, so that text and
			 * bytes map one to one. */
			if (v & 0xffffUL)
				goto bad;
			buf[o++] = (unsigned char)(v >> 16);
			break;
		}
		if (c < 0)
			goto bad;
		v |= (unsigned long)c << 6;
		if (last && s[i + 3] == '=') {
			if (v & 0xffUL)
				goto bad;
			buf[o++] = (unsigned char)(v >> 16);
			buf[o++] = (unsigned char)(v >> 8);
			break;
		}
		if (d < 0)
			goto bad;
		v |= (unsigned long)d;
		buf[o++] = (unsigned char)(v >> 16);
		buf[o++] = (unsigned char)(v >> 8);
		buf[o++] = (unsigned char)v;
	}
	*out = buf;
	*outlen = o;
	return 0;
bad:
	free(buf);
	return -1;
}

/* ---- embeddable JSON ---------------------------------------------------- */

/* Feeds "[" payload "]" to jansson without copying the payload: the value
 * is then parsed at the nesting depth it has inside an NDJSON line, so
 * jansson's depth limit cuts exactly where it will cut on import. */
struct feed {
	const char *part[3];
	size_t len[3];
	int i;
	size_t off;
};

static size_t
feed_next(void *buf, size_t buflen, void *arg)
{
	struct feed *f = arg;
	size_t take;

	while (f->i < 3 && f->off == f->len[f->i]) {
		f->i++;
		f->off = 0;
	}
	if (f->i == 3)
		return 0;
	take = f->len[f->i] - f->off;
	if (take > buflen)
		take = buflen;
	memcpy(buf, f->part[f->i] + f->off, take);
	f->off += take;
	return take;
}

int
cli_json_embeddable(const void *p, size_t n)
{
	const char *s = p;
	struct feed f = {{"[", s, "]"}, {1, n, 1}, 0, 0};
	json_error_t jerr;
	json_t *root;
	int ok;

	if (n == 0 || is_json_space(s[0]) || is_json_space(s[n - 1]))
		return 0;
	if (memchr(s, '\n', n) != NULL || memchr(s, '\r', n) != NULL)
		return 0;
	root = json_load_callback(feed_next, &f, CLI_JSON_PARSE_FLAGS, &jerr);
	if (root == NULL)
		return 0;
	/* "1,2" would make an array of two: the payload must be one value. */
	ok = json_is_array(root) && json_array_size(root) == 1;
	json_decref(root);
	return ok;
}

void
cli_json_trim(const char *p, size_t n, const char **start, size_t *len)
{
	while (n > 0 && is_json_space(p[0])) {
		p++;
		n--;
	}
	while (n > 0 && is_json_space(p[n - 1]))
		n--;
	*start = p;
	*len = n;
}

/* ---- raw member spans --------------------------------------------------- */

/* The scanners below run over text jansson has already accepted, so they
 * only find boundaries; they do not validate. */

static size_t
skip_space(const char *s, size_t n, size_t i)
{
	while (i < n && is_json_space(s[i]))
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

static size_t
skip_value(const char *s, size_t n, size_t i)
{
	size_t depth = 0;

	if (i < n && s[i] != '{' && s[i] != '[') {
		if (s[i] == '"')
			return skip_string(s, n, i);
		while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
		       !is_json_space(s[i]))
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
 * ("d\u0061ta") are rare but legal, so decode those with jansson. */
static int
key_is(const char *raw, size_t rawlen, const char *key)
{
	json_error_t jerr;
	json_t *str;
	int same;

	if (memchr(raw, '\\', rawlen) == NULL)
		return rawlen == strlen(key) && memcmp(raw, key, rawlen) == 0;
	str = json_loadb(raw - 1, rawlen + 2, JSON_DECODE_ANY, &jerr);
	same = json_is_string(str) && strcmp(json_string_value(str), key) == 0;
	json_decref(str);
	return same;
}

int
cli_json_member_span(const char *obj, size_t n, const char *key,
                     const char **start, size_t *len)
{
	size_t i = skip_space(obj, n, 0);

	if (i >= n || obj[i] != '{')
		return -1;
	i++;
	for (;;) {
		size_t kstart, kend, vstart;

		i = skip_space(obj, n, i);
		if (i >= n || obj[i] != '"')
			return -1;
		kstart = i + 1;
		kend = skip_string(obj, n, i);
		i = skip_space(obj, n, kend);
		if (i >= n || obj[i] != ':')
			return -1;
		vstart = skip_space(obj, n, i + 1);
		i = skip_value(obj, n, vstart);
		if (key_is(obj + kstart, kend - kstart - 1, key)) {
			*start = obj + vstart;
			*len = i - vstart;
			return 0;
		}
		i = skip_space(obj, n, i);
		if (i >= n || obj[i] != ',')
			return -1;
		i++;
	}
}
