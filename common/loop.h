/* loop.h - the one io_uring event loop.
 *
 * Owns: the ring, batched submission, completion dispatch. Every socket,
 * disk and timer operation in the process goes through it.
 *
 * A caller embeds a struct loop_op in its own object, fills an SQE from
 * loop_sqe() and tags it with loop_op_arm(). After each batch of
 * completions is reaped, the ops' done callbacks run in completion order,
 * never from inside another callback, so a callback may freely queue new
 * operations or free objects whose ops have all completed.
 *
 *   idle --arm--> in flight --CQE reaped--> queued --callback--> idle
 *
 * loop_defer() queues a callback without any I/O, for replies that are
 * decided without touching the disk. Single-threaded; not reentrant.
 */
#ifndef BLOCKD_LOOP_H
#define BLOCKD_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/log.h"

struct loop;
struct loop_op;

#define LOOP_BOOT_ID_BYTES 16
typedef void (*loop_done_fn)(struct loop_op *op, int res);

/* How a loop does I/O: io_uring in the daemon (loop_init), simulated
 * devices in the simulator (tests/sim/simloop.c). Whoever owns a loop
 * picks; what runs on it (the disk, the link, the NBD server) calls the
 * functions below, which go through the table. */
struct loop_ops {
	/* A free SQE, submitted with the next batch. */
	struct io_uring_sqe *(*sqe)(struct loop *l);
	/* loop_write_now() */
	long (*write_now)(struct loop *l, int fd, const void *buf, size_t len,
			  uint64_t off);
	/* loop_register_arena() */
	int (*register_arena)(struct loop *l, void *base, size_t len);
	/* loop_sync_now() */
	int (*sync_now)(struct loop *l, int fd);
	/* loop_boot_id() */
	int (*boot_id)(struct loop *l, uint8_t out[LOOP_BOOT_ID_BYTES]);
};

struct loop_op {
	loop_done_fn done;
	int res;		/* CQE result: bytes or -errno */
	struct loop_op *next;	/* on the loop's completed list */
	/* The loop's, from loop_op_arm or loop_defer until just before its
	 * callback runs: see loop_op_take. */
	bool busy;
};

struct loop {
	const struct loop_ops *ops;
	struct io_uring ring;
	unsigned inflight;	/* SQEs armed and not yet reaped */
	struct loop_op *done_head;
	struct loop_op **done_tail;
	bool stopping;
	bool has_fixed_buf;	/* one registered buffer, index 0 */
	/* Before sleeping, look for completions this long (poll-us): a
	 * request that arrives meanwhile is served without the wake-up of
	 * a sleeping thread, for a CPU kept busy. 0: sleep at once. */
	uint64_t poll_ns;
};

/* An io_uring loop. */
int loop_init(struct loop *l, unsigned entries);
void loop_fini(struct loop *l);

/* Register the data-path arena as fixed buffer 0. */
static inline int loop_register_arena(struct loop *l, void *base, size_t len)
{
	return l->ops->register_arena(l, base, len);
}

/* A free SQE. When the SQ is full the pending batch is submitted first,
 * after moving the CQEs already posted to the completed list, so a full
 * CQ never stops submission; their callbacks still run only from the
 * dispatch pass. */
static inline struct io_uring_sqe *loop_sqe(struct loop *l)
{
	return l->ops->sqe(l);
}

/* An op armed or deferred while its last arming's callback has not run
 * yet is a bug of the caller's: the completed list would point at itself
 * (the loop spins for good), or one callback would run twice, or not at
 * all. It is logged with both callbacks (addr2line names them) and the
 * process aborts: a crash, which the peer and the client see as one,
 * rather than either. */
static inline void loop_op_take(struct loop_op *op, loop_done_fn done)
{
	if (op->busy) {
		log_err("loop: an operation was armed again before its "
			"callback ran (callback %p, then %p): a bug; aborting",
			(void *)(uintptr_t)op->done, (void *)(uintptr_t)done);
		abort();
	}
	op->busy = true;
	op->done = done;
}

/* Tag an SQE with its op; its callback runs once the CQE is reaped. */
static inline void loop_op_arm(struct loop *l, struct io_uring_sqe *sqe,
			       struct loop_op *op, loop_done_fn done)
{
	loop_op_take(op, done);
	io_uring_sqe_set_data(sqe, op);
	l->inflight++;
}

/* For the loops' implementations: an armed op completed with res; its
 * callback runs from the next dispatch pass. */
static inline void loop_op_completed(struct loop *l, struct loop_op *op,
				     int res)
{
	op->res = res;
	op->next = NULL;
	*l->done_tail = op;
	l->done_tail = &op->next;
}

/* Run done(op, res) in this or the next dispatch pass, without I/O. */
static inline void loop_defer(struct loop *l, struct loop_op *op,
			      loop_done_fn done, int res)
{
	loop_op_take(op, done);
	loop_op_completed(l, op, res);
}

/* For the loops' implementations: run the callbacks of the completed
 * list, including those queued meanwhile. */
static inline void loop_dispatch(struct loop *l)
{
	while (l->done_head) {
		struct loop_op *op = l->done_head;

		l->done_head = op->next;
		if (!l->done_head)
			l->done_tail = &l->done_head;
		op->busy = false;	/* from here it may be armed again */
		op->done(op, op->res);
	}
}

/* A write done at once on the loop's thread (a small page-cache write,
 * where an io-wq hand-off costs more than the copy): the bytes written
 * or -errno. The one synchronous write the data path makes; the
 * simulator implements it on its disks like any other write. */
static inline long loop_write_now(struct loop *l, int fd, const void *buf,
				  size_t len, uint64_t off)
{
	return l->ops->write_now(l, fd, buf, len, off);
}

/* fdatasync done at once on the loop's thread (a fast device, idle,
 * where the io-wq hand-off of an fsync SQE costs more than the wait): 0
 * or -errno. The simulator implements it on its disks like any flush. */
static inline int loop_sync_now(struct loop *l, int fd)
{
	return l->ops->sync_now(l, fd);
}

/* The identity of this machine's boot (Linux: the kernel's boot_id, new
 * at every boot), so that state left in volatile caches can be told to
 * have survived: 0, or -errno when unknown (trust nothing then). The
 * simulator gives each node a new one at each of its power losses. */
static inline int loop_boot_id(struct loop *l, uint8_t out[LOOP_BOOT_ID_BYTES])
{
	return l->ops->boot_id(l, out);
}

/* Run until loop_stop() was called and nothing is in flight. */
int loop_run(struct loop *l);
static inline void loop_stop(struct loop *l)
{
	l->stopping = true;
}

#endif
