/* resync.c - bringing the peer's disk up to date from the out-of-sync
 * bitmap, in the background, while the application keeps writing.
 *
 * Source side, per chunk (at most RS_CHUNK_BYTES of contiguous dirty
 * blocks, RS_REQS_MAX chunks in flight):
 *
 *   pick dirty chunk --overlaps an active write--> skip, come back later
 *        |
 *        busy: read it --all zeroes--> RS_ZERO, else RS_DATA (or RS_CSUM)
 *        --> handed to the socket: not busy
 *        --> target wrote it (RS_ACK): clear its bits
 *
 * A resync write never overwrites a newer application write: while a
 * chunk is busy, application writes to it wait (writepath asks
 * resync_busy_overlaps); a chunk under an active write is not picked.
 * The stream is ordered and the target applies overlapping writes in
 * arrival order, so whatever the target writes last is the newest data.
 * Bits are cleared only on RS_ACK; a lost connection leaves them set, so
 * a later resync resumes where this one stopped. Chunks carry the link
 * generation they were read for and never go out on a later connection.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "blockd/resource.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "nbd/codec.h"

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Is a chunk covering block blk already on its way? */
bool resync_chunk_inflight(const struct resource *res, uint64_t blk)
{
	uint64_t off = blk * BITMAP_BLOCK_BYTES;

	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		const struct rs_req *rs = &res->rsreqs[i];

		if (rs->in_use && off >= rs->off && off < rs->off + rs->len)
			return true;
	}
	return false;
}

bool resync_busy_overlaps(const struct resource *res, uint64_t off, uint64_t len)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		const struct rs_req *rs = &res->rsreqs[i];

		if (rs->in_use && rs->busy && off < rs->off + rs->len &&
		    rs->off < off + len)
			return true;
	}
	return false;
}

static void rs_free(struct resource *res, struct rs_req *rs)
{
	if (rs->buf)
		bufpool_put(&res->pool, rs->buf, rs->len);
	rs->buf = NULL;
	rs->in_use = false;
	rs->busy = false;
	res->rs_inflight--;
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
		res->rs_skipped = true;
	}
	writepath_retry_waiting(res);
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
		nbd_put32(rs->tx.inline_payload, crc32c(0, rs->buf, rs->len));
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

	if (err < 0 || res->repl != RS_SYNC_SOURCE || !link_is_up(res->link) ||
	    rs->link_gen != link_generation(res->link)) {
		if (err < 0)
			log_err("resync read of %u bytes at %llu failed: %s",
				rs->len, (unsigned long long)rs->off, strerror(-err));
		rs_free(res, rs);
		res->rs_skipped = true;	/* its bits stay set: come back for it */
		writepath_retry_waiting(res);
		return;
	}
	if (all_zero(rs->buf, rs->len)) {
		/* Holes and written zeroes alike cross as a range, found
		 * without asking the filesystem (lseek would block the loop). */
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

struct rs_req *resync_req_get(struct resource *res)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++)
		if (!res->rsreqs[i].in_use)
			return &res->rsreqs[i];
	return NULL;
}

/* Start one chunk at block blk. false when resources ran out. */
static bool rs_start_chunk(struct resource *res, uint64_t blk)
{
	uint64_t chunk_blocks = RS_CHUNK_BYTES / BITMAP_BLOCK_BYTES;
	uint64_t end = bitmap_next_clear(&res->oos, blk);
	uint64_t limit = (blk / chunk_blocks + 1) * chunk_blocks;
	uint64_t off = blk * BITMAP_BLOCK_BYTES, len;
	struct rs_req *rs;

	if (end > limit)
		end = limit;
	len = (end - blk) * BITMAP_BLOCK_BYTES;
	if (off + len > res->disk.size_bytes)
		len = res->disk.size_bytes - off;
	if (writepath_overlaps_active(res, off, len)) {
		res->rs_cursor = end;
		res->rs_skipped = true;
		return true;
	}
	rs = resync_req_get(res);
	if (!rs)
		return false;
	rs->res = res;
	rs->off = off;
	rs->len = (uint32_t)len;
	rs->buf = NULL;
	rs->link_gen = link_generation(res->link);
	rs->buf = bufpool_get(&res->pool, len);
	if (!rs->buf)
		return false;
	rs->id = ++res->rs_next_id;
	rs->in_use = rs->busy = true;
	rs->zero = false;
	rs->csum = res->cfg->resync_checksum &&
		   (link_features(res->link) & FRAME_FEAT_CSUM_RESYNC);
	res->rs_inflight++;
	res->rs_cursor = end;
	res->rs_tokens -= (int64_t)len;
	rs_read(res, rs);
	return true;
}

/* The target's data differed from the checksum: send the data now. */
void resync_need(struct resource *res, uint64_t id)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		struct rs_req *rs = &res->rsreqs[i];

		if (rs->in_use && !rs->busy && rs->id == id && rs->csum) {
			rs->buf = bufpool_get(&res->pool, rs->len);
			if (!rs->buf) {
				/* Rare: give the chunk up; its bits stay set
				 * and a later pass sends it. */
				rs_free(res, rs);
				res->rs_skipped = true;
				return;
			}
			rs->csum = false;
			rs->busy = true;
			rs_read(res, rs);
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
		res->rs_tokens = INT64_MAX / 2;
		return;
	}
	cap = (int64_t)(max * ms / 1000) + RS_CHUNK_BYTES;
	res->rs_tokens += (int64_t)(max * ms / 1000);
	if (res->rs_tokens > cap)
		res->rs_tokens = cap;
}

static unsigned rs_window(const struct resource *res)
{
	/* The minimum rate, in chunks of flight, when the application is
	 * busy: at least two. */
	unsigned min = res->cfg->resync_rate_min_mib / 8 + 2;

	if (!res->app_busy && !res->active)
		return RS_REQS_MAX;
	return min < RS_REQS_MAX ? min : RS_REQS_MAX;
}

/* Source: the Primary SyncTarget waits for this range; send it next. */
void resync_prio(struct resource *res, uint64_t off, uint64_t len)
{
	if (res->rs_prio_n < RS_PRIO_MAX) {
		res->rs_prio[res->rs_prio_n].off = off;
		res->rs_prio[res->rs_prio_n].len = len;
		res->rs_prio_n++;
	}
	resync_pump(res);
}

/* The next dirty block a priority request asks for, or nbits. Requests
 * that are done (no bits left in their range) are dropped. */
static uint64_t prio_next(struct resource *res)
{
	while (res->rs_prio_n) {
		struct rs_prio *p = &res->rs_prio[0];
		uint64_t first = p->off / BITMAP_BLOCK_BYTES;
		uint64_t last = (p->off + p->len - 1) / BITMAP_BLOCK_BYTES;
		uint64_t blk = bitmap_next_set(&res->oos, first);

		if (blk <= last && blk < res->oos.nbits &&
		    !resync_chunk_inflight(res, blk))
			return blk;
		if (blk <= last && blk < res->oos.nbits)
			return res->oos.nbits;	/* on its way: wait */
		memmove(&res->rs_prio[0], &res->rs_prio[1],
			(res->rs_prio_n - 1) * sizeof(res->rs_prio[0]));
		res->rs_prio_n--;
	}
	return res->oos.nbits;
}

void resync_pump(struct resource *res)
{
	if (res->repl != RS_SYNC_SOURCE || !link_is_up(res->link) ||
	    res->sync_paused || res->peer_paused || res->bm_exchange)
		return;
	while (res->rs_inflight < RS_REQS_MAX && res->rs_prio_n) {
		uint64_t blk = prio_next(res);
		uint64_t cursor = res->rs_cursor;

		if (blk >= res->oos.nbits)
			break;
		if (!rs_start_chunk(res, blk))
			return;
		res->rs_cursor = cursor;	/* the scan goes on where it was */
		res->rs_skipped = true;		/* and rescans past blk later */
	}
	while (res->rs_inflight < rs_window(res) && res->rs_tokens > 0) {
		uint64_t blk = bitmap_next_set(&res->oos, res->rs_cursor);

		if (blk >= res->oos.nbits) {
			if (res->rs_skipped) {
				/* Come back for skipped chunks on a later pump. */
				res->rs_skipped = false;
				res->rs_cursor = 0;
			} else if (res->rs_inflight == 0 && res->oos.set_bits == 0) {
				peer_source_synced(res);
			}
			return;
		}
		if (!rs_start_chunk(res, blk))
			return;
	}
}

void resync_start(struct resource *res)
{
	res->rs_cursor = 0;
	res->rs_skipped = false;
	res->rs_prio_n = 0;
	res->rs_total_bytes = bitmap_dirty_bytes(&res->oos);
	res->rs_started_ms = mono_ms();
	res->resync_rate_bytes_s = 0;
	res->resync_eta_s = 0;
	res->resync_done_pct = 0;
	resync_rate_tick(res, 100);
	resync_pump(res);
}

void resync_ack(struct resource *res, uint64_t id, bool same)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		struct rs_req *rs = &res->rsreqs[i];

		if (rs->in_use && !rs->busy && rs->id == id) {
			bitmap_clear_range(&res->oos, rs->off, rs->len);
			/* Only block data that crossed the wire counts as
			 * sent; zeroes and matching checksums did not. */
			if (same)
				res->resync_same_bytes += rs->len;
			else if (rs->zero)
				res->resync_zero_bytes += rs->len;
			else
				res->resync_sent_bytes += rs->len;
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
		struct rs_req *rs = &res->rsreqs[i];

		/* A chunk still being read is freed by its read completion;
		 * a chunk in the socket by its sent callback. */
		if (rs->in_use && !rs->busy)
			rs_free(res, rs);
	}
}

void resync_update_status(struct resource *res, uint64_t now_ms)
{
	uint64_t left = bitmap_dirty_bytes(&res->oos);
	uint64_t elapsed = now_ms - res->rs_started_ms;
	uint64_t done;

	if (res->repl != RS_SYNC_SOURCE && res->repl != RS_SYNC_TARGET)
		return;
	if (res->repl == RS_SYNC_TARGET) {
		done = res->rs_applied_bytes - res->rs_received_base;
		if (!res->rs_started_ms)
			res->rs_started_ms = now_ms;
		elapsed = now_ms - res->rs_started_ms;
		left = res->rs_total_bytes > done ? res->rs_total_bytes - done : 0;
		res->resync_done_pct = res->rs_total_bytes
			? 100.0 * (double)done / (double)res->rs_total_bytes : 0;
		if (res->resync_done_pct > 99.9)
			res->resync_done_pct = 99.9;	/* until RS_DONE */
		res->resync_rate_bytes_s = elapsed ? done * 1000 / elapsed : 0;
		res->resync_eta_s = res->resync_rate_bytes_s
			? left / res->resync_rate_bytes_s : 0;
	} else {
		if (res->rs_total_bytes < left)
			res->rs_total_bytes = left;
		done = res->rs_total_bytes - left;
		res->resync_done_pct = res->rs_total_bytes
			? 100.0 * (double)done / (double)res->rs_total_bytes : 100.0;
		res->resync_rate_bytes_s = elapsed ? done * 1000 / elapsed : 0;
		res->resync_eta_s = res->resync_rate_bytes_s
			? left / res->resync_rate_bytes_s : 0;
	}
}

static void prio_sent(struct link_tx *tx, int err)
{
	struct prio_req *p = container_of(tx, struct prio_req, tx);

	(void)err;
	p->busy = false;
}

/* Target that is Primary: I/O to [off, len) must wait while any of its
 * blocks is still to come from the source; ask for them first. true when
 * the caller must wait. */
bool resync_target_lacks(struct resource *res, uint64_t off, uint64_t len)
{
	if (res->role != ROLE_PRIMARY ||
	    (res->repl != RS_SYNC_TARGET && res->repl != RS_PAUSED_SYNC_T) ||
	    !bitmap_test_range(&res->oos, off, len))
		return false;
	for (unsigned i = 0; i < PRIO_TX_MAX; i++) {
		struct prio_req *p = &res->prio[i];

		if (p->busy)
			continue;
		/* If every slot is busy the request is simply not sent: the
		 * running resync reaches the range anyway. */
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
