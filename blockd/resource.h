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
#include "common/bufpool.h"
#include "common/loop.h"

struct blk_req {
	struct disk_io local;	/* the local leg */
	void (*done)(struct blk_req *r, int err); /* 0 or -errno */
};

struct resource {
	const char *name;
	const char *node;
	struct loop *loop;
	struct disk disk;
	struct bufpool pool;
	uint64_t reads, writes, flushes;	/* completed, for status */
};

void resource_submit(struct resource *res, struct blk_req *r);

#endif
