/* simnet.h - the network between the two simulated nodes, and the
 * simulator's implementation of transport/link.h over it (simlink.c).
 *
 * A connection is a pair of ends, one per node. Frames travel each
 * direction in order (TCP never reorders) after a random delay; the bytes
 * one side sent and the other has not taken yet are bounded by the socket
 * buffers, so a receiver that stops taking (ready() said "not now", or no
 * buffer) makes the sender's frames wait, their sent() with them. A side
 * that closes its end sends a FIN behind its frames; the other side goes
 * down when it reads it. A cut kills every connection: frames on the wire
 * are lost, each side notices after its ping timeout (at different
 * times), and no connection forms until the network heals. A stall delays
 * every frame sent until it ends (shorter than the ping timeout: nothing
 * breaks). The node whose name sorts first dials, with capped back-off.
 */
#ifndef SIM_SIMNET_H
#define SIM_SIMNET_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/link.h"

struct simnet_knobs {
	uint32_t delay_min_us, delay_max_us;	/* per frame, one way */
	uint32_t buf_bytes;	/* bytes in flight per direction */
};

struct simnet *simnet_new(const struct simnet_knobs *k);
void simnet_free(struct simnet *n);
/* Cut every connection and keep new ones from forming. */
void simnet_cut(struct simnet *n);
void simnet_heal(struct simnet *n);
bool simnet_is_cut(const struct simnet *n);
/* One line on node's side of the link (for a liveness report): up or
 * not, frames queued, reading or stalled, bytes in each direction. */
void simnet_describe(const struct simnet *n, int node, char *buf,
		     size_t len);
/* Frames sent from now until until_us arrive no earlier than until_us. */
void simnet_stall(struct simnet *n, uint64_t until_us);

/* The simulator's link (transport/link.h's link_new_fn), on the run's
 * network. */
link_new_fn simlink_new;

#endif
