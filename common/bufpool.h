/* bufpool.h - the data-path buffer arena and its waiters.
 *
 * Owns: one page-aligned arena allocated at start-up and carved into
 * fixed-size chunks; a request takes a contiguous run of chunks big enough
 * for its payload. Pure after init: no allocation, no I/O. When no run is
 * free, bufpool_get() returns NULL and the caller waits for a put: a full
 * pool is back-pressure, never an error to a client.
 *
 * Waiting: whoever found the pool empty (an NBD connection, a peer
 * socket) registers a waiter. Any put, whoever made it (resync, receiver,
 * NBD), wakes every waiter registered before it, in arrival order, from
 * one deferred loop callback, never from inside bufpool_put:
 *
 *   get fails --bufpool_wait--> waiting --put: wake deferred-->
 *     dispatch pass: ready(w) --retry get fails--> waiting again
 *
 * A waiter that waits again from its ready callback is woken by the next
 * put, not by the run in progress, so a failed retry cannot spin. The pool
 * reaches the loop only through the defer function it was handed, so it
 * stays testable without a ring.
 *
 * Every buffer is aligned to BUFPOOL_ALIGN, so it is usable for O_DIRECT,
 * and lies inside the arena, so it is usable as io_uring fixed buffer 0.
 */
#ifndef BLOCKD_BUFPOOL_H
#define BLOCKD_BUFPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/loop.h"

#define BUFPOOL_ALIGN 4096U

/* Embedded by whoever waits; ready runs once per wait. */
struct bufpool_waiter {
	struct bufpool_waiter *next, *prev;
	void (*ready)(struct bufpool_waiter *w);
	uint64_t epoch;		/* the pool's wake round when it joined */
	bool waiting;
};

typedef void (*bufpool_defer_fn)(struct loop *l, struct loop_op *op,
				 loop_done_fn done, int res);

struct bufpool {
	uint8_t *base;
	size_t size_bytes;
	size_t chunk_bytes;
	uint32_t nchunks;
	uint32_t free_chunks;
	uint32_t hint;		/* word to start a single-chunk search at */
	uint64_t *freemap;	/* bit set = chunk free */
	/* Waiters, oldest first. */
	struct bufpool_waiter *wait_head, *wait_tail;
	uint64_t wake_epoch;	/* wake rounds run so far */
	bool wake_queued;	/* wake_op is deferred and has not run */
	struct loop *loop;	/* where wake_op runs (the waiters' loop) */
	bufpool_defer_fn defer;
	struct loop_op wake_op;
};

/* size_bytes is rounded down to a whole number of chunks. 0 or -errno. */
int bufpool_init(struct bufpool *p, size_t size_bytes, size_t chunk_bytes);
void bufpool_fini(struct bufpool *p);

/* A buffer of at least len bytes (len > 0), or NULL when none is free. */
void *bufpool_get(struct bufpool *p, size_t len);
/* The same, but never from the arena's last keep bytes (so they stay
 * free, and whole, for plain gets): for requests that may wait, holding
 * their buffer, for work that needs buffers of its own (see
 * nbd_export.pool_reserve). */
void *bufpool_get_leaving(struct bufpool *p, size_t len, size_t keep);
/* Free a buffer; wakes the waiters (deferred) when there are any. */
void bufpool_put(struct bufpool *p, void *buf, size_t len);

/* Call ready(w) once, from a callback that defer queues on loop l, after
 * the next put. Nothing happens if w is already waiting. Every waiter of
 * a pool uses the same loop. */
void bufpool_wait_on(struct bufpool *p, struct loop *l, bufpool_defer_fn defer,
		     struct bufpool_waiter *w,
		     void (*ready)(struct bufpool_waiter *w));

/* The daemon's form: the wake-up runs from the loop's dispatch pass. */
static inline void bufpool_wait(struct bufpool *p, struct loop *l,
				struct bufpool_waiter *w,
				void (*ready)(struct bufpool_waiter *w))
{
	bufpool_wait_on(p, l, loop_defer, w, ready);
}

/* Stop waiting (the owner goes away); nothing happens if w is not
 * waiting. ready(w) will not run. */
void bufpool_cancel_wait(struct bufpool *p, struct bufpool_waiter *w);

#endif
