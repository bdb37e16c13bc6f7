/*
 * notify.c -- the commit notifier: a counter readers wait on.
 *
 * The counter is a 32-bit word.  Writers bump it after a commit is
 * visible; a reader takes the counter, looks for new data, and when it
 * finds none waits for the counter to move.  A bump between the look and
 * the wait is not lost: the wait returns at once because the word no
 * longer holds the token.
 *
 * Shared across processes, the word sits at the start of a small file
 * every process maps MAP_SHARED.  On Linux the waiters sleep in a futex
 * on that word: a futex on a shared file mapping is keyed by the file's
 * page, not by the address, so a FUTEX_WAKE from any process mapping the
 * file wakes them all.  The file holds no data worth keeping: a torn or
 * zeroed word only causes a spurious wake-up.  Elsewhere (or when the
 * file cannot be mapped) waiters poll every CAIRN__NOTIFY_POLL_MS.
 */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

/* The mapped file's size: one page covers the word on every system. */
#define NOTIFY_FILE_SIZE 4096

struct cairn__notify {
	uint32_t *word; /* in map, or &private_word */
	void *map;
	uint32_t private_word;
	bool shared;
	bool read_only; /* mapped without PROT_WRITE: never bumped */
	int poll_ms; /* 0: bumps wake waiters */
};

static cairn_status
map_file(cairn__notify *n, const char *path, bool read_only)
{
	struct stat sb;
	int fd, flags = read_only ? O_RDONLY : O_RDWR | O_CREAT;
	void *m;

	fd = open(path, flags | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (read_only)
			return CAIRN_DONE; /* nobody writes here: poll */
		return cairn__error(CAIRN_IO, errno,
		                    "cannot open the notifier file '%s'", path);
	}
	if (fstat(fd, &sb) != 0)
		goto fail;
	if (sb.st_size < NOTIFY_FILE_SIZE) {
		if (read_only) {
			close(fd);
			return CAIRN_DONE;
		}
		if (ftruncate(fd, NOTIFY_FILE_SIZE) != 0)
			goto fail;
	}
	m = mmap(NULL, NOTIFY_FILE_SIZE, PROT_READ | (read_only ? 0 : PROT_WRITE),
	         MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	close(fd);
	n->map = m;
	n->word = m;
	n->shared = true;
	n->read_only = read_only;
	return CAIRN_OK;
fail:
	{
		int e = errno;

		close(fd);
		if (read_only)
			return CAIRN_DONE;
		return cairn__error(CAIRN_IO, e,
		                    "cannot map the notifier file '%s'", path);
	}
}

cairn_status
cairn__notify_open(const char *path, bool read_only, cairn__notify **out)
{
	cairn__notify *n = cairn__calloc(1, sizeof(*n));
	cairn_status rc;

	*out = NULL;
	if (n == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	n->word = &n->private_word;
	if (path != NULL) {
		rc = map_file(n, path, read_only);
		if (rc == CAIRN_DONE)
			n->poll_ms = CAIRN__NOTIFY_POLL_MS;
		else if (rc != CAIRN_OK) {
			cairn__free(n);
			return rc;
		}
	}
#ifndef __linux__
	if (n->shared)
		n->poll_ms = CAIRN__NOTIFY_POLL_MS;
#endif
	*out = n;
	return CAIRN_OK;
}

void
cairn__notify_close(cairn__notify *n)
{
	if (n == NULL)
		return;
	if (n->map)
		munmap(n->map, NOTIFY_FILE_SIZE);
	cairn__free(n);
}

uint32_t
cairn__notify_token(cairn__notify *n)
{
	return __atomic_load_n(n->word, __ATOMIC_ACQUIRE);
}

int
cairn__notify_poll_ms(const cairn__notify *n)
{
	return n->poll_ms;
}

#ifdef __linux__
static long
futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}
#endif

void
cairn__notify_bump(cairn__notify *n)
{
	if (n->read_only)
		return;
	__atomic_fetch_add(n->word, 1, __ATOMIC_RELEASE);
#ifdef __linux__
	futex(n->word, n->shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT32_MAX,
	      NULL);
#endif
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

cairn_status
cairn__notify_wait(cairn__notify *n, uint32_t token, int timeout_ms)
{
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (cairn__notify_token(n) != token)
		return CAIRN_OK;
	if (timeout_ms == 0)
		return CAIRN_TIMEOUT;
#ifdef __linux__
	if (n->poll_ms == 0) {
		struct timespec ts = {timeout_ms / 1000,
		                      (long)(timeout_ms % 1000) * 1000000L};
		long r = futex(n->word, n->shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE,
		               token, &ts);

		if (r != 0 && errno == ETIMEDOUT)
			return CAIRN_TIMEOUT;
		return CAIRN_OK; /* woken, changed, or EINTR: look again */
	}
#endif
	sleep_ms(timeout_ms < n->poll_ms ? timeout_ms : n->poll_ms);
	return cairn__notify_token(n) != token ? CAIRN_OK : CAIRN_TIMEOUT;
}
