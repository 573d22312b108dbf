/* disk.h - the backing store: a regular file or a block device.
 *
 * Owns: the backing file descriptors and every disk operation, issued on
 * the loop. O_DIRECT by default where the filesystem takes it, with a
 * logged fallback to buffered I/O; requests that are not aligned for
 * O_DIRECT go through a second, buffered descriptor of the same file
 * (Linux keeps the page cache coherent with direct I/O on one inode).
 * TRIM punches holes (fallocate, which a block device turns into a
 * discard/unmap), WRITE_ZEROES zeroes ranges, short transfers are resumed.
 *
 * Called from the resource (blockd/resource.c); one completion per
 * disk_io, after the whole range is done or failed.
 */
#ifndef BLOCKD_DISK_H
#define BLOCKD_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/loop.h"

enum disk_io_mode { DISK_IO_DIRECT, DISK_IO_BUFFERED };

enum disk_cmd {
	DISK_READ,
	DISK_WRITE,
	DISK_FLUSH,
	DISK_TRIM,
	DISK_ZERO,
	DISK_CACHE,
};

#define DISK_F_FUA	(1U << 0)	/* durable before completion */
#define DISK_F_NO_HOLE	(1U << 1)	/* ZERO: keep the range allocated */
#define DISK_F_FAST	(1U << 2)	/* ZERO: fail with ENOTSUP if slow */

struct disk;

struct disk_io {
	struct loop_op op;
	struct disk *disk;
	enum disk_cmd cmd;
	uint32_t flags;
	uint64_t off;
	uint32_t len;
	uint8_t *buf;		/* READ/WRITE: inside the bufpool arena */
	uint32_t done_bytes;	/* progress across short transfers */
	uint8_t stage;		/* ZERO/TRIM: which method is being tried */
	void (*done)(struct disk_io *io, int err); /* 0 or -errno */
};

struct disk {
	struct loop *loop;
	int fd;			/* O_DIRECT when direct */
	int fd_buffered;	/* unaligned I/O; == fd when buffered */
	bool direct;
	bool is_blockdev;
	bool read_only;
	uint32_t align;		/* O_DIRECT offset/length alignment */
	uint64_t size_bytes;
	const uint8_t *zeroes;	/* for WRITE_ZEROES without fallocate */
};

int disk_open(struct disk *d, struct loop *l, const char *path,
	      enum disk_io_mode mode, bool read_only);
void disk_close(struct disk *d);

/* Issue io (fields cmd..buf and done set by the caller). */
void disk_submit(struct disk *d, struct disk_io *io);

struct disk_extent {
	uint64_t len;
	bool hole;		/* unallocated, reads as zeroes */
};

/* Allocation map of [off, off+len) as at most max extents. Synchronous
 * (SEEK_DATA/SEEK_HOLE are metadata lookups). Count, or -errno. */
int disk_block_status(struct disk *d, uint64_t off, uint64_t len,
		      struct disk_extent *ext, unsigned max);

#endif
