/* al_cases.h - the fixed cases' helpers for blockd/core/al.c's tests
 * (test_al.c, test_al_evict.c): transactions, retries, making extents
 * active and used. Needs al_fixture.h first. */
#ifndef TEST_AL_CASES_H
#define TEST_AL_CASES_H

static inline bool tx_has(const struct meta_al *t, uint32_t ext)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->ext[i] == ext)
			return true;
	return false;
}

/* The extents of a transaction or an evicted list, in any order: same
 * count and every wanted extent present. */
static inline void assert_set(const uint32_t *got, uint32_t n, const uint32_t *want,
		       uint32_t n_want)
{
	if (n != n_want)
		fail_msg("%u extents, want %u", n, n_want);
	for (uint32_t i = 0; i < n_want; i++) {
		bool found = false;

		for (uint32_t k = 0; k < n; k++)
			found |= got[k] == want[i];
		if (!found)
			fail_msg("extent %u missing", want[i]);
	}
}

/* Prepare and finish one transaction; the evicted list is copied out. */
static inline void commit(struct al *a, uint32_t *evicted, uint32_t *n_evicted)
{
	const uint32_t *ev;
	uint32_t n;

	assert_true(al_commit_due(a));
	al_commit_prepare(a, &tx, &ev, &n);
	if (evicted)
		memcpy(evicted, ev, n * sizeof(*ev));
	if (n_evicted)
		*n_evicted = n;
	al_commit_done(a);
}

/* Retry a write as the write path does: give back what the last try
 * left it holding (nothing after AL_WAIT), then ask again. */
static inline enum al_begin_result retry(struct al *a, uint64_t off, uint64_t len,
				  enum al_begin_result last)
{
	if (holds(last))
		al_end(a, off, len);
	return al_begin(a, off, len);
}

/* Make extents ext[0..n) active (one transaction), with no references:
 * each is asked for by a write that then gives up. */
static inline void make_active(struct al *a, const uint32_t *ext, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(al_begin(a, (uint64_t)ext[i] * EXT, 4096),
				 AL_WAIT_HELD);
		assert_int_equal(refs_of(a, ext[i]), 1);
		al_end(a, (uint64_t)ext[i] * EXT, 4096);
	}
	commit(a, NULL, NULL);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(slot_state(a, ext[i]), AL_ACTIVE);
		assert_int_equal(refs_of(a, ext[i]), 0);
	}
}

/* Use extent ext once (begin + end), making it the most recently used. */
static inline void touch(struct al *a, uint32_t ext)
{
	assert_int_equal(al_begin(a, (uint64_t)ext * EXT + 512, 512),
			 AL_READY);
	al_end(a, (uint64_t)ext * EXT + 512, 512);
}

#endif
