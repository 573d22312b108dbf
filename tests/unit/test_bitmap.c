/* test_bitmap.c - blockd/core/bitmap.c: the out-of-sync map, 1 bit per 4 KiB.
 *
 * Fixed cases pin the byte-to-block widening, word boundaries and the
 * clamp at the end of the device. A seeded random sequence of marks and
 * clears is then replayed against a bool-per-block model; after every step
 * set_bits must equal a popcount of the words (so bits past the last block
 * must stay clear) and the model's count. The run-length form is encoded
 * in small chunks and ORed back, into empty and non-empty maps, and fed
 * malformed chunks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "blockd/core/bitmap.h"

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

/* ---- run-length form ------------------------------------------------ */

/* Exactly these bytes, as bitmap.h documents the form: LEB128 varints,
 * clear run first, then set run, repeated. */
static void test_rle_wire_bytes(void **state)
{
	static const uint8_t want1[] = { 0x05, 0x05, 0xbe, 0x01, 0x64 };
	static const uint8_t want2[] = { 0x00, 0x02, 0x08, 0x00 };
	uint8_t out[64];
	uint64_t pos = 0;
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, 300 * BLK), 0);
	bitmap_mark_range(&b, 5 * BLK, 5 * BLK);
	bitmap_mark_range(&b, 200 * BLK, 100 * BLK);
	assert_int_equal(bitmap_rle_encode(&b, &pos, out, sizeof(out)),
			 sizeof(want1));
	assert_memory_equal(out, want1, sizeof(want1));
	assert_true(pos == 300);
	bitmap_fini(&b);

	/* A trailing clear run ends with an empty set run. */
	assert_int_equal(bitmap_init(&b, 10 * BLK), 0);
	bitmap_mark_range(&b, 0, 2 * BLK);
	pos = 0;
	assert_int_equal(bitmap_rle_encode(&b, &pos, out, sizeof(out)),
			 sizeof(want2));
	assert_memory_equal(out, want2, sizeof(want2));
	assert_true(pos == 10);
	/* Nothing left to encode. */
	assert_int_equal(bitmap_rle_encode(&b, &pos, out, sizeof(out)), 0);
	assert_true(pos == 10);
	bitmap_fini(&b);
}

enum rle_fill { FILL_RANDOM, FILL_RUNS, FILL_ALL, FILL_NONE, FILL_ALTERNATE,
		FILL_N };

static void rle_fill(struct bitmap *b, enum rle_fill how)
{
	uint64_t p = 0;
	bool set = rng() % 2;

	switch (how) {
	case FILL_RANDOM: {
		unsigned density = (unsigned)(rng() % 100);

		for (uint64_t i = 0; i < b->nbits; i++)
			if (rng() % 100 < density)
				bitmap_mark_range(b, i * BLK, BLK);
		break;
	}
	case FILL_RUNS:
		/* Runs from 1 block to 2^17, so varints of 1 to 3 bytes. */
		while (p < b->nbits) {
			uint64_t len = 1 + rng() % (1ULL << (rng() % 18));

			if (set)
				bitmap_mark_range(b, p * BLK, len * BLK);
			p += len;
			set = !set;
		}
		break;
	case FILL_ALL:
		bitmap_mark_all(b);
		break;
	case FILL_ALTERNATE:
		for (uint64_t i = set; i < b->nbits; i += 2)
			bitmap_mark_range(b, i * BLK, BLK);
		break;
	default:
		break;
	}
}

struct rle_chunk {
	uint64_t start, nblocks;
	size_t off, len;
};

/* Encode b from block `from` in chunks of at most cap bytes, checking
 * each chunk picks up where the last one stopped. Returns the count. */
static size_t rle_chunks(const struct bitmap *b, uint64_t from, size_t cap,
			 uint8_t *buf, struct rle_chunk *ch)
{
	uint64_t pos = from;
	size_t n = 0, used = 0;

	while (pos < b->nbits) {
		uint64_t start = pos;
		size_t len = bitmap_rle_encode(b, &pos, buf + used, cap);

		if (len == 0 || len > cap || pos <= start || pos > b->nbits)
			fail_msg("nbits %llu cap %zu: chunk at %llu: %zu bytes, "
				 "to %llu", (unsigned long long)b->nbits, cap,
				 (unsigned long long)start, len,
				 (unsigned long long)pos);
		ch[n++] = (struct rle_chunk){ start, pos - start, used, len };
		used += len;
	}
	return n;
}

static void assert_same_map(const struct bitmap *a, const struct bitmap *b,
			    const char *what)
{
	if (memcmp(a->words, b->words, a->nwords * sizeof(uint64_t)) ||
	    a->set_bits != b->set_bits || recount(b) != b->set_bits)
		fail_msg("%s: nbits %llu: maps differ (set %llu vs %llu)", what,
			 (unsigned long long)a->nbits,
			 (unsigned long long)a->set_bits,
			 (unsigned long long)b->set_bits);
}

static void rle_round_trip(uint64_t nbits, enum rle_fill how, size_t cap)
{
	struct bitmap src, dst, uni, other;
	struct rle_chunk *ch;
	uint8_t *buf;
	size_t n, from_n;
	uint64_t from;

	assert_int_equal(bitmap_init(&src, nbits * BLK), 0);
	assert_int_equal(bitmap_init(&dst, nbits * BLK), 0);
	assert_int_equal(bitmap_init(&uni, nbits * BLK), 0);
	assert_int_equal(bitmap_init(&other, nbits * BLK), 0);
	rle_fill(&src, how);
	rle_fill(&other, FILL_RANDOM);
	ch = calloc(nbits + 1, sizeof(*ch));
	buf = malloc((nbits + 1) * cap);
	assert_true(ch && buf);

	/* All chunks ORed into an empty map: the same map. */
	n = rle_chunks(&src, 0, cap, buf, ch);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bitmap_rle_or(&dst, ch[i].start, ch[i].nblocks,
					       buf + ch[i].off, ch[i].len), 0);
	assert_same_map(&src, &dst, "in order");

	/* Chunks are independent: any order gives the same. */
	bitmap_clear_all(&dst);
	for (size_t i = n; i-- > 0;)
		assert_int_equal(bitmap_rle_or(&dst, ch[i].start, ch[i].nblocks,
					       buf + ch[i].off, ch[i].len), 0);
	assert_same_map(&src, &dst, "reversed");

	/* Into a map with bits of its own: the union. */
	for (uint64_t w = 0; w < other.nwords; w++)
		uni.words[w] = other.words[w] | src.words[w];
	uni.set_bits = recount(&uni);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bitmap_rle_or(&other, ch[i].start,
					       ch[i].nblocks, buf + ch[i].off,
					       ch[i].len), 0);
	assert_same_map(&uni, &other, "union");

	/* Starting mid-map covers the rest of it and nothing before. */
	from = nbits ? rng() % nbits : 0;
	bitmap_clear_all(&dst);
	from_n = rle_chunks(&src, from, cap, buf, ch);
	for (size_t i = 0; i < from_n; i++)
		assert_int_equal(bitmap_rle_or(&dst, ch[i].start, ch[i].nblocks,
					       buf + ch[i].off, ch[i].len), 0);
	if (from > 0)
		bitmap_clear_range(&src, 0, from * BLK);
	assert_same_map(&src, &dst, "from mid-map");

	free(ch);
	free(buf);
	bitmap_fini(&src);
	bitmap_fini(&dst);
	bitmap_fini(&uni);
	bitmap_fini(&other);
}

static void test_rle_round_trip(void **state)
{
	static const uint64_t nbits[] = {
		0, 1, 2, 63, 64, 65, 127, 128, 129, 1000, 4096, 32768, 32769,
		70001,
	};
	static const size_t caps[] = { 20, 21, 23, 32, 47, 64 };

	(void)state;
	rng_state = 0x5eed0001;
	for (size_t i = 0; i < ARRAY_LEN(nbits); i++)
		for (int how = 0; how < FILL_N; how++)
			for (size_t c = 0; c < ARRAY_LEN(caps); c++)
				rle_round_trip(nbits[i], (enum rle_fill)how,
					       caps[c]);
	/* An 8 GiB device of long runs: 3-byte varints, few chunks. */
	rle_round_trip((1ULL << 21) + 5, FILL_RUNS, 20);
	rle_round_trip((1ULL << 21) + 5, FILL_ALL, 20);
}

static void test_rle_malformed(void **state)
{
	static const struct {
		const char *what;
		uint64_t start, nblocks;
		uint8_t in[16];
		size_t len;
		int want;
	} rows[] = {
		{ "all set", 0, 100, { 0x00, 0x64 }, 2, 0 },
		{ "empty runs", 0, 10, { 0x00, 0x00, 0x0a, 0x00 }, 4, 0 },
		{ "mid-map chunk", 40, 20, { 0x05, 0x05, 0x0a, 0x00 }, 4, 0 },
		{ "empty chunk at the end", 100, 0, { 0 }, 0, 0 },
		{ "truncated varint", 0, 100, { 0x80 }, 1, -EBADMSG },
		{ "truncated second varint", 0, 100, { 0x05, 0x80 }, 2,
		  -EBADMSG },
		{ "clear run without set run", 0, 100, { 0x64 }, 1, -EBADMSG },
		{ "set run past nblocks", 0, 10, { 0x05, 0x06 }, 2, -EBADMSG },
		{ "clear run past nblocks", 0, 10, { 0x0b, 0x00 }, 2, -EBADMSG },
		{ "runs past the map", 90, 10, { 0x05, 0x06 }, 2, -EBADMSG },
		{ "runs short of nblocks", 0, 10, { 0x03, 0x02 }, 2, -EBADMSG },
		{ "nothing for a non-empty chunk", 0, 10, { 0 }, 0, -EBADMSG },
		{ "start past the end", 101, 0, { 0 }, 0, -EBADMSG },
		{ "start far past the end", UINT64_MAX, 1, { 0x00, 0x01 }, 2,
		  -EBADMSG },
		{ "chunk past the end", 50, 51, { 0x00, 0x33 }, 2, -EBADMSG },
		{ "nblocks wraps", 1, UINT64_MAX, { 0x00, 0x63 }, 2, -EBADMSG },
		/* 10 (0x0a) padded to 11 bytes: longer than any u64. */
		{ "varint of 11 bytes", 0, 10,
		  { 0x8a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		    0x00, 0x00 }, 12, -EBADMSG },
		{ "clear run 2^63", 0, 100,
		  { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
		    0x00 }, 11, -EBADMSG },
		{ "set run UINT64_MAX", 0, 100,
		  { 0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0x01 }, 11, -EBADMSG },
		{ "trailing byte after a full chunk", 0, 100,
		  { 0x00, 0x64, 0x00 }, 3, -EBADMSG },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct bitmap b;
		int ret;

		assert_int_equal(bitmap_init(&b, 100 * BLK), 0);
		ret = bitmap_rle_or(&b, rows[i].start, rows[i].nblocks,
				    rows[i].in, rows[i].len);
		if (ret != rows[i].want)
			fail_msg("%s: %d, want %d", rows[i].what, ret,
				 rows[i].want);
		assert_true(recount(&b) == b.set_bits);
		/* Nothing lands past the last block (100 of 128 bits). */
		if (b.words[1] >> 36)
			fail_msg("%s: bits set past the end", rows[i].what);
		bitmap_fini(&b);
	}
}

/* The valid rows set exactly their runs. */
static void test_rle_or_sets_runs(void **state)
{
	static const uint8_t mid[] = { 0x05, 0x05, 0x0a, 0x00 };
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, 100 * BLK), 0);
	bitmap_mark_range(&b, 47 * BLK, BLK);
	assert_int_equal(bitmap_rle_or(&b, 40, 20, mid, sizeof(mid)), 0);
	cur_row = "mid-map chunk";
	assert_only(&b, 45, 49);
	cur_row = "";
	bitmap_fini(&b);
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
		cmocka_unit_test(test_rle_wire_bytes),
		cmocka_unit_test(test_rle_round_trip),
		cmocka_unit_test(test_rle_malformed),
		cmocka_unit_test(test_rle_or_sets_runs),
	};

	return cmocka_run_group_tests_name("bitmap", tests, NULL, NULL);
}
