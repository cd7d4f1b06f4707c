/*
 * query/sql_int.h: what the SQL-language files of query/ share (sql_lex.c,
 * sql_parse.c, sql_compile.c, sql_handler.c); nothing outside query/ sees it.
 *
 * Pipeline: text --sql_parse (lexer + recursive descent, our own; caps on
 * size, tokens, nodes and depth)--> sql_query AST --sql_compile (columns
 * resolved against the index layout, the caller's scope added as WHERE
 * terms)--> one parameterized SQLite statement --fl_index_sql_run (read-only
 * connection, authorizer, time budget, row cap)--> rows.
 * No byte of the user's text is pasted into the SQL: every literal,
 * identifier-derived JSON path and label key is a bound parameter.
 */
#ifndef FL_QUERY_SQL_INT_H
#define FL_QUERY_SQL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "index/index.h"
#include "kube/resource.h"

#define SQL_MAX_TEXT (256u << 10) /* bytes of query text */
#define SQL_MAX_TOKENS 20000
#define SQL_MAX_NODES 20000
#define SQL_MAX_DEPTH 64
#define SQL_MAX_TABLES 4
#define SQL_MAX_ITEMS 64
#define SQL_MAX_SEGS 16
#define SQL_MAX_IN 1000
#define SQL_MAX_PARAMS 100

/* ------------------------------------------------------------- lexer */
typedef enum {
    T_EOF = 0,
    T_IDENT,
    T_QIDENT,
    T_STRING,
    T_NUMBER,
    T_PARAM,
    T_COMMA,
    T_DOT,
    T_LP,
    T_RP,
    T_LB,
    T_RB,
    T_STAR,
    T_SEMI,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
} sql_tok_type;

typedef struct sql_tok {
    sql_tok_type type;
    size_t off, len; /* span in the text */
    int line, col;   /* 1-based; col counts code points */
    char *str;       /* decoded identifier / string (arena) */
    int64_t num;     /* T_NUMBER (integer) / T_PARAM ($n: n, ?: 0) */
    double real;
    bool is_real;
} sql_tok;

/* ------------------------------------------------------------- AST */
typedef enum {
    N_STR,
    N_NUM,
    N_BOOL,
    N_NULL,
    N_PARAM,
    N_PATH,
    N_STAR,
    N_FUNC,
    N_MATCH,
    N_AND,
    N_OR,
    N_NOT,
    N_CMP,
    N_IN,
    N_LIKE,
    N_ISNULL,
} sql_node_kind;

typedef struct sql_seg {
    char *name; /* NULL for a pure index segment */
    int index;  /* -1: none, -2: "[]" any element, >= 0: [n] */
} sql_seg;

typedef struct sql_node {
    sql_node_kind kind;
    int line, col;
    size_t off, end; /* source span */
    sql_tok_type op; /* N_CMP */
    bool neg;        /* NOT IN / NOT LIKE / IS NOT NULL */
    bool distinct;   /* count(DISTINCT x) */
    char *str;       /* N_STR value, N_FUNC name (lower case) */
    int64_t num;     /* N_NUM, N_BOOL, N_PARAM (1-based) */
    double real;
    bool is_real;
    sql_seg *segs; /* N_PATH */
    size_t nsegs;
    struct sql_node **kids;
    size_t nkids;
} sql_node;

typedef struct sql_item {
    sql_node *e;
    char *alias; /* AS name or NULL */
    char *label; /* column name in the answer (source text) */
} sql_item;

typedef struct sql_table {
    char *name;  /* as written: "pods", "deployments.apps" */
    char *alias; /* NULL if none */
    int line, col;
    sql_node *on; /* JOIN ... ON (NULL for the first table) */
} sql_table;

typedef struct sql_order {
    sql_node *e;
    bool desc;
} sql_order;

typedef struct sql_arena sql_arena;

typedef struct sql_query {
    sql_arena *arena;
    bool distinct, star;
    sql_item items[SQL_MAX_ITEMS];
    size_t nitems;
    sql_table tables[SQL_MAX_TABLES];
    size_t ntables;
    bool with_deleted;
    sql_node *where, *having;
    sql_node *group[SQL_MAX_ITEMS];
    size_t ngroup;
    sql_order order[SQL_MAX_ITEMS];
    size_t norder;
    int64_t limit, offset; /* -1 = none */
    int nparams;           /* highest parameter number used */
} sql_query;

/* Parse text (len bytes, need not be NUL-terminated). 0 and *out (free with
 * sql_query_free), or FL_EPARSE / -E2BIG with err "… at L:C". */
int sql_parse(const char *text, size_t len, sql_query **out, fl_err *err);
void sql_query_free(sql_query *q);

/* sql_lex.c */
typedef struct sql_lexer {
    const char *s;
    size_t len, pos;
    int line, col;
    sql_arena *arena;
    size_t ntokens;
} sql_lexer;
int sql_lex_next(sql_lexer *lx, sql_tok *t, fl_err *err);
void *sql_arena_alloc(sql_arena *a, size_t n);
char *sql_arena_strndup(sql_arena *a, const char *s, size_t n);
sql_arena *sql_arena_new(void);
void sql_arena_free(sql_arena *a);
/* Levenshtein distance (bytes), capped at 100. */
int sql_edit_distance(const char *a, const char *b);

/* ------------------------------------------------------------ compile */
/* How an answer column is printed. */
typedef enum {
    SQL_COL_ANY = 0, /* as SQLite returns it (json_extract: JSON text parsed) */
    SQL_COL_TEXT,
    SQL_COL_INT,
    SQL_COL_BOOL,
    SQL_COL_REAL,
    SQL_COL_QTY_DEC, /* milli-units, printed as a canonical DecimalSI quantity */
    SQL_COL_QTY_BIN, /* milli-units, printed as a canonical BinarySI quantity */
    SQL_COL_TIME,    /* unix seconds, printed RFC 3339 */
    SQL_COL_JSON,    /* JSON text from json_extract/json_group_array */
} sql_col_kind;

/* The caller's visibility (compiled into the statement). */
typedef struct sql_scope_term {
    const char *const *clusters;
    size_t nclusters; /* "*" = any */
    const char *const *namespaces;
    size_t nnamespaces;
    const char *const *resources;
    size_t nresources; /* "pods", "deployments.apps", "*" */
} sql_scope_term;
typedef struct sql_scope {
    bool admin; /* sees everything: no scope terms */
    bool wide;  /* may use `objects` and WITH DELETED (admins, or by config) */
    const sql_scope_term *terms;
    size_t nterms;
} sql_scope;

typedef struct sql_compiled {
    fl_buf sql;                 /* the statement */
    fl_index_sql_value *params; /* bound in order, ?1.. */
    char **pstr;                /* owned strings the params point at */
    size_t nparams, npstr;
    char **colnames;
    sql_col_kind *colkinds;
    size_t ncols;
    fl_buf notes; /* "column status.phase -> pods.phase (indexed)\n"... */
} sql_compiled;

/* Compile q for scope against the types in reg; user params (JSON values
 * already converted) are bound where q uses ?n. 0, FL_EPARSE (unknown
 * column/resource: err has L:C and a suggestion), FL_EFORBIDDEN,
 * -E2BIG, -ENOMEM. */
int sql_compile(const sql_query *q, const fl_kube_resources *reg, const sql_scope *scope,
                const fl_index_sql_value *uparams, size_t nuparams, sql_compiled *out, fl_err *err);
void sql_compiled_done(sql_compiled *c);

#endif
