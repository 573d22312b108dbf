/* peer.c - the resource's side of the peer link: state exchange, the
 * decision of who syncs whom on connect, and the frame dispatch.
 *
 * On connect each node sends STATE (role, disk, instance, what it knows
 * the peer lacks). The first STATE received triggers the decision, which
 * both nodes compute alike from the same two states:
 *
 *   rule                                         this node becomes
 *   both Primary                                 split brain: disconnect
 *   I am Primary                                 SyncSource
 *   peer is Primary                              SyncTarget
 *   both hold writes the other lacks             split brain: disconnect
 *   I hold writes the peer lacks                 SyncSource
 *   the peer holds writes I lack                 SyncTarget
 *   my disk UpToDate, the peer's is not          SyncSource
 *   the peer's disk UpToDate, mine is not        SyncTarget
 *   otherwise                                    Established
 *
 * A SyncSource resyncs only its bitmap when the peer is the very process
 * it was last in sync with (instances match both ways); otherwise it
 * cannot know what the peer holds and resyncs everything. (Persistent
 * generation identifiers replace the instance check with metadata.)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockd/node.h"
#include "blockd/resource.h"
#include "common/log.h"

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

void resource_event(struct resource *res, const char *what)
{
	struct node *n = res->owner;
	struct json_object *ev;

	log_info("%s: role %s, disk %s; peer %s %s %s, replication %s", what,
		 role_name(res->role), disk_state_name(res->disk_state),
		 conn_state_name(res->peer_conn), role_name(res->peer_role),
		 disk_state_name(res->peer_disk), repl_state_name(res->repl));
	if (!n || !n->ctl)
		return;
	ev = node_status_json(n);
	json_object_object_add(ev, "event", json_object_new_string(what));
	control_emit(n->ctl, ev);
	json_object_put(ev);
}

static void state_sent(struct link_tx *tx, int err)
{
	struct resource *res = container_of(tx, struct resource, state_tx);

	res->state_tx_queued = false;
	if (res->state_tx_again && !err) {
		res->state_tx_again = false;
		peer_send_state(res);
	}
}

void peer_send_state(struct resource *res)
{
	struct frame_state st = { 0 };

	if (!link_is_up(res->link))
		return;
	if (res->state_tx_queued) {
		res->state_tx_again = true; /* send the newest once this one left */
		return;
	}
	st.role = (uint8_t)res->role;
	st.disk = (uint8_t)res->disk_state;
	st.protocol = (uint8_t)res->protocol;
	st.size_bytes = res->disk.size_bytes;
	st.instance = res->instance;
	st.last_peer_instance = res->last_peer_instance;
	st.dirty_bytes = bitmap_dirty_bytes(&res->oos);
	if (res->repl == RS_SYNC_SOURCE)
		st.flags |= FRAME_STATE_F_SYNC_SOURCE;
	memset(&res->state_tx.h, 0, sizeof(res->state_tx.h));
	res->state_tx.h.type = FRAME_STATE;
	res->state_tx.h.payload_len = FRAME_STATE_BYTES;
	frame_encode_state(res->state_tx.inline_payload, &st);
	res->state_tx.payload = res->state_tx.inline_payload;
	res->state_tx.sent = state_sent;
	res->state_tx_queued = true;
	link_send(res->link, &res->state_tx);
}

static void become_source(struct resource *res, const struct frame_state *ps)
{
	bool same = ps->instance == res->last_peer_instance &&
		    ps->last_peer_instance == res->instance;

	if (!same) {
		log_info("sync decision: peer instance unknown to this node: "
			 "full resync as SyncSource");
		bitmap_mark_all(&res->oos);
	} else {
		log_info("sync decision: bitmap resync as SyncSource, %llu bytes",
			 (unsigned long long)bitmap_dirty_bytes(&res->oos));
	}
	res->repl = RS_SYNC_SOURCE;
	res->peer_disk = DS_INCONSISTENT;
	res->last_peer_instance = ps->instance;
}

static void become_target(struct resource *res, const struct frame_state *ps)
{
	log_info("sync decision: SyncTarget of %s", res->peer_role == ROLE_PRIMARY
		 ? "the Primary" : "the peer");
	res->repl = RS_SYNC_TARGET;
	res->disk_state = DS_INCONSISTENT;
	res->last_peer_instance = ps->instance;
	res->rs_total_bytes = ps->dirty_bytes;
	res->rs_received_base = res->resync_received_bytes;
	bitmap_clear_all(&res->oos);
}

static void split_brain(struct resource *res, const char *why)
{
	log_err("split brain detected: %s; disconnecting (resolve by hand: "
		"'blockctl secondary' and 'connect --discard-my-data' on the "
		"node whose changes are to be dropped)", why);
	res->peer_conn = CS_STANDALONE;
	link_disconnect(res->link, "split brain");
	resource_event(res, "split-brain");
}

static void decide(struct resource *res, const struct frame_state *ps)
{
	bool me_p = res->role == ROLE_PRIMARY, peer_p = ps->role == ROLE_PRIMARY;
	bool me_dirty = res->oos.set_bits > 0, peer_dirty = ps->dirty_bytes > 0;
	bool me_ok = res->disk_state == DS_UPTODATE, peer_ok = ps->disk == DS_UPTODATE;

	if (me_p && peer_p) {
		split_brain(res, "both nodes are Primary");
		return;
	}
	if (me_p && ps->size_bytes < res->disk.size_bytes) {
		log_err("peer disk (%llu bytes) is smaller than this one (%llu): "
			"refusing to connect",
			(unsigned long long)ps->size_bytes,
			(unsigned long long)res->disk.size_bytes);
		res->peer_conn = CS_STANDALONE;
		link_disconnect(res->link, "peer disk too small");
		return;
	}
	if (me_p) {
		become_source(res, ps);
	} else if (peer_p) {
		become_target(res, ps);
	} else if (me_dirty && peer_dirty) {
		split_brain(res, "both nodes hold writes the other lacks");
		return;
	} else if (me_dirty) {
		become_source(res, ps);
	} else if (peer_dirty) {
		become_target(res, ps);
	} else if (me_ok && !peer_ok) {
		become_source(res, ps);
	} else if (peer_ok && !me_ok) {
		become_target(res, ps);
	} else {
		res->repl = RS_ESTABLISHED;
		res->last_peer_instance = ps->instance;
		log_info("sync decision: no resync needed");
	}
	res->peer_conn = CS_CONNECTED;
	peer_send_state(res);
	if (res->repl == RS_SYNC_SOURCE)
		resync_start(res);	/* after STATE: the target knows first */
	resource_event(res, "connected");
}

static void on_state(struct resource *res, const uint8_t *payload, uint32_t len)
{
	struct frame_state ps;
	bool first = !res->state_received;

	if (frame_parse_state(payload, len, &ps) < 0) {
		link_drop(res->link, "malformed STATE");
		return;
	}
	res->state_received = true;
	res->peer_role = (enum role)ps.role;
	res->peer_instance = ps.instance;
	if (first) {
		res->peer_disk = (enum disk_state)ps.disk;
		decide(res, &ps);
		return;
	}
	res->peer_disk = (enum disk_state)ps.disk;
	if ((ps.flags & FRAME_STATE_F_SYNC_SOURCE) && res->repl == RS_ESTABLISHED) {
		/* The peer was promoted over this disk: it syncs us. */
		become_target(res, &ps);
		peer_send_state(res);
	}
	if (res->repl == RS_SYNC_TARGET && ps.dirty_bytes > res->rs_total_bytes)
		res->rs_total_bytes = ps.dirty_bytes;
	if (res->role == ROLE_PRIMARY && ps.role == ROLE_PRIMARY) {
		split_brain(res, "both nodes are Primary");
		return;
	}
	resource_event(res, "peer-changed");
}

static void peer_up(void *owner)
{
	struct resource *res = owner;

	res->state_received = false;
	res->repl = RS_OFF;
	peer_send_state(res);
}

static void peer_down(void *owner, const char *why)
{
	struct resource *res = owner;
	struct node *n = res->owner;

	res->state_received = false;
	res->peer_role = ROLE_UNKNOWN;
	res->peer_disk = DS_DUNKNOWN;
	res->repl = RS_OFF;
	if (res->peer_conn != CS_STANDALONE)
		res->peer_conn = CS_CONNECTING;
	writepath_peer_lost(res);
	receiver_peer_lost(res);
	resync_peer_lost(res);
	(void)n;
	resource_event(res, "disconnected");
}

static bool frame_is_stream(uint16_t type)
{
	return type == FRAME_DATA || type == FRAME_TRIM || type == FRAME_ZERO ||
	       type == FRAME_BARRIER || type == FRAME_RS_DATA ||
	       type == FRAME_RS_ZERO;
}

static void peer_frame(void *owner, const struct frame_hdr *h,
		       const uint8_t *payload, uint8_t *buf)
{
	struct resource *res = owner;

	if (h->type == FRAME_STATE) {
		on_state(res, payload, h->payload_len);
		return;
	}
	if (frame_is_stream(h->type)) {
		bool ok = res->state_received && res->role == ROLE_SECONDARY &&
			  (h->type == FRAME_RS_DATA || h->type == FRAME_RS_ZERO
			   ? res->repl == RS_SYNC_TARGET
			   : res->repl == RS_ESTABLISHED || res->repl == RS_SYNC_TARGET);

		if (!ok) {
			if (buf)
				bufpool_put(&res->pool, buf, h->length);
			link_drop(res->link, "write stream frame this node cannot take "
				  "in its current state");
			return;
		}
		if (h->type == FRAME_DATA)
			res->data_received_bytes += h->length;
		receiver_frame(res, h, buf);
		return;
	}
	switch (h->type) {
	case FRAME_RECV_ACK:
	case FRAME_WRITE_ACK:
	case FRAME_BARRIER_ACK:
		writepath_ack(res, h->type, h->id, (int64_t)h->offset);
		return;
	case FRAME_RS_ACK:
		resync_ack(res, h->id);
		return;
	case FRAME_RS_DONE:
		if (res->repl != RS_SYNC_TARGET) {
			link_drop(res->link, "RS_DONE while not SyncTarget");
			return;
		}
		peer_target_synced(res);
		return;
	default:
		link_drop(res->link, "unexpected frame");
	}
}

const struct link_ops peer_link_ops = {
	.up = peer_up,
	.down = peer_down,
	.frame = peer_frame,
};

void peer_target_synced(struct resource *res)
{
	res->repl = RS_ESTABLISHED;
	res->disk_state = DS_UPTODATE;
	res->resync_done_pct = 100;
	log_info("resync finished: this disk is UpToDate");
	peer_send_state(res);
	resource_event(res, "resync-finished");
}

void peer_source_synced(struct resource *res)
{
	memset(&res->done_tx.h, 0, sizeof(res->done_tx.h));
	res->done_tx.h.type = FRAME_RS_DONE;
	res->done_tx.payload = NULL;
	res->done_tx.sent = NULL;
	link_send(res->link, &res->done_tx);
	res->repl = RS_ESTABLISHED;
	res->peer_disk = DS_UPTODATE;
	res->resync_done_pct = 100;
	log_info("resync finished: the peer is UpToDate");
	resource_event(res, "resync-finished");
}

/* This node was promoted: tell the peer, and if it is connected and not
 * UpToDate, this node is now the one to sync it from. */
void peer_promoted(struct resource *res)
{
	if (res->state_received && res->repl == RS_ESTABLISHED &&
	    res->peer_disk != DS_UPTODATE) {
		struct frame_state ps = {
			.role = (uint8_t)res->peer_role,
			.disk = (uint8_t)res->peer_disk,
			.instance = res->peer_instance,
		};

		become_source(res, &ps);
		peer_send_state(res);	/* carries F_SYNC_SOURCE */
		resync_start(res);
		return;
	}
	peer_send_state(res);
}
