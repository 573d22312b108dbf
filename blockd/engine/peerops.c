/* peerops.c - the peer side of what ends a resync and of the role and
 * resync commands: the resync's end on either side (generations,
 * disk states, RS_DONE once its superblock is durable), promotion and
 * demotion (the new generation, the crashed-primary mark and the flush
 * and bitmap save that let it go), new-current-uuid, pause-sync, and the
 * resyncs an operator starts (invalidate, invalidate-remote, attach).
 * The connect decision and the STATE exchange are peer.c's.
 */
#include "blockd/engine/peer.h"
#include "blockd/engine/peer_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/sm.h"
#include "blockd/core/uuid.h"
#include "blockd/engine/resource.h"
#include "common/clock.h"
#include "common/container_of.h"
#include "common/log.h"

void peer_target_synced(struct resource *res)
{
	resource_step(res, SM_EV_REPL, SM_REPL_RESYNC_DONE);
	resource_step(res, SM_EV_DISK, SM_DISK_SYNCED);
	res->rs.done_pct = 100;
	peer_adopt_uuid(res, &res->peer.state);
	resource_retry_reads(res);
	writepath_retry_waiting(res);
	log_info("resync finished: this disk is UpToDate");
	/* An UpToDate source is no longer outdated (it may have been while
	 * it synced this disk): a record of that must not outlive it. */
	fencing_peer_disk_seen(res);
	resource_commit(res, "resync-finished");	/* STATE: UpToDate */
}

void peer_source_synced(struct resource *res)
{
	struct meta_sb *sb = &res->meta.sb;

	if (sb->uuid[UUID_BITMAP]) {
		sb->uuid[UUID_HISTORY2] = sb->uuid[UUID_HISTORY1];
		sb->uuid[UUID_HISTORY1] = sb->uuid[UUID_BITMAP];
		sb->uuid[UUID_BITMAP] = 0;
	}
	if (res->st.role != ROLE_PRIMARY)	/* a Primary keeps it until it stops */
		sb->flags &= ~MDF_CRASHED_PRIMARY;
	/* An Outdated source synced an Inconsistent peer: the two disks are
	 * now the only copies and equal, and the target counts as UpToDate
	 * (peer_target_synced): so does this one, as DRBD ends a resync with
	 * both UpToDate. Otherwise it stays Outdated next to an UpToDate
	 * peer for good. */
	if (res->st.disk_state == DS_OUTDATED) {
		log_info("disk Outdated -> UpToDate: the peer now holds the same "
			 "data, synced from here");
		resource_step(res, SM_EV_DISK, SM_DISK_SOURCE_SYNCED);
		sb->flags &= ~MDF_OUTDATED;
		sb->flags |= MDF_CONSISTENT;
	}
	/* The peer fenced once is UpToDate again: the record goes in the
	 * same superblock, durable before RS_DONE makes the peer UpToDate,
	 * or a power loss here would keep it recorded outdated while it is
	 * not (a restart alone would then skip fencing it). */
	fencing_peer_uptodate(res);
	res->peer.done_ticket = meta_write_sb(&res->meta);
	res->peer.done_gen = link_generation(res->link);
	res->peer.done_pending = true;
	/* STATE first, so the target adopts the retired history (with it
	 * the end of the resync: no longer SyncSource). */
	resource_step(res, SM_EV_REPL, SM_REPL_RESYNC_DONE);
	resource_step_peer(res, SM_PEER_DISK, ROLE_UNKNOWN, DS_UPTODATE, false);
	res->rs.done_pct = 100;
	log_info("resync finished: the peer is UpToDate");
	resource_commit(res, "resync-finished");
	peer_meta_done(res);	/* RS_DONE now, if that is durable already */
}

static void demote_bitmap_check(struct resource *res);

static void done_send(struct resource *res);

static void done_sent(struct link_tx *tx, int err)
{
	struct resource *res = container_of(tx, struct resource, peer.done_tx);

	if (!err)
		done_send(res);	/* a later resync's RS_DONE, if due */
}

void peer_meta_done(struct resource *res)
{
	demote_bitmap_check(res);
	done_send(res);
}

/* RS_DONE once the superblock that ends the resync here is durable. */
static void done_send(struct resource *res)
{
	struct link_tx *tx = &res->peer.done_tx;

	/* One RS_DONE at a time: a resync that ends while the last one's
	 * still waits in a full socket sends its own once that one is
	 * handed over (sim seed 2565 --stop: the frame was queued twice,
	 * and a send queue that holds a frame twice loops or drops what
	 * follows it). */
	if (!res->peer.done_pending || tx->queued ||
	    (res->meta.enabled && !meta_sb_durable(&res->meta, res->peer.done_ticket)))
		return;
	res->peer.done_pending = false;
	if (!link_is_up(res->link) || link_generation(res->link) != res->peer.done_gen)
		return;
	memset(&tx->h, 0, sizeof(tx->h));
	tx->h.type = FRAME_RS_DONE;
	tx->payload = NULL;
	tx->sent = done_sent;
	link_send(res->link, tx);
}

/* This node was promoted. Without an UpToDate peer in sync it starts a new
 * generation; a connected peer that is not UpToDate is synced from here. */
void peer_promoted(struct resource *res, bool forced)
{
	struct meta_sb *sb = &res->meta.sb;
	bool in_sync = res->peer.state_received && res->st.repl == RS_ESTABLISHED &&
		       res->st.peer_disk == DS_UPTODATE;

	if (sb->uuid[UUID_CURRENT] == UUID_JUST_CREATED) {
		sb->uuid[UUID_CURRENT] = meta_uuid_random();
	} else if (!res->peer.state_received) {
		/* Promoted while the peer is away: a new generation now, as
		 * DRBD does, so if the old Primary also wrote on, meeting
		 * again is a split brain an operator can resolve, not a
		 * sync toward this Primary it refuses. */
		meta_uuid_new_current(&res->meta);
		res->uuid_rotate_pending = false;
	} else if (!in_sync) {
		res->uuid_rotate_pending = true;	/* at the first lone write */
	}
	/* A SyncTarget promoted ahead of its resync is not consistent yet. */
	if (res->st.disk_state == DS_UPTODATE) {
		sb->flags |= MDF_CONSISTENT;
		sb->flags &= ~MDF_GIVEN_UP;	/* forced: the operator vouches */
	}
	sb->flags |= MDF_WAS_PRIMARY | MDF_CRASHED_PRIMARY;
	sb->flags &= ~MDF_OUTDATED;
	sb->primary_since = clock_wall_s();
	resource_post(res, SM_ACT_WRITE_SB);
	/* A peer without a usable disk (Diskless, Failed) has nothing to
	 * sync into: it gets a full resync once it attaches one. */
	if (res->peer.state_received && res->st.repl == RS_ESTABLISHED &&
	    res->st.peer_disk != DS_UPTODATE && sm_disk_usable(res->st.peer_disk)) {
		log_info("sync decision: source-full (rule promoted-over-%s-peer%s)",
			 disk_state_name(res->st.peer_disk), forced ? ", forced" : "");
		peer_become_source(res, true);
		resource_post(res, SM_ACT_START_RESYNC);
	}
	resource_post(res, SM_ACT_SEND_STATE);	/* the new generation */
}

/* The demotion's bitmap pages are durable: the crashed-primary mark may
 * go. */
static void demote_bitmap_check(struct resource *res)
{
	if (!res->demote_bitmap_saving ||
	    !meta_bitmap_durable(&res->meta, res->demote_bitmap_ticket))
		return;
	res->demote_bitmap_saving = false;
	if (res->st.role == ROLE_PRIMARY || !res->meta.enabled)
		return;		/* promoted again meanwhile: it stays */
	res->meta.sb.flags &= ~MDF_CRASHED_PRIMARY;
	meta_write_sb(&res->meta);
}

/* The crashed-primary mark makes a restart resync the activity log's
 * extents: writes a power loss may have kept on one disk and not the
 * other. It may go only once every write is durable here and at the peer
 * (a site power loss after a demotion lost different unflushed writes on
 * each disk, then neither knew: sim seed 58). */
static void demote_flushed(struct blk_req *r, int err)
{
	struct resource *res = r->res;

	res->demote_flushing = false;
	if (res->demote_flush_again) {
		/* Promoted and demoted again while it ran: this flush does
		 * not cover that term's writes. The mark stays (until the
		 * next demotion or a clean stop): a resync too many. */
		res->demote_flush_again = false;
		return;
	}
	if (err < 0) {
		log_warn("the flush at demotion failed (%s): the crashed-primary "
			 "mark stays until a clean stop", strerror(-err));
		return;
	}
	if (res->st.role == ROLE_PRIMARY || !res->meta.enabled)
		return;		/* promoted again meanwhile: it stays */
	/* The bits of this term's writes the peer lacks are in memory
	 * only while the activity log covers their extents: durable
	 * before the mark (and with it the log's replay) goes (sim seed
	 * 1265: a demotion, then a site power loss; the restart resynced
	 * the peer from a bitmap without the block last written alone). */
	res->demote_bitmap_saving = true;
	res->demote_bitmap_ticket = meta_save_bitmap(&res->meta);
	demote_bitmap_check(res);
}

void peer_demote_flush(struct resource *res)
{
	struct blk_req *r = &res->demote_flush;

	if (res->demote_flushing) {
		res->demote_flush_again = true;
		return;
	}
	res->demote_bitmap_saving = false;	/* this flush starts over */
	if (!res->meta.enabled || !(res->meta.sb.flags & MDF_CRASHED_PRIMARY))
		return;
	res->demote_flushing = true;
	peer_flush_submit(res, r, demote_flushed);
}

/* new-current-uuid --clear-bitmap: two blank disks need no initial sync. */
int peer_new_current_uuid(struct resource *res, char *err, size_t errlen)
{
	if (!res->meta.enabled) {
		snprintf(err, errlen, "this resource has no metadata");
		return -EINVAL;
	}
	if (res->st.repl != RS_ESTABLISHED || res->st.role != ROLE_SECONDARY ||
	    res->st.peer_role != ROLE_SECONDARY ||
	    res->meta.sb.uuid[UUID_CURRENT] != UUID_JUST_CREATED ||
	    res->peer.state.uuid[UUID_CURRENT] != UUID_JUST_CREATED) {
		snprintf(err, errlen, "needs two connected Secondaries with fresh "
			 "metadata (create-md) on both");
		return -EPERM;
	}
	res->meta.sb.uuid[UUID_CURRENT] = meta_uuid_random();
	res->meta.sb.uuid[UUID_BITMAP] = 0;
	res->meta.sb.flags |= MDF_CONSISTENT;
	bitmap_clear_all(&res->oos);
	resource_post(res, SM_ACT_WRITE_SB);
	resource_step(res, SM_EV_DISK, SM_DISK_NEW_DATA);
	resource_post_state(res, FRAME_STATE_F_NEW_UUID);
	resource_commit(res, "new-current-uuid");
	return 0;
}

void peer_set_paused(struct resource *res, bool paused)
{
	resource_step(res, SM_EV_PAUSE, paused ? SM_PAUSE_ON : SM_PAUSE_OFF);
	resource_commit(res, paused ? "sync-paused" : "sync-resumed");
}

int peer_start_resync(struct resource *res, bool full, char *err, size_t errlen)
{
	char why[256];
	struct sm_view v;

	resource_view(res, &v);
	if (sm_resync_refused(&v, why, sizeof(why))) {
		if (err)
			snprintf(err, errlen, "%s", why);
		else
			log_err("the peer asked for a resync from here: refused: %s",
				why);
		return -EPERM;
	}
	log_info("resync started by request: %s", full ? "every block"
		 : "the blocks marked out of sync");
	peer_become_source(res, full);
	resource_post(res, SM_ACT_START_RESYNC);
	resource_commit(res, "resync-started");	/* STATE: SyncSource first */
	return 0;
}

void peer_request_attach_sync(struct resource *res)
{
	log_info("asking the peer for a full resync into the new disk");
	resource_post_state(res, FRAME_STATE_F_INVALIDATE);
}

int peer_request_full_sync(struct resource *res, bool bitmap, char *err,
			   size_t errlen)
{
	struct sm_view v;

	resource_view(res, &v);
	if (sm_invalidate_refused(&v, err, errlen))
		return -EPERM;
	if (bitmap) {
		/* Send our bitmap; the peer ORs it into its own and sends
		 * the union. */
		peer_become_target(res, &res->peer.state, false);
		resource_post_state(res, FRAME_STATE_F_INVALIDATE_BITMAP);
		resource_post(res, SM_ACT_BITMAP_XCHG);
	} else {
		resource_post_state(res, FRAME_STATE_F_INVALIDATE);
	}
	resource_commit(res, "invalidate-requested");
	return 0;
}
