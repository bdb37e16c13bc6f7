/*
 * w8.h -- W8, subscriptions: how soon a subscriber wakes after an
 * append, in this process and in another, and how fast a durable
 * subscription catches up over 1,000,000 events (bench/README.md, W8).
 */
#ifndef CAIRN_BENCH_W8_H
#define CAIRN_BENCH_W8_H

/* Run W8 on backend ("lmdb", "memory", "sqlite", "postgres") with its
 * stores under dir (DIR/w8*, removed before and after; for postgres one
 * new schema per store on the server in $CAIRN_PG_URI).  Prints "# " lines and the
 * result lines W8-wake, W8-xproc and W8-catchup in cairn-bench's format.
 * Returns 0 when every target was met, 1 when one was missed, 2 when a
 * part could not complete (an ERROR line says why). */
int bench_w8(const char *dir, const char *backend);

#endif /* CAIRN_BENCH_W8_H */
