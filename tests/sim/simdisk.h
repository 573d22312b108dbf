/* simdisk.h - a simulated disk with a volatile write cache, latency and
 * faults, for the simulator.
 *
 * What it models (the contract a real disk gives, and no more):
 * - A request completes after a random latency; completions of
 *   different requests come in any order.
 * - A completed write is visible to later reads but volatile until a
 *   FLUSH issued after its completion completes (or it was written FUA).
 * - A crash keeps what is durable; every other write that completed or
 *   was in flight survives or not at random, each 4 KiB block of it on
 *   its own (torn writes); survivors land in the order they completed.
 * - Faults: a request fails with EIO at random (per-op rates), or the
 *   disk goes bad and fails everything from then on.
 *
 * The durable image lives in a memfd, so start-up code that reads with
 * pread (the metadata) sees exactly what survived. Completions run from
 * the scheduler, never inside the call that issued the request.
 */
#ifndef SIM_SIMDISK_H
#define SIM_SIMDISK_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"
#include "sched.h"

enum simdisk_op { SD_READ, SD_WRITE, SD_FLUSH, SD_ZERO };

struct simdisk_req;
typedef void (*simdisk_done_fn)(struct simdisk_req *q, int err);

/* A request, embedded by its issuer. */
struct simdisk_req {
	struct sim_event ev;
	struct simdisk *d;
	enum simdisk_op op;
	bool fua;
	uint64_t off;
	uint32_t len;
	uint8_t *buf;		/* READ: filled; WRITE: read at completion */
	simdisk_done_fn done;
	void *arg;		/* the issuer's */
	uint64_t issue_seq;	/* FLUSH: writes completed before it count */
	struct simdisk_req *next_inflight, *prev_inflight;
};

/* A completed write not yet durable. */
struct simdisk_vw {
	uint64_t off;
	uint32_t len;
	uint64_t seq;		/* completion order */
	uint8_t *data;		/* NULL: zeroes */
};

struct simdisk_knobs {
	uint32_t lat_min_us, lat_max_us;
	/* per million requests of that kind */
	uint32_t read_err, write_err, flush_err;
	/* at a crash, per million: a volatile write survives; one of its
	 * 4 KiB blocks survives (when the write does) */
	uint32_t crash_keep, crash_block_keep;
	/* A self-test of the simulator's checks (--lying-disk): a FLUSH
	 * completes without making anything durable. */
	bool flush_lies;
};

struct simdisk {
	const char *name;
	struct sched *sched;
	struct rng rng;
	struct simdisk_knobs k;
	uint64_t size;
	int fd;			/* memfd: the durable image */
	uint8_t *map;		/* the memfd mapped: copies without syscalls */
	struct simdisk_vw *vw;	/* completed, volatile, in completion order */
	size_t nvw, capvw;
	uint64_t next_seq;	/* completion sequence */
	struct simdisk_req *inflight;	/* issued, not completed */
	bool bad;		/* every request fails from now on */
	/* Told of every write that became visible (zero: data NULL), after
	 * it did, when set (the order watch keeps its view with it). */
	void (*landed)(void *arg, uint64_t off, uint32_t len);
	void *landed_arg;
	/* Counters, for reports. */
	uint64_t reads, writes, flushes, errors, lost_blocks;
	uint64_t writes_now;	/* of writes: simdisk_write_now's */
	uint64_t flushes_now;	/* of flushes: simdisk_flush_now's */
	/* Power losses so far: the machine's boot (loop_boot_id). */
	uint64_t boots;
};

int simdisk_init(struct simdisk *d, const char *name, struct sched *s,
		 uint64_t seed, uint64_t size, const struct simdisk_knobs *k);
void simdisk_fini(struct simdisk *d);

/* Issue q (fields op, fua, off, len, buf, done, arg set by the caller). */
void simdisk_submit(struct simdisk *d, struct simdisk_req *q);

/* A write that completes now (the loop's synchronous page-cache write):
 * 0, or -EIO when the disk fails it. It is volatile like any completed
 * write. */
int simdisk_write_now(struct simdisk *d, uint64_t off, uint32_t len,
		      const uint8_t *buf);

/* A flush that completes now (the loop's synchronous fdatasync): every
 * write completed so far is durable; 0, or -EIO when the disk fails it. */
int simdisk_flush_now(struct simdisk *d);

/* Power loss: requests in flight never complete (their callbacks are
 * dropped); what was not durable survives at random; the cache is empty
 * afterwards. */
void simdisk_crash(struct simdisk *d);

/* The process using the disk died but the machine did not: requests in
 * flight are dropped from the caller's view yet still reach the cache
 * (the kernel completes them), and the cache survives. */
void simdisk_process_crash(struct simdisk *d);

/* Power loss of a machine whose process had died already (nothing in
 * flight): the cache is lost whole, without a draw (the run's other
 * draws stay as they were). */
void simdisk_crash_idle(struct simdisk *d);

/* The content as a reader sees it now (durable + completed writes). */
/* What survives a power loss now: the durable image only. */
void simdisk_peek_durable(struct simdisk *d, uint64_t off, uint32_t len,
			  uint8_t *out);
void simdisk_peek(struct simdisk *d, uint64_t off, uint32_t len, uint8_t *out);

/* Has every completed write been made durable? */
static inline bool simdisk_clean(const struct simdisk *d)
{
	return d->nvw == 0;
}

#endif
