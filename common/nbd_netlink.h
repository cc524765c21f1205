/*
 * The kernel's NBD generic-netlink family, reduced to what blockd does:
 * connect a socket to /dev/nbdN, disconnect it, ask whether it is in use.
 */
#ifndef NBD_NETLINK_H
#define NBD_NETLINK_H

#include <stdint.h>

struct nbd_nl {
	int fd;
	uint16_t family; /* 0 when the kernel has no nbd */
	uint32_t seq;
};

struct nbd_nl_connect {
	uint32_t index; /* N of /dev/nbdN */
	int sock;	/* stream socket to the server side */
	uint64_t size;
	uint64_t block_size;
	uint64_t timeout;      /* seconds per request */
	uint64_t server_flags; /* NBD transmission flags */
};

int nbd_nl_open(struct nbd_nl *);
int nbd_nl_connect(struct nbd_nl *, const struct nbd_nl_connect *);
int nbd_nl_disconnect(struct nbd_nl *, uint32_t);
int nbd_nl_connected(struct nbd_nl *, uint32_t);

#endif
