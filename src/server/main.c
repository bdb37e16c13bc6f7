/*
 * main.c -- cairnd: options, opening the store, serving until SIGINT or
 * SIGTERM, and a clean shutdown.
 *
 * Exit status: 0 after a clean shutdown, 1 when the store cannot be
 * opened or the address cannot be listened on, 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define EXIT_USAGE 2

static const char usage_text[] =
        "usage: cairnd [--store URI] [--listen HOST:PORT] [--token-file F]\n"
        "              [--web DIR] [options]\n"
        "\n"
        "Serve a cairn store over HTTP/JSON (docs/http-api.md), with the\n"
        "web UI at /.  Stops cleanly on SIGINT or SIGTERM.\n"
        "\n"
        "  --store URI         the store (default $CAIRN_STORE, else\n"
        "                      " CAIRND_DEFAULT_STORE ")\n"
        "  --listen HOST:PORT  where to listen (default " CAIRND_DEFAULT_LISTEN
        ";\n"
        "                      port 0 picks a free one; [::1]:PORT for IPv6)\n"
        "  --token-file F      require \"Authorization: Bearer <token>\", the\n"
        "                      token being the first line of F\n"
        "  --web DIR           serve the UI from DIR\n"
        "  --max-body BYTES    largest request body (default 16 MiB)\n"
        "  --heartbeat-ms N    SSE ping interval (default 15000)\n"
        "  --timeout S         idle connection timeout (default 60)\n"
        "  --max-connections N (default 512)\n"
        "  --max-subscribers N (default 256)\n"
        "  --relaxed           relaxed durability (no fsync per commit)\n"
        "  --help, --version\n"
        "\n"
        "Exit status: 0 after a clean shutdown, 1 when the store or the\n"
        "address failed, 2 for a usage error.\n";

enum {
	OPT_MAX_BODY = 256,
	OPT_HEARTBEAT,
	OPT_TIMEOUT,
	OPT_MAX_CONN,
	OPT_MAX_SUBS,
	OPT_RELAXED,
	OPT_VERSION
};

static const struct option long_opts[] = {
        {"store", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"token-file", required_argument, NULL, 't'},
        {"web", required_argument, NULL, 'w'},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"max-subscribers", required_argument, NULL, OPT_MAX_SUBS},
        {"relaxed", no_argument, NULL, OPT_RELAXED},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};

/* A number in [min, max]; -1 (message printed) otherwise. */
static int
number(const char *opt, const char *s, unsigned long long min,
       unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end != '\0' || s[0] < '0' || s[0] > '9' || *out < min ||
	    *out > max) {
		fprintf(stderr,
		        "cairnd: --%s %s: expected a number %llu..%llu\n", opt,
		        s, min, max);
		return -1;
	}
	return 0;
}

/* Fill cfg from argv: 0 to run, 1 when done (help, version), -1 for a
 * usage error (message printed). */
static int
parse_args(int argc, char **argv, struct cairnd_config *cfg)
{
	unsigned long long v;
	int c;

	while ((c = getopt_long(argc, argv, "s:l:t:w:h", long_opts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			cfg->store_uri = optarg;
			break;
		case 'l':
			cfg->listen = optarg;
			break;
		case 't':
			cfg->token_file = optarg;
			break;
		case 'w':
			cfg->web_dir = optarg;
			break;
		case OPT_MAX_BODY:
			if (number("max-body", optarg, 1024, 1ull << 30, &v))
				return -1;
			cfg->max_body = (size_t)v;
			break;
		case OPT_HEARTBEAT:
			if (number("heartbeat-ms", optarg, 10, 3600000, &v))
				return -1;
			cfg->heartbeat_ms = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if (number("timeout", optarg, 1, 86400, &v))
				return -1;
			cfg->timeout_s = (unsigned)v;
			break;
		case OPT_MAX_CONN:
			if (number("max-connections", optarg, 1, 65536, &v))
				return -1;
			cfg->max_connections = (unsigned)v;
			break;
		case OPT_MAX_SUBS:
			if (number("max-subscribers", optarg, 0, 65536, &v))
				return -1;
			cfg->max_subscribers = (unsigned)v;
			break;
		case OPT_RELAXED:
			cfg->relaxed = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		case OPT_VERSION:
			puts("cairnd " CAIRN_VERSION_STRING);
			return 1;
		default:
			fputs(usage_text, stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairnd: unexpected argument '%s'\n%s",
		        argv[optind], usage_text);
		return -1;
	}
	/* An idle SSE stream must ping before the idle timeout cuts it. */
	if ((unsigned long long)cfg->heartbeat_ms >= cfg->timeout_s * 1000ull) {
		fprintf(stderr, "cairnd: --heartbeat-ms must be below "
		                "--timeout\n");
		return -1;
	}
	return 0;
}

static int
open_store(struct cairnd *srv)
{
	cairn_options opts;
	cairn_status rc;

	cairn_options_init(&opts);
	if (srv->cfg.relaxed)
		opts.durability = CAIRN_RELAXED;
	rc = cairn_open(srv->cfg.store_uri, &opts, &srv->inner);
	if (rc != CAIRN_OK) {
		fprintf(stderr, "cairnd: cannot open %s: %s\n",
		        srv->cfg.store_uri, cairn_last_error());
		return -1;
	}
	rc = cairn_instrumented_open(srv->inner, &srv->store);
	if (rc != CAIRN_OK) {
		fprintf(stderr, "cairnd: %s\n", cairn_last_error());
		cairn_close(srv->inner);
		srv->inner = NULL;
		return -1;
	}
	return 0;
}

/* The listening URL as people type it. */
static void
announce(struct cairnd *srv)
{
	const char *colon = strrchr(srv->cfg.listen, ':');
	int hostlen = (int)(colon - srv->cfg.listen);

	printf("cairnd: listening on http://%.*s:%u/ (store %s%s%s)\n", hostlen,
	       srv->cfg.listen, cairnd_http_port(srv), srv->cfg.store_uri,
	       srv->web_root[0] ? ", UI from " : ", no UI", srv->web_root);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct cairnd srv;
	sigset_t sigs;
	int sig, rc, status = 1;

	memset(&srv, 0, sizeof(srv));
	srv.cfg.store_uri = getenv("CAIRN_STORE");
	if (srv.cfg.store_uri == NULL || srv.cfg.store_uri[0] == '\0')
		srv.cfg.store_uri = CAIRND_DEFAULT_STORE;
	srv.cfg.listen = CAIRND_DEFAULT_LISTEN;
	srv.cfg.max_body = CAIRND_DEFAULT_MAX_BODY;
	srv.cfg.heartbeat_ms = CAIRND_DEFAULT_HEARTBEAT_MS;
	srv.cfg.timeout_s = CAIRND_DEFAULT_TIMEOUT_S;
	srv.cfg.max_connections = CAIRND_DEFAULT_MAX_CONNECTIONS;
	srv.cfg.max_subscribers = CAIRND_DEFAULT_MAX_SUBSCRIBERS;
	srv.cfg.shutdown_ms = CAIRND_DEFAULT_SHUTDOWN_MS;
	rc = parse_args(argc, argv, &srv.cfg);
	if (rc != 0)
		return rc > 0 ? 0 : EXIT_USAGE;

	/* Every thread started from here on inherits the mask: the signals
	 * are taken by sigwait() below only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0); /* before any thread uses jansson */
	pthread_mutex_init(&srv.subs_lock, NULL);
	pthread_mutex_init(&srv.ack_lock, NULL);

	if (srv.cfg.token_file && cairnd_auth_load(&srv, srv.cfg.token_file))
		goto out;
	cairnd_web_init(&srv);
	if (open_store(&srv) != 0)
		goto out;
	if (cairnd_http_start(&srv) != 0)
		goto out;
	announce(&srv);
	if (srv.token == NULL && strncmp(srv.cfg.listen, "127.", 4) != 0 &&
	    strncmp(srv.cfg.listen, "[::1]", 5) != 0 &&
	    strncmp(srv.cfg.listen, "localhost:", 10) != 0)
		fprintf(stderr, "cairnd: warning: listening beyond loopback "
		                "without --token-file\n");
	do {
		rc = sigwait(&sigs, &sig);
	} while (rc != 0);
	fprintf(stderr, "cairnd: %s: shutting down\n",
	        sig == SIGINT ? "SIGINT" : "SIGTERM");
	cairnd_http_stop(&srv);
	status = 0;
out:
	cairn_close(srv.store);
	cairn_close(srv.inner);
	if (srv.token) {
		memset(srv.token, 0, srv.token_len);
		free(srv.token);
	}
	pthread_mutex_destroy(&srv.subs_lock);
	pthread_mutex_destroy(&srv.ack_lock);
	if (status == 0)
		fprintf(stderr, "cairnd: stopped\n");
	return status;
}
