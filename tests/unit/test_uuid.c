/*
 * test_uuid.c -- src/core/uuid.c: the text form of event ids and random
 * version 4 ids.
 */
#include "unit.h"

#include <stdlib.h>

#define CANON "00112233-4455-6677-8899-aabbccddeeff"
#define UPPER "00112233-4455-6677-8899-AABBCCDDEEFF"
#define MIXED "00112233-4455-6677-8899-aAbBcCdDeEfF"
#define MANY_IDS 20000

static const cairn_uuid canon_id = {{0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
                                     0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                     0xcc, 0xdd, 0xee, 0xff}};

static int
is_dash_position(size_t i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

static void
format_known_vector(void **state)
{
	cairn_uuid id;
	char buf[40];
	size_t i;

	(void)state;
	memset(buf, '#', sizeof(buf));
	cairn_uuid_format(&canon_id, buf);
	assert_string_equal(buf, CANON);
	/* exactly 36 characters and the NUL, nothing written past */
	assert_int_equal(strlen(buf), CAIRN_UUID_STR_LEN);
	assert_int_equal(buf[37], '#');
	memset(&id, 0, sizeof(id));
	cairn_uuid_format(&id, buf);
	assert_string_equal(buf, "00000000-0000-0000-0000-000000000000");
	memset(&id, 0xFF, sizeof(id));
	cairn_uuid_format(&id, buf);
	assert_string_equal(buf, "ffffffff-ffff-ffff-ffff-ffffffffffff");
	for (i = 0; i < CAIRN_UUID_STR_LEN; i++)
		assert_true(is_dash_position(i) ? buf[i] == '-'
		                                : buf[i] == 'f');
}

static void
parse_round_trip(void **state)
{
	cairn_uuid id, back;
	char buf[37], again[37];
	int i, b;

	(void)state;
	assert_int_equal(cairn_uuid_parse(CANON, &id), CAIRN_OK);
	assert_memory_equal(id.bytes, canon_id.bytes, 16);
	/* every byte value in every position survives format and parse */
	for (i = 0; i < 256; i++) {
		for (b = 0; b < 16; b++)
			id.bytes[b] = (uint8_t)(i + b * 17);
		cairn_uuid_format(&id, buf);
		memset(&back, 0, sizeof(back));
		assert_int_equal(cairn_uuid_parse(buf, &back), CAIRN_OK);
		assert_memory_equal(back.bytes, id.bytes, 16);
		cairn_uuid_format(&back, again);
		assert_string_equal(again, buf);
	}
}

static void
parse_upper_and_mixed_case(void **state)
{
	cairn_uuid id;

	(void)state;
	memset(&id, 0, sizeof(id));
	assert_int_equal(cairn_uuid_parse(UPPER, &id), CAIRN_OK);
	assert_memory_equal(id.bytes, canon_id.bytes, 16);
	memset(&id, 0, sizeof(id));
	assert_int_equal(cairn_uuid_parse(MIXED, &id), CAIRN_OK);
	assert_memory_equal(id.bytes, canon_id.bytes, 16);
}

static void
expect_bad(const char *text)
{
	cairn_uuid id;

	if (cairn_uuid_parse(text, &id) != CAIRN_INVALID)
		fail_msg("'%s' was accepted as a UUID", text);
	assert_error_has("is not a UUID");
}

static void
parse_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"0",
		"00112233-4455-6677-8899-aabbccddeef",    /* 35 */
		"00112233-4455-6677-8899-aabbccddeeff0",  /* 37 */
		"00112233-4455-6677-8899-aabbccddeeff ",
		"00112233-4455-6677-8899-aabbccddeeff\n",
		"00112233-4455-6677-8899-aabbccddeeff-",
		"00112233445566778899aabbccddeeff",       /* no dashes */
		"0011223-34455-6677-8899-aabbccddeeff",   /* dash early */
		"001122334-455-6677-8899-aabbccddeeff",   /* dash late */
		"00112233-4455-66778-899-aabbccddeeff",
		"00112233-4455-6677-88990aabbccddeeff",
		"00112233_4455_6677_8899_aabbccddeeff",
		"{00112233-4455-6677-8899-aabbccddeeff}",
		"urn:uuid:00112233-4455-6677-8899-aabbccddeeff",
		"0x112233-4455-6677-8899-aabbccddeeff",
		"00112233-4455-6677-8899-aabbccddeefg",
		"g0112233-4455-6677-8899-aabbccddeeff",
		"00112233-4455-6677-8899-aabbccddeeG0",
		" 0112233-4455-6677-8899-aabbccddeeff",
		"00112233-+455-6677-8899-aabbccddeeff",
		"00112233--4455-6677-8899-aabbccddeef",
	};
	char buf[64];
	cairn_uuid id;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i]);
	/* every prefix is too short */
	for (i = 0; i < CAIRN_UUID_STR_LEN; i++) {
		memcpy(buf, CANON, i);
		buf[i] = '\0';
		expect_bad(buf);
	}
	/* every character replaced by one that does not belong there */
	for (i = 0; i < CAIRN_UUID_STR_LEN; i++) {
		static const char wrong_hex[] = {'-', 'g', 'G', ' ', 'x', ':',
		                                 '/', '@', '`', '~'};
		for (j = 0; j < sizeof(wrong_hex); j++) {
			memcpy(buf, CANON, sizeof(CANON));
			if (is_dash_position(i))
				buf[i] = j % 2 ? 'a' : '0';
			else
				buf[i] = wrong_hex[j];
			expect_bad(buf);
		}
	}
	/* garbage after a whole UUID */
	memcpy(buf, CANON, CAIRN_UUID_STR_LEN);
	memcpy(buf + CAIRN_UUID_STR_LEN, "trailing", sizeof("trailing"));
	expect_bad(buf);
	/* NULL text or out */
	assert_int_equal(cairn_uuid_parse(NULL, &id), CAIRN_INVALID);
	assert_int_equal(cairn_uuid_parse(CANON, NULL), CAIRN_INVALID);
}

static int
uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(cairn_uuid));
}

static void
check_v4(const cairn_uuid *id)
{
	char buf[37];

	assert_int_equal(id->bytes[6] >> 4, 4);
	assert_int_equal(id->bytes[8] & 0xC0, 0x80);
	cairn_uuid_format(id, buf);
	assert_int_equal(buf[14], '4');
	assert_non_null(strchr("89ab", buf[19]));
}

static void
generated_are_v4_and_distinct(void **state)
{
	cairn_uuid *ids = calloc(MANY_IDS, sizeof(*ids));
	unsigned ones[16][8];
	size_t i, b, bit;

	(void)state;
	assert_non_null(ids);
	/* half one at a time, half in one draw */
	for (i = 0; i < MANY_IDS / 2; i++)
		assert_int_equal(cairn_uuid_generate(&ids[i]), CAIRN_OK);
	assert_int_equal(cairn__uuid_generate_many(ids + MANY_IDS / 2,
	                                           MANY_IDS / 2),
	                 CAIRN_OK);
	memset(ones, 0, sizeof(ones));
	for (i = 0; i < MANY_IDS; i++) {
		check_v4(&ids[i]);
		for (b = 0; b < 16; b++)
			for (bit = 0; bit < 8; bit++)
				ones[b][bit] += (ids[i].bytes[b] >> bit) & 1;
	}
	/* every random bit is set in roughly half of the ids */
	for (b = 0; b < 16; b++)
		for (bit = 0; bit < 8; bit++) {
			if ((b == 6 && bit >= 4) || (b == 8 && bit >= 6))
				continue;
			if (ones[b][bit] < MANY_IDS * 2 / 5 ||
			    ones[b][bit] > MANY_IDS * 3 / 5)
				fail_msg("byte %zu bit %zu set in %u of %d ids",
				         b, bit, ones[b][bit], MANY_IDS);
		}
	qsort(ids, MANY_IDS, sizeof(*ids), uuid_cmp);
	for (i = 1; i < MANY_IDS; i++)
		assert_memory_not_equal(&ids[i - 1], &ids[i], sizeof(*ids));
	free(ids);
	/* a batch of zero writes nothing and succeeds */
	assert_int_equal(cairn__uuid_generate_many(NULL, 0), CAIRN_OK);
	assert_int_equal(cairn_uuid_generate(NULL), CAIRN_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_known_vector),
		cmocka_unit_test(parse_round_trip),
		cmocka_unit_test(parse_upper_and_mixed_case),
		cmocka_unit_test(parse_malformed),
		cmocka_unit_test(generated_are_v4_and_distinct),
	};

	return cmocka_run_group_tests_name("uuid", tests, NULL, NULL);
}
