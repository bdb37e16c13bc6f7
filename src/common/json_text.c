/*
 * json_text.c -- JSON strings, base64 and RFC 3339 times, written once
 * for the CLI and cairnd; see json_text.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_text.h"

#define NS_PER_SEC 1000000000LL

static int
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- strings ------------------------------------------------------------ */

size_t
ct_utf8_seq_len(const unsigned char *p, size_t n)
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

/* Runs of bytes that need no escape are written at once. */
int
ct_json_string(ct_write_fn *write, void *sink, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	if (write(sink, "\"", 1) != 0)
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
		seq = c >= 0x80 ? ct_utf8_seq_len(p + i, n - i) : 0;
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
		if (write(sink, p + run, i - run) != 0 ||
		    write(sink, rep, strlen(rep)) != 0)
			return -1;
		i += skip;
		run = i;
	}
	if (write(sink, p + run, n - run) != 0)
		return -1;
	return write(sink, "\"", 1) != 0 ? -1 : 0;
}

/* ---- base64 ------------------------------------------------------------- */

static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Input bytes encoded per write: a multiple of 3, so only the last chunk
 * carries padding, and small enough for the stack. */
#define B64_CHUNK_IN (3u * 1024u)

int
ct_base64(ct_write_fn *write, void *sink, const void *p, size_t n)
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
		if (write(sink, chunk, o) != 0)
			return -1;
		s += take;
		n -= take;
	}
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

int
ct_base64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
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
		int a = b64_value(u[i]), b = b64_value(u[i + 1]);
		int c = b64_value(u[i + 2]), d = b64_value(u[i + 3]);
		unsigned long v;

		if (a < 0 || b < 0)
			goto bad;
		v = ((unsigned long)a << 18) | ((unsigned long)b << 12);
		if (last && u[i + 2] == '=' && u[i + 3] == '=') {
			if (v & 0xffffUL) /* not canonical */
				goto bad;
			buf[o++] = (unsigned char)(v >> 16);
			break;
		}
		if (c < 0)
			goto bad;
		v |= (unsigned long)c << 6;
		if (last && u[i + 3] == '=') {
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

/* ---- times -------------------------------------------------------------- */

/* RFC 3339 in UTC with nanoseconds: sortable as text, exact, and what
 * every JSON consumer parses. */
int
ct_json_time(ct_write_fn *write, void *sink, int64_t ns)
{
	int64_t sec = ns / NS_PER_SEC, frac = ns % NS_PER_SEC;
	time_t t;
	struct tm tm;
	char buf[64];
	int len;

	if (frac < 0) { /* floor, so times before 1970 come out right */
		frac += NS_PER_SEC;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL)
		return write(sink, "null", 4) != 0 ? -1 : 0;
	len = snprintf(buf, sizeof(buf),
	               "\"%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z\"",
	               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	               tm.tm_min, tm.tm_sec, frac);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return write(sink, "null", 4) != 0 ? -1 : 0;
	return write(sink, buf, (size_t)len) != 0 ? -1 : 0;
}

/* ---- trimming ---------------------------------------------------------- */

void
ct_json_trim(const char *p, size_t n, const char **start, size_t *len)
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
