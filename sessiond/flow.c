/*
 * Backpressure between a session's peer and its downstreams (the kernel's
 * socket, local clients): one state per direction, paused when the buffer
 * it fills passes a high mark, resumed once below the low mark. A full
 * kernel socket pauses the peer; a local client never does, as it would
 * stall the others: its own requests wait instead (relay_down.replies_max).
 */
#include <sys/queue.h>

#include <event2/buffer.h>

#include "log.h"
#include "nbd_proto.h"
#include "sessiond.h"
#include "stream.h"

#define PEER_OUT_HIGH (8 * 1024 * 1024) /* pause downstream reads */
#define PEER_OUT_LOW (2 * 1024 * 1024)
#define DOWN_OUT_HIGH (8 * 1024 * 1024) /* pause the peer */
#define DOWN_OUT_LOW (2 * 1024 * 1024)
#define FRAME_OUT_MAX (256 * 1024) /* one WebSocket frame */
#define PEER_IN_MAX (1024 * 1024)  /* read, not yet unframed */
#define DOWN_IN_MAX (NBD_MAX_PAYLOAD + NBD_REQUEST_SIZE + 65536)

/* Write callbacks fire at the low marks: that is where we resume. */
void
flow_peer_setup(struct stream *st)
{
	stream_set_limits(st, PEER_IN_MAX, PEER_OUT_LOW);
}

/* A downstream's input holds at least one whole request. */
void
flow_downstream_setup(struct stream *st)
{
	stream_set_limits(st, DOWN_IN_MAX, DOWN_OUT_LOW);
}

/* The peer is full: requests from downstreams wait where they are. */
static void
pause_downstreams(struct session *s)
{
	struct local_client *lc;

	s->downstreams = FLOW_PAUSED;
	if (s->kernel != NULL)
		stream_disable_read(s->kernel);
	TAILQ_FOREACH (lc, &s->locals, entry)
		stream_disable_read(lc->stream);
}

static void
resume_downstreams(struct session *s)
{
	struct local_client *lc;

	s->downstreams = FLOW_OPEN;
	if (s->kernel != NULL)
		stream_enable_read(s->kernel);
	TAILQ_FOREACH (lc, &s->locals, entry)
		stream_enable_read(lc->stream);
	session_kick_downstreams(s);
}

/* A downstream is full: the peer's replies wait in its socket. */
static void
pause_peer(struct session *s)
{
	s->peer_input = FLOW_PAUSED;
	stream_disable_read(s->peer);
}

/* The reconnect window: downstreams wait until a peer resumes. */
void
flow_hold(struct session *s)
{
	s->peer_input = FLOW_OPEN;
	pause_downstreams(s);
}

void
flow_release(struct session *s)
{
	resume_downstreams(s);
}

static void
resume_peer(struct session *s)
{
	s->peer_input = FLOW_OPEN;
	stream_enable_read(s->peer);
	session_peer_input(s);
}

/* Frames what the relay queued for the peer; pauses downstreams if full. */
void
flow_peer_output(struct session *s)
{
	struct evbuffer *out;

	if (s->peer == NULL || evbuffer_get_length(s->stream_out) == 0)
		return;
	out = stream_output(s->peer);
	if (!s->framed) {
		if (evbuffer_add_buffer(out, s->stream_out) == -1)
			fatalx("peer output");
	} else if (ws_write_binary(out, s->stream_out, FRAME_OUT_MAX) == -1)
		fatalx("ws_write_binary failed");
	if (evbuffer_get_length(out) > PEER_OUT_HIGH &&
	    s->downstreams == FLOW_OPEN)
		pause_downstreams(s);
}

/* The peer took what we wrote: downstreams go on below the low mark. */
void
flow_peer_drained(struct session *s)
{
	if (s->reconnecting)
		return; /* held until the resume is done (session.c) */
	if (s->downstreams == FLOW_PAUSED &&
	    evbuffer_get_length(stream_output(s->peer)) <= PEER_OUT_LOW)
		resume_downstreams(s);
}

static int
down_above(const struct relay_down *d, size_t mark)
{
	return d->out != NULL && evbuffer_get_length(d->out) > mark;
}

/* Replies were relayed: the peer waits while the kernel's socket is full. */
void
flow_downstreams_filled(struct session *s)
{
	if (s->kernel != NULL && down_above(&s->kdown, DOWN_OUT_HIGH) &&
	    s->peer_input == FLOW_OPEN && s->peer != NULL)
		pause_peer(s);
}

/* The kernel's socket drained: the peer goes on below the low mark. */
void
flow_downstream_drained(struct session *s)
{
	if (s->peer_input == FLOW_OPEN || s->ending || s->peer == NULL)
		return;
	if (s->kernel != NULL && down_above(&s->kdown, DOWN_OUT_LOW))
		return;
	resume_peer(s);
}

/* A local client joining a paused session starts paused too. */
void
flow_downstream_joined(struct session *s, struct local_client *lc)
{
	if (s->downstreams == FLOW_PAUSED)
		stream_disable_read(lc->stream);
}
