/*
 * tests/server/client.h: the HTTP client side of the server tests — small
 * libcurl helpers (one request, headers and body collected) and a raw
 * socket for what curl hides (the zero chunk, a client that never reads).
 * Included once per test program.
 */
#ifndef FL_TEST_SERVER_CLIENT_H
#define FL_TEST_SERVER_CLIENT_H

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/base.h"

typedef struct resp {
    long code;
    CURLcode rc;
    fl_buf body;
    fl_buf hdrs;
    long connects; /* new connections this request opened (0 = reused) */
} resp;

static inline size_t c_body(char *p, size_t sz, size_t n, void *ud)
{
    return fl_buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

static inline void resp_done(resp *r)
{
    fl_buf_done(&r->body);
    fl_buf_done(&r->hdrs);
}

/* The value of header `name` in r (first occurrence, into out), or NULL. */
static inline const char *resp_header(const resp *r, const char *name, char *out, size_t outsz)
{
    const char *p = r->hdrs.data;
    size_t nl = strlen(name);
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (vl >= outsz)
                vl = outsz - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

/* One request on handle h (reused across calls for keep-alive). hdrs is a
 * NULL-terminated list of "Name: value" lines or NULL. */
static inline void http_on(CURL *h, const char *method, const char *url, const char *body,
                           size_t blen, const char *const *hdrs, resp *out)
{
    struct curl_slist *sl = NULL;
    memset(out, 0, sizeof(*out));
    fl_buf_init(&out->body, 64u << 20);
    fl_buf_init(&out->hdrs, 1u << 20);
    for (size_t i = 0; hdrs && hdrs[i]; i++)
        sl = curl_slist_append(sl, hdrs[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, c_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, c_body);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    out->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->code);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->connects);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(sl);
}

static inline void http(const char *method, const char *url, const char *body, size_t blen,
                        const char *const *hdrs, resp *out)
{
    CURL *h = curl_easy_init();
    http_on(h, method, url, body, blen, hdrs, out);
    curl_easy_cleanup(h);
}

/* A raw TCP connection to 127.0.0.1:port (rcvbuf > 0 shrinks SO_RCVBUF). */
static inline int raw_connect(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int raw_send(int fd, const char *s)
{
    size_t n = strlen(s);
    return write(fd, s, n) == (ssize_t)n ? 0 : -1;
}

/* Read into b until `needle` appears or timeout_ms passes; true if found. */
static inline bool raw_read_until(int fd, fl_buf *b, const char *needle, int timeout_ms)
{
    int64_t end = fl_mono_ms() + timeout_ms;
    while (!(b->data && strstr(b->data, needle))) {
        int64_t left = end - fl_mono_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        char tmp[4096];
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n <= 0)
            return b->data && strstr(b->data, needle);
        if (fl_buf_append(b, tmp, (size_t)n) != 0)
            return false;
    }
    return true;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
