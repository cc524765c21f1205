/*
 * libFuzzer target for the channel's decoder: any datagram through
 * msg_decode, without an fd and with one. (Trying the fd only when the
 * first byte is odd would never try it on MSG_ATTACH, whose type is even.)
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "msg.h"

#define FAKE_FD	1000	/* never opened: msg_decode must not touch it */

static void
decode(const uint8_t *data, size_t size, int fd)
{
	static struct msg m;
	const char *why;

	m.fd = -2;
	why = msg_decode(data, size, fd, &m);
	if (why != NULL) {
		if (m.fd != -2)		/* a rejection must not fill m */
			__builtin_trap();
		return;
	}
	/* Accepted: the header, the size and the fd must all agree. */
	if (size < sizeof(struct msg_hdr) ||
	    m.len != size - sizeof(struct msg_hdr) ||
	    m.len > MSG_PAYLOAD_MAX || m.type == MSG_NONE ||
	    m.type >= MSG_TYPE_COUNT || m.fd != fd ||
	    strcmp(msg_type_name(m.type), "unknown") == 0 ||
	    memcmp(m.u.bytes, data + sizeof(struct msg_hdr), m.len) != 0)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode(data, size, -1);
	decode(data, size, FAKE_FD);
	return 0;
}
