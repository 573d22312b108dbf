/* peer.c - the resource's side of the peer link: state exchange, the
 * decision of who syncs whom on connect, what the peer's next STATE
 * changes, and the frame dispatch to the modules (write path, receiver,
 * resync, verify, remote reads, the bitmap exchange of bmx.c). The end
 * of a resync and the role and resync commands are peerops.c's.
 *
 * On connect each node sends STATE (role, disk, generation UUIDs, flags,
 * what its bitmap holds). The first STATE received triggers the decision
 * (uuid.c; its rule name is logged), which both nodes reach alike:
 *
 *   no sync / both new        Established
 *   source|target, full       the source marks every block; resync
 *   source|target, bitmap     both send their bitmaps (RLE), both OR in
 *                             the other's, then the source resyncs
 *   split brain               the after-sb policies, or connect
 *                             --discard-my-data, pick a loser whose
 *                             changes are rolled back by bitmap; else
 *                             disconnect
 *   unrelated data            disconnect, loudly
 *
 * Generation UUIDs move here: a Primary that writes without its peer
 * takes a new current UUID first; a finished resync retires the
 * source's bitmap UUID into history and gives the target the source's
 * current UUID.
 */
#include "blockd/engine/peer.h"
#include "blockd/engine/peer_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/sm.h"
#include "blockd/core/uuid.h"
#include "blockd/engine/resource.h"
#include "common/container_of.h"
#include "common/log.h"

static void state_sent(struct link_tx *tx, int err)
{
	struct resource *res = container_of(tx, struct resource, peer.state_tx);

	res->peer.state_tx_queued = false;
	if (res->peer.state_tx_again && !err) {
		res->peer.state_tx_again = false;
		peer_send_state(res);	/* the newest, asked meanwhile */
	}
}

/* A flush of this disk through the write path; r is the caller's (idle
 * until done runs). */
void peer_flush_submit(struct resource *res, struct blk_req *r,
			 void (*done)(struct blk_req *r, int err))
{
	memset(r, 0, sizeof(*r));
	r->local.cmd = DISK_FLUSH;
	r->done = done;
	resource_submit(res, r);
}

void peer_send_state(struct resource *res)
{
	struct frame_state st = { 0 };
	uint8_t flags;

	if (!link_is_up(res->link))
		return;
	if (res->peer.state_tx_queued) {
		/* Send the newest once this one left, flags included. */
		res->peer.state_tx_again = true;
		return;
	}
	flags = res->peer.state_flags_pending;
	res->peer.state_flags_pending = 0;
	st.role = (uint8_t)res->st.role;
	st.disk = (uint8_t)res->st.disk_state;
	st.protocol = (uint8_t)res->protocol;
	st.flags = flags;
	st.size_bytes = res->disk.size_bytes;
	st.instance = res->instance;
	st.dirty_bytes = bitmap_dirty_bytes(&res->oos);
	memcpy(st.uuid, res->meta.sb.uuid, sizeof(st.uuid));
	/* A live Primary's crashed-primary flag only guards against a crash
	 * to come: it never tells the peer this node crashed. */
	st.md_flags = res->meta.sb.flags & ~MDF_HOLDS_ACKED_BOOT &
		      (res->st.role == ROLE_PRIMARY ? ~MDF_CRASHED_PRIMARY : ~0U);
	st.primary_since = res->meta.sb.primary_since;
	if (res->st.repl == RS_SYNC_SOURCE || res->st.repl == RS_PAUSED_SYNC_S)
		st.flags |= FRAME_STATE_F_SYNC_SOURCE;
	if (res->st.sync_paused)
		st.flags |= FRAME_STATE_F_PAUSED;
	if (res->st.repl == RS_VERIFY_S)
		st.flags |= FRAME_STATE_F_VERIFY;
	if (res->discard_my_data)
		st.flags |= FRAME_STATE_F_DISCARD;
	if (peer_holds_acked(res))
		st.flags |= FRAME_STATE_F_HOLDS_ACKED;
	memset(&res->peer.state_tx.h, 0, sizeof(res->peer.state_tx.h));
	res->peer.state_tx.h.type = FRAME_STATE;
	res->peer.state_tx.h.payload_len = FRAME_STATE_BYTES;
	frame_encode_state(res->peer.state_tx.inline_payload, &st);
	res->peer.state_tx.payload = res->peer.state_tx.inline_payload;
	res->peer.state_tx.sent = state_sent;
	res->peer.state_tx_queued = true;
	link_send(res->link, &res->peer.state_tx);
}

/* ---- the decision ----------------------------------------------------- */

void peer_become_source(struct resource *res, bool full)
{
	/* A restart of either node resumes from this bitmap: it is saved
	 * before the resync starts (resync_start_saved). */
	if (full)
		bitmap_mark_all(&res->oos);
	resource_step(res, SM_EV_REPL, SM_REPL_SOURCE);
	resource_step_peer(res, SM_PEER_DISK, ROLE_UNKNOWN, DS_INCONSISTENT, false);
}

void peer_become_target(struct resource *res, const struct frame_state *ps,
			  bool full)
{
	struct meta_sb *sb = &res->meta.sb;

	resource_step(res, SM_EV_REPL, SM_REPL_TARGET);	/* before-resync-target */
	resource_step(res, SM_EV_DISK, SM_DISK_SYNC_TARGET);
	res->rs.total_bytes = ps->dirty_bytes;
	res->rs.received_base = res->rs.applied_bytes;
	res->rs.started_ms = 0;
	if (full)
		bitmap_mark_all(&res->oos);	/* cleared as ranges arrive */
	/* This disk now heads for the source's generation and is not usable
	 * until it gets there: a restart finds it Inconsistent with the
	 * source's current UUID, and the resync resumes from the source's
	 * bitmap. Durable before the first resync write (receiver waits). */
	sb->uuid[UUID_CURRENT] = ps->uuid[UUID_CURRENT];
	sb->uuid[UUID_BITMAP] = 0;
	sb->flags &= ~MDF_CONSISTENT;
	resource_post(res, SM_ACT_WRITE_SB);
}

static void split_brain(struct resource *res, const char *why)
{
	log_err("split brain detected: %s; disconnecting. Resolve it with "
		"'blockctl connect --discard-my-data' on the node whose changes "
		"are to be dropped, or set after-sb-*pri policies", why);
	resource_step(res, SM_EV_CONN, SM_CONN_EV_REFUSE);
	link_disconnect_after_send(res->link, "split brain");
	fencing_peer_unsettled(res);
	resource_post(res, SM_ACT_HOOK_SPLIT_BRAIN);
	resource_commit(res, "split-brain");
}

static struct uuid_side side_self(const struct resource *res)
{
	struct uuid_side s = { 0 };

	memcpy(s.uuid, res->meta.sb.uuid, sizeof(s.uuid));
	s.flags = res->meta.sb.flags;
	s.primary = res->st.role == ROLE_PRIMARY;
	if (s.primary)
		s.flags &= ~MDF_CRASHED_PRIMARY;	/* alive: not crashed */
	if (s.flags & MDF_GIVEN_UP)	/* its extents are no source */
		s.flags &= ~MDF_CRASHED_PRIMARY;
	s.dirty_bytes = bitmap_dirty_bytes(&res->oos);
	s.primary_since = res->meta.sb.primary_since;
	s.holds_acked = peer_holds_acked(res);
	return s;
}

static struct uuid_side side_peer(const struct resource *res,
				  const struct frame_state *ps)
{
	struct uuid_side s = { 0 };

	memcpy(s.uuid, ps->uuid, sizeof(s.uuid));
	s.flags = ps->md_flags;
	if (s.flags & MDF_GIVEN_UP)
		s.flags &= ~MDF_CRASHED_PRIMARY;
	s.primary = ps->role == ROLE_PRIMARY;
	s.dirty_bytes = ps->dirty_bytes;
	s.primary_since = ps->primary_since;
	s.holds_acked = (ps->flags & FRAME_STATE_F_HOLDS_ACKED) &&
			(link_features(res->link) & FRAME_FEAT_HOLDS_ACKED);
	return s;
}

/* The decision would make this node, or the peer, a source it may not
 * be (sm_connect): both nodes see it alike. This node goes StandAlone
 * (an operator must act); for the peer's side only the link drops. */
static void refuse_direction(struct resource *res, const struct frame_state *ps,
			     const struct sm_connect *c)
{
	enum disk_state peer_disk = (enum disk_state)ps->disk;

	if (c->act == SM_CONN_SELF_NO_SOURCE) {
		if (res->meta.sb.flags & MDF_GIVEN_UP)
			log_err("sync decision %s (rule %s) would make this node "
				"SyncSource, but its disk was given up (it failed "
				"or was detached) after it took writes the peer "
				"lacks: refusing to connect. Neither disk is known "
				"to hold every write: if this one is readable and "
				"to be kept, 'primary --force' here; otherwise "
				"'primary --force' on the peer and 'connect "
				"--discard-my-data' here",
				uuid_decision_name(c->d.d), c->d.rule);
		else
			log_err("sync decision %s (rule %s) would make this node "
				"SyncSource, but its disk is %s: refusing to "
				"connect. Its data is incomplete; let an UpToDate "
				"peer sync it ('connect --discard-my-data' on a "
				"Secondary) or, if the peer's data is lost for "
				"good, 'primary --force'",
				uuid_decision_name(c->d.d), c->d.rule,
				disk_state_name(res->st.disk_state));
		resource_step(res, SM_EV_CONN, SM_CONN_EV_REFUSE);
		link_disconnect(res->link, "would be SyncSource while not UpToDate");
	} else {
		log_err("sync decision %s (rule %s) would make the peer SyncSource, "
			"but its disk is %s: not syncing from it",
			uuid_decision_name(c->d.d), c->d.rule,
			disk_state_name(peer_disk));
		link_drop(res->link, "the peer would be SyncSource while not UpToDate");
	}
	fencing_peer_unsettled(res);
	resource_commit(res, "sync-refused");
}

/* A Primary without a disk writes here only: this disk leaves the
 * generation the Primary's old disk still names, or that disk, back after
 * a restart, could win the handshake (equal UUIDs, crashed-primary rule)
 * and be synced over this one. Once per connection, whether the Primary
 * lost its disk while connected, came back without one, or was promoted
 * without one. Durable before the first of its writes is applied (the
 * receiver waits for the superblock). */
static void diskless_primary_generation(struct resource *res)
{
	if (res->peer.diskless_gen || res->st.role != ROLE_SECONDARY ||
	    res->st.peer_role != ROLE_PRIMARY || sm_disk_usable(res->st.peer_disk) ||
	    !resource_has_disk(res) || res->st.disk_state != DS_UPTODATE ||
	    !res->meta.enabled)
		return;
	res->peer.diskless_gen = true;
	log_info("the Primary writes through this disk only: a new generation");
	meta_uuid_new_current(&res->meta);
	resource_post(res, SM_ACT_WRITE_SB | SM_ACT_SEND_STATE);
}

/* A Primary without a disk of its own serves the peer's data: its users
 * see the peer's generation from now on. */
static void follow_exposed(struct resource *res, const struct frame_state *ps)
{
	if (res->st.role == ROLE_PRIMARY && !resource_has_disk(res) &&
	    sm_disk_usable((enum disk_state)ps->disk))
		res->exposed_gen = ps->uuid[UUID_CURRENT];
}

/* A side without a usable disk (Diskless, Failed) takes part in no
 * resync: it has nothing to send and nowhere to write; it is synced in
 * full once it attaches a disk. */
static void connect_without_disk(struct resource *res, const struct frame_state *ps)
{
	log_info("sync decision: none (rule %s-has-no-disk)",
		 sm_disk_usable(res->st.disk_state) ? "peer" : "self");
	resource_step(res, SM_EV_REPL, SM_REPL_IN_SYNC);
	res->discard_my_data = false;
	resource_step(res, SM_EV_CONN, SM_CONN_EV_HANDSHAKE);
	follow_exposed(res, ps);
	resource_post(res, SM_ACT_SEND_STATE);
	/* Fenced I/O resumes: one side holds all the data there is (this
	 * disk, or the peer's UpToDate one that a Diskless Primary writes
	 * to), the other none it could be promoted with. It stayed frozen
	 * for good before (sim seed 79). */
	if (sm_disk_usable(res->st.disk_state) || ps->disk == DS_UPTODATE)
		fencing_peer_back(res);
	else
		fencing_peer_unsettled(res);
	diskless_primary_generation(res);	/* a Primary came back Diskless */
	resource_post(res, SM_ACT_RETRY);
	fencing_peer_disk_seen(res);
	resource_commit(res, "connected");
}

/* Both sides as the state machine's decisions see them (sm.h). */
static void sides_of(const struct resource *res, const struct frame_state *ps,
		     struct sm_side *me, struct sm_side *peer)
{
	*me = (struct sm_side){
		.u = side_self(res), .disk = res->st.disk_state,
		.discard = res->discard_my_data, .size_bytes = res->disk.size_bytes,
		.exposed = res->exposed_gen,
	};
	*peer = (struct sm_side){
		.u = side_peer(res, ps), .disk = (enum disk_state)ps->disk,
		.discard = ps->flags & FRAME_STATE_F_DISCARD,
		.size_bytes = ps->size_bytes,
	};
}

static const char no_whole_copy_why[] =
	"neither disk is known to hold every acknowledged write: the one that "
	"crashed as Primary may have lost writes it had not flushed, and the "
	"one that held them was given up (it failed, or was attached again). "
	"Keep one with 'primary --force' there (the other is then resynced "
	"from it)";

/* sm_connect's STALE_PEER: this Diskless Primary would serve its users
 * the peer's disk of another generation (sim seed 277: writes it
 * acknowledged alone, on the disk that then failed, gone; DRBD: "can
 * only connect to data with current UUID"). */
static void stale_peer(struct resource *res, const struct frame_state *ps)
{
	log_err("refusing to connect: this Primary has no disk, and its users "
		"see data generation %016llx; the peer's disk holds %016llx "
		"(it lacks writes acknowledged here, or holds others). To use "
		"the peer's data, demote this node ('blockctl secondary') and "
		"promote %s",
		(unsigned long long)res->exposed_gen,
		(unsigned long long)ps->uuid[UUID_CURRENT], res->peer_name);
	resource_step(res, SM_EV_CONN, SM_CONN_EV_REFUSE);
	link_disconnect(res->link, "the peer's disk is not this Primary's data");
	fencing_peer_unsettled(res);
	resource_commit(res, "sync-refused");
}

static const char attached_ahead_why[] =
	"its generations are newer than this disk's: it took writes this one "
	"lacks before it failed. Neither is a sync source: keep one with "
	"'primary --force' there (the other is then resynced from it)";

static bool tiebreak_of(const struct resource *res)
{
	return strcmp(res->node, res->peer_name) < 0;
}

/* sm_incomplete: no sync either way, an operator picks a disk. */
static void no_whole_copy(struct resource *res)
{
	log_err("refusing to connect: %s", no_whole_copy_why);
	resource_step(res, SM_EV_CONN, SM_CONN_EV_REFUSE);
	link_disconnect(res->link, "neither disk holds every acknowledged write");
	fencing_peer_unsettled(res);
	resource_commit(res, "sync-refused");
}

/* The first STATE of a connection: who syncs whom. The decision is the
 * state machine's (sm_connect, on both STATEs); this carries it out. */
static void decide(struct resource *res, const struct frame_state *ps)
{
	uint32_t feat = link_features(res->link);
	struct sm_side me, peer;
	struct sm_pair pair = {
		.tiebreak = tiebreak_of(res),
		.bitmap_exchange = feat & FRAME_FEAT_BITMAP_RLE,
		.primary_target = feat & FRAME_FEAT_PRIMARY_TARGET,
	};
	struct sm_connect c;

	sides_of(res, ps, &me, &peer);
	memcpy(pair.after_sb, res->cfg->after_sb, sizeof(pair.after_sb));
	sm_connect(&me, &peer, &pair, &c);
	if (c.act == SM_CONN_TOO_SMALL) {
		log_err("peer data area (%llu bytes) is smaller than this one "
			"(%llu): refusing to connect",
			(unsigned long long)ps->size_bytes,
			(unsigned long long)res->disk.size_bytes);
		resource_step(res, SM_EV_CONN, SM_CONN_EV_REFUSE);
		link_disconnect(res->link, "peer disk too small");
		fencing_peer_unsettled(res);
		resource_commit(res, NULL);
		return;
	}
	if (c.act == SM_CONN_STALE_PEER) {
		stale_peer(res, ps);
		return;
	}
	if (c.act == SM_CONN_NO_DISK) {
		connect_without_disk(res, ps);
		return;
	}
	if (c.act == SM_CONN_SPLIT_BRAIN && !c.rules.rule) {	/* both Primary */
		split_brain(res, c.split_why);
		return;
	}
	res->uuid_rotate_pending = false;	/* connected again first */
	res->wp.lost_inflight = false;
	log_info("sync decision: %s (rule %s; uuids %016llx:%016llx here, "
		 "%016llx:%016llx on the peer)", uuid_decision_name(c.rules.d),
		 c.rules.rule,
		 (unsigned long long)me.u.uuid[UUID_CURRENT],
		 (unsigned long long)me.u.uuid[UUID_BITMAP],
		 (unsigned long long)peer.u.uuid[UUID_CURRENT],
		 (unsigned long long)peer.u.uuid[UUID_BITMAP]);
	if (c.split) {
		if (c.both_discard)
			log_err("split brain: both nodes were connected with "
				"--discard-my-data; only the side whose changes "
				"are to be dropped may be");
		log_warn("split brain: %s (rule %s)",
			 uuid_decision_name(c.resolved.d), c.resolved.rule);
		if (c.resolved.d != UD_SPLIT_BRAIN)	/* split_brain() runs it otherwise */
			resource_post(res, SM_ACT_HOOK_SPLIT_BRAIN);
		resource_commit(res, "split-brain-detected");
	}
	{
		struct uuid_result before = c.split ? c.resolved : c.rules;

		if (c.d.d != before.d)
			log_info("sync decision: %s (rule %s, over %s)",
				 uuid_decision_name(c.d.d), c.d.rule, before.rule);
	}
	switch (c.act) {
	case SM_CONN_SPLIT_BRAIN:
		split_brain(res, c.split_why);
		return;
	case SM_CONN_NO_WHOLE_COPY:
		no_whole_copy(res);
		return;
	case SM_CONN_SELF_NO_SOURCE:
	case SM_CONN_PEER_NO_SOURCE:
		refuse_direction(res, ps, &c);
		return;
	case SM_CONN_UNRELATED:
		log_err("the peer holds unrelated data (no common generation): "
			"refusing to connect; 'create-md --force' one side to "
			"start it over");
		resource_step(res, SM_EV_CONN, SM_CONN_EV_REFUSE);
		link_disconnect(res->link, "unrelated data");
		fencing_peer_unsettled(res);
		resource_commit(res, "unrelated-data");
		return;
	case SM_CONN_SOURCE:
		peer_become_source(res, c.full);
		resource_post(res, c.full ? SM_ACT_START_RESYNC : SM_ACT_BITMAP_XCHG);
		break;
	case SM_CONN_TARGET:
		peer_become_target(res, ps, c.full);
		if (!c.full)
			resource_post(res, SM_ACT_BITMAP_XCHG);
		break;
	default:
		resource_step(res, SM_EV_REPL, SM_REPL_IN_SYNC);
		break;
	}
	if (c.self_uptodate) {
		log_info("disk Consistent -> UpToDate: the peer holds no newer "
			 "generation");
		resource_step(res, SM_EV_DISK, SM_DISK_PEER_NO_NEWER);
	}
	if (c.peer_uptodate)
		resource_step_peer(res, SM_PEER_DISK, ROLE_UNKNOWN, DS_UPTODATE,
				   false);
	res->discard_my_data = false;
	resource_step(res, SM_EV_CONN, SM_CONN_EV_HANDSHAKE);
	resource_post(res, SM_ACT_SEND_STATE);	/* the decision's STATE */
	/* Held writes may go on once the peer gets everything from here. */
	if (c.act != SM_CONN_TARGET) {
		writepath_held_generation(res);
		fencing_peer_back(res);
	} else {
		fencing_peer_back_as_source(res);
	}
	resource_post(res, SM_ACT_RETRY);	/* writes that waited for the handshake */
	fencing_peer_disk_seen(res);
	resource_commit(res, "connected");
}

void peer_adopt_uuid(struct resource *res, const struct frame_state *ps)
{
	res->meta.sb.uuid[UUID_CURRENT] = ps->uuid[UUID_CURRENT];
	res->meta.sb.uuid[UUID_BITMAP] = 0;
	res->meta.sb.uuid[UUID_HISTORY1] = ps->uuid[UUID_HISTORY1];
	res->meta.sb.uuid[UUID_HISTORY2] = ps->uuid[UUID_HISTORY2];
	res->meta.sb.flags |= MDF_CONSISTENT;
	res->meta.sb.flags &= ~(MDF_OUTDATED | MDF_GIVEN_UP);
	/* A Primary SyncTarget keeps the crashed-primary mark: its writes
	 * go on, and a crash must still resync its activity log (as
	 * peer_source_synced keeps it on a Primary source). */
	if (res->st.role != ROLE_PRIMARY)
		res->meta.sb.flags &= ~MDF_CRASHED_PRIMARY;
	bitmap_clear_all(&res->oos);
	resource_post(res, SM_ACT_WRITE_SB);
}

/* The peer's disk failed or was detached while connected: it holds no
 * data any more. Everything is out of sync (its disk, if it comes back,
 * is resynced in full), a Primary starts a new generation at its next
 * write, and a resync or verify with it stops. */
static void peer_disk_lost(struct resource *res)
{
	log_warn("the peer's disk is %s: it no longer counts as UpToDate; "
		 "every block is marked out of sync for it",
		 disk_state_name(res->st.peer_disk));
	if (resource_has_disk(res) && res->st.disk_state == DS_UPTODATE) {
		bitmap_mark_all(&res->oos);
		/* Not while a new generation is being made durable (held
		 * writes released at the handshake): the peer lacks it, and
		 * those writes wait only for it (sim seed 504 --down-power:
		 * the peer's Diskless STATE came in the same instant, and
		 * the released writes completed with a rotation pending). */
		if (res->st.role == ROLE_PRIMARY && res->meta.enabled &&
		    !res->wp.gen_hold)
			res->uuid_rotate_pending = true;
		diskless_primary_generation(res);
	}
	if (res->st.repl != RS_OFF && res->st.repl != RS_ESTABLISHED) {
		log_warn("%s stopped: the peer has no disk",
			 repl_state_name(res->st.repl));
		resource_step(res, SM_EV_REPL, SM_REPL_DISK_GONE);
	}
	resource_retry_reads(res);
	resource_post(res, SM_ACT_RETRY);
	resource_commit(res, "peer-disk-failed");
}

/* The peer attached a disk (Inconsistent until synced) while this one is
 * Consistent or Outdated: it asked for nothing, because it asks only an
 * UpToDate peer. This image is the only one there is, so it is the
 * source, as a new handshake would decide (by_disk_states); a Consistent
 * disk is UpToDate from here, as settle_disk_states makes a source. */
static void sync_attached_peer(struct resource *res)
{
	if (res->st.disk_state == DS_CONSISTENT) {
		log_info("disk Consistent -> UpToDate: the peer attached a disk "
			 "that holds nothing yet");
		resource_step(res, SM_EV_DISK, SM_DISK_PEER_NO_NEWER);
	}
	log_info("the peer attached a disk: full resync from here");
	peer_become_source(res, true);
	resource_post(res, SM_ACT_START_RESYNC);
	resource_commit(res, "resync-started");
}

static void on_state(struct resource *res, const uint8_t *payload, uint32_t len)
{
	struct frame_state ps;
	bool first = !res->peer.state_received;
	bool had_disk = !first && sm_disk_usable(res->st.peer_disk);
	bool attached = !first && !had_disk, ahead = false;
	unsigned acts;

	if (frame_parse_state(payload, len, &ps) < 0) {
		link_drop(res->link, "malformed STATE");
		return;
	}
	res->peer.state_received = true;
	res->peer.state = ps;
	resource_step_peer(res, SM_PEER_STATE, (enum role)ps.role,
			   (enum disk_state)ps.disk, ps.flags & FRAME_STATE_F_PAUSED);
	if (had_disk && !sm_disk_usable(res->st.peer_disk))
		peer_disk_lost(res);
	/* The Primary's protocol is the pair's: a Secondary shows it. */
	if (ps.role == ROLE_PRIMARY && res->st.role != ROLE_PRIMARY)
		res->protocol = (char)ps.protocol;
	if (first) {
		decide(res, &ps);
		peer_note_state(res);
		return;
	}
	if (res->st.repl == RS_ESTABLISHED) {
		diskless_primary_generation(res);	/* promoted without a disk */
		follow_exposed(res, &ps);
	}
	{
		struct sm_side me, them;
		struct sm_view v;

		sides_of(res, &ps, &me, &them);
		resource_view(res, &v);
		ahead = attached && sm_attached_ahead(&me, &them, tiebreak_of(res));
		acts = sm_live(&v, ps.flags, attached,
			       sm_incomplete(&me, &them) || ahead);
	}
	if (acts & SM_LIVE_ADOPT_UUID) {
		log_info("the peer started a new generation over blank disks: "
			 "adopting it, no initial sync");
		peer_adopt_uuid(res, &ps);
		resource_step(res, SM_EV_DISK, SM_DISK_NEW_DATA);
	}
	if (acts & SM_LIVE_VERIFY_T)
		resource_step(res, SM_EV_REPL, SM_REPL_VERIFY_T);
	else if (acts & SM_LIVE_VERIFY_END)
		resource_step(res, SM_EV_REPL, SM_REPL_VERIFY_DONE);
	verify_peer_promoted(res);
	if (acts & SM_LIVE_REFUSE_SOURCE) {
		log_err("the peer asked to be resynced from this disk, which is "
			"%s: refusing (it holds no data to give)",
			disk_state_name(res->st.disk_state));
		link_drop(res->link, "invalidate toward a disk that is not UpToDate");
		resource_commit(res, NULL);
		return;
	}
	if (acts & SM_LIVE_SOURCE_BITMAP) {
		log_info("the peer invalidated the blocks in its bitmap: "
			 "bitmap resync from here");
		peer_become_source(res, false);
		resource_post(res, SM_ACT_BITMAP_XCHG);
	}
	if (acts & (SM_LIVE_FULL_RESYNC | SM_LIVE_FULL_RESYNC_REFUSED)) {
		log_info("the peer invalidated its disk: full resync from here");
		peer_start_resync(res, true, NULL, 0);	/* or logs its refusal */
	} else if (acts & SM_LIVE_ATTACHED_INCOMPLETE) {
		log_err("the peer attached a disk, not syncing it: %s",
			ahead ? attached_ahead_why : no_whole_copy_why);
	} else if (acts & SM_LIVE_SYNC_ATTACHED) {
		sync_attached_peer(res);
	}
	if (acts & SM_LIVE_TARGET) {
		/* The peer was promoted over this disk: it syncs us. */
		peer_become_target(res, &ps, true);
	}
	resource_step(res, SM_EV_REPL, SM_REPL_PAUSE);
	if (res->st.repl == RS_SYNC_SOURCE || res->st.repl == RS_PAUSED_SYNC_S)
		resource_post(res, SM_ACT_PUMP_RESYNC);
	if ((res->st.repl == RS_SYNC_TARGET || res->st.repl == RS_PAUSED_SYNC_T) &&
	    ps.dirty_bytes > res->rs.total_bytes)
		res->rs.total_bytes = ps.dirty_bytes;
	if (acts & SM_LIVE_SPLIT_BRAIN) {
		split_brain(res, "both nodes are Primary");
		return;
	}
	fencing_peer_disk_seen(res);
	resource_commit(res, "peer-changed");
}

/* ---- link callbacks --------------------------------------------------- */

static void peer_up(void *owner)
{
	struct resource *res = owner;

	res->peer.state_received = false;
	res->peer.diskless_gen = false;
	resource_step(res, SM_EV_REPL, SM_REPL_LINK_UP);
	bmx_stop(res);
	res->peer.state_flags_pending = 0;
	resource_post(res, SM_ACT_SEND_STATE);	/* the handshake's */
	resource_commit(res, NULL);
}

static void peer_down(void *owner, const char *why)
{
	struct resource *res = owner;

	res->peer.state_received = false;
	res->peer.done_pending = false;	/* its RS_DONE belongs to the old link */
	resource_step_peer(res, SM_PEER_GONE, ROLE_UNKNOWN, DS_DUNKNOWN, false);
	resource_step(res, SM_EV_REPL, SM_REPL_LINK_DOWN);
	bmx_stop(res);
	resource_step(res, SM_EV_CONN, SM_CONN_EV_LINK_DOWN);
	/* A Primary that now writes what the peer will lack starts a new
	 * generation first: at its first such write (writepath), so a
	 * Primary kept frozen by fencing never diverges on paper. */
	if (res->st.role == ROLE_PRIMARY && res->meta.enabled && !res->stopping &&
	    !res->wp.gen_hold)	/* the peer lacks that one too */
		res->uuid_rotate_pending = true;
	/* Fencing first: under resource-and-stonith I/O is frozen before the
	 * write path settles what the peer lacks, so nothing it releases or
	 * retries completes as a lone write. */
	fencing_peer_lost(res);
	writepath_peer_lost(res);
	rolereq_peer_lost(res);	/* after the freeze: it may promote nothing */
	if (!res->st.io_frozen)
		writepath_lone_generation(res);
	receiver_peer_lost(res);
	leave_receiver_idle(res);	/* a clean stop under way ends here */
	resync_peer_lost(res);
	remote_read_peer_lost(res);
	resource_retry_reads(res);	/* reads of what never came now fail */
	resource_commit(res, "disconnected");
}

static bool frame_is_stream(uint16_t type)
{
	return type == FRAME_DATA || type == FRAME_TRIM || type == FRAME_ZERO ||
	       type == FRAME_BARRIER || type == FRAME_RS_DATA ||
	       type == FRAME_RS_ZERO || type == FRAME_RS_CSUM ||
	       type == FRAME_V_REQ || type == FRAME_READ_REQ;
}

static bool is_target(const struct resource *res)
{
	return res->st.repl == RS_SYNC_TARGET || res->st.repl == RS_PAUSED_SYNC_T;
}

static void peer_frame(void *owner, const struct frame_hdr *h,
		       const uint8_t *payload, uint8_t *buf)
{
	struct resource *res = owner;

	if (h->type == FRAME_STATE) {
		on_state(res, payload, h->payload_len);
		return;
	}
	if (!res->peer.state_received) {
		if (buf)
			bufpool_put(&res->pool, buf, h->length);
		link_drop(res->link, "frame before STATE");
		return;
	}
	if (frame_is_stream(h->type)) {
		bool rs = h->type == FRAME_RS_DATA || h->type == FRAME_RS_ZERO ||
			  h->type == FRAME_RS_CSUM;
		bool src = res->st.repl == RS_SYNC_SOURCE ||
			   res->st.repl == RS_PAUSED_SYNC_S;
		bool ok;

		/* Resync data goes to a target, Primary or not; application
		 * writes to a Secondary, also while it is the source of a
		 * Primary SyncTarget's resync. */
		if (h->type == FRAME_READ_REQ)
			ok = res->st.role == ROLE_SECONDARY;
		else if (!resource_has_disk(res))
			ok = true;	/* refused by the receiver, with errors */
		else if (h->type == FRAME_V_REQ)	/* also promoted since */
			ok = res->st.repl == RS_VERIFY_T;
		else if (rs)
			ok = is_target(res);
		else
			ok = res->st.role == ROLE_SECONDARY &&
			     (res->st.repl == RS_ESTABLISHED || is_target(res) ||
			      res->st.repl == RS_VERIFY_T ||
			      (src && res->st.peer_role == ROLE_PRIMARY));

		if (!ok) {
			if (buf)
				bufpool_put(&res->pool, buf, h->length);
			link_drop(res->link, "write stream frame this node cannot take "
				  "in its current state");
			return;
		}
		if (h->type == FRAME_DATA)
			res->rx.data_received_bytes += h->length;
		receiver_frame(res, h, payload, buf);
		return;
	}
	switch (h->type) {
	case FRAME_RECV_ACK:
	case FRAME_WRITE_ACK:
	case FRAME_BARRIER_ACK:
		writepath_ack(res, h->type, h->id, frame_status(h));
		return;
	case FRAME_RS_ACK:
		resync_ack(res, h->id, h->flags & FRAME_F_SAME,
			   h->flags & FRAME_F_FAILED);
		return;
	case FRAME_RS_NEED:
		resync_need(res, h->id);
		return;
	case FRAME_RS_PRIO:
		if (res->st.repl == RS_SYNC_SOURCE || res->st.repl == RS_PAUSED_SYNC_S)
			resync_prio(res, h->offset, h->length);
		return;
	case FRAME_V_REPLY:
		/* Also after a verify stopped (the peer's disk failed): the
		 * replies of its chunks still in flight free them. */
		verify_reply(res, h->id, h->offset);
		return;
	case FRAME_BITMAP:
	case FRAME_BITMAP_DONE:
		bmx_frame(res, h, payload);
		return;
	case FRAME_READ_REPLY:
		remote_read_reply(res, h, buf);
		return;
	case FRAME_ROLE_REQ:
	case FRAME_ROLE_REPLY:
		rolereq_frame(res, h);
		return;
	case FRAME_FLUSHED:
		writepath_peer_flushed(res);
		return;
	case FRAME_RS_DONE:
		if (!is_target(res)) {
			link_drop(res->link, "RS_DONE while not SyncTarget");
			return;
		}
		peer_target_synced(res);
		return;
	default:
		link_drop(res->link, "unexpected frame");
	}
}

const struct link_ops peer_link_ops = {
	.up = peer_up,
	.down = peer_down,
	.frame = peer_frame,
	.ready = receiver_frame_ready,	/* back-pressure: see receiver.c */
};
