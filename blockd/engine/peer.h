/* peer.h - the resource's side of the peer link: state exchange, the
 * decision of who syncs whom on connect, role changes and the frame
 * dispatch (see peer.c).
 *
 * Called from resource.c (the link's callbacks), the commands, and the
 * modules that change what STATE tells the peer.
 */
#ifndef BLOCKD_ENGINE_PEER_H
#define BLOCKD_ENGINE_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/link.h"

struct resource;

struct peer {
	bool state_received;		/* the peer's first STATE since connect */
	struct frame_state state;	/* the last one */
	struct link_tx state_tx, done_tx;
	bool state_tx_queued, state_tx_again;
	uint8_t state_flags_pending;	/* for the STATE sent next */
	/* In sync under a Primary in protocol C when last connected, not
	 * restarted since (FRAME_STATE_F_HOLDS_ACKED): peer_note_state. */
	bool holds_acked;
	/* ... and the record of it in this boot (MDF_HOLDS_ACKED_BOOT):
	 * the superblock write that set it; WRITE_ACKs wait for it. */
	uint64_t boot_ticket;
	/* This connection's Diskless Primary got a new generation here. */
	bool diskless_gen;
	/* RS_DONE waits for the superblock that ends the resync here. */
	bool done_pending;
	uint64_t done_ticket, done_gen;
};

extern const struct link_ops peer_link_ops;
/* STATE to the peer, with the FRAME_STATE_F_* flags posted for it
 * (resource_post_state: peer.state_flags_pending): the state machine's
 * SEND_STATE, run only by its executor (resource_commit). */
void peer_send_state(struct resource *res);
/* After any state change: does this Secondary still hold every write its
 * Primary acknowledged? */
void peer_note_state(struct resource *res);
/* At start, with the disk and its metadata open (the disk flushed):
 * a record of holding every acknowledged write made in this boot counts
 * (MDF_HOLDS_ACKED_BOOT becomes MDF_HOLDS_ACKED); one of another boot is
 * void. */
void peer_boot_restart(struct resource *res);
/* Record, or drop, MDF_HOLDS_ACKED_BOOT as the answer and the receiver
 * allow (receiver.c calls it as its writes complete). */
void peer_boot_record(struct resource *res);
/* Must this Secondary's WRITE_ACKs wait? While it counts itself in sync
 * under a protocol C Primary and the record of that is not durable. */
bool peer_write_acks_held(const struct resource *res);
void peer_promoted(struct resource *res, bool forced);
/* Called while still Primary: flush here and at the peer, then drop the
 * crashed-primary mark (unless promoted again meanwhile). */
void peer_demote_flush(struct resource *res);
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
/* A metadata write completed: an RS_DONE that waited for it goes. */
void peer_meta_done(struct resource *res);

#endif
