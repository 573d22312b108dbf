/* resync.c - bringing the peer's disk up to date from the out-of-sync
 * bitmap, in the background, while the application keeps writing.
 *
 * Source side, per chunk (at most RS_CHUNK_BYTES of contiguous dirty
 * blocks within one RS_CHUNK_BYTES-aligned area, RS_REQS_MAX chunks in
 * flight):
 *
 *   pick dirty blocks no chunk in flight covers
 *        --overlaps an active write, or a write of the peer's here--> skip,
 *                                                      come back later
 *        |
 *        busy: read it --all zeroes--> RS_ZERO, else RS_DATA (or RS_CSUM)
 *        --> handed to the socket: not busy
 *        --> RS_NEED (checksums differ): busy again, read again once no
 *            write over it is in flight, RS_DATA
 *        --> target wrote it (RS_ACK): clear its bits
 *
 * A resync write never overwrites a newer application write:
 * - a block is in at most one chunk in flight: the scan, and the ranges a
 *   Primary SyncTarget asks for first (RS_PRIO), skip what is on its way;
 * - while a chunk is busy (being read), writes to it wait: application
 *   writes here (writepath asks resync_busy_overlaps) and the writes of a
 *   Primary SyncTarget applied here (receiver.c), and a chunk is not
 *   read while such a write is in flight; so the read sees every write
 *   that was sent before it, and every later write follows it in the
 *   stream;
 * - the target writes resync data only into blocks it still lacks
 *   (receiver.c), so a block a Primary SyncTarget got and wrote since is
 *   never overwritten.
 * Bits are cleared only on RS_ACK; a lost connection leaves them set, so
 * a later resync resumes where this one stopped. Chunks carry the link
 * generation they were read for and never go out on a later connection.
 *
 * A Primary SyncTarget's reads and writes of blocks it lacks wait until
 * they come (resync_target_lacks); the source serves such ranges before
 * its scan, whatever its own bitmap says (the target may lack more than
 * the source counts: a resync by request marks every block on the
 * target), also while the resync is paused, and the target asks again
 * every second for what its I/O still waits on, so none waits forever.
 */
#include "blockd/engine/resync.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "blockd/engine/resource.h"
#include "common/clock.h"
#include "common/container_of.h"
#include "common/crc32c.h"
#include "common/endian.h"
#include "common/log.h"

#define B BITMAP_BLOCK_BYTES

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The chunk in flight covering byte off, or NULL. */
static const struct rs_req *chunk_at(const struct resource *res, uint64_t off)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		const struct rs_req *rs = &res->rs.reqs[i];

		if (rs->in_use && off >= rs->off && off < rs->off + rs->len)
			return rs;
	}
	return NULL;
}

/* The first byte after off where a chunk in flight starts, or limit. */
static uint64_t next_chunk_start(const struct resource *res, uint64_t off,
				 uint64_t limit)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		const struct rs_req *rs = &res->rs.reqs[i];

		if (rs->in_use && rs->off > off && rs->off < limit)
			limit = rs->off;
	}
	return limit;
}

bool resync_busy_overlaps(const struct resource *res, uint64_t off, uint64_t len)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		const struct rs_req *rs = &res->rs.reqs[i];

		if (rs->in_use && rs->busy && off < rs->off + rs->len &&
		    rs->off < off + len)
			return true;
	}
	return false;
}

/* Writes that waited while a chunk was busy may go now. */
static void rs_unbusy(struct resource *res)
{
	writepath_retry_waiting(res);
	receiver_kick(res);
}

static void rs_unbusy_run(struct loop_op *op, int r)
{
	struct resource *res = container_of(op, struct resource, rs.unbusy_op);

	(void)r;
	res->rs.unbusy_queued = false;
	rs_unbusy(res);
}

/* rs_unbusy once the present callback is done. */
static void rs_unbusy_later(struct resource *res)
{
	if (res->rs.unbusy_queued)
		return;
	res->rs.unbusy_queued = true;
	loop_defer(res->loop, &res->rs.unbusy_op, rs_unbusy_run, 0);
}

static void rs_free(struct resource *res, struct rs_req *rs)
{
	if (rs->buf)
		bufpool_put(&res->pool, rs->buf, rs->len);
	rs->buf = NULL;
	rs->in_use = false;
	rs->busy = false;
	rs->need = false;
	assert(res->rs.inflight > 0);
	res->rs.inflight--;
}

/* Does this chunk still belong to the connection it was read for? */
static bool rs_current(const struct resource *res, const struct rs_req *rs)
{
	return link_is_up(res->link) &&
	       rs->link_gen == link_generation(res->link);
}

static bool is_source(const struct resource *res)
{
	return res->st.repl == RS_SYNC_SOURCE || res->st.repl == RS_PAUSED_SYNC_S;
}

/* A resync or verify chunk left for the socket (or never will). Shared
 * with verify.c, which uses the same chunk slots. */
void resync_chunk_sent(struct link_tx *tx, int err)
{
	struct rs_req *rs = container_of(tx, struct rs_req, tx);
	struct resource *res = rs->res;

	rs->busy = false;
	if (rs->buf) {
		bufpool_put(&res->pool, rs->buf, rs->len);
		rs->buf = NULL;
	}
	if (err) {
		rs_free(res, rs);	/* no RS_ACK will come */
		res->rs.skipped = true;
	}
	rs_unbusy(res);
}

static void rs_send(struct resource *res, struct rs_req *rs, uint16_t type)
{
	struct frame_hdr *h = &rs->tx.h;

	memset(h, 0, sizeof(*h));
	h->type = type;
	h->id = rs->id;
	h->offset = rs->off;
	h->length = rs->len;
	h->payload_len = type == FRAME_RS_DATA ? rs->len : 0;
	rs->tx.payload = type == FRAME_RS_DATA ? rs->buf : NULL;
	if (type == FRAME_RS_CSUM) {
		/* Only the checksum crosses; the data only if they differ. */
		be_put32(rs->tx.inline_payload, crc32c(0, rs->buf, rs->len));
		h->payload_len = 4;
		rs->tx.payload = rs->tx.inline_payload;
	}
	rs->tx.sent = resync_chunk_sent;
	link_send(res->link, &rs->tx);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

static void rs_read_done(struct disk_io *io, int err)
{
	struct rs_req *rs = container_of(io, struct rs_req, io);
	struct resource *res = rs->res;

	if (err < 0 || !is_source(res) || !rs_current(res, rs)) {
		if (err < 0)
			log_err("resync read of %u bytes at %llu failed: %s",
				rs->len, (unsigned long long)rs->off, strerror(-err));
		rs_free(res, rs);
		res->rs.skipped = true;	/* its bits stay set: come back for it */
		rs_unbusy(res);
		return;
	}
	if (all_zero(rs->buf, rs->len)) {
		/* Holes and written zeroes alike cross as a range, found
		 * without asking the filesystem (lseek would block the loop).
		 * The rate limit paces data over the link: a range is free
		 * (a sparse disk syncs its holes at once, as it always did). */
		res->rs.tokens += rs->len;
		bufpool_put(&res->pool, rs->buf, rs->len);
		rs->buf = NULL;
		rs->zero = true;
		rs->csum = false;
		rs_send(res, rs, FRAME_RS_ZERO);
		return;
	}
	rs_send(res, rs, rs->csum ? FRAME_RS_CSUM : FRAME_RS_DATA);
}

/* Read a chunk (again) and send it: the first time, or after RS_NEED. */
static void rs_read(struct resource *res, struct rs_req *rs)
{
	memset(&rs->io, 0, sizeof(rs->io));
	rs->io.cmd = DISK_READ;
	rs->io.off = rs->off;
	rs->io.len = rs->len;
	rs->io.buf = rs->buf;
	rs->io.done = rs_read_done;
	disk_submit(&res->disk, &rs->io);
}

static struct rs_req *resync_req_get(struct resource *res)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++)
		if (!res->rs.reqs[i].in_use)
			return &res->rs.reqs[i];
	return NULL;
}

struct rs_req *resync_slot_take(struct resource *res, uint64_t off,
				uint64_t len)
{
	struct rs_req *rs = resync_req_get(res);

	if (!rs)
		return NULL;
	rs->buf = bufpool_get(&res->pool, len);
	if (!rs->buf)
		return NULL;
	rs->res = res;
	rs->off = off;
	rs->len = (uint32_t)len;
	rs->id = ++res->rs.next_id;
	rs->in_use = rs->busy = true;
	rs->csum = rs->zero = rs->need = false;
	rs->link_gen = link_generation(res->link);
	res->rs.inflight++;
	res->rs.tokens -= (int64_t)len;
	return rs;
}

enum rs_start { RS_STARTED, RS_CONFLICT, RS_NO_ROOM };

/* Start a chunk over [off, off + len): no chunk in flight covers any of
 * it (the caller made sure). */
static enum rs_start rs_start_chunk(struct resource *res, uint64_t off,
				    uint64_t len)
{
	struct rs_req *rs;

	if (writepath_overlaps_active(res, off, len) ||
	    receiver_overlaps(res, off, len))
		return RS_CONFLICT;
	rs = resync_slot_take(res, off, len);
	if (!rs)
		return RS_NO_ROOM;
	rs->csum = res->cfg->resync_checksum &&
		   (link_features(res->link) & FRAME_FEAT_CSUM_RESYNC);
	rs_read(res, rs);
	return RS_STARTED;
}

/* The end of a chunk that starts at off and may reach until want: within
 * one RS_CHUNK_BYTES area, the disk, and short of the next chunk in
 * flight. */
static uint64_t chunk_end(const struct resource *res, uint64_t off, uint64_t want)
{
	uint64_t end = min_u64(want, (off / RS_CHUNK_BYTES + 1) * RS_CHUNK_BYTES);

	end = min_u64(end, res->disk.size_bytes);
	return next_chunk_start(res, off, end);
}

/* RS_NEED came for rs: read it again once no write over it is in flight
 * (it is busy meanwhile, so no new one starts). Retried from the pump. */
static void rs_need_try(struct resource *res, struct rs_req *rs)
{
	if (!is_source(res) || !rs_current(res, rs)) {
		rs_free(res, rs);
		res->rs.skipped = true;
		rs_unbusy(res);
		return;
	}
	if (writepath_overlaps_active(res, rs->off, rs->len) ||
	    receiver_writing(res, rs->off, rs->len))
		return;
	rs->buf = bufpool_get(&res->pool, rs->len);
	if (!rs->buf)
		return;
	rs->need = false;
	rs_read(res, rs);
}

/* The target's data differed from the checksum: send the data now. */
void resync_need(struct resource *res, uint64_t id)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		struct rs_req *rs = &res->rs.reqs[i];

		if (rs->in_use && !rs->busy && rs->id == id && rs->csum) {
			rs->csum = false;
			rs->busy = true;
			rs->need = true;
			rs_need_try(res, rs);
			return;
		}
	}
	link_drop(res->link, "RS_NEED for an unknown chunk");
}

/* Pacing: at most resync-rate-max-mib per second when set; while the
 * application writes, a small window so its requests are not queued
 * behind a full window of resync data (the dynamic default). */
void resync_rate_tick(struct resource *res, uint32_t ms)
{
	uint64_t max = (uint64_t)res->cfg->resync_rate_max_mib << 20;
	int64_t cap;

	if (!max) {
		res->rs.tokens = INT64_MAX / 2;
		return;
	}
	cap = (int64_t)(max * ms / 1000) + RS_CHUNK_BYTES;
	res->rs.tokens += (int64_t)(max * ms / 1000);
	if (res->rs.tokens > cap)
		res->rs.tokens = cap;
}

static unsigned rs_window(const struct resource *res)
{
	/* The minimum rate, in chunks of flight, when the application is
	 * busy: at least two. */
	unsigned min = res->cfg->resync_rate_min_mib / 8 + 2;

	if (!res->wp.app_busy && !res->wp.active)
		return RS_REQS_MAX;
	return min < RS_REQS_MAX ? min : RS_REQS_MAX;
}

/* Source: the Primary SyncTarget waits for this range; send it next. A
 * range already asked for is not queued twice; when the queue is full
 * the request is dropped and the target asks again. */
void resync_prio(struct resource *res, uint64_t off, uint64_t len)
{
	uint64_t size = res->disk.size_bytes, end;

	if (off >= size || !len) {
		resync_pump(res);
		return;
	}
	end = min_u64(off + len, size);
	end = min_u64((end + B - 1) / B * B, size);
	off = off / B * B;
	for (unsigned i = 0; i < res->rs.prio_n; i++) {
		const struct rs_prio *p = &res->rs.prio[i];

		if (p->next <= off && end <= p->off + p->len) {
			resync_pump(res);	/* on the list already */
			return;
		}
	}
	if (res->rs.prio_n < RS_PRIO_MAX) {
		res->rs.prio[res->rs.prio_n].off = off;
		res->rs.prio[res->rs.prio_n].len = end - off;
		res->rs.prio[res->rs.prio_n].next = off;
		res->rs.prio_n++;
	}
	resync_pump(res);
}

/* Serve the ranges asked for first, in order; what a chunk in flight
 * covers is on its way already. false when no chunk slot or buffer is
 * left. */
static bool prio_pump(struct resource *res)
{
	while (res->rs.inflight < RS_REQS_MAX && res->rs.prio_n) {
		struct rs_prio *p = &res->rs.prio[0];
		uint64_t end = p->off + p->len, off = p->next, stop;
		const struct rs_req *rs;

		while (off < end && (rs = chunk_at(res, off)))
			off = rs->off + rs->len;
		p->next = off;
		if (off >= end) {
			memmove(&res->rs.prio[0], &res->rs.prio[1],
				(res->rs.prio_n - 1) * sizeof(res->rs.prio[0]));
			res->rs.prio_n--;
			continue;
		}
		stop = chunk_end(res, off, end);
		switch (rs_start_chunk(res, off, stop - off)) {
		case RS_STARTED:
			p->next = stop;
			break;
		case RS_CONFLICT:
			return true;	/* after that write: a later pump */
		case RS_NO_ROOM:
			return false;
		}
	}
	return true;
}

/* The background scan from rs_cursor. */
static void scan_pump(struct resource *res)
{
	while (res->rs.inflight < rs_window(res) && res->rs.tokens > 0) {
		uint64_t blk = bitmap_next_set(&res->oos, res->rs.cursor);
		uint64_t off = blk * B, run_end, end;
		const struct rs_req *rs;

		if (blk >= res->oos.nbits) {
			if (res->rs.inflight == 0 && res->oos.set_bits == 0) {
				peer_source_synced(res);
			} else if (res->rs.skipped || res->oos.set_bits) {
				/* Round again for what was skipped or failed
				 * (chunks in flight are stepped over). */
				res->rs.skipped = false;
				res->rs.cursor = 0;
			}
			return;
		}
		if ((rs = chunk_at(res, off))) {
			res->rs.cursor = (rs->off + rs->len + B - 1) / B;
			continue;
		}
		run_end = bitmap_next_clear(&res->oos, blk) * B;
		end = chunk_end(res, off, run_end);
		switch (rs_start_chunk(res, off, end - off)) {
		case RS_STARTED:
			res->rs.cursor = (end + B - 1) / B;
			break;
		case RS_CONFLICT:
			res->rs.cursor = (end + B - 1) / B;
			res->rs.skipped = true;
			break;
		case RS_NO_ROOM:
			return;
		}
	}
}

void resync_pump(struct resource *res)
{
	if (!is_source(res) || !link_is_up(res->link) || res->bmx.running ||
	    res->rs.save_ticket || res->rs.start_flushing)
		return;
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		struct rs_req *rs = &res->rs.reqs[i];

		if (rs->in_use && rs->need && !rs->buf)
			rs_need_try(res, rs);
	}
	/* Ranges a Primary SyncTarget waits for: also while paused. */
	if (!prio_pump(res))
		return;
	if (res->st.repl == RS_SYNC_SOURCE && !res->st.sync_paused && !res->st.peer_paused)
		scan_pump(res);
}

/* The resync starts once the bitmap it works from is durable, so a crash
 * meanwhile finds every block still marked; resync_pump waits for it. */
static void start_flush_issue(struct resource *res);

static void start_flushed(struct disk_io *io, int err)
{
	struct resource *res = container_of(io, struct resource, rs.start_flush);

	(void)err;	/* a failed disk is being detached: the resync stops */
	res->rs.start_flushing = false;
	if (res->rs.start_flush_again) {
		res->rs.start_flush_again = false;
		start_flush_issue(res);
		return;
	}
	resync_bitmap_saved(res);
}

static void start_flush_issue(struct resource *res)
{
	struct disk_io *io = &res->rs.start_flush;

	if (!resource_has_disk(res))
		return;
	memset(io, 0, sizeof(*io));
	io->cmd = DISK_FLUSH;
	io->done = start_flushed;
	res->rs.start_flushing = true;
	disk_submit(&res->disk, io);
}

void resync_start_saved(struct resource *res)
{
	res->rs.start_pending = true;
	res->rs.save_ticket = meta_save_bitmap(&res->meta);
	if (res->rs.start_flushing)
		res->rs.start_flush_again = true;	/* covers writes since */
	else
		start_flush_issue(res);
	resync_bitmap_saved(res);
}

void resync_bitmap_saved(struct resource *res)
{
	if (!res->rs.start_pending || res->rs.start_flushing)
		return;
	if (res->rs.save_ticket &&
	    !meta_bitmap_durable(&res->meta, res->rs.save_ticket))
		return;
	res->rs.save_ticket = 0;
	res->rs.start_pending = false;
	if (res->st.repl == RS_SYNC_SOURCE || res->st.repl == RS_PAUSED_SYNC_S)
		resync_start(res);
}

void resync_start(struct resource *res)
{
	/* Ranges asked for during the bitmap exchange are kept. */
	res->rs.cursor = 0;
	res->rs.skipped = false;
	res->rs.total_bytes = bitmap_dirty_bytes(&res->oos);
	res->rs.started_ms = clock_mono_ms();
	res->rs.rate_bytes_s = 0;
	res->rs.eta_s = 0;
	res->rs.done_pct = 0;
	resync_rate_tick(res, RESOURCE_TICK_MS);
	resync_pump(res);
}

void resync_ack(struct resource *res, uint64_t id, bool same, bool failed)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		struct rs_req *rs = &res->rs.reqs[i];

		if (rs->in_use && !rs->busy && rs->id == id && failed) {
			rs_free(res, rs);	/* the bits stay: sent again later */
			res->rs.skipped = true;
			return;
		}
		if (rs->in_use && !rs->busy && rs->id == id) {
			bitmap_clear_range(&res->oos, rs->off, rs->len);
			/* Only block data that crossed the wire counts as
			 * sent; zeroes and matching checksums did not. */
			if (same)
				res->rs.same_bytes += rs->len;
			else if (rs->zero)
				res->rs.zero_bytes += rs->len;
			else
				res->rs.sent_bytes += rs->len;
			rs_free(res, rs);
			resync_pump(res);
			return;
		}
	}
	link_drop(res->link, "resync acknowledgement for an unknown chunk");
}

void resync_peer_lost(struct resource *res)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		struct rs_req *rs = &res->rs.reqs[i];

		/* A chunk still being read is freed by its read completion;
		 * a chunk in the socket by its sent callback; one waiting to
		 * be read again after RS_NEED is freed here. */
		if (rs->in_use && (!rs->busy || (rs->need && !rs->buf)))
			rs_free(res, rs);
	}
	res->rs.prio_n = 0;	/* asked for on the connection that ended */
	/* Writes that waited for a freed chunk are retried once the loss
	 * is fully handled (a new generation first, for instance). */
	rs_unbusy_later(res);
}

void resync_note_state(struct resource *res)
{
	bool freed = false;

	if (is_source(res))
		return;
	/* A chunk RS_NEED asked to read again is read only by a source:
	 * once this node stopped being one with the connection kept (its
	 * disk, or the peer's, went away), its slot kept the range busy for
	 * good (sim seed 1088 --down-power --direct: SyncTarget later, its
	 * receiver waited on it for that range's resync data). */
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		struct rs_req *rs = &res->rs.reqs[i];

		if (rs->in_use && rs->need && !rs->buf) {
			rs_free(res, rs);
			freed = true;
		}
	}
	if (freed)
		rs_unbusy_later(res);
}

void resync_update_status(struct resource *res, uint64_t now_ms)
{
	uint64_t left = bitmap_dirty_bytes(&res->oos);
	uint64_t elapsed = now_ms - res->rs.started_ms;
	uint64_t done;

	if (res->st.repl != RS_SYNC_SOURCE && res->st.repl != RS_SYNC_TARGET)
		return;
	if (res->st.repl == RS_SYNC_TARGET) {
		done = res->rs.applied_bytes - res->rs.received_base;
		if (!res->rs.started_ms)
			res->rs.started_ms = now_ms;
		elapsed = now_ms - res->rs.started_ms;
		left = res->rs.total_bytes > done ? res->rs.total_bytes - done : 0;
		res->rs.done_pct = res->rs.total_bytes
			? 100.0 * (double)done / (double)res->rs.total_bytes : 0;
		if (res->rs.done_pct > 99.9)
			res->rs.done_pct = 99.9;	/* until RS_DONE */
		res->rs.rate_bytes_s = elapsed ? done * 1000 / elapsed : 0;
		res->rs.eta_s = res->rs.rate_bytes_s
			? left / res->rs.rate_bytes_s : 0;
	} else {
		if (res->rs.total_bytes < left)
			res->rs.total_bytes = left;
		done = res->rs.total_bytes - left;
		res->rs.done_pct = res->rs.total_bytes
			? 100.0 * (double)done / (double)res->rs.total_bytes : 100.0;
		res->rs.rate_bytes_s = elapsed ? done * 1000 / elapsed : 0;
		res->rs.eta_s = res->rs.rate_bytes_s
			? left / res->rs.rate_bytes_s : 0;
	}
}

static void prio_sent(struct link_tx *tx, int err)
{
	struct prio_req *p = container_of(tx, struct prio_req, tx);

	(void)err;
	p->busy = false;
}

/* Target that is Primary: I/O to [off, len) must wait while any of its
 * blocks is still to come from the source. While the bitmaps are being
 * exchanged this node's bitmap is not whole yet: everything waits
 * (resync_target_tick retries). */
bool resync_target_waits(const struct resource *res, uint64_t off, uint64_t len)
{
	if (res->st.role != ROLE_PRIMARY ||
	    (res->st.repl != RS_SYNC_TARGET && res->st.repl != RS_PAUSED_SYNC_T))
		return false;
	return res->bmx.running || bitmap_test_range(&res->oos, off, len);
}

/* The same, and ask the source for the range first. true when the
 * caller must wait. */
bool resync_target_lacks(struct resource *res, uint64_t off, uint64_t len)
{
	uint64_t first;

	if (!resync_target_waits(res, off, len))
		return false;
	if (res->bmx.running)
		return true;
	/* From the first block lacking on: what is before it is here. */
	first = bitmap_next_set(&res->oos, off / B) * B;
	if (first > off) {
		len -= first - off;
		off = first;
	}
	for (unsigned i = 0; i < PRIO_TX_MAX; i++) {
		struct prio_req *p = &res->rs.prio_tx[i];

		if (p->busy)
			continue;
		/* If every slot is busy the request is not sent now:
		 * resync_target_tick asks again. */
		memset(&p->tx.h, 0, sizeof(p->tx.h));
		p->tx.h.type = FRAME_RS_PRIO;
		p->tx.h.offset = off;
		p->tx.h.length = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
		p->tx.payload = NULL;
		p->tx.sent = prio_sent;
		p->busy = true;
		link_send(res->link, &p->tx);
		break;
	}
	return true;
}

/* A Primary whose disk was attached again and waits for the full resync
 * it asked for (Inconsistent next to an UpToDate peer, not SyncTarget
 * yet): a write to a block it lacks waits for the resync as a
 * SyncTarget's does. Written now, the block could be overwritten by a
 * chunk the source read before this write reached it (sim seed 1277:
 * the INVALIDATE went first, the source read the chunk, the write came
 * after it in the stream and the chunk landed over the write here). */
bool resync_target_expected(const struct resource *res, uint64_t off,
			    uint64_t len)
{
	return res->st.role == ROLE_PRIMARY &&
	       res->st.disk_state == DS_INCONSISTENT &&
	       res->st.repl == RS_ESTABLISHED &&
	       res->st.peer_disk == DS_UPTODATE &&
	       bitmap_test_range(&res->oos, off, len);
}

/* Primary SyncTarget, once a second: a request for a range can be lost
 * (no free slot here, a full queue or a resync not yet started on the
 * source), so what reads still wait on is asked for again, and waiting
 * I/O is retried (the write path asks again for its first waiter). */
void resync_target_tick(struct resource *res)
{
	if (res->st.role != ROLE_PRIMARY ||
	    (res->st.repl != RS_SYNC_TARGET && res->st.repl != RS_PAUSED_SYNC_T))
		return;
	for (struct blk_req *r = res->reads_waiting; r; r = r->next)
		resync_target_lacks(res, r->local.off, r->local.len);
	resource_retry_reads(res);
	writepath_retry_waiting(res);
}
