/* meta.h - the metadata of one resource on this node, bound to the loop.
 *
 * Owns: the metadata area (internal: at the end of the backing device;
 * external: a file or a device), the superblock in memory, the activity
 * log and the persistence of the out-of-sync bitmap. Start-up reads and
 * the last save at shutdown (after the loop stopped) are synchronous;
 * everything else is a write on the ring, with a callback. The formats
 * are in metafmt.h, the activity log logic in al.c. Called from the
 * resource (resource.c, writepath.c, peer.c); it reports back only
 * through the meta_ops it was bound with.
 *
 * Durability rules:
 * - Every metadata write owns its buffer until it completes and is
 *   written with RWF_DSYNC: once it completed, it is durable.
 * - A superblock change is written to the other slot with a higher
 *   sequence number; while it is in flight the resource holds new writes
 *   (meta_busy()), so a new generation UUID is durable before any write
 *   that needs it completes.
 * - An activity log transaction is durable before a write to an extent
 *   it adds starts; the bitmap pages of extents it drops are durable
 *   before it is written.
 * - A bitmap page is written one write at a time; a page whose write
 *   failed, or that changed while it was written, stays dirty. Pages are
 *   saved lazily (one per tick), at once when a waiter needs them
 *   (an evicting transaction, meta_mark_durable, meta_save_bitmap), and
 *   all of them on a clean shutdown.
 * - A failed write fails the metadata for good: ops->failed runs, nothing
 *   waiting for it is reported durable, later writes are not issued (a
 *   request that needs one gets ops->failed again), meta_busy() is false.
 *
 * Bitmap page write, per page:
 *
 *   clean --bit changes--> dirty --issued (dirty cleared)--> writing
 *     ^                                                         |
 *     +------------- done (dirty again if it changed) ----------+
 *
 * A waiter takes a ticket (a registration number); page p satisfies it
 * once p is clean and not being written, or a write issued after the
 * ticket was taken has completed (durable_reg[p] >= ticket).
 */
#ifndef BLOCKD_META_H
#define BLOCKD_META_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/core/al.h"
#include "blockd/core/bitmap.h"
#include "blockd/core/metafmt.h"
#include "common/loop.h"

struct meta;

struct meta_ops {
	/* Something became durable (superblock, AL transaction, bitmap
	 * page): waiters may go on. */
	void (*durable)(void *arg);
	/* A metadata write failed (err: -errno): nothing that waited for
	 * it is durable. */
	void (*failed)(void *arg, int err);
};

/* Bitmap page writes in flight at most. */
#define META_BM_WRITES 8

struct meta_bm_write {
	struct loop_op op;
	struct meta *m;
	uint8_t *buf;		/* one page, owned until the write completes */
	uint64_t page;
	uint64_t reg;		/* registrations this write covers */
	bool busy;
};

struct meta {
	bool enabled;		/* false: a one-node resource without metadata */
	bool failed;		/* a write failed: nothing more is written */
	int err;		/* the first failure's -errno */
	int fd;			/* descriptor of the metadata area */
	bool own_fd;
	uint64_t base;		/* byte offset of the metadata area */
	uint64_t node_id;
	struct meta_sb sb;
	int sb_slot;		/* slot holding the newest superblock */
	struct loop *loop;
	struct bitmap *oos;
	const struct meta_ops *ops;
	void *arg;
	uint8_t *sb_buf, *al_buf;
	uint8_t *sync_buf;	/* start-up and shutdown only, off the loop */
	/* Superblock write: one at a time, a change meanwhile writes again. */
	bool sb_writing, sb_again;
	/* meta_write_sb's tickets: handed out, in the write in flight,
	 * durable (see meta_sb_durable). */
	uint64_t sb_ticket, sb_ticket_issued, sb_ticket_durable;
	bool retiring;		/* the last superblock is being written */
	unsigned retire_tries;
	struct loop_op sb_op;
	/* Activity log commit: evicted pages durable, then the block. */
	struct al al;
	struct meta_al al_tx;
	bool al_writing;	/* a transaction is prepared */
	bool al_issued;		/* its block is being written */
	uint64_t al_ticket;	/* for the pages of the extents it evicts */
	struct loop_op al_op;
	/* Bitmap pages. */
	struct meta_bm_write bm[META_BM_WRITES];
	uint8_t *bm_flags;		/* per page: META_BM_* */
	uint64_t *bm_durable_reg;	/* per page: see the header */
	uint64_t bm_reg;		/* last ticket handed out */
	uint64_t bm_want_n;		/* pages flagged META_BM_WANT */
	uint64_t bm_cursor;		/* where the next lazy scan starts */
	/* Metadata block writes issued since start (status, bench): each is
	 * one RWF_DSYNC write on the ring. */
	struct meta_counts {
		uint64_t superblock, activity_log, bitmap;
	} writes;
	/* A request on failed metadata reports the failure again, later. */
	bool fail_queued;
	struct loop_op fail_op;
};

/* Open existing metadata for a device of dev_bytes: "internal" or a
 * file. Logs the reason and returns -errno when there is none, it is
 * corrupt, newer, or belongs to another node. */
int meta_open(struct meta *m, const char *meta_spec, int disk_fd,
	      uint64_t dev_bytes, const char *node_name, uint32_t al_extents,
	      struct bitmap *oos);
void meta_close(struct meta *m);

/* Exported size with this metadata. */
uint64_t meta_data_bytes(const struct meta *m);

/* Bind to the loop, the bitmap it persists and its owner's callbacks. */
void meta_bind(struct meta *m, struct loop *l, struct bitmap *oos,
	       const struct meta_ops *ops, void *arg);
/* Persist m->sb (the caller changed it). The ticket tells when this
 * content is durable (meta_sb_durable; 0 when there is no metadata). */
uint64_t meta_write_sb(struct meta *m);
/* Has a superblock with the content of meta_write_sb's ticket reached
 * the disk? (Never, once the metadata failed.) */
bool meta_sb_durable(const struct meta *m, uint64_t ticket);
bool meta_busy(const struct meta *m);
/* No metadata write is in flight (the buffers may be freed). */
bool meta_idle(const struct meta *m);
/* Start an AL commit if one is due. */
void meta_al_kick(struct meta *m);
/* Save a dirty bitmap page (called each tick). */
void meta_bitmap_save(struct meta *m);
/* Start saving every dirty bitmap page (a resync is about to rely on the
 * bitmap surviving a crash); the ticket tells when they are durable. */
uint64_t meta_save_bitmap(struct meta *m);
bool meta_bitmap_durable(const struct meta *m, uint64_t ticket);
/* Clean shutdown, after the loop stopped: every dirty bitmap page and
 * the superblock, now. */
int meta_flush_sync(struct meta *m);

/* A write too wide for the activity log: mark [off, off+len) out of sync
 * and start writing its bitmap pages. *ticket is 0 at the first call and
 * remembers the request; true once those pages are durable (call again
 * after ops->durable). */
bool meta_mark_durable(struct meta *m, uint64_t *ticket, uint64_t off,
		       uint64_t len);

/* The disk is given up (it failed, or the operator detached it): one
 * last superblock says its data is not to be trusted (MDF_GIVEN_UP, not
 * Consistent, no peer outdated), so a restart over this disk finds it
 * Inconsistent and resyncs it in full instead of serving stale data.
 * Its generations stay: they tell whether it holds writes its peer
 * lacks (then neither is a source: an operator decides).
 * Tried even after a failed metadata write, a few times (DRBD's "last
 * chance" write); meta_busy() holds new I/O until it is done, and
 * nothing else is written after it (m->enabled is false from here). */
void meta_retire(struct meta *m);

/* Generation UUID moves. */
void meta_uuid_new_current(struct meta *m);
uint64_t meta_uuid_random(void);

#endif
