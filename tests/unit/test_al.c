/* test_al.c - blockd/core/al.c: the activity log of hot 4 MiB extents, fixed
 * cases (the seeded random sequences are in test_al_model.c).
 *
 * The contract under test (al.h): al_begin() answers one of three ways.
 * AL_READY: every extent of the write's range is committed and the write
 * holds a reference on each. AL_WAIT_HELD: the write holds a reference on
 * each extent of its range, some of them staged or committing; it waits
 * for a commit. AL_WAIT: some extent found no slot; the write holds
 * nothing (every reference the call took was given back, what it staged
 * stays staged) and must not call al_end(). After AL_READY or
 * AL_WAIT_HELD the write calls al_end() exactly once: when it completes,
 * or before it calls al_begin() again. So a write holds all of its
 * extents or none, and al_end() gives back exactly what it holds.
 * References are taken before anything is staged, so staging never
 * evicts the write's own extents, and a waiting write that holds its
 * extents keeps them. al_span() counts the extents a range touches; the
 * write path covers writes wider than half the log without it.
 *
 * Fixed cases walk the slot lifecycle, the references of waiting and
 * running writes, retries after each answer, writes that hold nothing,
 * and ranges at the edges of the device and of 2^64; LRU eviction, the
 * evicted list and restoring a committed set are in test_al_evict.c.
 */

#include "al_fixture.h"
#include "al_cases.h"

/* ---- fixed cases ------------------------------------------------------ */

static void test_init(void **state)
{
	static const struct {
		uint64_t data_bytes;
		uint32_t n_extents;
	} rows[] = {
		{ 0, 0 }, { 1, 1 }, { EXT - 1, 1 }, { EXT, 1 }, { EXT + 1, 2 },
		{ 1ULL << 30, 256 }, { (1ULL << 40) + 4096, 262145 },
	};

	(void)state;
	assert_int_equal(al_init(&al, 0, EXT), -EINVAL);
	assert_int_equal(al_init(&al, META_AL_EXTENTS_MAX + 1, EXT), -EINVAL);
	assert_int_equal(al_init(&al, META_AL_EXTENTS_MAX, EXT), 0);
	al_fini(&al);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		assert_int_equal(al_init(&al, 7, rows[i].data_bytes), 0);
		assert_int_equal(al.n_extents, rows[i].n_extents);
		assert_false(al_commit_due(&al));
		assert_int_equal(al_extents(&al, tx.ext, META_AL_EXTENTS_MAX), 0);
		al_fini(&al);
	}
}

/* An empty log: the first write waits holding a reference on the extent
 * it staged; once the transaction naming it is durable, the retry (end,
 * then begin) lets it start, still with a single reference. */
static void test_begin_stage_commit(void **state)
{
	const uint64_t off = 3 * EXT + 100, len = 4096;
	const uint32_t *ev;
	uint32_t n_ev;

	(void)state;
	assert_int_equal(al_init(&al, 4, 16 * EXT), 0);
	assert_int_equal(al_begin(&al, off, len), AL_WAIT_HELD);
	assert_int_equal(slot_state(&al, 3), AL_STAGED);
	assert_int_equal(refs_of(&al, 3), 1);
	assert_int_equal(al.staged, 1);
	assert_true(al_commit_due(&al));
	/* Retrying before the commit: same answer, nothing staged twice,
	 * the reference is not doubled. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(retry(&al, off, len, AL_WAIT_HELD),
				 AL_WAIT_HELD);
		assert_int_equal(refs_of(&al, 3), 1);
		assert_int_equal(al.staged, 1);
	}
	/* A second write in the same staged extent holds it too. */
	assert_int_equal(al_begin(&al, 3 * EXT, 1), AL_WAIT_HELD);
	assert_int_equal(refs_of(&al, 3), 2);
	assert_int_equal(al.staged, 1);

	al_commit_prepare(&al, &tx, &ev, &n_ev);
	assert_int_equal(tx.n, 1);
	assert_int_equal(tx.ext[0], 3);
	assert_true(tx.seq == 1);
	assert_int_equal(n_ev, 0);
	assert_int_equal(al.staged, 0);
	assert_int_equal(slot_state(&al, 3), AL_COMMITTING);
	assert_int_equal(refs_of(&al, 3), 2);
	/* Not durable yet: the write still waits, holding its extent, and
	 * no second transaction is due. */
	assert_int_equal(retry(&al, off, len, AL_WAIT_HELD), AL_WAIT_HELD);
	assert_int_equal(refs_of(&al, 3), 2);
	assert_false(al_commit_due(&al));

	al_commit_done(&al);
	assert_int_equal(slot_state(&al, 3), AL_ACTIVE);
	assert_false(al_commit_due(&al));
	assert_int_equal(retry(&al, off, len, AL_WAIT_HELD), AL_READY);
	assert_int_equal(retry(&al, 3 * EXT, 1, AL_WAIT_HELD), AL_READY);
	assert_int_equal(refs_of(&al, 3), 2);
	/* Asking again after AL_READY (ending first) gives the same. */
	assert_int_equal(retry(&al, off, len, AL_READY), AL_READY);
	assert_int_equal(refs_of(&al, 3), 2);
	/* A write arriving now starts at once. */
	assert_int_equal(al_begin(&al, 3 * EXT, EXT), AL_READY);
	assert_int_equal(refs_of(&al, 3), 3);
	al_end(&al, off, len);
	al_end(&al, 3 * EXT, 1);
	al_end(&al, 3 * EXT, EXT);
	assert_int_equal(refs_of(&al, 3), 0);
	assert_int_equal(slot_state(&al, 3), AL_ACTIVE);
	/* The next transaction carries the whole set, with the next seq. */
	assert_int_equal(al_begin(&al, 0, 1), AL_WAIT_HELD);
	al_end(&al, 0, 1);
	al_commit_prepare(&al, &tx, &ev, &n_ev);
	assert_true(tx.seq == 2);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 0, 3 }, 2);
	al_commit_done(&al);
	assert_int_equal(total_refs(&al), 0);
}

/* A waiting write holds every extent of its range, whatever the slot's
 * state (ACTIVE, STAGED, COMMITTING), and al_end gives all of them
 * back. */
static void test_waiting_write_holds_refs(void **state)
{
	static const uint32_t act[] = { 2 };
	/* Extents 1, 2 and 3. */
	const uint64_t off = 2 * EXT - 4096, len = EXT + 8192;
	const uint32_t *ev;
	uint32_t n_ev;
	uint64_t used;

	(void)state;
	assert_int_equal(al_init(&al, 4, 16 * EXT), 0);
	make_active(&al, act, 1);
	assert_int_equal(al_span(&al, off, len), 3);
	used = al.slots[al.slot_of[2] - 1].last_use;
	assert_int_equal(al_begin(&al, off, len), AL_WAIT_HELD);
	assert_int_equal(slot_state(&al, 1), AL_STAGED);
	assert_int_equal(slot_state(&al, 2), AL_ACTIVE);
	assert_int_equal(slot_state(&al, 3), AL_STAGED);
	for (uint32_t e = 1; e <= 3; e++)
		assert_int_equal(refs_of(&al, e), 1);
	/* Holding counts as a use. */
	assert_true(al.slots[al.slot_of[2] - 1].last_use > used);
	assert_int_equal(al.staged, 2);
	assert_int_equal(total_refs(&al), 3);

	al_commit_prepare(&al, &tx, &ev, &n_ev);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 1, 2, 3 }, 3);
	assert_int_equal(retry(&al, off, len, AL_WAIT_HELD), AL_WAIT_HELD);
	for (uint32_t e = 1; e <= 3; e++)
		assert_int_equal(refs_of(&al, e), 1);
	assert_int_equal(slot_state(&al, 1), AL_COMMITTING);
	assert_false(al_commit_due(&al));
	al_commit_done(&al);

	assert_int_equal(retry(&al, off, len, AL_WAIT_HELD), AL_READY);
	for (uint32_t e = 1; e <= 3; e++) {
		assert_int_equal(slot_state(&al, e), AL_ACTIVE);
		assert_int_equal(refs_of(&al, e), 1);
	}
	assert_int_equal(total_refs(&al), 3);
	al_end(&al, off, len);
	assert_int_equal(total_refs(&al), 0);
}

/* A waiting write that gives up (al_end without a retry after
 * AL_WAIT_HELD; nothing at all after AL_WAIT) leaves its staged extents
 * to the next transaction, unreferenced and evictable like any idle
 * extent once active. */
static void test_abandoned_waiter(void **state)
{
	const uint32_t *evp;
	uint32_t ev[16], n_ev;

	(void)state;
	assert_int_equal(al_init(&al, 2, 16 * EXT), 0);
	assert_int_equal(al_begin(&al, 3 * EXT, 2 * EXT), AL_WAIT_HELD);
	al_end(&al, 3 * EXT, 2 * EXT);			/* 3 and 4 */
	assert_int_equal(refs_of(&al, 3), 0);
	assert_int_equal(refs_of(&al, 4), 0);
	assert_int_equal(slot_state(&al, 3), AL_STAGED);
	assert_true(al_commit_due(&al));
	commit(&al, ev, &n_ev);
	assert_int_equal(n_ev, 0);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 3, 4 }, 2);
	touch(&al, 4);
	/* 3 is idle and the least recently used. */
	assert_int_equal(al_begin(&al, 9 * EXT, 1), AL_WAIT_HELD);
	assert_int_equal(al.slot_of[3], 0);
	assert_int_equal(refs_of(&al, 9), 1);
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 3 }, 1);
	assert_int_equal(retry(&al, 9 * EXT, 1, AL_WAIT_HELD), AL_READY);
	al_end(&al, 9 * EXT, 1);

	/* Given up while its transaction is in flight: the same. */
	assert_int_equal(al_begin(&al, 11 * EXT, 1), AL_WAIT_HELD); /* evicts 4 */
	al_commit_prepare(&al, &tx, &evp, &n_ev);
	assert_set(evp, n_ev, (const uint32_t[]){ 4 }, 1);
	al_end(&al, 11 * EXT, 1);
	al_commit_done(&al);
	assert_int_equal(slot_state(&al, 11), AL_ACTIVE);
	assert_int_equal(total_refs(&al), 0);
	assert_int_equal(al_begin(&al, 12 * EXT, 1), AL_WAIT_HELD); /* evicts 9 */
	/* A write spanning 13 and 14 evicts 11 for 13, finds no slot for
	 * 14 (12 is held and 13 staged) and gives up with AL_WAIT: it holds
	 * nothing and owes no al_end; 13 stays staged, unreferenced. */
	assert_int_equal(al_begin(&al, 14 * EXT - 1, 2), AL_WAIT);
	assert_int_equal(al.slot_of[11], 0);
	assert_int_equal(al.slot_of[14], 0);
	assert_int_equal(slot_state(&al, 13), AL_STAGED);
	assert_int_equal(refs_of(&al, 13), 0);
	assert_int_equal(total_refs(&al), 1);
	al_end(&al, 12 * EXT, 1);
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 9, 11 }, 2);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 12, 13 }, 2);
	assert_int_equal(slot_state(&al, 13), AL_ACTIVE);
	assert_int_equal(total_refs(&al), 0);
}

static void test_write_spanning_extents(void **state)
{
	(void)state;
	assert_int_equal(al_init(&al, 8, 16 * EXT), 0);
	/* 1 KiB across the edge of extents 4 and 5. */
	assert_int_equal(al_begin(&al, 5 * EXT - 512, 1024), AL_WAIT_HELD);
	assert_int_equal(refs_of(&al, 4), 1);
	assert_int_equal(refs_of(&al, 5), 1);
	commit(&al, NULL, NULL);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 4, 5 }, 2);
	assert_int_equal(retry(&al, 5 * EXT - 512, 1024, AL_WAIT_HELD),
			 AL_READY);
	assert_int_equal(refs_of(&al, 4), 1);
	assert_int_equal(refs_of(&al, 5), 1);
	assert_int_equal(refs_of(&al, 6), 0);
	al_end(&al, 5 * EXT - 512, 1024);
	assert_int_equal(refs_of(&al, 4), 0);
	assert_int_equal(refs_of(&al, 5), 0);

	/* One extent of three missing: the write waits, and holds all
	 * three (two active, one staged). */
	assert_int_equal(al_begin(&al, 4 * EXT, 3 * EXT), AL_WAIT_HELD);
	assert_int_equal(refs_of(&al, 4), 1);
	assert_int_equal(refs_of(&al, 5), 1);
	assert_int_equal(refs_of(&al, 6), 1);
	assert_int_equal(slot_state(&al, 6), AL_STAGED);
	assert_int_equal(al.staged, 1);
	commit(&al, NULL, NULL);
	assert_int_equal(retry(&al, 4 * EXT, 3 * EXT, AL_WAIT_HELD), AL_READY);
	assert_int_equal(refs_of(&al, 4), 1);
	assert_int_equal(refs_of(&al, 6), 1);
	/* Exactly one extent, ending on its last byte. */
	assert_int_equal(al_span(&al, 6 * EXT, EXT), 1);
	assert_int_equal(al_begin(&al, 6 * EXT, EXT), AL_READY);
	assert_int_equal(refs_of(&al, 6), 2);
	assert_int_equal(refs_of(&al, 7), 0);
	al_end(&al, 6 * EXT, EXT);
	al_end(&al, 4 * EXT, 3 * EXT);
	assert_int_equal(total_refs(&al), 0);
}

/* al_span: the extents of the device a range touches. */
static void test_span(void **state)
{
	static const struct {
		uint64_t data_bytes, off, len;
		uint32_t want;
	} rows[] = {
		{ 16 * EXT, 0, 0, 0 },
		{ 16 * EXT, 5 * EXT, 0, 0 },
		{ 16 * EXT, 0, 1, 1 },
		{ 16 * EXT, 0, EXT, 1 },
		{ 16 * EXT, 0, EXT + 1, 2 },
		{ 16 * EXT, EXT - 1, 1, 1 },
		{ 16 * EXT, EXT - 1, 2, 2 },
		{ 16 * EXT, 3 * EXT, 3 * EXT, 3 },
		{ 16 * EXT, 3 * EXT + 1, 3 * EXT, 4 },
		{ 16 * EXT, 0, 16 * EXT, 16 },
		/* Clamped to the device. */
		{ 16 * EXT, 15 * EXT, 2 * EXT, 1 },
		{ 16 * EXT, 0, 100 * EXT, 16 },
		{ 16 * EXT, 16 * EXT, 1, 0 },
		{ 16 * EXT, 16 * EXT - 1, 1, 1 },
		{ 16 * EXT, 1000 * EXT, EXT, 0 },
		/* A partial last extent. */
		{ 3 * EXT + 4096, 3 * EXT, EXT, 1 },
		{ 3 * EXT + 4096, 3 * EXT + 4096, EXT, 1 },
		{ 3 * EXT + 4096, 2 * EXT, 2 * EXT, 2 },
		/* Ranges reaching past 2^64 reach past the device. */
		{ 16 * EXT, 0, UINT64_MAX, 16 },
		{ 16 * EXT, 3 * EXT, UINT64_MAX, 13 },
		{ 16 * EXT, 15 * EXT + 1, UINT64_MAX, 1 },
		{ 16 * EXT, 1, UINT64_MAX, 16 },
		{ 16 * EXT, 5 * EXT, UINT64_MAX - 5 * EXT, 11 },
		{ 16 * EXT, 5 * EXT, UINT64_MAX - 5 * EXT + 1, 11 },
		{ 16 * EXT, 5 * EXT, UINT64_MAX - EXT, 11 },
		/* Offsets whose extent index does not fit 32 bits. */
		{ 16 * EXT, (1ULL << 32) * EXT, 4096, 0 },
		{ 16 * EXT, (1ULL << 32) * EXT + 3 * EXT, UINT64_MAX, 0 },
		{ 16 * EXT, UINT64_MAX, 1, 0 },
		{ 16 * EXT, UINT64_MAX, UINT64_MAX, 0 },
		{ 16 * EXT, UINT64_MAX - 4095, 8192, 0 },
		/* No device. */
		{ 0, 0, 4096, 0 },
		{ 0, 0, UINT64_MAX, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		enum al_begin_result r, want;
		uint32_t got;

		assert_int_equal(al_init(&al, 8, rows[i].data_bytes), 0);
		got = al_span(&al, rows[i].off, rows[i].len);
		if (got != rows[i].want)
			fail_msg("row %zu: span(%llu, %llu) on %llu bytes = %u, "
				 "want %u", i, (unsigned long long)rows[i].off,
				 (unsigned long long)rows[i].len,
				 (unsigned long long)rows[i].data_bytes, got,
				 rows[i].want);
		/* A range touching no extent needs nothing; one touching
		 * some stages them, all of them when they fit the log.
		 * One that does not fit holds nothing, but what it staged
		 * before running out of slots stays staged. */
		r = al_begin(&al, rows[i].off, rows[i].len);
		want = got == 0 ? AL_READY : got <= 8 ? AL_WAIT_HELD : AL_WAIT;
		if (r != want)
			fail_msg("row %zu: al_begin = %d, want %d", i, r, want);
		assert_int_equal(al.staged, got <= 8 ? got : 8);
		assert_int_equal(total_refs(&al), got <= 8 ? got : 0);
		if (holds(r))
			al_end(&al, rows[i].off, rows[i].len);
		assert_int_equal(total_refs(&al), 0);
		al_fini(&al);
	}
}

static void test_range_edges(void **state)
{
	(void)state;
	/* 3 extents and a bit: the last one is partial. */
	assert_int_equal(al_init(&al, 8, 3 * EXT + 4096), 0);
	assert_int_equal(al.n_extents, 4);
	/* Nothing to log: empty, or wholly past the end. Ready, holding
	 * nothing; the al_end owed is harmless. */
	assert_int_equal(al_begin(&al, EXT, 0), AL_READY);
	assert_int_equal(al_begin(&al, 4 * EXT, 4096), AL_READY);
	assert_int_equal(al_begin(&al, 1000 * EXT, 4 * EXT), AL_READY);
	assert_false(al_commit_due(&al));
	assert_int_equal(total_refs(&al), 0);
	al_end(&al, EXT, 0);
	al_end(&al, 4 * EXT, 4096);
	al_end(&al, 1000 * EXT, 4 * EXT);
	assert_int_equal(total_refs(&al), 0);
	/* Reaching past the end logs only extents of the device. */
	assert_int_equal(al_begin(&al, 3 * EXT, 2 * EXT), AL_WAIT_HELD);
	assert_int_equal(refs_of(&al, 3), 1);
	commit(&al, NULL, NULL);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 3 }, 1);
	assert_int_equal(retry(&al, 3 * EXT, 2 * EXT, AL_WAIT_HELD), AL_READY);
	assert_int_equal(refs_of(&al, 3), 1);
	assert_int_equal(total_refs(&al), 1);
	al_end(&al, 3 * EXT, 2 * EXT);
	assert_int_equal(total_refs(&al), 0);

	al_fini(&al);
	assert_int_equal(al_init(&al, 8, 0), 0);
	assert_int_equal(al_begin(&al, 0, 4096), AL_READY);
	assert_false(al_commit_due(&al));
	al_end(&al, 0, 4096);
}

/*
 * Ranges whose numbers do not fit 32-bit extent indexes or whose end
 * wraps past 2^64 (len = UINT64_MAX, "to the end of the device", as the
 * bitmap accepts it). An offset 16 PiB past the end must not alias
 * extent 0, and a range from extent 3 to "the end" must log extent 3
 * (and only the extents from 3 on).
 */
static void test_range_past_u64(void **state)
{
	(void)state;
	assert_int_equal(al_init(&al, 8, 6 * EXT), 0);
	assert_int_equal(al_begin(&al, (1ULL << 32) * EXT, 4096), AL_READY);
	assert_int_equal(al_begin(&al, (1ULL << 32) * EXT, UINT64_MAX),
			 AL_READY);
	assert_int_equal(al_begin(&al, UINT64_MAX - 4095, 8192), AL_READY);
	assert_int_equal(al_begin(&al, UINT64_MAX, UINT64_MAX), AL_READY);
	for (uint32_t e = 0; e < 6; e++)
		assert_int_equal(al.slot_of[e], 0);
	assert_false(al_commit_due(&al));
	al_end(&al, (1ULL << 32) * EXT, 4096);
	al_end(&al, (1ULL << 32) * EXT, UINT64_MAX);
	al_end(&al, UINT64_MAX - 4095, 8192);
	al_end(&al, UINT64_MAX, UINT64_MAX);

	assert_int_equal(al_begin(&al, 3 * EXT, UINT64_MAX), AL_WAIT_HELD);
	for (uint32_t e = 0; e < 3; e++)
		assert_int_equal(al.slot_of[e], 0);
	for (uint32_t e = 3; e < 6; e++) {
		assert_int_equal(slot_state(&al, e), AL_STAGED);
		assert_int_equal(refs_of(&al, e), 1);
	}
	commit(&al, NULL, NULL);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 3, 4, 5 }, 3);
	assert_int_equal(retry(&al, 3 * EXT, UINT64_MAX, AL_WAIT_HELD),
			 AL_READY);
	assert_int_equal(total_refs(&al), 3);
	/* A range wrapping past 2^64 by one byte, from inside extent 4. */
	assert_int_equal(al_begin(&al, 4 * EXT + 1, UINT64_MAX - 4 * EXT),
			 AL_READY);
	assert_int_equal(refs_of(&al, 3), 1);
	assert_int_equal(refs_of(&al, 4), 2);
	assert_int_equal(refs_of(&al, 5), 2);
	al_end(&al, 4 * EXT + 1, UINT64_MAX - 4 * EXT);
	al_end(&al, 3 * EXT, UINT64_MAX);
	assert_int_equal(total_refs(&al), 0);
}

/* A full log whose extents all have writes in flight evicts nothing: the
 * new write gets AL_WAIT without staging (holding nothing), and gets in
 * once a slot is idle. */
static void test_refs_prevent_eviction(void **state)
{
	static const uint32_t ext[] = { 0, 1, 2, 3 };
	uint32_t ev[16], n_ev, out[8];

	(void)state;
	assert_int_equal(al_init(&al, 4, 16 * EXT), 0);
	make_active(&al, ext, 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(al_begin(&al, ext[i] * EXT, 4096), AL_READY);
	assert_int_equal(al_begin(&al, 9 * EXT, 4096), AL_WAIT);
	assert_int_equal(al.slot_of[9], 0);
	assert_false(al_commit_due(&al));
	assert_int_equal(al.n_evicted, 0);
	assert_int_equal(total_refs(&al), 4);
	assert_set(out, al_extents(&al, out, 8), ext, 4);
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(slot_state(&al, ext[i]), AL_ACTIVE);
		assert_int_equal(refs_of(&al, ext[i]), 1);
	}
	/* Asking again (no al_end: it holds nothing) changes nothing while
	 * every slot is busy. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(retry(&al, 9 * EXT, 4096, AL_WAIT), AL_WAIT);
		assert_int_equal(al.slot_of[9], 0);
		assert_int_equal(total_refs(&al), 4);
	}

	/* Extent 2's write completes: it is the one to go. */
	al_end(&al, 2 * EXT, 4096);
	assert_int_equal(retry(&al, 9 * EXT, 4096, AL_WAIT), AL_WAIT_HELD);
	assert_int_equal(slot_state(&al, 9), AL_STAGED);
	assert_int_equal(refs_of(&al, 9), 1);
	assert_int_equal(al.slot_of[2], 0);
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 2 }, 1);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 0, 1, 3, 9 }, 4);
	assert_int_equal(retry(&al, 9 * EXT, 4096, AL_WAIT_HELD), AL_READY);
	assert_int_equal(refs_of(&al, 9), 1);
	al_end(&al, 9 * EXT, 4096);
	for (uint32_t i = 0; i < 4; i++)
		if (ext[i] != 2)
			al_end(&al, ext[i] * EXT, 4096);
	assert_int_equal(total_refs(&al), 0);
}

/*
 * A write whose extents are partly in the log must not evict the part it
 * already has to make room for the rest: the next attempt would only
 * evict the other part, each attempt costing an AL transaction (and a
 * synchronous bitmap page write) without progress. Its own extent is the
 * least recently used here, and idle until the write asks.
 */
static void test_begin_keeps_own_extents(void **state)
{
	static const uint32_t ext[] = { 0, 5 };
	uint32_t ev[16], n_ev;

	(void)state;
	assert_int_equal(al_init(&al, 2, 16 * EXT), 0);
	make_active(&al, ext, 2);
	touch(&al, 5);
	/* Needs 0 (in the log, idle, oldest) and 1 (missing). */
	assert_int_equal(al_begin(&al, EXT - 512, 1024), AL_WAIT_HELD);
	if (al.slot_of[0] == 0)
		fail_msg("al_begin evicted extent 0, which the same write "
			 "needs, to stage extent 1");
	assert_int_equal(al.slot_of[5], 0);
	assert_int_equal(refs_of(&al, 0), 1);
	assert_int_equal(refs_of(&al, 1), 1);
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 5 }, 1);
	assert_int_equal(retry(&al, EXT - 512, 1024, AL_WAIT_HELD), AL_READY);
	al_end(&al, EXT - 512, 1024);
	assert_int_equal(total_refs(&al), 0);
}

/*
 * The same with the rest of the log pinned by a running write: the write
 * keeps extent 0 while it looks for a slot (it does not evict it), finds
 * none for extent 1, and answers AL_WAIT holding nothing: the reference
 * it took on 0 is given back. Once the running write is done, the next
 * try stages 1 in its slot.
 */
static void test_begin_partial_staging(void **state)
{
	static const uint32_t ext[] = { 0, 5 };
	uint32_t ev[16], n_ev;

	(void)state;
	assert_int_equal(al_init(&al, 2, 16 * EXT), 0);
	make_active(&al, ext, 2);
	assert_int_equal(al_begin(&al, 5 * EXT, 4096), AL_READY); /* pins 5 */
	assert_int_equal(al_begin(&al, EXT - 512, 1024), AL_WAIT);
	if (al.slot_of[0] == 0)
		fail_msg("al_begin evicted extent 0, which the same write "
			 "needs, to stage extent 1");
	assert_int_equal(al.slot_of[1], 0);
	assert_int_equal(refs_of(&al, 0), 0);
	assert_int_equal(refs_of(&al, 5), 1);
	assert_int_equal(total_refs(&al), 1);
	assert_false(al_commit_due(&al));
	assert_int_equal(al.n_evicted, 0);
	/* Nothing changes until the running write completes. */
	assert_int_equal(retry(&al, EXT - 512, 1024, AL_WAIT), AL_WAIT);
	assert_int_equal(al.slot_of[1], 0);
	assert_int_equal(total_refs(&al), 1);

	al_end(&al, 5 * EXT, 4096);
	assert_int_equal(retry(&al, EXT - 512, 1024, AL_WAIT), AL_WAIT_HELD);
	assert_int_equal(refs_of(&al, 0), 1);
	assert_int_equal(refs_of(&al, 1), 1);
	assert_int_equal(slot_state(&al, 1), AL_STAGED);
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 5 }, 1);
	assert_int_equal(retry(&al, EXT - 512, 1024, AL_WAIT_HELD), AL_READY);
	al_end(&al, EXT - 512, 1024);
	assert_int_equal(total_refs(&al), 0);
}

/*
 * AL_WAIT after staging part of the range: the write holds nothing (the
 * reference on its extent already in the log and the one on what it
 * staged are both given back), the extent it staged stays staged for the
 * next transaction, and the extent that made room is reported evicted.
 * The write needs 4 (in the log, idle, the oldest), 5 and 6 (missing);
 * 8 and 9 are pinned by running writes, 7 is idle.
 */
static void test_wait_holds_nothing(void **state)
{
	static const uint32_t ext[] = { 4, 7, 8, 9 };
	const uint64_t off = 5 * EXT - 512, len = EXT + 1024;	/* 4..6 */
	uint32_t ev[16], n_ev;
	uint64_t used;

	(void)state;
	assert_int_equal(al_init(&al, 4, 16 * EXT), 0);
	make_active(&al, ext, 4);
	assert_int_equal(al_begin(&al, 8 * EXT, 4096), AL_READY);
	assert_int_equal(al_begin(&al, 9 * EXT, 4096), AL_READY);
	assert_int_equal(al_span(&al, off, len), 3);
	used = al.slots[al.slot_of[4] - 1].last_use;

	assert_int_equal(al_begin(&al, off, len), AL_WAIT);
	assert_true(al.slot_of[4] != 0);
	assert_int_equal(slot_state(&al, 4), AL_ACTIVE);
	assert_int_equal(refs_of(&al, 4), 0);
	assert_int_equal(slot_state(&al, 5), AL_STAGED);
	assert_int_equal(refs_of(&al, 5), 0);
	assert_int_equal(al.slot_of[6], 0);
	assert_int_equal(al.slot_of[7], 0);
	assert_int_equal(refs_of(&al, 8), 1);
	assert_int_equal(refs_of(&al, 9), 1);
	assert_int_equal(total_refs(&al), 2);
	assert_int_equal(al.staged, 1);
	assert_int_equal(al.n_evicted, 1);
	assert_int_equal(al.evicted[0], 7);
	/* The try still counts as a use of 4. */
	assert_true(al.slots[al.slot_of[4] - 1].last_use > used);
	/* What it staged is committed as for any write. */
	assert_true(al_commit_due(&al));
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 7 }, 1);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 4, 5, 8, 9 }, 4);
	assert_int_equal(slot_state(&al, 5), AL_ACTIVE);
	assert_int_equal(total_refs(&al), 2);

	/* Still no slot for 6: AL_WAIT again, still holding nothing. */
	assert_int_equal(retry(&al, off, len, AL_WAIT), AL_WAIT);
	assert_int_equal(total_refs(&al), 2);
	assert_false(al_commit_due(&al));
	/* 8's write completes: the next try holds 4 and 5 and stages 6 in
	 * 8's slot. */
	al_end(&al, 8 * EXT, 4096);
	assert_int_equal(retry(&al, off, len, AL_WAIT), AL_WAIT_HELD);
	assert_int_equal(al.slot_of[8], 0);
	for (uint32_t e = 4; e <= 6; e++)
		assert_int_equal(refs_of(&al, e), 1);
	assert_int_equal(slot_state(&al, 6), AL_STAGED);
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 8 }, 1);
	assert_int_equal(retry(&al, off, len, AL_WAIT_HELD), AL_READY);
	assert_int_equal(total_refs(&al), 4);
	al_end(&al, off, len);
	al_end(&al, 9 * EXT, 4096);
	assert_int_equal(total_refs(&al), 0);
}

/*
 * A waiting write's extents stay in the log while other writes stage
 * theirs: otherwise two waiting writes could evict each other's extents
 * for ever, one transaction each. W1 needs 2 (in the log, the oldest)
 * and 3 (staged by W1, evicting 0); W2 then stages 9 in the last idle
 * slot; W3 finds no slot: 2 is held by W1, 3 and 9 are staged.
 */
static void test_waiting_write_not_evicted(void **state)
{
	static const uint32_t ext[] = { 0, 1, 2 };
	const uint64_t w1 = 3 * EXT - 512, w1_len = 1024;	/* 2 and 3 */
	uint32_t ev[16], n_ev;

	(void)state;
	assert_int_equal(al_init(&al, 3, 16 * EXT), 0);
	make_active(&al, ext, 3);
	touch(&al, 0);
	touch(&al, 1);
	/* Use order 2, 0, 1 (oldest first). W1 holds 2 first, so 0 is
	 * evicted for 3. */
	assert_int_equal(al_begin(&al, w1, w1_len), AL_WAIT_HELD);
	assert_int_equal(al.slot_of[0], 0);
	assert_int_equal(refs_of(&al, 2), 1);
	assert_int_equal(refs_of(&al, 3), 1);
	assert_int_equal(slot_state(&al, 3), AL_STAGED);
	/* W2 stages 9 in the last idle slot (1's). */
	assert_int_equal(al_begin(&al, 9 * EXT, 4096), AL_WAIT_HELD);
	assert_int_equal(al.slot_of[1], 0);
	/* W3 finds no slot: 2 is held by the waiting W1, 3 and 9 are
	 * staged. It holds nothing. */
	assert_int_equal(al_begin(&al, 10 * EXT, 4096), AL_WAIT);
	assert_int_equal(al.slot_of[10], 0);
	if (al.slot_of[2] == 0)
		fail_msg("extent 2, held by a waiting write, was evicted");
	assert_int_equal(total_refs(&al), 3);
	commit(&al, ev, &n_ev);
	assert_int_equal(n_ev, 2);
	assert_int_equal(ev[0], 0);
	assert_int_equal(ev[1], 1);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 2, 3, 9 }, 3);
	assert_int_equal(retry(&al, w1, w1_len, AL_WAIT_HELD), AL_READY);
	assert_int_equal(retry(&al, 9 * EXT, 4096, AL_WAIT_HELD), AL_READY);
	/* W3 still finds every slot busy. */
	assert_int_equal(retry(&al, 10 * EXT, 4096, AL_WAIT), AL_WAIT);
	assert_int_equal(al.slot_of[10], 0);
	assert_int_equal(total_refs(&al), 3);
	al_end(&al, 9 * EXT, 4096);
	al_end(&al, w1, w1_len);
	assert_int_equal(total_refs(&al), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_init, al_teardown),
		cmocka_unit_test_teardown(test_begin_stage_commit, al_teardown),
		cmocka_unit_test_teardown(test_waiting_write_holds_refs, al_teardown),
		cmocka_unit_test_teardown(test_abandoned_waiter, al_teardown),
		cmocka_unit_test_teardown(test_write_spanning_extents, al_teardown),
		cmocka_unit_test_teardown(test_span, al_teardown),
		cmocka_unit_test_teardown(test_range_edges, al_teardown),
		cmocka_unit_test_teardown(test_range_past_u64, al_teardown),
		cmocka_unit_test_teardown(test_refs_prevent_eviction, al_teardown),
		cmocka_unit_test_teardown(test_begin_keeps_own_extents, al_teardown),
		cmocka_unit_test_teardown(test_begin_partial_staging, al_teardown),
		cmocka_unit_test_teardown(test_wait_holds_nothing, al_teardown),
		cmocka_unit_test_teardown(test_waiting_write_not_evicted, al_teardown),
	};

	return cmocka_run_group_tests_name("al", tests, NULL, NULL);
}
