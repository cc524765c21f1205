/*
 * sessiond's WebSocket server side (RFC 6455): the opening handshake, a
 * streaming frame reader that unmasks in bulk, and the frame writers.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct http_request;

#define WS_ACCEPT_LEN 28		   /* base64 of a SHA-1 */
#define WS_CONTROL_MAX 125		   /* control frame payload */
#define WS_MAX_FRAME_DEFAULT (1024 * 1024) /* data frame payload */
#define WS_NO_LIMIT SIZE_MAX		   /* ws_read room: unbounded */

enum ws_opcode {
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* Close codes (RFC 6455 7.4.1) that sessiond sends or reports. */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_NO_STATUS 1005 /* reported, never sent */
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL 1011

/* The outcome of ws_handshake_check. */
struct ws_handshake {
	int status; /* 0, or the HTTP error to answer */
	const char *error;
	char accept[WS_ACCEPT_LEN + 1];
};

enum ws_read_result {
	WS_READ_ERROR = -1, /* close with ev->close_code, then drop */
	WS_READ_MORE = 0,   /* input used up, or no room for data */
	WS_READ_EVENT = 1,  /* a control frame: see ev->type */
};

/* A control frame, or the reason for an error. */
struct ws_event {
	enum ws_opcode type; /* WS_OP_PING, _PONG or _CLOSE */
	uint16_t close_code; /* CLOSE: 1005 if none; ERROR: send */
	const char *error;   /* ERROR: why, for the log */
	size_t len;	     /* payload; CLOSE: the reason */
	uint8_t payload[WS_CONTROL_MAX + 1]; /* NUL after */
};

struct ws_reader {
	size_t max_frame; /* data frame payload limit, 1009 */

	/* state between calls */
	int state;
	uint8_t opcode; /* of the frame being read */
	uint8_t fin;
	uint8_t fragmented; /* a binary message awaits its end */
	uint8_t mask[4];
	size_t mask_off;    /* payload offset mod 4 */
	uint64_t remaining; /* payload bytes of this frame */
	size_t ctl_len;
	uint8_t ctl[WS_CONTROL_MAX];
	uint16_t error_code;
	const char *error;
};

int ws_init(void);
int ws_key_valid(const char *);
int ws_accept_key(const char *, char[WS_ACCEPT_LEN + 1]);
int ws_handshake_check(const struct http_request *, struct ws_handshake *);
int ws_protocol_next(const char **, const char **, size_t *);
int ws_protocol_offered(const char *, const char *);
int ws_handshake_response(struct evbuffer *, const char *, const char *);

void ws_reader_init(struct ws_reader *, size_t);
int ws_read(struct ws_reader *, struct evbuffer *, struct evbuffer *, size_t,
    struct ws_event *);
void ws_unmask_copy(uint8_t *restrict, const uint8_t *restrict, size_t,
    const uint8_t[4], size_t);

int ws_write_binary(struct evbuffer *, struct evbuffer *, size_t);
int ws_write_control(struct evbuffer *, enum ws_opcode, const void *, size_t);
int ws_write_close(struct evbuffer *, uint16_t, const char *);

#endif
