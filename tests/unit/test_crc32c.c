/* test_crc32c.c - common/crc32c.c against published vectors and a
 * bit-at-a-time reference.
 *
 * isa-l picks a code path by length and alignment, so the reference is
 * compared over every length up to a few SIMD blocks at every alignment,
 * not only on round sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/mman.h>

#include "common/crc32c.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Reflected Castagnoli polynomial, one bit at a time: slow and obvious. */
static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	}
	return ~crc;
}

/* Deterministic filler: xorshift32, fixed seed. */
static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
}

static void test_vectors(void **state)
{
	/* RFC 3720 appendix B.4 (read as a little-endian word) and common
	 * published values. */
	static const uint8_t iscsi_read_pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t zeros[32], ones[32], inc[32], dec[32];
	static const char fox[] =
		"The quick brown fox jumps over the lazy dog";
	const struct {
		const char *name;
		const void *buf;
		size_t len;
		uint32_t want;
	} rows[] = {
		{ "empty", "", 0, 0x00000000 },
		{ "a", "a", 1, 0xc1d04330 },
		{ "32 zeros", zeros, 32, 0x8a9136aa },
		{ "32 ones", ones, 32, 0x62a8ab43 },
		{ "incrementing", inc, 32, 0x46dd794e },
		{ "decrementing", dec, 32, 0x113fdb5c },
		{ "iscsi read pdu", iscsi_read_pdu, 48, 0xd9963a56 },
		{ "fox", fox, sizeof(fox) - 1, 0x22620404 },
	};

	(void)state;
	memset(zeros, 0, sizeof(zeros));
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++) {
		inc[i] = (uint8_t)i;
		dec[i] = (uint8_t)(31 - i);
	}
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		uint32_t got = crc32c(0, rows[i].buf, rows[i].len);
		uint32_t ref = ref_crc32c(0, rows[i].buf, rows[i].len);

		if (got != rows[i].want || ref != rows[i].want)
			fail_msg("%s: got 0x%08x ref 0x%08x want 0x%08x",
				 rows[i].name, got, ref, rows[i].want);
	}
}

/* A zero-length update leaves any running value unchanged. */
static void test_empty_update(void **state)
{
	static const uint32_t seeds[] = {
		0, 1, 0xe3069283, 0xffffffff, 0x80000000,
	};
	uint8_t b[1] = { 0x55 };

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(seeds); i++)
		assert_int_equal(crc32c(seeds[i], b, 0), seeds[i]);
}

static void test_matches_reference(void **state)
{
	static uint8_t buf[2048 + 8];

	(void)state;
	fill(buf, sizeof(buf), 0x1234567);
	for (size_t align = 0; align < 8; align++) {
		for (size_t len = 0; len <= 2048; len++) {
			uint32_t seed = (uint32_t)(len * 2654435761U);
			uint32_t got = crc32c(seed, buf + align, len);
			uint32_t want = ref_crc32c(seed, buf + align, len);

			if (got != want)
				fail_msg("align %zu len %zu: 0x%08x != 0x%08x",
					 align, len, got, want);
		}
	}
}

static void test_large_buffers(void **state)
{
	static const size_t lens[] = {
		4096, 4096 * 3 + 1, 65536 - 1, 65536 + 7, (1U << 20) + 3,
	};
	static uint8_t buf[(1U << 20) + 8];

	(void)state;
	fill(buf, sizeof(buf), 42);
	for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
		assert_true(lens[i] + 1 <= sizeof(buf));
		assert_int_equal(crc32c(0, buf + 1, lens[i]),
				 ref_crc32c(0, buf + 1, lens[i]));
	}
}

/* Extending a value is the same as one pass over the concatenation. */
static void test_incremental(void **state)
{
	static uint8_t buf[1031];
	uint32_t whole;

	(void)state;
	fill(buf, sizeof(buf), 7);
	whole = crc32c(0, buf, sizeof(buf));
	for (size_t k = 0; k <= sizeof(buf); k++) {
		uint32_t part = crc32c(0, buf, k);

		part = crc32c(part, buf + k, sizeof(buf) - k);
		if (part != whole)
			fail_msg("split at %zu: 0x%08x != 0x%08x", k, part,
				 whole);
	}
	/* Byte by byte. */
	{
		uint32_t c = 0;

		for (size_t i = 0; i < sizeof(buf); i++)
			c = crc32c(c, buf + i, 1);
		assert_int_equal(c, whole);
	}
}

/* A CRC detects every single-bit error: what the peer checksum is for. */
static void test_single_bit_flips(void **state)
{
	static uint8_t buf[4096];
	uint32_t clean;

	(void)state;
	fill(buf, sizeof(buf), 99);
	clean = crc32c(0, buf, sizeof(buf));
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		uint32_t c;

		buf[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		c = crc32c(0, buf, sizeof(buf));
		buf[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		if (c == clean)
			fail_msg("flip of bit %zu not detected", bit);
	}
}

/* The length is a size_t: buffers past INT_MAX and UINT32_MAX bytes are
 * summed in full, as the same bytes fed in 1 GiB pieces are. Zero pages
 * mapped read-only cost no memory. */
static void test_length_beyond_32_bits(void **state)
{
	static const size_t lens[] = {
		(1ULL << 31) + 8,	/* negative as an int */
		(1ULL << 32) + 8,	/* 8 as an int */
	};
	const size_t piece = 1U << 30;
	const size_t huge = 2U << 20;
	size_t map_len = (1ULL << 32) + 2 * huge;
	uint8_t *map, *p;

	(void)state;
	map = mmap(NULL, map_len, PROT_READ,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		skip();
	/* Huge zero pages where the kernel has them (2 MiB aligned): a few
	 * thousand page faults instead of a million, which took most of the
	 * test's time. */
	p = (uint8_t *)(((uintptr_t)map + huge - 1) & ~(uintptr_t)(huge - 1));
	madvise(p, map_len - (size_t)(p - map), MADV_HUGEPAGE);
	for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
		uint32_t whole = crc32c(0, p, lens[i]);
		uint32_t pieces = 0;

		for (size_t off = 0; off < lens[i]; off += piece) {
			size_t n = lens[i] - off < piece ? lens[i] - off
							 : piece;

			pieces = crc32c(pieces, p + off, n);
		}
		if (whole != pieces) {
			munmap(map, map_len);
			fail_msg("len %zu: one call 0x%08x, pieces 0x%08x",
				 lens[i], whole, pieces);
		}
	}
	munmap(map, map_len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_empty_update),
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_large_buffers),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_single_bit_flips),
		cmocka_unit_test(test_length_beyond_32_bits),
	};

	return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
