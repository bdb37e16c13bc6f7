/*
 * json_embed.c -- ct_json_embeddable(): is a payload one JSON value that
 * can stand as a member's value in one line of JSON and be taken back byte
 * for byte?  See json_text.h for the contract.
 *
 * The answer is jansson's: the payload is embeddable exactly when jansson,
 * with CT_JSON_PARSE_FLAGS, accepts "[" payload "]" as an array of one
 * value (and the line rules hold: no whitespace around it, no CR or LF).
 * That is the parser import and cairnd's body parser take it back with,
 * so the test can never promise what they refuse.
 *
 * Asking jansson costs a tree per payload, and both programs ask once per
 * payload of every event they show (a million-event read, an export), so
 * a small scanner that builds nothing settles the common case first.  It
 * answers "yes" only where jansson surely accepts, "no" only where jansson
 * surely refuses (a syntax error, a control character, invalid UTF-8, a
 * lone surrogate, \u0000, the same key twice in an object), and hands
 * everything else to jansson: deep nesting, keys written with escapes,
 * many keys, integers that may not fit 64 bits, reals that may overflow.
 */
#include <string.h>

#include "json_text.h"

/* What the scanner says about a payload. */
enum {
	SCAN_OK = 0,   /* jansson accepts it */
	SCAN_BAD = -1, /* jansson refuses it */
	SCAN_ASK = -2  /* only jansson can tell */
};

/* Deeper nesting is left to jansson (whose own limit is
 * JSON_PARSER_MAX_DEPTH); this also bounds the scanner's recursion. */
#define SCAN_DEPTH_MAX 64
/* Keys of the open objects remembered for the duplicate check; an object
 * with more is left to jansson. */
#define SCAN_KEYS_MAX 64
/* An integer of at most this many digits fits int64_t (jansson's integer
 * type, which refuses larger ones). */
#define SCAN_INT_DIGITS_SURE 18
/* A real below 10^this is far from DBL_MAX (jansson refuses overflow). */
#define SCAN_REAL_MAGNITUDE_SURE 300

struct scan {
	const unsigned char *p;
	size_t n;
	size_t i;
	/* raw keys of the objects being scanned, innermost last */
	struct ct_span keys[SCAN_KEYS_MAX];
	size_t nkeys;
};

static int scan_value(struct scan *s, unsigned depth);

/* Spaces and tabs only: CR and LF were refused before the scan. */
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
		return SCAN_BAD;
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
			return SCAN_BAD;
	}
	s->i += 4;
	*out = v;
	return SCAN_OK;
}

/* A \u escape, s->i after the 'u'.  jansson refuses a lone surrogate,
 * and \u0000 unless asked to allow it (CT_JSON_PARSE_FLAGS does not). */
static int
scan_unicode(struct scan *s)
{
	unsigned hi, lo;

	if (hex4(s, &hi) != SCAN_OK || hi == 0 ||
	    (hi >= 0xdc00 && hi <= 0xdfff))
		return SCAN_BAD;
	if (hi < 0xd800 || hi > 0xdbff)
		return SCAN_OK;
	if (s->n - s->i < 2 || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u')
		return SCAN_BAD;
	s->i += 2;
	if (hex4(s, &lo) != SCAN_OK || lo < 0xdc00 || lo > 0xdfff)
		return SCAN_BAD;
	return SCAN_OK;
}

/* A string, s->i at its opening quote; *escaped tells whether it holds
 * a backslash (its raw text is then not what it spells). */
static int
scan_string(struct scan *s, int *escaped)
{
	*escaped = 0;
	s->i++;
	while (s->i < s->n) {
		unsigned char c = s->p[s->i];
		size_t seq;

		if (c == '"') {
			s->i++;
			return SCAN_OK;
		}
		if (c < 0x20)
			return SCAN_BAD;
		if (c == '\\') {
			*escaped = 1;
			if (++s->i >= s->n)
				return SCAN_BAD;
			c = s->p[s->i++];
			if (c == 'u') {
				if (scan_unicode(s) != SCAN_OK)
					return SCAN_BAD;
			} else if (c == '\0' ||
			           strchr("\"\\/bfnrt", c) == NULL) {
				return SCAN_BAD;
			}
			continue;
		}
		seq = ct_utf8_seq_len(s->p + s->i, s->n - s->i);
		if (seq == 0)
			return SCAN_BAD;
		s->i += seq;
	}
	return SCAN_BAD;
}

/* One or more digits; returns how many (0: none, which is an error). */
static size_t
digits(struct scan *s)
{
	size_t start = s->i;

	while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9')
		s->i++;
	return s->i - start;
}

/* The grammar of RFC 8259, then the range: jansson refuses an integer
 * outside int64_t and a real that overflows a double (not one that
 * underflows). */
static int
scan_number(struct scan *s)
{
	size_t intdigits, expdigits = 0;
	long exp = 0;
	int real = 0, expneg = 0;

	if (s->p[s->i] == '-')
		s->i++;
	if (s->i < s->n && s->p[s->i] == '0') {
		s->i++;
		intdigits = 1;
	} else if ((intdigits = digits(s)) == 0) {
		return SCAN_BAD;
	}
	if (s->i < s->n && s->p[s->i] == '.') {
		s->i++;
		if (digits(s) == 0)
			return SCAN_BAD;
		real = 1;
	}
	if (s->i < s->n && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
		size_t start, k;

		s->i++;
		if (s->i < s->n && (s->p[s->i] == '+' || s->p[s->i] == '-'))
			expneg = s->p[s->i++] == '-';
		start = s->i;
		if ((expdigits = digits(s)) == 0)
			return SCAN_BAD;
		for (k = 0; k < expdigits && k < 4; k++)
			exp = exp * 10 + (s->p[start + k] - '0');
		real = 1;
	}
	if (!real)
		return intdigits <= SCAN_INT_DIGITS_SURE ? SCAN_OK : SCAN_ASK;
	/* |value| < 10^(intdigits + exponent) */
	if (expdigits > 3 ||
	    (long)intdigits + (expneg ? -exp : exp) > SCAN_REAL_MAGNITUDE_SURE)
		return SCAN_ASK;
	return SCAN_OK;
}

static int
scan_word(struct scan *s, const char *w)
{
	size_t len = strlen(w);

	if (s->n - s->i < len || memcmp(s->p + s->i, w, len) != 0)
		return SCAN_BAD;
	s->i += len;
	return SCAN_OK;
}

/* A key of the object whose keys start at keys[base]: the same key twice
 * is refused (CT_JSON_PARSE_FLAGS).  Raw text compares as what it spells
 * only without escapes. */
static int
remember_key(struct scan *s, size_t base, struct ct_span key, int escaped)
{
	size_t k;

	if (escaped || s->nkeys == SCAN_KEYS_MAX)
		return SCAN_ASK;
	for (k = base; k < s->nkeys; k++)
		if (s->keys[k].n == key.n &&
		    memcmp(s->keys[k].p, key.p, key.n) == 0)
			return SCAN_BAD;
	s->keys[s->nkeys++] = key;
	return SCAN_OK;
}

/* One member's key and colon, s->i at the key. */
static int
scan_key(struct scan *s, size_t base)
{
	struct ct_span key;
	int escaped, rc;

	if (s->i >= s->n || s->p[s->i] != '"')
		return SCAN_BAD;
	key.p = (const char *)s->p + s->i + 1;
	if (scan_string(s, &escaped) != SCAN_OK)
		return SCAN_BAD;
	key.n = (size_t)((const char *)s->p + s->i - 1 - key.p);
	rc = remember_key(s, base, key, escaped);
	if (rc != SCAN_OK)
		return rc;
	skip_ws(s);
	if (s->i >= s->n || s->p[s->i] != ':')
		return SCAN_BAD;
	s->i++;
	skip_ws(s);
	return SCAN_OK;
}

/* Members or elements up to the closing bracket; s->i after the opening
 * one. */
static int
scan_container(struct scan *s, unsigned depth, int object)
{
	unsigned char close = object ? '}' : ']';
	size_t base = s->nkeys;
	int rc;

	skip_ws(s);
	if (s->i < s->n && s->p[s->i] == close) {
		s->i++;
		return SCAN_OK;
	}
	for (;;) {
		skip_ws(s);
		if (object && (rc = scan_key(s, base)) != SCAN_OK)
			return rc;
		if ((rc = scan_value(s, depth + 1)) != SCAN_OK)
			return rc;
		skip_ws(s);
		if (s->i >= s->n)
			return SCAN_BAD;
		if (s->p[s->i] == close) {
			s->i++;
			s->nkeys = base; /* this object's keys are done */
			return SCAN_OK;
		}
		if (s->p[s->i] != ',')
			return SCAN_BAD;
		s->i++;
	}
}

static int
scan_value(struct scan *s, unsigned depth)
{
	unsigned char c;
	int escaped;

	if (s->i >= s->n)
		return SCAN_BAD;
	c = s->p[s->i];
	if (c == '{' || c == '[') {
		if (depth >= SCAN_DEPTH_MAX)
			return SCAN_ASK;
		s->i++;
		return scan_container(s, depth, c == '{');
	}
	if (c == '"')
		return scan_string(s, &escaped);
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(s);
	if (c == 't')
		return scan_word(s, "true");
	if (c == 'f')
		return scan_word(s, "false");
	if (c == 'n')
		return scan_word(s, "null");
	return SCAN_BAD;
}

/* ---- jansson, for what the scanner cannot settle ------------------------ */

/* Feeds "[" payload "]" to jansson without copying the payload: the value
 * is then parsed at the nesting depth it has as a member's value, so
 * jansson's depth limit cuts where it cuts when the line is taken back. */
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

static int
jansson_accepts(const char *s, size_t n)
{
	struct feed f = {{"[", s, "]"}, {1, n, 1}, 0, 0};
	json_error_t jerr;
	json_t *root;
	int ok;

	root = json_load_callback(feed_next, &f, CT_JSON_PARSE_FLAGS, &jerr);
	if (root == NULL)
		return 0;
	/* "1,2" would make an array of two: the payload must be one value. */
	ok = json_is_array(root) && json_array_size(root) == 1;
	json_decref(root);
	return ok;
}

static int
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
ct_json_embeddable(const void *p, size_t n)
{
	const char *text = p;
	struct scan s; /* about 1 KiB: the key table */
	int rc;

	if (n == 0 || is_json_space(text[0]) || is_json_space(text[n - 1]))
		return 0;
	/* A line break would split the line.  A raw NUL is never JSON, but
	 * jansson may take one between tokens for the end of the text. */
	if (memchr(text, '\n', n) != NULL || memchr(text, '\r', n) != NULL ||
	    memchr(text, '\0', n) != NULL)
		return 0;
	s.p = p;
	s.n = n;
	s.i = 0;
	s.nkeys = 0;
	rc = scan_value(&s, 0);
	if (rc == SCAN_OK && s.i != n)
		rc = SCAN_BAD;
	if (rc == SCAN_ASK)
		return jansson_accepts(text, n);
	return rc == SCAN_OK;
}
