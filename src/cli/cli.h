/*
 * cli.h -- what the files of the `cairn` command line tool share.
 *
 * The tool is a client of the public API only (include/cairn.h) plus
 * jansson for parsing NDJSON.  Every verb lives in its own cmd_*.c and
 * is reached through the table in main.c.  Nothing here is exported from
 * a library: the names are cli_* and live in one executable.  The JSON
 * text rules it shares with cairnd (escaping, base64, which payloads are
 * embeddable, raw member spans) are ct_* in src/common/json_text.h.
 *
 * Output to stdout goes through struct cli_out (out.c) so that every
 * write is checked: a full disk is an error (exit 1), a reader that went
 * away (EPIPE, e.g. `cairn read x | head -1`) ends the program quietly
 * with status 0, as a consumer that stops reading is not a failure of
 * the producer.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"
#include "json_text.h"

/* Exit statuses: part of the tool's interface, never renumbered. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_CONFLICT = 3
};

#define CLI_DEFAULT_STORE "lmdb:./cairn-data"
#define CLI_STORE_ENV "CAIRN_STORE"

/* What every verb knows about the invocation. */
struct cli {
	const char *verb;      /* for messages: "cairn: <verb>: ..." */
	const char *store_uri; /* --store, else $CAIRN_STORE, else default */
	int store_given;       /* nonzero when --store was on the line */
};

/* ---- output (out.c) ---------------------------------------------------- */

/* Bytes gathered before one write(2): big enough that a read of small
 * events costs few system calls, small enough to stream. */
#define CLI_OUT_BUF (64u * 1024u)

struct cli_out {
	int fd;
	int err; /* errno of the first failed write; 0 while all is well */
	size_t len;
	char buf[CLI_OUT_BUF];
};

void cli_out_init(struct cli_out *out, int fd);
/* Queue n bytes; returns 0, or -1 once any write has failed (later calls
 * keep returning -1 without writing). */
int cli_out_write(struct cli_out *out, const void *p, size_t n);
int cli_out_str(struct cli_out *out, const char *s);
int cli_out_u64(struct cli_out *out, uint64_t v);
int cli_out_flush(struct cli_out *out);
/* After a failed write: say so (quietly for EPIPE) and return the exit
 * status the verb should return. */
int cli_out_fail(const struct cli *cli, const struct cli_out *out);
/* Write a whole text (help) to stdout and return the exit status. */
int cli_print(const struct cli *cli, const char *text);

/* ---- messages and argument helpers (util.c) ---------------------------- */

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* "cairn: <verb>: <message>" on stderr, on one line; returns the exit
 * status named by the function. */
int cli_usage(const struct cli *cli, const char *fmt, ...) CLI_PRINTF(2, 3);
int cli_error(const struct cli *cli, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Report a failed library call from cairn_last_error() (read before any
 * other cairn_* call); context, when not NULL, is put in front.  Returns
 * CLI_EXIT_CONFLICT for CAIRN_CONFLICT, CLI_EXIT_USAGE for the statuses
 * that mean a malformed argument when usage_statuses is nonzero, else
 * CLI_EXIT_ERROR. */
int cli_status(const struct cli *cli, cairn_status rc, const char *context,
               int usage_statuses);
/* A getopt_long() '?' or ':' result as a usage error. */
int cli_bad_option(const struct cli *cli, int c, char *const argv[]);

/* Parse a whole decimal number; returns 0 or -1 (empty, sign, junk,
 * overflow). */
int cli_parse_u64(const char *s, uint64_t *out);

/* Open the store named by cli; prints the error itself and returns the
 * exit status on failure, 0 on success. */
int cli_open(const struct cli *cli, int read_only, cairn_store **out);

/* Read all of fd into a fresh buffer (*out, NUL-terminated, caller
 * frees), refusing more than max bytes.  Returns 0, -1 with errno, or -2
 * when the input is over max. */
int cli_read_all(int fd, size_t max, char **out, size_t *len);

/* ---- JSON text (json_text.c) ------------------------------------------- */

/* The jansson flags of every parse of NDJSON: those of the shared test of
 * embeddable payloads, so that a payload is shown as JSON only when the
 * import parser, with these very flags, will take it back. */
#define CLI_JSON_PARSE_FLAGS CT_JSON_PARSE_FLAGS

/* The writers of src/common/json_text.h into out: s (n bytes) as a JSON
 * string literal (ct_json_string); p as padded base64 without quotes
 * (ct_base64); a time in ns since the epoch as a quoted RFC 3339 UTC
 * string with nanoseconds, "2026-11-23T11:38:28.123456789Z"
 * (ct_json_time).  Each returns 0 or -1 (see cli_out_write). */
int cli_json_string(struct cli_out *out, const char *s, size_t n);
int cli_base64(struct cli_out *out, const void *p, size_t n);
int cli_json_time(struct cli_out *out, int64_t ns);

/* ---- events as NDJSON (event_json.c) ----------------------------------- */

/* Write e as one NDJSON line, newline included. */
int cli_event_write(struct cli_out *out, const cairn_event *e);

/* One parsed line of the read/export format, as import needs it.  The
 * strings are borrowed from root; data and metadata are owned. */
struct cli_line_event {
	void *root; /* json_t *, freed by cli_line_event_free */
	const char *stream;
	uint64_t version;
	const char *type;
	cairn_uuid id;
	unsigned char *data;
	size_t data_len;
	unsigned char *metadata;
	size_t metadata_len;
	const char **tags;
	size_t ntags;
};

/* Parse one line; on failure returns -1 and a reason in err. */
int cli_event_parse(const char *line, size_t n, struct cli_line_event *ev,
                    char *err, size_t errlen);
void cli_line_event_free(struct cli_line_event *ev);

/* ---- progress on a terminal (progress.c) ------------------------------- */

struct cli_progress {
	int enabled; /* stderr is a terminal */
	int shown;   /* a line is on screen */
	const char *label;
	uint64_t total; /* 0 = unknown */
	int64_t last_ns;
};

void cli_progress_start(struct cli_progress *p, const char *label,
                        uint64_t total);
/* done is in the unit of total; events is what the line counts.  Cheap
 * to call per event: it redraws at most a few times a second. */
void cli_progress_update(struct cli_progress *p, uint64_t done,
                         uint64_t events);
/* Draw the final state (when a bar was shown) and end the line. */
void cli_progress_end(struct cli_progress *p, uint64_t done, uint64_t events);
/* Wipe a progress line before an error message is printed. */
void cli_progress_clear(void);

/* ---- verbs -------------------------------------------------------------- */

int cli_cmd_append(struct cli *cli, int argc, char **argv);
int cli_cmd_read(struct cli *cli, int argc, char **argv);
int cli_cmd_streams(struct cli *cli, int argc, char **argv);
int cli_cmd_stat(struct cli *cli, int argc, char **argv);
int cli_cmd_export(struct cli *cli, int argc, char **argv);
int cli_cmd_import(struct cli *cli, int argc, char **argv);
int cli_cmd_verify(struct cli *cli, int argc, char **argv);
int cli_cmd_bench(struct cli *cli, int argc, char **argv);
int cli_cmd_tail(struct cli *cli, int argc, char **argv);
int cli_cmd_subs(struct cli *cli, int argc, char **argv);

/* Options every verb accepts, handled in one place. */
#define CLI_COMMON_LONGOPTS                                                    \
	{"store", required_argument, NULL, 'S'},                               \
	{                                                                      \
		"help", no_argument, NULL, 'h'                                 \
	}

#endif /* CAIRN_CLI_H */
