/*
 * The NBD wire protocol as vmediad speaks it (fixed newstyle; simple
 * replies to the peer and the kernel, structured replies to clients that
 * ask): magics, options, commands, flags and errors.
 */
#ifndef NBD_PROTO_H
#define NBD_PROTO_H

#include <stdint.h>

#define NBD_MAGIC UINT64_C(0x4e42444d41474943)	  /* NBDMAGIC */
#define NBD_IHAVEOPT UINT64_C(0x49484156454f5054) /* IHAVEOPT */
#define NBD_REP_MAGIC UINT64_C(0x0003e889045565a9)
#define NBD_REQUEST_MAGIC UINT32_C(0x25609513)
#define NBD_SIMPLE_REPLY_MAGIC UINT32_C(0x67446698)
#define NBD_STRUCTURED_REPLY_MAGIC UINT32_C(0x668e33ef)

/* handshake flags (server) and client flags */
#define NBD_FLAG_FIXED_NEWSTYLE (1 << 0)
#define NBD_FLAG_NO_ZEROES (1 << 1)

/* options */
#define NBD_OPT_EXPORT_NAME 1
#define NBD_OPT_ABORT 2
#define NBD_OPT_LIST 3
#define NBD_OPT_INFO 6
#define NBD_OPT_STARTTLS 5
#define NBD_OPT_GO 7
#define NBD_OPT_STRUCTURED_REPLY 8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT 10
#define NBD_OPT_EXTENDED_HEADERS 11

/* option replies */
#define NBD_REP_ACK 1
#define NBD_REP_SERVER 2
#define NBD_REP_INFO 3
#define NBD_REP_META_CONTEXT 4
#define NBD_REP_FLAG_ERROR UINT32_C(0x80000000)
#define NBD_REP_ERR_UNSUP (NBD_REP_FLAG_ERROR | 1)
#define NBD_REP_ERR_POLICY (NBD_REP_FLAG_ERROR | 2)
#define NBD_REP_ERR_INVALID (NBD_REP_FLAG_ERROR | 3)
#define NBD_REP_ERR_TLS_REQD (NBD_REP_FLAG_ERROR | 5)
#define NBD_REP_ERR_UNKNOWN (NBD_REP_FLAG_ERROR | 6)
#define NBD_REP_ERR_SHUTDOWN (NBD_REP_FLAG_ERROR | 7)
#define NBD_REP_ERR_TOO_BIG (NBD_REP_FLAG_ERROR | 9)

#define NBD_INFO_EXPORT 0
#define NBD_INFO_NAME 1
#define NBD_INFO_DESCRIPTION 2
#define NBD_INFO_BLOCK_SIZE 3

/* transmission flags */
#define NBD_TFLAG_HAS_FLAGS (1 << 0)
#define NBD_TFLAG_READ_ONLY (1 << 1)
#define NBD_TFLAG_SEND_FLUSH (1 << 2)
#define NBD_TFLAG_SEND_FUA (1 << 3)
#define NBD_TFLAG_ROTATIONAL (1 << 4)
#define NBD_TFLAG_SEND_TRIM (1 << 5)
#define NBD_TFLAG_CAN_MULTI_CONN (1 << 8)
/* What we pass on: every command they enable has a simple reply we check. */
#define NBD_TFLAG_RELAYED \
	(NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_READ_ONLY | NBD_TFLAG_SEND_FLUSH | \
	    NBD_TFLAG_SEND_FUA | NBD_TFLAG_ROTATIONAL | NBD_TFLAG_SEND_TRIM)

/* commands and command flags */
#define NBD_CMD_READ 0
#define NBD_CMD_WRITE 1
#define NBD_CMD_DISC 2
#define NBD_CMD_FLUSH 3
#define NBD_CMD_TRIM 4
#define NBD_CMD_BLOCK_STATUS 7
#define NBD_CMD_FLAG_FUA (1 << 0)
#define NBD_CMD_FLAG_REQ_ONE (1 << 3)

/* structured reply chunks */
#define NBD_REPLY_FLAG_DONE (1 << 0)
#define NBD_REPLY_TYPE_NONE 0
#define NBD_REPLY_TYPE_OFFSET_DATA 1
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR (1 << 15 | 1)
#define NBD_STRUCTURED_REPLY_SIZE 20
/* the one meta context we offer: all of an export is data */
#define NBD_META_BASE_ALLOCATION "base:allocation"
#define NBD_META_ID_ALLOCATION 1

/* errors in replies */
#define NBD_EPERM 1
#define NBD_EIO 5
#define NBD_ENOMEM 12
#define NBD_EINVAL 22
#define NBD_ENOSPC 28
#define NBD_ESHUTDOWN 108

#define NBD_REQUEST_SIZE 28
#define NBD_REPLY_SIZE 16
#define NBD_MAX_PAYLOAD (32 * 1024 * 1024) /* per request */
#define NBD_NAME_MAX 4096		   /* option strings we accept */

struct nbd_request {
	uint32_t magic;
	uint16_t flags;
	uint16_t type;
	uint64_t handle;
	uint64_t offset;
	uint32_t length;
};

struct nbd_reply {
	uint32_t magic;
	uint32_t error;
	uint64_t handle;
};

uint16_t nbd_get16(const unsigned char *);
uint32_t nbd_get32(const unsigned char *);
uint64_t nbd_get64(const unsigned char *);
void nbd_put16(unsigned char *, uint16_t);
void nbd_put32(unsigned char *, uint32_t);
void nbd_put64(unsigned char *, uint64_t);
void nbd_request_decode(const unsigned char *, struct nbd_request *);
void nbd_request_encode(const struct nbd_request *, unsigned char *);
void nbd_reply_decode(const unsigned char *, struct nbd_reply *);
void nbd_reply_encode(const struct nbd_reply *, unsigned char *);

#endif
