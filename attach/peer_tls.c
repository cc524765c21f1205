/*
 * The peer's TLS for wss://: OpenSSL behind the same four peer_io calls
 * as plain TCP. Reads and writes move whole buffers, not a record a call.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "peer.h"

/*
 * Plaintext is gathered into one SSL_write of up to TLS_STAGE bytes; the
 * records it makes leave through a buffer BIO in writes of TLS_WBUF, and
 * come in with read-ahead into a TLS_RBUF buffer: a syscall per many
 * records rather than one each.
 */
#define TLS_STAGE (256 * 1024)
#define TLS_WBUF (512 * 1024)
#define TLS_RBUF (256 * 1024)

struct peer_tls {
	SSL *ssl;
	BIO *wbio; /* buffer BIO, then socket */
	uint8_t *stage;
	int broken; /* fatal error: no close_notify */
};

#ifdef PEER_TEST
#define TLS_TRUST_HINT \
	"trust it with --ca FILE, or skip the check with --insecure"
#define TLS_CA_OPTION "--ca"
#else
#define TLS_TRUST_HINT "trust its CA with -c FILE"
#define TLS_CA_OPTION "-c"
#endif

static SSL_CTX *tls_ctx;
static int tls_insecure;

/* The queued OpenSSL error, or what else went wrong, for one line. */
static const char *
tls_reason(char *buf, size_t size)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, size, "%s",
		    errno ? strerror(errno) : "connection closed");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return buf;
}

/* The context for every wss:// connection; -1 (said why) on error. */
int
tls_init(const char *ca_file, int insecure)
{
	char why[256];

	if ((tls_ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION)) {
		peer_warnx("TLS context: %s", tls_reason(why, sizeof(why)));
		return -1;
	}
	/* The WebSocket close frame, not close_notify, ends a session. */
	SSL_CTX_set_options(tls_ctx,
	    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(tls_ctx, SSL_MODE_AUTO_RETRY);
	SSL_CTX_set_read_ahead(tls_ctx, 1);
	SSL_CTX_set_default_read_buffer_len(tls_ctx, TLS_RBUF);
	tls_insecure = insecure;
	if (insecure) {
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
	/* Like curl --cacert: the given file replaces the system store. */
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(tls_ctx, ca_file, NULL) !=
		    1) {
			peer_warnx("%s %s: %s", TLS_CA_OPTION, ca_file,
			    tls_reason(why, sizeof(why)));
			return -1;
		}
	} else if (SSL_CTX_set_default_verify_paths(tls_ctx) != 1) {
		peer_warnx("system certificate store: %s",
		    tls_reason(why, sizeof(why)));
		return -1;
	}
	return 0;
}

/* Maps an SSL result onto read/write conventions: -1 with errno, or 0. */
static ssize_t
tls_failed(struct peer_io *io, int rv, const char *what)
{
	struct peer_tls *t = io->tls;
	char why[256];

	switch (SSL_get_error(t->ssl, rv)) {
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify, or a bare EOF */
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EINTR; /* a signal cut a blocking call: retry */
		return -1;
	case SSL_ERROR_SYSCALL:
		t->broken = 1;
		if (errno == 0)
			errno = ECONNRESET;
		ERR_clear_error();
		return -1;
	default:
		t->broken = 1;
		peer_warnx("TLS %s: %s", what, tls_reason(why, sizeof(why)));
		errno = EPROTO;
		return -1;
	}
}

/* One blocking read, then whatever the read-ahead already holds. */
static ssize_t
tls_read(struct peer_io *io, void *buf, size_t len)
{
	struct peer_tls *t = io->tls;
	size_t got = 0, n;
	int rv;

	if (t == NULL) { /* closed: as read(2) on a closed fd */
		errno = EBADF;
		return -1;
	}
	errno = 0;
	do {
		rv = SSL_read_ex(t->ssl, (uint8_t *)buf + got, len - got, &n);
		if (rv != 1)
			return got > 0 ? (ssize_t)got :
					 tls_failed(io, rv, "read");
		got += n;
	} while (got < len && SSL_has_pending(t->ssl));
	return got;
}

/* Gathers up to TLS_STAGE bytes into one write; short counts are fine. */
static ssize_t
tls_writev(struct peer_io *io, const struct iovec *iov, int iovcnt)
{
	struct peer_tls *t = io->tls;
	const uint8_t *src;
	size_t len = 0, n, written;
	int i, rv;

	if (t == NULL) {
		errno = EBADF;
		return -1;
	}
	if (iovcnt == 1 && iov[0].iov_len >= TLS_STAGE) {
		src = iov[0].iov_base;
		len = iov[0].iov_len;
	} else {
		for (i = 0; i < iovcnt && len < TLS_STAGE; i++) {
			n = iov[i].iov_len;
			if (n > TLS_STAGE - len)
				n = TLS_STAGE - len;
			memcpy(t->stage + len, iov[i].iov_base, n);
			len += n;
		}
		src = t->stage;
	}
	if (len == 0)
		return 0;
	errno = 0;
	rv = SSL_write_ex(t->ssl, src, len, &written);
	if (rv != 1)
		return tls_failed(io, rv, "write");
	/* Written is written: a signal must not make the caller send twice. */
	while (BIO_flush(t->wbio) != 1) {
		if (!BIO_should_retry(t->wbio)) {
			t->broken = 1;
			if (errno == 0)
				errno = EPIPE;
			return -1;
		}
	}
	return written;
}

static int
tls_pending(struct peer_io *io)
{
	struct peer_tls *t = io->tls;

	if (t == NULL)
		return 0;
	return SSL_pending(t->ssl) > 0 || SSL_has_pending(t->ssl);
}

/*
 * close_notify on the way out unless the connection broke; never blocks,
 * so a stalled server cannot hold the peer up.
 */
static void
tls_close(struct peer_io *io)
{
	struct peer_tls *t = io->tls;

	if (t == NULL)
		return;
	if (!t->broken && io->fd != -1 &&
	    fcntl(io->fd, F_SETFL, fcntl(io->fd, F_GETFL) | O_NONBLOCK) == 0) {
		(void)SSL_shutdown(t->ssl);
		(void)BIO_flush(t->wbio);
	}
	ERR_clear_error();
	SSL_free(t->ssl); /* frees both BIOs, not the fd */
	free(t->stage);
	free(t);
	io->tls = NULL;
	if (io->fd != -1)
		close(io->fd);
	io->fd = -1;
}

static int
host_is_ip(const char *host)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
}

/* Why verification failed, and what to do about it. */
static void
tls_verify_failed(const struct peer_url *url, long result)
{
	peer_warnx("TLS certificate of %s not trusted: %s (%s)", url->authority,
	    X509_verify_cert_error_string(result), TLS_TRUST_HINT);
}

/*
 * TLS over the connected io->fd: SNI, the name or address checked against
 * the certificate, then the handshake. 0, or -1 with the reason printed.
 */
int
tls_connect(struct peer_io *io, const struct peer_url *url)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	struct peer_tls *t;
	BIO *rbio = NULL, *sock = NULL;
	X509_VERIFY_PARAM *vp;
	char why[256];
	long result;
	int rv, ip = host_is_ip(url->host);

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->stage = malloc(TLS_STAGE)) == NULL ||
	    (t->ssl = SSL_new(tls_ctx)) == NULL ||
	    (rbio = BIO_new_socket(io->fd, BIO_NOCLOSE)) == NULL ||
	    (sock = BIO_new_socket(io->fd, BIO_NOCLOSE)) == NULL ||
	    (t->wbio = BIO_new(BIO_f_buffer())) == NULL ||
	    BIO_set_write_buffer_size(t->wbio, TLS_WBUF) != 1) {
		peer_warnx("TLS setup: %s", tls_reason(why, sizeof(why)));
		goto fail;
	}
	BIO_push(t->wbio, sock);
	sock = NULL;
	SSL_set_bio(t->ssl, rbio, t->wbio);
	rbio = NULL;
	io->tls = t;
	io->read = tls_read;
	io->writev = tls_writev;
	io->pending = tls_pending;
	io->close = tls_close;

	/* RFC 6066: no address literal in SNI. */
	if (!ip && SSL_set_tlsext_host_name(t->ssl, url->host) != 1)
		goto setup;
	if (SSL_set_alpn_protos(t->ssl, alpn, sizeof(alpn) - 1) != 0)
		goto setup;
	if (!tls_insecure) {
		vp = SSL_get0_param(t->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, url->host) :
			  X509_VERIFY_PARAM_set1_host(vp, url->host, 0)) != 1)
			goto setup;
	}

	errno = 0;
	if ((rv = SSL_connect(t->ssl)) != 1) {
		t->broken = 1;
		result = SSL_get_verify_result(t->ssl);
		if (!tls_insecure && result != X509_V_OK)
			tls_verify_failed(url, result);
		else
			peer_warnx("TLS handshake with %s failed: %s",
			    url->authority, tls_reason(why, sizeof(why)));
		ERR_clear_error();
		io->close(io);
		return -1;
	}
	peer_log(1, "TLS: %s %s, certificate %s", SSL_get_version(t->ssl),
	    SSL_get_cipher_name(t->ssl),
	    tls_insecure ? "not checked (--insecure)" : "verified");
	return 0;

setup:
	peer_warnx("TLS setup for %s: %s", url->host,
	    tls_reason(why, sizeof(why)));
	t->broken = 1;
	io->close(io);
	return -1;
fail:
	BIO_free(rbio);
	BIO_free(sock);
	if (t != NULL) {
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		free(t->stage);
		free(t);
	}
	close(io->fd);
	io->fd = -1;
	return -1;
}
