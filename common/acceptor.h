/* acceptor.h - taking connections from a listening socket, through the loop.
 *
 * Owns: one listening descriptor's accept operation, and waiting out a
 * shortage. When accept fails for want of something the process or the
 * system must free first (a descriptor: EMFILE, ENFILE; memory: ENOBUFS,
 * ENOMEM), the connection stays in the kernel's queue, so accepting again
 * at once fails again at once: the loop would spin on one CPU and log
 * every try. The acceptor instead tries again every ACCEPT_RETRY_MS, and
 * logs the shortage when it starts and when it ends. Errors of one
 * connection only (it was reset, its network went away) are passed over
 * and the next connection is taken at once.
 *
 * Used by every listener in the daemon: the NBD server, the peer link,
 * the control socket and the metrics endpoint. The descriptor stays its
 * owner's (opened and closed by it).
 *
 *   stopped --start--> accepting --connection--> accepted(), accepting
 *                          |  ^
 *                   short  v  | ACCEPT_RETRY_MS later
 *                         waiting
 *   acceptor_stop: cancels either; a connection accepted after it is
 *   closed, and stopped() (if set) runs once nothing is in flight.
 */
#ifndef BLOCKD_COMMON_ACCEPTOR_H
#define BLOCKD_COMMON_ACCEPTOR_H

#include <stdbool.h>

#include "common/loop.h"

#define ACCEPT_RETRY_MS 100

struct acceptor {
	struct loop *loop;
	int fd;
	const char *what;	/* names the listener in log lines */
	/* A new connection (its descriptor is the callee's). */
	void (*accepted)(struct acceptor *a, int fd);
	/* Optional: after acceptor_stop, nothing is in flight any more. */
	void (*stopped)(struct acceptor *a);
	/* private */
	struct loop_op op;	/* the accept, or the wait after a shortage */
	struct __kernel_timespec ts;
	bool waiting;		/* op is the wait */
	bool short_logged;
	bool stopping;
};

/* Start accepting on fd. what must outlive the acceptor. */
void acceptor_start(struct acceptor *a, struct loop *l, int fd,
		    const char *what,
		    void (*accepted)(struct acceptor *a, int fd));

/* Stop: cancel what is in flight. Safe to call twice, or never started. */
void acceptor_stop(struct acceptor *a);

/* Is an accept or a wait still in flight (the loop holds the acceptor)? */
static inline bool acceptor_busy(const struct acceptor *a)
{
	return a->op.busy;
}

#endif
