/* commands.c - what each control-socket command does.
 *
 * Owns: the command table (the status document is status.c's). Each
 * command checks its preconditions and refuses with a one-line reason
 * that blockctl prints verbatim; the state changes themselves belong to
 * the resource.
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

/* A node without a usable disk holds no data: only --force, and only
 * with its peer connected and UpToDate, makes it a Primary that serves
 * everything through the peer. */
static int promote_diskless(struct node *n, bool force, char *err, size_t errlen)
{
	struct resource *res = &n->res;

	if (!force)
		REFUSE("this node has no usable disk (%s): it holds no data. "
		       "Attach a disk, or promote the peer; 'primary --force' "
		       "serves all I/O through an UpToDate connected peer",
		       disk_state_name(res->disk_state));
	if (res->repl != RS_ESTABLISHED || res->peer_disk != DS_UPTODATE ||
	    !(link_features(res->link) & FRAME_FEAT_DISKLESS))
		REFUSE("this node has no usable disk (%s) and no connected "
		       "UpToDate peer to serve its I/O",
		       disk_state_name(res->disk_state));
	log_warn("promoted without a disk: all I/O goes through the peer");
	res->role = ROLE_PRIMARY;
	peer_send_state(res);
	resource_event(res, "role-changed");
	return 0;
}

static int cmd_primary(struct node *n, struct json_object *req,
		       struct json_object **result, char *err, size_t errlen)
{
	struct resource *res = &n->res;
	bool force = req_flag(req, "force");

	if (res->role == ROLE_PRIMARY)
		return 0;
	if (res->peer_conn == CS_CONNECTED && res->peer_role == ROLE_PRIMARY)
		REFUSE("the peer %s is Primary: demote it first (two Primaries "
		       "would split the data)", n->cfg.nodes[n->cfg.peer].name);
	if (!resource_has_disk(res))
		return promote_diskless(n, force, err, errlen);
	/* A SyncTarget of an UpToDate source may be Primary: what it lacks
	 * is fetched first, before any read or write of it. */
	bool synced_by_peer = (res->repl == RS_SYNC_TARGET ||
			       res->repl == RS_PAUSED_SYNC_T) &&
			      res->peer_disk == DS_UPTODATE &&
			      (link_features(res->link) & FRAME_FEAT_PRIMARY_TARGET);

	if (!force && !synced_by_peer && (res->disk_state == DS_INCONSISTENT ||
		       res->disk_state == DS_OUTDATED))
		REFUSE("this disk is %s: promote with --force only if you know it "
		       "holds the newest data", disk_state_name(res->disk_state));
	if (!force && !synced_by_peer && res->disk_state == DS_CONSISTENT)
		REFUSE("this disk is Consistent: it has not reached its peer %s "
		       "since it started, so it cannot know whether the peer holds "
		       "newer data. Wait for the peer to connect (the handshake "
		       "makes this disk UpToDate or Outdated), or use 'primary "
		       "--force' if the peer is gone for good",
		       n->cfg.nodes[n->cfg.peer].name);
	if (!force && !synced_by_peer && res->disk_state != DS_UPTODATE)
		REFUSE("this disk is %s, not UpToDate: use --force to promote anyway",
		       disk_state_name(res->disk_state));
	if (synced_by_peer) {
		res->role = ROLE_PRIMARY;
		log_info("promoted while SyncTarget: blocks not yet resynced are "
			 "fetched from %s before use",
			 n->cfg.nodes[n->cfg.peer].name);
		peer_promoted(res, force);
		resource_event(res, "role-changed");
		return 0;
	}
	if (res->repl == RS_SYNC_TARGET || res->repl == RS_PAUSED_SYNC_T)
		REFUSE("a resync into this disk is running: wait for it to finish");
	if (res->disk_state != DS_UPTODATE) {
		log_warn("promotion forced: %s disk declared UpToDate",
			 disk_state_name(res->disk_state));
		res->disk_state = DS_UPTODATE;
	}
	res->role = ROLE_PRIMARY;
	peer_promoted(res, force);
	resource_event(res, "role-changed");
	return 0;
}

static int cmd_secondary(struct node *n, struct json_object *req,
			 struct json_object **result, char *err, size_t errlen)
{
	struct resource *res = &n->res;
	unsigned clients = nbd_server_connections(n->nbd);

	if (res->role == ROLE_SECONDARY)
		return 0;
	if (n->cfg.peer < 0)
		REFUSE("a one-node resource is always Primary");
	if (clients)
		REFUSE("%u NBD client%s connected: disconnect %s first", clients,
		       clients == 1 ? " is" : "s are", clients == 1 ? "it" : "them");
	res->role = ROLE_SECONDARY;
	peer_demoted(res);
	resource_event(res, "role-changed");
	return 0;
}

static int cmd_connect(struct node *n, struct json_object *req,
		       struct json_object **result, char *err, size_t errlen)
{
	struct resource *res = &n->res;

	if (!res->link)
		REFUSE("no peer is configured for %s", n->cfg.name);
	if (req_flag(req, "discard-my-data")) {
		if (res->role == ROLE_PRIMARY)
			REFUSE("a Primary cannot discard its data: demote it first");
		res->discard_my_data = true;
	}
	if (res->peer_conn == CS_STANDALONE) {
		res->peer_conn = CS_CONNECTING;
		link_connect(res->link);
		resource_event(res, "connecting");
	}
	return 0;
}

static int cmd_disconnect(struct node *n, struct json_object *req,
			  struct json_object **result, char *err, size_t errlen)
{
	struct resource *res = &n->res;

	if (!res->link)
		REFUSE("no peer is configured for %s", n->cfg.name);
	if (res->peer_conn != CS_STANDALONE) {
		res->peer_conn = CS_STANDALONE;
		link_disconnect(res->link, "disconnected by the operator");
		resource_event(res, "standalone");
	}
	return 0;
}

static int cmd_protocol(struct node *n, struct json_object *req,
			struct json_object **result, char *err, size_t errlen)
{
	struct json_object *v;
	const char *p;

	if (!json_object_object_get_ex(req, "arg", &v) ||
	    !(p = json_object_get_string(v)) || strlen(p) != 1 ||
	    !strchr("ABCabc", p[0])) {
		snprintf(err, errlen, "usage: protocol A|B|C");
		return -EINVAL;
	}
	if ((p[0] & ~0x20) == 'A' &&
	    n->cfg.fencing == FENCING_RESOURCE_AND_STONITH)
		REFUSE("protocol A cannot be used with fencing "
		       "resource-and-stonith: acknowledged writes could be lost");
	n->cfg.protocol = (char)(p[0] & ~0x20);
	n->res.protocol = n->cfg.protocol;
	peer_send_state(&n->res);
	resource_event(&n->res, "protocol-changed");
	return 0;
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
	return res->repl == RS_SYNC_SOURCE || res->repl == RS_SYNC_TARGET ||
	       res->repl == RS_PAUSED_SYNC_S || res->repl == RS_PAUSED_SYNC_T;
}

static int cmd_pause_sync(struct node *n, struct json_object *req,
			  struct json_object **result, char *err, size_t errlen)
{
	if (!syncing(&n->res))
		REFUSE("no resync is running (replication is %s)",
		       repl_state_name(n->res.repl));
	peer_set_paused(&n->res, true);
	return 0;
}

static int cmd_resume_sync(struct node *n, struct json_object *req,
			   struct json_object **result, char *err, size_t errlen)
{
	if (!n->res.sync_paused)
		REFUSE("the resync is not paused on this node");
	peer_set_paused(&n->res, false);
	return 0;
}

static int cmd_verify(struct node *n, struct json_object *req,
		      struct json_object **result, char *err, size_t errlen)
{
	if (n->res.role == ROLE_SECONDARY && n->res.peer_role == ROLE_PRIMARY)
		REFUSE("run verify on the Primary (%s)",
		       n->cfg.nodes[n->cfg.peer].name);
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
