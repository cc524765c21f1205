/*
 * HTTPS listeners: the key and certificate are loaded before the sandbox
 * closes; each connection gets an OpenSSL bufferevent, TLS 1.2 or newer
 * with forward-secret AEAD ciphers only.
 */
#ifndef TLS_H
#define TLS_H

#include "conf.h"

struct bufferevent;
struct event_base;

/* What an NBD client's TLS-PSK identity came to in the handshake. */
enum tls_psk_state {
	TLS_PSK_NONE = 0, /* none offered */
	TLS_PSK_UNKNOWN,  /* names no user with a key: handshake ended */
	TLS_PSK_KEY,	  /* a user's: the handshake checks the key */
};

struct tls_psk {
	enum tls_psk_state state;
	char identity[CONF_NAME_MAX]; /* "" unless a valid name */
};

void
tls_init(const struct conf_global *, const struct conf_user *(*)(const char *));
struct bufferevent *tls_bufferevent(struct event_base *, int);
struct bufferevent *
tls_bufferevent_nbd(struct event_base *, int, struct tls_psk *);
int tls_psk_used(struct bufferevent *, const struct tls_psk *);
void tls_describe(struct bufferevent *, char *, size_t);
int tls_psk_wrong_key(struct bufferevent *, const struct tls_psk *);
int tls_peer_user(struct bufferevent *, int (*)(const char *), char *, size_t);

#endif
