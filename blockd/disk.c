/* disk.c - see disk.h. */
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bufpool.h"
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

int disk_open(struct disk *d, struct loop *l, const char *path,
	      enum disk_io_mode mode, bool read_only)
{
	int acc = read_only ? O_RDONLY : O_RDWR;
	int ret;

	memset(d, 0, sizeof(*d));
	d->loop = l;
	d->read_only = read_only;
	d->fd = d->fd_buffered = -1;

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

	if (mode == DISK_IO_DIRECT) {
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

/* Queue the next (or first) piece of a READ or WRITE. */
static void disk_rw_issue(struct disk *d, struct disk_io *io)
{
	struct io_uring_sqe *sqe = loop_sqe(d->loop);
	uint64_t off = io->off + io->done_bytes;
	uint32_t len = io->len - io->done_bytes;
	uint8_t *buf = io->buf + io->done_bytes;
	bool direct = d->direct && disk_aligned(d, io->off, io->len);
	int fd = direct ? d->fd : d->fd_buffered;

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

static void disk_finish(struct disk_io *io, int err)
{
	io->done(io, err);
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
	switch (io->cmd) {
	case DISK_READ:
	case DISK_WRITE:
		disk_rw_issue(d, io);
		return;
	case DISK_FLUSH:
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

int disk_block_status(struct disk *d, uint64_t off, uint64_t len,
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
