/*
 * HTTPS listeners: the key and certificate are loaded before the sandbox
 * closes; each connection gets an OpenSSL bufferevent, TLS 1.2 or newer
 * with forward-secret AEAD ciphers only.
 */
#ifndef TLS_H
#define TLS_H

struct bufferevent;
struct conf_global;
struct event_base;

void tls_init(const struct conf_global *);
struct bufferevent *tls_bufferevent(struct event_base *, int);
struct bufferevent *tls_bufferevent_nbd(struct event_base *, int);
int tls_peer_user(struct bufferevent *, int (*)(const char *), char *, size_t);

#endif
