/* server.h - the NBD server: listeners, connections, requests.
 *
 * Owns: every NBD socket and the request slots of the data path. Binds the
 * pure handshake and codec modules to the loop and hands block requests to
 * the resource. Many clients on Unix and TCP listeners share one export;
 * CAN_MULTI_CONN holds because FLUSH is an fdatasync of the one backing
 * file, covering every write already replied to on any connection.
 *
 * Called from blockd/daemon/main.c (start, shutdown) and nothing else.
 */
#ifndef BLOCKD_NBD_SERVER_H
#define BLOCKD_NBD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/engine/resource.h"
#include "common/loop.h"

struct nbd_server;

/* listen is a comma-separated list of unix:PATH and tcp:HOST:PORT. */
int nbd_server_new(struct nbd_server **out, struct loop *l,
		   struct resource *res, const char *listen, bool read_only);

/* Stop accepting and reading; finish in-flight requests, send their
 * replies, close every connection, then call done(arg). */
void nbd_server_shutdown(struct nbd_server *srv, void (*done)(void *arg),
			 void *arg);
void nbd_server_free(struct nbd_server *srv);

/* Request counters and latency histograms per NBD command, for the
 * metrics endpoint. Bucket i counts requests that took at most
 * nbd_stats_bounds_us[i] microseconds; the last bucket is +Inf. */
#define NBD_STATS_CMDS 8	/* NBD_CMD_READ .. NBD_CMD_BLOCK_STATUS */
#define NBD_STATS_BUCKETS 13
extern const uint32_t nbd_stats_bounds_us[NBD_STATS_BUCKETS - 1];

struct nbd_stats {
	uint64_t count[NBD_STATS_CMDS];
	uint64_t errors[NBD_STATS_CMDS];
	uint64_t bytes[NBD_STATS_CMDS];
	uint64_t sum_us[NBD_STATS_CMDS];
	uint64_t bucket[NBD_STATS_CMDS][NBD_STATS_BUCKETS];
};

const struct nbd_stats *nbd_server_stats(const struct nbd_server *srv);

/* Connections open now (for status and for refusing a demotion). */
unsigned nbd_server_connections(const struct nbd_server *srv);

#endif
