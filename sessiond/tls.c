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

/* The same TLS 1.3 suites as OpenSSL's default, in another order. */
#define TLS13_PSK_FIRST \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:" \
	"TLS_AES_256_GCM_SHA384"

static SSL_CTX *tls_ctx;
static int client_certs; /* nbd-client-ca loaded */
static const struct conf_user *(*psk_lookup)(const char *);

/*
 * TLS 1.3's external PSK, as GnuTLS clients (libnbd's tls-psk-file,
 * qemu's tls-creds-psk) offer it: the identity names a [user], whose key
 * (from nbd-psk-file, through the parent) makes the session, with
 * TLS_AES_128_GCM_SHA256: GnuTLS binds external PSKs with SHA-256. An
 * identity that names no user with a key ends the handshake. Only NBD
 * clients carry a struct tls_psk; HTTPS handshakes ignore any PSK.
 */
static int
psk_find(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sessp)
{
	static const unsigned char aes128gcm[] = { 0x13, 0x01 };
	struct tls_psk *p = SSL_get_app_data(ssl);
	const struct conf_user *u;
	const SSL_CIPHER *cipher;
	SSL_SESSION *sess;

	*sessp = NULL;
	if (p == NULL || psk_lookup == NULL)
		return 1; /* no PSK here: the certificate's handshake */
	p->state = TLS_PSK_UNKNOWN;
	p->identity[0] = '\0';
	if (idlen > 0 && idlen < sizeof(p->identity) &&
	    memchr(id, '\0', idlen) == NULL) {
		memcpy(p->identity, id, idlen);
		p->identity[idlen] = '\0';
		if (!conf_name_valid(p->identity))
			p->identity[0] = '\0'; /* not one to log */
	}
	if (p->identity[0] == '\0' || (u = psk_lookup(p->identity)) == NULL ||
	    u->psk_len == 0)
		return 0;
	if ((cipher = SSL_CIPHER_find(ssl, aes128gcm)) == NULL ||
	    (sess = SSL_SESSION_new()) == NULL)
		return 0;
	if (!SSL_SESSION_set1_master_key(sess, u->psk, (size_t)u->psk_len) ||
	    !SSL_SESSION_set_cipher(sess, cipher) ||
	    !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION)) {
		SSL_SESSION_free(sess);
		return 0;
	}
	p->state = TLS_PSK_KEY;
	*sessp = sess;
	return 1;
}

static void
tls_fatal(const char *what, const char *path)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	fatalx("tls: %s %s: %s", what, path, buf);
}

/*
 * Only when a listener asks for it: keys then live in this process.
 * lookup finds a user by name, for TLS-PSK identities.
 */
void
tls_init(const struct conf_global *g,
    const struct conf_user *(*lookup)(const char *))
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
	/* NBD clients' pre-shared keys: TLS 1.3 only, its AEAD suites. */
	psk_lookup = lookup;
	SSL_CTX_set_psk_find_session_callback(tls_ctx, psk_find);
	/* Seed the generator now: later it may not open anything. */
	if (RAND_bytes(seed, sizeof(seed)) != 1)
		tls_fatal("random", "");
	log_debug("tls: %s loaded", g->tls_certificate);
}

static struct bufferevent *
tls_accept(struct event_base *base, int fd, int verify, struct tls_psk *psk)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(tls_ctx)) == NULL) {
		close(fd);
		return NULL;
	}
	/*
	 * TLS 1.3's suites, SHA-256 ones first: OpenSSL chooses the suite
	 * before it looks at a PSK, and uses the PSK only if the suite's
	 * hash is the key's (SHA-256, as GnuTLS binds it).
	 */
	if (psk != NULL && !SSL_set_ciphersuites(ssl, TLS13_PSK_FIRST)) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	if (psk != NULL) {
		memset(psk, 0, sizeof(*psk));
		SSL_set_app_data(ssl, psk);
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
	return tls_accept(base, fd, 0, NULL);
}

/*
 * An NBD client after STARTTLS: with nbd-client-ca, a certificate is
 * asked for, and one that does not chain to those CAs fails the
 * handshake; a client may still send none. Or it offers a PSK identity:
 * psk (the caller's, for as long as the bufferevent) says which and how
 * that went.
 */
struct bufferevent *
tls_bufferevent_nbd(struct event_base *base, int fd, struct tls_psk *psk)
{
	return tls_accept(base, fd, client_certs, psk);
}

/*
 * The handshake is done: 1 if it was with the PSK of psk->identity's
 * user, else 0 (a certificate's, or none).
 */
int
tls_psk_used(struct bufferevent *bev, const struct tls_psk *psk)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl != NULL && psk->state == TLS_PSK_KEY &&
	    SSL_session_reused(ssl) == 1;
}

/* The protocol and suite the handshake chose, for the log. */
void
tls_describe(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	snprintf(buf, len, "%s, %s", ssl != NULL ? SSL_get_version(ssl) : "?",
	    ssl != NULL ? SSL_get_cipher_name(ssl) : "?");
}

/*
 * The handshake failed: 1 if the key offered for a known identity was
 * not that user's (the binder did not verify), else 0.
 */
int
tls_psk_wrong_key(struct bufferevent *bev, const struct tls_psk *psk)
{
	unsigned long e;
	int wrong = 0;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		wrong |= ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_BINDER_DOES_NOT_VERIFY;
	return psk->state == TLS_PSK_KEY && wrong;
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
