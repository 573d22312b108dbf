/* test_bufpool.c - common/bufpool.c: the aligned chunk arena.
 *
 * Besides fixed cases (alignment, exhaustion, runs across bitmap words),
 * a seeded random get/put sequence is checked against a model that knows
 * which chunk each live buffer holds: a run may be refused only when the
 * model has no free run that long, and no two live buffers may overlap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "abort_fixture.h"
#include "common/bufpool.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define CHUNK 4096U

static size_t chunk_index(const struct bufpool *p, const void *buf)
{
	size_t off = (size_t)((const uint8_t *)buf - p->base);

	assert_true((const uint8_t *)buf >= p->base);
	assert_true(off < p->size_bytes);
	assert_int_equal(off % p->chunk_bytes, 0);
	return off / p->chunk_bytes;
}

static void test_init_rejects(void **state)
{
	static const struct {
		size_t size_bytes, chunk_bytes;
	} rows[] = {
		{ 1U << 20, 0 },
		{ 1U << 20, 512 },
		{ 1U << 20, 4097 },
		{ 1U << 20, 6144 },
		{ 0, 4096 },
		{ 4095, 4096 },
		{ 65535, 65536 },
	};
	struct bufpool p;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		memset(&p, 0xa5, sizeof(p));
		if (bufpool_init(&p, rows[i].size_bytes,
				 rows[i].chunk_bytes) != -EINVAL)
			fail_msg("size %zu chunk %zu accepted",
				 rows[i].size_bytes, rows[i].chunk_bytes);
		/* A failed init leaves nothing to free, and fini copes. */
		assert_null(p.base);
		bufpool_fini(&p);
	}
}

static void test_init_rounds_down(void **state)
{
	struct bufpool p;

	(void)state;
	assert_int_equal(bufpool_init(&p, 3 * CHUNK + 100, CHUNK), 0);
	assert_int_equal(p.nchunks, 3);
	assert_int_equal(p.size_bytes, 3 * CHUNK);
	assert_int_equal(p.free_chunks, 3);
	assert_int_equal((uintptr_t)p.base % BUFPOOL_ALIGN, 0);
	bufpool_fini(&p);
	assert_null(p.base);
	assert_null(p.freemap);
	/* fini twice is harmless. */
	bufpool_fini(&p);
}

/* Chunk counts around bitmap word edges. */
static void test_exhaust_singles(void **state)
{
	static const uint32_t counts[] = { 1, 63, 64, 65, 127, 128, 130 };
	static void *bufs[130];

	(void)state;
	for (size_t c = 0; c < ARRAY_LEN(counts); c++) {
		uint32_t n = counts[c];
		struct bufpool p;

		assert_int_equal(bufpool_init(&p, n * CHUNK, CHUNK), 0);
		for (uint32_t i = 0; i < n; i++) {
			bufs[i] = bufpool_get(&p, 1 + i % CHUNK);
			if (!bufs[i])
				fail_msg("%u chunks: get %u failed", n, i);
			assert_int_equal((uintptr_t)bufs[i] % BUFPOOL_ALIGN,
					 0);
			/* Mark the whole chunk as this buffer's. */
			memset(bufs[i], (int)(i & 0xff), CHUNK);
		}
		assert_int_equal(p.free_chunks, 0);
		assert_null(bufpool_get(&p, 1));
		/* Distinct chunks: nobody overwrote anybody. */
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *b = bufs[i];

			chunk_index(&p, b);
			if (b[0] != (uint8_t)i || b[CHUNK - 1] != (uint8_t)i)
				fail_msg("%u chunks: buffer %u overwritten", n,
					 i);
		}
		/* Returning one makes exactly that one available. */
		bufpool_put(&p, bufs[n / 2], 1 + (n / 2) % CHUNK);
		assert_int_equal(p.free_chunks, 1);
		assert_ptr_equal(bufpool_get(&p, CHUNK), bufs[n / 2]);
		for (uint32_t i = 0; i < n; i++)
			bufpool_put(&p, bufs[i], CHUNK);
		assert_int_equal(p.free_chunks, n);
		bufpool_fini(&p);
	}
}

static void test_sizes(void **state)
{
	struct bufpool p;
	uint8_t *a, *b;

	(void)state;
	assert_int_equal(bufpool_init(&p, 8 * 16384, 16384), 0);
	assert_null(bufpool_get(&p, 8 * 16384 + 1));
	/* The whole arena in one buffer. */
	a = bufpool_get(&p, 8 * 16384);
	assert_ptr_equal(a, p.base);
	assert_int_equal(p.free_chunks, 0);
	assert_null(bufpool_get(&p, 1));
	bufpool_put(&p, a, 8 * 16384);

	/* One byte over a chunk takes two. */
	a = bufpool_get(&p, 16384 + 1);
	assert_non_null(a);
	assert_int_equal(p.free_chunks, 6);
	b = bufpool_get(&p, 1);
	assert_non_null(b);
	assert_true(b >= a + 2 * 16384 || b + 16384 <= a);
	bufpool_put(&p, a, 16384 + 1);
	bufpool_put(&p, b, 1);
	assert_int_equal(p.free_chunks, 8);
	bufpool_fini(&p);
}

/* Free chunks that are not adjacent cannot serve a run. */
static void test_fragmentation(void **state)
{
	struct bufpool p;
	void *bufs[16];
	uint8_t *run;

	(void)state;
	assert_int_equal(bufpool_init(&p, 16 * CHUNK, CHUNK), 0);
	for (int i = 0; i < 16; i++)
		assert_non_null(bufs[i] = bufpool_get(&p, CHUNK));
	for (int i = 0; i < 16; i += 2)
		bufpool_put(&p, bufs[i], CHUNK);
	assert_int_equal(p.free_chunks, 8);
	assert_null(bufpool_get(&p, 2 * CHUNK));

	/* Freeing chunk 9 joins 8, 9 and 10 into a run of three. */
	bufpool_put(&p, bufs[9], CHUNK);
	assert_null(bufpool_get(&p, 4 * CHUNK));
	run = bufpool_get(&p, 3 * CHUNK);
	assert_ptr_equal(run, p.base + 8 * CHUNK);
	bufpool_put(&p, run, 3 * CHUNK);
	bufpool_fini(&p);
}

/* A run that straddles a 64-chunk bitmap word, and one longer than a
 * whole word. */
static void test_run_across_words(void **state)
{
	struct bufpool p;
	void *bufs[200];
	uint8_t *run;

	(void)state;
	assert_int_equal(bufpool_init(&p, 200 * CHUNK, CHUNK), 0);
	for (int i = 0; i < 200; i++)
		assert_non_null(bufs[i] = bufpool_get(&p, CHUNK));
	for (int i = 60; i < 71; i++)
		bufpool_put(&p, bufs[i], CHUNK);
	assert_null(bufpool_get(&p, 12 * CHUNK));
	run = bufpool_get(&p, 11 * CHUNK);
	assert_ptr_equal(run, p.base + 60 * CHUNK);
	assert_int_equal(p.free_chunks, 0);
	bufpool_put(&p, run, 11 * CHUNK);

	/* Free 50..199 except 100: 50..99 is only 50 long, so the first
	 * 70-run starts at 101; the 50-run then fits at 50. */
	for (int i = 50; i < 200; i++)
		if ((i < 60 || i > 70) && i != 100)
			bufpool_put(&p, bufs[i], CHUNK);
	run = bufpool_get(&p, 70 * CHUNK);
	assert_ptr_equal(run, p.base + 101 * CHUNK);
	assert_null(bufpool_get(&p, 51 * CHUNK));
	run = bufpool_get(&p, 50 * CHUNK);
	assert_ptr_equal(run, p.base + 50 * CHUNK);
	bufpool_fini(&p);
}

/* ---- model check ------------------------------------------------------ */

#define MODEL_CHUNKS 150U
#define MODEL_LIVE_MAX 64

struct live {
	uint8_t *buf;
	size_t len;
	uint32_t first, n;
	uint8_t tag;		/* written at both ends of the buffer */
};

static uint32_t rng_next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static bool model_has_run(const bool *used, uint32_t n)
{
	uint32_t run = 0;

	for (uint32_t i = 0; i < MODEL_CHUNKS; i++) {
		run = used[i] ? 0 : run + 1;
		if (run >= n)
			return true;
	}
	return false;
}

static void test_random_against_model(void **state)
{
	static const uint32_t seeds[] = { 1, 2, 3, 0xdeadbeef, 20240601 };

	(void)state;
	for (size_t s = 0; s < ARRAY_LEN(seeds); s++) {
		struct live live[MODEL_LIVE_MAX];
		bool used[MODEL_CHUNKS] = { false };
		uint32_t nlive = 0, nused = 0, x = seeds[s];
		struct bufpool p;

		assert_int_equal(bufpool_init(&p, MODEL_CHUNKS * CHUNK, CHUNK),
				 0);
		for (int step = 0; step < 20000; step++) {
			uint32_t r = rng_next(&x);

			if (nlive < MODEL_LIVE_MAX && (r & 1)) {
				/* Mostly small, sometimes long runs. */
				size_t len = (r >> 8) % 4 == 0
					? 1 + (r >> 12) % (70 * CHUNK)
					: 1 + (r >> 12) % (2 * CHUNK);
				uint32_t n = (uint32_t)((len + CHUNK - 1) /
							CHUNK);
				uint8_t *b = bufpool_get(&p, len);

				if (!b) {
					if (model_has_run(used, n))
						fail_msg("seed %u step %d: run "
							 "of %u refused",
							 seeds[s], step, n);
					continue;
				}
				assert_int_equal((uintptr_t)b % BUFPOOL_ALIGN,
						 0);
				live[nlive].buf = b;
				live[nlive].len = len;
				live[nlive].first =
					(uint32_t)chunk_index(&p, b);
				live[nlive].n = n;
				assert_true(live[nlive].first + n <=
					    MODEL_CHUNKS);
				for (uint32_t i = 0; i < n; i++) {
					if (used[live[nlive].first + i])
						fail_msg("seed %u step %d: "
							 "chunk %u given twice",
							 seeds[s], step,
							 live[nlive].first + i);
					used[live[nlive].first + i] = true;
				}
				live[nlive].tag = (uint8_t)step;
				b[0] = live[nlive].tag;
				b[len - 1] = live[nlive].tag;
				nused += n;
				nlive++;
			} else if (nlive > 0) {
				uint32_t k = (r >> 1) % nlive;
				struct live *l = &live[k];

				if (l->buf[0] != l->tag ||
				    l->buf[l->len - 1] != l->tag)
					fail_msg("seed %u step %d: buffer "
						 "overwritten", seeds[s], step);
				bufpool_put(&p, l->buf, l->len);
				for (uint32_t i = 0; i < l->n; i++)
					used[l->first + i] = false;
				nused -= l->n;
				live[k] = live[--nlive];
			}
			assert_int_equal(p.free_chunks, MODEL_CHUNKS - nused);
		}
		while (nlive > 0) {
			nlive--;
			bufpool_put(&p, live[nlive].buf, live[nlive].len);
		}
		assert_int_equal(p.free_chunks, MODEL_CHUNKS);
		/* Everything is free again: the whole arena is one run. */
		assert_ptr_equal(bufpool_get(&p, MODEL_CHUNKS * CHUNK), p.base);
		bufpool_fini(&p);
	}
}

/* Returning a buffer twice is a programmer error: the pool's assertion
 * stops the process rather than hand the chunk out twice. */
/* bufpool_get_leaving: a buffer only while keep bytes stay free after
 * it; plain gets may still take the kept part. */
static void test_get_leaving(void **state)
{
	struct bufpool p;
	void *a, *b, *c;

	(void)state;
	assert_int_equal(bufpool_init(&p, 8 * CHUNK, CHUNK), 0);
	a = bufpool_get_leaving(&p, 5 * CHUNK, 2 * CHUNK);
	assert_non_null(a);			/* 3 left >= 2 kept */
	assert_null(bufpool_get_leaving(&p, 2 * CHUNK, 2 * CHUNK));
	b = bufpool_get_leaving(&p, 1, 2 * CHUNK);	/* one chunk */
	assert_non_null(b);
	assert_null(bufpool_get_leaving(&p, 1, 2 * CHUNK));
	c = bufpool_get(&p, 2 * CHUNK);		/* the kept part */
	assert_non_null(c);
	bufpool_put(&p, c, 2 * CHUNK);
	bufpool_put(&p, b, 1);
	bufpool_put(&p, a, 5 * CHUNK);
	assert_int_equal(p.free_chunks, 8);
	assert_null(bufpool_get_leaving(&p, 7 * CHUNK, 2 * CHUNK));
	bufpool_fini(&p);
}

/* The kept part is the arena's tail, whole: a request that may wait
 * never takes from it, so the work it waits for finds keep contiguous
 * bytes, not the same amount in pieces (sim seed 734: 1.3 MiB free in
 * pieces, a resync checksum read of 936 KiB waited for good behind
 * writes that waited for the resync). */
static void test_get_leaving_keeps_tail_whole(void **state)
{
	struct bufpool p;
	void *x[6], *t, *c;

	(void)state;
	assert_int_equal(bufpool_init(&p, 8 * CHUNK, CHUNK), 0);
	for (int i = 0; i < 6; i++)
		assert_non_null(x[i] = bufpool_get_leaving(&p, 1, 2 * CHUNK));
	assert_null(bufpool_get_leaving(&p, 1, 2 * CHUNK));
	t = bufpool_get(&p, 2 * CHUNK);		/* the tail, for a while */
	assert_non_null(t);
	bufpool_put(&p, x[3], 1);
	bufpool_put(&p, x[5], 1);
	bufpool_put(&p, t, 2 * CHUNK);
	/* 4 chunks free (3, 5, 6, 7): two contiguous only across the tail. */
	assert_null(bufpool_get_leaving(&p, 2 * CHUNK, 2 * CHUNK));
	c = bufpool_get(&p, 2 * CHUNK);
	assert_non_null(c);
	bufpool_put(&p, c, 2 * CHUNK);
	for (int i = 0; i < 6; i++)
		if (i != 3 && i != 5)
			bufpool_put(&p, x[i], 1);
	assert_int_equal(p.free_chunks, 8);
	bufpool_fini(&p);
}

static void double_put(void *arg)
{
	struct bufpool p;
	void *b;

	(void)arg;
	if (bufpool_init(&p, 4 * CHUNK, CHUNK) != 0)
		_exit(2);
	b = bufpool_get(&p, CHUNK);
	bufpool_put(&p, b, CHUNK);
	bufpool_put(&p, b, CHUNK);
}

static void test_double_put_aborts(void **state)
{
	(void)state;
	assert_aborts(double_put, NULL, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_init_rounds_down),
		cmocka_unit_test(test_exhaust_singles),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_get_leaving),
		cmocka_unit_test(test_get_leaving_keeps_tail_whole),
		cmocka_unit_test(test_fragmentation),
		cmocka_unit_test(test_run_across_words),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_double_put_aborts),
	};

	return cmocka_run_group_tests_name("bufpool", tests, NULL, NULL);
}
