/* base/buf.c: bounded growable byte buffers. */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fl_buf_init(fl_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

int fl_buf_reserve(fl_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return -E2BIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = fl_realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fl_buf_append(fl_buf *b, const void *p, size_t n)
{
    int rc = fl_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int fl_buf_puts(fl_buf *b, const char *s)
{
    return fl_buf_append(b, s, strlen(s));
}

int fl_buf_printf(fl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    int rc = fl_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void fl_buf_reset(fl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

char *fl_buf_steal(fl_buf *b)
{
    char *p = b->data;
    if (!p)
        p = fl_calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void fl_buf_done(fl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int fl_buf_read_file(fl_buf *b, const char *path, fl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    int rc = 0;
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if ((rc = fl_buf_append(b, chunk, (size_t)n)) != 0) {
            if (rc == -E2BIG)
                fl_err_set(err, rc, "%s: file is over the %zu byte limit", path, b->max);
            else
                fl_err_set(err, rc, "%s: out of memory", path);
            break;
        }
    }
    close(fd);
    if (rc == 0)
        rc = fl_buf_append(b, "", 0); /* an empty file still gives a string */
    return rc;
}

int fl_buf_go_quote(fl_buf *b, const char *s)
{
    int rc = fl_buf_puts(b, "\"");
    for (; rc == 0 && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = fl_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            rc = fl_buf_puts(b, "\\n");
        else if (c == '\t')
            rc = fl_buf_puts(b, "\\t");
        else if (c == '\r')
            rc = fl_buf_puts(b, "\\r");
        else if (c < 0x20 || c == 0x7f)
            rc = fl_buf_printf(b, "\\x%02x", c);
        else
            rc = fl_buf_append(b, s, 1);
    }
    return rc ? rc : fl_buf_puts(b, "\"");
}
