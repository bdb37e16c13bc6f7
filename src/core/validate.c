/*
 * validate.c -- the checks every input passes at the edge of the library.
 *
 * Each check returns its own status and leaves a sentence naming what was
 * wrong, so that a caller (or the CLI, or the server) can report it as is.
 */
#include "core.h"

#include <stdint.h>
#include <string.h>

/*
 * Length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is
 * malformed: a stray continuation byte, a truncated sequence, an overlong
 * encoding, a surrogate (U+D800..U+DFFF) or a code point past U+10FFFF.
 * Follows the table of well-formed byte sequences in Unicode §3.9.
 */
static size_t
utf8_sequence_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (avail < len)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/*
 * Check a name (stream id, type, tag): 1..max bytes of UTF-8 with no
 * control characters (C0, DEL, C1).  On failure, record an error with
 * status and the name's role, and return status.
 */
cairn_status
cairn__validate_name(const char *name, size_t max, cairn_status status,
                     const char *role, size_t *len_out)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t len, i, n;

	if (name == NULL)
		return cairn__error(status, 0, "%s is NULL", role);
	len = strnlen(name, max + 1);
	if (len == 0)
		return cairn__error(status, 0, "%s is empty", role);
	if (len > max)
		return cairn__error(status, 0, "%s is longer than %zu bytes",
		                    role, max);
	for (i = 0; i < len; i += n) {
		if (s[i] < 0x20 || s[i] == 0x7F)
			return cairn__error(
			        status, 0,
			        "%s has a control character at byte %zu", role,
			        i);
		n = utf8_sequence_len(s + i, len - i);
		if (n == 0)
			return cairn__error(status, 0,
			                    "%s is not valid UTF-8 at byte %zu",
			                    role, i);
		/* C1 controls U+0080..U+009F are encoded C2 80..C2 9F. */
		if (n == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0)
			return cairn__error(
			        status, 0,
			        "%s has a control character at byte %zu", role,
			        i);
	}
	if (len_out)
		*len_out = len;
	return CAIRN_OK;
}

cairn_status
cairn_validate_stream_id(const char *stream)
{
	return cairn__validate_name(stream, CAIRN_STREAM_ID_MAX,
	                            CAIRN_INVALID_STREAM, "stream id", NULL);
}

cairn_status
cairn_validate_type(const char *type)
{
	return cairn__validate_name(type, CAIRN_TYPE_MAX, CAIRN_INVALID_TYPE,
	                            "event type", NULL);
}

/*
 * Check one new event against the store's limits.  index names it in the
 * message ("event 3").
 */
cairn_status
cairn__validate_event(const cairn_new_event *ev, size_t index,
                      size_t max_event_size)
{
	char role[64];
	cairn_status rc;
	size_t i;

	snprintf(role, sizeof(role), "type of event %zu", index);
	rc = cairn__validate_name(ev->type, CAIRN_TYPE_MAX, CAIRN_INVALID_TYPE,
	                          role, NULL);
	if (rc != CAIRN_OK)
		return rc;
	if ((ev->data == NULL && ev->data_len > 0) ||
	    (ev->metadata == NULL && ev->metadata_len > 0))
		return cairn__error(
		        CAIRN_INVALID, 0,
		        "event %zu has a NULL payload with a length", index);
	if (ev->data_len > max_event_size ||
	    ev->metadata_len > max_event_size - ev->data_len)
		return cairn__error(
		        CAIRN_TOO_LARGE, 0,
		        "event %zu is %zu bytes of data and metadata (%zu + "
		        "%zu), over the limit of %zu",
		        index,
		        ev->metadata_len <= SIZE_MAX - ev->data_len
		                ? ev->data_len + ev->metadata_len
		                : SIZE_MAX,
		        ev->data_len, ev->metadata_len, max_event_size);
	if (ev->ntags > CAIRN_TAGS_MAX)
		return cairn__error(
		        CAIRN_INVALID_TAG, 0,
		        "event %zu has %zu tags, over the limit of %d", index,
		        ev->ntags, CAIRN_TAGS_MAX);
	if (ev->ntags > 0 && ev->tags == NULL)
		return cairn__error(CAIRN_INVALID_TAG, 0,
		                    "event %zu has ntags but no tags", index);
	for (i = 0; i < ev->ntags; i++) {
		snprintf(role, sizeof(role), "tag %zu of event %zu", i, index);
		rc = cairn__validate_name(ev->tags[i], CAIRN_TAG_MAX,
		                          CAIRN_INVALID_TAG, role, NULL);
		if (rc != CAIRN_OK)
			return rc;
	}
	return CAIRN_OK;
}
