/*
 * query/reply.c: answers every handler shares: errors as a Kubernetes
 * Status, and whether the client asked for a Table.
 */
#include <errno.h>
#include <string.h>

#include "query/query_int.h"

bool query_wants_table(const fl_request *r)
{
    const char *a = fl_request_header(r, "Accept");
    return a && strstr(a, "as=Table") && strstr(a, "g=meta.k8s.io");
}

void query_reply_error(fl_request *r, int rc, const fl_err *err)
{
    if (rc == FL_EPARSE || rc == -E2BIG || rc == FL_EUNSUPPORTED || rc == -EINVAL)
        fl_request_reply_status(r, 400, "BadRequest", "%s",
                                err->msg[0] ? err->msg : fl_strerror(rc));
    else if (rc == -ETIMEDOUT)
        fl_request_reply_status(r, 504, "Timeout", "Timeout: %s",
                                err->msg[0] ? err->msg : "the request took too long");
    else if (rc == FL_EGONE)
        fl_request_reply_status(r, 410, "Expired",
                                "The provided continue parameter is too old to display a "
                                "consistent list result. You can start a new list without the "
                                "continue parameter.");
    else
        fl_request_reply_status(r, 500, "InternalError", "%s",
                                err->msg[0] ? err->msg : fl_strerror(rc));
}
