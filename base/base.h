/*
 * base: the few things every Flotilla module needs and nothing else —
 * error codes with one strerror, an error-detail out-parameter, one-line
 * logging, bounded growable buffers and arrays, stopping a background
 * thread, base64, time, strict number parsing,
 * random bytes and UUIDs. Its one third-party library is OpenSSL (for
 * base64, behind this header); it knows nothing of Kubernetes, HTTP or SQL.
 *
 * Threads: everything here may be called from any thread. The only
 * process-wide state is the log threshold, set once at startup
 * (fl_log_set_level) before threads start; the allocation-failure hook
 * (fl_alloc_fail_at) is per thread and for tests.
 */
#ifndef FL_BASE_H
#define FL_BASE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors
 * Fallible functions return 0 or a negative code: a negated errno value
 * for what errno already names, our own codes (below -1000) otherwise. */
#define FL_OK 0
enum {
    FL_EPARSE = -1001,        /* malformed input (JSON, YAML, selector, ...) */
    FL_EHTTP = -1002,         /* a peer answered with an HTTP error status */
    FL_ETLS = -1003,          /* TLS handshake or certificate problem */
    FL_ECONFLICT = -1004,     /* optimistic-concurrency conflict (409) */
    FL_EGONE = -1005,         /* expired resourceVersion / token (410) */
    FL_EUNAUTHORIZED = -1006, /* missing or bad credentials (401) */
    FL_EFORBIDDEN = -1007,    /* authenticated but not allowed (403) */
    FL_ESQL = -1008,          /* SQLite failed */
    FL_ECLOSED = -1009,       /* the object or peer has been closed */
    FL_EUNSUPPORTED = -1010,  /* a valid request we do not support */
    FL_EEXEC = -1011,         /* a child process (credential plugin) failed */
    FL_ENOTFOUND = -1012,     /* a named thing does not exist (404) */
    FL_EFULL = -1013,         /* a bounded queue is full (back-pressure) */
};

/* Human-readable name of a code (errno or FL_E*). Never NULL. */
const char *fl_strerror(int code);

/* Detail for a failure, filled by the callee when the caller passes one. */
typedef struct fl_err {
    int code;      /* same value the function returned */
    char msg[512]; /* one line, no trailing newline */
} fl_err;
#define FL_ERR_INIT                                                                                \
    {                                                                                              \
        0                                                                                          \
    }

/* Record code and message in *err (if err is not NULL) and return code, so
 * callers can write `return fl_err_set(err, FL_EPARSE, "bad %s", x);`. */
int fl_err_set(fl_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix err->msg with "what: " (context on the way up) and return code,
 * which is also the value of err->code afterwards (err may be NULL). */
int fl_err_wrap(fl_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- logging
 * One line per call on stderr: "2026-11-22T04:51:08.123Z INFO  mod: text". */
typedef enum { FL_LOG_DEBUG = 0, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR, FL_LOG_OFF } fl_log_level;

void fl_log_set_level(fl_log_level lvl); /* call once at startup */
bool fl_log_enabled(fl_log_level lvl);
void fl_log(fl_log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parse "debug|info|warn|error|off"; returns FL_EPARSE for anything else. */
int fl_log_level_parse(const char *s, fl_log_level *out);

/* ---------------------------------------------------------------- buffers
 * A growable byte buffer with a hard cap. Invariant: data is NUL-terminated
 * whenever data != NULL (data[len] == 0), len <= max. */
typedef struct fl_buf {
    char *data;
    size_t len;
    size_t cap; /* allocated bytes, including room for the NUL */
    size_t max; /* largest len allowed; appends past it fail with -E2BIG */
} fl_buf;
#define FL_BUF_INIT(maxbytes)                                                                      \
    {                                                                                              \
        NULL, 0, 0, (maxbytes)                                                                     \
    }

void fl_buf_init(fl_buf *b, size_t max);
int fl_buf_append(fl_buf *b, const void *p, size_t n); /* 0, -ENOMEM, -E2BIG */
int fl_buf_puts(fl_buf *b, const char *s);
int fl_buf_printf(fl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as Go's %q prints it, close enough for error messages that must read as
 * Kubernetes': quoted, ASCII escapes, other bytes as they are. 0 or -E2BIG. */
int fl_buf_go_quote(fl_buf *b, const char *s);
int fl_buf_reserve(fl_buf *b, size_t extra);
void fl_buf_reset(fl_buf *b);  /* len = 0, keeps memory */
char *fl_buf_steal(fl_buf *b); /* caller frees; buffer becomes empty */
void fl_buf_done(fl_buf *b);   /* frees memory; accepts a zeroed buf */
/* Append the whole file at path to b (b->data is a string afterwards, even
 * for an empty file). Returns 0; -errno when it cannot be opened or read;
 * -E2BIG when it would pass b->max; -ENOMEM. err names the path. Blocking:
 * not for the event-loop thread. */
int fl_buf_read_file(fl_buf *b, const char *path, fl_err *err);

/* ---------------------------------------------------------------- memory
 * malloc, calloc, realloc and strdup with their usual contracts (free()
 * releases what they return), except that a test can make one call fail:
 * after fl_alloc_fail_at(n), the nth of these calls on the calling thread
 * (1 = the next) returns NULL, as do none of the others; n = 0 turns that
 * off. fl_buf and fl_grow allocate through them. */
void *fl_malloc(size_t n);
void *fl_calloc(size_t n, size_t size);
void *fl_realloc(void *p, size_t n);
char *fl_strdup(const char *s);
char *fl_strndup(const char *s, size_t n); /* s[0..n) and a NUL */
void fl_alloc_fail_at(unsigned long n);
/* Whether the failure fl_alloc_fail_at asked for has happened (this thread). */
bool fl_alloc_failed(void);

/* ---------------------------------------------------------------- arrays
 * Make room for at least need elements of elem bytes in a growable array:
 * p is the address of the caller's array pointer (any T **), *cap its
 * capacity in elements. The capacity doubles (from 8) until it holds need;
 * the new elements are uninitialized. 0, or -ENOMEM (also when the size
 * would overflow) with *p and *cap unchanged. */
int fl_grow(void *p, size_t *cap, size_t need, size_t elem);

/* ---------------------------------------------------------------- threads
 * Stop a thread that sleeps on cv under mu until *stop is true: set *stop
 * under mu, wake every waiter on cv, and join the thread. Not from that
 * thread itself. */
void fl_thread_stop(pthread_t thread, pthread_mutex_t *mu, pthread_cond_t *cv, bool *stop);

/* ---------------------------------------------------------------- base64
 * RFC 4648 base64, in the two spellings Kubernetes uses. */
typedef enum fl_base64 {
    FL_BASE64_STD, /* A-Z a-z 0-9 + /, '='-padded (Go's StdEncoding: Secret data, PEM) */
    FL_BASE64_URL, /* A-Z a-z 0-9 - _, unpadded (Go's RawURLEncoding: continue tokens) */
} fl_base64;

/* Append the encoding of p[0..n) to out; out->data is a string afterwards,
 * also for n == 0. 0, -E2BIG (past out->max), -ENOMEM. */
int fl_base64_encode(fl_base64 enc, const void *p, size_t n, fl_buf *out);
/* Append the bytes that s[0..n) encodes to out. CR and LF are skipped (as Go
 * does); everything else is strict: a character outside enc's alphabet,
 * missing or misplaced '=' (STD), any '=' (URL), a lone last character, or
 * unused low bits that are not zero is FL_EPARSE. On failure out holds what
 * it held before. 0, FL_EPARSE, -E2BIG, -ENOMEM. */
int fl_base64_decode(fl_base64 enc, const char *s, size_t n, fl_buf *out);

/* ---------------------------------------------------------------- time */
int64_t fl_now_ms(void);  /* wall clock, ms since the epoch */
int64_t fl_mono_ms(void); /* monotonic clock, ms */
int64_t fl_mono_us(void); /* the same clock, µs */
/* "2026-11-22T04:51:08Z" (RFC 3339, UTC, seconds), as Kubernetes writes it. */
void fl_time_format(int64_t unix_sec, char out[32]);
/* Accepts RFC 3339 with optional fraction and Z or ±hh:mm. */
int fl_time_parse(const char *s, int64_t *unix_sec);

/* ---------------------------------------------------------------- strings */
/* Strict decimal parse of s[0..n) (no spaces, optional sign): 0, FL_EPARSE,
 * -ERANGE. *out is written only on success. */
int fl_parse_i64(const char *s, size_t n, int64_t *out);
int fl_parse_u64(const char *s, size_t n, uint64_t *out);
/* Copy at most size-1 bytes and NUL-terminate; returns strlen(src). */
size_t fl_strlcpy(char *dst, const char *src, size_t size);
bool fl_str_has_prefix(const char *s, const char *prefix);
bool fl_str_has_suffix(const char *s, const char *suffix);

/* ---------------------------------------------------------------- random */
int fl_random_bytes(void *buf, size_t n); /* getrandom(); 0 or -errno */
void fl_uuid4(char out[37]);              /* random RFC 4122 v4, lower-case */

#define FL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
