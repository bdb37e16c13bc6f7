/*
 * main.c -- the power-loss simulation: records a worker's file I/O,
 * builds crash images from the record and checks each one.
 *
 * For each recording it runs powerloss_worker under the recorder
 * (LD_PRELOAD=recorder), which logs every write, truncation and sync of
 * the store's files and every append the worker was told is committed.
 * Then, for each crash image, it picks a cut point in that log (the
 * moment the power went), and builds what a disk could hold after it:
 *
 *   - every write of a file before the file's last sync before the cut
 *     is there, applied in order;
 *   - every later write (before the cut) is independently there, absent,
 *     or torn: each 512-byte sector of it there or not.  A sync of one
 *     file says nothing of another.  Truncations and extensions after the
 *     file's last sync may or may not have happened;
 *   - a file's directory entry (its creation) is durable once the file
 *     or its directory has been synced (with CAIRN_PL_STRICT_DIRS=1:
 *     only once the directory has); before that the file may be
 *     missing altogether.  An unlink is durable once the directory has
 *     been synced, and so is a rename (before, the file is under its
 *     old name or its new one);
 *   - files that hold no durable state are left out, as after a reboot:
 *     LMDB's lock.mdb, SQLite's -shm and cairn's notify files (the first
 *     opener rebuilds them).
 *
 * Each image is opened in a fresh process (the test process never opens
 * a store), with a boot id of its own (CAIRN_TEST_BOOT_ID: a power loss
 * is a reboot, which the lmdb engine recovers from differently), and
 * checked: cairn_verify() finds no problem; every append acknowledged
 * before the cut is there exactly once, byte for byte (type, data,
 * metadata, tags, id, stream, version, position); no multi-stream append
 * is partly there; no conflicting or failed-condition append is there;
 * no append is there that was not acknowledged except the one in flight
 * at the cut; positions are gapless; and one more append succeeds.
 *
 * In the durable tests every fourth image also gets a second power loss
 * during its recovery: the image is opened by the worker under the
 * recorder (a new boot: the engine recovers, then closes), that log is
 * cut RECOVERY_IMAGES times (mostly inside the open), each cut is built
 * on the image as it was, and checked against what was acknowledged
 * before the first loss.
 *
 * usage: powerloss_test lmdb|sqlite durable|nosync|relaxed WORKDIR
 *                       RECORDER.so WORKER
 * durable: every image must pass (0 violations).  nosync (the recorder
 * swallows every sync) and relaxed (CAIRN_RELAXED): the test passes only
 * if some image lost acknowledged appends -- the proof that the harness
 * can see a loss.
 * Environment: CAIRN_PL_SEED (default fixed), CAIRN_PL_IMAGES (images
 * per recording, default 120), CAIRN_PL_RECORDINGS (default 2),
 * CAIRN_PL_APPENDS and CAIRN_PL_APPENDS_LONG (appends of the even and
 * of the odd recordings, default 40 and 320),
 * CAIRN_PL_STRICT_DIRS (above), CAIRN_PL_DUMP=1 (print the log),
 * CAIRN_PL_CUT=N|end (cut every image there),
 * CAIRN_PL_NOSYNC_ONLY=NAME (recorder.c: swallow one file's syncs, to
 * see the durable tests fail).  CAIRN_SKIP_BIG=1 (the sanitizer runs)
 * lowers the default images per recording to 60.
 */
#define _GNU_SOURCE
#include "powerloss.h"

#include <cairn.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_MAX 4 /* per append, as the worker makes them */
/* The first images of each recording (at most half of them) cut at every
 * point of the store's creation in turn (1, 2, ... up to the worker's
 * "opened" mark), round after round with other random choices: a small
 * window where a power loss is easy to mishandle. */
#define EXHAUSTIVE_IMAGES 60
#define WORKER_TIMEOUT_S 120
#define CHECK_TIMEOUT_S 60
#define FINDINGS_PRINTED 8 /* images whose findings are printed in full */
#define PL_STREAM_MAX 32
#define MIN_IMAGES 200 /* per durable test, with the default settings */
/* Every RECOVERY_EVERY-th image of a durable test gets RECOVERY_IMAGES
 * more: a second power loss during the recovery from the first. */
#define RECOVERY_EVERY 4
#define RECOVERY_IMAGES 3

/* One logged operation. */
typedef struct op {
	unsigned kind;
	int file; /* index into files[], -1 for marks or ignored files */
	int file2; /* a rename's new name, into files[] */
	uint64_t off, len;
	const uint8_t *data; /* payload, into the log buffer */
} op;

typedef struct pl_file {
	char name[256];
	bool ignored; /* holds no durable state: left out of images */
} pl_file;

/* The replay of one recording. */
typedef struct recording {
	uint8_t *buf;
	size_t buf_len;
	op *ops;
	size_t nops;
	pl_file *files;
	size_t nfiles;
	size_t *acks; /* indexes of "ack" marks */
	size_t nacks;
	size_t *syncs; /* indexes of syncs (and swallowed syncs) */
	size_t nsyncs;
	size_t opened; /* index of the "opened" mark: creation ends there */
	unsigned max_append;
} recording;

/* What the worker had been told at a cut. */
typedef struct acked_event {
	char stream[PL_STREAM_MAX];
	uint64_t version, position;
	char id[CAIRN_UUID_STR_LEN + 1];
} acked_event;

typedef struct expectation {
	unsigned max_append; /* of the worker's numbering */
	bool *begun;         /* [append] */
	size_t *acked_n;     /* [append]: events acked, 0: no ack */
	acked_event *acked;  /* [append * EVENTS_MAX + index] */
	unsigned in_flight;  /* begun, not resolved at the cut; 0: none */
	size_t nacked;       /* appends acknowledged */
} expectation;

static const char *backend, *mode, *workdir, *recorder_path, *worker_path;
static bool expect_losses; /* nosync, relaxed */
static uint64_t seed;
static unsigned images_per_rec = 120, nrecordings = 2, nappends = 40;
/* Appends of every second recording: past the lmdb engine's checkpoint
 * every 256 batches, so that cuts fall around one. */
static unsigned nappends_long = 320;
static unsigned printed;
/* CAIRN_PL_STRICT_DIRS=1: a file's creation is durable only once its
 * directory was synced (POSIX), not already once the file was (ext4's
 * behaviour, and the default). */
static bool strict_dirs;

/* Totals, printed at the end. */
static unsigned long t_ops, t_syncs, t_images, t_checked, t_violations,
        t_lost_images, t_lost_appends, t_other_images, t_creation_images,
        t_recoveries, t_recovery_images, t_recovery_violations;

__attribute__((format(printf, 1, 2))) static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned
env_unsigned(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

static int
run_cmd(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
rm_rf(const char *path)
{
	char *argv[] = {"rm", "-rf", (char *)path, NULL};

	return run_cmd(argv);
}

static int
mkdir_p(const char *path)
{
	char *argv[] = {"mkdir", "-p", (char *)path, NULL};

	return run_cmd(argv);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Files the first opener rebuilds, and the directory itself. */
static bool
name_ignored(const char *name)
{
	return name[0] == 0 || strcmp(name, "lock.mdb") == 0 ||
	       strcmp(name, "notify") == 0 || strcmp(name, "msync") == 0 ||
	       ends_with(name, "-shm") || ends_with(name, "-notify") ||
	       ends_with(name, "-lock") ||
	       strchr(name, '/') != NULL;
}

/* ------------------------------------------------------------------------
 * Recording
 * ------------------------------------------------------------------------ */

static const char *
kind_name(unsigned kind)
{
	static const char *const names[] = {
	        "?",       "create", "write",  "trunc",  "extend", "sync",
	        "dirsync", "nosync", "unlink", "rename", "mark",   "note"};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

/* Run the worker under the recorder on store dir sdir, logging to log.
 * Returns 0 or -1 (printed). */
static int
record(const char *sdir, const char *log, uint64_t wseed, unsigned napp,
       const char *boot_id)
{
	char uri[1200], n[16], s[32], asan[1024];
	const char *old_asan = getenv("ASAN_OPTIONS");
	double t0 = now();
	int status;
	pid_t pid;

	snprintf(uri, sizeof(uri), "%s:%s%s", backend, sdir,
	         strcmp(backend, "sqlite") == 0 ? "/db" : "");
	snprintf(n, sizeof(n), "%u", napp);
	snprintf(s, sizeof(s), "%" PRIu64, wseed);
	/* A preloaded library comes before the AddressSanitizer runtime,
	 * which refuses that unless told not to check. */
	snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0",
	         old_asan ? old_asan : "", old_asan && *old_asan ? ":" : "");
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char *argv[] = {(char *)worker_path,
		                uri,
		                strcmp(mode, "relaxed") == 0 ? "relaxed"
		                                             : "durable",
		                n,
		                s,
		                NULL};

		setenv("CAIRN_PL_DIR", sdir, 1);
		setenv("CAIRN_PL_LOG", log, 1);
		if (boot_id != NULL)
			setenv("CAIRN_TEST_BOOT_ID", boot_id, 1);
		setenv("LD_PRELOAD", recorder_path, 1);
		setenv("ASAN_OPTIONS", asan, 1);
		if (strcmp(mode, "nosync") == 0)
			setenv("CAIRN_PL_NOSYNC", "1", 1);
		else
			unsetenv("CAIRN_PL_NOSYNC");
		execv(worker_path, argv);
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (now() - t0 > WORKER_TIMEOUT_S) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			say("worker timed out after %d s", WORKER_TIMEOUT_S);
			return -1;
		}
		usleep(10000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		say("worker failed (status 0x%x)", status);
		return -1;
	}
	return 0;
}

static int
file_index(recording *rec, const char *name, size_t len)
{
	size_t i;

	if (len >= sizeof(rec->files[0].name))
		len = sizeof(rec->files[0].name) - 1;
	for (i = 0; i < rec->nfiles; i++)
		if (strlen(rec->files[i].name) == len &&
		    memcmp(rec->files[i].name, name, len) == 0)
			return (int)i;
	rec->files = realloc(rec->files, (rec->nfiles + 1) * sizeof(pl_file));
	if (rec->files == NULL)
		abort();
	memcpy(rec->files[rec->nfiles].name, name, len);
	rec->files[rec->nfiles].name[len] = 0;
	rec->files[rec->nfiles].ignored =
	        name_ignored(rec->files[rec->nfiles].name);
	return (int)rec->nfiles++;
}

static void
push_index(size_t **arr, size_t *n, size_t v)
{
	*arr = realloc(*arr, (*n + 1) * sizeof(size_t));
	if (*arr == NULL)
		abort();
	(*arr)[(*n)++] = v;
}

/* Read and parse the log.  Returns 0 or -1 (printed). */
static int
load_log(recording *rec, const char *log)
{
	struct stat sb;
	size_t pos = 0, cap = 0;
	pl_rec_hdr h;
	int fd = open(log, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	op *o;

	if (fd < 0 || fstat(fd, &sb) != 0) {
		say("%s: %s", log, strerror(errno));
		return -1;
	}
	rec->buf_len = (size_t)sb.st_size;
	rec->buf = malloc(rec->buf_len ? rec->buf_len : 1);
	if (rec->buf == NULL)
		abort();
	while (pos < rec->buf_len) {
		n = read(fd, rec->buf + pos, rec->buf_len - pos);
		if (n <= 0) {
			say("%s: short read", log);
			close(fd);
			return -1;
		}
		pos += (size_t)n;
	}
	close(fd);
	for (pos = 0; pos < rec->buf_len;) {
		if (rec->buf_len - pos < sizeof(h)) {
			say("%s: torn record at %zu", log, pos);
			return -1;
		}
		memcpy(&h, rec->buf + pos, sizeof(h));
		pos += sizeof(h);
		if (h.magic != PL_LOG_MAGIC ||
		    rec->buf_len - pos < h.name_len ||
		    rec->buf_len - pos - h.name_len <
		            (h.kind == PL_WRITE || h.kind == PL_MARK ||
		                             h.kind == PL_RENAME
		                     ? h.len
		                     : 0)) {
			say("%s: bad record at %zu", log, pos - sizeof(h));
			return -1;
		}
		if (rec->nops == cap) {
			cap = cap ? cap * 2 : 1024;
			rec->ops = realloc(rec->ops, cap * sizeof(op));
			if (rec->ops == NULL)
				abort();
		}
		o = &rec->ops[rec->nops];
		o->kind = h.kind;
		o->off = h.off;
		o->len = h.len;
		o->file =
		        h.kind == PL_MARK
		                ? -1
		                : file_index(rec, (const char *)rec->buf + pos,
		                             h.name_len);
		pos += h.name_len;
		o->data = rec->buf + pos;
		o->file2 = -1;
		if (h.kind == PL_RENAME)
			o->file2 = file_index(rec, (const char *)o->data,
			                      (size_t)h.len);
		if (h.kind == PL_WRITE || h.kind == PL_MARK ||
		    h.kind == PL_RENAME)
			pos += h.len;
		if (h.kind == PL_MARK && h.len > 4 &&
		    memcmp(o->data, "ack ", 4) == 0)
			push_index(&rec->acks, &rec->nacks, rec->nops);
		if (h.kind == PL_MARK && h.len == 6 &&
		    memcmp(o->data, "opened", 6) == 0)
			rec->opened = rec->nops;
		if (h.kind == PL_MARK && h.len > 6 &&
		    memcmp(o->data, "begin ", 6) == 0) {
			unsigned a = (unsigned)strtoul(
			        (const char *)o->data + 6, NULL, 10);

			if (a > rec->max_append)
				rec->max_append = a;
		}
		if ((h.kind == PL_SYNC || h.kind == PL_DIRSYNC ||
		     h.kind == PL_NOSYNC) &&
		    !rec->files[o->file].ignored)
			push_index(&rec->syncs, &rec->nsyncs, rec->nops);
		rec->nops++;
	}
	return 0;
}

static void
recording_free(recording *rec)
{
	free(rec->buf);
	free(rec->ops);
	free(rec->files);
	free(rec->acks);
	free(rec->syncs);
	memset(rec, 0, sizeof(*rec));
}

/* ------------------------------------------------------------------------
 * Crash images
 * ------------------------------------------------------------------------ */

typedef struct content {
	uint8_t *b;
	size_t size, cap;
	bool exists;
} content;

static void
content_reserve(content *c, size_t size)
{
	size_t ncap;

	if (size <= c->cap)
		return;
	ncap = c->cap ? c->cap : 65536;
	while (ncap < size)
		ncap *= 2;
	c->b = realloc(c->b, ncap);
	if (c->b == NULL)
		abort();
	memset(c->b + c->cap, 0, ncap - c->cap);
	c->cap = ncap;
}

/* Set the size; bytes past it are zeros, always. */
static void
content_resize(content *c, size_t size)
{
	content_reserve(c, size);
	if (size < c->size)
		memset(c->b + size, 0, c->size - size);
	c->size = size;
}

static void
content_write(content *c, uint64_t off, const uint8_t *data, uint64_t len)
{
	content_reserve(c, (size_t)(off + len));
	memcpy(c->b + off, data, (size_t)len);
	if (off + len > c->size)
		c->size = (size_t)(off + len);
}

/* Apply one write that was not synced: there whole, absent, or torn at
 * sector boundaries (of the file's offsets). */
static void
content_write_unsynced(content *c, const op *o, uint64_t *rng)
{
	unsigned r = pl_rng_below(rng, 100);
	uint64_t p, end, next;

	if (r < 40) {
		content_write(c, o->off, o->data, o->len);
		return;
	}
	if (r < 65)
		return;
	end = o->off + o->len;
	for (p = o->off; p < end; p = next) {
		next = (p / PL_SECTOR + 1) * PL_SECTOR;
		if (next > end)
			next = end;
		if (pl_rng_below(rng, 2))
			content_write(c, p, o->data + (p - o->off), next - p);
	}
}

/* Read dir/name into c (absent: c->exists stays false).  0 or -1. */
static int
load_file(const char *dir, const char *name, content *c)
{
	char path[1400];
	struct stat sb;
	ssize_t n;
	size_t done;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return -1;
	}
	content_resize(c, (size_t)sb.st_size);
	for (done = 0; done < c->size; done += (size_t)n) {
		n = read(fd, c->b + done, c->size - done);
		if (n <= 0) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	c->exists = true;
	return 0;
}

/* Copy the regular files of from (no subdirectories) into to. */
static int
copy_dir(const char *from, const char *to)
{
	char *argv[] = {"cp", "-p", "-r", "-T", (char *)from, (char *)to,
	                NULL};

	return run_cmd(argv);
}

/*
 * Write the image at cut into dir (made afresh; from a copy of base when
 * the recording was made on base): the ops before the cut
 * replayed in order on one content per name, each as durable or not as
 * the syncs before the cut say.  A rename moves a content to its new
 * name when it is durable (a directory sync after it) or by chance;
 * when it did not happen, later ops on the new name land in the content
 * still under the old one (the same inode).  Returns 0 or -1.
 */
static int
build_image(const recording *rec, size_t cut, uint64_t *rng, const char *dir,
            const char *base)
{
	char path[1400];
	size_t nf = rec->nfiles, f, i, last_dsync = 0, done;
	size_t *last_sync = calloc(nf ? nf : 1, sizeof(size_t));
	bool *any_sync = calloc(nf ? nf : 1, sizeof(bool));
	int *alias = malloc((nf ? nf : 1) * sizeof(int));
	content *cs = calloc(nf ? nf : 1, sizeof(content)), tmp;
	bool any_dsync = false, durable, entry_durable, applied;
	const op *o;
	content *c;
	ssize_t n;
	int fd, rc = 0;

	if (last_sync == NULL || any_sync == NULL || alias == NULL ||
	    cs == NULL)
		abort();
	for (f = 0; f < nf; f++)
		alias[f] = (int)f;
	/* a recording made on an existing image (a recovery) starts from
	 * that image's files, which were on the disk */
	for (f = 0; base != NULL && f < nf; f++)
		if (!rec->files[f].ignored &&
		    load_file(base, rec->files[f].name, &cs[f]) != 0)
			abort();
	for (i = 0; i < cut; i++) {
		o = &rec->ops[i];
		if (o->kind == PL_SYNC && o->file >= 0)
			last_sync[o->file] = i, any_sync[o->file] = true;
		if (o->kind == PL_DIRSYNC)
			last_dsync = i, any_dsync = true;
	}
	for (i = 0; i < cut; i++) {
		o = &rec->ops[i];
		if (o->file < 0 || rec->files[o->file].ignored)
			continue;
		c = &cs[alias[o->file]];
		durable = any_sync[o->file] && i < last_sync[o->file];
		entry_durable = (durable && !strict_dirs) ||
		                (any_dsync && i < last_dsync);
		switch (o->kind) {
		case PL_CREATE:
			if (entry_durable || pl_rng_below(rng, 2)) {
				c->exists = true;
				content_resize(c, 0);
			}
			break;
		case PL_WRITE:
			if (durable)
				content_write(c, o->off, o->data, o->len);
			else
				content_write_unsynced(c, o, rng);
			break;
		case PL_TRUNC:
			if (durable || pl_rng_below(rng, 2))
				content_resize(c, (size_t)o->off);
			break;
		case PL_EXTEND:
			if ((durable || pl_rng_below(rng, 2)) &&
			    o->off > c->size)
				content_resize(c, (size_t)o->off);
			break;
		case PL_UNLINK:
			if ((any_dsync && i < last_dsync) ||
			    pl_rng_below(rng, 2)) {
				c->exists = false;
				content_resize(c, 0);
			}
			break;
		case PL_RENAME:
			if (o->file2 < 0 || rec->files[o->file2].ignored)
				break;
			applied = (any_dsync && i < last_dsync) ||
			          pl_rng_below(rng, 2);
			if (!applied) {
				alias[o->file2] = alias[o->file];
				break;
			}
			/* the content moves; what the new name held goes
			 * away, and the old name is free again */
			tmp = cs[o->file2];
			cs[o->file2] = *c;
			*c = tmp;
			c->exists = false;
			content_resize(c, 0);
			alias[o->file2] = o->file2;
			alias[o->file] = o->file;
			break;
		default:
			break;
		}
	}
	/* The files the log does not touch are the base's, as they were. */
	if (rm_rf(dir) != 0 || mkdir_p(dir) != 0 ||
	    (base != NULL && copy_dir(base, dir) != 0))
		rc = -1;
	for (f = 0; f < nf && rc == 0; f++) {
		if (rec->files[f].ignored)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, rec->files[f].name);
		if (!cs[f].exists) {
			if (unlink(path) != 0 && errno != ENOENT)
				rc = -1;
			continue;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			say("%s: %s", path, strerror(errno));
			rc = -1;
			break;
		}
		for (done = 0; done < cs[f].size; done += (size_t)n) {
			n = write(fd, cs[f].b + done, cs[f].size - done);
			if (n <= 0) {
				say("%s: write failed", path);
				rc = -1;
				break;
			}
		}
		close(fd);
	}
	for (f = 0; f < nf; f++)
		free(cs[f].b);
	free(cs);
	free(alias);
	free(any_sync);
	free(last_sync);
	return rc;
}

/* Choose the cut of image i: the first ones at 1, 2, ... (the store's
 * creation, see EXHAUSTIVE_IMAGES), then mostly right after an
 * acknowledgment or around a sync, else anywhere. */
static size_t
choose_cut(const recording *rec, unsigned i, uint64_t *rng)
{
	unsigned r = pl_rng_below(rng, 100);
	const char *forced = getenv("CAIRN_PL_CUT");
	size_t k;

	if (forced != NULL) /* a debugging aid: every image at one cut */
		return strcmp(forced, "end") == 0
		               ? rec->nops
		               : (size_t)strtoul(forced, NULL, 10);
	if (i < EXHAUSTIVE_IMAGES && i < images_per_rec / 2 && rec->opened > 0)
		return i % (rec->opened + 1) + 1;
	if (r < 40 && rec->nacks) {
		k = rec->acks[pl_rng_below(rng, (unsigned)rec->nacks)];
		return k + 1;
	}
	if (r < 65 && rec->nsyncs) {
		k = rec->syncs[pl_rng_below(rng, (unsigned)rec->nsyncs)];
		return k + pl_rng_below(rng, 2);
	}
	return pl_rng_below(rng, (unsigned)rec->nops + 1);
}

/* ------------------------------------------------------------------------
 * Checking
 * ------------------------------------------------------------------------ */

/* Parse the marks before cut into ex (arrays allocated here). */
static int
expectation_build(const recording *rec, size_t cut, expectation *ex)
{
	char text[4200], *p, *end;
	unsigned a, last_begin = 0;
	bool resolved = true;
	size_t i, k, n;
	const op *o;
	int used;

	memset(ex, 0, sizeof(*ex));
	ex->max_append = rec->max_append;
	ex->begun = calloc(rec->max_append + 1, sizeof(bool));
	ex->acked_n = calloc(rec->max_append + 1, sizeof(size_t));
	ex->acked =
	        calloc((rec->max_append + 1) * EVENTS_MAX, sizeof(acked_event));
	if (!ex->begun || !ex->acked_n || !ex->acked)
		abort();
	for (i = 0; i < cut; i++) {
		o = &rec->ops[i];
		if (o->kind != PL_MARK)
			continue;
		n = o->len < sizeof(text) - 1 ? (size_t)o->len
		                              : sizeof(text) - 1;
		memcpy(text, o->data, n);
		text[n] = 0;
		if (strncmp(text, "begin ", 6) == 0) {
			last_begin = (unsigned)strtoul(text + 6, NULL, 10);
			ex->begun[last_begin] = true;
			resolved = false;
		} else if (strcmp(text, "failed") == 0) {
			resolved = true;
		} else if (strncmp(text, "ack ", 4) == 0) {
			a = (unsigned)strtoul(text + 4, &end, 10);
			n = (size_t)strtoul(end, &end, 10);
			if (a > rec->max_append || n == 0 || n > EVENTS_MAX)
				return -1;
			if (ex->acked_n[a] == 0)
				ex->nacked++;
			ex->acked_n[a] = n;
			p = end;
			for (k = 0; k < n; k++) {
				acked_event *ae =
				        &ex->acked[a * EVENTS_MAX + k];

				if (sscanf(p,
				           " %31s %" SCNu64 " %" SCNu64
				           " %36s%n",
				           ae->stream, &ae->version,
				           &ae->position, ae->id, &used) != 4)
					return -1;
				p += used;
			}
			resolved = true;
		}
	}
	ex->in_flight = resolved ? 0 : last_begin;
	return 0;
}

static void
expectation_free(expectation *ex)
{
	free(ex->begun);
	free(ex->acked_n);
	free(ex->acked);
}

/* The checker's state, in the child. */
typedef struct checker {
	const expectation *ex;
	bool verbose;
	unsigned long lost;  /* acked appends missing, whole or in part */
	unsigned long other; /* every other violation */
	acked_event *found;  /* [append * EVENTS_MAX + index] */
	unsigned *nfound;    /* [append * EVENTS_MAX + index] */
} checker;

__attribute__((format(printf, 3, 4))) static void
finding(checker *ck, bool is_loss, const char *fmt, ...)
{
	va_list ap;

	if (is_loss)
		ck->lost++;
	else
		ck->other++;
	if (!ck->verbose || ck->lost + ck->other > 12)
		return;
	fprintf(stderr, "  %s: ", is_loss ? "LOST" : "VIOLATION");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
verify_cb(void *ctx, const char *problem)
{
	finding(ctx, false, "verify: %s", problem);
}

/* Compare e with the content its token names. */
static bool
content_matches(const cairn_event *e, const pl_token *t)
{
	pl_content c;
	size_t i;

	pl_content_make(t->kind, t->append, t->index, t->count, &c);
	if (e->data_len != c.data_len ||
	    memcmp(e->data, c.data, c.data_len) != 0 ||
	    e->metadata_len != c.meta_len ||
	    (c.meta_len && memcmp(e->metadata, c.meta, c.meta_len) != 0) ||
	    strcmp(e->type, c.type) != 0 || e->ntags != c.ntags)
		return false;
	for (i = 0; i < c.ntags; i++)
		if (strcmp(e->tags[i], c.tags[i]) != 0)
			return false;
	return true;
}

static void
check_event(checker *ck, const cairn_event *e)
{
	const expectation *ex = ck->ex;
	acked_event *fe;
	pl_token t;
	size_t slot;

	if (pl_token_parse(e->data, e->data_len, &t) != 0 || t.append == 0 ||
	    t.append > ex->max_append || t.index >= EVENTS_MAX) {
		finding(ck, false,
		        "position %" PRIu64 " holds data no append "
		        "wrote",
		        e->position);
		return;
	}
	if (!content_matches(e, &t))
		finding(ck, false,
		        "position %" PRIu64 " (append %u event %u) "
		        "differs from what was appended",
		        e->position, t.append, t.index);
	if (t.kind == 'x' || t.kind == 'y')
		finding(ck, false,
		        "position %" PRIu64 " holds append %u, "
		        "which failed (%s)",
		        e->position, t.append,
		        t.kind == 'x' ? "conflict" : "condition");
	if (!ex->begun[t.append])
		finding(ck, false,
		        "position %" PRIu64 " holds append %u, "
		        "not begun before the cut",
		        e->position, t.append);
	slot = (size_t)t.append * EVENTS_MAX + t.index;
	if (ck->nfound[slot]++ > 0) {
		finding(ck, false, "append %u event %u is stored twice",
		        t.append, t.index);
		return;
	}
	fe = &ck->found[slot];
	snprintf(fe->stream, sizeof(fe->stream), "%s", e->stream);
	fe->version = e->version;
	fe->position = e->position;
	cairn_uuid_format(&e->id, fe->id);
	/* the low byte counts copies; above it, the append's event count
	 * as the token says, for check_appends() */
	ck->nfound[slot] |= t.count << 8;
}

/* Every append found whole, acked ones where their ack says. */
static void
check_appends(checker *ck)
{
	const expectation *ex = ck->ex;
	unsigned a, k, count, present;

	for (a = 1; a <= ex->max_append; a++) {
		const acked_event *want = &ex->acked[(size_t)a * EVENTS_MAX];
		const acked_event *got = &ck->found[(size_t)a * EVENTS_MAX];
		unsigned *nf = &ck->nfound[(size_t)a * EVENTS_MAX];

		count = 0;
		present = 0;
		for (k = 0; k < EVENTS_MAX; k++) {
			if (nf[k] & 0xff) {
				present++;
				if (count == 0)
					count = nf[k] >> 8;
			}
		}
		if (ex->acked_n[a]) {
			if (present < ex->acked_n[a]) {
				finding(ck, true,
				        "acknowledged append %u: %u of %zu "
				        "events present",
				        a, present, ex->acked_n[a]);
				continue;
			}
			for (k = 0; k < ex->acked_n[a]; k++)
				if (strcmp(want[k].stream, got[k].stream) ||
				    want[k].version != got[k].version ||
				    want[k].position != got[k].position ||
				    strcmp(want[k].id, got[k].id))
					finding(ck, false,
					        "append %u event %u: acked "
					        "%s v%" PRIu64 " @%" PRIu64
					        " %s, found %s v%" PRIu64
					        " @%" PRIu64 " %s",
					        a, k, want[k].stream,
					        want[k].version,
					        want[k].position, want[k].id,
					        got[k].stream, got[k].version,
					        got[k].position, got[k].id);
		}
		if (present == 0)
			continue;
		if (present != count)
			finding(ck, false,
			        "append %u is partly present (%u of "
			        "%u events)",
			        a, present, count);
		if (!ex->acked_n[a] && a != ex->in_flight)
			finding(ck, false,
			        "append %u is present, neither "
			        "acknowledged nor in flight",
			        a);
	}
}

/* The child's work: open the image, check it, append once more. */
static void
check_image(checker *ck, const char *uri)
{
	cairn_options opts;
	cairn_store *st = NULL;
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_append_result res;
	uint64_t problems = 0, want = 1, v;
	cairn_status rc;

	cairn_options_init(&opts);
	opts.durability =
	        strcmp(mode, "relaxed") == 0 ? CAIRN_RELAXED : CAIRN_DURABLE;
	rc = cairn_open(uri, &opts, &st);
	if (rc != CAIRN_OK) {
		finding(ck, false, "open: %s: %s", cairn_status_str(rc),
		        cairn_last_error());
		return;
	}
	rc = cairn_verify(st, verify_cb, ck, &problems);
	if (rc != CAIRN_OK)
		finding(ck, false, "verify: %s: %s", cairn_status_str(rc),
		        cairn_last_error());
	rc = cairn_read_all(st, NULL, &it);
	while (rc == CAIRN_OK && (rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		if (e->position != want)
			finding(ck, false,
			        "$all yields position %" PRIu64
			        " where %" PRIu64 " was due",
			        e->position, want);
		want = e->position + 1;
		check_event(ck, e);
		rc = CAIRN_OK;
	}
	cairn_iter_free(it);
	if (rc != CAIRN_DONE)
		finding(ck, false, "reading $all: %s: %s", cairn_status_str(rc),
		        cairn_last_error());
	check_appends(ck);
	ev.type = "After";
	ev.data = "{}";
	ev.data_len = 2;
	rc = cairn_append(st, "after-crash", CAIRN_NO_STREAM, &ev, 1, &res);
	if (rc != CAIRN_OK || res.first_position != want)
		finding(ck, false,
		        "the append after the crash: %s: %s "
		        "(position %" PRIu64 ", due %" PRIu64 ")",
		        cairn_status_str(rc), cairn_last_error(),
		        res.first_position, want);
	if (cairn_stream_version(st, "s-0", &v) != CAIRN_OK ||
	    cairn_append(st, "s-0", (int64_t)v, &ev, 1, &res) != CAIRN_OK)
		finding(ck, false, "an append to s-0 at its version: %s",
		        cairn_last_error());
	cairn_close(st);
}

/* Check the image in a fresh process.  *lost and *other receive the
 * counts.  Returns 0, or -1 when the child died. */
static int
check_in_child(const char *uri, const expectation *ex, unsigned long img,
               bool verbose, unsigned long *lost, unsigned long *other)
{
	unsigned long out[2] = {0, 0};
	int pfd[2], status;
	char boot[64];
	ssize_t n;
	pid_t pid;

	*lost = 0;
	*other = 1;
	if (pipe(pfd) != 0)
		return -1;
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		size_t slots = ((size_t)ex->max_append + 1) * EVENTS_MAX;
		checker ck;

		close(pfd[0]);
		alarm(CHECK_TIMEOUT_S);
		/* A power loss is a reboot: a boot id of its own. */
		snprintf(boot, sizeof(boot), "powerloss-%lu", img);
		setenv("CAIRN_TEST_BOOT_ID", boot, 1);
		memset(&ck, 0, sizeof(ck));
		ck.ex = ex;
		ck.verbose = verbose;
		ck.found = calloc(slots, sizeof(acked_event));
		ck.nfound = calloc(slots, sizeof(unsigned));
		if (!ck.found || !ck.nfound)
			_exit(3);
		check_image(&ck, uri);
		out[0] = ck.lost;
		out[1] = ck.other;
		if (write(pfd[1], out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(3);
		free(ck.found);
		free(ck.nfound);
		_exit(0);
	}
	close(pfd[1]);
	n = read(pfd[0], out, sizeof(out));
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(out) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		say("  VIOLATION: the checker process died (status 0x%x)",
		    status);
		return -1;
	}
	*lost = out[0];
	*other = out[1];
	return 0;
}

/* ------------------------------------------------------------------------
 * The test
 * ------------------------------------------------------------------------ */

/* Count one checked image's findings into the totals; print the first
 * few. */
static void
account(unsigned long lost, unsigned long other, bool creation,
        const char *what)
{
	if (!lost && !other)
		return;
	if (printed < FINDINGS_PRINTED)
		say("  ^ %s", what);
	printed++;
	t_violations += lost + other;
	t_lost_appends += lost;
	if (lost)
		t_lost_images++;
	if (other)
		t_other_images++;
	if (creation)
		t_creation_images++;
}

/*
 * A second power loss, during the recovery from the first.  The image at
 * img (not yet opened) is copied twice: one copy stays as it is (the
 * disk at the reboot), the other is opened by the worker under the
 * recorder (no appends: the open recovers, the close checkpoints), with
 * a boot id of its own.  Each of RECOVERY_IMAGES cuts of that log, mostly
 * inside the open, is built on the untouched copy and checked against
 * what was acknowledged before the first loss (ex): whatever recovery
 * did before the power went again must not lose or break any of it.
 */
static void
recovery_images(const char *img, const char *uri, const expectation *ex,
                uint64_t *rng, const char *what)
{
	char disk[1200], rdir[1200], rlog[1200], img2[1200], boot[64],
	        line[400];
	unsigned long lost, other;
	recording rec2;
	size_t cut2, span;
	unsigned j;

	memset(&rec2, 0, sizeof(rec2));
	snprintf(disk, sizeof(disk), "%s.disk", img);
	snprintf(rdir, sizeof(rdir), "%s.recovery", img);
	snprintf(rlog, sizeof(rlog), "%s.rlog", img);
	snprintf(img2, sizeof(img2), "%s.second", img);
	/* uri names img: each second image is moved there to be checked */
	snprintf(boot, sizeof(boot), "powerloss-recovery-%lu", t_images);
	if (rm_rf(disk) != 0 || mkdir_p(disk) != 0 ||
	    copy_dir(img, disk) != 0 || rm_rf(rdir) != 0 ||
	    mkdir_p(rdir) != 0 || copy_dir(img, rdir) != 0) {
		say("%s: could not copy the image", what);
		t_violations++;
		return;
	}
	if (record(rdir, rlog, 0, 0, boot) != 0 ||
	    load_log(&rec2, rlog) != 0) {
		snprintf(line, sizeof(line),
		         "%s: the recovery of the image failed", what);
		account(0, 1, false, line);
		t_recovery_violations++;
		recording_free(&rec2);
		return;
	}
	t_recoveries++;
	/* the open ends at the "opened" mark; cut mostly before it */
	span = rec2.opened ? rec2.opened : rec2.nops;
	for (j = 0; j < RECOVERY_IMAGES; j++) {
		cut2 = pl_rng_below(rng, 4) == 0
		               ? 1 + pl_rng_below(rng, (unsigned)rec2.nops)
		               : 1 + pl_rng_below(rng, (unsigned)span);
		if (build_image(&rec2, cut2, rng, img2, disk) != 0 ||
		    rm_rf(img) != 0 || rename(img2, img) != 0) {
			say("%s: could not build a second image", what);
			t_violations++;
			break;
		}
		t_images++;
		t_recovery_images++;
		lost = other = 0;
		if (check_in_child(uri, ex, t_images,
		                   printed < FINDINGS_PRINTED, &lost,
		                   &other) == 0)
			t_checked++;
		snprintf(line, sizeof(line),
		         "%s, then a second loss during its recovery at op "
		         "%zu of %zu",
		         what, cut2, rec2.nops);
		account(lost, other, false, line);
		t_recovery_violations += lost + other;
	}
	rm_rf(disk);
	rm_rf(rdir);
	unlink(rlog);
	recording_free(&rec2);
}

static int
run_recording(unsigned r)
{
	char base[1024], sdir[1100], log[1100], img[1100], uri[1200],
	        keep[1200], what[300];
	uint64_t rseed = seed + (uint64_t)r * 1000003u, rng;
	unsigned long lost, other, syncs = 0, swallowed = 0;
	bool dump = getenv("CAIRN_PL_DUMP") != NULL;
	recording rec;
	expectation ex;
	unsigned i;
	size_t cut, k;

	memset(&rec, 0, sizeof(rec));
	snprintf(base, sizeof(base), "%s/%s-%s/rec%u", workdir, backend, mode,
	         r);
	snprintf(sdir, sizeof(sdir), "%s/store", base);
	snprintf(log, sizeof(log), "%s/log", base);
	snprintf(img, sizeof(img), "%s/image", base);
	if (rm_rf(base) != 0 || mkdir_p(sdir) != 0)
		return -1;
	if (record(sdir, log, rseed, r % 2 ? nappends_long : nappends,
	           NULL) != 0 ||
	    load_log(&rec, log) != 0) {
		recording_free(&rec);
		return -1;
	}
	for (k = 0; k < rec.nops; k++) {
		const op *o = &rec.ops[k];

		if (o->kind == PL_SYNC || o->kind == PL_DIRSYNC)
			syncs++;
		if (o->kind == PL_NOSYNC)
			swallowed++;
		if (dump)
			say("op %zu: %s %s off %" PRIu64 " len %" PRIu64
			    " %.*s",
			    k, kind_name(o->kind),
			    o->file >= 0 ? rec.files[o->file].name : "-",
			    o->off, o->len,
			    o->kind == PL_MARK
			            ? (int)(o->len < 70 ? o->len : 70)
			            : 0,
			    (const char *)o->data);
	}
	t_ops += rec.nops;
	t_syncs += syncs;
	say("recording %u: seed %" PRIu64 ", %zu ops, %lu syncs, %lu swallowed "
	    "syncs, %zu acks, %zu files",
	    r, rseed, rec.nops, syncs, swallowed, rec.nacks, rec.nfiles);
	snprintf(uri, sizeof(uri), "%s:%s%s", backend, img,
	         strcmp(backend, "sqlite") == 0 ? "/db" : "");
	rng = rseed ^ 0x5bd1e995u;
	for (i = 0; i < images_per_rec; i++) {
		uint64_t irng;

		cut = choose_cut(&rec, i, &rng);
		irng = rseed * 31u + i;
		if (build_image(&rec, cut, &irng, img, NULL) != 0 ||
		    expectation_build(&rec, cut, &ex) != 0) {
			say("recording %u image %u: could not build", r, i);
			recording_free(&rec);
			return -1;
		}
		t_images++;
		snprintf(what, sizeof(what),
		         "recording %u (seed %" PRIu64 ") image %u: cut %zu of "
		         "%zu%s, %zu appends acked, in flight %u",
		         r, rseed, i, cut, rec.nops,
		         cut <= rec.opened ? " (during the store's creation)"
		                           : "",
		         ex.nacked, ex.in_flight);
		/* every RECOVERY_EVERY-th image of a durable test also gets a
		 * second power loss during its recovery (before the check
		 * below recovers it) */
		if (!expect_losses && i % RECOVERY_EVERY == RECOVERY_EVERY - 1)
			recovery_images(img, uri, &ex, &irng, what);
		if (!expect_losses && i % RECOVERY_EVERY == RECOVERY_EVERY - 1 &&
		    build_image(&rec, cut, &(uint64_t){rseed * 31u + i}, img,
		                NULL) != 0) {
			say("recording %u image %u: could not rebuild", r, i);
			recording_free(&rec);
			return -1;
		}
		lost = other = 0;
		if (check_in_child(uri, &ex, t_images,
		                   printed < FINDINGS_PRINTED, &lost,
		                   &other) == 0)
			t_checked++;
		if ((lost || other) && !expect_losses) {
			/* keep the first failing image to look at */
			snprintf(keep, sizeof(keep), "%s-fail-%u", img, i);
			if (access(keep, F_OK) != 0)
				rename(img, keep);
		}
		account(lost, other, cut <= rec.opened, what);
		expectation_free(&ex);
	}
	rm_rf(img);
	recording_free(&rec);
	return 0;
}

int
main(int argc, char **argv)
{
	double t0 = now();
	unsigned r;
	int ok;

	if (argc != 6 ||
	    (strcmp(argv[1], "lmdb") != 0 && strcmp(argv[1], "sqlite") != 0) ||
	    (strcmp(argv[2], "durable") != 0 &&
	     strcmp(argv[2], "nosync") != 0 &&
	     strcmp(argv[2], "relaxed") != 0)) {
		say("usage: powerloss_test lmdb|sqlite durable|nosync|relaxed "
		    "WORKDIR RECORDER.so WORKER");
		return 2;
	}
	backend = argv[1];
	mode = argv[2];
	workdir = argv[3];
	recorder_path = argv[4];
	worker_path = argv[5];
	expect_losses = strcmp(mode, "durable") != 0;
	seed = getenv("CAIRN_PL_SEED")
	               ? strtoull(getenv("CAIRN_PL_SEED"), NULL, 10)
	               : 20261123u;
	if (env_unsigned("CAIRN_SKIP_BIG", 0))
		images_per_rec = 60;
	images_per_rec = env_unsigned("CAIRN_PL_IMAGES", images_per_rec);
	nrecordings = env_unsigned("CAIRN_PL_RECORDINGS", nrecordings);
	nappends = env_unsigned("CAIRN_PL_APPENDS", nappends);
	nappends_long = env_unsigned("CAIRN_PL_APPENDS_LONG", nappends_long);
	strict_dirs = env_unsigned("CAIRN_PL_STRICT_DIRS", 0) != 0;
	say("powerloss %s %s: seed %" PRIu64 " (CAIRN_PL_SEED), %u recordings "
	    "of %u and %u appends by turns, %u images each",
	    backend, mode, seed, nrecordings, nappends, nappends_long,
	    images_per_rec);
	for (r = 0; r < nrecordings; r++)
		if (run_recording(r) != 0) {
			say("powerloss %s %s: FAILED to run recording %u",
			    backend, mode, r);
			return 1;
		}
	say("powerloss %s %s: recordings %u, ops logged %lu, syncs %lu, "
	    "images built %lu, images checked %lu, violations %lu "
	    "(images losing acked appends %lu, acked appends lost %lu, "
	    "images with other findings %lu, of which cut during the "
	    "store's creation %lu); second power losses during recovery: "
	    "%lu recoveries recorded, %lu images, %lu violations; %.1f s",
	    backend, mode, nrecordings, t_ops, t_syncs, t_images, t_checked,
	    t_violations, t_lost_images, t_lost_appends, t_other_images,
	    t_creation_images, t_recoveries, t_recovery_images,
	    t_recovery_violations, now() - t0);
	if (expect_losses) {
		ok = t_lost_images > 0;
		say("%s: %s", ok ? "PASS" : "FAIL",
		    ok ? "without durable syncs the checker found lost "
		         "acknowledged appends"
		       : "without durable syncs no image lost an "
		         "acknowledged append: the harness cannot see a loss");
	} else {
		ok = t_violations == 0 && t_checked == t_images &&
		     (t_images >= MIN_IMAGES ||
		      getenv("CAIRN_PL_IMAGES") != NULL ||
		      env_unsigned("CAIRN_SKIP_BIG", 0) ||
		      getenv("CAIRN_PL_RECORDINGS") != NULL);
		say("%s", ok ? "PASS" : "FAIL");
	}
	return ok ? 0 : 1;
}
