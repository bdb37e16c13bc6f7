/*
 * body.c -- append request bodies: JSON text to cairn_write arrays; see
 * body.h for the contract and docs/http-api.md for the format.
 *
 * jansson checks the text (RFC 8259, UTF-8, duplicate keys refused) and
 * gives the tree the fields are read from; the payloads given as JSON are
 * then copied from the text itself (src/common/json_span.c), located by
 * walking the same path through the text as through the tree.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "json_text.h"

/* Body-wide state of one parse. */
struct parse {
	struct cairnd_body *body;
	struct cairnd_body_error *err;
	int nomem;
};

static int
fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	ps->err->code = "invalid_request";
	va_start(ap, fmt);
	vsnprintf(ps->err->message, sizeof(ps->err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static int
out_of_memory(struct parse *ps)
{
	ps->nomem = 1;
	ps->err->code = "internal";
	snprintf(ps->err->message, sizeof(ps->err->message), "out of memory");
	return -1;
}

/* From now on the body owns p (malloc'd), and frees it; on failure p is
 * freed at once. */
static int
body_adopt(struct parse *ps, void *p)
{
	struct cairnd_body *b = ps->body;

	if (b->nallocs == b->allocs_cap) {
		size_t cap = b->allocs_cap ? b->allocs_cap * 2 : 16;
		void **bigger = realloc(b->allocs, cap * sizeof(*bigger));

		if (bigger == NULL) {
			free(p);
			return out_of_memory(ps);
		}
		b->allocs = bigger;
		b->allocs_cap = cap;
	}
	b->allocs[b->nallocs++] = p;
	return 0;
}

/* malloc that the body owns. */
static void *
body_alloc(struct parse *ps, size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL) {
		out_of_memory(ps);
		return NULL;
	}
	return body_adopt(ps, p) == 0 ? p : NULL;
}

/* Only the named keys may appear in obj: a misspelt field is an error,
 * not silently a default. */
static int
check_keys(struct parse *ps, json_t *obj, const char *where,
           const char *const *allowed)
{
	const char *key;
	json_t *val;
	size_t i;

	json_object_foreach(obj, key, val)
	{
		(void)val;
		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return fail(ps, "%s: unknown field \"%.64s\"", where,
			            key);
	}
	return 0;
}

/* A JSON string without NUL bytes, as a C string; NULL otherwise. */
static const char *
cstring(json_t *v)
{
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

int
cairnd_body_expected(const void *json, int64_t *expected)
{
	json_t *v = (json_t *)json;
	const char *s;

	if (v == NULL) {
		*expected = CAIRN_ANY;
		return 0;
	}
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -1;
		*expected = (int64_t)json_integer_value(v);
		return 0;
	}
	s = cstring(v);
	if (s == NULL)
		return -1;
	if (strcmp(s, "any") == 0)
		*expected = CAIRN_ANY;
	else if (strcmp(s, "no_stream") == 0)
		*expected = CAIRN_NO_STREAM;
	else if (strcmp(s, "exists") == 0)
		*expected = CAIRN_STREAM_EXISTS;
	else
		return -1;
	return 0;
}

/* An array of strings (at most max) as a fresh array of C strings. */
static int
string_array(struct parse *ps, json_t *arr, size_t max, const char *where,
             const char *const **out, size_t *n)
{
	const char **v;
	json_t *el;
	size_t i;

	*out = NULL;
	*n = 0;
	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return fail(ps, "%s: not an array", where);
	if (json_array_size(arr) > max)
		return fail(ps, "%s: more than %zu entries", where, max);
	if (json_array_size(arr) == 0)
		return 0;
	v = body_alloc(ps, json_array_size(arr) * sizeof(*v));
	if (v == NULL)
		return -1;
	json_array_foreach(arr, i, el)
	{
		v[i] = cstring(el);
		if (v[i] == NULL)
			return fail(ps, "%s[%zu]: not a string (or holds NUL)",
			            where, i);
	}
	*out = v;
	*n = json_array_size(arr);
	return 0;
}

/* One payload (data or metadata) of the event ev, whose text is evspan. */
static int
payload(struct parse *ps, json_t *ev, struct ct_span evspan, const char *name,
        int required, const char *where, const void **out, size_t *outlen)
{
	char encname[32];
	json_t *v = json_object_get(ev, name), *enc;
	const char *encs = "json";
	struct ct_span span;
	unsigned char *bytes;
	char *copy;
	int rc;

	snprintf(encname, sizeof(encname), "%s_encoding", name);
	enc = json_object_get(ev, encname);
	*out = NULL;
	*outlen = 0;
	if (enc && ((encs = cstring(enc)) == NULL ||
	            (strcmp(encs, "json") != 0 && strcmp(encs, "base64") != 0)))
		return fail(ps, "%s.%s: not \"json\" or \"base64\"", where,
		            encname);
	if (v == NULL) {
		if (required)
			return fail(ps, "%s: missing \"%s\"", where, name);
		if (enc)
			return fail(ps, "%s: \"%s\" without \"%s\"", where,
			            encname, name);
		return 0;
	}
	if (strcmp(encs, "base64") == 0) {
		if (!json_is_string(v))
			return fail(ps, "%s.%s: base64 must be a string", where,
			            name);
		rc = ct_base64_decode(json_string_value(v),
		                      json_string_length(v), &bytes, outlen);
		if (rc == -2)
			return out_of_memory(ps);
		if (rc != 0)
			return fail(ps, "%s.%s: not canonical base64", where,
			            name);
		if (bytes && body_adopt(ps, bytes) != 0)
			return -1;
		*out = bytes;
		return 0;
	}
	if (ct_span_member(evspan, name, &span) != 0)
		return fail(ps, "%s: cannot locate \"%s\"", where, name);
	copy = body_alloc(ps, span.n);
	if (copy == NULL)
		return -1;
	*outlen = ct_span_minify(span, copy);
	*out = copy;
	return 0;
}

static const char *const event_keys[] = {
        "type", "data", "data_encoding", "metadata", "metadata_encoding", "id",
        "tags", NULL};

/* One event: the tree ev, its text evspan, into *out. */
static int
parse_event(struct parse *ps, json_t *ev, struct ct_span evspan,
            const char *where, cairn_new_event *out, cairn_uuid *id)
{
	json_t *v;
	char tw[96];

	if (!json_is_object(ev))
		return fail(ps, "%s: not an object", where);
	if (check_keys(ps, ev, where, event_keys) != 0)
		return -1;
	out->type = cstring(json_object_get(ev, "type"));
	if (out->type == NULL)
		return fail(ps, "%s: \"type\" missing or not a string", where);
	if (payload(ps, ev, evspan, "data", 1, where, &out->data,
	            &out->data_len) != 0 ||
	    payload(ps, ev, evspan, "metadata", 0, where, &out->metadata,
	            &out->metadata_len) != 0)
		return -1;
	v = json_object_get(ev, "id");
	if (v != NULL) {
		const char *s = cstring(v);

		if (s == NULL || cairn_uuid_parse(s, id) != CAIRN_OK)
			return fail(ps, "%s: \"id\" is not a UUID", where);
		out->id = id;
	}
	snprintf(tw, sizeof(tw), "%s.tags", where);
	return string_array(ps, json_object_get(ev, "tags"), CAIRN_TAGS_MAX, tw,
	                    &out->tags, &out->ntags);
}

/* The events array arr (text span) into w, taking slots from the
 * body's event array at *next. */
static int
parse_events(struct parse *ps, json_t *arr, struct ct_span span,
             const char *where, cairn_write *w)
{
	struct cairnd_body *b = ps->body;
	struct ct_span_iter it;
	struct ct_span evspan;
	char ew[64];
	json_t *ev;
	size_t i;

	if (!json_is_array(arr))
		return fail(ps, "%s\"events\" missing or not an array", where);
	if (json_array_size(arr) == 0)
		return fail(ps, "%s\"events\" is empty", where);
	if (ct_span_iter_init(&it, span) != 0)
		return fail(ps, "%scannot locate \"events\"", where);
	w->events = b->events + b->nevents;
	w->nevents = json_array_size(arr);
	json_array_foreach(arr, i, ev)
	{
		cairn_new_event *out = &b->events[b->nevents];

		if (ct_span_iter_next(&it, &evspan) != 1)
			return fail(ps, "%scannot locate event %zu", where, i);
		snprintf(ew, sizeof(ew), "%sevents[%zu]", where, i);
		*out = (cairn_new_event)CAIRN_NEW_EVENT_INIT;
		if (parse_event(ps, ev, evspan, ew, out, &b->ids[b->nevents]) !=
		    0)
			return -1;
		b->nevents++;
	}
	return 0;
}

/* One write {"stream", "expected_version", "events"}: obj with text
 * span.  stream, when not NULL, is given by the path instead. */
static int
parse_write(struct parse *ps, json_t *obj, struct ct_span span,
            const char *where, const char *stream, cairn_write *w)
{
	struct ct_span evspan = {NULL, 0};

	if (!json_is_object(obj))
		return fail(ps, "%snot an object", where);
	if (stream == NULL) {
		stream = cstring(json_object_get(obj, "stream"));
		if (stream == NULL)
			return fail(ps, "%s\"stream\" missing or not a string",
			            where);
	}
	w->stream = stream;
	if (cairnd_body_expected(json_object_get(obj, "expected_version"),
	                         &w->expected) != 0)
		return fail(ps,
		            "%s\"expected_version\" is not a version >= 0, "
		            "\"any\", \"no_stream\" or \"exists\"",
		            where);
	if (json_object_get(obj, "events") != NULL &&
	    ct_span_member(span, "events", &evspan) != 0)
		return fail(ps, "%scannot locate \"events\"", where);
	return parse_events(ps, json_object_get(obj, "events"), evspan, where,
	                    w);
}

/* Count the events of every write, to size the arrays once. */
static size_t
count_events(json_t *writes)
{
	size_t i, total = 0;
	json_t *w;

	json_array_foreach(writes, i, w)
	{
		json_t *evs = json_object_get(w, "events");

		if (json_is_array(evs))
			total += json_array_size(evs);
	}
	return total;
}

static const char *const write_keys[] = {"stream", "expected_version", "events",
                                         NULL};

/* The "writes" array: tree arr, text span. */
static int
parse_writes(struct parse *ps, json_t *arr, struct ct_span span)
{
	struct cairnd_body *b = ps->body;
	struct ct_span_iter it;
	struct ct_span wspan;
	char where[48];
	json_t *w;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return fail(ps, "\"writes\" missing, empty or not an array");
	if (ct_span_iter_init(&it, span) != 0)
		return fail(ps, "cannot locate \"writes\"");
	b->has_writes = 1;
	b->writes = body_alloc(ps, json_array_size(arr) * sizeof(*b->writes));
	if (b->writes == NULL)
		return -1;
	json_array_foreach(arr, i, w)
	{
		snprintf(where, sizeof(where), "writes[%zu]", i);
		if (ct_span_iter_next(&it, &wspan) != 1)
			return fail(ps, "cannot locate %s", where);
		if (json_is_object(w) &&
		    check_keys(ps, w, where, write_keys) != 0)
			return -1;
		snprintf(where, sizeof(where), "writes[%zu].", i);
		if (parse_write(ps, w, wspan, where, NULL, &b->writes[i]) != 0)
			return -1;
		b->nwrites++;
	}
	return 0;
}

static const char *const item_keys[] = {"types", "tags", NULL};

static int
parse_query(struct parse *ps, json_t *arr)
{
	struct cairnd_body *b = ps->body;
	cairn_query_item *items;
	char where[48];
	json_t *it;
	size_t i;

	if (!json_is_array(arr))
		return fail(ps, "\"query\" missing or not an array");
	if (json_array_size(arr) > CAIRN_QUERY_ITEMS_MAX)
		return fail(ps, "\"query\" has more than %d items",
		            CAIRN_QUERY_ITEMS_MAX);
	items = body_alloc(ps, (json_array_size(arr) + 1) * sizeof(*items));
	if (items == NULL)
		return -1;
	json_array_foreach(arr, i, it)
	{
		snprintf(where, sizeof(where), "query[%zu]", i);
		if (!json_is_object(it))
			return fail(ps, "%s: not an object", where);
		if (check_keys(ps, it, where, item_keys) != 0)
			return -1;
		snprintf(where, sizeof(where), "query[%zu].types", i);
		if (string_array(ps, json_object_get(it, "types"),
		                 CAIRN_TAGS_MAX, where, &items[i].types,
		                 &items[i].ntypes) != 0)
			return -1;
		snprintf(where, sizeof(where), "query[%zu].tags", i);
		if (string_array(ps, json_object_get(it, "tags"),
		                 CAIRN_TAGS_MAX, where, &items[i].tags,
		                 &items[i].ntags) != 0)
			return -1;
	}
	b->query.items = items;
	b->query.nitems = json_array_size(arr);
	return 0;
}

static const char *const append_keys[] = {"expected_version", "events", NULL};
static const char *const multi_keys[] = {"writes", NULL};
static const char *const if_keys[] = {
        "query",  "after", "writes", "stream", "expected_version",
        "events", NULL};

/* POST /append-if: the query and after, then either "writes" or one
 * write given by "stream", "expected_version" and "events". */
static int
parse_append_if(struct parse *ps, json_t *root, struct ct_span all)
{
	struct cairnd_body *b = ps->body;
	json_t *after = json_object_get(root, "after");
	json_t *writes = json_object_get(root, "writes");
	struct ct_span span;

	if (parse_query(ps, json_object_get(root, "query")) != 0)
		return -1;
	if (after != NULL &&
	    (!json_is_integer(after) || json_integer_value(after) < 0))
		return fail(ps, "\"after\" is not a position >= 0");
	b->after = after ? (uint64_t)json_integer_value(after) : 0;
	if (writes != NULL) {
		if (json_object_get(root, "stream") ||
		    json_object_get(root, "events") ||
		    json_object_get(root, "expected_version"))
			return fail(ps, "give either \"writes\" or "
			                "\"stream\" and \"events\", not both");
		if (ct_span_member(all, "writes", &span) != 0)
			return fail(ps, "cannot locate \"writes\"");
		return parse_writes(ps, writes, span);
	}
	b->writes = body_alloc(ps, sizeof(*b->writes));
	if (b->writes == NULL)
		return -1;
	b->nwrites = 1;
	return parse_write(ps, root, all, "", NULL, b->writes);
}

/* Allocate the event and id arrays for every event of the body. */
static int
size_events(struct parse *ps, json_t *root, enum cairnd_body_kind kind)
{
	struct cairnd_body *b = ps->body;
	json_t *writes = json_object_get(root, "writes");
	size_t n;

	if (kind != CAIRND_BODY_APPEND && json_is_array(writes)) {
		n = count_events(writes);
	} else {
		json_t *evs = json_object_get(root, "events");

		n = json_is_array(evs) ? json_array_size(evs) : 0;
	}
	if (n > CAIRND_BODY_EVENTS_MAX)
		return fail(ps, "more than %d events in one request",
		            CAIRND_BODY_EVENTS_MAX);
	b->events = body_alloc(ps, n * sizeof(*b->events));
	b->ids = body_alloc(ps, n * sizeof(*b->ids));
	return b->events && b->ids ? 0 : -1;
}

int
cairnd_body_parse(const char *text, size_t len, enum cairnd_body_kind kind,
                  const char *stream, struct cairnd_body *body,
                  struct cairnd_body_error *err)
{
	struct parse ps = {body, err, 0};
	struct ct_span all = {text, len}, span;
	json_error_t jerr;
	json_t *root;
	int rc = -1;

	memset(body, 0, sizeof(*body));
	/* JSON text never holds a raw NUL (RFC 8259: outside strings only
	 * whitespace, inside them control characters are escaped), but the
	 * parser takes one between tokens for the end of a value; payloads
	 * are stored as their own text, so refuse it here. */
	if (memchr(text, '\0', len) != NULL) {
		err->code = "malformed_json";
		snprintf(err->message, sizeof(err->message),
		         "not valid JSON: a NUL byte at offset %zu",
		         (size_t)((const char *)memchr(text, '\0', len) - text));
		return -1;
	}
	root = json_loadb(text, len, CT_JSON_PARSE_FLAGS, &jerr);
	if (root == NULL) {
		err->code = "malformed_json";
		snprintf(err->message, sizeof(err->message),
		         "not valid JSON: %s (line %d, column %d)", jerr.text,
		         jerr.line, jerr.column);
		return -1;
	}
	body->root = root;
	if (!json_is_object(root)) {
		fail(&ps, "the body is not a JSON object");
		goto out;
	}
	if (check_keys(&ps, root, "body",
	               kind == CAIRND_BODY_APPEND  ? append_keys
	               : kind == CAIRND_BODY_MULTI ? multi_keys
	                                           : if_keys) != 0 ||
	    size_events(&ps, root, kind) != 0)
		goto out;
	switch (kind) {
	case CAIRND_BODY_APPEND:
		body->writes = body_alloc(&ps, sizeof(*body->writes));
		if (body->writes == NULL)
			goto out;
		body->nwrites = 1;
		rc = parse_write(&ps, root, all, "", stream, body->writes);
		break;
	case CAIRND_BODY_MULTI:
		if (ct_span_member(all, "writes", &span) != 0) {
			fail(&ps, "\"writes\" missing");
			goto out;
		}
		rc = parse_writes(&ps, json_object_get(root, "writes"), span);
		break;
	case CAIRND_BODY_APPEND_IF:
		rc = parse_append_if(&ps, root, all);
		break;
	}
out:
	if (rc != 0) {
		cairnd_body_free(body);
		return ps.nomem ? -2 : -1;
	}
	return 0;
}

void
cairnd_body_free(struct cairnd_body *body)
{
	size_t i;

	for (i = 0; i < body->nallocs; i++)
		free(body->allocs[i]);
	free(body->allocs);
	json_decref(body->root);
	memset(body, 0, sizeof(*body));
}
