/*
 * query/sql_parse.c: the recursive-descent parser of the SQL-like query
 * language (query/SQL.md has the grammar). Produces a sql_query whose nodes
 * live in one arena; every error names line:column and, where it can, what
 * was expected. Caps: SQL_MAX_TEXT bytes, SQL_MAX_TOKENS, SQL_MAX_NODES,
 * SQL_MAX_DEPTH nesting, SQL_MAX_IN values in one IN list. Pure: no I/O,
 * no SQLite.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/sql_int.h"

typedef struct parser {
    sql_lexer lx;
    sql_tok tok;  /* current token */
    sql_tok peek; /* next token when has_peek */
    bool has_peek;
    fl_err *err;
    int rc; /* first error */
    size_t nodes;
    int depth;
    int nparams, next_anon;
    const char *text;
} parser;

static const char *const keywords[] = {
    "select", "from", "where",   "group",    "by",   "having", "order", "limit", "offset", "and",
    "or",     "not",  "in",      "like",     "is",   "null",   "as",    "asc",   "desc",   "join",
    "on",     "with", "deleted", "distinct", "true", "false",  "match", "inner",
};

static bool is_kw(const sql_tok *t, const char *kw)
{
    return t->type == T_IDENT && strcasecmp(t->str, kw) == 0;
}

static bool is_any_kw(const sql_tok *t)
{
    if (t->type != T_IDENT)
        return false;
    for (size_t i = 0; i < FL_ARRAY_LEN(keywords); i++)
        if (strcasecmp(t->str, keywords[i]) == 0)
            return true;
    return false;
}

static int fail(parser *p, const sql_tok *t, const char *msg)
{
    if (p->rc)
        return p->rc;
    p->rc = fl_err_set(p->err, FL_EPARSE, "%s at %d:%d", msg, t->line, t->col);
    return p->rc;
}

static int next(parser *p)
{
    if (p->rc)
        return p->rc;
    if (p->has_peek) {
        p->tok = p->peek;
        p->has_peek = false;
        return 0;
    }
    int rc = sql_lex_next(&p->lx, &p->tok, p->err);
    if (rc < 0)
        p->rc = rc;
    return rc;
}

static const sql_tok *peek(parser *p)
{
    if (!p->has_peek && !p->rc) {
        int rc = sql_lex_next(&p->lx, &p->peek, p->err);
        if (rc < 0) {
            p->rc = rc;
            p->peek.type = T_EOF;
        }
        p->has_peek = true;
    }
    return &p->peek;
}

static int unexpected(parser *p, const char *expected)
{
    char what[120];
    const sql_tok *t = &p->tok;
    if (t->type == T_EOF) {
        snprintf(what, sizeof what, "end of query");
    } else {
        size_t l = t->len > 40 ? 40 : t->len;
        snprintf(what, sizeof what, "'%.*s'", (int)l, p->text + t->off);
    }
    char msg[300];
    snprintf(msg, sizeof msg, "expected %s, found %s", expected, what);
    return fail(p, t, msg);
}

static int expect_kw(parser *p, const char *kw, const char *expected)
{
    if (!is_kw(&p->tok, kw))
        return unexpected(p, expected);
    return next(p);
}

static int expect(parser *p, sql_tok_type t, const char *expected)
{
    if (p->tok.type != t)
        return unexpected(p, expected);
    return next(p);
}

static sql_node *node(parser *p, sql_node_kind k, const sql_tok *at)
{
    if (p->rc)
        return NULL;
    if (++p->nodes > SQL_MAX_NODES) {
        p->rc = fl_err_set(p->err, -E2BIG, "query has more than %d expression nodes at %d:%d",
                           SQL_MAX_NODES, at->line, at->col);
        return NULL;
    }
    sql_node *n = sql_arena_alloc(p->lx.arena, sizeof *n);
    if (!n) {
        p->rc = fl_err_set(p->err, -ENOMEM, "out of memory");
        return NULL;
    }
    n->kind = k;
    n->line = at->line;
    n->col = at->col;
    n->off = at->off;
    n->end = at->off + at->len;
    return n;
}

static int add_kid(parser *p, sql_node *n, sql_node *kid)
{
    if (!kid || p->rc)
        return p->rc ? p->rc : -EINVAL;
    /* capacity is the next power of two: grow (doubling) when full */
    size_t k = n->nkids;
    if (k == 0 || (k >= 4 && (k & (k - 1)) == 0)) {
        size_t cap = k < 4 ? 4 : k * 2;
        sql_node **v = sql_arena_alloc(p->lx.arena, cap * sizeof *v);
        if (!v)
            return p->rc = fl_err_set(p->err, -ENOMEM, "out of memory");
        if (k)
            memcpy(v, n->kids, k * sizeof *v);
        n->kids = v;
    }
    n->kids[n->nkids++] = kid;
    if (kid->end > n->end)
        n->end = kid->end;
    if (kid->off < n->off)
        n->off = kid->off;
    return 0;
}

static sql_node *expr(parser *p);

/* A name segment: identifier (not a reserved word at the start of a path),
 * or a quoted name. */
static bool name_tok(const sql_tok *t, bool first)
{
    if (t->type == T_QIDENT)
        return true;
    return t->type == T_IDENT && (!first || !is_any_kw(t));
}

/* path := name ('.' name | '[' [n] ']')* */
static sql_node *path(parser *p)
{
    sql_node *n = node(p, N_PATH, &p->tok);
    if (!n)
        return NULL;
    sql_seg segs[SQL_MAX_SEGS];
    size_t ns = 0;
    segs[ns++] = (sql_seg){p->tok.str, -1};
    n->end = p->tok.off + p->tok.len;
    if (next(p) < 0)
        return NULL;
    for (;;) {
        if (p->tok.type == T_DOT) {
            if (next(p) < 0)
                return NULL;
            if (!name_tok(&p->tok, false)) {
                unexpected(p, "a name after '.'");
                return NULL;
            }
            if (ns == SQL_MAX_SEGS) {
                fail(p, &p->tok, "path has more than 16 parts");
                return NULL;
            }
            segs[ns++] = (sql_seg){p->tok.str, -1};
        } else if (p->tok.type == T_LB) {
            if (next(p) < 0)
                return NULL;
            int idx = -2;
            if (p->tok.type == T_NUMBER && !p->tok.is_real && p->tok.num >= 0 &&
                p->tok.num < 100000) {
                idx = (int)p->tok.num;
                if (next(p) < 0)
                    return NULL;
            }
            if (p->tok.type != T_RB) {
                unexpected(p, "']' or an index");
                return NULL;
            }
            if (ns == SQL_MAX_SEGS) {
                fail(p, &p->tok, "path has more than 16 parts");
                return NULL;
            }
            segs[ns++] = (sql_seg){NULL, idx};
        } else {
            break;
        }
        n->end = p->tok.off + p->tok.len;
        if (next(p) < 0)
            return NULL;
    }
    n->segs = sql_arena_alloc(p->lx.arena, ns * sizeof *segs);
    if (!n->segs) {
        p->rc = -ENOMEM;
        return NULL;
    }
    memcpy(n->segs, segs, ns * sizeof *segs);
    n->nsegs = ns;
    return n;
}

static const char *const funcs[] = {"count", "sum", "min", "max", "avg"};

static sql_node *func(parser *p)
{
    sql_tok at = p->tok;
    char *name = sql_arena_strndup(p->lx.arena, at.str, strlen(at.str));
    if (!name)
        return NULL;
    for (char *c = name; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    bool known = false;
    for (size_t i = 0; i < FL_ARRAY_LEN(funcs); i++)
        known |= strcmp(name, funcs[i]) == 0;
    if (strcmp(name, "match") == 0) {
        sql_node *n = node(p, N_MATCH, &at);
        if (!n || next(p) < 0 || next(p) < 0)
            return NULL;
        if (p->tok.type != T_STRING && p->tok.type != T_PARAM) {
            unexpected(p, "a string for MATCH");
            return NULL;
        }
        sql_node *s = node(p, p->tok.type == T_STRING ? N_STR : N_PARAM, &p->tok);
        if (!s)
            return NULL;
        s->str = p->tok.str;
        if (p->tok.type == T_PARAM)
            s->num = p->tok.num ? p->tok.num : ++p->next_anon;
        if (s->kind == N_PARAM && s->num > p->nparams)
            p->nparams = (int)s->num;
        if (add_kid(p, n, s) < 0 || next(p) < 0)
            return NULL;
        n->end = p->tok.off + p->tok.len;
        if (expect(p, T_RP, "')'") < 0)
            return NULL;
        return n;
    }
    if (!known) {
        const char *best = NULL;
        int bd = 3;
        for (size_t i = 0; i < FL_ARRAY_LEN(funcs); i++) {
            int d = sql_edit_distance(name, funcs[i]);
            if (d < bd) {
                bd = d;
                best = funcs[i];
            }
        }
        if (!p->rc)
            p->rc = fl_err_set(
                p->err, FL_EPARSE, "unknown function '%.60s' at %d:%d%s%s%s", name, at.line, at.col,
                best ? " (did you mean '" : " (functions: count, sum, min, max, avg, match)",
                best ? best : "", best ? "'?)" : "");
        return NULL;
    }
    sql_node *n = node(p, N_FUNC, &at);
    if (!n || next(p) < 0 || next(p) < 0) /* name, '(' */
        return NULL;
    n->str = name;
    if (is_kw(&p->tok, "distinct")) {
        n->distinct = true;
        if (next(p) < 0)
            return NULL;
    }
    if (p->tok.type == T_STAR) {
        if (strcmp(name, "count") != 0 || n->distinct) {
            fail(p, &p->tok, "'*' only in count(*)");
            return NULL;
        }
        sql_node *s = node(p, N_STAR, &p->tok);
        if (add_kid(p, n, s) < 0 || next(p) < 0)
            return NULL;
    } else {
        if (add_kid(p, n, expr(p)) < 0)
            return NULL;
    }
    n->end = p->tok.off + p->tok.len;
    if (expect(p, T_RP, "')'") < 0)
        return NULL;
    return n;
}

static sql_node *primary(parser *p)
{
    sql_tok *t = &p->tok;
    sql_node *n = NULL;
    switch (t->type) {
    case T_STRING:
        if ((n = node(p, N_STR, t)))
            n->str = t->str;
        break;
    case T_NUMBER:
        if ((n = node(p, N_NUM, t))) {
            n->num = t->num;
            n->real = t->real;
            n->is_real = t->is_real;
        }
        break;
    case T_PARAM:
        if ((n = node(p, N_PARAM, t))) {
            n->num = t->num ? t->num : ++p->next_anon;
            if (n->num > SQL_MAX_PARAMS) {
                fail(p, t, "more than 100 parameters");
                return NULL;
            }
            if (n->num > p->nparams)
                p->nparams = (int)n->num;
        }
        break;
    case T_LP: {
        if (++p->depth > SQL_MAX_DEPTH) {
            fail(p, t, "expression nested deeper than 64 levels");
            return NULL;
        }
        if (next(p) < 0)
            return NULL;
        n = expr(p);
        if (!n || expect(p, T_RP, "')'") < 0)
            return NULL;
        p->depth--;
        return n;
    }
    case T_IDENT:
        if (is_kw(t, "null") || is_kw(t, "true") || is_kw(t, "false")) {
            if ((n = node(p, is_kw(t, "null") ? N_NULL : N_BOOL, t)))
                n->num = is_kw(t, "true");
            break;
        }
        if (peek(p)->type == T_LP)
            return func(p);
        if (is_any_kw(t))
            return unexpected(p, "a column, literal or '('"), NULL;
        return path(p);
    case T_QIDENT: return path(p);
    default: unexpected(p, "a column, literal or '('"); return NULL;
    }
    if (!n || next(p) < 0)
        return NULL;
    return n;
}

static bool cmp_tok(sql_tok_type t)
{
    return t == T_EQ || t == T_NE || t == T_LT || t == T_LE || t == T_GT || t == T_GE;
}

static sql_node *comparison(parser *p)
{
    sql_node *l = primary(p);
    if (!l)
        return NULL;
    sql_tok at = p->tok;
    if (cmp_tok(at.type)) {
        sql_node *n = node(p, N_CMP, &at);
        if (!n || next(p) < 0)
            return NULL;
        n->op = at.type;
        if (add_kid(p, n, l) < 0 || add_kid(p, n, primary(p)) < 0)
            return NULL;
        return n;
    }
    bool neg = false;
    if (is_kw(&at, "not") && (is_kw(peek(p), "in") || is_kw(peek(p), "like"))) {
        neg = true;
        if (next(p) < 0)
            return NULL;
        at = p->tok;
    }
    if (is_kw(&at, "in")) {
        sql_node *n = node(p, N_IN, &at);
        if (!n || next(p) < 0 || expect(p, T_LP, "'(' after IN") < 0 || add_kid(p, n, l) < 0)
            return NULL;
        n->neg = neg;
        for (;;) {
            if (n->nkids > SQL_MAX_IN) {
                fail(p, &p->tok, "more than 1000 values in IN");
                return NULL;
            }
            sql_node *v = primary(p);
            if (!v || add_kid(p, n, v) < 0)
                return NULL;
            if (p->tok.type == T_COMMA) {
                if (next(p) < 0)
                    return NULL;
                continue;
            }
            n->end = p->tok.off + p->tok.len;
            if (expect(p, T_RP, "',' or ')'") < 0)
                return NULL;
            break;
        }
        return n;
    }
    if (is_kw(&at, "like")) {
        sql_node *n = node(p, N_LIKE, &at);
        if (!n || next(p) < 0)
            return NULL;
        n->neg = neg;
        if (add_kid(p, n, l) < 0 || add_kid(p, n, primary(p)) < 0)
            return NULL;
        return n;
    }
    if (is_kw(&at, "is")) {
        sql_node *n = node(p, N_ISNULL, &at);
        if (!n || next(p) < 0)
            return NULL;
        if (is_kw(&p->tok, "not")) {
            n->neg = true;
            if (next(p) < 0)
                return NULL;
        }
        n->end = p->tok.off + p->tok.len;
        if (expect_kw(p, "null", "NULL") < 0 || add_kid(p, n, l) < 0)
            return NULL;
        return n;
    }
    return l;
}

static sql_node *negation(parser *p)
{
    if (is_kw(&p->tok, "not")) {
        if (++p->depth > SQL_MAX_DEPTH) {
            fail(p, &p->tok, "expression nested deeper than 64 levels");
            return NULL;
        }
        sql_node *n = node(p, N_NOT, &p->tok);
        if (!n || next(p) < 0 || add_kid(p, n, negation(p)) < 0)
            return NULL;
        p->depth--;
        return n;
    }
    return comparison(p);
}

static sql_node *binary(parser *p, const char *kw, sql_node_kind k, sql_node *(*sub)(parser *))
{
    sql_node *l = sub(p);
    if (!l || !is_kw(&p->tok, kw))
        return l;
    sql_node *n = node(p, k, &p->tok);
    if (!n || add_kid(p, n, l) < 0)
        return NULL;
    while (is_kw(&p->tok, kw)) {
        if (next(p) < 0 || add_kid(p, n, sub(p)) < 0)
            return NULL;
    }
    return n;
}

static sql_node *conjunction(parser *p)
{
    return binary(p, "and", N_AND, negation);
}

static sql_node *expr(parser *p)
{
    return binary(p, "or", N_OR, conjunction);
}

static char *label_of(parser *p, const sql_node *e)
{
    size_t n = e->end > e->off ? e->end - e->off : 0;
    if (n > 200) { /* cut at a code point boundary */
        n = 200;
        while (n > 0 && ((unsigned char)p->text[e->off + n] & 0xC0) == 0x80)
            n--;
    }
    return sql_arena_strndup(p->lx.arena, p->text + e->off, n);
}

static int select_list(parser *p, sql_query *q)
{
    if (p->tok.type == T_STAR) {
        q->star = true;
        return next(p);
    }
    for (;;) {
        if (q->nitems == SQL_MAX_ITEMS)
            return fail(p, &p->tok, "more than 64 columns");
        sql_item *it = &q->items[q->nitems++];
        if (!(it->e = expr(p)))
            return p->rc;
        it->label = label_of(p, it->e);
        if (is_kw(&p->tok, "as")) {
            if (next(p) < 0)
                return p->rc;
            if (!name_tok(&p->tok, true))
                return unexpected(p, "a column name after AS");
            it->alias = it->label = p->tok.str;
            if (next(p) < 0)
                return p->rc;
        }
        if (p->tok.type != T_COMMA)
            return 0;
        if (next(p) < 0)
            return p->rc;
    }
}

/* name ('.' name)* [AS] [alias] */
static int table_ref(parser *p, sql_table *t)
{
    if (!name_tok(&p->tok, true))
        return unexpected(p, "a resource name (pods, deployments.apps, objects, ...)");
    t->line = p->tok.line;
    t->col = p->tok.col;
    fl_buf b = FL_BUF_INIT(512);
    int rc = fl_buf_puts(&b, p->tok.str);
    if (rc == 0)
        rc = next(p);
    while (rc == 0 && p->tok.type == T_DOT) {
        if ((rc = next(p)) < 0)
            break;
        if (!name_tok(&p->tok, false)) {
            rc = unexpected(p, "a name after '.'");
            break;
        }
        if ((rc = fl_buf_puts(&b, ".")) == 0 && (rc = fl_buf_puts(&b, p->tok.str)) == 0)
            rc = next(p);
    }
    if (rc == 0 && !(t->name = sql_arena_strndup(p->lx.arena, b.data, b.len)))
        rc = -ENOMEM;
    fl_buf_done(&b);
    if (rc < 0)
        return p->rc ? p->rc : (p->rc = fl_err_set(p->err, rc, "resource name too long"));
    if (is_kw(&p->tok, "as")) {
        if (next(p) < 0)
            return p->rc;
        if (!name_tok(&p->tok, true))
            return unexpected(p, "an alias after AS");
    }
    if (name_tok(&p->tok, true)) {
        t->alias = p->tok.str;
        return next(p);
    }
    return 0;
}

static int expr_list(parser *p, sql_node **v, size_t *n)
{
    for (;;) {
        if (*n == SQL_MAX_ITEMS)
            return fail(p, &p->tok, "more than 64 terms");
        if (!(v[(*n)++] = expr(p)))
            return p->rc;
        if (p->tok.type != T_COMMA)
            return 0;
        if (next(p) < 0)
            return p->rc;
    }
}

static int count_arg(parser *p, int64_t *out, const char *what)
{
    if (p->tok.type == T_NUMBER && !p->tok.is_real && p->tok.num >= 0) {
        *out = p->tok.num;
        return next(p);
    }
    return unexpected(p, what);
}

static int query(parser *p, sql_query *q)
{
    if (expect_kw(p, "select", "SELECT") < 0)
        return p->rc;
    if (is_kw(&p->tok, "distinct")) {
        q->distinct = true;
        if (next(p) < 0)
            return p->rc;
    }
    if (select_list(p, q) < 0 || expect_kw(p, "from", "FROM or ','") < 0)
        return p->rc;
    if (table_ref(p, &q->tables[q->ntables++]) < 0)
        return p->rc;
    for (;;) {
        if (is_kw(&p->tok, "with")) {
            if (next(p) < 0 || expect_kw(p, "deleted", "DELETED after WITH") < 0)
                return p->rc;
            q->with_deleted = true;
            continue;
        }
        if (is_kw(&p->tok, "inner") && next(p) < 0)
            return p->rc;
        if (!is_kw(&p->tok, "join"))
            break;
        if (q->ntables == SQL_MAX_TABLES)
            return fail(p, &p->tok, "more than 4 tables");
        sql_table *t = &q->tables[q->ntables++];
        if (next(p) < 0 || table_ref(p, t) < 0 || expect_kw(p, "on", "ON") < 0)
            return p->rc;
        if (!(t->on = expr(p)))
            return p->rc;
    }
    if (is_kw(&p->tok, "where")) {
        if (next(p) < 0 || !(q->where = expr(p)))
            return p->rc;
    }
    if (is_kw(&p->tok, "group")) {
        if (next(p) < 0 || expect_kw(p, "by", "BY") < 0 || expr_list(p, q->group, &q->ngroup) < 0)
            return p->rc;
    }
    if (is_kw(&p->tok, "having")) {
        if (next(p) < 0 || !(q->having = expr(p)))
            return p->rc;
    }
    if (is_kw(&p->tok, "order")) {
        if (next(p) < 0 || expect_kw(p, "by", "BY") < 0)
            return p->rc;
        for (;;) {
            if (q->norder == SQL_MAX_ITEMS)
                return fail(p, &p->tok, "more than 64 terms");
            sql_order *o = &q->order[q->norder++];
            if (!(o->e = expr(p)))
                return p->rc;
            if (is_kw(&p->tok, "desc") || is_kw(&p->tok, "asc")) {
                o->desc = is_kw(&p->tok, "desc");
                if (next(p) < 0)
                    return p->rc;
            }
            if (p->tok.type != T_COMMA)
                break;
            if (next(p) < 0)
                return p->rc;
        }
    }
    if (is_kw(&p->tok, "limit")) {
        if (next(p) < 0 || count_arg(p, &q->limit, "a number after LIMIT") < 0)
            return p->rc;
        if (p->tok.type == T_COMMA) { /* LIMIT offset, count */
            q->offset = q->limit;
            if (next(p) < 0 || count_arg(p, &q->limit, "a number") < 0)
                return p->rc;
        }
    }
    if (is_kw(&p->tok, "offset")) {
        if (next(p) < 0 || count_arg(p, &q->offset, "a number after OFFSET") < 0)
            return p->rc;
    }
    if (p->tok.type == T_SEMI && next(p) < 0)
        return p->rc;
    if (p->tok.type != T_EOF)
        return unexpected(p, q->where ? "end of query" : "WHERE, GROUP BY, ORDER BY, LIMIT or end");
    return 0;
}

static int check_utf8(const char *s, size_t n, fl_err *err)
{
    int line = 1, col = 1;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = k > 0 && i + k <= n && c != 0 && !(k == 2 && c < 0xC2);
        for (size_t j = 1; ok && j < k; j++)
            ok = ((unsigned char)s[i + j] & 0xC0) == 0x80;
        if (!ok)
            return fl_err_set(err, FL_EPARSE, "%s at %d:%d",
                              c == 0 ? "NUL byte in query" : "invalid UTF-8", line, col);
        if (c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        i += k;
    }
    return 0;
}

int sql_parse(const char *text, size_t len, sql_query **out, fl_err *err)
{
    if (len > SQL_MAX_TEXT)
        return fl_err_set(err, -E2BIG, "query is %zu bytes; the limit is %u", len, SQL_MAX_TEXT);
    int rc = check_utf8(text, len, err);
    if (rc < 0)
        return rc;
    sql_query *q = calloc(1, sizeof *q);
    if (!q || !(q->arena = sql_arena_new())) {
        free(q);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    q->limit = q->offset = -1;
    parser p = {.lx = {text, len, 0, 1, 1, q->arena, 0}, .err = err, .text = text};
    if (next(&p) == 0)
        query(&p, q);
    if (p.rc) {
        sql_query_free(q);
        return p.rc;
    }
    q->nparams = p.nparams;
    *out = q;
    return 0;
}

void sql_query_free(sql_query *q)
{
    if (!q)
        return;
    sql_arena_free(q->arena);
    free(q);
}
