/* test_link.c - the TCP link's ownership of a frame it was handed.
 *
 * From link_send() until its sent() runs, the link owns a frame: it sits
 * in a queue through its own next pointer (or in the loop's deferred
 * list). Handed over again meanwhile, the queue loops on itself and the
 * daemon spins for good, or the frames after it are lost. The link
 * refuses that loudly: it logs the frame and aborts. A link that is not
 * up is enough to show it: the frame then waits in the loop's deferred
 * list for its sent(-ENOTCONN).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "abort_fixture.h"
#include "common/bufpool.h"
#include "common/loop.h"
#include "transport/link.h"

struct fixture {
	struct loop loop;
	struct bufpool pool;
	struct link *link;
	struct link_tx tx;
	int sent_calls;
	int sent_err;
};

static void up(void *owner) { (void)owner; }
static void down(void *owner, const char *why) { (void)owner; (void)why; }
static void frame(void *owner, const struct frame_hdr *h,
		  const uint8_t *payload, uint8_t *buf)
{
	(void)owner; (void)h; (void)payload; (void)buf;
}

static const struct link_ops ops = { .up = up, .down = down, .frame = frame };

static struct fixture *fx_of_tx;

static void tx_sent(struct link_tx *tx, int err)
{
	struct fixture *f = fx_of_tx;

	assert_ptr_equal(tx, &f->tx);
	f->sent_calls++;
	f->sent_err = err;
	if (f->sent_calls == 1) {
		/* The link let go of it: handing it over again is fine. */
		link_send(f->link, tx);
		return;
	}
	link_shutdown(f->link);	/* the loop then runs dry */
	loop_stop(&f->loop);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	/* Port 0: any free port; the peer is never dialed (no connect). */
	struct link_config cfg = {
		.resource = "r0",
		.self_name = "alice",
		.peer_name = "bob",
		.listen_addr = "127.0.0.1:0",
		.peer_addr = "127.0.0.1:9",
		.secret = "s3cret",
		.ping_interval_ms = 1000,
		.ping_timeout_ms = 5000,
		.connect_retry_max_ms = 1000,
	};

	assert_non_null(f);
	assert_int_equal(loop_init(&f->loop, 64), 0);
	assert_int_equal(bufpool_init(&f->pool, 1 << 20, 64 << 10), 0);
	assert_int_equal(link_tcp_new(&f->link, &f->loop, &f->pool, &cfg, &ops,
				      f), 0);
	f->tx.h.type = FRAME_RS_DONE;
	f->tx.sent = tx_sent;
	fx_of_tx = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	link_free(f->link);
	bufpool_fini(&f->pool);
	loop_fini(&f->loop);
	free(f);
	return 0;
}

/* Not up: sent(-ENOTCONN), once per hand-over, from the loop; from its
 * sent() on, the frame may be handed over again (tx_sent does). */
static void test_send_down_fails_once(void **state)
{
	struct fixture *f = *state;

	link_send(f->link, &f->tx);
	assert_int_equal(f->sent_calls, 0);	/* never re-entrantly */
	assert_int_equal(loop_run(&f->loop), 0);
	assert_int_equal(f->sent_calls, 2);
	assert_int_equal(f->sent_err, -ENOTCONN);
}

/* Handed over again before its sent() ran: the process aborts, saying
 * which frame. */
static void send_twice(void *arg)
{
	struct fixture *f = arg;

	link_send(f->link, &f->tx);
	link_send(f->link, &f->tx);
}

static void test_send_twice_aborts(void **state)
{
	assert_aborts(send_twice, *state, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_send_down_fails_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_twice_aborts,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
