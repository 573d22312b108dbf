/* clock.h - the one place the daemon reads a clock.
 *
 * Monotonic time for timeouts, rates, ages and latencies (never goes back,
 * does not jump with the wall clock); the coarse variant where a tick's
 * precision is enough and the call is on the data path (it costs no
 * syscall); wall-clock time only for what a person reads (log lines,
 * "primary since" in the superblock). Pure modules never include this:
 * time comes to them as a parameter.
 */
#ifndef BLOCKD_COMMON_CLOCK_H
#define BLOCKD_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ts_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Monotonic milliseconds. */
static inline uint64_t clock_mono_ms(void)
{
	return clock_ts_ms(CLOCK_MONOTONIC);
}

/* Monotonic milliseconds at tick precision (a few ms), without a syscall. */
static inline uint64_t clock_coarse_ms(void)
{
	return clock_ts_ms(CLOCK_MONOTONIC_COARSE);
}

/* Monotonic nanoseconds, for request latencies. */
static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Wall-clock milliseconds since the epoch (log timestamps). */
static inline uint64_t clock_wall_ms(void)
{
	return clock_ts_ms(CLOCK_REALTIME);
}

/* Wall-clock seconds since the epoch. */
static inline uint64_t clock_wall_s(void)
{
	return clock_wall_ms() / 1000;
}

#endif
