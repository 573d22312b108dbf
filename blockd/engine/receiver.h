/* receiver.h - the Secondary (and SyncTarget) side: applies the peer's
 * stream of writes, barriers, resync data and reads in stream order (see
 * receiver.c).
 *
 * Called from peer.c (frames, the peer lost, link back-pressure), the
 * write path and resource.c (overlap checks of a freshly promoted node),
 * resync.c (a chunk no longer busy) and resource.c (metadata durable).
 */
#ifndef BLOCKD_ENGINE_RECEIVER_H
#define BLOCKD_ENGINE_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/store/disk.h"
#include "common/loop.h"
#include "transport/link.h"

struct resource;

/* Request slots: back-pressure on the link, not a limit on the peer. */
#define PEER_REQS_MAX 8192U

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
	bool same_flushing;	/* RS_CSUM: identical here; made durable */
	uint8_t vcrc[4 * FRAME_VERIFY_BLOCKS];	/* V_REQ: the source's CRCs */
	uint64_t vmask;		/* V_REQ: the blocks that differ, for the reply */
	uint64_t link_gen;	/* the connection it came on: acks go only there */
	uint64_t run_off;	/* RS_DATA/RS_ZERO: the run of marked blocks */
	uint32_t run_len;	/* being written now (see receiver.c) */
	struct link_tx ack_tx;
	struct link_tx recv_ack_tx;
	bool recv_ack_pending, ack_pending;
	/* Its RECV_ACK waits until it leaves the FIFO: it came while the
	 * superblock was being written. */
	bool recv_ack_deferred;
	/* Its WRITE_ACK (with ack_err) waits on the parked list: see
	 * peer_write_acks_held. */
	bool ack_parked;
	int ack_err;
	bool finished;		/* applied (or dropped): free once acks left */
};

struct receiver {
	struct peer_req *preqs;		/* PEER_REQS_MAX slots */
	struct peer_req *preq_free;
	unsigned preq_fresh;		/* slots [preq_fresh, MAX) never used */
	struct peer_req *fifo, *fifo_tail;	/* received, not started */
	struct peer_req *inflight;	/* started, on the disk */
	unsigned inflight_count;
	bool held_back;		/* takes no new frame (a clean stop) */
	/* The buffer of the next read frame (RS_CSUM, V_REQ, READ_REQ),
	 * taken when the link offers it: see receiver_frame_ready. */
	uint8_t *read_buf;
	uint32_t read_buf_len;
	/* No buffer for it: any put wakes the link (receiver_frame_ready). */
	struct bufpool_waiter read_buf_wait;
	bool kick_queued;
	struct loop_op kick_op;
	/* Writes done whose WRITE_ACK waits (peer_write_acks_held). */
	struct peer_req *parked, *parked_tail;
	/* Write payload received (as Secondary): counted by peer.c's
	 * dispatch as it hands a DATA frame over. */
	uint64_t data_received_bytes;
};

int receiver_init(struct resource *res);
void receiver_fini(struct resource *res);
void receiver_frame(struct resource *res, const struct frame_hdr *h,
		    const uint8_t *payload, uint8_t *buf);
void receiver_peer_lost(struct resource *res);
void receiver_kick(struct resource *res);
/* Does the receiver hold a write of the stream, queued or in flight? */
bool receiver_writes_pending(const struct resource *res);
/* link_ops.ready: is a request slot free for the next stream frame? */
bool receiver_frame_ready(void *owner, const struct frame_hdr *h);
/* Does a write of the peer's, queued or in flight, touch [off, len)? */
bool receiver_overlaps(const struct resource *res, uint64_t off, uint64_t len);
/* Only those in flight (the disk is writing them now). */
bool receiver_writing(const struct resource *res, uint64_t off, uint64_t len);

#endif
