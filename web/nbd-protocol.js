// NBD fixed-newstyle constants, as in the NBD protocol document
// (NetworkBlockDevice/nbd doc/proto.md). The browser is the NBD *server*.
// 64-bit magics are BigInt because they are read with DataView.getBigUint64.

export const NBDMAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;

// Handshake flags (server) and client flags share bit meanings.
export const FLAG_FIXED_NEWSTYLE = 1;
export const FLAG_NO_ZEROES = 2;
export const CLIENT_FLAGS_KNOWN = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES;

export const OPT_EXPORT_NAME = 1;
export const OPT_ABORT = 2;
export const OPT_LIST = 3;
export const OPT_STARTTLS = 5;
export const OPT_INFO = 6;
export const OPT_GO = 7;
export const OPT_STRUCTURED_REPLY = 8;

export const REP_ACK = 1;
export const REP_SERVER = 2;
export const REP_INFO = 3;
export const REP_ERR_UNSUP = 0x80000001;
export const REP_ERR_POLICY = 0x80000002;
export const REP_ERR_INVALID = 0x80000003;
export const REP_ERR_TOO_BIG = 0x80000009;

export const INFO_EXPORT = 0;
export const INFO_NAME = 1;
export const INFO_DESCRIPTION = 2;
export const INFO_BLOCK_SIZE = 3;

// Transmission flags.
export const TFLAG_HAS_FLAGS = 0x1;
export const TFLAG_READ_ONLY = 0x2;
export const TFLAG_SEND_FLUSH = 0x4;
export const TFLAG_SEND_FUA = 0x8;
export const TFLAG_ROTATIONAL = 0x10;
export const TFLAG_SEND_TRIM = 0x20;
export const TFLAG_CAN_MULTI_CONN = 0x100;

export const CMD_READ = 0;
export const CMD_WRITE = 1;
export const CMD_DISC = 2;
export const CMD_FLUSH = 3;
export const CMD_TRIM = 4;

export const CMD_FLAG_FUA = 0x1;

// errno values carried in simple replies (the protocol fixes them, not the OS).
export const EPERM = 1;
export const EIO = 5;
export const ENOMEM = 12;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EOVERFLOW = 75;
export const ESHUTDOWN = 108;

// Wire sizes.
export const GREETING_SIZE = 18;
export const OPTION_HEADER_SIZE = 16;
export const OPTION_REPLY_HEADER_SIZE = 20;
export const REQUEST_HEADER_SIZE = 28;
export const SIMPLE_REPLY_SIZE = 16;
export const EXPORT_NAME_PAD = 124;

// Strings (export names) may be at most 4096 bytes; INFO/GO carry one plus a
// short list of info types, so anything much larger is not a real option.
export const MAX_OPTION_LENGTH = 16384;

// Matches the kernel nbd driver's largest request (65536 sectors).
export const DEFAULT_MAX_REQUEST = 32 * 1024 * 1024;
export const PREFERRED_BLOCK_SIZE = 4096;
