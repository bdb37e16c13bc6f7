/*
 * bench.h -- what the parts of cairn-bench share: clocks, the machine
 * report, process memory, the disk baseline and directory helpers.
 *
 * Everything here is about the host, not about cairn: cairn-bench.c uses
 * only include/cairn.h to talk to the store (bench_pg_store_uri() only
 * builds a URI string; it calls nothing in cairn).
 */
#ifndef CAIRN_BENCH_H
#define CAIRN_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Seconds on CLOCK_MONOTONIC (never jumps with the wall clock). */
double bench_now(void);

/* User + system CPU seconds used so far by the whole process (every
 * thread), from getrusage(). */
double bench_cpu_seconds(void);

/* mkdir -p.  Returns 0, or -1 with errno set. */
int bench_mkdir_p(const char *path);

/* rm -rf of one path (a missing path is fine).  Returns 0, or -1 with
 * errno set.  Only ever called on paths cairn-bench built itself. */
int bench_rm_rf(const char *path);

/* Print, as "# " comment lines, what the figures depend on: CPUs, memory,
 * kernel, clock source and the filesystem and device holding dir. */
void bench_print_machine(const char *dir);

/* The process's memory as /proc/self/status states it, in KiB; -1 for a
 * field that could not be read. */
struct bench_mem {
	long rss_anon_kib; /* anonymous resident memory: heap, stacks */
	long rss_file_kib; /* resident file-backed mappings (mmap) */
	long vm_rss_kib;   /* all resident memory */
	long vm_hwm_kib;   /* peak of vm_rss since start or reset */
};

/* Fill *m without allocating (so the reading does not disturb what it
 * reads).  Returns 0, or -1 when /proc/self/status is unreadable. */
int bench_mem_read(struct bench_mem *m);

/* Reset VmHWM to the current VmRSS (Linux >= 4.0, /proc/self/clear_refs).
 * Returns 0, or -1 when the kernel refused. */
int bench_hwm_reset(void);

/* What the disk under the store directory allows, measured in the same
 * run (see README.md, "Disk baseline"). */
struct bench_disk {
	double prealloc_syncs_per_s; /* 4 KiB pwrite + fdatasync, allocated */
	unsigned prealloc_n;         /* iterations actually timed */
	double grow_syncs_per_s;     /* 4 KiB append + fdatasync */
	unsigned grow_n;
	double seq_mib_per_s; /* 256 MiB in 1 MiB writes + fdatasync */
};

/* Run the three measurements with temporary files in dir (removed
 * afterwards).  Returns 0, or -1 after printing what failed. */
int bench_disk_measure(const char *dir, struct bench_disk *d);

/* Only the preallocated sync loop (a), again: virtual disks drift, so W1
 * is bracketed by two measurements.  Fills the prealloc fields of *d. */
int bench_disk_prealloc(const char *dir, struct bench_disk *d);

/*
 * The URI of the postgres store of workload `name` (cairn-bench's stores
 * and W8's): the server is $CAIRN_PG_URI (scripts/pg-test-cluster.sh start
 * DIR --durable writes one), and each store is a schema of its own,
 * bench_<pid>_<name>_<generation>.  A schema cannot be removed through
 * cairn, so a fresh store (fresh != 0) is the next generation; fresh == 0
 * names the last store of that name again (W4 reading W2's store, or a
 * reopen).  The schema goes into the URI's query (?schema= / &schema=)
 * or, for the keyword=value spelling, as one more keyword.  Every process
 * that is to share a store must be given the URI built once (W8-xproc
 * builds it before it forks).  Returns 0, or -1 when $CAIRN_PG_URI is
 * unset, the name is too long or too many names were used.
 */
int bench_pg_store_uri(const char *name, int fresh, char *uri, size_t size);

#endif /* CAIRN_BENCH_H */
