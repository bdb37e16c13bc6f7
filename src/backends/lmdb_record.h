/*
 * lmdb_record.h -- the lmdb engine's record decoder, reachable from
 * outside lmdb.c for its fuzz target (fuzz/fuzz_lmdb_record.c).
 *
 * The record layout is described at the top of lmdb.c.  Nothing else
 * should need these: the engine decodes its own records.
 */
#ifndef CAIRN_LMDB_RECORD_H
#define CAIRN_LMDB_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

/* Decode the record rec (len bytes) of position pos into *ev, pointing
 * into rec; tags receives the tag pointers (room for CAIRN_TAGS_MAX).
 * CAIRN_OK, or CAIRN_CORRUPT (with a message) for a malformed record.
 * Checks the structure, not the CRC. */
cairn_status cairn__lmdb_record_decode(const void *rec, size_t len,
                                       uint64_t pos, cairn_event *ev,
                                       const char **tags);

/* Whether the record's stored CRC-32 matches its bytes (what verify
 * checks on top of the structure). */
bool cairn__lmdb_record_crc_ok(const void *rec, size_t len);

#endif /* CAIRN_LMDB_RECORD_H */
