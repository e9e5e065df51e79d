/* pl_log — see pl_log.h. */
#include "pl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static char s_role[32] = "parley";
static enum pl_level s_min = PL_INFO;

void pl_log_init(const char *role, enum pl_level level)
{
    snprintf(s_role, sizeof s_role, "%s", role ? role : "parley");
    s_min = level;
    const char *env = getenv("PARLEY_LOG");
    if (env) {
        if (!strcasecmp(env, "debug"))
            s_min = PL_DEBUG;
        else if (!strcasecmp(env, "info"))
            s_min = PL_INFO;
        else if (!strcasecmp(env, "warn"))
            s_min = PL_WARN;
        else if (!strcasecmp(env, "error"))
            s_min = PL_ERROR;
    }
}

void pl_log(enum pl_level level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < s_min || level > PL_ERROR)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* One fprintf per line: stderr is unbuffered, so concurrent lines do not interleave. */
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            names[level], s_role, msg);
}
