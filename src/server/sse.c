/*
 * sse.c -- GET /subscribe as Server-Sent Events, POST
 * /subscriptions/{name}/ack and GET /subscriptions.
 *
 * Each subscriber is one connection thread blocked in cairn_sub_next()
 * inside the response callback: it wakes for a batch (one SSE message
 * per event, id = position), or after the heartbeat interval to send a
 * ": ping" comment.  While it waits it looks at its socket every
 * CAIRND_SSE_PROBE_MS (a peek, nothing is read): a client that closed
 * the connection ends the stream then, rather than when the next write
 * fails.  The live subscribers are kept in a list so that shutdown can
 * cairn_sub_stop() each, which wakes it at once to end its stream.
 *
 * Acknowledgments arrive on other connections, so they never touch the
 * subscriber's cairn_sub (one thread at a time); they move the stored
 * cursor with cairn_subs_reset(), forward only, serialised by ack_lock.
 * The subscriber itself never acknowledges, so it is not disturbed; the
 * next subscription under the name resumes after the cursor.
 *
 * The public API has no compare-and-set of a cursor by name, so an ack
 * is read (cairn_subs_get) then write (cairn_subs_reset): ack_lock makes
 * it atomic within this server, but a reset or delete by another process
 * (another cairnd, `cairn subs`) that lands between the two is
 * overwritten -- the cursor may then move back to this ack's position,
 * or a deleted cursor come back.  The window is that of two calls.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "server.h"

#define TYPES_MAX 64
/* How often a waiting subscriber looks whether its client is gone. */
#define CAIRND_SSE_PROBE_MS 1000

struct cairnd_sse {
	struct cairnd *srv;
	cairn_sub *sub;
	struct cairnd_sse *prev, *next;
	char *name; /* durable name, or NULL */
	/* atomic: the last position the client has: written out, skipped
	 * (Last-Event-ID) or at the stored cursor when the stream began */
	uint64_t delivered;
	uint64_t skip_until; /* durable resume: positions already seen */
	MHD_socket fd;       /* the client's socket, to notice it leaving */
	struct cairnd_buf out;
	size_t off;
	int opened;
	int ended; /* 1 end normally, 2 cut */
};

/* ---- the registry -------------------------------------------------------- */

/* Add s unless the server stops or is full: 0, or -1 with *why set. */
static int
registry_add(struct cairnd *srv, struct cairnd_sse *s, const char **why)
{
	int rc = -1;

	pthread_mutex_lock(&srv->subs_lock);
	if (__atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE)) {
		*why = "the server is shutting down";
	} else if (srv->nsubs >= srv->cfg.max_subscribers) {
		*why = "too many subscribers";
	} else {
		s->next = srv->subs;
		if (srv->subs)
			srv->subs->prev = s;
		srv->subs = s;
		srv->nsubs++;
		rc = 0;
	}
	pthread_mutex_unlock(&srv->subs_lock);
	return rc;
}

static void
registry_remove(struct cairnd *srv, struct cairnd_sse *s)
{
	pthread_mutex_lock(&srv->subs_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->nsubs--;
	pthread_mutex_unlock(&srv->subs_lock);
}

void
cairnd_subs_stop_all(struct cairnd *srv)
{
	struct cairnd_sse *s;

	pthread_mutex_lock(&srv->subs_lock);
	for (s = srv->subs; s; s = s->next)
		cairn_sub_stop(s->sub);
	pthread_mutex_unlock(&srv->subs_lock);
}

unsigned
cairnd_subs_active(struct cairnd *srv)
{
	unsigned n;

	pthread_mutex_lock(&srv->subs_lock);
	n = srv->nsubs;
	pthread_mutex_unlock(&srv->subs_lock);
	return n;
}

/* The highest position a live subscriber under name has written out;
 * 0 when there is none.  *live says whether there is one. */
static uint64_t
live_delivered(struct cairnd *srv, const char *name, int *live)
{
	struct cairnd_sse *s;
	uint64_t best = 0;

	*live = 0;
	pthread_mutex_lock(&srv->subs_lock);
	for (s = srv->subs; s; s = s->next) {
		if (s->name && strcmp(s->name, name) == 0) {
			uint64_t d = __atomic_load_n(&s->delivered,
			                             __ATOMIC_ACQUIRE);

			*live = 1;
			if (d > best)
				best = d;
		}
	}
	pthread_mutex_unlock(&srv->subs_lock);
	return best;
}

/* ---- the stream ---------------------------------------------------------- */

/* 1 when the client has closed its end (or the connection broke): a
 * peek that reads nothing, and does not wait. */
static int
client_gone(const struct cairnd_sse *s)
{
	char c;
	ssize_t r;

	if (s->fd == MHD_INVALID_SOCKET)
		return 0;
	r = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (r == 0)
		return 1;
	return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	       errno != EINTR;
}

/* Advance s->delivered to position (never back). */
static void
mark_delivered(struct cairnd_sse *s, uint64_t position)
{
	if (position > __atomic_load_n(&s->delivered, __ATOMIC_ACQUIRE))
		__atomic_store_n(&s->delivered, position, __ATOMIC_RELEASE);
}

/* Refill s->out: the opening, a batch, or a ping.  Blocks up to the
 * heartbeat interval, looking at the client every CAIRND_SSE_PROBE_MS.
 * 0, or -1 when the stream ends (s->ended). */
static int
sse_fill(struct cairnd_sse *s)
{
	const cairn_event *batch;
	cairn_status rc;
	size_t n, i;
	unsigned waited = 0, heartbeat = s->srv->cfg.heartbeat_ms;

	cairnd_buf_reset(&s->out);
	s->off = 0;
	if (!s->opened) {
		s->opened = 1;
		return cairnd_buf_str(&s->out, ": subscribed\nretry: 1000\n\n");
	}
	for (;;) {
		unsigned slice = heartbeat - waited;

		if (slice > CAIRND_SSE_PROBE_MS)
			slice = CAIRND_SSE_PROBE_MS;
		rc = cairn_sub_next(s->sub, (int)slice, &batch, &n);
		if (rc != CAIRN_TIMEOUT)
			break;
		if (client_gone(s)) {
			s->ended = 2;
			return -1;
		}
		waited += slice;
		if (waited >= heartbeat)
			return cairnd_buf_str(&s->out, ": ping\n\n");
	}
	if (rc == CAIRN_CLOSED) {
		s->ended = 1;
		return -1;
	}
	if (rc != CAIRN_ROW) {
		fprintf(stderr, "cairnd: subscriber%s%s: %s: %s\n",
		        s->name ? " " : "", s->name ? s->name : "",
		        cairn_status_str(rc), cairn_last_error());
		s->ended = 2;
		return -1;
	}
	for (i = 0; i < n; i++) {
		const cairn_event *e = &batch[i];

		if (e->position <= s->skip_until) {
			mark_delivered(s, e->position);
			continue;
		}
		if (cairnd_buf_str(&s->out, "id: ") ||
		    cairnd_buf_u64(&s->out, e->position) ||
		    cairnd_buf_str(&s->out, "\ndata: ") ||
		    cairnd_event_json(&s->out, e) ||
		    cairnd_buf_str(&s->out, "\n\n")) {
			s->ended = 2;
			return -1;
		}
		mark_delivered(s, e->position);
	}
	return 0;
}

/* Hands over what is pending; blocks (in sse_fill) only when there is
 * nothing to hand over, never with bytes in hand. */
static ssize_t
sse_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct cairnd_sse *s = cls;
	size_t put = 0;

	(void)pos;
	while (put < max) {
		if (s->off == s->out.len) {
			if (put > 0 || s->ended || sse_fill(s) != 0)
				break;
			continue;
		}
		put += cairnd_buf_drain(&s->out, &s->off, buf + put, max - put);
	}
	if (put > 0)
		return (ssize_t)put;
	return s->ended == 2 ? MHD_CONTENT_READER_END_WITH_ERROR
	                     : MHD_CONTENT_READER_END_OF_STREAM;
}

static void
sse_free(void *cls)
{
	struct cairnd_sse *s = cls;

	registry_remove(s->srv, s);
	cairn_sub_close(s->sub);
	cairnd_buf_free(&s->out);
	free(s->name);
	free(s);
}

/* ---- GET /subscribe ------------------------------------------------------ */

/* Where to start, from ?from= and Last-Event-ID: 0, or -1 when an error
 * was queued. */
static int
start_of(struct cairnd_req *req, cairn_sub_opts *so, uint64_t *skip)
{
	const char *lei = MHD_lookup_connection_value(
	        req->conn, MHD_HEADER_KIND, "Last-Event-ID");
	int bad = 0, durable = so->name != NULL;
	const char *from = cairnd_query(req, "from", &bad);
	uint64_t n;

	so->start = durable ? CAIRN_SUB_BEGINNING : CAIRN_SUB_END;
	if (from && strcmp(from, "start") == 0) {
		so->start = CAIRN_SUB_BEGINNING;
	} else if (from && strcmp(from, "end") == 0) {
		so->start = CAIRN_SUB_END;
	} else if (from) {
		int rc = cairnd_query_u64(req, "from", &n);

		if (rc < 0)
			return -1;
		so->start = n > 1 ? CAIRN_SUB_AFTER : CAIRN_SUB_BEGINNING;
		so->after = n > 1 ? n - 1 : 0;
	}
	if (lei != NULL && lei[0] != '\0') {
		char *end;

		n = strtoull(lei, &end, 10);
		if (*end != '\0' || lei[0] < '0' || lei[0] > '9') {
			cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
			                   "invalid_parameter",
			                   "Last-Event-ID is not a position");
			return -1;
		}
		/* A durable subscription resumes from its cursor; what the
		 * client saw past it is skipped instead. */
		if (durable) {
			*skip = n;
		} else {
			so->start = CAIRN_SUB_AFTER;
			so->after = n;
		}
	}
	if (bad) {
		cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
		                   "invalid_parameter",
		                   "a badly percent-encoded parameter");
		return -1;
	}
	return 0;
}

enum MHD_Result
cairnd_route_subscribe(struct cairnd_req *req)
{
	struct cairnd *srv = req->srv;
	const char *types[TYPES_MAX], *why;
	struct MHD_Response *resp;
	struct cairnd_sse *s;
	cairn_sub_opts so;
	cairn_status rc;
	char *list;
	long ntypes;
	int bad = 0;

	cairn_sub_opts_init(&so);
	so.max_batch = CAIRND_SSE_MAX_BATCH;
	so.name = cairnd_query(req, "durable", &bad);
	so.prefix = cairnd_query(req, "prefix", &bad);
	list = (char *)cairnd_query(req, "types", &bad);
	if (bad)
		return cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
		                          "invalid_parameter",
		                          "a badly percent-encoded parameter");
	ntypes = cairnd_split_list(list, types, TYPES_MAX);
	if (ntypes < 0)
		return cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST,
		                          "invalid_parameter",
		                          "more than %d types", TYPES_MAX);
	so.types = types;
	so.ntypes = (size_t)ntypes;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cairnd_reply_nomem(req);
	s->srv = srv;
	s->fd = MHD_INVALID_SOCKET;
	if (start_of(req, &so, &s->skip_until) != 0) {
		free(s);
		return MHD_YES; /* start_of() queued the error */
	}
	if (so.name && (s->name = strdup(so.name)) == NULL) {
		free(s);
		return cairnd_reply_nomem(req);
	}
	rc = cairn_subscribe(srv->store, &so, &s->sub);
	if (rc != CAIRN_OK) {
		free(s->name);
		free(s);
		return cairnd_reply_status(req, rc);
	}
	/* What the client already has: the stored cursor (acknowledged),
	 * and what Last-Event-ID says it saw. */
	if (s->name) {
		uint64_t acked = cairn_sub_acked(s->sub);

		s->delivered = acked > s->skip_until ? acked : s->skip_until;
	}
	{
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		        req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (ci != NULL)
			s->fd = ci->connect_fd;
	}
	if (registry_add(srv, s, &why) != 0) {
		cairn_sub_close(s->sub);
		free(s->name);
		free(s);
		return cairnd_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
		                          "unavailable", "%s", why);
	}
	resp = MHD_create_response_from_callback(
	        MHD_SIZE_UNKNOWN, CAIRND_STREAM_BLOCK, sse_cb, s, sse_free);
	if (resp == NULL) {
		sse_free(s);
		return cairnd_reply_nomem(req);
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return cairnd_queue(req, MHD_HTTP_OK, resp);
}

/* ---- POST /subscriptions/{name}/ack -------------------------------------- */

/* The body's position: 0, or -1 when an error was queued. */
static int
ack_position(struct cairnd_req *req, uint64_t *position)
{
	json_error_t jerr;
	json_t *root, *pos;
	const char *key;
	json_t *val;
	int rc = -1;

	root = json_loadb(req->body.p ? req->body.p : "", req->body.len,
	                  JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed_json",
		                   "not valid JSON: %s", jerr.text);
		return -1;
	}
	pos = json_object_get(root, "position");
	json_object_foreach(root, key, val)
	{
		(void)val;
		if (strcmp(key, "position") != 0)
			pos = NULL;
	}
	if (!json_is_object(root) || !json_is_integer(pos) ||
	    json_integer_value(pos) < 0) {
		cairnd_reply_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
		                   "the body is {\"position\": N}, N >= 0");
		goto out;
	}
	*position = (uint64_t)json_integer_value(pos);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static enum MHD_Result
reply_cursor(struct cairnd_req *req, const char *name, uint64_t position)
{
	struct cairnd_buf b = CAIRND_BUF_INIT;
	enum MHD_Result ret;

	if (cairnd_buf_str(&b, "{\"name\":") ||
	    cairnd_buf_json_string(&b, name, strlen(name)) ||
	    cairnd_buf_str(&b, ",\"position\":") ||
	    cairnd_buf_u64(&b, position) || cairnd_buf_str(&b, "}\n"))
		ret = cairnd_reply_nomem(req);
	else
		ret = cairnd_reply_json(req, MHD_HTTP_OK, &b);
	cairnd_buf_free(&b);
	return ret;
}

/* Move name's cursor forward to position: never backwards, never past
 * the head, never past what a live subscriber under the name has sent
 * (or skipped, or had acknowledged when it began).  A position at or
 * below the cursor is never refused: it changes nothing.  A name with no
 * cursor is refused, never created: 404, or 409 when a subscriber under
 * it is live here (the cursor was deleted under it).  Read then write:
 * see the top of the file for what another process can do in between. */
enum MHD_Result
cairnd_route_ack(struct cairnd_req *req)
{
	struct cairnd *srv = req->srv;
	cairn_sub_info info;
	uint64_t position, head, delivered;
	enum MHD_Result ret;
	cairn_status rc;
	int live;

	if (ack_position(req, &position) != 0)
		return MHD_YES; /* ack_position() queued the error */
	pthread_mutex_lock(&srv->ack_lock);
	delivered = live_delivered(srv, req->arg, &live);
	rc = cairn_head(srv->store, &head);
	if (rc == CAIRN_OK)
		rc = cairn_subs_get(srv->store, req->arg, &info);
	if (rc == CAIRN_NOT_FOUND && live) {
		ret = cairnd_reply_error(
		        req, MHD_HTTP_CONFLICT, "conflict",
		        "durable subscription '%s' was deleted while a "
		        "subscriber under it is connected",
		        req->arg);
		goto out;
	}
	if (rc == CAIRN_NOT_FOUND) {
		ret = cairnd_reply_error(
		        req, MHD_HTTP_NOT_FOUND, "subscription_not_found",
		        "no durable subscription '%s'", req->arg);
		goto out;
	}
	if (rc != CAIRN_OK) {
		ret = cairnd_reply_status(req, rc);
		goto out;
	}
	if (position <= info.position) {
		ret = reply_cursor(req, req->arg, info.position);
		goto out;
	}
	if (position > head || (live && position > delivered)) {
		ret = cairnd_reply_error(
		        req, MHD_HTTP_BAD_REQUEST, "invalid_request",
		        "cannot acknowledge position %llu: %s is %llu",
		        (unsigned long long)position,
		        live ? "the last event sent" : "the head",
		        (unsigned long long)(live ? delivered : head));
		goto out;
	}
	rc = cairn_subs_reset(srv->store, req->arg, position);
	if (rc != CAIRN_OK) {
		ret = cairnd_reply_status(req, rc);
		goto out;
	}
	ret = reply_cursor(req, req->arg, position);
out:
	pthread_mutex_unlock(&srv->ack_lock);
	return ret;
}

/* ---- GET /subscriptions -------------------------------------------------- */

struct list_ctx {
	struct cairnd *srv;
	struct cairnd_buf b;
	int n;
	int failed;
};

static int
list_one(void *ctx, const cairn_sub_info *info)
{
	struct list_ctx *l = ctx;
	int live;

	(void)live_delivered(l->srv, info->name, &live);
	if ((l->n++ > 0 && cairnd_buf_str(&l->b, ",")) ||
	    cairnd_buf_str(&l->b, "{\"name\":") ||
	    cairnd_buf_json_string(&l->b, info->name, strlen(info->name)) ||
	    cairnd_buf_str(&l->b, ",\"position\":") ||
	    cairnd_buf_u64(&l->b, info->position) ||
	    cairnd_buf_str(&l->b, ",\"updated\":") ||
	    cairnd_buf_time(&l->b, info->updated_ns) ||
	    cairnd_buf_str(&l->b,
	                   live ? ",\"active\":true}" : ",\"active\":false}")) {
		l->failed = 1;
		return 1;
	}
	return 0;
}

enum MHD_Result
cairnd_route_list_subs(struct cairnd_req *req)
{
	struct list_ctx l = {req->srv, CAIRND_BUF_INIT, 0, 0};
	enum MHD_Result ret;
	cairn_status rc;

	if (cairnd_buf_str(&l.b, "{\"subscriptions\":[")) {
		ret = cairnd_reply_nomem(req);
		goto out;
	}
	rc = cairn_subs_list(req->srv->store, list_one, &l);
	if (l.failed || cairnd_buf_str(&l.b, "]}\n"))
		ret = cairnd_reply_nomem(req);
	else if (rc != CAIRN_OK)
		ret = cairnd_reply_status(req, rc);
	else
		ret = cairnd_reply_json(req, MHD_HTTP_OK, &l.b);
out:
	cairnd_buf_free(&l.b);
	return ret;
}
