/*
 * The input of the handler fuzzers (fuzz_parent, fuzz_blockd, fuzz_hookd)
 * and the configs their process runs with; handler_seeds writes it too.
 */
#ifndef HANDLER_INPUT_H
#define HANDLER_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/*
 * One byte of options for the world the process starts in (the target's
 * own OPT_* bits), then records, each a message to the process or, when
 * its sender is that process itself, something the world does:
 *	u8	sender	enum msg_proc, modulo PROC_MAX
 *	u8	type	the message type as is, unknown ones too
 *	u8	flags	REC_FD: it carries an fd of kind REC_FD_KIND(flags);
 *			a world event's flags are the target's
 *	u16	length	of the payload, little-endian; cut short to what
 *			the input still holds
 *	u8	payload[length]
 */
#define REC_HDR_SIZE 5
#define REC_FD 0x01
#define REC_FD_KIND(flags) (((flags) >> 1) & 7)
#define REC_FD_FLAGS(kind) (REC_FD | ((kind) << 1))

/* What an fd that comes with a message may be; blockd takes only the first. */
enum rec_fd_kind {
	FD_STREAM, /* a connected AF_UNIX stream: sessiond's */
	FD_PIPE,
	FD_DGRAM,	/* a connected AF_UNIX datagram socket */
	FD_SEQPACKET,	/* a connected AF_UNIX seqpacket socket */
	FD_LISTENING,	/* AF_UNIX stream, listening, no peer */
	FD_UNCONNECTED, /* AF_UNIX stream, never connected */
	FD_INET,	/* a TCP socket, not connected */
	FD_FILE,	/* /dev/null */
};

struct rec {
	enum msg_proc sender;
	uint32_t type;
	uint8_t flags;
	const uint8_t *payload;
	size_t len;
};

int rec_next(const uint8_t **, size_t *, struct rec *);
size_t rec_put(uint8_t *, size_t, enum msg_proc, uint32_t, uint8_t,
    const void *, size_t);

/*
 * The process's config, and the one a reload brings (handler_input.c):
 * device exports with and without hooks, read-only, small and large
 * max-size, a socket export; the second moves and drops some of them.
 */
extern const char handler_conf_text[2][1024];

#endif
