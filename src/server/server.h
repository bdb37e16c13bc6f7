/*
 * server.h -- what the parts of cairnd share: the server, one request,
 * the routes, and the answers.
 *
 * Threads: libmicrohttpd runs one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION).  A request, its body, its iterator or
 * subscription and its streamed answer all live on that one thread, which
 * is what cairn iterators and subscriptions ask for ("one thread at a
 * time"), and lets a response callback block: an SSE callback waits in
 * cairn_sub_next(), a read callback in cairn_iter_next(), and concurrent
 * appends from many connections share the store's group commit.  See
 * docs/http-api.md ("Design") for the why.
 */
#ifndef CAIRND_SERVER_H
#define CAIRND_SERVER_H

#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cairn.h>

#include "buf.h"

/* Defaults; each is an option of cairnd (see main.c). */
#define CAIRND_DEFAULT_LISTEN "127.0.0.1:2113"
#define CAIRND_DEFAULT_STORE "lmdb:./cairn-data"
#define CAIRND_DEFAULT_MAX_BODY (16u * 1024u * 1024u)
#define CAIRND_DEFAULT_HEARTBEAT_MS 15000u
#define CAIRND_DEFAULT_TIMEOUT_S 60u
#define CAIRND_DEFAULT_MAX_CONNECTIONS 512u
#define CAIRND_DEFAULT_MAX_SUBSCRIBERS 256u
#define CAIRND_DEFAULT_SHUTDOWN_MS 10000u
/* Request line and headers of one request, in bytes: what does not fit in
 * this much of the connection's memory pool is refused by libmicrohttpd
 * (431); the pool also holds the chunk being sent. */
#define CAIRND_CONNECTION_MEMORY (64u * 1024u)
/* Bytes handed to libmicrohttpd per call of a streaming callback. */
#define CAIRND_STREAM_BLOCK (16u * 1024u)
/* Default and largest page of GET /streams. */
#define CAIRND_LIST_DEFAULT 100u
#define CAIRND_LIST_MAX 1000u
/* Events per SSE batch: a 100,000-event append is sent in pieces, so
 * that one subscriber never holds more than this many in memory. */
#define CAIRND_SSE_MAX_BATCH 256u

struct cairnd_config {
	const char *store_uri;
	const char *listen;
	const char *token_file;
	const char *web_dir;
	size_t max_body;
	unsigned heartbeat_ms;
	unsigned timeout_s;
	unsigned max_connections;
	unsigned max_subscribers;
	unsigned shutdown_ms;
	int relaxed;
};

struct cairnd_sse; /* one live SSE subscriber, sse.c */

struct cairnd {
	struct cairnd_config cfg;
	cairn_store *inner; /* the opened store */
	cairn_store *store; /* the instrumented decorator over it */
	char *token;        /* NULL: no authentication */
	size_t token_len;
	char web_root[PATH_MAX]; /* "" when there is no UI to serve */
	struct MHD_Daemon *daemon;
	int stopping;  /* atomic: shutting down, refuse new work */
	long inflight; /* atomic: requests begun and not completed */
	pthread_mutex_t subs_lock;
	struct cairnd_sse *subs; /* the live subscribers, a list */
	unsigned nsubs;
	pthread_mutex_t ack_lock; /* serialises cursor moves by ack */
	uint64_t responses[6];    /* atomic: answers by class, 1xx..5xx */
};

/* One HTTP request, from its first byte to its completion. */
struct cairnd_req {
	struct cairnd *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *url; /* raw: libmicrohttpd does not unescape it */
	int route;       /* enum in http.c */
	char *arg;       /* the decoded {stream} or {name} of the path */
	struct cairnd_buf body;
	int too_large;
	int answered;
	void **allocs; /* decoded query values, freed at completion */
	size_t nallocs;
};

/* ---- answers (reply.c) ------------------------------------------------ */

/* Queue resp with status (adds the common headers, counts the answer,
 * drops our reference).  Returns what MHD_queue_response() did. */
enum MHD_Result cairnd_queue(struct cairnd_req *req, unsigned status,
                             struct MHD_Response *resp);
/* A JSON answer: the text of b (copied). */
enum MHD_Result cairnd_reply_json(struct cairnd_req *req, unsigned status,
                                  const struct cairnd_buf *b);
/* {"error": code, "message": printf(fmt, ...)} */
enum MHD_Result cairnd_reply_error(struct cairnd_req *req, unsigned status,
                                   const char *code, const char *fmt, ...)
#ifdef __GNUC__
        __attribute__((format(printf, 4, 5)))
#endif
        ;
/* The same with more members: extra is ,"k":v... text (may be NULL). */
enum MHD_Result cairnd_reply_error_extra(struct cairnd_req *req,
                                         unsigned status, const char *code,
                                         const char *message,
                                         const struct cairnd_buf *extra);
/* A failed library call: its status mapped to an HTTP status and a code,
 * with cairn_last_error() as the message. */
enum MHD_Result cairnd_reply_status(struct cairnd_req *req, cairn_status rc);
enum MHD_Result cairnd_reply_nomem(struct cairnd_req *req);

/* ---- request helpers (url.c) ------------------------------------------ */

/* Decode %XX escapes (and '+' as a space when plus is set) of in (n
 * bytes) into out (at least n + 1 bytes, NUL-terminated).  Returns the
 * length, or -1 for a broken escape or a NUL byte in the result. */
long cairnd_pct_decode(const char *in, size_t n, char *out, int plus);
/* The decoded value of query parameter name, or NULL when absent; a
 * broken value sets *bad.  The string lives until the request ends. */
const char *cairnd_query(struct cairnd_req *req, const char *name, int *bad);
/* A query parameter as an unsigned number: 0 absent (*out untouched), 1
 * found, -1 malformed (an error answer was queued). */
int cairnd_query_u64(struct cairnd_req *req, const char *name, uint64_t *out);
/* Split a comma-separated list in place into at most max entries of
 * list; returns the count, or -1 when there are more. */
long cairnd_split_list(char *s, const char **list, size_t max);
/* 1 when the request's Accept asks for NDJSON. */
int cairnd_wants_ndjson(struct cairnd_req *req);

/* ---- routes ----------------------------------------------------------- */

enum MHD_Result cairnd_route_append(struct cairnd_req *req);
enum MHD_Result cairnd_route_append_multi(struct cairnd_req *req);
enum MHD_Result cairnd_route_append_if(struct cairnd_req *req);
enum MHD_Result cairnd_route_read_stream(struct cairnd_req *req);
enum MHD_Result cairnd_route_read_all(struct cairnd_req *req);
enum MHD_Result cairnd_route_stream_info(struct cairnd_req *req);
enum MHD_Result cairnd_route_list_streams(struct cairnd_req *req);
enum MHD_Result cairnd_route_subscribe(struct cairnd_req *req);
enum MHD_Result cairnd_route_ack(struct cairnd_req *req);
enum MHD_Result cairnd_route_list_subs(struct cairnd_req *req);
enum MHD_Result cairnd_route_health(struct cairnd_req *req);
enum MHD_Result cairnd_route_metrics(struct cairnd_req *req);
enum MHD_Result cairnd_route_static(struct cairnd_req *req);

/* ---- parts with state ------------------------------------------------- */

/* auth.c: read the token file; 0 or -1 (message printed). */
int cairnd_auth_load(struct cairnd *srv, const char *path);
/* 0 when the request may go on; otherwise an answer (401/403) was queued
 * and *ret holds its result. */
int cairnd_auth_check(struct cairnd_req *req, enum MHD_Result *ret);

/* static.c: settle the UI directory (config, then the defaults). */
void cairnd_web_init(struct cairnd *srv);

/* sse.c */
void cairnd_subs_stop_all(struct cairnd *srv);
unsigned cairnd_subs_active(struct cairnd *srv);

/* http.c */
int cairnd_http_start(struct cairnd *srv);
void cairnd_http_stop(struct cairnd *srv);
/* The port the server listens on (after start). */
unsigned cairnd_http_port(struct cairnd *srv);

#endif /* CAIRND_SERVER_H */
