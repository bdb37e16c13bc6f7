/*
 * test_validate.c -- src/core/validate.c: names (stream ids, types, tags)
 * and new events.
 *
 * The UTF-8 rules are checked twice: against a hand-written table that
 * walks every row of the Unicode §3.9 table of well-formed byte sequences
 * (Table 3-7) at its boundaries and just past them, and exhaustively over
 * every lead byte and second byte against an independent decoder written
 * here from the definition (decode, then reject overlongs, surrogates and
 * code points past U+10FFFF).
 */
#include "unit.h"

#include <stdlib.h>

/* What a name check must say about a byte sequence. */
enum verdict {
	V_OK,      /* accepted */
	V_UTF8,    /* "not valid UTF-8 at byte N" */
	V_CONTROL  /* "control character at byte N" */
};

struct utf8_case {
	const char *what;
	unsigned char bytes[6];
	size_t len;
	enum verdict verdict;
};

#define ROW(what, verdict, ...)                                            \
	{what, {__VA_ARGS__}, sizeof((unsigned char[]){__VA_ARGS__}), verdict}

static const struct utf8_case utf8_table[] = {
	/* U+0000..U+007F: 00..7F (controls aside) */
	ROW("space", V_OK, 0x20),
	ROW("tilde", V_OK, 0x7E),
	ROW("C0 control 01", V_CONTROL, 0x01),
	ROW("C0 control tab", V_CONTROL, 0x09),
	ROW("C0 control newline", V_CONTROL, 0x0A),
	ROW("C0 control 1F", V_CONTROL, 0x1F),
	ROW("DEL", V_CONTROL, 0x7F),
	/* U+0080..U+07FF: C2..DF 80..BF; U+0080..U+009F are C1 controls */
	ROW("C1 control U+0080", V_CONTROL, 0xC2, 0x80),
	ROW("C1 control U+0085 (NEL)", V_CONTROL, 0xC2, 0x85),
	ROW("C1 control U+009F", V_CONTROL, 0xC2, 0x9F),
	ROW("U+00A0 first non-control", V_OK, 0xC2, 0xA0),
	ROW("U+00BF", V_OK, 0xC2, 0xBF),
	ROW("U+00C0", V_OK, 0xC3, 0x80),
	ROW("U+07C0", V_OK, 0xDF, 0x80),
	ROW("U+07FF", V_OK, 0xDF, 0xBF),
	ROW("C2 then 7F", V_UTF8, 0xC2, 0x7F),
	ROW("C2 then C0", V_UTF8, 0xC2, 0xC0),
	ROW("DF then C0", V_UTF8, 0xDF, 0xC0),
	ROW("DF then ASCII", V_UTF8, 0xDF, 0x41),
	/* overlong two-byte forms */
	ROW("overlong C0 80 (NUL)", V_UTF8, 0xC0, 0x80),
	ROW("overlong C0 AF ('/')", V_UTF8, 0xC0, 0xAF),
	ROW("overlong C1 BF", V_UTF8, 0xC1, 0xBF),
	ROW("overlong C1 80", V_UTF8, 0xC1, 0x80),
	/* U+0800..U+0FFF: E0 A0..BF 80..BF */
	ROW("U+0800", V_OK, 0xE0, 0xA0, 0x80),
	ROW("U+0FFF", V_OK, 0xE0, 0xBF, 0xBF),
	ROW("overlong E0 80 80", V_UTF8, 0xE0, 0x80, 0x80),
	ROW("overlong E0 9F BF", V_UTF8, 0xE0, 0x9F, 0xBF),
	ROW("E0 C0 80", V_UTF8, 0xE0, 0xC0, 0x80),
	ROW("E0 A0 7F", V_UTF8, 0xE0, 0xA0, 0x7F),
	ROW("E0 A0 C0", V_UTF8, 0xE0, 0xA0, 0xC0),
	/* U+1000..U+CFFF: E1..EC 80..BF 80..BF */
	ROW("U+1000", V_OK, 0xE1, 0x80, 0x80),
	ROW("U+CFFF", V_OK, 0xEC, 0xBF, 0xBF),
	ROW("E1 7F 80", V_UTF8, 0xE1, 0x7F, 0x80),
	ROW("EC C0 80", V_UTF8, 0xEC, 0xC0, 0x80),
	ROW("E1 80 7F", V_UTF8, 0xE1, 0x80, 0x7F),
	ROW("EC BF C0", V_UTF8, 0xEC, 0xBF, 0xC0),
	/* U+D000..U+D7FF: ED 80..9F 80..BF; ED A0..BF are surrogates */
	ROW("U+D000", V_OK, 0xED, 0x80, 0x80),
	ROW("U+D7FF", V_OK, 0xED, 0x9F, 0xBF),
	ROW("surrogate U+D800", V_UTF8, 0xED, 0xA0, 0x80),
	ROW("surrogate U+DBFF", V_UTF8, 0xED, 0xAF, 0xBF),
	ROW("surrogate U+DC00", V_UTF8, 0xED, 0xB0, 0x80),
	ROW("surrogate U+DFFF", V_UTF8, 0xED, 0xBF, 0xBF),
	ROW("ED 7F 80", V_UTF8, 0xED, 0x7F, 0x80),
	ROW("ED 80 C0", V_UTF8, 0xED, 0x80, 0xC0),
	/* U+E000..U+FFFF: EE..EF 80..BF 80..BF */
	ROW("U+E000", V_OK, 0xEE, 0x80, 0x80),
	ROW("U+FFFD", V_OK, 0xEF, 0xBF, 0xBD),
	ROW("U+FFFF", V_OK, 0xEF, 0xBF, 0xBF),
	ROW("EE 7F 80", V_UTF8, 0xEE, 0x7F, 0x80),
	ROW("EF C0 80", V_UTF8, 0xEF, 0xC0, 0x80),
	ROW("EF BF C0", V_UTF8, 0xEF, 0xBF, 0xC0),
	/* U+10000..U+3FFFF: F0 90..BF 80..BF 80..BF */
	ROW("U+10000", V_OK, 0xF0, 0x90, 0x80, 0x80),
	ROW("U+1F600", V_OK, 0xF0, 0x9F, 0x98, 0x80),
	ROW("U+3FFFF", V_OK, 0xF0, 0xBF, 0xBF, 0xBF),
	ROW("overlong F0 80 80 80", V_UTF8, 0xF0, 0x80, 0x80, 0x80),
	ROW("overlong F0 8F BF BF", V_UTF8, 0xF0, 0x8F, 0xBF, 0xBF),
	ROW("F0 C0 80 80", V_UTF8, 0xF0, 0xC0, 0x80, 0x80),
	ROW("F0 90 7F 80", V_UTF8, 0xF0, 0x90, 0x7F, 0x80),
	ROW("F0 90 80 7F", V_UTF8, 0xF0, 0x90, 0x80, 0x7F),
	ROW("F0 90 80 C0", V_UTF8, 0xF0, 0x90, 0x80, 0xC0),
	/* U+40000..U+FFFFF: F1..F3 80..BF 80..BF 80..BF */
	ROW("U+40000", V_OK, 0xF1, 0x80, 0x80, 0x80),
	ROW("U+FFFFF", V_OK, 0xF3, 0xBF, 0xBF, 0xBF),
	ROW("F1 7F 80 80", V_UTF8, 0xF1, 0x7F, 0x80, 0x80),
	ROW("F3 C0 80 80", V_UTF8, 0xF3, 0xC0, 0x80, 0x80),
	ROW("F3 BF BF C0", V_UTF8, 0xF3, 0xBF, 0xBF, 0xC0),
	/* U+100000..U+10FFFF: F4 80..8F 80..BF 80..BF */
	ROW("U+100000", V_OK, 0xF4, 0x80, 0x80, 0x80),
	ROW("U+10FFFF", V_OK, 0xF4, 0x8F, 0xBF, 0xBF),
	ROW("U+110000 (F4 90)", V_UTF8, 0xF4, 0x90, 0x80, 0x80),
	ROW("F4 BF BF BF", V_UTF8, 0xF4, 0xBF, 0xBF, 0xBF),
	ROW("F4 7F 80 80", V_UTF8, 0xF4, 0x7F, 0x80, 0x80),
	/* lead bytes that never occur */
	ROW("F5 80 80 80", V_UTF8, 0xF5, 0x80, 0x80, 0x80),
	ROW("F7 BF BF BF", V_UTF8, 0xF7, 0xBF, 0xBF, 0xBF),
	ROW("five-byte F8 88 80 80 80", V_UTF8, 0xF8, 0x88, 0x80, 0x80,
	    0x80),
	ROW("six-byte FC 84 80 80 80 80", V_UTF8, 0xFC, 0x84, 0x80, 0x80,
	    0x80, 0x80),
	ROW("FE", V_UTF8, 0xFE),
	ROW("FF", V_UTF8, 0xFF),
	/* lone continuation bytes */
	ROW("lone 80", V_UTF8, 0x80),
	ROW("lone BF", V_UTF8, 0xBF),
	ROW("two continuations", V_UTF8, 0x80, 0x80),
	/* truncated sequences (the suffix, when added, is ASCII) */
	ROW("truncated C2", V_UTF8, 0xC2),
	ROW("truncated DF", V_UTF8, 0xDF),
	ROW("truncated E0 A0", V_UTF8, 0xE0, 0xA0),
	ROW("truncated E1", V_UTF8, 0xE1),
	ROW("truncated ED 80", V_UTF8, 0xED, 0x80),
	ROW("truncated F0 90 80", V_UTF8, 0xF0, 0x90, 0x80),
	ROW("truncated F1 80", V_UTF8, 0xF1, 0x80),
	ROW("truncated F4 8F BF", V_UTF8, 0xF4, 0x8F, 0xBF),
	ROW("truncated F4", V_UTF8, 0xF4),
};

#define PREFIX "ok-"
#define SUFFIX "-end"

/* prefix + bytes (+ suffix) into buf, NUL-terminated. */
static void
build(char *buf, size_t size, const unsigned char *bytes, size_t len,
      int with_suffix)
{
	size_t o = strlen(PREFIX);

	assert_true(o + len + strlen(SUFFIX) + 1 <= size);
	memcpy(buf, PREFIX, o);
	memcpy(buf + o, bytes, len);
	o += len;
	if (with_suffix) {
		memcpy(buf + o, SUFFIX, strlen(SUFFIX));
		o += strlen(SUFFIX);
	}
	buf[o] = '\0';
}

/* Check what one validator said about a row placed at byte 3. */
static void
check_verdict(const struct utf8_case *c, cairn_status rc, cairn_status bad,
              const char *role)
{
	char at[32];

	snprintf(at, sizeof(at), "at byte %zu", strlen(PREFIX));
	if (c->verdict == V_OK) {
		if (rc != CAIRN_OK)
			fail_msg("%s: %s rejected: %s", c->what, role,
			         cairn_last_error());
		return;
	}
	if (rc != bad)
		fail_msg("%s: %s gave %d, not %d", c->what, role, (int)rc,
		         (int)bad);
	assert_contains(cairn_last_error(), role);
	assert_contains(cairn_last_error(), at);
	assert_contains(cairn_last_error(), c->verdict == V_CONTROL
	                                            ? "control character"
	                                            : "not valid UTF-8");
}

static void
utf8_table_every_validator(void **state)
{
	char buf[32], role[64];
	const char *tags[2];
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	size_t i, len;
	int suffix;

	(void)state;
	for (i = 0; i < sizeof(utf8_table) / sizeof(utf8_table[0]); i++) {
		const struct utf8_case *c = &utf8_table[i];
		for (suffix = 0; suffix <= 1; suffix++) {
			build(buf, sizeof(buf), c->bytes, c->len, suffix);
			check_verdict(c, cairn_validate_stream_id(buf),
			              CAIRN_INVALID_STREAM, "stream id");
			check_verdict(c, cairn_validate_type(buf),
			              CAIRN_INVALID_TYPE, "event type");
			len = 0;
			check_verdict(c,
			              cairn__validate_name(buf, CAIRN_TAG_MAX,
			                                   CAIRN_INVALID_TAG,
			                                   "the tag", &len),
			              CAIRN_INVALID_TAG, "the tag");
			if (c->verdict == V_OK)
				assert_int_equal(len, strlen(buf));
			/* as an event's type, and as its second tag */
			ev.type = buf;
			ev.ntags = 0;
			snprintf(role, sizeof(role), "type of event 7");
			check_verdict(c, cairn__validate_event(&ev, 7, 100),
			              CAIRN_INVALID_TYPE, role);
			tags[0] = "fine";
			tags[1] = buf;
			ev.type = "T";
			ev.tags = tags;
			ev.ntags = 2;
			check_verdict(c, cairn__validate_event(&ev, 7, 100),
			              CAIRN_INVALID_TAG, "tag 1 of event 7");
		}
	}
}

/*
 * The reference: decode by the bit patterns, then apply Unicode's limits.
 * Returns the code point's encoded length and sets *cp, or 0.
 */
static size_t
ref_utf8(const unsigned char *s, size_t avail, uint32_t *cp)
{
	static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len, i;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0) {
		len = 2;
		v = s[0] & 0x1Fu;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3;
		v = s[0] & 0x0Fu;
	} else if ((s[0] & 0xF8) == 0xF0) {
		len = 4;
		v = s[0] & 0x07u;
	} else
		return 0;
	if (avail < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3Fu);
	}
	if (v < min_for_len[len] || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* The reference verdict on a whole name, with the offending offset. */
static enum verdict
ref_verdict(const unsigned char *s, size_t len, size_t *at)
{
	size_t i, n;
	uint32_t cp = 0;

	for (i = 0; i < len; i += n) {
		*at = i;
		n = ref_utf8(s + i, len - i, &cp);
		if (n == 0)
			return V_UTF8;
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
			return V_CONTROL;
	}
	return V_OK;
}

static void
compare_with_reference(const unsigned char *s, size_t len)
{
	char at[32];
	size_t ref_at = 0;
	enum verdict v = ref_verdict(s, len, &ref_at);
	cairn_status rc = cairn_validate_stream_id((const char *)s);

	if (v == V_OK) {
		if (rc != CAIRN_OK)
			fail_msg("reference accepts %02X %02X %02X %02X "
			         "(len %zu), validator: %s", s[2], s[3], s[4],
			         s[5], len, cairn_last_error());
		return;
	}
	if (rc != CAIRN_INVALID_STREAM)
		fail_msg("reference rejects %02X %02X %02X %02X (len %zu) at "
		         "byte %zu, validator accepts", s[2], s[3], s[4], s[5],
		         len, ref_at);
	snprintf(at, sizeof(at), "at byte %zu", ref_at);
	assert_contains(cairn_last_error(), at);
	assert_contains(cairn_last_error(), v == V_CONTROL
	                                            ? "control character"
	                                            : "not valid UTF-8");
}

/*
 * "ab" + b0 b1 b2 b3 + "yz" for every lead byte b0 >= 0x80 and every b1,
 * b2 and b3 taken around the continuation range, and the same cut short
 * after b0, b1 and b2 to exercise truncation at the end.
 */
static void
utf8_exhaustive_against_reference(void **state)
{
	static const unsigned char around[] = {0x41, 0x7F, 0x80, 0x8F, 0x90,
	                                       0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
	unsigned char s[16];
	unsigned b0, b1;
	size_t i, j;

	(void)state;
	s[0] = 'a';
	s[1] = 'b';
	for (b0 = 0x01; b0 <= 0xFF; b0++) {
		s[2] = (unsigned char)b0;
		s[3] = '\0';
		compare_with_reference(s, 3);
		for (b1 = 0x01; b1 <= 0xFF; b1++) {
			s[3] = (unsigned char)b1;
			s[4] = '\0';
			compare_with_reference(s, 4);
			if (b0 < 0xC0)
				continue;
			for (i = 0; i < sizeof(around); i++) {
				s[4] = around[i];
				s[5] = '\0';
				compare_with_reference(s, 5);
				if (b0 < 0xE0)
					continue;
				for (j = 0; j < sizeof(around); j++) {
					s[5] = around[j];
					memcpy(s + 6, "yz", 3);
					compare_with_reference(s, 8);
				}
			}
		}
	}
}

/* The offset is in bytes, not characters, and points at the sequence. */
static void
offsets_count_bytes(void **state)
{
	char name[CAIRN_STREAM_ID_MAX + 1];

	(void)state;
	/* U+00E9 (2 bytes), U+20AC (3 bytes), then a stray FF */
	assert_int_equal(cairn_validate_stream_id("\xC3\xA9\xE2\x82\xAC\xFF"),
	                 CAIRN_INVALID_STREAM);
	assert_error_has("at byte 5");
	assert_int_equal(cairn_validate_stream_id("\xF0\x9F\x98\x80\x01"),
	                 CAIRN_INVALID_STREAM);
	assert_error_has("control character at byte 4");
	/* the last of 255 bytes */
	memset(name, 'a', CAIRN_STREAM_ID_MAX - 1);
	name[CAIRN_STREAM_ID_MAX - 1] = (char)0x80;
	name[CAIRN_STREAM_ID_MAX] = '\0';
	assert_int_equal(cairn_validate_stream_id(name), CAIRN_INVALID_STREAM);
	assert_error_has("at byte 254");
	/* a sequence cut by the terminator at the last byte */
	name[CAIRN_STREAM_ID_MAX - 1] = (char)0xE2;
	assert_int_equal(cairn_validate_stream_id(name), CAIRN_INVALID_STREAM);
	assert_error_has("not valid UTF-8 at byte 254");
}

/* A name of n bytes: 'x' repeated, ending in tail. */
static char *
name_of(size_t n, const char *tail)
{
	char *s = malloc(n + 1);
	size_t t = strlen(tail);

	assert_non_null(s);
	assert_true(t <= n);
	memset(s, 'x', n - t);
	memcpy(s + n - t, tail, t);
	s[n] = '\0';
	return s;
}

/* Lengths 0, 1, max, max + 1 for one validator. */
static void
check_lengths(cairn_status (*check)(const char *), size_t max,
              cairn_status bad, const char *role)
{
	char msg[128], *s;

	assert_int_equal(check(NULL), bad);
	assert_error_has(role);
	assert_error_has("NULL");
	assert_int_equal(check(""), bad);
	assert_error_has(role);
	assert_error_has("empty");
	assert_int_equal(check("x"), CAIRN_OK);
	s = name_of(max, "");
	assert_int_equal(check(s), CAIRN_OK);
	free(s);
	s = name_of(max + 1, "");
	assert_int_equal(check(s), bad);
	snprintf(msg, sizeof(msg), "%s is longer than %zu bytes", role, max);
	assert_error_has(msg);
	free(s);
	s = name_of(4 * max, "");
	assert_int_equal(check(s), bad);
	assert_error_has(msg);
	free(s);
	/* multi-byte characters count in bytes */
	s = name_of(max, "\xC3\xA9");
	assert_int_equal(check(s), CAIRN_OK);
	free(s);
	s = name_of(max, "\xF0\x9F\x98\x80");
	assert_int_equal(check(s), CAIRN_OK);
	free(s);
	s = name_of(max + 1, "\xC3\xA9");
	assert_int_equal(check(s), bad);
	assert_error_has(msg);
	free(s);
}

static cairn_status
check_tag(const char *tag)
{
	return cairn__validate_name(tag, CAIRN_TAG_MAX, CAIRN_INVALID_TAG,
	                            "tag", NULL);
}

static void
lengths_and_null(void **state)
{
	size_t len = 0;
	char *s;

	(void)state;
	check_lengths(cairn_validate_stream_id, CAIRN_STREAM_ID_MAX,
	              CAIRN_INVALID_STREAM, "stream id");
	check_lengths(cairn_validate_type, CAIRN_TYPE_MAX, CAIRN_INVALID_TYPE,
	              "event type");
	check_lengths(check_tag, CAIRN_TAG_MAX, CAIRN_INVALID_TAG, "tag");
	/* len_out reports bytes, and only on success */
	s = name_of(CAIRN_STREAM_ID_MAX, "\xE2\x82\xAC");
	assert_int_equal(cairn__validate_name(s, CAIRN_STREAM_ID_MAX,
	                                      CAIRN_INVALID_STREAM, "s", &len),
	                 CAIRN_OK);
	assert_int_equal(len, CAIRN_STREAM_ID_MAX);
	free(s);
	len = 77;
	assert_int_equal(cairn__validate_name("", 10, CAIRN_INVALID, "s",
	                                      &len),
	                 CAIRN_INVALID);
	assert_int_equal(len, 77);
	/* the limit is the caller's */
	assert_int_equal(cairn__validate_name("abcd", 3, CAIRN_INVALID, "s",
	                                      NULL),
	                 CAIRN_INVALID);
	assert_int_equal(cairn__validate_name("abc", 3, CAIRN_INVALID, "s",
	                                      &len),
	                 CAIRN_OK);
	assert_int_equal(len, 3);
}

/* ---- events ---- */

static void
event_minimal_and_null_payloads(void **state)
{
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	char byte = 'x';

	(void)state;
	ev.type = "Deposited";
	assert_int_equal(cairn__validate_event(&ev, 0, 100), CAIRN_OK);
	ev.type = NULL;
	assert_int_equal(cairn__validate_event(&ev, 4, 100),
	                 CAIRN_INVALID_TYPE);
	assert_error_has("type of event 4 is NULL");
	ev.type = "";
	assert_int_equal(cairn__validate_event(&ev, 4, 100),
	                 CAIRN_INVALID_TYPE);
	assert_error_has("type of event 4 is empty");
	ev.type = "T";

	ev.data_len = 1;
	assert_int_equal(cairn__validate_event(&ev, 2, 100), CAIRN_INVALID);
	assert_error_has("event 2 has a NULL payload");
	ev.data = &byte;
	assert_int_equal(cairn__validate_event(&ev, 2, 100), CAIRN_OK);
	ev.metadata_len = 1;
	assert_int_equal(cairn__validate_event(&ev, 3, 100), CAIRN_INVALID);
	assert_error_has("event 3 has a NULL payload");
	ev.metadata = &byte;
	assert_int_equal(cairn__validate_event(&ev, 3, 100), CAIRN_OK);
	/* NULL with a length is refused before any size arithmetic */
	ev.data = NULL;
	ev.data_len = SIZE_MAX;
	assert_int_equal(cairn__validate_event(&ev, 3, 100), CAIRN_INVALID);
	/* a non-NULL pointer with length 0 is fine */
	ev.data = &byte;
	ev.data_len = 0;
	ev.metadata_len = 0;
	assert_int_equal(cairn__validate_event(&ev, 3, 100), CAIRN_OK);
}

struct size_case {
	size_t data, meta, limit;
	cairn_status want;
};

static void
event_size_limit(void **state)
{
	const size_t half = SIZE_MAX / 2 + 1;
	const struct size_case cases[] = {
		{0, 0, 100, CAIRN_OK},
		{100, 0, 100, CAIRN_OK},
		{0, 100, 100, CAIRN_OK},
		{60, 40, 100, CAIRN_OK},
		{101, 0, 100, CAIRN_TOO_LARGE},
		{0, 101, 100, CAIRN_TOO_LARGE},
		{60, 41, 100, CAIRN_TOO_LARGE},
		{100, 1, 100, CAIRN_TOO_LARGE},
		{1, 100, 100, CAIRN_TOO_LARGE},
		/* sums that wrap around size_t must not pass */
		{SIZE_MAX, 0, 100, CAIRN_TOO_LARGE},
		{0, SIZE_MAX, 100, CAIRN_TOO_LARGE},
		{SIZE_MAX, 1, 100, CAIRN_TOO_LARGE},
		{1, SIZE_MAX, 100, CAIRN_TOO_LARGE},
		{half, half, 100, CAIRN_TOO_LARGE},
		{50, SIZE_MAX - 49, 100, CAIRN_TOO_LARGE},
		{SIZE_MAX, SIZE_MAX, 100, CAIRN_TOO_LARGE},
		/* a limit of SIZE_MAX itself */
		{SIZE_MAX, 0, SIZE_MAX, CAIRN_OK},
		{0, SIZE_MAX, SIZE_MAX, CAIRN_OK},
		{SIZE_MAX - 5, 5, SIZE_MAX, CAIRN_OK},
		{SIZE_MAX, 1, SIZE_MAX, CAIRN_TOO_LARGE},
		{1, SIZE_MAX, SIZE_MAX, CAIRN_TOO_LARGE},
		{half, half, SIZE_MAX, CAIRN_TOO_LARGE},
		/* the default limit, exactly and one over */
		{CAIRN_DEFAULT_MAX_EVENT_SIZE - 10, 10,
		 CAIRN_DEFAULT_MAX_EVENT_SIZE, CAIRN_OK},
		{CAIRN_DEFAULT_MAX_EVENT_SIZE - 10, 11,
		 CAIRN_DEFAULT_MAX_EVENT_SIZE, CAIRN_TOO_LARGE},
	};
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	char byte = 0;
	size_t i;
	cairn_status rc;

	(void)state;
	ev.type = "T";
	ev.data = &byte;     /* never read: only the lengths are checked */
	ev.metadata = &byte;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ev.data_len = cases[i].data;
		ev.metadata_len = cases[i].meta;
		rc = cairn__validate_event(&ev, 9, cases[i].limit);
		if (rc != cases[i].want)
			fail_msg("case %zu: %zu + %zu against %zu gave %d, "
			         "not %d", i, cases[i].data, cases[i].meta,
			         cases[i].limit, (int)rc, (int)cases[i].want);
		if (rc == CAIRN_TOO_LARGE) {
			assert_error_has("event 9");
			assert_error_has("over the limit");
		}
	}
}

/*
 * The sentence of an oversized event states its size: data 10 + metadata
 * 7 against a limit of 16 is 17 bytes, not 10.
 */
static void
event_too_large_message_states_total(void **state)
{
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	char byte = 0;

	(void)state;
	ev.type = "T";
	ev.data = &byte;
	ev.metadata = &byte;
	ev.data_len = 10;
	ev.metadata_len = 7;
	assert_int_equal(cairn__validate_event(&ev, 0, 16), CAIRN_TOO_LARGE);
	assert_error_has("limit of 16");
	assert_error_has("17 bytes");
}

static void
event_tags(void **state)
{
	const char *tags[CAIRN_TAGS_MAX + 1];
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	char *long_tag;
	size_t i;

	(void)state;
	for (i = 0; i < CAIRN_TAGS_MAX + 1; i++)
		tags[i] = "tenant:42";
	ev.type = "T";
	ev.tags = tags;
	ev.ntags = CAIRN_TAGS_MAX;
	assert_int_equal(cairn__validate_event(&ev, 1, 100), CAIRN_OK);
	ev.ntags = CAIRN_TAGS_MAX + 1;
	assert_int_equal(cairn__validate_event(&ev, 1, 100),
	                 CAIRN_INVALID_TAG);
	assert_error_has("event 1 has 65 tags");
	ev.ntags = SIZE_MAX;
	assert_int_equal(cairn__validate_event(&ev, 1, 100),
	                 CAIRN_INVALID_TAG);

	ev.tags = NULL;
	ev.ntags = 1;
	assert_int_equal(cairn__validate_event(&ev, 1, 100),
	                 CAIRN_INVALID_TAG);
	assert_error_has("event 1 has ntags but no tags");
	ev.ntags = 0;
	assert_int_equal(cairn__validate_event(&ev, 1, 100), CAIRN_OK);

	ev.tags = tags;
	ev.ntags = 4;
	tags[2] = NULL;
	assert_int_equal(cairn__validate_event(&ev, 5, 100),
	                 CAIRN_INVALID_TAG);
	assert_error_has("tag 2 of event 5 is NULL");
	tags[2] = "";
	assert_int_equal(cairn__validate_event(&ev, 5, 100),
	                 CAIRN_INVALID_TAG);
	assert_error_has("tag 2 of event 5 is empty");
	tags[2] = "a\tb";
	assert_int_equal(cairn__validate_event(&ev, 5, 100),
	                 CAIRN_INVALID_TAG);
	assert_error_has("tag 2 of event 5 has a control character at byte 1");
	tags[2] = "ok\xED\xA0\x80";
	assert_int_equal(cairn__validate_event(&ev, 5, 100),
	                 CAIRN_INVALID_TAG);
	assert_error_has("tag 2 of event 5 is not valid UTF-8 at byte 2");
	long_tag = name_of(CAIRN_TAG_MAX + 1, "");
	tags[3] = long_tag;
	tags[2] = "fine";
	assert_int_equal(cairn__validate_event(&ev, 5, 100),
	                 CAIRN_INVALID_TAG);
	assert_error_has("tag 3 of event 5 is longer than 255 bytes");
	long_tag[CAIRN_TAG_MAX] = '\0';
	assert_int_equal(cairn__validate_event(&ev, 5, 100), CAIRN_OK);
	free(long_tag);
	/* a bad type is reported before the tags */
	tags[0] = NULL;
	ev.type = "\x7F";
	assert_int_equal(cairn__validate_event(&ev, 5, 100),
	                 CAIRN_INVALID_TYPE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_table_every_validator),
		cmocka_unit_test(utf8_exhaustive_against_reference),
		cmocka_unit_test(offsets_count_bytes),
		cmocka_unit_test(lengths_and_null),
		cmocka_unit_test(event_minimal_and_null_payloads),
		cmocka_unit_test(event_size_limit),
		cmocka_unit_test(event_too_large_message_states_total),
		cmocka_unit_test(event_tags),
	};

	return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
