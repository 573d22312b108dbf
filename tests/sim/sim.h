/* sim.h - the simulator's shared state: one run, one seed.
 *
 * A run owns the scheduler, the simulated disks (which outlive node
 * crashes), the network between the two nodes, the oracle of what the
 * client was promised, and the trace. The simulator's implementations of
 * the engine's ops tables (simloop.c: loop_ops; simlink.c: a link_impl;
 * simhook.c: hook_ops; simclock.c: the clock, randomness and log sink)
 * reach the run through sim_run; there is one run at a time in the
 * process, and no threads.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "oracle.h"
#include "order.h"
#include "rng.h"
#include "sched.h"
#include "simdisk.h"

#define SIM_NODES 2
#define SIM_TRACE_LINES 50

struct sim_node;
struct simnet;

struct sim_run {
	uint64_t seed;
	struct sched sched;
	struct rng rng;		/* workload, operators, faults */
	struct rng rng_env;	/* the engine's randomness (rand_u64) */
	struct rng rng_net;	/* link delays */
	struct rng rng_hook;	/* hook delays and outcomes */
	/* Pool size and request sizes: a stream of its own, so that a run
	 * with the old model (4 MiB pool, 4 KiB requests) draws everything
	 * else as before. */
	struct rng rng_size;
	/* --stop: whether a stop takes both daemons (its own stream, so the
	 * runs of single stops draw everything else as before). */
	struct rng rng_stop;
	struct simdisk disk[SIM_NODES];
	struct sim_node *node[SIM_NODES];
	struct simnet *net;
	struct oracle oracle;
	struct order order;	/* the order promise (order.h) */
	/* Which node's code runs now: the log prefix names it. */
	int current;
	/* Trace: the last lines kept for a failure report; all printed
	 * with --trace. */
	bool trace_all;
	char trace[SIM_TRACE_LINES][256];
	unsigned trace_next;
	uint64_t trace_count;
	bool failed;
};

extern struct sim_run *sim_run;

/* A line of the trace (sim events and the engine's log alike). */
void sim_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The process reads the simulator's clock and randomness and logs into
 * the trace from now on (simclock.c). */
void sim_env_use(void);
/* An invariant broke, or the engine reached past its seam: report it with
 * the seed and the trace's tail, and end the process (exit 1). */
void sim_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Does the run still hold the client to this promise (enum
 * oracle_promise)? Protocol, fencing and forced promotions decide. */
bool sim_promise_holds(int promise);
/* The client stops issuing (an operator is about to demote). */
bool sim_client_paused(void);
/* A write of the client was acknowledged by node idx. */
void sim_write_acked(int idx, uint64_t gen);
/* A promotion that waited for fence-peer ended (0 or -errno). */
void sim_promotion_answered(int idx, int ret, const char *err);
/* An event of node idx's engine (resource_event's name). */
void sim_event(int idx, const char *what);

static inline uint64_t sim_now_us(void)
{
	return sim_run->sched.now_us;
}

#endif
