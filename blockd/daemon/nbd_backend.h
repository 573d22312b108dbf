/* nbd_backend.h - the resource as an NBD backend: maps each NBD request
 * the server (nbd/) checked to an engine request (struct blk_req, or an
 * allocation lookup for BLOCK_STATUS), and tells the server what the
 * export is and whether it may be served (only a Primary serves).
 *
 * Owned by the node (node.h); main.c hands resource_nbd_ops and it to
 * nbd_server_new.
 */
#ifndef BLOCKD_DAEMON_NBD_BACKEND_H
#define BLOCKD_DAEMON_NBD_BACKEND_H

#include "blockd/core/config.h"
#include "blockd/engine/resource.h"
#include "blockd/engine/resync.h"
#include "nbd/server.h"

/* nbd_export.pool_reserve: the bytes of the pool READ and WRITE buffers
 * never take. A Primary SyncTarget's requests wait, holding their
 * buffers, for resync chunks that arrive in pool buffers, and a Diskless
 * Primary's reads for replies of REMOTE_PIECE_BYTES: one chunk is always
 * left (the simulator's client takes its buffers the same way). */
#define NBD_BACKEND_POOL_RESERVE RS_CHUNK_BYTES

struct resource_nbd {
	struct resource *res;
	const struct config *cfg;
	char description[128];
	char refuse_msg[256];	/* what a client is told while Secondary */
};

extern const struct nbd_backend_ops resource_nbd_ops;

void resource_nbd_init(struct resource_nbd *be, struct resource *res,
		       const struct config *cfg);

#endif
