/*
 * query/sql_lex.c: the lexer of the SQL-like query language, and the small
 * arena its tokens and the parse tree live in. It reads untrusted text with
 * bounds (SQL_MAX_TEXT, SQL_MAX_TOKENS), requires valid UTF-8, and tracks
 * line:column (code points) for error messages. Knows nothing of SQLite.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "query/sql_int.h"

/* ------------------------------------------------------------ arena */
#define ARENA_BLOCK 8192
typedef struct ablock {
    struct ablock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} ablock;
struct sql_arena {
    ablock *head;
    size_t total;
};

sql_arena *sql_arena_new(void)
{
    return calloc(1, sizeof(sql_arena));
}

void sql_arena_free(sql_arena *a)
{
    if (!a)
        return;
    for (ablock *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

void *sql_arena_alloc(sql_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n > (64u << 20) || a->total + n > (256u << 20))
        return NULL;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        ablock *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

char *sql_arena_strndup(sql_arena *a, const char *s, size_t n)
{
    char *d = sql_arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

int sql_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 100;
    int row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int v = prev + cost;
            if (row[j] + 1 < v)
                v = row[j] + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            prev = cur;
        }
    }
    return row[lb] > 100 ? 100 : row[lb];
}

/* ------------------------------------------------------------ lexer */
static bool ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c)
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static void advance(sql_lexer *lx, size_t n)
{
    for (size_t i = 0; i < n && lx->pos < lx->len; i++) {
        unsigned char c = (unsigned char)lx->s[lx->pos++];
        if (c == '\n') {
            lx->line++;
            lx->col = 1;
        } else if ((c & 0xC0) != 0x80) {
            lx->col++;
        }
    }
}

static int lex_error(sql_lexer *lx, int line, int col, fl_err *err, const char *what)
{
    (void)lx;
    return fl_err_set(err, FL_EPARSE, "%s at %d:%d", what, line, col);
}

/* '...' with '' for a quote, or "..." with "" (quoted identifier). */
static int quoted(sql_lexer *lx, sql_tok *t, char q, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(SQL_MAX_TEXT);
    int rc = 0;
    advance(lx, 1);
    for (;;) {
        if (lx->pos >= lx->len) {
            fl_buf_done(&b);
            return lex_error(lx, t->line, t->col, err,
                             q == '\'' ? "unterminated string" : "unterminated quoted name");
        }
        char c = lx->s[lx->pos];
        if (c == q) {
            if (lx->pos + 1 < lx->len && lx->s[lx->pos + 1] == q) {
                rc = fl_buf_append(&b, &c, 1);
                advance(lx, 2);
            } else {
                advance(lx, 1);
                break;
            }
        } else {
            rc = fl_buf_append(&b, &c, 1);
            advance(lx, 1);
        }
        if (rc < 0) {
            fl_buf_done(&b);
            return rc;
        }
    }
    t->str = sql_arena_strndup(lx->arena, b.data ? b.data : "", b.len);
    if (q == '"' && b.len == 0) {
        fl_buf_done(&b);
        return lex_error(lx, t->line, t->col, err, "empty quoted name");
    }
    if (b.data && memchr(b.data, 0, b.len)) {
        fl_buf_done(&b);
        return lex_error(lx, t->line, t->col, err, "NUL byte in a literal");
    }
    fl_buf_done(&b);
    return t->str ? 0 : -ENOMEM;
}

static int number(sql_lexer *lx, sql_tok *t, fl_err *err)
{
    size_t p = lx->pos, start = p;
    if (lx->s[p] == '-')
        p++;
    bool real = false;
    while (p < lx->len && ((lx->s[p] >= '0' && lx->s[p] <= '9') || lx->s[p] == '.')) {
        if (lx->s[p] == '.') {
            if (real)
                break;
            real = true;
        }
        p++;
    }
    size_t n = p - start;
    if (n > 40)
        return lex_error(lx, t->line, t->col, err, "number too long");
    char tmp[48];
    memcpy(tmp, lx->s + start, n);
    tmp[n] = 0;
    char *end = NULL;
    errno = 0;
    if (real) {
        t->real = strtod(tmp, &end);
        t->is_real = true;
    } else {
        t->num = strtoll(tmp, &end, 10);
    }
    if (errno || !end || *end || (p < lx->len && ident_start((unsigned char)lx->s[p])))
        return lex_error(lx, t->line, t->col, err, "malformed number");
    t->type = T_NUMBER;
    advance(lx, n);
    return 0;
}

int sql_lex_next(sql_lexer *lx, sql_tok *t, fl_err *err)
{
    memset(t, 0, sizeof *t);
    for (;;) { /* blanks and -- comments */
        while (lx->pos < lx->len && strchr(" \t\r\n", lx->s[lx->pos]) && lx->s[lx->pos])
            advance(lx, 1);
        if (lx->pos + 1 < lx->len && lx->s[lx->pos] == '-' && lx->s[lx->pos + 1] == '-') {
            while (lx->pos < lx->len && lx->s[lx->pos] != '\n')
                advance(lx, 1);
            continue;
        }
        break;
    }
    t->off = lx->pos;
    t->line = lx->line;
    t->col = lx->col;
    if (lx->pos >= lx->len) {
        t->type = T_EOF;
        return 0;
    }
    if (++lx->ntokens > SQL_MAX_TOKENS)
        return fl_err_set(err, -E2BIG, "query has more than %d tokens at %d:%d", SQL_MAX_TOKENS,
                          t->line, t->col);
    unsigned char c = (unsigned char)lx->s[lx->pos];
    unsigned char n1 = lx->pos + 1 < lx->len ? (unsigned char)lx->s[lx->pos + 1] : 0;
    int rc = 0;
    if (ident_start(c)) {
        size_t p = lx->pos;
        while (p < lx->len && ident_char((unsigned char)lx->s[p]))
            p++;
        t->type = T_IDENT;
        t->str = sql_arena_strndup(lx->arena, lx->s + lx->pos, p - lx->pos);
        if (!t->str)
            return -ENOMEM;
        advance(lx, p - lx->pos);
    } else if (c == '"') {
        t->type = T_QIDENT;
        rc = quoted(lx, t, '"', err);
    } else if (c == '\'') {
        t->type = T_STRING;
        rc = quoted(lx, t, '\'', err);
    } else if ((c >= '0' && c <= '9') || (c == '-' && n1 >= '0' && n1 <= '9')) {
        rc = number(lx, t, err);
    } else if (c == '?' || c == '$') {
        t->type = T_PARAM;
        advance(lx, 1);
        if (c == '$') {
            int64_t v = 0;
            size_t d = 0;
            while (lx->pos < lx->len && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9' && d < 4) {
                v = v * 10 + (lx->s[lx->pos] - '0');
                advance(lx, 1);
                d++;
            }
            if (d == 0 || v < 1 || v > SQL_MAX_PARAMS)
                return lex_error(lx, t->line, t->col, err, "bad parameter ($1..$100)");
            t->num = v;
        }
    } else {
        static const struct {
            const char *s;
            sql_tok_type t;
        } ops[] = {
            {"!=", T_NE},  {"<>", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"==", T_EQ}, {",", T_COMMA},
            {".", T_DOT},  {"(", T_LP},  {")", T_RP},  {"[", T_LB},  {"]", T_RB},  {"*", T_STAR},
            {";", T_SEMI}, {"=", T_EQ},  {"<", T_LT},  {">", T_GT},
        };
        for (size_t i = 0; i < FL_ARRAY_LEN(ops); i++) {
            size_t l = strlen(ops[i].s);
            if (lx->pos + l <= lx->len && memcmp(lx->s + lx->pos, ops[i].s, l) == 0) {
                t->type = ops[i].t;
                advance(lx, l);
                t->len = lx->pos - t->off;
                return 0;
            }
        }
        char what[64];
        if (c >= 0x20 && c < 0x7f)
            snprintf(what, sizeof what, "unexpected character '%c'", c);
        else
            snprintf(what, sizeof what, "unexpected byte 0x%02x", c);
        return lex_error(lx, t->line, t->col, err, what);
    }
    t->len = lx->pos - t->off;
    return rc;
}
