/* commands.c - what each control-socket command does.
 *
 * Owns: the command table (the status document is status.c's). Each
 * command checks its preconditions and refuses with a one-line reason
 * that blockctl prints verbatim; the state changes themselves belong to
 * the resource (role and connection changes: blockd/engine/operator.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/state.h"
#include "blockd/daemon/node.h"
#include "common/log.h"

static int cmd_status(struct node *n, struct json_object *req,
		      struct json_object **result, char *err, size_t errlen)
{
	*result = node_status_json(n);
	return 0;
}

static bool req_flag(struct json_object *req, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(req, name, &v) && json_object_get_boolean(v);
}

#define REFUSE(...) do { snprintf(err, errlen, __VA_ARGS__); return -EPERM; } while (0)

static int cmd_primary(struct node *n, struct json_object *req,
		       struct json_object **result, char *err, size_t errlen)
{
	return resource_promote(&n->res, req_flag(req, "force"), err, errlen);
}

static int cmd_secondary(struct node *n, struct json_object *req,
			 struct json_object **result, char *err, size_t errlen)
{
	unsigned clients = nbd_server_connections(n->nbd);

	if (n->res.st.role == ROLE_SECONDARY)
		return 0;
	if (n->cfg.peer < 0)
		REFUSE("a one-node resource is always Primary");
	if (clients)
		REFUSE("%u NBD client%s connected: disconnect %s first", clients,
		       clients == 1 ? " is" : "s are", clients == 1 ? "it" : "them");
	return resource_demote(&n->res, err, errlen);
}

static int cmd_connect(struct node *n, struct json_object *req,
		       struct json_object **result, char *err, size_t errlen)
{
	return resource_connect(&n->res, req_flag(req, "discard-my-data"), err,
				errlen);
}

static int cmd_disconnect(struct node *n, struct json_object *req,
			  struct json_object **result, char *err, size_t errlen)
{
	return resource_disconnect(&n->res, err, errlen);
}

static int cmd_protocol(struct node *n, struct json_object *req,
			struct json_object **result, char *err, size_t errlen)
{
	struct json_object *v;
	const char *p;
	int ret;

	if (!json_object_object_get_ex(req, "arg", &v) ||
	    !(p = json_object_get_string(v)) || strlen(p) != 1 ||
	    !strchr("ABCabc", p[0])) {
		snprintf(err, errlen, "usage: protocol A|B|C");
		return -EINVAL;
	}
	ret = resource_set_protocol(&n->res, (char)(p[0] & ~0x20), err, errlen);
	if (ret == 0)
		n->cfg.protocol = n->res.protocol;
	return ret;
}

static int cmd_new_current_uuid(struct node *n, struct json_object *req,
				struct json_object **result, char *err,
				size_t errlen)
{
	if (!req_flag(req, "clear-bitmap"))
		REFUSE("only 'new-current-uuid --clear-bitmap' (skip the initial "
		       "sync of two blank disks) is supported");
	return peer_new_current_uuid(&n->res, err, errlen);
}

static bool syncing(const struct resource *res)
{
	return res->st.repl == RS_SYNC_SOURCE || res->st.repl == RS_SYNC_TARGET ||
	       res->st.repl == RS_PAUSED_SYNC_S || res->st.repl == RS_PAUSED_SYNC_T;
}

static int cmd_pause_sync(struct node *n, struct json_object *req,
			  struct json_object **result, char *err, size_t errlen)
{
	if (!syncing(&n->res))
		REFUSE("no resync is running (replication is %s)",
		       repl_state_name(n->res.st.repl));
	peer_set_paused(&n->res, true);
	return 0;
}

static int cmd_resume_sync(struct node *n, struct json_object *req,
			   struct json_object **result, char *err, size_t errlen)
{
	if (!n->res.st.sync_paused)
		REFUSE("the resync is not paused on this node");
	peer_set_paused(&n->res, false);
	return 0;
}

static int cmd_verify(struct node *n, struct json_object *req,
		      struct json_object **result, char *err, size_t errlen)
{
	return verify_start(&n->res, err, errlen);
}

static int cmd_resync(struct node *n, struct json_object *req,
		      struct json_object **result, char *err, size_t errlen)
{
	if (!bitmap_dirty_bytes(&n->res.oos))
		REFUSE("nothing is marked out of sync on this node");
	return peer_start_resync(&n->res, false, err, errlen);
}

/* invalidate: this node's data is discarded and fetched from the peer
 * (--bitmap: only the blocks this node has marked out of sync). */
static int cmd_invalidate(struct node *n, struct json_object *req,
			  struct json_object **result, char *err, size_t errlen)
{
	return peer_request_full_sync(&n->res, req_flag(req, "bitmap"), err,
				      errlen);
}

/* invalidate-remote: the peer's data is replaced from here (--bitmap:
 * only the blocks marked out of sync here). */
static int cmd_invalidate_remote(struct node *n, struct json_object *req,
				 struct json_object **result, char *err,
				 size_t errlen)
{
	return peer_start_resync(&n->res, !req_flag(req, "bitmap"), err, errlen);
}

static int cmd_resume_io(struct node *n, struct json_object *req,
			 struct json_object **result, char *err, size_t errlen)
{
	return fencing_resume_io(&n->res, err, errlen);
}

static int cmd_detach(struct node *n, struct json_object *req,
		      struct json_object **result, char *err, size_t errlen)
{
	return resource_detach(&n->res, err, errlen);
}

static int cmd_attach(struct node *n, struct json_object *req,
		      struct json_object **result, char *err, size_t errlen)
{
	return resource_attach(&n->res, err, errlen);
}

static int cmd_outdate(struct node *n, struct json_object *req,
		       struct json_object **result, char *err, size_t errlen)
{
	return fencing_outdate(&n->res, err, errlen);
}

static const struct {
	const char *name;
	control_cmd_fn fn;
} commands[] = {
	{ "resume-io", cmd_resume_io },
	{ "verify", cmd_verify },
	{ "resync", cmd_resync },
	{ "invalidate", cmd_invalidate },
	{ "invalidate-remote", cmd_invalidate_remote },
	{ "outdate", cmd_outdate },
	{ "detach", cmd_detach },
	{ "attach", cmd_attach },
	{ "new-current-uuid", cmd_new_current_uuid },
	{ "pause-sync", cmd_pause_sync },
	{ "resume-sync", cmd_resume_sync },
	{ "status", cmd_status },
	{ "primary", cmd_primary },
	{ "secondary", cmd_secondary },
	{ "connect", cmd_connect },
	{ "disconnect", cmd_disconnect },
	{ "protocol", cmd_protocol },
};

control_cmd_fn commands_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].fn;
	return NULL;
}
