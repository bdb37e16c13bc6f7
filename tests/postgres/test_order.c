/*
 * test_order.c -- the global order under concurrent writer processes.
 *
 * 8 writer processes append to one postgres store for
 * CAIRN_PG_ORDER_SECONDS (default 10) seconds, each to its own stream,
 * one to three events per append; one reader process follows the store
 * with a live subscription from the beginning.  Once the writers are
 * done the parent tells the reader the final head.  The reader must have
 * seen every position from 1 to the head exactly once, strictly
 * increasing (the engine's positions are gapless, so a skipped event
 * shows as a gap), and each writer's sequence numbers in order.
 *
 * The "skipped event" bug this catches: with positions taken from a
 * sequence before commit, a writer that commits late makes an event
 * visible behind a position the reader has passed.
 */
#include "cairn.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WRITERS 8
#define DEFAULT_SECONDS 10

static char uri[1024];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append to w-<k> until the deadline; exit 0, or 1 on an error. */
static int
writer(int k, double seconds)
{
	cairn_store *st;
	char stream[32], data[3][64];
	cairn_new_event evs[3];
	unsigned long seq = 0;
	double end = now_s() + seconds;
	int i, n;

	if (cairn_open(uri, NULL, &st) != CAIRN_OK) {
		fprintf(stderr, "writer %d: open: %s\n", k, cairn_last_error());
		return 1;
	}
	snprintf(stream, sizeof(stream), "w-%d", k);
	while (now_s() < end) {
		n = 1 + (int)(seq % 3);
		for (i = 0; i < n; i++) {
			snprintf(data[i], sizeof(data[i]),
			         "{\"w\":%d,\"s\":%lu}", k, ++seq);
			memset(&evs[i], 0, sizeof(evs[i]));
			evs[i].type = "Written";
			evs[i].data = data[i];
			evs[i].data_len = strlen(data[i]);
		}
		if (cairn_append(st, stream, CAIRN_ANY, evs, (size_t)n, NULL) !=
		    CAIRN_OK) {
			fprintf(stderr, "writer %d: append: %s\n", k,
			        cairn_last_error());
			cairn_close(st);
			return 1;
		}
	}
	cairn_close(st);
	printf("writer %d: %lu events\n", k, seq);
	fflush(stdout);
	return 0;
}

/*
 * Follow the store until the parent writes the final head to fd, and
 * past it; check the order of everything seen.  Exit 0 when all is
 * well.
 */
static int
reader(int fd)
{
	unsigned long last_seq[WRITERS] = {0};
	unsigned long long final = 0;
	uint64_t prev = 0, seen = 0;
	const cairn_event *b;
	cairn_sub_opts so;
	cairn_store *st;
	cairn_sub *sub;
	cairn_status rc;
	FILE *in = fdopen(fd, "r");
	int bad = 0, have_final = 0, w;
	double give_up = 0;
	unsigned long s;
	size_t n, i;

	if (in == NULL || cairn_open(uri, NULL, &st) != CAIRN_OK)
		return 1;
	cairn_sub_opts_init(&so);
	if (cairn_subscribe(st, &so, &sub) != CAIRN_OK) {
		fprintf(stderr, "reader: subscribe: %s\n", cairn_last_error());
		return 1;
	}
	for (;;) {
		rc = cairn_sub_next(sub, 100, &b, &n);
		if (rc == CAIRN_ROW) {
			for (i = 0; i < n; i++) {
				if (b[i].position != prev + 1) {
					fprintf(stderr,
					        "reader: position %llu after "
					        "%llu\n",
					        (unsigned long long)b[i]
					                .position,
					        (unsigned long long)prev);
					bad = 1;
				}
				prev = b[i].position;
				seen++;
				give_up = now_s() + 30;
				if (sscanf((const char *)b[i].data,
				           "{\"w\":%d,\"s\":%lu}", &w,
				           &s) != 2 ||
				    w < 0 || w >= WRITERS ||
				    s != last_seq[w] + 1) {
					fprintf(stderr,
					        "reader: out of order at "
					        "%llu\n",
					        (unsigned long long)prev);
					bad = 1;
				} else {
					last_seq[w] = s;
				}
			}
		} else if (rc != CAIRN_TIMEOUT) {
			fprintf(stderr, "reader: %s: %s\n",
			        cairn_status_str(rc), cairn_last_error());
			return 1;
		}
		if (!have_final) {
			fd_set fds;
			struct timeval tv = {0, 0};

			FD_ZERO(&fds);
			FD_SET(fd, &fds);
			if (select(fd + 1, &fds, NULL, NULL, &tv) > 0) {
				if (fscanf(in, "%llu", &final) != 1)
					return 1;
				have_final = 1;
				give_up = now_s() + 30;
			}
		}
		if (have_final && prev >= final)
			break;
		if (have_final && now_s() > give_up) { /* 30 s, no progress */
			cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
			cairn_iter *it;
			const cairn_event *e;
			uint64_t more = 0, h = 0;

			ro.from = prev + 1;
			if (cairn_read_all(st, &ro, &it) == CAIRN_OK) {
				while (cairn_iter_next(it, &e) == CAIRN_ROW)
					more++;
				cairn_iter_head(it, &h);
				cairn_iter_free(it);
			}
			fprintf(stderr,
			        "reader: stuck at %llu (subscription at "
			        "%llu; a read from there finds %llu more, "
			        "head %llu)\n",
			        (unsigned long long)prev,
			        (unsigned long long)cairn_sub_position(sub),
			        (unsigned long long)more,
			        (unsigned long long)h);
			return 1;
		}
	}
	cairn_sub_close(sub);
	cairn_close(st);
	printf("reader: %llu events, last position %llu, final head %llu\n",
	       (unsigned long long)seen, (unsigned long long)prev, final);
	fflush(stdout);
	return bad || seen != final || prev != final;
}

int
main(void)
{
	const char *base = getenv("CAIRN_PG_URI");
	const char *secs = getenv("CAIRN_PG_ORDER_SECONDS");
	double seconds = secs ? atof(secs) : DEFAULT_SECONDS;
	pid_t pids[WRITERS], rpid;
	int pipefd[2], status, k, failed = 0;
	cairn_store *st;
	uint64_t head = 0;
	FILE *out;

	if (base == NULL) {
		fprintf(stderr, "CAIRN_PG_URI is not set\n");
		return 77;
	}
	snprintf(uri, sizeof(uri), "%s%cschema=order_%ld", base,
	         strchr(base, '?') ? '&' : '?', (long)getpid());
	/* Create the schema once, then close: an open store has threads
	 * (its NOTIFY listener), and a child forked from a threaded process
	 * may find a lock (malloc's, ASan's) held forever. */
	if (cairn_open(uri, NULL, &st) != CAIRN_OK) {
		fprintf(stderr, "open %s: %s\n", uri, cairn_last_error());
		return 1;
	}
	cairn_close(st);
	if (pipe(pipefd) != 0)
		return 1;
	rpid = fork();
	if (rpid == 0) {
		close(pipefd[1]);
		_exit(reader(pipefd[0]));
	}
	close(pipefd[0]);
	for (k = 0; k < WRITERS; k++) {
		pids[k] = fork();
		if (pids[k] == 0)
			_exit(writer(k, seconds));
	}
	if (cairn_open(uri, NULL, &st) != CAIRN_OK) {
		fprintf(stderr, "open %s: %s\n", uri, cairn_last_error());
		return 1;
	}
	for (k = 0; k < WRITERS; k++) {
		waitpid(pids[k], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	if (cairn_head(st, &head) != CAIRN_OK)
		failed = 1;
	out = fdopen(pipefd[1], "w");
	fprintf(out, "%llu\n", (unsigned long long)head);
	fclose(out);
	waitpid(rpid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "the reader failed\n");
		failed = 1;
	}
	printf("%d writers, %.0f s: head %llu (%.0f events/s): %s\n", WRITERS,
	       seconds, (unsigned long long)head, (double)head / seconds,
	       failed ? "FAILED" : "ok");
	cairn_close(st);
	return failed;
}
