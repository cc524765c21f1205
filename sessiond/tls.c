/*
 * TLS through OpenSSL and libevent's bufferevent_openssl: everything
 * above (HTTP, WebSocket, the relay) sees a bufferevent like any other.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "tls.h"

/*
 * TLS 1.2's choice, strongest first: forward secrecy (ECDHE) and AEAD
 * only, as Mozilla's "intermediate" profile without finite-field DHE.
 * TLS 1.3's suites are all of that kind already.
 */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305"

static SSL_CTX *tls_ctx;

static void
tls_fatal(const char *what, const char *path)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	fatalx("tls: %s %s: %s", what, path, buf);
}

/* Only when a listener asks for it: keys then live in this process. */
void
tls_init(const struct conf_global *g)
{
	unsigned char seed[16];
	int i, wanted = 0;

	for (i = 0; i < g->nlisten; i++)
		wanted |= g->listen[i].tls;
	if (!wanted)
		return;
	if ((tls_ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		tls_fatal("context", "");
	if (!SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION))
		tls_fatal("minimum version", "TLS 1.2");
	if (!SSL_CTX_set_cipher_list(tls_ctx, TLS12_CIPHERS))
		tls_fatal("cipher list", TLS12_CIPHERS);
	SSL_CTX_set_options(tls_ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(tls_ctx, g->tls_certificate) !=
	    1)
		tls_fatal("certificate", g->tls_certificate);
	if (SSL_CTX_use_PrivateKey_file(tls_ctx, g->tls_key,
		SSL_FILETYPE_PEM) != 1)
		tls_fatal("key", g->tls_key);
	if (SSL_CTX_check_private_key(tls_ctx) != 1)
		tls_fatal("key does not match", g->tls_certificate);
	/* Seed the generator now: later it may not open anything. */
	if (RAND_bytes(seed, sizeof(seed)) != 1)
		tls_fatal("random", "");
	log_debug("tls: %s loaded", g->tls_certificate);
}

struct bufferevent *
tls_bufferevent(struct event_base *base, int fd)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(tls_ctx)) == NULL) {
		close(fd);
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
	}
	return bev;
}
