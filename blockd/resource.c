/* resource.c - see resource.h. */
#include "resource.h"

#include <stddef.h>

static void resource_local_done(struct disk_io *io, int err)
{
	struct blk_req *r = (struct blk_req *)((char *)io -
					       offsetof(struct blk_req, local));
	struct resource *res = r->res;

	if (err == 0 && io->cmd == DISK_READ)
		res->read_bytes += io->len;
	else if (err == 0 && io->cmd == DISK_WRITE)
		res->written_bytes += io->len;
	r->done(r, err);
}

void resource_submit(struct resource *res, struct blk_req *r)
{
	r->res = res;
	r->local.done = resource_local_done;
	disk_submit(&res->disk, &r->local);
}
