/* operator.c - see operator.h. The refusals name what a person would
 * check next; the state changes are the resource's (peer.c tells the
 * peer). */
#include "blockd/engine/operator.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "blockd/engine/resource.h"
#include "common/log.h"

#define REFUSE(...) do { snprintf(err, errlen, __VA_ARGS__); return -EPERM; } while (0)

/* A node without a usable disk holds no data: only --force, and only
 * with its peer connected and UpToDate, makes it a Primary that serves
 * everything through the peer. */
static int ask_peer(struct resource *res, bool force, bool granted, char *err,
		    size_t errlen);

static int promote_diskless(struct resource *res, bool force, bool granted,
			    char *err, size_t errlen)
{
	int ret;

	if (!force)
		REFUSE("this node has no usable disk (%s): it holds no data. "
		       "Attach a disk, or promote the peer; 'primary --force' "
		       "serves all I/O through an UpToDate connected peer",
		       disk_state_name(res->disk_state));
	if (res->repl != RS_ESTABLISHED || res->peer_disk != DS_UPTODATE ||
	    !(link_features(res->link) & FRAME_FEAT_DISKLESS))
		REFUSE("this node has no usable disk (%s) and no connected "
		       "UpToDate peer to serve its I/O",
		       disk_state_name(res->disk_state));
	if ((ret = ask_peer(res, force, granted, err, errlen)))
		return ret;
	log_warn("promoted without a disk: all I/O goes through the peer");
	res->role = ROLE_PRIMARY;
	res->discard_my_data = false;
	peer_send_state(res);
	resource_event(res, "role-changed");
	return 0;
}

/* Why this disk may not be promoted without --force, or 0. */
static int promote_refusal(struct resource *res, char *err, size_t errlen)
{
	if (res->disk_state == DS_INCONSISTENT || res->disk_state == DS_OUTDATED)
		REFUSE("this disk is %s: promote with --force only if you know it "
		       "holds the newest data", disk_state_name(res->disk_state));
	if (res->disk_state == DS_CONSISTENT)
		REFUSE("this disk is Consistent: it has not reached its peer %s "
		       "since it started, so it cannot know whether the peer holds "
		       "newer data. Wait for the peer to connect (the handshake "
		       "makes this disk UpToDate or Outdated), or use 'primary "
		       "--force' if the peer is gone for good", res->peer_name);
	if (res->disk_state != DS_UPTODATE)
		REFUSE("this disk is %s, not UpToDate: use --force to promote anyway",
		       disk_state_name(res->disk_state));
	return 0;
}

#define NOT_ASKED INT_MIN	/* no fence-peer answer for this promotion */

/* Could the peer be Primary right now, unknown to this node, under a
 * fencing policy? Not when connected, nor when recorded outdated or
 * fenced. */
static bool peer_unfenced(const struct resource *res)
{
	return res->link && res->cfg->fencing != FENCING_DONT_CARE &&
	       res->repl == RS_OFF && !(res->meta.sb.flags & MDF_PEER_OUTDATED) &&
	       res->peer_disk != DS_OUTDATED && res->peer_disk != DS_INCONSISTENT;
}

/* Under a fencing policy a promotion first makes sure the peer is not
 * Primary: fence-peer outdates it now (DRBD's try_outdate_peer on
 * promotion). 0 when the promotion may go on, -EINPROGRESS while
 * fence-peer runs, -EPERM with the reason. */
static int fence_before_promotion(struct resource *res, int answer, char *err,
				  size_t errlen)
{
	const struct config *cfg = res->cfg;
	int ret;

	if (!peer_unfenced(res))
		return 0;
	if (answer != NOT_ASKED && answer != -ESTALE)
		REFUSE("fencing %s: fence-peer could not outdate the peer %s "
		       "(%s %d), so it may be Primary with newer data: connect "
		       "it, outdate it ('blockctl outdate' there), or use "
		       "'primary --force' if it is down for good",
		       config_fencing_name(cfg->fencing), res->peer_name,
		       answer < 0 ? "error" : "exit", answer);
	if (!cfg->fence_peer[0])
		REFUSE("fencing %s: the peer %s is not connected and not known "
		       "to be outdated, and no fence-peer hook is configured to "
		       "outdate it: connect it, outdate it ('blockctl outdate' "
		       "there), or use 'primary --force' if it is down for good",
		       config_fencing_name(cfg->fencing), res->peer_name);
	ret = fencing_run_for_promotion(res);
	if (ret < 0)
		REFUSE("fencing %s: the peer %s is away and fence-peer could not "
		       "be started (%s)", config_fencing_name(cfg->fencing),
		       res->peer_name, strerror(-ret));
	res->fence.promotion_waits = true;
	return -EINPROGRESS;
}

/* A connected peer says yes first (rolereq.h): -EINPROGRESS while it is
 * asked, 0 once it said yes or when there is nobody to ask. --force does
 * not ask: the operator vouches that the peer is not Primary (a peer
 * that became Primary meanwhile meets a split brain, never data). */
static int ask_peer(struct resource *res, bool force, bool granted, char *err,
		    size_t errlen)
{
	if (granted || force || !rolereq_needed(res))
		return 0;
	if (rolereq_ask(res) < 0) {
		snprintf(err, errlen, "an earlier promotion request to the peer "
			 "%s is still being sent: try again", res->peer_name);
		return -EAGAIN;
	}
	return -EINPROGRESS;
}

/* answer: fence-peer's exit code for this promotion, or NOT_ASKED;
 * granted: the connected peer said yes to it. */
static int promote(struct resource *res, bool force, int answer, bool granted,
		   char *err, size_t errlen)
{
	bool synced_by_peer;
	int ret;

	if (res->role == ROLE_PRIMARY)
		return 0;
	if (res->peer_conn == CS_CONNECTED && res->peer_role == ROLE_PRIMARY)
		REFUSE("the peer %s is Primary: demote it first (two Primaries "
		       "would split the data)", res->peer_name);
	if (!resource_has_disk(res))
		return promote_diskless(res, force, granted, err, errlen);
	/* A SyncTarget of an UpToDate source may be Primary: what it lacks
	 * is fetched first, before any read or write of it. */
	synced_by_peer = (res->repl == RS_SYNC_TARGET ||
			  res->repl == RS_PAUSED_SYNC_T) &&
			 res->peer_disk == DS_UPTODATE &&
			 (link_features(res->link) & FRAME_FEAT_PRIMARY_TARGET);
	if (!force && !synced_by_peer &&
	    (ret = promote_refusal(res, err, errlen)) < 0)
		return ret;
	if (synced_by_peer) {
		if ((ret = ask_peer(res, force, granted, err, errlen)))
			return ret;
		res->role = ROLE_PRIMARY;
		res->discard_my_data = false;
		log_info("promoted while SyncTarget: blocks not yet resynced are "
			 "fetched from %s before use", res->peer_name);
		peer_promoted(res, force);
		resource_event(res, "role-changed");
		return 0;
	}
	if (res->repl == RS_SYNC_TARGET || res->repl == RS_PAUSED_SYNC_T)
		REFUSE("a resync into this disk is running: wait for it to finish");
	if (!force && (ret = fence_before_promotion(res, answer, err, errlen)))
		return ret;
	if (force && peer_unfenced(res))
		log_warn("promotion forced with the peer %s away and not fenced: "
			 "if it is Primary, this is a split brain", res->peer_name);
	if ((ret = ask_peer(res, force, granted, err, errlen)))
		return ret;
	if (res->disk_state != DS_UPTODATE) {
		log_warn("promotion forced: %s disk declared UpToDate",
			 disk_state_name(res->disk_state));
		res->disk_state = DS_UPTODATE;
	}
	res->role = ROLE_PRIMARY;
	/* A Primary never discards its data: a --discard-my-data given as
	 * Secondary ends here (DRBD refuses it on a Primary), or every
	 * reconnect would be a split brain it loses or refuses. */
	res->discard_my_data = false;
	peer_promoted(res, force);
	resource_event(res, "role-changed");
	return 0;
}

static void promotion_answer(struct resource *res, int ret, const char *err)
{
	if (ret < 0)
		log_info("promotion refused: %s", err);
	if (res->observer && res->observer->promoted)
		res->observer->promoted(res->observer_arg, res, ret, err);
}

int resource_promote(struct resource *res, bool force, char *err,
		     size_t errlen)
{
	if (res->fence.promotion_waits && !force && res->role != ROLE_PRIMARY)
		return -EINPROGRESS;	/* the same answer for both */
	if (res->rolereq.asked && res->role != ROLE_PRIMARY) {
		int ret;

		if (!force)
			return -EINPROGRESS;	/* the peer's answer, for both */
		/* --force does not wait: it answers the waiting one too. */
		rolereq_forget(res);
		ret = promote(res, true, NOT_ASKED, false, err, errlen);
		promotion_answer(res, ret, err);
		return ret;
	}
	return promote(res, force, NOT_ASKED, false, err, errlen);
}

void resource_promote_answered(struct resource *res, int result)
{
	char err[512] = "";
	int ret;

	if (!res->fence.promotion_waits)
		return;
	res->fence.promotion_waits = false;
	ret = promote(res, false, result, false, err, sizeof(err));
	if (ret != -EINPROGRESS)
		promotion_answer(res, ret, err);
}

void resource_promote_consented(struct resource *res, int result)
{
	char err[512] = "";
	int ret;

	switch (result) {
	case 0:
		ret = promote(res, false, NOT_ASKED, true, err, sizeof(err));
		break;
	case -EBUSY:
		ret = -EPERM;
		snprintf(err, sizeof(err), "the peer %s is Primary: demote it "
			 "first (two Primaries would split the data)",
			 res->peer_name);
		break;
	case -EALREADY:
		ret = -EPERM;
		snprintf(err, sizeof(err), "the peer %s is becoming Primary: it "
			 "was promoted at the same moment and goes first. Demote "
			 "it first to promote this node", res->peer_name);
		break;
	case -ECONNRESET:
		ret = -EPERM;
		snprintf(err, sizeof(err), "the connection to the peer %s ended "
			 "before it answered: it may be Primary now. Check it, "
			 "then try again", res->peer_name);
		break;
	default:
		ret = -EPERM;
		snprintf(err, sizeof(err), "the peer %s refused the promotion "
			 "(%s)", res->peer_name, strerror(-result));
	}
	if (ret != -EINPROGRESS)
		promotion_answer(res, ret, err);
}

int resource_demote(struct resource *res, char *err, size_t errlen)
{
	if (res->fence.promotion_waits) {
		res->fence.promotion_waits = false;
		promotion_answer(res, -ECANCELED, "the promotion was cancelled by "
				 "'secondary' while fence-peer ran");
	}
	if (res->rolereq.asked) {
		rolereq_forget(res);
		promotion_answer(res, -ECANCELED, "the promotion was cancelled by "
				 "'secondary' while the peer was asked");
	}
	if (res->role == ROLE_SECONDARY)
		return 0;
	if (!res->link)
		REFUSE("a one-node resource is always Primary");
	peer_demote_flush(res);	/* while Primary: the peer takes its barrier */
	res->role = ROLE_SECONDARY;
	peer_demoted(res);
	resource_event(res, "role-changed");
	return 0;
}

int resource_connect(struct resource *res, bool discard_my_data, char *err,
		     size_t errlen)
{
	if (!res->link)
		REFUSE("no peer is configured for %s", res->name);
	if (discard_my_data && res->role == ROLE_PRIMARY)
		REFUSE("a Primary cannot discard its data: demote it first");
	/* Each connect says it anew (DRBD's net options): a --discard-my-
	 * data that ended in a refused handshake does not outlive it. */
	res->discard_my_data = discard_my_data;
	if (res->peer_conn == CS_STANDALONE) {
		res->peer_conn = CS_CONNECTING;
		link_connect(res->link);
		resource_event(res, "connecting");
	}
	return 0;
}

int resource_disconnect(struct resource *res, char *err, size_t errlen)
{
	if (!res->link)
		REFUSE("no peer is configured for %s", res->name);
	if (res->peer_conn != CS_STANDALONE) {
		res->peer_conn = CS_STANDALONE;
		link_disconnect(res->link, "disconnected by the operator");
		resource_event(res, "standalone");
	}
	return 0;
}

int resource_set_protocol(struct resource *res, char p, char *err,
			  size_t errlen)
{
	if (p != 'A' && p != 'B' && p != 'C') {
		snprintf(err, errlen, "usage: protocol A|B|C");
		return -EINVAL;
	}
	if (p == 'A' && res->cfg->fencing == FENCING_RESOURCE_AND_STONITH)
		REFUSE("protocol A cannot be used with fencing "
		       "resource-and-stonith: acknowledged writes could be lost");
	res->protocol = p;
	peer_send_state(res);
	resource_event(res, "protocol-changed");
	return 0;
}
