/* meta.c - see meta.h. */
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockd/metafile.h"
#include "blockd/resource.h"
#include "common/crc32c.h"
#include "common/log.h"

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

/* Bitmap pages written per lazy save, and per AL commit at most. */
#define META_BM_BATCH 1

uint64_t meta_uuid_random(void)
{
	uint64_t u = 0;

	while (u == 0 || u == UUID_JUST_CREATED)
		if (getrandom(&u, sizeof(u), 0) != sizeof(u))
			u = (uint64_t)time(NULL) * 2654435761u;
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
		ret = metafile_pread(m->fd, m->al_buf, META_BLOCK,
				 m->base + meta_al_offset() + (uint64_t)i * META_BLOCK);
		if (ret < 0)
			goto out;
		if (meta_al_decode(m->al_buf, cur) == 0 &&
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
	m->bm_buf = aligned_alloc(META_BLOCK, META_BLOCK * META_BM_BATCH);
	if (!m->sb_buf || !m->al_buf || !m->bm_buf)
		return -ENOMEM;
	ret = metafile_locate(spec, disk_fd, dev_bytes, false, &m->fd, &m->own_fd,
			  &m->base, &data);
	if (ret < 0) {
		log_err("metadata at %s: %s", where, strerror(-ret));
		return ret;
	}
	for (int i = 0; i < META_SB_SLOTS; i++) {
		ret = metafile_pread(m->fd, m->sb_buf, META_BLOCK,
				 m->base + (uint64_t)i * META_BLOCK);
		if (ret < 0)
			return ret;
		r[i] = meta_sb_decode(m->sb_buf, &s[i]);
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
	free(m->bm_buf);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

uint64_t meta_data_bytes(const struct meta *m)
{
	return m->sb.data_bytes;
}

void meta_bind(struct meta *m, struct loop *l, struct resource *res)
{
	m->loop = l;
	m->res = res;
}

bool meta_busy(const struct meta *m)
{
	return m->enabled && m->sb_writing;
}

/* ---- superblock ------------------------------------------------------- */

static void sb_write_issue(struct meta *m);

static void sb_write_done(struct loop_op *op, int res)
{
	struct meta *m = container_of(op, struct meta, sb_op);

	if (res != (int)META_BLOCK)
		log_err("metadata superblock write failed: %s",
			res < 0 ? strerror(-res) : "short write");
	else
		m->sb_slot = 1 - m->sb_slot;
	if (m->sb_again) {
		m->sb_again = false;
		sb_write_issue(m);
		return;
	}
	m->sb_writing = false;
	resource_meta_done(m->res);
}

static void sb_write_issue(struct meta *m)
{
	struct io_uring_sqe *sqe = loop_sqe(m->loop);

	m->sb.seq++;
	meta_sb_encode(m->sb_buf, &m->sb);
	io_uring_prep_write(sqe, m->fd, m->sb_buf, META_BLOCK,
			    m->base + (uint64_t)(1 - m->sb_slot) * META_BLOCK);
	sqe->rw_flags = RWF_DSYNC;
	loop_op_arm(m->loop, sqe, &m->sb_op, sb_write_done);
}

void meta_write_sb(struct meta *m)
{
	if (!m->enabled)
		return;
	if (m->sb_writing) {
		m->sb_again = true;
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

/* ---- activity log ----------------------------------------------------- */

static void al_block_done(struct loop_op *op, int res)
{
	struct meta *m = container_of(op, struct meta, al_op);

	if (res != (int)META_BLOCK)
		log_err("activity log write failed: %s",
			res < 0 ? strerror(-res) : "short write");
	al_commit_done(&m->al);
	m->al_writing = false;
	resource_meta_done(m->res);
	meta_al_kick(m);
}

static void al_write_block(struct meta *m)
{
	struct io_uring_sqe *sqe = loop_sqe(m->loop);
	uint64_t slot = m->al_tx.seq % META_AL_SLOTS;

	meta_al_encode(m->al_buf, &m->al_tx);
	io_uring_prep_write(sqe, m->fd, m->al_buf, META_BLOCK,
			    m->base + meta_al_offset() + slot * META_BLOCK);
	sqe->rw_flags = RWF_DSYNC;
	loop_op_arm(m->loop, sqe, &m->al_op, al_block_done);
}

void meta_al_kick(struct meta *m)
{
	const uint32_t *evicted;
	uint32_t n;

	if (!m->enabled || m->al_writing || !al_commit_due(&m->al))
		return;
	m->al_writing = true;
	al_commit_prepare(&m->al, &m->al_tx, &evicted, &n);
	/* Extents leaving the log: their bitmap bits must be on disk before
	 * the transaction forgets them. Mark their pages; the pages go out
	 * synchronously here (rare: only when the log is full). */
	if (n) {
		struct resource *res = m->res;
		uint64_t off = m->base + meta_bitmap_offset();

		for (uint32_t i = 0; i < n; i++) {
			uint64_t page = (uint64_t)evicted[i] * META_EXTENT_BYTES /
					BITMAP_BLOCK_BYTES / 64 / BITMAP_WORDS_PER_PAGE;

			if (page >= res->oos.npages || !res->oos.page_dirty[page])
				continue;
			bitmap_page_encode(&res->oos, page, m->bm_buf);
			if (metafile_pwrite(m->fd, m->bm_buf, META_BLOCK,
					off + page * META_BLOCK) < 0 ||
			    fdatasync(m->fd) < 0)
				log_err("saving bitmap page %llu failed",
					(unsigned long long)page);
			else
				res->oos.page_dirty[page] = 0;
		}
	}
	al_write_block(m);
}

/* ---- bitmap ----------------------------------------------------------- */

static void bm_write_done(struct loop_op *op, int res)
{
	struct meta *m = container_of(op, struct meta, bm_op);

	m->bm_writing = false;
	if (res != (int)META_BLOCK) {
		log_err("bitmap write failed: %s", res < 0 ? strerror(-res) : "short");
		m->res->oos.page_dirty[m->bm_page] = 1;
	}
}

void meta_bitmap_save(struct meta *m)
{
	struct bitmap *b;

	if (!m->enabled || m->bm_writing)
		return;
	b = &m->res->oos;
	if (!b->npages)
		return;
	for (uint64_t k = 0; k < b->npages; k++) {
		uint64_t p = (m->bm_cursor + k) % b->npages;
		struct io_uring_sqe *sqe;

		if (!b->page_dirty[p])
			continue;
		b->page_dirty[p] = 0;	/* a change while writing re-marks it */
		bitmap_page_encode(b, p, m->bm_buf);
		sqe = loop_sqe(m->loop);
		io_uring_prep_write(sqe, m->fd, m->bm_buf, META_BLOCK,
				    m->base + meta_bitmap_offset() + p * META_BLOCK);
		loop_op_arm(m->loop, sqe, &m->bm_op, bm_write_done);
		m->bm_writing = true;
		m->bm_page = p;
		m->bm_cursor = p + 1;
		return;
	}
}

int meta_save_bitmap_sync(struct meta *m)
{
	struct bitmap *b;
	int ret = 0;

	if (!m->enabled)
		return 0;
	b = &m->res->oos;
	for (uint64_t p = 0; p < b->npages && ret == 0; p++) {
		if (!b->page_dirty[p])
			continue;
		bitmap_page_encode(b, p, m->bm_buf);
		ret = metafile_pwrite(m->fd, m->bm_buf, META_BLOCK,
				      m->base + meta_bitmap_offset() + p * META_BLOCK);
		if (ret == 0)
			b->page_dirty[p] = 0;
	}
	if (ret == 0 && fdatasync(m->fd) < 0)
		ret = -errno;
	if (ret < 0)
		log_err("saving the bitmap failed: %s", strerror(-ret));
	return ret;
}

int meta_flush_sync(struct meta *m)
{
	struct bitmap *b;
	int ret = 0;

	if (!m->enabled)
		return 0;
	b = &m->res->oos;
	for (uint64_t p = 0; p < b->npages; p++) {
		if (!b->page_dirty[p])
			continue;
		bitmap_page_encode(b, p, m->bm_buf);
		ret = metafile_pwrite(m->fd, m->bm_buf, META_BLOCK,
				  m->base + meta_bitmap_offset() + p * META_BLOCK);
		if (ret < 0)
			break;
		b->page_dirty[p] = 0;
	}
	if (ret == 0) {
		m->sb.seq++;
		meta_sb_encode(m->sb_buf, &m->sb);
		ret = metafile_pwrite(m->fd, m->sb_buf, META_BLOCK,
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

void meta_mark_durable(struct meta *m, struct bitmap *oos, uint64_t off,
		       uint64_t len)
{
	uint64_t first, last;

	bitmap_mark_range(oos, off, len);
	if (!m->enabled || !len || !oos->nbits)
		return;
	first = off / BITMAP_BLOCK_BYTES / 64 / BITMAP_WORDS_PER_PAGE;
	last = (off + len - 1) / BITMAP_BLOCK_BYTES / 64 / BITMAP_WORDS_PER_PAGE;
	if (last >= oos->npages)
		last = oos->npages - 1;
	for (uint64_t p = first; p <= last; p++) {
		bitmap_page_encode(oos, p, m->bm_buf);
		if (metafile_pwrite(m->fd, m->bm_buf, META_BLOCK,
				    m->base + meta_bitmap_offset() + p * META_BLOCK) < 0)
			log_err("saving bitmap page %llu failed", (unsigned long long)p);
		else
			oos->page_dirty[p] = 0;
	}
	if (fdatasync(m->fd) < 0)
		log_err("flushing the bitmap failed: %s", strerror(errno));
}
