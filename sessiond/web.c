/*
 * The static web client, read into memory once before the sandbox closes
 * (sessiond may not open files afterwards); served from there.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sessiond.h"

#define WEB_FILES_MAX 64
#define WEB_BYTES_MAX (8 * 1024 * 1024)

static struct web_file web_files[WEB_FILES_MAX];
static int web_nfiles;
static size_t web_bytes;

static const struct {
	const char *ext;
	const char *type;
} web_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
};

static const char *
web_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot != NULL && i < sizeof(web_types) / sizeof(web_types[0]);
	     i++)
		if (strcmp(dot, web_types[i].ext) == 0)
			return web_types[i].type;
	return NULL;
}

static void
web_add(const char *dir, const char *name)
{
	struct web_file *f;
	struct stat st;
	char path[CONF_PATH_MAX + 128];
	const char *type;
	ssize_t n;
	int fd;

	if ((type = web_type(name)) == NULL ||
	    strlen(name) + 2 > sizeof(f->path))
		return;
	if (web_nfiles == WEB_FILES_MAX) {
		log_warnx("web: more than %d files; ignoring %s", WEB_FILES_MAX,
		    name);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		if (fd != -1)
			close(fd);
		return;
	}
	if (web_bytes + (size_t)st.st_size > WEB_BYTES_MAX)
		fatalx("web: %s exceeds the %d MiB for static files", path,
		    WEB_BYTES_MAX >> 20);
	f = &web_files[web_nfiles];
	if ((f->data = malloc(st.st_size ? st.st_size : 1)) == NULL)
		fatal("malloc");
	n = read(fd, f->data, st.st_size);
	close(fd);
	if (n != st.st_size)
		fatalx("web: short read of %s", path);
	f->len = (size_t)n;
	f->type = type;
	snprintf(f->path, sizeof(f->path), "/%s", name);
	web_bytes += f->len;
	web_nfiles++;
}

/* One directory level: the client is a handful of files. */
void
web_load(const char *dir)
{
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		log_warnx("web: %s: %s; serving no page", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			web_add(dir, de->d_name);
	closedir(d);
	log_debug("web: %d files, %zu bytes from %s", web_nfiles, web_bytes,
	    dir);
}

const struct web_file *
web_find(const char *path)
{
	int i;

	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (i = 0; i < web_nfiles; i++)
		if (strcmp(web_files[i].path, path) == 0)
			return &web_files[i];
	return NULL;
}
