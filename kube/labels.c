/*
 * kube/labels.c: label selectors (see labels.h). The lexer and the
 * recursive-descent parser follow k8s.io/apimachinery/pkg/labels/selector.go
 * token for token (including its odd corners: a NUL byte reads as end of
 * input inside the lexer, "in"/"notin" are identifiers where values are
 * expected, "x in ()" is the set {""}), and validation follows
 * pkg/util/validation (IsQualifiedName, IsValidLabelValue) with upstream's
 * messages. A selector owns copies of all its strings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/labels.h"

typedef struct req {
    char *key;
    fl_label_op op;
    char **values; /* sorted, unique */
    size_t nvalues;
} req;

/* Invariant: nothing => n == 0; reqs sorted by key (stable). */
struct fl_label_selector {
    bool nothing;
    size_t n;
    req *reqs;
};

static const char *const op_names[] = {"in", "notin", "=", "==", "!=", "exists", "!", "gt", "lt"};

const char *fl_label_op_name(fl_label_op op)
{
    return (unsigned)op < FL_ARRAY_LEN(op_names) ? op_names[op] : "?";
}

/* ---------------------------------------------------------------- validation */

#define QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_MSG                                                                                  \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "            \
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "          \
    "used for validation is '" QNAME_FMT "')"
#define DNS_MSG                                                                                    \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "          \
    "'-' or '.', and must start and end with an alphanumeric character (e.g. "                     \
    "'example.com', regex used for validation is "                                                 \
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define VALUE_MSG                                                                                  \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', "           \
    "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "         \
    "or 'my_value',  or '12345', regex used for validation is '(" QNAME_FMT ")?')"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$ */
static bool qname_ok(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

static bool dns_char(char c, bool edge)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (!edge && c == '-');
}

/* ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ */
static bool dns_subdomain_ok(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (i == start || !dns_char(s[start], true) || !dns_char(s[i - 1], true))
            return false;
        for (size_t j = start; j < i; j++)
            if (!dns_char(s[j], false))
                return false;
        start = i + 1;
    }
    return true;
}

bool fl_kube_dns_label(const char *s)
{
    size_t n = strlen(s);
    return n <= 63 && memchr(s, '.', n) == NULL && dns_subdomain_ok(s, n);
}

bool fl_kube_dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    return n <= 253 && dns_subdomain_ok(s, n);
}

/* Append "; " between messages. */
static void add_msg(char *out, size_t size, const char *msg)
{
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s%s", len ? "; " : "", msg);
}

/* validation.IsQualifiedName; out gets the messages joined by "; ". */
static bool check_key(const char *k, size_t n, char *out, size_t size)
{
    out[0] = 0;
    const char *slash = memchr(k, '/', n);
    const char *name = k;
    size_t nlen = n;
    if (slash) {
        if (memchr(slash + 1, '/', n - (size_t)(slash + 1 - k))) {
            add_msg(out, size,
                    "a qualified name " QNAME_MSG
                    " with an optional DNS subdomain prefix and '/' (e.g. "
                    "'example.com/MyName')");
            return false;
        }
        size_t plen = (size_t)(slash - k);
        name = slash + 1, nlen = n - plen - 1;
        if (plen == 0)
            add_msg(out, size, "prefix part must be non-empty");
        else {
            if (plen > 253)
                add_msg(out, size, "prefix part must be no more than 253 characters");
            if (!dns_subdomain_ok(k, plen))
                add_msg(out, size, "prefix part " DNS_MSG);
        }
    }
    if (nlen == 0)
        add_msg(out, size, "name part must be non-empty");
    else if (nlen > 63)
        add_msg(out, size, "name part must be no more than 63 characters");
    if (!qname_ok(name, nlen))
        add_msg(out, size, "name part " QNAME_MSG);
    return out[0] == 0;
}

static bool check_value(const char *v, size_t n, char *out, size_t size)
{
    out[0] = 0;
    if (n > 63)
        add_msg(out, size, "must be no more than 63 characters");
    if (n && !qname_ok(v, n))
        add_msg(out, size, VALUE_MSG);
    return out[0] == 0;
}

int fl_label_validate_key(const char *key, fl_err *err)
{
    char msg[1024];
    if (check_key(key, strlen(key), msg, sizeof msg))
        return 0;
    fl_buf b = FL_BUF_INIT(4096);
    fl_buf_puts(&b, "Invalid value: ");
    fl_buf_go_quote(&b, key);
    fl_err_set(err, FL_EPARSE, "%s: %s", b.data ? b.data : "", msg);
    fl_buf_done(&b);
    return FL_EPARSE;
}

int fl_label_validate_value(const char *value, fl_err *err)
{
    char msg[1024];
    if (check_value(value, strlen(value), msg, sizeof msg))
        return 0;
    fl_buf b = FL_BUF_INIT(4096);
    fl_buf_puts(&b, "Invalid value: ");
    fl_buf_go_quote(&b, value);
    fl_err_set(err, FL_EPARSE, "%s: %s", b.data ? b.data : "", msg);
    fl_buf_done(&b);
    return FL_EPARSE;
}

/* ---------------------------------------------------------------- building */

static void req_done(req *r)
{
    free(r->key);
    for (size_t i = 0; i < r->nvalues; i++)
        free(r->values[i]);
    free(r->values);
}

void fl_label_selector_free(fl_label_selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++)
        req_done(&sel->reqs[i]);
    free(sel->reqs);
    free(sel);
}

fl_label_selector *fl_label_selector_everything(void)
{
    return fl_calloc(1, sizeof(fl_label_selector));
}

fl_label_selector *fl_label_selector_nothing(void)
{
    fl_label_selector *s = fl_calloc(1, sizeof *s);
    if (s)
        s->nothing = true;
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and de-duplicate values (sets.String.List()). No value is added
 * after this (add_value sizes the array by count). */
static void sort_unique(req *r)
{
    if (r->nvalues < 2)
        return;
    qsort(r->values, r->nvalues, sizeof(char *), cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < r->nvalues; i++) {
        if (strcmp(r->values[i], r->values[w - 1]) == 0)
            free(r->values[i]);
        else
            r->values[w++] = r->values[i];
    }
    r->nvalues = w;
}

/* Append r to sel (taking ownership) keeping requirements sorted by key,
 * after any with an equal key (a stable insertion, as Go's sort.Sort is
 * for short lists). */
static int sel_add(fl_label_selector *sel, req *r)
{
    if (sel->n >= FL_LABELS_MAX_REQS)
        return -E2BIG;
    if ((sel->n & (sel->n - 1)) == 0) { /* capacity is the next power of two */
        req *nr = fl_realloc(sel->reqs, (sel->n ? 2 * sel->n : 1) * sizeof(req));
        if (!nr)
            return -ENOMEM;
        sel->reqs = nr;
    }
    size_t at = sel->n;
    while (at > 0 && strcmp(sel->reqs[at - 1].key, r->key) > 0)
        at--;
    memmove(&sel->reqs[at + 1], &sel->reqs[at], (sel->n - at) * sizeof(req));
    sel->reqs[at] = *r;
    sel->n++;
    memset(r, 0, sizeof *r);
    return 0;
}

/* Go's %#v of a []string: []string(nil), []string{}, []string{"a", "b"}. */
static void go_slice(fl_buf *b, const req *r, bool nil)
{
    if (nil && r->nvalues == 0) {
        fl_buf_puts(b, "[]string(nil)");
        return;
    }
    fl_buf_puts(b, "[]string{");
    for (size_t i = 0; i < r->nvalues; i++) {
        if (i)
            fl_buf_puts(b, ", ");
        fl_buf_go_quote(b, r->values[i]);
    }
    fl_buf_puts(b, "}");
}

/* labels.NewRequirement's checks on a built requirement: appends each
 * field error to msgs (aggregate form: one error bare, several in [..]).
 * values_nil says how Go would print an empty value slice. */
static int validate_req(const req *r, bool values_nil, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(16384);
    char msg[1024];
    int nerr = 0;
    if (!check_key(r->key, strlen(r->key), msg, sizeof msg)) {
        fl_buf_puts(&b, "key: Invalid value: ");
        fl_buf_go_quote(&b, r->key);
        fl_buf_printf(&b, ": %s", msg);
        nerr++;
    }
    const char *bad = NULL;
    switch (r->op) {
    case FL_LABEL_IN:
    case FL_LABEL_NOT_IN:
        if (r->nvalues == 0)
            bad = "for 'in', 'notin' operators, values set can't be empty";
        break;
    case FL_LABEL_EQUALS:
    case FL_LABEL_DOUBLE_EQUALS:
    case FL_LABEL_NOT_EQUALS:
        if (r->nvalues != 1)
            bad = "exact-match compatibility requires one single value";
        break;
    case FL_LABEL_EXISTS:
    case FL_LABEL_DOES_NOT_EXIST:
        if (r->nvalues != 0)
            bad = "values set must be empty for exists and does not exist";
        break;
    case FL_LABEL_GT:
    case FL_LABEL_LT:
        if (r->nvalues != 1)
            bad = "for 'Gt', 'Lt' operators, exactly one value is required";
        break;
    }
    if (bad) {
        fl_buf_puts(&b, nerr++ ? ", values: Invalid value: " : "values: Invalid value: ");
        go_slice(&b, r, values_nil);
        fl_buf_printf(&b, ": %s", bad);
    }
    for (size_t i = 0; i < r->nvalues; i++) {
        int64_t v;
        const char *s = r->values[i];
        if ((r->op == FL_LABEL_GT || r->op == FL_LABEL_LT) && fl_parse_i64(s, strlen(s), &v)) {
            fl_buf_printf(&b, "%svalues[%zu]: Invalid value: ", nerr++ ? ", " : "", i);
            fl_buf_go_quote(&b, s);
            fl_buf_puts(&b, ": for 'Gt', 'Lt' operators, the value must be an integer");
        }
    }
    for (size_t i = 0; i < r->nvalues; i++) {
        if (!check_value(r->values[i], strlen(r->values[i]), msg, sizeof msg)) {
            fl_buf_printf(&b, "%svalues[%zu][%s]: Invalid value: ", nerr++ ? ", " : "", i, r->key);
            fl_buf_go_quote(&b, r->values[i]);
            fl_buf_printf(&b, ": %s", msg);
        }
    }
    if (nerr)
        fl_err_set(err, FL_EPARSE, "%s%s%s", nerr > 1 ? "[" : "", b.data, nerr > 1 ? "]" : "");
    fl_buf_done(&b);
    return nerr ? FL_EPARSE : 0;
}

/* ---------------------------------------------------------------- lexer */

typedef enum {
    T_ERROR = 0,
    T_EOS,
    T_CLOSE,
    T_COMMA,
    T_NOT,
    T_DEQ,
    T_EQ,
    T_GT,
    T_ID,
    T_IN,
    T_LT,
    T_NEQ,
    T_NOTIN,
    T_OPEN
} tok;

typedef struct item {
    tok t;
    const char *lit;
    size_t len;
} item;

typedef struct lexer {
    const char *s;
    size_t n, pos;
} lexer;

static char lx_read(lexer *l)
{
    char b = 0;
    if (l->pos < l->n)
        b = l->s[l->pos++];
    return b;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
    switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<': return true;
    default: return false;
    }
}

static tok token_for(const char *s, size_t n)
{
    static const struct {
        const char *s;
        tok t;
    } map[] = {{")", T_CLOSE}, {",", T_COMMA},     {"!", T_NOT}, {"==", T_DEQ},
               {"=", T_EQ},    {">", T_GT},        {"in", T_IN}, {"<", T_LT},
               {"!=", T_NEQ},  {"notin", T_NOTIN}, {"(", T_OPEN}};
    if (n == 0 || n > 5)
        return T_ERROR;
    for (size_t i = 0; i < FL_ARRAY_LEN(map); i++)
        if (map[i].s[0] == s[0] && strlen(map[i].s) == n && memcmp(map[i].s, s, n) == 0)
            return map[i].t;
    return T_ERROR;
}

static item lx_id_or_keyword(lexer *l)
{
    size_t start = l->pos, len = 0;
    for (;;) {
        char ch = lx_read(l);
        if (ch == 0)
            break;
        if (is_special(ch) || is_ws(ch)) {
            l->pos--;
            break;
        }
        len++;
    }
    tok t = token_for(l->s + start, len);
    return (item){t ? t : T_ID, l->s + start, len};
}

static item lx_special(lexer *l)
{
    size_t start = l->pos, len = 0;
    item last = {T_ERROR, "", 0};
    for (;;) {
        char ch = lx_read(l);
        if (ch == 0)
            break;
        if (!is_special(ch)) {
            l->pos--;
            break;
        }
        len++;
        tok t = token_for(l->s + start, len);
        if (t)
            last = (item){t, l->s + start, len};
        else if (last.t) {
            l->pos--;
            break;
        }
    }
    return last; /* every single special symbol is a token: never T_ERROR */
}

static item lx_lex(lexer *l)
{
    char ch = lx_read(l);
    while (is_ws(ch))
        ch = lx_read(l);
    if (ch == 0)
        return (item){T_EOS, "", 0};
    l->pos--;
    return is_special(ch) ? lx_special(l) : lx_id_or_keyword(l);
}

/* ---------------------------------------------------------------- parser */

typedef struct parser {
    item *items;
    size_t n, pos;
    fl_err *err;
} parser;

/* lookahead/consume: in the Values context "in"/"notin" are identifiers. */
static item p_peek(parser *p, bool values)
{
    item it = p->items[p->pos];
    if (values && (it.t == T_IN || it.t == T_NOTIN))
        it.t = T_ID;
    return it;
}

static item p_next(parser *p, bool values)
{
    item it = p_peek(p, values);
    if (p->pos + 1 < p->n)
        p->pos++;
    return it;
}

/* "found '<literal>'<rest>", upstream's parser error shape. */
static int p_fail(parser *p, const char *rest, const item *it)
{
    return fl_err_set(p->err, FL_EPARSE, "found '%.*s'%s", (int)it->len, it->lit, rest);
}

static int add_value(req *r, const char *s, size_t n)
{
    if (r->nvalues >= FL_LABELS_MAX_VALUES)
        return -E2BIG;
    if ((r->nvalues & (r->nvalues - 1)) == 0) { /* capacity: next power of two */
        char **nv = fl_realloc(r->values, (r->nvalues ? 2 * r->nvalues : 1) * sizeof(char *));
        if (!nv)
            return -ENOMEM;
        r->values = nv;
    }
    if (!(r->values[r->nvalues] = fl_strndup(s, n)))
        return -ENOMEM;
    r->nvalues++;
    return 0;
}

static int p_identifiers(parser *p, req *r)
{
    int rc;
    for (;;) {
        item it = p_next(p, true);
        if (it.t == T_ID) {
            if ((rc = add_value(r, it.lit, it.len)))
                return rc;
            item nx = p_peek(p, true);
            if (nx.t == T_COMMA)
                continue;
            if (nx.t == T_CLOSE)
                return 0;
            return p_fail(p, ", expected: ',' or ')'", &nx);
        }
        if (it.t != T_COMMA)
            return p_fail(p, ", expected: ',', or identifier", &it);
        if (r->nvalues == 0 && (rc = add_value(r, "", 0)))
            return rc;
        item nx = p_peek(p, true);
        if (nx.t == T_CLOSE)
            return add_value(r, "", 0);
        if (nx.t == T_COMMA) {
            p_next(p, true);
            if ((rc = add_value(r, "", 0)))
                return rc;
        }
    }
}

static int p_values(parser *p, req *r)
{
    item it = p_next(p, true);
    if (it.t != T_OPEN)
        return p_fail(p, " expected: '('", &it);
    item la = p_peek(p, true);
    if (la.t == T_ID || la.t == T_COMMA) {
        int rc = p_identifiers(p, r);
        if (rc)
            return rc;
        p_next(p, true); /* the ')' p_identifiers saw */
        return 0;
    }
    if (la.t == T_CLOSE) {
        p_next(p, true);
        return add_value(r, "", 0);
    }
    return p_fail(p, ", expected: ',', ')' or identifier", &la);
}

static int p_exact_value(parser *p, req *r)
{
    item la = p_peek(p, true);
    if (la.t == T_EOS || la.t == T_COMMA)
        return add_value(r, "", 0);
    item it = p_next(p, true);
    if (it.t == T_ID)
        return add_value(r, it.lit, it.len);
    return p_fail(p, ", expected: identifier", &it);
}

static int p_operator(parser *p, fl_label_op *op)
{
    item it = p_next(p, false);
    switch (it.t) {
    case T_IN: *op = FL_LABEL_IN; return 0;
    case T_EQ: *op = FL_LABEL_EQUALS; return 0;
    case T_DEQ: *op = FL_LABEL_DOUBLE_EQUALS; return 0;
    case T_GT: *op = FL_LABEL_GT; return 0;
    case T_LT: *op = FL_LABEL_LT; return 0;
    case T_NOTIN: *op = FL_LABEL_NOT_IN; return 0;
    case T_NEQ: *op = FL_LABEL_NOT_EQUALS; return 0;
    default: return p_fail(p, ", expected: in, notin, =, ==, !=, gt, lt", &it);
    }
}

/* parseKeyAndInferOperator; *unary tells whether op is already final. */
static int p_key(parser *p, req *r, bool *unary)
{
    bool not = false;
    item it = p_next(p, true);
    if (it.t == T_NOT) {
        not = true;
        it = p_next(p, true);
    }
    if (it.t != T_ID)
        return p_fail(p, ", expected: identifier", &it);
    if (!(r->key = fl_strndup(it.lit, it.len)))
        return -ENOMEM;
    char msg[1024];
    if (!check_key(it.lit, it.len, msg, sizeof msg)) {
        fl_buf b = FL_BUF_INIT(4096);
        fl_buf_puts(&b, "<nil>: Invalid value: ");
        fl_buf_go_quote(&b, r->key);
        fl_err_set(p->err, FL_EPARSE, "%s: %s", b.data ? b.data : "", msg);
        fl_buf_done(&b);
        return FL_EPARSE;
    }
    item la = p_peek(p, true);
    *unary = not || la.t == T_EOS || la.t == T_COMMA;
    r->op = not ? FL_LABEL_DOES_NOT_EXIST : FL_LABEL_EXISTS;
    return 0;
}

static int p_requirement(parser *p, req *r)
{
    bool unary;
    int rc = p_key(p, r, &unary);
    if (rc || unary)
        return rc ? rc : validate_req(r, false, p->err);
    if ((rc = p_operator(p, &r->op)))
        return rc;
    if (r->op == FL_LABEL_IN || r->op == FL_LABEL_NOT_IN)
        rc = p_values(p, r);
    else
        rc = p_exact_value(p, r);
    if (rc)
        return rc;
    sort_unique(r);
    return validate_req(r, false, p->err);
}

static int p_parse(parser *p, fl_label_selector *sel)
{
    for (;;) {
        item la = p_peek(p, true);
        if (la.t == T_EOS)
            return 0;
        if (la.t != T_ID && la.t != T_NOT)
            return p_fail(p, ", expected: !, identifier, or 'end of string'", &la);
        req r = {0};
        int rc = p_requirement(p, &r);
        if (rc == 0)
            rc = sel_add(sel, &r);
        req_done(&r);
        if (rc == FL_EPARSE) {
            fl_err_wrap(p->err, FL_EPARSE, "unable to parse requirement");
            return FL_EPARSE;
        }
        if (rc)
            return fl_err_set(p->err, rc, "label selector: %s", fl_strerror(rc));
        item t = p_next(p, true);
        if (t.t == T_EOS)
            return 0;
        if (t.t != T_COMMA)
            return p_fail(p, ", expected: ',' or 'end of string'", &t);
        item t2 = p_peek(p, true);
        if (t2.t != T_ID && t2.t != T_NOT)
            return p_fail(p, ", expected: identifier after ','", &t2);
    }
}

static int lex_all(const char *s, size_t n, item **out, size_t *count)
{
    lexer l = {s, n, 0};
    item *items = NULL;
    size_t cnt = 0, cap = 0;
    for (;;) {
        if (fl_grow(&items, &cap, cnt + 1, sizeof *items) != 0) {
            free(items);
            return -ENOMEM;
        }
        items[cnt] = lx_lex(&l);
        if (items[cnt++].t == T_EOS)
            break;
    }
    *out = items;
    *count = cnt;
    return 0;
}

int fl_label_selector_parse(const char *s, size_t n, fl_label_selector **out, fl_err *err)
{
    if (n > FL_LABELS_MAX_INPUT)
        return fl_err_set(err, -E2BIG, "label selector longer than %u bytes", FL_LABELS_MAX_INPUT);
    fl_label_selector *sel = fl_label_selector_everything();
    parser p = {NULL, 0, 0, err};
    int rc = sel ? lex_all(s ? s : "", n, &p.items, &p.n) : -ENOMEM;
    if (rc == 0)
        rc = p_parse(&p, sel);
    else
        fl_err_set(err, rc, "label selector: %s", fl_strerror(rc));
    free(p.items);
    if (rc) {
        fl_label_selector_free(sel);
        return rc;
    }
    *out = sel;
    return 0;
}

/* ---------------------------------------------------------------- JSON form */

static int json_values(const json_t *vals, req *r, fl_err *err)
{
    if (!vals || json_is_null(vals))
        return 0;
    if (!json_is_array(vals))
        return fl_err_set(err, FL_EPARSE, "matchExpressions: values must be an array of strings");
    size_t i;
    json_t *v;
    json_array_foreach(vals, i, v) {
        if (!json_is_string(v))
            return fl_err_set(err, FL_EPARSE, "matchExpressions: values must be strings");
        int rc = add_value(r, json_string_value(v), json_string_length(v));
        if (rc)
            return fl_err_set(err, rc, "matchExpressions: %s", fl_strerror(rc));
    }
    return 0;
}

static int json_expr(const json_t *e, req *r, fl_err *err)
{
    static const struct {
        const char *name;
        fl_label_op op;
    } ops[] = {{"In", FL_LABEL_IN},
               {"NotIn", FL_LABEL_NOT_IN},
               {"Exists", FL_LABEL_EXISTS},
               {"DoesNotExist", FL_LABEL_DOES_NOT_EXIST}};
    if (!json_is_object(e))
        return fl_err_set(err, FL_EPARSE, "matchExpressions: each item must be an object");
    const json_t *k = json_object_get(e, "key"), *o = json_object_get(e, "operator");
    if ((k && !json_is_string(k)) || (o && !json_is_string(o)))
        return fl_err_set(err, FL_EPARSE, "matchExpressions: key and operator must be strings");
    const char *op = o ? json_string_value(o) : "";
    size_t i = 0;
    while (i < FL_ARRAY_LEN(ops) && strcmp(ops[i].name, op) != 0)
        i++;
    if (i == FL_ARRAY_LEN(ops)) {
        fl_buf b = FL_BUF_INIT(4096);
        fl_buf_go_quote(&b, op);
        fl_err_set(err, FL_EPARSE, "%s is not a valid label selector operator",
                   b.data ? b.data : "");
        fl_buf_done(&b);
        return FL_EPARSE;
    }
    r->op = ops[i].op;
    if (!(r->key = fl_strdup(k ? json_string_value(k) : "")))
        return fl_err_set(err, -ENOMEM, "out of memory");
    int rc = json_values(json_object_get(e, "values"), r, err);
    if (rc)
        return rc;
    rc = validate_req(r, true, err);
    sort_unique(r);
    return rc;
}

static int json_match_labels(const json_t *ml, fl_label_selector *sel, fl_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ml, key, v) {
        if (!json_is_string(v))
            return fl_err_set(err, FL_EPARSE, "matchLabels: values must be strings");
        req r = {.op = FL_LABEL_EQUALS};
        int rc = (r.key = fl_strdup(key))
                     ? add_value(&r, json_string_value(v), json_string_length(v))
                     : -ENOMEM;
        if (rc == 0)
            rc = validate_req(&r, false, err);
        if (rc == 0)
            rc = sel_add(sel, &r);
        req_done(&r);
        if (rc && rc != FL_EPARSE)
            fl_err_set(err, rc, "matchLabels: %s", fl_strerror(rc));
        if (rc)
            return rc;
    }
    return 0;
}

static int json_selector(const json_t *ls, fl_label_selector *sel, fl_err *err)
{
    const json_t *ml = json_object_get(ls, "matchLabels");
    const json_t *me = json_object_get(ls, "matchExpressions");
    if (ml && !json_is_null(ml) && !json_is_object(ml))
        return fl_err_set(err, FL_EPARSE, "matchLabels must be an object");
    if (me && !json_is_null(me) && !json_is_array(me))
        return fl_err_set(err, FL_EPARSE, "matchExpressions must be an array");
    int rc = json_is_object(ml) ? json_match_labels(ml, sel, err) : 0;
    for (size_t i = 0; rc == 0 && json_is_array(me) && i < json_array_size(me); i++) {
        req r = {0};
        rc = json_expr(json_array_get(me, i), &r, err);
        if (rc == 0 && (rc = sel_add(sel, &r)) != 0)
            fl_err_set(err, rc, "matchExpressions: %s", fl_strerror(rc));
        req_done(&r);
    }
    return rc;
}

int fl_label_selector_from_json(const json_t *ls, fl_label_selector **out, fl_err *err)
{
    if (ls && !json_is_null(ls) && !json_is_object(ls))
        return fl_err_set(err, FL_EPARSE, "a LabelSelector must be a JSON object");
    fl_label_selector *sel =
        (!ls || json_is_null(ls)) ? fl_label_selector_nothing() : fl_label_selector_everything();
    if (!sel)
        return fl_err_set(err, -ENOMEM, "out of memory");
    int rc = sel->nothing ? 0 : json_selector(ls, sel, err);
    if (rc) {
        fl_label_selector_free(sel);
        return rc;
    }
    *out = sel;
    return 0;
}

/* ---------------------------------------------------------------- matching */

static bool has_value(const req *r, const char *v)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (strcmp(r->values[i], v) == 0)
            return true;
    return false;
}

static bool req_matches(const req *r, const char *v)
{
    int64_t lv, rv;
    switch (r->op) {
    case FL_LABEL_IN:
    case FL_LABEL_EQUALS:
    case FL_LABEL_DOUBLE_EQUALS: return v && has_value(r, v);
    case FL_LABEL_NOT_IN:
    case FL_LABEL_NOT_EQUALS: return !v || !has_value(r, v);
    case FL_LABEL_EXISTS: return v != NULL;
    case FL_LABEL_DOES_NOT_EXIST: return v == NULL;
    case FL_LABEL_GT:
    case FL_LABEL_LT:
        if (!v || r->nvalues != 1 || fl_parse_i64(v, strlen(v), &lv) ||
            fl_parse_i64(r->values[0], strlen(r->values[0]), &rv))
            return false;
        return r->op == FL_LABEL_GT ? lv > rv : lv < rv;
    }
    return false;
}

bool fl_label_selector_matches_fn(const fl_label_selector *sel,
                                  const char *(*get)(const char *key, void *ud), void *ud)
{
    if (sel->nothing)
        return false;
    for (size_t i = 0; i < sel->n; i++)
        if (!req_matches(&sel->reqs[i], get ? get(sel->reqs[i].key, ud) : NULL))
            return false;
    return true;
}

static const char *json_get(const char *key, void *ud)
{
    const json_t *v = json_object_get((const json_t *)ud, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool fl_label_selector_matches(const fl_label_selector *sel, const json_t *labels)
{
    return fl_label_selector_matches_fn(sel, json_is_object(labels) ? json_get : NULL,
                                        (void *)labels);
}

bool fl_label_selector_is_empty(const fl_label_selector *sel)
{
    return sel->n == 0;
}

bool fl_label_selector_is_nothing(const fl_label_selector *sel)
{
    return sel->nothing;
}

size_t fl_label_selector_count(const fl_label_selector *sel)
{
    return sel->n;
}

void fl_label_selector_req(const fl_label_selector *sel, size_t i, fl_label_req *out)
{
    const req *r = &sel->reqs[i];
    out->key = r->key;
    out->op = r->op;
    out->values = (const char *const *)r->values;
    out->nvalues = r->nvalues;
}

static int req_string(const req *r, fl_buf *out)
{
    static const char *const ops[] = {" in ", " notin ", "=", "==", "!=", "", "", ">", "<"};
    int rc = fl_buf_printf(out, "%s%s%s", r->op == FL_LABEL_DOES_NOT_EXIST ? "!" : "", r->key,
                           ops[r->op]);
    if (rc || r->op == FL_LABEL_EXISTS || r->op == FL_LABEL_DOES_NOT_EXIST)
        return rc;
    bool set = r->op == FL_LABEL_IN || r->op == FL_LABEL_NOT_IN;
    if (set && (rc = fl_buf_puts(out, "(")))
        return rc;
    for (size_t i = 0; i < r->nvalues && rc == 0; i++)
        rc = fl_buf_printf(out, "%s%s", i ? "," : "", r->values[i]);
    if (rc == 0 && set)
        rc = fl_buf_puts(out, ")");
    return rc;
}

int fl_label_selector_string(const fl_label_selector *sel, fl_buf *out)
{
    int rc = fl_buf_puts(out, "");
    for (size_t i = 0; i < sel->n && rc == 0; i++) {
        if (i)
            rc = fl_buf_puts(out, ",");
        if (rc == 0)
            rc = req_string(&sel->reqs[i], out);
    }
    return rc;
}
