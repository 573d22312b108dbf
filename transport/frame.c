/* frame.c - see frame.h. The only place peer frames are converted to and
 * from wire byte order. */
#include "transport/frame.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "nbd/codec.h"	/* nbd_put* / nbd_get*: plain big-endian helpers */

#define put16 nbd_put16
#define put32 nbd_put32
#define put64 nbd_put64
#define get16 nbd_get16
#define get32 nbd_get32
#define get64 nbd_get64

static void encode_hdr(uint8_t out[FRAME_HDR_BYTES], const struct frame_hdr *h,
		       uint32_t crc)
{
	put32(out, FRAME_MAGIC);
	put16(out + 4, FRAME_VERSION);
	put16(out + 6, h->type);
	put32(out + 8, h->flags);
	put32(out + 12, h->payload_len);
	put64(out + 16, h->id);
	put64(out + 24, h->offset);
	put32(out + 32, h->length);
	put32(out + 36, crc);
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
	put32(out + 36, frame_crc(out, payload, h->payload_len));
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
	if (get32(in) != FRAME_MAGIC)
		return -EBADMSG;
	h->version = get16(in + 4);
	h->type = get16(in + 6);
	h->flags = get32(in + 8);
	h->payload_len = get32(in + 12);
	h->id = get64(in + 16);
	h->offset = get64(in + 24);
	h->length = get32(in + 32);
	h->crc = get32(in + 36);
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
	put32(out, h->features);
	put32(out + 4, 0);
	memset(out + 8, 0, FRAME_NAME_BYTES);
	memcpy(out + 8, h->node, strnlen(h->node, FRAME_NAME_BYTES - 1));
	memcpy(out + 8 + FRAME_NAME_BYTES, h->challenge, FRAME_CHALLENGE_BYTES);
	put64(out + 8 + FRAME_NAME_BYTES + FRAME_CHALLENGE_BYTES,
	      h->resource_hash);
}

int frame_parse_hello(const uint8_t *in, uint32_t len, struct frame_hello *h)
{
	if (len != FRAME_HELLO_BYTES)
		return -EPROTO;
	h->features = get32(in);
	h->reserved = get32(in + 4);
	memcpy(h->node, in + 8, FRAME_NAME_BYTES);
	if (h->node[FRAME_NAME_BYTES - 1] != 0 || h->node[0] == 0)
		return -EPROTO;	/* names are NUL-terminated and not empty */
	memcpy(h->challenge, in + 8 + FRAME_NAME_BYTES, FRAME_CHALLENGE_BYTES);
	h->resource_hash = get64(in + 8 + FRAME_NAME_BYTES + FRAME_CHALLENGE_BYTES);
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
	put64(out + 8, s->size_bytes);
	put64(out + 16, s->instance);
	put64(out + 24, s->last_peer_instance);
	put64(out + 32, s->dirty_bytes);
	for (int i = 0; i < 4; i++)
		put64(out + 40 + 8 * i, s->uuid[i]);
	put32(out + 72, s->md_flags);
	put64(out + 80, s->primary_since);
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
	s->size_bytes = get64(in + 8);
	s->instance = get64(in + 16);
	s->last_peer_instance = get64(in + 24);
	s->dirty_bytes = get64(in + 32);
	for (int i = 0; i < 4; i++)
		s->uuid[i] = get64(in + 40 + 8 * i);
	s->md_flags = get32(in + 72);
	s->primary_since = get64(in + 80);
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
		"READ_REQ", "READ_REPLY",
	};
	return type <= FRAME_TYPE_MAX ? names[type] : "?";
}
