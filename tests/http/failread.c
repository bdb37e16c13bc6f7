/*
 * failread.c -- an LD_PRELOAD shim for the cairnd tests: while the file
 * named by $CAIRND_FAILREAD_FLAG exists, cairn_read_all() fails with
 * CAIRN_IO.  It lets a test see what cairnd answers when a read fails
 * right after an append was committed (test_append_versions.sh).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairn.h>

typedef cairn_status (*read_all_fn)(cairn_store *, const cairn_read_opts *,
                                    cairn_iter **);

cairn_status
cairn_read_all(cairn_store *st, const cairn_read_opts *ro, cairn_iter **out)
{
	static read_all_fn next;
	const char *flag = getenv("CAIRND_FAILREAD_FLAG");

	if (flag != NULL && access(flag, F_OK) == 0)
		return CAIRN_IO;
	if (next == NULL) {
		void *sym = dlsym(RTLD_NEXT, "cairn_read_all");

		memcpy(&next, &sym, sizeof(next)); /* POSIX: a function */
	}
	return next(st, ro, out);
}
