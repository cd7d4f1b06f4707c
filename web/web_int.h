/*
 * web/web_int.h: what the files of web/ share (no other module includes it).
 * web.c is the front (routes, auth, the handlers); capacity.c, metrics.c and
 * ui.c build documents and call nothing above them.
 */
#ifndef FL_WEB_INT_H
#define FL_WEB_INT_H

#include "web/web.h"

struct fl_web {
    fl_web_opts o;        /* strings below are owned copies */
    fl_web_member *members;
    char *version, *chartjs_dir;
};

/* Prometheus text exposition into out: st is the collector status (NULL:
 * none; its clusters already narrowed to what the caller may see), scope
 * what capacity is shown for (NULL = all). 0, -ENOMEM or -E2BIG. */
int web_metrics(fl_web *w, const json_t *st, const fl_web_scope *scope, fl_buf *out);

/* The embedded dashboard page (NUL-terminated, static). */
const char *web_ui_page(void);

#endif
