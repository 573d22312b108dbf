/* resource.h - one replicated resource on this node: its disk, its role,
 * its peer, and the route every block request takes.
 *
 * A frontend (the daemon's NBD backend) embeds a struct blk_req, fills
 * the local disk_io's cmd/flags/off/len/buf, sets done, and calls
 * resource_submit(); done runs once the request is complete per the
 * protocol's ack point:
 *
 *   protocol A: local write done and the frame handed to the peer socket
 *   protocol B: local write done and the peer's RECV_ACK
 *   protocol C: local write done and the peer's WRITE_ACK
 *
 * struct resource composes the engine's modules, each with its own
 * header and its own part of the state:
 *
 *   writepath (wp)  Primary: conflicts, epochs, transfer log, acks
 *   receiver (rx)   Secondary: applies the stream in epoch order
 *   resync (rs)     SyncSource/SyncTarget, and the chunk slots
 *   bmx             the bitmap exchange before a bitmap-based resync
 *   verify (vf)     online verify, over the resync's chunk slots
 *   remote (rr)     reads served by the peer
 *   peer            link events, state exchange, sync decision, roles
 *   fencing (fence) the peer lost under a fencing policy
 *   detach          a node whose disk failed or was detached
 *
 * What the whole resource shares stays here: the disk, metadata, bitmap,
 * buffers, the states users see (role, disk, connection, replication) and
 * the request routing of resource.c. All run on the one loop; none blocks.
 */
#ifndef BLOCKD_RESOURCE_H
#define BLOCKD_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/core/bitmap.h"
#include "blockd/core/config.h"
#include "blockd/core/sm.h"
#include "blockd/core/state.h"
#include "blockd/engine/bmx.h"
#include "blockd/engine/detach.h"
#include "blockd/engine/fencing.h"
#include "blockd/engine/leave.h"
#include "blockd/engine/operator.h"
#include "blockd/engine/peer.h"
#include "blockd/engine/receiver.h"
#include "blockd/engine/remote.h"
#include "blockd/engine/rolereq.h"
#include "blockd/engine/resync.h"
#include "blockd/engine/verify.h"
#include "blockd/engine/writepath.h"
#include "blockd/store/disk.h"
#include "blockd/store/meta.h"
#include "common/bufpool.h"
#include "common/loop.h"
#include "fence/hook.h"
#include "transport/link.h"

struct resource;

/* resource_tick() runs this often: resync pacing grants a tick's worth of
 * tokens, waiting work is retried, a bitmap page is saved lazily. */
#define RESOURCE_TICK_MS 100U

/* Legs of a request still outstanding (blk_req.pending). */
#define LEG_LOCAL	(1U << 0)	/* local disk */
#define LEG_SENT	(1U << 1)	/* frame handed to the socket */
#define LEG_RECV	(1U << 2)	/* peer's RECV_ACK */
#define LEG_WRITTEN	(1U << 3)	/* peer's WRITE_ACK / BARRIER_ACK */
#define LEG_GEN		(1U << 4)	/* held for the new generation (writepath) */

struct blk_req {
	struct disk_io local;	/* the local leg */
	struct resource *res;
	void (*done)(struct blk_req *r, int err); /* 0 or -errno */
	/* Private to the write path. */
	struct blk_req *next, *prev;	/* active list, or a wait queue */
	uint8_t pending;	/* LEG_* still outstanding */
	uint8_t needed;		/* legs that gate completion (protocol) */
	bool active;		/* on the write path's active list */
	bool al_held;		/* holds activity log references */
	bool big;		/* wider than the activity log can cover */
	uint64_t bm_ticket;	/* big: its bitmap pages' save (meta_mark_durable) */
	uint8_t held_legs;	/* peer legs held by fencing (see held) */
	struct blk_req *held_next;
	bool replicated;	/* sent to the peer */
	bool local_failed;	/* the disk failed it: the peer's copy counts */
	bool alone;		/* the peer was lost before it acknowledged */
	int err;
	uint64_t seq;		/* transfer log sequence, 0 if none */
	uint64_t epoch;
	struct link_tx tx;	/* DATA/TRIM/ZERO, or the FLUSH barrier */
	struct link_tx barrier_tx; /* closes the previous epoch first */
};

/* Who watches the resource: the daemon renders its status and streams
 * events from here. event() runs after each state change, from the loop,
 * with the change's name ("connected", "role-changed", ...); it may read
 * the resource but must not change it. */
struct resource_observer {
	void (*event)(void *arg, struct resource *res, const char *what);
	/* A promotion that waited for fence-peer (resource_promote returned
	 * -EINPROGRESS) ended: 0, or -errno with the reason in err. */
	void (*promoted)(void *arg, struct resource *res, int ret,
			 const char *err);
};

struct resource {
	const char *name;
	const char *node;
	const char *peer_name;
	const struct config *cfg;
	struct meta meta;
	/* What the engine runs over, set by its owner before resource_init:
	 * the loop (the disk's requests and timers, by its own ops), the
	 * peer link's constructor and the hook runner. The daemon gives
	 * io_uring, TCP (link_tcp_new) and programs (hook_process); the
	 * simulator its simulated ones. */
	struct loop *loop;
	link_new_fn *link_new;
	const struct hook_ops *hook_ops;
	struct disk disk;
	struct bufpool pool;
	struct bitmap oos;	/* blocks the peer lacks */
	char protocol;		/* 'A', 'B', 'C': for new writes */
	uint64_t instance;	/* random per start */
	bool stopping;		/* SIGTERM: the peer link goes down on purpose */
	/* A new generation at the next write the peer will lack: set where
	 * the peer is lost or lacks data (peer.c), taken by the write path. */
	bool uuid_rotate_pending;

	/* The states users see (DESIGN.md section 4), in one struct: they
	 * move only by sm_step (resource_step, resource_step_peer). */
	struct sm_state st;
	/* What the steps and posts since the last resource_commit asked
	 * (SM_ACT_*); STATE flags wait in peer.state_flags_pending. */
	unsigned acts;
	bool discard_my_data;	/* connect --discard-my-data: lose a split brain */
	/* Without a usable disk of its own, a Primary's users see this data
	 * generation (sm_side.exposed): the disk's current one when it was
	 * lost, the peer's it writes through while connected. */
	uint64_t exposed_gen;
	/* Demotion: a FLUSH (local disk and the peer's) before the
	 * crashed-primary mark goes (peer_demote_flush). */
	struct blk_req demote_flush;
	bool demote_flushing;
	bool demote_flush_again;	/* demoted again while it ran */
	/* ... then the bitmap pages, before the mark goes (ticket). */
	bool demote_bitmap_saving;
	uint64_t demote_bitmap_ticket;
	/* The flush before MDF_HOLDS_ACKED is recorded (peer.c). */
	struct blk_req holds_acked_flush;
	bool holds_acked_flushing;
	/* This machine's boot (loop_boot_id), when known. */
	uint8_t boot_id[LOOP_BOOT_ID_BYTES];
	bool boot_known;

	const struct resource_observer *observer;	/* or NULL */
	void *observer_arg;

	struct link *link;
	struct writepath wp;
	struct receiver rx;
	struct resync rs;
	struct bmx bmx;
	struct verify vf;
	struct remote rr;
	struct peer peer;
	struct rolereq rolereq;
	struct leave leave;
	struct fencing fence;
	struct detach detach;

	/* Reads waiting for blocks a Primary SyncTarget lacks, or for the
	 * old Primary's writes still applied here (resource.c). */
	struct blk_req *reads_waiting;
	/* Hooks running now (fire and forget, or fence-peer). */
	struct hook_run hooks[4];
	uint64_t status_tick_ms;	/* resource_tick's last once-a-second round */
	/* Local disk errors, and when the local-io-error hook last ran. */
	uint64_t io_errors;
	uint64_t last_io_error_hook_s;
	/* Cumulative counters: the disk's reads and writes, the application's
	 * and the peer's (resource.c, writepath.c, receiver.c, remote.c). */
	uint64_t read_bytes, written_bytes;
};

/* Set up metadata, the write path, the receiver and (with a peer) the
 * link. */
int resource_init(struct resource *res, const struct config *cfg,
		  const struct link_config *peer);
void resource_fini(struct resource *res);
/* Metadata became durable (superblock, activity log, bitmap pages):
 * resume I/O. */
void resource_meta_done(struct resource *res);
struct sm_view;
/* The states move only here: sm_step by the event's table, asserted
 * (every build) to be a transition of the state it is in. What the
 * step asks (sm_effects) waits for the next resource_commit. */
void resource_step(struct resource *res, enum sm_event_kind kind, int ev);
/* The peer view's step (SM_EV_PEER): its STATE, or what this node did to
 * its disk, or SM_PEER_GONE. */
void resource_step_peer(struct resource *res, enum sm_peer_ev ev,
			enum role role, enum disk_state disk, bool paused);
/* Ask for actions the states do not show (SM_ACT_*); SEND_STATE with
 * FRAME_STATE_F_* flags for the peer (resource_post_state). */
void resource_post(struct resource *res, unsigned acts);
void resource_post_state(struct resource *res, uint8_t flags);
/* The one executor of the state machine's actions: runs what the steps
 * and posts since the last commit asked, in SM_ACT_* order (STATE to the
 * peer, bitmap exchange, resync start, resync pump, held writes,
 * retries), then tells users of event (NULL: none). Every engine entry
 * ends with a commit: nothing a step asked is left over when the loop
 * runs the next callback (resource_tick asserts it). */
void resource_commit(struct resource *res, const char *event);
/* The states the state machine's decisions look at (blockd/core/sm.h). */
void resource_view(const struct resource *res, struct sm_view *v);
/* Bind the metadata to this resource's loop, bitmap and callbacks. */
void resource_meta_bind(struct resource *res);
/* Clean shutdown: save the bitmap and superblock. */
void resource_shutdown_meta(struct resource *res);
/* The backing disk failed a request (runs the local-io-error hook). */
void resource_local_io_error(struct resource *res, int err);
void resource_submit(struct resource *res, struct blk_req *r);
/* Resync data arrived, a write of the peer's was applied, or the resync
 * ended: reads that waited for it. */
void resource_retry_reads(struct resource *res);
/* Every RESOURCE_TICK_MS: resync pacing and retries; progress once a
 * second. */
void resource_tick(struct resource *res, uint64_t now_ms);
/* Tell obs about every state change from now on (one observer). */
void resource_observe(struct resource *res,
		      const struct resource_observer *obs, void *arg);
/* Run a configured hook (path "" = none configured: nothing happens).
 * done may be NULL. 0, or -errno when it could not be started. */
int resource_hook(struct resource *res, const char *path, const char *name,
		  void (*done)(struct hook_run *h, int result), void *arg);
/* The same, tagging the run with a cookie its done() reads back. */
int resource_hook_run(struct resource *res, const char *path, const char *name,
		      void (*done)(struct hook_run *h, int result), void *arg,
		      uint64_t cookie);

#endif
