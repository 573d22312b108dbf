/* stop.h - an operator stops a node's daemon (--stop): SIGTERM, and the
 * shutdown blockd/daemon/main.c runs on it, step by step over the real
 * engine:
 *   - no more ticks, writes held by fencing fail (ESHUTDOWN);
 *   - the NBD server drains: the client issues nothing more to the node
 *     and its requests in flight are answered;
 *   - a connected Secondary leaves cleanly (leave.h: it takes no new
 *     frame, flushes and sends FLUSHED), for at most 3 s;
 *   - the link goes down, the disk is flushed one last time, and the
 *     process exits once its loop has nothing in flight: a process exit
 *     for the rest of the run (node_down, its disk cache kept).
 * Faults go on meanwhile (a node may crash or lose power mid-stop). A
 * quarter of the stops take both daemons at once (sim.c, its own random
 * stream).
 * Invariant 11 (liveness): the node exits within STOP_MAX_US of the
 * signal, the time make check's integration tests give a daemon.
 */
#ifndef SIM_STOP_H
#define SIM_STOP_H

#include <stdbool.h>

#define STOP_MAX_US (20ULL * 1000000)

/* A new run: no node stopping. */
void stop_init(void);
/* SIGTERM to node idx's daemon (nothing if it is down or stopping). */
void node_stop(int idx);
/* Between the signal and the exit (operators leave it alone). */
bool sim_node_stopping(int idx);
/* Node idx went down (crash, power loss, or the stop's own exit). */
void stop_forget(int idx);

#endif
