/*
 * tests/test.h: the whole test harness. Each test program is one file,
 * includes this once, calls the checks and ends with `return t_done();`.
 * A failed check prints file:line and the values, and the run goes on.
 * Also loopback HTTP for the tests of servers (t_dial, t_http_get).
 */
#ifndef FL_TEST_H
#define FL_TEST_H

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"

static int t_checks, t_failures;

#define T_CHECK(c)                                                                                 \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (!(c)) {                                                                                \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
        }                                                                                          \
    } while (0)

#define T_EQ_INT(a, b)                                                                             \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        t_checks++;                                                                                \
        if (t_a_ != t_b_) {                                                                        \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    t_a_, t_b_);                                                                   \
        }                                                                                          \
    } while (0)

#define T_EQ_STR(a, b)                                                                             \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        t_checks++;                                                                                \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {                                           \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a,  \
                    #b, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                           \
        }                                                                                          \
    } while (0)

/* A TCP connection to 127.0.0.1:port from address src (NULL: any; the
 * whole of 127/8 is loopback, so "127.0.0.2" is another client address),
 * with a receive buffer of rcvbuf bytes (0: the system's). fd or -1. */
static inline int t_dial(uint16_t port, const char *src, int rcvbuf)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)}, b = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    b.sin_family = AF_INET;
    if (fd < 0)
        return -1;
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if ((src && (inet_pton(AF_INET, src, &b.sin_addr) != 1 ||
                 bind(fd, (struct sockaddr *)&b, sizeof b) != 0)) ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* GET prefix+path from 127.0.0.1:port (Connection: close, read to EOF);
 * the whole raw response in out (NULL: not kept). The status, or -1. */
static inline int t_http_get(uint16_t port, const char *prefix, const char *path, fl_buf *out)
{
    char req[4096], buf[8192], head[16] = "";
    size_t got = 0;
    int fd = t_dial(port, NULL, 0);
    int n = snprintf(req, sizeof req, "GET %s%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     prefix, path);
    if (fd < 0 || n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (out)
        fl_buf_reset(out);
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r && got < sizeof head - 1; i++)
            head[got++] = buf[i];
        if (out)
            fl_buf_append(out, buf, (size_t)r);
    }
    close(fd);
    int64_t code = -1;
    if (got > 12)
        fl_parse_i64(head + 9, 3, &code); /* "HTTP/1.1 200" */
    return (int)code;
}

static inline int t_done(void)
{
    fprintf(stderr, "%d checks, %d failed\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}

#endif
