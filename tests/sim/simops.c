/* simops.c - the simulator's operators and the final heal: what a
 * person at each node does (promote, demote, connect, disconnect,
 * switch protocols, pause resync, invalidate, --discard-my-data, and
 * --force only where a person would), drawn from the run's seed, and
 * after the steps the heal that brings the pair back together
 * (invariant 7, sim.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "blockd/engine/resource.h"
#include "simstate.h"
#include "stop.h"

static bool syncing(const struct resource *res)
{
	return res->st.repl == RS_SYNC_SOURCE || res->st.repl == RS_SYNC_TARGET ||
	       res->st.repl == RS_PAUSED_SYNC_S || res->st.repl == RS_PAUSED_SYNC_T;
}

/* A promotion without --force that worked: what the node reads must meet
 * the promises still held. */
void promoted(int idx, bool forced)
{
	S.promotions++;
	if (forced) {
		struct sim_node *n = sim_run->node[idx];
		uint8_t buf[ORACLE_BLOCK], dbuf[ORACLE_BLOCK];
		uint64_t off0 = 0;

		/* The operator declared this disk's content current: it is
		 * the new baseline of every promise. */
		(void)off0;
		for (uint64_t b = 0; b < sim_run->oracle.nblocks; b++) {
			simdisk_peek(&sim_run->disk[idx], b * ORACLE_BLOCK,
				     ORACLE_BLOCK, buf);
			simdisk_peek_durable(&sim_run->disk[idx], b * ORACLE_BLOCK,
					     ORACLE_BLOCK, dbuf);
			oracle_rebase(&sim_run->oracle, b, oracle_parse(b, buf),
				      oracle_parse(b, dbuf));
		}
		(void)n;
		return;
	}
	if (sim_promise_holds(ORACLE_ACKED)) {
		S.audits++;
		client_audit(idx, ORACLE_ACKED, "promoted, protocol C");
	} else if (sim_promise_holds(ORACLE_FLUSHED)) {
		S.audits++;
		client_audit(idx, ORACLE_FLUSHED, "promoted, flushed data");
	}
}

static void op_promote(struct sim_node *n)
{
	struct sim_node *p = sim_run->node[1 - n->idx];
	char err[512];
	bool force = false;
	int ret;

	if (n->res.st.role == ROLE_PRIMARY)
		return;
	/* A person forces only when the peer is gone for good: down for
	 * a long while and nobody else can serve. */
	if (!p && sim_now_us() - S.down_since_us[1 - n->idx] > 8000000 &&
	    rng_below(&sim_run->rng, 4) == 0)
		force = true;
	sim_run->current = n->idx;
	ret = resource_promote(&n->res, force, err, sizeof(err));
	if (ret == -EINPROGRESS) {
		S.promote_forced[n->idx] = force;
		sim_trace("n%d operator: primary%s -> waits for %s", n->idx,
			  force ? " --force" : "",
			  n->res.rolereq.asked ? "the peer's yes" : "fence-peer");
		return;
	}
	sim_trace("n%d operator: primary%s -> %s%s", n->idx,
		  force ? " --force" : "", ret ? "refused: " : "ok",
		  ret ? err : "");
	if (ret == 0) {
		if (force)
			S.forced = true;
		promoted(n->idx, force);
	}
}

void sim_promotion_answered(int idx, int ret, const char *err)
{
	bool force = S.promote_forced[idx];

	if (S.initial_waits && idx == 0) {
		S.initial_waits = false;
		if (ret < 0)
			sim_fail("initial primary --force refused: %s", err);
		sim_trace("n0 operator: primary --force (initial) -> ok");
		return;
	}
	S.promote_forced[idx] = false;
	sim_trace("n%d operator: primary%s (answered) -> %s%s", idx,
		  force ? " --force" : "", ret ? "refused: " : "ok",
		  ret ? err : "");
	if (ret == 0) {
		if (force)
			S.forced = true;
		promoted(idx, force);
	}
}

void sim_event(int idx, const char *what)
{
	if (!strcmp(what, "unrelated-data"))
		S.unrelated[idx] = true;
	else if (!strcmp(what, "connected"))
		S.unrelated[idx] = false;
}

static void op_demote(struct sim_node *n)
{
	char err[256];
	int ret;

	if (n->res.st.role != ROLE_PRIMARY || client_auditing())
		return;
	/* The clients disconnect first (the daemon refuses otherwise). */
	if (client_inflight(n->idx)) {
		S.demote_pending[n->idx] = true;
		return;
	}
	S.demote_pending[n->idx] = false;
	sim_run->current = n->idx;
	ret = resource_demote(&n->res, err, sizeof(err));
	sim_trace("n%d operator: secondary -> %s%s", n->idx,
		  ret ? "refused: " : "ok", ret ? err : "");
}

static void op_connection(struct sim_node *n)
{
	struct resource *res = &n->res;
	char err[256];
	int ret;

	sim_run->current = n->idx;
	if (res->st.peer_conn == CS_STANDALONE) {
		/* After a split brain the Secondary gives up its changes. */
		bool discard = res->st.role != ROLE_PRIMARY &&
			       rng_below(&sim_run->rng, 2) == 0;

		ret = resource_connect(res, discard, err, sizeof(err));
		sim_trace("n%d operator: connect%s -> %s%s", n->idx,
			  discard ? " --discard-my-data" : "",
			  ret ? "refused: " : "ok", ret ? err : "");
	} else if (rng_below(&sim_run->rng, 4) == 0) {
		ret = resource_disconnect(res, err, sizeof(err));
		sim_trace("n%d operator: disconnect -> %s", n->idx,
			  ret ? err : "ok");
	}
}

static void op_sync_pause(struct sim_node *n)
{
	sim_run->current = n->idx;
	if (n->res.st.sync_paused) {
		sim_trace("n%d operator: resume-sync", n->idx);
		peer_set_paused(&n->res, false);
	} else if (syncing(&n->res)) {
		sim_trace("n%d operator: pause-sync", n->idx);
		peer_set_paused(&n->res, true);
	}
}

/* invalidate [--bitmap] (this node's data fetched again from the peer)
 * or invalidate-remote [--bitmap] (the peer's from here): the engine's
 * refusals decide when, invariant 2 checks who becomes the source. */
static void op_invalidate(struct sim_node *n)
{
	unsigned k = (unsigned)rng_below(&sim_run->rng, 4);
	bool bitmap = k & 1;
	char err[256];
	int ret;

	sim_run->current = n->idx;
	if (k < 2)
		ret = peer_request_full_sync(&n->res, bitmap, err, sizeof(err));
	else
		ret = peer_start_resync(&n->res, !bitmap, err, sizeof(err));
	sim_trace("n%d operator: %s%s -> %s%s", n->idx,
		  k < 2 ? "invalidate" : "invalidate-remote",
		  bitmap ? " --bitmap" : "", ret ? "refused: " : "ok",
		  ret ? err : "");
	if (k < 2 && ret == 0)
		copy_given_up(n->idx);
}

static void op_protocol(struct sim_node *n)
{
	static const char protos[] = "ABC";
	char p = protos[rng_below(&sim_run->rng, 3)], err[256];
	int ret;

	sim_run->current = n->idx;
	ret = resource_set_protocol(&n->res, p, err, sizeof(err));
	sim_trace("n%d operator: protocol %c -> %s", n->idx, p, ret ? err : "ok");
}

/* A Primary the heal demotes waits for its clients, but fencing froze
 * their writes and no fence-peer run will end that: it failed, or the
 * peer came back Primary (split brain) or without a disk to sync from
 * (connected then, but with nothing that could settle it: seed 451).
 * Its log says what a person does then: 'blockctl resume-io'. The
 * writes it then acknowledges alone void the promises (client.c counts
 * them), and invariant 4's window closes: the operator took the risk. */
static void heal_resume_io(struct sim_node *n)
{
	struct resource *res = &n->res;
	char err[256];
	int ret;

	if (!S.demote_pending[n->idx] || res->st.role != ROLE_PRIMARY ||
	    !res->st.io_frozen || res->fence.running ||
	    (res->st.peer_conn == CS_CONNECTED && res->st.peer_disk == DS_UPTODATE))
		return;
	sim_run->current = n->idx;
	ret = fencing_resume_io(res, err, sizeof(err));
	sim_trace("n%d heal: resume-io -> %s", n->idx, ret ? err : "ok");
	if (ret == 0)
		S.fence_window[n->idx] = false;
}

/* Whose changes a person gives up after a split brain: a disk that is
 * not UpToDate against an UpToDate one (the engine refuses to make a
 * Primary SyncTarget over its own writes, and an Outdated disk is never
 * SyncSource), else of two alike, the second node's. */
static bool heal_victim(const struct sim_node *n)
{
	const struct sim_node *p = sim_run->node[1 - n->idx];
	bool mine = n->res.st.disk_state == DS_UPTODATE;
	bool theirs = p && p->res.st.disk_state == DS_UPTODATE;

	if (p && mine != theirs)
		return theirs;
	return n->idx == 1;
}

/* The heal phase's operator: whatever keeps the pair from converging
 * that a person would undo (a detached disk, a StandAlone node after a
 * split brain, a paused resync, two Primaries). */
static void heal_node(struct sim_node *n)
{
	struct sim_node *p = sim_run->node[1 - n->idx];
	struct resource *res = &n->res;
	char err[256];
	int ret;

	sim_run->current = n->idx;
	if (res->st.disk_state == DS_DISKLESS) {
		ret = resource_attach(res, err, sizeof(err));
		sim_trace("n%d heal: attach -> %s", n->idx, ret ? err : "ok");
	}
	if (res->st.sync_paused) {
		sim_trace("n%d heal: resume-sync", n->idx);
		peer_set_paused(res, false);
	}
	if (res->st.peer_conn == CS_STANDALONE) {
		/* The Secondary gives up its changes (of two, the second). */
		bool discard = res->st.role != ROLE_PRIMARY &&
			       (heal_victim(n) || (p && p->res.st.role == ROLE_PRIMARY));

		ret = resource_connect(res, discard, err, sizeof(err));
		sim_trace("n%d heal: connect%s -> %s", n->idx,
			  discard ? " --discard-my-data" : "", ret ? err : "ok");
	}
	if (res->st.role == ROLE_PRIMARY && heal_victim(n) && p &&
	    (p->res.st.role == ROLE_PRIMARY || res->st.peer_conn != CS_CONNECTED))
		op_demote(n);
	heal_resume_io(n);
}

/* How much a person trusts a disk when none is UpToDate. */
static int disk_rank(const struct sim_node *n)
{
	switch (n->res.st.disk_state) {
	case DS_UPTODATE:
		return 4;
	case DS_CONSISTENT:
		return 3;
	case DS_OUTDATED:
		return 2;
	case DS_INCONSISTENT:
		return 1;
	default:
		return 0;
	}
}

/* The heal's operator when the engine cannot converge on its own, after
 * HEAL_PATIENCE_US of looking (doing what its refusals tell a person):
 * - no disk is UpToDate (both failed, outdated, or cut mid-resync): the
 *   best one is promoted with --force, the data of the others is lost
 *   for good (its promises are void: a forced promotion);
 * - an Inconsistent disk refused as unrelated data (its generation fell
 *   out of the peer's history while it waited): 'create-md --force'
 *   there, it holds nothing worth keeping;
 * - a disk given up with generations newer than its UpToDate peer's
 *   refuses to be a source and to be synced over (sm_connect's
 *   self-no-source): as its log says, 'primary --force' on the peer
 *   (heal_node connects this one with --discard-my-data; sim seed 381
 *   --strict --direct). */
#define HEAL_PATIENCE_US (10ULL * 1000000)
static void heal_last_resort(void)
{
	struct sim_node *a = sim_run->node[0], *b = sim_run->node[1];
	struct sim_node *best, *p;
	char err[512];
	int ret;

	if (!a || !b || sim_now_us() - S.heal_start_us < HEAL_PATIENCE_US)
		goto unrelated;
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i], *q = sim_run->node[1 - i];

		/* (connected by heal_node, refused again at once) */
		if (n->res.st.peer_conn == CS_CONNECTED ||
		    n->res.st.disk_state == DS_UPTODATE ||
		    !(n->res.meta.sb.flags & MDF_GIVEN_UP) ||
		    q->res.st.disk_state != DS_UPTODATE ||
		    q->res.st.role != ROLE_SECONDARY || S.promote_forced[q->idx])
			continue;
		sim_run->current = q->idx;
		ret = resource_promote(&q->res, true, err, sizeof(err));
		if (ret == -EINPROGRESS) {
			S.promote_forced[q->idx] = true;
			sim_trace("n%d heal: the peer's disk was given up: primary "
				  "--force -> waits", q->idx);
			return;
		}
		sim_trace("n%d heal: the peer's disk was given up: primary "
			  "--force -> %s%s", q->idx, ret ? "refused: " : "ok",
			  ret ? err : "");
		if (ret == 0) {
			S.forced = true;
			promoted(q->idx, true);
		}
		return;
	}
	/* Two Primaries wrote (a split brain); the heal demoted one, whose
	 * newer generation the other, still Primary, refuses as its source
	 * ("this Primary would have to discard its data") and stays
	 * StandAlone, while the Secondary keeps dialing. As that log says,
	 * a person drops the Secondary's changes: disconnect, then connect
	 * --discard-my-data there (seed 963 --stop --relapse --direct). */
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i], *q = sim_run->node[1 - i];

		const uint64_t *nu = n->res.meta.sb.uuid, *qu = q->res.meta.sb.uuid;

		/* (StandAlone, heal_node connects it with the flag) */
		if (n->res.st.role != ROLE_SECONDARY ||
		    n->res.st.peer_conn != CS_CONNECTING ||
		    (n->res.st.disk_state != DS_UPTODATE &&
		     n->res.st.disk_state != DS_CONSISTENT) ||
		    q->res.st.role != ROLE_PRIMARY ||
		    q->res.st.peer_conn == CS_CONNECTED ||
		    nu[UUID_BITMAP] != qu[UUID_CURRENT] ||
		    nu[UUID_CURRENT] == qu[UUID_CURRENT])
			continue;
		sim_run->current = n->idx;
		ret = resource_disconnect(&n->res, err, sizeof(err));
		if (ret == 0)
			ret = resource_connect(&n->res, true, err, sizeof(err));
		sim_trace("n%d heal: its Primary peer refuses this node's data: "
			  "disconnect, connect --discard-my-data -> %s", n->idx,
			  ret ? err : "ok");
		return;
	}
	if (a->res.st.disk_state == DS_UPTODATE || b->res.st.disk_state == DS_UPTODATE)
		goto unrelated;
	best = disk_rank(b) > disk_rank(a) ? b : a;
	p = sim_run->node[1 - best->idx];
	if (!disk_rank(best))
		return;
	if (p->res.st.role == ROLE_PRIMARY) {
		op_demote(p);
		return;
	}
	sim_run->current = best->idx;
	if (best->res.st.role == ROLE_PRIMARY) {
		op_demote(best);
		return;
	}
	ret = resource_promote(&best->res, true, err, sizeof(err));
	if (ret == -EINPROGRESS) {	/* the connected peer is asked */
		S.promote_forced[best->idx] = true;
		sim_trace("n%d heal: no disk is UpToDate: primary --force -> "
			  "waits", best->idx);
		return;
	}
	sim_trace("n%d heal: no disk is UpToDate: primary --force -> %s%s",
		  best->idx, ret ? "refused: " : "ok", ret ? err : "");
	if (ret == 0) {
		S.forced = true;
		promoted(best->idx, true);
	}
	return;
unrelated:
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i];

		struct sim_node *p = sim_run->node[1 - i];

		if (!n || !p || !S.unrelated[i] || disk_rank(p) < 2 ||
		    n->res.st.disk_state != DS_INCONSISTENT ||
		    n->res.st.role == ROLE_PRIMARY)
			continue;
		S.unrelated[i] = false;
		node_down(i, "heal: unrelated data on an Inconsistent disk, "
			  "create-md --force", false);
		if (node_create_md(i) < 0)
			sim_fail("create-md failed on n%d", i);
	}
}

/* The steps are done: faults stop, the network heals, the disks work,
 * the client issues nothing new; invariant 7 is due within LIVE_HEAL_US. */
void heal_begin(void)
{
	S.healing = true;
	S.heal_start_us = sim_now_us();
	sim_trace("heal: faults stop; every request must be answered and the "
		  "pair converge within %llu s", LIVE_HEAL_US / 1000000);
	client_stop();
	sched_cancel(&sim_run->sched, &S.fault_ev);
	if (simnet_is_cut(sim_run->net)) {
		sched_cancel(&sim_run->sched, &S.heal_ev);
		heal_fire(&S.heal_ev);
	}
	for (int i = 0; i < SIM_NODES; i++) {
		sim_run->disk[i].k.write_err = 0;
		sim_run->disk[i].k.read_err = 0;
		sim_run->disk[i].k.flush_err = 0;
	}
}

/* Online verify, started where a person would: on either node of a
 * pair in sync (refused otherwise, with the reason). */
static void op_verify(struct sim_node *n)
{
	char err[256];
	int ret;

	sim_run->current = n->idx;
	ret = verify_start(&n->res, err, sizeof(err));
	sim_trace("n%d operator: verify -> %s%s", n->idx, ret ? "refused: " : "ok",
		  ret ? err : "");
}

/* detach (to replace a disk), and attach once it is Diskless: the disk
 * comes back distrusted, resynced in full. */
static void op_detach_attach(struct sim_node *n)
{
	bool attach = n->res.st.disk_state == DS_DISKLESS;
	char err[256];
	int ret;

	sim_run->current = n->idx;
	ret = attach ? resource_attach(&n->res, err, sizeof(err))
		     : resource_detach(&n->res, err, sizeof(err));
	sim_trace("n%d operator: %s -> %s%s", n->idx, attach ? "attach" : "detach",
		  ret ? "refused: " : "ok", ret ? err : "");
}

/* outdate: what an outdate-peer hook does over ssh for a Primary that
 * lost its link to this node: only then does a person (or the hook) know
 * that this disk is the older one. Outdating the survivor of a dead
 * Primary would declare the newest data stale (seed 325 --strict). */
static void op_outdate(struct sim_node *n)
{
	struct sim_node *p = sim_run->node[1 - n->idx];
	char err[256];
	int ret;

	if (!p || p->res.st.role != ROLE_PRIMARY ||
	    p->res.st.peer_conn == CS_CONNECTED)
		return;
	sim_run->current = n->idx;
	ret = fencing_outdate(&n->res, err, sizeof(err));
	sim_trace("n%d operator: outdate -> %s%s", n->idx, ret ? "refused: " : "ok",
		  ret ? err : "");
}

void op_fire(struct sim_event *ev)
{
	int idx = (int)rng_below(&sim_run->rng, SIM_NODES);
	struct sim_node *n = sim_run->node[idx];
	unsigned what = (unsigned)rng_below(&sim_run->rng, 100);

	(void)ev;
	/* A daemon being stopped (--stop) is left alone until it is back. */
	if (n && sim_node_stopping(idx))
		n = NULL;
	if (S.healing) {
		for (int i = 0; i < SIM_NODES; i++)
			if (sim_run->node[i] && !sim_node_stopping(i))
				heal_node(sim_run->node[i]);
		if (!sim_node_stopping(0) && !sim_node_stopping(1))
			heal_last_resort();
	} else if (S.demote_pending[idx] && n) {
		op_demote(n);
	} else if (n && rng_below(&sim_run->rng, 1000) < S.p_op) {
		if (what < 25)
			op_promote(n);
		else if (what < 40)
			op_demote(n);
		else if (what < 70)
			op_connection(n);
		else if (what < 80)
			op_sync_pause(n);
		else if (what < 85)
			op_invalidate(n);
		else if (what < 89)
			op_verify(n);
		else if (what < 91)
			op_detach_attach(n);
		else if (what < 92)
			op_outdate(n);
		else if (S.switch_protocol)
			op_protocol(n);
	}
	/* With nobody Primary for long, a person promotes someone (the
	 * heal may have taken n down meanwhile: look again). */
	n = sim_node_stopping(idx) ? NULL : sim_run->node[idx];
	if (!(sim_run->node[0] && sim_run->node[0]->res.st.role == ROLE_PRIMARY) &&
	    !(sim_run->node[1] && sim_run->node[1]->res.st.role == ROLE_PRIMARY)) {
		if (!S.no_primary_since_us)
			S.no_primary_since_us = sim_now_us();
		else if (sim_now_us() - S.no_primary_since_us > 3000000 && n)
			op_promote(n);
	} else {
		S.no_primary_since_us = 0;
	}
	sched_after(&sim_run->sched, &S.op_ev,
		    rng_range(&sim_run->rng, 50000, 1000000), op_fire, NULL,
		    "operator");
}

