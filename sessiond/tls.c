/*
 * TLS through OpenSSL and libevent's bufferevent_openssl: everything
 * above (HTTP, WebSocket, the relay) sees a bufferevent like any other.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
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
static int client_certs; /* nbd-client-ca loaded */

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
	STACK_OF(X509_NAME) * cas;
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
	/* NBD clients' certificates: asked for on nbd-listen's TLS only. */
	if (g->nbd_client_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(tls_ctx, g->nbd_client_ca,
			NULL) != 1)
			tls_fatal("nbd-client-ca", g->nbd_client_ca);
		if ((cas = SSL_load_client_CA_file(g->nbd_client_ca)) == NULL)
			tls_fatal("nbd-client-ca names", g->nbd_client_ca);
		SSL_CTX_set_client_CA_list(tls_ctx, cas);
		client_certs = 1;
	}
	/* Seed the generator now: later it may not open anything. */
	if (RAND_bytes(seed, sizeof(seed)) != 1)
		tls_fatal("random", "");
	log_debug("tls: %s loaded", g->tls_certificate);
}

static struct bufferevent *
tls_accept(struct event_base *base, int fd, int verify)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(tls_ctx)) == NULL) {
		close(fd);
		return NULL;
	}
	if (verify)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
	}
	return bev;
}

struct bufferevent *
tls_bufferevent(struct event_base *base, int fd)
{
	return tls_accept(base, fd, 0);
}

/*
 * An NBD client after STARTTLS: with nbd-client-ca, a certificate is
 * asked for, and one that does not chain to those CAs fails the
 * handshake; a client may still send none.
 */
struct bufferevent *
tls_bufferevent_nbd(struct event_base *base, int fd)
{
	return tls_accept(base, fd, client_certs);
}

/*
 * The user a verified client certificate names: its subject's CN, else
 * the first DNS or email name of its subjectAltName, for which is_user
 * says yes. 1: name is that user; 0: the certificate names none (name is
 * its CN, or what it has, for the log); -1: no verified certificate.
 */
int
tls_peer_user(struct bufferevent *bev, int (*is_user)(const char *), char *name,
    size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	GENERAL_NAMES *sans;
	const GENERAL_NAME *gn;
	X509 *cert;
	char cn[256];
	int i, n, found = 0;

	name[0] = '\0';
	if (ssl == NULL || (cert = SSL_get_peer_certificate(ssl)) == NULL)
		return -1;
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		X509_free(cert);
		return -1;
	}
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	    NID_commonName, cn, sizeof(cn));
	if (n > 0 && (size_t)n == strlen(cn)) {
		snprintf(name, len, "%s", cn);
		found = is_user(cn);
	}
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; !found && sans != NULL && i < sk_GENERAL_NAME_num(sans);
	     i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_DNS && gn->type != GEN_EMAIL)
			continue;
		n = ASN1_STRING_length(gn->d.ia5);
		if (n <= 0 || (size_t)n >= sizeof(cn))
			continue;
		memcpy(cn, ASN1_STRING_get0_data(gn->d.ia5), (size_t)n);
		cn[n] = '\0';
		if (strlen(cn) != (size_t)n)
			continue;
		if (name[0] == '\0')
			snprintf(name, len, "%s", cn);
		if (is_user(cn)) {
			snprintf(name, len, "%s", cn);
			found = 1;
		}
	}
	GENERAL_NAMES_free(sans);
	X509_free(cert);
	return found;
}
