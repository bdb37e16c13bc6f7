/*
 * files.c -- damage done to a store's files behind the library's back:
 * LMDB meta pages that a machine crash left pointing at nothing, and a
 * torn or garbage tail of the write-ahead log.
 */
#include "crash.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* The log's layout, as src/backends/lmdb_wal.{h,c} define it: two header
 * slots of SLOT_FIXED bytes and a copy of LMDB's two meta pages, each
 * rounded up to WAL_BLOCK; then records of [crc32 u32][len u32][lsn u64]
 * [payload], the crc over everything after itself.  A slot starts with
 * the magic; its sequence number is at WAL_SLOT_SEQ. */
#define WAL_SLOT_FIXED 96
#define WAL_BLOCK 4096u
#define WAL_RECORD_HEADER 16
#define WAL_MAGIC "CAIRNWAL"
#define WAL_SLOT_SEQ 16 /* u64 at this offset of a slot */

static int
path_of(crash_store *cs, const char *name, char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s/%s", cs->dir, name) >= size) {
		fprintf(stderr, "crash: path too long\n");
		return -1;
	}
	return 0;
}

int
crash_write_at(crash_store *cs, const char *name, uint64_t off, const void *buf,
               size_t len)
{
	char path[1100];
	int fd, rc = 0;

	if (path_of(cs, name, path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, buf, len, (off_t)off) != (ssize_t)len) {
		fprintf(stderr, "crash: writing %s at %" PRIu64 ": %s\n", path,
		        off, strerror(errno));
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int
crash_read_file(crash_store *cs, const char *name, uint8_t **buf, size_t *len)
{
	char path[1100];
	struct stat sb;
	ssize_t n;
	size_t got = 0;
	int fd;

	*buf = NULL;
	*len = 0;
	if (path_of(cs, name, path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0 || fstat(fd, &sb) != 0)
		goto fail;
	*buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (*buf == NULL)
		goto fail;
	while (got < (size_t)sb.st_size) {
		n = pread(fd, *buf + got, (size_t)sb.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
fail:
	fprintf(stderr, "crash: reading %s: %s\n", path, strerror(errno));
	free(*buf);
	*buf = NULL;
	if (fd >= 0)
		close(fd);
	return -1;
}

int
crash_trash_meta(crash_store *cs, bool zeros)
{
	size_t psize = (size_t)sysconf(_SC_PAGESIZE), i;
	uint8_t *junk = malloc(2 * psize);
	int rc;

	if (junk == NULL)
		return -1;
	for (i = 0; i < 2 * psize; i++)
		junk[i] = zeros ? 0 : (uint8_t)crash_rng_next(&cs->rng);
	rc = crash_write_at(cs, "data.mdb", 0, junk, 2 * psize);
	free(junk);
	return rc;
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint64_t
slot_size(void)
{
	uint64_t psize = (uint64_t)sysconf(_SC_PAGESIZE);

	return (WAL_SLOT_FIXED + 2 * psize + WAL_BLOCK - 1) / WAL_BLOCK *
	       WAL_BLOCK;
}

int
crash_wal_checkpoint_seq(crash_store *cs, uint64_t *seq)
{
	uint8_t head[WAL_SLOT_SEQ + 8];
	char path[1100];
	uint64_t v;
	int fd, i;

	*seq = 0;
	if (path_of(cs, "wal", path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	for (i = 0; i < 2; i++) {
		if (pread(fd, head, sizeof(head), (off_t)(i * slot_size())) !=
		            (ssize_t)sizeof(head) ||
		    memcmp(head, WAL_MAGIC, 8) != 0)
			continue;
		v = get64(head + WAL_SLOT_SEQ);
		if (v > *seq)
			*seq = v;
	}
	close(fd);
	return 0;
}

int
crash_wal_tail(crash_store *cs, crash_wal_chain *chain)
{
	uint64_t off, len, lsn;
	uint8_t *wal;
	size_t size;
	uLong crc;

	memset(chain, 0, sizeof(*chain));
	if (crash_read_file(cs, "wal", &wal, &size) != 0)
		return -1;
	off = 2 * slot_size();
	while (off + WAL_RECORD_HEADER <= size) {
		len = get32(wal + off + 4);
		lsn = get64(wal + off + 8);
		if (len > size - off - WAL_RECORD_HEADER || lsn == 0 ||
		    (chain->last_lsn && lsn != chain->last_lsn + 1))
			break;
		crc = crc32(0L, wal + off + 4,
		            (uInt)(WAL_RECORD_HEADER - 4 + len));
		if ((uint32_t)crc != get32(wal + off))
			break;
		if (chain->first_lsn == 0)
			chain->first_lsn = lsn;
		chain->last_lsn = lsn;
		off += WAL_RECORD_HEADER + len;
	}
	free(wal);
	chain->tail = off;
	chain->file_size = size;
	return 0;
}
