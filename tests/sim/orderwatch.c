/* orderwatch.c - see orderwatch.h. */
#include "orderwatch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "sim.h"

/* Per node: what its disk shows, block by block (oracle_parse), kept
 * current from the disk's landed callback while the node is watched. */
static struct {
	bool armed[SIM_NODES];
	bool primary[SIM_NODES];
	bool changed[SIM_NODES];	/* a write landed since the check */
	uint64_t *found[SIM_NODES];
	uint64_t nblocks;
} W;

static uint64_t peek(int idx, uint64_t b)
{
	uint8_t buf[ORACLE_BLOCK];

	simdisk_peek(&sim_run->disk[idx], b * ORACLE_BLOCK, ORACLE_BLOCK, buf);
	return oracle_parse(b, buf);
}

static void landed(void *arg, uint64_t off, uint32_t len)
{
	int idx = (int)(intptr_t)arg;

	if (!W.armed[idx] || !len)
		return;
	for (uint64_t b = off / ORACLE_BLOCK;
	     b < W.nblocks && b * ORACLE_BLOCK < off + len; b++)
		W.found[idx][b] = peek(idx, b);
	W.changed[idx] = true;
}

void orderwatch_init(void)
{
	uint64_t n = sim_run->oracle.nblocks;

	orderwatch_fini();
	W.nblocks = n;
	for (int i = 0; i < SIM_NODES; i++) {
		W.found[i] = calloc(n, sizeof(*W.found[i]));
		if (!W.found[i])
			sim_fail("out of memory");
		sim_run->disk[i].landed = landed;
		sim_run->disk[i].landed_arg = (void *)(intptr_t)i;
	}
}

void orderwatch_fini(void)
{
	for (int i = 0; i < SIM_NODES; i++)
		free(W.found[i]);
	memset(&W, 0, sizeof(W));
}

static bool mirrors(const struct resource *res)
{
	return res->st.role == ROLE_SECONDARY && res->st.peer_role == ROLE_PRIMARY &&
	       res->st.peer_conn == CS_CONNECTED && res->st.repl == RS_ESTABLISHED &&
	       res->st.disk_state == DS_UPTODATE;
}

/* Still holds only what the Primary sent it, in the order it came. */
static bool still_mirror(const struct resource *res)
{
	if (res->st.role != ROLE_SECONDARY || !resource_has_disk(res))
		return false;
	if (res->st.repl == RS_SYNC_TARGET || res->st.repl == RS_PAUSED_SYNC_T)
		return false;
	return res->st.disk_state == DS_UPTODATE ||
	       res->st.disk_state == DS_OUTDATED ||
	       res->st.disk_state == DS_CONSISTENT;
}

static void arm(int idx)
{
	/* Only blocks ever written can hold anything but zeroes. */
	for (uint64_t b = 0; b < W.nblocks; b++)
		W.found[idx][b] = sim_run->oracle.b[b].issued ? peek(idx, b) : 0;
	W.armed[idx] = true;
	W.changed[idx] = true;
}

void orderwatch_step(void)
{
	char why[256];

	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i];
		bool primary;

		if (!n) {
			W.armed[i] = W.primary[i] = false;
			continue;
		}
		primary = n->res.st.role == ROLE_PRIMARY;
		if (primary && !W.primary[i])
			order_restart(&sim_run->order, sim_run->oracle.next_gen);
		W.primary[i] = primary;
		if (!still_mirror(&n->res))
			W.armed[i] = false;
		else if (!W.armed[i] && mirrors(&n->res))
			arm(i);
		if (!W.armed[i] || !W.changed[i])
			continue;
		W.changed[i] = false;
		if (!order_check(&sim_run->order, W.found[i], 1 - i, why,
				 sizeof(why)))
			sim_fail("invariant 9 (order): n%d, a Secondary mirroring "
				 "the Primary's history, is no prefix of it: %s",
				 i, why);
	}
}
