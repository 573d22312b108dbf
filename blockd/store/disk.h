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
 * Allocation maps (NBD BLOCK_STATUS) come from lseek(SEEK_DATA/SEEK_HOLE),
 * which io_uring cannot issue and which waits for the file's inode lock
 * (behind a long write, a truncate) or for a slow filesystem. So a regular
 * file gets one worker thread, started at the first lookup, that does
 * nothing but those lseeks: the loop hands it a request through a pipe
 * and reads the finished request back through another pipe on the ring. The worker touches only the
 * request and the immutable descriptor; everything else stays on the loop
 * thread, without locks.
 *
 * Called from the resource (blockd/engine/resource.c) and the NBD server; one
 * completion per disk_io or disk_map_req, after the whole range is done or
 * failed, never from inside the call that submitted it.
 */
#ifndef BLOCKD_DISK_H
#define BLOCKD_DISK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/loop.h"

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

struct disk_map_req;

#define DISK_MAP_BATCH 64	/* finished lookups collected per read */

/* What the owner lets the disk do at once on the loop's thread instead
 * of through io_uring (0: never). disk_open clears it: the owner sets it
 * after each open.
 * - write_max: page-cache writes up to this many bytes (without FUA);
 *   see disk_rw_issue.
 * - flush_max_us: a FLUSH with nothing else of this disk in flight
 *   (fdatasync, loop_sync_now; io_uring hands every fsync to a worker
 *   thread: two thread wake-ups, tens of microseconds), while the last
 *   flush took at most this long. The loop waits for the device
 *   meanwhile: a slow one (a flush of milliseconds) is never waited for
 *   this way. */
struct disk_inline {
	uint32_t write_max;
	uint32_t flush_max_us;
};

/* What the daemon (and the simulator) choose. */
#define DISK_INLINE_DEFAULT \
	((struct disk_inline){ .write_max = 64U * 1024, .flush_max_us = 250U })

/* Told of every disk_io the store takes (before it issues anything) and
 * finishes (before the owner's done runs). The simulator checks with it
 * what the store promises, e.g. that a FLUSH it finished made durable
 * every write it had finished before the FLUSH was submitted; the daemon
 * sets none. */
struct disk_watch {
	void (*submitted)(void *arg, const struct disk_io *io);
	void (*finished)(void *arg, const struct disk_io *io, int err);
	void *arg;
};

struct disk {
	struct loop *loop;
	int fd;			/* O_DIRECT when direct */
	int fd_buffered;	/* unaligned I/O; == fd when buffered */
	bool direct;
	bool is_blockdev;
	bool read_only;
	/* disk_open's flush succeeded: what an earlier process left in the
	 * volatile caches is durable. */
	bool flushed_at_open;
	uint32_t align;		/* O_DIRECT offset/length alignment */
	uint64_t size_bytes;
	const uint8_t *zeroes;	/* for WRITE_ZEROES without fallocate */
	/* The allocation-map worker (regular files only). */
	bool map_worker;	/* running; else lookups run on the loop */
	bool map_worker_tried;	/* started (or failed to) at the first lookup */
	pthread_t map_thread;
	int map_to_worker[2];	/* request pointers: loop -> worker */
	int map_from_worker[2];	/* finished request pointers: worker -> loop */
	unsigned map_pending;	/* handed to the worker, not yet collected */
	bool map_read_armed;
	struct loop_op map_read_op;
	struct disk_map_req *map_done[DISK_MAP_BATCH];
	unsigned inflight;	/* disk_ios submitted, not yet completed */
	struct disk_inline inline_io;	/* the owner's, see above */
	uint64_t flush_last_ns;	/* how long the last FLUSH took */
	const struct disk_io *flush_timed;	/* through io_uring, timed */
	uint64_t flush_started_ns;	/* ... since */
	/* The owner's: failed() runs before the completion of any request
	 * the device failed (the error says the disk can no longer be
	 * trusted); idle() runs after a completion leaves nothing in flight
	 * while want_idle is set. Either may be NULL. */
	void (*failed)(void *arg, int err);
	void (*idle)(void *arg);
	void *owner_arg;
	bool want_idle;
	/* The owner's, like inline_io: disk_open clears it. */
	const struct disk_watch *watch;
};

/* direct: try O_DIRECT first (falls back to buffered, logged). */
int disk_open(struct disk *d, struct loop *l, const char *path, bool direct,
	      bool read_only);
void disk_close(struct disk *d);

/* Issue io (fields cmd..buf and done set by the caller). */
void disk_submit(struct disk *d, struct disk_io *io);

struct disk_extent {
	uint64_t len;
	bool hole;		/* unallocated, reads as zeroes */
};

/* Allocation map of [off, off+len) as at most max extents, on the
 * calling thread (it may wait for the inode lock). Count, or -errno. */
int disk_block_status(struct disk *d, uint64_t off, uint64_t len,
		      struct disk_extent *ext, unsigned max);

/* The same, answered off the loop thread. The caller fills off, len, ext
 * (room for max extents), max and done; done(r, n) runs later from the
 * loop with the count of extents (at least 1) or -errno. */
struct disk_map_req {
	uint64_t off, len;
	struct disk_extent *ext;
	unsigned max;
	void (*done)(struct disk_map_req *r, int n);
	int result;		/* set by whoever did the lookup */
	struct loop_op op;	/* completion when no worker was involved */
};

void disk_map_submit(struct disk *d, struct disk_map_req *r);

/* Is anything (I/O or a lookup) still in flight on d? */
bool disk_busy(const struct disk *d);

#endif
