/* resource.c - see resource.h. */
#include "resource.h"

#include <stddef.h>

static void resource_local_done(struct disk_io *io, int err)
{
	struct blk_req *r = (struct blk_req *)((char *)io -
					       offsetof(struct blk_req, local));

	r->done(r, err);
}

void resource_submit(struct resource *res, struct blk_req *r)
{
	r->local.done = resource_local_done;
	disk_submit(&res->disk, &r->local);
}
