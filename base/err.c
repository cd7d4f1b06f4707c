/* base/err.c: error codes and the fl_err detail carrier. */
#include "base/base.h"

#include <stdio.h>
#include <string.h>

const char *fl_strerror(int code)
{
    switch (code) {
    case FL_OK: return "success";
    case FL_EPARSE: return "malformed input";
    case FL_EHTTP: return "HTTP error status";
    case FL_ETLS: return "TLS error";
    case FL_ECONFLICT: return "conflict";
    case FL_EGONE: return "expired";
    case FL_EUNAUTHORIZED: return "unauthorized";
    case FL_EFORBIDDEN: return "forbidden";
    case FL_ESQL: return "database error";
    case FL_ECLOSED: return "closed";
    case FL_EUNSUPPORTED: return "unsupported";
    case FL_EEXEC: return "child process failed";
    case FL_ENOTFOUND: return "not found";
    case FL_EFULL: return "queue full";
    default: break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code); /* glibc: thread-safe for known codes */
    return "unknown error";
}

__attribute__((format(printf, 3, 0))) static void vset(fl_err *err, int code, const char *fmt,
                                                       va_list ap)
{
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int fl_err_set(fl_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int fl_err_wrap(fl_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}
