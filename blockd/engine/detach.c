/* detach.c - a node without a usable disk: what happens when its backing
 * disk fails (DRBD's on-io-error detach), a detach the operator asks for,
 * and attaching a disk again.
 *
 *   any state --I/O error--> Failed --nothing in flight--> Diskless
 *   any state --detach--> (drains) --> Diskless
 *   Diskless --attach--> Inconsistent --full resync from the peer--> UpToDate
 *
 * Invariants:
 * - A disk that failed a request is not trusted again: no I/O is issued
 *   to it but one last superblock (meta_retire: MDF_GIVEN_UP, not
 *   Consistent), also after a detach by request, so a restart over it
 *   finds it Inconsistent and resyncs it in full (peer.c decides); a
 *   disk attached again is resynced in full.
 *   The disk is closed only once no metadata write is in flight on it.
 * - A node without a usable disk is never promotable without --force (and
 *   even then only with an UpToDate peer connected: it has no data of its
 *   own). A Primary keeps serving through an UpToDate peer: writes go to
 *   the peer only and complete at its WRITE_ACK, reads are forwarded
 *   (remote.c); without such a peer its I/O fails with EIO.
 * - The peer, told by STATE, stops counting this node as UpToDate, marks
 *   every block out of sync and starts a new generation at its next write
 *   (peer.c).
 *
 * Called from the disk's and the metadata's failure callbacks, and from
 * the detach and attach commands.
 */
#include "blockd/engine/detach.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/sm.h"
#include "blockd/engine/resource.h"
#include "common/log.h"

bool resource_has_disk(const struct resource *res)
{
	return res->st.disk_state != DS_FAILED && res->st.disk_state != DS_DISKLESS &&
	       !res->detach.detaching;
}

/* Nothing is in flight on the old disk any more: let go of it. */
static void detach_finish(struct resource *res)
{
	resource_step(res, SM_EV_DISK, SM_DISK_DETACHED);
	res->detach.detaching = false;
	disk_close(&res->disk);
	log_warn("detached: this node has no disk now%s",
		 res->st.role == ROLE_PRIMARY
		 ? "; its I/O is served by the peer while the peer is UpToDate"
		 : "");
	resource_commit(res, "detached");	/* STATE: Diskless */
}

/* The disk is let go of once neither data nor metadata writes are in
 * flight on it (internal metadata shares its descriptor). */
void detach_poll(struct resource *res)
{
	if (res->st.disk_state != DS_FAILED && !res->detach.detaching)
		return;
	if (disk_busy(&res->disk)) {
		res->disk.want_idle = true;
		return;
	}
	if (meta_idle(&res->meta))	/* else: again at its completion */
		detach_finish(res);
}

static void disk_idle(void *arg)
{
	detach_poll(arg);
}

/* Stop using the disk: the metadata first (its last superblock, then
 * nothing), then wait for the requests in flight. */
static void detach_start(struct resource *res)
{
	/* A Primary's users keep seeing this generation (sm_side.exposed). */
	res->exposed_gen = res->meta.sb.uuid[UUID_CURRENT];
	meta_retire(&res->meta);
	writepath_forget_al(res);
	/* No resync or verify goes on without a disk (the peer stops its
	 * side when it sees this node's disk state). */
	if (res->st.repl != RS_OFF && res->st.repl != RS_ESTABLISHED)
		resource_step(res, SM_EV_REPL, SM_REPL_DISK_GONE);
	resource_post(res, SM_ACT_SEND_STATE);
	resource_commit(res, NULL);
	/* Reads a Primary SyncTarget held for resync data that will not
	 * come now go to the peer, or fail (sim seed 1947 --stop --direct:
	 * they waited for good, and so did the daemon's stop). */
	resource_retry_reads(res);
	detach_poll(res);
}

void resource_disk_failed(struct resource *res, int err)
{
	if (res->st.disk_state == DS_FAILED || res->st.disk_state == DS_DISKLESS)
		return;
	res->detach.disk_error = err;
	log_err("the disk failed a request (%s): detaching it (disk state "
		"Failed, then Diskless); its data is no longer used%s",
		strerror(-err),
		res->st.role == ROLE_PRIMARY ? "; I/O goes on through the peer "
					    "while it is UpToDate" : "");
	resource_local_io_error(res, err);
	resource_step(res, SM_EV_DISK, SM_DISK_FAIL);
	/* The STATE that says Failed says no resync either. */
	if (res->st.repl != RS_OFF && res->st.repl != RS_ESTABLISHED)
		resource_step(res, SM_EV_REPL, SM_REPL_DISK_GONE);
	resource_commit(res, "disk-failed");
	detach_start(res);
	resource_post(res, SM_ACT_RETRY);
	resource_commit(res, NULL);
}

static void disk_failed_cb(void *arg, int err)
{
	struct resource *res = arg;

	if (res->st.disk_state == DS_FAILED || res->st.disk_state == DS_DISKLESS) {
		res->io_errors++;	/* requests still in flight failing */
		return;
	}
	resource_disk_failed(res, err);
}

void resource_disk_bind(struct resource *res)
{
	res->disk.failed = disk_failed_cb;
	res->disk.idle = disk_idle;
	res->disk.owner_arg = res;
}

int resource_detach(struct resource *res, char *err, size_t errlen)
{
	uint64_t unconfirmed;

	if (!resource_has_disk(res)) {
		snprintf(err, errlen, "this node has no disk attached (%s)",
			 disk_state_name(res->st.disk_state));
		return -EINVAL;
	}
	if (!res->link) {
		snprintf(err, errlen, "a one-node resource cannot run without "
			 "its disk");
		return -EPERM;
	}
	if (res->st.peer_role == ROLE_PRIMARY && res->st.peer_disk != DS_UPTODATE) {
		snprintf(err, errlen, "the Primary peer reads and writes its data "
			 "through this disk (it is %s): detaching would leave it "
			 "none", disk_state_name(res->st.peer_disk));
		return -EPERM;
	}
	if (res->st.role == ROLE_PRIMARY &&
	    !(res->st.repl == RS_ESTABLISHED && res->st.peer_disk == DS_UPTODATE)) {
		snprintf(err, errlen, "this Primary's peer is not connected and "
			 "UpToDate: without its disk no data would be left to "
			 "serve. Demote it first, or wait for the peer");
		return -EPERM;
	}
	/* A detached disk is given up (resynced in full when it comes
	 * back, never a source): it must not take the only copy of blocks
	 * the peer lacks with it (sim seed 1885 --relapse: a Primary's
	 * peer lost power before a FLUSH, the Primary was demoted, and the
	 * disk detached; the peer, without the write, became the source). */
	if ((res->st.disk_state == DS_UPTODATE ||
	     res->st.disk_state == DS_CONSISTENT) &&
	    bitmap_dirty_bytes(&res->oos) &&
	    !(res->st.repl != RS_OFF && res->st.peer_disk == DS_UPTODATE)) {
		snprintf(err, errlen, "this disk holds %llu bytes its peer may "
			 "lack (out of sync), and the peer is not connected and "
			 "UpToDate: a detached disk is given up (resynced in "
			 "full), so they would be lost. Connect the peer and let "
			 "the resync finish first",
			 (unsigned long long)bitmap_dirty_bytes(&res->oos));
		return -EPERM;
	}
	/* Protocols A and B reply before the peer has written: those
	 * writes' only sure copy is here until the peer acknowledges them
	 * (sim seed 668 --direct: the link failed unnoticed, a Primary
	 * detached, and its users, served by the peer, saw a past without
	 * them; t_detach_unconfirmed). */
	unconfirmed = writepath_acked_unconfirmed(res);
	if (unconfirmed) {
		snprintf(err, errlen, "%llu writes acknowledged here (protocol "
			 "%c) are not yet confirmed by the peer: a detached disk "
			 "is given up, so they could be lost. Try again once the "
			 "peer has them (status: peer.pending_writes)",
			 (unsigned long long)unconfirmed, res->protocol);
		return -EAGAIN;
	}
	log_info("detaching the disk by request");
	res->detach.detaching = true;
	resource_commit(res, "detaching");
	detach_start(res);
	return 0;
}

/* A disk coming back is not trusted: everything is resynced into it. */
static void attach_distrust(struct resource *res)
{
	struct meta_sb *sb = &res->meta.sb;

	if (res->meta.enabled) {
		sb->flags &= ~(MDF_CONSISTENT | MDF_PEER_OUTDATED |
			       MDF_CRASHED_PRIMARY | MDF_HOLDS_ACKED |
			       MDF_HOLDS_ACKED_BOOT);
		sb->flags |= MDF_GIVEN_UP;	/* full resync, even after a crash */
		/* A Primary writes to it from now on: a crash must resync its
		 * activity log, as for the disk it was promoted on (sim seed
		 * 1027: attached to a Primary, resynced, written, then a site
		 * power loss; the restart found no mark and took the disks
		 * for equal). Not counted while the disk is given up: the
		 * resync that ends that keeps it (peer_adopt_uuid). */
		if (res->st.role == ROLE_PRIMARY)
			sb->flags |= MDF_WAS_PRIMARY | MDF_CRASHED_PRIMARY;
		bitmap_mark_all(&res->oos);
		resource_post(res, SM_ACT_WRITE_SB);
	}
	resource_step(res, SM_EV_DISK, SM_DISK_ATTACH);
}

int resource_attach(struct resource *res, char *err, size_t errlen)
{
	const struct config *cfg = res->cfg;
	const struct config_node *self = &cfg->nodes[cfg->self];
	uint64_t export_bytes = res->disk.size_bytes;
	const struct disk_watch *watch;
	struct disk_inline inline_io;
	int ret;

	if (res->st.disk_state != DS_DISKLESS) {
		snprintf(err, errlen, "this node's disk is %s: only a Diskless "
			 "node attaches one", disk_state_name(res->st.disk_state));
		return -EINVAL;
	}
	if (!meta_idle(&res->meta)) {
		snprintf(err, errlen, "the old disk's metadata writes have not all "
			 "returned yet: try again");
		return -EBUSY;
	}
	inline_io = res->disk.inline_io;	/* the owner's choices */
	watch = res->disk.watch;
	ret = disk_open(&res->disk, res->loop, self->disk,
			cfg->io_mode == CONFIG_IO_DIRECT,
			cfg->read_only);
	/* disk_open cleared them, whether it opened the disk or not. */
	res->disk.inline_io = inline_io;
	res->disk.watch = watch;
	if (ret < 0) {
		snprintf(err, errlen, "cannot open %s: %s", self->disk,
			 strerror(-ret));
		return ret;
	}
	resource_disk_bind(res);
	meta_close(&res->meta);
	bitmap_fini(&res->oos);
	ret = meta_open(&res->meta, self->meta, res->disk.fd, res->disk.size_bytes,
			self->name, cfg->al_extents, &res->oos);
	if (ret < 0) {
		snprintf(err, errlen, "no usable metadata for %s (%s): run "
			 "'blockctl create-md' for this node first", self->disk,
			 strerror(-ret));
	} else if (meta_data_bytes(&res->meta) != export_bytes) {
		snprintf(err, errlen, "the new disk's data area is %llu bytes, the "
			 "resource's %llu: create-md on a device of the same size",
			 (unsigned long long)meta_data_bytes(&res->meta),
			 (unsigned long long)export_bytes);
		ret = -EINVAL;
	}
	if (ret < 0) {
		/* Back to Diskless as before: the metadata and bitmap objects
		 * stay valid (empty) for the status and the peer. */
		meta_close(&res->meta);
		disk_close(&res->disk);
		res->disk.size_bytes = export_bytes;
		bitmap_fini(&res->oos);
		bitmap_init(&res->oos, export_bytes);
		return ret;
	}
	resource_meta_bind(res);
	res->disk.size_bytes = export_bytes;
	res->detach.disk_error = 0;
	attach_distrust(res);
	log_info("disk %s attached: Inconsistent until a full resync from the "
		 "peer", self->disk);
	/* The handshake runs: the peer decides on the STATE that said
	 * Diskless, this node on its new disk, and the two never meet (sim
	 * seed 286 --strict: a SyncTarget the peer never synced). It starts
	 * over with this disk in the STATE. */
	if (res->link && link_is_up(res->link) && !res->peer.state_received) {
		log_info("a disk was attached during the handshake: connecting "
			 "again");
		link_drop(res->link, "a disk was attached during the handshake");
		resource_commit(res, "attached");
		return 0;
	}
	/* Connected to an UpToDate peer: ask it for everything now. */
	if (res->st.repl == RS_ESTABLISHED && res->st.peer_disk == DS_UPTODATE)
		peer_request_attach_sync(res);
	resource_commit(res, "attached");	/* STATE: Inconsistent */
	return 0;
}
