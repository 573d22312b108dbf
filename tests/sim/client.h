/* client.h - the simulated NBD clients of the Primary, and the audit
 * reads that check a new Primary against the oracle.
 *
 * Requests enter the engine where blockd/daemon/nbd_backend.c hands NBD
 * requests over (resource_submit with a struct blk_req). Every write is
 * one whole 4 KiB block of a working set, filled by oracle_fill, one
 * write per block in flight; reads are checked against what the oracle
 * allows at the moment they were issued.
 */
#ifndef SIM_CLIENT_H
#define SIM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#define CLIENT_SLOTS 32
#define CLIENT_WORKING_SET 192

struct client_knobs {
	unsigned depth;			/* requests in flight at most */
	uint32_t gap_min_us, gap_max_us;	/* between two requests */
	/* per hundred: what a request is */
	unsigned pct_read, pct_flush, pct_trim, pct_zero, pct_fua;
};

void client_init(const struct client_knobs *k, uint64_t nblocks);
void client_fini(void);
/* Start issuing requests (the client loop runs until the run ends). */
void client_start(void);
/* Requests in flight on node idx. */
unsigned client_inflight(int idx);
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
