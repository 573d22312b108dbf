/* frame.c - see frame.h. The only place peer frames are converted to and
 * from wire byte order. */
#include "transport/frame.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian.h"

static void encode_hdr(uint8_t out[FRAME_HDR_BYTES], const struct frame_hdr *h,
		       uint32_t crc)
{
	be_put32(out, FRAME_MAGIC);
	be_put16(out + 4, FRAME_VERSION);
	be_put16(out + 6, h->type);
	be_put32(out + 8, h->flags);
	be_put32(out + 12, h->payload_len);
	be_put64(out + 16, h->id);
	be_put64(out + 24, h->offset);
	be_put32(out + 32, h->length);
	be_put32(out + 36, crc);
}

static uint32_t frame_crc(const uint8_t raw[FRAME_HDR_BYTES],
			  const void *payload, uint32_t len)
{
	uint8_t tmp[FRAME_HDR_BYTES];
	uint32_t crc;

	memcpy(tmp, raw, FRAME_HDR_BYTES);
	memset(tmp + 36, 0, 4);
	crc = crc32c(0, tmp, FRAME_HDR_BYTES);
	if (len)
		crc = crc32c(crc, payload, len);
	return crc;
}

void frame_encode(uint8_t out[FRAME_HDR_BYTES], const struct frame_hdr *h,
		  const void *payload)
{
	encode_hdr(out, h, 0);
	be_put32(out + 36, frame_crc(out, payload, h->payload_len));
}

/* Payload each type must carry: exact size, or a bound. */
static int check_payload(const struct frame_hdr *h)
{
	switch (h->type) {
	case FRAME_HELLO:
		return h->payload_len == FRAME_HELLO_BYTES ? 0 : -EPROTO;
	case FRAME_AUTH:
		return h->payload_len == FRAME_MAC_BYTES ? 0 : -EPROTO;
	case FRAME_STATE:
		return h->payload_len == FRAME_STATE_BYTES ? 0 : -EPROTO;
	case FRAME_RS_CSUM:
		return h->payload_len == 4 && h->length ? 0 : -EPROTO;
	case FRAME_BITMAP:
		return h->payload_len <= FRAME_CTRL_PAYLOAD_MAX ? 0 : -EPROTO;
	case FRAME_V_REQ:
		/* One CRC per whole 4 KiB block, at most FRAME_VERIFY_BLOCKS. */
		if (!h->length || h->length % 4096 ||
		    h->length / 4096 > FRAME_VERIFY_BLOCKS)
			return -EPROTO;
		return h->payload_len == h->length / 4096 * 4 ? 0 : -EPROTO;
	case FRAME_DATA:
	case FRAME_RS_DATA:
		if (h->payload_len > FRAME_PAYLOAD_MAX)
			return -E2BIG;
		return h->payload_len == h->length && h->length ? 0 : -EPROTO;
	case FRAME_READ_REPLY:
		/* The data, or nothing (length 0) with the error in offset. */
		if (h->payload_len > FRAME_PAYLOAD_MAX)
			return -E2BIG;
		return h->payload_len == h->length ? 0 : -EPROTO;
	default:
		return h->payload_len == 0 ? 0 : -EPROTO;
	}
}

int frame_parse(const uint8_t in[FRAME_HDR_BYTES], struct frame_hdr *h)
{
	if (be_get32(in) != FRAME_MAGIC)
		return -EBADMSG;
	h->version = be_get16(in + 4);
	h->type = be_get16(in + 6);
	h->flags = be_get32(in + 8);
	h->payload_len = be_get32(in + 12);
	h->id = be_get64(in + 16);
	h->offset = be_get64(in + 24);
	h->length = be_get32(in + 32);
	h->crc = be_get32(in + 36);
	if (h->version != FRAME_VERSION)
		return -EPROTO;
	if (h->type == 0 || h->type > FRAME_TYPE_MAX)
		return -EPROTO;
	if (h->flags & ~FRAME_F_ALL)
		return -EPROTO;
	return check_payload(h);
}

bool frame_crc_ok(const uint8_t raw[FRAME_HDR_BYTES], const struct frame_hdr *h,
		  const void *payload)
{
	return frame_crc(raw, payload, h->payload_len) == h->crc;
}

void frame_encode_hello(uint8_t out[FRAME_HELLO_BYTES],
			const struct frame_hello *h)
{
	be_put32(out, h->features);
	be_put32(out + 4, 0);
	memset(out + 8, 0, FRAME_NAME_BYTES);
	memcpy(out + 8, h->node, strnlen(h->node, FRAME_NAME_BYTES - 1));
	memcpy(out + 8 + FRAME_NAME_BYTES, h->challenge, FRAME_CHALLENGE_BYTES);
	be_put64(out + 8 + FRAME_NAME_BYTES + FRAME_CHALLENGE_BYTES,
	      h->resource_hash);
}

int frame_parse_hello(const uint8_t *in, uint32_t len, struct frame_hello *h)
{
	if (len != FRAME_HELLO_BYTES)
		return -EPROTO;
	h->features = be_get32(in);
	h->reserved = be_get32(in + 4);
	memcpy(h->node, in + 8, FRAME_NAME_BYTES);
	if (h->node[FRAME_NAME_BYTES - 1] != 0 || h->node[0] == 0)
		return -EPROTO;	/* names are NUL-terminated and not empty */
	memcpy(h->challenge, in + 8 + FRAME_NAME_BYTES, FRAME_CHALLENGE_BYTES);
	h->resource_hash = be_get64(in + 8 + FRAME_NAME_BYTES + FRAME_CHALLENGE_BYTES);
	return 0;
}

void frame_encode_state(uint8_t out[FRAME_STATE_BYTES],
			const struct frame_state *s)
{
	memset(out, 0, FRAME_STATE_BYTES);
	out[0] = s->role;
	out[1] = s->disk;
	out[2] = s->protocol;
	out[3] = s->flags;
	be_put64(out + 8, s->size_bytes);
	be_put64(out + 16, s->instance);
	be_put64(out + 24, s->last_peer_instance);
	be_put64(out + 32, s->dirty_bytes);
	for (int i = 0; i < 4; i++)
		be_put64(out + 40 + 8 * i, s->uuid[i]);
	be_put32(out + 72, s->md_flags);
	be_put64(out + 80, s->primary_since);
}

int frame_parse_state(const uint8_t *in, uint32_t len, struct frame_state *s)
{
	if (len != FRAME_STATE_BYTES)
		return -EPROTO;
	memset(s, 0, sizeof(*s));
	s->role = in[0];
	s->disk = in[1];
	s->protocol = in[2];
	s->flags = in[3];
	s->size_bytes = be_get64(in + 8);
	s->instance = be_get64(in + 16);
	s->last_peer_instance = be_get64(in + 24);
	s->dirty_bytes = be_get64(in + 32);
	for (int i = 0; i < 4; i++)
		s->uuid[i] = be_get64(in + 40 + 8 * i);
	s->md_flags = be_get32(in + 72);
	s->primary_since = be_get64(in + 80);
	if (s->role > 2 || s->disk > FRAME_STATE_DISK_MAX || !strchr("ABC", s->protocol) ||
	    s->protocol == 0)
		return -EPROTO;
	return 0;
}

const char *frame_type_name(uint16_t type)
{
	static const char *const names[] = {
		"?", "HELLO", "AUTH", "STATE", "DATA", "TRIM", "ZERO",
		"BARRIER", "RECV_ACK", "WRITE_ACK", "BARRIER_ACK", "PING",
		"PING_ACK", "RS_DATA", "RS_ZERO", "RS_ACK", "RS_DONE",
		"RS_CSUM", "RS_NEED", "BITMAP", "BITMAP_DONE", "V_REQ", "V_REPLY", "RS_PRIO",
		"READ_REQ", "READ_REPLY", "ROLE_REQ", "ROLE_REPLY", "FLUSHED",
	};
	return type <= FRAME_TYPE_MAX ? names[type] : "?";
}
