/*
 * json_event.c -- one stored event as one line of JSON:
 *
 *   {"id":"<uuid>","stream":"account-42","type":"Deposited","version":3,
 *    "position":7,"time":"2026-11-23T11:38:28.123456789Z",
 *    "data":{"amount":10},"metadata":{"by":"ada"},"tags":["a"]}
 *
 * A payload (data, metadata) is written as itself when it is one JSON
 * value that fits on a line and that a client can send back byte for
 * byte (ct_json_embeddable, the test `cairn read` uses too); otherwise as
 * a base64 string with "data_encoding":"base64" (or "metadata_encoding")
 * next to it.  An empty payload (no metadata, typically) is null: the one
 * case not told apart from a payload that is the text null.
 */
#include <string.h>

#include "buf.h"
#include "json_text.h"

/* ,"name":<json> or ,"name":"<base64>","name_encoding":"base64" */
static int
write_payload(struct cairnd_buf *b, const char *name, const void *p, size_t n)
{
	if (cairnd_buf_str(b, ",\"") || cairnd_buf_str(b, name) ||
	    cairnd_buf_str(b, "\":"))
		return -1;
	if (n == 0)
		return cairnd_buf_str(b, "null");
	if (ct_json_embeddable(p, n))
		return cairnd_buf_put(b, p, n);
	return cairnd_buf_put(b, "\"", 1) || cairnd_buf_base64(b, p, n) ||
	       cairnd_buf_str(b, "\",\"") || cairnd_buf_str(b, name) ||
	       cairnd_buf_str(b, "_encoding\":\"base64\"");
}

int
cairnd_event_json(struct cairnd_buf *b, const cairn_event *e)
{
	char id[CAIRN_UUID_STR_LEN + 1];
	size_t i;

	cairn_uuid_format(&e->id, id);
	if (cairnd_buf_str(b, "{\"id\":\"") || cairnd_buf_str(b, id) ||
	    cairnd_buf_str(b, "\",\"stream\":") ||
	    cairnd_buf_json_string(b, e->stream, e->stream_len) ||
	    cairnd_buf_str(b, ",\"type\":") ||
	    cairnd_buf_json_string(b, e->type, e->type_len) ||
	    cairnd_buf_str(b, ",\"version\":") ||
	    cairnd_buf_u64(b, e->version) ||
	    cairnd_buf_str(b, ",\"position\":") ||
	    cairnd_buf_u64(b, e->position) || cairnd_buf_str(b, ",\"time\":") ||
	    cairnd_buf_time(b, e->time_ns) ||
	    write_payload(b, "data", e->data, e->data_len) ||
	    write_payload(b, "metadata", e->metadata, e->metadata_len) ||
	    cairnd_buf_str(b, ",\"tags\":["))
		return -1;
	for (i = 0; i < e->ntags; i++) {
		const char *t = e->tags[i];

		if ((i > 0 && cairnd_buf_put(b, ",", 1)) ||
		    cairnd_buf_json_string(b, t, strlen(t)))
			return -1;
	}
	return cairnd_buf_str(b, "]}");
}
