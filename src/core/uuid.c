/*
 * uuid.c -- event ids: RFC 4122 text form and random version 4 ids.
 */
#include "core.h"

#include <errno.h>
#include <sys/random.h>

static const char hex_digits[] = "0123456789abcdef";

void
cairn_uuid_format(const cairn_uuid *id, char buf[37])
{
	size_t i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		buf[o++] = hex_digits[id->bytes[i] >> 4];
		buf[o++] = hex_digits[id->bytes[i] & 0xF];
	}
	buf[o] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

cairn_status
cairn_uuid_parse(const char *text, cairn_uuid *out)
{
	size_t i, o = 0;
	int hi, lo;

	if (text == NULL || out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	for (i = 0; o < 16; o++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				goto bad;
			i++;
		}
		hi = hex_value(text[i]);
		if (hi < 0)
			goto bad;
		lo = hex_value(text[i + 1]);
		if (lo < 0)
			goto bad;
		out->bytes[o] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	if (text[i] != '\0')
		goto bad;
	return CAIRN_OK;
bad:
	return cairn__error(CAIRN_INVALID, 0, "'%.40s' is not a UUID", text);
}

/*
 * Random bytes come from getrandom(); ids are generated in bulk by the
 * append path, so one system call serves a whole batch.
 */
cairn_status
cairn__uuid_generate_many(cairn_uuid *ids, size_t n)
{
	uint8_t *p = (uint8_t *)ids;
	size_t want = n * sizeof(*ids), got = 0, i;
	ssize_t r;

	while (got < want) {
		r = getrandom(p + got, want - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return cairn__error(
			        CAIRN_IO, errno,
			        "no system randomness for event ids");
		}
		got += (size_t)r;
	}
	for (i = 0; i < n; i++) {
		ids[i].bytes[6] = (uint8_t)((ids[i].bytes[6] & 0x0F) | 0x40);
		ids[i].bytes[8] = (uint8_t)((ids[i].bytes[8] & 0x3F) | 0x80);
	}
	return CAIRN_OK;
}

cairn_status
cairn_uuid_generate(cairn_uuid *out)
{
	if (out == NULL)
		return cairn__error(CAIRN_INVALID, 0, "NULL argument");
	return cairn__uuid_generate_many(out, 1);
}
