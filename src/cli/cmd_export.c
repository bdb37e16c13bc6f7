/*
 * cmd_export.c -- `cairn export [FILE]`: every event as NDJSON.
 *
 * The format is the one of `cairn read` (see event_json.c), which import
 * takes back.  The export is the store as of its start: events committed
 * while it runs are left for the next one, so that two exports of a
 * quiet store are the same file.
 *
 * A FILE is written under a temporary name and renamed into place once
 * complete and synced: a failed or interrupted export never leaves a
 * truncated file that looks like a good one, nor destroys the previous.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char export_help[] =
        "Usage: cairn export [FILE] [OPTIONS]\n"
        "\n"
        "Write every event of the store, in global order, as NDJSON (the\n"
        "format of 'cairn read') to FILE, or to standard output when FILE is\n"
        "absent or \"-\".  'cairn import' reads it back.  Events appended\n"
        "while the export runs are not included.  A regular FILE is replaced\n"
        "only when the export is complete.  Shows progress when stderr is a\n"
        "terminal.\n"
        "\n"
        "Options:\n"
        "      --store URI    the store (see 'cairn --help')\n"
        "  -h, --help         this text\n";

/* Where the lines go: stdout, FILE itself (a device, a FIFO or a
 * symlink, which must not be renamed over), or a temporary file renamed
 * to FILE. */
struct target {
	const char *file; /* NULL: stdout */
	char *tmp;        /* NULL unless writing to a temporary file */
	int fd;
};

static int
open_target(struct cli *cli, struct target *t)
{
	struct stat sb;
	size_t n;
	mode_t mask;

	if (t->file == NULL) {
		t->fd = STDOUT_FILENO;
		return 0;
	}
	/* A device, a FIFO or a symlink is written through, not replaced. */
	if (lstat(t->file, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		t->fd = open(t->file, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (t->fd < 0)
			return cli_error(cli, "%s: %s", t->file,
			                 strerror(errno));
		return 0;
	}
	n = strlen(t->file) + sizeof(".tmp-XXXXXX");
	t->tmp = malloc(n);
	if (t->tmp == NULL)
		return cli_error(cli, "out of memory");
	snprintf(t->tmp, n, "%s.tmp-XXXXXX", t->file);
	t->fd = mkstemp(t->tmp);
	if (t->fd < 0) {
		int err = errno;

		free(t->tmp);
		t->tmp = NULL;
		return cli_error(cli, "%s: %s", t->file, strerror(err));
	}
	/* mkstemp makes the file 0600; give it the mode a plain create
	 * would have. */
	mask = umask(0);
	umask(mask);
	if (fchmod(t->fd, 0666 & ~mask) != 0)
		return cli_error(cli, "%s: %s", t->tmp, strerror(errno));
	return 0;
}

/* Make the written file the result.  Returns the exit status. */
static int
commit_target(struct cli *cli, struct target *t)
{
	if (t->tmp == NULL) {
		if (t->file && close(t->fd) != 0) {
			t->fd = -1;
			return cli_error(cli, "%s: %s", t->file,
			                 strerror(errno));
		}
		t->fd = -1;
		return CLI_EXIT_OK;
	}
	if (fsync(t->fd) != 0 || close(t->fd) != 0) {
		t->fd = -1;
		return cli_error(cli, "%s: %s", t->file, strerror(errno));
	}
	t->fd = -1;
	if (rename(t->tmp, t->file) != 0)
		return cli_error(cli, "%s: %s", t->file, strerror(errno));
	free(t->tmp);
	t->tmp = NULL;
	return CLI_EXIT_OK;
}

/* After a failure: remove the partial temporary file. */
static void
abandon_target(struct target *t)
{
	if (t->file && t->fd >= 0)
		close(t->fd);
	if (t->tmp) {
		unlink(t->tmp);
		free(t->tmp);
	}
}

/* Write positions 1..head; returns the exit status. */
static int
pump(struct cli *cli, cairn_store *st, uint64_t head, struct cli_out *out,
     struct cli_progress *prog)
{
	const cairn_event *e;
	cairn_iter *it = NULL;
	cairn_status rc;
	uint64_t n = 0;
	int status = CLI_EXIT_OK;

	rc = cairn_read_all(st, NULL, &it);
	if (rc != CAIRN_OK)
		return cli_status(cli, rc, NULL, 0);
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		if (e->position > head)
			break;
		if (cli_event_write(out, e) != 0) {
			status = cli_out_fail(cli, out);
			goto done;
		}
		n++;
		cli_progress_update(prog, e->position, n);
	}
	if (rc != CAIRN_ROW && rc != CAIRN_DONE) {
		status = cli_status(cli, rc, NULL, 0);
		goto done;
	}
	if (cli_out_flush(out) != 0) {
		status = cli_out_fail(cli, out);
		goto done;
	}
	cli_progress_end(prog, head, n);
done:
	cairn_iter_free(it);
	return status;
}

int
cli_cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
	                                         {NULL, 0, NULL, 0}};
	struct target t = {NULL, NULL, -1};
	struct cli_progress prog;
	struct cli_out *out = NULL;
	cairn_store *st = NULL;
	cairn_status rc;
	uint64_t head = 0;
	int c, status;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			cli->store_uri = optarg;
			cli->store_given = 1;
			break;
		case 'h':
			return cli_print(cli, export_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (argc - optind > 1)
		return cli_usage(cli, "too many arguments: '%s'",
		                 argv[optind + 1]);
	if (argc - optind == 1 && strcmp(argv[optind], "-") != 0)
		t.file = argv[optind];

	out = malloc(sizeof(*out));
	if (out == NULL)
		return cli_error(cli, "out of memory");
	status = cli_open(cli, 1, &st);
	if (status != 0)
		goto done;
	rc = cairn_head(st, &head);
	if (rc != CAIRN_OK) {
		status = cli_status(cli, rc, NULL, 0);
		goto done;
	}
	status = open_target(cli, &t);
	if (status != 0)
		goto done;
	cli_out_init(out, t.fd);
	cli_progress_start(&prog, "export", head);
	/* Lines going to the very terminal the bar is drawn on would be
	 * garbled by it. */
	if (t.file == NULL && isatty(STDOUT_FILENO))
		prog.enabled = 0;
	status = pump(cli, st, head, out, &prog);
	if (status == CLI_EXIT_OK)
		status = commit_target(cli, &t);
done:
	if (status != CLI_EXIT_OK)
		abandon_target(&t);
	cairn_close(st);
	free(out);
	return status;
}
