/* node.h - one simulated blockd node: the real engine assembled as
 * blockd/daemon/main.c assembles it (configuration, buffers, disk,
 * metadata, resource, link), without NBD server, control socket or
 * metrics, over the simulated loop, disk and network.
 *
 * A node lives from node_start() to node_crash(): a crash drops what its
 * disk had not made durable, abandons every operation in flight (no
 * callback of it runs again) and frees the node; node_start() brings it
 * back from its disk, as a restart does.
 */
#ifndef SIM_NODE_H
#define SIM_NODE_H

#include "blockd/core/config.h"
#include "blockd/engine/resource.h"
#include "sched.h"
#include "simloop.h"

/* A FLUSH the store took, and the disk's completion count then. */
struct sim_flush_mark {
	const struct disk_io *io;
	uint64_t seq;
};

struct sim_node {
	struct simloop sl;	/* first: loop_*() find it from the loop */
	struct config cfg;
	struct resource res;
	int idx;
	char disk_path[64];
	struct sim_event tick_ev;
	/* The store's FLUSHes in flight (its watch, see node.c). */
	struct disk_watch watch;
	struct sim_flush_mark *flushes;
	size_t nflushes, capflushes;
};

/* What every node of a run shares (set by the simulator per seed). */
struct sim_node_knobs {
	char protocol;
	enum config_fencing fencing;
	uint32_t ping_timeout_ms;
	uint32_t hook_timeout_ms;
	uint32_t resync_rate_max_mib;
	bool resync_checksum;
	bool direct;		/* --direct: io-mode = direct (O_DIRECT) */
	uint64_t buffer_bytes;	/* the pool (buffer-mib) */
};

extern const char *const sim_node_names[2];

/* Fresh metadata on node idx's disk (blockctl create-md). */
int node_create_md(int idx);
/* Start node idx from its disk. NULL when it cannot start (logged). */
struct sim_node *node_start(int idx, const struct sim_node_knobs *k);
/* The node dies: a power loss (power: its disk keeps only what was
 * durable, at random beyond that) or a process crash (the disk's cache
 * survives). */
void node_crash(struct sim_node *n, bool power);
/* The daemon stops its tick at SIGTERM (blockd/daemon/main.c). */
void node_stop_ticks(struct sim_node *n);

#endif
