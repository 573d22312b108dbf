/* test_loop.c - common/loop.c: batching, completion dispatch, a full ring.
 *
 * A real ring of 4 SQ entries (8 CQ entries) driven with NOPs, so no
 * socket or disk is involved. Many operations are armed from inside one
 * callback, more than the SQ and the CQ hold together: every callback must
 * run exactly once, in arming order, never while the arming callback is
 * still running, and the completion queue must never spill over.
 *
 * io_uring_submit and its variants are wrapped (-Wl,--wrap) so a test can
 * make submission refuse with -EBUSY while the CQ ring is full, as kernels
 * without IORING_FEAT_NODROP's overflow list do: the loop must then make
 * room by reaping, not retry the same refused submission forever.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "abort_fixture.h"
#include "common/loop.h"

#define RING_ENTRIES 4
#define NOPS 512
/* Refused submissions in a row that count as spinning. */
#define SPIN_MAX 10000

int __real_io_uring_submit(struct io_uring *ring);
int __real_io_uring_submit_and_get_events(struct io_uring *ring);
int __real_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);
int __wrap_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit_and_get_events(struct io_uring *ring);
int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);

static bool busy_when_cq_full;	/* emulate -EBUSY on a full CQ ring */
static unsigned refused_in_a_row;

/* -EBUSY instead of submitting while the CQ ring has no free entry. */
static bool refuse(struct io_uring *ring)
{
	if (!busy_when_cq_full ||
	    io_uring_cq_ready(ring) < *ring->cq.kring_entries) {
		refused_in_a_row = 0;
		return false;
	}
	if (++refused_in_a_row >= SPIN_MAX)
		fail_msg("submission refused %u times in a row: the loop "
			 "retries without reaping the full CQ",
			 refused_in_a_row);
	return true;
}

int __wrap_io_uring_submit(struct io_uring *ring)
{
	return refuse(ring) ? -EBUSY : __real_io_uring_submit(ring);
}

int __wrap_io_uring_submit_and_get_events(struct io_uring *ring)
{
	return refuse(ring) ? -EBUSY
			    : __real_io_uring_submit_and_get_events(ring);
}

int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	return refuse(ring) ? -EBUSY
			    : __real_io_uring_submit_and_wait(ring, wait_nr);
}

struct nop {
	struct loop_op op;
	unsigned index;
};

struct fixture {
	struct loop loop;
	struct loop_op start_op;
	struct nop nops[NOPS];
	bool arming;		/* inside the callback that arms the NOPs */
	bool overflowed;	/* the kernel flagged a CQ overflow */
	unsigned done;		/* callbacks run so far */
	unsigned reentered;	/* callbacks run while arming */
	unsigned out_of_order;
	int bad_res;
};

static struct fixture fx;

static void nop_done(struct loop_op *op, int res)
{
	struct nop *n = (struct nop *)op;

	if (fx.arming)
		fx.reentered++;
	if (n->index != fx.done)
		fx.out_of_order++;
	if (res != 0)
		fx.bad_res = res;
	fx.done++;
	if (fx.done == NOPS)
		loop_stop(&fx.loop);
}

static void arm_all(struct loop_op *op, int res)
{
	(void)op;
	(void)res;
	fx.arming = true;
	for (unsigned i = 0; i < NOPS; i++) {
		struct io_uring_sqe *sqe = loop_sqe(&fx.loop);

		io_uring_prep_nop(sqe);
		fx.nops[i].index = i;
		loop_op_arm(&fx.loop, sqe, &fx.nops[i].op, nop_done);
		if (IO_URING_READ_ONCE(*fx.loop.ring.sq.kflags) &
		    IORING_SQ_CQ_OVERFLOW)
			fx.overflowed = true;
	}
	fx.arming = false;
}

static void run_nops(void)
{
	memset(&fx, 0, sizeof(fx));
	refused_in_a_row = 0;
	assert_int_equal(loop_init(&fx.loop, RING_ENTRIES), 0);
	loop_defer(&fx.loop, &fx.start_op, arm_all, 0);
	assert_int_equal(loop_run(&fx.loop), 0);
	busy_when_cq_full = false;
	loop_fini(&fx.loop);

	if (fx.done != NOPS)
		fail_msg("%u of %u callbacks ran", fx.done, NOPS);
	if (fx.reentered)
		fail_msg("%u callbacks ran inside the arming callback",
			 fx.reentered);
	if (fx.out_of_order)
		fail_msg("%u callbacks ran out of arming order",
			 fx.out_of_order);
	if (fx.bad_res)
		fail_msg("a NOP completed with %d", fx.bad_res);
	assert_int_equal(fx.loop.inflight, 0);
}

/* More NOPs than SQ and CQ hold together, armed from one callback: the
 * CQ ring must never spill into the kernel's overflow list (memory it
 * may fail to allocate, losing completions). */
static void test_many_ops_small_ring(void **state)
{
	(void)state;
	busy_when_cq_full = false;
	run_nops();
	if (fx.overflowed)
		fail_msg("the CQ ring overflowed while %u NOPs were armed "
			 "on a %u-entry ring", NOPS, RING_ENTRIES);
}

/* The same while a full CQ ring makes submission fail with -EBUSY. */
static void test_busy_while_cq_full(void **state)
{
	(void)state;
	busy_when_cq_full = true;
	run_nops();
}

/* Deferred callbacks run in order with completions, and only from the
 * dispatch pass: one queued from a callback runs after it returns. */
static struct loop_op chain_ops[3];
static unsigned chain_seen[3], chain_n;
static bool in_chain;

static void chain_done(struct loop_op *op, int res)
{
	unsigned i = (unsigned)(op - chain_ops);

	assert_false(in_chain);
	in_chain = true;
	chain_seen[chain_n++] = i * 10 + (unsigned)res;
	if (i + 1 < 3)
		loop_defer(&fx.loop, &chain_ops[i + 1], chain_done, (int)i + 1);
	else
		loop_stop(&fx.loop);
	in_chain = false;
}

/* A fresh loop that runs done(op) first, until a callback stops it. */
static void run_deferred(struct loop_op *op, loop_done_fn done)
{
	busy_when_cq_full = false;
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(loop_init(&fx.loop, RING_ENTRIES), 0);
	loop_defer(&fx.loop, op, done, 0);
	assert_int_equal(loop_run(&fx.loop), 0);
	loop_fini(&fx.loop);
}

static void test_defer_chain(void **state)
{
	(void)state;
	chain_n = 0;
	run_deferred(&chain_ops[0], chain_done);
	assert_int_equal(chain_n, 3);
	assert_int_equal(chain_seen[0], 0);
	assert_int_equal(chain_seen[1], 11);
	assert_int_equal(chain_seen[2], 22);
}

/* An operation belongs to the loop from loop_op_arm or loop_defer until
 * its callback starts: armed again meanwhile, the completed list would
 * point at itself (the loop spins) or a callback would run twice. The
 * loop aborts instead, naming both callbacks. From its own callback on,
 * an operation may be armed again. */
static struct loop_op again_op;
static unsigned again_runs;

static void again_done(struct loop_op *op, int res)
{
	(void)res;
	if (++again_runs < 3)
		loop_defer(&fx.loop, op, again_done, 0);
	else
		loop_stop(&fx.loop);
}

static void test_rearm_from_callback(void **state)
{
	(void)state;
	again_runs = 0;
	run_deferred(&again_op, again_done);
	assert_int_equal(again_runs, 3);
}

static void defer_twice(void *arg)
{
	(void)arg;
	loop_defer(&fx.loop, &again_op, again_done, 0);
	loop_defer(&fx.loop, &again_op, again_done, 0);
}

static void arm_while_deferred(void *arg)
{
	struct io_uring_sqe *sqe;

	(void)arg;
	loop_defer(&fx.loop, &again_op, again_done, 0);
	sqe = loop_sqe(&fx.loop);
	io_uring_prep_nop(sqe);
	loop_op_arm(&fx.loop, sqe, &again_op, again_done);
}

static void defer_while_armed(void *arg)
{
	struct io_uring_sqe *sqe = loop_sqe(&fx.loop);

	(void)arg;
	io_uring_prep_nop(sqe);
	loop_op_arm(&fx.loop, sqe, &again_op, again_done);
	loop_defer(&fx.loop, &again_op, again_done, 0);
}

static void test_reuse_aborts(void **state)
{
	void (*cases[])(void *) = { defer_twice, arm_while_deferred,
				    defer_while_armed };

	(void)state;
	busy_when_cq_full = false;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&fx, 0, sizeof(fx));
		memset(&again_op, 0, sizeof(again_op));
		assert_int_equal(loop_init(&fx.loop, RING_ENTRIES), 0);
		assert_aborts(cases[i], NULL, false);
		loop_fini(&fx.loop);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_ops_small_ring),
		cmocka_unit_test(test_busy_while_cq_full),
		cmocka_unit_test(test_defer_chain),
		cmocka_unit_test(test_rearm_from_callback),
		cmocka_unit_test(test_reuse_aborts),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
