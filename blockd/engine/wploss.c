/* wploss.c - the write path when the peer is lost: writes a peer may
 * lack are held under fencing (released or failed when fencing answers),
 * marked out of sync otherwise; the lone generation those writes start;
 * the oldest write not yet acknowledged (for lag); the activity log let
 * go of with the disk. The write path itself is writepath.c.
 */
#include "blockd/engine/writepath.h"
#include "blockd/engine/writepath_priv.h"

#include <errno.h>

#include "blockd/engine/resource.h"
#include "common/log.h"

/* Under resource-and-stonith a Primary that lost its peer must not
 * complete a write the peer may lack until fencing says the peer cannot
 * take over: such writes are held here, and released by
 * writepath_release_held() when I/O resumes. */
static bool hold_on_loss(const struct resource *res)
{
	/* Held only while fencing froze I/O (fencing_peer_lost ran first):
	 * unfreezing releases them. A Primary that does not fence (its
	 * data was on the peer) never unfreezes, so it holds nothing. */
	if (res->wp.gen_hold)
		return true;
	return res->cfg && res->cfg->fencing == FENCING_RESOURCE_AND_STONITH &&
	       res->st.io_frozen && res->st.role == ROLE_PRIMARY &&
	       !res->stopping;
}

/* Only legs the reply waits for are held: in protocol B a write whose
 * RECV_ACK came has its answer and completes at its local leg (held, it
 * completed anyway and stayed listed: sim seed 314 released it again
 * after its slot carried the next write). */
static void release_or_hold(struct resource *res, struct blk_req *r, uint8_t legs)
{
	uint8_t hold = legs & r->needed & r->pending;

	/* A write completed alone waits for its new generation, whatever
	 * its protocol's reply waits for. */
	if (res->wp.gen_hold && wp_is_write(r)) {
		r->needed |= LEG_GEN;
		r->pending |= LEG_GEN;
		hold |= LEG_GEN;
	}
	if (hold_on_loss(res) && hold) {
		r->pending &= (uint8_t)~(legs & ~hold);
		if (!r->held_legs) {
			r->held_next = res->wp.held;
			res->wp.held = r;
		}
		r->held_legs |= hold;
		return;
	}
	r->pending &= (uint8_t)~legs;
	wp_req_check_done(res, r);
}

void writepath_peer_lost(struct resource *res)
{
	struct blk_req *flushes = res->wp.flushes;
	/* A Primary SyncTarget loses its only good copy, a Primary without a
	 * disk its only copy: the writes in flight fail (a resync brings the
	 * source's blocks back). */
	bool fail = res->st.role == ROLE_PRIMARY && wp_data_on_peer(res);

	/* Writes in flight that complete here alone wait for the new
	 * generation that records them (under a freeze: at its end). */
	if (res->st.role == ROLE_PRIMARY && !fail && !res->st.io_frozen &&
	    res->wp.tl_tail_seq != res->wp.tl_next_seq) {
		res->wp.lost_inflight = true;
		writepath_lone_generation(res);
	}
	/* Everything the peer may not have written is out of sync. */
	for (uint64_t seq = res->wp.tl_tail_seq; seq < res->wp.tl_next_seq; seq++) {
		struct tl_entry *e = &res->wp.tl[seq % TL_SIZE];
		struct blk_req *r = e->req;

		if (e->seq != seq)
			continue;
		bitmap_mark_range(&res->oos, e->off, e->len);
		if (res->st.role == ROLE_PRIMARY && !fail)	/* kept alone */
			res->wp.lost_inflight = true;
		wp_tl_free(res, e);
		if (r)
			r->alone = true;
		if (r && (fail || r->local_failed)) {
			r->err = -EIO;
			r->pending &= (uint8_t)~(LEG_RECV | LEG_WRITTEN);
			wp_req_check_done(res, r);
		} else if (r) {
			release_or_hold(res, r, LEG_RECV | LEG_WRITTEN);
		}
	}
	res->wp.tl_tail_seq = res->wp.tl_next_seq;
	wp_unflushed_mark(res);
	res->wp.sync_pending = false;
	res->wp.flush_timed = false;
	res->wp.flush_took_ms = 0;	/* the next peer's disk is measured anew */
	res->wp.flushes = NULL;
	while (flushes) {
		struct blk_req *r = flushes;

		flushes = r->next;
		r->next = NULL;
		if (!resource_has_disk(res) || fail) {	/* flushed nowhere */
			r->err = -EIO;
			r->pending &= (uint8_t)~LEG_WRITTEN;
			wp_req_check_done(res, r);
		} else {
			release_or_hold(res, r, LEG_WRITTEN);
		}
	}
	res->wp.epoch_close_pending = false;
	writepath_retry_waiting(res);
}

/* A new generation for writes the peer lacks: they may not reply before
 * it is durable (writepath_meta_done releases them), or a crash would
 * forget it (the assertion in req_check_done). */
static void new_generation_hold(struct resource *res)
{
	meta_uuid_new_current(&res->meta);
	res->wp.gen_ticket = meta_write_sb(&res->meta);
	res->wp.gen_hold = !wp_gen_durable(res);
}

/* DRBD starts a new generation as soon as a Primary loses its peer's
 * disk; here it waits for the first write the peer will lack (must_wait),
 * so a brief loss without writes needs no resync. Writes that were in
 * flight at the loss are such writes too, already written: without a
 * new generation a peer promoted meanwhile would make this node its
 * target on reconnect, rolling back writes it acknowledged, where both
 * changed is a split brain to report (t_splitbrain_inflight). Under a
 * freeze it waits until the held writes are released. */
void writepath_lone_generation(struct resource *res)
{
	if (!res->wp.lost_inflight || !res->uuid_rotate_pending ||
	    wp_peer_live(res) || res->st.role != ROLE_PRIMARY || !res->meta.enabled)
		return;
	res->wp.lost_inflight = false;
	res->uuid_rotate_pending = false;
	new_generation_hold(res);
}

/* Writes held under the freeze were written here only. Released because
 * the peer came back and syncs from here, they are acknowledged before
 * the peer has them; until its resync ends the peer must not count as
 * holding what this Primary acknowledged. Its own superblock says so
 * once its decision is durable, but a power loss there before that
 * leaves it with its old record (MDF_HOLDS_ACKED: the source of this
 * node's activity log after a crash here), which would roll these
 * writes back (sim seed 2784 --relapse). A new generation here, durable
 * before they reply, wins that handshake instead: the peer's current
 * UUID is then this node's bitmap UUID. */
void writepath_held_generation(struct resource *res)
{
	if (!res->wp.held || res->st.role != ROLE_PRIMARY ||
	    !res->meta.enabled || !resource_has_disk(res))
		return;
	log_info("held writes are released before the peer has them: a new "
		 "generation");
	new_generation_hold(res);
}

void writepath_meta_done(struct resource *res)
{
	if (!res->wp.gen_hold || !wp_gen_durable(res))
		return;
	res->wp.gen_hold = false;
	if (!res->st.io_frozen)
		writepath_release_held(res);
}

void writepath_release_held(struct resource *res)
{
	struct blk_req *list = res->wp.held;

	if (res->wp.gen_hold)
		return;		/* writepath_meta_done, once it is durable */
	res->wp.held = NULL;
	while (list) {
		struct blk_req *r = list;

		list = r->held_next;
		r->held_next = NULL;
		r->pending &= (uint8_t)~r->held_legs;
		r->held_legs = 0;
		/* Held for the peer it may not have reached, written only to
		 * a disk that failed since: no copy anyone reads holds it. */
		if (!resource_has_disk(res) && !r->err)
			r->err = -EIO;
		wp_req_check_done(res, r);
	}
}

/* The age of the oldest write the peer has not acknowledged is the
 * replication lag status shows (blockd/daemon/status.c). */
bool writepath_oldest_unacked(const struct resource *res, uint64_t *sent_ms)
{
	for (uint64_t seq = res->wp.tl_tail_seq; seq < res->wp.tl_next_seq; seq++) {
		const struct tl_entry *e = &res->wp.tl[seq % TL_SIZE];

		if (e->seq == seq) {
			*sent_ms = e->sent_ms;
			return true;
		}
	}
	return false;
}

uint64_t writepath_acked_unconfirmed(const struct resource *res)
{
	uint64_t n = 0;

	for (uint64_t seq = res->wp.tl_tail_seq; seq < res->wp.tl_next_seq; seq++) {
		const struct tl_entry *e = &res->wp.tl[seq % TL_SIZE];

		if (e->seq == seq && !e->req)
			n++;
	}
	return n;
}

/* Shutting down while fencing holds writes: none of them may be
 * acknowledged as written, so each gets an error reply. Writes that never
 * started are failed too. */
void writepath_fail_held(struct resource *res, int err)
{
	unsigned n = 0;

	while (res->wp.waiting) {
		struct blk_req *r = res->wp.waiting;

		res->wp.waiting = r->next;
		if (!res->wp.waiting)
			res->wp.waiting_tail = NULL;
		r->next = NULL;
		if (r->al_held) {
			al_end(&res->meta.al, r->local.off, r->local.len);
			r->al_held = false;
		}
		n++;
		r->done(r, err);
	}
	for (struct blk_req *r = res->wp.held; r; r = r->held_next) {
		r->err = err;
		n++;
	}
	writepath_release_held(res);	/* completes them with r->err */
	if (n)
		log_warn("shutting down: %u write%s held back were failed, not "
			 "acknowledged", n, n == 1 ? "" : "s");
}

/* The disk was detached: its activity log is gone with it, so the
 * references requests and transfer log entries hold on it are dropped
 * without being released into a log that no longer exists. */
void writepath_forget_al(struct resource *res)
{
	for (struct blk_req *r = res->wp.active; r; r = r->next)
		r->al_held = false;
	for (struct blk_req *r = res->wp.waiting; r; r = r->next)
		r->al_held = false;
	for (uint64_t seq = res->wp.tl_tail_seq; seq < res->wp.tl_next_seq; seq++)
		res->wp.tl[seq % TL_SIZE].al_held = false;
}
