/* node.h - everything one blockd process runs: the resource on this node
 * and the services around it (NBD server and its backend, control
 * socket, metrics endpoint).
 *
 * Owned by main.c; commands.c, control.c, status.c and metrics.c reach
 * the subsystems through it. One per process.
 */
#ifndef BLOCKD_NODE_H
#define BLOCKD_NODE_H

#include "blockd/core/config.h"
#include "blockd/daemon/control.h"
#include "blockd/daemon/metrics.h"
#include "blockd/daemon/nbd_backend.h"
#include "blockd/daemon/status.h"
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

/* The command a control request names (commands.c), once the request
 * is checked against what that command takes: its options, JSON booleans
 * (blockctl's --flags), and its one argument ("arg"). NULL, with the
 * reason in err, for anything else: an unknown command or option, an
 * option that is not true or false, an argument missing, not taken or
 * not one the command knows. *subscribe: the client stays for events. */
control_cmd_fn commands_check(struct json_object *req, bool *subscribe,
			      char *err, size_t errlen);

#endif
