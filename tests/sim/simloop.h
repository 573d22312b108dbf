/* simloop.h - the simulator's loop (common/loop.h's loop_ops).
 *
 * A node's struct loop is embedded in a struct simloop. Its sqe() hands
 * out SQEs from the simloop's array; simloop_drain() (the simulator calls
 * it after every scheduler step) executes the SQEs filled since and runs
 * the completed callbacks, until nothing is left to do at this instant.
 * Disk opcodes on a simulated disk's descriptor go to its simdisk and
 * complete through the scheduler after the disk's latency; a NOP or a
 * FADVISE completes at once. Any other opcode, or a descriptor that is
 * not a simulated disk, fails the run: the engine reached past its seam.
 */
#ifndef SIM_SIMLOOP_H
#define SIM_SIMLOOP_H

#include <stdbool.h>

#include "common/loop.h"
#include "simdisk.h"

#define SIMLOOP_SQES 512

struct simloop_req;
struct simhook_run;

struct simloop {
	struct loop loop;	/* first: loop_*() get this */
	int node;		/* index in the run */
	struct io_uring_sqe sqe[SIMLOOP_SQES];
	unsigned nsqe;
	struct simloop_req *reqs;	/* disk requests issued, all kept */
	struct simhook_run *hooks;	/* hook runs of this node */
};

/* A node's loop, empty, with the simulator's ops. */
void simloop_init(struct simloop *sl, int node);
/* Execute queued SQEs and run completed callbacks until both are empty. */
void simloop_drain(struct simloop *sl);
/* Anything to do now? */
bool simloop_busy(const struct simloop *sl);
/* The node is gone: its disk requests were dropped by simdisk_crash;
 * forget pending SQEs and completions, free the requests. */
void simloop_abandon(struct simloop *sl);

#endif
