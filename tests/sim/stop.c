/* stop.c - see stop.h. */
#include "stop.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "blockd/engine/leave.h"
#include "blockd/engine/resource.h"
#include "blockd/engine/writepath.h"
#include "client.h"
#include "common/container_of.h"
#include "node.h"
#include "report.h"
#include "sim.h"
#include "simstate.h"

/* blockd/daemon/main.c's LEAVE_MAX_S */
#define STOP_LEAVE_MAX_US (3ULL * 1000000)
/* How often a waiting phase looks again (a scheduler step each time). */
#define STOP_POLL_US 10000ULL

enum stop_phase {
	STOP_NONE,
	STOP_DRAIN,	/* NBD: the client's requests are answered */
	STOP_LEAVE,	/* a connected Secondary's clean leave (leave.h) */
	STOP_FLUSH,	/* link down, the final flush of the disk */
	STOP_EXIT,	/* the loop finishes what is in flight */
};

static const char *const phase_names[] = {
	"running", "draining the client's requests", "leaving cleanly",
	"flushing its disk", "finishing what is in flight",
};

struct stop {
	int idx;
	enum stop_phase phase;
	bool leaving;		/* main.c's d->leaving */
	uint64_t since_us;
	struct sim_event ev;	/* a waiting phase looks again */
	struct sim_event leave_ev;
	struct disk_io flush;
};

static struct stop stops[SIM_NODES];

void stop_init(void)
{
	for (int i = 0; i < SIM_NODES; i++) {
		memset(&stops[i], 0, sizeof(stops[i]));
		stops[i].idx = i;
		sched_event_init(&stops[i].ev);
		sched_event_init(&stops[i].leave_ev);
	}
}

bool sim_node_stopping(int idx)
{
	return stops[idx].phase != STOP_NONE;
}

void stop_forget(int idx)
{
	struct stop *st = &stops[idx];

	sched_cancel(&sim_run->sched, &st->ev);
	sched_cancel(&sim_run->sched, &st->leave_ev);
	st->phase = STOP_NONE;
	st->leaving = false;
}

static struct sim_node *stop_node(struct stop *st)
{
	struct sim_node *n = sim_run->node[st->idx];

	sim_run->current = st->idx;
	return n;
}

static void stop_step(struct sim_event *ev);

static void poll_again(struct stop *st)
{
	sched_after(&sim_run->sched, &st->ev, STOP_POLL_US, stop_step, st,
		    "stop");
}

static void final_flush_done(struct disk_io *io, int err)
{
	struct stop *st = container_of(io, struct stop, flush);
	struct sim_node *n = stop_node(st);

	if (err < 0)
		sim_trace("n%d stop: final flush failed: %s", st->idx,
			  strerror(-err));
	else
		sim_trace("n%d stop: flushed; exiting", st->idx);
	st->phase = STOP_EXIT;
	loop_stop(&n->sl.loop);
	poll_again(st);
}

/* main.c's shutdown_rest (no control socket, metrics or NBD server
 * here). */
static void shutdown_rest(struct stop *st)
{
	struct sim_node *n = stop_node(st);

	link_shutdown(n->res.link);
	if (!resource_has_disk(&n->res)) {
		sim_trace("n%d stop: no disk attached; exiting", st->idx);
		st->phase = STOP_EXIT;
		loop_stop(&n->sl.loop);
		poll_again(st);
		return;
	}
	st->phase = STOP_FLUSH;
	memset(&st->flush, 0, sizeof(st->flush));
	st->flush.cmd = DISK_FLUSH;
	st->flush.done = final_flush_done;
	disk_submit(&n->res.disk, &st->flush);
}

/* main.c's leave_done */
static void leave_done(void *arg)
{
	struct stop *st = arg;

	if (!st->leaving)
		return;
	st->leaving = false;
	sched_cancel(&sim_run->sched, &st->leave_ev);
	shutdown_rest(st);
}

/* main.c's leave_expired */
static void leave_expired(struct sim_event *ev)
{
	struct stop *st = ev->arg;

	if (!st->leaving)
		return;
	st->leaving = false;
	sim_trace("n%d stop: the peer did not take the clean leave within "
		  "%llu s", st->idx, STOP_LEAVE_MAX_US / 1000000);
	shutdown_rest(st);
}

/* main.c's nbd_drained */
static void drained(struct stop *st)
{
	struct sim_node *n = stop_node(st);

	st->phase = STOP_LEAVE;
	if (!resource_leave(&n->res, leave_done, st)) {
		shutdown_rest(st);
		return;
	}
	st->leaving = true;
	sched_after(&sim_run->sched, &st->leave_ev, STOP_LEAVE_MAX_US,
		    leave_expired, st, "leave timeout");
}

static void stop_step(struct sim_event *ev)
{
	struct stop *st = ev->arg;
	struct sim_node *n = stop_node(st);

	if (!n || st->phase == STOP_NONE)
		return;
	if (sim_now_us() - st->since_us > STOP_MAX_US) {
		sim_report_nodes();
		sim_fail("invariant 11 (liveness): n%d did not exit within "
			 "%llu s of SIGTERM: %s, %u operations in flight, %u "
			 "client requests", st->idx, STOP_MAX_US / 1000000,
			 phase_names[st->phase], n->sl.loop.inflight,
			 client_inflight(st->idx));
	}
	switch (st->phase) {
	case STOP_DRAIN:
		if (client_busy(st->idx))
			break;
		drained(st);
		return;
	case STOP_EXIT:
		if (n->sl.loop.inflight || simloop_busy(&n->sl))
			break;
		sim_trace("n%d stop: exited %" PRIu64 " ms after SIGTERM",
			  st->idx, (sim_now_us() - st->since_us) / 1000);
		/* A process exit: its disk cache stays (and held nothing
		 * unflushed it acknowledged, after the final flush). */
		node_down(st->idx, "stopped cleanly", false);
		return;
	default:
		break;
	}
	poll_again(st);
}

void node_stop(int idx)
{
	struct stop *st = &stops[idx];
	struct sim_node *n = stop_node(st);

	if (!n || st->phase != STOP_NONE)
		return;
	sim_trace("n%d operator: stop (SIGTERM): %s %s, replication %s", idx,
		  role_name(n->res.st.role), disk_state_name(n->res.st.disk_state),
		  repl_state_name(n->res.st.repl));
	st->phase = STOP_DRAIN;
	st->since_us = sim_now_us();
	/* main.c's signal_done: no more ticks; writes held by fencing
	 * can never be acknowledged now. */
	node_stop_ticks(n);
	client_node_draining(idx);
	n->res.stopping = true;
	if (n->res.st.io_frozen)
		writepath_fail_held(&n->res, -ESHUTDOWN);
	poll_again(st);
}
