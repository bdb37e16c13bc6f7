/*
 * subkill.h -- a durable subscription's consumer killed with SIGKILL.
 *
 * One binary plays three parts:
 *
 *   subkill_test <base-dir> <backend>      the test (the parent)
 *   subkill_test --writer URI SEED PREFILL  appends until its stdin closes
 *   subkill_test --consumer URI ...         the durable consumer
 *
 * The parent starts the writer and every consumer with fork + exec of its
 * own binary, so each is a fresh process that opens the store itself.
 * The children talk to the parent through a pipe on their stdout, one
 * line per fact (see child.c); a line is written with one write() before
 * the step it announces, or after the call it reports returned.
 */
#ifndef CAIRN_TESTS_SUBKILL_H
#define CAIRN_TESTS_SUBKILL_H

#include <cairn.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The durable subscription every consumer opens. */
#define SUBKILL_NAME "subkill"
/* Bytes of an event's token (its data), NUL included. */
#define SUBKILL_TOKEN_MAX 32
/* Longest protocol line, newline included. */
#define SUBKILL_LINE_MAX 256

/* The consumer's filter: these two of the writer's four types. */
extern const char *const subkill_filter_types[2];
/* The types the writer picks from. */
extern const char *const subkill_writer_types[4];
bool subkill_type_matches(const char *type);

/* xorshift64*: every random choice, reproducible from the seed. */
uint64_t subkill_rng_next(uint64_t *state);
unsigned subkill_rng_below(uint64_t *state, unsigned n);
unsigned subkill_rng_range(uint64_t *state, unsigned lo, unsigned hi);

/* Write all of buf to fd.  0 or -1. */
int subkill_write_all(int fd, const char *buf, size_t len);

/* The children (child.c); argv as after the role's flag. */
int subkill_writer_main(int argc, char **argv);
int subkill_consumer_main(int argc, char **argv);

#endif /* CAIRN_TESTS_SUBKILL_H */
