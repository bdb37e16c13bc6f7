/*
 * todo_main.c -- the todo program: an HTTP/JSON API over the todo
 * commands (todo.c) and the read model (readmodel.c).
 *
 *     todo [--store URI] [--read-db PATH] [--listen ADDR] [--port N]
 *     todo [--store URI] [--read-db PATH] --rebuild
 *
 * Commands are POSTs, run with cairn_execute() on the event store;
 * queries are GETs, answered from the SQLite read model that a
 * projection keeps up to date in a thread of its own.  README.md has the
 * routes and a walk-through.
 */
#include "readmodel.h"
#include "todo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_MAX 65536 /* bytes of a request body */
#define WAIT_MS 5000   /* how long a GET waits for ?min_position= */
#define PATH_SEGS_MAX 6

struct app {
	cairn_store *st;
	struct todo_readmodel rm;
	cairn_projection *proj;
	volatile sig_atomic_t failed; /* the projection stopped on an error */
};

/* One HTTP request: its body, gathered as it arrives. */
struct req {
	char *body;
	size_t len;
	int too_large;
};

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

/* Queue text (taken: freed here) as a JSON reply. */
static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, char *text,
      uint64_t position, const char *position_header)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char num[32];

	if (text == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text,
	                                       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (position_header != NULL) {
		snprintf(num, sizeof num, "%llu", (unsigned long long)position);
		MHD_add_response_header(resp, position_header, num);
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* {"error":code,"message":message} with status. */
static enum MHD_Result
reply_error(struct MHD_Connection *conn, unsigned status, const char *code,
            const char *message)
{
	json_t *o = json_pack("{s:s, s:s}", "error", code, "message", message);
	char *text = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return reply(conn, status, text, 0, NULL);
}

/* ------------------------------------------------------------------------
 * Commands: POST
 * ------------------------------------------------------------------------ */

/* A string field of the body, or NULL when absent; -1 in *bad when it is
 * there but not a string. */
static const char *
field(json_t *body, const char *key, int *bad)
{
	json_t *v = json_object_get(body, key);

	if (v != NULL && !json_is_string(v))
		*bad = 1;
	return json_string_value(v);
}

static enum MHD_Result
command(struct app *app, struct MHD_Connection *conn, struct req *r,
        enum todo_op op, const char *list, const char *item)
{
	struct todo_request rq = {op, list, item, NULL, {{0}}};
	const char *request_id, *id = NULL;
	json_error_t jerr;
	cairn_exec_result res;
	enum todo_why why;
	uint64_t position;
	int replayed, bad = 0;
	json_t *body;
	cairn_status rc;
	enum MHD_Result ret;
	char msg[300];

	/* an empty body is an empty object: complete and archive need no
	 * fields */
	body = r->len == 0 ? json_object()
	                   : json_loadb(r->body, r->len, 0, &jerr);
	if (body == NULL || !json_is_object(body)) {
		snprintf(msg, sizeof msg, "the body is not a JSON object%s%s",
		         body == NULL ? ": " : "",
		         body == NULL ? jerr.text : "");
		json_decref(body);
		return reply_error(conn, 400, "bad_request", msg);
	}
	if (op == TODO_CREATE_LIST)
		rq.list = id = field(body, "id", &bad);
	if (op == TODO_ADD_ITEM)
		rq.item = id = field(body, "id", &bad);
	if (op == TODO_CREATE_LIST || op == TODO_ADD_ITEM ||
	    op == TODO_RENAME_ITEM) {
		rq.name = field(body, "name", &bad);
		if (rq.name == NULL)
			bad = 1;
	}
	request_id = field(body, "request_id", &bad);
	if (bad ||
	    ((op == TODO_CREATE_LIST || op == TODO_ADD_ITEM) && id == NULL)) {
		json_decref(body);
		return reply_error(conn, 400, "bad_request",
		                   "missing or malformed field: see the "
		                   "routes in README.md");
	}
	if (!todo_id_valid(rq.list) || (rq.item && !todo_id_valid(rq.item))) {
		json_decref(body);
		return reply_error(conn, 400, "bad_request",
		                   "ids are 1..64 of A-Z a-z 0-9 _ . -");
	}
	/* the request id becomes the event's id: a resend of the same
	 * request is recognised and writes nothing */
	if (request_id != NULL &&
	    cairn_uuid_parse(request_id, &rq.request) != CAIRN_OK) {
		json_decref(body);
		return reply_error(conn, 400, "bad_request",
		                   "request_id must be a UUID");
	}
	if (request_id == NULL && cairn_uuid_generate(&rq.request)) {
		json_decref(body);
		return reply_error(conn, 500, "internal", "no randomness");
	}
	rc = todo_execute(app->st, &rq, &res, &position, &replayed, &why);
	json_decref(body); /* rq's strings pointed into it */
	if (rc == CAIRN_OK) {
		json_t *o =
		        json_pack("{s:I, s:b}", "position",
		                  (json_int_t)position, "replayed", replayed);
		char *text = json_dumps(o, JSON_COMPACT);

		json_decref(o);
		return reply(conn,
		             op == TODO_CREATE_LIST || op == TODO_ADD_ITEM
		                     ? 201
		                     : 200,
		             text, position, "Todo-Position");
	}
	if (rc == CAIRN_REJECTED) {
		unsigned status = why == TODO_WHY_NOT_FOUND ? 404
		                  : why == TODO_WHY_NAME    ? 422
		                                            : 409;
		const char *code = why == TODO_WHY_NOT_FOUND ? "not_found"
		                   : why == TODO_WHY_NAME    ? "invalid_name"
		                                             : "conflict";

		return reply_error(conn, status, code, res.message);
	}
	snprintf(msg, sizeof msg, "%s: %s", cairn_status_str(rc),
	         cairn_last_error());
	if (rc == CAIRN_CONFLICT) /* the request id is some other event's */
		ret = reply_error(conn, 409, "conflict", msg);
	else if (rc == CAIRN_RETRIES_EXHAUSTED)
		ret = reply_error(conn, 503, "busy", msg);
	else
		ret = reply_error(conn, 500, "internal", msg);
	return ret;
}

/* ------------------------------------------------------------------------
 * Queries: GET, from the read model
 * ------------------------------------------------------------------------ */

static enum MHD_Result
query(struct app *app, struct MHD_Connection *conn, const char *list)
{
	const char *min = MHD_lookup_connection_value(
	        conn, MHD_GET_ARGUMENT_KIND, "min_position");
	unsigned long long want = 0;
	char *text, *end, msg[160];
	int found = 1;

	if (min != NULL) {
		errno = 0;
		want = strtoull(min, &end, 10);
		if (min[0] < '0' || min[0] > '9' || *end != '\0' || errno)
			return reply_error(conn, 400, "bad_request",
			                   "min_position must be a number");
		/* read your own writes: wait for the projection to
		 * catch up with the position a POST returned */
		if (readmodel_wait(&app->rm, want, WAIT_MS) != 0) {
			snprintf(msg, sizeof msg,
			         "the read model has not reached position %llu "
			         "within %d ms; try again",
			         want, WAIT_MS);
			return reply_error(conn, 503, "behind", msg);
		}
	}
	if (list == NULL)
		text = readmodel_lists_json(&app->rm);
	else if (!todo_id_valid(list))
		found = 0, text = NULL;
	else
		text = readmodel_list_json(&app->rm, list, &found);
	if (!found) {
		snprintf(msg, sizeof msg, "no list %.64s", list);
		return reply_error(conn, 404, "not_found", msg);
	}
	if (text == NULL)
		return reply_error(conn, 500, "internal",
		                   "the read model could not be read");
	return reply(conn, 200, text, 0, NULL);
}

/* ------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------ */

static enum MHD_Result
route(struct app *app, struct MHD_Connection *conn, const char *url,
      const char *method, struct req *r)
{
	char path[512], *seg[PATH_SEGS_MAX], *s;
	int n = 0, get = strcmp(method, "GET") == 0;
	int post = strcmp(method, "POST") == 0;

	if (strlen(url) >= sizeof path || url[0] != '/')
		return reply_error(conn, 404, "not_found", "no such route");
	memcpy(path, url, strlen(url) + 1);
	/* "/lists/ID/items" -> {"lists", "ID", "items"}; an empty segment
	 * ("//", a trailing "/") is no route */
	for (s = path + 1; n < PATH_SEGS_MAX; s++) {
		seg[n++] = s;
		s = strchr(s, '/');
		if (s == NULL)
			break;
		*s = '\0';
	}
	for (int i = 0; i < n; i++)
		if (seg[i][0] == '\0')
			s = path; /* marks "no route" */
	if (s != NULL || strcmp(seg[0], "lists") != 0)
		return reply_error(conn, 404, "not_found", "no such route");
	if (r->too_large)
		return reply_error(conn, 413, "too_large",
		                   "the body is over 64 KiB");
	if (n == 1 && get)
		return query(app, conn, NULL);
	if (n == 1 && post)
		return command(app, conn, r, TODO_CREATE_LIST, NULL, NULL);
	if (n == 2 && get)
		return query(app, conn, seg[1]);
	if (n == 3 && post && strcmp(seg[2], "items") == 0)
		return command(app, conn, r, TODO_ADD_ITEM, seg[1], NULL);
	if (n == 3 && post && strcmp(seg[2], "archive") == 0)
		return command(app, conn, r, TODO_ARCHIVE_LIST, seg[1], NULL);
	if (n == 5 && post && strcmp(seg[2], "items") == 0 &&
	    strcmp(seg[4], "rename") == 0)
		return command(app, conn, r, TODO_RENAME_ITEM, seg[1], seg[3]);
	if (n == 5 && post && strcmp(seg[2], "items") == 0 &&
	    strcmp(seg[4], "complete") == 0)
		return command(app, conn, r, TODO_COMPLETE_ITEM, seg[1],
		               seg[3]);
	if (n <= 2 || (n == 3 && strcmp(seg[2], "archive") == 0) || n == 5)
		return reply_error(conn, 405, "method_not_allowed",
		                   "GET /lists[/ID], POST for commands");
	return reply_error(conn, 404, "not_found", "no such route");
}

/* libmicrohttpd calls this once when the headers are in, then once per
 * piece of the body, then once more with nothing left to upload. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;

	(void)version;
	if (r == NULL) {
		r = calloc(1, sizeof *r);
		*con_cls = r;
		return r != NULL ? MHD_YES : MHD_NO;
	}
	if (*upload_size > 0) {
		if (r->len + *upload_size > BODY_MAX) {
			r->too_large = 1; /* say so once it is all in */
		} else {
			char *grown = realloc(r->body, r->len + *upload_size);

			if (grown == NULL)
				return MHD_NO;
			memcpy(grown + r->len, upload, *upload_size);
			r->body = grown;
			r->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return route(cls, conn, url, method, r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r != NULL)
		free(r->body);
	free(r);
	*con_cls = NULL;
}

/* ------------------------------------------------------------------------
 * The program
 * ------------------------------------------------------------------------ */

static void *
project(void *arg)
{
	struct app *app = arg;
	cairn_status rc = cairn_projection_run(app->proj);

	if (rc != CAIRN_OK) {
		fprintf(stderr, "todo: the projection stopped: %s: %s\n",
		        cairn_status_str(rc), cairn_last_error());
		/* main waits for a signal: this one ends the program */
		app->failed = 1;
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

static int
open_projection(struct app *app)
{
	cairn_status rc = readmodel_projection(app->st, &app->rm, &app->proj);

	if (rc != CAIRN_OK) {
		fprintf(stderr, "todo: projection: %s: %s\n",
		        cairn_status_str(rc), cairn_last_error());
		if (rc == CAIRN_INVALID)
			fprintf(stderr, "todo: is the read model from "
			                "another store? try --rebuild\n");
		return -1;
	}
	return 0;
}

static int
rebuild(struct app *app, const char *read_db)
{
	uint64_t head = 0;
	cairn_status rc;

	if (readmodel_drop(&app->rm) != 0 || cairn_head(app->st, &head) ||
	    open_projection(app) != 0)
		return 1;
	fprintf(stderr, "rebuild: dropped %s; replaying up to position %llu\n",
	        read_db, (unsigned long long)head);
	app->rm.progress = stderr;
	app->rm.target = head;
	rc = cairn_projection_catch_up(app->proj);
	cairn_projection_close(app->proj);
	if (rc != CAIRN_OK) {
		fprintf(stderr, "rebuild: %s: %s\n", cairn_status_str(rc),
		        cairn_last_error());
		return 1;
	}
	fprintf(stderr, "rebuild: done, read model at position %llu\n",
	        (unsigned long long)app->rm.position);
	return 0;
}

static int
serve(struct app *app, const char *listen, unsigned port)
{
	struct sockaddr_in sa;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	pthread_t thread;
	sigset_t sigs;
	int sig;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, listen, &sa.sin_addr) != 1) {
		fprintf(stderr, "todo: --listen %s: not an IPv4 address\n",
		        listen);
		return 2;
	}
	if (open_projection(app) != 0)
		return 1;
	/* SIGINT and SIGTERM go to sigwait() below, not to a thread that
	 * happens to run: block them before any thread starts */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (pthread_create(&thread, NULL, project, app) != 0) {
		cairn_projection_close(app->proj);
		return 1;
	}
	d = MHD_start_daemon(
	        MHD_USE_INTERNAL_POLLING_THREAD |
	                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
	        0, NULL, NULL, on_request, app, MHD_OPTION_SOCK_ADDR,
	        (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	        MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "todo: cannot listen on %s:%u\n", listen, port);
		app->failed = 1;
	} else {
		info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		printf("todo: listening on http://%s:%u\n", listen,
		       info != NULL ? info->port : port);
		fflush(stdout);
		sigwait(&sigs, &sig);
		MHD_stop_daemon(d); /* waits for the requests under way */
	}
	cairn_projection_stop(app->proj);
	pthread_join(thread, NULL);
	cairn_projection_close(app->proj);
	return app->failed ? 1 : 0;
}

static void
usage(FILE *f)
{
	fputs("usage: todo [--store URI] [--read-db PATH] [--listen ADDR]"
	      " [--port N]\n"
	      "       todo [--store URI] [--read-db PATH] --rebuild\n"
	      "  --store URI     event store (default lmdb:./todo-data)\n"
	      "  --read-db PATH  SQLite read model (default ./todo-read.db)\n"
	      "  --listen ADDR   IPv4 address (default 127.0.0.1)\n"
	      "  --port N        TCP port (default 8080; 0: any free one)\n"
	      "  --rebuild       drop the read model, replay the store, exit\n",
	      f);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"store", required_argument, NULL, 's'},
	        {"read-db", required_argument, NULL, 'r'},
	        {"listen", required_argument, NULL, 'l'},
	        {"port", required_argument, NULL, 'p'},
	        {"rebuild", no_argument, NULL, 'b'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0}};
	const char *uri = "lmdb:./todo-data", *read_db = "./todo-read.db";
	const char *listen = "127.0.0.1";
	unsigned long port = 8080;
	int c, do_rebuild = 0, status;
	struct app app;
	cairn_status rc;
	char *end;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			uri = optarg;
			break;
		case 'r':
			read_db = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'p':
			port = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port > 65535) {
				fprintf(stderr, "todo: bad --port %s\n",
				        optarg);
				return 2;
			}
			break;
		case 'b':
			do_rebuild = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	memset(&app, 0, sizeof app);
	rc = cairn_open(uri, NULL, &app.st);
	if (rc != CAIRN_OK) {
		fprintf(stderr, "todo: %s: %s: %s\n", uri, cairn_status_str(rc),
		        cairn_last_error());
		return 1;
	}
	if (readmodel_open(&app.rm, read_db) != 0) {
		cairn_close(app.st);
		return 1;
	}
	status = do_rebuild ? rebuild(&app, read_db)
	                    : serve(&app, listen, (unsigned)port);
	readmodel_close(&app.rm);
	cairn_close(app.st);
	return status;
}
