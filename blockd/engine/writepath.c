/* writepath.c - the Primary's write path: conflicts, epochs, the transfer
 * log and the ack points of protocols A, B and C.
 *
 * A write's life:
 *
 *   submit --conflict/TL full/frozen--> waiting (FIFO) --retry--+
 *     |                                                         |
 *     +--> active: local write + (peer live) DATA frame  <------+
 *            legs LOCAL, SENT, RECV (B), WRITTEN
 *            --needed legs done--> completed (replied to the client)
 *
 * Invariants:
 * - Two overlapping writes are never in flight together: the later waits
 *   until the earlier completed, so it lands in a later epoch and the
 *   Secondary applies them in the same order as this disk did.
 * - An epoch closes once any of its writes was replied to; the next
 *   replicated write is preceded by a BARRIER frame.
 * - A write sent to the peer stays in the transfer log until its
 *   WRITE_ACK; if the peer is lost first, its range is marked out of sync.
 *   From its WRITE_ACK until the peer acknowledges a flushing barrier
 *   its extent stays in the unflushed set: the peer's disk cache may
 *   still lose it (a power loss), so losing the peer marks those extents
 *   out of sync too. The peer sends no WRITE_ACK of a later epoch before
 *   a barrier's ack, so that ack covers every write acknowledged before
 *   it: the whole set is cleared. A client that never flushes would keep
 *   the set growing: writepath_tick sends a flushing barrier of its own
 *   once a second while the set is not empty, or less often where the
 *   peer is slow to complete one (wp_sync_interval_ms).
 * - Requests complete from callbacks only, never inside submit.
 */
#include "blockd/engine/writepath.h"
#include "blockd/engine/writepath_priv.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blockd/engine/resource.h"
#include "common/clock.h"
#include "common/container_of.h"
#include "common/log.h"

int writepath_init(struct resource *res)
{
	res->wp.tl = calloc(TL_SIZE, sizeof(*res->wp.tl));
	if (!res->wp.tl)
		return -ENOMEM;
	res->wp.tl_next_seq = res->wp.tl_tail_seq = 1;
	res->wp.epoch = 1;
	if (res->oos.nbits) {
		uint64_t bytes = res->oos.nbits * BITMAP_BLOCK_BYTES;

		res->wp.unflushed_extents = (bytes + UNFLUSHED_EXTENT_BYTES - 1) /
					    UNFLUSHED_EXTENT_BYTES;
		res->wp.unflushed = calloc((res->wp.unflushed_extents + 63) / 64,
					   sizeof(uint64_t));
		if (!res->wp.unflushed) {
			free(res->wp.tl);
			res->wp.tl = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

void writepath_fini(struct resource *res)
{
	free(res->wp.tl);
	res->wp.tl = NULL;
	free(res->wp.unflushed);
	res->wp.unflushed = NULL;
}

/* The peer acknowledged writing [off, off + len): unflushed there. */
static void unflushed_add(struct resource *res, uint64_t off, uint64_t len)
{
	uint64_t first = off / UNFLUSHED_EXTENT_BYTES;
	uint64_t last = (off + len - 1) / UNFLUSHED_EXTENT_BYTES;

	if (!res->wp.unflushed || !len)
		return;
	for (uint64_t x = first; x <= last && x < res->wp.unflushed_extents; x++)
		res->wp.unflushed[x / 64] |= 1ULL << (x % 64);
	res->wp.unflushed_any = true;
}

/* The peer flushed everything it acknowledged. */
static void unflushed_clear(struct resource *res)
{
	if (!res->wp.unflushed_any)
		return;
	memset(res->wp.unflushed, 0,
	       (res->wp.unflushed_extents + 63) / 64 * sizeof(uint64_t));
	res->wp.unflushed_any = false;
}

/* The peer is gone: what it may have lost from its cache is out of sync. */
void wp_unflushed_mark(struct resource *res)
{
	uint64_t size = res->oos.nbits * BITMAP_BLOCK_BYTES;

	if (!res->wp.unflushed_any)
		return;
	for (uint64_t x = 0; x < res->wp.unflushed_extents; x++) {
		uint64_t off = x * UNFLUSHED_EXTENT_BYTES;

		if (!(res->wp.unflushed[x / 64] & (1ULL << (x % 64))))
			continue;
		bitmap_mark_range(&res->oos, off,
				  off + UNFLUSHED_EXTENT_BYTES > size ?
				  size - off : UNFLUSHED_EXTENT_BYTES);
	}
	unflushed_clear(res);
}

bool wp_is_write(const struct blk_req *r)
{
	return r->local.cmd == DISK_WRITE || r->local.cmd == DISK_TRIM ||
	       r->local.cmd == DISK_ZERO;
}

/* Does the peer receive writes right now? In every connected state where
 * the peer applies our stream: also while a resync toward it is paused
 * and while an online verify runs.
 *
 * This is the resource's view (repl is RS_OFF from peer_down() on), not
 * the socket's: between a socket closing and the deferred down() a write
 * still goes to the transfer log, its frame fails to send, and
 * writepath_peer_lost() settles it with the others (bitmap, or held by
 * fencing). A write never runs local-only before fencing has seen the loss. */
bool wp_peer_live(const struct resource *res)
{
	/* A peer without a usable disk applies nothing: it gets the blocks
	 * by a full resync once it has a disk again. */
	if (res->st.peer_role == ROLE_PRIMARY || res->st.peer_disk == DS_FAILED ||
	    res->st.peer_disk == DS_DISKLESS)
		return false;
	switch (res->st.repl) {
	case RS_ESTABLISHED:
	case RS_SYNC_SOURCE:
	case RS_PAUSED_SYNC_S:
	case RS_VERIFY_S:
	case RS_VERIFY_T:
		return true;
	case RS_SYNC_TARGET:
	case RS_PAUSED_SYNC_T:
		/* A Primary SyncTarget mirrors to its source. */
		return res->st.role == ROLE_PRIMARY;
	default:
		return false;
	}
}

/* Does this Primary's data live only on the peer? A Primary SyncTarget
 * (Inconsistent) or a Primary whose disk failed or was detached. */
bool wp_data_on_peer(const struct resource *res)
{
	return res->st.disk_state == DS_INCONSISTENT || !resource_has_disk(res);
}

/* A Primary whose good data is only on its peer, without that peer: a
 * write must not complete. It could only land here, on a disk the resync
 * will overwrite (or on none), or diverge the generations. While the
 * handshake with the peer runs the write waits; otherwise it fails with
 * EIO (DRBD's on-no-data-accessible io-error). */
static bool primary_without_data(const struct resource *res)
{
	return res->st.role == ROLE_PRIMARY && wp_data_on_peer(res) &&
	       !(wp_peer_live(res) && res->st.peer_disk == DS_UPTODATE);
}

bool writepath_data_on_peer(const struct resource *res)
{
	return res->st.role == ROLE_PRIMARY && wp_data_on_peer(res) &&
	       wp_peer_live(res) && res->st.peer_disk == DS_UPTODATE;
}

static bool handshake_running(const struct resource *res)
{
	return link_is_up(res->link) && res->st.repl == RS_OFF;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

bool writepath_overlaps_active(const struct resource *res, uint64_t off,
			       uint64_t len)
{
	for (const struct blk_req *r = res->wp.active; r; r = r->next)
		if (ranges_overlap(r->local.off, r->local.len, off, len))
			return true;
	return false;
}

static bool tl_full(const struct resource *res)
{
	return res->wp.tl_next_seq - res->wp.tl_tail_seq >= TL_SIZE;
}

/* Must r wait? The activity log check comes last because a pass takes
 * references the write then holds until it completes. */
bool wp_must_wait(struct resource *res, struct blk_req *r)
{
	if (res->st.io_frozen || meta_busy(&res->meta))
		return true;
	if (!wp_is_write(r))
		return false;
	if (primary_without_data(res))
		return handshake_running(res);	/* start() fails it otherwise */
	if (res->uuid_rotate_pending && !wp_peer_live(res)) {
		/* The first write the peer will lack: a new generation,
		 * durable before it starts (meta_busy holds it). */
		res->uuid_rotate_pending = false;
		meta_uuid_new_current(&res->meta);
		meta_write_sb(&res->meta);
		return true;
	}
	if (writepath_overlaps_active(res, r->local.off, r->local.len) ||
	    resync_busy_overlaps(res, r->local.off, r->local.len))
		return true;
	/* Promoted while the old Primary's writes are still applied here:
	 * a new write lands after them (the receiver retries on each). */
	if (receiver_overlaps(res, r->local.off, r->local.len))
		return true;
	/* A Primary SyncTarget writes a block only once it has it, so the
	 * resync can never overwrite the write. */
	if (resync_target_lacks(res, r->local.off, r->local.len) ||
	    (wp_is_write(r) &&
	     resync_target_expected(res, r->local.off, r->local.len)))
		return true;
	if (wp_peer_live(res) && tl_full(res))
		return true;
	if (res->meta.enabled) {
		struct al *al = &res->meta.al;

		if (r->al_held)	/* from an earlier try: re-taken just below */
			al_end(al, r->local.off, r->local.len);
		r->al_held = false;
		if (al_span(al, r->local.off, r->local.len) > al->cap / 2) {
			/* Too wide for the log: covered by the bitmap, its
			 * pages durable before the write starts. */
			r->big = true;
			return !meta_mark_durable(&res->meta, &r->bm_ticket,
						  r->local.off, r->local.len);
		}
		switch (al_begin(al, r->local.off, r->local.len)) {
		case AL_READY:
			r->al_held = true;
			break;
		case AL_WAIT_HELD:
			r->al_held = true;
			meta_al_kick(&res->meta);
			return true;
		case AL_WAIT:
			meta_al_kick(&res->meta);
			return true;
		}
	}
	return false;
}

static void active_add(struct resource *res, struct blk_req *r)
{
	assert(!r->active);
	r->prev = NULL;
	r->next = res->wp.active;
	if (res->wp.active)
		res->wp.active->prev = r;
	res->wp.active = r;
	r->active = true;
}

static void active_del(struct resource *res, struct blk_req *r)
{
	assert(r->active);
	if (r->prev)
		r->prev->next = r->next;
	else
		res->wp.active = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
	r->active = false;
}

/* r's transfer log entry, while the peer has not acknowledged it. */
static struct tl_entry *tl_entry_of(struct resource *res, const struct blk_req *r)
{
	struct tl_entry *e;

	if (!r->seq)
		return NULL;
	e = &res->wp.tl[r->seq % TL_SIZE];
	return e->seq == r->seq ? e : NULL;
}

void wp_tl_free(struct resource *res, struct tl_entry *e)
{
	assert(e->seq && res->wp.pending_writes > 0);
	if (e->al_held) {
		al_end(&res->meta.al, e->off, e->len);
		e->al_held = false;
	}
	e->seq = 0;
	e->req = NULL;
	res->wp.pending_writes--;
	while (res->wp.tl_tail_seq < res->wp.tl_next_seq &&
	       res->wp.tl[res->wp.tl_tail_seq % TL_SIZE].seq == 0)
		res->wp.tl_tail_seq++;
}

/* The superblock with the generation started at the peer's loss is on
 * disk, or there is no disk any more to hold it (the writes then fail). */
bool wp_gen_durable(const struct resource *res)
{
	return meta_sb_durable(&res->meta, res->wp.gen_ticket) ||
	       !res->meta.enabled || !resource_has_disk(res);
}

void wp_req_check_done(struct resource *res, struct blk_req *r)
{
	if (r->pending & r->needed)
		return;
	if (r->active)
		active_del(res, r);
	if (r->al_held) {
		struct tl_entry *e = tl_entry_of(res, r);

		/* In A and B the reply comes before the peer has the write: its
		 * extents stay in the activity log until the entry is settled
		 * (WRITE_ACK, or marked out of sync when the peer is lost), so a
		 * crash before that resyncs them. */
		if (e)
			e->al_held = true;
		else
			al_end(&res->meta.al, r->local.off, r->local.len);
		r->al_held = false;
	}
	if (wp_is_write(r))
		res->wp.app_busy = true;
	if (r->replicated) {
		struct tl_entry *e = tl_entry_of(res, r);

		if (r->epoch == res->wp.epoch && wp_is_write(r))
			res->wp.epoch_close_pending = true;
		if (e)
			e->req = NULL;	/* the entry waits for its ack */
		/* A local failure after the peer got the write: they differ
		 * (a disk that failed is detached and resynced in full). */
		if (r->err && wp_is_write(r) && res->oos.words &&
		    resource_has_disk(res))
			bitmap_mark_range(&res->oos, r->local.off, r->local.len);
	}
	assert(!r->held_legs);	/* never while fencing holds it */
	/* A write the peer may lack is replied to only once the new
	 * generation that says so is durable: else a crash forgets it, and
	 * a peer promoted meanwhile rolls the write back on reconnect. */
	assert(!(r->alone && wp_is_write(r) && !r->err &&
		 res->st.role == ROLE_PRIMARY && res->meta.enabled &&
		 (res->uuid_rotate_pending || !wp_gen_durable(res))));
	r->needed = 0xff;	/* complete once */
	r->pending = 0xff;
	r->done(r, r->err);
	writepath_retry_waiting(res);
}

static void local_done(struct disk_io *io, int err)
{
	struct blk_req *r = container_of(io, struct blk_req, local);
	struct resource *res = r->res;

	if (err == 0 && io->cmd == DISK_WRITE)
		res->written_bytes += io->len;
	if (err < 0 && r->replicated) {
		/* The disk failed it (and is being detached): the peer's
		 * copy is the only one, so the request completes when the
		 * peer has it, or fails without it. */
		r->local_failed = true;
		r->needed |= LEG_WRITTEN;
	} else if (err < 0 && !r->err) {
		r->err = err;
	}
	r->pending &= (uint8_t)~LEG_LOCAL;
	wp_req_check_done(res, r);
}

/* The frame left for the socket, or (err) never will. A failed send only
 * settles the SENT leg: the peer legs stay until the peer's ack or
 * writepath_peer_lost(), which holds them under fencing, so a link dying
 * under a full socket never acknowledges a write the peer lacks. Where the
 * ack point is the hand-over (protocol A), the write is in the bitmap
 * before it is replied to. */
static void frame_sent(struct link_tx *tx, int err)
{
	struct blk_req *r = container_of(tx, struct blk_req, tx);
	struct resource *res = r->res;

	if (err) {
		struct tl_entry *e = tl_entry_of(res, r);

		if (e)
			bitmap_mark_range(&res->oos, e->off, e->len);
	} else if (tx->h.type == FRAME_DATA) {
		res->wp.data_sent_bytes += tx->h.length;
	}
	r->pending &= (uint8_t)~LEG_SENT;
	wp_req_check_done(res, r);
}

static void send_barrier(struct resource *res, struct link_tx *tx, bool flush)
{
	memset(&tx->h, 0, sizeof(tx->h));
	tx->h.type = FRAME_BARRIER;
	tx->h.id = res->wp.epoch;
	tx->h.flags = flush ? FRAME_F_FLUSH : 0;
	tx->payload = NULL;
	if (!flush)
		tx->sent = NULL;
	else if (!res->wp.flush_timed) {
		res->wp.flush_epoch = res->wp.epoch;
		res->wp.flush_sent_ms = clock_mono_ms();
		res->wp.flush_timed = true;
	}
	link_send(res->link, tx);
	res->wp.epoch++;
	res->wp.epoch_close_pending = false;
	res->wp.epoch_has_writes = false;
}

static void sync_sent(struct link_tx *tx, int err)
{
	struct resource *res = container_of(tx, struct resource, wp.sync_tx);

	res->wp.sync_queued = false;
	if (err)
		res->wp.sync_pending = false;
}

void writepath_peer_flushed(struct resource *res)
{
	if (res->st.role != ROLE_PRIMARY)
		return;
	log_info("the peer %s is stopping and flushed everything it "
		 "acknowledged: only writes still in flight are resynced",
		 res->peer_name);
	/* Its WRITE_ACKs all came before this frame: every write they
	 * acknowledged is durable there, as after a flushing barrier. */
	unflushed_clear(res);
	res->wp.pos_flushed_bytes = res->wp.pos_written_bytes;
	res->wp.pos_flushed_ms = clock_coarse_ms();
}

void writepath_tick(struct resource *res, uint64_t now_ms)
{
	struct writepath *wp = &res->wp;

	if (res->st.role != ROLE_PRIMARY || !wp->unflushed_any || !wp_peer_live(res) ||
	    wp->sync_queued || wp->sync_pending ||
	    now_ms - wp->sync_last_ms < wp_sync_interval_ms(wp->flush_took_ms))
		return;
	wp->sync_last_ms = now_ms;
	wp->sync_queued = wp->sync_pending = true;
	wp->sync_tx.sent = sync_sent;
	send_barrier(res, &wp->sync_tx, true);
}

static void fail_deferred_done(struct loop_op *op, int err)
{
	struct blk_req *r = container_of(op, struct blk_req, local.op);

	r->done(r, err);
}

static void start_flush(struct resource *res, struct blk_req *r)
{
	bool local = resource_has_disk(res);

	r->pending = local ? LEG_LOCAL : 0;
	if (wp_peer_live(res)) {
		r->replicated = true;
		r->epoch = res->wp.epoch;
		r->tx.sent = frame_sent;
		r->pending |= LEG_SENT;
		if (res->protocol != 'A' || !local) {
			r->pending |= LEG_WRITTEN;
			r->next = res->wp.flushes;
			res->wp.flushes = r;
		}
		send_barrier(res, &r->tx, true);
		res->wp.sync_last_ms = clock_coarse_ms();	/* no extra one due */
	}
	r->needed = r->pending;
	if (local)
		disk_submit(&res->disk, &r->local);
	else if (!r->replicated)	/* nothing anywhere to flush */
		loop_defer(res->loop, &r->local.op, fail_deferred_done, -EIO);
}

static void start_write(struct resource *res, struct blk_req *r)
{
	struct disk_io *io = &r->local;
	struct frame_hdr *h = &r->tx.h;
	bool local = resource_has_disk(res);

	active_add(res, r);
	r->pending = local ? LEG_LOCAL : 0;
	r->needed = r->pending;
	/* Too wide for the activity log (a big TRIM): must_wait had its
	 * range marked out of sync on disk before it starts instead; it is
	 * cleared again once the peer has it. */
	/* A peer without TRIM/ZERO frames gets those ranges by resync. */
	if (wp_peer_live(res) && io->cmd != DISK_WRITE &&
	    !(link_features(res->link) & FRAME_FEAT_TRIM_ZERO)) {
		bitmap_mark_range(&res->oos, io->off, io->len);
	} else if (wp_peer_live(res)) {
		struct tl_entry *e;

		if (res->wp.epoch_close_pending)
			send_barrier(res, &r->barrier_tx, false);
		r->seq = res->wp.tl_next_seq++;
		e = &res->wp.tl[r->seq % TL_SIZE];
		/* must_wait keeps the log from wrapping onto a live entry. */
		assert(e->seq == 0 && r->seq - res->wp.tl_tail_seq < TL_SIZE);
		e->seq = r->seq;
		e->off = io->off;
		e->len = io->len;
		e->req = r;
		e->big = r->big;
		e->sent_ms = clock_coarse_ms();
		e->recv_acked = false;
		res->wp.pending_writes++;

		memset(h, 0, sizeof(*h));
		h->type = io->cmd == DISK_WRITE ? FRAME_DATA :
			  io->cmd == DISK_TRIM ? FRAME_TRIM : FRAME_ZERO;
		h->id = r->seq;
		h->offset = io->off;
		h->length = io->len;
		/* A Primary SyncTarget's source holds the only copy of this
		 * write on a disk that counts: durable there before the
		 * reply, so that the source losing power does not take an
		 * acknowledged write with it (it resyncs this disk on return,
		 * over the copy here; sim seed 215 --strict). */
		if ((io->flags & DISK_F_FUA) ||
		    (res->st.disk_state == DS_INCONSISTENT && resource_has_disk(res)))
			h->flags |= FRAME_F_FUA;
		if (io->flags & DISK_F_NO_HOLE)
			h->flags |= FRAME_F_NO_HOLE;
		if (res->protocol == 'B')
			h->flags |= FRAME_F_WANT_RECV_ACK;
		h->payload_len = h->type == FRAME_DATA ? io->len : 0;
		r->tx.payload = h->type == FRAME_DATA ? io->buf : NULL;
		r->tx.sent = frame_sent;
		r->replicated = true;
		r->epoch = res->wp.epoch;
		res->wp.epoch_has_writes = true;
		r->pending |= LEG_SENT | LEG_WRITTEN;
		r->needed |= LEG_SENT;
		if (res->protocol == 'B') {
			r->pending |= LEG_RECV;
			r->needed |= LEG_RECV;
		}
		/* A Primary SyncTarget's source holds the only good copy next
		 * to this write, a Primary without a disk the only one: it
		 * completes at the peer's WRITE_ACK, so losing the peer never
		 * leaves an acknowledged write that exists nowhere or that the
		 * resync would overwrite. */
		if (res->protocol == 'C' || wp_data_on_peer(res))
			r->needed |= LEG_WRITTEN;
		link_send(res->link, &r->tx);
	} else if (res->oos.words) {
		bitmap_mark_range(&res->oos, io->off, io->len);
	}
	if (local)
		disk_submit(&res->disk, io);
}

static void start(struct resource *res, struct blk_req *r)
{
	r->err = 0;
	r->seq = 0;
	r->replicated = false;
	r->alone = false;
	if (wp_is_write(r) && primary_without_data(res)) {
		log_err("write of %u bytes at %llu failed: this Primary's disk is "
			"Inconsistent and its peer is gone",
			r->local.len, (unsigned long long)r->local.off);
		loop_defer(res->loop, &r->local.op, fail_deferred_done, -EIO);
		return;
	}
	if (r->local.cmd == DISK_FLUSH)
		start_flush(res, r);
	else
		start_write(res, r);
}

/* Waiting requests a later write may pass at most (bounds the scans). */
#define WP_OVERTAKE_SCAN 64

/* May a later write pass x, waiting? The queue is FIFO except for one
 * case: x is a write that waits only for an activity-log transaction and
 * already holds its extents in it (al_held), so nothing that passes it
 * can take its slots. Then writes to hot extents go on while cold ones
 * wait, and cold ones behind the first stage their extents into the same
 * transaction instead of one transaction each. A FLUSH never passes and
 * is never passed; nor is a write waiting for anything else (a free slot,
 * its bitmap pages: al_held false). */
static bool passable(const struct blk_req *x)
{
	return wp_is_write(x) && x->al_held;
}

/* May write w start ahead of the requests waiting before until (the whole
 * queue when NULL)? Only where its range overlaps none of theirs: no
 * write overtakes one it may overlap. w must still pass wp_must_wait. */
static bool may_overtake(const struct resource *res, const struct blk_req *w,
			 const struct blk_req *until)
{
	unsigned n = 0;

	if (!wp_is_write(w))
		return false;
	for (const struct blk_req *x = res->wp.waiting; x != until; x = x->next)
		if (++n > WP_OVERTAKE_SCAN || !passable(x) ||
		    ranges_overlap(x->local.off, x->local.len, w->local.off,
				   w->local.len))
			return false;
	return true;
}

void writepath_submit(struct resource *res, struct blk_req *r)
{
	r->local.done = local_done;
	r->next = r->prev = NULL;
	r->active = false;
	r->al_held = false;
	r->big = false;
	r->bm_ticket = 0;
	if ((res->wp.waiting && !may_overtake(res, r, NULL)) ||
	    wp_must_wait(res, r)) {
		if (res->wp.waiting_tail)
			res->wp.waiting_tail->next = r;
		else
			res->wp.waiting = r;
		res->wp.waiting_tail = r;
		return;
	}
	start(res, r);
}

void writepath_retry_waiting(struct resource *res)
{
	struct blk_req *prev = NULL, *r = res->wp.waiting;
	unsigned n = 0;

	while (r) {
		if ((!prev || may_overtake(res, r, r)) && !wp_must_wait(res, r)) {
			if (prev)
				prev->next = r->next;
			else
				res->wp.waiting = r->next;
			if (res->wp.waiting_tail == r)
				res->wp.waiting_tail = prev;
			r->next = NULL;
			start(res, r);
			/* Starting may complete or fail requests, the waiting
			 * ones too: scan again from the head. */
			prev = NULL;
			r = res->wp.waiting;
			n = 0;
			continue;
		}
		if (!passable(r) || ++n >= WP_OVERTAKE_SCAN)
			break;	/* nothing behind it may pass it */
		prev = r;
		r = r->next;
	}
}

void writepath_ack(struct resource *res, uint16_t type, uint64_t id, int64_t err)
{
	struct tl_entry *e;

	if (type == FRAME_BARRIER_ACK) {
		struct blk_req **pp = &res->wp.flushes;

		while (*pp) {
			struct blk_req *r = *pp;

			if (r->epoch > id) {
				pp = &r->next;
				continue;
			}
			*pp = r->next;
			r->next = NULL;
			/* The peer's flush failed (its disk is being detached):
			 * without a disk here nothing is durable anywhere. */
			if (err && !resource_has_disk(res))
				r->err = -EIO;
			r->pending &= (uint8_t)~LEG_WRITTEN;
			wp_req_check_done(res, r);
		}
		res->wp.pos_flushed_bytes = res->wp.pos_written_bytes;
		res->wp.pos_flushed_ms = clock_coarse_ms();
		if (res->wp.flush_timed && id >= res->wp.flush_epoch) {
			uint64_t now = clock_mono_ms();

			res->wp.flush_took_ms = now > res->wp.flush_sent_ms
						? now - res->wp.flush_sent_ms : 0;
			res->wp.flush_timed = false;
		}
		res->wp.sync_pending = false;
		if (!err)
			unflushed_clear(res);
		return;
	}
	e = &res->wp.tl[id % TL_SIZE];
	if (id == 0 || e->seq != id) {
		link_drop(res->link, "acknowledgement for an unknown write");
		return;
	}
	if (type == FRAME_RECV_ACK) {
		res->wp.pos_received_bytes += e->len;
		e->recv_acked = true;
		if (e->req) {
			e->req->pending &= (uint8_t)~LEG_RECV;
			wp_req_check_done(res, e->req);
		}
		return;
	}
	/* WRITE_ACK */
	res->wp.pos_written_bytes += e->len;
	res->wp.pos_written_ms = clock_coarse_ms();
	if (!e->recv_acked)
		res->wp.pos_received_bytes += e->len;	/* no separate RECV_ACK */
	if (err) {
		log_err("peer failed to write %u bytes at %llu: %s; marked out of sync",
			e->len, (unsigned long long)e->off, strerror((int)-err));
		bitmap_mark_range(&res->oos, e->off, e->len);
		/* Neither disk has it. */
		if (e->req && (e->req->local_failed || !resource_has_disk(res)))
			e->req->err = -EIO;
	} else {
		unflushed_add(res, e->off, e->len);
	}
	if (!err && e->big && res->st.repl == RS_ESTABLISHED) {
		/* Both have it now: clear the blocks it covers whole. */
		uint64_t first = (e->off + BITMAP_BLOCK_BYTES - 1) / BITMAP_BLOCK_BYTES;
		uint64_t end = (e->off + e->len) / BITMAP_BLOCK_BYTES;

		if (end > first)
			bitmap_clear_range(&res->oos, first * BITMAP_BLOCK_BYTES,
					   (end - first) * BITMAP_BLOCK_BYTES);
	}
	if (e->req) {
		struct blk_req *r = e->req;

		r->pending &= (uint8_t)~(LEG_RECV | LEG_WRITTEN);
		wp_tl_free(res, e);
		wp_req_check_done(res, r);
	} else {
		wp_tl_free(res, e);
	}
	writepath_retry_waiting(res);
}
