/* test_bitmap.c - blockd/bitmap.c: the out-of-sync map, 1 bit per 4 KiB.
 *
 * Fixed cases pin the byte-to-block widening, word boundaries and the
 * clamp at the end of the device. A seeded random sequence of marks and
 * clears is then replayed against a bool-per-block model; after every step
 * set_bits must equal a popcount of the words (so bits past the last block
 * must stay clear) and the model's count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "blockd/bitmap.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define BLK BITMAP_BLOCK_BYTES

static uint64_t recount(const struct bitmap *b)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < b->nwords; w++)
		n += (uint64_t)__builtin_popcountll(b->words[w]);
	return n;
}

static bool block_set(const struct bitmap *b, uint64_t blk)
{
	return bitmap_test_range(b, blk * BLK, 1);
}

/* The table row under test, named in failure messages. */
static const char *cur_row = "";

/* Exactly blocks [first, last] are set, nothing else. */
#define assert_only(b, first, last) \
	assert_only_at(__LINE__, b, first, last)
static void assert_only_at(int line, const struct bitmap *b, uint64_t first,
			   uint64_t last)
{
	for (uint64_t i = 0; i < b->nbits; i++) {
		bool want = i >= first && i <= last;

		if (block_set(b, i) != want)
			fail_msg("line %d %s: block %llu: set %d, want %d",
				 line, cur_row, (unsigned long long)i, !want,
				 want);
	}
	if (b->set_bits != last - first + 1 || recount(b) != b->set_bits)
		fail_msg("line %d %s: set_bits %llu, popcount %llu, want %llu",
			 line, cur_row, (unsigned long long)b->set_bits,
			 (unsigned long long)recount(b),
			 (unsigned long long)(last - first + 1));
	assert_true(bitmap_dirty_bytes(b) == b->set_bits * BLK);
}

static void test_init_sizes(void **state)
{
	static const struct {
		uint64_t size_bytes, nbits, nwords;
	} rows[] = {
		{ 0, 0, 0 },
		{ 1, 1, 1 },
		{ 512, 1, 1 },
		{ BLK - 1, 1, 1 },
		{ BLK, 1, 1 },
		{ BLK + 1, 2, 1 },
		{ 63 * BLK, 63, 1 },
		{ 64 * BLK, 64, 1 },
		{ 64 * BLK + 1, 65, 2 },
		{ 65 * BLK - 1, 65, 2 },
		{ 128 * BLK, 128, 2 },
		{ 1ULL << 30, 1ULL << 18, 1ULL << 12 },
		{ (1ULL << 30) + 512, (1ULL << 18) + 1, (1ULL << 12) + 1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct bitmap b;

		assert_int_equal(bitmap_init(&b, rows[i].size_bytes), 0);
		if (b.nbits != rows[i].nbits || b.nwords != rows[i].nwords)
			fail_msg("size %llu: nbits %llu nwords %llu",
				 (unsigned long long)rows[i].size_bytes,
				 (unsigned long long)b.nbits,
				 (unsigned long long)b.nwords);
		assert_true(b.set_bits == 0);
		assert_true(recount(&b) == 0);
		assert_true(bitmap_next_set(&b, 0) == b.nbits);
		assert_true(bitmap_next_clear(&b, 0) == 0);
		bitmap_fini(&b);
		assert_null(b.words);
	}
}

/* Byte ranges widen to whole blocks. 256 blocks, one mark per row. */
static void test_mark_widens_to_blocks(void **state)
{
	static const struct {
		const char *what;
		uint64_t off, len, first, last;
	} rows[] = {
		{ "first byte", 0, 1, 0, 0 },
		{ "last byte of block 0", BLK - 1, 1, 0, 0 },
		{ "1 byte mid-block", 3 * BLK + 100, 1, 3, 3 },
		{ "2 bytes across a block edge", BLK - 1, 2, 0, 1 },
		{ "one aligned block", BLK, BLK, 1, 1 },
		{ "unaligned, within a block", BLK + 1, BLK - 1, 1, 1 },
		{ "unaligned, one block long", BLK + 1, BLK, 1, 2 },
		{ "512 bytes at the end of a block", 5 * BLK - 512, 512, 4, 4 },
		{ "10000 bytes from 100", 100, 10000, 0, 2 },
		{ "last byte of the device", 256 * BLK - 1, 1, 255, 255 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct bitmap b;

		assert_int_equal(bitmap_init(&b, 256 * BLK), 0);
		bitmap_mark_range(&b, rows[i].off, rows[i].len);
		cur_row = rows[i].what;
		assert_only(&b, rows[i].first, rows[i].last);
		/* The same range tests positive, the blocks around it not. */
		assert_true(bitmap_test_range(&b, rows[i].off, rows[i].len));
		if (rows[i].first > 0)
			assert_false(bitmap_test_range(&b, 0,
						       rows[i].first * BLK));
		assert_false(bitmap_test_range(&b, (rows[i].last + 1) * BLK,
					       256 * BLK));
		bitmap_fini(&b);
	}
	cur_row = "";
}

static void test_zero_length(void **state)
{
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, 256 * BLK), 0);
	bitmap_mark_range(&b, 5 * BLK, 0);
	assert_true(b.set_bits == 0);
	bitmap_mark_range(&b, 5 * BLK, 1);
	/* An empty range holds nothing, even on a set block. */
	assert_false(bitmap_test_range(&b, 5 * BLK, 0));
	bitmap_clear_range(&b, 5 * BLK, 0);
	assert_only(&b, 5, 5);
	bitmap_fini(&b);
}

/* Runs of blocks across word boundaries, then clears inside them. */
static void test_word_boundaries(void **state)
{
	static const struct {
		uint64_t mark_first, mark_last, clear_first, clear_last;
	} rows[] = {
		{ 63, 64, 64, 64 },
		{ 0, 63, 1, 62 },
		{ 64, 127, 64, 127 },
		{ 60, 200, 63, 128 },
		{ 0, 255, 0, 0 },
		{ 0, 255, 255, 255 },
		{ 1, 254, 62, 193 },
		{ 127, 128, 0, 127 },
		{ 191, 255, 192, 255 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		uint64_t mf = rows[i].mark_first, ml = rows[i].mark_last;
		uint64_t cf = rows[i].clear_first, cl = rows[i].clear_last;
		uint64_t want = 0;
		struct bitmap b;

		assert_int_equal(bitmap_init(&b, 256 * BLK), 0);
		bitmap_mark_range(&b, mf * BLK, (ml - mf + 1) * BLK);
		assert_only(&b, mf, ml);
		bitmap_clear_range(&b, cf * BLK, (cl - cf + 1) * BLK);
		for (uint64_t k = 0; k < 256; k++) {
			bool set = k >= mf && k <= ml && !(k >= cf && k <= cl);

			want += set;
			if (block_set(&b, k) != set)
				fail_msg("row %zu block %llu", i,
					 (unsigned long long)k);
		}
		assert_true(b.set_bits == want);
		assert_true(recount(&b) == want);
		bitmap_fini(&b);
	}
}

static void test_clear_widens_to_blocks(void **state)
{
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, 256 * BLK), 0);
	bitmap_mark_all(&b);
	/* Two bytes across the edge of blocks 9 and 10 clear both. */
	bitmap_clear_range(&b, 10 * BLK - 1, 2);
	assert_false(block_set(&b, 9));
	assert_false(block_set(&b, 10));
	assert_true(block_set(&b, 8));
	assert_true(block_set(&b, 11));
	assert_true(b.set_bits == 254);
	assert_true(recount(&b) == 254);
	bitmap_fini(&b);
}

/* A device of 100 full blocks and a 1000-byte tail: 101 blocks. */
static void test_past_end_clamped(void **state)
{
	const uint64_t size = 100 * BLK + 1000;
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, size), 0);
	assert_true(b.nbits == 101);

	bitmap_mark_range(&b, 100 * BLK, 1 << 20);
	assert_only(&b, 100, 100);
	bitmap_mark_range(&b, 98 * BLK + 5, 1ULL << 40);
	assert_only(&b, 98, 100);
	/* Entirely past the end: nothing happens. */
	bitmap_mark_range(&b, 101 * BLK, BLK);
	bitmap_mark_range(&b, size + BLK * 64, 1);
	bitmap_mark_range(&b, UINT64_MAX - BLK, BLK);
	bitmap_mark_range(&b, UINT64_MAX, 1);
	assert_only(&b, 98, 100);
	assert_false(bitmap_test_range(&b, 101 * BLK, 1ULL << 30));
	assert_true(bitmap_test_range(&b, 0, UINT64_MAX / 2));
	/* Clears clamp the same way. */
	bitmap_clear_range(&b, 99 * BLK, 1ULL << 40);
	assert_only(&b, 98, 98);
	bitmap_clear_range(&b, 200 * BLK, BLK);
	assert_only(&b, 98, 98);
	bitmap_fini(&b);
}

/* A range whose byte end lies past 2^64 still reaches the end of the
 * device: "from here to the end" written as len = UINT64_MAX. The bitmap
 * lives in a static so the teardown frees it when an assertion fails. */
static struct bitmap u64_map;

static int u64_map_free(void **state)
{
	(void)state;
	bitmap_fini(&u64_map);
	return 0;
}

static void test_range_end_past_u64(void **state)
{
	struct bitmap *b = &u64_map;

	(void)state;
	assert_int_equal(bitmap_init(b, 200 * BLK), 0);
	bitmap_mark_range(b, 5 * BLK, UINT64_MAX);
	assert_only(b, 5, 199);
	bitmap_clear_all(b);
	bitmap_mark_range(b, 150 * BLK, 1);
	assert_true(bitmap_test_range(b, 100 * BLK, UINT64_MAX));
	bitmap_mark_all(b);
	bitmap_clear_range(b, 64 * BLK, UINT64_MAX - BLK);
	assert_only(b, 0, 63);
}

static void test_next_set_clear(void **state)
{
	static const uint64_t set[] = { 0, 1, 63, 64, 65, 130, 198, 199 };
	static const struct {
		uint64_t from, next_set, next_clear;
	} rows[] = {
		{ 0, 0, 2 },
		{ 1, 1, 2 },
		{ 2, 63, 2 },
		{ 62, 63, 62 },
		{ 63, 63, 66 },
		{ 64, 64, 66 },
		{ 66, 130, 66 },
		{ 127, 130, 127 },
		{ 128, 130, 128 },
		{ 130, 130, 131 },
		{ 131, 198, 131 },
		{ 197, 198, 197 },
		{ 198, 198, 200 },
		{ 199, 199, 200 },
		{ 200, 200, 200 },
		{ 201, 200, 200 },
		{ UINT64_MAX, 200, 200 },
	};
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, 200 * BLK), 0);
	for (size_t i = 0; i < ARRAY_LEN(set); i++)
		bitmap_mark_range(&b, set[i] * BLK, BLK);
	assert_true(b.set_bits == ARRAY_LEN(set));
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		uint64_t s = bitmap_next_set(&b, rows[i].from);
		uint64_t c = bitmap_next_clear(&b, rows[i].from);

		if (s != rows[i].next_set || c != rows[i].next_clear)
			fail_msg("from %llu: next_set %llu (want %llu), "
				 "next_clear %llu (want %llu)",
				 (unsigned long long)rows[i].from,
				 (unsigned long long)s,
				 (unsigned long long)rows[i].next_set,
				 (unsigned long long)c,
				 (unsigned long long)rows[i].next_clear);
	}
	bitmap_fini(&b);
}

/* mark_all / clear_all on sizes that do and do not fill their last word
 * or their last block. */
static void test_mark_all_clear_all(void **state)
{
	static const uint64_t sizes[] = {
		1, BLK, BLK + 1, 63 * BLK, 64 * BLK, 64 * BLK + 512, 65 * BLK,
		200 * BLK + 4095, 1ULL << 30,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		struct bitmap b;
		uint64_t n;

		assert_int_equal(bitmap_init(&b, sizes[i]), 0);
		n = b.nbits;
		bitmap_mark_range(&b, 0, 1);
		bitmap_mark_all(&b);
		bitmap_mark_all(&b);
		assert_true(b.set_bits == n);
		assert_true(recount(&b) == n);
		assert_true(bitmap_dirty_bytes(&b) == n * BLK);
		assert_true(bitmap_next_set(&b, 0) == 0);
		assert_true(bitmap_next_set(&b, n - 1) == n - 1);
		/* Bits past the last block do not count as clear blocks. */
		assert_true(bitmap_next_clear(&b, 0) == n);
		assert_true(bitmap_next_clear(&b, n - 1) == n);
		assert_true(bitmap_test_range(&b, sizes[i] - 1, 1));

		bitmap_clear_all(&b);
		assert_true(b.set_bits == 0);
		assert_true(recount(&b) == 0);
		assert_true(bitmap_next_set(&b, 0) == n);
		assert_true(bitmap_next_clear(&b, 0) == 0);
		assert_false(bitmap_test_range(&b, 0, sizes[i]));
		bitmap_fini(&b);
	}
}

static void test_zero_size(void **state)
{
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, 0), 0);
	bitmap_mark_range(&b, 0, BLK);
	bitmap_mark_range(&b, 0, UINT64_MAX);
	bitmap_mark_all(&b);
	assert_true(b.set_bits == 0);
	assert_false(bitmap_test_range(&b, 0, BLK));
	assert_true(bitmap_next_set(&b, 0) == 0);
	assert_true(bitmap_next_clear(&b, 0) == 0);
	bitmap_clear_range(&b, 0, BLK);
	bitmap_clear_all(&b);
	assert_true(b.set_bits == 0);
	assert_true(bitmap_dirty_bytes(&b) == 0);
	bitmap_fini(&b);
}

/* ---- random sequence against a model ------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic for a seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Offsets and lengths that favour block and word edges, never below 0. */
static uint64_t pick_bytes(uint64_t span)
{
	int64_t base, delta;

	switch (rng() % 4) {
	case 0:
		return rng() % (span + 1);
	case 1:
		base = (int64_t)((rng() % (span / BLK + 2)) * BLK);
		delta = (int64_t)(rng() % 3) - 1;
		break;
	case 2:
		base = (int64_t)((rng() % (span / (64 * BLK) + 2)) * 64 * BLK);
		delta = ((int64_t)(rng() % 5) - 2) * (int64_t)BLK +
			(int64_t)(rng() % 2);
		break;
	default:
		return rng() % (4 * BLK);
	}
	return base + delta < 0 ? 0 : (uint64_t)(base + delta);
}

static void model_apply(bool *model, uint64_t nbits, uint64_t off,
			uint64_t len, bool val)
{
	uint64_t first, last;

	if (len == 0 || nbits == 0)
		return;
	first = off / BLK;
	last = (off + len - 1) / BLK;
	for (uint64_t i = first; i <= last && i < nbits; i++)
		model[i] = val;
}

static void check_model(const struct bitmap *b, const bool *model)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < b->nbits; i++) {
		n += model[i];
		if (block_set(b, i) != model[i])
			fail_msg("block %llu differs from the model",
				 (unsigned long long)i);
	}
	assert_true(b->set_bits == n);
	/* next_set / next_clear from every block, against the model. */
	for (uint64_t from = 0; from <= b->nbits; from++) {
		uint64_t s = from, c = from;

		while (s < b->nbits && !model[s])
			s++;
		while (c < b->nbits && model[c])
			c++;
		assert_true(bitmap_next_set(b, from) == s);
		assert_true(bitmap_next_clear(b, from) == c);
	}
}

static void run_random(uint64_t size_bytes, uint64_t seed, int steps)
{
	struct bitmap b;
	bool *model;
	uint64_t span;

	rng_state = seed;
	assert_int_equal(bitmap_init(&b, size_bytes), 0);
	model = calloc(b.nbits + 1, sizeof(bool));
	assert_non_null(model);
	/* Ranges reach a little past the end of the device. */
	span = size_bytes + 3 * BLK;
	for (int step = 0; step < steps; step++) {
		unsigned op = (unsigned)(rng() % 100);
		uint64_t off = pick_bytes(span), len = pick_bytes(span / 2);

		if (op < 45) {
			bitmap_mark_range(&b, off, len);
			model_apply(model, b.nbits, off, len, true);
		} else if (op < 90) {
			bitmap_clear_range(&b, off, len);
			model_apply(model, b.nbits, off, len, false);
		} else if (op < 93) {
			bitmap_mark_all(&b);
			memset(model, 1, b.nbits);
		} else if (op < 95) {
			bitmap_clear_all(&b);
			memset(model, 0, b.nbits);
		} else {
			/* test_range agrees with the model. */
			uint64_t first = off / BLK, last, i;
			bool any = false;

			if (len && first < b.nbits) {
				last = (off + len - 1) / BLK;
				for (i = first; i <= last && i < b.nbits; i++)
					any |= model[i];
			}
			if (bitmap_test_range(&b, off, len) != any)
				fail_msg("seed %llu step %d: test_range(%llu, "
					 "%llu) != %d",
					 (unsigned long long)seed, step,
					 (unsigned long long)off,
					 (unsigned long long)len, any);
		}
		if (recount(&b) != b.set_bits)
			fail_msg("seed %llu step %d: set_bits %llu, popcount "
				 "%llu", (unsigned long long)seed, step,
				 (unsigned long long)b.set_bits,
				 (unsigned long long)recount(&b));
		if (step % 64 == 0)
			check_model(&b, model);
	}
	check_model(&b, model);
	free(model);
	bitmap_fini(&b);
}

static void test_random_against_model(void **state)
{
	static const uint64_t sizes[] = {
		1, BLK, 2 * BLK - 1, 63 * BLK, 64 * BLK, 64 * BLK + 1,
		65 * BLK, 130 * BLK + 17, 1000 * BLK,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
		for (uint64_t seed = 1; seed <= 3; seed++)
			run_random(sizes[i], seed * 0x9e3779b97f4a7c15ULL + i,
				   3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_sizes),
		cmocka_unit_test(test_mark_widens_to_blocks),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_word_boundaries),
		cmocka_unit_test(test_clear_widens_to_blocks),
		cmocka_unit_test(test_past_end_clamped),
		cmocka_unit_test_teardown(test_range_end_past_u64,
					  u64_map_free),
		cmocka_unit_test(test_next_set_clear),
		cmocka_unit_test(test_mark_all_clear_all),
		cmocka_unit_test(test_zero_size),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests_name("bitmap", tests, NULL, NULL);
}
