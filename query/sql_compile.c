/*
 * query/sql_compile.c: turns a parsed query (sql_parse.c) into one
 * parameterized SQLite statement over the index layout (index/schema.c),
 * with the caller's scope compiled in as WHERE terms of every table.
 *
 * What it promises:
 *  - no byte of user text reaches the SQL text: literals, label keys,
 *    resource names and JSON paths are bound parameters (?N); only names
 *    chosen here (t0, c0, x0, ...) and fixed SQL are written;
 *  - materialized columns (pods: node, phase, qos, requests/limits; nodes:
 *    ready, unschedulable, region, zone, allocatable/capacity) compile to
 *    their tables' columns, never to JSON scans; `notes` says which;
 *  - quantities compare and sum in milli-units (exact int64): a quantity
 *    literal ('500m', '64Gi', 2) beside a quantity column is converted here;
 *  - a page in creation order with a label equality (ORDER BY created ...
 *    LIMIT) is driven by the label's range, sorted by the creation time its
 *    rows carry: objects rows are read for the page only (drive_from), and
 *    the answer is the sorted plan's;
 *  - a table the scope does not cover contributes no rows (WHERE 0), so a
 *    caller cannot learn that objects outside the scope exist, counts
 *    included; `objects` and WITH DELETED need an admin scope.
 * query/SQL.md documents the columns.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kube/quantity.h"
#include "query/sql_int.h"

#define SQL_TEXT_MAX (1u << 20)

typedef struct ctab {
    const sql_table *src;
    const fl_kube_resource *res; /* NULL for `objects` */
    int facts;                   /* 0 none, 1 pods, 2 nodes */
    bool need_x;                 /* the pods/nodes row (x%d) is read */
    bool need_c, need_g;         /* the cluster name (c%d) / gvrs row (g%d) is read */
} ctab;

typedef struct cc {
    const sql_query *q;
    const fl_kube_resources *reg;
    const sql_scope *scope;
    ctab t[SQL_MAX_TABLES];
    size_t nt;
    fl_buf *b;
    sql_compiled *out;
    fl_err *err;
    const fl_index_sql_value *up;
    size_t nup;
    int rc;
    int nje;
    struct { /* pod_resources / node_resources rows joined as rs%d */
        int t;
        const char *rtable;
        char key[256];
    } rj[8];
    int nrj;
    bool from_done; /* FROM written: no more joins */
    /* a page in creation order driven by a label equality (label_drive):
     * the term (compiled as "1": the drive yields exactly its rows), its
     * label key and value, the direction */
    const sql_node *drive;
    char drive_key[512];
    const char *drive_val;
    bool drive_desc;
    bool agg_ok; /* aggregates allowed here (select list, HAVING, ORDER BY) */
    bool emit;   /* false: only work out kinds */
} cc;

/* A resolved column. */
typedef enum {
    C_SQL,      /* fixed SQL text with "%d" for the table number */
    C_LABEL,    /* labels.<key> */
    C_RES,      /* pod_resources / node_resources: table, column, resource */
    C_JSON,     /* json_extract(fl_json(t.json), path): fl_json decompresses a stored row */
    C_JSON_ANY, /* a path with one "[]": arr path, rest path */
    C_CLUSTER,
} ckind;

typedef struct col {
    ckind k;
    int t;              /* table index */
    const char *sqlfmt; /* C_SQL: e.g. "x%d.phase" */
    const char *rtable, *rcol;
    char key[512];  /* label key / resource / JSON path */
    char rest[512]; /* C_JSON_ANY: path inside each element ("$" = itself) */
    sql_col_kind kind;
    bool materialized;
} col;

static int set_err(cc *c, int code, const sql_node *n, const char *msg)
{
    if (!c->rc)
        c->rc = n ? fl_err_set(c->err, code, "%s at %d:%d", msg, n->line, n->col)
                  : fl_err_set(c->err, code, "%s", msg);
    return c->rc;
}

static void puts_(cc *c, const char *s)
{
    if (c->emit && !c->rc) {
        int rc = fl_buf_puts(c->b, s);
        if (rc < 0)
            c->rc = fl_err_set(c->err, rc, "compiled query too long");
    }
}

/* fmt with every "%d" replaced by the table number a (our fixed strings). */
static void printf_(cc *c, const char *fmt, int a)
{
    char num[16];
    snprintf(num, sizeof num, "%d", a);
    for (const char *p = fmt; *p;) {
        const char *m = strstr(p, "%d");
        size_t n = m ? (size_t)(m - p) : strlen(p);
        char tmp[256];
        if (n >= sizeof tmp)
            n = sizeof tmp - 1;
        memcpy(tmp, p, n);
        tmp[n] = 0;
        puts_(c, tmp);
        if (!m)
            break;
        puts_(c, num);
        p = m + 2;
    }
}

/* Append a parameter, write "?N". */
static void param(cc *c, fl_index_sql_value v)
{
    if (!c->emit || c->rc)
        return;
    sql_compiled *o = c->out;
    if (o->nparams >= 4096) {
        c->rc = fl_err_set(c->err, -E2BIG, "query needs more than 4096 parameters");
        return;
    }
    fl_index_sql_value *p = realloc(o->params, (o->nparams + 1) * sizeof *p);
    if (!p) {
        c->rc = -ENOMEM;
        return;
    }
    o->params = p;
    if (v.type == FL_INDEX_SQL_TEXT) {
        char **ps = realloc(o->pstr, (o->npstr + 1) * sizeof *ps);
        if (!ps) {
            c->rc = -ENOMEM;
            return;
        }
        o->pstr = ps;
        char *d = malloc(v.len + 1);
        if (!d) {
            c->rc = -ENOMEM;
            return;
        }
        memcpy(d, v.s, v.len);
        d[v.len] = 0;
        o->pstr[o->npstr++] = d;
        v.s = d;
    }
    o->params[o->nparams++] = v;
    char tmp[16];
    snprintf(tmp, sizeof tmp, "?%zu", o->nparams);
    puts_(c, tmp);
}

static void param_text(cc *c, const char *s)
{
    param(c, (fl_index_sql_value){FL_INDEX_SQL_TEXT, 0, 0, s, strlen(s)});
}

static void param_int(cc *c, int64_t v)
{
    param(c, (fl_index_sql_value){FL_INDEX_SQL_INT, v, 0, NULL, 0});
}

/* One line of --plan notes: "column NAME -> TARGET". */
static void note(cc *c, const char *name, const char *target, const char *how)
{
    if (!c->emit)
        return;
    char line[1200];
    snprintf(line, sizeof line, "%s -> %s%s\n", name, target, how);
    if (!c->out->notes.data || !strstr(c->out->notes.data, line))
        fl_buf_puts(&c->out->notes, line);
}

/* ------------------------------------------------------------ columns */

typedef struct fixed_col {
    const char *name, *alt;
    int facts; /* 0 any table, 1 pods, 2 nodes */
    const char *sql;
    sql_col_kind kind;
} fixed_col;

static const fixed_col fixed[] = {
    {"namespace", "metadata.namespace", 0, "t%d.ns", SQL_COL_TEXT},
    {"name", "metadata.name", 0, "t%d.name", SQL_COL_TEXT},
    {"uid", "metadata.uid", 0, "t%d.uid", SQL_COL_TEXT},
    {"kind", "kind", 0, "g%d.kind", SQL_COL_TEXT},
    {"group", NULL, 0, "g%d.grp", SQL_COL_TEXT},
    {"version", NULL, 0, "g%d.ver", SQL_COL_TEXT},
    {"resource", NULL, 0, "g%d.res", SQL_COL_TEXT},
    {"created", "metadata.creationTimestamp", 0, "t%d.created", SQL_COL_TIME},
    {"resource_version", NULL, 0, "t%d.rv", SQL_COL_TEXT},
    {"owner_uid", NULL, 0, "t%d.owner_uid", SQL_COL_TEXT},
    {"deleted", NULL, 0, "(t%d.deleted_ms IS NOT NULL)", SQL_COL_BOOL},
    {"revision", "metadata.resourceVersion", 0, "t%d.revision", SQL_COL_INT},
    {"node", "spec.nodeName", 1, "x%d.node", SQL_COL_TEXT},
    {"phase", "status.phase", 1, "x%d.phase", SQL_COL_TEXT},
    {"qos", "status.qosClass", 1, "x%d.qos", SQL_COL_TEXT},
    {"priority_class", "spec.priorityClassName", 1, "x%d.prio_class", SQL_COL_TEXT},
    {"terminal", NULL, 1, "x%d.terminal", SQL_COL_BOOL},
    {"ready", NULL, 2, "x%d.ready", SQL_COL_BOOL},
    {"unschedulable", "spec.unschedulable", 2, "x%d.unschedulable", SQL_COL_BOOL},
    {"region", NULL, 2, "x%d.region", SQL_COL_TEXT},
    {"zone", NULL, 2, "x%d.zone", SQL_COL_TEXT},
    {"taints", "spec.taints", 2, "x%d.taints", SQL_COL_JSON},
};

/* First segments a JSON path may start with (anything else: json.<path>). */
static const char *const roots[] = {
    "metadata",       "spec",          "status",     "data",
    "binaryData",     "type",          "reason",     "message",
    "involvedObject", "regarding",     "source",     "count",
    "firstTimestamp", "lastTimestamp", "eventTime",  "reportingComponent",
    "action",         "note",          "subsets",    "rules",
    "roleRef",        "subjects",      "webhooks",   "apiVersion",
    "immutable",      "provisioner",   "parameters",
};

static bool binary_resource(const char *r)
{
    return strcmp(r, "memory") == 0 || strcmp(r, "ephemeral-storage") == 0 ||
           strcmp(r, "storage") == 0 || strncmp(r, "hugepages-", 10) == 0;
}

/* Dotted text of segs[from..]; false when too long. */
static bool seg_text(const sql_node *n, size_t from, char *out, size_t size)
{
    fl_buf b = FL_BUF_INIT(size - 1);
    int rc = 0;
    for (size_t i = from; i < n->nsegs && rc == 0; i++) {
        const sql_seg *s = &n->segs[i];
        if (s->name)
            rc = fl_buf_printf(&b, "%s%s", i > from ? "." : "", s->name);
        else if (s->index == -2)
            rc = fl_buf_puts(&b, "[]");
        else
            rc = fl_buf_printf(&b, "[%d]", s->index);
    }
    bool ok = rc == 0;
    if (ok)
        memcpy(out, b.data ? b.data : "", b.len + 1);
    fl_buf_done(&b);
    return ok;
}

/* A JSON path "$.a.b[0]" from segments [from, to); keys with odd characters
 * are quoted. False when a key cannot be written (a '"' or '\'). */
static bool json_path(const sql_node *n, size_t from, size_t to, char *out, size_t size)
{
    fl_buf b = FL_BUF_INIT(size - 1);
    int rc = fl_buf_puts(&b, "$");
    bool ok = true;
    for (size_t i = from; i < to && rc == 0 && ok; i++) {
        const sql_seg *s = &n->segs[i];
        if (!s->name) {
            rc = fl_buf_printf(&b, "[%d]", s->index);
            continue;
        }
        if (strpbrk(s->name, "\"\\"))
            ok = false;
        else
            rc = fl_buf_printf(&b, ".\"%s\"", s->name);
    }
    ok = ok && rc == 0;
    if (ok)
        memcpy(out, b.data, b.len + 1);
    fl_buf_done(&b);
    return ok;
}

static void suggest_unknown(cc *c, const sql_node *n, const char *name, const ctab *t)
{
    const char *best = NULL;
    char bestbuf[600];
    int bd = 3 + (int)strlen(name) / 6;
    for (size_t i = 0; i < FL_ARRAY_LEN(fixed); i++) {
        if (fixed[i].facts && fixed[i].facts != t->facts)
            continue;
        const char *cands[2] = {fixed[i].name, fixed[i].alt};
        for (int k = 0; k < 2; k++) {
            int d = cands[k] ? sql_edit_distance(name, cands[k]) : 100;
            if (d < bd) {
                bd = d;
                best = cands[k];
            }
        }
    }
    const char *extra[] = {"cluster",    "labels.",         "annotations.", "requests.cpu",
                           "limits.cpu", "allocatable.cpu", "capacity.cpu"};
    for (size_t i = 0; i < FL_ARRAY_LEN(extra); i++) {
        int d = sql_edit_distance(name, extra[i]);
        if (d < bd) {
            bd = d;
            best = extra[i];
        }
    }
    /* a misspelt JSON root: suggest the path with the root fixed */
    const char *dot = strchr(name, '.');
    size_t rl = dot ? (size_t)(dot - name) : strlen(name);
    char root[128];
    if (rl < sizeof root) {
        memcpy(root, name, rl);
        root[rl] = 0;
        for (size_t i = 0; i < FL_ARRAY_LEN(roots); i++) {
            int d = sql_edit_distance(root, roots[i]);
            if (d > 0 && d <= 2 && d < bd) {
                bd = d;
                snprintf(bestbuf, sizeof bestbuf, "%s%s", roots[i], dot ? dot : "");
                best = bestbuf;
            }
        }
    }
    char msg[900];
    if (best)
        snprintf(msg, sizeof msg, "unknown column '%.200s' (did you mean '%.300s'?)", name, best);
    else
        snprintf(msg, sizeof msg,
                 "unknown column '%.200s' (see query/SQL.md; other JSON "
                 "roots: json.<path>)",
                 name);
    /* the position goes after the name, before the suggestion, as people read it */
    char *paren = strstr(msg, " (");
    if (paren && !c->rc) {
        char head[900];
        snprintf(head, sizeof head, "%.*s at %d:%d%s", (int)(paren - msg), msg, n->line, n->col,
                 paren);
        c->rc = fl_err_set(c->err, FL_EPARSE, "%s", head);
    }
}

static int resolve(cc *c, const sql_node *n, col *out)
{
    memset(out, 0, sizeof *out);
    size_t from = 0;
    int ti = 0;
    if (n->nsegs > 1 && n->segs[0].name) {
        for (size_t i = 0; i < c->nt; i++) {
            const char *al = c->t[i].src->alias ? c->t[i].src->alias : NULL;
            if (al && strcmp(al, n->segs[0].name) == 0) {
                ti = (int)i;
                from = 1;
            }
        }
    }
    if (from == 0 && c->nt > 1)
        return set_err(c, FL_EPARSE, n,
                       "column needs a table alias when the query joins tables (p.name)");
    ctab *t = &c->t[ti];
    out->t = ti;
    char name[600];
    if (!seg_text(n, from, name, sizeof name) || !n->segs[from].name)
        return set_err(c, FL_EPARSE, n, "column name too long or malformed");
    const char *first = n->segs[from].name;
    size_t rest = n->nsegs - from;
    if (strcasecmp(name, "cluster") == 0) {
        t->need_c = true;
        out->k = C_CLUSTER;
        out->kind = SQL_COL_TEXT;
        return 0;
    }
    for (size_t i = 0; i < FL_ARRAY_LEN(fixed); i++) {
        const fixed_col *f = &fixed[i];
        if (strcasecmp(name, f->name) != 0 && !(f->alt && strcmp(name, f->alt) == 0))
            continue;
        if (f->facts && f->facts != t->facts)
            continue;
        out->k = C_SQL;
        out->sqlfmt = f->sql;
        out->kind = f->kind;
        out->materialized = true;
        if (f->facts)
            t->need_x = true;
        if (f->sql[0] == 'g')
            t->need_g = true;
        char target[80];
        const char *dotp = strchr(f->sql, '.');
        snprintf(target, sizeof target, "%s.%s",
                 f->facts == 1      ? "pods"
                 : f->facts == 2    ? "nodes"
                 : f->sql[0] == 'g' ? "gvrs"
                                    : "objects",
                 dotp ? dotp + 1 : f->sql);
        char *paren = strchr(target, ' ');
        if (paren)
            *paren = 0;
        note(c, name, target, " (materialized column)");
        return 0;
    }
    bool secret = t->res && strcmp(t->res->resource, "secrets") == 0 && !t->res->group[0];
    /* a Secret's last-applied annotation holds its data (stored when
     * sync.prune.lastAppliedConfiguration is false): never hand it out */
    if (secret &&
        (strcmp(name, "metadata") == 0 || strcmp(name, "json.metadata") == 0 ||
         strstr(name, "annotations") != NULL) &&
        (strstr(name, "last-applied") || !strstr(name, "annotations.")))
        return set_err(c, FL_EFORBIDDEN, n,
                       "Secret data is never returned (whole metadata/annotations or "
                       "last-applied-configuration of a Secret)");
    if ((strcmp(first, "labels") == 0 || strcmp(first, "annotations") == 0) && rest >= 2) {
        char key[600];
        if (!seg_text(n, from + 1, key, sizeof key) || strchr(key, '[') || strpbrk(key, "\"\\") ||
            strlen(key) > 316)
            return set_err(c, FL_EPARSE, n, "bad label or annotation key");
        if (first[0] == 'l') {
            out->k = C_LABEL;
            snprintf(out->key, sizeof out->key, "%s", key);
            out->kind = SQL_COL_TEXT;
            out->materialized = true;
            note(c, name, "labels", " (indexed side table)");
            return 0;
        }
        out->k = C_JSON;
        snprintf(out->key, sizeof out->key, "$.metadata.annotations.\"%s\"", key);
        out->kind = SQL_COL_ANY;
        note(c, name, out->key, " (JSON in the object)");
        return 0;
    }
    if ((strcmp(first, "requests") == 0 || strcmp(first, "limits") == 0 ||
         strcmp(first, "allocatable") == 0 || strcmp(first, "capacity") == 0) &&
        rest >= 2) {
        bool pod = first[0] == 'r' || first[0] == 'l';
        if ((pod && t->facts != 1) || (!pod && t->facts != 2)) {
            char msg[200];
            snprintf(msg, sizeof msg, "column '%.100s' exists only on %s", name,
                     pod ? "pods" : "nodes");
            return set_err(c, FL_EPARSE, n, msg);
        }
        char res[600];
        if (!seg_text(n, from + 1, res, sizeof res) || strchr(res, '[') || strlen(res) > 253)
            return set_err(c, FL_EPARSE, n, "bad resource name");
        out->k = C_RES;
        out->rtable = pod ? "pod_resources" : "node_resources";
        out->rcol = first[0] == 'r'   ? "requests"
                    : first[0] == 'l' ? "limits"
                    : first[1] == 'l' ? "allocatable"
                                      : "capacity";
        snprintf(out->key, sizeof out->key, "%s", res);
        out->kind = binary_resource(res) ? SQL_COL_QTY_BIN : SQL_COL_QTY_DEC;
        out->materialized = true;
        note(c, name, out->rtable, " (materialized, milli-units)");
        return 0;
    }
    /* a JSON path */
    size_t jfrom = from;
    bool known_root = false;
    for (size_t i = 0; i < FL_ARRAY_LEN(roots); i++)
        known_root |= strcmp(first, roots[i]) == 0;
    if (strcmp(first, "json") == 0 && rest >= 2 && n->segs[from + 1].name) {
        jfrom = from + 1;
        known_root = true;
    }
    if (!known_root) {
        suggest_unknown(c, n, name, t);
        return c->rc;
    }
    if (secret && (strcmp(n->segs[jfrom].name, "data") == 0 ||
                   strcmp(n->segs[jfrom].name, "stringData") == 0))
        return set_err(c, FL_EFORBIDDEN, n, "Secret data is never returned");
    size_t nany = 0, anyat = 0;
    for (size_t i = jfrom; i < n->nsegs; i++)
        if (!n->segs[i].name && n->segs[i].index == -2) {
            nany++;
            anyat = i;
        }
    if (nany > 1)
        return set_err(c, FL_EUNSUPPORTED, n, "at most one '[]' in a path");
    if (nany == 1) {
        if (!json_path(n, jfrom, anyat, out->key, sizeof out->key) ||
            !json_path(n, anyat + 1, n->nsegs, out->rest, sizeof out->rest))
            return set_err(c, FL_EPARSE, n, "path has a '\"' or '\\' in a key");
        out->k = C_JSON_ANY;
        out->kind = SQL_COL_JSON;
        note(c, name, out->key, "[] (JSON scan over elements)");
        return 0;
    }
    if (!json_path(n, jfrom, n->nsegs, out->key, sizeof out->key))
        return set_err(c, FL_EPARSE, n, "path has a '\"' or '\\' in a key");
    out->k = C_JSON;
    out->kind = SQL_COL_ANY;
    note(c, name, out->key, " (JSON scan)");
    return 0;
}

/* The rs%d join reading resource k->key of table k->t (one row at most:
 * the primary key is (obj_id, resource)), added while FROM is not written
 * yet; -1: none (then a correlated lookup reads it). A LEFT JOIN gives the
 * lookup's NULL for a missing resource, and lets the planner read the rows
 * in the same loop as the object, as hand-written SQL does. */
static int res_join(cc *c, const col *k)
{
    for (int j = 0; j < c->nrj; j++)
        if (c->rj[j].t == k->t && c->rj[j].rtable == k->rtable && !strcmp(c->rj[j].key, k->key))
            return j;
    if (c->from_done || c->nrj >= (int)FL_ARRAY_LEN(c->rj) || strlen(k->key) >= sizeof c->rj[0].key)
        return -1;
    c->rj[c->nrj].t = k->t;
    c->rj[c->nrj].rtable = k->rtable;
    snprintf(c->rj[c->nrj].key, sizeof c->rj[0].key, "%s", k->key);
    return c->nrj++;
}

/* Emit a resolved column (C_JSON_ANY: the element value inside json_each,
 * when elem is set). */
static void emit_col(cc *c, const col *k, const char *elem)
{
    char tmp[160];
    switch (k->k) {
    case C_CLUSTER: printf_(c, "c%d.name", k->t); break;
    case C_SQL: printf_(c, k->sqlfmt, k->t); break;
    case C_LABEL:
        printf_(c, "(SELECT value FROM labels WHERE obj_id = t%d.id AND key = ", k->t);
        param_text(c, k->key);
        puts_(c, ")");
        break;
    case C_RES: {
        int j = res_join(c, k);
        if (j >= 0) {
            snprintf(tmp, sizeof tmp, "rs%d.%s", j, k->rcol);
            puts_(c, tmp);
            break;
        }
        snprintf(tmp, sizeof tmp,
                 "(SELECT %s FROM %s WHERE obj_id = t%d.id AND resource = ", k->rcol, k->rtable,
                 k->t);
        puts_(c, tmp);
        param_text(c, k->key);
        puts_(c, ")");
        break;
    }
    case C_JSON:
        printf_(c, "json_extract(fl_json(t%d.json), ", k->t);
        param_text(c, k->key);
        puts_(c, ")");
        break;
    case C_JSON_ANY:
        if (elem) {
            if (strcmp(k->rest, "$") == 0) {
                puts_(c, elem);
                puts_(c, ".value");
            } else {
                puts_(c, "json_extract(");
                puts_(c, elem);
                puts_(c, ".value, ");
                param_text(c, k->rest);
                puts_(c, ")");
            }
        } else {
            int j = c->nje++;
            printf_(c, "(SELECT json_group_array(json_extract(je%d.value, ", j);
            param_text(c, k->rest);
            printf_(c, ")) FROM json_each(fl_json(t%d.json), ", k->t);
            param_text(c, k->key);
            printf_(c, ") je%d)", j);
        }
        break;
    }
}

/* ------------------------------------------------------------ expressions */

static sql_col_kind expr(cc *c, const sql_node *n);

static bool is_qty(sql_col_kind k)
{
    return k == SQL_COL_QTY_DEC || k == SQL_COL_QTY_BIN;
}

static int parse_time(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, se = 0;
    size_t n = strlen(s);
    if (n < 10 || n > 30)
        return -1;
    char *end;
    y = (int)strtol(s, &end, 10);
    if (end != s + 4 || *end != '-')
        return -1;
    mo = (int)strtol(s + 5, &end, 10);
    if (end != s + 7 || *end != '-')
        return -1;
    d = (int)strtol(s + 8, &end, 10);
    if (end != s + 10)
        return -1;
    if (*end == 'T' || *end == ' ') {
        if (n < 20 || s[13] != ':' || s[16] != ':' || strcmp(s + 19, "Z") != 0)
            return -1;
        h = (int)strtol(s + 11, NULL, 10);
        mi = (int)strtol(s + 14, NULL, 10);
        se = (int)strtol(s + 17, NULL, 10);
    } else if (*end) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* A literal compared with a column of kind k, converted (quantities to
 * milli-units, times to unix seconds). */
static void literal_for(cc *c, sql_col_kind k, const sql_node *lit)
{
    /* a parameter beside a quantity or time column converts like a literal */
    if (lit->kind == N_PARAM && (is_qty(k) || k == SQL_COL_TIME) && lit->num >= 1 &&
        (size_t)lit->num <= c->nup) {
        const fl_index_sql_value *v = &c->up[lit->num - 1];
        sql_node tmp = *lit;
        if (v->type == FL_INDEX_SQL_TEXT) {
            tmp.kind = N_STR;
            tmp.str = (char *)v->s;
        } else if (v->type == FL_INDEX_SQL_INT || v->type == FL_INDEX_SQL_REAL) {
            tmp.kind = N_NUM;
            tmp.num = v->i;
            tmp.real = v->d;
            tmp.is_real = v->type == FL_INDEX_SQL_REAL;
        }
        if (tmp.kind != N_PARAM) {
            literal_for(c, k, &tmp);
            return;
        }
    }
    if (is_qty(k) && (lit->kind == N_STR || lit->kind == N_NUM)) {
        int64_t milli = 0;
        if (lit->kind == N_NUM) {
            double v = lit->is_real ? lit->real * 1000.0 : (double)lit->num * 1000.0;
            if (!(fabs(v) < 9e18)) {
                set_err(c, FL_EPARSE, lit, "quantity out of range");
                return;
            }
            milli = (int64_t)llround(v);
        } else {
            fl_quantity qv;
            fl_err e = FL_ERR_INIT;
            if (fl_quantity_parse(lit->str, strlen(lit->str), &qv, &e) < 0 ||
                fl_quantity_milli_value(&qv, &milli) < 0) {
                char msg[200];
                snprintf(msg, sizeof msg, "'%.60s' is not a quantity (e.g. '500m', '64Gi')",
                         lit->str);
                set_err(c, FL_EPARSE, lit, msg);
                return;
            }
        }
        param_int(c, milli);
        return;
    }
    if (k == SQL_COL_TIME && lit->kind == N_STR) {
        int64_t t;
        if (parse_time(lit->str, &t) < 0) {
            set_err(c, FL_EPARSE, lit, "expected a time like '2026-01-02T03:04:05Z'");
            return;
        }
        param_int(c, t);
        return;
    }
    expr(c, lit);
}

static bool is_lit(const sql_node *n)
{
    return n->kind == N_STR || n->kind == N_NUM || n->kind == N_PARAM;
}

static const char *op_text(sql_tok_type t)
{
    switch (t) {
    case T_EQ: return " = ";
    case T_NE: return " != ";
    case T_LT: return " < ";
    case T_LE: return " <= ";
    case T_GT: return " > ";
    default: return " >= ";
    }
}

static sql_col_kind kind_of(cc *c, const sql_node *n)
{
    bool save = c->emit;
    c->emit = false;
    sql_col_kind k = expr(c, n);
    c->emit = save;
    return k;
}

/* l <op-ish> r where l may be a "[]" path: EXISTS over the elements. */
static void predicate(cc *c, const sql_node *n)
{
    const sql_node *l = n->kids[0];
    col lc;
    bool any = l->kind == N_PATH && resolve(c, l, &lc) == 0 && lc.k == C_JSON_ANY;
    if (c->rc)
        return;
    sql_col_kind lk = kind_of(c, l);
    char elem[16] = "";
    if (any) {
        int j = c->nje++;
        snprintf(elem, sizeof elem, "je%d", j);
        printf_(c, "EXISTS (SELECT 1 FROM json_each(fl_json(t%d.json), ", lc.t);
        param_text(c, lc.key);
        puts_(c, ") ");
        puts_(c, elem);
        puts_(c, " WHERE ");
        emit_col(c, &lc, elem);
        lk = SQL_COL_ANY;
    } else {
        puts_(c, "(");
        expr(c, l);
    }
    switch (n->kind) {
    case N_CMP:
        puts_(c, op_text(n->op));
        if (is_lit(n->kids[1]))
            literal_for(c, lk, n->kids[1]);
        else
            expr(c, n->kids[1]);
        break;
    case N_IN:
        puts_(c, n->neg ? " NOT IN (" : " IN (");
        for (size_t i = 1; i < n->nkids; i++) {
            if (i > 1)
                puts_(c, ", ");
            if (is_lit(n->kids[i]))
                literal_for(c, lk, n->kids[i]);
            else
                expr(c, n->kids[i]);
        }
        puts_(c, ")");
        break;
    case N_LIKE:
        puts_(c, n->neg ? " NOT LIKE " : " LIKE ");
        expr(c, n->kids[1]);
        break;
    default: /* N_ISNULL */ puts_(c, n->neg ? " IS NOT NULL" : " IS NULL");
    }
    puts_(c, ")");
}

/* Whether n is labels.k = 'v' (either side); k and *val (borrowed from n)
 * set when it is. Emits nothing. */
static bool is_label_eq(cc *c, const sql_node *n, col *k, const char **val)
{
    if (n->kind != N_CMP || n->op != T_EQ)
        return false;
    const sql_node *p = n->kids[0], *v = n->kids[1];
    if (p->kind != N_PATH) {
        p = n->kids[1];
        v = n->kids[0];
    }
    if (p->kind != N_PATH || v->kind != N_STR)
        return false;
    bool save = c->emit;
    c->emit = false;
    int rc = resolve(c, p, k);
    c->emit = save;
    if (rc < 0 || k->k != C_LABEL)
        return false;
    *val = v->str;
    return true;
}

/* labels.k = 'v' (either side): one range of the labels primary key; the
 * term that drives the page (label_drive) is "1", and beside it another
 * label equality is a probe per driving row (labels_obj): the page reads
 * few rows, and the IN list would read the other label's whole range. */
static bool label_eq(cc *c, const sql_node *n)
{
    col k;
    const char *val;
    if (!is_label_eq(c, n, &k, &val))
        return false;
    char lname[600];
    snprintf(lname, sizeof lname, "labels.%s", k.key);
    note(c, lname, "labels", " (indexed side table)");
    if (n == c->drive) {
        puts_(c, "1");
        return true;
    }
    if (c->drive)
        puts_(c, "EXISTS (SELECT 1 FROM labels WHERE obj_id = l0.obj_id AND key = ");
    else
        printf_(c, "t%d.id IN (SELECT obj_id FROM labels WHERE key = ", k.t);
    param_text(c, k.key);
    puts_(c, " AND value = ");
    param_text(c, val);
    puts_(c, ")");
    return true;
}

/* p.cluster = n.cluster: compare the cluster ids. */
static bool cluster_eq(cc *c, const sql_node *n)
{
    if (n->kind != N_CMP || n->op != T_EQ || n->kids[0]->kind != N_PATH ||
        n->kids[1]->kind != N_PATH)
        return false;
    col a, b;
    bool save = c->emit, need[SQL_MAX_TABLES];
    for (size_t i = 0; i < c->nt; i++)
        need[i] = c->t[i].need_c;
    c->emit = false;
    int rc = resolve(c, n->kids[0], &a);
    rc = rc ? rc : resolve(c, n->kids[1], &b);
    c->emit = save;
    if (rc == 0 && a.k == C_CLUSTER && b.k == C_CLUSTER) /* ids compared, names not read */
        for (size_t i = 0; i < c->nt; i++)
            c->t[i].need_c = need[i];
    if (rc < 0 || a.k != C_CLUSTER || b.k != C_CLUSTER)
        return false;
    char tmp[80];
    snprintf(tmp, sizeof tmp, "t%d.cluster_id = t%d.cluster_id", a.t, b.t);
    puts_(c, tmp);
    return true;
}

static void fts_param(cc *c, const sql_node *s)
{
    const char *text = s->str;
    if (s->kind == N_PARAM) {
        if (s->num < 1 || (size_t)s->num > c->nup || c->up[s->num - 1].type != FL_INDEX_SQL_TEXT) {
            set_err(c, FL_EPARSE, s, "MATCH parameter must be a string");
            return;
        }
        text = c->up[s->num - 1].s;
    }
    size_t n = strlen(text);
    while (n && text[n - 1] == '*') /* trigram search is substring search already */
        n--;
    if (n < 3) {
        set_err(c, FL_EPARSE, s, "MATCH needs 3 or more characters");
        return;
    }
    fl_buf f = FL_BUF_INIT(8192);
    int rc = fl_buf_puts(&f, "\"");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = text[i] == '"' ? fl_buf_puts(&f, "\"\"") : fl_buf_append(&f, &text[i], 1);
    if (rc == 0)
        rc = fl_buf_puts(&f, "\"");
    if (rc < 0)
        set_err(c, rc, s, "MATCH text too long");
    else
        param_text(c, f.data);
    fl_buf_done(&f);
}

static sql_col_kind func(cc *c, const sql_node *n)
{
    if (!c->agg_ok) {
        set_err(c, FL_EPARSE, n, "aggregate functions are not allowed in WHERE or ON");
        return SQL_COL_ANY;
    }
    c->agg_ok = false; /* no aggregate inside an aggregate */
    const sql_node *a = n->kids[0];
    sql_col_kind k = SQL_COL_ANY;
    puts_(c, n->str);
    puts_(c, n->distinct ? "(DISTINCT " : "(");
    if (a->kind == N_STAR) {
        puts_(c, "*");
    } else {
        const sql_node *x = a;
        col cl;
        if (x->kind == N_PATH && resolve(c, x, &cl) == 0 && cl.k == C_JSON_ANY)
            set_err(c, FL_EUNSUPPORTED, x, "aggregates over '[]' paths are not supported");
        k = expr(c, a);
    }
    puts_(c, ")");
    c->agg_ok = true;
    if (strcmp(n->str, "count") == 0)
        return SQL_COL_INT;
    if (is_qty(k))
        return k; /* avg: real milli-units, rounded when printed */
    if (strcmp(n->str, "avg") == 0)
        return SQL_COL_REAL;
    return k == SQL_COL_JSON ? SQL_COL_ANY : k;
}

static sql_col_kind expr(cc *c, const sql_node *n)
{
    if (c->rc || !n)
        return SQL_COL_ANY;
    switch (n->kind) {
    case N_STR: param_text(c, n->str); return SQL_COL_TEXT;
    case N_NUM:
        if (n->is_real)
            param(c, (fl_index_sql_value){FL_INDEX_SQL_REAL, 0, n->real, NULL, 0});
        else
            param_int(c, n->num);
        return n->is_real ? SQL_COL_REAL : SQL_COL_INT;
    case N_BOOL: puts_(c, n->num ? "1" : "0"); return SQL_COL_BOOL;
    case N_NULL: puts_(c, "NULL"); return SQL_COL_ANY;
    case N_PARAM:
        if (n->num < 1 || (size_t)n->num > c->nup) {
            char msg[80];
            snprintf(msg, sizeof msg, "parameter %lld has no value in \"params\"",
                     (long long)n->num);
            set_err(c, FL_EPARSE, n, msg);
            return SQL_COL_ANY;
        }
        param(c, c->up[n->num - 1]);
        return SQL_COL_ANY;
    case N_PATH: {
        col k;
        if (resolve(c, n, &k) < 0)
            return SQL_COL_ANY;
        emit_col(c, &k, NULL);
        return k.kind;
    }
    case N_STAR: set_err(c, FL_EPARSE, n, "'*' only in count(*)"); return SQL_COL_ANY;
    case N_FUNC: return func(c, n);
    case N_MATCH:
        /* full text covers annotations, which for a Secret may hold its
         * last-applied data: never searchable */
        if (c->t[0].res && !c->t[0].res->group[0] && !strcmp(c->t[0].res->resource, "secrets")) {
            set_err(c, FL_EFORBIDDEN, n, "MATCH is not available on secrets");
            return SQL_COL_BOOL;
        }
        puts_(c, "(t0.id IN (SELECT rowid FROM fts WHERE fts MATCH ");
        fts_param(c, n->kids[0]);
        puts_(c, ")");
        if (!c->t[0].res)
            puts_(c, " AND t0.gvr_id NOT IN (SELECT id FROM gvrs WHERE grp = '' AND "
                     "res = 'secrets')");
        puts_(c, ")");
        return SQL_COL_BOOL;
    case N_AND:
    case N_OR:
        puts_(c, "(");
        for (size_t i = 0; i < n->nkids; i++) {
            if (i)
                puts_(c, n->kind == N_AND ? " AND " : " OR ");
            expr(c, n->kids[i]);
        }
        puts_(c, ")");
        return SQL_COL_BOOL;
    case N_NOT:
        puts_(c, "(NOT ");
        expr(c, n->kids[0]);
        puts_(c, ")");
        return SQL_COL_BOOL;
    case N_CMP:
        if (label_eq(c, n) || cluster_eq(c, n))
            return SQL_COL_BOOL;
        if (is_lit(n->kids[0]) && !is_lit(n->kids[1])) { /* '500m' < requests.cpu */
            sql_node sw = *n;
            sql_node *kids[2] = {n->kids[1], n->kids[0]};
            sw.kids = kids;
            sw.op = n->op == T_LT   ? T_GT
                    : n->op == T_GT ? T_LT
                    : n->op == T_LE ? T_GE
                    : n->op == T_GE ? T_LE
                                    : n->op;
            predicate(c, &sw);
            return SQL_COL_BOOL;
        }
        predicate(c, n);
        return SQL_COL_BOOL;
    case N_IN:
    case N_LIKE:
    case N_ISNULL: predicate(c, n); return SQL_COL_BOOL;
    }
    return SQL_COL_ANY;
}

/* ------------------------------------------------------------ tables */

static bool scope_has(const char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], "*") == 0 || strcmp(v[i], s) == 0)
            return true;
    return false;
}

static bool all_star(const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], "*") == 0)
            return true;
    return false;
}

static void in_list(cc *c, const char *colfmt, int t, const char *const *v, size_t n)
{
    printf_(c, colfmt, t);
    puts_(c, " IN (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            puts_(c, ", ");
        param_text(c, v[i]);
    }
    puts_(c, ")");
}

static void scope_terms(cc *c, int ti)
{
    const ctab *t = &c->t[ti];
    const sql_scope *s = c->scope;
    if (s->admin)
        return;
    char gr[600];
    if (t->res)
        snprintf(gr, sizeof gr, "%s%s%s", t->res->resource, t->res->group[0] ? "." : "",
                 t->res->group);
    puts_(c, " AND (0");
    for (size_t i = 0; i < s->nterms; i++) {
        const sql_scope_term *st = &s->terms[i];
        if (!t->res ? !all_star(st->resources, st->nresources)
                    : !scope_has(st->resources, st->nresources, gr) &&
                          !scope_has(st->resources, st->nresources, t->res->resource))
            continue;
        puts_(c, " OR (1");
        if (!all_star(st->clusters, st->nclusters)) {
            puts_(c, " AND ");
            in_list(c, "c%d.name", ti, st->clusters, st->nclusters);
        }
        if (!all_star(st->namespaces, st->nnamespaces)) {
            puts_(c, " AND ");
            in_list(c, "t%d.ns", ti, st->namespaces, st->nnamespaces);
        }
        puts_(c, ")");
    }
    puts_(c, ")");
}

static void suggest_resource(cc *c, const sql_table *st)
{
    const fl_kube_resource *all[512];
    size_t n = fl_kube_resources_list(c->reg, all, FL_ARRAY_LEN(all));
    if (n > FL_ARRAY_LEN(all))
        n = FL_ARRAY_LEN(all);
    const char *best = NULL;
    int bd = 3;
    for (size_t i = 0; i < n; i++) {
        int d = sql_edit_distance(st->name, all[i]->resource);
        if (d < bd) {
            bd = d;
            best = all[i]->resource;
        }
    }
    int d = sql_edit_distance(st->name, "objects");
    if (d < bd)
        best = "objects";
    char msg[300];
    snprintf(msg, sizeof msg, "unknown resource '%.100s' at %d:%d%s%s%s", st->name, st->line,
             st->col, best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
    if (!c->rc)
        c->rc = fl_err_set(c->err, FL_EPARSE, "%s", msg);
}

static int tables(cc *c)
{
    for (size_t i = 0; i < c->q->ntables; i++) {
        ctab *t = &c->t[c->nt++];
        t->src = &c->q->tables[i];
        if (strcasecmp(t->src->name, "objects") == 0) {
            if (!c->scope->wide)
                return set_err(c, FL_EFORBIDDEN, NULL,
                               "FROM objects (every kind) is for admins only");
            continue;
        }
        t->res = fl_kube_resources_resolve(c->reg, t->src->name);
        if (!t->res) {
            suggest_resource(c, t->src);
            return c->rc;
        }
        if (!t->res->group[0] && strcmp(t->res->resource, "pods") == 0)
            t->facts = 1;
        if (!t->res->group[0] && strcmp(t->res->resource, "nodes") == 0)
            t->facts = 2;
    }
    if (c->q->with_deleted && !c->scope->wide)
        return set_err(c, FL_EFORBIDDEN, NULL, "WITH DELETED is for admins only");
    return 0;
}

/* Whether the scope terms of a table name clusters (c%d.name). */
static bool scope_names_clusters(const cc *c)
{
    if (c->scope->admin)
        return false;
    for (size_t i = 0; i < c->scope->nterms; i++)
        if (!all_star(c->scope->terms[i].clusters, c->scope->terms[i].nclusters))
            return true;
    return false;
}

/* The rs%d joins (res_join) and the end of FROM. */
static void res_joins(cc *c)
{
    for (int j = 0; j < c->nrj; j++) {
        puts_(c, " LEFT JOIN ");
        puts_(c, c->rj[j].rtable);
        printf_(c, " rs%d ON rs%d.obj_id = ", j);
        printf_(c, "t%d.id AND ", c->rj[j].t);
        printf_(c, "rs%d.resource = ", j);
        param_text(c, c->rj[j].key);
    }
    c->from_done = true;
}

/* Each table is objects t%d; clusters c%d and gvrs g%d are joined only when
 * the statement reads them, so the planner sees the same joins as in
 * hand-written SQL (a count reads objects_live alone). */
static void from_clause(cc *c)
{
    puts_(c, " FROM ");
    for (size_t i = 0; i < c->nt; i++) {
        int ti = (int)i;
        if (i)
            puts_(c, ", ");
        printf_(c, "objects t%d", ti);
        if (c->t[i].need_c || scope_names_clusters(c))
            printf_(c, " JOIN clusters c%d ON c%d.id = t%d.cluster_id", ti);
        if (c->t[i].need_g)
            printf_(c, " JOIN gvrs g%d ON g%d.id = t%d.gvr_id", ti);
    }
    for (size_t i = 0; i < c->nt; i++) {
        const ctab *t = &c->t[i];
        if (!t->need_x)
            continue;
        puts_(c, c->q->with_deleted ? " LEFT JOIN " : " JOIN ");
        puts_(c, t->facts == 1 ? "pods" : "nodes");
        printf_(c, " x%d ON x%d.obj_id = t%d.id", (int)i);
        /* in a join, the cluster too: the planner then reads the pods of
         * the cluster (objects_scope) once per joined node rather than
         * pods_by_node's range over every cluster's node of that name */
        if (c->nt > 1)
            printf_(c, " AND x%d.cluster_id = t%d.cluster_id", (int)i);
    }
    res_joins(c);
}

/* FROM for a page in creation order driven by a label equality
 * (label_drive): the label's primary-key range, sorted by the creation
 * time its rows carry (schema v7), is the outer loop, and no ORDER BY
 * follows, so the statement reads objects rows (and pods/nodes rows, first
 * when the WHERE needs one: their terms then filter before objects is
 * read) only until LIMIT + OFFSET rows have passed the WHERE. The WHERE
 * stays whole (scope, liveness, every term), so the page is the same as
 * the sorted one; ties in creation time go by object id. CROSS JOIN keeps
 * SQLite from reordering the loops; LIMIT -1 keeps the sorted range a
 * subquery (a co-routine yielding in its order) rather than flattening it. */
static void drive_from(cc *c)
{
    const ctab *t = &c->t[0];
    const char *xt = t->facts == 1 ? "pods" : "nodes";
    bool x_first = t->need_x && !c->q->with_deleted;
    puts_(c, " FROM (SELECT obj_id, created FROM labels WHERE key = ");
    param_text(c, c->drive_key);
    puts_(c, " AND value = ");
    param_text(c, c->drive_val);
    if (t->res) {
        puts_(c, " AND gvr_id IN (SELECT id FROM gvrs WHERE grp = ");
        param_text(c, t->res->group);
        puts_(c, " AND res = ");
        param_text(c, t->res->resource);
        puts_(c, ")");
    }
    puts_(c, c->drive_desc ? " ORDER BY created DESC, obj_id DESC" : " ORDER BY created, obj_id");
    puts_(c, " LIMIT -1) l0");
    if (x_first) {
        puts_(c, " CROSS JOIN ");
        puts_(c, xt);
        puts_(c, " x0 ON x0.obj_id = l0.obj_id");
    }
    puts_(c, " CROSS JOIN objects t0 ON t0.id = l0.obj_id");
    if (t->need_c || scope_names_clusters(c))
        puts_(c, " CROSS JOIN clusters c0 ON c0.id = t0.cluster_id");
    if (t->need_g)
        puts_(c, " CROSS JOIN gvrs g0 ON g0.id = t0.gvr_id");
    if (t->need_x && !x_first) {
        puts_(c, " LEFT JOIN ");
        puts_(c, xt);
        puts_(c, " x0 ON x0.obj_id = t0.id");
    }
    res_joins(c);
    note(c, "ORDER BY created", "labels.created",
         " (the label's range sorted; objects rows read for the page only)");
}

static void where_clause(cc *c)
{
    puts_(c, " WHERE 1");
    for (size_t i = 0; i < c->nt; i++) {
        const ctab *t = &c->t[i];
        int ti = (int)i;
        if (t->res) {
            /* an id set, so the planner can start from objects_key / objects_scope */
            printf_(c, " AND t%d.gvr_id IN (SELECT id FROM gvrs WHERE grp = ", ti);
            param_text(c, t->res->group);
            puts_(c, " AND res = ");
            param_text(c, t->res->resource);
            puts_(c, ")");
        }
        scope_terms(c, ti);
        if (!c->q->with_deleted)
            printf_(c, " AND t%d.deleted_ms IS NULL", ti);
        if (t->src->on) {
            puts_(c, " AND ");
            expr(c, t->src->on);
        }
    }
    if (c->q->where) {
        puts_(c, " AND ");
        expr(c, c->q->where);
    }
}

static int add_col(cc *c, const char *name, sql_col_kind k)
{
    sql_compiled *o = c->out;
    char **nv = realloc(o->colnames, (o->ncols + 1) * sizeof *nv);
    if (!nv)
        return c->rc = -ENOMEM;
    o->colnames = nv;
    sql_col_kind *kv = realloc(o->colkinds, (o->ncols + 1) * sizeof *kv);
    if (!kv)
        return c->rc = -ENOMEM;
    o->colkinds = kv;
    if (!(o->colnames[o->ncols] = strdup(name)))
        return c->rc = -ENOMEM;
    o->colkinds[o->ncols++] = k;
    return 0;
}

static void select_item(cc *c, const sql_node *e, const char *label, size_t i)
{
    sql_col_kind k = kind_of(c, e);
    if (k == SQL_COL_ANY && e->kind == N_PATH) { /* JSON value: printed as JSON */
        puts_(c, "json_quote(");
        expr(c, e);
        puts_(c, ")");
        k = SQL_COL_JSON;
    } else {
        expr(c, e);
    }
    printf_(c, " AS r%d", (int)i);
    if (!c->rc)
        add_col(c, label, k);
}

static void select_star(cc *c)
{
    static const char *const names[] = {"cluster", "namespace", "name", "kind"};
    size_t n = c->t[0].res ? 3 : 4;
    c->t[0].need_c = true;
    c->t[0].need_g |= n == 4;
    for (size_t i = 0; i < n; i++) {
        if (i)
            puts_(c, ", ");
        const char *sql = i == 0 ? "c0.name" : i == 1 ? "t0.ns" : i == 2 ? "t0.name" : "g0.kind";
        puts_(c, sql);
        add_col(c, names[i], SQL_COL_TEXT);
    }
}

/* An ORDER BY term naming a select alias or a column position. */
static bool order_ref(const cc *c, const sql_node *e)
{
    if (e->kind == N_NUM && !e->is_real && e->num >= 1 && (size_t)e->num <= c->q->nitems)
        return true;
    if (e->kind != N_PATH || e->nsegs != 1 || !e->segs[0].name)
        return false;
    for (size_t i = 0; i < c->q->nitems; i++)
        if (c->q->items[i].alias && strcmp(c->q->items[i].alias, e->segs[0].name) == 0)
            return true;
    return false;
}

static void order_term(cc *c, const sql_order *o)
{
    const sql_node *e = o->e;
    if (e->kind == N_PATH && e->nsegs == 1 && e->segs[0].name) {
        for (size_t i = 0; i < c->q->nitems; i++) {
            const char *al = c->q->items[i].alias;
            if (al && strcmp(al, e->segs[0].name) == 0) {
                printf_(c, "r%d", (int)i);
                puts_(c, o->desc ? " DESC" : "");
                return;
            }
        }
    }
    if (e->kind == N_NUM && !e->is_real && e->num >= 1 && (size_t)e->num <= c->q->nitems) {
        printf_(c, "r%d", (int)e->num - 1);
    } else {
        expr(c, e);
    }
    puts_(c, o->desc ? " DESC" : "");
}

static bool has_aggregate(const sql_node *n)
{
    if (!n)
        return false;
    if (n->kind == N_FUNC)
        return true;
    for (size_t i = 0; i < n->nkids; i++)
        if (has_aggregate(n->kids[i]))
            return true;
    return false;
}

/* The term of w, through ANDs, that is labels.k = 'v'; NULL if none. */
static const sql_node *label_conjunct(cc *c, const sql_node *w, col *k, const char **val)
{
    if (!w)
        return NULL;
    if (w->kind != N_AND)
        return is_label_eq(c, w, k, val) ? w : NULL;
    for (size_t i = 0; i < w->nkids; i++) {
        const sql_node *d = label_conjunct(c, w->kids[i], k, val);
        if (d)
            return d;
    }
    return NULL;
}

/* Whether the query is a page in creation order that a label equality can
 * drive (drive_from): one table, rows not grouped or aggregated, ORDER BY
 * created alone, a LIMIT, and a labels.k = 'v' that every row must meet.
 * Such a page read every match's objects row and sorted them all; driven,
 * it sorts the label's range (which carries created) and reads objects
 * rows for the page only. Sets c->drive when so. */
static void label_drive(cc *c)
{
    const sql_query *q = c->q;
    if (c->rc || c->nt != 1 || q->distinct || q->ngroup || q->having || q->norder != 1 ||
        q->limit < 0 || order_ref(c, q->order[0].e) || q->order[0].e->kind != N_PATH)
        return;
    for (size_t i = 0; i < q->nitems; i++)
        if (has_aggregate(q->items[i].e))
            return;
    col oc, k;
    const char *val = NULL;
    bool save = c->emit;
    c->emit = false;
    int rc = resolve(c, q->order[0].e, &oc);
    c->emit = save;
    if (rc != 0 || oc.k != C_SQL || strcmp(oc.sqlfmt, "t%d.created") != 0)
        return;
    const sql_node *d = label_conjunct(c, q->where, &k, &val);
    if (!d || strlen(k.key) >= sizeof c->drive_key)
        return;
    c->drive = d;
    snprintf(c->drive_key, sizeof c->drive_key, "%s", k.key);
    c->drive_val = val;
    c->drive_desc = q->order[0].desc;
}

static void statement(cc *c)
{
    const sql_query *q = c->q;
    puts_(c, q->distinct ? "SELECT DISTINCT " : "SELECT ");
    c->agg_ok = true;
    if (q->star)
        select_star(c);
    for (size_t i = 0; i < q->nitems; i++) {
        if (i)
            puts_(c, ", ");
        select_item(c, q->items[i].e, q->items[i].label, i);
    }
    /* resolve WHERE/ON once without emitting so need_x is known for FROM */
    c->agg_ok = false;
    for (size_t i = 0; i < c->nt; i++)
        if (c->t[i].src->on)
            kind_of(c, c->t[i].src->on);
    if (q->where)
        kind_of(c, q->where);
    c->agg_ok = true;
    for (size_t i = 0; i < q->ngroup; i++)
        kind_of(c, q->group[i]);
    if (q->having)
        kind_of(c, q->having);
    for (size_t i = 0; i < q->norder; i++)
        if (!order_ref(c, q->order[i].e))
            kind_of(c, q->order[i].e);
    label_drive(c);
    if (c->drive)
        drive_from(c);
    else
        from_clause(c);
    c->agg_ok = false;
    where_clause(c);
    if (q->ngroup) {
        puts_(c, " GROUP BY ");
        for (size_t i = 0; i < q->ngroup; i++) {
            if (i)
                puts_(c, ", ");
            col k;
            bool save = c->emit;
            c->emit = false;
            bool by_cluster =
                q->group[i]->kind == N_PATH && resolve(c, q->group[i], &k) == 0 && k.k == C_CLUSTER;
            c->emit = save;
            if (by_cluster) /* group on the id (covered by objects_scope), name follows */
                printf_(c, "t%d.cluster_id", k.t);
            else
                expr(c, q->group[i]);
        }
    }
    c->agg_ok = true;
    if (q->having) {
        puts_(c, " HAVING ");
        expr(c, q->having);
    }
    if (q->norder && !c->drive) { /* driven: the rows come in order */
        puts_(c, " ORDER BY ");
        for (size_t i = 0; i < q->norder; i++) {
            if (i)
                puts_(c, ", ");
            order_term(c, &q->order[i]);
        }
    }
    if (q->limit >= 0 || q->offset >= 0) {
        puts_(c, " LIMIT ");
        param_int(c, q->limit >= 0 ? q->limit : -1);
        if (q->offset >= 0) {
            puts_(c, " OFFSET ");
            param_int(c, q->offset);
        }
    }
}

int sql_compile(const sql_query *q, const fl_kube_resources *reg, const sql_scope *scope,
                const fl_index_sql_value *uparams, size_t nuparams, sql_compiled *out, fl_err *err)
{
    memset(out, 0, sizeof *out);
    fl_buf_init(&out->sql, SQL_TEXT_MAX);
    fl_buf_init(&out->notes, 64u << 10);
    cc c = {.q = q,
            .reg = reg,
            .scope = scope,
            .b = &out->sql,
            .out = out,
            .err = err,
            .up = uparams,
            .nup = nuparams,
            .emit = true};
    if (q->nparams > (int)nuparams) {
        fl_err_set(err, FL_EPARSE, "the query uses %d parameters; \"params\" has %zu", q->nparams,
                   nuparams);
        sql_compiled_done(out);
        return FL_EPARSE;
    }
    if (tables(&c) == 0)
        statement(&c);
    if (c.rc) {
        sql_compiled_done(out);
        return c.rc;
    }
    return 0;
}

void sql_compiled_done(sql_compiled *c)
{
    if (!c)
        return;
    fl_buf_done(&c->sql);
    fl_buf_done(&c->notes);
    for (size_t i = 0; i < c->npstr; i++)
        free(c->pstr[i]);
    free(c->pstr);
    free(c->params);
    for (size_t i = 0; i < c->ncols; i++)
        free(c->colnames[i]);
    free(c->colnames);
    free(c->colkinds);
    memset(c, 0, sizeof *c);
}
