/*
 * lmdb_wal.c -- the write-ahead log file of the lmdb engine: layout,
 * preallocation, checksummed records and checkpoint slots.  The protocol
 * that uses it (when to log, checkpoint, replay) lives in lmdb.c.
 */
#include "lmdb_wal.h"
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define WAL_MAGIC "CAIRNWAL"
#define WAL_FORMAT 1
#define SLOT_FIXED 96 /* fixed fields before the meta copy */
#define SLOT_START_OFFSET 72
#define SLOT_CRC_OFFSET 80
#define ZERO_CHUNK ((size_t)1 << 20)
#define BLOCK 4096u

static uint64_t
slot_size(uint32_t psize)
{
	uint64_t n = SLOT_FIXED + 2 * (uint64_t)psize;

	return (n + BLOCK - 1) / BLOCK * BLOCK;
}

static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Read len bytes; a short file reads as ENOENT (nothing there). */
static int
pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return ENOENT;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int
wal_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return errno;
	if (fsync(fd) != 0)
		rc = errno;
	close(fd);
	return rc;
}

int
wal_grow(wal_file *w, uint64_t size)
{
	uint8_t *zeros;
	uint64_t off;
	size_t n;
	int rc = 0;

	size = (size + ZERO_CHUNK - 1) / ZERO_CHUNK * ZERO_CHUNK;
	if (size <= w->size)
		return 0;
	zeros = cairn__calloc(1, ZERO_CHUNK);
	if (zeros == NULL)
		return ENOMEM;
	/* Real zeros, not fallocate: an unwritten extent would make every
	 * later sync of a record a metadata sync as well. */
	for (off = w->size; off < size && rc == 0; off += n) {
		n = (size_t)(size - off < ZERO_CHUNK ? size - off : ZERO_CHUNK);
		rc = pwrite_all(w->fd, zeros, n, off);
	}
	cairn__free(zeros);
	if (rc == 0 && fdatasync(w->fd) != 0)
		rc = errno;
	if (rc == 0)
		w->size = size;
	return rc;
}

int
wal_open(wal_file *w, const char *dir, uint32_t psize, uint64_t min_size,
         bool read_only)
{
	char path[4096];
	struct stat sb;
	bool created;
	int rc;

	if (psize == 0 || psize > WAL_MAX_PSIZE)
		return EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/wal", dir) >= sizeof(path))
		return ENAMETOOLONG;
	created = stat(path, &sb) != 0;
	if (read_only && created)
		return ENOENT;
	w->fd = open(path,
	             (read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC,
	             0644);
	if (w->fd < 0)
		return errno;
	if (fstat(w->fd, &sb) != 0) {
		rc = errno;
		goto fail;
	}
	w->psize = psize;
	w->data_start = 2 * slot_size(psize);
	/* Only whole zero chunks count as preallocated; a torn growth is
	 * simply redone. */
	w->size = (uint64_t)sb.st_size / ZERO_CHUNK * ZERO_CHUNK;
	if (read_only)
		return 0;
	if (min_size < w->data_start + ZERO_CHUNK)
		min_size = w->data_start + ZERO_CHUNK;
	rc = wal_grow(w, min_size);
	if (rc == 0 && created)
		rc = wal_sync_dir(dir);
	if (rc == 0)
		return 0;
fail:
	close(w->fd);
	w->fd = -1;
	return rc;
}

void
wal_close(wal_file *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

static uint32_t
crc_of(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(0L, p, (uInt)len);
}

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
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

/* Decode slot i into *c when it is valid; returns 0 or ENOENT. */
static int
read_slot(wal_file *w, int i, uint8_t *buf, wal_checkpoint *c)
{
	uint64_t ss = slot_size(w->psize);
	uint32_t stored;
	int rc;

	rc = pread_all(w->fd, buf, (size_t)ss, (uint64_t)i * ss);
	if (rc)
		return rc;
	if (memcmp(buf, WAL_MAGIC, 8) != 0 || get32(buf + 8) != WAL_FORMAT ||
	    get32(buf + 12) != w->psize)
		return ENOENT;
	stored = get32(buf + SLOT_CRC_OFFSET);
	put32(buf + SLOT_CRC_OFFSET, 0);
	if (stored != crc_of(buf, (size_t)ss))
		return ENOENT;
	c->seq = get64(buf + 16);
	c->lsn = get64(buf + 24);
	c->start = get64(buf + SLOT_START_OFFSET);
	memcpy(c->boot_id, buf + 32, WAL_BOOT_ID_LEN);
	c->boot_id[WAL_BOOT_ID_LEN] = 0;
	c->psize = w->psize;
	return 0;
}

int
wal_read_checkpoint(wal_file *w, wal_checkpoint *c)
{
	uint64_t ss = slot_size(w->psize);
	wal_checkpoint a, b;
	uint8_t *buf[2];
	int ra, rb, rc = 0;

	buf[0] = cairn__malloc((size_t)ss);
	buf[1] = cairn__malloc((size_t)ss);
	if (buf[0] == NULL || buf[1] == NULL) {
		rc = ENOMEM;
		goto out;
	}
	ra = read_slot(w, 0, buf[0], &a);
	rb = read_slot(w, 1, buf[1], &b);
	if (ra && ra != ENOENT)
		rc = ra;
	else if (rb && rb != ENOENT)
		rc = rb;
	else if (ra && rb)
		rc = ENOENT;
	else {
		int pick = ra ? 1 : rb ? 0 : (b.seq > a.seq);
		uint8_t *meta = c->meta;
		*c = pick ? b : a;
		c->meta = meta;
		memcpy(c->meta, buf[pick] + SLOT_FIXED, 2 * (size_t)w->psize);
	}
out:
	cairn__free(buf[0]);
	cairn__free(buf[1]);
	return rc;
}

int
wal_write_checkpoint(wal_file *w, const wal_checkpoint *c)
{
	uint64_t ss = slot_size(w->psize);
	uint8_t *buf = cairn__calloc(1, (size_t)ss);
	int rc;

	if (buf == NULL)
		return ENOMEM;
	memcpy(buf, WAL_MAGIC, 8);
	put32(buf + 8, WAL_FORMAT);
	put32(buf + 12, w->psize);
	put64(buf + 16, c->seq);
	put64(buf + 24, c->lsn);
	put64(buf + SLOT_START_OFFSET, c->start);
	memcpy(buf + 32, c->boot_id, WAL_BOOT_ID_LEN);
	memcpy(buf + SLOT_FIXED, c->meta, 2 * (size_t)w->psize);
	put32(buf + SLOT_CRC_OFFSET, crc_of(buf, (size_t)ss));
	/* Alternate slots, so that a torn write leaves the other intact. */
	rc = pwrite_all(w->fd, buf, (size_t)ss, (c->seq % 2) * ss);
	cairn__free(buf);
	if (rc == 0 && fdatasync(w->fd) != 0)
		rc = errno;
	return rc;
}

int
wal_write_record(wal_file *w, uint64_t offset, uint64_t lsn, uint8_t *rec,
                 size_t len, bool sync)
{
	int rc;

	if (offset + len > w->size)
		return ENOSPC;
	put32(rec + 4, (uint32_t)(len - WAL_RECORD_HEADER));
	put64(rec + 8, lsn);
	put32(rec, crc_of(rec + 4, len - 4));
	rc = pwrite_all(w->fd, rec, len, offset);
	if (rc == 0 && sync && fdatasync(w->fd) != 0)
		rc = errno;
	return rc;
}

int
wal_erase_record(wal_file *w, uint64_t offset)
{
	uint8_t zeros[WAL_RECORD_HEADER] = {0};
	int rc;

	rc = pwrite_all(w->fd, zeros, sizeof(zeros), offset);
	if (rc == 0 && fdatasync(w->fd) != 0)
		rc = errno;
	return rc;
}

int
wal_read_record(wal_file *w, uint64_t offset, uint64_t lsn, uint8_t **buf,
                size_t *len, uint64_t *next)
{
	uint8_t hdr[WAL_RECORD_HEADER], *rec;
	uint64_t plen;
	int rc;

	*buf = NULL;
	if (offset + WAL_RECORD_HEADER > w->size)
		return ENOENT;
	rc = pread_all(w->fd, hdr, sizeof(hdr), offset);
	if (rc)
		return rc;
	plen = get32(hdr + 4);
	if (get64(hdr + 8) != lsn ||
	    offset + WAL_RECORD_HEADER + plen > w->size)
		return ENOENT;
	rec = cairn__malloc(WAL_RECORD_HEADER + (size_t)plen);
	if (rec == NULL)
		return ENOMEM;
	rc = pread_all(w->fd, rec, WAL_RECORD_HEADER + (size_t)plen, offset);
	if (rc == 0 &&
	    get32(rec) != crc_of(rec + 4, WAL_RECORD_HEADER - 4 + (size_t)plen))
		rc = ENOENT;
	if (rc) {
		cairn__free(rec);
		return rc;
	}
	memmove(rec, rec + WAL_RECORD_HEADER, (size_t)plen);
	*buf = rec;
	*len = (size_t)plen;
	*next = offset + WAL_RECORD_HEADER + plen;
	return 0;
}

int
wal_boot_id(char out[WAL_BOOT_ID_LEN + 1])
{
	const char *forced = getenv("CAIRN_TEST_BOOT_ID");
	ssize_t n;
	int fd;

	/* A test hook, as SQLite's: lets the crash tests play a reboot. */
	if (forced && forced[0]) {
		memset(out, '-', WAL_BOOT_ID_LEN);
		memcpy(out, forced, strnlen(forced, WAL_BOOT_ID_LEN));
		out[WAL_BOOT_ID_LEN] = 0;
		return 0;
	}
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	n = read(fd, out, WAL_BOOT_ID_LEN);
	close(fd);
	if (n != WAL_BOOT_ID_LEN)
		return EIO;
	out[WAL_BOOT_ID_LEN] = 0;
	return 0;
}

/* The marks live in the top quarter of what off_t can address (from
 * 2^62 on with a 64-bit off_t): no log ever grows there, and 61 bits of
 * a random token make two writers' marks collide about as rarely as
 * their tokens do. */
#define OFF_BITS (sizeof(off_t) * 8)
#define MARK_BASE ((uint64_t)1 << (OFF_BITS - 2))
#define MARK_SPAN ((uint64_t)1 << (OFF_BITS - 3))

static void
mark_lock(struct flock *fl, const uint8_t token[16], short type)
{
	uint64_t v;

	memcpy(&v, token, sizeof(v));
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)(MARK_BASE + v % MARK_SPAN);
	fl->l_len = 1;
}

int
wal_mark_alive(wal_file *w, const uint8_t token[16])
{
	struct flock fl;

	mark_lock(&fl, token, F_WRLCK);
	return fcntl(w->fd, F_SETLK, &fl) == 0 ? 0 : errno;
}

void
wal_unmark_alive(wal_file *w, const uint8_t token[16])
{
	struct flock fl;

	if (w->fd < 0)
		return;
	mark_lock(&fl, token, F_UNLCK);
	fcntl(w->fd, F_SETLK, &fl);
}

bool
wal_marked_alive(wal_file *w, const uint8_t token[16])
{
	struct flock fl;

	mark_lock(&fl, token, F_WRLCK);
	if (fcntl(w->fd, F_GETLK, &fl) != 0)
		return false;
	return fl.l_type != F_UNLCK;
}
