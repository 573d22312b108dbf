/* handshake_fixture.h - option payloads built byte by byte and the reply
 * stream parsed back, shared by test_handshake.c and
 * test_handshake_meta.c. Every reply must carry the option reply magic and
 * the option it answers, and the replies must add up to exactly out.len.
 */
#ifndef BLOCKD_TEST_HANDSHAKE_FIXTURE_H
#define BLOCKD_TEST_HANDSHAKE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nbd/handshake.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define EXPORT_NAME "r0"
#define EXPORT_DESC "replicated volume r0"
#define EX_SIZE 0x0000000123456000ULL

static const struct nbd_export_info ex_rw = {
	.size_bytes = EX_SIZE,
	.read_only = false,
	.block_min = 1,
	.block_pref = 4096,
	.block_max = 32U << 20,
};

/* Large enough for every payload the tests build. */
struct payload {
	uint8_t b[NBD_OPT_LEN_MAX];
	uint32_t len;
};

struct rep {
	uint32_t opt;
	uint32_t type;
	uint32_t len;
	const uint8_t *data;
};

#define REPS_MAX 1024

/* Shared by the tests of this file, which run one after the other;
 * setup() starts each from a fresh handshake. */
static struct nbd_hs hs;
static struct nbd_out out;
static struct payload pl;
static struct rep reps[REPS_MAX];

static inline uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint64_t be64(const uint8_t *p)
{
	return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

static inline void pl_reset(void)
{
	pl.len = 0;
}

static inline void pl_bytes(const void *p, size_t n)
{
	assert_true(n <= sizeof(pl.b) - pl.len);
	memcpy(pl.b + pl.len, p, n);
	pl.len += (uint32_t)n;
}

static inline void pl_u16(uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	pl_bytes(b, 2);
}

static inline void pl_u32(uint32_t v)
{
	uint8_t b[4] = {
		(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
		(uint8_t)v,
	};

	pl_bytes(b, 4);
}

/* A string as the spec sends it: 32-bit length, then the bytes. */
static inline void pl_str(const char *s)
{
	pl_u32((uint32_t)strlen(s));
	pl_bytes(s, strlen(s));
}

/* GO/INFO: name, then n info requests. */
static inline void pl_go(const char *name, const uint16_t *infos, uint16_t n)
{
	pl_reset();
	pl_str(name);
	pl_u16(n);
	for (uint16_t i = 0; i < n; i++)
		pl_u16(infos[i]);
}

/* LIST/SET_META_CONTEXT: name, then n queries. */
static inline void pl_meta(const char *name, const char *const *queries,
		    uint32_t n)
{
	pl_reset();
	pl_str(name);
	pl_u32(n);
	for (uint32_t i = 0; i < n; i++)
		pl_str(queries[i]);
}

/* Split out into replies, failing on a bad magic, a reply to another
 * option, or lengths that do not add up to out.len exactly. */
static inline size_t parse_reps(uint32_t opt)
{
	size_t pos = 0, n = 0;

	while (pos < out.len) {
		const uint8_t *p = out.buf + pos;

		if (out.len - pos < NBD_OPT_REPLY_BYTES)
			fail_msg("reply %zu: %zu stray bytes", n,
				 out.len - pos);
		if (be64(p) != NBD_MAGIC_OPT_REPLY)
			fail_msg("reply %zu: bad magic", n);
		if (n == REPS_MAX)
			fail_msg("more than %d replies", REPS_MAX);
		reps[n].opt = be32(p + 8);
		reps[n].type = be32(p + 12);
		reps[n].len = be32(p + 16);
		reps[n].data = p + NBD_OPT_REPLY_BYTES;
		if (reps[n].opt != opt)
			fail_msg("reply %zu answers option %u, not %u", n,
				 reps[n].opt, opt);
		if (reps[n].len > out.len - pos - NBD_OPT_REPLY_BYTES)
			fail_msg("reply %zu: length %u past the buffer", n,
				 reps[n].len);
		pos += NBD_OPT_REPLY_BYTES + reps[n].len;
		n++;
	}
	return n;
}

static inline enum nbd_hs_result opt(uint32_t o, const void *data, uint32_t len)
{
	/* Poison, so a stale reply cannot pass for a fresh one. */
	memset(out.buf, 0xa5, sizeof(out.buf));
	out.len = 12345;
	return nbd_hs_option(&hs, o, data, len, &out);
}

static inline enum nbd_hs_result opt_pl(uint32_t o)
{
	return opt(o, pl.b, pl.len);
}

/* The option produced exactly one reply, of this type. */
static inline void expect_single(uint32_t o, uint32_t type)
{
	size_t n = parse_reps(o);

	if (n != 1)
		fail_msg("option %u: %zu replies, want 1", o, n);
	if (reps[0].type != type)
		fail_msg("option %u: reply type 0x%08x, want 0x%08x", o,
			 reps[0].type, type);
}

static inline void expect_ack_only(uint32_t o)
{
	expect_single(o, NBD_REP_ACK);
	assert_int_equal(reps[0].len, 0);
}

static inline int setup(void **state)
{
	(void)state;
	nbd_hs_init(&hs, &ex_rw, EXPORT_NAME, EXPORT_DESC);
	memset(&out, 0, sizeof(out));
	pl_reset();
	return 0;
}

static inline void structured_on(void)
{
	assert_int_equal(opt(NBD_OPT_STRUCTURED_REPLY, NULL, 0),
			 NBD_HS_CONTINUE);
	expect_ack_only(NBD_OPT_STRUCTURED_REPLY);
}

static inline void expect_invalid(uint32_t o, const char *what)
{
	enum nbd_hs_result res = opt_pl(o);
	size_t n;

	if (res != NBD_HS_CONTINUE)
		fail_msg("%s: result %d", what, res);
	n = parse_reps(o);
	if (n != 1 || reps[0].type != NBD_REP_ERR_INVALID)
		fail_msg("%s: %zu replies, first 0x%08x", what, n,
			 n ? reps[0].type : 0);
}

static const char *const q_base[] = { NBD_META_BASE_ALLOCATION };

static inline void expect_context_then_ack(uint32_t o)
{
	assert_int_equal(parse_reps(o), 2);
	assert_int_equal(reps[0].type, NBD_REP_META_CONTEXT);
	assert_int_equal(reps[0].len, 4 + strlen(NBD_META_BASE_ALLOCATION));
	assert_int_equal(be32(reps[0].data), NBD_META_ID_BASE_ALLOCATION);
	assert_memory_equal(reps[0].data + 4, NBD_META_BASE_ALLOCATION,
			    strlen(NBD_META_BASE_ALLOCATION));
	assert_int_equal(reps[1].type, NBD_REP_ACK);
	assert_int_equal(reps[1].len, 0);
}

#endif
