/* clock.c - see clock.h: the clock in use, and the kernel's clocks. */
#include "common/clock.h"

#include <time.h>

static uint64_t ts_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t kernel_mono_ns(void)
{
	return ts_ns(CLOCK_MONOTONIC);
}

static uint64_t kernel_coarse_ms(void)
{
	return ts_ns(CLOCK_MONOTONIC_COARSE) / 1000000;
}

static uint64_t kernel_wall_ms(void)
{
	return ts_ns(CLOCK_REALTIME) / 1000000;
}

const struct clock_ops clock_kernel = {
	.mono_ns = kernel_mono_ns,
	.coarse_ms = kernel_coarse_ms,
	.wall_ms = kernel_wall_ms,
};

static const struct clock_ops *clock_now = &clock_kernel;

void clock_use(const struct clock_ops *c)
{
	clock_now = c;
}

uint64_t clock_mono_ms(void)
{
	return clock_now->mono_ns() / 1000000;
}

uint64_t clock_coarse_ms(void)
{
	return clock_now->coarse_ms();
}

uint64_t clock_mono_ns(void)
{
	return clock_now->mono_ns();
}

uint64_t clock_wall_ms(void)
{
	return clock_now->wall_ms();
}

uint64_t clock_wall_s(void)
{
	return clock_wall_ms() / 1000;
}
