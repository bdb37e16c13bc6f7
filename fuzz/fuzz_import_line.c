/*
 * fuzz_import_line.c -- the NDJSON event line that `cairn import` parses.
 *
 * The input is one line for cli_event_parse() (src/cli/event_json.c).
 * When it parses, the event is written back with cli_event_write(), the
 * writer of `cairn read` and `cairn export`, and the text must be one
 * line that parses again to the very same event (stream, version, type,
 * id, data, metadata, tags, byte for byte), and that writes back to the
 * very same text.  That is the promise of the format: export -> import
 * -> export changes nothing.
 */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz.h"

/* Room for the reason a line is refused; as in cmd_import.c. */
#define ERR_MAX 256
/* The position and time the writer is given: the parser ignores both. */
#define FIXED_POSITION 7
#define FIXED_TIME_NS 1795433908123456789LL

static struct cli_out out;
static FILE *sink;

static int
same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The event the writer would be handed for a parsed line. */
static void
to_event(const struct cli_line_event *ev, cairn_event *e)
{
	memset(e, 0, sizeof(*e));
	e->id = ev->id;
	e->stream = ev->stream;
	e->stream_len = strlen(ev->stream);
	e->type = ev->type;
	e->type_len = strlen(ev->type);
	e->data = ev->data;
	e->data_len = ev->data_len;
	e->metadata = ev->metadata;
	e->metadata_len = ev->metadata_len;
	e->tags = (const char *const *)ev->tags;
	e->ntags = ev->ntags;
	e->version = ev->version;
	e->position = FIXED_POSITION;
	e->time_ns = FIXED_TIME_NS;
}

/* Write ev as a line through a temporary file (lines may be bigger than
 * the output buffer); returns it malloc'd, with its length. */
static char *
write_line(const struct cli_line_event *ev, size_t *len)
{
	cairn_event e;
	char *text;
	long size;

	if (sink == NULL) {
		sink = tmpfile();
		FUZZ_CHECK(sink != NULL);
	}
	FUZZ_CHECK(ftruncate(fileno(sink), 0) == 0);
	cli_out_init(&out, fileno(sink));
	FUZZ_CHECK(lseek(fileno(sink), 0, SEEK_SET) == 0);
	to_event(ev, &e);
	FUZZ_CHECK(cli_event_write(&out, &e) == 0);
	FUZZ_CHECK(cli_out_flush(&out) == 0);
	size = lseek(fileno(sink), 0, SEEK_END);
	FUZZ_CHECK(size > 0);
	text = malloc((size_t)size);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(pread(fileno(sink), text, (size_t)size, 0) == size);
	*len = (size_t)size;
	return text;
}

static void
check_same_event(const struct cli_line_event *a, const struct cli_line_event *b)
{
	size_t i;

	FUZZ_CHECK(strcmp(a->stream, b->stream) == 0);
	FUZZ_CHECK(a->version == b->version);
	FUZZ_CHECK(strcmp(a->type, b->type) == 0);
	FUZZ_CHECK(memcmp(&a->id, &b->id, sizeof(a->id)) == 0);
	FUZZ_CHECK(same_bytes(a->data, a->data_len, b->data, b->data_len));
	FUZZ_CHECK(same_bytes(a->metadata, a->metadata_len, b->metadata,
	                      b->metadata_len));
	FUZZ_CHECK(a->ntags == b->ntags);
	for (i = 0; i < a->ntags; i++)
		FUZZ_CHECK(strcmp(a->tags[i], b->tags[i]) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_line_event first, second;
	char err[ERR_MAX];
	char *line1, *line2;
	size_t len1, len2;

	/* data is exactly size bytes with no NUL after it: the parser is
	 * given a length and must not read past it. */
	err[0] = '\0';
	if (cli_event_parse((const char *)data, size, &first, err,
	                    sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	line1 = write_line(&first, &len1);
	/* One NDJSON line: a newline at the end and nowhere else. */
	FUZZ_CHECK(line1[len1 - 1] == '\n');
	FUZZ_CHECK(memchr(line1, '\n', len1 - 1) == NULL);
	if (cli_event_parse(line1, len1 - 1, &second, err, sizeof(err)) != 0) {
		fprintf(stderr, "written line does not parse: %s\n%.*s", err,
		        (int)len1, line1);
		FUZZ_CHECK(!"written line parses");
	}
	check_same_event(&first, &second);
	line2 = write_line(&second, &len2);
	if (!same_bytes(line1, len1, line2, len2))
		fprintf(stderr, "writes differ:\n%.*s%.*s", (int)len1, line1,
		        (int)len2, line2);
	FUZZ_CHECK(same_bytes(line1, len1, line2, len2));
	free(line2);
	free(line1);
	cli_line_event_free(&second);
	cli_line_event_free(&first);
	return 0;
}
