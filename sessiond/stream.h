/*
 * The relay's byte streams: the peer's socket, the kernel's socket and
 * local clients' sockets. A plain socket is read and written here, edge-
 * triggered, in large steps; a TLS peer keeps its bufferevent behind the
 * same calls.
 */
#ifndef STREAM_H
#define STREAM_H

#include <stddef.h>

struct bufferevent;
struct evbuffer;
struct stream;

#define STREAM_EOF 0x01
#define STREAM_ERROR 0x02
#define STREAM_TIMEOUT 0x04 /* output pending, none written for a while */

typedef void (*stream_fn)(struct stream *, void *);
typedef void (*stream_event_fn)(struct stream *, short, void *);

struct stream *stream_new(int);
struct stream *stream_from_bufferevent(struct bufferevent *);
void
stream_setcb(struct stream *, stream_fn, stream_fn, stream_event_fn, void *);
void stream_set_limits(struct stream *, size_t, size_t);
void stream_set_write_timeout(struct stream *, int);
struct evbuffer *stream_input(struct stream *);
struct evbuffer *stream_output(struct stream *);
int stream_fd(struct stream *);
void stream_enable_read(struct stream *);
void stream_disable_read(struct stream *);
void stream_free(struct stream *);
int stream_take_fd(struct stream *);

#endif
