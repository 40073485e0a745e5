#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <unistd.h>

static const char *log_ident = "cardagent";
static int log_stderr = 1;
static enum log_level log_max = LOG_LVL_INFO;

void
log_init(const char *ident, int to_stderr, enum log_level max)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_max = max;
	if (!to_stderr)
		openlog(ident, LOG_PID, LOG_USER);
}

int
log_uses_stderr(void)
{
	return log_stderr;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	va_list ap;

	if (lvl > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_stderr)
		fprintf(stderr, "%s[%ld]: %s\n", log_ident, (long)getpid(), line);
	else
		syslog(prio[lvl], "%s", line);
}
