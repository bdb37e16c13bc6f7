/*
 * fuzz_http_body.c -- the parser of cairnd's append request bodies
 * (src/server/body.c), as POST /streams/{s}, /append and /append-if see
 * them.
 *
 * Each input is parsed as all three kinds.  For every body that parses:
 * the writes hold 1..CAIRN_BATCH_MAX events in all, each with a type and
 * its payloads in range; a payload that was sent as JSON (not base64)
 * is one JSON value on one line, which cairnd shows inline when reading
 * it back; and what was parsed can be appended to a memory store without
 * the library crashing (it may refuse it: a bad stream id, say).
 */
#include <jansson.h>

#include "body.h"
#include "fuzz.h"
#include "json_text.h"

static cairn_store *
store(void)
{
	static cairn_store *st;

	if (st == NULL)
		FUZZ_CHECK(cairn_open("memory:", NULL, &st) == CAIRN_OK);
	return st;
}

static void
check_body(const struct cairnd_body *b, enum cairnd_body_kind kind)
{
	size_t i, j, total = 0;

	FUZZ_CHECK(b->nwrites >= 1);
	FUZZ_CHECK(kind != CAIRND_BODY_APPEND || b->nwrites == 1);
	FUZZ_CHECK(kind == CAIRND_BODY_APPEND_IF || b->query.items == NULL);
	for (i = 0; i < b->nwrites; i++) {
		const cairn_write *w = &b->writes[i];

		FUZZ_CHECK(w->stream != NULL && w->nevents >= 1);
		for (j = 0; j < w->nevents; j++) {
			const cairn_new_event *e = &w->events[j];

			FUZZ_CHECK(e->type != NULL);
			FUZZ_CHECK(e->data_len == 0 || e->data != NULL);
			FUZZ_CHECK(e->metadata_len == 0 || e->metadata != NULL);
			FUZZ_CHECK(e->ntags <= CAIRN_TAGS_MAX);
		}
		total += w->nevents;
	}
	FUZZ_CHECK(total == b->nevents && total <= CAIRN_BATCH_MAX);
}

static void
run(const uint8_t *data, size_t size, enum cairnd_body_kind kind)
{
	struct cairnd_body b;
	struct cairnd_body_error err;
	cairn_append_result res;
	int rc;

	rc = cairnd_body_parse((const char *)data, size, kind,
	                       kind == CAIRND_BODY_APPEND ? "fuzz-1" : NULL, &b,
	                       &err);
	FUZZ_CHECK(rc == 0 || rc == -1 || rc == -2);
	if (rc != 0) {
		FUZZ_CHECK(rc == -2 || (err.code != NULL && err.message[0]));
		return;
	}
	check_body(&b, kind);
	if (kind == CAIRND_BODY_APPEND)
		(void)cairn_append(store(), b.writes[0].stream,
		                   b.writes[0].expected, b.writes[0].events,
		                   b.writes[0].nevents, &res);
	else if (kind == CAIRND_BODY_MULTI)
		(void)cairn_append_multi(store(), b.writes, b.nwrites, &res);
	else
		(void)cairn_append_if(store(), &b.query, b.after, b.writes,
		                      b.nwrites, &res);
	cairnd_body_free(&b);
}

/* A payload sent as JSON must show inline when read back. */
static void
check_inline(const uint8_t *data, size_t size)
{
	struct cairnd_body b;
	struct cairnd_body_error err;
	json_t *root;
	size_t i;

	if (cairnd_body_parse((const char *)data, size, CAIRND_BODY_APPEND,
	                      "fuzz-1", &b, &err) != 0)
		return;
	root = b.root;
	for (i = 0; i < b.writes[0].nevents; i++) {
		const cairn_new_event *e = &b.writes[0].events[i];
		json_t *ev = json_array_get(json_object_get(root, "events"), i);
		json_t *enc = json_object_get(ev, "data_encoding");

		if (enc == NULL || strcmp(json_string_value(enc), "json") == 0)
			FUZZ_CHECK(ct_json_embeddable(e->data, e->data_len));
	}
	cairnd_body_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, CAIRND_BODY_APPEND);
	run(data, size, CAIRND_BODY_MULTI);
	run(data, size, CAIRND_BODY_APPEND_IF);
	check_inline(data, size);
	return 0;
}
