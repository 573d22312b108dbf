/* writepath.h - the Primary's write path: conflicts, epochs, the transfer
 * log and the ack points of protocols A, B and C (see writepath.c).
 *
 * Called from resource.c (submitting writes and flushes), peer.c (acks,
 * the peer lost), fencing.c (held writes), resync.c, verify.c and
 * receiver.c (conflict checks and retries) and the daemon (shutdown).
 */
#ifndef BLOCKD_ENGINE_WRITEPATH_H
#define BLOCKD_ENGINE_WRITEPATH_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/link.h"

struct blk_req;
struct resource;

/* Transfer log entries: writes sent to the peer and not yet WRITE_ACKed. */
#define TL_SIZE 4096U

/* Transfer log entry: a write sent to the peer and not yet WRITE_ACKed.
 * Outlives its request in protocol A; on connection loss every entry's
 * range is marked out of sync. */
struct tl_entry {
	uint64_t seq;		/* 0 = free */
	uint64_t off;
	uint32_t len;
	struct blk_req *req;	/* NULL once the request completed */
	bool big;		/* its range was marked on disk beforehand */
	uint64_t sent_ms;	/* when it was sent, for the lag */
	bool recv_acked;	/* protocol B: RECV_ACK already counted */
	bool al_held;		/* holds the activity log references of its
				 * request, which completed first (A, B) */
};

struct writepath {
	struct blk_req *active;		/* writes in flight (conflicts) */
	struct blk_req *waiting, *waiting_tail; /* blocked writes, FIFO */
	struct blk_req *flushes;	/* FLUSHes awaiting BARRIER_ACK */
	struct blk_req *held;		/* completions held by fencing */
	uint64_t epoch;
	bool epoch_close_pending;	/* a write of it was replied to */
	bool epoch_has_writes;
	struct tl_entry *tl;		/* TL_SIZE entries, by seq */
	uint64_t tl_next_seq, tl_tail_seq;
	uint64_t pending_writes;	/* transfer log entries in use */
	/* Application writes completed since the last status tick: set
	 * here, cleared by resource_tick(), read by the resync's pacing. */
	bool app_busy;
	/* Replication positions, like pg_stat_replication: bytes handed to
	 * the socket, received and written by the peer, and written by it
	 * as of its last completed flush. */
	uint64_t data_sent_bytes;
	uint64_t pos_received_bytes, pos_written_bytes, pos_flushed_bytes;
	uint64_t pos_written_ms, pos_flushed_ms;	/* when each last moved */
	/* Extents (UNFLUSHED_EXTENT_BYTES) with writes the peer acknowledged
	 * (WRITE_ACK) but has not flushed yet (no BARRIER_ACK of a flushing
	 * barrier since): its disk cache may lose them, so losing the peer
	 * marks them out of sync. One bit per extent. */
	uint64_t *unflushed;
	uint64_t unflushed_extents;
	bool unflushed_any;
	/* The peer was lost with writes in flight to it (transfer log
	 * entries marked out of sync): completed here alone, they change
	 * this Primary's data since the two last agreed (peer.c). */
	bool lost_inflight;
	/* Those writes are held until the superblock with the new
	 * generation is durable (writepath_meta_done releases them). */
	bool gen_hold;
	uint64_t gen_ticket;	/* meta_write_sb's, for the new generation */
	/* The write path's own flushing barrier (writepath_tick): it bounds
	 * how long a write stays unflushed when the client never flushes. */
	struct link_tx sync_tx;
	bool sync_queued;		/* sync_tx on the link's queue */
	bool sync_pending;		/* sent, its BARRIER_ACK not back */
	uint64_t sync_last_ms;		/* when the last flushing barrier went */
	/* One flushing barrier at a time (the client's or this path's own)
	 * is timed: the one sent in epoch flush_epoch at flush_sent_ms
	 * (clock_mono_ms), while flush_timed, until its ack or a later
	 * one's; flush_took_ms is the last round trip so measured. */
	uint64_t flush_epoch;
	uint64_t flush_sent_ms;
	bool flush_timed;
	uint64_t flush_took_ms;		/* 0: none measured yet */
};

/* A flushing barrier goes to the peer at least this often while some
 * acknowledged write is unflushed there, or, where the last flushing
 * barrier timed took long, WP_SYNC_COST_SHARE times as long as that one
 * took: the peer holds every later write back until the barrier is
 * done (receiver.c), so a disk whose flush takes half a second under
 * load would otherwise stall a client that never flushes for half of
 * every second. Never more than WP_SYNC_INTERVAL_MAX_MS apart. */
#define WP_SYNC_INTERVAL_MS 1000U
#define WP_SYNC_COST_SHARE 10U
#define WP_SYNC_INTERVAL_MAX_MS 30000U

/* The interval writepath_tick keeps, given the round trip of the last
 * flushing barrier timed. */
static inline uint64_t wp_sync_interval_ms(uint64_t took_ms)
{
	uint64_t ms = took_ms * WP_SYNC_COST_SHARE;

	if (ms < WP_SYNC_INTERVAL_MS)
		return WP_SYNC_INTERVAL_MS;
	return ms > WP_SYNC_INTERVAL_MAX_MS ? WP_SYNC_INTERVAL_MAX_MS : ms;
}

#define UNFLUSHED_EXTENT_BYTES (4ULL << 20)

int writepath_init(struct resource *res);
void writepath_fini(struct resource *res);
void writepath_submit(struct resource *res, struct blk_req *r);
void writepath_peer_lost(struct resource *res);
void writepath_ack(struct resource *res, uint16_t type, uint64_t id, int64_t err);
void writepath_retry_waiting(struct resource *res);
/* From resource_tick: the periodic flushing barrier. */
void writepath_tick(struct resource *res, uint64_t now_ms);
/* Complete the writes held at the peer's loss (no-op while they wait
 * for the new generation's superblock). */
void writepath_release_held(struct resource *res);
/* The peer is gone and writes it may lack complete here now: start the
 * new generation that records it, if it is due; they are held until
 * its superblock is durable. */
void writepath_lone_generation(struct resource *res);
/* The peer is back and syncs from here: writes held since its loss are
 * released before it has them (the resync brings them), so a new
 * generation records that it lacks them; they are held until it is
 * durable. */
void writepath_held_generation(struct resource *res);
/* The peer stops cleanly and flushed everything it acknowledged
 * (FRAME_FLUSHED, leave.h). */
void writepath_peer_flushed(struct resource *res);
/* A metadata write completed: writes held for the new generation go. */
void writepath_meta_done(struct resource *res);
void writepath_fail_held(struct resource *res, int err);
/* When the oldest write the peer has not acknowledged was sent
 * (clock_coarse_ms): false when every write is acknowledged. */
bool writepath_oldest_unacked(const struct resource *res, uint64_t *sent_ms);
/* Writes replied to (protocol A, B) that the peer has not acknowledged
 * yet: this disk may hold their only copy. */
uint64_t writepath_acked_unconfirmed(const struct resource *res);
bool writepath_overlaps_active(const struct resource *res, uint64_t off,
			       uint64_t len);
/* A Primary whose data is on its UpToDate peer only (no usable disk, or
 * a Primary SyncTarget): reads of what it lacks go to the peer. */
bool writepath_data_on_peer(const struct resource *res);
/* The disk is gone: requests stop holding activity log references. */
void writepath_forget_al(struct resource *res);

#endif
