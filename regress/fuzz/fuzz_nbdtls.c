/*
 * libFuzzer target for a network NBD client's switch to TLS in
 * sessiond/local.c: the real local.c, tls.c, stream.c, auth.c and
 * nbd_server.c, under one event loop, with the rest of sessiond faked
 * below (two exports, no image attached, so no session is ever joined).
 * Each run accepts one client on a socketpair through net_listen's
 * acceptor; the client sends its flags and NBD_OPT_STARTTLS, waits for
 * the ack, then by the first byte of the input:
 *   0: the rest, raw, as the TLS handshake (a ClientHello, or garbage);
 *   1: a real TLS 1.3 client with alice's PSK completes the handshake,
 *      then sends the rest inside TLS as the option phase;
 *   2: the same without a PSK (no certificate: a client of no user);
 *   3: alice's identity with another key, or 4: eve's, who is no user
 *      (the handshake must fail, audited, and the connection close).
 * Then it hangs up; local.c must have closed the connection by the time
 * the loop is idle, and every audit record must be well formed.
 */
#include <sys/socket.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "child.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "nbd_proto.h"
#include "sessiond.h"
#include "stream.h"
#include "tls.h"

#define LOOP_MAX 4000 /* idle turns of the loop before a hung client */

static struct child child;
struct child *sd_child = &child;
static struct conf conf;
static struct export_rt exports[2];
static acceptor_fn accepted;
static void *accepted_arg;
static int audits;
static unsigned char alice_key[32];

/* --- what local.c needs of the rest of sessiond ------------------------ */

/* Quiet, unless FUZZ_NBDTLS_LOG is set (to see why an input fails). */
#define LOG_BODY(fmt) \
	do { \
		va_list ap; \
		if (getenv("FUZZ_NBDTLS_LOG") == NULL) \
			break; \
		va_start(ap, fmt); \
		vfprintf(stderr, fmt, ap); \
		va_end(ap); \
		fputc('\n', stderr); \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(fmt);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(fmt);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(fmt);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(fmt);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(errno));
	abort();
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

struct acceptor *
acceptor_new(int fd, acceptor_fn fn, void *arg)
{
	(void)fd;
	accepted = fn;
	accepted_arg = arg;
	return (struct acceptor *)&accepted;
}

void
acceptor_free(struct acceptor *a)
{
	(void)a;
}

int
conn_admit(const char *what)
{
	(void)what;
	return 1;
}

struct export_rt *
sd_exports(int *n)
{
	*n = 2;
	return exports;
}

struct export_rt *
sd_export(const char *name)
{
	int i;

	for (i = 0; i < 2; i++)
		if (strcmp(exports[i].conf.name, name) == 0)
			return &exports[i];
	return NULL;
}

static void
audit_check(const struct msg_audit *a)
{
	if (!conf_terminated(a->user, sizeof(a->user)) ||
	    !conf_terminated(a->addr, sizeof(a->addr)) ||
	    !conf_terminated(a->export, sizeof(a->export)) ||
	    !conf_terminated(a->reason, sizeof(a->reason)) || a->event <= 0 ||
	    a->event >= AUDIT_EV_COUNT ||
	    (a->user[0] != '\0' && !conf_name_valid(a->user)))
		abort();
	audits++;
}

void
sd_audit(struct msg_audit *a)
{
	audit_check(a);
}

void
refusal_audit_from(const char *host, const char *from, int status, int event,
    const char *user, const char *export, const char *why)
{
	struct msg_audit a;

	(void)host;
	msg_audit_init(&a, event, user, from, export, why);
	a.status = status;
	audit_check(&a);
}

void
session_downstream_setup(struct stream *st, struct relay_down *d, void *owner)
{
	memset(d, 0, sizeof(*d));
	d->in = stream_input(st);
	d->out = stream_output(st);
	d->owner = owner;
}

/* No image is attached: a client never joins a session. */
void
session_down_done(struct session *s, struct relay_down *d, enum relay_result r)
{
	(void)s;
	(void)d;
	(void)r;
	abort();
}

void
flow_downstream_joined(struct session *s, struct local_client *lc)
{
	(void)s;
	(void)lc;
	abort();
}

enum relay_result
relay_requests(struct relay *r, struct relay_down *d, struct evbuffer *up)
{
	(void)r;
	(void)d;
	(void)up;
	abort();
}

void
relay_down_gone(struct relay *r, struct relay_down *d)
{
	(void)r;
	(void)d;
	abort();
}

int
relay_fail_down(struct relay *r, struct relay_down *d, uint32_t error)
{
	(void)r;
	(void)d;
	(void)error;
	abort();
}

/* --- the server: a key, a certificate, the config ------------------------ */

static void
write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	FILE *f = fopen(path, "w");

	if (f == NULL ||
	    (key != NULL &&
		!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) ||
	    (cert != NULL && !PEM_write_X509(f, cert)))
		fatalx("cannot write %s", path);
	fclose(f);
}

/* A throw-away P-256 key and a self-signed certificate for tls_init. */
static void
make_certificate(char *certpath, char *keypath, size_t len)
{
	char dir[] = "/tmp/fuzz_nbdtls.XXXXXX";
	EVP_PKEY *key;
	X509 *cert;
	X509_NAME *name;

	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	snprintf(certpath, len, "%s/cert.pem", dir);
	snprintf(keypath, len, "%s/key.pem", dir);
	if ((key = EVP_EC_gen("P-256")) == NULL || (cert = X509_new()) == NULL)
		fatalx("key");
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	X509_set_pubkey(cert, key);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(cert, name);
	if (!X509_sign(cert, key, EVP_sha256()))
		fatalx("sign");
	write_pem(certpath, NULL, cert);
	write_pem(keypath, key, NULL);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
add_user(const char *name, const unsigned char *key)
{
	struct conf_user *u = &conf.users[conf.nusers++];

	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->password, sizeof(u->password), "x");
	u->psk_len = 32;
	memcpy(u->psk, key, 32);
}

static void
add_export(int i, const char *name, const char *allow)
{
	struct conf_export *e = &exports[i].conf;

	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->socket, sizeof(e->socket), "/run/%s.sock", name);
	snprintf(e->allow, sizeof(e->allow), "%s", allow);
	e->timeout = 30;
	e->max_size = 1 << 20;
	e->nbd_clients = 1;
	e->nbd_connections = 4;
	exports[i].present = 1;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct conf_global *g = &conf.global;
	unsigned char mallory_key[32];
	char cert[128], key[128];

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	make_certificate(cert, key, sizeof(cert));
	g->nlisten = 1;
	g->listen[0].nbd = 1;
	g->listen[0].tls = 1;
	snprintf(g->listen[0].text, sizeof(g->listen[0].text),
	    "127.0.0.1:10809");
	snprintf(g->tls_certificate, sizeof(g->tls_certificate), "%s", cert);
	snprintf(g->tls_key, sizeof(g->tls_key), "%s", key);
	g->auth = CONF_AUTH_USERS;
	g->handshake_timeout = 20;
	g->nbd_per_user = 2;
	g->max_connections = 16;
	memset(alice_key, 0xa1, sizeof(alice_key));
	memset(mallory_key, 0x3a, sizeof(mallory_key));
	add_user("alice", alice_key);
	add_user("mallory", mallory_key);
	add_export(0, "lab", "alice");
	add_export(1, "ro", "alice mallory");
	child.conf = &conf;
	if ((child.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	tls_init(g, auth_user);
	unlink(cert);
	unlink(key);
	*strrchr(cert, '/') = '\0';
	rmdir(cert);
	net_listen(-1, 0);
	return 0;
}

/* --- the client ------------------------------------------------------- */

static int
client_psk(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
    SSL_SESSION **sessp)
{
	static const unsigned char aes128gcm[] = { 0x13, 0x01 };
	const char *who = SSL_get_app_data(ssl);
	unsigned char key[32];
	SSL_SESSION *sess;

	(void)md;
	memcpy(key, alice_key, sizeof(key));
	if (strcmp(who, "wrong") == 0)
		key[0] ^= 1;
	if ((sess = SSL_SESSION_new()) == NULL ||
	    !SSL_SESSION_set1_master_key(sess, key, sizeof(key)) ||
	    !SSL_SESSION_set_cipher(sess, SSL_CIPHER_find(ssl, aes128gcm)) ||
	    !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION))
		fatalx("client PSK session");
	*id =
	    (const unsigned char *)(strcmp(who, "eve") == 0 ? "eve" : "alice");
	*idlen = strlen((const char *)*id);
	*sessp = sess;
	return 1;
}

/* One turn of the server's loop. */
static void
turn(void)
{
	event_base_loop(child.base, EVLOOP_NONBLOCK);
}

/* Reads what is there; -1 once the server hung up. */
static ssize_t
drain(int fd, unsigned char *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	if (n == 0 || (n == -1 && errno != EAGAIN))
		return -1;
	return n < 0 ? 0 : n;
}

/*
 * Flags and STARTTLS; 1 once its ack is read (the greeting, 18 bytes,
 * then the 20-byte reply header of type ACK).
 */
static int
client_starttls(int fd)
{
	unsigned char req[20], got[64];
	size_t have = 0;
	ssize_t n;
	int i;

	nbd_put32(req, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	nbd_put64(req + 4, NBD_IHAVEOPT);
	nbd_put32(req + 12, NBD_OPT_STARTTLS);
	nbd_put32(req + 16, 0);
	if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req))
		return 0;
	for (i = 0; i < LOOP_MAX && have < 38; i++) {
		turn();
		if ((n = drain(fd, got + have, 38 - have)) < 0)
			return 0;
		have += (size_t)n;
	}
	/* The server reads nothing more till the client speaks TLS. */
	return have == 38 && nbd_get32(got + 18 + 12) == NBD_REP_ACK;
}

static SSL_CTX *
client_ctx(void)
{
	static SSL_CTX *ctx;

	if (ctx == NULL) {
		if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			fatalx("client context");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	}
	return ctx;
}

/*
 * A TLS client on fd as who ("alice", "wrong", "eve" or "" for none):
 * the handshake, then data inside it, then what comes back until the
 * loop is idle. 1 if the handshake completed.
 */
static int
client_tls(int fd, const char *who, const uint8_t *data, size_t size)
{
	unsigned char buf[4096];
	SSL *ssl;
	int i, r, done = 0;

	if ((ssl = SSL_new(client_ctx())) == NULL || !SSL_set_fd(ssl, fd))
		fatalx("client SSL");
	SSL_set_connect_state(ssl);
	SSL_set_app_data(ssl, (void *)who);
	if (who[0] != '\0')
		SSL_set_psk_use_session_callback(ssl, client_psk);
	for (i = 0; i < LOOP_MAX && !done; i++) {
		turn();
		r = SSL_do_handshake(ssl);
		if (r == 1)
			done = 1;
		else if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ &&
		    SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE) {
			if (getenv("FUZZ_NBDTLS_LOG") != NULL)
				ERR_print_errors_fp(stderr);
			break;
		}
	}
	if (done && size > 0 && SSL_write(ssl, data, (int)size) <= 0)
		done = 0;
	for (i = 0; i < LOOP_MAX && done; i++) {
		turn();
		r = SSL_read(ssl, buf, sizeof(buf));
		if (r <= 0 && SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
			break;
		if (r <= 0 && i > 32)
			break; /* nothing more comes for a while */
	}
	if (done)
		SSL_shutdown(ssl); /* close_notify: the server sees an EOF */
	ERR_clear_error();
	SSL_free(ssl);
	return done;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const who[] = { "alice", "", "wrong", "eve" };
	unsigned char buf[4096];
	int sv[2], i, mode, shook = -1, before = audits;

	if (size < 1)
		return 0;
	mode = data[0] % 5;
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		fatal("socketpair");
	accepted(sv[0], accepted_arg);
	if (local_count() != 1)
		abort();
	if (client_starttls(sv[1])) {
		if (mode == 0) {
			if (size > 0 && write(sv[1], data, size) == -1 &&
			    errno != EAGAIN && errno != EPIPE)
				fatal("write");
			for (i = 0; i < 64; i++) {
				turn();
				if (drain(sv[1], buf, sizeof(buf)) < 0)
					break;
			}
		} else
			shook = client_tls(sv[1], who[mode - 1], data, size);
	}
	close(sv[1]);
	for (i = 0; i < LOOP_MAX && local_count() > 0; i++)
		turn();
	if (local_count() != 0) {
		fprintf(stderr, "the server kept a client that hung up\n");
		abort();
	}
	/* A wrong key or no user's identity: no handshake, one record. */
	if (mode >= 3 && shook != -1 && (shook == 1 || audits != before + 1)) {
		fprintf(stderr, "mode %d: handshake %d, %d audit records\n",
		    mode, shook, audits - before);
		abort();
	}
	return 0;
}
