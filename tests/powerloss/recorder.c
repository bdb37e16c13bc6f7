/*
 * recorder.c -- the power-loss suite's I/O recorder, a shared library
 * loaded with LD_PRELOAD into the worker.
 *
 * It interposes the calls through which LMDB, SQLite and libcairn change
 * files (open/creat, write/pwrite/writev/pwritev, ftruncate, fallocate,
 * fsync/fdatasync, sync_file_range, msync, close, unlink, rename),
 * forwards each to the real function (dlsym RTLD_NEXT) and, for files
 * under the directory named by CAIRN_PL_DIR, appends a record of what it
 * did to the log file CAIRN_PL_LOG (format in powerloss.h): the bytes
 * every write put in the page cache, every truncation, every sync.  The
 * replayer in main.c builds crash images from that log.
 *
 * The real call and its record are made under one mutex, so the log's
 * order is an order in which the calls really happened, even when the
 * engines' threads write at once: a sync recorded after a write did start
 * after the write had returned.
 *
 * A write on a descriptor opened with O_SYNC or O_DSYNC is recorded as a
 * write followed by a sync of its file (LMDB opens its meta-page
 * descriptor so).  Writes through shared memory maps are not seen: only
 * LMDB's lock.mdb, SQLite's -shm and cairn's notify files are written
 * that way, and none of them holds durable state (the replayer leaves
 * them out of its images).  LMDB is opened without MDB_WRITEMAP.
 *
 * CAIRN_PL_NOSYNC=1 disables syncing: fsync/fdatasync return 0 without
 * syncing and are logged as PL_NOSYNC, and O_SYNC/O_DSYNC are dropped
 * from open flags -- the mode in which the checker must find losses.
 * CAIRN_PL_NOSYNC_ONLY=NAME swallows the fsync/fdatasync calls of the one
 * file NAME (e.g. data.mdb, db-wal): the stand-in for an engine that
 * forgot one sync, to show the durable tests fail then.
 *
 * The worker records its acknowledgments with cairn_pl_mark(text),
 * exported here, which appends a PL_MARK record in the same order.
 */
#define _GNU_SOURCE
#include "powerloss.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define PL_API __attribute__((visibility("default")))
#define FD_MAX 4096 /* descriptors tracked; higher ones are ignored */

PL_API void cairn_pl_mark(const char *text);

/* What the recorder knows of a descriptor of a recorded file. */
typedef struct fd_info {
	char *name;       /* relative to the directory; "" = the directory */
	bool sync_writes; /* O_SYNC or O_DSYNC */
	bool append;      /* O_APPEND */
} fd_info;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static fd_info fds[FD_MAX];
static char dir[PATH_MAX];
static size_t dir_len;
static int log_fd = -1;
static bool nosync;
static char nosync_only[PATH_MAX]; /* CAIRN_PL_NOSYNC_ONLY: one file's */

/* The real functions, looked up on first use: an engine may call one
 * before anything here was set up. */
#define REAL(name, type)                                                       \
	static type real_##name;                                               \
	if (real_##name == NULL)                                               \
	real_##name = (type)(uintptr_t)dlsym(RTLD_NEXT, #name)

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec *, int, off_t, int);
typedef int (*ftruncate_fn)(int, off_t);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*fd_fn)(int);
typedef int (*sfr_fn)(int, off_t, off_t, unsigned);
typedef int (*msync_fn)(void *, size_t, int);
typedef int (*unlink_fn)(const char *);
typedef int (*unlinkat_fn)(int, const char *, int);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef off_t (*lseek_fn)(int, off_t, int);

static void
init(void)
{
	const char *d = getenv("CAIRN_PL_DIR"), *l = getenv("CAIRN_PL_LOG");
	const char *n = getenv("CAIRN_PL_NOSYNC");
	const char *only = getenv("CAIRN_PL_NOSYNC_ONLY");
	REAL(open, open_fn);

	nosync = n != NULL && strcmp(n, "1") == 0;
	if (only != NULL)
		snprintf(nosync_only, sizeof(nosync_only), "%s", only);
	if (d == NULL || l == NULL || realpath(d, dir) == NULL) {
		dir[0] = 0;
		return;
	}
	dir_len = strlen(dir);
	log_fd = real_open(
	        l, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		dir[0] = 0, dir_len = 0;
}

static bool
active(void)
{
	pthread_once(&once, init);
	return log_fd >= 0;
}

static void
put_all(const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;
	REAL(write, write_fn);

	while (len > 0) {
		n = real_write(log_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* a log with a hole would make false images */
		p += n;
		len -= (size_t)n;
	}
}

/* Append one record; called with lock held. */
static void
log_rec(unsigned kind, const char *name, uint64_t off, uint64_t len,
        const void *payload)
{
	pl_rec_hdr h;
	size_t nl = name ? strlen(name) : 0;

	memset(&h, 0, sizeof(h));
	h.magic = PL_LOG_MAGIC;
	h.kind = (uint16_t)kind;
	h.name_len = (uint32_t)nl;
	h.off = off;
	h.len = len;
	put_all(&h, sizeof(h));
	if (nl)
		put_all(name, nl);
	if (len && payload)
		put_all(payload, (size_t)len);
}

/* The absolute path of path relative to dirfd, lightly normalised
 * ("//" and "/./" collapsed), into out.  Returns 0 or -1. */
static int
abs_path(int dirfd, const char *path, char *out, size_t size)
{
	char base[PATH_MAX], link[64];
	size_t i, o = 0;
	ssize_t n;
	int w;

	if (path[0] == '/') {
		w = snprintf(out, size, "%s", path);
	} else {
		if (dirfd == AT_FDCWD) {
			if (getcwd(base, sizeof(base)) == NULL)
				return -1;
		} else {
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			n = readlink(link, base, sizeof(base) - 1);
			if (n < 0)
				return -1;
			base[n] = 0;
		}
		w = snprintf(out, size, "%s/%s", base, path);
	}
	if (w < 0 || (size_t)w >= size)
		return -1;
	for (i = 0; out[i]; i++) {
		if (out[i] == '/' && o > 0 && out[o - 1] == '/')
			continue;
		if (out[i] == '.' && o > 0 && out[o - 1] == '/' &&
		    (out[i + 1] == '/' || out[i + 1] == 0))
			continue;
		out[o++] = out[i];
	}
	while (o > 1 && out[o - 1] == '/')
		o--;
	out[o] = 0;
	return 0;
}

/* The name of path inside the recorded directory ("" for the directory
 * itself) into out, or -1 when it lies outside. */
static int
rel_name(int dirfd, const char *path, char *out, size_t size)
{
	char a[PATH_MAX];

	if (!active() || dir_len == 0 || path == NULL ||
	    abs_path(dirfd, path, a, sizeof(a)) != 0)
		return -1;
	if (strncmp(a, dir, dir_len) != 0 ||
	    (a[dir_len] != '/' && a[dir_len] != 0))
		return -1;
	snprintf(out, size, "%s", a[dir_len] ? a + dir_len + 1 : "");
	return 0;
}

static fd_info *
tracked(int fd)
{
	if (fd < 0 || fd >= FD_MAX || fds[fd].name == NULL)
		return NULL;
	return &fds[fd];
}

/* The common body of every open: flags may lose O_[D]SYNC (nosync). */
static int
do_open(int dirfd, const char *path, int flags, mode_t mode)
{
	char name[PATH_MAX];
	struct stat sb;
	bool existed, rec;
	int fd, saved;
	REAL(openat, openat_fn);

	rec = rel_name(dirfd, path, name, sizeof(name)) == 0;
	if (!rec)
		return real_openat(dirfd, path, flags, mode);
	if (nosync)
		flags &= ~(O_SYNC | O_DSYNC);
	pthread_mutex_lock(&lock);
	existed = fstatat(dirfd, path, &sb, 0) == 0;
	fd = real_openat(dirfd, path, flags, mode);
	saved = errno;
	if (fd >= 0 && fd < FD_MAX) {
		free(fds[fd].name);
		fds[fd].name = strdup(name);
		fds[fd].sync_writes = (flags & (O_SYNC | O_DSYNC)) != 0;
		fds[fd].append = (flags & O_APPEND) != 0;
		if (!existed)
			log_rec(PL_CREATE, name, 0, 0, NULL);
		if (existed && (flags & O_TRUNC) && (flags & O_ACCMODE))
			log_rec(PL_TRUNC, name, 0, 0, NULL);
	}
	pthread_mutex_unlock(&lock);
	errno = saved;
	return fd;
}

static mode_t
mode_arg(int flags, va_list ap)
{
	bool has_mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;

	return has_mode ? (mode_t)va_arg(ap, int) : 0;
}

PL_API int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	return do_open(AT_FDCWD, path, flags, m);
}

PL_API int
open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	return do_open(AT_FDCWD, path, flags | O_LARGEFILE, m);
}

PL_API int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	return do_open(dirfd, path, flags, m);
}

PL_API int
openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	return do_open(dirfd, path, flags | O_LARGEFILE, m);
}

PL_API int
creat(const char *path, mode_t mode)
{
	return do_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

PL_API int
creat64(const char *path, mode_t mode)
{
	return do_open(AT_FDCWD, path,
	               O_WRONLY | O_CREAT | O_TRUNC | O_LARGEFILE, mode);
}

/* Record n bytes of a write at off (called with lock held), and the sync
 * an O_[D]SYNC descriptor implies. */
static void
log_write(const fd_info *fi, uint64_t off, const void *buf, ssize_t n)
{
	if (n <= 0)
		return;
	log_rec(PL_WRITE, fi->name, off, (uint64_t)n, buf);
	if (fi->sync_writes)
		log_rec(PL_SYNC, fi->name, 0, 0, NULL);
}

/* Where a write without an offset lands. */
static uint64_t
current_offset(int fd, const fd_info *fi)
{
	struct stat sb;
	REAL(lseek, lseek_fn);

	if (fi->append)
		return fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	return (uint64_t)real_lseek(fd, 0, SEEK_CUR);
}

/* Gather iov's first n bytes into one buffer (malloc'd). */
static void *
gather(const struct iovec *iov, int cnt, size_t n)
{
	char *buf = malloc(n ? n : 1), *p = buf;
	size_t k;
	int i;

	if (buf == NULL)
		abort();
	for (i = 0; i < cnt && n > 0; i++) {
		k = iov[i].iov_len < n ? iov[i].iov_len : n;
		memcpy(p, iov[i].iov_base, k);
		p += k;
		n -= k;
	}
	return buf;
}

PL_API ssize_t
write(int fd, const void *buf, size_t len)
{
	fd_info *fi;
	uint64_t off;
	ssize_t n;
	int saved;
	REAL(write, write_fn);

	if (!active())
		return real_write(fd, buf, len);
	pthread_mutex_lock(&lock);
	if ((fi = tracked(fd)) == NULL) {
		pthread_mutex_unlock(&lock);
		return real_write(fd, buf, len);
	}
	off = current_offset(fd, fi);
	n = real_write(fd, buf, len);
	saved = errno;
	log_write(fi, off, buf, n);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return n;
}

static ssize_t
do_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	fd_info *fi;
	ssize_t n;
	int saved;
	REAL(pwrite, pwrite_fn);

	if (!active())
		return real_pwrite(fd, buf, len, off);
	pthread_mutex_lock(&lock);
	if ((fi = tracked(fd)) == NULL) {
		pthread_mutex_unlock(&lock);
		return real_pwrite(fd, buf, len, off);
	}
	n = real_pwrite(fd, buf, len, off);
	saved = errno;
	log_write(fi, (uint64_t)off, buf, n);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return n;
}

PL_API ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return do_pwrite(fd, buf, len, off);
}

PL_API ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	return do_pwrite(fd, buf, len, (off_t)off);
}

/* writev and the pwritev family; off < 0 means "at the file offset"
 * (writev, or pwritev2 with -1). */
static ssize_t
do_writev(int fd, const struct iovec *iov, int cnt, off_t off, int flags,
          int which)
{
	fd_info *fi;
	uint64_t at;
	ssize_t n;
	void *buf;
	int saved;
	REAL(writev, writev_fn);
	REAL(pwritev, pwritev_fn);
	REAL(pwritev2, pwritev2_fn);

#define CALL()                                                                 \
	(which == 0   ? real_writev(fd, iov, cnt)                              \
	 : which == 1 ? real_pwritev(fd, iov, cnt, off)                        \
	              : real_pwritev2(fd, iov, cnt, off, flags))
	if (!active())
		return CALL();
	pthread_mutex_lock(&lock);
	if ((fi = tracked(fd)) == NULL) {
		pthread_mutex_unlock(&lock);
		return CALL();
	}
	at = (which == 0 || off < 0) ? current_offset(fd, fi) : (uint64_t)off;
	n = CALL();
	saved = errno;
	if (n > 0) {
		buf = gather(iov, cnt, (size_t)n);
		log_write(fi, at, buf, n);
		if (which == 2 && (flags & (RWF_DSYNC | RWF_SYNC)) &&
		    !fi->sync_writes)
			log_rec(PL_SYNC, fi->name, 0, 0, NULL);
		free(buf);
	}
	pthread_mutex_unlock(&lock);
	errno = saved;
	return n;
#undef CALL
}

PL_API ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	return do_writev(fd, iov, cnt, -1, 0, 0);
}

PL_API ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return do_writev(fd, iov, cnt, off, 0, 1);
}

PL_API ssize_t
pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	return do_writev(fd, iov, cnt, (off_t)off, 0, 1);
}

PL_API ssize_t
pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	if (nosync)
		flags &= ~(RWF_DSYNC | RWF_SYNC);
	return do_writev(fd, iov, cnt, off, flags, 2);
}

PL_API ssize_t
pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return pwritev2(fd, iov, cnt, (off_t)off, flags);
}

static int
do_ftruncate(int fd, off_t size)
{
	fd_info *fi;
	int rc, saved;
	REAL(ftruncate, ftruncate_fn);

	if (!active())
		return real_ftruncate(fd, size);
	pthread_mutex_lock(&lock);
	fi = tracked(fd);
	rc = real_ftruncate(fd, size);
	saved = errno;
	if (fi && rc == 0)
		log_rec(PL_TRUNC, fi->name, (uint64_t)size, 0, NULL);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return rc;
}

PL_API int
ftruncate(int fd, off_t size)
{
	return do_ftruncate(fd, size);
}

PL_API int
ftruncate64(int fd, off64_t size)
{
	return do_ftruncate(fd, (off_t)size);
}

/* fallocate only matters when it extends the file (mode 0): the other
 * modes keep the size, and punched holes are not used by the engines. */
static int
do_fallocate(int fd, int mode, off_t off, off_t len)
{
	fd_info *fi;
	int rc, saved;
	REAL(fallocate, fallocate_fn);

	if (!active())
		return real_fallocate(fd, mode, off, len);
	pthread_mutex_lock(&lock);
	fi = tracked(fd);
	rc = real_fallocate(fd, mode, off, len);
	saved = errno;
	if (fi && rc == 0 && mode == 0)
		log_rec(PL_EXTEND, fi->name, (uint64_t)(off + len), 0, NULL);
	else if (fi && rc == 0)
		log_rec(PL_NOTE, fi->name, (uint64_t)mode, 0, NULL);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return rc;
}

PL_API int
fallocate(int fd, int mode, off_t off, off_t len)
{
	return do_fallocate(fd, mode, off, len);
}

PL_API int
fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	return do_fallocate(fd, mode, (off_t)off, (off_t)len);
}

PL_API int
posix_fallocate(int fd, off_t off, off_t len)
{
	int saved = errno, rc;

	rc = do_fallocate(fd, 0, off, len) == 0 ? 0 : errno;
	errno = saved;
	return rc;
}

PL_API int
posix_fallocate64(int fd, off64_t off, off64_t len)
{
	return posix_fallocate(fd, (off_t)off, (off_t)len);
}

/* fsync and fdatasync: the same to the replayer (file sizes are data). */
static int
do_sync(int fd, bool data_only)
{
	fd_info *fi;
	int rc, saved;
	REAL(fsync, fd_fn);
	REAL(fdatasync, fd_fn);

	if (!active())
		return data_only ? real_fdatasync(fd) : real_fsync(fd);
	pthread_mutex_lock(&lock);
	if ((fi = tracked(fd)) == NULL) {
		pthread_mutex_unlock(&lock);
		return data_only ? real_fdatasync(fd) : real_fsync(fd);
	}
	if (nosync || (nosync_only[0] && strcmp(fi->name, nosync_only) == 0)) {
		log_rec(PL_NOSYNC, fi->name, 0, 0, NULL);
		pthread_mutex_unlock(&lock);
		return 0;
	}
	rc = data_only ? real_fdatasync(fd) : real_fsync(fd);
	saved = errno;
	if (rc == 0)
		log_rec(fi->name[0] ? PL_SYNC : PL_DIRSYNC, fi->name, 0, 0,
		        NULL);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return rc;
}

PL_API int
fsync(int fd)
{
	return do_sync(fd, false);
}

PL_API int
fdatasync(int fd)
{
	return do_sync(fd, true);
}

/* sync_file_range makes no durability promise (no metadata, no disk
 * cache flush): forwarded and noted, never counted as a sync. */
PL_API int
sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	fd_info *fi;
	int rc, saved;
	REAL(sync_file_range, sfr_fn);

	if (!active())
		return real_sync_file_range(fd, off, n, flags);
	pthread_mutex_lock(&lock);
	fi = tracked(fd);
	rc = real_sync_file_range(fd, off, n, flags);
	saved = errno;
	if (fi)
		log_rec(PL_NOTE, fi->name, (uint64_t)off, 0, NULL);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return rc;
}

/* msync: the maps written are not durable state (see the top); logged as
 * a note so that a change in the engines shows in the counts. */
PL_API int
msync(void *addr, size_t len, int flags)
{
	int rc, saved;
	REAL(msync, msync_fn);

	rc = real_msync(addr, len, flags);
	if (active()) {
		saved = errno;
		pthread_mutex_lock(&lock);
		log_rec(PL_NOTE, "msync", (uint64_t)len, 0, NULL);
		pthread_mutex_unlock(&lock);
		errno = saved;
	}
	return rc;
}

PL_API int
close(int fd)
{
	REAL(close, fd_fn);

	if (active() && fd >= 0 && fd < FD_MAX) {
		pthread_mutex_lock(&lock);
		free(fds[fd].name);
		fds[fd].name = NULL;
		pthread_mutex_unlock(&lock);
	}
	return real_close(fd);
}

static int
do_unlink(int dirfd, const char *path, int flags)
{
	char name[PATH_MAX];
	int rc, saved;
	bool rec;
	REAL(unlinkat, unlinkat_fn);

	rec = rel_name(dirfd, path, name, sizeof(name)) == 0;
	if (!rec)
		return real_unlinkat(dirfd, path, flags);
	pthread_mutex_lock(&lock);
	rc = real_unlinkat(dirfd, path, flags);
	saved = errno;
	if (rc == 0)
		log_rec(PL_UNLINK, name, 0, 0, NULL);
	pthread_mutex_unlock(&lock);
	errno = saved;
	return rc;
}

PL_API int
unlink(const char *path)
{
	return do_unlink(AT_FDCWD, path, 0);
}

PL_API int
unlinkat(int dirfd, const char *path, int flags)
{
	return do_unlink(dirfd, path, flags);
}

static int
do_rename(int ofd, const char *from, int nfd, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];
	bool ra, rb;
	int rc, saved;
	REAL(renameat, renameat_fn);

	ra = rel_name(ofd, from, a, sizeof(a)) == 0;
	rb = rel_name(nfd, to, b, sizeof(b)) == 0;
	if (!ra && !rb)
		return real_renameat(ofd, from, nfd, to);
	pthread_mutex_lock(&lock);
	rc = real_renameat(ofd, from, nfd, to);
	saved = errno;
	if (rc == 0)
		log_rec(PL_RENAME, ra ? a : "", 0, strlen(rb ? b : ""),
		        rb ? b : "");
	pthread_mutex_unlock(&lock);
	errno = saved;
	return rc;
}

PL_API int
rename(const char *from, const char *to)
{
	return do_rename(AT_FDCWD, from, AT_FDCWD, to);
}

PL_API int
renameat(int ofd, const char *from, int nfd, const char *to)
{
	return do_rename(ofd, from, nfd, to);
}

PL_API void
cairn_pl_mark(const char *text)
{
	if (!active())
		return;
	pthread_mutex_lock(&lock);
	log_rec(PL_MARK, NULL, 0, strlen(text), text);
	pthread_mutex_unlock(&lock);
}
