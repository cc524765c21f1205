/*
 * libFuzzer target for the channel's decoder: any datagram through
 * msg_decode as each process receiving from each other process, without
 * an fd and with one, so that every type's channel and field checks run.
 * (Trying the fd only when the first byte is odd would never try it on
 * MSG_ATTACH, whose type is even.)
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "msg.h"

#define FAKE_FD 1000 /* never opened: msg_decode must not touch it */

static void
decode(const uint8_t *data, size_t size, int fd, enum msg_proc self,
    enum msg_proc peer)
{
	static struct msg m;
	const struct msg_info *info;
	const char *why;

	m.fd = -2;
	why = msg_decode(data, size, fd, self, peer, &m);
	if (why != NULL) {
		if (m.fd != -2) /* a rejection must not fill m */
			__builtin_trap();
		return;
	}
	/*
	 * Accepted: the header, the size and the fd agree, the type may go
	 * from peer to self, and its fields pass the table's check.
	 */
	info = msg_info(m.type);
	if (size < sizeof(struct msg_hdr) || info == NULL ||
	    m.len != size - sizeof(struct msg_hdr) || m.len != info->size ||
	    m.len > MSG_PAYLOAD_MAX || m.fd != fd ||
	    !(info->from & PROC_BIT(peer)) || !(info->to & PROC_BIT(self)) ||
	    (info->check != NULL && info->check(&m, peer) != NULL) ||
	    memcmp(m.u.bytes, data + sizeof(struct msg_hdr), m.len) != 0)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int self, peer;

	for (self = 0; self < PROC_MAX; self++)
		for (peer = 0; peer < PROC_MAX; peer++) {
			if (self == peer)
				continue;
			decode(data, size, -1, self, peer);
			decode(data, size, FAKE_FD, self, peer);
		}
	return 0;
}
