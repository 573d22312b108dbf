/* rand.h - the one place the daemon draws random numbers (instance ids,
 * generation UUIDs).
 *
 * The header is the interface: the daemon links common/rand.c (the
 * kernel's getrandom), the simulator links its own (drawn from the run's
 * seed, so a run replays). Not for secrets: the link's challenges come
 * from its crypto library.
 */
#ifndef BLOCKD_COMMON_RAND_H
#define BLOCKD_COMMON_RAND_H

#include <stdint.h>

/* 64 random bits; never fails (falls back to a weaker source, logged). */
uint64_t rand_u64(void);

#endif
