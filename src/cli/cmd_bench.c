/*
 * cmd_bench.c -- `cairn bench [ARGS]`: run the cairn-bench program.
 *
 * The benchmark is its own program (bench/); this verb only finds it:
 * first next to the cairn binary (a build tree or an install prefix keep
 * them together), then on PATH.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define BENCH_PROGRAM "cairn-bench"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

static const char bench_help[] =
        "Usage: cairn bench [ARGS...]\n"
        "\n"
        "Run the " BENCH_PROGRAM " program, found next to this cairn binary\n"
        "or else on PATH, with ARGS passed through unchanged (the benchmark\n"
        "makes its own stores; cairn's --store does not apply).  For the\n"
        "benchmark's own options: cairn bench -- --help\n";

/* dirname(/proc/self/exe)/cairn-bench into buf; -1 when it cannot be
 * known (no /proc, path too long). */
static int
sibling_path(char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	int len;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	len = snprintf(buf, size, "%s/%s", exe, BENCH_PROGRAM);
	return len > 0 && (size_t)len < size ? 0 : -1;
}

int
cli_cmd_bench(struct cli *cli, int argc, char **argv)
{
	static char name[] = BENCH_PROGRAM;
	char path[PATH_MAX];
	char **args;
	int i, first = 1;

	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return cli_print(cli, bench_help);
	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (args == NULL)
		return cli_error(cli, "out of memory");
	args[0] = name;
	for (i = first; i < argc; i++)
		args[i - first + 1] = argv[i];
	if (sibling_path(path, sizeof(path)) == 0 && access(path, X_OK) == 0)
		execv(path, args);
	execvp(BENCH_PROGRAM, args);
	free(args);
	return cli_error(cli,
	                 "cannot run %s (looked next to cairn and on "
	                 "PATH): %s",
	                 BENCH_PROGRAM, strerror(errno));
}
