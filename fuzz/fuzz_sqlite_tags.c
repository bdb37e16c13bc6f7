/*
 * fuzz_sqlite_tags.c -- the sqlite engine's decoder of stored rows: the
 * tags column, a JSON array of strings (the only column it parses; the
 * others are typed columns that sqlite hands over as they are).
 *
 * The input is the column's text.  The engine's decoder must agree with
 * the reference written here from the format (a '[', strings separated by
 * ',', a ']'; in a string only \" \\ and \/ escapes; at most
 * CAIRN_TAGS_MAX strings): both accept or both reject (CAIRN_CORRUPT with
 * a message), and when they accept, the same tags byte for byte, with
 * their full lengths.  A NUL byte inside a string is rejected by the
 * reference: no tag can hold one, and a decoder that let it through would
 * hand out a tag cut short -- the wrong data.  The tags that are accepted
 * are written back as the engine writes them and parsed again, to the
 * same tags.
 */
#include <string.h>

#include "backends/sqlite_tags.h"
#include "cairn.h"
#include "fuzz.h"

typedef struct ref_tags {
	size_t n;
	size_t off[CAIRN_TAGS_MAX], len[CAIRN_TAGS_MAX];
	char *buf; /* the unescaped bytes */
} ref_tags;

/* 1: s is a well-formed tags column; its tags into r. */
static int
ref_parse(const char *s, size_t len, ref_tags *r)
{
	size_t i = 1, o = 0;

	r->n = 0;
	if (len < 2 || s[0] != '[' || s[len - 1] != ']')
		return 0;
	while (i < len - 1) {
		if (r->n > 0 && s[i++] != ',')
			return 0;
		if (i >= len - 1 || s[i++] != '"' || r->n == CAIRN_TAGS_MAX)
			return 0;
		r->off[r->n] = o;
		for (;;) {
			char c;

			if (i >= len - 1)
				return 0;
			c = s[i++];
			if (c == '"')
				break;
			if (c == '\\') {
				if (i >= len - 1)
					return 0;
				c = s[i++];
				if (c != '"' && c != '\\' && c != '/')
					return 0;
			} else if (c == '\0') {
				return 0;
			}
			r->buf[o++] = c;
		}
		r->len[r->n] = o - r->off[r->n];
		r->n++;
	}
	return 1;
}

/* The tags as the engine writes them (tags_json() in sqlite.c). */
static size_t
write_tags(char *out, const char *const *tags, size_t n)
{
	size_t o = 0, i;
	const char *t;

	out[o++] = '[';
	for (i = 0; i < n; i++) {
		if (i > 0)
			out[o++] = ',';
		out[o++] = '"';
		for (t = tags[i]; *t; t++) {
			if (*t == '"' || *t == '\\')
				out[o++] = '\\';
			out[o++] = *t;
		}
		out[o++] = '"';
	}
	out[o++] = ']';
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly the input, so that ASan sees a read past its end. */
	char *s = malloc(size > 0 ? size : 1);
	char *out = malloc(size + 1), *json, *out2;
	const char *tags[CAIRN_TAGS_MAX], *tags2[CAIRN_TAGS_MAX];
	size_t ntags = 0, ntags2 = 0, jlen, i;
	ref_tags ref;
	cairn_status st;
	int ok;

	FUZZ_CHECK(s != NULL && out != NULL);
	if (size > 0)
		memcpy(s, data, size);
	ref.buf = malloc(size + 1);
	FUZZ_CHECK(ref.buf != NULL);
	ok = ref_parse(s, size, &ref);
	st = cairn__sqlite_tags_decode(s, size, out, tags, &ntags);
	if (st != CAIRN_OK) {
		if (ok)
			fprintf(stderr, "the decoder refused a well-formed "
			                "tags column\n");
		FUZZ_CHECK(!ok);
		FUZZ_CHECK(st == CAIRN_CORRUPT);
		FUZZ_CHECK(cairn_last_error()[0] != '\0');
		goto done;
	}
	if (!ok)
		fprintf(stderr, "the decoder accepted a malformed tags "
		                "column\n");
	FUZZ_CHECK(ok);
	FUZZ_CHECK(ntags == ref.n);
	for (i = 0; i < ntags; i++) {
		FUZZ_CHECK(tags[i] >= out && tags[i] <= out + size);
		FUZZ_CHECK(strlen(tags[i]) == ref.len[i]);
		FUZZ_CHECK(memcmp(tags[i], ref.buf + ref.off[i], ref.len[i]) ==
		           0);
	}
	/* Written back and parsed again: the same tags. */
	jlen = 2;
	for (i = 0; i < ntags; i++)
		jlen += 2 * strlen(tags[i]) + 3;
	json = malloc(jlen);
	out2 = malloc(jlen + 1);
	FUZZ_CHECK(json != NULL && out2 != NULL);
	jlen = write_tags(json, tags, ntags);
	FUZZ_CHECK(cairn__sqlite_tags_decode(json, jlen, out2, tags2,
	                                     &ntags2) == CAIRN_OK);
	FUZZ_CHECK(ntags2 == ntags);
	for (i = 0; i < ntags; i++)
		FUZZ_CHECK(strcmp(tags2[i], tags[i]) == 0);
	free(json);
	free(out2);
done:
	free(ref.buf);
	free(out);
	free(s);
	return 0;
}
