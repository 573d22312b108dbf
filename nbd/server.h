/* server.h - the NBD server: listeners, connections, requests, over a
 * backend that owns the data.
 *
 * Owns: every NBD socket and the request slots of the data path. Binds the
 * pure handshake and codec modules to the loop and hands each checked
 * request to its backend through an ops table, as nbdkit's server hands
 * them to a plugin. The server knows nothing of what is behind the
 * table; the backend knows nothing of sockets or the wire. Many clients on
 * Unix and TCP listeners share one export; CAN_MULTI_CONN is advertised,
 * so the backend's FLUSH must cover every write already replied to on any
 * connection.
 *
 * A request's life:
 *
 *   parsed, checked --> ops->submit / ops->block_status --> (backend)
 *     --> nbd_io_done() --> reply queued --> sent --> slot free
 *
 * Called from the daemon (start, shutdown, status) and nothing else.
 */
#ifndef BLOCKD_NBD_SERVER_H
#define BLOCKD_NBD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bufpool.h"
#include "common/loop.h"
#include "nbd/codec.h"

struct nbd_server;

/* BLOCK_STATUS descriptors in one reply at most. */
#define NBD_EXTENTS_MAX 64U

/* One request handed to the backend: the server's from parsing to the
 * reply; the backend uses priv in between. */
struct nbd_io {
	struct nbd_request rq;	/* checked: in range, known command */
	uint8_t *buf;		/* READ: to fill; WRITE: the payload (bufpool) */
	unsigned extents_max;	/* BLOCK_STATUS: descriptors wanted at most */
	void *priv;		/* the backend's area: ops->priv_bytes, aligned */
};

/* The export as clients see it. The strings belong to the backend and
 * live as long as the server. */
struct nbd_export {
	const char *name;		/* export name (the empty name works too) */
	const char *description;
	uint64_t size_bytes;
	bool read_only;
	/* Bytes of the pool READ and WRITE buffers never take: a request
	 * may wait, holding its buffer, for the backend's own I/O (data from
	 * a peer), which needs buffers too. The largest request is the pool
	 * less this. */
	size_t pool_reserve;
};

struct nbd_backend_ops {
	/* Bytes of the per-request area (nbd_io.priv), allocated with the
	 * request slots at start-up: the data path allocates nothing. */
	size_t priv_bytes;
	/* The export's name, size and flags; asked once, by nbd_server_new. */
	void (*describe)(void *backend, struct nbd_export *ex);
	/* NULL when a new client may use the export, or the message its GO
	 * (or EXPORT_NAME) is refused with; asked when a client connects. */
	const char *(*may_serve)(void *backend);
	/* READ, WRITE, FLUSH, TRIM, WRITE_ZEROES or CACHE: run it, then
	 * nbd_io_done() (from a loop callback, or before submit returns). */
	void (*submit)(void *backend, struct nbd_io *io);
	/* BLOCK_STATUS: nbd_io_extent() for each extent from rq.offset on,
	 * then nbd_io_done(). */
	void (*block_status)(void *backend, struct nbd_io *io);
};

/* listen is a comma-separated list of unix:PATH and tcp:HOST:PORT.
 * READ and WRITE buffers come from pool. */
int nbd_server_new(struct nbd_server **out, struct loop *l,
		   struct bufpool *pool, const struct nbd_backend_ops *ops,
		   void *backend, const char *listen);

/* The backend finished io: 0, or -errno (logged, then sent as the NBD
 * error the spec names for it). */
void nbd_io_done(struct nbd_io *io, int err);
/* BLOCK_STATUS: the next extent, len bytes (hole: unallocated, reads as
 * zeroes). Extents past extents_max are dropped. */
void nbd_io_extent(struct nbd_io *io, uint64_t len, bool hole);

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
	/* Connections closed at once: NBD_CONNS_MAX open, or shutting down. */
	uint64_t refused;
	/* Connections closed for not finishing the handshake in time. */
	uint64_t handshake_timeouts;
};

const struct nbd_stats *nbd_server_stats(const struct nbd_server *srv);

/* A client that has not finished its handshake ms after it connected is
 * closed (0: never): idle handshakes must not hold the connection slots
 * (NBD_CONNS_MAX) or descriptors that other clients need. A client past
 * its handshake may stay idle as long as it likes. */
void nbd_server_set_handshake_timeout(struct nbd_server *srv, uint32_t ms);

/* Time passes (now: clock_mono_ms); called about ten times a second. */
void nbd_server_tick(struct nbd_server *srv, uint64_t now_ms);

/* Connections open now (for status and for refusing a demotion). */
unsigned nbd_server_connections(const struct nbd_server *srv);

#endif
