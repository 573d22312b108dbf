/* orderwatch.h - the order promise (order.h) checked on the simulated
 * Secondaries after every step.
 *
 * A node is watched from the moment it is a Secondary, Established with
 * an UpToDate disk, connected to a Primary (a mirror of the Primary's
 * history) until its disk is written by anything but that history: it
 * becomes Primary, a SyncTarget, loses its disk or crashes. It stays
 * watched when the link drops or the Primary dies: that disk is what a
 * failover promotes, and the receiver may still be landing writes. A
 * promotion anywhere restarts the history (order_restart).
 */
#ifndef SIM_ORDERWATCH_H
#define SIM_ORDERWATCH_H

/* A run begins (after the oracle and the disks) or ends. */
void orderwatch_init(void);
void orderwatch_fini(void);
/* After every step (invariant 9 in sim.c). */
void orderwatch_step(void);

#endif
