/* status.h - one snapshot of the node's state, counters and replication
 * lag, filled from the resource once and rendered by everyone who shows
 * it: `status --json` and the events stream (status.c), and the metrics
 * endpoint (metrics.c). So the JSON and the metrics can never disagree
 * on what the lag is or which states exist.
 *
 * Owns: the snapshot, its JSON rendering (the contract of DESIGN.md
 * section 6: extend it, never rename), and the resource observer that
 * streams an event per state change to the control socket's subscribers.
 */
#ifndef BLOCKD_DAEMON_STATUS_H
#define BLOCKD_DAEMON_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "blockd/core/metafmt.h"
#include "blockd/core/state.h"
#include "blockd/engine/resource.h"
#include "nbd/server.h"

struct node;

struct status {
	const char *resource, *node, *peer_node;	/* peer_node: NULL alone */
	enum role role;
	enum disk_state disk;
	char protocol;
	uint64_t size_bytes;
	bool io_frozen;
	const char *io_frozen_reason;	/* NULL while not frozen */
	bool peer_outdated;
	const char *fencing;
	unsigned nbd_connections;
	const struct nbd_stats *nbd;	/* NULL before the server runs */
	uint64_t instance;
	bool have_uuids;		/* no metadata: none */
	uint64_t uuids[UUID_N];
	uint64_t io_errors;
	int disk_error;			/* -errno, 0 if none */
	uint64_t read_bytes, written_bytes;
	struct meta_counts md_writes;	/* metadata block writes so far */
	/* The peer, as last known. */
	enum conn_state connection;
	enum role peer_role;
	enum disk_state peer_disk;
	enum repl_state replication;
	uint64_t out_of_sync_bytes;
	uint64_t pending_writes;
	double resync_done_pct;
	uint64_t resync_rate_bytes_s, resync_eta_s;
	double verify_done_pct;
	uint64_t verify_out_of_sync_blocks;
	/* Replication lag, like pg_stat_replication: positions the peer
	 * reported, the bytes behind each, and ages in seconds. */
	struct {
		uint64_t sent_bytes, received_bytes, written_bytes, flushed_bytes;
		uint64_t receive_lag_bytes, write_lag_bytes, flush_lag_bytes;
		double write_lag_s;	/* age of the oldest unacknowledged write */
		double flush_lag_s;	/* since the last flush, while behind */
	} lag;
	uint64_t data_sent_bytes, data_received_bytes;
	uint64_t resync_sent_bytes, resync_received_bytes;
	uint64_t resync_same_bytes, resync_zero_bytes;
	uint64_t fence_runs, fence_ok, fence_failed;
};

/* The node's state now. */
void status_fill(struct status *st, const struct node *n);
/* The JSON document of `status --json` and of every event. */
struct json_object *status_json(const struct status *st);
/* status_json of the node now. */
struct json_object *node_status_json(const struct node *n);

/* Streams each state change of the resource to the control socket's
 * subscribers, tagged with "event" (arg: the node). */
extern const struct resource_observer status_observer;

#endif
