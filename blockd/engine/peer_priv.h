/* peer_priv.h - what peer.c, peerops.c and holdsacked.c share, and
 * nobody else: the steps of a resync's start, the generation adopted
 * from the peer, the Secondary's holds-acked answer, and a flush of this
 * disk.
 */
#ifndef BLOCKD_ENGINE_PEER_PRIV_H
#define BLOCKD_ENGINE_PEER_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/engine/resource.h"
#include "transport/frame.h"

/* This node becomes the resync source (full: of every block). */
void peer_become_source(struct resource *res, bool full);
/* ... the target of the peer whose STATE is ps. */
void peer_become_target(struct resource *res, const struct frame_state *ps,
			bool full);
/* The peer's generations become this disk's (it holds the same data). */
void peer_adopt_uuid(struct resource *res, const struct frame_state *ps);
/* Does this Secondary hold every write its Primary acknowledged (in
 * memory while connected, or recorded), for STATE and the decision?
 * holdsacked.c. */
bool peer_holds_acked(const struct resource *res);
/* An fdatasync of this disk in r, done(r, err) when it completes. */
void peer_flush_submit(struct resource *res, struct blk_req *r,
		       void (*done)(struct blk_req *r, int err));

#endif
