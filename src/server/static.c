/*
 * static.c -- the web UI's files, served at / from one directory.
 *
 * The directory is --web DIR, else the installed share directory, else
 * web/ in the source tree the binary was built from.  A path is decoded,
 * refused when any segment starts with a dot (no "..", no hidden files)
 * or holds a backslash, resolved with realpath() and refused again unless
 * it lies inside the directory (a symlink pointing out of it is not
 * followed).  Only regular files are served.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"},
        {".woff2", "font/woff2"},
};

static const char *
content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot == NULL || strchr(dot, '/') != NULL)
		return "application/octet-stream";
	for (i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
		if (strcmp(dot, content_types[i].ext) == 0)
			return content_types[i].type;
	return "application/octet-stream";
}

static int
try_root(struct cairnd *srv, const char *dir)
{
	char real[PATH_MAX];
	struct stat sb;

	if (dir == NULL || realpath(dir, real) == NULL ||
	    stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return -1;
	snprintf(srv->web_root, sizeof(srv->web_root), "%s", real);
	return 0;
}

void
cairnd_web_init(struct cairnd *srv)
{
	srv->web_root[0] = '\0';
	if (srv->cfg.web_dir) {
		if (try_root(srv, srv->cfg.web_dir) != 0)
			fprintf(stderr, "cairnd: --web %s: not a directory\n",
			        srv->cfg.web_dir);
		return;
	}
#ifdef CAIRND_WEB_DIR_INSTALLED
	if (try_root(srv, CAIRND_WEB_DIR_INSTALLED) == 0)
		return;
#endif
#ifdef CAIRND_WEB_DIR_SOURCE
	(void)try_root(srv, CAIRND_WEB_DIR_SOURCE);
#endif
}

/* Any segment starting with a dot, or a backslash anywhere. */
static int
unsafe_path(const char *p)
{
	if (strchr(p, '\\') != NULL)
		return 1;
	for (; *p; p++)
		if (p[0] == '/' && p[1] == '.')
			return 1;
	return 0;
}

static enum MHD_Result
no_ui(struct cairnd_req *req)
{
	static const char page[] =
	        "<!doctype html><meta charset=utf-8><title>cairnd</title>"
	        "<p>cairnd is running. The web UI files were not found: "
	        "start cairnd with <code>--web DIR</code>. The API is "
	        "documented in docs/http-api.md.</p>\n";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	        sizeof(page) - 1, (void *)page, MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
	                        "text/html; charset=utf-8");
	return cairnd_queue(req, MHD_HTTP_OK, resp);
}

enum MHD_Result
cairnd_route_static(struct cairnd_req *req)
{
	struct cairnd *srv = req->srv;
	size_t ulen = strlen(req->url), rlen = strlen(srv->web_root);
	char *rel = NULL, full[PATH_MAX], real[PATH_MAX];
	struct MHD_Response *resp;
	struct stat sb;
	int fd = -1;

	if (srv->web_root[0] == '\0')
		return strcmp(req->url, "/") == 0
		               ? no_ui(req)
		               : cairnd_reply_error(req, MHD_HTTP_NOT_FOUND,
		                                    "not_found",
		                                    "no such file");
	rel = malloc(ulen + 1);
	if (rel == NULL)
		return cairnd_reply_nomem(req);
	if (cairnd_pct_decode(req->url, ulen, rel, 0) < 0 || rel[0] != '/' ||
	    unsafe_path(rel))
		goto not_found;
	if (snprintf(full, sizeof(full), "%s%s%s", srv->web_root, rel,
	             rel[strlen(rel) - 1] == '/' ? "index.html" : "") >=
	    (int)sizeof(full))
		goto not_found;
	if (realpath(full, real) == NULL ||
	    strncmp(real, srv->web_root, rlen) != 0 || real[rlen] != '/')
		goto not_found;
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		goto not_found;
	free(rel);
	resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
	if (resp == NULL) {
		close(fd);
		return cairnd_reply_nomem(req);
	}
	MHD_add_response_header(resp, "Content-Type", content_type(real));
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	return cairnd_queue(req, MHD_HTTP_OK, resp);
not_found:
	if (fd >= 0)
		close(fd);
	free(rel);
	return cairnd_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found",
	                          "no such file");
}
