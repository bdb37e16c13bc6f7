/*
 * body.h -- the parser of append request bodies (POST /streams/{stream},
 * POST /append, POST /append-if): JSON text in, the arguments of
 * cairn_append(), cairn_append_multi() or cairn_append_if() out.
 *
 * It checks the shape of the request (fields, their JSON types, base64,
 * UUIDs, counts) and leaves what the library validates (stream ids, event
 * types, tags, sizes) to the library, so that both say the same thing.
 * Payloads given as JSON are stored as their own text, exactly as sent
 * but for the whitespace between tokens, which is dropped: numbers keep
 * their digits and keys their order (integers must fit 64 bits: jansson,
 * which checks the structure, refuses larger ones).  This is the fuzz target's entry
 * point (fuzz/fuzz_http_body.c); it knows nothing of HTTP.
 */
#ifndef CAIRND_BODY_H
#define CAIRND_BODY_H

#include <stddef.h>
#include <stdint.h>

#include <cairn.h>

enum cairnd_body_kind {
	CAIRND_BODY_APPEND,   /* {"expected_version", "events"} */
	CAIRND_BODY_MULTI,    /* {"writes": [...]} */
	CAIRND_BODY_APPEND_IF /* {"query", "after", "writes" | "stream"...} */
};

/* Why a body was refused: a stable code for the "error" field and a
 * sentence.  The HTTP status is always 400. */
struct cairnd_body_error {
	const char *code; /* "malformed_json" or "invalid_request" */
	char message[256];
};

/* The parsed request.  Every pointer in it stays valid until
 * cairnd_body_free(); strings point into the parsed JSON tree. */
struct cairnd_body {
	cairn_write *writes;
	size_t nwrites;
	int has_writes; /* the body gave a "writes" array */
	/* cairn_append_if() only; query.items NULL otherwise */
	cairn_query query;
	uint64_t after;
	/* everything below is owned storage */
	void *root;              /* the jansson tree */
	cairn_new_event *events; /* all events of all writes */
	size_t nevents;
	cairn_uuid *ids;
	void **allocs; /* payload copies, tag and query arrays */
	size_t nallocs;
	size_t allocs_cap;
};

/* Parse text (len bytes, not NUL-terminated) as a body of kind.  stream
 * is the stream of the path for CAIRND_BODY_APPEND (NULL otherwise).
 * Returns 0 with *body filled (free it with cairnd_body_free()); -1 with
 * *err filled and nothing to free; -2 when out of memory. */
int cairnd_body_parse(const char *text, size_t len, enum cairnd_body_kind kind,
                      const char *stream, struct cairnd_body *body,
                      struct cairnd_body_error *err);

void cairnd_body_free(struct cairnd_body *body);

/* Parse an expected version: a JSON integer >= 0, "any", "no_stream",
 * "exists", or NULL (absent: "any").  Returns 0 or -1. */
int cairnd_body_expected(const void *json, int64_t *expected);

/* The largest number of events one body may carry: CAIRN_BATCH_MAX. */
#define CAIRND_BODY_EVENTS_MAX CAIRN_BATCH_MAX

#endif /* CAIRND_BODY_H */
