/*
 * query/names.c: Kubernetes' name checks for the parts of a path that reach
 * the index or a member (cluster, namespace, pod names).
 */
#include <string.h>

#include "query/query_int.h"

/* One DNS-1123 label in s[0..n): [a-z0-9]([-a-z0-9]*[a-z0-9])?, 1..63. */
static bool dns_label_n(const char *s, size_t n)
{
    if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

bool query_dns_label(const char *s)
{
    return dns_label_n(s, strlen(s));
}

/* Exactly Kubernetes' IsDNS1123Subdomain: labels joined by '.', at most 253
 * in all; so never "", ".", "..", a leading/trailing/double dot. */
bool query_dns_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 253)
        return false;
    for (const char *p = s;;) {
        const char *dot = memchr(p, '.', n - (size_t)(p - s));
        size_t len = dot ? (size_t)(dot - p) : n - (size_t)(p - s);
        if (!dns_label_n(p, len))
            return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}
