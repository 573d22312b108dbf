/* test_frame.c - transport/frame.c: the peer wire format's header, parse
 * rules and CRC (payload rules are in test_frame_payload.c).
 *
 * Headers are built byte by byte here (put_hdr) and one header is checked
 * against literal wire bytes, with its CRC from a bitwise CRC32C written
 * in frame_fixture.h, so a mistake shared by the encoder and the parser
 * (byte order, field offset, CRC coverage) still fails. The parse rules
 * are tables whose rows name the rule they hit.
 */

#include "frame_fixture.h"

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
	assert_int_equal(FRAME_VERSION, 3);
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
		{ "READ_REQ", FRAME_READ_REQ, 24 },
		{ "READ_REPLY", FRAME_READ_REPLY, 25 },
		{ "ROLE_REQ", FRAME_ROLE_REQ, 26 },
		{ "ROLE_REPLY", FRAME_ROLE_REPLY, 27 },
		{ "FLUSHED", FRAME_FLUSHED, 28 },
		{ "TYPE_MAX", FRAME_TYPE_MAX, 28 },
		{ "F_FUA", FRAME_F_FUA, 0x01 },
		{ "F_WANT_RECV_ACK", FRAME_F_WANT_RECV_ACK, 0x02 },
		{ "F_NO_HOLE", FRAME_F_NO_HOLE, 0x04 },
		{ "F_FLUSH", FRAME_F_FLUSH, 0x08 },
		{ "F_SAME", FRAME_F_SAME, 0x10 },
		{ "F_FAILED", FRAME_F_FAILED, 0x20 },
		{ "F_ALL", FRAME_F_ALL, 0x3f },
		{ "F_ALL is every flag", FRAME_F_ALL,
		  FRAME_F_FUA | FRAME_F_WANT_RECV_ACK | FRAME_F_NO_HOLE |
			  FRAME_F_FLUSH | FRAME_F_SAME | FRAME_F_FAILED },
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
		0x00, 0x03,				/* version */
		0x00, 0x04,				/* DATA */
		0x00, 0x00, 0x00, 0x03,			/* FUA | RECV_ACK */
		0x00, 0x00, 0x00, 0x08,			/* payload_len */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* id */
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* offset */
		0x00, 0x00, 0x00, 0x08,			/* length */
		0x21, 0x2b, 0x68, 0x53,			/* crc */
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
	assert_int_equal(crc, 0x212b6853U);
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
	assert_int_equal(ref_crc32c(0, want, sizeof(want)), 0x3ba4abc4U);
	put_be(want + 36, 0x3ba4abc4U, 4);
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
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x11,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,
		    0, 0, 0, 0, 0, 0, 0, 0x21,
		    0, 0, 0, 0, 0, 0x10, 0x00, 0x00,
		    0x00, 0x01, 0x00, 0x00, 0xfa, 0x70, 0x9d, 0x28 } },
		{ "RS_NEED",
		  { .type = FRAME_RS_NEED, .id = 0x21, .offset = 0x100000,
		    .length = 0x10000 },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x12,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x21,
		    0, 0, 0, 0, 0, 0x10, 0x00, 0x00,
		    0x00, 0x01, 0x00, 0x00, 0xbd, 0xf8, 0xc1, 0x31 } },
		{ "RS_ACK F_SAME",
		  { .type = FRAME_RS_ACK, .flags = FRAME_F_SAME, .id = 0x21,
		    .offset = 0x100000, .length = 0x10000 },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x0f,
		    0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x21,
		    0, 0, 0, 0, 0, 0x10, 0x00, 0x00,
		    0x00, 0x01, 0x00, 0x00, 0xaa, 0x4d, 0xde, 0x03 } },
		{ "BITMAP",
		  { .type = FRAME_BITMAP, .payload_len = 5, .id = 259,
		    .offset = 0x40 },
		  rle,
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x13,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
		    0, 0, 0, 0, 0, 0, 0x01, 0x03,
		    0, 0, 0, 0, 0, 0, 0, 0x40,
		    0x00, 0x00, 0x00, 0x00, 0x1a, 0x21, 0x18, 0x9d } },
		{ "BITMAP_DONE",
		  { .type = FRAME_BITMAP_DONE },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x14,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0, 0, 0, 0, 0,
		    0x00, 0x00, 0x00, 0x00, 0xd3, 0x39, 0xa7, 0xa7 } },
		/* 8 KiB at 2 MiB: payload_len 8, length 0x2000. */
		{ "V_REQ 2 blocks",
		  { .type = FRAME_V_REQ, .payload_len = 8, .id = 0x22,
		    .offset = 0x200000, .length = 0x2000 },
		  vcrc2,
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x15,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
		    0, 0, 0, 0, 0, 0, 0, 0x22,
		    0, 0, 0, 0, 0, 0x20, 0x00, 0x00,
		    0x00, 0x00, 0x20, 0x00, 0x4f, 0xa8, 0xe2, 0xc4 } },
		/* 256 KiB (64 blocks): payload_len 0x100, length 0x40000. */
		{ "V_REQ 64 blocks",
		  { .type = FRAME_V_REQ, .payload_len = 256, .id = 0x23,
		    .offset = 0x7ffc0000, .length = 0x40000 },
		  vcrc64,
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x15,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x23,
		    0, 0, 0, 0, 0x7f, 0xfc, 0x00, 0x00,
		    0x00, 0x04, 0x00, 0x00, 0x81, 0xd2, 0x6b, 0x26 } },
		/* The reply echoes the id; blocks 0, 2 and 63 differ. */
		{ "V_REPLY mask",
		  { .type = FRAME_V_REPLY, .id = 0x22,
		    .offset = 0x8000000000000005ULL },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x16,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x22,
		    0x80, 0, 0, 0, 0, 0, 0, 0x05,
		    0x00, 0x00, 0x00, 0x00, 0x9e, 0x8e, 0xbf, 0xbf } },
		{ "V_REPLY every block differs",
		  { .type = FRAME_V_REPLY, .id = 0x23, .offset = UINT64_MAX },
		  NULL,
		  { 'B', 'L', 'K', 'D', 0x00, 0x03, 0x00, 0x16,
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0, 0, 0, 0, 0, 0, 0, 0x23,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0x00, 0x00, 0x00, 0x00, 0x33, 0xba, 0x1d, 0xd4 } },
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
		assert_int_equal(h.version, 3);
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
			assert_int_equal(get_be(b + 4, 2), 3);
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
	 * resync, no bitmap exchange) is refused, not misread; 2: one without
	 * the Failed disk state and reads through the peer. */
	static const uint16_t bad[] = {
		0, 1, 2, 4, 0x0300, 0x0103, 0x8003, 0xffff,
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
	/* Version 3 with the same header is accepted. */
	{
		const struct raw_hdr r = {
			FRAME_MAGIC, 3, FRAME_PING, 0, 0, 0, 0, 0,
		};

		put_hdr(b, &r);
		assert_int_equal(frame_parse(b, &h), 0);
		assert_int_equal(h.version, 3);
	}
}

static void test_parse_type(void **state)
{
	static const uint16_t bad[] = {
		0, FRAME_TYPE_MAX + 1, FRAME_TYPE_MAX + 2, 29, 0x0100, 0x8004,
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
	/* Bit 5 (F_FAILED) is a known flag; bit 6 is the first unknown one. */
	assert_int_equal(parse_typed(FRAME_RS_ACK, 0, 4096, FRAME_F_SAME), 0);
	assert_int_equal(parse_typed(FRAME_RS_ACK, 0, 4096, FRAME_F_FAILED), 0);
	assert_int_equal(parse_typed(FRAME_RS_ACK, 0, 4096, 1U << 6), -EPROTO);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, FRAME_F_ALL), 0);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0x3fU), 0);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0x7fU), -EPROTO);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0xffffffc0U), -EPROTO);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0xfffffff0U), -EPROTO);
	assert_int_equal(parse_typed(FRAME_DATA, 1, 1, 0xffffffffU), -EPROTO);
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

/* ---- names ---------------------------------------------------------- */

static void test_type_names(void **state)
{
	static const char *const want[] = {
		NULL, "HELLO", "AUTH", "STATE", "DATA", "TRIM", "ZERO",
		"BARRIER", "RECV_ACK", "WRITE_ACK", "BARRIER_ACK", "PING",
		"PING_ACK", "RS_DATA", "RS_ZERO", "RS_ACK", "RS_DONE",
		"RS_CSUM", "RS_NEED", "BITMAP", "BITMAP_DONE", "V_REQ",
		"V_REPLY", "RS_PRIO", "READ_REQ", "READ_REPLY", "ROLE_REQ",
		"ROLE_REPLY", "FLUSHED",
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
	assert_string_equal(frame_type_name(24), "READ_REQ");
	assert_string_equal(frame_type_name(25), "READ_REPLY");
	assert_string_equal(frame_type_name(26), "ROLE_REQ");
	assert_string_equal(frame_type_name(27), "ROLE_REPLY");
	assert_string_equal(frame_type_name(28), "FLUSHED");
	assert_string_equal(frame_type_name(29), "?");
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
		cmocka_unit_test(test_crc_single_bit_flips),
		cmocka_unit_test(test_crc_payload_swap),
		cmocka_unit_test(test_type_names),
	};

	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
