/* test_al_evict.c - blockd/core/al.c, fixed cases of eviction: the LRU
 * order and the evicted list, evictions while a transaction commits,
 * restoring a committed set, writes wider than the log, and al_end giving
 * back only a write's own references (the contract: test_al.c). */

#include "al_fixture.h"
#include "al_cases.h"

/* Idle extents leave least recently used first, and prepare lists them
 * in the order they left. */
static void test_lru_eviction(void **state)
{
	static const uint32_t ext[] = { 10, 11, 12, 13 };
	uint32_t ev[16], n_ev;

	(void)state;
	assert_int_equal(al_init(&al, 4, 32 * EXT), 0);
	make_active(&al, ext, 4);
	touch(&al, 12);
	touch(&al, 10);
	touch(&al, 13);
	touch(&al, 11);
	/* Use order now 12, 10, 13, 11 (oldest first). Each new write
	 * gives up at once, so what it staged is idle. */
	assert_int_equal(al_begin(&al, 20 * EXT, 1), AL_WAIT_HELD);
	al_end(&al, 20 * EXT, 1);
	assert_int_equal(al.slot_of[12], 0);
	assert_int_equal(al_begin(&al, 21 * EXT, 1), AL_WAIT_HELD);
	al_end(&al, 21 * EXT, 1);
	assert_int_equal(al.slot_of[10], 0);
	/* A write in 13 makes 11 the oldest idle one. */
	touch(&al, 13);
	assert_int_equal(al_begin(&al, 22 * EXT, 1), AL_WAIT_HELD);
	al_end(&al, 22 * EXT, 1);
	assert_int_equal(al.slot_of[11], 0);
	assert_true(al.slot_of[13] != 0);
	commit(&al, ev, &n_ev);
	assert_int_equal(n_ev, 3);
	assert_int_equal(ev[0], 12);
	assert_int_equal(ev[1], 10);
	assert_int_equal(ev[2], 11);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 13, 20, 21, 22 }, 4);
	/* The list is consumed by the commit. Staging counts as a use:
	 * 20 is now older than 13. */
	assert_int_equal(al_begin(&al, 23 * EXT, 1), AL_WAIT_HELD);
	al_end(&al, 23 * EXT, 1);
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 20 }, 1);
	/* A waiting write's reference counts as a use too: 21 (held by a
	 * write waiting for 24 as well) outlives 22. */
	touch(&al, 22);
	touch(&al, 13);
	touch(&al, 23);
	/* Oldest now 21, then 22. */
	assert_int_equal(al_begin(&al, 25 * EXT - 1, 2), AL_WAIT_HELD);
	al_end(&al, 25 * EXT - 1, 2);			/* 24 and 25 */
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 21, 22 }, 2);
	assert_int_equal(ev[0], 21);
	touch(&al, 24);
	touch(&al, 25);
	touch(&al, 13);
	/* Oldest 23, then 24. A write on 22..23 holds 23 (making it the
	 * newest) and stages 22, evicting 24. */
	assert_int_equal(al_begin(&al, 23 * EXT - 1, 2), AL_WAIT_HELD);
	assert_true(al.slot_of[23] != 0);
	assert_int_equal(al.slot_of[24], 0);
	al_end(&al, 23 * EXT - 1, 2);
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 24 }, 1);
	assert_int_equal(total_refs(&al), 0);
}

/* Evictions made while a transaction is in flight are not part of it:
 * it still names the extent, and the next transaction reports it. */
static void test_evictions_during_commit(void **state)
{
	static const uint32_t ext[] = { 0, 1, 2, 3 };
	const uint32_t *ev;
	uint32_t n_ev;

	(void)state;
	assert_int_equal(al_init(&al, 4, 16 * EXT), 0);
	make_active(&al, ext, 4);
	touch(&al, 1);
	touch(&al, 2);
	touch(&al, 3);
	assert_int_equal(al_begin(&al, 8 * EXT, 1), AL_WAIT_HELD); /* evicts 0 */
	al_commit_prepare(&al, &tx, &ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 0 }, 1);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 1, 2, 3, 8 }, 4);

	/* Evicts 1, which the transaction in flight names. */
	assert_int_equal(al_begin(&al, 9 * EXT, 1), AL_WAIT_HELD);
	assert_int_equal(al.slot_of[1], 0);
	assert_false(al_commit_due(&al));
	/* The in-flight transaction still names 1. */
	assert_true(tx_has(&tx, 1));
	assert_false(tx_has(&tx, 9));
	al_commit_done(&al);
	assert_int_equal(slot_state(&al, 8), AL_ACTIVE);
	assert_int_equal(slot_state(&al, 9), AL_STAGED);
	assert_true(al_commit_due(&al));
	assert_int_equal(retry(&al, 8 * EXT, 1, AL_WAIT_HELD), AL_READY);
	assert_int_equal(retry(&al, 9 * EXT, 1, AL_WAIT_HELD), AL_WAIT_HELD);

	al_commit_prepare(&al, &tx, &ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 1 }, 1);
	assert_set(tx.ext, tx.n, (const uint32_t[]){ 2, 3, 8, 9 }, 4);
	al_commit_done(&al);
	assert_int_equal(al.n_evicted, 0);
	assert_int_equal(retry(&al, 9 * EXT, 1, AL_WAIT_HELD), AL_READY);
	al_end(&al, 8 * EXT, 1);
	al_end(&al, 9 * EXT, 1);
	assert_int_equal(total_refs(&al), 0);
}

static void test_load(void **state)
{
	static struct meta_al in;
	uint32_t out[16], ev[16], n_ev;

	(void)state;
	assert_int_equal(al_init(&al, 4, 16 * EXT), 0);
	in.seq = 41;
	in.n = 3;
	in.ext[0] = 5;
	in.ext[1] = 7;
	in.ext[2] = 15;
	al_load(&al, &in);
	assert_set(out, al_extents(&al, out, 16), in.ext, 3);
	assert_false(al_commit_due(&al));
	assert_int_equal(total_refs(&al), 0);
	/* Restored extents are usable without a new transaction. */
	assert_int_equal(al_begin(&al, 5 * EXT, 1), AL_READY);
	assert_int_equal(al_begin(&al, 15 * EXT + EXT - 1, 1), AL_READY);
	assert_int_equal(al_begin(&al, 7 * EXT, EXT), AL_READY);
	al_end(&al, 5 * EXT, 1);
	al_end(&al, 15 * EXT + EXT - 1, 1);
	al_end(&al, 7 * EXT, EXT);
	/* al_extents stops at max. */
	assert_int_equal(al_extents(&al, out, 2), 2);
	/* The sequence continues from the restored one. */
	assert_int_equal(al_begin(&al, 0, 1), AL_WAIT_HELD);
	al_end(&al, 0, 1);
	assert_int_equal(al_begin(&al, EXT, 1), AL_WAIT_HELD); /* evicts 5 */
	al_end(&al, EXT, 1);
	commit(&al, ev, &n_ev);
	assert_true(tx.seq == 42);
	assert_set(ev, n_ev, (const uint32_t[]){ 5 }, 1);
	assert_int_equal(tx.n, 4);
	assert_true(tx_has(&tx, 0) && tx_has(&tx, 1));
	al_fini(&al);

	/* Extents past the device (it shrank) or repeated are skipped. */
	assert_int_equal(al_init(&al, 4, 8 * EXT), 0);
	in.n = 4;
	in.ext[0] = 2;
	in.ext[1] = 2;
	in.ext[2] = 8;
	in.ext[3] = 7;
	al_load(&al, &in);
	assert_set(out, al_extents(&al, out, 16), (const uint32_t[]){ 2, 7 }, 2);
	assert_int_equal(al_begin(&al, 7 * EXT, 1), AL_READY);
	/* Only extent 7 is on the device. */
	assert_int_equal(al_begin(&al, 8 * EXT - 1, 2), AL_READY);
	assert_int_equal(refs_of(&al, 7), 2);
	assert_int_equal(al_begin(&al, 3 * EXT, 1), AL_WAIT_HELD);
	assert_int_equal(refs_of(&al, 3), 1);
	al_end(&al, 7 * EXT, 1);
	al_end(&al, 8 * EXT - 1, 2);
	al_end(&al, 3 * EXT, 1);
	assert_int_equal(total_refs(&al), 0);
}

/*
 * A write spanning more extents than the log holds: with al-extents 7
 * (the smallest the config accepts) a 32 MiB NBD write not aligned to
 * 4 MiB spans 9 extents; TRIM and WRITE_ZEROES can span any number. The
 * write path does not ask the log for writes spanning more than half of
 * it (it marks them out of sync instead), so al_span must count them
 * right: exactly, and above cap / 2.
 */
static void test_write_wider_than_log(void **state)
{
	static const struct {
		uint64_t off, len;
		uint32_t span;
	} rows[] = {
		{ 2 * EXT + 4096, 32ULL << 20, 9 },
		{ 2 * EXT, 32ULL << 20, 8 },
		{ 0, 64 * EXT, 64 },
		{ 5 * EXT, UINT64_MAX, 59 },
		{ 7 * EXT - 1, 2 * EXT + 2, 4 },
		/* Still for the log: at most half of it. */
		{ 7 * EXT - 1, 2 * EXT + 1, 3 },
		{ 7 * EXT, 3 * EXT, 3 },
		{ 63 * EXT, 8 * EXT, 1 },
	};

	(void)state;
	assert_int_equal(al_init(&al, 7, 64 * EXT), 0);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		uint32_t got = al_span(&al, rows[i].off, rows[i].len);

		if (got != rows[i].span)
			fail_msg("row %zu: span %u, want %u", i, got,
				 rows[i].span);
		assert_true((got > al.cap / 2) == (rows[i].span > 3));
	}
	/* al_span is pure. */
	assert_false(al_commit_due(&al));
	assert_int_equal(al_extents(&al, tx.ext, META_AL_EXTENTS_MAX), 0);
}

/*
 * Liveness of one write, from a full log of idle extents: any write
 * spanning up to the whole log stages what it misses (evicting exactly
 * as many idle extents), holds all of its extents while it waits, needs
 * exactly one transaction, and then gets in.
 */
static void test_fits_after_one_commit(void **state)
{
	uint32_t ev[2 * 16], n_ev, fill[16];

	(void)state;
	for (uint32_t cap = 1; cap <= 12; cap++) {
		for (uint32_t span = 1; span <= cap; span++) {
			for (uint32_t have = 0; have < span && have < 3; have++) {
				const uint64_t off = 3 * EXT + 777;
				const uint64_t len = (uint64_t)(span - 1) * EXT +
						     (EXT - 777);
				enum al_begin_result r;

				assert_int_equal(al_init(&al, cap, 64 * EXT), 0);
				/* The log full of idle extents; the write's
				 * first `have` extents among them. */
				for (uint32_t i = 0; i < cap; i++)
					fill[i] = i < have ? 3 + i : 40 + i;
				make_active(&al, fill, cap);
				assert_int_equal(al_span(&al, off, len), span);
				assert_int_equal(al_begin(&al, off, len),
						 AL_WAIT_HELD);
				for (uint32_t e = 3; e < 3 + span; e++)
					assert_int_equal(refs_of(&al, e), 1);
				assert_int_equal(total_refs(&al), span);
				commit(&al, ev, &n_ev);
				assert_int_equal(n_ev, span - have);
				for (uint32_t i = 0; i < n_ev; i++)
					assert_true(ev[i] >= 40);
				r = retry(&al, off, len, AL_WAIT_HELD);
				if (r != AL_READY)
					fail_msg("cap %u: a %u-extent write (%u in "
						 "the log) gets %d after one "
						 "transaction", cap, span, have, r);
				assert_false(al_commit_due(&al));
				assert_int_equal(total_refs(&al), span);
				al_end(&al, off, len);
				assert_int_equal(total_refs(&al), 0);
				al_fini(&al);
			}
		}
	}
}

/*
 * Two writes waiting at once, which al.h allows. W1 needs extents 0 and
 * 1 but finds no slot for 1 (5 is pinned by a running write R): AL_WAIT,
 * so it holds nothing, not even 0. R completes; W2 then stages 1,
 * evicting 5, and holds it. W1 asks again without an al_end (it owes
 * none), which leaves W2's reference on 1 alone. Were W1 to hold 0 alone
 * and end its whole range before retrying, it would take W2's reference
 * on 1: the counts would stay one short from then on, and once both run
 * and W2 completes, extent 1 would be idle with W1 still writing in it;
 * the next miss would evict it -- the durable log would stop naming an
 * extent with a write in flight, so a crash would not resync it.
 */
static void test_end_releases_only_own_refs(void **state)
{
	static const uint32_t ext[] = { 0, 5 };
	const uint64_t w1 = EXT - 512, w1_len = 1024;	/* extents 0, 1 */
	const uint64_t w2 = EXT, w2_len = 4096;		/* extent 1 */
	uint32_t ev[16], n_ev;
	enum al_begin_result r1;

	(void)state;
	assert_int_equal(al_init(&al, 2, 16 * EXT), 0);
	make_active(&al, ext, 2);
	assert_int_equal(al_begin(&al, 5 * EXT, 4096), AL_READY);	/* R */
	r1 = al_begin(&al, w1, w1_len);				/* W1 */
	assert_int_equal(r1, AL_WAIT);
	if (refs_of(&al, 0) != 0)
		fail_msg("W1 got AL_WAIT but still holds extent 0 (%u "
			 "references)", refs_of(&al, 0));
	assert_int_equal(al.slot_of[1], 0);
	assert_int_equal(total_refs(&al), 1);
	al_end(&al, 5 * EXT, 4096);				/* R completes */
	assert_int_equal(al_begin(&al, w2, w2_len), AL_WAIT_HELD);	/* W2 */
	assert_int_equal(slot_state(&al, 1), AL_STAGED);
	assert_int_equal(al.slot_of[5], 0);
	assert_int_equal(refs_of(&al, 0), 0);
	assert_int_equal(refs_of(&al, 1), 1);

	/* W1 retries: no al_end after AL_WAIT. */
	r1 = retry(&al, w1, w1_len, r1);
	assert_int_equal(r1, AL_WAIT_HELD);
	if (refs_of(&al, 0) != 1 || refs_of(&al, 1) != 2)
		fail_msg("W1 (extents 0, 1) and W2 (extent 1) waiting: refs "
			 "0: %u, 1: %u; want 1 and 2", refs_of(&al, 0),
			 refs_of(&al, 1));
	commit(&al, ev, &n_ev);
	assert_set(ev, n_ev, (const uint32_t[]){ 5 }, 1);
	assert_int_equal(retry(&al, w2, w2_len, AL_WAIT_HELD), AL_READY);
	r1 = retry(&al, w1, w1_len, r1);			/* W1 runs */
	assert_int_equal(r1, AL_READY);
	if (refs_of(&al, 1) != 2)
		fail_msg("W1 and W2 both run in extent 1, which has %u "
			 "references", refs_of(&al, 1));
	al_end(&al, w2, w2_len);				/* W2 completes */
	assert_int_equal(refs_of(&al, 0), 1);
	assert_int_equal(refs_of(&al, 1), 1);
	/* A miss: both slots are W1's, so it finds none. */
	assert_int_equal(al_begin(&al, 9 * EXT, 4096), AL_WAIT);
	if (al.slot_of[1] == 0)
		fail_msg("extent 1 was evicted for extent 9 while W1 still "
			 "writes in it");
	assert_int_equal(al.slot_of[9], 0);
	assert_int_equal(al.n_evicted, 0);
	al_end(&al, w1, w1_len);				/* W1 completes */
	assert_int_equal(total_refs(&al), 0);
	/* Now the miss gets a slot. */
	assert_int_equal(al_begin(&al, 9 * EXT, 4096), AL_WAIT_HELD);
	al_end(&al, 9 * EXT, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lru_eviction, al_teardown),
		cmocka_unit_test_teardown(test_evictions_during_commit, al_teardown),
		cmocka_unit_test_teardown(test_load, al_teardown),
		cmocka_unit_test_teardown(test_write_wider_than_log, al_teardown),
		cmocka_unit_test_teardown(test_fits_after_one_commit, al_teardown),
		cmocka_unit_test_teardown(test_end_releases_only_own_refs, al_teardown),
	};

	return cmocka_run_group_tests_name("al_evict", tests, NULL, NULL);
}
