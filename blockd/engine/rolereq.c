/* rolereq.c - see rolereq.h. */
#include "blockd/engine/rolereq.h"

#include <errno.h>
#include <string.h>

#include "blockd/engine/resource.h"
#include "common/container_of.h"
#include "common/log.h"

bool rolereq_needed(const struct resource *res)
{
	return res->link && (link_features(res->link) & FRAME_FEAT_ROLE_REQ);
}

static void req_sent(struct link_tx *tx, int err)
{
	struct resource *res = container_of(tx, struct resource, rolereq.req_tx);

	(void)err;	/* a connection that went down answers in peer_lost */
	res->rolereq.req_queued = false;
}

int rolereq_ask(struct resource *res)
{
	struct rolereq *q = &res->rolereq;

	if (q->req_queued)
		return -EAGAIN;
	q->asked = ++q->last_id;
	memset(&q->req_tx.h, 0, sizeof(q->req_tx.h));
	q->req_tx.h.type = FRAME_ROLE_REQ;
	q->req_tx.h.id = q->asked;
	q->req_tx.payload = NULL;
	q->req_tx.sent = req_sent;
	q->req_queued = true;
	log_info("asking the peer %s before becoming Primary", res->peer_name);
	link_send(res->link, &q->req_tx);
	return 0;
}

void rolereq_forget(struct resource *res)
{
	res->rolereq.asked = 0;
}

static void reply_sent(struct link_tx *tx, int err);

static void send_reply(struct resource *res, uint64_t id, int64_t answer)
{
	struct rolereq *q = &res->rolereq;

	if (q->reply_queued) {
		q->reply_again = true;	/* only the newest request matters */
		q->again_id = id;
		q->again_err = answer;
		return;
	}
	memset(&q->reply_tx.h, 0, sizeof(q->reply_tx.h));
	q->reply_tx.h.type = FRAME_ROLE_REPLY;
	q->reply_tx.h.id = id;
	frame_set_status(&q->reply_tx.h, answer);
	q->reply_tx.payload = NULL;
	q->reply_tx.sent = reply_sent;
	q->reply_queued = true;
	link_send(res->link, &q->reply_tx);
}

static void reply_sent(struct link_tx *tx, int err)
{
	struct resource *res = container_of(tx, struct resource, rolereq.reply_tx);
	struct rolereq *q = &res->rolereq;

	(void)err;
	q->reply_queued = false;
	/* Also after a failed send: the waiting answer may belong to the
	 * next connection (a stale id is ignored by the asker). */
	if (q->reply_again) {
		q->reply_again = false;
		send_reply(res, q->again_id, q->again_err);
	}
}

/* Both nodes asked at once: does this one give way? The instances are
 * random per start and both sides know both, so exactly one does. */
static bool yields_to_peer(const struct resource *res)
{
	uint64_t peer = res->peer.state.instance;

	if (res->instance != peer)
		return res->instance < peer;
	return strcmp(res->node, res->peer_name) < 0;
}

static void on_request(struct resource *res, uint64_t id)
{
	int answer = 0;

	if (res->st.role == ROLE_PRIMARY)
		answer = -EBUSY;
	else if (res->rolereq.asked && !yields_to_peer(res))
		answer = -EALREADY;
	if (answer)
		log_info("the peer %s asked to become Primary: no (%s)",
			 res->peer_name, answer == -EBUSY ? "this node is Primary" :
			 "this node asked at the same moment and goes first");
	else
		log_info("the peer %s asked to become Primary: yes%s",
			 res->peer_name, res->rolereq.asked ?
			 " (both asked at the same moment: it goes first)" : "");
	send_reply(res, id, answer);
}

void rolereq_frame(struct resource *res, const struct frame_hdr *h)
{
	struct rolereq *q = &res->rolereq;

	if (h->type == FRAME_ROLE_REQ) {
		on_request(res, h->id);
		return;
	}
	if (!q->asked || h->id != q->asked)
		return;		/* a request since cancelled */
	q->asked = 0;
	resource_promote_consented(res, (int)frame_status(h));
}

void rolereq_peer_lost(struct resource *res)
{
	struct rolereq *q = &res->rolereq;

	if (!q->asked)
		return;
	q->asked = 0;
	resource_promote_consented(res, -ECONNRESET);
}
