/*
 * fuzz.h -- what the fuzz targets and their replay driver share.
 *
 * Each target is one LLVMFuzzerTestOneInput().  Built with clang and
 * CAIRN_FUZZ=ON it is linked with libFuzzer; otherwise with replay_main.c,
 * which runs it over its seed corpus as an ordinary ctest test.
 *
 * The checks must hold in release builds too, where NDEBUG turns assert()
 * off, hence FUZZ_CHECK: on failure it names the check and aborts, which
 * both libFuzzer and ctest report as a crash.
 */
#ifndef CAIRN_FUZZ_H
#define CAIRN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* A NUL-terminated copy of the input (cut at its first NUL, as any C
 * caller would see it), or abort when out of memory.  Caller frees. */
static inline char *
fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif /* CAIRN_FUZZ_H */
