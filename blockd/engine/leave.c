/* leave.c - see leave.h. */
#include "blockd/engine/leave.h"

#include <string.h>

#include "blockd/engine/resource.h"
#include "common/container_of.h"
#include "common/log.h"

static void finish(struct resource *res)
{
	struct leave *lv = &res->leave;

	if (!lv->active)
		return;
	lv->active = false;
	lv->done(lv->arg);
}

static void flushed_sent(struct link_tx *tx, int err)
{
	struct resource *res = container_of(tx, struct resource, leave.tx);

	if (!err)
		log_info("told the peer %s that every write acknowledged to it "
			 "is flushed here", res->peer_name);
	finish(res);
}

static void flush_done(struct disk_io *io, int err)
{
	struct resource *res = container_of(io, struct resource, leave.flush);
	struct leave *lv = &res->leave;

	lv->flushing = false;
	if (err < 0 || !link_is_up(res->link)) {
		if (err < 0)
			log_err("flush before leaving failed: %s; the peer "
				"resyncs what it wrote last", strerror(-err));
		finish(res);
		return;
	}
	memset(&lv->tx.h, 0, sizeof(lv->tx.h));
	lv->tx.h.type = FRAME_FLUSHED;
	lv->tx.payload = NULL;
	lv->tx.sent = flushed_sent;
	link_send(res->link, &lv->tx);
}

void leave_receiver_idle(struct resource *res)
{
	struct leave *lv = &res->leave;

	/* Once: the receiver reports idle again while FLUSHED waits in a
	 * full socket (a SyncSource's resync data ahead of it), and the
	 * frame must not be queued a second time. */
	if (!lv->active || lv->flushing || lv->tx.queued)
		return;
	if (!link_is_up(res->link)) {
		finish(res);
		return;
	}
	lv->flushing = true;
	memset(&lv->flush, 0, sizeof(lv->flush));
	lv->flush.cmd = DISK_FLUSH;
	lv->flush.done = flush_done;
	disk_submit(&res->disk, &lv->flush);
}

bool resource_leave(struct resource *res, void (*done)(void *arg), void *arg)
{
	struct leave *lv = &res->leave;

	if (lv->active || res->st.role != ROLE_SECONDARY || !res->link ||
	    !(link_features(res->link) & FRAME_FEAT_FLUSHED) ||
	    !res->peer.state_received || !resource_has_disk(res))
		return false;
	lv->active = true;
	lv->done = done;
	lv->arg = arg;
	res->rx.held_back = true;	/* no new frame: TCP holds the peer */
	receiver_kick(res);		/* it reports idle, now or later */
	return true;
}
