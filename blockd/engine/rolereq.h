/* rolereq.h - a connected node becomes Primary only with its peer's yes.
 *
 * Each node alone sees a Secondary peer, so two operators promoting both
 * nodes at the same moment would each succeed: two Primaries, a split
 * brain made by the pair itself. As DRBD's cluster-wide state change
 * does, a promotion of a connected node first sends ROLE_REQ and becomes
 * Primary only on a ROLE_REPLY that says yes. The peer says no while it
 * is Primary, and when it asked too (both at once) exactly one side
 * yields, by the instance numbers both know from STATE. primary --force
 * does not ask (the operator vouches that the peer is not Primary).
 *
 * Why that is enough: frames are ordered. A node that said yes and then
 * asks itself sends its ROLE_REQ after its yes, so the other node has
 * become Primary (or failed and stayed Secondary) before it reads it.
 *
 * Called from operator.c (ask) and peer.c (frames, connection loss).
 */
#ifndef BLOCKD_ENGINE_ROLEREQ_H
#define BLOCKD_ENGINE_ROLEREQ_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/link.h"

struct resource;

struct rolereq {
	uint64_t asked;		/* the id of the request in flight, 0: none */
	uint64_t last_id;
	bool req_queued;	/* req_tx not sent yet */
	struct link_tx req_tx;
	/* One reply at a time on the wire; a newer one waits for it. */
	struct link_tx reply_tx;
	bool reply_queued, reply_again;
	uint64_t again_id;
	int64_t again_err;
};

/* Does a promotion of this node need the peer's yes now? */
bool rolereq_needed(const struct resource *res);
/* Ask it. 0 (the answer reaches resource_promote_consented), or -EAGAIN
 * when an earlier request has not even left yet. */
int rolereq_ask(struct resource *res);
/* The promotion that waits no longer does (cancelled): a late answer is
 * ignored. */
void rolereq_forget(struct resource *res);
/* ROLE_REQ / ROLE_REPLY from the peer. */
void rolereq_frame(struct resource *res, const struct frame_hdr *h);
/* The connection ended: a request in flight is answered -ECONNRESET. */
void rolereq_peer_lost(struct resource *res);

#endif
