/* test_frame.c - transport/frame.c: the peer wire format.
 *
 * Headers are built byte by byte here (put_hdr) and one header is checked
 * against literal wire bytes, with its CRC from a bitwise CRC32C written
 * in this file, so a mistake shared by the encoder and the parser (byte
 * order, field offset, CRC coverage) still fails. The parse rules are
 * tables whose rows name the rule they hit; the verify request's payload
 * rule (a CRC32C per whole 4 KiB block, 1 to FRAME_VERIFY_BLOCKS blocks)
 * is also checked over a grid of lengths and payload sizes against a
 * model written here.
 */
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

static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	}
	return ~crc;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int bytes)
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
static void put_hdr(uint8_t b[FRAME_HDR_BYTES], const struct raw_hdr *r)
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
static int parse_typed(uint16_t type, uint32_t payload_len, uint32_t length,
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

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245U + 12345U;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* The payload each type carries in a valid frame. */
static uint32_t valid_payload_len(uint16_t type)
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

static bool type_has_data(uint16_t type)
{
	return type == FRAME_DATA || type == FRAME_RS_DATA;
}

/* Types whose length the payload pins: data, and V_REQ (a CRC per
 * block). */
static bool length_pinned(uint16_t type)
{
	return type_has_data(type) || type == FRAME_V_REQ;
}

/* The smallest length a valid frame of that type may carry: the payload
 * size for data, 1 for RS_CSUM (it checks a range that is not empty), the
 * one block whose CRC valid_payload_len carries for V_REQ. */
static uint32_t min_length(uint16_t type)
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
static bool model_v_req_ok(uint32_t payload_len, uint32_t length)
{
	uint32_t blocks = length / VBLOCK;

	return length % VBLOCK == 0 && blocks >= 1 &&
	       blocks <= FRAME_VERIFY_BLOCKS && payload_len == 4 * blocks;
}

/* ---- header layout ------------------------------------------------- */

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(FRAME_HDR_BYTES, 40);
	assert_int_equal(FRAME_HELLO_BYTES, 112);
	assert_int_equal(FRAME_STATE_BYTES, 128);
	assert_int_equal(FRAME_MAC_BYTES, 32);
	assert_int_equal(FRAME_CTRL_PAYLOAD_MAX, 4096);
	assert_int_equal(FRAME_PAYLOAD_MAX, 32 * 1024 * 1024);
	/* "BLKD" on the wire. */
	assert_int_equal(FRAME_MAGIC, 0x424c4b44);
	assert_int_equal(FRAME_VERSION, 2);
	/* A verify request covers at most 64 blocks: its CRCs are a
	 * control payload, and the reply's mask (the u64 offset) has a bit
	 * for each of them. */
	assert_int_equal(FRAME_VERIFY_BLOCKS, 64);
	assert_true(4 * FRAME_VERIFY_BLOCKS <= FRAME_CTRL_PAYLOAD_MAX);
	assert_true(FRAME_VERIFY_BLOCKS <= 64);
	/* The largest inline control payload is the full V_REQ. */
	assert_int_equal(INLINE_BYTES, 256);
}

/* Type numbers, flag bits and STATE flag bits are wire values: a change
 * to any of them is a new protocol version. */
static void test_wire_numbers(void **state)
{
	static const struct {
		const char *name;
		uint32_t got, want;
	} rows[] = {
		{ "HELLO", FRAME_HELLO, 1 },
		{ "AUTH", FRAME_AUTH, 2 },
		{ "STATE", FRAME_STATE, 3 },
		{ "DATA", FRAME_DATA, 4 },
		{ "TRIM", FRAME_TRIM, 5 },
		{ "ZERO", FRAME_ZERO, 6 },
		{ "BARRIER", FRAME_BARRIER, 7 },
		{ "RECV_ACK", FRAME_RECV_ACK, 8 },
		{ "WRITE_ACK", FRAME_WRITE_ACK, 9 },
		{ "BARRIER_ACK", FRAME_BARRIER_ACK, 10 },
		{ "PING", FRAME_PING, 11 },
		{ "PING_ACK", FRAME_PING_ACK, 12 },
		{ "RS_DATA", FRAME_RS_DATA, 13 },
		{ "RS_ZERO", FRAME_RS_ZERO, 14 },
		{ "RS_ACK", FRAME_RS_ACK, 15 },
		{ "RS_DONE", FRAME_RS_DONE, 16 },
		{ "RS_CSUM", FRAME_RS_CSUM, 17 },
		{ "RS_NEED", FRAME_RS_NEED, 18 },
		{ "BITMAP", FRAME_BITMAP, 19 },
		{ "BITMAP_DONE", FRAME_BITMAP_DONE, 20 },
		{ "V_REQ", FRAME_V_REQ, 21 },
		{ "V_REPLY", FRAME_V_REPLY, 22 },
		{ "RS_PRIO", FRAME_RS_PRIO, 23 },
		{ "TYPE_MAX", FRAME_TYPE_MAX, 23 },
		{ "F_FUA", FRAME_F_FUA, 0x01 },
		{ "F_WANT_RECV_ACK", FRAME_F_WANT_RECV_ACK, 0x02 },
		{ "F_NO_HOLE", FRAME_F_NO_HOLE, 0x04 },
		{ "F_FLUSH", FRAME_F_FLUSH, 0x08 },
		{ "F_SAME", FRAME_F_SAME, 0x10 },
		{ "F_ALL", FRAME_F_ALL, 0x1f },
		{ "F_ALL is every flag", FRAME_F_ALL,
		  FRAME_F_FUA | FRAME_F_WANT_RECV_ACK | FRAME_F_NO_HOLE |
			  FRAME_F_FLUSH | FRAME_F_SAME },
		{ "STATE_F_SYNC_SOURCE", FRAME_STATE_F_SYNC_SOURCE, 0x01 },
		{ "STATE_F_NEW_UUID", FRAME_STATE_F_NEW_UUID, 0x02 },
		{ "STATE_F_PAUSED", FRAME_STATE_F_PAUSED, 0x04 },
		{ "STATE_F_DISCARD", FRAME_STATE_F_DISCARD, 0x08 },
		{ "STATE_F_VERIFY", FRAME_STATE_F_VERIFY, 0x10 },
		{ "STATE_F_INVALIDATE", FRAME_STATE_F_INVALIDATE, 0x20 },
		{ "STATE_F_INVALIDATE_BITMAP", FRAME_STATE_F_INVALIDATE_BITMAP,
		  0x40 },
		/* Seven distinct bits of the u8 flags byte. */
		{ "STATE flags are distinct bits",
		  FRAME_STATE_F_SYNC_SOURCE | FRAME_STATE_F_NEW_UUID |
			  FRAME_STATE_F_PAUSED | FRAME_STATE_F_DISCARD |
			  FRAME_STATE_F_VERIFY | FRAME_STATE_F_INVALIDATE |
			  FRAME_STATE_F_INVALIDATE_BITMAP,
		  0x7f },
		{ "VERIFY_BLOCKS", FRAME_VERIFY_BLOCKS, 64 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		if (rows[i].got != rows[i].want)
			fail_msg("%s is %#x, want %#x", rows[i].name,
				 rows[i].got, rows[i].want);
	}
}

static void test_ref_crc_check_value(void **state)
{
	(void)state;
	/* The test's own CRC32C must be the standard one. */
	assert_int_equal(ref_crc32c(0, (const uint8_t *)"123456789", 9),
			 0xe3069283U);
}

static void test_header_wire_bytes(void **state)
{
	static const uint8_t payload[8] = "ABCDEFGH";
	static const uint8_t want[FRAME_HDR_BYTES] = {
		'B', 'L', 'K', 'D',			/* magic */
		0x00, 0x02,				/* version */
		0x00, 0x04,				/* DATA */
		0x00, 0x00, 0x00, 0x03,			/* FUA | RECV_ACK */
		0x00, 0x00, 0x00, 0x08,			/* payload_len */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* id */
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* offset */
		0x00, 0x00, 0x00, 0x08,			/* length */
		0xb3, 0x70, 0x43, 0xc2,			/* crc */
	};
	const struct frame_hdr h = {
		.version = FRAME_VERSION,
		.type = FRAME_DATA,
		.flags = FRAME_F_FUA | FRAME_F_WANT_RECV_ACK,
		.payload_len = 8,
		.id = 0x0102030405060708ULL,
		.offset = 0x1112131415161718ULL,
		.length = 8,
	};
	uint8_t b[FRAME_HDR_BYTES], zeroed[FRAME_HDR_BYTES];
	uint32_t crc;

	(void)state;
	memset(b, 0xa5, sizeof(b));
	frame_encode(b, &h, payload);
	assert_memory_equal(b, want, sizeof(want));

	/* The CRC covers the header with crc = 0, then the payload. */
	memcpy(zeroed, want, sizeof(zeroed));
	memset(zeroed + 36, 0, 4);
	crc = ref_crc32c(ref_crc32c(0, zeroed, sizeof(zeroed)), payload, 8);
	assert_int_equal(crc, 0xb37043c2U);
}

static void test_header_wire_bytes_no_payload(void **state)
{
	uint8_t b[FRAME_HDR_BYTES], want[FRAME_HDR_BYTES];
	const struct raw_hdr r = {
		FRAME_MAGIC, FRAME_VERSION, FRAME_PING, 0, 0, 0, 0, 0,
	};
	const struct frame_hdr h = {
		.version = FRAME_VERSION, .type = FRAME_PING,
	};

	(void)state;
	put_hdr(want, &r);
	assert_int_equal(ref_crc32c(0, want, sizeof(want)), 0x1a623de7U);
	put_be(want + 36, 0x1a623de7U, 4);
	/* No payload: a NULL pointer must not be touched. */
	frame_encode(b, &h, NULL);
	assert_memory_equal(b, want, sizeof(want));
}

/* The checksum resync, bitmap exchange and online verify frames, byte by
 * byte. */
static void test_resync_frames_wire_bytes(void **state)
{
	/* RLE: 3 clear, 129 set, 0 clear, 127 set = 259 blocks. */
	static const uint8_t rle[5] = { 0x03, 0x81, 0x01, 0x00, 0x7f };
	static const uint8_t csum[4] = { 0xde, 0xad, 0xbe, 0xef };
	/* V_REQ over 2 blocks: block 0's CRC32C, then block 1's. */
	static const uint8_t vcrc2[8] = {
		0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67,
	};
	/* V_REQ over FRAME_VERIFY_BLOCKS blocks: fill_pattern(.., 21). */
	static uint8_t vcrc64[4 * FRAME_VERIFY_BLOCKS];
	static const struct {
		const char *name;
		struct frame_hdr h;
		const uint8_t *payload;
		uint8_t want[FRAME_HDR_BYTES];
	} rows[] = {
		{ "RS_CSUM",
		  { .type = FRAME_RS_CSUM, .payload_len = 4, .id = 0x21,
		    .offset = 0x100000, .length = 0x10000 },
		  csum,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x11,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,
		    0, 0, 0, 0, 0, 0, 0, 0x21,
		    0, 0, 0, 0, 0, 0x10, 0x00, 0x00,
		    0x00, 0x01, 0x00, 0x00, 0xda, 0x8e, 0x9c, 0x56 } },
		{ "RS_NEED",
		  { .type = FRAME_RS_NEED, .id = 0x21, .offset = 0x100000,
		    .length = 0x10000 },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x12,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x21,
		    0, 0, 0, 0, 0, 0x10, 0x00, 0x00,
		    0x00, 0x01, 0x00, 0x00, 0x9c, 0x3e, 0x57, 0x12 } },
		{ "RS_ACK F_SAME",
		  { .type = FRAME_RS_ACK, .flags = FRAME_F_SAME, .id = 0x21,
		    .offset = 0x100000, .length = 0x10000 },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x0f,
		    0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x21,
		    0, 0, 0, 0, 0, 0x10, 0x00, 0x00,
		    0x00, 0x01, 0x00, 0x00, 0x8b, 0x8b, 0x48, 0x20 } },
		{ "BITMAP",
		  { .type = FRAME_BITMAP, .payload_len = 5, .id = 259,
		    .offset = 0x40 },
		  rle,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x13,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
		    0, 0, 0, 0, 0, 0, 0x01, 0x03,
		    0, 0, 0, 0, 0, 0, 0, 0x40,
		    0x00, 0x00, 0x00, 0x00, 0xc7, 0xe1, 0x0d, 0xb6 } },
		{ "BITMAP_DONE",
		  { .type = FRAME_BITMAP_DONE },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x14,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0, 0, 0, 0, 0,
		    0x00, 0x00, 0x00, 0x00, 0xf2, 0xff, 0x31, 0x84 } },
		/* 8 KiB at 2 MiB: payload_len 8, length 0x2000. */
		{ "V_REQ 2 blocks",
		  { .type = FRAME_V_REQ, .payload_len = 8, .id = 0x22,
		    .offset = 0x200000, .length = 0x2000 },
		  vcrc2,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x15,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
		    0, 0, 0, 0, 0, 0, 0, 0x22,
		    0, 0, 0, 0, 0, 0x20, 0x00, 0x00,
		    0x00, 0x00, 0x20, 0x00, 0xdd, 0xf3, 0xc9, 0x55 } },
		/* 256 KiB (64 blocks): payload_len 0x100, length 0x40000. */
		{ "V_REQ 64 blocks",
		  { .type = FRAME_V_REQ, .payload_len = 256, .id = 0x23,
		    .offset = 0x7ffc0000, .length = 0x40000 },
		  vcrc64,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x15,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x23,
		    0, 0, 0, 0, 0x7f, 0xfc, 0x00, 0x00,
		    0x00, 0x04, 0x00, 0x00, 0x61, 0xa9, 0xd8, 0x1b } },
		/* The reply echoes the id; blocks 0, 2 and 63 differ. */
		{ "V_REPLY mask",
		  { .type = FRAME_V_REPLY, .id = 0x22,
		    .offset = 0x8000000000000005ULL },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x16,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x22,
		    0x80, 0, 0, 0, 0, 0, 0, 0x05,
		    0x00, 0x00, 0x00, 0x00, 0xbf, 0x48, 0x29, 0x9c } },
		{ "V_REPLY every block differs",
		  { .type = FRAME_V_REPLY, .id = 0x23, .offset = UINT64_MAX },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x02, 0x00, 0x16,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x23,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0x00, 0x00, 0x00, 0x00, 0x12, 0x7c, 0x8b, 0xf7 } },
	};

	(void)state;
	fill_pattern(vcrc64, sizeof(vcrc64), 21);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		const struct frame_hdr *w = &rows[i].h;
		uint8_t b[FRAME_HDR_BYTES], zeroed[FRAME_HDR_BYTES];
		struct frame_hdr h;
		uint32_t crc;

		memset(b, 0xa5, sizeof(b));
		frame_encode(b, w, rows[i].payload);
		if (memcmp(b, rows[i].want, sizeof(b)) != 0)
			fail_msg("%s: encoded header differs", rows[i].name);

		/* The literal CRC is the one this file computes. */
		memcpy(zeroed, rows[i].want, sizeof(zeroed));
		memset(zeroed + 36, 0, 4);
		crc = ref_crc32c(0, zeroed, sizeof(zeroed));
		if (w->payload_len)
			crc = ref_crc32c(crc, rows[i].payload, w->payload_len);
		if (crc != get_be(rows[i].want + 36, 4))
			fail_msg("%s: literal CRC is not the CRC32C",
				 rows[i].name);

		/* And the literal bytes parse back to the same frame. */
		memset(&h, 0xa5, sizeof(h));
		if (frame_parse(rows[i].want, &h) != 0)
			fail_msg("%s: literal header refused", rows[i].name);
		assert_int_equal(h.version, 2);
		assert_int_equal(h.type, w->type);
		assert_int_equal(h.flags, w->flags);
		assert_int_equal(h.payload_len, w->payload_len);
		assert_true(h.id == w->id);
		assert_true(h.offset == w->offset);
		assert_int_equal(h.length, w->length);
		assert_int_equal(h.crc, crc);
		assert_true(frame_crc_ok(rows[i].want, &h, rows[i].payload));
	}
}

/* ---- round trip ----------------------------------------------------- */

static void test_roundtrip_every_type(void **state)
{
	static const uint32_t flag_sets[] = {
		0, FRAME_F_FUA, FRAME_F_WANT_RECV_ACK | FRAME_F_NO_HOLE,
		FRAME_F_SAME, FRAME_F_FLUSH | FRAME_F_SAME, FRAME_F_ALL,
	};
	static uint8_t payload[FRAME_HELLO_BYTES + 512];

	(void)state;
	fill_pattern(payload, sizeof(payload), 1);
	for (uint16_t t = 1; t <= FRAME_TYPE_MAX; t++) {
		for (size_t f = 0; f < ARRAY_LEN(flag_sets); f++) {
			uint32_t plen = valid_payload_len(t);
			const struct frame_hdr w = {
				.version = FRAME_VERSION,
				.type = t,
				.flags = flag_sets[f],
				.payload_len = plen,
				.id = 0x8000000000000001ULL + t,
				.offset = UINT64_MAX - t,
				.length = length_pinned(t)
						  ? min_length(t)
						  : 0xfffff000U + t,
			};
			uint8_t b[FRAME_HDR_BYTES];
			struct frame_hdr h;

			frame_encode(b, &w, plen ? payload : NULL);
			memset(&h, 0xa5, sizeof(h));
			if (frame_parse(b, &h) != 0)
				fail_msg("type %u flags %#x: parse failed", t,
					 flag_sets[f]);
			assert_int_equal(h.version, FRAME_VERSION);
			assert_int_equal(h.type, t);
			assert_int_equal(h.flags, flag_sets[f]);
			assert_int_equal(h.payload_len, plen);
			assert_true(h.id == w.id);
			assert_true(h.offset == w.offset);
			assert_int_equal(h.length, w.length);
			assert_int_equal(h.crc, (uint32_t)get_be(b + 36, 4));
			assert_true(frame_crc_ok(b, &h, plen ? payload : NULL));
			/* Every field lands where frame.h says. */
			assert_int_equal(get_be(b, 4), FRAME_MAGIC);
			assert_int_equal(get_be(b + 4, 2), 2);
			assert_int_equal(get_be(b + 6, 2), t);
			assert_int_equal(get_be(b + 8, 4), flag_sets[f]);
			assert_int_equal(get_be(b + 12, 4), plen);
			assert_true(get_be(b + 16, 8) == w.id);
			assert_true(get_be(b + 24, 8) == w.offset);
		}
	}
}

/* ---- parse: magic, version, type, flags ----------------------------- */

static void test_parse_bad_magic(void **state)
{
	const struct raw_hdr r = {
		FRAME_MAGIC, FRAME_VERSION, FRAME_PING, 0, 0, 0, 0, 0,
	};
	uint8_t good[FRAME_HDR_BYTES], b[FRAME_HDR_BYTES];
	struct frame_hdr h;

	(void)state;
	put_hdr(good, &r);
	assert_int_equal(frame_parse(good, &h), 0);
	for (int bit = 0; bit < 32; bit++) {
		memcpy(b, good, sizeof(b));
		b[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		assert_int_equal(frame_parse(b, &h), -EBADMSG);
	}
	/* Little-endian magic, all zeroes, an NBD request. */
	memcpy(b, good, sizeof(b));
	memcpy(b, "DKLB", 4);
	assert_int_equal(frame_parse(b, &h), -EBADMSG);
	memset(b, 0, sizeof(b));
	assert_int_equal(frame_parse(b, &h), -EBADMSG);
	memcpy(b, good, sizeof(b));
	put_be(b, 0x25609513U, 4);
	assert_int_equal(frame_parse(b, &h), -EBADMSG);
	/* A bad magic wins over every other fault. */
	memset(b, 0xff, sizeof(b));
	assert_int_equal(frame_parse(b, &h), -EBADMSG);
}

static void test_parse_version(void **state)
{
	/* 1: a peer that speaks the old format (64-byte STATE, no checksum
	 * resync, no bitmap exchange) is refused, not misread. */
	static const uint16_t bad[] = {
		0, 1, 3, 0x0200, 0x0102, 0x8002, 0xffff,
	};
	uint8_t b[FRAME_HDR_BYTES];
	struct frame_hdr h;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		const struct raw_hdr r = {
			FRAME_MAGIC, bad[i], FRAME_PING, 0, 0, 0, 0, 0,
		};

		put_hdr(b, &r);
		if (frame_parse(b, &h) != -EPROTO)
			fail_msg("version %#x accepted", bad[i]);
	}
	/* Version 2 with the same header is accepted. */
	{
		const struct raw_hdr r = {
			FRAME_MAGIC, 2, FRAME_PING, 0, 0, 0, 0, 0,
		};

		put_hdr(b, &r);
		assert_int_equal(frame_parse(b, &h), 0);
		assert_int_equal(h.version, 2);
	}
}

static void test_parse_type(void **state)
{
	static const uint16_t bad[] = {
		0, FRAME_TYPE_MAX + 1, FRAME_TYPE_MAX + 2, 24, 0x0100, 0x8004,
		/* V_REQ and V_REPLY byte-swapped. */
		0x1500, 0x1600, 0xffff,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		if (parse_typed(bad[i], 0, 0, 0) != -EPROTO)
			fail_msg("type %#x accepted", bad[i]);
	}
	for (uint16_t t = 1; t <= FRAME_TYPE_MAX; t++) {
		uint32_t plen = valid_payload_len(t);

		if (parse_typed(t, plen, min_length(t), 0) != 0)
			fail_msg("type %u rejected", t);
	}
}

static void test_parse_flags(void **state)
{
	(void)state;
	for (int bit = 0; bit < 32; bit++) {
		uint32_t f = 1U << bit;
		int want = (f & FRAME_F_ALL) ? 0 : -EPROTO;

		if (parse_typed(FRAME_DATA, 4096, 4096, f) != want)
			fail_msg("DATA flag bit %d: want %d", bit, want);
		if (parse_typed(FRAME_PING, 0, 0, f) != want)
			fail_msg("PING flag bit %d: want %d", bit, want);
		if (parse_typed(FRAME_RS_ACK, 0, 4096, f) != want)
			fail_msg("RS_ACK flag bit %d: want %d", bit, want);
		if (parse_typed(FRAME_BITMAP, 8, 0, f) != want)
			fail_msg("BITMAP flag bit %d: want %d", bit, want);
		if (parse_typed(FRAME_V_REQ, 4, 4096, f) != want)
			fail_msg("V_REQ flag bit %d: want %d", bit, want);
		if (parse_typed(FRAME_V_REPLY, 0, 0, f) != want)
			fail_msg("V_REPLY flag bit %d: want %d", bit, want);
	}
	/* Bit 4 (F_SAME) is a known flag; bit 5 is the first unknown one. */
	assert_int_equal(parse_typed(FRAME_RS_ACK, 0, 4096, FRAME_F_SAME), 0);
	assert_int_equal(parse_typed(FRAME_RS_ACK, 0, 4096, 1U << 5), -EPROTO);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, FRAME_F_ALL), 0);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0x1fU), 0);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0x3fU), -EPROTO);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0xffffffe0U), -EPROTO);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0xfffffff0U), -EPROTO);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0xffffffffU), -EPROTO);
}

/* ---- parse: payload size per type ----------------------------------- */

static void test_parse_payload_sizes(void **state)
{
	static const struct {
		const char *rule;
		uint16_t type;
		uint32_t payload_len, length;
		int want;	/* 0, -errno, or ANY_REJECT */
	} rows[] = {
		{ "HELLO exact", FRAME_HELLO, FRAME_HELLO_BYTES, 0, 0 },
		{ "HELLO short", FRAME_HELLO, FRAME_HELLO_BYTES - 1, 0, -EPROTO },
		{ "HELLO long", FRAME_HELLO, FRAME_HELLO_BYTES + 1, 0, -EPROTO },
		{ "HELLO empty", FRAME_HELLO, 0, 0, -EPROTO },
		{ "HELLO as STATE", FRAME_HELLO, FRAME_STATE_BYTES, 0, -EPROTO },
		{ "HELLO huge", FRAME_HELLO, UINT32_MAX, 0, ANY_REJECT },
		{ "HELLO length ignored", FRAME_HELLO, FRAME_HELLO_BYTES,
		  12345, 0 },
		{ "AUTH exact", FRAME_AUTH, FRAME_MAC_BYTES, 0, 0 },
		{ "AUTH short", FRAME_AUTH, FRAME_MAC_BYTES - 1, 0, -EPROTO },
		{ "AUTH long", FRAME_AUTH, FRAME_MAC_BYTES + 1, 0, -EPROTO },
		{ "AUTH empty", FRAME_AUTH, 0, 0, -EPROTO },
		{ "STATE exact", FRAME_STATE, FRAME_STATE_BYTES, 0, 0 },
		{ "STATE short", FRAME_STATE, FRAME_STATE_BYTES - 1, 0, -EPROTO },
		{ "STATE long", FRAME_STATE, FRAME_STATE_BYTES + 1, 0, -EPROTO },
		{ "STATE empty", FRAME_STATE, 0, 0, -EPROTO },
		{ "STATE as HELLO", FRAME_STATE, FRAME_HELLO_BYTES, 0, -EPROTO },
		{ "DATA 1 byte", FRAME_DATA, 1, 1, 0 },
		{ "DATA 4 KiB", FRAME_DATA, 4096, 4096, 0 },
		{ "DATA max", FRAME_DATA, FRAME_PAYLOAD_MAX, FRAME_PAYLOAD_MAX,
		  0 },
		{ "DATA empty", FRAME_DATA, 0, 0, -EPROTO },
		{ "DATA no payload", FRAME_DATA, 0, 4096, -EPROTO },
		{ "DATA payload != length", FRAME_DATA, 4096, 4095, -EPROTO },
		{ "DATA payload < length", FRAME_DATA, 4095, 4096, -EPROTO },
		{ "DATA length past max", FRAME_DATA, FRAME_PAYLOAD_MAX,
		  FRAME_PAYLOAD_MAX + 1, -EPROTO },
		{ "DATA max + 1", FRAME_DATA, FRAME_PAYLOAD_MAX + 1,
		  FRAME_PAYLOAD_MAX + 1, -E2BIG },
		{ "DATA huge", FRAME_DATA, UINT32_MAX, UINT32_MAX, -E2BIG },
		{ "DATA huge, length 0", FRAME_DATA, UINT32_MAX, 0, -E2BIG },
		{ "RS_DATA 4 KiB", FRAME_RS_DATA, 4096, 4096, 0 },
		{ "RS_DATA max", FRAME_RS_DATA, FRAME_PAYLOAD_MAX,
		  FRAME_PAYLOAD_MAX, 0 },
		{ "RS_DATA empty", FRAME_RS_DATA, 0, 0, -EPROTO },
		{ "RS_DATA payload != length", FRAME_RS_DATA, 512, 1024,
		  -EPROTO },
		{ "RS_DATA max + 1", FRAME_RS_DATA, FRAME_PAYLOAD_MAX + 1,
		  FRAME_PAYLOAD_MAX + 1, -E2BIG },
		{ "TRIM has length, no payload", FRAME_TRIM, 0, 1U << 30, 0 },
		{ "TRIM with payload", FRAME_TRIM, 4096, 4096, -EPROTO },
		{ "ZERO with payload", FRAME_ZERO, 1, 1, -EPROTO },
		{ "BARRIER with payload", FRAME_BARRIER, 1, 0, -EPROTO },
		{ "RECV_ACK with payload", FRAME_RECV_ACK, 8, 0, -EPROTO },
		{ "WRITE_ACK with payload", FRAME_WRITE_ACK, 4, 0, -EPROTO },
		{ "BARRIER_ACK with payload", FRAME_BARRIER_ACK, 1, 0, -EPROTO },
		{ "PING with payload", FRAME_PING, 1, 0, -EPROTO },
		{ "PING_ACK with payload", FRAME_PING_ACK, 64, 0, -EPROTO },
		{ "RS_ZERO with payload", FRAME_RS_ZERO, 4096, 4096, -EPROTO },
		{ "RS_ACK with payload", FRAME_RS_ACK, 1, 0, -EPROTO },
		{ "RS_DONE with payload", FRAME_RS_DONE, 1, 0, -EPROTO },
		{ "PING huge payload", FRAME_PING, FRAME_PAYLOAD_MAX + 1, 0,
		  ANY_REJECT },
		{ "RS_ZERO huge length", FRAME_RS_ZERO, 0, UINT32_MAX, 0 },
		{ "RS_CSUM exact", FRAME_RS_CSUM, 4, 4096, 0 },
		{ "RS_CSUM length 1", FRAME_RS_CSUM, 4, 1, 0 },
		{ "RS_CSUM huge length", FRAME_RS_CSUM, 4, UINT32_MAX, 0 },
		{ "RS_CSUM length 0", FRAME_RS_CSUM, 4, 0, -EPROTO },
		{ "RS_CSUM empty", FRAME_RS_CSUM, 0, 4096, -EPROTO },
		{ "RS_CSUM short", FRAME_RS_CSUM, 3, 4096, -EPROTO },
		{ "RS_CSUM long", FRAME_RS_CSUM, 5, 4096, -EPROTO },
		{ "RS_CSUM carrying the data", FRAME_RS_CSUM, 4096, 4096,
		  -EPROTO },
		{ "RS_CSUM empty, length 0", FRAME_RS_CSUM, 0, 0, -EPROTO },
		{ "RS_CSUM huge", FRAME_RS_CSUM, UINT32_MAX, 4096, ANY_REJECT },
		{ "RS_NEED no payload", FRAME_RS_NEED, 0, 4096, 0 },
		{ "RS_NEED with payload", FRAME_RS_NEED, 4, 4096, -EPROTO },
		{ "RS_NEED with the data", FRAME_RS_NEED, 4096, 4096,
		  -EPROTO },
		{ "BITMAP empty", FRAME_BITMAP, 0, 0, 0 },
		{ "BITMAP 1 byte", FRAME_BITMAP, 1, 0, 0 },
		{ "BITMAP control max", FRAME_BITMAP, FRAME_CTRL_PAYLOAD_MAX, 0,
		  0 },
		{ "BITMAP length ignored", FRAME_BITMAP, 64, UINT32_MAX, 0 },
		{ "BITMAP control max + 1", FRAME_BITMAP,
		  FRAME_CTRL_PAYLOAD_MAX + 1, 0, -EPROTO },
		{ "BITMAP data-sized", FRAME_BITMAP, FRAME_PAYLOAD_MAX,
		  FRAME_PAYLOAD_MAX, ANY_REJECT },
		{ "BITMAP huge", FRAME_BITMAP, UINT32_MAX, 0, ANY_REJECT },
		{ "BITMAP_DONE no payload", FRAME_BITMAP_DONE, 0, 0, 0 },
		{ "BITMAP_DONE with payload", FRAME_BITMAP_DONE, 1, 0, -EPROTO },
		{ "BITMAP_DONE with a chunk", FRAME_BITMAP_DONE, 37, 0,
		  -EPROTO },
		{ "V_REQ 1 block", FRAME_V_REQ, 4, 4096, 0 },
		{ "V_REQ 2 blocks", FRAME_V_REQ, 8, 8192, 0 },
		{ "V_REQ 63 blocks", FRAME_V_REQ, 252, 63 * 4096, 0 },
		{ "V_REQ 64 blocks (max)", FRAME_V_REQ, 256, 64 * 4096, 0 },
		{ "V_REQ 65 blocks", FRAME_V_REQ, 260, 65 * 4096, -EPROTO },
		{ "V_REQ 65 blocks, 64 CRCs", FRAME_V_REQ, 256, 65 * 4096,
		  -EPROTO },
		{ "V_REQ length 0", FRAME_V_REQ, 0, 0, -EPROTO },
		{ "V_REQ length 0, a CRC", FRAME_V_REQ, 4, 0, -EPROTO },
		{ "V_REQ part of a block", FRAME_V_REQ, 4, 4095, -EPROTO },
		{ "V_REQ 512 bytes", FRAME_V_REQ, 4, 512, -EPROTO },
		{ "V_REQ a block and a byte", FRAME_V_REQ, 4, 4097, -EPROTO },
		{ "V_REQ a block and a byte, 2 CRCs", FRAME_V_REQ, 8, 4097,
		  -EPROTO },
		{ "V_REQ 1.5 blocks", FRAME_V_REQ, 4, 6144, -EPROTO },
		{ "V_REQ 1.5 blocks, 2 CRCs", FRAME_V_REQ, 8, 6144, -EPROTO },
		{ "V_REQ no CRC", FRAME_V_REQ, 0, 4096, -EPROTO },
		{ "V_REQ CRC short", FRAME_V_REQ, 3, 4096, -EPROTO },
		{ "V_REQ CRC long", FRAME_V_REQ, 5, 4096, -EPROTO },
		{ "V_REQ one CRC short", FRAME_V_REQ, 4, 8192, -EPROTO },
		{ "V_REQ one CRC too many", FRAME_V_REQ, 12, 8192, -EPROTO },
		{ "V_REQ a CRC per 512 bytes", FRAME_V_REQ, 64, 8192, -EPROTO },
		{ "V_REQ carrying the data", FRAME_V_REQ, 4096, 4096, -EPROTO },
		{ "V_REQ max CRCs, 1 block", FRAME_V_REQ, 256, 4096, -EPROTO },
		{ "V_REQ huge length", FRAME_V_REQ, 4, UINT32_MAX, -EPROTO },
		/* A whole number of blocks whose CRCs would still be a small
		 * payload were there no block limit. */
		{ "V_REQ 1 MiB", FRAME_V_REQ, 1024, 1U << 20, -EPROTO },
		{ "V_REQ 4 GiB - 4 KiB", FRAME_V_REQ,
		  (0xfffff000U / 4096) * 4, 0xfffff000U, -EPROTO },
		{ "V_REQ 2 GiB", FRAME_V_REQ, 2U << 20, 1U << 31, -EPROTO },
		{ "V_REQ control max", FRAME_V_REQ, FRAME_CTRL_PAYLOAD_MAX,
		  FRAME_CTRL_PAYLOAD_MAX / 4 * 4096, -EPROTO },
		{ "V_REQ huge", FRAME_V_REQ, UINT32_MAX, 4096, ANY_REJECT },
		{ "V_REPLY no payload", FRAME_V_REPLY, 0, 0, 0 },
		{ "V_REPLY length ignored", FRAME_V_REPLY, 0, 64 * 4096, 0 },
		{ "V_REPLY with a CRC", FRAME_V_REPLY, 4, 0, -EPROTO },
		{ "V_REPLY with a mask as payload", FRAME_V_REPLY, 8, 0,
		  -EPROTO },
		{ "V_REPLY echoing the CRCs", FRAME_V_REPLY, 256, 64 * 4096,
		  -EPROTO },
		{ "V_REPLY huge", FRAME_V_REPLY, UINT32_MAX, 0, ANY_REJECT },
		{ "RS_PRIO no payload", FRAME_RS_PRIO, 0, 1 << 20, 0 },
		{ "RS_PRIO with payload", FRAME_RS_PRIO, 4, 4096, -EPROTO },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		int got = parse_typed(rows[i].type, rows[i].payload_len,
				      rows[i].length, 0);
		bool ok = rows[i].want == ANY_REJECT
				  ? got == -EPROTO || got == -E2BIG
				  : got == rows[i].want;

		if (!ok)
			fail_msg("%s: payload_len %u length %u: got %d, want %d",
				 rows[i].rule, rows[i].payload_len,
				 rows[i].length, got, rows[i].want);
	}
}

/* The V_REQ rule over a grid: every block count from 0 to two past the
 * limit, lengths on, next to and between block boundaries, large lengths,
 * and every payload size up to past the largest valid one plus sizes
 * derived from the length. frame_parse must agree with model_v_req_ok:
 * 0 where it holds, else -EPROTO (either error past FRAME_PAYLOAD_MAX). */
static void test_parse_verify_request_grid(void **state)
{
	/* Payload sizes tried for every length: 0 up to past the largest
	 * valid one. */
	enum { NSMALL = 4 * FRAME_VERIFY_BLOCKS + 12 };
	static const uint32_t deltas[] = { 0, 1, 4, 512, 2048, 4095 };
	static const uint32_t big[] = {
		UINT32_MAX, 0xfffff000U, 0xfffff004U, 1U << 31,
		(1U << 31) + 4096, FRAME_PAYLOAD_MAX, FRAME_PAYLOAD_MAX + 4096U,
		1U << 20, (FRAME_VERIFY_BLOCKS + 1) * 4096U * 2,
		/* 1 GiB: its CRCs alone would pass a control payload. */
		0x40000000U, 0x40001000U,
	};
	uint32_t lengths[(FRAME_VERIFY_BLOCKS + 3) * ARRAY_LEN(deltas) * 2 +
			 ARRAY_LEN(big)];
	size_t nl = 0;
	unsigned long accepted = 0, checked = 0;
	bool seen[FRAME_VERIFY_BLOCKS + 1] = { false };

	(void)state;
	for (uint32_t k = 0; k <= FRAME_VERIFY_BLOCKS + 2; k++) {
		for (size_t d = 0; d < ARRAY_LEN(deltas); d++) {
			lengths[nl++] = k * VBLOCK + deltas[d];
			if (k)
				lengths[nl++] = k * VBLOCK - deltas[d];
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(big); i++)
		lengths[nl++] = big[i];
	assert_true(nl <= ARRAY_LEN(lengths));

	for (size_t i = 0; i < nl; i++) {
		uint32_t length = lengths[i];
		uint32_t extra[] = {
			length / VBLOCK * 4, length / VBLOCK * 4 + 4,
			length / VBLOCK * 4 - 4, length / 512 * 4, length,
			FRAME_CTRL_PAYLOAD_MAX, FRAME_CTRL_PAYLOAD_MAX + 1,
			FRAME_PAYLOAD_MAX, FRAME_PAYLOAD_MAX + 1, UINT32_MAX,
		};

		for (uint32_t j = 0; j < NSMALL + ARRAY_LEN(extra); j++) {
			uint32_t plen = j < NSMALL ? j : extra[j - NSMALL];
			int got = parse_typed(FRAME_V_REQ, plen, length, 0);
			bool ok = model_v_req_ok(plen, length);

			checked++;
			if (ok) {
				accepted++;
				seen[length / VBLOCK] = true;
			}
			if (ok ? got == 0
			       : plen > FRAME_PAYLOAD_MAX
					 ? got == -EPROTO || got == -E2BIG
					 : got == -EPROTO)
				continue;
			fail_msg("V_REQ payload_len %u length %u: got %d, want %s",
				 plen, length, got, ok ? "0" : "-EPROTO");
		}
	}
	/* Every valid block count was accepted somewhere in the grid. */
	assert_false(seen[0]);
	for (uint32_t k = 1; k <= FRAME_VERIFY_BLOCKS; k++)
		if (!seen[k])
			fail_msg("%u blocks never tried", k);
	assert_true(accepted > 0 && checked > 100000);
}

/* A V_REQ of every size encodes, parses back field for field and passes
 * the CRC this file computes; one block past the limit is refused even
 * though the encoder writes it. */
static void test_verify_request_roundtrip(void **state)
{
	static uint8_t crcs[4 * (FRAME_VERIFY_BLOCKS + 1)];

	(void)state;
	fill_pattern(crcs, sizeof(crcs), 9);
	for (uint32_t n = 1; n <= FRAME_VERIFY_BLOCKS + 1; n++) {
		const struct frame_hdr w = {
			.type = FRAME_V_REQ,
			.payload_len = 4 * n,
			.id = 0x0100000000000000ULL | n,
			.offset = (uint64_t)n << 32 | (uint64_t)n * VBLOCK,
			.length = n * VBLOCK,
		};
		uint8_t b[FRAME_HDR_BYTES], zeroed[FRAME_HDR_BYTES];
		struct frame_hdr h;
		uint32_t crc;
		int ret;

		memset(b, 0xa5, sizeof(b));
		frame_encode(b, &w, crcs);
		assert_int_equal(get_be(b + 6, 2), 21);
		assert_int_equal(get_be(b + 12, 4), 4 * n);
		assert_int_equal(get_be(b + 32, 4), n * VBLOCK);
		memcpy(zeroed, b, sizeof(zeroed));
		memset(zeroed + 36, 0, 4);
		crc = ref_crc32c(ref_crc32c(0, zeroed, sizeof(zeroed)), crcs,
				 4 * n);
		assert_int_equal(get_be(b + 36, 4), crc);

		memset(&h, 0xa5, sizeof(h));
		ret = frame_parse(b, &h);
		if (n > FRAME_VERIFY_BLOCKS) {
			assert_int_equal(ret, -EPROTO);
			continue;
		}
		if (ret != 0)
			fail_msg("V_REQ of %u blocks refused: %d", n, ret);
		assert_int_equal(h.type, FRAME_V_REQ);
		assert_int_equal(h.payload_len, 4 * n);
		assert_int_equal(h.length, n * VBLOCK);
		assert_true(h.id == w.id && h.offset == w.offset);
		assert_int_equal(h.crc, crc);
		assert_true(frame_crc_ok(b, &h, crcs));
		/* A bit of the last CRC changed: caught. */
		crcs[4 * n - 1] ^= 0x01;
		assert_false(frame_crc_ok(b, &h, crcs));
		crcs[4 * n - 1] ^= 0x01;
	}
}

/* ---- CRC ------------------------------------------------------------ */

/* Flip every bit of header and payload of a valid frame: the receiver
 * either refuses the header or finds the CRC wrong. A flip that changes
 * payload_len must be refused by frame_parse, except for BITMAP, the one
 * type whose payload size the header does not pin: there the receiver
 * reads a different amount of the stream (the payload, then what follows
 * it) and the CRC must catch that. */
static void check_bit_flips(const struct frame_hdr *w, const uint8_t *payload)
{
	static uint8_t p[FRAME_CTRL_PAYLOAD_MAX + 600];
	uint32_t plen = w->payload_len;
	uint8_t good[FRAME_HDR_BYTES], b[FRAME_HDR_BYTES];
	size_t total_bits = (FRAME_HDR_BYTES + (size_t)plen) * 8;
	struct frame_hdr h0, h;

	assert_true(plen <= 600);
	/* What follows the payload on the stream. */
	fill_pattern(p + plen, sizeof(p) - plen, 77);
	frame_encode(good, w, payload);
	assert_int_equal(frame_parse(good, &h0), 0);
	assert_true(frame_crc_ok(good, &h0, payload));

	for (size_t bit = 0; bit < total_bits; bit++) {
		size_t byte = bit / 8;
		int ret;

		memcpy(b, good, sizeof(b));
		if (plen)
			memcpy(p, payload, plen);
		if (byte < FRAME_HDR_BYTES)
			b[byte] ^= (uint8_t)(1U << (bit % 8));
		else
			p[byte - FRAME_HDR_BYTES] ^= (uint8_t)(1U << (bit % 8));
		h = h0;
		ret = frame_parse(b, &h);
		if (ret != 0) {
			assert_true(ret == -EBADMSG || ret == -EPROTO ||
				    ret == -E2BIG);
			continue;
		}
		if (h.payload_len != plen) {
			if (w->type != FRAME_BITMAP)
				fail_msg("type %u: flip of header bit %zu "
					 "changes payload_len to %u and still "
					 "parses", w->type, bit, h.payload_len);
			assert_true(h.payload_len <= FRAME_CTRL_PAYLOAD_MAX);
		}
		if (frame_crc_ok(b, &h, p))
			fail_msg("type %u: flip of bit %zu (byte %zu) not "
				 "detected", w->type, bit, byte);
	}
}

static void test_crc_single_bit_flips(void **state)
{
	static uint8_t payload[512];
	const struct frame_hdr rows[] = {
		{ .type = FRAME_DATA, .flags = FRAME_F_FUA, .payload_len = 512,
		  .id = 42, .offset = 1ULL << 40, .length = 512 },
		{ .type = FRAME_RS_DATA, .payload_len = 1, .offset = 4096,
		  .length = 1 },
		{ .type = FRAME_HELLO, .payload_len = FRAME_HELLO_BYTES },
		{ .type = FRAME_STATE, .payload_len = FRAME_STATE_BYTES },
		{ .type = FRAME_AUTH, .payload_len = FRAME_MAC_BYTES },
		{ .type = FRAME_TRIM, .id = 9, .offset = 8192,
		  .length = 1U << 20 },
		{ .type = FRAME_WRITE_ACK, .id = UINT64_MAX,
		  .offset = (uint64_t)-EIO },
		{ .type = FRAME_PING },
		{ .type = FRAME_RS_CSUM, .payload_len = 4, .id = 5,
		  .offset = 1ULL << 20, .length = 65536 },
		{ .type = FRAME_RS_NEED, .id = 5, .offset = 1ULL << 20,
		  .length = 65536 },
		{ .type = FRAME_RS_ACK, .flags = FRAME_F_SAME, .id = 5,
		  .offset = 1ULL << 20, .length = 65536 },
		{ .type = FRAME_BITMAP, .payload_len = 37, .id = 1000,
		  .offset = 32768 },
		{ .type = FRAME_BITMAP, .payload_len = 0, .id = 0, .offset = 0 },
		{ .type = FRAME_BITMAP_DONE },
		{ .type = FRAME_V_REQ, .payload_len = 4, .id = 11,
		  .offset = 1ULL << 30, .length = 4096 },
		{ .type = FRAME_V_REQ, .payload_len = 4 * FRAME_VERIFY_BLOCKS,
		  .id = 12, .offset = 1ULL << 30,
		  .length = 4096 * FRAME_VERIFY_BLOCKS },
		{ .type = FRAME_V_REPLY, .id = 12,
		  .offset = 0x8000000000000001ULL },
		{ .type = FRAME_V_REPLY, .id = 13 },
	};

	(void)state;
	fill_pattern(payload, sizeof(payload), 2);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		check_bit_flips(&rows[i], payload);
}

static void test_crc_payload_swap(void **state)
{
	uint8_t a[4096], c[4096], b[FRAME_HDR_BYTES];
	const struct frame_hdr w = {
		.type = FRAME_DATA, .payload_len = 4096, .length = 4096,
	};
	struct frame_hdr h;

	(void)state;
	fill_pattern(a, sizeof(a), 3);
	memcpy(c, a, sizeof(c));
	/* Two blocks swapped: same bytes, different order. */
	memcpy(c, a + 2048, 2048);
	memcpy(c + 2048, a, 2048);
	frame_encode(b, &w, a);
	assert_int_equal(frame_parse(b, &h), 0);
	assert_true(frame_crc_ok(b, &h, a));
	assert_false(frame_crc_ok(b, &h, c));
	/* An all-zero payload is not a free pass either. */
	memset(c, 0, sizeof(c));
	assert_false(frame_crc_ok(b, &h, c));
}

/* ---- HELLO payload -------------------------------------------------- */

static void test_hello_wire_bytes(void **state)
{
	struct frame_hello h = {
		.features = 0x01020304,
		.reserved = 0xdeadbeef,	/* never sent */
		.node = "alpha",
		.resource_hash = 0x1122334455667788ULL,
	};
	uint8_t want[FRAME_HELLO_BYTES], b[FRAME_HELLO_BYTES];

	(void)state;
	for (int i = 0; i < FRAME_CHALLENGE_BYTES; i++)
		h.challenge[i] = (uint8_t)(0x80 + i);
	/* Garbage after the name's NUL is not sent. */
	h.node[10] = 'x';
	memset(want, 0, sizeof(want));
	put_be(want, 0x01020304, 4);
	memcpy(want + 8, "alpha", 5);
	for (int i = 0; i < FRAME_CHALLENGE_BYTES; i++)
		want[72 + i] = (uint8_t)(0x80 + i);
	put_be(want + 104, 0x1122334455667788ULL, 8);

	memset(b, 0xa5, sizeof(b));
	frame_encode_hello(b, &h);
	assert_memory_equal(b, want, sizeof(want));
}

static void test_hello_roundtrip(void **state)
{
	static const char *const names[] = {
		"a", "alpha", "node-with.dots_and-dashes",
		/* 63 characters: the longest that fits with its NUL. */
		"012345678901234567890123456789012345678901234567890123456789012",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		struct frame_hello w, h;
		uint8_t b[FRAME_HELLO_BYTES];

		memset(&w, 0, sizeof(w));
		w.features = 0xfedcba98U - (uint32_t)i;
		strcpy(w.node, names[i]);
		fill_pattern(w.challenge, sizeof(w.challenge), (uint32_t)i);
		w.resource_hash = UINT64_MAX - i;
		frame_encode_hello(b, &w);
		memset(&h, 0xa5, sizeof(h));
		assert_int_equal(frame_parse_hello(b, sizeof(b), &h), 0);
		assert_int_equal(h.features, w.features);
		assert_int_equal(h.reserved, 0);
		assert_string_equal(h.node, names[i]);
		assert_memory_equal(h.challenge, w.challenge,
				    FRAME_CHALLENGE_BYTES);
		assert_true(h.resource_hash == w.resource_hash);
	}
}

static void test_hello_name_fills_field(void **state)
{
	struct frame_hello w, h;
	uint8_t b[FRAME_HELLO_BYTES];

	(void)state;
	/* 64 bytes without a NUL: what is sent must still parse. */
	memset(&w, 0, sizeof(w));
	memset(w.node, 'n', sizeof(w.node));
	frame_encode_hello(b, &w);
	assert_int_equal(frame_parse_hello(b, sizeof(b), &h), 0);
	assert_int_equal(strlen(h.node), FRAME_NAME_BYTES - 1);
}

static void test_hello_parse_rejects(void **state)
{
	static const uint32_t bad_lens[] = {
		0, 1, FRAME_HELLO_BYTES - 1, FRAME_HELLO_BYTES + 1,
		FRAME_STATE_BYTES, UINT32_MAX,
	};
	uint8_t good[FRAME_HELLO_BYTES + 1], b[FRAME_HELLO_BYTES + 1];
	struct frame_hello w, h;

	(void)state;
	memset(&w, 0, sizeof(w));
	strcpy(w.node, "beta");
	frame_encode_hello(good, &w);
	good[FRAME_HELLO_BYTES] = 0;
	assert_int_equal(frame_parse_hello(good, FRAME_HELLO_BYTES, &h), 0);

	for (size_t i = 0; i < ARRAY_LEN(bad_lens); i++) {
		uint32_t len = bad_lens[i];

		if (frame_parse_hello(good, len, &h) != -EPROTO)
			fail_msg("HELLO of %u bytes accepted", len);
	}

	/* Name not NUL-terminated within its 64 bytes. */
	memcpy(b, good, sizeof(b));
	memset(b + 8, 'x', FRAME_NAME_BYTES);
	assert_int_equal(frame_parse_hello(b, FRAME_HELLO_BYTES, &h), -EPROTO);
	memcpy(b, good, sizeof(b));
	b[8 + FRAME_NAME_BYTES - 1] = 'x';
	assert_int_equal(frame_parse_hello(b, FRAME_HELLO_BYTES, &h), -EPROTO);

	/* Empty name, with or without bytes after the NUL. */
	memcpy(b, good, sizeof(b));
	memset(b + 8, 0, FRAME_NAME_BYTES);
	assert_int_equal(frame_parse_hello(b, FRAME_HELLO_BYTES, &h), -EPROTO);
	memcpy(b, good, sizeof(b));
	b[8] = 0;
	assert_int_equal(frame_parse_hello(b, FRAME_HELLO_BYTES, &h), -EPROTO);
}

/* ---- STATE payload -------------------------------------------------- */

static void test_state_wire_bytes(void **state)
{
	const struct frame_state s = {
		.role = 1, .disk = 6, .protocol = 'C',
		.flags = FRAME_STATE_F_SYNC_SOURCE,
		.size_bytes = 0x0000010000000000ULL,
		.instance = 0x0102030405060708ULL,
		.last_peer_instance = 0x1112131415161718ULL,
		.dirty_bytes = 0x2122232425262728ULL,
		.uuid = { 0x3132333435363738ULL, 4, 0x4142434445464748ULL, 9 },
		.md_flags = 0x1f,
		.primary_since = 0x5152535455565758ULL,
	};
	uint8_t want[FRAME_STATE_BYTES], b[FRAME_STATE_BYTES];

	(void)state;
	memset(want, 0, sizeof(want));
	want[0] = 1;
	want[1] = 6;
	want[2] = 'C';
	want[3] = FRAME_STATE_F_SYNC_SOURCE;
	put_be(want + 8, s.size_bytes, 8);
	put_be(want + 16, s.instance, 8);
	put_be(want + 24, s.last_peer_instance, 8);
	put_be(want + 32, s.dirty_bytes, 8);
	for (int i = 0; i < 4; i++)
		put_be(want + 40 + 8 * i, s.uuid[i], 8);
	put_be(want + 72, s.md_flags, 4);
	put_be(want + 80, s.primary_since, 8);
	memset(b, 0xa5, sizeof(b));
	frame_encode_state(b, &s);
	assert_memory_equal(b, want, sizeof(want));
}

/* The new fields at their literal offsets, and the whole layout read
 * back from bytes laid out here, not by frame_encode_state. */
static void test_state_parse_wire_bytes(void **state)
{
	static const uint8_t head[8] = {
		2, 4, 'A',
		FRAME_STATE_F_NEW_UUID | FRAME_STATE_F_PAUSED |
			FRAME_STATE_F_DISCARD,
		0, 0, 0, 0,
	};
	uint8_t b[FRAME_STATE_BYTES];
	struct frame_state s;

	(void)state;
	memset(b, 0, sizeof(b));
	memcpy(b, head, sizeof(head));
	for (int i = 8; i < 88; i++)
		b[i] = (uint8_t)i;	/* 08 09 .. 57: all distinct */
	/* Reserved bytes: 4..7 and 76..79 are sent as zero; after 88
	 * everything is zero. */
	memset(b + 76, 0, 4);
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(frame_parse_state(b, sizeof(b), &s), 0);
	assert_int_equal(s.role, 2);
	assert_int_equal(s.disk, 4);
	assert_int_equal(s.protocol, 'A');
	assert_int_equal(s.flags, 0x0e);
	assert_true(s.size_bytes == 0x08090a0b0c0d0e0fULL);
	assert_true(s.instance == 0x1011121314151617ULL);
	assert_true(s.last_peer_instance == 0x18191a1b1c1d1e1fULL);
	assert_true(s.dirty_bytes == 0x2021222324252627ULL);
	assert_true(s.uuid[0] == 0x28292a2b2c2d2e2fULL);
	assert_true(s.uuid[1] == 0x3031323334353637ULL);
	assert_true(s.uuid[2] == 0x38393a3b3c3d3e3fULL);
	assert_true(s.uuid[3] == 0x4041424344454647ULL);
	assert_int_equal(s.md_flags, 0x48494a4bU);
	assert_true(s.primary_since == 0x5051525354555657ULL);

	/* Encoded again: the same 128 bytes. */
	{
		uint8_t out[FRAME_STATE_BYTES];

		memset(out, 0xa5, sizeof(out));
		frame_encode_state(out, &s);
		assert_memory_equal(out, b, sizeof(b));
	}
}

static void test_state_roundtrip(void **state)
{
	static const uint8_t protocols[] = { 'A', 'B', 'C' };

	(void)state;
	for (uint8_t role = 0; role <= 2; role++) {
		for (uint8_t disk = 0; disk <= 6; disk++) {
			for (size_t p = 0; p < ARRAY_LEN(protocols); p++) {
				const struct frame_state w = {
					.role = role, .disk = disk,
					.protocol = protocols[p],
					/* Flag bytes spread over all eight
					 * bits; test_state_flags tries
					 * every value. */
					.flags = (uint8_t)((disk * 3 + role +
							    p * 7) * 17),
					.size_bytes = (uint64_t)disk << 40,
					.instance = UINT64_MAX - role,
					.last_peer_instance = role * 1000ULL,
					.dirty_bytes = 4096ULL * p,
					.uuid = {
						(1ULL << 63) |
						((uint64_t)disk << 32) | role,
						UINT64_MAX - p,
						(uint64_t)role << 56 | disk,
						0x0123456789abcdefULL * (p + 1),
					},
					.md_flags = 0xf0000000U >> disk |
						    (uint32_t)p,
					.primary_since = 1700000000ULL +
							 disk * 86400ULL + role,
				};
				uint8_t b[FRAME_STATE_BYTES];
				struct frame_state s;

				frame_encode_state(b, &w);
				/* Reserved bytes go out as zeroes. */
				assert_int_equal(get_be(b + 4, 4), 0);
				assert_int_equal(get_be(b + 76, 4), 0);
				for (int i = 88; i < FRAME_STATE_BYTES; i++)
					assert_int_equal(b[i], 0);
				memset(&s, 0xa5, sizeof(s));
				assert_int_equal(frame_parse_state(b, sizeof(b),
								   &s), 0);
				assert_int_equal(s.role, role);
				assert_int_equal(s.disk, disk);
				assert_int_equal(s.protocol, protocols[p]);
				assert_int_equal(s.flags, w.flags);
				assert_true(s.size_bytes == w.size_bytes);
				assert_true(s.instance == w.instance);
				assert_true(s.last_peer_instance ==
					    w.last_peer_instance);
				assert_true(s.dirty_bytes == w.dirty_bytes);
				for (int u = 0; u < 4; u++)
					assert_true(s.uuid[u] == w.uuid[u]);
				assert_int_equal(s.md_flags, w.md_flags);
				assert_true(s.primary_since == w.primary_since);
			}
		}
	}
}

static void test_state_parse_rejects(void **state)
{
	static const struct {
		const char *rule;
		int byte;
		uint8_t value;
	} rows[] = {
		{ "role past SECONDARY", 0, 3 },
		{ "role 255", 0, 255 },
		{ "disk past UPTODATE", 1, 7 },
		{ "disk 255", 1, 255 },
		{ "protocol NUL", 2, 0 },
		{ "protocol D", 2, 'D' },
		{ "protocol @", 2, '@' },
		{ "protocol lower-case c", 2, 'c' },
		{ "protocol digit", 2, '3' },
	};
	static const uint32_t bad_lens[] = {
		0, 1, FRAME_STATE_BYTES - 1, FRAME_STATE_BYTES + 1,
		FRAME_HELLO_BYTES, UINT32_MAX,
	};
	const struct frame_state w = { .role = 2, .disk = 3, .protocol = 'B' };
	uint8_t good[FRAME_STATE_BYTES], b[FRAME_STATE_BYTES];
	struct frame_state s;

	(void)state;
	memset(good, 0, sizeof(good));
	frame_encode_state(good, &w);
	assert_int_equal(frame_parse_state(good, FRAME_STATE_BYTES, &s), 0);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		memcpy(b, good, sizeof(b));
		b[rows[i].byte] = rows[i].value;
		if (frame_parse_state(b, FRAME_STATE_BYTES, &s) != -EPROTO)
			fail_msg("%s accepted", rows[i].rule);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad_lens); i++) {
		if (frame_parse_state(good, bad_lens[i], &s) != -EPROTO)
			fail_msg("STATE of %u bytes accepted", bad_lens[i]);
	}
}

/* Each STATE flag at its wire bit of byte 3, alone and all together, and
 * every value of the flags byte (known bits or not) carried through
 * encode and parse unchanged, nothing else in the payload disturbed. */
static void test_state_flags(void **state)
{
	static const struct {
		const char *name;
		uint8_t flags;
		uint8_t wire;	/* byte 3 as sent */
	} rows[] = {
		{ "SYNC_SOURCE", FRAME_STATE_F_SYNC_SOURCE, 0x01 },
		{ "NEW_UUID", FRAME_STATE_F_NEW_UUID, 0x02 },
		{ "PAUSED", FRAME_STATE_F_PAUSED, 0x04 },
		{ "DISCARD", FRAME_STATE_F_DISCARD, 0x08 },
		{ "VERIFY", FRAME_STATE_F_VERIFY, 0x10 },
		{ "INVALIDATE", FRAME_STATE_F_INVALIDATE, 0x20 },
		{ "INVALIDATE_BITMAP", FRAME_STATE_F_INVALIDATE_BITMAP, 0x40 },
		{ "INVALIDATE | INVALIDATE_BITMAP",
		  FRAME_STATE_F_INVALIDATE | FRAME_STATE_F_INVALIDATE_BITMAP,
		  0x60 },
		{ "VERIFY | SYNC_SOURCE",
		  FRAME_STATE_F_VERIFY | FRAME_STATE_F_SYNC_SOURCE, 0x11 },
		{ "all seven",
		  FRAME_STATE_F_SYNC_SOURCE | FRAME_STATE_F_NEW_UUID |
			  FRAME_STATE_F_PAUSED | FRAME_STATE_F_DISCARD |
			  FRAME_STATE_F_VERIFY | FRAME_STATE_F_INVALIDATE |
			  FRAME_STATE_F_INVALIDATE_BITMAP,
		  0x7f },
	};
	const struct frame_state base = {
		.role = 1, .disk = 6, .protocol = 'C',
		.size_bytes = 1ULL << 30, .instance = 0x1234,
		.last_peer_instance = 0x5678, .dirty_bytes = 8192,
		.uuid = { 0xa1, 0xb2, 0xc3, 0xd4 }, .md_flags = 0x3,
		.primary_since = 1764288000,
	};
	uint8_t ref[FRAME_STATE_BYTES];

	(void)state;
	frame_encode_state(ref, &base);
	assert_int_equal(ref[3], 0);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct frame_state w = base, s;
		uint8_t b[FRAME_STATE_BYTES];

		w.flags = rows[i].flags;
		memset(b, 0xa5, sizeof(b));
		frame_encode_state(b, &w);
		if (b[3] != rows[i].wire)
			fail_msg("%s: byte 3 is %#x, want %#x", rows[i].name,
				 b[3], rows[i].wire);
		/* Only byte 3 differs from the same state without flags. */
		assert_memory_equal(b, ref, 3);
		assert_memory_equal(b + 4, ref + 4, FRAME_STATE_BYTES - 4);
		/* Parsed from bytes laid out here, not by the encoder. */
		memcpy(b, ref, sizeof(b));
		b[3] = rows[i].wire;
		memset(&s, 0xa5, sizeof(s));
		assert_int_equal(frame_parse_state(b, sizeof(b), &s), 0);
		if (s.flags != rows[i].flags)
			fail_msg("%s: parsed flags %#x, want %#x", rows[i].name,
				 s.flags, rows[i].flags);
		assert_int_equal(s.role, base.role);
		assert_true(s.dirty_bytes == base.dirty_bytes);
		assert_true(s.uuid[3] == base.uuid[3]);
		assert_int_equal(s.md_flags, base.md_flags);
	}
	for (unsigned f = 0; f < 256; f++) {
		struct frame_state w = base, s;
		uint8_t b[FRAME_STATE_BYTES];

		w.flags = (uint8_t)f;
		frame_encode_state(b, &w);
		assert_int_equal(b[3], f);
		memset(&s, 0xa5, sizeof(s));
		assert_int_equal(frame_parse_state(b, sizeof(b), &s), 0);
		if (s.flags != f)
			fail_msg("flags %#x parsed as %#x", f, s.flags);
		assert_true(s.primary_since == base.primary_since);
	}
}

/* ---- names ---------------------------------------------------------- */

static void test_type_names(void **state)
{
	static const char *const want[] = {
		NULL, "HELLO", "AUTH", "STATE", "DATA", "TRIM", "ZERO",
		"BARRIER", "RECV_ACK", "WRITE_ACK", "BARRIER_ACK", "PING",
		"PING_ACK", "RS_DATA", "RS_ZERO", "RS_ACK", "RS_DONE",
		"RS_CSUM", "RS_NEED", "BITMAP", "BITMAP_DONE", "V_REQ",
		"V_REPLY", "RS_PRIO",
	};

	(void)state;
	assert_int_equal(ARRAY_LEN(want), FRAME_TYPE_MAX + 1);
	for (uint16_t t = 1; t <= FRAME_TYPE_MAX; t++)
		assert_string_equal(frame_type_name(t), want[t]);
	assert_string_equal(frame_type_name(0), "?");
	assert_string_equal(frame_type_name(FRAME_TYPE_MAX + 1), "?");
	assert_string_equal(frame_type_name(21), "V_REQ");
	assert_string_equal(frame_type_name(22), "V_REPLY");
	assert_string_equal(frame_type_name(23), "RS_PRIO");
	assert_string_equal(frame_type_name(24), "?");
	assert_string_equal(frame_type_name(0xffff), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_wire_numbers),
		cmocka_unit_test(test_ref_crc_check_value),
		cmocka_unit_test(test_header_wire_bytes),
		cmocka_unit_test(test_header_wire_bytes_no_payload),
		cmocka_unit_test(test_resync_frames_wire_bytes),
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_parse_bad_magic),
		cmocka_unit_test(test_parse_version),
		cmocka_unit_test(test_parse_type),
		cmocka_unit_test(test_parse_flags),
		cmocka_unit_test(test_parse_payload_sizes),
		cmocka_unit_test(test_parse_verify_request_grid),
		cmocka_unit_test(test_verify_request_roundtrip),
		cmocka_unit_test(test_crc_single_bit_flips),
		cmocka_unit_test(test_crc_payload_swap),
		cmocka_unit_test(test_hello_wire_bytes),
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_hello_name_fills_field),
		cmocka_unit_test(test_hello_parse_rejects),
		cmocka_unit_test(test_state_wire_bytes),
		cmocka_unit_test(test_state_parse_wire_bytes),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_state_parse_rejects),
		cmocka_unit_test(test_state_flags),
		cmocka_unit_test(test_type_names),
	};

	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
