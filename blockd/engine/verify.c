/* verify.c - online verify: are both copies really equal?
 *
 * The node that runs 'blockctl verify' (VerifyS) walks its whole data area
 * in chunks of FRAME_VERIFY_BLOCKS blocks: it reads a chunk, sends a CRC32C
 * per 4 KiB block (V_REQ); the peer (VerifyT) reads the same chunk in
 * stream order, compares, and answers with a mask of the blocks that
 * differ (V_REPLY). Those blocks are marked out of sync and counted; at
 * the end the 'out-of-sync' hook runs if any differ, and a resync repairs
 * them ('blockctl resync', or at once with verify-auto-resync = yes).
 *
 * The application keeps running. A chunk under an active write waits; an
 * application write to a chunk being read waits until its V_REQ is in the
 * socket (the same rule as resync), and the peer applies writes and
 * verify reads in stream order, so both sides compare the same moment.
 * Chunks share the resync's request slots and pacing.
 */
#include "blockd/engine/verify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/sm.h"
#include "blockd/engine/resource.h"
#include "common/container_of.h"
#include "common/crc32c.h"
#include "common/endian.h"
#include "common/log.h"

#define VERIFY_CHUNK_BYTES (FRAME_VERIFY_BLOCKS * BITMAP_BLOCK_BYTES)

static void v_read_done(struct disk_io *io, int err)
{
	struct rs_req *rs = container_of(io, struct rs_req, io);
	struct resource *res = rs->res;
	struct frame_hdr *h = &rs->tx.h;
	uint32_t n = rs->len / (uint32_t)BITMAP_BLOCK_BYTES;

	if (err < 0 || res->st.repl != RS_VERIFY_S || !link_is_up(res->link) ||
	    rs->link_gen != link_generation(res->link)) {
		if (err < 0)
			log_err("verify read at %llu failed: %s",
				(unsigned long long)rs->off, strerror(-err));
		resync_chunk_sent(&rs->tx, -EIO);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		be_put32(rs->tx.inline_payload + 4 * i,
			  crc32c(0, rs->buf + (size_t)i * BITMAP_BLOCK_BYTES,
				 BITMAP_BLOCK_BYTES));
	memset(h, 0, sizeof(*h));
	h->type = FRAME_V_REQ;
	h->id = rs->id;
	h->offset = rs->off;
	h->length = rs->len;
	h->payload_len = 4 * n;
	rs->tx.payload = rs->tx.inline_payload;
	rs->tx.sent = resync_chunk_sent;
	link_send(res->link, &rs->tx);
}

static void verify_finish(struct resource *res)
{
	char first[160] = "";
	size_t used = 0;

	for (unsigned i = 0; i < res->vf.first_n && used < sizeof(first) - 24; i++)
		used += (size_t)snprintf(first + used, sizeof(first) - used, "%s%llu",
					 i ? ", " : "", (unsigned long long)res->vf.first[i]);
	resource_step(res, SM_EV_REPL, SM_REPL_VERIFY_DONE);
	res->vf.done_pct = 100;
	log_info("verify finished: %llu blocks of 4 KiB differ%s%s%s",
		 (unsigned long long)res->vf.mismatch,
		 res->vf.mismatch ? " (first at byte offsets " : "", first,
		 res->vf.mismatch ? ")" : "");
	if (res->vf.mismatch)
		resource_post(res, SM_ACT_HOOK_OUT_OF_SYNC);
	resource_commit(res, "verify-finished");
	if (!res->vf.mismatch)
		return;
	if (res->cfg->verify_auto_resync)
		peer_start_resync(res, false, NULL, 0);
}

void verify_peer_promoted(struct resource *res)
{
	if (res->st.repl != RS_VERIFY_S || res->st.role != ROLE_SECONDARY ||
	    res->st.peer_role != ROLE_PRIMARY)
		return;
	/* The peer read what those requests ask for after its promotion,
	 * and maybe after writes of its own there, which this node applies
	 * too: a difference they report may be such a write. Answers that
	 * came before the promotion (it comes in stream order) compared a
	 * moment with no writes on either side, and count. */
	res->vf.stale_upto = res->rs.next_id;
	resource_step(res, SM_EV_REPL, SM_REPL_VERIFY_DONE);
	log_warn("verify stopped at %.1f%%: the peer %s became Primary (%llu "
		 "blocks of 4 KiB differed so far); run verify on the Primary",
		 res->vf.done_pct, res->peer_name ? res->peer_name : "",
		 (unsigned long long)res->vf.mismatch);
}

void verify_pump(struct resource *res)
{
	uint64_t nbits = res->oos.nbits;

	if (res->st.repl != RS_VERIFY_S || !link_is_up(res->link))
		return;
	while (res->rs.inflight < RS_REQS_MAX && res->rs.tokens > 0) {
		uint64_t off = res->vf.cursor * BITMAP_BLOCK_BYTES, len;
		struct rs_req *rs;

		if (res->vf.cursor >= nbits) {
			if (res->rs.inflight == 0)
				verify_finish(res);
			return;
		}
		len = VERIFY_CHUNK_BYTES;
		if (off + len > res->disk.size_bytes)
			len = (res->disk.size_bytes - off) / BITMAP_BLOCK_BYTES *
			      BITMAP_BLOCK_BYTES;
		if (!len) {	/* a partial last block is not verified */
			res->vf.cursor = nbits;
			continue;
		}
		if (writepath_overlaps_active(res, off, len))
			return;	/* a completion pumps again */
		rs = resync_slot_take(res, off, len);
		if (!rs)
			return;
		res->vf.cursor += len / BITMAP_BLOCK_BYTES;
		res->vf.done_pct = 100.0 * (double)res->vf.cursor / (double)nbits;
		memset(&rs->io, 0, sizeof(rs->io));
		rs->io.cmd = DISK_READ;
		rs->io.off = off;
		rs->io.len = rs->len;
		rs->io.buf = rs->buf;
		rs->io.done = v_read_done;
		disk_submit(&res->disk, &rs->io);
	}
}

static void count_differing(struct resource *res, const struct rs_req *rs,
			    uint64_t mask)
{
	for (unsigned b = 0; b < FRAME_VERIFY_BLOCKS; b++) {
		uint64_t off = rs->off + b * BITMAP_BLOCK_BYTES;

		if (!(mask >> b & 1) || off >= rs->off + rs->len)
			continue;
		bitmap_mark_range(&res->oos, off, BITMAP_BLOCK_BYTES);
		if (res->vf.first_n < sizeof(res->vf.first) / sizeof(res->vf.first[0]))
			res->vf.first[res->vf.first_n++] = off;
		res->vf.mismatch++;
	}
}

void verify_reply(struct resource *res, uint64_t id, uint64_t mask)
{
	for (unsigned i = 0; i < RS_REQS_MAX; i++) {
		struct rs_req *rs = &res->rs.reqs[i];

		if (!rs->in_use || rs->busy || rs->id != id)
			continue;
		if (id > res->vf.stale_upto)
			count_differing(res, rs, mask);
		rs->in_use = false;
		res->rs.inflight--;
		verify_pump(res);
		return;
	}
	link_drop(res->link, "verify reply for an unknown request");
}

int verify_start(struct resource *res, char *err, size_t errlen)
{
	/* The source orders the Primary's writes around what it reads. */
	if (res->st.role == ROLE_SECONDARY && res->st.peer_role == ROLE_PRIMARY) {
		snprintf(err, errlen, "run verify on the Primary (%s)",
			 res->peer_name ? res->peer_name : "the peer");
		return -EPERM;
	}
	if (!res->link || res->st.repl != RS_ESTABLISHED ||
	    res->st.disk_state != DS_UPTODATE || res->st.peer_disk != DS_UPTODATE) {
		snprintf(err, errlen, "verify needs a connected pair, both UpToDate "
			 "and no resync running (replication is %s)",
			 repl_state_name(res->st.repl));
		return -EPERM;
	}
	if (!(link_features(res->link) & FRAME_FEAT_VERIFY)) {
		snprintf(err, errlen, "the peer's blockd does not support verify");
		return -EOPNOTSUPP;
	}
	resource_step(res, SM_EV_REPL, SM_REPL_VERIFY_S);
	res->vf.cursor = 0;
	res->vf.mismatch = 0;
	res->vf.first_n = 0;
	res->vf.done_pct = 0;
	log_info("online verify started");
	resource_commit(res, "verify-started");	/* STATE: the peer is VerifyT */
	resync_rate_tick(res, RESOURCE_TICK_MS);
	verify_pump(res);
	return 0;
}

/* A verify read on the target finished: compare and answer. */
void verify_target_done(struct resource *res, struct peer_req *p, int err,
			uint64_t *mask)
{
	uint32_t n = p->len / (uint32_t)BITMAP_BLOCK_BYTES;

	*mask = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t crc = err ? 0 : crc32c(0, p->buf + (size_t)i * BITMAP_BLOCK_BYTES,
						BITMAP_BLOCK_BYTES);

		if (err || crc != be_get32(p->vcrc + 4 * i))
			*mask |= 1ULL << i;
	}
}
