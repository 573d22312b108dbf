/* resource.h - one replicated resource on this node: its disk, its write
 * path and (as replication lands) its peer.
 *
 * Owns: the route every block request takes from a frontend (the NBD
 * server) to the disk. A frontend embeds a struct blk_req, fills the local
 * disk_io's cmd/flags/off/len/buf, sets done, and calls resource_submit();
 * done runs once the request is complete per the resource's rules.
 * Standalone, that is when the local disk completes it.
 */
#ifndef BLOCKD_RESOURCE_H
#define BLOCKD_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/disk.h"
#include "blockd/state.h"
#include "common/bufpool.h"
#include "common/loop.h"

struct resource;

struct blk_req {
	struct disk_io local;	/* the local leg */
	struct resource *res;
	void (*done)(struct blk_req *r, int err); /* 0 or -errno */
};

struct resource {
	const char *name;
	const char *node;
	struct loop *loop;
	struct disk disk;
	struct bufpool pool;

	enum role role;
	enum disk_state disk_state;
	bool io_frozen;
	/* The peer, as last known. */
	enum conn_state peer_conn;
	enum role peer_role;
	enum disk_state peer_disk;
	enum repl_state repl;
	uint64_t out_of_sync_bytes;
	uint64_t pending_writes;	/* sent to the peer, not yet acked */
	double resync_done_pct;
	uint64_t resync_rate_bytes_s, resync_eta_s;
	/* Cumulative counters. */
	uint64_t read_bytes, written_bytes;
	uint64_t data_sent_bytes, data_received_bytes;
	uint64_t resync_sent_bytes, resync_received_bytes;
};

void resource_submit(struct resource *res, struct blk_req *r);

#endif
