/* simloop.c - see simloop.h. */
#include "simloop.h"

#include <errno.h>
#include <linux/falloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim.h"

/* One disk request issued for an SQE. */
struct simloop_req {
	struct simdisk_req q;	/* first: the simdisk's callback gets it */
	struct simloop *sl;
	struct loop_op *op;
	int res_ok;		/* the CQE result on success */
	bool completed;		/* free at the next reap */
	struct simloop_req *next;
};

static struct simloop *simloop_of(struct loop *l)
{
	return (struct simloop *)((char *)l - offsetof(struct simloop, loop));
}

/* No registered buffers: disk.c then uses plain READ/WRITE. */
static int sim_register_arena(struct loop *l, void *base, size_t len)
{
	(void)l;
	(void)base;
	(void)len;
	return -EOPNOTSUPP;
}

static struct io_uring_sqe *sim_sqe(struct loop *l)
{
	struct simloop *sl = simloop_of(l);
	struct io_uring_sqe *sqe;

	if (sl->nsqe == SIMLOOP_SQES)
		sim_fail("node %d queued more than %d SQEs in one instant",
			 sl->node, SIMLOOP_SQES);
	sqe = &sl->sqe[sl->nsqe++];
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

/* Which simulated disk is behind fd (the engine opens the memfds through
 * /proc/self/fd, so the inode tells). */
static struct simdisk *disk_of_fd(int fd)
{
	struct stat st, dst;

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	for (int i = 0; i < SIM_NODES; i++) {
		struct simdisk *d = &sim_run->disk[i];

		if (d->fd >= 0 && fstat(d->fd, &dst) == 0 &&
		    dst.st_ino == st.st_ino && dst.st_dev == st.st_dev)
			return d;
	}
	return NULL;
}

static long sim_write_now(struct loop *l, int fd, const void *buf, size_t len,
			  uint64_t off)
{
	struct simloop *sl = simloop_of(l);
	struct simdisk *d = disk_of_fd(fd);
	int r;

	if (!d)
		sim_fail("node %d wrote at once to fd %d (not a simulated disk)",
			 sl->node, fd);
	r = simdisk_write_now(d, off, (uint32_t)len, buf);
	return r < 0 ? r : (long)len;
}

static void req_done(struct simdisk_req *q, int err)
{
	struct simloop_req *r = (struct simloop_req *)q;
	struct loop *l = &r->sl->loop;

	r->completed = true;
	l->inflight--;
	loop_op_completed(l, r->op, err < 0 ? err : r->res_ok);
}

static void issue(struct simloop *sl, struct simdisk *d, struct loop_op *op,
		  enum simdisk_op what, uint64_t off, uint32_t len, void *buf,
		  bool fua, int res_ok)
{
	struct simloop_req *r = calloc(1, sizeof(*r));

	if (!r)
		sim_fail("out of memory");
	r->sl = sl;
	r->op = op;
	r->res_ok = res_ok;
	r->next = sl->reqs;
	sl->reqs = r;
	r->q.op = what;
	r->q.fua = fua;
	r->q.off = off;
	r->q.len = len;
	r->q.buf = buf;
	r->q.done = req_done;
	if (what != SD_FLUSH && off + len > d->size)
		sim_fail("node %d: %u bytes at %llu are past the end of disk %s",
			 sl->node, len, (unsigned long long)off, d->name);
	simdisk_submit(d, &r->q);
}

static void exec_sqe(struct simloop *sl, const struct io_uring_sqe *sqe)
{
	struct loop_op *op = (struct loop_op *)(uintptr_t)sqe->user_data;
	struct loop *l = &sl->loop;
	struct simdisk *d;

	if (sqe->opcode == IORING_OP_NOP || sqe->opcode == IORING_OP_FADVISE) {
		if (op) {
			l->inflight--;
			loop_op_completed(l, op, 0);
		}
		return;
	}
	d = disk_of_fd(sqe->fd);
	if (!d || !op)
		sim_fail("node %d: opcode %u on fd %d is past the engine's seam "
			 "(not a simulated disk)", sl->node, sqe->opcode, sqe->fd);
	switch (sqe->opcode) {
	case IORING_OP_READ:
	case IORING_OP_READ_FIXED:
		issue(sl, d, op, SD_READ, sqe->off, sqe->len,
		      (void *)(uintptr_t)sqe->addr, false, (int)sqe->len);
		return;
	case IORING_OP_WRITE:
	case IORING_OP_WRITE_FIXED:
		issue(sl, d, op, SD_WRITE, sqe->off, sqe->len,
		      (void *)(uintptr_t)sqe->addr,
		      (sqe->rw_flags & (RWF_DSYNC | RWF_SYNC)) != 0, (int)sqe->len);
		return;
	case IORING_OP_FSYNC:
		issue(sl, d, op, SD_FLUSH, 0, 0, NULL, false, 0);
		return;
	case IORING_OP_FALLOCATE:
		/* io_uring_prep_fallocate: mode in len, length in addr. */
		if (!(sqe->len & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)))
			sim_fail("node %d: fallocate mode %#x", sl->node, sqe->len);
		issue(sl, d, op, SD_ZERO, sqe->off, (uint32_t)sqe->addr, NULL,
		      false, 0);
		return;
	default:
		sim_fail("node %d: opcode %u on a disk is past the engine's seam",
			 sl->node, sqe->opcode);
	}
}

/* Free the requests that completed (their events are no longer queued). */
static void reqs_reap(struct simloop *sl)
{
	struct simloop_req **pp = &sl->reqs;

	while (*pp) {
		struct simloop_req *r = *pp;

		if (r->completed) {
			*pp = r->next;
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

void simloop_drain(struct simloop *sl)
{
	struct loop *l = &sl->loop;
	int prev = sim_run->current;

	sim_run->current = sl->node;
	while (sl->nsqe || l->done_head) {
		unsigned n = sl->nsqe;
		struct io_uring_sqe batch[SIMLOOP_SQES];

		/* Copied out: executing may not queue SQEs, but a callback
		 * run below will, into the emptied array. */
		memcpy(batch, sl->sqe, n * sizeof(batch[0]));
		sl->nsqe = 0;
		for (unsigned i = 0; i < n; i++)
			exec_sqe(sl, &batch[i]);
		loop_dispatch(l);
	}
	reqs_reap(sl);
	sim_run->current = prev;
}

bool simloop_busy(const struct simloop *sl)
{
	return sl->nsqe || sl->loop.done_head;
}

void simloop_abandon(struct simloop *sl)
{
	while (sl->reqs) {
		struct simloop_req *r = sl->reqs;

		sl->reqs = r->next;
		sched_cancel(&sim_run->sched, &r->q.ev);
		free(r);
	}
	sl->nsqe = 0;
	sl->loop.done_head = NULL;
	sl->loop.done_tail = &sl->loop.done_head;
}

static int sim_sync_now(struct loop *l, int fd)
{
	struct simloop *sl = simloop_of(l);
	struct simdisk *d = disk_of_fd(fd);

	if (!d)
		sim_fail("node %d flushed at once fd %d (not a simulated disk)",
			 sl->node, fd);
	return simdisk_flush_now(d);
}

/* A node's machine boots again at each power loss of its disk. */
static int sim_boot_id(struct loop *l, uint8_t out[LOOP_BOOT_ID_BYTES])
{
	struct simloop *sl = simloop_of(l);

	memset(out, 0, LOOP_BOOT_ID_BYTES);
	out[0] = 'S';
	out[1] = (uint8_t)sl->node;
	memcpy(out + 8, &sim_run->disk[sl->node].boots, sizeof(uint64_t));
	return 0;
}

static const struct loop_ops simloop_ops = {
	.sqe = sim_sqe,
	.write_now = sim_write_now,
	.register_arena = sim_register_arena,
	.sync_now = sim_sync_now,
	.boot_id = sim_boot_id,
};

void simloop_init(struct simloop *sl, int node)
{
	memset(&sl->loop, 0, sizeof(sl->loop));
	sl->loop.ops = &simloop_ops;
	sl->loop.done_tail = &sl->loop.done_head;
	sl->node = node;
}
