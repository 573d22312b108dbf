/* simlog.c - the simulator's implementation of common/log.h: the
 * engine's log lines become trace lines, stamped with simulated time and
 * the node whose code runs, so a failing seed shows what the engine
 * said and a replay prints the same bytes. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "sim.h"

static enum log_level sim_log_level = LOG_LVL_INFO;

void log_set_prefix(const char *resource, const char *node)
{
	(void)resource;
	(void)node;
}

void log_set_level(enum log_level level)
{
	sim_log_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[200];
	va_list ap;

	if (level > sim_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sim_trace("n%d %s: %s", sim_run->current, names[level], line);
}
