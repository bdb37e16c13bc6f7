/*
 * fuzz_names.c -- names (stream ids, event types, tags) at the edge of the
 * library.
 *
 * The input, as a C string, goes to cairn_validate_stream_id() and
 * cairn_validate_type(), whose verdict must match an independent decoder
 * written here from the rule in cairn.h (1..255 bytes of well-formed UTF-8,
 * no control character).  Then it is appended to a memory store as an
 * event type and tag (with the raw input as data), as a tag alone (with
 * the raw input as metadata), and as a stream id.  Each append must
 * succeed exactly when its name is valid, write one event and give it back
 * byte for byte; or fail with the matching validation status, a message,
 * and the head unchanged.
 */
#include <string.h>

#include "cairn.h"
#include "fuzz.h"

/* The store is opened once and reopened after this many appends, so that
 * a long run does not grow it without end. */
#define STORE_RECYCLE_APPENDS 4096

static const char fixed_stream[] = "fuzz-names";
static const char fixed_type[] = "FuzzTag";

static cairn_store *store;
static size_t appends;

/*
 * The rule of cairn.h, decoded code point by code point: 1..max bytes,
 * each sequence the shortest encoding of a scalar value (no surrogate,
 * nothing past U+10FFFF), no C0 control, DEL or C1 control.  Written
 * apart from src/core/validate.c on purpose, to check it.
 */
static int
name_is_valid(const unsigned char *s, size_t len, size_t max)
{
	static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};

	if (len == 0 || len > max)
		return 0;
	while (len > 0) {
		uint32_t cp;
		size_t need, k;

		if (s[0] < 0x80) {
			cp = s[0];
			need = 1;
		} else if ((s[0] & 0xE0) == 0xC0) {
			cp = s[0] & 0x1Fu;
			need = 2;
		} else if ((s[0] & 0xF0) == 0xE0) {
			cp = s[0] & 0x0Fu;
			need = 3;
		} else if ((s[0] & 0xF8) == 0xF0) {
			cp = s[0] & 0x07u;
			need = 4;
		} else {
			return 0;
		}
		if (need > len)
			return 0;
		for (k = 1; k < need; k++) {
			if ((s[k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[k] & 0x3Fu);
		}
		if (cp < min_cp[need] || (cp >= 0xD800 && cp <= 0xDFFF) ||
		    cp > 0x10FFFF)
			return 0;
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
			return 0;
		s += need;
		len -= need;
	}
	return 1;
}

static void
store_ready(void)
{
	if (store != NULL && appends >= STORE_RECYCLE_APPENDS) {
		cairn_close(store);
		store = NULL;
	}
	if (store == NULL) {
		FUZZ_CHECK(cairn_open("memory:", NULL, &store) == CAIRN_OK);
		appends = 0;
	}
}

static uint64_t
head(void)
{
	uint64_t pos = 0;

	FUZZ_CHECK(cairn_head(store, &pos) == CAIRN_OK);
	return pos;
}

static int
same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The event at position pos must be the one just appended. */
static void
check_stored(uint64_t pos, const char *stream, const cairn_new_event *ev)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it = NULL;
	const cairn_event *e = NULL;
	size_t i;

	ro.from = pos;
	ro.limit = 1;
	FUZZ_CHECK(cairn_read_all(store, &ro, &it) == CAIRN_OK);
	FUZZ_CHECK(cairn_iter_next(it, &e) == CAIRN_ROW);
	FUZZ_CHECK(e->position == pos);
	FUZZ_CHECK(
	        same_bytes(e->stream, e->stream_len, stream, strlen(stream)));
	FUZZ_CHECK(e->stream[e->stream_len] == '\0');
	FUZZ_CHECK(
	        same_bytes(e->type, e->type_len, ev->type, strlen(ev->type)));
	FUZZ_CHECK(e->type[e->type_len] == '\0');
	FUZZ_CHECK(same_bytes(e->data, e->data_len, ev->data, ev->data_len));
	FUZZ_CHECK(same_bytes(e->metadata, e->metadata_len, ev->metadata,
	                      ev->metadata_len));
	FUZZ_CHECK(e->ntags == ev->ntags);
	for (i = 0; i < ev->ntags; i++)
		FUZZ_CHECK(strcmp(e->tags[i], ev->tags[i]) == 0);
	FUZZ_CHECK(cairn_iter_next(it, &e) == CAIRN_DONE);
	cairn_iter_free(it);
}

/*
 * Append ev to stream.  valid says whether every name in it is valid;
 * when not, the append must fail with want, leave a message and write
 * nothing.
 */
static void
check_append(const char *stream, const cairn_new_event *ev, int valid,
             cairn_status want)
{
	uint64_t before, after;
	cairn_append_result res;
	cairn_status rc;

	store_ready();
	before = head();
	rc = cairn_append(store, stream, CAIRN_ANY, ev, 1, &res);
	after = head();
	if (valid) {
		if (rc != CAIRN_OK)
			fprintf(stderr, "append refused a valid event: %s\n",
			        cairn_last_error());
		FUZZ_CHECK(rc == CAIRN_OK);
		FUZZ_CHECK(after == before + 1);
		FUZZ_CHECK(res.first_position == after &&
		           res.last_position == after && !res.idempotent);
		check_stored(after, stream, ev);
		appends++;
	} else {
		FUZZ_CHECK(rc == want);
		FUZZ_CHECK(cairn_last_error()[0] != '\0');
		FUZZ_CHECK(after == before);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = fuzz_cstring(data, size);
	const unsigned char *bytes = (const unsigned char *)name;
	size_t len = strlen(name);
	const char *tags[1];
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	int stream_ok, type_ok, tag_ok;
	cairn_status rc;

	stream_ok = name_is_valid(bytes, len, CAIRN_STREAM_ID_MAX);
	type_ok = name_is_valid(bytes, len, CAIRN_TYPE_MAX);
	tag_ok = name_is_valid(bytes, len, CAIRN_TAG_MAX);

	rc = cairn_validate_stream_id(name);
	FUZZ_CHECK((rc == CAIRN_OK) == stream_ok);
	if (rc != CAIRN_OK) {
		FUZZ_CHECK(rc == CAIRN_INVALID_STREAM);
		FUZZ_CHECK(cairn_last_error()[0] != '\0');
	}
	rc = cairn_validate_type(name);
	FUZZ_CHECK((rc == CAIRN_OK) == type_ok);
	if (rc != CAIRN_OK) {
		FUZZ_CHECK(rc == CAIRN_INVALID_TYPE);
		FUZZ_CHECK(cairn_last_error()[0] != '\0');
	}

	/* The name as type and tag; the raw bytes, NULs and all, as data.
	 * The type is checked first, and a tag follows the same rule. */
	tags[0] = name;
	ev.type = name;
	ev.tags = tags;
	ev.ntags = 1;
	ev.data = size > 0 ? data : NULL;
	ev.data_len = size;
	check_append(fixed_stream, &ev, type_ok, CAIRN_INVALID_TYPE);

	/* The name as a tag alone; the raw bytes as metadata. */
	ev.type = fixed_type;
	ev.data = NULL;
	ev.data_len = 0;
	ev.metadata = size > 0 ? data : NULL;
	ev.metadata_len = size;
	check_append(fixed_stream, &ev, tag_ok, CAIRN_INVALID_TAG);

	/* The name as a stream id. */
	ev.metadata = NULL;
	ev.metadata_len = 0;
	ev.tags = NULL;
	ev.ntags = 0;
	check_append(name, &ev, stream_ok, CAIRN_INVALID_STREAM);

	free(name);
	return 0;
}
