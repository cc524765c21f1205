/*
 * The parent binds every socket a child serves on: the HTTP and NBD
 * listeners and each socket export's Unix socket (mode 0600), then hands them
 * to sessiond, which may not create sockets itself.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmediad.h"

/*
 * Connections the kernel completes before sessiond accepts them. sessiond
 * accepts even past max-connections (to close at once, or to make room),
 * but a flood outruns it: with 128, 10,000 clients connecting at once saw
 * dropped SYNs and waited out second-long retries (a minute in all);
 * with 1024 they are all answered within the handshake bound.
 */
#define LISTEN_BACKLOG 1024

/* A stale socket file from an earlier run may go; anything else stays. */
static int
unlink_stale_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	return unlink(path);
}

static int
bind_unix(const char *path, mode_t mode)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (unlink_stale_socket(path) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, mode) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
bind_inet(const struct conf_listen *l)
{
	int fd, one = 1;

	fd = socket(l->addr.sa.sa_family,
	    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (l->addr.sa.sa_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ==
		    -1) ||
	    bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Binds every HTTP and NBD listener; any failure is fatal at start. */
void
listen_bind_http(struct vmediad *env)
{
	const struct conf_global *g = &env->conf->global;
	const struct conf_listen *l;
	int i;

	for (i = 0; i < g->nlisten; i++) {
		l = &g->listen[i];
		if (l->addr.sa.sa_family == AF_UNIX)
			env->http_fds[i] =
			    bind_unix(((const struct sockaddr_un *)&l->addr)
					  ->sun_path,
				0666);
		else
			env->http_fds[i] = bind_inet(l);
		if (env->http_fds[i] == -1)
			fatal("listen %s", l->text);
	}
	env->nhttp = g->nlisten;
}

/* The channel owns fd from here: it closes it once sessiond has it. */
static void
send_listener(struct vmediad *env, int kind, int index, const char *export,
    int fd)
{
	struct msg_listener ml;

	memset(&ml, 0, sizeof(ml));
	ml.kind = kind;
	ml.index = index;
	snprintf(ml.export, sizeof(ml.export), "%s", export);
	chan_send(&env->procs[PROC_SESSIOND].chan, MSG_LISTENER, &ml,
	    sizeof(ml), fd);
}

void
listen_send_http(struct vmediad *env)
{
	int i;

	for (i = 0; i < env->nhttp; i++) {
		send_listener(env,
		    env->conf->global.listen[i].nbd ? MSG_LISTEN_NBD :
						      MSG_LISTEN_HTTP,
		    i, "", env->http_fds[i]);
		env->http_fds[i] = -1;
	}
}

static int
export_bound(const struct vmediad *env, const char *name)
{
	int i;

	for (i = 0; i < env->nbound; i++)
		if (strcmp(env->bound[i].name, name) == 0)
			return 1;
	return 0;
}

/*
 * Binds the sockets of socket exports not yet served and sends them; on
 * reload, removes the sockets of exports that are gone.
 */
void
listen_exports(struct vmediad *env)
{
	const struct conf_export *e;
	int i, fd;

	for (i = 0; i < env->nbound; i++) {
		if (conf_find_export(env->conf, env->bound[i].name) != NULL)
			continue;
		unlink(env->bound[i].path);
		env->bound[i] = env->bound[--env->nbound];
		i--;
	}
	for (i = 0; i < env->conf->nexports; i++) {
		e = &env->conf->exports[i];
		if (e->socket[0] == '\0' || export_bound(env, e->name))
			continue;
		if ((fd = bind_unix(e->socket, 0600)) == -1) {
			log_warn("export %s: listen on %s", e->name, e->socket);
			continue;
		}
		snprintf(env->bound[env->nbound].name,
		    sizeof(env->bound[env->nbound].name), "%s", e->name);
		snprintf(env->bound[env->nbound].path,
		    sizeof(env->bound[env->nbound].path), "%s", e->socket);
		env->nbound++;
		send_listener(env, MSG_LISTEN_EXPORT, 0, e->name, fd);
	}
}

void
listen_cleanup(struct vmediad *env)
{
	int i;

	for (i = 0; i < env->nbound; i++)
		unlink(env->bound[i].path);
	env->nbound = 0;
}
