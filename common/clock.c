/* clock.c - see clock.h: the kernel's clocks, for the daemon and tools. */
#include "common/clock.h"

#include <time.h>

static uint64_t clock_ts_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t clock_mono_ms(void)
{
	return clock_ts_ms(CLOCK_MONOTONIC);
}

uint64_t clock_coarse_ms(void)
{
	return clock_ts_ms(CLOCK_MONOTONIC_COARSE);
}

uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t clock_wall_ms(void)
{
	return clock_ts_ms(CLOCK_REALTIME);
}

uint64_t clock_wall_s(void)
{
	return clock_wall_ms() / 1000;
}
