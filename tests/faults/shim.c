/*
 * shim.c -- see shim.h.  The real functions are found with
 * dlsym(RTLD_NEXT).  When nothing is armed the wrappers cost one relaxed
 * load on top of the real call.
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

/* what a call is for */
enum shim_file { SHIM_OTHER, SHIM_LOG, SHIM_DATA };

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
	         log_sync_after_data_sync || log_sync_countdown || counting;

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
 * reported as failed. */
static bool
sync_fails(enum shim_file f)
{
	bool fail = false;

	pthread_mutex_lock(&lock);
	if (f == SHIM_LOG) {
		log_syncs++;
		if (log_sync_countdown && --log_sync_countdown == 0)
			fail = true;
		else if (log_sync_failures) {
			log_sync_failures--;
			fail = true;
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
			fail = true;
		}
	}
	rearm();
	pthread_mutex_unlock(&lock);
	return fail;
}

/* Whether a write to fd must fail (and not happen). */
static bool
write_fails(int fd)
{
	bool fail = false;

	if (!is_armed())
		return false;
	pthread_mutex_lock(&lock);
	if (data_write_failure && file_of(fd) == SHIM_DATA) {
		data_write_failure = false;
		fail = true;
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
	int rc;

	if (real == NULL) {
		fn = real_function("fdatasync");
		memcpy(&real, &fn, sizeof(real));
	}
	rc = real(fd);
	if (rc == 0 && is_armed() && sync_fails(file_of(fd))) {
		errno = EIO;
		return -1;
	}
	return rc;
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	void *fn;

	if (real == NULL) {
		fn = real_function("pwrite");
		memcpy(&real, &fn, sizeof(real));
	}
	if (write_fails(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd, buf, len, off);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	static ssize_t (*real)(int, const struct iovec *, int, off_t);
	void *fn;

	if (real == NULL) {
		fn = real_function("pwritev");
		memcpy(&real, &fn, sizeof(real));
	}
	if (write_fails(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd, iov, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	static ssize_t (*real)(int, const struct iovec *, int);
	void *fn;

	if (real == NULL) {
		fn = real_function("writev");
		memcpy(&real, &fn, sizeof(real));
	}
	if (write_fails(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd, iov, n);
}
