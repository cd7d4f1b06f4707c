/*
 * web/prom.c: the Prometheus text format's two writers (web_int.h), shared
 * by metrics.c and requests.c: "# HELP / # TYPE" lines and one sample with
 * its labels escaped. Calls nothing else of web/.
 */
#include <math.h>

#include "web/web_int.h"

/* Label value escaped as the format asks (\\, \", \n). */
static int esc(fl_buf *b, const char *s)
{
    int rc = 0;
    for (; s && *s && !rc; s++) {
        if (*s == '\\')
            rc = fl_buf_puts(b, "\\\\");
        else if (*s == '"')
            rc = fl_buf_puts(b, "\\\"");
        else if (*s == '\n')
            rc = fl_buf_puts(b, "\\n");
        else
            rc = fl_buf_append(b, s, 1);
    }
    return rc;
}

int web_head(fl_buf *b, const char *name, const char *type, const char *help)
{
    return fl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} value — labels as NULL-terminated pairs. */
int web_sample(fl_buf *b, const char *name, const char *const *labels, double v)
{
    int rc = fl_buf_puts(b, name);
    for (size_t i = 0; !rc && labels && labels[i]; i += 2) {
        rc = fl_buf_printf(b, "%s%s=\"", i ? "," : "{", labels[i]);
        if (!rc)
            rc = esc(b, labels[i + 1]);
        if (!rc)
            rc = fl_buf_puts(b, "\"");
    }
    if (!rc && labels && labels[0])
        rc = fl_buf_puts(b, "}");
    if (!rc) {
        if (isnan(v))
            rc = fl_buf_puts(b, " NaN\n");
        else if (v == floor(v) && fabs(v) < 9e15)
            rc = fl_buf_printf(b, " %.0f\n", v);
        else
            rc = fl_buf_printf(b, " %.17g\n", v);
    }
    return rc;
}
