/*
 * replay_main.c -- run a fuzz target over its seed corpus, without
 * libFuzzer, so that gcc builds test every seed as an ordinary test.
 *
 * Usage: fuzz_<target> PATH...   (each PATH a file or a directory whose
 * regular files are all inputs).  Files are run in name order so that a
 * failure is reproducible.  Exits 0 when every input ran; a failed check
 * aborts.  An empty corpus is an error: it means the test is wired wrong.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* The largest seed we accept; seeds are meant to be small. */
#define REPLAY_FILE_MAX (16u * 1024u * 1024u)

/* Read the whole file at path into a fresh buffer (exactly its size, so
 * that an over-read is caught by ASan).  Returns 0 or -1. */
static int
read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f;
	uint8_t *buf = NULL;
	long size;

	errno = 0;
	f = fopen(path, "rb");
	if (f == NULL)
		goto fail;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    (unsigned long)size > REPLAY_FILE_MAX || fseek(f, 0, SEEK_SET) != 0)
		goto fail;
	buf = malloc(size > 0 ? (size_t)size : 1);
	if (buf == NULL ||
	    (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size))
		goto fail;
	fclose(f);
	*out = buf;
	*len = (size_t)size;
	return 0;
fail:
	fprintf(stderr, "replay: cannot read %s: %s\n", path,
	        errno ? strerror(errno) : "too large or short read");
	free(buf);
	if (f)
		fclose(f);
	return -1;
}

static int
run_file(const char *path)
{
	uint8_t *buf;
	size_t len;

	if (read_file(path, &buf, &len) != 0)
		return -1;
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of dir, in name order; adds to *count. */
static int
run_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **bigger = realloc(names, ncap * sizeof(*names));

			FUZZ_CHECK(bigger != NULL);
			names = bigger;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		FUZZ_CHECK(names[n] != NULL);
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), by_name);
	for (i = 0; i < n; i++) {
		size_t plen = strlen(dir) + 1 + strlen(names[i]) + 1;
		char *path = malloc(plen);
		struct stat sb;

		FUZZ_CHECK(path != NULL);
		snprintf(path, plen, "%s/%s", dir, names[i]);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (run_file(path) != 0)
				rc = -1;
			else
				(*count)++;
		}
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	size_t count = 0;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		struct stat sb;

		if (stat(argv[i], &sb) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			        strerror(errno));
			rc = 1;
		} else if (S_ISDIR(sb.st_mode)) {
			if (run_dir(argv[i], &count) != 0)
				rc = 1;
		} else if (run_file(argv[i]) != 0) {
			rc = 1;
		} else {
			count++;
		}
	}
	if (count == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	fprintf(stderr, "replay: %zu inputs, all passed\n", count);
	return rc;
}
