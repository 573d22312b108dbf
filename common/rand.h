/* rand.h - the one place the daemon draws random numbers (instance ids,
 * generation UUIDs).
 *
 * The source is a function: the kernel's getrandom unless the process
 * sets another at its start (the simulator draws from the run's seed, so
 * a run replays). Not for secrets: the link's challenges come from its
 * crypto library.
 */
#ifndef BLOCKD_COMMON_RAND_H
#define BLOCKD_COMMON_RAND_H

#include <stdint.h>

/* 64 random bits; never fails (the kernel's falls back to a weaker
 * source, logged). */
uint64_t rand_u64(void);
void rand_use(uint64_t (*source)(void));

#endif
