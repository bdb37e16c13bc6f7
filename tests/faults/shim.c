/*
 * shim.c -- see shim.h.  The real functions are found with
 * dlsym(RTLD_NEXT).  When nothing is armed the wrappers cost one relaxed
 * load on top of the real call.
 *
 * Two kinds of faults: the lmdb-specific ones of the first tests
 * (shim_fail_log_syncs() and the like, on fdatasync only), and rules
 * (shim_fail_calls()): fail the calls of one kind (write or sync) on one
 * file after skipping some, whatever function makes them.
 */
#define _GNU_SOURCE

#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHIM_RULES_MAX 4

/* Every field is guarded by lock, except armed, which the wrappers read
 * first so that the common case takes no lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int armed;
static unsigned log_sync_failures;
static unsigned data_sync_failures;
static bool write_after_data_sync;        /* armed, waiting for the data sync */
static bool data_write_failure;           /* the data sync came: fail a write */
static unsigned log_sync_after_data_sync; /* armed, waiting ... */
static unsigned log_sync_countdown;       /* the data sync came */
static bool counting;
static unsigned log_syncs, data_syncs;
static struct shim_rule {
	enum shim_file file;
	enum shim_op op;
	unsigned skip, fail; /* calls left to let through, then to fail */
	int err;
} rules[SHIM_RULES_MAX];
static unsigned nrules;
static unsigned calls[SHIM_FILES][SHIM_OPS];
static unsigned injected_total; /* never reset */
static bool seen_failure;
static enum shim_file failed_file;
static int failed_errno;

static bool
is_armed(void)
{
	return __atomic_load_n(&armed, __ATOMIC_ACQUIRE) != 0;
}

/* Keep armed in step with the settings; called with lock held. */
static void
rearm(void)
{
	int on = log_sync_failures || data_sync_failures ||
	         write_after_data_sync || data_write_failure ||
	         log_sync_after_data_sync || log_sync_countdown || counting ||
	         nrules;

	__atomic_store_n(&armed, on, __ATOMIC_RELEASE);
}

static bool
ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static enum shim_file
file_of(int fd)
{
	char link[64], path[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path));
	if (n <= 0)
		return SHIM_OTHER;
	if (ends_with(path, (size_t)n, "/wal"))
		return SHIM_LOG;
	if (ends_with(path, (size_t)n, "/data.mdb"))
		return SHIM_DATA;
	if (ends_with(path, (size_t)n, "/" SHIM_SQL_NAME))
		return SHIM_SQL_DB;
	if (ends_with(path, (size_t)n, "/" SHIM_SQL_NAME "-wal"))
		return SHIM_SQL_WAL;
	return SHIM_OTHER;
}

static void *
real_function(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (fn == NULL) {
		fprintf(stderr, "shim: no %s after the shim\n", name);
		_exit(127);
	}
	return fn;
}

bool
shim_usable(void)
{
	int (*ours)(int) = fdatasync;
	void *found = dlsym(RTLD_DEFAULT, "fdatasync"), *mine;

	memcpy(&mine, &ours, sizeof(mine));
	return found == mine;
}

void
shim_reset(void)
{
	pthread_mutex_lock(&lock);
	log_sync_failures = data_sync_failures = 0;
	write_after_data_sync = data_write_failure = false;
	log_sync_after_data_sync = log_sync_countdown = 0;
	counting = false;
	nrules = 0;
	rearm();
	pthread_mutex_unlock(&lock);
}

void
shim_fail_log_syncs(unsigned n)
{
	pthread_mutex_lock(&lock);
	log_sync_failures = n;
	rearm();
	pthread_mutex_unlock(&lock);
}

void
shim_fail_data_syncs(unsigned n)
{
	pthread_mutex_lock(&lock);
	data_sync_failures = n;
	rearm();
	pthread_mutex_unlock(&lock);
}

void
shim_fail_data_write_after_data_sync(void)
{
	pthread_mutex_lock(&lock);
	write_after_data_sync = true;
	rearm();
	pthread_mutex_unlock(&lock);
}

void
shim_fail_log_sync_after_data_sync(unsigned k)
{
	pthread_mutex_lock(&lock);
	log_sync_after_data_sync = k;
	rearm();
	pthread_mutex_unlock(&lock);
}

void
shim_count_syncs(void)
{
	pthread_mutex_lock(&lock);
	counting = true;
	log_syncs = data_syncs = 0;
	rearm();
	pthread_mutex_unlock(&lock);
}

void
shim_fail_calls(enum shim_file file, enum shim_op op, unsigned skip, unsigned n,
                int err)
{
	pthread_mutex_lock(&lock);
	if (nrules < SHIM_RULES_MAX) {
		rules[nrules].file = file;
		rules[nrules].op = op;
		rules[nrules].skip = skip;
		rules[nrules].fail = n;
		rules[nrules].err = err;
		nrules++;
	}
	rearm();
	pthread_mutex_unlock(&lock);
}

void
shim_count_calls(void)
{
	pthread_mutex_lock(&lock);
	counting = true;
	seen_failure = false;
	memset(calls, 0, sizeof(calls));
	log_syncs = data_syncs = 0;
	rearm();
	pthread_mutex_unlock(&lock);
}

unsigned
shim_calls(enum shim_file file, enum shim_op op)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = calls[file][op];
	pthread_mutex_unlock(&lock);
	return n;
}

bool
shim_first_failure(enum shim_file *file, int *err)
{
	bool seen;

	pthread_mutex_lock(&lock);
	seen = seen_failure;
	*file = failed_file;
	*err = failed_errno;
	pthread_mutex_unlock(&lock);
	return seen;
}

const char *
shim_file_name(enum shim_file file)
{
	static const char *const names[] = {"another file", "wal", "data.mdb",
	                                    SHIM_SQL_NAME,
	                                    SHIM_SQL_NAME "-wal"};

	return file < SHIM_FILES ? names[file] : "?";
}

static size_t
iov_bytes(const struct iovec *iov, int n)
{
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

/* After a real call on fd that returned rc (want: the bytes asked for,
 * or 0 for a sync): note the first failure while counting. */
static void
observe(int fd, ssize_t rc, size_t want, int err)
{
	enum shim_file f;

	if (!is_armed() || (rc >= 0 && (size_t)rc == want))
		return;
	f = file_of(fd);
	pthread_mutex_lock(&lock);
	if (counting && !seen_failure) {
		seen_failure = true;
		failed_file = f;
		failed_errno = rc < 0 ? err : EFBIG;
	}
	pthread_mutex_unlock(&lock);
}

unsigned
shim_injected(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = injected_total;
	pthread_mutex_unlock(&lock);
	return n;
}

unsigned
shim_rule_left(void)
{
	unsigned i, n = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nrules; i++)
		n += rules[i].fail;
	pthread_mutex_unlock(&lock);
	return n;
}

/* Apply the rules to a call op on f (lock held): its errno to fail
 * with, or 0. */
static int
rule_error(enum shim_file f, enum shim_op op)
{
	unsigned i;

	calls[f][op]++;
	for (i = 0; i < nrules; i++) {
		struct shim_rule *r = &rules[i];

		if (r->file != f || r->op != op || r->fail == 0)
			continue;
		if (r->skip) {
			r->skip--;
			continue;
		}
		r->fail--;
		injected_total++;
		return r->err;
	}
	return 0;
}

unsigned
shim_log_syncs(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = log_syncs;
	pthread_mutex_unlock(&lock);
	return n;
}

unsigned
shim_data_syncs(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = data_syncs;
	pthread_mutex_unlock(&lock);
	return n;
}

/* Whether a sync of a file of kind f, which has been done, must be
 * reported as failed: 0, or the errno. */
static int
sync_fails(enum shim_file f, bool is_fdatasync)
{
	int fail = 0;

	pthread_mutex_lock(&lock);
	fail = rule_error(f, SHIM_SYNC);
	if (!is_fdatasync) {
		/* the lmdb faults below are on fdatasync only */
	} else if (f == SHIM_LOG) {
		log_syncs++;
		if (log_sync_countdown && --log_sync_countdown == 0)
			fail = EIO;
		else if (log_sync_failures) {
			log_sync_failures--;
			fail = EIO;
		}
	} else if (f == SHIM_DATA) {
		data_syncs++;
		if (log_sync_after_data_sync && !log_sync_countdown) {
			log_sync_countdown = log_sync_after_data_sync;
			log_sync_after_data_sync = 0;
		}
		if (write_after_data_sync) {
			write_after_data_sync = false;
			data_write_failure = true;
		}
		if (data_sync_failures) {
			data_sync_failures--;
			fail = EIO;
		}
	}
	rearm();
	pthread_mutex_unlock(&lock);
	return fail;
}

/* Whether a write to fd must fail (and not happen): 0, or the errno. */
static int
write_fails(int fd)
{
	enum shim_file f;
	int fail;

	if (!is_armed())
		return 0;
	f = file_of(fd);
	pthread_mutex_lock(&lock);
	fail = rule_error(f, SHIM_WRITE);
	if (!fail && data_write_failure && f == SHIM_DATA) {
		data_write_failure = false;
		fail = EIO;
	}
	rearm();
	pthread_mutex_unlock(&lock);
	return fail;
}

int
fdatasync(int fd)
{
	static int (*real)(int);
	void *fn;
	int rc, err;

	if (real == NULL) {
		fn = real_function("fdatasync");
		memcpy(&real, &fn, sizeof(real));
	}
	rc = real(fd);
	if (rc != 0)
		observe(fd, -1, 0, errno);
	if (rc == 0 && is_armed() && (err = sync_fails(file_of(fd), true))) {
		errno = err;
		return -1;
	}
	return rc;
}

int
fsync(int fd)
{
	static int (*real)(int);
	void *fn;
	int rc, err;

	if (real == NULL) {
		fn = real_function("fsync");
		memcpy(&real, &fn, sizeof(real));
	}
	rc = real(fd);
	if (rc != 0)
		observe(fd, -1, 0, errno);
	if (rc == 0 && is_armed() && (err = sync_fails(file_of(fd), false))) {
		errno = err;
		return -1;
	}
	return rc;
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	void *fn;
	ssize_t rc;
	int err;

	if (real == NULL) {
		fn = real_function("pwrite");
		memcpy(&real, &fn, sizeof(real));
	}
	if ((err = write_fails(fd)) != 0) {
		errno = err;
		return -1;
	}
	rc = real(fd, buf, len, off);
	observe(fd, rc, len, errno);
	return rc;
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	static ssize_t (*real)(int, const struct iovec *, int, off_t);
	void *fn;
	ssize_t rc;
	int err;

	if (real == NULL) {
		fn = real_function("pwritev");
		memcpy(&real, &fn, sizeof(real));
	}
	if ((err = write_fails(fd)) != 0) {
		errno = err;
		return -1;
	}
	rc = real(fd, iov, n, off);
	observe(fd, rc, iov_bytes(iov, n), errno);
	return rc;
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	static ssize_t (*real)(int, const struct iovec *, int);
	void *fn;
	ssize_t rc;
	int err;

	if (real == NULL) {
		fn = real_function("writev");
		memcpy(&real, &fn, sizeof(real));
	}
	if ((err = write_fails(fd)) != 0) {
		errno = err;
		return -1;
	}
	rc = real(fd, iov, n);
	observe(fd, rc, iov_bytes(iov, n), errno);
	return rc;
}

/* SQLite's unix VFS writes with pwrite64 (a symbol of its own in glibc,
 * though the same function as pwrite on 64-bit) and, for a few bytes of
 * a new file, with write. */
ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off64_t);
	void *fn;
	ssize_t rc;
	int err;

	if (real == NULL) {
		fn = real_function("pwrite64");
		memcpy(&real, &fn, sizeof(real));
	}
	if ((err = write_fails(fd)) != 0) {
		errno = err;
		return -1;
	}
	rc = real(fd, buf, len, off);
	observe(fd, rc, len, errno);
	return rc;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	static ssize_t (*real)(int, const void *, size_t);
	void *fn;
	ssize_t rc;
	int err;

	if (real == NULL) {
		fn = real_function("write");
		memcpy(&real, &fn, sizeof(real));
	}
	if ((err = write_fails(fd)) != 0) {
		errno = err;
		return -1;
	}
	rc = real(fd, buf, len);
	observe(fd, rc, len, errno);
	return rc;
}
