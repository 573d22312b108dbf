/* simbuf.h - the simulator's data buffers: volatile disk writes and frame
 * payloads.
 *
 * A run allocates and frees buffers of the same few sizes (resync chunks,
 * client writes) hundreds of thousands of times. Under AddressSanitizer
 * every large one came from a fresh mmap and went back with munmap, so
 * each of its pages was a page fault: the sanitizer build spent more time
 * in the kernel than in the simulation. There a freed buffer waits on a
 * list of its size class (a power of two) for the next one of the class,
 * poisoned meanwhile, so a use after simbuf_free is still reported, and a
 * second simbuf_free of it fails the run. Elsewhere these are malloc and
 * free: glibc reuses freed memory across sizes better than the lists do
 * (seeds 1..30 took 11.1 s with malloc, 12.5 with the lists). Either way
 * nothing here draws from the run's randomness or depends on addresses.
 */
#ifndef BLOCKD_TESTS_SIM_SIMBUF_H
#define BLOCKD_TESTS_SIM_SIMBUF_H

#include <stddef.h>

/* A buffer of at least len bytes; sim_fail()s when out of memory. Its
 * contents are undefined. */
void *simbuf_alloc(size_t len);
/* Done with it; NULL is ignored. */
void simbuf_free(void *p);
/* Give every listed buffer back to malloc (the end of a run). */
void simbuf_release(void);

#endif
