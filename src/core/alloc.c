/*
 * alloc.c -- the library's allocator hook (cairn_set_allocator() in
 * cairn.h).  Every allocation of the library goes through cairn__malloc,
 * cairn__calloc, cairn__realloc, cairn__strdup and cairn__free; the
 * default allocator is libc's.
 */
#include "core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *
libc_malloc(void *ctx, size_t size)
{
	(void)ctx;
	return malloc(size);
}

static void *
libc_realloc(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	return realloc(ptr, size);
}

static void
libc_free(void *ctx, void *ptr)
{
	(void)ctx;
	free(ptr);
}

static const cairn_allocator libc_allocator = {
	CAIRN_ALLOCATOR_VERSION, libc_malloc, libc_realloc, libc_free, NULL
};

/* Process-global; written only by cairn_set_allocator(), which the
 * caller must not run concurrently with any other use of the library. */
static cairn_allocator current = {
	CAIRN_ALLOCATOR_VERSION, libc_malloc, libc_realloc, libc_free, NULL
};

cairn_status
cairn_set_allocator(const cairn_allocator *a)
{
	if (a == NULL) {
		current = libc_allocator;
		return CAIRN_OK;
	}
	if (a->version != CAIRN_ALLOCATOR_VERSION)
		return cairn__error(CAIRN_INVALID, 0,
		                    "allocator version %d, expected %d",
		                    a->version, CAIRN_ALLOCATOR_VERSION);
	if (a->malloc == NULL || a->realloc == NULL || a->free == NULL)
		return cairn__error(CAIRN_INVALID, 0,
		                    "allocator without malloc, realloc or free");
	current = *a;
	return CAIRN_OK;
}

void *
cairn__malloc(size_t size)
{
	return current.malloc(current.ctx, size ? size : 1);
}

void *
cairn__calloc(size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	p = cairn__malloc(n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

void *
cairn__realloc(void *p, size_t size)
{
	if (p == NULL)
		return cairn__malloc(size);
	return current.realloc(current.ctx, p, size ? size : 1);
}

char *
cairn__strdup(const char *s)
{
	size_t len = strlen(s);
	char *d = cairn__malloc(len + 1);

	if (d != NULL)
		memcpy(d, s, len + 1);
	return d;
}

char *
cairn__strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = cairn__malloc(len + 1);

	if (d != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

void
cairn__free(void *p)
{
	if (p != NULL)
		current.free(current.ctx, p);
}
