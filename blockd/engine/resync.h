/* resync.h - bringing the peer's disk up to date from the out-of-sync
 * bitmap (source side), and a Primary SyncTarget's requests for what its
 * I/O waits on (target side). See resync.c.
 *
 * Called from peer.c (start, acks, RS_NEED, RS_PRIO, the peer lost),
 * resource.c (the tick, reads of a Primary SyncTarget), the write path
 * and receiver.c (busy chunks), and verify.c, which shares the chunk
 * slots and the pacing.
 */
#ifndef BLOCKD_ENGINE_RESYNC_H
#define BLOCKD_ENGINE_RESYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/store/disk.h"
#include "common/loop.h"
#include "transport/link.h"

struct resource;

#define RS_REQS_MAX 16U		/* chunks in flight (resync and verify) */
#define RS_CHUNK_BYTES (1U << 20)
#define RS_PRIO_MAX 64U		/* source: ranges asked for, queued */
#define PRIO_TX_MAX 64U		/* target: RS_PRIO frames in flight */

/* A resync (or verify) chunk on the source, from read to the target's
 * RS_ACK (V_REPLY). */
struct rs_req {
	struct disk_io io;
	struct resource *res;
	struct rs_req *next;	/* free list, or the busy list */
	uint64_t id;
	uint64_t off;
	uint32_t len;
	uint8_t *buf;
	bool busy;		/* not yet handed to the socket: app writes wait */
	bool in_use;
	bool csum;		/* sent as RS_CSUM, data only on RS_NEED */
	bool zero;		/* reads as zeroes: sent as RS_ZERO */
	bool need;		/* RS_NEED came: to be read again (when it may) */
	uint64_t link_gen;	/* the connection it is for */
	struct link_tx tx;
};

/* A range the Primary SyncTarget asked for (RS_PRIO), sent from next on
 * whatever the source's bitmap says: the target lacks it. */
struct rs_prio {
	uint64_t off, len;
	uint64_t next;		/* first byte not yet sent or on its way */
};

/* Target: one RS_PRIO frame. */
struct prio_req {
	struct link_tx tx;
	bool busy;
};

struct resync {
	/* Chunk slots, shared with verify.c (one of them runs at a time). */
	struct rs_req reqs[RS_REQS_MAX];
	unsigned inflight;
	uint64_t next_id;
	int64_t tokens;			/* bytes the max rate still allows */
	/* Source. */
	uint64_t cursor;		/* next block to look at */
	uint64_t save_ticket;		/* the resync waits for this bitmap
					 * save to be durable (0: none) */
	/* ... and for a flush of this disk, so what it sends is durable
	 * here before the target records it in sync. */
	struct disk_io start_flush;
	bool start_flushing, start_flush_again;
	bool start_pending;		/* resync_start_saved waits */
	bool skipped;			/* a chunk was skipped for a conflict */
	struct loop_op unbusy_op;	/* writes retried after a peer loss */
	bool unbusy_queued;
	struct rs_prio prio[RS_PRIO_MAX];	/* ranges asked for first */
	unsigned prio_n;
	/* Target. */
	struct prio_req prio_tx[PRIO_TX_MAX];	/* RS_PRIO frames */
	uint64_t received_base;		/* applied bytes at start */
	uint64_t applied_bytes;		/* resync ranges written (receiver.c) */
	/* Progress, for status. */
	uint64_t total_bytes;		/* out of sync when the resync began */
	uint64_t started_ms;
	double done_pct;
	uint64_t rate_bytes_s, eta_s;
	/* Cumulative counters (the target's are counted by receiver.c). */
	uint64_t sent_bytes, received_bytes;
	uint64_t same_bytes;		/* checksum resync: found identical */
	uint64_t zero_bytes;		/* holes sent as a range */
};

void resync_start(struct resource *res);
/* Start the resync once the bitmap it works from is durable, so a crash
 * meanwhile finds every block still marked, and once this disk flushed,
 * so no block it sends is lost here by a power loss after the target
 * has it (the two would differ, both saying they are in sync). */
void resync_start_saved(struct resource *res);
/* A bitmap save finished: start the resync that waited for it. */
void resync_bitmap_saved(struct resource *res);
void resync_pump(struct resource *res);
/* RS_ACK: the target wrote chunk id (same: it matched by checksum), or
 * (failed) could not: its bits stay set. */
void resync_ack(struct resource *res, uint64_t id, bool same, bool failed);
void resync_peer_lost(struct resource *res);
/* After a state change: a node no longer the source frees the chunks
 * waiting to be read again (RS_NEED). */
void resync_note_state(struct resource *res);
bool resync_busy_overlaps(const struct resource *res, uint64_t off, uint64_t len);
void resync_update_status(struct resource *res, uint64_t now_ms);
void resync_need(struct resource *res, uint64_t id);
void resync_prio(struct resource *res, uint64_t off, uint64_t len);
bool resync_target_lacks(struct resource *res, uint64_t off, uint64_t len);
/* A Primary's attached disk waiting for its resync to begin: a write to
 * a block it lacks waits too (retried once it is SyncTarget). */
bool resync_target_expected(const struct resource *res, uint64_t off,
			    uint64_t len);
/* The same question without asking the source for anything. */
bool resync_target_waits(const struct resource *res, uint64_t off, uint64_t len);
/* Primary SyncTarget, once a second: ask again for what I/O waits on. */
void resync_target_tick(struct resource *res);
/* Chunk slots, shared with verify.c: a free slot with a buffer of len bytes for a chunk at off (resync or
 * verify), counted in flight and against the rate; NULL when there is
 * no slot or no buffer now (a completion pumps again). */
struct rs_req *resync_slot_take(struct resource *res, uint64_t off,
				uint64_t len);
void resync_chunk_sent(struct link_tx *tx, int err);
void resync_rate_tick(struct resource *res, uint32_t ms);

#endif
