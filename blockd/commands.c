/* commands.c - what each control-socket command does.
 *
 * Owns: the command table and the status document. Each command checks
 * its preconditions and refuses with a one-line reason that blockctl
 * prints verbatim; the state changes themselves belong to the resource.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockd/node.h"
#include "blockd/state.h"

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static struct json_object *peer_status_json(struct node *n)
{
	struct resource *res = &n->res;
	struct json_object *p = json_object_new_object();
	struct json_object *rs = json_object_new_object();
	const struct config *cfg = &n->cfg;

	add_str(p, "node", cfg->peer >= 0 ? cfg->nodes[cfg->peer].name : NULL);
	add_str(p, "connection", conn_state_name(res->peer_conn));
	add_str(p, "role", role_name(res->peer_role));
	add_str(p, "disk", disk_state_name(res->peer_disk));
	add_str(p, "replication", repl_state_name(res->repl));
	add_u64(p, "out_of_sync_bytes", res->out_of_sync_bytes);
	add_u64(p, "pending_writes", res->pending_writes);
	json_object_object_add(rs, "done_pct", json_object_new_double(res->resync_done_pct));
	add_u64(rs, "rate_bytes_s", res->resync_rate_bytes_s);
	add_u64(rs, "eta_s", res->resync_eta_s);
	json_object_object_add(p, "resync", rs);
	add_u64(p, "data_sent_bytes", res->data_sent_bytes);
	add_u64(p, "data_received_bytes", res->data_received_bytes);
	add_u64(p, "resync_sent_bytes", res->resync_sent_bytes);
	add_u64(p, "resync_received_bytes", res->resync_received_bytes);
	return p;
}

struct json_object *node_status_json(struct node *n)
{
	struct resource *res = &n->res;
	struct json_object *o = json_object_new_object();
	char proto[2] = { n->cfg.protocol, 0 };

	add_str(o, "resource", n->cfg.name);
	add_str(o, "node", n->cfg.nodes[n->cfg.self].name);
	add_str(o, "role", role_name(res->role));
	add_str(o, "disk", disk_state_name(res->disk_state));
	add_str(o, "protocol", proto);
	add_u64(o, "size_bytes", res->disk.size_bytes);
	json_object_object_add(o, "io_frozen", json_object_new_boolean(res->io_frozen));
	add_str(o, "fencing", config_fencing_name(n->cfg.fencing));
	add_u64(o, "nbd_connections", n->nbd ? nbd_server_connections(n->nbd) : 0);
	add_u64(o, "read_bytes", res->read_bytes);
	add_u64(o, "written_bytes", res->written_bytes);
	json_object_object_add(o, "peer", peer_status_json(n));
	return o;
}

static int cmd_status(struct node *n, struct json_object *req,
		      struct json_object **result, char *err, size_t errlen)
{
	*result = node_status_json(n);
	return 0;
}

static const struct {
	const char *name;
	control_cmd_fn fn;
} commands[] = {
	{ "status", cmd_status },
};

control_cmd_fn commands_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].fn;
	return NULL;
}
