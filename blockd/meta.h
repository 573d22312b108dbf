/* meta.h - the metadata of one resource on this node, bound to the loop.
 *
 * Owns: the metadata area (internal: at the end of the backing device;
 * external: a file), the superblock in memory, the activity log and the
 * persistence of the out-of-sync bitmap. Start-up reads are synchronous;
 * everything afterwards goes through the loop. The formats are in
 * metafmt.h, the activity log logic in al.c.
 *
 * Durability rules:
 * - A superblock change is written to the other slot with a higher
 *   sequence number, with FUA; while it is in flight the resource holds
 *   new writes (meta_busy()), so a new generation UUID is durable before
 *   any write that needs it completes.
 * - An activity log transaction is durable before a write to an extent
 *   it adds starts; the bitmap pages of extents it drops are durable
 *   before it is written.
 * - Bitmap pages are otherwise saved lazily (each tick) and all of them
 *   on a clean shutdown.
 */
#ifndef BLOCKD_META_H
#define BLOCKD_META_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/al.h"
#include "blockd/bitmap.h"
#include "blockd/metafmt.h"
#include "common/loop.h"

struct resource;

struct meta {
	bool enabled;		/* false: a one-node resource without metadata */
	int fd;			/* O_DIRECT descriptor of the metadata device */
	bool own_fd;
	uint64_t base;		/* byte offset of the metadata area */
	uint64_t node_id;
	struct meta_sb sb;
	int sb_slot;		/* slot holding the newest superblock */
	struct loop *loop;
	struct resource *res;
	uint8_t *sb_buf, *al_buf, *bm_buf;
	/* Superblock write: one at a time, a change meanwhile writes again. */
	bool sb_writing, sb_again;
	struct loop_op sb_op;
	/* Activity log commit. */
	struct al al;
	struct meta_al al_tx;
	bool al_writing;
	struct loop_op al_op;
	/* Lazy bitmap writes. */
	bool bm_writing;
	uint64_t bm_page;		/* page being written */
	uint64_t bm_cursor;		/* where the next scan starts */
	struct loop_op bm_op;
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

void meta_bind(struct meta *m, struct loop *l, struct resource *res);
/* Persist m->sb (the caller changed it). */
void meta_write_sb(struct meta *m);
bool meta_busy(const struct meta *m);
/* Start an AL commit if one is due. */
void meta_al_kick(struct meta *m);
/* Save some dirty bitmap pages (called each tick). */
void meta_bitmap_save(struct meta *m);
/* Every dirty bitmap page, now and durably (a resync is about to rely
 * on the bitmap surviving a crash). */
int meta_save_bitmap_sync(struct meta *m);
/* Clean shutdown: every dirty bitmap page and the superblock, now. */
int meta_flush_sync(struct meta *m);

/* Mark [off, off+len) in oos and write its bitmap pages now, durably
 * (synchronous: only for writes too wide for the activity log). */
void meta_mark_durable(struct meta *m, struct bitmap *oos, uint64_t off,
		       uint64_t len);

/* Generation UUID moves. */
void meta_uuid_new_current(struct meta *m);
uint64_t meta_uuid_random(void);

#endif
