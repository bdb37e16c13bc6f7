/*
 * powerloss.h -- what the power-loss suite's three parts share: the
 * format of the recorder's operation log (recorder.c writes it, the
 * replayer in main.c reads it), and the content of the events the worker
 * (worker.c) appends, which the checker regenerates to compare every
 * stored event byte for byte.
 *
 * Log format: a sequence of records, each a pl_rec_hdr, then name_len
 * bytes of the file's name relative to the recorded directory (empty for
 * the directory itself), then a payload of len bytes for PL_WRITE (the
 * bytes written), PL_MARK (the marker's text) and PL_RENAME (the new
 * name); other kinds have no payload.  Native byte order: the log never
 * leaves the machine that wrote it.
 */
#ifndef CAIRN_TESTS_POWERLOSS_H
#define CAIRN_TESTS_POWERLOSS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PL_LOG_MAGIC 0x4c50u /* "PL" */

enum pl_kind {
	PL_CREATE = 1,  /* open() made the file */
	PL_WRITE = 2,   /* off, len, payload: bytes that reached the cache */
	PL_TRUNC = 3,   /* off: the new size (ftruncate, O_TRUNC) */
	PL_EXTEND = 4,  /* off: the size fallocate() extended the file to */
	PL_SYNC = 5,    /* fsync/fdatasync of the file, or an O_[D]SYNC write */
	PL_DIRSYNC = 6, /* fsync/fdatasync of the recorded directory */
	PL_NOSYNC = 7,  /* a sync swallowed by CAIRN_PL_NOSYNC=1 */
	PL_UNLINK = 8,  /* the name was removed */
	PL_RENAME = 9,  /* the name was renamed to the payload */
	PL_MARK = 10,   /* the worker's marker text (no file) */
	PL_NOTE = 11    /* sync_file_range/msync: logged, never a sync */
};

typedef struct pl_rec_hdr {
	uint16_t magic;
	uint16_t kind;
	uint32_t name_len;
	uint64_t off;
	uint64_t len;
} pl_rec_hdr;

/* Name of the marker function the recorder exports; the worker finds it
 * with dlsym(RTLD_DEFAULT, ...). */
#define PL_MARK_SYMBOL "cairn_pl_mark"
typedef void (*pl_mark_fn)(const char *text);

/* The sector a power loss tears writes at. */
#define PL_SECTOR 512u

/* ------------------------------------------------------------------------
 * Event content.  An event's data starts with a token naming the append
 * it belongs to, "pl:<kind>:<append>:<index>/<count>:", followed by
 * padding; type, metadata and tags follow from the token alone.  Kinds:
 *   s single-stream   m multi-stream   c conditional (append_if)
 *   i caller-given ids (and repeated: the idempotent case)
 *   x a version conflict   y a failed condition  (never committed)
 * ------------------------------------------------------------------------ */
#define PL_DATA_MAX 6144
#define PL_TAGS_MAX 2
#define PL_TAG_LEN 24
#define PL_COND_KEYS 3 /* conditional appends use tags k:0 .. k:2 */

typedef struct pl_token {
	char kind;
	unsigned append, index, count;
} pl_token;

typedef struct pl_content {
	char type[16];
	char data[PL_DATA_MAX];
	size_t data_len;
	char meta[64];
	size_t meta_len;
	char tags[PL_TAGS_MAX][PL_TAG_LEN];
	size_t ntags;
} pl_content;

static inline uint64_t
pl_rng_next(uint64_t *s)
{
	/* splitmix64: small, seedable, good enough for test choices */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline unsigned
pl_rng_below(uint64_t *s, unsigned n)
{
	return n ? (unsigned)(pl_rng_next(s) % n) : 0;
}

/* The content of event index (0-based) of count of append number append
 * of kind kind.  Some events are a few KiB, so that they span pages. */
static inline void
pl_content_make(char kind, unsigned append, unsigned index, unsigned count,
                pl_content *c)
{
	size_t pad, j;
	int n;

	memset(c, 0, sizeof(*c));
	snprintf(c->type, sizeof(c->type), "Ev%c", kind);
	n = snprintf(c->data, sizeof(c->data), "pl:%c:%u:%u/%u:", kind, append,
	             index, count);
	pad = (append * 131u + index * 31u) % 11u == 0
	              ? 3000u + (append * 7u) % 2000u
	              : (append * 37u + index * 11u) % 600u;
	for (j = 0; j < pad; j++)
		c->data[(size_t)n + j] =
		        (char)('a' + (append + index + j) % 26);
	c->data_len = (size_t)n + pad;
	c->meta_len = (size_t)snprintf(c->meta, sizeof(c->meta),
	                               "{\"a\":%u,\"i\":%u}", append, index);
	if (kind == 'c' || kind == 'y') {
		snprintf(c->tags[0], PL_TAG_LEN, "cond");
		snprintf(c->tags[1], PL_TAG_LEN, "k:%u", append % PL_COND_KEYS);
		c->ntags = 2;
	} else if (index % 2 == 1) {
		snprintf(c->tags[0], PL_TAG_LEN, "t:%u", append % 5u);
		c->ntags = 1;
	}
}

/* Parse the token at the start of data.  Returns 0, or -1 when data does
 * not start with one. */
static inline int
pl_token_parse(const void *data, size_t len, pl_token *t)
{
	char buf[64], *p, *end;
	unsigned long v[3];
	int i;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, data, len);
	buf[len] = 0;
	if (strncmp(buf, "pl:", 3) != 0 || buf[3] == 0 || buf[4] != ':')
		return -1;
	t->kind = buf[3];
	p = buf + 5;
	for (i = 0; i < 3; i++) {
		if (*p < '0' || *p > '9')
			return -1;
		v[i] = strtoul(p, &end, 10);
		if (*end != (i == 0 ? ':' : i == 1 ? '/' : ':'))
			return -1;
		p = end + 1;
	}
	t->append = (unsigned)v[0];
	t->index = (unsigned)v[1];
	t->count = (unsigned)v[2];
	return t->index < t->count ? 0 : -1;
}

#endif /* CAIRN_TESTS_POWERLOSS_H */
