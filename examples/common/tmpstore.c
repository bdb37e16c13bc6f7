/*
 * tmpstore.c -- a store in a fresh temporary directory, for the example
 * tests.
 */
#include "tmpstore.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* rm -rf of a directory the test made itself, without following
 * symlinks. */
static void
remove_tree(const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			char child[TMPSTORE_PATH_MAX + 256];
			int n;

			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			n = snprintf(child, sizeof child, "%s/%s", path,
			             de->d_name);
			if (n > 0 && (size_t)n < sizeof child)
				remove_tree(child);
		}
		closedir(d);
	}
	rmdir(path);
}

int
tmpstore_open(struct tmpstore *ts, const char *backend, const char *label)
{
	const char *tmp = getenv("TMPDIR");
	cairn_status rc;
	int n;

	memset(ts, 0, sizeof *ts);
	if (strcmp(backend, "memory") == 0) {
		snprintf(ts->uri, sizeof ts->uri, "memory:");
	} else {
		n = snprintf(ts->dir, sizeof ts->dir, "%s/%s.XXXXXX",
		             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp",
		             label);
		if (n < 0 || (size_t)n >= sizeof ts->dir ||
		    mkdtemp(ts->dir) == NULL) {
			perror("mkdtemp");
			return -1;
		}
		snprintf(ts->uri, sizeof ts->uri, "%s:%s", backend, ts->dir);
	}
	rc = cairn_open(ts->uri, NULL, &ts->st);
	if (rc != CAIRN_OK) {
		fprintf(stderr, "cairn_open(%s): %s: %s\n", ts->uri,
		        cairn_status_str(rc), cairn_last_error());
		tmpstore_close(ts);
		return -1;
	}
	return 0;
}

void
tmpstore_close(struct tmpstore *ts)
{
	cairn_close(ts->st);
	ts->st = NULL;
	if (ts->dir[0] != '\0')
		remove_tree(ts->dir);
	ts->dir[0] = '\0';
}
