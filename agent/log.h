/*
 * log.h: the agent's log. Lines go to stderr in --foreground mode and to
 * syslog otherwise. Never pass a PIN or key material to these functions.
 */
#ifndef CARDAGENT_LOG_H
#define CARDAGENT_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Chooses stderr (to_stderr != 0) or syslog, and the least severe level
 * that is written. */
void log_init(const char *ident, int to_stderr, enum log_level max);

/* Whether lines go to stderr (else syslog). */
int log_uses_stderr(void);

void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
