/* codec.c - see codec.h. */
#include "nbd/codec.h"

#include <errno.h>

uint16_t nbd_transmission_flags(const struct nbd_export_info *ex,
				const struct nbd_session *s)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
		     NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE |
		     NBD_FLAG_CAN_MULTI_CONN;

	if (ex->read_only)
		f |= NBD_FLAG_READ_ONLY;
	else
		f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
		     NBD_FLAG_SEND_FAST_ZERO;
	/* DF only means something once reads may be fragmented. */
	if (s->structured)
		f |= NBD_FLAG_SEND_DF;
	return f;
}

void nbd_encode_greeting(uint8_t out[NBD_GREETING_BYTES])
{
	be_put64(out, NBD_MAGIC_INIT);
	be_put64(out + 8, NBD_MAGIC_OPTS);
	be_put16(out + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

int nbd_parse_option_header(const uint8_t in[NBD_OPT_HDR_BYTES],
			    struct nbd_option *out)
{
	if (be_get64(in) != NBD_MAGIC_OPTS)
		return -EBADMSG;
	out->opt = be_get32(in + 8);
	out->len = be_get32(in + 12);
	return 0;
}

void nbd_encode_opt_reply(uint8_t out[NBD_OPT_REPLY_BYTES], uint32_t opt,
			  uint32_t type, uint32_t len)
{
	be_put64(out, NBD_MAGIC_OPT_REPLY);
	be_put32(out + 8, opt);
	be_put32(out + 12, type);
	be_put32(out + 16, len);
}

int nbd_parse_request(const uint8_t in[NBD_REQUEST_BYTES],
		      struct nbd_request *out)
{
	if (be_get32(in) != NBD_MAGIC_REQUEST)
		return -EBADMSG;
	out->flags = be_get16(in + 4);
	out->type = be_get16(in + 6);
	out->cookie = be_get64(in + 8);
	out->offset = be_get64(in + 16);
	out->length = be_get32(in + 24);
	return 0;
}

/* Flags each command accepts, before checking what was advertised.
 * FUA is valid on every command once SEND_FUA is advertised. */
static uint16_t cmd_allowed_flags(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF;
	case NBD_CMD_WRITE_ZEROES:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
		       NBD_CMD_FLAG_FAST_ZERO;
	case NBD_CMD_BLOCK_STATUS:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
	default:
		return NBD_CMD_FLAG_FUA;
	}
}

static bool in_range(uint64_t offset, uint32_t len, uint64_t size)
{
	return offset <= size && len <= size - offset;
}

int nbd_check_request(const struct nbd_request *rq,
		      const struct nbd_export_info *ex,
		      const struct nbd_session *s)
{
	uint16_t tflags = nbd_transmission_flags(ex, s);
	bool writes = false;

	/* Checked first: an oversized payload can't be skipped. */
	if (rq->type == NBD_CMD_WRITE && rq->length > ex->block_max)
		return -EPROTO;

	switch (rq->type) {
	case NBD_CMD_READ:
	case NBD_CMD_CACHE:
		break;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		writes = true;
		break;
	case NBD_CMD_DISC:
		/* DISC has no reply, so nothing in it can be refused: the
		 * connection ends whatever its flags, offset and length. */
		return 0;
	case NBD_CMD_FLUSH:
		/* Offset and length are reserved and must be zero. */
		if (rq->offset || rq->length)
			return NBD_EINVAL;
		return rq->flags & ~NBD_CMD_FLAG_FUA ? NBD_EINVAL : 0;
	case NBD_CMD_BLOCK_STATUS:
		if (!s->meta_base_alloc)
			return NBD_EINVAL;
		break;
	default:
		return NBD_EINVAL;
	}

	if (rq->flags & ~cmd_allowed_flags(rq->type))
		return NBD_EINVAL;
	if ((rq->flags & NBD_CMD_FLAG_DF) && !(tflags & NBD_FLAG_SEND_DF))
		return NBD_EINVAL;
	if ((rq->flags & NBD_CMD_FLAG_FAST_ZERO) &&
	    !(tflags & NBD_FLAG_SEND_FAST_ZERO))
		return NBD_EINVAL;
	if (rq->length == 0)
		return NBD_EINVAL;
	if (writes && ex->read_only)
		return NBD_EPERM;
	if ((rq->type == NBD_CMD_READ) && rq->length > ex->block_max)
		return NBD_EINVAL;
	/* ENOSPC only where data would be stored past the end; a TRIM,
	 * like CACHE and BLOCK_STATUS, only names a bad range. */
	if (!in_range(rq->offset, rq->length, ex->size_bytes))
		return rq->type == NBD_CMD_WRITE ||
		       rq->type == NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC : NBD_EINVAL;
	return 0;
}

void nbd_encode_simple_reply(uint8_t out[NBD_SIMPLE_REPLY_BYTES],
			     uint32_t error, uint64_t cookie)
{
	be_put32(out, NBD_MAGIC_SIMPLE_REPLY);
	be_put32(out + 4, error);
	be_put64(out + 8, cookie);
}

void nbd_encode_struct_reply(uint8_t out[NBD_STRUCT_REPLY_BYTES],
			     uint16_t flags, uint16_t type, uint64_t cookie,
			     uint32_t len)
{
	be_put32(out, NBD_MAGIC_STRUCT_REPLY);
	be_put16(out + 4, flags);
	be_put16(out + 6, type);
	be_put64(out + 8, cookie);
	be_put32(out + 16, len);
}

size_t nbd_encode_error_chunk(uint8_t out[NBD_ERROR_CHUNK_BYTES],
			      uint32_t error, uint64_t cookie)
{
	nbd_encode_struct_reply(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
				cookie, 6);
	be_put32(out + NBD_STRUCT_REPLY_BYTES, error);
	be_put16(out + NBD_STRUCT_REPLY_BYTES + 4, 0);	/* no message */
	return NBD_ERROR_CHUNK_BYTES;
}

size_t nbd_encode_read_chunk(uint8_t out[NBD_READ_CHUNK_BYTES],
			     uint64_t cookie, uint64_t offset, uint32_t length)
{
	nbd_encode_struct_reply(out, NBD_REPLY_FLAG_DONE,
				NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + length);
	be_put64(out + NBD_STRUCT_REPLY_BYTES, offset);
	return NBD_READ_CHUNK_BYTES;
}

uint32_t nbd_errno_for_request(const struct nbd_request *rq, int err)
{
	uint32_t wire = nbd_errno_to_wire(err);

	if (wire == NBD_ENOTSUP && !(rq->type == NBD_CMD_WRITE_ZEROES &&
				     (rq->flags & NBD_CMD_FLAG_FAST_ZERO)))
		return NBD_EINVAL;
	if (wire == NBD_EOVERFLOW && !(rq->type == NBD_CMD_READ &&
				       (rq->flags & NBD_CMD_FLAG_DF)))
		return NBD_EINVAL;
	return wire;
}

uint32_t nbd_errno_to_wire(int err)
{
	switch (err) {
	case 0:
		return 0;
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EFBIG:
	case EDQUOT:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case ENOTSUP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}
