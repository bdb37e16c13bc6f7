/*
 * unit.h -- what every unit test of src/core includes: cmocka in the
 * order it needs, the internal headers, and assertions on messages.
 *
 * These tests link against cairn_internal and call the pure logic of the
 * core directly; nothing here opens a real store except the URI tests.
 * cmocka's assertions longjmp, so they are used in the main thread only:
 * worker threads record what they saw and the main thread checks it.
 */
#ifndef CAIRN_UNIT_H
#define CAIRN_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cairn.h"
#include "core/core.h"

/* Fail unless the string hay contains needle, showing both. */
#define assert_contains(hay, needle)                                       \
	do {                                                               \
		const char *hay_ = (hay);                                  \
		const char *needle_ = (needle);                            \
		if (hay_ == NULL || strstr(hay_, needle_) == NULL)         \
			fail_msg("\"%s\" does not contain \"%s\"",         \
			         hay_ ? hay_ : "(null)", needle_);         \
	} while (0)

/* Fail unless the calling thread's last error contains needle. */
#define assert_error_has(needle) assert_contains(cairn_last_error(), (needle))

#endif /* CAIRN_UNIT_H */
