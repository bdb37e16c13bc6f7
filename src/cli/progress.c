/*
 * progress.c -- a one-line progress bar on stderr, only for a person.
 *
 * It is drawn only when stderr is a terminal: a script that redirects
 * stderr to a file or a pipe gets nothing but real messages.  Redraws are
 * rate-limited so that a fast import does not spend its time on the
 * terminal.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define PROGRESS_REDRAW_NS (100LL * 1000 * 1000) /* 10 redraws a second */
#define PROGRESS_BAR_WIDTH 30

/* The bar on screen, so that an error message can wipe it first. */
static struct cli_progress *shown_bar;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
cli_progress_start(struct cli_progress *p, const char *label, uint64_t total)
{
	p->enabled = isatty(STDERR_FILENO);
	p->shown = 0;
	p->label = label;
	p->total = total;
	p->last_ns = 0;
}

static void
draw(struct cli_progress *p, uint64_t done, uint64_t events)
{
	char bar[PROGRESS_BAR_WIDTH + 1];
	int i, fill;
	double frac;

	if (p->total == 0) {
		fprintf(stderr, "\r%s: %" PRIu64 " events\033[K", p->label,
		        events);
	} else {
		frac = done >= p->total ? 1.0 : (double)done / (double)p->total;
		fill = (int)(frac * PROGRESS_BAR_WIDTH);
		for (i = 0; i < PROGRESS_BAR_WIDTH; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[PROGRESS_BAR_WIDTH] = '\0';
		fprintf(stderr, "\r%s: [%s] %3d%% %" PRIu64 " events\033[K",
		        p->label, bar, (int)(frac * 100.0), events);
	}
	fflush(stderr);
	p->shown = 1;
	shown_bar = p;
}

void
cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t events)
{
	int64_t now;

	if (!p->enabled)
		return;
	now = now_ns();
	if (p->last_ns == 0) {
		/* Start the clock: work that is over in a blink shows no
		 * bar at all. */
		p->last_ns = now;
		return;
	}
	if (now - p->last_ns < PROGRESS_REDRAW_NS)
		return;
	p->last_ns = now;
	draw(p, done, events);
}

void
cli_progress_end(struct cli_progress *p, uint64_t done, uint64_t events)
{
	if (p->enabled && p->shown) {
		draw(p, done, events);
		fputs("\n", stderr);
	}
	p->shown = 0;
	if (shown_bar == p)
		shown_bar = NULL;
}

void
cli_progress_clear(void)
{
	if (shown_bar == NULL || !shown_bar->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	shown_bar->shown = 0;
	shown_bar = NULL;
}
