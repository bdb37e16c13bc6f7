/*
 * cmd_import.c -- `cairn import [FILE]`: append the events of an export.
 *
 * Each event goes to its stream with its original id and with expected
 * version = its version - 1.  So:
 * - importing the same file again changes nothing (the appends are
 *   idempotent: same ids, same streams, same versions);
 * - importing into a store whose streams diverge from the file stops at
 *   the first event that does not fit, as a conflict (exit 3);
 * - an import stopped half-way (an error, a crash, a bad line) is resumed
 *   by running it again: what is there already is recognised and skipped.
 *
 * Consecutive lines are committed together, as one atomic multi-stream
 * append (one commit, one sync) whose writes are the runs of each stream,
 * bounded in events and bytes so that memory stays small whatever the
 * file.  An export of many short streams, interleaved, thus imports as
 * fast as one long stream.
 *
 * The file is read once, as a stream: a bad line stops the import there.
 * Everything before that line is imported (committed before the error is
 * reported), nothing from that line on; fix the line and run the import
 * again.
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

/* Events in one append.  Big enough that the commit and its sync are
 * shared widely, small enough that a conflict report stays readable. */
#define IMPORT_BATCH_EVENTS 1000
/* Payload bytes held for one append (one event may be bigger alone). */
#define IMPORT_BATCH_BYTES (16u * 1024u * 1024u)
/* The longest line accepted: a largest event (16 MiB of data and
 * metadata) as base64 is about 22 MiB; anything far beyond is not an
 * export, and must not make us allocate without end. */
#define IMPORT_LINE_MAX (64u * 1024u * 1024u)
/* Bytes per read(2) of the input. */
#define IMPORT_READ_CHUNK (64u * 1024u)

static const char import_help[] =
        "Usage: cairn import [FILE] [OPTIONS]\n"
        "\n"
        "Append the events of an NDJSON export (the format of 'cairn read'\n"
        "and 'cairn export') read from FILE, or from standard input when FILE\n"
        "is absent or \"-\".  Each event keeps its stream, version, id, type,\n"
        "data, metadata and tags; position and time are assigned by the\n"
        "store.  Importing the same file twice changes nothing; an event that\n"
        "does not fit the store (its stream is at another version) stops the\n"
        "import with a conflict.  A malformed line stops the import with its\n"
        "line number: the lines before it are imported, none from it on, and\n"
        "running the import again after fixing it resumes where it stopped.\n"
        "Prints a JSON summary.  Shows progress when stderr is a terminal.\n"
        "\n"
        "Options:\n"
        "      --store URI    the store (see 'cairn --help')\n"
        "  -h, --help         this text\n"
        "\n"
        "Exit status: 0 ok, 1 error or malformed input, 2 usage, 3 conflict.\n";

/* ---- reading lines ------------------------------------------------------ */

struct reader {
	int fd;
	char chunk[IMPORT_READ_CHUNK];
	size_t pos, fill;
	int eof;
	char *line;
	size_t len, cap;
	uint64_t consumed; /* bytes of input used, for progress */
};

/* Returns 1 with r->line/r->len (no newline, NUL-terminated), 0 at the
 * end, -1 on a read error (errno), -2 for a line over IMPORT_LINE_MAX. */
static int
next_line(struct reader *r)
{
	r->len = 0;
	for (;;) {
		char *nl;
		size_t take;

		if (r->pos == r->fill) {
			ssize_t n;

			if (r->eof)
				break;
			n = read(r->fd, r->chunk, sizeof(r->chunk));
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			if (n == 0) {
				r->eof = 1;
				break;
			}
			r->pos = 0;
			r->fill = (size_t)n;
		}
		nl = memchr(r->chunk + r->pos, '\n', r->fill - r->pos);
		take = nl ? (size_t)(nl - (r->chunk + r->pos))
		          : r->fill - r->pos;
		if (r->len + take > IMPORT_LINE_MAX)
			return -2;
		if (r->len + take + 1 > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			char *bigger;

			while (cap < r->len + take + 1)
				cap *= 2;
			bigger = realloc(r->line, cap);
			if (bigger == NULL) {
				errno = ENOMEM;
				return -1;
			}
			r->line = bigger;
			r->cap = cap;
		}
		memcpy(r->line + r->len, r->chunk + r->pos, take);
		r->len += take;
		r->pos += take + (nl ? 1 : 0);
		r->consumed += take + (nl ? 1 : 0);
		if (nl)
			goto got;
	}
	if (r->len == 0)
		return 0; /* a last line without newline is still a line */
got:
	if (r->len > 0 && r->line[r->len - 1] == '\r')
		r->len--;
	r->line[r->len] = '\0';
	return 1;
}

static int
is_blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* ---- batches ------------------------------------------------------------ */

/* Slots of the stream -> write index of a batch: a power of two, at
 * least twice IMPORT_BATCH_EVENTS so that probes stay short. */
#define IMPORT_STREAM_SLOTS 2048u

/*
 * The events of a batch are a stretch of the file.  They form runs, one
 * per stream (a write: consecutive versions of one stream), and no stream
 * has two runs in one batch, so that the batch is one cairn_append_multi()
 * in file order: positions come out as in the file.
 */
struct batch {
	struct cli_line_event ev[IMPORT_BATCH_EVENTS];
	unsigned long line[IMPORT_BATCH_EVENTS];
	cairn_new_event ne[IMPORT_BATCH_EVENTS];
	cairn_write w[IMPORT_BATCH_EVENTS];
	size_t wfirst[IMPORT_BATCH_EVENTS]; /* first event of each write */
	int slot[IMPORT_STREAM_SLOTS];      /* write index + 1; 0 = free */
	size_t n, nw;
	size_t bytes;
};

struct counts {
	uint64_t events;  /* taken from the file */
	uint64_t written; /* newly appended */
	uint64_t skipped; /* already in the store (idempotent) */
};

/* FNV-1a: short ids, one batch at a time; nothing adversarial to fear
 * beyond a slower probe. */
static size_t
stream_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h & (IMPORT_STREAM_SLOTS - 1);
}

/* The slot of stream: the one holding it, or the free one to take. */
static size_t
find_slot(const struct batch *b, const char *stream)
{
	size_t i = stream_hash(stream);

	while (b->slot[i] != 0 &&
	       strcmp(b->ev[b->wfirst[b->slot[i] - 1]].stream, stream) != 0)
		i = (i + 1) & (IMPORT_STREAM_SLOTS - 1);
	return i;
}

/* Add ev to the batch; returns -1 (leaving ev to the caller) when the
 * batch must be flushed first. */
static int
batch_add(struct batch *b, const struct cli_line_event *ev, unsigned long line)
{
	size_t size = ev->data_len + ev->metadata_len, slot;

	if (b->n == IMPORT_BATCH_EVENTS ||
	    (b->n > 0 && b->bytes + size > IMPORT_BATCH_BYTES))
		return -1;
	if (b->n > 0 && strcmp(b->ev[b->n - 1].stream, ev->stream) == 0 &&
	    ev->version == b->ev[b->n - 1].version + 1) {
		b->w[b->nw - 1].nevents++;
	} else {
		slot = find_slot(b, ev->stream);
		if (b->slot[slot] != 0)
			return -1; /* the stream's run is broken */
		b->slot[slot] = (int)b->nw + 1;
		b->wfirst[b->nw] = b->n;
		b->w[b->nw].nevents = 1;
		b->nw++;
	}
	b->ev[b->n] = *ev;
	b->line[b->n] = line;
	b->bytes += size;
	b->n++;
	return 0;
}

static void
batch_clear(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		cli_line_event_free(&b->ev[i]);
	memset(b->slot, 0, sizeof(b->slot));
	b->n = 0;
	b->nw = 0;
	b->bytes = 0;
}

/* Point the new events and writes at the parsed lines. */
static void
fill_writes(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		cairn_new_event *ne = &b->ne[i];
		const struct cli_line_event *ev = &b->ev[i];

		ne->type = ev->type;
		ne->data = ev->data;
		ne->data_len = ev->data_len;
		ne->metadata = ev->metadata;
		ne->metadata_len = ev->metadata_len;
		ne->tags = ev->tags;
		ne->ntags = ev->ntags;
		ne->id = &ev->id;
	}
	for (i = 0; i < b->nw; i++) {
		const struct cli_line_event *first = &b->ev[b->wfirst[i]];

		b->w[i].stream = first->stream;
		b->w[i].expected = (int64_t)first->version - 1;
		b->w[i].events = b->ne + b->wfirst[i];
	}
}

static void
count(struct counts *c, const cairn_append_result *res, size_t n)
{
	if (res->idempotent)
		c->skipped += n;
	else
		c->written += n;
}

/* Append write wi of the batch on its own.  When its stream already
 * holds the first k of its events (an earlier import stopped there, or
 * this file extends one imported before), those k are re-sent alone,
 * which the store accepts only as a repeat of the very same events, and
 * the rest goes on after them.  Returns 0, or the exit status after
 * reporting. */
static int
flush_write(struct cli *cli, cairn_store *st, struct batch *b, size_t wi,
            struct counts *c)
{
	const cairn_write *w = &b->w[wi];
	size_t done = 0;

	while (done < w->nevents) {
		size_t n = w->nevents - done;
		size_t at = b->wfirst[wi] + done;
		int64_t expected = (int64_t)b->ev[at].version - 1;
		cairn_append_result res;
		cairn_status rc;
		char where[64];

		memset(&res, 0, sizeof(res));
		rc = cairn_append(st, w->stream, expected, b->ne + at, n, &res);
		if (rc == CAIRN_CONFLICT &&
		    res.conflict_actual > (uint64_t)expected &&
		    res.conflict_actual < (uint64_t)expected + n) {
			n = (size_t)(res.conflict_actual - (uint64_t)expected);
			memset(&res, 0, sizeof(res));
			rc = cairn_append(st, w->stream, expected, b->ne + at,
			                  n, &res);
		}
		if (rc != CAIRN_OK) {
			snprintf(where, sizeof(where),
			         "line %lu (all before it is imported)",
			         b->line[at]);
			return cli_status(cli, rc, where, 0);
		}
		count(c, &res, n);
		done += n;
	}
	return 0;
}

/* Commit the batch: one multi-stream append, the common case of a fresh
 * import or a repeat of one.  Should it fail, the writes go one by one,
 * in file order: that finds the line at fault, commits every line before
 * it, and resumes a partly imported stream.  Returns 0, or the exit
 * status after reporting. */
static int
flush(struct cli *cli, cairn_store *st, struct batch *b, struct counts *c)
{
	cairn_append_result res;
	size_t wi;
	int status = 0;

	if (b->n == 0)
		return 0;
	fill_writes(b);
	memset(&res, 0, sizeof(res));
	if (b->nw > 1 &&
	    cairn_append_multi(st, b->w, b->nw, &res) == CAIRN_OK) {
		count(c, &res, b->n);
	} else {
		for (wi = 0; wi < b->nw && status == 0; wi++)
			status = flush_write(cli, st, b, wi, c);
	}
	batch_clear(b);
	return status;
}

/* ---- the verb ----------------------------------------------------------- */

static int
summary(struct cli *cli, cairn_store *st, const struct counts *c,
        unsigned long lines)
{
	struct cli_out out;
	uint64_t head = 0;
	cairn_status rc = cairn_head(st, &head);

	if (rc != CAIRN_OK)
		return cli_status(cli, rc, NULL, 0);
	cli_out_init(&out, STDOUT_FILENO);
	if (cli_out_str(&out, "{\"lines\":") || cli_out_u64(&out, lines) ||
	    cli_out_str(&out, ",\"events\":") || cli_out_u64(&out, c->events) ||
	    cli_out_str(&out, ",\"written\":") ||
	    cli_out_u64(&out, c->written) ||
	    cli_out_str(&out, ",\"skipped\":") ||
	    cli_out_u64(&out, c->skipped) || cli_out_str(&out, ",\"head\":") ||
	    cli_out_u64(&out, head) || cli_out_str(&out, "}\n") ||
	    cli_out_flush(&out))
		return cli_out_fail(cli, &out);
	return CLI_EXIT_OK;
}

/* Read, parse and append until the end or the first failure.  Returns
 * the exit status, with *lines the number of lines read. */
static int
run(struct cli *cli, cairn_store *st, struct reader *r, struct batch *b,
    struct counts *c, struct cli_progress *prog, unsigned long *lines)
{
	char err[256];
	int got, status, read_errno;

	while ((got = next_line(r)) == 1) {
		struct cli_line_event ev;

		++*lines;
		if (is_blank(r->line, r->len))
			continue;
		if (cli_event_parse(r->line, r->len, &ev, err, sizeof(err)) !=
		    0)
			goto bad_line;
		if (cairn_validate_stream_id(ev.stream) != CAIRN_OK ||
		    cairn_validate_type(ev.type) != CAIRN_OK) {
			snprintf(err, sizeof(err), "%s", cairn_last_error());
			cli_line_event_free(&ev);
			goto bad_line;
		}
		if (batch_add(b, &ev, *lines) != 0) {
			status = flush(cli, st, b, c);
			if (status != 0) {
				cli_line_event_free(&ev);
				return status;
			}
			batch_add(b, &ev, *lines); /* an empty batch takes it */
		}
		c->events++;
		cli_progress_update(prog, r->consumed, c->events);
	}
	if (got == -2) {
		++*lines;
		snprintf(err, sizeof(err), "longer than %u bytes",
		         IMPORT_LINE_MAX);
		goto bad_line;
	}
	read_errno = errno;
	/* Whatever came before an error is good: commit it first. */
	status = flush(cli, st, b, c);
	if (status != 0)
		return status;
	if (got == -1)
		return cli_error(cli,
		                 "reading line %lu: %s (all before it is "
		                 "imported)",
		                 *lines + 1, strerror(read_errno));
	cli_progress_end(prog, r->consumed, c->events);
	return CLI_EXIT_OK;
bad_line:
	status = flush(cli, st, b, c);
	if (status != 0)
		return status;
	return cli_error(cli,
	                 "line %lu: %s (all before it is imported, "
	                 "nothing from it on)",
	                 *lines, err);
}

int
cli_cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
	                                         {NULL, 0, NULL, 0}};
	const char *file = NULL;
	struct reader *r = NULL;
	struct batch *b = NULL;
	struct counts counts = {0, 0, 0};
	struct cli_progress prog;
	cairn_store *st = NULL;
	struct stat sb;
	unsigned long lines = 0;
	int c, status;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			cli->store_uri = optarg;
			cli->store_given = 1;
			break;
		case 'h':
			return cli_print(cli, import_help);
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (argc - optind > 1)
		return cli_usage(cli, "too many arguments: '%s'",
		                 argv[optind + 1]);
	if (argc - optind == 1 && strcmp(argv[optind], "-") != 0)
		file = argv[optind];

	r = calloc(1, sizeof(*r));
	b = calloc(1, sizeof(*b));
	if (r == NULL || b == NULL) {
		status = cli_error(cli, "out of memory");
		goto done;
	}
	r->fd = STDIN_FILENO;
	if (file) {
		r->fd = open(file, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			status =
			        cli_error(cli, "%s: %s", file, strerror(errno));
			goto done;
		}
	}
	status = cli_open(cli, 0, &st);
	if (status != 0)
		goto done;
	cli_progress_start(&prog, "import",
	                   fstat(r->fd, &sb) == 0 && S_ISREG(sb.st_mode)
	                           ? (uint64_t)sb.st_size
	                           : 0);
	status = run(cli, st, r, b, &counts, &prog, &lines);
	if (status == CLI_EXIT_OK)
		status = summary(cli, st, &counts, lines);
done:
	if (b)
		batch_clear(b);
	cairn_close(st);
	if (r && file && r->fd >= 0)
		close(r->fd);
	if (r)
		free(r->line);
	free(r);
	free(b);
	return status;
}
