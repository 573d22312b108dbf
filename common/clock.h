/* clock.h - the one place the daemon reads a clock.
 *
 * Monotonic time for timeouts, rates, ages and latencies (never goes back,
 * does not jump with the wall clock); the coarse variant where a tick's
 * precision is enough and the call is on the data path (it costs no
 * syscall); wall-clock time only for what a person reads (log lines,
 * "primary since" in the superblock). Pure modules never include this:
 * time comes to them as a parameter.
 *
 * The header is the interface: the daemon links common/clock.c (the
 * kernel's clocks), the simulator links its own (simulated time), so the
 * same engine code runs under both.
 */
#ifndef BLOCKD_COMMON_CLOCK_H
#define BLOCKD_COMMON_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds. */
uint64_t clock_mono_ms(void);

/* Monotonic milliseconds at tick precision (a few ms), without a syscall. */
uint64_t clock_coarse_ms(void);

/* Monotonic nanoseconds, for request latencies. */
uint64_t clock_mono_ns(void);

/* Wall-clock milliseconds since the epoch (log timestamps). */
uint64_t clock_wall_ms(void);

/* Wall-clock seconds since the epoch. */
uint64_t clock_wall_s(void);

#endif
