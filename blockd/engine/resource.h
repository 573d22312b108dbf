/* resource.h - one replicated resource on this node: its disk, its role,
 * its peer, and the route every block request takes.
 *
 * A frontend (the NBD server) embeds a struct blk_req, fills the local
 * disk_io's cmd/flags/off/len/buf, sets done, and calls resource_submit();
 * done runs once the request is complete per the protocol's ack point:
 *
 *   protocol A: local write done and the frame handed to the peer socket
 *   protocol B: local write done and the peer's RECV_ACK
 *   protocol C: local write done and the peer's WRITE_ACK
 *
 * The pieces: writepath.c (Primary: conflicts, epochs, transfer log, acks),
 * receiver.c (Secondary: applies the stream in epoch order), resync.c
 * (SyncSource/SyncTarget), peer.c (link events, state exchange, roles).
 * All run on the one loop; none blocks.
 */
#ifndef BLOCKD_RESOURCE_H
#define BLOCKD_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/core/bitmap.h"
#include "blockd/core/config.h"
#include "blockd/store/disk.h"
#include "blockd/store/meta.h"
#include "blockd/core/state.h"
#include "common/bufpool.h"
#include "common/loop.h"
#include "fence/hook.h"
#include "transport/link.h"

struct resource;
struct node;

/* Legs of a request still outstanding (blk_req.pending). */
#define LEG_LOCAL	(1U << 0)	/* local disk */
#define LEG_SENT	(1U << 1)	/* frame handed to the socket */
#define LEG_RECV	(1U << 2)	/* peer's RECV_ACK */
#define LEG_WRITTEN	(1U << 3)	/* peer's WRITE_ACK / BARRIER_ACK */

struct blk_req {
	struct disk_io local;	/* the local leg */
	struct resource *res;
	void (*done)(struct blk_req *r, int err); /* 0 or -errno */
	/* Private to the write path. */
	struct blk_req *next, *prev;	/* active list, or a wait queue */
	uint8_t pending;	/* LEG_* still outstanding */
	uint8_t needed;		/* legs that gate completion (protocol) */
	bool active;		/* on res->active (conflict checks) */
	bool al_held;		/* holds activity log references */
	bool big;		/* wider than the activity log can cover */
	uint64_t bm_ticket;	/* big: its bitmap pages' save (meta_mark_durable) */
	uint8_t held_legs;	/* peer legs held by fencing (see held) */
	struct blk_req *held_next;
	bool replicated;	/* sent to the peer */
	bool local_failed;	/* the disk failed it: the peer's copy counts */
	int err;
	uint64_t seq;		/* transfer log sequence, 0 if none */
	uint64_t epoch;
	struct link_tx tx;	/* DATA/TRIM/ZERO, or the FLUSH barrier */
	struct link_tx barrier_tx; /* closes the previous epoch first */
};

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

/* A frame received by a Secondary (or SyncTarget), until acked. */
struct peer_req {
	struct disk_io io;
	struct resource *res;
	struct peer_req *next;
	struct peer_req *prev;	/* in-flight list */
	uint16_t type;		/* FRAME_* */
	uint32_t flags;
	uint64_t id;
	uint64_t off;
	uint32_t len;
	uint8_t *buf;		/* payload (bufpool), or NULL */
	bool flushing;		/* BARRIER: its fdatasync is running */
	bool flushed;		/* BARRIER: its fdatasync is done */
	int flush_err;		/* BARRIER: that fdatasync's -errno, for the ack */
	uint32_t csum;		/* RS_CSUM: the source's CRC32C */
	uint8_t vcrc[4 * FRAME_VERIFY_BLOCKS];	/* V_REQ: the source's CRCs */
	uint64_t link_gen;	/* the connection it came on: acks go only there */
	uint64_t run_off;	/* RS_DATA/RS_ZERO: the run of marked blocks */
	uint32_t run_len;	/* being written now (see receiver.c) */
	struct link_tx ack_tx;
	struct link_tx recv_ack_tx;
	bool recv_ack_pending, ack_pending;
	bool finished;		/* applied (or dropped): free once acks left */
};

/* A resync chunk on the source, from read to the target's RS_ACK. */
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

/* A read sent to the peer (remote.c), from READ_REQ to READ_REPLY. */
struct remote_read {
	struct link_tx tx;
	struct resource *res;
	struct blk_req *req;	/* NULL: free (once tx_busy is false too) */
	uint64_t id;		/* use count * REMOTE_READS_MAX + slot */
	bool tx_busy;		/* READ_REQ not yet handed to the socket */
};

/* resource_tick() runs this often: resync pacing grants a tick's worth of
 * tokens, waiting work is retried, a bitmap page is saved lazily. */
#define RESOURCE_TICK_MS 100U

#define TL_SIZE 4096U
#define RS_PRIO_MAX 64U
#define PRIO_TX_MAX 64U
#define PEER_REQS_MAX 8192U
#define RS_REQS_MAX 16U
#define RS_CHUNK_BYTES (1U << 20)
#define REMOTE_READS_MAX 256U

struct resource {
	const char *name;
	const char *node;
	const char *peer_name;
	struct node *owner;
	const struct config *cfg;
	struct meta meta;
	struct loop *loop;
	struct disk disk;
	struct bufpool pool;
	char protocol;		/* 'A', 'B', 'C': for new writes */

	enum role role;
	enum disk_state disk_state;
	bool detaching;		/* detach requested: Diskless once drained */
	int disk_error;		/* -errno that failed the disk, 0 if none */
	bool io_frozen;		/* writes held: fencing */
	char frozen_reason[160];
	bool fence_running;
	uint64_t fence_runs, fence_ok, fence_failed;	/* for metrics */
	uint64_t io_errors;		/* local disk errors */
	uint64_t last_io_error_hook_s;
	uint64_t fence_epoch;	/* losses and returns: a stale fence result is ignored */
	bool stopping;		/* SIGTERM: the peer link goes down on purpose */
	bool uuid_rotate_pending;	/* new generation at the next lone write */
	uint64_t instance;	/* random per start */

	/* The peer, as last known. */
	struct link *link;
	enum conn_state peer_conn;
	enum role peer_role;
	enum disk_state peer_disk;
	enum repl_state repl;
	bool state_received;	/* the peer's first STATE since connect */
	struct frame_state peer_state;	/* the last one */
	bool discard_my_data;	/* connect --discard-my-data: lose a split brain */
	bool sync_paused;	/* pause-sync on either side */
	bool peer_paused;
	/* Bitmap exchange before a bitmap-based resync. */
	bool bm_exchange, bm_sent, bm_received;
	uint64_t bm_cursor;
	struct link_tx bm_tx;
	uint8_t bm_payload[FRAME_CTRL_PAYLOAD_MAX];
	struct link_tx state_tx, done_tx;
	bool state_tx_queued, state_tx_again;
	uint8_t state_flags_pending;	/* for the STATE sent next */
	struct bitmap oos;	/* blocks the peer lacks */

	/* Primary write path. */
	struct blk_req *active;		/* writes in flight (conflicts) */
	struct blk_req *waiting, *waiting_tail; /* blocked writes, FIFO */
	struct blk_req *flushes;	/* FLUSHes awaiting BARRIER_ACK */
	struct blk_req *held;		/* completions held by fencing */
	uint64_t epoch;
	bool epoch_close_pending;	/* a write of it was replied to */
	bool epoch_has_writes;
	struct tl_entry *tl;
	uint64_t tl_next_seq, tl_tail_seq;
	uint64_t pending_writes;	/* transfer log entries in use */

	/* Secondary receive path. */
	struct peer_req *preqs;
	struct peer_req *preq_free;
	struct peer_req *fifo, *fifo_tail;
	struct peer_req *inflight;
	unsigned inflight_count;
	bool rx_kick_queued;
	struct loop_op rx_kick_op;

	/* Resync. */
	struct rs_req rsreqs[RS_REQS_MAX];
	unsigned rs_inflight;
	uint64_t rs_cursor;		/* next block to look at */
	uint64_t rs_total_bytes;	/* out of sync when the resync began */
	uint64_t rs_started_ms;
	uint64_t rs_received_base;	/* target: applied bytes at start */
	uint64_t rs_applied_bytes;	/* target: resync ranges written */
	uint64_t rs_next_id;
	uint64_t rs_save_ticket;	/* source: the resync waits for this
					 * bitmap save to be durable (0: none) */
	bool rs_skipped;		/* a chunk was skipped for a conflict */
	int64_t rs_tokens;		/* bytes the max rate still allows */
	struct loop_op rs_unbusy_op;	/* writes retried after a peer loss */
	bool rs_unbusy_queued;
	/* Online verify (source side). */
	uint64_t v_cursor;		/* next block to verify */
	uint64_t v_mismatch;		/* blocks found different */
	uint64_t v_first[8];		/* their first offsets, for the log */
	unsigned v_first_n;
	double verify_done_pct;
	bool app_busy;			/* application writes since the last tick */
	struct rs_prio rs_prio[RS_PRIO_MAX];	/* source: ranges asked for first */
	unsigned rs_prio_n;
	struct prio_req {
		struct link_tx tx;
		bool busy;
	} prio[PRIO_TX_MAX];			/* target: RS_PRIO frames */
	struct blk_req *reads_waiting;		/* Primary target: reads waiting */
	/* Reads served by the peer (no usable disk here). */
	struct remote_read *rreads;
	struct blk_req *rread_waiting;		/* no free slot: FIFO */
	uint64_t rread_uses;

	/* Hooks running now (fire and forget, or fence-peer). */
	struct hook_run hooks[4];

	/* Status. */
	double resync_done_pct;
	uint64_t resync_rate_bytes_s, resync_eta_s;
	/* Cumulative counters. */
	uint64_t read_bytes, written_bytes;
	uint64_t data_sent_bytes, data_received_bytes;
	/* Replication positions on the Primary, like pg_stat_replication:
	 * bytes handed to the socket, received and written by the peer,
	 * and written by it as of its last completed flush. */
	uint64_t pos_received_bytes, pos_written_bytes, pos_flushed_bytes;
	uint64_t pos_written_ms, pos_flushed_ms;	/* when each last moved */
	uint64_t resync_sent_bytes, resync_received_bytes;
	uint64_t resync_same_bytes;	/* checksum resync: found identical */
	uint64_t resync_zero_bytes;	/* holes sent as a range */
};

/* Set up metadata, the write path, the receiver and (with a peer) the
 * link. */
int resource_init(struct resource *res, struct node *owner,
		  const struct config *cfg, const struct link_config *peer);
/* Metadata became durable (superblock, activity log, bitmap pages):
 * resume I/O. */
void resource_meta_done(struct resource *res);
/* Bind the metadata to this resource's loop, bitmap and callbacks. */
void resource_meta_bind(struct resource *res);
/* The backing disk failed a request (runs the local-io-error hook). */
void resource_local_io_error(struct resource *res, int err);

/* detach.c */
/* Is the local disk in use (not Failed, Diskless or being detached)? */
bool resource_has_disk(const struct resource *res);
/* The disk (or its metadata) failed: detach it. */
void resource_disk_failed(struct resource *res, int err);
/* Route the disk's failure and idle callbacks here (after disk_open). */
void resource_disk_bind(struct resource *res);
int resource_detach(struct resource *res, char *err, size_t errlen);
int resource_attach(struct resource *res, char *err, size_t errlen);
/* Clean shutdown: save the bitmap and superblock. */
void resource_shutdown_meta(struct resource *res);
void resource_fini(struct resource *res);
void resource_submit(struct resource *res, struct blk_req *r);
/* Once a second: resync progress, and a resync that waited for buffers. */
void resource_tick(struct resource *res, uint64_t now_ms);

/* writepath.c */
int writepath_init(struct resource *res);
void writepath_fini(struct resource *res);
void writepath_submit(struct resource *res, struct blk_req *r);
void writepath_peer_lost(struct resource *res);
void writepath_ack(struct resource *res, uint16_t type, uint64_t id, int64_t err);
void writepath_retry_waiting(struct resource *res);
void writepath_release_held(struct resource *res);
void writepath_fail_held(struct resource *res, int err);
void writepath_lag(const struct resource *res, uint64_t *since_flush_ms,
		   uint64_t *oldest_unacked_ms);
bool writepath_overlaps_active(const struct resource *res, uint64_t off,
			       uint64_t len);
/* A Primary whose data is on its UpToDate peer only (no usable disk, or
 * a Primary SyncTarget): reads of what it lacks go to the peer. */
bool writepath_data_on_peer(const struct resource *res);
/* The disk is gone: requests stop holding activity log references. */
void writepath_forget_al(struct resource *res);

/* receiver.c */
int receiver_init(struct resource *res);
void receiver_fini(struct resource *res);
void receiver_frame(struct resource *res, const struct frame_hdr *h,
		    const uint8_t *payload, uint8_t *buf);
void receiver_peer_lost(struct resource *res);
void receiver_kick(struct resource *res);
/* link_ops.ready: is a request slot free for the next stream frame? */
bool receiver_frame_ready(void *owner, const struct frame_hdr *h);
/* Does a write of the peer's, queued or in flight, touch [off, len)? */
bool receiver_overlaps(const struct resource *res, uint64_t off, uint64_t len);
/* Only those in flight (the disk is writing them now). */
bool receiver_writing(const struct resource *res, uint64_t off, uint64_t len);

/* resync.c */
void resync_start(struct resource *res);
void resync_pump(struct resource *res);
/* RS_ACK: the target wrote chunk id (same: it matched by checksum), or
 * (failed) could not: its bits stay set. */
void resync_ack(struct resource *res, uint64_t id, bool same, bool failed);
void resync_peer_lost(struct resource *res);
bool resync_busy_overlaps(const struct resource *res, uint64_t off, uint64_t len);
void resync_update_status(struct resource *res, uint64_t now_ms);
void resync_need(struct resource *res, uint64_t id);
void resync_prio(struct resource *res, uint64_t off, uint64_t len);
bool resync_target_lacks(struct resource *res, uint64_t off, uint64_t len);
/* The same question without asking the source for anything. */
bool resync_target_waits(const struct resource *res, uint64_t off, uint64_t len);
/* Primary SyncTarget, once a second: ask again for what I/O waits on. */
void resync_target_tick(struct resource *res);
void resource_retry_reads(struct resource *res);
struct rs_req *resync_req_get(struct resource *res);
void resync_chunk_sent(struct link_tx *tx, int err);
void resync_rate_tick(struct resource *res, uint32_t ms);

/* verify.c */
int verify_start(struct resource *res, char *err, size_t errlen);
void verify_pump(struct resource *res);
void verify_reply(struct resource *res, uint64_t id, uint64_t mask);
void verify_target_done(struct resource *res, struct peer_req *p, int err,
			uint64_t *mask);

/* remote.c */
int remote_init(struct resource *res);
void remote_fini(struct resource *res);
void remote_read_submit(struct resource *res, struct blk_req *r);
void remote_read_reply(struct resource *res, const struct frame_hdr *h,
		       uint8_t *buf);
void remote_read_peer_lost(struct resource *res);

/* fencing.c */
void fencing_peer_lost(struct resource *res);
void fencing_peer_back(struct resource *res);
void fencing_peer_unsettled(struct resource *res);
void fencing_peer_uptodate(struct resource *res);
void fencing_peer_disk_seen(struct resource *res);
int fencing_resume_io(struct resource *res, char *err, size_t errlen);
int fencing_outdate(struct resource *res, char *err, size_t errlen);

/* peer.c */
extern const struct link_ops peer_link_ops;
void peer_send_state(struct resource *res);
void peer_promoted(struct resource *res, bool forced);
void peer_demoted(struct resource *res);
int peer_new_current_uuid(struct resource *res, char *err, size_t errlen);
void peer_set_paused(struct resource *res, bool paused);
/* Become SyncSource now (full: every block; else the bitmap). */
int peer_start_resync(struct resource *res, bool full, char *err, size_t errlen);
/* Ask the peer to sync this node: entirely, or (bitmap) the blocks either
 * side has marked out of sync (invalidate). */
int peer_request_full_sync(struct resource *res, bool bitmap, char *err,
			   size_t errlen);
void peer_target_synced(struct resource *res);
/* A disk was attached while connected to an UpToDate peer: ask it for a
 * full resync into the new disk. */
void peer_request_attach_sync(struct resource *res);
void peer_source_synced(struct resource *res);
/* A bitmap save finished: start the resync that waited for it. */
void peer_bitmap_saved(struct resource *res);
void resource_event(struct resource *res, const char *what);
/* Run a configured hook (path "" = none configured: nothing happens).
 * done may be NULL. 0, or -errno when it could not be started. */
int resource_hook(struct resource *res, const char *path, const char *name,
		  void (*done)(struct hook_run *h, int result), void *arg);
/* The same, tagging the run with a cookie its done() reads back. */
int resource_hook_run(struct resource *res, const char *path, const char *name,
		      void (*done)(struct hook_run *h, int result), void *arg,
		      uint64_t cookie);

#endif
