/*
 * todo_test.c -- the todo commands and the read model.
 *
 *   1. every command and every rule as a given / when / then scenario
 *      (cairn/testing.h): given these events in the list's stream, when
 *      this command runs, then it writes this event, or is rejected with
 *      this message (and this reason, which picks the HTTP status);
 *   2. retries: a request sent again writes nothing and answers the
 *      position of the first send;
 *   3. the projection on an lmdb store: the read model it builds, resumed
 *      after a restart without applying an event twice, and rebuilt from
 *      scratch to the same thing.
 *
 * Exit status 0 when every check held; 1 otherwise, naming each failure.
 */
#include "readmodel.h"
#include "tmpstore.h"
#include "todo.h"

#include <cairn/testing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

/* A given event of list l1. */
#define G(t, d)                                                                \
	{                                                                      \
		"todo-list-l1",                                                \
		{                                                              \
			.type = t, .data = d, .data_len = sizeof d - 1         \
		}                                                              \
	}

static const cairn_given_event created[] = {
        G("ListCreated", "{\"list\":\"l1\",\"name\":\"Home\"}"),
};
static const cairn_given_event with_item[] = {
        G("ListCreated", "{\"list\":\"l1\",\"name\":\"Home\"}"),
        G("ItemAdded", "{\"list\":\"l1\",\"item\":\"i1\",\"name\":\"Milk\"}"),
};
static const cairn_given_event completed[] = {
        G("ListCreated", "{\"list\":\"l1\",\"name\":\"Home\"}"),
        G("ItemAdded", "{\"list\":\"l1\",\"item\":\"i1\",\"name\":\"Milk\"}"),
        G("ItemCompleted", "{\"list\":\"l1\",\"item\":\"i1\"}"),
};
static const cairn_given_event archived[] = {
        G("ListCreated", "{\"list\":\"l1\",\"name\":\"Home\"}"),
        G("ItemAdded", "{\"list\":\"l1\",\"item\":\"i1\",\"name\":\"Milk\"}"),
        G("ListArchived", "{\"list\":\"l1\"}"),
};
#define N(a) (sizeof a / sizeof a[0])

/* Given, when rq, then one event of type with data (type NULL: no event
 * at all), or the rejection (not NULL) for the reason why. */
static void
scenario(int line, const cairn_given_event *given, size_t ngiven,
         const struct todo_request *rq, const char *type, const char *data,
         const char *rejection, enum todo_why why)
{
	cairn_expected_event then = {0};
	struct todo_exec x;
	cairn_command cmd;
	char report[2048];
	cairn_test_outcome out;

	if (todo_command_init(&x, rq, &cmd) != CAIRN_OK) {
		CHECK(0, "line %d: todo_command_init failed", line);
		return;
	}
	then.stream = x.stream;
	then.type = type;
	then.data = data;
	then.data_len = data != NULL ? strlen(data) : 0;
	out = cairn_test_given_when_then(
	        given, ngiven, &cmd, type != NULL ? &then : NULL,
	        type != NULL ? 1 : 0, rejection, report, sizeof report);
	CHECK(out == CAIRN_TEST_PASS, "scenario at line %d:\n%s", line, report);
	CHECK(x.why == why, "scenario at line %d: reason %d, wanted %d", line,
	      (int)x.why, (int)why);
}

#define THEN(given, rq, type, data)                                            \
	scenario(__LINE__, given, N(given), rq, type, data, NULL, TODO_WHY_NONE)
#define REJECTED(given, rq, msg, why)                                          \
	scenario(__LINE__, given, N(given), rq, NULL, NULL, msg, why)

static struct todo_request
req(enum todo_op op, const char *list, const char *item, const char *name)
{
	struct todo_request rq = {op, list, item, name, {{0}}};

	cairn_uuid_generate(&rq.request);
	return rq;
}

static void
test_commands(void)
{
	struct todo_request rq;

	/* create a list */
	rq = req(TODO_CREATE_LIST, "l1", NULL, "Home");
	scenario(__LINE__, NULL, 0, &rq, "ListCreated",
	         "{\"list\":\"l1\",\"name\":\"Home\"}", NULL, TODO_WHY_NONE);
	REJECTED(created, &rq, "list l1 exists already", TODO_WHY_STATE);

	/* add an item */
	rq = req(TODO_ADD_ITEM, "l1", "i2", "Bread");
	THEN(with_item, &rq, "ItemAdded",
	     "{\"list\":\"l1\",\"item\":\"i2\",\"name\":\"Bread\"}");
	scenario(__LINE__, NULL, 0, &rq, NULL, NULL, "no list l1",
	         TODO_WHY_NOT_FOUND);
	REJECTED(archived, &rq, "list l1 is archived", TODO_WHY_STATE);
	rq.item = "i1";
	REJECTED(with_item, &rq, "item i1 exists already in list l1",
	         TODO_WHY_STATE);

	/* rename an item (a completed one too) */
	rq = req(TODO_RENAME_ITEM, "l1", "i1", "Oat milk");
	THEN(with_item, &rq, "ItemRenamed",
	     "{\"list\":\"l1\",\"item\":\"i1\",\"name\":\"Oat milk\"}");
	THEN(completed, &rq, "ItemRenamed",
	     "{\"list\":\"l1\",\"item\":\"i1\",\"name\":\"Oat milk\"}");
	REJECTED(archived, &rq, "list l1 is archived", TODO_WHY_STATE);
	rq.item = "i9";
	REJECTED(with_item, &rq, "no item i9 in list l1", TODO_WHY_NOT_FOUND);

	/* complete an item, once */
	rq = req(TODO_COMPLETE_ITEM, "l1", "i1", NULL);
	THEN(with_item, &rq, "ItemCompleted",
	     "{\"list\":\"l1\",\"item\":\"i1\"}");
	REJECTED(completed, &rq, "item i1 is completed already",
	         TODO_WHY_STATE);
	REJECTED(archived, &rq, "list l1 is archived", TODO_WHY_STATE);
	rq.item = "i9";
	REJECTED(with_item, &rq, "no item i9 in list l1", TODO_WHY_NOT_FOUND);

	/* archive a list, once */
	rq = req(TODO_ARCHIVE_LIST, "l1", NULL, NULL);
	THEN(with_item, &rq, "ListArchived", "{\"list\":\"l1\"}");
	REJECTED(archived, &rq, "list l1 is archived already", TODO_WHY_STATE);
	scenario(__LINE__, NULL, 0, &rq, NULL, NULL, "no list l1",
	         TODO_WHY_NOT_FOUND);
}

static void
test_names(void)
{
	char name[1024], data[1200];
	struct todo_request rq;
	size_t i;

	/* 200 characters of two bytes each: the limit counts characters */
	for (i = 0; i < 200; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2); /* é */
	name[400] = '\0';
	rq = req(TODO_ADD_ITEM, "l1", "i2", name);
	snprintf(data, sizeof data,
	         "{\"list\":\"l1\",\"item\":\"i2\",\"name\":\"%s\"}", name);
	THEN(created, &rq, "ItemAdded", data);

	memset(name, 'a', 201);
	name[201] = '\0';
	REJECTED(created, &rq, "name must be 1 to 200 characters, not 201",
	         TODO_WHY_NAME);
	rq.name = "";
	REJECTED(created, &rq, "name must be 1 to 200 characters, not 0",
	         TODO_WHY_NAME);
	rq.name = "bad \xff byte";
	REJECTED(created, &rq, "not valid UTF-8", TODO_WHY_NAME);
	rq.name = "\xc0\xaf"; /* an overlong "/" */
	REJECTED(created, &rq, "not valid UTF-8", TODO_WHY_NAME);
	rq.name = "tab\there";
	REJECTED(created, &rq, "control characters", TODO_WHY_NAME);

	/* the other commands that carry a name check it the same way */
	rq = req(TODO_CREATE_LIST, "l2", NULL, "");
	scenario(__LINE__, created, 0, &rq, NULL, NULL, "name must be",
	         TODO_WHY_NAME);
	rq = req(TODO_RENAME_ITEM, "l1", "i1", name);
	REJECTED(with_item, &rq, "not 201", TODO_WHY_NAME);

	/* malformed ids never reach the store */
	{
		struct todo_exec x;
		cairn_command cmd;

		rq = req(TODO_CREATE_LIST, "no/slash", NULL, "x");
		CHECK(todo_command_init(&x, &rq, &cmd) == CAIRN_INVALID,
		      "a list id with a slash");
		rq = req(TODO_ADD_ITEM, "l1", "", "x");
		CHECK(todo_command_init(&x, &rq, &cmd) == CAIRN_INVALID,
		      "an empty item id");
	}
}

/* A request whose event is in the stream already writes nothing, even
 * where the rules would now reject it; the same request id on another
 * command is refused. */
static void
test_resend(void)
{
	static const cairn_uuid rid = {{0x6b, 0x1f, 0x2c, 0x3d, 0x11, 0x22,
	                                0x43, 0x44, 0x95, 0x66, 0x77, 0x88,
	                                0x99, 0xaa, 0xbb, 0xcc}};
	const cairn_given_event done[] = {
	        G("ListCreated", "{\"list\":\"l1\",\"name\":\"Home\"}"),
	        G("ItemAdded",
	          "{\"list\":\"l1\",\"item\":\"i1\",\"name\":\"Milk\"}"),
	        {"todo-list-l1",
	         {.type = "ItemCompleted",
	          .data = "{\"list\":\"l1\",\"item\":\"i1\"}",
	          .data_len = 25,
	          .id = &rid}},
	};
	struct todo_request rq = req(TODO_COMPLETE_ITEM, "l1", "i1", NULL);

	rq.request = rid;
	scenario(__LINE__, done, N(done), &rq, NULL, NULL, NULL, TODO_WHY_NONE);
	rq = req(TODO_ARCHIVE_LIST, "l1", NULL, NULL);
	rq.request = rid;
	REJECTED(done, &rq, "request id already used for a ItemCompleted",
	         TODO_WHY_STATE);
}

/* ------------------------------------------------------------------------
 * The read model
 * ------------------------------------------------------------------------ */

static uint64_t
run(cairn_store *st, enum todo_op op, const char *list, const char *item,
    const char *name)
{
	struct todo_request rq = req(op, list, item, name);
	cairn_exec_result res;
	enum todo_why why;
	uint64_t pos;
	int replayed;
	cairn_status rc;

	rc = todo_execute(st, &rq, &res, &pos, &replayed, &why);
	CHECK(rc == CAIRN_OK, "%s %s: %s %s", todo_event_type(op), list,
	      cairn_status_str(rc), res.message);
	return pos;
}

/* Catch the read model up with st, as the program does at start. */
static void
catch_up(cairn_store *st, struct todo_readmodel *rm)
{
	cairn_projection *p;
	cairn_status rc = readmodel_projection(st, rm, &p);

	CHECK(rc == CAIRN_OK, "projection: %s", cairn_last_error());
	if (rc != CAIRN_OK)
		return;
	rc = cairn_projection_catch_up(p);
	CHECK(rc == CAIRN_OK, "catch up: %s %s", cairn_status_str(rc),
	      cairn_last_error());
	cairn_projection_close(p);
}

/* The whole read model as one string: GET /lists and GET /lists/l1. */
static char *
snapshot(struct todo_readmodel *rm)
{
	char *a = readmodel_lists_json(rm), *b, *all;
	int found;
	size_t len;

	b = readmodel_list_json(rm, "l1", &found);
	if (a == NULL || b == NULL) {
		CHECK(0, "read model queries failed");
		free(a);
		free(b);
		return NULL;
	}
	len = strlen(a) + strlen(b) + 2;
	all = malloc(len);
	if (all != NULL)
		snprintf(all, len, "%s\n%s", a, b);
	free(a);
	free(b);
	return all;
}

static void
test_projection(void)
{
	struct tmpstore ts;
	struct todo_readmodel rm;
	char path[TMPSTORE_PATH_MAX + 16];
	char *before, *after;
	uint64_t head, pos;
	struct todo_request rq;
	cairn_exec_result res;
	enum todo_why why;
	int replayed;

	if (tmpstore_open(&ts, "lmdb", "cairn-todo-test") != 0) {
		failures++;
		return;
	}
	snprintf(path, sizeof path, "%s/read.db", ts.dir);
	if (readmodel_open(&rm, path) != 0) {
		failures++;
		tmpstore_close(&ts);
		return;
	}
	run(ts.st, TODO_CREATE_LIST, "l1", NULL, "Home");
	run(ts.st, TODO_ADD_ITEM, "l1", "i1", "Milk");
	run(ts.st, TODO_ADD_ITEM, "l1", "i2", "Bread");
	catch_up(ts.st, &rm);
	before = snapshot(&rm);
	CHECK(before != NULL &&
	              strcmp(before,
	                     "{\"position\":3,\"lists\":[{\"id\":\"l1\","
	                     "\"name\":\"Home\",\"archived\":false,"
	                     "\"items\":2,\"done\":0}]}\n"
	                     "{\"position\":3,\"id\":\"l1\",\"name\":\"Home\","
	                     "\"archived\":false,\"items\":["
	                     "{\"id\":\"i1\",\"name\":\"Milk\",\"done\":false},"
	                     "{\"id\":\"i2\",\"name\":\"Bread\","
	                     "\"done\":false}]}") == 0,
	      "read model:\n%s", before ? before : "(null)");
	free(before);

	/* a second runner resumes after the read model's position: the
	 * INSERTs of the first three events would fail if it replayed
	 * them */
	run(ts.st, TODO_RENAME_ITEM, "l1", "i1", "Oat milk");
	run(ts.st, TODO_COMPLETE_ITEM, "l1", "i1", NULL);
	run(ts.st, TODO_CREATE_LIST, "l2", NULL, "Work");
	pos = run(ts.st, TODO_ARCHIVE_LIST, "l2", NULL, NULL);
	catch_up(ts.st, &rm);
	cairn_head(ts.st, &head);
	CHECK(rm.position == head && pos == head,
	      "read model at %llu, head %llu, archive at %llu",
	      (unsigned long long)rm.position, (unsigned long long)head,
	      (unsigned long long)pos);
	CHECK(readmodel_wait(&rm, head, 10) == 0, "wait for the head");
	CHECK(readmodel_wait(&rm, head + 1, 50) != 0, "wait past the head");

	/* resending the last request answers its position, writes nothing */
	rq = req(TODO_COMPLETE_ITEM, "l1", "i2", NULL);
	CHECK(todo_execute(ts.st, &rq, &res, &pos, &replayed, &why) ==
	                      CAIRN_OK &&
	              !replayed && pos == head + 1,
	      "complete i2");
	CHECK(todo_execute(ts.st, &rq, &res, &pos, &replayed, &why) ==
	                      CAIRN_OK &&
	              replayed && pos == head + 1,
	      "resent complete i2: replayed %d at %llu", replayed,
	      (unsigned long long)pos);
	cairn_head(ts.st, &head);
	CHECK(head == pos, "the resend wrote something: head %llu",
	      (unsigned long long)head);
	/* the same request id on another list's stream: not ours */
	{
		cairn_uuid used = rq.request;

		rq = req(TODO_CREATE_LIST, "l3", NULL, "Garden");
		rq.request = used;
	}
	CHECK(todo_execute(ts.st, &rq, &res, &pos, &replayed, &why) ==
	              CAIRN_CONFLICT,
	      "a request id reused on another list");

	/* rebuilt from nothing, the read model comes out the same */
	catch_up(ts.st, &rm);
	before = snapshot(&rm);
	CHECK(readmodel_drop(&rm) == 0 && rm.position == 0, "drop");
	catch_up(ts.st, &rm);
	after = snapshot(&rm);
	CHECK(before != NULL && after != NULL && strcmp(before, after) == 0,
	      "rebuilt read model differs:\n%s\n%s", before ? before : "",
	      after ? after : "");
	CHECK(after != NULL && strstr(after, "\"name\":\"Oat milk\","
	                                     "\"done\":true") != NULL,
	      "renamed, completed item: %s", after ? after : "");
	free(before);
	free(after);
	readmodel_close(&rm);
	tmpstore_close(&ts);
}

int
main(void)
{
	test_commands();
	test_names();
	test_resend();
	test_projection();
	if (failures > 0) {
		fprintf(stderr, "todo_test: %d check(s) failed\n", failures);
		return 1;
	}
	printf("todo_test: ok\n");
	return 0;
}
