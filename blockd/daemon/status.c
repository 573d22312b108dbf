/* status.c - see status.h. */
#include "blockd/daemon/status.h"

#include <stdio.h>
#include <string.h>

#include "blockd/daemon/node.h"
#include "common/clock.h"

static uint64_t behind(uint64_t sent, uint64_t pos)
{
	return sent > pos ? sent - pos : 0;
}

/* Replication lag: computed here only, for the JSON and the metrics. */
static void fill_lag(struct status *st, const struct resource *res,
		     uint64_t now_ms)
{
	const struct writepath *wp = &res->wp;
	uint64_t sent = wp->data_sent_bytes, oldest_ms = now_ms;

	writepath_oldest_unacked(res, &oldest_ms);
	st->lag.sent_bytes = sent;
	st->lag.received_bytes = wp->pos_received_bytes;
	st->lag.written_bytes = wp->pos_written_bytes;
	st->lag.flushed_bytes = wp->pos_flushed_bytes;
	st->lag.receive_lag_bytes = behind(sent, wp->pos_received_bytes);
	st->lag.write_lag_bytes = behind(sent, wp->pos_written_bytes);
	st->lag.flush_lag_bytes = behind(sent, wp->pos_flushed_bytes);
	st->lag.write_lag_s = (double)(now_ms - oldest_ms) / 1000.0;
	st->lag.flush_lag_s = st->lag.flush_lag_bytes && wp->pos_flushed_ms
		? (double)(now_ms - wp->pos_flushed_ms) / 1000.0 : 0;
}

static void fill_peer(struct status *st, const struct node *n)
{
	const struct resource *res = &n->res;

	st->peer_node = n->cfg.peer >= 0 ? n->cfg.nodes[n->cfg.peer].name : NULL;
	st->connection = res->st.peer_conn;
	st->peer_role = res->st.peer_role;
	st->peer_disk = res->st.peer_disk;
	st->replication = res->st.repl;
	st->out_of_sync_bytes = bitmap_dirty_bytes(&res->oos);
	st->pending_writes = res->wp.pending_writes;
	st->resync_done_pct = res->rs.done_pct;
	st->resync_rate_bytes_s = res->rs.rate_bytes_s;
	st->resync_eta_s = res->rs.eta_s;
	st->verify_done_pct = res->vf.done_pct;
	st->verify_out_of_sync_blocks = res->vf.mismatch;
	fill_lag(st, res, clock_coarse_ms());
	st->data_sent_bytes = res->wp.data_sent_bytes;
	st->data_received_bytes = res->rx.data_received_bytes;
	st->resync_sent_bytes = res->rs.sent_bytes;
	st->resync_received_bytes = res->rs.received_bytes;
	st->resync_same_bytes = res->rs.same_bytes;
	st->resync_zero_bytes = res->rs.zero_bytes;
}

void status_fill(struct status *st, const struct node *n)
{
	const struct resource *res = &n->res;

	memset(st, 0, sizeof(*st));
	st->resource = n->cfg.name;
	st->node = n->cfg.nodes[n->cfg.self].name;
	st->role = res->st.role;
	st->disk = res->st.disk_state;
	st->protocol = res->protocol;
	st->size_bytes = res->disk.size_bytes;
	st->io_frozen = res->st.io_frozen;
	st->io_frozen_reason = res->st.io_frozen ? res->fence.frozen_reason
						    : NULL;
	st->peer_outdated = (res->meta.sb.flags & MDF_PEER_OUTDATED) != 0;
	st->fencing = config_fencing_name(n->cfg.fencing);
	st->nbd_connections = n->nbd ? nbd_server_connections(n->nbd) : 0;
	st->nbd = n->nbd ? nbd_server_stats(n->nbd) : NULL;
	st->instance = res->instance;
	st->have_uuids = res->meta.enabled;
	memcpy(st->uuids, res->meta.sb.uuid, sizeof(st->uuids));
	st->io_errors = res->io_errors;
	st->disk_error = res->detach.disk_error;
	st->read_bytes = res->read_bytes;
	st->written_bytes = res->written_bytes;
	st->md_writes = res->meta.writes;
	st->fence_runs = res->fence.runs;
	st->fence_ok = res->fence.ok;
	st->fence_failed = res->fence.failed;
	fill_peer(st, n);
}

/* ---- JSON ------------------------------------------------------------- */

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_double(struct json_object *o, const char *k, double v)
{
	json_object_object_add(o, k, json_object_new_double(v));
}

static struct json_object *lag_json(const struct status *st)
{
	struct json_object *l = json_object_new_object();

	add_u64(l, "sent_bytes", st->lag.sent_bytes);
	add_u64(l, "received_bytes", st->lag.received_bytes);
	add_u64(l, "written_bytes", st->lag.written_bytes);
	add_u64(l, "flushed_bytes", st->lag.flushed_bytes);
	add_u64(l, "receive_lag_bytes", st->lag.receive_lag_bytes);
	add_u64(l, "write_lag_bytes", st->lag.write_lag_bytes);
	add_u64(l, "flush_lag_bytes", st->lag.flush_lag_bytes);
	add_double(l, "write_lag_s", st->lag.write_lag_s);
	add_double(l, "flush_lag_s", st->lag.flush_lag_s);
	return l;
}

static struct json_object *peer_json(const struct status *st)
{
	struct json_object *p = json_object_new_object();
	struct json_object *rs = json_object_new_object();
	struct json_object *v = json_object_new_object();

	add_str(p, "node", st->peer_node);
	add_str(p, "connection", conn_state_name(st->connection));
	add_str(p, "role", role_name(st->peer_role));
	add_str(p, "disk", disk_state_name(st->peer_disk));
	add_str(p, "replication", repl_state_name(st->replication));
	add_u64(p, "out_of_sync_bytes", st->out_of_sync_bytes);
	add_u64(p, "pending_writes", st->pending_writes);
	add_double(rs, "done_pct", st->resync_done_pct);
	add_u64(rs, "rate_bytes_s", st->resync_rate_bytes_s);
	add_u64(rs, "eta_s", st->resync_eta_s);
	json_object_object_add(p, "resync", rs);
	json_object_object_add(p, "lag", lag_json(st));
	add_double(v, "done_pct", st->verify_done_pct);
	add_u64(v, "out_of_sync_blocks", st->verify_out_of_sync_blocks);
	json_object_object_add(p, "verify", v);
	add_u64(p, "data_sent_bytes", st->data_sent_bytes);
	add_u64(p, "data_received_bytes", st->data_received_bytes);
	add_u64(p, "resync_sent_bytes", st->resync_sent_bytes);
	add_u64(p, "resync_received_bytes", st->resync_received_bytes);
	add_u64(p, "resync_same_bytes", st->resync_same_bytes);
	add_u64(p, "resync_zero_bytes", st->resync_zero_bytes);
	return p;
}

/* What keeping the metadata current cost: block writes, each one
 * synchronous on the disk (RWF_DSYNC), issued since start. */
static struct json_object *md_json(const struct status *st)
{
	struct json_object *o = json_object_new_object();

	add_u64(o, "superblock", st->md_writes.superblock);
	add_u64(o, "activity_log", st->md_writes.activity_log);
	add_u64(o, "bitmap", st->md_writes.bitmap);
	return o;
}

struct json_object *status_json(const struct status *st)
{
	struct json_object *o = json_object_new_object();
	char proto[2] = { st->protocol, 0 };

	add_str(o, "resource", st->resource);
	add_str(o, "node", st->node);
	add_str(o, "role", role_name(st->role));
	add_str(o, "disk", disk_state_name(st->disk));
	add_str(o, "protocol", proto);
	add_u64(o, "size_bytes", st->size_bytes);
	json_object_object_add(o, "io_frozen",
			       json_object_new_boolean(st->io_frozen));
	add_str(o, "io_frozen_reason", st->io_frozen_reason);
	json_object_object_add(o, "peer_outdated",
			       json_object_new_boolean(st->peer_outdated));
	add_str(o, "fencing", st->fencing);
	add_u64(o, "nbd_connections", st->nbd_connections);
	add_u64(o, "nbd_connections_refused", st->nbd ? st->nbd->refused : 0);
	add_u64(o, "nbd_handshake_timeouts",
		st->nbd ? st->nbd->handshake_timeouts : 0);
	add_u64(o, "instance", st->instance);
	if (st->have_uuids) {
		struct json_object *u = json_object_new_array();
		char hex[20];

		for (int i = 0; i < UUID_N; i++) {
			snprintf(hex, sizeof(hex), "%016llx",
				 (unsigned long long)st->uuids[i]);
			json_object_array_add(u, json_object_new_string(hex));
		}
		json_object_object_add(o, "uuids", u);
	}
	add_u64(o, "io_errors", st->io_errors);
	add_str(o, "disk_error", st->disk_error ? strerror(-st->disk_error) : NULL);
	add_u64(o, "read_bytes", st->read_bytes);
	add_u64(o, "written_bytes", st->written_bytes);
	json_object_object_add(o, "metadata_writes", md_json(st));
	json_object_object_add(o, "peer", peer_json(st));
	return o;
}

struct json_object *node_status_json(const struct node *n)
{
	struct status st;

	status_fill(&st, n);
	return status_json(&st);
}

/* ---- events ----------------------------------------------------------- */

static void status_event(void *arg, struct resource *res, const char *what)
{
	struct node *n = arg;
	struct json_object *ev;

	if (!n->ctl)
		return;
	ev = node_status_json(n);
	json_object_object_add(ev, "event", json_object_new_string(what));
	control_emit(n->ctl, ev);
	json_object_put(ev);
}

static void status_promoted(void *arg, struct resource *res, int ret,
			    const char *err)
{
	struct node *n = arg;

	(void)res;
	control_answer_waiting(n->ctl, ret, err);
}

const struct resource_observer status_observer = {
	.event = status_event,
	.promoted = status_promoted,
};
