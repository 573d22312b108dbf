/* oracle.h - what the simulated client was promised, block by block, and
 * the check of a disk against it.
 *
 * The client writes whole 4 KiB blocks, one write per block in flight at
 * a time (so the engine's order per block is the client's). Each write
 * has a generation: a block's data names its block number and generation
 * (oracle_fill), so a read tells which write it holds. A TRIM or ZERO
 * write leaves zeroes, which name no generation: the oracle remembers
 * which generations were zero writes.
 *
 * Promises: a write acknowledged (protocol C) is on every node that may
 * become Primary without --force; a write acknowledged before a FLUSH
 * that completed survives losing power on every node. What a node may
 * hold for a block is therefore the newest promised write or anything
 * written after it (in flight, failed, or acknowledged later).
 *
 * Pure: no I/O, no clock.
 */
#ifndef SIM_ORACLE_H
#define SIM_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORACLE_BLOCK 4096U
#define ORACLE_HIST 16		/* acknowledged writes remembered per block */

struct oracle_ack {
	uint64_t gen;
	uint64_t ack_seq;	/* order of acknowledgement, all blocks */
};

struct oracle_block {
	uint64_t issued;	/* newest generation issued (0: none) */
	bool inflight;		/* that write has no answer yet */
	bool lost;		/* ... and its only copy lost power: its ack
				 * (if one comes) promises nothing */
	struct oracle_ack hist[ORACLE_HIST];	/* newest last */
	unsigned nhist;
	uint64_t flushed;	/* newest generation a completed FLUSH covers */
	uint64_t last_zero;	/* newest TRIM/ZERO generation issued, 0 none */
};

struct oracle {
	uint64_t nblocks;
	struct oracle_block *b;
	uint64_t next_gen;	/* generations are unique across blocks */
	uint64_t next_ack;
	uint64_t flushed_ack;	/* acks below this a completed FLUSH covers */
};

int oracle_init(struct oracle *o, uint64_t nblocks);
void oracle_fini(struct oracle *o);

/* The data of write gen to block (ORACLE_BLOCK bytes). */
void oracle_fill(uint64_t block, uint64_t gen, uint8_t *buf);
/* The generation a block holds: 0 for zeroes, else the one it names;
 * -1 (as uint64_t) when the data names another block or nothing. */
uint64_t oracle_parse(uint64_t block, const uint8_t *buf);

/* A new write to block (zero: TRIM/ZERO): its generation. */
uint64_t oracle_issue(struct oracle *o, uint64_t block, bool zero);
void oracle_acked(struct oracle *o, uint64_t block, uint64_t gen);
void oracle_failed(struct oracle *o, uint64_t block, uint64_t gen);
/* A FLUSH issued now covers every write acknowledged so far: a token,
 * passed back when it completes. */
uint64_t oracle_flush_token(const struct oracle *o);
void oracle_flush_done(struct oracle *o, uint64_t token);

enum oracle_promise {
	ORACLE_ACKED,	/* every acknowledged write (protocol C survivor) */
	ORACLE_FLUSHED,	/* every write a completed FLUSH covered */
};

/* May block hold found (oracle_parse's answer) under that promise? On
 * false, why names the expectation (for the report). */
bool oracle_allows(const struct oracle *o, uint64_t block, uint64_t found,
		   enum oracle_promise p, char *why, size_t whylen);

/* The promise a read issued now must meet: the newest acknowledged (or
 * flushed) generation of the block, 0 for none. */
uint64_t oracle_floor(const struct oracle *o, uint64_t block,
		      enum oracle_promise p);
/* May block hold found, given the floor taken when the read was issued? */
bool oracle_allows_floor(const struct oracle *o, uint64_t block,
			 uint64_t found, uint64_t floor, char *why,
			 size_t whylen);
/* Both nodes lost power (or the only node holding them did): what was
 * acknowledged but not flushed is no longer promised. */
void oracle_power_loss(struct oracle *o);
/* The only disk the writes in flight went to lost power (a Diskless
 * Primary's peer): an acknowledgement already on its way promises
 * nothing. */
void oracle_lose_inflight(struct oracle *o);
/* A forced promotion, or the pair in sync again: the node's content
 * (found, per block, with its cache; durable, what a power loss keeps)
 * is the new baseline; earlier promises are void. Only the durable
 * content counts as flushed. */
void oracle_rebase(struct oracle *o, uint64_t block, uint64_t found,
		   uint64_t durable);

#endif
