/*
 * NBD protocol numbers the peer speaks (fixed newstyle, simple
 * replies), shared by its handshake and transmission code.
 */
#ifndef PEER_NBD_H
#define PEER_NBD_H

#define NBD_MAGIC 0x4e42444d41474943ULL
#define NBD_IHAVEOPT 0x49484156454f5054ULL
#define NBD_REP_MAGIC 0x3e889045565a9ULL
#define NBD_REQUEST_MAGIC 0x25609513U
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698U

#define NBD_FLAG_FIXED_NEWSTYLE 0x1
#define NBD_FLAG_NO_ZEROES 0x2
#define NBD_FLAG_C_FIXED_NEWSTYLE 0x1
#define NBD_FLAG_C_NO_ZEROES 0x2

#define NBD_OPT_EXPORT_NAME 1
#define NBD_OPT_ABORT 2
#define NBD_OPT_LIST 3
#define NBD_OPT_INFO 6
#define NBD_OPT_GO 7
#define NBD_OPT_STRUCTURED_REPLY 8

#define NBD_REP_ACK 1
#define NBD_REP_INFO 3
#define NBD_REP_ERR_UNSUP 0x80000001U
#define NBD_REP_ERR_INVALID 0x80000003U
#define NBD_REP_ERR_TOO_BIG 0x80000004U

#define NBD_INFO_EXPORT 0
#define NBD_INFO_BLOCK_SIZE 3

#define NBD_FLAG_HAS_FLAGS 0x0001
#define NBD_FLAG_READ_ONLY 0x0002
#define NBD_FLAG_SEND_FLUSH 0x0004
#define NBD_FLAG_SEND_TRIM 0x0020

#define NBD_CMD_READ 0
#define NBD_CMD_WRITE 1
#define NBD_CMD_DISC 2
#define NBD_CMD_FLUSH 3
#define NBD_CMD_TRIM 4

#define NBD_EPERM 1
#define NBD_EIO 5
#define NBD_ENOMEM 12
#define NBD_EINVAL 22
#define NBD_ENOSPC 28
#define NBD_EOVERFLOW 75

#define NBD_REQUEST_LEN 28
#define NBD_REPLY_LEN 16
#define NBD_MAX_BLOCK (32 * 1024 * 1024)

uint16_t nbd_tflags(const struct peer_opts *);

#endif
