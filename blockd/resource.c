/* resource.c - see resource.h: set-up, and the dispatch of each request
 * to the read path (local only) or the write path. */
#include "resource.h"

#include <errno.h>
#include <stddef.h>
#include <sys/random.h>

#include "common/log.h"

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

int resource_init(struct resource *res, struct node *owner,
		  const struct link_config *peer)
{
	int ret;

	res->owner = owner;
	res->peer_role = ROLE_UNKNOWN;
	res->peer_disk = DS_DUNKNOWN;
	res->repl = RS_OFF;
	if (getrandom(&res->instance, sizeof(res->instance), 0) !=
	    sizeof(res->instance))
		return -EIO;
	ret = writepath_init(res);
	if (ret < 0)
		return ret;
	if (!peer) {
		/* One node: a standalone Primary with nothing to replicate. */
		res->role = ROLE_PRIMARY;
		res->disk_state = DS_UPTODATE;
		res->peer_conn = CS_STANDALONE;
		return 0;
	}
	/* Without metadata nothing proves this disk current: it starts
	 * Inconsistent, and a connect or 'primary --force' settles it. */
	res->role = ROLE_SECONDARY;
	res->disk_state = DS_INCONSISTENT;
	ret = bitmap_init(&res->oos, res->disk.size_bytes);
	if (ret == 0)
		ret = receiver_init(res);
	if (ret == 0)
		ret = link_new(&res->link, res->loop, &res->pool, peer,
			       &peer_link_ops, res);
	if (ret < 0)
		return ret;
	res->peer_conn = CS_CONNECTING;
	link_connect(res->link);
	return 0;
}

void resource_fini(struct resource *res)
{
	link_free(res->link);
	res->link = NULL;
	receiver_fini(res);
	bitmap_fini(&res->oos);
	writepath_fini(res);
}

static void read_done(struct disk_io *io, int err)
{
	struct blk_req *r = container_of(io, struct blk_req, local);

	if (err == 0 && io->cmd == DISK_READ)
		r->res->read_bytes += io->len;
	r->done(r, err);
}

void resource_submit(struct resource *res, struct blk_req *r)
{
	r->res = res;
	if (r->local.cmd == DISK_READ || r->local.cmd == DISK_CACHE) {
		r->local.done = read_done;
		disk_submit(&res->disk, &r->local);
		return;
	}
	writepath_submit(res, r);
}

void resource_tick(struct resource *res, uint64_t now_ms)
{
	resync_update_status(res, now_ms);
	resync_pump(res);
}
