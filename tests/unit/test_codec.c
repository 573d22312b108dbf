/* test_codec.c - nbd/codec.c: fixed wire records and request validation.
 *
 * Byte layouts are checked against literal wire bytes, not against the
 * codec's own encoders, so a symmetric endianness mistake still fails.
 * nbd_check_request is driven by tables whose rows name the rule they hit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "nbd/codec.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define EX_SIZE (1ULL << 20)
#define EX_BLOCK_MAX (64U * 1024)

static const struct nbd_export_info ex_rw = {
	.size_bytes = EX_SIZE,
	.read_only = false,
	.block_min = 1,
	.block_pref = 4096,
	.block_max = EX_BLOCK_MAX,
};

static const struct nbd_export_info ex_ro = {
	.size_bytes = EX_SIZE,
	.read_only = true,
	.block_min = 1,
	.block_pref = 4096,
	.block_max = EX_BLOCK_MAX,
};

/* An export whose end is the largest offset there is, so a check written
 * as offset + len > size wraps and lets a request through. */
static const struct nbd_export_info ex_huge = {
	.size_bytes = UINT64_MAX,
	.read_only = false,
	.block_min = 1,
	.block_pref = 4096,
	.block_max = EX_BLOCK_MAX,
};

static const struct nbd_session s_plain = { false, false };
static const struct nbd_session s_sr = { true, false };
static const struct nbd_session s_meta = { true, true };

static void put_request(uint8_t b[NBD_REQUEST_BYTES], uint32_t magic,
			uint16_t flags, uint16_t type, uint64_t cookie,
			uint64_t offset, uint32_t length)
{
	/* Written byte by byte so the test does not share the codec's
	 * helpers. */
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(magic >> (24 - 8 * i));
	b[4] = (uint8_t)(flags >> 8);
	b[5] = (uint8_t)flags;
	b[6] = (uint8_t)(type >> 8);
	b[7] = (uint8_t)type;
	for (int i = 0; i < 8; i++) {
		b[8 + i] = (uint8_t)(cookie >> (56 - 8 * i));
		b[16 + i] = (uint8_t)(offset >> (56 - 8 * i));
	}
	for (int i = 0; i < 4; i++)
		b[24 + i] = (uint8_t)(length >> (24 - 8 * i));
}

/* ---- greeting, option header, option reply ---------------------------- */

static void test_greeting_bytes(void **state)
{
	static const uint8_t want[NBD_GREETING_BYTES] = {
		'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x03, /* FIXED_NEWSTYLE | NO_ZEROES */
	};
	uint8_t b[NBD_GREETING_BYTES];

	(void)state;
	memset(b, 0xa5, sizeof(b));
	nbd_encode_greeting(b);
	assert_memory_equal(b, want, sizeof(want));
}

static void test_option_header_parse(void **state)
{
	uint8_t b[NBD_OPT_HDR_BYTES] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x01, 0x02, 0x03, 0x04,
		0x00, 0x00, 0x40, 0x01,
	};
	struct nbd_option o;

	(void)state;
	assert_int_equal(nbd_parse_option_header(b, &o), 0);
	assert_int_equal(o.opt, 0x01020304);
	assert_int_equal(o.len, 0x4001);

	b[12] = 0xff;
	assert_int_equal(nbd_parse_option_header(b, &o), 0);
	assert_int_equal(o.len, 0xff004001U);
}

static void test_option_header_bad_magic(void **state)
{
	uint8_t good[NBD_OPT_HDR_BYTES] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0, 0, 0, NBD_OPT_GO, 0, 0, 0, 0,
	};
	struct nbd_option o;

	(void)state;
	/* Every single-bit flip of the magic must be caught. */
	for (int byte = 0; byte < 8; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t b[NBD_OPT_HDR_BYTES];

			memcpy(b, good, sizeof(b));
			b[byte] ^= (uint8_t)(1U << bit);
			assert_int_equal(nbd_parse_option_header(b, &o),
					 -EBADMSG);
		}
	}
	/* The greeting's first magic is not an option header. */
	memcpy(good, "NBDMAGIC", 8);
	assert_int_equal(nbd_parse_option_header(good, &o), -EBADMSG);
}

static void test_opt_reply_bytes(void **state)
{
	static const uint8_t want[NBD_OPT_REPLY_BYTES] = {
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
		0x00, 0x00, 0x00, 0x07,
		0x80, 0x00, 0x00, 0x03,
		0x00, 0x01, 0x02, 0x03,
	};
	uint8_t b[NBD_OPT_REPLY_BYTES];

	(void)state;
	nbd_encode_opt_reply(b, NBD_OPT_GO, NBD_REP_ERR_INVALID, 0x010203);
	assert_memory_equal(b, want, sizeof(want));
}

/* ---- requests: parse ------------------------------------------------- */

static void test_request_parse_roundtrip(void **state)
{
	static const struct nbd_request rows[] = {
		{ 0, NBD_CMD_READ, 0, 0, 0 },
		{ NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 1, 4096, 512 },
		{ 0xffff, 0xffff, UINT64_MAX, UINT64_MAX, UINT32_MAX },
		{ 0x0102, 0x0304, 0x05060708090a0b0cULL,
		  0x0d0e0f1011121314ULL, 0x15161718 },
		{ NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS,
		  0x8000000000000001ULL, 1ULL << 63, 1U << 31 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		const struct nbd_request *w = &rows[i];
		uint8_t b[NBD_REQUEST_BYTES];
		struct nbd_request r;

		put_request(b, NBD_MAGIC_REQUEST, w->flags, w->type,
			    w->cookie, w->offset, w->length);
		memset(&r, 0xa5, sizeof(r));
		assert_int_equal(nbd_parse_request(b, &r), 0);
		assert_int_equal(r.flags, w->flags);
		assert_int_equal(r.type, w->type);
		assert_true(r.cookie == w->cookie);
		assert_true(r.offset == w->offset);
		assert_int_equal(r.length, w->length);
	}
}

static void test_request_parse_literal(void **state)
{
	static const uint8_t b[NBD_REQUEST_BYTES] = {
		0x25, 0x60, 0x95, 0x13,
		0x00, 0x01,
		0x00, 0x01,
		0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x2a,
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x10, 0x00,
		0x00, 0x00, 0x02, 0x00,
	};
	struct nbd_request r;

	(void)state;
	assert_int_equal(nbd_parse_request(b, &r), 0);
	assert_int_equal(r.flags, NBD_CMD_FLAG_FUA);
	assert_int_equal(r.type, NBD_CMD_WRITE);
	assert_true(r.cookie == 0xdeadbeef0000002aULL);
	assert_true(r.offset == 0x100001000ULL);
	assert_int_equal(r.length, 512);
	assert_int_equal(nbd_request_payload(&r), 512);
}

static void test_request_bad_magic(void **state)
{
	static const uint32_t magics[] = {
		0, 0xffffffff, NBD_MAGIC_SIMPLE_REPLY, NBD_MAGIC_STRUCT_REPLY,
		0x13956025, /* byte-swapped request magic */
	};
	uint8_t b[NBD_REQUEST_BYTES];
	struct nbd_request r;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(magics); i++) {
		put_request(b, magics[i], 0, NBD_CMD_READ, 1, 0, 512);
		assert_int_equal(nbd_parse_request(b, &r), -EBADMSG);
	}
	for (int bit = 0; bit < 32; bit++) {
		put_request(b, NBD_MAGIC_REQUEST ^ (1U << bit), 0,
			    NBD_CMD_READ, 1, 0, 512);
		assert_int_equal(nbd_parse_request(b, &r), -EBADMSG);
	}
}

static void test_request_payload(void **state)
{
	(void)state;
	for (uint16_t t = 0; t <= NBD_CMD_RESIZE + 1; t++) {
		struct nbd_request r = { 0, t, 0, 0, 4096 };

		assert_int_equal(nbd_request_payload(&r),
				 t == NBD_CMD_WRITE ? 4096 : 0);
	}
}

/* ---- replies ---------------------------------------------------------- */

static void test_simple_reply_bytes(void **state)
{
	static const uint8_t want[NBD_SIMPLE_REPLY_BYTES] = {
		0x67, 0x44, 0x66, 0x98,
		0x00, 0x00, 0x00, 0x1c,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	};
	uint8_t b[NBD_SIMPLE_REPLY_BYTES];

	(void)state;
	nbd_encode_simple_reply(b, NBD_ENOSPC, 0x0102030405060708ULL);
	assert_memory_equal(b, want, sizeof(want));
}

static void test_struct_reply_bytes(void **state)
{
	static const uint8_t want[NBD_STRUCT_REPLY_BYTES] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x01,
		0x80, 0x01,
		0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
		0x00, 0x00, 0x00, 0x06,
	};
	uint8_t b[NBD_STRUCT_REPLY_BYTES];

	(void)state;
	nbd_encode_struct_reply(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
				0xffeeddccbbaa9988ULL, 6);
	assert_memory_equal(b, want, sizeof(want));
}

/* ---- transmission flags ----------------------------------------------- */

static void test_transmission_flags(void **state)
{
	static const uint16_t always = NBD_FLAG_HAS_FLAGS |
		NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA;
	static const uint16_t writes = NBD_FLAG_SEND_TRIM |
		NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
	static const struct {
		const char *name;
		const struct nbd_export_info *ex;
		const struct nbd_session *s;
		uint16_t set, clear;
	} rows[] = {
		{ "rw plain", &ex_rw, &s_plain, always | writes,
		  NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_DF },
		{ "rw structured", &ex_rw, &s_sr,
		  always | writes | NBD_FLAG_SEND_DF, NBD_FLAG_READ_ONLY },
		{ "ro plain", &ex_ro, &s_plain, always | NBD_FLAG_READ_ONLY,
		  writes | NBD_FLAG_SEND_DF },
		{ "ro structured+meta", &ex_ro, &s_meta,
		  always | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_DF, writes },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		uint16_t f = nbd_transmission_flags(rows[i].ex, rows[i].s);

		if ((f & rows[i].set) != rows[i].set ||
		    (f & rows[i].clear) != 0)
			fail_msg("%s: flags 0x%04x", rows[i].name, f);
		/* Bits beyond the last defined flag must stay clear. */
		if (f & ~((NBD_FLAG_SEND_FAST_ZERO << 1) - 1))
			fail_msg("%s: undefined flag bits 0x%04x",
				 rows[i].name, f);
	}
}

/* ---- nbd_check_request ------------------------------------------------ */

struct check_row {
	const char *name;
	const struct nbd_export_info *ex;
	const struct nbd_session *s;
	uint16_t flags;
	uint16_t type;
	uint64_t offset;
	uint32_t length;
	int want;
};

static void run_check_rows(const struct check_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct check_row *c = &rows[i];
		struct nbd_request r = {
			.flags = c->flags,
			.type = c->type,
			.cookie = 0x1234,
			.offset = c->offset,
			.length = c->length,
		};
		int got = nbd_check_request(&r, c->ex, c->s);

		if (got != c->want)
			fail_msg("%s: got %d, want %d", c->name, got,
				 c->want);
	}
}

static void test_check_commands(void **state)
{
	static const struct check_row rows[] = {
		{ "read", &ex_rw, &s_plain, 0, NBD_CMD_READ, 0, 4096, 0 },
		{ "write", &ex_rw, &s_plain, 0, NBD_CMD_WRITE, 0, 4096, 0 },
		{ "trim", &ex_rw, &s_plain, 0, NBD_CMD_TRIM, 0, 4096, 0 },
		{ "write_zeroes", &ex_rw, &s_plain, 0, NBD_CMD_WRITE_ZEROES,
		  0, 4096, 0 },
		{ "cache", &ex_rw, &s_plain, 0, NBD_CMD_CACHE, 0, 4096, 0 },
		{ "flush", &ex_rw, &s_plain, 0, NBD_CMD_FLUSH, 0, 0, 0 },
		{ "disc", &ex_rw, &s_plain, 0, NBD_CMD_DISC, 0, 0, 0 },
		{ "block_status with meta", &ex_rw, &s_meta, 0,
		  NBD_CMD_BLOCK_STATUS, 0, 4096, 0 },
		{ "block_status no meta", &ex_rw, &s_sr, 0,
		  NBD_CMD_BLOCK_STATUS, 0, 4096, NBD_EINVAL },
		{ "block_status no structured", &ex_rw, &s_plain, 0,
		  NBD_CMD_BLOCK_STATUS, 0, 4096, NBD_EINVAL },
		{ "resize never advertised", &ex_rw, &s_meta, 0,
		  NBD_CMD_RESIZE, 0, 4096, NBD_EINVAL },
		{ "type 9", &ex_rw, &s_meta, 0, 9, 0, 4096, NBD_EINVAL },
		{ "type 0xffff", &ex_rw, &s_meta, 0, 0xffff, 0, 4096,
		  NBD_EINVAL },
		/* Trim, zero, cache and block status carry no payload, so
		 * block_max does not bound them. */
		{ "trim whole export", &ex_rw, &s_plain, 0, NBD_CMD_TRIM, 0,
		  (uint32_t)EX_SIZE, 0 },
		{ "zeroes whole export", &ex_rw, &s_plain, 0,
		  NBD_CMD_WRITE_ZEROES, 0, (uint32_t)EX_SIZE, 0 },
		{ "cache whole export", &ex_rw, &s_plain, 0, NBD_CMD_CACHE,
		  0, (uint32_t)EX_SIZE, 0 },
		{ "block_status whole export", &ex_rw, &s_meta, 0,
		  NBD_CMD_BLOCK_STATUS, 0, (uint32_t)EX_SIZE, 0 },
	};

	(void)state;
	run_check_rows(rows, ARRAY_LEN(rows));
}

static void test_check_zero_length(void **state)
{
	static const struct check_row rows[] = {
		{ "read 0", &ex_rw, &s_plain, 0, NBD_CMD_READ, 0, 0,
		  NBD_EINVAL },
		{ "write 0", &ex_rw, &s_plain, 0, NBD_CMD_WRITE, 0, 0,
		  NBD_EINVAL },
		{ "trim 0", &ex_rw, &s_plain, 0, NBD_CMD_TRIM, 0, 0,
		  NBD_EINVAL },
		{ "zeroes 0", &ex_rw, &s_plain, 0, NBD_CMD_WRITE_ZEROES, 0, 0,
		  NBD_EINVAL },
		{ "cache 0", &ex_rw, &s_plain, 0, NBD_CMD_CACHE, 0, 0,
		  NBD_EINVAL },
		{ "block_status 0", &ex_rw, &s_meta, 0, NBD_CMD_BLOCK_STATUS,
		  0, 0, NBD_EINVAL },
		/* Flush and disconnect take no range at all. */
		{ "flush 0", &ex_rw, &s_plain, 0, NBD_CMD_FLUSH, 0, 0, 0 },
		{ "disc 0", &ex_rw, &s_plain, 0, NBD_CMD_DISC, 0, 0, 0 },
	};

	(void)state;
	run_check_rows(rows, ARRAY_LEN(rows));
}

/* FLUSH's offset and length are reserved and must be zero: a client
 * that fills them in is refused with EINVAL (as nbdkit does). DISC has no
 * reply at all, so nothing about it is ever refused: the connection ends
 * whatever it carries. */
static void test_check_reserved_fields(void **state)
{
	static const struct check_row rows[] = {
		{ "flush offset", &ex_rw, &s_plain, 0, NBD_CMD_FLUSH, 4096, 0,
		  NBD_EINVAL },
		{ "flush length", &ex_rw, &s_plain, 0, NBD_CMD_FLUSH, 0, 4096,
		  NBD_EINVAL },
		{ "flush offset and length", &ex_rw, &s_plain, 0,
		  NBD_CMD_FLUSH, 4096, 4096, NBD_EINVAL },
		{ "flush FUA length", &ex_rw, &s_plain, NBD_CMD_FLAG_FUA,
		  NBD_CMD_FLUSH, 0, 1, NBD_EINVAL },
		{ "flush past end", &ex_rw, &s_plain, 0, NBD_CMD_FLUSH,
		  EX_SIZE, 1, NBD_EINVAL },
		{ "flush offset max", &ex_rw, &s_plain, 0, NBD_CMD_FLUSH,
		  UINT64_MAX, 0, NBD_EINVAL },
		{ "ro flush length", &ex_ro, &s_plain, 0, NBD_CMD_FLUSH, 0,
		  512, NBD_EINVAL },
		{ "disc offset", &ex_rw, &s_plain, 0, NBD_CMD_DISC, 4096, 0, 0 },
		{ "disc length", &ex_rw, &s_plain, 0, NBD_CMD_DISC, 0,
		  UINT32_MAX, 0 },
		{ "disc unknown flag", &ex_rw, &s_plain, 0x8000, NBD_CMD_DISC,
		  0, 0, 0 },
		{ "disc all flags", &ex_ro, &s_meta, 0xffff, NBD_CMD_DISC, 0,
		  0, 0 },
	};

	(void)state;
	run_check_rows(rows, ARRAY_LEN(rows));
}

/* Which command flags each command accepts, written out from the NBD
 * spec independently of codec.c: FUA anywhere, DF on READ (needs
 * structured replies), NO_HOLE and FAST_ZERO on WRITE_ZEROES, REQ_ONE on
 * BLOCK_STATUS. */
static uint16_t spec_allowed(uint16_t type)
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

/* Every defined command with every single flag bit, on a read-write
 * export with structured replies and base:allocation, so only the flag
 * rule decides. */
static void test_check_each_flag(void **state)
{
	static const uint16_t types[] = {
		NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_DISC, NBD_CMD_FLUSH,
		NBD_CMD_TRIM, NBD_CMD_CACHE, NBD_CMD_WRITE_ZEROES,
		NBD_CMD_BLOCK_STATUS,
	};

	(void)state;
	for (size_t t = 0; t < ARRAY_LEN(types); t++) {
		uint16_t type = types[t];
		bool ranged = type != NBD_CMD_FLUSH && type != NBD_CMD_DISC;

		for (int bit = 0; bit < 16; bit++) {
			uint16_t flag = (uint16_t)(1U << bit);
			struct nbd_request r = {
				.flags = flag,
				.type = type,
				.offset = 0,
				.length = ranged ? 4096 : 0,
			};
			/* DISC is never answered, so never refused. */
			int want = spec_allowed(type) & flag ||
				   type == NBD_CMD_DISC ? 0 : NBD_EINVAL;
			int got = nbd_check_request(&r, &ex_rw, &s_meta);

			if (got != want)
				fail_msg("type %u flag 0x%04x: got %d want %d",
					 type, flag, got, want);
		}
	}
}

static void test_check_flag_rules(void **state)
{
	static const struct check_row rows[] = {
		{ "read DF structured", &ex_rw, &s_sr, NBD_CMD_FLAG_DF,
		  NBD_CMD_READ, 0, 4096, 0 },
		{ "read DF plain", &ex_rw, &s_plain, NBD_CMD_FLAG_DF,
		  NBD_CMD_READ, 0, 4096, NBD_EINVAL },
		{ "read DF|FUA structured", &ex_rw, &s_sr,
		  NBD_CMD_FLAG_DF | NBD_CMD_FLAG_FUA, NBD_CMD_READ, 0, 4096,
		  0 },
		{ "write DF structured", &ex_rw, &s_sr, NBD_CMD_FLAG_DF,
		  NBD_CMD_WRITE, 0, 4096, NBD_EINVAL },
		{ "write FUA", &ex_rw, &s_plain, NBD_CMD_FLAG_FUA,
		  NBD_CMD_WRITE, 0, 4096, 0 },
		{ "write NO_HOLE", &ex_rw, &s_plain, NBD_CMD_FLAG_NO_HOLE,
		  NBD_CMD_WRITE, 0, 4096, NBD_EINVAL },
		{ "zeroes FAST_ZERO rw", &ex_rw, &s_plain,
		  NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_WRITE_ZEROES, 0, 4096, 0 },
		{ "zeroes all flags rw", &ex_rw, &s_plain,
		  NBD_CMD_FLAG_FAST_ZERO | NBD_CMD_FLAG_NO_HOLE |
		  NBD_CMD_FLAG_FUA, NBD_CMD_WRITE_ZEROES, 0, 4096, 0 },
		/* FAST_ZERO is not advertised on a read-only export. */
		{ "zeroes FAST_ZERO ro", &ex_ro, &s_plain,
		  NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_WRITE_ZEROES, 0, 4096,
		  NBD_EINVAL },
		{ "trim FAST_ZERO", &ex_rw, &s_plain, NBD_CMD_FLAG_FAST_ZERO,
		  NBD_CMD_TRIM, 0, 4096, NBD_EINVAL },
		{ "write FAST_ZERO", &ex_rw, &s_plain, NBD_CMD_FLAG_FAST_ZERO,
		  NBD_CMD_WRITE, 0, 4096, NBD_EINVAL },
		{ "read REQ_ONE", &ex_rw, &s_meta, NBD_CMD_FLAG_REQ_ONE,
		  NBD_CMD_READ, 0, 4096, NBD_EINVAL },
		{ "block_status REQ_ONE", &ex_rw, &s_meta,
		  NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 0, 4096, 0 },
		{ "flush FUA", &ex_rw, &s_plain, NBD_CMD_FLAG_FUA,
		  NBD_CMD_FLUSH, 0, 0, 0 },
		{ "flush DF", &ex_rw, &s_sr, NBD_CMD_FLAG_DF, NBD_CMD_FLUSH,
		  0, 0, NBD_EINVAL },
		{ "disc NO_HOLE", &ex_rw, &s_plain, NBD_CMD_FLAG_NO_HOLE,
		  NBD_CMD_DISC, 0, 0, 0 },
		{ "read unknown flag 0x8000", &ex_rw, &s_meta, 0x8000,
		  NBD_CMD_READ, 0, 4096, NBD_EINVAL },
		{ "read all flags", &ex_rw, &s_meta, 0xffff, NBD_CMD_READ, 0,
		  4096, NBD_EINVAL },
	};

	(void)state;
	run_check_rows(rows, ARRAY_LEN(rows));
}

static void test_check_read_only(void **state)
{
	static const struct check_row rows[] = {
		{ "ro write", &ex_ro, &s_plain, 0, NBD_CMD_WRITE, 0, 4096,
		  NBD_EPERM },
		{ "ro trim", &ex_ro, &s_plain, 0, NBD_CMD_TRIM, 0, 4096,
		  NBD_EPERM },
		{ "ro zeroes", &ex_ro, &s_plain, 0, NBD_CMD_WRITE_ZEROES, 0,
		  4096, NBD_EPERM },
		{ "ro write FUA", &ex_ro, &s_plain, NBD_CMD_FLAG_FUA,
		  NBD_CMD_WRITE, 0, 4096, NBD_EPERM },
		/* Read-only outranks out-of-range: nothing may be written. */
		{ "ro write past end", &ex_ro, &s_plain, 0, NBD_CMD_WRITE,
		  EX_SIZE, 4096, NBD_EPERM },
		{ "ro read", &ex_ro, &s_plain, 0, NBD_CMD_READ, 0, 4096, 0 },
		{ "ro cache", &ex_ro, &s_plain, 0, NBD_CMD_CACHE, 0, 4096, 0 },
		{ "ro flush", &ex_ro, &s_plain, 0, NBD_CMD_FLUSH, 0, 0, 0 },
		{ "ro block_status", &ex_ro, &s_meta, 0, NBD_CMD_BLOCK_STATUS,
		  0, 4096, 0 },
		/* The payload is too big to skip whatever the export is. */
		{ "ro oversized write", &ex_ro, &s_plain, 0, NBD_CMD_WRITE, 0,
		  EX_BLOCK_MAX + 1, -EPROTO },
	};

	(void)state;
	run_check_rows(rows, ARRAY_LEN(rows));
}

static void test_check_range(void **state)
{
	static const struct check_row rows[] = {
		{ "read last byte", &ex_rw, &s_plain, 0, NBD_CMD_READ,
		  EX_SIZE - 1, 1, 0 },
		{ "read to end", &ex_rw, &s_plain, 0, NBD_CMD_READ,
		  EX_SIZE - 4096, 4096, 0 },
		{ "read one past end", &ex_rw, &s_plain, 0, NBD_CMD_READ,
		  EX_SIZE - 4096, 4097, NBD_EINVAL },
		{ "read at end", &ex_rw, &s_plain, 0, NBD_CMD_READ, EX_SIZE,
		  1, NBD_EINVAL },
		{ "write last byte", &ex_rw, &s_plain, 0, NBD_CMD_WRITE,
		  EX_SIZE - 1, 1, 0 },
		{ "write one past end", &ex_rw, &s_plain, 0, NBD_CMD_WRITE,
		  EX_SIZE - 4096, 4097, NBD_ENOSPC },
		{ "write at end", &ex_rw, &s_plain, 0, NBD_CMD_WRITE, EX_SIZE,
		  1, NBD_ENOSPC },
		/* ENOSPC is for data stored past the end; TRIM stores none. */
		{ "trim past end", &ex_rw, &s_plain, 0, NBD_CMD_TRIM,
		  EX_SIZE, 1, NBD_EINVAL },
		{ "trim straddling end", &ex_rw, &s_plain, 0, NBD_CMD_TRIM,
		  EX_SIZE - 4096, 8192, NBD_EINVAL },
		{ "trim FUA past end", &ex_rw, &s_plain, NBD_CMD_FLAG_FUA,
		  NBD_CMD_TRIM, EX_SIZE, 4096, NBD_EINVAL },
		{ "zeroes at end", &ex_rw, &s_plain, 0, NBD_CMD_WRITE_ZEROES,
		  EX_SIZE, 4096, NBD_ENOSPC },
		{ "zeroes past end", &ex_rw, &s_plain, 0,
		  NBD_CMD_WRITE_ZEROES, 1, (uint32_t)EX_SIZE, NBD_ENOSPC },
		{ "cache past end", &ex_rw, &s_plain, 0, NBD_CMD_CACHE,
		  EX_SIZE, 1, NBD_EINVAL },
		{ "block_status past end", &ex_rw, &s_meta, 0,
		  NBD_CMD_BLOCK_STATUS, EX_SIZE, 1, NBD_EINVAL },
		/* offset + length wraps to a small number. */
		{ "read offset max", &ex_rw, &s_plain, 0, NBD_CMD_READ,
		  UINT64_MAX, 1, NBD_EINVAL },
		{ "read wraps", &ex_rw, &s_plain, 0, NBD_CMD_READ,
		  UINT64_MAX - 10, 4096, NBD_EINVAL },
		{ "write wraps", &ex_rw, &s_plain, 0, NBD_CMD_WRITE,
		  UINT64_MAX - 10, 4096, NBD_ENOSPC },
		{ "trim wraps", &ex_rw, &s_plain, 0, NBD_CMD_TRIM,
		  UINT64_MAX - 4095, UINT32_MAX, NBD_EINVAL },
		{ "zeroes wraps", &ex_rw, &s_plain, 0, NBD_CMD_WRITE_ZEROES,
		  UINT64_MAX - 4095, UINT32_MAX, NBD_ENOSPC },
		{ "cache wraps", &ex_rw, &s_plain, 0, NBD_CMD_CACHE,
		  UINT64_MAX - 4095, UINT32_MAX, NBD_EINVAL },
		{ "block_status wraps", &ex_rw, &s_meta, 0,
		  NBD_CMD_BLOCK_STATUS, UINT64_MAX - 4095, UINT32_MAX,
		  NBD_EINVAL },
		/* The export ends at UINT64_MAX itself. */
		{ "huge read ends at max", &ex_huge, &s_plain, 0, NBD_CMD_READ,
		  UINT64_MAX - 4096, 4096, 0 },
		{ "huge read crosses max", &ex_huge, &s_plain, 0,
		  NBD_CMD_READ, UINT64_MAX - 4095, 4096, NBD_EINVAL },
		{ "huge write crosses max", &ex_huge, &s_plain, 0,
		  NBD_CMD_WRITE, UINT64_MAX - 1, 2, NBD_ENOSPC },
		{ "huge write at max", &ex_huge, &s_plain, 0, NBD_CMD_WRITE,
		  UINT64_MAX, 1, NBD_ENOSPC },
		{ "huge trim to max", &ex_huge, &s_plain, 0, NBD_CMD_TRIM,
		  UINT64_MAX - UINT32_MAX, UINT32_MAX, 0 },
		{ "huge trim past max", &ex_huge, &s_plain, 0, NBD_CMD_TRIM,
		  UINT64_MAX - UINT32_MAX + 1, UINT32_MAX, NBD_EINVAL },
	};

	(void)state;
	run_check_rows(rows, ARRAY_LEN(rows));
}

static void test_check_block_max(void **state)
{
	static const struct check_row rows[] = {
		{ "write block_max", &ex_rw, &s_plain, 0, NBD_CMD_WRITE, 0,
		  EX_BLOCK_MAX, 0 },
		{ "write block_max+1", &ex_rw, &s_plain, 0, NBD_CMD_WRITE, 0,
		  EX_BLOCK_MAX + 1, -EPROTO },
		{ "write 4G-1", &ex_rw, &s_plain, 0, NBD_CMD_WRITE, 0,
		  UINT32_MAX, -EPROTO },
		/* Dropping outranks every other verdict: the payload cannot
		 * be skipped, whatever else is wrong with the header. */
		{ "oversized write bad flag", &ex_rw, &s_plain, 0x8000,
		  NBD_CMD_WRITE, 0, EX_BLOCK_MAX + 1, -EPROTO },
		{ "oversized write past end", &ex_rw, &s_plain, 0,
		  NBD_CMD_WRITE, EX_SIZE, EX_BLOCK_MAX + 1, -EPROTO },
		{ "read block_max", &ex_rw, &s_plain, 0, NBD_CMD_READ, 0,
		  EX_BLOCK_MAX, 0 },
		{ "read block_max+1", &ex_rw, &s_plain, 0, NBD_CMD_READ, 0,
		  EX_BLOCK_MAX + 1, NBD_EINVAL },
		{ "read 4G-1", &ex_rw, &s_plain, 0, NBD_CMD_READ, 0,
		  UINT32_MAX, NBD_EINVAL },
		{ "trim block_max+1", &ex_rw, &s_plain, 0, NBD_CMD_TRIM, 0,
		  EX_BLOCK_MAX + 1, 0 },
	};

	(void)state;
	run_check_rows(rows, ARRAY_LEN(rows));
}

/* Only an oversized WRITE ever asks for the connection to be dropped. */
static void test_check_eproto_only_for_write(void **state)
{
	(void)state;
	for (uint16_t t = 0; t <= NBD_CMD_RESIZE + 1; t++) {
		struct nbd_request r = {
			.type = t,
			.offset = 0,
			.length = UINT32_MAX,
		};
		int got = nbd_check_request(&r, &ex_rw, &s_meta);

		if ((got == -EPROTO) != (t == NBD_CMD_WRITE))
			fail_msg("type %u: got %d", t, got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_bytes),
		cmocka_unit_test(test_option_header_parse),
		cmocka_unit_test(test_option_header_bad_magic),
		cmocka_unit_test(test_opt_reply_bytes),
		cmocka_unit_test(test_request_parse_roundtrip),
		cmocka_unit_test(test_request_parse_literal),
		cmocka_unit_test(test_request_bad_magic),
		cmocka_unit_test(test_request_payload),
		cmocka_unit_test(test_simple_reply_bytes),
		cmocka_unit_test(test_struct_reply_bytes),
		cmocka_unit_test(test_transmission_flags),
		cmocka_unit_test(test_check_commands),
		cmocka_unit_test(test_check_zero_length),
		cmocka_unit_test(test_check_reserved_fields),
		cmocka_unit_test(test_check_each_flag),
		cmocka_unit_test(test_check_flag_rules),
		cmocka_unit_test(test_check_read_only),
		cmocka_unit_test(test_check_range),
		cmocka_unit_test(test_check_block_max),
		cmocka_unit_test(test_check_eproto_only_for_write),
	};

	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
