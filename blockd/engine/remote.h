/* remote.h - reads served by the peer, for a Primary whose data is there
 * only (see remote.c).
 *
 * Called from resource.c (submitting reads) and peer.c (replies, the
 * peer lost).
 */
#ifndef BLOCKD_ENGINE_REMOTE_H
#define BLOCKD_ENGINE_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/link.h"

struct blk_req;
struct resource;

#define REMOTE_READS_MAX 256U
/* A read goes to the peer in pieces of at most this: each reply's data
 * takes a pool buffer while the read holds its own, and the NBD server
 * always leaves a resync chunk (this much) of the pool free. */
#define REMOTE_PIECE_BYTES (1U << 20)

/* A read sent to the peer, from READ_REQ to READ_REPLY. */
struct remote_read {
	struct link_tx tx;
	struct resource *res;
	struct blk_req *req;	/* NULL: free (once tx_busy is false too) */
	uint64_t id;		/* use count * REMOTE_READS_MAX + slot */
	uint32_t done;		/* bytes of req received so far */
	uint32_t piece;		/* bytes the READ_REQ in flight asks for */
	bool tx_busy;		/* READ_REQ not yet handed to the socket */
	bool next_piece;	/* a piece is due once tx is free again */
};

struct remote {
	struct remote_read *reads;	/* REMOTE_READS_MAX slots */
	struct blk_req *waiting;	/* no free slot: FIFO */
	uint64_t uses;			/* reads started, for the ids */
};

int remote_init(struct resource *res);
void remote_fini(struct resource *res);
void remote_read_submit(struct resource *res, struct blk_req *r);
void remote_read_reply(struct resource *res, const struct frame_hdr *h,
		       uint8_t *buf);
void remote_read_peer_lost(struct resource *res);

#endif
