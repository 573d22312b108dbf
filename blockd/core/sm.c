/* sm.c - see sm.h. The refusals name what a person would check next. */
#include "blockd/core/sm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static void decide(struct sm_promote *out, enum sm_promote_act act)
{
	out->act = act;
}

static void refuse(struct sm_promote *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void refuse(struct sm_promote *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
	out->act = SM_PROMOTE_REFUSE;
}

bool sm_peer_unfenced(const struct sm_view *v)
{
	return v->has_peer && v->fencing != FENCING_DONT_CARE &&
	       v->repl == RS_OFF && !v->peer_recorded_outdated &&
	       v->peer_disk != DS_OUTDATED && v->peer_disk != DS_INCONSISTENT;
}

/* Why this disk may not be promoted without --force; false if it may. */
static bool disk_refusal(const struct sm_view *v, struct sm_promote *out)
{
	if (v->disk == DS_INCONSISTENT || v->disk == DS_OUTDATED)
		refuse(out, "this disk is %s: promote with --force only if you "
		       "know it holds the newest data", disk_state_name(v->disk));
	else if (v->disk == DS_CONSISTENT)
		refuse(out, "this disk is Consistent: it has not reached its peer "
		       "%s since it started, so it cannot know whether the peer "
		       "holds newer data. Wait for the peer to connect (the "
		       "handshake makes this disk UpToDate or Outdated), or use "
		       "'primary --force' if the peer is gone for good",
		       v->peer_name);
	else if (v->disk != DS_UPTODATE)
		refuse(out, "this disk is %s, not UpToDate: use --force to promote "
		       "anyway", disk_state_name(v->disk));
	else
		return false;
	return true;
}

/* Under a fencing policy a promotion first makes sure the peer is not
 * Primary: fence-peer outdates it (DRBD's try_outdate_peer on
 * promotion). False when the promotion may go on. */
static bool fence_first(const struct sm_view *v, const struct sm_promote_cmd *c,
			struct sm_promote *out)
{
	if (!sm_peer_unfenced(v))
		return false;
	if (c->fence_answered && c->fence_answer != -ESTALE)
		refuse(out, "fencing %s: fence-peer could not outdate the peer %s "
		       "(%s %d), so it may be Primary with newer data: connect "
		       "it, outdate it ('blockctl outdate' there), or use "
		       "'primary --force' if it is down for good",
		       v->fencing_name, v->peer_name,
		       c->fence_answer < 0 ? "error" : "exit", c->fence_answer);
	else if (!v->fence_hook)
		refuse(out, "fencing %s: the peer %s is not connected and not "
		       "known to be outdated, and no fence-peer hook is "
		       "configured to outdate it: connect it, outdate it "
		       "('blockctl outdate' there), or use 'primary --force' if "
		       "it is down for good", v->fencing_name, v->peer_name);
	else
		decide(out, SM_PROMOTE_FENCE_PEER);
	return true;
}

/* A connected peer says yes first (ROLE_REQ): two promotions at once
 * cannot both win. --force does not ask: the operator vouches. */
static bool ask_first(const struct sm_view *v, const struct sm_promote_cmd *c)
{
	return v->peer_consents && !c->granted && !c->force;
}

void sm_promote(const struct sm_view *v, const struct sm_promote_cmd *c,
		struct sm_promote *out)
{
	bool synced_by_peer;

	out->act = SM_PROMOTE_REFUSE;
	out->declare_uptodate = out->warn_unfenced = false;
	out->why[0] = 0;
	if (v->role == ROLE_PRIMARY) {
		decide(out, SM_PROMOTE_ALREADY);
		return;
	}
	if (v->peer_conn == CS_CONNECTED && v->peer_role == ROLE_PRIMARY) {
		refuse(out, "the peer %s is Primary: demote it first (two "
		       "Primaries would split the data)", v->peer_name);
		return;
	}
	/* A node without a usable disk holds no data: only --force, and
	 * only with its peer connected and UpToDate, makes it a Primary
	 * that serves everything through the peer. */
	if (!v->has_disk) {
		if (!c->force)
			refuse(out, "this node has no usable disk (%s): it holds no "
			       "data. Attach a disk, or promote the peer; 'primary "
			       "--force' serves all I/O through an UpToDate "
			       "connected peer", disk_state_name(v->disk));
		else if (v->repl != RS_ESTABLISHED || v->peer_disk != DS_UPTODATE ||
			 !v->peer_serves_reads)
			refuse(out, "this node has no usable disk (%s) and no "
			       "connected UpToDate peer to serve its I/O",
			       disk_state_name(v->disk));
		else
			decide(out, SM_PROMOTE_DISKLESS);
		return;
	}
	/* A SyncTarget of an UpToDate source may be Primary: what it lacks
	 * is fetched first, before any read or write of it. */
	synced_by_peer = (v->repl == RS_SYNC_TARGET || v->repl == RS_PAUSED_SYNC_T) &&
			 v->peer_disk == DS_UPTODATE && v->peer_syncs_primary;
	if (!c->force && !synced_by_peer && disk_refusal(v, out))
		return;
	if (synced_by_peer) {
		decide(out, ask_first(v, c) ? SM_PROMOTE_ASK_PEER
					    : SM_PROMOTE_SYNC_TARGET);
		return;
	}
	if (v->repl == RS_SYNC_TARGET || v->repl == RS_PAUSED_SYNC_T) {
		refuse(out, "a resync into this disk is running: wait for it to "
		       "finish");
		return;
	}
	if (!c->force && fence_first(v, c, out))
		return;
	if (ask_first(v, c)) {
		decide(out, SM_PROMOTE_ASK_PEER);
		return;
	}
	out->warn_unfenced = c->force && sm_peer_unfenced(v);
	out->declare_uptodate = v->disk != DS_UPTODATE;
	decide(out, SM_PROMOTE_NOW);
}

const char *sm_promote_act_name(enum sm_promote_act a)
{
	static const char *const names[] = {
		[SM_PROMOTE_ALREADY] = "already", [SM_PROMOTE_REFUSE] = "refuse",
		[SM_PROMOTE_FENCE_PEER] = "fence-peer",
		[SM_PROMOTE_ASK_PEER] = "ask-peer",
		[SM_PROMOTE_DISKLESS] = "diskless",
		[SM_PROMOTE_SYNC_TARGET] = "sync-target",
		[SM_PROMOTE_NOW] = "now",
	};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}
