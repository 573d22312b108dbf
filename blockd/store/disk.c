/* disk.c - see disk.h. */
#include "blockd/store/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bufpool.h"
#include "common/container_of.h"
#include "common/clock.h"
#include "common/log.h"

/* Largest write issued per SQE by the zero-writing fallback. */
#define DISK_ZERO_CHUNK (1U << 20)

static int disk_probe_size(struct disk *d, const char *path)
{
	struct stat st;

	if (fstat(d->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;

		if (ioctl(d->fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
		d->size_bytes = bytes;
		d->is_blockdev = true;
	} else if (S_ISREG(st.st_mode)) {
		d->size_bytes = (uint64_t)st.st_size;
	} else {
		log_err("%s: not a regular file or block device", path);
		return -EINVAL;
	}
	return 0;
}

/* Offset/length alignment O_DIRECT needs on this file. */
static uint32_t disk_probe_align(struct disk *d)
{
	int lbs = 0;

	if (d->is_blockdev && ioctl(d->fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
		return (uint32_t)lbs;
	/* Filesystems accept the page size everywhere that matters. */
	return BUFPOOL_ALIGN;
}

static void disk_map_stop(struct disk *d);

int disk_open(struct disk *d, struct loop *l, const char *path, bool direct,
	      bool read_only)
{
	int acc = read_only ? O_RDONLY : O_RDWR;
	int ret;

	memset(d, 0, sizeof(*d));
	d->loop = l;
	d->read_only = read_only;
	d->fd = d->fd_buffered = -1;
	d->map_to_worker[0] = d->map_to_worker[1] = -1;
	d->map_from_worker[0] = d->map_from_worker[1] = -1;

	d->fd_buffered = open(path, acc | O_CLOEXEC);
	if (d->fd_buffered < 0) {
		ret = -errno;
		log_err("open %s: %s", path, strerror(errno));
		return ret;
	}
	d->fd = d->fd_buffered;
	ret = disk_probe_size(d, path);
	if (ret < 0)
		goto fail;

	if (direct) {
		int fd = open(path, acc | O_CLOEXEC | O_DIRECT);

		if (fd < 0) {
			log_warn("%s: O_DIRECT refused (%s); using buffered I/O",
				 path, strerror(errno));
		} else {
			d->fd = fd;
			d->direct = true;
		}
	}
	d->align = disk_probe_align(d);
	d->zeroes = aligned_alloc(BUFPOOL_ALIGN, DISK_ZERO_CHUNK);
	if (!d->zeroes) {
		ret = -ENOMEM;
		goto fail;
	}
	memset((void *)d->zeroes, 0, DISK_ZERO_CHUNK);
	/* A process that used this disk before and died (a daemon crash,
	 * kill -9) left what it acknowledged in the volatile caches (page
	 * cache, the device's): flush them before this node vouches for the
	 * disk, so a power loss now cannot take writes its peer was told
	 * this disk holds (the restarted node may become the source of its
	 * crashed Primary's extents). A failing flush is only a warning:
	 * the disk's own errors are handled where they matter. */
	if (!read_only) {
		int r = loop_sync_now(l, d->fd);

		if (r < 0)
			log_warn("%s: flushing the disk's cache at start failed: %s",
				 path, strerror(-r));
		d->flushed_at_open = r == 0;
	}
	/* Pages of this file cached by someone else (the image made with
	 * cp, a backup that read it) make every direct write over them a
	 * hand-off to an io_uring worker, which drops them first. Drop the
	 * clean ones here, once: after the flush above, that is all of them.
	 * Advisory: a failure costs speed, nothing else. */
	if (d->direct)
		(void)posix_fadvise(d->fd_buffered, 0, 0, POSIX_FADV_DONTNEED);
	log_info("disk %s: %llu bytes, %s I/O%s", path,
		 (unsigned long long)d->size_bytes,
		 d->direct ? "direct" : "buffered",
		 d->is_blockdev ? ", block device" : "");
	return 0;
fail:
	disk_close(d);
	return ret;
}

void disk_close(struct disk *d)
{
	disk_map_stop(d);
	if (d->fd >= 0 && d->fd != d->fd_buffered)
		close(d->fd);
	if (d->fd_buffered >= 0)
		close(d->fd_buffered);
	free((void *)d->zeroes);
	d->fd = d->fd_buffered = -1;
	d->zeroes = NULL;
}

static bool disk_aligned(const struct disk *d, uint64_t off, uint32_t len)
{
	return off % d->align == 0 && len % d->align == 0;
}

static void disk_io_done(struct loop_op *op, int res);

/* A small write into the page cache, done now: no filesystem here takes
 * a non-blocking buffered write (ext4 answers RWF_NOWAIT with
 * EOPNOTSUPP), so io_uring would hand every one to an io-wq worker, and
 * that thread hand-off costs more than the copy (a few microseconds). It
 * can block the loop under dirty-page throttling, which is why only
 * small ones go this way. The result completes from the loop like a CQE
 * (a short write continues through io_uring). */
static bool disk_write_inline(struct disk *d, struct disk_io *io, int fd,
			      const uint8_t *buf, uint32_t len, uint64_t off)
{
	long r;

	if (io->cmd != DISK_WRITE || (io->flags & DISK_F_FUA) ||
	    len > d->inline_io.write_max || io->done_bytes)
		return false;
	r = loop_write_now(d->loop, fd, buf, len, off);
	loop_defer(d->loop, &io->op, disk_io_done, (int)r);
	return true;
}

/* Queue the next (or first) piece of a READ or WRITE. */
static void disk_rw_issue(struct disk *d, struct disk_io *io)
{
	struct io_uring_sqe *sqe;
	uint64_t off = io->off + io->done_bytes;
	uint32_t len = io->len - io->done_bytes;
	uint8_t *buf = io->buf + io->done_bytes;
	bool direct = d->direct && disk_aligned(d, io->off, io->len);
	int fd = direct ? d->fd : d->fd_buffered;

	if (!direct && disk_write_inline(d, io, fd, buf, len, off))
		return;
	sqe = loop_sqe(d->loop);
	if (io->cmd == DISK_READ) {
		if (d->loop->has_fixed_buf)
			io_uring_prep_read_fixed(sqe, fd, buf, len, off, 0);
		else
			io_uring_prep_read(sqe, fd, buf, len, off);
	} else {
		if (d->loop->has_fixed_buf)
			io_uring_prep_write_fixed(sqe, fd, buf, len, off, 0);
		else
			io_uring_prep_write(sqe, fd, buf, len, off);
		if (io->flags & DISK_F_FUA)
			sqe->rw_flags = RWF_DSYNC;
	}
	loop_op_arm(d->loop, sqe, &io->op, disk_io_done);
}

/* inline_io.flush_max_us: nothing else of this disk in flight, and the last
 * flush was fast. */
static bool disk_flush_inline(struct disk *d, struct disk_io *io)
{
	uint64_t t0;
	int r;

	if (!d->inline_io.flush_max_us || d->inflight != 1 || d->map_pending ||
	    d->flush_last_ns > (uint64_t)d->inline_io.flush_max_us * 1000)
		return false;
	t0 = clock_mono_ns();
	r = loop_sync_now(d->loop, d->fd);
	d->flush_last_ns = clock_mono_ns() - t0;
	loop_defer(d->loop, &io->op, disk_io_done, r);
	return true;
}

static void disk_sync_issue(struct disk *d, struct disk_io *io)
{
	struct io_uring_sqe *sqe = loop_sqe(d->loop);

	io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
	loop_op_arm(d->loop, sqe, &io->op, disk_io_done);
}

/*
 * ZERO and TRIM walk a short list of methods, falling to the next one when
 * the kernel says EOPNOTSUPP:
 *   ZERO:  punch hole (unless NO_HOLE) -> zero range -> write zeroes
 *   TRIM:  punch hole -> nothing (TRIM is advisory)
 * FAST refuses the write-zeroes step with ENOTSUP, as NBD asks.
 * Stage ZSTAGE_SYNC follows any of them when FUA was asked for.
 */
enum {
	ZSTAGE_PUNCH,
	ZSTAGE_ZERO_RANGE,
	ZSTAGE_WRITE,
	ZSTAGE_SYNC,
	ZSTAGE_DONE,
};

static void disk_zero_issue(struct disk *d, struct disk_io *io)
{
	struct io_uring_sqe *sqe;
	int mode;

	switch (io->stage) {
	case ZSTAGE_PUNCH:
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		break;
	case ZSTAGE_ZERO_RANGE:
		mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		break;
	case ZSTAGE_WRITE: {
		uint32_t len = io->len - io->done_bytes;

		if (len > DISK_ZERO_CHUNK)
			len = DISK_ZERO_CHUNK;
		sqe = loop_sqe(d->loop);
		io_uring_prep_write(sqe, d->fd_buffered, d->zeroes, len,
				    io->off + io->done_bytes);
		loop_op_arm(d->loop, sqe, &io->op, disk_io_done);
		return;
	}
	case ZSTAGE_SYNC:
		disk_sync_issue(d, io);
		return;
	default:
		loop_defer(d->loop, &io->op, disk_io_done, 0);
		return;
	}
	sqe = loop_sqe(d->loop);
	io_uring_prep_fallocate(sqe, d->fd, mode, io->off, io->len);
	loop_op_arm(d->loop, sqe, &io->op, disk_io_done);
}

/* Errors that say nothing about the device: a FAST zero it declined. */
static bool disk_error_is_fault(int err)
{
	return err < 0 && err != -ENOTSUP && err != -EOPNOTSUPP;
}

/* Nothing in flight (I/O or allocation lookups) and the owner asked. */
static void disk_check_idle(struct disk *d)
{
	if (!d->inflight && !d->map_pending && d->want_idle && d->idle) {
		d->want_idle = false;
		d->idle(d->owner_arg);
	}
}

bool disk_busy(const struct disk *d)
{
	return d->inflight || d->map_pending;
}

static void disk_finish(struct disk_io *io, int err)
{
	struct disk *d = io->disk;

	d->inflight--;
	if (disk_error_is_fault(err) && d->failed)
		d->failed(d->owner_arg, err);
	if (d->watch)
		d->watch->finished(d->watch->arg, io, err);
	io->done(io, err);
	disk_check_idle(d);
}

/* After one fallocate/write/sync step of ZERO or TRIM. */
static void disk_zero_step_done(struct disk *d, struct disk_io *io, int res)
{
	bool unsupported = res == -EOPNOTSUPP || res == -EINVAL;

	if (io->stage == ZSTAGE_WRITE && res > 0) {
		io->done_bytes += (uint32_t)res;
		if (io->done_bytes < io->len) {
			disk_zero_issue(d, io);
			return;
		}
		res = 0;
	}
	if (res < 0 && unsupported && io->stage < ZSTAGE_WRITE) {
		if (io->cmd == DISK_TRIM) {
			res = 0;	/* advisory: nothing to do */
		} else {
			io->stage++;
			if (io->stage == ZSTAGE_WRITE && (io->flags & DISK_F_FAST)) {
				disk_finish(io, -ENOTSUP);
				return;
			}
			disk_zero_issue(d, io);
			return;
		}
	}
	if (res < 0 || io->stage == ZSTAGE_SYNC) {
		disk_finish(io, res < 0 ? res : 0);
		return;
	}
	if (res == 0 && io->stage == ZSTAGE_WRITE && io->done_bytes < io->len) {
		disk_finish(io, -EIO);	/* a zero-byte write: give up */
		return;
	}
	io->stage = (io->flags & DISK_F_FUA) ? ZSTAGE_SYNC : ZSTAGE_DONE;
	if (io->stage == ZSTAGE_DONE)
		disk_finish(io, 0);
	else
		disk_zero_issue(d, io);
}

static void disk_io_done(struct loop_op *op, int res)
{
	struct disk_io *io = (struct disk_io *)op;
	struct disk *d = io->disk;

	switch (io->cmd) {
	case DISK_READ:
	case DISK_WRITE:
		if (res < 0) {
			disk_finish(io, res);
			return;
		}
		if (res == 0) {
			/* Within the checked range a 0 means the file shrank. */
			disk_finish(io, -EIO);
			return;
		}
		io->done_bytes += (uint32_t)res;
		if (io->done_bytes < io->len)
			disk_rw_issue(d, io);
		else
			disk_finish(io, 0);
		return;
	case DISK_TRIM:
	case DISK_ZERO:
		disk_zero_step_done(d, io, res);
		return;
	case DISK_FLUSH:
		if (io == d->flush_timed) {
			d->flush_timed = NULL;
			d->flush_last_ns = clock_mono_ns() - d->flush_started_ns;
		}
		disk_finish(io, res < 0 ? res : 0);
		return;
	case DISK_CACHE:
		disk_finish(io, res < 0 ? res : 0);
		return;
	}
}

void disk_submit(struct disk *d, struct disk_io *io)
{
	struct io_uring_sqe *sqe;

	io->disk = d;
	io->done_bytes = 0;
	d->inflight++;
	if (d->watch)
		d->watch->submitted(d->watch->arg, io);
	switch (io->cmd) {
	case DISK_READ:
	case DISK_WRITE:
		disk_rw_issue(d, io);
		return;
	case DISK_FLUSH:
		if (disk_flush_inline(d, io))
			return;
		if (!d->flush_timed) {
			d->flush_timed = io;
			d->flush_started_ns = clock_mono_ns();
		}
		disk_sync_issue(d, io);
		return;
	case DISK_TRIM:
		io->stage = ZSTAGE_PUNCH;
		disk_zero_issue(d, io);
		return;
	case DISK_ZERO:
		io->stage = (io->flags & DISK_F_NO_HOLE) ? ZSTAGE_ZERO_RANGE
							 : ZSTAGE_PUNCH;
		disk_zero_issue(d, io);
		return;
	case DISK_CACHE:
		if (d->direct) {
			/* No page cache to warm: done at once. */
			loop_defer(d->loop, &io->op, disk_io_done, 0);
			return;
		}
		sqe = loop_sqe(d->loop);
		io_uring_prep_fadvise(sqe, d->fd_buffered, io->off, io->len,
				      POSIX_FADV_WILLNEED);
		loop_op_arm(d->loop, sqe, &io->op, disk_io_done);
		return;
	}
}

/* ---- allocation map --------------------------------------------------- */

/* The lookup itself: on the worker, or on the loop when there is none.
 * Reads only what disk_open set before any worker started. */
static int disk_map_range(const struct disk *d, uint64_t off, uint64_t len,
			  struct disk_extent *ext, unsigned max)
{
	uint64_t end = off + len, pos = off;
	unsigned n = 0;

	if (d->is_blockdev) {
		ext[0].len = len;
		ext[0].hole = false;
		return 1;
	}
	while (pos < end && n < max) {
		off_t data = lseek(d->fd_buffered, (off_t)pos, SEEK_DATA);
		uint64_t next;
		bool hole;

		if (data < 0 && errno == ENXIO) {
			next = end;	/* only a hole up to EOF */
			hole = true;
		} else if (data < 0) {
			return n ? (int)n : -errno;
		} else if ((uint64_t)data > pos) {
			next = (uint64_t)data;
			hole = true;
		} else {
			off_t h = lseek(d->fd_buffered, (off_t)pos, SEEK_HOLE);

			if (h < 0)
				return n ? (int)n : -errno;
			next = (uint64_t)h;
			hole = false;
		}
		if (next > end)
			next = end;
		if (n > 0 && ext[n - 1].hole == hole) {
			ext[n - 1].len += next - pos;	/* merge */
		} else {
			ext[n].len = next - pos;
			ext[n].hole = hole;
			n++;
		}
		pos = next;
	}
	return (int)n;
}

int disk_block_status(struct disk *d, uint64_t off, uint64_t len,
		      struct disk_extent *ext, unsigned max)
{
	return disk_map_range(d, off, len, ext, max);
}

/*
 * The worker: blocks on the request pipe, looks up, writes the request
 * back. Pointers cross the pipes whole (8 bytes < PIPE_BUF are written
 * atomically and every read asks for a multiple of 8), and the pipe
 * syscalls order the request's fields between the two threads. It never
 * logs (the log is the loop thread's); errors travel in r->result. It
 * ends when disk_close closes the request pipe.
 */
static void *disk_map_worker(void *arg)
{
	struct disk *d = arg;
	struct disk_map_req *r;

	for (;;) {
		ssize_t n = read(d->map_to_worker[0], &r, sizeof(r));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(r))
			return NULL;	/* closed: disk_close */
		r->result = disk_map_range(d, r->off, r->len, r->ext, r->max);
		while (write(d->map_from_worker[1], &r, sizeof(r)) < 0 &&
		       errno == EINTR)
			;
	}
}

/* Without a worker, lookups run on the loop as they always could: slower
 * for everyone when the filesystem makes lseek wait, never wrong. */
static void disk_map_start(struct disk *d)
{
	const char *path = "disk";
	sigset_t all, old;
	int ret;

	d->map_worker_tried = true;
	if (pipe2(d->map_to_worker, O_CLOEXEC) < 0 ||
	    pipe2(d->map_from_worker, O_CLOEXEC) < 0) {
		log_warn("%s: no pipe for the block status worker (%s); "
			 "allocation lookups run on the loop", path,
			 strerror(errno));
		disk_map_stop(d);
		return;
	}
	/* The loop never waits to hand over a request. */
	fcntl(d->map_to_worker[1], F_SETFL, O_NONBLOCK);
	/* Signals are the loop's (signalfd): the worker takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&d->map_thread, NULL, disk_map_worker, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		log_warn("%s: cannot start the block status worker (%s); "
			 "allocation lookups run on the loop", path,
			 strerror(ret));
		disk_map_stop(d);
		return;
	}
	d->map_worker = true;
}

static void disk_map_stop(struct disk *d)
{
	/* EOF on its request pipe ends the worker. */
	if (d->map_to_worker[1] >= 0)
		close(d->map_to_worker[1]);
	d->map_to_worker[1] = -1;
	if (d->map_worker)
		pthread_join(d->map_thread, NULL);
	d->map_worker = false;
	for (int i = 0; i < 2; i++) {
		if (d->map_to_worker[i] >= 0)
			close(d->map_to_worker[i]);
		if (d->map_from_worker[i] >= 0)
			close(d->map_from_worker[i]);
		d->map_to_worker[i] = d->map_from_worker[i] = -1;
	}
}

static void disk_map_collected(struct loop_op *op, int res);

/* Collect finished requests while any is with the worker, and only then:
 * an idle disk keeps nothing in flight, so the loop can end. */
static void disk_map_arm_read(struct disk *d)
{
	struct io_uring_sqe *sqe;

	if (d->map_read_armed || d->map_pending == 0)
		return;
	sqe = loop_sqe(d->loop);
	io_uring_prep_read(sqe, d->map_from_worker[0], d->map_done,
			   sizeof(d->map_done), 0);
	loop_op_arm(d->loop, sqe, &d->map_read_op, disk_map_collected);
	d->map_read_armed = true;
}

static void disk_map_collected(struct loop_op *op, int res)
{
	struct disk *d = container_of(op, struct disk, map_read_op);
	struct disk_map_req *done[DISK_MAP_BATCH];
	unsigned n = 0;

	d->map_read_armed = false;
	if (res < 0 || res % (int)sizeof(done[0]))
		log_err("block status worker pipe: %s",
			res < 0 ? strerror(-res) : "partial pointer");
	else
		n = (unsigned)res / sizeof(done[0]);
	/* Copied out first: a callback may submit again, which re-arms the
	 * read into map_done. */
	memcpy(done, d->map_done, n * sizeof(done[0]));
	d->map_pending -= n;
	disk_map_arm_read(d);
	for (unsigned i = 0; i < n; i++)
		done[i]->done(done[i], done[i]->result);
	disk_check_idle(d);
}

static void disk_map_deferred(struct loop_op *op, int res)
{
	struct disk_map_req *r = container_of(op, struct disk_map_req, op);

	r->done(r, res);
}

void disk_map_submit(struct disk *d, struct disk_map_req *r)
{
	if (d->fd_buffered < 0) {
		/* No disk (detached): everything reads as data, from the
		 * peer. */
		r->ext[0].len = r->len;
		r->ext[0].hole = false;
		r->result = 1;
		loop_defer(d->loop, &r->op, disk_map_deferred, r->result);
		return;
	}
	/* The worker starts with the first lookup: a process that never
	 * asks for an allocation map (the simulator) runs no thread. */
	if (!d->is_blockdev && !d->map_worker_tried)
		disk_map_start(d);
	if (d->map_worker) {
		ssize_t n = write(d->map_to_worker[1], &r, sizeof(r));

		if (n == (ssize_t)sizeof(r)) {
			d->map_pending++;
			disk_map_arm_read(d);
			return;
		}
		/* The pipe holds thousands of requests, more than can be
		 * in flight; should it ever refuse, answer "allocated",
		 * which is always true enough for a client to read. */
		log_warn("block status worker: %s; reporting %llu bytes at "
			 "%llu as allocated", n < 0 ? strerror(errno) : "short write",
			 (unsigned long long)r->len, (unsigned long long)r->off);
		r->ext[0].len = r->len;
		r->ext[0].hole = false;
		r->result = 1;
	} else {
		/* A block device answers at once; a file without a worker
		 * is looked up here, on the loop. */
		r->result = disk_map_range(d, r->off, r->len, r->ext, r->max);
	}
	loop_defer(d->loop, &r->op, disk_map_deferred, r->result);
}
