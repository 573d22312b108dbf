/* sim.c - the deterministic simulator: two nodes running the real engine
 * over simulated disks, network, hooks and time, a client on the
 * Primary, operators and faults, all drawn from one 64-bit seed, with
 * the invariants checked after every step.
 *
 *   blockd-sim --seed N [--steps K] [--trace]
 *   blockd-sim --seeds A..B [--steps K]
 *
 * Each seed picks its own options (swarm testing): protocol, fencing,
 * fault rates, client mix. A violation prints the seed, the step, the
 * trace's last lines and the command that replays it, and exits 1.
 *
 * Invariants (numbers as in issue 10's list, see docs/architecture.md):
 *   1 protocol C: a node promoted without --force reads every
 *     acknowledged write (audit through its engine);
 *   2 a node becomes SyncSource only with an UpToDate disk (or an
 *     Outdated one toward an Inconsistent peer, DRBD's exception);
 *   3 a resync that ended leaves both disks equal on the working set
 *     once no write is in flight;
 *   4 resource-and-stonith: no write issued after the peer was lost is
 *     acknowledged before fence-peer answered 3, 4 or 7 (or the peer
 *     came back);
 *   5 what a completed FLUSH covered survives losing power on both
 *     nodes (protocols B and C; audit at a promotion without --force).
 * Liveness (a deadlock, e.g. requests holding the pool while they wait
 * for data that needs the pool):
 *   6 no client request stays unanswered LIVE_REQ_US while both nodes are
 *     up and connected and no fault (cut, stall, disk errors) is active;
 *   7 after the steps, a heal phase (faults stop, an operator restarts,
 *     attaches, connects and resumes what is needed, the client stops
 *     issuing): within LIVE_HEAL_US every request is answered and the
 *     pair converges (both UpToDate, Established, disks identical);
 *   8 two Primaries never exchange data: a node that stays Primary takes
 *     none of its peer's writes;
 *   9 the order promise (every protocol): a Secondary mirroring its
 *     Primary holds a prefix of that Primary's history (orderwatch.c);
 *  10 every state change's actions ran: between steps no node holds
 *     actions its executor (resource_commit) has not run;
 *  11 (--stop) a daemon stopped by SIGTERM exits within 20 s (stop.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "node.h"
#include "orderwatch.h"
#include "report.h"
#include "sim.h"
#include "simbuf.h"
#include "simhook.h"
#include "simnet.h"
#include "simstate.h"
#include "stop.h"

#define DISK_BYTES (16ULL << 20)

struct sim_run *sim_run;

struct sim_state S;

static const int hook_codes[8] = { 0, 1, 3, 4, 5, 6, 7, SIMHOOK_NEVER };

/* ---- trace and failure ------------------------------------------------- */

void sim_trace(const char *fmt, ...)
{
	char *line = sim_run->trace[sim_run->trace_next];
	uint64_t t = sim_now_us();
	va_list ap;
	int n;

	n = snprintf(line, 256, "%6" PRIu64 ".%06" PRIu64 " ", t / 1000000,
		     t % 1000000);
	va_start(ap, fmt);
	vsnprintf(line + n, 256 - (size_t)n, fmt, ap);
	va_end(ap);
	sim_run->trace_next = (sim_run->trace_next + 1) % SIM_TRACE_LINES;
	sim_run->trace_count++;
	if (sim_run->trace_all)
		printf("%s\n", line);
}

void sim_fail(const char *fmt, ...)
{
	struct sim_run *r = sim_run;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fflush(stdout);
	if (!r->trace_all) {
		unsigned n = r->trace_count < SIM_TRACE_LINES ?
			     (unsigned)r->trace_count : SIM_TRACE_LINES;

		fprintf(stderr, "--- last %u trace lines\n", n);
		for (unsigned i = 0; i < n; i++)
			fprintf(stderr, "%s\n", r->trace[(r->trace_next +
				SIM_TRACE_LINES - n + i) % SIM_TRACE_LINES]);
	}
	fprintf(stderr, "FAIL seed %" PRIu64 " step %" PRIu64 " at %" PRIu64
		" us: %s\n", r->seed, r->sched.steps, r->sched.now_us, msg);
	fprintf(stderr, "replay: build/tests/sim/blockd-sim --seed %" PRIu64
		" --steps %" PRIu64 "%s%s%s%s%s --trace\n", r->seed, S.steps_max,
		S.strict ? " --strict" : "", S.direct ? " --direct" : "",
		S.relapse ? " --relapse" : "",
		S.down_power ? " --down-power" : "", S.stop ? " --stop" : "");
	exit(1);
}

/* ---- promises ---------------------------------------------------------- */

/* Could a node other than the one that acknowledged lack a write? Only
 * when a Primary acknowledged alone without having fenced its peer
 * (dont-care, resource-only after a failed fence-peer, or a forced
 * promotion): an operator may then promote the stale node, DRBD's split
 * brain. Under a fencing policy a plain promotion with the peer away
 * runs fence-peer first. */
static bool peer_may_lack(void)
{
	return client_local_only_acks > 0;
}

bool sim_promise_holds(int promise)
{
	if (S.forced || S.ever_a || peer_may_lack())
		return false;
	if (promise == ORACLE_FLUSHED)
		return true;
	return !S.ever_b;
}

/* The pair is in sync again with nothing in flight, in protocol C: what
 * both disks hold is every write's fate, so a run whose promises were
 * void (forced promotion, protocol A/B, a Primary alone) takes the disks
 * as its new baseline and holds the engine to its promises again. */
void promises_rebase(void)
{
	struct sim_node *a = sim_run->node[0], *b = sim_run->node[1];
	struct sim_node *p;
	uint8_t buf[ORACLE_BLOCK], dbuf[ORACLE_BLOCK];

	if (sim_promise_holds(ORACLE_ACKED) || !a || !b ||
	    a->res.st.repl != RS_ESTABLISHED || b->res.st.repl != RS_ESTABLISHED ||
	    a->res.st.disk_state != DS_UPTODATE || b->res.st.disk_state != DS_UPTODATE ||
	    client_inflight(0) || client_inflight(1) || client_auditing())
		return;
	/* The Primary's durable image is what a power loss leaves of the
	 * baseline (a Secondary's may still hold what a resync replaced). */
	p = a->res.st.role == ROLE_PRIMARY ? a : b;
	if (p->res.st.role != ROLE_PRIMARY || p->res.protocol != 'C' ||
	    a->res.protocol != b->res.protocol)
		return;
	for (uint64_t blk = 0; blk < sim_run->oracle.nblocks; blk++) {
		simdisk_peek(&sim_run->disk[p->idx], blk * ORACLE_BLOCK,
			     ORACLE_BLOCK, buf);
		simdisk_peek_durable(&sim_run->disk[p->idx], blk * ORACLE_BLOCK,
				     ORACLE_BLOCK, dbuf);
		oracle_rebase(&sim_run->oracle, blk, oracle_parse(blk, buf),
			      oracle_parse(blk, dbuf));
	}
	S.forced = S.ever_a = S.ever_b = false;
	S.initial_waits = false;
	memset(S.promote_forced, 0, sizeof(S.promote_forced));
	client_local_only_acks = 0;
	sim_trace("promises: the pair is in sync in protocol C; its disks are "
		  "the new baseline");
}

bool sim_client_paused(void)
{
	return S.demote_pending[0] || S.demote_pending[1];
}

void sim_write_acked(int idx, uint64_t gen)
{
	struct sim_node *n = sim_run->node[idx];

	if (n && !(n->res.st.repl != RS_OFF && n->res.st.peer_disk == DS_UPTODATE))
		S.lone_ack[idx] = sim_run->oracle.next_ack;
	if (n && n->res.protocol == 'A')
		S.ever_a = true;
	if (n && n->res.protocol == 'B')
		S.ever_b = true;
	/* The window ends when the peer is back (the connect decision
	 * released the held writes in this very step), or at the answer. */
	if (S.fence_window[idx] && n && n->res.st.repl == RS_OFF &&
	    gen > S.fence_window_gen[idx])
		sim_fail("invariant 4: n%d acknowledged write generation %" PRIu64
			 ", issued after it lost its peer, before fence-peer "
			 "answered", idx, gen);
}

/* ---- hooks ------------------------------------------------------------- */

static int pick_weighted(const uint32_t *w, unsigned n)
{
	uint64_t total = 0, x;

	for (unsigned i = 0; i < n; i++)
		total += w[i];
	x = rng_below(&sim_run->rng_hook, total ? total : 1);
	for (unsigned i = 0; i < n; i++) {
		if (x < w[i])
			return (int)i;
		x -= w[i];
	}
	return 0;
}

int sim_hook_outcome(int node, const char *name, uint64_t *delay_us)
{
	(void)node;
	if (strcmp(name, "fence-peer") != 0) {
		*delay_us = rng_range(&sim_run->rng_hook, 1000, 50000);
		return 0;
	}
	*delay_us = rng_range(&sim_run->rng_hook, 1000, 3000000);
	return hook_codes[pick_weighted(S.hook_code_weights, 8)];
}


/* Make a fence-peer answer true before the engine hears it: the hook
 * does to the peer what its exit code says it did. An answer it could
 * not have given becomes 5 (could not reach the peer). */
int sim_hook_finished(int node, const char *name, int result)
{
	struct sim_node *p = sim_run->node[1 - node];
	char err[256];

	if (strcmp(name, "fence-peer") != 0)
		return result;
	switch (result) {
	case 7:
		if (p)
			node_down(1 - node, "STONITH by fence-peer", S.strict);
		break;
	case 3:
	case 4:
		if (!p)
			return 5;
		if (result == 3 && p->res.st.disk_state == DS_INCONSISTENT)
			break;
		sim_run->current = p->idx;
		if (fencing_outdate(&p->res, err, sizeof(err)) < 0) {
			sim_trace("n%d fence-peer cannot outdate the peer: %s",
				  node, err);
			return p->res.st.role == ROLE_PRIMARY ? 6 : 5;
		}
		result = 4;
		break;
	case 6:
		if (!p || p->res.st.role != ROLE_PRIMARY)
			return 5;
		break;
	}
	if (result == 3 || result == 4 || result == 7)
		S.fence_window[node] = false;
	return result;
}

/* ---- nodes: crash and restart ----------------------------------------- */

static void power_gone(int idx);

/* Is the other node down, its disk cache gone too (power lost, not only
 * its process)? */
static bool both_down_after(int idx)
{
	return !sim_run->node[1 - idx] && !S.died_alive[1 - idx];
}

static void relapse_fire(struct sim_event *ev)
{
	int idx = (int)(intptr_t)ev->arg;

	if (sim_run->node[idx] && !S.healing)
		node_down(idx, "power loss after a restart", true);
}

/* A node whose process died loses its machine's power before its
 * restart: its disk cache goes, its next boot is another (the engine's
 * loop_boot_id). */
static void power_off_down(int idx)
{
	sim_trace("n%d power lost while down", idx);
	simdisk_crash_idle(&sim_run->disk[idx]);
	S.died_alive[idx] = false;
}

static void down_power_fire(struct sim_event *ev)
{
	int idx = (int)(intptr_t)ev->arg;

	if (sim_run->node[idx] || !S.died_alive[idx] || S.healing)
		return;
	power_off_down(idx);
	power_gone(idx);
}

static void restart_fire(struct sim_event *ev)
{
	int idx = (int)(intptr_t)ev->arg;

	if (sim_run->node[idx])
		return;
	sim_run->node[idx] = node_start(idx, &S.nk);
	if (!sim_run->node[idx]) {
		sched_after(&sim_run->sched, &S.restart_ev[idx], 1000000,
			    restart_fire, (void *)(intptr_t)idx, "restart");
		return;
	}
	S.prev_repl[idx] = RS_OFF;
	S.prev_primary[idx] = false;
	S.prev_rx_bytes[idx] = 0;
	/* --relapse: the process died, its disk cache still holds what it
	 * acknowledged; the power goes too before long, often before
	 * anything flushed that cache. */
	if (S.relapse && S.died_alive[idx] && !sched_queued(&S.relapse_ev[idx]))
		sched_after(&sim_run->sched, &S.relapse_ev[idx],
			    rng_range(&sim_run->rng, 1000, 400000),
			    relapse_fire, (void *)(intptr_t)idx, "relapse");
}

/* Is the other node's disk a copy of the history that can stand in for
 * this one's? None when it has no disk (a Diskless Primary wrote through
 * this node alone), or its disk is Inconsistent: given up (detached,
 * failed; resynced in full before it counts again) or a resync target.
 * Seeds 4223, 4267, 4740: a Primary detached, wrote through its peer,
 * attached its old disk again (Inconsistent); the peer's daemon crashed
 * and restarted, then it lost power before a FLUSH, taking the only
 * copy of writes acknowledged since the last one. */
static bool disk_is_copy(const struct sim_node *n)
{
	return resource_has_disk(&n->res) &&
	       n->res.st.disk_state != DS_INCONSISTENT &&
	       n->res.st.disk_state != DS_ATTACHING &&
	       n->res.st.disk_state != DS_FAILED;
}

static bool peer_holds_copy(int idx)
{
	struct sim_node *p = sim_run->node[1 - idx];

	return p && disk_is_copy(p);
}

/* Does the other node lack unflushed writes this one may hold alone? It
 * lost power since the last FLUSH completed, or holds no copy (up, or
 * when it went down: seed 27 --down-power, a Diskless Primary's daemon
 * died with its Secondary's, whose machine then lost power: the only
 * copy of what was acknowledged since the last FLUSH). */
static bool peer_lost_unflushed(int idx)
{
	struct sim_node *p = sim_run->node[1 - idx];

	return S.power_lost_ack[1 - idx] > sim_run->oracle.flushed_ack ||
	       (p ? !disk_is_copy(p) : !S.copy_down[1 - idx]);
}

/* Node idx's disk cache is gone (it lost power, up or already down):
 * what only it held unflushed is no longer promised. */
static void power_gone(int idx)
{
	if (both_down_after(idx) || peer_lost_unflushed(idx) ||
	    S.acked_alone[idx] || S.lone_ack[idx] > sim_run->oracle.flushed_ack)
		oracle_power_loss(&sim_run->oracle);
	/* The only disk cache holding the history lost power (the other
	 * node is down too, or holds no copy): what was acknowledged and
	 * not flushed may be gone everywhere, and the order promise starts
	 * over with the writes issued from now (seed 853: a Diskless
	 * Primary's only disk lost power and came back without them). A
	 * Secondary alive next to it keeps its promise. */
	if (!peer_holds_copy(idx))
		order_restart(&sim_run->order, sim_run->oracle.next_gen);
	S.power_lost_ack[idx] = sim_run->oracle.next_ack;
}

/* Seed 1039: the Primary lost power (its cache held writes acknowledged
 * since the last FLUSH), then the operator ran invalidate on its
 * Secondary, the one copy left, before the ping timeout told it the
 * Primary was gone: that copy is given up (Inconsistent, the target of
 * the Primary's disk when it returns), so nothing holds those writes. */
void copy_given_up(int idx)
{
	if (S.power_lost_ack[1 - idx] <= sim_run->oracle.flushed_ack)
		return;
	oracle_power_loss(&sim_run->oracle);
	order_restart(&sim_run->order, sim_run->oracle.next_gen);
}

/* A node dies. A power loss (power) keeps only what its disk made
 * durable; a process crash keeps the disk's cache (until the node loses
 * power while down, in a site power loss). The oracle forgets what only
 * a powered-off node held unflushed: the other node lost its cache too
 * (powered off, down or up since the last FLUSH: NBD promises nothing
 * unflushed across power losses) or holds no copy, or this node
 * acknowledged a write alone since (even if it is no Primary now), or
 * this Primary replicated to no UpToDate peer, or not in protocol C (its
 * peer's copy is rolled back by the crashed Primary's extents). A node
 * whose process died keeps its promises: its cache holds them. A single
 * node's crash is a power loss half of the time (--strict: always); a
 * site power loss takes both. */
void node_down(int idx, const char *why, bool power)
{
	struct sim_node *n = sim_run->node[idx];
	bool primary = n->res.st.role == ROLE_PRIMARY;
	/* Replicated to a copy that can stand in: an UpToDate peer (a
	 * SyncTarget's disk is not a copy until its resync ends). */
	bool connected = n->res.st.repl != RS_OFF &&
			 n->res.st.peer_disk == DS_UPTODATE;

	sim_trace("n%d CRASH (%s, %s): %s %s, replication %s", idx, why,
		  power ? "power lost" : "process died", role_name(n->res.st.role),
		  disk_state_name(n->res.st.disk_state),
		  repl_state_name(n->res.st.repl));
	/* Acknowledged alone: this Primary replicated to no UpToDate peer,
	 * or not in protocol C (its peer's copy is rolled back by the
	 * crashed Primary's extents). Kept for a power loss while down. */
	S.acked_alone[idx] = primary && (!connected || n->res.protocol != 'C');
	if (power)
		power_gone(idx);
	if (power && sim_run->node[1 - idx] &&
	    !resource_has_disk(&sim_run->node[1 - idx]->res))
		oracle_lose_inflight(&sim_run->oracle);
	S.died_alive[idx] = !power;
	S.copy_down[idx] = disk_is_copy(n);
	sched_cancel(&sim_run->sched, &S.relapse_ev[idx]);
	/* --down-power: half the dead processes' machines lose power
	 * before the restart (the one due in 0.1-5 s) if it comes first. */
	sched_cancel(&sim_run->sched, &S.down_power_ev[idx]);
	if (!power && S.down_power && rng_below(&sim_run->rng, 2))
		sched_after(&sim_run->sched, &S.down_power_ev[idx],
			    rng_range(&sim_run->rng, 1000, 3000000),
			    down_power_fire, (void *)(intptr_t)idx, "down power");
	client_node_gone(idx);
	sim_run->node[idx] = NULL;
	node_crash(n, power);
	S.crashes++;
	stop_forget(idx);
	S.fence_window[idx] = false;
	S.demote_pending[idx] = false;
	S.down_since_us[idx] = sim_now_us();
	if (!sched_queued(&S.restart_ev[idx]))
		sched_after(&sim_run->sched, &S.restart_ev[idx],
			    rng_range(&sim_run->rng, 100000, 5000000),
			    restart_fire, (void *)(intptr_t)idx, "restart");
}

/* ---- faults ------------------------------------------------------------ */

void heal_fire(struct sim_event *ev)
{
	(void)ev;
	sim_trace("net: healed");
	simnet_heal(sim_run->net);
}

static void fault_fire(struct sim_event *ev)
{
	unsigned x = (unsigned)rng_below(&sim_run->rng, 1000);
	int idx = (int)rng_below(&sim_run->rng, SIM_NODES);

	(void)ev;
	if (x < S.p_cut) {
		if (!simnet_is_cut(sim_run->net)) {
			sim_trace("net: CUT");
			S.cuts++;
			simnet_cut(sim_run->net);
			sched_after(&sim_run->sched, &S.heal_ev,
				    rng_range(&sim_run->rng, 200000, 12000000),
				    heal_fire, NULL, "heal");
		}
	} else if (x < S.p_cut + S.p_stall) {
		uint64_t d = rng_range(&sim_run->rng, 1000,
				       (uint64_t)S.nk.ping_timeout_ms * 500);

		sim_trace("net: stall for %" PRIu64 " ms", d / 1000);
		simnet_stall(sim_run->net, sim_now_us() + d);
		if (sim_now_us() + d > S.stall_until_us)
			S.stall_until_us = sim_now_us() + d;
	} else if (x < S.p_cut + S.p_stall + S.p_crash) {
		if (sim_run->node[idx] && S.stop && rng_below(&sim_run->rng, 2)) {
			/* --stop: half the time an operator stops the
			 * daemon instead (stop.h), a quarter of those both
			 * (a whole cluster's maintenance, both machines'
			 * shutdown). */
			node_stop(idx);
			if (sim_run->node[1 - idx] &&
			    rng_below(&sim_run->rng_stop, 4) == 0)
				node_stop(1 - idx);
		} else if (sim_run->node[idx]) {
			/* One node loses power (its disk keeps only what
			 * was flushed) or only its process dies. */
			bool power = S.strict || rng_below(&sim_run->rng, 2);

			node_down(idx, power ? "power loss" : "crash", power);
			/* --relapse, --down-power: half the daemon crashes take both
			 * daemons (one bug, one bad push): the peer's
			 * process dies too, with what it knew in memory. */
			if (!power && (S.relapse || S.down_power) &&
			    sim_run->node[1 - idx] &&
			    rng_below(&sim_run->rng, 2))
				node_down(1 - idx, "crash, both daemons", false);
		}
	} else if (x < S.p_cut + S.p_stall + S.p_crash + S.p_site) {
		/* The whole site: both nodes lose power at once, a node
		 * whose process is down too (its disk cache goes first). */
		bool idle[SIM_NODES];

		for (int i = 0; i < SIM_NODES; i++) {
			idle[i] = !sim_run->node[i] && S.died_alive[i];
			if (idle[i])
				power_off_down(i);
		}
		for (int i = 0; i < SIM_NODES; i++)
			if (idle[i])
				power_gone(i);
		for (int i = 0; i < SIM_NODES; i++)
			if (sim_run->node[i])
				node_down(i, "site power loss", true);
		x = 1000;	/* nothing else this round */
	} else if (x < S.p_cut + S.p_stall + S.p_crash + S.p_site + S.p_disk_bad) {
		struct simdisk *d = &sim_run->disk[idx];

		d->k.write_err = d->k.write_err ? 0 : 20000;
		d->k.read_err = d->k.read_err ? 0 : 20000;
		sim_trace("n%d disk: errors %s", idx, d->k.write_err ? "on" : "off");
	}
	sched_after(&sim_run->sched, &S.fault_ev,
		    rng_range(&sim_run->rng, 100000, 3000000), fault_fire, NULL,
		    "fault");
}

/* ---- a run ------------------------------------------------------------- */

static void setup_fire(struct sim_event *ev)
{
	struct sim_node *n = sim_run->node[0];
	char err[256];
	int ret;

	(void)ev;
	if (!n)
		return;
	/* The first promotion of a fresh pair (DRBD's initial sync). */
	sim_run->current = 0;
	ret = resource_promote(&n->res, true, err, sizeof(err));
	if (ret == -EINPROGRESS) {	/* the connected peer is asked */
		S.initial_waits = true;
		sim_trace("n0 operator: primary --force (initial) -> waits");
		return;
	}
	if (ret < 0)
		sim_fail("initial primary --force refused: %s", err);
	sim_trace("n0 operator: primary --force (initial)");
}

static void swarm(void)
{
	struct rng *r = &sim_run->rng;
	static const enum config_fencing fences[] = {
		FENCING_DONT_CARE, FENCING_RESOURCE_ONLY,
		FENCING_RESOURCE_AND_STONITH, FENCING_RESOURCE_AND_STONITH,
	};

	memset(&S.nk, 0, sizeof(S.nk));
	S.nk.fencing = fences[rng_below(r, 4)];
	S.nk.protocol = 'C';
	S.switch_protocol = rng_below(r, 4) == 0;
	S.nk.ping_timeout_ms = (uint32_t)rng_range(r, 500, 3000);
	S.nk.hook_timeout_ms = (uint32_t)rng_range(r, 1000, 5000);
	S.nk.resync_rate_max_mib = rng_below(r, 2) ? 0 :
				   (uint32_t)rng_range(r, 1, 20);
	S.nk.resync_checksum = rng_below(r, 2);
	S.nk.direct = S.direct;
	S.dk.lat_min_us = (uint32_t)rng_range(r, 10, 200);
	S.dk.lat_max_us = S.dk.lat_min_us + (uint32_t)rng_range(r, 0, 5000);
	S.dk.flush_err = rng_below(r, 4) == 0 ? (uint32_t)rng_range(r, 0, 20000) : 0;
	S.dk.crash_keep = (uint32_t)rng_range(r, 0, 1000000);
	S.dk.crash_block_keep = (uint32_t)rng_range(r, 0, 1000000);
	S.netk.delay_min_us = (uint32_t)rng_range(r, 20, 500);
	S.netk.delay_max_us = S.netk.delay_min_us + (uint32_t)rng_range(r, 0, 20000);
	S.netk.buf_bytes = (uint32_t)rng_range(r, 8, 160) * 1024;
	S.ck.depth = (unsigned)rng_range(r, 1, CLIENT_SLOTS);
	S.ck.gap_min_us = (uint32_t)rng_range(r, 10, 500);
	S.ck.gap_max_us = S.ck.gap_min_us + (uint32_t)rng_range(r, 0, 20000);
	S.ck.pct_read = (unsigned)rng_range(r, 0, 40);
	S.ck.pct_flush = (unsigned)rng_range(r, 0, 15);
	S.ck.pct_trim = (unsigned)rng_range(r, 0, 5);
	S.ck.pct_zero = (unsigned)rng_range(r, 0, 5);
	S.ck.pct_fua = (unsigned)rng_range(r, 0, 20);
	S.p_cut = (unsigned)rng_range(r, 0, 150);
	S.p_stall = (unsigned)rng_range(r, 0, 150);
	S.p_crash = (unsigned)rng_range(r, 0, 100);
	S.p_site = (unsigned)rng_range(r, 0, 30);
	S.p_disk_bad = rng_below(r, 4) == 0 ? (unsigned)rng_range(r, 0, 30) : 0;
	S.p_op = (unsigned)rng_range(r, 100, 1000);
	for (int i = 0; i < 8; i++)
		S.hook_code_weights[i] = (uint32_t)rng_below(r, 10);
	/* The pool and the request sizes (their own stream): half the runs
	 * keep 4 KiB requests and a 4 MiB pool; the others take a pool of
	 * 4..8 MiB and requests up to the largest the NBD server allows
	 * (client_blocks_max, set once the disk's size is known), at a
	 * depth that can fill it, moving at most 1..8 MiB per simulated
	 * second (a run's cost is the bytes it copies: unlimited, a seed
	 * took up to 20 s). */
	S.nk.buffer_bytes = 4ULL << 20;
	S.big = rng_below(&sim_run->rng_size, 2) != 0;
	if (S.big) {
		S.nk.buffer_bytes = rng_range(&sim_run->rng_size, 4, 8) << 20;
		S.ck.pct_multi = (unsigned)rng_range(&sim_run->rng_size, 10, 100);
		S.ck.bytes_per_s = rng_range(&sim_run->rng_size, 1, 8) << 20;
		if (S.ck.depth < 2)
			S.ck.depth = 2;
	}
	sim_trace("swarm: fencing %s, ping timeout %u ms, disk latency %u-%u us, "
		  "net delay %u-%u us, buffer %u KiB, depth %u, faults cut %u "
		  "stall %u crash %u disk %u, protocol switches %s, pool %u MiB, "
		  "multi-block requests %u%% at %u MiB/s",
		  config_fencing_name(S.nk.fencing), S.nk.ping_timeout_ms,
		  S.dk.lat_min_us, S.dk.lat_max_us, S.netk.delay_min_us,
		  S.netk.delay_max_us, S.netk.buf_bytes / 1024, S.ck.depth,
		  S.p_cut, S.p_stall, S.p_crash, S.p_disk_bad,
		  S.switch_protocol ? "yes" : "no",
		  (unsigned)(S.nk.buffer_bytes >> 20), S.ck.pct_multi,
		  (unsigned)(S.ck.bytes_per_s >> 20));
}

static bool opt_strict, opt_direct, opt_relapse, opt_down_power, opt_stop;
static bool opt_lying_disk;

static void run_init(struct sim_run *r, uint64_t seed, bool trace)
{
	memset(r, 0, sizeof(*r));
	memset(&S, 0, sizeof(S));
	S.strict = opt_strict;
	S.direct = opt_direct;
	S.relapse = opt_relapse;
	S.down_power = opt_down_power;
	S.stop = opt_stop;
	sim_run = r;
	r->seed = seed;
	r->trace_all = trace;
	sched_init(&r->sched);
	rng_seed(&r->rng, seed);
	rng_fork(&r->rng, &r->rng_env);
	rng_fork(&r->rng, &r->rng_net);
	rng_fork(&r->rng, &r->rng_hook);
	rng_seed(&r->rng_size, seed ^ 0x706f6f6c73697a65ULL);
	rng_seed(&r->rng_stop, seed ^ 0x73746f7062617468ULL);
	swarm();
	S.dk.flush_lies = opt_lying_disk;
	for (int i = 0; i < SIM_NODES; i++) {
		static const char *const names[] = { "disk-alpha", "disk-bravo" };

		if (simdisk_init(&r->disk[i], names[i], &r->sched,
				 rng_next(&r->rng), DISK_BYTES, &S.dk) < 0)
			sim_fail("memfd: %s", strerror(errno));
	}
	r->net = simnet_new(&S.netk);
	sched_event_init(&S.op_ev);
	sched_event_init(&S.fault_ev);
	sched_event_init(&S.heal_ev);
	sched_event_init(&S.setup_ev);
	for (int i = 0; i < SIM_NODES; i++) {
		sched_event_init(&S.restart_ev[i]);
		sched_event_init(&S.relapse_ev[i]);
		sched_event_init(&S.down_power_ev[i]);
	}
	stop_init();
}

static void run_fini(struct sim_run *r)
{
	/* The nodes first: their requests in flight point into the
	 * client's buffers. */
	for (int i = 0; i < SIM_NODES; i++)
		if (r->node[i]) {
			node_crash(r->node[i], false);
			r->node[i] = NULL;
		}
	client_fini();
	for (int i = 0; i < SIM_NODES; i++)
		simdisk_fini(&r->disk[i]);
	simnet_free(r->net);
	oracle_fini(&r->oracle);
	order_fini(&r->order);
	orderwatch_fini();
	sched_fini(&r->sched);
	simbuf_release();
}

struct run_stats {
	uint64_t steps, sim_us;
};

static struct run_stats run_seed(uint64_t seed, uint64_t steps, bool trace)
{
	static struct sim_run run;
	struct sim_run *r = &run;
	struct run_stats st;
	uint64_t nblocks;

	run_init(r, seed, trace);
	S.steps_max = steps;
	for (int i = 0; i < SIM_NODES; i++)
		if (node_create_md(i) < 0)
			sim_fail("create-md failed on n%d", i);
	for (int i = 0; i < SIM_NODES; i++) {
		r->node[i] = node_start(i, &S.nk);
		if (!r->node[i])
			sim_fail("n%d does not start", i);
	}
	nblocks = r->node[0]->res.disk.size_bytes / ORACLE_BLOCK;
	if (oracle_init(&r->oracle, nblocks) < 0 ||
	    order_init(&r->order, nblocks) < 0)
		sim_fail("out of memory");
	orderwatch_init();
	if (S.big)
		S.ck.blocks_max = client_blocks_max(S.nk.buffer_bytes, nblocks);
	client_init(&S.ck, nblocks);
	sched_after(&r->sched, &S.setup_ev, 1000, setup_fire, NULL, "setup");
	client_start();
	sched_after(&r->sched, &S.op_ev, 500000, op_fire, NULL, "operator");
	sched_after(&r->sched, &S.fault_ev, 1000000, fault_fire, NULL, "fault");
	while (r->sched.steps < steps && sched_step(&r->sched)) {
		for (int i = 0; i < SIM_NODES; i++)
			if (r->node[i])
				simloop_drain(&r->node[i]->sl);
		check_all();
	}
	heal_begin();
	for (;;) {
		char why[320];

		if (heal_converged(why, sizeof(why)))
			break;
		if (sim_now_us() - S.heal_start_us > LIVE_HEAL_US) {
			sim_report_nodes();
			sim_fail("invariant 7 (liveness): %llu s after the heal "
				 "began: %s", LIVE_HEAL_US / 1000000, why);
		}
		if (!sched_step(&r->sched))
			sim_fail("invariant 7 (liveness): nothing left to run "
				 "after the heal began: %s", why);
		for (int i = 0; i < SIM_NODES; i++)
			if (r->node[i])
				simloop_drain(&r->node[i]->sl);
		check_all();
	}
	sim_trace("heal: converged after %" PRIu64 " ms",
		  (sim_now_us() - S.heal_start_us) / 1000);
	st.steps = r->sched.steps;
	st.sim_us = r->sched.now_us;
	if (trace)
		sim_trace("end: %" PRIu64 " steps, %" PRIu64 " ms simulated, "
			  "%" PRIu64 " promotions, %" PRIu64 " audits, %" PRIu64
			  " crashes, %" PRIu64 " cuts, %" PRIu64 " order checks, "
			  "%" PRIu64 " of %" PRIu64 " disk writes and %" PRIu64
			  " of %" PRIu64 " flushes at once",
			  st.steps, st.sim_us / 1000, S.promotions, S.audits,
			  S.crashes, S.cuts, r->order.checks,
			  r->disk[0].writes_now + r->disk[1].writes_now,
			  r->disk[0].writes + r->disk[1].writes,
			  r->disk[0].flushes_now + r->disk[1].flushes_now,
			  r->disk[0].flushes + r->disk[1].flushes);
	run_fini(r);
	return st;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: blockd-sim --seed N [--steps K] [--strict] [--direct] "
		   "[--relapse] [--down-power] [--stop] [--trace]\n"
		   "       blockd-sim --seeds A..B [--steps K] [--strict] [--direct] "
		   "[--relapse] [--down-power] [--stop]\n"
		   "--strict: every single-node crash is a power loss (by "
		   "default half of them are)\n"
		   "--direct: the nodes' disks are opened O_DIRECT (io-mode = "
		   "direct, the daemon's default; by default buffered)\n"
		   "--relapse: a node whose process died loses power soon "
		   "after it restarts; half the daemon crashes take both\n"
		   "--down-power: half the nodes whose process died lose "
		   "power while still down, before their restart; half the "
		   "daemon crashes take both\n"
		   "--stop: half the node crashes are an operator's clean stop "
		   "(SIGTERM) instead, a quarter of them on both nodes; each must\n"
		   "  end within 20 s\n"
		   "--lying-disk: a self-test of the checks: the disks complete "
		   "FLUSH without making\n  anything durable; every seed must "
		   "fail\n");
}

/* The engine's own assertions (assert: every build) end a run like an
 * invariant: the trace's tail, the seed and the replay command. */
static void on_abort(int sig)
{
	(void)sig;
	signal(SIGABRT, SIG_DFL);
	if (sim_run)
		sim_fail("the engine aborted: an assertion failed (above)");
	_exit(1);
}

/* A seed that never ends (a step that loops without advancing simulated
 * time, as a send queue pointing at itself did: seed 211 --stop
 * --direct) fails after SIM_WALL_S of wall time with its trace and its
 * replay command, instead of holding its sweep for good. Seeds take
 * seconds, a sanitizer build tens of seconds. */
#define SIM_WALL_S 300

static void on_alarm(int sig)
{
	(void)sig;
	if (sim_run)
		sim_fail("the run did not end within %d s of wall time: a "
			 "step that never returns?", SIM_WALL_S);
	_exit(1);
}

int main(int argc, char **argv)
{
	uint64_t first = 1, last = 1, steps = 20000;
	bool trace = false, have_seed = false;
	struct run_stats total = { 0, 0 };

	signal(SIGABRT, on_abort);
	signal(SIGALRM, on_alarm);
	sim_env_use();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			first = last = strtoull(argv[++i], NULL, 0);
			have_seed = true;
		} else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			if (sscanf(argv[++i], "%" SCNu64 "..%" SCNu64, &first,
				   &last) != 2 || last < first) {
				usage(stderr);
				return 2;
			}
			have_seed = true;
		} else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
			steps = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--strict")) {
			opt_strict = true;
		} else if (!strcmp(argv[i], "--direct")) {
			opt_direct = true;
		} else if (!strcmp(argv[i], "--relapse")) {
			opt_relapse = true;
		} else if (!strcmp(argv[i], "--down-power")) {
			opt_down_power = true;
		} else if (!strcmp(argv[i], "--stop")) {
			opt_stop = true;
		} else if (!strcmp(argv[i], "--lying-disk")) {
			opt_lying_disk = true;
		} else if (!strcmp(argv[i], "--trace")) {
			trace = true;
		} else {
			usage(!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")
			      ? stdout : stderr);
			return argv[i][1] == 'h' || !strcmp(argv[i], "--help") ? 0 : 2;
		}
	}
	if (!have_seed) {
		usage(stderr);
		return 2;
	}
	/* Large frames and cached writes come and go by the megabyte: keep
	 * them on the heap rather than map and unmap (and fault in) each. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	for (uint64_t s = first; s <= last; s++) {
		struct run_stats st;

		alarm(SIM_WALL_S);
		st = run_seed(s, steps, trace);
		alarm(0);

		total.steps += st.steps;
		total.sim_us += st.sim_us;
		if (s == UINT64_MAX)
			break;
	}
	printf("ok: %" PRIu64 " seed%s, %" PRIu64 " steps, %" PRIu64
	       " s simulated\n", last - first + 1, last == first ? "" : "s",
	       total.steps, total.sim_us / 1000000);
	return 0;
}
