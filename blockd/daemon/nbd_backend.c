/* nbd_backend.c - see nbd_backend.h.
 *
 * Each NBD request slot carries one struct nbd_backend_req (the server's
 * per-request area): the engine request lives there from submit to
 * completion, so the data path copies no data and allocates nothing. The
 * request's buffer is the server's bufpool buffer, used in place.
 */
#include "blockd/daemon/nbd_backend.h"

#include <stdio.h>
#include <string.h>

#include "common/container_of.h"

struct nbd_backend_req {
	struct nbd_io *io;
	union {
		struct blk_req blk;	/* every command but BLOCK_STATUS */
		struct {		/* BLOCK_STATUS */
			struct disk_map_req map;
			struct disk_extent ext[NBD_EXTENTS_MAX];
		} bs;
	};
};

static void describe(void *arg, struct nbd_export *ex)
{
	struct resource_nbd *be = arg;
	struct resource *res = be->res;

	snprintf(be->description, sizeof(be->description),
		 "blockd resource %s on node %s", res->name, res->node);
	ex->name = res->name;
	ex->description = be->description;
	ex->size_bytes = res->disk.size_bytes;
	ex->read_only = be->cfg->read_only || res->disk.read_only;
	ex->pool_reserve = NBD_BACKEND_POOL_RESERVE;
}

static const char *may_serve(void *arg)
{
	struct resource_nbd *be = arg;
	struct resource *res = be->res;

	if (res->st.role == ROLE_PRIMARY)
		return NULL;
	snprintf(be->refuse_msg, sizeof(be->refuse_msg),
		 "%s is Secondary on node %s: only the Primary serves NBD; run "
		 "'blockctl primary' on the node to use", res->name, res->node);
	return be->refuse_msg;
}

static void blk_done(struct blk_req *b, int err)
{
	struct nbd_backend_req *q = container_of(b, struct nbd_backend_req, blk);

	nbd_io_done(q->io, err);
}

static void submit(void *arg, struct nbd_io *io)
{
	struct resource_nbd *be = arg;
	struct nbd_backend_req *q = io->priv;
	struct disk_io *d = &q->blk.local;
	uint16_t f = io->rq.flags;

	q->io = io;
	memset(&q->blk, 0, sizeof(q->blk));
	d->off = io->rq.offset;
	d->len = io->rq.length;
	d->buf = io->buf;
	d->flags = (f & NBD_CMD_FLAG_FUA) ? DISK_F_FUA : 0;
	switch (io->rq.type) {
	case NBD_CMD_READ:
		d->cmd = DISK_READ;
		d->flags = 0;
		break;
	case NBD_CMD_WRITE:
		d->cmd = DISK_WRITE;
		break;
	case NBD_CMD_FLUSH:
		d->cmd = DISK_FLUSH;
		break;
	case NBD_CMD_TRIM:
		d->cmd = DISK_TRIM;
		break;
	case NBD_CMD_WRITE_ZEROES:
		d->cmd = DISK_ZERO;
		if (f & NBD_CMD_FLAG_NO_HOLE)
			d->flags |= DISK_F_NO_HOLE;
		if (f & NBD_CMD_FLAG_FAST_ZERO)
			d->flags |= DISK_F_FAST;
		break;
	case NBD_CMD_CACHE:
		d->cmd = DISK_CACHE;
		break;
	}
	q->blk.done = blk_done;
	resource_submit(be->res, &q->blk);
}

/* The allocation map arrived (from the disk's lookup worker). */
static void map_done(struct disk_map_req *m, int n)
{
	struct nbd_backend_req *q = container_of(m, struct nbd_backend_req,
						 bs.map);

	for (int i = 0; i < n; i++)
		nbd_io_extent(q->io, q->bs.ext[i].len, q->bs.ext[i].hole);
	nbd_io_done(q->io, n < 0 ? n : 0);
}

/* lseek may wait for the inode lock: answered later, off the loop. */
static void block_status(void *arg, struct nbd_io *io)
{
	struct resource_nbd *be = arg;
	struct nbd_backend_req *q = io->priv;
	struct disk_map_req *m = &q->bs.map;

	q->io = io;
	memset(m, 0, sizeof(*m));
	m->off = io->rq.offset;
	m->len = io->rq.length;
	m->ext = q->bs.ext;
	m->max = io->extents_max;
	m->done = map_done;
	disk_map_submit(&be->res->disk, m);
}

const struct nbd_backend_ops resource_nbd_ops = {
	.priv_bytes = sizeof(struct nbd_backend_req),
	.describe = describe,
	.may_serve = may_serve,
	.submit = submit,
	.block_status = block_status,
};

void resource_nbd_init(struct resource_nbd *be, struct resource *res,
		       const struct config *cfg)
{
	be->res = res;
	be->cfg = cfg;
}
