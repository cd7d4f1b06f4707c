/* base/log.c: one-line logging to stderr. The threshold is the one piece of
 * process-wide state; it is set at startup before any thread runs. */
#include "base/base.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static fl_log_level threshold = FL_LOG_INFO;

void fl_log_set_level(fl_log_level lvl)
{
    threshold = lvl;
}
bool fl_log_enabled(fl_log_level lvl)
{
    return lvl >= threshold && lvl < FL_LOG_OFF;
}

int fl_log_level_parse(const char *s, fl_log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (size_t i = 0; i < FL_ARRAY_LEN(names); i++) {
        if (s && strcmp(s, names[i]) == 0) {
            *out = (fl_log_level)i;
            return 0;
        }
    }
    return FL_EPARSE;
}

void fl_log(fl_log_level lvl, const char *mod, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (!fl_log_enabled(lvl))
        return;
    char line[2048];
    int64_t ms = fl_now_ms();
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000),
                     tags[lvl], mod ? mod : "-");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* One line per record, whatever the message held. */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}
