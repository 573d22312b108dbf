/* sm.c - see sm.h. The refusals name what a person would check next. */
#include "blockd/core/sm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/metafmt.h"
#include "transport/frame.h"

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

bool sm_invalidate_refused(const struct sm_view *v, char *why, size_t len)
{
	if (v->repl != RS_ESTABLISHED)
		snprintf(why, len, "needs a connected pair with no resync or "
			 "verify running (replication is %s)",
			 repl_state_name(v->repl));
	else if (v->role == ROLE_PRIMARY)
		snprintf(why, len, "a Primary cannot discard its data: demote it "
			 "first, or run invalidate-remote here");
	else if (!v->has_disk)
		snprintf(why, len, "this node has no disk (%s): attach one, it "
			 "is resynced in full", disk_state_name(v->disk));
	/* DRBD refuses too: a resync from a peer without the data would
	 * give up the data here for nothing. */
	else if (v->peer_disk != DS_UPTODATE)
		snprintf(why, len, "the peer %s holds no UpToDate data to fetch "
			 "(its disk is %s): this disk would be given up for "
			 "nothing", v->peer_name, disk_state_name(v->peer_disk));
	else
		return false;
	return true;
}

bool sm_resync_refused(const struct sm_view *v, char *why, size_t len)
{
	if (v->repl != RS_ESTABLISHED)
		snprintf(why, len, "needs a connected pair with no resync or "
			 "verify running (replication is %s)",
			 repl_state_name(v->repl));
	/* A Primary that attached a new disk is the one Primary that may be
	 * synced: its data is all on this node. */
	else if (v->peer_role == ROLE_PRIMARY && v->peer_disk != DS_INCONSISTENT)
		snprintf(why, len, "the peer is Primary: it cannot be a resync "
			 "target");
	else if (v->disk != DS_UPTODATE)
		snprintf(why, len, "this disk is %s: only an UpToDate disk can be "
			 "the sync source", disk_state_name(v->disk));
	else if (!sm_disk_usable(v->peer_disk))
		snprintf(why, len, "the peer %s has no disk to sync into (its "
			 "disk is %s): it is resynced in full once it attaches one",
			 v->peer_name, disk_state_name(v->peer_disk));
	else
		return false;
	return true;
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

/* ---- a live connection ------------------------------------------------ */

unsigned sm_live(const struct sm_view *v, unsigned flags, bool attached,
		 bool incomplete)
{
	enum repl_state repl = v->repl;
	enum disk_state disk = v->disk;
	unsigned acts = 0;

	if ((flags & FRAME_STATE_F_NEW_UUID) && repl == RS_ESTABLISHED &&
	    v->role == ROLE_SECONDARY) {
		acts |= SM_LIVE_ADOPT_UUID;
		disk = DS_UPTODATE;
	}
	if ((flags & FRAME_STATE_F_VERIFY) && repl == RS_ESTABLISHED) {
		acts |= SM_LIVE_VERIFY_T;
		repl = RS_VERIFY_T;
	} else if (!(flags & FRAME_STATE_F_VERIFY) && repl == RS_VERIFY_T) {
		acts |= SM_LIVE_VERIFY_END;
		repl = RS_ESTABLISHED;
	}
	/* Refused on the asking side too; this disk changed meanwhile. */
	if ((flags & (FRAME_STATE_F_INVALIDATE_BITMAP | FRAME_STATE_F_INVALIDATE)) &&
	    repl == RS_ESTABLISHED && disk != DS_UPTODATE)
		return acts | SM_LIVE_REFUSE_SOURCE;
	if ((flags & FRAME_STATE_F_INVALIDATE_BITMAP) && repl == RS_ESTABLISHED) {
		acts |= SM_LIVE_SOURCE_BITMAP;
		repl = RS_SYNC_SOURCE;
	}
	if ((flags & FRAME_STATE_F_INVALIDATE) && repl == RS_ESTABLISHED) {
		struct sm_view w = *v;
		char why[256];

		w.repl = repl;
		w.disk = disk;
		if (sm_resync_refused(&w, why, sizeof(why))) {
			acts |= SM_LIVE_FULL_RESYNC_REFUSED;
		} else {
			acts |= SM_LIVE_FULL_RESYNC;
			repl = RS_SYNC_SOURCE;
		}
	} else if (attached && v->peer_disk == DS_INCONSISTENT &&
		   repl == RS_ESTABLISHED && sm_disk_usable(disk) &&
		   disk != DS_UPTODATE && sm_may_sync_from(disk, DS_INCONSISTENT)) {
		if (incomplete) {
			acts |= SM_LIVE_ATTACHED_INCOMPLETE;
		} else {
			acts |= SM_LIVE_SYNC_ATTACHED;
			repl = RS_SYNC_SOURCE;
		}
	}
	/* Not from a peer without a usable disk: its STATE may still say
	 * SyncSource as its disk fails (sim seed 461 --strict --direct: the
	 * target stopped by the failure began again, toward no source). */
	if ((flags & FRAME_STATE_F_SYNC_SOURCE) && repl == RS_ESTABLISHED &&
	    v->has_disk && sm_disk_usable(v->peer_disk))
		acts |= SM_LIVE_TARGET;
	if (v->role == ROLE_PRIMARY && v->peer_role == ROLE_PRIMARY)
		acts |= SM_LIVE_SPLIT_BRAIN;
	return acts;
}

/* ---- connecting ------------------------------------------------------- */

bool sm_disk_usable(enum disk_state d)
{
	return d != DS_FAILED && d != DS_DISKLESS;
}

/* Only a disk that holds a clean image may be a source: UpToDate, or
 * Consistent (the decision that picks it is what makes it UpToDate); an
 * Outdated one only for a peer that has nothing usable. Never an
 * Inconsistent one: it lacks blocks it would hand out as data (DRBD: "I
 * shall become SyncSource, but I am inconsistent"). */
bool sm_may_sync_from(enum disk_state src, enum disk_state dst)
{
	if (src == DS_UPTODATE || src == DS_CONSISTENT)
		return true;
	return src == DS_OUTDATED && dst == DS_INCONSISTENT;
}

static bool is_source(enum uuid_decision d)
{
	return d == UD_SOURCE_BITMAP || d == UD_SOURCE_FULL;
}

static bool is_target(enum uuid_decision d)
{
	return d == UD_TARGET_BITMAP || d == UD_TARGET_FULL;
}

static struct uuid_result result(enum uuid_decision d, const char *rule)
{
	return (struct uuid_result){ d, rule };
}

static struct uuid_result resolve(const struct sm_side *self,
				  const struct sm_side *peer,
				  const struct sm_pair *pair, struct sm_connect *out)
{
	/* Both discarding theirs would make both SyncTargets of each other
	 * (sim seed 25): like DRBD, that resolves nothing. */
	if (self->discard && peer->discard) {
		out->both_discard = true;
		return result(UD_SPLIT_BRAIN, "both-discard");
	}
	if (self->discard)
		return result(UD_TARGET_BITMAP, "discard-my-data");
	if (peer->discard)
		return result(UD_SOURCE_BITMAP, "peer-discards-its-data");
	return uuid_resolve_split_brain(&self->u, &peer->u, pair->tiebreak,
					(enum sb_policy)pair->after_sb[0],
					(enum sb_policy)pair->after_sb[1],
					(enum sb_policy)pair->after_sb[2]);
}

/* DRBD's "Becoming sync source/target due to disk states": when one side
 * is Inconsistent and the other holds a whole image, the whole image is
 * the source whatever the generations say (an Inconsistent disk holds
 * nothing the other lacks; refusing leaves two nodes that never
 * connect). Against the generations' direction the bitmaps describe the
 * wrong history: everything is resynced. */
static struct uuid_result by_disk_states(const struct sm_side *self,
					 const struct sm_side *peer,
					 struct uuid_result r)
{
	bool self_src = is_source(r.d), peer_src = is_target(r.d);
	bool self_gave_up = self->u.flags & MDF_GIVEN_UP;
	bool peer_gave_up = peer->u.flags & MDF_GIVEN_UP;
	enum disk_state me = self->disk, them = peer->disk;

	if (r.d == UD_UNRELATED)
		return r;
	/* A disk given up (MDF_GIVEN_UP) whose generations are the newer,
	 * or diverged (split brain), holds writes the other lacks and may
	 * lack some of its own: it is no source (refused below), an
	 * operator picks one with --force or resolves the split brain.
	 * Otherwise it is the target of everything: what it missed since
	 * it failed is in no bitmap that survived. */
	if ((self_gave_up && self_src) || (peer_gave_up && peer_src) ||
	    r.d == UD_SPLIT_BRAIN)
		return r;
	if (self_gave_up && !peer_gave_up && sm_may_sync_from(them, me))
		return result(UD_TARGET_FULL, "self-given-up");
	if (peer_gave_up && !self_gave_up && sm_may_sync_from(me, them))
		return result(UD_SOURCE_FULL, "peer-given-up");
	if (me == DS_INCONSISTENT && them != DS_INCONSISTENT &&
	    sm_may_sync_from(them, me) && !peer_src)
		return result(UD_TARGET_FULL, "self-inconsistent-peer-has-data");
	if (them == DS_INCONSISTENT && me != DS_INCONSISTENT &&
	    sm_may_sync_from(me, them) && !self_src)
		return result(UD_SOURCE_FULL, "peer-inconsistent-self-has-data");
	/* A disk that may not be the source the generations pick (an
	 * Outdated one that wrote after it was outdated) is refused, which
	 * tells the operator to connect it with --discard-my-data: that
	 * makes it the target of a peer that may sync it, as after a split
	 * brain. Everything is resynced: the bitmaps follow the
	 * generations, not this direction. */
	if (self->discard && !peer->discard && self_src &&
	    !sm_may_sync_from(me, them) && sm_may_sync_from(them, me))
		return result(UD_TARGET_FULL, "discard-my-data");
	if (peer->discard && !self->discard && peer_src &&
	    !sm_may_sync_from(them, me) && sm_may_sync_from(me, them))
		return result(UD_SOURCE_FULL, "peer-discards-its-data");
	return r;
}

/* May src be dst's SyncSource? As its disk state allows, or: src is an
 * Outdated Secondary that holds every write its Primary acknowledged and
 * dst that Primary, crashed, in the same generation (uuid.c, rule
 * ...-crashed-primary-peer-holds-acked). Nothing newer than src exists:
 * the Primary would have started a new generation before a write src
 * lacks. The resync's end makes src UpToDate, as any Outdated source. */
static bool may_source(const struct sm_side *src, const struct sm_side *dst)
{
	if (sm_may_sync_from(src->disk, dst->disk))
		return true;
	return src->disk == DS_OUTDATED && dst->disk == DS_CONSISTENT &&
	       src->u.holds_acked && !src->u.primary &&
	       (dst->u.flags & MDF_CRASHED_PRIMARY) &&
	       src->u.uuid[UUID_CURRENT] == dst->u.uuid[UUID_CURRENT];
}

/* A Primary SyncTarget that lost its source and reconnects resumes as
 * SyncTarget: it did not write without the source (its writes fail while
 * it lacks good data), so nothing of its own is discarded, even if the
 * source started a new generation meanwhile. */
static bool primary_resumes_target(const struct sm_side *self,
				   const struct sm_side *peer,
				   const struct sm_pair *pair, enum uuid_decision d)
{
	return is_target(d) && self->disk == DS_INCONSISTENT &&
	       (peer->disk == DS_UPTODATE || peer->disk == DS_CONSISTENT) &&
	       pair->primary_target;
}

static enum uuid_decision reversed(enum uuid_decision d)
{
	switch (d) {
	case UD_SOURCE_BITMAP:
		return UD_TARGET_BITMAP;
	case UD_SOURCE_FULL:
		return UD_TARGET_FULL;
	case UD_TARGET_BITMAP:
		return UD_SOURCE_BITMAP;
	case UD_TARGET_FULL:
		return UD_SOURCE_FULL;
	default:
		return d;
	}
}

/* The generations make a Primary the target of its Secondary: the
 * Secondary wrote as Primary in a split brain, the Primary wrote nothing
 * since. The Primary refuses to be overwritten (sm_connect) and tells the
 * operator to connect the node whose changes are to be dropped with
 * --discard-my-data: on that Secondary it makes the Secondary the target,
 * as after a split brain, in the same kind of resync (its bitmap holds
 * its writes since the two parted), or a full one where a disk was given
 * up (its bitmap does not describe it). Both sides decide alike. Sim seed
 * 963 --stop --relapse --direct: the flag was ignored, the Secondary
 * stayed the source, and the pair never connected. */
static struct uuid_result discard_toward_primary(const struct sm_side *self,
						  const struct sm_side *peer,
						  const struct sm_pair *pair,
						  struct uuid_result r)
{
	bool given_up = (self->u.flags | peer->u.flags) & MDF_GIVEN_UP;

	if (is_source(r.d) && peer->u.primary && !self->u.primary &&
	    self->discard && !peer->discard &&
	    !primary_resumes_target(peer, self, pair, reversed(r.d)))
		return result(given_up ? UD_TARGET_FULL : reversed(r.d),
			      "discard-my-data");
	if (is_target(r.d) && self->u.primary && !peer->u.primary &&
	    peer->discard && !self->discard &&
	    !primary_resumes_target(self, peer, pair, r.d))
		return result(given_up ? UD_SOURCE_FULL : reversed(r.d),
			      "peer-discards-its-data");
	return r;
}

bool sm_incomplete(const struct sm_side *self, const struct sm_side *peer)
{
	return self->disk == DS_CONSISTENT &&
	       (self->u.flags & MDF_CRASHED_PRIMARY) &&
	       !(self->u.flags & MDF_GIVEN_UP) &&
	       (peer->u.flags & MDF_GIVEN_UP) &&
	       self->u.uuid[UUID_CURRENT] == peer->u.uuid[UUID_CURRENT];
}

bool sm_attached_ahead(const struct sm_side *self, const struct sm_side *peer,
		       bool tiebreak)
{
	struct uuid_result r;

	if (!(peer->u.flags & MDF_GIVEN_UP) || (self->u.flags & MDF_GIVEN_UP))
		return false;
	r = uuid_compare(&self->u, &peer->u, tiebreak);
	return is_target(r.d) || r.d == UD_SPLIT_BRAIN;
}

static void split(struct sm_connect *out, const char *why)
{
	out->act = SM_CONN_SPLIT_BRAIN;
	out->split_why = why;
}

void sm_connect(const struct sm_side *self, const struct sm_side *peer,
		const struct sm_pair *pair, struct sm_connect *out)
{
	struct uuid_result r;

	memset(out, 0, sizeof(*out));
	if (self->u.primary && peer->u.primary) {
		split(out, "both nodes are Primary");
		return;
	}
	if (peer->size_bytes < self->size_bytes) {
		out->act = SM_CONN_TOO_SMALL;
		return;
	}
	if (self->u.primary && !sm_disk_usable(self->disk) &&
	    sm_disk_usable(peer->disk) && self->exposed &&
	    self->exposed != peer->u.uuid[UUID_CURRENT]) {
		out->act = SM_CONN_STALE_PEER;
		return;
	}
	if (!sm_disk_usable(self->disk) || !sm_disk_usable(peer->disk)) {
		out->act = SM_CONN_NO_DISK;
		return;
	}
	r = out->rules = uuid_compare(&self->u, &peer->u, pair->tiebreak);
	if (r.d == UD_SPLIT_BRAIN) {
		out->split = true;
		r = out->resolved = resolve(self, peer, pair, out);
	}
	if (sm_incomplete(self, peer) || sm_incomplete(peer, self)) {
		out->act = SM_CONN_NO_WHOLE_COPY;
		out->d = r;
		return;
	}
	r = out->d = by_disk_states(self, peer, r);
	r = out->d = discard_toward_primary(self, peer, pair, r);
	if (is_target(r.d) && self->u.primary &&
	    !primary_resumes_target(self, peer, pair, r.d)) {
		split(out, "this Primary would have to discard its data");
		return;
	}
	/* Both nodes check the direction against both disk states, so
	 * both refuse alike: the node that would be the bad source goes
	 * StandAlone (an operator must act), the other drops the link. */
	if (is_source(r.d) && !may_source(self, peer)) {
		out->act = SM_CONN_SELF_NO_SOURCE;
		return;
	}
	if (is_target(r.d) && !may_source(peer, self)) {
		out->act = SM_CONN_PEER_NO_SOURCE;
		return;
	}
	switch (r.d) {
	case UD_SPLIT_BRAIN:
		split(out, "no policy resolves it");
		return;
	case UD_UNRELATED:
		out->act = SM_CONN_UNRELATED;
		return;
	case UD_SOURCE_FULL:
	case UD_SOURCE_BITMAP:
		out->act = SM_CONN_SOURCE;
		break;
	case UD_TARGET_FULL:
	case UD_TARGET_BITMAP:
		out->act = SM_CONN_TARGET;
		break;
	default:
		out->act = SM_CONN_ESTABLISHED;
		break;
	}
	/* Without the bitmap exchange the other side's changes are unknown
	 * here: everything is resynced instead. */
	out->full = r.d == UD_SOURCE_FULL || r.d == UD_TARGET_FULL ||
		    !pair->bitmap_exchange;
	/* A Consistent disk that is the source, or equal to its peer, is
	 * UpToDate: the handshake showed that nothing newer exists. */
	out->self_uptodate = (out->act == SM_CONN_SOURCE || r.d == UD_NO_SYNC) &&
			     self->disk == DS_CONSISTENT;
	out->peer_uptodate = (out->act == SM_CONN_TARGET || r.d == UD_NO_SYNC) &&
			     peer->disk == DS_CONSISTENT;
}

const char *sm_connect_act_name(enum sm_connect_act a)
{
	static const char *const names[] = {
		[SM_CONN_SPLIT_BRAIN] = "split-brain",
		[SM_CONN_TOO_SMALL] = "too-small",
		[SM_CONN_NO_DISK] = "no-disk",
		[SM_CONN_STALE_PEER] = "stale-peer",
		[SM_CONN_UNRELATED] = "unrelated",
		[SM_CONN_SELF_NO_SOURCE] = "self-no-source",
		[SM_CONN_PEER_NO_SOURCE] = "peer-no-source",
		[SM_CONN_NO_WHOLE_COPY] = "no-whole-copy",
		[SM_CONN_SOURCE] = "source",
		[SM_CONN_TARGET] = "target",
		[SM_CONN_ESTABLISHED] = "established",
	};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

/* ---- the replication state's transitions ------------------------------ */

#define B(s) (1U << (s))
#define ANY_SYNC_S (B(RS_SYNC_SOURCE) | B(RS_PAUSED_SYNC_S))
#define ANY_SYNC_T (B(RS_SYNC_TARGET) | B(RS_PAUSED_SYNC_T))
#define ANY_VERIFY (B(RS_VERIFY_S) | B(RS_VERIFY_T))
#define ALL_STATES ((1U << REPL_STATE_COUNT) - 1)

/* from: the states ev may leave; to: where it goes (RS_SYNC_SOURCE and
 * RS_SYNC_TARGET: their Paused* twin when paused; PAUSE: by the state's
 * own direction; -1: stays). */
static const struct {
	unsigned from;
	int to;
} repl_table[SM_REPL_EV_COUNT] = {
	[SM_REPL_LINK_UP] = { ALL_STATES, RS_OFF },
	[SM_REPL_LINK_DOWN] = { ALL_STATES, RS_OFF },
	[SM_REPL_IN_SYNC] = { B(RS_OFF) | B(RS_ESTABLISHED), RS_ESTABLISHED },
	/* From the handshake (Off), by a command or the peer's request
	 * (Established), or again over a resync that restarts. */
	[SM_REPL_SOURCE] = { B(RS_OFF) | B(RS_ESTABLISHED) | ANY_SYNC_S,
			     RS_SYNC_SOURCE },
	[SM_REPL_TARGET] = { B(RS_OFF) | B(RS_ESTABLISHED) | ANY_SYNC_T,
			     RS_SYNC_TARGET },
	[SM_REPL_PAUSE] = { ALL_STATES, -1 },
	[SM_REPL_RESYNC_DONE] = { ANY_SYNC_S | ANY_SYNC_T, RS_ESTABLISHED },
	[SM_REPL_VERIFY_S] = { B(RS_ESTABLISHED), RS_VERIFY_S },
	[SM_REPL_VERIFY_T] = { B(RS_ESTABLISHED), RS_VERIFY_T },
	[SM_REPL_VERIFY_DONE] = { ANY_VERIFY | B(RS_ESTABLISHED), RS_ESTABLISHED },
	[SM_REPL_DISK_GONE] = { ALL_STATES & ~B(RS_OFF), RS_ESTABLISHED },
};

int sm_repl_next(enum repl_state from, enum sm_repl_ev ev, bool paused)
{
	int to;

	if ((unsigned)from >= REPL_STATE_COUNT || (unsigned)ev >= SM_REPL_EV_COUNT ||
	    !(repl_table[ev].from & B(from)))
		return -1;
	to = repl_table[ev].to;
	if (ev == SM_REPL_PAUSE) {
		if (B(from) & ANY_SYNC_S)
			to = RS_SYNC_SOURCE;
		else if (B(from) & ANY_SYNC_T)
			to = RS_SYNC_TARGET;
		else
			return (int)from;
	}
	if (paused && to == RS_SYNC_SOURCE)
		return RS_PAUSED_SYNC_S;
	if (paused && to == RS_SYNC_TARGET)
		return RS_PAUSED_SYNC_T;
	return to;
}

const char *sm_repl_ev_name(enum sm_repl_ev ev)
{
	static const char *const names[] = {
		[SM_REPL_LINK_UP] = "link-up",
		[SM_REPL_LINK_DOWN] = "link-down",
		[SM_REPL_IN_SYNC] = "in-sync",
		[SM_REPL_SOURCE] = "source",
		[SM_REPL_TARGET] = "target",
		[SM_REPL_PAUSE] = "pause",
		[SM_REPL_RESYNC_DONE] = "resync-done",
		[SM_REPL_VERIFY_S] = "verify-source",
		[SM_REPL_VERIFY_T] = "verify-target",
		[SM_REPL_VERIFY_DONE] = "verify-done",
		[SM_REPL_DISK_GONE] = "disk-gone",
	};
	return (unsigned)ev < SM_REPL_EV_COUNT ? names[ev] : "?";
}

/* ---- this node's disk state's transitions ----------------------------- */

#define HAS_DISK (B(DS_INCONSISTENT) | B(DS_OUTDATED) | B(DS_CONSISTENT) | \
		  B(DS_UPTODATE) | B(DS_ATTACHING))
#define HOLDS_DATA (B(DS_OUTDATED) | B(DS_CONSISTENT) | B(DS_UPTODATE))

static const struct {
	unsigned from;
	enum disk_state to;
} disk_table[SM_DISK_EV_COUNT] = {
	[SM_DISK_ATTACH] = { B(DS_DISKLESS), DS_INCONSISTENT },
	[SM_DISK_FAIL] = { HAS_DISK, DS_FAILED },
	[SM_DISK_DETACHED] = { HAS_DISK | B(DS_FAILED), DS_DISKLESS },
	[SM_DISK_OUTDATE] = { HOLDS_DATA, DS_OUTDATED },
	[SM_DISK_SYNC_TARGET] = { B(DS_INCONSISTENT) | HOLDS_DATA, DS_INCONSISTENT },
	[SM_DISK_SYNCED] = { B(DS_INCONSISTENT), DS_UPTODATE },
	[SM_DISK_PEER_NO_NEWER] = { B(DS_CONSISTENT), DS_UPTODATE },
	[SM_DISK_SOURCE_SYNCED] = { B(DS_OUTDATED), DS_UPTODATE },
	[SM_DISK_NEW_DATA] = { B(DS_INCONSISTENT) | B(DS_CONSISTENT), DS_UPTODATE },
	[SM_DISK_FORCE] = { B(DS_INCONSISTENT) | HOLDS_DATA, DS_UPTODATE },
};

int sm_disk_next(enum disk_state from, enum sm_disk_ev ev)
{
	if ((unsigned)from >= DISK_STATE_COUNT || (unsigned)ev >= SM_DISK_EV_COUNT ||
	    !(disk_table[ev].from & B(from)))
		return -1;
	return disk_table[ev].to;
}

const char *sm_disk_ev_name(enum sm_disk_ev ev)
{
	static const char *const names[] = {
		[SM_DISK_ATTACH] = "attach",
		[SM_DISK_FAIL] = "fail",
		[SM_DISK_DETACHED] = "detached",
		[SM_DISK_OUTDATE] = "outdate",
		[SM_DISK_SYNC_TARGET] = "sync-target",
		[SM_DISK_SYNCED] = "synced",
		[SM_DISK_PEER_NO_NEWER] = "peer-no-newer",
		[SM_DISK_SOURCE_SYNCED] = "source-synced",
		[SM_DISK_NEW_DATA] = "new-data",
		[SM_DISK_FORCE] = "force",
	};
	return (unsigned)ev < SM_DISK_EV_COUNT ? names[ev] : "?";
}

/* ---- the connection state and the role -------------------------------- */

static const struct {
	unsigned from;
	int to;			/* -1: stays */
} conn_table[SM_CONN_EV_COUNT] = {
	[SM_CONN_EV_CONNECT] = { B(CS_STANDALONE), CS_CONNECTING },
	[SM_CONN_EV_DISCONNECT] = { B(CS_CONNECTING) | B(CS_CONNECTED), CS_STANDALONE },
	[SM_CONN_EV_REFUSE] = { B(CS_CONNECTING) | B(CS_CONNECTED), CS_STANDALONE },
	[SM_CONN_EV_HANDSHAKE] = { B(CS_CONNECTING), CS_CONNECTED },
	[SM_CONN_EV_LINK_DOWN] = { B(CS_STANDALONE) | B(CS_CONNECTING) | B(CS_CONNECTED),
				   -1 },
};

int sm_conn_next(enum conn_state from, enum sm_conn_ev ev)
{
	if ((unsigned)from >= CONN_STATE_COUNT || (unsigned)ev >= SM_CONN_EV_COUNT ||
	    !(conn_table[ev].from & B(from)))
		return -1;
	if (ev == SM_CONN_EV_LINK_DOWN)
		return from == CS_STANDALONE ? CS_STANDALONE : CS_CONNECTING;
	return conn_table[ev].to;
}

const char *sm_conn_ev_name(enum sm_conn_ev ev)
{
	static const char *const names[] = {
		[SM_CONN_EV_CONNECT] = "connect",
		[SM_CONN_EV_DISCONNECT] = "disconnect",
		[SM_CONN_EV_REFUSE] = "refuse",
		[SM_CONN_EV_HANDSHAKE] = "handshake",
		[SM_CONN_EV_LINK_DOWN] = "link-down",
	};
	return (unsigned)ev < SM_CONN_EV_COUNT ? names[ev] : "?";
}

int sm_role_next(enum role from, enum sm_role_ev ev)
{
	if (ev == SM_ROLE_PROMOTE && from == ROLE_SECONDARY)
		return ROLE_PRIMARY;
	if (ev == SM_ROLE_DEMOTE && from == ROLE_PRIMARY)
		return ROLE_SECONDARY;
	return -1;
}

/* ---- the step ---------------------------------------------------------- */

/* The peer view takes what the peer says: any role and disk a STATE
 * names (the receiver drops a STATE naming none). */
static int peer_next(struct sm_state *s, const struct sm_event *e)
{
	switch ((enum sm_peer_ev)e->ev) {
	case SM_PEER_STATE:
		if ((unsigned)e->peer_role >= ROLE_COUNT ||
		    (unsigned)e->peer_disk >= DISK_STATE_COUNT)
			return -1;
		s->peer_role = e->peer_role;
		s->peer_disk = e->peer_disk;
		s->peer_paused = e->peer_paused;
		return 0;
	case SM_PEER_DISK:
		/* What this node did to the peer's disk: a resync toward it
		 * (Inconsistent, then UpToDate), fence-peer's answer. */
		if (e->peer_disk != DS_INCONSISTENT && e->peer_disk != DS_OUTDATED &&
		    e->peer_disk != DS_UPTODATE)
			return -1;
		s->peer_disk = e->peer_disk;
		return 0;
	case SM_PEER_GONE:
		s->peer_role = ROLE_UNKNOWN;
		s->peer_disk = DS_DUNKNOWN;
		s->peer_paused = false;
		return 0;
	}
	return -1;
}

static bool step(struct sm_state *s, const struct sm_event *e)
{
	int to;

	switch (e->kind) {
	case SM_EV_REPL:
		to = sm_repl_next(s->repl, (enum sm_repl_ev)e->ev,
				  s->sync_paused || s->peer_paused);
		if (to >= 0)
			s->repl = (enum repl_state)to;
		break;
	case SM_EV_DISK:
		to = sm_disk_next(s->disk_state, (enum sm_disk_ev)e->ev);
		if (to >= 0)
			s->disk_state = (enum disk_state)to;
		break;
	case SM_EV_CONN:
		to = sm_conn_next(s->peer_conn, (enum sm_conn_ev)e->ev);
		if (to >= 0)
			s->peer_conn = (enum conn_state)to;
		break;
	case SM_EV_ROLE:
		to = sm_role_next(s->role, (enum sm_role_ev)e->ev);
		if (to >= 0)
			s->role = (enum role)to;
		break;
	case SM_EV_PEER:
		to = peer_next(s, e);
		break;
	case SM_EV_PAUSE:
		if (e->ev != SM_PAUSE_ON && e->ev != SM_PAUSE_OFF) {
			to = -1;
			break;
		}
		s->sync_paused = e->ev == SM_PAUSE_ON;
		to = sm_repl_next(s->repl, SM_REPL_PAUSE,
				  s->sync_paused || s->peer_paused);
		s->repl = (enum repl_state)to;	/* PAUSE moves every state */
		break;
	case SM_EV_IO:
		/* Frozen and thawed once each: fencing decides when. */
		to = (e->ev == SM_IO_FREEZE && !s->io_frozen) ||
		     (e->ev == SM_IO_THAW && s->io_frozen) ? 0 : -1;
		if (to == 0)
			s->io_frozen = e->ev == SM_IO_FREEZE;
		break;
	default:
		to = -1;
	}
	return to >= 0;
}

bool sm_step(struct sm_state *s, const struct sm_event *e, unsigned *acts)
{
	struct sm_state before = *s;

	if (!step(s, e))
		return false;
	*acts |= sm_effects(&before, s);
	/* A resync into this disk that finished: the disk is the source's. */
	if (e->kind == SM_EV_DISK && e->ev == SM_DISK_SYNCED)
		*acts |= SM_ACT_HOOK_AFTER_TARGET;
	return true;
}

void sm_step_refusal(const struct sm_state *s, const struct sm_event *e,
		     char *buf, size_t len)
{
	switch (e->kind) {
	case SM_EV_REPL:
		snprintf(buf, len, "replication state %s has no transition %s",
			 repl_state_name(s->repl),
			 sm_repl_ev_name((enum sm_repl_ev)e->ev));
		break;
	case SM_EV_DISK:
		snprintf(buf, len, "disk state %s has no transition %s",
			 disk_state_name(s->disk_state),
			 sm_disk_ev_name((enum sm_disk_ev)e->ev));
		break;
	case SM_EV_CONN:
		snprintf(buf, len, "connection state %s has no transition %s",
			 conn_state_name(s->peer_conn),
			 sm_conn_ev_name((enum sm_conn_ev)e->ev));
		break;
	case SM_EV_ROLE:
		snprintf(buf, len, "role %s has no transition %s",
			 role_name(s->role),
			 e->ev == SM_ROLE_PROMOTE ? "promote" : "demote");
		break;
	case SM_EV_PEER:
		snprintf(buf, len, "the peer view takes no %s with role %d, "
			 "disk %d", e->ev == SM_PEER_STATE ? "STATE" :
			 e->ev == SM_PEER_DISK ? "disk change" : "event",
			 (int)e->peer_role, (int)e->peer_disk);
		break;
	case SM_EV_PAUSE:
		snprintf(buf, len, "no such pause event (%d)", e->ev);
		break;
	case SM_EV_IO:
		snprintf(buf, len, "I/O is %s already",
			 s->io_frozen ? "frozen" : "not frozen");
		break;
	default:
		snprintf(buf, len, "no such state machine event (%d)", (int)e->kind);
	}
}

/* ---- actions ------------------------------------------------------------ */

/* The STATE frame's flags that follow from the replication state. */
static unsigned state_flags_of(enum repl_state r)
{
	return (r == RS_SYNC_SOURCE || r == RS_PAUSED_SYNC_S ? 1U : 0U) |
	       (r == RS_VERIFY_S ? 2U : 0U);
}

unsigned sm_effects(const struct sm_state *a, const struct sm_state *b)
{
	unsigned acts = 0;

	if (a->role != b->role || a->disk_state != b->disk_state ||
	    a->sync_paused != b->sync_paused ||
	    state_flags_of(a->repl) != state_flags_of(b->repl))
		acts |= SM_ACT_SEND_STATE;
	if (!(a->repl == RS_SYNC_TARGET || a->repl == RS_PAUSED_SYNC_T) &&
	    (b->repl == RS_SYNC_TARGET || b->repl == RS_PAUSED_SYNC_T))
		acts |= SM_ACT_HOOK_BEFORE_TARGET;
	if (a->repl == RS_PAUSED_SYNC_S && b->repl == RS_SYNC_SOURCE)
		acts |= SM_ACT_PUMP_RESYNC;
	if (a->io_frozen && !b->io_frozen)
		acts |= SM_ACT_RELEASE_HELD | SM_ACT_RETRY;
	return acts;
}

const char *sm_act_name(unsigned bit)
{
	static const char *const names[SM_ACT_COUNT] = {
		"hook-before-resync-target", "write-superblock", "send-state",
		"bitmap-exchange", "start-resync", "pump-resync", "release-held",
		"retry", "hook-after-resync-target", "hook-split-brain",
		"hook-out-of-sync", "hook-unfence-peer",
	};

	for (unsigned i = 0; i < SM_ACT_COUNT; i++)
		if (bit == 1U << i)
			return names[i];
	return "?";
}
