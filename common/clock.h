/* clock.h - the one place the daemon reads a clock.
 *
 * Monotonic time for timeouts, rates, ages and latencies (never goes back,
 * does not jump with the wall clock); the coarse variant where a tick's
 * precision is enough and the call is on the data path (it costs no
 * syscall); wall-clock time only for what a person reads (log lines,
 * "primary since" in the superblock). Pure modules never include this:
 * time comes to them as a parameter.
 *
 * Every clock_*() reads one clock, a table of functions: the kernel's
 * (clock_kernel) unless the process sets another at its start (the
 * simulator sets simulated time), so the same engine code runs under
 * both.
 */
#ifndef BLOCKD_COMMON_CLOCK_H
#define BLOCKD_COMMON_CLOCK_H

#include <stdint.h>

struct clock_ops {
	uint64_t (*mono_ns)(void);	/* monotonic nanoseconds */
	uint64_t (*coarse_ms)(void);	/* monotonic ms, tick precision */
	uint64_t (*wall_ms)(void);	/* ms since the epoch */
};

extern const struct clock_ops clock_kernel;
void clock_use(const struct clock_ops *c);

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
