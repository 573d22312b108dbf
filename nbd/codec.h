/* codec.h - NBD wire encoding and decoding of fixed records.
 *
 * Pure: no I/O, no allocation, no clock. Every function works on caller
 * buffers whose sizes are the NBD_*_BYTES constants of proto.h, so parsers
 * never read past what the caller proved it has. Request validation lives
 * here too, so the error each bad request gets is one table, testable and
 * fuzzable without a socket. Called from handshake.c and server.c.
 */
#ifndef BLOCKD_NBD_CODEC_H
#define BLOCKD_NBD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/endian.h"
#include "nbd/proto.h"

/* What one export looks like to clients. */
struct nbd_export_info {
	uint64_t size_bytes;
	bool read_only;
	uint32_t block_min;	/* smallest I/O the server handles */
	uint32_t block_pref;	/* size that avoids read-modify-write */
	uint32_t block_max;	/* largest payload accepted; larger drops */
};

/* What a connection negotiated, needed to judge its requests. */
struct nbd_session {
	bool structured;	/* NBD_OPT_STRUCTURED_REPLY acked */
	bool meta_base_alloc;	/* base:allocation selected */
};

struct nbd_option {
	uint32_t opt;
	uint32_t len;
};

struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* Transmission flags advertised for this export and session. */
uint16_t nbd_transmission_flags(const struct nbd_export_info *ex,
				const struct nbd_session *s);

void nbd_encode_greeting(uint8_t out[NBD_GREETING_BYTES]);
/* 0, or -EBADMSG for a bad magic. */
int nbd_parse_option_header(const uint8_t in[NBD_OPT_HDR_BYTES],
			    struct nbd_option *out);
void nbd_encode_opt_reply(uint8_t out[NBD_OPT_REPLY_BYTES], uint32_t opt,
			  uint32_t type, uint32_t len);

/* 0, or -EBADMSG for a bad magic. */
int nbd_parse_request(const uint8_t in[NBD_REQUEST_BYTES],
		      struct nbd_request *out);

/* Judge a parsed request. Returns 0 when it may run, a positive NBD_E*
 * error to reply with (a WRITE's payload must still be read and dropped),
 * or -EPROTO when the connection must be dropped (a payload larger than
 * block_max, which cannot be skipped safely). A DISC is always 0: it has
 * no reply, so the connection ends whatever it carries. Out-of-range
 * requests get ENOSPC only for WRITE and WRITE_ZEROES, EINVAL otherwise;
 * FLUSH's reserved offset and length must be zero. */
int nbd_check_request(const struct nbd_request *rq,
		      const struct nbd_export_info *ex,
		      const struct nbd_session *s);

/* Bytes of payload that follow this request header on the wire. */
static inline uint32_t nbd_request_payload(const struct nbd_request *rq)
{
	return rq->type == NBD_CMD_WRITE ? rq->length : 0;
}

void nbd_encode_simple_reply(uint8_t out[NBD_SIMPLE_REPLY_BYTES],
			     uint32_t error, uint64_t cookie);
void nbd_encode_struct_reply(uint8_t out[NBD_STRUCT_REPLY_BYTES],
			     uint16_t flags, uint16_t type, uint64_t cookie,
			     uint32_t len);

/* The last chunk of a reply, header and payload but a READ's data: an
 * ERROR chunk without a message, or the OFFSET_DATA chunk of a read of
 * length bytes at offset (its data follows). Both return the bytes
 * written to out. */
#define NBD_ERROR_CHUNK_BYTES (NBD_STRUCT_REPLY_BYTES + 6)
#define NBD_READ_CHUNK_BYTES (NBD_STRUCT_REPLY_BYTES + 8)
size_t nbd_encode_error_chunk(uint8_t out[NBD_ERROR_CHUNK_BYTES],
			      uint32_t error, uint64_t cookie);
size_t nbd_encode_read_chunk(uint8_t out[NBD_READ_CHUNK_BYTES],
			     uint64_t cookie, uint64_t offset, uint32_t length);

/* Map a host errno (positive) to the NBD error sent on the wire. */
uint32_t nbd_errno_to_wire(int err);

/* The same for the reply to rq: the spec reserves ENOTSUP for a
 * WRITE_ZEROES with FAST_ZERO and EOVERFLOW for a READ with DF, so on any
 * other request they become EINVAL (as nbdkit answers). */
uint32_t nbd_errno_for_request(const struct nbd_request *rq, int err);

#endif
