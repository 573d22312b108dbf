/* remote.c - reads served by the peer, for a Primary whose data is there
 * only: its disk failed or was detached (Diskless).
 *
 *   submit --slot free--> READ_REQ queued --READ_REPLY--> data copied,
 *      \--no slot--> waiting (FIFO)    |        next piece or done
 *                                       \--peer lost--> EIO
 *
 * A read crosses in pieces of at most REMOTE_PIECE_BYTES, one after the
 * other on its slot: the reply's data arrives in a pool buffer while the
 * read holds its own, and only pieces that small always find one.
 *
 * The peer takes a READ_REQ in its stream order, after every write sent
 * before it, so a read sees every write that completed before it was
 * submitted. A slot is reused only once its READ_REQ left the socket and
 * its request was answered; ids carry a use count, so a reply can only
 * match the request it answers.
 *
 * Called from resource.c (submitting reads), peer.c (replies, peer lost).
 */
#include "blockd/engine/remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blockd/engine/resource.h"
#include "common/container_of.h"
#include "common/log.h"

int remote_init(struct resource *res)
{
	res->rr.reads = calloc(REMOTE_READS_MAX, sizeof(*res->rr.reads));
	return res->rr.reads ? 0 : -ENOMEM;
}

void remote_fini(struct resource *res)
{
	free(res->rr.reads);
	res->rr.reads = NULL;
}

static void rread_maybe_next(struct resource *res);
static void rread_piece(struct resource *res, struct remote_read *rr);

static void rread_sent(struct link_tx *tx, int err)
{
	struct remote_read *rr = container_of(tx, struct remote_read, tx);
	struct resource *res = rr->res;

	rr->tx_busy = false;
	if (err && rr->req) {	/* the connection is gone: no reply comes */
		struct blk_req *r = rr->req;

		rr->req = NULL;
		rr->next_piece = false;
		r->done(r, -EIO);
	}
	if (rr->next_piece && rr->req) {
		rr->next_piece = false;
		rread_piece(res, rr);
	}
	rread_maybe_next(res);
}

static struct remote_read *rread_free_slot(struct resource *res)
{
	for (unsigned i = 0; i < REMOTE_READS_MAX; i++) {
		struct remote_read *rr = &res->rr.reads[i];

		if (!rr->req && !rr->tx_busy)
			return rr;
	}
	return NULL;
}

/* Ask for the next piece of rr's read (its tx is free). */
static void rread_piece(struct resource *res, struct remote_read *rr)
{
	unsigned slot = (unsigned)(rr - res->rr.reads);
	struct frame_hdr *h = &rr->tx.h;
	uint32_t left = rr->req->local.len - rr->done;

	rr->id = ++res->rr.uses * REMOTE_READS_MAX + slot;
	rr->piece = left < REMOTE_PIECE_BYTES ? left : REMOTE_PIECE_BYTES;
	rr->tx_busy = true;
	memset(h, 0, sizeof(*h));
	h->type = FRAME_READ_REQ;
	h->id = rr->id;
	h->offset = rr->req->local.off + rr->done;
	h->length = rr->piece;
	rr->tx.payload = NULL;
	rr->tx.sent = rread_sent;
	link_send(res->link, &rr->tx);
}

static void rread_start(struct resource *res, struct remote_read *rr,
			struct blk_req *r)
{
	rr->res = res;
	rr->req = r;
	rr->done = 0;
	rr->next_piece = false;
	rread_piece(res, rr);
}

static void rread_maybe_next(struct resource *res)
{
	while (res->rr.waiting) {
		struct remote_read *rr = rread_free_slot(res);
		struct blk_req *r = res->rr.waiting;

		if (!rr)
			return;
		res->rr.waiting = r->next;
		r->next = NULL;
		rread_start(res, rr, r);
	}
}

void remote_read_submit(struct resource *res, struct blk_req *r)
{
	struct remote_read *rr = res->rr.waiting ? NULL : rread_free_slot(res);

	if (rr) {
		rread_start(res, rr, r);
		return;
	}
	r->next = NULL;
	if (!res->rr.waiting) {
		res->rr.waiting = r;
	} else {
		struct blk_req *t = res->rr.waiting;

		while (t->next)
			t = t->next;
		t->next = r;
	}
}

/* A READ_REPLY: buf holds h->length bytes of data (owned now), or is
 * NULL for an error reply (length 0, -errno in offset). */
void remote_read_reply(struct resource *res, const struct frame_hdr *h,
		       uint8_t *buf)
{
	struct remote_read *rr = &res->rr.reads[h->id % REMOTE_READS_MAX];
	struct blk_req *r = rr->req;
	int err = 0;

	if (!r || rr->id != h->id || rr->next_piece ||
	    (h->length && h->length != rr->piece)) {
		if (buf)
			bufpool_put(&res->pool, buf, h->length);
		link_drop(res->link, "read reply for an unknown request");
		return;
	}
	if (h->length) {
		memcpy(r->local.buf + rr->done, buf, h->length);
		bufpool_put(&res->pool, buf, h->length);
		res->read_bytes += h->length;
		rr->done += h->length;
		if (rr->done < r->local.len) {
			/* The next piece; its READ_REQ may still be leaving. */
			if (rr->tx_busy)
				rr->next_piece = true;
			else
				rread_piece(res, rr);
			return;
		}
	} else {
		int64_t e = frame_status(h);

		err = e < 0 && e > -4096 ? (int)e : -EIO;
		log_err("the peer failed a read of %u bytes at %llu for us: %s",
			r->local.len, (unsigned long long)r->local.off,
			strerror(-err));
	}
	rr->req = NULL;
	r->done(r, err);
	rread_maybe_next(res);
}

/* The peer is gone: what it has not answered fails (there is no other
 * copy); the READ_REQs still queued come back through rread_sent. */
void remote_read_peer_lost(struct resource *res)
{
	struct blk_req *list = res->rr.waiting;

	if (!res->rr.reads)
		return;
	res->rr.waiting = NULL;
	for (unsigned i = 0; i < REMOTE_READS_MAX; i++) {
		struct remote_read *rr = &res->rr.reads[i];
		struct blk_req *r = rr->req;

		if (!r || rr->tx_busy)
			continue;
		rr->req = NULL;
		r->done(r, -EIO);
	}
	while (list) {
		struct blk_req *r = list;

		list = r->next;
		r->next = NULL;
		r->done(r, -EIO);
	}
}
