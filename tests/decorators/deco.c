/*
 * deco.c -- helpers of the decorator tests (see deco.h).
 */
#include "deco.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

void
deco_tmpdir(char *buf, size_t size)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t)snprintf(buf, size, "%s/cairn-deco-XXXXXX", base) >= size)
		fail_msg("TMPDIR is too long");
	if (mkdtemp(buf) == NULL)
		fail_msg("mkdtemp %s failed", buf);
}

void
deco_rmtree(const char *path)
{
	struct dirent *de;
	struct stat sb;
	char sub[4096];
	DIR *d;

	if (path[0] == '\0' || lstat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
		                     de->d_name) < sizeof(sub))
			deco_rmtree(sub);
	}
	if (d != NULL)
		closedir(d);
	rmdir(path);
}

cairn_store *
deco_open(const char *uri, char *dir, size_t dir_size)
{
	char full[4200];
	cairn_store *st = NULL;

	dir[0] = '\0';
	if (strcmp(uri, "lmdb") == 0) {
		deco_tmpdir(dir, dir_size);
		snprintf(full, sizeof(full), "lmdb:%s", dir);
		uri = full;
	}
	assert_status(cairn_open(uri, NULL, &st), CAIRN_OK);
	return st;
}

cairn_new_event
deco_ev(const char *type, const char *data)
{
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;

	ev.type = type;
	ev.data = data;
	ev.data_len = data ? strlen(data) : 0;
	return ev;
}

cairn_status
deco_append(cairn_store *st, const char *stream, int64_t expected,
            const char *type, const char *data, cairn_append_result *res)
{
	cairn_new_event ev = deco_ev(type, data);

	return cairn_append(st, stream, expected, &ev, 1, res);
}

static void
put_bytes(FILE *f, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

char *
deco_drain(cairn_iter *it, cairn_status *final)
{
	const cairn_event *e;
	char id[37], *text = NULL;
	size_t len = 0, i;
	cairn_status rc;
	FILE *f;

	f = open_memstream(&text, &len);
	assert_non_null(f);
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		cairn_uuid_format(&e->id, id);
		fprintf(f, "%llu %llu %s %s(%zu) %s(%zu) ",
		        (unsigned long long)e->position,
		        (unsigned long long)e->version, id, e->stream,
		        e->stream_len, e->type, e->type_len);
		put_bytes(f, e->data, e->data_len);
		fputc(' ', f);
		put_bytes(f, e->metadata, e->metadata_len);
		fprintf(f, " %lld [", (long long)e->time_ns);
		for (i = 0; i < e->ntags; i++)
			fprintf(f, "%s%s", i ? "," : "", e->tags[i]);
		fputs("]\n", f);
	}
	fclose(f);
	*final = rc;
	return text;
}

char *
deco_drain_streams(cairn_stream_iter *it, cairn_status *final)
{
	const cairn_stream_info *s;
	char *text = NULL;
	size_t len = 0;
	cairn_status rc;
	FILE *f;

	f = open_memstream(&text, &len);
	assert_non_null(f);
	while ((rc = cairn_stream_iter_next(it, &s)) == CAIRN_ROW)
		fprintf(f, "%s(%zu) v%llu p%llu %lld %lld\n", s->stream,
		        s->stream_len, (unsigned long long)s->version,
		        (unsigned long long)s->last_position,
		        (long long)s->created_ns, (long long)s->updated_ns);
	fclose(f);
	cairn_stream_iter_free(it);
	*final = rc;
	return text;
}
