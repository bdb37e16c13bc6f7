/*
 * common.c -- the conformance suite's fixture (fresh stores, scratch
 * directories) and the read/append helpers every test file uses.
 */
#include "conformance.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const conf_backend *conf_be;
const char *conf_base_dir;

/* <base>/run-<pid>: every directory of this run lives below it. */
static char conf_run_dir[1024];
static unsigned conf_dir_counter;

double conf_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int conf_env_flag(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && strcmp(v, "1") == 0;
}

int store_persists(void)
{
	return conf_be->persists;
}

/* A format with "schema=%s" names a fresh database schema (a server
 * backend) rather than a directory. */
static int needs_schema(void)
{
	return strstr(conf_be->uri_format, "schema=%s") != NULL;
}

static int needs_dir(void)
{
	return strstr(conf_be->uri_format, "%s") != NULL && !needs_schema();
}

/* A schema name no other test of any run has used: lower case letters,
 * digits and '_', at most 63 bytes. */
static void fresh_schema(const char *label, char *buf, size_t len)
{
	static unsigned counter;
	struct timespec ts;
	size_t o;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, len, "t%lx_%ld_%u_", (unsigned long)ts.tv_sec,
	         (long)getpid(), ++counter);
	o = strlen(buf);
	for (; label != NULL && *label && o + 1 < len && o < 60; label++) {
		char c = *label;
		buf[o++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		                   ? c
		                   : (c >= 'A' && c <= 'Z' ? (char)(c + 32)
		                                           : '_');
	}
	buf[o] = '\0';
}

/* mkdir -p */
static int make_dirs(const char *path)
{
	char buf[1024];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	return 0;
}

/* rm -rf, without following symlinks. */
static void remove_tree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	DIR *d = opendir(path);
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			char child[2048];
			int n = snprintf(child, sizeof child, "%s/%s", path,
			                 de->d_name);
			if (n > 0 && (size_t)n < sizeof child)
				remove_tree(child);
		}
		closedir(d);
	}
	rmdir(path);
}

static int ensure_run_dir(void)
{
	if (conf_run_dir[0] != '\0')
		return make_dirs(conf_run_dir);
	const char *base = conf_base_dir;
	char tmp[1024];
	if (base == NULL) {
		const char *t = getenv("TMPDIR");
		snprintf(tmp, sizeof tmp, "%s/cairn-conformance",
		         t != NULL && t[0] != '\0' ? t : "/tmp");
		base = tmp;
	}
	int n = snprintf(conf_run_dir, sizeof conf_run_dir, "%s/run-%ld", base,
	                 (long)getpid());
	if (n < 0 || (size_t)n >= sizeof conf_run_dir)
		return -1;
	return make_dirs(conf_run_dir);
}

/* A new empty directory below the run directory, into buf. */
static int fresh_dir(const char *label, char *buf, size_t len)
{
	if (ensure_run_dir() != 0)
		return -1;
	int n = snprintf(buf, len, "%s/%03u-%s", conf_run_dir, ++conf_dir_counter,
	                 label != NULL ? label : "store");
	if (n < 0 || (size_t)n >= len)
		return -1;
	remove_tree(buf);
	return mkdir(buf, 0755);
}

static cairn_status open_at_fresh_uri(conf_fixture *fx,
                                      const cairn_options *opts)
{
	char name[64];

	fx->dir[0] = '\0';
	if (needs_schema()) {
		fresh_schema(fx->test_name, name, sizeof name);
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
		snprintf(fx->uri, sizeof fx->uri, conf_be->uri_format, name);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
		fx->st = NULL;
		return cairn_open(fx->uri, opts, &fx->st);
	}
	if (needs_dir()) {
		if (fresh_dir(fx->test_name, fx->dir, sizeof fx->dir) != 0) {
			print_error("cannot create a store directory under %s\n",
			            conf_run_dir);
			return CAIRN_IO;
		}
	}
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
	snprintf(fx->uri, sizeof fx->uri, conf_be->uri_format, fx->dir);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
	fx->st = NULL;
	return cairn_open(fx->uri, opts, &fx->st);
}

static void close_and_remove(conf_fixture *fx)
{
	cairn_close(fx->st);
	fx->st = NULL;
	if (fx->dir[0] != '\0') {
		remove_tree(fx->dir);
		fx->dir[0] = '\0';
	}
}

int conf_group_setup(void **state)
{
	(void)state; /* left NULL so each test gets its initial_state */
	if (needs_dir() && ensure_run_dir() != 0) {
		fprintf(stderr, "conformance: cannot create %s\n", conf_run_dir);
		return -1;
	}
	return 0;
}

int conf_group_teardown(void **state)
{
	(void)state;
	if (conf_run_dir[0] != '\0')
		remove_tree(conf_run_dir);
	return 0;
}

int conf_setup(void **state)
{
	conf_fixture *fx = calloc(1, sizeof *fx);
	if (fx == NULL)
		return -1;
	fx->test_name = *state != NULL ? (const char *)*state : "test";
	fx->started = conf_now();
	cairn_status rc = open_at_fresh_uri(fx, NULL);
	if (rc != CAIRN_OK) {
		fprintf(stderr, "conformance: cairn_open(\"%s\"): %s: %s\n",
		        fx->uri, cairn_status_str(rc), cairn_last_error());
		close_and_remove(fx);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

int conf_teardown(void **state)
{
	conf_fixture *fx = *state;
	if (fx == NULL)
		return 0;
	close_and_remove(fx);
	if (fx->scratch[0] != '\0')
		remove_tree(fx->scratch);
	printf("[     TIME ] %s: %.3f s\n", fx->test_name,
	       conf_now() - fx->started);
	fflush(stdout);
	free(fx);
	*state = NULL;
	return 0;
}

void open_fresh_store(conf_fixture *fx, const cairn_options *opts)
{
	close_and_remove(fx);
	cairn_status rc = open_at_fresh_uri(fx, opts);
	if (rc != CAIRN_OK)
		print_error("cairn_open(\"%s\") failed\n", fx->uri);
	assert_status(rc, CAIRN_OK);
	assert_non_null(fx->st);
}

void reopen_store(conf_fixture *fx, const cairn_options *opts)
{
	cairn_close(fx->st);
	fx->st = NULL;
	cairn_status rc = cairn_open(fx->uri, opts, &fx->st);
	if (rc != CAIRN_OK)
		print_error("reopening \"%s\" failed\n", fx->uri);
	assert_status(rc, CAIRN_OK);
	assert_non_null(fx->st);
}

const char *conf_scratch_dir(conf_fixture *fx, char *buf, size_t len)
{
	if (fx->scratch[0] != '\0')
		remove_tree(fx->scratch);
	if (fresh_dir("scratch", fx->scratch, sizeof fx->scratch) != 0)
		fail_msg("cannot create a scratch directory");
	snprintf(buf, len, "%s", fx->scratch);
	return buf;
}

/* ---- appends ---- */

cairn_new_event conf_ev(const char *type, const char *data)
{
	cairn_new_event e = CAIRN_NEW_EVENT_INIT;
	e.type = type;
	e.data = data;
	e.data_len = data != NULL ? strlen(data) : 0;
	return e;
}

cairn_status conf_append_text(cairn_store *st, const char *stream,
                              int64_t expected, const char *type,
                              const char *data, cairn_append_result *res)
{
	cairn_new_event e = conf_ev(type, data);
	return cairn_append(st, stream, expected, &e, 1, res);
}

void conf_fill(cairn_store *st, const char *stream, size_t n)
{
	enum { CHUNK = 500 };
	static char bufs[CHUNK][300]; /* test thread only */
	cairn_new_event evs[CHUNK];
	uint64_t v = conf_version(st, stream);
	size_t done = 0;
	while (done < n) {
		size_t k = n - done < CHUNK ? n - done : CHUNK;
		for (size_t i = 0; i < k; i++) {
			snprintf(bufs[i], sizeof bufs[i], "%s#%llu", stream,
			         (unsigned long long)(v + done + i + 1));
			evs[i] = conf_ev("T", bufs[i]);
		}
		cairn_append_result res;
		assert_status(cairn_append(st, stream, (int64_t)(v + done), evs, k,
		                           &res),
		              CAIRN_OK);
		done += k;
	}
}

uint64_t conf_head(cairn_store *st)
{
	uint64_t h = 12345;
	assert_status(cairn_head(st, &h), CAIRN_OK);
	return h;
}

uint64_t conf_version(cairn_store *st, const char *stream)
{
	uint64_t v = 12345;
	assert_status(cairn_stream_version(st, stream, &v), CAIRN_OK);
	return v;
}

cairn_stats conf_stats(cairn_store *st)
{
	cairn_stats s;
	memset(&s, 0xab, sizeof s);
	assert_status(cairn_stats_get(st, &s), CAIRN_OK);
	return s;
}

conf_snap conf_snapshot(cairn_store *st)
{
	cairn_stats s = conf_stats(st);
	conf_snap snap = {conf_head(st), s.events, s.streams};
	assert_int_equal(snap.head, s.head);
	return snap;
}

/* ---- reads ---- */

static void *dup_bytes(const void *p, size_t n)
{
	unsigned char *d = malloc(n + 1);
	assert_non_null(d);
	if (n > 0) {
		assert_non_null(p);
		memcpy(d, p, n);
	}
	d[n] = '\0';
	return d;
}

static void copy_event(conf_rec *r, const cairn_event *e)
{
	memset(r, 0, sizeof *r);
	r->id = e->id;
	assert_non_null(e->stream);
	assert_non_null(e->type);
	assert_int_equal(strlen(e->stream), e->stream_len);
	assert_int_equal(strlen(e->type), e->type_len);
	r->stream = dup_bytes(e->stream, e->stream_len);
	r->type = dup_bytes(e->type, e->type_len);
	r->data = dup_bytes(e->data, e->data_len);
	r->data_len = e->data_len;
	r->metadata = dup_bytes(e->metadata, e->metadata_len);
	r->metadata_len = e->metadata_len;
	r->ntags = e->ntags;
	r->tags = calloc(e->ntags + 1, sizeof *r->tags);
	assert_non_null(r->tags);
	for (size_t i = 0; i < e->ntags; i++) {
		assert_non_null(e->tags);
		assert_non_null(e->tags[i]);
		r->tags[i] = dup_bytes(e->tags[i], strlen(e->tags[i]));
	}
	r->version = e->version;
	r->position = e->position;
	r->time_ns = e->time_ns;
}

size_t conf_drain(cairn_iter *it, conf_rec **out)
{
	size_t n = 0, cap = 16;
	conf_rec *recs = malloc(cap * sizeof *recs);
	assert_non_null(recs);
	const cairn_event *e = NULL;
	cairn_status rc;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		assert_non_null(e);
		if (n == cap) {
			cap *= 2;
			recs = realloc(recs, cap * sizeof *recs);
			assert_non_null(recs);
		}
		copy_event(&recs[n++], e);
	}
	assert_status(rc, CAIRN_DONE);
	assert_status(cairn_iter_next(it, &e), CAIRN_DONE);
	cairn_iter_free(it);
	*out = recs;
	return n;
}

size_t conf_read_stream(cairn_store *st, const char *stream,
                        const cairn_read_opts *opts, conf_rec **out)
{
	cairn_iter *it = NULL;
	assert_status(cairn_read_stream(st, stream, opts, &it), CAIRN_OK);
	assert_non_null(it);
	return conf_drain(it, out);
}

size_t conf_read_all(cairn_store *st, const cairn_read_opts *opts,
                     conf_rec **out)
{
	cairn_iter *it = NULL;
	assert_status(cairn_read_all(st, opts, &it), CAIRN_OK);
	assert_non_null(it);
	return conf_drain(it, out);
}

void conf_recs_free(conf_rec *recs, size_t n)
{
	if (recs == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(recs[i].stream);
		free(recs[i].type);
		free(recs[i].data);
		free(recs[i].metadata);
		for (size_t t = 0; t < recs[i].ntags; t++)
			free(recs[i].tags[t]);
		free(recs[i].tags);
	}
	free(recs);
}

size_t conf_list(cairn_store *st, const char *prefix, const char *after,
                 size_t limit, conf_stream **out)
{
	cairn_stream_iter *si = NULL;
	assert_status(cairn_list_streams(st, prefix, after, limit, &si),
	              CAIRN_OK);
	assert_non_null(si);
	size_t n = 0, cap = 16;
	conf_stream *s = malloc(cap * sizeof *s);
	assert_non_null(s);
	const cairn_stream_info *info = NULL;
	cairn_status rc;
	while ((rc = cairn_stream_iter_next(si, &info)) == CAIRN_ROW) {
		assert_non_null(info);
		assert_non_null(info->stream);
		assert_int_equal(strlen(info->stream), info->stream_len);
		if (n == cap) {
			cap *= 2;
			s = realloc(s, cap * sizeof *s);
			assert_non_null(s);
		}
		s[n].stream = dup_bytes(info->stream, info->stream_len);
		s[n].stream_len = info->stream_len;
		s[n].version = info->version;
		s[n].last_position = info->last_position;
		s[n].created_ns = info->created_ns;
		s[n].updated_ns = info->updated_ns;
		n++;
	}
	assert_status(rc, CAIRN_DONE);
	assert_status(cairn_stream_iter_next(si, &info), CAIRN_DONE);
	cairn_stream_iter_free(si);
	*out = s;
	return n;
}

void conf_streams_free(conf_stream *s, size_t n)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i].stream);
	free(s);
}

cairn_uuid conf_uuid(void)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t counter;
	static uint64_t salt;
	pthread_mutex_lock(&mu);
	if (salt == 0)
		salt = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	uint64_t c = ++counter;
	pthread_mutex_unlock(&mu);
	cairn_uuid id;
	for (int i = 0; i < 8; i++) {
		id.bytes[i] = (uint8_t)(salt >> (8 * i));
		id.bytes[8 + i] = (uint8_t)(c >> (8 * (7 - i)));
	}
	id.bytes[6] = (uint8_t)((id.bytes[6] & 0x0f) | 0x40); /* v4 layout */
	id.bytes[8] = (uint8_t)((id.bytes[8] & 0x3f) | 0x80);
	return id;
}
