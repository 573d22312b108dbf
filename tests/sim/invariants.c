/* invariants.c - the simulator's invariants after every step (numbered
 * as in sim.c's header) and the heal's convergence check (invariant 7):
 * what each node's states, disks and counters must show. The order
 * promise (9) is orderwatch.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "orderwatch.h"
#include "report.h"
#include "simstate.h"

static bool is_source(enum repl_state r)
{
	return r == RS_SYNC_SOURCE || r == RS_PAUSED_SYNC_S;
}

static bool is_target(enum repl_state r)
{
	return r == RS_SYNC_TARGET || r == RS_PAUSED_SYNC_T;
}

static void check_resync_equal(void)
{
	struct sim_node *a = sim_run->node[0], *b = sim_run->node[1];
	uint8_t x[ORACLE_BLOCK], y[ORACLE_BLOCK];

	if (!a || !b || a->res.st.repl != RS_ESTABLISHED ||
	    b->res.st.repl != RS_ESTABLISHED || a->res.st.disk_state != DS_UPTODATE ||
	    b->res.st.disk_state != DS_UPTODATE)
		return;
	if (client_inflight(0) || client_inflight(1))
		return;		/* not yet: writes still travel */
	S.resync_ended = false;
	for (unsigned i = 0; i < CLIENT_WORKING_SET; i++) {
		uint64_t blk = client_block(i);

		/* Written since the resync ended: a failed write may be on
		 * one side only until the next resync. */
		if (sim_run->oracle.b[blk].issued >= S.resync_end_gen)
			continue;

		simdisk_peek(&sim_run->disk[0], blk * ORACLE_BLOCK, ORACLE_BLOCK, x);
		simdisk_peek(&sim_run->disk[1], blk * ORACLE_BLOCK, ORACLE_BLOCK, y);
		if (memcmp(x, y, ORACLE_BLOCK))
			sim_fail("invariant 3: after the resync, block %" PRIu64
				 " holds generation %" PRId64 " on n0 and %" PRId64
				 " on n1", blk, (int64_t)oracle_parse(blk, x),
				 (int64_t)oracle_parse(blk, y));
	}
	sim_trace("resync check: both disks equal on the working set");
}

static void check_node(int idx)
{
	struct sim_node *n = sim_run->node[idx];
	struct resource *res;
	enum repl_state was = S.prev_repl[idx];

	if (!n)
		return;
	res = &n->res;
	if (res->acts) {
		char names[160] = "";
		size_t used = 0;

		for (unsigned b = 0; b < SM_ACT_COUNT; b++)
			if (res->acts & (1U << b))
				used += (size_t)snprintf(names + used, sizeof(names) - used,
							 "%s%s", used ? ", " : "",
							 sm_act_name(1U << b));
		sim_fail("invariant 10: n%d: a state change asked for %s, and no "
			 "executor ran it", idx, names);
	}
	/* Two Primaries never exchange data: a node that stayed Primary
	 * takes none of its peer's writes. */
	if (S.prev_primary[idx] && res->st.role == ROLE_PRIMARY &&
	    res->rx.data_received_bytes != S.prev_rx_bytes[idx])
		sim_fail("invariant 8: n%d, Primary, took %" PRIu64 " bytes of "
			 "its peer's writes", idx,
			 res->rx.data_received_bytes - S.prev_rx_bytes[idx]);
	S.prev_primary[idx] = res->st.role == ROLE_PRIMARY;
	S.prev_rx_bytes[idx] = res->rx.data_received_bytes;
	if (is_source(res->st.repl) && !is_source(was) &&
	    res->st.disk_state != DS_UPTODATE &&
	    !(res->st.disk_state == DS_OUTDATED && res->st.peer_disk == DS_INCONSISTENT))
		sim_fail("invariant 2: n%d became %s with a %s disk", idx,
			 repl_state_name(res->st.repl),
			 disk_state_name(res->st.disk_state));
	if (is_source(res->st.repl) && !is_source(was))
		S.src_ended = false;
	if (is_source(was) && res->st.repl == RS_ESTABLISHED) {
		S.src_ended = true;
		S.src_end_gen = sim_run->oracle.next_gen;
	}
	/* Since the resync ended: from the first side that saw it end (a
	 * write issued after the source finished may still travel when the
	 * target finishes). */
	if (is_target(was) && res->st.repl == RS_ESTABLISHED) {
		S.resync_ended = true;
		S.resync_end_gen = sim_run->oracle.next_gen;
		if (S.src_ended && S.src_end_gen < S.resync_end_gen)
			S.resync_end_gen = S.src_end_gen;
		S.src_ended = false;
	}
	/* Invariant 4's window: a Primary lost its peer under stonith. */
	if (S.nk.fencing == FENCING_RESOURCE_AND_STONITH &&
	    res->st.role == ROLE_PRIMARY && was != RS_OFF && res->st.repl == RS_OFF &&
	    !S.fence_window[idx]) {
		S.fence_window[idx] = true;
		S.fence_window_gen[idx] = sim_run->oracle.next_gen;
	}
	if (res->st.repl != RS_OFF || res->st.role != ROLE_PRIMARY)
		S.fence_window[idx] = false;
	S.prev_repl[idx] = res->st.repl;
}

/* Up, connected, and no fault at work: a request has no excuse to wait. */
static bool pair_calm(void)
{
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i];

		if (!n || n->res.st.peer_conn != CS_CONNECTED || n->res.st.repl == RS_OFF ||
		    sim_run->disk[i].k.write_err || sim_run->disk[i].k.read_err)
			return false;
	}
	return !simnet_is_cut(sim_run->net) && sim_now_us() >= S.stall_until_us;
}

/* Invariant 6. */
static void check_liveness(void)
{
	uint64_t issued, from;
	char what[160];

	if (!pair_calm()) {
		S.calm_since_us = 0;
		return;
	}
	if (!S.calm_since_us)
		S.calm_since_us = sim_now_us();
	if (!client_oldest(&issued, what, sizeof(what)))
		return;
	from = issued > S.calm_since_us ? issued : S.calm_since_us;
	if (sim_now_us() - from > LIVE_REQ_US) {
		sim_report_nodes();
		sim_fail("invariant 6 (liveness): %s unanswered for %" PRIu64
			 " s while the pair is connected and no fault is active",
			 what, (sim_now_us() - issued) / 1000000);
	}
}

void check_all(void)
{
	for (int i = 0; i < SIM_NODES; i++)
		check_node(i);
	/* Writes acknowledged in A or B may still travel: no comparison
	 * (after both nodes' transitions of this step). */
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i];

		if (n && n->res.st.role == ROLE_PRIMARY && n->res.protocol != 'C')
			S.resync_ended = false;
	}
	check_liveness();
	orderwatch_step();
	if (S.resync_ended)
		check_resync_equal();
	promises_rebase();
}

/* Invariant 7: has the pair converged? If not, why (for the report).
 * The disks are compared at most every 100 ms of simulated time. */
bool heal_converged(char *why, size_t len)
{
	static uint8_t x[1 << 20], y[1 << 20];
	uint64_t issued, bytes = sim_run->oracle.nblocks * ORACLE_BLOCK;
	char what[160];

	if (client_oldest(&issued, what, sizeof(what))) {
		snprintf(why, len, "%s, issued %" PRIu64 " s before, is not "
			 "answered", what, (sim_now_us() - issued) / 1000000);
		return false;
	}
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i];

		if (!n) {
			snprintf(why, len, "n%d is down", i);
			return false;
		}
	}
	for (int i = 0; i < SIM_NODES; i++) {
		struct resource *a = &sim_run->node[i]->res;
		struct resource *b = &sim_run->node[1 - i]->res;

		if (a->st.repl != RS_ESTABLISHED || a->st.disk_state != DS_UPTODATE) {
			snprintf(why, len, "n%d is %s %s %s %s, n%d %s %s %s %s",
				 i, role_name(a->st.role), conn_state_name(a->st.peer_conn),
				 repl_state_name(a->st.repl),
				 disk_state_name(a->st.disk_state), 1 - i,
				 role_name(b->st.role), conn_state_name(b->st.peer_conn),
				 repl_state_name(b->st.repl),
				 disk_state_name(b->st.disk_state));
			return false;
		}
	}
	if (client_auditing()) {
		snprintf(why, len, "an audit is still reading");
		return false;
	}
	if (sim_now_us() - S.heal_cmp_us < 100000 && S.heal_cmp_us) {
		snprintf(why, len, "the disks differ");
		return false;
	}
	S.heal_cmp_us = sim_now_us();
	for (uint64_t off = 0; off < bytes; off += sizeof(x)) {
		uint32_t l = bytes - off < sizeof(x) ? (uint32_t)(bytes - off) :
			     (uint32_t)sizeof(x);

		simdisk_peek(&sim_run->disk[0], off, l, x);
		simdisk_peek(&sim_run->disk[1], off, l, y);
		if (!memcmp(x, y, l))
			continue;
		for (uint32_t b = 0; b < l; b += ORACLE_BLOCK)
			if (memcmp(x + b, y + b, ORACLE_BLOCK)) {
				uint64_t blk = (off + b) / ORACLE_BLOCK;

				snprintf(why, len, "the disks differ: block %" PRIu64
					 " holds generation %" PRId64 " on n0 and %"
					 PRId64 " on n1", blk,
					 (int64_t)oracle_parse(blk, x + b),
					 (int64_t)oracle_parse(blk, y + b));
				break;
			}
		return false;
	}
	return true;
}

