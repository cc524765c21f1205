/*
 * vmedia-peer's side of the reconnect window (vmediad's ARCHITECTURE.md):
 * a login for a cookie, the resume secret fetched once attached, and the
 * resume asked for after a cut. Each call is one HTTP/1.1 request on a
 * connection of its own (Connection: close), JSON in and out.
 */
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "peer.h"

#define API_REQ_MAX 8192
#define API_RESP_MAX 16384
#define API_WAIT_MS 10000
#define COOKIE_NAME "vmediad_session"

/* The value of a response header, copied; 0 if found. */
static int
api_header(const char *head, const char *name, char *val, size_t vlen)
{
	const char *line, *eol, *v;
	size_t nlen = strlen(name), len;

	for (line = strstr(head, "\r\n"); line != NULL; line = eol) {
		line += 2;
		if ((eol = strstr(line, "\r\n")) == NULL || eol == line)
			break;
		if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
			continue;
		for (v = line + nlen + 1; *v == ' ' || *v == '\t'; v++)
			;
		len = eol - v;
		if (len >= vlen)
			len = vlen - 1;
		memcpy(val, v, len);
		val[len] = '\0';
		return 0;
	}
	return -1;
}

/* The headers every call and the upgrade carry: Origin, then who we are. */
size_t
api_auth_headers(const struct peer_url *url, const struct peer_opts *o,
    char *buf, size_t size)
{
	size_t n;

	n = snprintf(buf, size, "Origin: %s://%s\r\n",
	    url->tls ? "https" : "http", url->authority);
	if (o->cookie[0] != '\0' && n < size)
		n += snprintf(buf + n, size - n, "Cookie: %s=%s\r\n",
		    COOKIE_NAME, o->cookie);
	else if (o->basic != NULL && n < size) {
		size_t need = 4 * ((strlen(o->basic) + 2) / 3) + 32;

		if (n + need >= size)
			return size;
		n += snprintf(buf + n, size - n, "Authorization: Basic ");
		n += EVP_EncodeBlock((unsigned char *)buf + n,
		    (const unsigned char *)o->basic, strlen(o->basic));
		n += snprintf(buf + n, size - n, "\r\n");
	}
	return n;
}

/*
 * POSTs body to path; the status, or -1 on a transport error. The
 * response body (NUL-terminated) lands in out, a session cookie in
 * cookie (if not NULL).
 */
static int
api_post(const struct peer_url *url, const struct peer_opts *o,
    const char *path, const char *body, char *out, size_t outsize, char *cookie,
    size_t cookiesize)
{
	struct peer_io io;
	struct iovec iov;
	char *req, *resp, *end, val[512];
	size_t len = 0, have = 0;
	int status = -1, major, minor;
	ssize_t n;

	if ((req = malloc(API_REQ_MAX)) == NULL ||
	    (resp = malloc(API_RESP_MAX + 1)) == NULL) {
		free(req);
		return -1;
	}
	len = snprintf(req, API_REQ_MAX,
	    "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n",
	    path, url->authority, strlen(body));
	len += api_auth_headers(url, o, req + len, API_REQ_MAX - len);
	if (len + strlen(body) + 3 >= API_REQ_MAX)
		goto done;
	len += snprintf(req + len, API_REQ_MAX - len, "\r\n%s", body);
	if (io_connect(&io, url) == -1)
		goto done;
	iov.iov_base = req;
	iov.iov_len = len;
	while (iov.iov_len > 0) {
		n = io.writev(&io, &iov, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto closed;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= n;
	}
	while (have < API_RESP_MAX &&
	    (io.pending(&io) || io_wait_readable(&io, API_WAIT_MS) > 0)) {
		n = io.read(&io, resp + have, API_RESP_MAX - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += n;
	}
	resp[have] = '\0';
	if (sscanf(resp, "HTTP/%d.%d %d", &major, &minor, &status) != 3 ||
	    (end = strstr(resp, "\r\n\r\n")) == NULL) {
		status = -1;
		goto closed;
	}
	end[2] = '\0';
	if (out != NULL)
		snprintf(out, outsize, "%s", end + 4);
	if (cookie != NULL &&
	    api_header(resp, "Set-Cookie", val, sizeof(val)) == 0 &&
	    strncmp(val, COOKIE_NAME "=", strlen(COOKIE_NAME) + 1) == 0) {
		snprintf(cookie, cookiesize, "%.*s",
		    (int)strcspn(val + strlen(COOKIE_NAME) + 1, ";"),
		    val + strlen(COOKIE_NAME) + 1);
	}
closed:
	io.close(&io);
done:
	explicit_bzero(req, API_REQ_MAX);
	free(req);
	free(resp);
	return status;
}

/* --login user:password: the session cookie into o->cookie. */
int
api_login(const struct peer_url *url, struct peer_opts *o)
{
	char body[512], user[128];
	const char *colon = strchr(o->login, ':');
	int status;

	if (colon == NULL || (size_t)(colon - o->login) >= sizeof(user))
		return -1;
	memcpy(user, o->login, colon - o->login);
	user[colon - o->login] = '\0';
	snprintf(body, sizeof(body),
	    "{\"username\": \"%s\", \"password\": \"%s\"}", user, colon + 1);
	status = api_post(url, o, "/api/login", body, NULL, 0, o->cookie,
	    sizeof(o->cookie));
	explicit_bzero(body, sizeof(body));
	if (status != 200 || o->cookie[0] == '\0') {
		peer_warnx("login as %s failed: HTTP %d", user, status);
		return -1;
	}
	peer_log(1, "logged in as %s", user);
	return 0;
}

/* The export's name from the WebSocket's path, /nbd/NAME. */
static int
api_export(const struct peer_url *url, char *name, size_t size)
{
	if (strncmp(url->path, "/nbd/", 5) != 0 || url->path[5] == '\0' ||
	    strlen(url->path + 5) >= size)
		return -1;
	snprintf(name, size, "%s", url->path + 5);
	return 0;
}

/*
 * The resume secret, once the session is attached: a child asks (the
 * peer must go on serving the sample reads and the attach meanwhile)
 * until it is given, and hands it over a pipe. Returns the pipe's read
 * end, or -1.
 */
int
api_fetch_secret(const struct peer_url *url, const struct peer_opts *o,
    pid_t *pid)
{
	char path[512], name[256], out[1024], *p;
	int fds[2], status = -1, i;

	if (api_export(url, name, sizeof(name)) == -1) {
		peer_warnx("resume: the URL's path is not /nbd/NAME");
		return -1;
	}
	if (pipe(fds) == -1)
		return -1;
	if ((*pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (*pid > 0) {
		close(fds[1]);
		return fds[0];
	}
	close(fds[0]);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	snprintf(path, sizeof(path), "/api/exports/%s/resume-secret", name);
	for (i = 0; i < 200; i++) {
		status = api_post(url, o, path, "", out, sizeof(out), NULL, 0);
		if (status == 200)
			break;
		poll(NULL, 0, 100);
	}
	if (status == 200 && (p = strstr(out, "\"secret\": \"")) != NULL &&
	    strlen(p + 11) > 64 && p[11 + 64] == '"') {
		(void)write(fds[1], p + 11, 64);
		_exit(0);
	}
	peer_warnx("resume secret not given: HTTP %d %s", status, out);
	_exit(1);
}

/* Collects the secret from the child: 0 with 64 hex digits in hex. */
int
api_secret_collect(int fd, pid_t pid, char hex[65])
{
	ssize_t n = 0, r;
	int st;

	while (fd != -1 && n < 64) {
		r = read(fd, hex + n, 64 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	hex[n] = '\0';
	if (fd != -1)
		close(fd);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return n == 64 ? 0 : -1;
}

/* POST .../resume with the secret: the HTTP status. */
int
api_resume(const struct peer_url *url, const struct peer_opts *o,
    const char *hex)
{
	char path[512], name[256], body[128], out[1024];
	int status;

	if (api_export(url, name, sizeof(name)) == -1)
		return -1;
	snprintf(path, sizeof(path), "/api/exports/%s/resume", name);
	snprintf(body, sizeof(body), "{\"secret\": \"%s\"}", hex);
	status = api_post(url, o, path, body, out, sizeof(out), NULL, 0);
	explicit_bzero(body, sizeof(body));
	if (status != 200)
		peer_warnx("resume refused: HTTP %d %s", status, out);
	return status;
}
