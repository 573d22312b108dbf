/* rand.c - see rand.h: the source in use; getrandom(2) by default. */
#include "common/rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/log.h"

static uint64_t kernel_u64(void)
{
	uint64_t u;
	struct timespec ts;

	if (getrandom(&u, sizeof(u), 0) == (ssize_t)sizeof(u))
		return u;
	/* No entropy source (a very early boot, a seccomp filter): the
	 * values are ids, not secrets, so time-derived ones still work. */
	log_warn("getrandom: %s; using a time-derived value", strerror(errno));
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) *
	       0x9e3779b97f4a7c15ULL;
}

static uint64_t (*rand_source)(void) = kernel_u64;

void rand_use(uint64_t (*source)(void))
{
	rand_source = source;
}

uint64_t rand_u64(void)
{
	return rand_source();
}
