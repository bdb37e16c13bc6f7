/*
 * sqlite_tags.h -- the sqlite engine's decoder of the tags column,
 * reachable from outside sqlite.c for its fuzz target
 * (fuzz/fuzz_sqlite_tags.c).  Nothing else should need it.
 */
#ifndef CAIRN_SQLITE_TAGS_H
#define CAIRN_SQLITE_TAGS_H

#include <stddef.h>

#include "cairn.h"

/* Parse s (len bytes), a tags column as the engine writes it (a JSON
 * array of strings), into out (room for len + 1 bytes): the tags,
 * NUL-terminated, pointed to by tags (room for CAIRN_TAGS_MAX), *ntags
 * of them.  CAIRN_OK; CAIRN_CORRUPT (with a message); CAIRN_NOMEM. */
cairn_status cairn__sqlite_tags_decode(const char *s, size_t len, char *out,
                                       const char **tags, size_t *ntags);

#endif /* CAIRN_SQLITE_TAGS_H */
