/*
 * event_json.c -- one event as one NDJSON line, both ways.
 *
 * The line (written by read and export, taken by import):
 *
 *   {"position":7,"stream":"account-42","version":3,"type":"Deposited",
 *    "id":"<uuid>","time":"2026-11-23T11:38:28.123456789Z",
 *    "data":<payload>,"metadata":<payload>,"tags":["a","b"]}
 *
 * A payload is written as its own JSON text when that text can be taken
 * back byte for byte (ct_json_embeddable), else as "data_base64" /
 * "metadata_base64".  metadata is left out when empty, tags when there
 * are none.  position and time are the store's own; import accepts them
 * and ignores them (the target store assigns its own).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ,"name":<json> or ,"name_base64":"..." */
static int
write_payload(struct cli_out *out, const char *name, const void *p, size_t n)
{
	if (cli_out_str(out, ",\"") != 0 || cli_out_str(out, name) != 0)
		return -1;
	if (ct_json_embeddable(p, n))
		return cli_out_write(out, "\":", 2) || cli_out_write(out, p, n);
	return cli_out_str(out, "_base64\":\"") || cli_base64(out, p, n) ||
	       cli_out_write(out, "\"", 1);
}

int
cli_event_write(struct cli_out *out, const cairn_event *e)
{
	char id[CAIRN_UUID_STR_LEN + 1];
	size_t i;

	cairn_uuid_format(&e->id, id);
	if (cli_out_str(out, "{\"position\":") ||
	    cli_out_u64(out, e->position) || cli_out_str(out, ",\"stream\":") ||
	    cli_json_string(out, e->stream, e->stream_len) ||
	    cli_out_str(out, ",\"version\":") || cli_out_u64(out, e->version) ||
	    cli_out_str(out, ",\"type\":") ||
	    cli_json_string(out, e->type, e->type_len) ||
	    cli_out_str(out, ",\"id\":\"") || cli_out_str(out, id) ||
	    cli_out_str(out, "\",\"time\":") ||
	    cli_json_time(out, e->time_ns) ||
	    write_payload(out, "data", e->data, e->data_len))
		return -1;
	if (e->metadata_len > 0 &&
	    write_payload(out, "metadata", e->metadata, e->metadata_len))
		return -1;
	if (e->ntags > 0) {
		if (cli_out_str(out, ",\"tags\":["))
			return -1;
		for (i = 0; i < e->ntags; i++) {
			const char *t = e->tags[i];

			if ((i > 0 && cli_out_write(out, ",", 1)) ||
			    cli_json_string(out, t, strlen(t)))
				return -1;
		}
		if (cli_out_write(out, "]", 1))
			return -1;
	}
	return cli_out_write(out, "}\n", 2);
}

/* ---- parsing ------------------------------------------------------------ */

static const char *const known_fields[] = {
        "position", "stream", "version",     "type",     "id",
        "time",     "data",   "data_base64", "metadata", "metadata_base64",
        "tags",     NULL};

static int
known_field(const char *key)
{
	size_t i;

	for (i = 0; known_fields[i]; i++)
		if (strcmp(key, known_fields[i]) == 0)
			return 1;
	return 0;
}

/* Take one payload: the raw text of "name", or the decoded
 * "name_base64", or nothing when required is 0. */
static int
parse_payload(const char *line, size_t n, json_t *root, const char *name,
              int required, unsigned char **out, size_t *outlen, char *err,
              size_t errlen)
{
	char b64name[32];
	json_t *raw = json_object_get(root, name), *enc;
	struct ct_span line_span = {line, n}, span;
	int rc;

	snprintf(b64name, sizeof(b64name), "%s_base64", name);
	enc = json_object_get(root, b64name);
	*out = NULL;
	*outlen = 0;
	if (raw && enc) {
		snprintf(err, errlen, "both \"%s\" and \"%s\"", name, b64name);
		return -1;
	}
	if (raw) {
		if (ct_span_member(line_span, name, &span) != 0) {
			snprintf(err, errlen, "cannot locate \"%s\"", name);
			return -1;
		}
		*out = malloc(span.n);
		if (*out == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(*out, span.p, span.n);
		*outlen = span.n;
		return 0;
	}
	if (enc) {
		if (!json_is_string(enc)) {
			snprintf(err, errlen, "\"%s\" is not a string",
			         b64name);
			return -1;
		}
		rc = ct_base64_decode(json_string_value(enc),
		                      json_string_length(enc), out, outlen);
		if (rc == -2)
			snprintf(err, errlen, "out of memory");
		else if (rc != 0)
			snprintf(err, errlen, "\"%s\" is not valid base64",
			         b64name);
		return rc == 0 ? 0 : -1;
	}
	if (required) {
		snprintf(err, errlen, "missing \"%s\" (or \"%s\")", name,
		         b64name);
		return -1;
	}
	return 0;
}

static int
parse_tags(json_t *root, struct cli_line_event *ev, char *err, size_t errlen)
{
	json_t *tags = json_object_get(root, "tags"), *t;
	size_t i;

	if (tags == NULL)
		return 0;
	if (!json_is_array(tags)) {
		snprintf(err, errlen, "\"tags\" is not an array");
		return -1;
	}
	if (json_array_size(tags) > CAIRN_TAGS_MAX) {
		snprintf(err, errlen, "more than %d tags", CAIRN_TAGS_MAX);
		return -1;
	}
	if (json_array_size(tags) == 0)
		return 0;
	ev->tags = calloc(json_array_size(tags), sizeof(*ev->tags));
	if (ev->tags == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_array_foreach(tags, i, t)
	{
		if (!json_is_string(t)) {
			snprintf(err, errlen, "tag %zu is not a string", i + 1);
			return -1;
		}
		ev->tags[i] = json_string_value(t);
	}
	ev->ntags = json_array_size(tags);
	return 0;
}

/* stream, version, type, id, and the optional fields that are only
 * type-checked. */
static int
parse_header(json_t *root, struct cli_line_event *ev, char *err, size_t errlen)
{
	json_t *stream = json_object_get(root, "stream");
	json_t *version = json_object_get(root, "version");
	json_t *type = json_object_get(root, "type");
	json_t *id = json_object_get(root, "id");
	json_t *pos = json_object_get(root, "position");
	json_t *t = json_object_get(root, "time");

	if (!json_is_string(stream)) {
		snprintf(err, errlen, "\"stream\" missing or not a string");
		return -1;
	}
	if (!json_is_integer(version) || json_integer_value(version) < 1) {
		snprintf(err, errlen,
		         "\"version\" missing or not a number >= 1");
		return -1;
	}
	if (!json_is_string(type)) {
		snprintf(err, errlen, "\"type\" missing or not a string");
		return -1;
	}
	if (!json_is_string(id) ||
	    cairn_uuid_parse(json_string_value(id), &ev->id) != CAIRN_OK) {
		snprintf(err, errlen, "\"id\" missing or not a UUID");
		return -1;
	}
	if (pos && (!json_is_integer(pos) || json_integer_value(pos) < 1)) {
		snprintf(err, errlen, "\"position\" is not a number >= 1");
		return -1;
	}
	if (t && !json_is_string(t)) {
		snprintf(err, errlen, "\"time\" is not a string");
		return -1;
	}
	ev->stream = json_string_value(stream);
	ev->version = (uint64_t)json_integer_value(version);
	ev->type = json_string_value(type);
	return 0;
}

int
cli_event_parse(const char *line, size_t n, struct cli_line_event *ev,
                char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	const char *key;
	json_t *val;

	memset(ev, 0, sizeof(*ev));
	root = json_loadb(line, n, CLI_JSON_PARSE_FLAGS, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "not valid JSON: %s (column %d)",
		         jerr.text, jerr.column);
		return -1;
	}
	ev->root = root;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto fail;
	}
	json_object_foreach(root, key, val)
	{
		(void)val;
		if (!known_field(key)) {
			snprintf(err, errlen, "unknown field \"%.64s\"", key);
			goto fail;
		}
	}
	if (parse_header(root, ev, err, errlen) != 0 ||
	    parse_payload(line, n, root, "data", 1, &ev->data, &ev->data_len,
	                  err, errlen) != 0 ||
	    parse_payload(line, n, root, "metadata", 0, &ev->metadata,
	                  &ev->metadata_len, err, errlen) != 0 ||
	    parse_tags(root, ev, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	cli_line_event_free(ev);
	return -1;
}

void
cli_line_event_free(struct cli_line_event *ev)
{
	free(ev->data);
	free(ev->metadata);
	free(ev->tags);
	json_decref(ev->root);
	memset(ev, 0, sizeof(*ev));
}
