/* order.h - the order promise of protocols A and B (and C): a Secondary's
 * disk is a prefix of the Primary's history.
 *
 * The client issues a write only after the writes it depends on were
 * answered (a journal's commit block after its log blocks). Write X
 * depends on R when R was acknowledged before X was issued. The Primary
 * closes an epoch at every reply and the Secondary lands no write of
 * epoch n+1 before every write of epoch n (receiver.c), so whatever the
 * Secondary holds, it holds every write its newest write depends on: on
 * each block, the write a dependency put there or a newer one. That is
 * what lets a file system on the Secondary mount after a failover in
 * protocol A, where the tail of the history may be missing.
 *
 * Generations (oracle.h) are issued in order, so "R acknowledged before
 * X was issued" is R.ack_at <= X.gen, with ack_at the next generation at
 * R's acknowledgement. Writes issued before the floor (the history
 * restarted: another node was promoted) promise nothing.
 *
 * Pure: no I/O, no clock.
 */
#ifndef SIM_ORDER_H
#define SIM_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORDER_HIST 8		/* acknowledged writes remembered per block */

struct order_ack {
	uint64_t gen;
	uint64_t ack_at;	/* next generation when it was acknowledged */
	bool zero;		/* TRIM/ZERO: the block reads zeroes */
	int node;		/* which node acknowledged it */
};

struct order_block {
	struct order_ack h[ORDER_HIST];	/* newest last */
	unsigned n;
	uint64_t last_zero;	/* newest TRIM/ZERO issued (answered or not) */
};

struct order {
	uint64_t nblocks;
	struct order_block *b;
	uint64_t floor;		/* writes issued before it promise nothing */
	uint64_t checks;	/* for reports */
};

int order_init(struct order *o, uint64_t nblocks);
void order_fini(struct order *o);

/* A TRIM/ZERO write to block was issued as gen. */
void order_zero_issued(struct order *o, uint64_t block, uint64_t gen);
/* Write gen to block was acknowledged (successfully) while next_gen was
 * the next generation to issue. */
void order_acked(struct order *o, uint64_t block, uint64_t gen,
		 uint64_t next_gen, bool zero, int node);
/* The history restarts: only writes issued from next_gen on count. */
void order_restart(struct order *o, uint64_t next_gen);

/* found[b]: what block b holds (oracle_parse: a generation, 0 for
 * zeroes, -1 for garbage), for every block. True when that is a prefix
 * of the history of the writes node primary acknowledged (two Primaries
 * have two histories; the one whose data a split brain discards had
 * its own); false with why (one line) when a block lacks a write the
 * newest write present depends on. */
bool order_check(struct order *o, const uint64_t *found, int primary,
		 char *why, size_t len);

#endif
