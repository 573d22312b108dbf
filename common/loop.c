/* loop.c - see loop.h. */
#include "common/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

static struct io_uring_sqe *uring_sqe(struct loop *l);
static long uring_write_now(struct loop *l, int fd, const void *buf,
			    size_t len, uint64_t off);
static int uring_register_arena(struct loop *l, void *base, size_t len);

/* A submission error worth reporting: not an interruption, a full queue
 * or a full CQ, which the next round retries. */
static bool submit_failed(int ret)
{
	return ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY;
}

/* What is queued goes to the kernel first (a barrier for the peer, say):
 * it runs while this thread waits for the device. */
static int uring_sync_now(struct loop *l, int fd)
{
	int ret = io_uring_submit(&l->ring);

	if (submit_failed(ret))
		log_err("io_uring_submit: %s", strerror(-ret));
	return fdatasync(fd) < 0 ? -errno : 0;
}

/* /proc/sys/kernel/random/boot_id: a UUID as 36 characters. */
static int uring_boot_id(struct loop *l, uint8_t out[LOOP_BOOT_ID_BYTES])
{
	static const char path[] = "/proc/sys/kernel/random/boot_id";
	char text[64];
	unsigned n = 0;
	ssize_t len;
	int fd;

	(void)l;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (len < 0)
		return -errno;
	memset(out, 0, LOOP_BOOT_ID_BYTES);
	for (ssize_t i = 0; i < len && n < 2 * LOOP_BOOT_ID_BYTES; i++) {
		char c = text[i];
		int v;

		if (c == '-')
			continue;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			break;
		out[n / 2] |= (uint8_t)(n % 2 ? v : v << 4);
		n++;
	}
	return n == 2 * LOOP_BOOT_ID_BYTES ? 0 : -EINVAL;
}

static const struct loop_ops loop_uring_ops = {
	.sqe = uring_sqe,
	.write_now = uring_write_now,
	.register_arena = uring_register_arena,
	.sync_now = uring_sync_now,
	.boot_id = uring_boot_id,
};

int loop_init(struct loop *l, unsigned entries)
{
	struct io_uring_params p;
	int ret;

	memset(l, 0, sizeof(*l));
	l->ops = &loop_uring_ops;
	l->done_tail = &l->done_head;

	/* One thread submits and reaps: let the kernel skip the IPIs and
	 * run task work only when we wait. Older kernels lack these flags,
	 * so fall back to a plain ring. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	ret = io_uring_queue_init_params(entries, &l->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(entries, &l->ring, &p);
	}
	if (ret < 0) {
		log_err("io_uring_queue_init: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

void loop_fini(struct loop *l)
{
	io_uring_queue_exit(&l->ring);
}

static int uring_register_arena(struct loop *l, void *base, size_t len)
{
	struct iovec iov = { .iov_base = base, .iov_len = len };
	int ret = io_uring_register_buffers(&l->ring, &iov, 1);

	if (ret < 0) {
		log_warn("io_uring_register_buffers: %s; using plain buffers",
			 strerror(-ret));
		return ret;
	}
	l->has_fixed_buf = true;
	return 0;
}

static void loop_reap(struct loop *l);

/*
 * The SQ is full: submit the batch. What it completes at once needs room
 * in the CQ, and a kernel may refuse to submit (-EBUSY) while the CQ is
 * full, so every round first moves the CQEs already posted to the
 * completed list (their callbacks still run from the dispatch pass, never
 * from here) and asks for deferred completions to be posted too.
 */
static struct io_uring_sqe *uring_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	while (!sqe) {
		int ret;

		loop_reap(l);
		ret = io_uring_submit_and_get_events(&l->ring);
		if (submit_failed(ret))
			log_err("io_uring_submit: %s", strerror(-ret));
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

/* Move every available CQE to the completed list, then advance once.
 * Called from loop_run and, when the SQ is full, from loop_sqe: either
 * way the callbacks run later, from loop_dispatch. */
static void loop_reap(struct loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&l->ring, head, cqe) {
		struct loop_op *op = io_uring_cqe_get_data(cqe);

		n++;
		if (!op)
			continue;	/* untagged (e.g. cancel requests) */
		l->inflight--;
		loop_op_completed(l, op, cqe->res);
	}
	io_uring_cq_advance(&l->ring, n);
}

/* poll-us: ask the kernel for completions (it runs the deferred task
 * work that posts them) until one is there or poll_ns has passed. */
static bool loop_poll(struct loop *l)
{
	uint64_t end = clock_mono_ns() + l->poll_ns;

	do {
		int ret = io_uring_submit_and_get_events(&l->ring);

		if (submit_failed(ret))
			return false;
		if (io_uring_cq_ready(&l->ring))
			return true;
	} while (clock_mono_ns() < end && !l->stopping);
	return false;
}

int loop_run(struct loop *l)
{
	while (!(l->stopping && l->inflight == 0 && !l->done_head)) {
		int ret;

		if (l->done_head) {
			/* Deferred work pending: submit and collect whatever
			 * completed (running deferred task work), no waiting. */
			ret = io_uring_submit_and_get_events(&l->ring);
		} else if (l->poll_ns && loop_poll(l)) {
			ret = 0;
		} else {
			ret = io_uring_submit_and_wait(&l->ring, 1);
		}
		if (submit_failed(ret) && ret != -ETIME) {
			log_err("io_uring_submit_and_wait: %s", strerror(-ret));
			return ret;
		}
		loop_reap(l);
		loop_dispatch(l);
	}
	return 0;
}

static long uring_write_now(struct loop *l, int fd, const void *buf, size_t len,
		    uint64_t off)
{
	ssize_t r;

	(void)l;
	r = pwrite(fd, buf, len, (off_t)off);
	return r < 0 ? -errno : (long)r;
}
