/* bmx.h - the bitmap exchange before a bitmap-based resync (see bmx.c).
 *
 * Called from peer.c (the sync decision starts it; BITMAP and BITMAP_DONE
 * frames; the link up or down) and read by resync.c, whose source and
 * Primary target wait while it runs.
 */
#ifndef BLOCKD_ENGINE_BMX_H
#define BLOCKD_ENGINE_BMX_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/link.h"

struct resource;

struct bmx {
	bool running;		/* this node's bitmap is not whole yet */
	bool sent, received;	/* BITMAP_DONE sent, and received */
	uint64_t cursor;	/* next block to encode */
	struct link_tx tx;
	uint8_t payload[FRAME_CTRL_PAYLOAD_MAX];
};

/* Send this node's bitmap (RLE) and OR in the peer's. */
void bmx_start(struct resource *res);
/* The connection it ran on is gone (or a new one came up). */
void bmx_stop(struct resource *res);
/* BITMAP or BITMAP_DONE from the peer. */
void bmx_frame(struct resource *res, const struct frame_hdr *h,
	       const uint8_t *payload);

#endif
