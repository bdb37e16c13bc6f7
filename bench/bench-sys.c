/*
 * bench-sys.c -- the host side of cairn-bench: clocks, the machine report,
 * process memory from /proc, the disk baseline, directory helpers and the
 * postgres store URIs.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define KIB 1024u
#define MIB (1024u * 1024u)

/* Disk baseline parameters (README.md, "Disk baseline"). */
#define DISK_PREALLOC_BYTES (64u * MIB)
#define DISK_SYNC_ITERATIONS 2000u
#define DISK_SYNC_BLOCK (4u * KIB)
#define DISK_SEQ_BYTES (256u * MIB)
#define DISK_SEQ_CHUNK MIB
/* A sync loop stops early past this many seconds (a very slow disk would
 * otherwise eat the whole run); the iterations done are reported. */
#define DISK_LOOP_MAX_SECONDS 30.0

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double
bench_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int
bench_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path), i;

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		buf[i] = path[i];
	}
	return 0;
}

int
bench_rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char child[PATH_MAX];
	int rc = 0;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		int n;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n = snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(child)) {
			errno = ENAMETOOLONG;
			rc = -1;
			break;
		}
		if (bench_rm_rf(child) != 0) {
			rc = -1;
			break;
		}
	}
	closedir(d);
	if (rc == 0)
		rc = rmdir(path);
	return rc;
}

/* Read a small text file into buf (NUL-terminated, trailing newline cut).
 * Returns 0, or -1 when it cannot be read. */
static int
read_small_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/* The value of the "key:" line of a /proc text (in kB for meminfo and
 * status), or -1. */
static long
proc_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return strtol(p + klen + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

/* Copy the value of the first "key\t: value" line of /proc/cpuinfo. */
static void
cpu_model(char *out, size_t size)
{
	static char text[65536];
	const char *p, *colon, *eol;
	size_t len;

	snprintf(out, size, "unknown");
	if (read_small_file("/proc/cpuinfo", text, sizeof(text)) != 0)
		return;
	p = strstr(text, "model name");
	if (p == NULL)
		return;
	colon = strchr(p, ':');
	if (colon == NULL)
		return;
	colon++;
	while (*colon == ' ' || *colon == '\t')
		colon++;
	eol = strchr(colon, '\n');
	len = eol != NULL ? (size_t)(eol - colon) : strlen(colon);
	if (len >= size)
		len = size - 1;
	memcpy(out, colon, len);
	out[len] = '\0';
}

/* Print what /sys says about the block device named by a mount's source
 * (/dev/vda, /dev/nvme0n1p2): rotational and the write cache mode, which
 * decide what fdatasync costs. */
static void
print_block_device(const char *dev)
{
	const char *name = strrchr(dev, '/');
	char path[PATH_MAX], rot[32], wc[64];
	static const char *const dirs[] = {"/sys/class/block/%s/queue/%s",
	                                   "/sys/class/block/%s/../queue/%s"};
	size_t i;

	if (strncmp(dev, "/dev/", 5) != 0 || name == NULL)
		return;
	name++;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), dirs[i], name, "rotational");
		if (read_small_file(path, rot, sizeof(rot)) != 0)
			continue;
		snprintf(path, sizeof(path), dirs[i], name, "write_cache");
		if (read_small_file(path, wc, sizeof(wc)) != 0)
			snprintf(wc, sizeof(wc), "unknown");
		printf("# device:     %s rotational=%s write_cache=%s\n", name,
		       rot, wc);
		return;
	}
}

/* Print the mount that holds dir (longest mount point that prefixes its
 * real path) and what statfs says about it. */
static void
print_filesystem(const char *dir)
{
	char real[PATH_MAX], best_dir[PATH_MAX] = "", best_dev[PATH_MAX] = "",
	                     best_type[64] = "", best_opts[512] = "";
	size_t best_len = 0;
	struct mntent *me;
	struct statfs sf;
	FILE *f;

	if (realpath(dir, real) == NULL) {
		printf("# store dir:  %s (realpath: %s)\n", dir,
		       strerror(errno));
		return;
	}
	printf("# store dir:  %s\n", real);
	f = setmntent("/proc/self/mounts", "r");
	while (f != NULL && (me = getmntent(f)) != NULL) {
		size_t ml = strlen(me->mnt_dir);
		int under = strncmp(real, me->mnt_dir, ml) == 0 &&
		            (real[ml] == '/' || real[ml] == '\0' || ml == 1);

		if (!under || ml < best_len)
			continue;
		best_len = ml;
		snprintf(best_dir, sizeof(best_dir), "%s", me->mnt_dir);
		snprintf(best_dev, sizeof(best_dev), "%s", me->mnt_fsname);
		snprintf(best_type, sizeof(best_type), "%s", me->mnt_type);
		snprintf(best_opts, sizeof(best_opts), "%s", me->mnt_opts);
	}
	if (f != NULL)
		endmntent(f);
	if (best_len > 0) {
		printf("# filesystem: %s on %s type %s (%s)\n", best_dev,
		       best_dir, best_type, best_opts);
		print_block_device(best_dev);
		if (strcmp(best_type, "tmpfs") == 0 ||
		    strcmp(best_type, "ramfs") == 0)
			printf("# WARNING:    the store dir is in RAM: "
			       "fdatasync costs nothing there, durable "
			       "figures are not disk figures\n");
	}
	if (statfs(real, &sf) == 0)
		printf("# statfs:     f_type=0x%lx bsize=%ld free=%.1f GiB\n",
		       (unsigned long)sf.f_type, (long)sf.f_bsize,
		       (double)sf.f_bavail * (double)sf.f_bsize /
		               (1024.0 * 1024.0 * 1024.0));
}

void
bench_print_machine(const char *dir)
{
	static char meminfo[16384];
	char model[256], clocksrc[64];
	struct utsname un;
	long mem_kib = -1;

	cpu_model(model, sizeof(model));
	if (read_small_file("/proc/meminfo", meminfo, sizeof(meminfo)) == 0)
		mem_kib = proc_field(meminfo, "MemTotal");
	if (read_small_file("/sys/devices/system/clocksource/clocksource0/"
	                    "current_clocksource",
	                    clocksrc, sizeof(clocksrc)) != 0)
		snprintf(clocksrc, sizeof(clocksrc), "unknown");
	printf("# machine:    nproc=%ld MemTotal=%.1f GiB cpu=\"%s\"\n",
	       sysconf(_SC_NPROCESSORS_ONLN),
	       mem_kib < 0 ? 0.0 : (double)mem_kib / (1024.0 * 1024.0), model);
	if (uname(&un) == 0)
		printf("# kernel:     %s %s %s clocksource=%s\n", un.sysname,
		       un.release, un.machine, clocksrc);
	print_filesystem(dir);
}

int
bench_mem_read(struct bench_mem *m)
{
	char text[8192];
	ssize_t n;
	int fd;

	m->rss_anon_kib = m->rss_file_kib = m->vm_rss_kib = m->vm_hwm_kib = -1;
	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	m->rss_anon_kib = proc_field(text, "RssAnon");
	m->rss_file_kib = proc_field(text, "RssFile");
	m->vm_rss_kib = proc_field(text, "VmRSS");
	m->vm_hwm_kib = proc_field(text, "VmHWM");
	return 0;
}

int
bench_hwm_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, "5", 1);
	close(fd);
	return n == 1 ? 0 : -1;
}

/* pwrite all of len bytes at off.  Returns 0, or -1 with errno set. */
static int
pwrite_all(int fd, const unsigned char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int
disk_fail(const char *what, const char *path)
{
	fprintf(stderr, "disk baseline: %s %s: %s\n", what, path,
	        strerror(errno));
	return -1;
}

/* Time up to DISK_SYNC_ITERATIONS of (4 KiB pwrite at successive offsets
 * + fdatasync) on fd; stores the rate and the count done. */
static int
sync_loop(int fd, const char *path, unsigned char *block, double *rate,
          unsigned *done)
{
	double t0 = bench_now(), t = t0;
	unsigned i;

	for (i = 0; i < DISK_SYNC_ITERATIONS; i++) {
		memcpy(block, &i, sizeof(i)); /* every block differs */
		if (pwrite_all(fd, block, DISK_SYNC_BLOCK,
		               (off_t)i * DISK_SYNC_BLOCK) != 0)
			return disk_fail("pwrite", path);
		if (fdatasync(fd) != 0)
			return disk_fail("fdatasync", path);
		t = bench_now();
		if (t - t0 > DISK_LOOP_MAX_SECONDS) {
			i++;
			break;
		}
	}
	*done = i;
	*rate = (double)i / (t - t0);
	return 0;
}

/* (a) the sync loop over blocks that are allocated and written already,
 * so no fdatasync has to commit a metadata change. */
static int
disk_prealloc(const char *dir, unsigned char *chunk, struct bench_disk *d)
{
	char path[PATH_MAX];
	size_t off;
	int fd, err, rc = -1;

	snprintf(path, sizeof(path), "%s/disk-prealloc.tmp", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return disk_fail("open", path);
	err = posix_fallocate(fd, 0, DISK_PREALLOC_BYTES);
	if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
		errno = err;
		disk_fail("posix_fallocate", path);
		goto done;
	}
	for (off = 0; off < DISK_PREALLOC_BYTES; off += DISK_SEQ_CHUNK)
		if (pwrite_all(fd, chunk, DISK_SEQ_CHUNK, (off_t)off) != 0) {
			disk_fail("pwrite", path);
			goto done;
		}
	if (fdatasync(fd) != 0) {
		disk_fail("fdatasync", path);
		goto done;
	}
	rc = sync_loop(fd, path, chunk, &d->prealloc_syncs_per_s,
	               &d->prealloc_n);
done:
	close(fd);
	unlink(path);
	return rc;
}

/* (b) the sync loop appending to a file that grows with each write, so
 * every fdatasync also commits the new size and blocks. */
static int
disk_grow(const char *dir, unsigned char *chunk, struct bench_disk *d)
{
	char path[PATH_MAX];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/disk-grow.tmp", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return disk_fail("open", path);
	rc = sync_loop(fd, path, chunk, &d->grow_syncs_per_s, &d->grow_n);
	close(fd);
	unlink(path);
	return rc;
}

/* (c) sequential bandwidth: 256 MiB in 1 MiB writes, then one fdatasync,
 * all timed. */
static int
disk_sequential(const char *dir, unsigned char *chunk, struct bench_disk *d)
{
	char path[PATH_MAX];
	size_t off;
	double t0, t1;
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/disk-seq.tmp", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return disk_fail("open", path);
	t0 = bench_now();
	for (off = 0; off < DISK_SEQ_BYTES; off += DISK_SEQ_CHUNK) {
		chunk[0] = (unsigned char)(off >> 20);
		if (pwrite_all(fd, chunk, DISK_SEQ_CHUNK, (off_t)off) != 0) {
			disk_fail("pwrite", path);
			goto done;
		}
	}
	if (fdatasync(fd) != 0) {
		disk_fail("fdatasync", path);
		goto done;
	}
	t1 = bench_now();
	d->seq_mib_per_s = (double)(DISK_SEQ_BYTES / MIB) / (t1 - t0);
	rc = 0;
done:
	close(fd);
	unlink(path);
	return rc;
}

/* A 1 MiB buffer of non-zero bytes to write, or NULL. */
static unsigned char *
disk_chunk(void)
{
	unsigned char *chunk = malloc(DISK_SEQ_CHUNK);
	size_t i;

	if (chunk == NULL) {
		fprintf(stderr, "disk baseline: out of memory\n");
		return NULL;
	}
	for (i = 0; i < DISK_SEQ_CHUNK; i++)
		chunk[i] = (unsigned char)(i * 31u + 7u);
	return chunk;
}

int
bench_disk_prealloc(const char *dir, struct bench_disk *d)
{
	unsigned char *chunk = disk_chunk();
	int rc;

	if (chunk == NULL)
		return -1;
	rc = disk_prealloc(dir, chunk, d);
	free(chunk);
	return rc;
}

int
bench_disk_measure(const char *dir, struct bench_disk *d)
{
	unsigned char *chunk;
	int rc;

	memset(d, 0, sizeof(*d));
	chunk = disk_chunk();
	if (chunk == NULL)
		return -1;
	rc = disk_prealloc(dir, chunk, d);
	if (rc == 0)
		rc = disk_grow(dir, chunk, d);
	if (rc == 0)
		rc = disk_sequential(dir, chunk, d);
	free(chunk);
	return rc;
}

/* ------------------------------------------------------------------------
 * postgres store URIs (bench.h)
 * ------------------------------------------------------------------------ */

#define BENCH_PG_NAMES 32

int
bench_pg_store_uri(const char *name, int fresh, char *uri, size_t size)
{
	static char names[BENCH_PG_NAMES][32];
	static unsigned gens[BENCH_PG_NAMES];
	const char *base = getenv("CAIRN_PG_URI");
	const char *slash = strrchr(name, '/');
	int i, n, url;

	name = slash ? slash + 1 : name;
	if (base == NULL || base[0] == '\0' || name[0] == '\0' ||
	    strlen(name) >= sizeof(names[0]))
		return -1;
	for (i = 0; i < BENCH_PG_NAMES && names[i][0]; i++)
		if (strcmp(names[i], name) == 0)
			break;
	if (i == BENCH_PG_NAMES)
		return -1;
	if (names[i][0] == '\0')
		snprintf(names[i], sizeof(names[i]), "%s", name);
	if (fresh || gens[i] == 0)
		gens[i]++;
	/* postgres://... and postgresql://... take a query; anything else
	 * after the scheme is libpq's keyword=value list */
	url = strncmp(base, "postgres://", 11) == 0 ||
	      strncmp(base, "postgresql://", 13) == 0;
	n = snprintf(uri, size, "%s%sschema=bench_%ld_%s_%u", base,
	             !url ? (base[strlen(base) - 1] == ':' ? "" : " ")
	             : strchr(base, '?') ? "&"
	                                 : "?",
	             (long)getpid(), name, gens[i]);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
