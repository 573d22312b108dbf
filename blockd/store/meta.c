/* meta.c - see meta.h. */
#include "blockd/store/meta.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockd/store/metafile.h"
#include "common/clock.h"
#include "common/container_of.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "common/rand.h"

/* Per-page flags (m->bm_flags). */
#define META_BM_WRITING	(1U << 0)	/* a write of the page is in flight */
#define META_BM_WANT	(1U << 1)	/* a waiter needs it: write it next */

uint64_t meta_uuid_random(void)
{
	uint64_t u = 0;

	while (u == 0 || u == UUID_JUST_CREATED)
		u = rand_u64();
	return u;
}

static int meta_read_al(struct meta *m)
{
	struct meta_al *best = calloc(1, sizeof(*best)), *cur = calloc(1, sizeof(*cur));
	bool found = false;
	int ret = 0;

	if (!best || !cur) {
		ret = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < META_AL_SLOTS; i++) {
		ret = metafile_pread(m->fd, m->sync_buf, META_BLOCK,
				 m->base + meta_al_offset() + (uint64_t)i * META_BLOCK);
		if (ret < 0)
			goto out;
		if (meta_al_decode(m->sync_buf, cur) == 0 &&
		    (!found || cur->seq > best->seq)) {
			*best = *cur;
			found = true;
		}
	}
	if (found) {
		m->al_tx = *best;	/* kept for the crash check */
		al_load(&m->al, best);
	}
	ret = 0;
out:
	free(best);
	free(cur);
	return ret;
}

/* The bitmap is read in large pieces: start-up time must not grow with a
 * page-at-a-time read of a big device's bitmap. */
#define META_BM_READ_BYTES (1U << 20)

static int meta_read_bitmap(struct meta *m, struct bitmap *oos)
{
	uint64_t off = m->base + meta_bitmap_offset();
	uint64_t pages_per_read = META_BM_READ_BYTES / META_BLOCK;
	uint8_t *buf = aligned_alloc(META_BLOCK, META_BM_READ_BYTES);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t p = 0; p < oos->npages && ret == 0; p += pages_per_read) {
		uint64_t n = oos->npages - p < pages_per_read ? oos->npages - p
							      : pages_per_read;

		ret = metafile_pread(m->fd, buf, n * META_BLOCK, off + p * META_BLOCK);
		for (uint64_t i = 0; ret == 0 && i < n; i++)
			bitmap_page_load(oos, p + i, buf + i * META_BLOCK);
	}
	free(buf);
	memset(oos->page_dirty, 0, oos->npages);
	return ret;
}

int meta_open(struct meta *m, const char *spec, int disk_fd, uint64_t dev_bytes,
	      const char *node_name, uint32_t al_cap, struct bitmap *oos)
{
	struct meta_sb s[META_SB_SLOTS];
	int r[META_SB_SLOTS], pick, ret;
	uint64_t data;
	const char *where = metafile_internal(spec) ? "the end of the disk" : spec;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->sb_buf = aligned_alloc(META_BLOCK, META_BLOCK);
	m->al_buf = aligned_alloc(META_BLOCK, META_BLOCK);
	m->sync_buf = aligned_alloc(META_BLOCK, META_BLOCK);
	if (!m->sb_buf || !m->al_buf || !m->sync_buf)
		return -ENOMEM;
	for (int i = 0; i < META_BM_WRITES; i++) {
		m->bm[i].m = m;
		m->bm[i].buf = aligned_alloc(META_BLOCK, META_BLOCK);
		if (!m->bm[i].buf)
			return -ENOMEM;
	}
	ret = metafile_locate(spec, disk_fd, dev_bytes, false, &m->fd, &m->own_fd,
			  &m->base, &data);
	if (ret < 0) {
		log_err("metadata at %s: %s", where, strerror(-ret));
		return ret;
	}
	for (int i = 0; i < META_SB_SLOTS; i++) {
		ret = metafile_pread(m->fd, m->sync_buf, META_BLOCK,
				 m->base + (uint64_t)i * META_BLOCK);
		if (ret < 0)
			return ret;
		r[i] = meta_sb_decode(m->sync_buf, &s[i]);
	}
	if (r[0] == -EPROTONOSUPPORT || r[1] == -EPROTONOSUPPORT) {
		log_err("metadata at %s is from a newer blockd: refusing to use it",
			where);
		return -EPROTONOSUPPORT;
	}
	pick = meta_sb_pick(r[0], &s[0], r[1], &s[1]);
	if (pick < 0) {
		log_err("no blockd metadata at %s: run 'blockctl create-md' "
			"for this node first", where);
		return -ENODATA;
	}
	if (r[0] != r[1])
		log_warn("metadata superblock slot %d is damaged; using slot %d",
			 1 - pick, pick);
	m->sb = s[pick];
	m->sb_slot = pick;
	m->node_id = metafile_node_id(node_name);
	if (m->sb.node_id != m->node_id) {
		log_err("metadata at %s was created for another node, not %s",
			where, node_name);
		return -EINVAL;
	}
	if (m->sb.data_bytes > data || (metafile_internal(spec) && m->sb.data_bytes != data)) {
		log_err("metadata describes %llu bytes of data but the disk holds "
			"%llu: was the disk resized?",
			(unsigned long long)m->sb.data_bytes, (unsigned long long)data);
		return -EINVAL;
	}
	if (al_cap && al_cap != m->sb.al_extents)
		m->sb.al_extents = al_cap;
	ret = al_init(&m->al, m->sb.al_extents, m->sb.data_bytes);
	if (ret == 0)
		ret = bitmap_init(oos, m->sb.data_bytes);
	if (ret == 0) {
		m->bm_flags = calloc(oos->npages ? oos->npages : 1, 1);
		m->bm_durable_reg = calloc(oos->npages ? oos->npages : 1,
					   sizeof(uint64_t));
		if (!m->bm_flags || !m->bm_durable_reg)
			ret = -ENOMEM;
	}
	if (ret == 0)
		ret = meta_read_al(m);
	if (ret == 0)
		ret = meta_read_bitmap(m, oos);
	if (ret < 0)
		return ret;
	m->enabled = true;
	if (m->sb.flags & MDF_CRASHED_PRIMARY) {
		/* Every extent of the last transaction, whatever al-extents
		 * is now: any of them may hold writes the peer lacks. */
		for (uint32_t i = 0; i < m->al_tx.n; i++)
			bitmap_mark_range(oos, (uint64_t)m->al_tx.ext[i] *
					  META_EXTENT_BYTES, META_EXTENT_BYTES);
		log_warn("this node was Primary and did not shut down cleanly: "
			 "%u activity log extents marked out of sync", m->al_tx.n);
	}
	log_info("metadata: %llu bytes of data, uuid %016llx:%016llx, %llu bytes "
		 "out of sync", (unsigned long long)m->sb.data_bytes,
		 (unsigned long long)m->sb.uuid[UUID_CURRENT],
		 (unsigned long long)m->sb.uuid[UUID_BITMAP],
		 (unsigned long long)bitmap_dirty_bytes(oos));
	return 0;
}

void meta_close(struct meta *m)
{
	if (m->own_fd && m->fd >= 0)
		close(m->fd);
	al_fini(&m->al);
	free(m->sb_buf);
	free(m->al_buf);
	free(m->sync_buf);
	for (int i = 0; i < META_BM_WRITES; i++)
		free(m->bm[i].buf);
	free(m->bm_flags);
	free(m->bm_durable_reg);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

uint64_t meta_data_bytes(const struct meta *m)
{
	return m->sb.data_bytes;
}

void meta_bind(struct meta *m, struct loop *l, struct bitmap *oos,
	       const struct meta_ops *ops, void *arg)
{
	m->loop = l;
	m->oos = oos;
	m->ops = ops;
	m->arg = arg;
}

bool meta_idle(const struct meta *m)
{
	if (m->sb_writing || m->al_issued || m->fail_queued)
		return false;
	for (unsigned i = 0; i < META_BM_WRITES; i++)
		if (m->bm[i].busy)
			return false;
	return true;
}

bool meta_busy(const struct meta *m)
{
	return m->retiring || (m->enabled && !m->failed && m->sb_writing);
}

/* ---- failure ---------------------------------------------------------- */

static void meta_fail_notify(struct loop_op *op, int err)
{
	struct meta *m = container_of(op, struct meta, fail_op);

	m->fail_queued = false;
	m->ops->failed(m->arg, err);
}

/* A request that needs a metadata write on failed metadata: its owner
 * hears of the failure again (from the loop, never from inside the
 * caller), so whatever waits for that write is failed too. */
static void meta_refuse(struct meta *m)
{
	if (m->fail_queued)
		return;
	m->fail_queued = true;
	loop_defer(m->loop, &m->fail_op, meta_fail_notify, m->err);
}

/* A metadata write failed: log the original error, stop writing, and
 * tell the owner. Waiters are never released as durable. */
static void meta_fail(struct meta *m, const char *what, int res)
{
	int err = res < 0 ? res : -EIO;

	log_err("metadata %s write failed: %s%s", what,
		res < 0 ? strerror(-res) : "short write",
		m->failed ? "" : "; no more metadata is written and writes that "
				 "need it fail");
	if (m->failed)
		return;
	m->failed = true;
	m->err = err;
	m->ops->failed(m->arg, err);
}

/* ---- superblock ------------------------------------------------------- */

static void sb_write_issue(struct meta *m);

/* Tries of the last superblock before the disk is left as it is. */
#define META_RETIRE_TRIES 3

/* A superblock write completed while the disk is being given up: write
 * the last one (again), or finish. */
static void retire_done(struct meta *m, bool ok, int res)
{
	if (!ok && ++m->retire_tries >= META_RETIRE_TRIES) {
		log_err("the disk's last superblock (marking it Inconsistent) "
			"could not be written (%s): a restart over this disk "
			"would find its old state. Do not start this node over "
			"it: run 'blockctl create-md' first, or attach a new disk",
			res < 0 ? strerror(-res) : "short write");
	} else if (!ok || m->sb_again) {
		m->sb_again = false;
		sb_write_issue(m);
		return;
	} else {
		log_info("the disk's last superblock is written: a restart "
			 "over it finds it Inconsistent (resynced in full)");
	}
	m->sb_writing = m->retiring = false;
	m->ops->durable(m->arg);	/* held I/O goes on */
}

static void sb_write_done(struct loop_op *op, int res)
{
	struct meta *m = container_of(op, struct meta, sb_op);

	if (res == (int)META_BLOCK)
		m->sb_slot = 1 - m->sb_slot;
	if (m->retiring) {
		retire_done(m, res == (int)META_BLOCK, res);
		return;
	}
	if (res != (int)META_BLOCK) {
		m->sb_writing = m->sb_again = false;
		meta_fail(m, "superblock", res);
		return;
	}
	m->sb_ticket_durable = m->sb_ticket_issued;
	if (m->sb_again) {
		m->sb_again = false;
		sb_write_issue(m);
		return;
	}
	m->sb_writing = false;
	m->ops->durable(m->arg);
}

/* One encoded metadata block to its place in the area (off from the
 * area's start), durable when done runs (RWF_DSYNC): the one way the
 * running daemon writes metadata. */
static void block_write(struct meta *m, const uint8_t *buf, uint64_t off,
			struct loop_op *op, loop_done_fn done)
{
	struct io_uring_sqe *sqe = loop_sqe(m->loop);

	io_uring_prep_write(sqe, m->fd, buf, META_BLOCK, m->base + off);
	sqe->rw_flags = RWF_DSYNC;
	loop_op_arm(m->loop, sqe, op, done);
}

static void sb_write_issue(struct meta *m)
{
	m->sb_ticket_issued = m->sb_ticket;
	m->sb.seq++;
	m->writes.superblock++;
	meta_sb_encode(m->sb_buf, &m->sb);
	block_write(m, m->sb_buf, (uint64_t)(1 - m->sb_slot) * META_BLOCK,
		    &m->sb_op, sb_write_done);
}

uint64_t meta_write_sb(struct meta *m)
{
	if (!m->enabled)
		return 0;
	if (m->failed) {
		meta_refuse(m);
		return ++m->sb_ticket;	/* never durable */
	}
	m->sb_ticket++;
	if (m->sb_writing) {
		m->sb_again = true;
		return m->sb_ticket;
	}
	m->sb_writing = true;
	sb_write_issue(m);
	return m->sb_ticket;
}

bool meta_sb_durable(const struct meta *m, uint64_t ticket)
{
	return m->sb_ticket_durable >= ticket;
}

void meta_retire(struct meta *m)
{
	if (!m->enabled)
		return;
	m->enabled = false;
	/* The crashed-Primary mark stays: at the next start its activity
	 * log extents are marked out of sync again, as the bitmap pages
	 * not yet saved are lost with the disk (an operator who vouches for
	 * this disk with --force then syncs them to the peer). */
	m->sb.flags &= ~(MDF_CONSISTENT | MDF_PEER_OUTDATED | MDF_OUTDATED |
			 MDF_HOLDS_ACKED | MDF_HOLDS_ACKED_BOOT);
	m->sb.flags |= MDF_GIVEN_UP;
	m->retiring = true;
	m->retire_tries = 0;
	if (m->sb_writing) {
		m->sb_again = true;	/* after the write in flight */
		return;
	}
	m->sb_writing = true;
	sb_write_issue(m);
}

void meta_uuid_new_current(struct meta *m)
{
	if (!m->enabled)
		return;
	/* The bitmap already covers changes since an older generation:
	 * keep it, and remember the current one in the history. */
	if (m->sb.uuid[UUID_BITMAP] == 0) {
		m->sb.uuid[UUID_BITMAP] = m->sb.uuid[UUID_CURRENT];
	} else {
		m->sb.uuid[UUID_HISTORY2] = m->sb.uuid[UUID_HISTORY1];
		m->sb.uuid[UUID_HISTORY1] = m->sb.uuid[UUID_CURRENT];
	}
	m->sb.uuid[UUID_CURRENT] = meta_uuid_random();
	log_info("new current generation %016llx (bitmap %016llx)",
		 (unsigned long long)m->sb.uuid[UUID_CURRENT],
		 (unsigned long long)m->sb.uuid[UUID_BITMAP]);
}

/* ---- bitmap pages ----------------------------------------------------- */

static void al_try_write(struct meta *m);

static uint64_t page_of_block(uint64_t blk)
{
	return blk / 64 / BITMAP_WORDS_PER_PAGE;
}

static uint64_t page_of_extent(uint32_t ext)
{
	return page_of_block((uint64_t)ext * META_EXTENT_BYTES / BITMAP_BLOCK_BYTES);
}

/* Does page p hold, durably, everything it held when ticket was taken? */
static bool page_durable(const struct meta *m, uint64_t p, uint64_t ticket)
{
	return m->bm_durable_reg[p] >= ticket ||
	       (!m->oos->page_dirty[p] && !(m->bm_flags[p] & META_BM_WRITING));
}

static void page_want_clear(struct meta *m, uint64_t p)
{
	if (m->bm_flags[p] & META_BM_WANT) {
		m->bm_flags[p] &= (uint8_t)~META_BM_WANT;
		m->bm_want_n--;
	}
}

/* A waiter needs page p: a write of it that starts after now. */
static void page_want(struct meta *m, uint64_t p)
{
	if (p >= m->oos->npages || (m->bm_flags[p] & META_BM_WANT))
		return;
	if (!m->oos->page_dirty[p] && !(m->bm_flags[p] & META_BM_WRITING))
		return;		/* clean: already durable */
	m->bm_flags[p] |= META_BM_WANT;
	m->bm_want_n++;
}

static void bm_write_done(struct loop_op *op, int res);

static struct meta_bm_write *bm_slot_free(struct meta *m)
{
	for (int i = 0; i < META_BM_WRITES; i++)
		if (!m->bm[i].busy)
			return &m->bm[i];
	return NULL;
}

/* Write page p from its own buffer: the encoded copy is what reaches the
 * disk, whatever the bitmap does meanwhile. */
static void bm_issue(struct meta *m, struct meta_bm_write *w, uint64_t p)
{
	m->oos->page_dirty[p] = 0;	/* a change while writing re-marks it */
	m->bm_flags[p] |= META_BM_WRITING;
	page_want_clear(m, p);
	bitmap_page_encode(m->oos, p, w->buf);
	w->busy = true;
	w->page = p;
	w->reg = m->bm_reg;
	m->writes.bitmap++;
	block_write(m, w->buf, meta_bitmap_offset() + p * META_BLOCK, &w->op,
		    bm_write_done);
}

/* Issue the writes waiters need, as far as there are free buffers. A
 * wanted page being written is issued again once that write is done. */
static void bm_pump(struct meta *m)
{
	struct meta_bm_write *w;

	for (uint64_t p = 0; p < m->oos->npages && m->bm_want_n; p++) {
		if (!(m->bm_flags[p] & META_BM_WANT) ||
		    (m->bm_flags[p] & META_BM_WRITING))
			continue;
		if (!m->oos->page_dirty[p]) {
			page_want_clear(m, p);	/* clean and written: durable */
			continue;
		}
		w = bm_slot_free(m);
		if (!w)
			return;
		bm_issue(m, w, p);
	}
}

static void bm_write_done(struct loop_op *op, int res)
{
	struct meta_bm_write *w = container_of(op, struct meta_bm_write, op);
	struct meta *m = w->m;
	uint64_t p = w->page;

	w->busy = false;
	m->bm_flags[p] &= (uint8_t)~META_BM_WRITING;
	if (res != (int)META_BLOCK) {
		m->oos->page_dirty[p] = 1;	/* not on disk: still to save */
		meta_fail(m, "bitmap page", res);
		return;
	}
	m->bm_durable_reg[p] = w->reg;
	if (m->failed)
		return;
	bm_pump(m);
	al_try_write(m);
	m->ops->durable(m->arg);
}

/* A ticket for pages [first, last]: they are written next. */
static uint64_t bm_want_pages(struct meta *m, uint64_t first, uint64_t last)
{
	uint64_t ticket = ++m->bm_reg;

	for (uint64_t p = first; p <= last && p < m->oos->npages; p++)
		page_want(m, p);
	bm_pump(m);
	return ticket;
}

static bool pages_durable(const struct meta *m, uint64_t ticket,
			  uint64_t first, uint64_t last)
{
	if (!m->enabled)
		return true;
	if (m->failed)
		return false;
	for (uint64_t p = first; p <= last && p < m->oos->npages; p++)
		if (!page_durable(m, p, ticket))
			return false;
	return true;
}

void meta_bitmap_save(struct meta *m)
{
	struct bitmap *b = m->oos;
	struct meta_bm_write *w;

	if (!m->enabled || m->failed || !b->npages)
		return;
	w = bm_slot_free(m);
	if (!w)
		return;
	for (uint64_t k = 0; k < b->npages; k++) {
		uint64_t p = (m->bm_cursor + k) % b->npages;

		if (!b->page_dirty[p] || (m->bm_flags[p] & META_BM_WRITING))
			continue;
		bm_issue(m, w, p);
		m->bm_cursor = p + 1;
		return;
	}
}

uint64_t meta_save_bitmap(struct meta *m)
{
	if (!m->enabled)
		return ++m->bm_reg;
	if (m->failed) {
		meta_refuse(m);
		return ++m->bm_reg;
	}
	return bm_want_pages(m, 0, UINT64_MAX);
}

bool meta_bitmap_durable(const struct meta *m, uint64_t ticket)
{
	return pages_durable(m, ticket, 0, UINT64_MAX);
}

bool meta_mark_durable(struct meta *m, uint64_t *ticket, uint64_t off,
		       uint64_t len)
{
	uint64_t first, last;

	if (!m->enabled || !len || !m->oos->nbits)
		return true;
	first = page_of_block(off / BITMAP_BLOCK_BYTES);
	last = len - 1 > UINT64_MAX - off ? UINT64_MAX
					   : page_of_block((off + len - 1) / BITMAP_BLOCK_BYTES);
	if (!*ticket) {
		bitmap_mark_range(m->oos, off, len);
		if (m->failed)
			meta_refuse(m);
		else
			*ticket = bm_want_pages(m, first, last);
		if (!*ticket)
			return false;
	}
	return pages_durable(m, *ticket, first, last);
}

/* ---- activity log ----------------------------------------------------- */

static void al_block_done(struct loop_op *op, int res)
{
	struct meta *m = container_of(op, struct meta, al_op);

	m->al_issued = false;
	if (res != (int)META_BLOCK) {
		/* The transaction stays "committing": the extents it adds
		 * never become usable, and the writes waiting for them are
		 * failed by the owner. */
		meta_fail(m, "activity log", res);
		return;
	}
	al_commit_done(&m->al);
	m->al_writing = false;
	m->ops->durable(m->arg);
	meta_al_kick(m);
}

static void al_write_block(struct meta *m)
{
	uint64_t slot = m->al_tx.seq % META_AL_SLOTS;

	meta_al_encode(m->al_buf, &m->al_tx);
	m->al_issued = true;
	m->writes.activity_log++;
	block_write(m, m->al_buf, meta_al_offset() + slot * META_BLOCK,
		    &m->al_op, al_block_done);
}

/* The prepared transaction goes out once the bitmap pages of every extent
 * it evicts are durable: a crash after it must find their bits. */
static void al_try_write(struct meta *m)
{
	const struct al *al = &m->al;

	if (!m->al_writing || m->al_issued || m->failed)
		return;
	for (uint32_t i = 0; i < al->n_committing_evicted; i++) {
		uint64_t p = page_of_extent(al->evicted[i]);

		if (p < m->oos->npages && !page_durable(m, p, m->al_ticket))
			return;
	}
	al_write_block(m);
}

void meta_al_kick(struct meta *m)
{
	const uint32_t *evicted;
	uint32_t n;

	if (!m->enabled)
		return;
	if (m->failed) {
		meta_refuse(m);		/* a write waits for the log */
		return;
	}
	if (m->al_writing || !al_commit_due(&m->al))
		return;
	m->al_writing = true;
	al_commit_prepare(&m->al, &m->al_tx, &evicted, &n);
	m->al_ticket = ++m->bm_reg;
	for (uint32_t i = 0; i < n; i++)
		page_want(m, page_of_extent(evicted[i]));
	bm_pump(m);
	al_try_write(m);
}

/* ---- shutdown --------------------------------------------------------- */

int meta_flush_sync(struct meta *m)
{
	struct bitmap *b = m->oos;
	int ret = 0;

	if (!m->enabled)
		return 0;
	if (m->failed) {
		log_warn("metadata failed earlier: not saved at shutdown");
		return m->err;
	}
	for (uint64_t p = 0; p < b->npages; p++) {
		if (!b->page_dirty[p])
			continue;
		bitmap_page_encode(b, p, m->sync_buf);
		ret = metafile_pwrite(m->fd, m->sync_buf, META_BLOCK,
				  m->base + meta_bitmap_offset() + p * META_BLOCK);
		if (ret < 0)
			break;
		b->page_dirty[p] = 0;
	}
	if (ret == 0) {
		m->sb.seq++;
		meta_sb_encode(m->sync_buf, &m->sb);
		ret = metafile_pwrite(m->fd, m->sync_buf, META_BLOCK,
				  m->base + (uint64_t)(1 - m->sb_slot) * META_BLOCK);
	}
	if (ret == 0 && fdatasync(m->fd) < 0)
		ret = -errno;
	if (ret < 0)
		log_err("saving metadata at shutdown failed: %s", strerror(-ret));
	else
		m->sb_slot = 1 - m->sb_slot;
	return ret;
}
