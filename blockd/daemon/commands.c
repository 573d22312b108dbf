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
#include <strings.h>

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
	/* commands_check saw that arg is one of A, B, C (any case). */
	const char *p = json_object_get_string(json_object_object_get(req, "arg"));
	int ret;

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

/* What each command takes: options are JSON booleans named as blockctl's
 * --flags are (space-separated here), arg is the usage of its one
 * argument, a string ("A|B|C": one of those words, in any case). */
static const struct command {
	const char *name;
	control_cmd_fn fn;
	const char *options;
	const char *arg;
	bool subscribe;		/* events: the status now, then every change */
} commands[] = {
	{ .name = "resume-io", .fn = cmd_resume_io },
	{ .name = "verify", .fn = cmd_verify },
	{ .name = "resync", .fn = cmd_resync },
	{ .name = "invalidate", .fn = cmd_invalidate, .options = "bitmap" },
	{ .name = "invalidate-remote", .fn = cmd_invalidate_remote, .options = "bitmap" },
	{ .name = "outdate", .fn = cmd_outdate },
	{ .name = "detach", .fn = cmd_detach },
	{ .name = "attach", .fn = cmd_attach },
	{ .name = "new-current-uuid", .fn = cmd_new_current_uuid, .options = "clear-bitmap" },
	{ .name = "pause-sync", .fn = cmd_pause_sync },
	{ .name = "resume-sync", .fn = cmd_resume_sync },
	{ .name = "status", .fn = cmd_status },
	{ .name = "events", .fn = cmd_status, .subscribe = true },
	{ .name = "primary", .fn = cmd_primary, .options = "force" },
	{ .name = "secondary", .fn = cmd_secondary },
	{ .name = "connect", .fn = cmd_connect, .options = "discard-my-data" },
	{ .name = "disconnect", .fn = cmd_disconnect },
	{ .name = "protocol", .fn = cmd_protocol, .arg = "A|B|C" },
};

/* Is word one of the separated words of list (sep ' ' or '|')? */
static bool word_in(const char *list, char sep, const char *word, bool nocase)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, sep);
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && (nocase ? !strncasecmp(p, word, n) : !strncmp(p, word, n)))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* The options a command takes, as blockctl spells them ("--a, --b"). */
static void options_text(const struct command *c, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const char *p = c->options; p && *p && used < len;) {
		const char *end = strchr(p, ' ');
		int n = end ? (int)(end - p) : (int)strlen(p);

		used += (size_t)snprintf(buf + used, len - used, "%s--%.*s",
					 used ? ", " : "", n, p);
		p = end ? end + 1 : NULL;
	}
}

static const char *json_text(struct json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* Check one key of a request against what command c takes. */
static int check_key(const struct command *c, const char *key,
		     struct json_object *v, char *err, size_t errlen)
{
	char opts[128];

	if (!strcmp(key, "cmd"))
		return 0;
	if (!strcmp(key, "arg")) {
		if (!c->arg) {
			snprintf(err, errlen, "takes no argument (got %.64s)",
				 json_text(v));
			return -EINVAL;
		}
		if (!json_object_is_type(v, json_type_string) ||
		    !word_in(c->arg, '|', json_object_get_string(v), true)) {
			snprintf(err, errlen, "usage: %s %s (got %.64s)", c->name,
				 c->arg, json_text(v));
			return -EINVAL;
		}
		return 0;
	}
	if (!word_in(c->options, ' ', key, false)) {
		options_text(c, opts, sizeof(opts));
		snprintf(err, errlen, "unknown option --%.64s (%s takes %s)", key,
			 c->name, opts[0] ? opts : "no options");
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_boolean)) {
		snprintf(err, errlen, "option --%s is true or false, not %.64s", key,
			 json_text(v));
		return -EINVAL;
	}
	return 0;
}

control_cmd_fn commands_check(struct json_object *req, bool *subscribe,
			      char *err, size_t errlen)
{
	const struct command *c = NULL;
	struct json_object *cmd;
	const char *name;

	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		snprintf(err, errlen, "bad request: expected {\"cmd\": NAME, ...}");
		return NULL;
	}
	name = json_object_get_string(cmd);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			c = &commands[i];
	if (!c || strlen(name) != (size_t)json_object_get_string_len(cmd)) {
		snprintf(err, errlen, "unknown command %.64s", json_text(cmd));
		return NULL;
	}
	json_object_object_foreach(req, key, v)
		if (check_key(c, key, v, err, errlen) < 0)
			return NULL;
	if (c->arg && !json_object_object_get_ex(req, "arg", NULL)) {
		snprintf(err, errlen, "usage: %s %s", c->name, c->arg);
		return NULL;
	}
	*subscribe = c->subscribe;
	return c->fn;
}
