/* fencing.c - what a Primary does when it loses its peer under a fencing
 * policy, and the outdated state that results.
 *
 *   dont-care              writes go on locally (bitmap marks them)
 *   resource-only          fence-peer runs; writes go on
 *   resource-and-stonith   writes are frozen (held, never failed) and
 *                          fence-peer runs; writes that were in flight to
 *                          the peer are not completed either (writepath
 *                          holds them) until I/O resumes:
 *       exit 3 (peer Inconsistent), 4 (peer Outdated), 7 (peer STONITHed)
 *              -> the peer is recorded Outdated, writes resume
 *       exit 6 (the peer is Primary) -> this disk is Outdated, stays frozen
 *       anything else, or the timeout -> stays frozen until
 *              'blockctl resume-io' or the peer comes back
 *   a Primary whose data was on the peer (Inconsistent, Diskless) fences
 *   nothing: its writes fail without the peer, and the peer holds the
 *   only good copy; an Outdated Primary neither (it freezes under
 *   stonith): outdating the peer would leave no current disk
 *
 * A Secondary promoted while its peer is away and not known outdated runs
 * fence-peer first (the peer may be Primary across a partition): the
 * promotion goes on after exit 3, 4 or 7 and is refused otherwise
 * (operator.c).
 *
 * A result that answers an earlier loss, or arrives after the peer came
 * back, is ignored: each run carries the loss it answers. The peer coming
 * back releases held writes only once the connect decision made this node
 * the source (or found both equal); a split brain keeps I/O frozen. A
 * node demoted while frozen that turns out the target fails its held
 * writes (the resync replaces them) and resumes. The unfence-peer hook
 * runs once the peer is UpToDate again after having been fenced.
 */
#include "blockd/engine/fencing.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/sm.h"
#include "blockd/engine/resource.h"
#include "common/log.h"

/* Thawing releases the held writes (the executor's RELEASE_HELD). */
static void set_frozen(struct resource *res, bool frozen, const char *why)
{
	if (res->st.io_frozen == frozen)
		return;
	resource_step(res, SM_EV_IO, frozen ? SM_IO_FREEZE : SM_IO_THAW);
	snprintf(res->fence.frozen_reason, sizeof(res->fence.frozen_reason), "%s",
		 frozen ? why : "");
	if (frozen)
		log_warn("I/O frozen: %s", why);
	else
		log_info("I/O resumed: %s", why);
	resource_commit(res, frozen ? "io-frozen" : "io-resumed");
}

static void fence_record(struct resource *res, int result)
{
	switch (result) {
	case FENCE_PEER_INCONSISTENT:
	case FENCE_PEER_OUTDATED:
	case FENCE_PEER_STONITHED:
		log_info("fence-peer: peer %s (exit %d): recording it Outdated",
			 result == FENCE_PEER_INCONSISTENT ? "Inconsistent" :
			 result == FENCE_PEER_OUTDATED ? "Outdated" : "STONITHed",
			 result);
		res->fence.ok++;
		res->meta.sb.flags |= MDF_PEER_OUTDATED;
		resource_post(res, SM_ACT_WRITE_SB);
		resource_step_peer(res, SM_PEER_DISK, ROLE_UNKNOWN,
				   result == FENCE_PEER_INCONSISTENT
				   ? DS_INCONSISTENT : DS_OUTDATED, false);
		set_frozen(res, false, "the peer is fenced");
		break;
	case FENCE_PEER_IS_PRIMARY:
		/* Only a disk that holds data is outdated: one detached, failed
		 * or Inconsistent while the hook ran is no candidate anyway
		 * (sim seed 325: detached meanwhile, it was made "Outdated"
		 * with its metadata retired). */
		if (sm_disk_next(res->st.disk_state, SM_DISK_OUTDATE) < 0) {
			log_err("fence-peer: the peer is Primary (exit 6); this "
				"disk is %s: nothing to outdate%s",
				disk_state_name(res->st.disk_state),
				res->st.io_frozen ? "; I/O stays frozen" : "");
			if (res->st.io_frozen)
				snprintf(res->fence.frozen_reason,
					 sizeof(res->fence.frozen_reason),
					 "the peer is Primary");
			break;
		}
		log_err("fence-peer: the peer is Primary (exit 6): outdating this "
			"disk%s", res->st.io_frozen ? "; I/O stays frozen" : "");
		res->meta.sb.flags |= MDF_OUTDATED;
		resource_post(res, SM_ACT_WRITE_SB);
		resource_step(res, SM_EV_DISK, SM_DISK_OUTDATE);
		if (res->st.io_frozen)
			snprintf(res->fence.frozen_reason,
				 sizeof(res->fence.frozen_reason),
				 "the peer is Primary: this disk is Outdated");
		resource_commit(res, "outdated");
		break;
	default:
		res->fence.failed++;
		if (res->st.io_frozen) {
			snprintf(res->fence.frozen_reason, sizeof(res->fence.frozen_reason),
				 "fence-peer failed (%s %d): waiting for the peer "
				 "or 'blockctl resume-io'",
				 result < 0 ? "error" : "exit", result);
			log_err("%s", res->fence.frozen_reason);
			resource_commit(res, "fence-failed");
		} else {
			log_err("fence-peer failed (%s %d)",
				result < 0 ? "error" : "exit", result);
		}
	}
}

static void fence_done(struct hook_run *h, int result)
{
	struct resource *res = h->arg;

	/* The run answers the loss it was started for (its cookie), not
	 * whatever loss is current: after lose, back, lose, the first
	 * run's answer says nothing about the second loss. A promotion
	 * waiting for it looks again (-ESTALE): at the peer, or at the
	 * run now going. */
	if (h->cookie != res->fence.epoch) {
		log_info("fence-peer result %d ignored: it answers an earlier "
			 "loss of the peer", result);
		resource_promote_answered(res, -ESTALE);
		return;
	}
	res->fence.running = false;
	if (res->st.repl != RS_OFF) {
		log_info("fence-peer result %d ignored: the peer is back", result);
		resource_promote_answered(res, -ESTALE);
		return;
	}
	fence_record(res, result);
	resource_promote_answered(res, result);
	resource_commit(res, NULL);
}

static void fence_start(struct resource *res)
{
	res->fence.epoch++;
	res->fence.running = true;
	res->fence.runs++;
}

/* The peer is gone while this node is Primary. */
void fencing_peer_lost(struct resource *res)
{
	const struct config *cfg = res->cfg;

	if (res->st.role != ROLE_PRIMARY || res->stopping ||
	    cfg->fencing == FENCING_DONT_CARE)
		return;
	/* Its good data was on the peer (Inconsistent, or no disk): its
	 * writes fail from now on (writepath), so the peer cannot fall
	 * behind it, and outdating the peer would leave no good copy at
	 * all (DRBD: "Not fencing peer, I'm not even Consistent myself"). */
	if (res->st.disk_state == DS_INCONSISTENT || !resource_has_disk(res)) {
		log_warn("not fencing the peer: this node's disk is %s, its data "
			 "was on the peer; its writes fail until the peer is back",
			 disk_state_name(res->st.disk_state));
		return;
	}
	if (cfg->fencing == FENCING_RESOURCE_AND_STONITH)
		set_frozen(res, true, "lost the peer: fence-peer is running");
	/* An Outdated disk (fence-peer answered 6 before: the peer was
	 * Primary) is not the newest copy: outdating the peer could only
	 * leave two Outdated disks. I/O stays frozen (stonith) until the
	 * peer is back or an operator resumes it. */
	if (res->st.disk_state == DS_OUTDATED) {
		if (res->st.io_frozen)
			snprintf(res->fence.frozen_reason,
				 sizeof(res->fence.frozen_reason),
				 "lost the peer with an Outdated disk: waiting "
				 "for the peer or 'blockctl resume-io'");
		log_warn("not fencing the peer: this disk is Outdated, the peer "
			 "may hold newer data");
		return;
	}
	if (!cfg->fence_peer[0]) {
		if (res->st.io_frozen)
			snprintf(res->fence.frozen_reason, sizeof(res->fence.frozen_reason),
				 "lost the peer and no fence-peer hook is "
				 "configured: waiting for the peer or 'blockctl "
				 "resume-io'");
		log_err("fencing %s but no fence-peer hook is configured",
			config_fencing_name(cfg->fencing));
		return;
	}
	fence_start(res);
	if (resource_hook_run(res, cfg->fence_peer, "fence-peer", fence_done, res,
			      res->fence.epoch) < 0)
		res->fence.running = false;
}

int fencing_run_for_promotion(struct resource *res)
{
	int ret;

	if (res->fence.running)
		return 0;
	fence_start(res);
	log_info("promotion: the peer %s is away and not known to be outdated: "
		 "running fence-peer first", res->peer_name);
	ret = resource_hook_run(res, res->cfg->fence_peer, "fence-peer",
				fence_done, res, res->fence.epoch);
	if (ret < 0)
		res->fence.running = false;
	return ret;
}

void fencing_peer_returned(struct resource *res)
{
	res->fence.epoch++;
	res->fence.running = false;
}

/* The peer is back and the connect decision made this node the one the
 * peer syncs from (or found them equal): every held write reaches the peer
 * through the resync, so I/O resumes. A fence run still going answers a
 * loss that is over. */
void fencing_peer_back(struct resource *res)
{
	fencing_peer_returned(res);
	if (res->st.io_frozen)
		set_frozen(res, false, "the peer is back and in sync or syncing "
			   "from here");
}

void fencing_peer_back_as_source(struct resource *res)
{
	unsigned n = 0;

	fencing_peer_returned(res);
	if (!res->st.io_frozen)
		return;
	for (struct blk_req *r = res->wp.held; r; r = r->held_next) {
		r->err = -EIO;
		n++;
	}
	if (n)
		log_warn("%u held write%s failed: the peer is back as the source "
			 "of this node's resync, which replaces their blocks", n,
			 n == 1 ? "" : "s");
	set_frozen(res, false, "the peer is back as this node's sync source");
}

/* The peer came back but the connection did not settle who is current
 * (split brain, unrelated data, refused): I/O stays frozen; a fence run
 * for the earlier loss no longer answers anything. */
void fencing_peer_unsettled(struct resource *res)
{
	fencing_peer_returned(res);
	if (res->st.io_frozen)
		snprintf(res->fence.frozen_reason, sizeof(res->fence.frozen_reason),
			 "the peer came back but the connection did not settle "
			 "which data is current: waiting for an operator");
}

/* What the peer's disk state, seen while connected, says about fencing:
 * a Primary whose peer reports Outdated records it durably (it may then
 * restart alone UpToDate); an UpToDate peer, in sync, ends that. */
void fencing_peer_disk_seen(struct resource *res)
{
	if (res->st.role == ROLE_PRIMARY && res->st.peer_disk == DS_OUTDATED &&
	    res->meta.enabled && !(res->meta.sb.flags & MDF_PEER_OUTDATED)) {
		log_info("the peer reports its disk Outdated: recording it");
		res->meta.sb.flags |= MDF_PEER_OUTDATED;
		resource_post(res, SM_ACT_WRITE_SB);
	}
	if (res->st.peer_disk == DS_UPTODATE && res->st.disk_state == DS_UPTODATE &&
	    res->st.repl == RS_ESTABLISHED)
		fencing_peer_uptodate(res);
}

/* Both sides UpToDate after the peer had been fenced. */
void fencing_peer_uptodate(struct resource *res)
{
	if (!(res->meta.sb.flags & MDF_PEER_OUTDATED))
		return;
	res->meta.sb.flags &= ~MDF_PEER_OUTDATED;
	resource_post(res, SM_ACT_WRITE_SB);
	resource_post(res, SM_ACT_HOOK_UNFENCE);
}

int fencing_resume_io(struct resource *res, char *err, size_t errlen)
{
	if (!res->st.io_frozen) {
		snprintf(err, errlen, "I/O is not frozen");
		return -EINVAL;
	}
	set_frozen(res, false, "resumed by the operator");
	return 0;
}

int fencing_outdate(struct resource *res, char *err, size_t errlen)
{
	if (res->st.role == ROLE_PRIMARY) {
		snprintf(err, errlen, "a Primary cannot be outdated: demote it first");
		return -EPERM;
	}
	if (res->st.disk_state != DS_UPTODATE && res->st.disk_state != DS_OUTDATED &&
	    res->st.disk_state != DS_CONSISTENT) {
		snprintf(err, errlen, "this disk is %s: nothing to outdate",
			 disk_state_name(res->st.disk_state));
		return -EINVAL;
	}
	/* DRBD: "Refusing to be Outdated while Connected". A connected
	 * peer holds no newer data than this disk and would keep counting
	 * it in sync, so nothing would ever make it UpToDate again; a
	 * fence-peer answer that arrives after the peer came back is what
	 * asks this. */
	if (res->st.peer_conn == CS_CONNECTED) {
		snprintf(err, errlen,
			 "refusing to be Outdated while connected to the peer");
		return -EBUSY;
	}
	if (!res->meta.enabled) {
		snprintf(err, errlen, "this resource has no metadata");
		return -EINVAL;
	}
	res->meta.sb.flags |= MDF_OUTDATED;
	resource_post(res, SM_ACT_WRITE_SB);
	resource_step(res, SM_EV_DISK, SM_DISK_OUTDATE);
	resource_commit(res, "outdated");
	return 0;
}
