/* test_bufpool_wait.c - common/bufpool.c: waiters for buffers.
 *
 * A reader that found the pool empty registers a waiter; a put anywhere
 * (by any owner of buffers) must wake it, through one deferred callback,
 * never from inside bufpool_put. The loop is replaced by a fake defer
 * that records the callback, so the test decides when "the dispatch pass"
 * runs it and can check that nothing ran before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "common/bufpool.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define CHUNK 4096U
#define NCHUNKS 4U

/* ---- the fake loop ---------------------------------------------------- */

static struct {
	unsigned deferred;	/* defer calls */
	struct loop_op *op;
	loop_done_fn done;
	int res;
} fake;

static struct loop *const FAKE_LOOP = (struct loop *)0x1000;

static void fake_defer(struct loop *l, struct loop_op *op, loop_done_fn done,
		       int res)
{
	assert_ptr_equal(l, FAKE_LOOP);
	/* The same op must not be queued twice before it ran. */
	assert_true(fake.op == NULL);
	fake.deferred++;
	fake.op = op;
	fake.done = done;
	fake.res = res;
}

/* The dispatch pass: run what was deferred, if anything. */
static bool fake_dispatch(void)
{
	struct loop_op *op = fake.op;

	if (!op)
		return false;
	fake.op = NULL;
	fake.done(op, fake.res);
	return true;
}

/* ---- waiters ---------------------------------------------------------- */

struct tw {
	struct bufpool_waiter w;
	struct bufpool *p;
	unsigned woken;
	unsigned order;		/* position among the wake-ups of a run */
	bool wait_again;	/* re-register from ready */
	struct tw *cancel;	/* cancel this one from ready */
};

static unsigned wake_seq;

static void tw_ready(struct bufpool_waiter *w)
{
	struct tw *t = (struct tw *)w;

	assert_false(w->waiting);
	t->woken++;
	t->order = ++wake_seq;
	if (t->wait_again)
		bufpool_wait_on(t->p, FAKE_LOOP, fake_defer, w, tw_ready);
	if (t->cancel)
		bufpool_cancel_wait(t->p, &t->cancel->w);
}

static void setup_pool(struct bufpool *p, struct tw *t, size_t n)
{
	memset(&fake, 0, sizeof(fake));
	wake_seq = 0;
	assert_int_equal(bufpool_init(p, NCHUNKS * CHUNK, CHUNK), 0);
	memset(t, 0, n * sizeof(*t));
	for (size_t i = 0; i < n; i++)
		t[i].p = p;
}

static void test_put_wakes_waiter_deferred(void **state)
{
	struct bufpool p;
	struct tw t[1];
	void *all;

	(void)state;
	setup_pool(&p, t, ARRAY_LEN(t));
	all = bufpool_get(&p, NCHUNKS * CHUNK);
	assert_non_null(all);
	assert_null(bufpool_get(&p, CHUNK));
	bufpool_wait_on(&p, FAKE_LOOP, fake_defer, &t[0].w, tw_ready);
	assert_true(t[0].w.waiting);
	assert_int_equal(fake.deferred, 0);

	bufpool_put(&p, all, NCHUNKS * CHUNK);
	/* Deferred, not run inside the put. */
	assert_int_equal(fake.deferred, 1);
	assert_int_equal(t[0].woken, 0);
	assert_true(fake_dispatch());
	assert_int_equal(t[0].woken, 1);
	assert_false(t[0].w.waiting);
	/* Woken once: later puts have nobody to wake. */
	all = bufpool_get(&p, CHUNK);
	bufpool_put(&p, all, CHUNK);
	assert_false(fake_dispatch());
	assert_int_equal(t[0].woken, 1);
	bufpool_fini(&p);
}

static void test_put_without_waiters(void **state)
{
	struct bufpool p;
	struct tw t[1];
	void *b;

	(void)state;
	setup_pool(&p, t, ARRAY_LEN(t));
	b = bufpool_get(&p, CHUNK);
	bufpool_put(&p, b, CHUNK);
	assert_int_equal(fake.deferred, 0);
	bufpool_fini(&p);
}

/* Many puts before the dispatch pass: one deferred run; waiters wake in
 * the order they came; waiting twice is waiting once. */
static void test_fifo_one_run(void **state)
{
	struct bufpool p;
	struct tw t[3];
	void *b[NCHUNKS];

	(void)state;
	setup_pool(&p, t, ARRAY_LEN(t));
	for (unsigned i = 0; i < NCHUNKS; i++)
		b[i] = bufpool_get(&p, CHUNK);
	for (size_t i = 0; i < ARRAY_LEN(t); i++)
		bufpool_wait_on(&p, FAKE_LOOP, fake_defer, &t[i].w, tw_ready);
	bufpool_wait_on(&p, FAKE_LOOP, fake_defer, &t[0].w, tw_ready);
	for (unsigned i = 0; i < NCHUNKS; i++)
		bufpool_put(&p, b[i], CHUNK);
	assert_int_equal(fake.deferred, 1);
	assert_true(fake_dispatch());
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		assert_int_equal(t[i].woken, 1);
		assert_int_equal(t[i].order, i + 1);
	}
	bufpool_fini(&p);
}

/* A waiter that waits again from its ready callback (its retry failed)
 * is not woken again by the same run, which would spin, but by the next
 * put. */
static void test_rewait_waits_for_next_put(void **state)
{
	struct bufpool p;
	struct tw t[2];
	void *b;

	(void)state;
	setup_pool(&p, t, ARRAY_LEN(t));
	t[0].wait_again = true;
	b = bufpool_get(&p, CHUNK);
	bufpool_wait_on(&p, FAKE_LOOP, fake_defer, &t[0].w, tw_ready);
	bufpool_wait_on(&p, FAKE_LOOP, fake_defer, &t[1].w, tw_ready);
	bufpool_put(&p, b, CHUNK);
	assert_true(fake_dispatch());
	assert_int_equal(t[0].woken, 1);
	assert_int_equal(t[1].woken, 1);
	assert_true(t[0].w.waiting);
	assert_false(fake_dispatch());

	t[0].wait_again = false;
	b = bufpool_get(&p, CHUNK);
	bufpool_put(&p, b, CHUNK);
	assert_true(fake_dispatch());
	assert_int_equal(t[0].woken, 2);
	assert_int_equal(t[1].woken, 1);
	bufpool_fini(&p);
}

/* A cancelled waiter is never woken: cancelled before the put, or by an
 * earlier waiter's callback in the same run (its owner closing). */
static void test_cancel(void **state)
{
	struct bufpool p;
	struct tw t[4];
	void *b;

	(void)state;
	setup_pool(&p, t, ARRAY_LEN(t));
	b = bufpool_get(&p, CHUNK);
	for (size_t i = 0; i < ARRAY_LEN(t); i++)
		bufpool_wait_on(&p, FAKE_LOOP, fake_defer, &t[i].w, tw_ready);
	bufpool_cancel_wait(&p, &t[1].w);
	assert_false(t[1].w.waiting);
	bufpool_cancel_wait(&p, &t[1].w);	/* twice: nothing happens */
	t[0].cancel = &t[3];
	bufpool_put(&p, b, CHUNK);
	assert_true(fake_dispatch());
	assert_int_equal(t[0].woken, 1);
	assert_int_equal(t[1].woken, 0);
	assert_int_equal(t[2].woken, 1);
	assert_int_equal(t[3].woken, 0);
	assert_false(t[3].w.waiting);

	/* Cancelling every waiter before the run leaves it nothing to do. */
	b = bufpool_get(&p, CHUNK);
	bufpool_wait_on(&p, FAKE_LOOP, fake_defer, &t[1].w, tw_ready);
	bufpool_put(&p, b, CHUNK);
	bufpool_cancel_wait(&p, &t[1].w);
	assert_true(fake_dispatch());
	assert_int_equal(t[1].woken, 0);
	bufpool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_wakes_waiter_deferred),
		cmocka_unit_test(test_put_without_waiters),
		cmocka_unit_test(test_fifo_one_run),
		cmocka_unit_test(test_rewait_waits_for_next_put),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests_name("bufpool_wait", tests, NULL, NULL);
}
