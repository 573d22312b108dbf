/* proto.h - NBD wire constants (fixed newstyle handshake, simple and
 * structured replies, base:allocation).
 *
 * These values are fixed by the NBD protocol; they never change with
 * blockd's own versions. All multi-byte fields are big-endian on the wire;
 * codec.c is the only place that converts them.
 */
#ifndef BLOCKD_NBD_PROTO_H
#define BLOCKD_NBD_PROTO_H

#include <stdint.h>

#define NBD_MAGIC_INIT		0x4e42444d41474943ULL /* "NBDMAGIC" */
#define NBD_MAGIC_OPTS		0x49484156454F5054ULL /* "IHAVEOPT" */
#define NBD_MAGIC_OPT_REPLY	0x0003e889045565a9ULL
#define NBD_MAGIC_REQUEST	0x25609513U
#define NBD_MAGIC_SIMPLE_REPLY	0x67446698U
#define NBD_MAGIC_STRUCT_REPLY	0x668e33efU

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE	(1U << 0)
#define NBD_FLAG_NO_ZEROES	(1U << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES	NBD_FLAG_NO_ZEROES

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS	(1U << 0)
#define NBD_FLAG_READ_ONLY	(1U << 1)
#define NBD_FLAG_SEND_FLUSH	(1U << 2)
#define NBD_FLAG_SEND_FUA	(1U << 3)
#define NBD_FLAG_ROTATIONAL	(1U << 4)
#define NBD_FLAG_SEND_TRIM	(1U << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1U << 6)
#define NBD_FLAG_SEND_DF	(1U << 7)
#define NBD_FLAG_CAN_MULTI_CONN	(1U << 8)
#define NBD_FLAG_SEND_RESIZE	(1U << 9)
#define NBD_FLAG_SEND_CACHE	(1U << 10)
#define NBD_FLAG_SEND_FAST_ZERO	(1U << 11)

/* Options. */
enum nbd_opt {
	NBD_OPT_EXPORT_NAME = 1,
	NBD_OPT_ABORT = 2,
	NBD_OPT_LIST = 3,
	NBD_OPT_PEEK_EXPORT = 4,
	NBD_OPT_STARTTLS = 5,
	NBD_OPT_INFO = 6,
	NBD_OPT_GO = 7,
	NBD_OPT_STRUCTURED_REPLY = 8,
	NBD_OPT_LIST_META_CONTEXT = 9,
	NBD_OPT_SET_META_CONTEXT = 10,
	NBD_OPT_EXTENDED_HEADERS = 11,
};

/* Option reply types. */
#define NBD_REP_ACK		1U
#define NBD_REP_SERVER		2U
#define NBD_REP_INFO		3U
#define NBD_REP_META_CONTEXT	4U
#define NBD_REP_FLAG_ERROR	(1U << 31)
#define NBD_REP_ERR_UNSUP	(NBD_REP_FLAG_ERROR | 1U)
#define NBD_REP_ERR_POLICY	(NBD_REP_FLAG_ERROR | 2U)
#define NBD_REP_ERR_INVALID	(NBD_REP_FLAG_ERROR | 3U)
#define NBD_REP_ERR_PLATFORM	(NBD_REP_FLAG_ERROR | 4U)
#define NBD_REP_ERR_TLS_REQD	(NBD_REP_FLAG_ERROR | 5U)
#define NBD_REP_ERR_UNKNOWN	(NBD_REP_FLAG_ERROR | 6U)
#define NBD_REP_ERR_SHUTDOWN	(NBD_REP_FLAG_ERROR | 7U)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8U)
#define NBD_REP_ERR_TOO_BIG	(NBD_REP_FLAG_ERROR | 9U)

/* NBD_INFO types. */
#define NBD_INFO_EXPORT		0
#define NBD_INFO_NAME		1
#define NBD_INFO_DESCRIPTION	2
#define NBD_INFO_BLOCK_SIZE	3

/* Commands. */
enum nbd_cmd {
	NBD_CMD_READ = 0,
	NBD_CMD_WRITE = 1,
	NBD_CMD_DISC = 2,
	NBD_CMD_FLUSH = 3,
	NBD_CMD_TRIM = 4,
	NBD_CMD_CACHE = 5,
	NBD_CMD_WRITE_ZEROES = 6,
	NBD_CMD_BLOCK_STATUS = 7,
	NBD_CMD_RESIZE = 8,
};

/* Command flags. */
#define NBD_CMD_FLAG_FUA	(1U << 0)
#define NBD_CMD_FLAG_NO_HOLE	(1U << 1)
#define NBD_CMD_FLAG_DF		(1U << 2)
#define NBD_CMD_FLAG_REQ_ONE	(1U << 3)
#define NBD_CMD_FLAG_FAST_ZERO	(1U << 4)

/* Structured reply types and flags. */
#define NBD_REPLY_FLAG_DONE	(1U << 0)
#define NBD_REPLY_TYPE_NONE	0
#define NBD_REPLY_TYPE_OFFSET_DATA 1
#define NBD_REPLY_TYPE_OFFSET_HOLE 2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR	((1U << 15) + 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET ((1U << 15) + 2)

/* base:allocation flags. */
#define NBD_STATE_HOLE		(1U << 0)
#define NBD_STATE_ZERO		(1U << 1)

/* Error values on the wire (not host errno values). */
#define NBD_EPERM	1
#define NBD_EIO		5
#define NBD_ENOMEM	12
#define NBD_EINVAL	22
#define NBD_ENOSPC	28
#define NBD_EOVERFLOW	75
#define NBD_ENOTSUP	95
#define NBD_ESHUTDOWN	108

/* Sizes of fixed wire records. */
#define NBD_GREETING_BYTES	18	/* magic, magic, handshake flags */
#define NBD_OPT_HDR_BYTES	16
#define NBD_OPT_REPLY_BYTES	20
#define NBD_EXPORT_NAME_REPLY_BYTES 10	/* size + flags, zeroes extra */
#define NBD_REQUEST_BYTES	28
#define NBD_SIMPLE_REPLY_BYTES	16
#define NBD_STRUCT_REPLY_BYTES	20

/* The one meta context served, and its id on this server. */
#define NBD_META_BASE_ALLOCATION "base:allocation"
#define NBD_META_ID_BASE_ALLOCATION 1U

#endif
