/*
 * todo.h -- todo lists on cairn: the write side (commands and events).
 *
 * Every list is one stream, "todo-list-<list id>", holding its whole
 * history.  Five event types, each a compact JSON object:
 *
 *   ListCreated    {"list":"L","name":"N"}
 *   ItemAdded      {"list":"L","item":"I","name":"N"}
 *   ItemRenamed    {"list":"L","item":"I","name":"N"}
 *   ItemCompleted  {"list":"L","item":"I"}
 *   ListArchived   {"list":"L"}
 *
 * One stream per list makes every rule a decision about one stream:
 * cairn_execute() reads it, the command decides, and the append expects
 * the version that was read, so two racing commands cannot both pass a
 * rule that only one of them may pass.
 *
 * Ids are chosen by the client: a list id, an item id, and a request id
 * (a UUID) that becomes the id of the one event the command writes.  A
 * request sent twice finds its event already in the stream and writes
 * nothing the second time: retries are safe.
 */
#ifndef TODO_H
#define TODO_H

#include "cairn.h"

#include <stddef.h>

#define TODO_STREAM_PREFIX "todo-list-"
/* Bytes of a list or item id: 1..64 of [A-Za-z0-9_.-], so that an id is
 * a path segment of the HTTP API and part of a stream id as it is. */
#define TODO_ID_MAX 64
/* A name is 1..200 characters: Unicode code points of valid UTF-8, not
 * bytes ("é" is one character, two bytes), no control characters. */
#define TODO_NAME_MAX 200

enum todo_op {
	TODO_CREATE_LIST,
	TODO_ADD_ITEM,
	TODO_RENAME_ITEM,
	TODO_COMPLETE_ITEM,
	TODO_ARCHIVE_LIST
};

/* Why a command was rejected: the HTTP status follows from it. */
enum todo_why {
	TODO_WHY_NONE = 0,
	TODO_WHY_NOT_FOUND, /* unknown list or item (404) */
	TODO_WHY_STATE,     /* the list or item is in the wrong state (409) */
	TODO_WHY_NAME       /* a name breaks the name rules (422) */
};

/* What the client asks for. */
struct todo_request {
	enum todo_op op;
	const char *list;   /* always */
	const char *item;   /* add, rename, complete; else NULL */
	const char *name;   /* create, add, rename; else NULL */
	cairn_uuid request; /* the id of the event the command writes */
};

/* A command's data and the state its stream folds into.  Fill it with
 * todo_command_init(); it is what cairn_command.ctx points to. */
struct todo_exec {
	const struct todo_request *rq;
	char stream[CAIRN_STREAM_ID_MAX + 1];
	const char *streams[1];
	char data[2048]; /* the event's JSON, built before executing */
	const char *type;
	/* state, rebuilt from the list's events on every attempt */
	int list_exists, list_archived;
	int item_exists, item_completed;
	uint64_t seen_position; /* our request's event, if already there */
	char seen_type[CAIRN_TYPE_MAX + 1];
	/* the outcome */
	enum todo_why why;
};

/* 1 when id is a valid list or item id, else 0. */
int todo_id_valid(const char *id);

/* The stream of list id into buf.  Returns CAIRN_OK or
 * CAIRN_INVALID_STREAM. */
cairn_status todo_stream_name(const char *list, char *buf, size_t size);

/* The event type a command writes ("ListCreated", ...). */
const char *todo_event_type(enum todo_op op);

/* Prepare x and *cmd to run rq (which must outlive both).  Returns
 * CAIRN_OK, or CAIRN_INVALID for a malformed list or item id. */
cairn_status todo_command_init(struct todo_exec *x,
                               const struct todo_request *rq,
                               cairn_command *cmd);

/* Run rq against st.  On CAIRN_OK *position is the position of the
 * command's event (also when an earlier send of the same request wrote
 * it: *replayed is then 1).  On CAIRN_REJECTED, *why says which rule and
 * result->message how.  Otherwise the statuses of cairn_execute(), and
 * CAIRN_INVALID for malformed ids. */
cairn_status todo_execute(cairn_store *st, const struct todo_request *rq,
                          cairn_exec_result *result, uint64_t *position,
                          int *replayed, enum todo_why *why);

#endif /* TODO_H */
