/*
 * registry.c -- the storage engines, by URI scheme.
 *
 * This is the one place that names every backend; adding an engine adds
 * one line here.  Schemes compare without regard to case (RFC 3986 §3.1).
 */
#include "core.h"

#include <string.h>
#include <strings.h>

static const cairn__backend_ops *const backends[] = {
        &cairn__memory_backend,
        &cairn__lmdb_backend,
        &cairn__sqlite_backend,
        &cairn__postgres_backend,
        &cairn__postgresql_backend,
};

const cairn__backend_ops *
cairn__backend_find(const char *scheme, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strlen(backends[i]->scheme) == len &&
		    strncasecmp(backends[i]->scheme, scheme, len) == 0)
			return backends[i];
	return NULL;
}
