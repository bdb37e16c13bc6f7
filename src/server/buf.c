/*
 * buf.c -- the growable buffer and the low-level JSON text writers
 * (strings, numbers, base64, times).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

#define NS_PER_SEC 1000000000LL
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

/* RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF. */
size_t
cairnd_utf8_seq_len(const unsigned char *p, size_t n)
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

/* Escapes what JSON requires, plus U+2028/U+2029 (JavaScript line
 * terminators) so that a line of it is safe in a <script> or eval too;
 * runs of plain bytes are copied at once. */
int
cairnd_buf_json_string(struct cairnd_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	if (cairnd_buf_put(b, "\"", 1) != 0)
		return -1;
	while (i < n) {
		unsigned char c = p[i];
		char esc[7];
		const char *rep;
		size_t seq, skip = 1;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		seq = c >= 0x80 ? cairnd_utf8_seq_len(p + i, n - i) : 0;
		if (seq == 3 && c == 0xe2 && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
			rep = p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
			skip = 3;
		} else if (seq > 0) {
			i += seq;
			continue;
		} else if (c == '"') {
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
		if (cairnd_buf_put(b, p + run, i - run) != 0 ||
		    cairnd_buf_str(b, rep) != 0)
			return -1;
		i += skip;
		run = i;
	}
	if (cairnd_buf_put(b, p + run, n - run) != 0)
		return -1;
	return cairnd_buf_put(b, "\"", 1);
}

static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
cairnd_buf_base64(struct cairnd_buf *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;
	char *o;

	if (n == 0)
		return 0;
	if (reserve(b, (n + 2) / 3 * 4) != 0)
		return -1;
	o = b->p + b->len;
	for (i = 0; i + 3 <= n; i += 3) {
		unsigned long v = ((unsigned long)s[i] << 16) |
		                  ((unsigned long)s[i + 1] << 8) | s[i + 2];

		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		unsigned long v = (unsigned long)s[i] << 16;

		if (i + 1 < n)
			v |= (unsigned long)s[i + 1] << 8;
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	b->len = (size_t)(o - b->p);
	return 0;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Only the canonical encoding is taken (padding bits zero), so that text
 * and bytes map one to one and a read-back shows what was sent. */
int
cairnd_base64_decode(const char *s, size_t n, unsigned char **out,
                     size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
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
		int a = b64_value(u[i]), c1 = b64_value(u[i + 1]);
		int c2 = b64_value(u[i + 2]), c3 = b64_value(u[i + 3]);
		unsigned long v;

		if (a < 0 || c1 < 0)
			goto bad;
		v = ((unsigned long)a << 18) | ((unsigned long)c1 << 12);
		if (last && u[i + 2] == '=' && u[i + 3] == '=') {
			if (v & 0xffffUL)
				goto bad;
			buf[o++] = (unsigned char)(v >> 16);
			break;
		}
		if (c2 < 0)
			goto bad;
		v |= (unsigned long)c2 << 6;
		if (last && u[i + 3] == '=') {
			if (v & 0xffUL)
				goto bad;
			buf[o++] = (unsigned char)(v >> 16);
			buf[o++] = (unsigned char)(v >> 8);
			break;
		}
		if (c3 < 0)
			goto bad;
		v |= (unsigned long)c3;
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

/* Sortable as text, exact, and what every JSON consumer parses. */
int
cairnd_buf_time(struct cairnd_buf *b, int64_t ns)
{
	int64_t sec = ns / NS_PER_SEC, frac = ns % NS_PER_SEC;
	time_t t;
	struct tm tm;
	char tmp[64];
	int len;

	if (frac < 0) { /* floor, so times before 1970 come out right */
		frac += NS_PER_SEC;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL)
		return cairnd_buf_str(b, "null");
	len = snprintf(tmp, sizeof(tmp),
	               "\"%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z\"",
	               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	               tm.tm_min, tm.tm_sec, frac);
	if (len < 0 || (size_t)len >= sizeof(tmp))
		return cairnd_buf_str(b, "null");
	return cairnd_buf_put(b, tmp, (size_t)len);
}
