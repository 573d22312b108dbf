/* log.c - see log.h. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"

static char log_prefix[128] = "blockd";
static enum log_level log_level_max = LOG_LVL_INFO;
static void (*log_sink)(enum log_level, const char *, const char *);

void log_use(void (*sink)(enum log_level level, const char *level_name,
			  const char *msg))
{
	log_sink = sink;
}

void log_set_prefix(const char *resource, const char *node)
{
	if (node && node[0])
		snprintf(log_prefix, sizeof(log_prefix), "%s/%s", resource, node);
	else
		snprintf(log_prefix, sizeof(log_prefix), "%s", resource);
}

void log_set_level(enum log_level level)
{
	log_level_max = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	uint64_t now_ms = clock_wall_ms();
	va_list ap;
	int n;

	if (level > log_level_max)
		return;
	if (log_sink) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		log_sink(level, names[level], line);
		return;
	}
	n = snprintf(line, sizeof(line), "%llu.%03u %s %s: ",
		     (unsigned long long)(now_ms / 1000), (unsigned)(now_ms % 1000),
		     log_prefix,
		     names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so concurrent processes don't interleave. */
	n = (int)strlen(line);
	if (n < (int)sizeof(line) - 1)
		line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
}
