/* client.h - the simulated NBD clients of the Primary, and the audit
 * reads that check a new Primary against the oracle.
 *
 * Requests enter the engine where blockd/daemon/nbd_backend.c hands NBD
 * requests over (resource_submit with a struct blk_req). A READ or WRITE
 * covers one or more whole 4 KiB blocks from a working-set block on, up
 * to the largest request the NBD server advertises (the pool less the
 * backend's reserve), each block filled by oracle_fill, one write per
 * block in flight; reads are checked against what the oracle allows at
 * the moment they were issued.
 *
 * Buffers: as nbd/conn.c does, a READ or WRITE takes its buffer from the
 * Primary's pool with bufpool_get_leaving(pool, len, RS_CHUNK_BYTES) and
 * holds it until answered; when the pool cannot give one, the client (one
 * NBD connection, requests in order) issues nothing until a put wakes it.
 * That is what lets the simulator find requests that hold the pool while
 * waiting for data that needs the pool (a liveness failure).
 */
#ifndef SIM_CLIENT_H
#define SIM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_SLOTS 32
#define CLIENT_WORKING_SET 192

struct client_knobs {
	unsigned depth;			/* requests in flight at most */
	uint32_t gap_min_us, gap_max_us;	/* between two requests */
	/* per hundred: what a request is */
	unsigned pct_read, pct_flush, pct_trim, pct_zero, pct_fua;
	/* READ/WRITE size: 1 block, or per hundred (pct_multi) between 1
	 * and blocks_max blocks (log-uniform: small ones stay common). */
	unsigned pct_multi;
	uint32_t blocks_max;
	/* READ/WRITE bytes per simulated second at most (0: no limit): a
	 * client of large requests is as fast as its link, and the run's
	 * cost follows the bytes it moves. */
	uint64_t bytes_per_s;
};

/* The largest READ/WRITE the NBD server takes from a pool of pool_bytes
 * (nbd/server.c: NBD_BLOCK_MAX, the pool less the backend's reserve),
 * in blocks, at most disk_blocks. */
uint32_t client_blocks_max(uint64_t pool_bytes, uint64_t disk_blocks);

void client_init(const struct client_knobs *k, uint64_t nblocks);
void client_fini(void);
/* Start issuing requests (the client loop runs until the run ends). */
void client_start(void);
/* Requests in flight on node idx, with one waiting for a buffer. */
unsigned client_inflight(int idx);
/* Requests in flight on node idx, or an audit reading through it. */
bool client_busy(int idx);
/* Stop issuing new requests (the final heal phase). */
void client_stop(void);
/* The oldest request not answered yet (in flight, or waiting for a
 * buffer): when it was issued, and what it is. false when there is
 * none. */
bool client_oldest(uint64_t *issued_us, char *what, size_t len);
/* SIGTERM on node idx: its NBD server accepts no new request (nbd/conn.c
 * drops one still waiting for a buffer: never accepted, never answered,
 * its connection closes). */
void client_node_draining(int idx);
/* Node idx lost power: its requests are answered with an error (the
 * client's connection broke). */
void client_node_gone(int idx);
/* Read every working-set block through node idx's engine and check it
 * against the promise (floor per block taken now). */
void client_audit(int idx, int promise, const char *why);
bool client_auditing(void);
/* The blocks a run touches. */
uint64_t client_block(unsigned i);
/* Writes acknowledged by a Primary while it replicated to nobody. */
extern uint64_t client_local_only_acks;

#endif
