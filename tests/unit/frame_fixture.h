/* frame_fixture.h - headers built byte by byte, a bitwise CRC32C and a
 * model of the payload rules, independent of frame.c; shared by
 * test_frame.c (header, parse, CRC) and test_frame_payload.c (payloads).
 */
#ifndef BLOCKD_TEST_FRAME_FIXTURE_H
#define BLOCKD_TEST_FRAME_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "transport/frame.h"
#include "transport/link.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bytes of disk one V_REQ CRC covers. */
#define VBLOCK 4096U

/* The link sends small control payloads from a buffer in each queued
 * frame: the largest V_REQ (one CRC per block), STATE and RS_CSUM must
 * fit it. */
#define INLINE_BYTES sizeof(((struct link_tx *)0)->inline_payload)
_Static_assert(INLINE_BYTES >= 4 * FRAME_VERIFY_BLOCKS,
	       "a full V_REQ fits link_tx.inline_payload");
_Static_assert(INLINE_BYTES >= FRAME_STATE_BYTES,
	       "STATE fits link_tx.inline_payload");

/* A row whose exact error is not pinned: any of -EPROTO / -E2BIG. */
#define ANY_REJECT 1

/* ---- helpers independent of frame.c --------------------------------- */

static inline uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	}
	return ~crc;
}

static inline void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static inline uint64_t get_be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

struct raw_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t flags;
	uint32_t payload_len;
	uint64_t id;
	uint64_t offset;
	uint32_t length;
};

/* Lay out a header as frame.h documents it, crc left 0. */
static inline void put_hdr(uint8_t b[FRAME_HDR_BYTES], const struct raw_hdr *r)
{
	put_be(b, r->magic, 4);
	put_be(b + 4, r->version, 2);
	put_be(b + 6, r->type, 2);
	put_be(b + 8, r->flags, 4);
	put_be(b + 12, r->payload_len, 4);
	put_be(b + 16, r->id, 8);
	put_be(b + 24, r->offset, 8);
	put_be(b + 32, r->length, 4);
	put_be(b + 36, 0, 4);
}

/* A header of a valid frame with that type, no flags, payload_len and
 * length as given. */
static inline int parse_typed(uint16_t type, uint32_t payload_len, uint32_t length,
		       uint32_t flags)
{
	struct raw_hdr r = {
		FRAME_MAGIC, FRAME_VERSION, type, flags, payload_len,
		7, 4096, length,
	};
	uint8_t b[FRAME_HDR_BYTES];
	struct frame_hdr h;

	put_hdr(b, &r);
	return frame_parse(b, &h);
}

static inline void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245U + 12345U;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* The payload each type carries in a valid frame. */
static inline uint32_t valid_payload_len(uint16_t type)
{
	switch (type) {
	case FRAME_HELLO:
		return FRAME_HELLO_BYTES;
	case FRAME_AUTH:
		return FRAME_MAC_BYTES;
	case FRAME_STATE:
		return FRAME_STATE_BYTES;
	case FRAME_DATA:
	case FRAME_RS_DATA:
	case FRAME_READ_REPLY:
		return 512;
	case FRAME_RS_CSUM:
		return 4;
	case FRAME_BITMAP:
		return 37;
	case FRAME_V_REQ:
		return 4;	/* one block's CRC */
	default:
		return 0;
	}
}

static inline bool type_has_data(uint16_t type)
{
	return type == FRAME_DATA || type == FRAME_RS_DATA ||
	       type == FRAME_READ_REPLY;
}

/* Types whose length the payload pins: data, and V_REQ (a CRC per
 * block). */
static inline bool length_pinned(uint16_t type)
{
	return type_has_data(type) || type == FRAME_V_REQ;
}

/* The smallest length a valid frame of that type may carry: the payload
 * size for data, 1 for RS_CSUM (it checks a range that is not empty), the
 * one block whose CRC valid_payload_len carries for V_REQ. */
static inline uint32_t min_length(uint16_t type)
{
	if (type_has_data(type))
		return valid_payload_len(type);
	if (type == FRAME_V_REQ)
		return valid_payload_len(type) / 4 * VBLOCK;
	return type == FRAME_RS_CSUM ? 1 : 0;
}

/* frame.h's V_REQ rule, restated: a nonzero whole number of 4 KiB
 * blocks, at most FRAME_VERIFY_BLOCKS, and one CRC32C (4 bytes) per
 * block. */
static inline bool model_v_req_ok(uint32_t payload_len, uint32_t length)
{
	uint32_t blocks = length / VBLOCK;

	return length % VBLOCK == 0 && blocks >= 1 &&
	       blocks <= FRAME_VERIFY_BLOCKS && payload_len == 4 * blocks;
}

#endif
