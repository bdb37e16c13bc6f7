/*
 * todo.c -- the todo commands: fold a list's events, check the rules,
 * write one event.  See README.md for a walk-through.
 */
#include "todo.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
todo_id_valid(const char *id)
{
	size_t n = 0;

	if (id == NULL)
		return 0;
	for (; id[n] != '\0'; n++) {
		char c = id[n];

		if (n >= TODO_ID_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return 0;
	}
	return n > 0;
}

cairn_status
todo_stream_name(const char *list, char *buf, size_t size)
{
	int n;

	if (!todo_id_valid(list))
		return CAIRN_INVALID_STREAM;
	n = snprintf(buf, size, "%s%s", TODO_STREAM_PREFIX, list);
	if (n < 0 || (size_t)n >= size)
		return CAIRN_INVALID_STREAM;
	return CAIRN_OK;
}

const char *
todo_event_type(enum todo_op op)
{
	switch (op) {
	case TODO_CREATE_LIST:
		return "ListCreated";
	case TODO_ADD_ITEM:
		return "ItemAdded";
	case TODO_RENAME_ITEM:
		return "ItemRenamed";
	case TODO_COMPLETE_ITEM:
		return "ItemCompleted";
	case TODO_ARCHIVE_LIST:
		return "ListArchived";
	}
	return "";
}

/* The number of characters (code points) of name, or -1 when it is not
 * valid UTF-8 or holds a control character.  Overlong forms, surrogates
 * and code points past U+10FFFF are invalid UTF-8. */
static long
utf8_chars(const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	long chars = 0;

	while (*s != '\0') {
		unsigned c = *s, cp, need;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return -1;
			s++;
			chars++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			cp = c & 0x1f;
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			cp = c & 0x0f;
			need = 2;
		} else if (c >= 0xf0 && c <= 0xf4) {
			cp = c & 0x07;
			need = 3;
		} else {
			return -1;
		}
		for (unsigned i = 1; i <= need; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((need == 2 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0x80 && cp < 0xa0))
			return -1;
		s += need + 1;
		chars++;
	}
	return chars;
}

/* ------------------------------------------------------------------------
 * The command: reset, apply (fold), handle (decide)
 * ------------------------------------------------------------------------ */

static cairn_status
todo_reset(void *ctx)
{
	struct todo_exec *x = ctx;

	x->list_exists = x->list_archived = 0;
	x->item_exists = x->item_completed = 0;
	x->seen_position = 0;
	x->seen_type[0] = '\0';
	x->why = TODO_WHY_NONE;
	return CAIRN_OK;
}

/* 1 when e's "item" field is item. */
static int
is_item(const cairn_event *e, const char *item, cairn_status *rc)
{
	json_t *o = json_loadb(e->data, e->data_len, 0, NULL);
	const char *v = json_string_value(json_object_get(o, "item"));
	int yes = v != NULL && strcmp(v, item) == 0;

	if (o == NULL || v == NULL)
		*rc = CAIRN_CORRUPT; /* we wrote it; it must parse */
	json_decref(o);
	return yes;
}

static cairn_status
todo_apply(void *ctx, const cairn_event *e)
{
	struct todo_exec *x = ctx;
	const char *item = x->rq->item;
	cairn_status rc = CAIRN_OK;

	/* An event carrying our request's id: this very request was
	 * executed before (the client is retrying). */
	if (memcmp(&e->id, &x->rq->request, sizeof e->id) == 0) {
		x->seen_position = e->position;
		snprintf(x->seen_type, sizeof x->seen_type, "%s", e->type);
	}
	if (strcmp(e->type, "ListCreated") == 0)
		x->list_exists = 1;
	else if (strcmp(e->type, "ListArchived") == 0)
		x->list_archived = 1;
	else if (item != NULL && strcmp(e->type, "ItemAdded") == 0)
		x->item_exists |= is_item(e, item, &rc);
	else if (item != NULL && strcmp(e->type, "ItemCompleted") == 0)
		x->item_completed |= is_item(e, item, &rc);
	/* ItemRenamed changes no rule's outcome; unknown types are a
	 * newer program's events, not ours to judge */
	return rc;
}

static cairn_status
reject(struct todo_exec *x, cairn_decision *d, enum todo_why why,
       const char *msg)
{
	x->why = why;
	return cairn_decision_reject(d, "%s", msg);
}

/* The event's data, as compact JSON with the fields in a fixed order (so
 * that tests may compare it byte for byte). */
static cairn_status
build_data(struct todo_exec *x)
{
	const struct todo_request *rq = x->rq;
	json_t *o = json_object();
	char *text;
	int n;

	json_object_set_new(o, "list", json_string(rq->list));
	if (rq->item != NULL)
		json_object_set_new(o, "item", json_string(rq->item));
	if (rq->name != NULL)
		json_object_set_new(o, "name", json_string(rq->name));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return CAIRN_NOMEM;
	n = snprintf(x->data, sizeof x->data, "%s", text);
	free(text);
	return n > 0 && (size_t)n < sizeof x->data ? CAIRN_OK : CAIRN_INVALID;
}

static cairn_status
todo_handle(void *ctx, cairn_decision *d)
{
	struct todo_exec *x = ctx;
	const struct todo_request *rq = x->rq;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	char msg[320];
	cairn_status rc;

	if (x->seen_position != 0) {
		if (strcmp(x->seen_type, x->type) == 0)
			return CAIRN_OK; /* done before: nothing to write */
		snprintf(msg, sizeof msg,
		         "request id already used for a %s event",
		         x->seen_type);
		return reject(x, d, TODO_WHY_STATE, msg);
	}
	if (rq->name != NULL) {
		long chars = utf8_chars(rq->name);

		if (chars < 0)
			return reject(x, d, TODO_WHY_NAME,
			              "name is not valid UTF-8 text (control "
			              "characters are not allowed)");
		if (chars < 1 || chars > TODO_NAME_MAX) {
			snprintf(msg, sizeof msg,
			         "name must be 1 to %d characters, not %ld",
			         TODO_NAME_MAX, chars);
			return reject(x, d, TODO_WHY_NAME, msg);
		}
	}
	if (rq->op == TODO_CREATE_LIST) {
		if (x->list_exists) {
			snprintf(msg, sizeof msg, "list %s exists already",
			         rq->list);
			return reject(x, d, TODO_WHY_STATE, msg);
		}
	} else if (!x->list_exists) {
		snprintf(msg, sizeof msg, "no list %s", rq->list);
		return reject(x, d, TODO_WHY_NOT_FOUND, msg);
	} else if (x->list_archived) {
		snprintf(msg, sizeof msg, "list %s is archived%s", rq->list,
		         rq->op == TODO_ARCHIVE_LIST ? " already" : "");
		return reject(x, d, TODO_WHY_STATE, msg);
	}
	if (rq->op == TODO_ADD_ITEM && x->item_exists) {
		snprintf(msg, sizeof msg, "item %s exists already in list %s",
		         rq->item, rq->list);
		return reject(x, d, TODO_WHY_STATE, msg);
	}
	if ((rq->op == TODO_RENAME_ITEM || rq->op == TODO_COMPLETE_ITEM) &&
	    !x->item_exists) {
		snprintf(msg, sizeof msg, "no item %s in list %s", rq->item,
		         rq->list);
		return reject(x, d, TODO_WHY_NOT_FOUND, msg);
	}
	if (rq->op == TODO_COMPLETE_ITEM && x->item_completed) {
		snprintf(msg, sizeof msg, "item %s is completed already",
		         rq->item);
		return reject(x, d, TODO_WHY_STATE, msg);
	}
	rc = build_data(x);
	if (rc != CAIRN_OK)
		return rc;
	ev.type = x->type;
	ev.data = x->data;
	ev.data_len = strlen(x->data);
	ev.id = &rq->request; /* what makes a resend recognisable */
	return cairn_decision_append(d, x->stream, &ev);
}

cairn_status
todo_command_init(struct todo_exec *x, const struct todo_request *rq,
                  cairn_command *cmd)
{
	int with_item = rq->op == TODO_ADD_ITEM || rq->op == TODO_RENAME_ITEM ||
	                rq->op == TODO_COMPLETE_ITEM;
	cairn_status rc;

	memset(x, 0, sizeof *x);
	memset(cmd, 0, sizeof *cmd);
	if (with_item != (rq->item != NULL) ||
	    (with_item && !todo_id_valid(rq->item)))
		return CAIRN_INVALID;
	rc = todo_stream_name(rq->list, x->stream, sizeof x->stream);
	if (rc != CAIRN_OK)
		return CAIRN_INVALID;
	x->rq = rq;
	x->type = todo_event_type(rq->op);
	x->streams[0] = x->stream;
	cmd->ctx = x;
	cmd->streams = x->streams;
	cmd->nstreams = 1;
	cmd->reset = todo_reset;
	cmd->apply = todo_apply;
	cmd->handle = todo_handle;
	return CAIRN_OK;
}

cairn_status
todo_execute(cairn_store *st, const struct todo_request *rq,
             cairn_exec_result *result, uint64_t *position, int *replayed,
             enum todo_why *why)
{
	struct todo_exec x;
	cairn_command cmd;
	cairn_status rc;

	memset(result, 0, sizeof *result);
	*position = 0;
	*replayed = 0;
	*why = TODO_WHY_NONE;
	rc = todo_command_init(&x, rq, &cmd);
	if (rc != CAIRN_OK)
		return rc;
	rc = cairn_execute(st, &cmd, NULL, result);
	*why = x.why;
	if (rc == CAIRN_OK && result->nevents == 0) {
		*position = x.seen_position;
		*replayed = 1;
	} else if (rc == CAIRN_OK) {
		*position = result->append.last_position;
	}
	return rc;
}
