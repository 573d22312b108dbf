/* simstate.h - the run's state that sim.c (steps, faults, invariants)
 * and simops.c (operators and the final heal) share, and nobody else.
 * One run at a time in the process: S is that run's.
 */
#ifndef SIM_SIMSTATE_H
#define SIM_SIMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "node.h"
#include "sim.h"
#include "simdisk.h"
#include "simnet.h"

#define LIVE_REQ_US (60ULL * 1000000)
#define LIVE_HEAL_US (60ULL * 1000000)

/* What the run still promises, and the per-node history the invariants
 * look at. */
struct sim_state {
	struct sim_node_knobs nk;
	struct client_knobs ck;
	struct simdisk_knobs dk;
	struct simnet_knobs netk;
	/* fault rates, per mille per fault tick */
	unsigned p_cut, p_stall, p_crash, p_site, p_disk_bad;
	bool strict;		/* --strict: every node crash is a power loss */
	bool direct;		/* --direct: the disks are opened O_DIRECT */
	bool relapse;		/* --relapse: a node restarted after its process
				 * died soon loses power as well */
	bool down_power;	/* --down-power: ... or while still down */
	bool stop;		/* --stop: operators stop daemons (stop.h) */
	unsigned p_op;		/* operator tick: per mille something happens */
	uint32_t hook_code_weights[8];	/* 0,1,3,4,5,6,7,never */
	bool switch_protocol;
	bool forced;		/* a promotion with --force voided promises */
	bool ever_a;		/* a write may have been acked in protocol A */
	bool ever_b;
	uint64_t steps_max;
	struct sim_event op_ev, fault_ev, heal_ev, setup_ev;
	struct sim_event restart_ev[SIM_NODES];
	struct sim_event relapse_ev[SIM_NODES];
	struct sim_event down_power_ev[SIM_NODES];
	bool died_alive[SIM_NODES];	/* its last crash kept the disk cache */
	bool copy_down[SIM_NODES];	/* ... and its disk was then a copy of
					 * the history (peer_holds_copy) */
	bool acked_alone[SIM_NODES];	/* ... and it was a Primary whose
					 * acks no peer's copy backs */
	uint64_t down_since_us[SIM_NODES];
	bool promote_forced[SIM_NODES];	/* the promotion that waits */
	bool initial_waits;	/* the fresh pair's first promotion waits */
	/* The oracle's ack count when the node last lost power: it lacks
	 * the unflushed writes acknowledged before, which its peer may then
	 * hold alone, until a FLUSH covers them. */
	uint64_t power_lost_ack[SIM_NODES];
	/* The oracle's ack count after the newest write a node acknowledged
	 * with no UpToDate peer connected: until a FLUSH covers it, only
	 * this node's disk cache holds it. */
	uint64_t lone_ack[SIM_NODES];
	enum repl_state prev_repl[SIM_NODES];
	/* Invariant 8: a Primary's count of its peer's writes received, and
	 * whether it was Primary at the last check. */
	uint64_t prev_rx_bytes[SIM_NODES];
	bool prev_primary[SIM_NODES];
	bool prev_alive[SIM_NODES];
	/* invariant 4: the window after a Primary lost its peer */
	bool fence_window[SIM_NODES];
	uint64_t fence_window_gen[SIM_NODES];	/* writes issued after it */
	bool resync_ended;	/* invariant 3 is due */
	uint64_t resync_end_gen;	/* writes from this generation on: since */
	bool src_ended;			/* the source finished first: */
	uint64_t src_end_gen;		/* writes from here on may still travel */
	bool demote_pending[SIM_NODES];
	uint64_t no_primary_since_us;
	uint64_t promotions, crashes, cuts, audits;
	/* invariant 6: since when the pair is up, connected and free of
	 * faults (0: it is not) */
	uint64_t calm_since_us;
	uint64_t stall_until_us;
	/* invariant 7: the final heal phase */
	bool healing;
	uint64_t heal_start_us;
	uint64_t heal_cmp_us;	/* last comparison of the disks */
	bool big;		/* large requests, small pools */
	bool unrelated[SIM_NODES];	/* its last connect found unrelated data */
};

extern struct sim_state S;

/* sim.c: a node dies (power: its disk keeps what was durable). */
void node_down(int idx, const char *why, bool power);
/* sim.c: the operator gave up node idx's copy (invalidate): what the
 * other node lost with its power since the last FLUSH is held nowhere. */
void copy_given_up(int idx);
/* sim.c: the network heals (a fault's end). */
void heal_fire(struct sim_event *ev);

/* sim.c: a run that voided promises takes the disks as its baseline
 * again once the pair is in sync in protocol C. */
void promises_rebase(void);

/* invariants.c: every invariant after a step; has the pair converged
 * (if not, why)? */
void check_all(void);
bool heal_converged(char *why, size_t len);

/* simops.c: the operator's tick; the heal phase begins; a promotion
 * that worked (forced: the operator vouched for the disk). */
void op_fire(struct sim_event *ev);
void heal_begin(void);
void promoted(int idx, bool forced);

#endif
