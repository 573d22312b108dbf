/* receiver.c - the Secondary (and SyncTarget) side: applies the peer's
 * stream of writes, barriers and resync data to the local disk.
 *
 * Frames join one FIFO in arrival order. The head is started when it may
 * be: a write when it overlaps no write still in flight, a barrier when
 * every write before it is done (and, for a flushing barrier, after an
 * fdatasync). So a write of epoch n+1 never reaches the disk before every
 * write of epoch n is done, and writes to the same block land in the order
 * they were sent. That keeps this disk crash-consistent at every moment.
 *
 *   received --(B: RECV_ACK)--> FIFO --head may start--> in flight
 *     --disk done--> WRITE_ACK / RS_ACK sent --> freed
 *
 * A full pool of peer_reqs is back-pressure: the link asks
 * receiver_frame_ready() before it hands over a stream frame and, while
 * no peer_req is free, keeps the frame and stops reading the socket, so
 * TCP holds the peer back (a fast Primary in protocol A, whose every
 * epoch adds a barrier, easily outruns a slow disk). A freed peer_req
 * kicks the link.
 *
 * Acks belong to the connection their frame came on: one that finishes
 * after its connection died is dropped, never sent on the next one.
 * A WRITE_ACK waits (parked, in completion order) while this Secondary
 * counts itself in sync under a protocol C Primary and the record of
 * that is not durable yet (peer_write_acks_held, peer.c); a RECV_ACK of
 * a frame that arrived while the superblock was being written goes when
 * the frame leaves the FIFO, after that write.
 *
 * A node promoted while writes of the old Primary are still queued or in
 * flight here makes its own overlapping writes wait for them
 * (receiver_overlaps, asked by the write path; each completion here
 * retries them), so they land in the order they were made.
 *
 * Resync data (RS_DATA, RS_ZERO) only fills blocks still marked out of
 * sync here: a clear bit means this node got the block before and may
 * have written it since (a Primary SyncTarget), so the chunk is written
 * as the runs of blocks still marked, and a block written since is never
 * overwritten by older data. On a SyncSource, a write of the peer's
 * waits while a resync chunk over it is being read (resync.c), so the
 * read sees it whole or not at all.
 */
#include "blockd/engine/receiver.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockd/engine/resource.h"
#include "common/container_of.h"
#include "common/crc32c.h"
#include "common/endian.h"
#include "common/log.h"

static void receiver_process(struct resource *res);

int receiver_init(struct resource *res)
{
	res->rx.preqs = calloc(PEER_REQS_MAX, sizeof(*res->rx.preqs));
	if (!res->rx.preqs)
		return -ENOMEM;
	res->rx.preq_fresh = 0;
	return 0;
}

/* The first free slot, or NULL. Slots never used join the free list one
 * at a time, as they are needed: most of the array is never touched. */
static struct peer_req *preq_head(struct receiver *rx)
{
	if (!rx->preq_free && rx->preq_fresh < PEER_REQS_MAX) {
		rx->preq_free = &rx->preqs[rx->preq_fresh++];
		rx->preq_free->next = NULL;
	}
	return rx->preq_free;
}

void receiver_fini(struct resource *res)
{
	bufpool_cancel_wait(&res->pool, &res->rx.read_buf_wait);
	free(res->rx.preqs);
	res->rx.preqs = NULL;
}

/* A peer_req is free once its work is finished and no ack frame that
 * lives in it is still queued on the link. */
static void preq_maybe_free(struct resource *res, struct peer_req *p)
{
	bool was_empty = !preq_head(&res->rx);

	if (!p->finished || p->recv_ack_pending || p->ack_pending ||
	    p->ack_parked)
		return;
	p->finished = false;
	p->next = res->rx.preq_free;
	res->rx.preq_free = p;
	if (was_empty)
		link_kick(res->link);	/* it may be holding a frame back */
}

static void preq_put(struct resource *res, struct peer_req *p)
{
	p->finished = true;
	preq_maybe_free(res, p);
}

/* p gives its buffer back to the pool, if it holds one; the link may be
 * waiting for a buffer to read the next frame into. The one way a
 * request lets go of its buffer. */
static void preq_put_buf(struct resource *res, struct peer_req *p)
{
	if (!p->buf)
		return;
	bufpool_put(&res->pool, p->buf, p->len);
	p->buf = NULL;
	link_kick(res->link);
}

static void ack_sent(struct link_tx *tx, int err)
{
	struct peer_req *p = container_of(tx, struct peer_req, ack_tx);

	if (p->type == FRAME_READ_REQ)	/* the reply's data */
		preq_put_buf(p->res, p);
	p->ack_pending = false;
	preq_maybe_free(p->res, p);
}

static void recv_ack_sent(struct link_tx *tx, int err)
{
	struct peer_req *p = container_of(tx, struct peer_req, recv_ack_tx);

	p->recv_ack_pending = false;
	preq_maybe_free(p->res, p);
}

static void send_recv_ack(struct resource *res, struct peer_req *p)
{
	struct link_tx *tx = &p->recv_ack_tx;

	p->recv_ack_deferred = false;
	if (p->link_gen != link_generation(res->link))
		return;		/* its connection is gone */
	memset(&tx->h, 0, sizeof(tx->h));
	tx->h.type = FRAME_RECV_ACK;
	tx->h.id = p->id;
	tx->payload = NULL;
	tx->sent = recv_ack_sent;
	p->recv_ack_pending = true;
	link_send(res->link, tx);
}

static void send_ack(struct resource *res, struct peer_req *p, uint16_t type,
		     int err, uint32_t flags)
{
	struct link_tx *tx = &p->ack_tx;

	if (p->link_gen != link_generation(res->link)) {
		/* Its connection is gone: the peer of the new one knows
		 * none of these ids (and resyncs what it lacks). */
		log_debug("dropped the %s of frame %llu from an earlier connection",
			  frame_type_name(type), (unsigned long long)p->id);
		if (p->type == FRAME_READ_REQ)
			preq_put_buf(res, p);
		return;
	}
	memset(&tx->h, 0, sizeof(tx->h));
	tx->h.type = type;
	tx->h.flags = flags;
	tx->h.id = p->id;
	frame_set_status(&tx->h, err);
	if (type == FRAME_V_REPLY)
		tx->h.offset = p->vmask;	/* its offset is the mask */
	if (type == FRAME_RS_ACK) {
		tx->h.offset = p->off;
		tx->h.length = p->len;
	}
	tx->payload = NULL;
	if (type == FRAME_READ_REPLY && !err) {
		/* The data read for the peer: freed once sent (ack_sent). */
		tx->h.offset = p->off;
		tx->h.length = p->len;
		tx->h.payload_len = p->len;
		tx->payload = p->buf;
	}
	tx->sent = ack_sent;
	p->ack_pending = true;
	link_send(res->link, tx);
}

static bool is_write_frame(uint16_t type)
{
	return type == FRAME_DATA || type == FRAME_TRIM || type == FRAME_ZERO ||
	       type == FRAME_RS_DATA || type == FRAME_RS_ZERO;
}

/* Frames that read this disk: to compare it with the peer's, or to
 * serve the reads of a Primary without a disk (READ_REQ). */
static bool is_read_frame(uint16_t type)
{
	return type == FRAME_RS_CSUM || type == FRAME_V_REQ ||
	       type == FRAME_READ_REQ;
}

static bool is_stream_frame(uint16_t type)
{
	return is_write_frame(type) || is_read_frame(type) ||
	       type == FRAME_BARRIER;
}

static const char *frame_problem(const struct resource *res,
				 const struct frame_hdr *h);

static void read_buf_put(struct resource *res)
{
	if (!res->rx.read_buf)
		return;
	bufpool_put(&res->pool, res->rx.read_buf, res->rx.read_buf_len);
	res->rx.read_buf = NULL;
	link_kick(res->link);
}

/* Buffers came back to the pool, from anyone: the link may read again. */
static void read_buf_ready(struct bufpool_waiter *w)
{
	struct resource *res = container_of(w, struct resource, rx.read_buf_wait);

	link_kick(res->link);
}

/* A frame that reads this disk takes its buffer before it is read off
 * the socket, so frames take the pool in the order they came: taken at
 * the FIFO's head instead, it waited for good while the frames behind
 * it held the pool, and those wait for it (sim seed 53 --strict: a
 * checksum resync request behind large replicated writes). */
bool receiver_frame_ready(void *owner, const struct frame_hdr *h)
{
	struct resource *res = owner;

	if (res->rx.held_back)	/* a clean stop: nothing new (leave.c) */
		return false;
	if (!is_stream_frame(h->type))
		return true;
	if (!preq_head(&res->rx))
		return false;
	if (!is_read_frame(h->type) || frame_problem(res, h))
		return true;	/* receiver_frame refuses what it must */
	if (res->rx.read_buf && res->rx.read_buf_len != h->length)
		read_buf_put(res);
	if (!res->rx.read_buf) {
		res->rx.read_buf = bufpool_get(&res->pool, h->length);
		if (!res->rx.read_buf) {
			/* Any put wakes the link, not only the receiver's own:
			 * the buffers may be a resync's or the NBD clients'
			 * (sim seed 1947 --stop --direct: a Diskless Primary's
			 * reads waited for good behind a READ_REQ refused while
			 * resync chunks held the pool, the link never kicked
			 * when they let go). */
			if (!res->rx.read_buf_wait.waiting)
				bufpool_wait(&res->pool, res->loop,
					     &res->rx.read_buf_wait, read_buf_ready);
			return false;
		}
		res->rx.read_buf_len = (uint32_t)h->length;
	}
	return true;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static bool list_overlaps(const struct peer_req *q, uint64_t off, uint64_t len)
{
	for (; q; q = q->next)
		if (is_write_frame(q->type) && ranges_overlap(q->off, q->len, off, len))
			return true;
	return false;
}

bool receiver_overlaps(const struct resource *res, uint64_t off, uint64_t len)
{
	return list_overlaps(res->rx.fifo, off, len) ||
	       list_overlaps(res->rx.inflight, off, len);
}

bool receiver_writing(const struct resource *res, uint64_t off, uint64_t len)
{
	return list_overlaps(res->rx.inflight, off, len);
}

static bool overlaps_inflight(const struct resource *res, const struct peer_req *p)
{
	for (const struct peer_req *q = res->rx.inflight; q; q = q->next)
		if (q->type != FRAME_BARRIER && p->off < q->off + q->len &&
		    q->off < p->off + p->len)
			return true;
	return false;
}

static void inflight_del(struct resource *res, struct peer_req *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		res->rx.inflight = p->next;
	if (p->next)
		p->next->prev = p->prev;
	assert(res->rx.inflight_count > 0);
	res->rx.inflight_count--;
}

static void rx_kick_run(struct loop_op *op, int r)
{
	struct resource *res = container_of(op, struct resource, rx.kick_op);

	res->rx.kick_queued = false;
	receiver_process(res);
}

static void io_done(struct disk_io *io, int err);

/* The next run of blocks of an RS_DATA/RS_ZERO chunk still marked out of
 * sync here, from run_off on: false when none is left. */
static bool rs_next_run(struct resource *res, struct peer_req *p)
{
	uint64_t end = p->off + p->len, first, start, stop;

	if (!res->oos.words) {	/* no bitmap to go by: the whole chunk */
		if (p->run_off > p->off)
			return false;
		p->run_len = p->len;
		return true;
	}
	first = bitmap_next_set(&res->oos, p->run_off / BITMAP_BLOCK_BYTES);
	start = first * BITMAP_BLOCK_BYTES;
	if (first >= res->oos.nbits || start >= end)
		return false;
	if (start < p->run_off)
		start = p->run_off;
	stop = bitmap_next_clear(&res->oos, first) * BITMAP_BLOCK_BYTES;
	if (stop > end)
		stop = end;
	p->run_off = start;
	p->run_len = (uint32_t)(stop - start);
	return true;
}

static void submit_io(struct resource *res, struct peer_req *p)
{
	struct disk_io *io = &p->io;

	memset(io, 0, sizeof(*io));
	io->off = p->off;
	io->len = p->len;
	io->buf = p->buf;
	io->done = io_done;
	switch (p->type) {
	case FRAME_DATA:
		io->cmd = DISK_WRITE;
		break;
	case FRAME_RS_DATA:
		io->cmd = DISK_WRITE;
		io->off = p->run_off;
		io->len = p->run_len;
		io->buf = p->buf + (p->run_off - p->off);
		break;
	case FRAME_TRIM:
		io->cmd = DISK_TRIM;
		break;
	case FRAME_RS_CSUM:
	case FRAME_V_REQ:
	case FRAME_READ_REQ:
		io->cmd = DISK_READ;
		break;
	case FRAME_RS_ZERO:
		io->cmd = DISK_ZERO;
		io->off = p->run_off;
		io->len = p->run_len;
		break;
	case FRAME_ZERO:
		io->cmd = DISK_ZERO;
		if (p->flags & FRAME_F_NO_HOLE)
			io->flags |= DISK_F_NO_HOLE;
		break;
	default:
		/* Only the types is_write_frame/is_read_frame name get here. */
		assert(!"a stream frame without a disk command");
	}
	if (p->flags & FRAME_F_FUA)
		io->flags |= DISK_F_FUA;
	/* Resync data is durable before its blocks count as in sync here:
	 * the bitmap pages and the superblock that say so may be written
	 * any time after, and a power loss must not revert what they
	 * record (t_resync_power_loss_target). */
	if (p->type == FRAME_RS_DATA || p->type == FRAME_RS_ZERO)
		io->flags |= DISK_F_FUA;
	disk_submit(&res->disk, io);
}

static void read_frame_done(struct resource *res, struct peer_req *p, int err)
{
	if (p->type == FRAME_READ_REQ) {
		if (err) {
			preq_put_buf(res, p);
		} else {
			res->read_bytes += p->len;
		}
		send_ack(res, p, FRAME_READ_REPLY, err, 0);
		return;
	}
	if (p->type == FRAME_V_REQ) {
		verify_target_done(res, p, err, &p->vmask);
		preq_put_buf(res, p);
		send_ack(res, p, FRAME_V_REPLY, 0, 0);
		return;
	}
	/* RS_CSUM (its flush done, if identical) */
	bool same = err == 0 && p->same_flushing;

	preq_put_buf(res, p);
	if (err) {	/* this disk failed the read (and is being detached) */
		send_ack(res, p, FRAME_RS_ACK, 0, FRAME_F_FAILED);
	} else if (same) {
		res->rs.same_bytes += p->len;
		res->rs.applied_bytes += p->len;
		bitmap_clear_range(&res->oos, p->off, p->len);
		send_ack(res, p, FRAME_RS_ACK, 0, FRAME_F_SAME);
	} else {
		send_ack(res, p, FRAME_RS_NEED, 0, 0);
	}
}

/* A resync chunk is applied (or failed): its blocks are here now. */
static void rs_write_done(struct resource *res, struct peer_req *p, int err)
{
	if (err == 0) {
		if (p->type == FRAME_RS_DATA)
			res->rs.received_bytes += p->len;
		res->rs.applied_bytes += p->len;
		bitmap_clear_range(&res->oos, p->off, p->len);
		if (res->st.role == ROLE_PRIMARY)
			resource_retry_reads(res);
	}
	/* A chunk that failed: the source keeps its bits (this disk failed
	 * and is being detached). */
	send_ack(res, p, FRAME_RS_ACK, 0, err ? FRAME_F_FAILED : 0);
}

/* A write done while its WRITE_ACK must wait (peer_write_acks_held):
 * kept, in completion order, until release_acks. */
static void park_ack(struct resource *res, struct peer_req *p, int err)
{
	p->ack_parked = true;
	p->ack_err = err;
	p->next = NULL;
	if (res->rx.parked_tail)
		res->rx.parked_tail->next = p;
	else
		res->rx.parked = p;
	res->rx.parked_tail = p;
}

/* The parked WRITE_ACKs go (send: else dropped, their connection gone). */
static void release_acks(struct resource *res, bool send)
{
	while (res->rx.parked) {
		struct peer_req *p = res->rx.parked;

		res->rx.parked = p->next;
		p->next = NULL;
		p->ack_parked = false;
		if (send)
			send_ack(res, p, FRAME_WRITE_ACK, p->ack_err, 0);
		preq_maybe_free(res, p);
	}
	res->rx.parked_tail = NULL;
}

bool receiver_writes_pending(const struct resource *res)
{
	for (const struct peer_req *p = res->rx.fifo; p; p = p->next)
		if (is_write_frame(p->type))
			return true;
	for (const struct peer_req *p = res->rx.inflight; p; p = p->next)
		if (is_write_frame(p->type))
			return true;
	return false;
}

static void io_done(struct disk_io *io, int err)
{
	struct peer_req *p = container_of(io, struct peer_req, io);
	struct resource *res = p->res;
	bool rs = p->type == FRAME_RS_DATA || p->type == FRAME_RS_ZERO;

	if (p->type == FRAME_BARRIER) {
		/* The flushing barrier's fdatasync; the barrier stays at the
		 * FIFO head until now. Its ack carries a failure: nothing of
		 * the epoch may count as durable here. */
		p->flushing = false;
		p->flushed = true;
		p->flush_err = err < 0 ? err : 0;
		if (err < 0)
			log_err("flush for the peer's barrier failed: %s",
				strerror(-err));
		receiver_process(res);
		return;
	}
	if (rs && err == 0) {
		p->run_off += p->run_len;
		if (rs_next_run(res, p)) {
			submit_io(res, p);	/* stays in flight */
			return;
		}
	}
	/* A block found identical may be so only in this disk's cache: a
	 * flush makes it durable before it counts as in sync here, as the
	 * resync's own writes are (FUA). */
	if (p->type == FRAME_RS_CSUM && err == 0 && !p->same_flushing &&
	    crc32c(0, p->buf, p->len) == p->csum) {
		preq_put_buf(res, p);
		p->same_flushing = true;
		memset(&p->io, 0, sizeof(p->io));
		p->io.cmd = DISK_FLUSH;
		p->io.done = io_done;
		disk_submit(&res->disk, &p->io);	/* stays in flight */
		return;
	}
	inflight_del(res, p);
	if (is_read_frame(p->type)) {
		read_frame_done(res, p, err);
	} else {
		if (err < 0) {
			log_err("applying the peer's %u bytes at %llu failed: %s",
				p->len, (unsigned long long)p->off, strerror(-err));
		} else if (p->type == FRAME_DATA) {
			res->written_bytes += p->len;
		}
		preq_put_buf(res, p);
		if (rs)
			rs_write_done(res, p, err);
		else if (peer_write_acks_held(res))
			park_ack(res, p, err);
		else
			send_ack(res, p, FRAME_WRITE_ACK, err, 0);
	}
	preq_put(res, p);
	if (res->st.role == ROLE_PRIMARY) {	/* requests that overlapped it */
		writepath_retry_waiting(res);
		resource_retry_reads(res);
	}
	if (res->st.repl == RS_SYNC_SOURCE || res->st.repl == RS_PAUSED_SYNC_S)
		resync_pump(res);	/* chunks that waited for it */
	receiver_process(res);
}

static void rs_nothing_run(struct loop_op *op, int r)
{
	(void)r;
	io_done(container_of(op, struct disk_io, op), 0);
}

/* Start the FIFO head. Resync data first looks for blocks still to
 * fill: a chunk with none left completes without touching the disk. */
static void start_io(struct resource *res, struct peer_req *p)
{
	p->prev = NULL;
	p->next = res->rx.inflight;
	if (res->rx.inflight)
		res->rx.inflight->prev = p;
	res->rx.inflight = p;
	res->rx.inflight_count++;
	if (p->type == FRAME_RS_DATA || p->type == FRAME_RS_ZERO) {
		p->run_off = p->off;
		p->run_len = 0;
		if (!rs_next_run(res, p)) {
			/* Every block came before: all of it is newer here. */
			loop_defer(res->loop, &p->io.op, rs_nothing_run, 0);
			return;
		}
	}
	submit_io(res, p);
}

/* Can this node do what p asks? Not without a usable disk, and reads
 * for a Primary without a disk only from an UpToDate one. */
static bool can_serve(const struct resource *res, const struct peer_req *p)
{
	if (p->type == FRAME_BARRIER && !(p->flags & FRAME_F_FLUSH))
		return true;
	if (!resource_has_disk(res))
		return false;
	return p->type != FRAME_READ_REQ || res->st.disk_state == DS_UPTODATE;
}

/* Answer p without touching the disk: its peer learns that nothing of it
 * happened here (and, by STATE, why). */
static void refuse(struct resource *res, struct peer_req *p)
{
	if (p->type != FRAME_READ_REQ)
		preq_put_buf(res, p);
	switch (p->type) {
	case FRAME_BARRIER:
		send_ack(res, p, FRAME_BARRIER_ACK, -EIO, 0);
		break;
	case FRAME_RS_DATA:
	case FRAME_RS_ZERO:
	case FRAME_RS_CSUM:
		send_ack(res, p, FRAME_RS_ACK, 0, FRAME_F_FAILED);
		break;
	case FRAME_V_REQ:
		p->vmask = ~0ULL;	/* every block differs: nothing to compare */
		send_ack(res, p, FRAME_V_REPLY, 0, 0);
		break;
	case FRAME_READ_REQ:
		preq_put_buf(res, p);
		send_ack(res, p, FRAME_READ_REPLY, -EIO, 0);
		break;
	default:
		send_ack(res, p, FRAME_WRITE_ACK, -EIO, 0);
	}
	preq_put(res, p);
}

void receiver_kick(struct resource *res)
{
	if (!res->rx.kick_queued && res->rx.preqs) {
		res->rx.kick_queued = true;
		loop_defer(res->loop, &res->rx.kick_op, rx_kick_run, 0);
	}
}

static void process_fifo(struct resource *res);

/* Start what the FIFO allows; a receiver held back for a clean stop
 * reports once it holds nothing (leave.c). */
static void receiver_process(struct resource *res)
{
	if (res->rx.parked && !peer_write_acks_held(res))
		release_acks(res, true);
	process_fifo(res);
	peer_boot_record(res);
	if (res->rx.held_back && !res->rx.fifo && !res->rx.inflight_count)
		leave_receiver_idle(res);
}

/* The FIFO's head leaves it (started or refused); a RECV_ACK deferred
 * while the superblock was written goes now, as that write is done. */
static void fifo_pop(struct resource *res)
{
	struct peer_req *p = res->rx.fifo;

	res->rx.fifo = p->next;
	if (!res->rx.fifo)
		res->rx.fifo_tail = NULL;
	p->next = NULL;
	if (p->recv_ack_deferred)
		send_recv_ack(res, p);
}

static void process_fifo(struct resource *res)
{
	/* A metadata change (this disk turning Inconsistent) is durable
	 * before any write of the stream lands. */
	if (meta_busy(&res->meta))
		return;
	while (res->rx.fifo) {
		struct peer_req *p = res->rx.fifo;

		/* A barrier whose fdatasync is running owns its request
		 * until that completes, even if the disk went away since
		 * (refused then: seed 4012, where a flush done at once and
		 * deferred found its request freed and reused). */
		if (p->flushing)
			return;
		if (!can_serve(res, p)) {
			fifo_pop(res);
			refuse(res, p);
			continue;
		}
		if (is_write_frame(p->type) || is_read_frame(p->type)) {
			if (overlaps_inflight(res, p))
				return;
			/* On a SyncSource: not while a chunk over it is read
			 * for the resync (resync_chunk_sent kicks). */
			if (is_write_frame(p->type) &&
			    resync_busy_overlaps(res, p->off, p->len))
				return;
			if (is_read_frame(p->type) && !p->buf &&
			    !(p->buf = bufpool_get(&res->pool, p->len)))
				return;	/* io_done frees buffers and retries */
		} else if (p->type == FRAME_BARRIER) {
			if (res->rx.inflight_count || p->flushing)
				return;
			if ((p->flags & FRAME_F_FLUSH) && !p->flushed) {
				/* Everything before it is done: flush, then ack. */
				memset(&p->io, 0, sizeof(p->io));
				p->io.cmd = DISK_FLUSH;
				p->io.done = io_done;
				p->flushing = true;
				disk_submit(&res->disk, &p->io);
				return;
			}
		}
		fifo_pop(res);
		if (is_write_frame(p->type) || is_read_frame(p->type)) {
			start_io(res, p);
		} else if (p->type == FRAME_BARRIER) {
			if (p->flags & FRAME_F_FLUSH)
				send_ack(res, p, FRAME_BARRIER_ACK, p->flush_err, 0);
			preq_put(res, p);
		}
	}
}

/* Lengths the receiver can serve: a resync chunk (checksummed or not) is
 * at most RS_CHUNK_BYTES and a verify request FRAME_VERIFY_BLOCKS blocks;
 * anything larger could wait forever for a buffer. NULL if fine. */
static const char *bad_length(const struct resource *res,
			      const struct frame_hdr *h)
{
	switch (h->type) {
	case FRAME_RS_CSUM:
	case FRAME_RS_DATA:
		return h->length > RS_CHUNK_BYTES
			? "is larger than a resync chunk (1 MiB)" : NULL;
	case FRAME_V_REQ:
		return h->length > FRAME_VERIFY_BLOCKS * BITMAP_BLOCK_BYTES
			? "is larger than a verify request" : NULL;
	case FRAME_READ_REQ:
		return h->length > res->pool.size_bytes
			? "is larger than the buffer pool (buffer-mib)" : NULL;
	default:
		return NULL;
	}
}

static void frame_refused(struct resource *res, const struct frame_hdr *h,
			  uint8_t *buf, const char *why)
{
	char msg[160];

	if (buf)
		bufpool_put(&res->pool, buf, h->length);
	snprintf(msg, sizeof(msg), "%s of %u bytes at %llu %s",
		 frame_type_name(h->type), h->length,
		 (unsigned long long)h->offset, why);
	link_drop(res->link, msg);
}

/* Why the peer's stream frame h cannot be served, or NULL. */
static const char *frame_problem(const struct resource *res,
				 const struct frame_hdr *h)
{
	if (h->type != FRAME_BARRIER && h->length == 0)
		return "is empty";
	if (h->type != FRAME_BARRIER &&
	    (h->offset > res->disk.size_bytes ||
	     h->length > res->disk.size_bytes - h->offset))
		return "ends beyond the end of the disk";
	return bad_length(res, h);
}

void receiver_frame(struct resource *res, const struct frame_hdr *h,
		    const uint8_t *payload, uint8_t *buf)
{
	struct peer_req *p = preq_head(&res->rx);
	const char *why;

	if ((why = frame_problem(res, h))) {
		frame_refused(res, h, buf, why);
		return;
	}
	if (!p) {
		/* The link asks receiver_frame_ready() first: a bug. */
		frame_refused(res, h, buf, "found no free request slot");
		return;
	}
	res->rx.preq_free = p->next;
	memset(p, 0, offsetof(struct peer_req, ack_tx));
	p->res = res;
	p->type = h->type;
	p->flags = h->flags;
	p->id = h->id;
	p->off = h->offset;
	p->len = h->length;
	p->buf = buf;
	if (is_read_frame(h->type) && !buf && res->rx.read_buf &&
	    res->rx.read_buf_len == h->length) {
		p->buf = res->rx.read_buf;
		res->rx.read_buf = NULL;
	}
	p->link_gen = link_generation(res->link);
	if (h->type == FRAME_RS_CSUM)
		p->csum = be_get32(payload);
	if (h->type == FRAME_V_REQ)
		memcpy(p->vcrc, payload, h->payload_len);
	/* Protocol B: received. Not while the superblock is being written
	 * (a record that this disk holds every acknowledged write being
	 * dropped, say): then when the frame leaves the FIFO, which waits
	 * for that write. */
	if (h->flags & FRAME_F_WANT_RECV_ACK) {
		if (meta_busy(&res->meta))
			p->recv_ack_deferred = true;
		else
			send_recv_ack(res, p);
	}
	if (res->rx.fifo_tail)
		res->rx.fifo_tail->next = p;
	else
		res->rx.fifo = p;
	res->rx.fifo_tail = p;
	if (!res->rx.kick_queued) {
		res->rx.kick_queued = true;
		loop_defer(res->loop, &res->rx.kick_op, rx_kick_run, 0);
	}
}

/* The stream is cut: what is queued but not started never reached the
 * disk, and the Primary marks all of it out of sync. Drop it. */
void receiver_peer_lost(struct resource *res)
{
	struct peer_req *head = res->rx.fifo;

	/* A barrier whose fdatasync is running stays until it completes;
	 * there is nobody to ack it to any more. */
	if (head && head->flushing) {
		res->rx.fifo = head->next;
		head->next = NULL;
		head->flags &= ~FRAME_F_FLUSH;
	} else {
		head = NULL;
	}
	while (res->rx.fifo) {
		struct peer_req *p = res->rx.fifo;

		res->rx.fifo = p->next;
		preq_put_buf(res, p);
		p->flushing = false;
		preq_put(res, p);
	}
	res->rx.fifo = res->rx.fifo_tail = head;
	release_acks(res, false);
	read_buf_put(res);
}
