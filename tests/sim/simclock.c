/* simclock.c - the simulator's clock, randomness and log sink, set for
 * the process by sim_env_use (common/clock.h, common/rand.h,
 * common/log.h): simulated time from the scheduler, randomness from the
 * run's seed, the engine's log lines into the trace. Nothing here reads
 * a real clock or the kernel's entropy, so a seed replays byte for byte.
 */
#include "common/clock.h"
#include "common/log.h"
#include "common/rand.h"

#include "sim.h"

/* Wall time starts at a fixed instant (2026-01-01), so log lines and
 * "primary since" are the same in every replay. */
#define SIM_WALL_BASE_MS 1767225600000ULL

static uint64_t sim_mono_ns(void)
{
	return sim_now_us() * 1000;
}

static uint64_t sim_coarse_ms(void)
{
	return sim_now_us() / 1000;
}

static uint64_t sim_wall_ms(void)
{
	return SIM_WALL_BASE_MS + sim_now_us() / 1000;
}

static const struct clock_ops sim_clock = {
	.mono_ns = sim_mono_ns,
	.coarse_ms = sim_coarse_ms,
	.wall_ms = sim_wall_ms,
};

static uint64_t sim_rand(void)
{
	return rng_next(&sim_run->rng_env);
}

/* A line stamped with simulated time and the node whose code runs, so a
 * failing seed shows what the engine said and a replay prints the same
 * bytes. */
static void sim_log(enum log_level level, const char *level_name,
		    const char *msg)
{
	(void)level;
	sim_trace("n%d %s: %.199s", sim_run->current, level_name, msg);
}

void sim_env_use(void)
{
	clock_use(&sim_clock);
	rand_use(sim_rand);
	log_use(sim_log);
}
