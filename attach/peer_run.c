/*
 * What vmedia-attach and the test peer share above the layers: logging,
 * sizes and URLs, the image, and one session from connect to end.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

int peer_verbose;
const char *peer_progname = "vmedia-peer";
struct peer_stats peer_stats;
volatile sig_atomic_t peer_stop;
volatile sig_atomic_t peer_live;
volatile sig_atomic_t peer_line_open;

static void
peer_vlog(const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	/* A progress line without its newline yet gets one first. */
	n = snprintf(line, sizeof(line), "%s%s: ", peer_line_open ? "\n" : "",
	    peer_progname);
	peer_line_open = 0;
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line: lines of concurrent peers do not interleave. */
	(void)!write(STDERR_FILENO, line, n);
}

void
peer_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (peer_verbose < level)
		return;
	va_start(ap, fmt);
	peer_vlog(fmt, ap);
	va_end(ap);
}

void
peer_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	peer_vlog(fmt, ap);
	va_end(ap);
}

/* n, with a K, M, G or T suffix (powers of 1024); -1 if malformed. */
int
peer_parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long n;
	int shift = 0;

	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	}
	if (*end != '\0' || (shift && n > (UINT64_MAX >> shift)))
		return -1;
	*v = (uint64_t)n << shift;
	return 0;
}

/* ws[s]://host[:port][/path]; host may be [v6]. */
int
peer_parse_url(const char *s, struct peer_url *u)
{
	const char *auth, *slash, *close, *colon = NULL;
	size_t hlen, plen;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "ws://", 5) == 0)
		auth = s + 5;
	else if (strncasecmp(s, "wss://", 6) == 0) {
		auth = s + 6;
		u->tls = 1;
	} else
		return -1;
	slash = auth + strcspn(auth, "/?#");
	if (slash == auth || (size_t)(slash - auth) >= sizeof(u->authority))
		return -1;
	memcpy(u->authority, auth, slash - auth);
	if (auth[0] == '[') {
		if ((close = memchr(auth, ']', slash - auth)) == NULL)
			return -1;
		hlen = close - auth - 1;
		memcpy(u->host, auth + 1, hlen < sizeof(u->host) ? hlen : 0);
		if (close + 1 < slash && close[1] != ':')
			return -1;
		colon = close + 1 < slash ? close + 1 : NULL;
	} else {
		colon = memchr(auth, ':', slash - auth);
		hlen = (colon ? colon : slash) - auth;
		if (hlen >= sizeof(u->host))
			return -1;
		memcpy(u->host, auth, hlen);
	}
	if (u->host[0] == '\0')
		return -1;
	if (colon) {
		hlen = slash - colon - 1;
		if (hlen == 0 || hlen >= sizeof(u->port) ||
		    strspn(colon + 1, "0123456789") < hlen)
			return -1;
		memcpy(u->port, colon + 1, hlen);
		if (atoi(u->port) < 1 || atoi(u->port) > 65535)
			return -1;
	} else
		snprintf(u->port, sizeof(u->port), "%s", u->tls ? "443" : "80");
	/* "ws://host", "ws://host?q" send an absolute path; no fragment. */
	plen = strcspn(slash, "#");
	if (plen + 2 > sizeof(u->path))
		return -1;
	u->path[0] = '/';
	memcpy(u->path + (*slash != '/'), slash, plen);
	return 0;
}

/* The size the handshake advertises; also the bound for requests. */
uint64_t
peer_export_size(const struct peer_opts *o, const struct stat *sb)
{
	if (PEER_FAULT(o) == FAULT_ZERO_SIZE)
		return 0;
	if (PEER_FAULT(o) == FAULT_HUGE_SIZE)
		return 1ULL << 62;
	return o->have_size ? o->size : (uint64_t)sb->st_size;
}

int
peer_open_image(const char *path, const struct peer_opts *o, struct stat *sb)
{
	int fd;

	fd = open(path, (o->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd == -1) {
		peer_warnx("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, sb) == -1 || !S_ISREG(sb->st_mode)) {
		peer_warnx("%s: not a regular file", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* One session over a connected, upgraded WebSocket; returns the status. */
static int
peer_session(struct ws *ws, int fd, const struct peer_opts *o, uint64_t size)
{
	if (nbd_handshake(ws, o, size) == -1)
		return ws->status;
	if (o->on_ready != NULL && o->on_ready(o, size) == -1) {
		ws_abort(ws, PEER_EXIT_LOCAL);
		return ws->status;
	}
	return xmit_serve(ws, fd, o, size, &peer_stats);
}

/* Connects, upgrades and serves one session; returns the exit status. */
int
peer_run(const struct peer_url *url, int fd, const struct peer_opts *o,
    uint64_t size)
{
	struct peer_io io;
	struct ws ws;
	int rc;

	if (ws_init(&ws, &io, o->max_frame) == -1) {
		peer_warnx("out of memory");
		ws_free(&ws);
		return PEER_EXIT_LOCAL;
	}
	clock_gettime(CLOCK_MONOTONIC, &peer_stats.start);
	if (io_connect(&io, url) == -1)
		rc = PEER_EXIT_ABNORMAL;
	else if ((rc = http_upgrade(&ws, url, o)) != 0)
		io.close(&io);
	else {
		peer_live = 1;
		peer_log(1, "connected to %s%s, %" PRIu64 " bytes%s",
		    url->authority, url->path, size,
		    o->read_only ? ", read-only" : "");
		rc = peer_session(&ws, fd, o, size);
	}
	peer_live = 0;
	ws_free(&ws);
	return rc;
}
