/* bmx.c - the bitmap exchange before a bitmap-based resync.
 *
 * Each side sends its out-of-sync bitmap, run-length encoded, in BITMAP
 * frames and a closing BITMAP_DONE, and ORs in the peer's as it arrives.
 * So the blocks changed on the losing side of a split brain are rolled
 * back too, and both sides resync the same union:
 *
 *   start --BITMAP...--> sent BITMAP_DONE --+
 *         <--BITMAP...-- received BITMAP_DONE --+--> done: the source
 *                                                    resyncs once the union
 *                                                    is durable
 *
 * While it runs, this node's bitmap is not whole: the resync waits, and
 * so does every read and write of a Primary SyncTarget (resync.c).
 *
 * Called from peer.c: the sync decision and invalidate start it, the
 * frames and the link's up and down arrive there.
 */
#include "blockd/engine/bmx.h"

#include <stddef.h>
#include <string.h>

#include "blockd/engine/resource.h"
#include "common/container_of.h"
#include "common/log.h"

static void bm_send_next(struct resource *res);

static void bm_sent(struct link_tx *tx, int err)
{
	struct resource *res = container_of(tx, struct resource, bmx.tx);

	if (!err)
		bm_send_next(res);
}

static void bm_exchange_check(struct resource *res)
{
	if (!res->bmx.running || !res->bmx.sent || !res->bmx.received)
		return;
	res->bmx.running = false;
	log_info("bitmaps exchanged: %llu bytes out of sync",
		 (unsigned long long)bitmap_dirty_bytes(&res->oos));
	if (res->st.repl == RS_SYNC_SOURCE)	/* the union survives a crash */
		resource_post(res, SM_ACT_START_RESYNC);
	else
		meta_save_bitmap(&res->meta);
	resource_post(res, SM_ACT_SEND_STATE);	/* what the bitmap holds now */
	resource_commit(res, NULL);
}

static void bm_send_next(struct resource *res)
{
	struct link_tx *tx = &res->bmx.tx;
	uint64_t start = res->bmx.cursor;
	size_t n;

	memset(&tx->h, 0, sizeof(tx->h));
	tx->sent = bm_sent;
	if (start >= res->oos.nbits) {
		if (res->bmx.sent)
			return;
		tx->h.type = FRAME_BITMAP_DONE;
		tx->payload = NULL;
		res->bmx.sent = true;
		log_debug("bitmap sent: %llu blocks", (unsigned long long)start);
		link_send(res->link, tx);
		bm_exchange_check(res);
		return;
	}
	n = bitmap_rle_encode(&res->oos, &res->bmx.cursor, res->bmx.payload,
			      sizeof(res->bmx.payload));
	tx->h.type = FRAME_BITMAP;
	tx->h.offset = start;
	tx->h.id = res->bmx.cursor - start;
	tx->h.payload_len = (uint32_t)n;
	tx->payload = res->bmx.payload;
	link_send(res->link, tx);
}

void bmx_start(struct resource *res)
{
	res->bmx.running = true;
	res->bmx.sent = res->bmx.received = false;
	res->bmx.cursor = 0;
	bm_send_next(res);
}

void bmx_stop(struct resource *res)
{
	res->bmx.running = false;
}

void bmx_frame(struct resource *res, const struct frame_hdr *h,
	       const uint8_t *payload)
{
	if (h->type == FRAME_BITMAP) {
		if (!res->bmx.running ||
		    bitmap_rle_or(&res->oos, h->offset, h->id, payload,
				  h->payload_len) < 0)
			link_drop(res->link, "malformed or unexpected BITMAP");
		return;
	}
	/* BITMAP_DONE */
	log_debug("BITMAP_DONE received (exchange %d sent %d received %d)",
		  res->bmx.running, res->bmx.sent, res->bmx.received);
	if (!res->bmx.running) {
		link_drop(res->link, "unexpected BITMAP_DONE");
		return;
	}
	res->bmx.received = true;
	bm_exchange_check(res);
}
