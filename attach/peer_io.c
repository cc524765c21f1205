/*
 * The peer's transport: a TCP connection behind read/writev function
 * pointers; for wss:// the TLS layer (peer_tls.c) takes it over.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"

static ssize_t
tcp_read(struct peer_io *io, void *buf, size_t len)
{
	return read(io->fd, buf, len);
}

static ssize_t
tcp_writev(struct peer_io *io, const struct iovec *iov, int iovcnt)
{
	return writev(io->fd, iov, iovcnt);
}

static int
tcp_pending(struct peer_io *io)
{
	(void)io;
	return 0; /* the kernel holds everything; poll sees it */
}

static void
tcp_close(struct peer_io *io)
{
	if (io->fd != -1)
		close(io->fd);
	io->fd = -1;
}

/*
 * Tries every address the name resolves to, as a browser would. Returns 0,
 * or -1 with the reason already printed.
 */
int
io_connect(struct peer_io *io, const struct peer_url *url)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, error, on = 1, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	error = getaddrinfo(url->host, url->port, &hints, &res);
	if (error != 0) {
		peer_warnx("%s: %s", url->host, gai_strerror(error));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		peer_warnx("connect %s: %s", url->authority, strerror(saved));
		return -1;
	}
	/* Replies are batched by ws_flush; Nagle would only add latency. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	io->fd = fd;
	io->tls = NULL;
	io->read = tcp_read;
	io->writev = tcp_writev;
	io->pending = tcp_pending;
	io->close = tcp_close;
	return url->tls ? tls_connect(io, url) : 0;
}

/* 1 if input is waiting, 0 on timeout, -1 on error. */
int
io_wait_readable(struct peer_io *io, int timeout_ms)
{
	struct pollfd pfd = { .fd = io->fd, .events = POLLIN };
	int n;

	if (io->pending(io) > 0)
		return 1;
	do
		n = poll(&pfd, 1, timeout_ms);
	while (n == -1 && errno == EINTR);
	return n;
}
