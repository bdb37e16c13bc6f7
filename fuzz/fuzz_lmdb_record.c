/*
 * fuzz_lmdb_record.c -- the lmdb engine's on-disk record decoder.
 *
 * The input is one record, as it would sit in the events database.  It
 * is decoded twice: as given, and with its CRC-32 recomputed, so that
 * mutations reach the structural checks and are not all stopped by the
 * checksum.  Each decode must either fail with CAIRN_CORRUPT and a
 * message, or give an event that lies wholly inside the record, whose
 * names are NUL-terminated at their lengths and hold no NUL before, and
 * that encodes back (by the encoder written here from the layout in
 * lmdb.c, apart from it on purpose) to exactly the bytes given: no byte
 * of an accepted record is ignored, so a mutation that the decoder lets
 * through is one that changes the event it reports, which is what the
 * CRC check of `cairn verify` catches (asserted too: a record whose CRC
 * holds is canonical).  The reserved flag bits 1..7 are the exception:
 * they are ignored by design (lmdb.c, RECORD_REST_SHIFT).
 */
#include <string.h>
#include <zlib.h>

#include "backends/lmdb_record.h"
#include "cairn.h"
#include "fuzz.h"

/* The layout of lmdb.c's record_header, little-endian. */
#define HDR_SIZE 56
#define OFF_CRC 0
#define OFF_FORMAT 4
#define OFF_STREAM_LEN 6
#define OFF_TYPE_LEN 7
#define OFF_VERSION 8
#define OFF_TIME 16
#define OFF_ID 24
#define OFF_DATA_LEN 40
#define OFF_META_LEN 44
#define OFF_NTAGS 48
#define OFF_TAGS_LEN 50
#define OFF_FLAGS 52
#define FLAG_ID_GIVEN 1u
#define FLAGS_RESERVED 0xFEu
#define REST_SHIFT 8

static void
put_le(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

/* p..p+len lies inside rec..rec+size. */
static int
inside(const uint8_t *rec, size_t size, const void *p, size_t len)
{
	const uint8_t *q = p;

	return q >= rec && len <= size && (size_t)(q - rec) <= size - len;
}

/* Encode ev as lmdb.c does, into out (room for size bytes); the length
 * written, or 0 when it would not be size. */
static size_t
encode(uint8_t *out, size_t size, const cairn_event *ev, uint32_t flags_low)
{
	size_t n = HDR_SIZE + ev->stream_len + 1 + ev->type_len + 1 +
	           ev->data_len + ev->metadata_len,
	       tags_len = 0, i, l;
	uint8_t *p;

	for (i = 0; i < ev->ntags; i++)
		tags_len += strlen(ev->tags[i]) + 1;
	if (n + tags_len != size || ev->stream_len > 255 ||
	    ev->type_len > 255 || tags_len > 0xFFFF)
		return 0;
	memset(out, 0, HDR_SIZE);
	put_le(out + OFF_FORMAT, 1, 2);
	out[OFF_STREAM_LEN] = (uint8_t)ev->stream_len;
	out[OFF_TYPE_LEN] = (uint8_t)ev->type_len;
	put_le(out + OFF_VERSION, ev->version, 8);
	put_le(out + OFF_TIME, (uint64_t)ev->time_ns, 8);
	memcpy(out + OFF_ID, ev->id.bytes, 16);
	put_le(out + OFF_DATA_LEN, ev->data_len, 4);
	put_le(out + OFF_META_LEN, ev->metadata_len, 4);
	put_le(out + OFF_NTAGS, ev->ntags, 2);
	put_le(out + OFF_TAGS_LEN, tags_len, 2);
	put_le(out + OFF_FLAGS,
	       (uint64_t)ev->commit_rest << REST_SHIFT | flags_low, 4);
	p = out + HDR_SIZE;
	memcpy(p, ev->stream, ev->stream_len);
	p += ev->stream_len;
	*p++ = 0;
	memcpy(p, ev->type, ev->type_len);
	p += ev->type_len;
	*p++ = 0;
	if (ev->data_len)
		memcpy(p, ev->data, ev->data_len);
	p += ev->data_len;
	if (ev->metadata_len)
		memcpy(p, ev->metadata, ev->metadata_len);
	p += ev->metadata_len;
	for (i = 0; i < ev->ntags; i++) {
		l = strlen(ev->tags[i]) + 1;
		memcpy(p, ev->tags[i], l);
		p += l;
	}
	put_le(out + OFF_CRC, crc32(0L, out + 4, (uInt)(size - 4)), 4);
	return size;
}

static void
check_decode(const uint8_t *rec, size_t size)
{
	const uint64_t pos = 42;
	const char *tags[CAIRN_TAGS_MAX];
	cairn_event ev;
	cairn_status st;
	uint8_t *again;
	uint32_t flags_low;
	size_t i;
	int crc_ok = cairn__lmdb_record_crc_ok(rec, size);

	memset(&ev, 0, sizeof(ev));
	st = cairn__lmdb_record_decode(rec, size, pos, &ev, tags);
	if (st != CAIRN_OK) {
		FUZZ_CHECK(st == CAIRN_CORRUPT);
		FUZZ_CHECK(cairn_last_error()[0] != '\0');
		return;
	}
	FUZZ_CHECK(size >= HDR_SIZE);
	FUZZ_CHECK(ev.position == pos);
	FUZZ_CHECK(ev.version == get_le(rec + OFF_VERSION, 8));
	FUZZ_CHECK(memcmp(ev.id.bytes, rec + OFF_ID, 16) == 0);
	/* Everything inside the record, the names terminated where their
	 * lengths say and nowhere before. */
	FUZZ_CHECK(inside(rec, size, ev.stream, ev.stream_len + 1));
	FUZZ_CHECK(ev.stream[ev.stream_len] == '\0');
	FUZZ_CHECK(memchr(ev.stream, 0, ev.stream_len) == NULL);
	FUZZ_CHECK(inside(rec, size, ev.type, ev.type_len + 1));
	FUZZ_CHECK(ev.type[ev.type_len] == '\0');
	FUZZ_CHECK(memchr(ev.type, 0, ev.type_len) == NULL);
	FUZZ_CHECK(inside(rec, size, ev.data, ev.data_len));
	FUZZ_CHECK(inside(rec, size, ev.metadata, ev.metadata_len));
	FUZZ_CHECK(ev.ntags <= CAIRN_TAGS_MAX);
	FUZZ_CHECK(ev.ntags == 0 || ev.tags == tags);
	for (i = 0; i < ev.ntags; i++) {
		size_t room = (size_t)(rec + size - (const uint8_t *)tags[i]);

		FUZZ_CHECK(inside(rec, size, tags[i], 1));
		FUZZ_CHECK(memchr(tags[i], 0, room) != NULL);
	}
	/* Canonical: the event encodes back to the very bytes. */
	flags_low = rec[OFF_FLAGS] & (FLAG_ID_GIVEN | FLAGS_RESERVED);
	again = malloc(size);
	FUZZ_CHECK(again != NULL);
	if (encode(again, size, &ev, flags_low) != size ||
	    memcmp(again + 4, rec + 4, size - 4) != 0) {
		fprintf(stderr, "the decoder accepted a record that is not "
		                "the encoding of the event it gave\n");
		FUZZ_CHECK(0);
	}
	if (crc_ok)
		FUZZ_CHECK(memcmp(again, rec, 4) == 0);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly the input's size, so that ASan sees any read
	 * past the record's end. */
	uint8_t *rec = malloc(size > 0 ? size : 1);

	FUZZ_CHECK(rec != NULL);
	rec[0] = 0;
	if (size > 0)
		memcpy(rec, data, size);
	check_decode(rec, size);
	if (size >= 4) {
		put_le(rec + OFF_CRC, crc32(0L, rec + 4, (uInt)(size - 4)), 4);
		FUZZ_CHECK(cairn__lmdb_record_crc_ok(rec, size) ==
		           (size >= HDR_SIZE));
		check_decode(rec, size);
	}
	free(rec);
	return 0;
}
