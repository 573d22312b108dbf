/* al.h - the activity log: the set of 4 MiB extents that may hold writes
 * not yet known to be on the peer. After a Primary crash only these
 * extents are resynced.
 *
 * An extent must be committed (its AL transaction durable) before the
 * first write to it starts. A write that finds an extent missing stages
 * it (evicting the least recently used idle extent when full) and waits;
 * the caller writes the bitmap pages of evicted extents, then the
 * transaction, then calls al_commit_done() and retries the writes.
 *
 *   slot: FREE --stage--> STAGED --prepare--> COMMITTING --done--> ACTIVE
 *                                                        ACTIVE --evict--> STAGED
 *
 * Pure after init: no I/O, no clock. Called from writepath.c and meta.c.
 */
#ifndef BLOCKD_AL_H
#define BLOCKD_AL_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/core/metafmt.h"

enum al_slot_state { AL_FREE, AL_STAGED, AL_COMMITTING, AL_ACTIVE };

struct al_slot {
	uint32_t ext;
	uint8_t state;
	uint32_t refs;		/* writes in flight in this extent */
	uint64_t last_use;
};

struct al {
	uint32_t cap;		/* slots: the configured al-extents */
	uint32_t n_extents;	/* extents of the whole device */
	struct al_slot *slots;
	uint32_t *slot_of;	/* extent -> slot + 1, 0 = not in the log */
	uint64_t tick;
	uint64_t seq;		/* last transaction sequence */
	uint32_t staged;	/* slots waiting for the next transaction */
	bool committing;
	uint32_t *evicted;	/* extents dropped by the pending transaction */
	uint32_t n_evicted;
	uint32_t n_committing_evicted;
};

int al_init(struct al *al, uint32_t cap, uint64_t data_bytes);
void al_fini(struct al *al);

enum al_begin_result {
	AL_READY,	/* every extent committed; references held */
	AL_WAIT_HELD,	/* references held on every extent (some staged or
			 * committing): wait for the commit */
	AL_WAIT,	/* no slot for some extent: nothing held; wait for
			 * writes in flight to finish, then ask again */
};

/* May a write to [off, off+len) start? After AL_READY or AL_WAIT_HELD the
 * write holds a reference on each of its extents (so a waiting write keeps
 * what it has and cannot be evicted by others) and must call al_end()
 * exactly once: when it completes, or before it asks again. After AL_WAIT
 * it holds nothing and must not call al_end(). */
enum al_begin_result al_begin(struct al *al, uint64_t off, uint64_t len);
void al_end(struct al *al, uint64_t off, uint64_t len);
/* Extents [off, off+len) touches. */
uint32_t al_span(const struct al *al, uint64_t off, uint64_t len);

/* Is a transaction due (something staged and none in flight)? */
bool al_commit_due(const struct al *al);
/* Build the next transaction (the whole set) and list the extents it
 * evicts, whose bitmap pages must be durable before it is written. */
void al_commit_prepare(struct al *al, struct meta_al *out,
		       const uint32_t **evicted, uint32_t *n_evicted);
void al_commit_done(struct al *al);

/* Restore a committed set (at start-up). */
void al_load(struct al *al, const struct meta_al *in);
/* Every extent currently in the log (ACTIVE or not), for a crash mark. */
uint32_t al_extents(const struct al *al, uint32_t *out, uint32_t max);

#endif
