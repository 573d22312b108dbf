/* simclock.c - the simulator's implementations of common/clock.h and
 * common/rand.h: simulated time from the scheduler, randomness from the
 * run's seed. Nothing here reads a real clock or the kernel's entropy, so
 * a seed replays byte for byte.
 */
#include "common/clock.h"
#include "common/rand.h"

#include "sim.h"

/* Wall time starts at a fixed instant (2026-01-01), so log lines and
 * "primary since" are the same in every replay. */
#define SIM_WALL_BASE_MS 1767225600000ULL

uint64_t clock_mono_ms(void)
{
	return sim_now_us() / 1000;
}

uint64_t clock_coarse_ms(void)
{
	return sim_now_us() / 1000;
}

uint64_t clock_mono_ns(void)
{
	return sim_now_us() * 1000;
}

uint64_t clock_wall_ms(void)
{
	return SIM_WALL_BASE_MS + sim_now_us() / 1000;
}

uint64_t clock_wall_s(void)
{
	return clock_wall_ms() / 1000;
}

uint64_t rand_u64(void)
{
	return rng_next(&sim_run->rng_env);
}
