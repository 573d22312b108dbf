/* verify.h - online verify: are both copies really equal? (see
 * verify.c). Its chunks use the resync's slots and pacing.
 *
 * Called from the verify command, resource.c (the tick), peer.c
 * (V_REPLY) and receiver.c (the target's reads).
 */
#ifndef BLOCKD_ENGINE_VERIFY_H
#define BLOCKD_ENGINE_VERIFY_H

#include <stddef.h>
#include <stdint.h>

struct peer_req;
struct resource;

struct verify {
	uint64_t cursor;	/* source: next block to verify */
	uint64_t mismatch;	/* blocks found different */
	uint64_t first[8];	/* their first offsets, for the log */
	unsigned first_n;
	double done_pct;
	/* Requests up to this id were in flight when the peer's promotion
	 * stopped the verify: a Primary answers them, after writes of its
	 * own, so their answers only free their slots. */
	uint64_t stale_upto;
};

int verify_start(struct resource *res, char *err, size_t errlen);
/* The peer of this Secondary's verify became Primary: the verify stops
 * (its source must be the Primary, or one of two Secondaries); the
 * STATE this step sends ends the peer's VerifyT. The answers to its
 * requests still in flight mark nothing. */
void verify_peer_promoted(struct resource *res);
void verify_pump(struct resource *res);
void verify_reply(struct resource *res, uint64_t id, uint64_t mask);
void verify_target_done(struct resource *res, struct peer_req *p, int err,
			uint64_t *mask);

#endif
