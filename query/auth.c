/*
 * query/auth.c: who is asking and what they may see. Loads auth.tokensFile
 * (token,user,"group1,group2" per line; # comments), authenticates a
 * request (bearer token, verified client certificate, anonymous loopback),
 * answers 401 as kube-apiserver does, and evaluates auth.scopes. Also loads
 * or creates the continue-token key. Touches no index or HTTP state
 * beyond the request it is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "query/query_int.h"

#define TOKENS_MAX_BYTES (1u << 20)
#define TOKEN_GROUPS_MAX 64

/* Split "g1,g2" (quotes already removed) into t->groups. */
static int split_groups(query_token *t, const char *s)
{
    while (*s) {
        const char *c = strchr(s, ',');
        size_t n = c ? (size_t)(c - s) : strlen(s);
        if (n) {
            if (t->ngroups >= TOKEN_GROUPS_MAX)
                return -E2BIG;
            char **g = realloc(t->groups, (t->ngroups + 1) * sizeof *g);
            if (!g)
                return -ENOMEM;
            t->groups = g;
            if (!(g[t->ngroups] = fl_strndup(s, n)))
                return -ENOMEM;
            t->ngroups++;
        }
        s += n + (c ? 1 : 0);
    }
    return 0;
}

static void token_done(query_token *t)
{
    free(t->token);
    free(t->user);
    for (size_t i = 0; i < t->ngroups; i++)
        free(t->groups[i]);
    free(t->groups);
}

/* One non-empty line: token,user[,"groups"] (the quotes are optional). */
static int parse_line(char *line, query_token *t)
{
    char *c1 = strchr(line, ',');
    if (!c1 || c1 == line)
        return FL_EPARSE;
    char *user = c1 + 1, *c2 = strchr(user, ',');
    char *groups = c2 ? c2 + 1 : NULL;
    size_t ulen = c2 ? (size_t)(c2 - user) : strlen(user);
    if (!ulen)
        return FL_EPARSE;
    if (!(t->token = fl_strndup(line, (size_t)(c1 - line))) || !(t->user = fl_strndup(user, ulen)))
        return -ENOMEM;
    if (!groups)
        return 0;
    size_t gl = strlen(groups);
    if (gl >= 2 && groups[0] == '"' && groups[gl - 1] == '"') {
        groups[gl - 1] = 0;
        groups++;
    }
    return split_groups(t, groups);
}

int query_tokens_load(fl_query *q, const char *path, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(TOKENS_MAX_BYTES);
    int rc = fl_buf_read_file(&b, path, err);
    if (rc) {
        fl_buf_done(&b);
        return rc;
    }
    size_t lineno = 0;
    for (char *line = b.data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        if ((nl = strchr(line, '\n')))
            *nl = 0;
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        if (!len || line[0] == '#')
            continue;
        query_token *nt = realloc(q->tokens, (q->ntokens + 1) * sizeof *nt);
        if (!nt) {
            rc = fl_err_set(err, -ENOMEM, "%s: out of memory", path);
            break;
        }
        q->tokens = nt;
        memset(&nt[q->ntokens], 0, sizeof *nt);
        rc = parse_line(line, &nt[q->ntokens]);
        if (rc) {
            token_done(&nt[q->ntokens]);
            fl_err_set(err, rc, "%s:%zu: want token,user[,\"group1,group2\"]", path, lineno);
            break;
        }
        q->ntokens++;
    }
    fl_buf_done(&b);
    return rc;
}

void query_tokens_free(fl_query *q)
{
    for (size_t i = 0; i < q->ntokens; i++)
        token_done(&q->tokens[i]);
    free(q->tokens);
    q->tokens = NULL;
    q->ntokens = 0;
}

/* Constant-time over every entry: the index of the match or -1. */
static long token_find(const fl_query *q, const char *tok)
{
    size_t n = strlen(tok);
    long found = -1;
    for (size_t i = 0; i < q->ntokens; i++) {
        const char *t = q->tokens[i].token;
        size_t m = strlen(t);
        unsigned diff = (unsigned)(m ^ n);
        for (size_t k = 0; k < m; k++)
            diff |= (unsigned char)(t[k] ^ (k < n ? tok[k] : 0));
        if (diff == 0)
            found = (long)i;
    }
    return found;
}

int query_authenticate(const fl_query *q, fl_request *r, query_user *u)
{
    memset(u, 0, sizeof *u);
    const char *h = fl_request_header(r, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        long i = token_find(q, h + 7);
        if (i >= 0) {
            u->name = q->tokens[i].user;
            u->groups = (const char *const *)q->tokens[i].groups;
            u->ngroups = q->tokens[i].ngroups;
            goto ok;
        }
        goto deny; /* a wrong token is never downgraded to anonymous */
    }
    if (fl_request_cert_rejected(r))
        goto deny; /* a bad certificate is never downgraded to anonymous */
    if (fl_request_cert_user(r)) {
        u->name = fl_request_cert_user(r);
        u->ngroups = fl_request_cert_groups(r, &u->groups);
        goto ok;
    }
    if (!h && q->anonymous_loopback && fl_request_peer_is_loopback(r)) {
        u->name = "system:anonymous";
        u->anon_groups[0] = "system:unauthenticated";
        u->groups = u->anon_groups;
        u->ngroups = 1;
        goto ok;
    }
deny:
    fl_request_reply_status(r, 401, "Unauthorized", "Unauthorized");
    return FL_EUNAUTHORIZED;
ok:
    fl_request_set_user(r, u->name);
    return 0;
}

static bool in_list(char *const *list, size_t n, const char *v)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], "*") || !strcmp(list[i], v))
            return true;
    return false;
}

static bool user_in(const query_user *u, const char *group)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (!strcmp(u->groups[i], group))
            return true;
    return false;
}

/* "pods" is the core group's pods only; another group's are "pods.<group>"
 * (as in RBAC and kubectl), "*" is every type. */
static bool resource_in(const query_scope *s, const char *group, const char *resource)
{
    char full[512];
    if (!group[0])
        return in_list(s->resources, s->nresources, resource);
    snprintf(full, sizeof full, "%s.%s", resource, group);
    return in_list(s->resources, s->nresources, full);
}

bool query_user_is_admin(const fl_query *q, const query_user *u)
{
    if (user_in(u, "system:masters"))
        return true;
    for (size_t i = 0; i < q->nadmin_groups; i++)
        if (user_in(u, q->admin_groups[i]))
            return true;
    return false;
}

bool query_scope_allows(const fl_query *q, const query_user *u, const char *cluster, const char *ns,
                        const char *group, const char *resource)
{
    if (!q->nscopes || query_user_is_admin(q, u))
        return true;
    for (size_t i = 0; i < q->nscopes; i++) {
        const query_scope *s = &q->scopes[i];
        if (!user_in(u, s->group))
            continue;
        if (cluster && !in_list(s->clusters, s->nclusters, cluster))
            continue;
        if (ns && !in_list(s->namespaces, s->nnamespaces, ns[0] ? ns : "*"))
            continue;
        if (resource && !resource_in(s, group ? group : "", resource))
            continue;
        return true;
    }
    return false;
}

bool query_scope_any(const fl_query *q, const query_user *u)
{
    return query_scope_allows(q, u, NULL, NULL, NULL, NULL);
}

int query_key_load(fl_query *q, const char *path, fl_err *err)
{
    if (!path)
        return fl_random_bytes(q->key, sizeof q->key);
    fl_buf b = FL_BUF_INIT(4096);
    int rc = fl_buf_read_file(&b, path, NULL);
    bool ok = rc == 0 && b.len == QUERY_KEY_LEN;
    if (ok)
        memcpy(q->key, b.data, QUERY_KEY_LEN);
    fl_buf_done(&b);
    if (ok)
        return 0;
    if ((rc = fl_random_bytes(q->key, sizeof q->key)) != 0)
        return fl_err_set(err, rc, "random key: %s", fl_strerror(rc));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    ssize_t w = write(fd, q->key, sizeof q->key);
    rc = w == (ssize_t)sizeof q->key ? 0 : fl_err_set(err, -EIO, "%s: short write", path);
    close(fd);
    return rc;
}

/* Add v to a term list unless there; false when full. */
static bool term_add(const char **v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(v[i], s))
            return true;
    if (*n >= QUERY_SCOPE_TERMS)
        return false;
    v[(*n)++] = s;
    return true;
}

void query_scope_terms_for(const fl_query *q, const query_user *u, const char *group,
                           const char *resource, bool namespaced, query_scope_terms *out)
{
    memset(out, 0, sizeof *out);
    if (!q->nscopes || query_user_is_admin(q, u)) {
        out->all_clusters = out->all_namespaces = true;
        out->any = true;
        return;
    }
    for (size_t i = 0; i < q->nscopes; i++) {
        const query_scope *s = &q->scopes[i];
        bool all_ns = in_list(s->namespaces, s->nnamespaces, "*");
        if (!user_in(u, s->group) || !resource_in(s, group, resource) || (!namespaced && !all_ns))
            continue;
        out->any = true;
        if (in_list(s->clusters, s->nclusters, "*"))
            out->all_clusters = true;
        for (size_t k = 0; !out->all_clusters && k < s->nclusters; k++)
            if (!term_add(out->clusters, &out->nclusters, s->clusters[k]))
                out->all_clusters = true; /* too many: the per-row check narrows */
        if (all_ns || !namespaced)
            out->all_namespaces = true;
        for (size_t k = 0; !out->all_namespaces && k < s->nnamespaces; k++)
            if (!term_add(out->namespaces, &out->nnamespaces, s->namespaces[k]))
                out->all_namespaces = true;
    }
}

bool query_scope_cluster_visible(const fl_query *q, const query_user *u, const char *cluster)
{
    return query_scope_allows(q, u, cluster, NULL, NULL, NULL);
}

/* Narrow an index term list (n == 0: no constraint) to the scope's
 * terms; buf holds the intersection. False when nothing is left. */
static bool narrow(const char *const **set, size_t *n, const char *const *scope, size_t ns,
                   const char **buf)
{
    if (!*set || *n == 0) {
        *set = scope;
        *n = ns;
        return ns > 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        for (size_t j = 0; j < ns; j++)
            if (!strcmp((*set)[i], scope[j])) {
                buf[k++] = (*set)[i];
                break;
            }
    *set = buf;
    *n = k;
    return k > 0;
}

bool query_scope_query(const fl_query *q, const query_user *u, const fl_kube_resource *res,
                       query_scope_buf *sb, fl_index_query *iq)
{
    query_scope_terms *t = &sb->terms;
    query_scope_terms_for(q, u, res->group, res->resource, res->namespaced, t);
    if (!t->any)
        return false;
    if (!t->all_clusters &&
        !narrow(&iq->clusters, &iq->n_clusters, t->clusters, t->nclusters, sb->clusters))
        return false;
    if (!t->all_namespaces &&
        !narrow(&iq->namespaces, &iq->n_namespaces, t->namespaces, t->nnamespaces, sb->namespaces))
        return false;
    return true;
}

/* A namespace outside u's scope for the type: 403 as RBAC would answer
 * (the type is in scope elsewhere, else the path was a 404 already). */
bool query_scope_forbid_ns(const fl_query *q, fl_request *r, const query_user *u,
                           const query_target *t, const char *verb)
{
    query_scope_terms st;
    if (!t->ns)
        return false;
    query_scope_terms_for(q, u, t->res->group, t->res->resource, t->res->namespaced, &st);
    if (st.all_namespaces)
        return false;
    for (size_t i = 0; i < st.nnamespaces; i++)
        if (!strcmp(st.namespaces[i], t->ns))
            return false;
    fl_request_reply_status(r, 403, "Forbidden",
                            "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API "
                            "group \"%s\" in the namespace \"%s\"",
                            t->res->resource, u->name, verb, t->res->resource, t->res->group,
                            t->ns);
    return true;
}
