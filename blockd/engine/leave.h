/* leave.h - a Secondary that stops cleanly tells its Primary what it
 * holds.
 *
 * A Primary counts every extent its Secondary acknowledged since the
 * last flushing barrier as possibly lost when the Secondary goes (its
 * disk cache may drop them on a power loss), so a plain restart of the
 * Secondary resynced up to a second's worth of extents. On a clean stop
 * the Secondary takes no new frame, lets the receiver finish what it
 * holds (acknowledging it), flushes its disk and sends FLUSHED: the
 * Primary then forgets those extents and resyncs only what was in
 * flight (writepath_peer_flushed).
 *
 * Called by the daemon's shutdown (blockd/daemon/main.c) and the
 * receiver (when it has drained).
 */
#ifndef BLOCKD_ENGINE_LEAVE_H
#define BLOCKD_ENGINE_LEAVE_H

#include <stdbool.h>

#include "blockd/store/disk.h"
#include "transport/link.h"

struct resource;

struct leave {
	bool active;		/* draining, flushing or sending */
	bool flushing;
	void (*done)(void *arg);
	void *arg;
	struct disk_io flush;
	struct link_tx tx;
};

/* Start the clean leave: true when done(arg) will be called (the
 * receiver drained, the disk flushed, FLUSHED handed to the socket, or
 * any of it failed or the link went down), false when there is nothing
 * to do (not a connected Secondary with a disk, or an older peer). */
bool resource_leave(struct resource *res, void (*done)(void *arg), void *arg);
/* The receiver holds nothing any more (receiver.c). */
void leave_receiver_idle(struct resource *res);

#endif
