/* test_al_model.c - blockd/core/al.c: seeded random sequences of writes
 * against an exact model of the activity log (the contract is spelled out
 * in test_al.c).
 *
 * The model covers the three answers of al_begin(), slot states,
 * references, LRU order, transactions, evicted lists, and what is durable
 * on disk: a write only runs in an extent that the last
 * durable transaction (and the one in flight) names, and an extent leaves
 * the durable set only after prepare reported it as evicted. One family
 * of sequences retries only the head of a FIFO of waiting writes, as the
 * write path does, and then checks that every waiting write gets in
 * within one transaction once nothing else is in flight; the other lets
 * any number of waiting writes hold references and retry in any order.
 */

#include "al_fixture.h"

/* ---- random sequences against a model --------------------------------- */

#define M_EXT 24	/* extents of the device (the last one partial) */
#define M_WRITES 48
#define M_EV (4 * M_EXT)

struct write {
	uint64_t off, len;
	uint32_t held;	/* bit e: holds a reference on extent e */
	bool begun;	/* AL_READY or AL_WAIT_HELD: al_end owed */
	bool big;	/* wider than half the log: never asks it */
};

/* Slot states by extent, AL_FREE meaning "not in the log". */
struct model {
	uint32_t cap;
	bool fifo;	/* write path discipline: only the head asks again */
	uint8_t state[M_EXT];
	uint32_t refs[M_EXT];
	uint64_t use[M_EXT], tick;
	bool durable[M_EXT];	/* named by the last durable transaction */
	bool in_flight[M_EXT];	/* named by the transaction being written */
	bool committing;
	uint64_t seq;
	uint32_t ev[M_EV];	/* evictions not yet consumed by a commit */
	unsigned n_ev, n_ev_committing;
	struct write run[M_WRITES], wait[M_WRITES];	/* wait: FIFO order */
	unsigned n_run, n_wait;
	/* coverage */
	unsigned long commits, evictions, stage_failures, waits_held,
		waits_nothing, rollbacks, leftovers, waits,
		admitted_after_wait, big, worst_commits;
};

static struct model m;
static uint64_t rng_state;
static uint64_t cur_seed;
static int cur_step;

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond))                                                \
			fail_msg("cap %u %s seed %llu step %d: %s", m.cap,  \
				 m.fifo ? "fifo" : "any-order",             \
				 (unsigned long long)cur_seed, cur_step,    \
				 #cond);                                    \
	} while (0)

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Extents [first, last] of a write, clamped to the device, computed in
 * 128 bits; false when it touches none. */
static bool w_range(const struct write *w, uint32_t *first, uint32_t *last)
{
	unsigned __int128 end = (unsigned __int128)w->off + w->len;
	uint64_t f = w->off / EXT;
	unsigned __int128 l;

	if (w->len == 0 || f >= M_EXT)
		return false;
	l = (end - 1) / EXT;
	*first = (uint32_t)f;
	*last = l >= M_EXT ? M_EXT - 1 : (uint32_t)l;
	return true;
}

static uint32_t w_span(const struct write *w)
{
	uint32_t f, l;

	return w_range(w, &f, &l) ? l - f + 1 : 0;
}

static uint32_t m_in_log(void)
{
	uint32_t n = 0;

	for (uint32_t e = 0; e < M_EXT; e++)
		n += m.state[e] != AL_FREE;
	return n;
}

static void m_stage(struct write *w, uint32_t e)
{
	m.state[e] = AL_STAGED;
	m.refs[e] = 1;
	m.use[e] = ++m.tick;
	w->held |= 1U << e;
}

/* The extents a write touches, as a mask (0 for none). */
static uint32_t w_mask(const struct write *w)
{
	uint32_t first, last;

	return w_range(w, &first, &last) ? (2U << last) - (1U << first) : 0;
}

/* al_begin, predicted: references on what is in the log first, then the
 * missing extents staged in order while a slot is free or idle. If one
 * finds no slot, every reference the call took is given back (what it
 * staged stays staged, its evictions stay evicted, its uses stay uses):
 * AL_WAIT, holding nothing. Otherwise it holds its whole range: AL_READY
 * when all of it is active, else AL_WAIT_HELD. */
static enum al_begin_result m_begin(struct write *w)
{
	uint32_t first, last, held_before = 0, staged_now = 0;
	bool ready = true, slotted = true;
	enum al_begin_result got, want;

	CHECK(!w->begun && w->held == 0);
	got = al_begin(&al, w->off, w->len);
	CHECK(got == AL_READY || got == AL_WAIT_HELD || got == AL_WAIT);
	if (!w_range(w, &first, &last)) {
		CHECK(got == AL_READY);
		w->begun = true;
		return got;
	}
	for (uint32_t e = first; e <= last; e++) {
		if (m.state[e] == AL_FREE)
			continue;
		m.refs[e]++;
		m.use[e] = ++m.tick;
		w->held |= 1U << e;
		held_before |= 1U << e;
		if (m.state[e] != AL_ACTIVE)
			ready = false;
	}
	for (uint32_t e = first; e <= last; e++) {
		int victim = -1;

		if (held_before & (1U << e))
			continue;
		ready = false;
		if (m_in_log() < m.cap) {
			m_stage(w, e);
			staged_now |= 1U << e;
			continue;
		}
		for (uint32_t v = 0; v < M_EXT; v++)
			if (m.state[v] == AL_ACTIVE && m.refs[v] == 0 &&
			    (victim < 0 || m.use[v] < m.use[victim]))
				victim = (int)v;
		if (victim < 0) {
			m.stage_failures++;
			slotted = false;
			continue;
		}
		m.state[victim] = AL_FREE;
		CHECK(m.n_ev < M_EV);
		m.ev[m.n_ev++] = (uint32_t)victim;
		m.evictions++;
		m_stage(w, e);
		staged_now |= 1U << e;
	}
	/* A write never loses its own extents to its own staging. */
	for (uint32_t e = first; e <= last; e++)
		if (held_before & (1U << e))
			CHECK(al.slot_of[e] != 0);
	if (slotted) {
		CHECK(w->held == w_mask(w));
		want = ready ? AL_READY : AL_WAIT_HELD;
		m.waits_held += !ready;
		w->begun = true;
	} else {
		for (uint32_t e = first; e <= last; e++) {
			if (w->held & (1U << e)) {
				CHECK(m.refs[e] > 0);
				m.refs[e]--;
			}
		}
		m.rollbacks += w->held != 0;
		m.leftovers += staged_now != 0;
		m.waits_nothing++;
		w->held = 0;
		want = AL_WAIT;
	}
	if (got != want)
		fail_msg("cap %u %s seed %llu step %d: al_begin on extents "
			 "%u..%u = %d, want %d", m.cap,
			 m.fifo ? "fifo" : "any-order",
			 (unsigned long long)cur_seed, cur_step, first, last,
			 got, want);
	/* After AL_WAIT the write holds nothing: every extent of its range
	 * has exactly the references of the other writes. */
	for (uint32_t e = first; e <= last; e++)
		CHECK(refs_of(&al, e) == m.refs[e]);
	return got;
}

/* al_end, owed after AL_READY or AL_WAIT_HELD only: the write gives back
 * exactly what it holds, its whole range. */
static void m_end(struct write *w)
{
	uint32_t first, last;

	CHECK(w->begun);
	CHECK(w->held == w_mask(w));
	al_end(&al, w->off, w->len);
	for (uint32_t e = 0; e < M_EXT; e++) {
		if (w->held & (1U << e)) {
			CHECK(m.refs[e] > 0);
			m.refs[e]--;
		}
	}
	if (w_range(w, &first, &last)) {
		for (uint32_t e = first; e <= last; e++) {
			if (refs_of(&al, e) != m.refs[e])
				fail_msg("cap %u %s seed %llu step %d: al_end of "
					 "a write on extents %u..%u (holding "
					 "%s%u) leaves extent %u with %u "
					 "references, want %u (held by other "
					 "writes)", m.cap,
					 m.fifo ? "fifo" : "any-order",
					 (unsigned long long)cur_seed, cur_step,
					 first, last,
					 (w->held & (1U << e)) ? "" : "not ",
					 e, e, refs_of(&al, e), m.refs[e]);
		}
	}
	w->held = 0;
	w->begun = false;
}

static void check_invariants(void)
{
	uint32_t staged = 0, non_free = 0, out[M_EXT + 1], n_out;
	uint32_t sum[M_EXT] = { 0 };
	bool listed[M_EXT] = { false };

	for (uint32_t i = 0; i < al.cap; i++) {
		const struct al_slot *s = &al.slots[i];

		if (s->state == AL_FREE) {
			CHECK(s->refs == 0);
			continue;
		}
		non_free++;
		staged += s->state == AL_STAGED;
		CHECK(s->ext < M_EXT);
		CHECK(al.slot_of[s->ext] == i + 1);
		if (s->state == AL_ACTIVE) {
			/* Writes may run here: the disk must name it,
			 * whichever of the two transactions it holds. */
			CHECK(m.durable[s->ext]);
			if (m.committing)
				CHECK(m.in_flight[s->ext]);
		}
		if (s->state == AL_COMMITTING)
			CHECK(m.committing && m.in_flight[s->ext]);
	}
	/* The log matches the model extent by extent. */
	for (uint32_t e = 0; e < M_EXT; e++) {
		uint32_t sl = al.slot_of[e];

		CHECK(sl <= al.cap);
		CHECK(slot_state(&al, e) == m.state[e]);
		CHECK(refs_of(&al, e) == m.refs[e]);
		/* A held extent is in the log. */
		CHECK(m.refs[e] == 0 || m.state[e] != AL_FREE);
		if (sl)
			CHECK(al.slots[sl - 1].ext == e &&
			      al.slots[sl - 1].state != AL_FREE);
		for (uint32_t f = 0; f < M_EXT; f++)
			if (sl && al.slot_of[f] && f != e)
				CHECK((al.slots[sl - 1].last_use <
				       al.slots[al.slot_of[f] - 1].last_use) ==
				      (m.use[e] < m.use[f]));
	}
	/* The model's references are those the writes hold, and a write
	 * holds all of its extents (al_end owed) or none. */
	for (unsigned i = 0; i < m.n_run; i++) {
		for (uint32_t e = 0; e < M_EXT; e++)
			sum[e] += (m.run[i].held >> e) & 1;
		CHECK(m.run[i].held == (m.run[i].begun ? w_mask(&m.run[i]) : 0));
		CHECK(m.run[i].begun != m.run[i].big);
	}
	for (unsigned i = 0; i < m.n_wait; i++) {
		for (uint32_t e = 0; e < M_EXT; e++)
			sum[e] += (m.wait[i].held >> e) & 1;
		CHECK(m.wait[i].held ==
		      (m.wait[i].begun ? w_mask(&m.wait[i]) : 0));
		/* The write path: only the head has asked. */
		if (m.fifo && i > 0)
			CHECK(!m.wait[i].begun);
	}
	for (uint32_t e = 0; e < M_EXT; e++)
		CHECK(sum[e] == m.refs[e]);
	/* A running write holds every extent it touches, all active. */
	for (unsigned i = 0; i < m.n_run; i++) {
		uint32_t first, last;

		if (m.run[i].big || !w_range(&m.run[i], &first, &last))
			continue;
		for (uint32_t e = first; e <= last; e++) {
			CHECK(m.run[i].held & (1U << e));
			CHECK(slot_state(&al, e) == AL_ACTIVE);
		}
	}
	CHECK(staged == al.staged);
	CHECK(non_free == m_in_log());
	CHECK(non_free <= m.cap);
	CHECK(al.committing == m.committing);
	CHECK(al.n_evicted == m.n_ev);
	CHECK(al.n_evicted <= 2 * al.cap);
	for (unsigned i = 0; i < m.n_ev; i++)
		CHECK(al.evicted[i] == m.ev[i]);
	CHECK(al_commit_due(&al) == (staged > 0 && !m.committing));
	n_out = al_extents(&al, out, M_EXT + 1);
	CHECK(n_out == non_free);
	for (uint32_t i = 0; i < n_out; i++) {
		CHECK(out[i] < M_EXT && !listed[out[i]]);
		listed[out[i]] = true;
		CHECK(m.state[out[i]] != AL_FREE);
	}
}

static void m_prepare(void)
{
	const uint32_t *ev;
	uint32_t n_ev;
	bool in_tx[M_EXT] = { false }, reported[M_EXT] = { false };

	al_commit_prepare(&al, &tx, &ev, &n_ev);
	CHECK(tx.seq == ++m.seq);
	CHECK(tx.n == m_in_log());
	for (uint32_t i = 0; i < tx.n; i++) {
		CHECK(tx.ext[i] < M_EXT);
		CHECK(!in_tx[tx.ext[i]]);
		in_tx[tx.ext[i]] = true;
		/* The transaction names every extent in the log. */
		CHECK(m.state[tx.ext[i]] != AL_FREE);
	}
	/* The evicted list: every eviction since the last prepare, in
	 * order. */
	CHECK(n_ev == m.n_ev);
	for (uint32_t i = 0; i < n_ev; i++) {
		CHECK(ev[i] == m.ev[i]);
		reported[ev[i]] = true;
	}
	for (uint32_t e = 0; e < M_EXT; e++) {
		/* Leaving the durable set only after being reported, so
		 * its bitmap pages were saved first. */
		if (m.durable[e] && !in_tx[e] && !reported[e])
			fail_msg("cap %u seed %llu step %d: extent %u dropped "
				 "from the log without being reported evicted",
				 m.cap, (unsigned long long)cur_seed, cur_step,
				 e);
		m.in_flight[e] = in_tx[e];
		if (m.state[e] == AL_STAGED)
			m.state[e] = AL_COMMITTING;
	}
	m.n_ev_committing = m.n_ev;
	m.committing = true;
}

static void m_done(void)
{
	al_commit_done(&al);
	memcpy(m.durable, m.in_flight, sizeof(m.durable));
	for (uint32_t e = 0; e < M_EXT; e++)
		if (m.state[e] == AL_COMMITTING)
			m.state[e] = AL_ACTIVE;
	memmove(m.ev, m.ev + m.n_ev_committing,
		(m.n_ev - m.n_ev_committing) * sizeof(m.ev[0]));
	m.n_ev -= m.n_ev_committing;
	m.n_ev_committing = 0;
	m.committing = false;
	m.commits++;
}

/* Writes of up to max_span extents, a few reaching past the end of the
 * device or past 2^64. */
static struct write random_write(uint32_t max_span)
{
	struct write w = { 0 };
	uint32_t span = 1 + (uint32_t)(rng() % max_span);

	w.off = rng() % ((M_EXT + 1) * EXT);
	if (rng() % 3 == 0)
		w.off -= w.off % EXT;
	switch (rng() % 32) {
	case 0:
		w.len = UINT64_MAX - rng() % 3;
		return w;
	case 1:
		w.off = UINT64_MAX - rng() % (2 * EXT);
		w.len = 1 + rng() % (2 * EXT);
		return w;
	default:
		break;
	}
	w.len = 1 + rng() % (span * EXT);
	if ((w.off + w.len - 1) / EXT - w.off / EXT >= span)
		w.len = span * EXT - w.off % EXT;
	return w;
}

static void m_pop_wait(unsigned i)
{
	memmove(&m.wait[i], &m.wait[i + 1],
		(m.n_wait - i - 1) * sizeof(m.wait[0]));
	m.n_wait--;
}

/* The write path's retry: the head of the FIFO asks again (giving back
 * what its last try left it holding, if anything), and while it gets in,
 * the next one. */
static void retry_heads(void)
{
	while (m.n_wait) {
		struct write *w = &m.wait[0];

		if (!w->big) {
			if (w->begun)
				m_end(w);
			if (m_begin(w) != AL_READY)
				return;
		}
		m.admitted_after_wait++;
		m.run[m.n_run++] = *w;
		m_pop_wait(0);
	}
}

static void submit(uint32_t max_span)
{
	struct write w = random_write(max_span);
	uint32_t span = w_span(&w);

	CHECK(al_span(&al, w.off, w.len) == span);
	if (m.fifo) {
		/* The write path: wide writes never ask the log; nothing
		 * overtakes a waiting write. */
		w.big = span > m.cap / 2;
		m.big += w.big;
		if (m.n_wait || (!w.big && m_begin(&w) != AL_READY)) {
			m.wait[m.n_wait++] = w;
			m.waits++;
		} else {
			m.run[m.n_run++] = w;
		}
		return;
	}
	if (m_begin(&w) == AL_READY) {
		m.run[m.n_run++] = w;
	} else {
		m.wait[m.n_wait++] = w;
		m.waits++;
	}
}

static void end_run(unsigned i)
{
	if (m.run[i].begun)
		m_end(&m.run[i]);
	m.run[i] = m.run[--m.n_run];
}

/* FIFO: with nothing else in flight, each waiting write in turn gets in
 * within one transaction; it then completes at once. Its first try finds
 * a slot for every extent it misses (nothing else holds one, and what is
 * staged is its own), so it never gets AL_WAIT here. */
static void drain_fifo(void)
{
	cur_step = -1;
	while (m.n_run)
		end_run(m.n_run - 1);
	if (m.committing)
		m_done();
	check_invariants();
	while (m.n_wait) {
		unsigned long commits = 0;

		for (;;) {
			struct write *w = &m.wait[0];

			if (!w->big) {
				enum al_begin_result r;

				if (w->begun)
					m_end(w);
				r = m_begin(w);
				if (r == AL_WAIT)
					fail_msg("cap %u seed %llu: the head "
						 "finds no slot with nothing "
						 "else in flight", m.cap,
						 (unsigned long long)cur_seed);
				if (r != AL_READY) {
					check_invariants();
					if (!al_commit_due(&al))
						fail_msg("cap %u seed %llu: the "
							 "head waits with "
							 "nothing to commit",
							 m.cap,
							 (unsigned long long)cur_seed);
					m_prepare();
					m_done();
					commits++;
					check_invariants();
					continue;
				}
			}
			break;
		}
		if (commits > m.worst_commits)
			m.worst_commits = commits;
		if (m.wait[0].begun)
			m_end(&m.wait[0]);
		m_pop_wait(0);
		check_invariants();
	}
	for (uint32_t e = 0; e < M_EXT; e++)
		CHECK(m.refs[e] == 0 && refs_of(&al, e) == 0);
}

/* Any order: give everything back; no reference may remain. */
static void drain_any(void)
{
	cur_step = -1;
	while (m.n_run)
		end_run(m.n_run - 1);
	while (m.n_wait) {
		if (m.wait[m.n_wait - 1].begun)
			m_end(&m.wait[m.n_wait - 1]);
		m.n_wait--;
	}
	if (m.committing)
		m_done();
	check_invariants();
	CHECK(total_refs(&al) == 0);
}

static void run_model(bool fifo, uint32_t cap, uint32_t max_span,
		      uint64_t seed, int steps)
{
	memset(&m, 0, sizeof(m));
	m.cap = cap;
	m.fifo = fifo;
	rng_state = seed;
	cur_seed = seed;
	assert_int_equal(al_init(&al, cap, M_EXT * EXT - 4096), 0);
	assert_int_equal(al.n_extents, M_EXT);
	for (cur_step = 0; cur_step < steps; cur_step++) {
		unsigned op = (unsigned)(rng() % 100);

		if (op < 30 && m.n_run + m.n_wait < M_WRITES) {
			submit(max_span);
		} else if (op < 45 && m.n_wait) {
			if (fifo) {
				retry_heads();
			} else {
				unsigned i = (unsigned)(rng() % m.n_wait);
				struct write *w = &m.wait[i];

				if (w->begun)
					m_end(w);
				if (m_begin(w) == AL_READY) {
					m.admitted_after_wait++;
					m.run[m.n_run++] = *w;
					m_pop_wait(i);
				}
			}
		} else if (op < 48 && m.n_wait && !fifo) {
			/* A waiting write gives up: al_end if it holds its
			 * extents, nothing after AL_WAIT. */
			unsigned i = (unsigned)(rng() % m.n_wait);

			if (m.wait[i].begun)
				m_end(&m.wait[i]);
			m_pop_wait(i);
		} else if (op < 72 && m.n_run) {
			end_run((unsigned)(rng() % m.n_run));
			if (fifo)
				retry_heads();
		} else if (op < 86 && al_commit_due(&al)) {
			m_prepare();
		} else if (m.committing) {
			m_done();
			if (fifo)
				retry_heads();
		}
		check_invariants();
	}
	if (fifo)
		drain_fifo();
	else
		drain_any();
	al_fini(&al);
}

static const struct {
	uint32_t cap, max_span;
} fifo_rows[] = {
	{ 2, 1 }, { 2, 2 }, { 3, 2 }, { 4, 2 }, { 4, 3 }, { 5, 3 },
	{ 6, 3 }, { 6, 4 }, { 7, 3 }, { 7, 4 }, { 8, 4 }, { 8, 5 },
	{ 12, 6 }, { 30, 16 }, { 64, 24 },
}, any_rows[] = {
	{ 1, 1 }, { 2, 1 }, { 2, 2 }, { 3, 2 }, { 4, 2 }, { 5, 3 },
	{ 7, 3 }, { 8, 2 }, { 8, 4 }, { 30, 8 },
};
#define MODEL_SEEDS 12
#define MODEL_STEPS 3000

struct cover {
	unsigned long commits, evictions, stage_failures, waits_held,
		waits_nothing, rollbacks, leftovers, waits,
		admitted_after_wait, big, worst_commits;
};

static void add_sum(struct cover *c)
{
	c->commits += m.commits;
	c->evictions += m.evictions;
	c->stage_failures += m.stage_failures;
	c->waits_held += m.waits_held;
	c->waits_nothing += m.waits_nothing;
	c->rollbacks += m.rollbacks;
	c->leftovers += m.leftovers;
	c->waits += m.waits;
	c->admitted_after_wait += m.admitted_after_wait;
	c->big += m.big;
	if (m.worst_commits > c->worst_commits)
		c->worst_commits = m.worst_commits;
}

static struct cover fifo_sum;
static bool fifo_done;

static void run_fifo_models(void)
{
	if (fifo_done)
		return;
	for (size_t i = 0; i < ARRAY_LEN(fifo_rows); i++) {
		for (uint64_t s = 1; s <= MODEL_SEEDS; s++) {
			run_model(true, fifo_rows[i].cap, fifo_rows[i].max_span,
				  s * 0x9e3779b97f4a7c15ULL + i, MODEL_STEPS);
			add_sum(&fifo_sum);
		}
	}
	fifo_done = true;
}

/* Safety, with the write path's discipline: the model and the invariants
 * hold at every step of every sequence. */
static void test_random_fifo_against_model(void **state)
{
	(void)state;
	run_fifo_models();
	/* The sequences really exercised what they are meant to: all three
	 * answers, AL_WAIT after taking references (given back) and after
	 * staging (left staged). */
	assert_true(fifo_sum.commits > 1000);
	assert_true(fifo_sum.evictions > 1000);
	assert_true(fifo_sum.waits > 1000);
	assert_true(fifo_sum.admitted_after_wait > 1000);
	assert_true(fifo_sum.stage_failures > 100);
	assert_true(fifo_sum.waits_held > 1000);
	assert_true(fifo_sum.waits_nothing > 100);
	assert_true(fifo_sum.rollbacks > 100);
	assert_true(fifo_sum.leftovers > 100);
	assert_true(fifo_sum.big > 1000);
}

/*
 * Liveness, with the write path's discipline (FIFO, only the head asks
 * again, writes no wider than half the log): once no other write is in
 * flight, every waiting write gets in within one transaction.
 */
static void test_random_fifo_waiters_get_in(void **state)
{
	(void)state;
	run_fifo_models();
	/* drain_fifo fails at once on a head that gets AL_WAIT or waits
	 * with nothing to commit; here the bound. */
	if (fifo_sum.worst_commits > 1)
		fail_msg("a waiting write needed %lu transactions with nothing "
			 "else in flight", fifo_sum.worst_commits);
	assert_int_equal(fifo_sum.worst_commits, 1);
}

/* Safety with any number of waiting writes, holding their extents or
 * nothing, retrying in any order (or giving up), as al.h permits: al_end
 * gives back exactly what the write holds. */
static void test_random_any_order_against_model(void **state)
{
	struct cover c = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(any_rows); i++) {
		for (uint64_t s = 1; s <= MODEL_SEEDS; s++) {
			run_model(false, any_rows[i].cap, any_rows[i].max_span,
				  s * 0xbf58476d1ce4e5b9ULL + i, MODEL_STEPS);
			add_sum(&c);
		}
	}
	assert_true(c.commits > 1000);
	assert_true(c.evictions > 1000);
	assert_true(c.stage_failures > 100);
	assert_true(c.waits_held > 1000);
	assert_true(c.waits_nothing > 100);
	assert_true(c.rollbacks > 100);
	assert_true(c.leftovers > 100);
	assert_true(c.admitted_after_wait > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_random_fifo_against_model,
					  al_teardown),
		cmocka_unit_test_teardown(test_random_fifo_waiters_get_in,
					  al_teardown),
		cmocka_unit_test_teardown(test_random_any_order_against_model,
					  al_teardown),
	};

	return cmocka_run_group_tests_name("al_model", tests, NULL, NULL);
}
