/* node.h - everything one blockd process runs: the resource on this node
 * and the services around it (NBD server, control socket).
 *
 * Owned by main.c; commands.c and control.c reach the subsystems through
 * it. One per process.
 */
#ifndef BLOCKD_NODE_H
#define BLOCKD_NODE_H

#include "blockd/core/config.h"
#include "blockd/daemon/control.h"
#include "blockd/daemon/metrics.h"
#include "blockd/daemon/nbd_backend.h"
#include "blockd/engine/resource.h"
#include "nbd/server.h"

struct node {
	struct config cfg;
	struct loop loop;
	struct resource res;
	struct nbd_server *nbd;
	struct resource_nbd nbd_backend;	/* what nbd serves: res */
	struct control *ctl;
	struct metrics *metrics;
	char control_path[CONFIG_STR];
};

/* The command table for the control socket (commands.c). */
control_cmd_fn commands_find(const char *name);

/* Status as a JSON object (commands.c): the contract of DESIGN.md 6. */
struct json_object *node_status_json(struct node *n);

/* Streams each state change of the resource to the control socket's
 * subscribers, tagged with "event" (commands.c; arg: the node). */
extern const struct resource_observer node_observer;

#endif
