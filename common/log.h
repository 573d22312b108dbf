/* log.h - leveled logging to stderr with a "resource/node" prefix.
 *
 * Owns: the process-wide log prefix and level. Callable from anywhere;
 * never allocates. Messages go to stderr, one line each, so systemd's
 * journal and test harnesses capture them unchanged.
 */
#ifndef BLOCKD_LOG_H
#define BLOCKD_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_prefix(const char *resource, const char *node);
void log_set_level(enum log_level level);
/* Lines go to sink instead of stderr (the simulator's trace), without
 * the timestamp and prefix; NULL: stderr again. */
void log_use(void (*sink)(enum log_level level, const char *level_name,
			  const char *msg));
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
