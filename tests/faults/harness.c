/*
 * harness.c -- see faults.h.
 */
#include "faults.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *faults_base_dir;

void
faults_report(const char *file, int line, const char *what)
{
	const char *err = cairn_last_error();

	fprintf(stderr, "[%ld] %s:%d: check failed: %s (last error: %s)\n",
	        (long)getpid(), file, line, what, err ? err : "none");
}

static void
remove_tree(const char *path)
{
	char child[FAULTS_PATH_MAX + 256];
	struct dirent *de;
	struct stat sb;
	DIR *d;

	if (lstat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if ((size_t)snprintf(child, sizeof(child), "%s/%s",
			                     path, de->d_name) < sizeof(child))
				remove_tree(child);
		}
		closedir(d);
	}
	rmdir(path);
}

int
faults_store_make(faults_store *fs, const char *name)
{
	int n;

	if (mkdir(faults_base_dir, 0755) != 0 && errno != EEXIST)
		return -1;
	n = snprintf(fs->dir, sizeof(fs->dir), "%s/%s-%ld", faults_base_dir,
	             name, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(fs->dir))
		return -1;
	n = snprintf(fs->uri, sizeof(fs->uri), "lmdb:%s", fs->dir);
	if (n < 0 || (size_t)n >= sizeof(fs->uri))
		return -1;
	remove_tree(fs->dir);
	return 0;
}

void
faults_store_remove(const faults_store *fs)
{
	const char *keep = getenv("CAIRN_FAULTS_KEEP");

	if (keep == NULL || strcmp(keep, "1") != 0)
		remove_tree(fs->dir);
}

int
faults_run_child(int (*fn)(void *), void *arg, const char *boot_id)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* cmocka's handlers would resume the runner in the child */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		if (boot_id != NULL)
			setenv("CAIRN_TEST_BOOT_ID", boot_id, 1);
		status = fn(arg);
		fflush(stdout);
		fflush(stderr);
		_exit(status);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status)) {
		fprintf(stderr, "child %ld ended by signal %d\n", (long)pid,
		        WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return -1;
	}
	return WEXITSTATUS(status);
}

void *
faults_shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void
faults_shared_free(void *p, size_t len)
{
	if (p != NULL)
		munmap(p, len);
}

cairn_status
faults_open(const char *uri, cairn_durability durability, int read_only,
            size_t map_size, cairn_store **out)
{
	cairn_options o;

	cairn_options_init(&o);
	o.durability = durability;
	o.read_only = read_only;
	o.initial_map_size = map_size;
	return cairn_open(uri, &o, out);
}

cairn_status
faults_append(cairn_store *st, const char *stream, const char *type, size_t len)
{
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	cairn_append_result res;
	cairn_status rc;
	char *data;

	data = malloc(len ? len : 1);
	if (data == NULL)
		return CAIRN_NOMEM;
	memset(data, 'x', len);
	ev.type = type;
	ev.data = data;
	ev.data_len = len;
	rc = cairn_append(st, stream, CAIRN_ANY, &ev, 1, &res);
	free(data);
	return rc;
}

long
faults_count_type(cairn_store *st, const char *type)
{
	const cairn_event *e;
	cairn_status rc;
	cairn_iter *it;
	long n = 0;

	if (cairn_read_all(st, NULL, &it) != CAIRN_OK)
		return -1;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
		if (strcmp(e->type, type) == 0)
			n++;
	cairn_iter_free(it);
	return rc == CAIRN_DONE ? n : -1;
}

uint64_t
faults_version(cairn_store *st, const char *stream)
{
	uint64_t v;

	if (cairn_stream_version(st, stream, &v) != CAIRN_OK)
		return UINT64_MAX;
	return v;
}

static void
print_problem(void *ctx, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "verify: %s\n", problem);
}

uint64_t
faults_problems(cairn_store *st)
{
	uint64_t n = 0;

	if (cairn_verify(st, print_problem, NULL, &n) != CAIRN_OK)
		return UINT64_MAX;
	return n;
}

double
faults_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
